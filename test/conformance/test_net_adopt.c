/* SPDX-License-Identifier: BSD-2-Clause */
/* Sockets made elsewhere in the net layer, and shared ports (issue 12, gap 5):
 * rasio_tcp_adopt (a connected socket), rasio_tcp_listen_fd (a listening one), and
 * SO_REUSEPORT listeners (rasio_tcp_listener_opts_t.reuseport,
 * rasio_sock_listen_tcp_reuseport). Each on the inline and the mailbox executor.
 */
#include <stdlib.h>

#include "net_fixture.h"

/* --- adopt: bytes sent before the adoption are delivered, echoed, and a peer FIN ends it */

typedef struct ad {
  nf_t nf;
  rasio_fd_t mine, peer;
  rasio_tcp_t *c;
  size_t got;
  unsigned closed;
} ad_t;

static bool ad_received(rasio_tcp_t *c, const void *data, size_t len) {
  NF_ON_EXECUTOR();
  ad_t *t = rasio_tcp_data(c);
  t->got += len;
  CHECK_OK(rasio_tcp_write(c, data, len));
  return true;
}

static void ad_closed(rasio_tcp_t *c) {
  NF_ON_EXECUTOR();
  ad_t *t = rasio_tcp_data(c);
  t->closed++;
}

static const rasio_tcp_cb_t ad_cb = {.received = ad_received, .closed = ad_closed};

static void ad_setup(void *ctx) {
  ad_t *t = ctx;
  rasio_tcp_opts_t o = {.cb = &ad_cb, .data = t, .mailbox = t->nf.mb};
  CHECK_OK(rasio_tcp_adopt(t->nf.loop, t->mine, &o, &t->c));
  CHECK(t->c != NULL);
  CHECK(rasio_tcp_fd(t->c) == t->mine);
}

static void ad_deadline(void *ctx) {
  ad_t *t = ctx;
  rt_fail(__FILE__, __LINE__, "adopted connection not done: got %zu closed %u", t->got,
          t->closed);
}

static void adopt_case(bool mailbox) {
  ad_t *t = calloc(1, sizeof *t);
  CHECK(t != NULL);
  nf_init(&t->nf, mailbox);
  th_tcp_pair(&t->mine, &t->peer);
  CHECK_EQ(th_send(t->peer, "hello", 5), 5); /* before the adoption */
  th_shutdown_wr(t->peer);
  nf_run(&t->nf, ad_setup, t, NF_DEADLINE_MS, ad_deadline);
  CHECK_EQ(t->got, 5);
  CHECK_EQ(t->closed, 1);
  /* The echo went out before rasio's FIN, and rasio closed the socket it owned. */
  char buf[16];
  size_t have = 0;
  long n = 0;
  uint64_t end = th_now_ms() + th_scaled_ms(5000);
  while (th_now_ms() < end) {
    n = th_recv(t->peer, buf + have, sizeof buf - have);
    if (n > 0) have += (size_t)n;
    if (n == 0 || n == -2) break;
    if (n == -1) th_sleep_ms(1);
  }
  CHECK_EQ(have, 5);
  CHECK(memcmp(buf, "hello", 5) == 0);
  CHECK_EQ(n, 0); /* end of stream */
  th_close(t->peer);
  nf_end(&t->nf);
  free(t);
}

TEST(net_adopt_connected_socket) { adopt_case(false); }
TEST(net_adopt_connected_socket_mailbox) { adopt_case(true); }

/* A refused socket is untouched and still the caller's: a listening socket, then the
 * same socket goes on working for the caller. */
TEST(net_adopt_refuses_listening_socket_and_leaves_it_alone) {
  rasio_loop_t *loop = th_loop();
  uint16_t port;
  rasio_fd_t l = th_listener(&port);
  rasio_tcp_t *c = (rasio_tcp_t *)(void *)&port;
  CHECK_ERR(rasio_tcp_adopt(loop, l, NULL, &c), RASIO_EINVAL);
  CHECK(c == NULL);
  rasio_fd_t cli = th_connect_start(port);
  rasio_fd_t srv = RASIO_INVALID_FD;
  uint64_t end = th_now_ms() + th_scaled_ms(5000);
  while ((srv = th_accept(l)) == RASIO_INVALID_FD && th_now_ms() < end) th_sleep_ms(1);
  CHECK(srv != RASIO_INVALID_FD); /* the listener still listens */
  /* And a listening socket for rasio_tcp_listen_fd, the reverse. */
  rasio_tcp_listener_t *tl = (rasio_tcp_listener_t *)(void *)&port;
  CHECK_ERR(rasio_tcp_listen_fd(loop, srv, NULL, &tl), RASIO_EINVAL);
  CHECK(tl == NULL);
  th_close(srv);
  th_close(cli);
  th_close(l);
  th_loop_end(loop);
}

