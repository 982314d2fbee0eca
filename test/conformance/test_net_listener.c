/* SPDX-License-Identifier: BSD-2-Clause */
/* TCP listeners of the net layer (rasio.h "Net layer", DESIGN §6, ponyc-contract §4.2 and
 * scenarios 45-46): the connection limit (a waiting connection is accepted when a live one
 * closes, with no new arrival), refusals, a backlog larger than one accept turn, close (the
 * `closed` callback; the port refuses connects afterwards; live connections keep working),
 * addresses, a mailbox executor, and bad arguments.
 *
 * Every call on a net object happens on its executor (see net_fixture.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net_fixture.h"

#define LS_MAX 16

typedef struct ls ls_t;

typedef struct ls_conn {
  ls_t *s;
  int idx;
  rasio_tcp_t *c;
  uint64_t got;
  bool connected, closed;
} ls_conn_t;

/* The log of what the listener side saw, in order: 'A' accepted, 'C' closed (server side),
 * each with the client's index. */
typedef struct ls_note {
  char what;
  int idx;
} ls_note_t;

struct ls {
  nf_t nf;
  char port[8];
  uint16_t port_n;
  rasio_tcp_listener_t *l;
  size_t limit;
  int mode;
  int n_clients;
  ls_conn_t cli[LS_MAX];
  rasio_tcp_t *srv[LS_MAX];
  ls_note_t log[4 * LS_MAX];
  int nlog;
  int accepted, srv_closed, cli_connected, cli_closed, refused, live, max_live;
  int listener_closed, failed, failed_err;
  bool step_done;
  rasio_fd_t raw[256];
  int nraw;
};

static void ls_log(ls_t *s, char what, int idx) {
  CHECK(s->nlog < 4 * LS_MAX);
  s->log[s->nlog++] = (ls_note_t){what, idx};
}

static void ls_dump(ls_t *s, char *buf, size_t len) {
  size_t off = 0;
  buf[0] = '\0';
  for (int i = 0; i < s->nlog && off + 8 < len; i++)
    off += (size_t)snprintf(buf + off, len - off, "%c%d ", s->log[i].what, s->log[i].idx);
}

static void ls_deadline(void *ctx) {
  ls_t *s = ctx;
  char log[256];
  ls_dump(s, log, sizeof log);
  rt_fail(__FILE__, __LINE__,
          "deadline: accepted %d srv_closed %d connected %d cli_closed %d listener_closed %d; "
          "log: %s",
          s->accepted, s->srv_closed, s->cli_connected, s->cli_closed, s->listener_closed, log);
}

static ls_t *ls_new(bool mailbox, int mode) {
  ls_t *s = calloc(1, sizeof *s);
  CHECK(s != NULL);
  nf_init(&s->nf, mailbox);
  s->mode = mode;
  return s;
}

static void ls_free(ls_t *s) {
  nf_end(&s->nf);
  free(s);
}

static void ls_listener_closed(rasio_tcp_listener_t *l) {
  ls_t *s = rasio_tcp_listener_data(l);
  NF_ON_EXECUTOR();
  CHECK_EQ(s->listener_closed, 0);
  s->listener_closed++;
}

/* Every client's connection and (per accepted connection) the server side are closed:
 * close the listener. */
static void ls_maybe_done(ls_t *s) {
  if (s->cli_closed == s->n_clients && s->srv_closed == s->accepted - s->refused &&
      s->listener_closed == 0)
    rasio_tcp_listener_close(s->l);
}

/* --- the server side: an echo that logs ----------------------------------------------------- */

static int ls_srv_index(ls_t *s, rasio_tcp_t *c) {
  for (int i = 0; i < s->accepted; i++)
    if (s->srv[i] == c) return i;
  rt_fail(__FILE__, __LINE__, "unknown server connection");
}

