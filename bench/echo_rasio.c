/* SPDX-License-Identifier: BSD-2-Clause */
/* The rasio echo server, one program for every way rasio.h offers to write it (--mode):
 *
 *   oneshot       READ|WRITE|ONESHOT. Reads until RETRY or a short read, then clears
 *                 readable and re-arms READ. A short write arms WRITE instead; READ is
 *                 re-armed once the remainder is flushed.
 *   edge          READ|WRITE persistent edge, subscribed once and never re-armed. Reads
 *                 until RETRY or a short read (see "short reads" below).
 *   level         LEVEL READ. While a write is pending the connection is watched for WRITE
 *                 instead (see "level and WRITE interest" below).
 *   edge-mailbox  edge, but the owner is an actor: the main thread drains a mailbox and does
 *                 all the I/O, while a thread started by rasio_loop_start only waits.
 *   net           the net layer: rasio_tcp_listen, echoing from the `received` callback,
 *                 muted while throttled (its own backpressure callbacks).
 * Every mode but edge-mailbox runs the inline executor on the loop thread (this thread).
 * The echo contract is server.h's: one shared 64 KiB read buffer, echo each read at once,
 * park what the kernel refuses and read nothing more from that connection until it is out.
 *
 * Short reads. rasio.h's short-read rule: on a stream socket, a rasio_sock_recv that returns
 * OK with fewer bytes than asked counts as RETRY (the socket layer re-polls an emulated edge
 * itself), so every mode stops reading there: ONESHOT clears readable and re-arms READ, edge
 * simply waits for the next READ, level for the next notification. --short-read 0 reads on
 * to RETRY instead (the rule before it was promised), to measure what the rule saves.
 * Writes have no such rule: a partial write is OK with a short count, and only RETRY tells
 * an edge emulation that WRITE is not ready. So after a partial write the rest is sent
 * again until it is out or the kernel says RETRY (every mode, like the epoll floor).
 *
 * Level and WRITE interest. rasio fixes an event's interest at rasio_event_new and has no
 * call to change it, and a persistent WRITE interest on a writeable socket fires on every
 * iteration. So a level connection that must wait for writability unsubscribes its READ
 * event and subscribes a LEVEL WRITE one at DISPOSED (and back again once flushed). The
 * socket is therefore not own_fd in this mode; the owner closes it at the final DISPOSED.
 * Short writes never happen with small ping-pong messages, so this costs nothing there.
 *
 * Threads: every notification of a mode runs on one thread (its executor), so the shared
 * read buffer and the connection records need no locks.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rasio.h"
#include "server.h"

#define ACCEPT_BATCH 64

typedef enum echo_mode {
  MODE_ONESHOT,
  MODE_EDGE,
  MODE_LEVEL,
  MODE_EDGE_MAILBOX,
  MODE_NET
} echo_mode_t;

/* What the level mode subscribes at the next DISPOSED of a connection's event. */
typedef enum next { NEXT_CLOSE, NEXT_READ, NEXT_WRITE } next_t;

/* Outcome of reading or writing a connection. */
typedef enum io { IO_DRAINED, IO_PARKED, IO_FAILED } io_t;

/* One accepted connection; touched only by its executor's thread. pend[pend_off..pend_len)
 * holds bytes read but refused by the kernel. */
typedef struct conn {
  rasio_event_t *ev;
  rasio_fd_t fd;
  char *pend;
  size_t pend_off, pend_len;
  bool readable; /* edge: READ was delivered and RETRY not seen since */
  next_t next;   /* level: what DISPOSED leads to */
} conn_t;

typedef struct server {
  echo_mode_t mode;
  bool short_read; /* stop reading at a short read (the default; see the file comment) */
  rasio_loop_t *loop;
  rasio_mailbox_t *mailbox; /* edge-mailbox only */
  int lfd;
  rasio_event_t *listener;
} server_t;

static server_t srv;
static char rbuf[BENCH_BUF_SIZE]; /* shared by every connection: one executor thread */

static void die_rc(const char *what, int rc) {
  fprintf(stderr, "bench-echo_rasio: %s: %s\n", what, rasio_strerror(rc));
  exit(1);
}

/* --- the echo itself (every raw mode) ------------------------------------------------ */

/* Writes p[0..n) (in the shared read buffer) back until done or RETRY, and parks what
 * the kernel refused. The connection has nothing parked when this is called. */
