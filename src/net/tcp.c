/* SPDX-License-Identifier: BSD-2-Clause */
/* TCP connections: a state machine over one ONESHOT READ|WRITE event.
 *
 * Reading: on READ the connection reads into its buffer until RETRY or a short read (then
 * clears readable and re-arms READ), or until its per-turn budget is spent or `received` asks to
 * stop (then it posts itself a USER notification and continues at the next iteration
 * without any system call). A muted connection stops reading with readable still set, so
 * nothing is armed and a peer close goes unnoticed until unmute.
 * Writing: a write goes straight to the kernel while nothing is queued; whatever the
 * kernel refuses is copied to a queue, `throttled` fires, and WRITE is re-armed. The queue
 * is gather-sent on WRITE; when it drains, `unthrottled` fires.
 * Closing: close() flushes the queue, shuts the write side and keeps reading until the
 * peer's FIN; a peer FIN does the same from the other end (queued bytes still go out).
 * hard_close() unsubscribes at once. A graceful close has a deadline (close_timeout_ns):
 * a timer made when closing begins hard-closes a connection whose peer never sends its FIN
 * (or never reads what is left to flush).
 * The final callback (closed, or connect_failed) runs at the DISPOSED of the object's last
 * event, never inside a call of the owner's (libuv's rule: the caller's frame, and the
 * user data it holds, stay valid until the call returns); the object is freed right after
 * it returns.
 *
 * Completion streams. Where the backend has them (io_uring), a connected connection's event
 * becomes a stream (src/stream.c): reads copy what the backend already received, and the
 * queue goes out one send at a time, the queue's memory untouched until the WRITE that says
 * the send finished (so a hard close keeps the queue until the event is disposed). Every
 * write is queued then; `throttled` fires when a send takes only part of what it was given
 * (the kernel's buffer was full), `unthrottled` when the queue drains, as without streams.
 *
 * A client starts with one event per address; they are created disarmed and armed from
 * the executor (through a USER notification), so no callback can run while the creating
 * thread is still filling in the connection. A host name is resolved on the loop's
 * resolver thread first (resolver.c): a "wake" event, a timer that never expires, carries
 * the result back as a USER notification on the executor, where the attempts start.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"
#include "rasio.h"

#define DEFAULT_READ_SIZE (16 * 1024)
#define DEFAULT_READ_BUDGET (64 * 1024)
#define MAX_ATTEMPTS 16
#define IOV_BATCH 64
#define DEFAULT_CLOSE_TIMEOUT_NS (10ull * 1000 * 1000 * 1000)
/* Stream: queued bytes past which a connection is throttled; about what a loopback socket
 * takes before a send would block, so owners see the same back-pressure either way. */
#define STREAM_HIGH (1024u * 1024)

typedef struct chunk {
  struct chunk *next;
  size_t off, len, cap;
  char data[];
} chunk_t;

/* A connection keeps the last chunk it sent, up to this size, for its next write: a write
 * queue that fills and drains every turn (always, on a completion stream) would otherwise
 * free and allocate again each time, and the heap, trimmed back to the kernel between the
 * two, faulted its pages in again: measured at 100 connections x 16 KiB on io_uring, 5.5x
 * the CPU per message, from page faults. */
#define SPARE_MAX (256u * 1024)

struct rasio_tcp {
  rasio_loop_t *loop;
  rasio_tcp_cb_t cb;
  void *data;
  rasio_mailbox_t *mailbox;
  rasio_tcp_listener_t *listener; /* server side: told when this connection closes */
  rasio__tcp_link_t l_link;       /* server side: in the listener's list while live */
  rasio_event_t *ev;              /* the connection's event (client: the winning attempt) */
  rasio_event_t *attempts[MAX_ATTEMPTS];
  size_t n_attempts;   /* client attempts still undecided */
  size_t live_events;  /* events not disposed yet */
  int last_err;
  rasio_event_t *wake;      /* client: carries the resolver's answer (NULL when disposed) */
  rasio__lookup_t *lookup;  /* client: the name being resolved, until it is answered */
  rasio_event_t *deadline;  /* the graceful close's deadline timer (NULL when disposed) */
  uint64_t close_timeout_ns;
  bool failed;              /* the final callback is connect_failed(final_err), not closed */
  int final_err;

