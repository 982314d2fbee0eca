/* The socket layer on POSIX (Linux, BSD, macOS): non-blocking socket calls that report
 * OK / RETRY / ERROR, plus listen, parallel connect, options and addresses.
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

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define SEND_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL)
#define SENDV_MAX 1024 /* the header's promise, whatever IOV_MAX says */
/* A kernel with a smaller limit gets a prefix: a short count is a legal partial write. */
#if defined(IOV_MAX) && IOV_MAX < SENDV_MAX
#define SENDV_PER_CALL IOV_MAX
#else
#define SENDV_PER_CALL SENDV_MAX
#endif

/* rasio_iovec_t is handed to sendmsg as struct iovec, so their layouts must agree. */
_Static_assert(sizeof(rasio_iovec_t) == sizeof(struct iovec), "iovec size");
_Static_assert(offsetof(rasio_iovec_t, base) == offsetof(struct iovec, iov_base), "iov_base");
_Static_assert(offsetof(rasio_iovec_t, len) == offsetof(struct iovec, iov_len), "iov_len");
_Static_assert(sizeof(struct sockaddr_storage) <= sizeof(((rasio_addr_t *)0)->u.raw),
               "rasio_addr_t holds any socket address");

static _Thread_local int last_error;

int rasio_sock_last_error(void) { return last_error; }

/* --- descriptors ---------------------------------------------------------------------- */

static bool fd_ok(rasio_fd_t fd) { return fd >= 0 && fd <= INT_MAX; }

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

/* A socket with rasio's properties, or a negative RASIO_E* code. */
static int new_socket(int domain, int type, int protocol) {
  int fd = open_socket(domain, type, protocol);
  return fd < 0 ? rasio__os_error() : fd;
}

/* --- addresses (rasio_addr_t holds a sockaddr's bytes) -------------------------------- */

/* The address family stored in a, or AF_UNSPEC if a is not a whole IPv4/IPv6 address.
 * Copied out rather than cast, so no access breaks the aliasing rules. */
static int addr_af(const rasio_addr_t *a) {
  if (a == NULL || a->len > sizeof a->u.raw) return AF_UNSPEC;
  sa_family_t af;
  if (a->len < offsetof(struct sockaddr, sa_family) + sizeof af) return AF_UNSPEC;
  memcpy(&af, a->u.raw + offsetof(struct sockaddr, sa_family), sizeof af);
  if (af == AF_INET && a->len >= sizeof(struct sockaddr_in)) return AF_INET;
  if (af == AF_INET6 && a->len >= sizeof(struct sockaddr_in6)) return AF_INET6;
  return AF_UNSPEC;
}

static void addr_set(rasio_addr_t *out, const void *sa, socklen_t len) {
  memset(out, 0, sizeof *out);
  if (len > sizeof out->u.raw) len = sizeof out->u.raw;
  memcpy(out->u.raw, sa, len);
  out->len = (uint32_t)len;
}

static const struct sockaddr *addr_sa(const rasio_addr_t *a) {
  return (const struct sockaddr *)(const void *)a->u.raw;
}

int rasio_addr_family(const rasio_addr_t *addr) {
  switch (addr_af(addr)) {
    case AF_INET: return RASIO_AF_INET4;
    case AF_INET6: return RASIO_AF_INET6;
    default: return 0;
  }
}

uint16_t rasio_addr_port(const rasio_addr_t *addr) {
  size_t at;
  switch (addr_af(addr)) {
    case AF_INET: at = offsetof(struct sockaddr_in, sin_port); break;
    case AF_INET6: at = offsetof(struct sockaddr_in6, sin6_port); break;
    default: return 0;
  }
  in_port_t port;
  memcpy(&port, addr->u.raw + at, sizeof port);
  return ntohs(port);
}

/* getaddrinfo's failures as RASIO_E* codes. A temporary failure (no DNS server answered)
 * is still "not resolved": RASIO_EAGAIN means would-block in rasio. */
