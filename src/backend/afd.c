/* SPDX-License-Identifier: BSD-2-Clause */
/* The AFD provider: ProcessSocketNotifications' contract (win.h) built on the undocumented
 * IOCTL_AFD_POLL, for Windows 10 and Wine.
 *
 * Notes on AFD poll that this file relies on:
 * - Polls are issued on helper handles opened on \Device\Afd (one per GROUP_SIZE sockets),
 *   associated with the port under RASIO__KEY_AFD, naming the socket's base handle. The
 *   user's socket is never associated with any port.
 * - A poll reports what holds when it is issued (level) and completes once. It completes
 *   with a packet whose lpOverlapped is the ApcContext we pass: the record's IO_STATUS_BLOCK.
 *   A synchronous STATUS_SUCCESS still queues that packet (helpers never skip it). The
 *   record, its status block and poll buffer must live until that packet is dequeued.
 * - NtCancelIoFileEx completes a pending poll with STATUS_CANCELLED and an untouched
 *   buffer; a cancel that lost the race returns STATUS_NOT_FOUND and the real packet still
 *   comes. Either way the packet is awaited.
 * - A RECEIVE-only poll never sees a peer close: DISCONNECT and ABORT are always asked for
 *   with IN, and ABORT | CONNECT_FAIL always (they become ERR). CONNECT is a state reported
 *   on every poll of a connected socket and is never asked for. LOCAL_CLOSE comes unasked
 *   when the socket is closed under a pending poll.
 * - Wine holds DISCONNECT back while unread data remains and reports a reset as ABORT.
 *
 * PSN semantics on top (one record per registered socket, one outstanding poll):
 * - LEVEL|ONESHOT: after one delivery the record is disabled until ENABLE.
 * - LEVEL|PERSISTENT: after a delivery the poll is re-issued at the next wait (re-issuing
 *   at once would spin: the condition holds until the owner acts).
 * - EDGE is refused (ERROR_NOT_SUPPORTED): the backend never asks for it (win.c).
 * - DISABLE cancels, and a packet dequeued while disabled is dropped.
 * - REMOVE unlinks the record; once no poll is outstanding the provider posts a REMOVE
 *   packet itself. It owns every source of packets for the key, so REMOVE is the last.
 * - The registry is per port: the same socket registered twice on one port is one record.
 * One lock guards the registry and the records; ctl may run on any thread, wait's
 * translation runs on the loop thread.
 *
 * The same machinery, with strict set, is the psn-model provider: a test backend held to
 * the least favourable reading of Microsoft's PSN documentation wherever the AFD provider
 * is kinder, so the whole conformance suite can run against what PSN promises rather than
 * against what AFD happens to do. Each difference is marked "strict:" below, with the
 * sentence it models. It holds rasio to the documented contract; it proves nothing about
 * what Windows really does (tools/rasio-probe.c asks that).
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "backend/win.h"
#include "internal.h"

#define GROUP_SIZE 32
#define MIN_BUCKETS 64

typedef struct helper {
  struct helper *next;
  HANDLE handle;
  unsigned users;
} helper_t;

typedef struct rec {
  struct rec *next;          /* hash chain */
  struct rec *deferred_next; /* LEVEL re-polls waiting for the next wait */
  SOCKET sock, base;
  void *key;
  UINT16 filter;
  UINT8 trigger;
  ULONG polled; /* AFD mask of the outstanding poll */
  bool enabled, polling, cancelling, removing, deferred;
  bool silent; /* removing without a REMOVE packet (closed under the registration) */
  bool reset;  /* strict: the connection was aborted (see sn_of) */
  helper_t *helper;
  IO_STATUS_BLOCK iosb; /* ApcContext: the packet's lpOverlapped */
  rasio__afd_poll_t poll;
} rec_t;

typedef struct afd {
  SRWLOCK lock;
  bool strict; /* the psn-model provider */
  rec_t **buckets;
  size_t nbuckets, count;
  size_t polls; /* polls issued and not yet dequeued */
  helper_t *helpers;
  rec_t *deferred;
} afd_t;

