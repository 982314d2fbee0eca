/* SPDX-License-Identifier: BSD-2-Clause */
/* rasio_tcp_listener_close_connections and rasio_tcp_listener_connections (issue 12, gap
 * 4a): a server shuts down by closing its listener and then every connection the listener
 * made, gracefully or hard; callbacks that close other connections meanwhile are safe.
 */
#include <stdlib.h>

#include "net_fixture.h"

#define CA_N 6

typedef struct ca ca_t;

typedef struct ca_slot {
  ca_t *t;
  rasio_tcp_t *c;
  unsigned closed;
} ca_slot_t;

struct ca {
  nf_t nf;
  bool hard;
  bool reenter; /* the first server `closed` hard-closes another connection itself */
  rasio_tcp_listener_t *l;
  char port[8];
  ca_slot_t srv[CA_N];
  unsigned accepted, pings, cli_closed, listener_closed;
  size_t live_before;
  bool reentered;
};

static void ca_srv_closed(rasio_tcp_t *c) {
  ca_slot_t *s = rasio_tcp_data(c);
  ca_t *t = s->t;
  s->closed++;
  if (!t->reenter || t->reentered) return;
  t->reentered = true;
  /* Close one that is still waiting its turn, and ask for all of them again. */
  for (int i = CA_N - 1; i >= 0; i--)
    if (t->srv[i].closed == 0 && &t->srv[i] != s) {
      rasio_tcp_hard_close(t->srv[i].c);
      break;
    }
  rasio_tcp_listener_close_connections(t->l, true);
}

static bool ca_srv_received(rasio_tcp_t *c, const void *data, size_t len) {
  ca_slot_t *s = rasio_tcp_data(c);
  ca_t *t = s->t;
  (void)data;
  t->pings += (unsigned)len;
  if (t->pings == CA_N) { /* every client is up: shut the server down */
    t->live_before = rasio_tcp_listener_connections(t->l);
    rasio_tcp_listener_close(t->l);
    rasio_tcp_listener_close_connections(t->l, t->hard);
  }
  return true;
}

static const rasio_tcp_cb_t ca_srv_cb = {.received = ca_srv_received, .closed = ca_srv_closed};

static bool ca_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  ca_t *t = rasio_tcp_listener_data(l);
  CHECK_LT(t->accepted, CA_N);
  ca_slot_t *s = &t->srv[t->accepted++];
  *s = (ca_slot_t){.t = t, .c = c};
  rasio_tcp_set_callbacks(c, &ca_srv_cb, s);
  return true;
}

static void ca_listener_closed(rasio_tcp_listener_t *l) {
  ca_t *t = rasio_tcp_listener_data(l);
  t->listener_closed++;
}

static void ca_cli_connected(rasio_tcp_t *c) { CHECK_OK(rasio_tcp_write(c, "x", 1)); }

static void ca_cli_closed(rasio_tcp_t *c) {
  ca_t *t = rasio_tcp_data(c);
  t->cli_closed++;
}

static const rasio_tcp_cb_t ca_cli_cb = {.connected = ca_cli_connected, .closed = ca_cli_closed};
static const rasio_tcp_listener_cb_t ca_l_cb = {.accepted = ca_accepted,
                                                .closed = ca_listener_closed};

static void ca_setup(void *ctx) {
  ca_t *t = ctx;
  t->l = nf_listen(&t->nf, &ca_l_cb, t, 0, NULL, t->port);
  CHECK_EQ(rasio_tcp_listener_connections(t->l), 0);
  for (int i = 0; i < CA_N; i++) (void)nf_connect(&t->nf, "127.0.0.1", t->port, &ca_cli_cb, t, 0);
}

static void ca_deadline(void *ctx) {
  ca_t *t = ctx;
  rt_fail(__FILE__, __LINE__, "shutdown not done: accepted %u pings %u cli_closed %u",
          t->accepted, t->pings, t->cli_closed);
}

static void close_all_case(bool hard, bool reenter, bool mailbox) {
  ca_t *t = calloc(1, sizeof *t);
  CHECK(t != NULL);
  t->hard = hard;
  t->reenter = reenter;
  nf_init(&t->nf, mailbox);
  /* The run ends when every object is gone: no close_connections, no end. */
  nf_run(&t->nf, ca_setup, t, NF_DEADLINE_MS, ca_deadline);
  CHECK_EQ(t->accepted, CA_N);
  CHECK_EQ(t->live_before, CA_N);
  CHECK_EQ(t->cli_closed, CA_N);
  CHECK_EQ(t->listener_closed, 1);
  for (int i = 0; i < CA_N; i++) CHECK_EQ(t->srv[i].closed, 1);
  if (reenter) CHECK(t->reentered);
  nf_end(&t->nf);
  free(t);
}

TEST(net_listener_close_connections_graceful) { close_all_case(false, false, false); }
TEST(net_listener_close_connections_graceful_mailbox) { close_all_case(false, false, true); }
TEST(net_listener_close_connections_hard) { close_all_case(true, false, false); }
TEST(net_listener_close_connections_hard_mailbox) { close_all_case(true, false, true); }
TEST(net_listener_close_connections_reentered_from_closed) { close_all_case(true, true, false); }
TEST(net_listener_close_connections_reentered_from_closed_mailbox) {
  close_all_case(true, true, true);
}
