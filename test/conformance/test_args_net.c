/* SPDX-License-Identifier: BSD-2-Clause */
/* The bad-argument sweep (args.h) of the net layer: TCP connections, listeners, UDP.
 *
 * The loop runs inline on the test thread (RUN_NOWAIT between rows), so every call on a net
 * object is made on its executor. After the bad calls a row shows the object still works:
 * a connection still echoes, with every byte of every accepted write delivered; a UDP socket
 * still sends and receives, and no `closed` came.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

/* --- a connected client and an echoing server -------------------------------------------- */

typedef struct net {
  rasio_loop_t *loop;
  rasio_tcp_listener_t *l;
  rasio_tcp_t *cli, *srv;
  char port[8];
  unsigned connected, accepted, cli_closed, srv_closed, l_closed, throttled;
  size_t tx, rx; /* bytes the client's accepted writes carried / the echo brought back */
} net_t;

static bool srv_received(rasio_tcp_t *c, const void *data, size_t len) {
  (void)rasio_tcp_write(c, data, len); /* on error the connection closes: seen by the rows */
  return true;
}

static void srv_closed(rasio_tcp_t *c) {
  net_t *n = rasio_tcp_data(c);
  n->srv_closed++;
  n->srv = NULL;
}

static const rasio_tcp_cb_t srv_cb = {.received = srv_received, .closed = srv_closed};

static bool on_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  net_t *n = rasio_tcp_listener_data(l);
  n->accepted++;
  n->srv = c;
  rasio_tcp_set_callbacks(c, &srv_cb, n);
  return true;
}

static void on_l_closed(rasio_tcp_listener_t *l) {
  net_t *n = rasio_tcp_listener_data(l);
  n->l_closed++;
}

static const rasio_tcp_listener_cb_t l_cb = {.accepted = on_accepted, .closed = on_l_closed};

static void cli_connected(rasio_tcp_t *c) { ((net_t *)rasio_tcp_data(c))->connected++; }
static bool cli_received(rasio_tcp_t *c, const void *data, size_t len) {
  (void)data;
  ((net_t *)rasio_tcp_data(c))->rx += len;
  return true;
}
static void cli_throttled(rasio_tcp_t *c) { ((net_t *)rasio_tcp_data(c))->throttled++; }
static void cli_closed(rasio_tcp_t *c) { ((net_t *)rasio_tcp_data(c))->cli_closed++; }
static void cli_failed(rasio_tcp_t *c, int err) {
  (void)err;
  ((net_t *)rasio_tcp_data(c))->cli_closed++;
}

static const rasio_tcp_cb_t cli_cb = {.connected = cli_connected, .connect_failed = cli_failed,
                                      .received = cli_received, .throttled = cli_throttled,
                                      .closed = cli_closed};

typedef bool (*net_pred)(net_t *n);

/* Runs the loop until pred holds; false after SW_WAIT_MS. */
static bool net_until(net_t *n, net_pred pred) {
  uint64_t end = th_now_ms() + th_scaled_ms(SW_WAIT_MS);
  while (!pred(n)) {
    if (th_now_ms() > end) return false;
    CHECK_OK(rasio_loop_run(n->loop, RASIO_RUN_NOWAIT));
    th_sleep_ms(1);
  }
  return true;
}

static bool up(net_t *n) { return n->connected == 1 && n->accepted == 1; }
static bool echoed(net_t *n) { return n->rx >= n->tx || n->cli_closed > 0; }
static bool all_gone(net_t *n) { return rasio_loop_noisy(n->loop) == 0; }
static bool cli_gone(net_t *n) { return n->cli_closed > 0; }
static bool accepted(net_t *n) { return n->accepted > 0; }

static void net_listen(net_t *n) {
  memset(n, 0, sizeof *n);
  n->loop = th_loop();
  rasio_tcp_listener_opts_t lo = {.cb = &l_cb, .data = n};
  CHECK_OK(rasio_tcp_listen(n->loop, "127.0.0.1", "0", RASIO_AF_INET4, &lo, &n->l));
  rasio_addr_t a;
  CHECK_OK(rasio_tcp_listener_addr(n->l, &a));
  snprintf(n->port, sizeof n->port, "%u", (unsigned)rasio_addr_port(&a));
}

static void net_open(net_t *n) {
  net_listen(n);
  rasio_tcp_opts_t co = {.cb = &cli_cb, .data = n};
  CHECK_OK(rasio_tcp_connect(n->loop, "127.0.0.1", n->port, &co, &n->cli));
  CHECK(net_until(n, up));
}

