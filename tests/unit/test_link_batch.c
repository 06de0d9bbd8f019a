/* Unit tests for the batching of stanza link frames (workers/runtime/link.c): how frames are
 * grouped into NNG messages, and how batches from a hand-made peer are split, checked and
 * dropped when malformed. Real NNG ipc:// sockets, one libev loop, bounded waits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "loop_wait.h"
#include "buf.h"
#include "link.h"
#include "xe.h"

#define MAGIC 0x584C4B32u
#define FHDR 20u
#define MAX_SEEN 512
#define MAX_MSGS 64
#define WAIT_S 8.0
#define BIG_BODY (128u << 10)
enum { F_DATA = 1, F_ACK = 2, F_HELLO = 3 };

static struct ev_loop *loop;
static char tmpdir[64];
static char url[128];

struct side {
	struct link *l;
	uint32_t sids[MAX_SEEN];
	uint64_t seqs[MAX_SEEN];
	size_t nrecv;
	int bad_env;
};

static void on_recv(void *arg, struct link *l, uint64_t seq, const uint8_t *env, size_t len)
{
	struct side *s = arg;
	struct xe_msg m;
	(void)l;
	if (xe_decode(env, len, &m) != XE_OK) {
		s->bad_env++;
		return;
	}
	if (s->nrecv < MAX_SEEN) {
		s->sids[s->nrecv] = (uint32_t)m.sid;
		s->seqs[s->nrecv] = seq;
	}
	s->nrecv++;
}

static const struct link_ops ops = {on_recv, NULL, NULL};

/* An envelope of exactly len bytes (len >= 56) with this sid. */
static void make_env(struct buf *b, uint32_t sid, size_t len)
{
	static uint8_t body[BIG_BODY];
	memset(body, 'b', sizeof(body));
	assert_true(len >= 56 && len - 56 <= sizeof(body));
	struct xe_msg m = {.kind = XE_STANZA, .stype = XE_ST_MESSAGE, .sid = sid,
			   .from = "a@localhost/r", .from_len = 13, .to = "b@localhost", .to_len = 11,
			   .body = body, .body_len = (uint32_t)(len - 56)};
	buf_reset(b);
	assert_int_equal(xe_encode(b, &m), 0);
	assert_int_equal(b->len, len);
}

/* Runs the loop until pred holds (fails after WAIT_S), or for secs when pred is NULL. */
static void run_until(pred_fn pred, void *ctx, double secs, const char *what)
{
	loop_wait(loop, pred, ctx, pred ? WAIT_S : secs, what);
}

