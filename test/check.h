/* SPDX-License-Identifier: BSD-2-Clause */
/* The test framework's whole surface: registration, checks, skips.
 *
 * Each test runs in its own child process (the runner re-executes itself with --run=NAME), so
 * a failed check simply reports and exits the child with status 1; a skip exits with 77.
 * A test passes when its function returns. Checks are safe from any thread. Scenarios
 * (SCENARIO) are bodies that only a test's own child processes run.
 */
#ifndef RASIO_TEST_CHECK_H
#define RASIO_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h> /* mingw defines __MINGW_PRINTF_FORMAT here */

#include "rasio.h"

typedef void (*rt_test_fn)(void);

/* mingw: the format checker must know which printf runs. With __USE_MINGW_ANSI_STDIO (set by
 * the build) that is mingw's C99 one (%jd, %zu), which plain "printf" (msvcrt's) rejects;
 * stdio.h says which in __MINGW_PRINTF_FORMAT. */
#ifdef __MINGW32__
#include <stdio.h>
#define RT_PRINTF_FORMAT __MINGW_PRINTF_FORMAT
#else
#define RT_PRINTF_FORMAT printf
#endif

/* A scenario: a test body the runner never lists or runs by itself. A test starts it in a
 * process of its own (helpers.h, th_child_start), which runs `prog --run=NAME --arg=ARG`;
 * arg is ARG, or "" without --arg. Its verdict is its exit status, as for a test. */
typedef void (*rt_scenario_fn)(const char *arg);

/* Registration happens before main() through a constructor (gcc, clang and mingw). Tests
 * and scenarios share one name space. */
void rt_register(const char *name, const char *file, rt_test_fn fn, int timeout_s);
void rt_register_scenario(const char *name, const char *file, rt_scenario_fn fn);
_Noreturn void rt_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(RT_PRINTF_FORMAT, 3, 4)));
_Noreturn void rt_skip(const char *fmt, ...) __attribute__((format(RT_PRINTF_FORMAT, 1, 2)));
/* The backend this run targets ("epoll", "afd", ...): --backend, else RASIO_BACKEND, else
 * NULL (the platform default). Tests pass it to rasio_loop_new through rt_loop_new(). */
const char *rt_backend(void);

#define RT_DEFAULT_TIMEOUT_S 20

#define TEST_T(name, timeout_s)                                                             \
  static void test_##name(void);                                                            \
  __attribute__((constructor)) static void rt_reg_##name(void) {                            \
    rt_register(#name, __FILE__, test_##name, (timeout_s));                                 \
  }                                                                                         \
  static void test_##name(void)
#define TEST(name) TEST_T(name, RT_DEFAULT_TIMEOUT_S)

/* SCENARIO(name) { ... uses arg ... }: a hidden body for a child process (see above). */
#define SCENARIO(name)                                                                      \
  static void scenario_##name(const char *arg);                                             \
  __attribute__((constructor)) static void rt_reg_scenario_##name(void) {                   \
    rt_register_scenario(#name, __FILE__, scenario_##name);                                 \
  }                                                                                         \
  static void scenario_##name(const char *arg)

#define CHECK(cond)                                                                         \
  do {                                                                                      \
    if (!(cond)) rt_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                           \
  } while (0)

#define RT_CMP(a, op, b)                                                                    \
  do {                                                                                      \
    intmax_t rt_a_ = (intmax_t)(a), rt_b_ = (intmax_t)(b);                                  \
    if (!(rt_a_ op rt_b_))                                                                  \
      rt_fail(__FILE__, __LINE__, "CHECK(%s %s %s): %jd vs %jd", #a, #op, #b, rt_a_, rt_b_); \
  } while (0)
#define CHECK_EQ(a, b) RT_CMP(a, ==, b)
#define CHECK_NE(a, b) RT_CMP(a, !=, b)
#define CHECK_LT(a, b) RT_CMP(a, <, b)
#define CHECK_LE(a, b) RT_CMP(a, <=, b)
#define CHECK_GT(a, b) RT_CMP(a, >, b)
#define CHECK_GE(a, b) RT_CMP(a, >=, b)

/* expr must return 0 (RASIO_OK). */
#define CHECK_OK(expr)                                                                      \
  do {                                                                                      \
    int rt_r_ = (expr);                                                                     \
    if (rt_r_ != 0)                                                                         \
      rt_fail(__FILE__, __LINE__, "%s: %d (%s)", #expr, rt_r_, rasio_strerror(rt_r_));      \
  } while (0)

/* expr must return the rasio error code want. */
#define CHECK_ERR(expr, want)                                                               \
  do {                                                                                      \
    int rt_r_ = (expr), rt_w_ = (want);                                                     \
    if (rt_r_ != rt_w_)                                                                     \
      rt_fail(__FILE__, __LINE__, "%s: got %d (%s), want %d (%s)", #expr, rt_r_,            \
              rasio_strerror(rt_r_), rt_w_, rasio_strerror(rt_w_));                         \
  } while (0)

#define SKIP(...) rt_skip(__VA_ARGS__)

#endif
