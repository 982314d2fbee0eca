/* SPDX-License-Identifier: BSD-2-Clause */
/* The runner's process layer for Windows (native, and Wine): CreateProcess, one capture
 * pipe per child drained by its own reader thread, and a Job object per child for killing.
 *
 * Waiting: the parent waits on the running children's process handles and nothing else
 * (WaitForMultipleObjects; RT_MAX_JOBS fits MAXIMUM_WAIT_OBJECTS), with the nearest
 * deadline as its timeout, so a finished child is seen at once and a hung one is killed on
 * time; no polling tick. Anonymous pipes cannot be waited on, so each child's output is read
 * by a small thread that blocks in ReadFile and appends to the job; the parent touches the
 * output only after joining that thread.
 *
 * Each child runs in its own Job object: a timeout kills whatever the test started too, and
 * when the runner itself dies (ctest's timeout, ^C) the job handles close and take every
 * child with them (KILL_ON_JOB_CLOSE); the POSIX layer forwards termination signals to its
 * process groups for the same effect. Whatever a test leaves running when it ends dies with
 * its job too, so nothing keeps its capture pipe open.
 *
 * A crash: the child's unhandled-exception filter prints the exception and where it
 * happened, and the process ends with the exception code (0xC0000005...) as its exit status,
 * which the parent reports as RT_CRASHED, "killed by exception 0xC0000005". No debugger, no
 * error-reporting dialog, on Windows and under Wine alike.
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <fcntl.h>
#include <io.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "check.h" /* RT_PRINTF_FORMAT */
#include "runner.h"
#include "runner_win.h"

/* How long an ended child's reader may take to see end of file. Every writer is gone by
 * then (the job is closed), so this only bounds a writer that escaped the job. */
#define READER_GRACE_MS 5000u

_Static_assert(RT_MAX_JOBS <= MAXIMUM_WAIT_OBJECTS, "rt_os_wait waits on every child at once");

/* What the process layer keeps per running child, behind job->proc. The parent and the
 * reader thread share it; the last of them to let go frees it. */
typedef struct child {
  HANDLE process;
  HANDLE job;    /* NULL if the child could not be put in a job (then only it is killed) */
  HANDLE pipe;   /* read end of the capture pipe */
  HANDLE reader; /* the thread draining pipe into out */
  SRWLOCK lock;  /* guards out */
  rt_job_t *out; /* NULL once the parent has stopped listening */
  LONG refs;
} child_t;

static void child_release(child_t *c) {
  if (InterlockedDecrement(&c->refs) != 0) return;
  CloseHandle(c->pipe);
  free(c);
}

/* --- small services --------------------------------------------------------------------- */

/* Both the runner and its children: no error dialog may ever wait for a click (a crash
 * ends the process with its exception code), and stdout/stderr are binary, so the report
 * and the captured output carry "\n" rather than "\r\n" (under Wine, into a Unix pipe,
 * the "\r" would end up in every ctest log line). A constructor, because runner.c has no
 * hook for the parent before its first printf. */
__attribute__((constructor)) static void rt_win_init(void) {
  SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX);
  _setmode(_fileno(stdout), _O_BINARY);
  _setmode(_fileno(stderr), _O_BINARY);
}

/* Exit codes that are NTSTATUS exception codes (severity error or warning): how a process
 * ends when an exception nobody handled killed it. */
static bool is_exception(DWORD code) {
  return (code & 0xC0000000u) == 0xC0000000u || (code & 0xC0000000u) == 0x80000000u;
}

