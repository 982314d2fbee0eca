/* SPDX-License-Identifier: BSD-2-Clause */
/* Every heap allocation rasio makes goes through these four functions, in every layer.
 *
 * They are the C library's, plus one test seam: rasio__alloc_fail_nth(n) makes the n-th
 * allocation from now fail, whichever thread makes it, so a test can fail each allocation
 * of a scenario in turn and check that it surfaces as RASIO_ENOMEM or the documented
 * callback, with nothing leaked or lost. Disarmed (the normal state) it costs one relaxed
 * atomic load per allocation.
 */
#ifndef RASIO_ALLOC_H
#define RASIO_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *rasio__malloc(size_t size);
void *rasio__calloc(size_t n, size_t size);
void *rasio__realloc(void *p, size_t size);
void rasio__free(void *p);

/* Test seam (any thread). n > 0: the n-th allocation from now returns NULL; 0: disarm.
 * Re-arming resets the count and the record of a triggered failure. */
void rasio__alloc_fail_nth(uint64_t n);
/* Whether the armed failure has happened since the last rasio__alloc_fail_nth. */
bool rasio__alloc_failed(void);

#endif
