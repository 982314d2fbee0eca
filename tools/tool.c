/* SPDX-License-Identifier: BSD-2-Clause */
/* The tools' shared parts; see tool.h. */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L /* getrlimit under -std=c11 */
#endif

#include "tool.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- arguments ----------------------------------------------------------------------- */

void tool_usage_error(const tool_args_t *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", a->prog);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\nTry '%s --help'.\n", a->prog);
  va_end(ap);
  exit(2);
}

bool tool_switch(const tool_args_t *a, const char *name) {
  return strcmp(a->argv[a->i], name) == 0;
}

bool tool_flag(tool_args_t *a, const char *name, const char **value) {
  const char *arg = a->argv[a->i];
  size_t n = strlen(name);
  if (strncmp(arg, name, n) != 0) return false;
  if (arg[n] == '=') {
    *value = arg + n + 1;
    return true;
  }
  if (arg[n] != '\0') return false; /* "--sizes" is not "--size" */
  if (a->i + 1 >= a->argc) tool_usage_error(a, "%s needs a value", name);
  *value = a->argv[++a->i];
  return true;
}

uint64_t tool_parse_uint(const tool_args_t *a, const char *flag, const char *text, uint64_t min,
                         uint64_t max) {
  /* strtoull alone would take " 12", "+12" and "-1" (as a huge number): digits only. */
  bool digits = text[0] != '\0';
  for (const char *p = text; *p != '\0'; p++) digits = digits && *p >= '0' && *p <= '9';
  errno = 0;
  unsigned long long v = digits ? strtoull(text, NULL, 10) : 0;
  if (!digits || errno == ERANGE || v < min || v > max)
    tool_usage_error(a, "%s: expected a whole number from %llu to %llu, got '%s'", flag,
                     (unsigned long long)min, (unsigned long long)max, text);
  return v;
}

uint64_t tool_parse_seconds_ns(const tool_args_t *a, const char *flag, const char *text) {
  char *end;
  errno = 0;
  double s = strtod(text, &end);
  /* Up to a million seconds keeps the nanosecond count far from overflowing. */
  if (end == text || *end != '\0' || errno != 0 || !isfinite(s) || s <= 0 || s > 1e6)
    tool_usage_error(a, "%s: expected seconds (e.g. 30 or 2.5), got '%s'", flag, text);
  return (uint64_t)(s * (double)TOOL_NS_PER_S);
}

bool tool_parse_executor(const tool_args_t *a, const char *text) {
  if (strcmp(text, "mailbox") == 0) return true;
  if (strcmp(text, "inline") != 0)
    tool_usage_error(a, "--executor: expected inline or mailbox, got '%s'", text);
  return false;
}

/* --- the verified byte stream ------------------------------------------------------------ */

/* The SplitMix64 finalizer: a cheap bijection whose every output bit depends on every
 * input bit, so neighbouring offsets and neighbouring streams look unrelated. */
static uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

tool_stream_t tool_stream(uint64_t seed, uint64_t stream) {
  tool_stream_t s = {mix64(seed ^ mix64(stream))};
  return s;
}

/* One hash per 8 bytes: the stream is cheap enough to check at memory speed. */
static uint64_t stream_word(tool_stream_t s, uint64_t index) {
  return mix64(s.key ^ (index * 0xd1b54a32d192ed03ull));
}

uint8_t tool_stream_byte(tool_stream_t s, uint64_t off) {
  return (uint8_t)(stream_word(s, off >> 3) >> ((off & 7) * 8));
}

void tool_stream_fill(tool_stream_t s, uint64_t off, uint8_t *buf, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint64_t w = stream_word(s, (off + i) >> 3);
    for (unsigned b = (unsigned)((off + i) & 7); b < 8 && i < len; b++, i++)
      buf[i] = (uint8_t)(w >> (b * 8));
  }
}

