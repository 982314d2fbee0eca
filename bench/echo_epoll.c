/* SPDX-License-Identifier: BSD-2-Clause */
/* The floor: the leanest echo server this benchmark knows how to write on raw epoll.
 *
 * Every library row is compared with this one, so it takes every shortcut the echo
 * contract (server.h) allows and nothing more:
 *   - one epoll fd; each connection is registered once, EPOLLIN|EPOLLOUT|EPOLLET, and never
 *     touched with epoll_ctl again (closing the fd removes it);
 *   - reads into one shared 64 KiB buffer until EAGAIN or a short read: on a stream socket a
 *     read that returns less than asked emptied the receive queue, and any later data raises a
 *     new edge, so the extra read that would only say EAGAIN is skipped;
 *   - echoes each read at once; a short write parks the remainder in a per-connection buffer
 *     (allocated on first need) and the connection reads nothing more until EPOLLOUT has
 *     flushed it.
 * The listening socket is level-triggered: bench_accept returns -1 for EINTR or ECONNABORTED
 * as well as EAGAIN, and level mode makes stopping early on those harmless. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "server.h"

#define MAX_EVENTS 256

/* One accepted connection. pend holds bytes read but not yet written back (pend_off..pend_len). */
typedef struct conn {
  int fd;
  size_t pend_off, pend_len;
  char *pend;
} conn_t;

static char rbuf[BENCH_BUF_SIZE];

static void conn_close(conn_t *c) {
  close(c->fd);
  free(c->pend);
  free(c);
}

/* Writes *n bytes from *p, advancing both. Returns 1 when all is written, 0 when the socket
 * would block (the rest is still at *p), -1 when the connection failed. */
static int write_all(int fd, const char **p, size_t *n) {
  while (*n > 0) {
    ssize_t w = write(fd, *p, *n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? 0 : -1;
    }
    *p += w;
    *n -= (size_t)w;
  }
  return 1;
}

/* Echoes a fresh read; parks what the socket would not take. Same returns as write_all. */
static int echo_out(conn_t *c, const char *p, size_t n) {
  int r = write_all(c->fd, &p, &n);
  if (r != 0) return r;
  if (c->pend == NULL && (c->pend = malloc(BENCH_BUF_SIZE)) == NULL) bench_die("malloc");
  memcpy(c->pend, p, n);
  c->pend_off = 0;
  c->pend_len = n;
  return 0;
}

/* Writes out the parked remainder. Same returns as write_all. */
static int flush_pending(conn_t *c) {
  const char *p = c->pend + c->pend_off;
  size_t n = c->pend_len - c->pend_off;
  int r = write_all(c->fd, &p, &n);
  if (r == 0) c->pend_off = (size_t)(p - c->pend);
  if (r == 1) c->pend_len = 0;
  return r;
}

/* Handles any event on a connection: flush first, then read-and-echo until drained. */
static void on_conn(conn_t *c) {
  if (c->pend_len > 0) {
    int r = flush_pending(c);
    if (r < 0) goto close_conn;
    if (r == 0) return;
  }
  for (;;) {
    ssize_t n = read(c->fd, rbuf, sizeof rbuf);
    if (n > 0) {
      int r = echo_out(c, rbuf, (size_t)n);
      if (r < 0) goto close_conn;
      if (r == 0 || (size_t)n < sizeof rbuf) return;
    } else if (n == 0) {
      goto close_conn; /* the peer closed: a normal end for an echo connection */
    } else if (errno == EAGAIN) {
      return;
    } else if (errno != EINTR) {
      goto close_conn;
    }
  }
close_conn:
  conn_close(c);
}

static void on_listen(int ep, int lfd) {
  int fd;
  while ((fd = bench_accept(lfd)) >= 0) {
    struct epoll_event ev;
    conn_t *c = calloc(1, sizeof *c);
    if (c == NULL) bench_die("calloc");
    c->fd = fd;
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.ptr = c;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) bench_die("epoll_ctl");
  }
}

int main(int argc, char **argv) {
  struct epoll_event evs[MAX_EVENTS];
  struct epoll_event lev;
  int lfd = bench_server_start(argc, argv, "epoll", "epoll");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) bench_die("epoll_create1");
  lev.events = EPOLLIN;
  lev.data.ptr = NULL; /* NULL marks the listening socket */
  if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) bench_die("epoll_ctl");
  for (;;) {
    int i, n = epoll_wait(ep, evs, MAX_EVENTS, -1);
    if (n < 0 && errno != EINTR) bench_die("epoll_wait");
    for (i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL)
        on_listen(ep, lfd);
      else
        on_conn(evs[i].data.ptr);
    }
  }
}
