/* SPDX-License-Identifier: BSD-2-Clause */
/* rasio: one readiness-based asynchronous I/O model on every platform.
 *
 * The kernel tells rasio that an operation would succeed now; the owner performs it
 * synchronously with its own buffer. No kernel ever holds a pointer into user memory after a
 * call returns.
 *
 * This is the only public header. It includes no OS header: a socket is a rasio_fd_t, an
 * integer as wide as a pointer (a POSIX fd or a Windows SOCKET).
 *
 * Conventions:
 * - Every fallible call returns int: 0 (RASIO_OK) or a negative RASIO_E* code.
 *   rasio_strerror() names it. A bad argument never crashes and never changes state: a NULL
 *   object, out pointer or buffer, an unknown flag or mode, and a length larger than any
 *   object can be (above PTRDIFF_MAX) are RASIO_EINVAL (for the socket layer's I/O calls,
 *   RASIO_IO_ERROR with rasio_sock_last_error() == RASIO_EINVAL), checked before anything
 *   else happens. An option that does not apply to the socket is RASIO_ENOTSUP.
 * - Constructors return int and write the new object through an out-pointer.
 * - "Any thread" means the call is safe concurrently with the loop thread and with other
 *   callers; anything else is stated per function.
 */
#ifndef RASIO_H
#define RASIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* RASIO_API marks the public functions: the only symbols the shared library exports (it is
 * built with hidden visibility, or on Windows with dllexport, under RASIO_SHARED_BUILD).
 * A Windows program that uses the DLL may define RASIO_DLL (CMake's rasio::rasio does) to
 * call through dllimport; without it the import library serves ("Using __declspec(dllimport)
 * is optional on function declarations, but the compiler produces more efficient code if
 * you use this keyword": Microsoft, "Importing into an Application Using
 * __declspec(dllimport)"; rasio exports functions only). A program linking the static
 * library defines neither. */
#if defined(_WIN32) && defined(RASIO_SHARED_BUILD)
#define RASIO_API __declspec(dllexport)
#elif defined(_WIN32) && defined(RASIO_DLL)
#define RASIO_API __declspec(dllimport)
#elif defined(__GNUC__)
#define RASIO_API __attribute__((visibility("default")))
#else
#define RASIO_API
#endif

/* The version of the API this header declares. */
#define RASIO_VERSION_MAJOR 0
#define RASIO_VERSION_MINOR 1
#define RASIO_VERSION_PATCH 0
/* The version as one number, ordered like the versions: 0xMMmmpp. */
#define RASIO_VERSION_HEX \
  ((RASIO_VERSION_MAJOR << 16) | (RASIO_VERSION_MINOR << 8) | RASIO_VERSION_PATCH)

/* A socket or file descriptor: an int on POSIX, a SOCKET on Windows. */
typedef intptr_t rasio_fd_t;
#define RASIO_INVALID_FD ((rasio_fd_t)-1) /* no socket: what fd accessors return for none */

typedef struct rasio_loop rasio_loop_t;       /* a loop and its backend (rasio_loop_new) */
typedef struct rasio_event rasio_event_t;     /* a source bound to an owner (rasio_event_new) */
typedef struct rasio_mailbox rasio_mailbox_t; /* an executor's queue (rasio_mailbox_new) */

/* ---------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------- */

/* X-macro: name, value, message. Values are stable; new codes are appended. */
#define RASIO_ERRNO_MAP(X)                                                                  \
  X(EINVAL, -1, "invalid argument")                                                         \
  X(ENOMEM, -2, "out of memory")                                                            \
  X(EBUSY, -3, "busy: live noisy events or a running loop")                                 \
  X(ESTATE, -4, "operation not valid in the event's current state")                         \
  X(EEXIST, -5, "already subscribed")                                                       \
  X(EBADF, -6, "bad file descriptor")                                                       \
  X(ENOBACKEND, -7, "unknown backend name")                                                 \
  X(EUNAVAIL, -8, "backend not available on this system")                                   \
  X(ETIMEDOUT, -9, "timed out")                                                             \
  X(EAGAIN, -10, "resource temporarily unavailable")                                        \
  X(ENOTSUP, -11, "operation not supported")                                                \
  X(ELIMIT, -12, "a fixed limit was reached")                                               \
  X(ECONNREFUSED, -13, "connection refused")                                                \
  X(ECONNRESET, -14, "connection reset by peer")                                            \
  X(ECONNABORTED, -15, "connection aborted")                                                \
  X(EPIPE, -16, "broken pipe")                                                              \
  X(ENOTCONN, -17, "socket is not connected")                                               \
  X(EADDRINUSE, -18, "address already in use")                                              \
  X(EADDRNOTAVAIL, -19, "address not available")                                            \
  X(EAFNOSUPPORT, -20, "address family not supported")                                      \
  X(ENETUNREACH, -21, "network is unreachable")                                             \
  X(EHOSTUNREACH, -22, "host is unreachable")                                               \
  X(EACCES, -23, "permission denied")                                                       \
  X(EMFILE, -24, "too many open files")                                                     \
  X(EMSGSIZE, -25, "message too long")                                                      \
  X(ENOTFOUND, -26, "name could not be resolved")                                           \
  X(EIO, -27, "input/output error")                                                         \
  X(EOS, -28, "unexpected operating system error")

enum {
  RASIO_OK = 0, /* success; every other code is negative */
#define RASIO__ERRNO_ENUM(name, value, msg) RASIO_##name = (value),
  RASIO_ERRNO_MAP(RASIO__ERRNO_ENUM)
#undef RASIO__ERRNO_ENUM
};

/* A static message for a code; "unknown error" for anything unknown. Any thread. */
RASIO_API const char *rasio_strerror(int err);
/* The code's name without the prefix, e.g. "EINVAL"; "UNKNOWN" if unknown. Any thread. */
RASIO_API const char *rasio_err_name(int err);
/* The OS's own error code (errno; on Windows the GetLastError / WSAGetLastError value)
 * behind the last RASIO_EOS that rasio made on the calling thread from an OS error, for
 * the OS's message (strerror, FormatMessage); 0 if none yet. RASIO_EOS is what an OS code
 * without a RASIO_E* of its own becomes. Only an EOS replaces it (a success does not clear
 * it), and an EOS not made from an OS code (a RASIO_ERROR notification of a net object)
 * leaves it alone. Net layer errors are made on the object's executor thread: read it
 * in the callback that reports the error. Any thread (each has its own). */
RASIO_API int rasio_os_error(void);

/* The library's version, "MAJOR.MINOR.PATCH": the version of the library actually linked,
 * which may differ from the RASIO_VERSION_* macros a program was compiled with. The build
 * fails if the macros disagree with CMake's project version. A static string; any thread. */
RASIO_API const char *rasio_version(void);
/* The same as RASIO_VERSION_HEX would be in the linked library's header. Any thread. */
RASIO_API unsigned rasio_version_hex(void);

/* ---------------------------------------------------------------------------------------
 * Flags
 *
 * Interest flags (given at rasio_event_new) and notification flags (passed to notify).
 * READ..ONESHOT have the Pony runtime's values so an adapter is a cast.
 * ------------------------------------------------------------------------------------- */

enum {
  RASIO_READ = 1u << 0,     /* interest / notification: readable (or peer hang-up) */
  RASIO_WRITE = 1u << 1,    /* interest / notification: writeable (or error, connect done) */
  RASIO_TIMER = 1u << 2,    /* a timer event / it expired */
  RASIO_SIGNAL = 1u << 3,   /* a signal event (nsec = signal number) / it was delivered */
  RASIO_ERROR = 1u << 4,    /* notification only: rasio could not (re-)arm the event; it is
                               compromised and the owner should unsubscribe it */
  RASIO_ONESHOT = 1u << 8,  /* each direction fires once, then waits for a re-arm */
  RASIO_LEVEL = 1u << 9,    /* persistent level-triggered (default is persistent edge) */
  RASIO_DISPOSED = 1u << 10, /* notification only: the last one; the event may be destroyed */
  RASIO_STDIN = 1u << 11,   /* interest: this event watches the process's standard input */
  RASIO_USER = 1u << 12     /* notification only: the owner asked for it (rasio_event_post) */
};

/* ---------------------------------------------------------------------------------------
 * Loop
 *
 * One loop thread waits on the kernel and produces notifications. Any thread may create,
 * re-arm and unsubscribe events on it.
 * ------------------------------------------------------------------------------------- */

/* Options of rasio_loop_new; a zeroed struct (or NULL) gives the defaults. */
typedef struct rasio_loop_opts {
  /* Backend name ("epoll", "kqueue", "psn", "afd"; "psn-model", a test backend, only when
   * named). NULL: the RASIO_BACKEND environment variable if set, else the best backend of
   * this platform. */
  const char *backend;
} rasio_loop_opts_t;

/* How long rasio_loop_run runs. */
typedef enum rasio_run_mode {
  RASIO_RUN_DEFAULT = 0, /* until rasio_loop_stop() succeeds */
  RASIO_RUN_ONCE = 1,    /* one iteration; blocks until something happened */
  RASIO_RUN_NOWAIT = 2,  /* one iteration; never blocks */
  RASIO_RUN_QUIET = 3    /* until no noisy event is left (or rasio_loop_stop()) */
} rasio_run_mode_t;

/* Creates a loop on the chosen backend. opts may be NULL.
 * Errors: ENOBACKEND (no such backend on this platform), EUNAVAIL (known but cannot run
 * here, e.g. psn under Wine), ENOMEM, EOS. */
RASIO_API int rasio_loop_new(const rasio_loop_opts_t *opts, rasio_loop_t **out);

/* Runs the loop on the calling thread, which becomes the loop thread until it returns.
 * Returns 0, or EBUSY if the loop is already running (on any thread). */
RASIO_API int rasio_loop_run(rasio_loop_t *loop, rasio_run_mode_t mode);

/* Runs the loop (RASIO_RUN_DEFAULT) on a new thread owned by the loop.
 * EBUSY if it is already running. */
RASIO_API int rasio_loop_start(rasio_loop_t *loop);

/* Asks the loop to return from run. Refuses with EBUSY while a noisy event is alive (a noisy
 * event is alive from rasio_event_new until rasio_event_destroy). If the loop runs on the
 * thread made by rasio_loop_start, stop also joins it (unless called on that thread).
 * Any thread, including inside a notification. A stop of a loop that is not running makes
 * its next run return at once. */
RASIO_API int rasio_loop_stop(rasio_loop_t *loop);

/* Frees the loop. EBUSY while it runs, while any event made on it is not destroyed, or
 * while a rasio_loop_call is queued. Not concurrently with any other call on the loop. If
 * rasio_tcp_connect resolved a host name on this loop, this joins the loop's resolver
 * thread, so it waits for a lookup still running (one whose connection was closed
 * meanwhile), as long as the system resolver takes. */
RASIO_API int rasio_loop_free(rasio_loop_t *loop);

/* A function rasio_loop_call runs on the loop thread, with the arg it was given. */
typedef void (*rasio_call_fn)(void *arg);

/* Runs fn(arg) on the loop thread: "do this on the loop" without making an event first.
 * Any thread, including the loop thread inside a notification or another call. fn runs
 * after this returns, never inside it: in the loop's current iteration if that has not
 * reached its calls yet, else in the next one; calls run in the order they were made, and
 * a call made by a running call waits for the next iteration. A call is not noisy: it does
 * not keep RASIO_RUN_QUIET running nor refuse rasio_loop_stop, but a queued call keeps the
 * loop from blocking in its wait. Nothing is ever dropped: a call queued when the loop
 * stops (or before it ever ran) waits for the next run, and rasio_loop_free refuses with
 * EBUSY while a call is queued, so arg is never leaked (run the loop, e.g. with
 * RASIO_RUN_NOWAIT, to drain them). No ESTATE: any loop that is not freed takes calls.
 * Errors: EINVAL (NULL loop or fn), ENOMEM (the call could not be queued; fn will not run). */
RASIO_API int rasio_loop_call(rasio_loop_t *loop, rasio_call_fn fn, void *arg);

/* The backend's name ("epoll", ...). Any thread. */
RASIO_API const char *rasio_loop_backend(const rasio_loop_t *loop);

/* Number of noisy events alive on the loop. Any thread. */
RASIO_API size_t rasio_loop_noisy(const rasio_loop_t *loop);

/* Current monotonic time in nanoseconds (the clock timers use). Any thread. */
RASIO_API uint64_t rasio_now_ns(void);

/* Debugging. rasio logs a few lines: which backend rasio_loop_new chose and why, or why
 * none (each failed probe, and for an unknown RASIO_BACKEND the names this build has), and
 * what rasio_loop_dump finds. Without a receiver the lines go to stderr, prefixed
 * "rasio: ", when the environment variable RASIO_DEBUG is set and not "" or "0"; else
 * nowhere. A line is at most 255 bytes, without a newline. */
typedef void (*rasio_log_fn)(const char *line, void *ctx);
/* Sets the process's log receiver (NULL: back to the RASIO_DEBUG default). fn runs on the
 * thread that logs (any thread, several at once), possibly while rasio holds a loop's
 * lock: it must not call rasio. Any thread; a line being logged meanwhile may still go
 * to the previous receiver. */
RASIO_API void rasio_set_log(rasio_log_fn fn, void *ctx);
/* Logs the loop's live events, for leak hunting: counts (events alive, noisy, calls
 * queued), then one line per subscribed socket, timer with a pending expiry (and when it
 * is due) and signal subscription: pointer, fd, interest flags, state, noisy, ctx; then
 * how many live events no list holds (stdin, timers with no pending expiry, events after
 * their removal). Any thread; the lines go through the log (RASIO_DEBUG or rasio_set_log),
 * so nothing appears without one. EINVAL for a NULL loop. */
RASIO_API int rasio_loop_dump(rasio_loop_t *loop);

/* ---------------------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------------------- */

/* Every notification. Runs on the loop thread (inline executor) or on the thread that drains
 * the event's mailbox. flags is a set of READ, WRITE, TIMER, SIGNAL, ERROR, USER, or exactly
 * DISPOSED; arg is the number of coalesced deliveries for SIGNAL, else 0. */
typedef void (*rasio_notify_fn)(rasio_event_t *ev, uint32_t flags, uint32_t arg, void *ctx);

/* What rasio_event_new subscribes. Zero what is not needed (fd is read only for sockets). */
typedef struct rasio_event_opts {
  /* The socket to watch (ignored for TIMER, SIGNAL and STDIN events). */
  rasio_fd_t fd;
  /* Interest: READ and/or WRITE with at most one of ONESHOT or LEVEL (neither = persistent
   * edge); or TIMER; or SIGNAL; or STDIN|READ (optionally with ONESHOT or LEVEL). */
  uint32_t flags;
  /* TIMER: first expiry in nanoseconds from now (0 = at once). SIGNAL: the signal number. */
  uint64_t nsec;
  /* A noisy event keeps the loop from stopping (and RUN_QUIET running) until destroyed. */
  bool noisy;
  /* Transfer the fd to rasio: it is closed after unsubscribe, before DISPOSED, on every
   * platform. A socket that is not transferred must not be closed before DISPOSED. */
  bool own_fd;
  rasio_notify_fn notify; /* required: receives every notification of the event */
  void *ctx;              /* notify's last argument; rasio_event_ctx() */
  /* NULL: inline executor (notify runs on the loop thread).
   * Otherwise notifications are posted to this mailbox and run where it is drained. */
  rasio_mailbox_t *mailbox;
  /* Directions the owner already knows are ready (e.g. WRITE for a freshly accepted
   * socket): their readable/writeable flag starts set, and a ONESHOT event starts with
   * them disarmed, as if just delivered. The owner re-arms them as usual. */
  uint32_t ready;
  /* TIMER only (EINVAL on any other event): non-zero makes the timer repeat. After each
   * expiry it re-arms itself one interval (ns) after the deadline that expired, so the
   * period does not drift; periods the loop missed (a stall longer than interval) are
   * skipped, not delivered in a burst: the next expiry is then interval after now. */
  uint64_t interval;
} rasio_event_opts_t;

/* Creates an event and subscribes it. On error nothing was created and the fd is untouched
 * (even with own_fd). Any thread.
 * Errors: EINVAL (NULL notify, bad or contradictory flags, signal number out of range),
 * EBADF (not an open descriptor, or a number outside the OS's range: on POSIX above
 * INT_MAX, never truncated), EEXIST (the fd, or stdin, is already subscribed on this loop),
 * ENOTSUP (the kernel has no readiness for it: a regular file or /dev/null on epoll),
 * ENOMEM, ELIMIT (the loop holds as many sockets as it can: 4M), EOS. */
RASIO_API int rasio_event_new(rasio_loop_t *loop, const rasio_event_opts_t *opts,
                              rasio_event_t **out);

/* Re-arm one direction of a ONESHOT event: arms READ iff READ is an interest and the event
 * is not readable (likewise WRITE). The owner must clear readable (writeable) *before*
 * calling, so a delivery that races the re-arm is not gated out. Nothing to arm: no syscall.
 * On a persistent edge event it says the owner drained that direction: backends that
 * emulate edges (Windows) arm it again, and it fails as for ONESHOT; elsewhere a no-op.
 * If the direction is already ready, the notification follows promptly (level re-arm).
 * Any thread. ESTATE after unsubscribe; EINVAL for a timer, signal or bad event. */
RASIO_API int rasio_event_resubscribe_read(rasio_event_t *ev);
RASIO_API int rasio_event_resubscribe_write(rasio_event_t *ev);
/* Both directions in one step (one syscall where the backend allows). */
RASIO_API int rasio_event_resubscribe(rasio_event_t *ev);

/* Stops new notifications; idempotent (a second call returns 0 and does nothing).
 * Exactly one DISPOSED follows, and it is the last notification for the event; it comes only
 * after the backend can no longer produce anything that names the event. With own_fd the fd
 * is closed before DISPOSED. A notification already produced may still be running on another
 * thread when this returns; a mailbox owner that unsubscribes on its own draining thread
 * receives nothing but DISPOSED afterwards. Any thread. */
RASIO_API int rasio_event_unsubscribe(rasio_event_t *ev);

/* Frees the event. Legal only once DISPOSED has been handed to the owner's notify (ESTATE
 * before, and for a second destroy): inside the DISPOSED notification, or on any thread
 * after it began. If the DISPOSED notification is still running on another thread, the
 * memory is freed when it returns, so it never runs on a freed event. Releases the event's
 * noisy count at once. No thread may use the event after destroy returns 0, except the
 * DISPOSED notification still running. */
RASIO_API int rasio_event_destroy(rasio_event_t *ev);

/* Asks for one RASIO_USER notification through the event's executor at the loop's next
 * iteration, in order with its other notifications; posts made before it runs merge into
 * one. Lets an owner yield (stop a read loop early and continue later) without a system
 * call. Any thread, any kind of event. ESTATE after unsubscribe (nothing is delivered
 * after it anyway). */
RASIO_API int rasio_event_post(rasio_event_t *ev);

/* Timer events: re-arm relative to now, replacing any pending expiry (0 = at once).
 * Any thread, including inside the timer's own notification. A TIMER already produced may
 * still arrive. EINVAL for a non-timer event, ESTATE after unsubscribe. */
RASIO_API int rasio_event_set_nsec(rasio_event_t *ev, uint64_t nsec);

/* Timer events: sets the repeat period (0: stop repeating after the pending expiry). It
 * applies from the next expiry on and arms nothing: a timer with no pending expiry (a
 * one-shot that fired) needs rasio_event_set_nsec to start again. rasio_event_set_nsec on
 * a repeating timer replaces the pending expiry; the period goes on from there. Any
 * thread, including inside the timer's notification. EINVAL for a non-timer event,
 * ESTATE after unsubscribe. */
RASIO_API int rasio_event_set_interval(rasio_event_t *ev, uint64_t interval);

/* readable / writeable: the loop sets one when it delivers that direction; only the owner
 * clears it (before re-arming). Atomic; any thread. Getters return false for NULL. */
RASIO_API bool rasio_event_readable(const rasio_event_t *ev);
RASIO_API bool rasio_event_writeable(const rasio_event_t *ev);
RASIO_API void rasio_event_set_readable(rasio_event_t *ev, bool value);
RASIO_API void rasio_event_set_writeable(rasio_event_t *ev, bool value);

/* Accessors. Any thread. */
RASIO_API rasio_fd_t rasio_event_fd(const rasio_event_t *ev);
RASIO_API uint32_t rasio_event_flags(const rasio_event_t *ev);
RASIO_API void *rasio_event_ctx(const rasio_event_t *ev);
RASIO_API rasio_loop_t *rasio_event_loop(const rasio_event_t *ev);

/* Reads standard input for a STDIN event without ever blocking.
 * Returns 0 with *count > 0 (data), 0 with *count == 0 (end of input), RASIO_EAGAIN
 * (nothing now: clear readable and re-arm, or wait for the next READ), or another negative
 * code (read error). EINVAL for a NULL buf or count, or len 0 (which could not tell data
 * from the end), on every platform; nothing is read then. *count is always written. */
RASIO_API int rasio_stdin_read(rasio_event_t *ev, void *buf, size_t len, size_t *count);

/* ---------------------------------------------------------------------------------------
 * Mailbox: the executor of actor-style owners
 *
 * A thread-safe multi-producer queue of notifications drained by one owner thread. Posting
 * never allocates for event notifications: each event carries its own queue node, and
 * notifications that arrive while one is queued are merged into it (flags OR'ed, SIGNAL
 * counts added). DISPOSED is delivered after anything merged with it.
 * ------------------------------------------------------------------------------------- */

/* A function posted with rasio_mailbox_post; it runs on the draining thread. */
typedef void (*rasio_mailbox_fn)(void *arg);

/* Creates an empty mailbox. Any thread. Errors: EINVAL (NULL out), ENOMEM. */
RASIO_API int rasio_mailbox_new(rasio_mailbox_t **out);

/* Posts a user function to run on the draining thread, in FIFO order with notifications.
 * Any thread. ENOMEM if the message cannot be allocated. */
RASIO_API int rasio_mailbox_post(rasio_mailbox_t *mb, rasio_mailbox_fn fn, void *arg);

/* Blocks until the mailbox is non-empty or timeout_ns passed (UINT64_MAX: forever).
 * Returns 0 if non-empty, ETIMEDOUT otherwise. Only the draining thread. */
RASIO_API int rasio_mailbox_wait(rasio_mailbox_t *mb, uint64_t timeout_ns);

/* Runs queued notifications and messages on the calling thread until the mailbox is empty
 * (including what arrives meanwhile) or max have run (0 = no limit); returns how many ran.
 * Only one thread at a time may drain a mailbox. */
RASIO_API size_t rasio_mailbox_drain(rasio_mailbox_t *mb, size_t max);

/* Frees the mailbox. EBUSY while it holds anything (drain first). No concurrent posts. */
RASIO_API int rasio_mailbox_free(rasio_mailbox_t *mb);

/* ---------------------------------------------------------------------------------------
 * Socket layer: non-blocking socket calls
 *
 * Every I/O call returns RASIO_IO_OK, RASIO_IO_RETRY or RASIO_IO_ERROR and always writes
 * the byte count (0 unless OK). OK with 0 bytes happens only for an empty datagram; a
 * stream read of 0 (peer closed) is ERROR. RETRY means would-block (and, for writes, a
 * transient lack of buffers); nothing else is RETRY. The calls never block and never raise
 * SIGPIPE. After ERROR, rasio_sock_last_error() gives the reason (RASIO_EPIPE..., or 0 for
 * the end of a stream). I/O calls take the event so a backend that emulates edges learns
 * about RETRY: with persistent edge events, read (write) until RETRY before waiting for the
 * next READ (WRITE); that is the portable edge rule.
 * The short-read rule: on a stream socket, a rasio_sock_recv that returns OK with fewer
 * bytes than asked counts as that RETRY. The socket was empty when the call returned, so
 * an edge owner may stop reading there and still hears of the next data, and a oneshot
 * owner may clear readable and re-arm READ at once; the would-block read is saved. (Not
 * for datagrams: a short datagram says nothing about the ones queued behind it.)
 * Sockets made here are non-blocking, close-on-exec, and on Windows non-overlapped.
 * ------------------------------------------------------------------------------------- */

/* The I/O results (RASIO_ERROR is the notification flag, hence the IO_ prefix). */
enum { RASIO_IO_OK = 0, RASIO_IO_RETRY = 1, RASIO_IO_ERROR = 2 };

/* Address families, for the calls that take a family and for rasio_addr_family. */
enum { RASIO_AF_ANY = 0, RASIO_AF_INET4 = 4, RASIO_AF_INET6 = 6 };

/* A socket address (IPv4 or IPv6), as large as any the OS uses. */
typedef struct rasio_addr {
  union {
    uint8_t raw[128]; /* the address's bytes */
    uint64_t align_;  /* aligns raw for any sockaddr */
  } u;          /* the OS's socket address (a struct sockaddr), len bytes of it */
  uint32_t len; /* 0: no address */
} rasio_addr_t;

/* A gather-write segment; the layout of POSIX struct iovec. */
typedef struct rasio_iovec {
  const void *base; /* the segment's first byte */
  size_t len;       /* its length in bytes */
} rasio_iovec_t;

/* The reason for this thread's last RASIO_ERROR from an I/O call (0 = stream end). */
RASIO_API int rasio_sock_last_error(void);

/* One read from a stream socket: OK with 0 < *count <= len (short: see the short-read
 * rule above), RETRY, or ERROR (the end of the stream is ERROR with last error 0). len 0 is
 * ERROR with RASIO_EINVAL: it could not tell data from the end. */
RASIO_API int rasio_sock_recv(rasio_event_t *ev, void *buf, size_t len, size_t *count);
/* One send: OK with the bytes the kernel took (possibly fewer than len), RETRY, or ERROR. */
RASIO_API int rasio_sock_send(rasio_event_t *ev, const void *buf, size_t len, size_t *count);
/* Gather write; a partial write is OK with a short count. At most 1024 segments; a segment
 * with a NULL base and a length, or lengths whose sum overflows size_t, are ERROR with
 * RASIO_EINVAL before any system call. */
RASIO_API int rasio_sock_sendv(rasio_event_t *ev, const rasio_iovec_t *iov, size_t iovcnt,
                               size_t *count);
/* One datagram; an oversized one delivers its prefix (OK, count = len); from may be NULL.
 * On RETRY or ERROR *from is left untouched. */
RASIO_API int rasio_sock_recvfrom(rasio_event_t *ev, void *buf, size_t len, rasio_addr_t *from,
                                  size_t *count);
/* ERROR without any system call if `to` is not an IPv4/IPv6 address. */
RASIO_API int rasio_sock_sendto(rasio_event_t *ev, const void *buf, size_t len,
                                const rasio_addr_t *to, size_t *count);
/* Accepts one connection: OK with a non-blocking socket in *out (peer may be NULL),
 * RETRY when the backlog is empty, ERROR otherwise; the listener keeps working, and what to
 * do next depends on rasio_sock_last_error():
 * - RASIO_EMFILE (the process's or the system's descriptor limit: EMFILE, ENFILE) or
 *   RASIO_ENOMEM (out of memory or buffers: ENOMEM, ENOBUFS): out of resources. The
 *   connection stays queued, so calling again at once fails the same way: a oneshot owner
 *   that re-arms READ right away spins, and an edge owner that waits for the next READ may
 *   never get one (the queue's edge was already reported). Back off with a timer (the net
 *   listener waits 10 ms), then call again without waiting for READ.
 * - RASIO_ECONNABORTED, RASIO_ECONNRESET (and, on Linux, a new connection's pending
 *   network error: EHOSTUNREACH, ENETUNREACH...): that connection alone is lost; call again
 *   at once, the next one may be fine.
 * - RASIO_EINVAL: a bad argument (nothing was called). */
RASIO_API int rasio_sock_accept(rasio_event_t *listener, rasio_fd_t *out, rasio_addr_t *peer);

/* Listening sockets. May block: a host name is resolved (getaddrinfo) on the calling
 * thread; a numeric address, NULL or "" never waits. host NULL or "" = wildcard; port
 * "0" = ephemeral. family is
 * RASIO_AF_ANY/INET4/INET6. SO_REUSEADDR is set on POSIX (restart despite TIME_WAIT) and
 * for UDP; not for TCP on Windows, where it would let another socket steal a live port
 * (Windows allows the restart anyway). On success *out is the socket and, if
 * bound is not NULL, the address actually bound. Returns 0 or a RASIO_E* code.
 * Ports, in every call that takes a port string (here, rasio_sock_connect_tcp and the net
 * layer's connect, listen and bind): a decimal number in 0..65535 (leading zeros allowed)
 * or a service name the system knows ("http"). A string that starts like a number (a
 * digit, a sign, a space) but is not one in that range ("99999", "-1", "12x", " 80") and
 * "" are EINVAL, never some other port; an unknown service name is ENOTFOUND. */
RASIO_API int rasio_sock_listen_tcp(const char *host, const char *port, int family,
                                    rasio_fd_t *out, rasio_addr_t *bound);
RASIO_API int rasio_sock_listen_udp(const char *host, const char *port, int family,
                                    rasio_fd_t *out, rasio_addr_t *bound);
/* rasio_sock_listen_tcp with SO_REUSEPORT set before bind, so several listening sockets
 * (one per loop or per process, same effective user) share host:port and the kernel
 * spreads new connections over them: one loop per core, each accepting on its own socket.
 * Every socket on the port must be made this way, the first included. Linux spreads
 * connections by a hash of the connection; FreeBSD gets SO_REUSEPORT_LB, its equivalent;
 * other BSDs and macOS bind but may hand every connection to one socket. Windows: ENOTSUP,
 * always (Winsock has no such option, and its SO_REUSEADDR makes it undefined which socket
 * gets a connection). Errors as rasio_sock_listen_tcp, plus ENOTSUP. */
RASIO_API int rasio_sock_listen_tcp_reuseport(const char *host, const char *port, int family,
                                              rasio_fd_t *out, rasio_addr_t *bound);

/* May block: a host name is resolved (getaddrinfo) on the calling thread, which may wait
 * for DNS; a numeric address, NULL or "" never waits. rasio_tcp_connect resolves names
 * off the calling thread.
 * Starts a connect to the addresses host resolves to, in parallel: at most max attempts
 * start, and each one's event is written to events[]. Each event is made from tmpl with fd
 * set and own_fd forced on (flags should hold WRITE: a connect's completion, success or
 * failure, arrives as WRITE; rasio_sock_error tells which). Returns the number of attempts
 * started (at least 1), or a negative RASIO_E* code when none could start: EINVAL (bad
 * argument: NULL events, max 0, a bad template or port), ENOTFOUND (the name does not
 * resolve, or has no address of the family), ENOMEM or EMFILE (out of memory or
 * descriptors), or else the error of the last address that failed at once (ENETUNREACH,
 * EAFNOSUPPORT...). (Before this contract, 0 meant "nothing started".) */
RASIO_API int rasio_sock_connect_tcp(rasio_loop_t *loop, const char *host, const char *port,
                                     int family, const rasio_event_opts_t *tmpl,
                                     rasio_event_t **events, size_t max);

/* Shuts the write side (sends FIN). 0 or RASIO_E*. */
RASIO_API int rasio_sock_shutdown(rasio_fd_t fd);
/* Closes a socket that was never handed to an event (own_fd); 0 or RASIO_E*. */
RASIO_API int rasio_sock_close(rasio_fd_t fd);
/* The pending socket error (SO_ERROR) as a RASIO_E* code, 0 if none. POSIX clears it by
 * reading it; Wine (and possibly Windows) keeps reporting it, so do not rely on either. */
RASIO_API int rasio_sock_error(rasio_fd_t fd);

/* Options. 0 or RASIO_E*. */
RASIO_API int rasio_sock_set_nodelay(rasio_fd_t fd, bool on);
RASIO_API int rasio_sock_set_keepalive(rasio_fd_t fd, bool on, unsigned idle_s);
RASIO_API int rasio_sock_set_sndbuf(rasio_fd_t fd, int bytes);
RASIO_API int rasio_sock_set_rcvbuf(rasio_fd_t fd, int bytes);
RASIO_API int rasio_sock_get_sndbuf(rasio_fd_t fd, int *bytes);
RASIO_API int rasio_sock_get_rcvbuf(rasio_fd_t fd, int *bytes);
RASIO_API int rasio_sock_set_broadcast(rasio_fd_t fd, bool on);
RASIO_API int rasio_sock_set_ttl(rasio_fd_t fd, int ttl);
RASIO_API int rasio_sock_set_multicast_ttl(rasio_fd_t fd, int ttl);
RASIO_API int rasio_sock_set_multicast_loop(rasio_fd_t fd, bool on);
/* Joins / leaves a multicast group (numeric address); iface NULL = any. */
RASIO_API int rasio_sock_multicast_join(rasio_fd_t fd, const char *group, const char *iface);
RASIO_API int rasio_sock_multicast_leave(rasio_fd_t fd, const char *group, const char *iface);

/* Addresses. */
RASIO_API int rasio_sock_local_addr(rasio_fd_t fd, rasio_addr_t *out);
RASIO_API int rasio_sock_peer_addr(rasio_fd_t fd, rasio_addr_t *out);
/* Numeric host and port into an address; ENOTFOUND if host is not numeric. */
RASIO_API int rasio_addr_parse(const char *host, uint16_t port, rasio_addr_t *out);
/* "1.2.3.4:80" or "[::1]:80" into buf (always terminated); returns 0 or EINVAL. */
RASIO_API int rasio_addr_format(const rasio_addr_t *addr, char *buf, size_t len);
RASIO_API uint16_t rasio_addr_port(const rasio_addr_t *addr);
/* RASIO_AF_INET4, RASIO_AF_INET6, or 0 for an empty/unknown address. */
RASIO_API int rasio_addr_family(const rasio_addr_t *addr);
/* Conversions to and from the OS's struct sockaddr (rasio.h includes no OS header, hence
 * void pointers). from: sa points at len bytes holding a sockaddr_in or sockaddr_in6;
 * only that structure is copied (a larger len, e.g. a sockaddr_storage, is fine). EINVAL:
 * NULL sa or out, len shorter than the family field or than its family's structure;
 * EAFNOSUPPORT: another family. *out is written only on success.
 * to: copies addr's sockaddr into sa, which has cap bytes, and writes its length (the
 * socklen_t to pass the OS) to *len. EINVAL: NULL argument, an empty or malformed addr, or
 * cap too small (then *len still tells the size needed and sa is untouched). Any thread;
 * nothing is kept. */
RASIO_API int rasio_addr_from_sockaddr(const void *sa, size_t len, rasio_addr_t *out);
RASIO_API int rasio_addr_to_sockaddr(const rasio_addr_t *addr, void *sa, size_t cap,
                                     size_t *len);

/* ---------------------------------------------------------------------------------------
 * Net layer: TCP connections, TCP listeners, UDP sockets
 *
 * State machines over the event contract, driven by callbacks. Each object runs on one
 * executor (inline on the loop thread, or a mailbox); every callback runs there, and every
 * call on the object must be made there too (a listener's connections share its
 * executor). Creation may happen on any thread. Every object ends with exactly one
 * final callback (closed, or connect_failed for a client that never connected); the
 * object is freed by rasio right after it returns, so drop the pointer there.
 * The final callback never runs inside a call made by the owner (libuv's rule), for every
 * net object: a call that ends the object (rasio_tcp_close, rasio_tcp_hard_close, a
 * rasio_tcp_write that fails, rasio_udp_close, rasio_tcp_listener_close; a UDP send error
 * ends nothing) only starts its end, and the final callback comes later from the
 * loop, through the object's executor, once rasio has let go of every socket and timer of
 * the object. So user data may be freed inside the final callback while the function that
 * called close still uses it, and a loop over connections that closes each needs no saved
 * `next`. Between that call and the final callback, calls on the object are harmless:
 * write is ESTATE, close and hard_close do nothing, accessors say "closed".
 * Other callbacks may run inside calls: received inside unmute, throttled inside write.
 * Blocking: no call of the net layer waits on the network, with one exception: the listen
 * and bind calls given a host name (not a numeric address, NULL or "") resolve it on the
 * calling thread, where getaddrinfo may wait for DNS (pass a numeric address from the loop
 * thread). rasio_tcp_connect resolves a host name on a thread of the loop's own (made at
 * the first name, joined by rasio_loop_free); numeric addresses need no lookup.
 * Objects are noisy: they keep the loop running until they are gone.
 * ------------------------------------------------------------------------------------- */

typedef struct rasio_tcp rasio_tcp_t;                   /* a TCP connection */
typedef struct rasio_tcp_listener rasio_tcp_listener_t; /* a listening TCP socket */
typedef struct rasio_udp rasio_udp_t;                   /* a bound UDP socket */

/* A connection's callbacks; each runs on the connection's executor. */
typedef struct rasio_tcp_cb {
  /* Client: the first attempt that succeeded won; the others were torn down. */
  void (*connected)(rasio_tcp_t *c);
  /* Client: every attempt failed (err: the last failure). Final. */
  void (*connect_failed)(rasio_tcp_t *c, int err);
  /* Bytes arrived (with rasio_tcp_expect(n), exactly n at a time). data is valid until
   * the callback returns, or until it calls rasio_tcp_expect with a larger n (the buffer
   * may move). Return false to stop reading for this turn; reading resumes at the loop's
   * next iteration. */
  bool (*received)(rasio_tcp_t *c, const void *data, size_t len);
  /* The kernel refused bytes: writes are queued until it accepts them again. */
  void (*throttled)(rasio_tcp_t *c);
  /* The queue drained after writability returned. */
  void (*unthrottled)(rasio_tcp_t *c);
  /* The connection is gone (peer closed, error, or our close finished). Final. */
  void (*closed)(rasio_tcp_t *c);
} rasio_tcp_cb_t;

/* Options of a connection (rasio_tcp_connect, and a listener's conn); zero = defaults. */
typedef struct rasio_tcp_opts {
  const rasio_tcp_cb_t *cb; /* copied; NULL members are skipped */
  void *data;               /* rasio_tcp_data() */
  rasio_mailbox_t *mailbox; /* executor; NULL = inline */
  size_t read_size;         /* read buffer bytes (default 16 KiB, minimum 1) */
  size_t read_budget;       /* bytes read per turn before yielding (default 64 KiB) */
  /* The graceful close's deadline, from rasio_tcp_close (or the peer's FIN) on: a
   * connection still closing after it (the peer never sent its FIN, or never read the
   * rest of the queue) is hard-closed. 0: the default, 10 s; RASIO_TCP_NO_TIMEOUT: none
   * (the close waits for the peer as long as it takes). */
  uint64_t close_timeout_ns;
} rasio_tcp_opts_t;

/* close_timeout_ns: a graceful close waits for the peer without a deadline. */
#define RASIO_TCP_NO_TIMEOUT UINT64_MAX

/* Starts a client connection, attempting every address host resolves to in parallel.
 * Never blocks: a numeric host (or NULL / "": this host) is parsed here and its attempts
 * start at once; a host name is resolved on the loop's resolver thread (one per loop,
 * lookups in turn), and the attempts start on the executor once it answers.
 * Returns 0 (the outcome arrives as connected or connect_failed), or the reason nothing
 * could be attempted (nothing is created): EINVAL (bad argument or port), ENOMEM, EMFILE,
 * EOS (no resolver thread could be made), or an address's immediate failure; as
 * rasio_sock_connect_tcp. For a host name, a failed lookup (ENOTFOUND: the name does not
 * resolve) and every later failure arrive as connect_failed. Closing the connection while
 * its name is being resolved is fine: its only callback is `closed`, and the resolver's
 * answer is dropped (rasio_loop_free waits for a lookup still running). *out is set
 * before any callback can run. */
RASIO_API int rasio_tcp_connect(rasio_loop_t *loop, const char *host, const char *port,
                                const rasio_tcp_opts_t *opts, rasio_tcp_t **out);
/* Wraps a connected stream socket made elsewhere (a runtime's, another library's, one
 * passed from another process) in a connection, as if accepted: no `connected` callback,
 * the connection is live when this returns. rasio sets it non-blocking and leaves its
 * other properties alone. Ownership: on success the socket is the connection's (rasio
 * closes it when the connection ends; the caller must not close it, nor use it for I/O);
 * on failure nothing was created and the socket is untouched, still the caller's. Any
 * thread: nothing runs until the object's executor takes it over (bytes that arrived
 * before are delivered then). Errors: EINVAL (NULL loop or out, read_size too large, not
 * a stream socket, a listening socket), EBADF (not a socket), ENOTCONN (not connected),
 * EEXIST (already subscribed on this loop), ENOMEM. */
RASIO_API int rasio_tcp_adopt(rasio_loop_t *loop, rasio_fd_t fd, const rasio_tcp_opts_t *opts,
                              rasio_tcp_t **out);
/* Queues bytes (copied) and sends what the kernel takes now; 0 once every byte is sent or
 * queued. Errors:
 * - EINVAL: NULL c, NULL data with len > 0, NULL iov with iovcnt > 0, more than 1024
 *   segments, a segment with a NULL base and a length, or lengths whose sum overflows
 *   size_t. Checked before anything else: nothing is sent or queued, the connection is
 *   untouched.
 * - ESTATE: not connected, or closing.
 * - ENOMEM, nothing sent (the connection was throttled, or the kernel took nothing):
 *   nothing of this call was sent or queued and the connection is unchanged; the caller
 *   may try again.
 * - ENOMEM after the kernel took a prefix: the rest could not be queued, so the stream
 *   cannot go on in order: the connection was hard-closed (closed follows from the loop).
 * - Another code: the socket failed (the reason from rasio_sock_last_error); the
 *   connection was hard-closed likewise. */
RASIO_API int rasio_tcp_write(rasio_tcp_t *c, const void *data, size_t len);
RASIO_API int rasio_tcp_writev(rasio_tcp_t *c, const rasio_iovec_t *iov, size_t iovcnt);
/* Deliver received data in chunks of exactly n bytes (0: whatever arrived). */
RASIO_API int rasio_tcp_expect(rasio_tcp_t *c, size_t n);
/* A muted connection does not read (so it does not notice a peer close) until unmuted. */
RASIO_API void rasio_tcp_mute(rasio_tcp_t *c);
RASIO_API void rasio_tcp_unmute(rasio_tcp_t *c);
/* Graceful close: flush queued writes, send FIN, wait for the peer's FIN, then closed;
 * after close_timeout_ns (default 10 s) the connection is hard-closed instead. A muted
 * connection, or a client not connected yet, is closed hard. closed comes from the loop
 * later, never inside this call. */
RASIO_API void rasio_tcp_close(rasio_tcp_t *c);
/* Immediate close: queued writes are dropped and the socket closed; closed comes from the
 * loop later (never inside this call). */
RASIO_API void rasio_tcp_hard_close(rasio_tcp_t *c);
/* Replaces the callbacks and user data (e.g. inside the listener's accepted). */
RASIO_API void rasio_tcp_set_callbacks(rasio_tcp_t *c, const rasio_tcp_cb_t *cb, void *data);
RASIO_API void *rasio_tcp_data(const rasio_tcp_t *c);
/* The socket; RASIO_INVALID_FD before a client connected and once the connection is closed
 * (from its `closed` on: rasio may close the socket at any moment after). */
RASIO_API rasio_fd_t rasio_tcp_fd(const rasio_tcp_t *c);
RASIO_API size_t rasio_tcp_queued(const rasio_tcp_t *c); /* bytes waiting to be sent */
RASIO_API bool rasio_tcp_throttled(const rasio_tcp_t *c);

/* A listener's callbacks; each runs on the listener's executor. */
typedef struct rasio_tcp_listener_cb {
  /* A connection was accepted; it starts with conn's callbacks and data (the listener's
   * options), which rasio_tcp_set_callbacks may replace here. Return false to refuse it
   * (it is closed without callbacks). NULL: every connection is accepted. */
  bool (*accepted)(rasio_tcp_listener_t *l, rasio_tcp_t *c);
  /* The listener is gone (closed by rasio_tcp_listener_close or an error) and its port
   * refuses connections. Final; it comes from the loop after the close, not inside it.
   * It may close the listener's connections (hard or not). */
  void (*closed)(rasio_tcp_listener_t *l);
  /* Optional: a connection could not be taken (err: a RASIO_E* code). Either accepting
   * failed: RASIO_EMFILE (descriptor limit) or RASIO_ENOMEM (out of memory or buffers)
   * leave the connection queued and the listener tries again after 10 ms; a connection
   * that died in the backlog (RASIO_ECONNABORTED, RASIO_ECONNRESET) is gone and the
   * listener goes on at once; anything else is retried after 10 ms too. Or a connection
   * was accepted but could not be set up (RASIO_ENOMEM...): its socket was closed, so the
   * peer sees the connection end. It may close the listener. No such connection counts
   * against limit. */
  void (*accept_error)(rasio_tcp_listener_t *l, int err);
} rasio_tcp_listener_cb_t;

/* Options of rasio_tcp_listen; zero = defaults. */
typedef struct rasio_tcp_listener_opts {
  const rasio_tcp_listener_cb_t *cb; /* copied; NULL members are skipped */
  void *data;                        /* rasio_tcp_listener_data() */
  rasio_mailbox_t *mailbox;   /* executor of the listener and its connections */
  size_t limit;               /* live connections at most (0: no limit) */
  /* Accepted connections' options: cb (copied at listen) and data are their callbacks and
   * user data until accepted replaces them; read_size and read_budget as for a client.
   * conn.mailbox must be NULL or the listener's mailbox (EINVAL otherwise): a listener's
   * connections run on its executor. */
  rasio_tcp_opts_t conn;
  /* rasio_tcp_listen only: listen with SO_REUSEPORT (rasio_sock_listen_tcp_reuseport), so
   * listeners on other loops can share the port. ENOTSUP on Windows. */
  bool reuseport;
} rasio_tcp_listener_opts_t;

/* Listens (host NULL = wildcard, port "0" = ephemeral, family RASIO_AF_*). May block: a
 * host name is resolved on the calling thread (a numeric address never waits). Errors: EINVAL
 * (bad argument, port not in 0..65535: see rasio_sock_listen_tcp), what listening fails
 * with (ENOTFOUND, EADDRINUSE...), ENOMEM. */
RASIO_API int rasio_tcp_listen(rasio_loop_t *loop, const char *host, const char *port, int family,
                               const rasio_tcp_listener_opts_t *opts,
                               rasio_tcp_listener_t **out);
/* Wraps a listening stream socket made elsewhere (inherited, made with options rasio does
 * not set, or one of several rasio_sock_listen_tcp_reuseport sockets) in a listener, with
 * the same options and callbacks as rasio_tcp_listen (opts->reuseport must be false: the
 * socket is bound already). rasio sets it non-blocking. Ownership: on success it is the
 * listener's (closed when the listener closes); on failure nothing was created and the
 * socket is untouched, still the caller's. Any thread. Errors: EINVAL (bad argument, not
 * a stream socket, not listening), EBADF (not a socket), EEXIST (already subscribed on
 * this loop), ENOMEM. */
RASIO_API int rasio_tcp_listen_fd(rasio_loop_t *loop, rasio_fd_t fd,
                                  const rasio_tcp_listener_opts_t *opts,
                                  rasio_tcp_listener_t **out);
/* Unix domain stream sockets (POSIX): a listener bound to path, and a client connecting
 * to one. They give the same objects as TCP (rasio_tcp_listener_t, rasio_tcp_t) with the
 * same callbacks, options (reuseport excepted: EINVAL) and rules; rasio_tcp_listener_addr
 * and rasio_sock_*_addr give an address of family 0 that rasio_addr_format refuses. path
 * is a filesystem path, not empty and shorter than the OS's sun_path (104 or 108 bytes;
 * EINVAL otherwise; no Linux abstract names). rasio never unlinks the path: a file left
 * from an earlier listener makes the next one fail with EADDRINUSE, so unlink it before
 * listening and after closing. A connect fails at once (nothing created) with ENOTFOUND
 * when the path does not exist, ECONNREFUSED when nothing listens there, EAGAIN when the
 * listener's backlog is full (Linux); otherwise its outcome arrives as connected or
 * connect_failed, as for rasio_tcp_connect. Windows: ENOTSUP (Winsock has AF_UNIX since
 * Windows 10 1803, but rasio's Windows backends are not verified with it). Any thread. */
RASIO_API int rasio_unix_listen(rasio_loop_t *loop, const char *path,
                                const rasio_tcp_listener_opts_t *opts,
                                rasio_tcp_listener_t **out);
RASIO_API int rasio_unix_connect(rasio_loop_t *loop, const char *path,
                                 const rasio_tcp_opts_t *opts, rasio_tcp_t **out);
RASIO_API void rasio_tcp_listener_close(rasio_tcp_listener_t *l);
/* Closes every connection the listener made that is still live (not yet `closed`):
 * gracefully (rasio_tcp_close: queued bytes flushed, FIN, wait for the peer's) or, with
 * hard, at once (rasio_tcp_hard_close). The listener itself keeps listening: for a
 * shutdown, close it first (rasio_tcp_listener_close), then its connections (here, or
 * inside the listener's `closed`). The connections' `closed` callbacks follow the rule of
 * rasio_tcp_close / rasio_tcp_hard_close (they may run inside this call); they may close
 * other connections or call this again. Connections accepted during the call are not
 * closed. On the listener's executor only; NULL: nothing. */
RASIO_API void rasio_tcp_listener_close_connections(rasio_tcp_listener_t *l, bool hard);
/* Live connections made by the listener (accepted and not yet closed). Executor only;
 * 0 for NULL. */
RASIO_API size_t rasio_tcp_listener_connections(const rasio_tcp_listener_t *l);
RASIO_API void *rasio_tcp_listener_data(const rasio_tcp_listener_t *l);
/* The bound address; ESTATE once the listener is closing (its socket may be gone). */
RASIO_API int rasio_tcp_listener_addr(const rasio_tcp_listener_t *l, rasio_addr_t *out);

/* A UDP socket's callbacks; each runs on the socket's executor. */
typedef struct rasio_udp_cb {
  /* One datagram (possibly empty, or a prefix if larger than read_size). */
  void (*received)(rasio_udp_t *u, const void *data, size_t len, const rasio_addr_t *from);
  /* The socket is gone (closed by rasio_udp_close, or a receive error). Final. */
  void (*closed)(rasio_udp_t *u);
} rasio_udp_cb_t;

/* Options of rasio_udp_bind; zero = defaults. */
typedef struct rasio_udp_opts {
  const rasio_udp_cb_t *cb; /* copied; NULL members are skipped */
  void *data;               /* rasio_udp_data() */
  rasio_mailbox_t *mailbox; /* executor; NULL = inline */
  size_t read_size;   /* largest datagram delivered whole (default 65536, minimum 1) */
  size_t read_budget; /* datagrams per turn before yielding (default 64) */
} rasio_udp_opts_t;

/* Binds (host NULL = wildcard, port "0" = ephemeral). May block: a host name is resolved on
 * the calling thread (a numeric address never waits). Errors: EINVAL (bad argument, port not
 * in 0..65535: see rasio_sock_listen_udp), what binding fails with, ENOMEM. */
RASIO_API int rasio_udp_bind(rasio_loop_t *loop, const char *host, const char *port, int family,
                             const rasio_udp_opts_t *opts, rasio_udp_t **out);
/* Sends one datagram: RASIO_IO_OK, RASIO_IO_RETRY (not sent: the caller decides), or
 * RASIO_IO_ERROR: this datagram was not sent and rasio_sock_last_error() tells why, e.g.
 * RASIO_EINVAL (NULL u, NULL or empty `to`, NULL data with len > 0), RASIO_EAFNOSUPPORT (an
 * address the socket's family cannot reach), RASIO_EMSGSIZE (too large for one datagram),
 * RASIO_EACCES (broadcast without rasio_sock_set_broadcast), RASIO_ESTATE (the socket is
 * closing, e.g. inside `closed`). A send error is the datagram's alone: it changes nothing
 * else, and the socket stays open and keeps receiving. */
RASIO_API int rasio_udp_send(rasio_udp_t *u, const void *data, size_t len,
                             const rasio_addr_t *to);
RASIO_API void rasio_udp_close(rasio_udp_t *u);
RASIO_API void *rasio_udp_data(const rasio_udp_t *u);
/* The socket, for rasio_sock_set_* options; RASIO_INVALID_FD once closed (from `closed` on:
 * rasio may close the socket at any moment after). */
RASIO_API rasio_fd_t rasio_udp_fd(const rasio_udp_t *u);
/* The bound address; ESTATE once closed. */
RASIO_API int rasio_udp_addr(const rasio_udp_t *u, rasio_addr_t *out);

#ifdef __cplusplus
}
#endif

#endif /* RASIO_H */
