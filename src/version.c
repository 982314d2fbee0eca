/* SPDX-License-Identifier: BSD-2-Clause */
/* The linked library's version, from the header it was built with (CMakeLists.txt checks
 * that those macros agree with the project's version). */
#include "rasio.h"

#define RASIO__STR2(x) #x
#define RASIO__STR(x) RASIO__STR2(x)

const char *rasio_version(void) {
  return RASIO__STR(RASIO_VERSION_MAJOR) "." RASIO__STR(RASIO_VERSION_MINOR) "." RASIO__STR(
      RASIO_VERSION_PATCH);
}

unsigned rasio_version_hex(void) { return RASIO_VERSION_HEX; }
