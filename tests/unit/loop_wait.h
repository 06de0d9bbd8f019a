/* Bounded waits on a libev loop for unit tests: run until a predicate holds (failing the test
 * after a deadline), or for a fixed time to show that nothing more happens. */
#ifndef XMPPD_TEST_LOOP_WAIT_H
#define XMPPD_TEST_LOOP_WAIT_H
#include <ev.h>

typedef int (*pred_fn)(void *ctx);

struct loop_waiter {
	pred_fn pred;
	void *ctx;
	int timed_out;
};

static inline void loop_wait_tick_cb(struct ev_loop *lp, ev_timer *w, int revents)
{
	struct loop_waiter *wt = w->data;
	(void)revents;
	if (wt->pred && wt->pred(wt->ctx))
		ev_break(lp, EVBREAK_ONE);
}

static inline void loop_wait_deadline_cb(struct ev_loop *lp, ev_timer *w, int revents)
{
	struct loop_waiter *wt = w->data;
	(void)revents;
	wt->timed_out = 1;
	ev_break(lp, EVBREAK_ONE);
}

/* Runs loop until pred holds or secs pass; with what set, a timeout fails the test.
 * pred NULL: just runs the loop for secs. */
static inline void loop_wait(struct ev_loop *loop, pred_fn pred, void *ctx, double secs, const char *what)
{
	struct loop_waiter wt = {pred, ctx, 0};
	ev_timer tick, deadline;
	if (pred && pred(ctx))
		return;
	ev_timer_init(&tick, loop_wait_tick_cb, 0.001, 0.001);
	tick.data = &wt;
	ev_timer_init(&deadline, loop_wait_deadline_cb, secs, 0.);
	deadline.data = &wt;
	if (pred)
		ev_timer_start(loop, &tick);
	ev_timer_start(loop, &deadline);
	ev_run(loop, 0);
	ev_timer_stop(loop, &tick);
	ev_timer_stop(loop, &deadline);
	if (what && pred && wt.timed_out && !pred(ctx))
		fail_msg("timed out after %.0fs waiting for: %s", secs, what);
}

#endif