static afd_t *afd_of(rasio__win_t *w) { return w->provider_state; }

/* --- helper handles ------------------------------------------------------------------ */

static NTSTATUS open_afd(HANDLE *out) {
  static const WCHAR path[] = L"\\Device\\Afd\\Rasio";
  UNICODE_STRING name = {sizeof path - sizeof(WCHAR), sizeof path, (PWSTR)path};
  OBJECT_ATTRIBUTES attr;
  InitializeObjectAttributes(&attr, &name, 0, NULL, NULL);
  IO_STATUS_BLOCK iosb;
  return NtCreateFile(out, SYNCHRONIZE, &attr, &iosb, NULL, 0, FILE_SHARE_READ | FILE_SHARE_WRITE,
                      FILE_OPEN, 0, NULL, 0);
}

static DWORD helper_new(HANDLE port, helper_t **out) {
  helper_t *h = rasio__calloc(1, sizeof *h);
  if (h == NULL) return ERROR_NOT_ENOUGH_MEMORY;
  NTSTATUS st = open_afd(&h->handle);
  if (!NT_SUCCESS(st)) {
    rasio__free(h);
    return RtlNtStatusToDosError(st);
  }
  if (CreateIoCompletionPort(h->handle, port, RASIO__KEY_AFD, 0) == NULL ||
      !SetFileCompletionNotificationModes(h->handle, FILE_SKIP_SET_EVENT_ON_HANDLE)) {
    DWORD err = GetLastError();
    CloseHandle(h->handle);
    rasio__free(h);
    return err;
  }
  *out = h;
  return 0;
}

/* A helper with room for one more socket. */
static DWORD helper_get(rasio__win_t *w, helper_t **out) {
  afd_t *a = afd_of(w);
  for (helper_t *h = a->helpers; h != NULL; h = h->next) {
    if (h->users < GROUP_SIZE) {
      *out = h;
      return 0;
    }
  }
  DWORD err = helper_new(w->port, out);
  if (err != 0) return err;
  (*out)->next = a->helpers;
  a->helpers = *out;
  return 0;
}

/* --- the registry ---------------------------------------------------------------------- */

static size_t bucket_of(const afd_t *a, SOCKET s) {
  return (size_t)(((uint64_t)s >> 2) * 0x9E3779B97F4A7C15u >> 32) & (a->nbuckets - 1);
}

static rec_t *find(const afd_t *a, SOCKET s) {
  rec_t *r = a->buckets[bucket_of(a, s)];
  while (r != NULL && r->sock != s) r = r->next;
  return r;
}

static void link_rec(afd_t *a, rec_t *r) {
  size_t b = bucket_of(a, r->sock);
  r->next = a->buckets[b];
  a->buckets[b] = r;
  a->count++;
}

static void unlink_rec(afd_t *a, rec_t *r) {
  rec_t **p = &a->buckets[bucket_of(a, r->sock)];
  while (*p != r) p = &(*p)->next;
  *p = r->next;
  a->count--;
}

/* Doubles the table when it is full, so chains stay short; false if out of memory. */
static bool grow(afd_t *a) {
  if (a->count < a->nbuckets) return true;
  size_t old = a->nbuckets;
  rec_t **buckets = rasio__calloc(old * 2, sizeof *buckets);
  if (buckets == NULL) return false;
  rec_t **prev = a->buckets;
  a->buckets = buckets;
  a->nbuckets = old * 2;
  a->count = 0;
  for (size_t i = 0; i < old; i++) {
    for (rec_t *r = prev[i], *next; r != NULL; r = next) {
      next = r->next;
      link_rec(a, r);
    }
  }
  rasio__free(prev);
  return true;
}

static void undefer(afd_t *a, rec_t *r) {
  if (!r->deferred) return;
  rec_t **p = &a->deferred;
  while (*p != r) p = &(*p)->deferred_next;
  *p = r->deferred_next;
  r->deferred = false;
}

