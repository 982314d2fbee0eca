/* SPDX-License-Identifier: BSD-2-Clause */
/* The portable part of helpers.h: loop set-up and the notification recorder. pthreads are
 * portable enough here (winpthreads on Windows). The socket, time and thread helpers are
 * per OS: helpers_posix.c, helpers_win.c.
 *
 * Timeouts here (DISPOSED waits, th_rec_wait) are multiplied by RASIO_TEST_TIMEOUT_SCALE,
 * like the runner's, so slow hosts (valgrind, Wine) stretch them together.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"

#define DISPOSE_WAIT_MS 5000u

unsigned th_scaled_ms(unsigned ms) {
  const char *env = getenv("RASIO_TEST_TIMEOUT_SCALE");
  double scale = env != NULL ? strtod(env, NULL) : 1.0;
  return scale > 1.0 ? (unsigned)(ms * scale) : ms;
}

/* --- threads -------------------------------------------------------------------------- */

pthread_t th_thread_start(th_thread_fn fn, void *arg) {
  pthread_t t;
  int err = pthread_create(&t, NULL, fn, arg);
  if (err != 0) rt_fail(__FILE__, __LINE__, "pthread_create: %s", strerror(err));
  return t;
}

void th_thread_join(pthread_t t) {
  int err = pthread_join(t, NULL);
  if (err != 0) rt_fail(__FILE__, __LINE__, "pthread_join: %s", strerror(err));
}

/* --- child processes --------------------------------------------------------------------- */

void th_child_finish(th_child_t *c, unsigned timeout_ms) {
  char name[sizeof c->scenario], why[160];
  memcpy(name, c->scenario, sizeof name);
  int code = th_child_end(c, timeout_ms, why, sizeof why);
  if (code == 0) return;
  /* The child's own "SKIP: " line came first, and the runner reports the first one. */
  if (code == 77) SKIP("scenario %s skipped", name);
  if (code < 0) rt_fail(__FILE__, __LINE__, "scenario %s: %s", name, why);
  rt_fail(__FILE__, __LINE__, "scenario %s: exit status %d%s", name, code,
          code == 1 ? " (its FAIL line is above)" : "");
}

/* --- loops ------------------------------------------------------------------------------ */

rasio_loop_t *th_loop(void) {
  rasio_loop_t *loop = NULL;
  CHECK_OK(rasio_loop_new(&(rasio_loop_opts_t){.backend = rt_backend()}, &loop));
  return loop;
}

void th_loop_end(rasio_loop_t *loop) {
  /* stop refuses while a noisy event lives, and free while any event lives: a test that
   * leaks an event fails here, naming the call. */
  CHECK_OK(rasio_loop_stop(loop));
  CHECK_OK(rasio_loop_free(loop));
}

/* --- recorder --------------------------------------------------------------------------- */

/* Events whose DISPOSED arrived and that are not destroyed yet. A notification naming one
 * breaks the lifecycle contract. The set is process-wide (an event is disposed whatever
 * recorder saw it) and keyed by address, which is only sound while the event is not
 * destroyed: once freed, the address may come back from the next rasio_event_new. Hence an
 * auto_destroy recorder (destroyed at DISPOSED) never enters the set, and th_dispose takes
 * the event out before destroying it. A test that destroys an event itself must not expect
 * this check to tell a new event at the same address from the old one. */
#define LIMBO_MAX TH_REC_MAX
static pthread_mutex_t limbo_mu = PTHREAD_MUTEX_INITIALIZER;
static rasio_event_t *limbo[LIMBO_MAX];
static size_t limbo_n;

static size_t limbo_find_locked(rasio_event_t *ev) {
  for (size_t i = 0; i < limbo_n; i++)
    if (limbo[i] == ev) return i;
  return LIMBO_MAX;
}

/* Fails the test if ev is in limbo; then, if add, puts it there. One lock for both, so a
 * notification racing the DISPOSED on another thread cannot slip between them. */
static void limbo_enter(rasio_event_t *ev, uint32_t flags, bool add) {
  pthread_mutex_lock(&limbo_mu);
  bool stale = limbo_find_locked(ev) < LIMBO_MAX, full = limbo_n == LIMBO_MAX;
  if (!stale && add && !full) limbo[limbo_n++] = ev;
  pthread_mutex_unlock(&limbo_mu);
  if (stale)
    rt_fail(__FILE__, __LINE__, "notification 0x%x for event %p after its DISPOSED",
            (unsigned)flags, (void *)ev);
  /* Silently dropping it would turn th_dispose's wait into a false timeout. */
  if (add && full) rt_fail(__FILE__, __LINE__, "over %d disposed events not destroyed", LIMBO_MAX);
}

static bool limbo_has(rasio_event_t *ev) {
  pthread_mutex_lock(&limbo_mu);
  bool found = limbo_find_locked(ev) < LIMBO_MAX;
  pthread_mutex_unlock(&limbo_mu);
  return found;
}

