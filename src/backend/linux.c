/* SPDX-License-Identifier: BSD-2-Clause */
/* The backends of a Linux build, best first. epoll is the default; io_uring (uring.c) is
 * chosen by name (RASIO_BACKEND=uring, rasio_loop_opts_t.backend) and is compiled only
 * where the kernel headers know IORING_SETUP_DEFER_TASKRUN (Linux 6.1). */
#include "backend/backend.h"

extern const rasio__backend_t rasio__epoll_backend;
#ifdef RASIO_HAVE_URING
extern const rasio__backend_t rasio__uring_backend;
#endif

const rasio__backend_t *const rasio__backends[] = {
    &rasio__epoll_backend,
#ifdef RASIO_HAVE_URING
    &rasio__uring_backend,
#endif
    NULL};
