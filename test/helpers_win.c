/* helpers.h for Windows (native, and Wine): Winsock on 127.0.0.1, pthreads from
 * winpthreads (test programs only; the library itself uses native threads), and the
 * notification recorder. Every unexpected OS error fails the test where it happened.
 *
 * Behaviour mirrors helpers_posix.c, including the return conventions of th_send/th_recv;
 * where Winsock differs from BSD sockets the difference is absorbed here:
 *   - sockets are created non-inheritable (close-on-exec) and non-blocking via FIONBIO;
 *   - a UDP datagram larger than the buffer is truncated and counted, as POSIX does, not
 *     an error (WSAEMSGSIZE); an ICMP port-unreachable does not poison the next recvfrom
 *     of an unconnected UDP socket (SIO_UDP_CONNRESET off), as on POSIX;
 *   - th_so_error and the failure messages use the WSA* codes.
 * Wine differs from Windows in details the tests must tolerate rather than these helpers:
 * a recv after a reset returns 0 (end of stream) rather than WSAECONNRESET, and a refused
 * loopback connect may fail at once rather than through SO_ERROR (handled here, like
 * ECONNREFUSED on POSIX).
 *
 * Timeouts here (DISPOSED waits, th_rec_wait) are multiplied by RASIO_TEST_TIMEOUT_SCALE,
 * like the runner's, so slow hosts (Wine) stretch them together.
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN /* windows.h without the old winsock.h: any include order works */
#endif
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <windows.h>
#include <winsock2.h>
#include <ws2tcpip.h>

#include "helpers.h"

#ifndef SIO_UDP_CONNRESET /* mstcpip.h of the Windows SDK; mingw-w64 10 lacks it */
#define SIO_UDP_CONNRESET _WSAIOW(IOC_VENDOR, 12)
#endif

#define FAIL_WSA(what) fail_wsa(__LINE__, (what), WSAGetLastError())
#define DISPOSE_WAIT_MS 5000u

static unsigned scaled(unsigned ms) {
  const char *env = getenv("RASIO_TEST_TIMEOUT_SCALE");
  double scale = env != NULL ? strtod(env, NULL) : 1.0;
  return scale > 1.0 ? (unsigned)(ms * scale) : ms;
}

_Noreturn static void fail_wsa(int line, const char *what, int err) {
  char text[256];
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                           (DWORD)err, 0, text, (DWORD)sizeof text, NULL);
  while (n > 0 && (text[n - 1] == '\r' || text[n - 1] == '\n' || text[n - 1] == '.')) n--;
  rt_fail(__FILE__, line, "%s: error %d (%.*s)", what, err, (int)n, text);
}

static bool would_block(int err) { return err == WSAEWOULDBLOCK; }

/* Winsock must be started before the first socket call; a test may make sockets before
 * any rasio call (which starts it for the library). Once per process, before main(). */
__attribute__((constructor)) static void wsa_init(void) {
  WSADATA wsa;
  int err = WSAStartup(MAKEWORD(2, 2), &wsa);
  if (err != 0) {
    fprintf(stderr, "helpers: WSAStartup failed: error %d\n", err);
    abort();
  }
}

static SOCKET sock(rasio_fd_t fd) { return (SOCKET)fd; }

/* --- sockets ---------------------------------------------------------------------------- */

static struct sockaddr_in loopback(uint16_t port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

static void set_nonblock(SOCKET s) {
  u_long on = 1;
  if (ioctlsocket(s, (long)FIONBIO, &on) != 0) FAIL_WSA("ioctlsocket(FIONBIO)");
}

static void set_nodelay(SOCKET s) {
  BOOL one = TRUE;
  if (setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one) != 0)
    FAIL_WSA("setsockopt(TCP_NODELAY)");
}

/* Best effort: a socket of a layered (non-IFS) provider is no kernel handle and refuses;
 * inheritance only matters to a test that starts processes. */
static void no_inherit(SOCKET s) { SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0); }

/* Non-inheritable, the close-on-exec of Windows: test sockets stay out of any process a
 * test starts. WSA_FLAG_OVERLAPPED is what socket() gives too. */
static SOCKET new_socket(int type) {
  int proto = type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
  SOCKET s =
      WSASocketW(AF_INET, type, proto, NULL, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL) { /* before Windows 7 SP1 */
    s = WSASocketW(AF_INET, type, proto, NULL, 0, WSA_FLAG_OVERLAPPED);
    if (s != INVALID_SOCKET) no_inherit(s);
  }
  if (s == INVALID_SOCKET) FAIL_WSA("WSASocket");
  return s;
}