static int setup(void **state)
{
	(void)state;
	loop = ev_default_loop(0);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/xmppd-linkb-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(url, sizeof(url), "ipc://%s/c2s.0.sock", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char path[160];
	snprintf(path, sizeof(path), "%s/c2s.0.sock", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

/* A batch being built by the hand-made peer. */
static nng_msg *batch_new(void)
{
	nng_msg *m;
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(nng_msg_append_u32(m, MAGIC), 0);
	return m;
}

static void batch_add(nng_msg *m, uint32_t type, uint64_t seq, uint64_t ack, const void *p,
		      size_t len)
{
	assert_int_equal(nng_msg_append_u32(m, (uint32_t)(FHDR + len)), 0);
	assert_int_equal(nng_msg_append_u32(m, type), 0);
	assert_int_equal(nng_msg_append_u64(m, seq), 0);
	assert_int_equal(nng_msg_append_u64(m, ack), 0);
	if (len)
		assert_int_equal(nng_msg_append(m, p, len), 0);
}

static void batch_add_data(nng_msg *m, uint64_t seq, uint32_t sid)
{
	struct buf b;
	buf_init(&b);
	make_env(&b, sid, 80);
	batch_add(m, F_DATA, seq, 0, b.data, b.len);
	buf_free(&b);
}

static const uint8_t peer_epoch[8] = {9, 8, 7, 6, 5, 4, 3, 2};

/* A listening link and a raw pair1 peer that has said HELLO and was heard. */
struct rig {
	struct side side;
	nng_socket raw;
};

static int peer_known(void *ctx)
{
	struct rig *g = ctx;
	return link_peer_epoch(g->side.l) != 0;
}

static struct rig *rig_new(void)
{
	struct rig *g = calloc(1, sizeof(*g));
	struct link_opts o = {.replay = 1, .auto_ack = 1};
	assert_non_null(g);
	g->side.l = link_listen(loop, url, &o, &ops, &g->side);
	assert_non_null(g->side.l);
	assert_int_equal(nng_pair1_open(&g->raw), 0);
	assert_int_equal(nng_socket_set_int(g->raw, NNG_OPT_SENDBUF, 64), 0);
	assert_int_equal(nng_socket_set_int(g->raw, NNG_OPT_RECVBUF, 1024), 0);
	assert_int_equal(nng_socket_set_size(g->raw, NNG_OPT_RECVMAXSZ, 1u << 21), 0);
	assert_int_equal(nng_dial(g->raw, url, NULL, 0), 0);
	nng_msg *m = batch_new();
	batch_add(m, F_HELLO, 0, 0, peer_epoch, sizeof(peer_epoch));
	assert_int_equal(nng_sendmsg(g->raw, m, 0), 0);
	run_until(peer_known, g, 0, "the link heard the raw peer's HELLO");
	return g;
}

static void rig_free(struct rig *g)
{
	link_close(g->side.l);
	nng_close(g->raw);
	free(g);
}

/* What the raw peer received since the last call: DATA frames per NNG message (messages
 * without DATA, such as HELLO, are skipped), every length checked; returns the message
 * count. *first_seq is the seq of the first DATA frame seen, *max_ack the highest ack.
 * Waits up to 3 s each for want_frames DATA frames and an ack of want_ack, then 50 ms for
 * anything more. */
static size_t raw_collect(struct rig *g, size_t want_frames, uint64_t want_ack,
			  size_t per_msg[MAX_MSGS], uint64_t *first_seq, uint64_t *max_ack)
{
	size_t nmsg = 0, nframes = 0;
	nng_msg *m;
	*first_seq = 0;
	for (;;) {
		int more = nframes < want_frames || *max_ack < want_ack;
		assert_int_equal(nng_socket_set_ms(g->raw, NNG_OPT_RECVTIMEO, more ? 3000 : 50), 0);
		if (nng_recvmsg(g->raw, &m, 0) != 0)
			break;
		uint32_t mg, fl, ty;
		uint64_t sq, ak;
		size_t ndata = 0;
		assert_int_equal(nng_msg_trim_u32(m, &mg), 0);
		assert_int_equal(mg, MAGIC);
		assert_true(nng_msg_len(m) > 0);
		while (nng_msg_len(m) > 0) {
			assert_int_equal(nng_msg_trim_u32(m, &fl), 0);
			assert_true(fl >= FHDR && fl <= nng_msg_len(m));
			assert_int_equal(nng_msg_trim_u32(m, &ty), 0);
			assert_int_equal(nng_msg_trim_u64(m, &sq), 0);
			assert_int_equal(nng_msg_trim_u64(m, &ak), 0);
			assert_int_equal(nng_msg_trim(m, fl - FHDR), 0);
			if (ak > *max_ack)
				*max_ack = ak;
			if (ty != F_DATA)
				continue;
			if (*first_seq == 0)
				*first_seq = sq;
			ndata++;
		}
		nng_msg_free(m);
		if (ndata) {
			assert_true(nmsg < MAX_MSGS);
			per_msg[nmsg++] = ndata;
			nframes += ndata;
		}
	}
	return nmsg;
}

static int window_empty(void *ctx)
{
	struct side *s = ctx;
	return link_unacked(s->l) == 0;
}

/* Frames queued in one go leave in batches of at most 64 frames and 64 KiB, greedily, in
 * order; a frame larger than 64 KiB goes alone. Envelope lengths and the expected frames per
 * NNG message, case by case. */
static void test_batch_boundaries(void **state)
{
	(void)state;
	enum { E_SPLIT2 = 30000, E_EXACT2 = 32742, E_OVER2 = 32743, E_BIG = 100000 };
	static const struct {
		const char *name;
		size_t n;		/* frames, all of length len unless lens[] is given */
		size_t len;
		size_t lens[4];
		size_t want[8];		/* frames per message, 0-terminated */
	} cases[] = {
		{"one frame", 1, 100, {0}, {1}},
		{"63 frames", 63, 100, {0}, {63}},
		{"64 frames: one full batch", 64, 100, {0}, {64}},
		{"65 frames: the 65th opens a batch", 65, 100, {0}, {64, 1}},
		{"200 frames", 200, 100, {0}, {64, 64, 64, 8}},
		{"two fit, a third does not", 5, E_SPLIT2, {0}, {2, 2, 1}},
		{"two fill 64 KiB exactly", 4, E_EXACT2, {0}, {2, 2}},
		{"one byte more: one per batch", 3, E_OVER2, {0}, {1, 1, 1}},
		{"larger than a batch: alone", 2, E_BIG, {0}, {1, 1}},
		{"small, big, small", 3, 0, {100, E_BIG, 100}, {1, 1, 1}},
		{"small ones merge around a split", 4, 0, {100, 100, 65300, 100}, {2, 2}},
	};
	struct rig *g = rig_new();
	struct buf b;
	buf_init(&b);
	uint64_t next_seq = 1, acked = 0;
	uint32_t sid = 1;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t per[MAX_MSGS], nwant = 0;
		uint64_t first = 0;
		struct link_stats before = link_stats(g->side.l);
		for (size_t i = 0; i < cases[c].n; i++) {
			size_t len = cases[c].len ? cases[c].len : cases[c].lens[i];
			uint64_t seq;
			make_env(&b, sid++, len);
			assert_int_equal(link_send(g->side.l, b.data, b.len, &seq), 0);
			assert_int_equal(seq, next_seq++);
		}
		run_until(NULL, NULL, 0.05, NULL);	/* the loop blocks: the rest goes out */
		size_t nmsg = raw_collect(g, cases[c].n, 0, per, &first, &acked);
		while (nwant < 8 && cases[c].want[nwant])
			nwant++;
		if (nmsg != nwant)
			fail_msg("%s: %zu messages, want %zu", cases[c].name, nmsg, nwant);
		for (size_t i = 0; i < nmsg; i++)
			if (per[i] != cases[c].want[i])
				fail_msg("%s: message %zu holds %zu frames, want %zu", cases[c].name,
					 i, per[i], cases[c].want[i]);
		assert_int_equal(first, next_seq - cases[c].n);
		struct link_stats after = link_stats(g->side.l);
		assert_int_equal(after.frames_sent - before.frames_sent, cases[c].n);
		/* the peer acknowledges in one ACK, the window empties */
		nng_msg *m = batch_new();
		batch_add(m, F_ACK, 0, next_seq - 1, NULL, 0);
		assert_int_equal(nng_sendmsg(g->raw, m, 0), 0);
	}
	struct side *s = &g->side;
	run_until(window_empty, s, 0, "the last ACK taken");
	assert_int_equal(link_stats(s->l).frames_bad, 0);
	assert_int_equal(acked, 0);	/* nothing was received, so nothing acknowledged */
	buf_free(&b);
	rig_free(g);
}

struct want_ctx {
	struct side *s;
	size_t n;
};

static int got_n(void *ctx)
{
	struct want_ctx *w = ctx;
	return w->s->nrecv >= w->n;
}

/* Batches from the peer are split into their frames, whatever the grouping: control and
 * data frames mixed, many frames per message; delivered in order and acknowledged. */
static void test_batch_split(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		size_t groups[6];	/* DATA frames per message, 0-terminated */
	} cases[] = {
		{"one per message", {1, 1, 1, 1, 1}},
		{"all in one", {40}},
		{"uneven", {3, 1, 7, 2, 64, 5}},
	};
	struct rig *g = rig_new();
	struct side *s = &g->side;
	uint64_t seq = 1;
	size_t total = 0;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (size_t k = 0; k < 6 && cases[c].groups[k]; k++) {
			nng_msg *m = batch_new();
			for (size_t i = 0; i < cases[c].groups[k]; i++, seq++)
				batch_add_data(m, seq, (uint32_t)seq);
			/* a bare ACK of nothing and a duplicate ride along */
			batch_add(m, F_ACK, 0, 0, NULL, 0);
			batch_add_data(m, seq - 1, (uint32_t)(seq - 1));
			assert_int_equal(nng_sendmsg(g->raw, m, 0), 0);
			total += cases[c].groups[k];
		}
		struct want_ctx w = {s, total};
		run_until(got_n, &w, 0, cases[c].name);
	}
	run_until(NULL, NULL, 0.05, NULL);
	assert_int_equal(s->nrecv, total);
	assert_int_equal(s->bad_env, 0);
	for (size_t i = 0; i < total; i++) {
		assert_int_equal(s->sids[i], i + 1);
		assert_int_equal(s->seqs[i], i + 1);
	}
	struct link_stats st = link_stats(s->l);
	assert_int_equal(st.frames_recv, total);
	assert_int_equal(st.frames_dup, 5 + 1 + 6);	/* one per message */
	assert_int_equal(st.frames_bad, 0);
	/* the link acknowledged everything, with few ACKs */
	size_t per[MAX_MSGS];
	uint64_t first = 0, ack = 0;
	raw_collect(g, 0, total, per, &first, &ack);
	assert_int_equal(ack, total);
	assert_true(st.acks_sent <= 14);
	rig_free(g);
}