static void defer(afd_t *a, rec_t *r) {
  if (r->deferred) return;
  r->deferred = true;
  r->deferred_next = a->deferred;
  a->deferred = r;
}

static void rec_free(rec_t *r) {
  r->helper->users--;
  rasio__free(r);
}

/* --- polls ----------------------------------------------------------------------------- */

/* Base socket under any layered providers; 0 or a WSA error. */
static DWORD base_socket(SOCKET s, SOCKET *base) {
  for (int i = 0; i < 4; i++) {
    DWORD bytes;
    if (WSAIoctl(s, SIO_BASE_HANDLE, NULL, 0, base, sizeof *base, &bytes, NULL, NULL) == 0)
      return 0;
    DWORD err = (DWORD)WSAGetLastError();
    if (err == WSAENOTSOCK) return err;
    /* Some layered providers intercept SIO_BASE_HANDLE; the poll handle gets past them.
     * Wine does not implement it (WSAEOPNOTSUPP) but never needs it. */
    SOCKET bsp;
    if (WSAIoctl(s, SIO_BSP_HANDLE_POLL, NULL, 0, &bsp, sizeof bsp, &bytes, NULL, NULL) != 0)
      return err;
    if (bsp == s) return err;
    s = bsp;
  }
  return WSAEINVAL;
}

/* strict: ERR only for a failed connect. HANGUP is "a stream-oriented connection was
 * either disconnected or aborted" (SOCK_NOTIFY_REGISTRATION), so a reset is HANGUP; nothing
 * documents that it also raises ERR. ABORT is always polled, to see resets (sn_of). */
static ULONG afd_mask(const afd_t *a, const rec_t *r) {
  if (a->strict && r->reset) return (r->filter & RASIO__SN_HANGUP) ? RASIO__AFD_ABORT : 0;
  ULONG m = RASIO__AFD_CONNECT_FAIL | RASIO__AFD_ABORT;
  if (r->filter & RASIO__SN_IN) m |= RASIO__AFD_RECEIVE | RASIO__AFD_ACCEPT;
  if ((r->filter & RASIO__SN_IN) && !a->strict) m |= RASIO__AFD_DISCONNECT;
  if (r->filter & RASIO__SN_HANGUP) m |= RASIO__AFD_DISCONNECT;
  if (r->filter & RASIO__SN_OUT) m |= RASIO__AFD_SEND;
  return m;
}

/* The SN bits of an AFD result, before the filter. strict: a peer's FIN is HANGUP alone (IN
 * is "data can be read without blocking", and at the end of the stream there is none); a
 * reset is HANGUP alone (after it neither a read nor a write succeeds, so neither IN nor
 * OUT "can be done without blocking" in the least favourable reading). */
static UINT16 sn_of(const afd_t *a, ULONG afd) {
  if (a->strict && (afd & RASIO__AFD_ABORT)) return RASIO__SN_HANGUP;
  UINT16 sn = 0;
  if (afd & (RASIO__AFD_RECEIVE | RASIO__AFD_ACCEPT)) sn |= RASIO__SN_IN;
  if (afd & RASIO__AFD_SEND) sn |= RASIO__SN_OUT;
  if (afd & (RASIO__AFD_DISCONNECT | RASIO__AFD_ABORT)) sn |= RASIO__SN_HANGUP;
  if ((afd & RASIO__AFD_DISCONNECT) && !a->strict) sn |= RASIO__SN_IN; /* recv gives 0 */
  if ((afd & RASIO__AFD_ABORT) && !a->strict) sn |= RASIO__SN_ERR;
  if (afd & RASIO__AFD_CONNECT_FAIL) sn |= RASIO__SN_ERR;
  return sn;
}

