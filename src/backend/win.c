/* SPDX-License-Identifier: BSD-2-Clause */
/* The Windows backend: one I/O completion port, waited on by the loop thread, with a
 * provider (psn.c or afd.c) behind ProcessSocketNotifications' contract (see win.h).
 *
 * Notes on PSN that this file relies on (quotes from Microsoft's SOCK_NOTIFY_REGISTRATION
 * page and its "Winsock socket state notifications" overview):
 * - PSN's edge trigger is not used. "Given the registration is enabled, edge-triggered
 *   notifications are supplied whenever a condition changes from not holding to holding.
 *   The condition must change while the registration is enabled for a notification to be
 *   queued." A listener with connections already queued, a datagram waiting when the socket
 *   is subscribed, or data left after a short read ("The server must keep receiving until
 *   it receives a WSAEWOULDBLOCK. Otherwise, it can't be sure that a rising edge will be
 *   observed") would never be reported. So rasio's persistent edge runs on LEVEL|ONESHOT
 *   registrations and the core re-arms a direction when the owner meets would-block in it or
 *   reads short (RASIO__BE_EDGE_BY_ONESHOT, backend.h): "level-triggered notifications are
 *   supplied whenever the desired conditions hold", so what holds at each arm is reported.
 *   The price on psn: one ProcessSocketNotifications call (the ENABLE) per re-arm, i.e. per
 *   echoed message that ends in a short read, besides the recv and send.
 * - One registration per socket covers both directions, and ONESHOT disarms all of it: "The
 *   registration will be disabled (not removed) upon delivery of the next notification."
 *   The core re-arms the direction that was not delivered (RASIO__BE_ONESHOT_DISARMS_ALL).
 * - A failed connect reports ERR without OUT, so ERR is folded into WRITE (and READ).
 *   HANGUP ("a stream-oriented connection was either disconnected or aborted") is asked for
 *   with READ, and with WRITE until the event has heard one: a reset must reach an owner
 *   waiting only to write, and nothing says it comes as ERR. It is folded into both
 *   directions. A WRITE arm stops asking once a hang-up was heard: a half-closed peer keeps
 *   HANGUP true, and a level arm would report it again at every re-arm.
 * - Only REMOVE proves that no packet will name a registration again: "The
 *   SOCK_NOTIFY_EVENT_REMOVE notification is issued, with the guarantee that no more
 *   notifications will be issued afterwards for that completion key". closesocket
 *   deregisters silently and "already-queued notifications might still be delivered", so
 *   rasio never closes a registered socket itself before REMOVE (the core closes own_fd
 *   sockets only after rasio__event_gone).
 * - The completion key is the event's token (fdtab.c), never its address: a packet that
 *   comes after the event was disposed names a released slot and is dropped. So no packet,
 *   however late, reaches freed memory or a later event, and the failure paths below may
 *   dispose an event whose registration the kernel still holds.
 * - A REMOVE the kernel rejects for the entry (the socket is not registered, or was closed
 *   under rasio) proves nothing about queued packets: the backend posts its own REMOVE
 *   packet, which the port delivers after every packet already queued. A call-level failure
 *   changed nothing and, as Microsoft's multi-threaded sample says of such failures, "This
 *   can fail due to transient memory conditions [...] Retrying in case the memory
 *   conditions abate is a reasonable strategy": the REMOVE is tried again from the loop
 *   thread with a growing pause (1 ms to 128 ms, 8 tries), never back to back. After the
 *   last try the socket is closed if rasio owns it (which deregisters it) and the event is
 *   disposed as always, so a failing REMOVE can neither hang the loop nor keep it busy.
 * - Timeouts are milliseconds; they are rounded up and the core re-checks the clock, so
 *   timers never fire early even when the port wakes a little before the deadline.
 */
#include <stdlib.h>

#include "backend/backend.h"
#include "backend/win.h"
#include "internal.h"

#define RETRY_TRIES 8      /* REMOVE calls after the first one failed as a whole */
#define RETRY_FIRST_MS 1u  /* pause before the first of them; doubled each time */
#define RESULT_UNSET 0xFFFFFFFFu /* no provider writes this: an entry it never reached */

enum { WIN_REGISTERED = 1 }; /* ev->be_data bits, under ev->arm_lock */

/* Tokens are 64 bits with a non-zero generation above bit 31, so none is a reserved key. */
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
    InitializeSRWLock(&w->retry_lock);
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

