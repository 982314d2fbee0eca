/* SPDX-License-Identifier: BSD-2-Clause */
/* The reference model: what each notification and each return code may be, given what the
 * fuzzer did; the operation log; the failure report; the table of socket numbers.
 *
 * Exact and tolerant checks. Some rules are exact whatever the threads do; some hold only
 * up to a freedom rasio.h grants, and the model then checks the bound that stays exact:
 * - DISPOSED: exactly one, flags == DISPOSED, arg 0, only after an unsubscribe started,
 *   never two notifications of one event at once, nothing after it, ever. Exact.
 * - Directions: within the interest (plus USER, and ERROR for sockets). Exact.
 * - Oneshot: each delivery of a direction consumes an arm; arms come from the subscription
 *   and from resubscribe calls. A delivery happens before its notification runs, so the
 *   count of notifications with READ may not exceed the arms given by calls *started*
 *   before the notification (the arm may be taken earlier than the notification runs, so
 *   counting calls that started is the exact bound; counting completed calls would not be).
 * - Timers: no more TIMER than expiries set; none before the earliest deadline allowed.
 *   Signals: the args never add up to more raises than happened since subscribing. USER:
 *   never more than posts made. Edge may coalesce and level repeats: no count for them.
 * - "Nothing after unsubscribe": exact only when the unsubscribe returned on the owner's
 *   own thread (rasio.h: a notification already produced may still run after a call from
 *   another thread returns). Then only DISPOSED may follow.
 * - Return codes: exact when no concurrent unsubscribe can have moved the state during the
 *   call (the model counts unsubscribe calls started), else either outcome is allowed.
 * Liveness (no lost arm, post, timer, signal, DISPOSED) is checked by world.c's probes and
 * teardown, which wait with generous, scaled deadlines.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

fz_world_t W;
_Thread_local fz_thread_t *fz_self;

/* --- the operation log ----------------------------------------------------------------------- */

#define LOG_CAP 16384

typedef struct entry {
  uint64_t seq;
  uint64_t at_us;
  int tid;
  int what;
  unsigned serial;
  int rc;
  int64_t detail;
} entry_t;

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static entry_t ring[LOG_CAP];
static uint64_t log_n;
static uint64_t log_t0;
/* Over the process's life, for --verbose: how often each entry kind came, by result. */
static uint64_t tally[FZ_LOG_MAX][2];

void fz_log_reset(void) {
  pthread_mutex_lock(&log_mu);
  log_n = 0;
  log_t0 = rasio_now_ns();
  pthread_mutex_unlock(&log_mu);
}

void fz_log(int what, const fz_rec_t *r, int rc, int64_t detail) {
  fz_thread_t *t = fz_self;
  pthread_mutex_lock(&log_mu);
  entry_t *e = &ring[log_n % LOG_CAP];
  *e = (entry_t){.seq = log_n, .at_us = (rasio_now_ns() - log_t0) / 1000, .tid = t ? t->id : -1,
                 .what = what, .serial = r ? r->serial : 0, .rc = rc, .detail = detail};
  log_n++;
  tally[what][rc != 0]++;
  pthread_mutex_unlock(&log_mu);
}

void fz_log_tally(void) {
  static const char *const extra[] = {"notify", "phase", "sockets", "seed"};
  pthread_mutex_lock(&log_mu);
  printf("operations (ok / error or refused):\n");
  for (int i = 0; i < FZ_LOG_MAX; i++)
    printf("  %-14s %10llu %10llu\n", i < FZ_NOPS ? fz_op_names[i] : extra[i - FZ_NOPS],
           (unsigned long long)tally[i][0], (unsigned long long)tally[i][1]);
  pthread_mutex_unlock(&log_mu);
}

const char *fz_rc_name(int rc) { return rc <= 0 ? rasio_err_name(rc) : "?"; }

static void flag_names(uint32_t f, char *buf, size_t cap) {
  static const struct {
    uint32_t bit;
    const char *name;
  } names[] = {{RASIO_READ, "READ"},     {RASIO_WRITE, "WRITE"},   {RASIO_TIMER, "TIMER"},
               {RASIO_SIGNAL, "SIGNAL"}, {RASIO_ERROR, "ERROR"},   {RASIO_ONESHOT, "ONESHOT"},
               {RASIO_LEVEL, "LEVEL"},   {RASIO_DISPOSED, "DISPOSED"}, {RASIO_USER, "USER"}};
  buf[0] = '\0';
  size_t len = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (!(f & names[i].bit)) continue;
    int n = snprintf(buf + len, cap - len, "%s%s", len ? "|" : "", names[i].name);
    if (n < 0 || (size_t)n >= cap - len) break;
    len += (size_t)n;
  }
  if (len == 0) snprintf(buf, cap, "0x%x", (unsigned)f);
}

