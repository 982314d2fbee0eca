/* SPDX-License-Identifier: BSD-2-Clause */
/* The test runner behind check.h: the table TEST() fills, the command line, the child side
 * of a test, and the parent's schedule and report. Plain C11; processes are runner.h's job.
 *
 *   prog --list                                   test names, one a line
 *   prog [--backend=NAME] [--jobs=N] [FILTER...]  run every test whose name contains a FILTER
 *   prog --run=NAME [--backend=NAME] [--arg=ARG]  (internal) run one test or scenario in
 *                                                 this process; ARG is the scenario's
 *
 * Every test runs in a child process (this program re-executed with --run), so a crash or a
 * hang costs one test, not the run. A child exits 0 (pass), 1 (rt_fail) or 77 (rt_skip,
 * after printing "SKIP: reason"); anything else is a failure. The run ends with the skipped
 * tests and their reasons, "N skipped" (if any), and the exact line "P passed, F failed".
 * Scenarios (check.h's SCENARIO) share the table but are never listed or run by the parent:
 * only --run starts one, from a test that made a child process for it (helpers.h).
 *
 * Environment: RASIO_BACKEND (backend when no --backend), RASIO_REQUIRE (comma-separated
 * backends whose absence is a failure rather than a skip), RASIO_TEST_TIMEOUT_SCALE
 * (multiplies every timeout), RASIO_TEST_WRAPPER (a command prefixed to every child, split
 * at blanks, e.g. "valgrind --error-exitcode=99 --leak-check=full -q").
 */
#include "runner.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MAX_TESTS 1024
#define EXIT_SKIP 77
#define EXIT_USAGE 2
/* Captured output per test: the first OUT_HEAD bytes and the last OUT_MAX - OUT_HEAD. Enough
 * to diagnose a failure; a runaway child must not eat the memory or the CI log. */
#define OUT_HEAD (64u << 10)
#define OUT_MAX (256u << 10)
#define REASON_MAX 256

typedef struct test {
  const char *name;
  const char *file;
  rt_test_fn fn;               /* a test, or NULL for ... */
  rt_scenario_fn scenario;     /* ... a scenario (hidden: not listed, not selected) */
  int timeout_s;
} test_t;

typedef enum verdict { V_PASS, V_FAIL, V_SKIP } verdict_t;

typedef struct outcome {
  verdict_t verdict;
  char reason[REASON_MAX]; /* skip reason, or what killed a failed test; may be empty */
} outcome_t;

typedef struct opts {
  bool list;
  const char *run;
  const char *arg; /* --arg, for a scenario */
  int jobs;
  int argc; /* the filters are argv's arguments that do not start with "--" */
  char **argv;
} opts_t;

typedef struct tally {
  const char *label;
  size_t passed, failed, skipped;
} tally_t;

static test_t tests[MAX_TESTS];
static size_t ntests;
static bool too_many_tests;
static const char *opt_backend;
static const char *self_path; /* this program, for re-executing it (rt_os_self, once) */

/* --- the surface of check.h ------------------------------------------------------------ */

static void add(test_t t) {
  /* Runs before main(), where nothing can be reported yet: main() does it. */
  if (ntests == MAX_TESTS) {
    too_many_tests = true;
    return;
  }
  tests[ntests++] = t;
}

void rt_register(const char *name, const char *file, rt_test_fn fn, int timeout_s) {
  add((test_t){.name = name, .file = file, .fn = fn, .timeout_s = timeout_s});
}

void rt_register_scenario(const char *name, const char *file, rt_scenario_fn fn) {
  add((test_t){.name = name, .file = file, .scenario = fn});
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/'), *bslash = strrchr(path, '\\');
  if (bslash > slash) slash = bslash;
  return slash ? slash + 1 : path;
}

void rt_fail(const char *file, int line, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fflush(stdout);
  fprintf(stderr, "FAIL %s:%d: %s\n", base_name(file), line, msg);
  fflush(stderr);
  /* _Exit, not exit: other threads of the test may still be running, and atexit handlers
   * or destructors racing them would only muddy the report. */
  _Exit(1);
}

