/* SPDX-License-Identifier: BSD-2-Clause */
/* The kqueue backend (macOS, FreeBSD, NetBSD, OpenBSD, DragonFly).
 *
 * Notes on kqueue that this file relies on (quotes from FreeBSD's kqueue(2)):
 * - Each direction is its own filter (EVFILT_READ, EVFILT_WRITE), so read and write are
 *   independent arms natively: ONESHOT maps to EV_ONESHOT per filter, edge to EV_CLEAR,
 *   level to neither. A oneshot filter deletes itself when it fires. An ARM adds only the
 *   filters not armed yet: "Re-adding an existing event will modify the parameters of the
 *   original event", a wasted change at best.
 * - EV_EOF means different things per filter. EVFILT_READ: "If the read direction of the
 *   socket has shutdown, then the filter also sets EV_EOF in flags, and returns the socket
 *   error (if any) in fflags" (pipes: "When the last writer disconnects, the filter will set
 *   EV_EOF"): the end of the stream is queued, READ plus hang-up. EVFILT_WRITE: "The filter
 *   will set EV_EOF when the reader disconnects", and "For sockets, the low water mark and
 *   socket error handling is identical to the EVFILT_READ case": the write direction is
 *   shut (a reset, a refused connect with its errno in fflags, or our own shutdown(SHUT_WR)),
 *   which says nothing about what is still to be read. So it is WRITE only: the owner
 *   learns the rest by writing (or from the read filter, whose own EV_EOF follows a reset).
 * - Regular files and directories are vnodes, which kqueue accepts, but "Vnodes: Returns
 *   when the file pointer is not at the end of file": once read to the end they never
 *   report again, so the end of input would never be announced. epoll refuses them; so
 *   does ctl(ADD) here (ENOTSUP), and stdin falls back to always-readable as on Linux.
 *   EVFILT_WRITE fails on them anyway: "Note that this filter is not supported for vnodes".
 * - Registration errors are collected per change with EV_RECEIPT ("When passed as input,
 *   it forces EV_ERROR to always be returned. When a filter is successfully added the data
 *   field will be zero"). The page does not say that the changes after a failed one are
 *   still applied, so a change without a receipt counts as possibly applied. A registration
 *   that failed in part is undone, so a failed ADD or ARM leaves nothing behind that names
 *   the event (the core frees it after a failed ADD). Deleting a oneshot filter that
 *   already fired fails with ENOENT, which is expected.
 * - The wakeup is EVFILT_USER (ident 0, NOTE_TRIGGER; EV_CLEAR resets it) where the
 *   kernel has it (macOS, FreeBSD, DragonFly, NetBSD 10), else a non-blocking pipe.
 * - kevent() takes a timespec, so timers keep nanosecond resolution.
 * Not runnable on the project's Linux machines: the GitHub Actions macOS job builds and
 * runs the conformance suite on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/event.h>
#include <sys/stat.h>
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
/* Only kernels without EVFILT_USER get here (NetBSD before 10.0; macOS has EVFILT_USER),
 * and every one of them has pipe2, so close-on-exec is set atomically: no concurrent
 * fork+exec can inherit the pipe. NetBSD's pipe(2): "The pipe2() function behaves exactly
 * like pipe() only it allows extra flags to be set on the returned file descriptor. The
 * following flags are valid: O_CLOEXEC ... O_NONBLOCK"; "appeared in NetBSD 6.0". */
