/* SPDX-License-Identifier: BSD-2-Clause */
/* The debugging aids (rasio.h): the log receiver, RASIO_DEBUG's stderr default, the
 * backend choice it names, and rasio_loop_dump's list of live events.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* fileno, dup, dup2 */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <io.h> /* _dup, _dup2 */
#define dup _dup
#define dup2 _dup2
#define fileno _fileno
#else
#include <unistd.h>
#endif

#include "check.h"
#include "helpers.h"
#include "rec_util.h"

#include "runner.h" /* rt_os_setenv */

typedef struct logbuf {
  char text[16384];
  size_t len;
  unsigned lines;
} logbuf_t;

static void capture(const char *line, void *ctx) {
  logbuf_t *b = ctx;
  int n = snprintf(b->text + b->len, sizeof b->text - b->len, "%s\n", line);
  if (n > 0 && b->len + (size_t)n < sizeof b->text) b->len += (size_t)n;
  b->lines++;
}

/* An unknown backend name: the log says which name failed, why, and what the build has. */
TEST(debug_log_names_backend_choice_and_failure) {
  static logbuf_t b;
  rasio_set_log(capture, &b);
  rasio_loop_opts_t bogus = {.backend = "bogus"};
  rasio_loop_t *loop = NULL;
  CHECK_ERR(rasio_loop_new(&bogus, &loop), RASIO_ENOBACKEND);
  printf("%s", b.text);
  CHECK(strstr(b.text, "'bogus'") != NULL);
  CHECK(strstr(b.text, "ENOBACKEND") != NULL);
  CHECK(strstr(b.text, "this build has:") != NULL);
  b.len = 0;
  b.text[0] = '\0';
  loop = th_loop();
  char want[64];
  snprintf(want, sizeof want, "backend %s chosen", rasio_loop_backend(loop));
  printf("%s", b.text);
  CHECK(strstr(b.text, want) != NULL);
  rasio_set_log(NULL, NULL);
  th_loop_end(loop);
}

static void quiet_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  (void)ctx;
  if (flags & RASIO_DISPOSED) CHECK_OK(rasio_event_destroy(ev));
}

/* The dump lists a subscribed socket and a pending timer by their ctx, and counts them. */
TEST(debug_loop_dump_lists_live_events) {
  static logbuf_t b;
  static char sock_ctx, timer_ctx;
  rasio_loop_t *loop = th_loop();
  rasio_fd_t a, c;
  th_tcp_pair(&a, &c);
  rasio_event_opts_t so = {.fd = a, .flags = RASIO_READ, .noisy = true,
                           .notify = quiet_notify, .ctx = &sock_ctx};
  rasio_event_opts_t to = {.flags = RASIO_TIMER, .nsec = MS(60000), .interval = MS(1000),
                           .notify = quiet_notify, .ctx = &timer_ctx};
  rasio_event_t *sev, *tev;
  CHECK_OK(rasio_event_new(loop, &so, &sev));
  CHECK_OK(rasio_event_new(loop, &to, &tev));
  rasio_set_log(capture, &b);
  CHECK_OK(rasio_loop_dump(loop));
  rasio_set_log(NULL, NULL);
  printf("%s", b.text);
  char want[96];
  CHECK(strstr(b.text, "2 events alive, 1 noisy") != NULL);
  snprintf(want, sizeof want, "ctx=%p", (void *)&sock_ctx);
  CHECK(strstr(b.text, want) != NULL);
  snprintf(want, sizeof want, "ctx=%p", (void *)&timer_ctx);
  CHECK(strstr(b.text, want) != NULL);
  CHECK(strstr(b.text, "interval 1000 ms") != NULL);
  CHECK(strstr(b.text, "0 not listed") != NULL);
  CHECK_OK(rasio_event_unsubscribe(sev));
  CHECK_OK(rasio_event_unsubscribe(tev));
  uint64_t end = th_now_ms() + th_scaled_ms(WAIT_LONG_MS);
  while (rasio_loop_noisy(loop) > 0 && th_now_ms() < end)
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  for (int i = 0; i < 5; i++) CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
  th_close(a);
  th_close(c);
  th_loop_end(loop);
}

/* Without a receiver, RASIO_DEBUG=1 sends the lines to stderr (captured here through a
 * temporary file behind descriptor 2); RASIO_DEBUG=0 silences them. */
static size_t stderr_of_bogus_loop(const char *debug, char *out, size_t cap) {
  CHECK_EQ(rt_os_setenv("RASIO_DEBUG", debug), 0);
  FILE *f = tmpfile();
  CHECK(f != NULL);
  fflush(stderr);
  int saved = dup(2);
  CHECK(saved >= 0);
  CHECK(dup2(fileno(f), 2) >= 0);
  rasio_loop_opts_t bogus = {.backend = "bogus"};
  rasio_loop_t *loop = NULL;
  int rc = rasio_loop_new(&bogus, &loop);
  fflush(stderr);
  CHECK(dup2(saved, 2) >= 0);
  CHECK_EQ(rc, RASIO_ENOBACKEND);
  rewind(f);
  size_t n = fread(out, 1, cap - 1, f);
  out[n] = '\0';
  fclose(f);
  return n;
}

TEST(debug_env_sends_log_to_stderr) {
  static char text[4096];
  stderr_of_bogus_loop("1", text, sizeof text);
  printf("stderr with RASIO_DEBUG=1: %s", text);
  CHECK(strstr(text, "rasio: no backend: 'bogus'") != NULL);
  CHECK_EQ(stderr_of_bogus_loop("0", text, sizeof text), 0);
}
