/* SPDX-License-Identifier: BSD-2-Clause */
/* Event lifecycle and misuse (DESIGN §2 "Lifecycle"): unsubscribe is idempotent and is
 * followed by exactly one DISPOSED, the last notification; destroy only after DISPOSED; own_fd
 * closes the socket before DISPOSED; stale readiness never reaches a reused fd; noisy events
 * keep the loop alive until destroyed; misuse returns an error code, never a crash or a hang.
 */
#include <stdlib.h>

#include "sock_fixture.h"

/* ---- a counting owner ------------------------------------------------------------------
 * Unlike the recorder it has no cap (level events and floods notify thousands of times) and it
 * checks the core rule itself: exactly one DISPOSED and nothing after it. It destroys the
 * event inside its DISPOSED notification, as real owners do. */

typedef enum { ON_READ_COUNT, ON_READ_DRAIN, ON_READ_UNSUBSCRIBE } on_read_t;

typedef struct owner {
  rasio_fd_t fd;
  on_read_t on_read;
  atomic_uint reads, disposed, after_disposed;
  atomic_bool unsubscribed;      /* set just before this owner's own unsubscribe */
  atomic_uint after_unsubscribe; /* notifications other than DISPOSED after it */
  atomic_int fd_open_at_disposed;
  atomic_int destroy_rc;
} owner_t;

static void owner_init(owner_t *o, rasio_fd_t fd, on_read_t on_read) {
  o->fd = fd;
  o->on_read = on_read;
  atomic_init(&o->reads, 0);
  atomic_init(&o->disposed, 0);
  atomic_init(&o->after_disposed, 0);
  atomic_init(&o->unsubscribed, false);
  atomic_init(&o->after_unsubscribe, 0);
  atomic_init(&o->fd_open_at_disposed, -1);
  atomic_init(&o->destroy_rc, 1);
}

/* Reads at most 1 MiB: a notify must return even if the peer writes faster than it reads. */
static void drain_some(rasio_fd_t fd) {
  char buf[16384];
  for (int i = 0; i < 64 && th_recv(fd, buf, sizeof buf) > 0; i++) {
  }
}

static void owner_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  owner_t *o = ctx;
  (void)arg;
  if (atomic_load(&o->disposed) > 0) {
    atomic_fetch_add(&o->after_disposed, 1); /* never touch ev: it was destroyed */
    return;
  }
  if (flags & RASIO_DISPOSED) {
    CHECK_EQ(flags, RASIO_DISPOSED);
    atomic_store(&o->fd_open_at_disposed, th_fd_open(o->fd));
    atomic_store(&o->destroy_rc, rasio_event_destroy(ev));
    atomic_fetch_add(&o->disposed, 1);
    return;
  }
  if (atomic_load(&o->unsubscribed)) atomic_fetch_add(&o->after_unsubscribe, 1);
  if (flags & RASIO_READ) {
    atomic_fetch_add(&o->reads, 1);
    if (o->on_read == ON_READ_DRAIN) {
      drain_some(o->fd);
      /* The edge owner's re-arm hint (a no-op on epoll; how an edge-emulating backend
       * learns the owner drained). It may race this test's own unsubscribe: ESTATE then. */
      rasio_event_set_readable(ev, false);
      (void)rasio_event_resubscribe_read(ev);
    }
    if (o->on_read == ON_READ_UNSUBSCRIBE && !atomic_exchange(&o->unsubscribed, true))
      CHECK_OK(rasio_event_unsubscribe(ev));
  }
}

static rasio_event_t *owner_sub(rasio_loop_t *loop, owner_t *o, uint32_t flags, bool own_fd,
                                rasio_mailbox_t *mb) {
  rasio_event_t *ev = NULL;
  CHECK_OK(rasio_event_new(loop,
                           &(rasio_event_opts_t){.fd = o->fd, .flags = flags, .own_fd = own_fd,
                                                 .notify = owner_notify, .ctx = o,
                                                 .mailbox = mb},
                           &ev));
  return ev;
}

static bool wait_count(atomic_uint *v, unsigned want, unsigned ms) {
  uint64_t deadline = th_now_ms() + ms;
  while (atomic_load(v) < want) {
    if (th_now_ms() >= deadline) return false;
    th_sleep_ms(1);
  }
  return true;
}
#define AWAIT_COUNT(v, want) CHECK(wait_count(&(v), (want), WAIT_MS))

