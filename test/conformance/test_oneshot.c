/* SPDX-License-Identifier: BSD-2-Clause */
/* Oneshot mode (DESIGN §2): each direction fires once, then stays silent until the owner
 * re-arms *that* direction; read and write are independent arms on every backend; a re-arm of
 * a direction that is already ready fires promptly (level re-arm).
 */
#include "sock_fixture.h"

enum { RW1 = RASIO_READ | RASIO_WRITE | RASIO_ONESHOT, R1 = RASIO_READ | RASIO_ONESHOT };

TEST(oneshot_read_fires_once) {
  fix_t f;
  fix_open(&f, R1);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  /* More data while disarmed must not produce anything. */
  put(f.peer, 10);
  stays(&f, 0, 1);
  fix_close(&f);
}

TEST(oneshot_registration_reports_pending_data) {
  fix_t f;
  fix_init(&f);
  put(f.peer, 10);
  fix_sub(&f, R1);
  await_n(&f, RASIO_READ, 1);
  stays(&f, 0, 1);
  fix_close(&f);
}

TEST(oneshot_rearm_after_drain_fires_on_next_write) {
  fix_t f;
  fix_open(&f, R1);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  CHECK_EQ(th_drain(f.fd), 10);
  rearm_read(f.ev);
  stays(&f, 0, 1); /* armed, but nothing to read */
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 2);
  stays(&f, 0, 2);
  fix_close(&f);
}

TEST(oneshot_rearm_with_unread_data_fires_at_once) {
  fix_t f;
  fix_open(&f, R1);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  /* The data is still there: the re-arm alone must produce the next READ. */
  rearm_read(f.ev);
  await_n(&f, RASIO_READ, 2);
  fix_close(&f);
}

TEST(oneshot_rearm_after_data_arrived_while_disarmed_fires) {
  fix_t f;
  fix_open(&f, R1);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  CHECK_EQ(th_drain(f.fd), 10);
  /* Data arrives between the drain and the re-arm (ponyc scenario 4): no edge is left to
   * see, so only a level re-arm reports it. */
  put(f.peer, 10);
  stays(&f, 0, 1);
  rearm_read(f.ev);
  await_n(&f, RASIO_READ, 2);
  fix_close(&f);
}

TEST(oneshot_silent_on_hangup_until_rearmed) {
  fix_t f;
  fix_open(&f, R1);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  /* wepoll test-oneshot-and-hangup: a hang-up is readiness too, and a disarmed event does
   * not report it... */
  th_shutdown_wr(f.peer);
  stays(&f, 0, 1);
  /* ...until re-armed; then the data and the end of stream are both there. */
  rearm_read(f.ev);
  await_n(&f, RASIO_READ, 2);
  size_t bytes = 0;
  CHECK_EQ(see_close(&f, &bytes), 0);
  CHECK_EQ(bytes, 10);
  fix_close(&f);
}

TEST(oneshot_write_delivery_keeps_read_armed) {
  fix_t f;
  fix_open(&f, RW1);
  await_n(&f, RASIO_WRITE, 1);
  CHECK_EQ(th_rec_count(&f.rec, f.ev, RASIO_READ), 0);
  /* Independent arms: the WRITE delivery must not have disarmed reads (ponyc#1564: epoll's
   * EPOLLONESHOT disarms the whole socket), so data reports READ with no re-arm at all. */
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  stays(&f, RASIO_WRITE, 1);
  fix_close(&f);
}

TEST(oneshot_resubscribe_write_does_not_arm_read) {
  fix_t f;
  fix_open(&f, RW1);
  await_n(&f, RASIO_WRITE, 1);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  /* The data stays unread and readable stays true: re-arming write must not re-arm read,
   * or the unread data would report a second READ. */
  rearm_write(f.ev);
  await_n(&f, RASIO_WRITE, 2);
  stays(&f, RASIO_READ, 1);
  CHECK_EQ(th_rec_count(&f.rec, f.ev, RASIO_WRITE), 2);
  fix_close(&f);
}

TEST(oneshot_resubscribe_read_does_not_arm_write) {
  fix_t f;
  fix_open(&f, RW1);
  await_n(&f, RASIO_WRITE, 1);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  CHECK(rasio_event_writeable(f.ev));
  CHECK_EQ(th_drain(f.fd), 10);
  /* writeable stays true, so only read is armed; the socket is writable all along, so an
   * armed write would report at once. */
  rearm_read(f.ev);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 2);
  stays(&f, RASIO_WRITE, 1);
  fix_close(&f);
}

TEST(oneshot_pending_write_rearm_keeps_read_armed) {
  /* A connection blocked on a full send buffer still has to read: re-arming write (which
   * stays pending) must not replace the read arm. */
  fix_t f;
  fix_open(&f, RW1);
  await_n(&f, RASIO_WRITE, 1);
  CHECK_GT(th_fill(f.fd), 0);
  rearm_write(f.ev);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  CHECK_EQ(th_rec_count(&f.rec, f.ev, RASIO_WRITE), 1);
  fix_close(&f);
}

