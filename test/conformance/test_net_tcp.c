/* SPDX-License-Identifier: BSD-2-Clause */
/* TCP connections of the net layer (rasio.h "Net layer", DESIGN §6, ponyc-contract §4.1 and
 * scenarios 40-44): a verified echo swarm, back-pressure (throttled / unthrottled exactly
 * once), mute and peer close, the close paths (graceful flush, hard, half-close from either
 * end, close racing the peer's close), expect(n) framing, received returning false, connect
 * failures, write after close, and fairness under a flood.
 *
 * Every call on a net object happens on its executor (see net_fixture.h): inline tests run
 * the loop on the test thread and drive everything from callbacks and ticks; mailbox tests
 * drain the objects' mailbox on the test thread while the loop runs on its own. Raw th_*
 * sockets (on helper threads where they must block-poll) play peers that rasio must not
 * control. Every test ends with all objects gone and the loop freed.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net_fixture.h"

static const rasio_tcp_cb_t no_cb; /* a connection whose callbacks all are skipped */

/* --- the swarm: N connections x M messages, echoed and verified byte-exact -------------- */

#define SWARM_WINDOW 100 /* connects in flight at once (a backlog any OS accepts) */
#define SWARM_MAX_MSG 1024

typedef struct swarm swarm_t;

typedef struct sw_client {
  swarm_t *s;
  uint32_t key;
  rasio_tcp_t *c;
  uint64_t total, got;
  bool connected, closed;
} sw_client_t;

struct swarm {
  nf_t nf;
  uint32_t n, msgs;
  char port[8];
  rasio_tcp_listener_t *l;
  sw_client_t *cl;
  uint32_t started, connected, complete, closed;
  uint32_t srv_accepted, srv_closed;
  uint64_t echoed, expected;
  bool listener_closed;
  uint8_t buf[SWARM_MAX_MSG];
};

static size_t sw_msg_len(uint32_t key, uint32_t j) {
  uint32_t x = (key * 131u + j) * 2654435761u;
  return 1 + (x >> 8) % SWARM_MAX_MSG;
}

static void sw_start_next(swarm_t *s);

static void sw_connected(rasio_tcp_t *c) {
  NF_ON_EXECUTOR();
  sw_client_t *sc = rasio_tcp_data(c);
  swarm_t *s = sc->s;
  CHECK(sc->c == c);
  CHECK(!sc->connected);
  sc->connected = true;
  s->connected++;
  /* Every message at once: most go straight to the kernel, the rest queue. A third go
   * through writev in three pieces. */
  uint64_t pos = 0;
  for (uint32_t j = 0; j < s->msgs; j++) {
    size_t len = sw_msg_len(sc->key, j);
    nf_fill(s->buf, len, sc->key, pos);
    if (j % 3 == 1) {
      size_t a = len / 3, b = len / 2;
      rasio_iovec_t iov[3] = {{s->buf, a}, {s->buf + a, b - a}, {s->buf + b, len - b}};
      CHECK_OK(rasio_tcp_writev(c, iov, 3));
    } else {
      CHECK_OK(rasio_tcp_write(c, s->buf, len));
    }
    pos += len;
  }
  sc->total = pos;
  s->expected += pos;
  sw_start_next(s);
}

static void sw_connect_failed(rasio_tcp_t *c, int err) {
  sw_client_t *sc = rasio_tcp_data(c);
  rt_fail(__FILE__, __LINE__, "client %u: connect_failed %d (%s)", (unsigned)sc->key, err,
          rasio_strerror(err));
}

static bool sw_received(rasio_tcp_t *c, const void *data, size_t len) {
  NF_ON_EXECUTOR();
  sw_client_t *sc = rasio_tcp_data(c);
  swarm_t *s = sc->s;
  CHECK(sc->connected && !sc->closed);
  CHECK_GT(len, 0);
  CHECK_LE(sc->got + len, sc->total);
  NF_VERIFY(data, len, sc->key, sc->got);
  sc->got += len;
  if (sc->got == sc->total && ++s->complete == s->n) {
    /* Every echo is in: now close all of them at once (graceful). */
    for (uint32_t i = 0; i < s->n; i++) rasio_tcp_close(s->cl[i].c);
  }
  return true;
}

static void sw_closed(rasio_tcp_t *c) {
  NF_ON_EXECUTOR();
  sw_client_t *sc = rasio_tcp_data(c);
  swarm_t *s = sc->s;
  CHECK(!sc->closed);
  sc->closed = true;
  if (sc->got != sc->total)
    rt_fail(__FILE__, __LINE__, "client %u closed after %llu of %llu bytes", (unsigned)sc->key,
            (unsigned long long)sc->got, (unsigned long long)sc->total);
  if (++s->closed == s->n) rasio_tcp_listener_close(s->l);
}

static const rasio_tcp_cb_t sw_client_cb = {.connected = sw_connected,
                                            .connect_failed = sw_connect_failed,
                                            .received = sw_received,
                                            .closed = sw_closed};

static void sw_start_next(swarm_t *s) {
  while (s->started < s->n && s->started - s->connected < SWARM_WINDOW) {
    sw_client_t *sc = &s->cl[s->started];
    *sc = (sw_client_t){.s = s, .key = s->started};
    s->started++;
    sc->c = nf_connect(&s->nf, "127.0.0.1", s->port, &sw_client_cb, sc, 0);
  }
}

static bool sw_echo(rasio_tcp_t *c, const void *data, size_t len) {
  NF_ON_EXECUTOR();
  swarm_t *s = rasio_tcp_data(c);
  CHECK_OK(rasio_tcp_write(c, data, len));
  s->echoed += len;
  return true;
}

static void sw_echo_closed(rasio_tcp_t *c) {
  swarm_t *s = rasio_tcp_data(c);
  s->srv_closed++;
}

static const rasio_tcp_cb_t sw_echo_cb = {.received = sw_echo, .closed = sw_echo_closed};

static bool sw_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  NF_ON_EXECUTOR();
  swarm_t *s = rasio_tcp_listener_data(l);
  rasio_tcp_set_callbacks(c, &sw_echo_cb, s);
  s->srv_accepted++;
  return true;
}

static void sw_listener_closed(rasio_tcp_listener_t *l) {
  swarm_t *s = rasio_tcp_listener_data(l);
  CHECK(!s->listener_closed);
  s->listener_closed = true;
}

static const rasio_tcp_listener_cb_t sw_listener_cb = {.accepted = sw_accepted,
                                                       .closed = sw_listener_closed};

static void sw_setup(void *ctx) {
  swarm_t *s = ctx;
  s->l = nf_listen(&s->nf, &sw_listener_cb, s, 0, NULL, s->port);
  sw_start_next(s);
}

static void sw_deadline(void *ctx) {
  swarm_t *s = ctx;
  rt_fail(__FILE__, __LINE__,
          "deadline: started %u connected %u complete %u closed %u of %u; server accepted %u "
          "closed %u; echoed %llu of %llu",
          s->started, s->connected, s->complete, s->closed, s->n, s->srv_accepted, s->srv_closed,
          (unsigned long long)s->echoed, (unsigned long long)s->expected);
}

static void swarm_run(uint32_t n, uint32_t msgs, bool mailbox, unsigned deadline_ms) {
  swarm_t *s = calloc(1, sizeof *s);
  CHECK(s != NULL);
  s->n = n;
  s->msgs = msgs;
  s->cl = calloc(n, sizeof *s->cl);
  CHECK(s->cl != NULL);
  nf_init(&s->nf, mailbox);
  nf_run(&s->nf, sw_setup, s, deadline_ms, sw_deadline);
  CHECK_EQ(s->connected, n);
  CHECK_EQ(s->complete, n);
  CHECK_EQ(s->closed, n);
  CHECK_EQ(s->srv_accepted, n);
  CHECK_EQ(s->srv_closed, n);
  CHECK_EQ(s->echoed, s->expected);
  CHECK(s->listener_closed);
  nf_end(&s->nf);
  free(s->cl);
  free(s);
}

/* Scenario 40: 1,000 connections x 100 messages, every byte echoed and checked. */
TEST_T(net_tcp_swarm_1000x100_inline, 120) { swarm_run(1000, 100, false, 110000); }

TEST_T(net_tcp_swarm_100x100_mailbox, 60) { swarm_run(100, 100, true, 50000); }

/* --- a two-party harness: one listener, one server connection, one client ---------------- */

typedef struct duo duo_t;
typedef void (*duo_step_t)(duo_t *d);