/* Exactly one DISPOSED, nothing after it, and the destroy inside it succeeded. */
static void owner_check_disposed(owner_t *o) {
  CHECK_EQ(atomic_load(&o->disposed), 1);
  CHECK_EQ(atomic_load(&o->after_disposed), 0);
  CHECK_EQ(atomic_load(&o->destroy_rc), 0);
}

/* ---- a peer that floods ---------------------------------------------------------------- */

typedef struct flood {
  rasio_fd_t fd;
  atomic_bool stop;
  pthread_t thread;
} flood_t;

static void *flood_main(void *arg) {
  flood_t *fl = arg;
  char buf[4096];
  memset(buf, 'f', sizeof buf);
  while (!atomic_load(&fl->stop)) {
    long n = th_send(fl->fd, buf, sizeof buf);
    if (n < 0) break;           /* the subscribed end is gone */
    if (n == 0) th_sleep_ms(1); /* full: let the reader catch up */
  }
  return NULL;
}

static void flood_start(flood_t *fl, rasio_fd_t fd) {
  fl->fd = fd;
  atomic_init(&fl->stop, false);
  fl->thread = th_thread_start(flood_main, fl);
}

static void flood_stop(flood_t *fl) {
  atomic_store(&fl->stop, true);
  th_thread_join(fl->thread);
}

/* ---- unsubscribe and DISPOSED ---------------------------------------------------------- */

TEST(lifecycle_unsubscribe_idle_event_disposed_once) {
  fix_t f;
  fix_open(&f, RASIO_READ);
  CHECK_OK(rasio_event_unsubscribe(f.ev));
  await_n(&f, RASIO_DISPOSED, 1);
  stays(&f, 0, 1);
  CHECK_EQ(th_rec_last(&f.rec, f.ev), RASIO_DISPOSED);
  CHECK_EQ(f.rec.notes[0].arg, 0);
  f.ev = NULL; /* the recorder destroyed it */
  fix_close(&f);
}

TEST(lifecycle_unsubscribe_during_flood_disposed_last) {
  /* Edge READ, the notify reads, a writer thread floods all through the unsubscribe.
   * own_fd is off so the notify may read until DISPOSED; the test closes the fd after. */
  rasio_loop_t *loop = th_loop();
  CHECK_OK(rasio_loop_start(loop));
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  owner_t o;
  owner_init(&o, a, ON_READ_DRAIN);
  rasio_event_t *ev = owner_sub(loop, &o, RASIO_READ, false, NULL);
  flood_t fl;
  flood_start(&fl, b);
  AWAIT_COUNT(o.reads, 5);
  CHECK_OK(rasio_event_unsubscribe(ev));
  AWAIT_COUNT(o.disposed, 1);
  th_sleep_ms(QUIET_MS); /* the flood goes on: still nothing after DISPOSED */
  owner_check_disposed(&o);
  CHECK_EQ(atomic_load(&o.fd_open_at_disposed), 1);
  th_close(a); /* ends the flood: the writer sees the reset */
  flood_stop(&fl);
  th_close(b);
  th_loop_end(loop);
}

TEST(lifecycle_unsubscribe_while_level_firing_disposed_last) {
  /* Unread data on a level event: the loop notifies on every turn while the test thread
   * unsubscribes. */
  rasio_loop_t *loop = th_loop();
  CHECK_OK(rasio_loop_start(loop));
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  owner_t o;
  owner_init(&o, a, ON_READ_COUNT);
  rasio_event_t *ev = owner_sub(loop, &o, RASIO_READ | RASIO_LEVEL, true, NULL);
  put(b, 10);
  AWAIT_COUNT(o.reads, 50);
  CHECK_OK(rasio_event_unsubscribe(ev));
  AWAIT_COUNT(o.disposed, 1);
  th_sleep_ms(QUIET_MS);
  owner_check_disposed(&o);
  th_close(b);
  th_loop_end(loop);
}

TEST(lifecycle_unsubscribe_inside_notify_disposed_last) {
  rasio_loop_t *loop = th_loop();
  CHECK_OK(rasio_loop_start(loop));
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  owner_t o;
  owner_init(&o, a, ON_READ_UNSUBSCRIBE);
  owner_sub(loop, &o, RASIO_READ | RASIO_LEVEL, true, NULL);
  put(b, 10);
  AWAIT_COUNT(o.disposed, 1);
  th_sleep_ms(QUIET_MS);
  owner_check_disposed(&o);
  CHECK_GE(atomic_load(&o.reads), 1);
  th_close(b);
  th_loop_end(loop);
}

