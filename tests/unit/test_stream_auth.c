/* Unit tests of the stream engine's SASL hold-back (workers/stream/auth.c) on a recording
 * transport: a refused attempt is answered once, late, and nothing behind it in the same input
 * may start another exchange while its <failure/> waits (storage replies are played by hand). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "c2s.h"
#include "link.h"
#include "sto.h"
#include "tlv.h"

struct c2s_env *env;

#define HDR "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " \
	    "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
#define AUTH_PLAIN(b64) "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" b64 "</auth>"
#define REFUSED AUTH_PLAIN("AHhAeQBwdw==")	/* "\0x@y\0pw": no valid localpart, refused here */
#define GOOD AUTH_PLAIN("AGFsaWNlAHB3")		/* "\0alice\0pw": goes to storage */
#define ABORT "<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
#define RESPONSE "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>=</response>"
#define POLICY "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
#define FAILURE "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"
#define MAX_TURNS 40	/* loop turns waiting for a delay (each sleeps until the next timer) */

/* ---- the recording transport ---- */

static struct buf out;
static int closed;

static int t_send(struct c2s_conn *c, const void *p, size_t n)
{
	return c->closing ? -1 : buf_put(&out, p, n);
}

static void t_close(struct c2s_conn *c, int graceful)
{
	(void)graceful;
	if (!c->closing)
		c2s_conn_end_session(c);
	closed = 1;
}

static void t_hold(struct c2s_conn *c, int on) { c->held = on ? 1 : 0; }
static void t_wake(struct c2s_conn *c) { (void)c; }

static const struct c2s_conn_ops t_ops = {
	.send = t_send, .close = t_close, .hold = t_hold, .wake = t_wake, .name = "test",
};

static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents) { (void)loop, (void)w, (void)revents; }

static void l_recv(void *arg, struct link *l, uint64_t seq, const uint8_t *p, size_t n)
{
	(void)arg, (void)l, (void)seq, (void)p, (void)n;
}
static void l_event(void *arg, struct link *l, int ev) { (void)arg, (void)l, (void)ev; }
static void l_acked(void *arg, struct link *l, uint64_t upto) { (void)arg, (void)l, (void)upto; }
static const struct link_ops l_ops = {.recv = l_recv, .event = l_event, .acked = l_acked};

static struct c2s_vhost vhost = {.name = "localhost"};
static char url[128];

static int setup(void **state)
{
	(void)state;
	env = calloc(1, sizeof(*env));
	assert_non_null(env);
	env->loop = ev_loop_new(EVFLAG_AUTO);
	c2s_env_defaults(env);
	env->vhosts = &vhost;
	env->nvhosts = 1;
	/* nobody listens: the AUTH_REQs wait in the link, the test answers them itself */
	snprintf(url, sizeof(url), "ipc:///tmp/xmppd-test-stream-auth-%d.sock", (int)getpid());
	struct link_opts o = {.replay = 1, .auto_ack = 1};
	env->link = link_dial(env->loop, url, &o, &l_ops, NULL);
	assert_non_null(env->link);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	link_close(env->link);
	ev_loop_destroy(env->loop);
	buf_free(&env->scratch);
	free(env);
	env = NULL;
	return 0;
}

/* A fresh stream past its header, over TLS (PLAIN is offered), from its own address. */
static struct c2s_conn *stream_new(uint8_t addr_byte)
{
	struct c2s_conn *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(c2s_conn_setup(c, &t_ops, NULL, idle_cb), 0);
	c->tls = C2S_TLS_UP;
	c->addr[15] = addr_byte;
	buf_reset(&out);
	closed = 0;
	assert_true(c2s_xml_feed(c->xml, HDR, strlen(HDR)) >= 0);
	assert_non_null(strstr((const char *)out.data, "<mechanism>PLAIN</mechanism>"));
	buf_reset(&out);
	return c;
}

static void stream_free(struct c2s_conn *c)
{
	if (!c->closing)
		c2s_conn_end_session(c);	/* as the transports do: out of the session tables */
	c2s_conn_teardown(c);
	free(c);
	buf_free(&out);
}

static int has(const char *needle)
{
	return out.len && memmem(out.data, out.len, needle, strlen(needle)) != NULL;
}

/* Storage's answers to whatever exchange is waiting: PARAMS (salt, 1 iteration), then VERIFY. */
static void storage_answers(struct c2s_conn *c)
{
	for (int step = 0; step < 2 && c->reqid && c->scram; step++) {
		struct buf rep;
		buf_init(&rep);
		uint8_t sig[32] = {1};
		int bad = tlv_put_u32(&rep, STO_T_STATUS, STO_OK) < 0 ||
			  (step == 0 ? tlv_put(&rep, STO_T_SALT, "salt", 4) < 0 || tlv_put_u32(&rep, STO_T_ITER, 1) < 0
				     : tlv_put(&rep, STO_T_SIGNATURE, sig, sizeof(sig)) < 0);
		assert_false(bad);
		c2s_auth_reply(c->reqid, 0, rep.data, rep.len);
		buf_free(&rep);
	}
}

/* Runs the loop until c holds nothing back (bounded). */
static void wait_delay(struct c2s_conn *c)
{
	for (int i = 0; i < MAX_TURNS && ev_is_active(&c->delay); i++)
		ev_run(env->loop, EVRUN_ONCE);
	assert_false(ev_is_active(&c->delay));
}

static void test_refused_attempt_answered_late_once(void **state)
{
	(void)state;
	struct c2s_conn *c = stream_new(1);
	assert_int_equal(c2s_xml_feed(c->xml, REFUSED, strlen(REFUSED)), C2S_XML_OK);
	assert_false(has("<failure"));	/* held back */
	assert_true(c->held && ev_is_active(&c->delay));
	wait_delay(c);
	assert_true(has(FAILURE));
	assert_false(c->held || closed);
	/* the stream goes on: a new attempt is heard */
	buf_reset(&out);
	assert_int_equal(c2s_xml_feed(c->xml, GOOD, strlen(GOOD)), C2S_XML_OK);
	assert_int_not_equal(c->reqid, 0);
	storage_answers(c);
	assert_true(c->authed && has("<success"));
	stream_free(c);
}

/* What followed a refused attempt in the same input, before its <failure/> went out. */
static const struct {
	const char *name, *behind;
} behind_cases[] = {
	{"an attempt storage would accept", GOOD},
	{"a second refused attempt", REFUSED},
	{"an abort", ABORT},
	{"a response", RESPONSE},
};

static void test_nothing_acted_on_behind_a_held_failure(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(behind_cases) / sizeof(behind_cases[0]); i++) {
		struct c2s_conn *c = stream_new((uint8_t)(10 + i));
		struct buf in;
		buf_init(&in);
		assert_int_equal(buf_put_str(&in, REFUSED), 0);
		assert_int_equal(buf_put_str(&in, behind_cases[i].behind), 0);
		(void)c2s_xml_feed(c->xml, in.data, in.len);
		buf_free(&in);
		storage_answers(c);	/* were an exchange started, storage would answer it */
		for (int k = 0; k < MAX_TURNS && ev_is_active(&c->delay); k++)
			ev_run(env->loop, EVRUN_ONCE);
		if (!has(POLICY) || has("<success") || has("<failure") || c->authed || !closed)
			fail_msg("case \"%s\": got %.*s (authed=%d closed=%d), want only the policy-violation "
				 "stream error", behind_cases[i].name, (int)out.len, (const char *)out.data, c->authed,
				 closed);
		assert_false(ev_is_active(&c->delay));
		stream_free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refused_attempt_answered_late_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_acted_on_behind_a_held_failure, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
