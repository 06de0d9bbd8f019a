/* XEP-0199 XMPP Ping: the server answers a ping addressed to it (or to the pinger's own
 * account) with an empty result. Pings between clients are routed like any other IQ. */
#include <stddef.h>

#include "mods/mod.h"

#define NS_PING "urn:xmpp:ping"

static int mod_ping_answer(struct mod_event *ev, void *ctx)
{
	(void)ctx;
	ev->api->reply(ev, NULL);
	return MOD_HANDLED;
}

static const struct mod_hook mod_ping_hooks[] = {
	{"iq-get/host/" NS_PING ":ping", mod_ping_answer, 0},
	{"iq-get/self/" NS_PING ":ping", mod_ping_answer, 0},
	{NULL, NULL, 0},
};

static const char *const mod_ping_features[] = {NS_PING, NULL};

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "ping",
	.version = "1",
	.hooks = mod_ping_hooks,
	.features = mod_ping_features,
};
