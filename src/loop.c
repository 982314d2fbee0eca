/* SPDX-License-Identifier: BSD-2-Clause */
/* The loop: lifecycle, one iteration, wakeups, and the two queues that carry work to the
 * loop thread (completed removals awaiting DISPOSED, synthetic readiness).
 *
 * One iteration, always in this order:
 *   1. wait in the backend (readiness is delivered from inside the wait);
 *   2. clear wake_pending, then signals, timers, synthetic readiness, rasio_loop_call's calls;
 *   3. DISPOSED for every event whose removal completed.
 * DISPOSED is produced last, so every notification the iteration produced for an event
 * precedes it, and no pointer held by this iteration can name a destroyed event.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int pick_backend(const char *name, const rasio__backend_t **out) {
  for (const rasio__backend_t *const *b = rasio__backends; *b != NULL; b++) {
    if (name != NULL ? strcmp((*b)->name, name) != 0 : ((*b)->caps & RASIO__BE_BY_NAME_ONLY))
      continue;
    int rc = (*b)->probe();
    if (rc != 0 && rasio__log_on())
      rasio__log("backend %s: probe failed: %s (%s)", (*b)->name, rasio_err_name(rc),
                 rasio_strerror(rc));
    if (rc == 0) {
      *out = *b;
      return 0;
    }
    if (name != NULL) return rc;
  }
  return name != NULL ? RASIO_ENOBACKEND : RASIO_EUNAVAIL;
}

int rasio_loop_new(const rasio_loop_opts_t *opts, rasio_loop_t **out) {
  if (out == NULL) return RASIO_EINVAL;
  *out = NULL;
  const char *name = opts != NULL ? opts->backend : NULL;
  const char *source = name != NULL ? "named in the loop's options" : "RASIO_BACKEND";
  if (name == NULL) name = getenv("RASIO_BACKEND");
  if (name != NULL && name[0] == '\0') name = NULL;
  if (name == NULL) source = "none named: the first this system can run";

  const rasio__backend_t *be = NULL;
  int rc = pick_backend(name, &be);
  rasio__log_backend(name, source, be, rc);
  if (rc != 0) return rc;

  rasio_loop_t *loop = rasio__calloc(1, sizeof *loop);
  if (loop == NULL) return RASIO_ENOMEM;
  loop->be = be;
  loop->sig_slot = -1;
  rasio__mutex_init(&loop->synth_mu);
  rasio__mutex_init(&loop->timer_mu);
  rasio__mutex_init(&loop->sig_mu);
  rasio__mutex_init(&loop->fd_mu);
  rasio__call_init(loop);
  rc = rasio__fdtab_init(loop);
  if (rc == 0) rc = be->init(loop);
  if (rc != 0) {
    rasio__fdtab_fini(loop);
    rasio__mutex_destroy(&loop->synth_mu);
    rasio__mutex_destroy(&loop->timer_mu);
    rasio__mutex_destroy(&loop->sig_mu);
    rasio__mutex_destroy(&loop->fd_mu);
    rasio__call_fini(loop);
    rasio__free(loop);
    return rc;
  }
  *out = loop;
  return 0;
}

bool rasio__on_loop_thread(const rasio_loop_t *loop) {
  return atomic_load_explicit(&loop->thread_id, memory_order_relaxed) == rasio__thread_id();
}

void rasio__loop_wake_async(rasio_loop_t *loop) {
  if (!atomic_exchange(&loop->wake_pending, true)) loop->be->wake(loop);
}

void rasio__loop_wake(rasio_loop_t *loop) {
  if (!rasio__on_loop_thread(loop)) rasio__loop_wake_async(loop);
}

void rasio__loop_dispose(rasio_loop_t *loop, rasio_event_t *ev) {
  rasio_event_t *head = atomic_load(&loop->dispose_head);
  do {
    ev->dispose_next = head;
  } while (!atomic_compare_exchange_weak(&loop->dispose_head, &head, ev));
  rasio__loop_wake(loop);
}

void rasio__loop_post_ready(rasio_loop_t *loop, rasio_event_t *ev, uint32_t flags) {
  rasio__mutex_lock(&loop->synth_mu);
  /* Checked under the lock that the removal takes to unlink ev (synth_forget), and the
   * state never returns to ACTIVE, so an event is never listed once its removal ran. */
  if (atomic_load(&ev->state) == RASIO__ACTIVE) {
    if (ev->synth_flags == 0) {
      ev->synth_next = NULL;
      ev->synth_prev = loop->synth_tail;
      if (loop->synth_tail != NULL) loop->synth_tail->synth_next = ev;
      else loop->synth_head = ev;
      loop->synth_tail = ev;
    }
    ev->synth_flags |= flags;
    atomic_store(&loop->synth_any, true);
  }
  rasio__mutex_unlock(&loop->synth_mu);
  rasio__loop_wake(loop);
}

