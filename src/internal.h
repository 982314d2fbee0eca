/* SPDX-License-Identifier: BSD-2-Clause */
/* Structs and functions shared by the loop's files (loop, event, timer, signal, stdin,
 * mailbox). Cross-file names carry the rasio__ prefix; file-private ones are static.
 */
#ifndef RASIO_INTERNAL_H
#define RASIO_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "backend/backend.h"
#include "os/os.h"
#include "rasio.h"

#define RASIO__EVENT_MAGIC 0x72617369u /* "rasi" */
#define RASIO__EVENT_DEAD 0xdeadeeeeu
#define RASIO__NO_INDEX SIZE_MAX
/* A backend's extra bit to rasio__event_ready, never delivered: the report says the peer's
 * end of stream (or an error) is already queued. A kernel edge will not report it again,
 * so the short-read rule must (rasio__event_short_read). */
#define RASIO__HUP (1u << 30)

/* An event's life. Transitions only move forward:
 *   ACTIVE       subscribed; notifications may be produced
 *   UNSUBSCRIBED unsubscribe() ran; the backend is letting go; nothing new is delivered
 *   DISPOSING    the loop produced DISPOSED; it is queued in a mailbox
 *   DELIVERING   DISPOSED has been handed to notify, which has not returned yet
 *   DISPOSED     notify returned from DISPOSED
 *   DOOMED       destroy() ran while DELIVERING: the deliverer frees the memory once
 *                notify returns, so a destroy on another thread never pulls the event
 *                from under its own DISPOSED notification
 *   DESTROYED    memory is being freed
 * destroy() is legal from DELIVERING on: inside the DISPOSED notification (what owners
 * usually do), or on any thread that learned of it. */
enum rasio__state {
  RASIO__ACTIVE = 1,
  RASIO__UNSUBSCRIBED,
  RASIO__DISPOSING,
  RASIO__DELIVERING,
  RASIO__DISPOSED,
  RASIO__DOOMED,
  RASIO__DESTROYED
};

enum rasio__kind { RASIO__KIND_FD = 1, RASIO__KIND_TIMER, RASIO__KIND_SIGNAL, RASIO__KIND_STDIN };

/* Standard input is watched by the backend (pipes, ttys, sockets), by an OS watcher thread
 * (Windows consoles and pipes) or, where nothing has readiness for it (regular files,
 * /dev/null), treated as always readable. */
enum rasio__stdin_mode { RASIO__STDIN_BACKEND = 1, RASIO__STDIN_WATCHER, RASIO__STDIN_ALWAYS };

/* A node of a mailbox's intrusive MPSC queue. */
typedef struct rasio__mnode {
  _Atomic(struct rasio__mnode *) next;
  bool is_event; /* else a user message */
} rasio__mnode_t;

struct rasio_event {
  uint32_t magic;
  uint32_t flags;   /* interest, immutable after new */
  uint8_t kind;     /* enum rasio__kind */
  bool noisy;
  bool own_fd;
  _Atomic uint32_t state;
  rasio_loop_t *loop;
  rasio_fd_t fd;
  rasio_notify_fn notify;
  void *ctx;
  rasio_mailbox_t *mailbox;

  /* Set by the loop when it delivers that direction; cleared only by the owner. */
  atomic_bool readable;
  atomic_bool writeable;
  atomic_bool hup; /* a report carried RASIO__HUP: the stream's end is queued (edge only) */

  /* Serialises every change of the kernel registration of this event (ctl ADD/ARM/DEL)
   * together with `armed`: epoll's MOD replaces the whole mask, so two threads changing
   * different directions would otherwise lose an arm. */
  rasio__mutex_t arm_lock;
  uint32_t armed; /* ONESHOT: directions armed in the kernel right now */

  /* Mailbox executor: the queue node and what it carries, packed so that a post and a
   * drain see flags and arg together: low 32 bits = flags (OR'ed), high 32 = arg (added).
   * Non-zero exactly while the node is queued or being drained. */
  rasio__mnode_t node;
  _Atomic uint64_t pending;

  rasio_event_t *fd_next; /* the loop's table of subscribed sockets (fdtab.c) */
  uint64_t token; /* what the backend gives the kernel to name ev (fdtab.c); 0: none */
  /* The loop's list of events whose removal is complete and that await DISPOSED. */
  rasio_event_t *dispose_next;
  /* The loop's list of synthetic readiness (posts, yields, always-readable stdin), under
   * loop->synth_mu; synth_flags is non-zero exactly while listed. */
  rasio_event_t *synth_next, *synth_prev;
  uint32_t synth_flags;

