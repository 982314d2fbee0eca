/* SPDX-License-Identifier: BSD-2-Clause */
/* A small fixture for the socket-event conformance tests (oneshot, edge/level, connections,
 * lifecycle): a running loop, a recorder, one subscribed socket and its peer, and the few
 * steps every test repeats (send, wait, stay quiet, re-arm, see the close).
 *
 * Only the public API and the portable th_* helpers are used, so the tests run unchanged on
 * every backend. Everything is static inline so a file that uses part of it still compiles
 * with -Werror.
 */
#ifndef RASIO_TEST_SOCK_FIXTURE_H
#define RASIO_TEST_SOCK_FIXTURE_H

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* Positive waits are generous (a loaded CI machine, Wine) and stretched by
 * RASIO_TEST_TIMEOUT_SCALE like the runner's and the helpers' (valgrind); "nothing happens"
 * waits are short and bounded. */
enum { QUIET_MS = 200 };
#define WAIT_MS fix_wait_ms()
static inline unsigned fix_wait_ms(void) {
  const char *env = getenv("RASIO_TEST_TIMEOUT_SCALE");
  double scale = env != NULL ? strtod(env, NULL) : 1.0;
  return scale > 1.0 ? (unsigned)(3000 * scale) : 3000u;
}

typedef struct fix {
  rasio_loop_t *loop;
  th_rec_t rec;
  rasio_fd_t fd;   /* the subscribed end, handed to rasio (own_fd) */
  rasio_fd_t peer; /* the other end: the test writes to it and closes it */
  rasio_event_t *ev;
  atomic_size_t aux; /* free for a test's custom notify (a threshold, a flag) */
} fix_t;

/* A started loop and a recorder that destroys events on DISPOSED; no sockets yet. */
static inline void fix_init_loop(fix_t *f) {
  f->loop = th_loop();
  th_rec_init(&f->rec);
  f->rec.auto_destroy = true;
  f->fd = RASIO_INVALID_FD;
  f->peer = RASIO_INVALID_FD;
  f->ev = NULL;
  atomic_init(&f->aux, 0);
  CHECK_OK(rasio_loop_start(f->loop));
}

/* fix_init_loop plus a connected TCP pair. */
static inline void fix_init(fix_t *f) {
  fix_init_loop(f);
  th_tcp_pair(&f->fd, &f->peer);
}

/* Creates an event on fd owned by rasio (own_fd). */
static inline rasio_event_t *sub_ev(rasio_loop_t *loop, rasio_fd_t fd, uint32_t flags,
                                    rasio_notify_fn notify, void *ctx) {
  rasio_event_t *ev = NULL;
  CHECK_OK(rasio_event_new(loop,
                           &(rasio_event_opts_t){.fd = fd, .flags = flags, .own_fd = true,
                                                 .notify = notify, .ctx = ctx},
                           &ev));
  CHECK(ev != NULL);
  return ev;
}

/* Subscribes f->fd with a custom notify whose ctx is the fixture itself (it must forward to
 * th_rec_notify(ev, flags, arg, &f->rec) so waits and th_dispose work). */
static inline void fix_sub_fn(fix_t *f, uint32_t flags, rasio_notify_fn notify) {
  f->ev = sub_ev(f->loop, f->fd, flags, notify, f);
}

static inline void fix_sub(fix_t *f, uint32_t flags) {
  f->ev = sub_ev(f->loop, f->fd, flags, th_rec_notify, &f->rec);
}

static inline void fix_open(fix_t *f, uint32_t flags) {
  fix_init(f);
  fix_sub(f, flags);
}

/* Disposes the event (rasio closes f->fd), closes the peer unless the test did, and checks
 * the loop ends with nothing left alive. */
static inline void fix_close(fix_t *f) {
  if (f->ev != NULL) th_dispose(&f->rec, f->ev);
  if (f->peer != RASIO_INVALID_FD) th_close(f->peer);
  th_loop_end(f->loop);
  th_rec_fini(&f->rec);
}

/* Sends n (<= 256) bytes, all of which must be accepted. */
static inline void put(rasio_fd_t fd, size_t n) {
  char buf[256];
  CHECK(n <= sizeof buf);
  memset(buf, 'x', n);
  CHECK_EQ(th_send(fd, buf, n), (long)n);
}

/* Waits until f's event got at least n notifications intersecting mask (0 = any).
 * (Macros over *_at functions, so a failure names the test's line.) */
#define await_n(f, mask, n) await_n_at(__FILE__, __LINE__, (f), (mask), (n), WAIT_MS)
/* The same with an explicit timeout, for what is slow on some platform. */
#define await_n_within(f, mask, n, ms) await_n_at(__FILE__, __LINE__, (f), (mask), (n), (ms))
static inline void await_n_at(const char *file, int line, fix_t *f, uint32_t mask, size_t n,
                              unsigned ms) {
  if (!th_rec_wait(&f->rec, f->ev, mask, n, ms))
    rt_fail(file, line, "waited %u ms for %zu notification(s) of mask 0x%x, got %zu", ms, n,
            (unsigned)mask, th_rec_count(&f->rec, f->ev, mask));
}

