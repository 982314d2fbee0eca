/* The socket layer on Windows (Winsock 2): non-blocking socket calls that report
 * OK / RETRY / ERROR, plus listen, parallel connect, options and addresses. The logic is
 * src/sock/posix.c's; only the system calls and the notes below differ.
 *
 * Notes about Winsock:
 * - Sockets are made with WSASocketW without WSA_FLAG_OVERLAPPED (non-overlapped: no
 *   kernel ever holds a pointer into a caller's buffer) and with WSA_FLAG_NO_HANDLE_INHERIT
 *   (the close-on-exec of Windows), then put in non-blocking mode with FIONBIO. Winsock has
 *   no MSG_DONTWAIT: a blocking socket handed in by an owner would block.
 * - Windows has no SIGPIPE; writes need no flag.
 * - WSAStartup runs once per process, at the first call that needs it, and is never undone:
 *   a reference held for the process's lifetime. The backend's own WSAStartup/WSACleanup
 *   pairs stay balanced on top of it.
 * - Only WSAEWOULDBLOCK is RETRY (and WSAENOBUFS on writes). RETRY is also reported to the
 *   event (rasio__event_retry): the AFD provider emulates edge triggering by polling again
 *   only once the owner has seen would-block, so a persistent edge event on AFD depends on
 *   every I/O going through these calls.
 * - An oversized datagram fails with WSAEMSGSIZE after filling the buffer: that is OK with
 *   the prefix, as on POSIX. UDP sockets have SIO_UDP_CONNRESET off, or an ICMP
 *   port-unreachable caused by an earlier sendto would fail a later recvfrom with
 *   WSAECONNRESET (and close the owner's socket).
 * - Winsock never interrupts a non-blocking call (WSAEINTR only cancels blocking ones), so
 *   unlike POSIX there is no retry loop around the calls.
 * - Wine (8.0) differs from Windows in ways these calls pass through unchanged: a reset
 *   connection reads as the end of the stream (recv = 0), and SO_ERROR is not cleared by
 *   reading it.
 */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mstcpip.h>
#include <mswsock.h>
#include <windows.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifndef SIO_UDP_NETRESET
#define SIO_UDP_NETRESET _WSAIOW(IOC_VENDOR, 15)
#endif
#ifndef TCP_KEEPIDLE
#define TCP_KEEPIDLE 3 /* Windows 10 1709+; mingw-w64 10 lacks the name (TCP_KEEPALIVE) */
#endif

#define SENDV_MAX 1024  /* the header's promise */
#define SENDV_STACK 64  /* WSABUFs on the stack; more come from the heap */
#define IO_MAX INT_MAX  /* recv/send take an int length; more is a (legal) partial call */

_Static_assert(sizeof(struct sockaddr_storage) <= sizeof(((rasio_addr_t *)0)->u.raw),
               "rasio_addr_t holds any socket address");

static _Thread_local int last_error;

int rasio_sock_last_error(void) { return last_error; }

/* --- Winsock start-up ----------------------------------------------------------------- */

static INIT_ONCE wsa_once = INIT_ONCE_STATIC_INIT;
static int wsa_rc;

static BOOL CALLBACK wsa_init(INIT_ONCE *once, void *param, void **ctx) {
  (void)once, (void)param, (void)ctx;
  WSADATA data;
  int rc = WSAStartup(MAKEWORD(2, 2), &data);
  wsa_rc = rc == 0 ? 0 : rasio__os_error_map(rc);
  return TRUE;
}

/* 0 once Winsock is usable in this process, else a RASIO_E* code. Every call that may be
 * the process's first use of Winsock (making a socket, resolving, formatting) asks. */
static int wsa_ready(void) {
  InitOnceExecuteOnce(&wsa_once, wsa_init, NULL, NULL);
  return wsa_rc;
}

/* --- descriptors ---------------------------------------------------------------------- */

static bool fd_ok(rasio_fd_t fd) { return fd > 0 && (SOCKET)fd != INVALID_SOCKET; }

static int wsa_error(void) { return rasio__os_error_map(WSAGetLastError()); }

