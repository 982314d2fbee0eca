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

/* Inside its own `closed`, a socket refuses to send (ESTATE) and nothing breaks. */
static void cs_closed(rasio_udp_t *u) {
  bd_t *b = rasio_udp_data(u);
  NF_ON_EXECUTOR();
  b->u_closed++;
  CHECK_EQ(rasio_udp_send(u, "x", 1, &b->v_addr), RASIO_IO_ERROR);
  CHECK_ERR(rasio_sock_last_error(), RASIO_ESTATE);
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

TEST(net_udp_send_after_close_is_estate) {
  bd_t *b = calloc(1, sizeof *b);
  CHECK(b != NULL);
  nf_init(&b->nf, false);
  nf_run(&b->nf, cs_setup, b, NF_DEADLINE_MS, bd_deadline);
  CHECK_EQ(b->u_closed, 1);
  nf_end(&b->nf);
  free(b);
}
