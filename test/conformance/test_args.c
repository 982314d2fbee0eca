/* SPDX-License-Identifier: BSD-2-Clause */
/* The bad-argument sweep (args.h): the harness, the coverage test, and the rows of the
 * errors, loop, event, stdin and mailbox functions. The socket layer's rows are in
 * test_args_sock.c, the net layer's in test_args_net.c.
 */
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h> /* write() to a pipe */
#endif

#include "args.h"

char sw_sentinel_byte;

/* --- registry and coverage --------------------------------------------------------------- */

#define SW_MAX_FNS 256

static const char *swept[SW_MAX_FNS];
static size_t n_swept;

void sw_register(const char *fn) {
  if (n_swept < SW_MAX_FNS) swept[n_swept++] = fn;
}

static bool is_swept(const char *fn) {
  for (size_t i = 0; i < n_swept; i++)
    if (strcmp(swept[i], fn) == 0) return true;
  return false;
}

#define X(name) #name,
static const char *const public_fns[] = {
#include "rasio_api_names.h"
};
#undef X
#define N_PUBLIC (sizeof public_fns / sizeof public_fns[0])

static bool is_public(const char *fn) {
  for (size_t i = 0; i < N_PUBLIC; i++)
    if (strcmp(public_fns[i], fn) == 0) return true;
  return false;
}

/* Every RASIO_API function of rasio.h has a sweep, and every sweep names one. */
TEST(args_cover_every_public_function) {
  CHECK_LT(n_swept, SW_MAX_FNS);
  CHECK_GT(N_PUBLIC, 80); /* the list was read at all */
  unsigned missing = 0;
  for (size_t i = 0; i < N_PUBLIC; i++) {
    if (is_swept(public_fns[i])) continue;
    printf("no bad-argument sweep for %s (add SWEEP(%s) to test/conformance/test_args*.c)\n",
           public_fns[i], public_fns[i]);
    missing++;
  }
  for (size_t i = 0; i < n_swept; i++)
    if (!is_public(swept[i])) {
      printf("sweep of %s, which rasio.h does not declare RASIO_API\n", swept[i]);
      missing++;
    }
  fflush(stdout);
  CHECK_EQ(missing, 0);
}

/* --- rows ------------------------------------------------------------------------------- */

static const char *sw_fn;
static unsigned sw_rows, sw_failed;
static bool sw_trace; /* RASIO_SWEEP_TRACE set: every row is printed as it completes */

void sw_begin(const char *fn) {
  sw_fn = fn;
  sw_rows = sw_failed = 0;
  const char *t = getenv("RASIO_SWEEP_TRACE");
  sw_trace = t != NULL && t[0] != '\0';
}

static void row_done(const char *what) {
  if (!sw_trace) return;
  printf("row %u done: %s\n", sw_rows, what);
  fflush(stdout);
}

void sw_end(void) {
  if (sw_failed != 0) rt_fail(__FILE__, __LINE__, "%s: %u of %u rows failed (listed above)",
                              sw_fn, sw_failed, sw_rows);
  printf("%s: %u rows\n", sw_fn, sw_rows);
}

static void row_failed(const char *file, int line, const char *what, const char *expr,
                       const char *fmt, ...) __attribute__((format(RT_PRINTF_FORMAT, 5, 6)));
static void row_failed(const char *file, int line, const char *what, const char *expr,
                       const char *fmt, ...) {
  const char *base = strrchr(file, '/');
  base = base != NULL ? base + 1 : file;
  char detail[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  printf("ROW FAILED %s [%s:%d] %s\n    %s: %s\n", sw_fn, base, line, what, expr, detail);
  fflush(stdout);
  sw_failed++;
}

void sw_err_at(const char *file, int line, const char *what, const char *expr, int got,
               int want) {
  sw_rows++;
  if (got != want)
    row_failed(file, line, what, expr, "got %d (%s), want %d (%s)", got, rasio_err_name(got),
               want, rasio_err_name(want));
  row_done(what);
}

static const char *io_name(int r) {
  switch (r) {
    case RASIO_IO_OK: return "IO_OK";
    case RASIO_IO_RETRY: return "IO_RETRY";
    case RASIO_IO_ERROR: return "IO_ERROR";
    default: return "not an IO result";
  }
}

void sw_io_at(const char *file, int line, const char *what, const char *expr, int got,
              int want, int want_err) {
  int err = rasio_sock_last_error();
  sw_rows++;
  if (got != want)
    row_failed(file, line, what, expr, "got %s (last error %s), want %s (%s)", io_name(got),
               rasio_err_name(err), io_name(want), rasio_err_name(want_err));
  else if (want == RASIO_IO_ERROR && err != want_err)
    row_failed(file, line, what, expr, "IO_ERROR with last error %d (%s), want %d (%s)", err,
               rasio_err_name(err), want_err, rasio_err_name(want_err));
  row_done(what);
}

void sw_true_at(const char *file, int line, const char *what, const char *expr, bool ok) {
  sw_rows++;
  if (!ok) row_failed(file, line, what, expr, "false");
  row_done(what);
}

/* --- the counting owner and its waits -------------------------------------------------- */

void probe_init(probe_t *p, rasio_fd_t fd, bool rearm) {
  memset(p, 0, sizeof *p);
  p->fd = fd;
  p->rearm = rearm;
  atomic_init(&p->destroy_rc, 1);
}

void probe_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  probe_t *p = ctx;
  (void)arg;
  if (atomic_load(&p->disposed) > 0) {
    atomic_fetch_add(&p->after_disposed, 1); /* ev may be gone: never touch it */
    return;
  }
  if (flags & RASIO_DISPOSED) {
    if (!p->keep) atomic_store(&p->destroy_rc, rasio_event_destroy(ev));
    atomic_fetch_add(&p->disposed, 1);
    return;
  }
  if (flags & RASIO_WRITE) atomic_fetch_add(&p->write, 1);
  if (flags & RASIO_TIMER) atomic_fetch_add(&p->timer, 1);
  if (flags & RASIO_SIGNAL) atomic_fetch_add(&p->signal, 1);
  if (flags & RASIO_USER) atomic_fetch_add(&p->user, 1);
  if (flags & RASIO_ERROR) atomic_fetch_add(&p->error, 1);
  if (flags & RASIO_READ) {
    if (p->fd != RASIO_INVALID_FD) (void)th_drain(p->fd);
    if (p->rearm) {
      rasio_event_set_readable(ev, false);
      (void)rasio_event_resubscribe_read(ev); /* ESTATE once unsubscribed: fine */
    }
    atomic_fetch_add(&p->read, 1);
  }
}

