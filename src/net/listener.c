/* SPDX-License-Identifier: BSD-2-Clause */
/* TCP listeners: a persistent (edge) READ event on a listening socket.
 *
 * On READ the listener accepts until RETRY, at most ACCEPT_BUDGET per turn (then it posts
 * itself a USER notification to continue fairly). With a connection limit it pauses when
 * the limit is reached; a closing connection resumes the accept loop directly, without
 * waiting for a new arrival (an edge that already fired will not fire again).
 * Accept errors: a connection that died in the backlog (ECONNABORTED, ECONNRESET) costs
 * nothing but that connection, so the loop goes on at once. Anything else (EMFILE, ENOMEM
 * and friends: out of resources, with the connection still queued) must not stall the
 * listener for good, nor spin on it: the loop retries after a short timer. Either way,
 * and for an accepted socket that could not be set up, the owner hears of it through
 * accept_error.
 * `closed` comes when the listening socket is really closed (at its DISPOSED). The listener
 * outlives its connections: it is freed once closed, disposed, and the last connection it
 * made is gone. A callback may close connections (each reports here as it goes) or the
 * listener itself, so whatever holds the listener across a callback is released only after
 * the callback returned: only the maybe_free that follows may free it.
 */
#include <stdlib.h>

#include "net/net.h"
#include "rasio.h"

#define ACCEPT_BUDGET 64
#define RETRY_NS (10u * 1000u * 1000u)

struct rasio_tcp_listener {
  rasio_loop_t *loop;
  rasio_tcp_listener_cb_t cb;
  void *data;
  rasio_mailbox_t *mailbox;
  rasio_tcp_opts_t conn; /* conn.cb points at conn_cb (or is NULL) */
  rasio_tcp_cb_t conn_cb;
  size_t limit, count; /* live connections made by this listener */
  rasio__tcp_link_t conns; /* the list of those connections (head node) */
  rasio_event_t *ev, *retry;
  size_t live_events;
  bool paused, accepting, done;
};

static void notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx);

static void maybe_free(rasio_tcp_listener_t *l) {
  if (l->done && l->live_events == 0 && l->count == 0) rasio__free(l);
}

static void backoff(rasio_tcp_listener_t *l) {
  if (l->retry != NULL) {
    if (rasio_event_set_nsec(l->retry, RETRY_NS) == 0) return;
  } else {
    rasio_event_opts_t t = {.flags = RASIO_TIMER, .nsec = RETRY_NS, .notify = notify, .ctx = l,
                            .mailbox = l->mailbox};
    if (rasio_event_new(l->loop, &t, &l->retry) == 0) {
      l->live_events++;
      return;
    }
  }
  rasio_event_post(l->ev); /* no timer to be had: try again next iteration */
}

static void report(rasio_tcp_listener_t *l, int err) {
  if (l->cb.accept_error != NULL) l->cb.accept_error(l, err);
}

/* --- the list of live connections (rasio_tcp_listener_close_connections) ----------- */

static void list_init(rasio__tcp_link_t *head) { head->prev = head->next = head; }

static void unlink_node(rasio__tcp_link_t *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  list_init(n);
}

static void insert_tail(rasio__tcp_link_t *head, rasio__tcp_link_t *n) {
  n->prev = head->prev;
  n->next = head;
  head->prev->next = n;
  head->prev = n;
}

/* The list is made on first use (a listener is zeroed at birth). */
static void link_conn(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  if (l->conns.next == NULL) list_init(&l->conns);
  rasio__tcp_link_t *n = rasio__tcp_link_of(c);
  n->conn = c;
  insert_tail(&l->conns, n);
}

/* Closing runs callbacks that may close (and unlink) any other connection, or call this
 * again; so the list is moved to a local head first and each connection is put back into
 * the listener's list before it is closed: whatever a callback does, every node is in
 * exactly one list and unlinks itself from it. No connection is freed during the call
 * (its memory goes only after its event's DISPOSED, from the loop). Connections accepted
 * meanwhile (a close under the limit resumes accepting) join the listener's list and are
 * left alone. */
