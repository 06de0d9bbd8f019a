/* The router's link handling and delivery, driven through a real NNG pair1 link in one process:
 * malformed and forbidden envelopes are counted and dropped (and still acknowledged), identity
 * comes from the link, full and bare JIDs are delivered, errors bounce to the sender. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "router_peer.h"

static struct {
	struct rp_got got[RP_GOT];
	uint64_t ngot;
} t;

static void on_frame(const struct xe_msg *m)
{
	rp_record(t.got, &t.ngot, m);
}

static int setup(void **state)
{
	(void)state;
	memset(&t, 0, sizeof(t));
	rp_start_localhost("test_router", on_frame);
	return 0;
}

static void test_malformed_envelopes_counted_and_acked(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		uint8_t bytes[40];
		size_t len;
	} cases[] = {
		{"one byte", {0xE5}, 1},
		{"short header", {0xE5, 1, 1}, 3},
		{"bad magic", {0xE4, 1, 1, 1, 0, 0, 0, 32}, 32},
		{"unknown version", {0xE5, 2, 1, 1, 0, 0, 0, 32}, 32},
		{"unknown kind", {0xE5, 1, 99, 1, 0, 0, 0, 32}, 32},
		{"body longer than sent", {0xE5, 1, 1, 1, 0, 0, 0, 32, [31] = 9}, 32},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t seq, before = env->links[0].bad_envelopes;
		assert_int_equal(link_send(rp.peer, cases[i].bytes, cases[i].len, &seq), 0);
		if (rp_run_until(&rp.acked, seq, 5.0) < 0 || env->links[0].bad_envelopes != before + 1) {
			fprintf(stderr, "case %s: acked %llu want %llu, bad %llu\n", cases[i].name,
				(unsigned long long)rp.acked, (unsigned long long)seq,
				(unsigned long long)env->links[0].bad_envelopes);
			fail();
		}
	}
	assert_int_equal(t.ngot, 0);
}

static void test_forbidden_kind_and_spoofed_session_dropped(void **state)
{
	(void)state;
	rp_bind_session(1, "alice@localhost/a");
	rp_bind_session(2, "bob@localhost/b");
	uint64_t got_before = t.ngot;
	uint64_t denied = env->links[0].denied;
	uint64_t seq = rp_send_env(XE_STORE_REQ, 0, 1, 0, "alice@localhost/a", "", "x", 1);
	assert_int_equal(rp_run_until(&rp.acked, seq, 5.0), 0);
	/* sid 1 claims to be bob: identity comes from the link's session, not the header */
	seq = rp_send_stanza(XE_ST_MESSAGE, 1, "bob@localhost/b", "alice@localhost/a",
			  "<message to='alice@localhost/a'><body>spoof</body></message>");
	assert_int_equal(rp_run_until(&rp.acked, seq, 5.0), 0);
	/* an unknown session */
	seq = rp_send_stanza(XE_ST_MESSAGE, 77, "eve@localhost/e", "alice@localhost/a", "<message/>");
	assert_int_equal(rp_run_until(&rp.acked, seq, 5.0), 0);
	assert_int_equal(env->links[0].denied, denied + 3);
	/* only the two initial presences came back (each to its own resource) */
	assert_int_equal(t.ngot, got_before);
}

static void test_delivery(void **state)
{
	(void)state;
	static const struct {
		const char *name, *to, *xml;
		uint64_t want_sid;
		const char *want_in_body;
	} cases[] = {
		{"full jid", "bob@localhost/b", "<message to='bob@localhost/b' type='chat'><body>1</body></message>", 2,
		 "<body>1</body>"},
		{"bare jid", "bob@localhost", "<message to='bob@localhost' type='chat'><body>2</body></message>", 2,
		 "<body>2</body>"},
		{"unknown resource falls back to bare", "bob@localhost/zzz",
		 "<message to='bob@localhost/zzz' type='chat'><body>3</body></message>", 2, "<body>3</body>"},
		{"offline user bounces", "ghost@localhost",
		 "<message to='ghost@localhost' type='chat' id='m4'><body>4</body></message>", 1, "service-unavailable"},
		{"iq to server unhandled", "localhost", "<iq to='localhost' type='get' id='q1'><query xmlns='x:y'/></iq>",
		 1, "service-unavailable"},
		{"remote domain", "x@remote.example", "<message to='x@remote.example'><body>5</body></message>", 1,
		 "remote-server-not-found"},
	};
	rp_bind_session(1, "alice@localhost/a");
	rp_bind_session(2, "bob@localhost/b");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t before = t.ngot;
		uint8_t stype = cases[i].xml[1] == 'i' ? XE_ST_IQ : XE_ST_MESSAGE;
		rp_send_stanza(stype, 1, "alice@localhost/a", cases[i].to, cases[i].xml);
		rp_run_until(&t.ngot, before + 1, 5.0);
		const struct rp_got *g = &t.got[before % 32];
		if (t.ngot != before + 1 || g->sid != cases[i].want_sid || !strstr(g->body, cases[i].want_in_body)) {
			fprintf(stderr, "case %s: got %llu frames, sid %llu body %s\n", cases[i].name, (unsigned long long)(t.ngot - before),
				(unsigned long long)g->sid, g->body);
			fail();
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_malformed_envelopes_counted_and_acked, setup, rp_teardown),
		cmocka_unit_test_setup_teardown(test_forbidden_kind_and_spoofed_session_dropped, setup, rp_teardown),
		cmocka_unit_test_setup_teardown(test_delivery, setup, rp_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
