/* XEP-0157 contact addresses: the vhost's "option contact-abuse URI ...", contact-admin,
 * contact-feedback, contact-sales, contact-security and contact-support become a serverinfo
 * data form in the server's disco#info (added through mod_disco's disco-info/host event). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mods/modutil.h"

static const struct mod_api *api;

static const char *const ci_kinds[] = {"abuse", "admin", "feedback", "sales", "security", "support", NULL};

static struct xnode *ci_field(const char *var, const char *type)
{
	const char *a[] = {"var", var, "type", type, NULL};
	return mu_el(api, "field", a);
}

static int ci_add_value(struct xnode *field, const char *text, size_t len)
{
	struct xnode *v = api->x_new("value");
	char *t = strndup(text, len);
	if (!v || !t || api->x_set_text(v, t) < 0) {
		api->x_free(v);
		free(t);
		return -1;
	}
	free(t);
	api->x_append_take(field, v);
	return 0;
}

static int ci_on_info(struct mod_event *ev, void *arg)
{
	(void)arg;
	const char *xa[] = {"xmlns", "jabber:x:data", "type", "result", NULL};
	struct xnode *x = mu_el(api, "x", xa), *ft = ci_field("FORM_TYPE", "hidden");
	int n = 0;
	if (!x || !ft || ci_add_value(ft, "http://jabber.org/network/serverinfo", 36) < 0) {
		api->x_free(x);
		api->x_free(ft);
		return MOD_PASS;
	}
	api->x_append_take(x, ft);
	for (const char *const *k = ci_kinds; *k; k++) {
		char key[32], var[48];
		snprintf(key, sizeof(key), "contact-%s", *k);
		snprintf(var, sizeof(var), "%s-addresses", *k);
		const char *uris = api->option(ev->host, key);
		if (!uris)
			continue;
		struct xnode *f = ci_field(var, NULL);
		if (!f)
			continue;
		for (const char *p = uris; *p;) {
			size_t len = strcspn(p, " \t");
			if (len)
				ci_add_value(f, p, len);
			p += len;
			p += strspn(p, " \t");
		}
		api->x_append_take(x, f);
		n++;
	}
	if (n)
		api->x_append_take(ev->stanza, x);
	else
		api->x_free(x);
	return MOD_PASS;
}

static const struct mod_hook ci_hooks[] = {
	{"disco-info/host", ci_on_info, 0},
	{NULL, NULL, 0},
};

static int ci_load(struct mod_host *h, const struct mod_api *a, void **ctx)
{
	(void)h, (void)ctx;
	api = a;
	return 0;
}

static const char *const ci_keys[] = {"contact-abuse", "contact-admin", "contact-feedback", "contact-sales",
				      "contact-security", "contact-support", NULL};

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "contact_info",
	.version = "1",
	.hooks = ci_hooks,
	.config_keys = ci_keys,
	.load = ci_load,
};
