/* SPDX-License-Identifier: BSD-2-Clause */
/* The net layer out of memory (issue 9, defect 10), with alloc.h's failure seam: each
 * failure surfaces as the documented result, and the caller can tell what happened.
 * - rasio_tcp_connect says ENOMEM (not ENOTFOUND) whichever of its allocations fails;
 * - an accepted connection that cannot be set up reaches the listener's accept_error (its
 *   peer sees the connection end) and the next one is accepted as usual;
 * - rasio_tcp_write's ENOMEM: with nothing sent (throttled) the connection is unchanged and
 *   the stream goes on intact; after the kernel took a prefix the connection is hard-closed
 *   by the call (its `closed` follows from the loop, never inside the call).
 * Unit tests because the seam is internal (src/alloc.h); the inline executor keeps every
 * allocation on the test thread, in a known order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "conformance/net_fixture.h"

/* --- rasio_tcp_connect --------------------------------------------------------------------- */

typedef struct cn {
  nf_t nf;
  int failed_calls, connect_failed;
  char port[8];
} cn_t;

static void cn_deadline(void *ctx) {
  cn_t *n = ctx;
  rt_fail(__FILE__, __LINE__, "deadline: ENOMEM calls %d, connect_failed %d", n->failed_calls,
          n->connect_failed);
}

static void cn_failed(rasio_tcp_t *c, int err) {
  cn_t *n = rasio_tcp_data(c);
  (void)err;
  n->connect_failed++;
}

static void cn_setup(void *ctx) {
  cn_t *n = ctx;
  static const rasio_tcp_cb_t cb = {.connect_failed = cn_failed};
  rasio_tcp_opts_t o = {.cb = &cb, .data = n};
  nf_port_str(th_closed_port(), n->port);
  for (uint64_t nth = 1;; nth++) {
    CHECK_LT(nth, 100);
    rasio_tcp_t *c = (rasio_tcp_t *)n;
    rasio__alloc_fail_nth(nth);
    int rc = rasio_tcp_connect(n->nf.loop, "127.0.0.1", n->port, &o, &c);
    bool failed = rasio__alloc_failed();
    rasio__alloc_fail_nth(0);
    if (!failed) { /* every allocation of the call succeeded: the connect runs (and fails) */
      CHECK_OK(rc);
      break;
    }
    if (rc != RASIO_ENOMEM)
      rt_fail(__FILE__, __LINE__, "allocation %llu failed: %s (%d), want ENOMEM",
              (unsigned long long)nth, rasio_err_name(rc), rc);
    CHECK(c == NULL);
    CHECK_EQ(rasio_loop_noisy(n->nf.loop), 0);
    n->failed_calls++;
  }
}

TEST(net_tcp_connect_out_of_memory_is_enomem_whichever_allocation_fails) {
  cn_t *n = calloc(1, sizeof *n);
  CHECK(n != NULL);
  nf_init(&n->nf, false);
  nf_run(&n->nf, cn_setup, n, NF_DEADLINE_MS, cn_deadline);
  CHECK_GE(n->failed_calls, 3); /* the connection, its buffer, its event */
  CHECK_EQ(n->connect_failed, 1);
  nf_end(&n->nf);
  free(n);
}

/* --- an accepted connection that cannot be set up --------------------------------------- */

typedef struct as {
  nf_t nf;
  uint64_t nth;
  char port[8];
  rasio_tcp_listener_t *l;
  rasio_fd_t raw[2];
  int errors, first_err, accepted, srv_closed, listener_closed;
  bool failed_at_error;
} as_t;

static void as_deadline(void *ctx) {
  as_t *a = ctx;
  rt_fail(__FILE__, __LINE__, "deadline (nth %llu): errors %d accepted %d srv_closed %d",
          (unsigned long long)a->nth, a->errors, a->accepted, a->srv_closed);
}

static void as_connect_second(void *ctx) {
  as_t *a = ctx;
  /* The first connection was dropped: its peer sees the end of the stream (or a reset). */
  char c;
  long n;
  uint64_t end = th_now_ms() + NF_DEADLINE_MS;
  while ((n = th_recv(a->raw[0], &c, 1)) == -1 && th_now_ms() < end) th_sleep_ms(1);
  CHECK(n == 0 || n == -2);
  a->raw[1] = th_connect_start((uint16_t)atoi(a->port));
}

static void as_accept_error(rasio_tcp_listener_t *l, int err) {
  as_t *a = rasio_tcp_listener_data(l);
  if (a->errors++ == 0) a->first_err = err;
  a->failed_at_error = rasio__alloc_failed();
  rasio__alloc_fail_nth(0);
  (void)nf_tick(&a->nf, 0, as_connect_second, a);
}

