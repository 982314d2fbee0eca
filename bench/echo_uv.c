/* SPDX-License-Identifier: BSD-2-Clause */
/* The libuv echo server (contract: server.h), in two rows:
 *
 *   --mode poll  uv_poll_t, level-triggered, on the listener and on every connection: the
 *                raw readiness API. Interest is READABLE, switched to WRITABLE only while
 *                the tail of a short write waits.
 *   --mode tcp   what a libuv user would write: uv_tcp_t + uv_listen + uv_read_start,
 *                uv_try_write first and uv_write for whatever the socket did not take.
 *
 * Both read into one 64 KiB buffer shared by every connection (the loop is single-threaded)
 * and copy only the unwritten tail of a short write into a per-connection buffer, allocated
 * at the first short write and kept until close.
 *
 * libuv 1.44 on Linux polls with epoll and nothing else: it has no backend choice to report.
 * Rather than take that on trust, backend_name() asks the kernel what the loop's backend
 * descriptor is, and prints "epoll" only when it is an eventpoll instance (anything else
 * would be printed as the kernel names it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "server.h"

#define CONTAINER(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

static char rbuf[BENCH_BUF_SIZE];
static uv_loop_t *loop;
static int listen_fd;

static char *tail_buffer(char **slot) {
  if (*slot == NULL && (*slot = malloc(BENCH_BUF_SIZE)) == NULL) bench_die("malloc");
  return *slot;
}

/* ---- --mode poll ------------------------------------------------------------------------ */

struct pconn {
  uv_poll_t poll;
  bench_echo_t echo;
  int events; /* the interest last given to uv_poll_start */
};

static void p_closed(uv_handle_t *h) {
  struct pconn *c = CONTAINER(h, struct pconn, poll);
  free(c->echo.tail);
  free(c);
}

/* uv_close stops the poll handle, which also removes the fd from epoll, so the fd can be
 * closed at once; only the memory must wait for the close callback. */
static void p_close(struct pconn *c) {
  uv_close((uv_handle_t *)&c->poll, p_closed);
  close(c->echo.fd);
}

static void p_on_ready(uv_poll_t *h, int status, int events);

/* Only on a change: in libuv 1.44 every uv_poll_start takes the fd out of epoll and puts it
 * back (EPOLL_CTL_DEL, then ADD at the next poll), even for the same events. */
static void p_want(struct pconn *c, int events) {
  if (c->events == events) return;
  c->events = events;
  if (uv_poll_start(&c->poll, events, p_on_ready) != 0) bench_die("uv_poll_start");
}

/* A flushed tail falls through to reading at once: the peer has usually sent more while the
 * connection was blocked, and this saves a loop iteration. */
static void p_on_ready(uv_poll_t *h, int status, int events) {
  struct pconn *c = CONTAINER(h, struct pconn, poll);
  (void)events;
  int rc = status < 0 ? BENCH_ECHO_CLOSE : BENCH_ECHO_IDLE;
  if (rc == BENCH_ECHO_IDLE) rc = bench_echo_flush(&c->echo);
  if (rc == BENCH_ECHO_IDLE) rc = bench_echo_pump(&c->echo, 0);
  if (rc == BENCH_ECHO_CLOSE) {
    p_close(c);
    return;
  }
  p_want(c, rc == BENCH_ECHO_BLOCKED ? UV_WRITABLE : UV_READABLE);
}

static void p_on_listener(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)events;
  if (status < 0) bench_die("listener poll");
  for (int fd; (fd = bench_accept(listen_fd)) >= 0;) {
    struct pconn *c = calloc(1, sizeof *c);
    if (c == NULL) bench_die("calloc");
    c->echo.fd = fd;
    if (uv_poll_init(loop, &c->poll, fd) != 0) bench_die("uv_poll_init");
    p_want(c, UV_READABLE);
  }
}

static void run_poll(void) {
  static uv_poll_t listener;
  if (uv_poll_init(loop, &listener, listen_fd) != 0) bench_die("uv_poll_init");
  if (uv_poll_start(&listener, UV_READABLE, p_on_listener) != 0) bench_die("uv_poll_start");
  uv_run(loop, UV_RUN_DEFAULT);
}