static bool ls_srv_echo(rasio_tcp_t *c, const void *data, size_t len) {
  NF_ON_EXECUTOR();
  CHECK_OK(rasio_tcp_write(c, data, len));
  return true;
}

static void ls_srv_closed(rasio_tcp_t *c) {
  ls_t *s = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  int i = ls_srv_index(s, c);
  ls_log(s, 'C', i);
  s->srv_closed++;
  s->live--;
  ls_maybe_done(s);
}

static const rasio_tcp_cb_t ls_srv_cb = {.received = ls_srv_echo, .closed = ls_srv_closed};

static bool ls_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c);

static const rasio_tcp_listener_cb_t ls_listener_cb = {.accepted = ls_accepted,
                                                       .closed = ls_listener_closed};

static void ls_listen(ls_t *s, size_t limit) {
  s->limit = limit;
  s->l = nf_listen(&s->nf, &ls_listener_cb, s, limit, NULL, s->port);
  s->port_n = (uint16_t)atoi(s->port);
  CHECK(rasio_tcp_listener_data(s->l) == s);
}

/* --- the client side ------------------------------------------------------------------- */

static void ls_cli_connected(rasio_tcp_t *c) {
  ls_conn_t *k = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  CHECK(!k->connected);
  k->connected = true;
  k->s->cli_connected++;
  char msg[8];
  snprintf(msg, sizeof msg, "ping%02d", k->idx);
  CHECK_OK(rasio_tcp_write(c, msg, 6));
}

static void ls_cli_failed(rasio_tcp_t *c, int err) {
  ls_conn_t *k = rasio_tcp_data(c);
  rt_fail(__FILE__, __LINE__, "client %d: connect_failed %d (%s)", k->idx, err,
          rasio_strerror(err));
}

static void ls_step(ls_t *s, ls_conn_t *k);

static bool ls_cli_received(rasio_tcp_t *c, const void *data, size_t len) {
  ls_conn_t *k = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  char msg[8];
  snprintf(msg, sizeof msg, "ping%02d", k->idx);
  CHECK_LE(k->got + len, 6);
  CHECK(memcmp(data, msg + k->got, len) == 0);
  k->got += len;
  if (k->got == 6) ls_step(k->s, k);
  return true;
}

static void ls_cli_closed(rasio_tcp_t *c) {
  ls_conn_t *k = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  CHECK(!k->closed);
  k->closed = true;
  k->s->cli_closed++;
  ls_maybe_done(k->s);
}

static const rasio_tcp_cb_t ls_cli_cb = {.connected = ls_cli_connected,
                                         .connect_failed = ls_cli_failed,
                                         .received = ls_cli_received,
                                         .closed = ls_cli_closed};

static void ls_connect(ls_t *s, int idx) {
  ls_conn_t *k = &s->cli[idx];
  *k = (ls_conn_t){.s = s, .idx = idx};
  k->c = nf_connect(&s->nf, "127.0.0.1", s->port, &ls_cli_cb, k, 0);
}

/* Which client a fresh server connection belongs to is only known from its first bytes;
 * the tests below do not need it, so accepted connections are numbered in accept order. */
static bool ls_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  ls_t *s = rasio_tcp_listener_data(l);
  NF_ON_EXECUTOR();
  CHECK(s->l == l);
  CHECK_LT(s->accepted, LS_MAX);
  int i = s->accepted++;
  s->srv[i] = c;
  ls_log(s, 'A', i);
  rasio_tcp_set_callbacks(c, &ls_srv_cb, s);
  CHECK(rasio_tcp_data(c) == s);
  s->live++;
  if (s->live > s->max_live) s->max_live = s->live;
  if (s->limit != 0 && s->live > (int)s->limit) {
    char log[256];
    ls_dump(s, log, sizeof log);
    rt_fail(__FILE__, __LINE__,
            "accepted connection %d while %d live (limit %zu; live = accepted and not yet "
            "reported closed); log: %s",
            i, s->live - 1, s->limit, log);
  }
  return true;
}