static int resolve_error(int rc) {
  switch (rc) {
    case EAI_MEMORY: return RASIO_ENOMEM;
    case EAI_FAMILY: return RASIO_EAFNOSUPPORT;
    case EAI_SYSTEM: return rasio__os_error();
    default: return RASIO_ENOTFOUND; /* NONAME, AGAIN, NODATA, FAIL, SERVICE... */
  }
}

static int af_of(int family) {
  return family == RASIO_AF_INET4 ? AF_INET : family == RASIO_AF_INET6 ? AF_INET6 : AF_UNSPEC;
}

static bool family_ok(int family) {
  return family == RASIO_AF_ANY || family == RASIO_AF_INET4 || family == RASIO_AF_INET6;
}

/* glibc's AI_ADDRCONFIG does not count loopback addresses, so on a host with nothing but
 * lo (a container without network) it refuses even "127.0.0.1" once a family is named, and
 * on an IPv4-only host it refuses "::1". Does it hide a family here? The probe names no
 * host, so it never waits for DNS. */
static bool addrconfig_hides(int socktype) {
  static const int families[] = {AF_INET, AF_INET6};
  for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
    hints.ai_family = families[i];
    hints.ai_socktype = socktype;
    if (getaddrinfo(NULL, "0", &hints, &res) != 0) return true;
    freeaddrinfo(res);
  }
  return false;
}

/* Resolves host/port with the given hints; "" means no host (wildcard or loopback). When
 * AI_ADDRCONFIG may be why nothing was found, asks once more without it: an address the
 * host really cannot use then fails at socket() or connect(), which the callers handle. */
static int resolve(const char *host, const char *port, int family, int socktype, int flags,
                   struct addrinfo **res) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = flags;
  hints.ai_family = af_of(family);
  hints.ai_socktype = socktype;
  if (host != NULL && host[0] == '\0') host = NULL;
  int rc = getaddrinfo(host, port, &hints, res);
  if (rc == EAI_NONAME && (flags & AI_ADDRCONFIG) && addrconfig_hides(socktype)) {
    hints.ai_flags &= ~AI_ADDRCONFIG;
    rc = getaddrinfo(host, port, &hints, res);
  }
  return rc == 0 ? 0 : resolve_error(rc);
}

