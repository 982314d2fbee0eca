/* SPDX-License-Identifier: BSD-2-Clause */
/* Windows implementation of the OS shim (Windows 10+, and Wine).
 *
 * No pthreads: locks are SRWLOCKs, condition variables CONDITION_VARIABLEs, threads come
 * from _beginthreadex, the clock is QueryPerformanceCounter.
 *
 * Notes about Windows that this file relies on:
 * - WSAGetLastError() and GetLastError() read the same per-thread slot, so one function
 *   (rasio__os_error) serves sockets and everything else, and one table maps both kinds of
 *   code.
 * - The CRT's signal() is one-shot: the disposition is reset to SIG_DFL before the handler
 *   runs. A trampoline re-installs itself first, then calls rasio's handler. A second
 *   delivery inside that small window takes the default action (for SIGINT: exit), as with
 *   every CRT-signal program. Console Ctrl+C and Ctrl+Break reach SIGINT and SIGBREAK through
 *   the CRT's own console control handler, on a thread of their own.
 * - Console and pipe handles have no socket readiness, so standard input is watched by a
 *   reader thread (see "standard input" below).
 */
#include <winsock2.h>
#include <windows.h>
#include <process.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "os/os.h"

/* rasio's structs embed these types without seeing windows.h: same size and alignment. */
_Static_assert(sizeof(rasio__mutex_t) == sizeof(SRWLOCK), "rasio__mutex_t is an SRWLOCK");
_Static_assert(_Alignof(rasio__mutex_t) >= _Alignof(SRWLOCK), "SRWLOCK alignment");
_Static_assert(sizeof(rasio__cond_t) == sizeof(CONDITION_VARIABLE), "rasio__cond_t size");
_Static_assert(_Alignof(rasio__cond_t) >= _Alignof(CONDITION_VARIABLE), "cond alignment");
_Static_assert(sizeof(rasio__thread_t) == sizeof(HANDLE), "rasio__thread_t is a HANDLE");
_Static_assert(sizeof(rasio_fd_t) == sizeof(SOCKET), "rasio_fd_t holds a SOCKET");

/* --- locks and condition variables -------------------------------------------------- */

/* RASIO__MUTEX_INIT ({0}) is SRWLOCK_INIT, so static mutexes need no init call. SRW locks
 * hold no resources: destroy has nothing to do. Like a default pthread mutex, an SRW lock
 * is not recursive. */
static SRWLOCK *srw(rasio__mutex_t *m) { return (SRWLOCK *)(void *)m; }
static CONDITION_VARIABLE *cv(rasio__cond_t *c) { return (CONDITION_VARIABLE *)(void *)c; }

void rasio__mutex_init(rasio__mutex_t *m) { InitializeSRWLock(srw(m)); }
void rasio__mutex_destroy(rasio__mutex_t *m) { (void)m; }
void rasio__mutex_lock(rasio__mutex_t *m) { AcquireSRWLockExclusive(srw(m)); }
void rasio__mutex_unlock(rasio__mutex_t *m) { ReleaseSRWLockExclusive(srw(m)); }

void rasio__cond_init(rasio__cond_t *c) { InitializeConditionVariable(cv(c)); }
void rasio__cond_destroy(rasio__cond_t *c) { (void)c; }
void rasio__cond_signal(rasio__cond_t *c) { WakeConditionVariable(cv(c)); }

/* The wait takes a relative timeout in milliseconds: the distance to the deadline, rounded
 * up so the wait never ends before it (the system's tick may still end it a little early
 * or late; callers re-check their predicate and the clock). A deadline already passed
 * still releases and retakes the lock once. */
void rasio__cond_wait_until(rasio__cond_t *c, rasio__mutex_t *m, uint64_t deadline_ns) {
  DWORD ms = INFINITE;
  if (deadline_ns != UINT64_MAX) {
    uint64_t now = rasio__now_ns();
    uint64_t rel = deadline_ns > now ? deadline_ns - now : 0;
    uint64_t up = rel / 1000000u + (rel % 1000000u != 0);
    ms = up >= INFINITE ? INFINITE - 1 : (DWORD)up;
  }
  /* FALSE with ERROR_TIMEOUT is the timeout; no other failure exists for a valid lock. */
  (void)SleepConditionVariableSRW(cv(c), srw(m), ms, 0);
}

