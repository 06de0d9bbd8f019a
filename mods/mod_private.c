/* XEP-0049 private XML storage: one element per namespace per user (map store "private",
 * key "ns name"). Another user's storage is forbidden; jabber:* namespaces are not-acceptable;
 * a get of something never stored answers the empty element that was asked for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mods/modutil.h"

#define NS_PRIVATE "jabber:iq:private"
#define PRIVATE_MAX (64u * 1024u)
#define PRIVATE_KEY_MAX 1024u

static const struct mod_api *api;

/* The one payload child of the query, its storage key; NULL with *cond set when refused. */
static const struct xnode *private_item(const struct mod_event *ev, char *key, size_t cap, const char **cond)
{
	const struct xnode *q = api->x_child(ev->stanza, "query"), *c = q ? q->children : NULL;
	const char *ns = c ? api->x_attr(c, "xmlns") : NULL;
	*cond = "bad-request";
	if (!c || c->next || !ns)
		return NULL;
	if (strncmp(ns, "jabber:", 7) == 0) {
		*cond = "not-acceptable";
		return NULL;
	}
	int n = snprintf(key, cap, "%s %s", ns, c->name);
	if (n < 0 || (size_t)n >= cap) {
		*cond = "not-acceptable";
		return NULL;
	}
	return c;
}

static struct xnode *private_query(struct xnode *child)
{
	const char *a[] = {"xmlns", NS_PRIVATE, NULL};
	struct xnode *q = mu_el(api, "query", a);
	if (q && child)
		api->x_append_take(q, child);
	else
		api->x_free(child);
	return q;
}

static void private_got(void *arg, const struct mod_sto_reply *r)
{
	struct mu_iq *q = arg;
	const uint8_t *val;
	size_t len;
	struct xnode *el = NULL;
	if (r->status == MU_STO_OK && mu_field(api, r, MU_T_VALUE, &val, &len) == 0)
		el = api->x_parse((const char *)val, len);
	else if (r->status == MU_STO_ENOTFOUND)
		el = q->data;	/* the empty element asked for */
	if (el == q->data)
		q->data = NULL;
	api->x_free(q->data);
	q->data = NULL;
	if (el)
		mu_iq_result(api, q, private_query(el));
	else
		mu_iq_error(api, q, "wait", "internal-server-error");
}

static void private_stored(void *arg, const struct mod_sto_reply *r)
{
	struct mu_iq *q = arg;
	if (r->status == MU_STO_OK)
		mu_iq_result(api, q, NULL);
	else
		mu_iq_error(api, q, "wait", "internal-server-error");
}

static int private_run(struct mod_event *ev, int set)
{
	char key[PRIVATE_KEY_MAX];
	const char *cond;
	const struct xnode *c = private_item(ev, key, sizeof(key), &cond);
	if (!c) {
		api->error(ev, "modify", cond);
		return MOD_HANDLED;
	}
	char *text = set ? api->x_to_string(c) : NULL;
	if (set && (!text || strlen(text) > PRIVATE_MAX)) {
		free(text);
		api->error(ev, "modify", "not-acceptable");
		return MOD_HANDLED;
	}
	struct mu_iq *q = mu_iq_keep(api, ev);
	char *user = mu_localpart(ev->from);
	struct mod_sto_req r = {.op = set ? MU_OP_MAP_SET : MU_OP_MAP_GET, .store = "private", .user = user,
				.key = key, .value = text, .value_len = text ? strlen(text) : 0, .has_value = set};
	if (q && !set && !(q->data = mu_copy(api, c)))
		q = (mu_iq_free(api, q), NULL);
	if (!q || !user || api->store(ev->host, &r, set ? private_stored : private_got, q) < 0) {
		if (q)
			api->x_free(q->data);
		mu_iq_free(api, q);
		api->error(ev, "wait", "internal-server-error");
	}
	free(user);
	free(text);
	return MOD_HANDLED;
}

static int private_get(struct mod_event *ev, void *ctx)
{
	(void)ctx;
	return private_run(ev, 0);
}

static int private_set(struct mod_event *ev, void *ctx)
{
	(void)ctx;
	return private_run(ev, 1);
}

static int private_forbidden(struct mod_event *ev, void *ctx)
{
	(void)ctx;
	api->error(ev, "cancel", "forbidden");
	return MOD_HANDLED;
}

static int private_on_deleted(struct mod_event *ev, void *arg)
{
	(void)arg;
	return mu_forget(api, ev, "private", MU_OP_MAP_DELETE_USER);
}

static const struct mod_hook private_hooks[] = {
	{"user-deleted", private_on_deleted, 0},
	{"iq-get/self/" NS_PRIVATE ":query", private_get, 0},
	{"iq-set/self/" NS_PRIVATE ":query", private_set, 0},
	{"iq-get/bare/" NS_PRIVATE ":query", private_forbidden, 0},
	{"iq-set/bare/" NS_PRIVATE ":query", private_forbidden, 0},
	{NULL, NULL, 0},
};

static int private_load(struct mod_host *h, const struct mod_api *a, void **ctx)
{
	(void)h, (void)ctx;
	api = a;
	return 0;
}

static const char *const private_features[] = {NS_PRIVATE, NULL};

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "private",
	.flags = MOD_F_USER_HOST,	/* accounts and sessions: never on a component */
	.version = "1",
	.hooks = private_hooks,
	.features = private_features,
	.load = private_load,
};
