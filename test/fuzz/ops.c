/* SPDX-License-Identifier: BSD-2-Clause */
/* The operations, and what an owner does when notified.
 *
 * Every call on an event is made under a pin (model.c): the event cannot be destroyed
 * while a call on it runs, since only a thread that holds it exclusively destroys it. I/O
 * on a watched socket is made under a hold, which also keeps unsubscribe away: with own_fd
 * rasio closes the socket at unsubscribe, and the number could then name another socket.
 * A notification needs neither for its own event (its DISPOSED cannot run meanwhile), but
 * takes them anyway, so every path looks the same.
 *
 * Who may destroy: an event whose policy is "in-dispose" is destroyed by its owner inside
 * DISPOSED, so no other thread may try destroy_early on it (a success there would free it
 * under its owner). A "later" event's DISPOSED only records itself; then any thread may
 * destroy it, and any thread may try destroy_early before, which must fail with ESTATE
 * unless the DISPOSED notification had already started.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define DIRS (RASIO_READ | RASIO_WRITE)

const char *const fz_op_names[FZ_NOPS] = {
#define FZ_OP_NAME(name, what) #name,
    FZ_OPS(FZ_OP_NAME)
#undef FZ_OP_NAME
};

const char *const fz_op_help[FZ_NOPS] = {
#define FZ_OP_HELP(name, what) what,
    FZ_OPS(FZ_OP_HELP)
#undef FZ_OP_HELP
};

static bool is_socket(const fz_rec_t *r) { return r->kind == FZ_TCP || r->kind == FZ_UDP; }

/* --- the signal ------------------------------------------------------------------------------ *
 * The fuzzer's own handler is installed before any subscription, so whatever disposition
 * rasio restores after the last unsubscribe is harmless. Raises, and the subscriptions and
 * unsubscriptions of signal events, are serialised: the Windows CRT resets a handler to the
 * default before calling it, and a subscribe that raced that window would save the default.
 */

#ifdef SIGUSR2
int fz_signo = SIGUSR2;
#else
int fz_signo = SIGTERM; /* the Windows CRT's choice is small */
#endif

static pthread_mutex_t sig_mu = PTHREAD_MUTEX_INITIALIZER;

/* signal() may have System V semantics (the Windows CRT; glibc under strict feature
 * macros): the disposition is reset to the default before the handler runs. */
static void on_fuzz_signal(int signo) { signal(signo, on_fuzz_signal); }

void fz_signal_setup(void) {
  if (signal(fz_signo, on_fuzz_signal) == SIG_ERR) fz_fail("signal(%d) failed", fz_signo);
}

int fz_raise(void) {
  pthread_mutex_lock(&sig_mu);
  atomic_fetch_add(&W.raises, 1); /* before: the loop may deliver before raise returns */
  int rc = raise(fz_signo);
  pthread_mutex_unlock(&sig_mu);
  return rc;
}

/* --- picking ------------------------------------------------------------------------------- */

static fz_rec_t *slot_rec(unsigned i) {
  fz_lock();
  fz_rec_t *r = W.slots[i];
  fz_unlock();
  return r;
}

/* A random event; inside a notification, often the notified one, or one with the same
 * executor: its notifications come from the same iteration (one epoll batch, one batch of
 * expired timers), where an unsubscribe must stop those not yet delivered. */
static fz_rec_t *pick(fz_thread_t *t) {
  unsigned x = fz_below(&t->rng, 100), start = fz_below(&t->rng, W.nslots);
  if (t->cb == NULL || x >= 50) return slot_rec(start);
  if (x < 25) return t->cb;
  fz_lock();
  fz_rec_t *sibling = t->cb;
  for (unsigned i = 0; i < W.nslots; i++) {
    fz_rec_t *r = W.slots[(start + i) % W.nslots];
    if (r != NULL && r != t->cb && r->exec == t->cb->exec) {
      sibling = r;
      break;
    }
  }
  fz_unlock();
  return sibling;
}

static fz_st_t state_of(fz_rec_t *r) {
  fz_lock();
  fz_st_t st = r->st;
  fz_unlock();
  return st;
}

/* --- return codes ---------------------------------------------------------------------------- */

typedef struct snap {
  fz_st_t st;
  unsigned unsub_calls;
} snap_t;

static snap_t snap_locked(const fz_rec_t *r) { return (snap_t){r->st, r->unsub_calls}; }

/* A call that is valid while subscribed and ESTATE after unsubscribe: exact when the state
 * could not move during the call, else either is right. A swapped socket (misuse) may also
 * make the backend fail. */
static void expect_state_rc(fz_rec_t *r, snap_t before, int rc, const char *call) {
  fz_lock();
  bool moved = r->unsub_calls != before.unsub_calls, swapped = r->swapped;
  fz_unlock();
  if (before.st >= ST_UNSUBBED) {
    if (rc != RASIO_ESTATE)
      fz_fail("event #%u: %s after unsubscribe returned gave %s, want ESTATE", r->serial, call,
              fz_rc_name(rc));
  } else if (before.st == ST_ACTIVE && !moved) {
    if (rc != 0 && !(swapped && rc < 0))
      fz_fail("event #%u: %s on a subscribed event gave %s, want 0", r->serial, call,
              fz_rc_name(rc));
  } else if (rc != 0 && rc != RASIO_ESTATE && !(swapped && rc < 0)) {
    fz_fail("event #%u: %s during unsubscribe gave %s, want 0 or ESTATE", r->serial, call,
            fz_rc_name(rc));
  }
}

static void expect_rc(const fz_rec_t *r, int rc, int want, const char *call) {
  if (rc != want)
    fz_fail("event #%u: %s gave %s, want %s", r ? r->serial : 0, call, fz_rc_name(rc),
            fz_rc_name(want));
}

