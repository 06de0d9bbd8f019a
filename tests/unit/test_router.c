/* The router's link handling and delivery, driven through a real NNG pair1 link in one process:
 * malformed and forbidden envelopes are counted and dropped (and still acknowledged), identity
 * comes from the link, full and bare JIDs are delivered, errors bounce to the sender. */
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
#include "workers/router/rtr.h"

struct got {
	uint64_t sid;
	uint8_t kind;
	char to[128];
	char body[1024];
};

static struct {
	struct ev_loop *loop;
	struct link *peer;
	int peer_up;
	uint64_t acked;
	struct got got[32];
	unsigned ngot;
	char dir[64];
	struct rtr_env renv;
} t;

static void peer_recv(void *arg, struct link *l, uint64_t seq, const uint8_t *data, size_t len)
{
	struct xe_msg m;
	(void)arg, (void)l, (void)seq;
	assert_int_equal(xe_decode(data, len, &m), XE_OK);
	struct got *g = &t.got[t.ngot++ % 32];
	g->sid = m.sid;
	g->kind = m.kind;
	snprintf(g->to, sizeof(g->to), "%.*s", (int)m.to_len, m.to);
	snprintf(g->body, sizeof(g->body), "%.*s", (int)m.body_len, (const char *)m.body);
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

/* Runs the loop until *v reaches want or 5 s pass. */
static int run_until(const volatile uint64_t *v, uint64_t want)
{
	ev_timer deadline;
	ev_timer_init(&deadline, timeout_cb, 5.0, 0);
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
	struct xe_msg m = {.version = XE_VERSION, .kind = kind, .stype = stype, .sid = sid,
			   .from = from, .from_len = (uint16_t)strlen(from), .to = to,
			   .to_len = (uint16_t)strlen(to), .body = body, .body_len = (uint32_t)blen};
	buf_init(&b);
	assert_int_equal(xe_encode(&b, &m), 0);
	assert_int_equal(link_send(t.peer, b.data, b.len, &seq), 0);
	buf_free(&b);
	return seq;
}

static uint64_t send_stanza(uint8_t stype, uint64_t sid, const char *from, const char *to, const char *xml)
{
	return send_env(XE_STANZA, stype, sid, from, to, xml, strlen(xml));
}

static void bind_session(uint64_t sid, const char *full)
{
	struct buf body;
	buf_init(&body);
	tlv_put_u32(&body, RT_PRIORITY, 0);
	uint64_t seq = send_env(XE_ROUTE_BIND, 0, sid, full, "", body.data, body.len);
	buf_free(&body);
	char pres[256];
	snprintf(pres, sizeof(pres), "<presence from='%s'/>", full);
	seq = send_stanza(XE_ST_PRESENCE, sid, full, "", pres);
	assert_int_equal(run_until(&t.acked, seq), 0);
}

static int setup(void **state)
{
	char url[128];
	(void)state;
	memset(&t, 0, sizeof(t));
	snprintf(t.dir, sizeof(t.dir), "/tmp/test_router.XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	snprintf(url, sizeof(url), "ipc://%s/c2s.0.sock", t.dir);
	env = &t.renv;
	t.loop = env->loop = ev_default_loop(0);
	static char *vhosts[] = {"localhost"};
	env->vhosts = vhosts;
	env->nvhosts = 1;
	assert_int_equal(rtr_routes_init(), 0);
	env->links = calloc(1, sizeof(*env->links));
	env->nlinks = 1;
	snprintf(env->links[0].name, sizeof(env->links[0].name), "c2s.0");
	const struct link_opts ropts = {.replay = 0, .auto_ack = 0};
	env->links[0].link = link_listen(t.loop, url, &ropts, &rtr_link_ops, &env->links[0]);
	assert_non_null(env->links[0].link);
	const struct link_opts popts = {.replay = 1, .auto_ack = 1};
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
	rtr_routes_free();
	free(env->links);
	snprintf(path, sizeof(path), "%s/c2s.0.sock", t.dir);
	unlink(path);
	rmdir(t.dir);
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
		assert_int_equal(link_send(t.peer, cases[i].bytes, cases[i].len, &seq), 0);
		if (run_until(&t.acked, seq) < 0 || env->links[0].bad_envelopes != before + 1) {
			fprintf(stderr, "case %s: acked %llu want %llu, bad %llu\n", cases[i].name,
				(unsigned long long)t.acked, (unsigned long long)seq,
				(unsigned long long)env->links[0].bad_envelopes);
			fail();
		}
	}
	assert_int_equal(t.ngot, 0);
}

static void test_forbidden_kind_and_spoofed_session_dropped(void **state)
{
	(void)state;
	bind_session(1, "alice@localhost/a");
	bind_session(2, "bob@localhost/b");
	unsigned got_before = t.ngot;
	uint64_t denied = env->links[0].denied;
	uint64_t seq = send_env(XE_STORE_REQ, 0, 1, "alice@localhost/a", "", "x", 1);
	assert_int_equal(run_until(&t.acked, seq), 0);
	/* sid 1 claims to be bob: identity comes from the link's session, not the header */
	seq = send_stanza(XE_ST_MESSAGE, 1, "bob@localhost/b", "alice@localhost/a",
			  "<message to='alice@localhost/a'><body>spoof</body></message>");
	assert_int_equal(run_until(&t.acked, seq), 0);
	/* an unknown session */
	seq = send_stanza(XE_ST_MESSAGE, 77, "eve@localhost/e", "alice@localhost/a", "<message/>");
	assert_int_equal(run_until(&t.acked, seq), 0);
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
	bind_session(1, "alice@localhost/a");
	bind_session(2, "bob@localhost/b");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned before = t.ngot;
		uint8_t stype = cases[i].xml[1] == 'i' ? XE_ST_IQ : XE_ST_MESSAGE;
		send_stanza(stype, 1, "alice@localhost/a", cases[i].to, cases[i].xml);
		ev_timer deadline;
		ev_timer_init(&deadline, timeout_cb, 5.0, 0);
		ev_timer_start(t.loop, &deadline);
		while (t.ngot == before && ev_is_active(&deadline))
			ev_run(t.loop, EVRUN_ONCE);
		ev_timer_stop(t.loop, &deadline);
		const struct got *g = &t.got[before % 32];
		if (t.ngot != before + 1 || g->sid != cases[i].want_sid || !strstr(g->body, cases[i].want_in_body)) {
			fprintf(stderr, "case %s: got %u frames, sid %llu body %s\n", cases[i].name, t.ngot - before,
				(unsigned long long)g->sid, g->body);
			fail();
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_malformed_envelopes_counted_and_acked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forbidden_kind_and_spoofed_session_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