int rasio_addr_parse(const char *host, uint16_t port, rasio_addr_t *out) {
  if (host == NULL || out == NULL) return RASIO_EINVAL;
  if (host[0] == '\0') return RASIO_ENOTFOUND; /* resolve() would read it as "no host" */
  char service[8];
  snprintf(service, sizeof service, "%u", (unsigned)port);
  struct addrinfo *res;
  /* AI_NUMERICHOST: parsing never touches DNS, so it cannot block. */
  int rc = resolve(host, service, RASIO_AF_ANY, SOCK_DGRAM, AI_NUMERICHOST | AI_NUMERICSERV,
                   &res);
  if (rc != 0) return rc;
  addr_set(out, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

int rasio_addr_format(const rasio_addr_t *addr, char *buf, size_t len) {
  if (buf == NULL || len == 0) return RASIO_EINVAL;
  buf[0] = '\0';
  int af = addr_af(addr);
  if (af == AF_UNSPEC) return RASIO_EINVAL;
  char host[NI_MAXHOST];
  /* getnameinfo rather than inet_ntop: it keeps an IPv6 scope ("fe80::1%eth0"). */
  if (getnameinfo(addr_sa(addr), (socklen_t)addr->len, host, sizeof host, NULL, 0,
                  NI_NUMERICHOST) != 0)
    return RASIO_EINVAL;
  const char *fmt = af == AF_INET6 ? "[%s]:%u" : "%s:%u";
  int n = snprintf(buf, len, fmt, host, (unsigned)rasio_addr_port(addr));
  if (n < 0 || (size_t)n >= len) {
    buf[0] = '\0'; /* no half address that looks whole */
    return RASIO_EINVAL;
  }
  return 0;
}

static int name_of(int (*get)(int, struct sockaddr *, socklen_t *), rasio_fd_t fd,
                   rasio_addr_t *out) {
  if (out == NULL) return RASIO_EINVAL;
  if (!fd_ok(fd)) return RASIO_EBADF;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (get((int)fd, (struct sockaddr *)&ss, &sl) != 0) return rasio__os_error();
  addr_set(out, &ss, sl);
  return 0;
}

int rasio_sock_local_addr(rasio_fd_t fd, rasio_addr_t *out) {
  return name_of(getsockname, fd, out);
}

int rasio_sock_peer_addr(rasio_fd_t fd, rasio_addr_t *out) {
  return name_of(getpeername, fd, out);
}

/* --- I/O -------------------------------------------------------------------------------- */

/* Checks the arguments every I/O call shares and zeroes the count; IO_OK to go on. */
static int io_begin(const rasio_event_t *ev, const void *buf, size_t len, size_t *count) {
  if (count != NULL) *count = 0;
  if (count == NULL || !rasio__event_valid(ev) || ev->kind != RASIO__KIND_FD ||
      (buf == NULL && len > 0)) {
    last_error = RASIO_EINVAL;
    return RASIO_IO_ERROR;
  }
  return RASIO_IO_OK;
}

/* Classifies a failed call. Only would-block is RETRY (and, for writes, a transient lack of
 * buffers); everything else, including ENOTSOCK, must be ERROR or an owner loops forever on
 * a dead descriptor. */
static int io_fail(rasio_event_t *ev, uint32_t dir, int err) {
  bool retry = err == EAGAIN || err == EWOULDBLOCK || (dir == RASIO_WRITE && err == ENOBUFS);
  if (retry) {
    rasio__event_retry(ev, dir);
    return RASIO_IO_RETRY;
  }
  last_error = rasio__os_error_map(err);
  return RASIO_IO_ERROR;
}

/* A byte count from a syscall into the result convention. */
static int io_done(rasio_event_t *ev, uint32_t dir, ssize_t n, size_t *count) {
  if (n < 0) return io_fail(ev, dir, errno);
  *count = (size_t)n;
  return RASIO_IO_OK;
}

int rasio_sock_recv(rasio_event_t *ev, void *buf, size_t len, size_t *count) {
  int rc = io_begin(ev, buf, len, count);
  if (rc != RASIO_IO_OK) return rc;
  if (len == 0) { /* a zero-length read would look exactly like the end of the stream */
    last_error = RASIO_EINVAL;
    return RASIO_IO_ERROR;
  }
  ssize_t n;
  do {
    n = recv((int)ev->fd, buf, len, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n == 0) { /* the peer closed: stream end, not an empty success */
    last_error = 0;
    return RASIO_IO_ERROR;
  }
  return io_done(ev, RASIO_READ, n, count);
}

int rasio_sock_send(rasio_event_t *ev, const void *buf, size_t len, size_t *count) {
  int rc = io_begin(ev, buf, len, count);
  if (rc != RASIO_IO_OK) return rc;
  ssize_t n;
  do {
    n = send((int)ev->fd, buf, len, SEND_FLAGS);
  } while (n < 0 && errno == EINTR);
  return io_done(ev, RASIO_WRITE, n, count);
}

int rasio_sock_sendv(rasio_event_t *ev, const rasio_iovec_t *iov, size_t iovcnt,
                     size_t *count) {
  int rc = io_begin(ev, iov, iovcnt, count);
  if (rc != RASIO_IO_OK) return rc;
  if (iovcnt > SENDV_MAX) {
    last_error = RASIO_EINVAL;
    return RASIO_IO_ERROR;
  }
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

int rasio_sock_recvfrom(rasio_event_t *ev, void *buf, size_t len, rasio_addr_t *from,
                        size_t *count) {
  int rc = io_begin(ev, buf, len, count);
  if (rc != RASIO_IO_OK) return rc;
  struct sockaddr_storage ss;
  socklen_t sl;
  ssize_t n;
  /* Without MSG_TRUNC an oversized datagram yields its first len bytes and the rest is
   * dropped: OK with count == len, as the contract wants. */
  do {
    sl = sizeof ss;
    n = recvfrom((int)ev->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
  } while (n < 0 && errno == EINTR);
  rc = io_done(ev, RASIO_READ, n, count);
  if (rc == RASIO_IO_OK && from != NULL) addr_set(from, &ss, sl);
  return rc;
}

int rasio_sock_sendto(rasio_event_t *ev, const void *buf, size_t len, const rasio_addr_t *to,
                      size_t *count) {
  int rc = io_begin(ev, buf, len, count);
  if (rc != RASIO_IO_OK) return rc;
  if (addr_af(to) == AF_UNSPEC) { /* refused before any syscall */
    last_error = to == NULL || to->len == 0 ? RASIO_EINVAL : RASIO_EAFNOSUPPORT;
    return RASIO_IO_ERROR;
  }
  ssize_t n;
  do {
    n = sendto((int)ev->fd, buf, len, SEND_FLAGS, addr_sa(to), (socklen_t)to->len);
  } while (n < 0 && errno == EINTR);
  return io_done(ev, RASIO_WRITE, n, count);
}

int rasio_sock_accept(rasio_event_t *listener, rasio_fd_t *out, rasio_addr_t *peer) {
  if (out != NULL) *out = RASIO_INVALID_FD;
  if (out == NULL || !rasio__event_valid(listener) || listener->kind != RASIO__KIND_FD) {
    last_error = RASIO_EINVAL;
    return RASIO_IO_ERROR;
  }
  struct sockaddr_storage ss;
  socklen_t sl;
  int fd;
  do {
    sl = sizeof ss;
    fd = accept_fd((int)listener->fd, (struct sockaddr *)&ss, &sl);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return io_fail(listener, RASIO_READ, errno);
  *out = fd;
  if (peer != NULL) addr_set(peer, &ss, sl);
  return RASIO_IO_OK;
}

/* --- listen ------------------------------------------------------------------------------ */

/* One candidate address: socket, SO_REUSEADDR, bind and (TCP) listen. The fd or an error. */
static int listen_one(const struct addrinfo *ai) {
  int fd = new_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
  if (fd < 0) return fd;
  int one = 1;
  /* SO_REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT.
   * IPV6_V6ONLY keeps the OS default. */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
      (ai->ai_socktype == SOCK_STREAM && listen(fd, SOMAXCONN) != 0)) {
    int err = rasio__os_error();
    close(fd);
    return err;
  }
  return fd;
}

static int open_listener(const char *host, const char *port, int family, int socktype,
                         rasio_fd_t *out, rasio_addr_t *bound) {
  if (out != NULL) *out = RASIO_INVALID_FD;
  if (port == NULL || out == NULL || !family_ok(family)) return RASIO_EINVAL;
  struct addrinfo *res;
  int rc = resolve(host, port, family, socktype, AI_PASSIVE | AI_ADDRCONFIG, &res);
  if (rc != 0) return rc;
  /* Unlike the Pony runtime, which gives up after the first result, try each address in
   * turn: the first may be a family this host cannot bind (an IPv6 wildcard without IPv6,
   * say) while a later one works. */
  int fd = RASIO_ENOTFOUND;
  for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
    fd = listen_one(ai);
  freeaddrinfo(res);
  if (fd < 0) return fd;
  if (bound != NULL && (rc = rasio_sock_local_addr(fd, bound)) != 0) {
    close(fd);
    return rc;
  }
  *out = fd;
  return 0;
}

int rasio_sock_listen_tcp(const char *host, const char *port, int family, rasio_fd_t *out,
                          rasio_addr_t *bound) {
  return open_listener(host, port, family, SOCK_STREAM, out, bound);
}

int rasio_sock_listen_udp(const char *host, const char *port, int family, rasio_fd_t *out,
                          rasio_addr_t *bound) {
  return open_listener(host, port, family, SOCK_DGRAM, out, bound);
}

/* --- connect ----------------------------------------------------------------------------- */

/* A connect to the wildcard address means "this host" (as in the Pony runtime); name the
 * loopback explicitly, since not every kernel takes the wildcard as a destination. */
static void wildcard_to_loopback(struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)(void *)sa;
    if (in->sin_addr.s_addr == htonl(INADDR_ANY)) in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (sa->sa_family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)sa;
    if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) in6->sin6_addr = in6addr_loopback;
  }
}

/* Starts one non-blocking connect: the fd, or a negative code once the socket is closed.
 * EINPROGRESS is the usual answer; an immediate success (loopback may do that) and EINTR
 * (the connect then goes on in the background) complete as WRITE all the same. */
static int connect_start(struct addrinfo *ai) {
  int fd = new_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
  if (fd < 0) return fd;
  wildcard_to_loopback(ai->ai_addr);
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS || errno == EINTR)
    return fd;
  int err = rasio__os_error();
  close(fd);
  return err;
}

/* The template must describe a socket event, or every attempt would fail alike. */
static bool tmpl_ok(const rasio_event_opts_t *t) {
  const uint32_t dirs = RASIO_READ | RASIO_WRITE, modes = RASIO_ONESHOT | RASIO_LEVEL;
  return t != NULL && t->notify != NULL && (t->flags & dirs) != 0 &&
         (t->flags & ~(dirs | modes)) == 0 && (t->flags & modes) != modes &&
         (t->ready & ~dirs) == 0;
}

/* One attempt: a started connect wrapped in an event that owns the socket. */
static rasio_event_t *connect_attempt(rasio_loop_t *loop, struct addrinfo *ai,
                                      const rasio_event_opts_t *tmpl) {
  int fd = connect_start(ai);
  if (fd < 0) return NULL;
  rasio_event_opts_t opts = *tmpl;
  opts.fd = fd;
  opts.own_fd = true;
  rasio_event_t *ev = NULL;
  /* On failure the event does not exist and the fd is still ours to close. */
  if (rasio_event_new(loop, &opts, &ev) != 0) {
    close(fd);
    return NULL;
  }
  return ev;
}

/* Every resolved address, up to max, is tried at once (Happy-Eyeballs without the stagger);
 * the owner keeps the first that completes and disposes the rest. Capping at max keeps every
 * attempt in the owner's array: none can reach it only through notify. The resolver's order
 * (RFC 6724 preference) decides which addresses make the cut. A NULL or empty host means
 * this host's loopback addresses, as getaddrinfo has it. */
int rasio_sock_connect_tcp(rasio_loop_t *loop, const char *host, const char *port, int family,
                           const rasio_event_opts_t *tmpl, rasio_event_t **events, size_t max) {
  if (loop == NULL || port == NULL || !family_ok(family) || !tmpl_ok(tmpl) || events == NULL ||
      max == 0)
    return RASIO_EINVAL;
  if (max > INT_MAX) max = INT_MAX;
  struct addrinfo *res;
  if (resolve(host, port, family, SOCK_STREAM, AI_ADDRCONFIG, &res) != 0) return 0;
  size_t started = 0;
  for (struct addrinfo *ai = res; ai != NULL && started < max; ai = ai->ai_next) {
    rasio_event_t *ev = connect_attempt(loop, ai, tmpl);
    if (ev != NULL) events[started++] = ev;
  }
  freeaddrinfo(res);
  return (int)started;
}

/* --- shutdown, close, pending error ---------------------------------------------------- */

int rasio_sock_shutdown(rasio_fd_t fd) {
  if (!fd_ok(fd)) return RASIO_EBADF;
  return shutdown((int)fd, SHUT_WR) == 0 ? 0 : rasio__os_error();
}

int rasio_sock_close(rasio_fd_t fd) {
  if (!fd_ok(fd)) return RASIO_EBADF;
  /* Closed exactly once even on EINTR: Linux has released the number by then, and a retry
   * could close a descriptor another thread has just been given. */
  if (close((int)fd) != 0 && errno != EINTR) return rasio__os_error();
  return 0;
}

int rasio_sock_error(rasio_fd_t fd) {
  if (!fd_ok(fd)) return RASIO_EBADF;
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt((int)fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return rasio__os_error();
  return rasio__os_error_map(err);
}

/* --- options ---------------------------------------------------------------------------- */

static int set_opt(rasio_fd_t fd, int level, int name, const void *val, socklen_t len) {
  if (!fd_ok(fd)) return RASIO_EBADF;
  return setsockopt((int)fd, level, name, val, len) == 0 ? 0 : rasio__os_error();
}

static int set_int(rasio_fd_t fd, int level, int name, int value) {
  return set_opt(fd, level, name, &value, sizeof value);
}

static int get_int(rasio_fd_t fd, int level, int name, int *value) {
  if (value == NULL) return RASIO_EINVAL;
  if (!fd_ok(fd)) return RASIO_EBADF;
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt((int)fd, level, name, &v, &len) != 0) return rasio__os_error();
  *value = v;
  return 0;
}

/* AF_INET or AF_INET6 for a socket (options differ per IP version), or a RASIO_E* code. */
static int sock_af(rasio_fd_t fd) {
  rasio_addr_t a;
  int rc = rasio_sock_local_addr(fd, &a);
  if (rc != 0) return rc;
  int af = addr_af(&a);
  return af == AF_UNSPEC ? RASIO_EAFNOSUPPORT : af;
}

int rasio_sock_set_nodelay(rasio_fd_t fd, bool on) {
  return set_int(fd, IPPROTO_TCP, TCP_NODELAY, on);
}

#if defined(TCP_KEEPIDLE)
#define KEEPIDLE_OPT TCP_KEEPIDLE
#elif defined(TCP_KEEPALIVE)
#define KEEPIDLE_OPT TCP_KEEPALIVE /* macOS spells it so */
#endif

/* idle_s (0 = the OS default) is the silence before the first probe; the probe interval and
 * count keep the OS defaults. */
int rasio_sock_set_keepalive(rasio_fd_t fd, bool on, unsigned idle_s) {
  int rc = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, on);
  if (rc != 0 || !on || idle_s == 0) return rc;
#ifdef KEEPIDLE_OPT
  /* Linux refuses more than 32767 s; beyond 9 hours "rarely" is what the caller meant. */
  return set_int(fd, IPPROTO_TCP, KEEPIDLE_OPT, idle_s > 32767 ? 32767 : (int)idle_s);
#else
  return RASIO_ENOTSUP;
#endif
}

