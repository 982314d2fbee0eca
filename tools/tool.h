/* SPDX-License-Identifier: BSD-2-Clause */
/* What the rasio tools share: argument parsing, the position-keyed byte stream their
 * verifiers check against, the executor harness (inline or mailbox) with a deadline, and
 * the file-descriptor limit. Nothing here is public API; it only keeps the tools short and
 * alike.
 */
#ifndef RASIO_TOOL_H
#define RASIO_TOOL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h> /* mingw: defines __MINGW_PRINTF_FORMAT */

#include "rasio.h"

#define TOOL_NS_PER_S 1000000000ull

/* --- arguments ----------------------------------------------------------------------- */

typedef struct tool_args {
  int argc;
  char **argv;
  int i;            /* the argument being looked at */
  const char *prog; /* for messages: "rasio-swarm" */
} tool_args_t;

/* Lets the compiler check printf-style arguments (mingw: against its C99 printf, which
 * __USE_MINGW_ANSI_STDIO selects, not msvcrt's, which lacks %zu). */
#if defined(__MINGW_PRINTF_FORMAT)
#define TOOL_PRINTF(fmt, args) __attribute__((format(__MINGW_PRINTF_FORMAT, fmt, args)))
#define TOOL_NORETURN __attribute__((noreturn))
#elif defined(__GNUC__)
#define TOOL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define TOOL_NORETURN __attribute__((noreturn))
#else
#define TOOL_PRINTF(fmt, args)
#define TOOL_NORETURN
#endif

/* Prints "prog: <message>" and a pointer to --help on stderr, then exits with 2 (the exit
 * code of every bad command line). */
/* The first failure of a run; later ones are usually its consequences. */
typedef struct tool_verdict {
  bool failed;
  char reason[256];
} tool_verdict_t;

/* Records fmt as the reason unless a failure is already recorded. */
void tool_verdict_record(tool_verdict_t *v, const char *fmt, va_list ap);

TOOL_NORETURN void tool_usage_error(const tool_args_t *a, const char *fmt, ...) TOOL_PRINTF(2, 3);

/* True if the current argument is the flag `name` ("--size"); its value, given as
 * "--size 64" or "--size=64", is stored in *value (a missing value is a usage error). */
bool tool_flag(tool_args_t *a, const char *name, const char **value);
/* True if the current argument is the switch `name` (no value, e.g. "--help"). */
bool tool_switch(const tool_args_t *a, const char *name);

/* Whole decimal numbers in [min, max] and seconds (a positive decimal, "1.5"); anything
 * else is a usage error naming the flag. */
uint64_t tool_parse_uint(const tool_args_t *a, const char *flag, const char *text, uint64_t min,
                         uint64_t max);
uint64_t tool_parse_seconds_ns(const tool_args_t *a, const char *flag, const char *text);
/* "inline" -> false, "mailbox" -> true. */
bool tool_parse_executor(const tool_args_t *a, const char *text);

/* --- the verified byte stream ------------------------------------------------------------ */

/* Byte `off` of stream `stream` under `seed` is a hash of the three, so a byte that is
 * corrupted, lost, duplicated, reordered or delivered to the wrong stream does not match.
 * A key caches the (seed, stream) part of the hash. */
typedef struct tool_stream {
  uint64_t key;
} tool_stream_t;

tool_stream_t tool_stream(uint64_t seed, uint64_t stream);
uint8_t tool_stream_byte(tool_stream_t s, uint64_t off);
void tool_stream_fill(tool_stream_t s, uint64_t off, uint8_t *buf, size_t len);
/* The index of the first byte of data[0..len) that differs from the stream at off, or len
 * if all match. */
size_t tool_stream_check(tool_stream_t s, uint64_t off, const uint8_t *data, size_t len);

/* --- the executor harness -------------------------------------------------------------- */

/* Runs an application on one executor: inline (the loop runs on the calling thread and
 * every callback runs there) or mailbox (the loop runs on its own thread via
 * rasio_loop_start; the calling thread owns one mailbox and runs every callback by
 * draining it). The application creates all of its objects in start(), which runs on
 * the executor thread, and passes x->mailbox (NULL inline) to every object it makes.
 * tool_exec_run returns when every noisy event is gone, i.e. when the application closed
 * everything and rasio disposed it. */
typedef struct tool_exec {
  /* Set by the caller. */
  const char *backend; /* NULL: rasio's default */
  bool use_mailbox;
  /* The deadline (0: none): timeout() runs this long after start(), or, given progress(),
   * once progress() has not moved for this long. The latter catches a hang without capping
   * how long a slow but moving run may take (Wine, valgrind, a loaded machine). */
  uint64_t deadline_ns;
  void (*start)(void *app);
  void (*timeout)(void *app);     /* must close everything (hard) */
  uint64_t (*progress)(void *app); /* NULL, or a count that grows while the run moves */
  void *app;

  /* Filled in by tool_exec_run. */
  rasio_loop_t *loop;
  rasio_mailbox_t *mailbox;
  rasio_event_t *timer; /* the start kick, then the deadline */
  bool started, timed_out;
  uint64_t last_progress; /* progress() at the previous expiry of the deadline */
  char backend_name[16]; /* the loop's backend, kept after the loop is freed */
  const char *free_what; /* NULL, or the call that refused to free after the run */
  int free_rc;
} tool_exec_t;

/* Creates the loop (and mailbox), runs the application to the end, frees them.
 * Returns 0, or a RASIO_E* code if the loop could not be made or run (message printed:
 * an unknown --backend as a usage error on stderr, anything else as a FAIL line). */
int tool_exec_run(tool_exec_t *x, const char *prog);
/* (Re-)arms the deadline: timeout() runs `ns` from now. Executor thread only. */
void tool_exec_deadline(tool_exec_t *x, uint64_t ns);

/* --- odds and ends --------------------------------------------------------------------- */

/* Raises the soft descriptor limit toward the hard one when `need` descriptors would not
 * fit; returns the soft limit now in force (SIZE_MAX if the platform has none). */
size_t tool_raise_fd_limit(size_t need);

/* "host:port" of a rasio address, or "?" */
const char *tool_addr_str(const rasio_addr_t *addr, char *buf, size_t len);

#endif
