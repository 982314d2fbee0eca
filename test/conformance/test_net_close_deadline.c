/* SPDX-License-Identifier: BSD-2-Clause */
/* The graceful close's deadline (issue 12, gap 3): rasio_tcp_opts_t.close_timeout_ns.
 *
 * A peer that never sends its FIN is a muted connection: it reads nothing, so it never
 * learns of our FIN and never answers it. The closing side must then end by itself once
 * its deadline passed (hard close: `closed`). A peer that does answer ends the close at
 * once, long before the deadline, as it always did. RASIO_TCP_NO_TIMEOUT waits for the peer
 * however long it takes. Both sides of the deadline are checked: a client's (its own opts)
 * and an accepted connection's (the listener's conn opts).
 */
#include <stdlib.h>

#include "net_fixture.h"

enum { CD_DEADLINE_MS = 200 };

typedef enum {
  CD_SILENT_PEER,   /* the client closes; the server is muted and never answers */
  CD_ANSWERING_PEER, /* the client closes; the server answers with its FIN */
  CD_NO_TIMEOUT,    /* as CD_SILENT_PEER with RASIO_TCP_NO_TIMEOUT: the server unmutes later */
  CD_SERVER_CLOSES, /* the server closes (deadline from conn opts); the client is muted */
  CD_SERVER_CLOSES_FULL /* the same with megabytes queued: a send is in flight, waiting */
} cd_mode_t;

enum { CD_FULL_BYTES = 32 * 1024 * 1024 };

typedef struct cd {
  nf_t nf;
  cd_mode_t mode;
  char port[8];
  rasio_tcp_listener_t *l;
  rasio_tcp_t *cli, *srv;
  uint64_t close_ms, closed_ms; /* when the closing side called close, and heard closed */
  unsigned cli_closed, srv_closed, connected;
} cd_t;

static void cd_deadline(void *ctx) {
  cd_t *d = ctx;
  rt_fail(__FILE__, __LINE__, "deadline: connected %u cli_closed %u srv_closed %u",
          d->connected, d->cli_closed, d->srv_closed);
}

static bool cd_closer_is_client(const cd_t *d) {
  return d->mode != CD_SERVER_CLOSES && d->mode != CD_SERVER_CLOSES_FULL;
}

/* The server's close, once its send has had time to fill every buffer on the way. */
static void cd_close_srv(void *ctx) {
  cd_t *d = ctx;
  d->close_ms = th_now_ms();
  rasio_tcp_close(d->srv);
}

static void cd_unmute_srv(void *ctx) {
  cd_t *d = ctx;
  CHECK_EQ(d->cli_closed, 0); /* no deadline: still waiting for the peer */
  rasio_tcp_unmute(d->srv);   /* now it reads the FIN and answers */
}

/* The closing side: close as soon as both ends are up. */
static void cd_maybe_close(cd_t *d) {
  if (d->srv == NULL || d->connected == 0) return;
  d->close_ms = th_now_ms();
  if (cd_closer_is_client(d)) {
    if (d->mode != CD_ANSWERING_PEER) rasio_tcp_mute(d->srv);
    rasio_tcp_close(d->cli);
    if (d->mode == CD_NO_TIMEOUT) (void)nf_tick(&d->nf, 3 * CD_DEADLINE_MS, cd_unmute_srv, d);
  } else if (d->mode == CD_SERVER_CLOSES_FULL) {
    rasio_tcp_mute(d->cli);
    char *big = calloc(1, CD_FULL_BYTES);
    CHECK(big != NULL);
    CHECK_OK(rasio_tcp_write(d->srv, big, CD_FULL_BYTES));
    free(big);
    (void)nf_tick(&d->nf, 300, cd_close_srv, d);
  } else {
    rasio_tcp_mute(d->cli);
    rasio_tcp_close(d->srv);
  }
}

static void cd_connected(rasio_tcp_t *c) {
  cd_t *d = rasio_tcp_data(c);
  d->connected++;
  cd_maybe_close(d);
}

static void cd_cli_closed(rasio_tcp_t *c) {
  cd_t *d = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  d->cli_closed++;
  if (cd_closer_is_client(d)) {
    d->closed_ms = th_now_ms();
    /* The silent peer (muted) never ends by itself: end it now. */
    if (d->srv_closed == 0) rasio_tcp_hard_close(d->srv);
  }
}

