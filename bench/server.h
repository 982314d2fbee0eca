/* The part every benchmark echo server shares, whatever library it is written with.
 *
 * A server is one program per library: bench/echo_<library>.c, with --mode choosing among
 * its variants (rasio: oneshot, edge, level...). Its contract, which bench/run.sh relies on:
 *   <server> [--port N] [--mode M] listen on 127.0.0.1:N (0 or absent: any free port)
 *   stdout, line 1:  "backend <library> <backend the library chose>"
 *   stdout, line 2:  "listening <port>"
 *   on SIGTERM or SIGINT: prints "rusage <user s> <sys s> <max rss KiB>" and exits 0.
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

/* Accepts one connection from the listening fd: non-blocking, TCP_NODELAY. Returns the fd,
 * or -1 when the backlog is empty (EAGAIN) or the peer already went away. */
int bench_accept(int listen_fd);

/* Sets TCP_NODELAY and O_NONBLOCK on a socket accepted by some other means (libuv). */
void bench_tune_socket(int fd);

/* The value of "--<name> V" on the command line, or fallback. */
const char *bench_arg(int argc, char **argv, const char *name, const char *fallback);

/* Dies with a message: for the servers' "cannot happen" paths. */
void bench_die(const char *what);

#endif
