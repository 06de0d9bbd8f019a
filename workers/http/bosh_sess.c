/* BOSH sessions (XEP-0124/0206) on the shared stream engine: the session table, held requests
 * answered with queued output or empty after `wait`, the rid window with out-of-order requests
 * kept and replays answered from a cache trimmed by the client's acks, inactivity and pauses,
 * restarts and terminate. A session created over TLS never answers a request that is not. A
 * session is one engine stream; it never parses a stanza itself. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bosh.h"
#include "c2s.h"
#include "log.h"

#define BOSH_BUCKETS 1024u

struct bosh_cached {
	uint64_t rid;			/* 0 = empty */
	struct buf body;
	double sent;			/* ev_now when it was answered */
	unsigned reported : 1;		/* named in a report attribute already (§9.2) */
};

struct bosh_sess {
	struct bosh_sess *next;		/* hash chain */
	char sid[BOSH_SID_HEX + 1];
	struct c2s_conn *xs;		/* the engine's stream */
	uint64_t rid;			/* the last request processed in order */
	unsigned wait, hold, requests;
	unsigned inactivity_secs;	/* seconds, as advertised at creation */
	unsigned pause;			/* seconds of the pause asked for (§10), 0 = none */
	int ack;			/* the client asked for acks */
	uint64_t client_ack;		/* the highest rid the client said it has the answer of */
	double client_ack_at;		/* when the request carrying its latest ack came */
	struct bosh_req reqs[BOSH_REQUESTS_MAX];
	struct bosh_cached cache[BOSH_REQUESTS_MAX];
	struct buf out;			/* elements for the client, not yet in a response */
	struct buf in;			/* payload waiting while the stream is held */
	ev_timer inactivity;		/* no request held: the session ends when it fires */
	unsigned ended : 1, stream_error : 1, freeing : 1;
	unsigned secure : 1;		/* created over TLS: only secure requests are answered */
	const char *end_cond;		/* the terminal condition of a session we end, NULL = none */
};

/* The session table hangs off the worker conceptually; kept here like c2s's session tables. */
static struct bosh_sess *table[BOSH_BUCKETS];
static size_t nsessions;

static unsigned sid_hash(const char *sid)
{
	uint32_t h = 2166136261u;
	for (; *sid; sid++)
		h = (h ^ (uint8_t)*sid) * 16777619u;
	return h & (BOSH_BUCKETS - 1);
}

static struct bosh_sess *sess_find(const char *sid)
{
	for (struct bosh_sess *s = table[sid_hash(sid)]; s; s = s->next)
		if (strcmp(s->sid, sid) == 0)
			return s;
	return NULL;
}

size_t bosh_sess_count(void) { return nsessions; }

static void sess_free(struct bosh_sess *s)
{
	for (struct bosh_sess **pp = &table[sid_hash(s->sid)]; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	nsessions--;
	ev_timer_stop(env->loop, &s->inactivity);
	for (unsigned i = 0; i < BOSH_REQUESTS_MAX; i++) {
		struct bosh_req *q = &s->reqs[i];
		if (q->hc) {
			q->hc->bosh = NULL;
			http_conn_close_after_flush(q->hc);	/* never answered: the client sees a close */
			http_conn_wake(q->hc);
		}
		ev_timer_stop(env->loop, &q->wait);
		buf_free(&q->body);
		buf_free(&s->cache[i].body);
	}
	if (s->xs) {
		if (!s->xs->closing)
			c2s_conn_end_session(s->xs);
		c2s_conn_teardown(s->xs);
		free(s->xs);
	}
	buf_free(&s->out);
	buf_wipe_free(&s->in);	/* may hold SASL payloads */
	free(s);
}

/* Frees s on the next loop iteration: never inside the engine's callbacks. */
static void sess_free_soon(struct bosh_sess *s)
{
	s->freeing = 1;
	ev_timer_stop(env->loop, &s->inactivity);
	ev_timer_set(&s->inactivity, 0., 0.);
	ev_timer_start(env->loop, &s->inactivity);
}

static void inactivity_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct bosh_sess *s = w->data;
	if (!s->freeing)
		log_info("bosh session inactive, ended", "sid=%s", s->sid);
	sess_free(s);
}

