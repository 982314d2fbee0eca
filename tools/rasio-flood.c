/* SPDX-License-Identifier: BSD-2-Clause */
/* rasio-flood: a verified UDP echo flood through the net layer, in one process.
 *
 * A server socket on 127.0.0.1 echoes every datagram to its sender. N client sockets each
 * send D datagrams: an 8-byte header (client id, sequence number; little-endian) and S
 * payload bytes from the client's position-keyed stream at offset sequence * S (tool.h),
 * so a corrupted, truncated or misdelivered datagram fails the run.
 *
 * UDP may drop datagrams (a full socket buffer on either side, or RETRY from a send), so
 * each client keeps at most W unverified datagrams in flight and has a retransmit timer
 * that resends the ones that have not come back within the RTO. Losses here are
 * congestion (the server's receive queue overflows when N x W datagrams arrive at once),
 * and queueing delay, not the wire, sets the round trip, so each client behaves like a
 * polite TCP: the RTO follows the measured round trip (smoothed RTT + 4 x variance, from
 * datagrams sent once only) and doubles on every tick that finds losses; the congestion
 * window (the datagrams it may have in flight, 1..W) starts small, grows by one per
 * verified datagram up to a threshold (W at first) and by one per window's worth
 * beyond, and halves once per round of losses. A send that returns RETRY is not retried
 * in a loop: the datagram is marked due and the timer is pulled in to RETRY_NS. PASS
 * requires every sequence number verified exactly once; echoes of retransmitted
 * datagrams that arrive twice are ignored but counted.
 *
 * Every socket must have a port of its own: the clients are told apart by port, so a
 * port handed out twice is reported as a failure at bind time (see check_port).
 *
 * The executor, the deadline and the teardown work as in rasio-swarm.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rasio.h"
#include "tool.h"

#define PROG "rasio-flood"
#define HOST "127.0.0.1"
#define HDR 8
#define MAX_SIZE 65000 /* payload; header included it still fits an IPv4 datagram */
#define MAX_WINDOW 4096
#define MAX_DATAGRAMS 0xffffffffu /* the sequence number is 32 bits */
#define MIN_RTO_NS (20ull * 1000 * 1000)
#define INITIAL_RTO_NS (100ull * 1000 * 1000)
#define MAX_RTO_NS (2000ull * 1000 * 1000)
#define INITIAL_CWND 2
#define SERVER_RCVBUF (8 << 20)
#define RETRY_NS (1u * 1000u * 1000u)
#define SERVER_OWNER UINT32_MAX /* in port_owner */

typedef struct config {
  uint64_t clients, datagrams, size, window, seed, stall_ns;
  bool mailbox;
  const char *backend;
} config_t;

typedef struct flood flood_t;

/* A datagram in the window. */
typedef struct slot {
  uint64_t at; /* last send time; 0 = due now (never sent, or refused with RETRY) */
  bool again;  /* sent more than once: its echo says nothing about the round trip */
} slot_t;

typedef struct client {
  flood_t *f;
  rasio_udp_t *udp;     /* NULL once closed */
  rasio_event_t *timer; /* the retransmit timer; NULL once disposed */
  uint32_t id;
  tool_stream_t stream;
  uint32_t base;         /* lowest sequence not yet verified */
  uint32_t next;         /* next sequence never sent; the window is [base, next) */
  uint64_t verified;     /* sequences verified */
  uint64_t inflight;     /* sequences sent (or due) and not verified */
  uint64_t cwnd;         /* congestion window: inflight at most this (1..W) */
  uint64_t ssthresh;     /* below it the window grows fast (slow start) */
  uint64_t grown;        /* verified since cwnd last grew (above ssthresh) */
  uint32_t recover;      /* losses of sequences below this belong to the last reduction */
  uint64_t srtt, rttvar; /* round-trip estimate in ns (0: no sample yet) */
  uint64_t rto;          /* current retransmit timeout */
  bool retry_armed;      /* the timer was pulled in to RETRY_NS */
  slot_t *slots;         /* per window slot (seq % W) */
  uint8_t *seen;         /* one bit per sequence: verified */
  bool finished;
} client_t;

struct flood {
  config_t cfg;
  tool_exec_t exec;
  rasio_udp_t *server;
  bool closing_server;
  rasio_addr_t server_addr;
  client_t *clients;
  slot_t *slots_all;
  uint8_t *seen_all;
  size_t clients_open, finished;
  uint8_t *dgram;       /* the datagram being built; sends copy it */
  uint32_t *port_owner; /* per UDP port: 1 + the client bound to it (0: free; SERVER_OWNER) */
  /* Counters for the report. */
  uint64_t sent, received, verified, retransmits, duplicates, client_retries, server_retries;
  uint64_t t_start, t_end;
  tool_verdict_t verdict;
  bool tearing_down;
};

