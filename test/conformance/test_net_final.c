/* SPDX-License-Identifier: BSD-2-Clause */
/* Final callbacks never run inside a call made by the owner (issue 12, gap 2; libuv's
 * rule): a connection's `closed` comes from the loop after rasio_tcp_hard_close,
 * rasio_tcp_close (hard on a muted or unconnected connection, graceful otherwise) and a
 * rasio_tcp_write that fails; a UDP socket's after rasio_udp_close (and a rasio_udp_send on
 * it); a listener's after rasio_tcp_listener_close.
 *
 * Each object's user data is a heap block that its final callback frees (what a real owner
 * does). The test's caller keeps using the block right after the call returns: if the final
 * callback had run inside the call, the `closed` counter shows it, and an ASan build
 * reports the use after free.
 */
#include <stdlib.h>

#include "net_fixture.h"

#define FN_MAGIC 0x66696e61u /* "fina" */

typedef enum { FN_HARD, FN_GRACEFUL, FN_CLOSE_MUTED, FN_CLOSE_UNCONNECTED, FN_WRITE_FAILS } fn_mode_t;

typedef struct fn fn_t;

/* The user data of one object: freed by its final callback. */
typedef struct fn_user {
  uint32_t magic;
  fn_t *t;
} fn_user_t;

struct fn {
  nf_t nf;
  fn_mode_t mode;
  char port[8];
  rasio_tcp_listener_t *l;
  rasio_tcp_t *cli;
  fn_user_t *cli_user;
  nf_tick_t *writer;
  unsigned in_call;        /* inside a call that may end an object */
  unsigned closed_in_call; /* final callbacks that ran inside one: must stay 0 */
  unsigned cli_closed, srv_closed, l_closed, udp_closed, writes, write_err;
};

static fn_user_t *fn_user(fn_t *t) {
  fn_user_t *u = malloc(sizeof *u);
  CHECK(u != NULL);
  u->magic = FN_MAGIC;
  u->t = t;
  return u;
}

/* The final callback's side: counts, then frees the owner's block. */
static fn_t *fn_final(fn_user_t *u) {
  NF_ON_EXECUTOR();
  CHECK_EQ(u->magic, FN_MAGIC);
  fn_t *t = u->t;
  if (t->in_call != 0) t->closed_in_call++;
  u->magic = 0;
  free(u);
  return t;
}

/* Makes a call that may end the object, then keeps using the object's block as the
 * caller's frame would. */
#define FN_CALL(t, u, call)                                                                  \
  do {                                                                                       \
    (t)->in_call++;                                                                          \
    call;                                                                                    \
    (t)->in_call--;                                                                          \
    CHECK_EQ((u)->magic, FN_MAGIC); /* still the caller's: no final callback ran inside */  \
    CHECK_EQ((t)->closed_in_call, 0);                                                        \
  } while (0)

static void fn_deadline(void *ctx) {
  fn_t *t = ctx;
  rt_fail(__FILE__, __LINE__, "deadline: cli_closed %u srv_closed %u l_closed %u writes %u",
          t->cli_closed, t->srv_closed, t->l_closed, t->writes);
}

/* --- TCP -------------------------------------------------------------------------------- */

static void fn_cli_closed(rasio_tcp_t *c) {
  fn_t *t = fn_final(rasio_tcp_data(c));
  t->cli_closed++;
  rasio_tcp_listener_close(t->l);
}

static void fn_srv_closed(rasio_tcp_t *c) {
  fn_t *t = fn_final(rasio_tcp_data(c));
  t->srv_closed++;
}

static bool fn_received(rasio_tcp_t *c, const void *data, size_t len) {
  (void)c;
  (void)data;
  (void)len;
  return true;
}

static void fn_write_tick(void *ctx) {
  fn_t *t = ctx;
  fn_user_t *u = t->cli_user;
  int rc = 0;
  t->writes++;
  FN_CALL(t, u, rc = rasio_tcp_write(t->cli, "x", 1));
  if (rc != 0) {
    t->write_err++;
    CHECK_EQ(t->cli_closed, 0);
    return;
  }
  CHECK_LT(t->writes, 200u); /* the peer's reset must end the writes */
  nf_again(t->writer, 20);
}

static void fn_connected(rasio_tcp_t *c) {
  fn_user_t *u = rasio_tcp_data(c);
  fn_t *t = u->t;
  switch (t->mode) {
    case FN_HARD: FN_CALL(t, u, rasio_tcp_hard_close(c)); break;
    case FN_GRACEFUL: FN_CALL(t, u, rasio_tcp_close(c)); break;
    case FN_CLOSE_MUTED:
      rasio_tcp_mute(c);
      FN_CALL(t, u, rasio_tcp_close(c));
      break;
    case FN_WRITE_FAILS:
      rasio_tcp_mute(c); /* never reads the server's FIN: only a write can fail */
      t->writer = nf_tick(&t->nf, 20, fn_write_tick, t);
      return;
    case FN_CLOSE_UNCONNECTED: rt_fail(__FILE__, __LINE__, "connected after close");
  }
  CHECK_EQ(t->cli_closed, 0);
}

static void fn_connect_failed(rasio_tcp_t *c, int err) {
  (void)c;
  rt_fail(__FILE__, __LINE__, "connect_failed %s", rasio_err_name(err));
}

static const rasio_tcp_cb_t fn_cli_cb = {.connected = fn_connected,
                                         .connect_failed = fn_connect_failed,
                                         .received = fn_received,
                                         .closed = fn_cli_closed};
static const rasio_tcp_cb_t fn_srv_cb = {.received = fn_received, .closed = fn_srv_closed};

