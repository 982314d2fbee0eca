/* SPDX-License-Identifier: BSD-2-Clause */
/* The socket layer's logic that is the same on every OS: the argument checks of the I/O
 * calls, addresses, the resolver, listen, parallel connect, options and multicast. The
 * system calls that differ, and what each OS does differently, are in src/sock/posix.c and
 * src/sock/win.c behind src/sock/sock.h; the Berkeley calls both OSes share (getaddrinfo,
 * bind, listen, connect's addresses, setsockopt...) are spelled here.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* glibc: NI_MAXHOST, beside getaddrinfo, under -std=c11 */
#endif

#include "sock/sock.h"
#include "net/net.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct sockaddr_storage) <= sizeof(((rasio_addr_t *)0)->u.raw),
               "rasio_addr_t holds any socket address");

static _Thread_local int last_error;

int rasio_sock_last_error(void) { return last_error; }

int rasio__sock_io_error(int code) {
  last_error = code;
  return RASIO_IO_ERROR;
}

/* --- I/O: the argument checks; the calls are the OS file's ------------------------------ */

/* Checks the arguments every I/O call shares and zeroes the count; IO_OK to go on. No
 * object is larger than PTRDIFF_MAX, so a larger len is a caller's error, refused before
 * the kernel would take or fault on it. */
static int io_begin(const rasio_event_t *ev, const void *buf, size_t len, size_t *count) {
  if (count != NULL) *count = 0;
  if (count == NULL || !rasio__event_valid(ev) || ev->kind != RASIO__KIND_FD ||
      (buf == NULL && len > 0) || len > PTRDIFF_MAX)
    return rasio__sock_io_error(RASIO_EINVAL);
  return RASIO_IO_OK;
}

/* Classifies a failed call. Only would-block is RETRY (and, for writes, a transient lack of
 * buffers); everything else, including ENOTSOCK (WSAENOTSOCK), must be ERROR or an owner
 * loops forever on a dead socket. RETRY is told to the event: where edge is emulated
 * (Windows), a direction is armed again only after the owner has seen it would block. */
int rasio__sock_io_fail(rasio_event_t *ev, uint32_t dir, int err) {
  if (rasio__sock_would_block(err, dir)) {
    rasio__event_retry(ev, dir);
    return RASIO_IO_RETRY;
  }
  return rasio__sock_io_error(rasio__os_error_map(err));
}

int rasio_sock_recv(rasio_event_t *ev, void *buf, size_t len, size_t *count) {
  int rc = io_begin(ev, buf, len, count);
  if (rc != RASIO_IO_OK) return rc;
  /* a zero-length read would look exactly like the end of the stream */
  if (len == 0) return rasio__sock_io_error(RASIO_EINVAL);
  rc = rasio__sock_recv(ev, buf, len, count);
  if (rc != RASIO_IO_OK) return rc;
  /* len > 0, so reading nothing means the peer closed: stream end, not an empty success */
  if (*count == 0) return rasio__sock_io_error(0);
  /* Fewer bytes than asked: a stream was empty as the call returned, which is all that the
   * RETRY of one more call would say, so the owner may stop here (rasio.h); the event makes
   * sure it hears of what comes next. For a datagram it at most costs one extra READ. */
  if (*count < len) rasio__event_short_read(ev);
  return RASIO_IO_OK;
}

int rasio_sock_send(rasio_event_t *ev, const void *buf, size_t len, size_t *count) {
  int rc = io_begin(ev, buf, len, count);
  return rc != RASIO_IO_OK ? rc : rasio__sock_send(ev, buf, len, count);
}

int rasio_sock_sendv(rasio_event_t *ev, const rasio_iovec_t *iov, size_t iovcnt,
                     size_t *count) {
  int rc = io_begin(ev, iov, iovcnt, count);
  if (rc != RASIO_IO_OK) return rc;
  if (iovcnt > RASIO__SOCK_SENDV_MAX) return rasio__sock_io_error(RASIO_EINVAL);
  /* A segment the kernel would fault on, or lengths that overflow: refused before the
   * system call, like a NULL buffer of send. */
  size_t total = 0;
  for (size_t i = 0; i < iovcnt; i++) {
    if ((iov[i].base == NULL && iov[i].len > 0) || iov[i].len > PTRDIFF_MAX - total)
      return rasio__sock_io_error(RASIO_EINVAL);
    total += iov[i].len;
  }
  return rasio__sock_sendv(ev, iov, iovcnt, count);
}

