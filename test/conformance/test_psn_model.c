/* SPDX-License-Identifier: BSD-2-Clause */
/* Failures injected into the psn-model provider (src/backend/afd.c, strict): what the
 * Windows backend must do when ProcessSocketNotifications fails as a whole call ("nothing
 * changed") or for one entry. Whatever fails, an unsubscribed event is disposed within a
 * bounded time, the loop can stop and be freed, no packet reaches a disposed event, and a
 * socket rasio owns is closed. These run on the psn-model backend only (they skip, saying
 * so, on every other one); the rest of the suite runs on it unchanged.
 */
#include <string.h>

#include "sock_fixture.h"

#ifdef _WIN32
/* The provider's test seam, as src/backend/win.h declares it (the suite sees only the
 * public API otherwise): ops are SOCK_NOTIFY_OP_ENABLE (1) and _REMOVE (4). */
void rasio__psn_model_fail(unsigned char op, int how, unsigned count);
enum { OP_ENABLE = 1, OP_REMOVE = 4, FAIL_CALL = 1, FAIL_ENTRY = 2 };
#define FAIL(op, how, count) rasio__psn_model_fail((op), (how), (count))
#else
enum { OP_ENABLE, OP_REMOVE, FAIL_CALL, FAIL_ENTRY };
#define FAIL(op, how, count) ((void)(op), (void)(how), (void)(count))
#endif

#define ALWAYS 0xFFFFFFFFu

static void require_model(void) {
  const char *be = rt_backend();
  if (be == NULL || strcmp(be, "psn-model") != 0)
    SKIP("injects failures into the psn-model provider; this run's backend is %s",
         be != NULL ? be : "the default");
}

/* Subscribes f->fd (edge READ) without own_fd when owned is false. */
static void sub_owned(fix_t *f, bool owned) {
  f->ev = NULL;
  CHECK_OK(rasio_event_new(f->loop,
                           &(rasio_event_opts_t){.fd = f->fd, .flags = RASIO_READ,
                                                 .own_fd = owned, .notify = th_rec_notify,
                                                 .ctx = &f->rec},
                           &f->ev));
}

/* The socket can be subscribed again on the same loop and hears data: the failed REMOVE
 * left no registration behind that would swallow it (a registration keeps its first key). */
static void resubscribe_hears(fix_t *f) {
  sub_owned(f, true);
  put(f->peer, 3);
  await_n(f, RASIO_READ, 1);
}

/* REMOVE fails as a whole call `fails` times, then works: the backend tries again later,
 * the registration is removed for real, and DISPOSED comes. */
static void remove_call_fails(unsigned fails) {
  require_model();
  fix_t f;
  fix_init(&f);
  sub_owned(&f, false);
  FAIL(OP_REMOVE, FAIL_CALL, fails);
  th_dispose(&f.rec, f.ev);
  FAIL(OP_REMOVE, FAIL_CALL, 0);
  resubscribe_hears(&f);
  fix_close(&f);
}

TEST(psn_model_remove_call_fails_once_then_disposes) { remove_call_fails(1); }

TEST(psn_model_remove_call_fails_five_times_then_disposes) { remove_call_fails(5); }

/* REMOVE never works. An owned socket is closed (closesocket deregisters it) and the event
 * disposed; the loop stops and frees. */
TEST(psn_model_remove_call_always_fails_owned_socket_is_closed) {
  require_model();
  fix_t f;
  fix_open(&f, RASIO_READ);
  rasio_fd_t fd = f.fd;
  FAIL(OP_REMOVE, FAIL_CALL, ALWAYS);
  th_dispose(&f.rec, f.ev);
  FAIL(OP_REMOVE, FAIL_CALL, 0);
  CHECK(!th_fd_open(fd));
  f.ev = NULL;
  fix_close(&f);
}

/* The same with a socket the owner keeps: the event is disposed all the same, and the
 * loop is freed although the kernel (the model) still holds the registration. */