static void bind_loopback(SOCKET s) {
  struct sockaddr_in sa = loopback(0);
  if (bind(s, (struct sockaddr *)&sa, sizeof sa) != 0) FAIL_WSA("bind(127.0.0.1:0)");
}

static uint16_t local_port(SOCKET s) {
  struct sockaddr_in sa;
  int len = sizeof sa;
  if (getsockname(s, (struct sockaddr *)&sa, &len) != 0) FAIL_WSA("getsockname");
  return ntohs(sa.sin_port);
}

rasio_fd_t th_listener(uint16_t *port) {
  SOCKET s = new_socket(SOCK_STREAM);
  bind_loopback(s);
  if (listen(s, 128) != 0) FAIL_WSA("listen");
  set_nonblock(s);
  if (port != NULL) *port = local_port(s);
  return (rasio_fd_t)s;
}

rasio_fd_t th_accept(rasio_fd_t listener) {
  SOCKET s = accept(sock(listener), NULL, NULL);
  if (s == INVALID_SOCKET) {
    int err = WSAGetLastError();
    /* WSAECONNRESET: the connection was reset while queued (POSIX: ECONNABORTED). */
    if (would_block(err) || err == WSAECONNRESET || err == WSAECONNABORTED) return RASIO_INVALID_FD;
    fail_wsa(__LINE__, "accept", err);
  }
  no_inherit(s); /* accept() makes an inheritable socket whatever the listener was */
  set_nonblock(s);
  set_nodelay(s);
  return (rasio_fd_t)s;
}

rasio_fd_t th_connect_start(uint16_t port) {
  SOCKET s = new_socket(SOCK_STREAM);
  set_nonblock(s);
  set_nodelay(s);
  struct sockaddr_in sa = loopback(port);
  /* Windows reports a refused connect later (through SO_ERROR, after its SYN retries);
   * Wine may refuse on the spot. Either way the socket reports the failure as writeable,
   * which is what tests watch. */
  if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int err = WSAGetLastError();
    if (!would_block(err) && err != WSAECONNREFUSED) fail_wsa(__LINE__, "connect", err);
  }
  return (rasio_fd_t)s;
}

void th_tcp_pair(rasio_fd_t *a, rasio_fd_t *b) {
  uint16_t port;
  rasio_fd_t l = th_listener(&port);
  rasio_fd_t c = th_connect_start(port);
  rasio_fd_t s = RASIO_INVALID_FD;
  uint64_t give_up = th_now_ms() + scaled(5000);
  /* Loopback connects complete within microseconds; the loop only bridges that gap. */
  while ((s = th_accept(l)) == RASIO_INVALID_FD) {
    if (th_now_ms() > give_up) rt_fail(__FILE__, __LINE__, "th_tcp_pair: accept timed out");
    th_sleep_ms(1);
  }
  th_close(l);
  *a = c;
  *b = s;
}

uint16_t th_closed_port(void) {
  /* A bound socket that never listens holds the port, so nothing else can start listening
   * there during the test, and connects to it are refused. It lives until the test process
   * exits (each test is its own process). */
  SOCKET s = new_socket(SOCK_STREAM);
  bind_loopback(s);
  return local_port(s);
}

rasio_fd_t th_udp(uint16_t *port) {
  SOCKET s = new_socket(SOCK_DGRAM);
  bind_loopback(s);
  set_nonblock(s);
  /* Best effort: without it an ICMP port-unreachable for an earlier sendto fails the next
   * recvfrom with WSAECONNRESET, which POSIX never does on an unconnected socket. */
  BOOL off = FALSE;
  DWORD unused;
  WSAIoctl(s, SIO_UDP_CONNRESET, &off, sizeof off, NULL, 0, &unused, NULL, NULL);
  if (port != NULL) *port = local_port(s);
  return (rasio_fd_t)s;
}

long th_udp_send(rasio_fd_t fd, uint16_t port, const void *buf, size_t len) {
  struct sockaddr_in sa = loopback(port);
  int n = sendto(sock(fd), buf, (int)len, 0, (struct sockaddr *)&sa, sizeof sa);
  if (n == SOCKET_ERROR) {
    int err = WSAGetLastError();
    return would_block(err) || err == WSAENOBUFS ? 0 : -1;
  }
  return (long)n;
}

