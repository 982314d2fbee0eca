/* SPDX-License-Identifier: BSD-2-Clause */
/* The driver's loopback sockets, blocking, every read bounded by select(). See os.h.
 * The only platform differences are names, collected here (Winsock's select ignores its
 * first argument: "nfds: Ignored. The nfds parameter is included only for compatibility
 * with Berkeley sockets."). */
#if defined(_WIN32)
#include <winsock2.h>
#include <ws2tcpip.h>
typedef SOCKET os_socket_t;
typedef int os_len_t;
#define os_closesocket closesocket
#define OS_SEND_FLAGS 0
#else
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
typedef int os_socket_t;
typedef size_t os_len_t;
#define os_closesocket close
#define OS_SEND_FLAGS 0 /* SIGPIPE is ignored (os_init) */
#endif

#include <string.h>

#include "os.h"

static struct sockaddr_in loopback(uint16_t port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

net_sock_t net_tcp_connect(uint16_t port) {
  os_socket_t s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = loopback(port);
  if (s == (os_socket_t)-1) return -1;
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    os_closesocket(s);
    return -1;
  }
  return (net_sock_t)s;
}

net_sock_t net_udp(void) {
  os_socket_t s = socket(AF_INET, SOCK_DGRAM, 0);
  return s == (os_socket_t)-1 ? -1 : (net_sock_t)s;
}

bool net_send(net_sock_t s, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    long n = (long)send((os_socket_t)s, p, (os_len_t)len, OS_SEND_FLAGS);
    if (n <= 0) return false;
    p += n;
    len -= (size_t)n;
  }
  return true;
}

bool net_sendto(net_sock_t s, uint16_t port, const void *buf, size_t len) {
  struct sockaddr_in a = loopback(port);
  long n = (long)sendto((os_socket_t)s, buf, (os_len_t)len, 0, (struct sockaddr *)&a, sizeof a);
  return n == (long)len;
}

long net_recv(net_sock_t s, void *buf, size_t cap, unsigned ms) {
  fd_set set;
  FD_ZERO(&set);
  FD_SET((os_socket_t)s, &set);
  struct timeval tv = {.tv_sec = (long)(ms / 1000), .tv_usec = (long)(ms % 1000) * 1000};
  int r = select((int)s + 1, &set, NULL, NULL, &tv);
  if (r == 0) return -1;
  if (r < 0) return -2;
  long n = (long)recv((os_socket_t)s, buf, (os_len_t)cap, 0);
  return n < 0 ? -2 : n;
}

void net_close(net_sock_t s) {
  if (s != -1) os_closesocket((os_socket_t)s);
}
