/* SPDX-License-Identifier: BSD-2-Clause */
/* rasio-swarm: a verified TCP echo swarm through the net layer, in one process.
 *
 * A server listens on 127.0.0.1 (ephemeral port) and echoes whatever each accepted
 * connection receives. N clients connect to it; each sends M messages of S bytes in
 * batches of B (one gather-write per batch) and waits until the whole batch came back
 * before sending the next. The bytes are client k's position-keyed stream (tool.h), and
 * every echoed byte is checked at its stream offset, so corruption, loss, duplication,
 * reordering and cross-talk between connections all fail the run.
 *
 * Everything (server, clients, deadline) runs on one executor: inline on the loop thread,
 * or on this thread draining a mailbox while the loop runs on its own thread.
 *
 * The run ends with a graceful teardown that is itself part of the test: each client
 * closes (FIN) once verified, its server side sees the FIN and closes too, the listener
 * closes after the last connection, the loop runs until no noisy event is left, and
 * rasio_loop_free must then succeed. Any failure (a mismatch, connect_failed, an
 * unexpected close, the deadline) records the first reason and hard-closes everything.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rasio.h"
#include "tool.h"

#define PROG "rasio-swarm"
#define HOST "127.0.0.1"
#define MAX_BATCH 1024     /* rasio_tcp_writev's segment limit: a batch is one writev */
#define MAX_SIZE (1 << 20) /* per message */
#define MAX_BATCH_BYTES (64u << 20)

typedef struct config {
  uint64_t connections, messages, size, batch, seed, stall_ns;
  bool mailbox;
  const char *backend;
} config_t;

typedef struct swarm swarm_t;

typedef struct client {
  swarm_t *s;
  rasio_tcp_t *tcp; /* NULL once its final callback ran */
  uint32_t id;
  tool_stream_t stream;
  uint64_t sent;     /* stream bytes written */
  uint64_t verified; /* stream bytes echoed back and checked */
  bool finished;     /* every message verified; the close that follows is expected */
} client_t;

typedef struct server_conn {
  swarm_t *s;
  rasio_tcp_t *tcp; /* NULL once closed */
} server_conn_t;

struct swarm {
  config_t cfg;
  tool_exec_t exec;
  rasio_tcp_listener_t *listener;
  bool closing_listener; /* our close, as opposed to an error */
  char port[8];
  client_t *clients;
  server_conn_t *servers; /* one per accepted connection; never more than the clients */
  size_t accepted, clients_open, servers_open, finished;
  uint8_t *batch_buf; /* one batch's bytes; writev copies what the kernel does not take */
  rasio_iovec_t *iov;
  uint64_t bytes_verified;
  uint64_t t_start, t_end;
  tool_verdict_t verdict;
  bool tearing_down;
};

static void teardown(swarm_t *s);

static void fail(swarm_t *s, const char *fmt, ...) TOOL_PRINTF(2, 3);

/* Records the first failure and stops the run. */
static void fail(swarm_t *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tool_verdict_record(&s->verdict, fmt, ap);
  va_end(ap);
  teardown(s);
}

static uint64_t stream_bytes(const swarm_t *s) { return s->cfg.messages * s->cfg.size; }

/* The listener goes last: once no connection is left, nothing more will be accepted. */
static void maybe_close_listener(swarm_t *s) {
  if (s->listener == NULL || s->closing_listener) return;
  if (s->clients_open > 0 || s->servers_open > 0) return;
  s->closing_listener = true;
  rasio_tcp_listener_close(s->listener);
}

/* Hard-closes everything; each object's final callback follows from the loop (and closes
 * the listener once the last is gone). */
static void teardown(swarm_t *s) {
  if (s->tearing_down) return;
  s->tearing_down = true;
  for (size_t i = 0; i < s->cfg.connections; i++)
    if (s->clients[i].tcp != NULL) rasio_tcp_hard_close(s->clients[i].tcp);
  for (size_t i = 0; i < s->accepted; i++)
    if (s->servers[i].tcp != NULL) rasio_tcp_hard_close(s->servers[i].tcp);
  maybe_close_listener(s);
}

/* --- the clients ----------------------------------------------------------------------- */

/* Sends the next batch: up to B messages of the client's stream, one segment each. */
static void send_batch(client_t *c) {
  swarm_t *s = c->s;
  uint64_t left = (stream_bytes(s) - c->sent) / s->cfg.size;
  size_t n = (size_t)(left < s->cfg.batch ? left : s->cfg.batch);
  size_t size = (size_t)s->cfg.size;
  tool_stream_fill(c->stream, c->sent, s->batch_buf, n * size);
  for (size_t i = 0; i < n; i++) {
    s->iov[i].base = s->batch_buf + i * size;
    s->iov[i].len = size;
  }
  c->sent += n * size;
  int rc = rasio_tcp_writev(c->tcp, s->iov, n);
  if (rc != 0) fail(s, "client %" PRIu32 ": write: %s", c->id, rasio_strerror(rc));
}

