/* SPDX-License-Identifier: BSD-2-Clause */
/* Allocation-failure injection (src/alloc.h's seam): each scenario runs once per N with
 * the N-th allocation from its start failing, N = 1, 2, 3, ... until a run completes with
 * no failure injected. For every N the failure must surface as RASIO_ENOMEM from the call
 * that hit it, or as the documented callback (connect_failed, closed); then the scenario
 * must clean up fully: every object gone, the loop freed, no descriptor left open, no
 * memory leaked (checked per N under AddressSanitizer's leak checker, and at exit), no hang
 * (every wait is bounded), and nothing lost in silence (a write that returned 0 reaches
 * the peer; an event that was made delivers).
 *
 * Each N starts from a fresh loop. The loop runs inline on the test thread, so the count
 * of allocations is the same in every run (no thread allocates concurrently). A failing N
 * is reported and the next one runs, so one run lists them all; the test fails at its end.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "helpers.h"

#if defined(__SANITIZE_ADDRESS__)
#define AF_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AF_LSAN 1
#endif
#endif
#ifdef AF_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define AF_WAIT_MS 5000u
#define AF_MAX_N 2000u

/* --- the driver ---------------------------------------------------------------------------- */

static struct {
  const char *scenario;
  unsigned n;       /* the allocation that fails in this run */
  bool armed, hit;  /* the seam is armed / the failure happened */
  unsigned failed;  /* runs that broke a rule */
  bool run_failed;
} af;

static void af_arm(void) {
  af.armed = true;
  rasio__alloc_fail_nth(af.n);
}

/* Ends the part of the run that is exposed to the failure. */
static void af_disarm(void) {
  if (!af.armed) return;
  af.armed = false;
  af.hit = rasio__alloc_failed();
  rasio__alloc_fail_nth(0);
}

static void af_report(const char *fmt, ...) __attribute__((format(RT_PRINTF_FORMAT, 1, 2)));
static void af_report(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  printf("FAILED %s, allocation %u failing: %s\n", af.scenario, af.n, msg);
  fflush(stdout);
  af.run_failed = true;
}

/* A soft check: reported with the scenario and N; the run goes on. */
#define AF_CHECK(cond, ...)                                                                 \
  do {                                                                                      \
    if (!(cond)) af_report(__VA_ARGS__);                                                    \
  } while (0)

/* A leak is reported once, at the first run that shows it (the leaked block stays leaked,
 * so later checks would name it again). */
static bool leaked(void) {
#ifdef AF_LSAN
  static bool seen;
  if (seen) return false;
  return seen = __lsan_do_recoverable_leak_check() != 0;
#else
  return false;
#endif
}

static void af_run(const char *scenario, void (*body)(void)) {
  memset(&af, 0, sizeof af);
  af.scenario = scenario;
  long handles = th_open_handles();
  unsigned n;
  for (n = 1; n <= AF_MAX_N; n++) {
    af.n = n;
    af.hit = af.run_failed = false;
    body();
    af_disarm();
    long now = th_open_handles();
    /* Windows handle counts move with the system's own threads (Wine): POSIX only. */
#ifndef _WIN32
    AF_CHECK(now == handles, "%ld descriptors open after the run, %ld before", now, handles);
#else
    (void)now, (void)handles;
#endif
    if (leaked()) {
      af_report("memory leaked (LeakSanitizer's report above)");
      handles = th_open_handles(); /* the report's symbolizer keeps descriptors open */
    }
    if (af.run_failed) af.failed++;
    if (!af.hit) break;
  }
  if (n > AF_MAX_N) rt_fail(__FILE__, __LINE__, "%s: still failing after %u runs", scenario, n);
  printf("%s: %u allocations, each failed in turn; %u runs broke a rule\n", scenario, n - 1,
         af.failed);
  if (af.failed != 0)
    rt_fail(__FILE__, __LINE__, "%s: %u of %u runs broke a rule (listed above)", scenario,
            af.failed, n);
}

/* Whether this run's failure has been injected by now. */
static bool af_injected(void) { return af.armed ? rasio__alloc_failed() : af.hit; }

/* rc is 0, or ENOMEM when this run's failure was injected (and then only). */
#define AF_RC(rc, what)                                                                     \
  AF_CHECK((rc) == 0 || ((rc) == RASIO_ENOMEM && af_injected()),                            \
           "%s returned %d (%s), want 0 or ENOMEM", (what), (rc), rasio_err_name(rc))

/* --- an owner that counts --------------------------------------------------------------- */

typedef struct own {
  rasio_fd_t fd; /* drained on READ */
  bool oneshot;
  unsigned read, timer, signal, disposed;
} own_t;