static int set_buf(rasio_fd_t fd, int name, int bytes) {
  if (bytes <= 0) return RASIO_EINVAL;
  return set_int(fd, SOL_SOCKET, name, bytes);
}

int rasio_sock_set_sndbuf(rasio_fd_t fd, int bytes) { return set_buf(fd, SO_SNDBUF, bytes); }
int rasio_sock_set_rcvbuf(rasio_fd_t fd, int bytes) { return set_buf(fd, SO_RCVBUF, bytes); }

int rasio_sock_get_sndbuf(rasio_fd_t fd, int *bytes) {
  return get_int(fd, SOL_SOCKET, SO_SNDBUF, bytes);
}

int rasio_sock_get_rcvbuf(rasio_fd_t fd, int *bytes) {
  return get_int(fd, SOL_SOCKET, SO_RCVBUF, bytes);
}

int rasio_sock_set_broadcast(rasio_fd_t fd, bool on) {
  return set_int(fd, SOL_SOCKET, SO_BROADCAST, on);
}

int rasio_sock_set_ttl(rasio_fd_t fd, int ttl) {
  if (ttl < 1 || ttl > 255) return RASIO_EINVAL;
  int af = sock_af(fd);
  if (af < 0) return af;
  return af == AF_INET ? set_int(fd, IPPROTO_IP, IP_TTL, ttl)
                       : set_int(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl);
}

