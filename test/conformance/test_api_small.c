/* SPDX-License-Identifier: BSD-2-Clause */
/* The small API gaps of issue 12 (gap 6): the runtime version, rasio_addr_t <-> struct
 * sockaddr, and the OS error kept behind RASIO_EOS.
 */
#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

/* The linked library's version is the one this test was compiled with (same build). */
TEST(version_matches_header) {
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", RASIO_VERSION_MAJOR, RASIO_VERSION_MINOR,
           RASIO_VERSION_PATCH);
  CHECK(strcmp(rasio_version(), want) == 0);
  CHECK_EQ(rasio_version_hex(), (unsigned)RASIO_VERSION_HEX);
  CHECK_EQ(rasio_version_hex() >> 16, (unsigned)RASIO_VERSION_MAJOR);
}

/* An IPv4 address parsed by rasio comes out as the sockaddr_in the OS would build. */
TEST(addr_to_sockaddr_ipv4) {
  rasio_addr_t a;
  CHECK_OK(rasio_addr_parse("127.0.0.1", 8080, &a));
  struct sockaddr_storage ss;
  size_t len = 0;
  CHECK_OK(rasio_addr_to_sockaddr(&a, &ss, sizeof ss, &len));
  CHECK_EQ(len, sizeof(struct sockaddr_in));
  const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
  CHECK_EQ(sin->sin_family, AF_INET);
  CHECK_EQ(ntohs(sin->sin_port), 8080);
  CHECK_EQ(ntohl(sin->sin_addr.s_addr), 0x7f000001u);
  /* Too small: EINVAL, the size needed in *len, the buffer untouched. */
  unsigned char small[4] = {0xaa, 0xaa, 0xaa, 0xaa};
  len = 0;
  CHECK_ERR(rasio_addr_to_sockaddr(&a, small, sizeof small, &len), RASIO_EINVAL);
  CHECK_EQ(len, sizeof(struct sockaddr_in));
  CHECK_EQ(small[0], 0xaa);
}

/* A hand-built sockaddr_in6 (in a larger sockaddr_storage) becomes a rasio address that
 * rasio's own functions read, and converts back to the same bytes. */
TEST(addr_from_sockaddr_ipv6_round_trip) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(443);
  sin6->sin6_addr.s6_addr[15] = 1; /* ::1 */
  rasio_addr_t a;
  CHECK_OK(rasio_addr_from_sockaddr(&ss, sizeof ss, &a));
  CHECK_EQ(rasio_addr_family(&a), RASIO_AF_INET6);
  CHECK_EQ(rasio_addr_port(&a), 443);
  char buf[64];
  CHECK_OK(rasio_addr_format(&a, buf, sizeof buf));
  CHECK(strcmp(buf, "[::1]:443") == 0);
  struct sockaddr_in6 back;
  size_t len = 0;
  CHECK_OK(rasio_addr_to_sockaddr(&a, &back, sizeof back, &len));
  CHECK_EQ(len, sizeof back);
  CHECK(memcmp(&back, sin6, sizeof back) == 0);
}

/* The structure must be whole, and of a family rasio_addr_t carries. */
TEST(addr_from_sockaddr_rejects_short_and_foreign) {
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  rasio_addr_t a;
  memset(&a, 0x5a, sizeof a);
  CHECK_ERR(rasio_addr_from_sockaddr(&sin, sizeof sin - 1, &a), RASIO_EINVAL);
  CHECK_EQ(a.len, 0x5a5a5a5au); /* untouched */
  sin.sin_family = AF_UNSPEC;
  CHECK_ERR(rasio_addr_from_sockaddr(&sin, sizeof sin, &a), RASIO_EAFNOSUPPORT);
  CHECK_EQ(a.len, 0x5a5a5a5au);
}
