/* SPDX-License-Identifier: BSD-2-Clause */
/* The uring floor: the leanest echo server this benchmark knows how to write on io_uring
 * (liburing), the reference for rasio's `uring` rows as echo_epoll.c is for the epoll ones.
 *
 * server.h's contract where it applies: one thread, TCP_NODELAY on every accepted socket,
 * everything echoed in order, the "backend" and "listening" lines, rusage on SIGTERM. What
 * differs is how bytes move, which is the point of the row:
 *   - one multishot accept on the listening socket, one multishot recv per connection, both
 *     re-armed only when a completion says they ended (no IORING_CQE_F_MORE);
 *   - recv picks its buffer from a provided-buffer ring (64 KiB buffers, server.h's read
 *     size) and the echo is sent from that same buffer: no copy;
 *   - one send in flight per connection, as an SQE; what arrives meanwhile waits in the
 *     connection's queue, in order, and the buffer goes back once its send completed;
 *   - one io_uring_submit_and_wait per iteration: every SQE made while handling the previous
 *     completions goes in with the wait (a full SQ forces an extra submit, counted as any);
 *   - IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN; if the kernel refuses them the
 *     server says so on stderr and runs a plain ring, reporting backend "uring-plain".
 * The echo contract's back-pressure ("read nothing more while a write is pending") becomes a
 * queue: a connection keeps receiving while its send is in flight. The load generator bounds
 * what it has in flight (one message, or PUMP_WINDOW), so the queue stays bounded here; a
 * peer that never reads could grow it, which a benchmark peer does not guard against.
 *
 * Buffers. Touching a buffer that fell out of the cache costs more than the recv itself at
 * 16 KiB, so few buffers circulate. The kernel takes buffers from the ring's head in the
 * order they were added, so every buffer in the ring is touched once per trip round it: the
 * ring must hold little more than one iteration consumes. It is topped up to `fill`: twice
 * the most buffers one iteration consumed lately (a peak that decays slowly), at least
 * FILL_MIN; a recv that finds the ring empty ends with -ENOBUFS and is re-armed, and that
 * iteration's count raises the peak. Freed buffers go on a stack and the ring is topped up
 * from its top, the most recently returned first. Buffers live in one MAP_NORESERVE arena
 * and are made on first need, so untouched ones cost no memory.
 *
 * Exit status 77 (with the reason on stderr) when io_uring cannot run here at all: run.sh
 * reports the row as skipped, not failed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"

#define EXIT_UNAVAILABLE 77
#define SQ_ENTRIES 512
#define CQ_ENTRIES 8192     /* a recv and a send per connection per iteration fit */
#define BUF_SIZE BENCH_BUF_SIZE
#define MAX_BUFS 4096       /* arena: 256 MiB of address space, touched on use only */
#define RING_ENTRIES 1024   /* the kernel ring's capacity: the most `fill` may grow to */
#define FILL_MIN 16
#define PEAK_DECAY 256 /* the peak loses 1/PEAK_DECAY of itself per iteration */
#define PEAK_ONE 256   /* the peak is kept in 1/PEAK_ONE buffers, so small ones decay too */
#define BGID 0
#define NO_BUF (-1)

/* What a completion belongs to: the low bits of its user_data (conn_t is 8-aligned). */
enum { TAG_IGNORE = 0, TAG_ACCEPT = 1, TAG_RECV = 2, TAG_SEND = 3, TAG_MASK = 7 };

/* One connection; touched only by the one thread. Its send queue links buffers through
 * meta[].next; the head is the one in flight while `sending`. */
typedef struct conn {
  int fd;
  int32_t q_head, q_tail;
  bool recv_armed; /* a multishot recv may still post completions */
  bool sending;    /* a send of q_head is in flight */
  bool closing;    /* freed once neither of the above holds */
} conn_t;

/* A received buffer waiting to be echoed: bytes [off, len) are still to send. */
typedef struct buf_meta {
  uint32_t off, len;
  int32_t next;
} buf_meta_t;

static struct {
  struct io_uring ring;
  int lfd;
  struct io_uring_buf_ring *br;
  char *arena;
  buf_meta_t meta[MAX_BUFS];
  uint16_t free_stack[MAX_BUFS]; /* returned buffers, the most recent on top */
  unsigned nfree, nmade;
  unsigned posted; /* buffers given to the ring and not yet seen in a completion */
  unsigned fill;   /* how many the ring is topped up to */
  unsigned used;   /* buffers consumed in this iteration's completions */
  unsigned peak;   /* the most `used` lately, decaying, in 1/PEAK_ONE buffers */
  volatile unsigned long long enters; /* io_uring_enter calls: see bench_server_count */
} U;

