/* SPDX-License-Identifier: BSD-2-Clause */
/* rasio-probe: asks the Windows kernel the questions rasio's Windows backend cannot answer
 * from documentation alone, and prints what it observed as a markdown table.
 *
 * Each question runs through ProcessSocketNotifications ("psn", when ws2_32 or mswsock
 * exports it: Windows 11 / Server 2022 and later) and through IOCTL_AFD_POLL ("afd", every
 * Windows since Vista, and Wine), directly through the raw calls: rasio's event layer is not
 * involved, the point is to see what the kernel does. A row that cannot run says "n/a:" and
 * why. Every wait is bounded; the whole run takes a few seconds (the longest step is a
 * refused localhost connect, which Windows retries for about two seconds).
 *
 * The documentation sentences each question tests are quoted beside it. They come from
 * Microsoft's pages "ProcessSocketNotifications function", "SOCK_NOTIFY_REGISTRATION
 * structure", "SocketNotificationRetrieveEvents function" and "Winsock socket state
 * notifications". IOCTL_AFD_POLL is undocumented: its rows record behaviour, nothing more.
 *
 * Exit status: 0 once the table is printed, whatever it says; 1 if the probe itself could not
 * run (WSAStartup failed).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/winapi.h"
#include "rasio.h"

#ifndef RASIO_PROBE_COMMIT
#define RASIO_PROBE_COMMIT "unknown"
#endif

#define KEY ((ULONG_PTR)0x70726F6265) /* "probe": the completion key of every registration */
#define UNTOUCHED 0xDEADBEEFu         /* registration_result before the call */
#define MAX_PACKETS 16                /* a level registration re-queues forever: stop here */
#define SETTLE_MS 150                 /* loopback: long enough for a FIN, RST or data to land */
#define COLLECT_MS 300                /* how long a question waits for notifications */
#define CONNECT_FAIL_MS 5000          /* Windows retries a refused SYN for about 2 s */

/* Every filter and mask bit of a registration, and of an AFD poll except CONNECT (a state,
 * reported on every poll of a connected socket) and LOCAL_CLOSE (reported regardless). */
#define SN_ALL (RASIO__SN_IN | RASIO__SN_OUT | RASIO__SN_HANGUP)
#define AFD_ALL                                                                                  \
  (RASIO__AFD_RECEIVE | RASIO__AFD_RECEIVE_EXPEDITED | RASIO__AFD_SEND | RASIO__AFD_DISCONNECT | \
   RASIO__AFD_ABORT | RASIO__AFD_ACCEPT | RASIO__AFD_CONNECT_FAIL)

#if defined(__MINGW_PRINTF_FORMAT)
#define PROBE_PRINTF(fmt, args) __attribute__((format(__MINGW_PRINTF_FORMAT, fmt, args)))
#else
#define PROBE_PRINTF(fmt, args)
#endif

/* --- text ------------------------------------------------------------------------------ */

/* One table cell: appended to, truncated (never overflowed) when too long. */
typedef struct cell {
  char text[640];
  size_t len;
} cell_t;

static void PROBE_PRINTF(2, 3) put(cell_t *c, const char *fmt, ...) {
  if (c->len >= sizeof c->text - 1) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(c->text + c->len, sizeof c->text - c->len, fmt, ap);
  va_end(ap);
  if (n > 0) c->len += (size_t)n;
  if (c->len > sizeof c->text - 1) c->len = sizeof c->text - 1;
}

typedef struct name {
  uint32_t value;
  const char *name;
} name_t;

/* "0x5 IN+HANGUP": raw bits, then the names ("+" joins them: "|" would split the cell). */
static void put_bits(cell_t *c, uint32_t bits, const name_t *names, size_t n) {
  put(c, "0x%" PRIx32 " ", bits);
  if (bits == 0) {
    put(c, "(none)");
    return;
  }
  const char *sep = "";
  for (size_t i = 0; i < n; i++) {
    if ((bits & names[i].value) == 0) continue;
    put(c, "%s%s", sep, names[i].name);
    bits &= ~names[i].value;
    sep = "+";
  }
  if (bits != 0) put(c, "%s?0x%" PRIx32, sep, bits);
}

static const name_t sn_names[] = {{RASIO__SN_IN, "IN"},
                                  {RASIO__SN_OUT, "OUT"},
                                  {RASIO__SN_HANGUP, "HANGUP"},
                                  {RASIO__SN_ERR, "ERR"},
                                  {RASIO__SN_REMOVE, "REMOVE"}};

static const name_t afd_names[] = {{RASIO__AFD_RECEIVE, "RECEIVE"},
                                   {RASIO__AFD_RECEIVE_EXPEDITED, "RECEIVE_EXPEDITED"},
                                   {RASIO__AFD_SEND, "SEND"},
                                   {RASIO__AFD_DISCONNECT, "DISCONNECT"},
                                   {RASIO__AFD_ABORT, "ABORT"},
                                   {RASIO__AFD_LOCAL_CLOSE, "LOCAL_CLOSE"},
                                   {RASIO__AFD_CONNECT, "CONNECT"},
                                   {RASIO__AFD_ACCEPT, "ACCEPT"},
                                   {RASIO__AFD_CONNECT_FAIL, "CONNECT_FAIL"}};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void put_sn(cell_t *c, uint32_t bits) { put_bits(c, bits, sn_names, COUNT(sn_names)); }
static void put_afd(cell_t *c, uint32_t bits) { put_bits(c, bits, afd_names, COUNT(afd_names)); }

