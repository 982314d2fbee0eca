/* SPDX-License-Identifier: BSD-2-Clause */
/* The bad-argument sweep (args.h), continued: the rows of the functions issue 12's API gaps
 * 4-6 added (rasio_loop_call, rasio_event_set_interval, ...). */
#include <signal.h>
#include <string.h>

#include "args.h"

static void sw_nop_call(void *arg) { (void)arg; }

SWEEP(rasio_loop_call) {
  SW_ERR("NULL loop", rasio_loop_call(NULL, sw_nop_call, NULL), RASIO_EINVAL);
  rasio_loop_t *loop = th_loop();
  SW_ERR("NULL fn", rasio_loop_call(loop, NULL, NULL), RASIO_EINVAL);
  SW_ERR("nothing queued by the bad call: free works", rasio_loop_free(loop), RASIO_OK);
}

SWEEP(rasio_event_set_interval) {
  SW_ERR("NULL event", rasio_event_set_interval(NULL, 1), RASIO_EINVAL);
  rasio_loop_t *loop = th_loop();
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  probe_t fp, p;
  rasio_event_t *fev = sw_fd_event(loop, &fp, a, NULL);
  SW_ERR("a socket event", rasio_event_set_interval(fev, 1000), RASIO_EINVAL);
  sw_fd_works("the socket event still delivers", loop, NULL, &fp, b);
  sw_dispose(loop, NULL, &fp, fev);

  rasio_event_t *ev = sw_timer_event(loop, &p, UINT64_MAX, NULL);
  SW_ERR("UINT64_MAX period on a timer that never fires", rasio_event_set_interval(ev, UINT64_MAX),
         RASIO_OK);
  sw_timer_works("the timer still fires", loop, NULL, &p, ev);
  SW_ERR("period 0 (one-shot again)", rasio_event_set_interval(ev, 0), RASIO_OK);
  p.keep = true;
  CHECK_OK(rasio_event_unsubscribe(ev));
  SW_ERR("after unsubscribe", rasio_event_set_interval(ev, 1000), RASIO_ESTATE);
  CHECK(sw_wait(loop, NULL, &p.disposed, 1));
  SW_ERR("after DISPOSED", rasio_event_set_interval(ev, 1000), RASIO_ESTATE);
  CHECK_OK(rasio_event_destroy(ev));
  th_close(a);
  th_close(b);
  th_loop_end(loop);
}

SWEEP(rasio_os_error) {
  SW_TRUE("no argument to get wrong: returns without failing", rasio_os_error() != RASIO_EOS);
}

SWEEP(rasio_version) {
  SW_TRUE("no argument: a static version string", rasio_version() != NULL &&
                                                      strchr(rasio_version(), '.') != NULL);
}

SWEEP(rasio_version_hex) {
  SW_TRUE("no argument: the header's number", rasio_version_hex() == RASIO_VERSION_HEX);
}

SWEEP(rasio_addr_from_sockaddr) {
  rasio_addr_t good, out;
  CHECK_OK(rasio_addr_parse("127.0.0.1", 80, &good));
  unsigned char sa[sizeof good.u.raw];
  size_t len = 0;
  CHECK_OK(rasio_addr_to_sockaddr(&good, sa, sizeof sa, &len));
  memset(&out, 0x5a, sizeof out);
  SW_ERR("NULL sa", rasio_addr_from_sockaddr(NULL, len, &out), RASIO_EINVAL);
  SW_ERR("NULL out", rasio_addr_from_sockaddr(sa, len, NULL), RASIO_EINVAL);
  SW_ERR("len 0", rasio_addr_from_sockaddr(sa, 0, &out), RASIO_EINVAL);
  SW_ERR("len one short", rasio_addr_from_sockaddr(sa, len - 1, &out), RASIO_EINVAL);
  SW_TRUE("out untouched by every bad call", out.len == 0x5a5a5a5au);
  unsigned char zero[sizeof good.u.raw] = {0};
  SW_ERR("family 0", rasio_addr_from_sockaddr(zero, sizeof zero, &out), RASIO_EAFNOSUPPORT);
  SW_ERR("the good one still converts", rasio_addr_from_sockaddr(sa, len, &out), RASIO_OK);
  SW_TRUE("same port", rasio_addr_port(&out) == 80);
}