long th_send(rasio_fd_t fd, const void *buf, size_t len) {
  int n = send(sock(fd), buf, len > INT_MAX ? INT_MAX : (int)len, 0);
  if (n == SOCKET_ERROR) return would_block(WSAGetLastError()) ? 0 : -1;
  return (long)n;
}

long th_recv(rasio_fd_t fd, void *buf, size_t len) {
  int cap = len > INT_MAX ? INT_MAX : (int)len;
  int n = recv(sock(fd), buf, cap, 0);
  if (n == SOCKET_ERROR) {
    int err = WSAGetLastError();
    if (err == WSAEMSGSIZE) return cap; /* a truncated datagram, as POSIX reports it */
    return would_block(err) ? -1 : -2;
  }
  return (long)n;
}

size_t th_drain(rasio_fd_t fd) {
  char buf[16384];
  size_t total = 0;
  long n;
  while ((n = th_recv(fd, buf, sizeof buf)) > 0) total += (size_t)n;
  return total;
}

size_t th_fill(rasio_fd_t fd) {
  static const char buf[65536];
  size_t total = 0;
  long n;
  while ((n = th_send(fd, buf, sizeof buf)) > 0) total += (size_t)n;
  return total;
}

void th_shutdown_wr(rasio_fd_t fd) {
  if (shutdown(sock(fd), SD_SEND) != 0) FAIL_WSA("shutdown(SD_SEND)");
}

void th_close(rasio_fd_t fd) {
  if (closesocket(sock(fd)) != 0) FAIL_WSA("closesocket");
}

void th_close_rst(rasio_fd_t fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  if (setsockopt(sock(fd), SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof lg) != 0)
    FAIL_WSA("setsockopt(SO_LINGER)");
  th_close(fd);
}

int th_so_error(rasio_fd_t fd) {
  int err = 0;
  int len = sizeof err;
  if (getsockopt(sock(fd), SOL_SOCKET, SO_ERROR, (char *)&err, &len) != 0)
    FAIL_WSA("getsockopt(SO_ERROR)");
  return err;
}

/* A socket handle is open while Winsock still knows it. */
bool th_fd_open(rasio_fd_t fd) {
  int type = 0;
  int len = sizeof type;
  return getsockopt(sock(fd), SOL_SOCKET, SO_TYPE, (char *)&type, &len) == 0;
}

/* The system's handle table (SystemExtendedHandleInformation), for where the process's own
 * count is not kept: Wine's GetProcessHandleCount always says 0. */
typedef struct sys_handle {
  void *object;
  ULONG_PTR pid;
  ULONG_PTR handle;
  ULONG access;
  USHORT backtrace, type;
  ULONG attributes, reserved;
} sys_handle_t;
typedef struct sys_handles {
  ULONG_PTR count, reserved;
  sys_handle_t handles[1];
} sys_handles_t;
typedef LONG(NTAPI *query_fn)(int cls, void *buf, ULONG len, ULONG *needed);

static long handles_in_system_table(void) {
  query_fn query = (query_fn)(void (*)(void))GetProcAddress(GetModuleHandleA("ntdll.dll"),
                                                            "NtQuerySystemInformation");
  if (query == NULL) return -1;
  ULONG len = 1u << 16;
  for (int tries = 0; tries < 16; tries++, len *= 2) {
    sys_handles_t *table = malloc(len);
    if (table == NULL) return -1;
    ULONG needed = 0;
    LONG status = query(64 /* SystemExtendedHandleInformation */, table, len, &needed);
    if (status == 0) {
      long n = 0;
      ULONG_PTR me = GetCurrentProcessId();
      for (ULONG_PTR i = 0; i < table->count; i++) n += table->handles[i].pid == me;
      free(table);
      return n;
    }
    free(table);
    if (status != (LONG)0xC0000004L) return -1; /* anything but STATUS_INFO_LENGTH_MISMATCH */
    if (needed > len) len = needed; /* doubled on the way round: the table grows meanwhile */
  }
  return -1;
}

long th_open_handles(void) {
  DWORD n = 0;
  /* A live process always holds handles, so 0 means "not counted" (Wine). */
  if (GetProcessHandleCount(GetCurrentProcess(), &n) && n > 0) return (long)n;
  return handles_in_system_table();
}

/* --- time and threads ------------------------------------------------------------------- */

void th_sleep_ms(unsigned ms) { Sleep(ms); }

