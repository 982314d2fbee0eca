/* SPDX-License-Identifier: BSD-2-Clause */
/* Standard input events (DESIGN.md §4): flags = RASIO_STDIN|RASIO_READ, read with
 * rasio_stdin_read. While subscribed, READ comes whenever stdin can be read; end of input
 * counts as readable, also for a subscription made after stdin ended; one subscription per
 * loop; disposing while input streams in is safe and loses nothing that was not read.
 *
 * Each scenario needs the process's stdin to be a particular pipe or file, so it runs in a
 * child process made for it (helpers.h: th_child_start; a SCENARIO, with its parameters in
 * its argument); the test feeds the pipe and takes the child's exit status as its verdict.
 * Inside the child, the checks are ordinary CHECKs (a failure exits the child with status
 * 1). The scenarios themselves use only rasio, so they run unchanged on every platform: on
 * POSIX stdin is watched by the backend, on Windows a pipe by rasio's reader thread, and a
 * file or the null device is always readable everywhere.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"
#include "rec_util.h"

#define CHILD_WAIT_MS 25000u

/* --- the data fed to stdin ----------------------------------------------------------------- */

/* A byte pattern with no short period, so a lost, repeated or reordered chunk shows. */
static uint8_t pattern_at(size_t i) { return (uint8_t)(((uint32_t)i * 2654435761u) >> 24); }

static uint8_t *pattern_new(size_t len) {
  uint8_t *p = malloc(len ? len : 1);
  CHECK(p != NULL);
  for (size_t i = 0; i < len; i++) p[i] = pattern_at(i);
  return p;
}

static void check_pattern(const uint8_t *buf, size_t len, size_t want_len) {
  CHECK_EQ(len, want_len);
  for (size_t i = 0; i < len; i++)
    if (buf[i] != pattern_at(i))
      rt_fail(__FILE__, __LINE__, "stdin byte %zu is 0x%02x, want 0x%02x", i, buf[i],
              pattern_at(i));
}

/* --- the reader (runs in the child) ------------------------------------------------------ */

/* Reads stdin through one subscription after another into one buffer. A subscription ends
 * (the reader unsubscribes inside its notification) at end of input, on an error, or after
 * stop_after chunks. */
typedef struct reader {
  th_rec_t *rec;         /* the current subscription's notifications (auto_destroy) */
  uint8_t *buf;
  size_t cap, len;       /* cap is one more than expected, so excess input is caught */
  size_t chunk;          /* bytes asked per rasio_stdin_read */
  size_t stop_after;     /* chunks per subscription, 0 = until end of input */
  uint32_t mode;         /* 0 (persistent edge): read until nothing is left;
                            RASIO_ONESHOT: one chunk per READ, then clear readable, re-arm;
                            RASIO_LEVEL: one chunk per READ, the next READ follows anyway */
  size_t chunks;         /* read by the current subscription */
  bool done;             /* the current subscription was unsubscribed by the reader */
  bool eof;
  int err;               /* a read error, or ELIMIT for excess input */
  atomic_uint *ticks;    /* optional: a ticking timer's count ... */
  unsigned ticks_at_data; /* ... when the first byte arrived */
  unsigned ticks_at_half; /* ... when the first byte past the middle arrived */
} reader_t;

static void reader_init(reader_t *r, size_t expect_len, size_t chunk) {
  *r = (reader_t){.cap = expect_len + 1, .chunk = chunk};
  r->buf = malloc(r->cap);
  CHECK(r->buf != NULL);
}

static void reader_stop(reader_t *r, rasio_event_t *ev) {
  CHECK_OK(rasio_event_unsubscribe(ev));
  r->done = true;
}

static void reader_rearm(rasio_event_t *ev) {
  rasio_event_set_readable(ev, false);
  CHECK_OK(rasio_event_resubscribe_read(ev));
}