static void drive(rasio_loop_t *loop, rasio_mailbox_t *mb) {
  if (rasio_loop_run(loop, RASIO_RUN_NOWAIT) == RASIO_EBUSY) th_sleep_ms(1); /* runs elsewhere */
  if (mb != NULL) rasio_mailbox_drain(mb, 0);
}

bool sw_wait(rasio_loop_t *loop, rasio_mailbox_t *mb, atomic_uint *v, unsigned want) {
  uint64_t end = th_now_ms() + th_scaled_ms(SW_WAIT_MS);
  for (unsigned spins = 0; atomic_load(v) < want; spins++) {
    if (th_now_ms() > end) return false;
    drive(loop, mb);
    if (spins > 100) th_sleep_ms(1);
  }
  return true;
}

void sw_idle(rasio_loop_t *loop, rasio_mailbox_t *mb, unsigned ms) {
  uint64_t end = th_now_ms() + ms;
  while (th_now_ms() < end) {
    drive(loop, mb);
    th_sleep_ms(1);
  }
}

rasio_event_t *sw_fd_event(rasio_loop_t *loop, probe_t *p, rasio_fd_t fd, rasio_mailbox_t *mb) {
  probe_init(p, fd, true);
  rasio_event_t *ev = NULL;
  rasio_event_opts_t o = {.fd = fd, .flags = RASIO_READ | RASIO_ONESHOT, .notify = probe_notify,
                          .ctx = p, .mailbox = mb};
  CHECK_OK(rasio_event_new(loop, &o, &ev));
  return ev;
}

rasio_event_t *sw_timer_event(rasio_loop_t *loop, probe_t *p, uint64_t nsec,
                              rasio_mailbox_t *mb) {
  probe_init(p, RASIO_INVALID_FD, false);
  rasio_event_t *ev = NULL;
  rasio_event_opts_t o = {.flags = RASIO_TIMER, .nsec = nsec, .notify = probe_notify, .ctx = p,
                          .mailbox = mb};
  CHECK_OK(rasio_event_new(loop, &o, &ev));
  return ev;
}

void sw_fd_works(const char *what, rasio_loop_t *loop, rasio_mailbox_t *mb, probe_t *p,
                 rasio_fd_t peer) {
  unsigned before = atomic_load(&p->read);
  CHECK_EQ(th_send(peer, "x", 1), 1);
  SW_TRUE(what, sw_wait(loop, mb, &p->read, before + 1));
}

void sw_timer_works(const char *what, rasio_loop_t *loop, rasio_mailbox_t *mb, probe_t *p,
                    rasio_event_t *ev) {
  unsigned before = atomic_load(&p->timer);
  CHECK_OK(rasio_event_set_nsec(ev, 0));
  SW_TRUE(what, sw_wait(loop, mb, &p->timer, before + 1));
}

void sw_dispose(rasio_loop_t *loop, rasio_mailbox_t *mb, probe_t *p, rasio_event_t *ev) {
  CHECK_OK(rasio_event_unsubscribe(ev));
  CHECK(sw_wait(loop, mb, &p->disposed, 1));
  CHECK_EQ(atomic_load(&p->disposed), 1);
  CHECK_EQ(atomic_load(&p->after_disposed), 0);
  if (!p->keep) CHECK_OK(atomic_load(&p->destroy_rc));
}

rasio_fd_t sw_fd_above_int(rasio_fd_t low) {
#if INTPTR_MAX > INT_MAX
  return ((rasio_fd_t)1 << 32) + low;
#else
  (void)low;
  return RASIO_INVALID_FD;
#endif
}

/* ======================================================================================== *
 * Errors
 * ======================================================================================== */

static const int unknown_codes[] = {1, 2, 100, -29, -1000, INT_MAX, INT_MIN};
#define N_UNKNOWN (sizeof unknown_codes / sizeof unknown_codes[0])

SWEEP(rasio_strerror) {
  for (size_t i = 0; i < N_UNKNOWN; i++) {
    const char *s = rasio_strerror(unknown_codes[i]);
    SW_TRUE("an unknown code: \"unknown error\"", s != NULL && strcmp(s, "unknown error") == 0);
  }
}

SWEEP(rasio_err_name) {
  for (size_t i = 0; i < N_UNKNOWN; i++) {
    const char *s = rasio_err_name(unknown_codes[i]);
    SW_TRUE("an unknown code: \"UNKNOWN\"", s != NULL && strcmp(s, "UNKNOWN") == 0);
  }
}

/* ======================================================================================== *
 * Loop
 * ======================================================================================== */

/* The backend that is not this platform's: no such backend here. */
static const char *foreign_backend(void) {
#ifdef _WIN32
  return "epoll";
#else
  return "afd";
#endif
}

