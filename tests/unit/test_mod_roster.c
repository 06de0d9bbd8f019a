/* The RFC 6121 subscription state machine of mod_roster (mods/roster_sub.h) as tables:
 * every state of Appendix A against every subscription stanza, both directions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "mods/roster_sub.h"

/* states: subscription, ask (pending out), pending in, pre-approved */
#define NONE {0, 0, 0, 0}
#define NONE_PO {0, 1, 0, 0}
#define NONE_PI {0, 0, 1, 0}
#define NONE_PO_PI {0, 1, 1, 0}
#define NONE_APPROVED {0, 0, 0, 1}
#define TO {SUB_TO, 0, 0, 0}
#define TO_PI {SUB_TO, 0, 1, 0}
#define FROM {SUB_FROM, 0, 0, 0}
#define FROM_PO {SUB_FROM, 1, 0, 0}
#define BOTH {SUB_TO | SUB_FROM, 0, 0, 0}

struct row {
	const char *section;
	int dir, kind;
	struct sub_state from, want;
	int push, forward, auto_subscribed;
};

static const char *const kinds[] = {"subscribe", "subscribed", "unsubscribe", "unsubscribed"};

static void run_rows(const struct row *rows, size_t n)
{
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		struct sub_result r;
		sub_apply(rows[i].dir, rows[i].kind, &rows[i].from, &r);
		if (!sub_same(&r.next, &rows[i].want) || r.push != rows[i].push || r.forward != rows[i].forward ||
		    r.auto_subscribed != rows[i].auto_subscribed) {
			fprintf(stderr,
				"%s %s %s from %s ask=%d pi=%d ap=%d: got %s ask=%d pi=%d ap=%d push=%d fwd=%d auto=%d\n",
				rows[i].section, rows[i].dir == SUB_OUTBOUND ? "outbound" : "inbound", kinds[rows[i].kind],
				sub_name(rows[i].from.sub), rows[i].from.ask, rows[i].from.pending, rows[i].from.approved,
				sub_name(r.next.sub), r.next.ask, r.next.pending, r.next.approved, r.push, r.forward,
				r.auto_subscribed);
			failed = 1;
		}
	}
	assert_false(failed);
}

