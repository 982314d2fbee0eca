/* SPDX-License-Identifier: BSD-2-Clause */
/* Cross-thread behaviour (DESIGN.md §2 "Threading", rasio.h "Mailbox"): any thread may
 * create, re-arm and unsubscribe events while the loop thread waits, and none of that may be
 * lost; stop works from another thread; a mailbox runs notifications and posted functions on
 * its draining thread, in FIFO order; a mailbox owner that unsubscribes on its own thread
 * sees nothing but DISPOSED afterwards.
 *
 * Timers serve as the event source: they need no sockets, and an nsec-0 timer armed from
 * another thread fires only if the arm wakes the blocked loop.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "helpers.h"
#include "rec_util.h"

static rasio_event_t *timer_new(rasio_loop_t *loop, uint64_t nsec, rasio_notify_fn fn, void *ctx,
                                rasio_mailbox_t *mb) {
  rasio_event_opts_t o = {.flags = RASIO_TIMER, .nsec = nsec, .notify = fn, .ctx = ctx,
                          .mailbox = mb};
  rasio_event_t *ev = NULL;
  CHECK_OK(rasio_event_new(loop, &o, &ev));
  CHECK(ev != NULL);
  return ev;
}

static rasio_mailbox_t *mailbox_new(void) {
  rasio_mailbox_t *mb = NULL;
  CHECK_OK(rasio_mailbox_new(&mb));
  CHECK(mb != NULL);
  return mb;
}

/* --- wakeups from many threads ------------------------------------------------------------ */

#define WORKERS 8
#define WAKE_ROUNDS 200

typedef struct worker {
  rasio_loop_t *loop;
  th_rec_t *rec; /* this worker's own: no other thread's events in it */
} worker_t;

static void run_workers(rasio_loop_t *loop, th_thread_fn fn) {
  worker_t w[WORKERS];
  pthread_t t[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    w[i] = (worker_t){.loop = loop, .rec = rec_new(true)};
    t[i] = th_thread_start(fn, &w[i]);
  }
  for (int i = 0; i < WORKERS; i++) th_thread_join(t[i]);
  for (int i = 0; i < WORKERS; i++) rec_free(w[i].rec);
}

/* Creates nsec-0 timers one after another, each expected to fire before the next is made.
 * They stay alive until the end so no address repeats within the recorder. */
static void *new_timer_worker(void *arg) {
  worker_t *w = arg;
  rasio_event_t *ev[WAKE_ROUNDS];
  for (int i = 0; i < WAKE_ROUNDS; i++) {
    ev[i] = timer_new(w->loop, 0, th_rec_notify, w->rec, NULL);
    if (!th_rec_wait(w->rec, ev[i], RASIO_TIMER, 1, WAIT_LONG_MS))
      rt_fail(__FILE__, __LINE__, "round %d: a timer armed from another thread never fired", i);
  }
  for (int i = 0; i < WAKE_ROUNDS; i++) CHECK_OK(rasio_event_unsubscribe(ev[i]));
  CHECK(th_rec_wait(w->rec, NULL, RASIO_DISPOSED, WAKE_ROUNDS, WAIT_LONG_MS));
  return NULL;
}

/* 8 threads x 200 new nsec-0 timers: every arm wakes the blocked loop. */
TEST_T(thread_new_timer_wakes_loop, 60) {
  rasio_loop_t *loop = started_loop();
  run_workers(loop, new_timer_worker);
  th_loop_end(loop);
}

/* One timer per thread (first expiry an hour away), re-armed with set_nsec(0) 200 times,
 * each time waiting for its TIMER. */
static void *set_nsec_worker(void *arg) {
  worker_t *w = arg;
  rasio_event_t *ev = timer_new(w->loop, MS(3600 * 1000), th_rec_notify, w->rec, NULL);
  for (int i = 0; i < WAKE_ROUNDS; i++) {
    CHECK_OK(rasio_event_set_nsec(ev, 0));
    if (!th_rec_wait(w->rec, ev, RASIO_TIMER, (size_t)i + 1, WAIT_LONG_MS))
      rt_fail(__FILE__, __LINE__, "round %d: set_nsec(0) from another thread never fired", i);
  }
  CHECK(!th_rec_wait(w->rec, ev, RASIO_TIMER, WAKE_ROUNDS + 1, WAIT_QUIET_MS));
  th_dispose(w->rec, ev);
  return NULL;
}