static void as_srv_closed(rasio_tcp_t *c) {
  as_t *a = rasio_tcp_data(c);
  a->srv_closed++;
  rasio_tcp_listener_close(a->l);
}

static bool as_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  as_t *a = rasio_tcp_listener_data(l);
  CHECK_EQ(a->errors, 1); /* the first connection never got here */
  a->accepted++;
  static const rasio_tcp_cb_t cb = {.closed = as_srv_closed};
  rasio_tcp_set_callbacks(c, &cb, a);
  rasio_tcp_hard_close(c);
  return true;
}

static void as_listener_closed(rasio_tcp_listener_t *l) {
  as_t *a = rasio_tcp_listener_data(l);
  a->listener_closed++;
}

static void as_setup(void *ctx) {
  as_t *a = ctx;
  static const rasio_tcp_listener_cb_t cb = {
      .accepted = as_accepted, .closed = as_listener_closed, .accept_error = as_accept_error};
  a->l = nf_listen(&a->nf, &cb, a, 0, NULL, a->port);
  a->raw[0] = th_connect_start((uint16_t)atoi(a->port));
  /* From here the loop's next allocations are the accepted connection's set-up. */
  rasio__alloc_fail_nth(a->nth);
}

TEST(net_listener_reports_an_accepted_connection_it_cannot_set_up) {
  /* The connection, its read buffer, its event. */
  for (uint64_t nth = 1; nth <= 3; nth++) {
    as_t *a = calloc(1, sizeof *a);
    CHECK(a != NULL);
    a->nth = nth;
    a->raw[0] = a->raw[1] = RASIO_INVALID_FD;
    nf_init(&a->nf, false);
    nf_run(&a->nf, as_setup, a, NF_DEADLINE_MS, as_deadline);
    rasio__alloc_fail_nth(0);
    CHECK_EQ(a->errors, 1);
    CHECK_ERR(a->first_err, RASIO_ENOMEM);
    CHECK(a->failed_at_error);
    CHECK_EQ(a->accepted, 1);
    CHECK_EQ(a->srv_closed, 1);
    CHECK_EQ(a->listener_closed, 1);
    for (int i = 0; i < 2; i++)
      if (a->raw[i] != RASIO_INVALID_FD) th_close(a->raw[i]);
    nf_end(&a->nf);
    free(a);
  }
}

/* --- rasio_tcp_write's two ENOMEMs ------------------------------------------------------- */

#define WM_CHUNK (64u << 10)
#define WM_BIG (32u << 20) /* more than a loopback socket buffers: the kernel takes a prefix */
#define WM_MAX (64u << 20)

enum { WM_THROTTLED, WM_PREFIX };

typedef struct wm {
  nf_t nf;
  int mode;
  char port[8];
  rasio_tcp_listener_t *l;
  rasio_tcp_t *srv, *cli;
  uint64_t written, srv_got;
  int srv_closed, cli_closed, write_rc;
  bool closed_by_call, closed_inside;
  uint8_t chunk[WM_CHUNK];
  uint8_t *big;
} wm_t;

static void wm_deadline(void *ctx) {
  wm_t *w = ctx;
  rt_fail(__FILE__, __LINE__, "deadline: written %llu srv_got %llu srv_closed %d cli_closed %d",
          (unsigned long long)w->written, (unsigned long long)w->srv_got, w->srv_closed,
          w->cli_closed);
}

static void wm_maybe_done(wm_t *w) {
  if (w->srv_closed + w->cli_closed == 2) rasio_tcp_listener_close(w->l);
}

static bool wm_srv_received(rasio_tcp_t *c, const void *data, size_t len) {
  wm_t *w = rasio_tcp_data(c);
  if (w->mode == WM_THROTTLED) {
    NF_VERIFY(data, len, 7, w->srv_got);
    w->srv_got += len;
    CHECK_LE(w->srv_got, w->written);
    if (w->srv_got == w->written) rasio_tcp_close(c);
  } else {
    w->srv_got += len; /* whatever prefix went out before the connection was closed */
  }
  return true;
}

static void wm_srv_closed(rasio_tcp_t *c) {
  wm_t *w = rasio_tcp_data(c);
  w->srv_closed++;
  wm_maybe_done(w);
}

static bool wm_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  wm_t *w = rasio_tcp_listener_data(l);
  static const rasio_tcp_cb_t cb = {.received = wm_srv_received, .closed = wm_srv_closed};
  w->srv = c;
  rasio_tcp_set_callbacks(c, &cb, w);
  if (w->mode == WM_THROTTLED) rasio_tcp_mute(c);
  return true;
}