/* --- closing what the fuzzer holds ------------------------------------------------------------- */

/* The watched socket of a non-own_fd event, once DISPOSED allows it; once. */
static void close_watched(fz_rec_t *r) {
  if (!is_socket(r) || r->own_fd) return;
  fz_lock();
  bool mine = !r->fd_closed && r->st >= ST_DISP;
  if (mine) r->fd_closed = true;
  fz_unlock();
  if (!mine) return;
  fz_fd_lock();
  fz_fd_close(r->fd, false);
  fz_fd_unlock();
}

static void close_peer(fz_rec_t *r, bool rst) {
  pthread_mutex_lock(&r->peer_mu);
  if (!r->peer_gone) {
    r->peer_gone = true;
    fz_fd_lock();
    fz_fd_close(r->peer, rst);
    fz_fd_unlock();
  }
  pthread_mutex_unlock(&r->peer_mu);
}

void fz_rec_close_all(fz_rec_t *r) {
  if (!is_socket(r)) return;
  close_watched(r);
  close_peer(r, false);
  fz_lock();
  rasio_fd_t z = r->zombie;
  r->zombie = RASIO_INVALID_FD;
  fz_unlock();
  if (z != RASIO_INVALID_FD) {
    fz_fd_lock();
    fz_fd_close(z, false);
    fz_fd_unlock();
  }
}

/* After a successful destroy. A swapped event keeps its peer and its old socket until the
 * seed ends: reports of that socket may still come, naming the destroyed event. */
static void finalize(fz_rec_t *r) {
  fz_lock();
  r->st = ST_DESTROYED;
  r->excl = false;
  if (W.slots[r->slot] == r) W.slots[r->slot] = NULL;
  W.live--;
  bool swapped = r->swapped;
  fz_changed();
  fz_unlock();
  if (swapped)
    close_watched(r);
  else
    fz_rec_close_all(r);
}

/* --- I/O on the watched socket ---------------------------------------------------------------- */

static void mark_eof(fz_rec_t *r) {
  fz_lock();
  r->eof = true;
  fz_unlock();
}

/* Up to tries reads of want bytes (at most 4096): true at RETRY, at the end of the tries,
 * or, with stop_short, at a short TCP read (the short-read rule); false at an error (the
 * record is marked at EOF). */
static bool read_up_to(fz_rec_t *r, rasio_event_t *ev, unsigned tries, size_t want,
                       bool stop_short) {
  char buf[4096];
  for (unsigned i = 0; i < tries; i++) {
    size_t n = 0;
    int rc = r->kind == FZ_UDP ? rasio_sock_recvfrom(ev, buf, want, NULL, &n)
                               : rasio_sock_recv(ev, buf, want, &n);
    if (rc == RASIO_IO_RETRY) return true;
    if (rc == RASIO_IO_ERROR) {
      mark_eof(r);
      return false;
    }
    if (stop_short && r->kind == FZ_TCP && n < want) return true;
  }
  return true;
}

/* Reads what is queued, a little or (all) much; false if the stream ended or failed. */
static bool read_some(fz_thread_t *t, fz_rec_t *r, rasio_event_t *ev, bool all) {
  return read_up_to(r, ev, all ? 256 : 1 + fz_below(&t->rng, 4), 2048, true);
}

bool fz_drain_watched(fz_rec_t *r, rasio_event_t *ev) {
  /* Whatever is left after the tries: the probe's READ comes anyway. */
  return read_up_to(r, ev, 4096, 4096, false);
}

/* Writes a little, or (fill) until the socket refuses; false if it failed. */
static bool write_some(fz_thread_t *t, fz_rec_t *r, rasio_event_t *ev, bool fill) {
  static const char buf[4096];
  unsigned budget = fill ? 64 : fz_below(&t->rng, 3);
  for (unsigned i = 0; i < budget; i++) {
    size_t n = 0;
    int rc = r->kind == FZ_UDP
                 ? rasio_sock_sendto(ev, buf, fz_below(&t->rng, 512), &r->peer_addr, &n)
                 : rasio_sock_send(ev, buf, 1 + fz_below(&t->rng, sizeof buf), &n);
    if (rc == RASIO_IO_RETRY) return true;
    if (rc == RASIO_IO_ERROR) {
      mark_eof(r);
      return false;
    }
  }
  return true;
}

/* --- operations on one event -------------------------------------------------------------------- */

static void do_rearm(fz_thread_t *t, fz_rec_t *r, uint32_t dirs, bool clear) {
  rasio_event_t *ev;
  if (!fz_pin(r, &ev)) return;
  if (clear && (dirs & RASIO_READ)) rasio_event_set_readable(ev, false);
  if (clear && (dirs & RASIO_WRITE)) rasio_event_set_writeable(ev, false);
  fz_lock();
  snap_t before = snap_locked(r);
  if (is_socket(r) && (dirs & r->interest & RASIO_READ)) r->resub[0]++;
  if (is_socket(r) && (dirs & r->interest & RASIO_WRITE)) r->resub[1]++;
  fz_unlock();
  int rc = dirs == RASIO_READ    ? rasio_event_resubscribe_read(ev)
           : dirs == RASIO_WRITE ? rasio_event_resubscribe_write(ev)
                                 : rasio_event_resubscribe(ev);
  fz_log(FZ_OP_rearm, r, rc, dirs | (clear ? 0x100 : 0));
  if (is_socket(r))
    expect_state_rc(r, before, rc, "resubscribe");
  else
    expect_rc(r, rc, RASIO_EINVAL, "resubscribe of a timer or signal");
  fz_unpin(r);
  (void)t;
}

static void op_rearm(fz_thread_t *t, fz_rec_t *r) {
  static const uint32_t choice[] = {RASIO_READ, RASIO_WRITE, DIRS};
  do_rearm(t, r, choice[fz_below(&t->rng, 3)], fz_chance(&t->rng, 80));
}