static const char *exception_name(DWORD code) {
  static const struct {
    DWORD code;
    const char *name;
  } names[] = {
      {0xC0000005u, "access violation"},
      {0xC0000409u, "fail-fast: abort() with the UCRT, or a stack buffer overrun"},
      {0xC00000FDu, "stack overflow"},
      {0xC0000094u, "integer division by zero"},
      {0xC0000095u, "integer overflow"},
      {0xC000001Du, "illegal instruction"},
      {0xC0000096u, "privileged instruction"},
      {0xC0000374u, "heap corruption"},
      {0xC000008Eu, "floating-point division by zero"},
      {0xC0000006u, "in-page error"},
      {0xC0000017u, "out of memory"},
      {0xC000013Au, "terminated by Ctrl+C"},
      {0xC0000135u, "a DLL was not found"},
      {0xC0000139u, "an entry point was not found in a DLL"},
      {0xC0000142u, "a DLL failed to initialise"},
      {0x80000003u, "breakpoint"},
      {0x80000002u, "datatype misalignment"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].code == code) return names[i].name;
  return NULL;
}

/* A test child's last words on a crash: the exception and where it happened, as a module
 * and offset that addr2line can read; then the process ends with the exception code as its
 * exit status, which the parent reports. Without this filter Wine starts winedbg for every
 * crash (it ignores SEM_NOGPFAULTERRORBOX), which takes seconds and dumps pages of
 * registers into the test's output, and Windows may hand the crash to error reporting.
 * Runs on whatever stack is left (a stack overflow leaves little): no FILE streams, whose
 * locks the crashing thread may hold. */
static LONG WINAPI on_crash(EXCEPTION_POINTERS *ep) {
  char line[MAX_PATH + 160], module[MAX_PATH];
  const EXCEPTION_RECORD *er = ep->ExceptionRecord;
  uintptr_t at = (uintptr_t)er->ExceptionAddress, base = 0;
  HMODULE mod = NULL;
  strcpy(module, "?");
  if (GetModuleHandleExA(
          GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
          (LPCSTR)er->ExceptionAddress, &mod) &&
      GetModuleFileNameA(mod, module, sizeof module) > 0)
    base = (uintptr_t)mod;
  const char *file = strrchr(module, '\\'), *what = exception_name(er->ExceptionCode);
  int n = snprintf(
      line, sizeof line, "runner: unhandled exception 0x%08lX%s%s%s at 0x%llx (%s+0x%llx)\n",
      (unsigned long)er->ExceptionCode, what ? " (" : "", what ? what : "", what ? ")" : "",
      (unsigned long long)at, file != NULL ? file + 1 : module, (unsigned long long)(at - base));
  DWORD written;
  if (n > 0) WriteFile(GetStdHandle(STD_ERROR_HANDLE), line, (DWORD)n, &written, NULL);
  TerminateProcess(GetCurrentProcess(), er->ExceptionCode);
  return EXCEPTION_EXECUTE_HANDLER;
}

/* Windows has no SIGPIPE (a send on a closed socket is an error code already); what a test
 * child needs is a quick, quiet death on a crash. */
void rt_os_child_init(void) { SetUnhandledExceptionFilter(on_crash); }

const char *rt_os_self(const char *argv0) {
  static char path[MAX_PATH * 2];
  DWORD n = GetModuleFileNameA(NULL, path, (DWORD)sizeof path);
  if (n == 0 || n >= sizeof path) return argv0;
  return path;
}

int rt_os_setenv(const char *name, const char *value) {
  /* The Win32 block is what CreateProcess hands to children; _putenv keeps the CRT's copy
   * (getenv in this process) in step. */
  if (!SetEnvironmentVariableA(name, value)) return (int)GetLastError();
  size_t len = strlen(name) + strlen(value) + 2;
  char *entry = malloc(len); /* the CRT copies it, but older CRTs kept the pointer: leak it */
  if (entry == NULL) return ERROR_NOT_ENOUGH_MEMORY;
  snprintf(entry, len, "%s=%s", name, value);
  return _putenv(entry) == 0 ? 0 : ERROR_INVALID_PARAMETER;
}

uint64_t rt_os_now_ms(void) {
  static LARGE_INTEGER freq;
  LARGE_INTEGER now;
  if (freq.QuadPart == 0) QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&now);
  return (uint64_t)(now.QuadPart / freq.QuadPart * 1000 +
                    now.QuadPart % freq.QuadPart * 1000 / freq.QuadPart);
}