struct duo {
  nf_t nf;
  char port[8];
  rasio_tcp_listener_t *l;
  rasio_tcp_t *srv, *cli;
  int mode;
  /* counters */
  unsigned accepted, srv_closed, cli_closed, cli_connected, throttled, unthrottled;
  uint64_t srv_got, cli_got, srv_frames;
  bool unmuted, step_done, listener_closed;
  uint64_t frame_len;
  bool in_header;
  size_t yield_mark, beats, turn_yielded;
  nf_tick_t *beat;
  uint64_t t_close;
  bool (*on_accept)(rasio_tcp_listener_t *l, rasio_tcp_t *c);
};

static void duo_listener_closed(rasio_tcp_listener_t *l) {
  NF_ON_EXECUTOR();
  duo_t *d = rasio_tcp_listener_data(l);
  CHECK(!d->listener_closed);
  d->listener_closed = true;
}

/* Closes the listener once both ends have run their final callback. */
static void duo_maybe_done(duo_t *d) {
  if (d->srv_closed + d->cli_closed == 2 && !d->listener_closed) rasio_tcp_listener_close(d->l);
}

static void duo_srv_closed(rasio_tcp_t *c) {
  NF_ON_EXECUTOR();
  duo_t *d = rasio_tcp_data(c);
  CHECK_EQ(d->srv_closed, 0);
  d->srv_closed++;
  duo_maybe_done(d);
}

static void duo_cli_closed(rasio_tcp_t *c) {
  NF_ON_EXECUTOR();
  duo_t *d = rasio_tcp_data(c);
  CHECK_EQ(d->cli_closed, 0);
  d->cli_closed++;
  duo_maybe_done(d);
}

static void duo_connect_failed(rasio_tcp_t *c, int err) {
  (void)c;
  rt_fail(__FILE__, __LINE__, "connect_failed %d (%s)", err, rasio_strerror(err));
}

static bool duo_unexpected_rx(rasio_tcp_t *c, const void *data, size_t len) {
  (void)c;
  (void)data;
  rt_fail(__FILE__, __LINE__, "unexpected %zu bytes", len);
}

static void duo_deadline(void *ctx) {
  duo_t *d = ctx;
  rt_fail(__FILE__, __LINE__,
          "deadline: accepted %u connected %u srv_closed %u cli_closed %u throttled %u "
          "unthrottled %u srv_got %llu cli_got %llu frames %llu",
          d->accepted, d->cli_connected, d->srv_closed, d->cli_closed, d->throttled, d->unthrottled,
          (unsigned long long)d->srv_got, (unsigned long long)d->cli_got,
          (unsigned long long)d->srv_frames);
}

static duo_t *duo_new(bool mailbox, int mode) {
  duo_t *d = calloc(1, sizeof *d);
  CHECK(d != NULL);
  nf_init(&d->nf, mailbox);
  d->mode = mode;
  return d;
}

static void duo_free(duo_t *d) {
  nf_end(&d->nf);
  free(d);
}

/* Server connections of every duo test start here: counted, remembered, given cb. */
static void duo_take(duo_t *d, rasio_tcp_t *c, const rasio_tcp_cb_t *cb) {
  CHECK_EQ(d->accepted, 0);
  d->accepted++;
  d->srv = c;
  rasio_tcp_set_callbacks(c, cb, d);
  CHECK(rasio_tcp_data(c) == d);
}

static bool duo_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  NF_ON_EXECUTOR();
  duo_t *d = rasio_tcp_listener_data(l);
  return d->on_accept(l, c);
}

static const rasio_tcp_listener_cb_t duo_listener_cb = {.accepted = duo_accepted,
                                                        .closed = duo_listener_closed};

/* A listener whose accepted calls on_accept; accepted connections read read_size bytes. */
static void duo_listen(duo_t *d, bool (*on_accept)(rasio_tcp_listener_t *, rasio_tcp_t *),
                       size_t read_size) {
  d->on_accept = on_accept;
  rasio_tcp_opts_t conn = {.read_size = read_size};
  d->l = nf_listen(&d->nf, &duo_listener_cb, d, 0, &conn, d->port);
}

/* --- back-pressure: a muted receiver (scenario 41) --------------------------------------- */

#define MT_TOTAL (8u << 20)
#define MT_CHUNK (64u << 10)

static uint8_t mt_buf[MT_CHUNK];

static bool mt_srv_received(rasio_tcp_t *c, const void *data, size_t len) {
  duo_t *d = rasio_tcp_data(c);
  CHECK(d->unmuted);
  NF_VERIFY(data, len, 1, d->srv_got);
  d->srv_got += len;
  CHECK_LE(d->srv_got, MT_TOTAL);
  if (d->srv_got == MT_TOTAL) rasio_tcp_close(c);
  return true;
}

static const rasio_tcp_cb_t mt_srv_cb = {.received = mt_srv_received, .closed = duo_srv_closed};

static bool mt_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_listener_data(l);
  duo_take(d, c, &mt_srv_cb);
  rasio_tcp_mute(c);
  return true;
}

static void mt_check_then_unmute(void *ctx) {
  duo_t *d = ctx;
  /* The sender has written 8 MiB into a receiver that reads nothing. */
  CHECK_EQ(d->srv_got, 0);
  CHECK_EQ(d->throttled, 1);
  CHECK_EQ(d->unthrottled, 0);
  CHECK(rasio_tcp_throttled(d->cli));
  CHECK_GT(rasio_tcp_queued(d->cli), 0);
  CHECK_LT(rasio_tcp_queued(d->cli), MT_TOTAL);
  d->unmuted = true;
  rasio_tcp_unmute(d->srv);
}

static void mt_connected(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  d->cli_connected++;
  CHECK(!rasio_tcp_throttled(c));
  for (uint64_t pos = 0; pos < MT_TOTAL; pos += MT_CHUNK) {
    nf_fill(mt_buf, MT_CHUNK, 1, pos);
    CHECK_OK(rasio_tcp_write(c, mt_buf, MT_CHUNK));
  }
  /* What the kernel refused is queued, and that was reported. */
  CHECK_EQ(d->throttled, 1);
  CHECK(rasio_tcp_throttled(c));
  (void)nf_tick(&d->nf, NF_QUIET_MS, mt_check_then_unmute, d);
}

static void mt_throttled(rasio_tcp_t *c) {
  NF_ON_EXECUTOR();
  duo_t *d = rasio_tcp_data(c);
  CHECK(rasio_tcp_throttled(c));
  CHECK_EQ(d->unthrottled, 0);
  d->throttled++;
}

static void mt_unthrottled(rasio_tcp_t *c) {
  NF_ON_EXECUTOR();
  duo_t *d = rasio_tcp_data(c);
  CHECK(d->unmuted);
  CHECK(!rasio_tcp_throttled(c));
  CHECK_EQ(rasio_tcp_queued(c), 0);
  d->unthrottled++;
}

static const rasio_tcp_cb_t mt_cli_cb = {.connected = mt_connected,
                                         .connect_failed = duo_connect_failed,
                                         .received = duo_unexpected_rx,
                                         .throttled = mt_throttled,
                                         .unthrottled = mt_unthrottled,
                                         .closed = duo_cli_closed};

static void mt_setup(void *ctx) {
  duo_t *d = ctx;
  duo_listen(d, mt_accepted, 0);
  d->cli = nf_connect(&d->nf, "127.0.0.1", d->port, &mt_cli_cb, d, 0);
}

static void muted_throttle_case(bool mailbox) {
  duo_t *d = duo_new(mailbox, 0);
  nf_run(&d->nf, mt_setup, d, 30000, duo_deadline);
  CHECK_EQ(d->throttled, 1);
  CHECK_EQ(d->unthrottled, 1);
  CHECK_EQ(d->srv_got, MT_TOTAL);
  CHECK_EQ(d->srv_closed, 1);
  CHECK_EQ(d->cli_closed, 1);
  CHECK(d->listener_closed);
  duo_free(d);
}

TEST_T(net_tcp_muted_receiver_throttles_once_unthrottles_once_inline, 60) {
  muted_throttle_case(false);
}

TEST_T(net_tcp_muted_receiver_throttles_once_unthrottles_once_mailbox, 60) {
  muted_throttle_case(true);
}

/* --- a muted receiver does not notice its peer's close (scenario 42) ---------------------- */

#define MC_BYTES 1000u

static bool mc_srv_received(rasio_tcp_t *c, const void *data, size_t len) {
  duo_t *d = rasio_tcp_data(c);
  CHECK(d->unmuted);
  NF_VERIFY(data, len, 2, d->srv_got);
  d->srv_got += len;
  return true;
}

