/* Unit tests for stanza links (workers/runtime/link.c) over real NNG ipc:// sockets in a
 * temporary directory, one process, one libev loop; every wait is bounded by a deadline. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "loop_wait.h"
#include "buf.h"
#include "link.h"
#include "nngev.h"
#include "xe.h"
#include "xlimits.h"

#define MAX_SEEN 20000
#define WAIT_S 8.0

static struct ev_loop *loop;
static char tmpdir[64];
static char url[128];
static int url_n;

/* What one side of a link observed. */
struct side {
	struct link *l;
	const char *name;
	uint32_t sids[MAX_SEEN];	/* sid of each received envelope, in order */
	uint64_t seqs[MAX_SEEN];
	size_t nrecv;
	int bad_env;			/* received bytes that are not a valid envelope */
	int nnew, ndown;
	uint64_t acked_upto;
	int nacked;
	int send_on_new;		/* send one envelope with this sid from the PEER_NEW event */
	int close_in_recv;		/* close the link from inside recv */
};

static void make_env(struct buf *b, uint32_t sid, size_t body_len)
{
	static uint8_t body[4096];
	memset(body, 'b', sizeof(body));
	struct xe_msg m = {.kind = XE_STANZA, .stype = XE_ST_MESSAGE, .sid = sid,
			   .from = "a@localhost/r", .from_len = 13, .to = "b@localhost", .to_len = 11,
			   .body = body, .body_len = (uint32_t)body_len};
	buf_reset(b);
	assert_int_equal(xe_encode(b, &m), 0);
}

static int send_env(struct side *s, uint32_t sid, size_t body_len, uint64_t *seq)
{
	struct buf b;
	buf_init(&b);
	make_env(&b, sid, body_len);
	int rc = link_send(s->l, b.data, b.len, seq);
	buf_free(&b);
	return rc;
}

static void on_recv(void *arg, struct link *l, uint64_t seq, const uint8_t *env, size_t len)
{
	struct side *s = arg;
	struct xe_msg m;
	if (xe_decode(env, len, &m) != XE_OK) {
		s->bad_env++;
		return;
	}
	if (s->nrecv < MAX_SEEN) {
		s->sids[s->nrecv] = (uint32_t)m.sid;
		s->seqs[s->nrecv] = seq;
	}
	s->nrecv++;
	if (s->close_in_recv) {
		link_close(l);
		s->l = NULL;
	}
}

static void on_event(void *arg, struct link *l, int event)
{
	struct side *s = arg;
	(void)l;
	if (event == LINK_PEER_NEW) {
		s->nnew++;
		if (s->send_on_new)
			assert_int_equal(send_env(s, (uint32_t)s->send_on_new, 8, NULL), 0);
	} else if (event == LINK_PEER_DOWN) {
		s->ndown++;
	}
}

static void on_acked(void *arg, struct link *l, uint64_t upto)
{
	struct side *s = arg;
	(void)l;
	if (upto < s->acked_upto)
		fail_msg("%s: acked went backwards: %llu after %llu", s->name,
			 (unsigned long long)upto, (unsigned long long)s->acked_upto);
	s->acked_upto = upto;
	s->nacked++;
}

static const struct link_ops side_ops = {on_recv, on_event, on_acked};

/* Runs the loop until pred holds; fails the test after WAIT_S seconds. */
static void wait_for(pred_fn pred, void *ctx, const char *what) { loop_wait(loop, pred, ctx, WAIT_S, what); }

/* Lets the loop run for a while (to show that nothing more happens). */
static void settle(double secs) { loop_wait(loop, NULL, NULL, secs, NULL); }

static int setup(void **state)
{
	(void)state;
	loop = ev_default_loop(0);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/xmppd-link-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(url, sizeof(url), "ipc://%s/c2s.%d.sock", tmpdir, url_n++);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char path[160];
	for (int i = 0; i < url_n; i++) {
		snprintf(path, sizeof(path), "%s/c2s.%d.sock", tmpdir, i);
		unlink(path);
	}
	rmdir(tmpdir);
	return 0;
}

static struct side *side_new(const char *name)
{
	struct side *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->name = name;
	return s;
}

