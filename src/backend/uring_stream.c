/* SPDX-License-Identifier: BSD-2-Clause */
/* Completion streams on io_uring (backend.h): a connection of the net layer receives
 * through one multishot receive into buffers rasio owns, and sends with one SENDMSG in
 * flight, both submitted with the loop's one enter per pass: no system call per message.
 *
 * Receiving. The buffers (BUF_COUNT of BUF_SIZE bytes, one anonymous mapping, so memcheck
 * sees them defined before the kernel writes them) form a provided-buffer ring
 * (IORING_REGISTER_PBUF_RING). io_uring_prep_recv_multishot(3): the request "will
 * repeatedly trigger a CQE when data is available", and it "requires that the buffer group
 * flag is set" (IOSQE_BUFFER_SELECT); the kernel picks a buffer per completion and names it
 * (io_uring_enter(2): "IORING_CQE_F_BUFFER If set, the upper 16 bits are the buffer ID").
 * The buffer joins the stream's queue; the owner copies out of it (rasio__stream_recv) and
 * it is free once read: on the loop thread at once, from another thread through a list the
 * loop empties each pass. A stream holds at most RXQ buffers: then its receive is
 * cancelled until the owner has read the queue down to RX_RESUME, so an owner that stops
 * reading (a muted connection) cannot pin the ring. A receive that finds no
 * buffer ends (ENOBUFS) and starts again when buffers come back. Should the ring run dry
 * with every buffer in some stream's queue (BUF_COUNT / RXQ muted connections would do
 * it), the queues' bytes are copied to memory of each stream's own (its spill, read first)
 * and the buffers are freed; a spilled buffer still counts as held until it is read.
 *
 * Few buffers, warm ones. A freed buffer goes on a stack, not straight into the kernel's
 * ring, and each pass tops the ring up from the stack's top to twice the most buffers a
 * pass has recently used (a peak that decays), so the kernel writes into the buffers the
 * owner read last, still in the cache, rather than cycling through all BUF_COUNT (4 MiB).
 * The kernel does not say where its head is, so the count in the ring is kept here: every
 * completion that names a buffer took one (io_uring_enter(2): "IORING_CQE_F_BUFFER If set,
 * the upper 16 bits are the buffer ID"). Measured against cycling all of them (pp100-16k,
 * alternating runs): the same CPU per message here, 2 MiB less memory touched.
 *
 * Sending. The owner's iovecs (its queue's memory, untouched until WRITE) go out as one
 * IORING_OP_SENDMSG with MSG_NOSIGNAL; the result waits for rasio__stream_sent. One send at
 * a time keeps the order of the bytes. A send can still end in EAGAIN (measured here: on a
 * socket with a 16 KiB send buffer and a megabyte to send, after partial sends); it then
 * goes again behind a POLLOUT poll linked to it (IOSQE_IO_LINK), and the owner hears of it
 * only once it has a real result.
 *
 * Reports. READ when the queue holds bytes (or the end) and READ is wanted; WRITE when a
 * send finished and WRITE is wanted. Both are checked when a completion arrives and when the
 * owner arms the direction, so neither order loses a report; the core gates them by the
 * event's arms as for any oneshot event.
 *
 * Moving threads (uring.c): the old ring's completions are handled before it closes, so a
 * send that went out is known; one still in flight then is taken as cancelled before it
 * sent anything, and is made again. That rests on the kernel more than on its documents.
 * What is documented is that a ring with DEFER_TASKRUN runs its deferred work (a parked
 * send's retry, a multishot receive's copy) only "until the user calls io_uring_enter(2)
 * with the IORING_ENTER_GETEVENTS flag", from "the same submission task" (the commit that
 * added the flag), and the old thread makes no such call again. What closing the ring from
 * another task does with that work is not documented, and has changed between kernel
 * versions (it is cancelled, or handed to the old task's fallback work). Should a kernel
 * run it after the old ring was reaped, a send parked at the move would go out twice and
 * bytes received then would be lost. test_loop_move.c's echo through moves passes on 6.18;
 * an owner who must not depend on this keeps the loop on one thread.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/uring.h"

#define BUF_SIZE (16u * 1024)
#define BUF_COUNT 256u /* a power of two, as the kernel's buffer ring wants */
#define BGID 0
#define RXQ 16
#define RX_RESUME 4
#define MIN_FILL 8      /* the fewest buffers the ring is topped up to */
#define PEAK_DECAY 256  /* the peak loses 1/PEAK_DECAY of itself per pass */
#define SEND_IOV 64

