/* SPDX-License-Identifier: BSD-2-Clause */
/* UDP sockets of the net layer (rasio.h "Net layer", DESIGN §6, ponyc-contract §4.3 and
 * scenarios 47-49): a flood of empty datagrams does not starve a timer (the read budget
 * yields), read_size 1 delivers 1-byte prefixes and never an empty one for a non-empty
 * datagram, an empty datagram arrives with length 0, a send error (broadcast without
 * SO_BROADCAST) is that datagram's alone, a round trip names the sender, and the read
 * budget. (test_net_args.c sends every kind of bad datagram and keeps using the socket.)
 *
 * Every call on a net object happens on its executor (see net_fixture.h). Raw th_udp
 * sockets play senders that rasio does not control.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net_fixture.h"

typedef struct us {
  nf_t nf;
  rasio_udp_t *u, *v;
  rasio_addr_t u_addr, v_addr;
  uint16_t u_port;
  rasio_fd_t raw;
  uint16_t raw_port;
  unsigned received, closed, v_closed, empty, bad;
  unsigned turn, max_turn;
  int send_rc, send_err;
  char last[64];
} us_t;

static us_t *us_new(bool mailbox) {
  us_t *s = calloc(1, sizeof *s);
  CHECK(s != NULL);
  nf_init(&s->nf, mailbox);
  s->raw = RASIO_INVALID_FD;
  return s;
}

static void us_free(us_t *s) {
  if (s->raw != RASIO_INVALID_FD) th_close(s->raw);
  nf_end(&s->nf);
  free(s);
}

static void us_deadline(void *ctx) {
  us_t *s = ctx;
  rt_fail(__FILE__, __LINE__, "deadline: received %u closed %u v_closed %u", s->received, s->closed,
          s->v_closed);
}

static void us_closed(rasio_udp_t *u) {
  us_t *s = rasio_udp_data(u);
  NF_ON_EXECUTOR();
  CHECK(u == s->u);
  CHECK_EQ(s->closed, 0);
  s->closed++;
}

static rasio_udp_t *us_bind(us_t *s, const rasio_udp_cb_t *cb, size_t read_size, size_t read_budget,
                            rasio_addr_t *addr) {
  rasio_udp_opts_t o = {
      .cb = cb, .data = s, .mailbox = s->nf.mb, .read_size = read_size, .read_budget = read_budget};
  rasio_udp_t *u = NULL;
  CHECK_OK(rasio_udp_bind(s->nf.loop, "127.0.0.1", "0", RASIO_AF_INET4, &o, &u));
  CHECK(u != NULL);
  CHECK(rasio_udp_data(u) == s);
  CHECK(rasio_udp_fd(u) != RASIO_INVALID_FD);
  CHECK_OK(rasio_udp_addr(u, addr));
  CHECK_EQ(rasio_addr_family(addr), RASIO_AF_INET4);
  CHECK_NE(rasio_addr_port(addr), 0);
  return u;
}

static void us_addr_text(const rasio_addr_t *a, char *buf, size_t len) {
  CHECK_OK(rasio_addr_format(a, buf, len));
}

/* --- a flood of empty datagrams does not starve a 5 ms timer (scenario 47) ---------------- */

#define FL_PERIOD_MS 5u
#define FL_WANT_TICKS 20u
#define FL_WANT_DATAGRAMS 1000u

typedef struct fl {
  us_t s;
  uint16_t port;
  atomic_bool stop, active, done;
  atomic_ulong attempts;
  pthread_t thread;
  nf_tick_t *tick;
  unsigned during; /* timer fires while the flood ran */
} fl_t;

/* Sends empty datagrams as fast as it can until told to stop (or 5 s pass). */
static void *fl_main(void *arg) {
  fl_t *f = arg;
  uint16_t unused;
  rasio_fd_t fd = th_udp(&unused);
  uint64_t end = th_now_ms() + 5000;
  atomic_store(&f->active, true);
  while (!atomic_load(&f->stop) && th_now_ms() < end) {
    if (th_udp_send(fd, f->port, "", 0) < 0) rt_fail(__FILE__, __LINE__, "flood: sendto failed");
    atomic_fetch_add(&f->attempts, 1);
  }
  atomic_store(&f->active, false);
  th_close(fd);
  atomic_store(&f->done, true);
  return NULL;
}

static void fl_received(rasio_udp_t *u, const void *data, size_t len, const rasio_addr_t *from) {
  us_t *s = rasio_udp_data(u);
  (void)data;
  (void)from;
  if (len != 0) s->bad++;
  s->received++;
}

