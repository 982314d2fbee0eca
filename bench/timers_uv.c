/* SPDX-License-Identifier: BSD-2-Clause */
/* Timer churn with libuv, in the shape of libuv's own "million timers" benchmark.
 *
 *   bench-timers_uv [--count N]     (N defaults to 1,000,000)
 *   prints: timers=N seconds=S rate=R
 *
 * THE DISTRIBUTION (timers_rasio.c uses exactly the same one, so the two rows compare):
 *   timer i, for i = 0 .. N-1 in that order, is a one-shot timer with a timeout of
 *       1 + (i % 16) milliseconds          (rasio: (1 + i % 16) * 1000000 nanoseconds)
 *   Milliseconds because libuv has no finer resolution. Nothing is 0: a zero timeout is a
 *   special case in some libraries (due at once), and the cancel phase must be able to
 *   stop every timer before it fires.
 *
 * Two timed phases, S covering both (wall clock, uv_hrtime):
 *   fire:   start N timers, run the loop until every one has fired;
 *   cancel: start N timers again, then stop every one (again in the order i = 0 .. N-1)
 *           before the loop runs again.
 * R = N / S. Untimed checks afterwards: each timer fired exactly once in the fire phase,
 * and none fires after being stopped (the loop runs 20 ms past the longest timeout to give
 * a stopped timer the chance to misbehave). Any failure exits 1.
 *
 * Note for comparing rows: libuv measures a timeout from the loop's cached time, which is
 * not refreshed while the timers are started, so most of them are already due when the loop
 * runs. A library that measures from the current time may sleep up to 16 ms for the last one.
 */
#define _GNU_SOURCE /* uv.h needs the POSIX thread types, which strict C11 hides */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static uv_timer_t *timers;
static unsigned char *fired;
static size_t fire_count;

static uint64_t timeout_ms(size_t i) { return 1 + i % 16; }

static void on_timer(uv_timer_t *t) {
  fired[t - timers]++;
  fire_count++;
}

/* The first phase also initialises the handles; a handle is initialised once in its life. */
static void start_all(uv_loop_t *loop, size_t n, int init) {
  for (size_t i = 0; i < n; i++) {
    if ((init && uv_timer_init(loop, &timers[i]) != 0) ||
        uv_timer_start(&timers[i], on_timer, timeout_ms(i), 0) != 0) {
      fprintf(stderr, "timers_uv: cannot start timer %zu\n", i);
      exit(1);
    }
  }
}

static void stop_all(size_t n) {
  for (size_t i = 0; i < n; i++) uv_timer_stop(&timers[i]);
}

static int fired_exactly_once(size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (fired[i] != 1) {
      fprintf(stderr, "timers_uv: timer %zu fired %u times\n", i, (unsigned)fired[i]);
      return 0;
    }
  }
  return 1;
}

static void on_guard(uv_timer_t *t) { (void)t; }

/* Runs the loop past the longest timeout; a stopped timer that fires shows up in fire_count. */
static void run_guard(uv_loop_t *loop) {
  uv_timer_t guard;
  uv_timer_init(loop, &guard);
  uv_timer_start(&guard, on_guard, timeout_ms(15) + 20, 0);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
}

static void close_all(uv_loop_t *loop, size_t n) {
  for (size_t i = 0; i < n; i++) uv_close((uv_handle_t *)&timers[i], NULL);
  uv_run(loop, UV_RUN_DEFAULT);
}

static size_t parse_count(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--count") != 0) continue;
    char *end;
    unsigned long long v = strtoull(argv[i + 1], &end, 10);
    if (*end != '\0' || v == 0 || v > SIZE_MAX / sizeof(uv_timer_t)) {
      fprintf(stderr, "timers_uv: bad --count %s\n", argv[i + 1]);
      exit(2);
    }
    return (size_t)v;
  }
  return 1000000;
}

int main(int argc, char **argv) {
  size_t n = parse_count(argc, argv);
  uv_loop_t loop;
  timers = calloc(n, sizeof *timers);
  fired = calloc(n, 1);
  if (timers == NULL || fired == NULL || uv_loop_init(&loop) != 0) {
    fprintf(stderr, "timers_uv: out of memory\n");
    return 1;
  }

  uint64_t t0 = uv_hrtime();
  start_all(&loop, n, 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  size_t fired_first = fire_count;
  start_all(&loop, n, 0);
  stop_all(n);
  double s = (double)(uv_hrtime() - t0) / 1e9;

  int ok = fired_first == n && fired_exactly_once(n);
  run_guard(&loop);
  if (fire_count != fired_first) {
    fprintf(stderr, "timers_uv: %zu stopped timers fired\n", fire_count - fired_first);
    ok = 0;
  }
  close_all(&loop, n);
  if (uv_loop_close(&loop) != 0) ok = 0;
  printf("timers=%zu seconds=%.6f rate=%.0f\n", n, s, (double)n / s);
  free(timers);
  free(fired);
  return ok ? 0 : 1;
}
