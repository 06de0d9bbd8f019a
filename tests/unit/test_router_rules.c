/* RFC 6121 §8.5 delivery rules as tables: (stanza type, addressee state) → action. Each row
 * names the section it comes from; a failing row is printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "workers/router/rules.h"

/* addressee states */
#define FULL_BOUND {1, 1, 1, 1}		/* full JID, that resource is bound */
#define FULL_GONE_SOME {1, 0, 1, 1}	/* full JID not bound, another resource available (prio >= 0) */
#define FULL_GONE_NEG {1, 0, 0, 1}	/* full JID not bound, only negative-priority resources */
#define FULL_GONE_NONE {1, 0, 0, 0}	/* full JID not bound, nothing available */
#define BARE_SOME {0, 0, 2, 2}
#define BARE_NEG {0, 0, 0, 1}		/* only negative priority: as if none (§8.5.2.1) */
#define BARE_NONE {0, 0, 0, 0}

struct row {
	const char *section;
	const char *type;
	struct rtr_target t;
	enum rtr_action want;
};

static void check(const char *kind, const struct row *rows, size_t n, enum rtr_action (*rule)(int, const struct rtr_target *),
		  int (*parse)(const char *))
{
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		enum rtr_action got = rule(parse(rows[i].type), &rows[i].t);
		if (got != rows[i].want) {
			fprintf(stderr, "%s %s type=%s full=%d bound=%d nonneg=%u avail=%u: got %s, want %s\n", kind,
				rows[i].section, rows[i].type ? rows[i].type : "(none)", rows[i].t.full,
				rows[i].t.resource_bound, rows[i].t.nonneg, rows[i].t.available,
				rtr_action_name(got), rtr_action_name(rows[i].want));
			failed = 1;
		}
	}
	assert_false(failed);
}

static void test_message_rules(void **state)
{
	(void)state;
	static const struct row rows[] = {
		/* §8.5.2.1.1: bare JID, at least one available resource with non-negative priority */
		{"8.5.2.1.1", "normal", BARE_SOME, RTR_TO_TOP},
		{"8.5.2.1.1", NULL, BARE_SOME, RTR_TO_TOP},
		{"5.2.2 unknown type is normal", "bogus", BARE_SOME, RTR_TO_TOP},
		{"8.5.2.1.1", "chat", BARE_SOME, RTR_TO_TOP},
		{"8.5.2.1.1", "groupchat", BARE_SOME, RTR_BOUNCE},
		{"8.5.2.1.1", "headline", BARE_SOME, RTR_TO_NONNEG},
		{"8.5.2.1.1", "error", BARE_SOME, RTR_DROP},
		/* §8.5.2.2.1: no available resource (negative priorities count as none) */
		{"8.5.2.2.1", "normal", BARE_NONE, RTR_OFFLINE},
		{"8.5.2.2.1", "chat", BARE_NONE, RTR_OFFLINE},
		{"8.5.2.2.1", "chat", BARE_NEG, RTR_OFFLINE},
		{"8.5.2.2.1", "groupchat", BARE_NONE, RTR_BOUNCE},
		{"8.5.2.2.1", "headline", BARE_NONE, RTR_DROP},
		{"8.5.2.2.1", "headline", BARE_NEG, RTR_DROP},
		{"8.5.2.2.1", "error", BARE_NONE, RTR_DROP},
		/* §8.5.3.1: the resource is bound: delivered whatever the type */
		{"8.5.3.1", "normal", FULL_BOUND, RTR_TO_RESOURCE},
		{"8.5.3.1", "chat", FULL_BOUND, RTR_TO_RESOURCE},
		{"8.5.3.1", "groupchat", FULL_BOUND, RTR_TO_RESOURCE},
		{"8.5.3.1", "headline", FULL_BOUND, RTR_TO_RESOURCE},
		{"8.5.3.1", "error", FULL_BOUND, RTR_TO_RESOURCE},
		/* §8.5.3.2.1: no such resource */
		{"8.5.3.2.1", "normal", FULL_GONE_SOME, RTR_BOUNCE},
		{"8.5.3.2.1", "groupchat", FULL_GONE_SOME, RTR_BOUNCE},
		{"8.5.3.2.1", "headline", FULL_GONE_SOME, RTR_DROP},
		{"8.5.3.2.1", "error", FULL_GONE_SOME, RTR_DROP},
		{"8.5.3.2.1 chat as to the bare JID", "chat", FULL_GONE_SOME, RTR_TO_TOP},
		{"8.5.3.2.1 chat, only negative", "chat", FULL_GONE_NEG, RTR_OFFLINE},
		{"8.5.3.2.1 chat, none", "chat", FULL_GONE_NONE, RTR_OFFLINE},
	};
	check("message", rows, sizeof(rows) / sizeof(rows[0]), rtr_rule_message, rtr_msg_type_parse);
}

