/* The Redis cache (hiredis) in front of any backend, for keyval and map reads: filled on a
 * read, deleted after every write, expiring after a TTL. The backend stays the truth: when
 * Redis is down reads go to the backend (slower), writes are never refused, and keys whose
 * invalidation failed are deleted before the cache is trusted again. */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "sto.h"

#define CACHE_TTL_DEFAULT_S 300u
#define CACHE_TIMEOUT_MS 200	/* a Redis command; a slow Redis must not stall storage */
#define CACHE_RETRY_MS 1000u	/* after a failure, no reconnect attempt before this */
#define CACHE_PENDING_MAX 1024u	/* invalidations remembered while Redis is away */

struct cache_backend {
	struct sto_backend base;
	struct sto_backend *inner;
	char host[256];
	int port, db;
	unsigned ttl_s;
	char prefix[40];	/* of every key: several sites can share one Redis */
	redisContext *rc;
	uint64_t next_try_ms;
	struct buf *pending;	/* keys to delete before the cache is used again */
	size_t npending;
	int overflow;		/* too many: drop every cached key of ours instead */
	uint64_t hits, misses;
};

static uint64_t cache_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One "name=value" of the query: ttl=SECONDS or prefix=[A-Za-z0-9_-]{1,32}. */
static int cache_parse_param(struct cache_backend *c, const char *p, size_t n)
{
	char *e;
	if (n > 4 && strncmp(p, "ttl=", 4) == 0) {
		long ttl = strtol(p + 4, &e, 10);
		if (e != p + n || ttl < 1 || ttl > 86400)
			return -1;
		c->ttl_s = (unsigned)ttl;
		return 0;
	}
	if (n > 7 && n - 7 <= 32 && strncmp(p, "prefix=", 7) == 0) {
		for (size_t i = 7; i < n; i++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", p[i]))
				return -1;
		snprintf(c->prefix, sizeof(c->prefix), "%.*s", (int)(n - 7), p + 7);
		return 0;
	}
	return -1;
}

/* "redis://HOST[:PORT][/DB][?ttl=SECONDS][&prefix=NAME]" */
static int cache_parse_url(struct cache_backend *c, const char *url)
{
	const char *p = url, *e;
	size_t n;
	if (strncmp(p, "redis://", 8) != 0)
		return -1;
	p += 8;
	n = strcspn(p, ":/?");
	if (n == 0 || n >= sizeof(c->host))
		return -1;
	memcpy(c->host, p, n);
	c->host[n] = 0;
	p += n;
	c->port = 6379;
	c->ttl_s = CACHE_TTL_DEFAULT_S;
	snprintf(c->prefix, sizeof(c->prefix), "xmppd");
	if (*p == ':') {
		long port = strtol(p + 1, (char **)&e, 10);
		if (e == p + 1 || port < 1 || port > 65535)
			return -1;
		c->port = (int)port;
		p = e;
	}
	if (*p == '/' && p[1] && p[1] != '?') {
		long db = strtol(p + 1, (char **)&e, 10);
		if (e == p + 1 || db < 0 || db > 15)
			return -1;
		c->db = (int)db;
		p = e;
	} else if (*p == '/') {
		p++;
	}
	if (*p == '?') {
		do {
			size_t plen = strcspn(++p, "&");
			if (cache_parse_param(c, p, plen) < 0)
				return -1;
			p += plen;
		} while (*p == '&');
	}
	return *p ? -1 : 0;
}

static void cache_drop(struct cache_backend *c, const char *what)
{
	log_warn("redis cache unavailable, reading from the backend", "reason=\"%s\"",
		 c->rc && c->rc->errstr[0] ? c->rc->errstr : what);
	if (c->rc)
		redisFree(c->rc);
	c->rc = NULL;
	c->next_try_ms = cache_now_ms() + CACHE_RETRY_MS;
}

static redisReply *cache_cmd(struct cache_backend *c, int argc, const char **argv,
			     const size_t *lens)
{
	redisReply *r = redisCommandArgv(c->rc, argc, argv, lens);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		if (r)
			freeReplyObject(r);
		cache_drop(c, "command failed");
		return NULL;
	}
	return r;
}