TEST(psn_model_remove_call_always_fails_unowned_socket_still_disposes) {
  require_model();
  fix_t f;
  fix_init(&f);
  sub_owned(&f, false);
  FAIL(OP_REMOVE, FAIL_CALL, ALWAYS);
  th_dispose(&f.rec, f.ev);
  FAIL(OP_REMOVE, FAIL_CALL, 0);
  put(f.peer, 3); /* the kept registration may report: it names a released token */
  th_sleep_ms(QUIET_MS);
  f.ev = NULL;
  fix_close(&f);
  th_close(f.fd);
}

/* REMOVE fails for the entry (the registration vanished, and the model sends one late
 * packet as "already-queued notifications might still be delivered"): the backend's own
 * REMOVE disposes the event; the late packet reaches nobody (th_rec fails the test on a
 * notification after DISPOSED). */
TEST(psn_model_remove_entry_fails_disposes_and_late_packet_is_dropped) {
  require_model();
  fix_t f;
  fix_init(&f);
  sub_owned(&f, false);
  FAIL(OP_REMOVE, FAIL_ENTRY, 1);
  th_dispose(&f.rec, f.ev);
  th_sleep_ms(QUIET_MS);
  resubscribe_hears(&f);
  fix_close(&f);
}

/* ENABLE fails at subscription: rasio_event_new reports it and nothing is left behind;
 * the next subscription of the same socket works. */
static void enable_fails_at_subscribe(int how) {
  require_model();
  fix_t f;
  fix_init(&f);
  rasio_event_t *ev = (rasio_event_t *)&f; /* must be reset to NULL */
  FAIL(OP_ENABLE, how, 1);
  int rc = rasio_event_new(f.loop,
                           &(rasio_event_opts_t){.fd = f.fd, .flags = RASIO_READ,
                                                 .notify = th_rec_notify, .ctx = &f.rec},
                           &ev);
  FAIL(OP_ENABLE, how, 0);
  CHECK(rc != 0);
  CHECK(ev == NULL);
  resubscribe_hears(&f);
  fix_close(&f);
}

TEST(psn_model_enable_call_fails_at_subscribe) { enable_fails_at_subscribe(FAIL_CALL); }

TEST(psn_model_enable_entry_fails_at_subscribe) { enable_fails_at_subscribe(FAIL_ENTRY); }

/* An edge event's re-arm after would-block fails: the owner, about to wait, hears
 * RASIO_ERROR instead of waiting forever. */
static void enable_fails_at_rearm(int how) {
  require_model();
  fix_t f;
  fix_open(&f, RASIO_READ);
  put(f.peer, 4);
  await_n(&f, RASIO_READ, 1);
  char buf[16];
  size_t count = 0;
  CHECK_EQ(rasio_sock_recv(f.ev, buf, 4, &count), RASIO_IO_OK);
  FAIL(OP_ENABLE, how, 1);
  CHECK_EQ(rasio_sock_recv(f.ev, buf, sizeof buf, &count), RASIO_IO_RETRY);
  FAIL(OP_ENABLE, how, 0);
  await_n(&f, RASIO_ERROR, 1);
  fix_close(&f);
}

TEST(psn_model_enable_call_fails_at_rearm_reports_error) { enable_fails_at_rearm(FAIL_CALL); }

TEST(psn_model_enable_entry_fails_at_rearm_reports_error) { enable_fails_at_rearm(FAIL_ENTRY); }

/* A oneshot resubscribe that cannot arm says so to its caller. */
TEST(psn_model_enable_fails_at_resubscribe_returns_error) {
  require_model();
  fix_t f;
  fix_open(&f, RASIO_READ | RASIO_ONESHOT);
  put(f.peer, 4);
  await_n(&f, RASIO_READ, 1);
  CHECK_EQ(th_drain(f.fd), 4);
  rasio_event_set_readable(f.ev, false);
  FAIL(OP_ENABLE, FAIL_CALL, 1);
  CHECK(rasio_event_resubscribe_read(f.ev) != 0);
  FAIL(OP_ENABLE, FAIL_CALL, 0);
  CHECK_OK(rasio_event_resubscribe_read(f.ev)); /* nothing was armed: it arms now */
  put(f.peer, 4);
  await_n(&f, RASIO_READ, 2);
  fix_close(&f);
}