static void fl_tick(void *ctx) {
  fl_t *f = ctx;
  if (atomic_load(&f->active) && f->s.received > 0) f->during++;
  if (f->during >= FL_WANT_TICKS && f->s.received >= FL_WANT_DATAGRAMS)
    atomic_store(&f->stop, true);
  if (atomic_load(&f->done)) {
    rasio_udp_close(f->s.u);
    return;
  }
  nf_again(f->tick, FL_PERIOD_MS);
}

static const rasio_udp_cb_t fl_cb = {.received = fl_received, .closed = us_closed};

static void fl_setup(void *ctx) {
  fl_t *f = ctx;
  f->s.u = us_bind(&f->s, &fl_cb, 0, 0, &f->s.u_addr);
  f->port = rasio_addr_port(&f->s.u_addr);
  f->thread = th_thread_start(fl_main, f);
  f->tick = nf_tick(&f->s.nf, FL_PERIOD_MS, fl_tick, f);
}

TEST(net_udp_empty_datagram_flood_does_not_starve_timer) {
  fl_t *f = calloc(1, sizeof *f);
  CHECK(f != NULL);
  atomic_init(&f->stop, false);
  atomic_init(&f->active, false);
  atomic_init(&f->done, false);
  atomic_init(&f->attempts, 0);
  f->s.raw = RASIO_INVALID_FD;
  nf_init(&f->s.nf, false);
  nf_run(&f->s.nf, fl_setup, f, 20000, us_deadline);
  th_thread_join(f->thread);
  if (f->during < FL_WANT_TICKS)
    rt_fail(__FILE__, __LINE__,
            "the 5 ms timer fired %u times while %lu empty datagrams were sent (%u received): "
            "starved",
            f->during, (unsigned long)atomic_load(&f->attempts), f->s.received);
  CHECK_GE(f->s.received, FL_WANT_DATAGRAMS);
  CHECK_EQ(f->s.bad, 0);
  CHECK_EQ(f->s.closed, 1);
  nf_end(&f->s.nf);
  free(f);
}

/* --- read_size 1: 1-byte prefixes, never empty for a non-empty datagram (scenario 49) ------ */

static const char *const r1_sent[] = {"abc", "x", "hello world", "", "ZZZZZZZZZZZZZZZZ", "q"};
#define R1_N (sizeof r1_sent / sizeof r1_sent[0])

static void r1_received(rasio_udp_t *u, const void *data, size_t len, const rasio_addr_t *from) {
  us_t *s = rasio_udp_data(u);
  NF_ON_EXECUTOR();
  CHECK_LT(s->received, R1_N);
  const char *want = r1_sent[s->received];
  if (want[0] == '\0') {
    CHECK_EQ(len, 0);
  } else {
    if (len != 1)
      rt_fail(__FILE__, __LINE__, "datagram %u (\"%s\") delivered with %zu bytes, want 1",
              s->received, want, len);
    CHECK_EQ(((const char *)data)[0], want[0]);
  }
  CHECK_EQ(rasio_addr_port(from), s->raw_port);
  if (++s->received == R1_N) rasio_udp_close(u);
}

static const rasio_udp_cb_t r1_cb = {.received = r1_received, .closed = us_closed};

static void r1_setup(void *ctx) {
  us_t *s = ctx;
  s->u = us_bind(s, &r1_cb, 1, 0, &s->u_addr);
  s->raw = th_udp(&s->raw_port);
  for (size_t i = 0; i < R1_N; i++) {
    size_t len = strlen(r1_sent[i]);
    CHECK_EQ(th_udp_send(s->raw, rasio_addr_port(&s->u_addr), r1_sent[i], len), (long)len);
  }
}

TEST(net_udp_read_size_1_delivers_one_byte_prefixes_never_empty) {
  us_t *s = us_new(false);
  nf_run(&s->nf, r1_setup, s, NF_DEADLINE_MS, us_deadline);
  CHECK_EQ(s->received, R1_N);
  CHECK_EQ(s->closed, 1);
  us_free(s);
}

/* --- an empty datagram arrives with length 0 ------------------------------------------------ */

static void e0_received(rasio_udp_t *u, const void *data, size_t len, const rasio_addr_t *from) {
  us_t *s = rasio_udp_data(u);
  NF_ON_EXECUTOR();
  (void)data;
  CHECK_EQ(len, 0);
  CHECK(from != NULL);
  CHECK_EQ(rasio_addr_family(from), RASIO_AF_INET4);
  CHECK_EQ(rasio_addr_port(from), s->raw_port);
  s->received++;
  rasio_udp_close(u);
}