void rt_skip(const char *fmt, ...) {
  char msg[REASON_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  printf("SKIP: %s\n", msg);
  fflush(stdout);
  _Exit(EXIT_SKIP);
}

const char *rt_backend(void) {
  if (opt_backend != NULL) return opt_backend;
  const char *env = getenv("RASIO_BACKEND");
  return env != NULL && env[0] != '\0' ? env : NULL;
}

/* --- table and command line ------------------------------------------------------------- */

static const test_t *find_test(const char *name) {
  for (size_t i = 0; i < ntests; i++)
    if (strcmp(tests[i].name, name) == 0) return &tests[i];
  return NULL;
}

/* --run finds tests by name, so a name defined in two files would silently run one twice. */
static bool table_ok(void) {
  if (too_many_tests) {
    fprintf(stderr, "runner: more than %d tests; raise MAX_TESTS in runner.c\n", MAX_TESTS);
    return false;
  }
  for (size_t i = 0; i < ntests; i++) {
    const test_t *first = find_test(tests[i].name);
    if (first != &tests[i]) {
      fprintf(stderr, "runner: test %s is defined twice (%s, %s)\n", tests[i].name,
              base_name(first->file), base_name(tests[i].file));
      return false;
    }
  }
  return true;
}

static bool starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int usage(const char *prog) {
  fprintf(stderr, "usage: %s [--list] [--backend=NAME] [--jobs=N] [FILTER...]\n", prog);
  return EXIT_USAGE;
}

static bool parse_args(int argc, char **argv, opts_t *o) {
  *o = (opts_t){.jobs = 1, .argc = argc, .argv = argv};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--list") == 0) {
      o->list = true;
    } else if (starts_with(a, "--run=")) {
      o->run = a + strlen("--run=");
    } else if (starts_with(a, "--arg=")) {
      o->arg = a + strlen("--arg=");
    } else if (starts_with(a, "--backend=")) {
      opt_backend = a[strlen("--backend=")] != '\0' ? a + strlen("--backend=") : NULL;
    } else if (starts_with(a, "--jobs=")) {
      o->jobs = atoi(a + strlen("--jobs="));
      if (o->jobs < 1 || o->jobs > RT_MAX_JOBS) return false;
    } else if (starts_with(a, "--")) {
      return false;
    }
  }
  return true;
}

static bool has_filters(const opts_t *o) {
  for (int i = 1; i < o->argc; i++)
    if (!starts_with(o->argv[i], "--")) return true;
  return false;
}

static bool selected(const opts_t *o, const test_t *t) {
  if (t->scenario != NULL) return false;
  if (!has_filters(o)) return true;
  for (int i = 1; i < o->argc; i++)
    if (!starts_with(o->argv[i], "--") && strstr(t->name, o->argv[i]) != NULL) return true;
  return false;
}

/* --- the child: one test ---------------------------------------------------------------- */

static int run_child(const char *name, const char *arg) {
  const test_t *t = find_test(name);
  if (t == NULL) {
    fprintf(stderr, "runner: no test named %s\n", name);
    return EXIT_USAGE;
  }
  /* Unbuffered, so whatever the test printed survives a crash or an _Exit. */
  setvbuf(stdout, NULL, _IONBF, 0);
  rt_os_child_init();
  if (t->scenario != NULL)
    t->scenario(arg != NULL ? arg : "");
  else
    t->fn();
  return 0;
}

/* --- verdicts and the report ------------------------------------------------------------ */

/* The reason a child gave on its "SKIP: " line. The first one, if several: a test whose
 * scenario child skipped skips too, and the child's reason, printed first, is the real one. */
static void skip_reason(const rt_job_t *job, char *out, size_t cap) {
  const char *found = NULL;
  for (size_t i = 0; found == NULL && i + 6 <= job->out_len; i++)
    if ((i == 0 || job->out[i - 1] == '\n') && memcmp(job->out + i, "SKIP: ", 6) == 0)
      found = job->out + i + 6;
  if (found == NULL) {
    snprintf(out, cap, "exit status 77 without a reason");
    return;
  }
  size_t len = strcspn(found, "\r\n");
  snprintf(out, cap, "%.*s", (int)len, found);
}

static verdict_t judge(const rt_job_t *job, char *why, size_t cap) {
  why[0] = '\0';
  switch (job->state) {
    case RT_EXITED:
      if (job->code == 0) return V_PASS;
      if (job->code == EXIT_SKIP) {
        skip_reason(job, why, cap);
        return V_SKIP;
      }
      /* 1 is rt_fail, whose own line says it all. */
      if (job->code != 1) snprintf(why, cap, "exit status %d", job->code);
      return V_FAIL;
    case RT_CRASHED:
      snprintf(why, cap, "killed by %s", job->crash);
      return V_FAIL;
    case RT_TIMED_OUT:
      snprintf(why, cap, "timeout after %llu s",
               (unsigned long long)(job->deadline_ms - job->start_ms + 999) / 1000);
      return V_FAIL;
    default:
      snprintf(why, cap, "could not start: %s", rt_os_strerror(job->code));
      return V_FAIL;
  }
}

