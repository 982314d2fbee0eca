/* SPDX-License-Identifier: BSD-2-Clause */
/* Mailboxes: the executor of actor-style owners.
 *
 * An intrusive multi-producer single-consumer queue (the stub-node design: producers swap
 * the head and then link the previous node; the consumer walks from the tail). Events
 * carry their own node, so posting a notification never allocates; a notification that
 * arrives while the event's node is queued is merged into it (see rasio_event.pending).
 * The consumer sleeps on a condition variable only after announcing it in `sleeping`, and
 * producers signal only when they see that announcement.
 */
#include <stdlib.h>

#include "internal.h"

struct rasio_mailbox {
  _Atomic(rasio__mnode_t *) head; /* producers */
  rasio__mnode_t *tail;           /* consumer */
  rasio__mnode_t stub;
  atomic_bool sleeping;
  /* Producers inside push(). A producer still touches the mailbox after its node became
   * visible (to wake the consumer), and that node may be the DISPOSED after which the
   * owner frees the mailbox; rasio__free() waits for them to leave. */
  atomic_int pushing;
  rasio__mutex_t mu;
  rasio__cond_t cv;
};

typedef struct message {
  rasio__mnode_t node; /* first: a node pointer is a message pointer */
  rasio_mailbox_fn fn;
  void *arg;
} message_t;

int rasio_mailbox_new(rasio_mailbox_t **out) {
  if (out == NULL) return RASIO_EINVAL;
  rasio_mailbox_t *mb = rasio__calloc(1, sizeof *mb);
  if (mb == NULL) return RASIO_ENOMEM;
  atomic_init(&mb->head, &mb->stub);
  mb->tail = &mb->stub;
  rasio__mutex_init(&mb->mu);
  rasio__cond_init(&mb->cv);
  *out = mb;
  return 0;
}

static void push(rasio_mailbox_t *mb, rasio__mnode_t *n) {
  atomic_fetch_add(&mb->pushing, 1);
  atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
  rasio__mnode_t *prev = atomic_exchange(&mb->head, n);
  atomic_store_explicit(&prev->next, n, memory_order_release);
  if (atomic_load(&mb->sleeping)) {
    /* The lock orders this after the consumer's last check (it is inside the wait by the
     * time we hold it); signalled after the release, the consumer does not wake up only
     * to block on the lock we still hold. */
    rasio__mutex_lock(&mb->mu);
    rasio__mutex_unlock(&mb->mu);
    rasio__cond_signal(&mb->cv);
  }
  atomic_fetch_sub(&mb->pushing, 1);
}

/* Consumer only. NULL if empty, or if a producer is between its two steps (then
 * is_empty() is false and the caller retries). */
static rasio__mnode_t *pop(rasio_mailbox_t *mb) {
  rasio__mnode_t *tail = mb->tail;
  rasio__mnode_t *next = atomic_load_explicit(&tail->next, memory_order_acquire);
  if (tail == &mb->stub) {
    if (next == NULL) return NULL;
    mb->tail = tail = next;
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
  }
  if (next != NULL) {
    mb->tail = next;
    return tail;
  }
  if (tail != atomic_load(&mb->head)) return NULL;
  push(mb, &mb->stub); /* tail is the last node: put the stub behind it to detach it */
  next = atomic_load_explicit(&tail->next, memory_order_acquire);
  if (next == NULL) return NULL;
  mb->tail = next;
  return tail;
}

static bool is_empty(rasio_mailbox_t *mb) {
  return mb->tail == &mb->stub && atomic_load(&mb->head) == &mb->stub;
}

void rasio__mailbox_post_event(rasio_mailbox_t *mb, rasio_event_t *ev, uint32_t flags,
                               uint32_t arg) {
  uint64_t add = (uint64_t)arg << 32;
  uint64_t old = atomic_load(&ev->pending), sum;
  do {
    uint64_t args = (old >> 32) + (add >> 32);
    if (args > UINT32_MAX) args = UINT32_MAX;
    sum = (args << 32) | (uint32_t)old | flags;
  } while (!atomic_compare_exchange_weak(&ev->pending, &old, sum));
  /* Zero means the node is neither queued nor about to be drained: queue it. Otherwise the
   * drain that will take it sees the merged value. */
  if (old == 0) push(mb, &ev->node);
}

int rasio_mailbox_post(rasio_mailbox_t *mb, rasio_mailbox_fn fn, void *arg) {
  if (mb == NULL || fn == NULL) return RASIO_EINVAL;
  message_t *m = rasio__malloc(sizeof *m);
  if (m == NULL) return RASIO_ENOMEM;
  m->node.is_event = false;
  m->fn = fn;
  m->arg = arg;
  push(mb, &m->node);
  return 0;
}

int rasio_mailbox_wait(rasio_mailbox_t *mb, uint64_t timeout_ns) {
  if (mb == NULL) return RASIO_EINVAL;
  if (!is_empty(mb)) return 0;
  uint64_t now = rasio__now_ns();
  uint64_t deadline = timeout_ns < UINT64_MAX - now ? now + timeout_ns : UINT64_MAX;
  rasio__mutex_lock(&mb->mu);
  atomic_store(&mb->sleeping, true); /* before re-checking: a producer either sees it or
                                        pushed early enough for the check to see its node */
  while (is_empty(mb) && rasio__now_ns() < deadline)
    rasio__cond_wait_until(&mb->cv, &mb->mu, deadline);
  atomic_store(&mb->sleeping, false);
  rasio__mutex_unlock(&mb->mu);
  return is_empty(mb) ? RASIO_ETIMEDOUT : 0;
}

static void run(rasio__mnode_t *n) {
  if (!n->is_event) {
    message_t *m = (message_t *)n;
    m->fn(m->arg);
    rasio__free(m);
    return;
  }
  rasio_event_t *ev = (rasio_event_t *)((char *)n - offsetof(rasio_event_t, node));
  /* Taking the value re-opens the node for posting; ev may be freed inside. */
  rasio__event_run_pending(ev, atomic_exchange(&ev->pending, 0));
}

size_t rasio_mailbox_drain(rasio_mailbox_t *mb, size_t max) {
  if (mb == NULL) return 0;
  size_t ran = 0;
  while (max == 0 || ran < max) {
    rasio__mnode_t *n = pop(mb);
    if (n == NULL) {
      if (is_empty(mb)) break;
      rasio__thread_yield(); /* a producer is between its two steps */
      continue;
    }
    run(n);
    ran++;
  }
  return ran;
}

int rasio_mailbox_free(rasio_mailbox_t *mb) {
  if (mb == NULL) return RASIO_EINVAL;
  if (!is_empty(mb)) return RASIO_EBUSY;
  while (atomic_load(&mb->pushing) != 0) rasio__thread_yield();
  rasio__cond_destroy(&mb->cv);
  rasio__mutex_destroy(&mb->mu);
  rasio__free(mb);
  return 0;
}
