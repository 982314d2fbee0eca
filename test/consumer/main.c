/* SPDX-License-Identifier: BSD-2-Clause */
/* A program outside rasio, built against an installed (or add_subdirectory'd) rasio by
 * run.sh: public API only. One noisy 10 ms timer; the loop runs until it has fired and been
 * disposed, then the program prints "OK <backend>". Any failure exits non-zero. */
#include <rasio.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct {
  int fired;
  int disposed;
} consumer_state_t;

static void fail(const char *what, int err) {
  fprintf(stderr, "consumer: %s: %s\n", what, rasio_strerror(err));
  exit(1);
}

/* Inline executor: runs on the loop thread. TIMER unsubscribes, which brings DISPOSED, the
 * last notification, where the event is destroyed; then no noisy event is left and
 * RASIO_RUN_QUIET returns. */
static void on_timer(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  consumer_state_t *state = ctx;
  (void)arg;
  if (flags & RASIO_DISPOSED) {
    state->disposed++;
    int err = rasio_event_destroy(ev);
    if (err != RASIO_OK)
      fail("rasio_event_destroy", err);
    return;
  }
  if (flags & RASIO_TIMER) {
    state->fired++;
    int err = rasio_event_unsubscribe(ev);
    if (err != RASIO_OK)
      fail("rasio_event_unsubscribe", err);
  }
}

int main(void) {
  rasio_loop_t *loop = NULL;
  int err = rasio_loop_new(NULL, &loop);
  if (err != RASIO_OK)
    fail("rasio_loop_new", err);

  consumer_state_t state = {0, 0};
  rasio_event_opts_t opts = {
      .flags = RASIO_TIMER, .nsec = 10 * 1000 * 1000, .noisy = true,
      .notify = on_timer, .ctx = &state};
  rasio_event_t *timer = NULL;
  if ((err = rasio_event_new(loop, &opts, &timer)) != RASIO_OK)
    fail("rasio_event_new", err);

  uint64_t start = rasio_now_ns();
  if ((err = rasio_loop_run(loop, RASIO_RUN_QUIET)) != RASIO_OK)
    fail("rasio_loop_run", err);
  uint64_t waited = rasio_now_ns() - start;

  if (state.fired != 1 || state.disposed != 1) {
    fprintf(stderr, "consumer: timer fired %d times, disposed %d times (want 1, 1)\n",
            state.fired, state.disposed);
    return 1;
  }
  if (waited < 10 * 1000 * 1000) {
    fprintf(stderr, "consumer: the 10 ms timer fired after %llu ns\n",
            (unsigned long long)waited);
    return 1;
  }
  printf("OK %s\n", rasio_loop_backend(loop));
  if ((err = rasio_loop_free(loop)) != RASIO_OK)
    fail("rasio_loop_free", err);
  return 0;
}
