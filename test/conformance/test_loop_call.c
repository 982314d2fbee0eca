/* SPDX-License-Identifier: BSD-2-Clause */
/* rasio_loop_call (rasio.h): fn(arg) runs on the loop thread, after the call returned,
 * in the order the calls were made, exactly once; a call is not noisy; rasio_loop_free
 * refuses while a call is queued, and a stopped loop keeps its calls for the next run.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "helpers.h"
#include "rec_util.h"

#define N_ORDERED 200
#define N_THREADS 4
#define N_PER_THREAD 2000

typedef struct calls {
  atomic_uint ran;
  unsigned order[N_ORDERED];
  pthread_t loop_thread;
  atomic_uint off_loop; /* calls that ran on another thread than loop_thread */
} calls_t;

typedef struct one_call {
  calls_t *calls;
  unsigned seq;
} one_call_t;

static void record(void *arg) {
  one_call_t *c = arg;
  if (!pthread_equal(pthread_self(), c->calls->loop_thread))
    atomic_fetch_add(&c->calls->off_loop, 1);
  unsigned n = atomic_load(&c->calls->ran);
  if (n < N_ORDERED) c->calls->order[n] = c->seq;
  atomic_store(&c->calls->ran, n + 1);
}

static void learn_thread(void *arg) {
  calls_t *calls = arg;
  calls->loop_thread = pthread_self();
  atomic_fetch_add(&calls->ran, 1);
}

static bool wait_ran(calls_t *calls, unsigned want) {
  uint64_t end = th_now_ms() + th_scaled_ms(WAIT_LONG_MS);
  while (atomic_load(&calls->ran) < want && th_now_ms() < end) th_sleep_ms(1);
  return atomic_load(&calls->ran) >= want;
}

/* Calls made by another thread run on the loop's own thread, in the order made. */
TEST(loop_call_runs_on_loop_thread_in_order) {
  rasio_loop_t *loop = th_loop();
  static calls_t calls;
  CHECK_OK(rasio_loop_start(loop));
  CHECK_OK(rasio_loop_call(loop, learn_thread, &calls));
  CHECK(wait_ran(&calls, 1));
  CHECK(!pthread_equal(calls.loop_thread, pthread_self()));
  atomic_store(&calls.ran, 0);
  static one_call_t one[N_ORDERED];
  for (unsigned i = 0; i < N_ORDERED; i++) {
    one[i] = (one_call_t){&calls, i};
    CHECK_OK(rasio_loop_call(loop, record, &one[i]));
  }
  CHECK(wait_ran(&calls, N_ORDERED));
  CHECK_EQ(atomic_load(&calls.off_loop), 0);
  for (unsigned i = 0; i < N_ORDERED; i++) CHECK_EQ(calls.order[i], i);
  th_loop_end(loop);
}

/* A call made on the loop thread (here: by a running call) runs after it returns, and in
 * a later iteration: the pass that runs calls takes only those queued when it began. */
typedef struct nested {
  rasio_loop_t *loop;
  atomic_uint outer, inner;
  unsigned inner_seen_in_outer; /* inner's count right after rasio_loop_call returned */
  int rc;
} nested_t;

static void inner_call(void *arg) {
  nested_t *n = arg;
  atomic_fetch_add(&n->inner, 1);
}

static void outer_call(void *arg) {
  nested_t *n = arg;
  n->rc = rasio_loop_call(n->loop, inner_call, n);
  n->inner_seen_in_outer = atomic_load(&n->inner);
  atomic_fetch_add(&n->outer, 1);
}

TEST(loop_call_never_runs_inside_the_caller) {
  rasio_loop_t *loop = th_loop();
  nested_t n = {.loop = loop};
  CHECK_OK(rasio_loop_call(loop, outer_call, &n));
  CHECK_EQ(atomic_load(&n.outer), 0); /* not inside the call that queued it */
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  CHECK_EQ(atomic_load(&n.outer), 1);
  CHECK_OK(n.rc);
  CHECK_EQ(n.inner_seen_in_outer, 0);
  CHECK_EQ(atomic_load(&n.inner), 0); /* queued during the pass: the next iteration's */
  /* A queued call keeps the wait from blocking: RUN_ONCE with nothing else returns. */
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_ONCE));
  CHECK_EQ(atomic_load(&n.inner), 1);
  th_loop_end(loop);
}

