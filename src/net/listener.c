/* TCP listeners: a persistent (edge) READ event on a listening socket.
 *
 * On READ the listener accepts until RETRY, at most ACCEPT_BUDGET per turn (then it posts
 * itself a USER notification to continue fairly). With a connection limit it pauses when
 * the limit is reached; a closing connection resumes the accept loop directly, without
 * waiting for a new arrival (an edge that already fired will not fire again). An accept
 * error that is not would-block (EMFILE and friends) must not stall the listener for
 * good, nor spin on it: the loop retries after a short timer.
 * `closed` comes when the listening socket is really closed (at its DISPOSED). The listener
 * outlives its connections: it is freed once closed, disposed, and the last connection it
 * made is gone.
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
  rasio_tcp_opts_t conn;
  size_t limit, count; /* live connections made by this listener */
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

static void spawn(rasio_tcp_listener_t *l, rasio_fd_t fd) {
  rasio_tcp_t *c = rasio__tcp_accepted(l, l->loop, fd, &l->conn, l->mailbox);
  if (c == NULL) return;
  l->count++;
  if (l->cb.accepted == NULL || !l->cb.accepted(l, c)) rasio__tcp_refuse(c);
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
      backoff(l);
      break;
    }
    spawn(l, fd);
  }
  l->accepting = false;
}

void rasio__listener_conn_closed(rasio_tcp_listener_t *l) {
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
    (void)rasio_event_destroy(ev);
    l->live_events--;
    /* The listening socket is closed before its DISPOSED (on Windows only once the port
     * let go of it), so `closed` means the port refuses connections from now on. */
    if (ev == l->ev && l->cb.closed != NULL) l->cb.closed(l);
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

int rasio_tcp_listen(rasio_loop_t *loop, const char *host, const char *port, int family,
                     const rasio_tcp_listener_opts_t *opts, rasio_tcp_listener_t **out) {
  if (out != NULL) *out = NULL;
  if (loop == NULL || port == NULL || out == NULL) return RASIO_EINVAL;
  rasio_fd_t fd;
  int rc = rasio_sock_listen_tcp(host, port, family, &fd, NULL);
  if (rc != 0) return rc;
  rasio_tcp_listener_t *l = rasio__calloc(1, sizeof *l);
  if (l == NULL) {
    (void)rasio_sock_close(fd);
    return RASIO_ENOMEM;
  }
  l->loop = loop;
  if (opts != NULL) {
    if (opts->cb != NULL) l->cb = *opts->cb;
    l->data = opts->data;
    l->mailbox = opts->mailbox;
    l->limit = opts->limit;
    l->conn = opts->conn;
  }
  l->live_events = 1;
  *out = l;
  /* Persistent edge: an edge registration reports connections already queued. */
  rasio_event_opts_t eo = {.fd = fd, .flags = RASIO_READ, .noisy = true, .own_fd = true,
                           .notify = notify, .ctx = l, .mailbox = l->mailbox};
  rc = rasio_event_new(loop, &eo, &l->ev); /* the last touch of l on this thread */
  if (rc == 0) return 0;
  *out = NULL;
  (void)rasio_sock_close(fd);
  rasio__free(l);
  return rc;
}

void rasio_tcp_listener_close(rasio_tcp_listener_t *l) {
  if (l == NULL || l->done) return;
  l->done = true;
  rasio_event_unsubscribe(l->ev); /* `closed` follows at its DISPOSED */
  if (l->retry != NULL) rasio_event_unsubscribe(l->retry);
}

void *rasio_tcp_listener_data(const rasio_tcp_listener_t *l) { return l != NULL ? l->data : NULL; }

int rasio_tcp_listener_addr(const rasio_tcp_listener_t *l, rasio_addr_t *out) {
  if (l == NULL || out == NULL) return RASIO_EINVAL;
  return rasio_sock_local_addr(rasio_event_fd(l->ev), out);
}
