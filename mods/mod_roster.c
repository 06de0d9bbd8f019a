/* RFC 6121 §2 and §3: roster get/set/remove with pushes to the interested resources, roster
 * versioning (XEP-0237) from the first change, and the subscription state machine (pre-approval,
 * pending requests stored and re-sent at login). The roster of a user is one keyval entry
 * (store "roster"); its changes run one at a time per user and are durable before anyone sees them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mods/modutil.h"
#include "mods/roster_sub.h"

#define NS_ROSTER "jabber:iq:roster"
#define ROSTER_STORE "roster"
#define ROSTER_TEXT_MAX 1023u	/* a name or a group */
#define ROSTER_ITEMS_MAX 1000u
#define STO_OP_KV_GET_ 8u	/* ipc/sto.h: STO_OP_KV_GET, STO_OP_KV_SET */
#define STO_OP_KV_SET_ 9u
#define STO_OK_ 0
#define STO_ENOTFOUND_ 1
#define STO_T_VALUE_ 16u

static const struct mod_api *api;	/* the router's table, the same for every host */

enum roster_job_kind { RJ_GET, RJ_SET, RJ_REMOVE, RJ_SUB_OUT, RJ_SUB_IN, RJ_LOGIN, RJ_DELETE };

struct roster_out {
	struct xnode *x;
	int to_user;		/* delivered to the user's available resources, without events */
	struct roster_out *next;
};

struct roster_iface {
	char *full;
	struct roster_iface *next;
};

struct roster_ctx {
	struct mod_host *host;
	struct roster_job *jobs;	/* queued and running, oldest first; one runs per user */
	struct roster_iface *interested;	/* resources that asked for the roster */
	unsigned long pushes;
};

struct roster_job {
	struct roster_ctx *ctx;
	enum roster_job_kind kind;
	char *user, *bare, *full, *id, *contact, *ver;
	int sub_kind;
	struct xnode *item;		/* RJ_SET */
	struct xnode *stanza;		/* RJ_SUB_IN: the presence to deliver */
	struct xnode *doc;
	struct roster_out *outs, **outs_tail;
	int running;
	struct roster_job *next;
};

/* ---- small helpers ---- */

static char *roster_bare_of(const char *jid)
{
	const char *slash = strchr(jid, '/');
	return slash ? strndup(jid, (size_t)(slash - jid)) : strdup(jid);
}

