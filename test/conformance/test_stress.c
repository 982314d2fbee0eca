/* SPDX-License-Identifier: BSD-2-Clause */
/* Stress: the lifecycle under churn, on every backend.
 *
 * Written for the Windows providers first (PSN's REMOVE is the only proof that no packet
 * will name a registration again; the AFD provider cancels a pending poll and synthesises
 * REMOVE), but nothing here is Windows-specific: every backend must keep these promises.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

#define CYCLES 10000
#define CONNECTIONS 10000
#define BATCH 50
#define DEADLINE_MS 120000u

/* --- subscribe / unsubscribe cycles while the peer sends --------------------------------- */

typedef struct cycle {
  atomic_uint notes, disposed, after_disposed;
} cycle_t;

typedef struct peer {
  rasio_fd_t fd;
  atomic_bool stop;
} peer_t;

static void *peer_main(void *arg) {
  peer_t *p = arg;
  static const char chunk[512];
  while (!atomic_load(&p->stop)) {
    if (th_send(p->fd, chunk, sizeof chunk) <= 0) th_sleep_ms(1);
  }
  return NULL;
}

/* Reads through rasio until RETRY (the portable edge rule); stops at the stream's end. */
static void drain(rasio_event_t *ev) {
  char buf[4096];
  size_t n;
  while (rasio_sock_recv(ev, buf, sizeof buf, &n) == RASIO_IO_OK) continue;
}

static void cycle_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  cycle_t *c = ctx;
  if (atomic_load(&c->disposed) != 0) {
    atomic_fetch_add(&c->after_disposed, 1); /* ev was destroyed: never touch it */
    return;
  }
  if (flags & RASIO_DISPOSED) {
    CHECK_OK(rasio_event_destroy(ev));
    atomic_store(&c->disposed, 1);
    return;
  }
  atomic_fetch_add(&c->notes, 1);
  if (flags & RASIO_READ) drain(ev);
}

static void await_disposed(cycle_t *c, uint64_t deadline) {
  while (atomic_load(&c->disposed) == 0) {
    if (th_now_ms() > deadline) rt_fail(__FILE__, __LINE__, "no DISPOSED");
    th_sleep_ms(0);
  }
}

/* Every mode, and unsubscribes both before and after the first notification, so a
 * registration is removed while a report is pending, delivered, or being re-armed. */
TEST_T(stress_subscribe_unsubscribe_cycles_while_peer_sends, 300) {
  static const uint32_t modes[] = {RASIO_READ | RASIO_ONESHOT, RASIO_READ,
                                   RASIO_READ | RASIO_LEVEL,
                                   RASIO_READ | RASIO_WRITE | RASIO_ONESHOT};
  rasio_loop_t *loop = th_loop();
  CHECK_OK(rasio_loop_start(loop));
  peer_t p = {0};
  rasio_fd_t fd;
  th_tcp_pair(&fd, &p.fd);
  pthread_t t = th_thread_start(peer_main, &p);
  cycle_t *cycles = calloc(CYCLES, sizeof *cycles);
  CHECK(cycles != NULL);
  uint64_t deadline = th_now_ms() + DEADLINE_MS;
  for (int i = 0; i < CYCLES; i++) {
    rasio_event_t *ev;
    rasio_event_opts_t o = {.fd = fd, .flags = modes[i % 4], .notify = cycle_notify,
                            .ctx = &cycles[i]};
    CHECK_OK(rasio_event_new(loop, &o, &ev));
    if (i % 3 == 0) th_sleep_ms(0); /* give a report the chance to be on its way */
    CHECK_OK(rasio_event_unsubscribe(ev));
    await_disposed(&cycles[i], deadline);
  }
  atomic_store(&p.stop, true);
  th_thread_join(t);
  th_sleep_ms(100); /* anything still in flight would land now */
  unsigned after = 0, notes = 0;
  for (int i = 0; i < CYCLES; i++) {
    after += atomic_load(&cycles[i].after_disposed);
    notes += atomic_load(&cycles[i].notes);
  }
  CHECK_EQ(after, 0);
  CHECK_GT(notes, 0); /* the peer's data was seen, so reports really were in flight */
  free(cycles);
  th_close(fd);
  th_close(p.fd);
  th_loop_end(loop);
}

/* --- connection churn keeps the handle count flat ---------------------------------------- */

