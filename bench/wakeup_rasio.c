/* SPDX-License-Identifier: BSD-2-Clause */
/* Cross-thread wakeups per second with rasio_event_post, the twin of bench/wakeup_uv.c
 * (read its header: same ping-pong, same pacing, same output).
 *
 *   bench-wakeup_rasio [--seconds S]     (S defaults to 5; fractions are fine)
 *   prints: wakeups=N seconds=S rate=R
 *
 * The shape: a producer thread posts to an event (rasio_event_post asks for one RASIO_USER
 * notification through the event's executor, here inline on the loop thread), then waits,
 * yielding, on an atomic counter until the notification has published that it ran, and only
 * then posts again. One post is in flight at a time, so rasio's merging of posts cannot
 * inflate N: N is the number of completed round trips, each observed by a notification on
 * the loop thread.
 * The producer reads the clock every 256 round trips and stops after S seconds; S is the
 * time it measured, R = N / S. A last post, after the stop flag is set, makes the
 * notification unsubscribe the event; its DISPOSED destroys it, and the loop (RUN_QUIET,
 * the event is noisy) returns. Check: USER notifications == N + 1, else exit 1.
 *
 * The carrier. rasio has no event kind of its own for "wake me" (libuv's uv_async_t):
 * rasio_event_post works on "any kind of event", so the carrier is a TIMER event created
 * due at once. It fires one TIMER in the first iteration, which is ignored, and is never
 * re-armed, so it leaves the timer heap empty and adds nothing to later iterations.
 */
#define _GNU_SOURCE /* sched_yield under -std=c11 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rasio.h"

static rasio_event_t *carrier;
static atomic_ullong acked;      /* USER notifications so far, published by the loop thread */
static atomic_int stopping;      /* set by the producer before its last post */
static unsigned long long calls; /* loop thread only */

struct run {
  double seconds; /* asked for */
  double elapsed; /* measured by the producer */
  unsigned long long round_trips;
};

static void on_carrier(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  (void)ctx;
  if (flags & RASIO_DISPOSED) {
    (void)rasio_event_destroy(ev);
    return;
  }
  if (!(flags & RASIO_USER)) return; /* the carrier's own TIMER */
  calls++;
  if (atomic_load_explicit(&stopping, memory_order_acquire)) (void)rasio_event_unsubscribe(ev);
  atomic_store_explicit(&acked, calls, memory_order_release);
}

static void post_or_die(void) {
  int rc = rasio_event_post(carrier);
  if (rc != 0) {
    fprintf(stderr, "wakeup_rasio: rasio_event_post: %s\n", rasio_strerror(rc));
    abort();
  }
}

static void *producer(void *arg) {
  struct run *r = arg;
  uint64_t t0 = rasio_now_ns();
  uint64_t deadline = t0 + (uint64_t)(r->seconds * 1e9);
  uint64_t now = t0;
  unsigned long long n = 0;
  while (now < deadline) {
    post_or_die();
    n++;
    /* Yield while waiting, exactly as wakeup_uv.c does: a pure spin on two shared cores
     * starves whichever thread must answer, and the two rows must wait the same way. */
    while (atomic_load_explicit(&acked, memory_order_acquire) < n) sched_yield();
    if ((n & 255) == 0) now = rasio_now_ns();
  }
  r->elapsed = (double)(rasio_now_ns() - t0) / 1e9;
  r->round_trips = n;
  atomic_store_explicit(&stopping, 1, memory_order_release);
  post_or_die();
  return NULL;
}

static double parse_seconds(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--seconds") != 0) continue;
    char *end;
    double v = strtod(argv[i + 1], &end);
    if (*end != '\0' || !(v > 0 && v < 1e6)) {
      fprintf(stderr, "wakeup_rasio: bad --seconds %s\n", argv[i + 1]);
      exit(2);
    }
    return v;
  }
  return 5;
}

int main(int argc, char **argv) {
  struct run r = {.seconds = parse_seconds(argc, argv)};
  rasio_loop_t *loop;
  pthread_t thread;
  rasio_event_opts_t o = {.flags = RASIO_TIMER, .nsec = 0, .noisy = true, .notify = on_carrier};
  if (rasio_loop_new(NULL, &loop) != 0 || rasio_event_new(loop, &o, &carrier) != 0) {
    fprintf(stderr, "wakeup_rasio: cannot set up the loop\n");
    return 1;
  }
  if (pthread_create(&thread, NULL, producer, &r) != 0) {
    fprintf(stderr, "wakeup_rasio: cannot start the producer\n");
    return 1;
  }
  int rc = rasio_loop_run(loop, RASIO_RUN_QUIET);
  pthread_join(thread, NULL);
  int ok = rc == 0 && calls == r.round_trips + 1 && rasio_loop_free(loop) == 0;
  if (!ok)
    fprintf(stderr, "wakeup_rasio: %llu notifications for %llu posts (run: %s)\n", calls,
            r.round_trips + 1, rasio_strerror(rc));
  printf("wakeups=%llu seconds=%.6f rate=%.0f\n", r.round_trips, r.elapsed,
         (double)r.round_trips / r.elapsed);
  return ok ? 0 : 1;
}