SWEEP(rasio_addr_to_sockaddr) {
  rasio_addr_t good, empty;
  CHECK_OK(rasio_addr_parse("::1", 80, &good));
  memset(&empty, 0, sizeof empty);
  unsigned char sa[sizeof good.u.raw];
  size_t len = 0;
  SW_ERR("NULL addr", rasio_addr_to_sockaddr(NULL, sa, sizeof sa, &len), RASIO_EINVAL);
  SW_ERR("NULL sa", rasio_addr_to_sockaddr(&good, NULL, sizeof sa, &len), RASIO_EINVAL);
  SW_ERR("NULL len", rasio_addr_to_sockaddr(&good, sa, sizeof sa, NULL), RASIO_EINVAL);
  SW_ERR("empty address", rasio_addr_to_sockaddr(&empty, sa, sizeof sa, &len), RASIO_EINVAL);
  rasio_addr_t huge = good;
  huge.len = UINT32_MAX;
  SW_ERR("length past the storage", rasio_addr_to_sockaddr(&huge, sa, sizeof sa, &len),
         RASIO_EINVAL);
  SW_ERR("cap 0", rasio_addr_to_sockaddr(&good, sa, 0, &len), RASIO_EINVAL);
  SW_TRUE("cap 0 still says the size needed", len > 0 && len <= sizeof sa);
  SW_ERR("the good one still converts", rasio_addr_to_sockaddr(&good, sa, sizeof sa, &len),
         RASIO_OK);
}

static void sw_log_sink(const char *line, void *ctx) {
  (void)line;
  (*(unsigned *)ctx)++;
}

SWEEP(rasio_set_log) {
  unsigned lines = 0;
  rasio_set_log(NULL, NULL);
  SW_TRUE("NULL fn: back to the default, no crash", true);
  rasio_set_log(sw_log_sink, &lines);
  rasio_loop_t *loop = th_loop();
  SW_TRUE("a receiver set after NULL receives", lines > 0);
  rasio_set_log(NULL, NULL);
  th_loop_end(loop);
}

SWEEP(rasio_loop_dump) {
  SW_ERR("NULL loop", rasio_loop_dump(NULL), RASIO_EINVAL);
  rasio_loop_t *loop = th_loop();
  SW_ERR("an empty loop, no receiver", rasio_loop_dump(loop), RASIO_OK);
  th_loop_end(loop);
}

SWEEP(rasio_sock_listen_tcp_reuseport) {
  rasio_fd_t out = 5;
  SW_ERR("NULL port", rasio_sock_listen_tcp_reuseport("127.0.0.1", NULL, 0, &out, NULL),
         RASIO_EINVAL);
  SW_TRUE("NULL port: *out = RASIO_INVALID_FD", out == RASIO_INVALID_FD);
  SW_ERR("NULL out", rasio_sock_listen_tcp_reuseport("127.0.0.1", "0", 0, NULL, NULL),
         RASIO_EINVAL);
  SW_ERR("family 5", rasio_sock_listen_tcp_reuseport("127.0.0.1", "0", 5, &out, NULL),
         RASIO_EINVAL);
  out = RASIO_INVALID_FD;
  SW_ERR("port \"99999\"", rasio_sock_listen_tcp_reuseport("127.0.0.1", "99999", 0, &out, NULL),
         RASIO_EINVAL);
  if (out != RASIO_INVALID_FD) (void)rasio_sock_close(out);
  int rc = rasio_sock_listen_tcp_reuseport("127.0.0.1", "0", RASIO_AF_INET4, &out, NULL);
  SW_TRUE("a good call: 0, or ENOTSUP (Windows) with nothing open",
          (rc == 0 && out != RASIO_INVALID_FD) || (rc == RASIO_ENOTSUP && out == RASIO_INVALID_FD));
  if (rc == 0) CHECK_OK(rasio_sock_close(out));
}

static bool sw_refuse_all(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  (void)l;
  (void)c;
  return false;
}