static const rasio_udp_cb_t e0_cb = {.received = e0_received, .closed = us_closed};

static void e0_setup(void *ctx) {
  us_t *s = ctx;
  s->u = us_bind(s, &e0_cb, 0, 0, &s->u_addr);
  s->raw = th_udp(&s->raw_port);
  CHECK_EQ(th_udp_send(s->raw, rasio_addr_port(&s->u_addr), "", 0), 0);
}

static void empty_datagram_case(bool mailbox) {
  us_t *s = us_new(mailbox);
  nf_run(&s->nf, e0_setup, s, NF_DEADLINE_MS, us_deadline);
  CHECK_EQ(s->received, 1);
  CHECK_EQ(s->closed, 1);
  us_free(s);
}

TEST(net_udp_empty_datagram_delivered_with_len_0) { empty_datagram_case(false); }

TEST(net_udp_empty_datagram_delivered_with_len_0_mailbox) { empty_datagram_case(true); }

/* --- send errors are the datagram's, the socket stays open (scenario 48, issue 9) ------------ */

static void bc_received(rasio_udp_t *u, const void *data, size_t len, const rasio_addr_t *from) {
  (void)u;
  (void)data;
  (void)from;
  rt_fail(__FILE__, __LINE__, "unexpected datagram of %zu bytes", len);
}

static const rasio_udp_cb_t bc_cb = {.received = bc_received, .closed = us_closed};

static void bc_no_broadcast_setup(void *ctx) {
  us_t *s = ctx;
  s->u = us_bind(s, &bc_cb, 0, 0, &s->u_addr);
  rasio_addr_t to;
  CHECK_OK(rasio_addr_parse("255.255.255.255", 9, &to));
  s->send_rc = rasio_udp_send(s->u, "x", 1, &to);
  s->send_err = rasio_sock_last_error(); /* before anything else touches it */
  CHECK_EQ(s->send_rc, RASIO_IO_ERROR);
  if (nf_on_epoll(&s->nf))
    CHECK_ERR(s->send_err, RASIO_EACCES);
  else
    CHECK_NE(s->send_err, 0);
  CHECK_EQ(s->closed, 0); /* the socket stays open */
  rasio_udp_close(s->u);
}

TEST(net_udp_broadcast_without_so_broadcast_is_error_and_socket_stays_open) {
  us_t *s = us_new(false);
  nf_run(&s->nf, bc_no_broadcast_setup, s, NF_DEADLINE_MS, us_deadline);
  CHECK_EQ(s->send_rc, RASIO_IO_ERROR);
  CHECK_EQ(s->closed, 1);
  us_free(s);
}

static void bc_broadcast_setup(void *ctx) {
  us_t *s = ctx;
  s->u = us_bind(s, &bc_cb, 0, 0, &s->u_addr);
  CHECK_OK(rasio_sock_set_broadcast(rasio_udp_fd(s->u), true));
  rasio_addr_t to;
  CHECK_OK(rasio_addr_parse("255.255.255.255", 9, &to));
  s->send_rc = rasio_udp_send(s->u, "x", 1, &to);
  s->send_err = s->send_rc == RASIO_IO_ERROR ? rasio_sock_last_error() : 0;
  if (s->send_rc == RASIO_IO_ERROR) {
    /* A host without a broadcast route may refuse it, but not for want of permission. */
    if (s->send_err == RASIO_EACCES)
      rt_fail(__FILE__, __LINE__, "EACCES although SO_BROADCAST is set");
    CHECK_NE(s->send_err, 0);
  } else {
    CHECK(s->send_rc == RASIO_IO_OK || s->send_rc == RASIO_IO_RETRY);
    CHECK_EQ(s->closed, 0);
    rasio_udp_close(s->u);
  }
}

TEST(net_udp_broadcast_with_so_broadcast_is_not_eacces) {
  us_t *s = us_new(false);
  nf_run(&s->nf, bc_broadcast_setup, s, NF_DEADLINE_MS, us_deadline);
  CHECK_EQ(s->closed, 1);
  us_free(s);
}

