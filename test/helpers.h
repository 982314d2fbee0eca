/* Helpers shared by the test suites: portable loopback sockets, threads, a notification
 * recorder and loop set-up. Socket helpers fail the test (rt_fail) on unexpected errors, so
 * tests stay short. POSIX implementation in helpers_posix.c; a Windows one sits beside it.
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
/* Is fd an open descriptor of this process right now? (POSIX: fcntl F_GETFD) */
bool th_fd_open(rasio_fd_t fd);
/* Running under Wine (whose socket buffering differs from Windows in ways a few tests
 * cannot bound)? Always false on POSIX. */
bool th_under_wine(void);
/* Descriptors (POSIX) or handles (Windows) this process has open now; -1 if unknown. */
long th_open_handles(void);

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