/* The IPv4 multicast options take a byte: BSD insists on it, Linux accepts either. */
static int set_byte(rasio_fd_t fd, int level, int name, unsigned char value) {
  return set_opt(fd, level, name, &value, sizeof value);
}

int rasio_sock_set_multicast_ttl(rasio_fd_t fd, int ttl) {
  if (ttl < 0 || ttl > 255) return RASIO_EINVAL;
  int af = sock_af(fd);
  if (af < 0) return af;
  return af == AF_INET ? set_byte(fd, IPPROTO_IP, IP_MULTICAST_TTL, (unsigned char)ttl)
                       : set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ttl);
}

int rasio_sock_set_multicast_loop(rasio_fd_t fd, bool on) {
  int af = sock_af(fd);
  if (af < 0) return af;
  unsigned int v6 = on;
  return af == AF_INET ? set_byte(fd, IPPROTO_IP, IP_MULTICAST_LOOP, on)
                       : set_opt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &v6, sizeof v6);
}

/* IPv4: iface is the numeric address of the local interface. */
static int member4(rasio_fd_t fd, const rasio_addr_t *group, const char *iface, bool join) {
  struct sockaddr_in sin;
  memcpy(&sin, group->u.raw, sizeof sin);
  struct ip_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.imr_multiaddr = sin.sin_addr;
  mr.imr_interface.s_addr = htonl(INADDR_ANY);
  if (iface != NULL && inet_pton(AF_INET, iface, &mr.imr_interface) != 1)
    return RASIO_ENOTFOUND;
  return set_opt(fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &mr,
                 sizeof mr);
}

