/* SPDX-License-Identifier: BSD-2-Clause */
/* bench-loadgen: the neutral load generator every echo server is measured with.
 *
 * Written on raw epoll, one thread, so no library under test generates load. Usage:
 *   bench-loadgen --port P --workload pingpong|pump|churn --conns N --size B
 *                 --seconds S --warmup W [--idle K] [--server-pid PID] [--messages M]
 * Workloads:
 *   pingpong  N connections; each writes one B-byte message and waits for all of its echo
 *             before writing the next. Rate: messages/s; round-trip latency percentiles.
 *   pump      N connections each keep up to WINDOW bytes in flight, written in chunks of at
 *             most B, and read the echo. Rate: MB/s (10^6 bytes) of verified echo.
 *   churn     N slots; each connects, writes B bytes, reads the echo, closes, repeats.
 *             Rate: connections/s; latency is connect start to echo complete. Connections
 *             come from rotating source addresses: see bind_source.
 *   --idle K  opens K more connections first that never send, and checks that the server
 *             accepted them all before the workload starts and that they stay silent and
 *             open to the end.
 *   --messages M  (pingpong) starts exactly M messages in all, then drains: the run ends
 *             when all M came back or S seconds passed, whichever is first (seconds then
 *             reports the window's actual length). For counts of work per message, such as
 *             bench/callgrind.sh's instructions, where a rate is beside the point.
 * After W seconds of warm-up, S seconds are measured. Then no new work starts and everything
 * in flight must come back within DRAIN_NS. Every echoed byte is compared with what was sent
 * (see the pattern below); any mismatch, extra or missing byte, EOF, reset or failed connect
 * prints a message on stderr and exits 1.
 *
 * Output: one line of key=value pairs on stdout. msgs, bytes and rate cover the measured
 * window; total_msgs counts everything completed from the first byte to the end of the drain
 * (warm-up included: it is what the server processed). For pump a "message" is B bytes of
 * echo. loadgen_busy is the share of one CPU this program used in the window: near 1.00 the
 * load generator, not the server, set the rate. With --server-pid, server_cpu_s is the
 * server's user+sys CPU time (all threads, from /proc, 10 ms ticks) over the measured window
 * and server_rss_kib its peak resident set so far (VmHWM), read after the drain. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 512
#define IO_BUF (256 * 1024)
#define PUMP_WINDOW (256 * 1024) /* bytes in flight per pump connection */
#define CONNECTS_IN_FLIGHT 256   /* well under the server's backlog and tcp_max_syn_backlog */
#define SETUP_NS (20 * NS_PER_S) /* connecting and accepting every connection */
#define DRAIN_NS (5 * NS_PER_S)  /* for everything in flight to come back at the end */
#define NS_PER_S 1000000000ull

typedef enum { WL_PINGPONG, WL_PUMP, WL_CHURN } workload_t;

/* One connection. Its stream offsets count bytes since it opened: sent were written,
 * recvd came back and matched, goal is where the current message ends (pingpong, churn). */
typedef struct conn {
  int fd;
  int idle;       /* one of the --idle connections: must never see data or EOF */
  int connecting; /* connect() issued, completion not seen yet */
  int busy;       /* holds work that must come back before the drain can end */
  uint64_t id;    /* the pattern key: unique for every connection ever opened */
  uint64_t sent, recvd, goal;
  uint64_t t_start; /* when the current message (churn: connection) started */
} conn_t;

static struct {
  /* options */
  int port;
  workload_t wl;
  int nconns, nidle, server_pid;
  size_t size;
  double seconds, warmup;
  /* run state */
  int ep;
  conn_t *conns; /* nconns active connections, then nidle idle ones */
  uint64_t next_id;
  int connecting;  /* connects in flight */
  int outstanding; /* connections with busy set */
  uint64_t max_msgs, started; /* --messages (0: no limit), messages started so far */
  int draining;
  uint64_t win_start, win_end; /* the measured window, CLOCK_MONOTONIC ns */
  /* results */
  uint64_t msgs, total_msgs, bytes, total_bytes;
  double cpu_at_start, cpu_at_end; /* the server's */
  double own_at_start, own_at_end;
  int cpu_started, cpu_ended;
} G;

