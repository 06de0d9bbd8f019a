/* The struct mod_api the router hands to every module: hooks, stanzas, disco, hosts and
 * sessions, element trees. Modules reach the router only through this table. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "host.h"
#include "log.h"
#include "rtr.h"
#include "sstate.h"
#include "xnode.h"

#ifndef XMPPD_VERSION
#define XMPPD_VERSION "0.1"
#endif

static int api_hook(struct mod_host *h, const char *event, mod_handler_fn fn, int prio, void *ctx)
{
	return rtr_bus_hook(h->bus, event, fn, prio, ctx);
}

static int api_unhook(struct mod_host *h, const char *event, mod_handler_fn fn, void *ctx)
{
	return rtr_bus_unhook(h->bus, event, fn, ctx);
}

static int api_send(struct mod_host *h, const struct xnode *x)
{
	(void)h;
	return rtr_server_send(x);
}

static int api_reply(struct mod_event *ev, struct xnode *payload)
{
	struct xnode *iq = xnode_new("iq");
	const char *id = ev->stanza ? xnode_attr(ev->stanza, "id") : NULL;
	int rc = -1;
	if (rtr_caps_capture(ev, payload)) {	/* the router asked itself (caps.c) */
		xnode_free(iq);
		return 0;
	}
	if (iq && xnode_set_attr(iq, "type", "result") == 0 && xnode_set_attr(iq, "id", id ? id : "") == 0 &&
	    xnode_set_attr(iq, "from", ev->to) == 0 && xnode_set_attr(iq, "to", ev->from) == 0) {
		if (payload) {
			xnode_append_take(iq, payload);
			payload = NULL;
		}
		rc = rtr_server_send(iq);
	}
	xnode_free(payload);
	xnode_free(iq);
	return rc;
}

static int api_error(struct mod_event *ev, const char *type, const char *cond)
{
	if (!ev->stanza)
		return -1;
	return rtr_error_reply(ev->stanza, ev->to, ev->from, type, cond);
}

static int api_error_app(struct mod_event *ev, const char *type, const char *cond, const char *app,
			 const char *app_ns)
{
	if (!ev->stanza)
		return -1;
	return rtr_error_reply_app(ev->stanza, ev->to, ev->from, type, cond, app, app_ns);
}

static int api_bounce(const struct xnode *orig, const char *type, const char *cond)
{
	return rtr_error_reply(orig, xnode_attr(orig, "to"), xnode_attr(orig, "from"), type, cond);
}

static int api_fire_with(struct mod_host *h, const char *event, struct xnode *x)
{
	struct mod_event ev = {.name = event, .host = h, .from = h->name, .to = h->name, .stanza = x,
			       .api = &rtr_mod_api};
	return rtr_bus_fire(h->bus, &ev);
}

static void api_each_component(struct mod_host *h, void (*fn)(void *, const char *), void *arg)
{
	size_t hl = strlen(h->name);
	for (unsigned i = 0; i < env->ncomponents; i++) {
		const char *c = env->components[i];
		size_t cl = strlen(c);
		if (cl > hl + 1 && c[cl - hl - 1] == '.' && strcasecmp(c + cl - hl, h->name) == 0)
			fn(arg, c);
	}
}

static void api_each_host_session(struct mod_host *h,
				  void (*fn)(void *, struct mod_session *, const char *, const char *), void *arg)
{
	size_t hl = strlen(h->name);
	for (size_t b = 0; b < env->nsid_buckets; b++) {
		for (struct rtr_session *s = env->by_sid[b], *next; s; s = next) {
			next = s->next_by_sid;
			const char *at = strchr(s->full, '@'), *slash = strchr(s->full, '/');
			if (at && slash && (size_t)(slash - at - 1) == hl && strncasecmp(at + 1, h->name, hl) == 0)
				fn(arg, (struct mod_session *)(void *)s, s->full, s->available ? s->presence : NULL);
		}
	}
}

static int api_add_feature(struct mod_host *h, const char *var)
{
	for (size_t i = 0; i < h->nfeatures; i++)
		if (strcmp(h->features[i], var) == 0)
			return 0;
	char **v = realloc(h->features, (h->nfeatures + 1) * sizeof(char *));
	if (!v)
		return -1;
	h->features = v;
	if (!(v[h->nfeatures] = strdup(var)))
		return -1;
	h->nfeatures++;
	return 0;
}

static int api_add_identity(struct mod_host *h, const char *cat, const char *type, const char *name)
{
	char **v = realloc(h->identities, (h->nidentities + 3) * sizeof(char *));
	if (!v)
		return -1;
	h->identities = v;
	v[h->nidentities] = strdup(cat);
	v[h->nidentities + 1] = strdup(type);
	v[h->nidentities + 2] = strdup(name ? name : "");
	h->nidentities += 3;
	return v[h->nidentities - 3] && v[h->nidentities - 2] && v[h->nidentities - 1] ? 0 : -1;
}

static void api_each_feature(struct mod_host *h, void (*fn)(void *, const char *), void *arg)
{
	for (size_t i = 0; i < h->nfeatures; i++)
		fn(arg, h->features[i]);
}

static void api_each_identity(struct mod_host *h, void (*fn)(void *, const char *, const char *, const char *),
			      void *arg)
{
	for (size_t i = 0; i + 2 < h->nidentities; i += 3)
		fn(arg, h->identities[i], h->identities[i + 1], h->identities[i + 2]);
}

static const char *api_host_name(const struct mod_host *h)
{
	return h->name;
}