const char *rt_os_strerror(int code) {
  static char msg[300];
  char text[256];
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                           (DWORD)code, 0, text, (DWORD)sizeof text, NULL);
  while (n > 0 &&
         (text[n - 1] == '\r' || text[n - 1] == '\n' || text[n - 1] == ' ' || text[n - 1] == '.'))
    n--;
  snprintf(msg, sizeof msg, "%.*s (error %d)", (int)n, n > 0 ? text : "unknown error", code);
  return msg;
}

/* --- spawning --------------------------------------------------------------------------- */

/* Appends arg to the command line quoted for CommandLineToArgvW and the CRTs' parsers:
 * quotes only if needed; backslashes are literal except before a quote. */
static bool quote_arg(char *cmd, size_t cap, size_t *len, const char *arg) {
  size_t n = *len;
#define PUT(c)                      \
  do {                              \
    if (n + 1 >= cap) return false; \
    cmd[n++] = (c);                 \
  } while (0)
  if (n > 0) PUT(' ');
  if (arg[0] != '\0' && strpbrk(arg, " \t\n\v\"") == NULL) {
    for (const char *p = arg; *p != '\0'; p++) PUT(*p);
  } else {
    PUT('"');
    for (const char *p = arg;; p++) {
      size_t slashes = 0;
      while (*p == '\\') {
        p++;
        slashes++;
      }
      if (*p == '\0') { /* before the closing quote: double them all */
        for (size_t i = 0; i < slashes * 2; i++) PUT('\\');
        break;
      }
      if (*p == '"') { /* double them, then escape the quote */
        for (size_t i = 0; i < slashes * 2 + 1; i++) PUT('\\');
      } else {
        for (size_t i = 0; i < slashes; i++) PUT('\\');
      }
      PUT(*p);
    }
    PUT('"');
  }
#undef PUT
  cmd[n] = '\0';
  *len = n;
  return true;
}

/* A job that kills its processes when the last handle to it closes and, where the OS
 * knows the limit, ends a crashing process at once rather than through error reporting. */
static HANDLE make_job(void) {
  static const DWORD limits[] = {
      JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION,
      JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE};
  HANDLE job = CreateJobObjectA(NULL, NULL);
  if (job == NULL) return NULL;
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
    memset(&info, 0, sizeof info);
    info.BasicLimitInformation.LimitFlags = limits[i];
    if (SetInformationJobObject(job, JobObjectExtendedLimitInformation, &info, sizeof info))
      return job;
  }
  CloseHandle(job);
  return NULL;
}

static DWORD WINAPI reader_main(void *arg) {
  child_t *c = arg;
  char buf[16384];
  DWORD n;
  /* Ends at end of file (ERROR_BROKEN_PIPE: every write end closed) or on any error. */
  while (ReadFile(c->pipe, buf, (DWORD)sizeof buf, &n, NULL)) {
    AcquireSRWLockExclusive(&c->lock);
    if (c->out != NULL && n > 0) rt_job_output(c->out, buf, n);
    ReleaseSRWLockExclusive(&c->lock);
  }
  child_release(c);
  return 0;
}

/* The capture pipe and the null stdin are created non-inheritable and made inheritable
 * only around CreateProcess: the runner spawns from one thread, so no sibling child can
 * inherit another's write end, which would keep that one's reader from seeing end of file
 * (the POSIX layer's close-on-exec, by other means). */
static int child_handles(HANDLE *rd, HANDLE *wr, HANDLE *nul) {
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, FALSE};
  if (!CreatePipe(rd, wr, &sa, 0)) return (int)GetLastError();
  *nul = CreateFileA("NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa, OPEN_EXISTING, 0,
                     NULL);
  if (*nul == INVALID_HANDLE_VALUE ||
      !SetHandleInformation(*wr, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT) ||
      !SetHandleInformation(*nul, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)) {
    int err = (int)GetLastError();
    if (*nul != INVALID_HANDLE_VALUE) CloseHandle(*nul);
    CloseHandle(*rd);
    CloseHandle(*wr);
    return err;
  }
  return 0;
}

