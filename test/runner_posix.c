/* SPDX-License-Identifier: BSD-2-Clause */
/* The runner's process layer for POSIX (Linux, BSD, macOS): posix_spawn, one capture pipe
 * per child, poll, and process groups for killing.
 *
 * Waiting: a SIGCHLD handler writes a byte to a self-pipe that poll() watches beside the
 * capture pipes, so a finished child is reaped at once, and the poll timeout is the nearest
 * deadline, so a hung one is killed on time; no polling tick.
 *
 * Each child leads its own process group: a timeout kills whatever the test started too,
 * and the runner's own termination (ctest's timeout, ^C) is forwarded to those groups, which
 * would otherwise outlive it.
 */
#define _POSIX_C_SOURCE 200809L
#define _DARWIN_C_SOURCE /* macOS: keep BSD declarations visible next to the POSIX ones */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"
#include "runner_posix.h"

extern char **environ;

static int chld_pipe[2] = {-1, -1};
/* Process groups of running children, read by the termination handler. */
static volatile sig_atomic_t live_groups[RT_MAX_JOBS];

static void on_chld(int sig) {
  (void)sig;
  int saved = errno;
  ssize_t r = write(chld_pipe[1], "c", 1); /* a full pipe already holds the wakeup */
  (void)r;
  errno = saved;
}

