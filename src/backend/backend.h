/* SPDX-License-Identifier: BSD-2-Clause */
/* The backend contract: what every kernel mechanism (epoll, kqueue, the Windows port with
 * its providers) must do, and nothing more. Timers, signals, stdin policy, executors and
 * the event lifecycle live above this line and are written once.
 *
 * A backend registers sockets, changes which directions are armed, removes them, waits
 * with a timeout, and wakes a waiting loop. It reports readiness by calling
 * rasio__event_ready(ev, dirs) from inside wait(), on the loop thread, with dirs a set of
 * RASIO_READ / RASIO_WRITE already folded from the kernel's bits:
 *   - READ  for readable, peer hang-up (half or full) and socket errors;
 *   - WRITE for writeable, connect completion (success or failure), errors and full
 *     hang-up. A failed connect must produce WRITE even if the kernel only says "error".
 * The core gates dirs by what the owner armed, so a backend may over-report.
 *
 * Trigger modes come from ev->flags: RASIO_ONESHOT (each direction once until re-armed),
 * RASIO_LEVEL (persistent level), neither (persistent edge). For ONESHOT the core passes the
 * exact set of directions to arm; a backend whose kernel disarms every direction on any
 * report (epoll, PSN) sets RASIO__BE_ONESHOT_DISARMS_ALL and the core re-arms the
 * remaining directions itself, so read and write are independent arms everywhere.
 *
 * A backend without a kernel edge that holds rasio's contract (the Windows port: PSN's edge
 * misses readiness that exists at registration) sets RASIO__BE_EDGE_BY_ONESHOT. The core
 * then runs an edge event on oneshot arms: ctl(ADD/ARM) get the exact directions, as for
 * ONESHOT, and the core re-arms a direction when the owner meets would-block in it or
 * reads short (rasio__event_retry, rasio__event_short_read). The backend must register such
 * an event with a level oneshot trigger.
 *
 * Threads: ctl() may be called from any thread, concurrently with wait() on the loop
 * thread; the core serialises ctl() per event (ev->arm_lock), never globally. wake() may be
 * called from any thread and from a signal handler: it must be async-signal-safe.
 *
 * Removal: ctl(DEL) returns 0 when the kernel can no longer produce anything naming the
 * event once wait() returns (epoll DEL, kevent EV_DELETE), or RASIO__PENDING when that is
 * only known later (PSN REMOVE, AFD cancel); the backend then calls rasio__event_gone(ev)
 * from inside wait() on the loop thread when the last packet naming ev was dequeued. Any
 * other result means the registration is not known to the kernel (it is equally gone).
 */
#ifndef RASIO_BACKEND_H
#define RASIO_BACKEND_H

#include <stdint.h>

#include "rasio.h"

enum rasio__ctl_op {
  RASIO__CTL_ADD = 1, /* register ev->fd; arm = directions to arm */
  RASIO__CTL_ARM = 2, /* ONESHOT: arm exactly these directions (0 = none) */
  RASIO__CTL_DEL = 3  /* remove the registration */
};

#define RASIO__PENDING 1 /* ctl(DEL): completion reported later by rasio__event_gone */

enum {
  RASIO__BE_ONESHOT_DISARMS_ALL = 1u << 0, /* a oneshot report disarms every direction */
  RASIO__BE_EDGE_BY_ONESHOT = 1u << 1,     /* the core emulates edge with oneshot arms */
  RASIO__BE_BY_NAME_ONLY = 1u << 2         /* a test backend: used only when named */
};

/* Completion streams (optional): a connected stream socket whose bytes the backend receives
 * into buffers of its own and sends from the owner's memory, with no system call of the
 * owner's (the io_uring backend; src/stream.c is the net layer's door to it). The event is
 * an FD event with RASIO_ONESHOT READ|WRITE, and keeps its arm protocol: READ means bytes,
 * the end or an error are queued; WRITE means the send in flight finished. recv and send
 * run on the event's executor; start on any thread. */
typedef struct rasio__stream_ops {
  int (*start)(rasio_loop_t *loop, rasio_event_t *ev);
  /* Copies queued bytes: RASIO_IO_OK with *n (0: the end of the stream), RASIO_IO_RETRY,
   * or the RASIO_E* code the stream ended with. */
  int (*recv)(rasio_event_t *ev, void *buf, size_t len, size_t *n);
  /* Starts sending iov, whose memory must stay as it is until WRITE: 0, or EBUSY while a
   * send is in flight. */
  int (*send)(rasio_event_t *ev, const rasio_iovec_t *iov, size_t iovcnt);
  /* The finished send's result (bytes, or a RASIO_E* code); false if none finished. */
  bool (*sent)(rasio_event_t *ev, int64_t *result);
  /* The RASIO_E* code a receive failed with (a reset...), or 0. */
  int (*failed)(rasio_event_t *ev);
} rasio__stream_ops_t;

typedef struct rasio__backend {
  const char *name;
  uint32_t caps;
  /* 0 if this backend can run here and now, else RASIO_EUNAVAIL (or another code). */
  int (*probe)(void);
  /* Creates the backend's state in loop->be_state. */
  int (*init)(rasio_loop_t *loop);
  void (*fini)(rasio_loop_t *loop);
  int (*ctl)(rasio_loop_t *loop, rasio_event_t *ev, int op, uint32_t arm);
  /* Waits up to timeout_ns (0 = poll, UINT64_MAX = forever) and reports what is ready.
   * May return early. Returns 0 or a RASIO_E* for a failure of the wait itself. */
  int (*wait)(rasio_loop_t *loop, uint64_t timeout_ns);
  /* Makes a concurrent or the next wait() return. Async-signal-safe. */
  void (*wake)(rasio_loop_t *loop);
  const rasio__stream_ops_t *stream; /* NULL: no completion streams */
} rasio__backend_t;

/* The backends compiled into this build, best first, NULL-terminated. */
extern const rasio__backend_t *const rasio__backends[];

/* Core entry points for backends (loop thread, from inside wait()). */
void rasio__event_ready(rasio_event_t *ev, uint32_t flags);
void rasio__event_gone(rasio_event_t *ev);

#endif