  union {
    struct {
      uint64_t deadline; /* monotonic ns, under loop->timer_mu */
      size_t index;      /* position in the heap or RASIO__NO_INDEX */
      uint64_t interval; /* repeat period in ns (0: one-shot), under loop->timer_mu */
    } timer;
    struct {
      int signo;
      unsigned seen;          /* the registry's delivery count last reported */
      unsigned report;        /* deliveries to report now (loop thread) */
      rasio_event_t *next;    /* the loop's subscriber list, under loop->sig_mu */
    } sig;
    struct {
      uint8_t mode;           /* enum rasio__stdin_mode */
    } in;
  } u;

  void *be_data; /* backend's per-event state, if it needs any */
};

struct rasio_loop {
  const rasio__backend_t *be;
  void *be_state;

  atomic_bool running;
  atomic_bool stop_requested;
  /* Set by the first waker after the loop last woke; cleared by the loop right after its
   * wait returns and before it looks at any queue. Coalesces wakeups into one syscall. */
  atomic_bool wake_pending;
  _Atomic uintptr_t thread_id; /* the thread inside run(), 0 if none */
  rasio__thread_t thread;      /* made by rasio_loop_start */
  atomic_bool started;         /* `thread` exists and is not joined yet */

  atomic_size_t noisy; /* noisy events from new to destroy */
  atomic_size_t live;  /* all events from new to destroy */

  /* Events whose backend removal is complete, pushed by any thread (lock-free; each event
   * is pushed exactly once), taken all at once by the loop thread. */
  _Atomic(rasio_event_t *) dispose_head;

  rasio__mutex_t synth_mu;
  rasio_event_t *synth_head, *synth_tail;
  atomic_bool synth_any;
  rasio_event_t *stdin_ev; /* the live stdin subscription, under synth_mu */

  rasio__mutex_t fd_mu; /* the subscribed sockets (fdtab.c) */
  rasio_event_t **fd_buckets;
  size_t fd_nbuckets, fd_count;
  /* Registration tokens (fdtab.c): chunks of slots, allocated as needed, never moved. */
  _Atomic(struct rasio__slot *) *slot_dir;
  uint32_t slot_used, slot_free; /* under fd_mu */

  rasio__mutex_t timer_mu;
  rasio_event_t **heap;
  size_t heap_len, heap_cap;
  /* heap_len, published for the loop thread's lock-free look (release by the writer under
   * timer_mu): an iteration with no timers takes neither the lock nor the clock. */
  atomic_size_t timer_count;

  rasio__mutex_t sig_mu;
  rasio_event_t *sig_head;   /* signal subscribers, under sig_mu */
  int sig_slot;              /* index in the signal registry's loop table, or -1 */
  unsigned sig_gen_seen;

  /* The net layer's resolver thread (src/net/resolver.c), made on first use. */
  _Atomic(struct rasio__resolver *) resolver;
  /* rasio_loop_call's FIFO (call.c), under call_mu; calls_pending counts what is queued
   * or running, so free can refuse while a call is still owed. */
  rasio__mutex_t call_mu;
  struct rasio__call *call_head, *call_tail;
  atomic_size_t calls_pending;
};

/* src/net/resolver.c: stops and joins the loop's resolver thread, if it has one. */
void rasio__resolver_fini(rasio_loop_t *loop);

/* loop.c */
bool rasio__on_loop_thread(const rasio_loop_t *loop);
/* Wakes the loop unless the caller is the loop thread itself (which re-checks its queues
 * before it blocks). */
void rasio__loop_wake(rasio_loop_t *loop);
/* Wakes the loop from any context, including a signal handler. */
void rasio__loop_wake_async(rasio_loop_t *loop);
/* The event's removal is complete: queue it for DISPOSED. Any thread. */
void rasio__loop_dispose(rasio_loop_t *loop, rasio_event_t *ev);
/* Queues a synthetic readiness for ev, delivered by the loop thread; nothing once ev is no
 * longer ACTIVE. Any thread. */
void rasio__loop_post_ready(rasio_loop_t *loop, rasio_event_t *ev, uint32_t flags);
/* Drops ev's queued synthetic readiness, if any: before its DISPOSED, and when a failed
 * rasio_event_new frees it. Any thread. */
void rasio__loop_unpost_ready(rasio_loop_t *loop, rasio_event_t *ev);

