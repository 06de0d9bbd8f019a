/* Helpers shared by the storage backend suites (test_sto_shapes.c, test_sto_durable.c):
 * fixtures per backend (services from build/services.env), request builders through
 * sto_dispatch, and the fixed archive history with its queries. */
#ifndef XMPPD_TEST_STO_SUITE_H
#define XMPPD_TEST_STO_SUITE_H
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "sto.h"
#include "tlv.h"
#include "workers/storage/backend.h"
#include "workers/storage/storage.h"

static const char *const hosts[] = {"localhost", "example.org"};

struct fixture {
	char dir[64];
	struct sto_be_spec spec;
	struct sto_env env;
};

static inline void open_env(struct fixture *fx)
{
	struct sto_settings s = {.datadir = fx->dir, .vhosts = hosts, .nvhosts = 2,
				 .scram_iter = 4096, .specs = &fx->spec, .nspecs = 1};
	char err[256];
	if (sto_env_open(&fx->env, &s, err, sizeof(err)) < 0)
		fail_msg("sto_env_open(%s): %s", fx->spec.name, err);
}

static inline int setup_spec(void **state, const char *name, const char *arg)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_sto_shapes.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->spec.name = name;
	fx->spec.arg = arg;
	open_env(fx);
	*state = fx;
	return 0;
}

static inline int setup_memory(void **state) { return setup_spec(state, "memory", NULL); }
static inline int setup_file(void **state) { return setup_spec(state, "file", NULL); }

/* A service URL from the environment or from build/services.env (tools/services.sh). */
static inline const char *service(const char *name)
{
	static char names[4][64], vals[4][600];
	static int n;
	const char *e = getenv(name);
	char line[600];
	FILE *f;

	if (e && *e)
		return e;
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return vals[i];
	if (n == 4 || !(f = fopen("build/services.env", "r")))
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		size_t k = strlen(name);
		if (strncmp(line, name, k) == 0 && line[k] == '=') {
			line[strcspn(line, "\n")] = 0;
			snprintf(names[n], sizeof(names[n]), "%s", name);
			snprintf(vals[n], sizeof(vals[n]), "%s", line + k + 1);
			fclose(f);
			return vals[n++];
		}
	}
	fclose(f);
	return NULL;
}

/* The test Redis with keys of this process only (concurrent runs share the server). */
static inline const char *redis_url(void)
{
	static char url[700];
	const char *base = service("XMPPD_TEST_REDIS");
	if (!base)
		return NULL;
	snprintf(url, sizeof(url), "%s?prefix=t%d", base, (int)getpid());
	return url;
}

static inline int setup_cached(void **state, const char *name, const char *arg)
{
	const char *url = redis_url();
	if (!url || setup_spec(state, name, arg) != 0)
		return -1;
	struct fixture *fx = *state;
	sto_env_close(&fx->env);
	fx->spec.cache_url = url;
	open_env(fx);
	return 0;
}

static inline int setup_memory_redis(void **state) { return setup_cached(state, "memory", NULL); }
static inline int setup_file_redis(void **state) { return setup_cached(state, "file", NULL); }

/* Redis down from the start (nothing listens on port 1): everything still works. */
static inline int setup_file_dead_redis(void **state)
{
	setup_spec(state, "file", NULL);
	struct fixture *fx = *state;
	sto_env_close(&fx->env);
	fx->spec.cache_url = "redis://127.0.0.1:1/0";
	open_env(fx);
	return 0;
}

/* A database of this process on the test server (concurrent runs must not share tables);
 * created on first use, dropped at exit. The last dbname= of a conninfo wins. */
static char pg_db[64];
static inline const char *pg_conninfo(void)
{
	static char ci[700];
	const char *base = service("XMPPD_TEST_POSTGRESQL");
	char cmd[900];

	if (!base)
		return NULL;
	if (!pg_db[0]) {
		snprintf(pg_db, sizeof(pg_db), "xmppd_u%d", (int)getpid());
		snprintf(cmd, sizeof(cmd), "psql -q '%s' -c 'CREATE DATABASE %s' >/dev/null 2>&1", base,
			 pg_db);
		if (system(cmd) != 0)
			return NULL;
		snprintf(ci, sizeof(ci), "%s dbname=%s", base, pg_db);
	}
	return ci;
}