/* ---- --mode tcp ------------------------------------------------------------------------- */

struct tconn {
  uv_tcp_t tcp;
  uv_write_t req;
  char *tail;
};

static void t_closed(uv_handle_t *h) {
  struct tconn *c = CONTAINER(h, struct tconn, tcp);
  free(c->tail);
  free(c);
}

static void t_close(struct tconn *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, t_closed);
}

static void t_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  *buf = uv_buf_init(rbuf, sizeof rbuf);
}

static void t_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* The tail is flushed (or the handle is closing, status UV_ECANCELED): resume reading. */
static void t_on_written(uv_write_t *req, int status) {
  struct tconn *c = CONTAINER(req, struct tconn, req);
  if (status < 0) {
    t_close(c);
    return;
  }
  if (uv_read_start((uv_stream_t *)&c->tcp, t_alloc, t_on_read) != 0) t_close(c);
}

/* Queues the unwritten tail, then stops reading until it is gone. uv_write tries the write
 * at once itself (the retry after a partial write that every row makes). It goes before
 * uv_read_stop because libuv 1.44 forgets a watcher whose interest falls to nothing and then
 * re-registers it (epoll ADD, EEXIST, MOD); adding WRITABLE first costs one MOD instead. */
static void t_keep_tail(struct tconn *c, const char *p, size_t n) {
  memcpy(tail_buffer(&c->tail), p, n);
  uv_buf_t out = uv_buf_init(c->tail, (unsigned)n);
  if (uv_write(&c->req, (uv_stream_t *)&c->tcp, &out, 1, t_on_written) != 0) {
    t_close(c);
    return;
  }
  uv_read_stop((uv_stream_t *)&c->tcp);
}

static void t_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct tconn *c = CONTAINER(s, struct tconn, tcp);
  if (nread < 0) { /* UV_EOF or an error */
    t_close(c);
    return;
  }
  if (nread == 0) return; /* EAGAIN: libuv hands the buffer back */
  uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
  int w = uv_try_write(s, &out, 1);
  if (w == UV_EAGAIN) w = 0;
  if (w < 0) {
    t_close(c);
    return;
  }
  if (w < nread) t_keep_tail(c, buf->base + w, (size_t)(nread - w));
}

static void t_on_connection(uv_stream_t *server, int status) {
  if (status < 0) return; /* accept failed (EMFILE...): nothing to take this time */
  struct tconn *c = calloc(1, sizeof *c);
  if (c == NULL) bench_die("calloc");
  if (uv_tcp_init(loop, &c->tcp) != 0) bench_die("uv_tcp_init");
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || uv_tcp_nodelay(&c->tcp, 1) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, t_alloc, t_on_read) != 0) {
    t_close(c);
  }
}

static void run_tcp(void) {
  static uv_tcp_t server;
  if (uv_tcp_init(loop, &server) != 0 || uv_tcp_open(&server, listen_fd) != 0)
    bench_die("uv_tcp_open");
  if (uv_listen((uv_stream_t *)&server, 4096, t_on_connection) != 0) bench_die("uv_listen");
  uv_run(loop, UV_RUN_DEFAULT);
}

/* ---- main ------------------------------------------------------------------------------- */

/* The kernel's name for the loop's backend descriptor: epoll's is "anon_inode:[eventpoll]". */
static const char *backend_name(void) {
  static char target[64];
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", uv_backend_fd(loop));
  ssize_t n = readlink(path, target, sizeof target - 1);
  if (n < 0) bench_die("readlink(uv_backend_fd)");
  target[n] = '\0';
  return strcmp(target, "anon_inode:[eventpoll]") == 0 ? "epoll" : target;
}

int main(int argc, char **argv) {
  const char *mode = bench_arg(argc, argv, "mode", "poll");
  if (strcmp(mode, "poll") != 0 && strcmp(mode, "tcp") != 0) {
    fprintf(stderr, "echo_uv: --mode must be poll or tcp\n");
    return 2;
  }
  loop = uv_default_loop();
  if (loop == NULL) bench_die("uv_default_loop");
  listen_fd = bench_server_start(argc, argv, "libuv", backend_name());
  if (strcmp(mode, "poll") == 0)
    run_poll();
  else
    run_tcp();
  return 0;
}
