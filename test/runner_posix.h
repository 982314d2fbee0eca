/* SPDX-License-Identifier: BSD-2-Clause */
/* What the POSIX runner (runner_posix.c) shares with the POSIX test helpers
 * (helpers_posix.c): how a child process starts. */
#ifndef RASIO_TEST_RUNNER_POSIX_H
#define RASIO_TEST_RUNNER_POSIX_H

#include <spawn.h>
#include <stdbool.h>

/* Initialises *at so the child starts with default dispositions and an empty signal mask,
 * whatever the spawning thread has (an inherited "ignore SIGINT" would falsify the signal
 * tests). own_group: the child leads a new process group (a test, which the runner kills
 * whole on a timeout); else it stays in the spawner's group and is killed along with it. */
void rt_posix_spawnattr(posix_spawnattr_t *at, bool own_group);

#endif
