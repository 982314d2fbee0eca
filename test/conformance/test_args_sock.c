/* SPDX-License-Identifier: BSD-2-Clause */
/* The bad-argument sweep (args.h) of the socket layer: I/O calls, listen, connect, socket
 * options and addresses.
 *
 * Descriptors: -1, INT_MAX + 5, (1 << 32) + a live socket (which a truncation to int would
 * turn into that socket), a closed one, a regular file and a pipe are all EBADF for calls
 * that take a socket ("not a socket" is EBADF in rasio's error map); after them the live
 * socket still carries data.
 * Sizes: no object is larger than PTRDIFF_MAX, so a length of SIZE_MAX is a caller's bug
 * that must not reach the kernel (which would read or write past the buffer): EINVAL.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

/* --- fixtures ---------------------------------------------------------------------------- */

/* A connected pair whose end `a` has a oneshot READ event (drained and re-armed by p). */
typedef struct pair {
  rasio_loop_t *loop;
  rasio_fd_t a, b;
  probe_t p;
  rasio_event_t *ev;
} pair_t;

static void pair_open(pair_t *s) {
  s->loop = th_loop();
  th_tcp_pair(&s->a, &s->b);
  s->ev = sw_fd_event(s->loop, &s->p, s->a, NULL);
}

/* The row that shows the pair still carries bytes both ways. */
static void pair_works(pair_t *s, const char *what) {
  sw_fd_works(what, s->loop, NULL, &s->p, s->b);
  size_t n = 0;
  SW_IO(what, rasio_sock_send(s->ev, "y", 1, &n), RASIO_IO_OK, 0);
  char c = 0;
  uint64_t end = th_now_ms() + th_scaled_ms(SW_WAIT_MS);
  while (th_recv(s->b, &c, 1) != 1 && th_now_ms() < end) th_sleep_ms(1);
  SW_TRUE(what, c == 'y');
}

static void pair_close(pair_t *s) {
  sw_dispose(s->loop, NULL, &s->p, s->ev);
  th_close(s->a);
  th_close(s->b);
  th_loop_end(s->loop);
}

/* An IPv4 loopback address on port (any socket's family, the same on every OS). */
static rasio_addr_t addr4(uint16_t port) {
  rasio_addr_t a;
  CHECK_OK(rasio_addr_parse("127.0.0.1", port, &a));
  return a;
}

/* The same address with an unknown family (5). The family's bytes are found rather than
 * known: the value 2 (AF_INET everywhere) in the first two bytes, whether the layout is
 * Linux/Windows (16-bit family first) or BSD (length byte, then family byte). */
static rasio_addr_t addr_family5(void) {
  rasio_addr_t a = addr4(80);
  bool done = false;
  for (int i = 0; i < 2 && !done; i++)
    if (a.u.raw[i] == 2) a.u.raw[i] = 5, done = true;
  CHECK(done);
  return a;
}

/* --- descriptors ------------------------------------------------------------------------- */

typedef int (*fd_call_t)(rasio_fd_t fd);

/* Every bad descriptor is EBADF for call; the live socket `live` is not touched (a
 * truncation of (1 << 32) + live would name it). */
static void bad_fds(fd_call_t call, rasio_fd_t live, bool not_sockets) {
  SW_ERR("fd -1", call(RASIO_INVALID_FD), RASIO_EBADF);
  SW_ERR("fd -5", call(-5), RASIO_EBADF);
  SW_ERR("a closed fd", call(th_closed_fd()), RASIO_EBADF);
  if (sw_fd_above_int(0) != RASIO_INVALID_FD) {
    SW_ERR("fd INT_MAX + 5", call((rasio_fd_t)INT_MAX + 5), RASIO_EBADF);
    SW_ERR("fd (1 << 32) + a live socket", call(sw_fd_above_int(live)), RASIO_EBADF);
  }
  if (!not_sockets) return;
  /* Windows answers WSAENOTSOCK for a handle that is no socket; Wine 8 answers an
   * "operation not supported" for a file or pipe handle instead, so there the rows would
   * only measure Wine. */
  if (th_under_wine()) {
    printf("skipped under Wine: a regular file and a pipe (Wine says ENOTSUP, not ENOTSOCK)\n");
    return;
  }
  rasio_fd_t file = th_file_fd();
  SW_ERR("a regular file", call(file), RASIO_EBADF);
  th_close_other(file);
  rasio_fd_t rd, wr;
  th_pipe(&rd, &wr);
  SW_ERR("a pipe", call(rd), RASIO_EBADF);
  th_close_other(rd);
  th_close_other(wr);
}

/* bad_fds on a live pair, which must still work afterwards. */
static void sweep_fd_call_on(fd_call_t call, bool not_sockets) {
  pair_t s;
  pair_open(&s);
  bad_fds(call, s.a, not_sockets);
  pair_works(&s, "the live socket still works");
  pair_close(&s);
}

static void sweep_fd_call(fd_call_t call) { sweep_fd_call_on(call, true); }

/* ======================================================================================== *
 * I/O
 * ======================================================================================== */

