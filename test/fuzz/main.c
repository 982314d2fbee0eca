/* SPDX-License-Identifier: BSD-2-Clause */
/* rasio-fuzz's command line.
 *
 *   rasio-fuzz --seed=N                   replay one seed in this process
 *   rasio-fuzz --seeds=N [--start=S]      a campaign: seeds S .. S+N-1 (S defaults to 1)
 *   rasio-fuzz ... --time=SECONDS         start no seed after SECONDS
 *   options: --backend=NAME --disable=OP,OP --log=N (log entries shown with a failure)
 *            --inproc (campaign in this process: stops at the first failure) --verbose
 *            --list-ops
 *
 * A campaign runs its seeds in worker processes (this program again, --run=worker), one
 * seed after the other, so that a crash or a sanitizer's abort costs one seed and the
 * campaign goes on: a worker tells this side of each seed it passed (th_child_signal),
 * which therefore knows the seed that failed when the worker dies, hangs or reports a
 * divergence, and starts a new worker after it. The worker's output is this process's.
 * The run ends with the failed seeds and the exact line "P passed, F failed" (one count
 * per seed); the exit status is 0 only if none failed (77: the backend is unavailable).
 *
 * RASIO_REQUIRE (comma-separated backends) makes an unavailable backend a failure, as for
 * the conformance suites; RASIO_TEST_TIMEOUT_SCALE stretches every deadline.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "runner.h"

/* AddressSanitizer's last word: its death callback prints the seed's log. (Not under
 * ThreadSanitizer, whose callback runs where a report holds its locks: printing there can
 * hang; the campaign still names the seed.) */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FZ_ASAN 1
#endif
#ifdef FZ_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#define EXIT_SKIP 77
#define EXIT_USAGE 2
#define SEED_LIMIT_S 60   /* a seed that runs longer hangs (the worker's watchdog) */
#define WORKER_LIMIT_S 90 /* ... and if even the watchdog is stuck (this side) */

static fz_config_t cfg = {.log_tail = 400};
static size_t passed, failed;
static bool keep_count; /* this process prints the closing line (not a worker) */

void fz_main_failed(void) {
  if (keep_count) printf("%zu passed, %zu failed\n", passed, failed + 1);
}

static void platform_limits(bool say);

static void usage(void) {
  fprintf(stderr,
          "usage: rasio-fuzz (--seed=N | --seeds=N [--start=S]) [--time=SECONDS]\n"
          "                  [--backend=NAME] [--disable=OP,...] [--log=N] [--inproc]\n"
          "                  [--verbose] | --list-ops\n");
}

static bool starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool parse_u64(const char *s, uint64_t *out) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (*s == '\0' || *end != '\0') return false;
  *out = v;
  return true;
}

static bool disable(const char *list) {
  while (*list != '\0') {
    size_t len = strcspn(list, ",");
    int found = -1;
    for (int i = 0; i < FZ_NOPS; i++)
      if (strlen(fz_op_names[i]) == len && strncmp(fz_op_names[i], list, len) == 0) found = i;
    if (found < 0) {
      fprintf(stderr, "rasio-fuzz: no operation named %.*s (--list-ops)\n", (int)len, list);
      return false;
    }
    cfg.disabled[found] = true;
    list += len + (list[len] == ',');
  }
  return true;
}

/* --- the worker's watchdog and the sanitizers' last word ---------------------------------------- */

static void *watchdog(void *arg) {
  (void)arg;
  unsigned limit = th_scaled_ms(SEED_LIMIT_S * 1000u);
  for (;;) {
    th_sleep_ms(500);
    uint64_t started = fz_seed_started_ms();
    if (started != 0 && th_now_ms() > started + limit)
      fz_fail("hang: the seed did not finish within %u ms (see who waits for what below)", limit);
  }
  return NULL;
}

#ifdef FZ_ASAN
static void on_sanitizer_death(void) {
  if (fz_report("a sanitizer stopped the process (its report is above)")) fz_main_failed();
  fflush(stdout);
}
#endif

static void seed_process_init(void) {
  rt_os_child_init(); /* SIGPIPE ignored, as in every test process */
  fz_signal_setup();
  pthread_t t = th_thread_start(watchdog, NULL);
  pthread_detach(t);
#ifdef FZ_ASAN
  __sanitizer_set_death_callback(on_sanitizer_death);
#endif
}

/* --- running seeds here ------------------------------------------------------------------------ */

static bool time_left(uint64_t deadline) { return deadline == 0 || th_now_ms() < deadline; }