/* Win32 and Winsock codes the questions can plausibly produce; others print as numbers. */
static void put_error(cell_t *c, DWORD code) {
  static const name_t names[] = {{ERROR_SUCCESS, "ERROR_SUCCESS"},
                                 {ERROR_INVALID_HANDLE, "ERROR_INVALID_HANDLE"},
                                 {ERROR_INVALID_PARAMETER, "ERROR_INVALID_PARAMETER"},
                                 {WAIT_TIMEOUT, "WAIT_TIMEOUT"},
                                 {ERROR_NOT_FOUND, "ERROR_NOT_FOUND"},
                                 {ERROR_INVALID_FUNCTION, "ERROR_INVALID_FUNCTION"},
                                 {WSAEINVAL, "WSAEINVAL"},
                                 {WSAENOTSOCK, "WSAENOTSOCK"},
                                 {WSAEOPNOTSUPP, "WSAEOPNOTSUPP"},
                                 {WSAEWOULDBLOCK, "WSAEWOULDBLOCK"},
                                 {WSAECONNRESET, "WSAECONNRESET"},
                                 {WSAECONNREFUSED, "WSAECONNREFUSED"},
                                 {WSAECONNABORTED, "WSAECONNABORTED"},
                                 {WSAENOTCONN, "WSAENOTCONN"},
                                 {UNTOUCHED, "untouched by the call"}};
  for (size_t i = 0; i < COUNT(names); i++)
    if (names[i].value == code) {
      put(c, "%lu %s", (unsigned long)code, names[i].name);
      return;
    }
  put(c, "%lu", (unsigned long)code);
}

static void put_status(cell_t *c, NTSTATUS st) {
  static const name_t names[] = {
      {0x00000000u, "SUCCESS"},           {0x00000102u, "TIMEOUT"},
      {0x00000103u, "PENDING"},           {0x8000000Au, "HANDLES_CLOSED"},
      {0xC0000008u, "INVALID_HANDLE"},    {0xC000000Du, "INVALID_PARAMETER"},
      {0xC0000120u, "CANCELLED"},         {0xC000020Du, "CONNECTION_RESET"},
      {0xC0000225u, "NOT_FOUND"},         {0xC0000236u, "CONNECTION_REFUSED"},
      {0xC0000241u, "CONNECTION_ABORTED"}};
  put(c, "0x%08lx", (unsigned long)(ULONG)st);
  for (size_t i = 0; i < COUNT(names); i++)
    if (names[i].value == (uint32_t)st) put(c, " %s", names[i].name);
}

/* --- the probe's state ------------------------------------------------------------------- */

typedef struct probe {
  rasio__psn_fn psn; /* NULL: not exported; psn_missing says so */
  const char *psn_dll;
  char psn_missing[160];
  HANDLE afd; /* a \Device\Afd helper handle; NULL: afd_missing says why */
  char afd_missing[160];
} probe_t;

/* Resolved at run time, never imported: a static import would stop the program loading on
 * Windows 10, and Wine 8 has no export at all. The documentation names ws2_32 ("req.dll:
 * Ws2_32.dll"); some versions keep it in mswsock, so both are asked. */
static void probe_psn(probe_t *p) {
  static const char *const dlls[] = {"ws2_32.dll", "mswsock.dll"};
  for (size_t i = 0; i < COUNT(dlls); i++) {
    HMODULE m = LoadLibraryExA(dlls[i], NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);
    FARPROC f = m != NULL ? GetProcAddress(m, "ProcessSocketNotifications") : NULL;
    if (f != NULL) {
      p->psn = (rasio__psn_fn)(void (*)(void))f;
      p->psn_dll = dlls[i];
      return;
    }
  }
  snprintf(p->psn_missing, sizeof p->psn_missing,
           "not exported by ws2_32.dll or mswsock.dll (GetProcAddress returned NULL)");
}

/* A helper handle on \Device\Afd, as rasio's afd provider uses: polls are issued on it and
 * name the socket watched, so no socket is ever tied to a completion port. */
static void probe_afd(probe_t *p) {
  static const WCHAR path[] = L"\\Device\\Afd\\RasioProbe";
  UNICODE_STRING name = {sizeof path - sizeof(WCHAR), sizeof path, (PWSTR)path};
  OBJECT_ATTRIBUTES attr;
  InitializeObjectAttributes(&attr, &name, 0, NULL, NULL);
  IO_STATUS_BLOCK iosb;
  NTSTATUS st = NtCreateFile(&p->afd, SYNCHRONIZE, &attr, &iosb, NULL, 0,
                             FILE_SHARE_READ | FILE_SHARE_WRITE, FILE_OPEN, 0, NULL, 0);
  if (NT_SUCCESS(st)) return;
  p->afd = NULL;
  snprintf(p->afd_missing, sizeof p->afd_missing, "NtCreateFile(\\Device\\Afd) failed: 0x%08lx",
           (unsigned long)(ULONG)st);
}

/* --- sockets ----------------------------------------------------------------------------- */

static void close_socket(SOCKET *s) {
  if (*s != INVALID_SOCKET) closesocket(*s);
  *s = INVALID_SOCKET;
}

static bool set_nonblocking(SOCKET s) {
  u_long on = 1;
  return ioctlsocket(s, FIONBIO, &on) == 0;
}

/* A TCP socket bound to 127.0.0.1 on a port of the system's choice; its address in *addr.
 * With `backlog` > 0 it listens; otherwise it only holds the port, which then refuses. */
static SOCKET bound_socket(struct sockaddr_in *addr, int backlog) {
  SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (s == INVALID_SOCKET) return s;
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int len = sizeof *addr;
  if (bind(s, (struct sockaddr *)addr, len) != 0 ||
      getsockname(s, (struct sockaddr *)addr, &len) != 0 ||
      (backlog > 0 && listen(s, backlog) != 0))
    close_socket(&s);
  return s;
}

/* A connected pair over loopback, both non-blocking: *local is the accepted end (the one
 * observed), *peer the connecting end (the one that sends, shuts down or resets). */
