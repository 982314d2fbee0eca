/* The libev echo server (contract: server.h): one level-triggered ev_io per connection,
 * watching EV_READ, switched to EV_WRITE only while the tail of a short write waits.
 * libev queues interest changes and hands them to the backend once per loop iteration, so
 * the switch costs one epoll_ctl whichever way it goes.
 *
 * The loop is the default loop with EVFLAG_AUTO. libev 4.33 then picks from its
 * "recommended" backends, which on Linux exclude linuxaio and io_uring, so epoll is chosen;
 * the server refuses to run on anything else (LIBEV_FLAGS in the environment could ask for
 * it), and prints the name of what ev_backend() reports.
 *
 * All connections read into one 64 KiB buffer (the loop is single-threaded); only the
 * unwritten tail of a short write is copied into a per-connection buffer, allocated at the
 * first short write and kept until close.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ev.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

enum { ECHO_IDLE, ECHO_BLOCKED, ECHO_CLOSE };

struct conn {
  ev_io io;   /* first: the callbacks cast the watcher back to its connection */
  char *tail; /* unwritten bytes of the last echo: tail[off..off+len) */
  size_t off, len;
};

static char rbuf[BENCH_BUF_SIZE];
static struct ev_loop *loop;
static int listen_fd;

/* Writes p[0..n) until it is all out or the socket is full, then keeps the rest. A partial
 * write is retried because the peer may have drained some of the socket meanwhile (the floor
 * and rasio rows retry too, so every row pays the same syscalls here). */
static int echo_write(struct conn *c, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(c->io.fd, p, n);
    if (w >= 0) {
      p += w;
      n -= (size_t)w;
    } else if (errno == EAGAIN) {
      if (c->tail == NULL && (c->tail = malloc(BENCH_BUF_SIZE)) == NULL) bench_die("malloc");
      memcpy(c->tail, p, n);
      c->off = 0;
      c->len = n;
      return ECHO_BLOCKED;
    } else if (errno != EINTR) {
      return ECHO_CLOSE;
    }
  }
  return ECHO_IDLE;
}

/* Reads and echoes until a read comes back short: level-triggered readiness reports the
 * socket again if anything (data or EOF) is left, so the extra read to EAGAIN is not needed. */
static int echo_pump(struct conn *c) {
  for (;;) {
    ssize_t n = read(c->io.fd, rbuf, sizeof rbuf);
    if (n == 0) return ECHO_CLOSE;
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? ECHO_IDLE : ECHO_CLOSE;
    }
    int rc = echo_write(c, rbuf, (size_t)n);
    if (rc != ECHO_IDLE || (size_t)n < sizeof rbuf) return rc;
  }
}

static int echo_flush(struct conn *c) {
  while (c->len > 0) {
    ssize_t w = write(c->io.fd, c->tail + c->off, c->len);
    if (w >= 0) {
      c->off += (size_t)w;
      c->len -= (size_t)w;
    } else if (errno == EAGAIN) {
      return ECHO_BLOCKED;
    } else if (errno != EINTR) {
      return ECHO_CLOSE;
    }
  }
  return ECHO_IDLE;
}

/* libev leaves a stopped fd in epoll and lets close() remove it; its generation counter
 * discards any event that was already queued for the old descriptor. */
static void conn_close(struct conn *c) {
  ev_io_stop(loop, &c->io);
  close(c->io.fd);
  free(c->tail);
  free(c);
}

/* Same fd, new interest: ev_io_set is the documented way to change a stopped watcher. */
static void conn_want(struct conn *c, int events) {
  if ((c->io.events & (EV_READ | EV_WRITE)) == events) return;
  ev_io_stop(loop, &c->io);
  ev_io_set(&c->io, c->io.fd, events);
  ev_io_start(loop, &c->io);
}

/* A flushed tail falls through to reading at once: the peer has usually sent more while the
 * connection was blocked, and this saves a loop iteration. */
static void on_conn(struct ev_loop *l, ev_io *w, int revents) {
  struct conn *c = (struct conn *)w;
  (void)l;
  int rc = revents & EV_ERROR ? ECHO_CLOSE : ECHO_IDLE;
  if (rc == ECHO_IDLE && c->len > 0) rc = echo_flush(c);
  if (rc == ECHO_IDLE) rc = echo_pump(c);
  if (rc == ECHO_CLOSE)
    conn_close(c);
  else
    conn_want(c, rc == ECHO_BLOCKED ? EV_WRITE : EV_READ);
}

static void on_accept(struct ev_loop *l, ev_io *w, int revents) {
  (void)w;
  (void)revents;
  for (int fd; (fd = bench_accept(listen_fd)) >= 0;) {
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) bench_die("calloc");
    ev_io_init(&c->io, on_conn, fd, EV_READ);
    ev_io_start(l, &c->io);
  }
}

static const char *backend_name(unsigned b) {
  static const struct {
    unsigned flag;
    const char *name;
  } names[] = {{EVBACKEND_SELECT, "select"},   {EVBACKEND_POLL, "poll"},
               {EVBACKEND_EPOLL, "epoll"},     {EVBACKEND_KQUEUE, "kqueue"},
               {EVBACKEND_PORT, "port"},       {EVBACKEND_LINUXAIO, "linuxaio"},
               {EVBACKEND_IOURING, "io_uring"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].flag == b) return names[i].name;
  return "unknown";
}

int main(int argc, char **argv) {
  const char *mode = bench_arg(argc, argv, "mode", "level");
  if (strcmp(mode, "level") != 0) {
    fprintf(stderr, "echo_ev: --mode must be level\n");
    return 2;
  }
  loop = ev_default_loop(EVFLAG_AUTO);
  if (loop == NULL) bench_die("ev_default_loop");
  if (ev_backend(loop) != EVBACKEND_EPOLL) {
    fprintf(stderr, "echo_ev: libev chose %s, not epoll\n", backend_name(ev_backend(loop)));
    return 1;
  }
  listen_fd = bench_server_start(argc, argv, "libev", backend_name(ev_backend(loop)));
  static ev_io listener;
  ev_io_init(&listener, on_accept, listen_fd, EV_READ);
  ev_io_start(loop, &listener);
  ev_run(loop, 0);
  return 0;
}
