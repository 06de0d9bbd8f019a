/* The c2s side of the stanza link to the router: envelopes out (stanzas, routes, SASL steps),
 * envelopes in (stanzas for our sessions, SASL replies, answers to binds), ROUTE_SYNC when a new
 * router appears, and back-pressure: when the link's window is full, client reads pause;
 * nothing is dropped. A bind completes only on the router's answer, never on our own say-so.
 * Client stanzas go out numbered (reqid), and one a new router delivers again is dropped (seen.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "log.h"
#include "route.h"
#include "seen.h"
#include "sstate.h"
#include "tlv.h"
#include "xe.h"

static int encode(struct buf *out, uint8_t kind, uint8_t stype, uint64_t sid, uint32_t reqid,
		  const char *from, const char *to, const void *body, size_t len)
{
	struct xe_msg m = {
		.version = XE_VERSION, .kind = kind, .stype = stype, .sid = sid, .reqid = reqid,
		.from = from, .from_len = (uint16_t)strlen(from), .to = to,
		.to_len = (uint16_t)strlen(to), .body = body, .body_len = (uint32_t)len,
	};
	if (strlen(from) > XE_MAX_JID || strlen(to) > XE_MAX_JID || len > XE_MAX_BODY) {
		errno = EMSGSIZE;
		return -1;
	}
	return xe_encode(out, &m);
}

static int backlog_push(const uint8_t *p, size_t n)
{
	if (buf_put_u32(&env->backlog, (uint32_t)n) < 0 || buf_put(&env->backlog, p, n) < 0)
		return -1;
	c2s_conn_pause_all();
	return 0;
}

/* Sends what waited for the window, in order; resumes client reads once all went out. */
static void backlog_drain(void)
{
	size_t off = 0;
	while (off < env->backlog.len) {
		const uint8_t *h = env->backlog.data + off;
		uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
		if (link_send(env->link, h + 4, n, NULL) < 0) {
			if (errno == ENOBUFS)
				break;
			env->cnt.send_errors++;
			log_err("router link send failed", "errno=%d", errno);
		}
		off += 4 + (size_t)n;
	}
	buf_consume(&env->backlog, off);
	if (env->backlog.len == 0) {
		buf_free(&env->backlog);
		c2s_conn_resume_all();
	}
}

int c2s_rl_send(uint8_t kind, uint8_t stype, uint64_t sid, uint32_t reqid, const char *from,
		const char *to, const void *body, size_t len)
{
	buf_reset(&env->scratch);
	if (kind == XE_STANZA && reqid == 0)
		reqid = c2s_seen_next_no();	/* kept in the link: a replay carries the same number */
	if (encode(&env->scratch, kind, stype, sid, reqid, from, to, body, len) < 0) {
		log_warn("envelope not encodable", "kind=%s errno=%d", xe_kind_name(kind), errno);
		return -1;
	}
	if (env->backlog.len > 0)
		return backlog_push(env->scratch.data, env->scratch.len);
	if (link_send(env->link, env->scratch.data, env->scratch.len, NULL) == 0)
		return 0;
	if (errno == ENOBUFS)
		return backlog_push(env->scratch.data, env->scratch.len);
	log_err("router link send failed", "kind=%s errno=%d", xe_kind_name(kind), errno);
	return -1;
}

static void route_msg(struct c2s_conn *c, uint8_t kind, int with_presence)
{
	struct buf body;
	buf_init(&body);
	int bad = kind != XE_ROUTE_UNBIND && tlv_put_u32(&body, RT_PRIORITY, (uint32_t)c->priority) < 0;
	if (!bad && with_presence && c->presence)
		bad = tlv_put_str(&body, RT_PRESENCE, c->presence) < 0;
	if (!bad && with_presence && c->state.len)	/* the state records, as the router left them */
		bad = buf_put(&body, c->state.data, c->state.len) < 0;
	if (!bad)
		(void)c2s_rl_send(kind, XE_ST_NONE, c->sid, 0, c->jid, "", body.data, body.len);
	buf_free(&body);
}

void c2s_rl_unbind(struct c2s_conn *c) { route_msg(c, XE_ROUTE_UNBIND, 0); }

/* ROUTE_BIND under a fresh request id owned by c. Until the router answers, c->bind_wait holds
 * and c->timer gives it as long as a client has to authenticate; a router restart meanwhile
 * gets the BIND again (the link replays what the old router did not acknowledge). */