TEST(lifecycle_double_unsubscribe_one_disposed) {
  fix_t f;
  fix_open(&f, RASIO_READ);
  f.rec.auto_destroy = false; /* the event must outlive DISPOSED for the third call */
  CHECK_OK(rasio_event_unsubscribe(f.ev));
  CHECK_OK(rasio_event_unsubscribe(f.ev));
  await_n(&f, RASIO_DISPOSED, 1);
  CHECK_OK(rasio_event_unsubscribe(f.ev)); /* after DISPOSED, before destroy */
  stays(&f, 0, 1);
  CHECK_OK(rasio_event_destroy(f.ev));
  f.ev = NULL;
  fix_close(&f);
}

/* ---- destroy, re-arm and set_nsec in the wrong state ----------------------------------- */

TEST(lifecycle_destroy_before_disposed_is_estate) {
  fix_t f;
  fix_open(&f, RASIO_READ);
  CHECK_ERR(rasio_event_destroy(f.ev), RASIO_ESTATE);
  /* Refused means untouched: the event still works. */
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  fix_close(&f);
}

TEST(lifecycle_mailbox_destroy_before_disposed_runs_is_estate) {
  /* DISPOSED is queued but the owner has not run it yet: freeing the event now would leave
   * the queued node dangling, so destroy must refuse. */
  fix_t f;
  rasio_mailbox_t *mb = mailbox_fix_open(&f, RASIO_READ);
  f.rec.auto_destroy = false;
  CHECK_OK(rasio_event_unsubscribe(f.ev));
  CHECK_OK(rasio_mailbox_wait(mb, (uint64_t)WAIT_MS * 1000000u)); /* DISPOSED queued */
  CHECK_ERR(rasio_event_destroy(f.ev), RASIO_ESTATE);
  pump_until(mb, &f.rec, f.ev, RASIO_DISPOSED, 1);
  CHECK_OK(rasio_event_destroy(f.ev));
  f.ev = NULL;
  mailbox_fix_close(&f, mb);
}

TEST(lifecycle_mailbox_unsubscribe_discards_queued_read) {
  /* A READ sits in the mailbox when its owner unsubscribes on the draining thread: the
   * owner must receive nothing but DISPOSED afterwards. */
  fix_t f;
  rasio_mailbox_t *mb = mailbox_fix_open(&f, RASIO_READ);
  put(f.peer, 10);
  CHECK_OK(rasio_mailbox_wait(mb, (uint64_t)WAIT_MS * 1000000u)); /* the READ is queued */
  CHECK_OK(rasio_event_unsubscribe(f.ev));
  pump_until(mb, &f.rec, f.ev, RASIO_DISPOSED, 1);
  pump_quiet(mb);
  CHECK_EQ(th_rec_count(&f.rec, f.ev, 0), 1);
  f.ev = NULL;
  mailbox_fix_close(&f, mb);
}

TEST(lifecycle_resubscribe_after_unsubscribe_is_estate) {
  fix_t f;
  fix_open(&f, RASIO_READ | RASIO_WRITE | RASIO_ONESHOT);
  f.rec.auto_destroy = false;
  rasio_event_set_readable(f.ev, false);
  rasio_event_set_writeable(f.ev, false);
  CHECK_OK(rasio_event_unsubscribe(f.ev));
  CHECK_ERR(rasio_event_resubscribe_read(f.ev), RASIO_ESTATE);
  CHECK_ERR(rasio_event_resubscribe_write(f.ev), RASIO_ESTATE);
  CHECK_ERR(rasio_event_resubscribe(f.ev), RASIO_ESTATE);
  await_n(&f, RASIO_DISPOSED, 1);
  CHECK_ERR(rasio_event_resubscribe(f.ev), RASIO_ESTATE);
  CHECK_OK(rasio_event_destroy(f.ev));
  f.ev = NULL;
  fix_close(&f);
}

TEST(lifecycle_set_nsec_on_socket_event_is_einval) {
  fix_t f;
  fix_open(&f, RASIO_READ);
  CHECK_ERR(rasio_event_set_nsec(f.ev, 1000000), RASIO_EINVAL);
  fix_close(&f);
}

