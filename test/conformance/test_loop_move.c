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

/* Reads the one byte waiting through rasio: a short read ends an edge event's turn, which
 * is what re-arms an emulated edge (event.c), as would-block would. */
static void read_short(rasio_event_t *ev) {
  char buf[64];
  size_t count = 0;
  CHECK_EQ(rasio_sock_recv(ev, buf, sizeof buf, &count), RASIO_IO_OK);
  CHECK_EQ(count, 1);
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
    read_short(edge); /* the edge's turn ends where an owner's would (see edge_*) */
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

/* The peer half-closes and never reads; our send buffer is full; only WRITE is armed. What
 * counts is the passes that delivered nothing: Wine reports such a socket writable again
 * (it keeps taking bytes long after it said full), so there level WRITE rightly fires on
 * every pass, while on Linux no WRITE comes at all. */
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
  size_t writes = th_rec_count(&f.rec, f.ev, RASIO_WRITE);
  size_t idle = passes > writes ? passes - writes : 0;
  if (idle > 10)
    rt_fail(__FILE__, __LINE__, "the loop made %zu passes with no notification in 300 ms", idle);
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

/* --- the same for the net layer: on uring its connections are completion streams, with
 * receives and sends in flight whenever the loop changes threads (a thread that exits takes
 * its requests with it, and a send may have gone out or not) -------------------------------- */

enum { MV_ROUNDS = 60, MV_MSG = 1000 };

typedef struct mv {
  rasio_tcp_listener_t *l;
  rasio_tcp_t *cli, *srv;
  atomic_uint rounds;
  uint64_t got;
  bool done;
} mv_t;

static void mv_ping(mv_t *m) {
  uint8_t msg[MV_MSG];
  unsigned r = atomic_load(&m->rounds);
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(r * 31u + i);
  CHECK_OK(rasio_tcp_write(m->cli, msg, sizeof msg));
}

static bool mv_cli_received(rasio_tcp_t *c, const void *data, size_t len) {
  mv_t *m = rasio_tcp_data(c);
  const uint8_t *b = data;
  for (size_t i = 0; i < len; i++, m->got++) {
    unsigned r = (unsigned)(m->got / MV_MSG);
    CHECK_EQ(b[i], (uint8_t)(r * 31u + m->got % MV_MSG));
  }
  if (m->got % MV_MSG != 0) return true;
  if (atomic_fetch_add(&m->rounds, 1) + 1 < MV_ROUNDS) mv_ping(m);
  return true;
}

static void mv_cli_connected(rasio_tcp_t *c) { mv_ping(rasio_tcp_data(c)); }
static void mv_closed(rasio_tcp_t *c) { (void)c; }

static bool mv_echo(rasio_tcp_t *c, const void *data, size_t len) {
  CHECK_OK(rasio_tcp_write(c, data, len));
  return true;
}

static const rasio_tcp_cb_t mv_cli_cb = {
    .connected = mv_cli_connected, .received = mv_cli_received, .closed = mv_closed};
static const rasio_tcp_cb_t mv_srv_cb = {.received = mv_echo, .closed = mv_closed};

static bool mv_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  mv_t *m = rasio_tcp_listener_data(l);
  m->srv = c;
  rasio_tcp_set_callbacks(c, &mv_srv_cb, m);
  return true;
}

static const rasio_tcp_listener_cb_t mv_l_cb = {.accepted = mv_accepted};

/* Runs the loop on this thread, pass by pass, until rounds reaches n (or a deadline). */
static void mv_here(rasio_loop_t *loop, mv_t *m, unsigned n) {
  uint64_t deadline = th_now_ms() + WAIT_MS;
  while (atomic_load(&m->rounds) < n && th_now_ms() < deadline)
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_ONCE));
  CHECK_GE(atomic_load(&m->rounds), n);
}

/* The same on a thread of its own (rasio_loop_stop refuses while connections, which are
 * noisy, are alive, so a started thread could not be stopped). */
typedef struct mv_run {
  rasio_loop_t *loop;
  mv_t *m;
  unsigned n;
} mv_run_t;

static void *mv_thread_main(void *arg) {
  mv_run_t *r = arg;
  mv_here(r->loop, r->m, r->n);
  return NULL;
}

static void mv_thread(rasio_loop_t *loop, mv_t *m, unsigned n) {
  mv_run_t r = {loop, m, n};
  th_thread_join(th_thread_start(mv_thread_main, &r));
}

/* An echo of 60 x 1000 bytes while the loop changes threads every few rounds: every byte
 * arrives once and in order. */
TEST_T(loop_move_threads_keeps_tcp_streams_whole, 60) {
  rasio_loop_t *loop = th_loop();
  mv_t m = {0};
  char port[8];
  rasio_tcp_listener_opts_t lo = {.cb = &mv_l_cb, .data = &m};
  CHECK_OK(rasio_tcp_listen(loop, "127.0.0.1", "0", RASIO_AF_INET4, &lo, &m.l));
  rasio_addr_t a;
  CHECK_OK(rasio_tcp_listener_addr(m.l, &a));
  snprintf(port, sizeof port, "%u", (unsigned)rasio_addr_port(&a));
  rasio_tcp_opts_t co = {.cb = &mv_cli_cb, .data = &m};
  CHECK_OK(rasio_tcp_connect(loop, "127.0.0.1", port, &co, &m.cli));
  for (unsigned step = 1; step <= 6; step++) {
    unsigned n = step * MV_ROUNDS / 6;
    if (step % 2) mv_here(loop, &m, n);
    else mv_thread(loop, &m, n);
  }
  CHECK_EQ(m.got, (uint64_t)MV_ROUNDS * MV_MSG);
  rasio_tcp_hard_close(m.cli);
  rasio_tcp_hard_close(m.srv);
  rasio_tcp_listener_close(m.l);
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_QUIET));
  th_loop_end(loop);
}
