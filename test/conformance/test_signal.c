/* SPDX-License-Identifier: BSD-2-Clause */
/* Signal events (DESIGN.md §4): flags = RASIO_SIGNAL, .nsec = signal number. A process-wide
 * registry; any number of subscribers per signal, on any loops; the SIGNAL notification's
 * arg counts the deliveries coalesced since the last one; subscription is synchronous (a
 * raise() right after rasio_event_new returns is delivered); the last unsubscribe restores
 * the previous disposition before its DISPOSED.
 *
 * raise() is standard C, so these tests are portable; only the choice of signals and the
 * way a disposition is read differ per platform (the block below).
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* sigaction */
#endif

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#ifndef _WIN32
#include <unistd.h> /* getpid */
#endif

#include "check.h"
#include "helpers.h"
#include "rec_util.h"

/* --- platform: test signals and dispositions ---------------------------------------------- */

typedef void (*sig_fn)(int);

/* A disposition of the test's own, to tell "restored" from "reset to default". It must be
 * a plain function with a global counter: it is a signal handler. */
static volatile sig_atomic_t custom_hits;

#ifdef _WIN32
/* The CRT knows only a few signals; rasio supports SIGINT and SIGTERM there. */
#define SIG_A SIGINT
#define SIG_B SIGTERM

static sig_fn sig_get(int sig) {
  sig_fn old = signal(sig, SIG_IGN); /* the CRT cannot read a handler without setting one */
  signal(sig, old);
  return old;
}

static void sig_set(int sig, sig_fn fn) { CHECK(signal(sig, fn) != SIG_ERR); }

/* The CRT resets a handler to SIG_DFL before calling it: re-install. */
static void custom_handler(int sig) {
  signal(sig, custom_handler);
  custom_hits++;
}

/* The CRT has no process-directed signals: raise() is all there is. */
static void sig_send_process(int sig) { CHECK_EQ(raise(sig), 0); }

static int sig_uncatchable(int i) {
  (void)i;
  SKIP("the Windows CRT has no uncatchable signal");
}
#else
#define SIG_A SIGUSR1
#define SIG_B SIGUSR2

static sig_fn sig_get(int sig) {
  struct sigaction old;
  CHECK_EQ(sigaction(sig, NULL, &old), 0);
  return old.sa_handler;
}

static void sig_set(int sig, sig_fn fn) {
  struct sigaction sa = {0};
  sa.sa_handler = fn;
  sigemptyset(&sa.sa_mask);
  CHECK_EQ(sigaction(sig, &sa, NULL), 0);
}

static void custom_handler(int sig) {
  (void)sig;
  custom_hits++;
}

/* To the whole process, as `kill` from a shell: the kernel picks any thread that does not
 * block it, not necessarily the one that subscribed (raise() targets the calling thread). */
static void sig_send_process(int sig) { CHECK_EQ(kill(getpid(), sig), 0); }

/* Signals no handler can be installed for; -1 past the last. */
static int sig_uncatchable(int i) {
  static const int sigs[] = {SIGKILL, SIGSTOP};
  return i < 2 ? sigs[i] : -1;
}
#endif

/* --- helpers ------------------------------------------------------------------------------ */

static rasio_event_t *sig_new_on(rasio_loop_t *loop, int signo, rasio_notify_fn fn, void *ctx,
                                 rasio_mailbox_t *mb) {
  rasio_event_opts_t o = {.flags = RASIO_SIGNAL, .nsec = (uint64_t)signo, .notify = fn,
                          .ctx = ctx, .mailbox = mb};
  rasio_event_t *ev = NULL;
  CHECK_OK(rasio_event_new(loop, &o, &ev));
  CHECK(ev != NULL);
  return ev;
}

static rasio_event_t *sig_new(rasio_loop_t *loop, int signo, th_rec_t *rec) {
  return sig_new_on(loop, signo, th_rec_notify, rec, NULL);
}

/* Every SIGNAL recorded for ev carries arg >= 1. */
static void check_args_positive(th_rec_t *rec, rasio_event_t *ev) {
  uint32_t min;
  rec_arg_sum(rec, ev, RASIO_SIGNAL, &min);
  CHECK_GE(min, 1);
}

typedef struct sum_wait {
  th_rec_t *rec;
  rasio_event_t *ev;
  uint64_t want;
} sum_wait_t;

static bool sum_reached(void *arg) {
  sum_wait_t *w = arg;
  return rec_arg_sum(w->rec, w->ev, RASIO_SIGNAL, NULL) >= w->want;
}

