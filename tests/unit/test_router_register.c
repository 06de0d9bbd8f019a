/* The router's gate for account creation from a c2s link (XEP-0077 before authentication), over
 * a real stanza link and a real storage pool: ACCOUNT_CREATE reaches storage (as STORE_REQ) only
 * for a host whose registration is open, every other account op is refused and answered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "router_peer.h"
#include "sto.h"

static struct {
	uint64_t ngot;
	unsigned nstored;
	uint8_t got_kind;
	uint32_t got_reqid, stored_op;
	uint8_t stored_kind;
} t;

static void on_frame(const struct xe_msg *m)
{
	t.got_kind = m->kind;
	t.got_reqid = m->reqid;
	t.ngot++;
}

/* Storage: records what reached it and answers STO_OK in the matching reply kind. */
static void store_handler(void *arg, const uint8_t *req, size_t len, struct buf *reply)
{
	struct xe_msg m;
	struct tlv tv;
	struct buf body;
	(void)arg;
	assert_int_equal(xe_decode(req, len, &m), XE_OK);
	t.nstored++;
	t.stored_kind = m.kind;
	assert_int_equal(tlv_find(m.body, m.body_len, STO_T_OP, &tv), 1);
	assert_int_equal(tlv_u32(&tv, &t.stored_op), 0);
	buf_init(&body);
	tlv_put_u32(&body, STO_T_STATUS, STO_OK);
	struct xe_msg rep = {.version = XE_VERSION, .kind = m.kind == XE_AUTH_REQ ? XE_AUTH_REP : XE_STORE_REP,
			     .sid = m.sid, .reqid = m.reqid, .body = body.data, .body_len = (uint32_t)body.len};
	assert_int_equal(xe_encode(reply, &rep), 0);
	buf_free(&body);
}

static void send_account_op(uint32_t op, const char *host, uint32_t reqid)
{
	struct buf body;
	buf_init(&body);
	tlv_put_u32(&body, STO_T_OP, op);
	tlv_put_str(&body, STO_T_HOST, host);
	tlv_put_str(&body, STO_T_USER, "newbie");
	if (op != STO_OP_ACCOUNT_DELETE)
		tlv_put_str(&body, STO_T_PASSWORD, "pw");
	rp_send_env(XE_AUTH_REQ, 0, 7, reqid, "", "", body.data, body.len);
	buf_free(&body);
}

static int setup(void **state)
{
	char surl[128];
	(void)state;
	memset(&t, 0, sizeof(t));
	rp_begin("test_router_reg", on_frame);
	snprintf(surl, sizeof(surl), "ipc://%s/storage.sock", rp.dir);
	struct mod_host *open = rtr_host_add("localhost"), *closed = rtr_host_add("closed.localhost");
	assert_non_null(open);
	assert_non_null(closed);
	assert_int_equal(rtr_host_set_option(open, "registration", "open"), 0);
	assert_int_equal(rtr_host_set_option(closed, "registration", "closed"), 0);
	assert_non_null(env->storage = storeq_listen(rp.loop, surl));
	assert_non_null(rp.store = storeq_dial(rp.loop, surl, store_handler, NULL));
	rp_connect();
	return 0;
}

static void test_create_open_host_reaches_storage(void **state)
{
	(void)state;
	send_account_op(STO_OP_ACCOUNT_CREATE, "localhost", 11);
	assert_int_equal(rp_run_until(&t.ngot, 1, 5.0), 0);
	assert_int_equal(t.nstored, 1);
	assert_int_equal(t.stored_kind, XE_STORE_REQ);
	assert_int_equal(t.stored_op, STO_OP_ACCOUNT_CREATE);
	assert_int_equal(t.got_kind, XE_AUTH_REP);	/* the c2s gets the answer on its own path */
	assert_int_equal(t.got_reqid, 11);
	assert_int_equal(env->links[0].denied, 0);
}

static void test_refused_ops_never_reach_storage(void **state)
{
	(void)state;
	static const struct {
		const char *name, *host;
		uint32_t op;
	} cases[] = {
		{"create, registration closed", "closed.localhost", STO_OP_ACCOUNT_CREATE},
		{"create, unknown host", "elsewhere.example", STO_OP_ACCOUNT_CREATE},
		{"delete, registration open", "localhost", STO_OP_ACCOUNT_DELETE},
		{"passwd, registration open", "localhost", STO_OP_ACCOUNT_PASSWD},
		{"list, registration open", "localhost", STO_OP_ACCOUNT_LIST},
		{"kv get, registration open", "localhost", STO_OP_KV_GET},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t before = t.ngot;
		uint64_t denied = env->links[0].denied;
		send_account_op(cases[i].op, cases[i].host, (uint32_t)(100 + i));
		if (rp_run_until(&t.ngot, before + 1, 5.0) < 0 || t.got_kind != XE_ERROR || t.got_reqid != 100 + i ||
		    env->links[0].denied != denied + 1 || t.nstored != 0) {
			fprintf(stderr, "case %s: got %llu kind %u reqid %u denied %llu stored %u\n", cases[i].name,
				(unsigned long long)(t.ngot - before), t.got_kind, t.got_reqid,
				(unsigned long long)(env->links[0].denied - denied), t.nstored);
			fail();
		}
	}
}

/* Web clients register like TCP clients (the http worker runs the same stream engine); a link
 * of any other name never creates an account. */
static void test_create_from_http_link_reaches_storage(void **state)
{
	(void)state;
	snprintf(env->links[0].name, sizeof(env->links[0].name), "http.0");
	send_account_op(STO_OP_ACCOUNT_CREATE, "localhost", 21);
	assert_int_equal(rp_run_until(&t.ngot, 1, 5.0), 0);
	assert_int_equal(t.nstored, 1);
	assert_int_equal(t.got_kind, XE_AUTH_REP);
	assert_int_equal(t.got_reqid, 21);
}

static void test_create_from_other_link_refused(void **state)
{
	(void)state;
	snprintf(env->links[0].name, sizeof(env->links[0].name), "other.0");
	send_account_op(STO_OP_ACCOUNT_CREATE, "localhost", 21);
	assert_int_equal(rp_run_until(&t.ngot, 1, 5.0), 0);
	assert_int_equal(t.got_kind, XE_ERROR);
	assert_int_equal(t.nstored, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_open_host_reaches_storage, setup, rp_teardown_with_storage),
		cmocka_unit_test_setup_teardown(test_refused_ops_never_reach_storage, setup, rp_teardown_with_storage),
		cmocka_unit_test_setup_teardown(test_create_from_http_link_reaches_storage, setup, rp_teardown_with_storage),
		cmocka_unit_test_setup_teardown(test_create_from_other_link_refused, setup, rp_teardown_with_storage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
