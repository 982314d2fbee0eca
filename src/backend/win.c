/* The Windows backend: one I/O completion port, waited on by the loop thread, with a
 * provider (psn.c or afd.c) behind ProcessSocketNotifications' contract (see win.h).
 *
 * Notes on PSN that this file relies on:
 * - One registration per socket covers both directions, and ONESHOT disarms all of it
 *   after one packet: the core re-arms the direction that was not delivered
 *   (RASIO__BE_ONESHOT_DISARMS_ALL), so read and write stay independent arms.
 * - A failed connect reports ERR without OUT, so ERR is folded into WRITE (and READ);
 *   HANGUP is requested with IN and folded into READ.
 * - Only REMOVE proves that no packet will name a registration again. closesocket
 *   deregisters silently and packets already queued may still arrive, so rasio never
 *   closes a registered socket itself before REMOVE (the core closes own_fd sockets only
 *   after rasio__event_gone). A REMOVE that the kernel rejects for the entry (the socket is
 *   not registered, or was closed under rasio) proves nothing about queued packets: the
 *   backend then posts its own REMOVE packet, which the port delivers after every packet
 *   already queued.
 * - The completion key is the event's token (fdtab.c), never its address: a packet that
 *   comes after the event was disposed names a released slot and is dropped, so no packet
 *   can reach freed memory or a later event, whatever the kernel still has queued.
 * - A call-level failure changes nothing; REMOVE is retried a few times, and if the call
 *   keeps failing the socket is closed (if rasio owns it) and the backend's own REMOVE
 *   packet is posted. The event is disposed as always; a registration the kernel kept
 *   (a socket rasio does not own) can only produce packets with a stale token.
 * - Timeouts are milliseconds; they are rounded up and the core re-checks the clock, so
 *   timers never fire early even when the port wakes a little before the deadline.
 */
#include <stdlib.h>

#include "backend/backend.h"
#include "backend/win.h"
#include "internal.h"

#define REMOVE_ATTEMPTS 4

enum { WIN_REGISTERED = 1 }; /* ev->be_data bits, under ev->arm_lock */

/* Tokens are 64 bits with a non-zero generation above bit 31, so none is RASIO__KEY_WAKE. */
_Static_assert(sizeof(ULONG_PTR) >= sizeof(uint64_t), "completion keys carry event tokens");

static void *key_of(const rasio_event_t *ev) { return (void *)(ULONG_PTR)ev->token; }

static rasio__win_t *state_of(rasio_loop_t *loop) { return loop->be_state; }

DWORD rasio__win_dequeue(HANDLE port, OVERLAPPED_ENTRY *out, ULONG max, DWORD timeout_ms,
                         ULONG *got) {
  *got = 0;
  if (GetQueuedCompletionStatusEx(port, out, max, got, timeout_ms, TRUE)) return 0;
  DWORD err = GetLastError();
  *got = 0; /* the count is not meaningful on failure */
  return err == WAIT_TIMEOUT || err == WAIT_IO_COMPLETION ? 0 : err;
}

static int init_with(rasio_loop_t *loop, const rasio__win_provider_t *provider) {
  WSADATA wsa;
  if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) return RASIO_EOS;
  rasio__win_t *w = rasio__calloc(1, sizeof *w);
  int rc = w == NULL ? RASIO_ENOMEM : 0;
  if (rc == 0) {
    w->provider = provider;
    w->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    rc = w->port == NULL ? rasio__os_error() : provider->init(w);
  }
  if (rc == 0) {
    loop->be_state = w;
    return 0;
  }
  if (w != NULL && w->port != NULL) CloseHandle(w->port);
  rasio__free(w);
  WSACleanup();
  return rc;
}

static void fini(rasio_loop_t *loop) {
  rasio__win_t *w = state_of(loop);
  w->provider->fini(w);
  CloseHandle(w->port);
  rasio__free(w);
  loop->be_state = NULL;
  WSACleanup();
}

