/* SPDX-License-Identifier: BSD-2-Clause */
/* helpers.h for POSIX: plain BSD sockets on 127.0.0.1, child processes (posix_spawn), time
 * and handle counts (the portable rest is in helpers.c). Every unexpected OS error fails
 * the test where it happened. */
#define _POSIX_C_SOURCE 200809L
#define _DARWIN_C_SOURCE /* macOS: keep BSD socket declarations visible */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "runner.h"
#include "runner_posix.h"

extern char **environ;

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS lacks it; the runner ignores SIGPIPE in every test child */
#endif

#define FAIL_OS(what) rt_fail(__FILE__, __LINE__, "%s: %s", (what), strerror(errno))


static bool would_block(void) { return errno == EAGAIN || errno == EWOULDBLOCK; }

/* --- sockets ---------------------------------------------------------------------------- */

static struct sockaddr_in loopback(uint16_t port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) FAIL_OS("fcntl(O_NONBLOCK)");
}

static void set_nodelay(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    FAIL_OS("setsockopt(TCP_NODELAY)");
}

/* Close-on-exec keeps test sockets out of any process a test starts. */
static int new_socket(int type) {
  int fd = socket(AF_INET, type, 0);
  if (fd < 0) FAIL_OS("socket");
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) FAIL_OS("fcntl(FD_CLOEXEC)");
  return fd;
}

static void bind_loopback(int fd) {
  struct sockaddr_in sa = loopback(0);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) FAIL_OS("bind(127.0.0.1:0)");
}

static uint16_t local_port(int fd) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) FAIL_OS("getsockname");
  return ntohs(sa.sin_port);
}

rasio_fd_t th_listener(uint16_t *port) {
  int fd = new_socket(SOCK_STREAM);
  bind_loopback(fd);
  if (listen(fd, 128) != 0) FAIL_OS("listen");
  set_nonblock(fd);
  if (port != NULL) *port = local_port(fd);
  return fd;
}

rasio_fd_t th_accept(rasio_fd_t listener) {
  int fd;
  do {
    fd = accept((int)listener, NULL, NULL);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0 && (would_block() || errno == ECONNABORTED)) return RASIO_INVALID_FD;
  if (fd < 0) FAIL_OS("accept");
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) FAIL_OS("fcntl(FD_CLOEXEC)");
  set_nonblock(fd); /* Linux does not inherit O_NONBLOCK from the listener; BSD does */
  set_nodelay(fd);
  return fd;
}

rasio_fd_t th_connect_start(uint16_t port) {
  int fd = new_socket(SOCK_STREAM);
  set_nonblock(fd);
  set_nodelay(fd);
  struct sockaddr_in sa = loopback(port);
  /* Some kernels refuse a loopback connect on the spot rather than later through SO_ERROR;
   * either way the socket reports the failure as writeable, which is what tests watch. */
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS &&
      errno != ECONNREFUSED)
    FAIL_OS("connect");
  return fd;
}

void th_tcp_pair(rasio_fd_t *a, rasio_fd_t *b) {
  uint16_t port;
  rasio_fd_t l = th_listener(&port);
  rasio_fd_t c = th_connect_start(port);
  rasio_fd_t s = RASIO_INVALID_FD;
  uint64_t give_up = th_now_ms() + th_scaled_ms(5000);
  /* Loopback connects complete within microseconds; the loop only bridges that gap. */
  while ((s = th_accept(l)) == RASIO_INVALID_FD) {
    if (th_now_ms() > give_up) rt_fail(__FILE__, __LINE__, "th_tcp_pair: accept timed out");
    th_sleep_ms(1);
  }
  th_close(l);
  *a = c;
  *b = s;
}

uint16_t th_closed_port(void) {
  /* A bound socket that never listens holds the port, so nothing else can start listening
   * there during the test, and connects to it are refused. It lives until the test process
   * exits (each test is its own process). */
  int fd = new_socket(SOCK_STREAM);
  bind_loopback(fd);
  return local_port(fd);
}