/* 8 threads x 200 set_nsec(0): every re-arm wakes the blocked loop, exactly one TIMER each. */
TEST_T(thread_set_nsec_wakes_loop, 60) {
  rasio_loop_t *loop = started_loop();
  run_workers(loop, set_nsec_worker);
  th_loop_end(loop);
}

/* rasio_event_post from 8 threads, 200 times each on the thread's own (idle) timer: every
 * post wakes the blocked loop and yields its USER notification. */
static void *event_post_worker(void *arg) {
  worker_t *w = arg;
  rasio_event_t *ev = timer_new(w->loop, MS(3600 * 1000), th_rec_notify, w->rec, NULL);
  for (int i = 0; i < WAKE_ROUNDS; i++) {
    CHECK_OK(rasio_event_post(ev));
    if (!th_rec_wait(w->rec, ev, RASIO_USER, (size_t)i + 1, WAIT_LONG_MS))
      rt_fail(__FILE__, __LINE__, "round %d: rasio_event_post from another thread never arrived",
              i);
  }
  CHECK_EQ(th_rec_count(w->rec, ev, RASIO_TIMER), 0);
  th_dispose(w->rec, ev);
  return NULL;
}

TEST_T(thread_event_post_wakes_loop, 60) {
  rasio_loop_t *loop = started_loop();
  run_workers(loop, event_post_worker);
  th_loop_end(loop);
}

/* Posts made before the loop runs merge into one USER (the loop is not running, so all
 * three are surely pending when it does). */
TEST(thread_event_post_merges_until_delivered) {
  rasio_loop_t *loop = th_loop();
  th_rec_t *rec = rec_new(true);
  rasio_event_t *ev = timer_new(loop, MS(3600 * 1000), th_rec_notify, rec, NULL);
  for (int i = 0; i < 3; i++) CHECK_OK(rasio_event_post(ev));
  uint64_t end = th_now_ms() + WAIT_LONG_MS;
  while (th_rec_count(rec, ev, RASIO_USER) == 0 && th_now_ms() < end)
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  CHECK_EQ(th_rec_count(rec, ev, RASIO_USER), 1);
  CHECK_OK(rasio_event_unsubscribe(ev));
  while (th_rec_count(rec, ev, RASIO_DISPOSED) == 0 && th_now_ms() < end)
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  CHECK_EQ(th_rec_last(rec, ev), RASIO_DISPOSED);
  th_loop_end(loop);
  rec_free(rec);
}

/* rasio_event_post after unsubscribe is ESTATE, and nothing but DISPOSED arrives. */
TEST(thread_event_post_after_unsubscribe_estate) {
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(false);
  rasio_event_t *ev = timer_new(loop, MS(3600 * 1000), th_rec_notify, rec, NULL);
  CHECK_OK(rasio_event_unsubscribe(ev));
  CHECK_ERR(rasio_event_post(ev), RASIO_ESTATE);
  CHECK(th_rec_wait(rec, ev, RASIO_DISPOSED, 1, WAIT_LONG_MS));
  CHECK_ERR(rasio_event_post(ev), RASIO_ESTATE);
  CHECK(!th_rec_wait(rec, ev, 0, 2, WAIT_QUIET_MS));
  th_dispose(rec, ev); /* already disposed: takes it out of the recorder's limbo, destroys */
  th_loop_end(loop);
  rec_free(rec);
}

/* --- stop ---------------------------------------------------------------------------------- */

typedef struct stopper {
  rasio_loop_t *loop;
  int rc;
  atomic_bool done;
} stopper_t;

static void *stopper_main(void *arg) {
  stopper_t *s = arg;
  s->rc = rasio_loop_stop(s->loop);
  atomic_store(&s->done, true);
  return NULL;
}

static bool stopper_done(void *arg) { return atomic_load(&((stopper_t *)arg)->done); }

