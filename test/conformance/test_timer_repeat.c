/* SPDX-License-Identifier: BSD-2-Clause */
/* Repeating timers (rasio.h: rasio_event_opts_t.interval, rasio_event_set_interval): a
 * timer with an interval re-arms itself after each expiry, one period after the deadline
 * that expired (never early); periods the loop missed are skipped, not burst; interval 0
 * stops the repetition after the pending expiry; set_nsec replaces the pending expiry.
 * Timing checks are "not early" and counts, never "fast".
 */
#include <stdatomic.h>

#include "check.h"
#include "helpers.h"
#include "rec_util.h"

#define REP_HIST 16

typedef struct rep {
  th_rec_t *rec;
  atomic_uint fires;
  uint64_t fire_at[REP_HIST];
  unsigned stop_at;   /* non-zero: set_interval(0) inside this fire (1-based) */
  int stop_rc;
} rep_t;

static void rep_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  rep_t *r = ctx;
  if (flags & RASIO_TIMER) {
    unsigned n = atomic_load(&r->fires);
    if (n < REP_HIST) r->fire_at[n] = rasio_now_ns();
    atomic_store(&r->fires, n + 1);
    if (r->stop_at != 0 && n + 1 == r->stop_at) r->stop_rc = rasio_event_set_interval(ev, 0);
  }
  th_rec_notify(ev, flags, arg, r->rec); /* may destroy ev on DISPOSED */
}

static rasio_event_t *rep_new(rasio_loop_t *loop, rep_t *r, uint64_t nsec, uint64_t interval) {
  r->rec = rec_new(true);
  atomic_init(&r->fires, 0);
  rasio_event_opts_t o = {.flags = RASIO_TIMER, .nsec = nsec, .interval = interval,
                          .notify = rep_notify, .ctx = r};
  rasio_event_t *ev = NULL;
  CHECK_OK(rasio_event_new(loop, &o, &ev));
  return ev;
}

static void run_until_fires(rasio_loop_t *loop, rep_t *r, unsigned want) {
  uint64_t end = th_now_ms() + th_scaled_ms(WAIT_LONG_MS);
  while (atomic_load(&r->fires) < want && th_now_ms() < end)
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_ONCE));
  CHECK_GE(atomic_load(&r->fires), want);
}

/* Unsubscribes ev and drives the loop (on this thread) until its DISPOSED. */
static void dispose_here(rasio_loop_t *loop, th_rec_t *rec, rasio_event_t *ev) {
  CHECK_OK(rasio_event_unsubscribe(ev));
  uint64_t end = th_now_ms() + th_scaled_ms(WAIT_LONG_MS);
  while (th_rec_count(rec, ev, RASIO_DISPOSED) == 0 && th_now_ms() < end)
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  CHECK_EQ(th_rec_count(rec, ev, RASIO_DISPOSED), 1);
}

static void run_for_ms(rasio_loop_t *loop, unsigned ms) {
  uint64_t end = th_now_ms() + ms;
  while (th_now_ms() < end) {
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
    th_sleep_ms(1);
  }
}

/* Five fires without any re-arm by the owner; fire k (0-based) comes no earlier than
 * nsec + k * interval after the arm. Then unsubscribe: DISPOSED, nothing after. */
TEST(timer_interval_repeats_without_rearm) {
  rasio_loop_t *loop = th_loop();
  static rep_t r;
  uint64_t armed = rasio_now_ns();
  rasio_event_t *ev = rep_new(loop, &r, MS(5), MS(10));
  run_until_fires(loop, &r, 5);
  for (unsigned k = 0; k < 5; k++) CHECK_GE(r.fire_at[k], armed + MS(5) + k * MS(10));
  dispose_here(loop, r.rec, ev);
  unsigned fires = atomic_load(&r.fires);
  run_for_ms(loop, WAIT_QUIET_MS);
  CHECK_EQ(atomic_load(&r.fires), fires);
  th_loop_end(loop);
  rec_free(r.rec);
}

/* set_interval(0) inside the third fire: the expiry already pending (the fourth) still
 * comes, then nothing. */
TEST(timer_interval_zero_stops_after_pending_expiry) {
  rasio_loop_t *loop = th_loop();
  static rep_t r;
  r.stop_at = 3;
  rasio_event_t *ev = rep_new(loop, &r, 0, MS(5));
  run_until_fires(loop, &r, 4);
  CHECK_OK(r.stop_rc);
  run_for_ms(loop, th_scaled_ms(WAIT_QUIET_MS));
  CHECK_EQ(atomic_load(&r.fires), 4);
  /* A stopped repetition starts again with set_nsec (and set_interval). */
  CHECK_OK(rasio_event_set_interval(ev, MS(5)));
  CHECK_OK(rasio_event_set_nsec(ev, 0));
  run_until_fires(loop, &r, 6);
  dispose_here(loop, r.rec, ev);
  th_loop_end(loop);
  rec_free(r.rec);
}

/* The loop is not run for ten periods: the next iteration delivers one TIMER, not ten,
 * and the one after that comes a period later. */
TEST(timer_interval_skips_missed_periods) {
  rasio_loop_t *loop = th_loop();
  static rep_t r;
  rasio_event_t *ev = rep_new(loop, &r, MS(10), MS(10));
  th_sleep_ms(110);
  uint64_t before = rasio_now_ns();
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  CHECK_EQ(atomic_load(&r.fires), 1);
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  CHECK_EQ(atomic_load(&r.fires), 1);
  run_until_fires(loop, &r, 2);
  /* The missed periods were skipped: the next expiry is a period after that iteration. */
  CHECK_GE(r.fire_at[1], before + MS(10));
  dispose_here(loop, r.rec, ev);
  th_loop_end(loop);
  rec_free(r.rec);
}

/* set_nsec on a repeating timer replaces the pending expiry; the period continues from
 * the new one. */
TEST(timer_interval_set_nsec_replaces_pending) {
  rasio_loop_t *loop = th_loop();
  static rep_t r;
  rasio_event_t *ev = rep_new(loop, &r, MS(10000), MS(20));
  uint64_t armed = rasio_now_ns();
  CHECK_OK(rasio_event_set_nsec(ev, MS(5)));
  run_until_fires(loop, &r, 3);
  CHECK_GE(r.fire_at[0], armed + MS(5));
  CHECK_GE(r.fire_at[2], armed + MS(5) + 2 * MS(20));
  CHECK_LT(r.fire_at[0], armed + MS(9000)); /* the 10 s expiry was replaced */
  dispose_here(loop, r.rec, ev);
  th_loop_end(loop);
  rec_free(r.rec);
}

/* interval is a timer's option: on any other event, rasio_event_new refuses it (EINVAL)
 * and nothing is created; the socket stays usable for a correct subscription. */
TEST(timer_interval_rejected_on_other_events) {
  rasio_loop_t *loop = th_loop();
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  th_rec_t *rec = rec_new(true);
  static char not_null;
  rasio_event_t *ev = (rasio_event_t *)(void *)&not_null;
  rasio_event_opts_t o = {.fd = a, .flags = RASIO_READ, .interval = MS(1),
                          .notify = th_rec_notify, .ctx = rec};
  CHECK_ERR(rasio_event_new(loop, &o, &ev), RASIO_EINVAL);
  CHECK(ev == NULL);
  o.interval = 0;
  CHECK_OK(rasio_event_new(loop, &o, &ev));
  dispose_here(loop, rec, ev);
  th_close(a);
  th_close(b);
  th_loop_end(loop);
  rec_free(rec);
}