static const char *thread_name(int tid) {
  static const char *const names[] = {"drv", "own1", "own2", "own3", "own4", "loop"};
  return tid >= 0 && tid <= FZ_LOOP_TID ? names[tid] : "?";
}

static void print_entry(const entry_t *e) {
  char what[64], flags[96];
  if (e->what < FZ_NOPS) {
    snprintf(what, sizeof what, "%s", fz_op_names[e->what]);
  } else if (e->what == FZ_LOG_NOTE) {
    flag_names((uint32_t)e->detail, flags, sizeof flags);
    printf("  #%-6llu %8llu us %-4s notify   #%u %s arg=%u\n", (unsigned long long)e->seq,
           (unsigned long long)e->at_us, thread_name(e->tid), e->serial, flags,
           (unsigned)(e->detail >> 32));
    return;
  } else if (e->what == FZ_LOG_NEW) {
    printf("  #%-6llu %8llu us %-4s sockets  #%u fd=%lld peer=%lld\n", (unsigned long long)e->seq,
           (unsigned long long)e->at_us, thread_name(e->tid), e->serial,
           (long long)(e->detail >> 32), (long long)(int32_t)e->detail);
    return;
  } else {
    static const char *const extra[] = {"phase", "new", "seed"};
    snprintf(what, sizeof what, "%s", extra[e->what - FZ_LOG_PHASE]);
  }
  printf("  #%-6llu %8llu us %-4s %-8s #%u rc=%s detail=%lld\n", (unsigned long long)e->seq,
         (unsigned long long)e->at_us, thread_name(e->tid), what, e->serial, fz_rc_name(e->rc),
         (long long)e->detail);
}

void fz_log_dump(unsigned tail) {
  pthread_mutex_lock(&log_mu);
  uint64_t first = log_n > tail ? log_n - tail : 0;
  if (log_n > LOG_CAP && first < log_n - LOG_CAP) first = log_n - LOG_CAP;
  printf("operation log: entries %llu..%llu of %llu (--log=N for more)\n",
         (unsigned long long)first, (unsigned long long)(log_n ? log_n - 1 : 0),
         (unsigned long long)log_n);
  for (uint64_t i = first; i < log_n; i++) print_entry(&ring[i % LOG_CAP]);
  pthread_mutex_unlock(&log_mu);
}

/* --- failure ----------------------------------------------------------------------------- */

static const char *kind_name(fz_kind_t k) {
  switch (k) {
    case FZ_TCP: return "tcp";
    case FZ_UDP: return "udp";
    case FZ_TIMER: return "timer";
    case FZ_SIGNAL: return "signal";
  }
  return "?";
}

static const char *st_name(fz_st_t st) {
  static const char *const names[] = {"?",        "new",  "active", "unsub",     "unsubbed",
                                      "disposed", "done", "destroying", "destroyed"};
  return st <= ST_DESTROYED ? names[st] : "?";
}

/* Without the model lock: the report is made while other threads may still run, and a
 * thread holding the lock may be the one that is stuck. */
void fz_world_dump(void) {
  printf("world: seed %llu, %s loop, %d owner threads, %u slots, %u ops, backend %s\n",
         (unsigned long long)W.seed, W.driven ? "driven (RUN_ONCE/NOWAIT)" : "threaded",
         W.nowners, W.nslots, W.nops, W.loop ? rasio_loop_backend(W.loop) : "-");
  printf("events not destroyed (serial kind interest exec policy state counts):\n");
  for (unsigned i = 0; i < W.nrecs; i++) {
    const fz_rec_t *r = &W.recs[i];
    if (r->st == ST_DESTROYED) continue;
    char flags[96];
    flag_names(r->interest, flags, sizeof flags);
    printf("  #%u %s %s exec=%d %s%s%s st=%s pins=%d hold=%d cb=%u r=%u w=%u t=%u s=%u u=%u "
           "e=%u d=%u probe=0x%x%s\n",
           r->serial, kind_name(r->kind), flags, r->exec, r->later ? "later" : "in-dispose",
           r->noisy ? " noisy" : "", r->own_fd ? " own_fd" : "", st_name(r->st), r->pins,
           r->hold, r->n_cb, r->n_read, r->n_write, r->n_timer, r->n_signal, r->n_user,
           r->n_error, r->n_disposed, r->probe_mask, r->probe_io ? " probe_io" : "");
  }
}