/* Closes s for a failed set-up without losing the error that explains the failure. */
static void close_failed(SOCKET s) {
  int saved = WSAGetLastError();
  closesocket(s);
  WSASetLastError(saved);
}

/* Non-blocking, and for UDP without the ICMP-reset report. 0 or a RASIO_E* code (s is
 * closed then). */
static int prepare(SOCKET s, int type) {
  u_long one = 1;
  if (ioctlsocket(s, FIONBIO, &one) != 0) {
    int err = wsa_error();
    closesocket(s);
    return err;
  }
  if (type == SOCK_DGRAM) {
    /* Best effort: providers (and Wine) that lack the ioctls never report those resets
     * on unconnected sockets anyway. NETRESET is the same for TTL-expired reports. */
    BOOL off = FALSE;
    DWORD bytes;
    (void)WSAIoctl(s, SIO_UDP_CONNRESET, &off, sizeof off, NULL, 0, &bytes, NULL, NULL);
    (void)WSAIoctl(s, SIO_UDP_NETRESET, &off, sizeof off, NULL, 0, &bytes, NULL, NULL);
  }
  return 0;
}

/* A socket with rasio's properties in *out, or a RASIO_E* code. */
static int new_socket(int domain, int type, int protocol, SOCKET *out) {
  int rc = wsa_ready();
  if (rc != 0) return rc;
  SOCKET s = WSASocketW(domain, type, protocol, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL) {
    /* Before Windows 7 SP1 the flag is unknown: make the handle non-inheritable after. */
    s = WSASocketW(domain, type, protocol, NULL, 0, 0);
    if (s != INVALID_SOCKET) (void)SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
  }
  if (s == INVALID_SOCKET) return wsa_error();
  rc = prepare(s, type);
  if (rc == 0) *out = s;
  return rc;
}

/* --- addresses (rasio_addr_t holds a sockaddr's bytes) -------------------------------- */

/* The address family stored in a, or AF_UNSPEC if a is not a whole IPv4/IPv6 address.
 * Copied out rather than cast, so no access breaks the aliasing rules. */
static int addr_af(const rasio_addr_t *a) {
  if (a == NULL || a->len > sizeof a->u.raw) return AF_UNSPEC;
  ADDRESS_FAMILY af;
  if (a->len < offsetof(struct sockaddr, sa_family) + sizeof af) return AF_UNSPEC;
  memcpy(&af, a->u.raw + offsetof(struct sockaddr, sa_family), sizeof af);
  if (af == AF_INET && a->len >= sizeof(struct sockaddr_in)) return AF_INET;
  if (af == AF_INET6 && a->len >= sizeof(struct sockaddr_in6)) return AF_INET6;
  return AF_UNSPEC;
}

static void addr_set(rasio_addr_t *out, const void *sa, int len) {
  memset(out, 0, sizeof *out);
  if (len < 0) len = 0;
  if ((size_t)len > sizeof out->u.raw) len = (int)sizeof out->u.raw;
  memcpy(out->u.raw, sa, (size_t)len);
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
  USHORT port;
  memcpy(&port, addr->u.raw + at, sizeof port);
  return ntohs(port);
}

/* getaddrinfo's failures (WSA codes on Windows) as RASIO_E* codes. A temporary failure (no
 * DNS server answered) is still "not resolved": RASIO_EAGAIN means would-block in rasio. */
static int resolve_error(int rc) {
  switch (rc) {
    case EAI_MEMORY: return RASIO_ENOMEM;
    case EAI_FAMILY: return RASIO_EAFNOSUPPORT;
    default: return RASIO_ENOTFOUND; /* NONAME, AGAIN, NODATA, FAIL, SERVICE... */
  }
}

static int af_of(int family) {
  return family == RASIO_AF_INET4 ? AF_INET : family == RASIO_AF_INET6 ? AF_INET6 : AF_UNSPEC;
}

static bool family_ok(int family) {
  return family == RASIO_AF_ANY || family == RASIO_AF_INET4 || family == RASIO_AF_INET6;
}

