/* SPDX-License-Identifier: BSD-2-Clause */
/* The driver's processes on POSIX: posix_spawn with two pipes. See os.h. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "os.h"

extern char **environ;

struct proc {
  pid_t pid;
  int in, out; /* our ends: the child's stdin (write), its stdout (read) */
};

void os_init(void) {
  /* A write to a child or a socket that is gone must fail with EPIPE, not kill us. */
  signal(SIGPIPE, SIG_IGN);
}

uint64_t os_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void os_sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void os_sibling_path(const char *argv0, const char *name, char *path, size_t cap) {
  const char *slash = strrchr(argv0, '/');
  int dir = slash != NULL ? (int)(slash - argv0) : 1;
  snprintf(path, cap, "%.*s/%s", dir, slash != NULL ? argv0 : ".", name);
}

/* Both ends close-on-exec: only the dup2'ed copies (0 and 1) reach the child, as
 * posix_spawn_file_actions_adddup2 acts "as if dup2(fildes, newfildes) had been called",
 * and of dup2 POSIX says "The FD_CLOEXEC flag associated with the new file descriptor
 * shall be cleared to keep the file open across calls to one of the exec functions." */
static bool cloexec_pipe(int fds[2]) {
  if (pipe(fds) != 0) return false;
  (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  (void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return true;
}

proc_t *proc_start(const char *path, const char *const args[]) {
  char *argv[16] = {(char *)path};
  for (size_t i = 0; args[i] != NULL && i + 2 < 16; i++) argv[i + 1] = (char *)args[i];
  int in[2], out[2];
  proc_t *p = calloc(1, sizeof *p);
  if (p == NULL || !cloexec_pipe(in) || !cloexec_pipe(out)) {
    printf("cannot make pipes: %s\n", strerror(errno));
    exit(1);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  int rc = posix_spawn(&p->pid, path, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  p->in = in[1];
  p->out = out[0];
  if (rc != 0) {
    printf("cannot start %s: %s\n", path, strerror(rc));
    close(p->in);
    close(p->out);
    free(p);
    return NULL;
  }
  return p;
}

long proc_read(proc_t *p, char *buf, size_t cap, unsigned ms) {
  struct pollfd pfd = {.fd = p->out, .events = POLLIN};
  if (poll(&pfd, 1, (int)ms) <= 0) return -1;
  ssize_t n = read(p->out, buf, cap);
  return n < 0 ? 0 : (long)n; /* an error reads as the end: nothing more will come */
}

bool proc_write(proc_t *p, const void *buf, size_t len) {
  return p->in >= 0 && write(p->in, buf, len) == (ssize_t)len;
}

void proc_close_stdin(proc_t *p) {
  if (p->in >= 0) close(p->in);
  p->in = -1;
}

bool proc_can_interrupt(void) { return true; }
bool proc_interrupt(proc_t *p) { return kill(p->pid, SIGINT) == 0; }

static void proc_free(proc_t *p) {
  proc_close_stdin(p);
  close(p->out);
  free(p);
}

int proc_wait(proc_t *p, unsigned ms) {
  uint64_t end = os_now_ms() + ms;
  int status;
  pid_t r;
  while ((r = waitpid(p->pid, &status, WNOHANG)) == 0 && os_now_ms() < end) os_sleep_ms(5);
  if (r != p->pid) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    proc_free(p);
    return -1;
  }
  proc_free(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void proc_kill(proc_t *p) {
  int status;
  kill(p->pid, SIGKILL);
  waitpid(p->pid, &status, 0);
  proc_free(p);
}