static void teardown(flood_t *f);

static void fail(flood_t *f, const char *fmt, ...) TOOL_PRINTF(2, 3);

/* Records the first failure and stops the run. */
static void fail(flood_t *f, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tool_verdict_record(&f->verdict, fmt, ap);
  va_end(ap);
  teardown(f);
}

static size_t dgram_len(const flood_t *f) { return HDR + (size_t)f->cfg.size; }

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool seen(const client_t *c, uint32_t seq) { return (c->seen[seq >> 3] >> (seq & 7)) & 1; }

static void mark_seen(client_t *c, uint32_t seq) {
  c->seen[seq >> 3] |= (uint8_t)(1u << (seq & 7));
}

/* The server goes last, once no client can send to it any more. */
static void maybe_close_server(flood_t *f) {
  if (f->server == NULL || f->closing_server || f->clients_open > 0) return;
  f->closing_server = true;
  rasio_udp_close(f->server);
}

static void client_close(client_t *c) {
  if (c->timer != NULL) (void)rasio_event_unsubscribe(c->timer); /* DISPOSED clears it */
  if (c->udp != NULL) rasio_udp_close(c->udp);
}

static void teardown(flood_t *f) {
  if (f->tearing_down) return;
  f->tearing_down = true;
  for (size_t i = 0; i < f->cfg.clients; i++) client_close(&f->clients[i]);
  maybe_close_server(f);
}

/* --- the clients ----------------------------------------------------------------------- */

/* Sends one datagram (again: it was sent or attempted before); false if it did not go
 * out (then it is due, and the timer sends it). */
static bool transmit(client_t *c, uint32_t seq, bool again) {
  flood_t *f = c->f;
  put32(f->dgram, c->id);
  put32(f->dgram + 4, seq);
  tool_stream_fill(c->stream, (uint64_t)seq * f->cfg.size, f->dgram + HDR, (size_t)f->cfg.size);
  slot_t *slot = &c->slots[seq % f->cfg.window];
  slot->again = again;
  int r = rasio_udp_send(c->udp, f->dgram, dgram_len(f), &f->server_addr);
  if (r == RASIO_IO_OK) {
    slot->at = rasio_now_ns();
    f->sent++;
    return true;
  }
  slot->at = 0;
  if (r == RASIO_IO_RETRY) {
    /* The kernel has no room now; hammering it would only spin. */
    f->client_retries++;
    if (!c->retry_armed) (void)rasio_event_set_nsec(c->timer, RETRY_NS);
    c->retry_armed = true;
    return false;
  }
  int err = rasio_sock_last_error(); /* this datagram failed; the socket is still open */
  fail(f, "client %" PRIu32 ": rasio_udp_send: %s", c->id, rasio_strerror(err));
  return false;
}

/* Sends new sequence numbers while both windows have room. */
static void pump(client_t *c) {
  uint64_t window = c->f->cfg.window, total = c->f->cfg.datagrams;
  while (c->udp != NULL && c->next < total && c->next - c->base < window && c->inflight < c->cwnd) {
    c->inflight++;
    if (!transmit(c, c->next++, false)) break;
  }
}

/* A round trip measured on a datagram sent once (Karn): the RTO follows the estimate. */
static void rtt_sample(client_t *c, uint64_t rtt) {
  if (c->srtt == 0) {
    c->srtt = rtt;
    c->rttvar = rtt / 2;
  } else {
    uint64_t dev = rtt > c->srtt ? rtt - c->srtt : c->srtt - rtt;
    c->rttvar = (3 * c->rttvar + dev) / 4;
    c->srtt = (7 * c->srtt + rtt) / 8;
  }
  uint64_t rto = c->srtt + 4 * c->rttvar;
  c->rto = rto < MIN_RTO_NS ? MIN_RTO_NS : rto > MAX_RTO_NS ? MAX_RTO_NS : rto;
}

/* Resends up to cwnd of what has been out for longer than the RTO (and what RETRY left
 * due), oldest first. Returns how many were lost; *fresh tells whether a loss was sent
 * after the last window reduction (a new round of losses). */