uint64_t th_now_ms(void) {
  static LARGE_INTEGER freq;
  LARGE_INTEGER now;
  if (freq.QuadPart == 0) QueryPerformanceFrequency(&freq); /* fixed at boot; races benign */
  QueryPerformanceCounter(&now);
  return (uint64_t)(now.QuadPart / freq.QuadPart * 1000 +
                    now.QuadPart % freq.QuadPart * 1000 / freq.QuadPart);
}

pthread_t th_thread_start(th_thread_fn fn, void *arg) {
  pthread_t t;
  int err = pthread_create(&t, NULL, fn, arg);
  if (err != 0) rt_fail(__FILE__, __LINE__, "pthread_create: %s", strerror(err));
  return t;
}

void th_thread_join(pthread_t t) {
  int err = pthread_join(t, NULL);
  if (err != 0) rt_fail(__FILE__, __LINE__, "pthread_join: %s", strerror(err));
}

/* --- loops ------------------------------------------------------------------------------ */

rasio_loop_t *th_loop(void) {
  rasio_loop_t *loop = NULL;
  CHECK_OK(rasio_loop_new(&(rasio_loop_opts_t){.backend = rt_backend()}, &loop));
  return loop;
}

void th_loop_end(rasio_loop_t *loop) {
  /* stop refuses while a noisy event lives, and free while any event lives: a test that
   * leaks an event fails here, naming the call. */
  CHECK_OK(rasio_loop_stop(loop));
  CHECK_OK(rasio_loop_free(loop));
}

/* --- recorder --------------------------------------------------------------------------- */

/* The same recorder as helpers_posix.c (pthreads are portable through winpthreads); keep
 * the two in step.
 *
 * Events whose DISPOSED arrived and that are not destroyed yet. A notification naming one
 * breaks the lifecycle contract. The set is process-wide (an event is disposed whatever
 * recorder saw it) and keyed by address, which is only sound while the event is not
 * destroyed: once freed, the address may come back from the next rasio_event_new. Hence an
 * auto_destroy recorder (destroyed at DISPOSED) never enters the set, and th_dispose takes
 * the event out before destroying it. A test that destroys an event itself must not expect
 * this check to tell a new event at the same address from the old one. */
#define LIMBO_MAX TH_REC_MAX
static pthread_mutex_t limbo_mu = PTHREAD_MUTEX_INITIALIZER;
static rasio_event_t *limbo[LIMBO_MAX];
static size_t limbo_n;

static size_t limbo_find_locked(rasio_event_t *ev) {
  for (size_t i = 0; i < limbo_n; i++)
    if (limbo[i] == ev) return i;
  return LIMBO_MAX;
}

/* Fails the test if ev is in limbo; then, if add, puts it there. One lock for both, so a
 * notification racing the DISPOSED on another thread cannot slip between them. */
static void limbo_enter(rasio_event_t *ev, uint32_t flags, bool add) {
  pthread_mutex_lock(&limbo_mu);
  bool stale = limbo_find_locked(ev) < LIMBO_MAX, full = limbo_n == LIMBO_MAX;
  if (!stale && add && !full) limbo[limbo_n++] = ev;
  pthread_mutex_unlock(&limbo_mu);
  if (stale)
    rt_fail(__FILE__, __LINE__, "notification 0x%x for event %p after its DISPOSED",
            (unsigned)flags, (void *)ev);
  /* Silently dropping it would turn th_dispose's wait into a false timeout. */
  if (add && full) rt_fail(__FILE__, __LINE__, "over %d disposed events not destroyed", LIMBO_MAX);
}

static bool limbo_has(rasio_event_t *ev) {
  pthread_mutex_lock(&limbo_mu);
  bool found = limbo_find_locked(ev) < LIMBO_MAX;
  pthread_mutex_unlock(&limbo_mu);
  return found;
}

static void limbo_leave(rasio_event_t *ev) {
  pthread_mutex_lock(&limbo_mu);
  size_t i = limbo_find_locked(ev);
  if (i < LIMBO_MAX) limbo[i] = limbo[--limbo_n];
  pthread_mutex_unlock(&limbo_mu);
}

void th_rec_init(th_rec_t *r) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL); /* timed waits take a CLOCK_REALTIME deadline */
}

void th_rec_fini(th_rec_t *r) {
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->mu);
}

