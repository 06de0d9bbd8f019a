/* Shared harness of the router's unit tests: the router's side of link c2s.0 (rtr_link_ops)
 * and a peer playing the c2s worker, over a real NNG pair1 link in a temporary directory, in one
 * process around one libev loop. Each test keeps its own view of the frames it receives. */
#ifndef XMPPD_TEST_ROUTER_PEER_H
#define XMPPD_TEST_ROUTER_PEER_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "route.h"
#include "tlv.h"
#include "workers/router/host.h"
#include "workers/router/rtr.h"

#define RP_GOT 32	/* frames an rp_record ring keeps */

/* A frame the router sent, as most tests look at it. */
struct rp_got {
	uint64_t sid;
	uint8_t kind;
	char to[128];
	char body[1024];
};

static struct {
	struct ev_loop *loop;
	struct link *peer;
	uint64_t up;		/* 1 once the router's side said HELLO */
	uint64_t acked;		/* the router acknowledged the peer's frames up to here */
	void (*on_frame)(const struct xe_msg *m);	/* the test's view of what the router sent */
	char dir[64];
	struct rtr_env renv;
	struct storeq_server *store;	/* a test's storage side, if it has one */
} rp;

static inline void rp_recv(void *arg, struct link *l, uint64_t seq, const uint8_t *data, size_t len)
{
	struct xe_msg m;
	(void)arg, (void)l, (void)seq;
	assert_int_equal(xe_decode(data, len, &m), XE_OK);
	if (rp.on_frame)
		rp.on_frame(&m);
}

static inline void rp_event(void *arg, struct link *l, int ev)
{
	(void)arg, (void)l;
	if (ev == LINK_PEER_NEW)
		rp.up = 1;
}

static inline void rp_acked(void *arg, struct link *l, uint64_t upto)
{
	(void)arg, (void)l;
	rp.acked = upto;
}

/* Keeps m as frame number (*n)++ of a test's ring of RP_GOT frames. */
static inline void rp_record(struct rp_got *ring, uint64_t *n, const struct xe_msg *m)
{
	struct rp_got *g = &ring[(*n)++ % RP_GOT];
	g->sid = m->sid;
	g->kind = m->kind;
	snprintf(g->to, sizeof(g->to), "%.*s", (int)m->to_len, m->to);
	snprintf(g->body, sizeof(g->body), "%.*s", (int)m->body_len, (const char *)m->body);
}

static const struct link_ops rp_peer_ops = {.recv = rp_recv, .event = rp_event, .acked = rp_acked};

static inline void rp_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w, (void)revents;
	ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until *v reaches want or secs pass; 0 when it did. */
static inline int rp_run_until(const volatile uint64_t *v, uint64_t want, double secs)
{
	ev_timer deadline;
	ev_timer_init(&deadline, rp_timeout_cb, secs, 0);
	ev_timer_start(rp.loop, &deadline);
	while (*v < want && ev_is_active(&deadline))
		ev_run(rp.loop, EVRUN_ONCE);
	ev_timer_stop(rp.loop, &deadline);
	return *v >= want ? 0 : -1;
}

/* First half of a test's setup: a fresh router environment; hosts and storage come next. */
static inline void rp_begin(const char *name, void (*on_frame)(const struct xe_msg *m))
{
	memset(&rp, 0, sizeof(rp));
	rp.on_frame = on_frame;
	snprintf(rp.dir, sizeof(rp.dir), "/tmp/%s.XXXXXX", name);
	assert_non_null(mkdtemp(rp.dir));
	env = &rp.renv;
	rp.loop = env->loop = ev_default_loop(0);
	assert_int_equal(rtr_routes_init(), 0);
}

