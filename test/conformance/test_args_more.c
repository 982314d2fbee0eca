/* The bad-argument sweep (args.h), continued: the rows of the functions issue 12's API gaps
 * 4-6 added (rasio_loop_call, rasio_event_set_interval, ...). */
#include <signal.h>
#include <string.h>

#include "args.h"

static void sw_nop_call(void *arg) { (void)arg; }

SWEEP(rasio_loop_call) {
  SW_ERR("NULL loop", rasio_loop_call(NULL, sw_nop_call, NULL), RASIO_EINVAL);
  rasio_loop_t *loop = th_loop();
  SW_ERR("NULL fn", rasio_loop_call(loop, NULL, NULL), RASIO_EINVAL);
  SW_ERR("nothing queued by the bad call: free works", rasio_loop_free(loop), RASIO_OK);
}

SWEEP(rasio_event_set_interval) {
  SW_ERR("NULL event", rasio_event_set_interval(NULL, 1), RASIO_EINVAL);
  rasio_loop_t *loop = th_loop();
  rasio_fd_t a, b;
  th_tcp_pair(&a, &b);
  probe_t fp, p;
  rasio_event_t *fev = sw_fd_event(loop, &fp, a, NULL);
  SW_ERR("a socket event", rasio_event_set_interval(fev, 1000), RASIO_EINVAL);
  sw_fd_works("the socket event still delivers", loop, NULL, &fp, b);
  sw_dispose(loop, NULL, &fp, fev);

  rasio_event_t *ev = sw_timer_event(loop, &p, UINT64_MAX, NULL);
  SW_ERR("UINT64_MAX period on a timer that never fires", rasio_event_set_interval(ev, UINT64_MAX),
         RASIO_OK);
  sw_timer_works("the timer still fires", loop, NULL, &p, ev);
  SW_ERR("period 0 (one-shot again)", rasio_event_set_interval(ev, 0), RASIO_OK);
  p.keep = true;
  CHECK_OK(rasio_event_unsubscribe(ev));
  SW_ERR("after unsubscribe", rasio_event_set_interval(ev, 1000), RASIO_ESTATE);
  CHECK(sw_wait(loop, NULL, &p.disposed, 1));
  SW_ERR("after DISPOSED", rasio_event_set_interval(ev, 1000), RASIO_ESTATE);
  CHECK_OK(rasio_event_destroy(ev));
  th_close(a);
  th_close(b);
  th_loop_end(loop);
}

SWEEP(rasio_os_error) {
  SW_TRUE("no argument to get wrong: returns without failing", rasio_os_error() != RASIO_EOS);
}

SWEEP(rasio_version) {
  SW_TRUE("no argument: a static version string", rasio_version() != NULL &&
                                                      strchr(rasio_version(), '.') != NULL);
}

SWEEP(rasio_version_hex) {
  SW_TRUE("no argument: the header's number", rasio_version_hex() == RASIO_VERSION_HEX);
}

SWEEP(rasio_addr_from_sockaddr) {
  rasio_addr_t good, out;
  CHECK_OK(rasio_addr_parse("127.0.0.1", 80, &good));
  unsigned char sa[sizeof good.u.raw];
  size_t len = 0;
  CHECK_OK(rasio_addr_to_sockaddr(&good, sa, sizeof sa, &len));
  memset(&out, 0x5a, sizeof out);
  SW_ERR("NULL sa", rasio_addr_from_sockaddr(NULL, len, &out), RASIO_EINVAL);
  SW_ERR("NULL out", rasio_addr_from_sockaddr(sa, len, NULL), RASIO_EINVAL);
  SW_ERR("len 0", rasio_addr_from_sockaddr(sa, 0, &out), RASIO_EINVAL);
  SW_ERR("len one short", rasio_addr_from_sockaddr(sa, len - 1, &out), RASIO_EINVAL);
  SW_TRUE("out untouched by every bad call", out.len == 0x5a5a5a5au);
  unsigned char zero[sizeof good.u.raw] = {0};
  SW_ERR("family 0", rasio_addr_from_sockaddr(zero, sizeof zero, &out), RASIO_EAFNOSUPPORT);
  SW_ERR("the good one still converts", rasio_addr_from_sockaddr(sa, len, &out), RASIO_OK);
  SW_TRUE("same port", rasio_addr_port(&out) == 80);
}

SWEEP(rasio_addr_to_sockaddr) {
  rasio_addr_t good, empty;
  CHECK_OK(rasio_addr_parse("::1", 80, &good));
  memset(&empty, 0, sizeof empty);
  unsigned char sa[sizeof good.u.raw];
  size_t len = 0;
  SW_ERR("NULL addr", rasio_addr_to_sockaddr(NULL, sa, sizeof sa, &len), RASIO_EINVAL);
  SW_ERR("NULL sa", rasio_addr_to_sockaddr(&good, NULL, sizeof sa, &len), RASIO_EINVAL);
  SW_ERR("NULL len", rasio_addr_to_sockaddr(&good, sa, sizeof sa, NULL), RASIO_EINVAL);
  SW_ERR("empty address", rasio_addr_to_sockaddr(&empty, sa, sizeof sa, &len), RASIO_EINVAL);
  rasio_addr_t huge = good;
  huge.len = UINT32_MAX;
  SW_ERR("length past the storage", rasio_addr_to_sockaddr(&huge, sa, sizeof sa, &len),
         RASIO_EINVAL);
  SW_ERR("cap 0", rasio_addr_to_sockaddr(&good, sa, 0, &len), RASIO_EINVAL);
  SW_TRUE("cap 0 still says the size needed", len > 0 && len <= sizeof sa);
  SW_ERR("the good one still converts", rasio_addr_to_sockaddr(&good, sa, sizeof sa, &len),
         RASIO_OK);
}

static void sw_log_sink(const char *line, void *ctx) {
  (void)line;
  (*(unsigned *)ctx)++;
}

SWEEP(rasio_set_log) {
  unsigned lines = 0;
  rasio_set_log(NULL, NULL);
  SW_TRUE("NULL fn: back to the default, no crash", true);
  rasio_set_log(sw_log_sink, &lines);
  rasio_loop_t *loop = th_loop();
  SW_TRUE("a receiver set after NULL receives", lines > 0);
  rasio_set_log(NULL, NULL);
  th_loop_end(loop);
}

SWEEP(rasio_loop_dump) {
  SW_ERR("NULL loop", rasio_loop_dump(NULL), RASIO_EINVAL);
  rasio_loop_t *loop = th_loop();
  SW_ERR("an empty loop, no receiver", rasio_loop_dump(loop), RASIO_OK);
  th_loop_end(loop);
}