/* Deletes every key of ours (after too many missed invalidations). */
static int cache_flush_ours(struct cache_backend *c)
{
	char cursor[32] = "0", match[48];
	snprintf(match, sizeof(match), "%s:*", c->prefix);
	for (int rounds = 0; rounds < 100000; rounds++) {
		const char *argv[] = {"SCAN", cursor, "MATCH", match, "COUNT", "1000"};
		redisReply *r = cache_cmd(c, 6, argv, NULL);
		if (!r)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			freeReplyObject(r);
			return -1;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		redisReply *keys = r->element[1];
		for (size_t i = 0; i < keys->elements; i++) {
			const char *dv[] = {"DEL", keys->element[i]->str};
			const size_t dl[] = {3, keys->element[i]->len};
			redisReply *d = cache_cmd(c, 2, dv, dl);
			if (!d) {
				freeReplyObject(r);
				return -1;
			}
			freeReplyObject(d);
		}
		freeReplyObject(r);
		if (strcmp(cursor, "0") == 0)
			return 0;
	}
	return -1;
}

/* Catches up on missed invalidations; 0 when the cache can be trusted. */
static int cache_catch_up(struct cache_backend *c)
{
	if (c->overflow) {
		if (cache_flush_ours(c) < 0)
			return -1;
		c->overflow = 0;
	}
	while (c->npending) {
		struct buf *k = &c->pending[c->npending - 1];
		const char *argv[] = {"DEL", (const char *)k->data};
		const size_t lens[] = {3, k->len};
		redisReply *r = cache_cmd(c, 2, argv, lens);
		if (!r)
			return -1;
		freeReplyObject(r);
		buf_free(k);
		c->npending--;
	}
	return 0;
}

static int cache_ready(struct cache_backend *c)
{
	struct timeval tv = {0, CACHE_TIMEOUT_MS * 1000};
	if (c->rc)
		return 0;
	if (cache_now_ms() < c->next_try_ms)
		return -1;
	c->rc = redisConnectWithTimeout(c->host, c->port, tv);
	if (!c->rc || c->rc->err || redisSetTimeout(c->rc, tv) != REDIS_OK) {
		cache_drop(c, "cannot connect");
		return -1;
	}
	if (c->db) {
		char db[8];
		snprintf(db, sizeof(db), "%d", c->db);
		const char *argv[] = {"SELECT", db};
		redisReply *r = cache_cmd(c, 2, argv, NULL);
		if (!r)
			return -1;
		freeReplyObject(r);
	}
	if (cache_catch_up(c) < 0)
		return -1;
	log_info("redis cache connected", "host=%s port=%d", c->host, c->port);
	return 0;
}

/* <prefix>:<shape>:<host>\0<store>\0<user>[\0<key>] — binary-safe, never ambiguous. */
static int cache_key(const struct cache_backend *c, struct buf *k, char shape,
		     const struct sto_where *w)
{
	buf_init(k);
	if (buf_printf(k, "%s:%c:", c->prefix, shape) < 0 || buf_put(k, w->hostname, strlen(w->hostname) + 1) < 0 ||
	    buf_put(k, w->store, strlen(w->store) + 1) < 0 ||
	    buf_put(k, w->user, strlen(w->user) + (shape == 'm')) < 0 ||
	    (shape == 'm' && buf_put(k, w->key, strlen(w->key)) < 0)) {
		buf_free(k);
		return -1;
	}
	return 0;
}

/* Cached: 'v' + value, or "n" for a known absence. 1 hit, 0 miss or unusable. */
static int cache_lookup(struct cache_backend *c, const struct buf *k, struct buf *out, int *found)
{
	const char *argv[] = {"GET", (const char *)k->data};
	const size_t lens[] = {3, k->len};
	redisReply *r;
	int hit = 0;

	if (cache_ready(c) < 0 || !(r = cache_cmd(c, 2, argv, lens)))
		return 0;
	if (r->type == REDIS_REPLY_STRING && r->len >= 1 && (r->str[0] == 'v' || r->str[0] == 'n')) {
		*found = r->str[0] == 'v';
		hit = !*found || buf_put(out, r->str + 1, r->len - 1) == 0;
	}
	freeReplyObject(r);
	c->hits += (uint64_t)hit;
	c->misses += (uint64_t)!hit;
	return hit;
}

static void cache_store(struct cache_backend *c, const struct buf *k, const struct buf *val,
			int found)
{
	struct buf v;
	char ttl[16];
	redisReply *r;

	if (!c->rc)
		return;
	buf_init(&v);
	snprintf(ttl, sizeof(ttl), "%u", c->ttl_s);
	if (buf_put_u8(&v, found ? 'v' : 'n') == 0 && (!found || buf_put(&v, val->data, val->len) == 0)) {
		const char *argv[] = {"SET", (const char *)k->data, (const char *)v.data, "EX", ttl};
		const size_t lens[] = {3, k->len, v.len, 2, strlen(ttl)};
		if ((r = cache_cmd(c, 5, argv, lens)))
			freeReplyObject(r);
	}
	buf_free(&v);
}