/* A write the client makes for real: its bytes must come back. */
static int net_write(net_t *n, const void *data, size_t len) {
  int rc = rasio_tcp_write(n->cli, data, len);
  if (rc == 0) n->tx += len;
  return rc;
}

/* The row that shows the connection still echoes everything the client wrote. */
static void net_works(net_t *n, const char *what) {
  bool alive = n->cli_closed == 0 && n->srv_closed == 0;
  SW_TRUE(what, alive);
  if (!alive) return;
  SW_ERR(what, net_write(n, "ping!", 5), RASIO_OK);
  SW_TRUE(what, net_until(n, echoed) && n->rx == n->tx && n->cli_closed == 0);
}

/* Closes what is left and runs until every object is gone. */
static void net_close(net_t *n) {
  if (n->cli_closed == 0 && n->cli != NULL) rasio_tcp_hard_close(n->cli);
  if (n->l_closed == 0 && n->l != NULL) rasio_tcp_listener_close(n->l);
  CHECK(net_until(n, all_gone));
  th_loop_end(n->loop);
}

/* Fills the client's path with the server muted, until the client is throttled. */
static void net_throttle(net_t *n) {
  rasio_tcp_mute(n->srv);
  static char chunk[256 * 1024];
  for (int i = 0; i < 2000 && !rasio_tcp_throttled(n->cli); i++) {
    CHECK_OK(net_write(n, chunk, sizeof chunk));
    CHECK_OK(rasio_loop_run(n->loop, RASIO_RUN_NOWAIT));
  }
  CHECK(rasio_tcp_throttled(n->cli));
}

static bool drained(net_t *n) { return rasio_tcp_queued(n->cli) == 0 || n->cli_closed > 0; }

static void net_unthrottle(net_t *n) {
  if (n->srv != NULL) rasio_tcp_unmute(n->srv);
  CHECK(net_until(n, drained));
}

/* ======================================================================================== *
 * Connections
 * ======================================================================================== */

SWEEP(rasio_tcp_connect) {
  net_t n;
  net_listen(&n);
  rasio_tcp_opts_t co = {.cb = NULL}; /* what a failing row makes stays silent */
  rasio_tcp_t *c = SW_SENTINEL;
  SW_ERR("NULL loop", rasio_tcp_connect(NULL, "127.0.0.1", n.port, &co, &c), RASIO_EINVAL);
  SW_TRUE("NULL loop: *out = NULL", c == NULL);
  SW_ERR("NULL host", rasio_tcp_connect(n.loop, NULL, n.port, &co, &c), RASIO_EINVAL);
  SW_ERR("NULL port", rasio_tcp_connect(n.loop, "127.0.0.1", NULL, &co, &c), RASIO_EINVAL);
  SW_ERR("NULL out", rasio_tcp_connect(n.loop, "127.0.0.1", n.port, &co, NULL), RASIO_EINVAL);
  c = NULL;
  SW_ERR("port \"99999\"", rasio_tcp_connect(n.loop, "127.0.0.1", "99999", &co, &c), RASIO_EINVAL);
  if (c != NULL) rasio_tcp_hard_close(c);
  c = NULL;
  /* A host name goes to the resolver thread, but a bad port is refused here, at once. */
  SW_ERR("host name, port \"99999\"", rasio_tcp_connect(n.loop, "localhost", "99999", &co, &c),
         RASIO_EINVAL);
  SW_TRUE("host name, bad port: *out = NULL", c == NULL);
  if (c != NULL) rasio_tcp_hard_close(c);
  c = NULL;
  co.read_size = SIZE_MAX;
  SW_ERR("read_size SIZE_MAX", rasio_tcp_connect(n.loop, "127.0.0.1", n.port, &co, &c),
         RASIO_EINVAL);
  if (c != NULL) rasio_tcp_hard_close(c);
  co.read_size = 0;
  sw_idle(n.loop, NULL, 20); /* what a failing row made is torn down */
  SW_TRUE("nothing was created by them", rasio_loop_noisy(n.loop) == 1); /* the listener */
  /* opts NULL is allowed: defaults, no callbacks. */
  c = NULL;
  SW_ERR("NULL opts", rasio_tcp_connect(n.loop, "127.0.0.1", n.port, NULL, &c), RASIO_OK);
  SW_TRUE("NULL opts: it connects", net_until(&n, accepted));
  if (c != NULL) rasio_tcp_hard_close(c);
  /* close_timeout_ns has no bad value: every extreme is taken (1 ns, none). */
  co.close_timeout_ns = 1;
  c = NULL;
  SW_ERR("close_timeout_ns 1", rasio_tcp_connect(n.loop, "127.0.0.1", n.port, &co, &c), RASIO_OK);
  if (c != NULL) rasio_tcp_hard_close(c);
  co.close_timeout_ns = RASIO_TCP_NO_TIMEOUT;
  c = NULL;
  SW_ERR("close_timeout_ns RASIO_TCP_NO_TIMEOUT",
         rasio_tcp_connect(n.loop, "127.0.0.1", n.port, &co, &c), RASIO_OK);
  if (c != NULL) rasio_tcp_hard_close(c);
  net_close(&n);
}

