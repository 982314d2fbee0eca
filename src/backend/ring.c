/* SPDX-License-Identifier: BSD-2-Clause */
/* The io_uring plumbing (ring.h): setup, mapping, submission entries, enter.
 *
 * rasio asks for Linux 6.1 (IORING_SETUP_DEFER_TASKRUN) and nothing newer, and checks the
 * features it builds on at setup rather than trusting a version number:
 *   IORING_FEAT_SINGLE_MMAP  the SQ and CQ rings share one mapping;
 *   IORING_FEAT_NODROP       a full CQ does not drop completions (they wait in the kernel,
 *                            and enter says EBUSY until they have been reaped);
 *   IORING_FEAT_EXT_ARG      enter takes a timespec, so a wait has nanosecond timeouts.
 * io_uring may also be switched off (kernel.io_uring_disabled, a seccomp profile): setup
 * then fails, and the backend is unavailable rather than broken.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/ring.h"
#include "internal.h"

#define NEEDED_FEATURES (IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG)
#define SETUP_FLAGS                                                                     \
  (IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL | \
   IORING_SETUP_CQSIZE)

static int sys_setup(unsigned entries, struct io_uring_params *p) {
  return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned submit, unsigned wait_nr, unsigned flags, void *arg,
                     size_t argsz) {
  return (int)syscall(__NR_io_uring_enter, fd, submit, wait_nr, flags, arg, argsz);
}

/* A ring fd with the features rasio needs, or -errno. */
static int setup(unsigned sq_entries, unsigned cq_entries, unsigned flags,
                 struct io_uring_params *p) {
  memset(p, 0, sizeof *p);
  p->flags = SETUP_FLAGS | flags;
  p->cq_entries = cq_entries;
  int fd = sys_setup(sq_entries, p);
  if (fd < 0) return -errno;
  if ((p->features & NEEDED_FEATURES) != NEEDED_FEATURES) {
    close(fd);
    return -ENOSYS;
  }
  return fd;
}

int rasio__ring_probe(void) {
  struct io_uring_params p;
  int fd = setup(2, 4, 0, &p);
  if (fd >= 0) {
    close(fd);
    return 0;
  }
  return fd == -ENOMEM || fd == -EMFILE || fd == -ENFILE ? RASIO_ENOMEM : RASIO_EUNAVAIL;
}

static int os_error(int negated_errno) {
  errno = -negated_errno;
  return rasio__os_error();
}

/* Maps the rings of fd as p describes them into r: 0 or -errno. */
static int map(rasio__ring_t *r, int fd, const struct io_uring_params *p) {
  size_t sq_len = p->sq_off.array + p->sq_entries * sizeof(uint32_t);
  size_t cq_len = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
  r->rings_len = sq_len > cq_len ? sq_len : cq_len;
  r->rings = mmap(NULL, r->rings_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                  IORING_OFF_SQ_RING);
  if (r->rings == MAP_FAILED) return -errno;
  r->sqes_len = p->sq_entries * sizeof(struct io_uring_sqe);
  r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                 IORING_OFF_SQES);
  if (r->sqes == MAP_FAILED) {
    int rc = -errno;
    munmap(r->rings, r->rings_len);
    return rc;
  }
  char *base = r->rings;
  r->sq_khead = (uint32_t *)(base + p->sq_off.head);
  r->sq_ktail = (uint32_t *)(base + p->sq_off.tail);
  r->sq_mask = *(uint32_t *)(base + p->sq_off.ring_mask);
  r->sq_entries = p->sq_entries;
  r->cq_khead = (uint32_t *)(base + p->cq_off.head);
  r->cq_ktail = (uint32_t *)(base + p->cq_off.tail);
  r->cq_mask = *(uint32_t *)(base + p->cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(base + p->cq_off.cqes);
  /* The indirection array maps slot i to entry i once and for all. */
  uint32_t *array = (uint32_t *)(base + p->sq_off.array);
  for (uint32_t i = 0; i < p->sq_entries; i++) array[i] = i;
  r->sq_tail = *r->sq_ktail;
  return 0;
}

int rasio__ring_init(rasio__ring_t *r, unsigned sq_entries, unsigned cq_entries, bool disabled) {
  memset(r, 0, sizeof *r);
  r->fd = -1;
  struct io_uring_params p;
  int fd = setup(sq_entries, cq_entries, disabled ? IORING_SETUP_R_DISABLED : 0, &p);
  if (fd < 0) return fd == -ENOSYS || fd == -EINVAL ? RASIO_EUNAVAIL : os_error(fd);
  int rc = map(r, fd, &p);
  if (rc != 0) {
    close(fd);
    return os_error(rc);
  }
  r->fd = fd;
  return 0;
}

void rasio__ring_fini(rasio__ring_t *r) {
  if (r->fd < 0) return;
  munmap(r->sqes, r->sqes_len);
  munmap(r->rings, r->rings_len);
  close(r->fd);
  r->fd = -1;
}

static uint32_t unsubmitted(const rasio__ring_t *r) {
  return r->sq_tail - __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE);
}

/* Hands what is queued to the kernel without waiting: 0 or -errno. */
static int submit(rasio__ring_t *r) {
  __atomic_store_n(r->sq_ktail, r->sq_tail, __ATOMIC_RELEASE);
  int n = sys_enter(r->fd, unsubmitted(r), 0, 0, NULL, 0);
  return n < 0 ? -errno : 0;
}

bool rasio__ring_room(rasio__ring_t *r, uint32_t n) {
  if (r->sq_entries - unsubmitted(r) >= n) return true;
  return submit(r) == 0 && r->sq_entries - unsubmitted(r) >= n;
}

struct io_uring_sqe *rasio__ring_sqe(rasio__ring_t *r) {
  if (!rasio__ring_room(r, 1)) return NULL;
  struct io_uring_sqe *sqe = &r->sqes[r->sq_tail & r->sq_mask];
  memset(sqe, 0, sizeof *sqe);
  r->sq_tail++;
  return sqe;
}

int rasio__ring_enter(rasio__ring_t *r, uint64_t timeout_ns) {
  __atomic_store_n(r->sq_ktail, r->sq_tail, __ATOMIC_RELEASE);
  struct __kernel_timespec ts = {.tv_sec = (long long)(timeout_ns / 1000000000u),
                                 .tv_nsec = (long long)(timeout_ns % 1000000000u)};
  struct io_uring_getevents_arg arg = {.ts = timeout_ns == UINT64_MAX ? 0 : (uint64_t)(uintptr_t)&ts};
  /* GETEVENTS always: with DEFER_TASKRUN it is what posts completions at all. */
  unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
  int n = sys_enter(r->fd, unsubmitted(r), timeout_ns != 0 ? 1 : 0, flags, &arg, sizeof arg);
  return n < 0 ? -errno : 0;
}

int rasio__ring_register_eventfd(rasio__ring_t *r, int fd) {
  int rc = (int)syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_EVENTFD, &fd, 1);
  return rc < 0 ? -errno : 0;
}

int rasio__ring_enable(rasio__ring_t *r) {
  int rc = (int)syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
  return rc < 0 ? -errno : 0;
}