/* --- limit 1, two clients (scenario 45) -------------------------------------------------- */

enum { L1_SERVER_HARD_CLOSES, L1_CLIENT_CLOSES };

/* Both clients are connected (the kernel completed both handshakes) but only one was
 * accepted; nothing more arrives. Closing the first lets the second in. */
static void l1_close_first(void *ctx) {
  ls_t *s = ctx;
  CHECK_EQ(s->accepted, 1);
  CHECK_EQ(s->cli_connected, 2);
  CHECK_EQ(s->srv_closed, 0);
  s->step_done = true;
  if (s->mode == L1_SERVER_HARD_CLOSES) {
    rasio_tcp_hard_close(s->srv[0]);
  } else {
    /* The client whose ping came back is the one that was accepted. */
    for (int i = 0; i < 2; i++)
      if (s->cli[i].got == 6) rasio_tcp_close(s->cli[i].c);
  }
}

enum { L3_MODE = 10 };

static void ls_step(ls_t *s, ls_conn_t *k) {
  if (s->mode == L3_MODE) {
    /* Each client closes once its ping came back, which frees a slot for the next. */
    rasio_tcp_close(k->c);
  } else if (s->mode == L1_SERVER_HARD_CLOSES || s->mode == L1_CLIENT_CLOSES) {
    if (!s->step_done) {
      CHECK_EQ(s->accepted, 1);
      (void)nf_tick(&s->nf, NF_QUIET_MS, l1_close_first, s);
    } else {
      /* The second client's ping came back: it was accepted. Done. */
      CHECK_EQ(s->accepted, 2);
      rasio_tcp_close(k->c);
    }
  }
}

static void l1_setup(void *ctx) {
  ls_t *s = ctx;
  s->n_clients = 2;
  ls_listen(s, 1);
  ls_connect(s, 0);
  ls_connect(s, 1);
}

static void limit1_case(int mode, bool mailbox) {
  ls_t *s = ls_new(mailbox, mode);
  nf_run(&s->nf, l1_setup, s, NF_DEADLINE_MS, ls_deadline);
  char log[256];
  ls_dump(s, log, sizeof log);
  CHECK_EQ(s->accepted, 2);
  CHECK_EQ(s->srv_closed, 2);
  CHECK_EQ(s->cli_closed, 2);
  CHECK_EQ(s->max_live, 1);
  CHECK_EQ(s->listener_closed, 1);
  /* The order the owner saw: A0, C0, then A1. */
  if (!(s->nlog >= 3 && s->log[0].what == 'A' && s->log[1].what == 'C' && s->log[1].idx == 0 &&
        s->log[2].what == 'A' && s->log[2].idx == 1))
    rt_fail(__FILE__, __LINE__, "listener-side order %s, want A0 C0 A1 ...", log);
  ls_free(s);
}

TEST(net_listener_limit_1_accepts_second_after_server_closes_first) {
  limit1_case(L1_SERVER_HARD_CLOSES, false);
}

TEST(net_listener_limit_1_accepts_second_after_client_closes_first) {
  limit1_case(L1_CLIENT_CLOSES, false);
}

TEST(net_listener_limit_1_accepts_second_after_first_closes_mailbox) {
  limit1_case(L1_SERVER_HARD_CLOSES, true);
}

/* --- limit 3, ten clients: never more than 3 live, all served ---------------------------- */

static void l3_setup(void *ctx) {
  ls_t *s = ctx;
  s->n_clients = 10;
  ls_listen(s, 3);
  for (int i = 0; i < s->n_clients; i++) ls_connect(s, i);
}

TEST(net_listener_limit_3_with_10_clients_serves_all_never_over_limit) {
  ls_t *s = ls_new(false, L3_MODE);
  nf_run(&s->nf, l3_setup, s, NF_DEADLINE_MS, ls_deadline);
  CHECK_EQ(s->accepted, 10);
  CHECK_EQ(s->srv_closed, 10);
  CHECK_EQ(s->cli_closed, 10);
  CHECK_LE(s->max_live, 3);
  ls_free(s);
}