/* Windows' AI_ADDRCONFIG, like glibc's, does not count loopback addresses, so on a host with
 * no network it refuses even "127.0.0.1" once a family is named. Does it hide a family
 * here? The probe names no host, so it never waits for DNS. */
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
  int rc = wsa_ready();
  if (rc != 0) return rc;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = flags;
  hints.ai_family = af_of(family);
  hints.ai_socktype = socktype;
  if (host != NULL && host[0] == '\0') host = NULL;
  rc = getaddrinfo(host, port, &hints, res);
  if ((rc == EAI_NONAME || rc == EAI_NODATA) && (flags & AI_ADDRCONFIG) &&
      addrconfig_hides(socktype)) {
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
  /* AI_NUMERICHOST: parsing never touches DNS, so it cannot block. (No AI_NUMERICSERV:
   * older Windows refuses the flag, and the service is a number anyway.) */
  int rc = resolve(host, service, RASIO_AF_ANY, SOCK_DGRAM, AI_NUMERICHOST, &res);
  if (rc != 0) return rc;
  addr_set(out, res->ai_addr, (int)res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

int rasio_addr_format(const rasio_addr_t *addr, char *buf, size_t len) {
  if (buf == NULL || len == 0) return RASIO_EINVAL;
  buf[0] = '\0';
  int af = addr_af(addr);
  if (af == AF_UNSPEC || wsa_ready() != 0) return RASIO_EINVAL;
  char host[NI_MAXHOST];
  /* getnameinfo rather than inet_ntop: it keeps an IPv6 scope ("fe80::1%12"). */
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

static int name_of(int(WSAAPI *get)(SOCKET, struct sockaddr *, int *), rasio_fd_t fd,
                   rasio_addr_t *out) {
  if (out == NULL) return RASIO_EINVAL;
  if (!fd_ok(fd)) return RASIO_EBADF;
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  if (get((SOCKET)fd, (struct sockaddr *)&ss, &sl) != 0) return wsa_error();
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
 * buffers); everything else, including WSAENOTSOCK, must be ERROR or an owner loops forever
 * on a dead socket. RETRY is told to the event: the AFD provider's edge emulation re-polls
 * a direction only after the owner has seen it would block. */
static int io_fail(rasio_event_t *ev, uint32_t dir, int err) {
  bool retry = err == WSAEWOULDBLOCK || (dir == RASIO_WRITE && err == WSAENOBUFS);
  if (retry) {
    rasio__event_retry(ev, dir);
    return RASIO_IO_RETRY;
  }
  last_error = rasio__os_error_map(err);
  return RASIO_IO_ERROR;
}

/* A Winsock byte count (SOCKET_ERROR on failure) into the result convention. */
static int io_done(rasio_event_t *ev, uint32_t dir, int n, size_t *count) {
  if (n == SOCKET_ERROR) return io_fail(ev, dir, WSAGetLastError());
  *count = (size_t)n;
  return RASIO_IO_OK;
}

static int io_len(size_t len) { return len > IO_MAX ? IO_MAX : (int)len; }

int rasio_sock_recv(rasio_event_t *ev, void *buf, size_t len, size_t *count) {
  int rc = io_begin(ev, buf, len, count);
  if (rc != RASIO_IO_OK) return rc;
  if (len == 0) { /* a zero-length read would look exactly like the end of the stream */
    last_error = RASIO_EINVAL;
    return RASIO_IO_ERROR;
  }
  int n = recv((SOCKET)ev->fd, buf, io_len(len), 0);
  if (n == 0) { /* the peer closed: stream end, not an empty success */
    last_error = 0;
    return RASIO_IO_ERROR;
  }
  /* A datagram socket read with recv: a prefix, as POSIX recv gives. */
  if (n == SOCKET_ERROR && WSAGetLastError() == WSAEMSGSIZE) n = io_len(len);
  return io_done(ev, RASIO_READ, n, count);
}

int rasio_sock_send(rasio_event_t *ev, const void *buf, size_t len, size_t *count) {
  int rc = io_begin(ev, buf, len, count);
  if (rc != RASIO_IO_OK) return rc;
  char none = 0;
  if (buf == NULL) buf = &none; /* len is 0: no pointer Winsock could call bad */
  int n = send((SOCKET)ev->fd, buf, io_len(len), 0);
  return io_done(ev, RASIO_WRITE, n, count);
}

/* Fills bufs from iov; returns how many WSABUFs to pass. Stops early rather than let a
 * segment or the total exceed what one call reports (a DWORD): the caller sees a partial
 * write, which the contract allows. */
static DWORD fill_wsabufs(WSABUF *bufs, const rasio_iovec_t *iov, size_t n) {
  size_t total = 0;
  DWORD used = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = iov[i].len;
    if (len > (size_t)IO_MAX - total) len = (size_t)IO_MAX - total;
    bufs[used].buf = (char *)(uintptr_t)iov[i].base; /* WSASend only reads it */
    bufs[used].len = (ULONG)len;
    used++;
    total += len;
    if (len < iov[i].len) break;
  }
  return used;
}

int rasio_sock_sendv(rasio_event_t *ev, const rasio_iovec_t *iov, size_t iovcnt,
                     size_t *count) {
  int rc = io_begin(ev, iov, iovcnt, count);
  if (rc != RASIO_IO_OK) return rc;
  if (iovcnt > SENDV_MAX) {
    last_error = RASIO_EINVAL;
    return RASIO_IO_ERROR;
  }
  WSABUF stack[SENDV_STACK], *bufs = stack;
  if (iovcnt > SENDV_STACK) {
    bufs = malloc(iovcnt * sizeof *bufs);
    /* Out of memory: send what fits on the stack, a partial write. */
    if (bufs == NULL) {
      bufs = stack;
      iovcnt = SENDV_STACK;
    }
  }
  DWORD nbufs = fill_wsabufs(bufs, iov, iovcnt), sent = 0;
  int n = WSASend((SOCKET)ev->fd, bufs, nbufs, &sent, 0, NULL, NULL);
  int err = WSAGetLastError();
  if (bufs != stack) free(bufs);
  if (n == SOCKET_ERROR) return io_fail(ev, RASIO_WRITE, err);
  *count = sent;
  return RASIO_IO_OK;
}

int rasio_sock_recvfrom(rasio_event_t *ev, void *buf, size_t len, rasio_addr_t *from,
                        size_t *count) {
  int rc = io_begin(ev, buf, len, count);
  if (rc != RASIO_IO_OK) return rc;
  char none;
  if (buf == NULL) buf = &none; /* len is 0: the datagram is consumed, its prefix empty */
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  int sl = sizeof ss;
  int n = recvfrom((SOCKET)ev->fd, buf, io_len(len), 0, (struct sockaddr *)&ss, &sl);
  /* An oversized datagram fills the buffer and fails with WSAEMSGSIZE; the rest is dropped:
   * OK with count == len, as the contract wants. */
  if (n == SOCKET_ERROR && WSAGetLastError() == WSAEMSGSIZE) n = io_len(len);
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
  if (len > IO_MAX) { /* one datagram cannot be cut */
    last_error = RASIO_EMSGSIZE;
    return RASIO_IO_ERROR;
  }
  char none = 0;
  if (buf == NULL) buf = &none; /* an empty datagram */
  int n = sendto((SOCKET)ev->fd, buf, (int)len, 0, addr_sa(to), (int)to->len);
  return io_done(ev, RASIO_WRITE, n, count);
}

int rasio_sock_accept(rasio_event_t *listener, rasio_fd_t *out, rasio_addr_t *peer) {
  if (out != NULL) *out = RASIO_INVALID_FD;
  if (out == NULL || !rasio__event_valid(listener) || listener->kind != RASIO__KIND_FD) {
    last_error = RASIO_EINVAL;
    return RASIO_IO_ERROR;
  }
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  SOCKET s = accept((SOCKET)listener->fd, (struct sockaddr *)&ss, &sl);
  if (s == INVALID_SOCKET) return io_fail(listener, RASIO_READ, WSAGetLastError());
  /* The accepted socket inherits non-blocking mode (and non-overlapped I/O) from the
   * listener; set both properties anyway, in case the listener came from elsewhere. The
   * handle flag may fail under a layered provider, which is harmless. */
  (void)SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
  u_long one = 1;
  if (ioctlsocket(s, FIONBIO, &one) != 0) {
    last_error = wsa_error();
    closesocket(s);
    return RASIO_IO_ERROR; /* this connection only; the listener keeps working */
  }
  *out = (rasio_fd_t)s;
  if (peer != NULL) addr_set(peer, &ss, sl);
  return RASIO_IO_OK;
}

/* --- listen ------------------------------------------------------------------------------ */

/* One candidate address: socket, (UDP) SO_REUSEADDR, bind and (TCP) listen. 0 or an error.
 *
 * SO_REUSEADDR differs on Windows: it lets a second socket bind a port that a live socket
 * is using, even one listening (port stealing). What POSIX programs want from it — a
 * restarted server binding while old connections sit in TIME_WAIT — Windows allows by
 * default, so TCP listeners do without it (as Go and libuv do), and a second listener on a
 * taken port fails with EADDRINUSE as on POSIX. UDP sockets get it, for the port sharing
 * it gives on POSIX too (several multicast receivers on one port). IPV6_V6ONLY keeps the
 * OS default (on, on Windows). */
static int listen_one(const struct addrinfo *ai, SOCKET *out) {
  SOCKET s = INVALID_SOCKET;
  int rc = new_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol, &s);
  if (rc != 0) return rc;
  BOOL one = TRUE;
  if ((ai->ai_socktype == SOCK_DGRAM &&
       setsockopt(s, SOL_SOCKET, SO_REUSEADDR, (const char *)&one, sizeof one) != 0) ||
      bind(s, ai->ai_addr, (int)ai->ai_addrlen) != 0 ||
      (ai->ai_socktype == SOCK_STREAM && listen(s, SOMAXCONN) != 0)) {
    int err = wsa_error();
    closesocket(s);
    return err;
  }
  *out = s;
  return 0;
}

static int open_listener(const char *host, const char *port, int family, int socktype,
                         rasio_fd_t *out, rasio_addr_t *bound) {
  if (out != NULL) *out = RASIO_INVALID_FD;
  if (port == NULL || out == NULL || !family_ok(family)) return RASIO_EINVAL;
  struct addrinfo *res;
  int rc = resolve(host, port, family, socktype, AI_PASSIVE | AI_ADDRCONFIG, &res);
  if (rc != 0) return rc;
  /* Unlike the Pony runtime, which gives up after the first result, try each address in
   * turn: the first may be a family this host cannot bind while a later one works. */
  SOCKET s = INVALID_SOCKET;
  rc = RASIO_ENOTFOUND;
  for (const struct addrinfo *ai = res; ai != NULL && rc != 0; ai = ai->ai_next)
    rc = listen_one(ai, &s);
  freeaddrinfo(res);
  if (rc != 0) return rc;
  if (bound != NULL && (rc = rasio_sock_local_addr((rasio_fd_t)s, bound)) != 0) {
    closesocket(s);
    return rc;
  }
  *out = (rasio_fd_t)s;
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

/* A connect to the wildcard address means "this host" (as in the Pony runtime); Windows
 * refuses the wildcard as a destination (WSAEADDRNOTAVAIL), so name the loopback. */
static void wildcard_to_loopback(struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)(void *)sa;
    if (in->sin_addr.s_addr == htonl(INADDR_ANY)) in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (sa->sa_family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)sa;
    if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) in6->sin6_addr = in6addr_loopback;
  }
}