static void mc_srv_closed(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  CHECK(d->unmuted);
  CHECK_EQ(d->srv_got, MC_BYTES);
  duo_srv_closed(c);
}

static const rasio_tcp_cb_t mc_srv_cb = {.received = mc_srv_received, .closed = mc_srv_closed};

static bool mc_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_listener_data(l);
  duo_take(d, c, &mc_srv_cb);
  rasio_tcp_mute(c);
  return true;
}

static void mc_check_then_unmute(void *ctx) {
  duo_t *d = ctx;
  CHECK_GE(th_now_ms() - d->t_close, NF_QUIET_MS);
  /* The peer closed ~300 ms ago; a muted connection must not have noticed. */
  CHECK_EQ(d->srv_closed, 0);
  CHECK_EQ(d->srv_got, 0);
  CHECK_EQ(d->cli_closed, 0); /* the client waits for the server's FIN */
  d->unmuted = true;
  rasio_tcp_unmute(d->srv);
}

static void mc_connected(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  d->cli_connected++;
  uint8_t buf[MC_BYTES];
  nf_fill(buf, sizeof buf, 2, 0);
  CHECK_OK(rasio_tcp_write(c, buf, sizeof buf));
  rasio_tcp_close(c);
  d->t_close = th_now_ms();
  (void)nf_tick(&d->nf, NF_QUIET_MS, mc_check_then_unmute, d);
}

static void mc_cli_closed(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  CHECK(d->unmuted);
  duo_cli_closed(c);
}

static const rasio_tcp_cb_t mc_cli_cb = {.connected = mc_connected,
                                         .connect_failed = duo_connect_failed,
                                         .received = duo_unexpected_rx,
                                         .closed = mc_cli_closed};

static void mc_setup(void *ctx) {
  duo_t *d = ctx;
  duo_listen(d, mc_accepted, 0);
  d->cli = nf_connect(&d->nf, "127.0.0.1", d->port, &mc_cli_cb, d, 0);
}

static void muted_peer_close_case(bool mailbox) {
  duo_t *d = duo_new(mailbox, 0);
  nf_run(&d->nf, mc_setup, d, NF_DEADLINE_MS, duo_deadline);
  CHECK(d->unmuted);
  CHECK_EQ(d->srv_got, MC_BYTES);
  CHECK_EQ(d->srv_closed, 1);
  CHECK_EQ(d->cli_closed, 1);
  duo_free(d);
}

TEST(net_tcp_muted_receiver_sees_peer_close_only_after_unmute_inline) {
  muted_peer_close_case(false);
}

TEST(net_tcp_muted_receiver_sees_peer_close_only_after_unmute_mailbox) {
  muted_peer_close_case(true);
}

/* --- close() right after connected while the server hard-closes (scenario 43) ------------ */

enum { CC_HARD_ON_ACCEPT, CC_HARD_ON_DATA, CC_REFUSE };

static bool cc_srv_received(rasio_tcp_t *c, const void *data, size_t len) {
  duo_t *d = rasio_tcp_data(c);
  (void)data;
  CHECK_EQ(d->mode, CC_HARD_ON_DATA);
  d->srv_got += len;
  rasio_tcp_hard_close(c);
  CHECK_EQ(d->srv_closed, 0); /* closed comes from the loop, never inside hard_close */
  return false;
}

static void cc_srv_closed(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  CHECK_EQ(d->srv_closed, 0);
  d->srv_closed++;
}

static const rasio_tcp_cb_t cc_srv_cb = {.received = cc_srv_received, .closed = cc_srv_closed};

static bool cc_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_listener_data(l);
  duo_take(d, c, &cc_srv_cb);
  if (d->mode == CC_REFUSE) return false; /* closed without callbacks */
  if (d->mode == CC_HARD_ON_ACCEPT) {
    rasio_tcp_hard_close(c);
    CHECK_EQ(d->srv_closed, 0); /* later, from the loop */
  }
  return true;
}

static void cc_connected(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  d->cli_connected++;
  CHECK_OK(rasio_tcp_write(c, "hello", 5));
  rasio_tcp_close(c);
  CHECK_ERR(rasio_tcp_write(c, "again", 5), RASIO_ESTATE);
  CHECK_EQ(d->cli_closed, 0); /* graceful: it waits for the peer */
}

static void cc_cli_closed(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  CHECK_EQ(d->cli_connected, 1);
  CHECK_EQ(d->cli_closed, 0);
  d->cli_closed++;
  /* The server's side is gone (its close is what ended this one). */
  CHECK_EQ(d->srv_closed, d->mode == CC_REFUSE ? 0 : 1);
  rasio_tcp_listener_close(d->l);
}

static const rasio_tcp_cb_t cc_cli_cb = {.connected = cc_connected,
                                         .connect_failed = duo_connect_failed,
                                         .received = duo_unexpected_rx,
                                         .closed = cc_cli_closed};

static void cc_setup(void *ctx) {
  duo_t *d = ctx;
  duo_listen(d, cc_accepted, 0);
  d->cli = nf_connect(&d->nf, "127.0.0.1", d->port, &cc_cli_cb, d, 0);
}

static void close_after_connected_case(int mode, bool mailbox) {
  duo_t *d = duo_new(mailbox, mode);
  nf_run(&d->nf, cc_setup, d, NF_DEADLINE_MS, duo_deadline);
  CHECK_EQ(d->cli_connected, 1);
  CHECK_EQ(d->cli_closed, 1);
  CHECK_EQ(d->srv_closed, mode == CC_REFUSE ? 0 : 1);
  CHECK(d->listener_closed);
  duo_free(d);
}

TEST(net_tcp_close_after_connected_server_hard_closes_on_accept) {
  close_after_connected_case(CC_HARD_ON_ACCEPT, false);
}

TEST(net_tcp_close_after_connected_server_hard_closes_on_first_data) {
  close_after_connected_case(CC_HARD_ON_DATA, false);
}

TEST(net_tcp_close_after_connected_server_refuses) { close_after_connected_case(CC_REFUSE, false); }

TEST(net_tcp_close_after_connected_server_hard_closes_on_first_data_mailbox) {
  close_after_connected_case(CC_HARD_ON_DATA, true);
}

/* --- hard close with notifications pending (scenario 44) --------------------------------- */

#define HC_THRESHOLD ((512u << 10) + 3 * 64) /* mid-buffer: frames remain after it */

typedef struct flooder {
  uint16_t port;
  atomic_bool stop;
  atomic_bool started;
  uint64_t sent, got;
  bool read_back; /* also drain what comes back */
  pthread_t thread;
} flooder_t;

/* A raw peer that sends as fast as the kernel takes (and, if read_back, reads back) until
 * the connection breaks, stop is set, or 20 s pass. */
static void *flooder_main(void *arg) {
  flooder_t *f = arg;
  rasio_fd_t fd = th_connect_start(f->port);
  static const uint8_t zeros[16384];
  uint8_t rbuf[16384];
  uint64_t end = th_now_ms() + 20000;
  atomic_store(&f->started, true);
  while (!atomic_load(&f->stop) && th_now_ms() < end) {
    long n = th_send(fd, zeros, sizeof zeros);
    if (n < 0) break;
    f->sent += (uint64_t)n;
    long r = 0;
    if (f->read_back) {
      while ((r = th_recv(fd, rbuf, sizeof rbuf)) > 0) f->got += (uint64_t)r;
      if (r == 0 || r == -2) break;
    }
    if (n == 0) th_sleep_ms(1);
  }
  th_close(fd);
  return NULL;
}

static void flooder_start(flooder_t *f, uint16_t port, bool read_back) {
  f->port = port;
  f->read_back = read_back;
  atomic_init(&f->stop, false);
  atomic_init(&f->started, false);
  f->thread = th_thread_start(flooder_main, f);
}

static void flooder_join(flooder_t *f) {
  atomic_store(&f->stop, true);
  th_thread_join(f->thread);
}

typedef struct hc {
  duo_t d;
  flooder_t fl;
  bool hard_closed;
  unsigned after_close;
} hc_t;

static bool hc_srv_received(rasio_tcp_t *c, const void *data, size_t len) {
  NF_ON_EXECUTOR();
  hc_t *h = rasio_tcp_data(c);
  if (h->d.srv_closed != 0) h->after_close++;
  CHECK_EQ(h->d.srv_closed, 0);
  h->d.srv_got += len;
  int rc = rasio_tcp_write(c, data, len); /* echo, so WRITE readiness is in play too */
  CHECK_OK(rc);
  if (h->d.srv_got >= HC_THRESHOLD && !h->hard_closed) {
    h->hard_closed = true;
    rasio_tcp_hard_close(c);
    CHECK_EQ(h->d.srv_closed, 0); /* closed comes from the loop, never inside hard_close */
  }
  return true;
}

