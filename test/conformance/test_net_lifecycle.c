/* SPDX-License-Identifier: BSD-2-Clause */
/* Net objects that end each other from their callbacks, in the same loop iteration in which
 * the victim yielded its read turn (a proxy or broker closing the other side of a pair).
 * A yield is a post to the loop's synthetic-readiness list; the victim's event is disposed
 * and freed in that same iteration, so the list must let go of it first. Run under ASan,
 * a broken loop shows as a use-after-free; without it, as a hang (the test's timeout).
 * Each case runs twice with the roles swapped, so that the victim is listed both before and
 * after the one that closes it.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"
#include "rasio.h"

#define PAYLOAD (64 * 1024)
#define DEADLINE_MS 10000u

static void run_until(rasio_loop_t *loop, const bool *done) {
  uint64_t end = th_now_ms() + th_scaled_ms(DEADLINE_MS);
  while (!*done) {
    CHECK(th_now_ms() < end);
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_ONCE));
  }
}

static void fill_pattern(char *buf, size_t len) {
  for (size_t i = 0; i < len; i++) buf[i] = (char)(i * 7u);
}

/* --- TCP: a connection hard-closes another one that yielded ------------------------------ */

typedef struct pair_server {
  rasio_tcp_t *conns[2];
  size_t accepted, closed;
  size_t got[2];
  int closer;      /* index of the connection that closes the other */
  bool victim_closed, listener_closed;
  bool done;
} pair_server_t;

static int conn_index(pair_server_t *s, rasio_tcp_t *c) { return s->conns[0] == c ? 0 : 1; }

static bool ps_received(rasio_tcp_t *c, const void *data, size_t len) {
  (void)data;
  pair_server_t *s = rasio_tcp_data(c);
  int i = conn_index(s, c);
  s->got[i] += len;
  /* Both have yielded at least once (each read is a whole budget) before this fires. */
  if (i == s->closer && !s->victim_closed && s->got[i] >= 8 * 64 && s->got[1 - i] >= 64)
    rasio_tcp_hard_close(s->conns[1 - i]);
  return true;
}

static void ps_closed(rasio_tcp_t *c) {
  pair_server_t *s = rasio_tcp_data(c);
  if (conn_index(s, c) != s->closer) s->victim_closed = true;
  s->closed++;
}

static const rasio_tcp_cb_t ps_conn_cb = {.received = ps_received, .closed = ps_closed};

static bool ps_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  pair_server_t *s = rasio_tcp_listener_data(l);
  CHECK_LT(s->accepted, 2);
  s->conns[s->accepted++] = c;
  rasio_tcp_set_callbacks(c, &ps_conn_cb, s);
  return true;
}

static void ps_listener_closed(rasio_tcp_listener_t *l) {
  pair_server_t *s = rasio_tcp_listener_data(l);
  s->listener_closed = true;
}

static void tcp_close_yielded_peer(int closer) {
  rasio_loop_t *loop = th_loop();
  pair_server_t s = {.closer = closer};
  rasio_tcp_listener_cb_t lcb = {.accepted = ps_accepted, .closed = ps_listener_closed};
  /* One 64-byte read per turn: every connection yields after each read. */
  rasio_tcp_listener_opts_t lo = {.cb = &lcb, .data = &s,
                                  .conn = {.read_size = 64, .read_budget = 64}};
  rasio_tcp_listener_t *l = NULL;
  CHECK_OK(rasio_tcp_listen(loop, "127.0.0.1", "0", RASIO_AF_INET4, &lo, &l));
  rasio_addr_t addr;
  CHECK_OK(rasio_tcp_listener_addr(l, &addr));

  rasio_fd_t clients[2];
  for (int i = 0; i < 2; i++) clients[i] = th_connect_start(rasio_addr_port(&addr));
  while (s.accepted < 2) CHECK_OK(rasio_loop_run(loop, RASIO_RUN_ONCE));
  char *data = malloc(PAYLOAD);
  CHECK(data != NULL);
  fill_pattern(data, PAYLOAD);
  for (int i = 0; i < 2; i++) {
    size_t sent = 0;
    uint64_t end = th_now_ms() + th_scaled_ms(DEADLINE_MS);
    while (sent < PAYLOAD) { /* the connections read as the loop runs */
      long n = th_send(clients[i], data + sent, PAYLOAD - sent);
      CHECK(n >= 0);
      sent += (size_t)n;
      if (n == 0) CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
      CHECK(th_now_ms() < end);
    }
  }
  run_until(loop, &s.victim_closed);
  th_close(clients[0]);
  th_close(clients[1]);
  while (s.closed < 2) CHECK_OK(rasio_loop_run(loop, RASIO_RUN_ONCE));
  rasio_tcp_listener_close(l);
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_QUIET));
  CHECK(s.listener_closed);
  free(data);
  th_loop_end(loop);
}

TEST(net_lifecycle_tcp_hard_close_of_yielded_connection_first) { tcp_close_yielded_peer(0); }

TEST(net_lifecycle_tcp_hard_close_of_yielded_connection_second) { tcp_close_yielded_peer(1); }

/* --- UDP: one socket's received closes another that yielded ------------------------------- */

typedef struct udp_pair {
  rasio_udp_t *socks[2];
  size_t got[2];
  int closer;
  bool victim_closed, closer_closed;
} udp_pair_t;

static int udp_index(udp_pair_t *p, rasio_udp_t *u) { return p->socks[0] == u ? 0 : 1; }

static void up_received(rasio_udp_t *u, const void *data, size_t len, const rasio_addr_t *from) {
  (void)data, (void)len, (void)from;
  udp_pair_t *p = rasio_udp_data(u);
  int i = udp_index(p, u);
  p->got[i]++;
  if (i == p->closer && !p->victim_closed && p->got[i] >= 4 && p->got[1 - i] >= 1)
    rasio_udp_close(p->socks[1 - i]);
}

static void up_closed(rasio_udp_t *u) {
  udp_pair_t *p = rasio_udp_data(u);
  if (udp_index(p, u) == p->closer) p->closer_closed = true;
  else p->victim_closed = true;
}

static void udp_close_yielded_peer(int closer) {
  rasio_loop_t *loop = th_loop();
  udp_pair_t p = {.closer = closer};
  rasio_udp_cb_t cb = {.received = up_received, .closed = up_closed};
  /* One datagram per turn: each socket yields after every datagram. */
  rasio_udp_opts_t o = {.cb = &cb, .data = &p, .read_budget = 1};
  uint16_t ports[2];
  for (int i = 0; i < 2; i++) {
    CHECK_OK(rasio_udp_bind(loop, "127.0.0.1", "0", RASIO_AF_INET4, &o, &p.socks[i]));
    rasio_addr_t a;
    CHECK_OK(rasio_udp_addr(p.socks[i], &a));
    ports[i] = rasio_addr_port(&a);
  }
  uint16_t sender_port;
  rasio_fd_t sender = th_udp(&sender_port);
  for (int k = 0; k < 32; k++)
    for (int i = 0; i < 2; i++) CHECK_EQ(th_udp_send(sender, ports[i], "x", 1), 1);
  run_until(loop, &p.victim_closed);
  rasio_udp_close(p.socks[closer]);
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_QUIET));
  CHECK(p.closer_closed);
  th_close(sender);
  th_loop_end(loop);
}

TEST(net_lifecycle_udp_close_of_yielded_socket_first) { udp_close_yielded_peer(0); }

TEST(net_lifecycle_udp_close_of_yielded_socket_second) { udp_close_yielded_peer(1); }