static void client_connected(rasio_tcp_t *t) {
  client_t *c = rasio_tcp_data(t);
  /* Small request/response traffic: Nagle plus delayed ACKs would add 40 ms stalls. */
  (void)rasio_sock_set_nodelay(rasio_tcp_fd(t), true);
  send_batch(c);
}

static void client_done(client_t *c) {
  swarm_t *s = c->s;
  c->finished = true;
  if (++s->finished == s->cfg.connections) s->t_end = rasio_now_ns();
  rasio_tcp_close(c->tcp); /* graceful: FIN, then closed once the server's FIN arrives */
}

/* Checks an echoed chunk at its stream offset; a batch fully echoed releases the next. */
static bool client_received(rasio_tcp_t *t, const void *data, size_t len) {
  client_t *c = rasio_tcp_data(t);
  swarm_t *s = c->s;
  if (len > c->sent - c->verified) {
    fail(s,
         "client %" PRIu32 ": %zu bytes echoed at offset %" PRIu64 " but only %" PRIu64
         " were outstanding (duplication)",
         c->id, len, c->verified, c->sent - c->verified);
    return false;
  }
  size_t bad = tool_stream_check(c->stream, c->verified, data, len);
  if (bad < len) {
    uint64_t off = c->verified + bad;
    fail(s,
         "client %" PRIu32 ": mismatch at stream offset %" PRIu64 " (message %" PRIu64
         ", byte %" PRIu64 "): expected 0x%02x, got 0x%02x",
         c->id, off, off / s->cfg.size, off % s->cfg.size, tool_stream_byte(c->stream, off),
         ((const uint8_t *)data)[bad]);
    return false;
  }
  c->verified += len;
  s->bytes_verified += len;
  if (c->verified < c->sent) return true;
  if (c->sent < stream_bytes(s))
    send_batch(c);
  else
    client_done(c);
  return true;
}

static void client_connect_failed(rasio_tcp_t *t, int err) {
  client_t *c = rasio_tcp_data(t);
  c->tcp = NULL;
  c->s->clients_open--;
  fail(c->s, "client %" PRIu32 ": connect_failed: %s", c->id, rasio_strerror(err));
}

static void client_closed(rasio_tcp_t *t) {
  client_t *c = rasio_tcp_data(t);
  swarm_t *s = c->s;
  c->tcp = NULL;
  s->clients_open--;
  if (!c->finished)
    fail(s, "client %" PRIu32 ": unexpected closed after %" PRIu64 " of %" PRIu64 " bytes echoed",
         c->id, c->verified, stream_bytes(s));
  maybe_close_listener(s);
}

static const rasio_tcp_cb_t client_cb = {
    .connected = client_connected,
    .connect_failed = client_connect_failed,
    .received = client_received,
    .closed = client_closed,
};

static void client_start(swarm_t *s, client_t *c, uint32_t id) {
  c->s = s;
  c->id = id;
  c->stream = tool_stream(s->cfg.seed, id);
  rasio_tcp_opts_t o = {.cb = &client_cb, .data = c, .mailbox = s->exec.mailbox};
  int rc = rasio_tcp_connect(s->exec.loop, HOST, s->port, &o, &c->tcp);
  if (rc != 0) {
    fail(s, "client %" PRIu32 ": rasio_tcp_connect: %s", id, rasio_strerror(rc));
    return;
  }
  s->clients_open++;
}

/* --- the server ------------------------------------------------------------------------ */

static bool server_received(rasio_tcp_t *t, const void *data, size_t len) {
  server_conn_t *sc = rasio_tcp_data(t);
  int rc = rasio_tcp_write(t, data, len);
  if (rc != 0)
    fail(sc->s, "server connection %zu: echo write: %s", (size_t)(sc - sc->s->servers),
         rasio_strerror(rc));
  return true;
}

/* The client's FIN closes the server side (the net layer answers it with ours). */
static void server_closed(rasio_tcp_t *t) {
  server_conn_t *sc = rasio_tcp_data(t);
  swarm_t *s = sc->s;
  sc->tcp = NULL;
  s->servers_open--;
  maybe_close_listener(s);
}

static const rasio_tcp_cb_t server_cb = {
    .received = server_received,
    .closed = server_closed,
};