/* rasio_loop_stop from another thread while the loop (no events) is blocked returns 0. */
TEST(thread_stop_blocked_loop) {
  rasio_loop_t *loop = started_loop();
  th_sleep_ms(50); /* let the loop block in its wait */
  stopper_t s = {.loop = loop};
  atomic_init(&s.done, false);
  pthread_t t = th_thread_start(stopper_main, &s);
  if (!wait_until(stopper_done, &s, WAIT_LONG_MS))
    rt_fail(__FILE__, __LINE__, "rasio_loop_stop did not return within %u ms", WAIT_LONG_MS);
  th_thread_join(t);
  CHECK_OK(s.rc);
  th_loop_end(loop);
}

/* --- mailboxes ------------------------------------------------------------------------------ */

/* A thread that owns a mailbox and drains it until told to stop. */
typedef struct owner {
  rasio_mailbox_t *mb;
  pthread_t self; /* written by the owner thread itself before `started` */
  atomic_bool started;
  atomic_bool stop;
} owner_t;

static void *owner_main(void *arg) {
  owner_t *o = arg;
  o->self = pthread_self();
  atomic_store(&o->started, true);
  while (!atomic_load(&o->stop)) {
    rasio_mailbox_wait(o->mb, MS(20));
    rasio_mailbox_drain(o->mb, 0);
  }
  rasio_mailbox_drain(o->mb, 0);
  return NULL;
}

static bool owner_started(void *arg) { return atomic_load(&((owner_t *)arg)->started); }

/* Checks every notification runs on the owner's thread, then records it. */
typedef struct thread_probe {
  th_rec_t *rec;
  owner_t *owner;
  atomic_uint wrong_thread;
} thread_probe_t;

static void thread_probe_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  thread_probe_t *p = ctx;
  if (!pthread_equal(pthread_self(), p->owner->self)) atomic_fetch_add(&p->wrong_thread, 1);
  th_rec_notify(ev, flags, arg, p->rec);
}

#define MB_TIMERS 16

/* Events with .mailbox: TIMER and DISPOSED run on the draining thread, not the loop's. */
TEST(thread_mailbox_notifications_run_on_drainer) {
  rasio_loop_t *loop = started_loop();
  owner_t o = {.mb = mailbox_new()};
  atomic_init(&o.started, false);
  atomic_init(&o.stop, false);
  pthread_t t = th_thread_start(owner_main, &o);
  CHECK(wait_until(owner_started, &o, WAIT_LONG_MS));

  thread_probe_t p = {.rec = rec_new(true), .owner = &o};
  atomic_init(&p.wrong_thread, 0);
  rasio_event_t *ev[MB_TIMERS];
  for (int i = 0; i < MB_TIMERS; i++) ev[i] = timer_new(loop, MS(i), thread_probe_notify, &p, o.mb);
  CHECK(th_rec_wait(p.rec, NULL, RASIO_TIMER, MB_TIMERS, WAIT_LONG_MS));
  for (int i = 0; i < MB_TIMERS; i++) CHECK_OK(rasio_event_unsubscribe(ev[i]));
  CHECK(th_rec_wait(p.rec, NULL, RASIO_DISPOSED, MB_TIMERS, WAIT_LONG_MS));
  CHECK_EQ(load_u(&p.wrong_thread), 0);

  atomic_store(&o.stop, true);
  th_thread_join(t);
  CHECK_OK(rasio_mailbox_free(o.mb));
  th_loop_end(loop);
  rec_free(p.rec);
}

/* The order in which a draining thread sees posted functions and notifications. Only the
 * draining thread (the test thread) appends. */
typedef struct fifo fifo_t;

typedef struct fifo_msg {
  fifo_t *f;
  int v; /* what fifo_fn logs */
} fifo_msg_t;

struct fifo {
  rasio_mailbox_t *mb;
  th_rec_t *rec;      /* the inline timer's recorder */
  atomic_bool posted; /* the inline timer has posted its functions */
  fifo_msg_t msgs[5]; /* msgs[i] logs i + 1; msgs[1] is unused (2 is the TIMER) */
  int log[16];
  size_t n;
};

enum { FIFO_DISPOSED = 99 };

