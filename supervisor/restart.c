/* Restart backoff and crash-loop throttle; pure functions so the table tests cover them. */
#include "restart.h"

#include <string.h>

int64_t sup_restart_crashed(struct sup_restart *r, int64_t started_ms, int64_t now_ms,
			    int jitter_permille)
{
	if (now_ms - started_ms >= RESTART_STABLE_MS)
		r->consecutive = 0;
	r->consecutive++;

	r->crashes[r->ncrashes % THROTTLE_CRASHES] = now_ms;
	r->ncrashes++;
	if (r->ncrashes >= THROTTLE_CRASHES) {
		/* the oldest of the last THROTTLE_CRASHES crashes */
		int64_t oldest = r->crashes[r->ncrashes % THROTTLE_CRASHES];
		if (now_ms - oldest <= THROTTLE_WINDOW_MS) {
			r->throttled_until = now_ms + THROTTLE_HOLD_MS;
			r->ncrashes = 0;
			return THROTTLE_HOLD_MS;
		}
	}

	int64_t delay = RESTART_DELAY_MIN_MS;
	for (unsigned i = 1; i < r->consecutive && delay < RESTART_DELAY_MAX_MS; i++)
		delay *= 2;
	if (delay > RESTART_DELAY_MAX_MS)
		delay = RESTART_DELAY_MAX_MS;
	if (jitter_permille < -100)
		jitter_permille = -100;
	if (jitter_permille > 100)
		jitter_permille = 100;
	return delay + delay * jitter_permille / 1000;
}

int sup_restart_throttled(const struct sup_restart *r, int64_t now_ms)
{
	return r->throttled_until != 0 && now_ms < r->throttled_until;
}

void sup_restart_clear(struct sup_restart *r) { memset(r, 0, sizeof(*r)); }