  char *rbuf;
  size_t rcap, rlen, expect, read_budget;
  chunk_t *whead, *wtail;
  chunk_t *spare; /* a sent chunk kept for the next write (SPARE_MAX) */
  size_t queued;

  bool connected, readable, writeable, reading, muted, throttled;
  bool stream;  /* the event is a completion stream (the file comment) */
  bool sending; /* stream: a send of `inflight` bytes of the queue is in flight */
  size_t inflight;
  int send_err;  /* stream: a send failed with nothing queued behind it (write_stream) */
  bool yielded; /* a USER notification is on its way to continue reading next turn */
  bool closing, shut_wr, peer_shut, done;
};

static void notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx);

static const rasio_tcp_cb_t no_callbacks;

static rasio_tcp_t *conn_new(rasio_loop_t *loop, const rasio_tcp_opts_t *o, rasio_mailbox_t *mb) {
  rasio_tcp_t *c = rasio__calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->rcap = o != NULL && o->read_size > 0 ? o->read_size : DEFAULT_READ_SIZE;
  c->rbuf = rasio__malloc(c->rcap);
  if (c->rbuf == NULL) {
    rasio__free(c);
    return NULL;
  }
  c->loop = loop;
  c->mailbox = mb;
  c->read_budget = o != NULL && o->read_budget > 0 ? o->read_budget : DEFAULT_READ_BUDGET;
  c->close_timeout_ns =
      o != NULL && o->close_timeout_ns > 0 ? o->close_timeout_ns : DEFAULT_CLOSE_TIMEOUT_NS;
  rasio_tcp_set_callbacks(c, o != NULL ? o->cb : NULL, o != NULL ? o->data : NULL);
  return c;
}

/* A chunk the queue is done with: kept as the spare if there is none and it is small. */
static void chunk_done(rasio_tcp_t *c, chunk_t *k) {
  if (c->spare == NULL && k->cap <= SPARE_MAX) c->spare = k;
  else rasio__free(k);
}

static void drop_queue(rasio_tcp_t *c) {
  while (c->whead != NULL) {
    chunk_t *k = c->whead;
    c->whead = k->next;
    chunk_done(c, k);
  }
  c->wtail = NULL;
  c->queued = 0;
}

/* Frees what conn_new made (and the write queue, if any). */
static void conn_free(rasio_tcp_t *c) {
  drop_queue(c);
  rasio__free(c->spare);
  rasio__free(c->rbuf);
  rasio__free(c);
}

/* Runs at a DISPOSED (the executor, outside any call of the owner's): once every event is
 * gone, the final callback, then the free. */
static void maybe_free(rasio_tcp_t *c) {
  if (!c->done || c->live_events > 0) return;
  if (c->failed) {
    if (c->cb.connect_failed != NULL) c->cb.connect_failed(c, c->final_err);
  } else if (c->cb.closed != NULL) {
    c->cb.closed(c);
  }
  /* After closed: a listener at its limit accepts the next connection now, and its
   * owner must hear of this one's end first. */
  if (c->listener != NULL) rasio__listener_conn_closed(c->listener, c);
  conn_free(c);
}

/* Ends the connection: every event is unsubscribed (rasio closes the sockets); the final
 * callback follows at the last DISPOSED (maybe_free). */
static void hard_close(rasio_tcp_t *c) {
  if (c->done) return;
  c->done = true;
  if (c->lookup != NULL) { /* the resolver lets go of wake before it is unsubscribed */
    rasio__lookup_release(c->lookup);
    c->lookup = NULL;
  }
  if (c->wake != NULL) rasio_event_unsubscribe(c->wake);
  if (c->deadline != NULL) rasio_event_unsubscribe(c->deadline);
  for (size_t i = 0; i < c->n_attempts; i++) rasio_event_unsubscribe(c->attempts[i]);
  c->n_attempts = 0;
  if (c->ev != NULL) rasio_event_unsubscribe(c->ev);
  if (!c->sending) drop_queue(c); /* else the kernel may still read it: conn_free drops it */
  c->readable = c->writeable = false;
}

/* A client that will never connect: connect_failed(err) is its final callback. */
static void connect_fail(rasio_tcp_t *c, int err) {
  c->failed = true;
  c->final_err = err;
  hard_close(c);
}

/* A graceful close began: hard-close it if it is not over by close_timeout_ns
 * (UINT64_MAX: never). Without a timer there would be no bound, so none is a hard close. */
