/* SPDX-License-Identifier: BSD-2-Clause */
/* What the io_uring backend's two files share: the readiness side (uring.c) and the
 * completion streams of the net layer (uring_stream.c). One ring per loop, touched only by
 * the loop thread; every other thread hands its wishes over through the records' want word
 * and the pending list (uring.c's file comment).
 */
#ifndef RASIO_URING_H
#define RASIO_URING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/ring.h"
#include "internal.h"

#define SQ_ENTRIES 256
#define CQ_ENTRIES 4096

/* user_data. Values below 2^32 name no token (a token's generation is never 0): they mark
 * the wakeup. A request's is its event's token, with its kind in bits 22..24 and a request
 * number in bits 25..31, so a completion of a request that was replaced is told apart from
 * the current one. A cancel's is its target's with the CANCEL kind bit added. */
enum { UD_WAKE = 1 };
#define KIND_SHIFT RASIO__TOKEN_INDEX_BITS
#define KIND_MASK (7ull << KIND_SHIFT)
enum { K_POLL = 0, K_RECV = 1, K_SEND = 2, K_SEND_POLL = 3, K_CANCEL = 4 };
#define SEQ_SHIFT (KIND_SHIFT + 3)
#define SEQ_MASK (0x7full << SEQ_SHIFT)
_Static_assert(SEQ_SHIFT + 7 == 32, "kind and request number fill the token's spare bits");

static inline uint64_t rasio__uring_ud(const rasio_event_t *ev, unsigned kind, uint8_t seq) {
  return ev->token | (uint64_t)kind << KIND_SHIFT | (uint64_t)(seq & 0x7f) << SEQ_SHIFT;
}
static inline unsigned rasio__uring_kind(uint64_t ud) {
  return (unsigned)((ud & KIND_MASK) >> KIND_SHIFT);
}
static inline uint8_t rasio__uring_seq(uint64_t ud) { return (uint8_t)((ud & SEQ_MASK) >> SEQ_SHIFT); }
static inline uint64_t rasio__uring_token(uint64_t ud) { return ud & ~(KIND_MASK | SEQ_MASK); }

/* The want word: directions, the removal flag, and a version that every ctl() moves on. */
#define W_DIRS (RASIO_READ | RASIO_WRITE)
#define W_REMOVE 4u
#define W_VERSION 256u

enum mode { EDGE = 1, ONESHOT, LEVEL };

struct ustream; /* uring_stream.c */

typedef struct urec {
  rasio_event_t *ev;
  _Atomic uint32_t want; /* written by ctl() under ev->arm_lock; consumed by the loop */
  atomic_bool queued;    /* on the pending list (or about to be) */
  struct urec *next;     /* the pending list */
  uint8_t mode;
  /* A completion stream (set once, under ev->arm_lock, before the record is queued). */
  _Atomic(struct ustream *) stream;
  /* Loop thread only: */
  struct urec *all_prev, *all_next; /* every record the loop has seen, for a move */
  bool listed;
  bool cur_live;  /* the current poll is in flight */
  bool cur_multi; /* ... and multishot */
  uint8_t seq;    /* the current poll's number */
  uint32_t cur_dirs;
  uint32_t sent;  /* the want the current poll was made for */
  uint64_t recancel; /* a cancel to make again (0: none) */
  unsigned nlive; /* requests in flight: polls (current and cancelled), receives, sends */
} urec_t;

typedef struct uring_state {
  rasio__ring_t ring;
  pid_t issuer;      /* the thread the ring belongs to (0: none) */
  bool fresh;        /* the ring is init's, still disabled: the first waiter enables it */
  int wakefd, probe_epfd;
  _Atomic(urec_t *) pending;
  urec_t *all;       /* loop thread */
  bool gone;         /* a removal completed in this wait: DISPOSED is due, do not sleep */
  bool valgrind;     /* wait in ppoll, not in the ring (see uring.c) */
  struct ubufs *bufs; /* the receive buffers of the streams (uring_stream.c), made on demand */
} uring_state_t;

static inline uring_state_t *rasio__uring_state(rasio_loop_t *loop) { return loop->be_state; }

/* uring.c */
void rasio__uring_push(uring_state_t *st, urec_t *r);
bool rasio__uring_sqe_cancel(uring_state_t *st, uint64_t ud);

/* uring_stream.c: everything the readiness side asks of a stream record (loop thread). */
/* Brings the stream's requests in line with want w (no polls); false if the SQ is full. */
bool rasio__ustream_apply(uring_state_t *st, urec_t *r, uint32_t w);
/* A completion of one of the stream's requests (K_RECV or K_SEND). */
void rasio__ustream_cqe(uring_state_t *st, urec_t *r, const struct io_uring_cqe *cqe);
/* The record is going: gives back what the stream holds and frees it. */
void rasio__ustream_free(uring_state_t *st, urec_t *r);
/* A new ring: the buffers are registered with it again; every stream has nothing in flight. */
int rasio__ustream_ring_moved(uring_state_t *st);
/* Buffers that other threads gave back go back to the kernel (each wait). */
void rasio__ustream_collect(uring_state_t *st);
void rasio__ustream_fini(uring_state_t *st);
extern const rasio__stream_ops_t rasio__uring_stream_ops;

#endif