static bool accepted(rasio_tcp_listener_t *l, rasio_tcp_t *t) {
  swarm_t *s = rasio_tcp_listener_data(l);
  /* Only our own clients are expected; a stranger on the port would overflow the table. */
  if (s->tearing_down || s->accepted == s->cfg.connections) return false;
  server_conn_t *sc = &s->servers[s->accepted++];
  sc->s = s;
  sc->tcp = t;
  s->servers_open++;
  rasio_tcp_set_callbacks(t, &server_cb, sc);
  (void)rasio_sock_set_nodelay(rasio_tcp_fd(t), true);
  return true;
}

static void listener_closed(rasio_tcp_listener_t *l) {
  swarm_t *s = rasio_tcp_listener_data(l);
  s->listener = NULL;
  if (!s->closing_listener) fail(s, "the listener closed unexpectedly");
}

static const rasio_tcp_listener_cb_t listener_cb = {.accepted = accepted,
                                                    .closed = listener_closed};

static bool server_start(swarm_t *s) {
  rasio_tcp_listener_opts_t o = {.cb = &listener_cb, .data = s, .mailbox = s->exec.mailbox};
  int rc = rasio_tcp_listen(s->exec.loop, HOST, "0", RASIO_AF_INET4, &o, &s->listener);
  if (rc != 0) {
    fail(s, "rasio_tcp_listen %s: %s", HOST, rasio_strerror(rc));
    return false;
  }
  rasio_addr_t addr;
  rc = rasio_tcp_listener_addr(s->listener, &addr);
  if (rc != 0) {
    fail(s, "rasio_tcp_listener_addr: %s", rasio_strerror(rc));
    return false;
  }
  snprintf(s->port, sizeof s->port, "%u", (unsigned)rasio_addr_port(&addr));
  return true;
}

/* --- the run --------------------------------------------------------------------------- */

static void print_header(const swarm_t *s) {
  printf("backend: %s\n", s->exec.backend_name);
  printf("executor: %s\n", s->cfg.mailbox ? "mailbox" : "inline");
  printf("connections: %" PRIu64 "\n", s->cfg.connections);
  printf("messages: %" PRIu64 " (%" PRIu64 " per connection, %" PRIu64 " bytes, batch %" PRIu64
         ")\n",
         s->cfg.connections * s->cfg.messages, s->cfg.messages, s->cfg.size, s->cfg.batch);
  fflush(stdout);
}

/* Runs on the executor thread: every object is made where its callbacks will run. */
static void swarm_start(void *app) {
  swarm_t *s = app;
  print_header(s);
  s->t_start = rasio_now_ns();
  if (!server_start(s)) return;
  for (uint32_t i = 0; i < s->cfg.connections && !s->verdict.failed; i++)
    client_start(s, &s->clients[i], i);
}

static uint64_t swarm_progress(void *app) { return ((swarm_t *)app)->bytes_verified; }

static void swarm_timeout(void *app) {
  swarm_t *s = app;
  fail(s, "timeout: %" PRIu64 " of %" PRIu64 " messages echoed, then none for %g s",
       s->bytes_verified / s->cfg.size, s->cfg.connections * s->cfg.messages,
       (double)s->cfg.stall_ns / 1e9);
}

static int report(swarm_t *s) {
  uint64_t end = s->t_end != 0 ? s->t_end : rasio_now_ns();
  double elapsed = (double)(end - s->t_start) / 1e9;
  uint64_t messages = s->bytes_verified / s->cfg.size;
  printf("bytes verified: %" PRIu64 "\n", s->bytes_verified);
  printf("messages/s: %.0f\n", elapsed > 0 ? (double)messages / elapsed : 0.0);
  printf("elapsed: %.2f s\n", elapsed);
  if (!s->verdict.failed && s->exec.free_what != NULL)
    fail(s, "%s after the teardown: %s", s->exec.free_what, rasio_strerror(s->exec.free_rc));
  if (!s->verdict.failed && s->bytes_verified != s->cfg.connections * stream_bytes(s))
    fail(s, "only %" PRIu64 " bytes were verified", s->bytes_verified);
  if (s->verdict.failed)
    printf("FAIL: %s\n", s->verdict.reason);
  else
    printf("PASS\n");
  return s->verdict.failed ? 1 : 0;
}

/* --- the command line -------------------------------------------------------------------- */

static void usage(void) {
  printf("usage: " PROG
         " [options]\n"
         "A verified TCP echo swarm through rasio's net layer, in one process: an echo\n"
         "server on 127.0.0.1 and N clients that each send M messages and check every\n"
         "echoed byte. Prints the backend, counts, messages/s, then PASS or FAIL: reason.\n"
         "\n"
         "  --connections N   client connections (default 64)\n"
         "  --messages M      messages per connection (default 2000)\n"
         "  --size S          bytes per message (default 64, at most %d)\n"
         "  --batch B         messages in flight per connection (default 4, at most %d)\n"
         "  --executor E      inline (loop thread) or mailbox (an owner thread; default inline)\n"
         "  --backend NAME    rasio backend (default: RASIO_BACKEND, else the best one)\n"
         "  --timeout SEC     fail when nothing is verified for this long (default 30)\n"
         "  --seed N          seed of the byte streams (default 1)\n"
         "  --help            this text\n"
         "\n"
         "Exit status: 0 PASS, 1 FAIL, 2 bad arguments.\n",
         MAX_SIZE, MAX_BATCH);
}