static void bad_to_setup(void *ctx) {
  us_t *s = ctx;
  s->u = us_bind(s, &bc_cb, 0, 0, &s->u_addr);
  rasio_addr_t none;
  memset(&none, 0, sizeof none); /* no address */
  s->send_rc = rasio_udp_send(s->u, "x", 1, &none);
  s->send_err = rasio_sock_last_error();
  CHECK_EQ(s->send_rc, RASIO_IO_ERROR);
  CHECK_ERR(s->send_err, RASIO_EINVAL);
  CHECK_EQ(s->closed, 0); /* the socket stays open */
  rasio_udp_close(s->u);
}

/* The documented rule: an ERROR from send is that datagram's alone. */
TEST(net_udp_send_to_no_address_is_error_and_socket_stays_open) {
  us_t *s = us_new(false);
  nf_run(&s->nf, bad_to_setup, s, NF_DEADLINE_MS, us_deadline);
  CHECK_EQ(s->send_rc, RASIO_IO_ERROR);
  CHECK_EQ(s->closed, 1);
  us_free(s);
}

/* --- a round trip between two rasio sockets; `from` names the sender ----------------------- */

static void rt_v_received(rasio_udp_t *v, const void *data, size_t len, const rasio_addr_t *from);

static void rt_u_received(rasio_udp_t *u, const void *data, size_t len, const rasio_addr_t *from) {
  us_t *s = rasio_udp_data(u);
  NF_ON_EXECUTOR();
  CHECK(u == s->u);
  CHECK_EQ(len, 4);
  CHECK(memcmp(data, "pong", 4) == 0);
  char got[64], want[64];
  us_addr_text(from, got, sizeof got);
  us_addr_text(&s->v_addr, want, sizeof want);
  if (strcmp(got, want) != 0) rt_fail(__FILE__, __LINE__, "pong from %s, want %s", got, want);
  s->received++;
  rasio_udp_close(s->u);
  rasio_udp_close(s->v);
}

static void rt_v_closed(rasio_udp_t *v) {
  us_t *s = rasio_udp_data(v);
  NF_ON_EXECUTOR();
  CHECK(v == s->v);
  CHECK_EQ(s->v_closed, 0);
  s->v_closed++;
}

static const rasio_udp_cb_t rt_u_cb = {.received = rt_u_received, .closed = us_closed};
static const rasio_udp_cb_t rt_v_cb = {.received = rt_v_received, .closed = rt_v_closed};

static void rt_v_received(rasio_udp_t *v, const void *data, size_t len, const rasio_addr_t *from) {
  us_t *s = rasio_udp_data(v);
  NF_ON_EXECUTOR();
  CHECK(v == s->v);
  CHECK_EQ(len, 4);
  CHECK(memcmp(data, "ping", 4) == 0);
  char got[64], want[64];
  us_addr_text(from, got, sizeof got);
  us_addr_text(&s->u_addr, want, sizeof want);
  if (strcmp(got, want) != 0) rt_fail(__FILE__, __LINE__, "ping from %s, want %s", got, want);
  s->received++;
  CHECK_EQ(rasio_udp_send(v, "pong", 4, from), RASIO_IO_OK); /* reply to whoever it was */
}

static void rt_setup(void *ctx) {
  us_t *s = ctx;
  s->u = us_bind(s, &rt_u_cb, 0, 0, &s->u_addr);
  s->v = us_bind(s, &rt_v_cb, 0, 0, &s->v_addr);
  CHECK_EQ(rasio_udp_send(s->u, "ping", 4, &s->v_addr), RASIO_IO_OK);
}

static void round_trip_case(bool mailbox) {
  us_t *s = us_new(mailbox);
  nf_run(&s->nf, rt_setup, s, NF_DEADLINE_MS, us_deadline);
  CHECK_EQ(s->received, 2);
  CHECK_EQ(s->closed, 1);
  CHECK_EQ(s->v_closed, 1);
  us_free(s);
}

TEST(net_udp_round_trip_from_matches_sender_addr) { round_trip_case(false); }

TEST(net_udp_round_trip_from_matches_sender_addr_mailbox) { round_trip_case(true); }

/* --- the read budget: yields between turns, loses nothing --------------------------------- */

#define RB_N 100u
#define RB_BUDGET 4u

static void rb_received(rasio_udp_t *u, const void *data, size_t len, const rasio_addr_t *from) {
  us_t *s = rasio_udp_data(u);
  NF_ON_EXECUTOR();
  (void)from;
  CHECK_EQ(len, 4);
  const uint8_t *p = data;
  uint32_t i = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  CHECK_EQ(i, s->received); /* loopback keeps the order */
  s->received++;
  if (++s->turn > s->max_turn) s->max_turn = s->turn;
  if (s->received == RB_N) rasio_udp_close(u);
}

