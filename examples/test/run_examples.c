/* SPDX-License-Identifier: BSD-2-Clause */
/* run_examples: runs one example as a child process and talks to it as a client would.
 *
 *   run_examples NAME        NAME: tcp_echo, udp_echo, http_hello, chat or ticker
 *   run_examples curl PATH   http_hello against curl (PATH; empty: skipped)
 *
 * A server example prints "listening on HOST:PORT" first; the driver reads the port from
 * it. Every wait is bounded (RASIO_TEST_TIMEOUT_SCALE stretches them, e.g. under Wine).
 * Exit status: 0 passed, 1 failed (the reason printed), 77 skipped (the reason printed).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"

#define WAIT_MS 5000u /* the longest any single step may take, before scaling */

static const char *argv0;
static unsigned scale = 1;
static proc_t *child;  /* the example under test, killed on failure */
static char out[8192]; /* its output not yet consumed as lines */
static size_t out_used;

static unsigned wait_ms(void) { return WAIT_MS * scale; }

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("FAIL: ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  if (child != NULL) proc_kill(child);
  exit(1);
}

static void start_path(const char *path, const char *const args[]) {
  out_used = 0;
  child = proc_start(path, args);
  if (child == NULL) fail("cannot start %s", path);
}

/* An example: a program next to this one. */
static void start(const char *name, const char *const args[]) {
  char path[1024];
  os_sibling_path(argv0, name, path, sizeof path);
  start_path(path, args);
}

/* The child's next output line without its line end (CRLF on Windows); false at the end
 * of its output or when none came within the wait. */
static bool child_line(char *line, size_t cap) {
  uint64_t end = os_now_ms() + wait_ms();
  for (;;) {
    char *nl = memchr(out, '\n', out_used);
    if (nl != NULL) {
      size_t n = (size_t)(nl - out), keep = n > 0 && out[n - 1] == '\r' ? n - 1 : n;
      snprintf(line, cap, "%.*s", (int)keep, out);
      out_used -= n + 1;
      memmove(out, nl + 1, out_used);
      return true;
    }
    uint64_t now = os_now_ms();
    long got = now < end && out_used < sizeof out
                   ? proc_read(child, out + out_used, sizeof out - out_used, (unsigned)(end - now))
                   : -1;
    if (got <= 0) return false;
    out_used += (size_t)got;
  }
}

static uint16_t start_server(const char *name) {
  const char *const none[] = {NULL};
  char line[256];
  start(name, none);
  if (!child_line(line, sizeof line)) fail("%s printed no first line", name);
  const char *colon = strrchr(line, ':');
  long port = colon != NULL && strncmp(line, "listening on ", 13) == 0 ? atol(colon + 1) : 0;
  if (port <= 0 || port > 65535)
    fail("%s: expected \"listening on HOST:PORT\", got \"%s\"", name, line);
  return (uint16_t)port;
}

static void stop_server(void) {
  proc_kill(child);
  child = NULL;
}

/* --- a client connection, read into a buffer -------------------------------------------- */

typedef struct conn {
  net_sock_t s;
  char buf[64 * 1024];
  size_t used; /* buf[used] is always '\0', for strstr */
} conn_t;

static conn_t *dial(uint16_t port) {
  conn_t *c = calloc(1, sizeof *c);
  if (c == NULL || (c->s = net_tcp_connect(port)) == -1) fail("cannot connect to port %u", port);
  return c;
}

static void hang_up(conn_t *c) {
  net_close(c->s);
  free(c);
}

static void say(conn_t *c, const char *text) {
  if (!net_send(c->s, text, strlen(text))) fail("send failed: \"%s\"", text);
}

/* Reads more; false at the end of the stream. Fails on a timeout or an error. */
static bool fill(conn_t *c) {
  if (c->used == sizeof c->buf - 1) fail("client buffer full");
  long n = net_recv(c->s, c->buf + c->used, sizeof c->buf - 1 - c->used, wait_ms());
  if (n == -1) fail("nothing received within %u ms (have %u bytes)", wait_ms(), (unsigned)c->used);
  if (n < 0) fail("receive error");
  c->used += (size_t)n;
  c->buf[c->used] = '\0';
  return n > 0;
}

static void consume(conn_t *c, size_t n) {
  c->used -= n;
  memmove(c->buf, c->buf + n, c->used + 1);
}