/* --- delivery ------------------------------------------------------------------------------ */

#define MANY_SUBS 20 /* more than the Pony runtime's 16 slots: rasio has no such limit */

/* Every subscriber of a signal on one loop gets SIGNAL with arg >= 1. */
TEST(signal_many_subscribers_one_loop) {
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  rasio_event_t *ev[MANY_SUBS];
  for (int i = 0; i < MANY_SUBS; i++) ev[i] = sig_new(loop, SIG_A, rec);
  CHECK_EQ(raise(SIG_A), 0);
  for (int i = 0; i < MANY_SUBS; i++) {
    CHECK(th_rec_wait(rec, ev[i], RASIO_SIGNAL, 1, WAIT_LONG_MS));
    check_args_positive(rec, ev[i]);
  }
  for (int i = 0; i < MANY_SUBS; i++) th_dispose(rec, ev[i]);
  th_loop_end(loop);
  rec_free(rec);
}

/* Subscribers on two different loops all get the same delivery. */
TEST(signal_subscribers_on_two_loops) {
  rasio_loop_t *loop[2] = {started_loop(), started_loop()};
  th_rec_t *rec = rec_new(true);
  rasio_event_t *ev[4];
  for (int i = 0; i < 4; i++) ev[i] = sig_new(loop[i % 2], SIG_A, rec);
  CHECK_EQ(raise(SIG_A), 0);
  for (int i = 0; i < 4; i++) {
    CHECK(th_rec_wait(rec, ev[i], RASIO_SIGNAL, 1, WAIT_LONG_MS));
    check_args_positive(rec, ev[i]);
  }
  for (int i = 0; i < 4; i++) th_dispose(rec, ev[i]);
  th_loop_end(loop[0]);
  th_loop_end(loop[1]);
  rec_free(rec);
}

/* A signal sent to the process (not raised on the subscribing thread) is delivered,
 * whichever thread the kernel interrupts. */
TEST(signal_sent_to_process_delivered) {
  rasio_loop_t *loop = started_loop();
  for (int round = 0; round < 20; round++) {
    th_rec_t *rec = rec_new(true);
    rasio_event_t *ev = sig_new(loop, SIG_A, rec);
    sig_send_process(SIG_A);
    CHECK(th_rec_wait(rec, ev, RASIO_SIGNAL, 1, WAIT_LONG_MS));
    check_args_positive(rec, ev);
    th_dispose(rec, ev);
    rec_free(rec);
  }
  th_loop_end(loop);
}

/* Subscription is synchronous: a raise() right after rasio_event_new returns is delivered
 * (and does not kill the process with the default action). Each round installs and
 * restores the disposition again. */
TEST_T(signal_raise_right_after_subscribe, 60) {
  rasio_loop_t *loop = started_loop();
  for (int round = 0; round < 100; round++) {
    th_rec_t *rec = rec_new(true);
    rasio_event_t *ev = sig_new(loop, SIG_B, rec);
    CHECK_EQ(raise(SIG_B), 0);
    CHECK(th_rec_wait(rec, ev, RASIO_SIGNAL, 1, WAIT_LONG_MS));
    th_dispose(rec, ev);
    rec_free(rec);
  }
  th_loop_end(loop);
}

/* Five quick deliveries are counted exactly: the args of the SIGNAL notifications (however
 * many the loop coalesced them into) sum to 5. */
TEST(signal_coalesced_count_is_exact) {
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  rasio_event_t *ev = sig_new(loop, SIG_A, rec);
  for (int i = 0; i < 5; i++) CHECK_EQ(raise(SIG_A), 0);
  sum_wait_t w = {rec, ev, 5};
  CHECK(wait_until(sum_reached, &w, WAIT_LONG_MS));
  th_sleep_ms(WAIT_QUIET_MS);
  CHECK_EQ(rec_arg_sum(rec, ev, RASIO_SIGNAL, NULL), 5);
  check_args_positive(rec, ev);
  th_dispose(rec, ev);
  th_loop_end(loop);
  rec_free(rec);
}

/* The same with a mailbox executor that is not drained while the signals arrive, so the
 * mailbox merges notifications: merged counts add up, none is lost or doubled. */