static bool tcp_pair(SOCKET *local, SOCKET *peer, cell_t *why) {
  struct sockaddr_in addr;
  SOCKET l = bound_socket(&addr, 1);
  *local = *peer = INVALID_SOCKET;
  if (l != INVALID_SOCKET) *peer = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (*peer != INVALID_SOCKET && connect(*peer, (struct sockaddr *)&addr, sizeof addr) == 0)
    *local = accept(l, NULL, NULL);
  bool ok = *local != INVALID_SOCKET && set_nonblocking(*local) && set_nonblocking(*peer);
  if (!ok) {
    put(why, "n/a: loopback TCP pair failed (WSA error %d)", WSAGetLastError());
    close_socket(local);
    close_socket(peer);
  }
  close_socket(&l);
  return ok;
}

enum { PEER_FIN, PEER_RST };

/* FIN: shutdown(SD_SEND), the peer stays open. RST: SO_LINGER {1, 0} then closesocket,
 * which aborts the connection. */
static void peer_act(int action, SOCKET *peer) {
  if (action == PEER_FIN) {
    shutdown(*peer, SD_SEND);
  } else {
    struct linger hard = {1, 0};
    setsockopt(*peer, SOL_SOCKET, SO_LINGER, (const char *)&hard, sizeof hard);
    close_socket(peer);
  }
  Sleep(SETTLE_MS);
}

static const char *action_name(int action) { return action == PEER_FIN ? "FIN" : "RST"; }

static void send_bytes(SOCKET s, int n) {
  char buf[256] = {0};
  send(s, buf, n < (int)sizeof buf ? n : (int)sizeof buf, 0);
}

/* Reads until WSAEWOULDBLOCK (or EOF, or an error); returns the bytes read. */
static int drain(SOCKET s) {
  char buf[4096];
  int total = 0, n;
  while ((n = recv(s, buf, sizeof buf, 0)) > 0) total += n;
  return total;
}

/* A non-blocking connect to a loopback port that refuses, left once it has failed (select
 * reports it in exceptfds). *so_error is SO_ERROR afterwards. */
static bool failed_connect(SOCKET *out, int *so_error, cell_t *why) {
  struct sockaddr_in addr;
  SOCKET holder = bound_socket(&addr, 0); /* keeps the port bound, not listening */
  SOCKET s = holder != INVALID_SOCKET ? socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) : INVALID_SOCKET;
  bool ok = s != INVALID_SOCKET && set_nonblocking(s) &&
            connect(s, (struct sockaddr *)&addr, sizeof addr) != 0 &&
            WSAGetLastError() == WSAEWOULDBLOCK;
  if (ok) {
    fd_set wr, ex;
    FD_ZERO(&wr);
    FD_ZERO(&ex);
    FD_SET(s, &wr);
    FD_SET(s, &ex);
    struct timeval tv = {CONNECT_FAIL_MS / 1000, 0};
    ok = select(0, NULL, &wr, &ex, &tv) > 0 && FD_ISSET(s, &ex); /* failure: exceptfds */
    int len = sizeof *so_error;
    *so_error = 0;
    getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)so_error, &len);
  }
  if (!ok) {
    put(why, "n/a: a connect to a refusing loopback port did not fail within %d ms",
        CONNECT_FAIL_MS);
    close_socket(&s);
  }
  close_socket(&holder);
  *out = s;
  return ok;
}

/* --- psn --------------------------------------------------------------------------------- */

/* One registration operation, alone in its call; *result is its registration_result, which
 * starts as UNTOUCHED so a result the call never wrote shows as such. */
static DWORD psn_op(const probe_t *p, HANDLE port, SOCKET s, UINT8 op, UINT16 filter, UINT8 trigger,
                    DWORD *result) {
  rasio__psn_reg_t reg = {.socket = s,
                          .completion_key = (void *)KEY,
                          .event_filter = filter,
                          .operation = op,
                          .trigger_flags = trigger,
                          .registration_result = UNTOUCHED};
  DWORD rc = p->psn(port, 1, &reg, 0, 0, NULL, NULL);
  *result = reg.registration_result;
  return rc;
}

static void put_call(cell_t *c, DWORD rc, DWORD result) {
  put(c, "call ");
  put_error(c, rc);
  put(c, ", registration_result ");
  put_error(c, result);
}

/* ENABLE that must succeed for the question to mean anything; says why when it did not.
 * WAIT_TIMEOUT counts as success: the documentation returns it when "no completion packets
 * appeared within the specified time", and then "you must inspect the individual
 * registration infos' registration results". */
static bool psn_enable(const probe_t *p, HANDLE port, SOCKET s, UINT16 filter, UINT8 trigger,
                       cell_t *c) {
  DWORD result, rc = psn_op(p, port, s, RASIO__SN_OP_ENABLE, filter, trigger, &result);
  if ((rc == ERROR_SUCCESS || rc == WAIT_TIMEOUT) && result == ERROR_SUCCESS) return true;
  put(c, "n/a: ENABLE failed: ");
  put_call(c, rc, result);
  return false;
}

/* Dequeues for `ms`, at most MAX_PACKETS packets, and lists them: "0x5 IN+HANGUP; 0x1 IN",
 * repeats folded ("0x2 OUT x16"), "none" when nothing came. Returns the packet count. */
static int collect(HANDLE port, DWORD ms, cell_t *c) {
  ULONGLONG deadline = GetTickCount64() + ms;
  int total = 0, run = 0;
  uint32_t last = 0;
  const char *sep = "";
  for (ULONGLONG now; total < MAX_PACKETS && (now = GetTickCount64()) < deadline;) {
    OVERLAPPED_ENTRY e;
    ULONG got = 0;
    if (!GetQueuedCompletionStatusEx(port, &e, 1, &got, (DWORD)(deadline - now), FALSE)) {
      if (GetLastError() != WAIT_TIMEOUT) put(c, "%sGQCSEx error %lu", sep, GetLastError());
      break;
    }
    uint32_t bits = e.dwNumberOfBytesTransferred;
    if (e.lpCompletionKey != KEY) bits = 0xFFFFFFFFu; /* never expected: shown as such */
    total++;
    if (run > 0 && bits == last) {
      run++;
      continue;
    }
    if (run > 1) put(c, " x%d", run);
    put(c, "%s", sep);
    if (bits == 0xFFFFFFFFu)
      put(c, "a packet with another key");
    else
      put_sn(c, bits);
    sep = "; ";
    last = bits;
    run = 1;
  }
  if (run > 1) put(c, " x%d", run);
  if (total == 0) put(c, "none");
  if (total == MAX_PACKETS) put(c, " (stopped at %d)", MAX_PACKETS);
  return total;
}

