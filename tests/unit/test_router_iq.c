/* Module timers and IQ requests sent by the server, over a real link: the reply from the JID
 * asked with the right id reaches the callback once, a reply from anyone else does not, an
 * unanswered request times out with NULL; timers fire once or never when cancelled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "router_peer.h"
#include "workers/router/host.h"
#include "workers/router/xnode.h"

static struct {
	uint64_t ngot, calls, timer_fired;
	char last_body[2048];
	char reply_type[16];
	int reply_null;
	struct mod_host *host;
} t;

static void on_frame(const struct xe_msg *m)
{
	snprintf(t.last_body, sizeof(t.last_body), "%.*s", (int)m->body_len, (const char *)m->body);
	t.ngot++;
}

static int setup(void **state)
{
	(void)state;
	memset(&t, 0, sizeof(t));
	rp_begin("test_router_iq", on_frame);
	assert_non_null(t.host = rtr_host_add("localhost"));
	rp_connect();
	rp_bind_session(1, "alice@localhost/a");
	rp_bind_session(2, "bob@localhost/b");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rp_end();
	rtr_iq_pending_free();
	rtr_hosts_free();
	return 0;
}

static void on_reply(void *arg, const struct xnode *reply)
{
	(void)arg;
	t.calls++;
	t.reply_null = reply == NULL;
	snprintf(t.reply_type, sizeof(t.reply_type), "%s", reply ? xnode_attr(reply, "type") : "");
}

static struct xnode *ping_to(const char *to)
{
	struct xnode *iq = xnode_new("iq"), *p = xnode_new("ping");
	assert_non_null(iq);
	assert_non_null(p);
	assert_int_equal(xnode_set_attr(iq, "type", "get") | xnode_set_attr(iq, "to", to) |
				 xnode_set_attr(p, "xmlns", "urn:xmpp:ping"), 0);
	xnode_append_take(iq, p);
	return iq;
}

/* The id the router gave the request the peer just received. */
static void sent_id(char *id, size_t cap)
{
	struct xnode *x = xnode_parse(t.last_body, strlen(t.last_body));
	assert_non_null(x);
	assert_string_equal(xnode_attr(x, "from"), "localhost");
	snprintf(id, cap, "%s", xnode_attr(x, "id"));
	xnode_free(x);
}

static void send_reply(uint64_t sid, const char *from, const char *id, const char *type)
{
	char xml[512];
	snprintf(xml, sizeof(xml), "<iq type='%s' id='%s' from='%s' to='localhost'/>", type, id, from);
	uint64_t seq = rp_send_stanza(XE_ST_IQ, sid, from, "localhost", xml);
	assert_int_equal(rp_run_until(&rp.acked, seq, 5.0), 0);
}

static void test_reply_reaches_callback_once(void **state)
{
	char id[64];
	(void)state;
	struct xnode *iq = ping_to("alice@localhost/a");
	uint64_t got = t.ngot;
	assert_int_equal(rtr_mod_api.iq_request(t.host, iq, 5.0, on_reply, NULL), 0);
	xnode_free(iq);
	assert_int_equal(rp_run_until(&t.ngot, got + 1, 5.0), 0);
	sent_id(id, sizeof(id));
	send_reply(2, "bob@localhost/b", id, "result");	/* the right id from the wrong JID */
	assert_int_equal(t.calls, 0);
	send_reply(1, "alice@localhost/a", id, "error");
	assert_int_equal(t.calls, 1);
	assert_string_equal(t.reply_type, "error");
	send_reply(1, "alice@localhost/a", id, "result");	/* a second answer is nobody's */
	assert_int_equal(t.calls, 1);
	assert_int_equal(env->niq_pending, 0);
}

static void test_unanswered_request_times_out(void **state)
{
	(void)state;
	struct xnode *iq = ping_to("alice@localhost/a");
	assert_int_equal(rtr_mod_api.iq_request(t.host, iq, 0.1, on_reply, NULL), 0);
	xnode_free(iq);
	assert_int_equal(rp_run_until(&t.calls, 1, 5.0), 0);
	assert_true(t.reply_null);
	/* a result is not a request; a request needs a 'to' */
	struct xnode *bad = xnode_new("iq");
	assert_int_equal(xnode_set_attr(bad, "type", "result") | xnode_set_attr(bad, "to", "alice@localhost/a"), 0);
	assert_int_equal(rtr_mod_api.iq_request(t.host, bad, 1.0, on_reply, NULL), -1);
	xnode_free(bad);
}

static void fire_timer(void *arg)
{
	(void)arg;
	t.timer_fired++;
}

static void test_timers(void **state)
{
	(void)state;
	struct mod_timer *keep = rtr_mod_api.timer_add(t.host, 0.05, fire_timer, NULL);
	struct mod_timer *drop = rtr_mod_api.timer_add(t.host, 0.05, fire_timer, NULL);
	assert_non_null(keep);
	assert_non_null(drop);
	rtr_mod_api.timer_cancel(drop);
	assert_int_equal(rp_run_until(&t.timer_fired, 1, 5.0), 0);
	assert_int_equal(rp_run_until(&t.timer_fired, 2, 0.2), -1);	/* the cancelled one never fires */
	assert_int_equal(t.timer_fired, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reply_reaches_callback_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unanswered_request_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
