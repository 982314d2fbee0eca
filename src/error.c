/* SPDX-License-Identifier: BSD-2-Clause */
/* Error names and messages, generated from the one table in rasio.h. The mapping from OS
 * error codes lives in the OS file (os/posix.c, os/win.c). */
#include "os/os.h"
#include "rasio.h"

const char *rasio_strerror(int err) {
  switch (err) {
    case RASIO_OK: return "success";
#define RASIO__ERRNO_MSG(name, value, msg) \
  case RASIO_##name: return msg;
    RASIO_ERRNO_MAP(RASIO__ERRNO_MSG)
#undef RASIO__ERRNO_MSG
    default: return "unknown error";
  }
}

const char *rasio_err_name(int err) {
  switch (err) {
    case RASIO_OK: return "OK";
#define RASIO__ERRNO_NAME(name, value, msg) \
  case RASIO_##name: return #name;
    RASIO_ERRNO_MAP(RASIO__ERRNO_NAME)
#undef RASIO__ERRNO_NAME
    default: return "UNKNOWN";
  }
}

/* The OS code behind this thread's last RASIO_EOS. Set by the OS files' error maps
 * (rasio__os_error_map) whenever a code has no RASIO_E* of its own, so the message the
 * OS has for it is not lost; never cleared by a success, only replaced by the next EOS. */
static _Thread_local int last_os_error;

void rasio__os_error_note(int oserr) { last_os_error = oserr; }

int rasio_os_error(void) { return last_os_error; }