static HANDLE new_port(cell_t *why) {
  HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
  if (port == NULL) put(why, "n/a: CreateIoCompletionPort failed (%lu)", GetLastError());
  return port;
}

/* --- afd --------------------------------------------------------------------------------- */

/* One IOCTL_AFD_POLL on the helper handle for one socket, completed through an event (no
 * ApcContext, so no completion packet). Heap-allocated: a poll that never completes, not
 * even after a cancel, is leaked rather than freed under the kernel. */
typedef struct afd_req {
  IO_STATUS_BLOCK iosb;
  rasio__afd_poll_t poll;
  HANDLE event;
  NTSTATUS issued; /* what NtDeviceIoControlFile returned */
  ULONGLONG start;
} afd_req_t;

static SOCKET base_socket(SOCKET s) {
  SOCKET base;
  DWORD bytes;
  if (WSAIoctl(s, SIO_BASE_HANDLE, NULL, 0, &base, sizeof base, &bytes, NULL, NULL) == 0)
    return base;
  return s;
}

static afd_req_t *afd_issue(const probe_t *p, SOCKET s, ULONG mask, DWORD timeout_ms) {
  afd_req_t *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->event = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (r->event == NULL) {
    free(r);
    return NULL;
  }
  r->poll.timeout.QuadPart = -(LONGLONG)timeout_ms * 10000; /* relative, 100 ns units */
  r->poll.count = 1;
  r->poll.handles[0].handle = (HANDLE)base_socket(s);
  r->poll.handles[0].events = mask;
  r->start = GetTickCount64();
  r->issued = NtDeviceIoControlFile(p->afd, r->event, NULL, NULL, &r->iosb, RASIO__IOCTL_AFD_POLL,
                                    &r->poll, sizeof r->poll, &r->poll, sizeof r->poll);
  return r;
}

/* Waits for the poll (bounded), cancelling it if it outlives `wait_ms`, and describes it:
 * "status SUCCESS after 0 ms: 0x8 DISCONNECT (socket status 0x0)". Frees r unless the poll
 * never completed. */
static void afd_finish(const probe_t *p, afd_req_t *r, DWORD wait_ms, cell_t *c) {
  bool pending = r->issued == RASIO__STATUS_PENDING || r->issued == RASIO__STATUS_SUCCESS;
  if (!pending) {
    put(c, "ioctl refused: ");
    put_status(c, r->issued);
  } else if (WaitForSingleObject(r->event, wait_ms) != WAIT_OBJECT_0) {
    IO_STATUS_BLOCK scratch;
    NtCancelIoFileEx(p->afd, &r->iosb, &scratch);
    if (WaitForSingleObject(r->event, 1000) != WAIT_OBJECT_0) {
      put(c, "no completion within %lu ms, none after a cancel either", (unsigned long)wait_ms);
      return; /* r stays allocated: the kernel may still write to it */
    }
    put(c, "no completion within %lu ms; cancelled: ", (unsigned long)wait_ms);
  }
  if (pending) {
    put(c, "status ");
    put_status(c, r->iosb.Status);
    put(c, " after %llu ms", (unsigned long long)(GetTickCount64() - r->start));
    if (r->iosb.Status == RASIO__STATUS_SUCCESS && r->poll.count > 0) {
      put(c, ": ");
      put_afd(c, r->poll.handles[0].events);
      put(c, " (socket status ");
      put_status(c, r->poll.handles[0].status);
      put(c, ")");
    }
  }
  CloseHandle(r->event);
  free(r);
}

/* A poll of the conditions holding now: answers within timeout_ms (the poll's own timeout)
 * or reports STATUS_TIMEOUT. */
static void afd_snapshot(const probe_t *p, SOCKET s, ULONG mask, cell_t *c) {
  afd_req_t *r = afd_issue(p, s, mask, COLLECT_MS);
  if (r == NULL)
    put(c, "n/a: out of memory or events");
  else
    afd_finish(p, r, COLLECT_MS + 1000, c);
}

/* --- question 1: which bits arrive with FIN and with RST ----------------------------------- */

typedef struct peer_case {
  int action;       /* PEER_FIN or PEER_RST */
  UINT16 filter;    /* psn: the registration's filter */
  bool edge_before; /* psn: EDGE|PERSISTENT before the act, else LEVEL|ONESHOT after it */
  ULONG afd_mask;   /* afd: the poll's mask */
} peer_case_t;

/* SOCK_NOTIFY_REGISTRATION: "SOCK_NOTIFY_REGISTER_EVENT_HANGUP. A notification should be
 * issued when a stream-oriented connection was either disconnected or aborted."
 * SocketNotificationRetrieveEvents: "The SOCK_NOTIFY_EVENT_ERR and SOCK_NOTIFY_EVENT_REMOVE
 * events might be indicated regardless of registered event filter." The "Winsock socket
 * state notifications" sample reads ERR as "The socket was ungracefully reset or another
 * error occurred." Open: does FIN raise IN as well as HANGUP; does RST raise HANGUP, ERR or
 * both; does an OUT-only registration hear either, and an OUT+HANGUP one (what rasio's
 * Windows backend registers for a write-only arm)?
 * The edge rows show what the transition itself queues; the level rows, registered after
 * the act, show every condition that then holds. */