static bool is_loopback(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return false;
}

/* Windows answers a SYN to a closed loopback port with silence rather than a reset, and
 * retransmits the SYN twice before it reports WSAECONNREFUSED: about 2 s. Without SYN
 * retransmissions a refused loopback connect fails at once (libuv does the same). Where
 * the ioctl is unknown (before Windows 10 1703, Wine), the connect just takes longer. */
static void fast_loopback_refusal(SOCKET s) {
  TCP_INITIAL_RTO_PARAMETERS p = {TCP_INITIAL_RTO_UNSPECIFIED_RTT,
                                  TCP_INITIAL_RTO_NO_SYN_RETRANSMISSIONS};
  DWORD bytes;
  (void)WSAIoctl(s, SIO_TCP_INITIAL_RTO, &p, sizeof p, NULL, 0, &bytes, NULL, NULL);
}

/* Starts one non-blocking connect: 0 with the socket in *out, or a RASIO_E* code once the
 * socket is closed. WSAEWOULDBLOCK is the usual answer; an immediate success completes as
 * WRITE all the same. */
static int connect_start(struct addrinfo *ai, SOCKET *out) {
  SOCKET s = INVALID_SOCKET;
  int rc = new_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol, &s);
  if (rc != 0) return rc;
  wildcard_to_loopback(ai->ai_addr);
  if (is_loopback(ai->ai_addr)) fast_loopback_refusal(s);
  if (connect(s, ai->ai_addr, (int)ai->ai_addrlen) != 0) {
    int err = WSAGetLastError();
    if (err != WSAEWOULDBLOCK && err != WSAEINPROGRESS) {
      close_failed(s);
      return rasio__os_error_map(err);
    }
  }
  *out = s;
  return 0;
}

