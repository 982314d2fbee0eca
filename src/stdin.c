/* Standard input, written once above the backends.
 *
 * While a stdin event is subscribed, READ comes whenever stdin can be read, and end of
 * input counts as readable, also for a subscription made after it. Where the kernel can
 * watch stdin (pipes, terminals, sockets) it is registered with the backend like a
 * socket, with the event's own trigger mode. Where it cannot (regular files, /dev/null, a
 * closed fd 0), stdin is always readable: READ comes once per subscription and again
 * after each re-arm (clear readable, resubscribe_read), or every iteration for LEVEL.
 *
 * One stdin subscription per loop at a time. Each subscription is its own event, so a
 * readiness produced for an earlier subscription names that event, never a later one.
 */
#include "internal.h"

static void claim_cleanup(rasio_event_t *ev) {
  rasio__mutex_lock(&ev->loop->synth_mu);
  if (ev->loop->stdin_ev == ev) ev->loop->stdin_ev = NULL;
  rasio__loop_unpost_ready(ev->loop, ev);
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

int rasio__stdin_subscribe(rasio_event_t *ev) {
  int rc = claim(ev);
  if (rc != 0) return rc;
  rasio__mutex_lock(&ev->arm_lock);
  rc = ev->loop->be->ctl(ev->loop, ev, RASIO__CTL_ADD, RASIO_READ);
  if (rc == 0 || unpollable(rc)) ev->armed = RASIO_READ;
  rasio__mutex_unlock(&ev->arm_lock);
  if (unpollable(rc)) {
    /* Nothing registered, so no notification exists yet that could race this write. */
    ev->u.in.mode = RASIO__STDIN_ALWAYS;
    rasio__loop_post_ready(ev->loop, ev, RASIO_READ);
    rc = 0;
  }
  if (rc != 0) claim_cleanup(ev);
  return rc;
}

void rasio__stdin_unsubscribe(rasio_event_t *ev) {
  if (ev->u.in.mode == RASIO__STDIN_BACKEND) {
    rasio__mutex_lock(&ev->arm_lock);
    (void)ev->loop->be->ctl(ev->loop, ev, RASIO__CTL_DEL, 0);
    ev->armed = 0;
    rasio__mutex_unlock(&ev->arm_lock);
  }
  claim_cleanup(ev);
}

/* Re-arm of an always-readable stdin: it is ready now. */
int rasio__stdin_rearm(rasio_event_t *ev) {
  rasio__mutex_lock(&ev->arm_lock);
  ev->armed |= RASIO_READ;
  rasio__mutex_unlock(&ev->arm_lock);
  rasio__loop_post_ready(ev->loop, ev, RASIO_READ);
  return 0;
}

int rasio_stdin_read(rasio_event_t *ev, void *buf, size_t len, size_t *count) {
  if (count != NULL) *count = 0;
  if (!rasio__event_valid(ev) || ev->kind != RASIO__KIND_STDIN || count == NULL ||
      (buf == NULL && len > 0))
    return RASIO_EINVAL;
  int rc = rasio__stdin_read(buf, len, count);
  if (rc == RASIO_EBADF) return 0; /* no stdin at all reads as end of input */
  if (rc == RASIO_EAGAIN) rasio__event_retry(ev, RASIO_READ);
  return rc;
}
