/* SPDX-License-Identifier: BSD-2-Clause */
/* The lifecycle rules under adversarial use (DESIGN §2 "Lifecycle"), each test the
 * deterministic form of a defect that random operation sequences found:
 *  - a post made during the loop's synthetic pass must not outlive its event's DISPOSED;
 *  - destroy on another thread must never pull an event from under its own DISPOSED
 *    notification;
 *  - a stale kernel report (a registration the owner kept alive through a dup) must reach
 *    no owner, not even the event that now lives at the old address;
 *  - a descriptor number out of the OS's range, or one two threads subscribe at once while
 *    it is closed, is EBADF and nothing else.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "helpers.h"
#include "rec_util.h"

static void drive(rasio_loop_t *loop, int iterations) {
  for (int i = 0; i < iterations; i++) CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
}

/* --- a post that outlives the synthetic pass ------------------------------------------- */

typedef struct self_poster {
  atomic_uint users, disposed;
  bool repost_then_unsubscribe; /* on USER: post itself again, then unsubscribe */
} self_poster_t;

static void self_poster_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  self_poster_t *p = ctx;
  (void)arg;
  if (flags & RASIO_DISPOSED) {
    atomic_fetch_add(&p->disposed, 1);
    CHECK_OK(rasio_event_destroy(ev));
    return;
  }
  if (!(flags & RASIO_USER)) return;
  atomic_fetch_add(&p->users, 1);
  if (p->repost_then_unsubscribe) {
    /* The pass that runs this delivers only what was listed when it began: the new post
     * waits for the next iteration, while DISPOSED comes at the end of this one. */
    CHECK_OK(rasio_event_post(ev));
    CHECK_OK(rasio_event_unsubscribe(ev));
  }
}

static rasio_event_t *timer_event(rasio_loop_t *loop, rasio_notify_fn fn, void *ctx) {
  rasio_event_t *ev = NULL;
  /* An hour: the timer only carries posts here. */
  rasio_event_opts_t o = {.flags = RASIO_TIMER, .nsec = MS(3600u * 1000u), .notify = fn,
                          .ctx = ctx};
  CHECK_OK(rasio_event_new(loop, &o, &ev));
  return ev;
}

/* A notification posts its own event and unsubscribes it; DISPOSED follows in the same
 * iteration and the owner destroys the event. A new event of the same size (which the
 * allocator likely places at the freed address) is then posted: it gets exactly one USER,
 * and the loop neither touches freed memory (ASan) nor spins on a list that links to
 * itself (the timeout). */
TEST(lifecycle_post_then_unsubscribe_in_synthetic_pass_is_dropped) {
  rasio_loop_t *loop = th_loop();
  for (int round = 0; round < 20; round++) {
    self_poster_t a = {.repost_then_unsubscribe = true}, b = {0};
    rasio_event_t *ev = timer_event(loop, self_poster_notify, &a);
    CHECK_OK(rasio_event_post(ev));
    drive(loop, 1);
    CHECK_EQ(atomic_load(&a.users), 1);
    CHECK_EQ(atomic_load(&a.disposed), 1);

    rasio_event_t *next = timer_event(loop, self_poster_notify, &b);
    CHECK_OK(rasio_event_post(next));
    drive(loop, 3);
    CHECK_EQ(atomic_load(&a.users), 1); /* nothing after DISPOSED */
    CHECK_EQ(atomic_load(&b.users), 1);
    CHECK_OK(rasio_event_unsubscribe(next));
    drive(loop, 1);
    CHECK_EQ(atomic_load(&b.disposed), 1);
  }
  th_loop_end(loop);
}

/* The same through another event: A's notification posts B, then unsubscribes B. */
typedef struct poster_of_other {
  rasio_event_t *other;
  self_poster_t *other_state;
} poster_of_other_t;

