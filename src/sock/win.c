/* SPDX-License-Identifier: BSD-2-Clause */
/* The socket layer on Windows (Winsock 2): the system calls behind src/sock/sock.h. The
 * logic every OS shares (argument checks, addresses, the resolver, listen, parallel
 * connect, options, multicast) is in src/sock/common.c; only the system calls and the notes
 * below differ from POSIX.
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
 *   event (rasio__event_retry): the Windows backend emulates edge triggering by arming a
 *   direction again only once the owner has seen would-block, so a persistent edge event
 *   on Windows depends on every I/O going through these calls (or on a resubscribe).
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
#include "sock/sock.h" /* first: winsock2.h before windows.h */

#include <mstcpip.h>
#include <mswsock.h>
#include <windows.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifndef SIO_UDP_NETRESET
#define SIO_UDP_NETRESET _WSAIOW(IOC_VENDOR, 15)
#endif
#ifndef TCP_KEEPIDLE
#define TCP_KEEPIDLE 3 /* Windows 10 1709+; mingw-w64 10 lacks the name (TCP_KEEPALIVE) */
#endif

#define SENDV_STACK 64  /* WSABUFs on the stack; more come from the heap */
#define IO_MAX INT_MAX  /* recv/send take an int length; more is a (legal) partial call */

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

int rasio__sock_startup(void) {
  InitOnceExecuteOnce(&wsa_once, wsa_init, NULL, NULL);
  return wsa_rc;
}

/* --- descriptors ---------------------------------------------------------------------- */

bool rasio__sock_fd_ok(rasio_fd_t fd) { return fd > 0 && (SOCKET)fd != INVALID_SOCKET; }

int rasio__sock_os_error(void) { return rasio__os_error_map(WSAGetLastError()); }

/* Non-blocking, and for UDP without the ICMP-reset report. 0 or a RASIO_E* code (s is
 * closed then). */
