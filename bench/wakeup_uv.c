/* SPDX-License-Identifier: BSD-2-Clause */
/* Cross-thread wakeups per second with libuv's uv_async_t.
 *
 *   bench-wakeup_uv [--seconds S]     (S defaults to 5; fractions are fine)
 *   prints: wakeups=N seconds=S rate=R
 *
 * THE SHAPE (wakeup_rasio.c mirrors it, so the two rows compare): a ping-pong between one
 * producer thread and the loop thread.
 *   - The producer wakes the loop (uv_async_send), then polls an atomic counter, calling
 *     sched_yield() between looks, until the loop's callback has published that it ran, and
 *     only then wakes it again.
 *   - One wakeup is in flight at a time, so the library cannot coalesce several sends into
 *     one callback and inflate the count: N is the number of completed round trips, each one
 *     observed by a callback on the loop thread.
 *   - The producer reads the monotonic clock every 256 round trips and stops after S seconds;
 *     S is the time it measured, R = N / S.
 *   - A last send, after the stop flag is set, makes the callback close the handle so that
 *     the loop returns. Check: callbacks == N + 1, else exit 1.
 * The producer polls rather than sleeps: a sleeping producer would add its own wakeup to every
 * round trip, and the benchmark would measure the kernel's futex rather than the loop. It
 * yields between looks rather than spinning flat out: when the loop thread has to share the
 * producer's CPU (two cores, other load), a pure spin holds it off for a whole time slice,
 * and the rate collapses to a thousand or so per second.
 */
#define _GNU_SOURCE /* uv.h needs the POSIX thread types, which strict C11 hides */
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static uv_async_t async;
static atomic_ullong acked;      /* callbacks run so far, published by the loop thread */
static atomic_int stopping;      /* set by the producer before its last send */
static unsigned long long calls; /* loop thread only */

struct run {
  double seconds; /* asked for */
  double elapsed; /* measured by the producer */
  unsigned long long round_trips;
};

static void on_async(uv_async_t *a) {
  calls++;
  if (atomic_load_explicit(&stopping, memory_order_acquire)) uv_close((uv_handle_t *)a, NULL);
  atomic_store_explicit(&acked, calls, memory_order_release);
}

static void producer(void *arg) {
  struct run *r = arg;
  uint64_t t0 = uv_hrtime();
  uint64_t deadline = t0 + (uint64_t)(r->seconds * 1e9);
  uint64_t now = t0;
  unsigned long long n = 0;
  while (now < deadline) {
    if (uv_async_send(&async) != 0) abort();
    n++;
    while (atomic_load_explicit(&acked, memory_order_acquire) < n) sched_yield();
    if ((n & 255) == 0) now = uv_hrtime();
  }
  r->elapsed = (double)(uv_hrtime() - t0) / 1e9;
  r->round_trips = n;
  atomic_store_explicit(&stopping, 1, memory_order_release);
  if (uv_async_send(&async) != 0) abort();
}

static double parse_seconds(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--seconds") != 0) continue;
    char *end;
    double v = strtod(argv[i + 1], &end);
    if (*end != '\0' || !(v > 0 && v < 1e6)) {
      fprintf(stderr, "wakeup_uv: bad --seconds %s\n", argv[i + 1]);
      exit(2);
    }
    return v;
  }
  return 5;
}

int main(int argc, char **argv) {
  struct run r = {.seconds = parse_seconds(argc, argv)};
  uv_loop_t loop;
  uv_thread_t thread;
  if (uv_loop_init(&loop) != 0 || uv_async_init(&loop, &async, on_async) != 0) {
    fprintf(stderr, "wakeup_uv: cannot set up the loop\n");
    return 1;
  }
  if (uv_thread_create(&thread, producer, &r) != 0) {
    fprintf(stderr, "wakeup_uv: cannot start the producer\n");
    return 1;
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_thread_join(&thread);
  int ok = calls == r.round_trips + 1 && uv_loop_close(&loop) == 0;
  if (!ok) fprintf(stderr, "wakeup_uv: %llu callbacks for %llu sends\n", calls, r.round_trips + 1);
  printf("wakeups=%llu seconds=%.6f rate=%.0f\n", r.round_trips, r.elapsed,
         (double)r.round_trips / r.elapsed);
  return ok ? 0 : 1;
}