TEST(lifecycle_resubscribe_on_timer_event_is_einval) {
  fix_t f;
  fix_init_loop(&f);
  CHECK_OK(rasio_event_new(f.loop,
                           &(rasio_event_opts_t){.fd = RASIO_INVALID_FD, .flags = RASIO_TIMER,
                                                 .nsec = 3600ull * 1000000000ull,
                                                 .notify = th_rec_notify, .ctx = &f.rec},
                           &f.ev));
  CHECK_ERR(rasio_event_resubscribe_read(f.ev), RASIO_EINVAL);
  CHECK_ERR(rasio_event_resubscribe_write(f.ev), RASIO_EINVAL);
  CHECK_ERR(rasio_event_resubscribe(f.ev), RASIO_EINVAL);
  fix_close(&f);
}

/* ---- rasio_event_new refusals: an error code, nothing created, the fd untouched ---------- */

/* rasio_event_new must fail with want; nothing may be created (a noisy event would count). */
static void new_fails(rasio_loop_t *loop, rasio_fd_t fd, uint32_t flags, rasio_notify_fn fn,
                      int want) {
  rasio_event_t *ev = NULL;
  th_rec_t *unused = NULL;
  int rc = rasio_event_new(loop,
                           &(rasio_event_opts_t){.fd = fd, .flags = flags, .noisy = true,
                                                 .own_fd = true, .notify = fn, .ctx = unused},
                           &ev);
  if (rc != want)
    rt_fail(__FILE__, __LINE__, "rasio_event_new(flags 0x%x): got %d (%s), want %d (%s)",
            (unsigned)flags, rc, rasio_err_name(rc), want, rasio_err_name(want));
  CHECK_EQ(rasio_loop_noisy(loop), 0);
}

TEST(lifecycle_invalid_fd_is_ebadf) {
  rasio_loop_t *loop = th_loop();
  new_fails(loop, RASIO_INVALID_FD, RASIO_READ, th_rec_notify, RASIO_EBADF);
  th_loop_end(loop);
}

TEST(lifecycle_closed_fd_is_ebadf) {
  rasio_loop_t *loop = th_loop(); /* not started: no other thread opens descriptors */
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  th_close(a);
  new_fails(loop, a, RASIO_READ, th_rec_notify, RASIO_EBADF);
  th_close(b);
  th_loop_end(loop);
}

TEST(lifecycle_bad_flags_are_einval) {
  static const uint32_t bad[] = {
      0,
      1u << 20,
      0xFFFFFFFFu,
      RASIO_ONESHOT,                              /* no direction */
      RASIO_LEVEL,                                /* no direction */
      RASIO_READ | RASIO_ONESHOT | RASIO_LEVEL,   /* contradictory modes */
      RASIO_READ | RASIO_TIMER,
      RASIO_WRITE | RASIO_SIGNAL,
      RASIO_READ | RASIO_DISPOSED,                /* notification only */
      RASIO_READ | RASIO_ERROR,                   /* notification only */
      RASIO_STDIN | RASIO_WRITE,
      RASIO_STDIN | RASIO_READ | RASIO_WRITE,
  };
  rasio_loop_t *loop = th_loop();
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    new_fails(loop, a, bad[i], th_rec_notify, RASIO_EINVAL);
    CHECK(th_fd_open(a)); /* own_fd was set: a refused call must not close it */
  }
  th_close(a);
  th_close(b);
  th_loop_end(loop);
}

TEST(lifecycle_null_notify_is_einval) {
  rasio_loop_t *loop = th_loop();
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  new_fails(loop, a, RASIO_READ, NULL, RASIO_EINVAL);
  CHECK(th_fd_open(a));
  th_close(a);
  th_close(b);
  th_loop_end(loop);
}

TEST(lifecycle_null_arguments_are_einval) {
  rasio_loop_t *loop = th_loop();
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  rasio_event_opts_t opts = {.fd = a, .flags = RASIO_READ, .notify = th_rec_notify};
  rasio_event_t *ev = NULL;
  CHECK_ERR(rasio_event_new(NULL, &opts, &ev), RASIO_EINVAL);
  CHECK_ERR(rasio_event_new(loop, NULL, &ev), RASIO_EINVAL);
  CHECK_ERR(rasio_event_new(loop, &opts, NULL), RASIO_EINVAL);
  CHECK_ERR(rasio_event_resubscribe_read(NULL), RASIO_EINVAL);
  CHECK(!rasio_event_readable(NULL));
  CHECK(!rasio_event_writeable(NULL));
  th_close(a);
  th_close(b);
  th_loop_end(loop);
}

TEST(lifecycle_same_fd_twice_is_eexist) {
  fix_t f;
  fix_open(&f, RASIO_READ);
  new_fails(f.loop, f.fd, RASIO_READ, th_rec_notify, RASIO_EEXIST);
  CHECK(th_fd_open(f.fd));
  /* The first subscription is unaffected. */
  put(f.peer, 10);
  await_n(&f, RASIO_READ, 1);
  fix_close(&f);
}

