/* SPDX-License-Identifier: BSD-2-Clause */
/* udp_echo: a UDP echo server on rasio's net layer.
 *
 * Shows: rasio_udp_bind, the `received` callback with the sender's address, and
 * rasio_udp_send's three outcomes (sent, RETRY: the kernel had no room now, ERROR: this
 * datagram alone failed). UDP may drop datagrams anyway, so this server drops on RETRY.
 *
 * Run:   udp_echo [PORT [HOST]]        (defaults: 0 = any free port, 127.0.0.1)
 *        The first line of output is "listening on HOST:PORT". Stop it with Ctrl+C.
 * Try:   nc -u 127.0.0.1 PORT
 */
#include <stdio.h>

#include "rasio.h"

/* Runs on the loop thread (inline executor). data is valid only during the call. */
static void received(rasio_udp_t *u, const void *data, size_t len, const rasio_addr_t *from) {
  if (rasio_udp_send(u, data, len, from) == RASIO_IO_ERROR)
    fprintf(stderr, "udp_echo: send: %s\n", rasio_strerror(rasio_sock_last_error()));
}

static void closed(rasio_udp_t *u) {
  (void)u; /* after this returns rasio frees the socket object */
}

int main(int argc, char **argv) {
  const char *port = argc > 1 ? argv[1] : "0";
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";
  rasio_loop_t *loop;
  int rc = rasio_loop_new(NULL, &loop);
  if (rc != 0) {
    fprintf(stderr, "udp_echo: rasio_loop_new: %s\n", rasio_strerror(rc));
    return 1;
  }
  static const rasio_udp_cb_t cb = {.received = received, .closed = closed};
  rasio_udp_opts_t opts = {.cb = &cb};
  rasio_udp_t *udp;
  rc = rasio_udp_bind(loop, host, port, RASIO_AF_ANY, &opts, &udp);
  if (rc != 0) {
    fprintf(stderr, "udp_echo: cannot bind %s port %s: %s\n", host, port, rasio_strerror(rc));
    return 1;
  }
  rasio_addr_t addr;
  char text[64] = "?";
  if (rasio_udp_addr(udp, &addr) == 0) (void)rasio_addr_format(&addr, text, sizeof text);
  printf("listening on %s\n", text);
  fflush(stdout); /* a pipe is fully buffered: whoever reads the port needs it now */

  /* The socket is noisy: RUN_QUIET runs until it is gone (here: until the process ends). */
  rc = rasio_loop_run(loop, RASIO_RUN_QUIET);
  if (rc == 0) rc = rasio_loop_free(loop);
  return rc == 0 ? 0 : 1;
}