/* --- threads ------------------------------------------------------------------------- */

struct thread_start {
  void (*fn)(void *);
  void *arg;
};

/* _beginthreadex rather than CreateThread: the thread may use the C runtime. */
static unsigned __stdcall thread_main(void *p) {
  struct thread_start start = *(struct thread_start *)p;
  rasio__free(p);
  start.fn(start.arg);
  return 0;
}

int rasio__thread_create(rasio__thread_t *t, void (*fn)(void *), void *arg) {
  struct thread_start *start = rasio__malloc(sizeof *start);
  if (start == NULL) return RASIO_ENOMEM;
  start->fn = fn;
  start->arg = arg;
  SetLastError(0);
  uintptr_t h = _beginthreadex(NULL, 0, thread_main, start, 0, NULL);
  if (h != 0) {
    *t = (rasio__thread_t)h;
    return 0;
  }
  DWORD err = GetLastError(); /* from CreateThread, if it got that far */
  rasio__free(start);
  return err != 0 ? rasio__os_error_map((int)err) : RASIO_ENOMEM;
}

void rasio__thread_join(rasio__thread_t t) {
  WaitForSingleObject((HANDLE)t, INFINITE);
  CloseHandle((HANDLE)t);
}

/* Thread ids are never 0 (that is the idle process's) and are unique among live threads. */
uintptr_t rasio__thread_id(void) { return (uintptr_t)GetCurrentThreadId(); }

void rasio__thread_yield(void) { SwitchToThread(); }

/* --- clock --------------------------------------------------------------------------- */

/* QueryPerformanceCounter is monotonic and never fails on Windows XP and later. The
 * frequency is fixed at boot; it is read once (a racing first call just reads it twice).
 * Whole seconds and the remainder are scaled separately: count * 1e9 would overflow after
 * ~30 minutes of uptime at 10 MHz, while remainder * 1e9 stays below freq * 1e9 (fine for
 * any frequency under 18 GHz). */
uint64_t rasio__now_ns(void) {
  static atomic_llong freq_cache;
  long long freq = atomic_load_explicit(&freq_cache, memory_order_relaxed);
  if (freq == 0) {
    LARGE_INTEGER f;
    QueryPerformanceFrequency(&f);
    freq = f.QuadPart;
    atomic_store_explicit(&freq_cache, freq, memory_order_relaxed);
  }
  LARGE_INTEGER c;
  QueryPerformanceCounter(&c);
  uint64_t count = (uint64_t)c.QuadPart, hz = (uint64_t)freq;
  return count / hz * 1000000000u + count % hz * 1000000000u / hz;
}

/* --- errors -------------------------------------------------------------------------- */

