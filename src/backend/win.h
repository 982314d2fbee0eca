/* SPDX-License-Identifier: BSD-2-Clause */
/* The Windows backend's provider interface.
 *
 * The backend (win.c) is written against ProcessSocketNotifications' contract only. A
 * provider supplies it:
 *  - psn.c: the real ProcessSocketNotifications, resolved at run time;
 *  - afd.c: the same semantics built on IOCTL_AFD_POLL, for Windows 10 and Wine.
 * So the backend cannot tell them apart, and both run one conformance suite.
 *
 * PSN's contract, as the providers must honour it:
 *  - ctl() applies registrations (ENABLE / DISABLE / REMOVE). A non-zero return is a
 *    call-level failure: nothing changed. Otherwise each entry's registration_result says
 *    whether that entry was applied.
 *  - A notification is a completion packet: key = the registration's completion key,
 *    dwNumberOfBytesTransferred = RASIO__SN_* bits, lpOverlapped unused.
 *  - REMOVE queues a packet with RASIO__SN_REMOVE; it is the last packet for that key.
 *  - ONESHOT disarms the whole registration after one packet; ENABLE re-arms it.
 *  - ERR and REMOVE arrive whatever the filter.
 * Packets the provider does not own (wakeups) pass through wait() unchanged. The backend
 * registers LEVEL triggers only (win.c says why); a provider may refuse EDGE.
 */
#ifndef RASIO_WIN_H
#define RASIO_WIN_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/winapi.h"

#define RASIO__WIN_MAX_ENTRIES 256
/* Completion keys that are not events (events are heap pointers, never this small). */
#define RASIO__KEY_WAKE ((ULONG_PTR)1)
#define RASIO__KEY_AFD ((ULONG_PTR)2)

#define RASIO__WIN_RETRY_SLOTS 64

/* A REMOVE call that failed as a whole, to be tried again (win.c). */
typedef struct rasio__win_retry {
  uint64_t token;   /* the unsubscribed event's */
  ULONGLONG due;    /* GetTickCount64 time of the next try */
  unsigned failed;  /* REMOVE calls that failed so far */
} rasio__win_retry_t;

typedef struct rasio__win {
  HANDLE port;
  const struct rasio__win_provider *provider;
  void *provider_state;
  SRWLOCK retry_lock; /* guards retries and nretries; ctl runs on any thread */
  unsigned nretries;
  rasio__win_retry_t retries[RASIO__WIN_RETRY_SLOTS];
  OVERLAPPED_ENTRY entries[RASIO__WIN_MAX_ENTRIES];
} rasio__win_t;

typedef struct rasio__win_provider {
  const char *name;
  /* Takes ENABLE with an empty filter (a registration made before anything is armed). */
  bool enable_empty;
  /* 0 if usable here, else RASIO_EUNAVAIL. */
  int (*probe)(void);
  int (*init)(rasio__win_t *w);
  void (*fini)(rasio__win_t *w);
  /* Applies n registrations; 0 or a Win32/WSA error code for the call (nothing done). */
  DWORD (*ctl)(rasio__win_t *w, rasio__psn_reg_t *regs, UINT32 n);
  /* Dequeues up to max PSN-shaped entries, waiting up to timeout_ms (alertable). May
   * return with *got == 0 before the timeout. 0 or a Win32 error code. */
  DWORD (*wait)(rasio__win_t *w, OVERLAPPED_ENTRY *out, ULONG max, DWORD timeout_ms,
                ULONG *got);
} rasio__win_provider_t;

extern const rasio__win_provider_t rasio__provider_psn;
extern const rasio__win_provider_t rasio__provider_afd;
/* Test-only: the AFD machinery held to the least favourable reading of PSN's documentation
 * (afd.c), with injectable failures (rasio__psn_model_fail). */
extern const rasio__win_provider_t rasio__provider_psn_model;

/* The psn-model's test seam: the next count entries with operation op (RASIO__SN_OP_*) fail
 * as how says; count UINT_MAX: every one, 0: none (the reset). A CALL failure fails the
 * whole ProcessSocketNotifications call and applies nothing; an ENTRY failure fails that
 * entry (for REMOVE: the registration is gone without a REMOVE packet, as after closesocket). */
enum { RASIO__MODEL_FAIL_CALL = 1, RASIO__MODEL_FAIL_ENTRY = 2 };
void rasio__psn_model_fail(UINT8 op, int how, unsigned count);

/* Dequeues with GetQueuedCompletionStatusEx, alertable; a timeout or an APC is "none". */
DWORD rasio__win_dequeue(HANDLE port, OVERLAPPED_ENTRY *out, ULONG max, DWORD timeout_ms,
                         ULONG *got);

#endif