static void op_flags(fz_thread_t *t, fz_rec_t *r) {
  rasio_event_t *ev;
  if (!fz_pin(r, &ev)) return;
  bool value = fz_chance(&t->rng, 30);
  if (fz_chance(&t->rng, 50))
    rasio_event_set_readable(ev, value);
  else
    rasio_event_set_writeable(ev, value);
  /* The accessors are exact: nothing changes them. */
  rasio_fd_t want_fd = is_socket(r) ? r->fd : RASIO_INVALID_FD;
  if (rasio_event_fd(ev) != want_fd || rasio_event_flags(ev) != r->interest ||
      rasio_event_ctx(ev) != r || rasio_event_loop(ev) != W.loop)
    fz_fail("event #%u: accessors say fd %lld flags 0x%x ctx %p loop %p", r->serial,
            (long long)rasio_event_fd(ev), (unsigned)rasio_event_flags(ev), rasio_event_ctx(ev),
            (void *)rasio_event_loop(ev));
  fz_log(FZ_OP_flags, r, 0, value);
  fz_unpin(r);
}

static void op_post(fz_thread_t *t, fz_rec_t *r) {
  rasio_event_t *ev;
  if (!fz_pin(r, &ev)) return;
  fz_lock();
  snap_t before = snap_locked(r);
  r->posts++;
  fz_unlock();
  int rc = rasio_event_post(ev);
  fz_log(FZ_OP_post, r, rc, 0);
  expect_state_rc(r, before, rc, "post");
  fz_unpin(r);
  (void)t;
}

/* One unsubscribe call; false if it was not made (I/O in progress, or gone). */
static bool unsub_once(fz_rec_t *r) {
  fz_lock();
  bool ok = r->st >= ST_ACTIVE && r->st < ST_DESTROYING && !r->excl && r->hold == 0;
  rasio_event_t *ev = r->ev;
  bool first = r->st == ST_ACTIVE;
  if (ok) {
    r->pins++;
    if (first) r->st = ST_UNSUB;
    r->unsub_calls++;
  }
  fz_unlock();
  if (!ok) return false;
  bool sig = r->kind == FZ_SIGNAL;
  if (sig) pthread_mutex_lock(&sig_mu);
  int rc = rasio_event_unsubscribe(ev);
  if (sig) pthread_mutex_unlock(&sig_mu);
  fz_log(FZ_OP_unsub, r, rc, first);
  expect_rc(r, rc, 0, "unsubscribe");
  fz_lock();
  if (r->st == ST_UNSUB) r->st = ST_UNSUBBED;
  if (fz_owner_thread(r)) r->unsub_owner = true;
  r->pins--;
  fz_changed();
  fz_unlock();
  return true;
}

static void op_unsub(fz_thread_t *t, fz_rec_t *r) {
  if (unsub_once(r) && fz_chance(&t->rng, 30)) unsub_once(r);
}

void fz_unsubscribe(fz_thread_t *t, fz_rec_t *r) {
  (void)t;
  for (;;) {
    fz_st_t st = state_of(r);
    if (st != ST_ACTIVE || unsub_once(r)) return;
    th_sleep_ms(0); /* I/O holds it for a moment */
  }
}

static bool before_disposed(const fz_rec_t *r) { return r->st >= ST_ACTIVE && r->st < ST_DISP; }

/* One destroy before DISPOSED reached the owner; true if it (legally) destroyed r. The
 * caller holds r exclusively. */
static bool destroy_before(fz_rec_t *r, rasio_event_t *ev, bool own) {
  int rc = rasio_event_destroy(ev);
  bool entered = atomic_load(&r->disp_entered);
  if (rc == RASIO_ESTATE) return false;
  fz_log(FZ_OP_destroy_early, r, rc, (own ? 1 : 0) | (entered ? 2 : 0));
  if (rc != 0) fz_fail("event #%u: destroy before DISPOSED gave %s", r->serial, fz_rc_name(rc));
  if (own)
    fz_fail("event #%u: destroy on its owner's thread succeeded before DISPOSED was delivered",
            r->serial);
  /* rasio.h: legal once DISPOSED has been handed to notify, which may not have started yet;
   * the memory lives until it returns. So the notification must follow, and the fuzzer
   * waits for it to have checked the socket before closing anything. */
  fz_lock();
  r->early_ok = true;
  fz_unlock();
  uint64_t until = th_now_ms() + th_scaled_ms(5000);
  while (!atomic_load(&r->disp_checked)) {
    if (th_now_ms() > until)
      fz_fail("event #%u: destroy from another thread succeeded (%s), and no DISPOSED "
              "notification followed",
              r->serial, entered ? "DISPOSED running" : "DISPOSED not started yet");
    th_sleep_ms(0);
  }
  return true;
}

/* destroy before DISPOSED was delivered: ESTATE. Exact on the owner's thread, where the
 * DISPOSED notification cannot be running; elsewhere (later events only) 0 is right once
 * DISPOSED has been handed to notify, and that notification must then run on memory still
 * alive. Sometimes it unsubscribes first and then tries again and again while DISPOSED is
 * on its way: the window where a core may free what notify is about to get. */
static void op_destroy_early(fz_thread_t *t, fz_rec_t *r) {
  bool own = fz_owner_thread(r);
  if (!own && !r->later) return;
  bool spin = !own && fz_chance(&t->rng, 50);
  if (spin && state_of(r) == ST_ACTIVE) unsub_once(r);
  fz_lock();
  bool ok = before_disposed(r) && !r->excl && fz_excl_locked(r, before_disposed);
  rasio_event_t *ev = r->ev;
  fz_unlock();
  if (!ok) return;
  bool gone = destroy_before(r, ev, own);
  uint64_t until = rasio_now_ns() + 20000000u;
  while (spin && !gone && !atomic_load(&r->disp_entered) && rasio_now_ns() < until)
    gone = destroy_before(r, ev, own);
  if (gone) {
    finalize(r); /* clears excl */
    return;
  }
  fz_log(FZ_OP_destroy_early, r, RASIO_ESTATE, (own ? 1 : 0) | (spin ? 4 : 0));
  fz_lock();
  r->excl = false;
  fz_changed();
  fz_unlock();
}