static DWORD issue(afd_t *a, rec_t *r, ULONG mask) {
  r->poll.timeout.QuadPart = INT64_MAX;
  r->poll.count = 1;
  r->poll.exclusive = FALSE;
  r->poll.handles[0].handle = (HANDLE)r->base;
  r->poll.handles[0].events = mask;
  r->poll.handles[0].status = 0;
  r->iosb.Status = RASIO__STATUS_PENDING;
  NTSTATUS st = NtDeviceIoControlFile(r->helper->handle, NULL, NULL, &r->iosb, &r->iosb,
                                      RASIO__IOCTL_AFD_POLL, &r->poll, sizeof r->poll, &r->poll,
                                      sizeof r->poll);
  if (st != RASIO__STATUS_PENDING && st != RASIO__STATUS_SUCCESS)
    return RtlNtStatusToDosError(st); /* no packet will come */
  r->polling = true;
  r->polled = mask;
  a->polls++;
  return 0;
}

static void cancel(rec_t *r) {
  if (!r->polling || r->cancelling) return;
  IO_STATUS_BLOCK scratch;
  (void)NtCancelIoFileEx(r->helper->handle, &r->iosb, &scratch); /* NOT_FOUND: it is done */
  r->cancelling = true;
}

/* Brings the outstanding poll in line with the record's wishes. */
static DWORD update(afd_t *a, rec_t *r) {
  ULONG want = r->enabled ? afd_mask(a, r) : 0;
  if (r->polling) {
    if (want & ~r->polled || want == 0) cancel(r); /* the completion re-issues */
    return 0;
  }
  return want != 0 ? issue(a, r, want) : 0;
}

/* --- failure injection (psn-model only) -------------------------------------------------- */

static struct {
  atomic_uint op, how, count;
} inject;

void rasio__psn_model_fail(UINT8 op, int how, unsigned count) {
  atomic_store(&inject.op, op);
  atomic_store(&inject.how, (unsigned)how);
  atomic_store(&inject.count, count);
}

/* Whether an entry with this op fails as how says; takes one from the count. */
static bool injected(const afd_t *a, UINT8 op, int how) {
  if (!a->strict || atomic_load(&inject.op) != op || atomic_load(&inject.how) != (unsigned)how)
    return false;
  unsigned n = atomic_load(&inject.count);
  while (n != 0 && !atomic_compare_exchange_weak(&inject.count, &n, n == UINT_MAX ? n : n - 1)) {
  }
  return n != 0;
}

/* --- ctl --------------------------------------------------------------------------------- */

/* "One of edge- or level-triggered must be supplied", and one of oneshot or persistent:
 * exactly one bit of each pair. EDGE is refused on top (see the notes). */
static DWORD check_trigger(UINT8 t) {
  bool shot = (t & RASIO__SN_ONESHOT) != 0, persist = (t & RASIO__SN_PERSISTENT) != 0;
  bool level = (t & RASIO__SN_LEVEL) != 0, edge = (t & RASIO__SN_EDGE) != 0;
  if (shot == persist || level == edge || (t & ~0x0F) != 0) return ERROR_INVALID_PARAMETER;
  return edge ? ERROR_NOT_SUPPORTED : 0;
}

static DWORD create(rasio__win_t *w, const rasio__psn_reg_t *reg, rec_t **out) {
  afd_t *a = afd_of(w);
  SOCKET base;
  DWORD err = base_socket(reg->socket, &base);
  if (err != 0) return err;
  if (!grow(a)) return ERROR_NOT_ENOUGH_MEMORY;
  rec_t *r = rasio__calloc(1, sizeof *r);
  if (r == NULL) return ERROR_NOT_ENOUGH_MEMORY;
  err = helper_get(w, &r->helper);
  if (err != 0) {
    rasio__free(r);
    return err;
  }
  r->helper->users++;
  r->sock = reg->socket;
  r->base = base;
  r->key = reg->completion_key; /* fixed at creation, as with PSN */
  link_rec(a, r);
  *out = r;
  return 0;
}