bool fz_report(const char *why) {
  static atomic_flag reported = ATOMIC_FLAG_INIT;
  if (atomic_flag_test_and_set(&reported)) return false;
  fflush(stdout);
  printf("FAIL seed %llu: %s (thread %s)\n", (unsigned long long)W.seed, why,
         fz_self ? thread_name(fz_self->id) : "?");
  fz_world_dump();
  fz_log_dump(W.cfg ? W.cfg->log_tail : 400);
  const char *backend = W.cfg ? W.cfg->backend : NULL;
  printf("replay: rasio-fuzz --seed=%llu%s%s\n", (unsigned long long)W.seed,
         backend ? " --backend=" : "", backend ? backend : "");
  fflush(stdout);
  return true;
}

_Noreturn void fz_fail(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* One report; a second failing thread waits for the first to end the process. */
  if (!fz_report(msg))
    for (;;) th_sleep_ms(1000);
  fz_main_failed();
  fflush(stdout);
  fflush(stderr);
  /* A divergence is often the echo of memory corruption that a sanitizer is reporting on
   * another thread right now: let that report finish (and end the process) first. */
  th_sleep_ms(200);
  _Exit(FZ_EXIT_DIVERGENCE);
}

/* --- the model lock and pins ------------------------------------------------------------------ */

void fz_lock(void) { pthread_mutex_lock(&W.mu); }
void fz_unlock(void) { pthread_mutex_unlock(&W.mu); }
void fz_changed(void) { pthread_cond_broadcast(&W.cv); }

static bool alive(const fz_rec_t *r) { return r->st >= ST_ACTIVE && r->st < ST_DESTROYING; }

bool fz_pin(fz_rec_t *r, rasio_event_t **ev) {
  fz_lock();
  bool ok = alive(r) && !r->excl;
  if (ok) {
    r->pins++;
    *ev = r->ev;
  }
  fz_unlock();
  return ok;
}

void fz_unpin(fz_rec_t *r) {
  fz_lock();
  r->pins--;
  fz_changed();
  fz_unlock();
}

bool fz_excl_locked(fz_rec_t *r, bool (*want)(const fz_rec_t *r)) {
  while (r->excl || r->pins > 0) {
    if (!want(r)) return false;
    pthread_cond_wait(&W.cv, &W.mu);
  }
  if (!want(r)) return false;
  r->excl = true;
  return true;
}

bool fz_hold(fz_rec_t *r, rasio_event_t **ev) {
  fz_lock();
  bool ok = r->st == ST_ACTIVE && !r->excl && !r->probe_io;
  if (ok) {
    r->pins++;
    r->hold++;
    *ev = r->ev;
  }
  fz_unlock();
  return ok;
}

/* A reader that started before the probe could take the probe's byte after the kernel
 * reported it and before the loop collected the report (epoll re-checks readiness then),
 * and no READ would follow: hence the probe waits for such readers to end. */
bool fz_hold_probe(fz_rec_t *r, rasio_event_t **ev) {
  fz_lock();
  while (r->hold > 0 && r->st == ST_ACTIVE) pthread_cond_wait(&W.cv, &W.mu);
  bool ok = r->st == ST_ACTIVE && !r->excl && !r->probe_io;
  if (ok) {
    r->probe_io = true;
    r->pins++;
    r->hold++;
    *ev = r->ev;
  }
  fz_unlock();
  return ok;
}

void fz_release(fz_rec_t *r) {
  fz_lock();
  r->pins--;
  r->hold--;
  fz_changed();
  fz_unlock();
}

bool fz_owner_thread(const fz_rec_t *r) {
  if (r->exec >= 0) return fz_self == &W.owners[r->exec].t;
  return fz_self == (W.driven ? &W.driver : &W.looper);
}

/* --- notifications ------------------------------------------------------------------------------ */