static bool is_done(const fz_rec_t *r) { return r->st == ST_DONE; }

bool fz_destroy_if_done(fz_thread_t *t, fz_rec_t *r) {
  (void)t;
  fz_lock();
  bool ok = r->later && is_done(r) && !r->excl && fz_excl_locked(r, is_done);
  if (ok) r->st = ST_DESTROYING;
  rasio_event_t *ev = r->ev;
  fz_unlock();
  if (!ok) return false;
  /* DISPOSED has returned: destroy is legal. A core may mark the event disposed a moment
   * after its notification returns, hence a short grace for ESTATE. */
  uint64_t until = th_now_ms() + th_scaled_ms(2000);
  int rc;
  while ((rc = rasio_event_destroy(ev)) == RASIO_ESTATE && th_now_ms() < until) th_sleep_ms(1);
  fz_log(FZ_OP_destroy, r, rc, 0);
  expect_rc(r, rc, 0, "destroy after DISPOSED returned");
  finalize(r);
  return true;
}

static void op_destroy(fz_thread_t *t, fz_rec_t *r) {
  /* The janitor's round: the chosen event, else the first one waiting. */
  if (r != NULL && fz_destroy_if_done(t, r)) return;
  for (unsigned i = 0; i < W.nslots; i++) {
    fz_rec_t *o = slot_rec(i);
    if (o != NULL && fz_destroy_if_done(t, o)) return;
  }
}

static void op_peer(fz_thread_t *t, fz_rec_t *r, fz_op_t what) {
  static const char bytes[3000];
  if (!is_socket(r) || state_of(r) < ST_ACTIVE) return;
  pthread_mutex_lock(&r->peer_mu);
  long n = 0;
  if (!r->peer_gone) {
    switch (what) {
      case FZ_OP_peer_send:
        if (r->kind == FZ_UDP)
          n = th_udp_send(r->peer, r->port, bytes, fz_below(&t->rng, 600));
        else if (!r->peer_fin)
          n = th_send(r->peer, bytes, 1 + fz_below(&t->rng, sizeof bytes));
        break;
      case FZ_OP_peer_fin:
        if (r->kind == FZ_TCP && !r->peer_fin) {
          r->peer_fin = true;
          n = rasio_sock_shutdown(r->peer); /* may fail once the watched end is gone */
        }
        break;
      case FZ_OP_peer_rst:
      case FZ_OP_peer_close:
        r->peer_gone = true;
        fz_fd_lock();
        fz_fd_close(r->peer, what == FZ_OP_peer_rst);
        fz_fd_unlock();
        break;
      case FZ_OP_peer_drain: n = (long)th_drain(r->peer); break;
      default: break;
    }
  }
  pthread_mutex_unlock(&r->peer_mu);
  fz_log(what, r, 0, n);
}

static void set_nsec(fz_rec_t *r, uint64_t nsec) {
  rasio_event_t *ev;
  if (!fz_pin(r, &ev)) return;
  fz_lock();
  snap_t before = snap_locked(r);
  if (r->kind == FZ_TIMER) {
    r->timer_sets++;
    uint64_t earliest = rasio_now_ns() + nsec;
    if (earliest < r->min_deadline) r->min_deadline = earliest;
  }
  fz_unlock();
  int rc = rasio_event_set_nsec(ev, nsec);
  fz_log(FZ_OP_timer_set, r, rc, (int64_t)nsec);
  if (r->kind == FZ_TIMER)
    expect_state_rc(r, before, rc, "set_nsec");
  else
    expect_rc(r, rc, RASIO_EINVAL, "set_nsec on a non-timer");
  fz_unpin(r);
}

/* Sometimes every timer of the same executor at once: they expire in one batch, where a
 * notification that unsubscribes a later one of the batch must silence it. */
static void op_timer_set(fz_thread_t *t, fz_rec_t *r) {
  uint64_t nsec = fz_chance(&t->rng, 20) ? 0 : (uint64_t)fz_below(&t->rng, 2000) * 1000u;
  if (fz_chance(&t->rng, 5)) nsec = 50000000u; /* one that is still pending at unsubscribe */
  set_nsec(r, nsec);
  if (r->kind != FZ_TIMER || !fz_chance(&t->rng, 20)) return;
  for (unsigned i = 0; i < W.nslots; i++) {
    fz_rec_t *o = slot_rec(i);
    if (o != NULL && o != r && o->kind == FZ_TIMER && o->exec == r->exec) set_nsec(o, nsec);
  }
}

/* --- operations on the loop --------------------------------------------------------------------- */

/* With a noisy event pinned alive, stop must refuse; the other calls refuse because the
 * loop runs. All exact. */