static void own_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  own_t *o = ctx;
  (void)arg;
  if (flags & RASIO_DISPOSED) {
    o->disposed++;
    CHECK_OK(rasio_event_destroy(ev));
    return;
  }
  if (flags & RASIO_READ) {
    o->read++;
    if (o->fd != RASIO_INVALID_FD) (void)th_drain(o->fd);
  }
  if (flags & RASIO_TIMER) o->timer++;
  if (flags & RASIO_SIGNAL) o->signal++;
}

typedef bool (*af_pred)(void *arg);

/* Runs loop (and drains mb) until pred; false after AF_WAIT_MS: a hang. */
static bool af_until(rasio_loop_t *loop, rasio_mailbox_t *mb, af_pred pred, void *arg) {
  uint64_t end = th_now_ms() + th_scaled_ms(AF_WAIT_MS);
  for (unsigned spins = 0; !pred(arg); spins++) {
    if (th_now_ms() > end) return false;
    CHECK_OK(rasio_loop_run(loop, RASIO_RUN_NOWAIT));
    if (mb != NULL) rasio_mailbox_drain(mb, 0);
    if (spins % 64 == 63) th_sleep_ms(1); /* loopback I/O needs no sleep, a timer does */
  }
  return true;
}

static rasio_loop_t *fresh_loop(void) { return th_loop(); }

/* Frees the loop; EBUSY here means an event outlived the run. */
static void end_loop(rasio_loop_t *loop) {
  int rc = rasio_loop_free(loop);
  AF_CHECK(rc == 0, "rasio_loop_free: %s (an event was left behind)", rasio_err_name(rc));
}

/* ======================================================================================== *
 * Loop creation
 * ======================================================================================== */

static bool own_fired(void *arg) { return ((own_t *)arg)->timer > 0; }
static bool own_gone(void *arg) { return ((own_t *)arg)->disposed > 0; }

/* A timer on the loop fires, and is disposed: the loop works. */
static void loop_works(rasio_loop_t *loop) {
  own_t o = {.fd = RASIO_INVALID_FD};
  rasio_event_t *ev = NULL;
  rasio_event_opts_t eo = {.flags = RASIO_TIMER, .notify = own_notify, .ctx = &o};
  CHECK_OK(rasio_event_new(loop, &eo, &ev));
  AF_CHECK(af_until(loop, NULL, own_fired, &o), "the loop's timer never fired");
  CHECK_OK(rasio_event_unsubscribe(ev));
  AF_CHECK(af_until(loop, NULL, own_gone, &o), "no DISPOSED");
}

static void loop_scenario(void) {
  rasio_loop_t *loop = NULL;
  af_arm();
  int rc = rasio_loop_new(&(rasio_loop_opts_t){.backend = rt_backend()}, &loop);
  AF_RC(rc, "rasio_loop_new");
  if (rc != 0) {
    AF_CHECK(loop == NULL, "rasio_loop_new failed but wrote a loop");
    return;
  }
  /* The loop thread: its start allocates too. */
  rc = rasio_loop_start(loop);
  AF_RC(rc, "rasio_loop_start");
  af_disarm();
  if (rc == 0) CHECK_OK(rasio_loop_stop(loop));
  loop_works(loop);
  end_loop(loop);
}

TEST_T(alloc_fail_loop_new, 60) { af_run("rasio_loop_new + rasio_loop_start", loop_scenario); }

/* ======================================================================================== *
 * Socket events (oneshot, edge, level), enough of them to grow the loop's fd table
 * ======================================================================================== */

#define N_SOCKETS 70 /* more than the fd table's first size (64) */

static struct {
  rasio_fd_t fd[N_SOCKETS], sender;
  uint16_t port[N_SOCKETS];
  uint32_t mode;
} socks;

static void socks_open(uint32_t mode) {
  socks.mode = mode;
  for (int i = 0; i < N_SOCKETS; i++) socks.fd[i] = th_udp(&socks.port[i]);
  uint16_t p;
  socks.sender = th_udp(&p);
}

static void socks_close(void) {
  for (int i = 0; i < N_SOCKETS; i++) th_close(socks.fd[i]);
  th_close(socks.sender);
}

typedef struct many {
  own_t o[N_SOCKETS];
  rasio_event_t *ev[N_SOCKETS];
  int made;
} many_t;

static bool all_read(void *arg) {
  many_t *m = arg;
  for (int i = 0; i < m->made; i++)
    if (m->o[i].read == 0) return false;
  return true;
}

static bool all_disposed(void *arg) {
  many_t *m = arg;
  for (int i = 0; i < m->made; i++)
    if (m->o[i].disposed == 0) return false;
  return true;
}

