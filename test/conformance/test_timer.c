/* SPDX-License-Identifier: BSD-2-Clause */
/* Timer events (DESIGN.md §4): one-shot relative nanosecond timers. flags = RASIO_TIMER,
 * .nsec = first expiry; rasio_event_set_nsec re-arms relative to now, replacing a pending
 * expiry; nsec 0 fires at once; a timer never fires early; re-arm and cancel work from inside
 * the timer's own notification.
 *
 * Timing assertions are only ever "not early" and ordering, never "fast": a fire time is
 * compared with rasio_now_ns() read just *before* the call that armed the timer, which is a
 * lower bound of the deadline the library computed.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "helpers.h"
#include "rec_util.h"

/* --- a timer under test ----------------------------------------------------------------- */

#define TMR_HIST 8

/* Records every fire, optionally re-arms or unsubscribes from inside its notification, and
 * forwards every notification to a recorder so th_rec_wait / th_dispose work. */
typedef struct tmr {
  th_rec_t *rec;
  uint64_t nsec;        /* expiry requested by every (re-)arm */
  unsigned rearms;      /* the notification re-arms this many times ... */
  bool unsub_when_done; /* ... and then unsubscribes (from inside the notification) */
  atomic_uint *seq_src; /* optional counter shared by many timers: a global fire order */
  unsigned seq;         /* this timer's position in that order (first fire) */
  atomic_uint fires;
  int late_set_nsec;    /* set_nsec's result inside the notification after unsubscribing */
  uint64_t arm_lo[TMR_HIST]; /* rasio_now_ns() just before each (re-)arm call */
  uint64_t arm_hi[TMR_HIST]; /* ... and just after it returned */
  uint64_t fire_at[TMR_HIST];
} tmr_t;

static void tmr_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  tmr_t *t = ctx;
  if (!(flags & RASIO_TIMER)) {
    th_rec_notify(ev, flags, arg, t->rec); /* may destroy ev: touch nothing after */
    return;
  }
  uint64_t now = rasio_now_ns();
  unsigned n = atomic_load(&t->fires);
  if (n < TMR_HIST) t->fire_at[n] = now;
  if (n == 0 && t->seq_src) t->seq = atomic_fetch_add(t->seq_src, 1);
  atomic_store(&t->fires, n + 1);
  th_rec_notify(ev, flags, arg, t->rec);
  if (n < t->rearms) {
    if (n + 1 < TMR_HIST) t->arm_lo[n + 1] = rasio_now_ns();
    CHECK_OK(rasio_event_set_nsec(ev, t->nsec));
    if (n + 1 < TMR_HIST) t->arm_hi[n + 1] = rasio_now_ns();
  } else if (t->unsub_when_done) {
    CHECK_OK(rasio_event_unsubscribe(ev));
    t->late_set_nsec = rasio_event_set_nsec(ev, t->nsec);
  }
}

static void tmr_init(tmr_t *t, th_rec_t *rec, uint64_t nsec) {
  *t = (tmr_t){.rec = rec, .nsec = nsec};
  atomic_init(&t->fires, 0);
}

static rasio_event_t *tmr_new_opts(rasio_loop_t *loop, tmr_t *t, bool noisy) {
  rasio_event_opts_t o = {.flags = RASIO_TIMER, .nsec = t->nsec, .noisy = noisy,
                          .notify = tmr_notify, .ctx = t};
  rasio_event_t *ev = NULL;
  t->arm_lo[0] = rasio_now_ns();
  CHECK_OK(rasio_event_new(loop, &o, &ev));
  t->arm_hi[0] = rasio_now_ns();
  CHECK(ev != NULL);
  return ev;
}

static rasio_event_t *tmr_new(rasio_loop_t *loop, tmr_t *t) {
  return tmr_new_opts(loop, t, false);
}

/* Fire k happened no earlier than arm k + nsec. */
static void check_not_early(const tmr_t *t, unsigned k) {
  if (t->fire_at[k] < t->arm_lo[k] + t->nsec)
    rt_fail(__FILE__, __LINE__, "timer of %ju ns fired %ju ns after its arm (early)",
            (uintmax_t)t->nsec, (uintmax_t)(t->fire_at[k] - t->arm_lo[k]));
}