int c2s_rl_bind(struct c2s_conn *c)
{
	struct buf body;
	buf_init(&body);
	c2s_sess_req_remove(c);
	if (++env->next_reqid == 0)
		env->next_reqid = 1;
	uint32_t reqid = env->next_reqid;
	int refuse = c->vh && c->vh->refuse_conflict;
	int rc = tlv_put_u32(&body, RT_PRIORITY, (uint32_t)c->priority) < 0 ||
			 tlv_put_u32(&body, RT_CONFLICT, refuse ? 1u : 0u) < 0
		 ? -1
		 : c2s_rl_send(XE_ROUTE_BIND, XE_ST_NONE, c->sid, reqid, c->jid, "", body.data, body.len);
	buf_free(&body);
	if (rc < 0)
		return -1;
	c->reqid = reqid;
	c2s_sess_req_add(c);
	c->bind_wait = 1;
	ev_timer_stop(env->loop, &c->timer);
	ev_timer_set(&c->timer, (double)env->unauth_timeout, 0.);
	ev_timer_start(env->loop, &c->timer);
	return 0;
}

/* The conditions a router may give for a refused bind; anything else reads as the last. */
static const char *const bind_conds[] = {"conflict", "not-allowed", "bad-request", "internal-server-error"};

static const char *bind_condition(const struct xe_msg *m)
{
	struct tlv t;
	size_t n = sizeof(bind_conds) / sizeof(bind_conds[0]);
	if (tlv_find(m->body, m->body_len, RT_CONDITION, &t) == 1)
		for (size_t i = 0; i < n; i++)
			if (strlen(bind_conds[i]) == t.len && memcmp(bind_conds[i], t.val, t.len) == 0)
				return bind_conds[i];
	return bind_conds[n - 1];
}

/* The router's answer to a ROUTE_BIND (refused: an XE_ERROR); 0 when reqid names no bind. */
static int bind_answer(const struct xe_msg *m, int refused)
{
	struct c2s_conn *c = c2s_sess_by_reqid(m->reqid);
	if (!c || !c->bind_wait || c->sid != m->sid)
		return 0;
	c2s_sess_req_remove(c);
	c->bind_wait = 0;
	const char *cond = refused ? bind_condition(m) : NULL;
	if (c->component)
		c2s_comp_bound(c, cond);
	else
		c2s_stanza_bound(c, cond);
	return 1;
}

static void deliver(const struct xe_msg *m)
{
	struct c2s_conn *c = c2s_sess_by_sid(m->sid);
	if (!c || !c->bound || c->closing) {
		env->cnt.unknown_sid++;
		log_debug("stanza for an unknown session dropped", "sid=%llu", (unsigned long long)m->sid);
		return;
	}
	if (c2s_seen_check(m->sid, m->from, m->from_len, m->reqid)) {
		log_debug("stanza delivered before the router restarted dropped", "sid=%llu no=%u",
			  (unsigned long long)m->sid, m->reqid);
		return;
	}
	if (c->component)
		(void)c2s_comp_deliver(c, m->body, m->body_len);
	else
		(void)c2s_conn_send(c, m->body, m->body_len);
}

/* The bound session m names (sid and full JID), or NULL. */
static struct c2s_conn *session_of(const struct xe_msg *m)
{
	struct c2s_conn *c = c2s_sess_by_sid(m->sid);
	if (!c || !c->bound || c->closing || strlen(c->jid) != m->from_len ||
	    memcmp(c->jid, m->from, m->from_len) != 0)
		return NULL;
	return c;
}

/* Stream errors the router may close a client session with (it names one, we write it). */
static const char *const router_conditions[] = {"not-authorized", "conflict", "policy-violation",
						"system-shutdown", NULL};

/* The router ended a session: its route went to a newer binding (maybe on another instance:
 * conflict), or the account was deleted (RT_CONDITION names the stream error). */