static const char *api_option(const struct mod_host *h, const char *key)
{
	for (size_t i = 0; i + 1 < h->noptions; i += 2)
		if (strcmp(h->options[i], key) == 0)
			return h->options[i + 1];
	return NULL;
}

static const char *api_session_jid(const struct mod_session *s)
{
	return s ? ((const struct rtr_session *)(const void *)s)->full : NULL;
}

static int api_user_online(struct mod_host *h, const char *bare)
{
	(void)h;
	struct rtr_user *u = rtr_user_find(bare, strlen(bare));
	for (struct rtr_session *s = u ? u->sessions : NULL; s; s = s->next_in_user)
		if (s->available)
			return 1;
	return 0;
}

static uint64_t api_uptime(void)
{
	double up = ev_time() - env->started;
	return up > 0 ? (uint64_t)up : 0;
}

static const char *api_server_version(void)
{
	return XMPPD_VERSION;
}

static void api_log(int level, const char *module, const char *msg)
{
	log_msg(level, msg, "module=%s", module);
}

static int api_x_set_text(struct xnode *n, const char *text)
{
	return xnode_set_text(n, text, strlen(text));
}

static char *api_x_to_string(const struct xnode *n)
{
	struct buf b;
	buf_init(&b);
	if (xnode_serialize(n, &b) < 0 || buf_put_u8(&b, 0) < 0) {
		buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

static void api_each_session(struct mod_host *h, const char *bare,
			     void (*fn)(void *, struct mod_session *, const char *, int, const char *), void *arg)
{
	(void)h;
	struct rtr_user *u = rtr_user_find(bare, strlen(bare));
	struct rtr_session *s = u ? u->sessions : NULL, *next;
	for (; s; s = next) {
		next = s->next_in_user;
		fn(arg, (struct mod_session *)(void *)s, s->full, s->priority, s->available ? s->presence : NULL);
	}
}

static const char *api_session_presence(const struct mod_session *ms)
{
	const struct rtr_session *s = (const struct rtr_session *)(const void *)ms;
	return s && s->available ? s->presence : NULL;
}

static int api_send_to_session(struct mod_session *ms, const struct xnode *x)
{
	const struct rtr_session *s = (const struct rtr_session *)(const void *)ms;
	const char *from = xnode_attr(x, "from");
	struct buf body;
	buf_init(&body);
	if (xnode_serialize(x, &body) < 0 || (from && strlen(from) > 3071)) {
		buf_free(&body);
		return -1;
	}
	uint8_t stype = strcmp(x->name, "message") == 0 ? XE_ST_MESSAGE
		      : strcmp(x->name, "presence") == 0 ? XE_ST_PRESENCE : XE_ST_IQ;
	struct xe_msg out = {.version = XE_VERSION, .kind = XE_STANZA, .stype = stype, .flags = XE_F_FROM_SERVER,
			     .from = from, .from_len = (uint16_t)(from ? strlen(from) : 0), .to = s->full,
			     .to_len = (uint16_t)strlen(s->full), .body = body.data, .body_len = (uint32_t)body.len};
	int rc = rtr_send_to_session(s, &out);
	buf_free(&body);
	return rc;
}

static int api_session_state_set(struct mod_session *ms, const char *key, const void *val, size_t len)
{
	return ms ? rtr_session_state_set((struct rtr_session *)(void *)ms, key, val, len) : -1;
}

static const void *api_session_state_get(const struct mod_session *ms, const char *key, size_t *len)
{
	const struct rtr_session *s = (const struct rtr_session *)(const void *)ms;
	const uint8_t *v;
	size_t vl;
	if (!s || !key || sst_get(s->state.data, s->state.len, key, &v, &vl) != 1)
		return NULL;
	if (len)
		*len = vl;
	return vl ? (const void *)v : "";
}

static int api_host_is_component(const struct mod_host *h)
{
	return h->component;
}

const struct mod_api rtr_mod_api = {
	.abi = MOD_ABI,
	.hook = api_hook,
	.unhook = api_unhook,
	.send = api_send,
	.reply = api_reply,
	.error = api_error,
	.bounce = api_bounce,
	.error_app = api_error_app,
	.add_feature = api_add_feature,
	.add_identity = api_add_identity,
	.each_feature = api_each_feature,
	.each_identity = api_each_identity,
	.host_name = api_host_name,
	.option = api_option,
	.is_admin = rtr_is_admin,
	.session_jid = api_session_jid,
	.user_online = api_user_online,
	.uptime = api_uptime,
	.server_version = api_server_version,
	.log = api_log,
	.x_new = xnode_new,
	.x_append_take = xnode_append_take,
	.x_set_attr = xnode_set_attr,
	.x_set_text = api_x_set_text,
	.x_attr = xnode_attr,
	.x_child = xnode_child,
	.x_free = xnode_free,
	.store = rtr_mod_store,
	.sto_next = rtr_mod_sto_next,
	.x_parse = xnode_parse,
	.x_to_string = api_x_to_string,
	.each_session = api_each_session,
	.send_to_session = api_send_to_session,
	.session_presence = api_session_presence,
	.fire = rtr_fire_lifecycle,
	.fire_with = api_fire_with,
	.timer_add = rtr_mod_timer_add,
	.timer_cancel = rtr_mod_timer_cancel,
	.iq_request = rtr_mod_iq_request,
	.each_component = api_each_component,
	.each_host_session = api_each_host_session,
	.session_state_set = api_session_state_set,
	.session_state_get = api_session_state_get,
	.user_delete = rtr_user_delete,
	.host_is_component = api_host_is_component,
};
