/* SPDX-License-Identifier: BSD-2-Clause */
/* Debugging aids: the log (rasio_set_log, RASIO_DEBUG) and rasio_loop_dump.
 *
 * The log is process-wide: one receiver and its context, swapped under a spin lock (logging
 * is rare: a loop's creation, a dump). Without a receiver, lines go to stderr when the
 * environment's RASIO_DEBUG is set to something other than "" or "0" (read at each line,
 * so a test may set it late), else nowhere.
 *
 * The dump walks what the loop keeps under its locks (the socket table, the timer heap,
 * the signal list) and writes one line per event while holding the lock of that list:
 * events cannot be disposed meanwhile, so each one it names is alive.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static atomic_flag log_lock = ATOMIC_FLAG_INIT;
static rasio_log_fn log_fn;
static void *log_ctx;

static void lock(void) {
  while (atomic_flag_test_and_set_explicit(&log_lock, memory_order_acquire))
    rasio__thread_yield();
}

static void unlock(void) { atomic_flag_clear_explicit(&log_lock, memory_order_release); }

void rasio_set_log(rasio_log_fn fn, void *ctx) {
  lock();
  log_fn = fn;
  log_ctx = ctx;
  unlock();
}

static bool env_debug(void) {
  const char *v = getenv("RASIO_DEBUG");
  return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

bool rasio__log_on(void) {
  lock();
  bool set = log_fn != NULL;
  unlock();
  return set || env_debug();
}

void rasio__log(const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  lock();
  rasio_log_fn fn = log_fn;
  void *ctx = log_ctx;
  unlock();
  if (fn != NULL) fn(line, ctx);
  else if (env_debug()) (void)fprintf(stderr, "rasio: %s\n", line);
}

/* --- the backend choice (rasio_loop_new) ----------------------------------------------- */

void rasio__log_backend(const char *name, const char *source, const rasio__backend_t *be,
                        int rc) {
  if (!rasio__log_on()) return;
  if (rc == 0) {
    rasio__log("backend %s chosen (%s)", be->name, source);
    return;
  }
  char have[128] = "";
  size_t at = 0;
  for (const rasio__backend_t *const *b = rasio__backends; *b != NULL && at < sizeof have; b++) {
    int n = snprintf(have + at, sizeof have - at, "%s%s", at > 0 ? " " : "", (*b)->name);
    if (n > 0) at += (size_t)n;
  }
  rasio__log("no backend: %s%s%s (%s) failed: %s (%s); this build has: %s",
             name != NULL ? "'" : "", name != NULL ? name : "the platform's best",
             name != NULL ? "'" : "", source, rasio_err_name(rc), rasio_strerror(rc), have);
}

/* --- rasio_loop_dump ------------------------------------------------------------------- */

static const char *state_name(uint32_t s) {
  switch (s) {
    case RASIO__ACTIVE: return "active";
    case RASIO__UNSUBSCRIBED: return "unsubscribed";
    default: return "disposing";
  }
}

static void dump_event(const char *what, const rasio_event_t *ev) {
  rasio__log("  %s ev=%p fd=%lld flags=0x%x %s%s ctx=%p", what, (const void *)ev,
             (long long)ev->fd, (unsigned)ev->flags, state_name(atomic_load(&ev->state)),
             ev->noisy ? " noisy" : "", ev->ctx);
}

static size_t dump_sockets(rasio_loop_t *loop) {
  size_t n = 0;
  rasio__mutex_lock(&loop->fd_mu);
  for (size_t b = 0; b < loop->fd_nbuckets; b++)
    for (rasio_event_t *ev = loop->fd_buckets[b]; ev != NULL; ev = ev->fd_next, n++)
      dump_event("socket", ev);
  rasio__mutex_unlock(&loop->fd_mu);
  return n;
}

static size_t dump_timers(rasio_loop_t *loop) {
  uint64_t now = rasio__now_ns();
  rasio__mutex_lock(&loop->timer_mu);
  for (size_t i = 0; i < loop->heap_len; i++) {
    const rasio_event_t *ev = loop->heap[i];
    uint64_t d = ev->u.timer.deadline;
    dump_event("timer", ev);
    rasio__log("    due in %llu ms, interval %llu ms",
               (unsigned long long)(d > now ? (d - now) / 1000000u : 0),
               (unsigned long long)(ev->u.timer.interval / 1000000u));
  }
  size_t n = loop->heap_len;
  rasio__mutex_unlock(&loop->timer_mu);
  return n;
}

static size_t dump_signals(rasio_loop_t *loop) {
  size_t n = 0;
  rasio__mutex_lock(&loop->sig_mu);
  for (rasio_event_t *ev = loop->sig_head; ev != NULL; ev = ev->u.sig.next, n++)
    dump_event("signal", ev);
  rasio__mutex_unlock(&loop->sig_mu);
  return n;
}

int rasio_loop_dump(rasio_loop_t *loop) {
  if (loop == NULL) return RASIO_EINVAL;
  size_t live = atomic_load(&loop->live);
  rasio__log("loop %p (%s): %zu events alive, %zu noisy, %zu calls queued", (void *)loop,
             loop->be->name, live, atomic_load(&loop->noisy), atomic_load(&loop->calls_pending));
  size_t listed = dump_sockets(loop) + dump_timers(loop) + dump_signals(loop);
  rasio__log("  %zu not listed (stdin, timers with no pending expiry, events past their "
             "removal that await DISPOSED or destroy)", live > listed ? live - listed : 0);
  return 0;
}