/* One table for Winsock (WSA*) and Win32 (ERROR_*) codes; they do not overlap. */
static const struct {
  int os;
  int rasio;
} error_table[] = {
    {ERROR_INVALID_FUNCTION, RASIO_ENOTSUP},
    {ERROR_ACCESS_DENIED, RASIO_EACCES},
    {ERROR_INVALID_HANDLE, RASIO_EBADF},
    {ERROR_TOO_MANY_OPEN_FILES, RASIO_EMFILE},
    {ERROR_NOT_ENOUGH_MEMORY, RASIO_ENOMEM},
    {ERROR_OUTOFMEMORY, RASIO_ENOMEM},
    {ERROR_NOT_SUPPORTED, RASIO_ENOTSUP},
    {ERROR_FILE_EXISTS, RASIO_EEXIST},
    {ERROR_INVALID_PARAMETER, RASIO_EINVAL},
    {ERROR_BROKEN_PIPE, RASIO_EPIPE},
    {ERROR_CALL_NOT_IMPLEMENTED, RASIO_ENOTSUP},
    {ERROR_PROC_NOT_FOUND, RASIO_ENOTSUP},
    {ERROR_ALREADY_EXISTS, RASIO_EEXIST},
    {ERROR_NO_DATA, RASIO_EPIPE}, /* the pipe is being closed */
    {ERROR_PIPE_NOT_CONNECTED, RASIO_EPIPE},
    {WAIT_TIMEOUT, RASIO_ETIMEDOUT},
    {ERROR_SEM_TIMEOUT, RASIO_ETIMEDOUT},
    {ERROR_NETNAME_DELETED, RASIO_ECONNRESET},
    {ERROR_IO_PENDING, RASIO_EAGAIN},
    {ERROR_IO_DEVICE, RASIO_EIO},
    {ERROR_CONNECTION_REFUSED, RASIO_ECONNREFUSED},
    {ERROR_NETWORK_UNREACHABLE, RASIO_ENETUNREACH},
    {ERROR_HOST_UNREACHABLE, RASIO_EHOSTUNREACH},
    {ERROR_PORT_UNREACHABLE, RASIO_ECONNREFUSED},
    {ERROR_CONNECTION_ABORTED, RASIO_ECONNABORTED},
    {ERROR_NO_SYSTEM_RESOURCES, RASIO_ENOMEM},
    {ERROR_TIMEOUT, RASIO_ETIMEDOUT},
    {WSAEBADF, RASIO_EBADF},
    {WSAEACCES, RASIO_EACCES},
    {WSAEFAULT, RASIO_EINVAL},
    {WSAEINVAL, RASIO_EINVAL},
    {WSAEMFILE, RASIO_EMFILE},
    {WSAEWOULDBLOCK, RASIO_EAGAIN},
    {WSAEINPROGRESS, RASIO_EAGAIN},
    {WSAEALREADY, RASIO_EAGAIN},
    {WSAENOTSOCK, RASIO_EBADF},
    {WSAEMSGSIZE, RASIO_EMSGSIZE},
    {WSAEPROTONOSUPPORT, RASIO_EAFNOSUPPORT},
    {WSAESOCKTNOSUPPORT, RASIO_EAFNOSUPPORT},
    {WSAEOPNOTSUPP, RASIO_ENOTSUP},
    {WSAENOPROTOOPT, RASIO_ENOTSUP},
    {WSAEPFNOSUPPORT, RASIO_EAFNOSUPPORT},
    {WSAEAFNOSUPPORT, RASIO_EAFNOSUPPORT},
    {WSAEADDRINUSE, RASIO_EADDRINUSE},
    {WSAEADDRNOTAVAIL, RASIO_EADDRNOTAVAIL},
    {WSAENETDOWN, RASIO_ENETUNREACH},
    {WSAENETUNREACH, RASIO_ENETUNREACH},
    {WSAENETRESET, RASIO_ECONNRESET},
    {WSAECONNABORTED, RASIO_ECONNABORTED},
    {WSAECONNRESET, RASIO_ECONNRESET},
    {WSAENOBUFS, RASIO_ENOMEM},
    {WSAENOTCONN, RASIO_ENOTCONN},
    {WSAESHUTDOWN, RASIO_EPIPE},
    {WSAETIMEDOUT, RASIO_ETIMEDOUT},
    {WSAECONNREFUSED, RASIO_ECONNREFUSED},
    {WSAEHOSTDOWN, RASIO_EHOSTUNREACH},
    {WSAEHOSTUNREACH, RASIO_EHOSTUNREACH},
    {WSAEPROCLIM, RASIO_EMFILE},
    {WSATYPE_NOT_FOUND, RASIO_ENOTFOUND}, /* getaddrinfo: unknown service */
    {WSAHOST_NOT_FOUND, RASIO_ENOTFOUND},
    /* A resolver that got no answer (no DNS server reachable) has still not resolved the
     * name: RASIO_EAGAIN means would-block in rasio. */
    {WSATRY_AGAIN, RASIO_ENOTFOUND},
    {WSANO_RECOVERY, RASIO_ENOTFOUND},
    {WSANO_DATA, RASIO_ENOTFOUND},
};

int rasio__os_error(void) { return rasio__os_error_map((int)GetLastError()); }

int rasio__os_error_map(int oserr) {
  if (oserr == 0) return RASIO_OK;
  for (size_t i = 0; i < sizeof error_table / sizeof error_table[0]; i++)
    if (error_table[i].os == oserr) return error_table[i].rasio;
  rasio__os_error_note(oserr);
  return RASIO_EOS;
}

/* SOCKETs are handles, far below 2^63: a negative value (INVALID_SOCKET among them) is
 * none. */
bool rasio__fd_in_range(rasio_fd_t fd) { return fd >= 0; }

