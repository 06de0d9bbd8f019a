/* Stanza processing: Prosody's event taxonomy on per-host buses, then the RFC 6121 §8.5 rules
 * of rules.c. Full-JID stanzas nobody hooked are forwarded from the envelope header alone;
 * XML is parsed only when an event or a rule must read it. Never an error for an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "components.h"
#include "host.h"
#include "log.h"
#include "route.h"
#include "rtr.h"
#include "rules.h"
#include "sstate.h"
#include "tlv.h"
#include "xnode.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define EVENT_NAME_MAX 512

struct jid_parts {
	const char *node, *domain, *resource;
	size_t node_len, domain_len, resource_len;
	size_t bare_len;	/* node@domain, or domain */
};

/* One stanza from a client on its way through the events and rules. */
struct rtr_stanza {
	const struct xe_msg *m;
	struct rtr_session *origin;
	struct xnode *x;
	char *from, *to;		/* NUL-terminated copies; to may be "" */
	struct jid_parts tp;
	struct mod_host *from_host, *to_host;
	const char *dest;		/* "host", "bare", "full", "self" */
	int external;			/* to is at an external component */
};

static const char *const kind_names[] = {"", "message", "presence", "iq"};

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

static int stype_of(const char *name)
{
	for (int k = XE_ST_MESSAGE; k <= XE_ST_IQ; k++)
		if (strcmp(name, kind_names[k]) == 0)
			return k;
	return XE_ST_NONE;
}

static void forward(const struct rtr_session *to, const struct xe_msg *m)
{
	struct xe_msg out = *m;
	out.hops = (uint8_t)(m->hops + 1);
	rtr_send_to_session(to, &out);
}

static void target_of(const char *bare, size_t blen, int full, int bound, struct rtr_target *t)
{
	struct rtr_user *u = rtr_user_find(bare, blen);
	*t = (struct rtr_target){.full = full, .resource_bound = bound};
	for (struct rtr_session *s = u ? u->sessions : NULL; s; s = s->next_in_user) {
		t->available += s->available != 0;
		t->nonneg += s->available && s->priority >= 0;
	}
}

/* Sends m to the resources of bare that the action selects; returns how many got it. */
static unsigned fan_out(const struct xe_msg *m, const char *bare, size_t blen, enum rtr_action a)
{
	struct rtr_user *u = rtr_user_find(bare, blen);
	int top = -129;
	unsigned n = 0;
	for (struct rtr_session *s = u ? u->sessions : NULL; s; s = s->next_in_user)
		if (s->available && s->priority >= 0 && s->priority > top)
			top = s->priority;
	for (struct rtr_session *s = u ? u->sessions : NULL; s; s = s->next_in_user) {
		if (!s->available || (a == RTR_TO_TOP && s->priority != top) ||
		    (a == RTR_TO_NONNEG && s->priority < 0))
			continue;
		forward(s, m);
		n++;
	}
	return n;
}

/* A server-made stanza for a component: the answer to an IQ an internal component's module
 * sent, or anything for an external component's connection. */
static int send_to_component(const struct xnode *x, const char *from, const char *to, const struct jid_parts *tp)
{
	struct mod_host *h = rtr_host_find(tp->domain, tp->domain_len);
	struct buf body;
	if (h && h->component)
		return strcmp(x->name, "iq") == 0 && rtr_iq_reply_match(h, x, from) ? 0 : -1;
	buf_init(&body);
	int rc = xnode_serialize(x, &body) < 0 || strlen(to) > 3071 || (from && strlen(from) > 3071) ? -1 : 0;
	struct xe_msg out = {.version = XE_VERSION, .kind = XE_STANZA, .stype = (uint8_t)stype_of(x->name),
			     .flags = XE_F_FROM_SERVER, .from = from, .from_len = (uint16_t)(from ? strlen(from) : 0),
			     .to = to, .to_len = (uint16_t)strlen(to), .body = body.data,
			     .body_len = (uint32_t)body.len};
	if (rc == 0 && out.stype != XE_ST_NONE)
		rc = rtr_comp_deliver(&out) ? 0 : -1;
	buf_free(&body);
	return rc;
}