TEST(oneshot_resubscribe_with_both_flags_set_does_nothing) {
  fix_t f;
  fix_open(&f, RW1);
  await_n(&f, RASIO_WRITE, 1);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  CHECK(rasio_event_readable(f.ev));
  CHECK(rasio_event_writeable(f.ev));
  /* Nothing to arm: every form succeeds and arms nothing, though both directions are
   * ready (unread data, free send buffer). */
  CHECK_OK(rasio_event_resubscribe(f.ev));
  CHECK_OK(rasio_event_resubscribe_read(f.ev));
  CHECK_OK(rasio_event_resubscribe_write(f.ev));
  put(f.peer, 10);
  stays(&f, 0, 2);
  CHECK(rasio_event_readable(f.ev));
  CHECK(rasio_event_writeable(f.ev));
  fix_close(&f);
}

TEST(oneshot_write_rearm_waits_until_peer_drains) {
  fix_t f;
  fix_open(&f, RASIO_WRITE | RASIO_ONESHOT);
  await_n(&f, RASIO_WRITE, 1);
  CHECK_GT(th_fill(f.fd), 0);
  rearm_write(f.ev);
  stays(&f, RASIO_WRITE, 1); /* the send buffer is full */
  /* The peer reads; the kernel moves the queued bytes over in steps, so keep reading until
   * the space shows. */
  uint64_t deadline = th_now_ms() + WAIT_MS;
  while (th_rec_count(&f.rec, f.ev, RASIO_WRITE) < 2) {
    CHECK(th_now_ms() < deadline);
    th_drain(f.peer);
    th_rec_wait(&f.rec, f.ev, RASIO_WRITE, 2, 20);
  }
  /* Exactly one: the peer keeps draining, but the event is disarmed again. */
  th_drain(f.peer);
  stays(&f, RASIO_WRITE, 2);
  fix_close(&f);
}

TEST(oneshot_readable_flag_set_on_delivery_until_cleared) {
  fix_t f;
  fix_open(&f, R1);
  CHECK(!rasio_event_readable(f.ev));
  CHECK(!rasio_event_writeable(f.ev));
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  CHECK(rasio_event_readable(f.ev));
  /* Only the owner clears it: draining to would-block leaves it set. */
  CHECK_EQ(th_drain(f.fd), 10);
  stays(&f, 0, 1);
  CHECK(rasio_event_readable(f.ev));
  CHECK(!rasio_event_writeable(f.ev)); /* WRITE is no interest: never delivered */
  rasio_event_set_readable(f.ev, false);
  CHECK(!rasio_event_readable(f.ev));
  fix_close(&f);
}

TEST(oneshot_ready_option_starts_as_if_delivered) {
  /* opts.ready = WRITE (the owner knows a fresh socket is writable): writeable starts set
   * and write starts disarmed; read is armed as usual. */
  fix_t f;
  fix_init(&f);
  CHECK_OK(rasio_event_new(f.loop,
                           &(rasio_event_opts_t){.fd = f.fd, .flags = RW1, .own_fd = true,
                                                 .notify = th_rec_notify, .ctx = &f.rec,
                                                 .ready = RASIO_WRITE},
                           &f.ev));
  CHECK(rasio_event_writeable(f.ev));
  CHECK(!rasio_event_readable(f.ev));
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  stays(&f, RASIO_WRITE, 0); /* writable all along, but not armed */
  rearm_write(f.ev);
  await_n(&f, RASIO_WRITE, 1);
  fix_close(&f);
}

/* Counts (in aux) notifications that ran while their direction's flag was still clear. */
static void flag_probe_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  fix_t *f = ctx;
  if (((flags & RASIO_READ) && !rasio_event_readable(ev)) ||
      ((flags & RASIO_WRITE) && !rasio_event_writeable(ev)))
    atomic_fetch_add(&f->aux, 1);
  th_rec_notify(ev, flags, arg, &f->rec);
}

TEST(oneshot_flags_set_before_notify_runs) {
  /* An owner that drains, clears readable and re-arms inside notify would be stuck forever
   * if the loop set the flag after notify returned: it must be set before. */
  fix_t f;
  fix_init(&f);
  fix_sub_fn(&f, RW1, flag_probe_notify);
  await_n(&f, RASIO_WRITE, 1);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  CHECK_EQ(atomic_load(&f.aux), 0);
  fix_close(&f);
}

/* The classic owner: on READ, drain to would-block, clear readable and re-arm, all inside
 * notify on the loop thread; only then record, so the test's next write cannot be drained
 * by this round. */