static UINT16 filter_of(uint32_t arm) {
  UINT16 f = 0;
  if (arm & RASIO_READ) f |= RASIO__SN_IN | RASIO__SN_HANGUP;
  if (arm & RASIO_WRITE) f |= RASIO__SN_OUT;
  return f;
}

static UINT8 trigger_of(const rasio_event_t *ev) {
  if (ev->flags & RASIO_ONESHOT) return RASIO__SN_LEVEL | RASIO__SN_ONESHOT;
  if (ev->flags & RASIO_LEVEL) return RASIO__SN_LEVEL | RASIO__SN_PERSISTENT;
  return RASIO__SN_EDGE | RASIO__SN_PERSISTENT;
}

/* One registration through the provider; a RASIO_E* for a call or an entry failure. */
static int apply(rasio_loop_t *loop, rasio_event_t *ev, UINT8 op, uint32_t arm) {
  rasio__win_t *w = state_of(loop);
  rasio__psn_reg_t reg = {.socket = (SOCKET)ev->fd, .completion_key = key_of(ev), .operation = op,
                          .event_filter = filter_of(arm), .trigger_flags = trigger_of(ev)};
  DWORD rc = w->provider->ctl(w, &reg, 1);
  if (rc == 0) rc = reg.registration_result;
  return rc == 0 ? 0 : rasio__os_error_map((int)rc);
}

static void post_remove(rasio_loop_t *loop, rasio_event_t *ev) {
  PostQueuedCompletionStatus(state_of(loop)->port, RASIO__SN_REMOVE, (ULONG_PTR)ev->token, NULL);
}

/* Whether s names a socket of this process now. The first registration asks before the
 * provider sees s: a handle that is closed, or names a file or a pipe, is EBADF for
 * rasio_event_new even when nothing is armed yet (registration is deferred then), and the
 * AFD provider must never poll it (Wine 8's wineserver aborts on a poll naming a closed
 * socket handle, taking every Wine process of the prefix with it). */
static bool is_socket(rasio_fd_t fd) {
  int type = 0, len = sizeof type;
  return getsockopt((SOCKET)fd, SOL_SOCKET, SO_TYPE, (char *)&type, &len) == 0;
}

static int enable(rasio_loop_t *loop, rasio_event_t *ev, uint32_t arm) {
  bool registered = ((uintptr_t)ev->be_data & WIN_REGISTERED) != 0;
  if (!registered && !is_socket(ev->fd)) return RASIO_EBADF;
  /* Nothing to arm yet (opts.ready). PSN registers at the first re-arm instead. The AFD
   * provider makes its record now, unpolled (an empty filter): the record is memory, and
   * rasio_event_new can report ENOMEM, where a first re-arm failing for memory would leave
   * an owner with an event that never fires (issue 9's allocation-failure runs). */
  if (arm == 0 && !registered && state_of(loop)->provider != &rasio__provider_afd) return 0;
  int rc = apply(loop, ev, arm != 0 || !registered ? RASIO__SN_OP_ENABLE : RASIO__SN_OP_DISABLE,
                 arm);
  if (rc == 0) ev->be_data = (void *)(uintptr_t)WIN_REGISTERED;
  return rc;
}

static int remove_registration(rasio_loop_t *loop, rasio_event_t *ev) {
  rasio__win_t *w = state_of(loop);
  rasio__psn_reg_t reg = {.socket = (SOCKET)ev->fd, .completion_key = key_of(ev),
                          .operation = RASIO__SN_OP_REMOVE};
  DWORD rc = 1;
  for (int i = 0; i < REMOVE_ATTEMPTS && rc != 0; i++) rc = w->provider->ctl(w, &reg, 1);
  if (rc == 0 && reg.registration_result == 0) return RASIO__PENDING; /* REMOVE follows */
  if (rc != 0 && ev->own_fd) {
    rasio__fd_close(ev->fd);
    ev->own_fd = false; /* closed here; the core must not close it again */
  }
  post_remove(loop, ev);
  return RASIO__PENDING;
}