static inline void pg_drop_db(void)
{
	const char *base = service("XMPPD_TEST_POSTGRESQL");
	char cmd[900];
	if (!base || !pg_db[0])
		return;
	snprintf(cmd, sizeof(cmd), "psql -q '%s' -c 'DROP DATABASE IF EXISTS %s WITH (FORCE)' "
		 ">/dev/null 2>&1", base, pg_db);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot drop the test database %s\n", pg_db);
}

/* PostgreSQL: every test starts from an empty database, so the schema is created each time. */
static inline int setup_pg(void **state)
{
	const char *ci = pg_conninfo();
	char cmd[1024];
	if (!ci)
		return -1;
	snprintf(cmd, sizeof(cmd), "psql -q '%s' -c 'DROP TABLE IF EXISTS xmppd_kv, xmppd_map, "
		 "xmppd_archive, xmppd_schema' >/dev/null 2>&1", ci);
	assert_int_equal(system(cmd), 0);
	return setup_spec(state, "postgresql", ci);
}

/* MongoDB (only when XMPPD_TEST_MONGODB_URI names a server, as mongodb://HOST[:PORT] without
 * a path): every test gets a database of its own, xmppd_t_<pid>_<n>. */
static inline int setup_mongo(void **state)
{
	static char uri[600];
	static unsigned n;
	const char *base = getenv("XMPPD_TEST_MONGODB_URI");
	if (!base || !*base)
		return -1;
	snprintf(uri, sizeof(uri), "%s/xmppd_t_%d_%u", base, (int)getpid(), n++);
	return setup_spec(state, "mongodb", uri);
}

static inline int setup_pg_redis(void **state)
{
	if (setup_pg(state) != 0)
		return -1;
	struct fixture *fx = *state;
	sto_env_close(&fx->env);
	fx->spec.cache_url = redis_url();
	if (!fx->spec.cache_url)
		return -1;
	open_env(fx);
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];
	sto_env_close(&fx->env);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

/* Request building: op, host, store, user (NULLs skipped), then more fields by the caller. */
static inline void req(struct buf *b, uint32_t op, const char *host, const char *store, const char *user)
{
	buf_init(b);
	assert_int_equal(tlv_put_u32(b, STO_T_OP, op), 0);
	if (host)
		assert_int_equal(tlv_put_str(b, STO_T_HOST, host), 0);
	if (store)
		assert_int_equal(tlv_put_str(b, STO_T_STORE, store), 0);
	if (user)
		assert_int_equal(tlv_put_str(b, STO_T_USER, user), 0);
}

/* Sends b (freed) and returns the status; reply holds the whole reply. */
static inline uint32_t send_req(struct fixture *fx, struct buf *b, struct buf *reply)
{
	struct rbuf r;
	struct tlv t;
	uint32_t st = 999;

	buf_init(reply);
	sto_dispatch(&fx->env, b->data, b->len, reply);
	buf_free(b);
	rbuf_init(&r, reply->data, reply->len);
	if (tlv_next(&r, &t) != 1 || t.tag != STO_T_STATUS || tlv_u32(&t, &st) < 0)
		fail_msg("reply does not start with a status");
	return st;
}

static inline uint32_t send_drop(struct fixture *fx, struct buf *b)
{
	struct buf rep;
	uint32_t st = send_req(fx, b, &rep);
	buf_free(&rep);
	return st;
}

static inline uint32_t kv_set(struct fixture *fx, const char *host, const char *store, const char *user,
		       const char *val)
{
	struct buf b;
	req(&b, STO_OP_KV_SET, host, store, user);
	if (val)
		assert_int_equal(tlv_put_str(&b, STO_T_VALUE, val), 0);
	return send_drop(fx, &b);
}

