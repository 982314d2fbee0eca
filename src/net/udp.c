/* SPDX-License-Identifier: BSD-2-Clause */
/* UDP sockets: a persistent (edge) READ event.
 *
 * On READ the socket reads datagrams until RETRY, at most read_budget per turn (then it
 * posts itself a USER notification), so a flood of datagrams, even empty ones, cannot
 * starve timers or other sockets. A read error closes the socket. A send error belongs to
 * its datagram alone (a bad address, one too large, a destination the host refuses) and
 * changes nothing else: a server must not die because one reply could not go out.
 */
#include <stdlib.h>

#include "net/net.h"
#include "rasio.h"

#define DEFAULT_READ_SIZE 65536
#define DEFAULT_READ_BUDGET 64

struct rasio_udp {
  rasio_loop_t *loop;
  rasio_udp_cb_t cb;
  void *data;
  rasio_event_t *ev;
  char *buf;
  size_t size, budget;
  bool readable, reading, done;
};

static void udp_free(rasio_udp_t *u) {
  rasio__free(u->buf);
  rasio__free(u);
}

static void read_loop(rasio_udp_t *u) {
  if (u->reading) return;
  u->reading = true;
  for (size_t n = 0; u->readable && !u->done; n++) {
    if (n == u->budget) {
      if (rasio_event_post(u->ev) != 0) rasio_udp_close(u);
      break;
    }
    rasio_addr_t from;
    size_t got;
    int r = rasio_sock_recvfrom(u->ev, u->buf, u->size, &from, &got);
    if (r == RASIO_IO_OK) {
      if (u->cb.received != NULL) u->cb.received(u, u->buf, got, &from);
    } else if (r == RASIO_IO_RETRY) {
      u->readable = false; /* persistent edge: the next datagram is a new edge */
    } else {
      rasio_udp_close(u);
    }
  }
  u->reading = false;
}

static void notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  rasio_udp_t *u = ctx;
  if (flags & RASIO_DISPOSED) {
    /* The final callback, here rather than inside rasio_udp_close: never inside a call
     * of the owner's (rasio.h). */
    (void)rasio_event_destroy(ev);
    if (u->cb.closed != NULL) u->cb.closed(u);
    udp_free(u);
    return;
  }
  if (u->done) return;
  if (flags & RASIO_ERROR) {
    rasio_udp_close(u);
    return;
  }
  if (flags & RASIO_READ) u->readable = true;
  read_loop(u);
}

int rasio_udp_bind(rasio_loop_t *loop, const char *host, const char *port, int family,
                   const rasio_udp_opts_t *opts, rasio_udp_t **out) {
  if (out != NULL) *out = NULL;
  if (loop == NULL || port == NULL || out == NULL) return RASIO_EINVAL;
  if (opts != NULL && opts->read_size > PTRDIFF_MAX) return RASIO_EINVAL; /* no such buffer */
  rasio_udp_t *u = rasio__calloc(1, sizeof *u);
  if (u == NULL) return RASIO_ENOMEM;
  u->loop = loop;
  u->size = opts != NULL && opts->read_size > 0 ? opts->read_size : DEFAULT_READ_SIZE;
  u->budget = opts != NULL && opts->read_budget > 0 ? opts->read_budget : DEFAULT_READ_BUDGET;
  if (opts != NULL && opts->cb != NULL) u->cb = *opts->cb;
  if (opts != NULL) u->data = opts->data;
  u->buf = rasio__malloc(u->size);
  rasio_fd_t fd;
  int rc = u->buf != NULL ? rasio_sock_listen_udp(host, port, family, &fd, NULL) : RASIO_ENOMEM;
  if (rc != 0) {
    udp_free(u);
    return rc;
  }
  *out = u;
  rasio_event_opts_t eo = {.fd = fd, .flags = RASIO_READ, .noisy = true, .own_fd = true,
                           .notify = notify, .ctx = u,
                           .mailbox = opts != NULL ? opts->mailbox : NULL};
  rc = rasio_event_new(loop, &eo, &u->ev); /* the last touch of u on this thread */
  if (rc == 0) return 0;
  *out = NULL;
  (void)rasio_sock_close(fd);
  udp_free(u);
  return rc;
}

/* Every check (NULL data with len > 0, no or foreign address) is rasio_sock_sendto's. */
int rasio_udp_send(rasio_udp_t *u, const void *data, size_t len, const rasio_addr_t *to) {
  if (u == NULL) return rasio__sock_io_error(RASIO_EINVAL);
  if (u->done) return rasio__sock_io_error(RASIO_ESTATE);
  size_t sent;
  return rasio_sock_sendto(u->ev, data, len, to, &sent);
}

void rasio_udp_close(rasio_udp_t *u) {
  if (u == NULL || u->done) return;
  u->done = true;
  rasio_event_unsubscribe(u->ev); /* `closed` follows at its DISPOSED */
}

void *rasio_udp_data(const rasio_udp_t *u) { return u != NULL ? u->data : NULL; }

/* Once closed the socket is rasio's to close (on the loop thread, at any moment). */
rasio_fd_t rasio_udp_fd(const rasio_udp_t *u) {
  return u != NULL && !u->done ? rasio_event_fd(u->ev) : RASIO_INVALID_FD;
}

int rasio_udp_addr(const rasio_udp_t *u, rasio_addr_t *out) {
  if (u == NULL || out == NULL) return RASIO_EINVAL;
  if (u->done) return RASIO_ESTATE;
  return rasio_sock_local_addr(rasio_event_fd(u->ev), out);
}
