/* SPDX-License-Identifier: BSD-2-Clause */
/* A minimal io_uring (Linux 6.1+), spoken through the raw system calls: set up, take a
 * submission entry, submit and wait in one call, walk the completions. What is asked of
 * the ring (polls, receives, sends) is the caller's business: the readiness backend
 * (uring.c) and the net layer's completion path share one ring per loop.
 *
 * Threads: a ring is used by one thread only, the one that made it. It is set up with
 * IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN. The kernel header says of the
 * first "Only one task is allowed to submit requests" (another task's enter and register
 * fail with EEXIST), and the commit that added the second: it defers work "until the user
 * calls io_uring_enter(2) with the IORING_ENTER_GETEVENTS flag" and "requires that the
 * later io_uring_enter will be called from the same submission task". So every enter here
 * asks for events, and a loop that changes threads needs a new ring (uring.c moves).
 */
#ifndef RASIO_RING_H
#define RASIO_RING_H

#include <linux/io_uring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rasio__ring {
  int fd;
  uint32_t sq_mask, sq_entries, cq_mask;
  uint32_t *sq_khead, *sq_ktail; /* shared with the kernel */
  uint32_t *cq_khead, *cq_ktail;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
  uint32_t sq_tail; /* entries written, published to the kernel at enter */
  void *rings;      /* the SQ and CQ rings, one mapping (IORING_FEAT_SINGLE_MMAP) */
  size_t rings_len, sqes_len;
} rasio__ring_t;

/* 0 if this kernel lets this process make a ring with everything rasio needs, else a
 * RASIO_E* code (RASIO_EUNAVAIL when io_uring is absent, disabled or too old). */
int rasio__ring_probe(void);
/* Makes a ring owned by the calling thread: 0 or a RASIO_E* code (r->fd is -1 then). A
 * disabled ring belongs to no thread until one enables it (rasio__ring_enable); the kernel
 * header: IORING_SETUP_R_DISABLED, "start with ring disabled". */
int rasio__ring_init(rasio__ring_t *r, unsigned sq_entries, unsigned cq_entries, bool disabled);
/* Enables a disabled ring, which then belongs to the calling thread: 0 or -errno. */
int rasio__ring_enable(rasio__ring_t *r);
/* Closes the ring; requests still in flight are cancelled by the kernel. Idempotent. */
void rasio__ring_fini(rasio__ring_t *r);

/* A zeroed submission entry, or NULL when the submission queue is full even after what
 * was queued has been handed to the kernel. It goes out with the next rasio__ring_enter. */
struct io_uring_sqe *rasio__ring_sqe(rasio__ring_t *r);
/* Whether n more entries can be taken now (submitting what is queued if that makes room):
 * for requests that must go in together, such as a linked pair. */
bool rasio__ring_room(rasio__ring_t *r, uint32_t n);
/* Submits what is queued, then waits until at least one completion is there or
 * timeout_ns passed (0: do not wait; UINT64_MAX: no limit). Returns 0 or -errno; EINTR,
 * ETIME and EBUSY (completions to reap first) are not failures of the ring. */
int rasio__ring_enter(rasio__ring_t *r, uint64_t timeout_ns);

/* Has the kernel write to eventfd fd whenever a completion (or, with DEFER_TASKRUN, work
 * that will post one) arrives: 0 or -errno. */
int rasio__ring_register_eventfd(rasio__ring_t *r, int fd);

/* Completions: the next one or NULL (peek), then mark it seen (advance). */
static inline struct io_uring_cqe *rasio__ring_cqe(rasio__ring_t *r, uint32_t head) {
  uint32_t tail = __atomic_load_n(r->cq_ktail, __ATOMIC_ACQUIRE);
  return head != tail ? &r->cqes[head & r->cq_mask] : NULL;
}
static inline uint32_t rasio__ring_cq_head(const rasio__ring_t *r) { return *r->cq_khead; }
static inline void rasio__ring_cq_advance(rasio__ring_t *r, uint32_t head) {
  __atomic_store_n(r->cq_khead, head, __ATOMIC_RELEASE);
}

#endif