/* --- refusals do not count against the limit --------------------------------------------- */

static bool rf_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  ls_t *s = rasio_tcp_listener_data(l);
  NF_ON_EXECUTOR();
  /* Give it callbacks first: a refused connection must still close without any. */
  rasio_tcp_set_callbacks(c, &ls_srv_cb, s);
  if (s->refused == 0) {
    s->refused++;
    s->accepted++;
    s->srv[s->accepted - 1] = c;
    ls_log(s, 'R', s->accepted - 1);
    return false;
  }
  return ls_accepted(l, c);
}

static bool rf_cli_received(rasio_tcp_t *c, const void *data, size_t len) {
  ls_conn_t *k = rasio_tcp_data(c);
  char msg[8];
  snprintf(msg, sizeof msg, "ping%02d", k->idx);
  CHECK_LE(k->got + len, 6);
  CHECK(memcmp(data, msg + k->got, len) == 0);
  k->got += len;
  if (k->got == 6) rasio_tcp_close(c);
  return true;
}

/* The refused client's ping may meet a connection the server already closed. */
static void rf_cli_connected(rasio_tcp_t *c) {
  ls_conn_t *k = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  k->connected = true;
  k->s->cli_connected++;
  char msg[8];
  snprintf(msg, sizeof msg, "ping%02d", k->idx);
  int rc = rasio_tcp_write(c, msg, 6);
  CHECK(rc == 0 || k->closed);
}

static const rasio_tcp_cb_t rf_cli_cb = {.connected = rf_cli_connected,
                                         .connect_failed = ls_cli_failed,
                                         .received = rf_cli_received,
                                         .closed = ls_cli_closed};

static const rasio_tcp_listener_cb_t rf_listener_cb = {.accepted = rf_accepted,
                                                       .closed = ls_listener_closed};

static void rf_setup(void *ctx) {
  ls_t *s = ctx;
  s->n_clients = 2;
  s->limit = 1;
  s->l = nf_listen(&s->nf, &rf_listener_cb, s, 1, NULL, s->port);
  for (int i = 0; i < 2; i++) {
    ls_conn_t *k = &s->cli[i];
    *k = (ls_conn_t){.s = s, .idx = i};
    k->c = nf_connect(&s->nf, "127.0.0.1", s->port, &rf_cli_cb, k, 0);
  }
}

/* Limit 1: the first connection is refused (closed without callbacks), which must leave the
 * slot free: the second is accepted and served without anything else closing. */
TEST(net_listener_refused_connection_closes_silently_and_frees_its_slot) {
  ls_t *s = ls_new(false, 0);
  nf_run(&s->nf, rf_setup, s, NF_DEADLINE_MS, ls_deadline);
  CHECK_EQ(s->refused, 1);
  CHECK_EQ(s->accepted, 2);
  CHECK_EQ(s->srv_closed, 1); /* only the accepted one reported closed */
  CHECK_EQ(s->cli_closed, 2);
  CHECK_EQ(s->cli[0].got + s->cli[1].got, 6); /* exactly one was echoed */
  ls_free(s);
}

/* --- a backlog larger than one accept turn ------------------------------------------------ */

#define BL_CONNS 200

static void bl_srv_closed(rasio_tcp_t *c) {
  ls_t *s = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  s->srv_closed++;
  s->live--;
}

static const rasio_tcp_cb_t bl_srv_cb = {.closed = bl_srv_closed};

