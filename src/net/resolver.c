/* SPDX-License-Identifier: BSD-2-Clause */
/* Name resolution off the loop: one resolver thread per loop, made at the first host name
 * a connect must look up, joined by rasio_loop_free.
 *
 * getaddrinfo has no non-blocking form; a lookup waits for DNS for as long as the system's
 * resolver configuration says. So the net layer resolves numeric hosts on the caller's
 * thread (that never waits: src/sock/common.c) and hands names to this thread. A lookup is
 * shared by two holders, its owner (a connection) and the resolver, and freed by the last to
 * let go (refs, under the resolver's lock). The result comes back through the owner's own
 * event: the resolver posts it (a USER notification on the owner's executor). The owner
 * withdraws its event under the same lock before it unsubscribes it, so the resolver never
 * posts to an event that may be gone: a connection closed while its name is being resolved
 * simply stops hearing of it, and the resolver frees the lookup when getaddrinfo returns.
 *
 * One thread per loop bounds what rasio adds to a process: lookups queue behind each other
 * (FIFO), so a slow name delays the names asked for after it on the same loop, never the
 * loop itself.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "net/net.h"

struct rasio__lookup {
  struct rasio__lookup *next; /* in the resolver's queue */
  struct rasio__resolver *r;
  char *host, *port;
  int family;
  /* Under r->mu from here on. */
  rasio_event_t *wake; /* the owner's event; NULL once the owner withdrew */
  int refs;            /* 2 while queued or resolving, 1 once one side let go */
  bool queued, done;
  int err;
  void *res; /* the addresses (rasio__sock_res_free) when done with err 0 */
};

struct rasio__resolver {
  rasio__mutex_t mu;
  rasio__cond_t cv;
  rasio__lookup_t *head, *tail;
  bool started, stopping;
  rasio__thread_t thread;
};

/* The test seam: every lookup waits this long before it resolves, so a test can watch the
 * loop go on while a name is being resolved, and close a connection in the middle. */
static _Atomic uint64_t test_delay_ns;

void rasio__resolver_test_delay(uint64_t ns) { atomic_store(&test_delay_ns, ns); }

static void lookup_free(rasio__lookup_t *lk) {
  if (lk->res != NULL) rasio__sock_res_free(lk->res);
  rasio__free(lk->host);
  rasio__free(lk->port);
  rasio__free(lk);
}

/* Drops one holder's reference; r->mu held. */
static void lookup_unref(rasio__lookup_t *lk) {
  if (--lk->refs == 0) lookup_free(lk);
}

/* Unlinks lk from the queue; r->mu held. */
static void unqueue(struct rasio__resolver *r, rasio__lookup_t *lk) {
  rasio__lookup_t **p = &r->head, *prev = NULL;
  while (*p != lk) {
    prev = *p;
    p = &(*p)->next;
  }
  *p = lk->next;
  if (r->tail == lk) r->tail = prev;
  lk->next = NULL;
  lk->queued = false;
}

static rasio__lookup_t *pop(struct rasio__resolver *r) {
  rasio__lookup_t *lk = r->head;
  unqueue(r, lk);
  return lk;
}

/* The seam's wait; r->mu held. A stopping resolver does not wait. */
static void test_wait(struct rasio__resolver *r) {
  uint64_t delay = atomic_load(&test_delay_ns);
  if (delay == 0) return;
  uint64_t until = rasio__now_ns() + delay;
  while (!r->stopping && rasio__now_ns() < until) rasio__cond_wait_until(&r->cv, &r->mu, until);
}

static void resolver_main(void *arg) {
  struct rasio__resolver *r = arg;
  rasio__mutex_lock(&r->mu);
  for (;;) {
    while (r->head == NULL && !r->stopping) rasio__cond_wait_until(&r->cv, &r->mu, UINT64_MAX);
    if (r->head == NULL) break; /* stopping, and nothing is left to answer */
    rasio__lookup_t *lk = pop(r);
    test_wait(r);
    rasio__mutex_unlock(&r->mu);
    void *res = NULL;
    int err = rasio__sock_resolve_tcp(lk->host, lk->port, lk->family, &res);
    rasio__mutex_lock(&r->mu);
    lk->done = true;
    lk->err = err;
    lk->res = res;
    /* Under the lock the owner withdraws wake with: the event is still subscribed. A post
     * to a subscribed event cannot fail. */
    if (lk->wake != NULL) (void)rasio_event_post(lk->wake);
    lookup_unref(lk);
  }
  rasio__mutex_unlock(&r->mu);
}