static void test_presence_rules(void **state)
{
	(void)state;
	static const struct row rows[] = {
		{"8.5.2.1.2", NULL, BARE_SOME, RTR_TO_AVAILABLE},
		{"8.5.2.1.2 negative priority still gets presence", NULL, BARE_NEG, RTR_TO_AVAILABLE},
		{"8.5.2.1.2", "unavailable", BARE_SOME, RTR_TO_AVAILABLE},
		{"8.5.2.2.2", NULL, BARE_NONE, RTR_DROP},
		{"8.5.2.2.2", "unavailable", BARE_NONE, RTR_DROP},
		{"8.5.2.1.2", "subscribe", BARE_SOME, RTR_SERVER},
		{"8.5.2.2.2", "subscribe", BARE_NONE, RTR_SERVER},
		{"8.5.2.2.2", "subscribed", BARE_NONE, RTR_SERVER},
		{"8.5.2.2.2", "unsubscribe", BARE_NONE, RTR_SERVER},
		{"8.5.2.2.2", "unsubscribed", BARE_NONE, RTR_SERVER},
		{"8.5.2.2.2", "probe", BARE_NONE, RTR_SERVER},
		{"8.5.2.1.2", "error", BARE_SOME, RTR_DROP},
		{"8.5.3.1", NULL, FULL_BOUND, RTR_TO_RESOURCE},
		{"8.5.3.1", "unavailable", FULL_BOUND, RTR_TO_RESOURCE},
		{"8.5.3.1", "error", FULL_BOUND, RTR_TO_RESOURCE},
		{"8.5.3.1 subscription to a full JID is the server's", "subscribe", FULL_BOUND, RTR_SERVER},
		{"8.5.3.1", "probe", FULL_BOUND, RTR_SERVER},
		{"8.5.3.2.2", NULL, FULL_GONE_SOME, RTR_DROP},
		{"8.5.3.2.2", "unavailable", FULL_GONE_SOME, RTR_DROP},
		{"8.5.3.2.2", "subscribed", FULL_GONE_NONE, RTR_SERVER},
		{"8.5.3.2.2", "probe", FULL_GONE_NONE, RTR_SERVER},
		{"invalid type", "bogus", BARE_SOME, RTR_DROP},
	};
	check("presence", rows, sizeof(rows) / sizeof(rows[0]), rtr_rule_presence, rtr_pres_type_parse);
}

static void test_iq_rules(void **state)
{
	(void)state;
	static const struct row rows[] = {
		{"8.5.2.1.3", "get", BARE_SOME, RTR_SERVER},
		{"8.5.2.2.3", "set", BARE_NONE, RTR_SERVER},
		{"8.5.2.1.3 never answer a result", "result", BARE_SOME, RTR_DROP},
		{"8.5.2.1.3 never answer an error", "error", BARE_NONE, RTR_DROP},
		{"8.5.3.1", "get", FULL_BOUND, RTR_TO_RESOURCE},
		{"8.5.3.1", "result", FULL_BOUND, RTR_TO_RESOURCE},
		{"8.5.3.1", "error", FULL_BOUND, RTR_TO_RESOURCE},
		{"8.5.3.2.3", "get", FULL_GONE_SOME, RTR_BOUNCE},
		{"8.5.3.2.3", "set", FULL_GONE_NONE, RTR_BOUNCE},
		{"8.5.3.2.3", "result", FULL_GONE_SOME, RTR_DROP},
		{"8.5.3.2.3", "error", FULL_GONE_NONE, RTR_DROP},
		{"RFC 6120 8.2.3: a type is required", NULL, FULL_BOUND, RTR_DROP},
		{"RFC 6120 8.2.3", "bogus", BARE_SOME, RTR_DROP},
	};
	check("iq", rows, sizeof(rows) / sizeof(rows[0]), rtr_rule_iq, rtr_iq_type_parse);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_rules),
		cmocka_unit_test(test_presence_rules),
		cmocka_unit_test(test_iq_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