/* The template must describe a socket event, or every attempt would fail alike. */
static bool tmpl_ok(const rasio_event_opts_t *t) {
  const uint32_t dirs = RASIO_READ | RASIO_WRITE, modes = RASIO_ONESHOT | RASIO_LEVEL;
  return t != NULL && t->notify != NULL && (t->flags & dirs) != 0 &&
         (t->flags & ~(dirs | modes)) == 0 && (t->flags & modes) != modes &&
         (t->ready & ~dirs) == 0;
}

/* One attempt: a started connect wrapped in an event that owns the socket. The connect
 * runs before the event exists, so a synchronous failure closes a socket no backend has
 * seen. */
static rasio_event_t *connect_attempt(rasio_loop_t *loop, struct addrinfo *ai,
                                      const rasio_event_opts_t *tmpl) {
  SOCKET s = INVALID_SOCKET;
  if (connect_start(ai, &s) != 0) return NULL;
  rasio_event_opts_t opts = *tmpl;
  opts.fd = (rasio_fd_t)s;
  opts.own_fd = true;
  rasio_event_t *ev = NULL;
  /* On failure the event does not exist and the socket is still ours to close. */
  if (rasio_event_new(loop, &opts, &ev) != 0) {
    closesocket(s);
    return NULL;
  }
  return ev;
}