/* --- listen_fd and reuseport: a listener on a socket made elsewhere accepts and echoes -- */

#define LF_CLIENTS 8

typedef struct lf {
  nf_t nf;
  rasio_fd_t lfd;         /* for listen_fd: made by the test */
  bool two;               /* two listeners sharing one port (reuseport) */
  rasio_tcp_listener_t *l[2];
  char port[8];
  unsigned accepted[2], echoed, srv_closed, listeners_closed;
} lf_t;

static bool lf_echo(rasio_tcp_t *c, const void *data, size_t len) {
  CHECK_OK(rasio_tcp_write(c, data, len));
  return true;
}

static void lf_srv_closed(rasio_tcp_t *c) {
  lf_t *t = rasio_tcp_data(c);
  t->srv_closed++;
  if (t->srv_closed == LF_CLIENTS)
    for (int i = 0; i < 2; i++)
      if (t->l[i] != NULL) rasio_tcp_listener_close(t->l[i]);
}

static bool lf_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  lf_t *t = rasio_tcp_listener_data(l);
  (void)c;
  t->accepted[l == t->l[0] ? 0 : 1]++;
  return true;
}

static void lf_listener_closed(rasio_tcp_listener_t *l) {
  lf_t *t = rasio_tcp_listener_data(l);
  t->listeners_closed++;
}

static void lf_cli_connected(rasio_tcp_t *c) { CHECK_OK(rasio_tcp_write(c, "ping", 4)); }

static bool lf_cli_received(rasio_tcp_t *c, const void *data, size_t len) {
  lf_t *t = rasio_tcp_data(c);
  CHECK_EQ(len, 4);
  CHECK(memcmp(data, "ping", 4) == 0);
  t->echoed++;
  rasio_tcp_close(c);
  return true;
}

static const rasio_tcp_cb_t lf_cli_cb = {.connected = lf_cli_connected,
                                         .received = lf_cli_received};
static const rasio_tcp_cb_t lf_srv_cb = {.received = lf_echo, .closed = lf_srv_closed};
static const rasio_tcp_listener_cb_t lf_l_cb = {.accepted = lf_accepted,
                                                .closed = lf_listener_closed};

static rasio_tcp_listener_opts_t lf_opts(lf_t *t) {
  return (rasio_tcp_listener_opts_t){.cb = &lf_l_cb, .data = t, .mailbox = t->nf.mb,
                                     .conn = {.cb = &lf_srv_cb, .data = t}};
}

static void lf_clients(lf_t *t) {
  for (int i = 0; i < LF_CLIENTS; i++)
    (void)nf_connect(&t->nf, "127.0.0.1", t->port, &lf_cli_cb, t, 0);
}

static void lf_setup_fd(void *ctx) {
  lf_t *t = ctx;
  rasio_tcp_listener_opts_t o = lf_opts(t);
  CHECK_OK(rasio_tcp_listen_fd(t->nf.loop, t->lfd, &o, &t->l[0]));
  lf_clients(t);
}

/* Two listeners on one port: the first by rasio_tcp_listen with reuseport, the second
 * on a socket from rasio_sock_listen_tcp_reuseport wrapped by rasio_tcp_listen_fd. */
static void lf_setup_shared(void *ctx) {
  lf_t *t = ctx;
  rasio_tcp_listener_opts_t o = lf_opts(t);
  o.reuseport = true;
  CHECK_OK(rasio_tcp_listen(t->nf.loop, "127.0.0.1", "0", RASIO_AF_INET4, &o, &t->l[0]));
  rasio_addr_t a;
  CHECK_OK(rasio_tcp_listener_addr(t->l[0], &a));
  nf_port_str(rasio_addr_port(&a), t->port);
  /* A socket without SO_REUSEPORT cannot join them. */
  rasio_fd_t other;
  CHECK_ERR(rasio_sock_listen_tcp("127.0.0.1", t->port, RASIO_AF_INET4, &other, NULL),
            RASIO_EADDRINUSE);
  rasio_fd_t fd;
  CHECK_OK(rasio_sock_listen_tcp_reuseport("127.0.0.1", t->port, RASIO_AF_INET4, &fd, NULL));
  o.reuseport = false;
  CHECK_OK(rasio_tcp_listen_fd(t->nf.loop, fd, &o, &t->l[1]));
  lf_clients(t);
}