/* Serializes x and routes it as the server: from and to are its attributes. */
static int send_node(const struct xnode *x, const char *from, const char *to)
{
	struct jid_parts tp;
	struct buf body;
	int rc = -1;
	if (!to || jid_split(to, strlen(to), &tp) < 0)
		return -1;
	if (!rtr_is_local_domain(tp.domain, tp.domain_len))
		return send_to_component(x, from, to, &tp);
	if (!tp.node)
		return -1;
	buf_init(&body);
	if (xnode_serialize(x, &body) < 0 || strlen(to) > 3071 || (from && strlen(from) > 3071)) {
		buf_free(&body);
		return -1;
	}
	struct xe_msg out = {.version = XE_VERSION, .kind = XE_STANZA, .stype = (uint8_t)stype_of(x->name),
			     .flags = XE_F_FROM_SERVER, .from = from, .from_len = (uint16_t)(from ? strlen(from) : 0),
			     .to = to, .to_len = (uint16_t)strlen(to), .body = body.data,
			     .body_len = (uint32_t)body.len};
	struct rtr_session *d = tp.resource ? rtr_session_by_full(to, strlen(to)) : NULL;
	if (d) {
		rc = rtr_send_to_session(d, &out);
	} else if (out.stype == XE_ST_MESSAGE) {
		struct rtr_target t;
		target_of(to, tp.bare_len, 0, 0, &t);
		enum rtr_action a = rtr_rule_message(rtr_msg_type_parse(xnode_attr(x, "type")), &t);
		rc = a == RTR_TO_TOP || a == RTR_TO_NONNEG ? (fan_out(&out, to, tp.bare_len, a) ? 0 : -1) : -1;
	} else if (out.stype == XE_ST_PRESENCE && !tp.resource) {
		struct mod_host *h = rtr_host_find(tp.domain, tp.domain_len);
		struct mod_event ev = {.name = "presence/bare", .host = h, .kind = XE_ST_PRESENCE, .from = from,
				       .to = to, .stanza = (struct xnode *)(uintptr_t)x, .api = &rtr_mod_api};
		if (h && rtr_bus_has(h->bus, ev.name) && rtr_bus_fire(h->bus, &ev) != MOD_PASS)
			rc = 0;
		else
			rc = fan_out(&out, to, tp.bare_len, RTR_TO_AVAILABLE) ? 0 : -1;
	}
	buf_free(&body);
	return rc;
}

int rtr_server_send(const struct xnode *x)
{
	return send_node(x, xnode_attr(x, "from"), xnode_attr(x, "to"));
}

int rtr_error_reply(const struct xnode *orig, const char *from, const char *to, const char *type,
		    const char *cond)
{
	return rtr_error_reply_app(orig, from, to, type, cond, NULL, NULL);
}

int rtr_error_reply_app(const struct xnode *orig, const char *from, const char *to, const char *type,
			const char *cond, const char *app, const char *app_ns)
{
	const char *t = xnode_attr(orig, "type");
	struct buf copy;
	int rc = -1;
	if (t && strcmp(t, "error") == 0)
		return 0;	/* never an error for an error */
	buf_init(&copy);
	struct xnode *x = xnode_serialize(orig, &copy) == 0 ? xnode_parse((char *)copy.data, copy.len) : NULL;
	buf_free(&copy);
	struct xnode *e = xnode_new("error"), *c = xnode_new(cond);
	if (x && e && c && xnode_set_attr(x, "type", "error") == 0 && xnode_set_attr(x, "from", from) == 0 &&
	    xnode_set_attr(x, "to", to) == 0 && xnode_set_attr(e, "type", type) == 0 &&
	    xnode_set_attr(c, "xmlns", NS_STANZAS) == 0) {
		xnode_append_take(e, c);
		struct xnode *a = app ? xnode_new(app) : NULL;
		if (a && xnode_set_attr(a, "xmlns", app_ns) == 0)
			xnode_append_take(e, a);
		else
			xnode_free(a);
		xnode_append_take(x, e);
		e = c = NULL;
		rc = send_node(x, from && *from ? from : NULL, to);
	}
	xnode_free(c);
	xnode_free(e);
	xnode_free(x);
	return rc;
}