/* Skips the test if the calling thread was descheduled for so long between two steps
 * (from_ns until now) that the contract would allow a different outcome than the test
 * expects. */
static void skip_if_stalled(uint64_t from_ns, uint64_t budget_ns, const char *what) {
  if (rasio_now_ns() - from_ns >= budget_ns)
    SKIP("test thread stalled for >= %ju ms during %s; outcome not determined",
         (uintmax_t)(budget_ns / 1000000u), what);
}

/* --- ordering and accuracy ---------------------------------------------------------------- */

#define ORDER_N 1000

static int by_seq(const void *a, const void *b) {
  const tmr_t *x = *(tmr_t *const *)a, *y = *(tmr_t *const *)b;
  return (x->seq > y->seq) - (x->seq < y->seq);
}

/* 1,000 timers with random deadlines over 0-200 ms fire in deadline order, none early.
 * Each deadline is only known to lie in [arm_lo + nsec, arm_hi + nsec]; the sequence is in
 * order iff no timer fires after one whose deadline is surely later: for every fire j,
 * hi_j >= lo_i for all earlier fires i. (The loop runs while the timers are created; a
 * timer added after the loop fired a later-due one has arm_hi past that one's deadline,
 * so the check rightly allows it.) */
TEST_T(timer_fires_in_deadline_order, 40) {
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  tmr_t *t = calloc(ORDER_N, sizeof *t);
  tmr_t **order = calloc(ORDER_N, sizeof *order);
  rasio_event_t **ev = calloc(ORDER_N, sizeof *ev);
  CHECK(t && order && ev);
  atomic_uint seq;
  atomic_init(&seq, 0);
  uint32_t rng = 0x9e3779b9u;

  for (int i = 0; i < ORDER_N; i++) {
    tmr_init(&t[i], rec, rng_next(&rng) % (MS(200) + 1));
    t[i].seq_src = &seq;
    ev[i] = tmr_new(loop, &t[i]);
  }
  CHECK(th_rec_wait(rec, NULL, RASIO_TIMER, ORDER_N, 10000));

  for (int i = 0; i < ORDER_N; i++) {
    CHECK_EQ(load_u(&t[i].fires), 1);
    check_not_early(&t[i], 0);
    order[i] = &t[i];
  }
  qsort(order, ORDER_N, sizeof *order, by_seq);
  uint64_t max_lo = 0;
  for (int j = 0; j < ORDER_N; j++) {
    uint64_t lo = order[j]->arm_lo[0] + order[j]->nsec, hi = order[j]->arm_hi[0] + order[j]->nsec;
    if (hi < max_lo)
      rt_fail(__FILE__, __LINE__, "fire #%d (nsec %ju) came after a timer due %ju ns later", j,
              (uintmax_t)order[j]->nsec, (uintmax_t)(max_lo - hi));
    if (lo > max_lo) max_lo = lo;
  }

  for (int i = 0; i < ORDER_N; i++) CHECK_OK(rasio_event_unsubscribe(ev[i]));
  CHECK(th_rec_wait(rec, NULL, RASIO_DISPOSED, ORDER_N, 10000));
  CHECK_EQ(th_rec_count(rec, NULL, RASIO_TIMER), ORDER_N);
  th_loop_end(loop);
  rec_free(rec);
  free(ev);
  free(order);
  free(t);
}

/* A lone timer never fires before its expiry, sub-millisecond included (a loop that waits
 * in whole milliseconds and then fires "close enough" deadlines would fail here). */
TEST_T(timer_never_early, 40) {
  static const uint64_t durations[] = {US(300), MS(1), US(1500), MS(5), MS(20), MS(100)};
  rasio_loop_t *loop = started_loop();
  for (size_t d = 0; d < sizeof durations / sizeof durations[0]; d++) {
    for (int round = 0; round < 4; round++) {
      th_rec_t *rec = rec_new(true);
      tmr_t t;
      tmr_init(&t, rec, durations[d]);
      rasio_event_t *ev = tmr_new(loop, &t);
      CHECK(th_rec_wait(rec, ev, RASIO_TIMER, 1, WAIT_LONG_MS));
      check_not_early(&t, 0);
      th_dispose(rec, ev);
      rec_free(rec);
    }
  }
  th_loop_end(loop);
}

