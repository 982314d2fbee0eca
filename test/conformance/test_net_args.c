/* SPDX-License-Identifier: BSD-2-Clause */
/* Net-layer calls with bad arguments or per-call failures (issue 9, defects 4, 5 and 10):
 * each is refused with its documented code and changes nothing else. A UDP socket that was
 * handed bad datagrams still receives and sends; a TCP connection that was handed bad
 * buffers (writeable or throttled) queues and sends nothing of them and keeps working; a
 * port out of 0..65535 is EINVAL in every call that takes one and creates nothing.
 *
 * Every call on a net object happens on its executor (net_fixture.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net_fixture.h"

/* --- UDP: a bad datagram is refused, the socket carries on (defect 4) ------------------- */

#define BD_BIG 70000 /* more than any IPv4 datagram can carry */

typedef struct bd {
  nf_t nf;
  rasio_udp_t *u, *v;
  rasio_addr_t u_addr, v_addr;
  int u_closed, v_closed, pings, pongs;
  uint8_t big[BD_BIG];
} bd_t;

static void bd_deadline(void *ctx) {
  bd_t *b = ctx;
  rt_fail(__FILE__, __LINE__, "deadline: pings %d pongs %d u_closed %d v_closed %d", b->pings,
          b->pongs, b->u_closed, b->v_closed);
}

static void bd_u_closed(rasio_udp_t *u) {
  bd_t *b = rasio_udp_data(u);
  NF_ON_EXECUTOR();
  b->u_closed++;
}

static void bd_v_closed(rasio_udp_t *v) {
  bd_t *b = rasio_udp_data(v);
  NF_ON_EXECUTOR();
  b->v_closed++;
}

/* u hears the pong: both sockets worked after the bad sends. */
static void bd_u_received(rasio_udp_t *u, const void *data, size_t len, const rasio_addr_t *from) {
  bd_t *b = rasio_udp_data(u);
  NF_ON_EXECUTOR();
  (void)from;
  CHECK_EQ(len, 4);
  CHECK(memcmp(data, "pong", 4) == 0);
  b->pongs++;
  rasio_udp_close(b->u);
  rasio_udp_close(b->v);
}

static void bd_v_received(rasio_udp_t *v, const void *data, size_t len, const rasio_addr_t *from) {
  bd_t *b = rasio_udp_data(v);
  NF_ON_EXECUTOR();
  CHECK_EQ(len, 4);
  CHECK(memcmp(data, "ping", 4) == 0);
  CHECK_EQ(rasio_addr_port(from), rasio_addr_port(&b->u_addr));
  b->pings++;
  CHECK_EQ(rasio_udp_send(v, "pong", 4, from), RASIO_IO_OK);
}

static const rasio_udp_cb_t bd_u_cb = {.received = bd_u_received, .closed = bd_u_closed};
static const rasio_udp_cb_t bd_v_cb = {.received = bd_v_received, .closed = bd_v_closed};

/* One bad send: ERROR with `want` as the reason (any non-zero reason where want is 0, i.e.
 * where platforms differ), and the socket is still open. */
#define BD_BAD(b, data, len, to, want) bd_bad_at(__LINE__, (b), (data), (len), (to), (want))
static void bd_bad_at(int line, bd_t *b, const void *data, size_t len, const rasio_addr_t *to,
                      int want) {
  int rc = rasio_udp_send(b->u, data, len, to);
  int err = rasio_sock_last_error();
  if (rc != RASIO_IO_ERROR)
    rt_fail(__FILE__, line, "bad send returned %d, want RASIO_IO_ERROR", rc);
  if (want != 0 && err != want)
    rt_fail(__FILE__, line, "bad send: reason %s, want %s", rasio_err_name(err),
            rasio_err_name(want));
  if (err >= 0) rt_fail(__FILE__, line, "bad send: no reason (%d)", err);
  if (b->u_closed != 0) rt_fail(__FILE__, line, "a bad send closed the socket");
}