void rasio_tcp_listener_close_connections(rasio_tcp_listener_t *l, bool hard) {
  if (l == NULL || l->conns.next == NULL) return;
  rasio__tcp_link_t pending;
  list_init(&pending);
  if (l->conns.next != &l->conns) {
    pending.next = l->conns.next;
    pending.prev = l->conns.prev;
    pending.next->prev = pending.prev->next = &pending;
    list_init(&l->conns);
  }
  while (pending.next != &pending) {
    rasio__tcp_link_t *n = pending.next;
    unlink_node(n);
    insert_tail(&l->conns, n);
    if (hard) rasio_tcp_hard_close(n->conn);
    else rasio_tcp_close(n->conn);
  }
}

size_t rasio_tcp_listener_connections(const rasio_tcp_listener_t *l) {
  return l != NULL ? l->count : 0;
}

/* Without an `accepted` callback every connection is taken, with conn's callbacks. */
static void spawn(rasio_tcp_listener_t *l, rasio_fd_t fd) {
  rasio_tcp_t *c;
  int rc = rasio__tcp_accepted(l, l->loop, fd, &l->conn, l->mailbox, &c);
  if (rc != 0) {
    report(l, rc);
    return;
  }
  l->count++;
  link_conn(l, c);
  if (l->cb.accepted != NULL && !l->cb.accepted(l, c)) rasio__tcp_refuse(c);
}

/* A connection that died in the backlog: the next one may be fine. */
static bool per_connection(int err) {
  return err == RASIO_ECONNABORTED || err == RASIO_ECONNRESET;
}

static void accept_loop(rasio_tcp_listener_t *l) {
  if (l->accepting) return; /* re-entered through a closing connection */
  l->accepting = true;
  for (size_t budget = ACCEPT_BUDGET; !l->done; budget--) {
    if (l->limit != 0 && l->count >= l->limit) {
      l->paused = true;
      break;
    }
    if (budget == 0) {
      rasio_event_post(l->ev);
      break;
    }
    rasio_fd_t fd;
    int r = rasio_sock_accept(l->ev, &fd, NULL);
    if (r == RASIO_IO_RETRY) break;
    if (r == RASIO_IO_ERROR) {
      int err = rasio_sock_last_error();
      report(l, err);
      if (per_connection(err)) continue;
      if (!l->done) backoff(l); /* accept_error may have closed the listener */
      break;
    }
    spawn(l, fd);
  }
  l->accepting = false;
}

void rasio__listener_conn_closed(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  unlink_node(rasio__tcp_link_of(c));
  l->count--;
  if (l->paused && !l->done && (l->limit == 0 || l->count < l->limit)) {
    l->paused = false;
    accept_loop(l);
  }
  maybe_free(l);
}

static void notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  rasio_tcp_listener_t *l = ctx;
  if (flags & RASIO_DISPOSED) {
    bool listening = ev == l->ev;
    (void)rasio_event_destroy(ev);
    if (listening) l->ev = NULL;
    /* The listening socket is closed before its DISPOSED (on Windows only once the port
     * let go of it), so `closed` means the port refuses connections from now on. The
     * event stays counted until `closed` returns: closing the last connections there
     * must not free the listener under this frame. */
    if (listening && l->cb.closed != NULL) l->cb.closed(l);
    l->live_events--;
    maybe_free(l);
    return;
  }
  if (l->done) return;
  if (flags & RASIO_ERROR) {
    rasio_tcp_listener_close(l);
    return;
  }
  if (!l->paused) accept_loop(l);
}

/* Options no listener can honour: connections share the listener's executor, so another
 * one for them is refused, as is a read size larger than any object. */
static bool opts_bad(const rasio_tcp_listener_opts_t *opts) {
  return opts != NULL && ((opts->conn.mailbox != NULL && opts->conn.mailbox != opts->mailbox) ||
                          opts->conn.read_size > PTRDIFF_MAX);
}