static void cd_srv_closed(rasio_tcp_t *c) {
  cd_t *d = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  d->srv_closed++;
  if (!cd_closer_is_client(d)) {
    d->closed_ms = th_now_ms();
    if (d->cli_closed == 0) rasio_tcp_hard_close(d->cli);
  }
  rasio_tcp_listener_close(d->l);
}

static bool cd_received(rasio_tcp_t *c, const void *data, size_t len) {
  (void)c;
  (void)data;
  (void)len;
  return true;
}

static void cd_failed(rasio_tcp_t *c, int err) {
  (void)c;
  rt_fail(__FILE__, __LINE__, "connect_failed %s", rasio_err_name(err));
}

static const rasio_tcp_cb_t cd_cli_cb = {.connected = cd_connected,
                                         .connect_failed = cd_failed,
                                         .received = cd_received,
                                         .closed = cd_cli_closed};
static const rasio_tcp_cb_t cd_srv_cb = {.received = cd_received, .closed = cd_srv_closed};

static bool cd_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  cd_t *d = rasio_tcp_listener_data(l);
  d->srv = c;
  rasio_tcp_set_callbacks(c, &cd_srv_cb, d);
  cd_maybe_close(d);
  return true;
}

static const rasio_tcp_listener_cb_t cd_l_cb = {.accepted = cd_accepted};

static uint64_t cd_timeout(const cd_t *d) {
  if (d->mode == CD_NO_TIMEOUT) return RASIO_TCP_NO_TIMEOUT;
  /* The answering peer gets a long deadline: it must not be what ends the close. */
  return NF_MS(d->mode == CD_ANSWERING_PEER ? 5000 : CD_DEADLINE_MS);
}

static void cd_setup(void *ctx) {
  cd_t *d = ctx;
  rasio_tcp_opts_t conn = {.close_timeout_ns = cd_closer_is_client(d) ? 0 : cd_timeout(d)};
  d->l = nf_listen(&d->nf, &cd_l_cb, d, 0, &conn, d->port);
  rasio_tcp_opts_t o = {.cb = &cd_cli_cb, .data = d, .mailbox = d->nf.mb,
                        .close_timeout_ns = cd_closer_is_client(d) ? cd_timeout(d) : 0};
  CHECK_OK(rasio_tcp_connect(d->nf.loop, "127.0.0.1", d->port, &o, &d->cli));
}

static void cd_case(bool mailbox, cd_mode_t mode) {
  cd_t d = {.mode = mode};
  nf_init(&d.nf, mailbox);
  nf_run(&d.nf, cd_setup, &d, NF_DEADLINE_MS, cd_deadline);
  CHECK_EQ(d.cli_closed, 1);
  CHECK_EQ(d.srv_closed, 1);
  uint64_t took = d.closed_ms - d.close_ms;
  switch (mode) {
    case CD_SILENT_PEER:
    case CD_SERVER_CLOSES:
    case CD_SERVER_CLOSES_FULL:
      /* Not before the deadline (the timer's ms rounding aside), and not much after it. */
      CHECK_GE(took, (uint64_t)CD_DEADLINE_MS - 5);
      CHECK_LT(took, (uint64_t)CD_DEADLINE_MS + 2000);
      break;
    case CD_ANSWERING_PEER: CHECK_LT(took, 2000u); break; /* the 5 s deadline played no part */
    case CD_NO_TIMEOUT: CHECK_GE(took, (uint64_t)3 * CD_DEADLINE_MS - 5); break;
  }
  nf_end(&d.nf);
}

TEST(net_close_deadline_ends_a_close_the_peer_never_answers) { cd_case(false, CD_SILENT_PEER); }
TEST(net_close_deadline_ends_a_close_the_peer_never_answers_mailbox) {
  cd_case(true, CD_SILENT_PEER);
}
TEST(net_close_deadline_applies_to_accepted_connections) { cd_case(false, CD_SERVER_CLOSES); }
/* On uring the connection's send is then in flight and cannot finish: the deadline's hard
 * close must still end it (the send's cancel, and the linked poll's it may wait behind). */
TEST(net_close_deadline_ends_a_close_with_a_send_stuck) { cd_case(false, CD_SERVER_CLOSES_FULL); }
TEST(net_close_deadline_does_not_delay_a_close_the_peer_answers) {
  cd_case(false, CD_ANSWERING_PEER);
}
TEST(net_close_deadline_none_waits_for_the_peer) { cd_case(false, CD_NO_TIMEOUT); }