TEST(lifecycle_fd_subscribable_again_after_disposed) {
  /* Two recorders: the second event may get the first one's address, and a recorder fails
   * anything it sees for an address after its DISPOSED. */
  static th_rec_t rec2;
  fix_t f;
  fix_init(&f);
  th_rec_init(&rec2);
  rec2.auto_destroy = true;
  rasio_event_opts_t opts = {.fd = f.fd, .flags = RASIO_READ, .notify = th_rec_notify,
                             .ctx = &f.rec};
  CHECK_OK(rasio_event_new(f.loop, &opts, &f.ev));
  th_dispose(&f.rec, f.ev);
  opts.ctx = &rec2;
  rasio_event_t *ev2 = NULL;
  CHECK_OK(rasio_event_new(f.loop, &opts, &ev2));
  put(f.peer, 10);
  CHECK(th_rec_wait(&rec2, ev2, RASIO_READ, 1, WAIT_MS));
  th_dispose(&rec2, ev2);
  th_rec_fini(&rec2);
  f.ev = NULL;
  th_close(f.fd); /* never handed over */
  fix_close(&f);
}

/* ---- own_fd ------------------------------------------------------------------------------ */

/* Subscribes an idle pair's end with or without own_fd, disposes it, and returns whether the
 * fd was open when DISPOSED ran. */
static bool fd_open_at_disposed(bool own_fd, rasio_fd_t *a, rasio_fd_t *b) {
  rasio_loop_t *loop = th_loop();
  CHECK_OK(rasio_loop_start(loop));
  th_tcp_pair(a, b);
  owner_t o;
  owner_init(&o, *a, ON_READ_COUNT);
  rasio_event_t *ev = owner_sub(loop, &o, RASIO_READ, own_fd, NULL);
  CHECK_OK(rasio_event_unsubscribe(ev));
  AWAIT_COUNT(o.disposed, 1);
  owner_check_disposed(&o);
  th_loop_end(loop);
  return atomic_load(&o.fd_open_at_disposed) == 1;
}

TEST(lifecycle_own_fd_closed_before_disposed) {
  rasio_fd_t a, b;
  CHECK(!fd_open_at_disposed(true, &a, &b));
  th_close(b);
}

TEST(lifecycle_without_own_fd_fd_stays_open) {
  rasio_fd_t a, b;
  CHECK(fd_open_at_disposed(false, &a, &b));
  CHECK(th_fd_open(a));
  put(a, 5); /* still a working socket */
  th_close(a);
  th_close(b);
}

/* The owner closes its socket under a live subscription (own_fd false) while the loop waits
 * on it: epoll drops the registration by itself, a pending AFD poll ends as LOCAL_CLOSE and
 * takes the provider's record with it. Nothing may be reported for the dead socket,
 * unsubscribe must still end in exactly one DISPOSED, and the number, free again, must
 * subscribe and report like any other. */
TEST(lifecycle_fd_closed_under_subscription_disposes_once) {
  for (int round = 0; round < 3; round++) {
    fix_t f;
    fix_init(&f);
    rasio_event_t *ev = NULL;
    CHECK_OK(rasio_event_new(f.loop,
                             &(rasio_event_opts_t){.fd = f.fd, .flags = RASIO_READ,
                                                   .notify = th_rec_notify, .ctx = &f.rec},
                             &ev));
    th_sleep_ms(20); /* the loop is blocked with the socket in its wait */
    th_close(f.fd);
    th_sleep_ms(20);
    th_dispose(&f.rec, ev);
    CHECK_EQ(th_rec_count(&f.rec, ev, 0), 1); /* DISPOSED, and nothing before it */

    rasio_fd_t peer;
    th_tcp_pair(&f.fd, &peer);
    fix_sub(&f, RASIO_READ);
    put(peer, 5);
    await_n(&f, RASIO_READ, 1);
    th_close(peer);
    fix_close(&f);
  }
}

/* ---- stale readiness and fd reuse ---------------------------------------------------------- */

enum { REUSE_ROUNDS = 50 };

/* Connects a new socket to the listener: th_connect_start makes exactly one descriptor, so
 * it takes the lowest free number, which is often the one just closed. */