static io_t echo_out(conn_t *c, const char *p, size_t n) {
  while (n > 0) {
    size_t sent;
    int r = rasio_sock_send(c->ev, p, n, &sent);
    if (r == RASIO_IO_ERROR) return IO_FAILED;
    if (r == RASIO_IO_RETRY) {
      if (c->pend == NULL && (c->pend = malloc(BENCH_BUF_SIZE)) == NULL) bench_die("malloc");
      memcpy(c->pend, p, n);
      c->pend_off = 0;
      c->pend_len = n;
      return IO_PARKED;
    }
    p += sent;
    n -= sent;
  }
  return IO_DRAINED;
}

/* Sends the parked remainder (on WRITE) until it is out or the kernel says RETRY. */
static io_t flush(conn_t *c) {
  while (c->pend_off < c->pend_len) {
    size_t sent;
    int r = rasio_sock_send(c->ev, c->pend + c->pend_off, c->pend_len - c->pend_off, &sent);
    if (r == RASIO_IO_ERROR) return IO_FAILED;
    if (r == RASIO_IO_RETRY) return IO_PARKED;
    c->pend_off += sent;
  }
  c->pend_off = c->pend_len = 0;
  return IO_DRAINED;
}

/* Reads and echoes until RETRY (or a short read, if allowed), a parked write, or failure. */
static io_t read_echo(conn_t *c, bool short_ok) {
  for (;;) {
    size_t n;
    int r = rasio_sock_recv(c->ev, rbuf, sizeof rbuf, &n);
    if (r == RASIO_IO_RETRY) return IO_DRAINED;
    if (r == RASIO_IO_ERROR) return IO_FAILED; /* peer closed or reset: the normal end */
    io_t w = echo_out(c, rbuf, n);
    if (w != IO_DRAINED) return w;
    if (short_ok && n < sizeof rbuf) return IO_DRAINED; /* the short-read rule */
  }
}

static conn_t *conn_new(rasio_fd_t fd) {
  conn_t *c = calloc(1, sizeof *c);
  if (c == NULL) bench_die("calloc");
  c->fd = fd;
  return c;
}

static void conn_free(conn_t *c) {
  free(c->pend);
  free(c);
}

/* Ends a connection; rasio closes the socket (own_fd) and DISPOSED frees the record. */
static void conn_close(conn_t *c) {
  c->next = NEXT_CLOSE;
  (void)rasio_event_unsubscribe(c->ev);
}

/* Clears a direction and re-arms it, as the protocol asks (clear first). */
static void rearm(conn_t *c, uint32_t dir) {
  int rc;
  if (dir == RASIO_READ) {
    rasio_event_set_readable(c->ev, false);
    rc = rasio_event_resubscribe_read(c->ev);
  } else {
    rasio_event_set_writeable(c->ev, false);
    rc = rasio_event_resubscribe_write(c->ev);
  }
  if (rc != 0) conn_close(c);
}

/* The end of a oneshot or edge connection: DISPOSED frees it, ERROR closes it. True if
 * flags carried either, and nothing else is left to do. */
static bool conn_ended(rasio_event_t *ev, uint32_t flags, conn_t *c) {
  if (flags & RASIO_DISPOSED) {
    (void)rasio_event_destroy(ev);
    conn_free(c);
    return true;
  }
  if (flags & RASIO_ERROR) conn_close(c);
  return (flags & RASIO_ERROR) != 0;
}

/* After a oneshot turn: close on failure, else re-arm whichever direction is now awaited. */
static void oneshot_settle(conn_t *c, io_t r) {
  if (r == IO_FAILED) conn_close(c);
  else rearm(c, r == IO_PARKED ? RASIO_WRITE : RASIO_READ);
}

/* --- oneshot ------------------------------------------------------------------------- */

/* READ and WRITE are never armed together: WRITE only while a remainder is parked. */
static void on_oneshot(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  conn_t *c = ctx;
  (void)arg;
  if (conn_ended(ev, flags, c)) return;
  if (flags & RASIO_WRITE) oneshot_settle(c, flush(c));
  else if (flags & RASIO_READ) oneshot_settle(c, read_echo(c, srv.short_read));
}

/* --- edge (inline and mailbox) --------------------------------------------------------- */

/* Subscribed once. READ sets c->readable; reading stops at RETRY or a short read (clearing
 * it) or at a parked write (keeping it: the socket may hold more, and no new edge would say
 * so, so the read resumes right after the flush). */