static void socket_events_scenario(void) {
  rasio_loop_t *loop = fresh_loop();
  static many_t m;
  memset(&m, 0, sizeof m);
  af_arm();
  for (int i = 0; i < N_SOCKETS; i++) {
    m.o[i] = (own_t){.fd = socks.fd[i]};
    rasio_event_opts_t eo = {.fd = socks.fd[i], .flags = RASIO_READ | socks.mode,
                             .notify = own_notify, .ctx = &m.o[i]};
    int rc = rasio_event_new(loop, &eo, &m.ev[i]);
    AF_RC(rc, "rasio_event_new");
    if (rc != 0) {
      AF_CHECK(m.ev[i] == NULL, "rasio_event_new failed but wrote an event");
      break;
    }
    m.made++;
  }
  af_disarm();
  AF_CHECK(th_fd_open(socks.fd[m.made < N_SOCKETS ? m.made : 0]), "a refused fd was closed");
  /* Every event made delivers its datagram. */
  for (int i = 0; i < m.made; i++)
    CHECK_EQ(th_udp_send(socks.sender, socks.port[i], "d", 1), 1);
  AF_CHECK(af_until(loop, NULL, all_read, &m), "an event that was made never delivered");
  for (int i = 0; i < m.made; i++) CHECK_OK(rasio_event_unsubscribe(m.ev[i]));
  AF_CHECK(af_until(loop, NULL, all_disposed, &m), "an event was never disposed");
  for (int i = 0; i < N_SOCKETS; i++) (void)th_drain(socks.fd[i]);
  end_loop(loop);
}

static void socket_events(const char *name, uint32_t mode) {
  socks_open(mode);
  af_run(name, socket_events_scenario);
  socks_close();
}

TEST_T(alloc_fail_events_oneshot, 120) { socket_events("70 oneshot socket events", RASIO_ONESHOT); }
TEST_T(alloc_fail_events_edge, 120) { socket_events("70 edge socket events", 0); }
TEST_T(alloc_fail_events_level, 120) { socket_events("70 level socket events", RASIO_LEVEL); }

/* ======================================================================================== *
 * Timers: enough to grow the heap twice; each fires, then is set again
 * ======================================================================================== */

#define N_TIMERS 40

static bool all_fired_twice(void *arg) {
  many_t *m = arg;
  for (int i = 0; i < m->made; i++)
    if (m->o[i].timer < 2) return false;
  return true;
}

static bool all_fired(void *arg) {
  many_t *m = arg;
  for (int i = 0; i < m->made; i++)
    if (m->o[i].timer < 1) return false;
  return true;
}

static void timers_scenario(void) {
  rasio_loop_t *loop = fresh_loop();
  static many_t m;
  memset(&m, 0, sizeof m);
  af_arm();
  for (int i = 0; i < N_TIMERS; i++) {
    m.o[i] = (own_t){.fd = RASIO_INVALID_FD};
    rasio_event_opts_t eo = {.flags = RASIO_TIMER, .nsec = (uint64_t)(N_TIMERS - i) * 1000u,
                             .notify = own_notify, .ctx = &m.o[i]};
    int rc = rasio_event_new(loop, &eo, &m.ev[i]);
    AF_RC(rc, "rasio_event_new(TIMER)");
    if (rc != 0) break;
    m.made++;
  }
  AF_CHECK(af_until(loop, NULL, all_fired, &m), "a timer that was made never fired");
  /* Set again after firing: they go back into the heap. */
  for (int i = 0; i < m.made; i++) {
    int rc = rasio_event_set_nsec(m.ev[i], 0);
    AF_RC(rc, "rasio_event_set_nsec");
    if (rc != 0) m.o[i].timer++; /* refused: it will not fire again */
  }
  af_disarm();
  AF_CHECK(af_until(loop, NULL, all_fired_twice, &m), "a timer set again never fired");
  for (int i = 0; i < m.made; i++) CHECK_OK(rasio_event_unsubscribe(m.ev[i]));
  AF_CHECK(af_until(loop, NULL, all_disposed, &m), "a timer was never disposed");
  end_loop(loop);
}

TEST_T(alloc_fail_timers, 60) { af_run("40 timers, set again after firing", timers_scenario); }

/* ======================================================================================== *
 * Signals, stdin
 * ======================================================================================== */

static bool own_signalled(void *arg) { return ((own_t *)arg)->signal > 0; }