static uint32_t allowed(const fz_rec_t *r) {
  switch (r->kind) {
    case FZ_TCP:
    case FZ_UDP: return (r->interest & (RASIO_READ | RASIO_WRITE)) | RASIO_USER | RASIO_ERROR;
    case FZ_TIMER: return RASIO_TIMER | RASIO_USER;
    case FZ_SIGNAL: return RASIO_SIGNAL | RASIO_USER;
  }
  return 0;
}

/* The notification runs where its executor says: its mailbox's thread, or the loop thread
 * (rasio's own in threaded mode, the driver when it drives). */
static void check_thread(const fz_rec_t *r, uint32_t flags) {
  if (fz_owner_thread(r)) return;
  fz_fail("event #%u (exec %d): notification 0x%x ran on thread %d, not its executor's",
          r->serial, r->exec, (unsigned)flags, fz_self ? fz_self->id : -1);
}

static void check_oneshot(fz_rec_t *r, uint32_t flags) {
  if (!(r->interest & RASIO_ONESHOT)) return;
  if ((flags & RASIO_READ) && r->n_read > r->armed0[0] + r->resub[0])
    fz_fail("event #%u: oneshot READ delivered %u times, armed at most %u times (%u at "
            "subscribe + %u resubscribe calls)",
            r->serial, r->n_read, r->armed0[0] + r->resub[0], r->armed0[0], r->resub[0]);
  if ((flags & RASIO_WRITE) && r->n_write > r->armed0[1] + r->resub[1])
    fz_fail("event #%u: oneshot WRITE delivered %u times, armed at most %u times (%u at "
            "subscribe + %u resubscribe calls)",
            r->serial, r->n_write, r->armed0[1] + r->resub[1], r->armed0[1], r->resub[1]);
}

static void note_io(fz_rec_t *r, uint32_t flags, uint32_t arg) {
  uint32_t extra = flags & ~allowed(r);
  if (extra != 0)
    fz_fail("event #%u: notification 0x%x outside its interest 0x%x (extra 0x%x)", r->serial,
            (unsigned)flags, (unsigned)r->interest, (unsigned)extra);
  if ((flags & RASIO_SIGNAL) ? arg == 0 : arg != 0)
    fz_fail("event #%u: flags 0x%x with arg %u", r->serial, (unsigned)flags, (unsigned)arg);
  if (r->unsub_owner)
    fz_fail("event #%u: notification 0x%x after its owner's own unsubscribe returned",
            r->serial, (unsigned)flags);
  r->n_cb++;
  if (flags & RASIO_READ) r->n_read++;
  if (flags & RASIO_WRITE) r->n_write++;
  if (flags & RASIO_ERROR) r->n_error++;
  check_oneshot(r, flags);
  if ((flags & RASIO_USER) && ++r->n_user > r->posts)
    fz_fail("event #%u: %u USER notifications for %u posts", r->serial, r->n_user, r->posts);
  if (flags & RASIO_TIMER) {
    if (++r->n_timer > r->timer_sets)
      fz_fail("event #%u: TIMER %u times for %u expiries set", r->serial, r->n_timer,
              r->timer_sets);
    uint64_t now = rasio_now_ns();
    if (now < r->min_deadline)
      fz_fail("event #%u: TIMER %llu ns before the earliest deadline any set allowed",
              r->serial, (unsigned long long)(r->min_deadline - now));
  }
  if (flags & RASIO_SIGNAL) {
    r->n_signal++;
    r->sig_args += arg;
    uint64_t raised = atomic_load(&W.raises) - r->raises0;
    if (r->sig_args > raised)
      fz_fail("event #%u: SIGNAL args add up to %llu, but only %llu raises since subscribe",
              r->serial, (unsigned long long)r->sig_args, (unsigned long long)raised);
  }
}

static void note_disposed(fz_rec_t *r, uint32_t flags, uint32_t arg) {
  if (flags != RASIO_DISPOSED || arg != 0)
    fz_fail("event #%u: DISPOSED with flags 0x%x arg %u", r->serial, (unsigned)flags,
            (unsigned)arg);
  if (r->st < ST_UNSUB)
    fz_fail("event #%u: DISPOSED before any unsubscribe (state %s)", r->serial, st_name(r->st));
  r->n_disposed++;
  /* Destroyed already: legal only if that destroy returned after this notification had
   * started (ops.c's destroy_early saw disp_entered and said so in early_ok). */
  if (r->st >= ST_DESTROYING) {
    if (!r->early_ok)
      fz_fail("event #%u: DISPOSED arrived after a destroy of the event returned 0", r->serial);
    return;
  }
  r->st = ST_DISP;
}