/* nsec 0 fires (the Pony runtime's epoll backend never fired it), exactly once. */
TEST(timer_zero_fires_at_once) {
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  tmr_t t;
  tmr_init(&t, rec, 0);
  rasio_event_t *ev = tmr_new(loop, &t);
  CHECK(th_rec_wait(rec, ev, RASIO_TIMER, 1, WAIT_LONG_MS));
  CHECK(!th_rec_wait(rec, ev, RASIO_TIMER, 2, WAIT_QUIET_MS));
  check_not_early(&t, 0);
  th_dispose(rec, ev);
  th_loop_end(loop);
  rec_free(rec);
}

/* Expiries too far to represent (now + nsec overflows) mean "not in this program's life",
 * never a wrapped deadline in the past; meanwhile the loop keeps serving a near timer (the
 * wait timeout derived from such deadlines must stay valid). */
TEST(timer_huge_nsec_does_not_wrap) {
  static const uint64_t huge[] = {UINT64_MAX, UINT64_MAX - 1, UINT64_MAX / 2};
  enum { N_HUGE = sizeof huge / sizeof huge[0] };
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  tmr_t t[N_HUGE + 1];
  rasio_event_t *ev[N_HUGE + 1];
  for (int i = 0; i < N_HUGE; i++) {
    tmr_init(&t[i], rec, huge[i]);
    ev[i] = tmr_new(loop, &t[i]);
  }
  tmr_init(&t[N_HUGE], rec, MS(20));
  ev[N_HUGE] = tmr_new(loop, &t[N_HUGE]);
  CHECK(th_rec_wait(rec, ev[N_HUGE], RASIO_TIMER, 1, WAIT_LONG_MS));
  check_not_early(&t[N_HUGE], 0);
  th_sleep_ms(WAIT_QUIET_MS);
  CHECK_EQ(th_rec_count(rec, NULL, RASIO_TIMER), 1);
  for (int i = 0; i <= N_HUGE; i++) th_dispose(rec, ev[i]);
  th_loop_end(loop);
  rec_free(rec);
}

/* --- re-arming ------------------------------------------------------------------------ */

/* set_nsec from inside the timer's own notification fires again: three fires (two re-arms),
 * then the third notification unsubscribes; DISPOSED is last. */
TEST(timer_rearm_from_own_notify) {
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  tmr_t t;
  tmr_init(&t, rec, MS(10));
  t.rearms = 2;
  t.unsub_when_done = true;
  rasio_event_t *ev = tmr_new(loop, &t);
  CHECK(th_rec_wait(rec, ev, RASIO_DISPOSED, 1, WAIT_LONG_MS));
  CHECK_EQ(th_rec_count(rec, ev, RASIO_TIMER), 3);
  CHECK_EQ(th_rec_last(rec, ev), RASIO_DISPOSED);
  for (unsigned k = 0; k < 3; k++) check_not_early(&t, k);
  th_loop_end(loop);
  rec_free(rec);
}

/* Shared body: arm with first_ns, immediately set_nsec(second_ns) -> exactly one TIMER, no
 * earlier than second_ns after the set_nsec call, and none at the replaced deadline.
 *
 * With loop_first the loop already waits on first_ns when set_nsec runs (it must be woken
 * for a shorter expiry); then first_ns must exceed WAIT_LONG_MS, so that a kept old deadline
 * shows as "no TIMER" rather than as a late one. Otherwise the loop starts after set_nsec,
 * so no TIMER for the old expiry can have been produced however slowly this thread runs. */