static bool bl_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  ls_t *s = rasio_tcp_listener_data(l);
  NF_ON_EXECUTOR();
  s->accepted++;
  s->live++;
  rasio_tcp_set_callbacks(c, &bl_srv_cb, s);
  /* Closed inside accepted; closed and the listener's bookkeeping follow from the loop. */
  int live = s->live;
  rasio_tcp_hard_close(c);
  CHECK_EQ(s->live, live);
  if (s->accepted == BL_CONNS) {
    rasio_tcp_listener_close(l);
    for (int i = 0; i < s->nraw; i++) th_close(s->raw[i]);
    s->nraw = 0;
  }
  return true;
}

static void bl_setup(void *ctx) {
  ls_t *s = ctx;
  static const rasio_tcp_listener_cb_t cb = {.accepted = bl_accepted, .closed = ls_listener_closed};
  s->l = nf_listen(&s->nf, &cb, s, 0, NULL, s->port);
  s->port_n = (uint16_t)atoi(s->port);
  /* 200 connections queue in the backlog before the listener's first turn (an accept turn
   * takes fewer). */
  for (int i = 0; i < BL_CONNS; i++) s->raw[s->nraw++] = th_connect_start(s->port_n);
}

TEST(net_listener_accepts_a_backlog_larger_than_one_turn) {
  ls_t *s = ls_new(false, 0);
  nf_run(&s->nf, bl_setup, s, NF_DEADLINE_MS, ls_deadline);
  CHECK_EQ(s->accepted, BL_CONNS);
  CHECK_EQ(s->srv_closed, BL_CONNS);
  CHECK_EQ(s->live, 0);
  CHECK_EQ(s->listener_closed, 1);
  ls_free(s);
}

/* --- close: `closed`, then the port refuses (scenario 46) --------------------------------- */

enum { LC_CONNECT_LATER, LC_CONNECT_IN_CLOSED };

static void lc_failed(rasio_tcp_t *c, int err) {
  ls_conn_t *k = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  k->s->failed++;
  k->s->failed_err = err;
}

static void lc_connected(rasio_tcp_t *c) {
  ls_conn_t *k = rasio_tcp_data(c);
  k->s->cli_connected++;
  rt_fail(__FILE__, __LINE__, "connected to the port of a closed listener");
}

static void lc_closed(rasio_tcp_t *c) {
  ls_conn_t *k = rasio_tcp_data(c);
  k->s->cli_closed++;
  rt_fail(__FILE__, __LINE__, "closed (after connected) on the port of a closed listener");
}

static const rasio_tcp_cb_t lc_cli_cb = {
    .connected = lc_connected, .connect_failed = lc_failed, .closed = lc_closed};

static void lc_connect(void *ctx) {
  ls_t *s = ctx;
  ls_conn_t *k = &s->cli[0];
  *k = (ls_conn_t){.s = s, .idx = 0};
  k->c = nf_connect(&s->nf, "127.0.0.1", s->port, &lc_cli_cb, k, 0);
}

static void lc_listener_closed(rasio_tcp_listener_t *l) {
  ls_t *s = rasio_tcp_listener_data(l);
  ls_listener_closed(l);
  if (s->mode == LC_CONNECT_IN_CLOSED)
    lc_connect(s);
  else
    (void)nf_tick_hold(&s->nf, 50, lc_connect, s);
}

static void lc_close(void *ctx) {
  ls_t *s = ctx;
  rasio_tcp_listener_close(s->l);
}

static void lc_setup(void *ctx) {
  ls_t *s = ctx;
  static const rasio_tcp_listener_cb_t cb = {.accepted = ls_accepted, .closed = lc_listener_closed};
  s->l = nf_listen(&s->nf, &cb, s, 0, NULL, s->port);
  (void)nf_tick(&s->nf, 0, lc_close, s);
}

static void listener_close_case(int mode, bool mailbox) {
  ls_t *s = ls_new(mailbox, mode);
  nf_run(&s->nf, lc_setup, s, NF_DEADLINE_MS, ls_deadline);
  CHECK_EQ(s->listener_closed, 1);
  CHECK_EQ(s->accepted, 0);
  CHECK_EQ(s->failed, 1);
  CHECK_LT(s->failed_err, 0);
  if (nf_on_epoll(&s->nf)) CHECK_ERR(s->failed_err, RASIO_ECONNREFUSED);
  ls_free(s);
}

