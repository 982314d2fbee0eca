/* SPDX-License-Identifier: BSD-2-Clause */
/* chat: a chat room. Every line a client sends goes to every other client.
 *
 * Shows actors: the listener is an inline event on the loop thread; each accepted socket
 * goes to one of WORKERS threads, which owns it from then on: its event notifies that
 * worker's mailbox (rasio_mailbox_*) and only that thread touches it. A line reaches other
 * workers as a message posted to their mailboxes, never through shared state. Also: the
 * socket layer (rasio_sock_accept/recv/send) and an event's end (unsubscribe, DISPOSED).
 * Threads are POSIX threads (mingw's winpthreads on Windows).
 *
 * Run:   chat [PORT [HOST]]   (0 = any free port, the default; 127.0.0.1). The first line
 *        of output is "listening on HOST:PORT". Try nc 127.0.0.1 PORT in two terminals.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rasio.h"

#define WORKERS 2

typedef struct client client_t;
typedef struct worker {
  rasio_mailbox_t *mb;
  client_t *clients; /* touched by this worker's thread only */
} worker_t;

struct client {
  worker_t *w;
  rasio_event_t *ev;
  rasio_fd_t fd;
  unsigned id;
  size_t used;
  char line[512]; /* the line being read; a longer one is cut */
  client_t *next;
};

typedef struct message { /* one line, for one worker */
  worker_t *to;
  unsigned from; /* the sender's id: it gets no copy (its client_t may be gone by now) */
  char text[];   /* NUL-terminated */
} message_t;

static rasio_loop_t *loop;
static worker_t workers[WORKERS];

/* Ends a client (its worker's thread): off the list now, freed at DISPOSED. */
static void drop(client_t *c) {
  client_t **p = &c->w->clients;
  while (*p != c) p = &(*p)->next;
  *p = c->next;
  (void)rasio_event_unsubscribe(c->ev); /* closes the socket (own_fd) before DISPOSED */
}

/* A client that cannot take a line now is dropped: a real broker would queue it and wait
 * for WRITE, within a limit. */
static void send_to(client_t *c, const char *text, size_t len) {
  size_t sent;
  if (rasio_sock_send(c->ev, text, len, &sent) != RASIO_IO_OK || sent != len) drop(c);
}

static void deliver(void *arg) { /* a message_t, on its worker's thread */
  message_t *m = arg;
  for (client_t *c = m->to->clients, *next; c != NULL; c = next) {
    next = c->next; /* send_to may drop c */
    if (c->id != m->from) send_to(c, m->text, strlen(m->text));
  }
  free(m);
}

static void broadcast(const client_t *from, const char *line, size_t len) {
  char text[600];
  int n = snprintf(text, sizeof text, "[%u] %.*s\n", from->id, (int)len, line);
  for (int i = 0; i < WORKERS; i++) {
    message_t *m = malloc(sizeof *m + (size_t)n + 1);
    if (m == NULL) continue;
    *m = (message_t){.to = &workers[i], .from = from->id};
    memcpy(m->text, text, (size_t)n + 1);
    if (rasio_mailbox_post(workers[i].mb, deliver, m) != 0) free(m);
  }
}

static void take(client_t *c, const char *data, size_t len) {
  for (size_t i = 0; i < len; i++) {
    bool end = data[i] == '\n';
    if (!end && data[i] != '\r') c->line[c->used++] = data[i];
    if (end || c->used == sizeof c->line) {
      broadcast(c, c->line, c->used);
      c->used = 0;
    }
  }
}

/* Every notification of a client's event, on its worker's thread (the mailbox). */
static void client_event(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  client_t *c = ctx;
  if (flags & RASIO_DISPOSED) {
    (void)rasio_event_destroy(ev);
    free(c);
    return;
  }
  char buf[4096];
  size_t n = 0;
  int r = RASIO_IO_OK;
  /* Persistent edge: read until the socket is empty (RETRY, or a short read). */
  while ((flags & RASIO_READ) && r == RASIO_IO_OK && n < sizeof buf)
    if ((r = rasio_sock_recv(ev, buf, sizeof buf, &n)) == RASIO_IO_OK) take(c, buf, n);
  if (r == RASIO_IO_ERROR || (flags & RASIO_ERROR)) drop(c); /* the peer left, or a failure */
}

static void client_add(void *arg) { /* on the chosen worker's thread */
  client_t *c = arg;
  rasio_event_opts_t o = {.fd = c->fd,
                          .flags = RASIO_READ,
                          .own_fd = true,
                          .notify = client_event,
                          .ctx = c,
                          .mailbox = c->w->mb};
  if (rasio_event_new(loop, &o, &c->ev) != 0) {
    (void)rasio_sock_close(c->fd);
    free(c);
    return;
  }
  c->next = c->w->clients;
  c->w->clients = c;
  char hello[64];
  send_to(c, hello, (size_t)snprintf(hello, sizeof hello, "welcome, you are %u\n", c->id));
}

/* The listener's notifications, on the loop thread. Level-triggered: a connection left
 * in the backlog (e.g. out of descriptors) is announced again. */
static void on_listener(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg, (void)ctx;
  static unsigned ids;
  rasio_fd_t fd;
  while ((flags & RASIO_READ) && rasio_sock_accept(ev, &fd, NULL) == RASIO_IO_OK) {
    client_t *c = calloc(1, sizeof *c);
    if (c != NULL) *c = (client_t){.w = &workers[ids % WORKERS], .fd = fd, .id = ids + 1};
    ids++;
    if (c == NULL || rasio_mailbox_post(c->w->mb, client_add, c) != 0) {
      (void)rasio_sock_close(fd);
      free(c);
    }
  }
}

static void *worker_main(void *arg) { /* drains its mailbox until the process ends */
  worker_t *w = arg;
  for (;;)
    if (rasio_mailbox_wait(w->mb, UINT64_MAX) == 0) (void)rasio_mailbox_drain(w->mb, 0);
  return NULL;
}

int main(int argc, char **argv) {
  const char *port = argc > 1 ? argv[1] : "0";
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";
  rasio_fd_t fd = RASIO_INVALID_FD;
  rasio_addr_t bound;
  rasio_event_t *listener;
  int rc = rasio_loop_new(NULL, &loop);
  pthread_t t;
  for (int i = 0; rc == 0 && i < WORKERS; i++)
    if ((rc = rasio_mailbox_new(&workers[i].mb)) == 0 &&
        pthread_create(&t, NULL, worker_main, &workers[i]) != 0)
      rc = RASIO_ENOMEM;
  if (rc == 0) rc = rasio_sock_listen_tcp(host, port, RASIO_AF_ANY, &fd, &bound);
  rasio_event_opts_t o = {.fd = fd,
                          .flags = RASIO_READ | RASIO_LEVEL,
                          .own_fd = true,
                          .noisy = true,
                          .notify = on_listener};
  if (rc == 0 && (rc = rasio_event_new(loop, &o, &listener)) != 0) (void)rasio_sock_close(fd);
  if (rc != 0) {
    fprintf(stderr, "chat: cannot start on %s port %s: %s\n", host, port, rasio_strerror(rc));
    return 1;
  }
  char text[64] = "?";
  (void)rasio_addr_format(&bound, text, sizeof text);
  printf("listening on %s\n", text);
  fflush(stdout); /* a pipe is fully buffered: whoever reads the port needs it now */
  return rasio_loop_run(loop, RASIO_RUN_DEFAULT) == 0 ? 0 : 1; /* runs until killed */
}
