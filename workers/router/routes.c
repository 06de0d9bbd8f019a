/* The routing table: bare JID → user → sessions, and (link, sid) → session.
 * JIDs are compared with ASCII case folding of node and domain; RFC 7622 preparation happens
 * in the stream workers before anything is bound. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rtr.h"

#define BUCKETS_INITIAL 4096

struct rtr_env *env;

static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)tolower((unsigned char)p[i]);
		h *= 1099511628211ull;
	}
	return h;
}

static uint64_t hash_sid(const struct rtr_link *l, uint64_t sid)
{
	uint64_t h = sid * 0x9E3779B97F4A7C15ull ^ (uint64_t)l->index * 0xC2B2AE3D27D4EB4Full;
	return h ^ (h >> 29);
}

int rtr_routes_init(void)
{
	env->nusers_buckets = env->nsid_buckets = BUCKETS_INITIAL;
	env->users = calloc(env->nusers_buckets, sizeof(*env->users));
	env->by_sid = calloc(env->nsid_buckets, sizeof(*env->by_sid));
	return env->users && env->by_sid ? 0 : -1;
}

int rtr_is_local_domain(const char *d, size_t len)
{
	for (unsigned i = 0; i < env->nvhosts; i++)
		if (strlen(env->vhosts[i]) == len && strncasecmp(env->vhosts[i], d, len) == 0)
			return 1;
	return 0;
}

struct rtr_user *rtr_user_find(const char *bare, size_t len)
{
	struct rtr_user *u = env->users[hash_bytes(bare, len) & (env->nusers_buckets - 1)];
	for (; u; u = u->next)
		if (strlen(u->bare) == len && strncasecmp(u->bare, bare, len) == 0)
			return u;
	return NULL;
}

struct rtr_session *rtr_session_by_full(const char *full, size_t len)
{
	const char *slash = memchr(full, '/', len);
	if (!slash)
		return NULL;
	struct rtr_user *u = rtr_user_find(full, (size_t)(slash - full));
	size_t rlen = len - (size_t)(slash - full) - 1;
	for (struct rtr_session *s = u ? u->sessions : NULL; s; s = s->next_in_user)
		if (strlen(s->resource) == rlen && memcmp(s->resource, slash + 1, rlen) == 0)
			return s;
	return NULL;
}

struct rtr_session *rtr_session_by_sid(const struct rtr_link *l, uint64_t sid)
{
	struct rtr_session *s = env->by_sid[hash_sid(l, sid) & (env->nsid_buckets - 1)];
	for (; s; s = s->next_by_sid)
		if (s->link == l && s->sid == sid)
			return s;
	return NULL;
}

static void user_unlink_session(struct rtr_session *s)
{
	struct rtr_user *u = s->user;
	for (struct rtr_session **pp = &u->sessions; *pp; pp = &(*pp)->next_in_user) {
		if (*pp == s) {
			*pp = s->next_in_user;
			break;
		}
	}
	if (u->sessions)
		return;
	struct rtr_user **up = &env->users[hash_bytes(u->bare, strlen(u->bare)) & (env->nusers_buckets - 1)];
	for (; *up; up = &(*up)->next) {
		if (*up == u) {
			*up = u->next;
			break;
		}
	}
	free(u->bare);
	free(u);
}

void rtr_session_unbind(struct rtr_session *s)
{
	rtr_session_gone(s);
	struct rtr_session **pp = &env->by_sid[hash_sid(s->link, s->sid) & (env->nsid_buckets - 1)];
	for (; *pp; pp = &(*pp)->next_by_sid) {
		if (*pp == s) {
			*pp = s->next_by_sid;
			break;
		}
	}
	user_unlink_session(s);
	env->nsessions--;
	free(s->full);
	free(s->presence);
	buf_free(&s->state);
	free(s);
}

struct rtr_session *rtr_session_bind(struct rtr_link *l, uint64_t sid, const char *full, size_t len)
{
	const char *slash = memchr(full, '/', len);
	const char *at = memchr(full, '@', len);
	if (!slash || !at || at > slash || slash + 1 == full + len || at == full)
		return NULL;
	struct rtr_session *old = rtr_session_by_sid(l, sid);
	if (old)
		rtr_session_unbind(old);
	old = rtr_session_by_full(full, len);
	if (old)	/* the same full JID bound elsewhere: the newest binding wins */
		rtr_session_unbind(old);

	size_t blen = (size_t)(slash - full);
	struct rtr_user *u = rtr_user_find(full, blen);
	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u || !(u->bare = strndup(full, blen))) {
			free(u);
			return NULL;
		}
		for (char *c = u->bare; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		struct rtr_user **b = &env->users[hash_bytes(full, blen) & (env->nusers_buckets - 1)];
		u->next = *b;
		*b = u;
	}
	struct rtr_session *s = calloc(1, sizeof(*s));
	if (!s || !(s->full = strndup(full, len))) {
		free(s);
		if (!u->sessions) {
			u->sessions = NULL;
			struct rtr_session tmp = {.user = u};
			user_unlink_session(&tmp);
		}
		return NULL;
	}
	s->resource = s->full + blen + 1;
	s->link = l;
	s->sid = sid;
	s->user = u;
	s->next_in_user = u->sessions;
	u->sessions = s;
	struct rtr_session **b = &env->by_sid[hash_sid(l, sid) & (env->nsid_buckets - 1)];
	s->next_by_sid = *b;
	*b = s;
	env->nsessions++;
	return s;
}

void rtr_link_drop_sessions(struct rtr_link *l)
{
	size_t dropped = 0;
	for (size_t i = 0; i < env->nsid_buckets; i++) {
		struct rtr_session *s = env->by_sid[i], *next;
		for (; s; s = next) {
			next = s->next_by_sid;
			if (s->link == l) {
				rtr_session_unbind(s);
				dropped++;
			}
		}
	}
	if (dropped)
		log_info("routes of a stream worker dropped", "link=%s sessions=%zu", l->name, dropped);
}

void rtr_routes_free(void)
{
	for (size_t i = 0; i < env->nsid_buckets; i++)
		while (env->by_sid[i])
			rtr_session_unbind(env->by_sid[i]);
	free(env->users);
	free(env->by_sid);
	env->users = NULL;
	env->by_sid = NULL;
}