/* Reads what the mode says (see reader_t.mode). */
static void reader_on_read(reader_t *r, rasio_event_t *ev) {
  for (;;) {
    size_t want = r->cap - r->len < r->chunk ? r->cap - r->len : r->chunk;
    size_t n = (size_t)-1;
    int rc = rasio_stdin_read(ev, r->buf + r->len, want, &n);
    CHECK(n != (size_t)-1); /* "*count is always written" */
    if (rc == RASIO_EAGAIN) {
      CHECK_EQ(n, 0);
      if (r->mode == RASIO_ONESHOT) reader_rearm(ev);
      return; /* persistent: the next READ comes with new input */
    }
    if (rc != 0 || n == 0) {
      r->err = rc;
      r->eof = rc == 0;
      reader_stop(r, ev);
      return;
    }
    size_t half = (r->cap - 1) / 2;
    if (r->ticks && r->len == 0) r->ticks_at_data = atomic_load(r->ticks);
    if (r->ticks && r->len <= half && r->len + n > half) r->ticks_at_half = atomic_load(r->ticks);
    r->len += n;
    r->chunks++;
    if (r->len == r->cap) {
      r->err = RASIO_ELIMIT;
      reader_stop(r, ev);
      return;
    }
    if (r->stop_after && r->chunks >= r->stop_after) {
      reader_stop(r, ev);
      return;
    }
    if (r->mode == RASIO_ONESHOT) reader_rearm(ev);
    if (r->mode != 0) return;
  }
}

static void reader_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  reader_t *r = ctx;
  th_rec_t *rec = r->rec; /* read before DISPOSED lets the main thread move on */
  if ((flags & RASIO_READ) && !r->done) reader_on_read(r, ev);
  th_rec_notify(ev, flags, arg, rec);
}

static rasio_event_t *stdin_new(rasio_loop_t *loop, uint32_t extra, rasio_notify_fn fn, void *ctx) {
  rasio_event_opts_t o = {.flags = RASIO_STDIN | RASIO_READ | extra, .notify = fn, .ctx = ctx};
  rasio_event_t *ev = NULL;
  CHECK_OK(rasio_event_new(loop, &o, &ev));
  CHECK(ev != NULL);
  return ev;
}

/* One subscription: subscribe, let the reader run until it unsubscribes, wait for the
 * DISPOSED (the recorder destroys the event). Returns the number of READs it got. */
static size_t reader_run(rasio_loop_t *loop, reader_t *r) {
  r->rec = rec_new(true);
  r->chunks = 0;
  r->done = false;
  rasio_event_t *ev = stdin_new(loop, r->mode, reader_notify, r);
  CHECK(th_rec_wait(r->rec, ev, RASIO_DISPOSED, 1, 15000));
  size_t reads = th_rec_count(r->rec, ev, RASIO_READ);
  CHECK_EQ(th_rec_last(r->rec, ev), RASIO_DISPOSED);
  CHECK_OK(r->err);
  rec_free(r->rec);
  r->rec = NULL;
  return reads;
}

/* --- scenarios (child side) --------------------------------------------------------------- */

/* A scenario's parameters; the test passes them to the child as its argument. */
typedef struct scenario {
  size_t len;         /* pattern bytes fed to stdin */
  size_t chunk;       /* reader chunk size */
  size_t first_chunk; /* mid-stream tests: chunk size of the first subscription */
  size_t stop_after;
  unsigned mode;      /* reader mode: 0, RASIO_ONESHOT or RASIO_LEVEL */
  int rounds;
} scenario_t;

#define SCENARIO_FORMAT "len=%zu,chunk=%zu,first=%zu,stop=%zu,mode=%u,rounds=%d"

static void scenario_encode(const scenario_t *sc, char *buf, size_t cap) {
  int n = snprintf(buf, cap, SCENARIO_FORMAT, sc->len, sc->chunk, sc->first_chunk,
                   sc->stop_after, sc->mode, sc->rounds);
  CHECK(n > 0 && (size_t)n < cap);
}

static scenario_t scenario_decode(const char *arg) {
  scenario_t sc;
  if (sscanf(arg, SCENARIO_FORMAT, &sc.len, &sc.chunk, &sc.first_chunk, &sc.stop_after,
             &sc.mode, &sc.rounds) != 6)
    rt_fail(__FILE__, __LINE__, "bad scenario argument \"%s\"", arg);
  return sc;
}