static void die_rc(const char *what, int rc) {
  fprintf(stderr, "bench-echo_uring: %s: %s\n", what, strerror(-rc));
  exit(1);
}

static char *buf_addr(int bid) { return U.arena + (size_t)bid * BUF_SIZE; }

static void buf_free(int bid) { U.free_stack[U.nfree++] = (uint16_t)bid; }

/* Tops the ring up to `fill`, most recently returned buffers first. The ring's tail is
 * ours and its head the kernel's (io_uring_register_buf_ring(3): "tail is the index at
 * which the application can insert new buffers for consumption by requests"), so entries
 * go in at the tail and only io_uring_buf_ring_advance publishes them. */
static void refill(void) {
  int mask = io_uring_buf_ring_mask(RING_ENTRIES);
  int n = 0;
  while (U.posted + (unsigned)n < U.fill) {
    int bid;
    if (U.nfree > 0) bid = U.free_stack[--U.nfree];
    else if (U.nmade < MAX_BUFS) bid = (int)U.nmade++;
    else break; /* all in use: a recv that misses one fails and is re-armed until some return */
    io_uring_buf_ring_add(U.br, buf_addr(bid), BUF_SIZE, (unsigned short)bid, mask, n++);
  }
  if (n > 0) {
    io_uring_buf_ring_advance(U.br, n);
    U.posted += (unsigned)n;
  }
}

/* Once per iteration: the fill level from what this iteration's completions consumed. */
static void fill_update(void) {
  unsigned f, used = U.used * PEAK_ONE;
  U.peak = used > U.peak ? used : U.peak - U.peak / PEAK_DECAY;
  U.used = 0;
  f = 2 * ((U.peak + PEAK_ONE - 1) / PEAK_ONE);
  U.fill = f < FILL_MIN ? FILL_MIN : f > RING_ENTRIES ? RING_ENTRIES : f;
}

/* A free SQE. A full submission queue is submitted first (with the ring topped up, as the
 * recvs in it may run at once). */
static struct io_uring_sqe *sqe_get(void) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&U.ring);
  if (sqe == NULL) {
    refill();
    int rc = io_uring_submit(&U.ring);
    U.enters++;
    if (rc < 0) die_rc("io_uring_submit", rc);
    if ((sqe = io_uring_get_sqe(&U.ring)) == NULL) die_rc("io_uring_get_sqe", -EBUSY);
  }
  return sqe;
}

static uint64_t tag(conn_t *c, int t) { return (uint64_t)(uintptr_t)c | (uint64_t)t; }

static void accept_arm(void) {
  struct io_uring_sqe *sqe = sqe_get();
  io_uring_prep_multishot_accept(sqe, U.lfd, NULL, NULL, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, TAG_ACCEPT);
}

/* io_uring_prep_recv_multishot(3): "It requires length to be 0, the IOSQE_BUFFER_SELECT
 * flag to be set and no MSG_WAITALL flag to be set." */
static void recv_arm(conn_t *c) {
  struct io_uring_sqe *sqe = sqe_get();
  io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = BGID;
  io_uring_sqe_set_data64(sqe, tag(c, TAG_RECV));
  c->recv_armed = true;
}

/* Sends what is left of the queue's head. */
static void send_head(conn_t *c) {
  buf_meta_t *m = &U.meta[c->q_head];
  struct io_uring_sqe *sqe = sqe_get();
  io_uring_prep_send(sqe, c->fd, buf_addr(c->q_head) + m->off, m->len - m->off, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, tag(c, TAG_SEND));
  c->sending = true;
}

/* Drops every queued buffer except one whose send is still in flight. */
static void queue_drop(conn_t *c) {
  int32_t bid = c->sending ? U.meta[c->q_head].next : c->q_head;
  while (bid != NO_BUF) {
    int32_t next = U.meta[bid].next;
    buf_free(bid);
    bid = next;
  }
  if (c->sending) {
    U.meta[c->q_head].next = NO_BUF;
    c->q_tail = c->q_head;
  } else {
    c->q_head = c->q_tail = NO_BUF;
  }
}