/* Every resolved address, up to max, is tried at once (Happy-Eyeballs without the stagger);
 * the owner keeps the first that completes and disposes the rest. Capping at max keeps every
 * attempt in the owner's array: none can reach it only through notify. The resolver's order
 * decides which addresses make the cut. A NULL or empty host means this host's loopback
 * addresses, as getaddrinfo has it. */
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
  return shutdown((SOCKET)fd, SD_SEND) == 0 ? 0 : wsa_error();
}

int rasio_sock_close(rasio_fd_t fd) {
  if (!fd_ok(fd)) return RASIO_EBADF;
  return closesocket((SOCKET)fd) == 0 ? 0 : wsa_error();
}

/* Windows documents that reading SO_ERROR clears it. Wine (8.0) keeps a failed connect's
 * error however often it is read (setsockopt(SO_ERROR, 0) "succeeds" there and changes
 * nothing), so under Wine a second read repeats the error. */
int rasio_sock_error(rasio_fd_t fd) {
  if (!fd_ok(fd)) return RASIO_EBADF;
  int err = 0, len = sizeof err;
  if (getsockopt((SOCKET)fd, SOL_SOCKET, SO_ERROR, (char *)&err, &len) != 0) return wsa_error();
  return rasio__os_error_map(err);
}

/* --- options ---------------------------------------------------------------------------- */

static int set_opt(rasio_fd_t fd, int level, int name, const void *val, int len) {
  if (!fd_ok(fd)) return RASIO_EBADF;
  return setsockopt((SOCKET)fd, level, name, val, len) == 0 ? 0 : wsa_error();
}

/* Winsock's integer and boolean options are DWORD-sized (including the IPv4 multicast
 * ones, which BSD wants as a byte). */
static int set_int(rasio_fd_t fd, int level, int name, int value) {
  return set_opt(fd, level, name, &value, sizeof value);
}

