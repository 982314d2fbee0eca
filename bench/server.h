/* SPDX-License-Identifier: BSD-2-Clause */
/* The part every benchmark echo server shares, whatever library it is written with.
 *
 * A server is one program per library: bench/echo_<library>.c, with --mode choosing among
 * its variants (rasio: oneshot, edge, level...). Its contract, which bench/run.sh relies on:
 *   <server> [--port N] [--mode M] listen on 127.0.0.1:N (0 or absent: any free port)
 *   stdout, line 1:  "backend <library> <backend the library chose>"
 *   stdout, line 2:  "listening <port>"
 *   on SIGTERM or SIGINT: prints "rusage <user s> <sys s> <max rss KiB>" and exits 0;
 *                    before it "count <name> <n>" if the server counts a call of its own
 *                    (bench_server_count).
 *
 * The echo contract (anchors.md 4.2): single-threaded unless the mode says otherwise; read
 * into a 64 KiB buffer until the socket would block (or a short read says it is empty); write
 * it back; on a short write keep the rest and wait for writability, reading nothing more from
 * that connection until it is flushed. TCP_NODELAY on every accepted socket.
 *
 * The exit path runs in the signal handler and uses only async-signal-safe calls, so no
 * library under test needs a signal watcher of its own (which would differ per library). */
#ifndef BENCH_SERVER_H
#define BENCH_SERVER_H

#include <stddef.h>

#define BENCH_BUF_SIZE (64 * 1024)

/* Parses the command line, opens the non-blocking listening socket, installs the exit
 * handler and prints the two lines. Returns the listening fd; exits with a message on error. */
int bench_server_start(int argc, char **argv, const char *library, const char *backend);

/* Names a counter the server keeps of one of its own system calls, printed at exit as
 * "count <name> <n>". Counted inside the server, it is free of strace's effect: under strace
 * every system call is slow, so a server that batches (io_uring) batches more, and the
 * strace run's calls per message come out lower than without it. Call once, before the
 * loop; name and *n must live to the end. */
void bench_server_count(const char *name, const volatile unsigned long long *n);

/* Accepts one connection from the listening fd: non-blocking, TCP_NODELAY. Returns the fd,
 * or -1 when the backlog is empty (EAGAIN) or the peer already went away. */
int bench_accept(int listen_fd);

/* Sets TCP_NODELAY and O_NONBLOCK on a socket accepted by some other means (libuv). */
void bench_tune_socket(int fd);

/* The value of "--<name> V" on the command line, or fallback. */
const char *bench_arg(int argc, char **argv, const char *name, const char *fallback);

/* Dies with a message: for the servers' "cannot happen" paths. */
void bench_die(const char *what);

/* ---- the raw-socket echo of the peer servers ------------------------------------------------
 * libuv's uv_poll, libevent and libev differ in how they report readiness, not in what a
 * server does with it, so that part is written once, here. (The rasio rows echo through
 * rasio_sock_*, uv-tcp through libuv's streams, and the floor is hand-written on purpose.)
 * Single-threaded: every connection reads into one shared 64 KiB buffer, and only the
 * unwritten tail of a short write is copied, into a buffer of the connection's own. */

enum { BENCH_ECHO_IDLE, BENCH_ECHO_BLOCKED, BENCH_ECHO_CLOSE };

typedef struct bench_echo {
  int fd;
  char *tail; /* the unwritten bytes tail[off..off+len); allocated at the first short write */
  size_t off, len;
} bench_echo_t;

/* Reads and echoes. until_eagain false (level-triggered): a short read ends the pass, as the
 * socket is reported again if anything, data or EOF, is left. true (edge-triggered): only
 * EAGAIN may end it. Returns IDLE (drained), BLOCKED (a tail waits for writability: read
 * nothing more until bench_echo_flush says IDLE) or CLOSE (EOF or an error). */
int bench_echo_pump(bench_echo_t *e, int until_eagain);

/* Writes out the waiting tail: IDLE when none is left, else BLOCKED or CLOSE. */
int bench_echo_flush(bench_echo_t *e);

#endif