static void run_one(uint64_t seed) {
  fz_run_seed(seed, &cfg);
  if (cfg.verbose)
    printf("ok seed %llu (%s, %d owners, %u slots, %u events)\n", (unsigned long long)seed,
           W.driven ? "driven" : "threaded", W.nowners, W.nslots, W.nrecs);
}

/* --seed and --inproc: a failure ends the process (fz_fail prints the closing line). */
static int run_here(uint64_t start, uint64_t count, uint64_t deadline) {
  keep_count = true;
  seed_process_init();
  for (uint64_t s = start; s < start + count && time_left(deadline); s++) {
    run_one(s);
    passed++;
  }
  if (cfg.verbose) fz_log_tally();
  printf("%zu passed, %zu failed\n", passed, failed);
  return 0;
}

/* --run=worker --arg=START:COUNT:MS:LOG:VERBOSE:DISABLED: seeds until COUNT ran or MS
 * passed (0: no limit), signalling each one that passed. DISABLED is --disable's list, or
 * "-". */
static int run_worker(const char *arg) {
  unsigned long long start, count, ms, log_tail;
  int verbose, used = 0;
  if (sscanf(arg, "%llu:%llu:%llu:%llu:%d:%n", &start, &count, &ms, &log_tail, &verbose,
             &used) != 5 ||
      used == 0 || (strcmp(arg + used, "-") != 0 && !disable(arg + used))) {
    fprintf(stderr, "rasio-fuzz: bad worker argument %s\n", arg);
    return EXIT_USAGE;
  }
  cfg.log_tail = (unsigned)log_tail;
  cfg.verbose = verbose != 0;
  platform_limits(false);
  seed_process_init();
  uint64_t deadline = ms ? th_now_ms() + ms : 0;
  for (uint64_t s = start; s < start + count && time_left(deadline); s++) {
    run_one(s);
    th_child_signal();
  }
  return 0;
}

/* --- the campaign ------------------------------------------------------------------------------ */

#define MAX_LISTED 64

static uint64_t failed_seeds[MAX_LISTED];

static void seed_failed(uint64_t seed, const char *why) {
  printf("FAIL seed %llu: %s\n", (unsigned long long)seed, why);
  printf("replay: rasio-fuzz --seed=%llu%s%s\n", (unsigned long long)seed,
         cfg.backend ? " --backend=" : "", cfg.backend ? cfg.backend : "");
  fflush(stdout);
  if (failed < MAX_LISTED) failed_seeds[failed] = seed;
  failed++;
}

/* Why a worker ended before its last seed. */
static void worker_verdict(int code, const char *why, char *out, size_t cap) {
  if (code == FZ_EXIT_DIVERGENCE)
    snprintf(out, cap, "divergence from the model (the report is above)");
  else if (code < 0)
    snprintf(out, cap, "worker %s", why);
  else
    snprintf(out, cap, "worker exit status %d (the sanitizer's or the helper's report is above)",
             code);
}

static int campaign(uint64_t start, uint64_t count, uint64_t deadline) {
  keep_count = true;
  uint64_t next = start, end = start + count;
  while (next < end && time_left(deadline)) {
    uint64_t ms = deadline ? deadline - th_now_ms() : 0;
    char arg[1024], off[600] = "";
    for (int k = 0; k < FZ_NOPS; k++)
      if (cfg.disabled[k])
        snprintf(off + strlen(off), sizeof off - strlen(off), "%s%s", off[0] ? "," : "",
                 fz_op_names[k]);
    snprintf(arg, sizeof arg, "%llu:%llu:%llu:%u:%d:%s", (unsigned long long)next,
             (unsigned long long)(end - next), (unsigned long long)ms, cfg.log_tail,
             cfg.verbose ? 1 : 0, off[0] ? off : "-");
    th_child_t *c = th_child_start("worker", arg, TH_STDIN_NULL, NULL, 0);
    while (next < end && th_child_wait_signal(c, WORKER_LIMIT_S * 1000u)) {
      next++;
      passed++;
    }
    char why[160], verdict[200];
    int code = th_child_end(c, 5000, why, sizeof why);
    if (code == 0 && (next == end || !time_left(deadline) || ms != 0)) break; /* all ran, or time */
    worker_verdict(code, why, verdict, sizeof verdict);
    if (next == end) { /* every seed passed, then the worker failed: its exit (a leak?) */
      printf("FAIL after seed %llu: %s\n", (unsigned long long)(end - 1), verdict);
      failed++;
      break;
    }
    seed_failed(next, verdict);
    next++;
  }
  if (failed > 0) {
    printf("failed seeds:");
    for (size_t i = 0; i < failed && i < MAX_LISTED; i++)
      printf(" %llu", (unsigned long long)failed_seeds[i]);
    printf("%s\n", failed > MAX_LISTED ? " ..." : "");
  }
  printf("%zu passed, %zu failed\n", passed, failed);
  return failed > 0 ? 1 : 0;
}