static void bounce(struct rtr_stanza *st, const char *type, const char *cond)
{
	if (st->x)
		rtr_error_reply(st->x, st->to[0] ? st->to : NULL, st->origin ? st->origin->full : st->from, type,
				cond);
}

static int fire(struct rtr_stanza *st, struct mod_host *h, const char *name)
{
	if (!h || !rtr_bus_has(h->bus, name))
		return MOD_PASS;
	struct mod_event ev = {.name = name, .host = h, .origin = (struct mod_session *)(void *)st->origin,
			       .kind = st->m->stype, .from = st->from, .to = st->to[0] ? st->to : h->name,
			       .stanza = st->x, .api = &rtr_mod_api};
	return rtr_bus_fire(h->bus, &ev);
}

/* "iq-get/host/urn:xmpp:ping:ping" from the first child's namespace and name. */
static int fire_iq_payload(struct rtr_stanza *st, const char *type)
{
	char name[EVENT_NAME_MAX];
	struct xnode *c = st->x->children;
	const char *ns = c ? xnode_attr(c, "xmlns") : NULL;
	if (!c || !ns)
		return MOD_PASS;
	int n = snprintf(name, sizeof(name), "iq-%s/%s/%s:%s", type, st->dest, ns, c->name);
	if (n < 0 || (size_t)n >= sizeof(name))
		return MOD_PASS;
	return fire(st, st->to_host, name);
}

/* Sender side pre-<kind>/<dest>, then receiver side <kind>/<dest>, then for an IQ request its
 * payload event iq-<type>/<dest>/<ns>:<name> (as Prosody's mod_iq does under iq/<dest>). */
static int run_events(struct rtr_stanza *st)
{
	char name[64];
	const char *kind = kind_names[st->m->stype];
	snprintf(name, sizeof(name), "pre-%s/%s", kind, st->dest);
	int rc = fire(st, st->from_host, name);
	if (rc == MOD_PASS) {
		snprintf(name, sizeof(name), "%s/%s", kind, st->dest);
		rc = fire(st, st->to_host, name);
	}
	if (rc == MOD_PASS && st->m->stype == XE_ST_IQ) {
		const char *t = xnode_attr(st->x, "type");
		int it = rtr_iq_type_parse(t);
		if (it == RTR_IQ_GET || it == RTR_IQ_SET)
			rc = fire_iq_payload(st, t);
	}
	if (rc == MOD_DENY && st->m->stype != XE_ST_PRESENCE)
		bounce(st, "cancel", "not-allowed");
	return rc;
}

static void offline_or_bounce(struct rtr_stanza *st)
{
	if (fire(st, st->to_host, "message/offline") == MOD_PASS)
		bounce(st, "cancel", "service-unavailable");
}

/* A JID at an internal component that none of its modules took: it has no accounts, so a
 * message or IQ request is refused; presence and IQ answers are dropped. */
static void component_default(struct rtr_stanza *st)
{
	int it = rtr_iq_type_parse(xnode_attr(st->x, "type"));
	if (st->m->stype == XE_ST_MESSAGE || (st->m->stype == XE_ST_IQ && (it == RTR_IQ_GET || it == RTR_IQ_SET)))
		bounce(st, "cancel", "service-unavailable");
}

