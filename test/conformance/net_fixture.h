/* SPDX-License-Identifier: BSD-2-Clause */
/* A small fixture for the net-layer conformance tests (test_net_*.c): a loop with its
 * executor, one-shot timers ("ticks") that schedule a test's steps on the executor, a
 * deadline that fails the test, and the run that ends with everything gone.
 *
 * The net layer's rule is that every call on an object happens on its executor, so a test
 * never touches a net object from anywhere else:
 * - inline: the loop runs on the test thread (RUN_ONCE until the setup tick has fired, then
 *   RUN_QUIET until no noisy event is left, i.e. every net object is gone); setup, steps and
 *   callbacks all run on the loop, i.e. the test thread;
 * - mailbox: the loop runs on its own thread (rasio_loop_start) and the test thread drains
 *   one mailbox that every object and tick of the test uses; setup runs on the test thread,
 *   the executor, before the first drain.
 * Ticks are not noisy, so they never keep the loop alive; they are unsubscribed and reaped
 * at the end. Only the public API and the th_* helpers are used (no OS header).
 */
#ifndef RASIO_TEST_NET_FIXTURE_H
#define RASIO_TEST_NET_FIXTURE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "helpers.h"
#include "rasio.h"

#define NF_MS(x) ((uint64_t)(x)*1000000u)

/* Positive waits (deadlines) are generous: they only decide how long a broken build takes
 * to fail. "Nothing happens" checks wait NF_QUIET_MS. */
enum { NF_DEADLINE_MS = 10000, NF_QUIET_MS = 300, NF_MAX_TICKS = 16 };

typedef void (*nf_fn)(void *ctx);

typedef struct nf_tick {
  rasio_event_t *ev;
  nf_fn fn;
  void *ctx;
  unsigned fired;
  bool disposed;
  bool hold; /* noisy until it has fired once (then it unsubscribes itself) */
} nf_tick_t;

typedef struct nf {
  rasio_loop_t *loop;
  rasio_mailbox_t *mb; /* NULL: the inline executor */
  nf_tick_t ticks[NF_MAX_TICKS];
  size_t nticks;
  /* Mailbox mode: notifications run per drain call (0 = all queued), and after_drain runs
   * after each call (a test that checks what one "turn" may do). */
  size_t drain_max;
  nf_fn after_drain;
  void *after_drain_ctx;
} nf_t;

static inline bool nf_inline(const nf_t *nf) { return nf->mb == NULL; }

/* Set on the thread that called nf_init: the executor of every object in the test (the loop
 * thread when inline, the draining thread otherwise). Callbacks check they run there. */
static _Thread_local bool nf_executor_thread;
#define NF_ON_EXECUTOR() CHECK(nf_executor_thread)

static inline bool nf_on_epoll(const nf_t *nf) {
  return strcmp(rasio_loop_backend(nf->loop), "epoll") == 0;
}

/* A loop with the chosen executor; mailbox mode starts the loop on its own thread. */
static inline void nf_init(nf_t *nf, bool mailbox) {
  memset(nf, 0, sizeof *nf);
  nf_executor_thread = true;
  nf->loop = th_loop();
  if (mailbox) {
    CHECK_OK(rasio_mailbox_new(&nf->mb));
    CHECK_OK(rasio_loop_start(nf->loop));
  }
}

static inline void nf_tick_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  nf_tick_t *t = ctx;
  (void)arg;
  NF_ON_EXECUTOR();
  if (flags & RASIO_DISPOSED) {
    CHECK(!t->disposed);
    CHECK_OK(rasio_event_destroy(ev));
    t->disposed = true;
    return;
  }
  CHECK(!t->disposed);
  if (flags & RASIO_TIMER) {
    t->fired++;
    if (t->fn != NULL) t->fn(t->ctx);
    if (t->hold) CHECK_OK(rasio_event_unsubscribe(ev));
  }
}

static inline nf_tick_t *nf_tick_make(nf_t *nf, unsigned ms, nf_fn fn, void *ctx, bool hold) {
  CHECK(nf->nticks < NF_MAX_TICKS);
  nf_tick_t *t = &nf->ticks[nf->nticks++];
  *t = (nf_tick_t){.fn = fn, .ctx = ctx, .hold = hold};
  rasio_event_opts_t o = {.flags = RASIO_TIMER,
                          .nsec = NF_MS(ms),
                          .noisy = hold,
                          .notify = nf_tick_notify,
                          .ctx = t,
                          .mailbox = nf->mb};
  CHECK_OK(rasio_event_new(nf->loop, &o, &t->ev));
  return t;
}

/* A one-shot timer that runs fn(ctx) on the executor after ms; re-arm it with nf_again. */
static inline nf_tick_t *nf_tick(nf_t *nf, unsigned ms, nf_fn fn, void *ctx) {
  return nf_tick_make(nf, ms, fn, ctx, false);
}

/* The same, but it keeps the run going until it has fired (for a step that comes after
 * every net object is gone, e.g. a connect after a listener closed). Fires once. */
static inline nf_tick_t *nf_tick_hold(nf_t *nf, unsigned ms, nf_fn fn, void *ctx) {
  return nf_tick_make(nf, ms, fn, ctx, true);
}

static inline void nf_again(nf_tick_t *t, unsigned ms) {
  CHECK_OK(rasio_event_set_nsec(t->ev, NF_MS(ms)));
}

/* Pushes a tick's expiry an hour away (it is reaped at the end of the run). */
static inline void nf_cancel(nf_tick_t *t) { nf_again(t, 3600u * 1000u); }

