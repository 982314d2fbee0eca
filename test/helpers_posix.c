/* helpers.h for POSIX: plain BSD sockets on 127.0.0.1, pthreads, and the notification
 * recorder. Every unexpected OS error fails the test where it happened.
 *
 * Timeouts here (DISPOSED waits, th_rec_wait) are multiplied by RASIO_TEST_TIMEOUT_SCALE,
 * like the runner's, so slow hosts (valgrind, Wine) stretch them together.
 */
#define _POSIX_C_SOURCE 200809L
#define _DARWIN_C_SOURCE /* macOS: keep BSD socket declarations visible */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS lacks it; the runner ignores SIGPIPE in every test child */
#endif

#define FAIL_OS(what) rt_fail(__FILE__, __LINE__, "%s: %s", (what), strerror(errno))
#define DISPOSE_WAIT_MS 5000u

static unsigned scaled(unsigned ms) {
  const char *env = getenv("RASIO_TEST_TIMEOUT_SCALE");
  double scale = env != NULL ? strtod(env, NULL) : 1.0;
  return scale > 1.0 ? (unsigned)(ms * scale) : ms;
}

static bool would_block(void) { return errno == EAGAIN || errno == EWOULDBLOCK; }

/* --- sockets ---------------------------------------------------------------------------- */

static struct sockaddr_in loopback(uint16_t port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) FAIL_OS("fcntl(O_NONBLOCK)");
}

static void set_nodelay(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    FAIL_OS("setsockopt(TCP_NODELAY)");
}

/* Close-on-exec keeps test sockets out of any process a test starts. */
static int new_socket(int type) {
  int fd = socket(AF_INET, type, 0);
  if (fd < 0) FAIL_OS("socket");
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) FAIL_OS("fcntl(FD_CLOEXEC)");
  return fd;
}

static void bind_loopback(int fd) {
  struct sockaddr_in sa = loopback(0);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) FAIL_OS("bind(127.0.0.1:0)");
}

static uint16_t local_port(int fd) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) FAIL_OS("getsockname");
  return ntohs(sa.sin_port);
}

rasio_fd_t th_listener(uint16_t *port) {
  int fd = new_socket(SOCK_STREAM);
  bind_loopback(fd);
  if (listen(fd, 128) != 0) FAIL_OS("listen");
  set_nonblock(fd);
  if (port != NULL) *port = local_port(fd);
  return fd;
}

rasio_fd_t th_accept(rasio_fd_t listener) {
  int fd;
  do {
    fd = accept((int)listener, NULL, NULL);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0 && (would_block() || errno == ECONNABORTED)) return RASIO_INVALID_FD;
  if (fd < 0) FAIL_OS("accept");
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) FAIL_OS("fcntl(FD_CLOEXEC)");
  set_nonblock(fd); /* Linux does not inherit O_NONBLOCK from the listener; BSD does */
  set_nodelay(fd);
  return fd;
}

rasio_fd_t th_connect_start(uint16_t port) {
  int fd = new_socket(SOCK_STREAM);
  set_nonblock(fd);
  set_nodelay(fd);
  struct sockaddr_in sa = loopback(port);
  /* Some kernels refuse a loopback connect on the spot rather than later through SO_ERROR;
   * either way the socket reports the failure as writeable, which is what tests watch. */
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS &&
      errno != ECONNREFUSED)
    FAIL_OS("connect");
  return fd;
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
  int fd = new_socket(SOCK_STREAM);
  bind_loopback(fd);
  return local_port(fd);
}

rasio_fd_t th_udp(uint16_t *port) {
  int fd = new_socket(SOCK_DGRAM);
  bind_loopback(fd);
  set_nonblock(fd);
  if (port != NULL) *port = local_port(fd);
  return fd;
}

long th_udp_send(rasio_fd_t fd, uint16_t port, const void *buf, size_t len) {
  struct sockaddr_in sa = loopback(port);
  ssize_t n;
  do {
    n = sendto((int)fd, buf, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof sa);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return would_block() || errno == ENOBUFS ? 0 : -1;
  return (long)n;
}

long th_send(rasio_fd_t fd, const void *buf, size_t len) {
  ssize_t n;
  do {
    n = send((int)fd, buf, len, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return would_block() ? 0 : -1;
  return (long)n;
}

long th_recv(rasio_fd_t fd, void *buf, size_t len) {
  ssize_t n;
  do {
    n = recv((int)fd, buf, len, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return would_block() ? -1 : -2;
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
  if (shutdown((int)fd, SHUT_WR) != 0) FAIL_OS("shutdown(SHUT_WR)");
}

void th_close(rasio_fd_t fd) {
  /* POSIX leaves the descriptor state unspecified after EINTR; Linux has closed it. */
  if (close((int)fd) != 0 && errno != EINTR) FAIL_OS("close");
}

void th_close_rst(rasio_fd_t fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  if (setsockopt((int)fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0)
    FAIL_OS("setsockopt(SO_LINGER)");
  th_close(fd);
}

int th_so_error(rasio_fd_t fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt((int)fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) FAIL_OS("getsockopt(SO_ERROR)");
  return err;
}

bool th_fd_open(rasio_fd_t fd) { return fcntl((int)fd, F_GETFD) != -1; }

/* Probing every number works on every POSIX system (no /proc); capped so a huge limit
 * stays cheap: the tests that use it never have fds that high. */
long th_open_handles(void) {
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  long n = 0;
  for (long fd = 0; fd < max; fd++) n += fcntl((int)fd, F_GETFD) != -1;
  return n;
}

/* --- time and threads ------------------------------------------------------------------- */

void th_sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

uint64_t th_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
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

/* Events whose DISPOSED arrived and that are not destroyed yet. A notification naming one
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
  pthread_cond_init(&r->cv, NULL); /* waits use CLOCK_REALTIME: macOS has no setclock */
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
