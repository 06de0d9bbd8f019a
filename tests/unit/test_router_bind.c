/* The router answers ROUTE_BIND only once its table holds the route, over real links c2s.0 and
 * c2s.1: bound or refused (conflict policy across instances), the older session told when a
 * newer bind takes its resource or component, a bind pending at a router restart answered by
 * the new router, a bind replayed after ROUTE_SYNC answered without undoing the sync. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "loop_wait.h"
#include "router_peer.h"
#include "workers/router/components.h"

struct got {
	unsigned peer;		/* 0: c2s.0, 1: c2s.1 */
	uint8_t kind;
	uint64_t sid;
	uint32_t reqid;
	char from[128];
	char cond[64];		/* RT_CONDITION of an XE_ERROR */
	int held;		/* the router's table held `from` for (link, sid) when this was sent */
};

static struct {
	struct got got[32];
	uint64_t ngot;
	struct link *peer1;	/* the second stream worker */
	uint64_t up1;
	uint64_t down0;		/* PEER_DOWN events at c2s.0's peer */
} t;

/* Whether the router, right now, routes from to (link index, sid). */
static int route_held(unsigned link, uint64_t sid, const char *from)
{
	if (!strchr(from, '@'))
		return rtr_comp_holds(&env->links[link], sid, from, strlen(from));
	const struct rtr_session *s = rtr_session_by_full(from, strlen(from));
	return s && s->link == &env->links[link] && s->sid == sid;
}

static void record(unsigned peer, const struct xe_msg *m)
{
	struct got *g = &t.got[t.ngot % 32];
	struct tlv tv;
	memset(g, 0, sizeof(*g));
	g->peer = peer;
	g->kind = m->kind;
	g->sid = m->sid;
	g->reqid = m->reqid;
	snprintf(g->from, sizeof(g->from), "%.*s", (int)m->from_len, m->from);
	if (m->kind == XE_ERROR && tlv_find(m->body, m->body_len, RT_CONDITION, &tv) == 1)
		snprintf(g->cond, sizeof(g->cond), "%.*s", (int)tv.len, (const char *)tv.val);
	/* the router runs in this process: its table, as it is when the answer arrives */
	g->held = route_held(peer, m->sid, g->from);
	t.ngot++;
}

static void on_frame0(const struct xe_msg *m) { record(0, m); }

/* The harness's peer ops, and the moment the router went away. */
static void p0_event(void *arg, struct link *l, int ev)
{
	rp_event(arg, l, ev);
	if (ev == LINK_PEER_DOWN)
		t.down0++;
}

static const struct link_ops p0_ops = {.recv = rp_recv, .event = p0_event, .acked = rp_acked};

static void p1_recv(void *arg, struct link *l, uint64_t seq, const uint8_t *data, size_t len)
{
	struct xe_msg m;
	(void)arg, (void)l, (void)seq;
	assert_int_equal(xe_decode(data, len, &m), XE_OK);
	record(1, &m);
}

static void p1_event(void *arg, struct link *l, int ev)
{
	(void)arg, (void)l;
	if (ev == LINK_PEER_NEW)
		t.up1 = 1;
}

static const struct link_ops p1_ops = {.recv = p1_recv, .event = p1_event};

/* Links c2s.0 (the harness's peer) and c2s.1 (ours) between the router and two peers. */
static int setup(void **state)
{
	static char *vhosts[] = {"localhost"};
	const struct link_opts ropts = {.replay = 0, .auto_ack = 0}, popts = {.replay = 1, .auto_ack = 1};
	(void)state;
	memset(&t, 0, sizeof(t));
	rp_begin("test_router_bind", on_frame0);
	env->vhosts = vhosts;
	env->nvhosts = 1;
	env->links = calloc(2, sizeof(*env->links));
	assert_non_null(env->links);
	env->nlinks = 2;
	for (unsigned i = 0; i < 2; i++) {
		char url[128];
		struct rtr_link *l = &env->links[i];
		snprintf(l->name, sizeof(l->name), "c2s.%u", i);
		l->index = i;
		snprintf(url, sizeof(url), "ipc://%s/c2s.%u.sock", rp.dir, i);
		l->link = link_listen(rp.loop, url, &ropts, &rtr_link_ops, l);
		assert_non_null(l->link);
		struct link *p = link_dial(rp.loop, url, &popts, i ? &p1_ops : &p0_ops, NULL);
		assert_non_null(p);
		if (i)
			t.peer1 = p;
		else
			rp.peer = p;
	}
	assert_int_equal(rp_run_until(&rp.up, 1, 5.0), 0);
	assert_int_equal(rp_run_until(&t.up1, 1, 5.0), 0);
	return 0;
}

static int teardown(void **state)
{
	char path[160];
	(void)state;
	link_close(t.peer1);
	rtr_link_clear(&env->links[1]);
	link_close(env->links[1].link);
	snprintf(path, sizeof(path), "%s/c2s.1.sock", rp.dir);
	unlink(path);
	rtr_comp_free();
	rp_end();
	return 0;
}

