/* SPDX-License-Identifier: BSD-2-Clause */
/* Events: creation, the arm protocol, delivery through the executors, and the lifecycle
 * (unsubscribe -> DISPOSED -> destroy).
 *
 * Arms. A ONESHOT event keeps, under ev->arm_lock, the set of directions armed in the
 * kernel. A report delivers only armed directions and disarms them; if the backend's
 * kernel disarmed the others too (epoll, PSN), the loop thread re-arms what remains before
 * it lets go of the lock. The owner's resubscribe adds directions under the same lock. So
 * read and write are independent arms on every backend, and no re-arm is ever lost to
 * epoll's whole-mask MOD.
 *
 * Emulated edge. On a backend with RASIO__BE_EDGE_BY_ONESHOT a persistent edge event runs on
 * the same oneshot arms: a report takes the direction out of ev->armed, and the owner's
 * would-block (or short read) in that direction arms it again. The kernel is asked for
 * level oneshot, so readiness that existed before a direction was armed is reported too.
 */
#include <stdlib.h>

#include "internal.h"

#define DIRS (RASIO_READ | RASIO_WRITE)
#define MODES (RASIO_ONESHOT | RASIO_LEVEL)

/* The kind an interest set describes, or 0 if it is malformed. */
static int kind_of(uint32_t f) {
  uint32_t mode = f & MODES;
  if (mode == MODES) return 0;
  if (f == RASIO_TIMER) return RASIO__KIND_TIMER;
  if (f == RASIO_SIGNAL) return RASIO__KIND_SIGNAL;
  if ((f & ~MODES) == (RASIO_STDIN | RASIO_READ)) return RASIO__KIND_STDIN;
  if ((f & ~(DIRS | MODES)) == 0 && (f & DIRS) != 0) return RASIO__KIND_FD;
  return 0;
}

/* Does ev go through backend arms (a socket, or stdin the kernel can watch)? */
static bool kernel_armed(const rasio_event_t *ev) {
  return ev->kind == RASIO__KIND_FD ||
         (ev->kind == RASIO__KIND_STDIN && ev->u.in.mode == RASIO__STDIN_BACKEND);
}

/* Does ev keep its directions in ev->armed, armed one report at a time (backend.h)? An
 * emulated edge applies only to what the kernel arms: stdin's watcher is an edge source
 * of its own. */
static bool oneshot_arms(const rasio_event_t *ev) {
  if (ev->flags & RASIO_ONESHOT) return true;
  return (ev->flags & MODES) == 0 && (ev->loop->be->caps & RASIO__BE_EDGE_BY_ONESHOT) &&
         kernel_armed(ev);
}

static int subscribe(rasio_event_t *ev, uint64_t nsec, uint32_t ready) {
  switch (ev->kind) {
    case RASIO__KIND_TIMER: return rasio__timer_start(ev, nsec);
    case RASIO__KIND_SIGNAL: return rasio__signal_subscribe(ev);
    case RASIO__KIND_STDIN: return rasio__stdin_subscribe(ev);
    default: break;
  }
  uint32_t dirs = ev->flags & DIRS;
  ready &= dirs;
  if (ready & RASIO_READ) atomic_store(&ev->readable, true);
  if (ready & RASIO_WRITE) atomic_store(&ev->writeable, true);
  if (oneshot_arms(ev)) dirs &= ~ready;
  int rc = rasio__fdtab_add(ev->loop, ev);
  /* Two threads subscribing one closed number: the loser must hear EBADF too, not EEXIST
   * for a registration that is about to fail. */
  if (rc == RASIO_EEXIST && !rasio__fd_is_open(ev->fd)) rc = RASIO_EBADF;
  if (rc != 0) return rc;
  rasio__mutex_lock(&ev->arm_lock);
  rc = ev->loop->be->ctl(ev->loop, ev, RASIO__CTL_ADD, dirs);
  if (rc == 0) ev->armed = dirs;
  rasio__mutex_unlock(&ev->arm_lock);
  if (rc != 0) rasio__fdtab_remove(ev->loop, ev);
  return rc;
}

