/* SPDX-License-Identifier: BSD-2-Clause */
/* The sockets subscribed on a loop.
 *
 * A second subscription of one socket on one loop must fail with RASIO_EEXIST. epoll
 * refuses it, but kqueue and ProcessSocketNotifications overwrite the first registration
 * instead, so the loop keeps the set itself, the same way for every backend. A socket
 * leaves the set when its event's removal is complete (just before DISPOSED and before
 * an owned fd is closed), so a new socket that reuses the number can be subscribed.
 *
 * A chained hash table whose links live in the events themselves: no allocation per
 * subscription, only when the table grows. Any thread, under loop->fd_mu.
 *
 * Tokens. A backend hands the kernel a token, not the event's address: a slot index and
 * the slot's generation. The slot is released (its generation moved on) at the same time
 * the socket leaves the set, so a report that names a released slot is recognised and
 * dropped, never followed into freed or reused memory. Such reports exist: epoll keys a
 * registration by open file description, so if the owner dup()ed a subscribed socket and
 * closed the original under the subscription, EPOLL_CTL_DEL fails and the registration
 * lives on, reporting, as long as the duplicate is open. epoll(7), "Will closing a file
 * descriptor cause it to be removed from all epoll interest lists?": "The file descriptor is
 * removed from an interest list only after all the file descriptors referring to the
 * underlying open file description have been closed." Slots live in chunks
 * that never move until the loop is freed, so the loop thread looks a token up without a
 * lock while other threads subscribe. A generation is 32 bits: a report would have to
 * outlive 2^32 reuses of its slot to be mistaken.
 */
#include <stdlib.h>

#include "internal.h"

#define MIN_BUCKETS 64
#define SLOT_CHUNK_BITS 10
#define SLOT_CHUNK (1u << SLOT_CHUNK_BITS)
#define SLOT_MAX (SLOT_CHUNK * RASIO__SLOT_CHUNKS)
#define NO_SLOT UINT32_MAX
_Static_assert(SLOT_MAX <= 1u << RASIO__TOKEN_INDEX_BITS, "slot indices must fit the token");

struct rasio__slot {
  _Atomic(rasio_event_t *) ev;
  _Atomic uint32_t gen;     /* never 0, so no token is 0 (backends may use 0 themselves) */
  uint32_t next_free;       /* under fd_mu */
};

int rasio__fdtab_init(rasio_loop_t *loop) {
  loop->slot_dir = rasio__calloc(RASIO__SLOT_CHUNKS, sizeof *loop->slot_dir);
  loop->slot_free = NO_SLOT;
  return loop->slot_dir != NULL ? 0 : RASIO_ENOMEM;
}

/* A free slot for ev, with its token in ev->token; fd_mu held. */
static int slot_take(rasio_loop_t *loop, rasio_event_t *ev) {
  uint32_t i = loop->slot_free;
  if (i != NO_SLOT) {
    loop->slot_free = loop->slot_dir[i >> SLOT_CHUNK_BITS][i & (SLOT_CHUNK - 1)].next_free;
  } else {
    if (loop->slot_used == SLOT_MAX) return RASIO_ELIMIT;
    i = loop->slot_used;
    if ((i & (SLOT_CHUNK - 1)) == 0) {
      struct rasio__slot *chunk = rasio__calloc(SLOT_CHUNK, sizeof *chunk);
      if (chunk == NULL) return RASIO_ENOMEM;
      for (uint32_t k = 0; k < SLOT_CHUNK; k++) atomic_init(&chunk[k].gen, 1);
      atomic_store_explicit(&loop->slot_dir[i >> SLOT_CHUNK_BITS], chunk, memory_order_release);
    }
    loop->slot_used++;
  }
  struct rasio__slot *slot = &loop->slot_dir[i >> SLOT_CHUNK_BITS][i & (SLOT_CHUNK - 1)];
  atomic_store_explicit(&slot->ev, ev, memory_order_release);
  ev->token = (uint64_t)atomic_load_explicit(&slot->gen, memory_order_relaxed) << 32 | i;
  return 0;
}

/* Stales every token of ev's slot and frees it; fd_mu held. */
static void slot_give(rasio_loop_t *loop, rasio_event_t *ev) {
  uint32_t i = (uint32_t)ev->token;
  struct rasio__slot *slot = &loop->slot_dir[i >> SLOT_CHUNK_BITS][i & (SLOT_CHUNK - 1)];
  uint32_t gen = atomic_load_explicit(&slot->gen, memory_order_relaxed) + 1;
  atomic_store_explicit(&slot->gen, gen != 0 ? gen : 1, memory_order_release);
  atomic_store_explicit(&slot->ev, NULL, memory_order_release);
  slot->next_free = loop->slot_free;
  loop->slot_free = i;
  ev->token = 0;
}