static void on_edge(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  conn_t *c = ctx;
  io_t r;
  (void)arg;
  if (conn_ended(ev, flags, c)) return;
  if (flags & RASIO_READ) c->readable = true;
  if (c->pend_len > c->pend_off) {
    if (!(flags & RASIO_WRITE)) return; /* still waiting for writability */
    r = flush(c);
    if (r != IO_DRAINED) {
      if (r == IO_FAILED) conn_close(c);
      return;
    }
  }
  if (!c->readable) return;
  r = read_echo(c, srv.short_read);
  if (r == IO_FAILED) {
    conn_close(c);
  } else if (r == IO_DRAINED) {
    c->readable = false;
  }
}

/* --- level ------------------------------------------------------------------------------ */

static void on_level(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx);

/* Subscribes the connection's socket for one direction, level-triggered. */
static void level_subscribe(conn_t *c, uint32_t dir) {
  rasio_event_opts_t o = {.fd = c->fd, .flags = dir | RASIO_LEVEL, .noisy = true,
                          .notify = on_level, .ctx = c};
  int rc = rasio_event_new(srv.loop, &o, &c->ev);
  if (rc != 0) die_rc("rasio_event_new", rc);
}

/* Swaps the event for one watching the other direction, at its DISPOSED. */
static void level_switch(conn_t *c, next_t next) {
  c->next = next;
  (void)rasio_event_unsubscribe(c->ev);
}

static void level_disposed(rasio_event_t *ev, conn_t *c) {
  (void)rasio_event_destroy(ev);
  c->ev = NULL;
  switch (c->next) {
    case NEXT_READ: level_subscribe(c, RASIO_READ); break;
    case NEXT_WRITE: level_subscribe(c, RASIO_WRITE); break;
    case NEXT_CLOSE:
      (void)rasio_sock_close(c->fd);
      conn_free(c);
      break;
  }
}

static void on_level(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  conn_t *c = ctx;
  io_t r;
  (void)arg;
  if (flags & RASIO_DISPOSED) {
    level_disposed(ev, c);
    return;
  }
  if (flags & RASIO_ERROR) {
    level_switch(c, NEXT_CLOSE);
    return;
  }
  if (flags & RASIO_WRITE) {
    r = flush(c);
    if (r != IO_PARKED) level_switch(c, r == IO_DRAINED ? NEXT_READ : NEXT_CLOSE);
    return;
  }
  if (!(flags & RASIO_READ)) return;
  r = read_echo(c, srv.short_read);
  if (r != IO_DRAINED) level_switch(c, r == IO_PARKED ? NEXT_WRITE : NEXT_CLOSE);
}

/* --- accepting (every raw mode) ------------------------------------------------------------ */

static void conn_start(rasio_fd_t fd) {
  conn_t *c = conn_new(fd);
  if (srv.mode == MODE_LEVEL) {
    c->next = NEXT_READ;
    level_subscribe(c, RASIO_READ);
    return;
  }
  rasio_event_opts_t o = {.fd = fd, .noisy = true, .own_fd = true, .ctx = c};
  if (srv.mode == MODE_ONESHOT) {
    /* WRITE is an interest but starts disarmed, as if delivered: armed only when needed. */
    o.flags = RASIO_READ | RASIO_WRITE | RASIO_ONESHOT;
    o.ready = RASIO_WRITE;
    o.notify = on_oneshot;
  } else {
    o.flags = RASIO_READ | RASIO_WRITE;
    o.notify = on_edge;
    o.mailbox = srv.mailbox;
  }
  int rc = rasio_event_new(srv.loop, &o, &c->ev);
  if (rc != 0) die_rc("rasio_event_new", rc);
}

/* The listener is ONESHOT in every raw mode: bench_accept also returns -1 for an aborted
 * connection, so a batch may stop early, and a level re-arm makes that harmless. It runs
 * on the connections' executor, so in edge-mailbox mode the actor accepts too. */
static void on_listen(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  int fd, i;
  (void)arg;
  (void)ctx;
  if (!(flags & RASIO_READ)) return;
  for (i = 0; i < ACCEPT_BATCH && (fd = bench_accept(srv.lfd)) >= 0; i++) conn_start(fd);
  rasio_event_set_readable(ev, false);
  int rc = rasio_event_resubscribe_read(ev);
  if (rc != 0) die_rc("listener re-arm", rc);
}

static void listen_raw(void) {
  rasio_event_opts_t o = {.fd = srv.lfd, .flags = RASIO_READ | RASIO_ONESHOT, .noisy = true,
                          .notify = on_listen, .mailbox = srv.mailbox};
  int rc = rasio_event_new(srv.loop, &o, &srv.listener);
  if (rc != 0) die_rc("listener", rc);
}