size_t tool_stream_check(tool_stream_t s, uint64_t off, const uint8_t *data, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint64_t w = stream_word(s, (off + i) >> 3);
    for (unsigned b = (unsigned)((off + i) & 7); b < 8 && i < len; b++, i++)
      if (data[i] != (uint8_t)(w >> (b * 8))) return i;
  }
  return len;
}

/* --- the executor harness -------------------------------------------------------------- */

/* After timeout() the application's hard closes should finish at once; if they do not
 * within this, the teardown itself is stuck and the tool gives up loudly. */
#define TEARDOWN_GRACE_NS (5 * TOOL_NS_PER_S)
/* How long the mailbox owner sleeps before re-checking whether the run is over. */
#define OWNER_WAIT_NS (100 * 1000 * 1000)

void tool_exec_deadline(tool_exec_t *x, uint64_t ns) {
  if (x->timer != NULL) (void)rasio_event_set_nsec(x->timer, ns);
}

static void begin(tool_exec_t *x) {
  x->started = true;
  if (x->deadline_ns != 0) tool_exec_deadline(x, x->deadline_ns);
  x->start(x->app);
}

/* Has the application made progress since the deadline's previous expiry? */
static bool moved(tool_exec_t *x) {
  if (x->progress == NULL) return false; /* a plain deadline */
  uint64_t now = x->progress(x->app);
  bool changed = now != x->last_progress;
  x->last_progress = now;
  return changed;
}

/* The one timer: its first expiry (at once) starts the application on the executor
 * thread; later expiries are the deadline, then the deadline of the teardown. */
static void on_timer(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  tool_exec_t *x = ctx;
  if (flags & RASIO_DISPOSED) {
    (void)rasio_event_destroy(ev);
    x->timer = NULL;
    return;
  }
  if (!(flags & RASIO_TIMER)) return;
  if (!x->started) {
    begin(x);
  } else if (!x->timed_out && moved(x)) {
    tool_exec_deadline(x, x->deadline_ns);
  } else if (!x->timed_out) {
    x->timed_out = true;
    tool_exec_deadline(x, TEARDOWN_GRACE_NS);
    if (x->timeout != NULL) x->timeout(x->app);
  } else {
    printf("FAIL: timeout: the teardown did not finish within %llu s\n",
           (unsigned long long)(TEARDOWN_GRACE_NS / TOOL_NS_PER_S));
    fflush(stdout);
    exit(1);
  }
}

/* The timer is not noisy (it must not keep RUN_QUIET alive), so RUN_QUIET would return
 * before anything exists: iterate once at a time until the kick started the application.
 * Afterwards the timer's DISPOSED needs one more iteration. */
static int run_inline(tool_exec_t *x) {
  int rc = 0;
  while (rc == 0 && !x->started) rc = rasio_loop_run(x->loop, RASIO_RUN_ONCE);
  if (rc == 0) rc = rasio_loop_run(x->loop, RASIO_RUN_QUIET);
  if (rc == 0) (void)rasio_event_unsubscribe(x->timer);
  while (rc == 0 && x->timer != NULL) rc = rasio_loop_run(x->loop, RASIO_RUN_ONCE);
  return rc;
}

/* How long the owner waits with nothing at all arriving before it gives up on the loop. */
static uint64_t silence_limit(const tool_exec_t *x) {
  return x->deadline_ns + 2 * TEARDOWN_GRACE_NS;
}

static void owner_turn(tool_exec_t *x, uint64_t *last_heard) {
  if (rasio_mailbox_wait(x->mailbox, OWNER_WAIT_NS) == 0) {
    (void)rasio_mailbox_drain(x->mailbox, 0);
    *last_heard = rasio_now_ns();
    return;
  }
  /* Nothing arrives at all, not even the deadline: the loop thread is gone or stuck. */
  if (x->deadline_ns != 0 && rasio_now_ns() - *last_heard > silence_limit(x)) {
    printf("FAIL: timeout: the loop thread stopped delivering notifications\n");
    fflush(stdout);
    exit(1);
  }
}