void fz_model_note(fz_rec_t *r, rasio_event_t *ev, uint32_t flags, uint32_t arg) {
  fz_lock();
  if (r->ev == NULL) r->ev = ev; /* a notification may come before rasio_event_new returns */
  if (r->ev != ev)
    fz_fail("event #%u: notification names event %p, the event is %p", r->serial, (void *)ev,
            (void *)r->ev);
  if (r->n_disposed > 0)
    fz_fail("event #%u: notification 0x%x after its DISPOSED", r->serial, (unsigned)flags);
  if (flags == 0) fz_fail("event #%u: notification with no flags", r->serial);
  check_thread(r, flags);
  if (flags & RASIO_DISPOSED)
    note_disposed(r, flags, arg);
  else
    note_io(r, flags, arg);
  fz_changed();
  fz_unlock();
}

/* --- socket numbers ------------------------------------------------------------------------ */

typedef struct fd_entry {
  rasio_fd_t fd;
  fz_rec_t *rec;
  bool rasio_owns; /* handed over with own_fd: rasio closes it */
} fd_entry_t;

static pthread_mutex_t fd_mu = PTHREAD_MUTEX_INITIALIZER;
static fd_entry_t fds[FZ_MAX_FDS];
static size_t nfds;

void fz_fd_lock(void) { pthread_mutex_lock(&fd_mu); }
void fz_fd_unlock(void) { pthread_mutex_unlock(&fd_mu); }
static rasio_fd_t fd_max; /* the highest number the fuzzer held in this seed */

void fz_fd_reset(void) {
  nfds = 0;
  fd_max = 0;
}
size_t fz_fd_count(void) { return nfds; }
rasio_fd_t fz_fd_max(void) { return fd_max; }

long fz_count_open(rasio_fd_t below) {
  long n = 0;
  for (rasio_fd_t fd = 0; fd < below; fd++) n += th_fd_open(fd);
  return n;
}

static size_t fd_find(rasio_fd_t fd) {
  for (size_t i = 0; i < nfds; i++)
    if (fds[i].fd == fd) return i;
  return SIZE_MAX;
}

static void fd_drop(size_t i) { fds[i] = fds[--nfds]; }

/* A number the OS hands out is free: if the table still lists it, it was closed without
 * the fuzzer closing it. That is rasio's job for an own_fd event once unsubscribed, and a
 * bug in every other case. */
void fz_fd_add(rasio_fd_t fd, fz_rec_t *r, bool rasio_owns) {
  size_t i = fd_find(fd);
  if (i != SIZE_MAX) {
    fz_rec_t *old = fds[i].rec;
    if (!fds[i].rasio_owns)
      fz_fail("socket %lld of event #%u (not own_fd) was closed behind the fuzzer's back: the "
              "OS handed its number out again",
              (long long)fd, old ? old->serial : 0);
    fz_lock();
    fz_st_t st = old->st;
    fz_unlock();
    if (st < ST_UNSUB)
      fz_fail("own_fd socket %lld of event #%u was closed before its unsubscribe",
              (long long)fd, old->serial);
    fd_drop(i);
  }
  if (nfds == FZ_MAX_FDS) fz_fail("the fuzzer holds %d sockets", FZ_MAX_FDS);
  if (fd > fd_max) fd_max = fd;
  fds[nfds++] = (fd_entry_t){.fd = fd, .rec = r, .rasio_owns = rasio_owns};
}

void fz_fd_close(rasio_fd_t fd, bool rst) {
  size_t i = fd_find(fd);
  if (i == SIZE_MAX || fds[i].rasio_owns)
    fz_fail("closing socket %lld, which the fuzzer does not hold", (long long)fd);
  fd_drop(i);
  if (rst)
    th_close_rst(fd);
  else
    th_close(fd);
}

void fz_fd_check_closed(fz_rec_t *r) {
  size_t i = fd_find(r->fd);
  if (i == SIZE_MAX || fds[i].rec != r || !fds[i].rasio_owns) return; /* number reused since */
  if (th_fd_open(r->fd))
    fz_fail("event #%u (own_fd): socket %lld still open at DISPOSED", r->serial,
            (long long)r->fd);
  fd_drop(i);
}
