/* The kqueue backend (macOS, FreeBSD, NetBSD, OpenBSD, DragonFly).
 *
 * Notes on kqueue that this file relies on:
 * - Each direction is its own filter (EVFILT_READ, EVFILT_WRITE), so read and write are
 *   independent arms natively: ONESHOT maps to EV_ONESHOT per filter, edge to EV_CLEAR,
 *   level to neither. A oneshot filter deletes itself when it fires.
 * - A refused connect arrives on the write filter with EV_EOF and the errno in fflags, not
 *   as EV_ERROR; EV_EOF on the write filter is folded into READ|WRITE so whichever
 *   direction is armed hears of it. EV_EOF on the read filter is a peer hang-up: READ.
 * - Registration errors are collected per change with EV_RECEIPT. Deleting a oneshot
 *   filter that already fired fails with ENOENT, which is expected.
 * - The wakeup is EVFILT_USER (ident 0, NOTE_TRIGGER; EV_CLEAR resets it) where the
 *   kernel has it, else a non-blocking pipe.
 * - kevent() takes a timespec, so timers keep nanosecond resolution.
 * Not runnable on the project's Linux machines: the GitHub Actions macOS job builds and
 * runs the conformance suite on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/event.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "internal.h"

#define MAX_EVENTS 256

typedef struct kq_state {
  int kq;
  int pipe[2]; /* wakeup without EVFILT_USER; -1 otherwise */
  struct kevent events[MAX_EVENTS];
} kq_state_t;

static kq_state_t *state_of(rasio_loop_t *loop) { return loop->be_state; }

/* --- wakeup: EVFILT_USER where available, else a pipe -------------------------------- */