static UINT16 filter_of(const rasio_event_t *ev, uint32_t arm) {
  UINT16 f = 0;
  if (arm & RASIO_READ) f |= RASIO__SN_IN | RASIO__SN_HANGUP;
  if (arm & RASIO_WRITE) f |= RASIO__SN_OUT;
  if ((arm & RASIO_WRITE) && !atomic_load_explicit(&ev->hup, memory_order_relaxed))
    f |= RASIO__SN_HANGUP;
  return f;
}

/* Level only (see the notes): an edge event is a oneshot one the core re-arms. */
static UINT8 trigger_of(const rasio_event_t *ev) {
  if (ev->flags & RASIO_LEVEL) return RASIO__SN_LEVEL | RASIO__SN_PERSISTENT;
  return RASIO__SN_LEVEL | RASIO__SN_ONESHOT;
}

/* One registration through the provider. Returns the call's result (non-zero: nothing was
 * done) and puts the entry's in *result. REMOVE carries no filter or trigger, as in
 * Microsoft's own DeregisterAndWait sample. */
static DWORD call(rasio_loop_t *loop, rasio_event_t *ev, UINT8 op, uint32_t arm, DWORD *result) {
  rasio__win_t *w = state_of(loop);
  bool remove = op == RASIO__SN_OP_REMOVE;
  rasio__psn_reg_t reg = {.socket = (SOCKET)ev->fd, .completion_key = key_of(ev), .operation = op,
                          .event_filter = remove ? 0 : filter_of(ev, arm),
                          .trigger_flags = remove ? 0 : trigger_of(ev),
                          .registration_result = RESULT_UNSET};
  DWORD rc = w->provider->ctl(w, &reg, 1);
  *result = reg.registration_result;
  return rc;
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
   * providers make their record now, unpolled (an empty filter): the record is memory, and
   * rasio_event_new can report ENOMEM, where a first re-arm failing for memory would leave
   * an owner with an event that never fires (issue 9's allocation-failure runs). */
  if (arm == 0 && !registered && !state_of(loop)->provider->enable_empty) return 0;
  UINT8 op = arm != 0 || !registered ? RASIO__SN_OP_ENABLE : RASIO__SN_OP_DISABLE;
  DWORD result, rc = call(loop, ev, op, arm, &result);
  if (rc == 0) rc = result;
  if (rc == 0) ev->be_data = (void *)(uintptr_t)WIN_REGISTERED;
  return rc == 0 ? 0 : rasio__os_error_map((int)rc);
}

/* --- removal ----------------------------------------------------------------------------- */

/* Ends a registration the kernel would not remove: owned sockets are closed (closesocket
 * deregisters), and the event is disposed by a REMOVE packet of our own, which comes after
 * anything already queued. 0 (gone now) if even that packet cannot be posted. */
static int give_up(rasio_loop_t *loop, rasio_event_t *ev) {
  if (ev->own_fd) {
    rasio__fd_close(ev->fd);
    ev->own_fd = false; /* closed here; the core must not close it again */
  }
  if (PostQueuedCompletionStatus(state_of(loop)->port, RASIO__SN_REMOVE, (ULONG_PTR)ev->token,
                                 NULL))
    return RASIO__PENDING;
  return 0;
}

/* Queues another REMOVE try for ev after `failed` calls failed, the pause doubling each
 * time; false if the table is full. Any thread. */
static bool retry_later(rasio_loop_t *loop, rasio_event_t *ev, unsigned failed) {
  rasio__win_t *w = state_of(loop);
  AcquireSRWLockExclusive(&w->retry_lock);
  bool room = w->nretries < RASIO__WIN_RETRY_SLOTS;
  if (room) {
    w->retries[w->nretries++] = (rasio__win_retry_t){
        .token = ev->token, .failed = failed,
        .due = GetTickCount64() + (RETRY_FIRST_MS << (failed - 1))};
  }
  ReleaseSRWLockExclusive(&w->retry_lock);
  if (room) rasio__loop_wake_async(loop); /* the wait recomputes its timeout */
  return room;
}

/* One REMOVE; failed counts the earlier calls that failed as a whole. ev->arm_lock held. */
static int remove_try(rasio_loop_t *loop, rasio_event_t *ev, unsigned failed) {
  DWORD result, rc = call(loop, ev, RASIO__SN_OP_REMOVE, 0, &result);
  if (rc == 0 && result == 0) return RASIO__PENDING; /* REMOVE follows */
  if (rc == 0 || failed >= RETRY_TRIES || !retry_later(loop, ev, failed + 1))
    return give_up(loop, ev);
  return RASIO__PENDING;
}

/* The REMOVE tries that are due (loop thread, before waiting). An event on the table is
 * unsubscribed and not yet disposed, so its token still finds it. */
static void run_retries(rasio_loop_t *loop) {
  rasio__win_t *w = state_of(loop);
  rasio__win_retry_t due[RASIO__WIN_RETRY_SLOTS];
  unsigned n = 0;
  ULONGLONG now = GetTickCount64();
  AcquireSRWLockExclusive(&w->retry_lock);
  for (unsigned i = 0; i < w->nretries;) {
    if (w->retries[i].due > now) {
      i++;
      continue;
    }
    due[n++] = w->retries[i];
    w->retries[i] = w->retries[--w->nretries];
  }
  ReleaseSRWLockExclusive(&w->retry_lock);
  for (unsigned i = 0; i < n; i++) {
    rasio_event_t *ev = rasio__fdtab_lookup(loop, due[i].token);
    if (ev == NULL) continue;
    rasio__mutex_lock(&ev->arm_lock);
    int rc = remove_try(loop, ev, due[i].failed);
    rasio__mutex_unlock(&ev->arm_lock);
    if (rc == 0) rasio__event_gone(ev);
  }
}

/* How long the wait may last with REMOVE tries pending. */
static DWORD retry_timeout(rasio__win_t *w, DWORD timeout) {
  AcquireSRWLockShared(&w->retry_lock);
  ULONGLONG now = GetTickCount64();
  for (unsigned i = 0; i < w->nretries; i++) {
    ULONGLONG left = w->retries[i].due > now ? w->retries[i].due - now : 0;
    if (left < timeout) timeout = (DWORD)left;
  }
  ReleaseSRWLockShared(&w->retry_lock);
  return timeout;
}

static int ctl(rasio_loop_t *loop, rasio_event_t *ev, int op, uint32_t arm) {
  if (op != RASIO__CTL_DEL) return enable(loop, ev, arm);
  if ((uintptr_t)ev->be_data & WIN_REGISTERED) return remove_try(loop, ev, 0);
  return 0; /* never registered: nothing can name it */
}

/* --- waiting ----------------------------------------------------------------------------- */

static uint32_t dirs_of(DWORD mask) {
  uint32_t d = 0;
  if (mask & (RASIO__SN_IN | RASIO__SN_HANGUP | RASIO__SN_ERR)) d |= RASIO_READ;
  if (mask & (RASIO__SN_OUT | RASIO__SN_HANGUP | RASIO__SN_ERR)) d |= RASIO_WRITE;
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
  run_retries(loop);
  ULONG got;
  DWORD rc = w->provider->wait(w, w->entries, RASIO__WIN_MAX_ENTRIES,
                               retry_timeout(w, timeout_ms(timeout_ns)), &got);
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

/* A wake that cannot be posted is not retried here (async-signal-safe, nothing to wait
 * on): wake_pending stays set, so the core could never wake the loop again. The flag is
 * cleared instead, and the next wake tries again. */
static void wake(rasio_loop_t *loop) {
  if (!PostQueuedCompletionStatus(state_of(loop)->port, 0, RASIO__KEY_WAKE, NULL))
    atomic_store(&loop->wake_pending, false);
}

static int probe_psn(void) { return rasio__provider_psn.probe(); }
static int probe_afd(void) { return rasio__provider_afd.probe(); }
static int probe_model(void) { return rasio__provider_psn_model.probe(); }
static int init_psn(rasio_loop_t *loop) { return init_with(loop, &rasio__provider_psn); }
static int init_afd(rasio_loop_t *loop) { return init_with(loop, &rasio__provider_afd); }
static int init_model(rasio_loop_t *loop) { return init_with(loop, &rasio__provider_psn_model); }

#define WIN_CAPS (RASIO__BE_ONESHOT_DISARMS_ALL | RASIO__BE_EDGE_BY_ONESHOT)

static const rasio__backend_t psn_backend = {
    .name = "psn", .caps = WIN_CAPS, .probe = probe_psn, .init = init_psn, .fini = fini,
    .ctl = ctl, .wait = wait_events, .wake = wake};

static const rasio__backend_t afd_backend = {
    .name = "afd", .caps = WIN_CAPS, .probe = probe_afd, .init = init_afd, .fini = fini,
    .ctl = ctl, .wait = wait_events, .wake = wake};

/* Test-only: never chosen unless named (afd.c: the strict model of PSN's documentation). */
static const rasio__backend_t model_backend = {
    .name = "psn-model", .caps = WIN_CAPS | RASIO__BE_BY_NAME_ONLY, .probe = probe_model,
    .init = init_model, .fini = fini, .ctl = ctl, .wait = wait_events, .wake = wake};

/* PSN where Windows has it, the AFD provider otherwise (Windows 10, Wine). */
const rasio__backend_t *const rasio__backends[] = {&psn_backend, &afd_backend, &model_backend,
                                                   NULL};
