/* Unit tests for the router ↔ storage request pool (workers/runtime/storeq.c) over real NNG
 * ipc:// sockets, one process, one libev loop; every wait is bounded by a deadline. */
#include <errno.h>
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
#include <ev.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "loop_wait.h"
#include "buf.h"
#include "storeq.h"

#define WAIT_S 8.0
#define MAX_CALLS 64

static struct ev_loop *loop;
static char tmpdir[64];
static char url[128];

/* One storage worker: answers "<tag>:<request>". */
struct server {
	struct storeq_server *s;
	char tag;
	int handled;
};

static void handler(void *arg, const uint8_t *req, size_t len, struct buf *reply)
{
	struct server *sv = arg;
	sv->handled++;
	assert_int_equal(reply->len, 0);
	buf_put_u8(reply, (uint8_t)sv->tag);
	buf_put_u8(reply, ':');
	buf_put(reply, req, len);
}

/* The result of one call. */
struct call {
	int done;		/* times the callback ran */
	int status;
	char reply[64];
	size_t len;
	ev_tstamp at;
};

static int in_call;		/* set while storeq_call runs: the callback must not run then */
static struct storeq_client *close_from_cb;

static void done_cb(void *arg, int status, const uint8_t *reply, size_t len)
{
	struct call *c = arg;
	if (in_call)
		fail_msg("callback ran inside storeq_call");
	c->done++;
	c->status = status;
	c->at = ev_now(loop);
	c->len = len;
	if (len > sizeof(c->reply) - 1)
		len = sizeof(c->reply) - 1;
	if (len)
		memcpy(c->reply, reply, len);
	c->reply[len] = 0;
	if (close_from_cb) {
		struct storeq_client *cl = close_from_cb;
		close_from_cb = NULL;
		storeq_client_close(cl);
	}
}

static int call(struct storeq_client *cl, const char *req, unsigned timeout_ms, struct call *c)
{
	in_call = 1;
	int rc = storeq_call(cl, (const uint8_t *)req, strlen(req), timeout_ms, done_cb, c);
	in_call = 0;
	return rc;
}

/* Bounded waits on the loop. */
static void run_until(pred_fn pred, void *ctx, double secs, const char *what)
{
	loop_wait(loop, pred, ctx, secs, what);
}

static void settle(double secs) { run_until(NULL, NULL, secs, NULL); }

static int call_done(void *ctx) { return ((struct call *)ctx)->done > 0; }

struct calls {
	struct call *c;
	int n;
};

static int all_done(void *ctx)
{
	struct calls *cs = ctx;
	for (int i = 0; i < cs->n; i++)
		if (!cs->c[i].done)
			return 0;
	return 1;
}

struct peers_ctx {
	struct storeq_client *cl;
	unsigned want;
};

static int peers_up(void *ctx)
{
	struct peers_ctx *p = ctx;
	return storeq_client_stats(p->cl).peers >= p->want;
}

static int setup(void **state)
{
	(void)state;
	static int n;
	loop = ev_default_loop(0);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/xmppd-storeq-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(url, sizeof(url), "ipc://%s/storage.%d.sock", tmpdir, n++);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(url + strlen("ipc://"));
	rmdir(tmpdir);
	return 0;
}