/* A batch whose framing is wrong is dropped whole and counted once in frames_bad, even when
 * it starts with good frames; the link goes on with the next batch. */
static void test_batch_malformed(void **state)
{
	(void)state;
	enum { TRUNC_LEN, BEYOND, ZERO_LEN, SHORT_LEN, MAGIC_ONLY, EMPTY, BAD_MAGIC, TAIL_BYTES };
	static const struct {
		const char *name;
		int kind;
	} cases[] = {
		{"truncated length", TRUNC_LEN},
		{"length beyond the message", BEYOND},
		{"zero length", ZERO_LEN},
		{"length shorter than a frame header", SHORT_LEN},
		{"magic without frames", MAGIC_ONLY},
		{"empty message", EMPTY},
		{"wrong magic", BAD_MAGIC},
		{"stray bytes after the last frame", TAIL_BYTES},
	};
	size_t ncases = sizeof(cases) / sizeof(cases[0]);
	struct rig *g = rig_new();
	struct side *s = &g->side;
	static const uint8_t junk[64];
	for (size_t c = 0; c < ncases; c++) {
		nng_msg *m;
		if (cases[c].kind == EMPTY) {
			assert_int_equal(nng_msg_alloc(&m, 0), 0);
		} else if (cases[c].kind == BAD_MAGIC) {
			assert_int_equal(nng_msg_alloc(&m, 0), 0);
			assert_int_equal(nng_msg_append_u32(m, 0x584C4B31u), 0);
			batch_add_data(m, 1, 1);
		} else {
			m = batch_new();
			if (cases[c].kind != MAGIC_ONLY)
				batch_add_data(m, 1, 1);	/* good, yet never delivered */
		}
		switch (cases[c].kind) {
		case TRUNC_LEN:
			assert_int_equal(nng_msg_append(m, junk, 2), 0);
			break;
		case BEYOND:
			assert_int_equal(nng_msg_append_u32(m, 1000), 0);
			assert_int_equal(nng_msg_append(m, junk, 30), 0);
			break;
		case ZERO_LEN:
			assert_int_equal(nng_msg_append_u32(m, 0), 0);
			break;
		case SHORT_LEN:
			assert_int_equal(nng_msg_append_u32(m, FHDR - 1), 0);
			assert_int_equal(nng_msg_append(m, junk, FHDR - 1), 0);
			break;
		case TAIL_BYTES:
			assert_int_equal(nng_msg_append(m, junk, 1), 0);
			break;
		default:
			break;
		}
		assert_int_equal(nng_sendmsg(g->raw, m, 0), 0);
	}
	/* then a good batch: seq 1 was never consumed by the malformed ones */
	nng_msg *m = batch_new();
	batch_add_data(m, 1, 77);
	batch_add_data(m, 2, 78);
	assert_int_equal(nng_sendmsg(g->raw, m, 0), 0);
	struct want_ctx w = {s, 2};
	run_until(got_n, &w, 0, "the good batch after the malformed ones");
	run_until(NULL, NULL, 0.05, NULL);
	assert_int_equal(s->nrecv, 2);
	assert_int_equal(s->sids[0], 77);
	assert_int_equal(s->sids[1], 78);
	struct link_stats st = link_stats(s->l);
	if (st.frames_bad != ncases)
		fail_msg("frames_bad %llu, want %zu", (unsigned long long)st.frames_bad, ncases);
	assert_int_equal(st.frames_recv, 2);
	assert_int_equal(st.frames_dup, 0);
	rig_free(g);
}

/* What link_send queued is handed to NNG when the link is closed before the loop ran, as
 * when a worker sends its last envelopes on the way out. */
static void test_close_sends_batch(void **state)
{
	(void)state;
	struct rig *g = rig_new();
	struct buf b;
	buf_init(&b);
	for (uint32_t i = 0; i < 3; i++) {
		make_env(&b, i, 100);
		assert_int_equal(link_send(g->side.l, b.data, b.len, NULL), 0);
	}
	buf_free(&b);
	link_close(g->side.l);
	g->side.l = NULL;
	size_t per[MAX_MSGS];
	uint64_t first = 0, ack = 0;
	size_t nmsg = raw_collect(g, 3, 0, per, &first, &ack);
	assert_int_equal(nmsg, 1);
	assert_int_equal(per[0], 3);
	assert_int_equal(first, 1);
	rig_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batch_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_sends_batch, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
