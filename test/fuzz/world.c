/* SPDX-License-Identifier: BSD-2-Clause */
/* One seed: the world's parameters, its threads, and its four phases.
 *
 *   random    the driver runs the seed's operations; owners run some between drains, and
 *             notifications run some too (the driver also drives a driven loop);
 *   settle    no new random operations; every subscribed event gets liveness probes: a post
 *             must bring USER, a timer set TIMER, a raise SIGNAL, a drained-then-fed
 *             socket READ, a re-armed writeable socket WRITE. A probe that gets nothing is a
 *             lost notification;
 *   teardown  each event is unsubscribed: by the driver, by its owner on a post's USER, or
 *             by an owner thread on a mailbox message; a driven loop runs RUN_QUIET, which
 *             must return; then every event must be destroyed (DISPOSED delivered, none
 *             lost), the noisy count be 0 and stop succeed;
 *   done      owners end and their mailboxes free; rasio_loop_free refuses while the
 *             harness's timer lives, then succeeds; no socket and (ASan) no memory leaked.
 * Every wait has a scaled deadline; what misses it is reported as the divergence it is.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_LSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FZ_LSAN 1
#endif
#ifdef FZ_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static fz_rec_t recs[FZ_MAX_RECS];
atomic_bool fz_driver_running;
static _Atomic uint64_t seed_started;

uint64_t fz_seed_started_ms(void) { return atomic_load(&seed_started); }

/* Relative weights of the operations; each seed multiplies them by 1..4 ("swarm"
 * testing: seeds lean different ways, and none leaves an operation out). */
static const unsigned base_weight[FZ_NOPS] = {
    [FZ_OP_create] = 10,   [FZ_OP_rearm] = 10,     [FZ_OP_flags] = 4,
    [FZ_OP_post] = 8,      [FZ_OP_unsub] = 6,      [FZ_OP_destroy_early] = 4,
    [FZ_OP_destroy] = 6,   [FZ_OP_peer_send] = 10, [FZ_OP_peer_fin] = 2,
    [FZ_OP_peer_rst] = 1,  [FZ_OP_peer_close] = 1, [FZ_OP_peer_drain] = 4,
    [FZ_OP_timer_set] = 6, [FZ_OP_stop] = 2,       [FZ_OP_raise] = 3,
    [FZ_OP_reuse] = 3,     [FZ_OP_exists] = 2,     [FZ_OP_swap] = 1,
    [FZ_OP_message] = 4,   [FZ_OP_run] = 8,        [FZ_OP_sleep] = 3,
};

static void thread_init(fz_thread_t *t, int id, const char *name, uint64_t seed) {
  t->id = id;
  snprintf(t->name, sizeof t->name, "%s", name);
  t->rng.s = seed * 0x9E3779B97F4A7C15u + (uint64_t)id * 0x632BE59BD9B4E019u + 1;
  t->cb = NULL;
}

static void params(uint64_t seed, const fz_config_t *cfg) {
  fz_rng_t g = {seed * 0x2545F4914F6CDD1Du + 0x5EED};
  W.nslots = 8 + fz_below(&g, 57);
  W.nowners = 2 + (int)fz_below(&g, 3);
  W.driven = fz_chance(&g, 35);
  W.nops = 100 + fz_below(&g, 400);
  for (int i = 0; i < FZ_NOPS; i++) {
    W.weight[i] = base_weight[i] * (1 + fz_below(&g, 4));
    W.enabled[i] = !cfg->disabled[i];
  }
  W.kind_w[FZ_TCP] = 30 + fz_below(&g, 40);
  W.kind_w[FZ_UDP] = 10 + fz_below(&g, 20);
  W.kind_w[FZ_TIMER] = 15 + fz_below(&g, 30);
  W.kind_w[FZ_SIGNAL] = fz_below(&g, 12);
  W.mode_w[0] = 20 + fz_below(&g, 40);
  W.mode_w[1] = 20 + fz_below(&g, 40);
  W.mode_w[2] = 5 + fz_below(&g, 20);
  W.cb_ops = 5 + fz_below(&g, 40);
  W.out_ops = 10 + fz_below(&g, 50);
  thread_init(&W.driver, 0, "drv", seed);
  thread_init(&W.looper, FZ_LOOP_TID, "loop", seed);
  for (int i = 0; i < W.nowners; i++) {
    char name[16]; /* "own" and any int: no truncation for the compiler to fear */
    snprintf(name, sizeof name, "own%d", i + 1);
    thread_init(&W.owners[i].t, i + 1, name, seed);
  }
}