static void print_lines(const char *p, const char *end, bool hide_skip) {
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (!(hide_skip && len >= 6 && starts_with(p, "SKIP: "))) printf("    %.*s\n", (int)len, p);
    p += len + 1;
  }
}

/* The child's output, indented. A skip's own "SKIP: " line is left out: the verdict line
 * already shows its reason. */
static void print_output(const rt_job_t *job, bool hide_skip) {
  if (job->out_len == 0) return; /* out may be NULL, and NULL + 0 upsets UBSan */
  size_t head = job->out_dropped > 0 ? OUT_HEAD : job->out_len;
  print_lines(job->out, job->out + head, hide_skip);
  if (job->out_dropped == 0) return;
  printf("    [... %zu bytes of output dropped ...]\n", job->out_dropped);
  print_lines(job->out + head, job->out + job->out_len, hide_skip);
}

static void print_verdict(size_t num, const tally_t *t, const char *name, const outcome_t *o,
                          uint64_t ms) {
  if (o->verdict == V_SKIP)
    printf("skip %zu - %s/%s: %s\n", num, t->label, name, o->reason);
  else if (o->verdict == V_PASS)
    printf("ok   %zu - %s/%s (%llu ms)\n", num, t->label, name, (unsigned long long)ms);
  else if (o->reason[0] == '\0')
    printf("FAIL %zu - %s/%s (%llu ms)\n", num, t->label, name, (unsigned long long)ms);
  else
    printf("FAIL %zu - %s/%s (%s)\n", num, t->label, name, o->reason);
}

static void count(tally_t *t, verdict_t v) {
  if (v == V_PASS) t->passed++;
  if (v == V_FAIL) t->failed++;
  if (v == V_SKIP) t->skipped++;
}

static void report(size_t num, rt_job_t *job, outcome_t *o, tally_t *t) {
  o->verdict = judge(job, o->reason, sizeof o->reason);
  print_verdict(num, t, job->name, o, job->end_ms - job->start_ms);
  if (o->verdict != V_PASS) print_output(job, o->verdict == V_SKIP);
  fflush(stdout);
  count(t, o->verdict);
  free(job->out);
  job->out = NULL;
}

/* The closing lines, which CI reads: failures and skips by name, then the counts. */
static int finish(const tally_t *t, rt_job_t *jobs, const outcome_t *outs, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (outs[i].verdict == V_FAIL) printf("failed: %s/%s\n", t->label, jobs[i].name);
  for (size_t i = 0; i < n; i++)
    if (outs[i].verdict == V_SKIP)
      printf("skipped: %s/%s: %s\n", t->label, jobs[i].name, outs[i].reason);
  if (t->skipped > 0) printf("%zu skipped\n", t->skipped);
  printf("%zu passed, %zu failed\n", t->passed, t->failed);
  fflush(stdout);
  return t->failed > 0 ? 1 : 0;
}

/* --- the parent: schedule --------------------------------------------------------------- */

static uint64_t timeout_ms(const test_t *t) {
  const char *env = getenv("RASIO_TEST_TIMEOUT_SCALE");
  double scale = env != NULL ? strtod(env, NULL) : 1.0;
  if (!(scale > 0)) scale = 1.0;
  int s = t->timeout_s > 0 ? t->timeout_s : RT_DEFAULT_TIMEOUT_S;
  return (uint64_t)(s * 1000.0 * scale);
}

/* Splits s in place at blanks into at most cap words; returns how many. Not strtok: its
 * hidden state would make rt_child_cmd unsafe on a test's other threads. */
static size_t split_words(char *s, char **words, size_t cap) {
  size_t n = 0;
  for (char *p = s; *p != '\0' && n < cap;) {
    p += strspn(p, " \t");
    if (*p == '\0') break;
    words[n++] = p;
    p += strcspn(p, " \t");
    if (*p != '\0') *p++ = '\0';
  }
  return n;
}

/* snprintf that says whether everything fitted. */
static bool fits(char *buf, size_t cap, const char *prefix, const char *value) {
  int n = snprintf(buf, cap, "%s%s", prefix, value);
  return n >= 0 && (size_t)n < cap;
}

