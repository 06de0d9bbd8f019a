/* Admin announcements (as Prosody's mod_announce): a message with a body to
 * <host>/announce/online from an admin of the configuration goes to every online resource of
 * the host, from the host; anyone else gets forbidden. The admin check is the router's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mods/modutil.h"

static const struct mod_api *api;

struct ann_walk {
	struct mod_host *host;
	const struct xnode *body;
	const char *from;
	unsigned sent;
};

static void ann_each(void *arg, struct mod_session *s, const char *full, const char *presence)
{
	struct ann_walk *w = arg;
	(void)s;
	if (!presence)
		return;
	const char *a[] = {"type", "headline", "from", w->from, "to", full, NULL};
	struct xnode *m = mu_el(api, "message", a), *b = mu_copy(api, w->body);
	if (m && b) {
		api->x_append_take(m, b);
		b = NULL;
		if (api->send_to_session(s, m) == 0)
			w->sent++;
	}
	api->x_free(b);
	api->x_free(m);
}

static int ann_on_message(struct mod_event *ev, void *arg)
{
	char target[1100];
	(void)arg;
	snprintf(target, sizeof(target), "%s/announce/online", api->host_name(ev->host));
	if (!ev->to || strcasecmp(ev->to, target) != 0)
		return MOD_PASS;
	char *bare = ev->from ? mu_bare(ev->from) : NULL;
	const struct xnode *body = api->x_child(ev->stanza, "body");
	if (!bare || !api->is_admin(bare)) {
		api->error(ev, "auth", "forbidden");
	} else if (!body) {
		api->error(ev, "modify", "bad-request");
	} else {
		struct ann_walk w = {.host = ev->host, .body = body, .from = api->host_name(ev->host)};
		api->each_host_session(ev->host, ann_each, &w);
		api->log(1, "announce", "announcement sent");
	}
	free(bare);
	return MOD_HANDLED;
}

static const struct mod_hook ann_hooks[] = {
	{"message/host", ann_on_message, 0},
	{NULL, NULL, 0},
};

static int ann_load(struct mod_host *h, const struct mod_api *a, void **ctx)
{
	(void)h, (void)ctx;
	api = a;
	return 0;
}

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "announce",
	.flags = MOD_F_USER_HOST,	/* accounts and sessions: never on a component */
	.version = "1",
	.hooks = ann_hooks,
	.load = ann_load,
};
