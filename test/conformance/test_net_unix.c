/* SPDX-License-Identifier: BSD-2-Clause */
/* Unix domain stream sockets in the net layer (rasio_unix_listen, rasio_unix_connect):
 * the TCP objects on a path. POSIX; on Windows both calls are ENOTSUP (checked, then the
 * rest is skipped).
 */
#include <stdio.h>
#include <stdlib.h>

#include "net_fixture.h"

/* A fresh path under /tmp (short: sun_path holds 104 bytes on the BSDs). */
static void ux_path(char *out, size_t cap) {
  static unsigned seq;
  snprintf(out, cap, "/tmp/rasio-%llx-%u.sock", (unsigned long long)rasio_now_ns(), seq++);
  (void)remove(out);
}

/* Skips (after checking the documented ENOTSUP) where there are no Unix sockets. */
static void ux_require(void) {
  rasio_loop_t *loop = th_loop();
  rasio_tcp_listener_t *l = NULL;
  char path[64];
  ux_path(path, sizeof path);
  int rc = rasio_unix_listen(loop, path, NULL, &l);
  if (rc == RASIO_ENOTSUP) {
    rasio_tcp_t *c = NULL;
    CHECK_ERR(rasio_unix_connect(loop, path, NULL, &c), RASIO_ENOTSUP);
    th_loop_end(loop);
    SKIP("no Unix domain sockets in rasio on this platform (documented ENOTSUP)");
  }
  CHECK_OK(rc);
  rasio_tcp_listener_close(l);
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_QUIET));
  th_loop_end(loop);
  (void)remove(path);
}

typedef struct ux {
  nf_t nf;
  char path[64];
  rasio_tcp_listener_t *l;
  unsigned connected, echoed, srv_closed, cli_closed, listener_closed;
} ux_t;

static bool ux_echo(rasio_tcp_t *c, const void *data, size_t len) {
  CHECK_OK(rasio_tcp_write(c, data, len));
  return true;
}

static void ux_srv_closed(rasio_tcp_t *c) {
  ux_t *t = rasio_tcp_data(c);
  t->srv_closed++;
  rasio_tcp_listener_close(t->l);
}

static void ux_listener_closed(rasio_tcp_listener_t *l) {
  ux_t *t = rasio_tcp_listener_data(l);
  t->listener_closed++;
}

static void ux_connected(rasio_tcp_t *c) {
  ux_t *t = rasio_tcp_data(c);
  t->connected++;
  CHECK_OK(rasio_tcp_write(c, "ping", 4));
}

static bool ux_received(rasio_tcp_t *c, const void *data, size_t len) {
  ux_t *t = rasio_tcp_data(c);
  CHECK_EQ(len, 4);
  CHECK(memcmp(data, "ping", 4) == 0);
  t->echoed++;
  rasio_tcp_close(c);
  return true;
}

static void ux_cli_closed(rasio_tcp_t *c) {
  ux_t *t = rasio_tcp_data(c);
  t->cli_closed++;
}

static const rasio_tcp_cb_t ux_cli_cb = {.connected = ux_connected, .received = ux_received,
                                         .closed = ux_cli_closed};
static const rasio_tcp_cb_t ux_srv_cb = {.received = ux_echo, .closed = ux_srv_closed};
static const rasio_tcp_listener_cb_t ux_l_cb = {.closed = ux_listener_closed};

static void ux_setup(void *ctx) {
  ux_t *t = ctx;
  rasio_tcp_listener_opts_t o = {.cb = &ux_l_cb, .data = t, .mailbox = t->nf.mb,
                                 .conn = {.cb = &ux_srv_cb, .data = t}};
  CHECK_OK(rasio_unix_listen(t->nf.loop, t->path, &o, &t->l));
  rasio_tcp_opts_t co = {.cb = &ux_cli_cb, .data = t, .mailbox = t->nf.mb};
  rasio_tcp_t *c = NULL;
  CHECK_OK(rasio_unix_connect(t->nf.loop, t->path, &co, &c));
  CHECK(c != NULL);
}

static void ux_deadline(void *ctx) {
  ux_t *t = ctx;
  rt_fail(__FILE__, __LINE__, "unix echo not done: connected %u echoed %u", t->connected,
          t->echoed);
}

static void unix_echo_case(bool mailbox) {
  ux_require();
  ux_t *t = calloc(1, sizeof *t);
  CHECK(t != NULL);
  ux_path(t->path, sizeof t->path);
  nf_init(&t->nf, mailbox);
  nf_run(&t->nf, ux_setup, t, NF_DEADLINE_MS, ux_deadline);
  CHECK_EQ(t->connected, 1);
  CHECK_EQ(t->echoed, 1);
  CHECK_EQ(t->srv_closed, 1);
  CHECK_EQ(t->cli_closed, 1);
  CHECK_EQ(t->listener_closed, 1);
  nf_end(&t->nf);
  CHECK_EQ(remove(t->path), 0); /* rasio left the path for the owner to remove */
  free(t);
}

TEST(net_unix_echo) { unix_echo_case(false); }
TEST(net_unix_echo_mailbox) { unix_echo_case(true); }

/* The immediate failures: no such path, a stale socket file, a path too long. */
TEST(net_unix_connect_and_listen_failures) {
  ux_require();
  rasio_loop_t *loop = th_loop();
  char path[64];
  ux_path(path, sizeof path);
  rasio_tcp_t *c = NULL;
  CHECK_ERR(rasio_unix_connect(loop, path, NULL, &c), RASIO_ENOTFOUND);
  rasio_tcp_listener_t *l = NULL;
  CHECK_OK(rasio_unix_listen(loop, path, NULL, &l));
  rasio_tcp_listener_close(l);
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_QUIET)); /* closed: the file stays */
  CHECK_ERR(rasio_unix_connect(loop, path, NULL, &c), RASIO_ECONNREFUSED);
  CHECK_ERR(rasio_unix_listen(loop, path, NULL, &l), RASIO_EADDRINUSE);
  CHECK(l == NULL);
  CHECK_EQ(remove(path), 0);
  char longpath[300];
  memset(longpath, 'a', sizeof longpath - 1);
  longpath[0] = '/';
  longpath[sizeof longpath - 1] = '\0';
  CHECK_ERR(rasio_unix_listen(loop, longpath, NULL, &l), RASIO_EINVAL);
  CHECK_ERR(rasio_unix_connect(loop, longpath, NULL, &c), RASIO_EINVAL);
  CHECK_EQ(rasio_loop_noisy(loop), 0);
  th_loop_end(loop);
}