/* Nothing is dropped: free refuses while a call is queued; a call is not noisy, so
 * RUN_QUIET and stop ignore it, and it waits for the next run. */
TEST(loop_call_pending_keeps_loop_and_survives_stop) {
  rasio_loop_t *loop = th_loop();
  static calls_t calls;
  calls.loop_thread = pthread_self(); /* the loop runs on this thread here */
  static one_call_t one = {&calls, 7};
  CHECK_OK(rasio_loop_call(loop, record, &one));
  CHECK_EQ(rasio_loop_noisy(loop), 0);
  CHECK_ERR(rasio_loop_free(loop), RASIO_EBUSY);
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_QUIET)); /* nothing noisy: returns at once */
  CHECK_OK(rasio_loop_stop(loop));                 /* a call does not refuse stop */
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_DEFAULT)); /* ends on the stop, first iteration */
  /* The stopped run may or may not have run it in its one iteration; if not, the next
   * run does. Either way exactly once. */
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  CHECK_EQ(atomic_load(&calls.ran), 1);
  CHECK_EQ(calls.order[0], 7);
  CHECK_EQ(atomic_load(&calls.off_loop), 0);
  th_loop_end(loop); /* free succeeds: no call is owed */
}

/* Queued on a loop that runs on its own thread and is then stopped: the call stays queued
 * until the loop runs again. */
TEST(loop_call_after_stop_waits_for_next_run) {
  rasio_loop_t *loop = th_loop();
  static calls_t calls;
  CHECK_OK(rasio_loop_start(loop));
  CHECK_OK(rasio_loop_stop(loop)); /* joins the loop thread */
  calls.loop_thread = pthread_self();
  static one_call_t one = {&calls, 1};
  CHECK_OK(rasio_loop_call(loop, record, &one));
  th_sleep_ms(20);
  CHECK_EQ(atomic_load(&calls.ran), 0);
  CHECK_ERR(rasio_loop_free(loop), RASIO_EBUSY);
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  CHECK_EQ(atomic_load(&calls.ran), 1);
  th_loop_end(loop);
}

/* Many threads at once: every call runs exactly once, on the loop thread. */
typedef struct flood {
  rasio_loop_t *loop;
  atomic_uint ran;
  atomic_uint failed;
} flood_t;

static void count_call(void *arg) { atomic_fetch_add(&((flood_t *)arg)->ran, 1); }

static void *flood_thread(void *arg) {
  flood_t *f = arg;
  for (unsigned i = 0; i < N_PER_THREAD; i++)
    if (rasio_loop_call(f->loop, count_call, f) != 0) atomic_fetch_add(&f->failed, 1);
  return NULL;
}

TEST(loop_call_from_many_threads_runs_each_once) {
  rasio_loop_t *loop = th_loop();
  static flood_t f;
  f.loop = loop;
  CHECK_OK(rasio_loop_start(loop));
  pthread_t t[N_THREADS];
  for (unsigned i = 0; i < N_THREADS; i++) t[i] = th_thread_start(flood_thread, &f);
  for (unsigned i = 0; i < N_THREADS; i++) th_thread_join(t[i]);
  CHECK_EQ(atomic_load(&f.failed), 0);
  uint64_t end = th_now_ms() + th_scaled_ms(WAIT_LONG_MS);
  while (atomic_load(&f.ran) < N_THREADS * N_PER_THREAD && th_now_ms() < end) th_sleep_ms(1);
  th_loop_end(loop); /* stop joins the loop thread: no call can still be running */
  CHECK_EQ(atomic_load(&f.ran), N_THREADS * N_PER_THREAD);
}