/* "Nothing more happens": after a short bounded wait, exactly n notifications of mask. */
#define stays(f, mask, n) stays_at(__FILE__, __LINE__, (f), (mask), (n))
static inline void stays_at(const char *file, int line, fix_t *f, uint32_t mask, size_t n) {
  th_sleep_ms(QUIET_MS);
  size_t got = th_rec_count(&f->rec, f->ev, mask);
  if (got != n)
    rt_fail(file, line, "after %u ms quiet: %zu notification(s) of mask 0x%x, want %zu",
            (unsigned)QUIET_MS, got, (unsigned)mask, n);
}

/* The re-arm protocol: clear the flag first, so a delivery racing the re-arm is not gated. */
static inline void rearm_read(rasio_event_t *ev) {
  rasio_event_set_readable(ev, false);
  CHECK_OK(rasio_event_resubscribe_read(ev));
}

static inline void rearm_write(rasio_event_t *ev) {
  rasio_event_set_writeable(ev, false);
  CHECK_OK(rasio_event_resubscribe_write(ev));
}

/* ---- mailbox executor: the test thread is the owner and drains ---------------------- */

/* Runs the mailbox on this thread until rec holds n notifications of mask for ev. */
#define pump_until(mb, rec, ev, mask, n) pump_until_at(__FILE__, __LINE__, mb, rec, ev, mask, n)
static inline void pump_until_at(const char *file, int line, rasio_mailbox_t *mb, th_rec_t *rec,
                                 rasio_event_t *ev, uint32_t mask, size_t n) {
  uint64_t deadline = th_now_ms() + WAIT_MS;
  while (th_rec_count(rec, ev, mask) < n) {
    if (th_now_ms() >= deadline)
      rt_fail(file, line, "mailbox: waited %u ms for %zu notification(s) of mask 0x%x",
              (unsigned)WAIT_MS, n, (unsigned)mask);
    if (rasio_mailbox_wait(mb, 50 * 1000000ull) == 0) rasio_mailbox_drain(mb, 0);
  }
}

/* Keeps draining for a short bounded time, so late notifications would show. */
static inline void pump_quiet(rasio_mailbox_t *mb) {
  uint64_t end = th_now_ms() + QUIET_MS;
  while (th_now_ms() < end)
    if (rasio_mailbox_wait(mb, 20 * 1000000ull) == 0) rasio_mailbox_drain(mb, 0);
}

/* A started loop, a mailbox, a pair, and an event on f->fd executed by that mailbox. */
static inline rasio_mailbox_t *mailbox_fix_open(fix_t *f, uint32_t flags) {
  fix_init(f);
  rasio_mailbox_t *mb = NULL;
  CHECK_OK(rasio_mailbox_new(&mb));
  CHECK_OK(rasio_event_new(f->loop,
                           &(rasio_event_opts_t){.fd = f->fd, .flags = flags, .own_fd = true,
                                                 .notify = th_rec_notify, .ctx = &f->rec,
                                                 .mailbox = mb},
                           &f->ev));
  return mb;
}

/* Disposes f->ev (if the test has not) by draining until its DISPOSED, then frees all. */
static inline void mailbox_fix_close(fix_t *f, rasio_mailbox_t *mb) {
  if (f->ev != NULL) {
    size_t before = th_rec_count(&f->rec, f->ev, RASIO_DISPOSED);
    CHECK_OK(rasio_event_unsubscribe(f->ev));
    pump_until(mb, &f->rec, f->ev, RASIO_DISPOSED, before + 1);
    f->ev = NULL; /* the recorder destroyed it */
  }
  pump_quiet(mb);
  CHECK_OK(rasio_mailbox_free(mb));
  fix_close(f);
}

/* Reads f->fd until the peer's close shows (0 = orderly end, -2 = error such as a reset) and
 * returns that code; the bytes read before it go to *bytes (if not NULL). Whenever the socket
 * would block it re-arms and waits for the next READ: on some platforms (Wine) the FIN shows
 * only after the data before it was read. No READ within WAIT_MS fails the test. */
static inline long see_close(fix_t *f, size_t *bytes) {
  char buf[4096];
  size_t total = 0;
  for (int rearms = 0; rearms < 4;) {
    long n = th_recv(f->fd, buf, sizeof buf);
    if (n > 0) {
      total += (size_t)n;
      continue;
    }
    if (n == 0 || n == -2) {
      if (bytes != NULL) *bytes = total;
      return n;
    }
    size_t seen = th_rec_count(&f->rec, f->ev, RASIO_READ);
    rearm_read(f->ev);
    await_n(f, RASIO_READ, seen + 1);
    rearms++;
  }
  rt_fail(__FILE__, __LINE__, "READ kept coming but the close was never seen");
}

#endif