static DWORD enable(rasio__win_t *w, const rasio__psn_reg_t *reg) {
  DWORD err = check_trigger(reg->trigger_flags);
  if (err != 0) return err;
  if (injected(afd_of(w), RASIO__SN_OP_ENABLE, RASIO__MODEL_FAIL_ENTRY)) return WSAENOBUFS;
  rec_t *r = find(afd_of(w), reg->socket);
  if (r == NULL) {
    err = create(w, reg, &r);
    if (err != 0) return err;
  }
  r->filter = reg->event_filter & (RASIO__SN_IN | RASIO__SN_OUT | RASIO__SN_HANGUP);
  r->trigger = reg->trigger_flags;
  /* An empty filter registers the socket without polling it (win.c: an event created with
   * nothing to arm gets its record, and so its allocation, at creation). */
  r->enabled = r->filter != 0;
  undefer(afd_of(w), r);
  return update(afd_of(w), r);
}

static void post(rasio__win_t *w, void *key, DWORD bits) {
  (void)PostQueuedCompletionStatus(w->port, bits, (ULONG_PTR)key, NULL);
}

/* Ends a record: at once if no poll is outstanding, else when its completion comes. With
 * silent, no REMOVE packet is posted (the registration vanished, as on closesocket). */
static void retire(rasio__win_t *w, rec_t *r, bool silent) {
  afd_t *a = afd_of(w);
  unlink_rec(a, r);
  undefer(a, r);
  r->enabled = false;
  r->removing = true;
  r->silent = silent;
  if (r->polling) {
    cancel(r); /* the completion finishes the job */
    return;
  }
  if (!silent) post(w, r->key, RASIO__SN_REMOVE);
  rec_free(r);
}

/* The registration is gone without a REMOVE packet, as after closesocket: "its
 * notifications are automatically deregistered. However, already-queued notifications
 * might still be delivered. An automatic deregistration via closesocket won't generate a
 * SOCK_NOTIFY_EVENT_REMOVE notification." With late set (the injected REMOVE failure,
 * strict only), one such already-queued packet is sent after the fact. */
static void vanish(rasio__win_t *w, rec_t *r, bool late) {
  void *key = r->key;
  retire(w, r, true);
  if (late) post(w, key, RASIO__SN_IN | RASIO__SN_OUT | RASIO__SN_HANGUP);
}

static DWORD apply(rasio__win_t *w, const rasio__psn_reg_t *reg) {
  if (reg->operation == RASIO__SN_OP_ENABLE) return enable(w, reg);
  rec_t *r = find(afd_of(w), reg->socket);
  if (r == NULL) return ERROR_NOT_FOUND;
  if (reg->operation == RASIO__SN_OP_REMOVE) {
    /* An injected entry failure stands for the usual cause: the registration is already
     * gone (closed under it), so no REMOVE packet will come. */
    if (injected(afd_of(w), RASIO__SN_OP_REMOVE, RASIO__MODEL_FAIL_ENTRY)) {
      vanish(w, r, true);
      return ERROR_NOT_FOUND;
    }
    retire(w, r, false);
    return 0;
  }
  if (reg->operation != RASIO__SN_OP_DISABLE) return ERROR_INVALID_PARAMETER;
  r->enabled = false;
  undefer(afd_of(w), r);
  return update(afd_of(w), r);
}

/* strict: a call-level failure, "nothing changed" (the ProcessSocketNotifications page:
 * otherwise the return is an error code). */
static bool call_fails(const afd_t *a, const rasio__psn_reg_t *regs, UINT32 n) {
  for (UINT32 i = 0; i < n; i++)
    if (injected(a, regs[i].operation, RASIO__MODEL_FAIL_CALL)) return true;
  return false;
}

static DWORD ctl(rasio__win_t *w, rasio__psn_reg_t *regs, UINT32 n) {
  afd_t *a = afd_of(w);
  AcquireSRWLockExclusive(&a->lock);
  bool fails = call_fails(a, regs, n);
  for (UINT32 i = 0; i < n && !fails; i++) regs[i].registration_result = apply(w, &regs[i]);
  ReleaseSRWLockExclusive(&a->lock);
  return fails ? WSAENOBUFS : 0; /* the AFD provider fails only per entry */
}

/* --- completions ------------------------------------------------------------------------- */