typedef struct ubufs {
  char *mem;
  struct io_uring_buf_ring *br;
  uint16_t tail;           /* loop thread */
  unsigned in_ring;        /* loop thread: added to the ring and not yet reported taken */
  unsigned used;           /* loop thread: taken since the last top-up */
  unsigned peak;           /* loop thread: most taken in a pass, times PEAK_DECAY, decaying */
  uint16_t free[BUF_COUNT]; /* loop thread: a stack of the free buffers not in the ring */
  unsigned nfree;
  bool held[BUF_COUNT];    /* loop thread: in a stream's queue */
  rasio__mutex_t ret_mu;   /* buffers given back by other threads */
  uint16_t ret[BUF_COUNT];
  unsigned nret;
  atomic_bool starved;     /* a receive ended for want of buffers */
} ubufs_t;

typedef struct qent {
  uint16_t bid;
  uint32_t len, off;
} qent_t;

typedef struct ustream {
  rasio__mutex_t mu; /* the queue: the loop appends, the owner takes */
  qent_t *q;         /* a ring of qcap entries; it grows, as completions may come after a
                        cancel was asked for */
  unsigned qcap, qhead, qlen;
  char *spill;         /* bytes copied out of the queue's buffers when the ring ran dry: */
  size_t spill_len, spill_off; /* they come before the queue's */
  unsigned nspill;     /* buffers copied there since it was last empty */
  int end;             /* 0, 1 (the peer's end), or the RASIO_E* code it failed with */
  atomic_bool paused;  /* the receive was cancelled: the stream holds RXQ buffers' worth */
  /* The owner fills iov and msg, then sets send_req; the loop submits. */
  struct iovec iov[SEND_IOV];
  struct msghdr msg;
  atomic_bool send_req, send_done, send_busy;
  _Atomic int64_t send_res;
  /* Loop thread only: */
  bool recv_live, send_live, starved;
  bool send_wait; /* the last send said EAGAIN: the next waits for POLLOUT */
  bool linked;    /* the send in flight is behind such a poll */
  unsigned recv_n;   /* receives in flight, cancelled ones included: a new one waits for 0,
                        or two would split the stream between them */
  uint8_t recv_seq, send_seq;
} ustream_t;

static ustream_t *stream_of(urec_t *r) { return atomic_load(&r->stream); }

/* --- the buffers (loop thread, unless said otherwise) ------------------------------------ */

/* A buffer the owner finished with: onto the free stack. */
static void buf_add(ubufs_t *b, uint16_t bid) {
  b->held[bid] = false;
  b->free[b->nfree++] = bid;
}

/* Moves buffers from the free stack's top into the kernel's ring until it holds twice the
 * recent peak use; then one release store of the tail publishes them. */