static void arm_deadline(rasio_tcp_t *c) {
  if (c->deadline != NULL || c->close_timeout_ns == UINT64_MAX) return;
  rasio_event_opts_t t = {.flags = RASIO_TIMER, .nsec = c->close_timeout_ns, .noisy = true,
                          .notify = notify, .ctx = c, .mailbox = c->mailbox};
  if (rasio_event_new(c->loop, &t, &c->deadline) != 0) {
    c->deadline = NULL;
    hard_close(c);
    return;
  }
  c->live_events++;
}

static void try_shutdown(rasio_tcp_t *c) {
  if (!c->closing || c->done) return;
  if (!c->connected) {
    hard_close(c);
    return;
  }
  if (c->whead == NULL && !c->shut_wr) { /* flushed: send our FIN */
    c->shut_wr = true;
    (void)rasio_sock_shutdown(rasio_event_fd(c->ev));
  }
  if (c->whead == NULL && c->peer_shut) hard_close(c);
  else arm_deadline(c); /* waiting for the peer: to read the rest, or for its FIN */
}

/* --- writing ----------------------------------------------------------------------- */

static void throttle(rasio_tcp_t *c) {
  c->writeable = false;
  rasio_event_set_writeable(c->ev, false); /* clear before re-arming: the protocol */
  if (rasio_event_resubscribe_write(c->ev) != 0) {
    hard_close(c);
    return;
  }
  if (!c->throttled) {
    c->throttled = true;
    if (c->cb.throttled != NULL) c->cb.throttled(c);
  }
}

static void consume(rasio_tcp_t *c, size_t n) {
  c->queued -= n;
  while (n > 0) {
    chunk_t *k = c->whead;
    size_t take = k->len - k->off < n ? k->len - k->off : n;
    k->off += take;
    n -= take;
    if (k->off < k->len) break;
    c->whead = k->next;
    if (c->whead == NULL) c->wtail = NULL;
    chunk_done(c, k);
  }
}

/* Stream: hands the head of the queue to the backend, unless a send is in flight; WRITE
 * says when it finished (sent). */
static void flush_stream(rasio_tcp_t *c) {
  if (c->sending || c->whead == NULL || c->done) return;
  rasio_iovec_t iov[IOV_BATCH];
  size_t n = 0;
  c->inflight = 0;
  for (chunk_t *k = c->whead; k != NULL && n < IOV_BATCH; k = k->next, n++) {
    iov[n].base = k->data + k->off;
    iov[n].len = k->len - k->off;
    c->inflight += iov[n].len;
  }
  c->sending = rasio__stream_send(c->ev, iov, n) == 0;
  rasio_event_set_writeable(c->ev, false);
  if (!c->sending || rasio_event_resubscribe_write(c->ev) != 0) hard_close(c);
}

/* Stream: the send in flight finished (WRITE). */
static void sent(rasio_tcp_t *c) {
  int64_t res;
  if (!rasio__stream_sent(c->ev, &res)) return;
  c->sending = false;
  if (res < 0 && !c->done && !c->closing && c->queued == c->inflight) {
    /* What a synchronous send would have said to the write that made it: the next write
     * returns it (write_stream), or reading meets the reset first. */
    c->send_err = (int)res;
    drop_queue(c);
    return;
  }
  if (res < 0 || c->done) {
    hard_close(c);
    return;
  }
  consume(c, (size_t)res);
  if ((size_t)res < c->inflight && !c->throttled) { /* the kernel's buffer was full */
    c->throttled = true;
    if (c->cb.throttled != NULL) c->cb.throttled(c);
  }
  flush_stream(c);
  if (c->whead == NULL && c->throttled && !c->done) {
    c->throttled = false;
    if (c->cb.unthrottled != NULL) c->cb.unthrottled(c);
  }
}

/* Gather-sends the queue while the kernel takes it (a stream: hands it to the backend). */
static void flush(rasio_tcp_t *c) {
  if (c->stream) {
    flush_stream(c);
    return;
  }
  while (c->whead != NULL && c->writeable && !c->done) {
    rasio_iovec_t iov[IOV_BATCH];
    size_t n = 0, total = 0, sent;
    for (chunk_t *k = c->whead; k != NULL && n < IOV_BATCH; k = k->next, n++) {
      iov[n].base = k->data + k->off;
      iov[n].len = k->len - k->off;
      total += iov[n].len;
    }
    int r = rasio_sock_sendv(c->ev, iov, n, &sent);
    if (r == RASIO_IO_ERROR) {
      hard_close(c);
      return;
    }
    consume(c, sent);
    if (r == RASIO_IO_RETRY || sent < total) throttle(c); /* the kernel refused bytes */
  }
  if (c->whead == NULL && c->throttled && !c->done) {
    c->throttled = false;
    if (c->cb.unthrottled != NULL) c->cb.unthrottled(c);
  }
}

