/* helpers.h for Windows (native, and Wine): Winsock on 127.0.0.1, time and handle counts
 * (the portable rest, recorder and threads, is in helpers.c; test programs get pthreads from
 * winpthreads, the library itself uses native threads). Every unexpected OS error fails the
 * test where it happened.
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
  uint64_t give_up = th_now_ms() + th_scaled_ms(5000);
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

/* Wine's ntdll exports wine_get_version; Windows' does not. */
bool th_under_wine(void) {
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  return ntdll != NULL && GetProcAddress(ntdll, "wine_get_version") != NULL;
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

