/* SPDX-License-Identifier: BSD-2-Clause */
/* A connection whose owner stops reading must not stop the others. On a backend that
 * receives into buffers of its own (io_uring's completion streams) a muted connection
 * whose peer keeps sending would otherwise take every buffer, and every other connection
 * of the loop would wait for one; with a kernel's readiness it is the kernel's buffers
 * that fill, per socket. Every backend must pass: the test only uses the net API.
 */
#include <stdlib.h>
#include <string.h>

#include "net_fixture.h"

enum { PIN_ROUNDS = 200, PIN_MSG = 64, PIN_FLOOD_CHUNK = 64 * 1024, PIN_MAX_MUTED = 40 };

typedef struct pin {
  nf_t nf;
  char port[8];
  rasio_tcp_listener_t *l;
  rasio_tcp_t *muted[PIN_MAX_MUTED], *cli;
  int n_muted, accepted;
  unsigned rounds;
  uint64_t got;
  pthread_t flooder;
  atomic_bool stop;
  atomic_size_t flooded;
} pin_t;

/* Raw peers that send to the muted connections as fast as the kernel takes it. */
static void *flood_main(void *arg) {
  pin_t *p = arg;
  static uint8_t chunk[PIN_FLOOD_CHUNK];
  rasio_fd_t fds[PIN_MAX_MUTED];
  for (int i = 0; i < p->n_muted; i++) fds[i] = th_connect_start((uint16_t)atoi(p->port));
  while (!atomic_load(&p->stop)) {
    bool sent = false;
    for (int i = 0; i < p->n_muted; i++) {
      long n = th_send(fds[i], chunk, sizeof chunk);
      if (n > 0) atomic_fetch_add(&p->flooded, (size_t)n);
      sent |= n > 0;
    }
    if (!sent) th_sleep_ms(1); /* connecting, or the buffers are full */
  }
  for (int i = 0; i < p->n_muted; i++) th_close(fds[i]);
  return NULL;
}

static void pin_deadline(void *ctx) {
  pin_t *p = ctx;
  atomic_store(&p->stop, true);
  rt_fail(__FILE__, __LINE__, "deadline: accepted %d rounds %u flooded %zu", p->accepted,
          p->rounds, atomic_load(&p->flooded));
}

static void pin_ping(pin_t *p) {
  uint8_t msg[PIN_MSG];
  nf_fill(msg, sizeof msg, 7, (uint64_t)p->rounds * PIN_MSG);
  CHECK_OK(rasio_tcp_write(p->cli, msg, sizeof msg));
}

static void pin_done(pin_t *p) {
  atomic_store(&p->stop, true);
  for (int i = 0; i < p->n_muted; i++) rasio_tcp_hard_close(p->muted[i]);
  rasio_tcp_hard_close(p->cli);
  rasio_tcp_listener_close(p->l);
}

static bool cli_received(rasio_tcp_t *c, const void *data, size_t len) {
  pin_t *p = rasio_tcp_data(c);
  NF_VERIFY(data, len, 7, p->got);
  p->got += len;
  if (p->got < (uint64_t)(p->rounds + 1) * PIN_MSG) return true;
  if (++p->rounds == PIN_ROUNDS) pin_done(p);
  else pin_ping(p);
  return true;
}

static void cli_connected(rasio_tcp_t *c) { pin_ping(rasio_tcp_data(c)); }

static const rasio_tcp_cb_t cli_cb = {.connected = cli_connected, .received = cli_received};

static bool echo(rasio_tcp_t *c, const void *data, size_t len) {
  CHECK_OK(rasio_tcp_write(c, data, len));
  return true;
}

static const rasio_tcp_cb_t echo_cb = {.received = echo};
static const rasio_tcp_cb_t muted_cb = {0};

/* The flooders' connections come first and are muted; once the flood has filled what the
 * loop may hold for them, the pinging client connects and must get all its echoes. */
static void pin_connect(void *ctx) {
  pin_t *p = ctx;
  p->cli = nf_connect(&p->nf, "127.0.0.1", p->port, &cli_cb, p, 0);
}

static bool pin_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  pin_t *p = rasio_tcp_listener_data(l);
  NF_ON_EXECUTOR();
  if (p->accepted < p->n_muted) {
    p->muted[p->accepted++] = c;
    rasio_tcp_set_callbacks(c, &muted_cb, p);
    rasio_tcp_mute(c);
    if (p->accepted == p->n_muted) (void)nf_tick(&p->nf, 300, pin_connect, p);
  } else {
    p->accepted++;
    rasio_tcp_set_callbacks(c, &echo_cb, p);
  }
  return true;
}

static const rasio_tcp_listener_cb_t pin_l_cb = {.accepted = pin_accepted};

static void pin_setup(void *ctx) {
  pin_t *p = ctx;
  p->l = nf_listen(&p->nf, &pin_l_cb, p, 0, NULL, p->port);
  p->flooder = th_thread_start(flood_main, p);
}

static void pin_case(bool mailbox, int n_muted) {
  pin_t *p = calloc(1, sizeof *p);
  CHECK(p != NULL);
  p->n_muted = n_muted;
  nf_init(&p->nf, mailbox);
  nf_run(&p->nf, pin_setup, p, NF_DEADLINE_MS, pin_deadline);
  th_thread_join(p->flooder);
  CHECK_EQ(p->rounds, PIN_ROUNDS);
  /* The flood was real: more than what a stream may hold and a socket buffers together. */
  CHECK_GT(atomic_load(&p->flooded), (size_t)PIN_FLOOD_CHUNK);
  nf_end(&p->nf);
  free(p);
}

TEST(net_muted_connection_under_a_flood_does_not_stop_the_others) { pin_case(false, 1); }
TEST(net_muted_connection_under_a_flood_does_not_stop_the_others_mailbox) {
  pin_case(true, 1);
}

/* More muted connections than a uring loop's buffers divided by what one stream may hold
 * (256 / 16): between them they would hold every buffer. */
TEST(net_many_muted_connections_under_a_flood_do_not_stop_the_others) { pin_case(false, 24); }
TEST(net_many_muted_connections_under_a_flood_do_not_stop_the_others_mailbox) {
  pin_case(true, 24);
}