/* Copies the part of iov after the first `skip` bytes into one queued chunk. */
static int enqueue(rasio_tcp_t *c, const rasio_iovec_t *iov, size_t iovcnt, size_t total,
                   size_t skip) {
  chunk_t *k = c->spare;
  if (k != NULL && k->cap >= total - skip) {
    c->spare = NULL;
  } else {
    k = rasio__malloc(sizeof *k + (total - skip));
    if (k == NULL) return RASIO_ENOMEM;
    k->cap = total - skip;
  }
  k->next = NULL;
  k->off = 0;
  k->len = 0;
  for (size_t i = 0; i < iovcnt; i++) {
    size_t from = skip < iov[i].len ? skip : iov[i].len;
    skip -= from;
    memcpy(k->data + k->len, (const char *)iov[i].base + from, iov[i].len - from);
    k->len += iov[i].len - from;
  }
  if (c->wtail != NULL) c->wtail->next = k;
  else c->whead = k;
  c->wtail = k;
  c->queued += k->len;
  return 0;
}

/* The sum of iov's lengths into *total; false for a list no caller can mean: a NULL base
 * with bytes to send, or lengths whose sum is larger than any object (PTRDIFF_MAX). */
static bool iov_total(const rasio_iovec_t *iov, size_t iovcnt, size_t *total) {
  size_t sum = 0;
  for (size_t i = 0; i < iovcnt; i++) {
    if ((iov[i].base == NULL && iov[i].len > 0) || iov[i].len > PTRDIFF_MAX - sum) return false;
    sum += iov[i].len;
  }
  *total = sum;
  return true;
}

/* Stream: the bytes are queued, and the queue goes out with the loop's next enter. A failure
 * the stream already saw (a reset, a send that failed) is this write's, as a send to the
 * socket would have said; past
 * STREAM_HIGH queued bytes the connection is throttled. */
static int write_stream(rasio_tcp_t *c, const rasio_iovec_t *iov, size_t iovcnt, size_t total) {
  int err = c->send_err != 0 ? c->send_err : rasio__stream_failed(c->ev);
  if (err != 0) {
    hard_close(c);
    return err;
  }
  int rc = enqueue(c, iov, iovcnt, total, 0);
  if (rc != 0) return rc; /* nothing of this call was queued */
  flush_stream(c);
  if (c->queued > STREAM_HIGH && !c->throttled && !c->done) {
    c->throttled = true;
    if (c->cb.throttled != NULL) c->cb.throttled(c);
  }
  return 0;
}

/* Every argument is checked before anything happens, so a bad one queues and sends nothing
 * and leaves the connection as it was. ENOMEM is honest about what went out: with nothing
 * sent the call had no effect; after the kernel took a prefix, the rest cannot follow in
 * order, so the connection is hard-closed (rasio.h). */
int rasio_tcp_writev(rasio_tcp_t *c, const rasio_iovec_t *iov, size_t iovcnt) {
  size_t total = 0, sent = 0;
  if (c == NULL || (iov == NULL && iovcnt > 0) || iovcnt > 1024 ||
      !iov_total(iov, iovcnt, &total))
    return RASIO_EINVAL;
  if (!c->connected || c->closing || c->done) return RASIO_ESTATE;
  if (total == 0) return 0;
  if (c->stream) return write_stream(c, iov, iovcnt, total);
  /* Something queued means the kernel is full (WRITE is armed): keep the order. */
  if (c->whead != NULL || !c->writeable) return enqueue(c, iov, iovcnt, total, 0);
  int r = rasio_sock_sendv(c->ev, iov, iovcnt, &sent);
  if (r == RASIO_IO_ERROR) {
    int err = rasio_sock_last_error();
    hard_close(c);
    return err != 0 ? err : RASIO_EPIPE;
  }
  if (sent == total) return 0;
  int rc = enqueue(c, iov, iovcnt, total, sent);
  if (rc != 0 && sent > 0) {
    hard_close(c); /* a prefix is out and the rest is lost: the stream cannot go on */
    return rc;
  }
  if (rc != 0) return rc; /* nothing went out: as if the call had not been made */
  throttle(c); /* the kernel took only part of it */
  return 0;
}