/* The §8.5 defaults once no handler took the stanza. */
static void default_action(struct rtr_stanza *st, struct rtr_session *d)
{
	const struct xe_msg *m = st->m;
	const char *type = xnode_attr(st->x, "type");
	struct rtr_target t;
	enum rtr_action a;
	if (st->to_host && st->to_host->component) {
		component_default(st);
		return;
	}
	target_of(st->to, st->tp.bare_len, st->tp.resource != NULL, d != NULL, &t);
	if (m->stype == XE_ST_MESSAGE)
		a = rtr_rule_message(rtr_msg_type_parse(type), &t);
	else if (m->stype == XE_ST_PRESENCE)
		a = rtr_rule_presence(rtr_pres_type_parse(type), &t);
	else
		a = rtr_rule_iq(rtr_iq_type_parse(type), &t);
	switch (a) {
	case RTR_TO_RESOURCE:
		forward(d, m);
		break;
	case RTR_TO_TOP:
	case RTR_TO_NONNEG:
	case RTR_TO_AVAILABLE:
		fan_out(m, st->to, st->tp.bare_len, a);
		break;
	case RTR_OFFLINE:
		offline_or_bounce(st);
		break;
	case RTR_BOUNCE:
		bounce(st, "cancel", "service-unavailable");
		break;
	case RTR_SERVER:
		/* nobody answered for the account: an IQ request is refused; a subscription request
		 * without a presence module reaches the available resources as it is */
		if (m->stype == XE_ST_IQ)
			bounce(st, "cancel", "service-unavailable");
		else if (rtr_pres_type_parse(type) != RTR_PT_PROBE)
			fan_out(m, st->to, st->tp.bare_len, RTR_TO_AVAILABLE);
		break;
	case RTR_DROP:
		break;
	}
}

static void presence_update(struct rtr_session *s, const struct xnode *x)
{
	const char *t = xnode_attr(x, "type");
	struct buf b;
	if (!t) {
		struct xnode *p = xnode_child(x, "priority");
		long prio = p && p->text ? strtol(p->text, NULL, 10) : 0;
		s->priority = prio < -128 ? -128 : prio > 127 ? 127 : (int)prio;
		s->available = 1;
		buf_init(&b);
		free(s->presence);
		s->presence = xnode_serialize(x, &b) == 0 && buf_put_u8(&b, 0) == 0 ? (char *)b.data : NULL;
		if (!s->presence)
			buf_free(&b);
	} else if (strcmp(t, "unavailable") == 0) {
		s->available = 0;
		free(s->presence);
		s->presence = NULL;
	}
}

/* A stanza without 'to' (from a local session) or to the server or a component itself. */
static void to_self_or_host(struct rtr_stanza *st)
{
	const struct xe_msg *m = st->m;
	size_t blen = st->origin ? (size_t)(strchr(st->origin->full, '/') - st->origin->full) : 0;
	if (m->stype == XE_ST_PRESENCE && !st->to[0]) {
		int was = st->origin->available;
		presence_update(st->origin, st->x);
		if (fire(st, st->from_host, "pre-presence/bare") == MOD_PASS)
			fan_out(m, st->origin->full, blen, RTR_TO_AVAILABLE);	/* RFC 6121 §4.2.2 */
		if (!was && st->origin->available)
			fire(st, st->from_host, "presence/initial");
		return;
	}
	if (m->stype == XE_ST_IQ && st->to[0] && rtr_iq_reply_match(st->to_host, st->x, st->from))
		return;	/* the answer to an IQ a module sent */
	if (run_events(st) != MOD_PASS)
		return;
	if (m->stype == XE_ST_IQ) {
		int it = rtr_iq_type_parse(xnode_attr(st->x, "type"));
		if (it == RTR_IQ_GET || it == RTR_IQ_SET)
			bounce(st, "cancel", "service-unavailable");
	} else if (m->stype == XE_ST_MESSAGE && !st->to[0]) {
		free(st->to);
		st->to = strndup(st->origin->full, blen);
		if (st->to && jid_split(st->to, blen, &st->tp) == 0)
			default_action(st, NULL);
	}
}