BOOL rt_win_create_process(char *cmd, DWORD flags, STARTUPINFOA *si, PROCESS_INFORMATION *pi) {
  for (int attempt = 1;; attempt++) {
    if (CreateProcessA(NULL, cmd, NULL, NULL, TRUE, flags, NULL, NULL, si, pi)) return TRUE;
    if (GetLastError() != ERROR_INTERNAL_ERROR || attempt == 5) return FALSE;
    Sleep(20 * attempt);
  }
}

/* Starts the child suspended, so it is in its job before it can start anything itself. */
static int create_child(char *cmd, HANDLE out, HANDLE nul, PROCESS_INFORMATION *pi) {
  STARTUPINFOA si;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = nul;
  si.hStdOutput = out;
  si.hStdError = out;
  if (!rt_win_create_process(cmd, CREATE_SUSPENDED, &si, pi)) return (int)GetLastError();
  return 0;
}

bool rt_os_command_line(char *const argv[], char *cmd, size_t cap) {
  size_t len = 0;
  if (cap == 0) return false;
  cmd[0] = '\0';
  for (size_t i = 0; argv[i] != NULL; i++)
    if (!quote_arg(cmd, cap, &len, argv[i])) return false;
  return true;
}

bool rt_os_never_started(const rt_job_t *job) {
  return job->state == RT_CRASHED && (DWORD)job->code == 0xC0000142u;
}