rasio_event_t *rasio__fdtab_lookup(rasio_loop_t *loop, uint64_t token) {
  uint32_t i = (uint32_t)token;
  if (i >= SLOT_MAX) return NULL;
  struct rasio__slot *chunk =
      atomic_load_explicit(&loop->slot_dir[i >> SLOT_CHUNK_BITS], memory_order_acquire);
  if (chunk == NULL) return NULL;
  struct rasio__slot *slot = &chunk[i & (SLOT_CHUNK - 1)];
  if (atomic_load_explicit(&slot->gen, memory_order_acquire) != (uint32_t)(token >> 32))
    return NULL;
  return atomic_load_explicit(&slot->ev, memory_order_acquire);
}

static size_t bucket_of(size_t nbuckets, rasio_fd_t fd) {
  return (size_t)(((uint64_t)fd * 0x9E3779B97F4A7C15u) >> 32) & (nbuckets - 1);
}

static void insert(rasio_event_t **buckets, size_t nbuckets, rasio_event_t *ev) {
  size_t b = bucket_of(nbuckets, ev->fd);
  ev->fd_next = buckets[b];
  buckets[b] = ev;
}

/* Keeps at most one event per bucket on average. */
static int grow(rasio_loop_t *loop) {
  if (loop->fd_count < loop->fd_nbuckets) return 0;
  size_t n = loop->fd_nbuckets ? loop->fd_nbuckets * 2 : MIN_BUCKETS;
  rasio_event_t **buckets = rasio__calloc(n, sizeof *buckets);
  if (buckets == NULL) return RASIO_ENOMEM;
  for (size_t i = 0; i < loop->fd_nbuckets; i++) {
    for (rasio_event_t *ev = loop->fd_buckets[i], *next; ev != NULL; ev = next) {
      next = ev->fd_next;
      insert(buckets, n, ev);
    }
  }
  rasio__free(loop->fd_buckets);
  loop->fd_buckets = buckets;
  loop->fd_nbuckets = n;
  return 0;
}

static bool present(const rasio_loop_t *loop, rasio_fd_t fd) {
  if (loop->fd_nbuckets == 0) return false;
  rasio_event_t *ev = loop->fd_buckets[bucket_of(loop->fd_nbuckets, fd)];
  while (ev != NULL && ev->fd != fd) ev = ev->fd_next;
  return ev != NULL;
}

int rasio__fdtab_add(rasio_loop_t *loop, rasio_event_t *ev) {
  rasio__mutex_lock(&loop->fd_mu);
  int rc = present(loop, ev->fd) ? RASIO_EEXIST : grow(loop);
  if (rc == 0) rc = slot_take(loop, ev);
  if (rc == 0) {
    insert(loop->fd_buckets, loop->fd_nbuckets, ev);
    loop->fd_count++;
  }
  rasio__mutex_unlock(&loop->fd_mu);
  return rc;
}

void rasio__fdtab_remove(rasio_loop_t *loop, rasio_event_t *ev) {
  rasio__mutex_lock(&loop->fd_mu);
  rasio_event_t **link = &loop->fd_buckets[bucket_of(loop->fd_nbuckets, ev->fd)];
  while (*link != ev) link = &(*link)->fd_next;
  *link = ev->fd_next;
  loop->fd_count--;
  slot_give(loop, ev);
  rasio__mutex_unlock(&loop->fd_mu);
}

int rasio__fdtab_token_take(rasio_loop_t *loop, rasio_event_t *ev) {
  rasio__mutex_lock(&loop->fd_mu);
  int rc = slot_take(loop, ev);
  rasio__mutex_unlock(&loop->fd_mu);
  return rc;
}

void rasio__fdtab_token_give(rasio_loop_t *loop, rasio_event_t *ev) {
  rasio__mutex_lock(&loop->fd_mu);
  slot_give(loop, ev);
  rasio__mutex_unlock(&loop->fd_mu);
}

void rasio__fdtab_fini(rasio_loop_t *loop) {
  if (loop->slot_dir == NULL) return; /* init failed */
  for (size_t c = 0; c < RASIO__SLOT_CHUNKS; c++) rasio__free(loop->slot_dir[c]);
  rasio__free(loop->slot_dir);
  loop->slot_dir = NULL;
  rasio__free(loop->fd_buckets);
  loop->fd_buckets = NULL;
  loop->fd_nbuckets = loop->fd_count = 0;
}
