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