static void *last_error_thread(void *arg) {
  (void)arg;
  size_t n;
  char c;
  (void)rasio_sock_recv(NULL, &c, 1, &n); /* EINVAL on this thread */
  return NULL;
}

SWEEP(rasio_sock_last_error) {
  pair_t s;
  pair_open(&s);
  char buf[8];
  size_t n;
  (void)rasio_sock_recv(s.ev, buf, 0, &n); /* EINVAL */
  CHECK_EQ(rasio_sock_last_error(), RASIO_EINVAL);
  (void)rasio_sock_accept(s.ev, &(rasio_fd_t){0}, NULL); /* not a listener */
  int mine = rasio_sock_last_error();
  th_thread_join(th_thread_start(last_error_thread, NULL));
  SW_TRUE("another thread's error does not change this thread's", rasio_sock_last_error() == mine);
  pair_close(&s);
}

/* A listening socket with a READ event, and a client connecting to it. */
typedef struct lst {
  rasio_fd_t fd;
  uint16_t port;
  probe_t p;
  rasio_event_t *ev;
} lst_t;

static void lst_open(lst_t *l, rasio_loop_t *loop) {
  l->fd = th_listener(&l->port);
  probe_init(&l->p, RASIO_INVALID_FD, false);
  l->ev = NULL;
  rasio_event_opts_t o = {.fd = l->fd, .flags = RASIO_READ | RASIO_LEVEL, .own_fd = true,
                          .notify = probe_notify, .ctx = &l->p};
  CHECK_OK(rasio_event_new(loop, &o, &l->ev));
}

/* The row that shows the listener still accepts. */
static void lst_works(lst_t *l, rasio_loop_t *loop, const char *what) {
  rasio_fd_t c = th_connect_start(l->port), got = RASIO_INVALID_FD;
  uint64_t end = th_now_ms() + th_scaled_ms(SW_WAIT_MS);
  while (th_now_ms() < end) {
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
    if (rasio_sock_accept(l->ev, &got, NULL) == RASIO_IO_OK) break;
    th_sleep_ms(1);
  }
  SW_TRUE(what, got != RASIO_INVALID_FD);
  if (got != RASIO_INVALID_FD) th_close(got);
  th_close(c);
}

/* I/O with a NULL or non-socket event, shared by every I/O call. */
typedef int (*io_call_t)(rasio_event_t *ev, size_t *count);

static void bad_events(io_call_t call, rasio_loop_t *loop) {
  size_t n = 77;
  SW_IO("NULL event", call(NULL, &n), RASIO_IO_ERROR, RASIO_EINVAL);
  SW_TRUE("NULL event: *count = 0", n == 0);
  probe_t tp;
  rasio_event_t *t = sw_timer_event(loop, &tp, UINT64_MAX, NULL);
  n = 77;
  SW_IO("a timer event", call(t, &n), RASIO_IO_ERROR, RASIO_EINVAL);
  SW_TRUE("a timer event: *count = 0", n == 0);
  sw_dispose(loop, NULL, &tp, t);
}

static char iobuf[256];

static int recv1(rasio_event_t *ev, size_t *n) { return rasio_sock_recv(ev, iobuf, 1, n); }
static int send1(rasio_event_t *ev, size_t *n) { return rasio_sock_send(ev, "z", 1, n); }
static int sendv1(rasio_event_t *ev, size_t *n) {
  rasio_iovec_t v = {"z", 1};
  return rasio_sock_sendv(ev, &v, 1, n);
}
static int recvfrom1(rasio_event_t *ev, size_t *n) {
  return rasio_sock_recvfrom(ev, iobuf, sizeof iobuf, NULL, n);
}
static rasio_addr_t sendto_dest;
static int sendto1(rasio_event_t *ev, size_t *n) {
  return rasio_sock_sendto(ev, "z", 1, &sendto_dest, n);
}

SWEEP(rasio_sock_recv) {
  pair_t s;
  pair_open(&s);
  bad_events(recv1, s.loop);
  char buf[16];
  size_t n = 77;
  SW_IO("NULL count", rasio_sock_recv(s.ev, buf, sizeof buf, NULL), RASIO_IO_ERROR, RASIO_EINVAL);
  SW_IO("NULL buf, len 5", rasio_sock_recv(s.ev, NULL, 5, &n), RASIO_IO_ERROR, RASIO_EINVAL);
  SW_TRUE("NULL buf: *count = 0", n == 0);
  SW_IO("len 0", rasio_sock_recv(s.ev, buf, 0, &n), RASIO_IO_ERROR, RASIO_EINVAL);
  /* Nothing is pending, so even a kernel that takes SIZE_MAX writes nothing here. */
  SW_IO("len SIZE_MAX", rasio_sock_recv(s.ev, buf, SIZE_MAX, &n), RASIO_IO_ERROR, RASIO_EINVAL);
  pair_works(&s, "the stream still works");

  /* A listening socket where a stream is expected: ENOTCONN, and it still accepts. */
  lst_t l;
  lst_open(&l, s.loop);
  SW_IO("a listening socket", rasio_sock_recv(l.ev, buf, sizeof buf, &n), RASIO_IO_ERROR,
        RASIO_ENOTCONN);
  lst_works(&l, s.loop, "the listener still accepts");
  sw_dispose(s.loop, NULL, &l.p, l.ev);
  pair_close(&s);
}

