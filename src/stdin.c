/* SPDX-License-Identifier: BSD-2-Clause */
/* Standard input, written once above the backends.
 *
 * While a stdin event is subscribed, READ comes whenever stdin can be read, and end of
 * input counts as readable, also for a subscription made after it. Three ways to know:
 *  - BACKEND: the kernel watches it (POSIX pipes, terminals, sockets); it is registered
 *    with the backend like a socket, with the event's own trigger mode.
 *  - WATCHER: the OS layer's thread watches it (Windows consoles and pipes, which have no
 *    socket readiness) and reports each time it becomes readable; the core turns that
 *    into synthetic readiness, gated like any other.
 *  - ALWAYS: nothing can watch it (regular files, /dev/null, no stdin at all), and it is
 *    always readable: READ comes once per subscription and again after each re-arm
 *    (clear readable, resubscribe_read), or every iteration for LEVEL.
 *
 * One stdin subscription per loop at a time. Each subscription is its own event, so a
 * readiness produced for an earlier subscription names that event, never a later one.
 */
#include "internal.h"

static void claim_cleanup(rasio_event_t *ev) {
  rasio__mutex_lock(&ev->loop->synth_mu);
  if (ev->loop->stdin_ev == ev) ev->loop->stdin_ev = NULL;
  rasio__mutex_unlock(&ev->loop->synth_mu);
}

static int claim(rasio_event_t *ev) {
  int rc = 0;
  rasio__mutex_lock(&ev->loop->synth_mu);
  if (ev->loop->stdin_ev != NULL) rc = RASIO_EEXIST;
  else ev->loop->stdin_ev = ev;
  rasio__mutex_unlock(&ev->loop->synth_mu);
  return rc;
}

/* Errors that mean "the kernel has no readiness for this descriptor". */
static bool unpollable(int rc) { return rc == RASIO_ENOTSUP || rc == RASIO_EBADF; }

/* The watcher's callback, on the watcher's thread. */
static void watcher_ready(void *arg) {
  rasio_event_t *ev = arg;
  rasio__loop_post_ready(ev->loop, ev, RASIO_READ);
}

static int watch(rasio_event_t *ev) {
  rasio__mutex_lock(&ev->arm_lock);
  ev->armed = RASIO_READ;
  rasio__mutex_unlock(&ev->arm_lock);
  int rc = rasio__stdin_watch_start(watcher_ready, ev);
  /* Input (or its end) that came before the watch started is reported once here. */
  if (rc == 0 && rasio__stdin_readable_now()) watcher_ready(ev);
  return rc;
}

int rasio__stdin_subscribe(rasio_event_t *ev) {
  int rc = claim(ev);
  if (rc != 0) return rc;
  if (ev->u.in.mode == RASIO__STDIN_WATCHER) {
    rc = watch(ev);
    if (rc != 0) claim_cleanup(ev);
    return rc;
  }
  rc = rasio__fdtab_token_take(ev->loop, ev); /* the backend names stdin by a token too */
  if (rc != 0) {
    claim_cleanup(ev);
    return rc;
  }
  rasio__mutex_lock(&ev->arm_lock);
  rc = ev->loop->be->ctl(ev->loop, ev, RASIO__CTL_ADD, RASIO_READ);
  if (rc == 0 || unpollable(rc)) ev->armed = RASIO_READ;
  rasio__mutex_unlock(&ev->arm_lock);
  if (rc != 0) rasio__fdtab_token_give(ev->loop, ev); /* nothing registered */
  if (unpollable(rc)) {
    /* Nothing registered, so no notification exists yet that could race this write. */
    ev->u.in.mode = RASIO__STDIN_ALWAYS;
    rasio__loop_post_ready(ev->loop, ev, RASIO_READ);
    rc = 0;
  }
  if (rc != 0) claim_cleanup(ev);
  return rc;
}

/* Once ctl(DEL) said RASIO__PENDING, the loop thread may complete the removal and deliver
 * DISPOSED at any moment, and the owner may free ev. The claim is therefore released under
 * synth_mu held across the DEL: the loop takes synth_mu too (rasio__loop_unpost_ready)
 * before it delivers DISPOSED, so ev outlives this function. */
bool rasio__stdin_unsubscribe(rasio_event_t *ev) {
  int rc = 0;
  rasio_loop_t *loop = ev->loop;
  if (ev->u.in.mode == RASIO__STDIN_WATCHER) rasio__stdin_watch_stop();
  rasio__mutex_lock(&loop->synth_mu);
  if (ev->u.in.mode == RASIO__STDIN_BACKEND) {
    rasio__mutex_lock(&ev->arm_lock);
    rc = loop->be->ctl(loop, ev, RASIO__CTL_DEL, 0);
    ev->armed = 0;
    rasio__mutex_unlock(&ev->arm_lock);
  }
  if (loop->stdin_ev == ev) loop->stdin_ev = NULL;
  rasio__mutex_unlock(&loop->synth_mu);
  return rc != RASIO__PENDING; /* else the backend reports the removal (backend.h) */
}

/* Re-arm without a kernel registration: a watched stdin reports at once if it is readable
 * now (later readiness comes from the watcher); an always-readable one always is. */
int rasio__stdin_rearm(rasio_event_t *ev) {
  rasio__mutex_lock(&ev->arm_lock);
  ev->armed |= RASIO_READ;
  rasio__mutex_unlock(&ev->arm_lock);
  if (ev->u.in.mode == RASIO__STDIN_ALWAYS || rasio__stdin_readable_now())
    rasio__loop_post_ready(ev->loop, ev, RASIO_READ);
  return 0;
}

/* An always-readable stdin stays readable; a watched one only while the watcher holds
 * input (or its end): once drained, the next READ comes from the watcher, not from a spin
 * of empty READs. A kernel-watched stdin never gets here: the backend re-reports it. */
void rasio__stdin_level_again(rasio_event_t *ev) {
  if (ev->u.in.mode == RASIO__STDIN_ALWAYS ||
      (ev->u.in.mode == RASIO__STDIN_WATCHER && rasio__stdin_readable_now()))
    rasio__loop_post_ready(ev->loop, ev, RASIO_READ);
}

int rasio_stdin_read(rasio_event_t *ev, void *buf, size_t len, size_t *count) {
  if (count != NULL) *count = 0;
  /* A zero-length read could not tell data from the end of input: refused everywhere, as
   * is a length larger than any object. */
  if (!rasio__event_valid(ev) || ev->kind != RASIO__KIND_STDIN || count == NULL ||
      buf == NULL || len == 0 || len > PTRDIFF_MAX)
    return RASIO_EINVAL;
  int rc = rasio__stdin_read(buf, len, count);
  if (rc == RASIO_EBADF) return 0; /* no stdin at all reads as end of input */
  if (rc == RASIO_EAGAIN) rasio__event_retry(ev, RASIO_READ);
  return rc;
}