/* ---- answers ---- */

static void cache_put(struct bosh_sess *s, uint64_t rid, const struct buf *body)
{
	struct bosh_cached *c = &s->cache[rid % BOSH_REQUESTS_MAX];
	buf_reset(&c->body);
	c->rid = buf_put(&c->body, body->data, body->len) == 0 ? rid : 0;
	c->sent = ev_now(env->loop);
	c->reported = 0;
}

/* §9.1: the client has the answers up to ack, so they are never replayed: dropped. */
static void cache_trim(struct bosh_sess *s, uint64_t ack)
{
	for (unsigned i = 0; i < BOSH_REQUESTS_MAX; i++) {
		struct bosh_cached *c = &s->cache[i];
		if (c->rid && c->rid <= ack) {
			c->rid = 0;
			buf_free(&c->body);
		}
	}
}

/* §9.2: the oldest answer the client's latest ack says it lacks, though it went out more than
 * BOSH_ACK_GRACE before that ack was sent; NULL when none (or acks were not asked for). */
static struct bosh_cached *cache_unacked(struct bosh_sess *s, uint64_t below)
{
	struct bosh_cached *o = NULL;
	if (!s->ack || !s->client_ack)
		return NULL;
	for (unsigned i = 0; i < BOSH_REQUESTS_MAX; i++) {
		struct bosh_cached *c = &s->cache[i];
		if (c->rid > s->client_ack && c->rid < below && !c->reported &&
		    s->client_ack_at - c->sent >= BOSH_ACK_GRACE && (!o || c->rid < o->rid))
			o = c;
	}
	return o;
}

static void req_release(struct bosh_req *q)
{
	ev_timer_stop(env->loop, &q->wait);
	buf_free(&q->body);
	if (q->hc)
		q->hc->bosh = NULL;
	q->hc = NULL;
	q->processed = q->create = 0;
}

/* The attributes of the session creation response (XEP-0124 §7.1, XEP-0206 §4). */
static int put_create_attrs(struct buf *b, const struct bosh_sess *s, uint64_t rid)
{
	const char *from = s->xs && s->xs->vh ? s->xs->vh->name : "";
	int bad = buf_printf(b, " sid='%s' wait='%u' hold='%u' requests='%u' inactivity='%u' polling='%u'"
			     " maxpause='%u' ver='1.11' xmpp:version='1.0' xmpp:restartlogic='true' secure='%s'"
			     " from='", s->sid, s->wait, s->hold, s->requests, s->inactivity_secs, BOSH_POLLING,
			     BOSH_MAXPAUSE,
			     s->xs && s->xs->tls == C2S_TLS_UP ? "true" : "false") < 0 ||
		  buf_put_xml_escaped(b, from, strlen(from)) < 0 || buf_put_str(b, "'") < 0;
	if (!bad && s->xs && s->xs->stream_id)
		bad = buf_printf(b, " authid='%s'", s->xs->stream_id) < 0;
	if (!bad && s->ack)
		bad = buf_printf(b, " ack='%llu'", (unsigned long long)rid) < 0;
	return bad ? -1 : 0;
}

