/* XEP-0160 offline messages: a message the RFC 6121 rules keep for later (type normal or chat,
 * no available resource) is stored with a <delay/> in the archive store "offline", up to a
 * per-user limit; at the user's initial presence (non-negative priority) they are delivered in
 * order and removed. A nonexistent account, or a full store, is service-unavailable. One job at a
 * time per user keeps the order and the limit exact. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mods/modutil.h"

#define OFFLINE_STORE "offline"
#define OFFLINE_LIMIT_DEFAULT 100u
/* ipc/sto.h */
#define STO_OP_ACCOUNT_EXISTS_ 4u
#define STO_OP_ARCH_APPEND_ 16u
#define STO_OP_ARCH_FIND_ 17u
#define STO_OP_ARCH_DELETE_ 19u
#define STO_OK_ 0
#define STO_ENOTFOUND_ 1
#define STO_OP_KV_GET_ 8u
#define STO_T_EXISTS_ 13u
#define STO_T_VALUE_ 16u
#define STO_T_ITEM_ 28u
#define STO_T_TOTAL_ 27u

static const struct mod_api *api;

enum off_step { OFF_EXISTS, OFF_BLOCKS, OFF_COUNT, OFF_APPEND, OFF_FETCH, OFF_DELETE };

struct off_ctx {
	struct mod_host *host;
	struct off_job *jobs;
	unsigned limit;
	unsigned long pending;
};

struct off_job {
	struct off_ctx *ctx;
	int store;		/* 1: store msg; 0: deliver to full */
	enum off_step step;
	char *user, *with, *full;
	struct xnode *msg;
	int running;
	struct off_job *next;
};

static void off_job_start(struct off_job *j);