static void top_up(ubufs_t *b) {
  b->peak -= b->peak / PEAK_DECAY;
  if (b->used * PEAK_DECAY > b->peak) b->peak = b->used * PEAK_DECAY;
  b->used = 0;
  unsigned want = 2 * (b->peak / PEAK_DECAY) + 1;
  if (want < MIN_FILL) want = MIN_FILL;
  if (b->in_ring >= want || b->nfree == 0) return;
  for (; b->in_ring < want && b->nfree > 0; b->in_ring++) {
    uint16_t bid = b->free[--b->nfree];
    /* Field by field: bufs[0]'s last field is the ring's tail. */
    struct io_uring_buf *e = &b->br->bufs[b->tail & (BUF_COUNT - 1)];
    e->addr = (uint64_t)(uintptr_t)(b->mem + (size_t)bid * BUF_SIZE);
    e->len = BUF_SIZE;
    e->bid = bid;
    b->tail++;
  }
  __atomic_store_n(&b->br->tail, b->tail, __ATOMIC_RELEASE);
}

/* Registers the buffer ring with st's ring, empty; every buffer no stream holds is free,
 * and the ring is topped up from them. */
static int bufs_register(uring_state_t *st) {
  ubufs_t *b = st->bufs;
  b->tail = 0;
  b->in_ring = 0;
  b->nfree = 0;
  __atomic_store_n(&b->br->tail, 0, __ATOMIC_RELEASE);
  struct io_uring_buf_reg reg = {
      .ring_addr = (uint64_t)(uintptr_t)b->br, .ring_entries = BUF_COUNT, .bgid = BGID};
  if (syscall(__NR_io_uring_register, st->ring.fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0)
    return rasio__os_error();
  for (unsigned i = BUF_COUNT; i-- > 0;)
    if (!b->held[i]) buf_add(b, (uint16_t)i);
  top_up(b);
  return 0;
}

static void bufs_free(ubufs_t *b) {
  if (b->mem != NULL && b->mem != MAP_FAILED) munmap(b->mem, (size_t)BUF_COUNT * BUF_SIZE);
  if (b->br != NULL && (void *)b->br != MAP_FAILED)
    munmap(b->br, BUF_COUNT * sizeof(struct io_uring_buf));
  rasio__mutex_destroy(&b->ret_mu);
  rasio__free(b);
}

/* The buffers, made and registered on first use. */
static int bufs_get(uring_state_t *st) {
  if (st->bufs != NULL) return 0;
  ubufs_t *b = rasio__calloc(1, sizeof *b);
  if (b == NULL) return RASIO_ENOMEM;
  rasio__mutex_init(&b->ret_mu);
  int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS;
  b->mem = mmap(NULL, (size_t)BUF_COUNT * BUF_SIZE, prot, flags, -1, 0);
  b->br = mmap(NULL, BUF_COUNT * sizeof(struct io_uring_buf), prot, flags, -1, 0);
  if (b->mem == MAP_FAILED || (void *)b->br == MAP_FAILED) {
    bufs_free(b);
    return RASIO_ENOMEM;
  }
  st->bufs = b;
  int rc = bufs_register(st);
  if (rc != 0) {
    st->bufs = NULL;
    bufs_free(b);
  }
  return rc;
}

/* Buffers the owner finished with. Any thread: the loop thread puts them back at once,
 * another thread lists them for the loop (and wakes it if a receive is starving). */
static void give_back(rasio_loop_t *loop, const uint16_t *bids, unsigned n) {
  if (n == 0) return;
  ubufs_t *b = rasio__uring_state(loop)->bufs;
  if (rasio__on_loop_thread(loop)) {
    for (unsigned i = 0; i < n; i++) buf_add(b, bids[i]); /* the next pass tops up */
    return;
  }
  rasio__mutex_lock(&b->ret_mu);
  for (unsigned i = 0; i < n; i++) b->ret[b->nret++] = bids[i];
  rasio__mutex_unlock(&b->ret_mu);
  if (atomic_load(&b->starved)) rasio__loop_wake(loop);
}

/* The ring ran dry and no buffer is free: every buffer sits in some stream's queue. */
static void spill(ubufs_t *b, ustream_t *s);

static void relieve(uring_state_t *st) {
  for (urec_t *r = st->all; r != NULL; r = r->all_next) {
    ustream_t *s = stream_of(r);
    if (s != NULL) spill(st->bufs, s);
  }
  top_up(st->bufs);
}

void rasio__ustream_collect(uring_state_t *st) {
  ubufs_t *b = st->bufs;
  if (b == NULL) return;
  uint16_t bids[BUF_COUNT];
  unsigned n = 0;
  rasio__mutex_lock(&b->ret_mu);
  n = b->nret;
  memcpy(bids, b->ret, n * sizeof *bids);
  b->nret = 0;
  rasio__mutex_unlock(&b->ret_mu);
  for (unsigned i = 0; i < n; i++) buf_add(b, bids[i]);
  top_up(b);
  if (!atomic_load(&b->starved)) return;
  if (b->in_ring == 0) relieve(st);
  if (b->in_ring == 0) return;
  atomic_store(&b->starved, false);
  for (urec_t *r = st->all; r != NULL; r = r->all_next) {
    ustream_t *s = stream_of(r);
    if (s != NULL && s->starved) {
      s->starved = false;
      rasio__uring_push(st, r);
    }
  }
}

/* --- the owner's side (the event's executor) ----------------------------------------------- */

static int start(rasio_loop_t *loop, rasio_event_t *ev) {
  ustream_t *s = rasio__calloc(1, sizeof *s);
  if (s == NULL) return RASIO_ENOMEM;
  s->q = rasio__malloc(RXQ * sizeof *s->q);
  if (s->q == NULL) {
    rasio__free(s);
    return RASIO_ENOMEM;
  }
  s->qcap = RXQ;
  rasio__mutex_init(&s->mu);
  s->msg.msg_iov = s->iov;
  rasio__mutex_lock(&ev->arm_lock);
  urec_t *r = ev->be_data;
  int rc = RASIO_ESTATE;
  if (atomic_load(&ev->state) == RASIO__ACTIVE && r != NULL && stream_of(r) == NULL) {
    atomic_store(&r->stream, s);
    rasio__uring_push(rasio__uring_state(loop), r);
    rc = 0;
  }
  rasio__mutex_unlock(&ev->arm_lock);
  if (rc != 0) {
    rasio__mutex_destroy(&s->mu);
    rasio__free(s->q);
    rasio__free(s);
    return rc;
  }
  rasio__loop_wake(loop);
  return 0;
}

/* What a stream holds, in buffers: the queue's, and those copied out to its spill. */
static unsigned holding(const ustream_t *s) { return s->qlen + s->nspill; }

/* Whether a paused receive may start again: the owner has read nearly all of it; mu held. */
static bool may_resume(const ustream_t *s) {
  return atomic_load(&s->paused) && s->spill == NULL && s->qlen <= RX_RESUME;
}

/* Copies from the spill into buf; the spill is freed once read. */
static size_t take_spill(ustream_t *s, char *buf, size_t len) {
  size_t n = s->spill_len - s->spill_off;
  if (n > len) n = len;
  memcpy(buf, s->spill + s->spill_off, n);
  s->spill_off += n;
  if (s->spill_off == s->spill_len) {
    rasio__free(s->spill);
    s->spill = NULL;
    s->spill_len = s->spill_off = 0;
    s->nspill = 0;
  }
  return n;
}

/* Copies what the stream holds into buf; the buffers read to their end go into done. */
static size_t take(ustream_t *s, const ubufs_t *b, char *buf, size_t len, uint16_t *done,
                   unsigned *ndone) {
  size_t got = s->spill != NULL ? take_spill(s, buf, len) : 0;
  while (got < len && s->qlen > 0) {
    unsigned i = s->qhead;
    size_t n = s->q[i].len - s->q[i].off;
    if (n > len - got) n = len - got;
    memcpy(buf + got, b->mem + (size_t)s->q[i].bid * BUF_SIZE + s->q[i].off, n);
    got += n;
    s->q[i].off += (uint32_t)n;
    if (s->q[i].off < s->q[i].len) break;
    done[(*ndone)++] = s->q[i].bid;
    s->qhead = (i + 1) % s->qcap;
    s->qlen--;
  }
  return got;
}

/* Moves everything a stream holds into one new spill (the old spill's bytes, then the
 * queue's) and frees the queue's buffers, so that connections whose owners do not read
 * (muted ones) cannot keep every buffer from the others. The buffers moved still count in
 * holding() until they are read. Left as it is if the memory cannot be had. */
static void spill(ubufs_t *b, ustream_t *s) {
  rasio__mutex_lock(&s->mu);
  size_t size = s->spill_len - s->spill_off;
  for (unsigned k = 0; k < s->qlen; k++) {
    const qent_t *e = &s->q[(s->qhead + k) % s->qcap];
    size += e->len - e->off;
  }
  unsigned units = holding(s);
  char *p = s->qlen > 0 ? rasio__malloc(size) : NULL;
  if (p != NULL) {
    uint16_t done[BUF_COUNT];
    unsigned ndone = 0;
    size_t got = take(s, b, p, size, done, &ndone); /* all of it: the queue ends empty */
    for (unsigned i = 0; i < ndone; i++) buf_add(b, done[i]);
    s->spill = p;
    s->spill_off = 0;
    s->spill_len = got;
    s->nspill = units;
  }
  rasio__mutex_unlock(&s->mu);
}

static int recv_stream(rasio_event_t *ev, void *buf, size_t len, size_t *n) {
  urec_t *r = ev->be_data;
  ustream_t *s = stream_of(r);
  uint16_t done[BUF_COUNT];
  unsigned ndone = 0;
  rasio__mutex_lock(&s->mu);
  /* bufs is read only once something was received: the loop thread made it before it
   * queued anything (under mu); an owner that reads before that must not touch it. */
  bool some = s->qlen > 0 || s->spill != NULL;
  size_t got = some ? take(s, rasio__uring_state(ev->loop)->bufs, buf, len, done, &ndone) : 0;
  int end = s->end;
  bool resume = may_resume(s);
  rasio__mutex_unlock(&s->mu);
  give_back(ev->loop, done, ndone);
  if (resume) {
    rasio__uring_push(rasio__uring_state(ev->loop), r);
    rasio__loop_wake(ev->loop);
  }
  *n = got;
  if (got > 0 || end == 1) return RASIO_IO_OK;
  return end < 0 ? end : RASIO_IO_RETRY;
}

static int send_stream(rasio_event_t *ev, const rasio_iovec_t *iov, size_t iovcnt) {
  urec_t *r = ev->be_data;
  ustream_t *s = stream_of(r);
  if (atomic_load(&s->send_busy)) return RASIO_EBUSY;
  if (iovcnt > SEND_IOV) iovcnt = SEND_IOV;
  for (size_t i = 0; i < iovcnt; i++) {
    s->iov[i].iov_base = (void *)(uintptr_t)iov[i].base;
    s->iov[i].iov_len = iov[i].len;
  }
  s->msg.msg_iovlen = iovcnt;
  atomic_store(&s->send_busy, true);
  atomic_store(&s->send_req, true); /* publishes iov and msg to the loop */
  rasio__uring_push(rasio__uring_state(ev->loop), r);
  rasio__loop_wake(ev->loop);
  return 0;
}

static bool sent_stream(rasio_event_t *ev, int64_t *result) {
  ustream_t *s = stream_of(ev->be_data);
  if (!atomic_load(&s->send_done)) return false;
  *result = atomic_load(&s->send_res);
  atomic_store(&s->send_done, false);
  atomic_store(&s->send_busy, false);
  return true;
}

static int failed_stream(rasio_event_t *ev) {
  ustream_t *s = stream_of(ev->be_data);
  rasio__mutex_lock(&s->mu);
  int end = s->end < 0 ? s->end : 0;
  rasio__mutex_unlock(&s->mu);
  return end;
}

const rasio__stream_ops_t rasio__uring_stream_ops = {.start = start,
                                                     .recv = recv_stream,
                                                     .send = send_stream,
                                                     .sent = sent_stream,
                                                     .failed = failed_stream};

/* --- the loop's side ------------------------------------------------------------------------ */

static bool sqe_recv(uring_state_t *st, urec_t *r, ustream_t *s) {
  struct io_uring_sqe *sqe = rasio__ring_sqe(&st->ring);
  if (sqe == NULL) return false;
  sqe->opcode = IORING_OP_RECV;
  sqe->fd = (int)r->ev->fd;
  sqe->flags = IOSQE_BUFFER_SELECT;
  sqe->buf_group = BGID;
  sqe->ioprio = IORING_RECV_MULTISHOT;
  sqe->user_data = rasio__uring_ud(r->ev, K_RECV, ++s->recv_seq);
  s->recv_live = true;
  s->recv_n++;
  r->nlive++;
  return true;
}

/* The send, behind a POLLOUT poll linked to it if the last one said EAGAIN. Room for both
 * is made first: taking the second entry must not submit the first half-written. */
static bool sqe_send(uring_state_t *st, urec_t *r, ustream_t *s) {
  if (!rasio__ring_room(&st->ring, s->send_wait ? 2 : 1)) return false;
  struct io_uring_sqe *poll = s->send_wait ? rasio__ring_sqe(&st->ring) : NULL;
  struct io_uring_sqe *sqe = rasio__ring_sqe(&st->ring);
  ++s->send_seq;
  if (poll != NULL) {
    poll->opcode = IORING_OP_POLL_ADD;
    poll->fd = (int)r->ev->fd;
    poll->poll32_events = POLLOUT;
    poll->flags = IOSQE_IO_LINK;
    poll->user_data = rasio__uring_ud(r->ev, K_SEND_POLL, s->send_seq);
    r->nlive++;
  }
  sqe->opcode = IORING_OP_SENDMSG;
  sqe->fd = (int)r->ev->fd;
  sqe->addr = (uint64_t)(uintptr_t)&s->msg;
  sqe->len = 1;
  sqe->msg_flags = MSG_NOSIGNAL;
  sqe->user_data = rasio__uring_ud(r->ev, K_SEND, s->send_seq);
  s->send_live = true;
  s->linked = poll != NULL;
  s->send_wait = false;
  r->nlive++;
  return true;
}

/* Reports what is ready of what w wants; the report uses the arm up (as a oneshot poll). */
static void report(urec_t *r, ustream_t *s, uint32_t w) {
  uint32_t ready = 0;
  if (w & RASIO_READ) {
    rasio__mutex_lock(&s->mu);
    if (s->qlen > 0 || s->end != 0) ready |= RASIO_READ;
    rasio__mutex_unlock(&s->mu);
  }
  if ((w & RASIO_WRITE) && atomic_load(&s->send_done)) ready |= RASIO_WRITE;
  if (ready == 0) return;
  (void)atomic_compare_exchange_strong(&r->want, &w, w & ~ready); /* else ctl() queued it */
  rasio__event_ready(r->ev, ready);
}

/* Cancels what is in flight. A send behind its linked poll is not yet a request the kernel
 * can find (a cancel of it says ENOENT), so the poll is cancelled first, which ends the
 * send too (io_uring_sqe_set_flags(3), IOSQE_IO_LINK: "That next SQE will not be started
 * before the previous request completes"; the commit that added links: "Any SQE in a chain
 * that gets canceled due to any of the above errors, will get an CQE fill with -ECANCELED",
 * a cancel being such an error since "request cancellations should break links"); if the
 * poll had fired already, the send is out on its own and the second cancel finds it
 * (uring.c's on_cancel follows an EALREADY of the poll's cancel to the send). */
static bool cancel_requests(uring_state_t *st, urec_t *r, ustream_t *s) {
  if (s->recv_live && !rasio__uring_sqe_cancel(st, rasio__uring_ud(r->ev, K_RECV, s->recv_seq)))
    return false;
  s->recv_live = false;
  if (s->send_live && s->linked &&
      !rasio__uring_sqe_cancel(st, rasio__uring_ud(r->ev, K_SEND_POLL, s->send_seq)))
    return false;
  s->linked = false;
  if (s->send_live && !rasio__uring_sqe_cancel(st, rasio__uring_ud(r->ev, K_SEND, s->send_seq)))
    return false;
  s->send_live = false;
  return true;
}

bool rasio__ustream_apply(uring_state_t *st, urec_t *r, uint32_t w) {
  ustream_t *s = stream_of(r);
  if (w & W_REMOVE) return cancel_requests(st, r, s);
  if (bufs_get(st) != 0) {
    rasio__mutex_lock(&s->mu);
    if (s->end == 0) s->end = RASIO_ENOMEM; /* the owner hears it at its next read */
    rasio__mutex_unlock(&s->mu);
  }
  rasio__mutex_lock(&s->mu);
  if (may_resume(s)) atomic_store(&s->paused, false);
  else if (holding(s) >= RXQ) atomic_store(&s->paused, true); /* its receive ended full */
  bool receive = s->end == 0;
  rasio__mutex_unlock(&s->mu);
  if (receive && s->recv_n == 0 && !atomic_load(&s->paused) && !s->starved &&
      !sqe_recv(st, r, s))
    return false;
  if (!s->send_live && atomic_load(&s->send_req)) {
    if (!sqe_send(st, r, s)) return false;
    atomic_store(&s->send_req, false);
  }
  report(r, s, w);
  return true;
}

/* Doubles the queue; mu held. A queue holds at most BUF_COUNT buffers, so it is made that
 * large at once rather than risk an allocation failure here, where a completion's bytes
 * could not be put anywhere. */
static void grow(ustream_t *s) {
  static_assert(BUF_COUNT >= RXQ, "a stream's queue fits the ring");
  qent_t *q = rasio__malloc(BUF_COUNT * sizeof *q);
  if (q == NULL) abort(); /* 3 KiB; see above */
  for (unsigned k = 0; k < s->qlen; k++) q[k] = s->q[(s->qhead + k) % s->qcap];
  rasio__free(s->q);
  s->q = q;
  s->qcap = BUF_COUNT;
  s->qhead = 0;
}

/* The buffer a receive completion names (with IORING_CQE_F_BUFFER set). */
static uint16_t cqe_bid(const struct io_uring_cqe *cqe) {
  return (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
}

/* A receive completion that names a buffer took it from the ring; true if it holds bytes
 * (a buffer named with nothing in it is free again at once). */
static bool buf_taken(ubufs_t *b, const struct io_uring_cqe *cqe) {
  if (!(cqe->flags & IORING_CQE_F_BUFFER)) return false;
  b->in_ring--;
  b->used++;
  if (cqe->res > 0) return true;
  buf_add(b, cqe_bid(cqe));
  return false;
}

/* A receive's completion: bytes into the queue (data: buf_taken said so), or the end. */
static void on_recv(uring_state_t *st, urec_t *r, ustream_t *s, const struct io_uring_cqe *cqe,
                    bool data, bool more) {
  int res = cqe->res;
  bool full = false;
  uint16_t bid = cqe_bid(cqe);
  rasio__mutex_lock(&s->mu);
  if (data) {
    st->bufs->held[bid] = true;
    if (s->qlen == s->qcap) grow(s); /* cannot fail: the ring has at most BUF_COUNT */
    unsigned i = (s->qhead + s->qlen) % s->qcap;
    s->q[i].bid = bid;
    s->q[i].len = (uint32_t)res;
    s->q[i].off = 0;
    s->qlen++;
    full = holding(s) >= RXQ;
  } else if (res == 0) {
    s->end = 1;
  } else if (res == -ENOBUFS) {
    s->starved = true;
    atomic_store(&st->bufs->starved, true);
  } else if (res < 0 && res != -ECANCELED) {
    errno = -res;
    s->end = rasio__os_error();
  }
  rasio__mutex_unlock(&s->mu);
  if (full && more && s->recv_live && rasio__uring_sqe_cancel(
                                          st, rasio__uring_ud(r->ev, K_RECV, s->recv_seq))) {
    s->recv_live = false;
    atomic_store(&s->paused, true);
  }
  if (!more && !(atomic_load(&r->want) & W_REMOVE)) rasio__uring_push(st, r); /* again */
}

/* A send's completion: its result for the owner, or another go if it said EAGAIN (or lost
 * its linked poll, which fails only with the socket, and the send will say how). */
static void on_send(uring_state_t *st, urec_t *r, ustream_t *s, int res) {
  s->send_live = false;
  bool removing = (atomic_load(&r->want) & W_REMOVE) != 0;
  if (!removing && (res == -EAGAIN || (res == -ECANCELED && s->linked))) {
    s->send_wait = true;
    atomic_store(&s->send_req, true);
    rasio__uring_push(st, r);
    return;
  }
  int64_t v = res;
  if (res < 0) {
    errno = -res;
    v = rasio__os_error();
  }
  atomic_store(&s->send_res, v);
  atomic_store(&s->send_done, true);
  if (atomic_load(&s->send_req)) rasio__uring_push(st, r);
}

void rasio__ustream_cqe(uring_state_t *st, urec_t *r, const struct io_uring_cqe *cqe) {
  ustream_t *s = stream_of(r);
  bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  unsigned kind = rasio__uring_kind(cqe->user_data);
  uint8_t seq = rasio__uring_seq(cqe->user_data);
  if (!more) r->nlive--;
  if (kind == K_RECV) {
    bool current = s->recv_live && seq == (s->recv_seq & 0x7f);
    if (!more) s->recv_n--;
    if (!more && current) s->recv_live = false;
    bool data = buf_taken(st->bufs, cqe);
    if (current || cqe->res >= 0) on_recv(st, r, s, cqe, data, more && current);
    if (!more && s->recv_n == 0) rasio__uring_push(st, r); /* a receive may start now */
  } else if (kind == K_SEND) {
    on_send(st, r, s, cqe->res);
  }
  uint32_t w = atomic_load(&r->want);
  if (w & W_REMOVE) {
    if (r->nlive == 0) rasio__uring_push(st, r);
    return;
  }
  report(r, s, w);
}

int rasio__ustream_ring_moved(uring_state_t *st) {
  if (st->bufs == NULL) return 0;
  for (urec_t *r = st->all; r != NULL; r = r->all_next) {
    ustream_t *s = stream_of(r);
    if (s == NULL) continue;
    if (s->send_live) atomic_store(&s->send_req, true); /* cancelled before it sent */
    s->send_live = s->recv_live = s->starved = false;
    s->recv_n = 0;
  }
  return bufs_register(st);
}

void rasio__ustream_free(uring_state_t *st, urec_t *r) {
  ustream_t *s = stream_of(r);
  if (s == NULL) return;
  for (; s->qlen > 0; s->qlen--, s->qhead = (s->qhead + 1) % s->qcap)
    buf_add(st->bufs, s->q[s->qhead].bid);
  rasio__free(s->spill);
  rasio__mutex_destroy(&s->mu);
  rasio__free(s->q);
  rasio__free(s);
  atomic_store(&r->stream, NULL);
}

void rasio__ustream_fini(uring_state_t *st) {
  if (st->bufs != NULL) bufs_free(st->bufs);
  st->bufs = NULL;
}
