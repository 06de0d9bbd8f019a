/* XEP-0202 Entity Time: the server's UTC time; the offset is always +00:00 (the router runs
 * in UTC inside its chroot, and a zone would say where the server is). */
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "mods/mod.h"
#include "workers/router/xnode.h"

#define NS_TIME "urn:xmpp:time"

static struct xnode *mod_time_text(const struct mod_api *api, const char *name, const char *text)
{
	struct xnode *n = api->x_new(name);
	if (n && api->x_set_text(n, text) < 0) {
		api->x_free(n);
		return NULL;
	}
	return n;
}

static int mod_time_answer(struct mod_event *ev, void *ctx)
{
	const struct mod_api *api = ev->api;
	char utc[64];
	struct timespec ts;
	struct tm tm;
	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(utc, sizeof(utc), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(utc + n, sizeof(utc) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	struct xnode *t = api->x_new("time");
	struct xnode *tzo = mod_time_text(api, "tzo", "+00:00");
	struct xnode *u = mod_time_text(api, "utc", utc);
	if (!t || !tzo || !u || api->x_set_attr(t, "xmlns", NS_TIME) < 0) {
		api->x_free(t);
		api->x_free(tzo);
		api->x_free(u);
		api->error(ev, "wait", "internal-server-error");
		return MOD_HANDLED;
	}
	api->x_append_take(t, tzo);
	api->x_append_take(t, u);
	api->reply(ev, t);
	return MOD_HANDLED;
}

static const struct mod_hook mod_time_hooks[] = {
	{"iq-get/host/" NS_TIME ":time", mod_time_answer, 0},
	{NULL, NULL, 0},
};

static const char *const mod_time_features[] = {NS_TIME, NULL};

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "time",
	.version = "1",
	.hooks = mod_time_hooks,
	.features = mod_time_features,
};
