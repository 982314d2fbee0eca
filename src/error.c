/* Error names and messages, generated from the one table in rasio.h. The mapping from OS
 * error codes lives in the OS file (os/posix.c, os/win.c). */
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