static void rb_after_drain(void *ctx) {
  us_t *s = ctx;
  s->turn = 0;
}

static const rasio_udp_cb_t rb_cb = {.received = rb_received, .closed = us_closed};

static void rb_setup(void *ctx) {
  us_t *s = ctx;
  s->u = us_bind(s, &rb_cb, 0, RB_BUDGET, &s->u_addr);
  s->raw = th_udp(&s->raw_port);
  for (uint32_t i = 0; i < RB_N; i++) {
    uint8_t b[4] = {(uint8_t)i, (uint8_t)(i >> 8), (uint8_t)(i >> 16), (uint8_t)(i >> 24)};
    CHECK_EQ(th_udp_send(s->raw, rasio_addr_port(&s->u_addr), b, 4), 4);
  }
}

TEST(net_udp_read_budget_yields_and_delivers_every_datagram) {
  us_t *s = us_new(false);
  nf_run(&s->nf, rb_setup, s, NF_DEADLINE_MS, us_deadline);
  CHECK_EQ(s->received, RB_N);
  CHECK_EQ(s->closed, 1);
  us_free(s);
}

/* Mailbox: one drain call runs one notification, i.e. one turn: at most read_budget
 * datagrams each. */
TEST(net_udp_read_budget_bounds_each_turn_mailbox) {
  us_t *s = us_new(true);
  s->nf.drain_max = 1;
  s->nf.after_drain = rb_after_drain;
  s->nf.after_drain_ctx = s;
  nf_run(&s->nf, rb_setup, s, NF_DEADLINE_MS, us_deadline);
  CHECK_EQ(s->received, RB_N);
  CHECK_LE(s->max_turn, RB_BUDGET);
  CHECK_EQ(s->closed, 1);
  us_free(s);
}

/* --- close, accessors, bad arguments ------------------------------------------------------ */

static void cl_close(void *ctx) {
  us_t *s = ctx;
  rasio_udp_close(s->u);
}

static void cl_setup(void *ctx) {
  us_t *s = ctx;
  s->u = us_bind(s, &bc_cb, 0, 0, &s->u_addr);
  char text[64];
  us_addr_text(&s->u_addr, text, sizeof text);
  CHECK(strncmp(text, "127.0.0.1:", 10) == 0);
  (void)nf_tick(&s->nf, 10, cl_close, s);
}

TEST(net_udp_close_runs_closed_once) {
  us_t *s = us_new(false);
  nf_run(&s->nf, cl_setup, s, NF_DEADLINE_MS, us_deadline);
  CHECK_EQ(s->closed, 1);
  us_free(s);
}

TEST(net_udp_bad_arguments_create_nothing) {
  nf_t nf;
  nf_init(&nf, false);
  rasio_udp_t *u = (rasio_udp_t *)&nf;
  CHECK_ERR(rasio_udp_bind(NULL, "127.0.0.1", "0", RASIO_AF_INET4, NULL, &u), RASIO_EINVAL);
  CHECK(u == NULL);
  u = (rasio_udp_t *)&nf;
  CHECK_ERR(rasio_udp_bind(nf.loop, "127.0.0.1", NULL, RASIO_AF_INET4, NULL, &u), RASIO_EINVAL);
  CHECK(u == NULL);
  CHECK_ERR(rasio_udp_bind(nf.loop, "127.0.0.1", "0", RASIO_AF_INET4, NULL, NULL), RASIO_EINVAL);
  u = (rasio_udp_t *)&nf;
  CHECK_ERR(rasio_udp_bind(nf.loop, "127.0.0.1", "0", 5, NULL, &u), RASIO_EINVAL);
  CHECK(u == NULL);
  rasio_addr_t a;
  CHECK_OK(rasio_addr_parse("127.0.0.1", 9, &a));
  CHECK_EQ(rasio_udp_send(NULL, "x", 1, &a), RASIO_IO_ERROR);
  rasio_udp_close(NULL);
  CHECK(rasio_udp_data(NULL) == NULL);
  CHECK(rasio_udp_fd(NULL) == RASIO_INVALID_FD);
  CHECK_ERR(rasio_udp_addr(NULL, &a), RASIO_EINVAL);
  CHECK_EQ(rasio_loop_noisy(nf.loop), 0);
  nf_end(&nf);
}
