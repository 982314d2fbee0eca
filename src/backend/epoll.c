/* SPDX-License-Identifier: BSD-2-Clause */
/* The epoll backend (Linux).
 *
 * Notes on epoll that this file relies on:
 * - ONESHOT uses EPOLLONESHOT, which disables the whole registration after one report;
 *   the core re-arms the direction that was not delivered (RASIO__BE_ONESHOT_DISARMS_ALL).
 *   A MOD re-evaluates readiness at once, so a re-arm on a ready socket reports promptly.
 * - Edge uses EPOLLET; an ADD reports a condition that already holds, so a registration
 *   on a ready socket is announced once. Level uses neither flag.
 * - epoll's event bits are poll's (sys/epoll.h gives EPOLLIN the value of POLLIN, and so
 *   on), so what to ask and how a report folds into directions is pollbits.h, shared with
 *   the io_uring backend. EPOLLERR and EPOLLHUP are reported whether asked for or not.
 * - epoll reports per open file description, and data.u64 carries the event's token
 *   (fdtab.c), never its address. After DEL returns, no later epoll_wait names the event;
 *   a batch already returned is processed before the core produces DISPOSED. A DEL can
 *   fail and leave the registration alive (the owner closed a socket it had dup()ed under
 *   the subscription): its later reports carry a stale token and are dropped.
 * - The wakeup is an eventfd registered edge-triggered and never read: every write is a
 *   new edge. The counter cannot realistically overflow (2^64 writes).
 * - epoll_pwait2 (Linux 5.11) takes a timespec, so timers are not rounded to milliseconds;
 *   without it, epoll_wait with the timeout rounded up (never early).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/pollbits.h"
#include "internal.h"

#define MAX_EVENTS 256

typedef struct epoll_state {
  int epfd;
  int wakefd;
  bool no_pwait2;
  struct epoll_event events[MAX_EVENTS];
} epoll_state_t;

static epoll_state_t *state_of(rasio_loop_t *loop) { return loop->be_state; }

static int probe(void) {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return RASIO_EUNAVAIL;
  close(fd);
  return 0;
}

static int init(rasio_loop_t *loop) {
  epoll_state_t *st = rasio__calloc(1, sizeof *st);
  if (st == NULL) return RASIO_ENOMEM;
  st->epfd = epoll_create1(EPOLL_CLOEXEC);
  st->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event wake = {.events = EPOLLIN | EPOLLET, .data.u64 = 0}; /* no token is 0 */
  if (st->epfd < 0 || st->wakefd < 0 || epoll_ctl(st->epfd, EPOLL_CTL_ADD, st->wakefd, &wake)) {
    int rc = rasio__os_error();
    if (st->epfd >= 0) close(st->epfd);
    if (st->wakefd >= 0) close(st->wakefd);
    rasio__free(st);
    return rc;
  }
  loop->be_state = st;
  return 0;
}

static void fini(rasio_loop_t *loop) {
  epoll_state_t *st = state_of(loop);
  close(st->wakefd);
  close(st->epfd);
  rasio__free(st);
  loop->be_state = NULL;
}

static uint32_t mask_of(const rasio_event_t *ev, uint32_t arm) {
  uint32_t m = rasio__poll_mask(arm);
  if (ev->flags & RASIO_ONESHOT) m |= EPOLLONESHOT;
  else if (!(ev->flags & RASIO_LEVEL)) m |= EPOLLET;
  return m;
}

static int ctl(rasio_loop_t *loop, rasio_event_t *ev, int op, uint32_t arm) {
  static const int ops[] = {[RASIO__CTL_ADD] = EPOLL_CTL_ADD, [RASIO__CTL_ARM] = EPOLL_CTL_MOD,
                            [RASIO__CTL_DEL] = EPOLL_CTL_DEL};
  struct epoll_event e = {.events = mask_of(ev, arm), .data.u64 = ev->token};
  if (epoll_ctl(state_of(loop)->epfd, ops[op], (int)ev->fd, &e) == 0) return 0;
  /* epoll refuses descriptors without readiness (regular files, /dev/null) with EPERM. */
  return errno == EPERM ? RASIO_ENOTSUP : rasio__os_error();
}

static int wait_kernel(epoll_state_t *st, uint64_t timeout_ns) {
  if (!st->no_pwait2) {
    struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
    int n = epoll_pwait2(st->epfd, st->events, MAX_EVENTS,
                         timeout_ns == UINT64_MAX ? NULL : &ts, NULL);
    if (n >= 0 || errno != ENOSYS) return n;
    st->no_pwait2 = true;
  }
  int ms = -1;
  if (timeout_ns != UINT64_MAX) {
    uint64_t up = (timeout_ns + 999999u) / 1000000u;
    ms = up > INT32_MAX ? INT32_MAX : (int)up;
  }
  return epoll_wait(st->epfd, st->events, MAX_EVENTS, ms);
}

static int wait_events(rasio_loop_t *loop, uint64_t timeout_ns) {
  epoll_state_t *st = state_of(loop);
  int n = wait_kernel(st, timeout_ns);
  if (n < 0) return errno == EINTR ? 0 : rasio__os_error();
  for (int i = 0; i < n; i++) {
    uint64_t token = st->events[i].data.u64;
    if (token == 0) continue; /* the wakeup */
    rasio_event_t *ev = rasio__fdtab_lookup(loop, token);
    if (ev != NULL) rasio__event_ready(ev, rasio__poll_dirs(st->events[i].events));
  }
  return 0;
}

static void wake(rasio_loop_t *loop) { rasio__eventfd_poke(state_of(loop)->wakefd); }

const rasio__backend_t rasio__epoll_backend = {
    .name = "epoll",
    .caps = RASIO__BE_ONESHOT_DISARMS_ALL,
    .probe = probe,
    .init = init,
    .fini = fini,
    .ctl = ctl,
    .wait = wait_events,
    .wake = wake,
};

