/* SPDX-License-Identifier: BSD-2-Clause */
/* A loop is run by one thread at a time, but not always the same one (DESIGN: run, start,
 * stop, run again). Its registrations must survive every change of thread: the io_uring
 * backend keeps its ring per thread and moves it, and a kernel that ties requests to the
 * thread that made them cancels them when that thread exits.
 *
 * And a WRITE-only arm on a socket whose peer half-closed and whose send buffer is full
 * must let the loop sleep: io_uring reports POLLRDHUP to every poll, and a backend that
 * added a single-shot poll again after each such report would never block.
 */
#include "sock_fixture.h"

enum { R1 = RASIO_READ | RASIO_ONESHOT };

/* Runs the loop on this thread until ev has n notifications of mask. */
static void run_here_until(fix_t *f, rasio_event_t *ev, uint32_t mask, size_t n) {
  uint64_t deadline = th_now_ms() + WAIT_MS;
  while (th_rec_count(&f->rec, ev, mask) < n && th_now_ms() < deadline)
    CHECK_OK(rasio_loop_run(f->loop, RASIO_RUN_ONCE));
  CHECK_EQ(th_rec_count(&f->rec, ev, mask), n);
}

/* Not noisy, so rasio_loop_stop may stop the loop with them subscribed. */
static rasio_event_t *quiet_ev(fix_t *f, rasio_fd_t fd, uint32_t flags) {
  rasio_event_t *ev = NULL;
  rasio_event_opts_t o = {.fd = fd, .flags = flags, .own_fd = true, .notify = th_rec_notify,
                          .ctx = &f->rec};
  CHECK_OK(rasio_event_new(f->loop, &o, &ev));
  return ev;
}

/* Started thread -> the test's thread -> a second started thread -> the test's thread:
 * a oneshot and an edge event keep reporting at every step, and dispose at the end. */
TEST_T(loop_move_threads_keeps_registrations, 60) {
  fix_t f;
  fix_init(&f); /* the loop runs on a started thread */
  rasio_fd_t fd2, peer2;
  th_tcp_pair(&fd2, &peer2);
  rasio_event_t *one = f.ev = quiet_ev(&f, f.fd, R1);
  rasio_event_t *edge = quiet_ev(&f, fd2, RASIO_READ);

  put(f.peer, 1);
  put(peer2, 1);
  CHECK(th_rec_wait(&f.rec, one, RASIO_READ, 1, WAIT_MS));
  CHECK(th_rec_wait(&f.rec, edge, RASIO_READ, 1, WAIT_MS));
  CHECK_OK(rasio_loop_stop(f.loop)); /* joins the thread: its requests may be gone */

  for (size_t step = 2; step <= 4; step++) {
    CHECK_EQ(th_drain(f.fd), 1);
    CHECK_EQ(th_drain(fd2), 1);
    rearm_read(one);
    put(f.peer, 1);
    put(peer2, 1);
    if (step == 3) { /* a new started thread */
      CHECK_OK(rasio_loop_start(f.loop));
      CHECK(th_rec_wait(&f.rec, one, RASIO_READ, step, WAIT_MS));
      CHECK(th_rec_wait(&f.rec, edge, RASIO_READ, step, WAIT_MS));
      CHECK_OK(rasio_loop_stop(f.loop));
    } else { /* this thread */
      run_here_until(&f, one, RASIO_READ, step);
      run_here_until(&f, edge, RASIO_READ, step);
    }
  }
  CHECK_OK(rasio_loop_start(f.loop));
  th_dispose(&f.rec, edge);
  th_close(peer2);
  fix_close(&f);
}

/* How many RUN_ONCE passes the loop makes on this thread before a 300 ms timer fires: a
 * handful when it sleeps, thousands when something keeps it awake. */
static size_t passes_until_timer(fix_t *f) {
  rasio_event_t *timer = NULL;
  rasio_event_opts_t t = {.flags = RASIO_TIMER, .nsec = 300u * 1000 * 1000,
                          .notify = th_rec_notify, .ctx = &f->rec};
  CHECK_OK(rasio_event_new(f->loop, &t, &timer));
  size_t passes = 0;
  while (th_rec_count(&f->rec, timer, RASIO_TIMER) == 0) {
    CHECK_OK(rasio_loop_run(f->loop, RASIO_RUN_ONCE));
    passes++;
  }
  CHECK_OK(rasio_event_unsubscribe(timer));
  while (th_rec_count(&f->rec, timer, RASIO_DISPOSED) == 0)
    CHECK_OK(rasio_loop_run(f->loop, RASIO_RUN_ONCE));
  return passes;
}

/* The peer half-closes and never reads; our send buffer is full; only WRITE is armed. */
static void write_only_on_half_closed_full_socket(uint32_t mode) {
  fix_t f;
  f.loop = th_loop(); /* run by this thread only, pass by pass */
  th_rec_init(&f.rec);
  f.rec.auto_destroy = true;
  atomic_init(&f.aux, 0);
  th_tcp_pair(&f.fd, &f.peer);
  th_shutdown_wr(f.peer);
  CHECK(th_fill(f.fd) > 0);
  f.ev = quiet_ev(&f, f.fd, RASIO_WRITE | mode);
  size_t passes = passes_until_timer(&f);
  if (passes > 10) rt_fail(__FILE__, __LINE__, "the loop made %zu passes in 300 ms", passes);
  CHECK_OK(rasio_event_unsubscribe(f.ev));
  while (th_rec_count(&f.rec, f.ev, RASIO_DISPOSED) == 0)
    CHECK_OK(rasio_loop_run(f.loop, RASIO_RUN_ONCE));
  th_close(f.peer);
  th_loop_end(f.loop);
  th_rec_fini(&f.rec);
}

TEST(loop_sleeps_write_only_oneshot_half_closed_full) {
  write_only_on_half_closed_full_socket(RASIO_ONESHOT);
}

TEST(loop_sleeps_write_only_level_half_closed_full) {
  write_only_on_half_closed_full_socket(RASIO_LEVEL);
}

TEST(loop_sleeps_write_only_edge_half_closed_full) { write_only_on_half_closed_full_socket(0); }
