/* XEP-0191 blocking command: blocklist get, block and unblock with pushes to the resources
 * that asked for the list; stanzas from a blocked JID are dropped (messages and IQ requests
 * answered service-unavailable), stanzas to one are refused with not-acceptable + <blocked/>;
 * a newly blocked contact gets unavailable presence from the user's available resources.
 * The list lives in keyval store "blocklist" and, while the user has sessions, in memory; the
 * full-JID hooks are installed only while some online user blocks someone, so the router's
 * header-only fast path stays on otherwise. Who asked for the list is session state (mod.h):
 * the pushes go on after a router restart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mods/modutil.h"

#define NS_BLOCKING "urn:xmpp:blocking"
#define NS_BLOCKED "urn:xmpp:blocking:errors"
#define BLOCK_MAX 1000u
#define BLK_STATE "blocking.asker"	/* session state key: this resource asked for the list */

static const struct mod_api *api;

struct blk_waiter {		/* an IQ waiting for the list to load or to be written */
	struct xnode *iq;
	char *from;
	struct blk_waiter *next;
};

struct blk_user {
	char *bare, *user;
	char **jids;
	size_t n;
	int loaded, writing, dirty, dead;
	struct blk_ctx *ctx;
	char **askers;		/* full JIDs that asked for the list */
	size_t nask;
	struct blk_waiter *waiting;	/* until loaded */
	struct blk_waiter *acks;	/* results sent once the write in flight is durable */
	struct blk_user *next;
};

struct blk_ctx {
	struct mod_host *host;
	struct blk_user *users;
	int full_hooked;
	int bypass;		/* our own unavailable presences to newly blocked contacts pass */
	unsigned long pending;
	unsigned long pushes;
};

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int strv_has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(v[i], s) == 0)
			return 1;
	return 0;
}

static int strv_add(char ***v, size_t *n, const char *s)
{
	if (strv_has(*v, *n, s))
		return 0;
	char **nv = realloc(*v, (*n + 1) * sizeof(char *));
	if (!nv)
		return -1;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return -1;
	(*n)++;
	return 1;
}

static int strv_del(char **v, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcasecmp(v[i], s) == 0) {
			free(v[i]);
			v[i] = v[--*n];
			return 1;
		}
	return 0;
}

static struct blk_user *blk_find(struct blk_ctx *c, const char *bare)
{
	for (struct blk_user *u = c->users; u; u = u->next)
		if (strcasecmp(u->bare, bare) == 0)
			return u;
	return NULL;
}

/* Whether the user of jid (a bare or full JID) blocks other (bare or full). */
static int blk_blocks(struct blk_ctx *c, const char *jid, const char *other)
{
	char *b = jid ? mu_bare(jid) : NULL;
	struct blk_user *u = b ? blk_find(c, b) : NULL;
	free(b);
	if (!u || !u->n || !other)
		return 0;
	char *ob = mu_bare(other);
	const char *slash = strchr(other, '/');
	const char *at = strchr(other, '@');
	const char *domain = at ? at + 1 : other;
	char *dom = slash && slash > domain ? strndup(domain, (size_t)(slash - domain)) : strdup(domain);
	/* XEP-0191 §3.3: a full JID, the bare JID, or the domain */
	int r = strv_has(u->jids, u->n, other) || (ob && strv_has(u->jids, u->n, ob)) ||
		(dom && strv_has(u->jids, u->n, dom));
	free(ob);
	free(dom);
	return r;
}

/* Hooked only while somebody blocks someone; "pre-<kind>/host" are stanzas to a bare domain. */
static const char *const full_events[] = {"pre-message/full", "pre-iq/full", "pre-presence/full",
					  "message/full", "iq/full", "presence/full", "pre-message/host",
					  "pre-iq/host", "pre-presence/host", NULL};

static int blk_on_stanza(struct mod_event *ev, void *arg);

