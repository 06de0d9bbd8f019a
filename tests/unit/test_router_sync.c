/* ROUTE_SYNC acknowledgement over a real link while the storage worker has not yet reconnected
 * to a new router: a SYNC whose hooks start a storage load is acknowledged once handled, and so
 * is every frame after it (held, they were replayed to the next router: duplicates); a BIND
 * still waits for what it started. The load itself completes once storage is there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "router_peer.h"
#include "sto.h"

static struct {
	struct mod_host *host;
	uint64_t loads, loaded;
	char surl[128];
} t;

/* Storage: every request answered STO_OK. */
static void store_handler(void *arg, const uint8_t *req, size_t len, struct buf *reply)
{
	struct xe_msg m;
	struct buf body;
	(void)arg;
	assert_int_equal(xe_decode(req, len, &m), XE_OK);
	buf_init(&body);
	tlv_put_u32(&body, STO_T_STATUS, STO_OK);
	struct xe_msg rep = {.version = XE_VERSION, .kind = XE_STORE_REP, .body = body.data,
			     .body_len = (uint32_t)body.len};
	assert_int_equal(xe_encode(reply, &rep), 0);
	buf_free(&body);
}

static void loaded(void *arg, const struct mod_sto_reply *r)
{
	(void)arg;
	if (r->status == STO_OK)
		t.loaded++;
}

/* A module that loads per-user data when a resource binds (mod_blocking does so). */
static int h_bind_load(struct mod_event *ev, void *ctx)
{
	struct mod_sto_req q = {.op = STO_OP_KV_GET, .store = "blocklist", .user = "alice"};
	(void)ctx;
	assert_int_equal(rtr_mod_api.store(ev->host, &q, loaded, NULL), 0);
	t.loads++;
	return MOD_PASS;
}

static int setup(void **state)
{
	(void)state;
	memset(&t, 0, sizeof(t));
	rp_begin("test_router_sync", NULL);
	snprintf(t.surl, sizeof(t.surl), "ipc://%s/storage.sock", rp.dir);
	assert_non_null(t.host = rtr_host_add("localhost"));
	assert_int_equal(rtr_bus_hook(t.host->bus, "resource-bind", h_bind_load, 0, NULL), 0);
	assert_non_null(env->storage = storeq_listen(rp.loop, t.surl));	/* no storage worker yet */
	rp_connect();
	return 0;
}

static uint64_t send_route(uint8_t kind, uint64_t sid, const char *full)
{
	return rp_send_route(kind, sid, kind == XE_ROUTE_BIND ? (uint32_t)sid : 0, full);
}

static void storage_comes(void)
{
	assert_non_null(rp.store = storeq_dial(rp.loop, t.surl, store_handler, NULL));
}

static void test_sync_acked_while_storage_is_away(void **state)
{
	(void)state;
	send_route(XE_ROUTE_SYNC, 1, "alice@localhost/a");
	send_route(XE_ROUTE_SYNC, 2, "alice@localhost/b");
	uint64_t last = rp_send_stanza(XE_ST_MESSAGE, 1, "alice@localhost/a", "alice@localhost/b",
				       "<message from='alice@localhost/a' to='alice@localhost/b' type='chat'>"
				       "<body>after the crash</body></message>");
	/* well inside STORE_TIMEOUT_MS: only an ack that waits for nothing comes this soon */
	assert_int_equal(rp_run_until(&rp.acked, last, 2.0), 0);
	assert_int_equal(t.loads, 2);
	assert_int_equal(t.loaded, 0);	/* both loads still wait for storage */
	assert_non_null(rtr_session_by_sid(&env->links[0], 1));
	assert_non_null(rtr_session_by_sid(&env->links[0], 2));
	storage_comes();
	assert_int_equal(rp_run_until(&t.loaded, 2, 5.0), 0);
}

static void test_bind_waits_for_what_it_started(void **state)
{
	(void)state;
	uint64_t seq = send_route(XE_ROUTE_BIND, 3, "alice@localhost/c");
	assert_int_equal(rp_run_until(&rp.acked, seq, 0.3), -1);
	assert_int_equal(t.loads, 1);
	storage_comes();
	assert_int_equal(rp_run_until(&rp.acked, seq, 5.0), 0);
	assert_int_equal(t.loaded, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync_acked_while_storage_is_away, setup, rp_teardown_with_storage),
		cmocka_unit_test_setup_teardown(test_bind_waits_for_what_it_started, setup, rp_teardown_with_storage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
