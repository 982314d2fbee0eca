/* SPDX-License-Identifier: BSD-2-Clause */
/* The allocation functions of alloc.h and their failure-injection seam. */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

/* Allocations still to go before the injected failure; 0 = disarmed. */
static _Atomic uint64_t countdown;
static atomic_bool triggered;

/* True if this allocation is the one to fail. The common case is one relaxed load. */
static bool inject(void) {
  uint64_t left = atomic_load_explicit(&countdown, memory_order_relaxed);
  while (left != 0) {
    if (atomic_compare_exchange_weak(&countdown, &left, left - 1)) {
      if (left != 1) return false;
      atomic_store(&triggered, true);
      return true;
    }
  }
  return false;
}

void *rasio__malloc(size_t size) { return inject() ? NULL : malloc(size); }
void *rasio__calloc(size_t n, size_t size) { return inject() ? NULL : calloc(n, size); }
void *rasio__realloc(void *p, size_t size) { return inject() ? NULL : realloc(p, size); }
void rasio__free(void *p) { free(p); }

void rasio__alloc_fail_nth(uint64_t n) {
  atomic_store(&triggered, false);
  atomic_store(&countdown, n);
}

bool rasio__alloc_failed(void) { return atomic_load(&triggered); }