/* Reads everything to end of input in one subscription and checks it. */
SCENARIO(stdin_child_read_to_eof) {
  scenario_t sc = scenario_decode(arg);
  rasio_loop_t *loop = started_loop();
  reader_t r;
  reader_init(&r, sc.len, sc.chunk);
  r.mode = sc.mode;
  CHECK_GE(reader_run(loop, &r), 1);
  CHECK(r.eof);
  check_pattern(r.buf, r.len, sc.len);
  th_loop_end(loop);
  free(r.buf);
}

typedef struct ticker {
  th_rec_t *rec;
  atomic_uint ticks;
} ticker_t;

/* A 20 ms tick that re-arms itself (ESTATE once the main thread has unsubscribed it). */
static void ticker_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  ticker_t *t = ctx;
  if (flags & RASIO_TIMER) {
    atomic_fetch_add(&t->ticks, 1);
    int rc = rasio_event_set_nsec(ev, MS(20));
    CHECK(rc == 0 || rc == RASIO_ESTATE);
  }
  th_rec_notify(ev, flags, arg, t->rec);
}

/* Input arrives late, in two halves with a pause between, on a pipe held open: a non-noisy
 * timer keeps ticking while stdin has nothing, before the first half and between the two
 * (the loop is not stuck in a read), then every byte and end of input arrive. */
SCENARIO(stdin_child_late_data) {
  scenario_t sc = scenario_decode(arg);
  rasio_loop_t *loop = started_loop();
  ticker_t tk = {.rec = rec_new(true)};
  atomic_init(&tk.ticks, 0);
  rasio_event_opts_t o = {.flags = RASIO_TIMER, .nsec = MS(20), .notify = ticker_notify,
                          .ctx = &tk};
  rasio_event_t *tev = NULL;
  CHECK_OK(rasio_event_new(loop, &o, &tev));

  reader_t r;
  reader_init(&r, sc.len, sc.chunk);
  r.ticks = &tk.ticks;
  r.rec = rec_new(true);
  rasio_event_t *ev = stdin_new(loop, 0, reader_notify, &r);
  th_child_signal(); /* the parent now waits (LATE_MS) before writing */
  CHECK(th_rec_wait(r.rec, ev, RASIO_DISPOSED, 1, 15000));
  CHECK_OK(r.err);
  CHECK(r.eof);
  check_pattern(r.buf, r.len, sc.len);
  CHECK_GE(r.ticks_at_data, 5);
  CHECK_GE(r.ticks_at_half - r.ticks_at_data, 5);

  th_dispose(tk.rec, tev);
  th_loop_end(loop);
  rec_free(r.rec);
  rec_free(tk.rec);
  free(r.buf);
}

/* After end of input, each new subscription gets READ and reads end of input again. */
SCENARIO(stdin_child_resubscribe_after_eof) {
  scenario_t sc = scenario_decode(arg);
  rasio_loop_t *loop = started_loop();
  for (int round = 0; round < sc.rounds; round++) {
    reader_t r;
    reader_init(&r, 0, sc.chunk);
    CHECK_GE(reader_run(loop, &r), 1);
    CHECK(r.eof);
    CHECK_EQ(r.len, 0);
    free(r.buf);
  }
  th_loop_end(loop);
}

/* Reads everything to end of input in sc.mode, then, with stdin already at its end,
 * subscribes once in each mode: each gets READ and reads end of input. On a regular file
 * this is the case kqueue cannot report ("Vnodes: Returns when the file pointer is not at
 * the end of file"), so rasio must not leave it to kqueue. */
SCENARIO(stdin_child_subscribe_at_eof) {
  scenario_t sc = scenario_decode(arg);
  rasio_loop_t *loop = started_loop();
  reader_t r;
  reader_init(&r, sc.len, sc.chunk);
  r.mode = sc.mode;
  reader_run(loop, &r);
  CHECK(r.eof);
  check_pattern(r.buf, r.len, sc.len);
  free(r.buf);
  static const uint32_t modes[] = {0, RASIO_ONESHOT, RASIO_LEVEL};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    reader_t again;
    reader_init(&again, 0, sc.chunk);
    again.mode = modes[i];
    CHECK_GE(reader_run(loop, &again), 1);
    CHECK(again.eof);
    CHECK_EQ(again.len, 0);
    free(again.buf);
  }
  th_loop_end(loop);
}