static void test_outbound(void **state)
{
	(void)state;
	static const struct row rows[] = {
		/* A.2.1 outbound subscribe */
		{"A.2.1", SUB_OUTBOUND, SUB_SUBSCRIBE, NONE, NONE_PO, 1, 1, 0},
		{"A.2.1", SUB_OUTBOUND, SUB_SUBSCRIBE, NONE_PO, NONE_PO, 0, 1, 0},
		{"A.2.1", SUB_OUTBOUND, SUB_SUBSCRIBE, NONE_PI, NONE_PO_PI, 1, 1, 0},
		{"A.2.1", SUB_OUTBOUND, SUB_SUBSCRIBE, FROM, FROM_PO, 1, 1, 0},
		{"A.2.1", SUB_OUTBOUND, SUB_SUBSCRIBE, TO, TO, 0, 1, 0},
		{"A.2.1", SUB_OUTBOUND, SUB_SUBSCRIBE, BOTH, BOTH, 0, 1, 0},
		/* A.2.2 outbound unsubscribe */
		{"A.2.2", SUB_OUTBOUND, SUB_UNSUBSCRIBE, TO, NONE, 1, 1, 0},
		{"A.2.2", SUB_OUTBOUND, SUB_UNSUBSCRIBE, TO_PI, NONE_PI, 1, 1, 0},
		{"A.2.2", SUB_OUTBOUND, SUB_UNSUBSCRIBE, BOTH, FROM, 1, 1, 0},
		{"A.2.2", SUB_OUTBOUND, SUB_UNSUBSCRIBE, NONE_PO, NONE, 1, 1, 0},
		{"A.2.2", SUB_OUTBOUND, SUB_UNSUBSCRIBE, NONE_PO_PI, NONE_PI, 1, 1, 0},
		{"A.2.2", SUB_OUTBOUND, SUB_UNSUBSCRIBE, FROM_PO, FROM, 1, 1, 0},
		{"A.2.2", SUB_OUTBOUND, SUB_UNSUBSCRIBE, NONE, NONE, 0, 0, 0},
		{"A.2.2", SUB_OUTBOUND, SUB_UNSUBSCRIBE, FROM, FROM, 0, 0, 0},
		/* A.2.3 outbound subscribed: approval, or pre-approval (§3.4: not routed) */
		{"A.2.3", SUB_OUTBOUND, SUB_SUBSCRIBED, NONE_PI, FROM, 1, 1, 0},
		{"A.2.3", SUB_OUTBOUND, SUB_SUBSCRIBED, NONE_PO_PI, FROM_PO, 1, 1, 0},
		{"A.2.3", SUB_OUTBOUND, SUB_SUBSCRIBED, TO_PI, BOTH, 1, 1, 0},
		{"3.4 pre-approval", SUB_OUTBOUND, SUB_SUBSCRIBED, NONE, NONE_APPROVED, 1, 0, 0},
		{"3.4 pre-approval", SUB_OUTBOUND, SUB_SUBSCRIBED, TO, {SUB_TO, 0, 0, 1}, 1, 0, 0},
		{"A.2.3", SUB_OUTBOUND, SUB_SUBSCRIBED, FROM, FROM, 0, 0, 0},
		{"A.2.3", SUB_OUTBOUND, SUB_SUBSCRIBED, BOTH, BOTH, 0, 0, 0},
		/* A.2.4 outbound unsubscribed: cancel or deny */
		{"A.2.4", SUB_OUTBOUND, SUB_UNSUBSCRIBED, FROM, NONE, 1, 1, 0},
		{"A.2.4", SUB_OUTBOUND, SUB_UNSUBSCRIBED, FROM_PO, NONE_PO, 1, 1, 0},
		{"A.2.4", SUB_OUTBOUND, SUB_UNSUBSCRIBED, BOTH, TO, 1, 1, 0},
		{"A.2.4 deny", SUB_OUTBOUND, SUB_UNSUBSCRIBED, NONE_PI, NONE, 0, 1, 0},
		{"A.2.4 deny", SUB_OUTBOUND, SUB_UNSUBSCRIBED, NONE_PO_PI, NONE_PO, 0, 1, 0},
		{"A.2.4 deny", SUB_OUTBOUND, SUB_UNSUBSCRIBED, TO_PI, TO, 0, 1, 0},
		{"3.4 cancel pre-approval", SUB_OUTBOUND, SUB_UNSUBSCRIBED, NONE_APPROVED, NONE, 1, 0, 0},
		{"A.2.4", SUB_OUTBOUND, SUB_UNSUBSCRIBED, NONE, NONE, 0, 0, 0},
		{"A.2.4", SUB_OUTBOUND, SUB_UNSUBSCRIBED, TO, TO, 0, 0, 0},
	};
	run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_inbound(void **state)
{
	(void)state;
	static const struct row rows[] = {
		/* A.3.1 inbound subscribe: stored as pending (not a roster change) and delivered once */
		{"A.3.1", SUB_INBOUND, SUB_SUBSCRIBE, NONE, NONE_PI, 0, 1, 0},
		{"A.3.1", SUB_INBOUND, SUB_SUBSCRIBE, NONE_PO, NONE_PO_PI, 0, 1, 0},
		{"A.3.1", SUB_INBOUND, SUB_SUBSCRIBE, TO, TO_PI, 0, 1, 0},
		{"A.3.1 already pending", SUB_INBOUND, SUB_SUBSCRIBE, NONE_PI, NONE_PI, 0, 0, 0},
		{"A.3.1 already subscribed", SUB_INBOUND, SUB_SUBSCRIBE, FROM, FROM, 0, 0, 1},
		{"A.3.1 already subscribed", SUB_INBOUND, SUB_SUBSCRIBE, BOTH, BOTH, 0, 0, 1},
		{"3.4 pre-approved", SUB_INBOUND, SUB_SUBSCRIBE, NONE_APPROVED, FROM, 1, 0, 1},
		{"3.4 pre-approved", SUB_INBOUND, SUB_SUBSCRIBE, {SUB_TO, 0, 0, 1}, BOTH, 1, 0, 1},
		/* A.3.2 inbound subscribed: only when we asked */
		{"A.3.2", SUB_INBOUND, SUB_SUBSCRIBED, NONE_PO, TO, 1, 1, 0},
		{"A.3.2", SUB_INBOUND, SUB_SUBSCRIBED, NONE_PO_PI, TO_PI, 1, 1, 0},
		{"A.3.2", SUB_INBOUND, SUB_SUBSCRIBED, FROM_PO, BOTH, 1, 1, 0},
		{"A.3.2 unasked", SUB_INBOUND, SUB_SUBSCRIBED, NONE, NONE, 0, 0, 0},
		{"A.3.2 unasked", SUB_INBOUND, SUB_SUBSCRIBED, FROM, FROM, 0, 0, 0},
		{"A.3.2 unasked", SUB_INBOUND, SUB_SUBSCRIBED, TO, TO, 0, 0, 0},
		/* A.3.3 inbound unsubscribe */
		{"A.3.3", SUB_INBOUND, SUB_UNSUBSCRIBE, NONE_PI, NONE, 0, 1, 0},
		{"A.3.3", SUB_INBOUND, SUB_UNSUBSCRIBE, NONE_PO_PI, NONE_PO, 0, 1, 0},
		{"A.3.3", SUB_INBOUND, SUB_UNSUBSCRIBE, TO_PI, TO, 0, 1, 0},
		{"A.3.3", SUB_INBOUND, SUB_UNSUBSCRIBE, FROM, NONE, 1, 1, 0},
		{"A.3.3", SUB_INBOUND, SUB_UNSUBSCRIBE, FROM_PO, NONE_PO, 1, 1, 0},
		{"A.3.3", SUB_INBOUND, SUB_UNSUBSCRIBE, BOTH, TO, 1, 1, 0},
		{"A.3.3", SUB_INBOUND, SUB_UNSUBSCRIBE, NONE, NONE, 0, 0, 0},
		{"A.3.3", SUB_INBOUND, SUB_UNSUBSCRIBE, TO, TO, 0, 0, 0},
		/* A.3.4 inbound unsubscribed */
		{"A.3.4", SUB_INBOUND, SUB_UNSUBSCRIBED, NONE_PO, NONE, 1, 1, 0},
		{"A.3.4", SUB_INBOUND, SUB_UNSUBSCRIBED, NONE_PO_PI, NONE_PI, 1, 1, 0},
		{"A.3.4", SUB_INBOUND, SUB_UNSUBSCRIBED, TO, NONE, 1, 1, 0},
		{"A.3.4", SUB_INBOUND, SUB_UNSUBSCRIBED, TO_PI, NONE_PI, 1, 1, 0},
		{"A.3.4", SUB_INBOUND, SUB_UNSUBSCRIBED, FROM_PO, FROM, 1, 1, 0},
		{"A.3.4", SUB_INBOUND, SUB_UNSUBSCRIBED, BOTH, FROM, 1, 1, 0},
		{"A.3.4", SUB_INBOUND, SUB_UNSUBSCRIBED, NONE, NONE, 0, 0, 0},
		{"A.3.4", SUB_INBOUND, SUB_UNSUBSCRIBED, FROM, FROM, 0, 0, 0},
	};
	run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outbound),
		cmocka_unit_test(test_inbound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
