/* SPDX-License-Identifier: BSD-2-Clause */
/* rasio_addr_t <-> struct sockaddr: for programs that hold OS addresses already (from
 * their own socket calls, or a runtime's). rasio_addr_t is a sockaddr's bytes and their
 * length (sock/common.c), so both directions are checked copies. */
#include <string.h>

#include "sock/sock.h"

/* The size of family's structure, or 0 for a family rasio_addr_t does not carry. */
static size_t family_size(rasio__sa_family_t af) {
  if (af == AF_INET) return sizeof(struct sockaddr_in);
  if (af == AF_INET6) return sizeof(struct sockaddr_in6);
  return 0;
}

int rasio_addr_from_sockaddr(const void *sa, size_t len, rasio_addr_t *out) {
  size_t at = offsetof(struct sockaddr, sa_family);
  rasio__sa_family_t af;
  if (sa == NULL || out == NULL || len < at + sizeof af) return RASIO_EINVAL;
  memcpy(&af, (const char *)sa + at, sizeof af);
  size_t need = family_size(af);
  if (need == 0) return RASIO_EAFNOSUPPORT;
  if (len < need) return RASIO_EINVAL;
  /* Only the family's structure: bytes past it (a sockaddr_storage's tail) mean nothing. */
  rasio__sock_addr_set(out, sa, (socklen_t)need);
  return 0;
}

int rasio_addr_to_sockaddr(const rasio_addr_t *addr, void *sa, size_t cap, size_t *len) {
  if (addr == NULL || sa == NULL || len == NULL) return RASIO_EINVAL;
  int af = rasio__sock_addr_af(addr);
  if (af == AF_UNSPEC) return RASIO_EINVAL;
  size_t need = family_size((rasio__sa_family_t)af);
  *len = need;
  if (cap < need) return RASIO_EINVAL;
  memcpy(sa, addr->u.raw, need);
  return 0;
}