int rasio_tcp_write(rasio_tcp_t *c, const void *data, size_t len) {
  rasio_iovec_t iov = {data, len};
  return rasio_tcp_writev(c, &iov, 1);
}

/* --- reading ----------------------------------------------------------------------- */

/* Hands buffered bytes to `received`; false if it asked to stop for this turn. */
static bool deliver(rasio_tcp_t *c) {
  size_t off = 0;
  bool go = true;
  while (go && !c->done && !c->muted && c->rlen > off) {
    size_t n = c->expect != 0 ? c->expect : c->rlen - off;
    if (c->rlen - off < n) break;
    go = c->cb.received == NULL || c->cb.received(c, c->rbuf + off, n);
    off += n;
  }
  if (c->done) return false;
  memmove(c->rbuf, c->rbuf + off, c->rlen - off);
  c->rlen -= off;
  return go;
}

static void peer_gone(rasio_tcp_t *c, int err) {
  c->readable = false;
  if (err != 0) {
    hard_close(c);
    return;
  }
  /* A FIN: the peer may still read, so queued bytes go out before the connection ends. */
  c->peer_shut = true;
  c->closing = true;
  try_shutdown(c);
}

static void yield(rasio_tcp_t *c) {
  c->yielded = true;
  if (rasio_event_post(c->ev) != 0) hard_close(c);
}

/* Reading is over until the next READ: clear readable, then re-arm (the protocol's order). */
static void rearm_read(rasio_tcp_t *c) {
  c->readable = false;
  rasio_event_set_readable(c->ev, false);
  if (rasio_event_resubscribe_read(c->ev) != 0) hard_close(c);
}

/* One read into the buffer. A short read ends the turn like RETRY (rasio.h's short-read
 * rule for streams): the would-block read that would follow it is saved. */
static void read_once(rasio_tcp_t *c, size_t *got) {
  size_t n, want = c->rcap - c->rlen;
  int r = c->stream ? rasio__stream_recv(c->ev, c->rbuf + c->rlen, want, &n)
                    : rasio_sock_recv(c->ev, c->rbuf + c->rlen, want, &n);
  if (r == RASIO_IO_OK) {
    c->rlen += n;
    *got += n;
    if (n < want) rearm_read(c);
  } else if (r == RASIO_IO_RETRY) {
    rearm_read(c);
  } else {
    peer_gone(c, rasio_sock_last_error());
  }
}

/* Delivers what is buffered, then reads while readable; bytes from the turn's last read
 * are delivered before the loop ends, even though that read cleared readable. */
static void read_loop(rasio_tcp_t *c) {
  if (c->reading) return; /* re-entered from a callback: the outer loop carries on */
  c->reading = true;
  size_t got = 0;
  while (!c->done && !c->muted) {
    if (!deliver(c)) {
      if (!c->done) yield(c);
      break;
    }
    if (c->done || c->muted || !c->readable) break;
    if (got >= c->read_budget) {
      yield(c);
      break;
    }
    read_once(c, &got);
  }
  c->reading = false;
}

/* --- connecting -------------------------------------------------------------------- */

static void drop_attempt(rasio_tcp_t *c, rasio_event_t *ev) {
  for (size_t i = 0; i < c->n_attempts; i++) {
    if (c->attempts[i] != ev) continue;
    c->attempts[i] = c->attempts[--c->n_attempts];
    return;
  }
}

static void adopt(rasio_tcp_t *c, rasio_event_t *ev, uint32_t flags) {
  c->ev = ev;
  c->stream = rasio__stream_start(ev) == 0;
  c->connected = true;
  c->writeable = true;
  c->readable = (flags & RASIO_READ) != 0;
  for (size_t i = 0; i < c->n_attempts; i++) rasio_event_unsubscribe(c->attempts[i]);
  c->n_attempts = 0; /* the losers are torn down; their DISPOSED still counts */
  if (c->cb.connected != NULL) c->cb.connected(c);
  if (!c->done) read_loop(c);
  if (!c->done) flush(c);
  try_shutdown(c);
}