/* Second half: link c2s.0 between the router and the peer, once both said HELLO. */
static inline void rp_connect(void)
{
	char url[128];
	const struct link_opts ropts = {.replay = 0, .auto_ack = 0}, popts = {.replay = 1, .auto_ack = 1};
	snprintf(url, sizeof(url), "ipc://%s/c2s.0.sock", rp.dir);
	env->links = calloc(1, sizeof(*env->links));
	assert_non_null(env->links);
	env->nlinks = 1;
	snprintf(env->links[0].name, sizeof(env->links[0].name), "c2s.0");
	env->links[0].link = link_listen(rp.loop, url, &ropts, &rtr_link_ops, &env->links[0]);
	assert_non_null(env->links[0].link);
	rp.peer = link_dial(rp.loop, url, &popts, &rp_peer_ops, NULL);
	assert_non_null(rp.peer);
	assert_int_equal(rp_run_until(&rp.up, 1, 5.0), 0);
}

/* The whole setup of a test whose one virtual host is "localhost", set in env (not a module host). */
static inline void rp_start_localhost(const char *name, void (*on_frame)(const struct xe_msg *m))
{
	static char *vhosts[] = {"localhost"};
	rp_begin(name, on_frame);
	env->vhosts = vhosts;
	env->nvhosts = 1;
	rp_connect();
}

/* Closes both ends and forgets the routes; the test frees what it added (hosts, storage) first. */
static inline void rp_end(void)
{
	char path[160];
	link_close(rp.peer);
	rtr_link_clear(&env->links[0]);
	link_close(env->links[0].link);
	rtr_routes_free();
	free(env->links);
	static const char *const files[] = {"c2s.0.sock", "storage.sock"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", rp.dir, files[i]);
		unlink(path);
	}
	rmdir(rp.dir);
}

/* The cmocka teardown of a test that needs nothing more than rp_end. */
static inline int rp_teardown(void **state)
{
	(void)state;
	rp_end();
	return 0;
}

/* The cmocka teardown of a test with a storage pool: rp.store, the router's client, the link, hosts. */
static inline int rp_teardown_with_storage(void **state)
{
	(void)state;
	storeq_server_close(rp.store);
	storeq_client_close(env->storage);
	rp_end();
	rtr_hosts_free();
	return 0;
}

static inline uint64_t rp_send_env(uint8_t kind, uint8_t stype, uint64_t sid, uint32_t reqid, const char *from,
				   const char *to, const void *body, size_t blen)
{
	struct buf b;
	uint64_t seq;
	struct xe_msg m = {.version = XE_VERSION, .kind = kind, .stype = stype, .sid = sid, .reqid = reqid,
			   .from = from, .from_len = (uint16_t)strlen(from), .to = to,
			   .to_len = (uint16_t)strlen(to), .body = body, .body_len = (uint32_t)blen};
	buf_init(&b);
	assert_int_equal(xe_encode(&b, &m), 0);
	assert_int_equal(link_send(rp.peer, b.data, b.len, &seq), 0);
	buf_free(&b);
	return seq;
}

static inline uint64_t rp_send_stanza(uint8_t stype, uint64_t sid, const char *from, const char *to, const char *xml)
{
	return rp_send_env(XE_STANZA, stype, sid, 0, from, to, xml, strlen(xml));
}

/* Sends a ROUTE_* envelope (BIND, SYNC) for full with the priority 0 a session starts with. */
static inline uint64_t rp_send_route(uint8_t kind, uint64_t sid, uint32_t reqid, const char *full)
{
	struct buf body;
	buf_init(&body);
	tlv_put_u32(&body, RT_PRIORITY, 0);
	uint64_t seq = rp_send_env(kind, 0, sid, reqid, full, "", body.data, body.len);
	buf_free(&body);
	return seq;
}

/* Binds a session and makes it available, waiting until the router has taken both. */
static inline void rp_bind_session(uint64_t sid, const char *full)
{
	char pres[256];
	rp_send_route(XE_ROUTE_BIND, sid, 0, full);
	snprintf(pres, sizeof(pres), "<presence from='%s'/>", full);
	uint64_t seq = rp_send_stanza(XE_ST_PRESENCE, sid, full, "", pres);
	assert_int_equal(rp_run_until(&rp.acked, seq, 5.0), 0);
}

#endif