/* WSAENOTSOCK is the answer for a handle that is no (longer a) socket. */
bool rasio__fd_is_open(rasio_fd_t fd) {
  int type, len = sizeof type;
  return getsockopt((SOCKET)fd, SOL_SOCKET, SO_TYPE, (char *)&type, &len) == 0 ||
         WSAGetLastError() != WSAENOTSOCK;
}

void rasio__fd_close(rasio_fd_t fd) { (void)closesocket((SOCKET)fd); }

/* --- signals ------------------------------------------------------------------------- */

typedef void(__cdecl *crt_handler_t)(int);

/* Per signal: rasio's handler while installed, and the disposition found at install.
 * sig_lock orders the trampoline's re-install against restore, so a delivery racing the
 * last unsubscribe cannot put the trampoline back over the restored disposition. On
 * Windows a signal handler runs on an ordinary thread (the console's control thread, or
 * the one that called raise), so it may take a lock; install and restore never raise. */
static SRWLOCK sig_lock = SRWLOCK_INIT;
static void (*volatile sig_handler[NSIG])(int);
static crt_handler_t sig_saved[NSIG];

static void __cdecl sig_trampoline(int signo) {
  if (signo <= 0 || signo >= NSIG) return;
  AcquireSRWLockExclusive(&sig_lock);
  void (*h)(int) = sig_handler[signo];
  if (h != NULL) signal(signo, sig_trampoline); /* the CRT reset it to SIG_DFL */
  ReleaseSRWLockExclusive(&sig_lock);
  if (h != NULL) h(signo);
}

/* What the CRT lets a program catch and deliver itself. SIGTERM only ever comes from
 * raise() on Windows; SIGINT and SIGBREAK also from the console (Ctrl+C, Ctrl+Break). */
bool rasio__sig_valid(int signo) {
  return signo == SIGINT || signo == SIGTERM || signo == SIGBREAK || signo == SIGABRT;
}

int rasio__sig_max(void) { return NSIG - 1; }

int rasio__sig_install(int signo, void (*handler)(int)) {
  if (!rasio__sig_valid(signo) || handler == NULL) return RASIO_EINVAL;
  AcquireSRWLockExclusive(&sig_lock);
  crt_handler_t prev = SIG_DFL;
  if (sig_handler[signo] == NULL) { /* else already ours: keep the saved disposition */
    prev = signal(signo, sig_trampoline);
    if (prev != SIG_ERR) sig_saved[signo] = prev;
  }
  if (prev != SIG_ERR) sig_handler[signo] = handler;
  ReleaseSRWLockExclusive(&sig_lock);
  return prev == SIG_ERR ? RASIO_EINVAL : 0;
}

void rasio__sig_restore(int signo) {
  if (!rasio__sig_valid(signo)) return;
  AcquireSRWLockExclusive(&sig_lock);
  sig_handler[signo] = NULL;
  (void)signal(signo, sig_saved[signo]);
  ReleaseSRWLockExclusive(&sig_lock);
}

/* --- standard input ------------------------------------------------------------------- */

/* Classified once:
 *  - CONSOLE (GetConsoleMode succeeds) and PIPE (GetFileType says pipe) have no readiness
 *    anywhere Windows offers it to rasio (under Wine a unix-pipe stdin is always signaled
 *    and PeekNamedPipe fails on it), so one process-wide reader thread watches them.
 *  - OTHER (a file, NUL, another character device) is read directly: a file read does not
 *    block and NUL reads as the end of input at once. The core treats it as always
 *    readable once the backend refuses the handle. GetFileType alone would call NUL a
 *    console (both are character devices), hence the GetConsoleMode test first.
 *  - NONE: no stdin handle at all (a GUI or detached process): end of input. */
enum { IN_NONE = 1, IN_CONSOLE, IN_PIPE, IN_OTHER };

#define IN_BUF_SIZE 65536

static INIT_ONCE in_once = INIT_ONCE_STATIC_INIT;
static HANDLE in_handle;
static int in_kind;

static BOOL CALLBACK in_classify(INIT_ONCE *once, void *param, void **ctx) {
  (void)once, (void)param, (void)ctx;
  HANDLE h = GetStdHandle(STD_INPUT_HANDLE);
  DWORD mode;
  in_handle = h;
  if (h == NULL || h == INVALID_HANDLE_VALUE) in_kind = IN_NONE;
  else if (GetConsoleMode(h, &mode)) in_kind = IN_CONSOLE;
  else if (GetFileType(h) == FILE_TYPE_PIPE) in_kind = IN_PIPE;
  else in_kind = IN_OTHER;
  return TRUE;
}