SWEEP(rasio_tcp_listen_fd) {
  rasio_loop_t *loop = th_loop();
  uint16_t port;
  rasio_fd_t lfd = th_listener(&port);
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  rasio_tcp_listener_t *l = SW_SENTINEL;
  SW_ERR("NULL loop", rasio_tcp_listen_fd(NULL, lfd, NULL, &l), RASIO_EINVAL);
  SW_TRUE("NULL loop: *out = NULL", l == NULL);
  SW_ERR("NULL out", rasio_tcp_listen_fd(loop, lfd, NULL, NULL), RASIO_EINVAL);
  rasio_tcp_listener_opts_t o = {.reuseport = true};
  SW_ERR("reuseport (bound already)", rasio_tcp_listen_fd(loop, lfd, &o, &l), RASIO_EINVAL);
  rasio_mailbox_t *mb;
  CHECK_OK(rasio_mailbox_new(&mb));
  o = (rasio_tcp_listener_opts_t){.conn = {.mailbox = mb}};
  SW_ERR("conn.mailbox not the listener's", rasio_tcp_listen_fd(loop, lfd, &o, &l), RASIO_EINVAL);
  CHECK_OK(rasio_mailbox_free(mb));
  SW_ERR("a connected socket", rasio_tcp_listen_fd(loop, a, NULL, &l), RASIO_EINVAL);
  SW_ERR("RASIO_INVALID_FD", rasio_tcp_listen_fd(loop, RASIO_INVALID_FD, NULL, &l), RASIO_EBADF);
  SW_ERR("a closed fd", rasio_tcp_listen_fd(loop, th_closed_fd(), NULL, &l), RASIO_EBADF);
  SW_TRUE("nothing was created", rasio_loop_noisy(loop) == 0);
  /* The listening socket is still the caller's and good: wrapped now, it works. */
  static const rasio_tcp_listener_cb_t refuse = {.accepted = sw_refuse_all};
  o = (rasio_tcp_listener_opts_t){.cb = &refuse};
  SW_ERR("the good socket after the bad calls", rasio_tcp_listen_fd(loop, lfd, &o, &l), RASIO_OK);
  if (l != NULL && l != SW_SENTINEL) rasio_tcp_listener_close(l);
  uint64_t end = th_now_ms() + SW_WAIT_MS;
  while (rasio_loop_noisy(loop) > 0 && th_now_ms() < end)
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  th_close(a);
  th_close(b);
  th_loop_end(loop); /* the listener closed lfd: it was its own */
}

SWEEP(rasio_tcp_adopt) {
  rasio_loop_t *loop = th_loop();
  uint16_t port;
  rasio_fd_t lfd = th_listener(&port);
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  rasio_tcp_t *c = SW_SENTINEL;
  SW_ERR("NULL loop", rasio_tcp_adopt(NULL, a, NULL, &c), RASIO_EINVAL);
  SW_TRUE("NULL loop: *out = NULL", c == NULL);
  SW_ERR("NULL out", rasio_tcp_adopt(loop, a, NULL, NULL), RASIO_EINVAL);
  rasio_tcp_opts_t o = {.read_size = (size_t)PTRDIFF_MAX + 1};
  SW_ERR("read_size above PTRDIFF_MAX", rasio_tcp_adopt(loop, a, &o, &c), RASIO_EINVAL);
  SW_ERR("a listening socket", rasio_tcp_adopt(loop, lfd, NULL, &c), RASIO_EINVAL);
  SW_ERR("RASIO_INVALID_FD", rasio_tcp_adopt(loop, RASIO_INVALID_FD, NULL, &c), RASIO_EBADF);
  SW_ERR("a closed fd", rasio_tcp_adopt(loop, th_closed_fd(), NULL, &c), RASIO_EBADF);
  uint16_t udp_port;
  rasio_fd_t u = th_udp(&udp_port);
  SW_ERR("a UDP socket", rasio_tcp_adopt(loop, u, NULL, &c), RASIO_EINVAL);
  th_close(u);
  SW_TRUE("nothing was created", rasio_loop_noisy(loop) == 0);
  /* The caller's socket is untouched by all that: adopted now, the connection closes it. */
  SW_ERR("the good socket after the bad calls", rasio_tcp_adopt(loop, a, NULL, &c), RASIO_OK);
  if (c != NULL && c != SW_SENTINEL) rasio_tcp_hard_close(c);
  uint64_t end = th_now_ms() + SW_WAIT_MS;
  while (rasio_loop_noisy(loop) > 0 && th_now_ms() < end)
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  th_close(b);
  th_close(lfd);
  th_loop_end(loop);
}