static void hc_srv_throttle(rasio_tcp_t *c) {
  hc_t *h = rasio_tcp_data(c);
  CHECK_EQ(h->d.srv_closed, 0);
}

static void hc_srv_closed(rasio_tcp_t *c) {
  NF_ON_EXECUTOR();
  hc_t *h = rasio_tcp_data(c);
  CHECK_EQ(h->d.srv_closed, 0);
  CHECK(h->hard_closed);
  h->d.srv_closed++;
  atomic_store(&h->fl.stop, true);
  rasio_tcp_listener_close(h->d.l);
}

static const rasio_tcp_cb_t hc_srv_cb = {.received = hc_srv_received,
                                         .throttled = hc_srv_throttle,
                                         .unthrottled = hc_srv_throttle,
                                         .closed = hc_srv_closed};

static bool hc_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_listener_data(l);
  duo_take(d, c, &hc_srv_cb);        /* data d: the first member of hc_t */
  CHECK_OK(rasio_tcp_expect(c, 64)); /* many frames per read: more to deliver after the close */
  return true;
}

static void hc_setup(void *ctx) {
  hc_t *h = ctx;
  duo_listen(&h->d, hc_accepted, 1024); /* small reads: many `received` per turn */
  flooder_start(&h->fl, (uint16_t)atoi(h->d.port), true);
}

static void hard_close_pending_case(bool mailbox) {
  hc_t *h = calloc(1, sizeof *h);
  CHECK(h != NULL);
  nf_init(&h->d.nf, mailbox);
  nf_run(&h->d.nf, hc_setup, h, NF_DEADLINE_MS, duo_deadline);
  flooder_join(&h->fl);
  CHECK(h->hard_closed);
  CHECK_EQ(h->d.srv_closed, 1);
  CHECK_EQ(h->after_close, 0);
  CHECK_GE(h->d.srv_got, HC_THRESHOLD);
  CHECK(h->d.listener_closed);
  nf_end(&h->d.nf);
  free(h);
}

TEST(net_tcp_hard_close_in_received_during_flood_inline) { hard_close_pending_case(false); }

TEST(net_tcp_hard_close_in_received_during_flood_mailbox) { hard_close_pending_case(true); }

/* --- connect failures --------------------------------------------------------------------- */

typedef struct cf {
  nf_t nf;
  char port[8];
  const char *host;
  unsigned failed, other;
  int err;
} cf_t;

static void cf_connected(rasio_tcp_t *c) {
  cf_t *f = rasio_tcp_data(c);
  f->other++;
  rt_fail(__FILE__, __LINE__, "connected to a port nobody listens on");
}

static void cf_failed(rasio_tcp_t *c, int err) {
  NF_ON_EXECUTOR();
  cf_t *f = rasio_tcp_data(c);
  CHECK_EQ(f->failed, 0);
  f->failed++;
  f->err = err;
}

static void cf_closed(rasio_tcp_t *c) {
  cf_t *f = rasio_tcp_data(c);
  f->other++;
  rt_fail(__FILE__, __LINE__, "closed after a failed connect (connect_failed is final)");
}

static const rasio_tcp_cb_t cf_cb = {.connected = cf_connected,
                                     .connect_failed = cf_failed,
                                     .received = duo_unexpected_rx,
                                     .closed = cf_closed};

static void cf_setup(void *ctx) {
  cf_t *f = ctx;
  (void)nf_connect(&f->nf, f->host, f->port, &cf_cb, f, 0);
}

static void cf_deadline(void *ctx) {
  cf_t *f = ctx;
  rt_fail(__FILE__, __LINE__, "deadline: connect_failed %u", f->failed);
}

TEST(net_tcp_connect_to_closed_port_fails_without_connected_or_closed) {
  cf_t f = {.host = "127.0.0.1"};
  nf_init(&f.nf, false);
  nf_port_str(th_closed_port(), f.port);
  nf_run(&f.nf, cf_setup, &f, NF_DEADLINE_MS, cf_deadline);
  CHECK_EQ(f.failed, 1);
  CHECK_EQ(f.other, 0);
  CHECK_LT(f.err, 0);
  if (nf_on_epoll(&f.nf)) CHECK_ERR(f.err, RASIO_ECONNREFUSED);
  nf_end(&f.nf);
}

TEST(net_tcp_connect_to_closed_port_fails_mailbox) {
  cf_t f = {.host = "127.0.0.1"};
  nf_init(&f.nf, true);
  nf_port_str(th_closed_port(), f.port);
  nf_run(&f.nf, cf_setup, &f, NF_DEADLINE_MS, cf_deadline);
  CHECK_EQ(f.failed, 1);
  CHECK_EQ(f.other, 0);
  CHECK_LT(f.err, 0);
  nf_end(&f.nf);
}

/* "localhost" may give two addresses (::1 and 127.0.0.1): both attempts fail, and the
 * owner hears about it exactly once. */
TEST(net_tcp_connect_by_name_to_closed_port_fails_once) {
  cf_t f = {.host = "localhost"};
  nf_init(&f.nf, false);
  nf_port_str(th_closed_port(), f.port);
  nf_run(&f.nf, cf_setup, &f, NF_DEADLINE_MS, cf_deadline);
  CHECK_EQ(f.failed, 1);
  CHECK_EQ(f.other, 0);
  CHECK_LT(f.err, 0);
  nf_end(&f.nf);
}

/* A host name is resolved off the loop (issue 12, gap 1): the call succeeds, and a name
 * that does not resolve arrives as connect_failed(ENOTFOUND), on the executor, once. */
TEST(net_tcp_connect_to_unresolvable_host_fails_with_enotfound_through_connect_failed) {
  cf_t f = {.host = "no-such-host.invalid", .port = "80"};
  nf_init(&f.nf, false);
  nf_run(&f.nf, cf_setup, &f, NF_DEADLINE_MS, cf_deadline);
  CHECK_EQ(f.failed, 1);
  CHECK_EQ(f.other, 0);
  CHECK_ERR(f.err, RASIO_ENOTFOUND);
  nf_end(&f.nf);
}

TEST(net_tcp_connect_to_unresolvable_host_fails_with_enotfound_through_connect_failed_mailbox) {
  cf_t f = {.host = "no-such-host.invalid", .port = "80"};
  nf_init(&f.nf, true);
  nf_run(&f.nf, cf_setup, &f, NF_DEADLINE_MS, cf_deadline);
  CHECK_EQ(f.failed, 1);
  CHECK_EQ(f.other, 0);
  CHECK_ERR(f.err, RASIO_ENOTFOUND);
  nf_end(&f.nf);
}

/* --- graceful close flushes queued writes ------------------------------------------------ */

#define GF_TOTAL (1u << 20)

static uint8_t gf_buf[GF_TOTAL];

enum { GF_PLAIN, GF_RECEIVER_MUTED_FIRST };

static bool gf_srv_received(rasio_tcp_t *c, const void *data, size_t len) {
  duo_t *d = rasio_tcp_data(c);
  if (d->mode == GF_RECEIVER_MUTED_FIRST) CHECK(d->unmuted);
  NF_VERIFY(data, len, 3, d->srv_got);
  d->srv_got += len;
  CHECK_LE(d->srv_got, GF_TOTAL);
  return true;
}

static void gf_srv_closed(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  /* The close came after every byte. */
  CHECK_EQ(d->srv_got, GF_TOTAL);
  duo_srv_closed(c);
}

static const rasio_tcp_cb_t gf_srv_cb = {.received = gf_srv_received, .closed = gf_srv_closed};

static bool gf_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_listener_data(l);
  duo_take(d, c, &gf_srv_cb);
  if (d->mode == GF_RECEIVER_MUTED_FIRST) rasio_tcp_mute(c);
  return true;
}

static void gf_unmute(void *ctx) {
  duo_t *d = ctx;
  CHECK_EQ(d->srv_got, 0);
  CHECK_EQ(d->srv_closed, 0);
  CHECK_EQ(d->cli_closed, 0);
  CHECK_GT(rasio_tcp_queued(d->cli), 0); /* still flushing */
  d->unmuted = true;
  rasio_tcp_unmute(d->srv);
}