static int stdin_kind(void) {
  InitOnceExecuteOnce(&in_once, in_classify, NULL, NULL);
  return in_kind;
}

rasio_fd_t rasio__stdin_fd(void) {
  return stdin_kind() == IN_NONE ? RASIO_INVALID_FD : (rasio_fd_t)in_handle;
}

bool rasio__stdin_needs_watcher(void) {
  int k = stdin_kind();
  return k == IN_CONSOLE || k == IN_PIPE;
}

/* The watcher. One reader thread for the process, started by the first watch_start:
 *   loop: ReadFile (blocking) into in_buf while it is empty;
 *         under in_lock: record data, end of input or an error, and call the current
 *         target's ready(arg) (if any) while still holding the lock;
 *         wait on in_drained until readers have taken every byte; repeat.
 * Holding in_lock around ready() is what lets watch_stop promise that, once it returns, no
 * ready() for the old target runs or will start. ready() must therefore not call back into
 * this file (the core's ready() only posts readiness to its loop).
 *
 * The thread owns in_buf while in_len == 0 and writes it without the lock; readers touch
 * it only while in_off < in_len. Data read while nobody watches stays buffered for the
 * next subscriber, so unsubscribing and subscribing again mid-stream loses nothing. The
 * flip side: once started, the thread keeps one buffer of stdin read ahead of the program.
 *
 * The thread is never joined: it may block in ReadFile for ever (a console nobody types
 * into, a pipe whose writer keeps it open). Closing stdin under it would take the handle
 * from the rest of the program, and CancelSynchronousIo is not relied on (its effect on
 * console and unix-pipe reads under Wine is untested). Process exit ends the thread; after
 * the end of input or an error it exits by itself. */
static SRWLOCK in_lock = SRWLOCK_INIT;
static CONDITION_VARIABLE in_drained = CONDITION_VARIABLE_INIT;
static bool in_started;
static char in_buf[IN_BUF_SIZE];
static size_t in_off, in_len; /* unread bytes are in_buf[in_off, in_len) */
static bool in_end;           /* no byte will follow the buffered ones */
static int in_err;            /* a read error not reported yet (RASIO_E*), then 0 */
static void (*in_ready)(void *arg);
static void *in_arg;

enum { READ_DATA = 1, READ_AGAIN, READ_END, READ_ERROR };

/* One blocking read into in_buf; what happened, with *got and *err filled. */
static int reader_read(DWORD *got, DWORD *err) {
  *got = 0;
  SetLastError(0);
  BOOL ok = ReadFile(in_handle, in_buf, sizeof in_buf, got, NULL);
  *err = GetLastError();
  /* A console line that starts with Ctrl+Z is the end of input, whether ReadFile drops it
   * (zero bytes, below) or passes the character through. */
  if (ok && *got > 0) return in_kind == IN_CONSOLE && in_buf[0] == 0x1A ? READ_END : READ_DATA;
  if (ok) {
    /* Zero bytes. Console: the Ctrl+Z line, unless Ctrl+C interrupted the read, which
     * ends it with ERROR_OPERATION_ABORTED (the CRT turns the key into SIGINT).
     * Pipe: Wine reports the writer's close this way (Windows fails with BROKEN_PIPE), but
     * a writer's zero-length WriteFile also gives zero bytes on Windows; the pipe is still
     * open then, which PeekNamedPipe tells. Under Wine PeekNamedPipe fails on a unix pipe,
     * so zero bytes there is the end, as it should be. */
    if (in_kind == IN_CONSOLE) return *err == ERROR_OPERATION_ABORTED ? READ_AGAIN : READ_END;
    DWORD avail = 0;
    if (in_kind == IN_PIPE && PeekNamedPipe(in_handle, NULL, 0, NULL, &avail, NULL))
      return READ_AGAIN;
    return READ_END;
  }
  switch (*err) {
    case ERROR_BROKEN_PIPE: /* the writer closed (Windows) */
    case ERROR_HANDLE_EOF:
    case ERROR_PIPE_NOT_CONNECTED: return READ_END;
    case ERROR_OPERATION_ABORTED: return in_kind == IN_CONSOLE ? READ_AGAIN : READ_ERROR;
    case ERROR_NO_DATA:
      /* A pipe some parent put in PIPE_NOWAIT mode has no data yet: poll slowly. */
      Sleep(10);
      return READ_AGAIN;
    default: return READ_ERROR;
  }
}