rasio_fd_t th_udp(uint16_t *port) {
  int fd = new_socket(SOCK_DGRAM);
  bind_loopback(fd);
  set_nonblock(fd);
  if (port != NULL) *port = local_port(fd);
  return fd;
}

long th_udp_send(rasio_fd_t fd, uint16_t port, const void *buf, size_t len) {
  struct sockaddr_in sa = loopback(port);
  ssize_t n;
  do {
    n = sendto((int)fd, buf, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof sa);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return would_block() || errno == ENOBUFS ? 0 : -1;
  return (long)n;
}

long th_send(rasio_fd_t fd, const void *buf, size_t len) {
  ssize_t n;
  do {
    n = send((int)fd, buf, len, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return would_block() ? 0 : -1;
  return (long)n;
}

long th_recv(rasio_fd_t fd, void *buf, size_t len) {
  ssize_t n;
  do {
    n = recv((int)fd, buf, len, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return would_block() ? -1 : -2;
  return (long)n;
}

size_t th_drain(rasio_fd_t fd) {
  char buf[16384];
  size_t total = 0;
  long n;
  while ((n = th_recv(fd, buf, sizeof buf)) > 0) total += (size_t)n;
  return total;
}

size_t th_fill(rasio_fd_t fd) {
  static const char buf[65536];
  size_t total = 0;
  long n;
  while ((n = th_send(fd, buf, sizeof buf)) > 0) total += (size_t)n;
  return total;
}

void th_shutdown_wr(rasio_fd_t fd) {
  if (shutdown((int)fd, SHUT_WR) != 0) FAIL_OS("shutdown(SHUT_WR)");
}

void th_close(rasio_fd_t fd) {
  /* POSIX leaves the descriptor state unspecified after EINTR; Linux has closed it. */
  if (close((int)fd) != 0 && errno != EINTR) FAIL_OS("close");
}

void th_close_rst(rasio_fd_t fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  if (setsockopt((int)fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0)
    FAIL_OS("setsockopt(SO_LINGER)");
  th_close(fd);
}

int th_so_error(rasio_fd_t fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt((int)fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) FAIL_OS("getsockopt(SO_ERROR)");
  return err;
}

rasio_fd_t th_swap_socket(rasio_fd_t fd) {
  rasio_fd_t saved = th_dup(fd);
  int fresh = new_socket(SOCK_DGRAM);
  /* dup2 leaves the new number inheritable: close-on-exec again right away. */
  if (dup2(fresh, (int)fd) < 0) FAIL_OS("dup2");
  if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) != 0) FAIL_OS("fcntl(FD_CLOEXEC)");
  set_nonblock((int)fd);
  th_close(fresh);
  return saved;
}

rasio_fd_t th_dup(rasio_fd_t fd) {
  int d = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) rt_fail(__FILE__, __LINE__, "dup: %s", strerror(errno));
  return d;
}

bool th_fds_are_ints(void) { return true; }

bool th_fd_open(rasio_fd_t fd) { return fcntl((int)fd, F_GETFD) != -1; }

bool th_under_wine(void) { return false; }

/* Probing every number works on every POSIX system (no /proc); capped so a huge limit
 * stays cheap: the tests that use it never have fds that high. */
long th_open_handles(void) {
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  long n = 0;
  for (long fd = 0; fd < max; fd++) n += fcntl((int)fd, F_GETFD) != -1;
  return n;
}

rasio_fd_t th_file_fd(void) {
  const char *dir = getenv("TMPDIR");
  char path[512];
  snprintf(path, sizeof path, "%s/rasio-file-XXXXXX", dir != NULL && dir[0] ? dir : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) FAIL_OS("mkstemp");
  unlink(path);
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) FAIL_OS("fcntl(FD_CLOEXEC)");
  return fd;
}

void th_pipe(rasio_fd_t *rd, rasio_fd_t *wr) {
  int fds[2];
  if (pipe(fds) != 0) FAIL_OS("pipe");
  for (int i = 0; i < 2; i++) {
    set_nonblock(fds[i]);
    if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) FAIL_OS("fcntl(FD_CLOEXEC)");
  }
  *rd = fds[0];
  *wr = fds[1];
}

void th_close_other(rasio_fd_t fd) {
  if (close((int)fd) != 0) FAIL_OS("close");
}

rasio_fd_t th_closed_fd(void) {
  int s = new_socket(SOCK_STREAM);
  int high = fcntl(s, F_DUPFD_CLOEXEC, 900);
  if (high < 0) FAIL_OS("fcntl(F_DUPFD_CLOEXEC)");
  close(s);
  close(high);
  return high;
}

/* --- time and threads ------------------------------------------------------------------- */

void th_sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

uint64_t th_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- child processes -------------------------------------------------------------------- */

/* The child's end of its signal channel is always this descriptor; the environment
 * variable says that it is one (a scenario run by hand has no channel). */
#define CHANNEL_ENV "RASIO_TEST_CHANNEL"
#define CHANNEL_FD 3

/* Every descriptor made here is close-on-exec: the only ones a child gets are those the
 * spawn's file actions put on 0 and CHANNEL_FD. A pipe's write end leaked into a child
 * would keep that child from ever reading the end of its input. */
static int cloexec(int fd, const char *what) {
  if (fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) FAIL_OS(what);
  return fd;
}

static void cloexec_pipe(int fds[2]) {
  if (pipe(fds) != 0) FAIL_OS("pipe");
  cloexec(fds[0], "pipe");
  cloexec(fds[1], "pipe");
}

/* An unlinked temporary file holding data, positioned at its start. */
static int temp_file(const void *data, size_t len) {
  const char *dir = getenv("TMPDIR");
  char path[512];
  snprintf(path, sizeof path, "%s/rasio-stdin-XXXXXX", dir != NULL && dir[0] ? dir : "/tmp");
  int fd = cloexec(mkstemp(path), "mkstemp");
  unlink(path);
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) FAIL_OS("write(temporary file)");
    p += n;
    len -= (size_t)n;
  }
  if (lseek(fd, 0, SEEK_SET) != 0) FAIL_OS("lseek");
  return fd;
}