static uint64_t resend_overdue(client_t *c, bool *fresh) {
  flood_t *f = c->f;
  uint64_t now = rasio_now_ns(), lost = 0, budget = c->cwnd;
  *fresh = false;
  for (uint32_t seq = c->base; seq < c->next && c->udp != NULL && budget > 0; seq++) {
    if (seen(c, seq)) continue;
    uint64_t at = c->slots[seq % f->cfg.window].at;
    if (at != 0 && now - at < c->rto) continue;
    if (at != 0) {
      lost++;
      *fresh = *fresh || seq >= c->recover;
    }
    budget--;
    if (!transmit(c, seq, true)) break;
  }
  f->retransmits += lost;
  return lost;
}

/* Every RTO: on losses, back off the timer (until the next sample resets it) and, once
 * per round, the window. */
static void client_tick(client_t *c) {
  if (c->udp == NULL) return;
  c->retry_armed = false;
  bool fresh;
  if (resend_overdue(c, &fresh) > 0) {
    if (fresh) {
      c->ssthresh = c->cwnd > 1 ? c->cwnd / 2 : 1;
      c->cwnd = c->ssthresh;
      c->grown = 0;
      c->recover = c->next;
    }
    c->rto = c->rto * 2 < MAX_RTO_NS ? c->rto * 2 : MAX_RTO_NS;
  }
  /* Unless a RETRY above asked for an earlier tick (it re-armed to RETRY_NS). */
  if (c->udp != NULL && !c->retry_armed) (void)rasio_event_set_nsec(c->timer, c->rto);
  pump(c);
}

/* Slow start below ssthresh, then one more datagram in flight per window's worth. */
static void grow_window(client_t *c) {
  if (c->cwnd >= c->f->cfg.window) return;
  if (c->cwnd < c->ssthresh) {
    c->cwnd++;
  } else if (++c->grown >= c->cwnd) {
    c->cwnd++;
    c->grown = 0;
  }
}

static void client_timer(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx) {
  (void)arg;
  client_t *c = ctx;
  if (flags & RASIO_DISPOSED) {
    (void)rasio_event_destroy(ev);
    c->timer = NULL;
  } else if (flags & RASIO_TIMER) {
    client_tick(c);
  }
}

static void client_done(client_t *c) {
  flood_t *f = c->f;
  c->finished = true;
  if (++f->finished == f->cfg.clients) f->t_end = rasio_now_ns();
  client_close(c);
}

/* Checks one echoed datagram; false (after fail) if it is not one this client sent. */
static bool check_datagram(client_t *c, const uint8_t *d, size_t len, uint32_t *seq) {
  flood_t *f = c->f;
  if (len != dgram_len(f)) {
    fail(f, "client %" PRIu32 ": a datagram of %zu bytes, expected %zu", c->id, len, dgram_len(f));
    return false;
  }
  uint32_t id = get32(d);
  *seq = get32(d + 4);
  if (id != c->id) {
    fail(f, "client %" PRIu32 ": received client %" PRIu32 "'s datagram", c->id, id);
    return false;
  }
  if (*seq >= c->next) {
    fail(f, "client %" PRIu32 ": sequence %" PRIu32 " was never sent", c->id, *seq);
    return false;
  }
  if (seen(c, *seq)) return true; /* a duplicate: its payload was checked the first time */
  uint64_t off = (uint64_t)*seq * f->cfg.size;
  size_t bad = tool_stream_check(c->stream, off, d + HDR, (size_t)f->cfg.size);
  if (bad < f->cfg.size) {
    fail(f,
         "client %" PRIu32 ": sequence %" PRIu32
         ", payload byte %zu: expected 0x%02x, got "
         "0x%02x",
         c->id, *seq, bad, tool_stream_byte(c->stream, off + bad), d[HDR + bad]);
    return false;
  }
  return true;
}

static void client_received(rasio_udp_t *u, const void *data, size_t len,
                            const rasio_addr_t *from) {
  (void)from;
  client_t *c = rasio_udp_data(u);
  flood_t *f = c->f;
  uint32_t seq;
  f->received++;
  if (c->finished || !check_datagram(c, data, len, &seq)) return;
  if (seen(c, seq)) {
    f->duplicates++;
    return;
  }
  const slot_t *slot = &c->slots[seq % f->cfg.window];
  if (!slot->again && slot->at != 0) rtt_sample(c, rasio_now_ns() - slot->at);
  mark_seen(c, seq);
  c->verified++;
  c->inflight--;
  f->verified++;
  grow_window(c);
  while (c->base < c->next && seen(c, c->base)) c->base++;
  if (c->verified == f->cfg.datagrams)
    client_done(c);
  else
    pump(c);
}