static int ctl(rasio_loop_t *loop, rasio_event_t *ev, int op, uint32_t arm) {
  if (op == RASIO__CTL_DEL) {
    if ((uintptr_t)ev->be_data & WIN_REGISTERED) return remove_registration(loop, ev);
    post_remove(loop, ev); /* never registered: nothing is queued, but keep one path */
    return RASIO__PENDING;
  }
  return enable(loop, ev, arm);
}

static uint32_t dirs_of(DWORD mask) {
  uint32_t d = 0;
  if (mask & (RASIO__SN_IN | RASIO__SN_HANGUP | RASIO__SN_ERR)) d |= RASIO_READ;
  if (mask & (RASIO__SN_OUT | RASIO__SN_ERR)) d |= RASIO_WRITE;
  if (mask & (RASIO__SN_HANGUP | RASIO__SN_ERR)) d |= RASIO__HUP;
  return d;
}

static DWORD timeout_ms(uint64_t timeout_ns) {
  if (timeout_ns == UINT64_MAX) return INFINITE;
  uint64_t ms = (timeout_ns + 999999u) / 1000000u;
  return ms >= INFINITE ? INFINITE - 1 : (DWORD)ms;
}

static int wait_events(rasio_loop_t *loop, uint64_t timeout_ns) {
  rasio__win_t *w = state_of(loop);
  ULONG got;
  DWORD rc = w->provider->wait(w, w->entries, RASIO__WIN_MAX_ENTRIES, timeout_ms(timeout_ns), &got);
  if (rc != 0) return rasio__os_error_map((int)rc);
  for (ULONG i = 0; i < got; i++) {
    OVERLAPPED_ENTRY *e = &w->entries[i];
    if (e->lpCompletionKey == RASIO__KEY_WAKE) continue;
    rasio_event_t *ev = rasio__fdtab_lookup(loop, (uint64_t)e->lpCompletionKey);
    if (ev == NULL) continue; /* a packet that outlived its event */
    /* Tested as a bit: notifications coalesce, so REMOVE may come with others. */
    if (e->dwNumberOfBytesTransferred & RASIO__SN_REMOVE) rasio__event_gone(ev);
    else rasio__event_ready(ev, dirs_of(e->dwNumberOfBytesTransferred));
  }
  return 0;
}

static void wake(rasio_loop_t *loop) {
  PostQueuedCompletionStatus(state_of(loop)->port, 0, RASIO__KEY_WAKE, NULL);
}

static void retry(rasio_loop_t *loop, rasio_event_t *ev, uint32_t dir) {
  rasio__win_t *w = state_of(loop);
  UINT16 bits = (dir & RASIO_READ ? RASIO__SN_IN : 0) | (dir & RASIO_WRITE ? RASIO__SN_OUT : 0);
  w->provider->rearm(w, (SOCKET)ev->fd, bits);
}

static int probe_psn(void) { return rasio__provider_psn.probe(); }
static int probe_afd(void) { return rasio__provider_afd.probe(); }
static int init_psn(rasio_loop_t *loop) { return init_with(loop, &rasio__provider_psn); }
static int init_afd(rasio_loop_t *loop) { return init_with(loop, &rasio__provider_afd); }

static const rasio__backend_t psn_backend = {
    .name = "psn",
    .caps = RASIO__BE_ONESHOT_DISARMS_ALL,
    .probe = probe_psn,
    .init = init_psn,
    .fini = fini,
    .ctl = ctl,
    .wait = wait_events,
    .wake = wake,
    .retry = NULL,
};

static const rasio__backend_t afd_backend = {
    .name = "afd",
    .caps = RASIO__BE_ONESHOT_DISARMS_ALL | RASIO__BE_EDGE_NEEDS_RETRY,
    .probe = probe_afd,
    .init = init_afd,
    .fini = fini,
    .ctl = ctl,
    .wait = wait_events,
    .wake = wake,
    .retry = retry,
};

/* PSN where Windows has it, the AFD provider otherwise (Windows 10, Wine). */
const rasio__backend_t *const rasio__backends[] = {&psn_backend, &afd_backend, NULL};
