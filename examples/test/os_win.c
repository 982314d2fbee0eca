/* SPDX-License-Identifier: BSD-2-Clause */
/* The driver's processes on Windows: CreateProcess with two anonymous pipes. See os.h. */
/* winsock2.h must come before windows.h, which clang-format would sort first. */
/* clang-format off */
#include <winsock2.h>
#include <windows.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"

struct proc {
  HANDLE process;
  HANDLE in, out; /* our ends: the child's stdin (write), its stdout (read) */
};

void os_init(void) {
  WSADATA wsa;
  if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
    printf("WSAStartup failed\n");
    exit(1);
  }
}

uint64_t os_now_ms(void) { return GetTickCount64(); }

void os_sleep_ms(unsigned ms) { Sleep(ms); }

/* Our own path, not argv0: under Wine argv0 may be a Unix path. */
void os_sibling_path(const char *argv0, const char *name, char *path, size_t cap) {
  (void)argv0;
  char self[MAX_PATH];
  DWORD n = GetModuleFileNameA(NULL, self, sizeof self);
  const char *slash = n > 0 && n < sizeof self ? strrchr(self, '\\') : NULL;
  int dir = slash != NULL ? (int)(slash - self) : 1;
  snprintf(path, cap, "%.*s\\%s.exe", dir, slash != NULL ? self : ".", name);
}

/* One pipe, with only the child's end inheritable: CreateProcess with bInheritHandles
 * TRUE gives the child "each inheritable handle in the calling process", so our end must
 * not be one (or the child would hold its own stdin open, and never see its end). */
static bool child_pipe(HANDLE *rd, HANDLE *wr, bool child_reads) {
  SECURITY_ATTRIBUTES sa = {.nLength = sizeof sa, .bInheritHandle = TRUE};
  if (!CreatePipe(rd, wr, &sa, 0)) return false;
  return SetHandleInformation(child_reads ? *wr : *rd, HANDLE_FLAG_INHERIT, 0) != 0;
}

proc_t *proc_start(const char *path, const char *const args[]) {
  char cmd[4096];
  int len = snprintf(cmd, sizeof cmd, "\"%s\"", path);
  for (size_t i = 0; args[i] != NULL && len > 0 && (size_t)len < sizeof cmd; i++)
    len += snprintf(cmd + len, sizeof cmd - (size_t)len, " \"%s\"", args[i]);
  proc_t *p = calloc(1, sizeof *p);
  HANDLE child_in, child_out;
  if (p == NULL || !child_pipe(&child_in, &p->in, true) ||
      !child_pipe(&p->out, &child_out, false)) {
    printf("cannot make pipes: error %lu\n", (unsigned long)GetLastError());
    exit(1);
  }
  STARTUPINFOA si = {.cb = sizeof si, .dwFlags = STARTF_USESTDHANDLES};
  si.hStdInput = child_in;
  si.hStdOutput = child_out;
  si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
  PROCESS_INFORMATION pi;
  BOOL ok = CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi);
  CloseHandle(child_in);
  CloseHandle(child_out);
  if (!ok) {
    printf("cannot start %s: error %lu\n", path, (unsigned long)GetLastError());
    CloseHandle(p->in);
    CloseHandle(p->out);
    free(p);
    return NULL;
  }
  CloseHandle(pi.hThread);
  p->process = pi.hProcess;
  return p;
}

/* An anonymous pipe has no wait with a timeout ("Asynchronous (overlapped) read and write
 * operations are not supported by anonymous pipes", Anonymous Pipe Operations), but
 * PeekNamedPipe takes "a handle to the read end of an anonymous pipe, as returned by the
 * CreatePipe function" and tells how much is there: poll it. */
long proc_read(proc_t *p, char *buf, size_t cap, unsigned ms) {
  uint64_t end = os_now_ms() + ms;
  for (;;) {
    DWORD avail = 0, got = 0;
    if (!PeekNamedPipe(p->out, NULL, 0, NULL, &avail, NULL)) return 0; /* writer gone */
    if (avail > 0) {
      DWORD want = avail < cap ? avail : (DWORD)cap;
      return ReadFile(p->out, buf, want, &got, NULL) ? (long)got : 0;
    }
    if (os_now_ms() >= end) return -1;
    Sleep(5);
  }
}

bool proc_write(proc_t *p, const void *buf, size_t len) {
  DWORD done = 0;
  return p->in != NULL && WriteFile(p->in, buf, (DWORD)len, &done, NULL) && done == len;
}

void proc_close_stdin(proc_t *p) {
  if (p->in != NULL) CloseHandle(p->in);
  p->in = NULL;
}

/* GenerateConsoleCtrlEvent: "CTRL_C_EVENT ... This signal cannot be limited to a specific
 * process group", and with group 0 "the signal is generated in all processes that share
 * the console of the calling process": this driver too. */
bool proc_can_interrupt(void) { return false; }

bool proc_interrupt(proc_t *p) {
  (void)p;
  return false;
}

static void proc_free(proc_t *p) {
  proc_close_stdin(p);
  CloseHandle(p->out);
  CloseHandle(p->process);
  free(p);
}

int proc_wait(proc_t *p, unsigned ms) {
  DWORD code = 0;
  if (WaitForSingleObject(p->process, ms) != WAIT_OBJECT_0) {
    TerminateProcess(p->process, 255);
    WaitForSingleObject(p->process, INFINITE);
    proc_free(p);
    return -1;
  }
  GetExitCodeProcess(p->process, &code);
  proc_free(p);
  return (int)code;
}

void proc_kill(proc_t *p) {
  TerminateProcess(p->process, 255);
  WaitForSingleObject(p->process, INFINITE);
  proc_free(p);
}
