/* SPDX-License-Identifier: BSD-2-Clause */
/* Net-layer callbacks that close things (issue 9, defect 2 and its audit): a listener's final
 * `closed` that hard-closes its last connections (the listener must be freed exactly once),
 * a connection's final callback that closes another or itself again, the accessors of a
 * closed listener or connection, and the options that accepted connections inherit (conn.cb is copied, conn's
 * mailbox must be the listener's, a listener without `accepted` takes every connection).
 *
 * A double free aborts the test child (glibc detects it; ASan reports it), so these tests
 * fail by crashing when the bookkeeping is wrong. Every call on a net object happens on its
 * executor (net_fixture.h).
 */
#include <stdlib.h>
#include <string.h>

#include "net_fixture.h"

#define RE_MAX 4

enum {
  RE_HARD_LAST,   /* `closed` hard-closes the only connection */
  RE_HARD_ALL,    /* `closed` hard-closes every connection */
  RE_HARD_CHAIN,  /* `closed` hard-closes the first; its `closed` hard-closes the rest */
  RE_GRACEFUL,    /* `closed` closes every connection gracefully */
  RE_ADDR_ESTATE  /* `closed` asks for the address, then hard-closes */
};

typedef struct re {
  nf_t nf;
  int mode, n;
  char port[8];
  rasio_tcp_listener_t *l;
  rasio_tcp_t *srv[RE_MAX], *cli[RE_MAX];
  bool srv_done[RE_MAX];
  int accepted, cli_connected, srv_closed, cli_closed, listener_closed;
} re_t;

static void re_deadline(void *ctx) {
  re_t *r = ctx;
  rt_fail(__FILE__, __LINE__,
          "deadline: accepted %d connected %d srv_closed %d cli_closed %d listener_closed %d",
          r->accepted, r->cli_connected, r->srv_closed, r->cli_closed, r->listener_closed);
}

static int re_srv_index(re_t *r, rasio_tcp_t *c) {
  for (int i = 0; i < r->accepted; i++)
    if (r->srv[i] == c) return i;
  rt_fail(__FILE__, __LINE__, "unknown server connection");
}

static void re_srv_closed(rasio_tcp_t *c) {
  re_t *r = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  int i = re_srv_index(r, c);
  CHECK(!r->srv_done[i]);
  r->srv_done[i] = true;
  r->srv_closed++;
  CHECK(rasio_tcp_fd(c) == RASIO_INVALID_FD); /* the socket is rasio's to close now */
  CHECK_ERR(rasio_tcp_write(c, "x", 1), RASIO_ESTATE);
  rasio_tcp_hard_close(c); /* closing again does nothing */
  rasio_tcp_close(c);
  /* The listener is gone already: closing another of its connections from a connection's
   * final callback; their `closed`, and the end of the listener's last holder, follow. */
  if (r->mode == RE_HARD_CHAIN && i == 0)
    for (int k = 1; k < r->n; k++) rasio_tcp_hard_close(r->srv[k]);
}

static const rasio_tcp_cb_t re_srv_cb = {.closed = re_srv_closed};

/* Both ends of every connection are up: close the listener. */
static void re_maybe_close_listener(re_t *r) {
  if (r->accepted == r->n && r->cli_connected == r->n) rasio_tcp_listener_close(r->l);
}

static bool re_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  re_t *r = rasio_tcp_listener_data(l);
  NF_ON_EXECUTOR();
  CHECK_LT(r->accepted, r->n);
  r->srv[r->accepted++] = c;
  rasio_tcp_set_callbacks(c, &re_srv_cb, r);
  re_maybe_close_listener(r);
  return true;
}

static void re_listener_closed(rasio_tcp_listener_t *l) {
  re_t *r = rasio_tcp_listener_data(l);
  NF_ON_EXECUTOR();
  CHECK_EQ(r->listener_closed, 0);
  r->listener_closed++;
  CHECK_EQ(r->srv_closed, 0);
  if (r->mode == RE_ADDR_ESTATE) {
    rasio_addr_t a;
    CHECK_ERR(rasio_tcp_listener_addr(l, &a), RASIO_ESTATE);
    CHECK(rasio_tcp_listener_data(l) == r);
  }
  switch (r->mode) {
    case RE_HARD_LAST:
    case RE_ADDR_ESTATE:
    case RE_HARD_CHAIN: rasio_tcp_hard_close(r->srv[0]); break;
    case RE_HARD_ALL:
      for (int i = 0; i < r->n; i++) rasio_tcp_hard_close(r->srv[i]);
      break;
    case RE_GRACEFUL:
      for (int i = 0; i < r->n; i++) rasio_tcp_close(r->srv[i]);
      break;
  }
  CHECK_EQ(r->srv_closed, 0); /* hard or not: closed comes later, from the loop */
  /* l is still valid until this returns. */
  CHECK(rasio_tcp_listener_data(l) == r);
}