/* A ROUTE_BIND from a peer (0 or 1) asking for an answer; refuse: the host's conflict policy. */
static void send_bind(unsigned peer, uint8_t kind, uint64_t sid, uint32_t reqid, const char *jid, int refuse,
		      const char *presence)
{
	struct buf body, b;
	buf_init(&body);
	buf_init(&b);
	assert_int_equal(tlv_put_u32(&body, RT_PRIORITY, 0), 0);
	assert_int_equal(tlv_put_u32(&body, RT_CONFLICT, refuse ? 1u : 0u), 0);
	if (presence)
		assert_int_equal(tlv_put_str(&body, RT_PRESENCE, presence), 0);
	struct xe_msg m = {.version = XE_VERSION, .kind = kind, .sid = sid, .reqid = reqid, .from = jid,
			   .from_len = (uint16_t)strlen(jid), .to = "", .body = body.data,
			   .body_len = (uint32_t)body.len};
	assert_int_equal(xe_encode(&b, &m), 0);
	assert_int_equal(link_send(peer ? t.peer1 : rp.peer, b.data, b.len, NULL), 0);
	buf_free(&b);
	buf_free(&body);
}

/* Waits for the next n frames from the router. */
static void expect_frames(uint64_t n, const char *what)
{
	uint64_t want = t.ngot + n;
	if (rp_run_until(&t.ngot, want, 5.0) < 0)
		fail_msg("%s: got %llu of %llu frames", what, (unsigned long long)(t.ngot + n - want),
			 (unsigned long long)n);
}

/* The frame to peer with kind among the last n received; fails the test when absent. */
static const struct got *frame_to(unsigned peer, uint8_t kind, uint64_t n)
{
	for (uint64_t i = t.ngot - n; i < t.ngot; i++)
		if (t.got[i % 32].peer == peer && t.got[i % 32].kind == kind)
			return &t.got[i % 32];
	fail_msg("no %s to c2s.%u among the last %llu frames", xe_kind_name(kind), peer, (unsigned long long)n);
	return NULL;
}

static void test_bind_answered_once_route_held(void **state)
{
	(void)state;
	static const struct {
		const char *name, *jid;
		uint64_t sid;
		uint32_t reqid;
	} cases[] = {
		{"client", "alice@localhost/a", 1, 7},
		{"second resource", "alice@localhost/b", 2, 8},
		{"component", "comp.localhost", 3, 9},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		send_bind(0, XE_ROUTE_BIND, cases[i].sid, cases[i].reqid, cases[i].jid, 0, NULL);
		expect_frames(1, cases[i].name);
		const struct got *g = &t.got[(t.ngot - 1) % 32];
		if (g->kind != XE_ROUTE_BIND || g->reqid != cases[i].reqid || g->sid != cases[i].sid ||
		    strcmp(g->from, cases[i].jid) != 0 || !g->held)
			fail_msg("case %s: got %s reqid %u sid %llu from %s held %d", cases[i].name,
				 xe_kind_name(g->kind), g->reqid, (unsigned long long)g->sid, g->from, g->held);
	}
	/* a bind without a reqid (as before) is not answered */
	send_bind(0, XE_ROUTE_BIND, 4, 0, "bob@localhost/x", 0, NULL);
	uint64_t before = t.ngot;
	(void)rp_run_until(&t.ngot, before + 1, 0.2);
	assert_int_equal(t.ngot, before);
	assert_true(route_held(0, 4, "bob@localhost/x"));
}

static void test_conflict_across_instances(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		int refuse;
		unsigned holder;	/* link that holds the resource afterwards */
		uint8_t answer;		/* to c2s.1 */
		const char *cond;
		int old_told;		/* c2s.0 hears ROUTE_UNBIND for its session */
	} cases[] = {
		{"refuse", 1, 0, XE_ERROR, "conflict", 0},
		{"replace", 0, 1, XE_ROUTE_BIND, "", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char jid[64];
		snprintf(jid, sizeof(jid), "carol@localhost/r%zu", i);
		send_bind(0, XE_ROUTE_BIND, 10 + i, 100 + (uint32_t)i, jid, cases[i].refuse, NULL);
		expect_frames(1, "first bind");
		send_bind(1, XE_ROUTE_BIND, 20 + i, 200 + (uint32_t)i, jid, cases[i].refuse, NULL);
		expect_frames(1 + (uint64_t)cases[i].old_told, cases[i].name);
		const struct got *a = frame_to(1, cases[i].answer, 1 + (uint64_t)cases[i].old_told);
		if (a->reqid != 200 + i || a->sid != 20 + i || strcmp(a->cond, cases[i].cond) != 0)
			fail_msg("case %s: answer reqid %u sid %llu cond '%s'", cases[i].name, a->reqid,
				 (unsigned long long)a->sid, a->cond);
		if (cases[i].old_told) {
			const struct got *u = frame_to(0, XE_ROUTE_UNBIND, 2);
			assert_int_equal(u->sid, 10 + i);
			assert_string_equal(u->from, jid);
		}
		if (!route_held(cases[i].holder, cases[i].holder ? 20 + i : 10 + i, jid))
			fail_msg("case %s: the route is not on c2s.%u", cases[i].name, cases[i].holder);
	}
	/* a stanza to the replaced resource reaches the newer session, on c2s.1 */
	rp_bind_session(30, "dave@localhost/d");
	uint64_t before = t.ngot;
	rp_send_stanza(XE_ST_MESSAGE, 30, "dave@localhost/d", "carol@localhost/r1",
		       "<message to='carol@localhost/r1' type='chat'><body>hi</body></message>");
	expect_frames(1, "stanza to the replaced resource");
	assert_int_equal(t.ngot, before + 1);
	const struct got *g = frame_to(1, XE_STANZA, 1);
	assert_int_equal(g->sid, 21);
}

