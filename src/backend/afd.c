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
 * - ONESHOT: after one delivery the record is disabled until ENABLE.
 * - LEVEL|PERSISTENT: after a delivery the poll is re-issued at the next wait (re-issuing
 *   at once would spin: the condition holds until the owner acts).
 * - EDGE|PERSISTENT: delivered bits are "consumed" and not polled again until the socket
 *   layer reports would-block in that direction (rearm); a condition that came back by
 *   then completes the new poll at once. So edge needs I/O through rasio's socket calls.
 * - DISABLE cancels, and any packet dequeued while disabled is dropped (stricter than PSN,
 *   which may still deliver queued packets).
 * - REMOVE unlinks the record; once no poll is outstanding the provider posts a REMOVE
 *   packet itself. It owns every source of packets for the key, so REMOVE is the last.
 * - The registry is per port: the same socket registered twice on one port is one record.
 * One lock guards the registry and the records; ctl may run on any thread, wait's
 * translation runs on the loop thread.
 */
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
  UINT16 consumed; /* EDGE: SN bits delivered and not re-armed since */
  ULONG polled;    /* AFD mask of the outstanding poll */
  bool enabled, polling, cancelling, removing, deferred;
  helper_t *helper;
  IO_STATUS_BLOCK iosb; /* ApcContext: the packet's lpOverlapped */
  rasio__afd_poll_t poll;
} rec_t;

