/* Routes of external components (XEP-0114): stanzas to a component's domain or subdomains go to
 * it, its stanzas must come from inside it, and a reconnecting component replaces the old route.
 * What a component sends to a vhost, its users or an internal component goes through the
 * receiver's events in deliver.c like any stanza from another domain. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "components.h"
#include "host.h"
#include "log.h"

#define COMP_MAX 256u

struct rtr_comp {
	char *name;		/* the component's domain, as bound */
	struct rtr_link *link;
	uint64_t gen;		/* link generation at bind: a restarted worker's routes are gone */
	uint64_t sid;
};

static struct rtr_comp comps[COMP_MAX];
static unsigned ncomps;

static int comp_live(const struct rtr_comp *k) { return k->name && k->link && k->link->gen == k->gen; }

/* A component's route names a bare domain: no '@', no '/'. */
static int is_domain(const char *j, size_t len)
{
	return len > 0 && !memchr(j, '@', len) && !memchr(j, '/', len);
}

static struct rtr_comp *comp_by_name(const char *d, size_t len)
{
	for (unsigned i = 0; i < ncomps; i++)
		if (comps[i].name && strlen(comps[i].name) == len && strncasecmp(comps[i].name, d, len) == 0)
			return &comps[i];
	return NULL;
}

/* The live component serving domain d: itself or the longest parent domain that is one. */
static struct rtr_comp *comp_for_domain(const char *d, size_t len)
{
	struct rtr_comp *best = NULL;
	for (unsigned i = 0; i < ncomps; i++) {
		const struct rtr_comp *k = &comps[i];
		if (!comp_live(k))
			continue;
		size_t nl = strlen(k->name);
		int hit = (len == nl && strncasecmp(d, k->name, nl) == 0) ||
			  (len > nl && d[len - nl - 1] == '.' && strncasecmp(d + len - nl, k->name, nl) == 0);
		if (hit && (!best || nl > strlen(best->name)))
			best = &comps[i];
	}
	return best;
}

static struct rtr_comp *comp_by_sid(const struct rtr_link *l, uint64_t sid)
{
	for (unsigned i = 0; i < ncomps; i++)
		if (comp_live(&comps[i]) && comps[i].link == l && comps[i].sid == sid)
			return &comps[i];
	return NULL;
}

/* The domain part of a JID. */
static void jid_domain(const char *j, size_t len, const char **d, size_t *dl)
{
	const char *slash = memchr(j, '/', len);
	size_t blen = slash ? (size_t)(slash - j) : len;
	const char *at = memchr(j, '@', blen);
	*d = at ? at + 1 : j;
	*dl = blen - (size_t)(*d - j);
}

int rtr_comp_route(struct rtr_link *l, const struct xe_msg *m)
{
	if (!is_domain(m->from, m->from_len))
		return 0;	/* a client's full JID: the session table's business */
	struct rtr_comp *k = comp_by_name(m->from, m->from_len);
	if (m->kind == XE_ROUTE_UNBIND) {
		if (k && k->link == l && k->sid == m->sid) {
			log_info("component route removed", "component=%s link=%s", k->name, l->name);
			k->link = NULL;
		}
		return 1;
	}
	if (rtr_is_local_domain(m->from, m->from_len) || rtr_host_find(m->from, m->from_len)) {
		l->denied++;
		log_warn("a component may not take a virtual host's or internal component's domain", "link=%s",
			 l->name);
		return 1;
	}
	if (!k) {
		for (unsigned i = 0; i < ncomps && !k; i++)
			if (!comps[i].name)
				k = &comps[i];
		if (!k && ncomps < COMP_MAX)
			k = &comps[ncomps++];
		if (!k || !(k->name = strndup(m->from, m->from_len))) {
			log_err("component route not stored", "link=%s", l->name);
			return 1;
		}
	} else if (comp_live(k) && (k->link != l || k->sid != m->sid)) {
		log_info("component reconnected, route replaced", "component=%s old=%s new=%s", k->name,
			 k->link->name, l->name);
		/* the older stream may live on another worker: it is told its route is gone */
		struct xe_msg gone = {.version = XE_VERSION, .kind = XE_ROUTE_UNBIND, .sid = k->sid,
				      .from = k->name, .from_len = (uint16_t)strlen(k->name), .to = "",
				      .body = (const uint8_t *)"", .body_len = 0};
		(void)rtr_send(k->link, &gone);
	}
	k->link = l;
	k->gen = l->gen;
	k->sid = m->sid;
	log_info("component route bound", "component=%s link=%s", k->name, l->name);
	return 1;
}

static void comp_forward(const struct rtr_link *l, uint64_t sid, const struct xe_msg *m)
{
	struct xe_msg out = *m;
	out.version = XE_VERSION;
	out.sid = sid;
	out.hops = (uint8_t)(m->hops + 1);
	(void)rtr_send((struct rtr_link *)l, &out);
}

int rtr_comp_deliver(const struct xe_msg *m)
{
	const char *d;
	size_t dl;
	jid_domain(m->to, m->to_len, &d, &dl);
	const struct rtr_comp *k = comp_for_domain(d, dl);
	if (!k)
		return 0;
	comp_forward(k->link, k->sid, m);
	return 1;
}

int rtr_comp_serves(const char *d, size_t len)
{
	return !rtr_is_local_domain(d, len) && !rtr_host_find(d, len) && comp_for_domain(d, len);
}

int rtr_comp_stanza(struct rtr_link *l, const struct xe_msg *m)
{
	const char *d;
	size_t dl;
	struct rtr_comp *from = comp_by_sid(l, m->sid);
	if (!from)
		return 0;	/* a client's stanza: the usual path, sender's events included */
	jid_domain(m->from, m->from_len, &d, &dl);
	if (comp_for_domain(d, dl) != from) {
		l->denied++;
		log_notice("stanza from outside the component's domain dropped", "component=%s",
			   from->name);
		return 1;
	}
	if (m->to_len == 0)
		return 1;	/* a component's stanza needs an address */
	jid_domain(m->to, m->to_len, &d, &dl);
	/* a vhost's or internal component's domain is never served by an external component */
	int ours = rtr_is_local_domain(d, dl) || rtr_host_find(d, dl);
	struct rtr_comp *to = ours ? NULL : comp_for_domain(d, dl);
	if (to)
		comp_forward(to->link, to->sid, m);
	else if (ours)
		rtr_stanza_from_remote(l, m);
	return 1;
}

int rtr_comp_holds(const struct rtr_link *l, uint64_t sid, const char *name, size_t len)
{
	const struct rtr_comp *k = comp_by_sid(l, sid);
	return k && strlen(k->name) == len && strncasecmp(k->name, name, len) == 0;
}

void rtr_comp_free(void)
{
	for (unsigned i = 0; i < ncomps; i++)
		free(comps[i].name);
	memset(comps, 0, sizeof(comps));
	ncomps = 0;
}
