/* SPDX-License-Identifier: BSD-2-Clause */
/* The seam between the portable runner (runner.c) and its process layer (runner_posix.c,
 * runner_win.c). The build picks the file; runner.c never spells an OS call.
 *
 * The portable side owns the schedule, the verdicts and the report; the process layer only
 * starts a child with its output captured, waits, enforces deadlines and says how the child
 * ended.
 */
#ifndef RASIO_TEST_RUNNER_H
#define RASIO_TEST_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_MAX_JOBS 64

typedef enum rt_state {
  RT_PENDING = 0, /* not started yet */
  RT_RUNNING,     /* spawned, not reaped */
  RT_EXITED,      /* exited normally; code = exit status */
  RT_CRASHED,     /* killed by a signal (or, on Windows, an exception); code and crash say which */
  RT_TIMED_OUT,   /* killed by the runner at its deadline */
  RT_SPAWN_FAILED /* never started; code = the OS error */
} rt_state_t;

typedef struct rt_job {
  const char *name;
  uint64_t deadline_ms; /* absolute, on rt_os_now_ms()'s clock */
  uint64_t start_ms, end_ms;
  rt_state_t state;
  bool relaunched; /* started a second time after rt_os_never_started */
  int code;
  char crash[32]; /* e.g. "SIGSEGV" */
  /* What the child wrote to stdout and stderr, interleaved as written. A flood keeps its
   * beginning and its end (where the failure is); out_dropped bytes between them are gone. */
  char *out;
  size_t out_len, out_cap, out_dropped;
  /* Owned by the process layer: a pid or process handle, and the capture's read end. */
  intptr_t proc;
  intptr_t pipe;
} rt_job_t;

/* The command line that re-executes this program for one test or scenario: the words of
 * RASIO_TEST_WRAPPER, this program, --run=NAME, --backend= the run's backend (if one was
 * chosen), --arg=ARG (if arg is not NULL). The runner starts its test children with it, and
 * a test its scenario children (helpers.h, th_child_start), so both see the same backend
 * and wrapper. argv points into the struct. */
typedef struct rt_cmd {
  char *argv[64];
  char words[512], run[300], backend[300], arg[1024];
} rt_cmd_t;
void rt_child_cmd(rt_cmd_t *cmd, const char *name, const char *arg);
/* What main() does first: remembers this program's path for rt_child_cmd. A program that
 * links the runner but has a main() of its own (runner.c built with RT_NO_MAIN: the fuzzer)
 * calls it before any thread starts; its --run=NAME children then re-execute it. */
void rt_set_self(const char *argv0);
/* The runner's whole main(): the command line at the top of runner.c. */
int rt_main(int argc, char **argv);
/* Whether RASIO_REQUIRE (comma-separated backends) names backend: its absence is then a
 * failure, not a skip. */
bool rt_required(const char *backend);

/* Portable side, for the process layer: keep captured bytes (bounded; the rest is dropped
 * and flagged, but the caller must keep reading so the child never blocks on a full pipe). */
void rt_job_output(rt_job_t *job, const char *data, size_t len);

/* Process layer. */

/* Once in a test child, before the test runs (POSIX: ignore SIGPIPE, so a write to a closed
 * socket is an error code rather than a silent death). */
void rt_os_child_init(void);
/* A path that re-executes this program, even under a wrapper such as valgrind. */
const char *rt_os_self(const char *argv0);
int rt_os_setenv(const char *name, const char *value);
uint64_t rt_os_now_ms(void);
/* Starts argv (argv[0] searched in PATH if it has no directory) in its own process group,
 * stdin from the null device, stdout and stderr into the job's capture. Returns 0, or an OS
 * error code (job untouched). */
int rt_os_spawn(rt_job_t *job, char *const argv[]);
/* Blocks until at least one of the n running jobs has ended: exited, crashed, or hit its
 * deadline (then its whole process group is killed). Sets state, code and end_ms of every
 * job that ended and collects all output they wrote. */
void rt_os_wait(rt_job_t *const jobs[], size_t n);
/* Whether an ended job's process died in the OS loader, before any of the program ran
 * (Windows: STATUS_DLL_INIT_FAILED, which Wine gives now and then under load): no test
 * code ran, so the runner may start it once more. Never on POSIX. */
bool rt_os_never_started(const rt_job_t *job);
/* A printable description of an OS error code from rt_os_spawn. */
const char *rt_os_strerror(int code);
/* Windows process layer only (runner_win.c; POSIX has no command lines): argv as one
 * CreateProcess command line in cmd[0, cap), quoted so the child's CRT splits it back into
 * the same words. False if it does not fit. */
bool rt_os_command_line(char *const argv[], char *cmd, size_t cap);

#endif
