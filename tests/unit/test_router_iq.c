/* Module timers and IQ requests sent by the server, over a real link: the reply from the JID
 * asked with the right id reaches the callback once, a reply from anyone else does not, an
 * unanswered request times out with NULL; timers fire once or never when cancelled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "route.h"
#include "tlv.h"
#include "workers/router/host.h"
#include "workers/router/rtr.h"
#include "workers/router/xnode.h"

static struct {
	struct ev_loop *loop;
	struct link *peer;
	int peer_up;
	uint64_t acked, ngot, calls, timer_fired;
	char last_body[2048];
	char reply_type[16];
	int reply_null;
	char dir[64];
	struct rtr_env renv;
	struct mod_host *host;
} t;

static void peer_recv(void *arg, struct link *l, uint64_t seq, const uint8_t *data, size_t len)
{
	struct xe_msg m;
	(void)arg, (void)l, (void)seq;
	assert_int_equal(xe_decode(data, len, &m), XE_OK);
	snprintf(t.last_body, sizeof(t.last_body), "%.*s", (int)m.body_len, (const char *)m.body);
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

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w, (void)revents;
	ev_break(loop, EVBREAK_ONE);
}

static int run_until(const volatile uint64_t *v, uint64_t want, double secs)
{
	ev_timer deadline;
	ev_timer_init(&deadline, timeout_cb, secs, 0);
	ev_timer_start(t.loop, &deadline);
	while (*v < want && ev_is_active(&deadline))
		ev_run(t.loop, EVRUN_ONCE);
	ev_timer_stop(t.loop, &deadline);
	return *v >= want ? 0 : -1;
}

static uint64_t send_env(uint8_t kind, uint8_t stype, uint64_t sid, const char *from, const char *to,
			 const void *body, size_t blen)
{
	struct buf b;
	uint64_t seq;
	struct xe_msg m = {.version = XE_VERSION, .kind = kind, .stype = stype, .sid = sid, .from = from,
			   .from_len = (uint16_t)strlen(from), .to = to, .to_len = (uint16_t)strlen(to),
			   .body = body, .body_len = (uint32_t)blen};
	buf_init(&b);
	assert_int_equal(xe_encode(&b, &m), 0);
	assert_int_equal(link_send(t.peer, b.data, b.len, &seq), 0);
	buf_free(&b);
	return seq;
}

static void bind_session(uint64_t sid, const char *full)
{
	struct buf body;
	char pres[256];
	buf_init(&body);
	tlv_put_u32(&body, RT_PRIORITY, 0);
	send_env(XE_ROUTE_BIND, 0, sid, full, "", body.data, body.len);
	buf_free(&body);
	snprintf(pres, sizeof(pres), "<presence from='%s'/>", full);
	uint64_t seq = send_env(XE_STANZA, XE_ST_PRESENCE, sid, full, "", pres, strlen(pres));
	assert_int_equal(run_until(&t.acked, seq, 5.0), 0);
}

static int setup(void **state)
{
	char url[128];
	(void)state;
	memset(&t, 0, sizeof(t));
	snprintf(t.dir, sizeof(t.dir), "/tmp/test_router_iq.XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	snprintf(url, sizeof(url), "ipc://%s/c2s.0.sock", t.dir);
	env = &t.renv;
	t.loop = env->loop = ev_default_loop(0);
	assert_non_null(t.host = rtr_host_add("localhost"));
	assert_int_equal(rtr_routes_init(), 0);
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
	bind_session(1, "alice@localhost/a");
	bind_session(2, "bob@localhost/b");
	return 0;
}

static int teardown(void **state)
{
	char path[128];
	(void)state;
	link_close(t.peer);
	rtr_link_clear(&env->links[0]);
	link_close(env->links[0].link);
	rtr_routes_free();
	rtr_iq_pending_free();
	rtr_hosts_free();
	free(env->links);
	snprintf(path, sizeof(path), "%s/c2s.0.sock", t.dir);
	unlink(path);
	rmdir(t.dir);
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
	uint64_t seq = send_env(XE_STANZA, XE_ST_IQ, sid, from, "localhost", xml, strlen(xml));
	assert_int_equal(run_until(&t.acked, seq, 5.0), 0);
}

static void test_reply_reaches_callback_once(void **state)
{
	char id[64];
	(void)state;
	struct xnode *iq = ping_to("alice@localhost/a");
	uint64_t got = t.ngot;
	assert_int_equal(rtr_mod_api.iq_request(t.host, iq, 5.0, on_reply, NULL), 0);
	xnode_free(iq);
	assert_int_equal(run_until(&t.ngot, got + 1, 5.0), 0);
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
	assert_int_equal(run_until(&t.calls, 1, 5.0), 0);
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
	assert_int_equal(run_until(&t.timer_fired, 1, 5.0), 0);
	assert_int_equal(run_until(&t.timer_fired, 2, 0.2), -1);	/* the cancelled one never fires */
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