SWEEP(rasio_loop_new) {
  rasio_loop_t *loop = SW_SENTINEL;
  SW_ERR("NULL out", rasio_loop_new(NULL, NULL), RASIO_EINVAL);
  SW_ERR("unknown backend", rasio_loop_new(&(rasio_loop_opts_t){.backend = "nope"}, &loop),
         RASIO_ENOBACKEND);
  SW_TRUE("unknown backend: *out = NULL", loop == NULL);
  loop = SW_SENTINEL;
  SW_ERR("another platform's backend",
         rasio_loop_new(&(rasio_loop_opts_t){.backend = foreign_backend()}, &loop),
         RASIO_ENOBACKEND);
  SW_TRUE("another platform's backend: *out = NULL", loop == NULL);
  /* Nothing was left behind: a loop still comes out. */
  loop = th_loop();
  th_loop_end(loop);
}

/* A timer notification that tries to run its own loop again. */
static atomic_int nested_run_rc = 1;
static void nested_run_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  rasio_loop_t *loop = ctx;
  if (flags & RASIO_TIMER) atomic_store(&nested_run_rc, rasio_loop_run(loop, RASIO_RUN_ONCE));
  if (flags & RASIO_DISPOSED) CHECK_OK(rasio_event_destroy(ev));
}

SWEEP(rasio_loop_run) {
  rasio_loop_t *loop = th_loop();
  SW_ERR("NULL loop", rasio_loop_run(NULL, RASIO_RUN_NOWAIT), RASIO_EINVAL);
  SW_ERR("mode 99", rasio_loop_run(loop, (rasio_run_mode_t)99), RASIO_EINVAL);
  SW_ERR("mode -1", rasio_loop_run(loop, (rasio_run_mode_t)-1), RASIO_EINVAL);

  /* Inside a notification: the loop is running on this very thread. */
  rasio_event_t *t = NULL;
  rasio_event_opts_t o = {.flags = RASIO_TIMER, .notify = nested_run_notify, .ctx = loop};
  CHECK_OK(rasio_event_new(loop, &o, &t));
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_ONCE));
  SW_ERR("run inside its own notification", atomic_load(&nested_run_rc), RASIO_EBUSY);
  CHECK_OK(rasio_event_unsubscribe(t));
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT)); /* DISPOSED: destroyed */

  /* Running on the loop's own thread. */
  probe_t p;
  rasio_event_t *ev = sw_timer_event(loop, &p, UINT64_MAX, NULL);
  CHECK_OK(rasio_loop_start(loop));
  SW_ERR("run while it runs on its thread", rasio_loop_run(loop, RASIO_RUN_NOWAIT), RASIO_EBUSY);
  sw_timer_works("the running loop still fires timers", loop, NULL, &p, ev);
  sw_dispose(loop, NULL, &p, ev);
  th_loop_end(loop);
}

SWEEP(rasio_loop_start) {
  rasio_loop_t *loop = th_loop();
  SW_ERR("NULL loop", rasio_loop_start(NULL), RASIO_EINVAL);
  CHECK_OK(rasio_loop_start(loop));
  SW_ERR("start twice", rasio_loop_start(loop), RASIO_EBUSY);
  probe_t p;
  rasio_event_t *ev = sw_timer_event(loop, &p, UINT64_MAX, NULL);
  sw_timer_works("the first thread still runs it", loop, NULL, &p, ev);
  sw_dispose(loop, NULL, &p, ev);
  CHECK_OK(rasio_loop_stop(loop));
  /* After a stop it can start again. */
  SW_ERR("start after a stop", rasio_loop_start(loop), RASIO_OK);
  th_loop_end(loop);
}

SWEEP(rasio_loop_stop) {
  SW_ERR("NULL loop", rasio_loop_stop(NULL), RASIO_EINVAL);
  rasio_loop_t *loop = th_loop();
  CHECK_OK(rasio_loop_start(loop));
  probe_t p;
  rasio_event_t *ev = NULL;
  probe_init(&p, RASIO_INVALID_FD, false);
  rasio_event_opts_t o = {.flags = RASIO_TIMER, .nsec = UINT64_MAX, .noisy = true,
                          .notify = probe_notify, .ctx = &p};
  CHECK_OK(rasio_event_new(loop, &o, &ev));
  SW_ERR("a noisy event is alive", rasio_loop_stop(loop), RASIO_EBUSY);
  sw_timer_works("a refused stop leaves the loop running", loop, NULL, &p, ev);
  sw_dispose(loop, NULL, &p, ev);
  SW_ERR("stop once the noisy event is destroyed", rasio_loop_stop(loop), RASIO_OK);
  CHECK_OK(rasio_loop_free(loop));
}

SWEEP(rasio_loop_free) {
  SW_ERR("NULL loop", rasio_loop_free(NULL), RASIO_EINVAL);
  rasio_loop_t *loop = th_loop();
  probe_t p;
  rasio_event_t *ev = sw_timer_event(loop, &p, UINT64_MAX, NULL);
  SW_ERR("a (quiet) event is alive", rasio_loop_free(loop), RASIO_EBUSY);
  sw_timer_works("a refused free leaves the loop working", loop, NULL, &p, ev);
  /* Unsubscribed, its DISPOSED not delivered: the event is still alive. */
  p.keep = true;
  CHECK_OK(rasio_event_unsubscribe(ev));
  SW_ERR("an unsubscribed event is not destroyed", rasio_loop_free(loop), RASIO_EBUSY);
  CHECK(sw_wait(loop, NULL, &p.disposed, 1));
  SW_ERR("DISPOSED delivered, not destroyed", rasio_loop_free(loop), RASIO_EBUSY);
  CHECK_OK(rasio_event_destroy(ev));
  /* Running. */
  CHECK_OK(rasio_loop_start(loop));
  SW_ERR("the loop runs", rasio_loop_free(loop), RASIO_EBUSY);
  probe_t q;
  rasio_event_t *ev2 = sw_timer_event(loop, &q, UINT64_MAX, NULL);
  sw_timer_works("a refused free leaves the running loop working", loop, NULL, &q, ev2);
  sw_dispose(loop, NULL, &q, ev2);
  th_loop_end(loop);
}