static void fifo_append(fifo_t *f, int v) {
  CHECK_LT(f->n, sizeof f->log / sizeof f->log[0]);
  f->log[f->n++] = v;
}

static void fifo_fn(void *arg) {
  fifo_msg_t *m = arg;
  fifo_append(m->f, m->v);
}

/* The mailbox timer: logs 2 for its TIMER, FIFO_DISPOSED for DISPOSED (and destroys). */
static void fifo_mb_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  fifo_t *f = ctx;
  if (flags & RASIO_TIMER) fifo_append(f, 2);
  if (flags & RASIO_DISPOSED) {
    fifo_append(f, FIFO_DISPOSED);
    CHECK_OK(rasio_event_destroy(ev));
  }
}

/* The inline timer, on the loop thread after the mailbox timer fired: posts 3 and 4. */
static void fifo_inline_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  fifo_t *f = ctx;
  if (flags & RASIO_TIMER) {
    CHECK_OK(rasio_mailbox_post(f->mb, fifo_fn, &f->msgs[2]));
    CHECK_OK(rasio_mailbox_post(f->mb, fifo_fn, &f->msgs[3]));
    atomic_store(&f->posted, true);
  }
  th_rec_notify(ev, flags, arg, f->rec);
}

static bool fifo_posted(void *arg) { return atomic_load(&((fifo_t *)arg)->posted); }

/* rasio_mailbox_post runs fn on the draining thread in FIFO order with notifications. The
 * enqueue order is forced: 1 posted here; the mailbox timer (nsec 0) fires and posts its
 * TIMER (2); the inline timer (nsec 50 ms, strictly later) then posts 3 and 4 from the
 * loop thread; 5 is posted here last. Nothing is drained until all five are queued. */
TEST(thread_mailbox_post_fifo_with_notifications) {
  rasio_loop_t *loop = started_loop();
  fifo_t f = {.mb = mailbox_new(), .rec = rec_new(true)};
  atomic_init(&f.posted, false);
  for (int i = 0; i < 5; i++) f.msgs[i] = (fifo_msg_t){&f, i + 1};

  CHECK_OK(rasio_mailbox_post(f.mb, fifo_fn, &f.msgs[0]));
  rasio_event_t *mb_ev = timer_new(loop, 0, fifo_mb_notify, &f, f.mb);
  rasio_event_t *in_ev = timer_new(loop, MS(50), fifo_inline_notify, &f, NULL);
  CHECK(wait_until(fifo_posted, &f, WAIT_LONG_MS));
  CHECK_OK(rasio_mailbox_post(f.mb, fifo_fn, &f.msgs[4]));

  CHECK_EQ(rasio_mailbox_drain(f.mb, 0), 5);
  CHECK_EQ(f.n, 5);
  for (int i = 0; i < 5; i++) CHECK_EQ(f.log[i], i + 1);

  CHECK_OK(rasio_event_unsubscribe(mb_ev));
  uint64_t end = th_now_ms() + WAIT_LONG_MS;
  while (f.n < 6 && th_now_ms() < end) {
    rasio_mailbox_wait(f.mb, MS(10));
    rasio_mailbox_drain(f.mb, 0);
  }
  CHECK_EQ(f.n, 6);
  CHECK_EQ(f.log[5], FIFO_DISPOSED);
  th_dispose(f.rec, in_ev);
  CHECK_OK(rasio_mailbox_free(f.mb));
  th_loop_end(loop);
  rec_free(f.rec);
}

static void count_fn(void *arg) { atomic_fetch_add((atomic_uint *)arg, 1); }

/* drain(max) runs at most max items; drain(0) runs everything queued. */
TEST(thread_mailbox_drain_max) {
  rasio_mailbox_t *mb = mailbox_new();
  atomic_uint ran;
  atomic_init(&ran, 0);
  for (int i = 0; i < 3; i++) CHECK_OK(rasio_mailbox_post(mb, count_fn, &ran));
  CHECK_EQ(rasio_mailbox_drain(mb, 1), 1);
  CHECK_EQ(load_u(&ran), 1);
  CHECK_EQ(rasio_mailbox_drain(mb, 0), 2);
  CHECK_EQ(load_u(&ran), 3);
  CHECK_EQ(rasio_mailbox_drain(mb, 0), 0);
  CHECK_OK(rasio_mailbox_free(mb));
}

