/* SPDX-License-Identifier: BSD-2-Clause */
/* The shared half of every benchmark server: see server.h. */
#define _GNU_SOURCE
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Writes the decimal form of v into p (no terminator); returns the length. Signal-safe. */
static size_t fmt_u64(char *p, unsigned long long v) {
  char tmp[24];
  size_t n = 0, i;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (i = 0; i < n; i++) p[i] = tmp[n - 1 - i];
  return n;
}

/* Seconds with microsecond precision, written as "S.UUUUUU". Signal-safe. */
static size_t fmt_tv(char *p, struct timeval tv) {
  size_t n = fmt_u64(p, (unsigned long long)tv.tv_sec);
  unsigned long long us = (unsigned long long)tv.tv_usec;
  int d;
  p[n++] = '.';
  for (d = 100000; d > 0; d /= 10) p[n++] = (char)('0' + (us / (unsigned)d) % 10);
  return n;
}

static const char *count_name;
static const volatile unsigned long long *count_value;

void bench_server_count(const char *name, const volatile unsigned long long *n) {
  count_name = name;
  count_value = n;
}

/* Prints "count <name> <n>" if the server named a counter. Signal-safe. */
static void print_count(void) {
  char line[128];
  size_t n, len;
  if (count_name == NULL || (len = strlen(count_name)) > 64) return;
  memcpy(line, "count ", 6);
  memcpy(line + 6, count_name, len);
  n = 6 + len;
  line[n++] = ' ';
  n += fmt_u64(line + n, *count_value);
  line[n++] = '\n';
  (void)!write(STDOUT_FILENO, line, n);
}

static void on_exit_signal(int sig) {
  struct rusage ru;
  char line[128];
  size_t n = 0;
  (void)sig;
  print_count();
  getrusage(RUSAGE_SELF, &ru);
  memcpy(line, "rusage ", 7);
  n = 7;
  n += fmt_tv(line + n, ru.ru_utime);
  line[n++] = ' ';
  n += fmt_tv(line + n, ru.ru_stime);
  line[n++] = ' ';
  n += fmt_u64(line + n, (unsigned long long)ru.ru_maxrss);
  line[n++] = '\n';
  (void)!write(STDOUT_FILENO, line, n);
  _exit(0);
}

void bench_die(const char *what) {
  fprintf(stderr, "bench server: %s: %s\n", what, strerror(errno));
  exit(1);
}

const char *bench_arg(int argc, char **argv, const char *name, const char *fallback) {
  int i;
  for (i = 1; i + 1 < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1] == '-' && strcmp(argv[i] + 2, name) == 0)
      return argv[i + 1];
  }
  return fallback;
}

void bench_tune_socket(int fd) {
  int one = 1;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) bench_die("fcntl");
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) bench_die("TCP_NODELAY");
}

int bench_accept(int listen_fd) {
  int one = 1;
  int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EINTR)
      return -1;
    bench_die("accept4");
  }
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) bench_die("TCP_NODELAY");
  return fd;
}

/* The idle workload holds 10,000+ connections: lift the soft descriptor limit to the hard one. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int bench_server_start(int argc, char **argv, const char *library, const char *backend) {
  struct sockaddr_in sin;
  socklen_t len = sizeof sin;
  struct sigaction sa;
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) bench_die("socket");
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) bench_die("SO_REUSEADDR");
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons((unsigned short)atoi(bench_arg(argc, argv, "port", "0")));
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) bench_die("bind");
  if (listen(fd, 4096) < 0) bench_die("listen");
  if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0) bench_die("getsockname");

  raise_fd_limit();

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_exit_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  printf("backend %s %s\nlistening %u\n", library, backend, (unsigned)ntohs(sin.sin_port));
  fflush(stdout);
  return fd;
}

/* ---- the raw-socket echo ------------------------------------------------------------------ */

static char echo_buf[BENCH_BUF_SIZE];

/* Writes p[0..n) until it is all out or the socket is full, then keeps the rest. A partial
 * write is retried because the peer may have drained some of the socket meanwhile (the floor
 * and rasio rows retry too, so every row pays the same system calls here). */
static int echo_write(bench_echo_t *e, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(e->fd, p, n);
    if (w >= 0) {
      p += w;
      n -= (size_t)w;
    } else if (errno == EAGAIN) {
      if (e->tail == NULL && (e->tail = malloc(BENCH_BUF_SIZE)) == NULL) bench_die("malloc");
      memcpy(e->tail, p, n);
      e->off = 0;
      e->len = n;
      return BENCH_ECHO_BLOCKED;
    } else if (errno != EINTR) {
      return BENCH_ECHO_CLOSE;
    }
  }
  return BENCH_ECHO_IDLE;
}

int bench_echo_pump(bench_echo_t *e, int until_eagain) {
  for (;;) {
    ssize_t n = read(e->fd, echo_buf, sizeof echo_buf);
    if (n == 0) return BENCH_ECHO_CLOSE;
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? BENCH_ECHO_IDLE : BENCH_ECHO_CLOSE;
    }
    int rc = echo_write(e, echo_buf, (size_t)n);
    if (rc != BENCH_ECHO_IDLE) return rc;
    if (!until_eagain && (size_t)n < sizeof echo_buf) return BENCH_ECHO_IDLE;
  }
}

int bench_echo_flush(bench_echo_t *e) {
  while (e->len > 0) {
    ssize_t w = write(e->fd, e->tail + e->off, e->len);
    if (w >= 0) {
      e->off += (size_t)w;
      e->len -= (size_t)w;
    } else if (errno == EAGAIN) {
      return BENCH_ECHO_BLOCKED;
    } else if (errno != EINTR) {
      return BENCH_ECHO_CLOSE;
    }
  }
  return BENCH_ECHO_IDLE;
}