static void test_call_reply(void **state)
{
	(void)state;
	struct storeq_client *cl = storeq_listen(loop, url);
	assert_non_null(cl);
	struct stat st;
	assert_int_equal(stat(url + strlen("ipc://"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	struct server sv = {.tag = 'A'};
	sv.s = storeq_dial(loop, url, handler, &sv);
	assert_non_null(sv.s);
	/* called before the server is connected: waits in the queue, then goes out */
	struct call c1 = {0}, c2 = {0};
	assert_int_equal(call(cl, "hello", 3000, &c1), 0);
	assert_int_equal(c1.done, 0);
	run_until(call_done, &c1, WAIT_S, "first reply");
	assert_int_equal(c1.status, 0);
	assert_string_equal(c1.reply, "A:hello");
	assert_int_equal(call(cl, "again", 3000, &c2), 0);
	run_until(call_done, &c2, WAIT_S, "second reply");
	assert_string_equal(c2.reply, "A:again");
	settle(0.05);
	assert_int_equal(c1.done, 1);	/* exactly once */
	assert_int_equal(c2.done, 1);
	struct storeq_stats s = storeq_client_stats(cl);
	assert_int_equal(s.pending, 0);
	assert_int_equal(s.peers, 1);
	assert_int_equal(s.late + s.bad + s.timeouts, 0);
	storeq_server_close(sv.s);
	storeq_client_close(cl);
}

static void test_several_servers(void **state)
{
	(void)state;
	struct storeq_client *cl = storeq_listen(loop, url);
	assert_non_null(cl);
	struct server sv[3] = {{.tag = 'A'}, {.tag = 'B'}, {.tag = 'C'}};
	for (int i = 0; i < 3; i++) {
		sv[i].s = storeq_dial(loop, url, handler, &sv[i]);
		assert_non_null(sv[i].s);
	}
	struct peers_ctx pc = {cl, 3};
	run_until(peers_up, &pc, WAIT_S, "three storage workers connected");
	struct call c[30];
	char req[30][8];
	memset(c, 0, sizeof(c));
	for (int i = 0; i < 30; i++) {
		snprintf(req[i], sizeof(req[i]), "r%d", i);
		assert_int_equal(call(cl, req[i], 3000, &c[i]), 0);
	}
	struct calls cs = {c, 30};
	run_until(all_done, &cs, WAIT_S, "30 replies");
	for (int i = 0; i < 30; i++) {
		char want[16];
		if (c[i].status != 0)
			fail_msg("call %d: status %d", i, c[i].status);
		snprintf(want, sizeof(want), ":%s", req[i]);
		if (strcmp(c[i].reply + 1, want) != 0)
			fail_msg("call %d got reply '%s', want '?%s'", i, c[i].reply, want);
	}
	for (int i = 0; i < 3; i++)
		if (sv[i].handled == 0)
			fail_msg("server %c handled nothing (A %d, B %d, C %d)", sv[i].tag,
				 sv[0].handled, sv[1].handled, sv[2].handled);
	assert_int_equal(sv[0].handled + sv[1].handled + sv[2].handled, 30);
	for (int i = 0; i < 3; i++)
		storeq_server_close(sv[i].s);
	storeq_client_close(cl);
}

static void test_timeout_without_server(void **state)
{
	(void)state;
	struct storeq_client *cl = storeq_listen(loop, url);
	assert_non_null(cl);
	struct call c = {0};
	ev_now_update(loop);
	ev_tstamp t0 = ev_now(loop);
	assert_int_equal(call(cl, "nobody", 100, &c), 0);
	run_until(call_done, &c, WAIT_S, "the timeout");
	assert_int_equal(c.status, -ETIMEDOUT);
	assert_int_equal(c.len, 0);
	if (c.at - t0 < 0.09)
		fail_msg("timed out after %.3fs, want 0.1s", c.at - t0);
	struct storeq_stats s = storeq_client_stats(cl);
	assert_int_equal(s.timeouts, 1);
	assert_int_equal(s.pending, 0);
	/* a server arriving afterwards never sees the request that timed out */
	struct server sv = {.tag = 'A'};
	sv.s = storeq_dial(loop, url, handler, &sv);
	struct peers_ctx pc = {cl, 1};
	run_until(peers_up, &pc, WAIT_S, "late server connected");
	settle(0.2);
	assert_int_equal(sv.handled, 0);
	assert_int_equal(c.done, 1);
	storeq_server_close(sv.s);
	storeq_client_close(cl);
}

/* A hand-made storage worker (rep0 raw) that answers when the test says so. */
static nng_socket raw_server(void)
{
	nng_socket s;
	assert_int_equal(nng_rep0_open_raw(&s), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 3000), 0);
	assert_int_equal(nng_dial(s, url, NULL, 0), 0);
	return s;
}

static void test_late_and_bad_replies(void **state)
{
	(void)state;
	struct storeq_client *cl = storeq_listen(loop, url);
	assert_non_null(cl);
	nng_socket rs = raw_server();
	struct peers_ctx pc = {cl, 1};
	run_until(peers_up, &pc, WAIT_S, "raw server connected");
	struct call c = {0};
	assert_int_equal(call(cl, "slow", 100, &c), 0);
	settle(0.02);
	nng_msg *m;
	assert_int_equal(nng_recvmsg(rs, &m, 0), 0);	/* header: pipe id, request id */
	assert_int_equal(nng_msg_header_len(m), 8);
	assert_int_equal(nng_msg_len(m), 4);
	run_until(call_done, &c, WAIT_S, "the timeout of the slow call");
	assert_int_equal(c.status, -ETIMEDOUT);
	/* the late reply is dropped and counted */
	nng_msg *dup;
	assert_int_equal(nng_msg_dup(&dup, m), 0);
	assert_int_equal(nng_sendmsg(rs, m, 0), 0);
	settle(0.1);
	struct storeq_stats s = storeq_client_stats(cl);
	assert_int_equal(s.late, 1);
	assert_int_equal(c.done, 1);
	/* a reply whose backtrace is longer than our one id word is malformed */
	uint32_t pipe_id, req_id;
	assert_int_equal(nng_msg_header_trim_u32(dup, &pipe_id), 0);
	assert_int_equal(nng_msg_header_trim_u32(dup, &req_id), 0);
	assert_int_equal(nng_msg_header_append_u32(dup, pipe_id), 0);
	assert_int_equal(nng_msg_header_append_u32(dup, 0x00000005u), 0);
	assert_int_equal(nng_msg_header_append_u32(dup, req_id), 0);
	assert_int_equal(nng_sendmsg(rs, dup, 0), 0);
	settle(0.1);
	s = storeq_client_stats(cl);
	assert_int_equal(s.bad, 1);
	/* the pool still works afterwards */
	struct call c2 = {0};
	assert_int_equal(call(cl, "fast", 3000, &c2), 0);
	settle(0.02);
	assert_int_equal(nng_recvmsg(rs, &m, 0), 0);
	assert_int_equal(nng_msg_append(m, "!", 1), 0);
	assert_int_equal(nng_sendmsg(rs, m, 0), 0);
	run_until(call_done, &c2, WAIT_S, "reply from the raw server");
	assert_int_equal(c2.status, 0);
	assert_string_equal(c2.reply, "fast!");
	nng_close(rs);
	storeq_client_close(cl);
}

static void test_close_resets_pending(void **state)
{
	(void)state;
	struct storeq_client *cl = storeq_listen(loop, url);
	assert_non_null(cl);
	struct call c[3];
	memset(c, 0, sizeof(c));
	for (int i = 0; i < 3; i++)
		assert_int_equal(call(cl, "x", 5000, &c[i]), 0);
	assert_int_equal(storeq_client_stats(cl).pending, 3);
	storeq_client_close(cl);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(c[i].done, 1);
		assert_int_equal(c[i].status, -ECONNRESET);
	}
	settle(0.05);
	for (int i = 0; i < 3; i++)
		assert_int_equal(c[i].done, 1);

	/* closing from inside a callback: the other pending call is reset, nothing crashes */
	cl = storeq_listen(loop, url);
	assert_non_null(cl);
	struct call a = {0}, b = {0};
	assert_int_equal(call(cl, "a", 50, &a), 0);
	assert_int_equal(call(cl, "b", 5000, &b), 0);
	close_from_cb = cl;
	run_until(call_done, &a, WAIT_S, "first timeout");
	settle(0.05);
	assert_int_equal(a.status, -ETIMEDOUT);
	assert_int_equal(b.done, 1);
	assert_int_equal(b.status, -ECONNRESET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_call_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_several_servers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_without_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_and_bad_replies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_resets_pending, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