SWEEP(rasio_sock_send) {
  pair_t s;
  pair_open(&s);
  bad_events(send1, s.loop);
  size_t n = 77;
  SW_IO("NULL count", rasio_sock_send(s.ev, "x", 1, NULL), RASIO_IO_ERROR, RASIO_EINVAL);
  SW_IO("NULL buf, len 5", rasio_sock_send(s.ev, NULL, 5, &n), RASIO_IO_ERROR, RASIO_EINVAL);
  SW_TRUE("NULL buf: *count = 0", n == 0);
  n = 77;
  SW_IO("len 0 (sends nothing)", rasio_sock_send(s.ev, "x", 0, &n), RASIO_IO_OK, 0);
  SW_TRUE("len 0: *count = 0", n == 0);
  lst_t l;
  lst_open(&l, s.loop);
  /* Linux says EPIPE, Windows ENOTCONN, Wine ECONNRESET: all mean "no connected stream
   * here". */
  int r = rasio_sock_send(l.ev, "x", 1, &n), err = rasio_sock_last_error();
  SW_TRUE("a listening socket: IO_ERROR, ENOTCONN, EPIPE or ECONNRESET",
          r == RASIO_IO_ERROR &&
              (err == RASIO_ENOTCONN || err == RASIO_EPIPE || err == RASIO_ECONNRESET));
  lst_works(&l, s.loop, "the listener still accepts");
  sw_dispose(s.loop, NULL, &l.p, l.ev);
  pair_works(&s, "the stream still works");
  /* Last: a kernel that takes SIZE_MAX reads past the buffer (sending what follows it). */
  SW_IO("len SIZE_MAX", rasio_sock_send(s.ev, "x", SIZE_MAX, &n), RASIO_IO_ERROR, RASIO_EINVAL);
  pair_close(&s);
}

SWEEP(rasio_sock_sendv) {
  pair_t s;
  pair_open(&s);
  bad_events(sendv1, s.loop);
  size_t n = 77;
  rasio_iovec_t one = {"x", 1};
  SW_IO("NULL count", rasio_sock_sendv(s.ev, &one, 1, NULL), RASIO_IO_ERROR, RASIO_EINVAL);
  SW_IO("NULL iov, iovcnt 1", rasio_sock_sendv(s.ev, NULL, 1, &n), RASIO_IO_ERROR, RASIO_EINVAL);
  SW_TRUE("NULL iov: *count = 0", n == 0);
  n = 77;
  SW_IO("iovcnt 0 (sends nothing)", rasio_sock_sendv(s.ev, NULL, 0, &n), RASIO_IO_OK, 0);
  SW_TRUE("iovcnt 0: *count = 0", n == 0);
  static rasio_iovec_t many[1025];
  for (size_t i = 0; i < 1025; i++) many[i] = (rasio_iovec_t){"m", 1};
  SW_IO("iovcnt 1025", rasio_sock_sendv(s.ev, many, 1025, &n), RASIO_IO_ERROR, RASIO_EINVAL);
  rasio_iovec_t nullbase[2] = {{"x", 1}, {NULL, 5}};
  SW_IO("a segment with NULL base and len 5", rasio_sock_sendv(s.ev, nullbase, 2, &n),
        RASIO_IO_ERROR, RASIO_EINVAL);
  rasio_iovec_t overflow[2] = {{"x", SIZE_MAX}, {"y", 2}};
  SW_IO("lengths whose sum overflows size_t", rasio_sock_sendv(s.ev, overflow, 2, &n),
        RASIO_IO_ERROR, RASIO_EINVAL);
  (void)th_drain(s.b); /* whatever a failing row above let through */
  pair_works(&s, "the stream still works");
  rasio_iovec_t huge[1] = {{"x", SIZE_MAX}};
  SW_IO("a segment of SIZE_MAX", rasio_sock_sendv(s.ev, huge, 1, &n), RASIO_IO_ERROR,
        RASIO_EINVAL);
  pair_close(&s);
}

/* A UDP socket with a oneshot READ event. */
typedef struct udp {
  rasio_fd_t fd;
  uint16_t port;
  probe_t p;
  rasio_event_t *ev;
} udp_t;

static void udp_open(udp_t *u, rasio_loop_t *loop) {
  u->fd = th_udp(&u->port);
  probe_init(&u->p, RASIO_INVALID_FD, false);
  u->ev = NULL;
  rasio_event_opts_t o = {.fd = u->fd, .flags = RASIO_READ | RASIO_ONESHOT, .own_fd = true,
                          .notify = probe_notify, .ctx = &u->p};
  CHECK_OK(rasio_event_new(loop, &o, &u->ev));
}