static void expect_bytes(conn_t *c, const char *want, size_t len) {
  while (c->used < len)
    if (!fill(c)) fail("stream ended after %u of %u bytes", (unsigned)c->used, (unsigned)len);
  if (memcmp(c->buf, want, len) != 0) fail("wrong bytes back (%u expected)", (unsigned)len);
  consume(c, len);
}

static void read_line(conn_t *c, char *line, size_t cap) {
  char *nl;
  while ((nl = memchr(c->buf, '\n', c->used)) == NULL)
    if (!fill(c)) fail("stream ended before a line");
  snprintf(line, cap, "%.*s", (int)(nl - c->buf), c->buf);
  consume(c, (size_t)(nl - c->buf) + 1);
}

static void expect_end(conn_t *c) {
  while (fill(c))
    if (c->used > 0) fail("%u unexpected bytes instead of the end", (unsigned)c->used);
}

/* --- the scenarios, one per example ------------------------------------------------------ */

static void test_tcp_echo(void) {
  uint16_t port = start_server("tcp_echo");
  conn_t *a = dial(port), *b = dial(port);
  say(a, "hello from a\n");
  say(b, "hello from b\n");
  expect_bytes(b, "hello from b\n", 13);
  expect_bytes(a, "hello from a\n", 13);
  /* More than one read's worth (16 KiB) at a time; no more than the socket buffers hold,
   * as this client does not read while it sends. */
  static char big[48 * 1024];
  for (int round = 0; round < 4; round++) {
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + (i + (size_t)round) % 26);
    if (!net_send(a->s, big, sizeof big)) fail("sending 48 KiB failed");
    expect_bytes(a, big, sizeof big);
  }
  hang_up(a);
  say(b, "still here\n");
  expect_bytes(b, "still here\n", 11);
  hang_up(b);
  stop_server();
}

static void test_udp_echo(void) {
  uint16_t port = start_server("udp_echo");
  net_sock_t s = net_udp();
  static char sent[8000], got[9000];
  const size_t sizes[] = {5, 1000, sizeof sent};
  for (size_t k = 0; k < 3; k++) {
    for (size_t i = 0; i < sizes[k]; i++) sent[i] = (char)(k + i);
    if (!net_sendto(s, port, sent, sizes[k])) fail("sendto failed");
    long n = net_recv(s, got, sizeof got, wait_ms());
    if (n != (long)sizes[k] || memcmp(sent, got, sizes[k]) != 0)
      fail("datagram of %u bytes: got %ld bytes back", (unsigned)sizes[k], n);
  }
  net_close(s);
  stop_server();
}

/* Reads one response: its status line and body; *close: it said "Connection: close". */
static void read_response(conn_t *c, char *status, size_t cap, char *body, bool *close) {
  char *end;
  while ((end = strstr(c->buf, "\r\n\r\n")) == NULL)
    if (!fill(c)) fail("the stream ended inside a response head");
  size_t head = (size_t)(end - c->buf) + 4;
  const char *cl = strstr(c->buf, "Content-Length: ");
  size_t len = cl != NULL && cl < end ? (size_t)atol(cl + 16) : 0;
  const char *conn_close = strstr(c->buf, "Connection: close\r\n");
  *close = conn_close != NULL && conn_close < end;
  while (c->used < head + len)
    if (!fill(c)) fail("the stream ended inside a response body");
  snprintf(status, cap, "%.*s", (int)strcspn(c->buf, "\r"), c->buf);
  snprintf(body, 64, "%.*s", (int)len, c->buf + head);
  consume(c, head + len);
}

static void expect_hello(conn_t *c, bool want_close) {
  char status[128], body[64];
  bool close;
  read_response(c, status, sizeof status, body, &close);
  if (strcmp(status, "HTTP/1.1 200 OK") != 0) fail("status \"%s\"", status);
  if (strcmp(body, "hello\n") != 0) fail("body \"%s\"", body);
  if (close != want_close) fail("Connection: close %s", close ? "unexpected" : "missing");
}

/* Many pipelined requests, the last with Connection: close, all written before any answer
 * is read: every answer must come, in order, before the end. */