static int prepare(SOCKET s, int type) {
  u_long one = 1;
  if (ioctlsocket(s, FIONBIO, &one) != 0) {
    int err = rasio__sock_os_error();
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

int rasio__sock_open(int domain, int type, int protocol, SOCKET *out) {
  int rc = rasio__sock_startup();
  if (rc != 0) return rc;
  SOCKET s = WSASocketW(domain, type, protocol, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL) {
    /* Before Windows 7 SP1 the flag is unknown: make the handle non-inheritable after. */
    s = WSASocketW(domain, type, protocol, NULL, 0, 0);
    if (s != INVALID_SOCKET) (void)SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
  }
  if (s == INVALID_SOCKET) return rasio__sock_os_error();
  rc = prepare(s, type);
  if (rc == 0) *out = s;
  return rc;
}

/* --- the resolver -------------------------------------------------------------------------- */

/* No AI_NUMERICSERV: older Windows refuses the flag, and the service is a number anyway. */
const int rasio__sock_ai_numeric = AI_NUMERICHOST;

/* getaddrinfo's codes are WSA errors; a family AI_ADDRCONFIG hides may come as either. */
bool rasio__sock_no_name(int rc) { return rc == EAI_NONAME || rc == EAI_NODATA; }

/* The codes are the errors themselves: none says "see the OS error" (POSIX's EAI_SYSTEM). */
bool rasio__sock_eai_system(int rc) {
  (void)rc;
  return false;
}

/* --- I/O -------------------------------------------------------------------------------- */

bool rasio__sock_would_block(int err, uint32_t dir) {
  return err == WSAEWOULDBLOCK || (dir == RASIO_WRITE && err == WSAENOBUFS);
}

/* A Winsock byte count (SOCKET_ERROR on failure) into the result convention. */
static int io_done(rasio_event_t *ev, uint32_t dir, int n, size_t *count) {
  if (n == SOCKET_ERROR) return rasio__sock_io_fail(ev, dir, WSAGetLastError());
  *count = (size_t)n;
  return RASIO_IO_OK;
}

static int io_len(size_t len) { return len > IO_MAX ? IO_MAX : (int)len; }

int rasio__sock_recv(rasio_event_t *ev, void *buf, size_t len, size_t *count) {
  int n = recv((SOCKET)ev->fd, buf, io_len(len), 0);
  /* A datagram socket read with recv: a prefix, as POSIX recv gives. */
  if (n == SOCKET_ERROR && WSAGetLastError() == WSAEMSGSIZE) n = io_len(len);
  return io_done(ev, RASIO_READ, n, count);
}

int rasio__sock_send(rasio_event_t *ev, const void *buf, size_t len, size_t *count) {
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

int rasio__sock_sendv(rasio_event_t *ev, const rasio_iovec_t *iov, size_t iovcnt,
                      size_t *count) {
  WSABUF stack[SENDV_STACK], *bufs = stack;
  if (iovcnt > SENDV_STACK) {
    bufs = rasio__malloc(iovcnt * sizeof *bufs);
    /* Out of memory: send what fits on the stack, a partial write. */
    if (bufs == NULL) {
      bufs = stack;
      iovcnt = SENDV_STACK;
    }
  }
  DWORD nbufs = fill_wsabufs(bufs, iov, iovcnt), sent = 0;
  int n = WSASend((SOCKET)ev->fd, bufs, nbufs, &sent, 0, NULL, NULL);
  int err = WSAGetLastError();
  if (bufs != stack) rasio__free(bufs);
  if (n == SOCKET_ERROR) return rasio__sock_io_fail(ev, RASIO_WRITE, err);
  *count = sent;
  return RASIO_IO_OK;
}

int rasio__sock_recvfrom(rasio_event_t *ev, void *buf, size_t len, rasio_addr_t *from,
                         size_t *count) {
  char none;
  if (buf == NULL) buf = &none; /* len is 0: the datagram is consumed, its prefix empty */
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  int sl = sizeof ss;
  int n = recvfrom((SOCKET)ev->fd, buf, io_len(len), 0, (struct sockaddr *)&ss, &sl);
  /* An oversized datagram fills the buffer and fails with WSAEMSGSIZE; the rest is dropped:
   * OK with count == len, as the contract wants. */
  if (n == SOCKET_ERROR && WSAGetLastError() == WSAEMSGSIZE) n = io_len(len);
  int rc = io_done(ev, RASIO_READ, n, count);
  if (rc == RASIO_IO_OK && from != NULL) rasio__sock_addr_set(from, &ss, sl);
  return rc;
}

int rasio__sock_sendto(rasio_event_t *ev, const void *buf, size_t len, const rasio_addr_t *to,
                       size_t *count) {
  if (len > IO_MAX) return rasio__sock_io_error(RASIO_EMSGSIZE); /* one datagram cannot be cut */
  char none = 0;
  if (buf == NULL) buf = &none; /* an empty datagram */
  int n = sendto((SOCKET)ev->fd, buf, (int)len, 0, rasio__sock_addr_sa(to), (int)to->len);
  return io_done(ev, RASIO_WRITE, n, count);
}

int rasio__sock_accept(rasio_event_t *listener, rasio_fd_t *out, rasio_addr_t *peer) {
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  SOCKET s = accept((SOCKET)listener->fd, (struct sockaddr *)&ss, &sl);
  if (s == INVALID_SOCKET) return rasio__sock_io_fail(listener, RASIO_READ, WSAGetLastError());
  /* The accepted socket inherits non-blocking mode (and non-overlapped I/O) from the
   * listener; set both properties anyway, in case the listener came from elsewhere. The
   * handle flag may fail under a layered provider, which is harmless. */
  (void)SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
  u_long one = 1;
  if (ioctlsocket(s, FIONBIO, &one) != 0) {
    int err = rasio__sock_os_error();
    closesocket(s);
    return rasio__sock_io_error(err); /* this connection only; the listener keeps working */
  }
  *out = (rasio_fd_t)s;
  if (peer != NULL) rasio__sock_addr_set(peer, &ss, sl);
  return RASIO_IO_OK;
}

/* --- listen, connect ------------------------------------------------------------------- */

/* SO_REUSEADDR differs on Windows: it lets a second socket bind a port that a live socket
 * is using, even one listening (port stealing). What POSIX programs want from it — a
 * restarted server binding while old connections sit in TIME_WAIT — Windows allows by
 * default, so TCP listeners do without it (as Go and libuv do), and a second listener on a
 * taken port fails with EADDRINUSE as on POSIX. UDP sockets get it, for the port sharing
 * it gives on POSIX too (several multicast receivers on one port). */
int rasio__sock_reuse_addr(SOCKET s, int socktype) {
  if (socktype != SOCK_DGRAM) return 0;
  BOOL one = TRUE;
  return setsockopt(s, SOL_SOCKET, SO_REUSEADDR, (const char *)&one, sizeof one);
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

/* WSAEWOULDBLOCK is the usual answer; an immediate success completes as WRITE all the
 * same. */
int rasio__sock_connect(SOCKET s, const struct sockaddr *sa, socklen_t len) {
  if (is_loopback(sa)) fast_loopback_refusal(s);
  if (connect(s, sa, len) == 0) return 0;
  int err = WSAGetLastError();
  return err == WSAEWOULDBLOCK || err == WSAEINPROGRESS ? 0 : rasio__os_error_map(err);
}

/* --- shutdown, close -------------------------------------------------------------------- */

int rasio_sock_shutdown(rasio_fd_t fd) {
  if (!rasio__sock_fd_ok(fd)) return RASIO_EBADF;
  return shutdown((SOCKET)fd, SD_SEND) == 0 ? 0 : rasio__sock_os_error();
}

int rasio_sock_close(rasio_fd_t fd) {
  if (!rasio__sock_fd_ok(fd)) return RASIO_EBADF;
  return closesocket((SOCKET)fd) == 0 ? 0 : rasio__sock_os_error();
}

/* --- options ---------------------------------------------------------------------------- */

/* From the protocol info rather than the local address: getsockname fails on an unbound
 * socket on Windows (POSIX reports the wildcard). */
int rasio__sock_protocol_af(rasio_fd_t fd) {
  if (!rasio__sock_fd_ok(fd)) return RASIO_EBADF;
  WSAPROTOCOL_INFOW info;
  int len = sizeof info;
  if (getsockopt((SOCKET)fd, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&info, &len) != 0)
    return AF_UNSPEC; /* the local address, then */
  if (info.iAddressFamily == AF_INET || info.iAddressFamily == AF_INET6)
    return info.iAddressFamily;
  return RASIO_EAFNOSUPPORT;
}

/* TCP_KEEPIDLE (Windows 10 1709+) sets the idle time alone, so the probe interval and count
 * keep the OS defaults. Older systems only have SIO_KEEPALIVE_VALS, which sets the interval
 * too: 1 s, Windows' default. */
int rasio__sock_set_keepidle(rasio_fd_t fd, int idle_s) {
  if (rasio__sock_set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_s) == 0) return 0;
  struct tcp_keepalive ka = {1, (ULONG)idle_s * 1000u, 1000u};
  DWORD bytes;
  if (WSAIoctl((SOCKET)fd, SIO_KEEPALIVE_VALS, &ka, sizeof ka, NULL, 0, &bytes, NULL, NULL) != 0)
    return rasio__sock_os_error();
  return 0;
}

/* Winsock's IPv4 multicast options are DWORD-sized like the others (BSD wants a byte). */
int rasio__sock_set_mcast4(rasio_fd_t fd, int name, int value) {
  return rasio__sock_set_int(fd, IPPROTO_IP, name, value);
}

/* Only interface indexes: Windows interface names are not stable identifiers, and
 * if_nametoindex would pull in iphlpapi. */
unsigned long rasio__sock_if_index(const char *name) {
  (void)name;
  return 0;
}

/* --- sockets made elsewhere, shared ports (issue 12) ------------------------------------ */

/* A socket rasio did not make gets non-blocking mode, which rasio's calls rely on; its
 * inheritance and overlapped attribute stay as its owner chose. */
int rasio__sock_adopt_prepare(rasio_fd_t fd) {
  u_long one = 1;
  if (ioctlsocket((SOCKET)fd, FIONBIO, &one) != 0) return rasio__sock_os_error();
  return 0;
}

/* Winsock has no SO_REUSEPORT, and its SO_REUSEADDR does not share a port's load:
 * "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE" (Microsoft Learn): once a second socket has
 * bound the port, "the behavior for all sockets bound to that port is indeterminate",
 * and an incoming TCP connection is not guaranteed to reach either. So: not supported. */
int rasio__sock_reuse_port(SOCKET s) {
  (void)s;
  return RASIO_ENOTSUP;
}

/* Unix domain sockets: Winsock has AF_UNIX stream sockets since Windows 10 1803
 * (afunix.h), but rasio's Windows backends have not been verified with them, nor can
 * they be under Wine, where rasio's Windows suite runs; until they are: ENOTSUP. */
int rasio__sock_unix(const char *path, bool listening, rasio_fd_t *out) {
  (void)path;
  (void)listening;
  (void)out;
  return RASIO_ENOTSUP;
}