/* Unsubscribes every tick and waits for their DISPOSED. */
static inline void nf_reap(nf_t *nf) {
  for (size_t i = 0; i < nf->nticks; i++)
    if (!nf->ticks[i].disposed) CHECK_OK(rasio_event_unsubscribe(nf->ticks[i].ev));
  uint64_t end = th_now_ms() + NF_DEADLINE_MS;
  for (;;) {
    bool all = true;
    for (size_t i = 0; i < nf->nticks; i++) all = all && nf->ticks[i].disposed;
    if (all) break;
    if (th_now_ms() > end) rt_fail(__FILE__, __LINE__, "timers not disposed in time");
    if (nf_inline(nf)) {
      CHECK_OK(rasio_loop_run(nf->loop, RASIO_RUN_NOWAIT));
    } else {
      rasio_mailbox_drain(nf->mb, 0);
      (void)rasio_mailbox_wait(nf->mb, NF_MS(10));
    }
  }
  nf->nticks = 0;
}

/* Runs setup(ctx) on the executor, then the loop until every noisy event (every net object)
 * is gone; deadline_fn(ctx) runs (and must fail the test) if that takes over deadline_ms.
 * Ends with the ticks reaped. */
static inline void nf_run(nf_t *nf, nf_fn setup, void *ctx, unsigned deadline_ms,
                          nf_fn deadline_fn) {
  (void)nf_tick(nf, deadline_ms, deadline_fn, ctx);
  if (nf_inline(nf)) {
    nf_tick_t *st = nf_tick(nf, 0, setup, ctx);
    while (st->fired == 0) CHECK_OK(rasio_loop_run(nf->loop, RASIO_RUN_ONCE));
    CHECK_OK(rasio_loop_run(nf->loop, RASIO_RUN_QUIET));
  } else {
    setup(ctx);
    /* The deadline tick fails the test from a drain; this bound only catches a drain that
     * never gets to run it. */
    uint64_t hard = th_now_ms() + deadline_ms + 10000u;
    while (rasio_loop_noisy(nf->loop) > 0) {
      rasio_mailbox_drain(nf->mb, nf->drain_max);
      if (nf->after_drain != NULL) nf->after_drain(nf->after_drain_ctx);
      if (rasio_loop_noisy(nf->loop) == 0) break;
      if (th_now_ms() > hard) rt_fail(__FILE__, __LINE__, "hard deadline: objects still alive");
      (void)rasio_mailbox_wait(nf->mb, NF_MS(10));
    }
  }
  nf_reap(nf);
}

/* Stops and frees the loop (failing if anything is left) and the mailbox. */
static inline void nf_end(nf_t *nf) {
  th_loop_end(nf->loop);
  if (nf->mb != NULL) {
    rasio_mailbox_drain(nf->mb, 0);
    CHECK_OK(rasio_mailbox_free(nf->mb));
  }
}

/* --- TCP and UDP helpers ------------------------------------------------------------------ */

static inline void nf_port_str(uint16_t port, char out[8]) {
  snprintf(out, 8, "%u", (unsigned)port);
}

/* A listener on 127.0.0.1:ephemeral; its port as a string in port_out. */
static inline rasio_tcp_listener_t *nf_listen(nf_t *nf, const rasio_tcp_listener_cb_t *cb,
                                              void *data, size_t limit,
                                              const rasio_tcp_opts_t *conn, char port_out[8]) {
  rasio_tcp_listener_opts_t o = {.cb = cb, .data = data, .mailbox = nf->mb, .limit = limit};
  if (conn != NULL) o.conn = *conn;
  rasio_tcp_listener_t *l = NULL;
  CHECK_OK(rasio_tcp_listen(nf->loop, "127.0.0.1", "0", RASIO_AF_INET4, &o, &l));
  CHECK(l != NULL);
  rasio_addr_t a;
  CHECK_OK(rasio_tcp_listener_addr(l, &a));
  CHECK_EQ(rasio_addr_family(&a), RASIO_AF_INET4);
  CHECK_NE(rasio_addr_port(&a), 0);
  nf_port_str(rasio_addr_port(&a), port_out);
  return l;
}

static inline rasio_tcp_t *nf_connect(nf_t *nf, const char *host, const char *port,
                                      const rasio_tcp_cb_t *cb, void *data, size_t read_size) {
  rasio_tcp_opts_t o = {.cb = cb, .data = data, .mailbox = nf->mb, .read_size = read_size};
  rasio_tcp_t *c = NULL;
  CHECK_OK(rasio_tcp_connect(nf->loop, host, port, &o, &c));
  CHECK(c != NULL);
  return c;
}

/* The byte at stream position pos of stream `key`: a multiplicative hash, so a byte that
 * is lost, repeated or moved shows up as a mismatch. */
static inline uint8_t nf_pat(uint32_t key, uint64_t pos) {
  uint32_t x = (uint32_t)pos * 2654435761u + key * 40503u + (uint32_t)(pos >> 32);
  x ^= x >> 15;
  return (uint8_t)(x >> 8);
}

static inline void nf_fill(uint8_t *buf, size_t len, uint32_t key, uint64_t pos) {
  for (size_t i = 0; i < len; i++) buf[i] = nf_pat(key, pos + i);
}

/* Fails the test (naming the caller's line) unless data is stream `key` from pos on. */
#define NF_VERIFY(data, len, key, pos) nf_verify_at(__FILE__, __LINE__, (data), (len), (key), (pos))
static inline void nf_verify_at(const char *file, int line, const void *data, size_t len,
                                uint32_t key, uint64_t pos) {
  const uint8_t *p = data;
  for (size_t i = 0; i < len; i++) {
    if (p[i] != nf_pat(key, pos + i))
      rt_fail(file, line, "stream %u: byte %llu is 0x%02x, want 0x%02x", (unsigned)key,
              (unsigned long long)(pos + i), p[i], nf_pat(key, pos + i));
  }
}

#endif