static bool child_cmd(rt_cmd_t *cmd, const char *name, const char *arg) {
  const char *wrapper = getenv("RASIO_TEST_WRAPPER"), *backend = rt_backend();
  const size_t cap = sizeof cmd->argv / sizeof cmd->argv[0];
  if (!fits(cmd->words, sizeof cmd->words, "", wrapper != NULL ? wrapper : "")) return false;
  size_t n = split_words(cmd->words, cmd->argv, cap - 5); /* room for the 4 below and NULL */
  cmd->argv[n++] = (char *)self_path;
  if (!fits(cmd->run, sizeof cmd->run, "--run=", name)) return false;
  cmd->argv[n++] = cmd->run;
  if (backend != NULL) {
    if (!fits(cmd->backend, sizeof cmd->backend, "--backend=", backend)) return false;
    cmd->argv[n++] = cmd->backend;
  }
  if (arg != NULL) {
    if (!fits(cmd->arg, sizeof cmd->arg, "--arg=", arg)) return false;
    cmd->argv[n++] = cmd->arg;
  }
  cmd->argv[n] = NULL;
  return true;
}

/* A cut command line would run something else than asked: that is a bug in the caller
 * (an oversized scenario argument), not a test outcome. */
void rt_child_cmd(rt_cmd_t *cmd, const char *name, const char *arg) {
  if (!child_cmd(cmd, name, arg))
    rt_fail(__FILE__, __LINE__, "command line for %s does not fit rt_cmd_t", name);
}

static void start(rt_job_t *job, const test_t *t) {
  rt_cmd_t cmd;
  if (!child_cmd(&cmd, t->name, NULL)) { /* test names and backends are short */
    fprintf(stderr, "runner: command line for %s does not fit rt_cmd_t\n", t->name);
    exit(EXIT_USAGE);
  }
  job->start_ms = rt_os_now_ms();
  job->deadline_ms = job->start_ms + timeout_ms(t);
  int err = rt_os_spawn(job, cmd.argv);
  if (err != 0) {
    job->state = RT_SPAWN_FAILED;
    job->code = err;
    job->end_ms = job->start_ms;
  }
}

/* Drops jobs that are no longer running from the running set; returns the new count. */
static size_t compact(rt_job_t **running, size_t n) {
  size_t kept = 0;
  for (size_t i = 0; i < n; i++)
    if (running[i]->state == RT_RUNNING) running[kept++] = running[i];
  return kept;
}

static bool finished(const rt_job_t *job) {
  return job->state != RT_PENDING && job->state != RT_RUNNING;
}

/* A job whose process died in the loader before the test began (rt_os_never_started) is
 * started once more, saying so in its output; a second such death is its outcome. */
static void relaunch(rt_job_t *const *running, size_t n, const test_t **sel, rt_job_t *all) {
  for (size_t i = 0; i < n; i++) {
    rt_job_t *job = running[i];
    if (!finished(job) || job->relaunched || !rt_os_never_started(job)) continue;
    static const char why[] = "runner: the process died in the loader before the test began; "
                              "started once more\n";
    rt_job_output(job, why, sizeof why - 1);
    job->relaunched = true;
    start(job, sel[job - all]);
  }
}

/* Runs the selected tests, `jobs` at a time, reporting strictly in test order. */
static int run_all(const test_t **sel, size_t n, int jobs, tally_t *t) {
  rt_job_t *all = calloc(n, sizeof *all);
  outcome_t *outs = calloc(n, sizeof *outs);
  rt_job_t *running[RT_MAX_JOBS];
  size_t next = 0, printed = 0, nrun = 0;
  if (all == NULL || outs == NULL) abort();
  while (printed < n) {
    for (; nrun < (size_t)jobs && next < n; next++) {
      all[next].name = sel[next]->name;
      start(&all[next], sel[next]);
      if (all[next].state == RT_RUNNING) running[nrun++] = &all[next];
    }
    if (nrun > 0) rt_os_wait(running, nrun);
    relaunch(running, nrun, sel, all);
    nrun = compact(running, nrun);
    for (; printed < n && finished(&all[printed]); printed++)
      report(printed + 1, &all[printed], &outs[printed], t);
  }
  int rc = finish(t, all, outs, n);
  free(all);
  free(outs);
  return rc;
}

/* --- the parent: the backend check ------------------------------------------------------ */

bool rt_required(const char *backend) {
  const char *list = getenv("RASIO_REQUIRE");
  size_t len = strlen(backend);
  for (const char *p = list; p != NULL && *p != '\0'; p += strcspn(p, ",")) {
    p += strspn(p, ", ");
    if (strncmp(p, backend, len) == 0 && strchr(", ", p[len]) != NULL) return true;
  }
  return false;
}