static int wake_init(kq_state_t *st) {
  if (pipe2(st->pipe, O_CLOEXEC | O_NONBLOCK) != 0) return rasio__os_error();
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

static const struct {
  uint32_t dir;
  int16_t filter;
} dirs[] = {{RASIO_READ, EVFILT_READ}, {RASIO_WRITE, EVFILT_WRITE}};

/* Builds the changes for op into kev; returns how many. ADD adds the filters of arm; ARM
 * adds those of arm not armed yet and deletes those armed but no longer wanted (the core
 * only ever widens the set here, but backend.h says "exactly"); DEL deletes every filter
 * of the interest. ev->armed is the core's, read under ev->arm_lock, which ctl runs in. */
static int changes(const rasio_event_t *ev, int op, uint32_t arm, struct kevent *kev) {
  uint32_t add = op == RASIO__CTL_ADD ? arm : op == RASIO__CTL_ARM ? arm & ~ev->armed : 0;
  uint32_t del = op == RASIO__CTL_DEL ? ev->flags : op == RASIO__CTL_ARM ? ev->armed & ~arm : 0;
  int n = 0;
  for (int i = 0; i < 2; i++) {
    uint32_t dir = dirs[i].dir;
    if (!(ev->flags & dir)) continue;
    if (add & dir)
      EV_SET(&kev[n++], ev->fd, dirs[i].filter, EV_ADD | EV_RECEIPT | trigger_of(ev), 0, 0,
             (void *)ev);
    else if (del & dir)
      EV_SET(&kev[n++], ev->fd, dirs[i].filter, EV_DELETE | EV_RECEIPT, 0, 0, (void *)ev);
  }
  return n;
}

/* The error of one change's receipt (0: it took effect). */
static int receipt_error(const struct kevent *out) {
  return (out->flags & EV_ERROR) ? (int)out->data : 0;
}

/* Receipts carry only EV_ERROR in flags and need not come in the order of the changes,
 * but a call has at most one change per filter of one descriptor, so these pair them. */
static const struct kevent *receipt_for(const struct kevent *change, const struct kevent *out,
                                        int got) {
  for (int i = 0; i < got; i++)
    if (out[i].ident == change->ident && out[i].filter == change->filter) return &out[i];
  return NULL;
}

/* Did change take effect? (No receipt: unknown, so assume it did.) */
static bool added(const struct kevent *change, const struct kevent *out, int got) {
  const struct kevent *r = receipt_for(change, out, got);
  return r == NULL || receipt_error(r) == 0;
}

/* After a failed ADD or ARM, deletes the filters that the changes kev[0, n) added (out[0,
 * got) are the receipts; got < 0: the call failed as a whole and which changes took effect
 * is unknown, so every filter it tried to add is deleted, ENOENT being harmless). A failed
 * ADD must leave nothing naming ev: the core frees it. What this cannot undo: a filter that
 * fired in the moment between its add and its deletion, and whose report a concurrent
 * wait() on the loop thread already took. For an ARM the core drops that report (the
 * direction is not armed); for an ADD it names an event about to be freed. The window is
 * one system call wide and needs a partial failure; closing it needs the core to defer
 * that free to the loop thread. */
static void undo_adds(kq_state_t *st, const struct kevent *kev, int n,
                      const struct kevent *out, int got) {
  struct kevent del[2];
  int k = 0;
  for (int j = 0; j < n; j++) {
    if (!(kev[j].flags & EV_ADD) || (got >= 0 && !added(&kev[j], out, got))) continue;
    EV_SET(&del[k++], kev[j].ident, kev[j].filter, EV_DELETE | EV_RECEIPT, 0, 0, NULL);
  }
  /* A deletion that fails leaves the filter until the descriptor is closed ("Calling
   * close() on a file descriptor will remove any kevents that reference the descriptor"):
   * nothing more can be done here. */
  if (k > 0) (void)kevent(st->kq, del, k, del, k, NULL);
}

/* kqueue refuses descriptors it cannot watch (some devices) with EINVAL or ENODEV. */
static int add_error(int err) {
  return err == EINVAL || err == ENODEV ? RASIO_ENOTSUP : rasio__os_error_map(err);
}

/* A regular file or a directory: a vnode, whose read filter is useless here (see top). */
static bool is_vnode_file(rasio_fd_t fd) {
  struct stat sb;
  return fstat((int)fd, &sb) == 0 && (S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode));
}

/* The first error among the receipts out[0, got) of the changes kev[0, n), as a RASIO_E*. */
static int first_error(const struct kevent *kev, int n, const struct kevent *out, int got) {
  for (int j = 0; j < n; j++) {
    const struct kevent *r = receipt_for(&kev[j], out, got);
    int e = r == NULL ? 0 : receipt_error(r);
    if (e == 0) continue;
    if (kev[j].flags & EV_ADD) return add_error(e);
    if (e != ENOENT) return rasio__os_error_map(e); /* ENOENT: a oneshot that fired */
  }
  return 0;
}

static int ctl(rasio_loop_t *loop, rasio_event_t *ev, int op, uint32_t arm) {
  kq_state_t *st = state_of(loop);
  /* One fstat per subscription, the price of agreeing with epoll. A descriptor fstat
   * cannot see (closed) is left to kevent, which says EBADF as epoll does. */
  if (op == RASIO__CTL_ADD && is_vnode_file(ev->fd)) return RASIO_ENOTSUP;
  struct kevent kev[2], out[2];
  int n = changes(ev, op, arm, kev);
  if (n == 0) return 0;
  /* "If an error occurs while processing an element of the changelist and there is enough
   * room in the eventlist, then the event will be placed in the eventlist with EV_ERROR set
   * in flags and the system error in data. Otherwise, -1 will be returned": out has room
   * for every receipt, so -1 is a failure of the call itself, which may still have applied
   * the changes ("When kevent() call fails with EINTR error, all changes in the changelist
   * have been applied"): undo_adds deletes them. */
  int got = kevent(st->kq, kev, n, out, n, NULL);
  int rc = got < 0 ? rasio__os_error() : first_error(kev, n, out, got);
  if (rc != 0 && op != RASIO__CTL_DEL) undo_adds(st, kev, n, out, got);
  return rc;
}

/* See the top of the file for what EV_EOF means on each filter. */
static uint32_t dirs_of(const struct kevent *kev) {
  if (kev->flags & EV_ERROR) return RASIO_READ | RASIO_WRITE;
  if (kev->filter == EVFILT_WRITE) return RASIO_WRITE;
  return (kev->flags & EV_EOF) ? RASIO_READ | RASIO__HUP : RASIO_READ;
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