static void q1_psn(const probe_t *p, const void *arg, cell_t *c) {
  const peer_case_t *k = arg;
  SOCKET local, peer;
  HANDLE port = new_port(c);
  if (port == NULL || !tcp_pair(&local, &peer, c)) goto done;
  if (k->edge_before) {
    if (!psn_enable(p, port, local, k->filter, RASIO__SN_EDGE | RASIO__SN_PERSISTENT, c)) goto out;
    put(c, "at registration: ");
    collect(port, SETTLE_MS, c);
    put(c, "; after %s: ", action_name(k->action));
    peer_act(k->action, &peer);
    collect(port, COLLECT_MS, c);
  } else {
    peer_act(k->action, &peer);
    if (!psn_enable(p, port, local, k->filter, RASIO__SN_LEVEL | RASIO__SN_ONESHOT, c)) goto out;
    collect(port, COLLECT_MS, c);
  }
out:
  close_socket(&local);
  close_socket(&peer);
done:
  if (port != NULL) CloseHandle(port);
}

/* Undocumented; rasio's research note records, under Wine 8, DISCONNECT for a FIN and ABORT
 * for a RST, and leaves open what a SEND-only poll sees of a reset on Windows. The poll is
 * issued once the act has landed: AFD reports the conditions that hold when it is issued. */
static void q1_afd(const probe_t *p, const void *arg, cell_t *c) {
  const peer_case_t *k = arg;
  SOCKET local, peer;
  if (!tcp_pair(&local, &peer, c)) return;
  peer_act(k->action, &peer);
  afd_snapshot(p, local, k->afd_mask, c);
  close_socket(&local);
  close_socket(&peer);
}

/* --- question 2: edge at registration ------------------------------------------------------ */

enum { READY_DATA, READY_LISTENER, READY_WRITABLE };

/* SOCK_NOTIFY_REGISTRATION: "Given the registration is enabled, edge-triggered notifications
 * are supplied whenever a condition changes from not holding to holding. The condition must
 * change while the registration is enabled for a notification to be queued." The edge UDP
 * sample registers before bind, "to ensure data doesn't become present before the
 * registration. Otherwise, the server could miss the notification and hang." rasio's
 * listeners, UDP sockets and completed connects register after the condition already holds. */
static void q2_psn(const probe_t *p, const void *arg, cell_t *c) {
  int ready = *(const int *)arg;
  SOCKET local = INVALID_SOCKET, peer = INVALID_SOCKET;
  UINT16 filter = ready == READY_WRITABLE ? RASIO__SN_OUT : RASIO__SN_IN;
  HANDLE port = new_port(c);
  if (port == NULL) return;
  if (ready == READY_LISTENER) {
    struct sockaddr_in addr;
    local = bound_socket(&addr, 4);
    if (local != INVALID_SOCKET) peer = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (peer == INVALID_SOCKET || connect(peer, (struct sockaddr *)&addr, sizeof addr) != 0) {
      put(c, "n/a: listener setup failed (WSA error %d)", WSAGetLastError());
      goto out;
    }
  } else if (!tcp_pair(&local, &peer, c)) {
    goto out;
  }
  if (ready == READY_DATA) send_bytes(peer, 100);
  Sleep(SETTLE_MS);
  if (!psn_enable(p, port, local, filter, RASIO__SN_EDGE | RASIO__SN_PERSISTENT, c)) goto out;
  collect(port, COLLECT_MS, c);
out:
  close_socket(&local);
  close_socket(&peer);
  CloseHandle(port);
}

/* --- question 3: edge after a short read --------------------------------------------------- */

/* "Winsock socket state notifications", edge-triggered UDP server: "The server must keep
 * receiving until it receives a WSAEWOULDBLOCK. Otherwise, it can't be sure that a rising
 * edge will be observed." Open: after a read that leaves data behind, does new data queue a
 * second notification? The drained row is the control: it must show one. */
static void q3_psn(const probe_t *p, const void *arg, cell_t *c) {
  bool drain_all = *(const bool *)arg;
  SOCKET local, peer;
  HANDLE port = new_port(c);
  if (port == NULL || !tcp_pair(&local, &peer, c)) goto done;
  if (!psn_enable(p, port, local, RASIO__SN_IN, RASIO__SN_EDGE | RASIO__SN_PERSISTENT, c)) goto out;
  send_bytes(peer, 100);
  Sleep(30);
  send_bytes(peer, 100);
  put(c, "after 2 chunks: ");
  collect(port, COLLECT_MS, c);
  char buf[10];
  int got = drain_all ? drain(local) : recv(local, buf, sizeof buf, 0);
  put(c, "; read %d of 200 bytes%s; after a 3rd chunk: ", got,
      drain_all ? " (to WSAEWOULDBLOCK)" : "");
  send_bytes(peer, 100);
  collect(port, COLLECT_MS, c);
out:
  close_socket(&local);
  close_socket(&peer);
done:
  if (port != NULL) CloseHandle(port);
}

/* --- question 4: level ERR for a connect that failed before registration ------------------ */

/* SOCK_NOTIFY_REGISTRATION: "Given the registration is enabled, level-triggered
 * notifications are supplied whenever the desired conditions hold." SocketNotification-
 * RetrieveEvents: "SOCK_NOTIFY_EVENT_ERR: The socket is in an error state." and "The
 * SOCK_NOTIFY_EVENT_ERR and SOCK_NOTIFY_EVENT_REMOVE events might be indicated regardless of
 * registered event filter." Open: is a connect failed before registration an error state
 * that holds (ERR), is the socket writable (OUT), both or neither? */
static void q4_psn(const probe_t *p, const void *arg, cell_t *c) {
  (void)arg;
  SOCKET s;
  int so_error;
  HANDLE port = new_port(c);
  if (port == NULL) return;
  if (failed_connect(&s, &so_error, c)) {
    put(c, "SO_ERROR %d; ", so_error);
    if (psn_enable(p, port, s, RASIO__SN_OUT, RASIO__SN_LEVEL | RASIO__SN_ONESHOT, c))
      collect(port, COLLECT_MS, c);
    close_socket(&s);
  }
  CloseHandle(port);
}