SWEEP(rasio_loop_backend) {
  SW_TRUE("NULL loop: NULL", rasio_loop_backend(NULL) == NULL);
}

SWEEP(rasio_loop_noisy) {
  SW_TRUE("NULL loop: 0", rasio_loop_noisy(NULL) == 0);
}

/* No argument to get wrong: it is monotonic. */
SWEEP(rasio_now_ns) {
  uint64_t a = rasio_now_ns(), b = rasio_now_ns();
  SW_TRUE("monotonic", b >= a && a > 0);
}

/* ======================================================================================== *
 * Events
 * ======================================================================================== */

#define DIRS (RASIO_READ | RASIO_WRITE)
#define MODES (RASIO_ONESHOT | RASIO_LEVEL)

static void describe_bit(char *buf, size_t cap, const char *kind, unsigned bit) {
  snprintf(buf, cap, "%s with unknown flag bit 1u << %u", kind, bit);
}

/* An event that a failing row made after all: taken down again (its DISPOSED reaped by
 * sw_idle, not destroyed: the row already failed) so the rest of the sweep can run. */
static void sw_undo(rasio_loop_t *loop, rasio_event_t *ev) {
  if (ev == NULL || ev == SW_SENTINEL) return;
  (void)rasio_event_unsubscribe(ev);
  sw_idle(loop, NULL, 10);
}

/* Every bit outside `allowed`, one at a time, added to base, must be EINVAL. */
static void sweep_flag_bits(rasio_loop_t *loop, rasio_event_opts_t o, const char *kind,
                            uint32_t base, uint32_t allowed) {
  for (unsigned bit = 0; bit < 32; bit++) {
    uint32_t b = 1u << bit;
    if (allowed & b) continue;
    char what[96];
    describe_bit(what, sizeof what, kind, bit);
    o.flags = base | b;
    o.own_fd = false; /* a bit taken by mistake must not cost the fd */
    rasio_event_t *ev = SW_SENTINEL;
    SW_ERR(what, rasio_event_new(loop, &o, &ev), RASIO_EINVAL);
    sw_undo(loop, ev);
  }
}

/* Regular file and pipe: what rasio_event_new gives for descriptors that are not sockets. */
static void event_new_not_sockets(rasio_loop_t *loop, rasio_event_opts_t o) {
  rasio_event_t *ev = SW_SENTINEL;
  rasio_fd_t file = th_file_fd();
  o.fd = file;
  o.own_fd = false; /* a file taken by mistake is closed here, not by rasio */
  /* POSIX: a descriptor, but one the kernel cannot watch (epoll refuses it with EPERM):
   * ENOTSUP, which rasio.h does not list for rasio_event_new yet (a header change to
   * make). Windows: not a socket, EBADF, as everywhere in rasio. */
#ifdef _WIN32
  SW_ERR("a regular file (Windows: not a socket)", rasio_event_new(loop, &o, &ev), RASIO_EBADF);
#else
  SW_ERR("a regular file", rasio_event_new(loop, &o, &ev), RASIO_ENOTSUP);
#endif
  SW_TRUE("a regular file: *out = NULL", ev == NULL);
  sw_undo(loop, ev);
  th_close_other(file);

  rasio_fd_t rd, wr;
  th_pipe(&rd, &wr);
  o.fd = rd;
  o.own_fd = false;
  ev = SW_SENTINEL;
#ifdef _WIN32
  SW_ERR("a pipe (Windows: not a socket)", rasio_event_new(loop, &o, &ev), RASIO_EBADF);
  sw_undo(loop, ev);
#else
  /* POSIX kernels watch pipes like sockets: not an error, and it delivers. */
  probe_t p;
  probe_init(&p, rd, true);
  o.ctx = &p;
  o.notify = probe_notify;
  SW_ERR("a pipe (POSIX: watched like a socket)", rasio_event_new(loop, &o, &ev), RASIO_OK);
  if (ev != NULL && ev != SW_SENTINEL) {
    char c = 'p';
    CHECK_EQ(write((int)wr, &c, 1), 1);
    SW_TRUE("a pipe delivers READ", sw_wait(loop, NULL, &p.read, 1));
    sw_dispose(loop, NULL, &p, ev);
  }
#endif
  th_close_other(rd);
  th_close_other(wr);
}

