/* SPDX-License-Identifier: BSD-2-Clause */
/* Helpers shared by the test suites: portable loopback sockets, threads, child processes,
 * a notification recorder and loop set-up. Socket and process helpers fail the test
 * (rt_fail) on unexpected errors, so tests stay short. The portable part is helpers.c, the
 * per-OS one helpers_posix.c and helpers_win.c.
 */
#ifndef RASIO_TEST_HELPERS_H
#define RASIO_TEST_HELPERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "rasio.h"

/* --- sockets (all non-blocking, loopback IPv4) ------------------------------------------ */

/* A connected TCP pair over 127.0.0.1, both ends non-blocking with TCP_NODELAY. */
void th_tcp_pair(rasio_fd_t *a, rasio_fd_t *b);
/* A non-blocking TCP listener on 127.0.0.1 with an ephemeral port (written to *port). */
rasio_fd_t th_listener(uint16_t *port);
/* Accepts one pending connection (non-blocking child) or returns RASIO_INVALID_FD. */
rasio_fd_t th_accept(rasio_fd_t listener);
/* A non-blocking socket whose connect to 127.0.0.1:port has been started. */
rasio_fd_t th_connect_start(uint16_t port);
/* A loopback port on which nothing listens right now. */
uint16_t th_closed_port(void);
/* A non-blocking UDP socket bound to 127.0.0.1:ephemeral (port written to *port). */
rasio_fd_t th_udp(uint16_t *port);
long th_udp_send(rasio_fd_t fd, uint16_t port, const void *buf, size_t len);

/* send: bytes sent, 0 if it would block, -1 on error. */
long th_send(rasio_fd_t fd, const void *buf, size_t len);
/* recv: bytes (> 0), 0 at end of stream, -1 if it would block, -2 on error (e.g. reset). */
long th_recv(rasio_fd_t fd, void *buf, size_t len);
/* Receives until it would block or the stream ends; returns the bytes read. */
size_t th_drain(rasio_fd_t fd);
/* Sends until the socket would block; returns the bytes queued. */
size_t th_fill(rasio_fd_t fd);
void th_shutdown_wr(rasio_fd_t fd);
void th_close(rasio_fd_t fd);
/* Abortive close: SO_LINGER {1, 0} then close, so the peer sees a reset. */
void th_close_rst(rasio_fd_t fd);
/* SO_ERROR of the socket (0 = no error), as the OS's own code. */
int th_so_error(rasio_fd_t fd);
/* A misuse, for the fuzzer: puts a fresh socket behind the number fd (which stays open)
 * and returns a duplicate of the socket fd had, which keeps that one alive. Done under a
 * live subscription, the kernel may go on reporting the old socket for the event (epoll
 * keys registrations by file, not number), and those reports outlive the event.
 * RASIO_INVALID_FD where it cannot be done (Windows: sockets have no dup2). */
rasio_fd_t th_swap_socket(rasio_fd_t fd);
/* A second descriptor for fd's socket, sharing its open file description (POSIX dup), or
 * RASIO_INVALID_FD where no such thing exists (Windows). */
rasio_fd_t th_dup(rasio_fd_t fd);
/* Are sockets small int descriptors (POSIX), rather than pointer-sized handles (Windows)? */
bool th_fds_are_ints(void);
/* Is fd an open descriptor of this process right now? (POSIX: fcntl F_GETFD) */
bool th_fd_open(rasio_fd_t fd);
/* Running under Wine (whose socket buffering differs from Windows in ways a few tests
 * cannot bound)? Always false on POSIX. */
bool th_under_wine(void);
/* Descriptors (POSIX) or handles (Windows) this process has open now; -1 if unknown. */
long th_open_handles(void);

/* Descriptors that are not sockets, for the bad-argument sweep: a regular file (a temporary
 * one, gone with its last close) and a pipe, as rasio_fd_t (a POSIX fd, a Windows HANDLE);
 * th_close_other closes either. th_closed_fd is a number that named a socket a moment ago
 * and names nothing now (POSIX: above the low numbers, so no new descriptor reuses it). */
rasio_fd_t th_file_fd(void);
/* The same, holding data[0, len) and positioned at its start (a file with something left to
 * read, which kqueue, unlike epoll, would accept and report). */
rasio_fd_t th_file_fd_holding(const void *data, size_t len);
void th_pipe(rasio_fd_t *rd, rasio_fd_t *wr);
void th_close_other(rasio_fd_t fd);
rasio_fd_t th_closed_fd(void);

/* --- time and threads ------------------------------------------------------------------ */

/* ms multiplied by RASIO_TEST_TIMEOUT_SCALE (slow hosts: valgrind, Wine). */
unsigned th_scaled_ms(unsigned ms);
void th_sleep_ms(unsigned ms);
uint64_t th_now_ms(void);
typedef void *(*th_thread_fn)(void *arg);
pthread_t th_thread_start(th_thread_fn fn, void *arg);
void th_thread_join(pthread_t t);

/* --- loops ----------------------------------------------------------------------------- */