static void check_set_nsec_replaces(uint64_t first_ns, uint64_t second_ns, bool loop_first) {
  rasio_loop_t *loop = th_loop();
  if (loop_first) CHECK_OK(rasio_loop_start(loop));
  th_rec_t *rec = rec_new(true);
  tmr_t t;
  tmr_init(&t, rec, first_ns);
  rasio_event_t *ev = tmr_new(loop, &t);
  uint64_t set_at = rasio_now_ns();
  CHECK_OK(rasio_event_set_nsec(ev, second_ns));
  /* A TIMER already produced may still arrive; none can be before first_ns has passed. */
  if (loop_first) skip_if_stalled(t.arm_lo[0], first_ns, "arm + set_nsec");
  else CHECK_OK(rasio_loop_start(loop));

  CHECK(th_rec_wait(rec, ev, RASIO_TIMER, 1, WAIT_LONG_MS));
  if (t.fire_at[0] < set_at + second_ns)
    rt_fail(__FILE__, __LINE__, "fired %ju ns after set_nsec(%ju)",
            (uintmax_t)(t.fire_at[0] - set_at), (uintmax_t)second_ns);
  /* Wait past both deadlines: the replaced one must not fire as well. */
  uint64_t quiet_ms = (first_ns > second_ns ? first_ns : second_ns) / 1000000u + 200;
  CHECK(!th_rec_wait(rec, ev, RASIO_TIMER, 2, (unsigned)quiet_ms));
  th_dispose(rec, ev);
  th_loop_end(loop);
  rec_free(rec);
}

TEST(timer_set_nsec_replaces_with_later) { check_set_nsec_replaces(MS(50), MS(300), false); }

TEST(timer_set_nsec_replaces_with_earlier) { check_set_nsec_replaces(MS(6000), MS(50), true); }

/* --- cancelling --------------------------------------------------------------------------- */

/* Unsubscribe while the loop waits for the timer: DISPOSED only, also past the old
 * deadline (a long one, so that even a slow machine unsubscribes before it). */
TEST(timer_cancel_before_fire) {
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  tmr_t t;
  tmr_init(&t, rec, MS(1000));
  rasio_event_t *ev = tmr_new(loop, &t);
  CHECK_OK(rasio_event_unsubscribe(ev));
  skip_if_stalled(t.arm_lo[0], t.nsec, "arm + unsubscribe");
  CHECK(th_rec_wait(rec, ev, RASIO_DISPOSED, 1, WAIT_LONG_MS));
  while (rasio_now_ns() < t.arm_lo[0] + t.nsec + MS(200)) th_sleep_ms(10);
  CHECK_EQ(th_rec_count(rec, ev, 0), 1);
  CHECK_EQ(th_rec_flags(rec, ev), RASIO_DISPOSED);
  th_loop_end(loop);
  rec_free(rec);
}

/* Unsubscribe racing an immediate expiry: at most one TIMER, exactly one DISPOSED, last
 * (the recorder fails on anything after DISPOSED). */
TEST(timer_cancel_races_expiry) {
  rasio_loop_t *loop = started_loop();
  for (int round = 0; round < 200; round++) {
    th_rec_t *rec = rec_new(true);
    tmr_t t;
    tmr_init(&t, rec, 0);
    rasio_event_t *ev = tmr_new(loop, &t);
    CHECK_OK(rasio_event_unsubscribe(ev));
    CHECK(th_rec_wait(rec, ev, RASIO_DISPOSED, 1, WAIT_LONG_MS));
    CHECK_LE(th_rec_count(rec, ev, RASIO_TIMER), 1);
    CHECK_EQ(th_rec_count(rec, ev, RASIO_DISPOSED), 1);
    CHECK_EQ(th_rec_last(rec, ev), RASIO_DISPOSED);
    rec_free(rec);
  }
  th_loop_end(loop);
}

/* Unsubscribe from inside the TIMER notification: DISPOSED follows and is last; set_nsec
 * right after the unsubscribe already answers ESTATE. */
TEST(timer_unsubscribe_in_notify) {
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  tmr_t t;
  tmr_init(&t, rec, MS(5));
  t.unsub_when_done = true;
  rasio_event_t *ev = tmr_new(loop, &t);
  CHECK(th_rec_wait(rec, ev, RASIO_DISPOSED, 1, WAIT_LONG_MS));
  CHECK_EQ(th_rec_count(rec, ev, RASIO_TIMER), 1);
  CHECK_EQ(th_rec_count(rec, ev, RASIO_DISPOSED), 1);
  CHECK_EQ(th_rec_last(rec, ev), RASIO_DISPOSED);
  CHECK_ERR(t.late_set_nsec, RASIO_ESTATE);
  th_loop_end(loop);
  rec_free(rec);
}