/* --- the harness's timer ------------------------------------------------------------------- */

static void kick_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  (void)ctx;
  if (atomic_load(&W.kick_disposed)) fz_fail("harness timer: notification 0x%x after DISPOSED", (unsigned)flags);
  if (flags == RASIO_TIMER) return;
  if (flags != RASIO_DISPOSED) fz_fail("harness timer: notification 0x%x", (unsigned)flags);
  atomic_store(&W.kick_disposed, true);
  int rc = rasio_event_destroy(ev);
  if (rc != 0) fz_fail("harness timer: destroy inside DISPOSED gave %s", fz_rc_name(rc));
}

/* --- driving and waiting ------------------------------------------------------------------- */

void fz_drive(unsigned ms) {
  int rc;
  atomic_store(&fz_driver_running, true);
  if (ms == 0) {
    rc = rasio_loop_run(W.loop, RASIO_RUN_NOWAIT);
  } else {
    /* ONCE blocks until something happens: the harness's timer is that something. */
    rc = rasio_event_set_nsec(W.kick, (uint64_t)ms * 1000000u);
    if (rc != 0) fz_fail("harness timer: set_nsec gave %s", fz_rc_name(rc));
    rc = rasio_loop_run(W.loop, RASIO_RUN_ONCE);
  }
  atomic_store(&fz_driver_running, false);
  if (rc != 0) fz_fail("rasio_loop_run(%s) gave %s", ms ? "ONCE" : "NOWAIT", fz_rc_name(rc));
}

static void janitor(fz_thread_t *t) {
  for (unsigned i = 0; i < W.nslots; i++) {
    fz_lock();
    fz_rec_t *r = W.slots[i];
    bool done = r != NULL && r->later && r->st == ST_DONE;
    fz_unlock();
    if (done) fz_destroy_if_done(t, r);
  }
}

/* Waits (driving the loop when the driver must) until pred holds, under the model lock. */
static bool wait_for(bool (*pred)(void), unsigned ms, void (*pump)(void)) {
  uint64_t end = th_now_ms() + th_scaled_ms(ms);
  for (;;) {
    fz_lock();
    bool ok = pred();
    fz_unlock();
    if (ok) return true;
    if (th_now_ms() > end) return false;
    if (pump != NULL) pump();
    janitor(&W.driver);
    if (W.driven && !atomic_load(&W.kick_disposed)) {
      fz_drive(1);
    } else {
      fz_lock();
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_nsec += 2000000;
      if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&W.cv, &W.mu, &until);
      fz_unlock();
    }
  }
}

static bool none_new(void) {
  for (unsigned i = 0; i < W.nrecs; i++)
    if (W.recs[i].st == ST_NEW) return false;
  return true;
}

static bool all_destroyed(void) { return W.live == 0; }

/* --- owners -------------------------------------------------------------------------------- */

static void *owner_main(void *arg) {
  fz_owner_t *o = arg;
  fz_self = &o->t;
  while (!atomic_load(&o->stop)) {
    (void)rasio_mailbox_wait(o->mb, 2000000u);
    rasio_mailbox_drain(o->mb, fz_below(&o->t.rng, 4) * 2); /* 0: all */
    int phase = atomic_load(&W.phase);
    if (phase == PH_RANDOM && fz_chance(&o->t.rng, W.out_ops)) fz_random_op(&o->t);
    if (phase == PH_TEARDOWN) janitor(&o->t);
  }
  while (rasio_mailbox_drain(o->mb, 0) > 0) {
  }
  return NULL;
}

/* --- phases ---------------------------------------------------------------------------------- */

static bool no_random_op(void) { return atomic_load(&W.inflight) == 0; }

/* Random operations check the phase when they start (ops.c): once those that started
 * before the switch have ended, none runs any more. */
static void phase(fz_phase_t p) {
  atomic_store(&W.phase, p);
  fz_log(FZ_LOG_PHASE, NULL, 0, p);
  if (!wait_for(no_random_op, 10000, NULL)) fz_fail("a random operation did not return");
}