/* The value as a string in out (or "" when missing); returns the status. */
static inline uint32_t kv_get(struct fixture *fx, const char *host, const char *store, const char *user,
		       char *out, size_t cap)
{
	struct buf b, rep;
	struct tlv t;
	req(&b, STO_OP_KV_GET, host, store, user);
	uint32_t st = send_req(fx, &b, &rep);
	out[0] = 0;
	if (st == STO_OK) {
		assert_int_equal(tlv_find(rep.data, rep.len, STO_T_VALUE, &t), 1);
		assert_true(t.len < cap);
		memcpy(out, t.val, t.len);
		out[t.len] = 0;
	}
	buf_free(&rep);
	return st;
}

/* The values of all records with tag in the reply, joined with ',' into out. */
static inline void join_tag(const struct buf *rep, uint16_t tag, char *out, size_t cap)
{
	struct rbuf r;
	struct tlv t;
	size_t o = 0;
	out[0] = 0;
	rbuf_init(&r, rep->data, rep->len);
	while (tlv_next(&r, &t) == 1)
		if (t.tag == tag) {
			assert_true(o + t.len + 2 < cap);
			if (o)
				out[o++] = ',';
			memcpy(out + o, t.val, t.len);
			o += t.len;
			out[o] = 0;
		}
}

static inline uint32_t map_set(struct fixture *fx, const char *user, const char *key, const char *val)
{
	struct buf b;
	req(&b, STO_OP_MAP_SET, "localhost", "private", user);
	assert_int_equal(tlv_put_str(&b, STO_T_KEY, key), 0);
	if (val)
		assert_int_equal(tlv_put_str(&b, STO_T_VALUE, val), 0);
	return send_drop(fx, &b);
}

static inline uint32_t map_get(struct fixture *fx, const char *host, const char *user, const char *key,
			char *out, size_t cap)
{
	struct buf b, rep;
	struct tlv t;
	req(&b, STO_OP_MAP_GET, host, "private", user);
	assert_int_equal(tlv_put_str(&b, STO_T_KEY, key), 0);
	uint32_t st = send_req(fx, &b, &rep);
	out[0] = 0;
	if (st == STO_OK) {
		assert_int_equal(tlv_find(rep.data, rep.len, STO_T_VALUE, &t), 1);
		assert_true(t.len < cap);
		memcpy(out, t.val, t.len);
		out[t.len] = 0;
	}
	buf_free(&rep);
	return st;
}

static inline void put_entry(struct buf *b, const char *key, const char *val)
{
	struct buf e;
	buf_init(&e);
	assert_int_equal(tlv_put_str(&e, STO_T_KEY, key), 0);
	if (val)
		assert_int_equal(tlv_put_str(&e, STO_T_VALUE, val), 0);
	assert_int_equal(tlv_put(b, STO_T_ENTRY, e.data, e.len), 0);
	buf_free(&e);
}

/* The ENTRY records of a GET_ALL reply as "user=value,...". */
static inline void join_entries(const struct buf *rep, char *out, size_t cap)
{
	struct rbuf r;
	struct tlv t, u, v;
	size_t o = 0;
	out[0] = 0;
	rbuf_init(&r, rep->data, rep->len);
	while (tlv_next(&r, &t) == 1) {
		if (t.tag != STO_T_ENTRY)
			continue;
		assert_int_equal(tlv_find(t.val, t.len, STO_T_USER, &u), 1);
		assert_int_equal(tlv_find(t.val, t.len, STO_T_VALUE, &v), 1);
		o += (size_t)snprintf(out + o, cap - o, "%s%.*s=%.*s", o ? "," : "", (int)u.len,
				      (const char *)u.val, (int)v.len, (const char *)v.val);
		assert_true(o < cap);
	}
}

/* Archive: a fixed history of 60 items, alice talking with three peers. */
static const char *const peers[] = {"bob@localhost", "carol@example.org", "dave@localhost"};
#define HIST 60u
#define T0 1700000000000ull