/* Answers q with payload (NULL: empty); cond non-NULL makes it a terminate. */
static void req_answer(struct bosh_sess *s, struct bosh_req *q, const struct buf *payload, const char *cond)
{
	struct buf b;
	buf_init(&b);
	int bad = buf_put_str(&b, "<body xmlns='" NS_HTTPBIND "' xmlns:xmpp='" NS_XBOSH "' xmlns:stream='"
				  C2S_NS_STREAMS "'") < 0;
	if (!bad && q->create)
		bad = put_create_attrs(&b, s, q->rid) < 0;
	else if (!bad && s->ack && q->rid != s->rid)	/* §9.2: an answer to an older request */
		bad = buf_printf(&b, " ack='%llu'", (unsigned long long)s->rid) < 0;
	struct bosh_cached *lost = !bad && !q->create ? cache_unacked(s, q->rid) : NULL;
	if (lost) {	/* the client resends that rid and gets the cached answer (§14.3) */
		lost->reported = 1;
		bad = buf_printf(&b, " report='%llu' time='%llu'", (unsigned long long)lost->rid,
				 (unsigned long long)((ev_now(env->loop) - lost->sent) * 1000.)) < 0;
	}
	if (!bad && cond)	/* "": the end the client asked for (§12), no condition */
		bad = buf_put_str(&b, " type='terminate'") < 0 ||
		      (cond[0] && buf_printf(&b, " condition='%s'", cond) < 0);
	if (!bad && payload && payload->len)
		bad = buf_put_str(&b, ">") < 0 || buf_put(&b, payload->data, payload->len) < 0 ||
		      buf_put_str(&b, "</body>") < 0;
	else if (!bad)
		bad = buf_put_str(&b, "/>") < 0;
	if (!bad) {
		cache_put(s, q->rid, &b);
		if (q->hc) {
			http_respond(q->hc, &q->req, 200, BOSH_CTYPE, CORS_BOSH, b.data, b.len);
			http_conn_wake(q->hc);
		}
	}
	buf_free(&b);
	req_release(q);
}

/* The processed held request with the lowest rid, or NULL. */
static struct bosh_req *oldest_held(struct bosh_sess *s, unsigned *held)
{
	struct bosh_req *o = NULL;
	*held = 0;
	for (unsigned i = 0; i < BOSH_REQUESTS_MAX; i++) {
		struct bosh_req *q = &s->reqs[i];
		if (!q->hc || !q->processed)
			continue;
		(*held)++;
		if (!o || q->rid < o->rid)
			o = q;
	}
	return o;
}

static unsigned reqs_used(const struct bosh_sess *s)
{
	unsigned n = 0;
	for (unsigned i = 0; i < BOSH_REQUESTS_MAX; i++)
		n += s->reqs[i].hc != NULL;
	return n;
}

/* What the terminate answers of an ended session say: "" is the orderly end (§13). */
static const char *end_condition(const struct bosh_sess *s)
{
	return s->stream_error ? "remote-stream-error" : s->end_cond ? s->end_cond : "";
}

/* Output goes out in the oldest held request; more than `hold` held get empty answers (during a
 * pause, every one); an ended session answers everything with terminate; nothing held starts the
 * inactivity clock, or the pause's. */
static void sess_flush(struct bosh_sess *s)
{
	unsigned held;
	struct bosh_req *q;
	if (s->ended) {
		const char *cond = end_condition(s);
		int answered = 0;
		for (unsigned i = 0; i < BOSH_REQUESTS_MAX; i++) {
			if (!s->reqs[i].hc)
				continue;
			req_answer(s, &s->reqs[i], answered ? NULL : &s->out, cond);
			answered = 1;
		}
		if (answered) {
			buf_free(&s->out);
			if (!s->freeing)
				sess_free_soon(s);
		}
		return;
	}
	if (s->out.len && (q = oldest_held(s, &held)) != NULL) {
		req_answer(s, q, &s->out, NULL);
		buf_free(&s->out);
	}
	while ((q = oldest_held(s, &held)) != NULL && held > (s->pause ? 0 : s->hold))
		req_answer(s, q, NULL, NULL);
	/* started once when the last request goes, not again for output queued while idle: a
	 * session that receives but never asks still ends */
	if (reqs_used(s) == 0 && !s->freeing && !ev_is_active(&s->inactivity)) {
		ev_timer_set(&s->inactivity, (double)(s->pause ? s->pause : s->inactivity_secs), 0.);
		ev_timer_start(env->loop, &s->inactivity);
	}
}

/* ---- the transport ops the engine drives ---- */

static int bosh_send(struct c2s_conn *x, const void *p, size_t n)
{
	struct bosh_sess *s = x->tp;
	if (x->closing || !s || s->ended)
		return -1;
	if (s->out.len + n > env->out_max) {
		log_notice("bosh client does not read, closing", "sid=%s queued=%zu", s->sid, s->out.len);
		c2s_conn_close(x, 0);
		return -1;
	}
	if (http_xmpp_put_standalone(&s->out, p, n) < 0)
		return -1;
	if (n > 13 && memcmp(p, "<stream:error", 13) == 0) {
		s->stream_error = 1;	/* it goes out in the terminate answer the close makes */
		return 0;
	}
	sess_flush(s);
	return 0;
}

