/* SPDX-License-Identifier: BSD-2-Clause */
/* rasio-echo: a standalone TCP echo server on rasio's net layer.
 *
 * Every accepted connection gets back what it sends. A connection whose peer does not
 * read is muted when its writes are throttled and unmuted when they drain, so a client
 * that only sends cannot make the server queue without bound.
 *
 * SIGINT or SIGTERM (each a RASIO_SIGNAL event, so the handler is rasio's and the work
 * runs on the executor) starts a graceful shutdown: the listener closes, every connection
 * flushes, sends FIN and waits for the peer's; connections still open after
 * SHUTDOWN_GRACE_NS, or when a second signal arrives, are closed hard. The process then
 * prints a summary and exits 0 once rasio disposed of everything.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rasio.h"
#include "tool.h"

#define PROG "rasio-echo"
#define SHUTDOWN_GRACE_NS (2 * TOOL_NS_PER_S)

typedef struct config {
  const char *host, *backend;
  char port[8];
  uint64_t max_connections;
  bool mailbox;
} config_t;

typedef struct echo echo_t;

/* A live connection, on the server's list so shutdown can reach it. */
typedef struct conn {
  echo_t *e;
  rasio_tcp_t *tcp;
  struct conn *prev, *next;
} conn_t;

enum { SIG_INT, SIG_TERM, SIG_COUNT };

struct echo {
  config_t cfg;
  tool_exec_t exec;
  rasio_tcp_listener_t *listener;
  rasio_event_t *sig[SIG_COUNT];
  conn_t *conns;
  size_t live;
  uint64_t accepted, bytes;
  bool stopping;
  int status; /* the exit status */
};

/* --- shutting down ----------------------------------------------------------------------- */

/* The last step: with the listener and every connection gone, the signal events are the
 * only noisy events left; once they are disposed the run ends. */
static void maybe_done(echo_t *e) {
  if (!e->stopping || e->listener != NULL || e->live > 0) return;
  for (int i = 0; i < SIG_COUNT; i++)
    if (e->sig[i] != NULL) (void)rasio_event_unsubscribe(e->sig[i]);
}

/* closed (which frees the entry) comes later, from the loop, never inside a close; saving
 * next first costs nothing and keeps the loop independent of that rule. */
static void close_all(echo_t *e, void (*close_fn)(rasio_tcp_t *)) {
  for (conn_t *c = e->conns, *next; c != NULL; c = next) {
    next = c->next;
    close_fn(c->tcp);
  }
}

static void hard_close_all(echo_t *e) {
  close_all(e, rasio_tcp_hard_close);
  maybe_done(e);
}

static void shutdown_begin(echo_t *e, const char *why) {
  e->stopping = true;
  printf(PROG ": %s: closing the listener and %zu connection%s\n", why, e->live,
         e->live == 1 ? "" : "s");
  fflush(stdout);
  if (e->listener != NULL) rasio_tcp_listener_close(e->listener);
  close_all(e, rasio_tcp_close); /* graceful; a muted connection closes hard */
  tool_exec_deadline(&e->exec, SHUTDOWN_GRACE_NS);
  maybe_done(e);
}

/* The grace period ended with connections still waiting for their peers' FIN. */
static void echo_timeout(void *app) {
  echo_t *e = app;
  if (e->live > 0) printf(PROG ": closing %zu lingering connections\n", e->live);
  hard_close_all(e);
}

static void on_signal(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  echo_t *e = ctx;
  if (flags & RASIO_DISPOSED) {
    for (int i = 0; i < SIG_COUNT; i++)
      if (e->sig[i] == ev) e->sig[i] = NULL;
    (void)rasio_event_destroy(ev);
    return;
  }
  if (!(flags & RASIO_SIGNAL)) return;
  const char *name = ev == e->sig[SIG_INT] ? "SIGINT" : "SIGTERM";
  if (!e->stopping) {
    shutdown_begin(e, name);
  } else {
    printf(PROG ": %s again: closing everything now\n", name);
    hard_close_all(e);
  }
}

