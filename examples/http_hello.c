/* SPDX-License-Identifier: BSD-2-Clause */
/* http_hello: an HTTP/1.1 server that answers every request with "hello".
 *
 * Shows: per-connection state on the net layer (rasio_tcp_set_callbacks in `accepted`),
 * a byte stream turned into requests: keep-alive, pipelining (several requests in one
 * read, answered in order), bodies skipped by Content-Length, and a graceful close
 * (rasio_tcp_close flushes the answers, sends FIN and waits for the peer's). Not a full
 * HTTP parser: it reads the request line's version and three headers only.
 *
 * Run:   http_hello [PORT [HOST]]   (0 = any free port, the default; 127.0.0.1). The first
 *        line of output is "listening on HOST:PORT". Try, over one connection:
 *        curl http://127.0.0.1:PORT/ http://127.0.0.1:PORT/again
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rasio.h"

typedef struct conn {
  char buf[8192]; /* the request head being read; a longer head is refused (431) */
  size_t used;
  unsigned long long skip; /* body bytes still to discard */
  bool closing;            /* answered with Connection: close; ignore what follows */
} conn_t;

/* The value of header `name` ("\nname:", lowercase) in a lowercased head, up to its CR,
 * copied into val ("" if absent). */
static const char *header(const char *head, const char *name, char *val, size_t cap) {
  const char *p = strstr(head, name);
  p = p != NULL ? p + strlen(name) : "";
  snprintf(val, cap, "%.*s", (int)strcspn(p, "\r"), p);
  return val;
}

/* Sends one answer. false: the connection is gone or going (do not touch it again). */
static bool reply(rasio_tcp_t *t, conn_t *c, const char *status, bool close) {
  char msg[256];
  const char *body = status[0] == '2' ? "hello\n" : "";
  int n = snprintf(msg, sizeof msg,
                   "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %u\r\n%s\r\n%s",
                   status, (unsigned)strlen(body), close ? "Connection: close\r\n" : "", body);
  /* A failed write has closed the connection already (its `closed` ran). */
  if (rasio_tcp_write(t, msg, (size_t)n) != 0) return false;
  if (!close) return true;
  c->closing = true; /* what the peer sends after this is ignored */
  /* Closing a muted (throttled) connection is a hard close, which would drop the queued
   * answers: then conn_unthrottled closes it once they are handed to the kernel. */
  if (!rasio_tcp_throttled(t)) rasio_tcp_close(t); /* may run `closed` (frees c) at once */
  return false;
}

/* Answers every complete request in c->buf. false: the connection is closing. */
static bool serve(rasio_tcp_t *t, conn_t *c) {
  for (;;) {
    const char *end = NULL;
    for (size_t i = 0; end == NULL && i + 4 <= c->used; i++)
      if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0) end = c->buf + i + 4;
    if (end == NULL)
      return c->used < sizeof c->buf || reply(t, c, "431 Request Header Fields Too Large", true);
    size_t head = (size_t)(end - c->buf);
    /* The head is consumed below: make it a lowercase string (names are case-insensitive,
     * and so are the tokens looked for). */
    for (size_t i = 0; i < head; i++) c->buf[i] = (char)tolower((unsigned char)c->buf[i]);
    c->buf[head - 1] = '\0';
    const char *eol = strchr(c->buf, '\r'); /* the request line's end */
    if (eol - c->buf < 10 || memcmp(eol - 8, "http/1.", 7) != 0)
      return reply(t, c, "400 Bad Request", true);
    char v[64];
    if (strstr(header(c->buf, "\ntransfer-encoding:", v, sizeof v), "chunked") != NULL)
      return reply(t, c, "501 Not Implemented", true); /* no chunked bodies here */
    bool close = strstr(header(c->buf, "\nconnection:", v, sizeof v), "close") != NULL ||
                 (eol[-1] == '0' && strstr(v, "keep-alive") == NULL); /* 1.0: close */
    unsigned long long body = strtoull(header(c->buf, "\ncontent-length:", v, sizeof v), NULL, 10);
    size_t in_buf = c->used - head < body ? c->used - head : (size_t)body;
    c->skip = body - in_buf; /* the rest of the body is still to come */
    c->used -= head + in_buf;
    memmove(c->buf, c->buf + head + in_buf, c->used);
    if (!reply(t, c, "200 OK", close)) return false;
  }
}

/* Runs on the loop thread. data is valid only during the call. */
static bool conn_received(rasio_tcp_t *t, const void *data, size_t len) {
  conn_t *c = rasio_tcp_data(t);
  const char *p = data;
  while (len > 0 && !c->closing) {
    size_t n = c->skip < len ? (size_t)c->skip : len;
    c->skip -= n;
    if (n == 0) {
      n = sizeof c->buf - c->used < len ? sizeof c->buf - c->used : len;
      memcpy(c->buf + c->used, p, n);
      c->used += n;
      if (!serve(t, c)) return false; /* closing: ignore the rest */
    }
    p += n;
    len -= n;
  }
  return true;
}

/* Pipelining without reading the answers would grow the queue: pause reading meanwhile. */
static void conn_throttled(rasio_tcp_t *t) { rasio_tcp_mute(t); }
/* The queue drained into the kernel. After a "close" answer, close now: still muted, that
 * is a hard close, which loses nothing sent, as the peer sends nothing after its "close"
 * ("A client that sends a 'close' connection option MUST NOT send further requests on
 * that connection", RFC 9112, 9.6). */
static void conn_unthrottled(rasio_tcp_t *t) {
  conn_t *c = rasio_tcp_data(t);
  if (c->closing)
    rasio_tcp_close(t);
  else
    rasio_tcp_unmute(t);
}
static void conn_closed(rasio_tcp_t *t) { free(rasio_tcp_data(t)); } /* final: rasio frees t */

static const rasio_tcp_cb_t conn_cb = {.received = conn_received,
                                       .throttled = conn_throttled,
                                       .unthrottled = conn_unthrottled,
                                       .closed = conn_closed};

static bool accepted(rasio_tcp_listener_t *l, rasio_tcp_t *t) {
  (void)l;
  conn_t *c = calloc(1, sizeof *c);
  if (c == NULL) return false; /* refused: rasio closes it without callbacks */
  rasio_tcp_set_callbacks(t, &conn_cb, c);
  (void)rasio_sock_set_nodelay(rasio_tcp_fd(t), true); /* answers should not wait */
  return true;
}

int main(int argc, char **argv) {
  const char *port = argc > 1 ? argv[1] : "0";
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";
  rasio_loop_t *loop;
  rasio_tcp_listener_t *listener;
  static const rasio_tcp_listener_cb_t listener_cb = {.accepted = accepted};
  rasio_tcp_listener_opts_t opts = {.cb = &listener_cb};
  int rc = rasio_loop_new(NULL, &loop);
  if (rc == 0) rc = rasio_tcp_listen(loop, host, port, RASIO_AF_ANY, &opts, &listener);
  if (rc != 0) {
    fprintf(stderr, "http_hello: cannot listen on %s port %s: %s\n", host, port,
            rasio_strerror(rc));
    return 1;
  }
  rasio_addr_t addr;
  char text[64] = "?";
  if (rasio_tcp_listener_addr(listener, &addr) == 0)
    (void)rasio_addr_format(&addr, text, sizeof text);
  printf("listening on %s\n", text);
  fflush(stdout); /* a pipe is fully buffered: whoever reads the port needs it now */
  rc = rasio_loop_run(loop, RASIO_RUN_QUIET); /* until the listener is gone */
  if (rc == 0) rc = rasio_loop_free(loop);
  return rc == 0 ? 0 : 1;
}