static void blk_rehook(struct blk_ctx *c)
{
	int want = 0;
	for (struct blk_user *u = c->users; u && !want; u = u->next)
		want = u->n > 0;
	if (want == c->full_hooked)
		return;
	for (const char *const *e = full_events; *e; e++) {
		if (want)
			api->hook(c->host, *e, blk_on_stanza, 100, c);
		else
			api->unhook(c->host, *e, blk_on_stanza, c);
	}
	c->full_hooked = want;
}

/* ---- enforcement ---- */

static int blk_on_stanza(struct mod_event *ev, void *arg)
{
	struct blk_ctx *c = arg;
	const char *type = api->x_attr(ev->stanza, "type");
	int outbound = strncmp(ev->name, "pre-", 4) == 0;
	int is_error = type && strcmp(type, "error") == 0;
	if (!ev->from || c->bypass)
		return MOD_PASS;
	/* a bare domain: only what a user sends to another domain (a component's) can be blocked;
	 * one's own server always answers */
	if (!strchr(ev->to, '@') && (!outbound || strcasecmp(ev->to, api->host_name(c->host)) == 0))
		return MOD_PASS;
	if (outbound && blk_blocks(c, ev->from, ev->to)) {
		if (ev->kind != MOD_K_PRESENCE && !is_error)
			api->error_app(ev, "cancel", "not-acceptable", "blocked", NS_BLOCKED);
		return MOD_HANDLED;
	}
	/* inbound; a server-made presence is checked against both lists here */
	int blocked = blk_blocks(c, ev->to, ev->from) || (!ev->origin && blk_blocks(c, ev->from, ev->to));
	if (!blocked)
		return MOD_PASS;
	int request = ev->kind == MOD_K_IQ && type && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0);
	if ((ev->kind == MOD_K_MESSAGE && !is_error) || request)
		api->error(ev, "cancel", "service-unavailable");
	return MOD_HANDLED;
}

/* ---- the list ---- */

static struct xnode *blk_items(const char *name, char **jids, size_t n)
{
	const char *a[] = {"xmlns", NS_BLOCKING, NULL};
	struct xnode *q = mu_el(api, name, a);
	for (size_t i = 0; q && i < n; i++) {
		const char *ia[] = {"jid", jids[i], NULL};
		struct xnode *it = mu_el(api, "item", ia);
		if (it)
			api->x_append_take(q, it);
	}
	return q;
}

static void blk_send_result(struct blk_ctx *c, const struct xnode *req, const char *to, struct xnode *payload)
{
	const char *id = api->x_attr(req, "id");
	const char *a[] = {"type", "result", "id", id ? id : "", "to", to, NULL};
	struct xnode *iq = mu_el(api, "iq", a);
	if (iq && payload)
		api->x_append_take(iq, payload);
	else
		api->x_free(payload);
	if (iq)
		api->send(c->host, iq);
	api->x_free(iq);
}

static void blk_push(struct blk_ctx *c, struct blk_user *u, const char *op, char **jids, size_t n)
{
	for (size_t i = 0; i < u->nask; i++) {
		char id[32];
		snprintf(id, sizeof(id), "blk%lu", ++c->pushes);
		const char *a[] = {"type", "set", "id", id, "to", u->askers[i], NULL};
		struct xnode *iq = mu_el(api, "iq", a), *p = blk_items(op, jids, n);
		if (iq && p) {
			api->x_append_take(iq, p);
			p = NULL;
			api->send(c->host, iq);
		}
		api->x_free(p);
		api->x_free(iq);
	}
}

static void blk_user_free(struct blk_user *u)
{
	for (struct blk_waiter *w = u->waiting, *n; w; w = n) {
		n = w->next;
		api->x_free(w->iq);
		free(w->from);
		free(w);
	}
	for (struct blk_waiter *w = u->acks, *n; w; w = n) {
		n = w->next;
		api->x_free(w->iq);
		free(w->from);
		free(w);
	}
	strv_free(u->jids, u->n);
	strv_free(u->askers, u->nask);
	free(u->bare);
	free(u->user);
	free(u);
}

