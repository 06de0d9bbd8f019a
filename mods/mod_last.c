/* XEP-0012 Last Activity: a query to the server answers its uptime; a query to an account
 * answers the time since its last logout (kept in keyval store "lastlog" when a session ends),
 * 0 while it is online, to contacts subscribed to its presence only (else forbidden); a
 * nonexistent account is service-unavailable. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "mods/modutil.h"

#define NS_LAST "jabber:iq:last"

static int mod_last_uptime(struct mod_event *ev, void *ctx)
{
	const struct mod_api *api = ev->api;
	char secs[24];
	(void)ctx;
	snprintf(secs, sizeof(secs), "%" PRIu64, api->uptime());
	struct xnode *q = api->x_new("query");
	if (!q || api->x_set_attr(q, "xmlns", NS_LAST) < 0 || api->x_set_attr(q, "seconds", secs) < 0) {
		api->x_free(q);
		api->error(ev, "wait", "internal-server-error");
		return MOD_HANDLED;
	}
	api->reply(ev, q);
	return MOD_HANDLED;
}

static struct xnode *mod_last_query(const struct mod_api *api, uint64_t seconds, const char *status)
{
	char secs[24];
	snprintf(secs, sizeof(secs), "%" PRIu64, seconds);
	const char *a[] = {"xmlns", NS_LAST, "seconds", secs, NULL};
	struct xnode *q = mu_el(api, "query", a);
	if (q && status && *status)
		api->x_set_text(q, status);
	return q;
}

static const struct mod_api *last_api;

static void mod_last_got(void *arg, const struct mod_sto_reply *r)
{
	const struct mod_api *api = last_api;
	struct mu_iq *q = arg;
	const uint8_t *val;
	size_t len;
	struct xnode *x = NULL;
	if (r->status == MU_STO_OK && mu_field(api, r, MU_T_VALUE, &val, &len) == 0)
		x = api->x_parse((const char *)val, len);
	if (!x) {
		mu_iq_error(api, q, "cancel", r->status == MU_STO_ENOTFOUND ? "item-not-found" : "internal-server-error");
		return;
	}
	const char *stamp = api->x_attr(x, "stamp");
	int64_t then = stamp ? strtoll(stamp, NULL, 10) : 0, now = (int64_t)time(NULL);
	mu_iq_result(api, q, mod_last_query(api, now > then ? (uint64_t)(now - then) : 0, x->text));
	api->x_free(x);
}

static void mod_last_exists(void *arg, const struct mod_sto_reply *r)
{
	struct mu_iq *q = arg;
	uint32_t exists = 0;
	if (r->status == MU_STO_OK && mu_field_u32(last_api, r, MU_T_EXISTS, &exists) == 0 && !exists)
		mu_iq_error(last_api, q, "cancel", "service-unavailable");
	else
		mu_iq_error(last_api, q, "auth", "forbidden");
}

/* The account's roster says whether the asker is subscribed to its presence (from or both). */
static void mod_last_roster(void *arg, const struct mod_sto_reply *r)
{
	const struct mod_api *api = last_api;
	struct mu_iq *q = arg;
	const uint8_t *val;
	size_t len;
	int allowed = 0;
	char *asker = mu_bare(q->from), *user = mu_localpart(q->to);
	struct xnode *doc = r->status == MU_STO_OK && mu_field(api, r, MU_T_VALUE, &val, &len) == 0
				    ? api->x_parse((const char *)val, len) : NULL;
	for (struct xnode *i = doc ? doc->children : NULL; i && asker; i = i->next) {
		const char *jid = api->x_attr(i, "jid"), *sub = api->x_attr(i, "subscription");
		if (jid && sub && strcasecmp(jid, asker) == 0)
			allowed = strcmp(sub, "from") == 0 || strcmp(sub, "both") == 0;
	}
	api->x_free(doc);
	int gone_user = r->status == MU_STO_ENOTFOUND;
	if (allowed && api->user_online(q->host, q->to)) {
		mu_iq_result(api, q, mod_last_query(api, 0, NULL));
	} else if (allowed) {
		struct mod_sto_req g = {.op = MU_OP_KV_GET, .store = "lastlog", .user = user};
		if (!user || api->store(q->host, &g, mod_last_got, q) < 0)
			mu_iq_error(api, q, "wait", "internal-server-error");
	} else if (gone_user) {
		struct mod_sto_req e = {.op = MU_OP_ACCOUNT_EXISTS, .user = user};
		if (!user || api->store(q->host, &e, mod_last_exists, q) < 0)
			mu_iq_error(api, q, "wait", "internal-server-error");
	} else {
		mu_iq_error(api, q, "auth", "forbidden");
	}
	free(asker);
	free(user);
}