static const rasio_tcp_listener_cb_t re_listener_cb = {.accepted = re_accepted,
                                                       .closed = re_listener_closed};

static void re_cli_connected(rasio_tcp_t *c) {
  re_t *r = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  r->cli_connected++;
  re_maybe_close_listener(r);
}

static void re_cli_failed(rasio_tcp_t *c, int err) {
  (void)c;
  rt_fail(__FILE__, __LINE__, "connect_failed %d (%s)", err, rasio_strerror(err));
}

static void re_cli_closed(rasio_tcp_t *c) {
  re_t *r = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  r->cli_closed++;
}

/* The server ends close; each client sees the end of the stream and closes too. */
static const rasio_tcp_cb_t re_cli_cb = {
    .connected = re_cli_connected, .connect_failed = re_cli_failed, .closed = re_cli_closed};

static void re_setup(void *ctx) {
  re_t *r = ctx;
  r->l = nf_listen(&r->nf, &re_listener_cb, r, 0, NULL, r->port);
  for (int i = 0; i < r->n; i++)
    r->cli[i] = nf_connect(&r->nf, "127.0.0.1", r->port, &re_cli_cb, r, 0);
}

static void reentry_case(int mode, int n, bool mailbox) {
  re_t *r = calloc(1, sizeof *r);
  CHECK(r != NULL);
  nf_init(&r->nf, mailbox);
  r->mode = mode;
  r->n = n;
  nf_run(&r->nf, re_setup, r, NF_DEADLINE_MS, re_deadline);
  CHECK_EQ(r->listener_closed, 1);
  CHECK_EQ(r->accepted, n);
  CHECK_EQ(r->srv_closed, n);
  CHECK_EQ(r->cli_closed, n);
  nf_end(&r->nf);
  free(r);
}

TEST(net_listener_closed_hard_closing_its_last_connection_frees_it_once) {
  reentry_case(RE_HARD_LAST, 1, false);
}

TEST(net_listener_closed_hard_closing_its_last_connection_frees_it_once_mailbox) {
  reentry_case(RE_HARD_LAST, 1, true);
}

TEST(net_listener_closed_hard_closing_every_connection_frees_it_once) {
  reentry_case(RE_HARD_ALL, 3, false);
}

TEST(net_listener_closed_hard_closing_a_chain_of_connections_frees_it_once) {
  reentry_case(RE_HARD_CHAIN, 3, false);
}

TEST(net_listener_closed_closing_connections_gracefully) { reentry_case(RE_GRACEFUL, 2, false); }

TEST(net_listener_addr_inside_closed_is_estate) { reentry_case(RE_ADDR_ESTATE, 1, false); }

/* --- what accepted connections inherit from the listener's conn options ------------------- */

typedef struct ih {
  nf_t nf;
  char port[8];
  rasio_tcp_listener_t *l;
  rasio_tcp_t *cli;
  int echoed, srv_closed, cli_closed, listener_closed, accepted;
  size_t got;
} ih_t;

static void ih_deadline(void *ctx) {
  ih_t *h = ctx;
  rt_fail(__FILE__, __LINE__, "deadline: got %zu echoed %d srv_closed %d cli_closed %d", h->got,
          h->echoed, h->srv_closed, h->cli_closed);
}

static bool ih_echo(rasio_tcp_t *c, const void *data, size_t len) {
  ih_t *h = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  h->echoed++;
  CHECK_OK(rasio_tcp_write(c, data, len));
  return true;
}

static void ih_srv_closed(rasio_tcp_t *c) {
  ih_t *h = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  h->srv_closed++;
  rasio_tcp_listener_close(h->l);
}

static bool ih_unexpected(rasio_tcp_t *c, const void *data, size_t len) {
  (void)c, (void)data;
  rt_fail(__FILE__, __LINE__, "the caller's overwritten callbacks ran (%zu bytes)", len);
}

static void ih_cli_connected(rasio_tcp_t *c) {
  NF_ON_EXECUTOR();
  CHECK_OK(rasio_tcp_write(c, "hello", 5));
}