static void bosh_close(struct c2s_conn *x, int graceful)
{
	(void)graceful;	/* what is queued goes out in the terminate answer either way */
	struct bosh_sess *s = x->tp;
	if (!x->closing)
		c2s_conn_end_session(x);
	if (!s || s->ended)
		return;
	s->ended = 1;
	log_info("bosh session ended", "sid=%s stream_error=%d", s->sid, s->stream_error);
	sess_flush(s);
	if (!s->freeing) {	/* nothing held: the next request or the inactivity clock gets the rest */
		ev_timer_stop(env->loop, &s->inactivity);
		ev_timer_set(&s->inactivity, (double)s->inactivity_secs, 0.);
		ev_timer_start(env->loop, &s->inactivity);
	}
}

static void sess_feed_waiting(struct bosh_sess *s);

static void bosh_hold(struct c2s_conn *x, int on)
{
	x->held = on ? 1 : 0;
	if (!on && x->tp)
		sess_feed_waiting(x->tp);
}

static void bosh_wake(struct c2s_conn *x)
{
	if (x->tp)
		sess_feed_waiting(x->tp);
}

static int bosh_header(struct c2s_conn *x, const char *from, const char *id)
{
	(void)from;
	free(x->stream_id);	/* the creation response's authid */
	x->stream_id = strdup(id);
	return x->stream_id ? 0 : -1;
}

static int bosh_end(struct c2s_conn *x)
{
	(void)x;
	return 0;	/* the terminate answer ends the stream */
}

/* No channel binding: a session's requests may come on different TLS connections. */
static const struct c2s_conn_ops bosh_ops = {
	.send = bosh_send,
	.close = bosh_close,
	.hold = bosh_hold,
	.wake = bosh_wake,
	.header = bosh_header,
	.end = bosh_end,
	.name = "bosh",
};

/* ---- input to the engine ---- */

static int sess_blocked(const struct bosh_sess *s)
{
	return s->xs->held || s->xs->throttled || env->paused;
}

static void sess_feed(struct bosh_sess *s, const void *p, size_t n)
{
	struct c2s_conn *x = s->xs;
	if (n == 0 || x->closing)
		return;
	if (sess_blocked(s) || s->in.len) {	/* after what waits already, in order */
		if (buf_put(&s->in, p, n) < 0)
			c2s_conn_close(x, 0);
		else if (!sess_blocked(s))
			sess_feed_waiting(s);
		return;
	}
	x->active = 1;
	(void)c2s_lim_rate_take(x, n);	/* over the rate: later payload waits in s->in */
	int r = c2s_xml_feed(x->xml, p, n);
	if (r < 0) {
		log_info("stream error", "sid=%llu reason=\"%s\"", (unsigned long long)x->sid, c2s_xml_strerror(r));
		c2s_stream_error(x, c2s_xml_condition(r));
		return;
	}
	if (r == C2S_XML_STOPPED && !x->closing && x->restart && c2s_stream_restart(x) < 0)
		c2s_conn_close(x, 0);
}

static void sess_feed_waiting(struct bosh_sess *s)
{
	if (!s->in.len || sess_blocked(s) || s->xs->closing)
		return;
	struct buf in = s->in;
	buf_init(&s->in);
	sess_feed(s, in.data, in.len);
	buf_wipe_free(&in);
}