/* Unlinks a listed ev; synth_mu held. */
static void synth_unlink(rasio_loop_t *loop, rasio_event_t *ev) {
  if (ev->synth_prev != NULL) ev->synth_prev->synth_next = ev->synth_next;
  else loop->synth_head = ev->synth_next;
  if (ev->synth_next != NULL) ev->synth_next->synth_prev = ev->synth_prev;
  else loop->synth_tail = ev->synth_prev;
  ev->synth_next = ev->synth_prev = NULL;
  ev->synth_flags = 0;
}

void rasio__loop_unpost_ready(rasio_loop_t *loop, rasio_event_t *ev) {
  rasio__mutex_lock(&loop->synth_mu);
  if (ev->synth_flags != 0) synth_unlink(loop, ev);
  rasio__mutex_unlock(&loop->synth_mu);
}

static rasio_event_t *synth_pop(rasio_loop_t *loop, uint32_t *flags) {
  rasio__mutex_lock(&loop->synth_mu);
  rasio_event_t *ev = loop->synth_head;
  if (ev != NULL) {
    *flags = ev->synth_flags;
    synth_unlink(loop, ev);
  }
  atomic_store(&loop->synth_any, loop->synth_head != NULL);
  rasio__mutex_unlock(&loop->synth_mu);
  return ev;
}

/* Delivers what was listed when the pass began; re-posts made by notifications wait for
 * the next iteration, so an always-ready source cannot starve the loop. */
static void synth_dispatch(rasio_loop_t *loop) {
  if (!atomic_load(&loop->synth_any)) return;
  size_t budget = 0;
  rasio__mutex_lock(&loop->synth_mu);
  for (rasio_event_t *ev = loop->synth_head; ev != NULL; ev = ev->synth_next) budget++;
  rasio__mutex_unlock(&loop->synth_mu);
  uint32_t flags;
  rasio_event_t *ev;
  while (budget-- > 0 && (ev = synth_pop(loop, &flags)) != NULL) {
    rasio__event_ready(ev, flags);
    /* A level source stays ready while it can be read (stdin is the only level event
     * that gets synthetic READ). */
    if ((ev->flags & RASIO_LEVEL) && (flags & RASIO_READ)) rasio__stdin_level_again(ev);
  }
}

static rasio_event_t *reverse(rasio_event_t *list) {
  rasio_event_t *out = NULL;
  while (list != NULL) {
    rasio_event_t *next = list->dispose_next;
    list->dispose_next = out;
    out = list;
    list = next;
  }
  return out;
}

static void dispose_drain(rasio_loop_t *loop) {
  rasio_event_t *list;
  while (atomic_load_explicit(&loop->dispose_head, memory_order_relaxed) != NULL &&
         (list = atomic_exchange(&loop->dispose_head, NULL)) != NULL) {
    for (list = reverse(list); list != NULL;) {
      rasio_event_t *ev = list;
      list = ev->dispose_next; /* ev may be freed by its DISPOSED notification */
      /* A post made after the pass that would have taken it (a notification that posts
       * an event, its own or another, then unsubscribes it) must not outlive ev. */
      rasio__loop_unpost_ready(loop, ev);
      if (ev->kind == RASIO__KIND_FD) {
        rasio__fdtab_remove(loop, ev); /* before the close: the number may be reused */
        if (ev->own_fd) rasio__fd_close(ev->fd);
      } else if (ev->token != 0) {
        rasio__fdtab_token_give(loop, ev); /* stdin the backend watched */
      }
      rasio__deliver(ev, RASIO_DISPOSED, 0);
    }
  }
}

static bool has_work(rasio_loop_t *loop) {
  return atomic_load(&loop->dispose_head) != NULL || atomic_load(&loop->synth_any) ||
         atomic_load(&loop->stop_requested) || rasio__signal_pending(loop) ||
         atomic_load(&loop->calls_pending) > 0;
}

