/* The router's side of the stanza links and of the storage pool. An inbound frame is
 * acknowledged to its stream worker only once everything it caused was acknowledged by its
 * destinations, so a router crash never loses a stanza that its sender saw acknowledged. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "components.h"
#include "host.h"
#include "rtr.h"
#include "sto.h"
#include "tlv.h"
#include "xlimits.h"

struct rtr_inflight {
	uint64_t in_seq;
	unsigned pending;	/* outbound frames and async calls not yet acknowledged */
	struct rtr_inflight *next;
};

struct rtr_outrec {
	uint64_t out_seq;
	struct rtr_link *origin;
	struct rtr_inflight *inf;	/* NULL once the origin's peer changed */
	struct rtr_outrec *next;
};

struct auth_call {
	struct rtr_link *origin;
	uint64_t gen;
	struct rtr_inflight *inf;
	uint64_t sid;
	uint32_t reqid;
	int create;	/* an account creation, sent to storage as STORE_REQ */
};

static void inflight_advance(struct rtr_link *l)
{
	uint64_t upto = 0;
	while (l->in_head && l->in_head->pending == 0) {
		struct rtr_inflight *f = l->in_head;
		upto = f->in_seq;
		l->in_head = f->next;
		free(f);
	}
	if (!l->in_head)
		l->in_tail = NULL;
	if (upto)
		link_done_upto(l->link, upto);
}

static void inflight_release(struct rtr_link *origin, struct rtr_inflight *inf)
{
	if (inf && inf->pending > 0) {
		inf->pending--;
		inflight_advance(origin);
	}
}

int rtr_send(struct rtr_link *l, const struct xe_msg *m)
{
	static struct buf out;	/* reused encode buffer: the router is single-threaded */
	uint64_t seq;

	buf_reset(&out);
	if (xe_encode(&out, m) < 0 || link_send(l->link, out.data, out.len, &seq) < 0) {
		env->dropped_sends++;
		log_warn("frame to a stream worker not sent", "link=%s err=\"%s\"", l->name, strerror(errno));
		return -1;
	}
	if (!env->current)
		return 0;
	struct rtr_outrec *r = calloc(1, sizeof(*r));
	if (!r)
		return 0;	/* the origin is then acknowledged early; nothing else is wrong */
	r->out_seq = seq;
	r->origin = env->current_link;
	r->inf = env->current;
	env->current->pending++;
	if (l->out_tail)
		l->out_tail->next = r;
	else
		l->out_head = r;
	l->out_tail = r;
	return 0;
}

int rtr_send_to_session(const struct rtr_session *s, const struct xe_msg *m)
{
	struct xe_msg out = *m;
	out.version = XE_VERSION;
	out.sid = s->sid;
	return rtr_send(s->link, &out);
}

/* The peer of l changed or went away: its sessions and its inbound bookkeeping are gone. */
static void link_reset(struct rtr_link *l)
{
	l->gen++;
	rtr_link_drop_sessions(l);
	for (unsigned i = 0; i < env->nlinks; i++)
		for (struct rtr_outrec *r = env->links[i].out_head; r; r = r->next)
			if (r->origin == l)
				r->inf = NULL;
	while (l->in_head) {
		struct rtr_inflight *f = l->in_head;
		l->in_head = f->next;
		free(f);
	}
	l->in_tail = NULL;
}

void rtr_link_clear(struct rtr_link *l)
{
	link_reset(l);
	while (l->out_head) {
		struct rtr_outrec *r = l->out_head;
		l->out_head = r->next;
		free(r);
	}
	l->out_tail = NULL;
}

struct rtr_hold {
	struct rtr_link *origin;
	uint64_t gen;
	struct rtr_inflight *inf;
};

struct rtr_hold *rtr_hold_take(void)
{
	struct rtr_hold *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	if (env->current && env->current_link) {
		*h = (struct rtr_hold){.origin = env->current_link, .gen = env->current_link->gen, .inf = env->current};
		env->current->pending++;
	}
	return h;
}

void rtr_hold_enter(const struct rtr_hold *h)
{
	int live = h->origin && h->gen == h->origin->gen;
	env->current = live ? h->inf : NULL;
	env->current_link = live ? h->origin : NULL;
}

void rtr_hold_release(struct rtr_hold *h)
{
	if (h->origin && h->gen == h->origin->gen)
		inflight_release(h->origin, h->inf);
	free(h);
}

static void on_acked(void *arg, struct link *lk, uint64_t upto)
{
	struct rtr_link *l = arg;
	(void)lk;
	while (l->out_head && l->out_head->out_seq <= upto) {
		struct rtr_outrec *r = l->out_head;
		l->out_head = r->next;
		if (r->inf)
			inflight_release(r->origin, r->inf);
		free(r);
	}
	if (!l->out_head)
		l->out_tail = NULL;
}

static void on_event(void *arg, struct link *lk, int event)
{
	struct rtr_link *l = arg;
	(void)lk;
	log_info(event == LINK_PEER_NEW ? "stream worker connected" : "stream worker gone", "link=%s", l->name);
	link_reset(l);
	if (event == LINK_PEER_NEW)
		rtr_caps_send(l);
}

static void auth_reply_send(struct auth_call *c, uint8_t kind, const uint8_t *body, size_t len)
{
	struct xe_msg out = {.version = XE_VERSION, .kind = kind, .sid = c->sid, .reqid = c->reqid,
			     .body = body, .body_len = (uint32_t)len};
	env->current = c->inf;
	env->current_link = c->origin;
	rtr_send(c->origin, &out);
	env->current = NULL;
}