static rasio_udp_t *bd_bind(bd_t *b, const rasio_udp_cb_t *cb, rasio_addr_t *addr) {
  rasio_udp_opts_t o = {.cb = cb, .data = b, .mailbox = b->nf.mb};
  rasio_udp_t *u = NULL;
  CHECK_OK(rasio_udp_bind(b->nf.loop, "127.0.0.1", "0", RASIO_AF_INET4, &o, &u));
  CHECK_OK(rasio_udp_addr(u, addr));
  return u;
}

static void bd_setup(void *ctx) {
  bd_t *b = ctx;
  bool exact = nf_on_epoll(&b->nf);
  b->u = bd_bind(b, &bd_u_cb, &b->u_addr);
  b->v = bd_bind(b, &bd_v_cb, &b->v_addr);
  rasio_addr_t none, v6, all;
  memset(&none, 0, sizeof none);
  CHECK_OK(rasio_addr_parse("::1", rasio_addr_port(&b->v_addr), &v6));
  CHECK_OK(rasio_addr_parse("255.255.255.255", rasio_addr_port(&b->v_addr), &all));
  BD_BAD(b, "x", 1, NULL, RASIO_EINVAL);
  BD_BAD(b, "x", 1, &none, RASIO_EINVAL);
  BD_BAD(b, NULL, 5, &b->v_addr, RASIO_EINVAL);
  BD_BAD(b, "x", 1, &v6, exact ? RASIO_EAFNOSUPPORT : 0); /* an IPv4 socket */
  BD_BAD(b, b->big, sizeof b->big, &b->v_addr, RASIO_EMSGSIZE);
  BD_BAD(b, "x", 1, &all, exact ? RASIO_EACCES : 0); /* broadcast without SO_BROADCAST */
  /* Still a working socket: it sends, and receives the answer. */
  CHECK_EQ(rasio_udp_send(b->u, "ping", 4, &b->v_addr), RASIO_IO_OK);
}

static void bad_datagram_case(bool mailbox) {
  bd_t *b = calloc(1, sizeof *b);
  CHECK(b != NULL);
  nf_init(&b->nf, mailbox);
  nf_run(&b->nf, bd_setup, b, NF_DEADLINE_MS, bd_deadline);
  CHECK_EQ(b->pings, 1);
  CHECK_EQ(b->pongs, 1);
  CHECK_EQ(b->u_closed, 1);
  CHECK_EQ(b->v_closed, 1);
  nf_end(&b->nf);
  free(b);
}

TEST(net_udp_bad_datagrams_are_refused_and_the_socket_keeps_working) { bad_datagram_case(false); }

TEST(net_udp_bad_datagrams_are_refused_and_the_socket_keeps_working_mailbox) {
  bad_datagram_case(true);
}

/* Inside its own `closed`, a socket refuses to send (ESTATE), hands out no descriptor or
 * address, and a second close does nothing. */
static void cs_closed(rasio_udp_t *u) {
  bd_t *b = rasio_udp_data(u);
  NF_ON_EXECUTOR();
  b->u_closed++;
  CHECK_EQ(rasio_udp_send(u, "x", 1, &b->v_addr), RASIO_IO_ERROR);
  CHECK_ERR(rasio_sock_last_error(), RASIO_ESTATE);
  /* The socket is rasio's to close now: no number, no address to hand out. */
  CHECK(rasio_udp_fd(u) == RASIO_INVALID_FD);
  rasio_addr_t a;
  CHECK_ERR(rasio_udp_addr(u, &a), RASIO_ESTATE);
  rasio_udp_close(u); /* a second close does nothing */
}

static void cs_setup(void *ctx) {
  bd_t *b = ctx;
  static const rasio_udp_cb_t cb = {.closed = cs_closed};
  b->u = bd_bind(b, &cb, &b->u_addr);
  b->v_addr = b->u_addr;
  CHECK_EQ(rasio_udp_send(NULL, "x", 1, &b->v_addr), RASIO_IO_ERROR);
  CHECK_ERR(rasio_sock_last_error(), RASIO_EINVAL);
  rasio_udp_close(b->u);
}