static void roster_lower(char *s)
{
	for (char *c = s; c && *c && *c != '/'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
}

static void roster_out_add(struct roster_job *j, struct xnode *x, int to_user)
{
	struct roster_out *o = x ? calloc(1, sizeof(*o)) : NULL;
	if (!o) {
		api->x_free(x);
		return;
	}
	o->x = x;
	o->to_user = to_user;
	*j->outs_tail = o;
	j->outs_tail = &o->next;
}

static struct xnode *roster_iq(const char *type, const char *id, const char *from, const char *to)
{
	const char *attrs[] = {"type", type, "id", id, "from", from, "to", to, NULL};
	return mu_el(api, "iq", attrs);
}

static void roster_iq_error(struct roster_job *j, const char *type, const char *cond)
{
	struct xnode *iq = roster_iq("error", j->id, NULL, j->full);
	const char *ea[] = {"type", type, NULL}, *ca[] = {"xmlns", "urn:ietf:params:xml:ns:xmpp-stanzas", NULL};
	struct xnode *e = mu_el(api, "error", ea), *c = mu_el(api, cond, ca);
	if (iq && e && c) {
		api->x_append_take(e, c);
		api->x_append_take(iq, e);
		roster_out_add(j, iq, 0);
		return;
	}
	api->x_free(iq);
	api->x_free(e);
	api->x_free(c);
}

/* ---- the stored document: <roster ver='N'><item .../>...</roster> ---- */

static struct xnode *doc_find(struct xnode *doc, const char *jid)
{
	for (struct xnode *i = doc->children; i; i = i->next) {
		const char *v = api->x_attr(i, "jid");
		if (v && strcasecmp(v, jid) == 0)
			return i;
	}
	return NULL;
}

static void doc_remove(struct xnode *doc, struct xnode *item)
{
	for (struct xnode **pp = &doc->children; *pp; pp = &(*pp)->next) {
		if (*pp == item) {
			*pp = item->next;
			item->next = NULL;
			api->x_free(item);
			return;
		}
	}
}

static size_t doc_count(const struct xnode *doc)
{
	size_t n = 0;
	for (const struct xnode *i = doc->children; i; i = i->next)
		n++;
	return n;
}

static const char *doc_ver(const struct xnode *doc)
{
	const char *v = api->x_attr(doc, "ver");
	return v ? v : "0";
}

static int doc_bump(struct xnode *doc)
{
	char v[24];
	snprintf(v, sizeof(v), "%lu", strtoul(doc_ver(doc), NULL, 10) + 1);
	return api->x_set_attr(doc, "ver", v);
}

static void item_state(const struct xnode *i, struct sub_state *s)
{
	const char *sub = i ? api->x_attr(i, "subscription") : NULL;
	*s = (struct sub_state){0};
	if (!i)
		return;
	s->sub = !sub ? 0 : strcmp(sub, "both") == 0 ? SUB_TO | SUB_FROM : strcmp(sub, "to") == 0 ? SUB_TO
	       : strcmp(sub, "from") == 0 ? SUB_FROM : 0;
	s->ask = api->x_attr(i, "ask") != NULL;
	s->pending = api->x_attr(i, "pending") != NULL;
	s->approved = api->x_attr(i, "approved") != NULL;
}

static int item_set_state(struct xnode *i, const struct sub_state *s)
{
	return api->x_set_attr(i, "subscription", sub_name(s->sub)) |
	       api->x_set_attr(i, "ask", s->ask ? "subscribe" : NULL) |
	       api->x_set_attr(i, "pending", s->pending ? "1" : NULL) |
	       api->x_set_attr(i, "approved", s->approved ? "true" : NULL);
}

static int item_visible(const struct xnode *i)
{
	return !api->x_attr(i, "hidden");
}

/* The item as a client sees it: without the server's own bookkeeping. */
static struct xnode *item_public(const struct xnode *i, int removed)
{
	const char *a[] = {"jid", api->x_attr(i, "jid"), "name", removed ? NULL : api->x_attr(i, "name"),
			   "subscription", removed ? "remove" : api->x_attr(i, "subscription"),
			   "ask", removed ? NULL : api->x_attr(i, "ask"),
			   "approved", removed ? NULL : api->x_attr(i, "approved"), NULL};
	struct xnode *n = mu_el(api, "item", a);
	for (const struct xnode *g = i->children; n && !removed && g; g = g->next) {
		struct xnode *c = api->x_new("group");
		if (c && g->text)
			api->x_set_text(c, g->text);
		if (c)
			api->x_append_take(n, c);
	}
	return n;
}

/* ---- pushes (RFC 6121 §2.1.6) ---- */

static void roster_push(struct roster_job *j, const struct xnode *item, int removed)
{
	struct roster_ctx *ctx = j->ctx;
	size_t blen = strlen(j->bare);
	for (struct roster_iface *r = ctx->interested; r; r = r->next) {
		if (strncasecmp(r->full, j->bare, blen) != 0 || r->full[blen] != '/')
			continue;
		char id[32];
		snprintf(id, sizeof(id), "push%lu", ++ctx->pushes);
		struct xnode *iq = roster_iq("set", id, NULL, r->full);
		const char *qa[] = {"xmlns", NS_ROSTER, "ver", doc_ver(j->doc), NULL};
		struct xnode *q = mu_el(api, "query", qa), *it = item_public(item, removed);
		if (iq && q && it) {
			api->x_append_take(q, it);
			api->x_append_take(iq, q);
			roster_out_add(j, iq, 0);
			continue;
		}
		api->x_free(iq);
		api->x_free(q);
		api->x_free(it);
	}
}

static void roster_presence_out(struct roster_job *j, const char *type, const char *from, const char *to,
				int to_user)
{
	const char *a[] = {"type", type, "from", from, "to", to, NULL};
	roster_out_add(j, mu_el(api, "presence", a), to_user);
}


/* ---- the jobs ---- */

static void job_get(struct roster_job *j)
{
	struct xnode *iq = roster_iq("result", j->id, NULL, j->full);
	if (!iq)
		return;
	/* XEP-0237: the client's version is current: an empty result, changes come as pushes */
	if (!j->ver || strcmp(j->ver, doc_ver(j->doc)) != 0) {
		const char *qa[] = {"xmlns", NS_ROSTER, "ver", doc_ver(j->doc), NULL};
		struct xnode *q = mu_el(api, "query", qa);
		for (struct xnode *i = j->doc->children; q && i; i = i->next)
			if (item_visible(i)) {
				struct xnode *p = item_public(i, 0);
				if (p)
					api->x_append_take(q, p);
			}
		if (q)
			api->x_append_take(iq, q);
	}
	roster_out_add(j, iq, 0);
}

static int job_set(struct roster_job *j)
{
	struct xnode *i = doc_find(j->doc, j->contact);
	if (!i) {
		const char *a[] = {"jid", j->contact, "subscription", "none", NULL};
		if (doc_count(j->doc) >= ROSTER_ITEMS_MAX) {
			roster_iq_error(j, "cancel", "resource-constraint");
			return 0;
		}
		if (!(i = mu_el(api, "item", a)))
			return -1;
		api->x_append_take(j->doc, i);
	}
	api->x_set_attr(i, "hidden", NULL);
	api->x_set_attr(i, "name", api->x_attr(j->item, "name"));
	while (i->children) {
		struct xnode *g = i->children;
		i->children = g->next;
		g->next = NULL;
		api->x_free(g);
	}
	for (struct xnode *g = j->item->children; g; g = g->next) {
		if (strcmp(g->name, "group") != 0)
			continue;
		struct xnode *c = api->x_new("group");
		if (!c || api->x_set_text(c, g->text ? g->text : "") < 0) {
			api->x_free(c);
			return -1;
		}
		api->x_append_take(i, c);
	}
	if (doc_bump(j->doc) < 0)
		return -1;
	roster_out_add(j, roster_iq("result", j->id, NULL, j->full), 0);
	roster_push(j, i, 0);
	return 1;
}

/* §2.5.2: removing cancels both directions and any pending request. */
static int job_remove(struct roster_job *j)
{
	struct xnode *i = doc_find(j->doc, j->contact);
	struct sub_state s;
	if (!i || !item_visible(i)) {
		roster_iq_error(j, "cancel", "item-not-found");
		return 0;
	}
	item_state(i, &s);
	if ((s.sub & SUB_TO) || s.ask)
		roster_presence_out(j, "unsubscribe", j->bare, j->contact, 0);
	if ((s.sub & SUB_FROM) || s.pending)
		roster_presence_out(j, "unsubscribed", j->bare, j->contact, 0);
	if (doc_bump(j->doc) < 0)
		return -1;
	roster_out_add(j, roster_iq("result", j->id, NULL, j->full), 0);
	roster_push(j, i, 1);
	doc_remove(j->doc, i);
	return 1;
}

static const char *const sub_types[] = {"subscribe", "subscribed", "unsubscribe", "unsubscribed"};

/* The user's current presence goes to a contact who may now see it (§3.1.5). */
static void send_current(void *arg, struct mod_session *s, const char *full, int prio, const char *presence)
{
	struct roster_job *j = arg;
	(void)s, (void)prio;
	struct xnode *x = presence ? api->x_parse(presence, strlen(presence)) : NULL;
	if (x && api->x_set_attr(x, "from", full) == 0 && api->x_set_attr(x, "to", j->contact) == 0)
		roster_out_add(j, x, 0);
	else
		api->x_free(x);
}

static int job_sub(struct roster_job *j)
{
	struct xnode *i = doc_find(j->doc, j->contact);
	struct sub_state s;
	struct sub_result r;
	int dir = j->kind == RJ_SUB_OUT ? SUB_OUTBOUND : SUB_INBOUND;
	item_state(i, &s);
	sub_apply(dir, j->sub_kind, &s, &r);
	int stored_change = !sub_same(&s, &r.next);
	if (stored_change && !i) {
		/* §3.1.2: a subscribe to someone not in the roster adds them; an inbound request is
		 * kept as a hidden entry until the user decides */
		const char *a[] = {"jid", j->contact, "hidden", dir == SUB_INBOUND ? "1" : NULL, NULL};
		if (!(i = mu_el(api, "item", a)))
			return -1;
		api->x_append_take(j->doc, i);
	}
	if (stored_change && item_set_state(i, &r.next) < 0)
		return -1;
	if (dir == SUB_OUTBOUND && stored_change && r.push)
		api->x_set_attr(i, "hidden", NULL);
	if (r.push && item_visible(i) && doc_bump(j->doc) < 0)
		return -1;
	if (r.forward) {
		if (dir == SUB_OUTBOUND)
			roster_presence_out(j, sub_types[j->sub_kind], j->bare, j->contact, 0);
		else if (j->stanza && api->x_set_attr(j->stanza, "to", j->bare) == 0)
			roster_out_add(j, j->stanza, 1), j->stanza = NULL;
	}
	if (r.auto_subscribed)
		roster_presence_out(j, "subscribed", j->bare, j->contact, 0);
	if ((dir == SUB_OUTBOUND && j->sub_kind == SUB_SUBSCRIBED && r.forward) || r.auto_subscribed)
		api->each_session(j->ctx->host, j->bare, send_current, j);
	if (dir == SUB_OUTBOUND && j->sub_kind == SUB_UNSUBSCRIBED && r.forward)
		roster_presence_out(j, "unavailable", j->bare, j->contact, 0);
	if (r.push && item_visible(i))
		roster_push(j, i, 0);
	/* an entry that holds nothing any more is dropped */
	if (i && !item_visible(i) && !r.next.pending && !r.next.sub && !r.next.ask && !r.next.approved)
		doc_remove(j->doc, i);
	return stored_change ? 1 : 0;
}

/* §3.1.3 and §3.1.2 at login: pending requests to the user are shown again, and the
 * user's own pending requests are sent again to their contacts. */
static int job_login(struct roster_job *j)
{
	for (struct xnode *i = j->doc->children; i; i = i->next) {
		const char *jid = api->x_attr(i, "jid");
		if (api->x_attr(i, "pending")) {
			const char *a[] = {"type", "subscribe", "from", jid, "to", j->full, NULL};
			roster_out_add(j, mu_el(api, "presence", a), 0);
		}
		if (api->x_attr(i, "ask"))
			roster_presence_out(j, "subscribe", j->bare, jid, 0);
	}
	return 0;
}

/* The account was deleted (its sessions are closed already): every contact is told as by a
 * removal of its item (§2.5.2: unsubscribe, unsubscribed and §3.2.2 unavailable), so that the
 * contacts' rosters lose their subscriptions with pushes; then the stored roster goes. */
static int job_delete(struct roster_job *j)
{
	for (struct xnode *i = j->doc->children; i; i = i->next) {
		const char *contact = api->x_attr(i, "jid");
		struct sub_state s;
		if (!contact)
			continue;
		item_state(i, &s);
		if ((s.sub & SUB_TO) || s.ask)
			roster_presence_out(j, "unsubscribe", j->bare, contact, 0);
		if ((s.sub & SUB_FROM) || s.pending)
			roster_presence_out(j, "unsubscribed", j->bare, contact, 0);
		if (s.sub & SUB_FROM)	/* §3.2.2, as for any outbound unsubscribed */
			roster_presence_out(j, "unavailable", j->bare, contact, 0);
	}
	return 1;
}

/* ---- the per-user queue ---- */

static void job_start(struct roster_job *j);

static void job_free(struct roster_job *j)
{
	while (j->outs) {
		struct roster_out *o = j->outs;
		j->outs = o->next;
		api->x_free(o->x);
		free(o);
	}
	api->x_free(j->item);
	api->x_free(j->stanza);
	api->x_free(j->doc);
	free(j->user);
	free(j->bare);
	free(j->full);
	free(j->id);
	free(j->contact);
	free(j->ver);
	free(j);
}

static void deliver_to_user(void *arg, struct mod_session *s, const char *full, int prio, const char *presence)
{
	const struct xnode *x = arg;
	(void)full, (void)prio;
	if (presence)
		api->send_to_session(s, x);
}

static void job_finish(struct roster_job *j, int ok)
{
	struct roster_ctx *ctx = j->ctx;
	for (struct roster_out *o = j->outs; o; o = o->next) {
		if (!ok)
			break;
		if (o->to_user)
			api->each_session(ctx->host, j->bare, deliver_to_user, o->x);
		else
			api->send(ctx->host, o->x);
	}
	if (!ok && j->id && j->full) {
		while (j->outs) {
			struct roster_out *o = j->outs;
			j->outs = o->next;
			api->x_free(o->x);
			free(o);
		}
		j->outs_tail = &j->outs;
		roster_iq_error(j, "wait", "internal-server-error");
		if (j->outs)
			api->send(ctx->host, j->outs->x);
	}
	for (struct roster_job **pp = &ctx->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	char *user = j->user;
	j->user = NULL;
	job_free(j);
	for (struct roster_job *n = ctx->jobs; n; n = n->next)
		if (!n->running && strcmp(n->user, user) == 0) {
			job_start(n);
			break;
		}
	free(user);
}

static void job_stored(void *arg, const struct mod_sto_reply *r)
{
	job_finish(arg, r->status == STO_OK_);
}

static int job_apply(struct roster_job *j)
{
	switch (j->kind) {
	case RJ_GET:
		job_get(j);
		return 0;
	case RJ_SET:
		return job_set(j);
	case RJ_REMOVE:
		return job_remove(j);
	case RJ_SUB_OUT:
	case RJ_SUB_IN:
		return job_sub(j);
	case RJ_LOGIN:
		return job_login(j);
	case RJ_DELETE:
		return job_delete(j);
	}
	return 0;
}

static void job_loaded(void *arg, const struct mod_sto_reply *r)
{
	struct roster_job *j = arg;
	const uint8_t *val = NULL;
	size_t vlen = 0, off = 0;
	unsigned tag;
	if (r->status == STO_OK_)
		while (api->sto_next(r->fields, r->len, &off, &tag, &val, &vlen) == 1 && tag != STO_T_VALUE_)
			val = NULL;
	if (r->status == STO_OK_ && val)
		j->doc = api->x_parse((const char *)val, vlen);
	else if (r->status == STO_ENOTFOUND_)
		j->doc = api->x_new("roster");
	if (!j->doc) {
		job_finish(j, 0);
		return;
	}
	int changed = job_apply(j);
	if (changed <= 0) {
		job_finish(j, changed == 0);
		return;
	}
	int del = j->kind == RJ_DELETE;	/* a KV_SET without a value deletes */
	char *text = del ? NULL : api->x_to_string(j->doc);
	struct mod_sto_req q = {.op = STO_OP_KV_SET_, .store = ROSTER_STORE, .user = j->user, .value = text,
				.value_len = text ? strlen(text) : 0, .has_value = !del};
	if ((!text && !del) || api->store(j->ctx->host, &q, job_stored, j) < 0)
		job_finish(j, 0);
	free(text);
}

static void job_start(struct roster_job *j)
{
	struct mod_sto_req q = {.op = STO_OP_KV_GET_, .store = ROSTER_STORE, .user = j->user};
	j->running = 1;
	if (api->store(j->ctx->host, &q, job_loaded, j) < 0)
		job_finish(j, 0);
}

/* Queues a job for the user of bare ("user@host"); takes nothing, copies what it keeps. */
static struct roster_job *job_new(struct roster_ctx *ctx, enum roster_job_kind kind, const char *bare)
{
	struct roster_job *j = calloc(1, sizeof(*j));
	const char *at = strchr(bare, '@');
	if (!j || !at || !(j->bare = roster_bare_of(bare)) || !(j->user = strndup(bare, (size_t)(at - bare)))) {
		if (j)
			job_free(j);
		return NULL;
	}
	roster_lower(j->bare);
	roster_lower(j->user);
	j->ctx = ctx;
	j->kind = kind;
	j->outs_tail = &j->outs;
	return j;
}

static void job_queue(struct roster_job *j)
{
	struct roster_ctx *ctx = j->ctx;
	int busy = 0;
	struct roster_job **pp = &ctx->jobs;
	for (; *pp; pp = &(*pp)->next)
		busy |= strcmp((*pp)->user, j->user) == 0;
	*pp = j;
	if (!busy)
		job_start(j);
}

/* ---- event handlers ---- */

static void roster_interested(struct roster_ctx *ctx, const char *full)
{
	for (struct roster_iface *r = ctx->interested; r; r = r->next)
		if (strcmp(r->full, full) == 0)
			return;
	struct roster_iface *r = calloc(1, sizeof(*r));
	if (!r || !(r->full = strdup(full))) {
		free(r);
		return;
	}
	r->next = ctx->interested;
	ctx->interested = r;
}

static int roster_on_get(struct mod_event *ev, void *arg)
{
	struct roster_ctx *ctx = arg;
	struct xnode *q = api->x_child(ev->stanza, "query");
	const char *ver = q ? api->x_attr(q, "ver") : NULL;
	struct roster_job *j = job_new(ctx, RJ_GET, ev->from);
	if (!j || !(j->full = strdup(ev->from)) || !(j->id = strdup(api->x_attr(ev->stanza, "id") ?: "")) ||
	    (ver && !(j->ver = strdup(ver)))) {
		if (j)
			job_free(j);
		api->error(ev, "wait", "internal-server-error");
		return MOD_HANDLED;
	}
	roster_interested(ctx, ev->from);
	job_queue(j);
	return MOD_HANDLED;
}

/* RFC 6121 §2.3.3: one item, a JID, distinct non-empty groups, sizes within limits. */
static const char *roster_set_check(const struct xnode *q, const struct xnode **item_out, const char **type)
{
	const struct xnode *item = NULL;
	size_t n = 0;
	*type = "modify";
	for (const struct xnode *c = q->children; c; c = c->next)
		if (strcmp(c->name, "item") == 0) {
			item = c;
			n++;
		}
	if (n != 1)
		return "bad-request";
	const char *jid = api->x_attr(item, "jid"), *name = api->x_attr(item, "name");
	if (!jid || !*jid || strlen(jid) > 3071 || strchr(jid, ' '))
		return "bad-request";
	if (name && strlen(name) > ROSTER_TEXT_MAX)
		return "not-acceptable";
	for (const struct xnode *g = item->children; g; g = g->next) {
		if (strcmp(g->name, "group") != 0)
			continue;
		if (!g->text || !g->text_len || g->text_len > ROSTER_TEXT_MAX)
			return "not-acceptable";
		for (const struct xnode *h = g->next; h; h = h->next)
			if (strcmp(h->name, "group") == 0 && h->text && strcmp(h->text, g->text) == 0)
				return "bad-request";
	}
	*item_out = item;
	return NULL;
}

static int roster_on_set(struct mod_event *ev, void *arg)
{
	struct roster_ctx *ctx = arg;
	const struct xnode *q = api->x_child(ev->stanza, "query"), *item = NULL;
	const char *type, *cond = q ? roster_set_check(q, &item, &type) : "bad-request";
	if (cond) {
		api->error(ev, type, cond);
		return MOD_HANDLED;
	}
	const char *sub = api->x_attr(item, "subscription");
	int remove = sub && strcmp(sub, "remove") == 0;
	struct roster_job *j = job_new(ctx, remove ? RJ_REMOVE : RJ_SET, ev->from);
	if (!j || !(j->full = strdup(ev->from)) || !(j->id = strdup(api->x_attr(ev->stanza, "id") ?: "")) ||
	    !(j->contact = strdup(api->x_attr(item, "jid"))) || (!remove && !(j->item = mu_copy(api, item)))) {
		if (j)
			job_free(j);
		api->error(ev, "wait", "internal-server-error");
		return MOD_HANDLED;
	}
	roster_lower(j->contact);
	job_queue(j);
	return MOD_HANDLED;
}

static int roster_on_other(struct mod_event *ev, void *arg)
{
	(void)arg;
	api->error(ev, "auth", "forbidden");	/* §2.3.3: another user's roster */
	return MOD_HANDLED;
}

static int sub_kind_of(const char *type)
{
	for (int k = 0; type && k < 4; k++)
		if (strcmp(type, sub_types[k]) == 0)
			return k;
	return -1;
}

static int roster_on_sub(struct mod_event *ev, struct roster_ctx *ctx, int dir)
{
	int kind = sub_kind_of(api->x_attr(ev->stanza, "type"));
	if (kind < 0 || !ev->from || !ev->to || !strchr(ev->to, '@') || !strchr(ev->from, '@'))
		return MOD_PASS;
	const char *user = dir == SUB_OUTBOUND ? ev->from : ev->to;
	const char *contact = dir == SUB_OUTBOUND ? ev->to : ev->from;
	struct roster_job *j = job_new(ctx, dir == SUB_OUTBOUND ? RJ_SUB_OUT : RJ_SUB_IN, user);
	if (!j || !(j->contact = roster_bare_of(contact)) ||
	    (dir == SUB_INBOUND && !(j->stanza = mu_copy(api, ev->stanza)))) {
		if (j)
			job_free(j);
		return MOD_HANDLED;
	}
	roster_lower(j->contact);
	if (j->stanza)
		api->x_set_attr(j->stanza, "from", j->contact);	/* §3.1.3: the bare JID */
	j->sub_kind = kind;
	if (strcmp(j->contact, j->bare) == 0) {	/* one's own account: nothing to keep */
		job_free(j);
		return MOD_HANDLED;
	}
	job_queue(j);
	return MOD_HANDLED;
}

static int roster_on_outbound(struct mod_event *ev, void *arg)
{
	return roster_on_sub(ev, arg, SUB_OUTBOUND);
}

static int roster_on_inbound(struct mod_event *ev, void *arg)
{
	return roster_on_sub(ev, arg, SUB_INBOUND);
}

static int roster_on_initial(struct mod_event *ev, void *arg)
{
	struct roster_job *j = job_new(arg, RJ_LOGIN, ev->from);
	if (j && (j->full = strdup(ev->from)))
		job_queue(j);
	else if (j)
		job_free(j);
	return MOD_PASS;
}

/* After a router restart nobody knows who had asked for the roster: every replayed session
 * gets the pushes (RFC 6121 §2.1.6 allows pushes only to interested resources; a client that
 * never asked ignores them at worst). */
static int roster_on_sync(struct mod_event *ev, void *arg)
{
	roster_interested(arg, ev->from);
	return MOD_PASS;
}

static int roster_on_deleted(struct mod_event *ev, void *arg)
{
	struct roster_job *j = ev->arg ? job_new(arg, RJ_DELETE, ev->arg) : NULL;
	if (j)
		job_queue(j);
	else
		mu_forget(api, ev, ROSTER_STORE, MU_OP_KV_SET);	/* at least the data goes */
	return MOD_PASS;
}

static int roster_on_unbind(struct mod_event *ev, void *arg)
{
	struct roster_ctx *ctx = arg;
	for (struct roster_iface **pp = &ctx->interested; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->full, ev->arg) == 0) {
			struct roster_iface *r = *pp;
			*pp = r->next;
			free(r->full);
			free(r);
			break;
		}
	}
	return MOD_PASS;
}