static void setup(uint64_t seed, const fz_config_t *cfg) {
  memset(&W, 0, sizeof W);
  W.seed = seed;
  W.cfg = cfg;
  W.recs = recs;
  params(seed, cfg);
  pthread_mutex_init(&W.mu, NULL);
  pthread_cond_init(&W.cv, NULL);
  fz_fd_reset();
  fz_log_reset();
  fz_self = &W.driver;
  atomic_store(&W.phase, 0); /* owners start random operations once the world is built */
  fz_log(FZ_LOG_SEED, NULL, 0, (int64_t)seed);
  int rc = rasio_loop_new(&(rasio_loop_opts_t){.backend = cfg->backend}, &W.loop);
  if (rc != 0) fz_fail("rasio_loop_new gave %s", fz_rc_name(rc));
  rasio_event_opts_t kick = {.flags = RASIO_TIMER, .nsec = 3600000000000u, .notify = kick_notify};
  rc = rasio_event_new(W.loop, &kick, &W.kick);
  if (rc != 0) fz_fail("harness timer: rasio_event_new gave %s", fz_rc_name(rc));
  for (int i = 0; i < W.nowners; i++) {
    rc = rasio_mailbox_new(&W.owners[i].mb);
    if (rc != 0) fz_fail("rasio_mailbox_new gave %s", fz_rc_name(rc));
  }
  for (int i = 0; i < W.nowners; i++) W.owners[i].thread = th_thread_start(owner_main, &W.owners[i]);
  if (!W.driven && (rc = rasio_loop_start(W.loop)) != 0)
    fz_fail("rasio_loop_start gave %s", fz_rc_name(rc));
}

static void random_phase(void) {
  fz_thread_t *t = &W.driver;
  atomic_store(&W.phase, PH_RANDOM);
  for (unsigned i = 0; i < W.nslots / 2; i++) fz_op(t, FZ_OP_create, NULL);
  for (unsigned i = 0; i < W.nops; i++) {
    fz_random_op(t);
    unsigned x = fz_below(&t->rng, 100);
    if (W.driven && x < 40)
      fz_drive(0);
    else if (W.driven && x < 50)
      fz_drive(1);
    else if (!W.driven && x < 10)
      th_sleep_ms(fz_below(&t->rng, 2));
  }
}

/* --- liveness probes -------------------------------------------------------------------------- */

enum { PR_USER, PR_TICK, PR_READ, PR_WRITE, PR_N };
static const char *const probe_names[PR_N] = {"post -> USER", "timer/raise -> TIMER/SIGNAL",
                                              "data -> READ", "re-arm -> WRITE"};

static unsigned counter(const fz_rec_t *r, int i) {
  switch (i) {
    case PR_USER: return r->n_user;
    case PR_TICK: return r->kind == FZ_TIMER ? r->n_timer : r->n_signal;
    case PR_READ: return r->n_read;
    default: return r->n_write;
  }
}

/* Model lock held. */
static void probe_begin(fz_rec_t *r, int i) {
  r->probe_base[i] = counter(r, i);
  r->probe_mask |= 1u << i;
}

static bool probe_open(const fz_rec_t *r, int i) {
  return (r->probe_mask & (1u << i)) && r->st == ST_ACTIVE && counter(r, i) <= r->probe_base[i];
}

static bool probes_done(void) {
  for (unsigned n = 0; n < W.nrecs; n++)
    for (int i = 0; i < PR_N; i++)
      if (probe_open(&W.recs[n], i)) return false;
  return true;
}

static void probe_cancel(fz_rec_t *r, int i) {
  fz_lock();
  r->probe_mask &= ~(1u << i);
  fz_unlock();
}

static bool is_socket(const fz_rec_t *r) { return r->kind == FZ_TCP || r->kind == FZ_UDP; }

/* A call on an event that stays subscribed throughout (hold) must succeed. */
static void expect_ok(const fz_rec_t *r, int rc, const char *call) {
  if (rc != 0) fz_fail("event #%u: %s (settling, subscribed) gave %s", r->serial, call, fz_rc_name(rc));
}

static void probe_post(fz_rec_t *r) {
  rasio_event_t *ev;
  if (!W.enabled[FZ_OP_post] || !fz_hold(r, &ev)) return;
  fz_lock();
  probe_begin(r, PR_USER);
  r->posts++;
  fz_unlock();
  int rc = rasio_event_post(ev);
  fz_log(FZ_OP_post, r, rc, 100);
  expect_ok(r, rc, "post");
  fz_release(r);
}