TEST(net_listener_close_reports_closed_then_port_refuses) {
  listener_close_case(LC_CONNECT_LATER, false);
}

TEST(net_listener_close_reports_closed_then_port_refuses_mailbox) {
  listener_close_case(LC_CONNECT_LATER, true);
}

/* "The listener is gone" when `closed` runs: a connect started right there must fail too. */
TEST(net_listener_port_refuses_connect_started_inside_closed) {
  listener_close_case(LC_CONNECT_IN_CLOSED, false);
}

TEST(net_listener_port_refuses_connect_started_inside_closed_mailbox) {
  listener_close_case(LC_CONNECT_IN_CLOSED, true);
}

/* --- a closed listener's live connections keep working ------------------------------------ */

#define LK_BYTES (128u << 10)

typedef struct lk {
  ls_t s;
  uint64_t cli_got;
  uint8_t buf[LK_BYTES];
} lk_t;

static bool lk_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  ls_t *s = rasio_tcp_listener_data(l);
  bool ok = ls_accepted(l, c);
  rasio_tcp_listener_close(l); /* close the listener right away; c lives on */
  s->step_done = true;
  return ok;
}

static void lk_connected(rasio_tcp_t *c) {
  ls_conn_t *k = rasio_tcp_data(c);
  lk_t *x = (lk_t *)k->s;
  k->connected = true;
  k->s->cli_connected++;
  CHECK_OK(rasio_tcp_write(c, x->buf, LK_BYTES));
}

static bool lk_received(rasio_tcp_t *c, const void *data, size_t len) {
  ls_conn_t *k = rasio_tcp_data(c);
  lk_t *x = (lk_t *)k->s;
  NF_VERIFY(data, len, 9, x->cli_got);
  x->cli_got += len;
  /* The echo flows after the listener was closed. */
  CHECK(k->s->step_done);
  if (x->cli_got == LK_BYTES) rasio_tcp_close(c);
  return true;
}

static void lk_cli_closed(rasio_tcp_t *c) {
  ls_conn_t *k = rasio_tcp_data(c);
  k->s->cli_closed++;
}

static const rasio_tcp_cb_t lk_cli_cb = {.connected = lk_connected,
                                         .connect_failed = ls_cli_failed,
                                         .received = lk_received,
                                         .closed = lk_cli_closed};

static void lk_setup(void *ctx) {
  lk_t *x = ctx;
  static const rasio_tcp_listener_cb_t cb = {.accepted = lk_accepted, .closed = ls_listener_closed};
  x->s.l = nf_listen(&x->s.nf, &cb, &x->s, 0, NULL, x->s.port);
  ls_conn_t *k = &x->s.cli[0];
  *k = (ls_conn_t){.s = &x->s, .idx = 0};
  k->c = nf_connect(&x->s.nf, "127.0.0.1", x->s.port, &lk_cli_cb, k, 0);
}

static void listener_close_live_case(bool mailbox) {
  lk_t *x = calloc(1, sizeof *x);
  CHECK(x != NULL);
  nf_fill(x->buf, LK_BYTES, 9, 0);
  nf_init(&x->s.nf, mailbox);
  nf_run(&x->s.nf, lk_setup, x, NF_DEADLINE_MS, ls_deadline);
  CHECK_EQ(x->s.listener_closed, 1);
  CHECK_EQ(x->s.accepted, 1);
  CHECK_EQ(x->cli_got, LK_BYTES);
  CHECK_EQ(x->s.srv_closed, 1);
  CHECK_EQ(x->s.cli_closed, 1);
  nf_end(&x->s.nf);
  free(x);
}