typedef struct afd {
  SRWLOCK lock;
  rec_t **buckets;
  size_t nbuckets, count;
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

static ULONG afd_mask(const rec_t *r) {
  UINT16 want = r->filter & ~r->consumed;
  ULONG m = 0;
  if (want & RASIO__SN_IN) m |= RASIO__AFD_RECEIVE | RASIO__AFD_ACCEPT | RASIO__AFD_DISCONNECT;
  if (want & RASIO__SN_HANGUP) m |= RASIO__AFD_DISCONNECT | RASIO__AFD_ABORT;
  if (want & RASIO__SN_OUT) m |= RASIO__AFD_SEND;
  if (!(r->consumed & RASIO__SN_ERR)) m |= RASIO__AFD_ABORT | RASIO__AFD_CONNECT_FAIL;
  return m;
}

static UINT16 sn_of(ULONG afd) {
  UINT16 sn = 0;
  if (afd & (RASIO__AFD_RECEIVE | RASIO__AFD_ACCEPT)) sn |= RASIO__SN_IN;
  if (afd & RASIO__AFD_SEND) sn |= RASIO__SN_OUT;
  if (afd & RASIO__AFD_DISCONNECT) sn |= RASIO__SN_IN | RASIO__SN_HANGUP; /* recv gives 0 */
  if (afd & RASIO__AFD_ABORT) sn |= RASIO__SN_HANGUP | RASIO__SN_ERR;
  if (afd & RASIO__AFD_CONNECT_FAIL) sn |= RASIO__SN_ERR;
  return sn;
}

static DWORD issue(rec_t *r, ULONG mask) {
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
  return 0;
}

static void cancel(rec_t *r) {
  if (!r->polling || r->cancelling) return;
  IO_STATUS_BLOCK scratch;
  (void)NtCancelIoFileEx(r->helper->handle, &r->iosb, &scratch); /* NOT_FOUND: it is done */
  r->cancelling = true;
}

/* Brings the outstanding poll in line with the record's wishes. */
static DWORD update(rec_t *r) {
  ULONG want = r->enabled ? afd_mask(r) : 0;
  if (r->polling) {
    if (want & ~r->polled || want == 0) cancel(r); /* the completion re-issues */
    return 0;
  }
  return want != 0 ? issue(r, want) : 0;
}

/* --- ctl --------------------------------------------------------------------------------- */

static bool valid_trigger(UINT8 t) {
  bool shot = (t & RASIO__SN_ONESHOT) != 0, persist = (t & RASIO__SN_PERSISTENT) != 0;
  bool level = (t & RASIO__SN_LEVEL) != 0, edge = (t & RASIO__SN_EDGE) != 0;
  return shot != persist && level != edge && (t & ~0x0F) == 0;
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
  if (!valid_trigger(reg->trigger_flags)) return ERROR_INVALID_PARAMETER;
  rec_t *r = find(afd_of(w), reg->socket);
  if (r == NULL) {
    DWORD err = create(w, reg, &r);
    if (err != 0) return err;
  }
  r->filter = reg->event_filter & (RASIO__SN_IN | RASIO__SN_OUT | RASIO__SN_HANGUP);
  r->trigger = reg->trigger_flags;
  r->consumed = 0;
  /* An empty filter registers the socket without polling it (win.c: an event created with
   * nothing to arm gets its record, and so its allocation, at creation). */
  r->enabled = r->filter != 0;
  undefer(afd_of(w), r);
  return update(r);
}

static void post_remove(rasio__win_t *w, void *key) {
  PostQueuedCompletionStatus(w->port, RASIO__SN_REMOVE, (ULONG_PTR)key, NULL);
}

static DWORD remove_rec(rasio__win_t *w, rec_t *r) {
  afd_t *a = afd_of(w);
  unlink_rec(a, r);
  undefer(a, r);
  r->enabled = false;
  r->removing = true;
  if (r->polling) {
    cancel(r); /* the completion posts REMOVE and frees */
    return 0;
  }
  post_remove(w, r->key);
  rec_free(r);
  return 0;
}

static DWORD apply(rasio__win_t *w, const rasio__psn_reg_t *reg) {
  if (reg->operation == RASIO__SN_OP_ENABLE) return enable(w, reg);
  rec_t *r = find(afd_of(w), reg->socket);
  if (r == NULL) return ERROR_NOT_FOUND;
  if (reg->operation == RASIO__SN_OP_REMOVE) return remove_rec(w, r);
  if (reg->operation != RASIO__SN_OP_DISABLE) return ERROR_INVALID_PARAMETER;
  r->enabled = false;
  undefer(afd_of(w), r);
  return update(r);
}

static DWORD ctl(rasio__win_t *w, rasio__psn_reg_t *regs, UINT32 n) {
  afd_t *a = afd_of(w);
  AcquireSRWLockExclusive(&a->lock);
  for (UINT32 i = 0; i < n; i++) regs[i].registration_result = apply(w, &regs[i]);
  ReleaseSRWLockExclusive(&a->lock);
  return 0; /* every failure is per entry: nothing here can fail the whole call */
}

static void rearm(rasio__win_t *w, SOCKET s, UINT16 bits) {
  afd_t *a = afd_of(w);
  AcquireSRWLockExclusive(&a->lock);
  rec_t *r = find(a, s);
  if (r != NULL && r->enabled && (r->trigger & RASIO__SN_EDGE)) {
    /* Would-block in a direction ends its edge; a peer FIN is only seen with IN. ERR is
     * terminal and stays consumed. */
    if (bits & RASIO__SN_IN) bits |= RASIO__SN_HANGUP;
    r->consumed &= ~bits;
    (void)update(r);
  }
  ReleaseSRWLockExclusive(&a->lock);
}

/* --- completions ------------------------------------------------------------------------- */

/* What the record wants after delivering sn. */
static void after_delivery(afd_t *a, rec_t *r, UINT16 sn) {
  if (r->trigger & RASIO__SN_ONESHOT) {
    r->enabled = false; /* PSN: disabled until the next ENABLE */
  } else if (r->trigger & RASIO__SN_LEVEL) {
    defer(a, r);
  } else {
    r->consumed |= sn;
    if (update(r) != 0) r->enabled = false;
  }
}

/* The SN bits a finished poll reports (0: nothing to deliver). */
static UINT16 outcome(rasio__win_t *w, rec_t *r) {
  NTSTATUS st = r->iosb.Status;
  if (st == RASIO__STATUS_CANCELLED) return 0; /* a mask change or a disable */
  if (!NT_SUCCESS(st)) return RASIO__SN_ERR;   /* e.g. the socket handle went bad */
  if (r->poll.count == 0) return 0;
  ULONG fired = r->poll.handles[0].events;
  if (fired & RASIO__AFD_LOCAL_CLOSE) {
    /* Closed under the registration: like PSN, the registration is gone without REMOVE. */
    unlink_rec(afd_of(w), r);
    undefer(afd_of(w), r);
    r->removing = true;
    return 0;
  }
  UINT16 sn = sn_of(fired) & (r->filter | RASIO__SN_ERR);
  return (r->trigger & RASIO__SN_EDGE) ? sn & ~r->consumed : sn;
}

/* Handles one dequeued poll; true with *entry filled if it yields a notification. */
static bool complete(rasio__win_t *w, rec_t *r, OVERLAPPED_ENTRY *entry) {
  r->polling = r->cancelling = false;
  if (r->removing) { /* REMOVE was asked for: this was the last poll, REMOVE goes last */
    post_remove(w, r->key);
    rec_free(r);
    return false;
  }
  UINT16 sn = outcome(w, r);
  if (r->removing) { /* closed locally: freed without a REMOVE packet */
    rec_free(r);
    return false;
  }
  if (!r->enabled) return false; /* disabled while the packet was on its way: drop it */
  if (sn == 0) {
    if (update(r) != 0) sn = RASIO__SN_ERR; /* nothing to report: poll again */
    if (sn == 0) return false;
  }
  entry->lpCompletionKey = (ULONG_PTR)r->key;
  entry->dwNumberOfBytesTransferred = sn;
  entry->lpOverlapped = NULL;
  after_delivery(afd_of(w), r, sn);
  return true;
}

/* Re-issues the LEVEL polls delivered since the last wait; entries for the ones that fail. */
static ULONG flush_deferred(rasio__win_t *w, OVERLAPPED_ENTRY *out, ULONG max) {
  afd_t *a = afd_of(w);
  ULONG n = 0;
  while (a->deferred != NULL && n < max) {
    rec_t *r = a->deferred;
    undefer(a, r);
    if (!r->enabled || update(r) == 0) continue;
    r->enabled = false;
    out[n++] = (OVERLAPPED_ENTRY){.lpCompletionKey = (ULONG_PTR)r->key,
                                  .dwNumberOfBytesTransferred = RASIO__SN_ERR};
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
  /* Translated in place: entries only shrink, so the write index never passes the read. */
  for (ULONG i = n, end = n + raw; i < end; i++) {
    OVERLAPPED_ENTRY e = out[i];
    if (e.lpCompletionKey != RASIO__KEY_AFD) {
      out[n++] = e; /* not ours: wakeups, REMOVE packets */
      continue;
    }
    rec_t *r = (rec_t *)((char *)e.lpOverlapped - offsetof(rec_t, iosb));
    if (complete(w, r, &out[n])) n++;
  }
  ReleaseSRWLockExclusive(&a->lock);
  *got = n;
  return 0;
}

/* --- lifecycle --------------------------------------------------------------------------- */

static int probe(void) {
  HANDLE h;
  if (!NT_SUCCESS(open_afd(&h))) return RASIO_EUNAVAIL;
  CloseHandle(h);
  return 0;
}

static int init(rasio__win_t *w) {
  afd_t *a = rasio__calloc(1, sizeof *a);
  rec_t **buckets = rasio__calloc(MIN_BUCKETS, sizeof *buckets);
  if (a == NULL || buckets == NULL) {
    rasio__free(a);
    rasio__free(buckets);
    return RASIO_ENOMEM;
  }
  InitializeSRWLock(&a->lock);
  a->buckets = buckets;
  a->nbuckets = MIN_BUCKETS;
  w->provider_state = a;
  return 0;
}

/* The loop is freed only once every event is disposed, so every record went through
 * REMOVE and every poll was dequeued: only the helper handles remain. */
static void fini(rasio__win_t *w) {
  afd_t *a = afd_of(w);
  for (helper_t *h = a->helpers, *next; h != NULL; h = next) {
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
    .probe = probe,
    .init = init,
    .fini = fini,
    .ctl = ctl,
    .wait = wait,
    .rearm = rearm,
};