static int check_opts(const rasio_event_opts_t *o, int *kind) {
  *kind = kind_of(o->flags);
  if (*kind == 0 || o->notify == NULL || (o->ready & ~DIRS) != 0) return RASIO_EINVAL;
  if (*kind == RASIO__KIND_SIGNAL && (o->nsec > INT32_MAX || !rasio__sig_valid((int)o->nsec)))
    return RASIO_EINVAL;
  if (*kind == RASIO__KIND_FD && !rasio__fd_in_range(o->fd)) return RASIO_EBADF;
  if (o->interval != 0 && *kind != RASIO__KIND_TIMER) return RASIO_EINVAL;
  return 0;
}

static void count_live(rasio_loop_t *loop, bool noisy, bool up) {
  if (up) {
    atomic_fetch_add(&loop->live, 1);
    if (noisy) atomic_fetch_add(&loop->noisy, 1);
    return;
  }
  /* A run in RASIO_RUN_QUIET mode may be waiting for this count to reach zero. */
  if (noisy && atomic_fetch_sub(&loop->noisy, 1) == 1) rasio__loop_wake(loop);
  atomic_fetch_sub(&loop->live, 1); /* the last touch of loop: it may be freed next */
}

static void event_free(rasio_event_t *ev) {
  rasio__mutex_destroy(&ev->arm_lock);
  ev->magic = RASIO__EVENT_DEAD;
  rasio__free(ev);
}

int rasio_event_new(rasio_loop_t *loop, const rasio_event_opts_t *opts, rasio_event_t **out) {
  if (out != NULL) *out = NULL;
  if (loop == NULL || opts == NULL || out == NULL) return RASIO_EINVAL;
  int kind, rc = check_opts(opts, &kind);
  if (rc != 0) return rc;
  rasio_event_t *ev = rasio__calloc(1, sizeof *ev);
  if (ev == NULL) return RASIO_ENOMEM;
  ev->magic = RASIO__EVENT_MAGIC;
  ev->flags = opts->flags;
  ev->kind = (uint8_t)kind;
  ev->noisy = opts->noisy;
  ev->own_fd = opts->own_fd && kind == RASIO__KIND_FD;
  ev->loop = loop;
  ev->fd = kind == RASIO__KIND_FD ? opts->fd : RASIO_INVALID_FD;
  ev->notify = opts->notify;
  ev->ctx = opts->ctx;
  ev->mailbox = opts->mailbox;
  ev->node.is_event = true;
  ev->u.timer.index = RASIO__NO_INDEX;
  if (kind == RASIO__KIND_TIMER) ev->u.timer.interval = opts->interval;
  if (kind == RASIO__KIND_SIGNAL) ev->u.sig.signo = (int)opts->nsec;
  if (kind == RASIO__KIND_STDIN) {
    ev->fd = rasio__stdin_fd();
    /* BACKEND may still become ALWAYS if the kernel refuses it. */
    ev->u.in.mode = rasio__stdin_needs_watcher() ? RASIO__STDIN_WATCHER : RASIO__STDIN_BACKEND;
  }
  rasio__mutex_init(&ev->arm_lock);
  /* Publishes the fields above: the loop thread learns of ev through the kernel, which
   * orders memory but not in C11's terms, so it loads state (acquire) before anything. */
  atomic_store_explicit(&ev->state, RASIO__ACTIVE, memory_order_release);

  /* Published before subscribing: a notification may run before new returns. */
  *out = ev;
  count_live(loop, ev->noisy, true);
  rc = subscribe(ev, opts->nsec, opts->ready);
  if (rc == 0) return 0;
  *out = NULL;
  /* ev was visible (through *out) while it subscribed: nothing may list it any more. */
  atomic_store(&ev->state, RASIO__DESTROYED);
  rasio__loop_unpost_ready(loop, ev);
  count_live(loop, ev->noisy, false);
  event_free(ev);
  return rc;
}