static bool fn_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  fn_t *t = rasio_tcp_listener_data(l);
  fn_user_t *u = fn_user(t);
  rasio_tcp_set_callbacks(c, &fn_srv_cb, u);
  if (t->mode == FN_WRITE_FAILS) FN_CALL(t, u, rasio_tcp_hard_close(c));
  return true;
}

static void fn_l_closed(rasio_tcp_listener_t *l) {
  fn_t *t = rasio_tcp_listener_data(l);
  NF_ON_EXECUTOR();
  if (t->in_call != 0) t->closed_in_call++;
  t->l_closed++;
}

static const rasio_tcp_listener_cb_t fn_l_cb = {.accepted = fn_accepted, .closed = fn_l_closed};

static void fn_setup(void *ctx) {
  fn_t *t = ctx;
  t->l = nf_listen(&t->nf, &fn_l_cb, t, 0, NULL, t->port);
  t->cli_user = fn_user(t);
  t->cli = nf_connect(&t->nf, "127.0.0.1", t->port, &fn_cli_cb, t->cli_user, 0);
  if (t->mode == FN_CLOSE_UNCONNECTED) FN_CALL(t, t->cli_user, rasio_tcp_close(t->cli));
}

static void fn_case(bool mailbox, fn_mode_t mode) {
  fn_t t = {.mode = mode};
  nf_init(&t.nf, mailbox);
  nf_run(&t.nf, fn_setup, &t, NF_DEADLINE_MS, fn_deadline);
  CHECK_EQ(t.closed_in_call, 0);
  CHECK_EQ(t.cli_closed, 1);
  CHECK_EQ(t.l_closed, 1);
  if (mode == FN_WRITE_FAILS) CHECK_EQ(t.write_err, 1);
  nf_end(&t.nf);
}

TEST(net_final_closed_not_inside_hard_close) { fn_case(false, FN_HARD); }
TEST(net_final_closed_not_inside_hard_close_mailbox) { fn_case(true, FN_HARD); }
TEST(net_final_closed_not_inside_graceful_close) { fn_case(false, FN_GRACEFUL); }
TEST(net_final_closed_not_inside_close_of_a_muted_connection) { fn_case(false, FN_CLOSE_MUTED); }
TEST(net_final_closed_not_inside_close_of_an_unconnected_client) {
  fn_case(false, FN_CLOSE_UNCONNECTED);
}
TEST(net_final_closed_not_inside_close_of_an_unconnected_client_mailbox) {
  fn_case(true, FN_CLOSE_UNCONNECTED);
}
TEST(net_final_closed_not_inside_a_failing_write) { fn_case(false, FN_WRITE_FAILS); }
TEST(net_final_closed_not_inside_a_failing_write_mailbox) { fn_case(true, FN_WRITE_FAILS); }

/* --- UDP --------------------------------------------------------------------------------- */

static void fn_udp_closed(rasio_udp_t *u) {
  fn_t *t = fn_final(rasio_udp_data(u));
  t->udp_closed++;
}

static const rasio_udp_cb_t fn_udp_cb = {.closed = fn_udp_closed};

static void fn_udp_setup(void *ctx) {
  fn_t *t = ctx;
  fn_user_t *d = fn_user(t);
  rasio_udp_opts_t o = {.cb = &fn_udp_cb, .data = d, .mailbox = t->nf.mb};
  rasio_udp_t *u = NULL;
  CHECK_OK(rasio_udp_bind(t->nf.loop, "127.0.0.1", "0", RASIO_AF_INET4, &o, &u));
  rasio_addr_t self;
  CHECK_OK(rasio_udp_addr(u, &self));
  int rc = 0;
  FN_CALL(t, d, rc = rasio_udp_send(u, "x", 1, &self));
  CHECK_EQ(rc, RASIO_IO_OK);
  FN_CALL(t, d, rasio_udp_close(u));
  CHECK_EQ(t->udp_closed, 0);
  /* A send on a closing socket fails with ESTATE, and still nothing final runs inside. */
  FN_CALL(t, d, rc = rasio_udp_send(u, "x", 1, &self));
  CHECK_EQ(rc, RASIO_IO_ERROR);
  CHECK_ERR(rasio_sock_last_error(), RASIO_ESTATE);
  CHECK(rasio_udp_fd(u) == RASIO_INVALID_FD);
  CHECK_EQ(t->udp_closed, 0);
}

static void fn_udp_case(bool mailbox) {
  fn_t t = {.mode = FN_HARD};
  nf_init(&t.nf, mailbox);
  nf_run(&t.nf, fn_udp_setup, &t, NF_DEADLINE_MS, fn_deadline);
  CHECK_EQ(t.closed_in_call, 0);
  CHECK_EQ(t.udp_closed, 1);
  nf_end(&t.nf);
}

TEST(net_final_udp_closed_not_inside_close_or_send) { fn_udp_case(false); }
TEST(net_final_udp_closed_not_inside_close_or_send_mailbox) { fn_udp_case(true); }

/* --- listener ----------------------------------------------------------------------------- */

static void fn_l_setup(void *ctx) {
  fn_t *t = ctx;
  t->l = nf_listen(&t->nf, &fn_l_cb, t, 0, NULL, t->port);
  t->in_call++;
  rasio_tcp_listener_close(t->l);
  t->in_call--;
  CHECK_EQ(t->l_closed, 0);
  rasio_tcp_listener_close(t->l); /* again: nothing */
  CHECK_EQ(t->l_closed, 0);
}

TEST(net_final_listener_closed_not_inside_close) {
  fn_t t = {.mode = FN_HARD};
  nf_init(&t.nf, false);
  nf_run(&t.nf, fn_l_setup, &t, NF_DEADLINE_MS, fn_deadline);
  CHECK_EQ(t.closed_in_call, 0);
  CHECK_EQ(t.l_closed, 1);
  nf_end(&t.nf);
}