static void poster_of_other_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  poster_of_other_t *p = ctx;
  (void)arg;
  if (flags & RASIO_DISPOSED) {
    CHECK_OK(rasio_event_destroy(ev));
    return;
  }
  if ((flags & RASIO_USER) && p->other != NULL) {
    CHECK_OK(rasio_event_post(p->other));
    CHECK_OK(rasio_event_unsubscribe(p->other));
    p->other = NULL;
  }
}

TEST(lifecycle_post_other_then_unsubscribe_it_is_dropped) {
  rasio_loop_t *loop = th_loop();
  for (int round = 0; round < 20; round++) {
    self_poster_t b = {0}, c = {0};
    rasio_event_t *bev = timer_event(loop, self_poster_notify, &b);
    poster_of_other_t a = {.other = bev, .other_state = &b};
    rasio_event_t *aev = timer_event(loop, poster_of_other_notify, &a);
    CHECK_OK(rasio_event_post(aev));
    drive(loop, 1);
    CHECK_EQ(atomic_load(&b.disposed), 1);
    rasio_event_t *cev = timer_event(loop, self_poster_notify, &c);
    CHECK_OK(rasio_event_post(cev));
    drive(loop, 3);
    CHECK_EQ(atomic_load(&b.users), 0);
    CHECK_EQ(atomic_load(&c.users), 1);
    CHECK_OK(rasio_event_unsubscribe(aev));
    CHECK_OK(rasio_event_unsubscribe(cev));
    drive(loop, 1);
    CHECK_EQ(atomic_load(&c.disposed), 1);
  }
  th_loop_end(loop);
}

/* --- destroy racing the DISPOSED notification -------------------------------------------- */

typedef struct slow_disposal {
  rasio_event_t *ev;
  atomic_bool unsubscribed, entered, left;
  atomic_int destroy_rc;
  atomic_uint flags_seen_inside; /* rasio_event_flags(ev) read after the pause */
} slow_disposal_t;

/* DISPOSED: pause, then use the event (it must still be alive: destroy may have been
 * called meanwhile, but the memory must stay until this returns). */
static void slow_disposal_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  slow_disposal_t *d = ctx;
  (void)arg;
  if (!(flags & RASIO_DISPOSED)) return;
  atomic_store(&d->entered, true);
  th_sleep_ms(20);
  atomic_store(&d->flags_seen_inside, rasio_event_flags(ev));
  atomic_store(&d->left, true);
}

/* The destroying thread: destroy as early as the library lets it. */
static void *destroyer_main(void *arg) {
  slow_disposal_t *d = arg;
  while (!atomic_load(&d->unsubscribed)) th_sleep_ms(0);
  int rc;
  while ((rc = rasio_event_destroy(d->ev)) == RASIO_ESTATE) {
  }
  atomic_store(&d->destroy_rc, rc);
  return NULL;
}

/* Another thread calls destroy in a tight loop from the moment of unsubscribe. Every call
 * before DISPOSED is handed to the owner is ESTATE; once one succeeds, the owner's DISPOSED
 * notification, still running, keeps a valid event (its flags read back). Inline and
 * mailbox executors both. */
static void destroy_race(bool mailbox) {
  rasio_loop_t *loop = th_loop();
  CHECK_OK(rasio_loop_start(loop));
  rasio_mailbox_t *mb = NULL;
  if (mailbox) CHECK_OK(rasio_mailbox_new(&mb));
  for (int round = 0; round < 10; round++) {
    slow_disposal_t d = {0};
    atomic_init(&d.destroy_rc, 1);
    rasio_event_opts_t o = {.flags = RASIO_TIMER, .nsec = MS(3600u * 1000u),
                            .notify = slow_disposal_notify, .ctx = &d, .mailbox = mb};
    CHECK_OK(rasio_event_new(loop, &o, &d.ev));
    pthread_t t = th_thread_start(destroyer_main, &d);
    CHECK_OK(rasio_event_unsubscribe(d.ev));
    atomic_store(&d.unsubscribed, true);
    uint64_t deadline = th_now_ms() + WAIT_LONG_MS;
    while (!atomic_load(&d.left) && th_now_ms() < deadline) {
      if (mb != NULL) rasio_mailbox_drain(mb, 0);
      th_sleep_ms(1);
    }
    th_thread_join(t);
    CHECK(atomic_load(&d.left));
    CHECK_EQ(atomic_load(&d.destroy_rc), 0);
    CHECK_EQ(atomic_load(&d.flags_seen_inside), RASIO_TIMER);
  }
  if (mb != NULL) CHECK_OK(rasio_mailbox_free(mb));
  th_loop_end(loop);
}