/* After a write: delete the cached copy now, or remember to before the cache is used. */
static void cache_invalidate(struct cache_backend *c, struct buf *k)
{
	const char *argv[] = {"DEL", (const char *)k->data};
	const size_t lens[] = {3, k->len};
	redisReply *r;

	if (cache_ready(c) == 0 && (r = cache_cmd(c, 2, argv, lens))) {
		freeReplyObject(r);
		buf_free(k);
		return;
	}
	if (c->npending < CACHE_PENDING_MAX) {
		c->pending[c->npending++] = *k;	/* taken */
		return;
	}
	c->overflow = 1;
	buf_free(k);
}

static int cache_get(struct sto_backend *b, char shape, const struct sto_where *w,
		     struct buf *out, char *why)
{
	struct cache_backend *c = (struct cache_backend *)b;
	struct buf k, val;
	int found = 0, rc;

	if (cache_key(c, &k, shape, w) < 0) {
		sto_whyf(why, "out of memory");
		return STO_EIO;
	}
	if (cache_lookup(c, &k, out, &found)) {
		buf_free(&k);
		if (!found)
			sto_whyf(why, "not found");
		return found ? STO_OK : STO_ENOTFOUND;
	}
	buf_init(&val);
	rc = shape == 'k' ? c->inner->ops->kv_get(c->inner, w, &val, why)
			  : c->inner->ops->map_get(c->inner, w, &val, why);
	if (rc == STO_OK || rc == STO_ENOTFOUND)
		cache_store(c, &k, &val, rc == STO_OK);
	if (rc == STO_OK && buf_put(out, val.data, val.len) < 0)
		rc = STO_EIO;
	buf_free(&val);
	buf_free(&k);
	return rc;
}

static int cache_kv_get(struct sto_backend *b, const struct sto_where *w, struct buf *out,
			char *why)
{
	return cache_get(b, 'k', w, out, why);
}

static int cache_kv_add(struct sto_backend *b, const struct sto_where *w, const uint8_t *v,
			size_t n, char *why)
{
	struct cache_backend *c = (struct cache_backend *)b;
	struct buf k;
	int rc = c->inner->ops->kv_add(c->inner, w, v, n, why);

	if (cache_key(c, &k, 'k', w) == 0)	/* a cached absence must go */
		cache_invalidate(c, &k);
	else
		c->overflow = 1;
	return rc;
}

static int cache_map_get(struct sto_backend *b, const struct sto_where *w, struct buf *out,
			 char *why)
{
	return cache_get(b, 'm', w, out, why);
}

static int cache_set(struct sto_backend *b, char shape, const struct sto_where *w,
		     const uint8_t *v, size_t n, int del, char *why)
{
	struct cache_backend *c = (struct cache_backend *)b;
	struct buf k;
	int rc = shape == 'k' ? c->inner->ops->kv_set(c->inner, w, v, n, del, why)
			      : c->inner->ops->map_set(c->inner, w, v, n, del, why);

	/* Invalidated even when the write failed: it may have happened anyway. */
	if (cache_key(c, &k, shape, w) == 0)
		cache_invalidate(c, &k);
	else
		c->overflow = 1;
	return rc;
}

static int cache_kv_set(struct sto_backend *b, const struct sto_where *w, const uint8_t *v,
			size_t n, int del, char *why)
{
	return cache_set(b, 'k', w, v, n, del, why);
}

static int cache_map_set(struct sto_backend *b, const struct sto_where *w, const uint8_t *v,
			 size_t n, int del, char *why)
{
	return cache_set(b, 'm', w, v, n, del, why);
}

static int cache_collect_user(void *arg, const char *user, const uint8_t *v, size_t n)
{
	(void)v;
	(void)n;
	return sto_names_push(arg, user);
}

static int cache_map_delete_all(struct sto_backend *b, const struct sto_where *w,
				uint32_t *count, char *why)
{
	struct cache_backend *c = (struct cache_backend *)b;
	struct sto_names users = {0};
	int listed = c->inner->ops->map_get_all(c->inner, w, cache_collect_user, &users, why);
	int rc = c->inner->ops->map_delete_all(c->inner, w, count, why);

	if (listed != STO_OK)
		c->overflow = 1;	/* unknown users: forget every cached key */
	for (size_t i = 0; listed == STO_OK && i < users.n; i++) {
		struct sto_where u = *w;
		struct buf k;
		u.user = users.v[i];
		if (cache_key(c, &k, 'm', &u) == 0)
			cache_invalidate(c, &k);
		else
			c->overflow = 1;
	}
	sto_names_free(&users);
	return rc;
}

