/* SPDX-License-Identifier: BSD-2-Clause */
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
 * The echo itself is server.h's (shared with libuv's poll row and libevent).
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

struct conn {
  ev_io io; /* first: the callbacks cast the watcher back to its connection */
  bench_echo_t echo;
};

static struct ev_loop *loop;
static int listen_fd;

/* libev leaves a stopped fd in epoll and lets close() remove it; its generation counter
 * discards any event that was already queued for the old descriptor. */
static void conn_close(struct conn *c) {
  ev_io_stop(loop, &c->io);
  close(c->io.fd);
  free(c->echo.tail);
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
  int rc = revents & EV_ERROR ? BENCH_ECHO_CLOSE : BENCH_ECHO_IDLE;
  if (rc == BENCH_ECHO_IDLE) rc = bench_echo_flush(&c->echo);
  if (rc == BENCH_ECHO_IDLE) rc = bench_echo_pump(&c->echo, 0);
  if (rc == BENCH_ECHO_CLOSE)
    conn_close(c);
  else
    conn_want(c, rc == BENCH_ECHO_BLOCKED ? EV_WRITE : EV_READ);
}

static void on_accept(struct ev_loop *l, ev_io *w, int revents) {
  (void)w;
  (void)revents;
  for (int fd; (fd = bench_accept(listen_fd)) >= 0;) {
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) bench_die("calloc");
    c->echo.fd = fd;
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