TEST(signal_mailbox_merge_keeps_count) {
  rasio_loop_t *loop = started_loop();
  rasio_mailbox_t *mb = NULL;
  CHECK_OK(rasio_mailbox_new(&mb));
  th_rec_t *rec = rec_new(true);
  rasio_event_t *ev = sig_new_on(loop, SIG_A, th_rec_notify, rec, mb);
  for (int i = 0; i < 5; i++) {
    CHECK_EQ(raise(SIG_A), 0);
    th_sleep_ms(5); /* let the loop post separately, so the mailbox has to merge */
  }
  uint64_t end = th_now_ms() + WAIT_LONG_MS;
  while (rec_arg_sum(rec, ev, RASIO_SIGNAL, NULL) < 5 && th_now_ms() < end) {
    rasio_mailbox_wait(mb, MS(10));
    rasio_mailbox_drain(mb, 0);
  }
  th_sleep_ms(WAIT_QUIET_MS);
  rasio_mailbox_drain(mb, 0);
  CHECK_EQ(rec_arg_sum(rec, ev, RASIO_SIGNAL, NULL), 5);
  check_args_positive(rec, ev);

  CHECK_OK(rasio_event_unsubscribe(ev));
  CHECK(drain_until_count(mb, rec, ev, RASIO_DISPOSED, 1, WAIT_LONG_MS));
  CHECK_OK(rasio_mailbox_free(mb));
  th_loop_end(loop);
  rec_free(rec);
}

/* --- disposition ---------------------------------------------------------------------------- */

/* Reads the disposition inside the DISPOSED notification, i.e. exactly when the contract
 * says the previous one is back. */
typedef struct disp_probe {
  th_rec_t *rec;
  int signo;
  sig_fn expect;
  atomic_int restored_at_disposed; /* -1 not yet, 0 no, 1 yes */
} disp_probe_t;

static void disp_probe_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  disp_probe_t *p = ctx;
  if (flags & RASIO_DISPOSED)
    atomic_store(&p->restored_at_disposed, sig_get(p->signo) == p->expect);
  th_rec_notify(ev, flags, arg, p->rec);
}

/* Sets prev as signo's disposition, subscribes (rasio's handler replaces it), unsubscribes:
 * prev is back when DISPOSED runs. */
static void check_restores(int signo, sig_fn prev) {
  sig_set(signo, prev);
  rasio_loop_t *loop = started_loop();
  disp_probe_t p = {.rec = rec_new(true), .signo = signo, .expect = prev};
  atomic_init(&p.restored_at_disposed, -1);
  rasio_event_t *ev = sig_new_on(loop, signo, disp_probe_notify, &p, NULL);
  CHECK(sig_get(signo) != prev);
  th_dispose(p.rec, ev);
  CHECK_EQ(load_i(&p.restored_at_disposed), 1);
  CHECK(sig_get(signo) == prev);
  th_loop_end(loop);
  rec_free(p.rec);
}

/* The last unsubscribe restores a custom handler before its DISPOSED, and a later raise()
 * reaches that handler again. */
TEST(signal_last_unsubscribe_restores_handler) {
  custom_hits = 0;
  check_restores(SIG_A, custom_handler);
  CHECK_EQ(raise(SIG_A), 0);
  CHECK_EQ(custom_hits, 1);
  sig_set(SIG_A, SIG_DFL);
}

/* ... and SIG_IGN (Pony: SIGPIPE must be ignored again, not default), */
TEST(signal_last_unsubscribe_restores_ignore) {
  check_restores(SIG_A, SIG_IGN);
  CHECK_EQ(raise(SIG_A), 0); /* ignored: the process survives */
  sig_set(SIG_A, SIG_DFL);
}

/* ... and SIG_DFL. */
TEST(signal_last_unsubscribe_restores_default) { check_restores(SIG_B, SIG_DFL); }

/* Unsubscribing one of two subscribers keeps the signal installed for the other. */
TEST(signal_partial_unsubscribe_keeps_delivery) {
  sig_set(SIG_A, custom_handler);
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  rasio_event_t *first = sig_new(loop, SIG_A, rec);
  rasio_event_t *second = sig_new(loop, SIG_A, rec);
  th_dispose(rec, first);
  CHECK(sig_get(SIG_A) != custom_handler);
  CHECK_EQ(raise(SIG_A), 0);
  CHECK(th_rec_wait(rec, second, RASIO_SIGNAL, 1, WAIT_LONG_MS));
  th_dispose(rec, second);
  th_loop_end(loop);
  rec_free(rec);
  sig_set(SIG_A, SIG_DFL);
}

/* --- misuse ------------------------------------------------------------------------------ */

