/* XEP-0280 message carbons: resources that enabled carbons get a <sent/> copy of the chat
 * messages their other resources send and a <received/> copy of those delivered to another
 * resource; <private/> and <no-copy/> opt out; a message from someone else that carries a
 * carbon wrapper is refused (a forged carbon). The message hooks are installed only while some
 * resource has carbons enabled, so the router's full-JID fast path stays on otherwise.
 * Enablement is session state (mod.h), so it survives a router restart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mods/modutil.h"

#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_HINTS "urn:xmpp:hints"
#define CB_STATE "carbons"	/* session state key: enabled */

static const struct mod_api *api;

struct cb_ctx {
	struct mod_host *host;
	char **enabled;		/* full JIDs */
	size_t n;
	int hooked;
};

static int cb_is_enabled(const struct cb_ctx *c, const char *full)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->enabled[i], full) == 0)
			return 1;
	return 0;
}

static const struct xnode *cb_child_ns(const struct xnode *x, const char *name, const char *ns)
{
	for (const struct xnode *c = x->children; c; c = c->next) {
		const char *cns = api->x_attr(c, "xmlns");
		if (strcmp(c->name, name) == 0 && cns && strcmp(cns, ns) == 0)
			return c;
	}
	return NULL;
}

/* §6: chat messages, and normal ones with a body; not errors, not groupchat, not opted out. */
static int cb_eligible(const struct xnode *m)
{
	const char *t = api->x_attr(m, "type");
	if (cb_child_ns(m, "private", NS_CARBONS) || cb_child_ns(m, "no-copy", NS_HINTS))
		return 0;
	if (t && strcmp(t, "chat") == 0)
		return 1;
	return (!t || strcmp(t, "normal") == 0) && api->x_child(m, "body");
}

static void cb_send_copy(struct cb_ctx *c, const struct xnode *m, const char *wrapper, const char *bare,
			 const char *to)
{
	const char *ma[] = {"from", bare, "to", to, "type", api->x_attr(m, "type"), NULL};
	const char *wa[] = {"xmlns", NS_CARBONS, NULL}, *fa[] = {"xmlns", NS_FORWARD, NULL};
	struct xnode *msg = mu_el(api, "message", ma), *w = mu_el(api, wrapper, wa), *f = mu_el(api, "forwarded", fa);
	struct xnode *inner = mu_copy(api, m);
	if (msg && w && f && inner && api->x_set_attr(inner, "xmlns", "jabber:client") == 0) {
		api->x_append_take(f, inner);
		api->x_append_take(w, f);
		api->x_append_take(msg, w);
		api->send(c->host, msg);
		api->x_free(msg);
		return;
	}
	api->x_free(msg);
	api->x_free(w);
	api->x_free(f);
	api->x_free(inner);
}

struct cb_walk {
	struct cb_ctx *c;
	const struct xnode *m;
	const char *wrapper, *bare, *skip;	/* skip: the resource that has the original */
	int top;			/* bare delivery: resources at this priority get the original */
};

static void cb_each(void *arg, struct mod_session *s, const char *full, int prio, const char *presence)
{
	struct cb_walk *w = arg;
	(void)s;
	if (!presence || !cb_is_enabled(w->c, full) || (w->skip && strcmp(full, w->skip) == 0))
		return;
	if (!w->skip && prio == w->top)
		return;
	cb_send_copy(w->c, w->m, w->wrapper, w->bare, full);
}

static void cb_top(void *arg, struct mod_session *s, const char *full, int prio, const char *presence)
{
	int *top = arg;
	(void)s, (void)full;
	if (presence && prio >= 0 && prio > *top)
		*top = prio;
}

/* Copies m to the enabled resources of user (bare) other than the one(s) it goes to. */
static void cb_copy_to_others(struct cb_ctx *c, const struct xnode *m, const char *wrapper, const char *user_jid,
			      int to_full)
{
	char *bare = mu_bare(user_jid);
	struct cb_walk w = {.c = c, .m = m, .wrapper = wrapper, .bare = bare, .skip = to_full ? user_jid : NULL,
			    .top = -1000};
	if (!bare)
		return;
	if (!to_full)
		api->each_session(c->host, bare, cb_top, &w.top);
	api->each_session(c->host, bare, cb_each, &w);
	free(bare);
}

struct cb_bound {
	const char *full;
	int found;
};

static void cb_find(void *arg, struct mod_session *s, const char *full, int prio, const char *presence)
{
	struct cb_bound *b = arg;
	(void)s, (void)prio, (void)presence;
	b->found |= strcmp(full, b->full) == 0;
}

static int cb_on_sent(struct mod_event *ev, void *arg)
{
	if (ev->origin && cb_eligible(ev->stanza))
		cb_copy_to_others(arg, ev->stanza, "sent", ev->from, 1);
	return MOD_PASS;
}

