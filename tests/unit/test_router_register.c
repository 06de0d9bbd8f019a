/* The router's gate for account creation from a c2s link (XEP-0077 before authentication), over
 * a real stanza link and a real storage pool: ACCOUNT_CREATE reaches storage (as STORE_REQ) only
 * for a host whose registration is open, every other account op is refused and answered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sto.h"
#include "tlv.h"
#include "workers/router/host.h"
#include "workers/router/rtr.h"

static struct {
	struct ev_loop *loop;
	struct link *peer;
	struct storeq_server *store;
	int peer_up;
	uint64_t acked;
	unsigned ngot, nstored;
	uint8_t got_kind;
	uint32_t got_reqid, stored_op;
	uint8_t stored_kind;
	char dir[64];
	struct rtr_env renv;
} t;

static void peer_recv(void *arg, struct link *l, uint64_t seq, const uint8_t *data, size_t len)
{
	struct xe_msg m;
	(void)arg, (void)l, (void)seq;
	assert_int_equal(xe_decode(data, len, &m), XE_OK);
	t.got_kind = m.kind;
	t.got_reqid = m.reqid;
	t.ngot++;
}

static void peer_event(void *arg, struct link *l, int ev)
{
	(void)arg, (void)l;
	if (ev == LINK_PEER_NEW)
		t.peer_up = 1;
}

static void peer_acked(void *arg, struct link *l, uint64_t upto)
{
	(void)arg, (void)l;
	t.acked = upto;
}

static const struct link_ops peer_ops = {.recv = peer_recv, .event = peer_event, .acked = peer_acked};

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

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w, (void)revents;
	ev_break(loop, EVBREAK_ONE);
}

static int run_until(const volatile unsigned *v, unsigned want)
{
	ev_timer deadline;
	ev_timer_init(&deadline, timeout_cb, 5.0, 0);
	ev_timer_start(t.loop, &deadline);
	while (*v < want && ev_is_active(&deadline))
		ev_run(t.loop, EVRUN_ONCE);
	ev_timer_stop(t.loop, &deadline);
	return *v >= want ? 0 : -1;
}

static void send_account_op(uint32_t op, const char *host, uint32_t reqid)
{
	struct buf body, b;
	uint64_t seq;
	buf_init(&body);
	buf_init(&b);
	tlv_put_u32(&body, STO_T_OP, op);
	tlv_put_str(&body, STO_T_HOST, host);
	tlv_put_str(&body, STO_T_USER, "newbie");
	if (op != STO_OP_ACCOUNT_DELETE)
		tlv_put_str(&body, STO_T_PASSWORD, "pw");
	struct xe_msg m = {.version = XE_VERSION, .kind = XE_AUTH_REQ, .sid = 7, .reqid = reqid, .from = "",
			   .to = "", .body = body.data, .body_len = (uint32_t)body.len};
	assert_int_equal(xe_encode(&b, &m), 0);
	assert_int_equal(link_send(t.peer, b.data, b.len, &seq), 0);
	buf_free(&body);
	buf_free(&b);
}

static int setup(void **state)
{
	char url[128], surl[128];
	(void)state;
	memset(&t, 0, sizeof(t));
	snprintf(t.dir, sizeof(t.dir), "/tmp/test_router_reg.XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	snprintf(url, sizeof(url), "ipc://%s/c2s.0.sock", t.dir);
	snprintf(surl, sizeof(surl), "ipc://%s/storage.sock", t.dir);
	env = &t.renv;
	t.loop = env->loop = ev_default_loop(0);
	struct mod_host *open = rtr_host_add("localhost"), *closed = rtr_host_add("closed.localhost");
	assert_non_null(open);
	assert_non_null(closed);
	assert_int_equal(rtr_host_set_option(open, "registration", "open"), 0);
	assert_int_equal(rtr_host_set_option(closed, "registration", "closed"), 0);
	assert_int_equal(rtr_routes_init(), 0);
	assert_non_null(env->storage = storeq_listen(t.loop, surl));
	assert_non_null(t.store = storeq_dial(t.loop, surl, store_handler, NULL));
	env->links = calloc(1, sizeof(*env->links));
	env->nlinks = 1;
	snprintf(env->links[0].name, sizeof(env->links[0].name), "c2s.0");
	const struct link_opts ropts = {.replay = 0, .auto_ack = 0}, popts = {.replay = 1, .auto_ack = 1};
	env->links[0].link = link_listen(t.loop, url, &ropts, &rtr_link_ops, &env->links[0]);
	assert_non_null(env->links[0].link);
	t.peer = link_dial(t.loop, url, &popts, &peer_ops, NULL);
	assert_non_null(t.peer);
	ev_timer deadline;
	ev_timer_init(&deadline, timeout_cb, 5.0, 0);
	ev_timer_start(t.loop, &deadline);
	while (!t.peer_up && ev_is_active(&deadline))
		ev_run(t.loop, EVRUN_ONCE);
	ev_timer_stop(t.loop, &deadline);
	assert_true(t.peer_up);
	return 0;
}

static int teardown(void **state)
{
	char path[128];
	(void)state;
	link_close(t.peer);
	rtr_link_clear(&env->links[0]);
	link_close(env->links[0].link);
	storeq_server_close(t.store);
	storeq_client_close(env->storage);
	rtr_routes_free();
	rtr_hosts_free();
	free(env->links);
	snprintf(path, sizeof(path), "%s/c2s.0.sock", t.dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/storage.sock", t.dir);
	unlink(path);
	rmdir(t.dir);
	return 0;
}

static void test_create_open_host_reaches_storage(void **state)
{
	(void)state;
	send_account_op(STO_OP_ACCOUNT_CREATE, "localhost", 11);
	assert_int_equal(run_until(&t.ngot, 1), 0);
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
		unsigned before = t.ngot;
		uint64_t denied = env->links[0].denied;
		send_account_op(cases[i].op, cases[i].host, (uint32_t)(100 + i));
		if (run_until(&t.ngot, before + 1) < 0 || t.got_kind != XE_ERROR || t.got_reqid != 100 + i ||
		    env->links[0].denied != denied + 1 || t.nstored != 0) {
			fprintf(stderr, "case %s: got %u kind %u reqid %u denied %llu stored %u\n", cases[i].name,
				t.ngot - before, t.got_kind, t.got_reqid,
				(unsigned long long)(env->links[0].denied - denied), t.nstored);
			fail();
		}
	}
}

static void test_create_from_http_link_refused(void **state)
{
	(void)state;
	snprintf(env->links[0].name, sizeof(env->links[0].name), "http.0");
	send_account_op(STO_OP_ACCOUNT_CREATE, "localhost", 21);
	assert_int_equal(run_until(&t.ngot, 1), 0);
	assert_int_equal(t.got_kind, XE_ERROR);
	assert_int_equal(t.nstored, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_open_host_reaches_storage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_ops_never_reach_storage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_from_http_link_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
