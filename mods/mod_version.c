/* XEP-0092 Software Version: the server's name and version. The operating system is not
 * disclosed (XEP-0092 §4 leaves it optional; it helps attackers more than users). */
#include <stddef.h>

#include "mods/mod.h"
#include "workers/router/xnode.h"

#define NS_VERSION "jabber:iq:version"

static struct xnode *mod_version_text(const struct mod_api *api, const char *name, const char *text)
{
	struct xnode *n = api->x_new(name);
	if (n && api->x_set_text(n, text) < 0) {
		api->x_free(n);
		return NULL;
	}
	return n;
}

static int mod_version_answer(struct mod_event *ev, void *ctx)
{
	const struct mod_api *api = ev->api;
	(void)ctx;
	struct xnode *q = api->x_new("query");
	struct xnode *name = mod_version_text(api, "name", "xmppd");
	struct xnode *ver = mod_version_text(api, "version", api->server_version());
	if (!q || !name || !ver || api->x_set_attr(q, "xmlns", NS_VERSION) < 0) {
		api->x_free(q);
		api->x_free(name);
		api->x_free(ver);
		ev->api->error(ev, "wait", "internal-server-error");
		return MOD_HANDLED;
	}
	api->x_append_take(q, name);
	api->x_append_take(q, ver);
	api->reply(ev, q);
	return MOD_HANDLED;
}

static const struct mod_hook mod_version_hooks[] = {
	{"iq-get/host/" NS_VERSION ":query", mod_version_answer, 0},
	{NULL, NULL, 0},
};

static const char *const mod_version_features[] = {NS_VERSION, NULL};

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "version",
	.version = "1",
	.hooks = mod_version_hooks,
	.features = mod_version_features,
};