/* Undocumented; under Wine 8 the research note records CONNECT_FAIL with the socket status
 * CONNECTION_REFUSED. The second poll asks for SEND only: is CONNECT_FAIL reported anyway? */
static void q4_afd(const probe_t *p, const void *arg, cell_t *c) {
  (void)arg;
  SOCKET s;
  int so_error;
  if (!failed_connect(&s, &so_error, c)) return;
  put(c, "SO_ERROR %d; all bits: ", so_error);
  afd_snapshot(p, s, AFD_ALL, c);
  put(c, "; SEND only: ");
  afd_snapshot(p, s, RASIO__AFD_SEND, c);
  close_socket(&s);
}

/* --- question 5: REMOVE on a socket closed after registration ----------------------------- */

/* SOCK_NOTIFY_REGISTRATION: "SOCK_NOTIFY_OP_REMOVE. Removes a previously-registered
 * notification. Both enabled and disabled notifications may be removed. The
 * SOCK_NOTIFY_EVENT_REMOVE notification is issued, with the guarantee that no more
 * notifications will be issued afterwards for that completion key unless it is
 * re-registered." "Winsock socket state notifications": "When the socket descriptor used to
 * register for notifications is closed using the closesocket function, its notifications
 * are automatically deregistered." ProcessSocketNotifications: "If ERROR_SUCCESS or
 * WAIT_TIMEOUT is returned, then you must inspect the individual registration infos'
 * registration results. Otherwise, the entire operation failed, and no changes occurred."
 * Open: which of the two levels fails for a closed socket, with what code, and does a REMOVE
 * packet come anyway? The live row is the control (REMOVE on an open registration). */
static void q5_psn(const probe_t *p, const void *arg, cell_t *c) {
  bool close_first = *(const bool *)arg;
  SOCKET local, peer;
  HANDLE port = new_port(c);
  if (port == NULL || !tcp_pair(&local, &peer, c)) goto done;
  if (!psn_enable(p, port, local, RASIO__SN_IN, RASIO__SN_LEVEL | RASIO__SN_PERSISTENT, c))
    goto out;
  put(c, "before REMOVE: ");
  collect(port, SETTLE_MS, c);
  put(c, "; REMOVE: ");
  SOCKET value = local;
  if (close_first) close_socket(&local); /* nothing is created before the REMOVE: no reuse */
  DWORD result, rc = psn_op(p, port, value, RASIO__SN_OP_REMOVE, 0, 0, &result);
  put_call(c, rc, result);
  put(c, "; then: ");
  collect(port, COLLECT_MS, c);
out:
  close_socket(&local);
  close_socket(&peer);
done:
  if (port != NULL) CloseHandle(port);
}

/* The afd analogue: there is no registration to remove, but a poll can name a socket that
 * was closed. rasio's afd provider meets that when an owner closes an idle registered
 * socket. */
static void q5_afd(const probe_t *p, const void *arg, cell_t *c) {
  (void)arg;
  SOCKET local, peer;
  if (!tcp_pair(&local, &peer, c)) return;
  SOCKET value = local;
  close_socket(&local);
  afd_req_t *r = afd_issue(p, value, AFD_ALL, COLLECT_MS);
  if (r == NULL)
    put(c, "n/a: out of memory or events");
  else
    afd_finish(p, r, COLLECT_MS + 1000, c);
  close_socket(&peer);
}

/* --- question 6: is anything queued after closesocket? ------------------------------------ */

/* "Winsock socket state notifications": "When the socket descriptor used to register for
 * notifications is closed using the closesocket function, its notifications are
 * automatically deregistered. However, already-queued notifications might still be
 * delivered. An automatic deregistration via closesocket won't generate a
 * SOCK_NOTIFY_EVENT_REMOVE notification." Open: does closesocket itself queue anything (on a
 * drained edge registration), and are packets queued before it delivered
 * (a level registration left undrained)? */
static void q6_psn(const probe_t *p, const void *arg, cell_t *c) {
  bool edge = *(const bool *)arg;
  SOCKET local, peer;
  HANDLE port = new_port(c);
  if (port == NULL || !tcp_pair(&local, &peer, c)) goto done;
  UINT8 trigger = RASIO__SN_PERSISTENT | (edge ? RASIO__SN_EDGE : RASIO__SN_LEVEL);
  if (!psn_enable(p, port, local, SN_ALL, trigger, c)) goto out;
  if (edge) {
    put(c, "before close: ");
    collect(port, SETTLE_MS, c);
    put(c, "; ");
  } else {
    Sleep(50);
  }
  close_socket(&local);
  put(c, "after closesocket: ");
  collect(port, COLLECT_MS, c);
out:
  close_socket(&local);
  close_socket(&peer);
done:
  if (port != NULL) CloseHandle(port);
}

/* Undocumented; under Wine 8 the research note records a pending poll completing with
 * LOCAL_CLOSE when the socket it names is closed. The poll asks for everything but SEND, so
 * it is pending (nothing else holds) when the socket is closed; its own timeout is 1 s. */
static void q6_afd(const probe_t *p, const void *arg, cell_t *c) {
  (void)arg;
  SOCKET local, peer;
  if (!tcp_pair(&local, &peer, c)) return;
  afd_req_t *r = afd_issue(p, local, AFD_ALL & ~(ULONG)RASIO__AFD_SEND, 1000);
  if (r == NULL) {
    put(c, "n/a: out of memory or events");
  } else {
    put(c, "issued: ");
    put_status(c, r->issued);
    Sleep(50);
    close_socket(&local);
    put(c, "; after closesocket: ");
    afd_finish(p, r, 2000, c);
  }
  close_socket(&local);
  close_socket(&peer);
}

/* --- question 7: does DISABLE check its trigger flags? ------------------------------------- */

typedef struct trigger_case {
  UINT8 op;
  UINT8 trigger;
} trigger_case_t;