static void probe_timer(fz_rec_t *r) {
  rasio_event_t *ev;
  if (r->kind != FZ_TIMER || !fz_hold(r, &ev)) return;
  uint64_t nsec = (uint64_t)fz_below(&W.driver.rng, 1000) * 1000u;
  fz_lock();
  probe_begin(r, PR_TICK);
  r->timer_sets++;
  uint64_t earliest = rasio_now_ns() + nsec;
  if (earliest < r->min_deadline) r->min_deadline = earliest;
  fz_unlock();
  int rc = rasio_event_set_nsec(ev, nsec);
  fz_log(FZ_OP_timer_set, r, rc, (int64_t)nsec);
  expect_ok(r, rc, "set_nsec");
  fz_release(r);
}

static bool probe_signal(fz_rec_t *r) {
  if (r->kind != FZ_SIGNAL || !W.enabled[FZ_OP_raise]) return false;
  fz_lock();
  bool active = r->st == ST_ACTIVE;
  if (active) probe_begin(r, PR_TICK);
  fz_unlock();
  return active;
}

/* The peer may still send: not closed, and (TCP) not shut down. */
static bool peer_open(fz_rec_t *r) {
  pthread_mutex_lock(&r->peer_mu);
  bool open = !r->peer_gone && !(r->kind == FZ_TCP && r->peer_fin);
  pthread_mutex_unlock(&r->peer_mu);
  return open;
}

static bool usable(fz_rec_t *r) {
  fz_lock();
  bool ok = !r->eof && !r->swapped;
  fz_unlock();
  return ok && peer_open(r);
}

/* Drained to RETRY (so an edge must report what comes next), re-armed if oneshot, then
 * one byte or datagram from the peer: READ must follow. */
static void probe_read(fz_rec_t *r) {
  rasio_event_t *ev;
  if (!is_socket(r) || !(r->interest & RASIO_READ) || !usable(r) || !fz_hold_probe(r, &ev))
    return;
  bool ok = fz_drain_watched(r, ev);
  if (ok) {
    fz_lock();
    probe_begin(r, PR_READ);
    if (r->interest & RASIO_ONESHOT) r->resub[0]++;
    fz_unlock();
    if (r->interest & RASIO_ONESHOT) {
      rasio_event_set_readable(ev, false);
      int rc = rasio_event_resubscribe_read(ev);
      fz_log(FZ_OP_rearm, r, rc, RASIO_READ | 0x200);
      expect_ok(r, rc, "resubscribe_read");
    }
  }
  fz_release(r);
  if (!ok) return;
  long n = 0;
  pthread_mutex_lock(&r->peer_mu);
  if (!r->peer_gone)
    n = r->kind == FZ_UDP ? th_udp_send(r->peer, r->port, "p", 1) : th_send(r->peer, "p", 1);
  pthread_mutex_unlock(&r->peer_mu);
  fz_log(FZ_OP_peer_send, r, 0, n);
  if (n != 1) probe_cancel(r, PR_READ); /* the peer could not send: nothing to expect */
}

/* Oneshot (re-armed) and level events that can write must hear WRITE; an edge need not (no
 * new transition is guaranteed). The peer reads meanwhile (pump), so a full socket empties. */
static void probe_write(fz_rec_t *r) {
  rasio_event_t *ev;
  if (!is_socket(r) || !(r->interest & RASIO_WRITE) || !(r->interest & (RASIO_ONESHOT | RASIO_LEVEL)))
    return;
  if (!usable(r) || !fz_hold(r, &ev)) return;
  fz_lock();
  probe_begin(r, PR_WRITE);
  if (r->interest & RASIO_ONESHOT) r->resub[1]++;
  fz_unlock();
  if (r->interest & RASIO_ONESHOT) {
    rasio_event_set_writeable(ev, false);
    int rc = rasio_event_resubscribe_write(ev);
    fz_log(FZ_OP_rearm, r, rc, RASIO_WRITE | 0x200);
    expect_ok(r, rc, "resubscribe_write");
  }
  fz_release(r);
}