static int probe(const char *backend) {
  rasio_loop_t *loop = NULL;
  int err = rasio_loop_new(&(rasio_loop_opts_t){.backend = backend}, &loop);
  if (err == 0) rasio_loop_free(loop);
  return err;
}

/* A backend that cannot run here: every test skipped loudly (exit 77, so ctest says "not
 * run" rather than "passed"), or one failure when CI requires that backend. */
static int unavailable(const char *backend, int err, const test_t **sel, size_t n, tally_t *t) {
  if (rt_required(backend)) {
    printf("FAIL: required backend %s unavailable: %s\n", backend, rasio_strerror(err));
    printf("0 passed, 1 failed\n");
    return 1;
  }
  rt_job_t *jobs = calloc(n, sizeof *jobs);
  outcome_t *outs = calloc(n, sizeof *outs);
  if (jobs == NULL || outs == NULL) abort();
  for (size_t i = 0; i < n; i++) {
    jobs[i].name = sel[i]->name;
    outs[i].verdict = V_SKIP;
    snprintf(outs[i].reason, sizeof outs[i].reason, "backend %s unavailable: %s", backend,
             rasio_strerror(err));
    print_verdict(i + 1, t, sel[i]->name, &outs[i], 0);
    count(t, V_SKIP);
  }
  finish(t, jobs, outs, n);
  free(jobs);
  free(outs);
  return EXIT_SKIP;
}

static int run_parent(const opts_t *o) {
  static const test_t *sel[MAX_TESTS];
  size_t n = 0;
  for (size_t i = 0; i < ntests; i++)
    if (selected(o, &tests[i])) sel[n++] = &tests[i];
  const char *backend = rt_backend();
  tally_t t = {.label = backend ? backend : "default"};
  if (n == 0 && has_filters(o)) {
    fprintf(stderr, "runner: no test matches the filters\n");
    return EXIT_USAGE;
  }
  if (n == 0) {
    /* An empty suite proves nothing: say so, and let ctest show it as not run. */
    printf("no tests registered\n0 passed, 0 failed\n");
    return EXIT_SKIP;
  }
  int err = backend != NULL ? probe(backend) : 0;
  if (err != 0) return unavailable(backend, err, sel, n, &t);
  if (backend != NULL && rt_os_setenv("RASIO_BACKEND", backend) != 0) abort();
  return run_all(sel, n, o->jobs, &t);
}

/* Keeps the head, slides the tail. The buffer stays NUL-terminated, so the report may scan
 * it with string functions. */
void rt_job_output(rt_job_t *job, const char *data, size_t len) {
  const size_t tail = OUT_MAX - OUT_HEAD;
  if (job->out_len < OUT_HEAD && len > OUT_HEAD - job->out_len) { /* fill the head first */
    size_t part = OUT_HEAD - job->out_len;
    rt_job_output(job, data, part);
    data += part;
    len -= part;
  }
  if (len > tail) { /* only its end can survive anyway */
    job->out_dropped += len - tail;
    data += len - tail;
    len = tail;
  }
  if (job->out_len + len > OUT_MAX) { /* drop what follows the head */
    size_t excess = job->out_len + len - OUT_MAX;
    memmove(job->out + OUT_HEAD, job->out + OUT_HEAD + excess, job->out_len - OUT_HEAD - excess);
    job->out_len -= excess;
    job->out_dropped += excess;
  }
  if (job->out_len + len + 1 > job->out_cap) {
    size_t cap = job->out_cap ? job->out_cap : 4096;
    while (cap < job->out_len + len + 1) cap *= 2;
    char *grown = realloc(job->out, cap);
    if (grown == NULL) abort();
    job->out = grown;
    job->out_cap = cap;
  }
  memcpy(job->out + job->out_len, data, len);
  job->out_len += len;
  job->out[job->out_len] = '\0';
}

void rt_set_self(const char *argv0) { self_path = rt_os_self(argv0); }

int rt_main(int argc, char **argv) {
  opts_t o;
  rt_set_self(argv[0]); /* here, before any thread could race its buffer */
  if (!parse_args(argc, argv, &o)) return usage(argv[0]);
  if (!table_ok()) return EXIT_USAGE;
  if (o.list) {
    for (size_t i = 0; i < ntests; i++)
      if (tests[i].scenario == NULL) printf("%s\n", tests[i].name);
    return 0;
  }
  if (o.run != NULL) return run_child(o.run, o.arg);
  return run_parent(&o);
}

/* A program with a main() of its own (the fuzzer) builds this file with RT_NO_MAIN. */
#ifndef RT_NO_MAIN
int main(int argc, char **argv) { return rt_main(argc, argv); }
#endif