/* set_nsec after unsubscribe is ESTATE, before and after DISPOSED; a second unsubscribe is
 * a no-op. */
TEST(timer_set_nsec_after_unsubscribe_estate) {
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(false);
  tmr_t t;
  tmr_init(&t, rec, MS(10000));
  rasio_event_t *ev = tmr_new(loop, &t);
  CHECK_OK(rasio_event_unsubscribe(ev));
  CHECK_ERR(rasio_event_set_nsec(ev, 0), RASIO_ESTATE);
  CHECK(th_rec_wait(rec, ev, RASIO_DISPOSED, 1, WAIT_LONG_MS));
  CHECK_ERR(rasio_event_set_nsec(ev, 0), RASIO_ESTATE);
  CHECK_OK(rasio_event_unsubscribe(ev));
  CHECK(!th_rec_wait(rec, ev, 0, 2, WAIT_QUIET_MS));
  th_dispose(rec, ev); /* already disposed: takes it out of the recorder's limbo, destroys */
  th_loop_end(loop);
  rec_free(rec);
}

/* --- argument checks ---------------------------------------------------------------------- */

/* set_nsec is for timers only. */
TEST(timer_set_nsec_on_socket_event_einval) {
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  rasio_event_opts_t o = {.fd = a, .flags = RASIO_READ, .notify = th_rec_notify, .ctx = rec};
  rasio_event_t *ev = NULL;
  CHECK_OK(rasio_event_new(loop, &o, &ev));
  CHECK_ERR(rasio_event_set_nsec(ev, MS(1)), RASIO_EINVAL);
  th_dispose(rec, ev);
  th_close(a);
  th_close(b);
  th_loop_end(loop);
  rec_free(rec);
}

/* A timer takes no other interest flag, and needs a notify function; nothing is created
 * (th_loop_end would find a live event). */
TEST(timer_bad_opts_einval) {
  static const uint32_t bad_flags[] = {RASIO_TIMER | RASIO_READ,    RASIO_TIMER | RASIO_WRITE,
                                       RASIO_TIMER | RASIO_SIGNAL,  RASIO_TIMER | RASIO_ONESHOT,
                                       RASIO_TIMER | RASIO_LEVEL,   RASIO_TIMER | RASIO_STDIN,
                                       RASIO_TIMER | RASIO_DISPOSED, RASIO_TIMER | (1u << 30)};
  rasio_loop_t *loop = th_loop();
  th_rec_t *rec = rec_new(true);
  rasio_event_t *ev = NULL;
  for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++) {
    rasio_event_opts_t o = {.flags = bad_flags[i], .nsec = MS(1), .notify = th_rec_notify,
                            .ctx = rec};
    CHECK_ERR(rasio_event_new(loop, &o, &ev), RASIO_EINVAL);
  }
  rasio_event_opts_t no_notify = {.flags = RASIO_TIMER, .nsec = MS(1)};
  CHECK_ERR(rasio_event_new(loop, &no_notify, &ev), RASIO_EINVAL);
  CHECK_EQ(rasio_loop_noisy(loop), 0);
  th_loop_end(loop);
  rec_free(rec);
}

/* --- scale ------------------------------------------------------------------------------ */

#define SMOKE_N 100000

/* 100,000 timers: create (far future), re-arm all (replace), re-arm half to fire now, then
 * cancel all. Correctness only: the fired half fires exactly once, the rest never; every
 * timer gets exactly one DISPOSED and nothing after it. */