static void gf_connected(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  d->cli_connected++;
  if (d->mode == GF_RECEIVER_MUTED_FIRST) {
    /* A small send buffer and a receiver that reads nothing: most of the MiB must queue. */
    CHECK_OK(rasio_sock_set_sndbuf(rasio_tcp_fd(c), 65536));
  }
  CHECK_OK(rasio_tcp_write(c, gf_buf, GF_TOTAL));
  if (d->mode == GF_RECEIVER_MUTED_FIRST) CHECK_GT(rasio_tcp_queued(c), 0);
  rasio_tcp_close(c);
  CHECK_ERR(rasio_tcp_write(c, gf_buf, 1), RASIO_ESTATE);
  CHECK_EQ(d->cli_closed, 0);
  if (d->mode == GF_RECEIVER_MUTED_FIRST) (void)nf_tick(&d->nf, NF_QUIET_MS, gf_unmute, d);
}

static void gf_cli_closed(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  CHECK_EQ(rasio_tcp_queued(c), 0);
  CHECK_EQ(d->srv_got, GF_TOTAL);
  duo_cli_closed(c);
}

static const rasio_tcp_cb_t gf_cli_cb = {.connected = gf_connected,
                                         .connect_failed = duo_connect_failed,
                                         .received = duo_unexpected_rx,
                                         .closed = gf_cli_closed};

static void gf_setup(void *ctx) {
  duo_t *d = ctx;
  duo_listen(d, gf_accepted, 0);
  d->cli = nf_connect(&d->nf, "127.0.0.1", d->port, &gf_cli_cb, d, 0);
}

static void graceful_flush_case(int mode, bool mailbox) {
  nf_fill(gf_buf, GF_TOTAL, 3, 0);
  duo_t *d = duo_new(mailbox, mode);
  nf_run(&d->nf, gf_setup, d, NF_DEADLINE_MS, duo_deadline);
  CHECK_EQ(d->srv_got, GF_TOTAL);
  CHECK_EQ(d->srv_closed, 1);
  CHECK_EQ(d->cli_closed, 1);
  duo_free(d);
}

TEST(net_tcp_graceful_close_flushes_1mib_then_fin) { graceful_flush_case(GF_PLAIN, false); }

TEST(net_tcp_graceful_close_flushes_1mib_to_slow_receiver) {
  graceful_flush_case(GF_RECEIVER_MUTED_FIRST, false);
}

TEST(net_tcp_graceful_close_flushes_1mib_to_slow_receiver_mailbox) {
  graceful_flush_case(GF_RECEIVER_MUTED_FIRST, true);
}

/* --- half-close ------------------------------------------------------------------------- */

#define HF_TOTAL (4u << 20)

typedef struct hf {
  duo_t d;
  uint16_t port;
  rasio_fd_t raw_listener;
  uint64_t peer_sent, peer_got;
  bool peer_eof;
  bool read_late; /* the peer reads nothing until it has sent everything and shut down */
  pthread_t thread;
} hf_t;

/* The raw client: sends HF_TOTAL bytes, shuts its write side, and reads the echo to EOF
 * (while sending, or with read_late only after the shutdown, so that the server still has
 * most of the echo queued when it sees the FIN). */
static void *hf_peer_main(void *arg) {
  hf_t *h = arg;
  rasio_fd_t fd = th_connect_start(h->port);
  uint8_t out[8192], in[8192];
  bool shut = false;
  uint64_t end = th_now_ms() + 15000;
  while (!h->peer_eof) {
    if (th_now_ms() > end)
      rt_fail(__FILE__, __LINE__, "peer: sent %llu got %llu, no EOF",
              (unsigned long long)h->peer_sent, (unsigned long long)h->peer_got);
    long n = 0;
    if (h->peer_sent < HF_TOTAL) {
      size_t len = HF_TOTAL - h->peer_sent < sizeof out ? HF_TOTAL - h->peer_sent : sizeof out;
      nf_fill(out, len, 4, h->peer_sent);
      n = th_send(fd, out, len);
      if (n < 0)
        rt_fail(__FILE__, __LINE__, "peer: send failed after %llu bytes",
                (unsigned long long)h->peer_sent);
      h->peer_sent += (uint64_t)n;
    } else if (!shut) {
      th_shutdown_wr(fd);
      shut = true;
    }
    long r = h->read_late && !shut ? -1 : th_recv(fd, in, sizeof in);
    if (r > 0) {
      NF_VERIFY(in, (size_t)r, 4, h->peer_got);
      h->peer_got += (uint64_t)r;
    } else if (r == 0) {
      h->peer_eof = true;
    } else if (r == -2) {
      rt_fail(__FILE__, __LINE__, "peer: recv error after %llu bytes (reset?)",
              (unsigned long long)h->peer_got);
    } else if (n == 0) {
      th_sleep_ms(1);
    }
  }
  th_close(fd);
  return NULL;
}

static bool hf_echo(rasio_tcp_t *c, const void *data, size_t len) {
  duo_t *d = rasio_tcp_data(c);
  d->srv_got += len;
  CHECK_OK(rasio_tcp_write(c, data, len));
  if (rasio_tcp_queued(c) > d->frame_len) d->frame_len = rasio_tcp_queued(c);
  return true;
}

static void hf_srv_closed(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  CHECK_EQ(d->srv_got, HF_TOTAL);
  CHECK_EQ(rasio_tcp_queued(c), 0); /* the echo went out before the connection ended */
  d->srv_closed++;
  rasio_tcp_listener_close(d->l);
}

static const rasio_tcp_cb_t hf_srv_cb = {.received = hf_echo, .closed = hf_srv_closed};

static bool hf_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_listener_data(l);
  duo_take(d, c, &hf_srv_cb);
  /* Loopback buffers grow to megabytes: a small send buffer keeps most of the echo in
   * rasio's queue. (Not the peer's receive buffer: shrunk after the handshake, it falls
   * below one loopback MSS and TCP stalls for seconds.) */
  if (d->mode != 0) CHECK_OK(rasio_sock_set_sndbuf(rasio_tcp_fd(c), 16384));
  return true;
}

static void hf_setup(void *ctx) {
  hf_t *h = ctx;
  duo_listen(&h->d, hf_accepted, 0);
  h->port = (uint16_t)atoi(h->d.port);
  h->thread = th_thread_start(hf_peer_main, h);
}

/* A peer that shuts its write side still receives the echo of everything it sent. */
static void half_closed_peer_case(bool read_late) {
  hf_t *h = calloc(1, sizeof *h);
  CHECK(h != NULL);
  h->read_late = read_late;
  h->d.mode = read_late;
  nf_init(&h->d.nf, false);
  nf_run(&h->d.nf, hf_setup, h, 20000, duo_deadline);
  th_thread_join(h->thread);
  CHECK(h->peer_eof);
  CHECK_EQ(h->peer_sent, HF_TOTAL);
  CHECK_EQ(h->peer_got, HF_TOTAL);
  CHECK_EQ(h->d.srv_closed, 1);
  /* The echo did queue in rasio when the FIN came (how much depends on how much the
   * kernels buffered: about half on a quiet Linux, less under ASan; a megabyte proves it). */
  if (read_late) CHECK_GT(h->d.frame_len, HF_TOTAL / 4);
  nf_end(&h->d.nf);
  free(h);
}

TEST(net_tcp_half_closed_peer_still_receives_echo) { half_closed_peer_case(false); }

TEST(net_tcp_half_closed_peer_reading_late_still_receives_queued_echo) {
  half_closed_peer_case(true);
}

/* The other end: a raw server asks a question and shuts its write side at once; the rasio
 * client answers after seeing the FIN's data, and the answer still arrives in full. */
#define HQ_REPLY (4u << 20)

static uint8_t hq_reply[HQ_REPLY];

static void *hq_server_main(void *arg) {
  hf_t *h = arg;
  uint64_t end = th_now_ms() + 15000;
  rasio_fd_t fd;
  while ((fd = th_accept(h->raw_listener)) == RASIO_INVALID_FD) {
    if (th_now_ms() > end) rt_fail(__FILE__, __LINE__, "raw server: no connection");
    th_sleep_ms(1);
  }
  CHECK_EQ(th_send(fd, "question", 8), 8);
  th_shutdown_wr(fd);
  uint8_t in[8192];
  while (!h->peer_eof) {
    if (th_now_ms() > end)
      rt_fail(__FILE__, __LINE__, "raw server: got %llu, no EOF", (unsigned long long)h->peer_got);
    long r = th_recv(fd, in, sizeof in);
    if (r > 0) {
      NF_VERIFY(in, (size_t)r, 5, h->peer_got);
      h->peer_got += (uint64_t)r;
    } else if (r == 0) {
      h->peer_eof = true;
    } else if (r == -2) {
      rt_fail(__FILE__, __LINE__, "raw server: recv error after %llu bytes",
              (unsigned long long)h->peer_got);
    } else {
      th_sleep_ms(1);
    }
  }
  th_close(fd);
  return NULL;
}