SWEEP(rasio_event_new) {
  rasio_loop_t *loop = th_loop();
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  probe_t p, junk;
  probe_init(&p, a, true);
  probe_init(&junk, RASIO_INVALID_FD, false); /* owns whatever a failing row made */
  /* own_fd: every refusal must leave the fd open (rasio.h: "the fd is untouched"). */
  const rasio_event_opts_t good = {.fd = a, .flags = RASIO_READ | RASIO_ONESHOT, .own_fd = true,
                                   .notify = probe_notify, .ctx = &junk};
  rasio_event_opts_t o = good;
  rasio_event_t *ev = SW_SENTINEL;

  SW_ERR("NULL loop", rasio_event_new(NULL, &o, &ev), RASIO_EINVAL);
  SW_TRUE("NULL loop: *out = NULL", ev == NULL);
  SW_ERR("NULL opts", rasio_event_new(loop, NULL, &ev), RASIO_EINVAL);
  SW_ERR("NULL out", rasio_event_new(loop, &o, NULL), RASIO_EINVAL);
  o.notify = NULL;
  SW_ERR("NULL notify", rasio_event_new(loop, &o, &ev), RASIO_EINVAL);
  o = good;
  o.flags = 0;
  SW_ERR("flags 0", rasio_event_new(loop, &o, &ev), RASIO_EINVAL);
  o.flags = RASIO_READ | RASIO_ONESHOT | RASIO_LEVEL;
  SW_ERR("ONESHOT and LEVEL", rasio_event_new(loop, &o, &ev), RASIO_EINVAL);
  o.flags = RASIO_ONESHOT;
  SW_ERR("a mode without a direction", rasio_event_new(loop, &o, &ev), RASIO_EINVAL);

  /* Unknown flag bits, one at a time, per kind of event. */
  o = good;
  sweep_flag_bits(loop, o, "socket READ|WRITE", DIRS, DIRS | MODES);
  o.nsec = 1000000000u;
  sweep_flag_bits(loop, o, "TIMER", RASIO_TIMER, RASIO_TIMER);
  o.nsec = SIGINT;
  sweep_flag_bits(loop, o, "SIGNAL", RASIO_SIGNAL, RASIO_SIGNAL);
  o.nsec = 0;
  sweep_flag_bits(loop, o, "STDIN|READ", RASIO_STDIN | RASIO_READ,
                  RASIO_STDIN | RASIO_READ | MODES);
  for (unsigned bit = 0; bit < 32; bit++) {
    if ((1u << bit) & DIRS) continue;
    char what[96];
    snprintf(what, sizeof what, "ready with unknown bit 1u << %u", bit);
    o = good;
    o.ready = 1u << bit;
    SW_ERR(what, rasio_event_new(loop, &o, &ev), RASIO_EINVAL);
  }

  /* Signal numbers out of range. */
  const uint64_t bad_signals[] = {0, 128, 1000, (uint64_t)INT32_MAX + 1, UINT64_MAX};
  for (size_t i = 0; i < sizeof bad_signals / sizeof bad_signals[0]; i++) {
    o = good;
    o.flags = RASIO_SIGNAL;
    o.nsec = bad_signals[i];
    SW_ERR("signal number out of range", rasio_event_new(loop, &o, &ev), RASIO_EINVAL);
  }

  /* Bad descriptors. */
  o = good;
  o.fd = RASIO_INVALID_FD;
  SW_ERR("fd -1", rasio_event_new(loop, &o, &ev), RASIO_EBADF);
  o.fd = -5;
  SW_ERR("fd -5", rasio_event_new(loop, &o, &ev), RASIO_EBADF);
  o.fd = th_closed_fd();
  SW_ERR("a closed fd", rasio_event_new(loop, &o, &ev), RASIO_EBADF);
  SW_TRUE("every refusal left the owned fd open", th_fd_open(a));
  if (sw_fd_above_int(0) != RASIO_INVALID_FD) {
    o.own_fd = false; /* if it is taken for `a`, unsubscribing must not close `a` */
    o.fd = (rasio_fd_t)INT_MAX + 5;
    ev = SW_SENTINEL;
    SW_ERR("fd INT_MAX + 5", rasio_event_new(loop, &o, &ev), RASIO_EBADF);
    sw_undo(loop, ev);
    o.fd = sw_fd_above_int(a); /* truncated to int, it would be a */
    ev = SW_SENTINEL;
    SW_ERR("fd (1 << 32) + a live fd", rasio_event_new(loop, &o, &ev), RASIO_EBADF);
    sw_undo(loop, ev);
  }
  /* Every direction ready at creation: nothing is armed yet, the fd is still checked. */
  o.fd = th_closed_fd();
  o.flags = RASIO_READ | RASIO_WRITE | RASIO_ONESHOT;
  o.ready = RASIO_READ | RASIO_WRITE;
  ev = SW_SENTINEL;
  SW_ERR("a closed fd, every direction ready", rasio_event_new(loop, &o, &ev), RASIO_EBADF);
  sw_undo(loop, ev);
  o = good;
  event_new_not_sockets(loop, o);

  /* The real subscription works after all that, and a second one of the fd is refused. */
  o = good;
  o.ctx = &p;
  ev = NULL;
  CHECK_OK(rasio_event_new(loop, &o, &ev));
  rasio_event_t *twin = SW_SENTINEL;
  o.own_fd = false;
  SW_ERR("the fd is already subscribed", rasio_event_new(loop, &o, &twin), RASIO_EEXIST);
  SW_TRUE("EEXIST: *out = NULL", twin == NULL);
  sw_fd_works("the first subscription still delivers", loop, NULL, &p, b);

  /* stdin twice (the runner's stdin is the null device: always readable). */
  probe_t in1, in2;
  probe_init(&in1, RASIO_INVALID_FD, false);
  probe_init(&in2, RASIO_INVALID_FD, false);
  rasio_event_t *s1 = NULL, *s2 = SW_SENTINEL;
  rasio_event_opts_t so = {.flags = RASIO_STDIN | RASIO_READ, .notify = probe_notify, .ctx = &in1};
  CHECK_OK(rasio_event_new(loop, &so, &s1));
  so.ctx = &in2;
  SW_ERR("stdin is already subscribed", rasio_event_new(loop, &so, &s2), RASIO_EEXIST);
  SW_TRUE("the first stdin subscription delivers", sw_wait(loop, NULL, &in1.read, 1));
  sw_dispose(loop, NULL, &in1, s1);

  /* A timer ignores fd (rasio.h): -1 is no error there. */
  probe_t tp;
  probe_init(&tp, RASIO_INVALID_FD, false);
  rasio_event_t *t = NULL;
  rasio_event_opts_t to = {.fd = RASIO_INVALID_FD, .flags = RASIO_TIMER, .own_fd = true,
                           .notify = probe_notify, .ctx = &tp};
  SW_ERR("a timer ignores fd -1 and own_fd", rasio_event_new(loop, &to, &t), RASIO_OK);
  if (t != NULL) {
    SW_TRUE("that timer fires", sw_wait(loop, NULL, &tp.timer, 1));
    sw_dispose(loop, NULL, &tp, t);
  }

  sw_dispose(loop, NULL, &p, ev); /* own_fd: closes a */
  th_close(b);
  th_loop_end(loop);
}