/* The row that shows a UDP socket still sends to itself and receives it. */
static void udp_works(udp_t *u, rasio_loop_t *loop, const char *what) {
  rasio_addr_t self = addr4(u->port);
  size_t n = 0;
  SW_IO(what, rasio_sock_sendto(u->ev, "d", 1, &self, &n), RASIO_IO_OK, 0);
  char buf[8] = {0};
  int r = RASIO_IO_RETRY;
  uint64_t end = th_now_ms() + th_scaled_ms(SW_WAIT_MS);
  while (r == RASIO_IO_RETRY && th_now_ms() < end) {
    r = rasio_sock_recvfrom(u->ev, buf, sizeof buf, NULL, &n);
    if (r != RASIO_IO_RETRY) break;
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
    th_sleep_ms(1);
  }
  SW_TRUE(what, r == RASIO_IO_OK && n == 1 && buf[0] == 'd');
}

SWEEP(rasio_sock_recvfrom) {
  rasio_loop_t *loop = th_loop();
  bad_events(recvfrom1, loop);
  udp_t u;
  udp_open(&u, loop);
  char buf[16];
  size_t n = 77;
  SW_IO("NULL count", rasio_sock_recvfrom(u.ev, buf, sizeof buf, NULL, NULL), RASIO_IO_ERROR,
        RASIO_EINVAL);
  SW_IO("NULL buf, len 5", rasio_sock_recvfrom(u.ev, NULL, 5, NULL, &n), RASIO_IO_ERROR,
        RASIO_EINVAL);
  SW_TRUE("NULL buf: *count = 0", n == 0);
  SW_IO("len SIZE_MAX", rasio_sock_recvfrom(u.ev, buf, SIZE_MAX, NULL, &n), RASIO_IO_ERROR,
        RASIO_EINVAL);
  udp_works(&u, loop, "the socket still works");
  sw_dispose(loop, NULL, &u.p, u.ev);
  th_loop_end(loop);
}

SWEEP(rasio_sock_sendto) {
  rasio_loop_t *loop = th_loop();
  sendto_dest = addr4(9);
  bad_events(sendto1, loop);
  udp_t u;
  udp_open(&u, loop);
  rasio_addr_t to = addr4(u.port);
  size_t n = 77;
  SW_IO("NULL count", rasio_sock_sendto(u.ev, "x", 1, &to, NULL), RASIO_IO_ERROR, RASIO_EINVAL);
  SW_IO("NULL buf, len 5", rasio_sock_sendto(u.ev, NULL, 5, &to, &n), RASIO_IO_ERROR,
        RASIO_EINVAL);
  SW_IO("NULL to", rasio_sock_sendto(u.ev, "x", 1, NULL, &n), RASIO_IO_ERROR, RASIO_EINVAL);
  rasio_addr_t empty = {.len = 0};
  SW_IO("an empty address", rasio_sock_sendto(u.ev, "x", 1, &empty, &n), RASIO_IO_ERROR,
        RASIO_EINVAL);
  rasio_addr_t f5 = addr_family5();
  SW_IO("address family 5", rasio_sock_sendto(u.ev, "x", 1, &f5, &n), RASIO_IO_ERROR,
        RASIO_EAFNOSUPPORT);
  /* Malformed lengths are EINVAL, as the kernel has it for a short sockaddr. */
  rasio_addr_t shortlen = to;
  shortlen.len = 4;
  SW_IO("an IPv4 address of length 4", rasio_sock_sendto(u.ev, "x", 1, &shortlen, &n),
        RASIO_IO_ERROR, RASIO_EINVAL);
  rasio_addr_t longlen = to;
  longlen.len = sizeof longlen.u.raw + 1;
  SW_IO("a length beyond rasio_addr_t", rasio_sock_sendto(u.ev, "x", 1, &longlen, &n),
        RASIO_IO_ERROR, RASIO_EINVAL);
  rasio_addr_t v6;
  CHECK_OK(rasio_addr_parse("::1", u.port, &v6));
  SW_IO("an IPv6 address on an IPv4 socket", rasio_sock_sendto(u.ev, "x", 1, &v6, &n),
        RASIO_IO_ERROR, RASIO_EAFNOSUPPORT);
  static char big[70000];
  SW_IO("a 70,000-byte datagram", rasio_sock_sendto(u.ev, big, sizeof big, &to, &n),
        RASIO_IO_ERROR, RASIO_EMSGSIZE);
  /* Longer than any object (PTRDIFF_MAX): a bad argument on every I/O call, refused
   * before the system call, rather than whatever the OS's type for lengths makes of it. */
  SW_IO("len SIZE_MAX", rasio_sock_sendto(u.ev, big, SIZE_MAX, &to, &n), RASIO_IO_ERROR,
        RASIO_EINVAL);
  udp_works(&u, loop, "the socket still works");
  sw_dispose(loop, NULL, &u.p, u.ev);
  th_loop_end(loop);
}

