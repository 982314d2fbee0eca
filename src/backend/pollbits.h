/* SPDX-License-Identifier: BSD-2-Clause */
/* Linux poll bits, shared by the two backends that speak them (epoll.c, uring.c): what to
 * ask for a set of directions, what a report means in directions, and the eventfd both wake
 * their wait with.
 *
 * - RDHUP is asked for with READ only: a half-close is level-like, so with only WRITE armed
 *   a oneshot report of it would be filtered out by the core and re-armed forever.
 * - ERR and HUP are folded into both directions, so whichever is armed hears about them;
 *   a refused connect reports OUT|ERR|HUP, so WRITE is never lost.
 * - RASIO__HUP marks a report that says the stream's end (or an error) is queued.
 */
#ifndef RASIO_POLLBITS_H
#define RASIO_POLLBITS_H

#include <poll.h>
#include <stdint.h>
#include <unistd.h>

#include "internal.h"

static inline uint32_t rasio__poll_mask(uint32_t arm) {
  uint32_t m = 0;
  if (arm & RASIO_READ) m |= POLLIN | POLLRDHUP;
  if (arm & RASIO_WRITE) m |= POLLOUT;
  return m;
}

static inline uint32_t rasio__poll_dirs(uint32_t e) {
  uint32_t d = 0;
  if (e & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) d |= RASIO_READ;
  if (e & (POLLOUT | POLLHUP | POLLERR)) d |= RASIO_WRITE;
  if (e & (POLLRDHUP | POLLHUP | POLLERR)) d |= RASIO__HUP;
  return d;
}

/* Adds one to eventfd fd: async-signal-safe. EAGAIN (the counter full) still leaves it
 * readable, so the wakeup is not lost. */
static inline void rasio__eventfd_poke(int fd) {
  uint64_t one = 1;
  ssize_t rc = write(fd, &one, sizeof one);
  (void)rc;
}

#endif