/* Re-arms what a oneshot report left armed; arm_lock held, loop thread. Returns
 * RASIO_ERROR if that failed: nothing is armed any more and the owner must learn it. */
static uint32_t rearm_rest(rasio_event_t *ev) {
  if (ev->armed == 0 || !(ev->loop->be->caps & RASIO__BE_ONESHOT_DISARMS_ALL)) return 0;
  if (ev->loop->be->ctl(ev->loop, ev, RASIO__CTL_ARM, ev->armed) == 0) return 0;
  ev->armed = 0;
  return RASIO_ERROR;
}

/* Takes the armed directions out of a report. The notification is delivered by the
 * caller after the lock is released, since the owner may re-arm from inside it. */
static uint32_t take_oneshot(rasio_event_t *ev, uint32_t dirs) {
  rasio__mutex_lock(&ev->arm_lock);
  uint32_t deliver = 0;
  if (atomic_load(&ev->state) == RASIO__ACTIVE) {
    deliver = dirs & ev->armed;
    ev->armed &= ~deliver;
    /* Set before the lock is released, so a concurrent resubscribe sees the direction as
     * delivered and does not arm it again before the owner has consumed it. */
    if (deliver & RASIO_READ) atomic_store(&ev->readable, true);
    if (deliver & RASIO_WRITE) atomic_store(&ev->writeable, true);
    deliver |= rearm_rest(ev);
  }
  rasio__mutex_unlock(&ev->arm_lock);
  return deliver;
}

/* Persistent events deliver whatever the kernel reports within the interest. */
static uint32_t take_persistent(rasio_event_t *ev, uint32_t dirs) {
  dirs &= ev->flags;
  /* Release, not seq_cst: no arm decision reads these for a persistent event, and the
   * delivery that follows orders them for the owner. */
  if (dirs & RASIO_READ) atomic_store_explicit(&ev->readable, true, memory_order_release);
  if (dirs & RASIO_WRITE) atomic_store_explicit(&ev->writeable, true, memory_order_release);
  return dirs;
}

void rasio__event_ready(rasio_event_t *ev, uint32_t flags) {
  if (atomic_load_explicit(&ev->state, memory_order_acquire) != RASIO__ACTIVE) return;
  if (flags & RASIO__HUP) atomic_store_explicit(&ev->hup, true, memory_order_relaxed);
  uint32_t dirs = flags & DIRS;
  /* Never gated: the owner asked for USER; ERROR says an arm failed (retry below). */
  uint32_t deliver = flags & (RASIO_USER | RASIO_ERROR);
  if (dirs != 0)
    deliver |= oneshot_arms(ev) ? take_oneshot(ev, dirs) : take_persistent(ev, dirs);
  if (deliver != 0) rasio__deliver(ev, deliver, 0);
}

int rasio_event_post(rasio_event_t *ev) {
  if (!rasio__event_valid(ev)) return RASIO_EINVAL;
  if (atomic_load(&ev->state) != RASIO__ACTIVE) return RASIO_ESTATE;
  rasio__loop_post_ready(ev->loop, ev, RASIO_USER);
  return 0;
}

void rasio__event_gone(rasio_event_t *ev) { rasio__loop_dispose(ev->loop, ev); }

void rasio__deliver(rasio_event_t *ev, uint32_t flags, uint32_t arg) {
  if (ev->mailbox != NULL) {
    if (flags & RASIO_DISPOSED) atomic_store(&ev->state, RASIO__DISPOSING);
    rasio__mailbox_post_event(ev->mailbox, ev, flags, arg); /* ev may be gone after this */
    return;
  }
  if (flags & RASIO_DISPOSED) {
    rasio__event_deliver_disposed(ev);
    return;
  }
  if (atomic_load(&ev->state) == RASIO__ACTIVE) ev->notify(ev, flags, arg, ev->ctx);
}

/* The fields notify needs are read before the state allows a destroy; the memory is freed
 * only after notify returned, here if a destroy came meanwhile (DOOMED), else by destroy. */