int rasio_sock_recvfrom(rasio_event_t *ev, void *buf, size_t len, rasio_addr_t *from,
                        size_t *count) {
  int rc = io_begin(ev, buf, len, count);
  return rc != RASIO_IO_OK ? rc : rasio__sock_recvfrom(ev, buf, len, from, count);
}

/* A length that cannot hold the sockaddr it claims (EINVAL, as the kernel has it), rather
 * than a well-formed address of a family rasio does not send to (EAFNOSUPPORT). */
static bool addr_malformed(const rasio_addr_t *a) {
  rasio__sa_family_t af;
  size_t at = offsetof(struct sockaddr, sa_family);
  if (a == NULL || a->len > sizeof a->u.raw || a->len < at + sizeof af) return true;
  memcpy(&af, a->u.raw + at, sizeof af);
  return (af == AF_INET && a->len < sizeof(struct sockaddr_in)) ||
         (af == AF_INET6 && a->len < sizeof(struct sockaddr_in6));
}

/* Whether to is of another family than the socket's own address. */
static bool family_differs(rasio_fd_t fd, const rasio_addr_t *to) {
  rasio_addr_t local;
  return rasio_sock_local_addr(fd, &local) == 0 &&
         rasio__sock_addr_af(&local) != rasio__sock_addr_af(to);
}

int rasio_sock_sendto(rasio_event_t *ev, const void *buf, size_t len, const rasio_addr_t *to,
                      size_t *count) {
  int rc = io_begin(ev, buf, len, count);
  if (rc != RASIO_IO_OK) return rc;
  if (rasio__sock_addr_af(to) == AF_UNSPEC) /* refused before any system call */
    return rasio__sock_io_error(addr_malformed(to) ? RASIO_EINVAL : RASIO_EAFNOSUPPORT);
  rc = rasio__sock_sendto(ev, buf, len, to, count);
  /* An address of the other IP family is EAFNOSUPPORT on every OS (Wine says ENOTSUP);
   * asked only once the call failed, so a datagram that goes out costs nothing more. */
  if (rc == RASIO_IO_ERROR && rasio_sock_last_error() != RASIO_EAFNOSUPPORT &&
      family_differs(ev->fd, to))
    return rasio__sock_io_error(RASIO_EAFNOSUPPORT);
  return rc;
}

int rasio_sock_accept(rasio_event_t *listener, rasio_fd_t *out, rasio_addr_t *peer) {
  if (out != NULL) *out = RASIO_INVALID_FD;
  if (out == NULL || !rasio__event_valid(listener) || listener->kind != RASIO__KIND_FD)
    return rasio__sock_io_error(RASIO_EINVAL);
  return rasio__sock_accept(listener, out, peer);
}

/* --- addresses (rasio_addr_t holds a sockaddr's bytes) -------------------------------- */

/* Copied out rather than cast, so no access breaks the aliasing rules. */
int rasio__sock_addr_af(const rasio_addr_t *a) {
  if (a == NULL || a->len > sizeof a->u.raw) return AF_UNSPEC;
  rasio__sa_family_t af;
  if (a->len < offsetof(struct sockaddr, sa_family) + sizeof af) return AF_UNSPEC;
  memcpy(&af, a->u.raw + offsetof(struct sockaddr, sa_family), sizeof af);
  if (af == AF_INET && a->len >= sizeof(struct sockaddr_in)) return AF_INET;
  if (af == AF_INET6 && a->len >= sizeof(struct sockaddr_in6)) return AF_INET6;
  return AF_UNSPEC;
}

void rasio__sock_addr_set(rasio_addr_t *out, const void *sa, socklen_t len) {
  memset(out, 0, sizeof *out);
  /* socklen_t is unsigned on POSIX and an int on Windows: a negative length counts as 0. */
  size_t n = len > 0 ? (size_t)len : 0;
  if (n > sizeof out->u.raw) n = sizeof out->u.raw;
  memcpy(out->u.raw, sa, n);
  out->len = (uint32_t)n;
}

const struct sockaddr *rasio__sock_addr_sa(const rasio_addr_t *a) {
  return (const struct sockaddr *)(const void *)a->u.raw;
}