static void lf_deadline(void *ctx) {
  lf_t *t = ctx;
  rt_fail(__FILE__, __LINE__, "listeners not done: accepted %u+%u echoed %u closed %u",
          t->accepted[0], t->accepted[1], t->echoed, t->srv_closed);
}

static void listen_fd_case(bool mailbox) {
  lf_t *t = calloc(1, sizeof *t);
  CHECK(t != NULL);
  nf_init(&t->nf, mailbox);
  uint16_t port;
  t->lfd = th_listener(&port);
  nf_port_str(port, t->port);
  nf_run(&t->nf, lf_setup_fd, t, NF_DEADLINE_MS, lf_deadline);
  CHECK_EQ(t->accepted[0], LF_CLIENTS);
  CHECK_EQ(t->echoed, LF_CLIENTS);
  CHECK_EQ(t->listeners_closed, 1);
  nf_end(&t->nf);
  free(t);
}

TEST(net_listen_fd_accepts_on_a_socket_made_elsewhere) { listen_fd_case(false); }
TEST(net_listen_fd_accepts_on_a_socket_made_elsewhere_mailbox) { listen_fd_case(true); }

static void reuseport_case(bool mailbox) {
  rasio_fd_t probe;
  int rc = rasio_sock_listen_tcp_reuseport("127.0.0.1", "0", RASIO_AF_INET4, &probe, NULL);
  if (rc == RASIO_ENOTSUP) SKIP("no SO_REUSEPORT on this platform (documented ENOTSUP)");
  CHECK_OK(rc);
  CHECK_OK(rasio_sock_close(probe));
  lf_t *t = calloc(1, sizeof *t);
  CHECK(t != NULL);
  nf_init(&t->nf, mailbox);
  nf_run(&t->nf, lf_setup_shared, t, NF_DEADLINE_MS, lf_deadline);
  /* Which socket gets a connection is the kernel's choice: only the total is ours. */
  printf("accepted by the first %u, by the second %u\n", t->accepted[0], t->accepted[1]);
  CHECK_EQ(t->accepted[0] + t->accepted[1], LF_CLIENTS);
  CHECK_EQ(t->echoed, LF_CLIENTS);
  CHECK_EQ(t->listeners_closed, 2);
  nf_end(&t->nf);
  free(t);
}

TEST(net_reuseport_listeners_share_a_port) { reuseport_case(false); }
TEST(net_reuseport_listeners_share_a_port_mailbox) { reuseport_case(true); }

/* Windows has no SO_REUSEPORT: both ways of asking say ENOTSUP, and nothing is left
 * listening. Elsewhere this checks the option is really set: a second socket binds. */
TEST(net_reuseport_enotsup_or_shared) {
  rasio_fd_t a, b;
  rasio_addr_t bound;
  int rc = rasio_sock_listen_tcp_reuseport("127.0.0.1", "0", RASIO_AF_INET4, &a, &bound);
  if (rc == RASIO_ENOTSUP) {
    CHECK(a == RASIO_INVALID_FD);
    rasio_loop_t *loop = th_loop();
    rasio_tcp_listener_opts_t o = {.reuseport = true};
    rasio_tcp_listener_t *l = NULL;
    CHECK_ERR(rasio_tcp_listen(loop, "127.0.0.1", "0", RASIO_AF_INET4, &o, &l),
              RASIO_ENOTSUP);
    CHECK(l == NULL);
    th_loop_end(loop);
    return;
  }
  CHECK_OK(rc);
  char port[8];
  nf_port_str(rasio_addr_port(&bound), port);
  CHECK_OK(rasio_sock_listen_tcp_reuseport("127.0.0.1", port, RASIO_AF_INET4, &b, NULL));
  CHECK_OK(rasio_sock_close(b));
  CHECK_OK(rasio_sock_close(a));
}
