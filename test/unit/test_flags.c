/* SPDX-License-Identifier: BSD-2-Clause */
/* Public flag values. READ..ONESHOT are ABI shared with the Pony runtime (an adapter is a
 * cast, DESIGN.md §2), so they must never drift; the rasio-only flags must not collide with
 * them or with each other.
 */
#include "check.h"

TEST(flags_match_pony_values) {
  CHECK_EQ(RASIO_READ, 1);
  CHECK_EQ(RASIO_WRITE, 2);
  CHECK_EQ(RASIO_TIMER, 4);
  CHECK_EQ(RASIO_SIGNAL, 8);
  CHECK_EQ(RASIO_ERROR, 16);
  CHECK_EQ(RASIO_ONESHOT, 256);
}

TEST(flags_are_distinct_bits) {
  const unsigned flags[] = {RASIO_READ,    RASIO_WRITE, RASIO_TIMER,    RASIO_SIGNAL,
                            RASIO_ERROR,   RASIO_ONESHOT, RASIO_LEVEL, RASIO_DISPOSED,
                            RASIO_STDIN,   RASIO_USER};
  unsigned seen = 0;
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    CHECK_NE(flags[i], 0);
    CHECK_EQ(flags[i] & (flags[i] - 1), 0); /* exactly one bit */
    CHECK_EQ(seen & flags[i], 0);
    seen |= flags[i];
  }
}