/* The rows every resubscribe variant shares. */
static void sweep_resubscribe(int (*resub)(rasio_event_t *)) {
  rasio_loop_t *loop = th_loop();
  SW_ERR("NULL event", resub(NULL), RASIO_EINVAL);
  probe_t tp, sp, p;
  rasio_event_t *t = sw_timer_event(loop, &tp, UINT64_MAX, NULL);
  SW_ERR("a timer", resub(t), RASIO_EINVAL);
  probe_init(&sp, RASIO_INVALID_FD, false);
  rasio_event_t *s = NULL;
  rasio_event_opts_t so = {.flags = RASIO_SIGNAL, .nsec = SIGINT, .notify = probe_notify,
                           .ctx = &sp};
  CHECK_OK(rasio_event_new(loop, &so, &s));
  SW_ERR("a signal", resub(s), RASIO_EINVAL);
  sw_timer_works("the timer still works", loop, NULL, &tp, t);
  sw_dispose(loop, NULL, &tp, t);
  sw_dispose(loop, NULL, &sp, s);

  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  rasio_event_t *ev = sw_fd_event(loop, &p, a, NULL);
  /* A READ-only oneshot: re-arming nothing is a no-op, not an error. */
  SW_ERR("nothing to re-arm", resub(ev), RASIO_OK);
  sw_fd_works("still delivers after a no-op re-arm", loop, NULL, &p, b);
  p.keep = true;
  p.rearm = false;
  CHECK_OK(rasio_event_unsubscribe(ev));
  rasio_event_set_readable(ev, false);
  SW_ERR("after unsubscribe", resub(ev), RASIO_ESTATE);
  CHECK(sw_wait(loop, NULL, &p.disposed, 1));
  SW_ERR("after DISPOSED", resub(ev), RASIO_ESTATE);
  CHECK_OK(rasio_event_destroy(ev));
  th_close(a);
  th_close(b);
  th_loop_end(loop);
}

SWEEP(rasio_event_resubscribe_read) { sweep_resubscribe(rasio_event_resubscribe_read); }
SWEEP(rasio_event_resubscribe_write) { sweep_resubscribe(rasio_event_resubscribe_write); }
SWEEP(rasio_event_resubscribe) { sweep_resubscribe(rasio_event_resubscribe); }

SWEEP(rasio_event_unsubscribe) {
  SW_ERR("NULL event", rasio_event_unsubscribe(NULL), RASIO_EINVAL);
  rasio_loop_t *loop = th_loop();
  probe_t p;
  rasio_event_t *ev = sw_timer_event(loop, &p, UINT64_MAX, NULL);
  p.keep = true;
  CHECK_OK(rasio_event_unsubscribe(ev));
  SW_ERR("twice", rasio_event_unsubscribe(ev), RASIO_OK);
  CHECK(sw_wait(loop, NULL, &p.disposed, 1));
  SW_ERR("after DISPOSED", rasio_event_unsubscribe(ev), RASIO_OK);
  sw_idle(loop, NULL, 20);
  SW_TRUE("exactly one DISPOSED", atomic_load(&p.disposed) == 1 &&
                                      atomic_load(&p.after_disposed) == 0);
  CHECK_OK(rasio_event_destroy(ev));
  th_loop_end(loop);
}

SWEEP(rasio_event_destroy) {
  SW_ERR("NULL event", rasio_event_destroy(NULL), RASIO_EINVAL);
  rasio_loop_t *loop = th_loop();
  probe_t p;
  rasio_event_t *ev = sw_timer_event(loop, &p, UINT64_MAX, NULL);
  SW_ERR("an active event", rasio_event_destroy(ev), RASIO_ESTATE);
  sw_timer_works("still fires after a refused destroy", loop, NULL, &p, ev);
  p.keep = true;
  CHECK_OK(rasio_event_unsubscribe(ev));
  SW_ERR("unsubscribed, DISPOSED not delivered", rasio_event_destroy(ev), RASIO_ESTATE);
  CHECK(sw_wait(loop, NULL, &p.disposed, 1));
  SW_ERR("after DISPOSED", rasio_event_destroy(ev), RASIO_OK);

  /* Mailbox executor: DISPOSED produced and queued, not yet run by the owner. */
  rasio_mailbox_t *mb = NULL;
  CHECK_OK(rasio_mailbox_new(&mb));
  probe_t q;
  rasio_event_t *mev = sw_timer_event(loop, &q, UINT64_MAX, mb);
  CHECK_OK(rasio_event_unsubscribe(mev));
  uint64_t end = th_now_ms() + th_scaled_ms(SW_WAIT_MS);
  while (rasio_mailbox_wait(mb, 0) != 0 && th_now_ms() < end)
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  SW_ERR("DISPOSED queued in the mailbox, not delivered", rasio_event_destroy(mev),
         RASIO_ESTATE);
  CHECK(sw_wait(loop, mb, &q.disposed, 1));
  CHECK_OK(atomic_load(&q.destroy_rc));
  CHECK_OK(rasio_mailbox_free(mb));
  th_loop_end(loop);
}

