/* SPDX-License-Identifier: BSD-2-Clause */
/* The ProcessSocketNotifications provider (Windows 11, Windows Server 2022 and later).
 *
 * The function is resolved at run time, never imported: a binary must still load where it
 * is missing. Windows 10 has no such export, and neither has Wine 8: GetProcAddress finds
 * nothing there, so the AFD provider is used (a static import would load, then abort the
 * process at the first call, with Wine's "unimplemented function" stub). Microsoft's page
 * names Ws2_32.dll; some versions export it from mswsock.dll only, so both are tried, each
 * loaded from the system directory alone (LOAD_LIBRARY_SEARCH_SYSTEM32): a DLL of that
 * name beside the program or in the current directory is never picked up. PSN itself
 * cannot wait alertably, so registrations go through it and waiting goes through
 * GetQueuedCompletionStatusEx.
 */
#include "backend/win.h"
#include "internal.h"

static rasio__psn_fn resolve(void) {
  static const wchar_t *const dlls[] = {L"ws2_32.dll", L"mswsock.dll"};
  for (int i = 0; i < 2; i++) {
    HMODULE m = LoadLibraryExW(dlls[i], NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);
    if (m == NULL) continue;
    FARPROC f = GetProcAddress(m, "ProcessSocketNotifications");
    if (f != NULL) return (rasio__psn_fn)(void (*)(void))f;
  }
  return NULL;
}

static rasio__psn_fn psn(void) {
  static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
  static rasio__psn_fn fn;
  BOOL pending;
  if (InitOnceBeginInitialize(&once, 0, &pending, NULL) && pending) {
    fn = resolve();
    InitOnceComplete(&once, 0, NULL);
  }
  return fn;
}

static int probe(void) { return psn() != NULL ? 0 : RASIO_EUNAVAIL; }

/* PSN keeps its state in the kernel: nothing per port. */
static int init(rasio__win_t *w) {
  (void)w;
  return 0;
}

static void fini(rasio__win_t *w) { (void)w; }

static DWORD ctl(rasio__win_t *w, rasio__psn_reg_t *regs, UINT32 n) {
  DWORD rc = psn()(w->port, n, regs, 0, 0, NULL, NULL);
  /* Without a completion array the call only registers: WAIT_TIMEOUT cannot mean "no
   * change", and the per-entry results are what count. */
  return rc == WAIT_TIMEOUT ? ERROR_SUCCESS : rc;
}

static DWORD wait(rasio__win_t *w, OVERLAPPED_ENTRY *out, ULONG max, DWORD timeout_ms,
                  ULONG *got) {
  return rasio__win_dequeue(w->port, out, max, timeout_ms, got);
}

const rasio__win_provider_t rasio__provider_psn = {
    .name = "psn",
    .enable_empty = false,
    .probe = probe,
    .init = init,
    .fini = fini,
    .ctl = ctl,
    .wait = wait,
};