/* A stream header for the engine: at creation, and on xmpp:restart after SASL success. */
static void sess_stream_start(struct bosh_sess *s, const struct bosh_body *b)
{
	struct buf h;
	buf_init(&h);
	int bad = buf_put_str(&h, "<stream:stream xmlns='" C2S_NS_CLIENT "' xmlns:stream='" C2S_NS_STREAMS "' to='") < 0 ||
		  buf_put_xml_escaped(&h, b->to, strlen(b->to)) < 0 || buf_put_str(&h, "'") < 0;
	if (!bad && b->xmpp_version[0])
		bad = buf_put_str(&h, " version='") < 0 ||
		      buf_put_xml_escaped(&h, b->xmpp_version, strlen(b->xmpp_version)) < 0 ||
		      buf_put_str(&h, "'") < 0;
	if (!bad && buf_put_str(&h, ">") == 0)
		sess_feed(s, h.data, h.len);
	else
		c2s_stream_error(s->xs, "internal-server-error");
	buf_free(&h);
}

/* xmpp:restart (XEP-0206 §5): to and the version may be left out; the session knows them. */
static void sess_restart(struct bosh_sess *s, const struct bosh_body *b)
{
	struct bosh_body *h = malloc(sizeof(*h));
	if (!h) {
		c2s_conn_close(s->xs, 0);
		return;
	}
	*h = *b;
	if (!h->to[0] && s->xs->vh)
		snprintf(h->to, sizeof(h->to), "%s", s->xs->vh->name);
	if (!h->xmpp_version[0])
		memcpy(h->xmpp_version, "1.0", 4);
	sess_stream_start(s, h);
	free(h);
}

/* One request in rid order: its payload, a restart or a terminate. */
static void req_process(struct bosh_sess *s, struct bosh_req *q)
{
	const struct bosh_body *b = &q->b;
	s->rid = q->rid;
	q->processed = 1;
	struct buf body = q->body;
	buf_init(&q->body);
	if (b->restart) {
		if (s->xs->hdr_sent)
			c2s_stream_error(s->xs, "invalid-xml");	/* only after SASL success */
		else
			sess_restart(s, b);
	}
	if (!s->ended && b->payload_len)
		sess_feed(s, body.data + b->payload_at, b->payload_len);
	if (!s->ended && b->has_pause && !b->terminate) {
		if (b->pause > BOSH_MAXPAUSE) {	/* §10: longer than we said */
			log_info("bosh pause over maxpause, session ended", "sid=%s pause=%u", s->sid, b->pause);
			s->end_cond = "policy-violation";
			c2s_conn_close(s->xs, 0);
		} else {	/* every held request is answered now; the pause is the inactivity */
			s->pause = b->pause ? b->pause : 1;
		}
	}
	if (!s->ended && b->terminate) {
		log_info("bosh session terminated by the client", "sid=%s", s->sid);
		if (s->xs->hdr_sent)
			sess_feed(s, "</stream:stream>", 16);	/* the engine ends the stream */
		else
			c2s_conn_close(s->xs, 1);
	}
	buf_wipe_free(&body);
}

/* Processes every waiting request whose turn has come. */
static void sess_advance(struct bosh_sess *s)
{
	for (int progress = 1; progress && !s->ended;) {
		progress = 0;
		for (unsigned i = 0; i < BOSH_REQUESTS_MAX && !s->ended; i++) {
			struct bosh_req *q = &s->reqs[i];
			if (q->hc && !q->processed && q->rid == s->rid + 1) {
				req_process(s, q);
				progress = 1;
			}
		}
	}
	sess_flush(s);
}

static void wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct bosh_req *q = w->data;
	struct bosh_sess *s = q->s;
	if (!q->processed) {	/* an earlier request never came */
		log_info("bosh request gap not filled, session ended", "sid=%s", s->sid);
		req_answer(s, q, NULL, "item-not-found");
		c2s_conn_close(s->xs, 0);
		return;
	}
	req_answer(s, q, &s->out, NULL);	/* long-poll over: what there is, often nothing */
	buf_free(&s->out);
	sess_flush(s);
}