static void wm_write_chunk(wm_t *w, rasio_tcp_t *c) {
  nf_fill(w->chunk, WM_CHUNK, 7, w->written);
  CHECK_OK(rasio_tcp_write(c, w->chunk, WM_CHUNK));
  w->written += WM_CHUNK;
}

static void wm_unmute(void *ctx) {
  wm_t *w = ctx;
  rasio_tcp_unmute(w->srv);
}

static void wm_connected(rasio_tcp_t *c) {
  wm_t *w = rasio_tcp_data(c);
  if (w->mode == WM_PREFIX) {
    rasio__alloc_fail_nth(1);
    w->write_rc = rasio_tcp_write(c, w->big, WM_BIG);
    CHECK(rasio__alloc_failed());
    rasio__alloc_fail_nth(0);
    /* Closed by the call (the socket is rasio's: no fd), closed not run inside it. */
    w->closed_by_call = rasio_tcp_fd(c) == RASIO_INVALID_FD;
    w->closed_inside = w->cli_closed != 0;
    return; /* c is closed: the server sees the end of the stream and closes too */
  }
  while (!rasio_tcp_throttled(c) && w->written < WM_MAX) wm_write_chunk(w, c);
  CHECK(rasio_tcp_throttled(c));
  size_t queued = rasio_tcp_queued(c);
  rasio__alloc_fail_nth(1);
  w->write_rc = rasio_tcp_write(c, w->chunk, WM_CHUNK);
  CHECK(rasio__alloc_failed());
  rasio__alloc_fail_nth(0);
  CHECK_ERR(w->write_rc, RASIO_ENOMEM);
  CHECK_EQ(rasio_tcp_queued(c), queued); /* nothing of it queued */
  CHECK(rasio_tcp_throttled(c));
  CHECK_EQ(w->cli_closed, 0);
  wm_write_chunk(w, c); /* the same position again: nothing of the failed write went out */
  (void)nf_tick(&w->nf, 20, wm_unmute, w);
}

static void wm_cli_closed(rasio_tcp_t *c) {
  wm_t *w = rasio_tcp_data(c);
  w->cli_closed++;
  wm_maybe_done(w);
}

static void wm_failed(rasio_tcp_t *c, int err) {
  (void)c;
  rt_fail(__FILE__, __LINE__, "connect_failed %s", rasio_err_name(err));
}

static void wm_setup(void *ctx) {
  wm_t *w = ctx;
  static const rasio_tcp_listener_cb_t lcb = {.accepted = wm_accepted};
  static const rasio_tcp_cb_t ccb = {
      .connected = wm_connected, .connect_failed = wm_failed, .closed = wm_cli_closed};
  w->l = nf_listen(&w->nf, &lcb, w, 0, NULL, w->port);
  w->cli = nf_connect(&w->nf, "127.0.0.1", w->port, &ccb, w, 0);
}

static wm_t *write_enomem_run(int mode) {
  wm_t *w = calloc(1, sizeof *w);
  CHECK(w != NULL);
  w->mode = mode;
  if (mode == WM_PREFIX) {
    w->big = calloc(1, WM_BIG);
    CHECK(w->big != NULL);
  }
  nf_init(&w->nf, false);
  nf_run(&w->nf, wm_setup, w, 30000, wm_deadline);
  rasio__alloc_fail_nth(0);
  CHECK_EQ(w->srv_closed, 1);
  CHECK_EQ(w->cli_closed, 1);
  nf_end(&w->nf);
  return w;
}

TEST_T(net_tcp_write_enomem_while_throttled_changes_nothing, 60) {
  wm_t *w = write_enomem_run(WM_THROTTLED);
  CHECK_EQ(w->srv_got, w->written); /* every good byte, in order, and no others */
  free(w);
}

TEST_T(net_tcp_write_enomem_after_a_prefix_went_out_hard_closes, 60) {
  wm_t *w = write_enomem_run(WM_PREFIX);
  CHECK_ERR(w->write_rc, RASIO_ENOMEM);
  CHECK(!w->closed_inside);
  if (!w->closed_by_call)
    rt_fail(__FILE__, __LINE__,
            "ENOMEM after the kernel took a prefix, but the connection was not closed: the "
            "caller cannot tell what was sent");
  CHECK_GT(w->srv_got, 0);
  CHECK_LT(w->srv_got, WM_BIG);
  free(w->big);
  free(w);
}