static config_t parse_args(int argc, char **argv) {
  config_t c = {.connections = 64,
                .messages = 2000,
                .size = 64,
                .batch = 4,
                .seed = 1,
                .stall_ns = 30 * TOOL_NS_PER_S};
  tool_args_t a = {.argc = argc, .argv = argv, .prog = PROG};
  const char *v;
  for (a.i = 1; a.i < argc; a.i++) {
    if (tool_switch(&a, "--help") || tool_switch(&a, "-h")) {
      usage();
      exit(0);
    } else if (tool_flag(&a, "--connections", &v)) {
      c.connections = tool_parse_uint(&a, "--connections", v, 1, 1000000);
    } else if (tool_flag(&a, "--messages", &v)) {
      c.messages = tool_parse_uint(&a, "--messages", v, 1, UINT64_MAX / MAX_SIZE);
    } else if (tool_flag(&a, "--size", &v)) {
      c.size = tool_parse_uint(&a, "--size", v, 1, MAX_SIZE);
    } else if (tool_flag(&a, "--batch", &v)) {
      c.batch = tool_parse_uint(&a, "--batch", v, 1, MAX_BATCH);
    } else if (tool_flag(&a, "--executor", &v)) {
      c.mailbox = tool_parse_executor(&a, v);
    } else if (tool_flag(&a, "--backend", &v)) {
      c.backend = v;
    } else if (tool_flag(&a, "--timeout", &v)) {
      c.stall_ns = tool_parse_seconds_ns(&a, "--timeout", v);
    } else if (tool_flag(&a, "--seed", &v)) {
      c.seed = tool_parse_uint(&a, "--seed", v, 0, UINT64_MAX);
    } else {
      tool_usage_error(&a, "unknown argument '%s'", argv[a.i]);
    }
  }
  if (c.size * c.batch > MAX_BATCH_BYTES)
    tool_usage_error(&a, "--size x --batch is %" PRIu64 " bytes; at most %u may be in flight",
                     c.size * c.batch, MAX_BATCH_BYTES);
  if (c.connections * c.messages > UINT64_MAX / MAX_SIZE)
    tool_usage_error(&a, "--connections x --messages is too large");
  return c;
}

/* Each connection costs two descriptors here (client and server side). */
static bool fds_suffice(const config_t *c) {
  size_t need = (size_t)c->connections * 2 + 64;
  size_t have = tool_raise_fd_limit(need);
  if (have >= need) return true;
  fprintf(stderr,
          PROG ": --connections %" PRIu64
               " needs about %zu file descriptors, but the "
               "limit is %zu (raise the hard limit: ulimit -Hn)\n",
          c->connections, need, have);
  return false;
}

static bool swarm_alloc(swarm_t *s) {
  s->clients = calloc((size_t)s->cfg.connections, sizeof *s->clients);
  s->servers = calloc((size_t)s->cfg.connections, sizeof *s->servers);
  s->batch_buf = malloc((size_t)(s->cfg.batch * s->cfg.size));
  s->iov = calloc((size_t)s->cfg.batch, sizeof *s->iov);
  return s->clients != NULL && s->servers != NULL && s->batch_buf != NULL && s->iov != NULL;
}

static void swarm_free(swarm_t *s) {
  free(s->clients);
  free(s->servers);
  free(s->batch_buf);
  free(s->iov);
}

int main(int argc, char **argv) {
  swarm_t s = {.cfg = parse_args(argc, argv)};
  if (!fds_suffice(&s.cfg)) return 2;
  if (!swarm_alloc(&s)) {
    printf("FAIL: out of memory for %" PRIu64 " connections\n", s.cfg.connections);
    swarm_free(&s);
    return 1;
  }
  s.exec = (tool_exec_t){.backend = s.cfg.backend,
                         .use_mailbox = s.cfg.mailbox,
                         .deadline_ns = s.cfg.stall_ns,
                         .start = swarm_start,
                         .timeout = swarm_timeout,
                         .progress = swarm_progress,
                         .app = &s};
  int rc = tool_exec_run(&s.exec, PROG);
  int status = rc == RASIO_ENOBACKEND ? 2 : rc != 0 ? 1 : report(&s);
  swarm_free(&s);
  return status;
}
