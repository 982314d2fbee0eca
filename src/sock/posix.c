/* SPDX-License-Identifier: BSD-2-Clause */
/* The socket layer on POSIX (Linux, BSD, macOS): the system calls behind src/sock/sock.h.
 * The logic every OS shares (argument checks, addresses, the resolver, listen, parallel
 * connect, options, multicast) is in src/sock/common.c.
 *
 * Notes about the kernels:
 * - Every recv/send passes MSG_DONTWAIT, so even a blocking descriptor handed in by the
 *   owner never parks the caller (macOS ignores it on send; rasio's own sockets are
 *   non-blocking anyway).
 * - Writes pass MSG_NOSIGNAL where it exists. macOS lacks it: the sockets made here carry
 *   SO_NOSIGPIPE instead; a foreign socket there is the owner's business.
 * - EINTR is retried inside each call: it says nothing about the socket, and reporting it
 *   would make every owner write the same loop.
 * - Linux makes sockets non-blocking and close-on-exec atomically (SOCK_NONBLOCK,
 *   SOCK_CLOEXEC, accept4); elsewhere fcntl follows, which is racy only against a
 *   concurrent fork+exec, an accepted imperfection.
 * - Linux passes pending network errors of a new connection out of accept (ENETDOWN,
 *   EPROTO, ECONNABORTED...). They are ERROR for that call only; the listener keeps
 *   working and the owner calls again.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, SOCK_NONBLOCK/SOCK_CLOEXEC, IOV_MAX under -std=c11 */
#endif
#ifndef _DARWIN_C_SOURCE
#define _DARWIN_C_SOURCE /* macOS: SO_NOSIGPIPE, TCP_KEEPALIVE under -std=c11 */
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stddef.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "sock/sock.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define SEND_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL)
/* A kernel with a smaller limit gets a prefix: a short count is a legal partial write. */
#if defined(IOV_MAX) && IOV_MAX < RASIO__SOCK_SENDV_MAX
#define SENDV_PER_CALL IOV_MAX
#else
#define SENDV_PER_CALL RASIO__SOCK_SENDV_MAX
#endif

/* rasio_iovec_t is handed to sendmsg as struct iovec, so their layouts must agree. */
_Static_assert(sizeof(rasio_iovec_t) == sizeof(struct iovec), "iovec size");
_Static_assert(offsetof(rasio_iovec_t, base) == offsetof(struct iovec, iov_base), "iov_base");
_Static_assert(offsetof(rasio_iovec_t, len) == offsetof(struct iovec, iov_len), "iov_len");

/* --- descriptors ---------------------------------------------------------------------- */

bool rasio__sock_fd_ok(rasio_fd_t fd) { return fd >= 0 && fd <= INT_MAX; }

int rasio__sock_os_error(void) { return rasio__os_error(); }

/* Nothing to start on POSIX. */
int rasio__sock_startup(void) { return 0; }

/* Closes fd for a failed set-up without losing the errno that explains the failure. */
static int close_failed(int fd) {
  int saved = errno;
  close(fd);
  errno = saved;
  return -1;
}

/* 0, or -1 with errno. macOS has no MSG_NOSIGNAL; the socket option does its job there. */
#ifdef SO_NOSIGPIPE
static int no_sigpipe(int fd) {
  int one = 1;
  return setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
}
#else
static int no_sigpipe(int fd) {
  (void)fd;
  return 0;
}
#endif

/* The two helpers below return the fd, or -1 with errno set (and nothing left open). */
#if defined(__linux__) || defined(__FreeBSD__)
/* The kernel makes the socket non-blocking and close-on-exec as it creates it. */
static int open_socket(int domain, int type, int protocol) {
  int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  return fd < 0 || no_sigpipe(fd) == 0 ? fd : close_failed(fd);
}

static int accept_fd(int lfd, struct sockaddr *sa, socklen_t *sl) {
  int fd = accept4(lfd, sa, sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
  return fd < 0 || no_sigpipe(fd) == 0 ? fd : close_failed(fd);
}
#else
/* Makes a fresh descriptor non-blocking, close-on-exec and SIGPIPE-free. */
static int prepare_fd(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0 &&
      fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && no_sigpipe(fd) == 0)
    return fd;
  return close_failed(fd);
}

static int open_socket(int domain, int type, int protocol) {
  int fd = socket(domain, type, protocol);
  return fd < 0 ? -1 : prepare_fd(fd);
}

static int accept_fd(int lfd, struct sockaddr *sa, socklen_t *sl) {
  int fd = accept(lfd, sa, sl);
  return fd < 0 ? -1 : prepare_fd(fd);
}
#endif

int rasio__sock_open(int domain, int type, int protocol, int *out) {
  int fd = open_socket(domain, type, protocol);
  if (fd < 0) return rasio__os_error();
  *out = fd;
  return 0;
}

/* --- the resolver -------------------------------------------------------------------------- */

