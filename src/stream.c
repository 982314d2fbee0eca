/* SPDX-License-Identifier: BSD-2-Clause */
/* The net layer's door to a backend's completion streams (backend.h): where the backend has
 * none, every call says RASIO_ENOTSUP and the connection does its own system calls. The
 * receive side speaks the socket layer's language (RASIO_IO_*, rasio_sock_last_error), so
 * a connection reads a stream the way it reads a socket.
 */
#include <stdlib.h>

#include "internal.h"
#include "net/net.h"

static const rasio__stream_ops_t *ops_of(const rasio_event_t *ev) { return ev->loop->be->stream; }

int rasio__stream_start(rasio_event_t *ev) {
  if (ops_of(ev) == NULL || getenv("RASIO_NO_STREAMS") != NULL) return RASIO_ENOTSUP;
  if (ev->kind != RASIO__KIND_FD || (ev->flags & (RASIO_READ | RASIO_WRITE | RASIO_ONESHOT)) !=
                                        (RASIO_READ | RASIO_WRITE | RASIO_ONESHOT))
    return RASIO_EINVAL;
  return ops_of(ev)->start(ev->loop, ev);
}

int rasio__stream_recv(rasio_event_t *ev, void *buf, size_t len, size_t *n) {
  *n = 0;
  int rc = ops_of(ev)->recv(ev, buf, len, n);
  if (rc == RASIO_IO_OK && *n == 0) return rasio__sock_io_error(0); /* the peer's end */
  return rc < 0 ? rasio__sock_io_error(rc) : rc;
}

int rasio__stream_send(rasio_event_t *ev, const rasio_iovec_t *iov, size_t iovcnt) {
  return ops_of(ev)->send(ev, iov, iovcnt);
}

bool rasio__stream_sent(rasio_event_t *ev, int64_t *result) {
  return ops_of(ev)->sent(ev, result);
}

int rasio__stream_failed(rasio_event_t *ev) { return ops_of(ev)->failed(ev); }