static void op_stop(fz_thread_t *t) {
  unsigned start = fz_below(&t->rng, W.nslots);
  fz_rec_t *noisy = NULL;
  rasio_event_t *ev;
  for (unsigned i = 0; i < W.nslots && noisy == NULL; i++) {
    fz_rec_t *r = slot_rec((start + i) % W.nslots);
    if (r != NULL && r->noisy && fz_pin(r, &ev)) noisy = r;
  }
  if (noisy == NULL) return;
  int rc = rasio_loop_stop(W.loop);
  fz_log(FZ_OP_stop, noisy, rc, 0);
  expect_rc(noisy, rc, RASIO_EBUSY, "rasio_loop_stop with a noisy event alive");
  if (rasio_loop_noisy(W.loop) == 0)
    fz_fail("rasio_loop_noisy is 0 while noisy event #%u is alive", noisy->serial);
  bool running = !W.driven || (t == &W.driver && atomic_load(&fz_driver_running));
  if (running) {
    expect_rc(noisy, rasio_loop_start(W.loop), RASIO_EBUSY, "rasio_loop_start while it runs");
    expect_rc(noisy, rasio_loop_run(W.loop, RASIO_RUN_NOWAIT), RASIO_EBUSY,
              "rasio_loop_run while it runs");
  }
  fz_unpin(noisy);
}

/* --- creation ----------------------------------------------------------------------------------- */

static unsigned pick_weighted(fz_rng_t *g, const unsigned *w, unsigned n) {
  unsigned total = 0;
  for (unsigned i = 0; i < n; i++) total += w[i];
  unsigned x = fz_below(g, total);
  for (unsigned i = 0; i < n; i++) {
    if (x < w[i]) return i;
    x -= w[i];
  }
  return n - 1;
}

static uint32_t pick_interest(fz_rng_t *g, fz_kind_t kind) {
  static const uint32_t modes[] = {RASIO_ONESHOT, 0, RASIO_LEVEL};
  uint32_t mode = modes[pick_weighted(g, W.mode_w, 3)];
  unsigned d = fz_below(g, 100);
  uint32_t dirs = d < 50 ? RASIO_READ : d < 65 ? RASIO_WRITE : DIRS;
  /* A UDP socket is always writeable: level WRITE would notify on every iteration. */
  if (mode == RASIO_LEVEL && kind == FZ_UDP) dirs = RASIO_READ;
  return dirs | mode;
}

/* What the event will be, drawn while the record is not visible yet: whoever finds it
 * later (under the model lock) reads these fields without further ado. */
static void draw(fz_rng_t *g, fz_rec_t *r, int kind) {
  r->kind = kind != 0 ? (fz_kind_t)kind : (fz_kind_t)(1 + pick_weighted(g, W.kind_w + 1, 4));
  r->noisy = fz_chance(g, 50);
  r->later = fz_chance(g, 50);
  r->exec = (int)fz_below(g, (unsigned)W.nowners + 1) - 1;
  if (is_socket(r)) {
    r->own_fd = fz_chance(g, 50);
    r->interest = pick_interest(g, r->kind);
    if (fz_chance(g, 10)) r->ready = r->interest & DIRS & (uint32_t)(1 + fz_below(g, 3));
  } else if (r->kind == FZ_TIMER) {
    r->interest = RASIO_TIMER;
    r->nsec = fz_chance(g, 20) ? 0 : (uint64_t)fz_below(g, 2000) * 1000u;
    if (fz_chance(g, 10)) r->nsec = 50000000u;
  } else {
    r->interest = RASIO_SIGNAL;
    r->nsec = (uint64_t)fz_signo;
  }
  if (r->interest & RASIO_ONESHOT) {
    r->armed0[0] = (r->interest & ~r->ready & RASIO_READ) ? 1 : 0;
    r->armed0[1] = (r->interest & ~r->ready & RASIO_WRITE) ? 1 : 0;
  }
  r->timer_sets = r->kind == FZ_TIMER ? 1 : 0;
}

/* Claims a free slot and a record; NULL if the world is full. */
static fz_rec_t *claim(fz_thread_t *t, int kind) {
  fz_lock();
  fz_rec_t *r = NULL;
  unsigned start = fz_below(&t->rng, W.nslots);
  for (unsigned i = 0; i < W.nslots && r == NULL && W.nrecs < FZ_MAX_RECS; i++) {
    unsigned s = (start + i) % W.nslots;
    if (W.slots[s] != NULL) continue;
    r = &W.recs[W.nrecs];
    memset(r, 0, sizeof *r);
    r->magic = FZ_REC_MAGIC;
    r->serial = W.nrecs++;
    r->slot = (int)s;
    r->st = ST_NEW;
    r->fd = r->peer = r->zombie = RASIO_INVALID_FD;
    atomic_init(&r->in_cb, false);
    atomic_init(&r->disp_entered, false);
    atomic_init(&r->disp_checked, false);
    pthread_mutex_init(&r->peer_mu, NULL);
    draw(&t->rng, r, kind);
    r->min_deadline = rasio_now_ns() + r->nsec;
    r->raises0 = atomic_load(&W.raises);
    W.slots[s] = r;
    W.live++;
  }
  fz_unlock();
  return r;
}

static void make_sockets(fz_thread_t *t, fz_rec_t *r) {
  fz_fd_lock();
  if (r->kind == FZ_TCP) {
    th_tcp_pair(&r->fd, &r->peer);
    /* A small send buffer: a level WRITE owner fills it quickly, and the peer's drain
     * matters. The peer's receive buffer stays above two loopback segments (64 KiB on
     * Linux): below that, a window it reopens waits for the sender's persist timer. */
    if (fz_chance(&t->rng, 80)) {
      (void)rasio_sock_set_sndbuf(r->fd, 8192);
      (void)rasio_sock_set_rcvbuf(r->peer, 262144);
    }
  } else {
    r->fd = th_udp(&r->port);
    r->peer = th_udp(&r->peer_port);
    if (rasio_addr_parse("127.0.0.1", r->peer_port, &r->peer_addr) != 0)
      fz_fail("rasio_addr_parse(127.0.0.1) failed");
  }
  fz_fd_add(r->fd, r, r->own_fd);
  fz_fd_add(r->peer, r, false);
  fz_fd_unlock();
  fz_log(FZ_LOG_NEW, r, 0, (int64_t)r->fd << 32 | (int64_t)r->peer);
}

