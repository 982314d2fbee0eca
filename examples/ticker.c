/* SPDX-License-Identifier: BSD-2-Clause */
/* ticker: a repeating timer, Ctrl+C (SIGINT) and standard input on one loop.
 *
 * Shows: the three events that are not sockets, all inline on the loop thread: a TIMER
 * re-armed from its own notification, a SIGNAL event (rasio installs the handler; the
 * notification runs on the loop, not in signal context) and a STDIN event (lines echoed).
 * And a clean exit: on SIGINT or at the end of input every event is unsubscribed and
 * destroyed at its DISPOSED; RUN_QUIET then returns, as nothing noisy is left.
 * SIGINT works on Windows too: rasio maps it to the CRT's signal(), which Ctrl+C raises.
 *
 * Run:   ticker [INTERVAL_MS]          (default 1000)
 *        Prints "tick N" every interval and "echo: LINE" per input line; stop it with
 *        Ctrl+C or by ending the input (Ctrl+D; Ctrl+Z then Enter on Windows).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "rasio.h"

typedef struct app {
  rasio_event_t *timer, *sigint, *input; /* NULL once destroyed */
  uint64_t interval_ns;
  unsigned ticks;
  char line[1024];
  size_t used;
} app_t;

/* Idempotent: unsubscribe may be called again, and events gone already are skipped. */
static void stop(app_t *a, const char *why) {
  printf("stopping: %s\n", why);
  rasio_event_t *evs[] = {a->timer, a->sigint, a->input};
  for (int i = 0; i < 3; i++)
    if (evs[i] != NULL) (void)rasio_event_unsubscribe(evs[i]);
}

/* The last notification of every event: forget it and free it. */
static void disposed(app_t *a, rasio_event_t *ev) {
  if (a->timer == ev) a->timer = NULL;
  if (a->sigint == ev) a->sigint = NULL;
  if (a->input == ev) a->input = NULL;
  (void)rasio_event_destroy(ev);
}

static void on_timer(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  app_t *a = ctx;
  if (flags & RASIO_DISPOSED) {
    disposed(a, ev);
    return;
  }
  printf("tick %u\n", ++a->ticks);
  (void)rasio_event_set_nsec(ev, a->interval_ns); /* ESTATE once stopping: fine */
}

static void on_sigint(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg; /* how many SIGINTs were coalesced into this notification */
  if (flags & RASIO_DISPOSED) {
    disposed(ctx, ev);
    return;
  }
  stop(ctx, "SIGINT");
}

static void echo_line(app_t *a) {
  if (a->used > 0 && a->line[a->used - 1] == '\r') a->used--; /* a Windows console's CRLF */
  printf("echo: %.*s\n", (int)a->used, a->line);
  a->used = 0;
}

/* Level-triggered: one read per notification; the loop asks again while input waits. */
static void on_stdin(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  app_t *a = ctx;
  if (flags & RASIO_DISPOSED) {
    disposed(a, ev);
    return;
  }
  char buf[512];
  size_t n;
  int rc = rasio_stdin_read(ev, buf, sizeof buf, &n);
  if (rc == RASIO_EAGAIN) return; /* nothing after all */
  if (rc != 0 || n == 0) {
    if (a->used > 0) echo_line(a); /* a last line without its newline */
    stop(a, rc != 0 ? rasio_strerror(rc) : "end of input");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (buf[i] != '\n') a->line[a->used++] = buf[i];
    if (buf[i] == '\n' || a->used == sizeof a->line) echo_line(a);
  }
}

int main(int argc, char **argv) {
  /* Unbuffered, so each line shows at once: stdout is "fully buffered if and only if the
   * stream can be determined not to refer to an interactive device" (C11 7.21.3). */
  (void)setvbuf(stdout, NULL, _IONBF, 0);
  app_t a = {.interval_ns = (argc > 1 ? strtoull(argv[1], NULL, 10) : 1000) * 1000000u};
  if (a.interval_ns == 0) a.interval_ns = 1000000000u;
  rasio_loop_t *loop;
  int rc = rasio_loop_new(NULL, &loop);
  /* Every event is noisy: RUN_QUIET runs until all three are destroyed. */
  rasio_event_opts_t t = {
      .flags = RASIO_TIMER, .nsec = a.interval_ns, .noisy = true, .notify = on_timer, .ctx = &a};
  rasio_event_opts_t s = {
      .flags = RASIO_SIGNAL, .nsec = SIGINT, .noisy = true, .notify = on_sigint, .ctx = &a};
  rasio_event_opts_t in = {.flags = RASIO_STDIN | RASIO_READ | RASIO_LEVEL,
                           .noisy = true,
                           .notify = on_stdin,
                           .ctx = &a};
  if (rc == 0) rc = rasio_event_new(loop, &t, &a.timer);
  if (rc == 0) rc = rasio_event_new(loop, &s, &a.sigint); /* the handler is installed now */
  if (rc == 0) rc = rasio_event_new(loop, &in, &a.input);
  if (rc != 0) {
    fprintf(stderr, "ticker: %s\n", rasio_strerror(rc));
    return 1;
  }
  printf("ticking every %u ms\n", (unsigned)(a.interval_ns / 1000000u));
  rc = rasio_loop_run(loop, RASIO_RUN_QUIET);
  if (rc == 0) rc = rasio_loop_free(loop); /* EBUSY if an event were left: none is */
  printf("bye\n");
  return rc == 0 ? 0 : 1;
}
