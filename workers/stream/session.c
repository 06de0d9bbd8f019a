/* The session tables of one c2s worker: connections by session id, by pending SASL request id
 * and, once bound, by full JID. Intrusive chains, so a session costs no extra allocation. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"

struct c2s_tab {
	struct c2s_conn **b;
	size_t nb, n;
	size_t next_off;				/* offsetof the chain pointer */
	uint64_t (*hash)(const struct c2s_conn *c);
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
	return h;
}

static uint64_t hash_sid(const struct c2s_conn *c) { return mix64(c->sid); }
static uint64_t hash_req(const struct c2s_conn *c) { return mix64(c->reqid); }
static uint64_t hash_jid(const struct c2s_conn *c) { return fnv1a(c->jid); }

/* The tables hang off the process env conceptually; kept here so env stays a plain struct. */
static struct c2s_tab by_sid = {NULL, 0, 0, offsetof(struct c2s_conn, sid_next), hash_sid};
static struct c2s_tab by_req = {NULL, 0, 0, offsetof(struct c2s_conn, req_next), hash_req};
static struct c2s_tab by_jid = {NULL, 0, 0, offsetof(struct c2s_conn, jid_next), hash_jid};

static struct c2s_conn **next_of(const struct c2s_tab *t, struct c2s_conn *c)
{
	return (struct c2s_conn **)(void *)((char *)c + t->next_off);
}

static int tab_grow(struct c2s_tab *t)
{
	size_t nb = t->nb ? t->nb * 2 : 64;
	struct c2s_conn **b = calloc(nb, sizeof(*b));
	if (!b)
		return -1;
	for (size_t i = 0; i < t->nb; i++) {
		struct c2s_conn *c = t->b[i];
		while (c) {
			struct c2s_conn *nx = *next_of(t, c);
			size_t k = t->hash(c) & (nb - 1);
			*next_of(t, c) = b[k];
			b[k] = c;
			c = nx;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
	return 0;
}

static void tab_add(struct c2s_tab *t, struct c2s_conn *c)
{
	if (t->n + 1 > t->nb && tab_grow(t) < 0 && t->nb == 0)
		return;	/* no table at all: the lookup will miss, the connection still works */
	size_t k = t->hash(c) & (t->nb - 1);
	*next_of(t, c) = t->b[k];
	t->b[k] = c;
	t->n++;
}

static void tab_del(struct c2s_tab *t, struct c2s_conn *c)
{
	if (!t->nb)
		return;
	struct c2s_conn **pp = &t->b[t->hash(c) & (t->nb - 1)];
	for (; *pp; pp = next_of(t, *pp)) {
		if (*pp == c) {
			*pp = *next_of(t, c);
			*next_of(t, c) = NULL;
			t->n--;
			return;
		}
	}
}

void c2s_sess_add(struct c2s_conn *c) { tab_add(&by_sid, c); }

struct c2s_conn *c2s_sess_by_sid(uint64_t sid)
{
	if (!by_sid.nb)
		return NULL;
	for (struct c2s_conn *c = by_sid.b[mix64(sid) & (by_sid.nb - 1)]; c; c = c->sid_next)
		if (c->sid == sid)
			return c;
	return NULL;
}

void c2s_sess_req_add(struct c2s_conn *c) { tab_add(&by_req, c); }

void c2s_sess_req_remove(struct c2s_conn *c)
{
	if (c->reqid) {
		tab_del(&by_req, c);
		c->reqid = 0;
	}
}

struct c2s_conn *c2s_sess_by_reqid(uint32_t reqid)
{
	if (!by_req.nb || reqid == 0)
		return NULL;
	for (struct c2s_conn *c = by_req.b[mix64(reqid) & (by_req.nb - 1)]; c; c = c->req_next)
		if (c->reqid == reqid)
			return c;
	return NULL;
}

struct c2s_conn *c2s_sess_by_jid(const char *jid)
{
	if (!by_jid.nb)
		return NULL;
	for (struct c2s_conn *c = by_jid.b[fnv1a(jid) & (by_jid.nb - 1)]; c; c = c->jid_next)
		if (strcmp(c->jid, jid) == 0)
			return c;
	return NULL;
}

int c2s_sess_bind_jid(struct c2s_conn *c, const char *jid)
{
	char *d = strdup(jid);
	if (!d)
		return -1;
	free(c->jid);
	c->jid = d;
	tab_add(&by_jid, c);
	c->bound = 1;
	return 0;
}

void c2s_sess_unbind_jid(struct c2s_conn *c)
{
	if (!c->bound)
		return;
	tab_del(&by_jid, c);
	c->bound = 0;
	free(c->jid);
	c->jid = NULL;
}

void c2s_sess_remove(struct c2s_conn *c)
{
	tab_del(&by_sid, c);
	c2s_sess_req_remove(c);
	if (c->bound) {
		tab_del(&by_jid, c);
		c->bound = 0;
	}
}