/* kind 0: as the seed's weights say. */
static void create(fz_thread_t *t, int kind) {
  fz_rec_t *r = claim(t, kind);
  if (r == NULL) return;
  rasio_event_opts_t o = {.flags = r->interest, .nsec = r->nsec, .noisy = r->noisy,
                          .notify = fz_notify, .ctx = r};
  o.mailbox = r->exec >= 0 ? W.owners[r->exec].mb : NULL;
  if (is_socket(r)) {
    make_sockets(t, r);
    o.fd = r->fd;
    o.own_fd = r->own_fd;
    o.ready = r->ready;
  }
  rasio_event_t *ev = NULL;
  if (r->kind == FZ_SIGNAL) pthread_mutex_lock(&sig_mu);
  int rc = rasio_event_new(W.loop, &o, &ev);
  if (r->kind == FZ_SIGNAL) pthread_mutex_unlock(&sig_mu);
  fz_log(FZ_OP_create, r, rc, (int64_t)r->interest | ((int64_t)r->exec + 1) << 16 |
                                  (int64_t)r->own_fd << 20 | (int64_t)r->later << 21 |
                                  (int64_t)r->noisy << 22 | (int64_t)r->kind << 24);
  if (rc != 0) fz_fail("event #%u: rasio_event_new gave %s", r->serial, fz_rc_name(rc));
  fz_lock();
  if (r->ev != NULL && r->ev != ev)
    fz_fail("event #%u: notified as %p, created as %p", r->serial, (void *)r->ev, (void *)ev);
  r->ev = ev;
  r->st = ST_ACTIVE;
  fz_changed();
  fz_unlock();
}

/* Closes the socket of a disposed non-own_fd event, then subscribes a new socket, which the
 * OS usually gives the same number: the number must be free in rasio (no EEXIST). */
static void op_reuse(fz_thread_t *t) {
  fz_rec_t *found = NULL;
  fz_lock();
  for (unsigned i = W.nrecs; i-- > 0 && found == NULL;) {
    fz_rec_t *r = &W.recs[i];
    if (is_socket(r) && !r->own_fd && !r->fd_closed && !r->swapped && r->st >= ST_DISP)
      found = r;
  }
  if (found != NULL) found->fd_closed = true;
  fz_unlock();
  if (found == NULL) return;
  fz_fd_lock();
  fz_fd_close(found->fd, false);
  fz_fd_unlock();
  fz_log(FZ_OP_reuse, found, 0, (int64_t)found->fd);
  create(t, found->kind);
}

/* Misuse: subscribe a watched socket again (EEXIST, nothing created), and options that
 * are wrong in other ways. Every one must fail with its code and leave *out NULL. */
static void op_exists(fz_thread_t *t, fz_rec_t *r) {
  rasio_event_t *ev;
  if (!is_socket(r) || !fz_hold(r, &ev)) return;
  struct {
    rasio_event_opts_t o;
    int want;
    const char *what;
  } cases[] = {
      {{.fd = r->fd, .flags = RASIO_READ, .notify = fz_notify}, RASIO_EEXIST, "second subscription"},
      {{.fd = r->fd, .flags = RASIO_READ | RASIO_ONESHOT | RASIO_LEVEL, .notify = fz_notify},
       RASIO_EINVAL, "ONESHOT|LEVEL"},
      {{.fd = r->fd, .flags = RASIO_READ}, RASIO_EINVAL, "NULL notify"},
      {{.fd = RASIO_INVALID_FD, .flags = RASIO_WRITE, .notify = fz_notify}, RASIO_EBADF, "fd -1"},
      {{.flags = RASIO_TIMER, .ready = 0x100, .notify = fz_notify}, RASIO_EINVAL, "ready bits"},
      {{.flags = RASIO_SIGNAL, .nsec = 1u << 20, .notify = fz_notify}, RASIO_EINVAL, "signal number"},
  };
  unsigned i = fz_below(&t->rng, sizeof cases / sizeof cases[0]);
  rasio_event_t *out = (rasio_event_t *)&out;
  int rc = rasio_event_new(W.loop, &cases[i].o, &out);
  fz_log(FZ_OP_exists, r, rc, i);
  if (rc != cases[i].want || out != NULL)
    fz_fail("event #%u: rasio_event_new with %s gave %s (out %p), want %s", r->serial,
            cases[i].what, fz_rc_name(rc), (void *)out, fz_rc_name(cases[i].want));
  fz_release(r);
}

/* Misuse: another socket behind the subscribed number, the old one kept alive by a dup. The
 * kernel may keep reporting the old one for the event; after DISPOSED nothing of that may
 * reach any owner (DESIGN §2: a stale report is validated, never dereferenced). */
static void op_swap(fz_thread_t *t, fz_rec_t *r) {
  rasio_event_t *ev;
  if (!is_socket(r) || r->own_fd || !fz_hold(r, &ev)) return;
  fz_lock();
  bool again = r->swapped;
  r->swapped = true; /* before: a resubscribe that fails from now on is no divergence */
  fz_unlock();
  if (!again) {
    fz_fd_lock();
    rasio_fd_t z = th_swap_socket(r->fd);
    if (z != RASIO_INVALID_FD) fz_fd_add(z, r, false);
    fz_fd_unlock();
    fz_lock();
    r->zombie = z;
    fz_unlock();
    fz_log(FZ_OP_swap, r, 0, (int64_t)z);
  }
  fz_release(r);
  (void)t;
}

/* --- messages: an operation run on an owner's thread ---------------------------------------------- */

typedef struct message {
  fz_op_t op;
  fz_rec_t *rec;
} message_t;