static void auth_done(void *arg, int status, const uint8_t *reply, size_t len)
{
	struct auth_call *c = arg;
	struct xe_msg m;

	if (c->gen == c->origin->gen) {
		if (status == 0 && xe_decode(reply, len, &m) == XE_OK &&
		    m.kind == (c->create ? XE_STORE_REP : XE_AUTH_REP))
			auth_reply_send(c, XE_AUTH_REP, m.body, m.body_len);
		else {
			log_warn("authentication step failed in storage", "status=%d", status);
			auth_reply_send(c, XE_ERROR, NULL, 0);
		}
		inflight_release(c->origin, c->inf);
	}
	free(c);
}

/* From a stream worker: the SCRAM steps (1), and an account creation (2) from a c2s link for a
 * host whose registration is open (XEP-0077 before authentication); no other account change. */
static int auth_permitted(const struct rtr_link *l, const struct xe_msg *m)
{
	struct tlv t;
	uint32_t op;
	if (tlv_find(m->body, m->body_len, STO_T_OP, &t) != 1 || tlv_u32(&t, &op) < 0)
		return 0;
	if (op == STO_OP_SCRAM_PARAMS || op == STO_OP_SCRAM_VERIFY)
		return 1;
	if (op != STO_OP_ACCOUNT_CREATE || (strncmp(l->name, "c2s.", 4) != 0 && strncmp(l->name, "http.", 5) != 0) ||
	    tlv_find(m->body, m->body_len, STO_T_HOST, &t) != 1)
		return 0;
	const struct mod_host *h = rtr_host_find((const char *)t.val, t.len);
	const char *reg = h ? rtr_mod_api.option(h, "registration") : NULL;
	return reg && strcmp(reg, "open") == 0 ? 2 : 0;
}

static void auth_forward(struct rtr_link *l, const struct xe_msg *m, const uint8_t *raw, size_t len, int create)
{
	struct auth_call *c = calloc(1, sizeof(*c));
	struct buf re;
	buf_init(&re);
	if (!c)
		return;
	*c = (struct auth_call){.origin = l, .gen = l->gen, .inf = env->current, .sid = m->sid, .reqid = m->reqid,
				.create = create};
	if (create) {	/* storage answers account changes only as STORE_REQ */
		struct xe_msg s = *m;
		s.kind = XE_STORE_REQ;
		if (xe_encode(&re, &s) < 0) {
			buf_wipe_free(&re);
			auth_reply_send(c, XE_ERROR, NULL, 0);
			free(c);
			return;
		}
		raw = re.data, len = re.len;
	}
	env->current->pending++;
	if (storeq_call(env->storage, raw, len, STORE_TIMEOUT_MS, auth_done, c) < 0) {
		env->current->pending--;
		auth_reply_send(c, XE_ERROR, NULL, 0);
		free(c);
	}
	buf_wipe_free(&re);	/* it carried the password */
}

static void envelope_denied(struct rtr_link *l, const struct xe_msg *m)
{
	l->denied++;
	log_warn("envelope not permitted from a stream worker", "link=%s kind=%s", l->name, xe_kind_name(m->kind));
}

/* A refused request is still answered, so the stream worker does not wait for it. */
static void auth_denied(struct rtr_link *l, const struct xe_msg *m)
{
	struct auth_call c = {.origin = l, .inf = env->current, .sid = m->sid, .reqid = m->reqid};
	envelope_denied(l, m);
	auth_reply_send(&c, XE_ERROR, NULL, 0);
	env->current = c.inf;
}

static void on_recv(void *arg, struct link *lk, uint64_t seq, const uint8_t *data, size_t len)
{
	struct rtr_link *l = arg;
	struct xe_msg m;
	(void)lk;

	struct rtr_inflight *f = calloc(1, sizeof(*f));
	if (!f)
		fatal("out of memory", "");
	f->in_seq = seq;
	f->pending = 1;	/* held while this frame is processed */
	if (l->in_tail)
		l->in_tail->next = f;
	else
		l->in_head = f;
	l->in_tail = f;
	env->current = f;
	env->current_link = l;

	int rc = xe_decode(data, len, &m);
	if (rc != XE_OK) {
		l->bad_envelopes++;
		log_warn("malformed envelope dropped", "link=%s err=\"%s\" count=%llu", l->name, xe_strerror(rc),
			 (unsigned long long)l->bad_envelopes);
	} else if (m.hops > XE_MAX_HOPS) {
		l->denied++;
	} else {
		switch (m.kind) {
		case XE_STANZA:
			if (!rtr_comp_stanza(l, &m))
				rtr_stanza_from_client(l, &m);
			break;
		case XE_ROUTE_SYNC:
			/* c2s sends every new router a fresh snapshot of each session, so a SYNC is
			 * acknowledged once handled: what its hooks started (a storage load that waits
			 * for the storage worker to reconnect) must not hold back the acks of every
			 * later frame, and a replayed SYNC would only re-apply older state */
			env->current = NULL;
			rtr_route_request(l, &m);
			break;
		case XE_ROUTE_BIND:
		case XE_ROUTE_UNBIND:
			rtr_route_request(l, &m);
			break;
		case XE_AUTH_REQ: {
			int ok = auth_permitted(l, &m);
			if (ok)
				auth_forward(l, &m, data, len, ok == 2);
			else
				auth_denied(l, &m);
			break;
		}
		default:
			envelope_denied(l, &m);
			break;
		}
	}
	env->current = NULL;
	inflight_release(l, f);
}

const struct link_ops rtr_link_ops = {.recv = on_recv, .event = on_event, .acked = on_acked};