TEST(net_udp_inside_closed_send_is_estate_and_fd_and_addr_are_gone) {
  bd_t *b = calloc(1, sizeof *b);
  CHECK(b != NULL);
  nf_init(&b->nf, false);
  nf_run(&b->nf, cs_setup, b, NF_DEADLINE_MS, bd_deadline);
  CHECK_EQ(b->u_closed, 1);
  nf_end(&b->nf);
  free(b);
}

/* --- TCP: bad buffers are refused before anything happens (defect 5) ---------------------- */

#define BW_CHUNK (64u << 10)
#define BW_MAX (64u << 20) /* no kernel buffers this much for one loopback connection */

typedef struct bw {
  nf_t nf;
  char port[8];
  rasio_tcp_listener_t *l;
  rasio_tcp_t *srv, *cli;
  uint64_t written, srv_got;
  int srv_closed, cli_closed, listener_closed, throttled;
  uint8_t chunk[BW_CHUNK];
  rasio_iovec_t many[1025]; /* one segment more than a writev takes */
} bw_t;

static void bw_deadline(void *ctx) {
  bw_t *w = ctx;
  rt_fail(__FILE__, __LINE__,
          "deadline: written %llu srv_got %llu srv_closed %d cli_closed %d throttled %d",
          (unsigned long long)w->written, (unsigned long long)w->srv_got, w->srv_closed,
          w->cli_closed, w->throttled);
}

static void bw_maybe_done(bw_t *w) {
  if (w->srv_closed + w->cli_closed == 2) rasio_tcp_listener_close(w->l);
}

/* The server reads only once unmuted, and must see exactly the good bytes, in order. */
static bool bw_srv_received(rasio_tcp_t *c, const void *data, size_t len) {
  bw_t *w = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  NF_VERIFY(data, len, 5, w->srv_got);
  w->srv_got += len;
  CHECK_LE(w->srv_got, w->written);
  if (w->srv_got == w->written) rasio_tcp_close(c);
  return true;
}

static void bw_srv_closed(rasio_tcp_t *c) {
  bw_t *w = rasio_tcp_data(c);
  w->srv_closed++;
  bw_maybe_done(w);
}

static const rasio_tcp_cb_t bw_srv_cb = {.received = bw_srv_received, .closed = bw_srv_closed};

static bool bw_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  bw_t *w = rasio_tcp_listener_data(l);
  w->srv = c;
  rasio_tcp_set_callbacks(c, &bw_srv_cb, w);
  rasio_tcp_mute(c);
  return true;
}

static void bw_listener_closed(rasio_tcp_listener_t *l) {
  bw_t *w = rasio_tcp_listener_data(l);
  w->listener_closed++;
}

static const rasio_tcp_listener_cb_t bw_listener_cb = {.accepted = bw_accepted,
                                                       .closed = bw_listener_closed};

/* Every kind of bad buffer; none may change what is queued, throttled or open. */
#define BW_BAD(w, c) bw_bad_at(__LINE__, (w), (c))
static void bw_bad_at(int line, bw_t *w, rasio_tcp_t *c) {
  size_t queued = rasio_tcp_queued(c);
  bool throttled = rasio_tcp_throttled(c);
  const rasio_iovec_t null_seg[2] = {{w->chunk, 3}, {NULL, 5}};
  const rasio_iovec_t overflow[2] = {{w->chunk, SIZE_MAX}, {w->chunk, 2}};
  const rasio_iovec_t overflow3[3] = {{w->chunk, SIZE_MAX / 2}, {w->chunk, SIZE_MAX / 2},
                                      {w->chunk, 2}};
  struct {
    const char *what;
    int rc;
  } calls[] = {
      {"write(NULL, 5)", rasio_tcp_write(c, NULL, 5)},
      {"writev(NULL base)", rasio_tcp_writev(c, null_seg, 2)},
      {"writev(overflow)", rasio_tcp_writev(c, overflow, 2)},
      {"writev(overflow3)", rasio_tcp_writev(c, overflow3, 3)},
      {"writev(NULL, 2)", rasio_tcp_writev(c, NULL, 2)},
      {"writev(1025 segments)", rasio_tcp_writev(c, w->many, 1025)},
  };
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    if (calls[i].rc != RASIO_EINVAL)
      rt_fail(__FILE__, line, "%s: %s, want EINVAL", calls[i].what, rasio_err_name(calls[i].rc));
    if (w->cli_closed != 0) rt_fail(__FILE__, line, "%s closed the connection", calls[i].what);
  }
  CHECK_EQ(rasio_tcp_queued(c), queued);
  CHECK_EQ(rasio_tcp_throttled(c), throttled);
  /* Nothing is not bad: an empty write does nothing, successfully. */
  CHECK_OK(rasio_tcp_write(c, NULL, 0));
  CHECK_OK(rasio_tcp_writev(c, NULL, 0));
  CHECK_EQ(rasio_tcp_queued(c), queued);
}