rasio_fd_t th_file_fd_holding(const void *data, size_t len) { return temp_file(data, len); }

/* adddup2 of a descriptor onto itself would leave it close-on-exec: move it if needed. */
static int not_channel_fd(int fd) {
  if (fd != CHANNEL_FD) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, CHANNEL_FD + 1);
  if (moved < 0) FAIL_OS("fcntl(F_DUPFD_CLOEXEC)");
  close(fd);
  return moved;
}

/* The descriptor the child gets as stdin; for a pipe, c->in keeps the write end. */
static int child_stdin(th_child_t *c, th_stdin_t in, const void *data, size_t len) {
  if (in == TH_STDIN_FILE) return temp_file(data, len);
  if (in == TH_STDIN_NULL) return cloexec(open("/dev/null", O_RDONLY), "open(/dev/null)");
  int fds[2];
  cloexec_pipe(fds);
  c->in = fds[1];
  return fds[0];
}

/* environ plus CHANNEL_ENV (replacing one inherited from a parent). */
static char **child_env(char *entry) {
  size_t n = 0, kept = 0;
  while (environ[n] != NULL) n++;
  char **env = malloc((n + 2) * sizeof *env);
  if (env == NULL) rt_fail(__FILE__, __LINE__, "out of memory");
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], CHANNEL_ENV "=", strlen(CHANNEL_ENV) + 1) != 0)
      env[kept++] = environ[i];
  env[kept++] = entry;
  env[kept] = NULL;
  return env;
}