/* rasio_loop_new for the run's backend (rt_backend()); fails the test on error. */
rasio_loop_t *th_loop(void);
/* Stops (if running) and frees the loop, checking both succeed, so a test that leaves an
 * event undestroyed fails here (the libuv "valgrind happy" idea). */
void th_loop_end(rasio_loop_t *loop);

/* --- child processes with a chosen stdin --------------------------------------------------
 *
 * A test can run one of this program's scenarios (check.h's SCENARIO) in a child process
 * whose standard input is a pipe this side feeds, a regular file or the null device: the
 * only portable way to give rasio's stdin code a particular stdin. The child re-executes
 * this program the way the runner does (rt_child_cmd: same backend, same wrapper); its
 * stdout and stderr are this process's, so what it prints lands in the test's output; its
 * verdict is its exit status (0 pass, 1 rt_fail, 77 skip). It also has a one-way channel
 * back to this side (th_child_signal), for handshakes such as "subscribed, feed me now".
 * Every timeout below is scaled with th_scaled_ms. */

typedef enum th_stdin {
  TH_STDIN_PIPE = 1, /* a pipe: th_child_write feeds it, th_child_close_stdin ends it */
  TH_STDIN_FILE,     /* a temporary regular file holding data[0, len), read from its start */
  TH_STDIN_NULL      /* the null device (/dev/null, NUL): end of input at once */
} th_stdin_t;

/* The helpers' own bookkeeping; tests only pass it around. */
typedef struct th_child {
  char scenario[64];
  intptr_t process; /* a pid, or a process HANDLE */
  intptr_t in;      /* the write end of its stdin pipe; -1 when there is none (any more) */
  intptr_t channel; /* the receiving end of its signals: a pipe's read end, a semaphore */
} th_child_t;

/* Starts `prog --run=scenario [--arg=arg]` (arg may be NULL) with stdin as `in` says (data
 * and len only for TH_STDIN_FILE). Fails the test if it cannot. One thread at a time: on
 * POSIX a descriptor made here is close-on-exec only a moment after it exists, and a
 * concurrent spawn could inherit it. */
th_child_t *th_child_start(const char *scenario, const char *arg, th_stdin_t in,
                           const void *data, size_t len);
/* Writes all of buf to the child's stdin pipe, blocking while the pipe is full. False if
 * the child stopped reading (it exited: th_child_finish tells why). */
bool th_child_write(th_child_t *c, const void *buf, size_t len);
/* Closes the write end: the child reads the end of input once the pipe is empty. */
void th_child_close_stdin(th_child_t *c);
/* Waits for one th_child_signal of the child; false if it exited first or timeout_ms
 * passed. Each signal satisfies one wait. */
bool th_child_wait_signal(th_child_t *c, unsigned timeout_ms);
/* In the child: signals the parent (nothing if this process was not started by
 * th_child_start, e.g. run by hand). */
void th_child_signal(void);
/* Closes stdin, waits up to timeout_ms for the child to exit (killing it then) and frees c.
 * Returns its exit status, or -1 with why (crash, timeout) written to why[0, cap). */
int th_child_end(th_child_t *c, unsigned timeout_ms, char *why, size_t cap);
/* th_child_end, then the child's verdict becomes the test's: returns if it passed, skips
 * if it skipped, fails the test otherwise (the child's own output says why). */
void th_child_finish(th_child_t *c, unsigned timeout_ms);

/* --- notification recorder --------------------------------------------------------------- */

#define TH_REC_MAX 4096

typedef struct th_note {
  rasio_event_t *ev;
  uint32_t flags;
  uint32_t arg;
  uint64_t at_ms;
} th_note_t;

/* A thread-safe log of notifications. Use th_rec_notify as the notify function with the
 * recorder as ctx. On DISPOSED it destroys the event when auto_destroy is set. It fails the
 * test if any notification arrives for an event after its DISPOSED. */
typedef struct th_rec {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t n;
  th_note_t notes[TH_REC_MAX];
  bool auto_destroy;
} th_rec_t;

void th_rec_init(th_rec_t *r);
void th_rec_fini(th_rec_t *r);
void th_rec_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx);
/* Notifications for ev (NULL = any event) whose flags intersect mask (0 = any). */
size_t th_rec_count(th_rec_t *r, rasio_event_t *ev, uint32_t mask);
/* Waits until th_rec_count(r, ev, mask) >= n; false on timeout. */
bool th_rec_wait(th_rec_t *r, rasio_event_t *ev, uint32_t mask, size_t n, unsigned timeout_ms);
/* OR of every flag recorded for ev. */
uint32_t th_rec_flags(th_rec_t *r, rasio_event_t *ev);
/* Flags of the last notification for ev (0 if none). */
uint32_t th_rec_last(th_rec_t *r, rasio_event_t *ev);

/* Unsubscribes ev, waits for its DISPOSED in r (which must auto_destroy, or else this
 * destroys it), failing the test on timeout. */
void th_dispose(th_rec_t *r, rasio_event_t *ev);

#endif
