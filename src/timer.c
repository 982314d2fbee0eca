/* SPDX-License-Identifier: BSD-2-Clause */
/* Timers: relative nanosecond deadlines (one-shot, or repeating with an interval) on a
 * binary min-heap of events, written once for every backend. The backend only ever sees
 * the wait timeout.
 *
 * The heap is guarded by loop->timer_mu because set_nsec and unsubscribe may run on any
 * thread. The lock is never held while a notification runs, so a notification may re-arm
 * or cancel any timer, its own included. A timer fires when its deadline is <= now, with
 * `now` read after the wait, so it never fires early whatever the wait's resolution.
 */
#include <stdlib.h>

#include "internal.h"

#define FIRE_BATCH 64

static uint64_t deadline_of(const rasio_event_t *ev) { return ev->u.timer.deadline; }

static void place(rasio_loop_t *loop, size_t i, rasio_event_t *ev) {
  loop->heap[i] = ev;
  ev->u.timer.index = i;
}

static void sift_up(rasio_loop_t *loop, size_t i) {
  rasio_event_t *ev = loop->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (deadline_of(loop->heap[parent]) <= deadline_of(ev)) break;
    place(loop, i, loop->heap[parent]);
    i = parent;
  }
  place(loop, i, ev);
}

static void sift_down(rasio_loop_t *loop, size_t i) {
  rasio_event_t *ev = loop->heap[i];
  size_t n = loop->heap_len;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && deadline_of(loop->heap[child + 1]) < deadline_of(loop->heap[child]))
      child++;
    if (deadline_of(ev) <= deadline_of(loop->heap[child])) break;
    place(loop, i, loop->heap[child]);
    i = child;
  }
  place(loop, i, ev);
}

static int heap_push(rasio_loop_t *loop, rasio_event_t *ev) {
  if (loop->heap_len == loop->heap_cap) {
    size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
    rasio_event_t **heap = rasio__realloc(loop->heap, cap * sizeof *heap);
    if (heap == NULL) return RASIO_ENOMEM;
    loop->heap = heap;
    loop->heap_cap = cap;
  }
  place(loop, loop->heap_len++, ev);
  atomic_store_explicit(&loop->timer_count, loop->heap_len, memory_order_release);
  sift_up(loop, loop->heap_len - 1);
  return 0;
}

static void heap_remove(rasio_loop_t *loop, rasio_event_t *ev) {
  size_t i = ev->u.timer.index;
  ev->u.timer.index = RASIO__NO_INDEX;
  rasio_event_t *last = loop->heap[--loop->heap_len];
  atomic_store_explicit(&loop->timer_count, loop->heap_len, memory_order_release);
  if (last == ev) return;
  place(loop, i, last);
  sift_up(loop, i);
  sift_down(loop, last->u.timer.index);
}

int rasio__timer_start(rasio_event_t *ev, uint64_t nsec) {
  rasio_loop_t *loop = ev->loop;
  uint64_t now = rasio__now_ns();
  uint64_t deadline = nsec < UINT64_MAX - now ? now + nsec : UINT64_MAX - 1;
  int rc = 0;
  rasio__mutex_lock(&loop->timer_mu);
  /* Checked under the lock unsubscribe takes, so a cancelled timer is never re-inserted. */
  if (atomic_load(&ev->state) != RASIO__ACTIVE) {
    rc = RASIO_ESTATE;
  } else if (ev->u.timer.index == RASIO__NO_INDEX) {
    ev->u.timer.deadline = deadline;
    rc = heap_push(loop, ev);
  } else {
    ev->u.timer.deadline = deadline;
    sift_up(loop, ev->u.timer.index);
    sift_down(loop, ev->u.timer.index);
  }
  bool first = rc == 0 && loop->heap[0] == ev;
  rasio__mutex_unlock(&loop->timer_mu);
  /* Only a new earliest deadline can shorten the loop's current wait. */
  if (first) rasio__loop_wake(loop);
  return rc;
}

