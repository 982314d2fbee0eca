/* SPDX-License-Identifier: BSD-2-Clause */
/* tcp_echo: a TCP echo server on rasio's net layer.
 *
 * Shows: a loop, a listener (rasio_tcp_listen), per-connection callbacks installed in
 * `accepted`, writes with backpressure (mute a peer that does not read its echoes), and
 * the net layer's ownership rule: rasio frees a connection after its `closed` callback.
 *
 * Run:   tcp_echo [PORT [HOST]]        (defaults: 0 = any free port, 127.0.0.1)
 *        The first line of output is "listening on HOST:PORT". Stop it with Ctrl+C.
 * Try:   nc 127.0.0.1 PORT
 */
#include <stdio.h>
#include <stdlib.h>

#include "rasio.h"

/* Every callback below runs on the loop thread (the inline executor: no mailbox). */

static bool conn_received(rasio_tcp_t *c, const void *data, size_t len) {
  /* Copies the bytes; what the kernel does not take now is queued. A failed write has
   * already closed the connection (its `closed` ran), so there is nothing to undo. */
  (void)rasio_tcp_write(c, data, len);
  return true;
}

/* Backpressure: a peer that sends but does not read would make the queue grow without
 * bound; stop reading from it until the queue drains. */
static void conn_throttled(rasio_tcp_t *c) { rasio_tcp_mute(c); }
static void conn_unthrottled(rasio_tcp_t *c) { rasio_tcp_unmute(c); }

static void conn_closed(rasio_tcp_t *c) {
  (void)c; /* rasio frees the connection after this returns: drop every pointer to it */
}

static const rasio_tcp_cb_t conn_cb = {
    .received = conn_received,
    .throttled = conn_throttled,
    .unthrottled = conn_unthrottled,
    .closed = conn_closed,
};

static bool accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  (void)l;
  rasio_tcp_set_callbacks(c, &conn_cb, NULL);
  (void)rasio_sock_set_nodelay(rasio_tcp_fd(c), true); /* echoes should not wait */
  return true;
}

static void listener_closed(rasio_tcp_listener_t *l) {
  (void)l;
  fprintf(stderr, "tcp_echo: the listener failed\n");
}

int main(int argc, char **argv) {
  const char *port = argc > 1 ? argv[1] : "0";
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";
  rasio_loop_t *loop;
  int rc = rasio_loop_new(NULL, &loop);
  if (rc != 0) {
    fprintf(stderr, "tcp_echo: rasio_loop_new: %s\n", rasio_strerror(rc));
    return 1;
  }
  static const rasio_tcp_listener_cb_t listener_cb = {.accepted = accepted,
                                                      .closed = listener_closed};
  rasio_tcp_listener_opts_t opts = {.cb = &listener_cb};
  rasio_tcp_listener_t *listener;
  rc = rasio_tcp_listen(loop, host, port, RASIO_AF_ANY, &opts, &listener);
  if (rc != 0) {
    fprintf(stderr, "tcp_echo: cannot listen on %s port %s: %s\n", host, port, rasio_strerror(rc));
    return 1;
  }
  rasio_addr_t addr;
  char text[64] = "?";
  if (rasio_tcp_listener_addr(listener, &addr) == 0)
    (void)rasio_addr_format(&addr, text, sizeof text);
  printf("listening on %s\n", text);
  /* stdout is "fully buffered if and only if the stream can be determined not to refer to
   * an interactive device" (C11 7.21.3): through a pipe, whoever reads the port needs it now. */
  fflush(stdout);

  /* RUN_QUIET: run while a noisy object lives; the listener is one, so this runs until
   * the process is stopped (or the listener fails and its connections end). */
  rc = rasio_loop_run(loop, RASIO_RUN_QUIET);
  if (rc == 0) rc = rasio_loop_free(loop);
  return rc == 0 ? 0 : 1;
}