/* What the record wants after delivering. */
static void after_delivery(afd_t *a, rec_t *r) {
  if (r->trigger & RASIO__SN_ONESHOT) r->enabled = false; /* disabled until the next ENABLE */
  else defer(a, r);
}

/* Whether the socket was closed under the poll: AFD says so unasked. */
static bool closed_under(const rec_t *r) {
  return NT_SUCCESS(r->iosb.Status) && r->poll.count > 0 &&
         (r->poll.handles[0].events & RASIO__AFD_LOCAL_CLOSE);
}

/* The SN bits a finished poll reports (0: nothing to deliver). */
static UINT16 outcome(const afd_t *a, const rec_t *r) {
  NTSTATUS st = r->iosb.Status;
  if (st == RASIO__STATUS_CANCELLED) return 0; /* a mask change or a disable */
  if (!NT_SUCCESS(st)) return RASIO__SN_ERR;   /* e.g. the socket handle went bad */
  if (r->poll.count == 0) return 0;
  return sn_of(a, r->poll.handles[0].events) & (r->filter | RASIO__SN_ERR);
}

/* strict: after a reset the record polls only for HANGUP (afd_mask), and not at all while
 * HANGUP is not in its filter: a reset nobody asked to hear of says nothing. */
static void note_reset(const afd_t *a, rec_t *r) {
  if (a->strict && r->iosb.Status == RASIO__STATUS_SUCCESS && r->poll.count > 0 &&
      (r->poll.handles[0].events & RASIO__AFD_ABORT))
    r->reset = true;
}

/* Handles one dequeued poll; true with *entry filled if it yields a notification. */
static bool complete(rasio__win_t *w, rec_t *r, OVERLAPPED_ENTRY *entry) {
  afd_t *a = afd_of(w);
  r->polling = r->cancelling = false;
  a->polls--;
  if (r->removing) { /* REMOVE (or a close) came first: this was the last poll */
    if (!r->silent) post(w, r->key, RASIO__SN_REMOVE);
    rec_free(r);
    return false;
  }
  if (closed_under(r)) {
    vanish(w, r, false); /* like PSN: gone without REMOVE; r is freed */
    return false;
  }
  UINT16 sn = outcome(a, r);
  note_reset(a, r);
  /* A packet dequeued after a DISABLE is dropped. strict: "Notifications that have already
   * been queued might still be delivered" after SOCK_NOTIFY_OP_DISABLE, so it is not. */
  if (!r->enabled && !(a->strict && sn != 0)) return false;
  if (sn == 0) {
    if (update(a, r) != 0) sn = RASIO__SN_ERR; /* nothing to report: poll again */
    if (sn == 0) return false;
  }
  entry->lpCompletionKey = (ULONG_PTR)r->key;
  entry->dwNumberOfBytesTransferred = sn;
  entry->lpOverlapped = NULL;
  after_delivery(a, r);
  return true;
}

/* Re-issues the LEVEL polls delivered since the last wait; entries for the ones that fail. */
static ULONG flush_deferred(rasio__win_t *w, OVERLAPPED_ENTRY *out, ULONG max) {
  afd_t *a = afd_of(w);
  ULONG n = 0;
  while (a->deferred != NULL && n < max) {
    rec_t *r = a->deferred;
    undefer(a, r);
    if (!r->enabled || update(a, r) == 0) continue;
    r->enabled = false;
    out[n++] = (OVERLAPPED_ENTRY){.lpCompletionKey = (ULONG_PTR)r->key,
                                  .dwNumberOfBytesTransferred = RASIO__SN_ERR};
  }
  return n;
}

/* Turns the raw entries out[from, from + raw) into PSN-shaped ones at out[from...]; the
 * new count. In place: entries only shrink, so the write index never passes the read. */