const int rasio__sock_ai_numeric = AI_NUMERICHOST | AI_NUMERICSERV;

bool rasio__sock_no_name(int rc) { return rc == EAI_NONAME; }

bool rasio__sock_eai_system(int rc) { return rc == EAI_SYSTEM; }

/* --- I/O -------------------------------------------------------------------------------- */

/* EAGAIN and EWOULDBLOCK may differ; ENOBUFS on a write is a transient lack of buffers. */
bool rasio__sock_would_block(int err, uint32_t dir) {
  return err == EAGAIN || err == EWOULDBLOCK || (dir == RASIO_WRITE && err == ENOBUFS);
}

/* A byte count from a syscall into the result convention. */
static int io_done(rasio_event_t *ev, uint32_t dir, ssize_t n, size_t *count) {
  if (n < 0) return rasio__sock_io_fail(ev, dir, errno);
  *count = (size_t)n;
  return RASIO_IO_OK;
}

int rasio__sock_recv(rasio_event_t *ev, void *buf, size_t len, size_t *count) {
  ssize_t n;
  do {
    n = recv((int)ev->fd, buf, len, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  return io_done(ev, RASIO_READ, n, count);
}

int rasio__sock_send(rasio_event_t *ev, const void *buf, size_t len, size_t *count) {
  ssize_t n;
  do {
    n = send((int)ev->fd, buf, len, SEND_FLAGS);
  } while (n < 0 && errno == EINTR);
  return io_done(ev, RASIO_WRITE, n, count);
}

int rasio__sock_sendv(rasio_event_t *ev, const rasio_iovec_t *iov, size_t iovcnt,
                      size_t *count) {
  if (iovcnt > SENDV_PER_CALL) iovcnt = SENDV_PER_CALL;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = (struct iovec *)(uintptr_t)iov; /* sendmsg only reads it */
  msg.msg_iovlen = iovcnt;
  ssize_t n;
  do {
    n = sendmsg((int)ev->fd, &msg, SEND_FLAGS);
  } while (n < 0 && errno == EINTR);
  return io_done(ev, RASIO_WRITE, n, count);
}

int rasio__sock_recvfrom(rasio_event_t *ev, void *buf, size_t len, rasio_addr_t *from,
                         size_t *count) {
  struct sockaddr_storage ss;
  socklen_t sl;
  ssize_t n;
  /* Without MSG_TRUNC an oversized datagram yields its first len bytes and the rest is
   * dropped: OK with count == len, as the contract wants. */
  do {
    sl = sizeof ss;
    n = recvfrom((int)ev->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
  } while (n < 0 && errno == EINTR);
  int rc = io_done(ev, RASIO_READ, n, count);
  if (rc == RASIO_IO_OK && from != NULL) rasio__sock_addr_set(from, &ss, sl);
  return rc;
}

int rasio__sock_sendto(rasio_event_t *ev, const void *buf, size_t len, const rasio_addr_t *to,
                       size_t *count) {
  ssize_t n;
  do {
    n = sendto((int)ev->fd, buf, len, SEND_FLAGS, rasio__sock_addr_sa(to), (socklen_t)to->len);
  } while (n < 0 && errno == EINTR);
  return io_done(ev, RASIO_WRITE, n, count);
}

int rasio__sock_accept(rasio_event_t *listener, rasio_fd_t *out, rasio_addr_t *peer) {
  struct sockaddr_storage ss;
  socklen_t sl;
  int fd;
  do {
    sl = sizeof ss;
    fd = accept_fd((int)listener->fd, (struct sockaddr *)&ss, &sl);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return rasio__sock_io_fail(listener, RASIO_READ, errno);
  *out = fd;
  if (peer != NULL) rasio__sock_addr_set(peer, &ss, sl);
  return RASIO_IO_OK;
}

/* --- listen, connect ------------------------------------------------------------------- */

/* SO_REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT. */
int rasio__sock_reuse_addr(int fd, int socktype) {
  (void)socktype;
  int one = 1;
  return setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
}

/* EINPROGRESS is the usual answer; an immediate success (loopback may do that) and EINTR
 * (the connect then goes on in the background) complete as WRITE all the same. */
int rasio__sock_connect(int fd, const struct sockaddr *sa, socklen_t len) {
  if (connect(fd, sa, len) == 0 || errno == EINPROGRESS || errno == EINTR) return 0;
  return rasio__os_error();
}

/* --- shutdown, close -------------------------------------------------------------------- */

int rasio_sock_shutdown(rasio_fd_t fd) {
  if (!rasio__sock_fd_ok(fd)) return RASIO_EBADF;
  return shutdown((int)fd, SHUT_WR) == 0 ? 0 : rasio__os_error();
}

int rasio_sock_close(rasio_fd_t fd) {
  if (!rasio__sock_fd_ok(fd)) return RASIO_EBADF;
  /* Closed exactly once even on EINTR: Linux has released the number by then, and a retry
   * could close a descriptor another thread has just been given. */
  if (close((int)fd) != 0 && errno != EINTR) return rasio__os_error();
  return 0;
}

/* --- options ---------------------------------------------------------------------------- */

/* getsockname reports the wildcard address for an unbound socket, so the local address
 * always tells the family. */
int rasio__sock_protocol_af(rasio_fd_t fd) {
  (void)fd;
  return AF_UNSPEC;
}

#if defined(TCP_KEEPIDLE)
#define KEEPIDLE_OPT TCP_KEEPIDLE
#elif defined(TCP_KEEPALIVE)
#define KEEPIDLE_OPT TCP_KEEPALIVE /* macOS spells it so */
#endif

/* The probe interval and count keep the OS defaults. */
int rasio__sock_set_keepidle(rasio_fd_t fd, int idle_s) {
#ifdef KEEPIDLE_OPT
  return rasio__sock_set_int(fd, IPPROTO_TCP, KEEPIDLE_OPT, idle_s);
#else
  (void)fd, (void)idle_s;
  return RASIO_ENOTSUP;
#endif
}

/* The IPv4 multicast options take a byte: BSD insists on it, Linux accepts either. */
int rasio__sock_set_mcast4(rasio_fd_t fd, int name, int value) {
  unsigned char byte = (unsigned char)value;
  return rasio__sock_set_opt(fd, IPPROTO_IP, name, &byte, sizeof byte);
}

unsigned long rasio__sock_if_index(const char *name) { return if_nametoindex(name); }

/* --- sockets made elsewhere, shared ports (issue 12) ------------------------------------ */

/* A socket rasio did not make gets the one property rasio's calls rely on, non-blocking
 * mode, and (macOS) no SIGPIPE; the rest (close-on-exec...) stays as its owner chose. */
int rasio__sock_adopt_prepare(rasio_fd_t fd) {
  int fl = fcntl((int)fd, F_GETFL);
  if (fl < 0 || fcntl((int)fd, F_SETFL, fl | O_NONBLOCK) != 0 || no_sigpipe((int)fd) != 0)
    return rasio__sock_os_error();
  return 0;
}

/* FreeBSD's SO_REUSEPORT predates Linux's and shares no load; its SO_REUSEPORT_LB is the
 * Linux behaviour. socket(7), SO_REUSEPORT: "Permits multiple AF_INET or AF_INET6 sockets
 * to be bound to an identical socket address. This option must be set on each socket
 * (including the first socket) prior to calling bind(2) on the socket." and "For TCP
 * sockets, this option allows accept(2) load distribution in a multi-threaded server". */
#if defined(SO_REUSEPORT_LB)
#define RASIO__SO_REUSEPORT SO_REUSEPORT_LB
#elif defined(SO_REUSEPORT)
#define RASIO__SO_REUSEPORT SO_REUSEPORT
#endif

#ifdef RASIO__SO_REUSEPORT
int rasio__sock_reuse_port(int fd) {
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, RASIO__SO_REUSEPORT, &one, sizeof one) != 0)
    return rasio__sock_os_error();
  return 0;
}
#else
int rasio__sock_reuse_port(int fd) {
  (void)fd;
  return RASIO_ENOTSUP;
}
#endif

/* --- Unix domain stream sockets (rasio_unix_listen, rasio_unix_connect) ---------------- */

/* The path into addr; false if it does not fit (with its terminator) or is empty. */
static bool unix_addr(const char *path, struct sockaddr_un *addr) {
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof addr->sun_path) return false;
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path, path, n + 1);
  return true;
}

