/* Stanza delivery, RFC 6121 §8.5 for the walking skeleton: full JIDs are forwarded from the
 * envelope header alone; bare JIDs go to the highest-priority available resources; the router
 * parses XML only where a rule must read it (presence priority, message type, error replies). */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "route.h"
#include "rtr.h"
#include "tlv.h"
#include "xnode.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

struct jid_parts {
	const char *node, *domain, *resource;
	size_t node_len, domain_len, resource_len;
	size_t bare_len;	/* node@domain, or domain */
};

static int jid_split(const char *j, size_t len, struct jid_parts *p)
{
	memset(p, 0, sizeof(*p));
	const char *slash = memchr(j, '/', len);
	size_t blen = slash ? (size_t)(slash - j) : len;
	const char *at = memchr(j, '@', blen);
	if (at) {
		p->node = j;
		p->node_len = (size_t)(at - j);
		p->domain = at + 1;
		p->domain_len = blen - p->node_len - 1;
	} else {
		p->domain = j;
		p->domain_len = blen;
	}
	if (slash) {
		p->resource = slash + 1;
		p->resource_len = len - blen - 1;
	}
	p->bare_len = blen;
	if (!p->domain_len || (at && !p->node_len) || (slash && !p->resource_len))
		return -1;
	return 0;
}

static void forward(const struct rtr_session *to, const struct xe_msg *m)
{
	struct xe_msg out = *m;
	out.hops = (uint8_t)(m->hops + 1);
	rtr_send_to_session(to, &out);
}

/* Sends an error reply for m back to its sender s (never an error for an error). */
static void bounce(const struct rtr_session *s, const struct xe_msg *m, const char *type, const char *cond)
{
	struct xnode *x = xnode_parse((const char *)m->body, m->body_len);
	if (!x)
		return;
	const char *t = xnode_attr(x, "type");
	if (t && strcmp(t, "error") == 0) {
		xnode_free(x);
		return;
	}
	char *from = m->to_len ? strndup(m->to, m->to_len) : NULL;
	xnode_set_attr(x, "from", from);
	xnode_set_attr(x, "to", s->full);
	xnode_set_attr(x, "type", "error");
	struct xnode *e = xnode_new("error"), *c = xnode_new(cond);
	if (e && c) {
		xnode_set_attr(e, "type", type);
		xnode_set_attr(c, "xmlns", NS_STANZAS);
		xnode_append_take(e, c);
		xnode_append_take(x, e);
		struct buf body;
		buf_init(&body);
		if (xnode_serialize(x, &body) == 0) {
			struct xe_msg out = {.version = XE_VERSION, .kind = XE_STANZA, .stype = m->stype,
					     .flags = XE_F_FROM_SERVER, .from = from, .from_len = (uint16_t)m->to_len,
					     .to = s->full, .to_len = (uint16_t)strlen(s->full),
					     .body = body.data, .body_len = (uint32_t)body.len};
			rtr_send_to_session(s, &out);
		}
		buf_free(&body);
	} else {
		xnode_free(e);
		xnode_free(c);
	}
	xnode_free(x);
	free(from);
}

static int stanza_type_is(const struct xe_msg *m, const char *want, int absent_matches)
{
	struct xnode *x = xnode_parse((const char *)m->body, m->body_len);
	if (!x)
		return 0;
	const char *t = xnode_attr(x, "type");
	int r = t ? strcmp(t, want) == 0 : absent_matches;
	xnode_free(x);
	return r;
}

static char *message_type(const struct xe_msg *m)
{
	struct xnode *x = xnode_parse((const char *)m->body, m->body_len);
	if (!x)
		return NULL;
	const char *t = xnode_attr(x, "type");
	char *r = strdup(t ? t : "normal");
	xnode_free(x);
	return r;
}

/* RFC 6121 §8.5.2: a message to a bare JID of a local account. */
static void deliver_bare_message(const struct rtr_session *from, const struct xe_msg *m, const char *bare,
				 size_t blen)
{
	char *type = message_type(m);
	if (!type)
		return;
	struct rtr_user *u = rtr_user_find(bare, blen);
	int top = -129, n = 0;
	for (struct rtr_session *s = u ? u->sessions : NULL; s; s = s->next_in_user)
		if (s->available && s->priority >= 0 && s->priority > top)
			top = s->priority;
	if (strcmp(type, "groupchat") != 0 && strcmp(type, "error") != 0) {
		for (struct rtr_session *s = u ? u->sessions : NULL; s; s = s->next_in_user) {
			if (s->available && s->priority == top) {
				forward(s, m);
				n++;
			}
		}
	}
	/* nothing to deliver to and no offline storage yet: the sender learns it */
	if (!n && from && strcmp(type, "headline") != 0 && strcmp(type, "error") != 0)
		bounce(from, m, "cancel", "service-unavailable");
	free(type);
}

