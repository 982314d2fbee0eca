/* SPDX-License-Identifier: BSD-2-Clause */
/* POSIX implementation of the OS shim (Linux, BSD, macOS). */
#define _GNU_SOURCE /* accept4, pipe2, epoll_pwait2 and friends in other POSIX files */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "os/os.h"

static void check(int rc) {
  /* pthread lock calls only fail on programming errors (EINVAL/EDEADLK); continuing would
   * corrupt state silently, so this is the one place rasio aborts. */
  if (rc != 0) abort();
}

void rasio__mutex_init(rasio__mutex_t *m) { check(pthread_mutex_init(m, NULL)); }
void rasio__mutex_destroy(rasio__mutex_t *m) { pthread_mutex_destroy(m); }
void rasio__mutex_lock(rasio__mutex_t *m) { check(pthread_mutex_lock(m)); }
void rasio__mutex_unlock(rasio__mutex_t *m) { check(pthread_mutex_unlock(m)); }

void rasio__cond_init(rasio__cond_t *c) {
  pthread_condattr_t attr;
  check(pthread_condattr_init(&attr));
#ifndef __APPLE__ /* macOS has no pthread_condattr_setclock; it times out on the wall clock */
  check(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC));
#endif
  check(pthread_cond_init(c, &attr));
  pthread_condattr_destroy(&attr);
}

void rasio__cond_destroy(rasio__cond_t *c) { pthread_cond_destroy(c); }
void rasio__cond_signal(rasio__cond_t *c) { check(pthread_cond_signal(c)); }

void rasio__cond_wait_until(rasio__cond_t *c, rasio__mutex_t *m, uint64_t deadline_ns) {
  if (deadline_ns == UINT64_MAX) {
    check(pthread_cond_wait(c, m));
    return;
  }
#ifdef __APPLE__
  uint64_t now = rasio__now_ns();
  uint64_t rel = deadline_ns > now ? deadline_ns - now : 0;
  struct timespec ts = {(time_t)(rel / 1000000000u), (long)(rel % 1000000000u)};
  pthread_cond_timedwait_relative_np(c, m, &ts);
#else
  struct timespec ts = {(time_t)(deadline_ns / 1000000000u), (long)(deadline_ns % 1000000000u)};
  int rc = pthread_cond_timedwait(c, m, &ts);
  if (rc != 0 && rc != ETIMEDOUT) abort();
#endif
}

struct thread_start {
  void (*fn)(void *);
  void *arg;
};

static void *thread_main(void *p) {
  struct thread_start start = *(struct thread_start *)p;
  rasio__free(p);
  start.fn(start.arg);
  return NULL;
}

int rasio__thread_create(rasio__thread_t *t, void (*fn)(void *), void *arg) {
  struct thread_start *start = rasio__malloc(sizeof *start);
  if (start == NULL) return RASIO_ENOMEM;
  start->fn = fn;
  start->arg = arg;
  int rc = pthread_create(t, NULL, thread_main, start);
  if (rc == 0) return 0;
  rasio__free(start);
  return rasio__os_error_map(rc);
}

void rasio__thread_join(rasio__thread_t t) { pthread_join(t, NULL); }

uintptr_t rasio__thread_id(void) {
  /* The address of a thread-local is unique among live threads and never zero. */
  static _Thread_local char marker;
  return (uintptr_t)&marker;
}

void rasio__thread_yield(void) { sched_yield(); }

uint64_t rasio__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int rasio__os_error(void) { return rasio__os_error_map(errno); }