static void pump_peers(void) {
  for (unsigned n = 0; n < W.nrecs; n++) {
    fz_rec_t *r = &W.recs[n];
    fz_lock();
    bool open = probe_open(r, PR_WRITE) && r->kind == FZ_TCP;
    fz_unlock();
    if (!open) continue;
    pthread_mutex_lock(&r->peer_mu);
    if (!r->peer_gone) th_drain(r->peer);
    pthread_mutex_unlock(&r->peer_mu);
  }
}

/* One post while nothing else happens (in most seeds): it alone must wake a sleeping loop. */
static void lone_post(void) {
  unsigned start = fz_below(&W.driver.rng, W.nrecs + 1);
  for (unsigned k = 0; k < W.nrecs; k++) {
    fz_rec_t *r = &W.recs[(start + k) % W.nrecs];
    fz_lock();
    bool active = r->st == ST_ACTIVE;
    fz_unlock();
    if (!active) continue;
    th_sleep_ms(2); /* long enough for a threaded loop to go to sleep */
    probe_post(r);
    if (!wait_for(probes_done, 5000, NULL))
      fz_fail("lost notification: event #%u got nothing after a post into a quiet loop", r->serial);
    return;
  }
}

static void settle(void) {
  phase(PH_SETTLE);
  if (!wait_for(none_new, 5000, NULL)) fz_fail("an event creation did not return");
  bool raise_needed = false;
  for (unsigned n = 0; n < W.nrecs; n++) { /* nobody creates events any more */
    fz_rec_t *r = &W.recs[n];
    probe_post(r);
    probe_timer(r);
    raise_needed |= probe_signal(r);
    probe_read(r);
    probe_write(r);
  }
  if (raise_needed) fz_log(FZ_OP_raise, NULL, fz_raise(), 100);
  if (wait_for(probes_done, 5000, pump_peers)) {
    fz_lock();
    for (unsigned n = 0; n < W.nrecs; n++) W.recs[n].probe_io = false;
    fz_unlock();
    lone_post();
    return;
  }
  fz_lock();
  for (unsigned n = 0; n < W.nrecs; n++)
    for (int i = 0; i < PR_N; i++)
      if (probe_open(&W.recs[n], i)) {
        fz_unlock();
        fz_fail("lost notification: event #%u got nothing after its %s probe", W.recs[n].serial,
                probe_names[i]);
      }
  fz_unlock();
}

/* --- teardown ------------------------------------------------------------------------------- */

void fz_request_unsub(fz_thread_t *t, fz_rec_t *r, int owner);

/* Asks for the end of every subscribed event not asked yet, each in one of three ways. */
static void request_teardown(void) {
  fz_thread_t *t = &W.driver;
  unsigned start = fz_below(&t->rng, W.nrecs + 1);
  for (unsigned k = 0; k < W.nrecs; k++) {
    fz_rec_t *r = &W.recs[(start + k) % W.nrecs];
    fz_lock();
    bool active = r->st == ST_ACTIVE && !r->td;
    r->td = true;
    fz_unlock();
    if (!active) continue;
    unsigned how = fz_below(&t->rng, 3);
    if (how == 1 && W.enabled[FZ_OP_post]) {
      /* Its owner unsubscribes it at the next notification; the post makes sure one comes. */
      fz_lock();
      r->want_unsub = true;
      fz_unlock();
      fz_op(t, FZ_OP_post, r);
    } else if (how == 2 && W.enabled[FZ_OP_message]) {
      int owner = r->exec >= 0 && fz_chance(&t->rng, 60) ? r->exec
                                                         : (int)fz_below(&t->rng, (unsigned)W.nowners);
      fz_request_unsub(t, r, owner);
    } else {
      fz_unsubscribe(t, r);
    }
  }
}

