/* SPDX-License-Identifier: BSD-2-Clause */
/* helpers.h for Windows (native, and Wine): Winsock on 127.0.0.1, child processes
 * (CreateProcess), time and handle counts (the portable rest, recorder and threads, is in
 * helpers.c; test programs get pthreads from
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
#include "runner_win.h"
#include "runner.h"

#ifndef SIO_UDP_CONNRESET /* mstcpip.h of the Windows SDK; mingw-w64 10 lacks it */
#define SIO_UDP_CONNRESET _WSAIOW(IOC_VENDOR, 12)
#endif

#define FAIL_WSA(what) fail_wsa(__LINE__, (what), WSAGetLastError())
/* Win32 and Winsock codes share one message table. */
#define FAIL_WIN(what) fail_wsa(__LINE__, (what), (int)GetLastError())


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

/* Winsock has no dup2: a handle cannot be made to name another socket. */
rasio_fd_t th_swap_socket(rasio_fd_t fd) {
  (void)fd;
  return RASIO_INVALID_FD;
}

/* WSADuplicateSocket makes a new socket handle for another process; nothing gives a second
 * handle to one socket of this process. */
rasio_fd_t th_dup(rasio_fd_t fd) {
  (void)fd;
  return RASIO_INVALID_FD;
}

bool th_fds_are_ints(void) { return false; }

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

/* --- child processes -------------------------------------------------------------------- */

/* The child finds its signal channel, an inherited semaphore, by the handle value in this
 * environment variable (a scenario run by hand has none). */
#define CHANNEL_ENV "RASIO_TEST_CHANNEL"

/* A child inherits every inheritable handle of this process. So nothing made here is
 * inheritable (a pipe's write end leaked into a child would keep it from ever reading the
 * end of its input): inheritable copies of exactly what the child needs exist only around
 * its CreateProcess, under this lock, which also covers the channel's environment
 * variable, set for that one CreateProcess. */
static SRWLOCK spawn_lock = SRWLOCK_INIT;

/* A temporary file holding data, positioned at its start. It goes with its last handle
 * (the child's), so nothing is left behind, even by a test that dies. */
static HANDLE temp_file(const void *data, size_t len) {
  char dir[MAX_PATH], path[MAX_PATH];
  DWORD n = GetTempPathA(sizeof dir, dir);
  if (n == 0 || n >= sizeof dir) FAIL_WIN("GetTempPath");
  if (GetTempFileNameA(dir, "rio", 0, path) == 0) FAIL_WIN("GetTempFileName");
  HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE,
                         FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                         CREATE_ALWAYS, FILE_ATTRIBUTE_TEMPORARY | FILE_FLAG_DELETE_ON_CLOSE, NULL);
  if (h == INVALID_HANDLE_VALUE) {
    DWORD err = GetLastError();
    DeleteFileA(path);
    fail_wsa(__LINE__, "CreateFile(temporary file)", (int)err);
  }
  for (const char *p = data; len > 0;) {
    DWORD done = 0, want = len > (1u << 20) ? (1u << 20) : (DWORD)len;
    if (!WriteFile(h, p, want, &done, NULL) || done == 0) FAIL_WIN("WriteFile(temporary file)");
    p += done;
    len -= done;
  }
  if (SetFilePointer(h, 0, NULL, FILE_BEGIN) == INVALID_SET_FILE_POINTER) FAIL_WIN("SetFilePointer");
  return h;
}

rasio_fd_t th_file_fd_holding(const void *data, size_t len) {
  return (rasio_fd_t)temp_file(data, len);
}

/* The handle the child gets as stdin (this process's copy); for a pipe, c->in keeps the
 * write end. */
static HANDLE child_stdin(th_child_t *c, th_stdin_t in, const void *data, size_t len) {
  if (in == TH_STDIN_FILE) return temp_file(data, len);
  if (in == TH_STDIN_NULL) {
    HANDLE h = CreateFileA("NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                           OPEN_EXISTING, 0, NULL);
    if (h == INVALID_HANDLE_VALUE) FAIL_WIN("CreateFile(NUL)");
    return h;
  }
  HANDLE rd, wr;
  if (!CreatePipe(&rd, &wr, NULL, 0)) FAIL_WIN("CreatePipe");
  c->in = (intptr_t)wr;
  return rd;
}

/* An inheritable copy of h, or NULL for no handle (a process without stdout). */
static HANDLE inheritable(HANDLE h) {
  HANDLE dup = NULL;
  if (h == NULL || h == INVALID_HANDLE_VALUE) return NULL;
  if (!DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &dup, 0, TRUE,
                       DUPLICATE_SAME_ACCESS))
    FAIL_WIN("DuplicateHandle");
  return dup;
}

/* Starts cmd with stdin `in`, this process's stdout and stderr, and the channel. The child
 * lands in this process's job, so the runner's kill of a timed-out test takes it along. */
static HANDLE spawn(char *cmd, HANDLE in, HANDLE channel) {
  enum { K_IN, K_OUT, K_ERR, K_CHANNEL, K_N };
  HANDLE kid[K_N];
  char value[32];
  STARTUPINFOA si;
  PROCESS_INFORMATION pi;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  AcquireSRWLockExclusive(&spawn_lock);
  kid[K_IN] = si.hStdInput = inheritable(in);
  kid[K_OUT] = si.hStdOutput = inheritable(GetStdHandle(STD_OUTPUT_HANDLE));
  kid[K_ERR] = si.hStdError = inheritable(GetStdHandle(STD_ERROR_HANDLE));
  kid[K_CHANNEL] = inheritable(channel);
  snprintf(value, sizeof value, "%llu", (unsigned long long)(uintptr_t)kid[K_CHANNEL]);
  BOOL ok = SetEnvironmentVariableA(CHANNEL_ENV, value) &&
            rt_win_create_process(cmd, 0, &si, &pi);
  DWORD err = GetLastError();
  SetEnvironmentVariableA(CHANNEL_ENV, NULL);
  for (int i = 0; i < K_N; i++)
    if (kid[i] != NULL) CloseHandle(kid[i]);
  ReleaseSRWLockExclusive(&spawn_lock);
  if (!ok) fail_wsa(__LINE__, "CreateProcess", (int)err);
  CloseHandle(pi.hThread);
  return pi.hProcess;
}