static void reader_main(void *unused) {
  (void)unused;
  for (;;) {
    DWORD got, err;
    int what = reader_read(&got, &err);
    if (what == READ_AGAIN) continue;
    AcquireSRWLockExclusive(&in_lock);
    if (what == READ_DATA) {
      in_off = 0;
      in_len = got;
    } else {
      in_end = true;
      if (what == READ_ERROR) in_err = err != 0 ? rasio__os_error_map((int)err) : RASIO_EIO;
    }
    if (in_ready != NULL) in_ready(in_arg);
    if (in_end) {
      ReleaseSRWLockExclusive(&in_lock);
      return;
    }
    while (in_off < in_len) SleepConditionVariableSRW(&in_drained, &in_lock, INFINITE, 0);
    ReleaseSRWLockExclusive(&in_lock);
  }
}

int rasio__stdin_watch_start(void (*ready)(void *arg), void *arg) {
  if (ready == NULL) return RASIO_EINVAL;
  if (!rasio__stdin_needs_watcher()) return RASIO_ENOTSUP;
  int rc = 0;
  AcquireSRWLockExclusive(&in_lock);
  if (!in_started) {
    rasio__thread_t t;
    rc = rasio__thread_create(&t, reader_main, NULL);
    if (rc == 0) {
      CloseHandle((HANDLE)t); /* never joined: see above */
      in_started = true;
    }
  }
  if (rc == 0) {
    in_ready = ready;
    in_arg = arg;
  }
  ReleaseSRWLockExclusive(&in_lock);
  return rc;
}

void rasio__stdin_watch_stop(void) {
  AcquireSRWLockExclusive(&in_lock); /* waits out a ready() in progress */
  in_ready = NULL;
  in_arg = NULL;
  ReleaseSRWLockExclusive(&in_lock);
}

bool rasio__stdin_readable_now(void) {
  AcquireSRWLockExclusive(&in_lock);
  bool yes = in_off < in_len || in_end;
  ReleaseSRWLockExclusive(&in_lock);
  return yes;
}

/* Watcher mode: from the buffer. A read error is reported once; after it the input reads
 * as ended. */
static int read_buffered(void *buf, size_t len, size_t *count) {
  int rc = RASIO_EAGAIN;
  AcquireSRWLockExclusive(&in_lock);
  if (in_off < in_len) {
    size_t n = in_len - in_off < len ? in_len - in_off : len;
    memcpy(buf, in_buf + in_off, n);
    in_off += n;
    *count = n;
    rc = 0;
    if (in_off == in_len) {
      in_off = in_len = 0;
      WakeConditionVariable(&in_drained); /* the reader may fill it again */
    }
  } else if (in_err != 0) {
    rc = in_err;
    in_err = 0;
  } else if (in_end) {
    rc = 0; /* end of input: *count stays 0 */
  }
  ReleaseSRWLockExclusive(&in_lock);
  return rc;
}

/* Files and NUL: a direct read never blocks. */
static int read_direct(void *buf, size_t len, size_t *count) {
  DWORD want = len > (1u << 30) ? (1u << 30) : (DWORD)len, got = 0;
  if (ReadFile(in_handle, buf, want, &got, NULL)) {
    *count = got; /* 0: end of input */
    return 0;
  }
  DWORD err = GetLastError();
  if (err == ERROR_HANDLE_EOF || err == ERROR_BROKEN_PIPE) return 0;
  return rasio__os_error_map((int)err);
}

int rasio__stdin_read(void *buf, size_t len, size_t *count) {
  *count = 0;
  /* A zero-length read would be indistinguishable from the end of input. */
  if (len == 0) return RASIO_EINVAL;
  switch (stdin_kind()) {
    case IN_CONSOLE:
    case IN_PIPE: return read_buffered(buf, len, count);
    case IN_OTHER: return read_direct(buf, len, count);
    default: return 0; /* no stdin: end of input */
  }
}