static void burst(uint16_t port) {
  enum { N = 3000 };
  static const char get[] = "GET / HTTP/1.1\r\n\r\n";
  static const char bye[] = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
  static char all[N * sizeof get + sizeof bye];
  size_t len = 0;
  for (int i = 0; i < N - 1; i++, len += sizeof get - 1) memcpy(all + len, get, sizeof get - 1);
  memcpy(all + len, bye, sizeof bye);
  conn_t *c = dial(port);
  if (!net_send(c->s, all, len + sizeof bye - 1)) fail("sending the burst failed");
  for (int i = 0; i < N; i++) expect_hello(c, i == N - 1);
  expect_end(c);
  hang_up(c);
}

static void test_http_hello(void) {
  uint16_t port = start_server("http_hello");
  conn_t *c = dial(port);
  for (int i = 0; i < 3; i++) { /* keep-alive: one request at a time, one connection */
    say(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_hello(c, false);
  }
  /* Pipelined, in one write: a GET, a POST whose body must be skipped (read as a request,
   * it would be a bad one), a GET. */
  say(c,
      "GET /1 HTTP/1.1\r\nHost: t\r\n\r\nPOST /2 HTTP/1.1\r\nHost: t\r\n"
      "content-length: 5\r\n\r\nx\r\n\r\nGET /3 HTTP/1.1\r\nHost: t\r\n\r\n");
  for (int i = 0; i < 3; i++) expect_hello(c, false);
  say(c, "POST /body HTTP/1.1\r\nContent-Length: 10\r\n\r\nx\r\n\r\n"); /* a body in two */
  os_sleep_ms(50);
  say(c, "y\r\n\r\nGET /after HTTP/1.1\r\n\r\n");
  expect_hello(c, false);
  expect_hello(c, false);
  say(c, "GET /split HT"); /* a request in two pieces */
  os_sleep_ms(50);
  say(c, "TP/1.1\r\nHost: t\r\n\r\n");
  expect_hello(c, false);
  say(c, "GET /bye HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  expect_hello(c, true);
  expect_end(c);
  hang_up(c);
  burst(port);
  c = dial(port); /* HTTP/1.0 closes unless asked not to */
  say(c, "GET / HTTP/1.0\r\n\r\n");
  expect_hello(c, true);
  expect_end(c);
  hang_up(c);
  stop_server();
}

static void expect_line_ending(conn_t *c, const char *who, const char *want) {
  char line[256];
  read_line(c, line, sizeof line);
  size_t n = strlen(line), w = strlen(want);
  if (n < w || strcmp(line + n - w, want) != 0)
    fail("%s: expected a line ending in \"%s\", got \"%s\"", who, want, line);
}

static void test_chat(void) {
  uint16_t port = start_server("chat");
  conn_t *c[3];
  for (int i = 0; i < 3; i++) {
    c[i] = dial(port);
    char line[256];
    read_line(c[i], line, sizeof line); /* once welcomed, a client is on its worker's list */
    if (strncmp(line, "welcome", 7) != 0) fail("client %d: first line \"%s\"", i, line);
  }
  say(c[0], "hi from zero\n");
  expect_line_ending(c[1], "client 1", "hi from zero");
  expect_line_ending(c[2], "client 2", "hi from zero");
  say(c[1], "second\n");
  expect_line_ending(c[0], "client 0", "second"); /* not its own line: that never came */
  expect_line_ending(c[2], "client 2", "second");
  hang_up(c[2]);
  say(c[0], "after one left\n");
  expect_line_ending(c[1], "client 1", "after one left");
  hang_up(c[0]);
  hang_up(c[1]);
  stop_server();
}

/* The ticker's output against the lines expected in order; tick lines may come between. */
typedef struct ticker_out {
  const char *const *want;
  size_t n, seen;
  unsigned ticks;
} ticker_out_t;

/* Takes one line; false at the end of the output. */
static bool ticker_line(ticker_out_t *t) {
  char line[256];
  if (!child_line(line, sizeof line)) return false;
  if (strncmp(line, "tick ", 5) == 0)
    t->ticks++;
  else if (t->seen < t->n && strcmp(line, t->want[t->seen]) == 0)
    t->seen++;
  else
    fail("unexpected line \"%s\" (waiting for \"%s\")", line,
         t->seen < t->n ? t->want[t->seen] : "");
  return true;
}

/* Reads to the end of the output, which must come within the wait; every expected line
 * must have come, and the exit must be clean. */
static void ticker_end(ticker_out_t *t) {
  uint64_t end = os_now_ms() + wait_ms(); /* ticks alone must not keep it going */
  while (ticker_line(t))
    if (os_now_ms() > end) fail("still running %u ms after it was told to stop", wait_ms());
  if (t->seen < t->n) fail("\"%s\" never came", t->want[t->seen]);
  int status = proc_wait(child, wait_ms());
  child = NULL;
  if (status != 0) fail("exit status %d", status);
}

static void ticker_start(void) {
  static const char *const args[] = {"20", NULL};
  char line[256];
  start("ticker", args);
  if (!child_line(line, sizeof line) || strcmp(line, "ticking every 20 ms") != 0)
    fail("first line \"%s\"", line);
}

static void test_ticker(void) {
  ticker_start();
  /* Input in pieces, a CRLF line and a last line without its newline, then the end. */
  if (!proc_write(child, "alpha\nbe", 8) || !proc_write(child, "ta\r\ngamma", 9))
    fail("writing to the ticker's stdin failed");
  static const char *const want[] = {"echo: alpha", "echo: beta", "echo: gamma",
                                     "stopping: end of input", "bye"};
  ticker_out_t out1 = {.want = want, .n = 5};
  while (out1.ticks < 2) /* the timer repeats */
    if (!ticker_line(&out1)) fail("the output ended after %u ticks", out1.ticks);
  proc_close_stdin(child);
  ticker_end(&out1);
  if (!proc_can_interrupt()) {
    printf("SIGINT run skipped: a console control event cannot target one child here\n");
    return;
  }
  ticker_start(); /* SIGINT while the input stays open */
  static const char *const want_int[] = {"stopping: SIGINT", "bye"};
  ticker_out_t out2 = {.want = want_int, .n = 2};
  while (out2.ticks < 1)
    if (!ticker_line(&out2)) fail("no tick before SIGINT");
  if (!proc_interrupt(child)) fail("cannot send SIGINT");
  ticker_end(&out2);
}

static void test_curl(const char *curl) {
  if (curl == NULL || curl[0] == '\0') {
    printf("skipped: curl is not installed\n");
    exit(77);
  }
  uint16_t port = start_server("http_hello");
  char url[64], url2[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", port);
  snprintf(url2, sizeof url2, "http://127.0.0.1:%u/again", port);
  const char *const args[] = {"-sS", "--max-time", "10", "-w", "%{http_code} %{num_connects}\n",
                              url,   url2,         NULL};
  proc_t *server = child;
  start_path(curl, args);
  /* Two answers over one connection: curl connected once, then reused it (0 connects). */
  const char *const want[] = {"hello", "200 1", "hello", "200 0"};
  char line[256];
  for (size_t i = 0; i < 4; i++)
    if (!child_line(line, sizeof line) || strcmp(line, want[i]) != 0)
      fail("curl line %u: \"%s\", expected \"%s\"", (unsigned)i + 1, line, want[i]);
  int status = proc_wait(child, wait_ms());
  child = server;
  if (status != 0) fail("curl exited with %d", status);
  stop_server();
}

static int run_scenario(int argc, char **argv) {
  const char *name = argv[0];
  if (strcmp(name, "tcp_echo") == 0)
    test_tcp_echo();
  else if (strcmp(name, "udp_echo") == 0)
    test_udp_echo();
  else if (strcmp(name, "http_hello") == 0)
    test_http_hello();
  else if (strcmp(name, "chat") == 0)
    test_chat();
  else if (strcmp(name, "ticker") == 0)
    test_ticker();
  else if (strcmp(name, "curl") == 0)
    test_curl(argc > 1 ? argv[1] : NULL);
  else
    fail("unknown scenario \"%s\"", name);
  printf("PASS: %s\n", name);
  return 0;
}

int main(int argc, char **argv) {
  argv0 = argv[0];
  const char *s = getenv("RASIO_TEST_TIMEOUT_SCALE");
  if (s != NULL && atoi(s) > 0) scale = (unsigned)atoi(s);
  setvbuf(stdout, NULL, _IONBF, 0);
  os_init();
  if (argc < 2) {
    printf("usage: run_examples NAME | run_examples curl PATH\n");
    return 2;
  }
  return run_scenario(argc - 1, argv + 1);
}
