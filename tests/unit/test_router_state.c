/* Session state and router-ended sessions over a real link: a state change goes to the stream
 * worker as ROUTE_SYNC, the state a ROUTE_SYNC carries back is taken (a malformed one is
 * counted and dropped), a BIND never carries state, and a session the router closes reaches
 * the worker as ROUTE_UNBIND with its stream error and is gone from the routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "router_peer.h"
#include "sstate.h"

static struct {
	uint64_t n;
	uint64_t sid;
	uint8_t kind;
	char from[128];
	uint8_t body[512];
	size_t body_len;
} t;

static void on_frame(const struct xe_msg *m)
{
	t.n++;
	t.sid = m->sid;
	t.kind = m->kind;
	snprintf(t.from, sizeof(t.from), "%.*s", (int)m->from_len, m->from);
	t.body_len = m->body_len < sizeof(t.body) ? m->body_len : sizeof(t.body);
	memcpy(t.body, m->body, t.body_len);
}

static int setup(void **state)
{
	(void)state;
	memset(&t, 0, sizeof(t));
	rp_start_localhost("test_router_state", on_frame);
	return 0;
}

static void test_state_goes_to_the_worker(void **state)
{
	(void)state;
	rp_bind_session(1, "alice@localhost/a");
	struct rtr_session *s = rtr_session_by_sid(&env->links[0], 1);
	assert_non_null(s);
	uint64_t before = t.n;
	assert_int_equal(rtr_session_state_set(s, "carbons", "1", 1), 0);
	assert_int_equal(rp_run_until(&t.n, before + 1, 5.0), 0);
	assert_int_equal(t.kind, XE_ROUTE_SYNC);
	assert_int_equal(t.sid, 1);
	assert_string_equal(t.from, "alice@localhost/a");
	/* what c2s applies is what the router holds */
	struct buf kept;
	buf_init(&kept);
	assert_int_equal(sst_apply(&kept, t.body, t.body_len), 0);
	assert_int_equal(kept.len, s->state.len);
	assert_memory_equal(kept.data, s->state.data, kept.len);
	/* a delete travels too */
	before = t.n;
	assert_int_equal(rtr_session_state_set(s, "carbons", NULL, 0), 0);
	assert_int_equal(rp_run_until(&t.n, before + 1, 5.0), 0);
	assert_int_equal(sst_apply(&kept, t.body, t.body_len), 0);
	assert_int_equal(kept.len, 0);
	assert_int_equal(s->state.len, 0);
	buf_free(&kept);
}

static void test_state_comes_back_with_sync(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		uint8_t kind;
		int malformed;
		int want_state;
	} cases[] = {
		{"sync carries state", XE_ROUTE_SYNC, 0, 1},
		{"bind never does", XE_ROUTE_BIND, 0, 0},
		{"malformed state is dropped", XE_ROUTE_SYNC, 1, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char full[64];
		struct buf body;
		uint64_t sid = 10 + i, bad = env->links[0].bad_envelopes;
		snprintf(full, sizeof(full), "carol@localhost/c%zu", i);
		buf_init(&body);
		tlv_put_u32(&body, RT_PRIORITY, 0);
		if (cases[i].malformed)
			tlv_put(&body, RT_STATE, "\0\0", 2);
		else
			sst_put_update(&body, "presence.directed", "dave@localhost", 14);
		uint64_t seq = rp_send_env(cases[i].kind, 0, sid, 0, full, "", body.data, body.len);
		buf_free(&body);
		assert_int_equal(rp_run_until(&rp.acked, seq, 5.0), 0);
		struct rtr_session *s = rtr_session_by_sid(&env->links[0], sid);
		const uint8_t *v;
		size_t vl;
		if (!s || sst_get(s->state.data, s->state.len, "presence.directed", &v, &vl) != cases[i].want_state ||
		    (env->links[0].bad_envelopes != bad) != cases[i].malformed)
			fail_msg("case '%s': session %p state %zu bytes bad %llu", cases[i].name, (void *)s,
				 s ? s->state.len : 0, (unsigned long long)env->links[0].bad_envelopes);
	}
}

static void test_router_closes_a_session(void **state)
{
	(void)state;
	rp_bind_session(1, "alice@localhost/a");
	rp_bind_session(2, "alice@localhost/b");
	uint64_t before = t.n;
	rtr_session_close(rtr_session_by_sid(&env->links[0], 2), "not-authorized");
	assert_int_equal(rp_run_until(&t.n, before + 1, 5.0), 0);
	assert_int_equal(t.kind, XE_ROUTE_UNBIND);
	assert_int_equal(t.sid, 2);
	assert_string_equal(t.from, "alice@localhost/b");
	struct tlv c;
	assert_int_equal(tlv_find(t.body, t.body_len, RT_CONDITION, &c), 1);
	assert_int_equal(c.len, strlen("not-authorized"));
	assert_memory_equal(c.val, "not-authorized", c.len);
	assert_null(rtr_session_by_sid(&env->links[0], 2));
	assert_non_null(rtr_session_by_sid(&env->links[0], 1));
	assert_int_equal(env->nsessions, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_state_goes_to_the_worker, setup, rp_teardown),
		cmocka_unit_test_setup_teardown(test_state_comes_back_with_sync, setup, rp_teardown),
		cmocka_unit_test_setup_teardown(test_router_closes_a_session, setup, rp_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
