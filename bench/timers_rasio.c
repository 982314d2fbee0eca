/* SPDX-License-Identifier: BSD-2-Clause */
/* Timer churn with rasio, the twin of bench/timers_uv.c (read its header: same distribution,
 * same phases, same checks, same output).
 *
 *   bench-timers_rasio [--count N]     (N defaults to 1,000,000)
 *   prints: timers=N seconds=S rate=R
 *
 * The distribution: timer i, for i = 0 .. N-1 in that order, is a one-shot timer due in
 * (1 + i % 16) milliseconds, i.e. (1 + i % 16) * 1000000 nanoseconds.
 *
 * Two timed phases, S covering both (wall clock, rasio_now_ns):
 *   fire:   create N TIMER events (a rasio timer starts when it is created, so this is
 *           libuv's init + start), run the loop until every one has fired;
 *   cancel: re-arm the same N events (rasio_event_set_nsec: libuv's second start), then
 *           cancel each before the loop runs again. rasio's only cancel is
 *           rasio_event_unsubscribe (libuv: uv_timer_stop); the DISPOSED that follows
 *           frees the event, outside the timed part, as libuv's uv_close is.
 * R = N / S. Untimed checks afterwards: each timer fired exactly once in the fire phase, and
 * none fires after its cancel (the loop runs 20 ms past the longest timeout, which also
 * delivers every DISPOSED). Any failure exits 1.
 *
 * The events are not noisy: a fired timer stays subscribed (it could be re-armed), so the
 * fire phase ends with rasio_loop_stop from the last timer's notification instead.
 *
 * Unlike libuv, rasio measures a timeout from the current time when the timer is started,
 * so the fire phase includes the wait for the last-started timers (up to 16 ms).
 * Threads: everything runs on the main thread, which is also the loop thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rasio.h"

#define GUARD_EXTRA_NS (20u * 1000000u)

static rasio_loop_t *loop;
static rasio_event_t **timers;
static unsigned char *fired;
static size_t count, fire_count;

static uint64_t timeout_ns(size_t i) { return (uint64_t)(1 + i % 16) * 1000000u; }

static void fail(const char *what, size_t i, int rc) {
  fprintf(stderr, "timers_rasio: %s (timer %zu): %s\n", what, i, rasio_strerror(rc));
  exit(1);
}

/* ctx is the timer's fired[] counter. */
static void on_timer(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  if (flags & RASIO_DISPOSED) {
    (void)rasio_event_destroy(ev);
    return;
  }
  if (!(flags & RASIO_TIMER)) return;
  (*(unsigned char *)ctx)++;
  if (++fire_count == count) (void)rasio_loop_stop(loop); /* the fire phase is over */
}

static void create_all(void) {
  for (size_t i = 0; i < count; i++) {
    rasio_event_opts_t o = {.flags = RASIO_TIMER, .nsec = timeout_ns(i), .notify = on_timer,
                            .ctx = &fired[i]};
    int rc = rasio_event_new(loop, &o, &timers[i]);
    if (rc != 0) fail("rasio_event_new", i, rc);
  }
}

static void rearm_all(void) {
  for (size_t i = 0; i < count; i++) {
    int rc = rasio_event_set_nsec(timers[i], timeout_ns(i));
    if (rc != 0) fail("rasio_event_set_nsec", i, rc);
  }
}

static void cancel_all(void) {
  for (size_t i = 0; i < count; i++) {
    int rc = rasio_event_unsubscribe(timers[i]);
    if (rc != 0) fail("rasio_event_unsubscribe", i, rc);
  }
}

static int fired_exactly_once(void) {
  for (size_t i = 0; i < count; i++) {
    if (fired[i] != 1) {
      fprintf(stderr, "timers_rasio: timer %zu fired %u times\n", i, (unsigned)fired[i]);
      return 0;
    }
  }
  return 1;
}

static void on_guard(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  (void)ctx;
  if (flags & RASIO_DISPOSED) (void)rasio_event_destroy(ev);
  else if (flags & RASIO_TIMER) (void)rasio_event_unsubscribe(ev);
}

/* Runs the loop past the longest timeout: a cancelled timer that fires shows up in
 * fire_count. The cancelled timers' DISPOSED come in the first iteration (the cancels
 * happened before the run), so rasio_loop_free afterwards finds nothing alive. */
static void run_guard(void) {
  rasio_event_t *guard;
  rasio_event_opts_t o = {.flags = RASIO_TIMER, .nsec = timeout_ns(15) + GUARD_EXTRA_NS,
                          .noisy = true, .notify = on_guard};
  int rc = rasio_event_new(loop, &o, &guard);
  if (rc != 0) fail("guard timer", 0, rc);
  rc = rasio_loop_run(loop, RASIO_RUN_QUIET);
  if (rc != 0) fail("rasio_loop_run (guard)", 0, rc);
}

static size_t parse_count(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--count") != 0) continue;
    char *end;
    unsigned long long v = strtoull(argv[i + 1], &end, 10);
    if (*end != '\0' || v == 0 || v > SIZE_MAX / sizeof(rasio_event_t *)) {
      fprintf(stderr, "timers_rasio: bad --count %s\n", argv[i + 1]);
      exit(2);
    }
    return (size_t)v;
  }
  return 1000000;
}

int main(int argc, char **argv) {
  count = parse_count(argc, argv);
  timers = calloc(count, sizeof *timers);
  fired = calloc(count, 1);
  int rc = rasio_loop_new(NULL, &loop);
  if (timers == NULL || fired == NULL || rc != 0) {
    fprintf(stderr, "timers_rasio: cannot set up: %s\n", rasio_strerror(rc));
    return 1;
  }

  uint64_t t0 = rasio_now_ns();
  create_all();
  if ((rc = rasio_loop_run(loop, RASIO_RUN_DEFAULT)) != 0) fail("rasio_loop_run", 0, rc);
  size_t fired_first = fire_count;
  rearm_all();
  cancel_all();
  double s = (double)(rasio_now_ns() - t0) / 1e9;

  int ok = fired_first == count && fired_exactly_once();
  run_guard();
  if (fire_count != fired_first) {
    fprintf(stderr, "timers_rasio: %zu cancelled timers fired\n", fire_count - fired_first);
    ok = 0;
  }
  if ((rc = rasio_loop_free(loop)) != 0) {
    fprintf(stderr, "timers_rasio: rasio_loop_free: %s\n", rasio_strerror(rc));
    ok = 0;
  }
  printf("timers=%zu seconds=%.6f rate=%.0f\n", count, s, (double)count / s);
  free(timers);
  free(fired);
  return ok ? 0 : 1;
}