/* IPv6: iface is an interface name or index; without one, the group's scope (ff02::1%eth0)
 * or else the kernel's choice. */
static int member6(rasio_fd_t fd, const rasio_addr_t *group, const char *iface, bool join) {
  struct sockaddr_in6 sin6;
  memcpy(&sin6, group->u.raw, sizeof sin6);
  struct ipv6_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.ipv6mr_multiaddr = sin6.sin6_addr;
  mr.ipv6mr_interface = sin6.sin6_scope_id;
  if (iface != NULL) {
    char *end = NULL;
    unsigned long idx = if_nametoindex(iface);
    if (idx == 0) idx = strtoul(iface, &end, 10);
    if (idx == 0 || idx > UINT_MAX || (end != NULL && *end != '\0')) return RASIO_ENOTFOUND;
    mr.ipv6mr_interface = (unsigned)idx;
  }
  return set_opt(fd, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &mr, sizeof mr);
}

static int membership(rasio_fd_t fd, const char *group, const char *iface, bool join) {
  if (group == NULL) return RASIO_EINVAL;
  if (!fd_ok(fd)) return RASIO_EBADF;
  if (iface != NULL && iface[0] == '\0') iface = NULL;
  rasio_addr_t g;
  int rc = rasio_addr_parse(group, 0, &g);
  if (rc != 0) return rc;
  return addr_af(&g) == AF_INET ? member4(fd, &g, iface, join) : member6(fd, &g, iface, join);
}

int rasio_sock_multicast_join(rasio_fd_t fd, const char *group, const char *iface) {
  return membership(fd, group, iface, true);
}

int rasio_sock_multicast_leave(rasio_fd_t fd, const char *group, const char *iface) {
  return membership(fd, group, iface, false);
}
