/* SPDX-License-Identifier: BSD-2-Clause */
/* rasio-fuzz: a model-checked operation fuzzer for the event contract (DESIGN.md §2).
 *
 * One seed is one world: a loop (on its own thread, or driven with RUN_ONCE/NOWAIT by the
 * driver thread), 2-4 owner threads each draining its own mailbox, inline owners on the loop
 * thread, and up to 64 events at a time over loopback TCP pairs, UDP sockets, timers and
 * signals. The driver, the owners (between drains) and the notifications themselves run
 * random operations on random events, as rasio.h's threading rules allow. Every
 * notification and every return code is checked against a reference model (model.c); the
 * first divergence fails the seed, printing it and the operations that led to it.
 *
 * Files: main.c (command line, campaigns, workers), model.c (the reference model, the
 * operation log, failure reports), ops.c (operations and the owners' notify), world.c (one
 * seed: threads, phases, liveness probes, teardown).
 */
#ifndef RASIO_FUZZ_H
#define RASIO_FUZZ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "helpers.h"
#include "rasio.h"

#define FZ_MAX_SLOTS 64   /* events alive at once */
#define FZ_MAX_RECS 512   /* events created per seed */
#define FZ_MAX_OWNERS 4
#define FZ_MAX_FDS 1024   /* sockets the fuzzer holds at once */

/* --- random numbers: splitmix64, one stream per thread --------------------------------- */

typedef struct fz_rng {
  uint64_t s;
} fz_rng_t;

static inline uint64_t fz_next(fz_rng_t *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}
static inline unsigned fz_below(fz_rng_t *r, unsigned n) {
  return n != 0 ? (unsigned)(fz_next(r) % n) : 0;
}
static inline bool fz_chance(fz_rng_t *r, unsigned percent) { return fz_below(r, 100) < percent; }

/* --- operations ------------------------------------------------------------------------ */

/* name, what it does. The order is the log's and --disable's vocabulary. */
#define FZ_OPS(X)                                                                           \
  X(create, "new event: TCP pair, UDP socket, timer or signal; oneshot/edge/level")         \
  X(rearm, "clear readable/writeable, then resubscribe read, write or both")                \
  X(flags, "set or clear readable/writeable without re-arming; accessors")                  \
  X(post, "rasio_event_post")                                                               \
  X(unsub, "unsubscribe, sometimes twice")                                                  \
  X(destroy_early, "destroy before DISPOSED reached the owner (must be ESTATE)")            \
  X(destroy, "destroy after DISPOSED (events whose owner leaves it to anyone)")             \
  X(peer_send, "the other end sends (TCP bytes, UDP datagram)")                             \
  X(peer_fin, "the other end shuts its write side (FIN)")                                   \
  X(peer_rst, "the other end aborts (RST)")                                                 \
  X(peer_close, "the other end closes")                                                     \
  X(peer_drain, "the other end reads what it received")                                     \
  X(timer_set, "rasio_event_set_nsec (re-arm, replace)")                                    \
  X(stop, "loop stop/start/run attempts that must be EBUSY")                                \
  X(raise, "raise the fuzzer's signal")                                                     \
  X(reuse, "close a disposed event's socket, then subscribe a new one (number reuse)")      \
  X(exists, "misuse: subscribe a watched socket again (EEXIST), bad options")               \
  X(swap, "misuse: a subscribed socket replaced behind its number (stale reports)")         \
  X(message, "ask an owner thread, through its mailbox, to run an operation there")         \
  X(run, "driven loops: one iteration (RUN_NOWAIT or RUN_ONCE)")                            \
  X(sleep, "let the other threads run")

typedef enum fz_op {
#define FZ_OP_ENUM(name, what) FZ_OP_##name,
  FZ_OPS(FZ_OP_ENUM)
#undef FZ_OP_ENUM
  FZ_NOPS
} fz_op_t;

extern const char *const fz_op_names[FZ_NOPS];
extern const char *const fz_op_help[FZ_NOPS];

/* --- the model's view of one event ------------------------------------------------------- */

typedef enum fz_kind { FZ_TCP = 1, FZ_UDP, FZ_TIMER, FZ_SIGNAL } fz_kind_t;

/* An event's life as the model sees it; moves forward only. */
typedef enum fz_st {
  ST_NEW = 1,    /* rasio_event_new running (notifications may already arrive) */
  ST_ACTIVE,     /* subscribed */
  ST_UNSUB,      /* the first unsubscribe is running */
  ST_UNSUBBED,   /* ... and has returned */
  ST_DISP,       /* the owner's DISPOSED notification is running */
  ST_DONE,       /* ... and has returned; the event waits for whoever destroys it */
  ST_DESTROYING, /* rasio_event_destroy running */
  ST_DESTROYED
} fz_st_t;

#define FZ_INLINE (-1)
#define FZ_REC_MAGIC 0x667a7263u /* "fzrc" */