static ULONG translate(rasio__win_t *w, OVERLAPPED_ENTRY *out, ULONG from, ULONG raw) {
  ULONG n = from;
  for (ULONG i = from, end = from + raw; i < end; i++) {
    OVERLAPPED_ENTRY e = out[i];
    if (e.lpCompletionKey != RASIO__KEY_AFD) {
      out[n++] = e; /* not ours: wakeups, REMOVE packets */
      continue;
    }
    rec_t *r = (rec_t *)((char *)e.lpOverlapped - offsetof(rec_t, iosb));
    if (complete(w, r, &out[n])) n++;
  }
  return n;
}

static DWORD wait(rasio__win_t *w, OVERLAPPED_ENTRY *out, ULONG max, DWORD timeout_ms,
                  ULONG *got) {
  afd_t *a = afd_of(w);
  AcquireSRWLockExclusive(&a->lock);
  ULONG n = flush_deferred(w, out, max);
  ReleaseSRWLockExclusive(&a->lock);
  ULONG raw = 0;
  DWORD err = n < max ? rasio__win_dequeue(w->port, out + n, max - n, n > 0 ? 0 : timeout_ms, &raw)
                      : 0;
  if (err != 0) return err;
  AcquireSRWLockExclusive(&a->lock);
  *got = translate(w, out, n, raw);
  ReleaseSRWLockExclusive(&a->lock);
  return 0;
}

/* --- lifecycle --------------------------------------------------------------------------- */

static int probe(void) {
  HANDLE h;
  if (!NT_SUCCESS(open_afd(&h))) return RASIO_EUNAVAIL;
  CloseHandle(h);
  return 0;
}

static int init_strict(rasio__win_t *w, bool strict) {
  afd_t *a = rasio__calloc(1, sizeof *a);
  rec_t **buckets = rasio__calloc(MIN_BUCKETS, sizeof *buckets);
  if (a == NULL || buckets == NULL) {
    rasio__free(a);
    rasio__free(buckets);
    return RASIO_ENOMEM;
  }
  InitializeSRWLock(&a->lock);
  a->strict = strict;
  a->buckets = buckets;
  a->nbuckets = MIN_BUCKETS;
  w->provider_state = a;
  return 0;
}

static int init(rasio__win_t *w) { return init_strict(w, false); }
static int init_model(rasio__win_t *w) { return init_strict(w, true); }

/* Every event is disposed when the loop is freed, so normally every record went through
 * REMOVE and every poll was dequeued. A registration the backend gave up on (win.c: a
 * REMOVE that kept failing on a socket rasio does not own) is still here: its poll is
 * cancelled and awaited, for the kernel may write its status block until the packet comes.
 * If it never comes the record is leaked rather than freed under the kernel. */
static void drain(rasio__win_t *w) {
  afd_t *a = afd_of(w);
  for (size_t i = 0; i < a->nbuckets; i++) {
    while (a->buckets[i] != NULL) retire(w, a->buckets[i], true);
  }
  OVERLAPPED_ENTRY entries[16];
  for (int round = 0; a->polls > 0 && round < 100; round++) {
    ULONG raw = 0;
    if (rasio__win_dequeue(w->port, entries, 16, 10, &raw) != 0) break;
    (void)translate(w, entries, 0, raw);
  }
}

static void fini(rasio__win_t *w) {
  afd_t *a = afd_of(w);
  drain(w);
  /* With a poll still out, its record and helper handle are leaked (drain, above). */
  for (helper_t *h = a->polls == 0 ? a->helpers : NULL, *next; h != NULL; h = next) {
    next = h->next;
    CloseHandle(h->handle);
    rasio__free(h);
  }
  rasio__free(a->buckets);
  rasio__free(a);
  w->provider_state = NULL;
}

const rasio__win_provider_t rasio__provider_afd = {
    .name = "afd",
    .enable_empty = true,
    .probe = probe,
    .init = init,
    .fini = fini,
    .ctl = ctl,
    .wait = wait,
};

const rasio__win_provider_t rasio__provider_psn_model = {
    .name = "psn-model",
    .enable_empty = true,
    .probe = probe,
    .init = init_model,
    .fini = fini,
    .ctl = ctl,
    .wait = wait,
};