/* Everything else goes straight to the backend. */
#define CACHE_PASS(name, params, args)                                                           \
	static int cache_##name params                                                          \
	{                                                                                        \
		struct sto_backend *in = ((struct cache_backend *)b)->inner;                     \
		return in->ops->name args;                                                       \
	}
CACHE_PASS(kv_users, (struct sto_backend * b, const struct sto_where *w, struct sto_names *o,
		      char *why), (in, w, o, why))
CACHE_PASS(map_get_all, (struct sto_backend * b, const struct sto_where *w, sto_pair_fn fn,
			 void *arg, char *why), (in, w, fn, arg, why))
CACHE_PASS(arch_append, (struct sto_backend * b, const struct sto_where *w, const char *id,
			 uint64_t when, const char *with, const uint8_t *v, size_t n, char *why),
	   (in, w, id, when, with, v, n, why))
CACHE_PASS(arch_meta, (struct sto_backend * b, const struct sto_where *w,
		       struct sto_meta_list *o, char *why), (in, w, o, why))
CACHE_PASS(arch_value, (struct sto_backend * b, const struct sto_where *w, uint64_t ref,
			struct buf *o, char *why), (in, w, ref, o, why))
CACHE_PASS(arch_remove, (struct sto_backend * b, const struct sto_where *w,
			 const uint64_t *refs, size_t n, char *why), (in, w, refs, n, why))
CACHE_PASS(stores, (struct sto_backend * b, size_t host, int shape, struct sto_names *o,
		    char *why), (in, host, shape, o, why))
CACHE_PASS(shape_users, (struct sto_backend * b, const struct sto_where *w, int shape,
			 struct sto_names *o, char *why), (in, w, shape, o, why))
CACHE_PASS(map_keys, (struct sto_backend * b, const struct sto_where *w, struct sto_names *o,
		      char *why), (in, w, o, why))

static int cache_arch_find(struct sto_backend *b, const struct sto_where *w,
			   const struct sto_query *q, size_t reply_max, struct buf *out, char *why)
{
	return sto_backend_find(((struct cache_backend *)b)->inner, w, q, reply_max, out, why);
}

static void cache_close(struct sto_backend *b)
{
	struct cache_backend *c = (struct cache_backend *)b;
	c->inner->ops->close(c->inner);
	if (c->rc)
		redisFree(c->rc);
	for (size_t i = 0; i < c->npending; i++)
		buf_free(&c->pending[i]);
	free(c->pending);
	free(c);
}

static const struct sto_backend_ops cache_ops = {
	.name = "redis-cache",
	.close = cache_close,
	.kv_get = cache_kv_get,
	.kv_set = cache_kv_set,
	.kv_add = cache_kv_add,
	.kv_users = cache_kv_users,
	.map_get = cache_map_get,
	.map_set = cache_map_set,
	.map_get_all = cache_map_get_all,
	.map_delete_all = cache_map_delete_all,
	.arch_append = cache_arch_append,
	.arch_meta = cache_arch_meta,
	.arch_value = cache_arch_value,
	.arch_remove = cache_arch_remove,
	.stores = cache_stores,
	.shape_users = cache_shape_users,
	.map_keys = cache_map_keys,
	.arch_find = cache_arch_find,
};

struct sto_backend *sto_backend_uncached(struct sto_backend *b)
{
	return b->ops == &cache_ops ? ((struct cache_backend *)b)->inner : b;
}

struct sto_backend *sto_cache_wrap_take(struct sto_backend *inner, const char *url, char *err,
					size_t errlen)
{
	struct cache_backend *c = calloc(1, sizeof(*c));

	if (!c || !(c->pending = calloc(CACHE_PENDING_MAX, sizeof(*c->pending)))) {
		free(c);
		inner->ops->close(inner);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->base.ops = &cache_ops;
	c->inner = inner;
	if (cache_parse_url(c, url) < 0) {
		snprintf(err, errlen, "bad redis URL (want redis://HOST[:PORT][/DB][?ttl=SECONDS]"
			 "[&prefix=NAME])");
		cache_close(&c->base);
		return NULL;
	}
	/* Redis may be down at start: the cache connects when it can. A stale copy from before
	 * this start may exist (a write while we were away): start from a clean slate. */
	c->overflow = 1;
	cache_ready(c);
	return &c->base;
}