static void signal_scenario(void) {
  rasio_loop_t *loop = fresh_loop();
  own_t o = {.fd = RASIO_INVALID_FD};
  rasio_event_t *ev = NULL;
#ifdef _WIN32
  int signo = SIGINT;
#else
  int signo = SIGUSR1;
#endif
  rasio_event_opts_t eo = {.flags = RASIO_SIGNAL, .nsec = (uint64_t)signo, .notify = own_notify,
                           .ctx = &o};
  af_arm();
  int rc = rasio_event_new(loop, &eo, &ev);
  af_disarm();
  AF_RC(rc, "rasio_event_new(SIGNAL)");
  if (rc == 0) {
    /* Subscribed: the signal is caught and reported, not the default action. */
    raise(signo);
    AF_CHECK(af_until(loop, NULL, own_signalled, &o), "a raised signal was never delivered");
    CHECK_OK(rasio_event_unsubscribe(ev));
    AF_CHECK(af_until(loop, NULL, own_gone, &o), "no DISPOSED");
  }
  end_loop(loop);
}

TEST_T(alloc_fail_signal, 60) { af_run("a signal event", signal_scenario); }

static bool own_read(void *arg) { return ((own_t *)arg)->read > 0; }

/* The runner's stdin is the null device: end of input, readable at once. */
static void stdin_scenario(void) {
  rasio_loop_t *loop = fresh_loop();
  own_t o = {.fd = RASIO_INVALID_FD};
  rasio_event_t *ev = NULL;
  rasio_event_opts_t eo = {.flags = RASIO_STDIN | RASIO_READ | RASIO_ONESHOT,
                           .notify = own_notify, .ctx = &o};
  af_arm();
  int rc = rasio_event_new(loop, &eo, &ev);
  AF_RC(rc, "rasio_event_new(STDIN)");
  if (rc == 0) {
    AF_CHECK(af_until(loop, NULL, own_read, &o), "stdin never delivered READ");
    char buf[8];
    size_t n = 1;
    AF_CHECK(rasio_stdin_read(ev, buf, sizeof buf, &n) == 0 && n == 0, "stdin is not at its end");
    af_disarm();
    CHECK_OK(rasio_event_unsubscribe(ev));
    AF_CHECK(af_until(loop, NULL, own_gone, &o), "no DISPOSED");
  }
  af_disarm();
  end_loop(loop);
}

TEST_T(alloc_fail_stdin, 60) { af_run("a stdin event", stdin_scenario); }

/* ======================================================================================== *
 * Mailboxes: new, posts, and an event whose executor is the mailbox
 * ======================================================================================== */

#define N_POSTS 10

static unsigned msgs_run;
static void count_msg(void *arg) {
  (void)arg;
  msgs_run++;
}

static void mailbox_scenario(void) {
  rasio_mailbox_t *mb = NULL;
  af_arm();
  int rc = rasio_mailbox_new(&mb);
  AF_RC(rc, "rasio_mailbox_new");
  if (rc != 0) return;
  unsigned posted = 0;
  msgs_run = 0;
  for (int i = 0; i < N_POSTS; i++) {
    rc = rasio_mailbox_post(mb, count_msg, NULL);
    AF_RC(rc, "rasio_mailbox_post");
    if (rc == 0) posted++;
  }
  af_disarm();
  rasio_mailbox_drain(mb, 0);
  AF_CHECK(msgs_run == posted, "%u posts accepted, %u ran", posted, msgs_run);
  /* A notification through it. */
  rasio_loop_t *loop = fresh_loop();
  own_t o = {.fd = RASIO_INVALID_FD};
  rasio_event_t *ev = NULL;
  rasio_event_opts_t eo = {.flags = RASIO_TIMER, .notify = own_notify, .ctx = &o, .mailbox = mb};
  CHECK_OK(rasio_event_new(loop, &eo, &ev));
  AF_CHECK(af_until(loop, mb, own_fired, &o), "the mailbox's timer never ran");
  CHECK_OK(rasio_event_unsubscribe(ev));
  AF_CHECK(af_until(loop, mb, own_gone, &o), "no DISPOSED");
  end_loop(loop);
  AF_CHECK(rasio_mailbox_free(mb) == 0, "rasio_mailbox_free refused");
}

TEST_T(alloc_fail_mailbox, 60) { af_run("rasio_mailbox_new + 10 posts", mailbox_scenario); }

/* ======================================================================================== *
 * TCP: listen, connect, accept, echo
 * ======================================================================================== */

/* Each side records what it was given to send and what arrived, so loss, duplication and
 * reordering all show as a mismatch. */
typedef struct bytes {
  char *p;
  size_t len, cap;
} bytes_t;