static void bw_write_chunk(bw_t *w, rasio_tcp_t *c) {
  nf_fill(w->chunk, BW_CHUNK, 5, w->written);
  CHECK_OK(rasio_tcp_write(c, w->chunk, BW_CHUNK));
  w->written += BW_CHUNK;
}

static void bw_unmute(void *ctx) {
  bw_t *w = ctx;
  CHECK_EQ(w->srv_got, 0);
  rasio_tcp_unmute(w->srv);
}

static void bw_connected(rasio_tcp_t *c) {
  bw_t *w = rasio_tcp_data(c);
  NF_ON_EXECUTOR();
  CHECK(!rasio_tcp_throttled(c));
  BW_BAD(w, c); /* writeable, nothing queued: the kernel would be asked */
  bw_write_chunk(w, c);
  while (!rasio_tcp_throttled(c) && w->written < BW_MAX) bw_write_chunk(w, c);
  CHECK(rasio_tcp_throttled(c));
  CHECK_GT(rasio_tcp_queued(c), 0);
  BW_BAD(w, c); /* throttled: the bytes would be copied to the queue */
  bw_write_chunk(w, c); /* and good writes still queue behind the rest */
  (void)nf_tick(&w->nf, 50, bw_unmute, w);
}

static void bw_throttled(rasio_tcp_t *c) {
  bw_t *w = rasio_tcp_data(c);
  w->throttled++;
}

static void bw_cli_closed(rasio_tcp_t *c) {
  bw_t *w = rasio_tcp_data(c);
  w->cli_closed++;
  bw_maybe_done(w);
}

static bool bw_cli_received(rasio_tcp_t *c, const void *data, size_t len) {
  (void)c, (void)data;
  rt_fail(__FILE__, __LINE__, "unexpected %zu bytes", len);
}

static void bw_cli_failed(rasio_tcp_t *c, int err) {
  (void)c;
  rt_fail(__FILE__, __LINE__, "connect_failed %s", rasio_err_name(err));
}

static const rasio_tcp_cb_t bw_cli_cb = {.connected = bw_connected,
                                         .connect_failed = bw_cli_failed,
                                         .received = bw_cli_received,
                                         .throttled = bw_throttled,
                                         .closed = bw_cli_closed};

static void bw_setup(void *ctx) {
  bw_t *w = ctx;
  w->l = nf_listen(&w->nf, &bw_listener_cb, w, 0, NULL, w->port);
  w->cli = nf_connect(&w->nf, "127.0.0.1", w->port, &bw_cli_cb, w, 0);
}

/* Once the server has every good byte it closes; the client sees the FIN and closes. */
static void bad_write_case(bool mailbox) {
  bw_t *w = calloc(1, sizeof *w);
  CHECK(w != NULL);
  for (size_t i = 0; i < 1025; i++) w->many[i] = (rasio_iovec_t){w->chunk, 1};
  nf_init(&w->nf, mailbox);
  nf_run(&w->nf, bw_setup, w, 30000, bw_deadline);
  CHECK_EQ(w->throttled, 1);
  CHECK_EQ(w->srv_got, w->written);
  CHECK_EQ(w->srv_closed, 1);
  CHECK_EQ(w->cli_closed, 1);
  CHECK_EQ(w->listener_closed, 1);
  nf_end(&w->nf);
  free(w);
}