SWEEP(rasio_event_post) {
  SW_ERR("NULL event", rasio_event_post(NULL), RASIO_EINVAL);
  rasio_loop_t *loop = th_loop();
  probe_t p;
  rasio_event_t *ev = sw_timer_event(loop, &p, UINT64_MAX, NULL);
  CHECK_OK(rasio_event_unsubscribe(ev));
  SW_ERR("after unsubscribe", rasio_event_post(ev), RASIO_ESTATE);
  CHECK(sw_wait(loop, NULL, &p.disposed, 1));
  SW_TRUE("nothing after it", atomic_load(&p.user) == 0 && atomic_load(&p.after_disposed) == 0);
  th_loop_end(loop);
}

SWEEP(rasio_event_set_nsec) {
  SW_ERR("NULL event", rasio_event_set_nsec(NULL, 0), RASIO_EINVAL);
  rasio_loop_t *loop = th_loop();
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  probe_t fp, sp, p;
  rasio_event_t *fev = sw_fd_event(loop, &fp, a, NULL);
  SW_ERR("a socket event", rasio_event_set_nsec(fev, 0), RASIO_EINVAL);
  sw_fd_works("the socket event still delivers", loop, NULL, &fp, b);
  probe_init(&sp, RASIO_INVALID_FD, false);
  rasio_event_t *s = NULL;
  rasio_event_opts_t so = {.flags = RASIO_SIGNAL, .nsec = SIGINT, .notify = probe_notify,
                           .ctx = &sp};
  CHECK_OK(rasio_event_new(loop, &so, &s));
  SW_ERR("a signal event", rasio_event_set_nsec(s, 0), RASIO_EINVAL);
  sw_dispose(loop, NULL, &sp, s);
  sw_dispose(loop, NULL, &fp, fev);

  rasio_event_t *ev = sw_timer_event(loop, &p, UINT64_MAX, NULL);
  SW_ERR("UINT64_MAX (never, in effect)", rasio_event_set_nsec(ev, UINT64_MAX), RASIO_OK);
  sw_idle(loop, NULL, 20);
  SW_TRUE("UINT64_MAX does not fire (no wrap-around)", atomic_load(&p.timer) == 0);
  sw_timer_works("a huge expiry replaced by 0 fires", loop, NULL, &p, ev);
  p.keep = true;
  CHECK_OK(rasio_event_unsubscribe(ev));
  SW_ERR("after unsubscribe", rasio_event_set_nsec(ev, 0), RASIO_ESTATE);
  CHECK(sw_wait(loop, NULL, &p.disposed, 1));
  SW_ERR("after DISPOSED", rasio_event_set_nsec(ev, 0), RASIO_ESTATE);
  sw_idle(loop, NULL, 20);
  SW_TRUE("no TIMER after unsubscribe", atomic_load(&p.timer) == 1 &&
                                            atomic_load(&p.after_disposed) == 0);
  CHECK_OK(rasio_event_destroy(ev));
  th_close(a);
  th_close(b);
  th_loop_end(loop);
}

SWEEP(rasio_event_readable) { SW_TRUE("NULL: false", !rasio_event_readable(NULL)); }
SWEEP(rasio_event_writeable) { SW_TRUE("NULL: false", !rasio_event_writeable(NULL)); }

SWEEP(rasio_event_set_readable) {
  rasio_event_set_readable(NULL, true);
  SW_TRUE("NULL: no crash, nothing set", !rasio_event_readable(NULL));
}

SWEEP(rasio_event_set_writeable) {
  rasio_event_set_writeable(NULL, true);
  SW_TRUE("NULL: no crash, nothing set", !rasio_event_writeable(NULL));
}

SWEEP(rasio_event_fd) {
  SW_TRUE("NULL: RASIO_INVALID_FD", rasio_event_fd(NULL) == RASIO_INVALID_FD);
  rasio_loop_t *loop = th_loop();
  probe_t p;
  rasio_event_t *ev = sw_timer_event(loop, &p, UINT64_MAX, NULL);
  SW_TRUE("a timer: RASIO_INVALID_FD", rasio_event_fd(ev) == RASIO_INVALID_FD);
  sw_dispose(loop, NULL, &p, ev);
  th_loop_end(loop);
}

SWEEP(rasio_event_flags) { SW_TRUE("NULL: 0", rasio_event_flags(NULL) == 0); }
SWEEP(rasio_event_ctx) { SW_TRUE("NULL: NULL", rasio_event_ctx(NULL) == NULL); }
SWEEP(rasio_event_loop) { SW_TRUE("NULL: NULL", rasio_event_loop(NULL) == NULL); }

/* ======================================================================================== *
 * stdin (the runner gives every test the null device as stdin)
 * ======================================================================================== */

