/* The c2s side of the stanza link to the router: envelopes out (stanzas, routes, SASL steps),
 * envelopes in (stanzas for our sessions, SASL replies), ROUTE_SYNC when a new router appears,
 * and back-pressure: when the link's window is full, client reads pause; nothing is dropped. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "log.h"
#include "route.h"
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
	if (!bad)
		(void)c2s_rl_send(kind, XE_ST_NONE, c->sid, 0, c->jid, "", body.data, body.len);
	buf_free(&body);
}

void c2s_rl_bind(struct c2s_conn *c) { route_msg(c, XE_ROUTE_BIND, 0); }
void c2s_rl_unbind(struct c2s_conn *c) { route_msg(c, XE_ROUTE_UNBIND, 0); }

static void deliver(const struct xe_msg *m)
{
	struct c2s_conn *c = c2s_sess_by_sid(m->sid);
	if (!c || !c->bound || c->closing) {
		env->cnt.unknown_sid++;
		log_debug("stanza for an unknown session dropped", "sid=%llu", (unsigned long long)m->sid);
		return;
	}
	if (c->component)
		(void)c2s_comp_deliver(c, m->body, m->body_len);
	else
		(void)c2s_conn_send(c, m->body, m->body_len);
}

/* The router gave a component's or a session's route to a newer binding on another worker. */
static void route_gone(const struct xe_msg *m)
{
	struct c2s_conn *c = c2s_sess_by_sid(m->sid);
	if (!c || !c->bound || c->closing || strlen(c->jid) != m->from_len ||
	    memcmp(c->jid, m->from, m->from_len) != 0) {
		env->cnt.dropped_kind++;
		return;
	}
	if (c->component)
		log_info("component replaced by a connection elsewhere", "component=%s", c->jid);
	else
		log_info("session replaced by a newer binding elsewhere", "sid=%llu", (unsigned long long)c->sid);
	c2s_stream_error(c, "conflict");
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
	case XE_ERROR:
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
	size_t n = 0;
	for (struct c2s_conn *c = env->conns; c; c = c->next) {
		if (c->bound && !c->closing) {
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