static void reuse_pair(rasio_fd_t listener, uint16_t port, rasio_fd_t *c, rasio_fd_t *s) {
  *c = th_connect_start(port);
  uint64_t deadline = th_now_ms() + WAIT_MS;
  while ((*s = th_accept(listener)) == RASIO_INVALID_FD) {
    CHECK(th_now_ms() < deadline);
    th_sleep_ms(1);
  }
}

TEST_T(lifecycle_stale_readiness_never_reaches_reused_fd, 60) {
  /* Each round: event A (level READ, unread data, peer flooding, own_fd) is unsubscribed, so
   * rasio closes its fd while readiness is pending; a new socket that may reuse A's number
   * is subscribed as B. B must see nothing until its own peer writes, and A nothing after
   * its DISPOSED. B is created before A's DISPOSED in even rounds and after it in odd ones. */
  rasio_loop_t *loop = th_loop();
  CHECK_OK(rasio_loop_start(loop));
  uint16_t port;
  rasio_fd_t listener = th_listener(&port);
  owner_t *oa = calloc(REUSE_ROUNDS, sizeof *oa), *ob = calloc(REUSE_ROUNDS, sizeof *ob);
  CHECK(oa != NULL && ob != NULL);
  for (int i = 0; i < REUSE_ROUNDS; i++) {
    rasio_fd_t a, a_peer, c, c_peer;
    th_tcp_pair(&a, &a_peer);
    owner_init(&oa[i], a, ON_READ_COUNT);
    put(a_peer, 10);
    rasio_event_t *eva = owner_sub(loop, &oa[i], RASIO_READ | RASIO_LEVEL, true, NULL);
    flood_t fl;
    flood_start(&fl, a_peer);
    AWAIT_COUNT(oa[i].reads, 1);
    CHECK_OK(rasio_event_unsubscribe(eva));
    if (i % 2) AWAIT_COUNT(oa[i].disposed, 1);
    reuse_pair(listener, port, &c, &c_peer);
    owner_init(&ob[i], c, ON_READ_COUNT);
    rasio_event_t *evb = owner_sub(loop, &ob[i], RASIO_READ | RASIO_ONESHOT, true, NULL);
    AWAIT_COUNT(oa[i].disposed, 1);
    th_sleep_ms(20);
    CHECK_EQ(atomic_load(&ob[i].reads), 0); /* B's peer has not written */
    put(c_peer, 1);
    AWAIT_COUNT(ob[i].reads, 1);
    CHECK_OK(rasio_event_unsubscribe(evb));
    AWAIT_COUNT(ob[i].disposed, 1);
    flood_stop(&fl);
    th_close(a_peer);
    th_close(c_peer);
  }
  th_sleep_ms(QUIET_MS);
  for (int i = 0; i < REUSE_ROUNDS; i++) {
    owner_check_disposed(&oa[i]);
    owner_check_disposed(&ob[i]);
  }
  free(oa);
  free(ob);
  th_close(listener);
  th_loop_end(loop);
}

/* ---- noisy events and the loop's own lifecycle ---------------------------------------------- */

TEST(lifecycle_noisy_event_blocks_stop) {
  rasio_loop_t *loop = th_loop();
  th_rec_t rec;
  th_rec_init(&rec); /* no auto_destroy: th_dispose destroys on this thread, so the noisy
                        count is released before the next line */
  CHECK_OK(rasio_loop_start(loop));
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  rasio_event_t *ev = NULL;
  CHECK_OK(rasio_event_new(loop,
                           &(rasio_event_opts_t){.fd = a, .flags = RASIO_READ, .noisy = true,
                                                 .own_fd = true, .notify = th_rec_notify,
                                                 .ctx = &rec},
                           &ev));
  CHECK_EQ(rasio_loop_noisy(loop), 1);
  CHECK_ERR(rasio_loop_stop(loop), RASIO_EBUSY);
  /* Refused means still running. */
  put(b, 10);
  CHECK(th_rec_wait(&rec, ev, RASIO_READ, 1, WAIT_MS));
  th_dispose(&rec, ev);
  CHECK_EQ(rasio_loop_noisy(loop), 0);
  CHECK_OK(rasio_loop_stop(loop));
  th_close(b);
  th_loop_end(loop);
  th_rec_fini(&rec);
}

/* A started loop with a noisy READ event on a fresh pair (peer in *peer). */
static rasio_event_t *noisy_sub(rasio_loop_t *loop, th_rec_t *rec, rasio_fd_t *peer) {
  rasio_fd_t a;
  th_tcp_pair(&a, peer);
  rasio_event_t *ev = NULL;
  CHECK_OK(rasio_event_new(loop,
                           &(rasio_event_opts_t){.fd = a, .flags = RASIO_READ, .noisy = true,
                                                 .own_fd = true, .notify = th_rec_notify,
                                                 .ctx = rec},
                           &ev));
  return ev;
}