/* SOCK_NOTIFY_REGISTRATION: "SOCK_NOTIFY_TRIGGER_LEVEL. The registration is for
 * level-triggered notifications. Not compatible with edge-triggered. One of edge- or
 * level-triggered must be supplied." and "SOCK_NOTIFY_OP_DISABLE. Disables the registration,
 * but doesn't destroy the underlying data structures." Open: is the "must be supplied" rule
 * applied to DISABLE too (rasio passes the registration's flags with it)? The ENABLE row is
 * the control: it must be refused. DISABLE and ENABLE act on an enabled LEVEL|PERSISTENT IN
 * registration; ENABLE on a fresh socket. */
static void q7_psn(const probe_t *p, const void *arg, cell_t *c) {
  const trigger_case_t *k = arg;
  SOCKET local, peer;
  HANDLE port = new_port(c);
  if (port == NULL || !tcp_pair(&local, &peer, c)) goto done;
  if (k->op == RASIO__SN_OP_DISABLE &&
      !psn_enable(p, port, local, RASIO__SN_IN, RASIO__SN_LEVEL | RASIO__SN_PERSISTENT, c))
    goto out;
  DWORD result, rc = psn_op(p, port, local, k->op, RASIO__SN_IN, k->trigger, &result);
  put_call(c, rc, result);
out:
  close_socket(&local);
  close_socket(&peer);
done:
  if (port != NULL) CloseHandle(port);
}

/* --- the table --------------------------------------------------------------------------- */

enum { PSN, AFD };

typedef struct row {
  const char *q;
  const char *text;
  int provider;
  void (*run)(const probe_t *p, const void *arg, cell_t *c);
  const void *arg;
  const char *na; /* non-NULL: the question has no meaning on this provider */
} row_t;

static const peer_case_t fin_all_edge = {PEER_FIN, SN_ALL, true, 0};
static const peer_case_t fin_all_level = {PEER_FIN, SN_ALL, false, 0};
static const peer_case_t fin_out_edge = {PEER_FIN, RASIO__SN_OUT, true, 0};
static const peer_case_t fin_out_level = {PEER_FIN, RASIO__SN_OUT, false, 0};
static const peer_case_t rst_all_edge = {PEER_RST, SN_ALL, true, 0};
static const peer_case_t rst_all_level = {PEER_RST, SN_ALL, false, 0};
static const peer_case_t rst_out_edge = {PEER_RST, RASIO__SN_OUT, true, 0};
static const peer_case_t rst_out_level = {PEER_RST, RASIO__SN_OUT, false, 0};
static const peer_case_t fin_outhup_level = {PEER_FIN, RASIO__SN_OUT | RASIO__SN_HANGUP, false, 0};
static const peer_case_t rst_outhup_level = {PEER_RST, RASIO__SN_OUT | RASIO__SN_HANGUP, false, 0};
static const peer_case_t fin_afd_all = {PEER_FIN, 0, false, AFD_ALL};
static const peer_case_t fin_afd_send = {PEER_FIN, 0, false, RASIO__AFD_SEND};
static const peer_case_t rst_afd_all = {PEER_RST, 0, false, AFD_ALL};
static const peer_case_t rst_afd_send = {PEER_RST, 0, false, RASIO__AFD_SEND};
static const int ready_data = READY_DATA, ready_listener = READY_LISTENER,
                 ready_writable = READY_WRITABLE;
static const bool yes = true, no = false;
static const trigger_case_t disable_zero = {RASIO__SN_OP_DISABLE, 0};
static const trigger_case_t disable_both = {RASIO__SN_OP_DISABLE, 0x0F};
static const trigger_case_t enable_zero = {RASIO__SN_OP_ENABLE, 0};

#define NO_EDGE "n/a: IOCTL_AFD_POLL has no edge mode (a poll reports what holds when issued)"

#define ROW(q, provider, text, run, arg) \
  { q, text, provider, run, arg, NULL }
#define NA_ROW(q, provider, text, why) \
  { q, text, provider, NULL, NULL, why }