/* Subscriptions in sequence share one buffer: the first reads with first_chunk, then each
 * stops after stop_after chunks (0: the rest) until end of input; every byte must arrive
 * exactly once and in order. */
SCENARIO(stdin_child_resubscribe_mid_stream) {
  scenario_t sc = scenario_decode(arg);
  rasio_loop_t *loop = started_loop();
  reader_t r;
  reader_init(&r, sc.len, sc.first_chunk);
  r.stop_after = 1;
  reader_run(loop, &r);
  CHECK(!r.eof);
  CHECK_GT(r.len, 0);
  r.chunk = sc.chunk;
  r.stop_after = sc.stop_after;
  int subscriptions = 1;
  while (!r.eof) {
    reader_run(loop, &r);
    CHECK_LT(++subscriptions, 100000);
  }
  check_pattern(r.buf, r.len, sc.len);
  th_loop_end(loop);
  free(r.buf);
}

/* One stdin subscription per loop: a second one while the first lives is EEXIST (whatever
 * its mode); once the first is disposed, a new one is accepted. */
SCENARIO(stdin_child_second_subscription) {
  (void)arg;
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  rasio_event_t *first = stdin_new(loop, 0, th_rec_notify, rec);
  static const uint32_t modes[] = {0, RASIO_ONESHOT, RASIO_LEVEL};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    rasio_event_opts_t o = {.flags = RASIO_STDIN | RASIO_READ | modes[i],
                            .notify = th_rec_notify, .ctx = rec};
    rasio_event_t *ev = NULL;
    CHECK_ERR(rasio_event_new(loop, &o, &ev), RASIO_EEXIST);
  }
  th_dispose(rec, first);
  th_rec_t *rec2 = rec_new(true);
  rasio_event_t *again = stdin_new(loop, 0, th_rec_notify, rec2);
  th_dispose(rec2, again);
  th_child_signal(); /* done: the parent may close the pipe it held open meanwhile */
  th_loop_end(loop);
  rec_free(rec);
  rec_free(rec2);
}

/* Disposing a subscription on an idle pipe (held open, no input) completes. */
SCENARIO(stdin_child_dispose_idle) {
  (void)arg;
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  rasio_event_t *ev = stdin_new(loop, 0, th_rec_notify, rec);
  th_sleep_ms(50);
  th_dispose(rec, ev);
  CHECK_EQ(th_rec_count(rec, ev, RASIO_DISPOSED), 1);
  th_child_signal(); /* done: the parent may close the pipe it held open meanwhile */
  th_loop_end(loop);
  rec_free(rec);
}

/* A LEVEL owner that reads one chunk per READ and counts the READs that found nothing. */
typedef struct level_idle {
  th_rec_t *rec;
  atomic_size_t got, reads, empty_reads;
} level_idle_t;

static void level_idle_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  level_idle_t *l = ctx;
  if (flags & RASIO_READ) {
    char buf[4096];
    size_t n = 0;
    atomic_fetch_add(&l->reads, 1);
    int rc = rasio_stdin_read(ev, buf, sizeof buf, &n);
    if (rc == RASIO_EAGAIN) atomic_fetch_add(&l->empty_reads, 1);
    else CHECK_OK(rc);
    atomic_fetch_add(&l->got, n);
  }
  th_rec_notify(ev, flags, arg, l->rec);
}

/* LEVEL stdin on a pipe held open: once the input is drained, READ stops until more comes.
 * A watched stdin (Windows) used to re-post READ every iteration, thousands of empty READs
 * a second; a kernel-watched one (POSIX) never did. A few are allowed: a READ already
 * produced when the last byte was read may still arrive. */