void rasio__timer_cancel(rasio_event_t *ev) {
  rasio_loop_t *loop = ev->loop;
  rasio__mutex_lock(&loop->timer_mu);
  if (ev->u.timer.index != RASIO__NO_INDEX) heap_remove(loop, ev);
  rasio__mutex_unlock(&loop->timer_mu);
}

/* Loop thread. A timer started elsewhere after this look wakes the loop if it is the new
 * earliest (rasio__timer_start), so a stale zero cannot sleep through it. */
static bool no_timers(rasio_loop_t *loop) {
  return atomic_load_explicit(&loop->timer_count, memory_order_acquire) == 0;
}

uint64_t rasio__timer_timeout(rasio_loop_t *loop) {
  if (no_timers(loop)) return UINT64_MAX;
  rasio__mutex_lock(&loop->timer_mu);
  uint64_t deadline = loop->heap_len > 0 ? deadline_of(loop->heap[0]) : UINT64_MAX;
  rasio__mutex_unlock(&loop->timer_mu);
  if (deadline == UINT64_MAX) return UINT64_MAX;
  uint64_t now = rasio__now_ns();
  return deadline > now ? deadline - now : 0;
}

/* A repeating timer's next deadline: one period after the one that expired, so the
 * period does not drift with the loop's latency; but never at or before now: periods the
 * loop slept through are skipped, not fired in a burst (and this pass cannot pop it again).
 * timer_mu held. */
static void repeat(rasio_loop_t *loop, rasio_event_t *ev, uint64_t now) {
  uint64_t period = ev->u.timer.interval, prev = deadline_of(ev);
  uint64_t next = prev < UINT64_MAX - period ? prev + period : UINT64_MAX - 1;
  if (next <= now) next = now < UINT64_MAX - period ? now + period : UINT64_MAX - 1;
  ev->u.timer.deadline = next;
  sift_down(loop, ev->u.timer.index);
}

/* Pops up to FIRE_BATCH expired timers into batch; returns how many. A repeating timer is
 * re-armed in place instead of leaving the heap. */
static size_t pop_expired(rasio_loop_t *loop, uint64_t now, rasio_event_t **batch) {
  size_t n = 0;
  rasio__mutex_lock(&loop->timer_mu);
  while (n < FIRE_BATCH && loop->heap_len > 0 && deadline_of(loop->heap[0]) <= now) {
    batch[n] = loop->heap[0];
    if (batch[n]->u.timer.interval != 0) repeat(loop, batch[n], now);
    else heap_remove(loop, batch[n]);
    n++;
  }
  rasio__mutex_unlock(&loop->timer_mu);
  return n;
}

void rasio__timer_dispatch(rasio_loop_t *loop) {
  if (no_timers(loop)) return;
  rasio_event_t *batch[FIRE_BATCH];
  uint64_t now = rasio__now_ns();
  size_t n;
  do {
    n = pop_expired(loop, now, batch);
    /* A popped timer cannot be disposed before this pass ends: DISPOSED is produced only
     * after it, so the pointers stay valid even if a notification unsubscribes them. */
    for (size_t i = 0; i < n; i++) rasio__deliver(batch[i], RASIO_TIMER, 0);
  } while (n == FIRE_BATCH);
}

void rasio__timer_fini(rasio_loop_t *loop) {
  rasio__free(loop->heap);
  loop->heap = NULL;
  loop->heap_len = loop->heap_cap = 0;
  atomic_store(&loop->timer_count, 0);
}

/* Under timer_mu, like every read of the period (pop_expired), so a change from any thread
 * applies whole at the next expiry. */
int rasio_event_set_interval(rasio_event_t *ev, uint64_t interval) {
  if (!rasio__event_valid(ev) || ev->kind != RASIO__KIND_TIMER) return RASIO_EINVAL;
  rasio_loop_t *loop = ev->loop;
  int rc = 0;
  rasio__mutex_lock(&loop->timer_mu);
  if (atomic_load(&ev->state) != RASIO__ACTIVE) rc = RASIO_ESTATE;
  else ev->u.timer.interval = interval;
  rasio__mutex_unlock(&loop->timer_mu);
  return rc;
}