/* --- connections ------------------------------------------------------------------------- */

static bool conn_received(rasio_tcp_t *t, const void *data, size_t len) {
  conn_t *c = rasio_tcp_data(t);
  /* A failed write closes the connection (closed follows); nothing else to do here. */
  if (rasio_tcp_write(t, data, len) == 0) c->e->bytes += len;
  return true;
}

/* Backpressure: stop reading from a peer that does not read its echoes. */
static void conn_throttled(rasio_tcp_t *t) { rasio_tcp_mute(t); }
static void conn_unthrottled(rasio_tcp_t *t) { rasio_tcp_unmute(t); }

static void conn_closed(rasio_tcp_t *t) {
  conn_t *c = rasio_tcp_data(t);
  echo_t *e = c->e;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    e->conns = c->next;
  if (c->next != NULL) c->next->prev = c->prev;
  e->live--;
  free(c);
  maybe_done(e);
}

static const rasio_tcp_cb_t conn_cb = {
    .received = conn_received,
    .throttled = conn_throttled,
    .unthrottled = conn_unthrottled,
    .closed = conn_closed,
};

static bool accepted(rasio_tcp_listener_t *l, rasio_tcp_t *t) {
  echo_t *e = rasio_tcp_listener_data(l);
  conn_t *c = e->stopping ? NULL : calloc(1, sizeof *c);
  if (c == NULL) return false; /* refused: rasio closes it without callbacks */
  c->e = e;
  c->tcp = t;
  c->next = e->conns;
  if (e->conns != NULL) e->conns->prev = c;
  e->conns = c;
  e->live++;
  e->accepted++;
  rasio_tcp_set_callbacks(t, &conn_cb, c);
  (void)rasio_sock_set_nodelay(rasio_tcp_fd(t), true); /* echoes should not wait */
  return true;
}

static void listener_closed(rasio_tcp_listener_t *l) {
  echo_t *e = rasio_tcp_listener_data(l);
  e->listener = NULL;
  if (!e->stopping) {
    e->status = 1;
    shutdown_begin(e, "the listener failed");
  }
}

static const rasio_tcp_listener_cb_t listener_cb = {.accepted = accepted,
                                                    .closed = listener_closed};

/* --- the run --------------------------------------------------------------------------- */

static bool signals_start(echo_t *e) {
  const int signo[SIG_COUNT] = {SIGINT, SIGTERM};
  for (int i = 0; i < SIG_COUNT; i++) {
    rasio_event_opts_t o = {.flags = RASIO_SIGNAL,
                            .nsec = (uint64_t)signo[i],
                            .noisy = true,
                            .notify = on_signal,
                            .ctx = e,
                            .mailbox = e->exec.mailbox};
    int rc = rasio_event_new(e->exec.loop, &o, &e->sig[i]);
    if (rc != 0) {
      printf(PROG ": cannot watch signal %d: %s\n", signo[i], rasio_strerror(rc));
      return false;
    }
  }
  return true;
}

static void print_listening(const echo_t *e) {
  rasio_addr_t addr;
  char buf[64] = "?";
  if (rasio_tcp_listener_addr(e->listener, &addr) == 0) tool_addr_str(&addr, buf, sizeof buf);
  printf(PROG ": listening on %s (backend %s, executor %s); SIGINT or SIGTERM to stop\n", buf,
         e->exec.backend_name, e->cfg.mailbox ? "mailbox" : "inline");
  fflush(stdout);
}