static void teardown(void) {
  phase(PH_TEARDOWN);
  request_teardown();
  int rc;
  if (W.driven) {
    /* Inline owners unsubscribe from the loop run here; others destroy meanwhile. */
    atomic_store(&fz_driver_running, true);
    rc = rasio_loop_run(W.loop, RASIO_RUN_QUIET);
    atomic_store(&fz_driver_running, false);
    if (rc != 0) fz_fail("rasio_loop_run(QUIET) gave %s", fz_rc_name(rc));
    if (rasio_loop_noisy(W.loop) != 0)
      fz_fail("RUN_QUIET returned with %zu noisy events", rasio_loop_noisy(W.loop));
  }
  if (!wait_for(all_destroyed, 10000, request_teardown))
    fz_fail("teardown: events left after 10 s (a lost DISPOSED, post or mailbox message)");
  if (rasio_loop_noisy(W.loop) != 0)
    fz_fail("every event destroyed, yet rasio_loop_noisy says %zu", rasio_loop_noisy(W.loop));
  rc = rasio_loop_stop(W.loop);
  if (rc != 0) fz_fail("rasio_loop_stop with no noisy event gave %s", fz_rc_name(rc));
  /* Threaded: stop joined the loop's thread; QUIET has nothing to wait for. Driven: the
   * stop of a loop that does not run makes its next run return at once. */
  rc = rasio_loop_run(W.loop, W.driven ? RASIO_RUN_DEFAULT : RASIO_RUN_QUIET);
  if (rc != 0) fz_fail("rasio_loop_run after stop gave %s", fz_rc_name(rc));
}

static void finish(long handles_before) {
  phase(PH_DONE);
  for (int i = 0; i < W.nowners; i++) {
    atomic_store(&W.owners[i].stop, true);
    th_thread_join(W.owners[i].thread);
    int rc = rasio_mailbox_free(W.owners[i].mb);
    if (rc != 0) fz_fail("rasio_mailbox_free of owner %d gave %s", i + 1, fz_rc_name(rc));
  }
  int rc = rasio_loop_free(W.loop);
  if (rc != RASIO_EBUSY) fz_fail("rasio_loop_free with an event alive gave %s", fz_rc_name(rc));
  rc = rasio_event_unsubscribe(W.kick);
  if (rc != 0) fz_fail("harness timer: unsubscribe gave %s", fz_rc_name(rc));
  uint64_t end = th_now_ms() + th_scaled_ms(5000);
  while (!atomic_load(&W.kick_disposed)) {
    if (th_now_ms() > end) fz_fail("harness timer: no DISPOSED within 5 s");
    rc = rasio_loop_run(W.loop, RASIO_RUN_NOWAIT);
    if (rc != 0) fz_fail("rasio_loop_run(NOWAIT) gave %s", fz_rc_name(rc));
  }
  rc = rasio_loop_free(W.loop);
  if (rc != 0) fz_fail("rasio_loop_free at the end gave %s", fz_rc_name(rc));
  W.loop = NULL;
  for (unsigned n = 0; n < W.nrecs; n++) fz_rec_close_all(&W.recs[n]);
  if (fz_fd_count() != 0) fz_fail("%zu sockets still listed after the teardown", fz_fd_count());
  for (unsigned n = 0; n < W.nrecs; n++) pthread_mutex_destroy(&W.recs[n].peer_mu);
  pthread_cond_destroy(&W.cv);
  pthread_mutex_destroy(&W.mu);
  /* Numbers above the first scan were free when the seed began (the OS gave them out). */
  rasio_fd_t top = fz_fd_max() + 1 > FZ_FD_SCAN ? fz_fd_max() + 1 : FZ_FD_SCAN;
  long handles_after = handles_before >= 0 ? fz_count_open(top) : -1;
  if (handles_after != handles_before)
    fz_fail("%ld descriptors open before the seed, %ld after", handles_before, handles_after);
#ifdef FZ_LSAN
  if (__lsan_do_recoverable_leak_check() != 0) fz_fail("memory leaked (LeakSanitizer's report above)");
#endif
}

void fz_run_seed(uint64_t seed, const fz_config_t *cfg) {
  long handles = cfg->count_handles ? fz_count_open(FZ_FD_SCAN) : -1;
  uint64_t t[6];
  t[0] = th_now_ms();
  atomic_store(&seed_started, t[0]);
  setup(seed, cfg);
  t[1] = th_now_ms();
  random_phase();
  t[2] = th_now_ms();
  settle();
  t[3] = th_now_ms();
  teardown();
  t[4] = th_now_ms();
  finish(handles);
  t[5] = th_now_ms();
  atomic_store(&seed_started, 0);
  if (cfg->verbose)
    printf("seed %llu: ms setup %llu random %llu settle %llu teardown %llu finish %llu\n",
           (unsigned long long)seed, (unsigned long long)(t[1] - t[0]),
           (unsigned long long)(t[2] - t[1]), (unsigned long long)(t[3] - t[2]),
           (unsigned long long)(t[4] - t[3]), (unsigned long long)(t[5] - t[4]));
}