SWEEP(rasio_sock_accept) {
  pair_t s;
  pair_open(&s);
  rasio_fd_t out = 5;
  SW_IO("NULL listener", rasio_sock_accept(NULL, &out, NULL), RASIO_IO_ERROR, RASIO_EINVAL);
  SW_TRUE("NULL listener: *out = RASIO_INVALID_FD", out == RASIO_INVALID_FD);
  probe_t tp;
  rasio_event_t *t = sw_timer_event(s.loop, &tp, UINT64_MAX, NULL);
  SW_IO("a timer event", rasio_sock_accept(t, &out, NULL), RASIO_IO_ERROR, RASIO_EINVAL);
  sw_dispose(s.loop, NULL, &tp, t);
  lst_t l;
  lst_open(&l, s.loop);
  SW_IO("NULL out", rasio_sock_accept(l.ev, NULL, NULL), RASIO_IO_ERROR, RASIO_EINVAL);
  lst_works(&l, s.loop, "the listener still accepts");
  sw_dispose(s.loop, NULL, &l.p, l.ev);
  /* A connected stream where a listener is expected. */
  out = 5;
  SW_IO("a connected stream", rasio_sock_accept(s.ev, &out, NULL), RASIO_IO_ERROR, RASIO_EINVAL);
  SW_TRUE("a connected stream: *out = RASIO_INVALID_FD", out == RASIO_INVALID_FD);
  pair_works(&s, "the stream still works");
  pair_close(&s);
}

/* ======================================================================================== *
 * Listen and connect
 * ======================================================================================== */

typedef int (*listen_fn)(const char *, const char *, int, rasio_fd_t *, rasio_addr_t *);

static void sweep_listen(listen_fn fn) {
  rasio_fd_t out = 5;
  SW_ERR("NULL port", fn("127.0.0.1", NULL, RASIO_AF_INET4, &out, NULL), RASIO_EINVAL);
  SW_TRUE("NULL port: *out = RASIO_INVALID_FD", out == RASIO_INVALID_FD);
  SW_ERR("NULL out", fn("127.0.0.1", "0", RASIO_AF_INET4, NULL, NULL), RASIO_EINVAL);
  const int families[] = {5, 99, -1, 1};
  for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
    out = 5;
    SW_ERR("family out of range", fn("127.0.0.1", "0", families[i], &out, NULL), RASIO_EINVAL);
    SW_TRUE("family out of range: *out = RASIO_INVALID_FD", out == RASIO_INVALID_FD);
  }
  /* A port out of range is a bad argument, not another port. */
  const char *ports[] = {"99999", "65536"};
  for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
    char what[64];
    snprintf(what, sizeof what, "port \"%s\"", ports[i]);
    out = RASIO_INVALID_FD;
    SW_ERR(what, fn("127.0.0.1", ports[i], RASIO_AF_INET4, &out, NULL), RASIO_EINVAL);
    if (out != RASIO_INVALID_FD) (void)rasio_sock_close(out);
  }
  /* A family the host cannot match. */
  out = 5;
  SW_ERR("an IPv4 host with family INET6", fn("127.0.0.1", "0", RASIO_AF_INET6, &out, NULL),
         RASIO_ENOTFOUND);
  if (out != RASIO_INVALID_FD && out != 5) (void)rasio_sock_close(out);
  /* After all that, a good call works. */
  rasio_addr_t bound;
  out = RASIO_INVALID_FD;
  SW_ERR("a good listen after the bad ones", fn("127.0.0.1", "0", RASIO_AF_INET4, &out, &bound),
         RASIO_OK);
  SW_TRUE("it is bound to a port", rasio_addr_port(&bound) != 0);
  if (out != RASIO_INVALID_FD) CHECK_OK(rasio_sock_close(out));
}

SWEEP(rasio_sock_listen_tcp) {
  sweep_listen(rasio_sock_listen_tcp);
  /* A port in use. */
  rasio_fd_t first = RASIO_INVALID_FD, second = 5;
  rasio_addr_t bound;
  CHECK_OK(rasio_sock_listen_tcp("127.0.0.1", "0", RASIO_AF_INET4, &first, &bound));
  char port[8];
  snprintf(port, sizeof port, "%u", (unsigned)rasio_addr_port(&bound));
  SW_ERR("a port in use", rasio_sock_listen_tcp("127.0.0.1", port, RASIO_AF_INET4, &second, NULL),
         RASIO_EADDRINUSE);
  SW_TRUE("a port in use: *out = RASIO_INVALID_FD", second == RASIO_INVALID_FD);
  CHECK_OK(rasio_sock_close(first));
}

SWEEP(rasio_sock_listen_udp) { sweep_listen(rasio_sock_listen_udp); }