static void blk_unlink(struct blk_ctx *c, struct blk_user *u)
{
	for (struct blk_user **pp = &c->users; *pp; pp = &(*pp)->next)
		if (*pp == u) {
			*pp = u->next;
			return;
		}
}

static void blk_write(struct blk_user *u);

static void blk_written(void *arg, const struct mod_sto_reply *r)
{
	struct blk_user *u = arg;
	struct blk_ctx *c = u->ctx;
	struct blk_waiter *w = u->acks;
	c->pending--;
	u->acks = NULL;
	u->writing = 0;
	while (w) {
		struct blk_waiter *n = w->next;
		if (r->status == MU_STO_OK)
			blk_send_result(c, w->iq, w->from, NULL);
		else if (api->x_set_attr(w->iq, "from", w->from) == 0)
			api->bounce(w->iq, "wait", "internal-server-error");
		api->x_free(w->iq);
		free(w->from);
		free(w);
		w = n;
	}
	if (u->dead && !u->dirty) {
		blk_user_free(u);
		return;
	}
	if (u->dirty)
		blk_write(u);
}

static void blk_write(struct blk_user *u)
{
	struct blk_ctx *c = u->ctx;
	struct xnode *doc = blk_items("blocklist", u->jids, u->n);
	char *text = doc ? api->x_to_string(doc) : NULL;
	struct mod_sto_req q = {.op = MU_OP_KV_SET, .store = "blocklist", .user = u->user, .value = text,
				.value_len = text ? strlen(text) : 0, .has_value = 1};
	api->x_free(doc);
	u->dirty = 0;
	if (!text || api->store(c->host, &q, blk_written, u) < 0) {
		struct mod_sto_reply fail = {.status = -1};
		c->pending++;
		u->writing = 1;
		free(text);
		blk_written(u, &fail);
		return;
	}
	free(text);
	c->pending++;
	u->writing = 1;
}

/* Acknowledged once durable: a write in flight is followed by one more. */
static void blk_save(struct blk_user *u, const struct xnode *iq, const char *from)
{
	struct blk_waiter *w = calloc(1, sizeof(*w));
	if (w && (w->iq = mu_copy(api, iq)) && (w->from = strdup(from))) {
		w->next = u->acks;
		u->acks = w;
	} else if (w) {
		api->x_free(w->iq);
		free(w);
	}
	if (u->writing)
		u->dirty = 1;
	else
		blk_write(u);
}

struct blk_unavail {
	struct blk_ctx *c;
	const char *to;
};

static void blk_tell_unavailable(void *arg, struct mod_session *s, const char *full, int prio, const char *pres)
{
	struct blk_unavail *b = arg;
	(void)s, (void)prio;
	if (!pres)
		return;
	const char *a[] = {"type", "unavailable", "from", full, "to", b->to, NULL};
	struct xnode *p = mu_el(api, "presence", a);
	if (p) {
		b->c->bypass = 1;
		api->send(b->c->host, p);
		b->c->bypass = 0;
	}
	api->x_free(p);
}

/* One blocklist IQ from one of the user's resources; the list is loaded. */
static void blk_run(struct blk_ctx *c, struct blk_user *u, const struct xnode *iq, const char *from)
{
	const char *type = api->x_attr(iq, "type");
	struct xnode *q = iq->children;
	if (!q)
		return;
	if (type && strcmp(type, "get") == 0) {
		strv_add(&u->askers, &u->nask, from);
		blk_send_result(c, iq, from, blk_items("blocklist", u->jids, u->n));
		return;
	}
	int block = strcmp(q->name, "block") == 0;
	char **changed = NULL;
	size_t nchanged = 0, nitems = 0;
	for (struct xnode *it = q->children; it; it = it->next) {
		const char *jid = strcmp(it->name, "item") == 0 ? api->x_attr(it, "jid") : NULL;
		if (!jid)
			continue;
		nitems++;
		if (block ? (u->n < BLOCK_MAX && strv_add(&u->jids, &u->n, jid) == 1) : strv_del(u->jids, &u->n, jid))
			strv_add(&changed, &nchanged, jid);
	}
	if (!block && !nitems) {	/* unblock everything */
		changed = u->jids;
		nchanged = u->n;
		u->jids = NULL;
		u->n = 0;
	}
	for (size_t i = 0; block && i < nchanged; i++) {
		struct blk_unavail b = {.c = c, .to = changed[i]};
		api->each_session(c->host, u->bare, blk_tell_unavailable, &b);
	}
	if (nchanged || (!block && !nitems))
		blk_push(c, u, block ? "block" : "unblock", changed, block || nitems ? nchanged : 0);
	strv_free(changed, nchanged);
	blk_rehook(c);
	blk_save(u, iq, from);
}