static void drain_rearm_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  fix_t *f = ctx;
  if (flags & RASIO_READ) {
    th_drain(f->fd);
    rearm_read(ev);
  }
  th_rec_notify(ev, flags, arg, &f->rec);
}

TEST(oneshot_rearm_inside_notify_fires_per_write) {
  fix_t f;
  fix_init(&f);
  fix_sub_fn(&f, R1, drain_rearm_notify);
  for (size_t round = 1; round <= 5; round++) {
    put(f.peer, 10);
    await_n(&f, RASIO_READ, round);
  }
  stays(&f, 0, 5);
  fix_close(&f);
}

TEST(oneshot_rearm_from_other_thread_reaches_idle_loop) {
  fix_t f;
  fix_open(&f, R1);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  CHECK_EQ(th_drain(f.fd), 10);
  put(f.peer, 10);
  /* Give the loop thread time to block in its wait with nothing armed and no timer, so
   * only a re-arm that reaches the kernel (or wakes the loop) can deliver. */
  th_sleep_ms(QUIET_MS);
  rearm_read(f.ev);
  CHECK(th_rec_wait(&f.rec, f.ev, RASIO_READ, 2, 2000));
  fix_close(&f);
}

TEST(oneshot_mailbox_arms_independent_and_rearmable) {
  /* The same contract through the mailbox executor, the test thread being the owner: the
   * WRITE delivery leaves read armed, a READ disarms only read, and a re-arm after a drain
   * fires on the next write. */
  fix_t f;
  rasio_mailbox_t *mb = mailbox_fix_open(&f, RW1);
  pump_until(mb, &f.rec, f.ev, RASIO_WRITE, 1);
  put(f.peer, 10);
  pump_until(mb, &f.rec, f.ev, RASIO_READ, 1);
  CHECK_EQ(th_drain(f.fd), 10);
  rearm_read(f.ev);
  pump_quiet(mb);
  CHECK_EQ(th_rec_count(&f.rec, f.ev, RASIO_READ), 1);
  put(f.peer, 10);
  pump_until(mb, &f.rec, f.ev, RASIO_READ, 2);
  pump_quiet(mb);
  CHECK_EQ(th_rec_count(&f.rec, f.ev, RASIO_WRITE), 1);
  mailbox_fix_close(&f, mb);
}

/* ---- re-arms racing each other and the loop ---------------------------------------------- */

enum { RACE_ROUNDS = 4000 }; /* the recorder holds 4096 notes */

/* READ: drain and re-arm read from the loop thread (counted in aux, not recorded, since a
 * busy peer makes thousands); WRITE and DISPOSED go to the recorder. */
static void race_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  fix_t *f = ctx;
  if (flags & RASIO_READ) {
    th_drain(f->fd);
    rearm_read(ev);
    atomic_fetch_add(&f->aux, 1);
  }
  if (flags & (RASIO_WRITE | RASIO_DISPOSED)) th_rec_notify(ev, flags, arg, &f->rec);
}

typedef struct trickle {
  rasio_fd_t fd;
  atomic_bool stop;
} trickle_t;

/* Sends one byte at a time as fast as it can, so READ fires and is re-armed constantly. */
static void *trickle_main(void *arg) {
  trickle_t *t = arg;
  while (!atomic_load(&t->stop))
    if (th_send(t->fd, "t", 1) < 0) break;
  return NULL;
}

TEST_T(oneshot_concurrent_rearms_lose_no_direction, 60) {
  /* The loop thread re-arms READ inside notify while the test thread re-arms WRITE in a
   * tight loop, and the loop re-arms the undelivered direction after each report. epoll's
   * MOD replaces the whole mask, so any unserialised pair of these loses an arm; every
   * WRITE re-arm must still fire, and READ must still work at the end. */
  fix_t f;
  fix_init(&f);
  fix_sub_fn(&f, RW1, race_notify);
  await_n(&f, RASIO_WRITE, 1);
  trickle_t t = {.fd = f.peer};
  atomic_init(&t.stop, false);
  pthread_t writer = th_thread_start(trickle_main, &t);
  for (size_t round = 2; round <= RACE_ROUNDS; round++) {
    rearm_write(f.ev);
    await_n(&f, RASIO_WRITE, round);
  }
  atomic_store(&t.stop, true);
  th_thread_join(writer);
  CHECK_GT(atomic_load(&f.aux), 0);
  /* READ is still armed: one more byte is reported. */
  th_sleep_ms(50);
  size_t reads = atomic_load(&f.aux);
  put(f.peer, 1);
  uint64_t deadline = th_now_ms() + WAIT_MS;
  while (atomic_load(&f.aux) <= reads) {
    CHECK(th_now_ms() < deadline);
    th_sleep_ms(1);
  }
  fix_close(&f);
}