static void on_term(int sig) {
  for (size_t i = 0; i < RT_MAX_JOBS; i++)
    if (live_groups[i] > 0) kill(-(pid_t)live_groups[i], SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void track(pid_t pid, pid_t replace) {
  for (size_t i = 0; i < RT_MAX_JOBS; i++) {
    if (live_groups[i] == replace) {
      live_groups[i] = pid;
      return;
    }
  }
}

static int set_flags(int fd, bool nonblock) {
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return -1;
  return nonblock ? fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) : 0;
}

/* Close-on-exec matters: a capture pipe leaked into a sibling child would keep its reader
 * from ever seeing end of file. */
static int make_pipe(int fds[2], bool nonblock_write) {
  if (pipe(fds) != 0) return errno;
  if (set_flags(fds[0], true) != 0 || set_flags(fds[1], nonblock_write) != 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return err;
  }
  return 0;
}

static int install_handlers(void) {
  static bool done;
  if (done) return 0;
  int err = make_pipe(chld_pipe, true);
  if (err != 0) return err;
  struct sigaction sa = {.sa_handler = on_chld, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, NULL);
  sa.sa_handler = on_term;
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  done = true;
  return 0;
}

/* --- small services --------------------------------------------------------------------- */

void rt_os_child_init(void) { signal(SIGPIPE, SIG_IGN); }

const char *rt_os_self(const char *argv0) {
  /* A resolved path, not "/proc/self/exe": under a wrapper (valgrind) that link would name
   * the wrapper. */
  static char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return argv0;
  path[n] = '\0';
  return path;
}

int rt_os_setenv(const char *name, const char *value) { return setenv(name, value, 1); }

uint64_t rt_os_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *rt_os_strerror(int code) { return strerror(code); }

static void signal_name(int sig, char *buf, size_t cap) {
  static const struct {
    int sig;
    const char *name;
  } names[] = {{SIGSEGV, "SIGSEGV"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},
               {SIGFPE, "SIGFPE"},   {SIGILL, "SIGILL"},   {SIGKILL, "SIGKILL"},
               {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},   {SIGPIPE, "SIGPIPE"},
               {SIGALRM, "SIGALRM"}, {SIGHUP, "SIGHUP"},   {SIGQUIT, "SIGQUIT"},
               {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"}, {SIGTRAP, "SIGTRAP"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (names[i].sig == sig) {
      snprintf(buf, cap, "%s", names[i].name);
      return;
    }
  }
  snprintf(buf, cap, "signal %d", sig);
}

/* --- spawning --------------------------------------------------------------------------- */

void rt_posix_spawnattr(posix_spawnattr_t *at, bool own_group) {
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_init(at);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (own_group) flags |= POSIX_SPAWN_SETPGROUP;
  posix_spawnattr_setflags(at, flags);
  if (own_group) posix_spawnattr_setpgroup(at, 0);
  posix_spawnattr_setsigmask(at, &none);
  posix_spawnattr_setsigdefault(at, &all);
}

/* stdin is the null device so no test reads the terminal by accident; tests of stdin put
 * their own descriptor on 0. */
static void child_files(posix_spawn_file_actions_t *fa, int out) {
  posix_spawn_file_actions_init(fa);
  posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(fa, out, 1);
  posix_spawn_file_actions_adddup2(fa, out, 2);
}

bool rt_os_never_started(const rt_job_t *job) {
  (void)job;
  return false;
}

int rt_os_spawn(rt_job_t *job, char *const argv[]) {
  int fds[2], err = install_handlers();
  if (err == 0) err = make_pipe(fds, false);
  if (err != 0) return err;
  posix_spawnattr_t at;
  posix_spawn_file_actions_t fa;
  rt_posix_spawnattr(&at, true);
  child_files(&fa, fds[1]);
  pid_t pid;
  err = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(fds[1]);
  if (err != 0) {
    close(fds[0]);
    return err;
  }
  track(pid, 0);
  job->proc = pid;
  job->pipe = fds[0];
  job->state = RT_RUNNING;
  return 0;
}

/* --- waiting ---------------------------------------------------------------------------- */

/* Reads what the child wrote so far. A bounded number of reads, so a chatty child cannot
 * starve the deadline checks. Closes the pipe at end of file. */
static void collect(rt_job_t *job) {
  char buf[16384];
  for (int i = 0; i < 64 && job->pipe >= 0; i++) {
    ssize_t n = read((int)job->pipe, buf, sizeof buf);
    if (n > 0) {
      rt_job_output(job, buf, (size_t)n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (n == 0 || errno != EAGAIN) {
        close((int)job->pipe);
        job->pipe = -1;
      }
      return;
    }
  }
}

/* The child is gone: keep its last output (a grandchild may still hold the pipe, so only
 * what is there now), and record how it ended. */
static void ended(rt_job_t *job, int status, rt_state_t state) {
  collect(job);
  if (job->pipe >= 0) close((int)job->pipe);
  job->pipe = -1;
  track(0, (pid_t)job->proc);
  job->end_ms = rt_os_now_ms();
  job->state = state;
  if (state == RT_TIMED_OUT) return;
  if (WIFSIGNALED(status)) {
    job->state = RT_CRASHED;
    job->code = WTERMSIG(status);
    signal_name(job->code, job->crash, sizeof job->crash);
  } else {
    job->code = WEXITSTATUS(status);
  }
}

static bool reap(rt_job_t *job) {
  int status;
  pid_t r = waitpid((pid_t)job->proc, &status, WNOHANG);
  if (r != (pid_t)job->proc) return false;
  ended(job, status, RT_EXITED);
  return true;
}

static bool expire(rt_job_t *job, uint64_t now) {
  if (now < job->deadline_ms) return false;
  int status;
  kill(-(pid_t)job->proc, SIGKILL);
  kill((pid_t)job->proc, SIGKILL); /* in case the test moved itself to another group */
  while (waitpid((pid_t)job->proc, &status, 0) < 0 && errno == EINTR) {
  }
  ended(job, status, RT_TIMED_OUT);
  return true;
}

static int poll_timeout(rt_job_t *const jobs[], size_t n, uint64_t now) {
  uint64_t nearest = UINT64_MAX;
  for (size_t i = 0; i < n; i++)
    if (jobs[i]->deadline_ms < nearest) nearest = jobs[i]->deadline_ms;
  uint64_t wait = nearest > now ? nearest - now : 0;
  return wait > INT_MAX ? INT_MAX : (int)wait;
}

/* One poll over the self-pipe and every open capture pipe; collects output. */
static void poll_once(rt_job_t *const jobs[], size_t n) {
  struct pollfd fds[RT_MAX_JOBS + 1];
  size_t who[RT_MAX_JOBS + 1], nfds = 1;
  fds[0] = (struct pollfd){.fd = chld_pipe[0], .events = POLLIN};
  for (size_t i = 0; i < n; i++) {
    if (jobs[i]->pipe < 0) continue;
    fds[nfds] = (struct pollfd){.fd = (int)jobs[i]->pipe, .events = POLLIN};
    who[nfds++] = i;
  }
  if (poll(fds, (nfds_t)nfds, poll_timeout(jobs, n, rt_os_now_ms())) <= 0) return;
  char drain[64];
  if (fds[0].revents != 0)
    while (read(chld_pipe[0], drain, sizeof drain) > 0) {
    }
  for (size_t i = 1; i < nfds; i++)
    if (fds[i].revents != 0) collect(jobs[who[i]]);
}

void rt_os_wait(rt_job_t *const jobs[], size_t n) {
  for (;;) {
    bool any = false;
    uint64_t now = rt_os_now_ms();
    for (size_t i = 0; i < n; i++)
      if (jobs[i]->state == RT_RUNNING) any |= reap(jobs[i]) || expire(jobs[i], now);
    if (any) return;
    poll_once(jobs, n);
  }
}