typedef struct fz_rec {
  uint32_t magic;
  unsigned serial; /* creation number in the seed: names the event in the log */
  int slot;
  /* Fixed at creation. */
  fz_kind_t kind;
  uint32_t interest; /* the flags given to rasio_event_new */
  uint32_t ready;
  bool noisy, own_fd;
  bool later; /* DISPOSED leaves the event to whoever destroys it; else its DISPOSED does */
  int exec;   /* FZ_INLINE or an owner's index */
  uint64_t nsec;
  rasio_fd_t fd, peer; /* the watched socket; the fuzzer's other end (or UDP peer) */
  uint16_t port, peer_port;
  rasio_addr_t peer_addr;  /* UDP: where the watched socket sends */
  pthread_mutex_t peer_mu; /* the peer's use and close, and: */
  bool peer_gone, peer_fin;

  /* Under the model lock. */
  rasio_event_t *ev;
  fz_st_t st;
  int pins;    /* calls on ev in progress: it must not be destroyed meanwhile */
  bool excl;   /* someone destroys (or tries to): no new pins */
  int hold;    /* I/O on the watched socket in progress: no unsubscribe meanwhile */
  bool probe_io; /* a liveness probe owns the socket's I/O: owners do not read it */
  unsigned unsub_calls;
  bool unsub_owner; /* an unsubscribe returned on the owner's own thread */
  bool want_unsub;  /* teardown: the owner should unsubscribe it at its next notification */
  bool td;          /* teardown asked for its end */
  bool eof, fd_closed, swapped;
  bool early_ok; /* a destroy from another thread won the race with a DISPOSED already begun */
  rasio_fd_t zombie; /* swap: the old socket, kept open after the event is gone */
  unsigned n_cb, n_read, n_write, n_timer, n_signal, n_user, n_error, n_disposed;
  unsigned resub[2], armed0[2]; /* [0] READ, [1] WRITE: oneshot arms given */
  unsigned timer_sets, posts;
  uint64_t min_deadline; /* earliest expiry any set_nsec (or the creation) allowed */
  uint64_t raises0, sig_args;
  /* Liveness probes (settle phase): what to wait for, and the count when it started. */
  unsigned probe_mask, probe_base[4];

  /* Lock-free. */
  atomic_bool in_cb;        /* a notification for it is running */
  atomic_bool disp_entered; /* its DISPOSED notification started (first thing it does) */
  atomic_bool disp_checked; /* ... and has checked the socket (which may be closed now) */
} fz_rec_t;

/* --- threads ----------------------------------------------------------------------------- */

typedef struct fz_thread {
  int id; /* 0 the driver, 1..4 owners, 5 the loop thread (threaded mode) */
  char name[16];
  fz_rng_t rng;
  fz_rec_t *cb; /* the event whose notification this thread runs now */
} fz_thread_t;

#define FZ_LOOP_TID 5

typedef struct fz_owner {
  fz_thread_t t;
  pthread_t thread;
  rasio_mailbox_t *mb;
  atomic_bool stop;
} fz_owner_t;

typedef enum fz_phase { PH_RANDOM = 1, PH_SETTLE, PH_TEARDOWN, PH_DONE } fz_phase_t;

/* What a campaign or a replay was asked for (main.c). */
typedef struct fz_config {
  const char *backend;
  bool disabled[FZ_NOPS];
  unsigned log_tail; /* log entries printed with a failure */
  bool verbose;
  bool count_handles; /* compare the descriptors open before and after each seed */
} fz_config_t;

/* One seed's world. There is one at a time, so it is a global. */
typedef struct fz_world {
  uint64_t seed;
  const fz_config_t *cfg;
  rasio_loop_t *loop;
  bool driven; /* the driver runs the loop; else rasio_loop_start's thread does */
  int nowners;
  fz_owner_t owners[FZ_MAX_OWNERS];
  fz_thread_t driver, looper;
  pthread_t looper_thread;
  bool looper_known;
  _Atomic int phase;
  atomic_int inflight; /* random operations running */

  /* Parameters drawn from the seed. */
  unsigned nslots, nops;
  unsigned weight[FZ_NOPS];
  unsigned kind_w[5];        /* by fz_kind_t */
  unsigned mode_w[3];        /* oneshot, edge, level */
  unsigned cb_ops, out_ops;  /* percent: random ops inside notifications, between drains */
  bool enabled[FZ_NOPS];

  /* The model. */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  fz_rec_t *slots[FZ_MAX_SLOTS];
  fz_rec_t *recs;
  unsigned nrecs;
  atomic_uint raises;  /* raise() calls started */
  unsigned live;       /* records not yet destroyed */

  /* The harness's own inline timer: RUN_ONCE in driven mode always has an end. */
  rasio_event_t *kick;
  atomic_bool kick_disposed;
} fz_world_t;

extern fz_world_t W;
extern _Thread_local fz_thread_t *fz_self;

/* --- model.c ----------------------------------------------------------------------------- */

/* Fails the seed: prints why, the seed, the world and the log's tail, and ends the process
 * with FZ_EXIT_DIVERGENCE (a sanitizer's abort and rt_fail exit otherwise). Any thread. */