/* origin NULL: the sender is not a local session (an external component); 'to' is set then. */
static void process_slow(struct rtr_stanza *st, struct rtr_link *l)
{
	struct rtr_session *d = NULL;
	const char *own = st->origin ? st->origin->full : NULL;
	size_t own_blen = own ? (size_t)(strchr(own, '/') - own) : 0;
	st->x = xnode_parse((const char *)st->m->body, st->m->body_len);
	if (!st->x) {
		l->bad_envelopes++;
		return;
	}
	if (!st->to[0] && own && st->m->stype == XE_ST_IQ) {
		/* an IQ without 'to' is for the sender's own account (RFC 6120 §10.3.3) */
		free(st->to);
		if (!(st->to = strndup(own, own_blen)) || jid_split(st->to, own_blen, &st->tp) < 0)
			return;
	}
	if (st->external) {
		/* the sender's events (blocking, carbons, roster and presence), then the component */
		st->dest = !st->tp.node ? "host" : st->tp.resource ? "full" : "bare";
		if (run_events(st) == MOD_PASS && !rtr_comp_deliver(st->m))
			bounce(st, "cancel", "service-unavailable");
		return;
	}
	if (!st->to[0] || !st->tp.node) {
		st->dest = "host";
		to_self_or_host(st);
		return;
	}
	if (st->tp.resource) {
		d = rtr_session_by_full(st->to, strlen(st->to));
		st->dest = "full";
	} else {
		int self = own && st->tp.bare_len == own_blen && strncasecmp(st->to, own, own_blen) == 0;
		st->dest = self && st->m->stype == XE_ST_IQ ? "self" : "bare";
	}
	if (run_events(st) == MOD_PASS)
		default_action(st, d);
}

/* The full-JID fast path: a bound resource and nobody hooked the events it would fire. */
static int fast_path(struct rtr_stanza *st)
{
	char pre[32], post[32];
	const char *kind = kind_names[st->m->stype];
	if (!st->tp.resource || !st->tp.node)
		return 0;
	snprintf(pre, sizeof(pre), "pre-%s/full", kind);
	snprintf(post, sizeof(post), "%s/full", kind);
	if ((st->from_host && rtr_bus_has(st->from_host->bus, pre)) ||
	    (st->to_host && rtr_bus_has(st->to_host->bus, post)))
		return 0;
	struct rtr_session *d = rtr_session_by_full(st->m->to, st->m->to_len);
	if (!d)
		return 0;
	forward(d, st->m);
	return 1;
}

void rtr_stanza_from_client(struct rtr_link *l, const struct xe_msg *m)
{
	struct rtr_session *s = rtr_session_by_sid(l, m->sid);
	struct rtr_stanza st = {.m = m, .origin = s};

	if (!s || strlen(s->full) != m->from_len || memcmp(s->full, m->from, m->from_len) != 0 ||
	    m->stype == XE_ST_NONE || m->stype > XE_ST_IQ) {
		l->denied++;
		log_debug("stanza from an unknown session dropped", "link=%s sid=%llu", l->name,
			  (unsigned long long)m->sid);
		return;
	}
	const char *slash = strchr(s->full, '/');
	const char *at = strchr(s->full, '@');
	st.from_host = rtr_host_find(at + 1, (size_t)(slash - at - 1));
	if (m->to_len && jid_split(m->to, m->to_len, &st.tp) < 0) {
		st.x = xnode_parse((const char *)m->body, m->body_len);
		st.to = strdup("");
		if (st.to)
			bounce(&st, "modify", "jid-malformed");
		goto done;
	}
	int local = !m->to_len || rtr_is_local_domain(st.tp.domain, st.tp.domain_len);
	if (!local)
		st.external = rtr_comp_serves(st.tp.domain, st.tp.domain_len);
	if (!local && !st.external && !rtr_comp_host_find(st.tp.domain, st.tp.domain_len)) {
		if (m->stype != XE_ST_PRESENCE) {
			st.x = xnode_parse((const char *)m->body, m->body_len);
			st.to = strndup(m->to, m->to_len);
			if (st.to)
				bounce(&st, "cancel", "remote-server-not-found");
		}
		goto done;
	}
	st.to_host = m->to_len ? rtr_host_find(st.tp.domain, st.tp.domain_len) : st.from_host;
	if (fast_path(&st))
		return;
	st.from = strdup(s->full);
	st.to = strndup(m->to ? m->to : "", m->to_len);
	if (st.from && st.to) {
		if (m->to_len)
			jid_split(st.to, m->to_len, &st.tp);	/* re-point into the NUL-terminated copy */
		process_slow(&st, l);
	}
done:
	xnode_free(st.x);
	free(st.from);
	free(st.to);
}