static void limbo_leave(rasio_event_t *ev) {
  pthread_mutex_lock(&limbo_mu);
  size_t i = limbo_find_locked(ev);
  if (i < LIMBO_MAX) limbo[i] = limbo[--limbo_n];
  pthread_mutex_unlock(&limbo_mu);
}

void th_rec_init(th_rec_t *r) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL); /* waits use CLOCK_REALTIME: macOS has no setclock */
}

void th_rec_fini(th_rec_t *r) {
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->mu);
}

static void rec_append(th_rec_t *r, rasio_event_t *ev, uint32_t flags, uint32_t arg) {
  pthread_mutex_lock(&r->mu);
  if (r->n == TH_REC_MAX) {
    pthread_mutex_unlock(&r->mu);
    rt_fail(__FILE__, __LINE__, "recorder full (%d notifications)", TH_REC_MAX);
  }
  r->notes[r->n++] = (th_note_t){ev, flags, arg, th_now_ms()};
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

void th_rec_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  th_rec_t *r = ctx;
  bool disposed = (flags & RASIO_DISPOSED) != 0;
  limbo_enter(ev, flags, disposed && !r->auto_destroy);
  /* Destroy before recording: whoever waits for this DISPOSED may free the loop next. */
  if (disposed && r->auto_destroy) CHECK_OK(rasio_event_destroy(ev));
  rec_append(r, ev, flags, arg);
}

static size_t count_locked(const th_rec_t *r, rasio_event_t *ev, uint32_t mask) {
  size_t c = 0;
  for (size_t i = 0; i < r->n; i++)
    if ((ev == NULL || r->notes[i].ev == ev) && (mask == 0 || (r->notes[i].flags & mask) != 0)) c++;
  return c;
}

size_t th_rec_count(th_rec_t *r, rasio_event_t *ev, uint32_t mask) {
  pthread_mutex_lock(&r->mu);
  size_t c = count_locked(r, ev, mask);
  pthread_mutex_unlock(&r->mu);
  return c;
}

/* What a waiter waits for, evaluated under r->mu. */
typedef bool (*rec_pred_t)(const th_rec_t *r, rasio_event_t *ev, uint32_t mask, size_t n);

static bool reached(const th_rec_t *r, rasio_event_t *ev, uint32_t mask, size_t n) {
  return count_locked(r, ev, mask) >= n;
}

/* DISPOSED arrived: with auto_destroy the event is gone and only the count tells (n is the
 * count wanted); otherwise it waits in limbo for our destroy. */
static bool disposed_now(const th_rec_t *r, rasio_event_t *ev, uint32_t mask, size_t n) {
  return r->auto_destroy ? reached(r, ev, mask, n) : limbo_has(ev);
}

static struct timespec deadline_after(unsigned ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

static bool rec_wait(th_rec_t *r, rec_pred_t pred, rasio_event_t *ev, uint32_t mask, size_t n,
                     unsigned ms) {
  struct timespec until = deadline_after(ms);
  pthread_mutex_lock(&r->mu);
  bool ok = pred(r, ev, mask, n);
  int rc = 0;
  while (!ok && rc != ETIMEDOUT) {
    rc = pthread_cond_timedwait(&r->cv, &r->mu, &until);
    ok = pred(r, ev, mask, n);
  }
  pthread_mutex_unlock(&r->mu);
  return ok;
}

bool th_rec_wait(th_rec_t *r, rasio_event_t *ev, uint32_t mask, size_t n, unsigned timeout_ms) {
  return rec_wait(r, reached, ev, mask, n, th_scaled_ms(timeout_ms));
}

uint32_t th_rec_flags(th_rec_t *r, rasio_event_t *ev) {
  uint32_t all = 0;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->n; i++)
    if (r->notes[i].ev == ev) all |= r->notes[i].flags;
  pthread_mutex_unlock(&r->mu);
  return all;
}

uint32_t th_rec_last(th_rec_t *r, rasio_event_t *ev) {
  uint32_t last = 0;
  pthread_mutex_lock(&r->mu);
  for (size_t i = r->n; i-- > 0;) {
    if (r->notes[i].ev == ev) {
      last = r->notes[i].flags;
      break;
    }
  }
  pthread_mutex_unlock(&r->mu);
  return last;
}

void th_dispose(th_rec_t *r, rasio_event_t *ev) {
  /* Counted before unsubscribing, so an earlier event at the same address (destroyed, its
   * DISPOSED still on record) does not satisfy the wait. */
  size_t before = th_rec_count(r, ev, RASIO_DISPOSED);
  CHECK_OK(rasio_event_unsubscribe(ev));
  unsigned ms = th_scaled_ms(DISPOSE_WAIT_MS);
  if (!rec_wait(r, disposed_now, ev, RASIO_DISPOSED, before + 1, ms))
    rt_fail(__FILE__, __LINE__, "no DISPOSED for event %p within %u ms", (void *)ev, ms);
  if (r->auto_destroy) return;
  limbo_leave(ev);
  CHECK_OK(rasio_event_destroy(ev));
}
