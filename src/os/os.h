/* SPDX-License-Identifier: BSD-2-Clause */
/* The OS shim: threads, locks, the monotonic clock, descriptors, signal dispositions and
 * standard input. Only src/os/ and src/backend/ spell raw OS calls; everything else in
 * rasio goes through these functions. One implementation file per OS family
 * (posix.c, win.c), chosen by the build.
 */
#ifndef RASIO_OS_H
#define RASIO_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rasio.h"

/* Lock and thread types must be complete here because they are embedded in rasio's
 * structs; this is the one place where the platforms differ in a type. */
#ifdef _WIN32
typedef struct { void *opaque; } rasio__mutex_t; /* SRWLOCK */
typedef struct { void *opaque; } rasio__cond_t;  /* CONDITION_VARIABLE */
typedef void *rasio__thread_t;                   /* HANDLE */
#define RASIO__MUTEX_INIT {0}
#else
#include <pthread.h>
typedef pthread_mutex_t rasio__mutex_t;
typedef pthread_cond_t rasio__cond_t;
typedef pthread_t rasio__thread_t;
#define RASIO__MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
#endif

void rasio__mutex_init(rasio__mutex_t *m);
void rasio__mutex_destroy(rasio__mutex_t *m);
void rasio__mutex_lock(rasio__mutex_t *m);
void rasio__mutex_unlock(rasio__mutex_t *m);

void rasio__cond_init(rasio__cond_t *c);
void rasio__cond_destroy(rasio__cond_t *c);
void rasio__cond_signal(rasio__cond_t *c);
/* Waits with m held, at most until the monotonic time deadline_ns (UINT64_MAX: forever).
 * May return early (spuriously); callers re-check their predicate and the clock. */
void rasio__cond_wait_until(rasio__cond_t *c, rasio__mutex_t *m, uint64_t deadline_ns);

int rasio__thread_create(rasio__thread_t *t, void (*fn)(void *), void *arg);
void rasio__thread_join(rasio__thread_t t);
/* A non-zero identifier of the calling thread, comparable across threads. */
uintptr_t rasio__thread_id(void);
void rasio__thread_yield(void);

/* Monotonic nanoseconds; never goes backwards. */
uint64_t rasio__now_ns(void);

/* The OS's last error (errno / WSAGetLastError) mapped to a RASIO_E* code. */
int rasio__os_error(void);
/* An OS error code mapped to a RASIO_E* code (one table per OS). */
int rasio__os_error_map(int oserr);
/* Remembers an OS code that mapped to RASIO_EOS, for rasio_os_error (error.c). */
void rasio__os_error_note(int oserr);

/* Whether fd is in the range of this OS's descriptors (POSIX: 0..INT_MAX; Windows:
 * non-negative), so that no call ever acts on a truncated number. No system
 * call. */
bool rasio__fd_in_range(rasio_fd_t fd);
/* Whether fd names an open descriptor (POSIX) or socket (Windows) right now. */
bool rasio__fd_is_open(rasio_fd_t fd);
/* Closes a descriptor/socket that rasio owns. */
void rasio__fd_close(rasio_fd_t fd);

/* Signals. The handler given to install runs in signal context: it may only use
 * lock-free atomics and rasio__loop_wake_async. install saves the previous disposition,
 * restore puts it back. Both are called under the signal registry's lock. */
bool rasio__sig_valid(int signo);
int rasio__sig_max(void);
int rasio__sig_install(int signo, void (*handler)(int));
void rasio__sig_restore(int signo);

/* Standard input. POSIX watches fd 0 through the backend. Where no backend can watch it
 * (Windows consoles and pipes have no socket readiness), the OS layer runs a watcher that
 * calls ready(arg) from its own thread whenever stdin becomes readable (data or end of
 * input). */
rasio_fd_t rasio__stdin_fd(void);
bool rasio__stdin_needs_watcher(void);
int rasio__stdin_watch_start(void (*ready)(void *arg), void *arg);
/* When this returns, no call of ready for the previous arg is running or will start. */
void rasio__stdin_watch_stop(void);
/* Watcher mode: would a read return something (data or end of input) right now? */
bool rasio__stdin_readable_now(void);
/* Non-blocking read: 0 with *count > 0 (data) or *count == 0 (end of input), RASIO_EAGAIN
 * when nothing can be read now, another RASIO_E* on a read error. */
int rasio__stdin_read(void *buf, size_t len, size_t *count);

#endif