/* Arms every attempt; runs on the executor (see the file comment). */
static void arm_attempts(rasio_tcp_t *c) {
  for (size_t i = 0; i < c->n_attempts; i++) {
    rasio_event_set_readable(c->attempts[i], false);
    rasio_event_set_writeable(c->attempts[i], false);
    (void)rasio_event_resubscribe(c->attempts[i]);
  }
}

static void attempt_notify(rasio_tcp_t *c, rasio_event_t *ev, uint32_t flags) {
  if (flags & RASIO_USER) arm_attempts(c);
  if (!(flags & (RASIO_WRITE | RASIO_ERROR))) return; /* completion always carries WRITE */
  drop_attempt(c, ev);
  int err = (flags & RASIO_ERROR) ? RASIO_EOS : rasio_sock_error(rasio_event_fd(ev));
  if (err == 0 && !c->connected && !c->done) {
    adopt(c, ev, flags);
    return;
  }
  if (err != 0) c->last_err = err;
  rasio_event_unsubscribe(ev);
  if (c->connected || c->done || c->n_attempts > 0) return;
  connect_fail(c, c->last_err);
}

/* The template of a client's attempts (and of an adopted socket's event): disarmed at birth
 * (ready = both), so nothing fires until the executor arms it. */
static rasio_event_opts_t attempt_tmpl(rasio_tcp_t *c) {
  return (rasio_event_opts_t){.flags = RASIO_READ | RASIO_WRITE | RASIO_ONESHOT,
                              .noisy = true, .notify = notify, .ctx = c,
                              .mailbox = c->mailbox, .ready = RASIO_READ | RASIO_WRITE};
}

/* wake's USER notification: the resolver answered; the attempts start here, on the
 * executor, as rasio_tcp_connect would have started them for a numeric host. */
static void resolved(rasio_tcp_t *c) {
  rasio_event_opts_t tmpl = attempt_tmpl(c);
  int n = rasio__lookup_connect(c->lookup, c->loop, &tmpl, c->attempts, MAX_ATTEMPTS);
  if (n == RASIO_ESTATE) return; /* not answered yet (no other post reaches wake) */
  rasio__lookup_release(c->lookup);
  c->lookup = NULL;
  rasio_event_unsubscribe(c->wake);
  if (n <= 0) {
    connect_fail(c, n < 0 ? n : RASIO_EOS);
    return;
  }
  c->n_attempts = (size_t)n;
  c->live_events += (size_t)n;
  arm_attempts(c);
}

/* A host name: resolved on the loop's resolver thread, the answer delivered to wake. */
static int connect_by_name(rasio_tcp_t *c, const char *host, const char *port,
                           rasio_tcp_t **out) {
  rasio__lookup_t *lk;
  int rc = rasio__lookup_new(c->loop, host, port, RASIO_AF_ANY, &lk);
  if (rc != 0) return rc;
  /* A timer that never expires: it exists to be posted to (and to keep the loop alive). */
  rasio_event_opts_t w = {.flags = RASIO_TIMER, .nsec = UINT64_MAX, .noisy = true,
                          .notify = notify, .ctx = c, .mailbox = c->mailbox};
  rc = rasio_event_new(c->loop, &w, &c->wake);
  if (rc != 0) {
    rasio__lookup_release(lk);
    return rc;
  }
  c->lookup = lk;
  c->live_events = 1;
  *out = c;
  rasio__lookup_submit(lk, c->wake); /* the last touch of c on this thread */
  return 0;
}

int rasio_tcp_connect(rasio_loop_t *loop, const char *host, const char *port,
                      const rasio_tcp_opts_t *opts, rasio_tcp_t **out) {
  if (out != NULL) *out = NULL;
  if (loop == NULL || host == NULL || port == NULL || out == NULL) return RASIO_EINVAL;
  if (opts != NULL && opts->read_size > PTRDIFF_MAX) return RASIO_EINVAL;
  rasio_tcp_t *c = conn_new(loop, opts, opts != NULL ? opts->mailbox : NULL);
  if (c == NULL) return RASIO_ENOMEM;
  rasio_event_opts_t tmpl = attempt_tmpl(c);
  bool name;
  int n = rasio__sock_connect_numeric(loop, host, port, RASIO_AF_ANY, &tmpl, c->attempts,
                                      MAX_ATTEMPTS, &name);
  if (name && (n = connect_by_name(c, host, port, out)) == 0) return 0;
  if (n <= 0) { /* the reason nothing started: a bad port, out of descriptors... */
    conn_free(c);
    return n < 0 ? n : RASIO_EOS;
  }
  c->n_attempts = c->live_events = (size_t)n;
  *out = c;
  /* The last touch of c on this thread: from here on it belongs to the executor. A post
   * to a live event made a moment ago cannot fail. */
  (void)rasio_event_post(c->attempts[0]);
  return 0;
}