static void bytes_add(bytes_t *b, const void *data, size_t len) {
  if (b->len + len > b->cap) {
    b->cap = (b->len + len) * 2;
    b->p = realloc(b->p, b->cap);
    CHECK(b->p != NULL);
  }
  memcpy(b->p + b->len, data, len);
  b->len += len;
}

typedef struct tcpf {
  rasio_loop_t *loop;
  rasio_tcp_listener_t *l;
  rasio_tcp_t *cli, *srv; /* srv: the last server connection accepted, while it lives */
  rasio_tcp_t *srvs[8];   /* every live server connection */
  size_t nsrvs;
  char port[8];
  bool echo;              /* the server echoes (else it only records) */
  bool connected, cli_final, srv_final, l_closed;
  unsigned accepted;
  int cli_err;
  bytes_t cli_sent, cli_got, srv_got;
} tcpf_t;

static bool t_srv_received(rasio_tcp_t *c, const void *data, size_t len) {
  tcpf_t *f = rasio_tcp_data(c);
  bytes_add(&f->srv_got, data, len);
  if (f->echo) (void)rasio_tcp_write(c, data, len); /* refused: closed follows (checked) */
  return true;
}

static void t_srv_closed(rasio_tcp_t *c) {
  tcpf_t *f = rasio_tcp_data(c);
  f->srv_final = true;
  if (f->srv == c) f->srv = NULL;
  for (size_t i = 0; i < f->nsrvs; i++)
    if (f->srvs[i] == c) f->srvs[i] = f->srvs[--f->nsrvs];
}

static const rasio_tcp_cb_t t_srv_cb = {.received = t_srv_received, .closed = t_srv_closed};

static bool t_accepted(rasio_tcp_listener_t *l, rasio_tcp_t *c) {
  tcpf_t *f = rasio_tcp_listener_data(l);
  f->accepted++;
  /* Every connection is served: one whose client gave up before its event existed (an
   * injected failure) arrives here too, and ends at its peer's close. */
  if (f->nsrvs == sizeof f->srvs / sizeof f->srvs[0]) return false;
  f->srvs[f->nsrvs++] = c;
  f->srv = c;
  rasio_tcp_set_callbacks(c, &t_srv_cb, f);
  return true;
}

static void t_l_closed(rasio_tcp_listener_t *l) {
  ((tcpf_t *)rasio_tcp_listener_data(l))->l_closed = true;
}

static const rasio_tcp_listener_cb_t t_l_cb = {.accepted = t_accepted, .closed = t_l_closed};

static void t_connected(rasio_tcp_t *c) { ((tcpf_t *)rasio_tcp_data(c))->connected = true; }
static void t_connect_failed(rasio_tcp_t *c, int err) {
  tcpf_t *f = rasio_tcp_data(c);
  f->cli_final = true;
  f->cli_err = err;
  f->cli = NULL;
}
static bool t_cli_received(rasio_tcp_t *c, const void *data, size_t len) {
  bytes_add(&((tcpf_t *)rasio_tcp_data(c))->cli_got, data, len);
  return true;
}
static void t_cli_closed(rasio_tcp_t *c) {
  tcpf_t *f = rasio_tcp_data(c);
  f->cli_final = true;
  f->cli = NULL;
}

static const rasio_tcp_cb_t t_cli_cb = {.connected = t_connected,
                                        .connect_failed = t_connect_failed,
                                        .received = t_cli_received,
                                        .closed = t_cli_closed};

static bool t_settled(void *arg) {
  tcpf_t *f = arg;
  return f->cli_final || f->connected;
}

/* Connected, and the server side accepted (no failure in this set-up). */
static bool t_both_up(void *arg) {
  tcpf_t *f = arg;
  return f->cli_final || (f->connected && f->srv != NULL);
}

static bool t_echoed(void *arg) {
  tcpf_t *f = arg;
  return f->cli_final || f->cli_got.len >= f->cli_sent.len;
}

static bool t_cli_gone(void *arg) { return ((tcpf_t *)arg)->cli == NULL; }
static bool t_cli_final(void *arg) { return ((tcpf_t *)arg)->cli_final; }

static bool t_all_gone(void *arg) { return rasio_loop_noisy(((tcpf_t *)arg)->loop) == 0; }

static void tcpf_free(tcpf_t *f) {
  free(f->cli_sent.p);
  free(f->cli_got.p);
  free(f->srv_got.p);
  memset(f, 0, sizeof *f);
}

/* Closes whatever is left and runs until every net object is gone. */
static void tcpf_end(tcpf_t *f) {
  if (f->cli != NULL && !f->cli_final) rasio_tcp_hard_close(f->cli);
  /* Each one's closed (from the loop, not inside hard_close) takes it out of srvs. */
  for (size_t i = 0; i < f->nsrvs; i++) rasio_tcp_hard_close(f->srvs[i]);
  if (f->l != NULL && !f->l_closed) rasio_tcp_listener_close(f->l);
  AF_CHECK(af_until(f->loop, NULL, t_all_gone, f), "net objects never went away (a hang)");
  end_loop(f->loop);
}