TEST(net_listener_close_keeps_live_connections_working) { listener_close_live_case(false); }

TEST(net_listener_close_keeps_live_connections_working_mailbox) { listener_close_live_case(true); }

/* --- listen errors, addresses, bad arguments ----------------------------------------------- */

static void ad_close(void *ctx) {
  ls_t *s = ctx;
  rasio_tcp_listener_close(s->l);
}

static void ad_setup(void *ctx) {
  ls_t *s = ctx;
  s->l = nf_listen(&s->nf, &ls_listener_cb, s, 0, NULL, s->port);
  rasio_addr_t a;
  CHECK_OK(rasio_tcp_listener_addr(s->l, &a));
  char text[64];
  CHECK_OK(rasio_addr_format(&a, text, sizeof text));
  char want[64];
  snprintf(want, sizeof want, "127.0.0.1:%s", s->port);
  if (strcmp(text, want) != 0) rt_fail(__FILE__, __LINE__, "listener addr %s, want %s", text, want);
  CHECK(rasio_tcp_listener_data(s->l) == s);
  /* A second listener on the same port: the port is taken (exact on Linux; Windows lets
   * SO_REUSEADDR share it). */
  rasio_tcp_listener_t *dup = (rasio_tcp_listener_t *)s;
  rasio_tcp_listener_opts_t o = {.mailbox = s->nf.mb}; /* no callbacks */
  int rc = rasio_tcp_listen(s->nf.loop, "127.0.0.1", s->port, RASIO_AF_INET4, &o, &dup);
  if (nf_on_epoll(&s->nf)) {
    CHECK_ERR(rc, RASIO_EADDRINUSE);
    CHECK(dup == NULL);
  } else if (rc == 0) {
    rasio_tcp_listener_close(dup);
  }
  (void)nf_tick(&s->nf, 0, ad_close, s);
}

TEST(net_listener_addr_data_and_port_in_use) {
  ls_t *s = ls_new(false, 0);
  nf_run(&s->nf, ad_setup, s, NF_DEADLINE_MS, ls_deadline);
  CHECK_EQ(s->listener_closed, 1);
  ls_free(s);
}

TEST(net_listener_bad_arguments_create_nothing) {
  nf_t nf;
  nf_init(&nf, false);
  rasio_tcp_listener_t *l = (rasio_tcp_listener_t *)&nf;
  CHECK_ERR(rasio_tcp_listen(NULL, "127.0.0.1", "0", RASIO_AF_INET4, NULL, &l), RASIO_EINVAL);
  CHECK(l == NULL);
  l = (rasio_tcp_listener_t *)&nf;
  CHECK_ERR(rasio_tcp_listen(nf.loop, "127.0.0.1", NULL, RASIO_AF_INET4, NULL, &l), RASIO_EINVAL);
  CHECK(l == NULL);
  CHECK_ERR(rasio_tcp_listen(nf.loop, "127.0.0.1", "0", RASIO_AF_INET4, NULL, NULL), RASIO_EINVAL);
  l = (rasio_tcp_listener_t *)&nf;
  CHECK_ERR(rasio_tcp_listen(nf.loop, "127.0.0.1", "0", 5, NULL, &l), RASIO_EINVAL);
  CHECK(l == NULL);
  l = (rasio_tcp_listener_t *)&nf;
  CHECK_ERR(rasio_tcp_listen(nf.loop, "no-such-host.invalid", "0", RASIO_AF_ANY, NULL, &l),
            RASIO_ENOTFOUND);
  CHECK(l == NULL);
  rasio_addr_t a;
  CHECK_ERR(rasio_tcp_listener_addr(NULL, &a), RASIO_EINVAL);
  CHECK(rasio_tcp_listener_data(NULL) == NULL);
  rasio_tcp_listener_close(NULL);
  CHECK_EQ(rasio_loop_noisy(nf.loop), 0);
  nf_end(&nf);
}
