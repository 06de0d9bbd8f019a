/* XEP-0054 vcard-temp: a user stores their own vCard (keyval store "vcard") and anyone may read
 * it; another user's vCard cannot be set (forbidden); a nonexistent account is
 * service-unavailable; an account without one answers an empty vCard. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mods/modutil.h"

#define NS_VCARD "vcard-temp"
#define VCARD_MAX (64u * 1024u)

static const struct mod_api *api;

static struct xnode *vcard_empty(void)
{
	const char *a[] = {"xmlns", NS_VCARD, NULL};
	return mu_el(api, "vCard", a);
}

static void vcard_exists(void *arg, const struct mod_sto_reply *r)
{
	struct mu_iq *q = arg;
	uint32_t exists = 0;
	if (r->status == MU_STO_OK && mu_field_u32(api, r, MU_T_EXISTS, &exists) == 0 && exists)
		mu_iq_result(api, q, vcard_empty());
	else
		mu_iq_error(api, q, "cancel", r->status == MU_STO_OK ? "service-unavailable" : "internal-server-error");
}

static void vcard_got(void *arg, const struct mod_sto_reply *r)
{
	struct mu_iq *q = arg;
	const uint8_t *val;
	size_t len;
	if (r->status == MU_STO_OK && mu_field(api, r, MU_T_VALUE, &val, &len) == 0) {
		struct xnode *v = api->x_parse((const char *)val, len);
		if (v)
			mu_iq_result(api, q, v);
		else
			mu_iq_error(api, q, "wait", "internal-server-error");
		return;
	}
	if (r->status != MU_STO_ENOTFOUND) {
		mu_iq_error(api, q, "wait", "internal-server-error");
		return;
	}
	char *user = mu_localpart(q->to);
	struct mod_sto_req e = {.op = MU_OP_ACCOUNT_EXISTS, .user = user};
	if (!user || api->store(q->host, &e, vcard_exists, q) < 0)
		mu_iq_error(api, q, "wait", "internal-server-error");
	free(user);
}

static int vcard_get(struct mod_event *ev, void *ctx)
{
	(void)ctx;
	struct mu_iq *q = mu_iq_keep(api, ev);
	char *user = mu_localpart(ev->to);
	struct mod_sto_req r = {.op = MU_OP_KV_GET, .store = "vcard", .user = user};
	if (!q || !user || api->store(ev->host, &r, vcard_got, q) < 0) {
		mu_iq_free(api, q);
		api->error(ev, "wait", "internal-server-error");
	}
	free(user);
	return MOD_HANDLED;
}

static void vcard_stored(void *arg, const struct mod_sto_reply *r)
{
	struct mu_iq *q = arg;
	if (r->status == MU_STO_OK)
		mu_iq_result(api, q, NULL);
	else
		mu_iq_error(api, q, "wait", "internal-server-error");
}

static int vcard_set(struct mod_event *ev, void *ctx)
{
	(void)ctx;
	const struct xnode *v = api->x_child(ev->stanza, "vCard");
	char *text = v ? api->x_to_string(v) : NULL;
	if (!text || strlen(text) > VCARD_MAX) {
		free(text);
		api->error(ev, "modify", v ? "not-acceptable" : "bad-request");
		return MOD_HANDLED;
	}
	struct mu_iq *q = mu_iq_keep(api, ev);
	char *user = mu_localpart(ev->from);
	struct mod_sto_req r = {.op = MU_OP_KV_SET, .store = "vcard", .user = user, .value = text,
				.value_len = strlen(text), .has_value = 1};
	if (!q || !user || api->store(ev->host, &r, vcard_stored, q) < 0) {
		mu_iq_free(api, q);
		api->error(ev, "wait", "internal-server-error");
	}
	free(user);
	free(text);
	return MOD_HANDLED;
}

static int vcard_forbidden(struct mod_event *ev, void *ctx)
{
	(void)ctx;
	api->error(ev, "auth", "forbidden");
	return MOD_HANDLED;
}

static int vcard_on_deleted(struct mod_event *ev, void *ctx)
{
	(void)ctx;
	return mu_forget(api, ev, "vcard", MU_OP_KV_SET);
}

static const struct mod_hook vcard_hooks[] = {
	{"user-deleted", vcard_on_deleted, 0},
	{"iq-get/self/" NS_VCARD ":vCard", vcard_get, 0},
	{"iq-get/bare/" NS_VCARD ":vCard", vcard_get, 0},
	{"iq-set/self/" NS_VCARD ":vCard", vcard_set, 0},
	{"iq-set/bare/" NS_VCARD ":vCard", vcard_forbidden, 0},
	{NULL, NULL, 0},
};

static int vcard_load(struct mod_host *h, const struct mod_api *a, void **ctx)
{
	(void)h, (void)ctx;
	api = a;
	return 0;
}

static const char *const vcard_features[] = {NS_VCARD, NULL};

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "vcard",
	.flags = MOD_F_USER_HOST,	/* accounts and sessions: never on a component */
	.version = "1",
	.hooks = vcard_hooks,
	.features = vcard_features,
	.load = vcard_load,
};
