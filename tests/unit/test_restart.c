/* The supervisor's restart policy: backoff steps, stable-uptime reset, crash-loop throttle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "supervisor/restart.h"

struct step {
	int64_t started, now;	/* ms */
	int64_t want_delay;
	int want_throttled;	/* at now */
};

static void run_steps(const char *name, const struct step *s, size_t n)
{
	struct sup_restart r = {0};
	for (size_t i = 0; i < n; i++) {
		int64_t got = sup_restart_crashed(&r, s[i].started, s[i].now, 0);
		if (got != s[i].want_delay || sup_restart_throttled(&r, s[i].now) != s[i].want_throttled) {
			fprintf(stderr, "case %s step %zu: got delay %lld throttled %d, want %lld %d\n", name,
				i, (long long)got, sup_restart_throttled(&r, s[i].now),
				(long long)s[i].want_delay, s[i].want_throttled);
			fail();
		}
	}
}

static void test_backoff_doubles_and_caps(void **state)
{
	(void)state;
	/* crashes 70 s apart never throttle; each run shorter than 60 s keeps n growing */
	struct step s[12];
	int64_t want = 250;
	for (int i = 0; i < 12; i++) {
		s[i] = (struct step){.started = i * 70000 + 1000, .now = i * 70000 + 1500,
				     .want_delay = want, .want_throttled = 0};
		want = want * 2 > 30000 ? 30000 : want * 2;
	}
	run_steps("doubling", s, 12);
}

static void test_stable_uptime_resets(void **state)
{
	(void)state;
	const struct step s[] = {
		{0, 1000, 250, 0},
		{2000, 3000, 500, 0},
		{4000, 4000 + 60000, 250, 0},	/* ran 60 s: n starts again */
		{70000, 71000, 500, 0},
	};
	run_steps("stable-reset", s, sizeof(s) / sizeof(s[0]));
}

static void test_five_quick_crashes_throttle(void **state)
{
	(void)state;
	const struct step s[] = {
		{0, 100, 250, 0},
		{400, 500, 500, 0},
		{1100, 1200, 1000, 0},
		{2300, 2400, 2000, 0},
		{4500, 4600, 60000, 1},	/* fifth crash within 60 s */
	};
	run_steps("throttle", s, sizeof(s) / sizeof(s[0]));
	struct sup_restart r = {0};
	for (int i = 0; i < 5; i++)
		sup_restart_crashed(&r, i * 1000, i * 1000 + 10, 0);
	assert_true(sup_restart_throttled(&r, 5000));
	assert_false(sup_restart_throttled(&r, 4010 + 60000));
	sup_restart_clear(&r);
	assert_false(sup_restart_throttled(&r, 5000));
}

static void test_five_slow_crashes_do_not_throttle(void **state)
{
	(void)state;
	struct sup_restart r = {0};
	for (int i = 0; i < 10; i++) {
		sup_restart_crashed(&r, i * 16000, i * 16000 + 10, 0);
		assert_false(sup_restart_throttled(&r, i * 16000 + 10));
	}
}

static void test_jitter_bounded(void **state)
{
	(void)state;
	struct sup_restart r = {0};
	assert_int_equal(sup_restart_crashed(&r, 0, 10, 100), 275);
	sup_restart_clear(&r);
	assert_int_equal(sup_restart_crashed(&r, 0, 10, -500), 225);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_doubles_and_caps),
		cmocka_unit_test(test_stable_uptime_resets),
		cmocka_unit_test(test_five_quick_crashes_throttle),
		cmocka_unit_test(test_five_slow_crashes_do_not_throttle),
		cmocka_unit_test(test_jitter_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