static int tcpf_connect(tcpf_t *f) {
  rasio_tcp_opts_t co = {.cb = &t_cli_cb, .data = f};
  f->connected = f->cli_final = false;
  f->cli_sent.len = f->cli_got.len = f->srv_got.len = 0;
  int rc = rasio_tcp_connect(f->loop, "127.0.0.1", f->port, &co, &f->cli);
  AF_RC(rc, "rasio_tcp_connect");
  if (rc != 0) AF_CHECK(f->cli == NULL, "rasio_tcp_connect failed but wrote a connection");
  return rc;
}

/* The client writes msg; every byte of an accepted write comes back unless the connection
 * reports its end (closed), and nothing else comes back. */
static void tcpf_echo(tcpf_t *f, const char *msg) {
  if (f->cli == NULL || f->cli_final) return;
  size_t len = strlen(msg);
  int rc = rasio_tcp_write(f->cli, msg, len);
  /* ESTATE: the connection already ended (a server that could not be set up closed its
   * socket, and our end answered the FIN); its closed is on the way from the loop. */
  if (rc == RASIO_ESTATE && rasio_tcp_fd(f->cli) == RASIO_INVALID_FD) {
    AF_CHECK(af_until(f->loop, NULL, t_cli_final, f), "ESTATE, but closed never came");
    return;
  }
  AF_RC(rc, "rasio_tcp_write");
  if (rc == 0) bytes_add(&f->cli_sent, msg, len);
  AF_CHECK(af_until(f->loop, NULL, t_echoed, f), "the echo never came and no closed (a hang)");
  if (!f->cli_final)
    AF_CHECK(f->cli_got.len == f->cli_sent.len &&
                 memcmp(f->cli_got.p, f->cli_sent.p, f->cli_sent.len) == 0,
             "echo: %zu bytes back of %zu sent, or different bytes", f->cli_got.len,
             f->cli_sent.len);
}

static void tcp_scenario(void) {
  static tcpf_t f;
  tcpf_free(&f);
  f.loop = fresh_loop();
  f.echo = true;
  rasio_tcp_listener_opts_t lo = {.cb = &t_l_cb, .data = &f};
  af_arm();
  int rc = rasio_tcp_listen(f.loop, "127.0.0.1", "0", RASIO_AF_INET4, &lo, &f.l);
  AF_RC(rc, "rasio_tcp_listen");
  if (rc != 0) {
    AF_CHECK(f.l == NULL, "rasio_tcp_listen failed but wrote a listener");
    af_disarm();
    tcpf_end(&f);
    return;
  }
  rasio_addr_t a;
  CHECK_OK(rasio_tcp_listener_addr(f.l, &a));
  snprintf(f.port, sizeof f.port, "%u", (unsigned)rasio_addr_port(&a));

  /* First client: its connect, the listener's accept and the echo are all exposed. */
  if (tcpf_connect(&f) == 0) {
    AF_CHECK(af_until(f.loop, NULL, t_settled, &f), "the connection never settled (a hang)");
    if (f.cli_final && !f.connected)
      AF_CHECK(f.cli_err == RASIO_ENOMEM, "connect_failed with %s, want ENOMEM",
               rasio_err_name(f.cli_err));
    /* A connection the server could not set up must not vanish in silence: the client
     * hears of its end (closed) instead of waiting forever for the echo. */
    tcpf_echo(&f, "hello through an allocation failure");
    if (f.cli != NULL) rasio_tcp_hard_close(f.cli);
  }
  af_disarm();
  /* Its final callback comes from the loop (never inside hard_close): let it come before
   * the next client reuses f's fields. */
  AF_CHECK(af_until(f.loop, NULL, t_cli_gone, &f), "the first client never ended (a hang)");

  /* Second client, nothing failing: the listener still serves, and echoes. */
  if (tcpf_connect(&f) == 0) {
    AF_CHECK(af_until(f.loop, NULL, t_settled, &f), "a second connection never settled");
    AF_CHECK(f.connected, "the listener no longer serves");
    tcpf_echo(&f, "and the listener still serves");
  }
  tcpf_end(&f);
}

TEST_T(alloc_fail_tcp, 120) { af_run("TCP listen, connect, accept, echo", tcp_scenario); }

/* A fresh loop with a listener and one connection to it, both ends up, set up with no
 * allocation failing (the scenarios that use it expose only what follows). */