#ifdef EVFILT_USER
static int wake_init(kq_state_t *st) {
  struct kevent kev;
  EV_SET(&kev, 0, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
  return kevent(st->kq, &kev, 1, NULL, 0, NULL) == 0 ? 0 : rasio__os_error();
}

static void wake_kernel(kq_state_t *st) {
  struct kevent kev;
  EV_SET(&kev, 0, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
  (void)kevent(st->kq, &kev, 1, NULL, 0, NULL);
}
#else
static int wake_init(kq_state_t *st) {
  if (pipe(st->pipe) != 0) return rasio__os_error();
  for (int i = 0; i < 2; i++) {
    fcntl(st->pipe[i], F_SETFL, fcntl(st->pipe[i], F_GETFL) | O_NONBLOCK);
    fcntl(st->pipe[i], F_SETFD, FD_CLOEXEC);
  }
  struct kevent kev;
  EV_SET(&kev, st->pipe[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
  return kevent(st->kq, &kev, 1, NULL, 0, NULL) == 0 ? 0 : rasio__os_error();
}

static void wake_kernel(kq_state_t *st) {
  char byte = 1;
  ssize_t rc = write(st->pipe[1], &byte, 1); /* EAGAIN: a wakeup is already pending */
  (void)rc;
}
#endif

static bool is_wakeup(const kq_state_t *st, const struct kevent *kev) {
  return kev->udata == NULL && (kev->filter != EVFILT_READ || (int)kev->ident == st->pipe[0]);
}

static void drain_wakeup(kq_state_t *st) {
  char buf[64];
  while (st->pipe[0] >= 0 && read(st->pipe[0], buf, sizeof buf) > 0) continue;
}

/* --- the backend --------------------------------------------------------------------- */

static int probe(void) {
  int kq = kqueue();
  if (kq < 0) return RASIO_EUNAVAIL;
  close(kq);
  return 0;
}

static void close_state(kq_state_t *st) {
  if (st->kq >= 0) close(st->kq);
  if (st->pipe[0] >= 0) close(st->pipe[0]);
  if (st->pipe[1] >= 0) close(st->pipe[1]);
  rasio__free(st);
}

static int init(rasio_loop_t *loop) {
  kq_state_t *st = rasio__calloc(1, sizeof *st);
  if (st == NULL) return RASIO_ENOMEM;
  st->pipe[0] = st->pipe[1] = -1;
  st->kq = kqueue();
  int rc = st->kq < 0 ? rasio__os_error() : wake_init(st);
  if (rc == 0 && fcntl(st->kq, F_SETFD, FD_CLOEXEC) != 0) rc = rasio__os_error();
  if (rc != 0) {
    close_state(st);
    return rc;
  }
  loop->be_state = st;
  return 0;
}

static void fini(rasio_loop_t *loop) {
  close_state(state_of(loop));
  loop->be_state = NULL;
}

static uint16_t trigger_of(const rasio_event_t *ev) {
  if (ev->flags & RASIO_ONESHOT) return EV_ONESHOT;
  return (ev->flags & RASIO_LEVEL) ? 0 : EV_CLEAR;
}

/* Builds the changes for op into kev; returns how many. */
static int changes(const rasio_event_t *ev, int op, uint32_t arm, struct kevent *kev) {
  static const struct { uint32_t dir; int16_t filter; } dirs[] = {
      {RASIO_READ, EVFILT_READ}, {RASIO_WRITE, EVFILT_WRITE}};
  int n = 0;
  for (int i = 0; i < 2; i++) {
    uint32_t dir = dirs[i].dir;
    if (!(ev->flags & dir)) continue;
    if (op == RASIO__CTL_DEL) {
      EV_SET(&kev[n++], ev->fd, dirs[i].filter, EV_DELETE | EV_RECEIPT, 0, 0, (void *)ev);
    } else if (arm & dir) {
      EV_SET(&kev[n++], ev->fd, dirs[i].filter, EV_ADD | EV_RECEIPT | trigger_of(ev), 0, 0,
             (void *)ev);
    }
  }
  return n;
}

static int ctl(rasio_loop_t *loop, rasio_event_t *ev, int op, uint32_t arm) {
  struct kevent kev[2], out[2];
  int n = changes(ev, op, arm, kev);
  if (n == 0) return 0;
  int got = kevent(state_of(loop)->kq, kev, n, out, n, NULL);
  if (got < 0) return rasio__os_error();
  for (int i = 0; i < got; i++) {
    int err = (out[i].flags & EV_ERROR) ? (int)out[i].data : 0;
    if (err == 0 || (op == RASIO__CTL_DEL && err == ENOENT)) continue;
    /* kqueue refuses descriptors it cannot watch (some devices) with EINVAL. */
    if (op == RASIO__CTL_ADD && (err == EINVAL || err == ENODEV)) return RASIO_ENOTSUP;
    return rasio__os_error_map(err);
  }
  return 0;
}

static uint32_t dirs_of(const struct kevent *kev) {
  if (kev->flags & EV_ERROR) return RASIO_READ | RASIO_WRITE;
  uint32_t hup = (kev->flags & EV_EOF) ? RASIO__HUP : 0; /* the stream's end is queued */
  if (kev->filter == EVFILT_READ) return RASIO_READ | hup;
  /* EV_EOF on the write side: a reset, a failed connect, or a full hang-up. */
  return hup != 0 ? RASIO_READ | RASIO_WRITE | hup : RASIO_WRITE;
}

static int wait_events(rasio_loop_t *loop, uint64_t timeout_ns) {
  kq_state_t *st = state_of(loop);
  struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
  int n = kevent(st->kq, NULL, 0, st->events, MAX_EVENTS, timeout_ns == UINT64_MAX ? NULL : &ts);
  if (n < 0) return errno == EINTR ? 0 : rasio__os_error();
  for (int i = 0; i < n; i++) {
    struct kevent *kev = &st->events[i];
    if (is_wakeup(st, kev)) drain_wakeup(st);
    else rasio__event_ready(kev->udata, dirs_of(kev));
  }
  return 0;
}

static void wake(rasio_loop_t *loop) { wake_kernel(state_of(loop)); }

static const rasio__backend_t kqueue_backend = {
    .name = "kqueue",
    .caps = 0,
    .probe = probe,
    .init = init,
    .fini = fini,
    .ctl = ctl,
    .wait = wait_events,
    .wake = wake,
};

const rasio__backend_t *const rasio__backends[] = {&kqueue_backend, NULL};
