/* helpers.h for POSIX: plain BSD sockets on 127.0.0.1, time and handle counts (the
 * portable rest is in helpers.c). Every unexpected OS error fails the test where it
 * happened. */
#define _POSIX_C_SOURCE 200809L
#define _DARWIN_C_SOURCE /* macOS: keep BSD socket declarations visible */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS lacks it; the runner ignores SIGPIPE in every test child */
#endif

#define FAIL_OS(what) rt_fail(__FILE__, __LINE__, "%s: %s", (what), strerror(errno))


static bool would_block(void) { return errno == EAGAIN || errno == EWOULDBLOCK; }

/* --- sockets ---------------------------------------------------------------------------- */

static struct sockaddr_in loopback(uint16_t port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) FAIL_OS("fcntl(O_NONBLOCK)");
}

static void set_nodelay(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    FAIL_OS("setsockopt(TCP_NODELAY)");
}

/* Close-on-exec keeps test sockets out of any process a test starts. */
static int new_socket(int type) {
  int fd = socket(AF_INET, type, 0);
  if (fd < 0) FAIL_OS("socket");
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) FAIL_OS("fcntl(FD_CLOEXEC)");
  return fd;
}

static void bind_loopback(int fd) {
  struct sockaddr_in sa = loopback(0);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) FAIL_OS("bind(127.0.0.1:0)");
}

static uint16_t local_port(int fd) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) FAIL_OS("getsockname");
  return ntohs(sa.sin_port);
}

rasio_fd_t th_listener(uint16_t *port) {
  int fd = new_socket(SOCK_STREAM);
  bind_loopback(fd);
  if (listen(fd, 128) != 0) FAIL_OS("listen");
  set_nonblock(fd);
  if (port != NULL) *port = local_port(fd);
  return fd;
}

rasio_fd_t th_accept(rasio_fd_t listener) {
  int fd;
  do {
    fd = accept((int)listener, NULL, NULL);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0 && (would_block() || errno == ECONNABORTED)) return RASIO_INVALID_FD;
  if (fd < 0) FAIL_OS("accept");
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) FAIL_OS("fcntl(FD_CLOEXEC)");
  set_nonblock(fd); /* Linux does not inherit O_NONBLOCK from the listener; BSD does */
  set_nodelay(fd);
  return fd;
}

rasio_fd_t th_connect_start(uint16_t port) {
  int fd = new_socket(SOCK_STREAM);
  set_nonblock(fd);
  set_nodelay(fd);
  struct sockaddr_in sa = loopback(port);
  /* Some kernels refuse a loopback connect on the spot rather than later through SO_ERROR;
   * either way the socket reports the failure as writeable, which is what tests watch. */
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS &&
      errno != ECONNREFUSED)
    FAIL_OS("connect");
  return fd;
}

void th_tcp_pair(rasio_fd_t *a, rasio_fd_t *b) {
  uint16_t port;
  rasio_fd_t l = th_listener(&port);
  rasio_fd_t c = th_connect_start(port);
  rasio_fd_t s = RASIO_INVALID_FD;
  uint64_t give_up = th_now_ms() + th_scaled_ms(5000);
  /* Loopback connects complete within microseconds; the loop only bridges that gap. */
  while ((s = th_accept(l)) == RASIO_INVALID_FD) {
    if (th_now_ms() > give_up) rt_fail(__FILE__, __LINE__, "th_tcp_pair: accept timed out");
    th_sleep_ms(1);
  }
  th_close(l);
  *a = c;
  *b = s;
}

uint16_t th_closed_port(void) {
  /* A bound socket that never listens holds the port, so nothing else can start listening
   * there during the test, and connects to it are refused. It lives until the test process
   * exits (each test is its own process). */
  int fd = new_socket(SOCK_STREAM);
  bind_loopback(fd);
  return local_port(fd);
}

rasio_fd_t th_udp(uint16_t *port) {
  int fd = new_socket(SOCK_DGRAM);
  bind_loopback(fd);
  set_nonblock(fd);
  if (port != NULL) *port = local_port(fd);
  return fd;
}

long th_udp_send(rasio_fd_t fd, uint16_t port, const void *buf, size_t len) {
  struct sockaddr_in sa = loopback(port);
  ssize_t n;
  do {
    n = sendto((int)fd, buf, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof sa);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return would_block() || errno == ENOBUFS ? 0 : -1;
  return (long)n;
}

long th_send(rasio_fd_t fd, const void *buf, size_t len) {
  ssize_t n;
  do {
    n = send((int)fd, buf, len, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return would_block() ? 0 : -1;
  return (long)n;
}

long th_recv(rasio_fd_t fd, void *buf, size_t len) {
  ssize_t n;
  do {
    n = recv((int)fd, buf, len, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return would_block() ? -1 : -2;
  return (long)n;
}

size_t th_drain(rasio_fd_t fd) {
  char buf[16384];
  size_t total = 0;
  long n;
  while ((n = th_recv(fd, buf, sizeof buf)) > 0) total += (size_t)n;
  return total;
}

size_t th_fill(rasio_fd_t fd) {
  static const char buf[65536];
  size_t total = 0;
  long n;
  while ((n = th_send(fd, buf, sizeof buf)) > 0) total += (size_t)n;
  return total;
}

void th_shutdown_wr(rasio_fd_t fd) {
  if (shutdown((int)fd, SHUT_WR) != 0) FAIL_OS("shutdown(SHUT_WR)");
}

void th_close(rasio_fd_t fd) {
  /* POSIX leaves the descriptor state unspecified after EINTR; Linux has closed it. */
  if (close((int)fd) != 0 && errno != EINTR) FAIL_OS("close");
}

void th_close_rst(rasio_fd_t fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  if (setsockopt((int)fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0)
    FAIL_OS("setsockopt(SO_LINGER)");
  th_close(fd);
}

int th_so_error(rasio_fd_t fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt((int)fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) FAIL_OS("getsockopt(SO_ERROR)");
  return err;
}

bool th_fd_open(rasio_fd_t fd) { return fcntl((int)fd, F_GETFD) != -1; }

bool th_under_wine(void) { return false; }

/* Probing every number works on every POSIX system (no /proc); capped so a huge limit
 * stays cheap: the tests that use it never have fds that high. */
long th_open_handles(void) {
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  long n = 0;
  for (long fd = 0; fd < max; fd++) n += fcntl((int)fd, F_GETFD) != -1;
  return n;
}

/* --- time and threads ------------------------------------------------------------------- */

void th_sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

uint64_t th_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