static void tcpf_pair(tcpf_t *f) {
  tcpf_free(f);
  f->loop = fresh_loop();
  rasio_tcp_listener_opts_t lo = {.cb = &t_l_cb, .data = f};
  CHECK_OK(rasio_tcp_listen(f->loop, "127.0.0.1", "0", RASIO_AF_INET4, &lo, &f->l));
  rasio_addr_t a;
  CHECK_OK(rasio_tcp_listener_addr(f->l, &a));
  snprintf(f->port, sizeof f->port, "%u", (unsigned)rasio_addr_port(&a));
  CHECK_OK(tcpf_connect(f));
  CHECK(af_until(f->loop, NULL, t_both_up, f) && f->connected && f->srv != NULL);
}

/* --- writes that queue ----------------------------------------------------------------- */

static bool t_srv_final(void *arg) { return ((tcpf_t *)arg)->srv_final; }

static bool t_srv_all(void *arg) {
  tcpf_t *f = arg;
  return f->srv_final || f->srv_got.len >= f->cli_sent.len;
}

/* A connection set up without failures; then, exposed: writes until the kernel refuses
 * bytes (the client is throttled) and more writes that queue. Every byte of every write
 * that returned 0 must reach the server, in order. A write that returned ENOMEM either
 * changed nothing (no byte of it arrives) or, if the kernel had already taken a prefix of
 * it, hard-closed the connection (rasio.h; its closed comes later, from the loop, and the
 * socket is gone at once): then that prefix, and nothing else, may follow the accepted
 * bytes. */
static void write_queue_scenario(void) {
  static tcpf_t f;
  tcpf_pair(&f);
  /* Small buffers: the client throttles soon. */
  (void)rasio_sock_set_sndbuf(rasio_tcp_fd(f.cli), 65536);
  (void)rasio_sock_set_rcvbuf(rasio_tcp_fd(f.srv), 65536);
  rasio_tcp_mute(f.srv);

  /* Larger than both buffers: the kernel takes a part of the first write, the rest queues. */
  static char chunk[300007];
  bool closed_by_enomem = false;
  af_arm();
  unsigned after_throttle = 0;
  /* No loop turn runs in here, so f.cli stays valid even once closed (its closed, which
   * clears it, comes from the loop); a closed connection has no socket. */
  bool cli_closed = false;
  for (unsigned i = 0; i < 400 && after_throttle < 4 && !cli_closed; i++) {
    for (size_t k = 0; k < sizeof chunk; k++) chunk[k] = (char)(i * 31u + k * 7u);
    int rc = rasio_tcp_write(f.cli, chunk, sizeof chunk);
    AF_RC(rc, "rasio_tcp_write");
    if (rc == 0) bytes_add(&f.cli_sent, chunk, sizeof chunk);
    cli_closed = rasio_tcp_fd(f.cli) == RASIO_INVALID_FD;
    if (rc == RASIO_ENOMEM && cli_closed) closed_by_enomem = true; /* chunk: the refused */
    if (!cli_closed && rasio_tcp_throttled(f.cli)) after_throttle++;
  }
  af_disarm();
  AF_CHECK(cli_closed || rasio_tcp_throttled(f.cli), "the client never throttled");
  AF_CHECK(!cli_closed || closed_by_enomem, "the client closed, and no write said why");
  rasio_tcp_unmute(f.srv);
  AF_CHECK(af_until(f.loop, NULL, t_srv_all, &f), "the server never got every byte (a hang)");
  if (closed_by_enomem) /* the server reads on to the end of the stream */
    AF_CHECK(af_until(f.loop, NULL, t_srv_final, &f), "the server never saw the close");
  size_t extra = f.srv_got.len >= f.cli_sent.len ? f.srv_got.len - f.cli_sent.len : 0;
  AF_CHECK(f.srv_got.len >= f.cli_sent.len &&
               (f.cli_sent.len == 0 || memcmp(f.srv_got.p, f.cli_sent.p, f.cli_sent.len) == 0),
           "the server got %zu bytes, the accepted writes carried %zu, or other bytes",
           f.srv_got.len, f.cli_sent.len);
  AF_CHECK(extra == 0 || (closed_by_enomem && extra < sizeof chunk &&
                          memcmp(f.srv_got.p + f.cli_sent.len, chunk, extra) == 0),
           "%zu bytes beyond the accepted writes, and they are not a prefix of the one "
           "refused by a close", extra);
  tcpf_end(&f);
}

TEST_T(alloc_fail_tcp_write_queue, 120) {
  af_run("TCP writes until throttled, then queued", write_queue_scenario);
}