TEST_T(timer_100k_set_cancel_smoke, 120) {
  rasio_loop_t *loop = started_loop();
  cnt_t *c = calloc(SMOKE_N, sizeof *c);
  rasio_event_t **ev = calloc(SMOKE_N, sizeof *ev);
  CHECK(c && ev);
  uint32_t rng = 12345;

  for (int i = 0; i < SMOKE_N; i++) {
    rasio_event_opts_t o = {.flags = RASIO_TIMER, .nsec = MS(3600 * 1000) + rng_next(&rng),
                            .notify = cnt_notify, .ctx = &c[i]};
    CHECK_OK(rasio_event_new(loop, &o, &ev[i]));
  }
  for (int i = 0; i < SMOKE_N; i++)
    CHECK_OK(rasio_event_set_nsec(ev[i], MS(1800 * 1000) + rng_next(&rng)));
  for (int i = 0; i < SMOKE_N; i += 2) CHECK_OK(rasio_event_set_nsec(ev[i], rng_next(&rng) % MS(1)));

  uint64_t end = th_now_ms() + 60000;
  for (int i = 0; i < SMOKE_N; i += 2) {
    while (atomic_load(&c[i].timers) == 0 && th_now_ms() < end) th_sleep_ms(1);
    CHECK_EQ(load_u(&c[i].timers), 1);
  }
  for (int i = 0; i < SMOKE_N; i++) CHECK_OK(rasio_event_unsubscribe(ev[i]));
  for (int i = 0; i < SMOKE_N; i++) {
    while (atomic_load(&c[i].disposed) == 0 && th_now_ms() < end) th_sleep_ms(1);
    CHECK_EQ(load_u(&c[i].disposed), 1);
    CHECK_EQ(load_u(&c[i].timers), i % 2 == 0 ? 1 : 0);
    CHECK_EQ(load_u(&c[i].after_disposed), 0);
  }
  th_loop_end(loop);
  free(ev);
  free(c);
}

/* --- noisy timers and run modes --------------------------------------------------------- */

/* A noisy timer keeps RUN_QUIET running on the test thread until it fires; its notification
 * unsubscribes and DISPOSED destroys it, after which the run returns. */
TEST(timer_noisy_keeps_run_quiet_alive) {
  rasio_loop_t *loop = th_loop();
  th_rec_t *rec = rec_new(true);
  tmr_t t;
  tmr_init(&t, rec, MS(100));
  t.unsub_when_done = true;
  uint64_t start = rasio_now_ns();
  rasio_event_t *ev = tmr_new_opts(loop, &t, true);
  CHECK_EQ(rasio_loop_noisy(loop), 1);
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_QUIET));
  CHECK_GE(rasio_now_ns() - start, MS(100));
  CHECK_EQ(th_rec_count(rec, ev, RASIO_TIMER), 1);
  CHECK_EQ(th_rec_count(rec, ev, RASIO_DISPOSED), 1);
  CHECK_EQ(rasio_loop_noisy(loop), 0);
  check_not_early(&t, 0);
  th_loop_end(loop);
  rec_free(rec);
}

/* RUN_QUIET returns when only non-noisy timers exist, without waiting for them. The timer
 * is then disposed by running single iterations. */
TEST(timer_non_noisy_does_not_hold_run_quiet) {
  rasio_loop_t *loop = th_loop();
  th_rec_t *rec = rec_new(true);
  tmr_t t;
  tmr_init(&t, rec, MS(10000));
  rasio_event_t *ev = tmr_new(loop, &t);
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_QUIET));
  CHECK_EQ(th_rec_count(rec, ev, 0), 0);
  CHECK_OK(rasio_event_unsubscribe(ev));
  uint64_t end = th_now_ms() + WAIT_LONG_MS;
  while (th_rec_count(rec, ev, RASIO_DISPOSED) == 0 && th_now_ms() < end)
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  CHECK_EQ(th_rec_flags(rec, ev), RASIO_DISPOSED);
  th_loop_end(loop);
  rec_free(rec);
}

/* While a noisy timer is alive, stop refuses with EBUSY; once it is destroyed, stop works
 * (th_loop_end checks it). */
TEST(timer_noisy_blocks_stop) {
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  tmr_t t;
  tmr_init(&t, rec, MS(10000));
  rasio_event_t *ev = tmr_new_opts(loop, &t, true);
  CHECK_ERR(rasio_loop_stop(loop), RASIO_EBUSY);
  th_dispose(rec, ev);
  CHECK_EQ(rasio_loop_noisy(loop), 0);
  th_loop_end(loop);
  rec_free(rec);
}