/* Ends a connection: stops its recv (the cancel's own completion is ignored) and frees it
 * once nothing in flight can still name it. */
static void conn_close(conn_t *c) {
  if (!c->closing && c->recv_armed) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_cancel64(sqe, tag(c, TAG_RECV), 0);
    io_uring_sqe_set_data64(sqe, TAG_IGNORE);
  }
  c->closing = true;
  queue_drop(c);
}

static void conn_maybe_free(conn_t *c) {
  if (!c->closing || c->recv_armed || c->sending) return;
  close(c->fd);
  free(c);
}

static void on_accept(struct io_uring_cqe *cqe) {
  int one = 1;
  if (!(cqe->flags & IORING_CQE_F_MORE)) accept_arm();
  if (cqe->res < 0) {
    /* a connection that died in the backlog, or a transient shortage: keep accepting */
    if (cqe->res == -ECONNABORTED || cqe->res == -EINTR || cqe->res == -EAGAIN) return;
    die_rc("accept", cqe->res);
  }
  conn_t *c = calloc(1, sizeof *c);
  if (c == NULL) bench_die("calloc");
  c->fd = cqe->res;
  c->q_head = c->q_tail = NO_BUF;
  if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) bench_die("TCP_NODELAY");
  recv_arm(c);
}

/* Appends received buffer bid (len bytes) to the queue; sends it if nothing is in flight. */
static void queue_push(conn_t *c, int bid, uint32_t len) {
  U.meta[bid] = (buf_meta_t){.off = 0, .len = len, .next = NO_BUF};
  if (c->q_tail != NO_BUF) U.meta[c->q_tail].next = bid;
  else c->q_head = bid;
  c->q_tail = bid;
  if (!c->sending) send_head(c);
}

/* io_uring_enter(2), IOSQE_BUFFER_SELECT: "If no buffers are available and this flag is
 * set, then the request will fail with -ENOBUFS as the error code." That ends the multishot
 * recv with the data still in the socket: re-armed, with a larger fill next time. */
static void on_recv(conn_t *c, struct io_uring_cqe *cqe) {
  bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  int bid = NO_BUF;
  if (cqe->flags & IORING_CQE_F_BUFFER) {
    bid = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    U.posted--;
    U.used++;
  }
  if (!more) c->recv_armed = false;
  if (bid != NO_BUF) {
    if (cqe->res > 0 && !c->closing) queue_push(c, bid, (uint32_t)cqe->res);
    else buf_free(bid);
  }
  if (!more && !c->closing) {
    if (cqe->res == -ENOBUFS || cqe->res > 0) {
      recv_arm(c); /* > 0: ended for another reason (e.g. a full CQ), and data may follow */
    } else {
      conn_close(c); /* 0: the peer closed, the normal end; < 0: an error */
    }
  }
  conn_maybe_free(c);
}

/* A send may move fewer bytes than asked: the rest goes out next, before anything else. */
static void on_send(conn_t *c, struct io_uring_cqe *cqe) {
  int32_t bid = c->q_head;
  c->sending = false;
  if (cqe->res <= 0) {
    if (!c->closing) conn_close(c); /* the peer is gone; the queue goes below */
  } else if ((U.meta[bid].off += (uint32_t)cqe->res) < U.meta[bid].len) {
    if (!c->closing) send_head(c);
  } else {
    c->q_head = U.meta[bid].next;
    if (c->q_head == NO_BUF) c->q_tail = NO_BUF;
    buf_free(bid);
    if (c->q_head != NO_BUF && !c->closing) send_head(c);
  }
  if (c->closing) queue_drop(c); /* nothing is sent any more: every queued buffer returns */
  conn_maybe_free(c);
}

static void on_cqe(struct io_uring_cqe *cqe) {
  uint64_t ud = io_uring_cqe_get_data64(cqe);
  conn_t *c = (conn_t *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);
  switch ((int)(ud & TAG_MASK)) {
    case TAG_ACCEPT: on_accept(cqe); break;
    case TAG_RECV: on_recv(c, cqe); break;
    case TAG_SEND: on_send(c, cqe); break;
    default: break; /* a cancel's own completion */
  }
}