SWEEP(rasio_tcp_write) {
  SW_ERR("NULL connection", rasio_tcp_write(NULL, "x", 1), RASIO_EINVAL);
  net_t n;
  net_listen(&n);
  rasio_tcp_opts_t co = {.cb = &cli_cb, .data = &n};
  CHECK_OK(rasio_tcp_connect(n.loop, "127.0.0.1", n.port, &co, &n.cli));
  SW_ERR("a client not connected yet", rasio_tcp_write(n.cli, "x", 1), RASIO_ESTATE);
  CHECK(net_until(&n, up));
  SW_ERR("len 0", net_write(&n, "x", 0), RASIO_OK);
  SW_ERR("NULL data, len 0", net_write(&n, NULL, 0), RASIO_OK);
  SW_ERR("NULL data, len 5 (writeable)", net_write(&n, NULL, 5), RASIO_EINVAL);
  net_works(&n, "still echoes after NULL data on a writeable connection");
  net_close(&n);

  net_open(&n);
  rasio_tcp_close(n.cli);
  SW_ERR("closing", rasio_tcp_write(n.cli, "x", 1), RASIO_ESTATE);
  net_close(&n);

  /* Crashed once (issue 9, defect 5): late, so the rows above are reported anyway. */
  net_open(&n);
  net_throttle(&n);
  SW_ERR("NULL data, len 5 (throttled)", net_write(&n, NULL, 5), RASIO_EINVAL);
  net_unthrottle(&n);
  net_works(&n, "still echoes after NULL data on a throttled connection");
  net_close(&n);

  /* Last: a kernel handed SIZE_MAX reads past the buffer; a queue would copy past it. */
  net_open(&n);
  SW_ERR("len SIZE_MAX", net_write(&n, "x", SIZE_MAX), RASIO_EINVAL);
  net_works(&n, "still echoes after len SIZE_MAX");
  net_close(&n);
}

SWEEP(rasio_tcp_writev) {
  rasio_iovec_t one = {"x", 1};
  SW_ERR("NULL connection", rasio_tcp_writev(NULL, &one, 1), RASIO_EINVAL);
  net_t n;
  net_open(&n);
  SW_ERR("NULL iov, iovcnt 1", rasio_tcp_writev(n.cli, NULL, 1), RASIO_EINVAL);
  SW_ERR("iovcnt 0", rasio_tcp_writev(n.cli, NULL, 0), RASIO_OK);
  static rasio_iovec_t many[1025];
  for (size_t i = 0; i < 1025; i++) many[i] = (rasio_iovec_t){"m", 1};
  SW_ERR("iovcnt 1025", rasio_tcp_writev(n.cli, many, 1025), RASIO_EINVAL);
  rasio_iovec_t nullbase[2] = {{"x", 1}, {NULL, 5}};
  SW_ERR("a segment with NULL base and len 5", rasio_tcp_writev(n.cli, nullbase, 2),
         RASIO_EINVAL);
  net_works(&n, "still echoes after a NULL segment");
  net_close(&n);

  net_open(&n);
  rasio_iovec_t overflow[2] = {{"x", SIZE_MAX}, {"y", 2}};
  SW_ERR("lengths whose sum overflows size_t", rasio_tcp_writev(n.cli, overflow, 2),
         RASIO_EINVAL);
  net_works(&n, "still echoes after overflowing lengths");
  net_close(&n);

  net_open(&n);
  net_throttle(&n);
  SW_ERR("a NULL segment (throttled)", rasio_tcp_writev(n.cli, nullbase, 2), RASIO_EINVAL);
  SW_ERR("overflowing lengths (throttled)", rasio_tcp_writev(n.cli, overflow, 2), RASIO_EINVAL);
  net_unthrottle(&n);
  net_works(&n, "still echoes after bad segments while throttled");
  net_close(&n);
}

