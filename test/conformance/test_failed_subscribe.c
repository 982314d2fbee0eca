/* SPDX-License-Identifier: BSD-2-Clause */
/* A subscription that fails leaves nothing behind (rasio.h: "On error nothing was created"):
 * no notification ever comes for it, the descriptor is not held as subscribed, and it can be
 * subscribed again. kqueue registers one filter per direction, so a READ|WRITE subscription
 * can fail half-way (its write filter refuses a regular file: "Note that this filter is not
 * supported for vnodes"), and the half that was registered must be undone, since the failed
 * event's memory is freed at once. On epoll an ADD fails as a whole; the tests assert the
 * same outcome there, where they show that nothing is reported for a failed subscription.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"
#include "rec_util.h"

#define ALL_MODES {0, RASIO_ONESHOT, RASIO_LEVEL}

/* The error rasio_event_new gives for a regular file: the kernel cannot watch it (POSIX),
 * or it is not a socket (Windows). */
#ifdef _WIN32
#define FILE_ERROR RASIO_EBADF
#else
#define FILE_ERROR RASIO_ENOTSUP
#endif

static int subscribe(rasio_loop_t *loop, rasio_fd_t fd, uint32_t flags, th_rec_t *rec,
                     rasio_event_t **ev) {
  rasio_event_opts_t o = {.fd = fd, .flags = flags, .notify = th_rec_notify, .ctx = rec};
  *ev = (rasio_event_t *)&o; /* must be overwritten, with NULL on failure */
  int rc = rasio_event_new(loop, &o, ev);
  if (rc != 0) CHECK(*ev == NULL);
  return rc;
}

/* A regular file with data to read: every direction set and mode fails with the same error,
 * and nothing is reported afterwards. (Before kqueue.c refused vnodes, READ|WRITE left its
 * read filter registered, naming the freed event, and it fired: the file has data.) */
TEST(failed_subscribe_regular_file_reports_nothing) {
  static const uint32_t modes[] = ALL_MODES;
  static const uint32_t dirs[] = {RASIO_READ | RASIO_WRITE, RASIO_READ, RASIO_WRITE};
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  char data[4096];
  memset(data, 'x', sizeof data);
  rasio_fd_t file = th_file_fd_holding(data, sizeof data);
  for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
      rasio_event_t *ev;
      CHECK_ERR(subscribe(loop, file, dirs[d] | modes[m], rec, &ev), FILE_ERROR);
      /* The same again: nothing was left that would make it EEXIST. */
      CHECK_ERR(subscribe(loop, file, dirs[d] | modes[m], rec, &ev), FILE_ERROR);
    }
  }
  th_sleep_ms(th_scaled_ms(3 * WAIT_QUIET_MS));
  CHECK_EQ(th_rec_count(rec, NULL, 0), 0);
  th_loop_end(loop);
  th_close_other(file);
  rec_free(rec);
}

/* Waits for WRITE on ev, then disposes it (the recorder fails the test if anything comes
 * after DISPOSED). */
static void expect_write_then_dispose(th_rec_t *rec, rasio_event_t *ev) {
  CHECK(th_rec_wait(rec, ev, RASIO_WRITE, 1, WAIT_LONG_MS));
  th_dispose(rec, ev);
}

/* One attempt at READ|WRITE on a pipe's write end: whichever way it goes, it goes cleanly.
 * If it is accepted, WRITE comes (the pipe has room, or its reader is gone, which writing
 * will tell) and it disposes. If it is refused, nothing is reported and the refusal
 * repeats (not EEXIST: nothing was left registered); then, if want_write_ok, a WRITE-only
 * subscription of the same descriptor is accepted and reports WRITE. */
static void attempt_both(rasio_loop_t *loop, rasio_fd_t wr, uint32_t mode, bool want_write_ok) {
  th_rec_t *rec = rec_new(true);
  rasio_event_t *ev;
  int rc = subscribe(loop, wr, RASIO_READ | RASIO_WRITE | mode, rec, &ev);
  if (rc == 0) {
    expect_write_then_dispose(rec, ev);
  } else {
    CHECK_NE(rc, RASIO_EEXIST);
    th_sleep_ms(th_scaled_ms(WAIT_QUIET_MS));
    CHECK_EQ(th_rec_count(rec, NULL, 0), 0);
    CHECK_ERR(subscribe(loop, wr, RASIO_READ | RASIO_WRITE | mode, rec, &ev), rc);
    if (want_write_ok) {
      CHECK_OK(subscribe(loop, wr, RASIO_WRITE | mode, rec, &ev));
      expect_write_then_dispose(rec, ev);
    }
  }
  rec_free(rec);
}

/* A pipe's write end, its reader open, then closed: READ on a write end and WRITE on a
 * widowed pipe are what a kernel may refuse for one direction only (FreeBSD refuses the
 * write filter of a widowed pipe with EPIPE). Every mode; the loop keeps working. */
TEST(failed_subscribe_pipe_write_end_is_clean) {
  if (!th_fds_are_ints())
    SKIP("pipes are not sockets here: rasio_event_new refuses them (EBADF) before any "
         "kernel registration (test_args covers that)");
  static const uint32_t modes[] = ALL_MODES;
  rasio_loop_t *loop = started_loop();
  rasio_fd_t rd, wr;
  th_pipe(&rd, &wr);
  size_t n = sizeof modes / sizeof modes[0];
  for (size_t m = 0; m < n; m++) attempt_both(loop, wr, modes[m], true);
  th_close_other(rd);
  for (size_t m = 0; m < n; m++) attempt_both(loop, wr, modes[m], false);
  th_loop_end(loop);
  th_close_other(wr);
}