typedef struct churn {
  rasio_loop_t *loop;
  rasio_event_t *listener;
  atomic_uint accepted, connected, disposed, listener_gone;
} churn_t;

static void churn_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx);

/* A server-side socket: subscribed (so its teardown goes through the backend), then let go. */
static void serve(churn_t *ch, rasio_fd_t fd) {
  rasio_event_t *ev;
  rasio_event_opts_t o = {.fd = fd, .flags = RASIO_READ | RASIO_ONESHOT, .own_fd = true,
                          .notify = churn_notify, .ctx = ch};
  CHECK_OK(rasio_event_new(ch->loop, &o, &ev));
  CHECK_OK(rasio_event_unsubscribe(ev));
  atomic_fetch_add(&ch->accepted, 1);
}

static void churn_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  churn_t *ch = ctx;
  if (flags & RASIO_DISPOSED) {
    CHECK_OK(rasio_event_destroy(ev));
    atomic_fetch_add(ev == ch->listener ? &ch->listener_gone : &ch->disposed, 1);
    return;
  }
  if (ev == ch->listener) {
    rasio_fd_t fd;
    while (rasio_sock_accept(ev, &fd, NULL) == RASIO_IO_OK) serve(ch, fd);
    return;
  }
  if (flags & RASIO_WRITE) { /* a client's connect completed */
    CHECK_EQ(rasio_sock_error(rasio_event_fd(ev)), 0);
    atomic_fetch_add(&ch->connected, 1);
    CHECK_OK(rasio_event_unsubscribe(ev));
  }
}

static void await_count(atomic_uint *n, unsigned want, uint64_t deadline, const char *what) {
  while (atomic_load(n) < want) {
    if (th_now_ms() > deadline)
      rt_fail(__FILE__, __LINE__, "%s: %u of %u", what, atomic_load(n), want);
    th_sleep_ms(1);
  }
}

/* Runs one batch of BATCH connections to completion: connected, accepted, all disposed. */
static void churn_batch(churn_t *ch, const char *port, unsigned done, uint64_t deadline) {
  rasio_event_opts_t tmpl = {.flags = RASIO_WRITE | RASIO_ONESHOT, .notify = churn_notify,
                             .ctx = ch};
  for (int i = 0; i < BATCH; i++) {
    rasio_event_t *ev;
    CHECK_EQ(rasio_sock_connect_tcp(ch->loop, "127.0.0.1", port, RASIO_AF_INET4, &tmpl, &ev, 1),
             1);
  }
  await_count(&ch->connected, done + BATCH, deadline, "connected");
  await_count(&ch->accepted, done + BATCH, deadline, "accepted");
  await_count(&ch->disposed, 2 * (done + BATCH), deadline, "disposed");
}

TEST_T(stress_handle_count_flat_over_10000_connections, 300) {
  churn_t ch = {.loop = th_loop()};
  rasio_fd_t lfd;
  rasio_addr_t bound;
  CHECK_OK(rasio_sock_listen_tcp("127.0.0.1", "0", RASIO_AF_INET4, &lfd, &bound));
  char port[8];
  CHECK_GT(rasio_addr_port(&bound), 0);
  snprintf(port, sizeof port, "%u", (unsigned)rasio_addr_port(&bound));
  rasio_event_opts_t lo = {.fd = lfd, .flags = RASIO_READ, .own_fd = true,
                           .notify = churn_notify, .ctx = &ch};
  CHECK_OK(rasio_event_new(ch.loop, &lo, &ch.listener));
  CHECK_OK(rasio_loop_start(ch.loop));
  uint64_t deadline = th_now_ms() + DEADLINE_MS;
  churn_batch(&ch, port, 0, deadline); /* warm-up: lazily made handles exist from here on */
  long before = th_open_handles();
  if (before < 0) SKIP("this platform cannot count its open handles");
  for (unsigned done = BATCH; done < CONNECTIONS; done += BATCH)
    churn_batch(&ch, port, done, deadline);
  th_sleep_ms(50);
  long after = th_open_handles();
  /* A few handles of the OS's own (thread pools, caches) may come and go; a leak of one
   * per connection would be thousands. */
  CHECK_LE(after, before + 8);
  CHECK_OK(rasio_event_unsubscribe(ch.listener));
  await_count(&ch.listener_gone, 1, deadline, "listener disposed");
  th_loop_end(ch.loop);
}