SWEEP(rasio_tcp_listener_close_connections) {
  rasio_tcp_listener_close_connections(NULL, false);
  rasio_tcp_listener_close_connections(NULL, true);
  SW_TRUE("NULL: nothing, no crash", true);
  /* A listener that never had a connection: nothing to close, and it still accepts. */
  rasio_loop_t *loop = th_loop();
  rasio_tcp_listener_t *l = NULL;
  CHECK_OK(rasio_tcp_listen(loop, "127.0.0.1", "0", RASIO_AF_INET4, NULL, &l));
  rasio_tcp_listener_close_connections(l, false);
  rasio_addr_t a;
  SW_ERR("no connection yet: the listener is untouched", rasio_tcp_listener_addr(l, &a), RASIO_OK);
  rasio_tcp_listener_close(l);
  uint64_t end = th_now_ms() + SW_WAIT_MS;
  while (rasio_loop_noisy(loop) > 0 && th_now_ms() < end)
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  th_loop_end(loop);
}

SWEEP(rasio_tcp_listener_connections) {
  SW_TRUE("NULL: 0", rasio_tcp_listener_connections(NULL) == 0);
}

SWEEP(rasio_unix_listen) {
  rasio_loop_t *loop = th_loop();
  rasio_tcp_listener_t *l = SW_SENTINEL;
  SW_ERR("NULL loop", rasio_unix_listen(NULL, "/tmp/x", NULL, &l), RASIO_EINVAL);
  SW_TRUE("NULL loop: *out = NULL", l == NULL);
  SW_ERR("NULL path", rasio_unix_listen(loop, NULL, NULL, &l), RASIO_EINVAL);
  SW_ERR("NULL out", rasio_unix_listen(loop, "/tmp/x", NULL, NULL), RASIO_EINVAL);
  rasio_tcp_listener_opts_t o = {.reuseport = true};
  SW_ERR("reuseport", rasio_unix_listen(loop, "/tmp/x", &o, &l), RASIO_EINVAL);
  int rc = rasio_unix_listen(loop, "", NULL, &l);
  SW_TRUE("empty path: EINVAL (ENOTSUP on Windows)", rc == RASIO_EINVAL || rc == RASIO_ENOTSUP);
  SW_TRUE("nothing was created", rasio_loop_noisy(loop) == 0);
  th_loop_end(loop);
}

SWEEP(rasio_unix_connect) {
  rasio_loop_t *loop = th_loop();
  rasio_tcp_t *c = SW_SENTINEL;
  SW_ERR("NULL loop", rasio_unix_connect(NULL, "/tmp/x", NULL, &c), RASIO_EINVAL);
  SW_TRUE("NULL loop: *out = NULL", c == NULL);
  SW_ERR("NULL path", rasio_unix_connect(loop, NULL, NULL, &c), RASIO_EINVAL);
  SW_ERR("NULL out", rasio_unix_connect(loop, "/tmp/x", NULL, NULL), RASIO_EINVAL);
  rasio_tcp_opts_t o = {.read_size = (size_t)PTRDIFF_MAX + 1};
  SW_ERR("read_size above PTRDIFF_MAX", rasio_unix_connect(loop, "/tmp/x", &o, &c), RASIO_EINVAL);
  int rc = rasio_unix_connect(loop, "", NULL, &c);
  SW_TRUE("empty path: EINVAL (ENOTSUP on Windows)", rc == RASIO_EINVAL || rc == RASIO_ENOTSUP);
  SW_TRUE("nothing was created", rasio_loop_noisy(loop) == 0);
  th_loop_end(loop);
}
