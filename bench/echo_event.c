/* SPDX-License-Identifier: BSD-2-Clause */
/* The libevent echo server (contract: server.h) on libevent's raw readiness API, not on
 * bufferevents (whose evbuffer reads at most 4096 bytes at a time in 2.1.12):
 *
 *   --mode level  event_new(EV_READ|EV_PERSIST) per connection; a second, EV_WRITE event is
 *                 added only while the tail of a short write waits, and the read event is
 *                 removed meanwhile (level-triggered, it would otherwise fire without end).
 *   --mode et     the same two events with EV_ET. Edge-triggered, the read event stays added
 *                 while a tail waits (an edge then is simply ignored), and every read pass
 *                 goes on until EAGAIN: an edge is not repeated for data left behind.
 *
 * The echo itself is server.h's (shared with libuv's poll row and libev). The event base is
 * libevent's default: on Linux, epoll without the optional changelist, so each
 * event_add/event_del is one epoll_ctl.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

struct conn {
  bench_echo_t echo;
  int blocked; /* the write event is added: a tail waits */
  struct event *rd, *wr;
};

static struct event_base *base;
static int edge; /* --mode et */
static int listen_fd;

/* event_free deletes the events first, which libevent needs before the fd is closed. */
static void conn_close(struct conn *c) {
  event_free(c->rd);
  event_free(c->wr);
  close(c->echo.fd);
  free(c->echo.tail);
  free(c);
}

/* Switches the connection between reading and waiting to flush a tail, only on a change. */
static void conn_block(struct conn *c, int blocked) {
  if (c->blocked == blocked) return;
  c->blocked = blocked;
  int rc = blocked ? event_add(c->wr, NULL) : event_del(c->wr);
  if (rc == 0 && !edge) rc = blocked ? event_del(c->rd) : event_add(c->rd, NULL);
  if (rc != 0) bench_die("event_add/event_del");
}

static void conn_settle(struct conn *c, int rc) {
  if (rc == BENCH_ECHO_CLOSE)
    conn_close(c);
  else
    conn_block(c, rc == BENCH_ECHO_BLOCKED);
}

static void on_read(evutil_socket_t fd, short what, void *arg) {
  struct conn *c = arg;
  (void)fd;
  (void)what;
  if (c->blocked) return; /* edge-triggered only: the flush will read this data */
  conn_settle(c, bench_echo_pump(&c->echo, edge));
}

/* A flushed tail falls through to reading at once: the peer has usually sent more while the
 * connection was blocked, and edge-triggered, no new edge may come for it. */
static void on_write(evutil_socket_t fd, short what, void *arg) {
  struct conn *c = arg;
  (void)fd;
  (void)what;
  int rc = bench_echo_flush(&c->echo);
  if (rc == BENCH_ECHO_IDLE) rc = bench_echo_pump(&c->echo, edge);
  conn_settle(c, rc);
}

static void on_accept(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  (void)arg;
  short et = edge ? EV_ET : 0;
  for (int cfd; (cfd = bench_accept(listen_fd)) >= 0;) {
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) bench_die("calloc");
    c->echo.fd = cfd;
    c->rd = event_new(base, cfd, EV_READ | EV_PERSIST | et, on_read, c);
    c->wr = event_new(base, cfd, EV_WRITE | EV_PERSIST | et, on_write, c);
    if (c->rd == NULL || c->wr == NULL || event_add(c->rd, NULL) != 0) bench_die("event_new");
  }
}

int main(int argc, char **argv) {
  const char *mode = bench_arg(argc, argv, "mode", "level");
  if (strcmp(mode, "level") != 0 && strcmp(mode, "et") != 0) {
    fprintf(stderr, "echo_event: --mode must be level or et\n");
    return 2;
  }
  edge = strcmp(mode, "et") == 0;
  base = event_base_new();
  if (base == NULL) bench_die("event_base_new");
  listen_fd = bench_server_start(argc, argv, "libevent", event_base_get_method(base));
  struct event *listener = event_new(base, listen_fd, EV_READ | EV_PERSIST, on_accept, NULL);
  if (listener == NULL || event_add(listener, NULL) != 0) bench_die("listener event");
  event_base_dispatch(base);
  return 0;
}