static inline void append_history(struct fixture *fx, const char *user)
{
	for (unsigned i = 0; i < HIST; i++) {
		struct buf b, rep;
		char id[32], body[64];
		req(&b, STO_OP_ARCH_APPEND, "localhost", "archive", user);
		snprintf(body, sizeof(body), "<message><body>m%u</body></message>", i);
		assert_int_equal(tlv_put_str(&b, STO_T_VALUE, body), 0);
		assert_int_equal(tlv_put_u64(&b, STO_T_WHEN, T0 + 1000ull * i), 0);
		assert_int_equal(tlv_put_str(&b, STO_T_WITH, peers[i % 3]), 0);
		if (i % 2 == 0) {
			snprintf(id, sizeof(id), "id-%02u", i);
			assert_int_equal(tlv_put_str(&b, STO_T_ID, id), 0);
		}
		assert_int_equal(send_req(fx, &b, &rep), STO_OK);
		struct tlv t;
		assert_int_equal(tlv_find(rep.data, rep.len, STO_T_ID, &t), 1);
		if (i % 2 == 0)
			assert_memory_equal(t.val, id, strlen(id));
		else
			assert_int_equal(t.len, 24);
		buf_free(&rep);
	}
}

/* The bodies' numbers of the ITEMs in a FIND reply ("3,4,5"), COMPLETE and TOTAL. */
static inline void items_of(const struct buf *rep, char *out, size_t cap, uint32_t *complete,
		     uint32_t *total)
{
	struct rbuf r;
	struct tlv t, v;
	size_t o = 0;
	out[0] = 0;
	*complete = *total = 999;
	rbuf_init(&r, rep->data, rep->len);
	while (tlv_next(&r, &t) == 1) {
		if (t.tag == STO_T_COMPLETE)
			assert_int_equal(tlv_u32(&t, complete), 0);
		if (t.tag == STO_T_TOTAL)
			assert_int_equal(tlv_u32(&t, total), 0);
		if (t.tag != STO_T_ITEM)
			continue;
		assert_int_equal(tlv_find(t.val, t.len, STO_T_VALUE, &v), 1);
		const char *m = memmem(v.val, v.len, "body>m", 6);
		assert_non_null(m);
		o += (size_t)snprintf(out + o, cap - o, "%s%d", o ? "," : "", atoi(m + 6));
		assert_true(o < cap);
	}
}

struct aq {
	const char *name;
	uint64_t start, end;	/* 0 = absent; else index + 1 */
	const char *with, *before, *after, *ids;
	int limit;		/* -1 = absent */
	int reverse, total;
	uint32_t want_status;
	const char *want;	/* body numbers */
	uint32_t want_complete, want_total;	/* 999 = absent */
};

static const struct aq queries[] = {
	{"with dave, first 3", 0, 0, "dave@localhost", NULL, NULL, NULL, 3, 0, 1, STO_OK, "2,5,8", 0, 20},
	{"time window", 11, 15, NULL, NULL, NULL, NULL, -1, 0, 0, STO_OK, "10,11,12,13,14", 1, 999},
	{"after id-10, 4", 0, 0, NULL, NULL, "id-10", NULL, 4, 0, 0, STO_OK, "11,12,13,14", 0, 999},
	{"last page (reverse)", 0, 0, NULL, NULL, NULL, NULL, 3, 1, 1, STO_OK, "59,58,57", 0, 60},
	{"before id-20 reverse", 0, 0, NULL, "id-20", NULL, NULL, 2, 1, 0, STO_OK, "19,18", 0, 999},
	{"between ids", 0, 0, NULL, "id-08", "id-04", NULL, -1, 0, 1, STO_OK, "5,6,7", 1, 3},
	{"ids", 0, 0, NULL, NULL, NULL, "id-30,id-02,nope", -1, 0, 0, STO_OK, "2,30", 1, 999},
	{"count only", 0, 0, "bob@localhost", NULL, NULL, NULL, 0, 0, 1, STO_OK, "", 0, 20},
	{"empty window", 30, 20, NULL, NULL, NULL, NULL, -1, 0, 1, STO_OK, "", 1, 0},
	{"unknown after", 0, 0, NULL, NULL, "no-such", NULL, -1, 0, 0, STO_ENOTFOUND, "", 999, 999},
	{"with+window+reverse", 1, 30, "carol@example.org", NULL, NULL, NULL, 2, 1, 1, STO_OK, "28,25", 0, 10},
};