/* Waiting on an empty mailbox times out, never early. */
TEST(thread_mailbox_wait_timeout) {
  rasio_mailbox_t *mb = mailbox_new();
  CHECK_ERR(rasio_mailbox_wait(mb, 0), RASIO_ETIMEDOUT);
  for (int i = 0; i < 3; i++) {
    uint64_t t0 = rasio_now_ns();
    CHECK_ERR(rasio_mailbox_wait(mb, MS(50)), RASIO_ETIMEDOUT);
    CHECK_GE(rasio_now_ns() - t0, MS(50));
  }
  CHECK_OK(rasio_mailbox_free(mb));
}

typedef struct late_post {
  rasio_mailbox_t *mb;
  atomic_uint ran;
} late_post_t;

static void *late_poster(void *arg) {
  late_post_t *lp = arg;
  th_sleep_ms(50);
  CHECK_OK(rasio_mailbox_post(lp->mb, count_fn, &lp->ran));
  return NULL;
}

/* A wait on an empty mailbox returns 0 when another thread posts. */
TEST(thread_mailbox_wait_wakes_on_post) {
  late_post_t lp = {.mb = mailbox_new()};
  atomic_init(&lp.ran, 0);
  pthread_t t = th_thread_start(late_poster, &lp);
  CHECK_OK(rasio_mailbox_wait(lp.mb, MS(10000)));
  CHECK_EQ(rasio_mailbox_drain(lp.mb, 0), 1);
  CHECK_EQ(load_u(&lp.ran), 1);
  th_thread_join(t);
  CHECK_OK(rasio_mailbox_free(lp.mb));
}

/* Freeing a mailbox that still holds a message is EBUSY and frees nothing. */
TEST(thread_mailbox_free_nonempty_ebusy) {
  rasio_mailbox_t *mb = mailbox_new();
  atomic_uint ran;
  atomic_init(&ran, 0);
  CHECK_OK(rasio_mailbox_post(mb, count_fn, &ran));
  CHECK_ERR(rasio_mailbox_free(mb), RASIO_EBUSY);
  CHECK_EQ(rasio_mailbox_drain(mb, 0), 1);
  CHECK_EQ(load_u(&ran), 1);
  CHECK_OK(rasio_mailbox_free(mb));
}

/* --- unsubscribe racing re-arms -------------------------------------------------------- */

#define SELF_REARMS 50

/* A mailbox timer that re-arms itself at once from its notification; at the last fire it
 * re-arms once more, gives the loop time to queue that TIMER, and then unsubscribes. */
typedef struct self_rearm {
  th_rec_t *rec;
  unsigned fires;
  bool unsubscribed;
  unsigned after_unsubscribe; /* notifications other than DISPOSED after unsubscribe */
} self_rearm_t;

static void self_rearm_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  self_rearm_t *s = ctx;
  if (s->unsubscribed && flags != RASIO_DISPOSED) s->after_unsubscribe++;
  if ((flags & RASIO_TIMER) && !s->unsubscribed) {
    s->fires++;
    CHECK_OK(rasio_event_set_nsec(ev, 0));
    if (s->fires == SELF_REARMS) {
      th_sleep_ms(5);
      CHECK_OK(rasio_event_unsubscribe(ev));
      s->unsubscribed = true;
    }
  }
  th_rec_notify(ev, flags, arg, s->rec);
}

/* A mailbox owner that unsubscribes on its own draining thread receives nothing but
 * DISPOSED afterwards, even with a TIMER already produced or queued (rasio.h). */