TEST(lifecycle_destroy_from_another_thread_waits_out_disposed_inline) { destroy_race(false); }

TEST(lifecycle_destroy_from_another_thread_waits_out_disposed_mailbox) { destroy_race(true); }

/* A second destroy, whether the first freed the event at once or deferred it to the end of
 * the DISPOSED notification, is refused: the first one is the only one. Checked in the
 * deferred case, where the event is still allocated and the answer is defined. */
static void double_destroy_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  if (!(flags & RASIO_DISPOSED)) return;
  atomic_int *rcs = ctx;
  atomic_store(&rcs[0], rasio_event_destroy(ev));
  atomic_store(&rcs[1], rasio_event_destroy(ev));
}

TEST(lifecycle_destroy_twice_inside_disposed_is_estate) {
  rasio_loop_t *loop = th_loop();
  atomic_int rcs[2];
  atomic_init(&rcs[0], 1);
  atomic_init(&rcs[1], 1);
  rasio_event_t *ev = timer_event(loop, double_destroy_notify, rcs);
  CHECK_OK(rasio_event_unsubscribe(ev));
  drive(loop, 1);
  CHECK_EQ(atomic_load(&rcs[0]), 0);
  CHECK_EQ(atomic_load(&rcs[1]), RASIO_ESTATE);
  th_loop_end(loop);
}

/* --- stale kernel reports ---------------------------------------------------------------- */

/* The owner keeps a duplicate of a subscribed socket and closes the original under the
 * subscription (misuse: a socket not transferred must stay open until DISPOSED). On epoll
 * the registration then outlives the event, and keeps reporting while the duplicate is open.
 * Those reports must reach nobody: in each round a new event, likely at the freed event's
 * address, watches a quiet socket and must hear nothing while the peer of the old one
 * sends. */
TEST(lifecycle_stale_report_of_duplicated_socket_reaches_no_owner) {
  rasio_fd_t probe_a, probe_b;
  th_tcp_pair(&probe_a, &probe_b);
  rasio_fd_t probe_dup = th_dup(probe_a);
  th_close(probe_a);
  th_close(probe_b);
  if (probe_dup == RASIO_INVALID_FD)
    SKIP("this platform has no duplicate descriptor sharing a socket's registration");
  th_close(probe_dup);

  rasio_loop_t *loop = th_loop();
  for (int round = 0; round < 20; round++) {
    /* Two recorders: they tell events apart by address, and these share one. */
    th_rec_t *rec = rec_new(true), *rec2 = rec_new(true);
    rasio_fd_t a, b, quiet_a, quiet_b;
    th_tcp_pair(&a, &b);
    th_tcp_pair(&quiet_a, &quiet_b);
    rasio_fd_t dup = th_dup(a);
    rasio_event_t *old = NULL, *fresh = NULL;
    rasio_event_opts_t o = {.fd = a, .flags = RASIO_READ, .notify = th_rec_notify, .ctx = rec};
    CHECK_OK(rasio_event_new(loop, &o, &old));
    th_close(a); /* under the subscription: the registration lives on through dup */
    CHECK_OK(rasio_event_unsubscribe(old));
    drive(loop, 1);
    CHECK_EQ(th_rec_count(rec, old, RASIO_DISPOSED), 1);

    o.fd = quiet_a;
    o.ctx = rec2;
    CHECK_OK(rasio_event_new(loop, &o, &fresh));
    CHECK_EQ(th_send(b, "stale", 5), 5);
    drive(loop, 3);
    CHECK_EQ(th_rec_count(rec2, fresh, 0), 0);
    CHECK_OK(rasio_event_unsubscribe(fresh));
    drive(loop, 1);
    CHECK_EQ(th_rec_count(rec2, fresh, RASIO_DISPOSED), 1);
    th_close(dup);
    th_close(b);
    th_close(quiet_a);
    th_close(quiet_b);
    rec_free(rec);
    rec_free(rec2);
  }
  th_loop_end(loop);
}

