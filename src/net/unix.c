/* SPDX-License-Identifier: BSD-2-Clause */
/* Unix domain stream sockets in the net layer: the same connection and listener objects
 * as TCP, on a socket bound to or connecting to a path. The socket calls are the OS
 * file's (sock/posix.c; Windows: ENOTSUP), the objects tcp.c's and listener.c's. */
#include "net/net.h"
#include "rasio.h"

int rasio_unix_listen(rasio_loop_t *loop, const char *path, const rasio_tcp_listener_opts_t *opts,
                      rasio_tcp_listener_t **out) {
  if (out != NULL) *out = NULL;
  if (loop == NULL || path == NULL || out == NULL) return RASIO_EINVAL;
  if (opts != NULL && opts->reuseport) return RASIO_EINVAL; /* a TCP option */
  rasio_fd_t fd;
  int rc = rasio__sock_unix(path, true, &fd);
  if (rc != 0) return rc;
  rc = rasio_tcp_listen_fd(loop, fd, opts, out);
  if (rc != 0) (void)rasio_sock_close(fd); /* refused, so still ours */
  return rc;
}

int rasio_unix_connect(rasio_loop_t *loop, const char *path, const rasio_tcp_opts_t *opts,
                       rasio_tcp_t **out) {
  if (out != NULL) *out = NULL;
  if (loop == NULL || path == NULL || out == NULL) return RASIO_EINVAL;
  if (opts != NULL && opts->read_size > PTRDIFF_MAX) return RASIO_EINVAL;
  rasio_fd_t fd;
  int rc = rasio__sock_unix(path, false, &fd);
  if (rc != 0) return rc;
  rc = rasio__tcp_connect_fd(loop, fd, opts, out);
  if (rc != 0) (void)rasio_sock_close(fd);
  return rc;
}