static void run_message(void *arg) {
  message_t m = *(message_t *)arg;
  free(arg);
  fz_thread_t *t = fz_self;
  fz_log(FZ_OP_message, m.rec, 0, -1);
  if (m.op == FZ_OP_unsub && atomic_load(&W.phase) >= PH_TEARDOWN)
    fz_unsubscribe(t, m.rec); /* teardown must happen: retry */
  else if (atomic_load(&W.phase) == PH_RANDOM || m.op == FZ_OP_unsub)
    fz_op(t, m.op, m.rec);
}

static void send_message(fz_thread_t *t, int owner, fz_op_t op, fz_rec_t *r) {
  message_t *m = malloc(sizeof *m);
  if (m == NULL) fz_fail("out of memory");
  *m = (message_t){op, r};
  int rc = rasio_mailbox_post(W.owners[owner].mb, run_message, m);
  fz_log(FZ_OP_message, r, rc, owner);
  if (rc != 0) fz_fail("rasio_mailbox_post gave %s", fz_rc_name(rc));
  (void)t;
}

static void op_message(fz_thread_t *t, fz_rec_t *r) {
  static const fz_op_t ops[] = {FZ_OP_unsub,  FZ_OP_rearm,         FZ_OP_post,
                                FZ_OP_destroy, FZ_OP_destroy_early, FZ_OP_timer_set};
  if (r == NULL) return;
  fz_op_t op = ops[fz_below(&t->rng, sizeof ops / sizeof ops[0])];
  if (!W.enabled[op]) return;
  /* Often the event's own owner, where an unsubscribe is followed by nothing but DISPOSED. */
  int owner = r->exec >= 0 && fz_chance(&t->rng, 60) ? r->exec : (int)fz_below(&t->rng, (unsigned)W.nowners);
  send_message(t, owner, op, r);
}

void fz_request_unsub(fz_thread_t *t, fz_rec_t *r, int owner) {
  send_message(t, owner, FZ_OP_unsub, r);
}

/* --- dispatch ------------------------------------------------------------------------------------ */

void fz_op(fz_thread_t *t, fz_op_t op, fz_rec_t *r) {
  bool needs_rec = op != FZ_OP_create && op != FZ_OP_stop && op != FZ_OP_raise &&
                   op != FZ_OP_reuse && op != FZ_OP_run && op != FZ_OP_sleep;
  if (needs_rec && r == NULL && op != FZ_OP_destroy) return;
  switch (op) {
    case FZ_OP_create: create(t, 0); break;
    case FZ_OP_rearm: op_rearm(t, r); break;
    case FZ_OP_flags: op_flags(t, r); break;
    case FZ_OP_post: op_post(t, r); break;
    case FZ_OP_unsub: op_unsub(t, r); break;
    case FZ_OP_destroy_early: op_destroy_early(t, r); break;
    case FZ_OP_destroy: op_destroy(t, r); break;
    case FZ_OP_peer_send:
    case FZ_OP_peer_fin:
    case FZ_OP_peer_rst:
    case FZ_OP_peer_close:
    case FZ_OP_peer_drain: op_peer(t, r, op); break;
    case FZ_OP_timer_set: op_timer_set(t, r); break;
    case FZ_OP_stop: op_stop(t); break;
    case FZ_OP_raise: fz_log(FZ_OP_raise, NULL, fz_raise(), 0); break;
    case FZ_OP_reuse: op_reuse(t); break;
    case FZ_OP_exists: op_exists(t, r); break;
    case FZ_OP_swap: op_swap(t, r); break;
    case FZ_OP_message: op_message(t, r); break;
    case FZ_OP_run:
      if (W.driven && t == &W.driver && t->cb == NULL) fz_drive(fz_below(&t->rng, 3));
      break;
    case FZ_OP_sleep:
      if (t->cb == NULL) th_sleep_ms(fz_below(&t->rng, 2));
      break;
    case FZ_NOPS: break;
  }
}

static void random_op(fz_thread_t *t) {
  unsigned total = 0;
  for (int i = 0; i < FZ_NOPS; i++) total += W.enabled[i] ? W.weight[i] : 0;
  if (total == 0) return;
  unsigned x = fz_below(&t->rng, total);
  fz_op_t op = FZ_OP_sleep;
  for (int i = 0; i < FZ_NOPS; i++) {
    unsigned w = W.enabled[i] ? W.weight[i] : 0;
    if (x < w) {
      op = (fz_op_t)i;
      break;
    }
    x -= w;
  }
  fz_op(t, op, pick(t));
}

/* Counted, so a phase change can wait for the ones already running (world.c). */
void fz_random_op(fz_thread_t *t) {
  atomic_fetch_add(&W.inflight, 1);
  if (atomic_load(&W.phase) == PH_RANDOM) random_op(t);
  atomic_fetch_sub(&W.inflight, 1);
}

/* --- notifications ------------------------------------------------------------------------------- */

/* rasio's loop thread is no thread of the fuzzer's: it is recognised by its first
 * notification, and must stay the same one. */
static fz_thread_t *self_or_looper(void) {
  if (fz_self != NULL) return fz_self;
  fz_lock();
  bool other = W.looper_known && !pthread_equal(W.looper_thread, pthread_self());
  W.looper_known = true;
  W.looper_thread = pthread_self();
  fz_unlock();
  fz_self = &W.looper;
  if (other) fz_fail("an inline notification ran on a second unknown thread");
  return fz_self;
}

/* Misuse of a disposed event, inside its DISPOSED (still valid: not destroyed yet). */
static void misuse_disposed(fz_rec_t *r, rasio_event_t *ev) {
  int want_rearm = is_socket(r) ? RASIO_ESTATE : RASIO_EINVAL;
  expect_rc(r, rasio_event_resubscribe(ev), want_rearm, "resubscribe in DISPOSED");
  expect_rc(r, rasio_event_post(ev), RASIO_ESTATE, "post in DISPOSED");
  expect_rc(r, rasio_event_set_nsec(ev, 0), r->kind == FZ_TIMER ? RASIO_ESTATE : RASIO_EINVAL,
            "set_nsec in DISPOSED");
  expect_rc(r, rasio_event_unsubscribe(ev), 0, "unsubscribe in DISPOSED");
  fz_log(FZ_OP_unsub, r, 0, 2);
}