static uint8_t iobuf[IO_BUF];

/* ------------------------------------------------------------------ failure and time */

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("loadgen: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ the byte pattern
 *
 * Byte o of connection id c is T[(o mod 64Ki + 7919 c) mod 64Ki] ^ K(c, o / 64Ki): T is a
 * fixed pseudo-random table and K a hashed key per 64 KiB block. Different connections read T
 * at different phases and use different keys, so cross-talk fails; within one connection no
 * shift by any amount reproduces the stream, so loss, duplication and reordering fail. The
 * table is stored twice so a span within one block is read without wrapping, which keeps
 * the inner loops simple enough for the compiler to vectorise. */

#define PAT_BLOCK 65536u

static uint8_t pat_table[2 * PAT_BLOCK];

static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static void pat_init(void) {
  uint32_t i;
  for (i = 0; i < PAT_BLOCK; i++) pat_table[i] = pat_table[i + PAT_BLOCK] = (uint8_t)mix64(i);
}

/* The table offset and key for the block holding offset off of connection c. */
static const uint8_t *pat_span(uint64_t c, uint64_t off, uint8_t *key) {
  *key = (uint8_t)mix64((c << 40) ^ (off / PAT_BLOCK));
  return pat_table + ((off + c * 7919u) % PAT_BLOCK);
}

/* The length of the piece of [off, off + n) that stays within one block. */
static size_t pat_piece(uint64_t off, size_t n) {
  size_t room = PAT_BLOCK - (size_t)(off % PAT_BLOCK);
  return n < room ? n : room;
}

static void pat_fill(uint64_t c, uint64_t off, uint8_t *dst, size_t n) {
  while (n > 0) {
    uint8_t key;
    const uint8_t *t = pat_span(c, off, &key);
    size_t i, len = pat_piece(off, n);
    for (i = 0; i < len; i++) dst[i] = t[i] ^ key;
    dst += len;
    off += len;
    n -= len;
  }
}

/* Fails the run unless src[0..n) is what connection c sent at offset off. */
static void pat_check(const conn_t *c, uint64_t off, const uint8_t *src, size_t n) {
  uint64_t at = off;
  while (n > 0) {
    uint8_t key, diff = 0;
    const uint8_t *t = pat_span(c->id, at, &key);
    size_t i, len = pat_piece(at, n);
    for (i = 0; i < len; i++) diff |= (uint8_t)(src[i] ^ t[i] ^ key);
    if (diff != 0) {
      for (i = 0; (uint8_t)(src[i] ^ t[i] ^ key) == 0; i++) continue;
      fail("connection %llu: echoed byte at offset %llu is 0x%02x, sent 0x%02x",
           (unsigned long long)c->id, (unsigned long long)(at + i), src[i], (unsigned)(t[i] ^ key));
    }
    src += len;
    at += len;
    n -= len;
  }
}

/* ------------------------------------------------------------------ latency histogram
 *
 * Log buckets with 32 linear sub-buckets per power of two (HdrHistogram's idea): values
 * below 32 ns are exact, larger ones land within 1/32 (3 %) of their true value. */

#define HIST_SUB 32u
#define HIST_SIZE (60 * HIST_SUB)

static uint64_t hist[HIST_SIZE];
static uint64_t hist_count;

static unsigned hist_index(uint64_t v) {
  unsigned e;
  if (v < HIST_SUB) return (unsigned)v;
  e = 63u - (unsigned)__builtin_clzll(v); /* v >= 32, so e >= 5 */
  return (e - 4u) * HIST_SUB + (unsigned)((v >> (e - 5u)) - HIST_SUB);
}

/* The middle of bucket idx, in ns. */
static double hist_value(unsigned idx) {
  unsigned e;
  uint64_t low, width;
  if (idx < HIST_SUB) return idx;
  e = idx / HIST_SUB + 4u;
  low = (uint64_t)(idx % HIST_SUB + HIST_SUB) << (e - 5u);
  width = 1ull << (e - 5u);
  return (double)low + (double)(width - 1) / 2.0;
}

static void hist_add(uint64_t ns) {
  hist[hist_index(ns)]++;
  hist_count++;
}

/* The q-quantile (0 < q <= 1) in microseconds, or -1 with no samples. */
static double hist_quantile_us(double q) {
  uint64_t rank = (uint64_t)(q * (double)hist_count + 0.999999), seen = 0;
  unsigned i;
  if (hist_count == 0) return -1;
  if (rank < 1) rank = 1;
  for (i = 0; i < HIST_SIZE; i++) {
    seen += hist[i];
    if (seen >= rank) break;
  }
  return hist_value(i) / 1000.0;
}

/* ------------------------------------------------------------------ accounting */

/* Server CPU seconds (user + sys of all its threads) from /proc/PID/stat, or -1. */
static double server_cpu(void) {
  char line[1024], *p;
  unsigned long ut, st;
  FILE *f;
  size_t n;
  snprintf(line, sizeof line, "/proc/%d/stat", G.server_pid);
  if ((f = fopen(line, "r")) == NULL) return -1;
  n = fread(line, 1, sizeof line - 1, f);
  fclose(f);
  line[n] = '\0';
  /* utime and stime are fields 14 and 15; the command name (field 2) may hold spaces,
   * so count from the last ')'. */
  if ((p = strrchr(line, ')')) == NULL) return -1;
  if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The server's peak resident set (VmHWM, KiB) from /proc/PID/status, or -1. Unlike
 * getrusage's ru_maxrss, VmHWM belongs to the process's own address space: ru_maxrss also
 * keeps the peak of whatever process forked it before the exec (the benchmark's shell). */
static long server_hwm_kib(void) {
  char line[256];
  long kib = -1;
  FILE *f;
  snprintf(line, sizeof line, "/proc/%d/status", G.server_pid);
  if ((f = fopen(line, "r")) == NULL) return -1;
  while (fgets(line, sizeof line, f) != NULL) {
    if (sscanf(line, "VmHWM: %ld", &kib) == 1) break;
  }
  fclose(f);
  return kib;
}

/* This process's CPU time in seconds. */
static double own_cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Samples server and own CPU time as the clock crosses the window's edges. */
static void track_window(uint64_t t) {
  if (!G.cpu_started && t >= G.win_start) {
    G.cpu_at_start = G.server_pid > 0 ? server_cpu() : 0;
    G.own_at_start = own_cpu();
    G.cpu_started = 1;
  }
  if (!G.cpu_ended && t >= G.win_end) {
    G.cpu_at_end = G.server_pid > 0 ? server_cpu() : 0;
    G.own_at_end = own_cpu();
    G.cpu_ended = 1;
  }
}

static int in_window(uint64_t t) { return t >= G.win_start && t < G.win_end; }

/* A message (pingpong) or connection (churn) came back whole at time t. */
static void count_message(const conn_t *c, uint64_t t) {
  G.total_msgs++;
  if (!in_window(t)) return;
  G.msgs++;
  hist_add(t - c->t_start);
}

/* n more bytes of echo matched. */
static void count_bytes(size_t n, uint64_t t) {
  G.total_bytes += n;
  if (in_window(t)) G.bytes += n;
}

static void set_busy(conn_t *c, int busy) {
  if (c->busy == busy) return;
  c->busy = busy;
  G.outstanding += busy ? 1 : -1;
}

/* ------------------------------------------------------------------ socket helpers */

/* Writes from c->sent up to c->sent + n, pattern generated on the way. Returns 1 when all
 * went out, 0 when the socket is full (an EPOLLOUT edge will follow). */
static int send_stream(conn_t *c, size_t n) {
  while (n > 0) {
    size_t len = n < IO_BUF ? n : IO_BUF;
    ssize_t w;
    pat_fill(c->id, c->sent, iobuf, len);
    w = write(c->fd, iobuf, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      fail("connection %llu: write: %s", (unsigned long long)c->id, strerror(errno));
    }
    c->sent += (uint64_t)w;
    n -= (size_t)w;
    if ((size_t)w < len) return 0;
  }
  return 1;
}

/* Reads and checks at most want bytes of echo. Returns the count read; *drained is set when
 * the receive queue is known to be empty now (EAGAIN or a short read), so that a new edge
 * will announce more. EOF and errors fail the run. */
static size_t recv_stream(conn_t *c, size_t want, int *drained) {
  ssize_t r;
  *drained = 0;
  if (want > IO_BUF) want = IO_BUF;
  do {
    r = read(c->fd, iobuf, want);
  } while (r < 0 && errno == EINTR);
  if (r < 0 && errno == EAGAIN) {
    *drained = 1;
    return 0;
  }
  if (r < 0) fail("connection %llu: read: %s", (unsigned long long)c->id, strerror(errno));
  if (r == 0)
    fail("connection %llu: unexpected EOF after %llu of %llu bytes echoed",
         (unsigned long long)c->id, (unsigned long long)c->recvd, (unsigned long long)c->sent);
  pat_check(c, c->recvd, iobuf, (size_t)r);
  c->recvd += (uint64_t)r;
  *drained = (size_t)r < want;
  return (size_t)r;
}

/* Churn: binds the socket to one of the source addresses 127.0.0.2-254 (all of 127/8 is
 * local), leaving the port to connect() (IP_BIND_ADDRESS_NO_PORT).
 *
 * Why: the client closes first, so every churned connection leaves a TIME_WAIT on the
 * client's side for 60 s. Debian's tcp_tw_reuse=2 lets connect() take over one older than
 * 1 s, so ports never ran out here (28k ephemeral ports, 14-27k connections/s), but from one
 * source address connect() must walk past every port whose TIME_WAIT for this server is
 * younger than that: with ~100k TIME_WAITs left by earlier rows, __inet_hash_connect and
 * its checks took a quarter of this program's CPU and halved the churn rate (14k instead of
 * 24-27k/s against the floor, p99 63 ms instead of 2.5 ms). Once tcp_max_tw_buckets
 * (131072) is full, new closes skip TIME_WAIT and the walk vanishes again, so the result
 * depended on what ran before. Spread over 253 addresses the first port tried is free:
 * steady 24k/s, for the cost of two cheap syscalls per connection, the same for every
 * server. */
static void bind_source(int fd, uint64_t id) {
  struct sockaddr_in sin;
  int one = 1;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(id % 253));
  if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0 ||
      bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
    fail("binding a source address: %s", strerror(errno));
}

/* Starts a non-blocking connect on c, registered edge-triggered for both directions once. */
static void conn_open(conn_t *c) {
  struct sockaddr_in sin;
  struct epoll_event ev;
  int one = 1;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons((unsigned short)G.port);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) fail("socket: %s", strerror(errno));
  if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
    fail("TCP_NODELAY: %s", strerror(errno));
  if (G.wl == WL_CHURN) bind_source(c->fd, G.next_id);
  if (connect(c->fd, (struct sockaddr *)&sin, sizeof sin) < 0 && errno != EINPROGRESS)
    fail("connect to port %d: %s", G.port, strerror(errno));
  ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
  ev.data.ptr = c;
  if (epoll_ctl(G.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) fail("epoll_ctl: %s", strerror(errno));
  c->id = G.next_id++;
  c->sent = c->recvd = c->goal = 0;
  c->connecting = 1;
  G.connecting++;
}

/* The first event after connect(): succeeds or fails the run. */
static void conn_connected(conn_t *c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err != 0) fail("connect to port %d: %s", G.port, strerror(err));
  c->connecting = 0;
  G.connecting--;
}

/* ------------------------------------------------------------------ workloads */

/* Whether --messages M were all started (never, without --messages). */
static int all_started(void) { return G.max_msgs > 0 && G.started >= G.max_msgs; }

/* Pingpong and churn: writes the next B-byte message (churn: the only one). */
static void message_start(conn_t *c, uint64_t t) {
  G.started++;
  c->goal = c->sent + G.size;
  c->t_start = t;
  set_busy(c, 1);
  send_stream(c, G.size);
}

/* Sends what is left of the message and reads toward c->goal. Returns 1 when the whole
 * message is back, 0 when waiting for more (a later edge brings it). */
static int message_read(conn_t *c) {
  int drained = 0;
  if (c->sent < c->goal) send_stream(c, (size_t)(c->goal - c->sent)); /* rest: on EPOLLOUT */
  while (c->recvd < c->goal && !drained) recv_stream(c, (size_t)(c->goal - c->recvd), &drained);
  return c->recvd == c->goal;
}

static void pingpong_event(conn_t *c) {
  uint64_t t;
  if (!c->busy || !message_read(c)) return;
  t = now_ns();
  count_message(c, t);
  set_busy(c, 0);
  /* The echo of the next message will arrive after this write, raising a new edge. */
  if (!G.draining && !all_started()) message_start(c, t);
}

/* Churn: connected -> write the message; echo complete -> close and reconnect. */
static void churn_event(conn_t *c, uint32_t events) {
  uint64_t t;
  if (c->connecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    conn_connected(c);
    message_start(c, c->t_start); /* its echo arrives later, raising a new edge */
    return;
  }
  if (!c->busy || !message_read(c)) return;
  t = now_ns();
  count_message(c, t);
  set_busy(c, 0);
  close(c->fd); /* the client closes first, so TIME_WAIT stays on the client's side */
  c->fd = -1;
  if (!G.draining) {
    conn_open(c);
    c->t_start = t;
    set_busy(c, 1);
  }
}

/* Pump: read all the echo there is, then top the window up again. */
static void pump_event(conn_t *c) {
  int drained = 0;
  while (c->recvd < c->sent && !drained) {
    size_t n = recv_stream(c, (size_t)(c->sent - c->recvd), &drained);
    if (n > 0) count_bytes(n, now_ns());
  }
  if (!G.draining) {
    uint64_t room = PUMP_WINDOW - (c->sent - c->recvd);
    while (room > 0) {
      size_t n = room < G.size ? (size_t)room : G.size;
      if (!send_stream(c, n)) break;
      room -= n;
    }
  }
  if (G.draining && c->recvd == c->sent) set_busy(c, 0);
}

static void idle_event(conn_t *c, uint32_t events) {
  if (c->connecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    conn_connected(c);
    events &= ~(uint32_t)EPOLLOUT;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
    fail("idle connection %llu: the server sent data, closed or reset it",
         (unsigned long long)c->id);
}

static void dispatch(conn_t *c, uint32_t events) {
  if (c->idle) {
    idle_event(c, events);
  } else if (G.wl == WL_CHURN) {
    churn_event(c, events);
  } else if (c->connecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) conn_connected(c);
  } else if (G.wl == WL_PINGPONG) {
    pingpong_event(c);
  } else {
    pump_event(c);
  }
}

/* ------------------------------------------------------------------ the loop */

/* Dispatches events until done() says so (returns 1) or the deadline passes (returns 0). */
static int run_until(uint64_t deadline, int (*done)(void)) {
  struct epoll_event evs[MAX_EVENTS];
  for (;;) {
    uint64_t t = now_ns();
    int i, n, ms;
    track_window(t);
    if (done != NULL && done()) return 1;
    if (t >= deadline) return 0;
    ms = (int)((deadline - t) / 1000000u) + 1;
    n = epoll_wait(G.ep, evs, MAX_EVENTS, ms > 100 ? 100 : ms);
    if (n < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
    for (i = 0; i < n; i++) dispatch(evs[i].data.ptr, evs[i].events);
  }
}

static int few_connecting(void) { return G.connecting < CONNECTS_IN_FLIGHT; }
static int none_connecting(void) { return G.connecting == 0; }
static int none_outstanding(void) { return G.outstanding == 0; }

/* Opens conns[from..to), keeping at most CONNECTS_IN_FLIGHT connects pending. */
static void open_all(int from, int to, uint64_t deadline) {
  int i;
  for (i = from; i < to; i++) {
    if (!run_until(deadline, few_connecting)) fail("timed out connecting");
    conn_open(&G.conns[i]);
  }
  if (!run_until(deadline, none_connecting)) fail("timed out connecting");
}

/* Counts, from /proc/net/tcp, the server-side sockets of port P that are established and
 * the length of its listening socket's accept queue. */
static void scan_server_sockets(long *established, long *queued) {
  char line[512];
  FILE *f = fopen("/proc/net/tcp", "r");
  if (f == NULL) fail("/proc/net/tcp: %s", strerror(errno));
  *established = *queued = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned lport, st;
    unsigned long rxq;
    if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %*x:%lx", &lport, &st, &rxq) != 3) continue;
    if ((int)lport != G.port) continue;
    if (st == 0x01) (*established)++;
    if (st == 0x0A) *queued = (long)rxq; /* for a listener, rx_queue is the accept backlog */
  }
  fclose(f);
}

/* Waits until the server has accept()ed at least want connections: the kernel holds that
 * many established sockets on its port and none is still waiting in the accept queue. */
static void wait_accepted(long want, uint64_t deadline) {
  long est = 0, queued = 0;
  for (;;) {
    scan_server_sockets(&est, &queued);
    if (est - queued >= want) return;
    if (now_ns() >= deadline)
      fail("the server accepted %ld of %ld connections in time", est - queued, want);
    run_until(now_ns() + 50000000u, NULL); /* each scan reads every TCP socket */
  }
}

/* After the drain, a connection must hold nothing more and still be open. */
static void check_quiet(const conn_t *c) {
  uint8_t b;
  ssize_t r = recv(c->fd, &b, 1, MSG_DONTWAIT);
  if (r > 0)
    fail("connection %llu: extra data after all %llu bytes came back", (unsigned long long)c->id,
         (unsigned long long)c->sent);
  if (r == 0) fail("connection %llu: closed by the server", (unsigned long long)c->id);
  if (errno != EAGAIN) fail("connection %llu: %s", (unsigned long long)c->id, strerror(errno));
}

/* ------------------------------------------------------------------ main */

static void usage(void) {
  fprintf(stderr,
          "usage: bench-loadgen --port P --workload pingpong|pump|churn --conns N --size B\n"
          "                     --seconds S --warmup W [--idle K] [--server-pid PID]\n"
          "                     [--messages M (pingpong)]\n");
  exit(2);
}

static void parse_args(int argc, char **argv) {
  const char *wl = NULL;
  int i;
  G.nconns = 1;
  G.size = 64;
  G.seconds = 2;
  for (i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (strcmp(k, "--port") == 0)
      G.port = atoi(v);
    else if (strcmp(k, "--workload") == 0)
      wl = v;
    else if (strcmp(k, "--conns") == 0)
      G.nconns = atoi(v);
    else if (strcmp(k, "--size") == 0)
      G.size = (size_t)strtoul(v, NULL, 10);
    else if (strcmp(k, "--seconds") == 0)
      G.seconds = atof(v);
    else if (strcmp(k, "--warmup") == 0)
      G.warmup = atof(v);
    else if (strcmp(k, "--idle") == 0)
      G.nidle = atoi(v);
    else if (strcmp(k, "--server-pid") == 0)
      G.server_pid = atoi(v);
    else if (strcmp(k, "--messages") == 0)
      G.max_msgs = strtoull(v, NULL, 10);
    else
      usage();
  }
  if (i != argc || wl == NULL || G.port <= 0 || G.port > 65535 || G.nconns < 1 || G.size < 1 ||
      G.seconds <= 0 || G.warmup < 0 || G.nidle < 0)
    usage();
  if (strcmp(wl, "pingpong") == 0)
    G.wl = WL_PINGPONG;
  else if (strcmp(wl, "pump") == 0)
    G.wl = WL_PUMP;
  else if (strcmp(wl, "churn") == 0)
    G.wl = WL_CHURN;
  else
    usage();
  if (G.max_msgs > 0 && G.wl != WL_PINGPONG) usage();
}

/* Lifts the descriptor limit to the hard limit and checks the run fits under it. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) fail("getrlimit: %s", strerror(errno));
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0) fail("setrlimit: %s", strerror(errno));
  if ((rlim_t)G.nconns + (rlim_t)G.nidle + 16 > rl.rlim_cur)
    fail("%d connections need more descriptors than RLIMIT_NOFILE (%llu)", G.nconns + G.nidle,
         (unsigned long long)rl.rlim_cur);
}

/* Kicks every active connection off at time t. */
static void start_workload(uint64_t t) {
  int i;
  for (i = 0; i < G.nconns; i++) {
    conn_t *c = &G.conns[i];
    if (G.wl == WL_PINGPONG) {
      if (!all_started()) message_start(c, t);
    } else if (G.wl == WL_PUMP) {
      set_busy(c, 1);
      pump_event(c);
    } else {
      conn_open(c);
      c->t_start = t;
      set_busy(c, 1);
    }
  }
}

/* Stops new work, waits for all in flight, checks every connection is clean. */
static void drain(void) {
  int i;
  G.draining = 1;
  for (i = 0; i < G.nconns; i++) {
    conn_t *c = &G.conns[i];
    if (G.wl == WL_PUMP && c->recvd == c->sent) set_busy(c, 0);
  }
  if (!run_until(now_ns() + DRAIN_NS, none_outstanding))
    fail("%d connections still waiting for their echo %.0f s after the end", G.outstanding,
         (double)DRAIN_NS / NS_PER_S);
  for (i = 0; i < G.nconns + G.nidle; i++) {
    if (G.conns[i].fd >= 0) check_quiet(&G.conns[i]);
  }
}

static void report(void) {
  int pump = G.wl == WL_PUMP;
  const char *names[] = {"pingpong", "pump", "churn"};
  const char *units[] = {"msg/s", "MB/s", "conn/s"};
  uint64_t msgs = pump ? G.bytes / G.size : G.msgs;
  uint64_t total = pump ? G.total_bytes / G.size : G.total_msgs;
  double rate = pump ? (double)G.bytes / 1e6 / G.seconds : (double)G.msgs / G.seconds;
  printf(
      "workload=%s conns=%d size=%zu idle=%d seconds=%.2f msgs=%llu bytes=%llu rate=%.*f "
      "unit=%s",
      names[G.wl], G.nconns, G.size, G.nidle, G.seconds, (unsigned long long)msgs,
      (unsigned long long)(pump ? G.bytes : G.msgs * G.size), pump ? 1 : 0, rate, units[G.wl]);
  if (pump)
    printf(" p50_us=NA p99_us=NA p999_us=NA");
  else
    printf(" p50_us=%.1f p99_us=%.1f p999_us=%.1f", hist_quantile_us(0.5), hist_quantile_us(0.99),
           hist_quantile_us(0.999));
  printf(" total_msgs=%llu loadgen_busy=%.2f", (unsigned long long)total,
         (G.own_at_end - G.own_at_start) / G.seconds);
  if (G.server_pid > 0) {
    if (G.cpu_at_start < 0 || G.cpu_at_end < 0) fail("cannot read /proc/%d/stat", G.server_pid);
    long hwm = server_hwm_kib();
    if (hwm < 0) fail("cannot read /proc/%d/status", G.server_pid);
    printf(" server_cpu_s=%.2f server_rss_kib=%ld", G.cpu_at_end - G.cpu_at_start, hwm);
  }
  printf("\n");
}

int main(int argc, char **argv) {
  uint64_t t0;
  int i;
  parse_args(argc, argv);
  raise_fd_limit();
  pat_init();
  G.ep = epoll_create1(EPOLL_CLOEXEC);
  if (G.ep < 0) fail("epoll_create1: %s", strerror(errno));
  G.conns = calloc((size_t)(G.nconns + G.nidle), sizeof *G.conns);
  if (G.conns == NULL) fail("out of memory");
  for (i = 0; i < G.nconns + G.nidle; i++) {
    G.conns[i].fd = -1;
    G.conns[i].idle = i >= G.nconns;
  }
  t0 = now_ns();
  G.win_start = G.win_end = UINT64_MAX; /* nothing counts as measured during setup */
  if (G.nidle > 0) {
    open_all(G.nconns, G.nconns + G.nidle, t0 + SETUP_NS);
    wait_accepted(G.nidle, t0 + SETUP_NS);
  }
  if (G.wl != WL_CHURN) open_all(0, G.nconns, t0 + SETUP_NS);
  t0 = now_ns();
  G.win_start = t0 + (uint64_t)(G.warmup * 1e9);
  G.win_end = G.win_start + (uint64_t)(G.seconds * 1e9);
  track_window(t0);
  start_workload(t0);
  if (run_until(G.win_end, G.max_msgs > 0 ? all_started : NULL)) {
    uint64_t t = now_ns(); /* --messages ended the window early: its real length */
    if (t > G.win_start) G.seconds = (double)(t - G.win_start) / 1e9;
    G.win_end = t > G.win_start ? t : G.win_start;
    track_window(G.win_end);
  }
  drain();
  report();
  return 0;
}