static void side_free(struct side *s)
{
	if (s->l)
		link_close(s->l);
	free(s);
}

struct pair_ctx {
	struct side *a, *b;
	size_t want;
};

static int got_all_and_acked(void *ctx)
{
	struct pair_ctx *p = ctx;
	return p->b->nrecv >= p->want && link_unacked(p->a->l) == 0;
}

static int c_down(void *ctx)
{
	struct pair_ctx *p = ctx;
	return p->a->ndown >= 1;
}

static int got_n(void *ctx)
{
	struct pair_ctx *p = ctx;
	return p->b->nrecv >= p->want;
}

static void check_order(const struct side *s, uint32_t first_sid, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s->sids[i] != first_sid + i)
			fail_msg("%s: envelope %zu has sid %u, want %u", s->name, i, s->sids[i],
				 (unsigned)(first_sid + i));
		if (i > 0 && s->seqs[i] <= s->seqs[i - 1])
			fail_msg("%s: seq not increasing at %zu", s->name, i);
	}
}

static void test_order_10000(void **state)
{
	(void)state;
	struct link_opts o = {.replay = 1, .auto_ack = 1};
	struct side *r = side_new("router"), *c = side_new("c2s");
	r->l = link_listen(loop, url, &o, &side_ops, r);
	assert_non_null(r->l);
	struct stat st;
	assert_int_equal(stat(url + strlen("ipc://"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	c->l = link_dial(loop, url, &o, &side_ops, c);
	assert_non_null(c->l);
	/* sent before the peer is even connected: queued, then delivered in order */
	for (uint32_t i = 0; i < 10000; i++) {
		uint64_t seq;
		assert_int_equal(send_env(c, 1000 + i, i % 512, &seq), 0);
		assert_int_equal(seq, i + 1);
	}
	assert_int_equal(link_stats(c->l).frames_sent, 0);
	assert_int_equal(link_unacked(c->l), 10000);
	struct pair_ctx p = {c, r, 10000};
	wait_for(got_all_and_acked, &p, "10000 envelopes delivered and acknowledged");
	assert_int_equal(r->nrecv, 10000);
	assert_int_equal(r->bad_env, 0);
	check_order(r, 1000, 10000);
	/* renumbered once the peer said HELLO; acked speaks of the numbers delivered */
	assert_true(c->acked_upto == r->seqs[9999]);
	assert_int_equal(link_stats(c->l).replayed, 0);	/* never sent before: not a replay */
	assert_int_equal(c->nnew, 1);
	assert_int_equal(r->nnew, 1);
	assert_true(link_peer_epoch(c->l) == link_peer_epoch(r->l));
	struct link_stats cs = link_stats(c->l), rs = link_stats(r->l);
	assert_int_equal(cs.frames_sent, 10000);
	assert_int_equal(rs.frames_recv, 10000);
	assert_int_equal(rs.frames_bad + rs.frames_dup + rs.frames_stale, 0);
	/* acks were batched: far fewer ACK frames than envelopes */
	if (rs.acks_sent >= 5000)
		fail_msg("router sent %llu ACK frames for 10000 envelopes",
			 (unsigned long long)rs.acks_sent);
	/* the other direction works too */
	assert_int_equal(send_env(r, 7, 100, NULL), 0);
	struct pair_ctx q = {r, c, 1};
	wait_for(got_all_and_acked, &q, "router to c2s envelope");
	assert_int_equal(c->sids[0], 7);
	side_free(c);
	side_free(r);
}

static void test_manual_ack_trims_window(void **state)
{
	(void)state;
	struct link_opts ro = {.replay = 1, .auto_ack = 0};
	struct link_opts co = {.replay = 1, .auto_ack = 1};
	struct side *r = side_new("router"), *c = side_new("c2s");
	r->l = link_listen(loop, url, &ro, &side_ops, r);
	c->l = link_dial(loop, url, &co, &side_ops, c);
	assert_non_null(r->l);
	assert_non_null(c->l);
	for (uint32_t i = 0; i < 50; i++)
		assert_int_equal(send_env(c, i, 64, NULL), 0);
	struct pair_ctx p = {c, r, 50};
	wait_for(got_n, &p, "50 envelopes");
	settle(0.05);
	/* nothing is done yet: everything stays in the window */
	assert_int_equal(link_unacked(c->l), 50);
	assert_int_equal(c->nacked, 0);
	link_done_upto(r->l, r->seqs[19]);
	settle(0.05);
	assert_int_equal(link_unacked(c->l), 30);
	assert_true(c->acked_upto == r->seqs[19]);
	/* done beyond what was delivered is clamped */
	link_done_upto(r->l, 1000);
	settle(0.05);
	assert_int_equal(link_unacked(c->l), 0);
	assert_true(c->acked_upto == r->seqs[49]);
	side_free(c);
	side_free(r);
}

/* The router side goes away with frames unacknowledged and a new router process (new epoch)
 * listens again: c2s gets PEER_DOWN, then PEER_NEW, sends its sync first, then the replay. */
static void restart_router(int replay)
{
	struct link_opts ro = {.replay = 1, .auto_ack = 0};
	struct link_opts co = {.replay = replay, .auto_ack = 1};
	struct side *r = side_new("router"), *c = side_new("c2s");
	r->l = link_listen(loop, url, &ro, &side_ops, r);
	c->l = link_dial(loop, url, &co, &side_ops, c);
	assert_non_null(r->l);
	assert_non_null(c->l);
	for (uint32_t i = 0; i < 100; i++)
		assert_int_equal(send_env(c, 100 + i, 32, NULL), 0);
	struct pair_ctx p = {c, r, 100};
	wait_for(got_n, &p, "100 envelopes before the restart");
	link_done_upto(r->l, r->seqs[39]);
	settle(0.05);
	assert_int_equal(link_unacked(c->l), 60);
	uint64_t old_epoch = link_peer_epoch(c->l);

	side_free(r);
	/* sent while no router is there: kept for the next one (replay) or dropped */
	struct pair_ctx pd = {c, NULL, 0};
	wait_for(c_down, &pd, "PEER_DOWN at c2s");
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(send_env(c, 200 + i, 32, NULL), 0);
	uint64_t last_queued;
	assert_int_equal(send_env(c, 205, 32, &last_queued), 0);
	link_new_epoch();
	struct side *r2 = side_new("router2");
	c->send_on_new = 999;
	r2->l = link_listen(loop, url, &ro, &side_ops, r2);
	assert_non_null(r2->l);
	struct pair_ctx p2 = {c, r2, replay ? 67 : 1};
	wait_for(got_n, &p2, "the sync (and replay) at the new router");
	settle(0.1);
	assert_int_equal(c->ndown, 1);
	assert_int_equal(c->nnew, 2);
	assert_int_equal(r2->nnew, 1);
	assert_true(link_peer_epoch(c->l) != old_epoch);
	assert_true(link_peer_epoch(c->l) == link_epoch());
	/* what the event callback sent comes first */
	assert_int_equal(r2->sids[0], 999);
	struct link_stats cs = link_stats(c->l);
	if (replay) {
		assert_int_equal(r2->nrecv, 67);
		for (size_t i = 1; i < 61; i++)
			if (r2->sids[i] != 140 + i - 1)
				fail_msg("replayed envelope %zu has sid %u, want %zu", i,
					 r2->sids[i], 140 + i - 1);
		for (size_t i = 61; i < 67; i++)
			if (r2->sids[i] != 200 + i - 61)
				fail_msg("queued envelope %zu has sid %u, want %zu", i,
					 r2->sids[i], 200 + i - 61);
		/* renumbered after the sync, above every old number */
		for (size_t i = 1; i < 67; i++)
			assert_true(r2->seqs[i] == r2->seqs[0] + i);
		assert_true(r2->seqs[0] > last_queued);
		assert_int_equal(cs.replayed, 60);
		assert_int_equal(link_unacked(c->l), 67);
	} else {
		assert_int_equal(r2->nrecv, 1);
		assert_int_equal(cs.replayed, 0);
		/* the dropped frames, sent or only queued, were reported acknowledged */
		assert_true(c->acked_upto == last_queued);
		assert_int_equal(link_unacked(c->l), 1);
	}
	link_done_upto(r2->l, r2->seqs[r2->nrecv - 1]);
	settle(0.05);
	assert_int_equal(link_unacked(c->l), 0);
	side_free(c);
	side_free(r2);
}

static void test_restart_replay(void **state)
{
	(void)state;
	restart_router(1);
}

static void test_restart_no_replay(void **state)
{
	(void)state;
	restart_router(0);
}

static void test_window_full(void **state)
{
	(void)state;
	struct link_opts o = {.replay = 1, .auto_ack = 1, .max_unacked_bytes = 4096};
	struct side *c = side_new("c2s");
	c->l = link_dial(loop, url, &o, &side_ops, c);	/* nobody listens */
	assert_non_null(c->l);
	struct buf b;
	buf_init(&b);
	make_env(&b, 1, 1000 - 32 - 24);	/* exactly 1000 bytes */
	assert_int_equal(b.len, 1000);
	for (int i = 0; i < 4; i++)
		assert_int_equal(link_send(c->l, b.data, b.len, NULL), 0);
	errno = 0;
	assert_int_equal(link_send(c->l, b.data, b.len, NULL), -1);
	assert_int_equal(errno, ENOBUFS);
	/* a smaller envelope still fits in what is left */
	make_env(&b, 2, 0);
	assert_int_equal(link_send(c->l, b.data, b.len, NULL), 0);
	assert_int_equal(link_unacked(c->l), 5);
	/* empty and oversized envelopes are refused */
	assert_int_equal(link_send(c->l, b.data, 0, NULL), -1);
	assert_int_equal(errno, EMSGSIZE);
	buf_free(&b);
	side_free(c);

	/* the message-count bound */
	struct link_opts o2 = {.replay = 1, .auto_ack = 1};
	c = side_new("c2s-count");
	c->l = link_dial(loop, url, &o2, &side_ops, c);
	assert_non_null(c->l);
	uint8_t tiny[8] = {0};
	for (unsigned i = 0; i < LINK_MAX_UNACKED_MSGS; i++)
		if (link_send(c->l, tiny, sizeof(tiny), NULL) != 0)
			fail_msg("send %u of %u refused", i, LINK_MAX_UNACKED_MSGS);
	assert_int_equal(link_send(c->l, tiny, sizeof(tiny), NULL), -1);
	assert_int_equal(errno, ENOBUFS);
	side_free(c);
}

/* A hand-made peer speaking raw frames, to send duplicates and garbage. */
static nng_socket raw_peer(void)
{
	nng_socket s;
	assert_int_equal(nng_pair1_open(&s), 0);
	assert_int_equal(nng_socket_set_int(s, NNG_OPT_SENDBUF, 64), 0);
	assert_int_equal(nng_dial(s, url, NULL, 0), 0);
	return s;
}

static void raw_send(nng_socket s, uint32_t magic, uint32_t type, uint64_t seq, uint64_t ack,
		     const void *payload, size_t len)
{
	nng_msg *m;
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(nng_msg_append_u32(m, magic), 0);
	assert_int_equal(nng_msg_append_u32(m, (uint32_t)(20 + len)), 0);	/* a batch of one */
	assert_int_equal(nng_msg_append_u32(m, type), 0);
	assert_int_equal(nng_msg_append_u64(m, seq), 0);
	assert_int_equal(nng_msg_append_u64(m, ack), 0);
	if (len)
		assert_int_equal(nng_msg_append(m, payload, len), 0);
	assert_int_equal(nng_sendmsg(s, m, 0), 0);
}

static void raw_send_bytes(nng_socket s, const void *p, size_t len)
{
	nng_msg *m;
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	if (len)
		assert_int_equal(nng_msg_append(m, p, len), 0);
	assert_int_equal(nng_sendmsg(s, m, 0), 0);
}

struct stats_ctx {
	struct side *s;
	uint64_t bad, dup, stale;
	size_t nrecv;
};

static int stats_reached(void *ctx)
{
	struct stats_ctx *x = ctx;
	struct link_stats st = link_stats(x->s->l);
	return st.frames_bad >= x->bad && st.frames_dup >= x->dup &&
	       st.frames_stale >= x->stale && x->s->nrecv >= x->nrecv;
}

#define MAGIC 0x584C4B32u
#define OLD_MAGIC 0x584C4B31u	/* one frame per message, no length: a peer of the old version */
enum { F_DATA = 1, F_ACK = 2, F_HELLO = 3 };

static void test_dups_and_bad_frames(void **state)
{
	(void)state;
	struct link_opts o = {.replay = 1, .auto_ack = 1};
	struct side *r = side_new("router");
	r->l = link_listen(loop, url, &o, &side_ops, r);
	assert_non_null(r->l);
	nng_socket s = raw_peer();
	struct buf e1, e2, e3;
	buf_init(&e1);
	buf_init(&e2);
	buf_init(&e3);
	make_env(&e1, 1, 5);
	make_env(&e2, 2, 5);
	make_env(&e3, 3, 5);
	/* before any HELLO: stale */
	raw_send(s, MAGIC, F_DATA, 1, 0, e1.data, e1.len);
	uint8_t epoch[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	raw_send(s, MAGIC, F_HELLO, 0, 0, epoch, 8);
	raw_send(s, MAGIC, F_DATA, 1, 0, e1.data, e1.len);
	raw_send(s, MAGIC, F_DATA, 1, 0, e1.data, e1.len);	/* dup */
	raw_send(s, MAGIC, F_DATA, 2, 0, e2.data, e2.len);
	raw_send(s, MAGIC, F_DATA, 2, 0, e2.data, e2.len);	/* dup */
	raw_send(s, MAGIC, F_DATA, 1, 0, e1.data, e1.len);	/* dup, older */
	static const struct {
		const char *name;
		uint32_t magic, type;
		uint64_t seq, ack;
		size_t len;
	} bad[] = {
		{"bad magic", 0x584C4B33u, F_DATA, 3, 0, 1},
		{"a frame of the old version", OLD_MAGIC, F_DATA, 3, 0, 1},
		{"unknown frame type", MAGIC, 9, 3, 0, 1},
		{"frame type 0", MAGIC, 0, 3, 0, 1},
		{"DATA with seq 0", MAGIC, F_DATA, 0, 0, 1},
		{"DATA without payload", MAGIC, F_DATA, 3, 0, 0},
		{"ACK with payload", MAGIC, F_ACK, 0, 0, 1},
		{"ACK with a seq", MAGIC, F_ACK, 5, 0, 0},
		{"HELLO with a short epoch", MAGIC, F_HELLO, 0, 0, 1},
		{"ACK of never-sent frames", MAGIC, F_ACK, 0, 77, 0},
	};
	size_t nbad = sizeof(bad) / sizeof(bad[0]);
	for (size_t i = 0; i < nbad; i++)
		raw_send(s, bad[i].magic, bad[i].type, bad[i].seq, bad[i].ack, e3.data,
			 bad[i].len ? e3.len : 0);
	uint8_t shortf[23] = {0x58, 0x4C, 0x4B, 0x32, 0, 0, 0, 19};	/* a 19-byte frame */
	raw_send_bytes(s, shortf, sizeof(shortf));
	raw_send_bytes(s, shortf, 0);
	uint8_t zero_epoch[8] = {0};
	raw_send(s, MAGIC, F_HELLO, 0, 0, zero_epoch, 8);
	nbad += 3;
	/* and a good one at the end proves the link still works */
	raw_send(s, MAGIC, F_DATA, 3, 0, e3.data, e3.len);
	struct stats_ctx x = {r, nbad, 3, 1, 3};
	wait_for(stats_reached, &x, "bad, duplicate and stale frames counted");
	settle(0.05);
	struct link_stats st = link_stats(r->l);
	if (st.frames_bad != nbad)
		fail_msg("frames_bad %llu, want %zu", (unsigned long long)st.frames_bad, nbad);
	assert_int_equal(st.frames_dup, 3);
	assert_int_equal(st.frames_stale, 1);
	assert_int_equal(r->nrecv, 3);
	assert_int_equal(r->sids[0], 1);
	assert_int_equal(r->sids[1], 2);
	assert_int_equal(r->sids[2], 3);
	assert_int_equal(r->bad_env, 0);
	assert_true(link_peer_epoch(r->l) == 0x0102030405060708ull);
	/* the router answered with its own HELLO and acknowledged up to 3 */
	int saw_hello = 0;
	uint64_t last_ack = 0;
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 200), 0);
	for (;;) {
		nng_msg *m;
		if (nng_recvmsg(s, &m, 0) != 0)
			break;
		uint32_t mg, fl, ty;
		uint64_t sq, ak;
		assert_int_equal(nng_msg_trim_u32(m, &mg), 0);
		assert_int_equal(mg, MAGIC);
		while (nng_msg_len(m) > 0) {
			assert_int_equal(nng_msg_trim_u32(m, &fl), 0);
			assert_true(fl >= 20 && fl <= nng_msg_len(m));
			assert_int_equal(nng_msg_trim_u32(m, &ty), 0);
			assert_int_equal(nng_msg_trim_u64(m, &sq), 0);
			assert_int_equal(nng_msg_trim_u64(m, &ak), 0);
			if (ty == F_HELLO) {
				saw_hello = 1;
				assert_int_equal(fl, 28);
			}
			if (ak > last_ack)
				last_ack = ak;
			assert_int_equal(nng_msg_trim(m, fl - 20), 0);
		}
		nng_msg_free(m);
	}
	assert_true(saw_hello);
	assert_int_equal(last_ack, 3);
	nng_close(s);
	buf_free(&e1);
	buf_free(&e2);
	buf_free(&e3);
	side_free(r);
}

static void test_close_inside_recv(void **state)
{
	(void)state;
	struct link_opts o = {.replay = 1, .auto_ack = 1};
	struct side *r = side_new("router"), *c = side_new("c2s");
	r->l = link_listen(loop, url, &o, &side_ops, r);
	c->l = link_dial(loop, url, &o, &side_ops, c);
	assert_non_null(r->l);
	assert_non_null(c->l);
	r->close_in_recv = 1;
	for (uint32_t i = 0; i < 20; i++)
		assert_int_equal(send_env(c, i, 16, NULL), 0);
	struct pair_ctx p = {c, r, 1};
	wait_for(got_n, &p, "first envelope");
	settle(0.1);
	/* closed in the first recv: nothing else was delivered, nothing crashed. (Whether the
	 * peer hears PEER_DOWN is up to NNG here: closing while the peer still sends is where
	 * NNG 1.5.2's nng_close can stall, and nev_close then gives up after a second.) */
	assert_int_equal(r->nrecv, 1);
	assert_null(r->l);
	side_free(c);
	side_free(r);
}

static int both_new(void *ctx)
{
	struct pair_ctx *p = ctx;
	return p->a->nnew >= 1 && p->b->nnew >= 1;
}

/* A router killed with the c2s connection still in its listen backlog closes it during the SP
 * handshake; NNG 1.5.2's dialer then never dials again. Here a plain socket plays that router:
 * it accepts the dialler's connection and closes it at once. The link must still reach the
 * real listener that comes after it (the dialer is replaced, NEV_REDIAL_S). */
static void test_redial_after_a_cut_handshake(void **state)
{
	(void)state;
	const char *path = url + strlen("ipc://");
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	assert_true(strlen(path) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	struct link_opts o = {.replay = 1, .auto_ack = 1};
	struct side *c = side_new("c2s"), *r = side_new("router");
	c->l = link_dial(loop, url, &o, &side_ops, c);
	assert_non_null(c->l);
	/* NNG dials on its own threads: the connection is cut while its connect completes */
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, (int)(WAIT_S * 1000)), 1);
	int conn = accept(fd, NULL, NULL);
	assert_true(conn >= 0);
	close(conn);
	settle(0.3);
	close(fd);
	unlink(path);
	r->l = link_listen(loop, url, &o, &side_ops, r);
	assert_non_null(r->l);
	struct pair_ctx p = {c, r, 0};
	loop_wait(loop, both_new, &p, NEV_REDIAL_S + WAIT_S, "HELLO both ways after the cut handshake");
	side_free(c);
	side_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_10000, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manual_ack_trims_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_no_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dups_and_bad_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_inside_recv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redial_after_a_cut_handshake, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