/* Runs on the executor thread: every object is made where its callbacks will run. */
static void echo_start(void *app) {
  echo_t *e = app;
  rasio_tcp_listener_opts_t o = {.cb = &listener_cb,
                                 .data = e,
                                 .mailbox = e->exec.mailbox,
                                 .limit = (size_t)e->cfg.max_connections};
  int rc = rasio_tcp_listen(e->exec.loop, e->cfg.host, e->cfg.port, RASIO_AF_ANY, &o, &e->listener);
  if (rc != 0) {
    printf(PROG ": cannot listen on %s port %s: %s\n", e->cfg.host, e->cfg.port,
           rasio_strerror(rc));
    e->status = 1;
    return; /* nothing noisy exists: the run ends */
  }
  print_listening(e);
  if (!signals_start(e)) {
    e->status = 1;
    shutdown_begin(e, "no signal handling");
  }
}

/* --- the command line -------------------------------------------------------------------- */

static void usage(void) {
  printf("usage: " PROG
         " [options]\n"
         "A TCP echo server on rasio's net layer; SIGINT or SIGTERM stops it gracefully\n"
         "(a second one closes everything at once).\n"
         "\n"
         "  --port P              port (default 7777; 0 = any free port)\n"
         "  --host H              address to listen on (default 127.0.0.1; 0.0.0.0 or ::\n"
         "                        for every interface)\n"
         "  --max-connections N   live connections at most; accepting pauses beyond it\n"
         "                        (default 0 = no limit)\n"
         "  --executor E          inline (loop thread) or mailbox (an owner thread; default\n"
         "                        inline)\n"
         "  --backend NAME        rasio backend (default: RASIO_BACKEND, else the best one)\n"
         "  --help                this text\n"
         "\n"
         "Exit status: 0 after a clean shutdown, 1 on failure, 2 bad arguments.\n");
}

static config_t parse_args(int argc, char **argv) {
  config_t c = {.host = "127.0.0.1", .port = "7777"};
  tool_args_t a = {.argc = argc, .argv = argv, .prog = PROG};
  const char *v;
  for (a.i = 1; a.i < argc; a.i++) {
    if (tool_switch(&a, "--help") || tool_switch(&a, "-h")) {
      usage();
      exit(0);
    } else if (tool_flag(&a, "--port", &v)) {
      snprintf(c.port, sizeof c.port, "%u", (unsigned)tool_parse_uint(&a, "--port", v, 0, 65535));
    } else if (tool_flag(&a, "--host", &v)) {
      c.host = v;
    } else if (tool_flag(&a, "--max-connections", &v)) {
      c.max_connections = tool_parse_uint(&a, "--max-connections", v, 0, 10000000);
    } else if (tool_flag(&a, "--executor", &v)) {
      c.mailbox = tool_parse_executor(&a, v);
    } else if (tool_flag(&a, "--backend", &v)) {
      c.backend = v;
    } else {
      tool_usage_error(&a, "unknown argument '%s'", argv[a.i]);
    }
  }
  return c;
}

int main(int argc, char **argv) {
  echo_t e = {.cfg = parse_args(argc, argv)};
  /* No limit asked for: take whatever the hard limit allows. */
  size_t need = e.cfg.max_connections != 0 ? (size_t)e.cfg.max_connections + 64 : SIZE_MAX;
  (void)tool_raise_fd_limit(need);
  e.exec = (tool_exec_t){.backend = e.cfg.backend,
                         .use_mailbox = e.cfg.mailbox,
                         .start = echo_start,
                         .timeout = echo_timeout,
                         .app = &e};
  int rc = tool_exec_run(&e.exec, PROG);
  if (rc != 0) return rc == RASIO_ENOBACKEND ? 2 : 1;
  if (e.stopping)
    printf(PROG ": %" PRIu64 " connection%s served, %" PRIu64 " bytes echoed\n", e.accepted,
           e.accepted == 1 ? "" : "s", e.bytes);
  if (e.exec.free_what != NULL) {
    printf(PROG ": %s after the shutdown: %s\n", e.exec.free_what, rasio_strerror(e.exec.free_rc));
    return 1;
  }
  return e.status;
}