/* posix_spawnp: the command may start with a wrapper's name (valgrind). */
static pid_t spawn(char *const argv[], int in_fd, int channel_fd) {
  static char entry[] = CHANNEL_ENV "=3";
  _Static_assert(CHANNEL_FD == 3, "entry names CHANNEL_FD");
  posix_spawnattr_t at;
  posix_spawn_file_actions_t fa;
  /* The test's own group: the runner's kill of a timed-out test takes the child along. */
  rt_posix_spawnattr(&at, false);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  posix_spawn_file_actions_adddup2(&fa, channel_fd, CHANNEL_FD);
  char **env = child_env(entry);
  pid_t pid;
  int err = posix_spawnp(&pid, argv[0], &fa, &at, argv, env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  free(env);
  if (err != 0) rt_fail(__FILE__, __LINE__, "posix_spawnp(%s): %s", argv[0], strerror(err));
  return pid;
}

th_child_t *th_child_start(const char *scenario, const char *arg, th_stdin_t in,
                           const void *data, size_t len) {
  th_child_t *c = calloc(1, sizeof *c);
  if (c == NULL) rt_fail(__FILE__, __LINE__, "out of memory");
  snprintf(c->scenario, sizeof c->scenario, "%s", scenario);
  c->in = -1;
  rt_cmd_t cmd;
  rt_child_cmd(&cmd, scenario, arg);
  int in_fd = child_stdin(c, in, data, len), channel[2];
  cloexec_pipe(channel);
  channel[1] = not_channel_fd(channel[1]);
  c->process = spawn(cmd.argv, in_fd, channel[1]);
  close(in_fd); /* the child's copies are all that is left of them */
  close(channel[1]);
  c->channel = channel[0];
  return c;
}

bool th_child_write(th_child_t *c, const void *buf, size_t len) {
  const char *p = buf;
  if (c->in < 0) rt_fail(__FILE__, __LINE__, "th_child_write: no stdin pipe (any more)");
  while (len > 0) {
    /* EPIPE rather than death: the test process ignores SIGPIPE (rt_os_child_init). */
    ssize_t n = write((int)c->in, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    p += n;
    len -= (size_t)n;
  }
  return true;
}

void th_child_close_stdin(th_child_t *c) {
  if (c->in < 0) return;
  close((int)c->in);
  c->in = -1;
}

bool th_child_wait_signal(th_child_t *c, unsigned timeout_ms) {
  uint64_t end = th_now_ms() + th_scaled_ms(timeout_ms);
  for (;;) {
    uint64_t now = th_now_ms(), left = now < end ? end - now : 0;
    struct pollfd p = {.fd = (int)c->channel, .events = POLLIN};
    int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) FAIL_OS("poll");
    if (r == 0) return false;
    char byte;
    ssize_t n = read((int)c->channel, &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    return n == 1; /* 0: the child is gone (nothing else holds the write end) */
  }
}

void th_child_signal(void) {
  if (getenv(CHANNEL_ENV) == NULL) return;
  ssize_t n;
  do {
    n = write(CHANNEL_FD, "!", 1);
  } while (n < 0 && errno == EINTR);
  /* A failure means the parent is gone; its verdict no longer depends on us. */
}

static void describe_status(int status, char *why, size_t cap) {
  if (WIFSIGNALED(status))
    snprintf(why, cap, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
  else
    snprintf(why, cap, "ended with wait status 0x%x", (unsigned)status);
}

int th_child_end(th_child_t *c, unsigned timeout_ms, char *why, size_t cap) {
  unsigned ms = th_scaled_ms(timeout_ms);
  uint64_t end = th_now_ms() + ms;
  pid_t pid = (pid_t)c->process, r;
  int status = 0;
  th_child_close_stdin(c);
  /* A short poll: nothing else wakes this thread when the child exits (SIGCHLD is the
   * runner's business in its own process, and a handler here could race the tests'). */
  for (;;) {
    r = waitpid(pid, &status, WNOHANG);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) FAIL_OS("waitpid");
    if (r > 0 || th_now_ms() >= end) break;
    th_sleep_ms(2);
  }
  bool timed_out = r == 0;
  if (timed_out) {
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  close((int)c->channel);
  free(c);
  if (timed_out) {
    snprintf(why, cap, "still running after %u ms: killed", ms);
    return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  describe_status(status, why, cap);
  return -1;
}