static void blk_loaded(void *arg, const struct mod_sto_reply *r)
{
	struct blk_user *u = arg;
	struct blk_ctx *c = u->ctx;
	const uint8_t *val;
	size_t len;
	c->pending--;
	if (u->dead) {
		blk_user_free(u);
		return;
	}
	if (r->status == MU_STO_OK && mu_field(api, r, MU_T_VALUE, &val, &len) == 0) {
		struct xnode *doc = api->x_parse((const char *)val, len);
		for (struct xnode *it = doc ? doc->children : NULL; it; it = it->next)
			if (api->x_attr(it, "jid"))
				strv_add(&u->jids, &u->n, api->x_attr(it, "jid"));
		api->x_free(doc);
	}
	u->loaded = 1;
	blk_rehook(c);
	struct blk_waiter *w = u->waiting;
	u->waiting = NULL;
	/* oldest first */
	struct blk_waiter *rev = NULL;
	while (w) {
		struct blk_waiter *n = w->next;
		w->next = rev;
		rev = w;
		w = n;
	}
	while (rev) {
		struct blk_waiter *n = rev->next;
		blk_run(c, u, rev->iq, rev->from);
		api->x_free(rev->iq);
		free(rev->from);
		free(rev);
		rev = n;
	}
}

static struct blk_user *blk_user_get(struct blk_ctx *c, const char *jid)
{
	char *bare = mu_bare(jid);
	struct blk_user *u = bare ? blk_find(c, bare) : NULL;
	if (u || !bare) {
		free(bare);
		return u;
	}
	u = calloc(1, sizeof(*u));
	if (!u || !(u->user = mu_localpart(bare))) {
		free(u);
		free(bare);
		return NULL;
	}
	u->bare = bare;
	u->ctx = c;
	u->next = c->users;
	c->users = u;
	struct mod_sto_req q = {.op = MU_OP_KV_GET, .store = "blocklist", .user = u->user};
	if (api->store(c->host, &q, blk_loaded, u) < 0)
		u->loaded = 1;	/* storage down: an empty list, not a stuck one */
	else
		c->pending++;
	return u;
}

static int blk_on_iq(struct mod_event *ev, void *arg)
{
	struct blk_ctx *c = arg;
	struct blk_user *u = blk_user_get(c, ev->from);
	const struct xnode *q = ev->stanza->children;
	const char *type = api->x_attr(ev->stanza, "type");
	if (!u || !q) {
		api->error(ev, "wait", "internal-server-error");
		return MOD_HANDLED;
	}
	if (strcmp(type, "set") == 0 && strcmp(q->name, "block") == 0) {	/* §3.3: at least one item */
		int n = 0;
		for (const struct xnode *it = q->children; it; it = it->next)
			n += strcmp(it->name, "item") == 0 && api->x_attr(it, "jid") && *api->x_attr(it, "jid");
		if (!n) {
			api->error(ev, "modify", "bad-request");
			return MOD_HANDLED;
		}
	}
	/* a requester gets pushes (§3.4); that is session state, kept over a router restart */
	if (strcmp(type, "get") == 0)
		api->session_state_set(ev->origin, BLK_STATE, "1", 1);
	if (u->loaded) {
		blk_run(c, u, ev->stanza, ev->from);
		return MOD_HANDLED;
	}
	struct blk_waiter *w = calloc(1, sizeof(*w));
	if (!w || !(w->iq = mu_copy(api, ev->stanza)) || !(w->from = strdup(ev->from))) {
		if (w)
			api->x_free(w->iq);
		free(w);
		api->error(ev, "wait", "internal-server-error");
		return MOD_HANDLED;
	}
	w->next = u->waiting;
	u->waiting = w;
	return MOD_HANDLED;
}

