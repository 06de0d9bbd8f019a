/* RFC 6121 §4: presence broadcast to the contacts subscribed to the user, probes sent at initial
 * presence and answered with the last presence of each available resource, directed presence
 * tracked and ended with the session, unavailable when a session ends however it ends (also
 * when its c2s worker dies); the directed list is session state, so it survives a router restart.
 * Reads the roster that mod_roster keeps (keyval store "roster"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mods/mod.h"
#include "workers/router/xnode.h"

#define STO_OP_KV_GET_ 8u
#define STO_OK_ 0
#define STO_T_VALUE_ 16u
#define DIRECTED_MAX 256u	/* directed presences remembered per session */
#define PRES_STATE "presence.directed"	/* session state key */

static const struct mod_api *api;

struct pres_directed {
	char *full;		/* the sending session */
	char **to;
	size_t nto;
	struct pres_directed *next;
};

struct pres_ctx {
	struct mod_host *host;
	struct pres_directed *directed;
	unsigned long pending;	/* storage calls in flight */
};

enum pres_job_kind { PJ_BROADCAST, PJ_PROBE_ANSWER };

struct pres_job {
	struct pres_ctx *ctx;
	enum pres_job_kind kind;
	char *user;		/* localpart of the roster to read */
	char *bare;
	char *peer;		/* PJ_PROBE_ANSWER: who probed */
	struct xnode *presence;	/* PJ_BROADCAST: what to send (from the full JID); NULL = probes only */
	int probe;		/* PJ_BROADCAST: also probe the contacts we are subscribed to */
};

static void pres_job_free(struct pres_job *j)
{
	api->x_free(j->presence);
	free(j->user);
	free(j->bare);
	free(j->peer);
	free(j);
}