int rasio_addr_family(const rasio_addr_t *addr) {
  switch (rasio__sock_addr_af(addr)) {
    case AF_INET: return RASIO_AF_INET4;
    case AF_INET6: return RASIO_AF_INET6;
    default: return 0;
  }
}

uint16_t rasio_addr_port(const rasio_addr_t *addr) {
  size_t at;
  switch (rasio__sock_addr_af(addr)) {
    case AF_INET: at = offsetof(struct sockaddr_in, sin_port); break;
    case AF_INET6: at = offsetof(struct sockaddr_in6, sin6_port); break;
    default: return 0;
  }
  uint16_t port; /* in_port_t, USHORT on Windows */
  memcpy(&port, addr->u.raw + at, sizeof port);
  return ntohs(port);
}

/* getaddrinfo's failures (WSA codes on Windows) as RASIO_E* codes. A temporary failure (no
 * DNS server answered) is still "not resolved": RASIO_EAGAIN means would-block in rasio. */
static int resolve_error(int rc) {
  if (rasio__sock_eai_system(rc)) return rasio__sock_os_error();
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

/* glibc's AI_ADDRCONFIG, and Windows' like it, does not count loopback addresses, so on a
 * host with nothing but loopback (a container without network) it refuses even "127.0.0.1"
 * once a family is named, and (glibc) on an IPv4-only host it refuses "::1". Does it hide a
 * family here? The probe names no host, so it never waits for DNS. */
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

/* A port is a decimal number in 0..65535 or a service name ("http"). A string that starts
 * like a number must be one: resolvers read "99999" as 34463 (glibc keeps the low 16 bits)
 * and "-1" as 65535, and would quietly use a port nobody asked for. No locale: only ASCII
 * digits are digits. */
static bool port_ok(const char *port) {
  char c0 = port[0];
  if (c0 == '\0') return false;
  bool numeric = (c0 >= '0' && c0 <= '9') || c0 == '+' || c0 == '-' || c0 == ' ' ||
                 (c0 >= '\t' && c0 <= '\r');
  if (!numeric) return true; /* a name: the resolver knows it or says ENOTFOUND */
  unsigned long value = 0;
  for (const char *p = port; *p != '\0'; p++) {
    if (*p < '0' || *p > '9') return false;
    value = value * 10 + (unsigned long)(*p - '0');
    if (value > 65535) return false;
  }
  return true;
}

/* Resolves host/port with the given hints; "" means no host (wildcard or loopback). When
 * AI_ADDRCONFIG may be why nothing was found, asks once more without it: an address the
 * host really cannot use then fails at socket() or connect(), which the callers handle.
 * A port that is not one (port_ok) is EINVAL. */
static int resolve(const char *host, const char *port, int family, int socktype, int flags,
                   struct addrinfo **res) {
  if (!port_ok(port)) return RASIO_EINVAL;
  int rc = rasio__sock_startup();
  if (rc != 0) return rc;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = flags;
  hints.ai_family = af_of(family);
  hints.ai_socktype = socktype;
  if (host != NULL && host[0] == '\0') host = NULL;
  rc = getaddrinfo(host, port, &hints, res);
  if (rasio__sock_no_name(rc) && (flags & AI_ADDRCONFIG) && addrconfig_hides(socktype)) {
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
  int rc = resolve(host, service, RASIO_AF_ANY, SOCK_DGRAM, rasio__sock_ai_numeric, &res);
  if (rc != 0) return rc;
  rasio__sock_addr_set(out, res->ai_addr, (socklen_t)res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

int rasio_addr_format(const rasio_addr_t *addr, char *buf, size_t len) {
  if (buf == NULL || len == 0) return RASIO_EINVAL;
  buf[0] = '\0';
  int af = rasio__sock_addr_af(addr);
  if (af == AF_UNSPEC || rasio__sock_startup() != 0) return RASIO_EINVAL;
  char host[NI_MAXHOST];
  /* getnameinfo rather than inet_ntop: it keeps an IPv6 scope ("fe80::1%eth0", "%12" on
   * Windows). */
  if (getnameinfo(rasio__sock_addr_sa(addr), (socklen_t)addr->len, host, sizeof host, NULL, 0,
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

/* getpeername (peer) or getsockname into out. */
static int name_of(rasio_fd_t fd, rasio_addr_t *out, bool peer) {
  if (out == NULL) return RASIO_EINVAL;
  if (!rasio__sock_fd_ok(fd)) return RASIO_EBADF;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  struct sockaddr *sa = (struct sockaddr *)&ss;
  rasio__sock_t s = (rasio__sock_t)fd;
  if ((peer ? getpeername(s, sa, &sl) : getsockname(s, sa, &sl)) != 0)
    return rasio__sock_os_error();
  rasio__sock_addr_set(out, &ss, sl);
  return 0;
}

int rasio_sock_local_addr(rasio_fd_t fd, rasio_addr_t *out) { return name_of(fd, out, false); }

int rasio_sock_peer_addr(rasio_fd_t fd, rasio_addr_t *out) { return name_of(fd, out, true); }

/* --- listen ------------------------------------------------------------------------------ */

/* The port of a resolved address (0: ephemeral). */
static uint16_t port_of(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) return ntohs(((const struct sockaddr_in *)sa)->sin_port);
  if (sa->sa_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
  return 0;
}

/* SO_REUSEADDR lets UDP sockets share a fixed port (multicast receivers want that). On an
 * ephemeral UDP port it lets the kernel hand one port to two sockets, so not there. */
static int reuse_addr(rasio__sock_t s, const struct addrinfo *ai) {
  if (ai->ai_socktype == SOCK_DGRAM && port_of(ai->ai_addr) == 0) return 0;
  return rasio__sock_reuse_addr(s, ai->ai_socktype);
}

/* One candidate address: socket, SO_REUSEADDR where the OS wants it (reuse_addr),
 * bind and (TCP) listen. 0 with the socket in *out, or an error. IPV6_V6ONLY keeps the OS
 * default (on, on Windows). */
static int listen_one(const struct addrinfo *ai, bool reuseport, rasio__sock_t *out) {
  rasio__sock_t s = (rasio__sock_t)RASIO_INVALID_FD;
  int rc = rasio__sock_open(ai->ai_family, ai->ai_socktype, ai->ai_protocol, &s);
  if (rc != 0) return rc;
  if (reuseport && (rc = rasio__sock_reuse_port(s)) != 0) {
    rasio__fd_close((rasio_fd_t)s);
    return rc;
  }
  if (reuse_addr(s, ai) != 0 ||
      bind(s, ai->ai_addr, (socklen_t)ai->ai_addrlen) != 0 ||
      (ai->ai_socktype == SOCK_STREAM && listen(s, SOMAXCONN) != 0)) {
    rc = rasio__sock_os_error();
    rasio__fd_close((rasio_fd_t)s);
    return rc;
  }
  *out = s;
  return 0;
}

static int open_listener(const char *host, const char *port, int family, int socktype,
                         bool reuseport, rasio_fd_t *out, rasio_addr_t *bound) {
  if (out != NULL) *out = RASIO_INVALID_FD;
  if (port == NULL || out == NULL || !family_ok(family)) return RASIO_EINVAL;
  struct addrinfo *res;
  int rc = resolve(host, port, family, socktype, AI_PASSIVE | AI_ADDRCONFIG, &res);
  if (rc != 0) return rc;
  /* Unlike the Pony runtime, which gives up after the first result, try each address in
   * turn: the first may be a family this host cannot bind (an IPv6 wildcard without IPv6,
   * say) while a later one works. */
  rasio__sock_t s = (rasio__sock_t)RASIO_INVALID_FD;
  rc = RASIO_ENOTFOUND;
  for (const struct addrinfo *ai = res; ai != NULL && rc != 0; ai = ai->ai_next)
    rc = listen_one(ai, reuseport, &s);
  freeaddrinfo(res);
  if (rc != 0) return rc;
  if (bound != NULL && (rc = rasio_sock_local_addr((rasio_fd_t)s, bound)) != 0) {
    rasio__fd_close((rasio_fd_t)s);
    return rc;
  }
  *out = (rasio_fd_t)s;
  return 0;
}

int rasio_sock_listen_tcp(const char *host, const char *port, int family, rasio_fd_t *out,
                          rasio_addr_t *bound) {
  return open_listener(host, port, family, SOCK_STREAM, false, out, bound);
}

int rasio_sock_listen_tcp_reuseport(const char *host, const char *port, int family,
                                    rasio_fd_t *out, rasio_addr_t *bound) {
  return open_listener(host, port, family, SOCK_STREAM, true, out, bound);
}

int rasio_sock_listen_udp(const char *host, const char *port, int family, rasio_fd_t *out,
                          rasio_addr_t *bound) {
  return open_listener(host, port, family, SOCK_DGRAM, false, out, bound);
}

/* --- connect ----------------------------------------------------------------------------- */

/* A connect to the wildcard address means "this host" (as in the Pony runtime); name the
 * loopback explicitly, since not every kernel takes the wildcard as a destination (Windows
 * refuses it with WSAEADDRNOTAVAIL). */
static void wildcard_to_loopback(struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)(void *)sa;
    if (in->sin_addr.s_addr == htonl(INADDR_ANY)) in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (sa->sa_family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)sa;
    if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) in6->sin6_addr = in6addr_loopback;
  }
}

/* Starts one non-blocking connect: 0 with the socket in *out, or a RASIO_E* code once the
 * socket is closed. */
static int connect_start(struct addrinfo *ai, rasio__sock_t *out) {
  rasio__sock_t s = (rasio__sock_t)RASIO_INVALID_FD;
  int rc = rasio__sock_open(ai->ai_family, ai->ai_socktype, ai->ai_protocol, &s);
  if (rc != 0) return rc;
  wildcard_to_loopback(ai->ai_addr);
  rc = rasio__sock_connect(s, ai->ai_addr, (socklen_t)ai->ai_addrlen);
  if (rc != 0) {
    rasio__fd_close((rasio_fd_t)s);
    return rc;
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

/* One attempt: a started connect wrapped in an event that owns the socket, in *out; 0 or
 * the RASIO_E* code that stopped it. The connect runs before the event exists, so a
 * synchronous failure closes a socket no backend has seen. */
static int connect_attempt(rasio_loop_t *loop, struct addrinfo *ai,
                           const rasio_event_opts_t *tmpl, rasio_event_t **out) {
  rasio__sock_t s = (rasio__sock_t)RASIO_INVALID_FD;
  int rc = connect_start(ai, &s);
  if (rc != 0) return rc;
  rasio_event_opts_t opts = *tmpl;
  opts.fd = (rasio_fd_t)s;
  opts.own_fd = true;
  /* On failure the event does not exist and the socket is still ours to close. */
  rc = rasio_event_new(loop, &opts, out);
  if (rc != 0) rasio__fd_close((rasio_fd_t)s);
  return rc;
}

static bool connect_args_ok(rasio_loop_t *loop, const char *port, int family,
                            const rasio_event_opts_t *tmpl, rasio_event_t **events, size_t max) {
  return loop != NULL && port != NULL && family_ok(family) && tmpl_ok(tmpl) && events != NULL &&
         max > 0;
}

/* Every resolved address, up to max, is tried at once (Happy-Eyeballs without the stagger);
 * the owner keeps the first that completes and disposes the rest. Capping at max keeps every
 * attempt in the owner's array: none can reach it only through notify. The resolver's order
 * (RFC 6724 preference on POSIX) decides which addresses make the cut. A NULL or empty host
 * means this host's loopback addresses, as getaddrinfo has it. When no attempt starts, the
 * caller learns why (the resolver's error, or the last address's), never a bare 0: "the
 * name does not resolve" and "no descriptor left" call for different reactions. */
int rasio__sock_connect_res(rasio_loop_t *loop, void *list, const rasio_event_opts_t *tmpl,
                            rasio_event_t **events, size_t max) {
  if (max > INT_MAX) max = INT_MAX;
  size_t started = 0;
  int rc, err = RASIO_ENOTFOUND; /* a successful resolve has an address: replaced below */
  for (struct addrinfo *ai = list; ai != NULL && started < max; ai = ai->ai_next) {
    rasio_event_t *ev = NULL;
    rc = connect_attempt(loop, ai, tmpl, &ev);
    if (rc == 0)
      events[started++] = ev;
    else
      err = rc;
  }
  return started > 0 ? (int)started : err;
}

int rasio__sock_resolve_tcp(const char *host, const char *port, int family, void **res) {
  struct addrinfo *list = NULL;
  int rc = resolve(host, port, family, SOCK_STREAM, AI_ADDRCONFIG, &list);
  *res = list;
  return rc;
}

void rasio__sock_res_free(void *res) { freeaddrinfo(res); }

int rasio_sock_connect_tcp(rasio_loop_t *loop, const char *host, const char *port, int family,
                           const rasio_event_opts_t *tmpl, rasio_event_t **events, size_t max) {
  if (!connect_args_ok(loop, port, family, tmpl, events, max)) return RASIO_EINVAL;
  void *res;
  int rc = rasio__sock_resolve_tcp(host, port, family, &res);
  if (rc != 0) return rc;
  rc = rasio__sock_connect_res(loop, res, tmpl, events, max);
  freeaddrinfo(res);
  return rc;
}

/* The numeric flags make getaddrinfo parse the host without DNS, so this never waits; a
 * host it cannot parse (RASIO_ENOTFOUND under those flags) is a name, or a service name on
 * POSIX, where AI_NUMERICSERV is among them: the resolver thread looks it up, and gives the
 * real answer if it does not resolve either. */
int rasio__sock_connect_numeric(rasio_loop_t *loop, const char *host, const char *port,
                                int family, const rasio_event_opts_t *tmpl,
                                rasio_event_t **events, size_t max, bool *name) {
  *name = false;
  if (!connect_args_ok(loop, port, family, tmpl, events, max)) return RASIO_EINVAL;
  struct addrinfo *res;
  int rc = resolve(host, port, family, SOCK_STREAM, AI_ADDRCONFIG | rasio__sock_ai_numeric, &res);
  if (rc == RASIO_ENOTFOUND) {
    *name = true;
    return 0;
  }
  if (rc != 0) return rc;
  rc = rasio__sock_connect_res(loop, res, tmpl, events, max);
  freeaddrinfo(res);
  return rc;
}

/* --- options ---------------------------------------------------------------------------- */

int rasio__sock_set_opt(rasio_fd_t fd, int level, int name, const void *val, socklen_t len) {
  if (!rasio__sock_fd_ok(fd)) return RASIO_EBADF;
  return setsockopt((rasio__sock_t)fd, level, name, val, len) == 0 ? 0 : rasio__sock_os_error();
}

/* Winsock's integer and boolean options are DWORD-sized, POSIX's int-sized. */
int rasio__sock_set_int(rasio_fd_t fd, int level, int name, int value) {
  return rasio__sock_set_opt(fd, level, name, &value, sizeof value);
}

static int get_int(rasio_fd_t fd, int level, int name, int *value) {
  if (value == NULL) return RASIO_EINVAL;
  if (!rasio__sock_fd_ok(fd)) return RASIO_EBADF;
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt((rasio__sock_t)fd, level, name, (void *)&v, &len) != 0)
    return rasio__sock_os_error();
  *value = v;
  return 0;
}

/* The pending error. POSIX clears it by reading it. Windows documents the same, but Wine
 * (8.0) keeps a failed connect's error however often it is read (setsockopt(SO_ERROR, 0)
 * "succeeds" there and changes nothing), so under Wine a second read repeats the error. */
int rasio_sock_error(rasio_fd_t fd) {
  int err = 0;
  int rc = get_int(fd, SOL_SOCKET, SO_ERROR, &err);
  return rc != 0 ? rc : rasio__os_error_map(err);
}

/* AF_INET or AF_INET6 for a socket (options differ per IP version), or a RASIO_E* code. */
static int sock_af(rasio_fd_t fd) {
  int af = rasio__sock_protocol_af(fd);
  if (af != AF_UNSPEC) return af;
  rasio_addr_t a = {.len = 0};
  int rc = rasio_sock_local_addr(fd, &a);
  if (rc != 0) return rc;
  af = rasio__sock_addr_af(&a);
  return af == AF_UNSPEC ? RASIO_EAFNOSUPPORT : af;
}

/* On anything but a stream socket: ENOTSUP. Asked first, since the systems disagree on
 * what setting TCP_NODELAY on a UDP socket fails with (Linux ENOPROTOOPT, Wine EINVAL). */
int rasio_sock_set_nodelay(rasio_fd_t fd, bool on) {
  int type = 0, rc = get_int(fd, SOL_SOCKET, SO_TYPE, &type);
  if (rc != 0) return rc;
  if (type != SOCK_STREAM) return RASIO_ENOTSUP;
  return rasio__sock_set_int(fd, IPPROTO_TCP, TCP_NODELAY, on);
}

/* idle_s (0 = the OS default) is the silence before the first probe; the probe interval and
 * count keep the OS defaults where the OS can say so (rasio__sock_set_keepidle). */
int rasio_sock_set_keepalive(rasio_fd_t fd, bool on, unsigned idle_s) {
  int rc = rasio__sock_set_int(fd, SOL_SOCKET, SO_KEEPALIVE, on);
  if (rc != 0 || !on || idle_s == 0) return rc;
  /* Linux refuses more than 32767 s; beyond 9 hours "rarely" is what the caller meant. The
   * same limit on every OS, for one behaviour. */
  return rasio__sock_set_keepidle(fd, idle_s > 32767 ? 32767 : (int)idle_s);
}

static int set_buf(rasio_fd_t fd, int name, int bytes) {
  if (bytes <= 0) return RASIO_EINVAL;
  return rasio__sock_set_int(fd, SOL_SOCKET, name, bytes);
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
  return rasio__sock_set_int(fd, SOL_SOCKET, SO_BROADCAST, on);
}

int rasio_sock_set_ttl(rasio_fd_t fd, int ttl) {
  if (ttl < 1 || ttl > 255) return RASIO_EINVAL;
  int af = sock_af(fd);
  if (af < 0) return af;
  return af == AF_INET ? rasio__sock_set_int(fd, IPPROTO_IP, IP_TTL, ttl)
                       : rasio__sock_set_int(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl);
}

int rasio_sock_set_multicast_ttl(rasio_fd_t fd, int ttl) {
  if (ttl < 0 || ttl > 255) return RASIO_EINVAL;
  int af = sock_af(fd);
  if (af < 0) return af;
  return af == AF_INET ? rasio__sock_set_mcast4(fd, IP_MULTICAST_TTL, ttl)
                       : rasio__sock_set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ttl);
}

/* IPV6_MULTICAST_LOOP takes an unsigned int (RFC 3493): for 0 and 1, an int's bytes. */
int rasio_sock_set_multicast_loop(rasio_fd_t fd, bool on) {
  int af = sock_af(fd);
  if (af < 0) return af;
  return af == AF_INET ? rasio__sock_set_mcast4(fd, IP_MULTICAST_LOOP, on)
                       : rasio__sock_set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, on);
}

/* --- multicast groups -------------------------------------------------------------------- */

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
  return rasio__sock_set_opt(fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP,
                             &mr, sizeof mr);
}

/* IPv6: iface is an interface name (where the OS file knows names: rasio__sock_if_index) or
 * index; without one, the group's scope (ff02::1%eth0, ff02::1%12) or else the system's
 * choice. */
static int member6(rasio_fd_t fd, const rasio_addr_t *group, const char *iface, bool join) {
  struct sockaddr_in6 sin6;
  memcpy(&sin6, group->u.raw, sizeof sin6);
  struct ipv6_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.ipv6mr_multiaddr = sin6.sin6_addr;
  mr.ipv6mr_interface = sin6.sin6_scope_id;
  if (iface != NULL) {
    char *end = NULL;
    unsigned long idx = rasio__sock_if_index(iface);
    if (idx == 0) idx = strtoul(iface, &end, 10);
    if (idx == 0 || idx > UINT_MAX || (end != NULL && *end != '\0')) return RASIO_ENOTFOUND;
    mr.ipv6mr_interface = (unsigned)idx;
  }
  /* JOIN/LEAVE_GROUP: the RFC 3493 names; Windows spells them ADD/DROP_MEMBERSHIP too. */
  return rasio__sock_set_opt(fd, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &mr,
                             sizeof mr);
}

static int membership(rasio_fd_t fd, const char *group, const char *iface, bool join) {
  if (group == NULL) return RASIO_EINVAL;
  if (!rasio__sock_fd_ok(fd)) return RASIO_EBADF;
  if (iface != NULL && iface[0] == '\0') iface = NULL;
  rasio_addr_t g;
  int rc = rasio_addr_parse(group, 0, &g);
  if (rc != 0) return rc;
  return rasio__sock_addr_af(&g) == AF_INET ? member4(fd, &g, iface, join)
                                            : member6(fd, &g, iface, join);
}

int rasio_sock_multicast_join(rasio_fd_t fd, const char *group, const char *iface) {
  return membership(fd, group, iface, true);
}

int rasio_sock_multicast_leave(rasio_fd_t fd, const char *group, const char *iface) {
  return membership(fd, group, iface, false);
}