static int blk_on_bind(struct mod_event *ev, void *arg)
{
	blk_user_get(arg, ev->from);
	return MOD_PASS;
}

static int blk_on_sync(struct mod_event *ev, void *arg)
{
	struct blk_user *u = blk_user_get(arg, ev->from);
	if (u && api->session_state_get(ev->origin, BLK_STATE, NULL))
		strv_add(&u->askers, &u->nask, ev->from);
	return MOD_PASS;
}

static void blk_count(void *arg, struct mod_session *s, const char *full, int prio, const char *pres)
{
	(void)s, (void)full, (void)prio, (void)pres;
	(*(int *)arg)++;
}

static int blk_on_unbind(struct mod_event *ev, void *arg)
{
	struct blk_ctx *c = arg;
	char *bare = mu_bare(ev->from);
	struct blk_user *u = bare ? blk_find(c, bare) : NULL;
	int n = 0;
	if (u) {
		strv_del(u->askers, &u->nask, ev->from);
		api->each_session(c->host, bare, blk_count, &n);
	}
	if (u && n <= 1) {	/* the ending session is still counted */
		blk_unlink(c, u);
		if (u->writing || !u->loaded)
			u->dead = 1;
		else
			blk_user_free(u);
		blk_rehook(c);
	}
	free(bare);
	return MOD_PASS;
}

static int blk_on_deleted(struct mod_event *ev, void *arg)
{
	(void)arg;
	return mu_forget(api, ev, "blocklist", MU_OP_KV_SET);
}

static const struct mod_hook blk_hooks[] = {
	{"user-deleted", blk_on_deleted, 0},
	{"iq-get/self/" NS_BLOCKING ":blocklist", blk_on_iq, 0},
	{"iq-set/self/" NS_BLOCKING ":block", blk_on_iq, 0},
	{"iq-set/self/" NS_BLOCKING ":unblock", blk_on_iq, 0},
	{"pre-message/bare", blk_on_stanza, 100},
	{"pre-iq/bare", blk_on_stanza, 100},
	{"pre-presence/bare", blk_on_stanza, 100},
	{"message/bare", blk_on_stanza, 100},
	{"iq/bare", blk_on_stanza, 100},
	{"presence/bare", blk_on_stanza, 100},
	{"resource-bind", blk_on_bind, 0},
	{"resource-sync", blk_on_sync, 0},
	{"resource-unbind", blk_on_unbind, 0},
	{NULL, NULL, 0},
};

static int blk_load(struct mod_host *h, const struct mod_api *a, void **ctx)
{
	struct blk_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	api = a;
	c->host = h;
	*ctx = c;
	return 0;
}

static void blk_unload(struct mod_host *h, void *ctx)
{
	struct blk_ctx *c = ctx;
	(void)h;
	while (c->users) {
		struct blk_user *u = c->users;
		c->users = u->next;
		if (u->writing || !u->loaded)
			u->dead = 1;	/* its storage callback frees it */
		else
			blk_user_free(u);
	}
	if (c->full_hooked)
		for (const char *const *e = full_events; *e; e++)
			api->unhook(c->host, *e, blk_on_stanza, c);
	if (!c->pending)
		free(c);
}

static const char *const blk_features[] = {NS_BLOCKING, NULL};

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "blocking",
	.flags = MOD_F_USER_HOST,	/* accounts and sessions: never on a component */
	.version = "1",
	.hooks = blk_hooks,
	.features = blk_features,
	.load = blk_load,
	.unload = blk_unload,
};