SWEEP(rasio_tcp_expect) {
  SW_ERR("NULL connection", rasio_tcp_expect(NULL, 4), RASIO_EINVAL);
  net_t n;
  net_open(&n);
  /* No buffer can be that large (and asking the allocator for it aborts sanitizer builds). */
  SW_ERR("SIZE_MAX", rasio_tcp_expect(n.cli, SIZE_MAX), RASIO_EINVAL);
  net_works(&n, "still echoes, in the chunks it had");
  net_close(&n);
}

SWEEP(rasio_tcp_mute) {
  rasio_tcp_mute(NULL);
  SW_TRUE("NULL: no crash", true);
}

SWEEP(rasio_tcp_unmute) {
  rasio_tcp_unmute(NULL);
  net_t n;
  net_open(&n);
  rasio_tcp_unmute(n.cli); /* never muted */
  net_works(&n, "unmuting a connection that was not muted changes nothing");
  net_close(&n);
}

SWEEP(rasio_tcp_close) {
  rasio_tcp_close(NULL);
  net_t n;
  net_open(&n);
  rasio_tcp_close(n.cli);
  rasio_tcp_close(n.cli); /* before its closed: the object is still alive */
  CHECK(net_until(&n, cli_gone));
  sw_idle(n.loop, NULL, 20);
  SW_TRUE("close twice: one closed", n.cli_closed == 1);
  n.cli = NULL;
  net_close(&n);
}

SWEEP(rasio_tcp_hard_close) {
  rasio_tcp_hard_close(NULL);
  net_t n;
  net_open(&n);
  rasio_tcp_close(n.cli);
  rasio_tcp_hard_close(n.cli); /* a graceful close in progress, then a hard one */
  SW_TRUE("closed does not run inside hard_close", n.cli_closed == 0);
  n.cli = NULL;
  net_close(&n);
  SW_TRUE("one closed", n.cli_closed == 1);
}

SWEEP(rasio_tcp_set_callbacks) {
  rasio_tcp_set_callbacks(NULL, &cli_cb, NULL);
  SW_TRUE("NULL connection: no crash", true);
  net_t n;
  net_open(&n);
  rasio_tcp_set_callbacks(n.cli, NULL, &n); /* no callbacks at all */
  SW_TRUE("NULL callbacks: the data is still set", rasio_tcp_data(n.cli) == &n);
  rasio_tcp_set_callbacks(n.cli, &cli_cb, &n);
  net_works(&n, "callbacks back: still echoes");
  net_close(&n);
}

SWEEP(rasio_tcp_data) { SW_TRUE("NULL: NULL", rasio_tcp_data(NULL) == NULL); }
SWEEP(rasio_tcp_fd) { SW_TRUE("NULL: RASIO_INVALID_FD", rasio_tcp_fd(NULL) == RASIO_INVALID_FD); }
SWEEP(rasio_tcp_queued) { SW_TRUE("NULL: 0", rasio_tcp_queued(NULL) == 0); }
SWEEP(rasio_tcp_throttled) { SW_TRUE("NULL: false", !rasio_tcp_throttled(NULL)); }

/* ======================================================================================== *
 * Listeners
 * ======================================================================================== */

SWEEP(rasio_tcp_listen) {
  net_t n;
  net_listen(&n);
  rasio_tcp_listener_opts_t lo = {.cb = NULL}; /* what a failing row makes stays silent */
  rasio_tcp_listener_t *l = SW_SENTINEL;
  SW_ERR("NULL loop", rasio_tcp_listen(NULL, "127.0.0.1", "0", 0, &lo, &l), RASIO_EINVAL);
  SW_TRUE("NULL loop: *out = NULL", l == NULL);
  SW_ERR("NULL port", rasio_tcp_listen(n.loop, "127.0.0.1", NULL, 0, &lo, &l), RASIO_EINVAL);
  SW_ERR("NULL out", rasio_tcp_listen(n.loop, "127.0.0.1", "0", 0, &lo, NULL), RASIO_EINVAL);
  SW_ERR("family 5", rasio_tcp_listen(n.loop, "127.0.0.1", "0", 5, &lo, &l), RASIO_EINVAL);
  l = NULL;
  SW_ERR("port \"99999\"", rasio_tcp_listen(n.loop, "127.0.0.1", "99999", 0, &lo, &l),
         RASIO_EINVAL);
  if (l != NULL) rasio_tcp_listener_close(l);
  l = SW_SENTINEL;
  SW_ERR("a port in use", rasio_tcp_listen(n.loop, "127.0.0.1", n.port, 0, &lo, &l),
         RASIO_EADDRINUSE);
  SW_TRUE("a port in use: *out = NULL", l == NULL);
  sw_idle(n.loop, NULL, 10);
  SW_TRUE("nothing was created by them", rasio_loop_noisy(n.loop) == 1);
  /* The first listener still serves. */
  rasio_tcp_opts_t co = {.cb = &cli_cb, .data = &n};
  CHECK_OK(rasio_tcp_connect(n.loop, "127.0.0.1", n.port, &co, &n.cli));
  SW_TRUE("the first listener still accepts", net_until(&n, up));
  net_works(&n, "... and echoes");
  net_close(&n);
}