static int mod_last_account(struct mod_event *ev, void *ctx)
{
	const struct mod_api *api = ev->api;
	(void)ctx;
	struct mu_iq *q = mu_iq_keep(api, ev);
	char *user = mu_localpart(ev->to);
	struct mod_sto_req r = {.op = MU_OP_KV_GET, .store = "roster", .user = user};
	if (!q || !user || api->store(ev->host, &r, mod_last_roster, q) < 0) {
		mu_iq_free(api, q);
		api->error(ev, "wait", "internal-server-error");
	}
	free(user);
	return MOD_HANDLED;
}

/* Logout writes in flight, per account: a deletion that comes meanwhile (the router closes the
 * sessions, then fires user-deleted) waits for them, or a late write would bring the entry back.
 * A plain list: the router is single-threaded; it outlives a module instance because storage
 * callbacks may still come after an unload. */
struct last_inflight {
	char *user;
	unsigned writes;
	int delete_after;
	struct mod_host *host;
	struct last_inflight *next;
};
static struct last_inflight *last_writes;

static struct last_inflight *mod_last_inflight(const char *user, int create)
{
	for (struct last_inflight *w = last_writes; w; w = w->next)
		if (strcmp(w->user, user) == 0)
			return w;
	struct last_inflight *w = create ? calloc(1, sizeof(*w)) : NULL;
	if (w && !(w->user = strdup(user))) {
		free(w);
		return NULL;
	}
	if (w) {
		w->next = last_writes;
		last_writes = w;
	}
	return w;
}

static void mod_last_stored(void *arg, const struct mod_sto_reply *r)
{
	struct last_inflight *w = arg;
	(void)r;
	if (--w->writes)
		return;
	if (w->delete_after) {
		struct mod_sto_req d = {.op = MU_OP_KV_SET, .store = "lastlog", .user = w->user};
		last_api->store(w->host, &d, mu_ignore_reply, NULL);
	}
	for (struct last_inflight **pp = &last_writes; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	free(w->user);
	free(w);
}

/* A session ends: its time and last status are kept as the account's last logout. */
static int mod_last_logout(struct mod_event *ev, void *ctx)
{
	const struct mod_api *api = ev->api;
	char stamp[24];
	(void)ctx;
	const char *p = api->session_presence(ev->origin);
	struct xnode *pres = p ? api->x_parse(p, strlen(p)) : NULL;
	struct xnode *st = pres ? api->x_child(pres, "status") : NULL;
	snprintf(stamp, sizeof(stamp), "%lld", (long long)time(NULL));
	const char *a[] = {"stamp", stamp, NULL};
	struct xnode *x = mu_el(api, "last", a);
	if (x && st && st->text)
		api->x_set_text(x, st->text);
	char *text = x ? api->x_to_string(x) : NULL, *user = mu_localpart(ev->from);
	struct mod_sto_req r = {.op = MU_OP_KV_SET, .store = "lastlog", .user = user, .value = text,
				.value_len = text ? strlen(text) : 0, .has_value = 1};
	struct last_inflight *w = text && user ? mod_last_inflight(user, 1) : NULL;
	if (w) {
		w->writes++;
		if (api->store(ev->host, &r, mod_last_stored, w) < 0)
			mod_last_stored(w, NULL);	/* not sent: undo the count */
	}
	free(text);
	free(user);
	api->x_free(x);
	api->x_free(pres);
	return MOD_PASS;
}

static int mod_last_load(struct mod_host *h, const struct mod_api *a, void **ctx)
{
	(void)h, (void)ctx;
	last_api = a;
	return 0;
}

static int mod_last_on_deleted(struct mod_event *ev, void *ctx)
{
	char *user = ev->arg ? mu_localpart(ev->arg) : NULL;
	struct last_inflight *w = user ? mod_last_inflight(user, 0) : NULL;
	(void)ctx;
	free(user);
	if (w) {	/* after the logout writes of the sessions just closed */
		w->delete_after = 1;
		w->host = ev->host;
		return MOD_PASS;
	}
	return mu_forget(ev->api, ev, "lastlog", MU_OP_KV_SET);
}

static const struct mod_hook mod_last_hooks[] = {
	{"user-deleted", mod_last_on_deleted, 0},
	{"iq-get/host/" NS_LAST ":query", mod_last_uptime, 0},
	{"iq-get/bare/" NS_LAST ":query", mod_last_account, 0},
	{"resource-unbind", mod_last_logout, 0},
	{NULL, NULL, 0},
};

static const char *const mod_last_features[] = {NS_LAST, NULL};

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "last",
	.flags = MOD_F_USER_HOST,	/* accounts and sessions: never on a component */
	.version = "1",
	.hooks = mod_last_hooks,
	.features = mod_last_features,
	.load = mod_last_load,
};
