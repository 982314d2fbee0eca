/* SPDX-License-Identifier: BSD-2-Clause */
/* Name resolution off the loop (issue 12, gap 1): rasio_tcp_connect with a host name
 * returns at once and the loop keeps running while the name is resolved on the loop's
 * resolver thread; the connect then proceeds on the executor. A connection closed while
 * its name is being resolved ends with `closed` alone, and nothing reaches it afterwards.
 *
 * The resolver's test seam delays every lookup (RS_DELAY_MS), so "the loop ran while the
 * name was being resolved" is deterministic: a 10 ms tick must fire several times before
 * `connected`. The seam is process-wide; each test sets it and clears it at the end (test
 * children are separate processes anyway).
 */
#include "net_fixture.h"

/* The resolver's test seam, as src/net/net.h declares it (the suite sees only rasio.h). */
void rasio__resolver_test_delay(uint64_t ns);

enum { RS_DELAY_MS = 300, RS_TICK_MS = 10 };

typedef enum { RS_CONNECT, RS_CLOSE, RS_HARD_CLOSE } rs_mode_t;

typedef struct rs {
  nf_t nf;
  rs_mode_t mode;
  char port[8];
  rasio_tcp_listener_t *l;
  rasio_tcp_t *cli;
  nf_tick_t *ticker;
  unsigned ticks, ticks_at_connect, connected, failed, closed, srv_accepted, srv_closed;
  unsigned after_closed; /* callbacks of the client's after its closed */
  uint64_t call_ms;      /* how long rasio_tcp_connect took */
} rs_t;

static void rs_deadline(void *ctx) {
  rs_t *r = ctx;
  rt_fail(__FILE__, __LINE__, "deadline: ticks %u connected %u failed %u closed %u", r->ticks,
          r->connected, r->failed, r->closed);
}

static void rs_tick(void *ctx) {
  rs_t *r = ctx;
  r->ticks++;
  if (r->connected == 0 && r->closed == 0) nf_again(r->ticker, RS_TICK_MS);
}

static void rs_connected(rasio_tcp_t *c) {
  rs_t *r = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  if (r->closed != 0) r->after_closed++;
  CHECK_EQ(r->mode, RS_CONNECT);
  r->connected++;
  r->ticks_at_connect = r->ticks;
  rasio_tcp_close(c);
}

static void rs_failed(rasio_tcp_t *c, int err) {
  rs_t *r = rasio_tcp_data(c);
  if (r->closed != 0) r->after_closed++;
  r->failed++;
  rt_fail(__FILE__, __LINE__, "connect_failed %s", rasio_err_name(err));
}

static bool rs_received(rasio_tcp_t *c, const void *data, size_t len) {
  rs_t *r = rasio_tcp_data(c);
  (void)data;
  (void)len;
  if (r->closed != 0) r->after_closed++;
  return true;
}

static void rs_closed(rasio_tcp_t *c) {
  rs_t *r = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  CHECK_EQ(r->closed, 0);
  r->closed++;
  if (r->mode == RS_CONNECT) rasio_tcp_listener_close(r->l);
}

static const rasio_tcp_cb_t rs_cli_cb = {.connected = rs_connected,
                                         .connect_failed = rs_failed,
                                         .received = rs_received,
                                         .closed = rs_closed};

static bool rs_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  rs_t *r = rasio_tcp_listener_data(l);
  (void)c;
  r->srv_accepted++;
  return true;
}

static const rasio_tcp_listener_cb_t rs_listener_cb = {.accepted = rs_accepted};

static void rs_close_now(void *ctx) {
  rs_t *r = ctx;
  CHECK_EQ(r->connected + r->failed + r->closed, 0); /* still resolving */
  if (r->mode == RS_CLOSE) rasio_tcp_close(r->cli);
  else rasio_tcp_hard_close(r->cli);
  CHECK_EQ(r->closed, 0); /* never inside the call */
  rasio_tcp_listener_close(r->l);
}

static void rs_nothing(void *ctx) { (void)ctx; }

static void rs_setup(void *ctx) {
  rs_t *r = ctx;
  r->l = nf_listen(&r->nf, &rs_listener_cb, r, 0, NULL, r->port);
  rasio_tcp_opts_t o = {.cb = &rs_cli_cb, .data = r, .mailbox = r->nf.mb};
  uint64_t t0 = th_now_ms();
  CHECK_OK(rasio_tcp_connect(r->nf.loop, "localhost", r->port, &o, &r->cli));
  r->call_ms = th_now_ms() - t0;
  CHECK(r->cli != NULL);
  r->ticker = nf_tick(&r->nf, RS_TICK_MS, rs_tick, r);
  if (r->mode != RS_CONNECT) {
    (void)nf_tick(&r->nf, RS_DELAY_MS / 6, rs_close_now, r);
    /* Keeps the run going past the lookup's end: its answer must reach nobody. */
    (void)nf_tick_hold(&r->nf, RS_DELAY_MS * 2, rs_nothing, r);
  }
}