SCENARIO(stdin_child_level_idle) {
  scenario_t sc = scenario_decode(arg);
  rasio_loop_t *loop = started_loop();
  level_idle_t l = {.rec = rec_new(true)};
  rasio_event_t *ev = stdin_new(loop, RASIO_LEVEL, level_idle_notify, &l);
  th_child_signal(); /* the parent writes now */
  uint64_t deadline = th_now_ms() + 15000;
  while (atomic_load(&l.got) < sc.len && th_now_ms() < deadline) th_sleep_ms(5);
  CHECK_EQ(atomic_load(&l.got), sc.len);
  size_t before = atomic_load(&l.reads);
  th_sleep_ms(300);
  CHECK_LE(atomic_load(&l.reads) - before, 3);
  th_dispose(l.rec, ev);
  th_loop_end(loop);
  rec_free(l.rec);
  th_child_signal(); /* done: the parent may close the pipe it held open meanwhile */
}

/* A zero-length read cannot tell data from the end of input: EINVAL on every platform,
 * whatever stdin is, and nothing is consumed. */
SCENARIO(stdin_child_zero_length_read) {
  scenario_t sc = scenario_decode(arg);
  rasio_loop_t *loop = started_loop();
  th_rec_t *rec = rec_new(true);
  rasio_event_t *ev = stdin_new(loop, 0, th_rec_notify, rec);
  CHECK(th_rec_wait(rec, ev, RASIO_READ, 1, 15000));
  char buf[64];
  size_t n = 1;
  CHECK_ERR(rasio_stdin_read(ev, buf, 0, &n), RASIO_EINVAL);
  CHECK_EQ(n, 0);
  CHECK_ERR(rasio_stdin_read(ev, NULL, sizeof buf, &n), RASIO_EINVAL);
  uint64_t deadline = th_now_ms() + 15000;
  size_t got = 0;
  int rc;
  while ((rc = rasio_stdin_read(ev, buf, sizeof buf, &n)) != 0 || n > 0) {
    CHECK(rc == 0 || rc == RASIO_EAGAIN);
    got += n;
    CHECK(th_now_ms() < deadline);
    if (rc == RASIO_EAGAIN) th_sleep_ms(5);
  }
  CHECK_EQ(got, sc.len); /* every byte is still there, then the end of input */
  th_dispose(rec, ev);
  th_loop_end(loop);
  rec_free(rec);
}

/* --- parent side ------------------------------------------------------------------------- */

/* How long the late-data test keeps the pipe quiet before each half: 15 ticks of 20 ms
 * (the scenario wants 5), stretched on slow hosts. */
#define LATE_MS 300u

typedef struct feed {
  bool wait_ready;    /* wait for the child's signal before writing / closing */
  unsigned delay_ms;  /* then wait this long before writing */
  unsigned gap_ms;    /* if set, write the first half, pause this long, write the rest */
  unsigned linger_ms; /* after writing, keep the pipe open this long */
  bool wait_done;     /* then keep it open until the child's second signal */
} feed_t;

static th_child_t *start(const char *scenario, const scenario_t *sc, th_stdin_t in,
                         const void *data, size_t len) {
  char arg[256];
  scenario_encode(sc, arg, sizeof arg);
  return th_child_start(scenario, arg, in, data, len);
}

/* Runs the scenario in a child whose stdin is a pipe; feeds sc->len pattern bytes as f
 * says, closes the pipe and takes the child's verdict. */
static void run_on_pipe(const char *scenario, const scenario_t *sc, feed_t f) {
  th_child_t *c = start(scenario, sc, TH_STDIN_PIPE, NULL, 0);
  uint8_t *data = pattern_new(sc->len);
  /* A missing signal or a short write means the child failed or hung: th_child_finish
   * tells which. */
  if (f.wait_ready) th_child_wait_signal(c, CHILD_WAIT_MS);
  if (f.delay_ms) th_sleep_ms(th_scaled_ms(f.delay_ms));
  size_t first = f.gap_ms ? sc->len / 2 : sc->len;
  if (th_child_write(c, data, first) && f.gap_ms) {
    th_sleep_ms(th_scaled_ms(f.gap_ms));
    th_child_write(c, data + first, sc->len - first);
  }
  if (f.linger_ms) th_sleep_ms(th_scaled_ms(f.linger_ms));
  if (f.wait_done) th_child_wait_signal(c, CHILD_WAIT_MS);
  th_child_close_stdin(c);
  th_child_finish(c, CHILD_WAIT_MS);
  free(data);
}