/* --- descriptor numbers ------------------------------------------------------------------ */

static void noop_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg, (void)ctx;
  if (flags & RASIO_DISPOSED) CHECK_OK(rasio_event_destroy(ev));
}

/* On 64-bit POSIX a rasio_fd_t is wider than the int the kernel takes: a number past
 * INT_MAX that truncates to an open socket must be refused, not watch that socket. */
TEST(lifecycle_fd_beyond_int_max_is_ebadf) {
  if (sizeof(rasio_fd_t) <= sizeof(int)) SKIP("rasio_fd_t is no wider than int here");
  if (!th_fds_are_ints()) SKIP("sockets are handles here, not int descriptors");
  rasio_loop_t *loop = th_loop();
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  rasio_event_t *ev = NULL;
  rasio_fd_t wide = (rasio_fd_t)(((uint64_t)1 << 32) + (uint64_t)a);
  rasio_event_opts_t o = {.fd = wide, .flags = RASIO_READ, .notify = noop_notify};
  CHECK_ERR(rasio_event_new(loop, &o, &ev), RASIO_EBADF);
  CHECK(ev == NULL);
  o.fd = (rasio_fd_t)INT_MAX + 1;
  CHECK_ERR(rasio_event_new(loop, &o, &ev), RASIO_EBADF);
  /* The socket the truncated number names is untouched and can be subscribed. */
  o.fd = a;
  CHECK_OK(rasio_event_new(loop, &o, &ev));
  CHECK_OK(rasio_event_unsubscribe(ev));
  drive(loop, 1);
  th_close(a);
  th_close(b);
  th_loop_end(loop);
}

typedef struct racer {
  rasio_loop_t *loop;
  rasio_fd_t fd;
  atomic_bool *go;
  int bad_rc; /* the first answer other than EBADF, or 0 */
} racer_t;

#define RACE_ATTEMPTS 5000

static void *racer_main(void *arg) {
  racer_t *r = arg;
  while (!atomic_load(r->go)) {
  }
  for (int i = 0; i < RACE_ATTEMPTS && r->bad_rc == 0; i++) {
    rasio_event_t *ev = NULL;
    rasio_event_opts_t o = {.fd = r->fd, .flags = RASIO_READ, .notify = noop_notify};
    int rc = rasio_event_new(r->loop, &o, &ev);
    if (rc == RASIO_EBADF) continue;
    r->bad_rc = rc != 0 ? rc : 1;
    if (rc == 0) CHECK_OK(rasio_event_unsubscribe(ev));
  }
  return NULL;
}

/* Two threads subscribe the same closed number over and over, at once: every answer is
 * EBADF, never EEXIST (the loser used to see the winner's table entry, made just before
 * the kernel refused the winner). */
TEST(lifecycle_two_threads_subscribing_a_closed_fd_both_get_ebadf) {
  rasio_loop_t *loop = th_loop();
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  th_close(b);
  th_close(a); /* a is now a closed number (nothing else opens one meanwhile) */
  atomic_bool go;
  atomic_init(&go, false);
  racer_t r1 = {loop, a, &go, 0}, r2 = {loop, a, &go, 0};
  pthread_t t1 = th_thread_start(racer_main, &r1), t2 = th_thread_start(racer_main, &r2);
  atomic_store(&go, true);
  th_thread_join(t1);
  th_thread_join(t2);
  CHECK_EQ(r1.bad_rc, 0);
  CHECK_EQ(r2.bad_rc, 0);
  drive(loop, 1);
  th_loop_end(loop);
}