static void broadcast_to_available(const struct xe_msg *m, const char *bare, size_t blen)
{
	struct rtr_user *u = rtr_user_find(bare, blen);
	for (struct rtr_session *s = u ? u->sessions : NULL; s; s = s->next_in_user)
		if (s->available)
			forward(s, m);
}

static void presence_update(struct rtr_session *s, const uint8_t *xml, size_t len)
{
	struct xnode *x = xnode_parse((const char *)xml, len);
	if (!x)
		return;
	const char *t = xnode_attr(x, "type");
	if (!t) {
		struct xnode *p = xnode_child(x, "priority");
		long prio = p && p->text ? strtol(p->text, NULL, 10) : 0;
		s->priority = prio < -128 ? -128 : prio > 127 ? 127 : (int)prio;
		s->available = 1;
	} else if (strcmp(t, "unavailable") == 0) {
		s->available = 0;
	}
	xnode_free(x);
}

static void own_presence(struct rtr_session *s, const struct xe_msg *m)
{
	presence_update(s, m->body, m->body_len);
	/* RFC 6121 §4.2.2: the user's own available resources learn of it */
	const char *slash = strchr(s->full, '/');
	broadcast_to_available(m, s->full, (size_t)(slash - s->full));
}

static void to_server(struct rtr_session *s, const struct xe_msg *m)
{
	if (m->stype == XE_ST_IQ && (stanza_type_is(m, "get", 0) || stanza_type_is(m, "set", 0)))
		bounce(s, m, "cancel", "service-unavailable");
}

void rtr_stanza_from_client(struct rtr_link *l, const struct xe_msg *m)
{
	struct rtr_session *s = rtr_session_by_sid(l, m->sid);
	struct jid_parts to;

	if (!s || strlen(s->full) != m->from_len || memcmp(s->full, m->from, m->from_len) != 0) {
		l->denied++;
		log_debug("stanza from an unknown session dropped", "link=%s sid=%llu", l->name,
			  (unsigned long long)m->sid);
		return;
	}
	if (m->to_len == 0) {
		if (m->stype == XE_ST_PRESENCE)
			own_presence(s, m);
		else if (m->stype == XE_ST_MESSAGE)
			deliver_bare_message(s, m, s->full, (size_t)(strchr(s->full, '/') - s->full));
		else
			to_server(s, m);
		return;
	}
	if (jid_split(m->to, m->to_len, &to) < 0) {
		bounce(s, m, "modify", "jid-malformed");
		return;
	}
	if (!rtr_is_local_domain(to.domain, to.domain_len)) {
		if (m->stype != XE_ST_PRESENCE)
			bounce(s, m, "cancel", "remote-server-not-found");
		return;
	}
	if (!to.node) {
		to_server(s, m);
		return;
	}
	if (to.resource) {
		struct rtr_session *d = rtr_session_by_full(m->to, m->to_len);
		if (d) {
			forward(d, m);
			return;
		}
		/* RFC 6121 §8.5.3.2: no such resource */
		if (m->stype == XE_ST_MESSAGE)
			deliver_bare_message(s, m, m->to, to.bare_len);
		else if (m->stype == XE_ST_IQ)
			to_server(s, m);
		return;
	}
	if (m->stype == XE_ST_MESSAGE)
		deliver_bare_message(s, m, m->to, to.bare_len);
	else if (m->stype == XE_ST_PRESENCE)
		broadcast_to_available(m, m->to, to.bare_len);
	else
		to_server(s, m);
}

void rtr_route_event(struct rtr_link *l, const struct xe_msg *m)
{
	struct rtr_session *s;
	struct tlv t;
	struct rbuf r;
	uint32_t prio;

	if (m->kind == XE_ROUTE_UNBIND) {
		s = rtr_session_by_sid(l, m->sid);
		if (s)
			rtr_session_unbind(s);
		return;
	}
	s = rtr_session_bind(l, m->sid, m->from, m->from_len);
	if (!s) {
		l->bad_envelopes++;
		log_warn("route with a malformed JID dropped", "link=%s", l->name);
		return;
	}
	rbuf_init(&r, m->body, m->body_len);
	while (tlv_next(&r, &t) == 1) {
		if (t.tag == RT_PRIORITY && tlv_u32(&t, &prio) == 0)
			s->priority = (int32_t)prio;
		else if (t.tag == RT_PRESENCE)
			presence_update(s, t.val, t.len);
	}
	log_debug(m->kind == XE_ROUTE_SYNC ? "route synced" : "route bound", "link=%s jid=\"%s\"", l->name, s->full);
}