/* Errors that mean io_uring cannot run here (absent, kernel.io_uring_disabled, seccomp). */
static bool unavailable(int rc) { return rc == -ENOSYS || rc == -EPERM || rc == -EACCES; }

/* Sets up the ring; returns the backend name to report. io_uring_setup(2) on
 * IORING_SETUP_DEFER_TASKRUN: "This flag requires the IORING_SETUP_SINGLE_ISSUER flag to be
 * set, and also enforces that the call to io_uring_enter(2) is called from the same thread
 * that submitted requests." One thread does everything here, so both hold. An older kernel
 * rejects unknown flags, which is where the plain ring comes in. */
static const char *ring_setup(void) {
  struct io_uring_params p;
  const char *name = "uring";
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
  p.cq_entries = CQ_ENTRIES;
  int rc = io_uring_queue_init_params(SQ_ENTRIES, &U.ring, &p);
  if (rc == -EINVAL) {
    fprintf(stderr, "bench-echo_uring: note: the kernel refused SINGLE_ISSUER|DEFER_TASKRUN (%s);"
                    " running a plain ring (backend uring-plain)\n", strerror(-rc));
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = CQ_ENTRIES;
    rc = io_uring_queue_init_params(SQ_ENTRIES, &U.ring, &p);
    name = "uring-plain";
  }
  if (rc < 0) {
    fprintf(stderr, "bench-echo_uring: io_uring unavailable: io_uring_setup: %s\n", strerror(-rc));
    exit(unavailable(rc) ? EXIT_UNAVAILABLE : 1);
  }
  return name;
}

/* The provided-buffer ring. Debian 12's liburing 2.3 has no io_uring_setup_buf_ring, so
 * the memory is mapped here; io_uring_register_buf_ring(3): "The memory must be page
 * aligned" and its size "is the product of ring_entries and the size of struct
 * io_uring_buf", ring_entries "must be a power-of-2". */
static void buffers_setup(void) {
  size_t ring_bytes = RING_ENTRIES * sizeof(struct io_uring_buf);
  void *mem = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) bench_die("mmap (buffer ring)");
  U.br = mem;
  io_uring_buf_ring_init(U.br);
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (uint64_t)(uintptr_t)mem;
  reg.ring_entries = RING_ENTRIES;
  reg.bgid = BGID;
  int rc = io_uring_register_buf_ring(&U.ring, &reg, 0);
  if (rc < 0) {
    fprintf(stderr, "bench-echo_uring: io_uring unavailable: provided-buffer rings (kernel 5.19+):"
                    " io_uring_register_buf_ring: %s\n", strerror(-rc));
    exit(rc == -EINVAL || unavailable(rc) ? EXIT_UNAVAILABLE : 1);
  }
  U.arena = mmap(NULL, (size_t)MAX_BUFS * BUF_SIZE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (U.arena == MAP_FAILED) bench_die("mmap (buffers)");
  U.fill = FILL_MIN;
}

/* The listening socket is made blocking: io_uring arms its own wait either way
 * (io_uring_enter(2), IOSQE_ASYNC: "Normal operation for io_uring is to try and issue an sqe
 * as non-blocking first, and if that fails, execute it in an async manner."), and a
 * non-blocking file must not turn "no connection yet" into an -EAGAIN completion. */
static void listen_setup(int lfd) {
  int fl = fcntl(lfd, F_GETFL);
  if (fl < 0 || fcntl(lfd, F_SETFL, fl & ~O_NONBLOCK) < 0) bench_die("fcntl");
  U.lfd = lfd;
}

int main(int argc, char **argv) {
  const char *backend = ring_setup();
  buffers_setup();
  listen_setup(bench_server_start(argc, argv, "uring", backend));
  bench_server_count("io_uring_enter", &U.enters);
  accept_arm();
  for (;;) {
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    fill_update();
    refill();
    /* Counted as one io_uring_enter each: io_uring_submit_and_wait(3) "submits the next
     * requests from the submission queue belonging to the ring and waits for wait_nr
     * completion events". Should liburing ever find one waiting and skip the call, the
     * count is an upper bound. */
    int rc = io_uring_submit_and_wait(&U.ring, 1);
    U.enters++;
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
      die_rc("io_uring_submit_and_wait", rc);
    io_uring_for_each_cqe(&U.ring, head, cqe) {
      on_cqe(cqe);
      n++;
    }
    io_uring_cq_advance(&U.ring, n);
  }
}