#define FZ_EXIT_DIVERGENCE 3
_Noreturn void fz_fail(const char *fmt, ...) __attribute__((format(RT_PRINTF_FORMAT, 1, 2)));
/* Appends to the operation log: who, what, which event, the result. */
void fz_log(int what, const fz_rec_t *r, int rc, int64_t detail);
/* Log entries other than operations. */
enum { FZ_LOG_NOTE = FZ_NOPS, FZ_LOG_PHASE, FZ_LOG_NEW, FZ_LOG_SEED, FZ_LOG_MAX };
void fz_log_reset(void);
void fz_log_tally(void); /* counts of every kind of entry so far, printed */
void fz_log_dump(unsigned tail);
void fz_world_dump(void);
const char *fz_rc_name(int rc);

void fz_lock(void);
void fz_unlock(void);
/* Wakes whoever waits for the model to change (waiters, pin waits). Model lock held. */
void fz_changed(void);
/* Pins r for a call on its event (false: it is gone or being destroyed); model lock NOT
 * held. *ev receives the event. */
bool fz_pin(fz_rec_t *r, rasio_event_t **ev);
void fz_unpin(fz_rec_t *r);
/* Waits until r may be destroyed by the caller alone (no pins, no other destroyer); model
 * lock held (waits on the condition). False if the state moved past what the caller
 * expected meanwhile (checked by want). */
bool fz_excl_locked(fz_rec_t *r, bool (*want)(const fz_rec_t *r));
/* I/O on r's socket: pins it and keeps unsubscribe away; only while ACTIVE. */
bool fz_hold(fz_rec_t *r, rasio_event_t **ev);
void fz_release(fz_rec_t *r);
/* A liveness probe's hold: waits until no one else does I/O on r, then keeps everybody
 * else's I/O off (probe_io) until the settle phase ends. */
bool fz_hold_probe(fz_rec_t *r, rasio_event_t **ev);
/* Is the calling thread r's owner: the one its notifications run on? */
bool fz_owner_thread(const fz_rec_t *r);
/* Checks one notification against the model (model lock taken inside). */
void fz_model_note(fz_rec_t *r, rasio_event_t *ev, uint32_t flags, uint32_t arg);

/* The fuzzer's sockets: every number it holds, so that a number the OS hands out again
 * proves it was closed (by rasio, or behind someone's back). */
void fz_fd_lock(void);
void fz_fd_unlock(void);
void fz_fd_add(rasio_fd_t fd, fz_rec_t *r, bool rasio_owns); /* fd lock held */
void fz_fd_close(rasio_fd_t fd, bool rst);                    /* fd lock held */
/* DISPOSED of an own_fd event: rasio must have closed the socket. fd lock held. */
void fz_fd_check_closed(fz_rec_t *r);
void fz_fd_reset(void);
size_t fz_fd_count(void);
rasio_fd_t fz_fd_max(void);
/* Descriptors (sockets, on Windows) open among the numbers below `below`. */
long fz_count_open(rasio_fd_t below);
#define FZ_FD_SCAN 512 /* counted before each seed; above, the fuzzer's own numbers */

/* --- ops.c --------------------------------------------------------------------------------- */

void fz_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx);
/* One random operation of the enabled ones, by the seed's weights, on behalf of the calling
 * thread (which knows whether it runs a notification): only while the phase is random. */
void fz_random_op(fz_thread_t *t);
void fz_op(fz_thread_t *t, fz_op_t op, fz_rec_t *target);
/* Teardown: asks owner thread `owner` (mailbox message) to unsubscribe r there. */
void fz_request_unsub(fz_thread_t *t, fz_rec_t *r, int owner);
extern atomic_bool fz_driver_running; /* world.c: the driver is inside rasio_loop_run */
/* Unsubscribes r if it is subscribed, waiting while I/O holds it (teardown, EOF). */
void fz_unsubscribe(fz_thread_t *t, fz_rec_t *r);
/* Destroys r if its DISPOSED is done and nobody else does (the janitor's job). */
bool fz_destroy_if_done(fz_thread_t *t, fz_rec_t *r);
/* Closes what the fuzzer still holds of a destroyed record (peer, socket, zombie). */
void fz_rec_close_all(fz_rec_t *r);
/* Reads (or receives) what is queued on r's socket until RETRY; false if it ended. */
bool fz_drain_watched(fz_rec_t *r, rasio_event_t *ev);
/* The fuzzer's signal (SIGUSR2, SIGTERM on Windows): its own handler first, so rasio's
 * restore is harmless; raises are serialised with signal (un)subscriptions. */
void fz_signal_setup(void);
int fz_raise(void);
extern int fz_signo;

/* --- world.c --------------------------------------------------------------------------------- */

/* Prints why the seed failed, the world and the log's tail (no exit: the sanitizers'
 * death callback uses it too). Once per process; false if another report came first. */
bool fz_report(const char *why);
/* main.c: the closing line, in the modes where this process keeps the count. */
void fz_main_failed(void);

/* Runs one seed; returns only if it passed (a divergence ends the process). */
void fz_run_seed(uint64_t seed, const fz_config_t *cfg);
uint64_t fz_seed_started_ms(void);
/* Drives the loop once (driven mode, driver thread only) for about ms milliseconds. */
void fz_drive(unsigned ms);

#endif
