/* XEP-0012 Last Activity, server part: a query to the server answers its uptime in seconds.
 * (A contact's last logout needs the roster and storage: not answered here.) */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include "mods/mod.h"
#include "workers/router/xnode.h"

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

static const struct mod_hook mod_last_hooks[] = {
	{"iq-get/host/" NS_LAST ":query", mod_last_uptime, 0},
	{NULL, NULL, 0},
};

static const char *const mod_last_features[] = {NS_LAST, NULL};

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "last",
	.version = "1",
	.hooks = mod_last_hooks,
	.features = mod_last_features,
};
