/* SPDX-License-Identifier: BSD-2-Clause */
/* Error names and messages, and the monotonic clock: pure functions, no loop needed.
 *
 * The error table is the X-macro RASIO_ERRNO_MAP in rasio.h, so these tests enumerate it
 * the same way the library does and stay correct when codes are appended.
 */
#include <limits.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

typedef struct err_row {
  int code;
  const char *name; /* without the RASIO_ prefix */
  const char *msg;
} err_row_t;

#define ROW(name, value, msg) {RASIO_##name, #name, msg},
static const err_row_t err_rows[] = {RASIO_ERRNO_MAP(ROW)};
#undef ROW
#define N_ERR_ROWS (sizeof err_rows / sizeof err_rows[0])

/* The most negative code in the table; one below it is the first unknown code. */
static int lowest_code(void) {
  int low = 0;
  for (size_t i = 0; i < N_ERR_ROWS; i++)
    if (err_rows[i].code < low) low = err_rows[i].code;
  return low;
}

TEST(error_strerror_matches_table) {
  for (size_t i = 0; i < N_ERR_ROWS; i++) {
    const char *s = rasio_strerror(err_rows[i].code);
    CHECK(s != NULL);
    CHECK_GT(strlen(s), 0);
    if (strcmp(s, err_rows[i].msg) != 0)
      rt_fail(__FILE__, __LINE__, "rasio_strerror(%d) = \"%s\", want \"%s\"", err_rows[i].code,
              s, err_rows[i].msg);
  }
}

TEST(error_name_matches_table) {
  for (size_t i = 0; i < N_ERR_ROWS; i++) {
    const char *s = rasio_err_name(err_rows[i].code);
    CHECK(s != NULL);
    if (strcmp(s, err_rows[i].name) != 0)
      rt_fail(__FILE__, __LINE__, "rasio_err_name(%d) = \"%s\", want \"%s\"", err_rows[i].code,
              s, err_rows[i].name);
  }
}

/* Codes, names and messages are all distinct: a duplicated value in the table would make
 * two errors indistinguishable to callers. */
TEST(error_codes_names_messages_distinct) {
  for (size_t i = 0; i < N_ERR_ROWS; i++) {
    CHECK_LT(err_rows[i].code, 0);
    for (size_t j = i + 1; j < N_ERR_ROWS; j++) {
      CHECK_NE(err_rows[i].code, err_rows[j].code);
      CHECK(strcmp(rasio_err_name(err_rows[i].code), rasio_err_name(err_rows[j].code)) != 0);
      CHECK(strcmp(rasio_strerror(err_rows[i].code), rasio_strerror(err_rows[j].code)) != 0);
    }
  }
}

TEST(error_unknown_codes) {
  const int unknown[] = {1, 42, INT_MAX, INT_MIN, lowest_code() - 1, -1000};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    CHECK(strcmp(rasio_strerror(unknown[i]), "unknown error") == 0);
    CHECK(strcmp(rasio_err_name(unknown[i]), "UNKNOWN") == 0);
  }
}

/* Successive readings never go backwards (the clock timers use must be monotonic). */
TEST(now_ns_monotonic) {
  uint64_t prev = rasio_now_ns();
  CHECK_GT(prev, 0);
  for (int i = 0; i < 1000000; i++) {
    uint64_t t = rasio_now_ns();
    if (t < prev) rt_fail(__FILE__, __LINE__, "clock went back: %ju after %ju", (uintmax_t)t,
                          (uintmax_t)prev);
    prev = t;
  }
}

/* The clock advances at least as much as a sleep (it is not frozen or coarse-grained in a
 * way that would make timers fire early). */
TEST(now_ns_advances_with_sleep) {
  for (int i = 0; i < 5; i++) {
    uint64_t t0 = rasio_now_ns();
    th_sleep_ms(10);
    uint64_t dt = rasio_now_ns() - t0;
    CHECK_GE(dt, 10u * 1000 * 1000);
  }
}

/* --- the OS error behind RASIO_EOS (rasio_os_error) ------------------------------------ */

/* The OS files' error map (src/os/os.h), reached directly: no public call fails with an
 * OS code that has no RASIO_E* on demand. */
int rasio__os_error_map(int oserr);

/* A code the map does not know becomes EOS and is kept for rasio_os_error; a known code
 * leaves it alone; each thread has its own. */
static void *other_thread_os_error(void *arg) {
  *(int *)arg = rasio_os_error();
  return NULL;
}

TEST(os_error_kept_behind_eos) {
  const int unknown = 987654; /* no errno and no Windows error has this value */
  CHECK_EQ(rasio_os_error(), 0);
  CHECK_EQ(rasio__os_error_map(unknown), RASIO_EOS);
  CHECK_EQ(rasio_os_error(), unknown);
  CHECK_NE(rasio__os_error_map(0), RASIO_EOS);
  CHECK_EQ(rasio_os_error(), unknown);
  int seen = -1;
  th_thread_join(th_thread_start(other_thread_os_error, &seen));
  CHECK_EQ(seen, 0);
}