static void rec_append(th_rec_t *r, rasio_event_t *ev, uint32_t flags, uint32_t arg) {
  pthread_mutex_lock(&r->mu);
  if (r->n == TH_REC_MAX) {
    pthread_mutex_unlock(&r->mu);
    rt_fail(__FILE__, __LINE__, "recorder full (%d notifications)", TH_REC_MAX);
  }
  r->notes[r->n++] = (th_note_t){ev, flags, arg, th_now_ms()};
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

void th_rec_notify(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  th_rec_t *r = ctx;
  bool disposed = (flags & RASIO_DISPOSED) != 0;
  limbo_enter(ev, flags, disposed && !r->auto_destroy);
  /* Destroy before recording: whoever waits for this DISPOSED may free the loop next. */
  if (disposed && r->auto_destroy) CHECK_OK(rasio_event_destroy(ev));
  rec_append(r, ev, flags, arg);
}

static size_t count_locked(const th_rec_t *r, rasio_event_t *ev, uint32_t mask) {
  size_t c = 0;
  for (size_t i = 0; i < r->n; i++)
    if ((ev == NULL || r->notes[i].ev == ev) && (mask == 0 || (r->notes[i].flags & mask) != 0)) c++;
  return c;
}

size_t th_rec_count(th_rec_t *r, rasio_event_t *ev, uint32_t mask) {
  pthread_mutex_lock(&r->mu);
  size_t c = count_locked(r, ev, mask);
  pthread_mutex_unlock(&r->mu);
  return c;
}

/* What a waiter waits for, evaluated under r->mu. */
typedef bool (*rec_pred_t)(const th_rec_t *r, rasio_event_t *ev, uint32_t mask, size_t n);

static bool reached(const th_rec_t *r, rasio_event_t *ev, uint32_t mask, size_t n) {
  return count_locked(r, ev, mask) >= n;
}

/* DISPOSED arrived: with auto_destroy the event is gone and only the count tells (n is the
 * count wanted); otherwise it waits in limbo for our destroy. */
static bool disposed_now(const th_rec_t *r, rasio_event_t *ev, uint32_t mask, size_t n) {
  return r->auto_destroy ? reached(r, ev, mask, n) : limbo_has(ev);
}

/* winpthreads' pthread_cond_timedwait takes a CLOCK_REALTIME deadline, like POSIX's
 * default; winpthreads provides clock_gettime too. */
static struct timespec deadline_after(unsigned ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

static bool rec_wait(th_rec_t *r, rec_pred_t pred, rasio_event_t *ev, uint32_t mask, size_t n,
                     unsigned ms) {
  struct timespec until = deadline_after(ms);
  pthread_mutex_lock(&r->mu);
  bool ok = pred(r, ev, mask, n);
  int rc = 0;
  while (!ok && rc != ETIMEDOUT) {
    rc = pthread_cond_timedwait(&r->cv, &r->mu, &until);
    ok = pred(r, ev, mask, n);
  }
  pthread_mutex_unlock(&r->mu);
  return ok;
}

bool th_rec_wait(th_rec_t *r, rasio_event_t *ev, uint32_t mask, size_t n, unsigned timeout_ms) {
  return rec_wait(r, reached, ev, mask, n, scaled(timeout_ms));
}

uint32_t th_rec_flags(th_rec_t *r, rasio_event_t *ev) {
  uint32_t all = 0;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->n; i++)
    if (r->notes[i].ev == ev) all |= r->notes[i].flags;
  pthread_mutex_unlock(&r->mu);
  return all;
}

uint32_t th_rec_last(th_rec_t *r, rasio_event_t *ev) {
  uint32_t last = 0;
  pthread_mutex_lock(&r->mu);
  for (size_t i = r->n; i-- > 0;) {
    if (r->notes[i].ev == ev) {
      last = r->notes[i].flags;
      break;
    }
  }
  pthread_mutex_unlock(&r->mu);
  return last;
}

void th_dispose(th_rec_t *r, rasio_event_t *ev) {
  /* Counted before unsubscribing, so an earlier event at the same address (destroyed, its
   * DISPOSED still on record) does not satisfy the wait. */
  size_t before = th_rec_count(r, ev, RASIO_DISPOSED);
  CHECK_OK(rasio_event_unsubscribe(ev));
  unsigned ms = scaled(DISPOSE_WAIT_MS);
  if (!rec_wait(r, disposed_now, ev, RASIO_DISPOSED, before + 1, ms))
    rt_fail(__FILE__, __LINE__, "no DISPOSED for event %p within %u ms", (void *)ev, ms);
  if (r->auto_destroy) return;
  limbo_leave(ev);
  CHECK_OK(rasio_event_destroy(ev));
}