TEST(lifecycle_noisy_count_drops_at_destroy) {
  rasio_loop_t *loop = th_loop();
  th_rec_t rec;
  th_rec_init(&rec);
  CHECK_OK(rasio_loop_start(loop));
  rasio_fd_t p1, p2, a3, p3;
  rasio_event_t *n1 = noisy_sub(loop, &rec, &p1), *n2 = noisy_sub(loop, &rec, &p2);
  th_tcp_pair(&a3, &p3);
  rasio_event_t *quiet = sub_ev(loop, a3, RASIO_READ, th_rec_notify, &rec);
  CHECK_EQ(rasio_loop_noisy(loop), 2);
  /* DISPOSED does not release the count; destroy does. */
  CHECK_OK(rasio_event_unsubscribe(n1));
  CHECK(th_rec_wait(&rec, n1, RASIO_DISPOSED, 1, WAIT_MS));
  CHECK_EQ(rasio_loop_noisy(loop), 2);
  CHECK_ERR(rasio_loop_stop(loop), RASIO_EBUSY);
  CHECK_OK(rasio_event_destroy(n1));
  CHECK_EQ(rasio_loop_noisy(loop), 1);
  th_dispose(&rec, n2);
  CHECK_EQ(rasio_loop_noisy(loop), 0);
  th_dispose(&rec, quiet);
  th_close(p1);
  th_close(p2);
  th_close(p3);
  th_loop_end(loop);
  th_rec_fini(&rec);
}

static void *put_after_delay(void *arg) {
  th_sleep_ms(100);
  put(*(rasio_fd_t *)arg, 1);
  return NULL;
}

TEST(lifecycle_run_quiet_returns_after_noisy_destroyed) {
  /* The test thread runs the loop until quiet. The only noisy event unsubscribes itself on
   * its first READ and destroys itself on DISPOSED; the READ comes from another thread a
   * little later, so run really has to wait for it. */
  rasio_loop_t *loop = th_loop();
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  owner_t o;
  owner_init(&o, a, ON_READ_UNSUBSCRIBE);
  CHECK_OK(rasio_event_new(loop,
                           &(rasio_event_opts_t){.fd = a, .flags = RASIO_READ, .noisy = true,
                                                 .own_fd = true, .notify = owner_notify,
                                                 .ctx = &o},
                           &(rasio_event_t *){NULL}));
  pthread_t writer = th_thread_start(put_after_delay, &b);
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_QUIET));
  owner_check_disposed(&o);
  CHECK_GE(atomic_load(&o.reads), 1);
  CHECK_EQ(rasio_loop_noisy(loop), 0);
  th_thread_join(writer);
  th_close(b);
  th_loop_end(loop);
}

typedef struct dispose_later {
  th_rec_t *rec;
  rasio_event_t *ev;
} dispose_later_t;

/* Unsubscribes, waits for DISPOSED, lets the loop go back to blocking in its wait, and
 * only then destroys (the recorder does not auto_destroy), releasing the last noisy count
 * from this thread. */
static void *dispose_after_delay(void *arg) {
  dispose_later_t *d = arg;
  th_sleep_ms(100);
  CHECK_OK(rasio_event_unsubscribe(d->ev));
  CHECK(th_rec_wait(d->rec, d->ev, RASIO_DISPOSED, 1, WAIT_MS));
  th_sleep_ms(100);
  CHECK_OK(rasio_event_destroy(d->ev));
  return NULL;
}

TEST(lifecycle_run_quiet_returns_when_noisy_destroyed_elsewhere) {
  /* The noisy event is destroyed on another thread while the loop is blocked in its wait
   * (no timers, an idle socket): the last noisy destroy must wake the loop so run returns. */
  rasio_loop_t *loop = th_loop();
  th_rec_t rec;
  th_rec_init(&rec);
  rasio_fd_t peer;
  dispose_later_t d = {&rec, noisy_sub(loop, &rec, &peer)};
  pthread_t disposer = th_thread_start(dispose_after_delay, &d);
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_QUIET));
  th_thread_join(disposer);
  CHECK_EQ(rasio_loop_noisy(loop), 0);
  th_close(peer);
  th_loop_end(loop);
  th_rec_fini(&rec);
}