static void rs_case(bool mailbox, rs_mode_t mode) {
  rs_t r = {.mode = mode};
  rasio__resolver_test_delay(NF_MS(RS_DELAY_MS));
  nf_init(&r.nf, mailbox);
  nf_run(&r.nf, rs_setup, &r, NF_DEADLINE_MS, rs_deadline);
  CHECK_LT(r.call_ms, (uint64_t)RS_DELAY_MS / 2); /* the call did not wait for the lookup */
  CHECK_EQ(r.closed, 1);
  CHECK_EQ(r.failed, 0);
  CHECK_EQ(r.after_closed, 0);
  if (mode == RS_CONNECT) {
    CHECK_EQ(r.connected, 1);
    /* The loop (and its timers) went on while the name was being resolved. */
    CHECK_GE(r.ticks_at_connect, 5u);
    CHECK_EQ(r.srv_accepted, 1);
  } else {
    CHECK_EQ(r.connected, 0);
    CHECK_EQ(r.srv_accepted, 0);
  }
  nf_end(&r.nf); /* joins the resolver thread */
  rasio__resolver_test_delay(0);
}

TEST(net_resolve_connect_by_name_keeps_the_loop_running) { rs_case(false, RS_CONNECT); }
TEST(net_resolve_connect_by_name_keeps_the_loop_running_mailbox) { rs_case(true, RS_CONNECT); }
TEST(net_resolve_close_during_lookup_ends_with_closed_only) { rs_case(false, RS_CLOSE); }
TEST(net_resolve_close_during_lookup_ends_with_closed_only_mailbox) { rs_case(true, RS_CLOSE); }
TEST(net_resolve_hard_close_during_lookup_ends_with_closed_only) {
  rs_case(false, RS_HARD_CLOSE);
}
TEST(net_resolve_hard_close_during_lookup_ends_with_closed_only_mailbox) {
  rs_case(true, RS_HARD_CLOSE);
}

/* The loop is freed while the resolver still waits on a lookup whose connection is gone:
 * rasio_loop_free joins the thread, and nothing leaks (ASan/LSan builds). */
static void lf_setup(void *ctx) {
  rs_t *r = ctx;
  rasio_tcp_opts_t o = {.cb = &rs_cli_cb, .data = r, .mailbox = r->nf.mb};
  CHECK_OK(rasio_tcp_connect(r->nf.loop, "localhost", "80", &o, &r->cli));
  rasio_tcp_hard_close(r->cli);
}

TEST(net_resolve_loop_free_during_lookup_is_clean) {
  rs_t r = {.mode = RS_HARD_CLOSE};
  rasio__resolver_test_delay(NF_MS(10000)); /* stopping cuts the seam's wait short */
  nf_init(&r.nf, false);
  nf_run(&r.nf, lf_setup, &r, NF_DEADLINE_MS, rs_deadline);
  CHECK_EQ(r.closed, 1);
  uint64_t t0 = th_now_ms();
  nf_end(&r.nf);
  CHECK_LT(th_now_ms() - t0, 5000u);
  rasio__resolver_test_delay(0);
}

/* A numeric host needs no resolver: its attempts start inside the call (nothing to wait
 * for even with the seam set). */
TEST(net_resolve_numeric_host_does_not_wait_for_the_resolver) {
  rs_t r = {.mode = RS_CONNECT};
  rasio__resolver_test_delay(NF_MS(10000));
  nf_init(&r.nf, false);
  rasio_tcp_listener_t *l = nf_listen(&r.nf, &rs_listener_cb, &r, 0, NULL, r.port);
  r.l = l;
  rasio_tcp_opts_t o = {.cb = &rs_cli_cb, .data = &r};
  CHECK_OK(rasio_tcp_connect(r.nf.loop, "127.0.0.1", r.port, &o, &r.cli));
  uint64_t t0 = th_now_ms();
  while (r.closed == 0 && th_now_ms() - t0 < 3000) CHECK_OK(rasio_loop_run(r.nf.loop, RASIO_RUN_ONCE));
  CHECK_EQ(r.connected, 1);
  CHECK_LT(th_now_ms() - t0, 3000u);
  CHECK_OK(rasio_loop_run(r.nf.loop, RASIO_RUN_QUIET));
  nf_end(&r.nf);
  rasio__resolver_test_delay(0);
}