/* --- net ------------------------------------------------------------------------------------ */

static bool net_received(rasio_tcp_t *t, const void *data, size_t len) {
  (void)rasio_tcp_write(t, data, len); /* a failed write closes the connection itself */
  return true;
}

/* The echo contract: read nothing more while the kernel refuses the echo. */
static void net_throttled(rasio_tcp_t *t) { rasio_tcp_mute(t); }
static void net_unthrottled(rasio_tcp_t *t) { rasio_tcp_unmute(t); }

static const rasio_tcp_cb_t net_conn_cb = {
    .received = net_received, .throttled = net_throttled, .unthrottled = net_unthrottled};

static bool net_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *t) {
  (void)l;
  rasio_tcp_set_callbacks(t, &net_conn_cb, NULL);
  return rasio_sock_set_nodelay(rasio_tcp_fd(t), true) == 0;
}

/* rasio_tcp_listen cannot adopt a listening socket, so the harness' one only reserved the
 * port: it is closed and the same port listened on again (SO_REUSEADDR lets it rebind). */
static void listen_net(void) {
  static const rasio_tcp_listener_cb_t cb = {.accepted = net_accepted};
  rasio_tcp_listener_opts_t o = {.cb = &cb, .conn = {.read_size = BENCH_BUF_SIZE}};
  rasio_tcp_listener_t *l;
  rasio_addr_t addr;
  char port[8];
  if (rasio_sock_local_addr(srv.lfd, &addr) != 0) bench_die("local address");
  snprintf(port, sizeof port, "%u", (unsigned)rasio_addr_port(&addr));
  (void)rasio_sock_close(srv.lfd);
  int rc = rasio_tcp_listen(srv.loop, "127.0.0.1", port, RASIO_AF_INET4, &o, &l);
  if (rc != 0) die_rc("rasio_tcp_listen", rc);
}

/* --- main ------------------------------------------------------------------------------------ */

static echo_mode_t parse_mode(const char *m) {
  static const char *const names[] = {"oneshot", "edge", "level", "edge-mailbox", "net"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(m, names[i]) == 0) return (echo_mode_t)i;
  fprintf(stderr, "bench-echo_rasio: unknown --mode %s (oneshot, edge, level, edge-mailbox, net)\n",
          m);
  exit(2);
}

/* A backend that this build lacks or this system cannot run (RASIO_BACKEND names it) is
 * no failure of the server: exit status 77 tells run.sh to report the row as skipped, with
 * this message as the reason. */
static void loop_new_failed(int rc) {
  const char *name = getenv("RASIO_BACKEND");
  if (rc != RASIO_ENOBACKEND && rc != RASIO_EUNAVAIL) die_rc("rasio_loop_new", rc);
  fprintf(stderr, "bench-echo_rasio: backend %s unavailable: rasio_loop_new: %s (%s)\n",
          name != NULL ? name : "(default)", rasio_err_name(rc), rasio_strerror(rc));
  exit(77);
}

/* The actor: waits for its mailbox and runs what arrived; never returns. */
static void owner_run(void) {
  for (;;) {
    (void)rasio_mailbox_wait(srv.mailbox, UINT64_MAX);
    (void)rasio_mailbox_drain(srv.mailbox, 0);
  }
}

int main(int argc, char **argv) {
  int rc;
  srv.mode = parse_mode(bench_arg(argc, argv, "mode", "edge"));
  srv.short_read = atoi(bench_arg(argc, argv, "short-read", "1")) != 0;
  if ((rc = rasio_loop_new(NULL, &srv.loop)) != 0) loop_new_failed(rc);
  srv.lfd = bench_server_start(argc, argv, "rasio", rasio_loop_backend(srv.loop));
  if (srv.mode == MODE_NET) {
    listen_net();
  } else {
    if (srv.mode == MODE_EDGE_MAILBOX && (rc = rasio_mailbox_new(&srv.mailbox)) != 0)
      die_rc("rasio_mailbox_new", rc);
    listen_raw();
  }
  if (srv.mode == MODE_EDGE_MAILBOX) {
    if ((rc = rasio_loop_start(srv.loop)) != 0) die_rc("rasio_loop_start", rc);
    owner_run();
  }
  rc = rasio_loop_run(srv.loop, RASIO_RUN_DEFAULT);
  die_rc("rasio_loop_run returned", rc); /* only SIGTERM (server.c) ends a server */
  return 1;
}
