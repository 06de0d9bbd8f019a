/* Stanzas from an external component through the router, over a real link: a full JID nobody
 * hooked is forwarded from the envelope header alone (its body is never parsed), a bare JID
 * goes through the events and rules, and errors the server makes go back to the component. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "router_peer.h"
#include "workers/router/components.h"

#define SID_USER 1
#define SID_COMP 2

static struct {
	struct rp_got got[RP_GOT];
	uint64_t ngot;
} t;

static void on_frame(const struct xe_msg *m)
{
	if (m->kind == XE_HOST_CAPS)
		return;
	rp_record(t.got, &t.ngot, m);
}

static int setup(void **state)
{
	(void)state;
	memset(&t, 0, sizeof(t));
	rp_begin("test_router_remote", on_frame);
	assert_non_null(rtr_host_add("localhost"));
	assert_non_null(rtr_comp_host_add("services.localhost"));
	rp_connect();
	rp_bind_session(SID_USER, "alice@localhost/r");
	uint64_t seq = rp_send_route(XE_ROUTE_BIND, SID_COMP, 0, "comp.localhost");
	assert_int_equal(rp_run_until(&rp.acked, seq, 5.0), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rp_end();
	rtr_comp_free();
	rtr_hosts_free();
	return 0;
}

/* Sends from the component and waits for n more frames from the router. */
static const struct rp_got *comp_send(uint8_t stype, const char *from, const char *to, const char *xml, uint64_t n)
{
	uint64_t before = t.ngot;
	uint64_t seq = rp_send_stanza(stype, SID_COMP, from, to, xml);
	assert_int_equal(rp_run_until(&rp.acked, seq, 5.0), 0);
	if (n)
		assert_int_equal(rp_run_until(&t.ngot, before + n, 5.0), 0);
	assert_int_equal(t.ngot, before + n);
	return n ? &t.got[(before + n - 1) % 32] : NULL;
}

static void test_full_jid_header_only(void **state)
{
	(void)state;
	/* not XML at all: parsing it would drop it, the fast path forwards it as it is */
	static const char junk[] = "<message this is not xml";
	const struct rp_got *g = comp_send(XE_ST_MESSAGE, "bot@comp.localhost", "alice@localhost/r", junk, 1);
	assert_int_equal(g->sid, SID_USER);
	assert_int_equal(g->kind, XE_STANZA);
	assert_string_equal(g->body, junk);
	assert_int_equal(env->links[0].bad_envelopes, 0);
	/* a bare JID goes through the events and rules: its body is parsed, and this one is refused */
	comp_send(XE_ST_MESSAGE, "bot@comp.localhost", "alice@localhost", junk, 0);
	assert_int_equal(env->links[0].bad_envelopes, 1);
}

static void test_errors_go_back_to_the_component(void **state)
{
	(void)state;
	static const struct {
		const char *name, *to, *xml, *want_from;
	} cases[] = {
		{"message to an offline user, no offline module", "bob@localhost",
		 "<message from='bot@comp.localhost' to='bob@localhost' id='m1'><body>x</body></message>",
		 "from='bob@localhost'"},
		{"IQ to a bare JID nobody answers", "alice@localhost",
		 "<iq type='get' from='bot@comp.localhost' to='alice@localhost' id='q1'><query xmlns='jabber:iq:version'/></iq>",
		 "from='alice@localhost'"},
		{"IQ to the vhost nobody answers", "localhost",
		 "<iq type='get' from='bot@comp.localhost' to='localhost' id='q2'><query xmlns='jabber:iq:version'/></iq>",
		 "from='localhost'"},
		{"IQ to an internal component without modules", "services.localhost",
		 "<iq type='get' from='bot@comp.localhost' to='services.localhost' id='q3'><ping xmlns='urn:xmpp:ping'/></iq>",
		 "from='services.localhost'"},
		{"message to a JID at an internal component", "x@services.localhost",
		 "<message from='bot@comp.localhost' to='x@services.localhost' id='m2'><body>x</body></message>",
		 "from='x@services.localhost'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t st = cases[i].xml[1] == 'm' ? XE_ST_MESSAGE : XE_ST_IQ;
		const struct rp_got *g = comp_send(st, "bot@comp.localhost", cases[i].to, cases[i].xml, 1);
		if (g->sid != SID_COMP || strcmp(g->to, "bot@comp.localhost") != 0 ||
		    !strstr(g->body, "type='error'") || !strstr(g->body, "<service-unavailable") ||
		    !strstr(g->body, cases[i].want_from))
			fail_msg("case %s: got sid %llu to %s body %s", cases[i].name, (unsigned long long)g->sid, g->to,
				 g->body);
	}
	/* presence to an unavailable user and an error are dropped without an answer */
	comp_send(XE_ST_PRESENCE, "bot@comp.localhost", "bob@localhost", "<presence from='bot@comp.localhost' to='bob@localhost'/>", 0);
	comp_send(XE_ST_MESSAGE, "bot@comp.localhost", "bob@localhost",
		  "<message type='error' from='bot@comp.localhost' to='bob@localhost'/>", 0);
}

static void test_outside_its_domain_dropped(void **state)
{
	(void)state;
	uint64_t denied = env->links[0].denied;
	comp_send(XE_ST_MESSAGE, "bot@evil.localhost", "alice@localhost/r", "<message/>", 0);
	assert_int_equal(env->links[0].denied, denied + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_jid_header_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_go_back_to_the_component, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outside_its_domain_dropped, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