SWEEP(rasio_sock_connect_tcp) {
  rasio_loop_t *loop = th_loop();
  probe_t p, junk;
  probe_init(&p, RASIO_INVALID_FD, false);
  probe_init(&junk, RASIO_INVALID_FD, false); /* owns what a failing row started */
  const rasio_event_opts_t good = {.flags = RASIO_WRITE | RASIO_ONESHOT, .notify = probe_notify,
                                   .ctx = &junk};
  rasio_event_opts_t t = good;
  rasio_event_t *evs[4];
  uint16_t port = th_closed_port();
  char ps[8];
  snprintf(ps, sizeof ps, "%u", (unsigned)port);
  SW_ERR("NULL loop", rasio_sock_connect_tcp(NULL, "127.0.0.1", ps, 0, &t, evs, 4), RASIO_EINVAL);
  SW_ERR("NULL port", rasio_sock_connect_tcp(loop, "127.0.0.1", NULL, 0, &t, evs, 4),
         RASIO_EINVAL);
  SW_ERR("NULL template", rasio_sock_connect_tcp(loop, "127.0.0.1", ps, 0, NULL, evs, 4),
         RASIO_EINVAL);
  SW_ERR("NULL events", rasio_sock_connect_tcp(loop, "127.0.0.1", ps, 0, &t, NULL, 4),
         RASIO_EINVAL);
  SW_ERR("max 0", rasio_sock_connect_tcp(loop, "127.0.0.1", ps, 0, &t, evs, 0), RASIO_EINVAL);
  SW_ERR("family 5", rasio_sock_connect_tcp(loop, "127.0.0.1", ps, 5, &t, evs, 4), RASIO_EINVAL);
  int started = rasio_sock_connect_tcp(loop, "127.0.0.1", "99999", 0, &t, evs, 4);
  SW_ERR("port \"99999\"", started, RASIO_EINVAL);
  for (int i = 0; i < started; i++) (void)rasio_event_unsubscribe(evs[i]);
  sw_wait(loop, NULL, &junk.disposed, started > 0 ? (unsigned)started : 0);
  t.notify = NULL;
  SW_ERR("template without notify", rasio_sock_connect_tcp(loop, "127.0.0.1", ps, 0, &t, evs, 4),
         RASIO_EINVAL);
  t = good;
  t.flags = RASIO_TIMER;
  SW_ERR("a TIMER template", rasio_sock_connect_tcp(loop, "127.0.0.1", ps, 0, &t, evs, 4),
         RASIO_EINVAL);
  for (unsigned bit = 0; bit < 32; bit++) {
    uint32_t b = 1u << bit;
    if (b & (RASIO_READ | RASIO_WRITE | RASIO_ONESHOT | RASIO_LEVEL)) continue;
    char what[64];
    snprintf(what, sizeof what, "template flag bit 1u << %u", bit);
    t = good;
    t.flags |= b;
    SW_ERR(what, rasio_sock_connect_tcp(loop, "127.0.0.1", ps, 0, &t, evs, 4), RASIO_EINVAL);
    t = good;
    t.ready = b;
    snprintf(what, sizeof what, "template ready bit 1u << %u", bit);
    if (!(b & (RASIO_READ | RASIO_WRITE)))
      SW_ERR(what, rasio_sock_connect_tcp(loop, "127.0.0.1", ps, 0, &t, evs, 4), RASIO_EINVAL);
  }
  /* Nothing was created by any of them: the loop has no event, and a good call works. */
  SW_ERR("no event left behind", rasio_loop_free(loop), RASIO_OK);
  loop = th_loop();
  t = good;
  t.ctx = &p;
  int n = rasio_sock_connect_tcp(loop, "127.0.0.1", ps, RASIO_AF_INET4, &t, evs, 4);
  SW_TRUE("a good call starts one attempt", n == 1);
  if (n == 1) {
    SW_TRUE("its completion (refused) comes as WRITE", sw_wait(loop, NULL, &p.write, 1));
    SW_ERR("... and the error is ECONNREFUSED", rasio_sock_error(rasio_event_fd(evs[0])),
           RASIO_ECONNREFUSED);
    sw_dispose(loop, NULL, &p, evs[0]);
  }
  th_loop_end(loop);
}

/* ======================================================================================== *
 * Shutdown, close, options
 * ======================================================================================== */

static int call_shutdown(rasio_fd_t fd) { return rasio_sock_shutdown(fd); }
static int call_close(rasio_fd_t fd) { return rasio_sock_close(fd); }
static int call_error(rasio_fd_t fd) { return rasio_sock_error(fd); }
static int call_nodelay(rasio_fd_t fd) { return rasio_sock_set_nodelay(fd, true); }
static int call_keepalive(rasio_fd_t fd) { return rasio_sock_set_keepalive(fd, true, 60); }
static int call_sndbuf(rasio_fd_t fd) { return rasio_sock_set_sndbuf(fd, 65536); }
static int call_rcvbuf(rasio_fd_t fd) { return rasio_sock_set_rcvbuf(fd, 65536); }
static int call_get_sndbuf(rasio_fd_t fd) { return rasio_sock_get_sndbuf(fd, &(int){0}); }
static int call_get_rcvbuf(rasio_fd_t fd) { return rasio_sock_get_rcvbuf(fd, &(int){0}); }
static int call_broadcast(rasio_fd_t fd) { return rasio_sock_set_broadcast(fd, true); }
static int call_ttl(rasio_fd_t fd) { return rasio_sock_set_ttl(fd, 64); }
static int call_mttl(rasio_fd_t fd) { return rasio_sock_set_multicast_ttl(fd, 1); }
static int call_mloop(rasio_fd_t fd) { return rasio_sock_set_multicast_loop(fd, true); }
static int call_join(rasio_fd_t fd) { return rasio_sock_multicast_join(fd, "239.1.2.3", NULL); }
static int call_leave(rasio_fd_t fd) { return rasio_sock_multicast_leave(fd, "239.1.2.3", NULL); }
static int call_local(rasio_fd_t fd) {
  return rasio_sock_local_addr(fd, &(rasio_addr_t){.len = 0});
}
static int call_peer(rasio_fd_t fd) { return rasio_sock_peer_addr(fd, &(rasio_addr_t){.len = 0}); }

