/* SPDX-License-Identifier: BSD-2-Clause */
/* What the socket layer's files share. src/sock/common.c holds the logic that is the same on
 * every OS (argument checks, addresses, the resolver, listen, parallel connect, options,
 * multicast); src/sock/posix.c and src/sock/win.c hold the system calls and what each OS
 * does differently, behind the functions declared here. Cross-file names carry the
 * rasio__sock_ prefix; everything else in those files is static.
 *
 * The one platform switch below chooses the socket headers and two types, nothing else:
 * every difference in behaviour is a function of the OS file.
 */
#ifndef RASIO_SOCK_H
#define RASIO_SOCK_H

#ifdef _WIN32
#include <winsock2.h> /* before anything that may pull in windows.h */
#include <ws2tcpip.h>
typedef SOCKET rasio__sock_t;              /* what the Berkeley calls take */
typedef ADDRESS_FAMILY rasio__sa_family_t; /* the type of sockaddr's sa_family */
#else
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
typedef int rasio__sock_t;
typedef sa_family_t rasio__sa_family_t;
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* A socket and its rasio_fd_t convert both ways with a cast. */

#define RASIO__SOCK_SENDV_MAX 1024 /* rasio_sock_sendv's promise, whatever the OS's limit */

/* --- in the OS file (posix.c, win.c) ----------------------------------------------------- */

/* Whether fd is in the range of this OS's sockets (no system call). */
bool rasio__sock_fd_ok(rasio_fd_t fd);
/* The error of the socket call that just failed, as a RASIO_E* code. */
int rasio__sock_os_error(void);
/* 0 once the socket API is usable in this process, else a RASIO_E* code. Every call that may
 * be the process's first use of it (making a socket, resolving, formatting) asks. */
int rasio__sock_startup(void);
/* A socket with rasio's properties (non-blocking, not inherited by child processes) in *out;
 * 0 or a RASIO_E* code, with nothing left open. */
int rasio__sock_open(int domain, int type, int protocol, rasio__sock_t *out);
/* Starts a non-blocking connect on s: 0 once it is under way (its completion, or an
 * immediate success, arrives as WRITE), else a RASIO_E* code. s stays open either way. */
int rasio__sock_connect(rasio__sock_t s, const struct sockaddr *sa, socklen_t len);
/* SO_REUSEADDR for a listening socket of socktype, where this OS wants it: 0, or non-zero
 * with the OS error left for rasio__sock_os_error. */
int rasio__sock_reuse_addr(rasio__sock_t s, int socktype);
/* SO_REUSEPORT (several listeners share a port, the kernel spreads connections): 0 or a
 * RASIO_E* code; RASIO_ENOTSUP where the OS has no such thing (Windows). */
int rasio__sock_reuse_port(rasio__sock_t s);
/* Makes a socket made elsewhere fit for rasio's calls (non-blocking): 0 or a RASIO_E*. */
int rasio__sock_adopt_prepare(rasio_fd_t fd);

/* The resolver: the getaddrinfo flags that make it parse a numeric host and port without
 * DNS; whether its code rc says the name has no address (which AI_ADDRCONFIG may cause);
 * whether rc says the OS error explains the failure (rasio__sock_os_error then). */
extern const int rasio__sock_ai_numeric;
bool rasio__sock_no_name(int rc);
bool rasio__sock_eai_system(int rc);

/* AF_INET or AF_INET6 as the socket itself tells (no address needed), a RASIO_E* code, or
 * AF_UNSPEC when only its local address can tell. */
int rasio__sock_protocol_af(rasio_fd_t fd);
/* The keep-alive idle time (1 to 32767 s) on a socket with SO_KEEPALIVE on; 0 or RASIO_E*. */
int rasio__sock_set_keepidle(rasio_fd_t fd, int idle_s);
/* An IPv4 multicast option (IP_MULTICAST_TTL, IP_MULTICAST_LOOP) in the size the OS wants;
 * 0 or RASIO_E*. */
int rasio__sock_set_mcast4(rasio_fd_t fd, int name, int value);
/* The index of the network interface with this name, 0 if none (or no names on this OS). */
unsigned long rasio__sock_if_index(const char *name);
/* Whether the OS error err of a failed I/O call in direction dir is a RETRY. */
bool rasio__sock_would_block(int err, uint32_t dir);

/* The I/O calls after common.c's argument checks: ev is a valid socket event, count is not
 * NULL and is 0, buf is NULL only with len 0. rasio__sock_recv has len > 0, sendv at most
 * RASIO__SOCK_SENDV_MAX segments, sendto a whole IPv4/IPv6 address. Each returns
 * RASIO_IO_*, failing through rasio__sock_io_fail or rasio__sock_io_error. */
int rasio__sock_recv(rasio_event_t *ev, void *buf, size_t len, size_t *count);
int rasio__sock_send(rasio_event_t *ev, const void *buf, size_t len, size_t *count);
int rasio__sock_sendv(rasio_event_t *ev, const rasio_iovec_t *iov, size_t iovcnt,
                      size_t *count);
int rasio__sock_recvfrom(rasio_event_t *ev, void *buf, size_t len, rasio_addr_t *from,
                         size_t *count);
int rasio__sock_sendto(rasio_event_t *ev, const void *buf, size_t len, const rasio_addr_t *to,
                       size_t *count);
/* out is not NULL and holds RASIO_INVALID_FD; peer may be NULL. */
int rasio__sock_accept(rasio_event_t *listener, rasio_fd_t *out, rasio_addr_t *peer);

/* --- in common.c ---------------------------------------------------------------------------- */

/* Sets this thread's rasio_sock_last_error to code and returns RASIO_IO_ERROR. */
int rasio__sock_io_error(int code);
/* A failed I/O call with OS error err: RETRY (told to the event) or ERROR. */
int rasio__sock_io_fail(rasio_event_t *ev, uint32_t dir, int err);

/* The address family stored in a, or AF_UNSPEC if a is not a whole IPv4/IPv6 address. */
int rasio__sock_addr_af(const rasio_addr_t *a);
/* A sockaddr's bytes into out (cut to what out holds). */
void rasio__sock_addr_set(rasio_addr_t *out, const void *sa, socklen_t len);
const struct sockaddr *rasio__sock_addr_sa(const rasio_addr_t *a);

/* setsockopt with the fd check: 0 or RASIO_E*. */
int rasio__sock_set_opt(rasio_fd_t fd, int level, int name, const void *val, socklen_t len);
int rasio__sock_set_int(rasio_fd_t fd, int level, int name, int value);

#endif