th_child_t *th_child_start(const char *scenario, const char *arg, th_stdin_t in,
                           const void *data, size_t len) {
  enum { LINE_MAX_ = 32768 }; /* CreateProcess's limit */
  th_child_t *c = calloc(1, sizeof *c);
  char *line = malloc(LINE_MAX_);
  if (c == NULL || line == NULL) rt_fail(__FILE__, __LINE__, "out of memory");
  snprintf(c->scenario, sizeof c->scenario, "%s", scenario);
  c->in = (intptr_t)INVALID_HANDLE_VALUE;
  rt_cmd_t cmd;
  rt_child_cmd(&cmd, scenario, arg);
  HANDLE child_in = child_stdin(c, in, data, len);
  HANDLE channel = CreateSemaphoreA(NULL, 0, LONG_MAX, NULL);
  if (channel == NULL) FAIL_WIN("CreateSemaphore");
  if (!rt_os_command_line(cmd.argv, line, LINE_MAX_))
    rt_fail(__FILE__, __LINE__, "command line of scenario %s too long", scenario);
  c->process = (intptr_t)spawn(line, child_in, channel);
  free(line);
  CloseHandle(child_in); /* the child's copy is all that is left of it */
  c->channel = (intptr_t)channel;
  return c;
}

bool th_child_write(th_child_t *c, const void *buf, size_t len) {
  const char *p = buf;
  if ((HANDLE)c->in == INVALID_HANDLE_VALUE)
    rt_fail(__FILE__, __LINE__, "th_child_write: no stdin pipe (any more)");
  while (len > 0) {
    DWORD done = 0, want = len > (1u << 20) ? (1u << 20) : (DWORD)len;
    /* Fails (ERROR_NO_DATA, ERROR_BROKEN_PIPE) once the child's end is closed. */
    if (!WriteFile((HANDLE)c->in, p, want, &done, NULL)) return false;
    p += done;
    len -= done;
  }
  return true;
}

void th_child_close_stdin(th_child_t *c) {
  if ((HANDLE)c->in == INVALID_HANDLE_VALUE) return;
  CloseHandle((HANDLE)c->in);
  c->in = (intptr_t)INVALID_HANDLE_VALUE;
}

bool th_child_wait_signal(th_child_t *c, unsigned timeout_ms) {
  /* The channel first: of two signaled handles the lower index wins, so a signal sent
   * just before the child exited still counts. */
  HANDLE h[2] = {(HANDLE)c->channel, (HANDLE)c->process};
  DWORD r = WaitForMultipleObjects(2, h, FALSE, th_scaled_ms(timeout_ms));
  if (r == WAIT_FAILED) FAIL_WIN("WaitForMultipleObjects");
  return r == WAIT_OBJECT_0;
}

void th_child_signal(void) {
  const char *value = getenv(CHANNEL_ENV);
  if (value == NULL) return;
  /* A failure means the parent is gone; its verdict no longer depends on us. */
  ReleaseSemaphore((HANDLE)(uintptr_t)strtoull(value, NULL, 10), 1, NULL);
}

/* Exit codes that are NTSTATUS codes of severity error or warning: an exception ended it. */
static bool is_exception(DWORD code) {
  return (code & 0xC0000000u) == 0xC0000000u || (code & 0xC0000000u) == 0x80000000u;
}

int th_child_end(th_child_t *c, unsigned timeout_ms, char *why, size_t cap) {
  unsigned ms = th_scaled_ms(timeout_ms);
  HANDLE process = (HANDLE)c->process;
  th_child_close_stdin(c);
  DWORD r = WaitForSingleObject(process, ms), code = 0;
  if (r == WAIT_FAILED) FAIL_WIN("WaitForSingleObject");
  if (r == WAIT_TIMEOUT) {
    TerminateProcess(process, 1);
    WaitForSingleObject(process, INFINITE);
  }
  if (!GetExitCodeProcess(process, &code)) FAIL_WIN("GetExitCodeProcess");
  CloseHandle(process);
  CloseHandle((HANDLE)c->channel);
  free(c);
  if (r == WAIT_TIMEOUT) {
    snprintf(why, cap, "still running after %u ms: killed", ms);
    return -1;
  }
  if (!is_exception(code)) return (int)code;
  snprintf(why, cap, "ended by exception 0x%08lX", (unsigned long)code);
  return -1;
}

/* --- descriptors that are not sockets ------------------------------------------------------ */

rasio_fd_t th_file_fd(void) { return (rasio_fd_t)temp_file("", 0); }

void th_pipe(rasio_fd_t *rd, rasio_fd_t *wr) {
  HANDLE r, w;
  if (!CreatePipe(&r, &w, NULL, 0)) FAIL_WIN("CreatePipe");
  *rd = (rasio_fd_t)r;
  *wr = (rasio_fd_t)w;
}

void th_close_other(rasio_fd_t fd) {
  if (!CloseHandle((HANDLE)fd)) FAIL_WIN("CloseHandle");
}

rasio_fd_t th_closed_fd(void) {
  SOCKET s = new_socket(SOCK_STREAM);
  th_close((rasio_fd_t)s);
  return (rasio_fd_t)s;
}