int rasio__os_error_map(int e) {
  switch (e) {
    case 0: return RASIO_OK;
    case EINVAL: case EFAULT: return RASIO_EINVAL;
    case ENOMEM: case ENOBUFS: return RASIO_ENOMEM;
    case EBADF: case ENOTSOCK: return RASIO_EBADF;
    case EEXIST: return RASIO_EEXIST;
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EAGAIN: case EINPROGRESS: case EALREADY: return RASIO_EAGAIN;
    case ETIMEDOUT: return RASIO_ETIMEDOUT;
    case ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
    case EOPNOTSUPP:
#endif
    case ENOSYS: case ENOPROTOOPT: return RASIO_ENOTSUP;
    case ECONNREFUSED: return RASIO_ECONNREFUSED;
    case ECONNRESET: return RASIO_ECONNRESET;
    case ECONNABORTED: return RASIO_ECONNABORTED;
    case EPIPE: return RASIO_EPIPE;
    case ENOTCONN: return RASIO_ENOTCONN;
    case EADDRINUSE: return RASIO_EADDRINUSE;
    case EADDRNOTAVAIL: return RASIO_EADDRNOTAVAIL;
    case EAFNOSUPPORT: case EPROTONOSUPPORT: return RASIO_EAFNOSUPPORT;
    case ENETUNREACH: case ENETDOWN: return RASIO_ENETUNREACH;
    case EHOSTUNREACH: case EHOSTDOWN: return RASIO_EHOSTUNREACH;
    case EACCES: case EPERM: return RASIO_EACCES;
    case EMFILE: case ENFILE: return RASIO_EMFILE;
    case EMSGSIZE: return RASIO_EMSGSIZE;
    case EIO: return RASIO_EIO;
    default: rasio__os_error_note(e); return RASIO_EOS;
  }
}

bool rasio__fd_in_range(rasio_fd_t fd) { return fd >= 0 && fd <= INT_MAX; }

bool rasio__fd_is_open(rasio_fd_t fd) {
  return rasio__fd_in_range(fd) && (fcntl((int)fd, F_GETFD) != -1 || errno != EBADF);
}

void rasio__fd_close(rasio_fd_t fd) {
  /* POSIX leaves the fd state unspecified after EINTR; on Linux it is always closed, so a
   * retry could close a reused number. Close exactly once. */
  (void)close((int)fd);
}

/* --- signals ----------------------------------------------------------------------- */

static struct sigaction saved[NSIG];

bool rasio__sig_valid(int signo) {
  return signo > 0 && signo < NSIG && signo != SIGKILL && signo != SIGSTOP;
}

int rasio__sig_max(void) { return NSIG - 1; }

int rasio__sig_install(int signo, void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  /* glibc refuses the signals it reserves for itself (32, 33) with EINVAL. */
  if (sigaction(signo, &sa, &saved[signo]) != 0) return RASIO_EINVAL;
  return 0;
}

void rasio__sig_restore(int signo) { (void)sigaction(signo, &saved[signo], NULL); }

/* --- standard input ------------------------------------------------------------------ */

rasio_fd_t rasio__stdin_fd(void) { return STDIN_FILENO; }

/* epoll and kqueue watch fd 0 themselves (or it is a file: always readable). */
bool rasio__stdin_needs_watcher(void) { return false; }

int rasio__stdin_watch_start(void (*ready)(void *arg), void *arg) {
  (void)ready;
  (void)arg;
  return RASIO_ENOTSUP;
}

void rasio__stdin_watch_stop(void) {}

bool rasio__stdin_readable_now(void) { return false; }

int rasio__stdin_read(void *buf, size_t len, size_t *count) {
  *count = 0;
  /* stdin's file description is shared with the parent (a shell's terminal, say), so
   * rasio must not set O_NONBLOCK on it. A zero-timeout poll first keeps read from
   * blocking; only this process reads fd 0 through rasio, so readiness cannot vanish
   * between the poll and the read. */
  struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
  int n = poll(&p, 1, 0);
  if (n < 0) return errno == EINTR ? RASIO_EAGAIN : rasio__os_error();
  if (n == 0) return RASIO_EAGAIN;
  if (p.revents & POLLNVAL) return RASIO_EBADF;
  ssize_t got = read(STDIN_FILENO, buf, len);
  if (got >= 0) {
    *count = (size_t)got;
    return 0;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return RASIO_EAGAIN;
  return rasio__os_error();
}
