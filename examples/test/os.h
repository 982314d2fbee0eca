/* SPDX-License-Identifier: BSD-2-Clause */
/* The test driver's platform layer (run_examples.c): child processes with piped stdin and
 * stdout, blocking loopback sockets with bounded waits, time. os_posix.c and os_win.c
 * implement the processes, net.c the sockets for both. Every wait takes a timeout in ms. */
#ifndef EXAMPLES_OS_H
#define EXAMPLES_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct proc proc_t;

/* Process-wide setup (POSIX: SIGPIPE ignored; Windows: Winsock started). */
void os_init(void);
uint64_t os_now_ms(void);
void os_sleep_ms(unsigned ms);
/* path = the directory of this program (from argv0) + name + the platform's executable
 * suffix. */
void os_sibling_path(const char *argv0, const char *name, char *path, size_t cap);

/* Starts path with args (NULL-terminated, args[0] not included), stdin and stdout piped
 * to us, stderr inherited. NULL on failure (the reason printed). */
proc_t *proc_start(const char *path, const char *const args[]);
/* Reads what the child wrote: > 0 bytes, 0 end of output, -1 nothing within ms. */
long proc_read(proc_t *p, char *buf, size_t cap, unsigned ms);
bool proc_write(proc_t *p, const void *buf, size_t len);
void proc_close_stdin(proc_t *p);
/* Can a child be sent SIGINT? Not on Windows: a console control event reaches every
 * process attached to the console, this one included, and Wine has no console here. */
bool proc_can_interrupt(void);
/* Sends SIGINT (only where proc_can_interrupt). */
bool proc_interrupt(proc_t *p);
/* Waits for the exit: its status, or -1 if it did not end within ms (it is killed then).
 * Frees p either way. */
int proc_wait(proc_t *p, unsigned ms);
/* Kills the child, reaps it and frees p. */
void proc_kill(proc_t *p);

/* Sockets to 127.0.0.1, blocking, with bounded reads. -1 is no socket. */
typedef intptr_t net_sock_t;
net_sock_t net_tcp_connect(uint16_t port);
net_sock_t net_udp(void);
bool net_send(net_sock_t s, const void *buf, size_t len); /* all of it */
bool net_sendto(net_sock_t s, uint16_t port, const void *buf, size_t len);
/* > 0 bytes, 0 end of stream, -1 nothing within ms, -2 error. */
long net_recv(net_sock_t s, void *buf, size_t cap, unsigned ms);
void net_close(net_sock_t s);

#endif
