/* SPDX-License-Identifier: BSD-2-Clause */
/* Declarations the Windows backend needs and mingw-w64 (10.x) does not ship: the
 * ProcessSocketNotifications ("PSN") registration and constants, the undocumented
 * IOCTL_AFD_POLL structures, NtCancelIoFileEx and a few NTSTATUS values. Private names
 * (rasio__ / RASIO__) keep them from clashing with SDKs that do declare them.
 *
 * Layouts are x64 (the only Windows target): the PSN registration is 24 bytes, an AFD poll
 * request for one socket 32 bytes; both are checked at compile time.
 */
#ifndef RASIO_WINAPI_H
#define RASIO_WINAPI_H

#include <winsock2.h>
#include <windows.h>
#include <winternl.h>
#include <mswsock.h>

/* --- ProcessSocketNotifications (Windows 10 build 20348+) --------------------------- */

typedef struct rasio__psn_reg {
  SOCKET socket;
  void *completion_key;    /* read only when the registration is created */
  UINT16 event_filter;     /* RASIO__SN_REGISTER_* */
  UINT8 operation;         /* RASIO__SN_OP_* */
  UINT8 trigger_flags;     /* one of ONESHOT/PERSISTENT and one of LEVEL/EDGE */
  DWORD registration_result;
} rasio__psn_reg_t;

_Static_assert(sizeof(rasio__psn_reg_t) == 24, "SOCK_NOTIFY_REGISTRATION is 24 bytes on x64");

enum {
  RASIO__SN_IN = 0x01, /* register filter and event bits share values */
  RASIO__SN_OUT = 0x02,
  RASIO__SN_HANGUP = 0x04,
  RASIO__SN_ERR = 0x40,    /* delivered whatever the filter */
  RASIO__SN_REMOVE = 0x80, /* delivered whatever the filter; nothing follows it */

  RASIO__SN_OP_ENABLE = 0x01,
  RASIO__SN_OP_DISABLE = 0x02,
  RASIO__SN_OP_REMOVE = 0x04,

  RASIO__SN_ONESHOT = 0x01,
  RASIO__SN_PERSISTENT = 0x02,
  RASIO__SN_LEVEL = 0x04,
  RASIO__SN_EDGE = 0x08
};

typedef DWORD(WSAAPI *rasio__psn_fn)(HANDLE port, UINT32 count, rasio__psn_reg_t *regs,
                                      UINT32 timeout_ms, ULONG completion_count,
                                      OVERLAPPED_ENTRY *entries, UINT32 *received);

/* --- IOCTL_AFD_POLL (undocumented; stable since Vista) ------------------------------ */

#define RASIO__IOCTL_AFD_POLL 0x00012024u

enum {
  RASIO__AFD_RECEIVE = 0x0001,
  RASIO__AFD_RECEIVE_EXPEDITED = 0x0002,
  RASIO__AFD_SEND = 0x0004,
  RASIO__AFD_DISCONNECT = 0x0008, /* the peer's FIN */
  RASIO__AFD_ABORT = 0x0010,      /* reset */
  RASIO__AFD_LOCAL_CLOSE = 0x0020,/* reported even when not asked for */
  RASIO__AFD_CONNECT = 0x0040,    /* a state, reported on every poll: never ask for it */
  RASIO__AFD_ACCEPT = 0x0080,
  RASIO__AFD_CONNECT_FAIL = 0x0100
};

typedef struct rasio__afd_poll_handle {
  HANDLE handle; /* the base socket watched */
  ULONG events;  /* in: interest; out: what fired */
  NTSTATUS status;
} rasio__afd_poll_handle_t;

typedef struct rasio__afd_poll {
  LARGE_INTEGER timeout; /* 100 ns units; INT64_MAX = never */
  ULONG count;           /* in: handles; out: handles that fired */
  ULONG exclusive;
  rasio__afd_poll_handle_t handles[1];
} rasio__afd_poll_t;

_Static_assert(sizeof(rasio__afd_poll_t) == 32, "AFD_POLL_INFO for one socket is 32 bytes");

#define RASIO__STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#define RASIO__STATUS_PENDING ((NTSTATUS)0x00000103L)
#define RASIO__STATUS_CANCELLED ((NTSTATUS)0xC0000120L)
#define RASIO__STATUS_NOT_FOUND ((NTSTATUS)0xC0000225L)

NTSTATUS NTAPI NtCancelIoFileEx(HANDLE file, PIO_STATUS_BLOCK request, PIO_STATUS_BLOCK status);

#endif