/* event.c */
/* Delivers flags to the owner through the event's executor (loop thread only). */
void rasio__deliver(rasio_event_t *ev, uint32_t flags, uint32_t arg);
/* Hands DISPOSED to the owner and lets destroy() free the event (executor thread). ev may
 * be freed when this returns. */
void rasio__event_deliver_disposed(rasio_event_t *ev);
/* Runs what a drained mailbox node carried (draining thread). */
void rasio__event_run_pending(rasio_event_t *ev, uint64_t pending);
/* The cheap guard of every public call that takes an event: on every message's path. */
static inline bool rasio__event_valid(const rasio_event_t *ev) {
  return ev != NULL && ev->magic == RASIO__EVENT_MAGIC;
}
/* The socket layer saw would-block on ev in direction dir. */
void rasio__event_retry(rasio_event_t *ev, uint32_t dir);
void rasio__event_short_read(rasio_event_t *ev);

/* fdtab.c: one subscription per socket per loop, and the tokens that name them */
#define RASIO__SLOT_CHUNKS 4096 /* times 1024 slots: the subscriptions a loop can hold */
/* A token's low word is a slot index below 2^22, so a backend may use bits 22..31 of it
 * for its own (uring.c names requests with them). */
#define RASIO__TOKEN_INDEX_BITS 22
struct rasio__slot;
int rasio__fdtab_init(rasio_loop_t *loop);
/* Adds ev and gives it a token (ev->token): 0, EEXIST, ENOMEM or ELIMIT. Any thread. */
int rasio__fdtab_add(rasio_loop_t *loop, rasio_event_t *ev);
/* Removes ev; from now on its token names nothing. */
void rasio__fdtab_remove(rasio_loop_t *loop, rasio_event_t *ev);
/* A token for a registration outside the set (stdin watched by the backend), and its
 * release. Any thread. */
int rasio__fdtab_token_take(rasio_loop_t *loop, rasio_event_t *ev);
void rasio__fdtab_token_give(rasio_loop_t *loop, rasio_event_t *ev);
/* The event a kernel report's token names, or NULL if the token is stale (loop thread). */
rasio_event_t *rasio__fdtab_lookup(rasio_loop_t *loop, uint64_t token);
void rasio__fdtab_fini(rasio_loop_t *loop);

/* timer.c (heap under loop->timer_mu) */
int rasio__timer_start(rasio_event_t *ev, uint64_t nsec);
void rasio__timer_cancel(rasio_event_t *ev);
uint64_t rasio__timer_timeout(rasio_loop_t *loop); /* ns to nearest deadline or UINT64_MAX */
void rasio__timer_dispatch(rasio_loop_t *loop);
void rasio__timer_fini(rasio_loop_t *loop);

/* signal.c */
int rasio__signal_subscribe(rasio_event_t *ev);
void rasio__signal_unsubscribe(rasio_event_t *ev);
bool rasio__signal_pending(rasio_loop_t *loop);
void rasio__signal_dispatch(rasio_loop_t *loop);
void rasio__signal_fini(rasio_loop_t *loop);

/* stdin.c */
int rasio__stdin_subscribe(rasio_event_t *ev);
/* True if the removal is complete, false if the backend reports it later. */
bool rasio__stdin_unsubscribe(rasio_event_t *ev);
int rasio__stdin_rearm(rasio_event_t *ev);
/* A LEVEL stdin event got READ: post it again if stdin can still be read (loop thread). */
void rasio__stdin_level_again(rasio_event_t *ev);

/* call.c: rasio_loop_call's queue */
void rasio__call_init(rasio_loop_t *loop);
/* Runs the calls queued when the pass began (loop thread); later ones wait a turn. */
void rasio__call_dispatch(rasio_loop_t *loop);
void rasio__call_fini(rasio_loop_t *loop);

/* debug.c: the log (rasio_set_log; RASIO_DEBUG=1 sends it to stderr) */
#ifdef __MINGW32__
#define RASIO__PRINTF gnu_printf /* the build uses mingw's C99 printf (%zu, %lld) */
#else
#define RASIO__PRINTF printf
#endif
bool rasio__log_on(void);
void rasio__log(const char *fmt, ...) __attribute__((format(RASIO__PRINTF, 1, 2)));
/* Logs rasio_loop_new's backend choice: be on success, else why (rc) name failed. */
void rasio__log_backend(const char *name, const char *source, const rasio__backend_t *be,
                        int rc);

/* mailbox.c */
void rasio__mailbox_post_event(rasio_mailbox_t *mb, rasio_event_t *ev, uint32_t flags,
                               uint32_t arg);

#endif