/* --- the backend and the platform ---------------------------------------------------------------- */

/* 0, or the exit status: the backend cannot run here. */
static int check_backend(void) {
  rasio_loop_t *loop = NULL;
  int err = rasio_loop_new(&(rasio_loop_opts_t){.backend = cfg.backend}, &loop);
  if (err == 0) {
    printf("rasio-fuzz: backend %s\n", rasio_loop_backend(loop));
    rasio_loop_free(loop);
    return 0;
  }
  const char *name = cfg.backend ? cfg.backend : "default";
  if (cfg.backend != NULL && rt_required(cfg.backend)) {
    printf("FAIL: required backend %s unavailable: %s\n0 passed, 1 failed\n", name,
           rasio_strerror(err));
    return 1;
  }
  printf("skipped: backend %s unavailable: %s\n0 passed, 0 failed\n", name, rasio_strerror(err));
  return EXIT_SKIP;
}

/* Operations this platform cannot do, each with its reason (said once, by the parent). */
static void platform_limits(bool say) {
  uint16_t port;
  rasio_fd_t fd = th_udp(&port);
  rasio_fd_t old = th_swap_socket(fd);
  th_close(fd);
  if (old != RASIO_INVALID_FD) {
    th_close(old);
  } else if (!cfg.disabled[FZ_OP_swap]) {
    cfg.disabled[FZ_OP_swap] = true;
    if (say)
      printf("rasio-fuzz: op swap disabled: a socket cannot be put behind another's number here "
           "(no dup2)\n");
  }
}

int main(int argc, char **argv) {
  rt_set_self(argv[0]);
  uint64_t seed = 0, seeds = 0, start = 1, seconds = 0, log_tail = 400;
  bool one = false, inproc = false;
  const char *run = NULL, *arg = "";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool ok = true;
    if (starts_with(a, "--seed=")) {
      ok = parse_u64(a + 7, &seed);
      one = true;
    } else if (starts_with(a, "--seeds=")) {
      ok = parse_u64(a + 8, &seeds);
    } else if (starts_with(a, "--start=")) {
      ok = parse_u64(a + 8, &start);
    } else if (starts_with(a, "--time=")) {
      ok = parse_u64(a + 7, &seconds);
    } else if (starts_with(a, "--log=")) {
      ok = parse_u64(a + 6, &log_tail);
    } else if (starts_with(a, "--backend=")) {
      cfg.backend = a[10] != '\0' ? a + 10 : NULL;
    } else if (starts_with(a, "--disable=")) {
      ok = disable(a + 10);
    } else if (strcmp(a, "--inproc") == 0) {
      inproc = true;
    } else if (strcmp(a, "--verbose") == 0) {
      cfg.verbose = true;
    } else if (strcmp(a, "--list-ops") == 0) {
      for (int k = 0; k < FZ_NOPS; k++) printf("%-14s %s\n", fz_op_names[k], fz_op_help[k]);
      return 0;
    } else if (starts_with(a, "--run=")) {
      run = a + 6;
    } else if (starts_with(a, "--arg=")) {
      arg = a + 6;
    } else {
      ok = false;
    }
    if (!ok) {
      usage();
      return EXIT_USAGE;
    }
  }
  cfg.log_tail = (unsigned)log_tail;
  /* Workers and replays see the same backend: rt_child_cmd passes it on. */
  if (cfg.backend == NULL) cfg.backend = rt_backend();
  if (cfg.backend != NULL && rt_os_setenv("RASIO_BACKEND", cfg.backend) != 0) return EXIT_USAGE;
  /* Counting the numbers below a bound means something where sockets are small ints. */
  cfg.count_handles = th_fds_are_ints();
  if (run != NULL) return strcmp(run, "worker") == 0 ? run_worker(arg) : EXIT_USAGE;
  if (!one && seeds == 0) {
    usage();
    return EXIT_USAGE;
  }
  int rc = check_backend();
  if (rc != 0) return rc;
  for (int k = 0; k < FZ_NOPS; k++)
    if (cfg.disabled[k]) printf("rasio-fuzz: op %s disabled (--disable)\n", fz_op_names[k]);
  platform_limits(true);
  fflush(stdout);
  uint64_t deadline = seconds ? th_now_ms() + seconds * 1000u : 0;
  if (one) return run_here(seed, 1, 0);
  if (inproc) return run_here(start, seeds, deadline);
  return campaign(start, seeds, deadline);
}
