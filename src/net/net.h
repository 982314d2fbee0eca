/* SPDX-License-Identifier: BSD-2-Clause */
/* What the net layer's files share: a listener creates connections and hears when they
 * close. Everything here runs on the objects' executor thread. */
#ifndef RASIO_NET_H
#define RASIO_NET_H

#include "alloc.h"
#include "rasio.h"

/* A server-side connection on an accepted socket into *out (fd is consumed either way):
 * 0, or the RASIO_E* code that says why it could not be made. */
int rasio__tcp_accepted(rasio_tcp_listener_t *l, rasio_loop_t *loop, rasio_fd_t fd,
                        const rasio_tcp_opts_t *opts, rasio_mailbox_t *mailbox, rasio_tcp_t **out);
/* Closes an accepted connection that the user refused, without callbacks. */
void rasio__tcp_refuse(rasio_tcp_t *c);
/* A connection made by l closed. */
void rasio__listener_conn_closed(rasio_tcp_listener_t *l, rasio_tcp_t *c);

/* A node of a listener's circular list of its live connections (listener.c); the list's
 * head is a node too, so a node unlinks itself from whichever list holds it. */
typedef struct rasio__tcp_link {
  struct rasio__tcp_link *prev, *next;
  rasio_tcp_t *conn;
} rasio__tcp_link_t;
/* The node a connection carries for its listener's list (tcp.c). */
rasio__tcp_link_t *rasio__tcp_link_of(rasio_tcp_t *c);

/* Checks that fd is a stream socket, listening or connected as asked, and makes it
 * non-blocking: 0, or EBADF (not a socket), EINVAL (not a stream, or listening when it
 * should be connected or the reverse), ENOTCONN (not connected) with fd unchanged
 * (src/sock_adopt.c). */
int rasio__sock_adopt_stream(rasio_fd_t fd, bool listening);
/* A connection on an adopted, connected socket (tcp.c): as rasio__tcp_accepted without a
 * listener, but on failure fd is left open, still the caller's. */
int rasio__tcp_wrap(rasio_loop_t *loop, rasio_fd_t fd, const rasio_tcp_opts_t *opts,
                    rasio_tcp_t **out);

/* A Unix domain stream socket on path (sock/posix.c; ENOTSUP on Windows): listening
 * (bound, listen called) or with a connect under way (its completion arrives as WRITE).
 * 0 with the socket in *out, or a RASIO_E* code with nothing open: EINVAL (path empty or
 * too long), ENOTFOUND (connect: no such path), EAGAIN (connect: backlog full), ... */
int rasio__sock_unix(const char *path, bool listening, rasio_fd_t *out);
/* A client connection on a socket whose connect is under way (tcp.c); on failure the fd is
 * left open, still the caller's. */
int rasio__tcp_connect_fd(rasio_loop_t *loop, rasio_fd_t fd, const rasio_tcp_opts_t *opts,
                          rasio_tcp_t **out);

/* Sets this thread's rasio_sock_last_error to code and returns RASIO_IO_ERROR (src/sock/
 * common.c; sock/sock.h declares it too, with the OS's socket headers the net layer does
 * without). */
int rasio__sock_io_error(int code);

/* --- completion streams (src/stream.c; backend.h says what they are) ---------------------- */

/* Makes ev (an FD event, ONESHOT READ|WRITE, connected) a completion stream: 0, or
 * RASIO_ENOTSUP where the backend has none (RASIO_NO_STREAMS in the environment says the
 * same, to compare). Any thread. */
int rasio__stream_start(rasio_event_t *ev);
/* As rasio_sock_recv, from what the backend received: RASIO_IO_OK with *n (0: the end),
 * RASIO_IO_RETRY (nothing queued: arm READ), RASIO_IO_ERROR (rasio_sock_last_error). */
int rasio__stream_recv(rasio_event_t *ev, void *buf, size_t len, size_t *n);
/* Starts sending iov; its memory stays untouched by the caller until WRITE, which says the
 * send finished (rasio__stream_sent). 0, or RASIO_EBUSY while a send is in flight. */
int rasio__stream_send(rasio_event_t *ev, const rasio_iovec_t *iov, size_t iovcnt);
/* After WRITE: the bytes the finished send took, or the RASIO_E* code it failed with. */
bool rasio__stream_sent(rasio_event_t *ev, int64_t *result);
/* The RASIO_E* code the stream's receiving failed with (a reset...), or 0: a write reports
 * it, as a write to the socket itself would. */
int rasio__stream_failed(rasio_event_t *ev);

/* --- name resolution (src/sock/common.c) ------------------------------------------------ */

/* A TCP connect as rasio_sock_connect_tcp, but only when host needs no lookup (NULL, "" or
 * a numeric address): then it never waits on DNS and returns what rasio_sock_connect_tcp
 * would. For a host name it starts nothing, sets *name and returns 0. */
int rasio__sock_connect_numeric(rasio_loop_t *loop, const char *host, const char *port,
                                int family, const rasio_event_opts_t *tmpl,
                                rasio_event_t **events, size_t max, bool *name);
/* Resolves host/port for a TCP connect, as rasio_sock_connect_tcp does (it may block):
 * 0 with the addresses in *res (an opaque list), or a RASIO_E* code. */
int rasio__sock_resolve_tcp(const char *host, const char *port, int family, void **res);
/* rasio_sock_connect_tcp's attempts over an already resolved list (not consumed). */
int rasio__sock_connect_res(rasio_loop_t *loop, void *res, const rasio_event_opts_t *tmpl,
                            rasio_event_t **events, size_t max);
void rasio__sock_res_free(void *res);

/* --- the resolver thread (src/net/resolver.c) ------------------------------------------- */

typedef struct rasio__lookup rasio__lookup_t;
/* A lookup of host/port (copied) on loop's resolver thread, started on first use; not
 * queued yet. 0, ENOMEM, or EOS (no thread could be made). Any thread. */
int rasio__lookup_new(rasio_loop_t *loop, const char *host, const char *port, int family,
                      rasio__lookup_t **out);
/* Queues the lookup; when it is resolved, wake gets a USER notification (rasio_event_post)
 * unless the owner released the lookup first. The owner's last touch of its object on a
 * creating thread: the notification may run at once on the executor. */
void rasio__lookup_submit(rasio__lookup_t *lk, rasio_event_t *wake);
/* On the executor after the USER notification: starts the connect attempts on the result as
 * rasio__sock_connect_res (a failed lookup returns its RASIO_E* code); ESTATE if the lookup
 * is not done. */
int rasio__lookup_connect(rasio__lookup_t *lk, rasio_loop_t *loop, const rasio_event_opts_t *tmpl,
                          rasio_event_t **events, size_t max);
/* The owner lets go (whether or not it was resolved). Once this returns, the resolver
 * never touches wake again, so the owner may unsubscribe it. */
void rasio__lookup_release(rasio__lookup_t *lk);
/* Test seam: every lookup waits ns before it resolves (0: no wait). */
void rasio__resolver_test_delay(uint64_t ns);

#endif