static int get_int(rasio_fd_t fd, int level, int name, int *value) {
  if (value == NULL) return RASIO_EINVAL;
  if (!fd_ok(fd)) return RASIO_EBADF;
  int v = 0, len = sizeof v;
  if (getsockopt((SOCKET)fd, level, name, (char *)&v, &len) != 0) return wsa_error();
  *value = v;
  return 0;
}

/* AF_INET or AF_INET6 for a socket (options differ per IP version), or a RASIO_E* code.
 * From the protocol info rather than the local address: getsockname fails on an unbound
 * socket on Windows (POSIX reports the wildcard). */
static int sock_af(rasio_fd_t fd) {
  if (!fd_ok(fd)) return RASIO_EBADF;
  WSAPROTOCOL_INFOW info;
  int len = sizeof info;
  if (getsockopt((SOCKET)fd, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&info, &len) == 0) {
    if (info.iAddressFamily == AF_INET || info.iAddressFamily == AF_INET6)
      return info.iAddressFamily;
    return RASIO_EAFNOSUPPORT;
  }
  rasio_addr_t a = {.len = 0};
  int rc = rasio_sock_local_addr(fd, &a);
  if (rc != 0) return rc;
  int af = addr_af(&a);
  return af == AF_UNSPEC ? RASIO_EAFNOSUPPORT : af;
}

int rasio_sock_set_nodelay(rasio_fd_t fd, bool on) {
  return set_int(fd, IPPROTO_TCP, TCP_NODELAY, on);
}

/* idle_s (0 = the OS default) is the silence before the first probe; the probe interval and
 * count keep the OS defaults where Windows can say so: TCP_KEEPIDLE (Windows 10 1709+) sets
 * the idle time alone. Older systems only have SIO_KEEPALIVE_VALS, which sets the interval
 * too: 1 s, Windows' default. */
int rasio_sock_set_keepalive(rasio_fd_t fd, bool on, unsigned idle_s) {
  int rc = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, on);
  if (rc != 0 || !on || idle_s == 0) return rc;
  /* The POSIX layer's limit (Linux refuses more than 32767 s), kept for one behaviour. */
  int idle = idle_s > 32767 ? 32767 : (int)idle_s;
  if (set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle) == 0) return 0;
  struct tcp_keepalive ka = {1, (ULONG)idle * 1000u, 1000u};
  DWORD bytes;
  if (WSAIoctl((SOCKET)fd, SIO_KEEPALIVE_VALS, &ka, sizeof ka, NULL, 0, &bytes, NULL, NULL) != 0)
    return wsa_error();
  return 0;
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

int rasio_sock_set_multicast_ttl(rasio_fd_t fd, int ttl) {
  if (ttl < 0 || ttl > 255) return RASIO_EINVAL;
  int af = sock_af(fd);
  if (af < 0) return af;
  return af == AF_INET ? set_int(fd, IPPROTO_IP, IP_MULTICAST_TTL, ttl)
                       : set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ttl);
}

int rasio_sock_set_multicast_loop(rasio_fd_t fd, bool on) {
  int af = sock_af(fd);
  if (af < 0) return af;
  return af == AF_INET ? set_int(fd, IPPROTO_IP, IP_MULTICAST_LOOP, on)
                       : set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, on);
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

/* IPv6: iface is an interface index (Windows interface names are not stable identifiers,
 * and if_nametoindex would pull in iphlpapi); without one, the group's scope (ff02::1%12)
 * or else the system's choice. */
static int member6(rasio_fd_t fd, const rasio_addr_t *group, const char *iface, bool join) {
  struct sockaddr_in6 sin6;
  memcpy(&sin6, group->u.raw, sizeof sin6);
  struct ipv6_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.ipv6mr_multiaddr = sin6.sin6_addr;
  mr.ipv6mr_interface = sin6.sin6_scope_id;
  if (iface != NULL) {
    char *end = NULL;
    unsigned long idx = strtoul(iface, &end, 10);
    if (idx == 0 || idx > UINT_MAX || end == iface || *end != '\0') return RASIO_ENOTFOUND;
    mr.ipv6mr_interface = (unsigned)idx;
  }
  return set_opt(fd, IPPROTO_IPV6, join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &mr,
                 sizeof mr);
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
