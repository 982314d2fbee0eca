/* SPDX-License-Identifier: BSD-2-Clause */
/* Persistent modes (DESIGN §2).
 * Edge (the default): at least one notification per not-ready→ready transition once the
 * owner drained to would-block; new data before the drain need not re-fire (epoll does, PSN
 * does not), so no test asserts it either way. After each drain the owner calls
 * resubscribe_read, which informs backends that emulate edges (a no-op on epoll).
 * Level (LEVEL): notified while the condition holds.
 */
#include "sock_fixture.h"

TEST(edge_read_once_per_transition_after_drain) {
  fix_t f;
  fix_open(&f, RASIO_READ);
  for (int round = 0; round < 3; round++) {
    size_t before = th_rec_count(&f.rec, f.ev, RASIO_READ);
    put(f.peer, 10);
    await_n(&f, RASIO_READ, before + 1);
    CHECK_EQ(th_drain(f.fd), 10);
    rearm_read(f.ev);
    /* Drained, no new data: silent until the next write. */
    stays(&f, RASIO_READ, th_rec_count(&f.rec, f.ev, RASIO_READ));
  }
  fix_close(&f);
}

TEST(edge_registration_on_readable_socket_reports_once) {
  fix_t f;
  fix_init(&f);
  put(f.peer, 10);
  /* Let the loop block first: the registration itself must report the readiness (the
   * listener and UDP socket rely on it). */
  th_sleep_ms(50);
  fix_sub(&f, RASIO_READ);
  await_n(&f, RASIO_READ, 1);
  stays(&f, 0, 1);
  fix_close(&f);
}

TEST(edge_silent_while_data_unread) {
  fix_t f;
  fix_open(&f, RASIO_READ);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  /* No read, no new data: no transition, so nothing (a level event would re-fire). */
  stays(&f, 0, 1);
  fix_close(&f);
}

TEST(edge_partial_read_does_not_refire) {
  fix_t f;
  fix_open(&f, RASIO_READ);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  char c;
  CHECK_EQ(th_recv(f.fd, &c, 1), 1);
  stays(&f, 0, 1);
  fix_close(&f);
}

/* rasio_sock_recv's short-read promise: fewer bytes than asked from a stream means it was
 * empty, so the owner may stop there as if it had seen RETRY, with no resubscribe, and the
 * next data still notifies (on the AFD emulation only because the socket layer re-polls). */
TEST(edge_short_read_ends_the_turn_like_retry) {
  fix_t f;
  fix_open(&f, RASIO_READ);
  for (int round = 0; round < 3; round++) {
    size_t before = th_rec_count(&f.rec, f.ev, RASIO_READ);
    put(f.peer, 10);
    await_n(&f, RASIO_READ, before + 1);
    char buf[64];
    size_t count = 0;
    CHECK_EQ(rasio_sock_recv(f.ev, buf, sizeof buf, &count), RASIO_IO_OK);
    CHECK_EQ(count, 10);
  }
  fix_close(&f);
}

/* The same when the peer's FIN came with the data: the edge that announced both will not
 * come again, yet the owner that stopped at the short read must still learn of the end. */
TEST(edge_short_read_before_queued_fin_still_reports_the_end) {
  fix_t f;
  fix_init(&f);
  put(f.peer, 10);
  th_shutdown_wr(f.peer);
  th_sleep_ms(50); /* both in the socket before the registration's report */
  fix_sub(&f, RASIO_READ);
  await_n(&f, RASIO_READ, 1);
  char buf[64];
  size_t count = 0;
  CHECK_EQ(rasio_sock_recv(f.ev, buf, sizeof buf, &count), RASIO_IO_OK);
  CHECK_EQ(count, 10);
  await_n(&f, RASIO_READ, 2);
  CHECK_EQ(rasio_sock_recv(f.ev, buf, sizeof buf, &count), RASIO_IO_ERROR);
  CHECK_EQ(rasio_sock_last_error(), 0);
  fix_close(&f);
}

TEST(edge_write_reported_once_while_writable) {
  fix_t f;
  fix_open(&f, RASIO_WRITE);
  await_n(&f, RASIO_WRITE, 1);
  stays(&f, 0, 1);
  fix_close(&f);
}