/* --- the event's notifications --------------------------------------------------------- */

static void disposed(rasio_tcp_t *c, rasio_event_t *ev) {
  /* Forgotten before the memory goes: a later event may get the same address. */
  if (ev == c->wake) c->wake = NULL;
  if (ev == c->deadline) c->deadline = NULL;
  (void)rasio_event_destroy(ev);
  c->live_events--;
  maybe_free(c);
}

static void notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  rasio_tcp_t *c = ctx;
  if (flags & RASIO_DISPOSED) {
    disposed(c, ev);
    return;
  }
  if (ev == c->wake) {
    if ((flags & RASIO_USER) && !c->done) resolved(c);
    return;
  }
  if (ev == c->deadline) {
    if ((flags & RASIO_TIMER) && !c->done) hard_close(c); /* the peer never finished */
    return;
  }
  if (ev != c->ev) {
    attempt_notify(c, ev, flags);
    return;
  }
  if (c->done) return;
  if (flags & RASIO_ERROR) {
    hard_close(c);
    return;
  }
  if ((flags & RASIO_WRITE) && c->stream) {
    sent(c);
  } else if (flags & RASIO_WRITE) {
    c->writeable = true;
    flush(c);
  }
  if (flags & RASIO_READ) c->readable = true;
  /* After a yield, reading resumes with the USER notification only: a READ that a short
   * read re-armed may come first in the same iteration, and must not end the rest early. */
  if (flags & RASIO_USER) c->yielded = false;
  if ((flags & (RASIO_READ | RASIO_USER)) && !c->yielded) read_loop(c);
  try_shutdown(c);
}

/* --- server side --------------------------------------------------------------------- */

int rasio__tcp_accepted(rasio_tcp_listener_t *l, rasio_loop_t *loop, rasio_fd_t fd,
                        const rasio_tcp_opts_t *opts, rasio_mailbox_t *mailbox, rasio_tcp_t **out) {
  *out = NULL;
  rasio_tcp_t *c = conn_new(loop, opts, mailbox);
  if (c == NULL) {
    (void)rasio_sock_close(fd);
    return RASIO_ENOMEM;
  }
  c->listener = l;
  c->connected = true;
  c->writeable = true;
  c->live_events = 1;
  /* A fresh socket is writeable: start with WRITE delivered instead of asking for it. */
  rasio_event_opts_t eo = {.fd = fd, .flags = RASIO_READ | RASIO_WRITE | RASIO_ONESHOT,
                           .noisy = true, .own_fd = true, .notify = notify, .ctx = c,
                           .mailbox = mailbox, .ready = RASIO_WRITE};
  int rc = rasio_event_new(loop, &eo, &c->ev);
  if (rc != 0) {
    (void)rasio_sock_close(fd);
    conn_free(c);
    return rc;
  }
  c->stream = rasio__stream_start(c->ev) == 0;
  *out = c;
  return 0;
}

void rasio__tcp_refuse(rasio_tcp_t *c) {
  c->cb = no_callbacks;
  hard_close(c);
}

rasio__tcp_link_t *rasio__tcp_link_of(rasio_tcp_t *c) { return &c->l_link; }

/* --- adopted sockets (rasio_tcp_adopt) ---------------------------------------------- */

int rasio__tcp_wrap(rasio_loop_t *loop, rasio_fd_t fd, const rasio_tcp_opts_t *opts,
                    rasio_tcp_t **out) {
  rasio_mailbox_t *mb = opts != NULL ? opts->mailbox : NULL;
  rasio_tcp_t *c = conn_new(loop, opts, mb);
  if (c == NULL) return RASIO_ENOMEM;
  c->connected = true;
  c->writeable = true;
  c->readable = true; /* unknown: the first read, on the executor, finds out */
  c->live_events = 1;
  /* The caller may be on any thread, so the event is born disarmed (ready = both) and
   * nothing runs until the USER notification posted below reaches the executor: it reads
   * (bytes may have arrived before the adoption) and, on would-block, arms READ. */
  rasio_event_opts_t eo = attempt_tmpl(c);
  eo.fd = fd;
  eo.own_fd = true;
  int rc = rasio_event_new(loop, &eo, &c->ev);
  if (rc != 0) {
    conn_free(c);
    return rc; /* rasio_event_new leaves the fd untouched on failure, even with own_fd */
  }
  c->stream = rasio__stream_start(c->ev) == 0;
  c->yielded = true;
  *out = c;
  (void)rasio_event_post(c->ev); /* the last touch of c on this thread */
  return 0;
}