SWEEP(rasio_sock_shutdown) { sweep_fd_call(call_shutdown); }

/* Not with a file or a pipe: POSIX cannot tell them from a socket without a system call,
 * and closing them is what the caller asked for. */
SWEEP(rasio_sock_close) { sweep_fd_call_on(call_close, false); }
SWEEP(rasio_sock_error) { sweep_fd_call(call_error); }

SWEEP(rasio_sock_set_nodelay) {
  sweep_fd_call(call_nodelay);
  uint16_t port;
  rasio_fd_t u = th_udp(&port);
  /* A TCP option on a UDP socket: the option does not exist there. */
  SW_ERR("a UDP socket", rasio_sock_set_nodelay(u, true), RASIO_ENOTSUP);
  th_close(u);
}

SWEEP(rasio_sock_set_keepalive) {
  sweep_fd_call(call_keepalive);
  pair_t s;
  pair_open(&s);
  SW_ERR("idle UINT_MAX is capped, not refused", rasio_sock_set_keepalive(s.a, true, UINT_MAX),
         RASIO_OK);
  pair_works(&s, "the socket still works");
  pair_close(&s);
}

static void sweep_set_buf(int (*set)(rasio_fd_t, int), fd_call_t call) {
  sweep_fd_call(call);
  pair_t s;
  pair_open(&s);
  SW_ERR("0 bytes", set(s.a, 0), RASIO_EINVAL);
  SW_ERR("-1 bytes", set(s.a, -1), RASIO_EINVAL);
  SW_ERR("INT_MIN bytes", set(s.a, INT_MIN), RASIO_EINVAL);
  pair_works(&s, "the socket still works");
  pair_close(&s);
}

SWEEP(rasio_sock_set_sndbuf) { sweep_set_buf(rasio_sock_set_sndbuf, call_sndbuf); }
SWEEP(rasio_sock_set_rcvbuf) { sweep_set_buf(rasio_sock_set_rcvbuf, call_rcvbuf); }

static void sweep_get_buf(int (*get)(rasio_fd_t, int *), fd_call_t call) {
  sweep_fd_call(call);
  pair_t s;
  pair_open(&s);
  SW_ERR("NULL bytes", get(s.a, NULL), RASIO_EINVAL);
  int v = 0;
  SW_ERR("a good call after it", get(s.a, &v), RASIO_OK);
  SW_TRUE("... gives a size", v > 0);
  pair_close(&s);
}

SWEEP(rasio_sock_get_sndbuf) { sweep_get_buf(rasio_sock_get_sndbuf, call_get_sndbuf); }
SWEEP(rasio_sock_get_rcvbuf) { sweep_get_buf(rasio_sock_get_rcvbuf, call_get_rcvbuf); }
SWEEP(rasio_sock_set_broadcast) { sweep_fd_call(call_broadcast); }

static void sweep_ttl(int (*set)(rasio_fd_t, int), fd_call_t call, int low) {
  sweep_fd_call(call);
  uint16_t port;
  rasio_fd_t u = th_udp(&port);
  const int bad[] = {low - 1, 256, INT_MAX, INT_MIN};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    SW_ERR("ttl out of range", set(u, bad[i]), RASIO_EINVAL);
  SW_ERR("a good ttl after them", set(u, 2), RASIO_OK);
  th_close(u);
}

SWEEP(rasio_sock_set_ttl) { sweep_ttl(rasio_sock_set_ttl, call_ttl, 1); }
SWEEP(rasio_sock_set_multicast_ttl) { sweep_ttl(rasio_sock_set_multicast_ttl, call_mttl, 0); }
SWEEP(rasio_sock_set_multicast_loop) { sweep_fd_call(call_mloop); }

static void sweep_membership(int (*fn)(rasio_fd_t, const char *, const char *),
                             fd_call_t call, bool join) {
  sweep_fd_call(call);
  uint16_t port;
  rasio_fd_t u = th_udp(&port);
  SW_ERR("NULL group", fn(u, NULL, NULL), RASIO_EINVAL);
  SW_ERR("a group that is not numeric", fn(u, "not-an-address", NULL), RASIO_ENOTFOUND);
  SW_ERR("an empty group", fn(u, "", NULL), RASIO_ENOTFOUND);
  if (join) SW_ERR("a unicast group", fn(u, "127.0.0.1", NULL), RASIO_EINVAL);
  SW_ERR("an interface that is not an IPv4 address", fn(u, "239.1.2.3", "no-such-if"),
         RASIO_ENOTFOUND);
  SW_ERR("an IPv6 interface that does not exist", fn(u, "ff02::1", "no-such-if"),
         RASIO_ENOTFOUND);
  th_close(u);
}

