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
 */
#include <stdlib.h>

#include "internal.h"

#define MIN_BUCKETS 64

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
  rasio__mutex_unlock(&loop->fd_mu);
}

void rasio__fdtab_fini(rasio_loop_t *loop) {
  rasio__free(loop->fd_buckets);
  loop->fd_buckets = NULL;
  loop->fd_nbuckets = loop->fd_count = 0;
}