static void off_job_done(struct off_job *j)
{
	struct off_ctx *ctx = j->ctx;
	for (struct off_job **pp = &ctx->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	for (struct off_job *n = ctx->jobs; n; n = n->next)
		if (!n->running && strcmp(n->user, j->user) == 0) {
			off_job_start(n);
			break;
		}
	api->x_free(j->msg);
	free(j->user);
	free(j->with);
	free(j->full);
	free(j);
}

static void off_fail(struct off_job *j, const char *cond)
{
	if (j->store && j->msg)
		api->bounce(j->msg, "cancel", cond);
	off_job_done(j);
}

static int off_field_u32(const struct mod_sto_reply *r, unsigned want, uint32_t *v)
{
	size_t off = 0, len;
	unsigned tag;
	const uint8_t *val;
	while (api->sto_next(r->fields, r->len, &off, &tag, &val, &len) == 1)
		if (tag == want && len == 4) {
			*v = (uint32_t)val[0] << 24 | (uint32_t)val[1] << 16 | (uint32_t)val[2] << 8 | val[3];
			return 0;
		}
	return -1;
}

static void off_call(struct off_job *j, const struct mod_sto_req *q);

/* Whether the stored blocklist in r names the sender: its full or bare JID, or its domain. */
static int off_blocked(const struct off_job *j, const struct mod_sto_reply *r)
{
	size_t off = 0, len;
	unsigned tag;
	const uint8_t *val = NULL;
	while (api->sto_next(r->fields, r->len, &off, &tag, &val, &len) == 1 && tag != STO_T_VALUE_)
		val = NULL;
	struct xnode *doc = val ? api->x_parse((const char *)val, len) : NULL;
	const char *full = api->x_attr(j->msg, "from"), *at = strchr(j->with, '@');
	const char *domain = at ? at + 1 : j->with;
	int blocked = 0;
	for (struct xnode *i = doc ? doc->children : NULL; i && !blocked; i = i->next) {
		const char *b = api->x_attr(i, "jid");
		blocked = b && (strcasecmp(b, j->with) == 0 || strcasecmp(b, domain) == 0 ||
				(full && strcasecmp(b, full) == 0));
	}
	api->x_free(doc);
	return blocked;
}

static void off_store_message(struct off_job *j)
{
	char stamp[40];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	struct xnode *d = api->x_new("delay");
	if (!d || api->x_set_attr(d, "xmlns", "urn:xmpp:delay") < 0 ||
	    api->x_set_attr(d, "from", api->host_name(j->ctx->host)) < 0 || api->x_set_attr(d, "stamp", stamp) < 0) {
		api->x_free(d);
		off_fail(j, "internal-server-error");
		return;
	}
	api->x_append_take(j->msg, d);
	char *text = api->x_to_string(j->msg);
	struct mod_sto_req q = {.op = STO_OP_ARCH_APPEND_, .store = OFFLINE_STORE, .user = j->user, .value = text,
				.value_len = text ? strlen(text) : 0, .has_value = 1,
				.when = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u, .with = j->with};
	j->step = OFF_APPEND;
	if (!text) {
		off_fail(j, "internal-server-error");
		return;
	}
	off_call(j, &q);
	free(text);
}

/* Sends every stored message to the full JID in order; 0 when all went out. */
static int off_deliver(struct off_job *j, const struct mod_sto_reply *r)
{
	size_t off = 0, len, ioff, ilen;
	unsigned tag, itag;
	const uint8_t *val, *ival;
	int all = 1;
	while (all && api->sto_next(r->fields, r->len, &off, &tag, &val, &len) == 1) {
		if (tag != STO_T_ITEM_)
			continue;
		for (ioff = 0; api->sto_next(val, len, &ioff, &itag, &ival, &ilen) == 1;) {
			if (itag != STO_T_VALUE_)
				continue;
			struct xnode *m = api->x_parse((const char *)ival, ilen);
			all = m && api->x_set_attr(m, "to", j->full) == 0 && api->send(j->ctx->host, m) == 0;
			api->x_free(m);
		}
	}
	return all ? 0 : -1;
}

static void off_reply(void *arg, const struct mod_sto_reply *r)
{
	struct off_job *j = arg;
	uint32_t v = 0;
	j->ctx->pending--;
	if (r->status != STO_OK_ && !(j->step == OFF_BLOCKS && r->status == STO_ENOTFOUND_)) {
		off_fail(j, "internal-server-error");
		return;
	}
	switch (j->step) {
	case OFF_EXISTS: {
		if (off_field_u32(r, STO_T_EXISTS_, &v) < 0 || !v) {
			off_fail(j, "service-unavailable");	/* RFC 6121 §8.5.1: no such user */
			return;
		}
		/* XEP-0191: what the user blocks is not stored for later either (mod_blocking's list) */
		struct mod_sto_req q = {.op = STO_OP_KV_GET_, .store = "blocklist", .user = j->user};
		j->step = OFF_BLOCKS;
		off_call(j, &q);
		return;
	}
	case OFF_BLOCKS: {
		if (r->status == STO_OK_ && off_blocked(j, r)) {
			off_fail(j, "service-unavailable");
			return;
		}
		struct mod_sto_req q = {.op = STO_OP_ARCH_FIND_, .store = OFFLINE_STORE, .user = j->user,
					.limit = 0, .has_limit = 1, .total = 1};
		j->step = OFF_COUNT;
		off_call(j, &q);
		return;
	}
	case OFF_COUNT:
		if (off_field_u32(r, STO_T_TOTAL_, &v) < 0 || v >= j->ctx->limit) {
			off_fail(j, "service-unavailable");	/* XEP-0160 §4: storage full */
			return;
		}
		off_store_message(j);
		return;
	case OFF_FETCH: {
		if (off_deliver(j, r) < 0) {
			off_job_done(j);	/* kept for the next login */
			return;
		}
		struct mod_sto_req q = {.op = STO_OP_ARCH_DELETE_, .store = OFFLINE_STORE, .user = j->user};
		j->step = OFF_DELETE;
		off_call(j, &q);
		return;
	}
	case OFF_APPEND:
	case OFF_DELETE:
		off_job_done(j);
		return;
	}
}

static void off_call(struct off_job *j, const struct mod_sto_req *q)
{
	if (api->store(j->ctx->host, q, off_reply, j) < 0) {
		off_fail(j, "internal-server-error");
		return;
	}
	j->ctx->pending++;
}

static void off_job_start(struct off_job *j)
{
	j->running = 1;
	if (j->store) {
		struct mod_sto_req q = {.op = STO_OP_ACCOUNT_EXISTS_, .user = j->user};
		j->step = OFF_EXISTS;
		off_call(j, &q);
	} else {
		struct mod_sto_req q = {.op = STO_OP_ARCH_FIND_, .store = OFFLINE_STORE, .user = j->user,
					.limit = j->ctx->limit, .has_limit = 1};
		j->step = OFF_FETCH;
		off_call(j, &q);
	}
}

static char *off_localpart(const char *jid)
{
	const char *at = strchr(jid, '@');
	char *u = at ? strndup(jid, (size_t)(at - jid)) : NULL;
	for (char *c = u; c && *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return u;
}

static void off_queue(struct off_ctx *ctx, struct off_job *j)
{
	int busy = 0;
	struct off_job **pp = &ctx->jobs;
	j->ctx = ctx;
	for (; *pp; pp = &(*pp)->next)
		busy |= strcmp((*pp)->user, j->user) == 0;
	*pp = j;
	if (!busy)
		off_job_start(j);
}

static int off_on_message(struct mod_event *ev, void *arg)
{
	struct off_job *j = calloc(1, sizeof(*j));
	char *t = j ? api->x_to_string(ev->stanza) : NULL;
	if (!j || !t || !(j->msg = api->x_parse(t, strlen(t))) || !(j->user = off_localpart(ev->to)) ||
	    !(j->with = strdup(ev->from ? ev->from : ""))) {
		free(t);
		if (j) {
			api->x_free(j->msg);
			free(j->user);
			free(j);
		}
		return MOD_PASS;	/* the router bounces it */
	}
	free(t);
	char *slash = strchr(j->with, '/');
	if (slash)
		*slash = 0;
	j->store = 1;
	api->x_set_attr(j->msg, "to", ev->to);
	off_queue(arg, j);
	return MOD_HANDLED;
}

static int off_prio_negative(const char *presence)
{
	struct xnode *x = presence ? api->x_parse(presence, strlen(presence)) : NULL;
	struct xnode *p = x ? api->x_child(x, "priority") : NULL;
	int neg = p && p->text && strtol(p->text, NULL, 10) < 0;
	api->x_free(x);
	return neg;
}

static int off_on_initial(struct mod_event *ev, void *arg)
{
	if (off_prio_negative(api->session_presence(ev->origin)))
		return MOD_PASS;	/* XEP-0160 §4: not to a negative priority */
	struct off_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->user = off_localpart(ev->from)) || !(j->full = strdup(ev->from))) {
		if (j)
			free(j->user);
		free(j);
		return MOD_PASS;
	}
	off_queue(arg, j);
	return MOD_PASS;
}