TEST(lifecycle_run_quiet_without_noisy_returns_at_once) {
  rasio_loop_t *loop = th_loop();
  th_rec_t rec;
  th_rec_init(&rec);
  rec.auto_destroy = true;
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  rasio_event_t *ev = sub_ev(loop, a, RASIO_READ, th_rec_notify, &rec); /* not noisy */
  uint64_t t0 = th_now_ms();
  CHECK_OK(rasio_loop_run(loop, RASIO_RUN_QUIET));
  CHECK_LT(th_now_ms() - t0, WAIT_MS / 3);
  CHECK_OK(rasio_loop_start(loop)); /* to dispose the event */
  th_dispose(&rec, ev);
  th_close(b);
  th_loop_end(loop);
  th_rec_fini(&rec);
}

TEST(lifecycle_loop_free_while_running_is_ebusy) {
  rasio_loop_t *loop = th_loop();
  CHECK_OK(rasio_loop_start(loop));
  CHECK_ERR(rasio_loop_free(loop), RASIO_EBUSY);
  th_loop_end(loop);
}

TEST(lifecycle_loop_free_with_live_event_is_ebusy) {
  rasio_loop_t *loop = th_loop();
  th_rec_t rec;
  th_rec_init(&rec);
  rec.auto_destroy = true;
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  rasio_event_t *ev = sub_ev(loop, a, RASIO_READ, th_rec_notify, &rec);
  CHECK_ERR(rasio_loop_free(loop), RASIO_EBUSY);
  CHECK_OK(rasio_loop_start(loop));
  th_dispose(&rec, ev);
  th_close(b);
  th_loop_end(loop);
  th_rec_fini(&rec);
}

TEST(lifecycle_loop_start_or_run_twice_is_ebusy) {
  rasio_loop_t *loop = th_loop();
  CHECK_OK(rasio_loop_start(loop));
  CHECK_ERR(rasio_loop_start(loop), RASIO_EBUSY);
  CHECK_ERR(rasio_loop_run(loop, RASIO_RUN_NOWAIT), RASIO_EBUSY);
  th_loop_end(loop);
}

TEST(lifecycle_unknown_backend_is_enobackend) {
  rasio_loop_t *loop = NULL;
  CHECK_ERR(rasio_loop_new(&(rasio_loop_opts_t){.backend = "nope"}, &loop), RASIO_ENOBACKEND);
}

/* ---- a mailbox owner on its own thread -------------------------------------------------------- */

enum { MAILBOX_ROUNDS = 1000 };

TEST_T(lifecycle_mailbox_owner_unsubscribe_sees_only_disposed, 60) {
  /* The test thread owns a mailbox. Each round: a new pair, an event executed by the
   * mailbox, a peer flooding it; on the first READ the owner unsubscribes from its own
   * draining thread, and from then on it must receive DISPOSED and nothing else. Even
   * rounds are edge, odd rounds level (the loop then posts READ on every turn). */
  rasio_loop_t *loop = th_loop();
  CHECK_OK(rasio_loop_start(loop));
  rasio_mailbox_t *mb = NULL;
  CHECK_OK(rasio_mailbox_new(&mb));
  owner_t *o = calloc(MAILBOX_ROUNDS, sizeof *o);
  CHECK(o != NULL);
  for (int i = 0; i < MAILBOX_ROUNDS; i++) {
    rasio_fd_t a, b;
    th_tcp_pair(&a, &b);
    owner_init(&o[i], a, ON_READ_UNSUBSCRIBE);
    owner_sub(loop, &o[i], RASIO_READ | (i % 2 ? RASIO_LEVEL : 0), true, mb);
    flood_t fl;
    flood_start(&fl, b);
    uint64_t deadline = th_now_ms() + WAIT_MS;
    while (atomic_load(&o[i].disposed) == 0) {
      CHECK(th_now_ms() < deadline);
      if (rasio_mailbox_wait(mb, 50 * 1000000ull) == 0) rasio_mailbox_drain(mb, 0);
    }
    flood_stop(&fl);
    th_close(b);
    CHECK_EQ(atomic_load(&o[i].after_unsubscribe), 0);
  }
  pump_quiet(mb);
  for (int i = 0; i < MAILBOX_ROUNDS; i++) {
    owner_check_disposed(&o[i]);
    CHECK_EQ(atomic_load(&o[i].reads), 1);
    CHECK_EQ(atomic_load(&o[i].after_unsubscribe), 0);
  }
  free(o);
  CHECK_OK(rasio_mailbox_free(mb));
  th_loop_end(loop);
}