static int cb_on_received(struct mod_event *ev, void *arg)
{
	struct cb_ctx *c = arg;
	const struct xnode *m = ev->stanza;
	if (cb_child_ns(m, "received", NS_CARBONS) || cb_child_ns(m, "sent", NS_CARBONS))
		return MOD_DENY;	/* §11: only the user's own server sends carbons (never via events) */
	if (!cb_eligible(m) || !strchr(ev->to, '@'))
		return MOD_PASS;
	int full = strchr(ev->to, '/') != NULL;
	if (full) {
		/* a chat to a gone resource is delivered as to the bare JID (RFC 6121 §8.5.3.2.1) */
		struct cb_bound b = {.full = ev->to};
		char *bare = mu_bare(ev->to);
		if (bare)
			api->each_session(c->host, bare, cb_find, &b);
		free(bare);
		full = b.found;
	}
	cb_copy_to_others(c, m, "received", ev->to, full);
	return MOD_PASS;
}

static const char *const cb_events_sent[] = {"pre-message/bare", "pre-message/full", NULL};
static const char *const cb_events_recv[] = {"message/bare", "message/full", NULL};

static void cb_rehook(struct cb_ctx *c)
{
	int want = c->n > 0;
	if (want == c->hooked)
		return;
	for (const char *const *e = cb_events_sent; *e; e++)
		want ? api->hook(c->host, *e, cb_on_sent, -5, c) : api->unhook(c->host, *e, cb_on_sent, c);
	for (const char *const *e = cb_events_recv; *e; e++)
		want ? api->hook(c->host, *e, cb_on_received, -5, c) : api->unhook(c->host, *e, cb_on_received, c);
	c->hooked = want;
}

static void cb_disable(struct cb_ctx *c, const char *full)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->enabled[i], full) == 0) {
			free(c->enabled[i]);
			c->enabled[i] = c->enabled[--c->n];
			break;
		}
	cb_rehook(c);
}

static int cb_enable(struct cb_ctx *c, const char *full)
{
	if (cb_is_enabled(c, full))
		return 0;
	char **v = realloc(c->enabled, (c->n + 1) * sizeof(char *));
	if (v)
		c->enabled = v;
	if (!v || !(v[c->n] = strdup(full)))
		return -1;
	c->n++;
	cb_rehook(c);
	return 0;
}

/* The session's enablement is kept with its stream worker (before the result goes out), so
 * it outlives a router restart: resource-sync reads it back. */
static int cb_on_enable(struct mod_event *ev, void *arg)
{
	if (cb_enable(arg, ev->from) < 0 || api->session_state_set(ev->origin, CB_STATE, "1", 1) < 0) {
		cb_disable(arg, ev->from);
		api->error(ev, "wait", "internal-server-error");
		return MOD_HANDLED;
	}
	api->reply(ev, NULL);
	return MOD_HANDLED;
}

static int cb_on_disable(struct mod_event *ev, void *arg)
{
	cb_disable(arg, ev->from);
	api->session_state_set(ev->origin, CB_STATE, NULL, 0);
	api->reply(ev, NULL);
	return MOD_HANDLED;
}

static int cb_on_sync(struct mod_event *ev, void *arg)
{
	if (api->session_state_get(ev->origin, CB_STATE, NULL))
		cb_enable(arg, ev->from);
	return MOD_PASS;
}

static int cb_on_unbind(struct mod_event *ev, void *arg)
{
	cb_disable(arg, ev->from);
	return MOD_PASS;
}

static const struct mod_hook cb_hooks[] = {
	{"iq-set/self/" NS_CARBONS ":enable", cb_on_enable, 0},
	{"iq-set/self/" NS_CARBONS ":disable", cb_on_disable, 0},
	{"resource-unbind", cb_on_unbind, 0},
	{"resource-sync", cb_on_sync, 0},
	{NULL, NULL, 0},
};

static int cb_load(struct mod_host *h, const struct mod_api *a, void **ctx)
{
	struct cb_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	api = a;
	c->host = h;
	*ctx = c;
	return 0;
}

static void cb_unload(struct mod_host *h, void *ctx)
{
	struct cb_ctx *c = ctx;
	(void)h;
	while (c->n)
		free(c->enabled[--c->n]);
	cb_rehook(c);
	free(c->enabled);
	free(c);
}

static const char *const cb_features[] = {NS_CARBONS, NULL};

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "carbons",
	.flags = MOD_F_USER_HOST,	/* accounts and sessions: never on a component */
	.version = "1",
	.hooks = cb_hooks,
	.features = cb_features,
	.load = cb_load,
	.unload = cb_unload,
};