static void route_gone(const struct xe_msg *m)
{
	struct c2s_conn *c = session_of(m);
	struct tlv t;
	const char *cond = "conflict";
	int replaced = 1;	/* no condition named: the route went to a newer binding */
	if (c && !c->component && tlv_find(m->body, m->body_len, RT_CONDITION, &t) == 1) {
		cond = NULL;
		replaced = 0;
		for (const char *const *k = router_conditions; *k && !cond; k++)
			if (strlen(*k) == t.len && memcmp(*k, t.val, t.len) == 0)
				cond = *k;
	}
	if (!c || !cond) {
		env->cnt.dropped_kind++;
		return;
	}
	if (c->component)
		log_info("component replaced by a connection elsewhere", "component=%s", c->jid);
	else if (!replaced)
		log_info("session ended by the router", "sid=%llu jid=%s condition=%s",
			 (unsigned long long)c->sid, c->jid, cond);
	else
		log_info("session replaced by a bind elsewhere", "sid=%llu jid=%s", (unsigned long long)c->sid,
			 c->jid);
	c2s_stream_error(c, cond);
}

/* State the router keeps with a session across its restarts (ipc/route.h). */
static void state_update(const struct xe_msg *m)
{
	struct c2s_conn *c = session_of(m);
	if (!c || c->component || sst_apply(&c->state, m->body, m->body_len) < 0) {
		env->cnt.dropped_kind++;
		log_debug("session state update dropped", "sid=%llu", (unsigned long long)m->sid);
	}
}

static void rl_recv(void *arg, struct link *l, uint64_t seq, const uint8_t *p, size_t len)
{
	(void)arg, (void)l, (void)seq;
	struct xe_msg m;
	int r = xe_decode(p, len, &m);
	if (r != XE_OK) {
		env->cnt.bad_envelope++;
		log_warn("malformed envelope from router dropped", "error=\"%s\"", xe_strerror(r));
		return;
	}
	switch (m.kind) {
	case XE_STANZA:
		deliver(&m);
		break;
	case XE_AUTH_REP:
		c2s_auth_reply(m.reqid, 0, m.body, m.body_len);
		break;
	case XE_ROUTE_UNBIND:
		route_gone(&m);
		break;
	case XE_ROUTE_SYNC:
		state_update(&m);
		break;
	case XE_ROUTE_BIND:
		if (!bind_answer(&m, 0))
			env->cnt.stale_auth++;	/* its stream ended while the router bound it */
		break;
	case XE_HOST_CAPS:
		if (c2s_caps_set(m.from, m.from_len, m.body, m.body_len) < 0)
			env->cnt.bad_envelope++;
		break;
	case XE_ERROR:
		if (m.reqid && bind_answer(&m, 1))
			break;
		if (m.reqid)
			c2s_auth_reply(m.reqid, 1, m.body, m.body_len);
		else
			env->cnt.dropped_kind++;
		break;
	default:
		env->cnt.dropped_kind++;
		log_debug("unexpected envelope kind dropped", "kind=%s", xe_kind_name(m.kind));
		break;
	}
}

static void rl_event(void *arg, struct link *l, int ev)
{
	(void)arg, (void)l;
	if (ev == LINK_PEER_DOWN) {
		log_notice("router link down", "unacked=%zu", link_unacked(env->link));
		return;
	}
	if (ev != LINK_PEER_NEW)
		return;
	c2s_caps_clear();
	size_t n = 0;
	for (struct c2s_conn *c = env->conns; c; c = c->next) {
		if (c->bound && !c->closing && !c->bind_wait) {	/* a waiting BIND is replayed */
			route_msg(c, XE_ROUTE_SYNC, 1);
			n++;
		}
	}
	log_info("router up, sessions synchronised", "sessions=%zu epoch=%llu", n,
		 (unsigned long long)link_peer_epoch(env->link));
}

static void rl_acked(void *arg, struct link *l, uint64_t upto)
{
	(void)arg, (void)l, (void)upto;
	if (env->backlog.len > 0)
		backlog_drain();
}

static const struct link_ops rl_ops = {.recv = rl_recv, .event = rl_event, .acked = rl_acked};

int c2s_rl_start(void)
{
	char name[64], url[PATH_MAX + 16];
	snprintf(name, sizeof(name), "%s.%u.sock", env->boot.role, env->boot.instance);
	wrk_ipc_url(&env->boot, name, url, sizeof(url));
	struct link_opts o = {.replay = 1, .auto_ack = 1};
	env->link = link_dial(env->loop, url, &o, &rl_ops, NULL);
	if (!env->link)
		return -1;
	log_info("router link dialled", "url=%s", url);
	return 0;
}