static void test_component_replaced_across_instances(void **state)
{
	(void)state;
	send_bind(0, XE_ROUTE_BIND, 1, 11, "comp.localhost", 0, NULL);
	expect_frames(1, "component on c2s.0");
	send_bind(1, XE_ROUTE_BIND, 2, 12, "comp.localhost", 0, NULL);
	expect_frames(2, "component reconnected on c2s.1");
	const struct got *u = frame_to(0, XE_ROUTE_UNBIND, 2), *a = frame_to(1, XE_ROUTE_BIND, 2);
	assert_int_equal(u->sid, 1);
	assert_int_equal(a->reqid, 12);
	assert_true(a->held);
	/* a component may not take a virtual host's domain: refused, with a reason */
	send_bind(1, XE_ROUTE_BIND, 3, 13, "localhost", 0, NULL);
	expect_frames(1, "component on a vhost domain");
	a = frame_to(1, XE_ERROR, 1);
	assert_int_equal(a->reqid, 13);
	assert_string_equal(a->cond, "not-allowed");
}

static int peer0_all_acked(void *ctx)
{
	(void)ctx;
	return link_unacked(rp.peer) == 0;
}

/* A new router process on c2s.0: a fresh table, a new link epoch. */
static void router_restart(void)
{
	char url[128];
	const struct link_opts ropts = {.replay = 0, .auto_ack = 0};
	link_close(env->links[0].link);
	rtr_link_clear(&env->links[0]);
	rtr_routes_free();
	assert_int_equal(rtr_routes_init(), 0);
	link_new_epoch();
	rp.up = 0;
	snprintf(url, sizeof(url), "ipc://%s/c2s.0.sock", rp.dir);
	env->links[0].link = link_listen(rp.loop, url, &ropts, &rtr_link_ops, &env->links[0]);
	assert_non_null(env->links[0].link);
}

static void test_bind_pending_at_router_restart(void **state)
{
	(void)state;
	/* the router goes away; the bind sent meanwhile waits in the link for the next one */
	link_close(env->links[0].link);
	env->links[0].link = NULL;	/* router_restart opens the new one */
	assert_int_equal(rp_run_until(&t.down0, 1, 5.0), 0);
	send_bind(0, XE_ROUTE_BIND, 5, 55, "erin@localhost/e", 0, NULL);
	(void)rp_run_until(&t.ngot, 1, 0.1);
	assert_int_equal(t.ngot, 0);
	router_restart();
	assert_int_equal(rp_run_until(&rp.up, 1, 5.0), 0);
	expect_frames(1, "answer from the new router");
	const struct got *g = frame_to(0, XE_ROUTE_BIND, 1);
	assert_int_equal(g->reqid, 55);
	assert_true(g->held);
	/* and the new router acknowledged the replayed bind (once the answer was acknowledged) */
	loop_wait(rp.loop, peer0_all_acked, NULL, 5.0, "the replayed bind acknowledged");
}

static void test_replayed_bind_after_sync_keeps_session(void **state)
{
	(void)state;
	/* a new router gets ROUTE_SYNC (with the session's presence) and then the replayed BIND
	 * of the same session: answered, and the synced session stays as it was */
	send_bind(0, XE_ROUTE_SYNC, 6, 0, "fred@localhost/f", 0, "<presence from='fred@localhost/f'/>");
	send_bind(0, XE_ROUTE_BIND, 6, 66, "fred@localhost/f", 0, NULL);
	expect_frames(1, "answer to the replayed bind");
	const struct got *g = frame_to(0, XE_ROUTE_BIND, 1);
	assert_int_equal(g->reqid, 66);
	const struct rtr_session *s = rtr_session_by_full("fred@localhost/f", strlen("fred@localhost/f"));
	assert_non_null(s);
	assert_true(s->available);
	assert_non_null(s->presence);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bind_answered_once_route_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_across_instances, setup, teardown),
		cmocka_unit_test_setup_teardown(test_component_replaced_across_instances, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_pending_at_router_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replayed_bind_after_sync_keeps_session, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