/* Signal numbers out of range are EINVAL and create nothing. */
TEST(signal_number_out_of_range_einval) {
  static const uint64_t bad[] = {0, 100000, (uint64_t)1 << 32, UINT64_MAX};
  rasio_loop_t *loop = th_loop();
  th_rec_t *rec = rec_new(true);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rasio_event_opts_t o = {.flags = RASIO_SIGNAL, .nsec = bad[i], .notify = th_rec_notify,
                            .ctx = rec};
    rasio_event_t *ev = NULL;
    CHECK_ERR(rasio_event_new(loop, &o, &ev), RASIO_EINVAL);
  }
  th_loop_end(loop);
  rec_free(rec);
}

/* A signal that cannot be caught (SIGKILL, SIGSTOP) is refused with EINVAL, creates
 * nothing and leaves the registry usable (the next subscription works). */
TEST(signal_uncatchable_einval) {
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  for (int i = 0; sig_uncatchable(i) > 0; i++) {
    for (int twice = 0; twice < 2; twice++) {
      rasio_event_opts_t o = {.flags = RASIO_SIGNAL, .nsec = (uint64_t)sig_uncatchable(i),
                              .notify = th_rec_notify, .ctx = rec};
      rasio_event_t *ev = NULL;
      CHECK_ERR(rasio_event_new(loop, &o, &ev), RASIO_EINVAL);
    }
  }
  rasio_event_t *ev = sig_new(loop, SIG_A, rec);
  CHECK_EQ(raise(SIG_A), 0);
  CHECK(th_rec_wait(rec, ev, RASIO_SIGNAL, 1, WAIT_LONG_MS));
  th_dispose(rec, ev);
  th_loop_end(loop);
  rec_free(rec);
}

/* Unsubscribing twice (and once more after DISPOSED) yields exactly one DISPOSED. */
TEST(signal_double_unsubscribe_one_disposed) {
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(false); /* the event must outlive DISPOSED for the third call */
  rasio_event_t *ev = sig_new(loop, SIG_A, rec);
  CHECK_OK(rasio_event_unsubscribe(ev));
  CHECK_OK(rasio_event_unsubscribe(ev));
  CHECK(th_rec_wait(rec, ev, RASIO_DISPOSED, 1, WAIT_LONG_MS));
  CHECK_OK(rasio_event_unsubscribe(ev));
  CHECK(!th_rec_wait(rec, ev, RASIO_DISPOSED, 2, WAIT_QUIET_MS));
  CHECK_EQ(th_rec_count(rec, ev, 0), 1);
  th_dispose(rec, ev); /* already disposed: takes it out of the recorder's limbo, destroys */
  th_loop_end(loop);
  rec_free(rec);
}

/* --- races ------------------------------------------------------------------------------ */

typedef struct raiser {
  int signo;
  atomic_bool stop;
  atomic_uint raised;
} raiser_t;

static void *raiser_main(void *arg) {
  raiser_t *r = arg;
  while (!atomic_load(&r->stop)) {
    CHECK_EQ(raise(r->signo), 0);
    atomic_fetch_add(&r->raised, 1);
    th_sleep_ms(1);
  }
  return NULL;
}

/* Subscribe / unsubscribe churn while another thread raises the signal continuously: every
 * subscription sees a delivery, and a raise that falls between subscriptions reaches the
 * restored custom handler, never the default action (which would kill the process). */
TEST_T(signal_churn_while_raising, 60) {
  custom_hits = 0;
  sig_set(SIG_B, custom_handler);
  rasio_loop_t *loop = started_loop();
  raiser_t r = {.signo = SIG_B};
  atomic_init(&r.stop, false);
  atomic_init(&r.raised, 0);
  pthread_t t = th_thread_start(raiser_main, &r);
  for (int round = 0; round < 100; round++) {
    th_rec_t *rec = rec_new(true);
    rasio_event_t *ev = sig_new(loop, SIG_B, rec);
    CHECK(th_rec_wait(rec, ev, RASIO_SIGNAL, 1, WAIT_LONG_MS));
    check_args_positive(rec, ev);
    th_dispose(rec, ev);
    rec_free(rec);
  }
  atomic_store(&r.stop, true);
  th_thread_join(t);
  CHECK_GT(load_u(&r.raised), 0);
  CHECK(sig_get(SIG_B) == custom_handler);
  th_loop_end(loop);
  sig_set(SIG_B, SIG_DFL);
}