/* The listener's options into l. conn.cb is copied like cb: the caller's struct may be gone
 * by the first accept. */
static void take_opts(rasio_tcp_listener_t *l, const rasio_tcp_listener_opts_t *opts) {
  if (opts == NULL) return;
  if (opts->cb != NULL) l->cb = *opts->cb;
  l->data = opts->data;
  l->mailbox = opts->mailbox;
  l->limit = opts->limit;
  l->conn = opts->conn;
  if (opts->conn.cb != NULL) {
    l->conn_cb = *opts->conn.cb;
    l->conn.cb = &l->conn_cb;
  }
}

/* A listener on the listening socket fd. On failure nothing is made and fd is left open
 * (rasio_event_new does not close it): the caller decides. */
static int start(rasio_loop_t *loop, rasio_fd_t fd, const rasio_tcp_listener_opts_t *opts,
                 rasio_tcp_listener_t **out) {
  rasio_tcp_listener_t *l = rasio__calloc(1, sizeof *l);
  if (l == NULL) return RASIO_ENOMEM;
  l->loop = loop;
  take_opts(l, opts);
  l->live_events = 1;
  *out = l;
  /* Persistent edge: an edge registration reports connections already queued. */
  rasio_event_opts_t eo = {.fd = fd, .flags = RASIO_READ, .noisy = true, .own_fd = true,
                           .notify = notify, .ctx = l, .mailbox = l->mailbox};
  int rc = rasio_event_new(loop, &eo, &l->ev); /* the last touch of l on this thread */
  if (rc == 0) return 0;
  *out = NULL;
  rasio__free(l);
  return rc;
}

int rasio_tcp_listen(rasio_loop_t *loop, const char *host, const char *port, int family,
                     const rasio_tcp_listener_opts_t *opts, rasio_tcp_listener_t **out) {
  if (out != NULL) *out = NULL;
  if (loop == NULL || port == NULL || out == NULL || opts_bad(opts)) return RASIO_EINVAL;
  rasio_fd_t fd;
  int rc = opts != NULL && opts->reuseport
               ? rasio_sock_listen_tcp_reuseport(host, port, family, &fd, NULL)
               : rasio_sock_listen_tcp(host, port, family, &fd, NULL);
  if (rc != 0) return rc;
  rc = start(loop, fd, opts, out);
  if (rc != 0) (void)rasio_sock_close(fd); /* rasio made it: rasio closes it */
  return rc;
}

/* --- listening sockets made elsewhere (rasio_tcp_listen_fd) ------------------------- */

int rasio_tcp_listen_fd(rasio_loop_t *loop, rasio_fd_t fd, const rasio_tcp_listener_opts_t *opts,
                        rasio_tcp_listener_t **out) {
  if (out != NULL) *out = NULL;
  /* reuseport: the socket is bound already, too late to ask */
  if (loop == NULL || out == NULL || opts_bad(opts) || (opts != NULL && opts->reuseport))
    return RASIO_EINVAL;
  int rc = rasio__sock_adopt_stream(fd, true);
  return rc != 0 ? rc : start(loop, fd, opts, out); /* on failure fd stays the caller's */
}

void rasio_tcp_listener_close(rasio_tcp_listener_t *l) {
  if (l == NULL || l->done) return;
  l->done = true;
  rasio_event_unsubscribe(l->ev); /* `closed` follows at its DISPOSED */
  if (l->retry != NULL) rasio_event_unsubscribe(l->retry);
}

void *rasio_tcp_listener_data(const rasio_tcp_listener_t *l) { return l != NULL ? l->data : NULL; }

/* Once closing, the socket may be closed at any moment (and its number reused). */
int rasio_tcp_listener_addr(const rasio_tcp_listener_t *l, rasio_addr_t *out) {
  if (l == NULL || out == NULL) return RASIO_EINVAL;
  if (l->done) return RASIO_ESTATE;
  return rasio_sock_local_addr(rasio_event_fd(l->ev), out);
}
