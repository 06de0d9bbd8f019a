/* Small helpers shared by modules (header only: a module is one shared object and links
 * nothing from the router). Each module sets modutil_api in its load function. */
#ifndef XMPPD_MODUTIL_H
#define XMPPD_MODUTIL_H
#include <stdlib.h>
#include <string.h>

#include "mods/mod.h"
#include "workers/router/xnode.h"

/* ipc/sto.h values the modules use (the modules do not include ipc/) */
#define MU_OP_ACCOUNT_DELETE 2u
#define MU_OP_ACCOUNT_PASSWD 3u
#define MU_OP_ACCOUNT_EXISTS 4u
#define MU_OP_KV_GET 8u
#define MU_OP_KV_SET 9u
#define MU_OP_MAP_GET 11u
#define MU_OP_MAP_SET 12u
#define MU_STO_OK 0
#define MU_STO_ENOTFOUND 1
#define MU_T_EXISTS 13u
#define MU_T_VALUE 16u

/* An element with attributes given as name, value, ..., NULL (a NULL value is skipped). */
static inline struct xnode *mu_el(const struct mod_api *api, const char *name, const char *const *attrs)
{
	struct xnode *n = api->x_new(name);
	for (; n && attrs && attrs[0]; attrs += 2)
		if (attrs[1] && api->x_set_attr(n, attrs[0], attrs[1]) < 0) {
			api->x_free(n);
			return NULL;
		}
	return n;
}

static inline struct xnode *mu_copy(const struct mod_api *api, const struct xnode *x)
{
	char *t = api->x_to_string(x);
	struct xnode *c = t ? api->x_parse(t, strlen(t)) : NULL;
	free(t);
	return c;
}

/* "user" of "user@host/res", lower-cased ASCII; malloc'd, NULL without a localpart. */
static inline char *mu_localpart(const char *jid)
{
	const char *at = jid ? strchr(jid, '@') : NULL;
	char *u = at ? strndup(jid, (size_t)(at - jid)) : NULL;
	for (char *c = u; c && *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return u;
}

/* "user@host" of "user@host/res", lower-cased ASCII; malloc'd. */
static inline char *mu_bare(const char *jid)
{
	const char *slash = strchr(jid, '/');
	char *b = slash ? strndup(jid, (size_t)(slash - jid)) : strdup(jid);
	for (char *c = b; c && *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return b;
}

/* The first reply field with tag; 0 found, -1 not. */
static inline int mu_field(const struct mod_api *api, const struct mod_sto_reply *r, unsigned want,
			   const uint8_t **val, size_t *len)
{
	size_t off = 0;
	unsigned tag;
	while (api->sto_next(r->fields, r->len, &off, &tag, val, len) == 1)
		if (tag == want)
			return 0;
	return -1;
}

static inline int mu_field_u32(const struct mod_api *api, const struct mod_sto_reply *r, unsigned want,
			       uint32_t *v)
{
	const uint8_t *p;
	size_t len;
	if (mu_field(api, r, want, &p, &len) < 0 || len != 4)
		return -1;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return 0;
}

/* A pending IQ answered after a storage call: what is needed to reply without the event. */
struct mu_iq {
	struct mod_host *host;
	char *id, *from, *to;	/* the request's: the reply goes from 'to' back to 'from' */
	struct xnode *req;	/* a copy of the request, for errors */
	void *data;
};

static inline void mu_iq_free(const struct mod_api *api, struct mu_iq *q)
{
	if (!q)
		return;
	api->x_free(q->req);
	free(q->id);
	free(q->from);
	free(q->to);
	free(q);
}

static inline struct mu_iq *mu_iq_keep(const struct mod_api *api, const struct mod_event *ev)
{
	struct mu_iq *q = calloc(1, sizeof(*q));
	const char *id = api->x_attr(ev->stanza, "id");
	if (!q || !(q->id = strdup(id ? id : "")) || !(q->from = strdup(ev->from)) || !(q->to = strdup(ev->to)) ||
	    !(q->req = mu_copy(api, ev->stanza))) {
		mu_iq_free(api, q);
		return NULL;
	}
	q->host = ev->host;
	return q;
}

/* Sends the result (payload taken, may be NULL) and frees q. */
static inline void mu_iq_result(const struct mod_api *api, struct mu_iq *q, struct xnode *payload)
{
	const char *a[] = {"type", "result", "id", q->id, "from", q->to, "to", q->from,
			   NULL};
	struct xnode *iq = mu_el(api, "iq", a);
	if (iq && payload)
		api->x_append_take(iq, payload);
	else
		api->x_free(payload);
	if (iq)
		api->send(q->host, iq);
	api->x_free(iq);
	mu_iq_free(api, q);
}

static inline void mu_iq_error(const struct mod_api *api, struct mu_iq *q, const char *type, const char *cond)
{
	if (api->x_set_attr(q->req, "from", q->from) == 0 && api->x_set_attr(q->req, "to", q->to) == 0)
		api->bounce(q->req, type, cond);
	mu_iq_free(api, q);
}

static inline void mu_ignore_reply(void *arg, const struct mod_sto_reply *r)
{
	(void)arg, (void)r;
}

/* On user-deleted: removes the account's entry of a keyval store (op MU_OP_KV_SET), its whole
 * archive (MU_OP_ARCH_DELETE) or its whole map (MU_OP_MAP_DELETE_USER), without waiting. */
#define MU_OP_ARCH_DELETE 19u
#define MU_OP_MAP_DELETE_USER 21u
static inline int mu_forget(const struct mod_api *api, struct mod_event *ev, const char *store, unsigned op)
{
	char *user = ev->arg ? mu_localpart(ev->arg) : NULL;
	struct mod_sto_req q = {.op = op, .store = store, .user = user};
	if (user)
		api->store(ev->host, &q, mu_ignore_reply, NULL);
	free(user);
	return MOD_PASS;
}

#endif