static char *pres_bare(const char *jid)
{
	const char *slash = strchr(jid, '/');
	char *b = slash ? strndup(jid, (size_t)(slash - jid)) : strdup(jid);
	for (char *c = b; c && *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return b;
}

static struct xnode *pres_copy(const struct xnode *x)
{
	char *t = api->x_to_string(x);
	struct xnode *c = t ? api->x_parse(t, strlen(t)) : NULL;
	free(t);
	return c;
}

static void pres_send(struct pres_ctx *ctx, struct xnode *x, const char *to)
{
	if (api->x_set_attr(x, "to", to) == 0)
		api->send(ctx->host, x);
}

/* Subscription of the roster item for jid, as SUB bits: 1 = to, 2 = from. */
static int pres_sub_bits(const struct xnode *item)
{
	const char *s = api->x_attr(item, "subscription");
	if (!s)
		return 0;
	return strcmp(s, "both") == 0 ? 3 : strcmp(s, "to") == 0 ? 1 : strcmp(s, "from") == 0 ? 2 : 0;
}

static void answer_probe(void *arg, struct mod_session *s, const char *full, int prio, const char *presence)
{
	struct pres_job *j = arg;
	(void)s, (void)prio;
	struct xnode *x = presence ? api->x_parse(presence, strlen(presence)) : NULL;
	if (x && api->x_set_attr(x, "from", full) == 0)
		pres_send(j->ctx, x, j->peer);
	api->x_free(x);
}

static void pres_roster_loaded(void *arg, const struct mod_sto_reply *r)
{
	struct pres_job *j = arg;
	const uint8_t *val = NULL;
	size_t vlen = 0, off = 0;
	unsigned tag;
	j->ctx->pending--;
	if (r->status == STO_OK_)
		while (api->sto_next(r->fields, r->len, &off, &tag, &val, &vlen) == 1 && tag != STO_T_VALUE_)
			val = NULL;
	struct xnode *doc = val ? api->x_parse((const char *)val, vlen) : NULL;
	for (struct xnode *i = doc ? doc->children : NULL; i; i = i->next) {
		const char *jid = api->x_attr(i, "jid");
		int bits = pres_sub_bits(i);
		if (!jid)
			continue;
		if (j->kind == PJ_PROBE_ANSWER) {
			/* §4.3.2: only a contact subscribed to the user's presence learns it */
			if ((bits & 2) && strcasecmp(jid, j->peer) == 0)
				api->each_session(j->ctx->host, j->bare, answer_probe, j);
			continue;
		}
		if ((bits & 2) && j->presence)
			pres_send(j->ctx, j->presence, jid);
		if ((bits & 1) && j->probe) {
			struct xnode *p = api->x_new("presence");
			if (p && api->x_set_attr(p, "type", "probe") == 0 && api->x_set_attr(p, "from", j->bare) == 0)
				pres_send(j->ctx, p, jid);
			api->x_free(p);
		}
	}
	api->x_free(doc);
	pres_job_free(j);
}

static struct pres_job *pres_job_new(struct pres_ctx *ctx, enum pres_job_kind kind, const char *jid)
{
	struct pres_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->ctx = ctx;
	j->kind = kind;
	j->bare = pres_bare(jid);
	const char *at = j->bare ? strchr(j->bare, '@') : NULL;
	if (!at || !(j->user = strndup(j->bare, (size_t)(at - j->bare)))) {
		pres_job_free(j);
		return NULL;
	}
	return j;
}

static void pres_job_run(struct pres_job *j)
{
	struct mod_sto_req q = {.op = STO_OP_KV_GET_, .store = "roster", .user = j->user};
	if (api->store(j->ctx->host, &q, pres_roster_loaded, j) < 0) {
		pres_job_free(j);
		return;
	}
	j->ctx->pending++;
}

/* ---- directed presence (§4.6) ---- */

static struct pres_directed *directed_of(struct pres_ctx *ctx, const char *full, int create)
{
	for (struct pres_directed *d = ctx->directed; d; d = d->next)
		if (strcmp(d->full, full) == 0)
			return d;
	if (!create)
		return NULL;
	struct pres_directed *d = calloc(1, sizeof(*d));
	if (!d || !(d->full = strdup(full))) {
		free(d);
		return NULL;
	}
	d->next = ctx->directed;
	ctx->directed = d;
	return d;
}

static void directed_forget(struct pres_ctx *ctx, const char *full, const char *to)
{
	struct pres_directed *d = directed_of(ctx, full, 0);
	for (size_t i = 0; d && i < d->nto; i++) {
		if (strcasecmp(d->to[i], to) == 0) {
			free(d->to[i]);
			d->to[i] = d->to[--d->nto];
			return;
		}
	}
}

static void directed_remember(struct pres_ctx *ctx, const char *full, const char *to)
{
	struct pres_directed *d = directed_of(ctx, full, 1);
	if (!d || d->nto >= DIRECTED_MAX)
		return;
	for (size_t i = 0; i < d->nto; i++)
		if (strcasecmp(d->to[i], to) == 0)
			return;
	char **v = realloc(d->to, (d->nto + 1) * sizeof(char *));
	if (!v)
		return;
	d->to = v;
	if ((v[d->nto] = strdup(to)))
		d->nto++;
}

/* Sends unavailable from full to everyone it sent directed presence to, and forgets them. */
static void directed_end(struct pres_ctx *ctx, const char *full)
{
	for (struct pres_directed **pp = &ctx->directed; *pp; pp = &(*pp)->next) {
		struct pres_directed *d = *pp;
		if (strcmp(d->full, full) != 0)
			continue;
		*pp = d->next;
		for (size_t i = 0; i < d->nto; i++) {
			struct xnode *u = api->x_new("presence");
			if (u && api->x_set_attr(u, "type", "unavailable") == 0 && api->x_set_attr(u, "from", full) == 0)
				pres_send(ctx, u, d->to[i]);
			api->x_free(u);
			free(d->to[i]);
		}
		free(d->to);
		free(d->full);
		free(d);
		return;
	}
}

/* The session's directed presences are session state (mod.h), NUL-separated, so that the
 * unavailable they are owed still goes out after a router restart (read back at resource-sync). */
static void directed_save(struct pres_ctx *ctx, struct mod_session *s, const char *full)
{
	struct pres_directed *d = directed_of(ctx, full, 0);
	size_t len = 0;
	for (size_t i = 0; d && i < d->nto; i++)
		len += strlen(d->to[i]) + 1;
	char *v = len ? malloc(len) : NULL, *p = v;
	for (size_t i = 0; v && i < d->nto; i++) {
		size_t n = strlen(d->to[i]) + 1;
		memcpy(p, d->to[i], n);
		p += n;
	}
	if ((len && !v) || api->session_state_set(s, PRES_STATE, v, len) < 0)
		api->log(3, "presence", "directed presence list not kept for a router restart");
	free(v);
}

static int pres_on_sync(struct mod_event *ev, void *arg)
{
	size_t len = 0;
	const char *v = api->session_state_get(ev->origin, PRES_STATE, &len);
	for (size_t off = 0; v && off < len;) {
		const char *end = memchr(v + off, 0, len - off);
		if (!end)
			break;
		if (end > v + off)
			directed_remember(arg, ev->from, v + off);
		off = (size_t)(end - v) + 1;
	}
	return MOD_PASS;
}

/* ---- handlers ---- */

static void pres_broadcast(struct pres_ctx *ctx, const char *full, const struct xnode *presence, int probe)
{
	struct pres_job *j = pres_job_new(ctx, PJ_BROADCAST, full);
	if (!j)
		return;
	if (!(j->presence = pres_copy(presence)) || api->x_set_attr(j->presence, "from", full) < 0 ||
	    api->x_set_attr(j->presence, "to", NULL) < 0) {
		pres_job_free(j);
		return;
	}
	j->probe = probe;
	pres_job_run(j);
}

/* A presence without 'to' from a client: broadcast (§4.2, §4.4, §4.5). */
static int pres_on_outbound(struct mod_event *ev, void *arg)
{
	struct pres_ctx *ctx = arg;
	const char *type = api->x_attr(ev->stanza, "type");
	if (!ev->origin || !ev->from)
		return MOD_PASS;
	if (strchr(ev->to, '@')) {
		/* directed presence (§4.6): remembered while the session lasts */
		if (!type)
			directed_remember(ctx, ev->from, ev->to);
		else if (strcmp(type, "unavailable") == 0)
			directed_forget(ctx, ev->from, ev->to);
		if (!type || strcmp(type, "unavailable") == 0)
			directed_save(ctx, ev->origin, ev->from);
		return MOD_PASS;
	}
	if (type && strcmp(type, "unavailable") != 0)
		return MOD_PASS;
	if (type && directed_of(ctx, ev->from, 0)) {
		directed_end(ctx, ev->from);
		directed_save(ctx, ev->origin, ev->from);
	}
	pres_broadcast(ctx, ev->from, ev->stanza, 0);
	return MOD_PASS;	/* the router sends it to the user's own resources */
}

/* §4.2.2: the broadcast itself went out with pre-presence/bare; the contacts the user is
 * subscribed to are probed once per session. */
static int pres_on_initial(struct mod_event *ev, void *arg)
{
	struct pres_job *j = pres_job_new(arg, PJ_BROADCAST, ev->from);
	if (j) {
		j->probe = 1;
		pres_job_run(j);
	}
	return MOD_PASS;
}

static int pres_on_probe(struct mod_event *ev, void *arg)
{
	const char *type = api->x_attr(ev->stanza, "type");
	if (!type || strcmp(type, "probe") != 0 || !ev->from || !strchr(ev->to, '@'))
		return MOD_PASS;
	struct pres_job *j = pres_job_new(arg, PJ_PROBE_ANSWER, ev->to);
	if (j && (j->peer = pres_bare(ev->from)))
		pres_job_run(j);
	else if (j)
		pres_job_free(j);
	return MOD_HANDLED;
}

struct pres_unbind {
	const struct mod_session *gone;
	const struct xnode *x;
};

static void tell_own(void *arg, struct mod_session *s, const char *full, int prio, const char *presence)
{
	struct pres_unbind *u = arg;
	(void)full, (void)prio;
	if (s != u->gone && presence)
		api->send_to_session(s, u->x);
}

/* §4.5.2 and §4.6.3: a session that ends while available says unavailable for it. */
static int pres_on_unbind(struct mod_event *ev, void *arg)
{
	struct pres_ctx *ctx = arg;
	const char *was = api->session_presence(ev->origin);
	if (was) {
		struct xnode *u = api->x_new("presence");
		if (u && api->x_set_attr(u, "type", "unavailable") == 0 && api->x_set_attr(u, "from", ev->from) == 0) {
			char *bare = pres_bare(ev->from);
			struct pres_unbind pu = {.gone = ev->origin, .x = u};
			if (bare)
				api->each_session(ctx->host, bare, tell_own, &pu);
			free(bare);
			pres_broadcast(ctx, ev->from, u, 0);
		}
		api->x_free(u);
	}
	directed_end(ctx, ev->from);
	return MOD_PASS;
}

static const struct mod_hook pres_hooks[] = {
	{"pre-presence/bare", pres_on_outbound, 0},
	{"pre-presence/full", pres_on_outbound, 0},
	{"presence/initial", pres_on_initial, 0},
	{"presence/bare", pres_on_probe, 5},
	{"presence/full", pres_on_probe, 5},
	{"resource-unbind", pres_on_unbind, 0},
	{"resource-sync", pres_on_sync, 0},
	{NULL, NULL, 0},
};

static int pres_load(struct mod_host *h, const struct mod_api *a, void **ctx)
{
	struct pres_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	api = a;
	c->host = h;
	*ctx = c;
	return 0;
}

static void pres_unload(struct mod_host *h, void *ctx)
{
	struct pres_ctx *c = ctx;
	(void)h;
	while (c->directed) {
		struct pres_directed *d = c->directed;
		c->directed = d->next;
		for (size_t i = 0; i < d->nto; i++)
			free(d->to[i]);
		free(d->to);
		free(d->full);
		free(d);
	}
	if (!c->pending)	/* calls in flight still hold it */
		free(c);
}

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "presence",
	.flags = MOD_F_USER_HOST,	/* accounts and sessions: never on a component */
	.version = "1",
	.hooks = pres_hooks,
	.load = pres_load,
	.unload = pres_unload,
};
