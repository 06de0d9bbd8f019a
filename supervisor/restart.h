/* The restart policy of ARCHITECTURE §1 as a pure state machine (no clocks, no processes):
 * backoff min(250 ms × 2^(n-1), 30 s), n reset after 60 s of stable uptime, and 5 crashes
 * within 60 s throttle the worker for 60 s. Times are milliseconds on any monotonic clock. */
#ifndef XMPPD_RESTART_H
#define XMPPD_RESTART_H
#include <stdint.h>

#include "xlimits.h"

struct sup_restart {
	unsigned consecutive;			/* n: crashes since the last stable run */
	int64_t crashes[THROTTLE_CRASHES];	/* ring of the latest crash times */
	unsigned ncrashes;
	int64_t throttled_until;		/* 0 = not throttled */
};

/* A worker that started at started_ms crashed at now_ms. Returns the delay before the next
 * spawn in ms (jitter_permille in [-100, 100] spreads it); when the crash throttles the worker,
 * throttled_until is set and the delay runs to it. */
int64_t sup_restart_crashed(struct sup_restart *r, int64_t started_ms, int64_t now_ms,
			    int jitter_permille);
int sup_restart_throttled(const struct sup_restart *r, int64_t now_ms);
void sup_restart_clear(struct sup_restart *r);	/* xmppctl worker restart */

#endif