/* The loop's resolver, made on first use; NULL if it cannot be. Any thread: racing makers
 * agree through the compare-exchange, and the loser frees its copy. */
static struct rasio__resolver *resolver_of(rasio_loop_t *loop) {
  struct rasio__resolver *r = atomic_load(&loop->resolver);
  if (r != NULL) return r;
  struct rasio__resolver *mine = rasio__calloc(1, sizeof *mine);
  if (mine == NULL) return NULL;
  rasio__mutex_init(&mine->mu);
  rasio__cond_init(&mine->cv);
  if (atomic_compare_exchange_strong(&loop->resolver, &r, mine)) return mine;
  rasio__cond_destroy(&mine->cv);
  rasio__mutex_destroy(&mine->mu);
  rasio__free(mine);
  return r;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = rasio__malloc(n);
  if (d != NULL) memcpy(d, s, n);
  return d;
}

int rasio__lookup_new(rasio_loop_t *loop, const char *host, const char *port, int family,
                      rasio__lookup_t **out) {
  struct rasio__resolver *r = resolver_of(loop);
  rasio__lookup_t *lk = r != NULL ? rasio__calloc(1, sizeof *lk) : NULL;
  if (lk == NULL) return RASIO_ENOMEM;
  lk->r = r;
  lk->family = family;
  lk->refs = 1; /* the owner's; the resolver takes its own at submit */
  lk->host = dup_str(host);
  lk->port = dup_str(port);
  int rc = lk->host != NULL && lk->port != NULL ? 0 : RASIO_ENOMEM;
  rasio__mutex_lock(&r->mu);
  if (rc == 0 && !r->started) {
    rc = rasio__thread_create(&r->thread, resolver_main, r) == 0 ? 0 : RASIO_EOS;
    r->started = rc == 0;
  }
  rasio__mutex_unlock(&r->mu);
  if (rc != 0) {
    lookup_free(lk);
    return rc;
  }
  *out = lk;
  return 0;
}

void rasio__lookup_submit(rasio__lookup_t *lk, rasio_event_t *wake) {
  struct rasio__resolver *r = lk->r;
  rasio__mutex_lock(&r->mu);
  lk->wake = wake;
  lk->refs++;
  lk->queued = true;
  if (r->tail != NULL) r->tail->next = lk;
  else r->head = lk;
  r->tail = lk;
  rasio__cond_signal(&r->cv);
  rasio__mutex_unlock(&r->mu);
}

int rasio__lookup_connect(rasio__lookup_t *lk, rasio_loop_t *loop, const rasio_event_opts_t *tmpl,
                          rasio_event_t **events, size_t max) {
  rasio__mutex_lock(&lk->r->mu);
  bool done = lk->done;
  int err = lk->err;
  void *res = lk->res;
  rasio__mutex_unlock(&lk->r->mu);
  if (!done) return RASIO_ESTATE;
  /* res is the owner's to read from here: the resolver no longer touches a done lookup. */
  return err != 0 ? err : rasio__sock_connect_res(loop, res, tmpl, events, max);
}

void rasio__lookup_release(rasio__lookup_t *lk) {
  struct rasio__resolver *r = lk->r;
  rasio__mutex_lock(&r->mu);
  lk->wake = NULL;
  if (lk->queued) { /* not started: the resolver's reference goes with it */
    unqueue(r, lk);
    lookup_unref(lk);
  }
  lookup_unref(lk);
  rasio__mutex_unlock(&r->mu);
}

/* rasio_loop_free: every event is destroyed, so every owner let go of its lookups; the
 * thread may still be inside a getaddrinfo whose owner left, and the join waits for it. */
void rasio__resolver_fini(rasio_loop_t *loop) {
  struct rasio__resolver *r = atomic_load(&loop->resolver);
  if (r == NULL) return;
  rasio__mutex_lock(&r->mu);
  r->stopping = true;
  rasio__cond_signal(&r->cv);
  bool started = r->started;
  rasio__mutex_unlock(&r->mu);
  if (started) rasio__thread_join(r->thread);
  rasio__cond_destroy(&r->cv);
  rasio__mutex_destroy(&r->mu);
  rasio__free(r);
  atomic_store(&loop->resolver, NULL);
}
