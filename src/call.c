/* SPDX-License-Identifier: BSD-2-Clause */
/* rasio_loop_call: functions queued by any thread, run by the loop thread.
 *
 * A FIFO under loop->call_mu. The loop takes the whole queue at once and runs it with the
 * lock released, so a call may queue further calls (they run in a later pass) and a
 * queueing thread never waits for a running call. calls_pending counts every call from
 * its queueing until it has returned: rasio_loop_free refuses (EBUSY) while one is owed,
 * so no call is ever dropped with its argument.
 */
#include "internal.h"

struct rasio__call {
  struct rasio__call *next;
  rasio_call_fn fn;
  void *arg;
};

void rasio__call_init(rasio_loop_t *loop) { rasio__mutex_init(&loop->call_mu); }

void rasio__call_fini(rasio_loop_t *loop) { rasio__mutex_destroy(&loop->call_mu); }

int rasio_loop_call(rasio_loop_t *loop, rasio_call_fn fn, void *arg) {
  if (loop == NULL || fn == NULL) return RASIO_EINVAL;
  struct rasio__call *c = rasio__malloc(sizeof *c);
  if (c == NULL) return RASIO_ENOMEM;
  c->next = NULL;
  c->fn = fn;
  c->arg = arg;
  atomic_fetch_add(&loop->calls_pending, 1);
  rasio__mutex_lock(&loop->call_mu);
  if (loop->call_tail != NULL) loop->call_tail->next = c;
  else loop->call_head = c;
  loop->call_tail = c;
  rasio__mutex_unlock(&loop->call_mu);
  /* The loop thread itself needs no wake: it looks at calls_pending before it blocks. */
  rasio__loop_wake(loop);
  return 0;
}

void rasio__call_dispatch(rasio_loop_t *loop) {
  if (atomic_load_explicit(&loop->calls_pending, memory_order_relaxed) == 0) return;
  rasio__mutex_lock(&loop->call_mu);
  struct rasio__call *list = loop->call_head;
  loop->call_head = loop->call_tail = NULL;
  rasio__mutex_unlock(&loop->call_mu);
  while (list != NULL) {
    struct rasio__call *c = list;
    list = c->next;
    c->fn(c->arg);
    rasio__free(c);
    atomic_fetch_sub(&loop->calls_pending, 1);
  }
}