void rasio__event_deliver_disposed(rasio_event_t *ev) {
  rasio_notify_fn notify = ev->notify;
  void *ctx = ev->ctx;
  atomic_store(&ev->state, RASIO__DELIVERING);
  notify(ev, RASIO_DISPOSED, 0, ctx);
  uint32_t delivering = RASIO__DELIVERING;
  if (!atomic_compare_exchange_strong(&ev->state, &delivering, RASIO__DISPOSED))
    event_free(ev); /* DOOMED; after a successful exchange ev is the owner's alone */
}

void rasio__event_run_pending(rasio_event_t *ev, uint64_t pending) {
  uint32_t flags = (uint32_t)pending, arg = (uint32_t)(pending >> 32);
  uint32_t io = flags & ~(uint32_t)RASIO_DISPOSED;
  /* Checked on the owner's own thread: after it unsubscribed, only DISPOSED gets through. */
  if (io != 0 && atomic_load(&ev->state) == RASIO__ACTIVE) ev->notify(ev, io, arg, ev->ctx);
  if (flags & RASIO_DISPOSED) rasio__event_deliver_disposed(ev);
}

static int arm(rasio_event_t *ev, uint32_t dirs) {
  rasio_loop_t *loop = ev->loop;
  int rc = 0;
  rasio__mutex_lock(&ev->arm_lock);
  if (atomic_load(&ev->state) != RASIO__ACTIVE) {
    rc = RASIO_ESTATE;
  } else if ((ev->armed | dirs) != ev->armed) {
    rc = loop->be->ctl(loop, ev, RASIO__CTL_ARM, ev->armed | dirs);
    if (rc == 0) ev->armed |= dirs;
  }
  rasio__mutex_unlock(&ev->arm_lock);
  return rc;
}

static int resubscribe(rasio_event_t *ev, uint32_t dirs) {
  if (!rasio__event_valid(ev)) return RASIO_EINVAL;
  if (ev->kind != RASIO__KIND_FD && ev->kind != RASIO__KIND_STDIN) return RASIO_EINVAL;
  if (atomic_load(&ev->state) != RASIO__ACTIVE) return RASIO_ESTATE;
  dirs &= ev->flags;
  if (atomic_load(&ev->readable)) dirs &= ~(uint32_t)RASIO_READ;
  if (atomic_load(&ev->writeable)) dirs &= ~(uint32_t)RASIO_WRITE;
  if (dirs == 0) return 0;
  if (!kernel_armed(ev)) return rasio__stdin_rearm(ev);
  /* A kernel edge or level needs nothing: the kernel reports again by itself. */
  return oneshot_arms(ev) ? arm(ev, dirs) : 0;
}

int rasio_event_resubscribe_read(rasio_event_t *ev) { return resubscribe(ev, RASIO_READ); }
int rasio_event_resubscribe_write(rasio_event_t *ev) { return resubscribe(ev, RASIO_WRITE); }
int rasio_event_resubscribe(rasio_event_t *ev) { return resubscribe(ev, DIRS); }

/* The owner met would-block in dir: an emulated edge arms dir again (a no-op while it is
 * still armed). A kernel edge needs nothing. Any thread. */
void rasio__event_retry(rasio_event_t *ev, uint32_t dir) {
  if ((ev->flags & MODES) != 0 || !oneshot_arms(ev)) return;
  int rc = arm(ev, dir & ev->flags);
  /* The owner is about to wait for this direction: if it could not be armed, the wait
   * would never end, so the owner hears RASIO_ERROR instead (ESTATE: unsubscribed). */
  if (rc != 0 && rc != RASIO_ESTATE) rasio__loop_post_ready(ev->loop, ev, RASIO_ERROR);
}

/* A stream read came back short: the owner's turn ends there (rasio.h's short-read rule),
 * which a persistent edge must honour. An emulated edge arms READ again, and the level
 * oneshot arm reports data (or the end) that came meanwhile. A kernel edge (epoll ET,
 * EV_CLEAR) that already reported the end together with the data reports nothing more, so
 * READ is posted once more and the owner's next read sees the end. */