/* A connect that cannot start says so at once. POSIX connect(), for AF_UNIX: "[ENOENT]
 * ... A component of the pathname specified in the sockaddr structure does not name an
 * existing file"; Linux connect(2): "ECONNREFUSED ... No one listening on the remote
 * address". A full backlog: Linux answers a non-blocking AF_UNIX connect with EAGAIN (not
 * in the pages at hand, so taken as observed behaviour: it means "not started", never
 * would-block); a BSD says ECONNREFUSED. EINPROGRESS completes as WRITE, as for TCP. */
static int unix_connect_error(int e) {
  if (e == ENOENT) return RASIO_ENOTFOUND;
  if (e == EAGAIN) return RASIO_EAGAIN;
  return rasio__os_error_map(e);
}

int rasio__sock_unix(const char *path, bool listening, rasio_fd_t *out) {
  struct sockaddr_un addr;
  if (!unix_addr(path, &addr)) return RASIO_EINVAL;
  int fd = -1, rc = rasio__sock_open(AF_UNIX, SOCK_STREAM, 0, &fd);
  if (rc != 0) return rc;
  if (listening) {
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, SOMAXCONN) != 0)
      rc = rasio__os_error();
  } else if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS &&
             errno != EINTR) {
    rc = unix_connect_error(errno);
  }
  if (rc != 0) {
    rasio__fd_close(fd);
    return rc;
  }
  *out = fd;
  return 0;
}
