/* SPDX-License-Identifier: BSD-2-Clause */
/* What the Windows runner (runner_win.c) shares with the Windows test helpers
 * (helpers_win.c): starting a process. */
#ifndef RASIO_TEST_RUNNER_WIN_H
#define RASIO_TEST_RUNNER_WIN_H

#include <windows.h>

/* CreateProcessA(NULL, cmd, NULL, NULL, TRUE, flags, NULL, NULL, si, pi), tried again a few
 * times when it fails with ERROR_INTERNAL_ERROR. Wine does that now and then while many
 * processes start in a row (once in a CI run of ~500 launches); the child never ran, so a
 * new attempt hides nothing. Windows itself is not known to need it. GetLastError() holds
 * the last attempt's error on failure. */
BOOL rt_win_create_process(char *cmd, DWORD flags, STARTUPINFOA *si, PROCESS_INFORMATION *pi);

#endif
