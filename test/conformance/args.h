/* SPDX-License-Identifier: BSD-2-Clause */
/* The bad-argument sweep (test_args*.c): every public function of rasio.h, called with
 * bad arguments (NULL pointers, invalid handles, objects in the wrong state, bad
 * descriptors, unknown flag bits, zero and huge sizes, out-of-range enums), must return
 * the documented error and change nothing: after the bad call, the object it named still
 * works.
 *
 * One test per public function, "args_<name>", registered with SWEEP(name). Its rows are
 * soft checks: a row that fails is reported and the rest still run, so one run lists every
 * failing row of the function; the test fails at its end if any did. A crash ends the
 * function's rows there (the rows reported so far are in its output). The coverage test
 * (args_cover_every_public_function) compares the functions swept with the RASIO_API
 * declarations of rasio.h, read by the build (CMakeLists.txt), so a new public function
 * fails the suite until it has a sweep.
 *
 * Rows run on an inline loop driven by the test thread unless they say otherwise; waits
 * are bounded (SW_WAIT_MS) and only decide how long a broken build takes to fail.
 */
#ifndef RASIO_TEST_ARGS_H
#define RASIO_TEST_ARGS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "check.h"
#include "helpers.h"
#include "rasio.h"

#define SW_WAIT_MS 5000u
#define SW_TIMEOUT_S 30

/* Registration: called by SWEEP's constructor. */
void sw_register(const char *fn);
void sw_begin(const char *fn);
void sw_end(void);

/* SWEEP(rasio_x) { rows }: the sweep of rasio_x. Taking rasio_x's address makes a sweep of
 * a name that is not a public function a compile error. */
#define SWEEP(fn)                                                                           \
  static void sweep_##fn(void);                                                             \
  static void sweep_test_##fn(void) {                                                       \
    sw_begin(#fn);                                                                          \
    (void)&fn;                                                                              \
    sweep_##fn();                                                                           \
    sw_end();                                                                               \
  }                                                                                         \
  __attribute__((constructor)) static void sweep_reg_##fn(void) {                          \
    sw_register(#fn);                                                                       \
    rt_register("args_" #fn, __FILE__, sweep_test_##fn, SW_TIMEOUT_S);                      \
  }                                                                                         \
  static void sweep_##fn(void)

/* --- rows (soft checks) ------------------------------------------------------------------- */

void sw_err_at(const char *file, int line, const char *what, const char *expr, int got,
               int want);
void sw_io_at(const char *file, int line, const char *what, const char *expr, int got,
              int want, int want_err);
void sw_true_at(const char *file, int line, const char *what, const char *expr, bool ok);

/* expr returns the rasio code want. */
#define SW_ERR(what, expr, want) sw_err_at(__FILE__, __LINE__, (what), #expr, (expr), (want))
/* An I/O call returns want (RASIO_IO_*); for RASIO_IO_ERROR, rasio_sock_last_error() is
 * want_err. */
#define SW_IO(what, expr, want, want_err)                                                   \
  sw_io_at(__FILE__, __LINE__, (what), #expr, (expr), (want), (want_err))
#define SW_TRUE(what, cond) sw_true_at(__FILE__, __LINE__, (what), #cond, (cond))

/* A pointer that is not NULL and names nothing, to see that a failing constructor
 * overwrites *out. Never dereferenced. */
extern char sw_sentinel_byte;
#define SW_SENTINEL ((void *)&sw_sentinel_byte)

/* --- an owner that counts -------------------------------------------------------------- */

typedef struct probe {
  rasio_fd_t fd; /* drained on READ (RASIO_INVALID_FD: nothing to drain) */
  bool rearm;    /* oneshot: clear readable and re-arm READ after draining */
  bool keep;     /* DISPOSED does not destroy the event (the row does) */
  atomic_uint read, write, timer, signal, user, error, disposed, after_disposed;
  atomic_int destroy_rc;
} probe_t;

void probe_init(probe_t *p, rasio_fd_t fd, bool rearm);
void probe_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx);

/* Drives loop (RUN_NOWAIT when it is not running elsewhere) and drains mb (may be NULL)
 * until *v >= want; false after SW_WAIT_MS. */
bool sw_wait(rasio_loop_t *loop, rasio_mailbox_t *mb, atomic_uint *v, unsigned want);
/* Drives loop and mb for ms, for "nothing more happens" checks. */
void sw_idle(rasio_loop_t *loop, rasio_mailbox_t *mb, unsigned ms);

/* A oneshot READ event on fd (drained and re-armed by its probe), not owning fd. */
rasio_event_t *sw_fd_event(rasio_loop_t *loop, probe_t *p, rasio_fd_t fd, rasio_mailbox_t *mb);
/* A timer event that first fires after nsec. */
rasio_event_t *sw_timer_event(rasio_loop_t *loop, probe_t *p, uint64_t nsec, rasio_mailbox_t *mb);
/* The row that shows an fd event still delivers: one byte from peer makes one more READ. */
void sw_fd_works(const char *what, rasio_loop_t *loop, rasio_mailbox_t *mb, probe_t *p,
                 rasio_fd_t peer);
/* The row that shows a timer still fires: set to 0, one more TIMER. */
void sw_timer_works(const char *what, rasio_loop_t *loop, rasio_mailbox_t *mb, probe_t *p,
                    rasio_event_t *ev);
/* Unsubscribes ev and waits for its one DISPOSED (the probe destroys it unless keep). */
void sw_dispose(rasio_loop_t *loop, rasio_mailbox_t *mb, probe_t *p, rasio_event_t *ev);

/* An fd above INT_MAX, where rasio_fd_t is wider than int: (fd_t)1 << 32 plus low, which a
 * truncation to int turns into low. RASIO_INVALID_FD where there is no such fd. */
rasio_fd_t sw_fd_above_int(rasio_fd_t low);

#endif