static const struct mod_hook roster_hooks[] = {
	{"iq-get/self/" NS_ROSTER ":query", roster_on_get, 0},
	{"iq-set/self/" NS_ROSTER ":query", roster_on_set, 0},
	{"iq-get/bare/" NS_ROSTER ":query", roster_on_other, 0},
	{"iq-set/bare/" NS_ROSTER ":query", roster_on_other, 0},
	{"iq-get/host/" NS_ROSTER ":query", roster_on_other, 0},
	{"iq-set/host/" NS_ROSTER ":query", roster_on_other, 0},
	{"pre-presence/bare", roster_on_outbound, 10},
	{"pre-presence/full", roster_on_outbound, 10},
	{"presence/bare", roster_on_inbound, 10},
	{"presence/full", roster_on_inbound, 10},
	{"presence/initial", roster_on_initial, 10},
	{"resource-sync", roster_on_sync, 0},
	{"resource-unbind", roster_on_unbind, 0},
	{"user-deleted", roster_on_deleted, 0},
	{NULL, NULL, 0},
};

static int roster_load(struct mod_host *h, const struct mod_api *a, void **ctx)
{
	struct roster_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	api = a;
	c->host = h;
	*ctx = c;
	return 0;
}

static void roster_unload(struct mod_host *h, void *ctx)
{
	struct roster_ctx *c = ctx;
	(void)h;
	/* jobs still waiting for storage keep their callbacks: they are let go, not freed */
	while (c->interested) {
		struct roster_iface *r = c->interested;
		c->interested = r->next;
		free(r->full);
		free(r);
	}
	if (!c->jobs)
		free(c);
}

static const char *const roster_features[] = {NS_ROSTER, "urn:xmpp:features:rosterver", NULL};

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "roster",
	.flags = MOD_F_USER_HOST,	/* accounts and sessions: never on a component */
	.version = "1",
	.hooks = roster_hooks,
	.features = roster_features,
	.load = roster_load,
	.unload = roster_unload,
};