static void client_closed(rasio_udp_t *u) {
  client_t *c = rasio_udp_data(u);
  flood_t *f = c->f;
  c->udp = NULL;
  f->clients_open--;
  if (!c->finished)
    fail(f, "client %" PRIu32 ": socket closed unexpectedly (last socket error: %s)", c->id,
         rasio_strerror(rasio_sock_last_error()));
  maybe_close_server(f);
}

static const rasio_udp_cb_t client_cb = {.received = client_received, .closed = client_closed};

/* Echoes go back by port, so two sockets sharing one would swap each other's traffic;
 * the kernel is not supposed to hand out an ephemeral port twice, but say so if it does.
 * owner: 1 + client id, or SERVER_OWNER. */
static bool check_port(flood_t *f, rasio_udp_t *u, uint32_t owner) {
  rasio_addr_t addr;
  int rc = rasio_udp_addr(u, &addr);
  if (rc != 0) {
    fail(f, "rasio_udp_addr: %s", rasio_strerror(rc));
    return false;
  }
  uint16_t port = rasio_addr_port(&addr);
  uint32_t had = f->port_owner[port];
  if (had == 0) {
    f->port_owner[port] = owner;
    return true;
  }
  char who[32], whom[32];
  snprintf(who, sizeof who, owner == SERVER_OWNER ? "the server" : "client %" PRIu32, owner - 1);
  snprintf(whom, sizeof whom, had == SERVER_OWNER ? "the server" : "client %" PRIu32, had - 1);
  fail(f,
       "%s was bound to port %u, which %s already has (rasio_udp_bind to port 0 handed "
       "out an ephemeral port twice)",
       who, (unsigned)port, whom);
  return false;
}

static void client_start(flood_t *f, client_t *c, uint32_t id) {
  c->f = f;
  c->id = id;
  c->stream = tool_stream(f->cfg.seed, id);
  c->slots = f->slots_all + (size_t)id * f->cfg.window;
  c->seen = f->seen_all + (size_t)id * ((f->cfg.datagrams + 7) / 8);
  c->rto = INITIAL_RTO_NS;
  c->cwnd = f->cfg.window < INITIAL_CWND ? f->cfg.window : INITIAL_CWND;
  c->ssthresh = f->cfg.window;
  /* One byte more than a datagram: an oversized one arrives longer and fails the check. */
  rasio_udp_opts_t o = {
      .cb = &client_cb, .data = c, .mailbox = f->exec.mailbox, .read_size = dgram_len(f) + 1};
  int rc = rasio_udp_bind(f->exec.loop, HOST, "0", RASIO_AF_INET4, &o, &c->udp);
  if (rc != 0) {
    fail(f, "client %" PRIu32 ": rasio_udp_bind: %s", id, rasio_strerror(rc));
    return;
  }
  f->clients_open++;
  if (!check_port(f, c->udp, id + 1)) return;
  rasio_event_opts_t t = {.flags = RASIO_TIMER,
                          .nsec = INITIAL_RTO_NS,
                          .noisy = true,
                          .notify = client_timer,
                          .ctx = c,
                          .mailbox = f->exec.mailbox};
  rc = rasio_event_new(f->exec.loop, &t, &c->timer);
  if (rc != 0) {
    fail(f, "client %" PRIu32 ": timer: %s", id, rasio_strerror(rc));
    return;
  }
  pump(c);
}

/* --- the server ------------------------------------------------------------------------ */

static void server_received(rasio_udp_t *u, const void *data, size_t len,
                            const rasio_addr_t *from) {
  flood_t *f = rasio_udp_data(u);
  /* RETRY drops the echo, as a full buffer would: the client's timer covers it. */
  if (rasio_udp_send(u, data, len, from) == RASIO_IO_RETRY) f->server_retries++;
}

static void server_closed(rasio_udp_t *u) {
  flood_t *f = rasio_udp_data(u);
  f->server = NULL;
  if (!f->closing_server)
    fail(f, "the server socket closed unexpectedly (last socket error: %s)",
         rasio_strerror(rasio_sock_last_error()));
}

static const rasio_udp_cb_t server_cb = {.received = server_received, .closed = server_closed};