SWEEP(rasio_tcp_listener_close) {
  rasio_tcp_listener_close(NULL);
  net_t n;
  net_listen(&n);
  rasio_tcp_listener_close(n.l);
  rasio_tcp_listener_close(n.l); /* its closed comes from the loop: still alive here */
  CHECK(net_until(&n, all_gone));
  SW_TRUE("close twice: one closed", n.l_closed == 1);
  th_loop_end(n.loop);
}

SWEEP(rasio_tcp_listener_data) {
  SW_TRUE("NULL: NULL", rasio_tcp_listener_data(NULL) == NULL);
}

SWEEP(rasio_tcp_listener_addr) {
  rasio_addr_t a;
  SW_ERR("NULL listener", rasio_tcp_listener_addr(NULL, &a), RASIO_EINVAL);
  net_t n;
  net_listen(&n);
  SW_ERR("NULL out", rasio_tcp_listener_addr(n.l, NULL), RASIO_EINVAL);
  net_close(&n);
}

/* ======================================================================================== *
 * UDP
 * ======================================================================================== */

typedef struct udpn {
  rasio_loop_t *loop;
  rasio_udp_t *u;
  rasio_addr_t self;
  unsigned got, closed;
} udpn_t;

static void u_received(rasio_udp_t *u, const void *data, size_t len, const rasio_addr_t *from) {
  (void)data, (void)len, (void)from;
  ((udpn_t *)rasio_udp_data(u))->got++;
}
static void u_closed(rasio_udp_t *u) { ((udpn_t *)rasio_udp_data(u))->closed++; }
static const rasio_udp_cb_t u_cb = {.received = u_received, .closed = u_closed};

static void udpn_open(udpn_t *s) {
  memset(s, 0, sizeof *s);
  s->loop = th_loop();
  rasio_udp_opts_t o = {.cb = &u_cb, .data = s};
  CHECK_OK(rasio_udp_bind(s->loop, "127.0.0.1", "0", RASIO_AF_INET4, &o, &s->u));
  CHECK_OK(rasio_udp_addr(s->u, &s->self));
}

static bool udpn_got(void *arg, unsigned want) {
  udpn_t *s = arg;
  uint64_t end = th_now_ms() + th_scaled_ms(SW_WAIT_MS);
  while (s->got < want && th_now_ms() < end) {
    CHECK_OK(rasio_loop_run(s->loop, RASIO_RUN_NOWAIT));
    th_sleep_ms(1);
  }
  return s->got >= want;
}

/* The row that shows the socket is still open and still sends and receives. */
static void udpn_works(udpn_t *s, const char *what) {
  SW_TRUE(what, s->closed == 0);
  if (s->closed != 0) return;
  unsigned before = s->got;
  SW_IO(what, rasio_udp_send(s->u, "d", 1, &s->self), RASIO_IO_OK, 0);
  SW_TRUE(what, udpn_got(s, before + 1));
}

static bool udp_gone(net_t *n) { return rasio_loop_noisy(n->loop) == 0; }

static void udpn_close(udpn_t *s) {
  if (s->closed == 0) rasio_udp_close(s->u);
  net_t n = {.loop = s->loop};
  CHECK(net_until(&n, udp_gone));
  th_loop_end(s->loop);
}