void rasio__event_short_read(rasio_event_t *ev) {
  if ((ev->flags & MODES) != 0) return; /* a oneshot re-arm or a level report re-checks */
  if (oneshot_arms(ev))
    rasio__event_retry(ev, RASIO_READ);
  else if (atomic_load_explicit(&ev->hup, memory_order_relaxed))
    rasio__loop_post_ready(ev->loop, ev, RASIO_READ);
}

/* Removes the kernel registration; true if it is gone now (else the backend reports it). */
static bool remove_fd(rasio_event_t *ev) {
  rasio__mutex_lock(&ev->arm_lock);
  int rc = ev->loop->be->ctl(ev->loop, ev, RASIO__CTL_DEL, 0);
  ev->armed = 0;
  rasio__mutex_unlock(&ev->arm_lock);
  return rc != RASIO__PENDING;
}

int rasio_event_unsubscribe(rasio_event_t *ev) {
  if (!rasio__event_valid(ev)) return RASIO_EINVAL;
  uint32_t active = RASIO__ACTIVE;
  if (!atomic_compare_exchange_strong(&ev->state, &active, RASIO__UNSUBSCRIBED)) return 0;
  bool gone = true;
  switch (ev->kind) {
    case RASIO__KIND_FD: gone = remove_fd(ev); break;
    case RASIO__KIND_TIMER: rasio__timer_cancel(ev); break;
    case RASIO__KIND_SIGNAL: rasio__signal_unsubscribe(ev); break;
    case RASIO__KIND_STDIN: gone = rasio__stdin_unsubscribe(ev); break;
  }
  if (gone) rasio__loop_dispose(ev->loop, ev);
  return 0;
}

int rasio_event_destroy(rasio_event_t *ev) {
  if (!rasio__event_valid(ev)) return RASIO_EINVAL;
  rasio_loop_t *loop = ev->loop; /* read first: once DOOMED, ev may be freed at any time */
  bool noisy = ev->noisy;
  uint32_t s = atomic_load(&ev->state);
  do {
    if (s != RASIO__DISPOSED && s != RASIO__DELIVERING) return RASIO_ESTATE;
  } while (!atomic_compare_exchange_weak(&ev->state, &s,
                                         s == RASIO__DISPOSED ? RASIO__DESTROYED : RASIO__DOOMED));
  if (s == RASIO__DISPOSED) event_free(ev); /* else its deliverer frees it (DOOMED) */
  count_live(loop, noisy, false);
  return 0;
}

int rasio_event_set_nsec(rasio_event_t *ev, uint64_t nsec) {
  if (!rasio__event_valid(ev) || ev->kind != RASIO__KIND_TIMER) return RASIO_EINVAL;
  return rasio__timer_start(ev, nsec);
}

bool rasio_event_readable(const rasio_event_t *ev) {
  return rasio__event_valid(ev) && atomic_load(&((rasio_event_t *)ev)->readable);
}

bool rasio_event_writeable(const rasio_event_t *ev) {
  return rasio__event_valid(ev) && atomic_load(&((rasio_event_t *)ev)->writeable);
}

void rasio_event_set_readable(rasio_event_t *ev, bool value) {
  if (rasio__event_valid(ev)) atomic_store(&ev->readable, value);
}

void rasio_event_set_writeable(rasio_event_t *ev, bool value) {
  if (rasio__event_valid(ev)) atomic_store(&ev->writeable, value);
}

rasio_fd_t rasio_event_fd(const rasio_event_t *ev) {
  return rasio__event_valid(ev) ? ev->fd : RASIO_INVALID_FD;
}

uint32_t rasio_event_flags(const rasio_event_t *ev) {
  return rasio__event_valid(ev) ? ev->flags : 0;
}

void *rasio_event_ctx(const rasio_event_t *ev) { return rasio__event_valid(ev) ? ev->ctx : NULL; }

rasio_loop_t *rasio_event_loop(const rasio_event_t *ev) {
  return rasio__event_valid(ev) ? ev->loop : NULL;
}
