/* Per-address and per-account limits of c2s: unauthenticated connections per address, growing
 * delays after failed logins (per account and per address), and the byte-rate token bucket. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "log.h"

#define LIM_BUCKETS 4096u
#define LIM_MAX_ENTRIES 65536u
#define LIM_KEY_MAX 1100u

struct lim_entry {
	struct lim_entry *next;
	unsigned unauth;		/* unauthenticated connections (address entries) */
	unsigned fails;			/* failed logins not yet forgotten */
	double last_fail;
	char key[];			/* "a:<address>" or "u:<user>@<host>" */
};

static struct lim_entry *lim_tab[LIM_BUCKETS];
static size_t lim_count;

static unsigned lim_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h & (LIM_BUCKETS - 1);
}

static int lim_forgotten(const struct lim_entry *e, double now)
{
	return e->fails == 0 || now - e->last_fail > C2S_FAIL_FORGET;
}

/* Finds key; creates it when create is set (NULL when the table is full). */
static struct lim_entry *lim_get(const char *key, int create)
{
	unsigned h = lim_hash(key);
	for (struct lim_entry *e = lim_tab[h]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	if (!create || lim_count >= LIM_MAX_ENTRIES)
		return NULL;
	size_t n = strlen(key) + 1;
	struct lim_entry *e = calloc(1, sizeof(*e) + n);
	if (!e)
		return NULL;
	memcpy(e->key, key, n);
	e->next = lim_tab[h];
	lim_tab[h] = e;
	lim_count++;
	return e;
}

static void lim_maybe_free(const char *key)
{
	unsigned h = lim_hash(key);
	double now = ev_now(env->loop);
	for (struct lim_entry **pp = &lim_tab[h]; *pp; pp = &(*pp)->next) {
		struct lim_entry *e = *pp;
		if (strcmp(e->key, key) != 0)
			continue;
		if (e->unauth == 0 && lim_forgotten(e, now)) {
			*pp = e->next;
			free(e);
			lim_count--;
		}
		return;
	}
}

/* Drops every entry nothing needs any more (a timer calls it once a minute). */
void c2s_lim_sweep(void)
{
	double now = ev_now(env->loop);
	for (unsigned h = 0; h < LIM_BUCKETS; h++) {
		struct lim_entry **pp = &lim_tab[h];
		while (*pp) {
			struct lim_entry *e = *pp;
			if (e->unauth == 0 && lim_forgotten(e, now)) {
				*pp = e->next;
				free(e);
				lim_count--;
			} else {
				pp = &e->next;
			}
		}
	}
}

static void addr_key(const struct c2s_conn *c, char *key, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	key[o++] = 'a';
	key[o++] = ':';
	for (size_t i = 0; i < sizeof(c->addr) && o + 3 < cap; i++) {
		key[o++] = hex[c->addr[i] >> 4];
		key[o++] = hex[c->addr[i] & 15];
	}
	key[o] = 0;
}

int c2s_lim_addr_acquire(struct c2s_conn *c)
{
	char key[64];
	addr_key(c, key, sizeof(key));
	struct lim_entry *e = lim_get(key, 1);
	if (!e)
		return -1;	/* the table is full: refuse rather than forget */
	if (e->unauth >= env->conn_per_ip) {
		lim_maybe_free(key);
		return -1;
	}
	e->unauth++;
	c->unauth_counted = 1;
	return 0;
}

void c2s_lim_addr_release(struct c2s_conn *c)
{
	if (!c->unauth_counted)
		return;
	c->unauth_counted = 0;
	char key[64];
	addr_key(c, key, sizeof(key));
	struct lim_entry *e = lim_get(key, 0);
	if (e && e->unauth > 0)
		e->unauth--;
	lim_maybe_free(key);
}

static int user_key(const struct c2s_conn *c, const char *user, char *key, size_t cap)
{
	int n = snprintf(key, cap, "u:%s@%s", user, c->vh ? c->vh->name : "");
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

static unsigned fails_of(const char *key, double now)
{
	struct lim_entry *e = lim_get(key, 0);
	return e && !lim_forgotten(e, now) ? e->fails : 0;
}

static void fail_note(const char *key, double now)
{
	struct lim_entry *e = lim_get(key, 1);
	if (!e)
		return;
	if (lim_forgotten(e, now))
		e->fails = 0;
	e->fails++;
	e->last_fail = now;
}

double c2s_lim_fail(struct c2s_conn *c, const char *user)
{
	double now = ev_now(env->loop);
	char akey[64], ukey[LIM_KEY_MAX];
	addr_key(c, akey, sizeof(akey));
	fail_note(akey, now);
	unsigned n = fails_of(akey, now);
	if (user && user[0] && user_key(c, user, ukey, sizeof(ukey)) == 0) {
		fail_note(ukey, now);
		unsigned u = fails_of(ukey, now);
		n = u > n ? u : n;
	}
	if (c->auth_failures > n)
		n = c->auth_failures;
	/* 1 s, 2 s, 4 s, ... up to C2S_AUTH_DELAY_MAX */
	double d = C2S_AUTH_DELAY;
	for (unsigned i = 1; i < n && d < C2S_AUTH_DELAY_MAX; i++)
		d *= 2;
	return d > C2S_AUTH_DELAY_MAX ? C2S_AUTH_DELAY_MAX : d;
}

void c2s_lim_success(struct c2s_conn *c, const char *user)
{
	char ukey[LIM_KEY_MAX];
	if (!user || user_key(c, user, ukey, sizeof(ukey)) < 0)
		return;
	struct lim_entry *e = lim_get(ukey, 0);
	if (e)
		e->fails = 0;
	lim_maybe_free(ukey);
}

/* ---- byte-rate token bucket: reading pauses until the bucket has refilled ---- */

static void rate_resume(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct c2s_conn *c = w->data;
	c->throttled = 0;
	c2s_conn_hold(c, c->held);	/* re-arms the watchers and processes buffered input */
}

int c2s_lim_rate_take(struct c2s_conn *c, size_t n)
{
	if (env->rate == 0)
		return 0;
	double now = ev_now(env->loop);
	double burst = (double)env->rate > C2S_READ_CHUNK ? (double)env->rate : C2S_READ_CHUNK;
	if (c->rate_at == 0)
		c->tokens = (float)burst;
	else
		c->tokens += (float)((now - c->rate_at) * (double)env->rate);
	if (c->tokens > burst)
		c->tokens = (float)burst;
	c->rate_at = now;
	c->tokens -= (float)n;
	if (c->tokens >= 0)
		return 0;
	double wait = -(double)c->tokens / (double)env->rate;
	c->throttled = 1;
	ev_timer_stop(env->loop, &c->rtimer);
	ev_timer_init(&c->rtimer, rate_resume, wait, 0.);
	c->rtimer.data = c;
	ev_timer_start(env->loop, &c->rtimer);
	return 1;
}