int rt_os_spawn(rt_job_t *job, char *const argv[]) {
  char cmd[32768]; /* CreateProcess's limit */
  if (!rt_os_command_line(argv, cmd, sizeof cmd)) return ERROR_FILENAME_EXCED_RANGE;

  child_t *c = calloc(1, sizeof *c);
  if (c == NULL) return ERROR_NOT_ENOUGH_MEMORY;
  InitializeSRWLock(&c->lock);
  c->out = job;
  c->refs = 2; /* the parent's, and the reader's */
  HANDLE wr = NULL, nul = NULL;
  int err = child_handles(&c->pipe, &wr, &nul);
  if (err != 0) {
    free(c);
    return err;
  }
  PROCESS_INFORMATION pi;
  err = create_child(cmd, wr, nul, &pi);
  CloseHandle(wr); /* the child holds the only write end now */
  CloseHandle(nul);
  if (err != 0) {
    CloseHandle(c->pipe);
    free(c);
    return err;
  }
  /* Without a job (a runner inside a job that forbids nesting: old Windows) the test still
   * runs, and a timeout kills the child itself only. */
  c->job = make_job();
  if (c->job != NULL && !AssignProcessToJobObject(c->job, pi.hProcess)) {
    CloseHandle(c->job);
    c->job = NULL;
  }
  c->process = pi.hProcess;
  /* A small stack: the reader only shuttles bytes. */
  c->reader = CreateThread(NULL, 64 << 10, reader_main, c, STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
  if (c->reader == NULL) {
    err = (int)GetLastError();
    TerminateProcess(pi.hProcess, 1);
    if (c->job != NULL) CloseHandle(c->job);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    CloseHandle(c->pipe);
    free(c);
    return err;
  }
  ResumeThread(pi.hThread);
  CloseHandle(pi.hThread);
  job->proc = (intptr_t)c;
  job->pipe = (intptr_t)c->pipe;
  job->state = RT_RUNNING;
  return 0;
}

/* --- waiting ---------------------------------------------------------------------------- */

/* A line of the runner's own in the child's output (only once the reader is done). */
static void note(rt_job_t *job, const char *fmt, ...)
    __attribute__((format(RT_PRINTF_FORMAT, 2, 3)));
static void note(rt_job_t *job, const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n > 0) rt_job_output(job, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Waits for the reader to see end of file; false if it did not within the grace period. */
static bool reader_done(child_t *c) {
  if (WaitForSingleObject(c->reader, READER_GRACE_MS) == WAIT_OBJECT_0) return true;
  CancelSynchronousIo(c->reader); /* unblocks its ReadFile where the OS supports that */
  return WaitForSingleObject(c->reader, 100) == WAIT_OBJECT_0;
}

/* The child is gone. Closing its job kills whatever it left running, which closes the last
 * write ends of the capture pipe, so the reader sees end of file and every byte written is
 * kept; then record how it ended. */
static void ended(rt_job_t *job, rt_state_t state) {
  child_t *c = (child_t *)job->proc;
  DWORD code = 0;
  GetExitCodeProcess(c->process, &code);
  if (c->job != NULL) CloseHandle(c->job);
  bool complete = reader_done(c);
  AcquireSRWLockExclusive(&c->lock); /* from here on, the reader (if alive) drops its bytes */
  c->out = NULL;
  ReleaseSRWLockExclusive(&c->lock);
  if (!complete)
    note(job, "runner: output cut short: a process outside the test's job holds its pipe\n");
  CloseHandle(c->reader);
  CloseHandle(c->process);
  child_release(c);
  job->proc = 0;
  job->pipe = (intptr_t)INVALID_HANDLE_VALUE;
  job->end_ms = rt_os_now_ms();
  job->state = state;
  if (state == RT_TIMED_OUT) return;
  job->code = (int)code;
  if (is_exception(code)) {
    job->state = RT_CRASHED;
    snprintf(job->crash, sizeof job->crash, "exception 0x%08lX", (unsigned long)code);
    /* Said already if the child's own filter saw it; not if it never got that far. */
    const char *name = exception_name(code);
    if (name != NULL && (job->out == NULL || strstr(job->out, "runner: unhandled") == NULL))
      note(job, "runner: exception 0x%08lX is %s\n", (unsigned long)code, name);
  } else if (code == 3) {
    note(job,
         "runner: exit status 3 is how abort() (and a failed assert) ends a process with "
         "msvcrt\n");
  }
}

static bool reap(rt_job_t *job) {
  child_t *c = (child_t *)job->proc;
  if (WaitForSingleObject(c->process, 0) != WAIT_OBJECT_0) return false;
  ended(job, RT_EXITED);
  return true;
}

static bool expire(rt_job_t *job, uint64_t now) {
  if (now < job->deadline_ms) return false;
  child_t *c = (child_t *)job->proc;
  if (c->job != NULL) TerminateJobObject(c->job, 1);
  TerminateProcess(c->process, 1); /* in case it is in no job of ours */
  WaitForSingleObject(c->process, INFINITE);
  ended(job, RT_TIMED_OUT);
  return true;
}

static DWORD wait_timeout(rt_job_t *const jobs[], size_t n, uint64_t now) {
  uint64_t nearest = UINT64_MAX;
  for (size_t i = 0; i < n; i++)
    if (jobs[i]->state == RT_RUNNING && jobs[i]->deadline_ms < nearest)
      nearest = jobs[i]->deadline_ms;
  uint64_t wait = nearest > now ? nearest - now : 0;
  /* + 1: WaitForMultipleObjects may return a little early; waking before the deadline only
   * costs one more round. INFINITE is 0xFFFFFFFF, so stay below it. */
  return wait >= 0xFFFFFFF0u ? 0xFFFFFFF0u : (DWORD)wait + 1;
}

void rt_os_wait(rt_job_t *const jobs[], size_t n) {
  for (;;) {
    bool any = false;
    uint64_t now = rt_os_now_ms();
    for (size_t i = 0; i < n; i++)
      if (jobs[i]->state == RT_RUNNING) any |= reap(jobs[i]) || expire(jobs[i], now);
    if (any) return;
    HANDLE handles[RT_MAX_JOBS];
    DWORD nh = 0;
    for (size_t i = 0; i < n && nh < MAXIMUM_WAIT_OBJECTS; i++)
      if (jobs[i]->state == RT_RUNNING) handles[nh++] = ((child_t *)jobs[i]->proc)->process;
    if (nh == 0) return;
    WaitForMultipleObjects(nh, handles, FALSE, wait_timeout(jobs, n, now));
  }
}