static bool hq_received(rasio_tcp_t *c, const void *data, size_t len) {
  duo_t *d = rasio_tcp_data(c);
  CHECK_LE(d->cli_got + len, 8);
  CHECK(memcmp(data, &"question"[d->cli_got], len) == 0);
  d->cli_got += len;
  if (d->cli_got == 8) {
    CHECK_OK(rasio_sock_set_sndbuf(rasio_tcp_fd(c), 16384));
    CHECK_OK(rasio_tcp_write(c, hq_reply, HQ_REPLY));
    CHECK_GT(rasio_tcp_queued(c), 0);
  }
  return true;
}

static void hq_connected(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  d->cli_connected++;
}

static void hq_closed(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  CHECK_EQ(d->cli_got, 8);
  CHECK_EQ(rasio_tcp_queued(c), 0);
  d->cli_closed++;
}

static const rasio_tcp_cb_t hq_cb = {.connected = hq_connected,
                                     .connect_failed = duo_connect_failed,
                                     .received = hq_received,
                                     .closed = hq_closed};

static void hq_setup(void *ctx) {
  hf_t *h = ctx;
  h->raw_listener = th_listener(&h->port);
  nf_port_str(h->port, h->d.port);
  h->thread = th_thread_start(hq_server_main, h);
  h->d.cli = nf_connect(&h->d.nf, "127.0.0.1", h->d.port, &hq_cb, &h->d, 0);
}

TEST(net_tcp_client_answers_after_peer_half_close) {
  nf_fill(hq_reply, HQ_REPLY, 5, 0);
  hf_t *h = calloc(1, sizeof *h);
  CHECK(h != NULL);
  nf_init(&h->d.nf, false);
  nf_run(&h->d.nf, hq_setup, h, 20000, duo_deadline);
  th_thread_join(h->thread);
  th_close(h->raw_listener);
  CHECK_EQ(h->d.cli_connected, 1);
  CHECK_EQ(h->d.cli_closed, 1);
  CHECK(h->peer_eof);
  CHECK_EQ(h->peer_got, HQ_REPLY);
  nf_end(&h->d.nf);
  free(h);
}

/* --- expect(n) framing ------------------------------------------------------------------ */

#define EX_FRAME 7u
#define EX_FRAMES 1000u

static uint8_t ex_stream[EX_FRAME * EX_FRAMES];

static bool ex_srv_received(rasio_tcp_t *c, const void *data, size_t len) {
  duo_t *d = rasio_tcp_data(c);
  CHECK_EQ(len, EX_FRAME);
  NF_VERIFY(data, len, 6, d->srv_got);
  d->srv_got += len;
  d->srv_frames++;
  return true;
}

static void ex_srv_closed(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  CHECK_EQ(d->srv_frames, EX_FRAMES);
  duo_srv_closed(c);
}

static const rasio_tcp_cb_t ex_srv_cb = {.received = ex_srv_received, .closed = ex_srv_closed};

static bool ex_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_listener_data(l);
  duo_take(d, c, &ex_srv_cb);
  CHECK_OK(rasio_tcp_expect(c, EX_FRAME));
  return true;
}

/* The client sends the stream in pieces of 1..97 bytes (odd boundaries), then closes. */
static void ex_connected(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  d->cli_connected++;
  size_t off = 0, total = sizeof ex_stream;
  for (uint32_t i = 0; off < total; i++) {
    size_t len = 1 + (i * 37u) % 97u;
    if (len > total - off) len = total - off;
    CHECK_OK(rasio_tcp_write(c, ex_stream + off, len));
    off += len;
  }
  rasio_tcp_close(c);
}

static const rasio_tcp_cb_t ex_cli_cb = {.connected = ex_connected,
                                         .connect_failed = duo_connect_failed,
                                         .received = duo_unexpected_rx,
                                         .closed = duo_cli_closed};

static void ex_setup(void *ctx) {
  duo_t *d = ctx;
  duo_listen(d, ex_accepted, 0);
  d->cli = nf_connect(&d->nf, "127.0.0.1", d->port, &ex_cli_cb, d, 0);
}

TEST(net_tcp_expect_delivers_exact_n_byte_chunks) {
  nf_fill(ex_stream, sizeof ex_stream, 6, 0);
  duo_t *d = duo_new(false, 0);
  nf_run(&d->nf, ex_setup, d, NF_DEADLINE_MS, duo_deadline);
  CHECK_EQ(d->srv_frames, EX_FRAMES);
  CHECK_EQ(d->srv_got, sizeof ex_stream);
  CHECK_EQ(d->srv_closed, 1);
  CHECK_EQ(d->cli_closed, 1);
  duo_free(d);
}

/* Length-prefixed frames: expect(4) for a header, then expect(L) for its body (bodies up to
 * 40,000 bytes, larger than the 16 KiB read buffer), switched inside `received`. */
#define LP_FRAMES 200u
#define LP_MAX_BODY 40000u

static size_t lp_body_len(uint32_t i) { return 1 + ((i * 2654435761u) >> 7) % LP_MAX_BODY; }

static bool lp_srv_received(rasio_tcp_t *c, const void *data, size_t len) {
  duo_t *d = rasio_tcp_data(c);
  const uint8_t *p = data;
  if (d->in_header) {
    CHECK_EQ(len, 4);
    d->frame_len = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
    CHECK_EQ(d->frame_len, lp_body_len((uint32_t)d->srv_frames));
    d->in_header = false;
    CHECK_OK(rasio_tcp_expect(c, (size_t)d->frame_len)); /* data is not touched after this */
  } else {
    CHECK_EQ(len, d->frame_len);
    NF_VERIFY(data, len, 100 + (uint32_t)d->srv_frames, 0);
    d->srv_frames++;
    d->srv_got += len;
    d->in_header = true;
    CHECK_OK(rasio_tcp_expect(c, 4));
  }
  return true;
}

static void lp_srv_closed(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  CHECK_EQ(d->srv_frames, LP_FRAMES);
  CHECK(d->in_header);
  duo_srv_closed(c);
}

static const rasio_tcp_cb_t lp_srv_cb = {.received = lp_srv_received, .closed = lp_srv_closed};

static bool lp_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_listener_data(l);
  duo_take(d, c, &lp_srv_cb);
  d->in_header = true;
  CHECK_OK(rasio_tcp_expect(c, 4));
  return true;
}

static void lp_connected(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  d->cli_connected++;
  static uint8_t body[LP_MAX_BODY];
  for (uint32_t i = 0; i < LP_FRAMES; i++) {
    size_t len = lp_body_len(i);
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};
    nf_fill(body, len, 100 + i, 0);
    if (i % 2 == 0) {
      rasio_iovec_t iov[2] = {{hdr, 4}, {body, len}};
      CHECK_OK(rasio_tcp_writev(c, iov, 2));
    } else {
      CHECK_OK(rasio_tcp_write(c, hdr, 4));
      CHECK_OK(rasio_tcp_write(c, body, len));
    }
  }
  rasio_tcp_close(c);
}

static const rasio_tcp_cb_t lp_cli_cb = {.connected = lp_connected,
                                         .connect_failed = duo_connect_failed,
                                         .received = duo_unexpected_rx,
                                         .closed = duo_cli_closed};

static void lp_setup(void *ctx) {
  duo_t *d = ctx;
  duo_listen(d, lp_accepted, 0);
  d->cli = nf_connect(&d->nf, "127.0.0.1", d->port, &lp_cli_cb, d, 0);
}

TEST(net_tcp_expect_switches_per_frame_for_length_prefixed_messages) {
  duo_t *d = duo_new(false, 0);
  nf_run(&d->nf, lp_setup, d, NF_DEADLINE_MS, duo_deadline);
  CHECK_EQ(d->srv_frames, LP_FRAMES);
  CHECK_EQ(d->srv_closed, 1);
  CHECK_EQ(d->cli_closed, 1);
  duo_free(d);
}

/* --- received returning false yields; reading resumes ------------------------------------ */

#define YF_TOTAL (256u << 10)

static uint8_t yf_buf[YF_TOTAL];

/* Inline: a heartbeat tick re-armed at 0 ns counts loop iterations; after `received` says
 * false, the next `received` must come in a later iteration. Mailbox: each drain runs one
 * notification (one turn); no `received` may follow a false within the same turn. */