TEST(thread_mailbox_owner_unsubscribe_nothing_after) {
  rasio_loop_t *loop = started_loop();
  rasio_mailbox_t *mb = mailbox_new();
  for (int round = 0; round < 20; round++) {
    self_rearm_t s = {.rec = rec_new(true)};
    rasio_event_t *ev = timer_new(loop, 0, self_rearm_notify, &s, mb);
    CHECK(drain_until_count(mb, s.rec, ev, RASIO_DISPOSED, 1, WAIT_LONG_MS));
    CHECK_EQ(s.fires, SELF_REARMS);
    CHECK_EQ(s.after_unsubscribe, 0);
    CHECK_EQ(th_rec_last(s.rec, ev), RASIO_DISPOSED);
    rec_free(s.rec);
  }
  CHECK_OK(rasio_mailbox_free(mb));
  th_loop_end(loop);
}

/* An inline timer that keeps re-arming itself (100 us); set_nsec answers ESTATE once the
 * test thread has unsubscribed it. */
static void busy_timer_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  if (flags & RASIO_TIMER) {
    int rc = rasio_event_set_nsec(ev, US(100));
    CHECK(rc == 0 || rc == RASIO_ESTATE);
  }
  th_rec_notify(ev, flags, arg, ctx);
}

/* Unsubscribe from the test thread while the loop thread keeps re-arming: exactly one
 * DISPOSED, and nothing after it. The recorder keeps the event (no auto_destroy) for a
 * while after DISPOSED, so a late notification is caught instead of touching freed memory. */
TEST_T(thread_unsubscribe_races_rearm, 60) {
  rasio_loop_t *loop = started_loop();
  for (int round = 0; round < 50; round++) {
    th_rec_t *rec = rec_new(false);
    rasio_event_t *ev = timer_new(loop, 0, busy_timer_notify, rec, NULL);
    th_sleep_ms(2);
    CHECK_OK(rasio_event_unsubscribe(ev));
    CHECK(th_rec_wait(rec, ev, RASIO_DISPOSED, 1, WAIT_LONG_MS));
    th_sleep_ms(20);
    CHECK_EQ(th_rec_count(rec, ev, RASIO_DISPOSED), 1);
    CHECK_EQ(th_rec_last(rec, ev), RASIO_DISPOSED);
    th_dispose(rec, ev);
    rec_free(rec);
  }
  th_loop_end(loop);
}

typedef struct hammer {
  rasio_event_t *ev;
  uint32_t seed;
} hammer_t;

static void *hammer_main(void *arg) {
  hammer_t *h = arg;
  for (int i = 0; i < 2000; i++) CHECK_OK(rasio_event_set_nsec(h->ev, rng_next(&h->seed) % MS(1)));
  return NULL;
}

typedef struct cnt_wait {
  cnt_t *c;
  unsigned above;
} cnt_wait_t;

static bool timers_above(void *arg) {
  cnt_wait_t *w = arg;
  return atomic_load(&w->c->timers) > w->above;
}

/* 8 threads re-arm one timer concurrently (serialised heap updates): afterwards the timer
 * still works (a final set_nsec(0) fires), and it disposes exactly once. */
TEST_T(thread_concurrent_set_nsec_one_timer, 60) {
  rasio_loop_t *loop = started_loop();
  cnt_t c = {0};
  rasio_event_t *ev = timer_new(loop, MS(3600 * 1000), cnt_notify, &c, NULL);
  hammer_t h[WORKERS];
  pthread_t t[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    h[i] = (hammer_t){ev, 0x1234567u + (uint32_t)i};
    t[i] = th_thread_start(hammer_main, &h[i]);
  }
  for (int i = 0; i < WORKERS; i++) th_thread_join(t[i]);

  th_sleep_ms(WAIT_QUIET_MS); /* every arm above is due within 1 ms */
  cnt_wait_t w = {&c, atomic_load(&c.timers)};
  CHECK_OK(rasio_event_set_nsec(ev, 0));
  CHECK(wait_until(timers_above, &w, WAIT_LONG_MS));
  CHECK_OK(rasio_event_unsubscribe(ev));
  uint64_t end = th_now_ms() + WAIT_LONG_MS;
  while (atomic_load(&c.disposed) == 0 && th_now_ms() < end) th_sleep_ms(1);
  th_sleep_ms(WAIT_QUIET_MS);
  CHECK_EQ(load_u(&c.disposed), 1);
  CHECK_EQ(load_u(&c.after_disposed), 0);
  th_loop_end(loop);
}