static int iterate(rasio_loop_t *loop, bool block) {
  uint64_t timeout = block ? rasio__timer_timeout(loop) : 0;
  if (timeout != 0 && has_work(loop)) timeout = 0;
  int rc = loop->be->wait(loop, timeout);
  /* Usually nobody woke us: a load spares the locked store. If it reads false, any waker
   * still to come exchanges false -> true itself, and its wake ends the next wait. */
  if (atomic_load_explicit(&loop->wake_pending, memory_order_acquire))
    atomic_store(&loop->wake_pending, false);
  rasio__signal_dispatch(loop);
  rasio__timer_dispatch(loop);
  synth_dispatch(loop);
  rasio__call_dispatch(loop);
  dispose_drain(loop);
  return rc;
}

static bool stop_taken(rasio_loop_t *loop) {
  return atomic_load_explicit(&loop->stop_requested, memory_order_relaxed) &&
         atomic_exchange(&loop->stop_requested, false);
}

/* The body of run; the caller has claimed loop->running. */
static int run_claimed(rasio_loop_t *loop, rasio_run_mode_t mode) {
  atomic_store(&loop->thread_id, rasio__thread_id());
  int rc = 0;
  switch (mode) {
    case RASIO_RUN_ONCE: rc = iterate(loop, true); break;
    case RASIO_RUN_NOWAIT: rc = iterate(loop, false); break;
    case RASIO_RUN_DEFAULT:
      while (rc == 0 && !stop_taken(loop)) rc = iterate(loop, true);
      break;
    case RASIO_RUN_QUIET:
      while (rc == 0 && atomic_load(&loop->noisy) > 0 && !stop_taken(loop))
        rc = iterate(loop, true);
      break;
  }
  atomic_store(&loop->thread_id, 0);
  atomic_store(&loop->running, false);
  return rc;
}

int rasio_loop_run(rasio_loop_t *loop, rasio_run_mode_t mode) {
  if (loop == NULL || (unsigned)mode > RASIO_RUN_QUIET) return RASIO_EINVAL;
  bool idle = false;
  if (!atomic_compare_exchange_strong(&loop->running, &idle, true)) return RASIO_EBUSY;
  return run_claimed(loop, mode);
}

static void thread_main(void *arg) { (void)run_claimed(arg, RASIO_RUN_DEFAULT); }

int rasio_loop_start(rasio_loop_t *loop) {
  if (loop == NULL) return RASIO_EINVAL;
  bool idle = false;
  if (!atomic_compare_exchange_strong(&loop->running, &idle, true)) return RASIO_EBUSY;
  /* A thread from an earlier start that stopped itself has ended (running was false). */
  if (atomic_exchange(&loop->started, false)) rasio__thread_join(loop->thread);
  int rc = rasio__thread_create(&loop->thread, thread_main, loop);
  if (rc == 0) atomic_store(&loop->started, true);
  if (rc != 0) atomic_store(&loop->running, false);
  return rc;
}

int rasio_loop_stop(rasio_loop_t *loop) {
  if (loop == NULL) return RASIO_EINVAL;
  if (atomic_load(&loop->noisy) > 0) return RASIO_EBUSY;
  atomic_store(&loop->stop_requested, true);
  rasio__loop_wake(loop);
  /* On its own thread the loop cannot join itself; free() or the next start() will. */
  if (!rasio__on_loop_thread(loop) && atomic_exchange(&loop->started, false))
    rasio__thread_join(loop->thread);
  return 0;
}

int rasio_loop_free(rasio_loop_t *loop) {
  if (loop == NULL) return RASIO_EINVAL;
  if (atomic_load(&loop->running) || atomic_load(&loop->live) > 0 ||
      atomic_load(&loop->calls_pending) > 0)
    return RASIO_EBUSY;
  if (atomic_exchange(&loop->started, false)) rasio__thread_join(loop->thread);
  rasio__resolver_fini(loop);
  rasio__signal_fini(loop);
  rasio__timer_fini(loop);
  rasio__fdtab_fini(loop);
  loop->be->fini(loop);
  rasio__mutex_destroy(&loop->synth_mu);
  rasio__mutex_destroy(&loop->timer_mu);
  rasio__mutex_destroy(&loop->sig_mu);
  rasio__mutex_destroy(&loop->fd_mu);
  rasio__call_fini(loop);
  rasio__free(loop);
  return 0;
}

const char *rasio_loop_backend(const rasio_loop_t *loop) {
  return loop != NULL ? loop->be->name : NULL;
}

size_t rasio_loop_noisy(const rasio_loop_t *loop) {
  return loop != NULL ? atomic_load(&((rasio_loop_t *)loop)->noisy) : 0;
}

uint64_t rasio_now_ns(void) { return rasio__now_ns(); }