static int off_on_deleted(struct mod_event *ev, void *arg)
{
	(void)arg;
	return mu_forget(api, ev, OFFLINE_STORE, MU_OP_ARCH_DELETE);
}

static const struct mod_hook off_hooks[] = {
	{"user-deleted", off_on_deleted, 0},
	{"message/offline", off_on_message, 0},
	{"presence/initial", off_on_initial, -10},	/* after presence and roster */
	{NULL, NULL, 0},
};

static int off_load(struct mod_host *h, const struct mod_api *a, void **ctx)
{
	struct off_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	api = a;
	c->host = h;
	const char *lim = a->option(h, "offline-limit");
	c->limit = lim ? (unsigned)strtoul(lim, NULL, 10) : OFFLINE_LIMIT_DEFAULT;
	*ctx = c;
	return 0;
}

static void off_unload(struct mod_host *h, void *ctx)
{
	struct off_ctx *c = ctx;
	(void)h;
	if (!c->pending)
		free(c);
}

static const char *const off_features[] = {"msgoffline", NULL};
static const char *const off_keys[] = {"offline-limit", NULL};

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "offline",
	.flags = MOD_F_USER_HOST,	/* accounts and sessions: never on a component */
	.version = "1",
	.hooks = off_hooks,
	.features = off_features,
	.config_keys = off_keys,
	.load = off_load,
	.unload = off_unload,
};