TEST_T(net_tcp_write_bad_buffers_are_einval_and_change_nothing, 60) { bad_write_case(false); }

TEST_T(net_tcp_write_bad_buffers_are_einval_and_change_nothing_mailbox, 60) {
  bad_write_case(true);
}

/* --- ports: a number out of 0..65535 is EINVAL everywhere, never another port (defect 10) - */

static const char *const bad_ports[] = {"99999", "65536", "-1", "12x", "", " 80", "+80",
                                        "4294967376" /* 2^32 + 80 */, "80 "};

static void tmpl_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)ev, (void)flags, (void)arg, (void)ctx;
  rt_fail(__FILE__, __LINE__, "an event was made for a bad port");
}

TEST(net_and_sock_calls_refuse_a_port_out_of_range_with_einval) {
  nf_t nf;
  nf_init(&nf, false);
  rasio_event_opts_t t = {.flags = RASIO_READ | RASIO_WRITE | RASIO_ONESHOT,
                          .notify = tmpl_notify};
  for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
    const char *p = bad_ports[i];
    rasio_fd_t fd = 7;
    rasio_event_t *ev = NULL;
    rasio_tcp_listener_t *l = (rasio_tcp_listener_t *)&nf;
    rasio_udp_t *u = (rasio_udp_t *)&nf;
    rasio_tcp_t *c = (rasio_tcp_t *)&nf;
    int rc[6] = {
        rasio_sock_listen_tcp("127.0.0.1", p, RASIO_AF_INET4, &fd, NULL),
        rasio_sock_listen_udp("127.0.0.1", p, RASIO_AF_INET4, &fd, NULL),
        rasio_sock_connect_tcp(nf.loop, "127.0.0.1", p, RASIO_AF_INET4, &t, &ev, 1),
        rasio_tcp_listen(nf.loop, "127.0.0.1", p, RASIO_AF_INET4, NULL, &l),
        rasio_udp_bind(nf.loop, "127.0.0.1", p, RASIO_AF_INET4, NULL, &u),
        rasio_tcp_connect(nf.loop, "127.0.0.1", p, NULL, &c),
    };
    static const char *const names[6] = {"rasio_sock_listen_tcp", "rasio_sock_listen_udp",
                                          "rasio_sock_connect_tcp", "rasio_tcp_listen",
                                          "rasio_udp_bind", "rasio_tcp_connect"};
    for (int k = 0; k < 6; k++)
      if (rc[k] != RASIO_EINVAL)
        rt_fail(__FILE__, __LINE__, "%s with port \"%s\": %s (%d), want EINVAL", names[k], p,
                rasio_err_name(rc[k]), rc[k]);
    CHECK_EQ(fd, RASIO_INVALID_FD);
    CHECK(ev == NULL && l == NULL && u == NULL && c == NULL);
    CHECK_EQ(rasio_loop_noisy(nf.loop), 0);
  }
  /* The edges of the range, and leading zeros, are ports. */
  rasio_fd_t fd;
  rasio_addr_t bound;
  CHECK_OK(rasio_sock_listen_udp("127.0.0.1", "00000", RASIO_AF_INET4, &fd, &bound));
  CHECK_NE(rasio_addr_port(&bound), 0);
  CHECK_OK(rasio_sock_close(fd));
  int rc = rasio_sock_listen_udp("127.0.0.1", "65535", RASIO_AF_INET4, &fd, &bound);
  if (rc == 0) {
    CHECK_EQ(rasio_addr_port(&bound), 65535);
    CHECK_OK(rasio_sock_close(fd));
  } else {
    CHECK_ERR(rc, RASIO_EADDRINUSE); /* someone has it: still a port */
  }
  nf_end(&nf);
}
