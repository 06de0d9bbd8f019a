/* The stream worker's router link across a router restart, over a real link with the test as the
 * router: client stanzas go out numbered and a replay keeps the numbers; a stanza the old router
 * delivered and the new one delivers again reaches the client once; server stanzas (no number)
 * and new ones are delivered as they come. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "c2s.h"
#include "link.h"
#include "loop_wait.h"
#include "seen.h"
#include "xe.h"

struct c2s_env *env;

#define BOB "bob@localhost/b"
#define ALICE "alice@localhost/a"

/* ---- the recording transport (bob's client) ---- */

static struct buf out;

static int t_send(struct c2s_conn *c, const void *p, size_t n)
{
	return c->closing ? -1 : buf_put(&out, p, n);
}

static void t_close(struct c2s_conn *c, int graceful)
{
	(void)graceful;
	if (!c->closing)
		c2s_conn_end_session(c);
}

static void t_hold(struct c2s_conn *c, int on) { c->held = on ? 1 : 0; }
static void t_wake(struct c2s_conn *c) { (void)c; }

static const struct c2s_conn_ops t_ops = {
	.send = t_send, .close = t_close, .hold = t_hold, .wake = t_wake, .name = "test",
};

static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents) { (void)loop, (void)w, (void)revents; }

/* How often needle shows in what bob's client got. */
static int count(const char *needle)
{
	int n = 0;
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= out.len; i++)
		if (memcmp(out.data + i, needle, k) == 0)
			n++;
	return n;
}

/* ---- the test playing the router ---- */

static struct {
	struct link *link;
	uint64_t peers;		/* new stream-worker peers seen (one per router process) */
	uint32_t reqid[16];	/* numbers of the STANZA envelopes received, in order */
	unsigned nstanzas;
} r;

static void r_recv(void *arg, struct link *l, uint64_t seq, const uint8_t *p, size_t n)
{
	struct xe_msg m;
	(void)arg, (void)l, (void)seq;
	assert_int_equal(xe_decode(p, n, &m), XE_OK);
	if (m.kind == XE_STANZA && r.nstanzas < 16)
		r.reqid[r.nstanzas++] = m.reqid;
}

static void r_event(void *arg, struct link *l, int ev)
{
	(void)arg, (void)l;
	if (ev == LINK_PEER_NEW)
		r.peers++;
}

static const struct link_ops r_ops = {.recv = r_recv, .event = r_event};

static char dir[64], url[160];

static int peers_at_least(void *want) { return r.peers >= *(uint64_t *)want; }
static int stanzas_at_least(void *want) { return r.nstanzas >= *(unsigned *)want; }

/* A router process listening on c2s.0, acknowledging nothing (as the real one before the
 * destinations acknowledged); returns once the stream worker said HELLO to it. */
static void router_start(void)
{
	const struct link_opts o = {.replay = 0, .auto_ack = 0};
	uint64_t want = r.peers + 1;
	r.link = link_listen(env->loop, url, &o, &r_ops, NULL);
	assert_non_null(r.link);
	loop_wait(env->loop, peers_at_least, &want, 10.0, "the stream worker on the new router");
}

/* kill -9 of the router: its link is gone; the next one is another process (a new epoch). */
static void router_crash(void)
{
	link_close(r.link);
	r.link = NULL;
	r.nstanzas = 0;
	link_new_epoch();
}

static void router_deliver(uint64_t sid, const char *from, uint32_t no, const char *body)
{
	struct buf b;
	struct xe_msg m = {.version = XE_VERSION, .kind = XE_STANZA, .stype = XE_ST_MESSAGE, .sid = sid,
			   .reqid = no, .from = from, .from_len = (uint16_t)strlen(from), .to = BOB,
			   .to_len = (uint16_t)strlen(BOB), .body = (const uint8_t *)body,
			   .body_len = (uint32_t)strlen(body)};
	buf_init(&b);
	assert_int_equal(xe_encode(&b, &m), 0);
	assert_int_equal(link_send(r.link, b.data, b.len, NULL), 0);
	buf_free(&b);
}

static struct c2s_vhost vhost = {.name = "localhost"};