/* From an external component (components.c checked its from) to a vhost, one of its users or
 * an internal component: as from any other domain, no sender-side events; the receiver's
 * events, then the §8.5 rules (offline storage, carbons, blocking apply). A full JID nobody
 * hooked is forwarded from the header alone. */
void rtr_stanza_from_remote(struct rtr_link *l, const struct xe_msg *m)
{
	struct rtr_stanza st = {.m = m};
	if (m->stype == XE_ST_NONE || m->stype > XE_ST_IQ || !m->to_len || !m->from_len ||
	    jid_split(m->to, m->to_len, &st.tp) < 0) {
		l->denied++;
		return;
	}
	st.to_host = rtr_host_find(st.tp.domain, st.tp.domain_len);
	if (!st.to_host && !rtr_is_local_domain(st.tp.domain, st.tp.domain_len)) {
		l->denied++;
		return;
	}
	if (fast_path(&st))
		return;
	st.from = strndup(m->from, m->from_len);
	st.to = strndup(m->to, m->to_len);
	if (st.from && st.to && jid_split(st.to, m->to_len, &st.tp) == 0)
		process_slow(&st, l);
	xnode_free(st.x);
	free(st.from);
	free(st.to);
}

/* A session's end, however it ends (unbind, its worker died, shutdown). */
void rtr_session_gone(struct rtr_session *s)
{
	const char *at = strchr(s->full, '@'), *slash = strchr(s->full, '/');
	struct mod_host *h = rtr_host_find(at + 1, (size_t)(slash - at - 1));
	if (h) {
		struct mod_event ev = {.name = "resource-unbind", .host = h,
				       .origin = (struct mod_session *)(void *)s, .from = s->full, .to = h->name,
				       .arg = s->full, .api = &rtr_mod_api};
		rtr_bus_fire(h->bus, &ev);
	}
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
	/* a full JID bound on another stream was told already (bind.c: route_taken) */
	s = rtr_session_bind(l, m->sid, m->from, m->from_len);
	if (!s) {
		l->bad_envelopes++;
		log_warn("route with a malformed JID dropped", "link=%s", l->name);
		rtr_route_answer(l, m, "bad-request");
		return;
	}
	rbuf_init(&r, m->body, m->body_len);
	for (size_t at0 = 0; tlv_next(&r, &t) == 1; at0 = r.off) {
		if (t.tag == RT_PRIORITY && tlv_u32(&t, &prio) == 0) {
			s->priority = (int32_t)prio;
		} else if (t.tag == RT_PRESENCE) {
			struct xnode *x = xnode_parse((const char *)t.val, t.len);
			if (x)
				presence_update(s, x);
			xnode_free(x);
		} else if (t.tag == RT_STATE && m->kind == XE_ROUTE_SYNC) {
			/* module state c2s kept over our restart, checked and bounded like an update */
			if (sst_apply(&s->state, m->body + at0, r.off - at0) < 0)
				l->bad_envelopes++;
		}
	}
	rtr_route_answer(l, m, NULL);	/* held: what the hooks send reaches a bound stream */
	const char *at = strchr(s->full, '@'), *slash = strchr(s->full, '/');
	struct mod_host *h = rtr_host_find(at + 1, (size_t)(slash - at - 1));
	if (h) {
		/* resource-sync: a session the stream worker replays after a router restart */
		struct mod_event ev = {.name = m->kind == XE_ROUTE_SYNC ? "resource-sync" : "resource-bind", .host = h,
				       .origin = (struct mod_session *)(void *)s, .from = s->full, .to = h->name,
				       .arg = s->full, .api = &rtr_mod_api};
		rtr_bus_fire(h->bus, &ev);
		if (m->kind == XE_ROUTE_SYNC) {
			ev.name = "resource-bind";
			rtr_bus_fire(h->bus, &ev);
		}
	}
	log_debug(m->kind == XE_ROUTE_SYNC ? "route synced" : "route bound", "link=%s jid=\"%s\"", l->name, s->full);
}