static bool yf_srv_received(rasio_tcp_t *c, const void *data, size_t len) {
  NF_ON_EXECUTOR();
  duo_t *d = rasio_tcp_data(c);
  if (nf_inline(&d->nf)) {
    if (d->yield_mark == d->beats)
      rt_fail(__FILE__, __LINE__, "received again in the same loop iteration after false");
    d->yield_mark = d->beats;
  } else {
    if (d->turn_yielded) rt_fail(__FILE__, __LINE__, "received again in the same turn");
    d->turn_yielded = true;
  }
  NF_VERIFY(data, len, 7, d->srv_got);
  d->srv_got += len;
  d->srv_frames++;
  return false;
}

static void yf_after_drain(void *ctx) {
  duo_t *d = ctx;
  d->turn_yielded = false;
}

static void yf_beat(void *ctx) {
  duo_t *d = ctx;
  d->beats++;
  if (d->srv_closed == 0) nf_again(d->beat, 0);
}

static void yf_srv_closed(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  CHECK_EQ(d->srv_got, YF_TOTAL);
  duo_srv_closed(c);
}

static const rasio_tcp_cb_t yf_srv_cb = {.received = yf_srv_received, .closed = yf_srv_closed};

static bool yf_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_listener_data(l);
  duo_take(d, c, &yf_srv_cb);
  return true;
}

static void yf_connected(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  d->cli_connected++;
  CHECK_OK(rasio_tcp_write(c, yf_buf, YF_TOTAL));
  rasio_tcp_close(c);
}

static const rasio_tcp_cb_t yf_cli_cb = {.connected = yf_connected,
                                         .connect_failed = duo_connect_failed,
                                         .received = duo_unexpected_rx,
                                         .closed = duo_cli_closed};

static void yf_setup(void *ctx) {
  duo_t *d = ctx;
  d->yield_mark = SIZE_MAX;
  if (nf_inline(&d->nf)) d->beat = nf_tick(&d->nf, 0, yf_beat, d);
  duo_listen(d, yf_accepted, 512);
  d->cli = nf_connect(&d->nf, "127.0.0.1", d->port, &yf_cli_cb, d, 0);
}

static void received_false_case(bool mailbox) {
  nf_fill(yf_buf, YF_TOTAL, 7, 0);
  duo_t *d = duo_new(mailbox, 0);
  if (mailbox) {
    d->nf.drain_max = 1;
    d->nf.after_drain = yf_after_drain;
    d->nf.after_drain_ctx = d;
  }
  nf_run(&d->nf, yf_setup, d, 30000, duo_deadline);
  CHECK_EQ(d->srv_got, YF_TOTAL);
  CHECK_GE(d->srv_frames, YF_TOTAL / 512);
  CHECK_EQ(d->srv_closed, 1);
  CHECK_EQ(d->cli_closed, 1);
  duo_free(d);
}

TEST_T(net_tcp_received_false_yields_and_reading_resumes_inline, 60) { received_false_case(false); }

TEST_T(net_tcp_received_false_yields_and_reading_resumes_mailbox, 60) { received_false_case(true); }

/* --- write after close, writes before connected, bad writes ------------------------------ */

static bool wc_srv_echo(rasio_tcp_t *c, const void *data, size_t len) {
  duo_t *d = rasio_tcp_data(c);
  d->srv_got += len;
  CHECK_OK(rasio_tcp_write(c, data, len));
  return true;
}

static const rasio_tcp_cb_t wc_srv_cb = {.received = wc_srv_echo, .closed = duo_srv_closed};

static bool wc_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_listener_data(l);
  duo_take(d, c, &wc_srv_cb);
  return true;
}

static void wc_connected(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  d->cli_connected++;
  CHECK_ERR(rasio_tcp_writev(c, NULL, 1), RASIO_EINVAL);
  rasio_iovec_t many[1025];
  for (size_t i = 0; i < 1025; i++) many[i] = (rasio_iovec_t){"x", 1};
  CHECK_ERR(rasio_tcp_writev(c, many, 1025), RASIO_EINVAL);
  CHECK_OK(rasio_tcp_write(c, "", 0));
  CHECK_OK(rasio_tcp_writev(c, NULL, 0));
  CHECK_OK(rasio_tcp_writev(c, many, 1024));
  CHECK_EQ(d->cli_closed, 0); /* none of that closed it */
}

static bool wc_cli_received(rasio_tcp_t *c, const void *data, size_t len) {
  duo_t *d = rasio_tcp_data(c);
  for (size_t i = 0; i < len; i++) CHECK_EQ(((const char *)data)[i], 'x');
  d->cli_got += len;
  if (d->cli_got == 1024) {
    rasio_tcp_close(c);
    CHECK_ERR(rasio_tcp_write(c, "y", 1), RASIO_ESTATE);
    rasio_iovec_t iov = {"y", 1};
    CHECK_ERR(rasio_tcp_writev(c, &iov, 1), RASIO_ESTATE);
  }
  return true;
}

static void wc_cli_closed(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  CHECK_EQ(d->cli_got, 1024);
  CHECK_ERR(rasio_tcp_write(c, "z", 1), RASIO_ESTATE); /* inside its own closed, too */
  duo_cli_closed(c);
}

static const rasio_tcp_cb_t wc_cli_cb = {.connected = wc_connected,
                                         .connect_failed = duo_connect_failed,
                                         .received = wc_cli_received,
                                         .closed = wc_cli_closed};

static void wc_setup(void *ctx) {
  duo_t *d = ctx;
  duo_listen(d, wc_accepted, 0);
  d->cli = nf_connect(&d->nf, "127.0.0.1", d->port, &wc_cli_cb, d, 0);
  /* No callback can have run yet: not connected. */
  CHECK_ERR(rasio_tcp_write(d->cli, "early", 5), RASIO_ESTATE);
  CHECK_EQ(rasio_tcp_queued(d->cli), 0);
  CHECK(rasio_tcp_data(d->cli) == d);
}

static void write_after_close_case(bool mailbox) {
  duo_t *d = duo_new(mailbox, 0);
  nf_run(&d->nf, wc_setup, d, NF_DEADLINE_MS, duo_deadline);
  CHECK_EQ(d->srv_got, 1024);
  CHECK_EQ(d->cli_got, 1024);
  CHECK_EQ(d->cli_closed, 1);
  CHECK_EQ(d->srv_closed, 1);
  duo_free(d);
}

TEST(net_tcp_write_before_connected_or_after_close_is_estate) { write_after_close_case(false); }

TEST(net_tcp_write_before_connected_or_after_close_is_estate_mailbox) {
  write_after_close_case(true);
}

/* --- hard close runs closed later, from the loop; close() on a muted connection is hard --- */

static void hk_connected(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  d->cli_connected++;
  rasio_tcp_hard_close(c);
  CHECK_EQ(d->cli_closed, 0); /* never inside the call */
  CHECK(rasio_tcp_fd(c) == RASIO_INVALID_FD);
  CHECK_ERR(rasio_tcp_write(c, "x", 1), RASIO_ESTATE);
}

static const rasio_tcp_cb_t hk_cli_cb = {.connected = hk_connected,
                                         .connect_failed = duo_connect_failed,
                                         .received = duo_unexpected_rx,
                                         .closed = duo_cli_closed};

static bool hk_srv_received(rasio_tcp_t *c, const void *data, size_t len) {
  (void)c;
  (void)data;
  (void)len;
  return true;
}

static const rasio_tcp_cb_t hk_srv_cb = {.received = hk_srv_received, .closed = duo_srv_closed};

static bool hk_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_listener_data(l);
  duo_take(d, c, &hk_srv_cb);
  return true;
}

static void hk_setup(void *ctx) {
  duo_t *d = ctx;
  duo_listen(d, hk_accepted, 0);
  d->cli = nf_connect(&d->nf, "127.0.0.1", d->port, &hk_cli_cb, d, 0);
}

/* The client hard-closes in connected (closed comes later, from the loop); the server
 * sees the end of the stream and closes on its own. */
TEST(net_tcp_hard_close_runs_closed_after_returning) {
  duo_t *d = duo_new(false, 0);
  nf_run(&d->nf, hk_setup, d, NF_DEADLINE_MS, duo_deadline);
  CHECK_EQ(d->cli_closed, 1);
  CHECK_EQ(d->srv_closed, 1);
  duo_free(d);
}

static void mk_close_muted(void *ctx) {
  duo_t *d = ctx;
  CHECK_EQ(d->srv_closed, 0);
  rasio_tcp_close(d->srv); /* muted: closed hard; closed follows from the loop */
  CHECK_EQ(d->srv_closed, 0);
}

static bool mk_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_listener_data(l);
  duo_take(d, c, &hk_srv_cb);
  rasio_tcp_mute(c);
  (void)nf_tick(&d->nf, 50, mk_close_muted, d);
  return true;
}