/* Takes a slot for the request c carries (body copied when it waits for an earlier rid). */
static struct bosh_req *req_take(struct bosh_sess *s, struct http_conn *c, const struct http_req *r,
				 const uint8_t *body, size_t len, const struct bosh_body *b)
{
	struct bosh_req *q = NULL;
	for (unsigned i = 0; i < BOSH_REQUESTS_MAX && !q; i++)
		if (!s->reqs[i].hc)
			q = &s->reqs[i];
	if (!q || buf_put(&q->body, body, len) < 0)
		return NULL;
	q->hc = c;
	q->s = s;
	q->rid = b->rid;
	q->b = *b;
	q->req = (struct http_req){.method = r->method, .minor = r->minor, .keep_alive = r->keep_alive,
				   .path = "/http-bind", .path_len = 10};
	c->bosh = q;
	ev_timer_init(&q->wait, wait_cb, (double)s->wait, 0.);
	q->wait.data = q;
	ev_timer_start(env->loop, &q->wait);
	ev_timer_stop(env->loop, &s->inactivity);
	s->pause = 0;	/* a request ends a pause */
	return q;
}

/* ---- requests ---- */

static void random_sid(char out[BOSH_SID_HEX + 1])
{
	uint8_t rnd[BOSH_SID_HEX / 2];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));	/* never reached after the DRBG was seeded at start */
	for (size_t i = 0; i < sizeof(rnd); i++) {
		out[2 * i] = "0123456789abcdef"[rnd[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[rnd[i] & 15];
	}
	out[BOSH_SID_HEX] = 0;
}

static void inactivity_timer_init(struct bosh_sess *s)
{
	ev_init(&s->inactivity, inactivity_cb);
	s->inactivity.data = s;
}

static int legacy_of(const struct bosh_body *b)
{
	return !b->has_ver || b->ver_major < 1 || (b->ver_major == 1 && b->ver_minor < 6);
}

/* The engine's own clock of the stream: the unauthenticated timeout, then XEP-0199 pings. */
static void stream_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct c2s_conn *x = w->data;
	if (!x->closing)
		c2s_conn_idle(x);
}

void bosh_sess_create(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len,
		      const struct bosh_body *b)
{
	if (!c2s_vhost_find(b->to)) {
		bosh_refuse(c, r, legacy_of(b), "host-unknown");
		return;
	}
	struct bosh_sess *s = nsessions < BOSH_SESSIONS_MAX ? calloc(1, sizeof(*s)) : NULL;
	struct c2s_conn *x = s ? calloc(1, sizeof(*x)) : NULL;
	if (!x || c2s_conn_setup(x, &bosh_ops, s, stream_timer_cb) < 0) {
		free(x);
		free(s);
		bosh_refuse(c, r, legacy_of(b), "remote-connection-failed");
		return;
	}
	s->xs = x;
	random_sid(s->sid);
	inactivity_timer_init(s);
	s->next = table[sid_hash(s->sid)];
	table[sid_hash(s->sid)] = s;
	nsessions++;
	s->wait = !b->has_wait || b->wait > BOSH_WAIT_MAX ? BOSH_WAIT_MAX : b->wait;
	s->hold = !b->has_hold ? 1 : b->hold > BOSH_HOLD_MAX ? BOSH_HOLD_MAX : b->hold;
	s->requests = s->hold + 1;
	s->ack = b->has_ack;
	s->rid = b->rid - 1;
	s->inactivity_secs = henv->conf.bosh_inactivity;
	s->secure = c->secure;
	memcpy(x->addr, c->client, sizeof(x->addr));
	x->tls = c->secure ? C2S_TLS_UP : C2S_TLS_NONE;
	log_info("bosh session", "sid=%s stream=%llu ip=%s secure=%d wait=%u hold=%u", s->sid,
		 (unsigned long long)x->sid, c->ip, c->secure, s->wait, s->hold);
	struct bosh_req *q = req_take(s, c, r, body, len, b);
	if (!q) {
		sess_free(s);
		bosh_refuse(c, r, legacy_of(b), "remote-connection-failed");
		return;
	}
	q->create = 1;
	if (c2s_lim_addr_acquire(x) < 0) {
		log_notice("too many unauthenticated streams from one address", "ip=%s", c->ip);
		s->ended = 1;
		req_answer(s, q, NULL, "policy-violation");
		c2s_conn_close(x, 0);
		sess_free_soon(s);
		return;
	}
	q->processed = 1;
	s->rid = q->rid;
	sess_stream_start(s, b);	/* the engine answers with the features, into this request */
	if (!s->ended && b->payload_len)
		sess_feed(s, body + b->payload_at, b->payload_len);
	sess_advance(s);
}