/* Runs the scenario in a child whose stdin is a regular file holding sc->len pattern bytes. */
static void run_on_file(const char *scenario, const scenario_t *sc) {
  uint8_t *data = pattern_new(sc->len);
  th_child_t *c = start(scenario, sc, TH_STDIN_FILE, data, sc->len);
  free(data);
  th_child_finish(c, CHILD_WAIT_MS);
}

/* Runs the scenario in a child whose stdin is the null device. */
static void run_on_null(const char *scenario, const scenario_t *sc) {
  th_child_finish(start(scenario, sc, TH_STDIN_NULL, NULL, 0), CHILD_WAIT_MS);
}

/* --- tests -------------------------------------------------------------------------------- */

/* An empty pipe whose writer is closed: READ, and the read says end of input. */
TEST_T(stdin_empty_pipe_eof, 40) {
  scenario_t sc = {.len = 0, .chunk = 4096};
  run_on_pipe("stdin_child_read_to_eof", &sc, (feed_t){0});
}

/* A regular file (no kernel readiness: always readable): every byte, then end of input. */
TEST_T(stdin_regular_file, 40) {
  scenario_t sc = {.len = 100 * 1024, .chunk = 4096};
  run_on_file("stdin_child_read_to_eof", &sc);
}

/* The null device (one epoll refuses to watch; NUL on Windows): READ, then end of input. */
TEST_T(stdin_dev_null_eof, 40) {
  scenario_t sc = {.len = 0, .chunk = 4096};
  run_on_null("stdin_child_read_to_eof", &sc);
}

/* A pipe streaming 256 KiB: every byte in order, then end of input. */
TEST_T(stdin_pipe_stream, 40) {
  scenario_t sc = {.len = 256 * 1024, .chunk = 4096};
  run_on_pipe("stdin_child_read_to_eof", &sc, (feed_t){0});
}

/* ONESHOT stdin: one chunk per READ, then clear readable and re-arm; nothing is lost. */
TEST_T(stdin_oneshot_rearm_per_chunk, 40) {
  scenario_t sc = {.len = 32 * 1024, .chunk = 1000, .mode = RASIO_ONESHOT};
  run_on_pipe("stdin_child_read_to_eof", &sc, (feed_t){0});
}

/* LEVEL stdin: one chunk per READ and no re-arm; READ keeps coming while input remains. */
TEST_T(stdin_level_one_chunk_per_read, 40) {
  scenario_t sc = {.len = 32 * 1024, .chunk = 1000, .mode = RASIO_LEVEL};
  run_on_pipe("stdin_child_read_to_eof", &sc, (feed_t){0});
}

/* Both modes where stdin is a regular file (no kernel readiness: rasio synthesises it). */
static void check_file_mode(uint32_t mode) {
  scenario_t sc = {.len = 32 * 1024, .chunk = 1000, .mode = mode};
  run_on_file("stdin_child_read_to_eof", &sc);
}

TEST_T(stdin_regular_file_oneshot, 40) { check_file_mode(RASIO_ONESHOT); }

TEST_T(stdin_regular_file_level, 40) { check_file_mode(RASIO_LEVEL); }

/* A regular file read to its end in each mode, then subscribed again at its end in each
 * mode: READ and end of input every time (kqueue's read filter never fires there). */
static void check_file_at_eof(uint32_t mode) {
  scenario_t sc = {.len = 8 * 1024, .chunk = 1000, .mode = mode};
  run_on_file("stdin_child_subscribe_at_eof", &sc);
}

TEST_T(stdin_regular_file_subscribe_at_eof_edge, 40) { check_file_at_eof(0); }

TEST_T(stdin_regular_file_subscribe_at_eof_oneshot, 40) { check_file_at_eof(RASIO_ONESHOT); }

TEST_T(stdin_regular_file_subscribe_at_eof_level, 40) { check_file_at_eof(RASIO_LEVEL); }