static bool ih_cli_received(rasio_tcp_t *c, const void *data, size_t len) {
  ih_t *h = rasio_tcp_data(c);
  CHECK_LE(h->got + len, 5);
  static const char hello[] = "hello";
  CHECK(memcmp(data, hello + h->got, len) == 0);
  h->got += len;
  if (h->got == 5) rasio_tcp_close(c);
  return true;
}

static void ih_cli_closed(rasio_tcp_t *c) {
  ih_t *h = rasio_tcp_data(c);
  h->cli_closed++;
}

static const rasio_tcp_cb_t ih_cli_cb = {.connected = ih_cli_connected,
                                         .connect_failed = re_cli_failed,
                                         .received = ih_cli_received,
                                         .closed = ih_cli_closed};

static void ih_listener_closed(rasio_tcp_listener_t *l) {
  ih_t *h = rasio_tcp_listener_data(l);
  h->listener_closed++;
}

static bool ih_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  ih_t *h = rasio_tcp_listener_data(l);
  h->accepted++;
  /* The defaults are in place before accepted runs. */
  CHECK(rasio_tcp_data(c) == h);
  return true;
}

/* conn.cb points at a struct that is overwritten right after listen: the listener must have
 * copied it. Without an `accepted` callback (with_accepted false) the connection is taken. */
static void ih_setup_case(ih_t *h, bool with_accepted) {
  rasio_tcp_cb_t conn_cb = {.received = ih_echo, .closed = ih_srv_closed};
  static const rasio_tcp_listener_cb_t with = {.accepted = ih_accepted,
                                               .closed = ih_listener_closed};
  static const rasio_tcp_listener_cb_t without = {.closed = ih_listener_closed};
  rasio_tcp_listener_opts_t o = {.cb = with_accepted ? &with : &without,
                                 .data = h,
                                 .mailbox = h->nf.mb,
                                 .conn = {.cb = &conn_cb, .data = h, .mailbox = h->nf.mb}};
  CHECK_OK(rasio_tcp_listen(h->nf.loop, "127.0.0.1", "0", RASIO_AF_INET4, &o, &h->l));
  conn_cb = (rasio_tcp_cb_t){.received = ih_unexpected, .closed = NULL};
  rasio_addr_t a;
  CHECK_OK(rasio_tcp_listener_addr(h->l, &a));
  nf_port_str(rasio_addr_port(&a), h->port);
  h->cli = nf_connect(&h->nf, "127.0.0.1", h->port, &ih_cli_cb, h, 0);
}

static void ih_setup_with(void *ctx) { ih_setup_case(ctx, true); }
static void ih_setup_without(void *ctx) { ih_setup_case(ctx, false); }

static void inherit_case(bool with_accepted, bool mailbox) {
  ih_t *h = calloc(1, sizeof *h);
  CHECK(h != NULL);
  nf_init(&h->nf, mailbox);
  nf_run(&h->nf, with_accepted ? ih_setup_with : ih_setup_without, h, NF_DEADLINE_MS,
         ih_deadline);
  CHECK_EQ(h->accepted, with_accepted ? 1 : 0);
  CHECK_GE(h->echoed, 1);
  CHECK_EQ(h->got, 5);
  CHECK_EQ(h->srv_closed, 1);
  CHECK_EQ(h->cli_closed, 1);
  CHECK_EQ(h->listener_closed, 1);
  nf_end(&h->nf);
  free(h);
}

TEST(net_listener_conn_callbacks_are_copied_at_listen) { inherit_case(true, false); }

TEST(net_listener_conn_callbacks_are_copied_at_listen_mailbox) { inherit_case(true, true); }

TEST(net_listener_without_accepted_takes_connections_with_conn_callbacks) {
  inherit_case(false, false);
}

TEST(net_listener_conn_mailbox_other_than_the_listeners_is_einval) {
  nf_t nf;
  nf_init(&nf, false);
  rasio_mailbox_t *other;
  CHECK_OK(rasio_mailbox_new(&other));
  rasio_tcp_listener_opts_t o = {.conn = {.mailbox = other}};
  rasio_tcp_listener_t *l = (rasio_tcp_listener_t *)&nf;
  CHECK_ERR(rasio_tcp_listen(nf.loop, "127.0.0.1", "0", RASIO_AF_INET4, &o, &l), RASIO_EINVAL);
  CHECK(l == NULL);
  CHECK_EQ(rasio_loop_noisy(nf.loop), 0);
  CHECK_OK(rasio_mailbox_free(other));
  nf_end(&nf);
}