/* One attempt, as rasio_tcp_connect makes them: born disarmed, armed from the executor. */
int rasio__tcp_connect_fd(rasio_loop_t *loop, rasio_fd_t fd, const rasio_tcp_opts_t *opts,
                          rasio_tcp_t **out) {
  rasio_tcp_t *c = conn_new(loop, opts, opts != NULL ? opts->mailbox : NULL);
  if (c == NULL) return RASIO_ENOMEM;
  rasio_event_opts_t eo = attempt_tmpl(c);
  eo.fd = fd;
  eo.own_fd = true;
  int rc = rasio_event_new(loop, &eo, &c->attempts[0]);
  if (rc != 0) {
    conn_free(c);
    return rc;
  }
  c->n_attempts = c->live_events = 1;
  *out = c;
  (void)rasio_event_post(c->attempts[0]); /* the last touch of c on this thread */
  return 0;
}

int rasio_tcp_adopt(rasio_loop_t *loop, rasio_fd_t fd, const rasio_tcp_opts_t *opts,
                    rasio_tcp_t **out) {
  if (out != NULL) *out = NULL;
  if (loop == NULL || out == NULL) return RASIO_EINVAL;
  if (opts != NULL && opts->read_size > PTRDIFF_MAX) return RASIO_EINVAL;
  int rc = rasio__sock_adopt_stream(fd, false);
  return rc != 0 ? rc : rasio__tcp_wrap(loop, fd, opts, out);
}

/* --- the rest of the API --------------------------------------------------------------- */

int rasio_tcp_expect(rasio_tcp_t *c, size_t n) {
  if (c == NULL || n > PTRDIFF_MAX) return RASIO_EINVAL; /* no buffer can be that large */
  if (n > c->rcap) {
    char *buf = rasio__realloc(c->rbuf, n);
    if (buf == NULL) return RASIO_ENOMEM;
    c->rbuf = buf;
    c->rcap = n;
  }
  c->expect = n;
  return 0;
}

void rasio_tcp_mute(rasio_tcp_t *c) {
  if (c != NULL) c->muted = true;
}

void rasio_tcp_unmute(rasio_tcp_t *c) {
  if (c == NULL || !c->muted) return;
  c->muted = false;
  /* Reading stopped with readable set and nothing armed, or with whole messages still
   * buffered: resume it here. */
  if ((c->readable || c->rlen > 0) && !c->done) {
    read_loop(c);
    try_shutdown(c);
  }
}

void rasio_tcp_close(rasio_tcp_t *c) {
  if (c == NULL || c->done) return;
  if (c->muted || !c->connected) {
    hard_close(c); /* a muted connection would never see the peer's FIN */
    return;
  }
  c->closing = true;
  try_shutdown(c);
}

void rasio_tcp_hard_close(rasio_tcp_t *c) {
  if (c != NULL) hard_close(c);
}

void rasio_tcp_set_callbacks(rasio_tcp_t *c, const rasio_tcp_cb_t *cb, void *data) {
  if (c == NULL) return;
  c->cb = cb != NULL ? *cb : no_callbacks;
  c->data = data;
}

void *rasio_tcp_data(const rasio_tcp_t *c) { return c != NULL ? c->data : NULL; }

/* Once closed the socket is rasio's to close (on the loop thread, at any moment). */
rasio_fd_t rasio_tcp_fd(const rasio_tcp_t *c) {
  return c != NULL && c->ev != NULL && !c->done ? rasio_event_fd(c->ev) : RASIO_INVALID_FD;
}

size_t rasio_tcp_queued(const rasio_tcp_t *c) { return c != NULL ? c->queued : 0; }
bool rasio_tcp_throttled(const rasio_tcp_t *c) { return c != NULL && c->throttled; }
