/* SPDX-License-Identifier: BSD-2-Clause */
/* Small helpers shared by the timer, signal, stdin and thread conformance tests, on top of
 * test/helpers.h. Everything is static inline so a file that uses only some of them
 * compiles warning-free.
 *
 * A recorder (th_rec_t) identifies events by pointer, and a destroyed event's memory may be
 * reused by the next rasio_event_new. So a recorder must never outlive the events recorded
 * in it: tests that create and destroy events in rounds take a fresh recorder per round
 * (rec_new / rec_free; th_rec_t is too large for a thread's stack).
 */
#ifndef RASIO_TEST_REC_UTIL_H
#define RASIO_TEST_REC_UTIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "helpers.h"
#include "rasio.h"

#define MS(x) ((uint64_t)(x) * 1000000u)
#define US(x) ((uint64_t)(x) * 1000u)

/* Generous bound for anything that must happen ("positive" waits). */
#define WAIT_LONG_MS 5000u
/* Short bound for "nothing more happens" checks. */
#define WAIT_QUIET_MS 100u

static inline th_rec_t *rec_new(bool auto_destroy) {
  th_rec_t *r = malloc(sizeof *r);
  CHECK(r != NULL);
  th_rec_init(r);
  r->auto_destroy = auto_destroy;
  return r;
}

static inline void rec_free(th_rec_t *r) {
  th_rec_fini(r);
  free(r);
}

/* A loop running on its own thread (rasio_loop_start). */
static inline rasio_loop_t *started_loop(void) {
  rasio_loop_t *loop = th_loop();
  CHECK_OK(rasio_loop_start(loop));
  return loop;
}

/* Sum and minimum of arg over ev's notifications whose flags intersect mask. */
static inline uint64_t rec_arg_sum(th_rec_t *r, rasio_event_t *ev, uint32_t mask,
                                   uint32_t *min_arg) {
  uint64_t sum = 0;
  uint32_t min = UINT32_MAX;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->n; i++) {
    if (r->notes[i].ev != ev || !(r->notes[i].flags & mask)) continue;
    sum += r->notes[i].arg;
    if (r->notes[i].arg < min) min = r->notes[i].arg;
  }
  pthread_mutex_unlock(&r->mu);
  if (min_arg) *min_arg = min;
  return sum;
}

/* Polls pred until it holds or timeout_ms passed; returns its last value. For conditions
 * that a recorder cannot express (a sum, a flag set by a notify function). */
static inline bool wait_until(bool (*pred)(void *), void *arg, unsigned timeout_ms) {
  uint64_t end = th_now_ms() + timeout_ms;
  while (!pred(arg)) {
    if (th_now_ms() >= end) return pred(arg);
    th_sleep_ms(1);
  }
  return true;
}

/* Drains mb on the calling thread (which must be its only drainer) until
 * th_rec_count(r, ev, mask) >= n or timeout_ms passed. */
static inline bool drain_until_count(rasio_mailbox_t *mb, th_rec_t *r, rasio_event_t *ev,
                                     uint32_t mask, size_t n, unsigned timeout_ms) {
  uint64_t end = th_now_ms() + timeout_ms;
  for (;;) {
    rasio_mailbox_drain(mb, 0);
    if (th_rec_count(r, ev, mask) >= n) return true;
    if (th_now_ms() >= end) return false;
    rasio_mailbox_wait(mb, MS(10));
  }
}

/* atomic_load as a function: CHECK_EQ(load_u(&x), 1) then reports "load_u(&x)" rather
 * than the statement expression the stdatomic.h macro expands to. */
static inline unsigned load_u(atomic_uint *p) { return atomic_load(p); }
static inline int load_i(atomic_int *p) { return atomic_load(p); }

/* A counting owner for tests with more notifications than a recorder holds. It destroys the
 * event on DISPOSED and remembers any notification that arrived after DISPOSED. */
typedef struct cnt {
  atomic_uint timers;
  atomic_uint signals;
  atomic_uint disposed;
  atomic_uint after_disposed;
} cnt_t;

static inline void cnt_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  cnt_t *c = ctx;
  (void)arg;
  if (atomic_load(&c->disposed) != 0) atomic_fetch_add(&c->after_disposed, 1);
  if (flags & RASIO_TIMER) atomic_fetch_add(&c->timers, 1);
  if (flags & RASIO_SIGNAL) atomic_fetch_add(&c->signals, 1);
  if (flags & RASIO_DISPOSED) {
    atomic_fetch_add(&c->disposed, 1);
    CHECK_OK(rasio_event_destroy(ev));
  }
}

/* A deterministic pseudo-random sequence (xorshift32) so failures reproduce. */
static inline uint32_t rng_next(uint32_t *state) {
  uint32_t x = *state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *state = x;
}

#endif