static bool server_start(flood_t *f) {
  rasio_udp_opts_t o = {
      .cb = &server_cb, .data = f, .mailbox = f->exec.mailbox, .read_size = dgram_len(f) + 1};
  int rc = rasio_udp_bind(f->exec.loop, HOST, "0", RASIO_AF_INET4, &o, &f->server);
  if (rc != 0) {
    fail(f, "server: rasio_udp_bind %s: %s", HOST, rasio_strerror(rc));
    return false;
  }
  rc = rasio_udp_addr(f->server, &f->server_addr);
  if (rc != 0) {
    fail(f, "server: rasio_udp_addr: %s", rasio_strerror(rc));
    return false;
  }
  /* Every client's window lands in this one queue; the default (~200 KiB, a few hundred
   * small datagrams) overflows at a few hundred clients. The OS caps the request
   * (net.core.rmem_max on Linux), which is fine: what does not fit is retransmitted. */
  (void)rasio_sock_set_rcvbuf(rasio_udp_fd(f->server), SERVER_RCVBUF);
  return check_port(f, f->server, SERVER_OWNER);
}

/* --- the run --------------------------------------------------------------------------- */

static void print_header(const flood_t *f) {
  printf("backend: %s\n", f->exec.backend_name);
  printf("executor: %s\n", f->cfg.mailbox ? "mailbox" : "inline");
  printf("clients: %" PRIu64 "\n", f->cfg.clients);
  printf("datagrams: %" PRIu64 " (%" PRIu64 " per client, %" PRIu64 "+%d bytes, window %" PRIu64
         ")\n",
         f->cfg.clients * f->cfg.datagrams, f->cfg.datagrams, f->cfg.size, HDR, f->cfg.window);
  fflush(stdout);
}

/* Runs on the executor thread: every object is made where its callbacks will run. */
static void flood_start(void *app) {
  flood_t *f = app;
  print_header(f);
  f->t_start = rasio_now_ns();
  if (!server_start(f)) return;
  for (uint32_t i = 0; i < f->cfg.clients && !f->verdict.failed; i++) client_start(f, &f->clients[i], i);
}

static uint64_t flood_progress(void *app) { return ((flood_t *)app)->verified; }

static void flood_timeout(void *app) {
  flood_t *f = app;
  fail(f, "timeout: %" PRIu64 " of %" PRIu64 " datagrams verified, then none for %g s", f->verified,
       f->cfg.clients * f->cfg.datagrams, (double)f->cfg.stall_ns / 1e9);
}

static int report(flood_t *f) {
  uint64_t end = f->t_end != 0 ? f->t_end : rasio_now_ns();
  double elapsed = (double)(end - f->t_start) / 1e9;
  printf("datagrams verified: %" PRIu64 "\n", f->verified);
  printf("datagrams/s: %.0f\n", elapsed > 0 ? (double)f->verified / elapsed : 0.0);
  /* Sent but never echoed: lost on the way, or still in flight when the client closed. */
  printf("drops: %" PRIu64 ", retransmits: %" PRIu64 ", duplicates: %" PRIu64 "\n",
         f->sent > f->received ? f->sent - f->received : 0, f->retransmits, f->duplicates);
  printf("send retries: client %" PRIu64 ", server %" PRIu64 "\n", f->client_retries,
         f->server_retries);
  printf("elapsed: %.2f s\n", elapsed);
  if (!f->verdict.failed && f->exec.free_what != NULL)
    fail(f, "%s after the teardown: %s", f->exec.free_what, rasio_strerror(f->exec.free_rc));
  if (!f->verdict.failed && f->verified != f->cfg.clients * f->cfg.datagrams)
    fail(f, "only %" PRIu64 " datagrams were verified", f->verified);
  if (f->verdict.failed)
    printf("FAIL: %s\n", f->verdict.reason);
  else
    printf("PASS\n");
  return f->verdict.failed ? 1 : 0;
}

/* --- the command line -------------------------------------------------------------------- */

static void usage(void) {
  printf("usage: " PROG
         " [options]\n"
         "A verified UDP echo flood through rasio's net layer, in one process: an echo\n"
         "socket on 127.0.0.1 and N client sockets that each send D numbered datagrams,\n"
         "retransmit lost ones, and check every echoed payload. Prints the backend, counts,\n"
         "datagrams/s, drops and retransmits, then PASS or FAIL: reason.\n"
         "\n"
         "  --clients N       client sockets (default 32)\n"
         "  --datagrams D     datagrams per client (default 4000)\n"
         "  --size S          payload bytes per datagram, after an 8-byte header (default 64)\n"
         "  --window W        unverified datagrams in flight per client (default 8)\n"
         "  --executor E      inline (loop thread) or mailbox (an owner thread; default inline)\n"
         "  --backend NAME    rasio backend (default: RASIO_BACKEND, else the best one)\n"
         "  --timeout SEC     fail when nothing is verified for this long (default 30)\n"
         "  --seed N          seed of the payload streams (default 1)\n"
         "  --help            this text\n"
         "\n"
         "Exit status: 0 PASS, 1 FAIL, 2 bad arguments.\n");
}