SWEEP(rasio_udp_bind) {
  udpn_t s;
  udpn_open(&s);
  rasio_udp_opts_t o = {.cb = NULL}; /* what a failing row makes stays silent */
  rasio_udp_t *u = SW_SENTINEL;
  SW_ERR("NULL loop", rasio_udp_bind(NULL, "127.0.0.1", "0", 0, &o, &u), RASIO_EINVAL);
  SW_TRUE("NULL loop: *out = NULL", u == NULL);
  SW_ERR("NULL port", rasio_udp_bind(s.loop, "127.0.0.1", NULL, 0, &o, &u), RASIO_EINVAL);
  SW_ERR("NULL out", rasio_udp_bind(s.loop, "127.0.0.1", "0", 0, &o, NULL), RASIO_EINVAL);
  SW_ERR("family 5", rasio_udp_bind(s.loop, "127.0.0.1", "0", 5, &o, &u), RASIO_EINVAL);
  u = NULL;
  SW_ERR("port \"99999\"", rasio_udp_bind(s.loop, "127.0.0.1", "99999", 0, &o, &u),
         RASIO_EINVAL);
  if (u != NULL) rasio_udp_close(u);
  u = NULL;
  o.read_size = SIZE_MAX;
  SW_ERR("read_size SIZE_MAX", rasio_udp_bind(s.loop, "127.0.0.1", "0", 0, &o, &u),
         RASIO_EINVAL);
  if (u != NULL) rasio_udp_close(u);
  sw_idle(s.loop, NULL, 10);
  SW_TRUE("nothing was created by them", rasio_loop_noisy(s.loop) == 1);
  udpn_works(&s, "the first socket still works");
  udpn_close(&s);
}

SWEEP(rasio_udp_send) {
  rasio_addr_t to = {.len = 0};
  SW_IO("NULL socket", rasio_udp_send(NULL, "x", 1, &to), RASIO_IO_ERROR, RASIO_EINVAL);
  udpn_t s;
  udpn_open(&s);
  /* Per-datagram errors are returned and change nothing (issue 9, defect 4). */
  SW_IO("NULL to", rasio_udp_send(s.u, "x", 1, NULL), RASIO_IO_ERROR, RASIO_EINVAL);
  udpn_works(&s, "still works after NULL to");
  if (s.closed != 0) goto out;
  SW_IO("an empty to", rasio_udp_send(s.u, "x", 1, &to), RASIO_IO_ERROR, RASIO_EINVAL);
  udpn_works(&s, "still works after an empty to");
  if (s.closed != 0) goto out;
  SW_IO("NULL data, len 5", rasio_udp_send(s.u, NULL, 5, &s.self), RASIO_IO_ERROR, RASIO_EINVAL);
  udpn_works(&s, "still works after NULL data");
  if (s.closed != 0) goto out;
  rasio_addr_t v6;
  CHECK_OK(rasio_addr_parse("::1", 9, &v6));
  SW_IO("an IPv6 address on an IPv4 socket", rasio_udp_send(s.u, "x", 1, &v6), RASIO_IO_ERROR,
        RASIO_EAFNOSUPPORT);
  udpn_works(&s, "still works after a family it cannot send to");
  if (s.closed != 0) goto out;
  static char big[70000];
  SW_IO("a 70,000-byte datagram", rasio_udp_send(s.u, big, sizeof big, &s.self), RASIO_IO_ERROR,
        RASIO_EMSGSIZE);
  udpn_works(&s, "still works after EMSGSIZE");
  if (s.closed != 0) goto out;
  SW_IO("len SIZE_MAX", rasio_udp_send(s.u, big, SIZE_MAX, &s.self), RASIO_IO_ERROR,
        RASIO_EINVAL);
  udpn_works(&s, "still works after len SIZE_MAX");
out:
  udpn_close(&s);
}

SWEEP(rasio_udp_close) {
  rasio_udp_close(NULL);
  udpn_t s;
  udpn_open(&s);
  rasio_udp_close(s.u);
  rasio_udp_close(s.u); /* the object lives until its DISPOSED, which brings closed */
  SW_TRUE("close twice: closed not inside either", s.closed == 0);
  udpn_close(&s);
  SW_TRUE("close twice: one closed", s.closed == 1);
}

SWEEP(rasio_udp_data) { SW_TRUE("NULL: NULL", rasio_udp_data(NULL) == NULL); }
SWEEP(rasio_udp_fd) { SW_TRUE("NULL: RASIO_INVALID_FD", rasio_udp_fd(NULL) == RASIO_INVALID_FD); }

SWEEP(rasio_udp_addr) {
  rasio_addr_t a;
  SW_ERR("NULL socket", rasio_udp_addr(NULL, &a), RASIO_EINVAL);
  udpn_t s;
  udpn_open(&s);
  SW_ERR("NULL out", rasio_udp_addr(s.u, NULL), RASIO_EINVAL);
  udpn_works(&s, "still works");
  udpn_close(&s);
}