static bool in_disposed(const fz_rec_t *r) { return r->st == ST_DISP; }

/* Before the model records the DISPOSED: from then on the fuzzer may close the socket. */
static void check_disposed_socket(fz_rec_t *r) {
  if (!is_socket(r)) return;
  fz_fd_lock();
  if (r->own_fd)
    fz_fd_check_closed(r);
  else if (!th_fd_open(r->fd))
    fz_fail("event #%u (not own_fd): socket %lld closed by DISPOSED", r->serial,
            (long long)r->fd);
  fz_fd_unlock();
}

static void on_disposed(fz_thread_t *t, fz_rec_t *r, rasio_event_t *ev) {
  fz_lock();
  bool destroyed = r->st >= ST_DESTROYING; /* a racing destroy_early won (early_ok) */
  fz_unlock();
  if (destroyed) {
    /* The memory lives until this returns; a second destroy is refused. */
    int rc = rasio_event_destroy(ev);
    fz_log(FZ_OP_destroy, r, rc, 3);
    expect_rc(r, rc, RASIO_ESTATE, "destroy inside DISPOSED of an event already destroyed");
    return;
  }
  if (fz_chance(&t->rng, 50)) close_watched(r); /* the owner may close it from now on */
  if (r->later) {
    fz_lock();
    if (r->st == ST_DISP) r->st = ST_DONE;
    fz_changed();
    fz_unlock();
    return;
  }
  if (fz_chance(&t->rng, 30)) misuse_disposed(r, ev);
  fz_lock();
  bool ok = fz_excl_locked(r, in_disposed);
  if (ok) r->st = ST_DESTROYING;
  fz_unlock();
  if (!ok) fz_fail("event #%u: left DISPOSED while its owner waited to destroy it", r->serial);
  int rc = rasio_event_destroy(ev);
  fz_log(FZ_OP_destroy, r, rc, 1);
  expect_rc(r, rc, 0, "destroy inside DISPOSED");
  finalize(r);
}

static void react(fz_thread_t *t, fz_rec_t *r, rasio_event_t *ev, uint32_t flags) {
  fz_rng_t *g = &t->rng;
  int phase = atomic_load(&W.phase);
  bool level = (r->interest & RASIO_LEVEL) != 0, oneshot = (r->interest & RASIO_ONESHOT) != 0;
  bool broken = (flags & RASIO_ERROR) != 0;
  rasio_event_t *held;
  if ((flags & DIRS) && fz_hold(r, &held)) {
    if (flags & RASIO_READ) broken |= !read_some(t, r, held, level || phase != PH_RANDOM || fz_chance(g, 70));
    /* Not while settling: the probes want the peer's buffers to drain. */
    if ((flags & RASIO_WRITE) && phase == PH_RANDOM) broken |= !write_some(t, r, held, level);
    fz_release(r);
    fz_lock();
    bool eof = r->eof;
    fz_unlock();
    if (oneshot && !eof) {
      if ((flags & RASIO_READ) && (phase != PH_RANDOM || fz_chance(g, 80)))
        do_rearm(t, r, RASIO_READ, true);
      if ((flags & RASIO_WRITE) && phase == PH_RANDOM && fz_chance(g, 40))
        do_rearm(t, r, RASIO_WRITE, true);
    }
  }
  /* Level events stay ready at the end of a stream or after an error: stop them. */
  if (broken && (level || (flags & RASIO_ERROR) || fz_chance(g, 30))) fz_unsubscribe(t, r);
  if ((flags & RASIO_TIMER) && phase == PH_RANDOM && fz_chance(g, 40)) op_timer_set(t, r);
  /* Another event of this executor: one whose notification may be next in this batch. */
  if (phase == PH_RANDOM && W.enabled[FZ_OP_unsub] && fz_chance(g, 10)) {
    fz_rec_t *o = pick(t);
    if (o != NULL && o != r && o->exec == r->exec) op_unsub(t, o);
  }
  fz_lock();
  bool want = r->want_unsub;
  fz_unlock();
  if (want) fz_unsubscribe(t, r);
  if (phase == PH_RANDOM && fz_chance(g, W.cb_ops))
    for (unsigned n = 1 + fz_below(g, 3); n > 0; n--) fz_random_op(t);
  (void)ev;
}

void fz_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  fz_rec_t *r = ctx;
  if (r == NULL || r->magic != FZ_REC_MAGIC)
    fz_fail("notification 0x%x with ctx %p, which is no event of this seed", (unsigned)flags, ctx);
  if (flags & RASIO_DISPOSED) atomic_store(&r->disp_entered, true); /* first: destroy_early */
  fz_thread_t *t = self_or_looper();
  if (atomic_exchange(&r->in_cb, true))
    fz_fail("event #%u: notification 0x%x while another one for it runs", r->serial,
            (unsigned)flags);
  fz_log(FZ_LOG_NOTE, r, 0, (int64_t)flags | (int64_t)arg << 32);
  if (flags & RASIO_DISPOSED) {
    check_disposed_socket(r);
    atomic_store(&r->disp_checked, true);
  }
  fz_model_note(r, ev, flags, arg);
  fz_rec_t *outer = t->cb;
  t->cb = r;
  if (flags & RASIO_DISPOSED)
    on_disposed(t, r, ev);
  else
    react(t, r, ev, flags);
  t->cb = outer;
  atomic_store(&r->in_cb, false);
}