/* This thread owns the mailbox: every callback of the application runs here, between
 * waits. The run is over when every noisy event has been destroyed (by the net layer, in
 * the DISPOSED callbacks it ran here). */
static int run_mailbox(tool_exec_t *x) {
  uint64_t last_heard = rasio_now_ns();
  int rc = rasio_loop_start(x->loop);
  if (rc != 0) return rc;
  while (!x->started || rasio_loop_noisy(x->loop) > 0) owner_turn(x, &last_heard);
  (void)rasio_event_unsubscribe(x->timer);
  while (x->timer != NULL) owner_turn(x, &last_heard);
  rc = rasio_loop_stop(x->loop); /* joins the loop thread */
  (void)rasio_mailbox_drain(x->mailbox, 0);
  return rc;
}

static int make_loop(tool_exec_t *x, const char *prog) {
  rasio_loop_opts_t lo = {.backend = x->backend};
  int rc = rasio_loop_new(&lo, &x->loop);
  if (rc == RASIO_ENOBACKEND)
    fprintf(stderr, "%s: --backend %s: %s\n", prog, x->backend, rasio_strerror(rc));
  else if (rc != 0)
    printf("FAIL: backend %s: %s\n", x->backend != NULL ? x->backend : "(default)",
           rasio_strerror(rc));
  return rc;
}

int tool_exec_run(tool_exec_t *x, const char *prog) {
  int rc = make_loop(x, prog);
  if (rc != 0) return rc;
  snprintf(x->backend_name, sizeof x->backend_name, "%s", rasio_loop_backend(x->loop));
  if (x->use_mailbox) rc = rasio_mailbox_new(&x->mailbox);
  rasio_event_opts_t t = {
      .flags = RASIO_TIMER, .nsec = 0, .notify = on_timer, .ctx = x, .mailbox = x->mailbox};
  if (rc == 0) rc = rasio_event_new(x->loop, &t, &x->timer);
  if (rc == 0) rc = x->use_mailbox ? run_mailbox(x) : run_inline(x);
  if (rc != 0) {
    /* Objects may still be alive: freeing the loop now would only trade one error for
     * another, and the process is about to exit anyway. */
    printf("FAIL: loop: %s\n", rasio_strerror(rc));
    return rc;
  }
  /* Both must succeed after a clean run: anything left over is a leak worth a FAIL. */
  if (x->mailbox != NULL && (rc = rasio_mailbox_free(x->mailbox)) != 0) {
    x->free_what = "rasio_mailbox_free";
    x->free_rc = rc;
  }
  x->mailbox = NULL;
  if ((rc = rasio_loop_free(x->loop)) != 0) {
    x->free_what = "rasio_loop_free";
    x->free_rc = rc;
  }
  x->loop = NULL;
  return 0;
}

/* --- odds and ends --------------------------------------------------------------------- */

#if defined(_WIN32)
size_t tool_raise_fd_limit(size_t need) {
  (void)need;
  return SIZE_MAX; /* sockets are handles, not bounded by a descriptor table */
}
#else
#include <sys/resource.h>

size_t tool_raise_fd_limit(size_t need) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  if (rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
    struct rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    /* macOS refuses an infinite soft limit (OPEN_MAX caps it): ask for what is needed. */
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
      want.rlim_cur = (rlim_t)need;
      if (setrlimit(RLIMIT_NOFILE, &want) != 0) want.rlim_cur = rl.rlim_cur;
    }
    rl.rlim_cur = want.rlim_cur;
  }
  return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > SIZE_MAX ? SIZE_MAX : (size_t)rl.rlim_cur;
}
#endif

const char *tool_addr_str(const rasio_addr_t *addr, char *buf, size_t len) {
  if (rasio_addr_format(addr, buf, len) != 0) snprintf(buf, len, "?");
  return buf;
}

void tool_verdict_record(tool_verdict_t *v, const char *fmt, va_list ap) {
  if (v->failed) return;
  vsnprintf(v->reason, sizeof v->reason, fmt, ap);
  v->failed = true;
}
