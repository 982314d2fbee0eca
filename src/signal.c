/* SPDX-License-Identifier: BSD-2-Clause */
/* Signals: a process-wide registry, written once for every backend.
 *
 * The handler only counts and wakes. Per signal number it increments a delivery counter,
 * then bumps a global generation and wakes every loop that has signal subscribers. Each
 * subscriber remembers the counter value it last reported; a loop that sees the generation
 * move compares its subscribers' counters and delivers SIGNAL with arg = deliveries since
 * the last report. Counting instead of queueing coalesces bursts, loses nothing, and needs
 * only lock-free atomics in signal context.
 *
 * Subscription is synchronous: when rasio_event_new returns, the disposition is installed
 * and the subscriber's baseline is taken, so a raise() that follows is reported. The last
 * unsubscribe of a number restores the disposition found by the first subscribe, before
 * the subscriber's DISPOSED.
 *
 * Loops reachable from the handler sit in a fixed table. The handler marks a slot busy
 * around its use of it, and a loop leaving the table waits until its slot is idle, so the
 * handler never wakes a freed loop.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

#define SIG_LIMIT 128 /* above every platform's largest signal number */
#define LOOP_SLOTS 64
#define BATCH 64

static rasio__mutex_t reg_mu = RASIO__MUTEX_INIT;
static unsigned subscribers[SIG_LIMIT]; /* across all loops, under reg_mu */
static atomic_uint delivered[SIG_LIMIT];
static atomic_uint generation;

static struct {
  _Atomic(rasio_loop_t *) loop;
  atomic_int busy;
} slots[LOOP_SLOTS];

static void on_signal(int signo) {
  int saved_errno = errno;
  atomic_fetch_add(&delivered[signo], 1);
  atomic_fetch_add(&generation, 1);
  for (int i = 0; i < LOOP_SLOTS; i++) {
    if (atomic_load(&slots[i].loop) == NULL) continue;
    atomic_fetch_add(&slots[i].busy, 1);
    rasio_loop_t *loop = atomic_load(&slots[i].loop);
    if (loop != NULL) rasio__loop_wake_async(loop);
    atomic_fetch_sub(&slots[i].busy, 1);
  }
  errno = saved_errno;
}

/* Puts loop in the handler's table once; reg_mu held. */
static int ensure_slot(rasio_loop_t *loop) {
  if (loop->sig_slot >= 0) return 0;
  for (int i = 0; i < LOOP_SLOTS; i++) {
    if (atomic_load(&slots[i].loop) != NULL) continue;
    atomic_store(&slots[i].loop, loop);
    loop->sig_slot = i;
    return 0;
  }
  return RASIO_ELIMIT;
}

static int registry_add(rasio_event_t *ev) {
  int signo = ev->u.sig.signo, rc = 0;
  if (signo >= SIG_LIMIT || signo > rasio__sig_max()) return RASIO_EINVAL;
  rasio__mutex_lock(&reg_mu);
  rc = ensure_slot(ev->loop);
  if (rc == 0 && subscribers[signo] == 0) rc = rasio__sig_install(signo, on_signal);
  if (rc == 0) {
    subscribers[signo]++;
    ev->u.sig.seen = atomic_load(&delivered[signo]);
  }
  rasio__mutex_unlock(&reg_mu);
  return rc;
}

static void registry_remove(int signo) {
  rasio__mutex_lock(&reg_mu);
  if (--subscribers[signo] == 0) rasio__sig_restore(signo);
  rasio__mutex_unlock(&reg_mu);
}

int rasio__signal_subscribe(rasio_event_t *ev) {
  rasio_loop_t *loop = ev->loop;
  int rc = registry_add(ev);
  if (rc != 0) return rc;
  rasio__mutex_lock(&loop->sig_mu);
  ev->u.sig.next = loop->sig_head;
  loop->sig_head = ev;
  rasio__mutex_unlock(&loop->sig_mu);
  return 0;
}

void rasio__signal_unsubscribe(rasio_event_t *ev) {
  rasio_loop_t *loop = ev->loop;
  rasio__mutex_lock(&loop->sig_mu);
  rasio_event_t **link = &loop->sig_head;
  while (*link != ev) link = &(*link)->u.sig.next;
  *link = ev->u.sig.next;
  rasio__mutex_unlock(&loop->sig_mu);
  registry_remove(ev->u.sig.signo);
}

bool rasio__signal_pending(rasio_loop_t *loop) {
  return atomic_load(&generation) != loop->sig_gen_seen;
}

/* Takes up to max subscribers with unreported deliveries; a subscriber taken has its
 * baseline advanced, so repeated calls make progress. */
static size_t collect(rasio_loop_t *loop, rasio_event_t **batch, size_t max) {
  size_t n = 0;
  rasio__mutex_lock(&loop->sig_mu);
  for (rasio_event_t *ev = loop->sig_head; ev != NULL && n < max; ev = ev->u.sig.next) {
    unsigned now = atomic_load(&delivered[ev->u.sig.signo]);
    if (now == ev->u.sig.seen) continue;
    ev->u.sig.report = now - ev->u.sig.seen;
    ev->u.sig.seen = now;
    batch[n++] = ev;
  }
  rasio__mutex_unlock(&loop->sig_mu);
  return n;
}

void rasio__signal_dispatch(rasio_loop_t *loop) {
  unsigned gen = atomic_load(&generation);
  if (gen == loop->sig_gen_seen) return;
  loop->sig_gen_seen = gen;
  rasio_event_t *batch[BATCH];
  size_t n;
  do {
    /* The batch outlives the lock: its events cannot be disposed before this pass ends,
     * because DISPOSED is only produced after it. */
    n = collect(loop, batch, BATCH);
    for (size_t i = 0; i < n; i++) rasio__deliver(batch[i], RASIO_SIGNAL, batch[i]->u.sig.report);
  } while (n == BATCH);
}

void rasio__signal_fini(rasio_loop_t *loop) {
  if (loop->sig_slot < 0) return;
  rasio__mutex_lock(&reg_mu);
  atomic_store(&slots[loop->sig_slot].loop, NULL);
  rasio__mutex_unlock(&reg_mu);
  while (atomic_load(&slots[loop->sig_slot].busy) != 0) rasio__thread_yield();
  loop->sig_slot = -1;
}
