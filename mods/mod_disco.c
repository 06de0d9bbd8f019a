/* XEP-0030 Service Discovery: disco#info of the server lists the identities and features the
 * host's modules registered (and forms other modules add); disco#items of the server lists its
 * components; a node the server does not know is item-not-found. An account's disco#info
 * answers for its owner, or for anyone while the account is online. On an internal component
 * the host is a component (its modules' identities, else component/generic), not a server. */
#include <stddef.h>
#include <string.h>

#include "mods/mod.h"
#include "workers/router/xnode.h"

#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"

struct mod_disco_fill {
	const struct mod_api *api;
	struct xnode *q;
	int failed;
};

static void mod_disco_add(struct mod_disco_fill *f, const char *name, const char *const *attrs)
{
	struct xnode *n = f->api->x_new(name);
	if (!n) {
		f->failed = 1;
		return;
	}
	for (; attrs[0]; attrs += 2)
		if (attrs[1] && attrs[1][0] && f->api->x_set_attr(n, attrs[0], attrs[1]) < 0)
			f->failed = 1;
	f->api->x_append_take(f->q, n);
}

static void mod_disco_feature(void *arg, const char *var)
{
	const char *attrs[] = {"var", var, NULL};
	mod_disco_add(arg, "feature", attrs);
}

static void mod_disco_identity(void *arg, const char *cat, const char *type, const char *name)
{
	const char *attrs[] = {"category", cat, "type", type, "name", name, NULL};
	mod_disco_add(arg, "identity", attrs);
}

/* Starts the answer to a disco query in f. -1 when the query named a node (we serve none):
 * item-not-found has then been sent and the handler is done. */
static int mod_disco_begin(struct mod_event *ev, const char *ns, struct mod_disco_fill *f)
{
	const struct xnode *in = ev->api->x_child(ev->stanza, "query");
	*f = (struct mod_disco_fill){.api = ev->api};
	if (in && ev->api->x_attr(in, "node")) {
		ev->api->error(ev, "cancel", "item-not-found");
		return -1;
	}
	f->q = ev->api->x_new("query");
	if (f->q && ev->api->x_set_attr(f->q, "xmlns", ns) < 0) {
		ev->api->x_free(f->q);
		f->q = NULL;
	}
	f->failed = !f->q;
	return 0;
}

static int mod_disco_finish(struct mod_event *ev, struct mod_disco_fill *f)
{
	if (f->failed) {
		f->api->x_free(f->q);
		f->api->error(ev, "wait", "internal-server-error");
	} else {
		f->api->reply(ev, f->q);
	}
	return MOD_HANDLED;
}

static void mod_disco_count(void *arg, const char *cat, const char *type, const char *name)
{
	(void)cat, (void)type, (void)name;
	++*(unsigned *)arg;
}

static int mod_disco_host_info(struct mod_event *ev, void *ctx)
{
	(void)ctx;
	struct mod_disco_fill f;
	unsigned nid = 0;
	if (mod_disco_begin(ev, NS_INFO, &f) < 0)
		return MOD_HANDLED;
	if (f.q) {
		if (!f.api->host_is_component(ev->host))
			mod_disco_identity(&f, "server", "im", "xmppd");
		else if (f.api->each_identity(ev->host, mod_disco_count, &nid), nid == 0)
			mod_disco_identity(&f, "component", "generic", NULL);	/* XEP-0030: at least one */
		f.api->each_identity(ev->host, mod_disco_identity, &f);
		f.api->each_feature(ev->host, mod_disco_feature, &f);
		/* XEP-0128 extensions (contact addresses, ...) from the host's other modules */
		f.api->fire_with(ev->host, "disco-info/host", f.q);
	}
	return mod_disco_finish(ev, &f);
}

static void mod_disco_item(void *arg, const char *domain)
{
	const char *attrs[] = {"jid", domain, NULL};
	mod_disco_add(arg, "item", attrs);
}

/* The server's items are its components (MUC, upload, bridges) under its domain. */
static int mod_disco_host_items(struct mod_event *ev, void *ctx)
{
	(void)ctx;
	struct mod_disco_fill f;
	if (mod_disco_begin(ev, NS_ITEMS, &f) < 0)
		return MOD_HANDLED;
	if (f.q)
		f.api->each_component(ev->host, mod_disco_item, &f);
	return mod_disco_finish(ev, &f);
}

/* An account: its owner asks (self), or anyone asks while the account has a resource online. */
static int mod_disco_account_info(struct mod_event *ev, void *ctx)
{
	(void)ctx;
	const char *to = ev->to;
	int self = strcmp(ev->name, "iq-get/self/" NS_INFO ":query") == 0;
	if (!self && !ev->api->user_online(ev->host, to))
		return MOD_PASS;
	struct mod_disco_fill f;
	if (mod_disco_begin(ev, NS_INFO, &f) < 0)
		return MOD_HANDLED;
	if (f.q) {
		mod_disco_identity(&f, "account", "registered", NULL);
		mod_disco_feature(&f, NS_INFO);
	}
	return mod_disco_finish(ev, &f);
}

static void mod_disco_resource(void *arg, struct mod_session *s, const char *full, int prio, const char *presence)
{
	(void)s, (void)prio, (void)presence;
	mod_disco_item(arg, full);
}

/* An account's items: its owner sees its own resources; others see none while it is online. */
static int mod_disco_account_items(struct mod_event *ev, void *ctx)
{
	(void)ctx;
	int self = strcmp(ev->name, "iq-get/self/" NS_ITEMS ":query") == 0;
	if (!self && !ev->api->user_online(ev->host, ev->to))
		return MOD_PASS;
	struct mod_disco_fill f;
	if (mod_disco_begin(ev, NS_ITEMS, &f) < 0)
		return MOD_HANDLED;
	if (f.q && self)
		f.api->each_session(ev->host, ev->to, mod_disco_resource, &f);
	return mod_disco_finish(ev, &f);
}

static const struct mod_hook mod_disco_hooks[] = {
	{"iq-get/bare/" NS_ITEMS ":query", mod_disco_account_items, 0},
	{"iq-get/self/" NS_ITEMS ":query", mod_disco_account_items, 0},
	{"iq-get/host/" NS_INFO ":query", mod_disco_host_info, 0},
	{"iq-get/host/" NS_ITEMS ":query", mod_disco_host_items, 0},
	{"iq-get/bare/" NS_INFO ":query", mod_disco_account_info, 0},
	{"iq-get/self/" NS_INFO ":query", mod_disco_account_info, 0},
	{NULL, NULL, 0},
};

static const char *const mod_disco_features[] = {NS_INFO, NS_ITEMS, NULL};

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "disco",
	.version = "1",
	.hooks = mod_disco_hooks,
	.features = mod_disco_features,
};