/* A replayed rid gets the answer it had (§14.3), if still cached. */
static int replay(struct bosh_sess *s, struct http_conn *c, const struct http_req *r, uint64_t rid)
{
	const struct bosh_cached *k = &s->cache[rid % BOSH_REQUESTS_MAX];
	if (k->rid != rid || !k->body.len)
		return -1;
	log_info("bosh request replayed", "sid=%s rid=%llu", s->sid, (unsigned long long)rid);
	http_respond(c, r, 200, BOSH_CTYPE, CORS_BOSH, k->body.data, k->body.len);
	return 0;
}

static void sess_kill(struct bosh_sess *s, struct http_conn *c, const struct http_req *r, const char *cond)
{
	log_info("bosh session ended by a bad request", "sid=%s condition=%s", s->sid, cond);
	bosh_refuse(c, r, 0, cond);
	s->ended = 1;
	if (s->xs && !s->xs->closing)
		c2s_conn_close(s->xs, 0);
	sess_flush(s);
	sess_free_soon(s);
}

void bosh_sess_request(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len,
		       const struct bosh_body *b)
{
	struct bosh_sess *s = sess_find(b->sid);
	if (!s || s->freeing) {
		bosh_refuse(c, r, legacy_of(b), "item-not-found");
		return;
	}
	if (s->secure && !c->secure) {
		/* Not a terminate: that would let whoever sees the sid in clear end the session. The
		 * session is untouched and the request not processed: no rid, no payload, no cache. */
		log_notice("bosh request for a secure session over plain http refused", "sid=%s ip=%s",
			   s->sid, c->ip);
		http_error(c, r, 403, CORS_BOSH);
		return;
	}
	if (b->rid <= s->rid) {
		if (replay(s, c, r, b->rid) < 0)
			sess_kill(s, c, r, "item-not-found");
		return;
	}
	if (s->ended) {	/* what the stream said last, then the end */
		struct bosh_req *q = req_take(s, c, r, body, len, b);
		if (q)
			req_answer(s, q, &s->out, end_condition(s));
		else
			bosh_refuse(c, r, 0, "other-request");
		buf_free(&s->out);
		sess_free_soon(s);
		return;
	}
	if (b->rid > s->rid + s->requests) {
		sess_kill(s, c, r, "item-not-found");	/* outside the window (§14.3) */
		return;
	}
	for (unsigned i = 0; i < BOSH_REQUESTS_MAX; i++)
		if (s->reqs[i].hc && s->reqs[i].rid == b->rid) {
			sess_kill(s, c, r, "item-not-found");	/* the same rid twice at once */
			return;
		}
	if (reqs_used(s) >= s->requests) {
		sess_kill(s, c, r, "policy-violation");	/* more than `requests` at once (§11) */
		return;
	}
	if (b->has_ack && b->ack_ok && b->ack < b->rid) {
		if (b->ack >= s->client_ack) {
			s->client_ack = b->ack;
			s->client_ack_at = ev_now(env->loop);
		}
		cache_trim(s, b->ack);
	}
	if (!req_take(s, c, r, body, len, b)) {
		sess_kill(s, c, r, "internal-server-error");
		return;
	}
	sess_advance(s);
}

void bosh_sess_conn_gone(struct http_conn *c)
{
	struct bosh_req *q = c->bosh;
	if (!q)
		return;
	struct bosh_sess *s = q->s;
	q->hc = NULL;	/* its answer has nowhere to go; what it carried was processed or is lost */
	c->bosh = NULL;
	req_release(q);
	if (!s->freeing)
		sess_flush(s);
}

void bosh_sess_shutdown(void)
{
	for (unsigned i = 0; i < BOSH_BUCKETS; i++)
		for (struct bosh_sess *s = table[i]; s; s = s->next)
			if (s->xs && !s->xs->closing)
				c2s_stream_error(s->xs, "system-shutdown");
}