/* The same on a pipe whose writer closed (the kernel reports its end in every mode). */
TEST_T(stdin_pipe_subscribe_at_eof, 40) {
  scenario_t sc = {.len = 8 * 1024, .chunk = 1000, .mode = RASIO_ONESHOT};
  run_on_pipe("stdin_child_subscribe_at_eof", &sc, (feed_t){0});
}

/* An empty regular file: stdin is at its end from the start. */
TEST_T(stdin_empty_regular_file_subscribe_at_eof, 40) {
  scenario_t sc = {.len = 0, .chunk = 1000, .mode = RASIO_LEVEL};
  run_on_file("stdin_child_subscribe_at_eof", &sc);
}

/* Late input on a pipe held open while a timer ticks (Pony 2f76af26d: the loop must not
 * block on stdin). */
TEST_T(stdin_late_data_timer_keeps_ticking, 40) {
  scenario_t sc = {.len = 8 * 1024, .chunk = 4096};
  run_on_pipe("stdin_child_late_data", &sc,
              (feed_t){.wait_ready = true, .delay_ms = LATE_MS, .gap_ms = LATE_MS,
                       .linger_ms = 100});
}

/* Subscribing again after end of input gets READ and end of input, four times (Pony
 * 1e2df00c8: a later subscriber must not wait forever). */
TEST_T(stdin_resubscribe_after_eof, 40) {
  scenario_t sc = {.chunk = 4096, .rounds = 4};
  run_on_pipe("stdin_child_resubscribe_after_eof", &sc, (feed_t){0});
}

TEST_T(stdin_second_subscription_eexist, 40) {
  scenario_t sc = {0};
  run_on_pipe("stdin_child_second_subscription", &sc, (feed_t){.wait_ready = true});
}

/* The same where stdin is not watched by the kernel (the null device: always readable), so
 * the backend's own registration cannot be what refuses the second subscription. */
TEST_T(stdin_second_subscription_eexist_unwatched, 40) {
  scenario_t sc = {0};
  run_on_null("stdin_child_second_subscription", &sc);
}

/* Dispose after the first chunk and subscribe again (first chunk 512, then 64-byte chunks):
 * every byte of 64 KiB exactly once, in order (Pony efc1dc556). */
TEST_T(stdin_dispose_resubscribe_mid_stream, 40) {
  scenario_t sc = {.len = 64 * 1024, .first_chunk = 512, .chunk = 64};
  run_on_pipe("stdin_child_resubscribe_mid_stream", &sc, (feed_t){0});
}

/* Dispose and resubscribe after every 4 KiB chunk while 256 KiB stream in (Pony 8c762ee86:
 * dispose during streaming input). */
TEST_T(stdin_dispose_churn_while_streaming, 60) {
  scenario_t sc = {.len = 256 * 1024, .first_chunk = 4096, .chunk = 4096, .stop_after = 1};
  run_on_pipe("stdin_child_resubscribe_mid_stream", &sc, (feed_t){0});
}

/* Disposing stdin while no input comes (pipe held open) completes (Pony 2f76af26d). */
TEST_T(stdin_dispose_while_idle, 40) {
  scenario_t sc = {0};
  run_on_pipe("stdin_child_dispose_idle", &sc, (feed_t){.wait_ready = true});
}

/* LEVEL stdin stops reporting once drained (no spin of empty READs on a watched pipe). */
TEST_T(stdin_level_idle_pipe_does_not_spin, 40) {
  scenario_t sc = {.len = 1000};
  run_on_pipe("stdin_child_level_idle", &sc, (feed_t){.wait_ready = true, .linger_ms = 0,
                                                      .wait_done = true});
}

TEST_T(stdin_zero_length_read_is_einval_pipe, 40) {
  scenario_t sc = {.len = 100};
  run_on_pipe("stdin_child_zero_length_read", &sc, (feed_t){0});
}

TEST_T(stdin_zero_length_read_is_einval_file, 40) {
  scenario_t sc = {.len = 100};
  run_on_file("stdin_child_zero_length_read", &sc);
}

TEST_T(stdin_zero_length_read_is_einval_null, 40) {
  scenario_t sc = {0};
  run_on_null("stdin_child_zero_length_read", &sc);
}