SWEEP(rasio_stdin_read) {
  char buf[16];
  size_t n = 77;
  SW_ERR("NULL event", rasio_stdin_read(NULL, buf, sizeof buf, &n), RASIO_EINVAL);
  SW_TRUE("NULL event: *count = 0", n == 0);
  rasio_loop_t *loop = th_loop();
  probe_t tp, p;
  rasio_event_t *t = sw_timer_event(loop, &tp, UINT64_MAX, NULL);
  n = 77;
  SW_ERR("a timer event", rasio_stdin_read(t, buf, sizeof buf, &n), RASIO_EINVAL);
  SW_TRUE("a timer event: *count = 0", n == 0);
  sw_dispose(loop, NULL, &tp, t);

  probe_init(&p, RASIO_INVALID_FD, false);
  rasio_event_t *ev = NULL;
  rasio_event_opts_t so = {.flags = RASIO_STDIN | RASIO_READ, .notify = probe_notify, .ctx = &p};
  CHECK_OK(rasio_event_new(loop, &so, &ev));
  SW_ERR("NULL count", rasio_stdin_read(ev, buf, sizeof buf, NULL), RASIO_EINVAL);
  n = 77;
  SW_ERR("NULL buf, len 5", rasio_stdin_read(ev, NULL, 5, &n), RASIO_EINVAL);
  SW_TRUE("NULL buf: *count = 0", n == 0);
  /* len 0 cannot tell data from end of input (0 with *count 0 is the end): EINVAL on every
   * platform (issue 9, defect 8). */
  n = 77;
  SW_ERR("len 0", rasio_stdin_read(ev, buf, 0, &n), RASIO_EINVAL);
  SW_TRUE("len 0: *count = 0", n == 0);
  /* No object is larger than PTRDIFF_MAX: a length beyond it is a bug of the caller that the
   * kernel must not see (it would write past buf if that much were pending). */
  n = 77;
  SW_ERR("len SIZE_MAX", rasio_stdin_read(ev, buf, SIZE_MAX, &n), RASIO_EINVAL);
  /* Still readable: the null device reads as the end of input. */
  n = 77;
  SW_ERR("a good read after the bad ones", rasio_stdin_read(ev, buf, sizeof buf, &n), RASIO_OK);
  SW_TRUE("... is the end of input", n == 0);
  SW_TRUE("the event still delivers READ", sw_wait(loop, NULL, &p.read, 1));
  sw_dispose(loop, NULL, &p, ev);
  th_loop_end(loop);
}

/* ======================================================================================== *
 * Mailbox
 * ======================================================================================== */

static atomic_int msg_runs;
static void count_msg(void *arg) {
  (void)arg;
  atomic_fetch_add(&msg_runs, 1);
}

SWEEP(rasio_mailbox_new) { SW_ERR("NULL out", rasio_mailbox_new(NULL), RASIO_EINVAL); }

SWEEP(rasio_mailbox_post) {
  SW_ERR("NULL mailbox", rasio_mailbox_post(NULL, count_msg, NULL), RASIO_EINVAL);
  rasio_mailbox_t *mb = NULL;
  CHECK_OK(rasio_mailbox_new(&mb));
  SW_ERR("NULL fn", rasio_mailbox_post(mb, NULL, NULL), RASIO_EINVAL);
  SW_TRUE("nothing was queued", rasio_mailbox_drain(mb, 0) == 0);
  CHECK_OK(rasio_mailbox_post(mb, count_msg, NULL));
  SW_TRUE("a good post still runs", rasio_mailbox_drain(mb, 0) == 1 && atomic_load(&msg_runs) == 1);
  CHECK_OK(rasio_mailbox_free(mb));
}

SWEEP(rasio_mailbox_wait) {
  SW_ERR("NULL mailbox", rasio_mailbox_wait(NULL, 0), RASIO_EINVAL);
  rasio_mailbox_t *mb = NULL;
  CHECK_OK(rasio_mailbox_new(&mb));
  SW_ERR("empty, timeout 0", rasio_mailbox_wait(mb, 0), RASIO_ETIMEDOUT);
  CHECK_OK(rasio_mailbox_post(mb, count_msg, NULL));
  SW_ERR("non-empty, timeout UINT64_MAX", rasio_mailbox_wait(mb, UINT64_MAX), RASIO_OK);
  CHECK_EQ(rasio_mailbox_drain(mb, 0), 1);
  CHECK_OK(rasio_mailbox_free(mb));
}

SWEEP(rasio_mailbox_drain) {
  SW_TRUE("NULL mailbox: 0", rasio_mailbox_drain(NULL, 0) == 0);
  rasio_mailbox_t *mb = NULL;
  CHECK_OK(rasio_mailbox_new(&mb));
  for (int i = 0; i < 3; i++) CHECK_OK(rasio_mailbox_post(mb, count_msg, NULL));
  SW_TRUE("max 1 runs one", rasio_mailbox_drain(mb, 1) == 1);
  SW_TRUE("max SIZE_MAX runs the rest", rasio_mailbox_drain(mb, SIZE_MAX) == 2);
  CHECK_OK(rasio_mailbox_free(mb));
}

SWEEP(rasio_mailbox_free) {
  SW_ERR("NULL mailbox", rasio_mailbox_free(NULL), RASIO_EINVAL);
  rasio_mailbox_t *mb = NULL;
  CHECK_OK(rasio_mailbox_new(&mb));
  atomic_store(&msg_runs, 0);
  CHECK_OK(rasio_mailbox_post(mb, count_msg, NULL));
  SW_ERR("a message is queued", rasio_mailbox_free(mb), RASIO_EBUSY);
  SW_TRUE("the message still runs", rasio_mailbox_drain(mb, 0) == 1 && atomic_load(&msg_runs) == 1);
  /* A queued notification. */
  rasio_loop_t *loop = th_loop();
  probe_t p;
  rasio_event_t *ev = sw_timer_event(loop, &p, 0, mb);
  uint64_t end = th_now_ms() + th_scaled_ms(SW_WAIT_MS);
  while (rasio_mailbox_wait(mb, 0) != 0 && th_now_ms() < end)
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  SW_ERR("a notification is queued", rasio_mailbox_free(mb), RASIO_EBUSY);
  SW_TRUE("the notification still runs", sw_wait(loop, mb, &p.timer, 1));
  sw_dispose(loop, mb, &p, ev);
  SW_ERR("empty", rasio_mailbox_free(mb), RASIO_OK);
  th_loop_end(loop);
}