static config_t parse_args(int argc, char **argv) {
  config_t c = {.clients = 32,
                .datagrams = 4000,
                .size = 64,
                .window = 8,
                .seed = 1,
                .stall_ns = 30 * TOOL_NS_PER_S};
  tool_args_t a = {.argc = argc, .argv = argv, .prog = PROG};
  const char *v;
  for (a.i = 1; a.i < argc; a.i++) {
    if (tool_switch(&a, "--help") || tool_switch(&a, "-h")) {
      usage();
      exit(0);
    } else if (tool_flag(&a, "--clients", &v)) {
      c.clients = tool_parse_uint(&a, "--clients", v, 1, 100000);
    } else if (tool_flag(&a, "--datagrams", &v)) {
      c.datagrams = tool_parse_uint(&a, "--datagrams", v, 1, MAX_DATAGRAMS);
    } else if (tool_flag(&a, "--size", &v)) {
      c.size = tool_parse_uint(&a, "--size", v, 0, MAX_SIZE);
    } else if (tool_flag(&a, "--window", &v)) {
      c.window = tool_parse_uint(&a, "--window", v, 1, MAX_WINDOW);
    } else if (tool_flag(&a, "--executor", &v)) {
      c.mailbox = tool_parse_executor(&a, v);
    } else if (tool_flag(&a, "--backend", &v)) {
      c.backend = v;
    } else if (tool_flag(&a, "--timeout", &v)) {
      c.stall_ns = tool_parse_seconds_ns(&a, "--timeout", v);
    } else if (tool_flag(&a, "--seed", &v)) {
      c.seed = tool_parse_uint(&a, "--seed", v, 0, UINT64_MAX);
    } else {
      tool_usage_error(&a, "unknown argument '%s'", argv[a.i]);
    }
  }
  /* The bitmaps of verified sequences: refuse what cannot reasonably be held. */
  if (c.clients * ((c.datagrams + 7) / 8) > (1ull << 30))
    tool_usage_error(&a, "--clients x --datagrams is too large (over 8G datagrams)");
  return c;
}

static bool flood_alloc(flood_t *f) {
  size_t n = (size_t)f->cfg.clients;
  f->clients = calloc(n, sizeof *f->clients);
  f->slots_all = calloc(n * (size_t)f->cfg.window, sizeof *f->slots_all);
  f->seen_all = calloc(n, (size_t)((f->cfg.datagrams + 7) / 8));
  f->dgram = malloc(dgram_len(f));
  f->port_owner = calloc(65536, sizeof *f->port_owner);
  return f->clients != NULL && f->slots_all != NULL && f->seen_all != NULL && f->dgram != NULL &&
         f->port_owner != NULL;
}

static void flood_free(flood_t *f) {
  free(f->clients);
  free(f->slots_all);
  free(f->seen_all);
  free(f->dgram);
  free(f->port_owner);
}

int main(int argc, char **argv) {
  flood_t f = {.cfg = parse_args(argc, argv)};
  size_t need = (size_t)f.cfg.clients + 64, have = tool_raise_fd_limit(need);
  if (have < need) {
    fprintf(stderr,
            PROG ": --clients %" PRIu64
                 " needs about %zu file descriptors, but the "
                 "limit is %zu (raise the hard limit: ulimit -Hn)\n",
            f.cfg.clients, need, have);
    return 2;
  }
  if (!flood_alloc(&f)) {
    printf("FAIL: out of memory for %" PRIu64 " clients\n", f.cfg.clients);
    flood_free(&f);
    return 1;
  }
  f.exec = (tool_exec_t){.backend = f.cfg.backend,
                         .use_mailbox = f.cfg.mailbox,
                         .deadline_ns = f.cfg.stall_ns,
                         .start = flood_start,
                         .timeout = flood_timeout,
                         .progress = flood_progress,
                         .app = &f};
  int rc = tool_exec_run(&f.exec, PROG);
  int status = rc == RASIO_ENOBACKEND ? 2 : rc != 0 ? 1 : report(&f);
  flood_free(&f);
  return status;
}