static void mk_connected(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  d->cli_connected++;
  CHECK_OK(rasio_tcp_write(c, "unread", 6));
}

static bool mk_cli_received(rasio_tcp_t *c, const void *data, size_t len) {
  (void)c;
  (void)data;
  (void)len;
  return true;
}

static const rasio_tcp_cb_t mk_cli_cb = {.connected = mk_connected,
                                         .connect_failed = duo_connect_failed,
                                         .received = mk_cli_received,
                                         .closed = duo_cli_closed};

static void mk_setup(void *ctx) {
  duo_t *d = ctx;
  duo_listen(d, mk_accepted, 0);
  d->cli = nf_connect(&d->nf, "127.0.0.1", d->port, &mk_cli_cb, d, 0);
}

TEST(net_tcp_close_on_muted_connection_is_hard) {
  duo_t *d = duo_new(false, 0);
  nf_run(&d->nf, mk_setup, d, NF_DEADLINE_MS, duo_deadline);
  CHECK_EQ(d->srv_closed, 1);
  CHECK_EQ(d->cli_closed, 1);
  duo_free(d);
}

/* --- a peer reset closes the connection once --------------------------------------------- */

typedef struct rs {
  duo_t d;
  rasio_fd_t raw;
} rs_t;

static void rs_reset(void *ctx) {
  rs_t *r = ctx;
  th_close_rst(r->raw);
  r->raw = RASIO_INVALID_FD;
}

static void rs_srv_closed(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  CHECK_EQ(d->srv_closed, 0);
  d->srv_closed++;
  rasio_tcp_listener_close(d->l);
}

static const rasio_tcp_cb_t rs_srv_cb = {.received = hk_srv_received, .closed = rs_srv_closed};

static bool rs_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_listener_data(l);
  duo_take(d, c, &rs_srv_cb);
  CHECK_OK(rasio_tcp_write(c, "to the peer", 11));
  (void)nf_tick(&d->nf, 20, rs_reset, d);
  return true;
}

static void rs_setup(void *ctx) {
  rs_t *r = ctx;
  duo_listen(&r->d, rs_accepted, 0);
  r->raw = th_connect_start((uint16_t)atoi(r->d.port));
}

TEST(net_tcp_peer_reset_closes_once) {
  rs_t *r = calloc(1, sizeof *r);
  CHECK(r != NULL);
  nf_init(&r->d.nf, false);
  nf_run(&r->d.nf, rs_setup, r, NF_DEADLINE_MS, duo_deadline);
  CHECK_EQ(r->d.srv_closed, 1);
  CHECK(r->raw == RASIO_INVALID_FD);
  nf_end(&r->d.nf);
  free(r);
}

/* --- connect to a name with several addresses --------------------------------------------- */

static void lh_connected(rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_data(c);
  d->cli_connected++;
  CHECK_EQ(d->cli_connected, 1);
  rasio_tcp_close(c);
}

static const rasio_tcp_cb_t lh_cli_cb = {.connected = lh_connected,
                                         .connect_failed = duo_connect_failed,
                                         .received = duo_unexpected_rx,
                                         .closed = duo_cli_closed};

static void lh_setup(void *ctx) {
  duo_t *d = ctx;
  d->on_accept = hk_accepted;
  rasio_tcp_listener_opts_t o = {.cb = &duo_listener_cb, .data = d, .mailbox = d->nf.mb};
  CHECK_OK(rasio_tcp_listen(d->nf.loop, "localhost", "0", RASIO_AF_ANY, &o, &d->l));
  rasio_addr_t a;
  CHECK_OK(rasio_tcp_listener_addr(d->l, &a));
  nf_port_str(rasio_addr_port(&a), d->port);
  /* "localhost" may name ::1 and 127.0.0.1; only one of them listens. The attempt that
   * reaches it wins, the other is torn down: exactly one connected. */
  d->cli = nf_connect(&d->nf, "localhost", d->port, &lh_cli_cb, d, 0);
}

TEST(net_tcp_connect_by_name_tries_every_address_one_connected) {
  duo_t *d = duo_new(false, 0);
  nf_run(&d->nf, lh_setup, d, NF_DEADLINE_MS, duo_deadline);
  CHECK_EQ(d->cli_connected, 1);
  CHECK_EQ(d->accepted, 1);
  CHECK_EQ(d->cli_closed, 1);
  CHECK_EQ(d->srv_closed, 1);
  duo_free(d);
}

/* --- a flooding peer does not starve a timer (the read budget yields) --------------------- */

#define FT_PERIOD_MS 5u
#define FT_WANT 20u

typedef struct ft {
  duo_t d;
  flooder_t fl;
  nf_tick_t *tick;
  unsigned during; /* timer fires while the flood ran */
} ft_t;

static void ft_tick(void *ctx) {
  ft_t *f = ctx;
  if (atomic_load(&f->fl.started) && f->d.srv_got > 0) f->during++;
  if (f->during >= FT_WANT) {
    /* Enough: the flood has not starved the timer. End it. */
    if (f->d.srv_closed == 0) rasio_tcp_hard_close(f->d.srv);
    return;
  }
  nf_again(f->tick, FT_PERIOD_MS);
}

static bool ft_received(rasio_tcp_t *c, const void *data, size_t len) {
  duo_t *d = rasio_tcp_data(c);
  (void)data;
  d->srv_got += len;
  return true;
}

static void ft_srv_closed(rasio_tcp_t *c) {
  ft_t *f = rasio_tcp_data(c);
  f->d.srv_closed++;
  atomic_store(&f->fl.stop, true);
  rasio_tcp_listener_close(f->d.l);
}

static const rasio_tcp_cb_t ft_srv_cb = {.received = ft_received, .closed = ft_srv_closed};

static bool ft_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  duo_t *d = rasio_tcp_listener_data(l);
  duo_take(d, c, &ft_srv_cb);
  return true;
}

static void ft_setup(void *ctx) {
  ft_t *f = ctx;
  duo_listen(&f->d, ft_accepted, 0);
  flooder_start(&f->fl, (uint16_t)atoi(f->d.port), false);
  f->tick = nf_tick(&f->d.nf, FT_PERIOD_MS, ft_tick, f);
}

TEST(net_tcp_flooding_peer_does_not_starve_timer) {
  ft_t *f = calloc(1, sizeof *f);
  CHECK(f != NULL);
  nf_init(&f->d.nf, false);
  nf_run(&f->d.nf, ft_setup, f, NF_DEADLINE_MS, duo_deadline);
  flooder_join(&f->fl);
  CHECK_GE(f->during, FT_WANT);
  CHECK_EQ(f->d.srv_closed, 1);
  CHECK_GT(f->d.srv_got, 0);
  nf_end(&f->d.nf);
  free(f);
}

/* --- bad arguments never crash and create nothing ----------------------------------------- */

TEST(net_tcp_bad_arguments) {
  nf_t nf;
  nf_init(&nf, false);
  rasio_tcp_t *c = (rasio_tcp_t *)&nf;
  CHECK_ERR(rasio_tcp_connect(NULL, "127.0.0.1", "1", NULL, &c), RASIO_EINVAL);
  CHECK(c == NULL);
  c = (rasio_tcp_t *)&nf;
  CHECK_ERR(rasio_tcp_connect(nf.loop, NULL, "1", NULL, &c), RASIO_EINVAL);
  CHECK(c == NULL);
  CHECK_ERR(rasio_tcp_connect(nf.loop, "127.0.0.1", NULL, NULL, &c), RASIO_EINVAL);
  CHECK_ERR(rasio_tcp_connect(nf.loop, "127.0.0.1", "1", NULL, NULL), RASIO_EINVAL);
  CHECK_ERR(rasio_tcp_write(NULL, "x", 1), RASIO_EINVAL);
  CHECK_ERR(rasio_tcp_writev(NULL, NULL, 0), RASIO_EINVAL);
  CHECK_ERR(rasio_tcp_expect(NULL, 4), RASIO_EINVAL);
  rasio_tcp_mute(NULL);
  rasio_tcp_unmute(NULL);
  rasio_tcp_close(NULL);
  rasio_tcp_hard_close(NULL);
  rasio_tcp_set_callbacks(NULL, &no_cb, NULL);
  CHECK(rasio_tcp_data(NULL) == NULL);
  CHECK(rasio_tcp_fd(NULL) == RASIO_INVALID_FD);
  CHECK_EQ(rasio_tcp_queued(NULL), 0);
  CHECK(!rasio_tcp_throttled(NULL));
  CHECK_EQ(rasio_loop_noisy(nf.loop), 0);
  nf_end(&nf);
}