static inline uint32_t run_query(struct fixture *fx, const char *user, const struct aq *q,
			  struct buf *rep)
{
	struct buf b;
	req(&b, STO_OP_ARCH_FIND, "localhost", "archive", user);
	if (q->start)
		assert_int_equal(tlv_put_u64(&b, STO_T_START, T0 + 1000ull * (q->start - 1)), 0);
	if (q->end)
		assert_int_equal(tlv_put_u64(&b, STO_T_END, T0 + 1000ull * (q->end - 1)), 0);
	if (q->with)
		assert_int_equal(tlv_put_str(&b, STO_T_WITH, q->with), 0);
	if (q->before)
		assert_int_equal(tlv_put_str(&b, STO_T_BEFORE, q->before), 0);
	if (q->after)
		assert_int_equal(tlv_put_str(&b, STO_T_AFTER, q->after), 0);
	if (q->limit >= 0)
		assert_int_equal(tlv_put_u32(&b, STO_T_LIMIT, (uint32_t)q->limit), 0);
	if (q->reverse)
		assert_int_equal(tlv_put_u32(&b, STO_T_REVERSE, 1), 0);
	if (q->total)
		assert_int_equal(tlv_put_u32(&b, STO_T_TOTAL, 1), 0);
	for (const char *p = q->ids; p && *p;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		assert_int_equal(tlv_put(&b, STO_T_ID, p, n), 0);
		p += n + (c != NULL);
	}
	return send_req(fx, &b, rep);
}

static inline void check_queries(struct fixture *fx, const char *user)
{
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		const struct aq *q = &queries[i];
		struct buf rep;
		char got[512];
		uint32_t complete, total, st = run_query(fx, user, q, &rep);
		if (st != q->want_status)
			fail_msg("%s: status %u, want %u", q->name, st, q->want_status);
		items_of(&rep, got, sizeof(got), &complete, &total);
		if (strcmp(got, q->want) != 0 || complete != q->want_complete || total != q->want_total)
			fail_msg("%s: got [%s] complete %u total %u, want [%s] %u %u", q->name, got,
				 complete, total, q->want, q->want_complete, q->want_total);
		buf_free(&rep);
	}
}

static inline uint32_t acct_call(struct fixture *fx, uint32_t op, const char *user, const char *pw,
			  struct buf *rep)
{
	struct buf b;
	req(&b, op, "localhost", NULL, user);
	if (pw)
		assert_int_equal(tlv_put_str(&b, STO_T_PASSWORD, pw), 0);
	if (op == STO_OP_SCRAM_PARAMS)
		assert_int_equal(tlv_put_str(&b, STO_T_MECH, "SCRAM-SHA-256"), 0);
	return send_req(fx, &b, rep);
}

static inline void append_garbage(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "ab");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static inline void append_n(struct fixture *fx, const char *prefix, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct buf b;
		char id[32];
		snprintf(id, sizeof(id), "%s%u", prefix, i);
		req(&b, STO_OP_ARCH_APPEND, "localhost", "archive", "shared");
		assert_int_equal(tlv_put_str(&b, STO_T_VALUE, "<message><body>m1</body></message>"), 0);
		assert_int_equal(tlv_put_u64(&b, STO_T_WHEN, T0 + i), 0);
		assert_int_equal(tlv_put_str(&b, STO_T_WITH, prefix), 0);
		assert_int_equal(tlv_put_str(&b, STO_T_ID, id), 0);
		if (send_drop(fx, &b) != STO_OK)
			fail_msg("append %s failed", id);
	}
}

#endif