/* --- expect growing the read buffer ---------------------------------------------------- */

typedef struct exps {
  tcpf_t *f;
  size_t chunks, min, max;
} expf_t;

static expf_t exps;

static bool e_cli_received(rasio_tcp_t *c, const void *data, size_t len) {
  bytes_add(&exps.f->cli_got, data, len);
  (void)c;
  exps.chunks++;
  if (len < exps.min) exps.min = len;
  if (len > exps.max) exps.max = len;
  return true;
}

static bool e_got(void *arg) {
  tcpf_t *f = arg;
  return f->cli_final || f->cli_got.len >= f->srv_got.len;
}

/* expect(n) beyond the read buffer's size grows it: refused with ENOMEM, the connection
 * goes on delivering as before; granted, data comes in chunks of exactly n. */
static void expect_scenario(void) {
  static tcpf_t f;
  tcpf_pair(&f);
  rasio_tcp_cb_t cb = t_cli_cb;
  cb.received = e_cli_received;
  rasio_tcp_set_callbacks(f.cli, &cb, &f);
  exps = (expf_t){.f = &f, .min = SIZE_MAX};

  enum { BIG = 64 * 1024 }; /* the default read buffer is 16 KiB */
  af_arm();
  int rc = rasio_tcp_expect(f.cli, BIG);
  af_disarm();
  AF_RC(rc, "rasio_tcp_expect");
  static char data[2 * BIG];
  for (size_t k = 0; k < sizeof data; k++) data[k] = (char)(k * 13u);
  CHECK_OK(rasio_tcp_write(f.srv, data, sizeof data));
  bytes_add(&f.srv_got, data, sizeof data); /* what the client must receive */
  AF_CHECK(af_until(f.loop, NULL, e_got, &f), "the data never arrived (a hang)");
  AF_CHECK(f.cli_got.len == sizeof data && memcmp(f.cli_got.p, data, sizeof data) == 0,
           "the client got %zu bytes of %zu, or other bytes", f.cli_got.len, sizeof data);
  if (rc == 0)
    AF_CHECK(exps.chunks == 2 && exps.min == BIG && exps.max == BIG,
             "expect(%d) granted, but %zu chunks of %zu..%zu bytes", BIG, exps.chunks, exps.min,
             exps.max);
  tcpf_end(&f);
}

TEST_T(alloc_fail_tcp_expect, 60) {
  af_run("rasio_tcp_expect growing the buffer", expect_scenario);
}

/* ======================================================================================== *
 * UDP bind
 * ======================================================================================== */

typedef struct udpf {
  rasio_loop_t *loop;
  rasio_udp_t *u;
  unsigned got;
  bool closed;
} udpf_t;

static void uf_received(rasio_udp_t *u, const void *data, size_t len, const rasio_addr_t *from) {
  (void)data, (void)len, (void)from;
  ((udpf_t *)rasio_udp_data(u))->got++;
}
static void uf_closed(rasio_udp_t *u) { ((udpf_t *)rasio_udp_data(u))->closed = true; }
static const rasio_udp_cb_t uf_cb = {.received = uf_received, .closed = uf_closed};

static bool uf_got(void *arg) { return ((udpf_t *)arg)->got > 0; }
static bool uf_gone(void *arg) { return rasio_loop_noisy(((udpf_t *)arg)->loop) == 0; }

static void udp_scenario(void) {
  udpf_t f = {.loop = fresh_loop()};
  rasio_udp_opts_t o = {.cb = &uf_cb, .data = &f};
  af_arm();
  int rc = rasio_udp_bind(f.loop, "127.0.0.1", "0", RASIO_AF_INET4, &o, &f.u);
  af_disarm();
  AF_RC(rc, "rasio_udp_bind");
  if (rc == 0) {
    rasio_addr_t self;
    CHECK_OK(rasio_udp_addr(f.u, &self));
    AF_CHECK(rasio_udp_send(f.u, "d", 1, &self) == RASIO_IO_OK, "send to itself failed");
    AF_CHECK(af_until(f.loop, NULL, uf_got, &f), "its datagram never arrived");
    rasio_udp_close(f.u);
    AF_CHECK(!f.closed, "closed ran inside rasio_udp_close");
  } else {
    AF_CHECK(f.u == NULL, "rasio_udp_bind failed but wrote a socket");
  }
  AF_CHECK(af_until(f.loop, NULL, uf_gone, &f), "the socket never went away (a hang)");
  AF_CHECK(rc != 0 || f.closed, "no closed");
  end_loop(f.loop);
}

TEST_T(alloc_fail_udp_bind, 60) { af_run("rasio_udp_bind", udp_scenario); }