TEST(edge_write_fires_again_after_peer_drains_full_buffer) {
  fix_t f;
  fix_open(&f, RASIO_WRITE);
  await_n(&f, RASIO_WRITE, 1);
  CHECK_GT(th_fill(f.fd), 0);
  rasio_event_set_writeable(f.ev, false);
  CHECK_OK(rasio_event_resubscribe_write(f.ev));
  size_t before = th_rec_count(&f.rec, f.ev, RASIO_WRITE);
  /* The peer reads until the freed space shows as a new writable transition. */
  uint64_t deadline = th_now_ms() + WAIT_MS;
  while (th_rec_count(&f.rec, f.ev, RASIO_WRITE) <= before) {
    CHECK(th_now_ms() < deadline);
    th_drain(f.peer);
    th_rec_wait(&f.rec, f.ev, RASIO_WRITE, before + 1, 20);
  }
  fix_close(&f);
}

/* Level events fire as fast as the loop turns, so the notify itself removes the condition
 * once the count reaches the threshold in f->aux (the recorder holds 4096 notes). */
static void level_read_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  fix_t *f = ctx;
  th_rec_notify(ev, flags, arg, &f->rec);
  if ((flags & RASIO_READ) && th_rec_count(&f->rec, ev, RASIO_READ) >= atomic_load(&f->aux))
    th_drain(f->fd);
}

static void level_write_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  fix_t *f = ctx;
  th_rec_notify(ev, flags, arg, &f->rec);
  if ((flags & RASIO_WRITE) && th_rec_count(&f->rec, ev, RASIO_WRITE) >= atomic_load(&f->aux))
    th_fill(f->fd);
}

/* Waits for notifications already produced to land, then checks none follows: the
 * condition is gone, so a level event goes quiet. Returns the settled count. */
static size_t settles(fix_t *f, uint32_t mask) {
  th_sleep_ms(50);
  size_t n = th_rec_count(&f->rec, f->ev, mask);
  stays(f, mask, n);
  return n;
}

TEST(level_read_refires_until_drained) {
  fix_t f;
  fix_init(&f);
  atomic_store(&f.aux, 3);
  fix_sub_fn(&f, RASIO_READ | RASIO_LEVEL, level_read_notify);
  put(f.peer, 10);
  /* Three READs for one write, with no read and no re-arm in between. */
  await_n(&f, RASIO_READ, 3);
  size_t n = settles(&f, RASIO_READ);
  /* New data: level again until drained again. */
  atomic_store(&f.aux, n + 3);
  put(f.peer, 10);
  await_n(&f, RASIO_READ, n + 3);
  settles(&f, RASIO_READ);
  fix_close(&f);
}

/* Slow where the send buffer is huge (Wine absorbs megabytes before it reports full). */
TEST_T(level_write_refires_until_buffer_full, 60) {
  if (th_under_wine())
    SKIP("Wine keeps taking bytes long after it reports a socket full, so 'until full' has "
         "no end there (level READ covers level mode)");
  fix_t f;
  fix_init(&f);
  atomic_store(&f.aux, 3);
  fix_sub_fn(&f, RASIO_WRITE | RASIO_LEVEL, level_write_notify);
  await_n(&f, RASIO_WRITE, 3);
  size_t n = settles(&f, RASIO_WRITE);
  /* The peer frees space: writable again, level again (until the notify fills it again). */
  atomic_store(&f.aux, n + 3);
  uint64_t deadline = th_now_ms() + WAIT_MS;
  while (th_rec_count(&f.rec, f.ev, RASIO_WRITE) < n + 3) {
    CHECK(th_now_ms() < deadline);
    th_drain(f.peer);
    th_rec_wait(&f.rec, f.ev, RASIO_WRITE, n + 3, 20);
  }
  fix_close(&f);
}

TEST(level_registration_on_readable_socket_fires) {
  fix_t f;
  fix_init(&f);
  atomic_store(&f.aux, 2);
  put(f.peer, 10);
  th_sleep_ms(50);
  fix_sub_fn(&f, RASIO_READ | RASIO_LEVEL, level_read_notify);
  await_n(&f, RASIO_READ, 2);
  fix_close(&f);
}
