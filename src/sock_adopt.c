/* SPDX-License-Identifier: BSD-2-Clause */
/* Checks on sockets made elsewhere before the net layer wraps them (rasio_tcp_adopt,
 * rasio_tcp_listen_fd): a wrong socket is refused with nothing changed, rather than
 * failing later inside the state machine. Only the last step, non-blocking mode, changes
 * the socket. */
#include "net/net.h"
#include "sock/sock.h"

static int get_int(rasio_fd_t fd, int name, int *value) {
  socklen_t len = sizeof *value;
  *value = 0;
  if (getsockopt((rasio__sock_t)fd, SOL_SOCKET, name, (void *)value, &len) != 0)
    return rasio__sock_os_error();
  return 0;
}

int rasio__sock_adopt_stream(rasio_fd_t fd, bool listening) {
  if (!rasio__sock_fd_ok(fd)) return RASIO_EBADF;
  int type, accepting, rc = rasio__sock_startup();
  if (rc == 0) rc = get_int(fd, SO_TYPE, &type); /* not a socket: EBADF (ENOTSOCK) */
  if (rc == 0 && type != SOCK_STREAM) rc = RASIO_EINVAL;
  /* SO_ACCEPTCONN: non-zero on a listening socket (POSIX and Winsock alike). */
  if (rc == 0) rc = get_int(fd, SO_ACCEPTCONN, &accepting);
  if (rc == 0 && (accepting != 0) != listening) rc = RASIO_EINVAL;
  if (rc == 0 && !listening) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername((rasio__sock_t)fd, (struct sockaddr *)&ss, &sl) != 0)
      rc = rasio__sock_os_error(); /* ENOTCONN: not connected (yet, or any more) */
  }
  return rc != 0 ? rc : rasio__sock_adopt_prepare(fd);
}