static int setup(void **state)
{
	char path[128];
	(void)state;
	memset(&r, 0, sizeof(r));
	env = calloc(1, sizeof(*env));
	assert_non_null(env);
	env->loop = ev_loop_new(EVFLAG_AUTO);
	c2s_env_defaults(env);
	env->vhosts = &vhost;
	env->nvhosts = 1;
	c2s_seen_reset();
	snprintf(dir, sizeof(dir), "/tmp/xmppd-test-stream-replay.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/jail", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/jail/ipc", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(env->boot.role, sizeof(env->boot.role), "c2s");
	snprintf(env->boot.rundir, sizeof(env->boot.rundir), "%s", dir);
	env->boot.unpriv = 1;	/* not chrooted: the ipc directory is under rundir/jail */
	snprintf(url, sizeof(url), "ipc://%s/jail/ipc/c2s.0.sock", dir);
	assert_int_equal(c2s_rl_start(), 0);
	router_start();
	return 0;
}

static int teardown(void **state)
{
	char path[200];
	(void)state;
	link_close(env->link);
	link_close(r.link);
	ev_loop_destroy(env->loop);
	buf_free(&env->scratch);
	buf_free(&env->backlog);
	free(env);
	env = NULL;
	buf_free(&out);
	snprintf(path, sizeof(path), "%s/jail/ipc/c2s.0.sock", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/jail/ipc", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/jail", dir);
	rmdir(path);
	rmdir(dir);
	return 0;
}

/* Bob's bound session, writing to the recording transport. */
static struct c2s_conn *bob_session(void)
{
	struct c2s_conn *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(c2s_conn_setup(c, &t_ops, NULL, idle_cb), 0);
	assert_int_equal(c2s_sess_bind_jid(c, BOB), 0);
	c->bound = 1;
	c2s_sess_add(c);
	buf_reset(&out);
	return c;
}

static void session_free(struct c2s_conn *c)
{
	if (!c->closing)
		c2s_conn_end_session(c);
	c2s_conn_teardown(c);
	free(c);
}

static int got_all(void *ctx)
{
	(void)ctx;
	return count(">two<") == 1 && count(">server<") == 2;
}

static int got(void *needle) { return count(needle) >= 1; }

static void test_delivered_before_the_crash_reaches_the_client_once(void **state)
{
	(void)state;
	struct c2s_conn *c = bob_session();
	router_deliver(c->sid, ALICE, 41, "<message>one</message>");
	router_deliver(c->sid, "localhost", 0, "<message>server</message>");
	loop_wait(env->loop, got, ">server<", 10.0, "the first router's stanzas");
	assert_int_equal(count(">one<"), 1);
	assert_int_equal(count(">server<"), 1);
	/* the router dies before alice's worker saw the stanza acknowledged: the new router gets it
	 * again from that worker and delivers it again, with the same number */
	router_crash();
	router_start();
	router_deliver(c->sid, ALICE, 41, "<message>one</message>");
	router_deliver(c->sid, ALICE, 42, "<message>two</message>");
	router_deliver(c->sid, "localhost", 0, "<message>server</message>");
	loop_wait(env->loop, got_all, NULL, 10.0, "the new router's stanzas");
	assert_int_equal(count(">one<"), 1);
	assert_int_equal(c2s_seen_dups(), 1);
	/* the same number from another sender, or for another session, is another stanza */
	router_deliver(c->sid, "carol@localhost/c", 41, "<message>carol</message>");
	struct c2s_conn *c2 = bob_session();
	router_deliver(c2->sid, ALICE, 41, "<message>again</message>");
	loop_wait(env->loop, got, ">again<", 10.0, "the stanzas for the second session");
	assert_int_equal(count(">carol<"), 1);
	assert_int_equal(count(">again<"), 1);
	session_free(c2);
	session_free(c);
}

static void test_numbers_survive_the_replay(void **state)
{
	(void)state;
	unsigned two = 2;
	struct c2s_conn *c = bob_session();
	assert_int_equal(c2s_rl_send(XE_STANZA, XE_ST_MESSAGE, c->sid, 0, BOB, ALICE, "<message/>", 10), 0);
	assert_int_equal(c2s_rl_send(XE_STANZA, XE_ST_MESSAGE, c->sid, 0, BOB, ALICE, "<message/>", 10), 0);
	loop_wait(env->loop, stanzas_at_least, &two, 10.0, "two stanzas at the router");
	uint32_t a = r.reqid[0], b = r.reqid[1];
	assert_true(a != 0 && b != 0 && a != b);
	router_crash();
	router_start();
	loop_wait(env->loop, stanzas_at_least, &two, 10.0, "the two stanzas replayed");
	assert_int_equal(r.reqid[0], a);
	assert_int_equal(r.reqid[1], b);
	session_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_delivered_before_the_crash_reaches_the_client_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numbers_survive_the_replay, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