static const row_t rows[] = {
    ROW("1", PSN, "peer FIN; IN+OUT+HANGUP, EDGE+PERSISTENT registered before", q1_psn,
        &fin_all_edge),
    ROW("1", PSN, "peer FIN; IN+OUT+HANGUP, LEVEL+ONESHOT registered after", q1_psn,
        &fin_all_level),
    ROW("1", PSN, "peer FIN; OUT only, EDGE+PERSISTENT registered before", q1_psn, &fin_out_edge),
    ROW("1", PSN, "peer FIN; OUT only, LEVEL+ONESHOT registered after", q1_psn, &fin_out_level),
    ROW("1", PSN, "peer FIN; OUT+HANGUP, LEVEL+ONESHOT registered after", q1_psn,
        &fin_outhup_level),
    ROW("1", PSN, "peer RST; IN+OUT+HANGUP, EDGE+PERSISTENT registered before", q1_psn,
        &rst_all_edge),
    ROW("1", PSN, "peer RST; IN+OUT+HANGUP, LEVEL+ONESHOT registered after", q1_psn,
        &rst_all_level),
    ROW("1", PSN, "peer RST; OUT only, EDGE+PERSISTENT registered before", q1_psn, &rst_out_edge),
    ROW("1", PSN, "peer RST; OUT only, LEVEL+ONESHOT registered after", q1_psn, &rst_out_level),
    ROW("1", PSN, "peer RST; OUT+HANGUP, LEVEL+ONESHOT registered after", q1_psn,
        &rst_outhup_level),
    ROW("1", AFD, "peer FIN; poll of all bits (but CONNECT) after it", q1_afd, &fin_afd_all),
    ROW("1", AFD, "peer FIN; poll of SEND only after it", q1_afd, &fin_afd_send),
    ROW("1", AFD, "peer RST; poll of all bits (but CONNECT) after it", q1_afd, &rst_afd_all),
    ROW("1", AFD, "peer RST; poll of SEND only after it", q1_afd, &rst_afd_send),
    ROW("2", PSN, "EDGE+PERSISTENT IN on a socket with data already received", q2_psn, &ready_data),
    ROW("2", PSN, "EDGE+PERSISTENT IN on a listener with a connection queued", q2_psn,
        &ready_listener),
    ROW("2", PSN, "EDGE+PERSISTENT OUT on a connected, writable socket", q2_psn, &ready_writable),
    NA_ROW("2", AFD, "edge at registration", NO_EDGE),
    ROW("3", PSN, "EDGE+PERSISTENT IN; short read, then more data", q3_psn, &no),
    ROW("3", PSN, "EDGE+PERSISTENT IN; read to WSAEWOULDBLOCK, then more data (control)", q3_psn,
        &yes),
    NA_ROW("3", AFD, "edge after a short read", NO_EDGE),
    ROW("4", PSN, "connect refused before registration; LEVEL+ONESHOT OUT", q4_psn, NULL),
    ROW("4", AFD, "connect refused before the poll; all bits, then SEND only", q4_afd, NULL),
    ROW("5", PSN,
        "REMOVE (filter 0, trigger_flags 0, as rasio sends it) on a socket closed after ENABLE",
        q5_psn, &yes),
    ROW("5", PSN, "the same REMOVE on an open registration (control)", q5_psn, &no),
    ROW("5", AFD, "poll naming a socket already closed (afd analogue)", q5_afd, NULL),
    ROW("6", PSN, "EDGE+PERSISTENT IN+OUT+HANGUP, drained, then closesocket", q6_psn, &yes),
    ROW("6", PSN, "LEVEL+PERSISTENT IN+OUT+HANGUP, undrained, then closesocket", q6_psn, &no),
    ROW("6", AFD, "pending poll, then closesocket of the socket it names", q6_afd, NULL),
    ROW("7", PSN, "DISABLE with trigger_flags 0", q7_psn, &disable_zero),
    ROW("7", PSN, "DISABLE with trigger_flags 0xF (LEVEL and EDGE, ONESHOT and PERSISTENT)", q7_psn,
        &disable_both),
    ROW("7", PSN, "ENABLE with trigger_flags 0 (control)", q7_psn, &enable_zero),
    NA_ROW("7", AFD, "DISABLE's trigger flags",
           "n/a: IOCTL_AFD_POLL has no registrations or trigger flags"),
};

static void run_row(const probe_t *p, const row_t *r) {
  cell_t c = {.len = 0};
  if (r->na != NULL)
    put(&c, "%s", r->na);
  else if (r->provider == PSN && p->psn == NULL)
    put(&c, "n/a: ProcessSocketNotifications %s", p->psn_missing);
  else if (r->provider == AFD && p->afd == NULL)
    put(&c, "n/a: %s", p->afd_missing);
  else
    r->run(p, r->arg, &c);
  printf("| %s | %s | %s | %s |\n", r->q, r->text, r->provider == PSN ? "psn" : "afd", c.text);
  fflush(stdout);
}

/* --- the header ---------------------------------------------------------------------------- */

/* RtlGetVersion, unlike GetVersionEx, is not subject to the manifest-based version lie. */
static void print_windows_version(HMODULE ntdll) {
  typedef NTSTATUS(WINAPI * get_version_fn)(OSVERSIONINFOW *);
  FARPROC f = ntdll != NULL ? GetProcAddress(ntdll, "RtlGetVersion") : NULL;
  OSVERSIONINFOW v = {.dwOSVersionInfoSize = sizeof v};
  if (f != NULL && ((get_version_fn)(void (*)(void))f)(&v) == 0)
    printf("- Windows: %lu.%lu build %lu (RtlGetVersion)\n", v.dwMajorVersion, v.dwMinorVersion,
           v.dwBuildNumber);
  else
    printf("- Windows: unknown (RtlGetVersion unavailable)\n");
}

static void print_header(const probe_t *p) {
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  printf("# rasio-probe\n\n");
  printf("- rasio: %d.%d.%d, commit %s\n", RASIO_VERSION_MAJOR, RASIO_VERSION_MINOR,
         RASIO_VERSION_PATCH, RASIO_PROBE_COMMIT);
  print_windows_version(ntdll);
  typedef const char *(CDECL * wine_version_fn)(void);
  FARPROC wine = ntdll != NULL ? GetProcAddress(ntdll, "wine_get_version") : NULL;
  if (wine != NULL)
    printf("- Wine: yes, %s (ntdll exports wine_get_version)\n",
           ((wine_version_fn)(void (*)(void))wine)());
  else
    printf("- Wine: no (ntdll does not export wine_get_version)\n");
  if (p->psn != NULL)
    printf("- ProcessSocketNotifications: exported by %s\n", p->psn_dll);
  else
    printf("- ProcessSocketNotifications: %s\n", p->psn_missing);
  printf("- \\Device\\Afd helper: %s\n\n", p->afd != NULL ? "opened" : p->afd_missing);
  printf(
      "Bits: psn IN 0x1, OUT 0x2, HANGUP 0x4, ERR 0x40, REMOVE 0x80; afd RECEIVE 0x1, SEND 0x4,"
      " DISCONNECT 0x8, ABORT 0x10, LOCAL_CLOSE 0x20, CONNECT 0x40, ACCEPT 0x80,"
      " CONNECT_FAIL 0x100. Packets are listed in arrival order.\n\n");
  printf("| Q | case | provider | observed |\n|---|---|---|---|\n");
}

int main(void) {
  WSADATA wsa;
  int err = WSAStartup(MAKEWORD(2, 2), &wsa);
  if (err != 0) {
    fprintf(stderr, "rasio-probe: WSAStartup failed (%d)\n", err);
    return 1;
  }
  probe_t p = {.psn = NULL};
  probe_psn(&p);
  probe_afd(&p);
  print_header(&p);
  for (size_t i = 0; i < COUNT(rows); i++) run_row(&p, &rows[i]);
  if (p.afd != NULL) CloseHandle(p.afd);
  WSACleanup();
  return 0;
}