SWEEP(rasio_sock_multicast_join) { sweep_membership(rasio_sock_multicast_join, call_join, true); }
SWEEP(rasio_sock_multicast_leave) {
  sweep_membership(rasio_sock_multicast_leave, call_leave, false);
}

SWEEP(rasio_sock_local_addr) {
  sweep_fd_call(call_local);
  pair_t s;
  pair_open(&s);
  SW_ERR("NULL out", rasio_sock_local_addr(s.a, NULL), RASIO_EINVAL);
  pair_close(&s);
}

SWEEP(rasio_sock_peer_addr) {
  sweep_fd_call(call_peer);
  pair_t s;
  pair_open(&s);
  SW_ERR("NULL out", rasio_sock_peer_addr(s.a, NULL), RASIO_EINVAL);
  pair_close(&s);
  uint16_t port;
  rasio_fd_t l = th_listener(&port);
  SW_ERR("a listening socket (no peer)", rasio_sock_peer_addr(l, &(rasio_addr_t){.len = 0}),
         RASIO_ENOTCONN);
  th_close(l);
}

/* ======================================================================================== *
 * Addresses
 * ======================================================================================== */

SWEEP(rasio_addr_parse) {
  rasio_addr_t a;
  SW_ERR("NULL host", rasio_addr_parse(NULL, 80, &a), RASIO_EINVAL);
  SW_ERR("NULL out", rasio_addr_parse("127.0.0.1", 80, NULL), RASIO_EINVAL);
  const char *bad[] = {"", "localhost", "1.2.3.256", "1.2.3.4:80", "::1::2", " 127.0.0.1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[64];
    snprintf(what, sizeof what, "host \"%s\" (not numeric)", bad[i]);
    SW_ERR(what, rasio_addr_parse(bad[i], 80, &a), RASIO_ENOTFOUND);
  }
  SW_ERR("a good one after them", rasio_addr_parse("127.0.0.1", 65535, &a), RASIO_OK);
  SW_TRUE("... with its port", rasio_addr_port(&a) == 65535);
}

SWEEP(rasio_addr_format) {
  rasio_addr_t a = addr4(80), f5 = addr_family5(), empty = {.len = 0}, longlen = a;
  longlen.len = sizeof longlen.u.raw + 1;
  char buf[64];
  SW_ERR("NULL buf", rasio_addr_format(&a, NULL, sizeof buf), RASIO_EINVAL);
  strcpy(buf, "junk");
  SW_ERR("len 0", rasio_addr_format(&a, buf, 0), RASIO_EINVAL);
  SW_TRUE("len 0: buf untouched", strcmp(buf, "junk") == 0);
  SW_ERR("NULL address", rasio_addr_format(NULL, buf, sizeof buf), RASIO_EINVAL);
  SW_TRUE("NULL address: buf is \"\"", buf[0] == '\0');
  strcpy(buf, "junk");
  SW_ERR("an empty address", rasio_addr_format(&empty, buf, sizeof buf), RASIO_EINVAL);
  SW_TRUE("an empty address: buf is \"\"", buf[0] == '\0');
  SW_ERR("family 5", rasio_addr_format(&f5, buf, sizeof buf), RASIO_EINVAL);
  SW_ERR("a length beyond rasio_addr_t", rasio_addr_format(&longlen, buf, sizeof buf),
         RASIO_EINVAL);
  char small[6];
  SW_ERR("a buffer too small", rasio_addr_format(&a, small, sizeof small), RASIO_EINVAL);
  SW_TRUE("a buffer too small: \"\", no half address", small[0] == '\0');
  SW_ERR("a good one after them", rasio_addr_format(&a, buf, sizeof buf), RASIO_OK);
  SW_TRUE("... is 127.0.0.1:80", strcmp(buf, "127.0.0.1:80") == 0);
}

static void sweep_addr_getter(int (*get)(const rasio_addr_t *)) {
  rasio_addr_t a = addr4(80), f5 = addr_family5(), empty = {.len = 0}, shortlen = a,
               longlen = a;
  shortlen.len = 4;
  longlen.len = sizeof longlen.u.raw + 1;
  SW_TRUE("NULL: 0", get(NULL) == 0);
  SW_TRUE("empty: 0", get(&empty) == 0);
  SW_TRUE("family 5: 0", get(&f5) == 0);
  SW_TRUE("an IPv4 address of length 4: 0", get(&shortlen) == 0);
  SW_TRUE("a length beyond rasio_addr_t: 0", get(&longlen) == 0);
  SW_TRUE("a good one: not 0", get(&a) != 0);
}

static int port_of(const rasio_addr_t *a) { return rasio_addr_port(a); }
SWEEP(rasio_addr_port) { sweep_addr_getter(port_of); }
SWEEP(rasio_addr_family) { sweep_addr_getter(rasio_addr_family); }
