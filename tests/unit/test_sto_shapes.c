/* The backend test suite for keyval, map and archive, through sto_dispatch: the same cases on
 * every backend (memory, file; PostgreSQL and Redis when tests/services give their URLs),
 * archive queries cross-checked between backends on identical data, bad requests, and the
 * file backend's persistence and torn-write recovery. */
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

static void open_env(struct fixture *fx)
{
	struct sto_settings s = {.datadir = fx->dir, .vhosts = hosts, .nvhosts = 2,
				 .scram_iter = 4096, .specs = &fx->spec, .nspecs = 1};
	char err[256];
	if (sto_env_open(&fx->env, &s, err, sizeof(err)) < 0)
		fail_msg("sto_env_open(%s): %s", fx->spec.name, err);
}

static int setup_spec(void **state, const char *name, const char *arg)
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

static int setup_memory(void **state) { return setup_spec(state, "memory", NULL); }
static int setup_file(void **state) { return setup_spec(state, "file", NULL); }

/* A service URL from the environment or from build/services.env (tools/services.sh). */
static const char *service(const char *name)
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
static const char *redis_url(void)
{
	static char url[700];
	const char *base = service("XMPPD_TEST_REDIS");
	if (!base)
		return NULL;
	snprintf(url, sizeof(url), "%s?prefix=t%d", base, (int)getpid());
	return url;
}

static int setup_cached(void **state, const char *name, const char *arg)
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

static int setup_memory_redis(void **state) { return setup_cached(state, "memory", NULL); }
static int setup_file_redis(void **state) { return setup_cached(state, "file", NULL); }

/* Redis down from the start (nothing listens on port 1): everything still works. */
static int setup_file_dead_redis(void **state)
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
static const char *pg_conninfo(void)
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

static void pg_drop_db(void)
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
static int setup_pg(void **state)
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
static int setup_mongo(void **state)
{
	static char uri[600];
	static unsigned n;
	const char *base = getenv("XMPPD_TEST_MONGODB_URI");
	if (!base || !*base)
		return -1;
	snprintf(uri, sizeof(uri), "%s/xmppd_t_%d_%u", base, (int)getpid(), n++);
	return setup_spec(state, "mongodb", uri);
}

static int setup_pg_redis(void **state)
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

static int teardown(void **state)
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
static void req(struct buf *b, uint32_t op, const char *host, const char *store, const char *user)
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
static uint32_t send_req(struct fixture *fx, struct buf *b, struct buf *reply)
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

static uint32_t send_drop(struct fixture *fx, struct buf *b)
{
	struct buf rep;
	uint32_t st = send_req(fx, b, &rep);
	buf_free(&rep);
	return st;
}

static uint32_t kv_set(struct fixture *fx, const char *host, const char *store, const char *user,
		       const char *val)
{
	struct buf b;
	req(&b, STO_OP_KV_SET, host, store, user);
	if (val)
		assert_int_equal(tlv_put_str(&b, STO_T_VALUE, val), 0);
	return send_drop(fx, &b);
}

/* The value as a string in out (or "" when missing); returns the status. */
static uint32_t kv_get(struct fixture *fx, const char *host, const char *store, const char *user,
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
static void join_tag(const struct buf *rep, uint16_t tag, char *out, size_t cap)
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

static void test_keyval(void **state)
{
	struct fixture *fx = *state;
	char v[256];
	struct buf b, rep;

	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", "<vCard/>"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "<vCard/>");
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", "<vCard><FN>A</FN></vCard>"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "<vCard><FN>A</FN></vCard>");
	/* empty values are values */
	assert_int_equal(kv_set(fx, "localhost", "vcard", "carol", ""), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "carol", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "");
	/* isolation: another host, another store */
	assert_int_equal(kv_get(fx, "example.org", "vcard", "alice", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(kv_get(fx, "localhost", "roster", "alice", v, sizeof(v)), STO_ENOTFOUND);
	/* names that could escape a directory stay data */
	assert_int_equal(kv_set(fx, "localhost", "vcard", "../x", "dots"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "../x", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "dots");
	assert_int_equal(kv_set(fx, "localhost", "vcard", "", "host-wide"), STO_OK);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "bob", "b"), STO_OK);
	assert_int_equal(kv_set(fx, "example.org", "vcard", "zed", "z"), STO_OK);
	req(&b, STO_OP_KV_USERS, "localhost", "vcard", NULL);
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	join_tag(&rep, STO_T_USER, v, sizeof(v));
	assert_string_equal(v, "../x,alice,bob,carol");
	buf_free(&rep);
	/* delete, and delete again */
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", NULL), STO_OK);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", NULL), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "host-wide");
	req(&b, STO_OP_KV_USERS, "localhost", "nothing", NULL);
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	join_tag(&rep, STO_T_USER, v, sizeof(v));
	assert_string_equal(v, "");
	buf_free(&rep);
}

static uint32_t map_set(struct fixture *fx, const char *user, const char *key, const char *val)
{
	struct buf b;
	req(&b, STO_OP_MAP_SET, "localhost", "private", user);
	assert_int_equal(tlv_put_str(&b, STO_T_KEY, key), 0);
	if (val)
		assert_int_equal(tlv_put_str(&b, STO_T_VALUE, val), 0);
	return send_drop(fx, &b);
}

static uint32_t map_get(struct fixture *fx, const char *host, const char *user, const char *key,
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

static void put_entry(struct buf *b, const char *key, const char *val)
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
static void join_entries(const struct buf *rep, char *out, size_t cap)
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

static void test_map(void **state)
{
	struct fixture *fx = *state;
	char v[512];
	struct buf b, rep;
	struct tlv t;
	uint32_t n;

	assert_int_equal(map_get(fx, "localhost", "alice", "jabber:iq:roster", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(map_set(fx, "alice", "storage:bookmarks", "<b/>"), STO_OK);
	assert_int_equal(map_set(fx, "alice", "jabber:iq:roster", "<r/>"), STO_OK);
	assert_int_equal(map_set(fx, "bob", "storage:bookmarks", "<bb/>"), STO_OK);
	assert_int_equal(map_get(fx, "localhost", "alice", "storage:bookmarks", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "<b/>");
	assert_int_equal(map_get(fx, "example.org", "alice", "storage:bookmarks", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(map_set(fx, "alice", "jabber:iq:roster", NULL), STO_OK);
	assert_int_equal(map_get(fx, "localhost", "alice", "jabber:iq:roster", v, sizeof(v)), STO_ENOTFOUND);
	/* set_keys: set two, delete one */
	req(&b, STO_OP_MAP_SET_KEYS, "localhost", "private", "carol");
	put_entry(&b, "k1", "v1");
	put_entry(&b, "k2", "v2");
	put_entry(&b, "k1", NULL);
	assert_int_equal(send_drop(fx, &b), STO_OK);
	assert_int_equal(map_get(fx, "localhost", "carol", "k1", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(map_get(fx, "localhost", "carol", "k2", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "v2");
	/* a bad entry anywhere changes nothing */
	req(&b, STO_OP_MAP_SET_KEYS, "localhost", "private", "carol");
	put_entry(&b, "k3", "v3");
	assert_int_equal(tlv_put(&b, STO_T_ENTRY, "\0\0\0", 3), 0);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	assert_int_equal(map_get(fx, "localhost", "carol", "k3", v, sizeof(v)), STO_ENOTFOUND);
	/* get_all and delete_all across users, the host-wide one and one with a hashed name */
	char longuser[301], want[512];
	memset(longuser, 'a', 300);
	longuser[300] = 0;
	assert_int_equal(map_set(fx, "carol", "storage:bookmarks", "<cb/>"), STO_OK);
	assert_int_equal(map_set(fx, "", "storage:bookmarks", "<hb/>"), STO_OK);
	assert_int_equal(map_set(fx, longuser, "storage:bookmarks", "<lb/>"), STO_OK);
	req(&b, STO_OP_MAP_GET_ALL, "localhost", "private", NULL);
	assert_int_equal(tlv_put_str(&b, STO_T_KEY, "storage:bookmarks"), 0);
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	join_entries(&rep, v, sizeof(v));
	snprintf(want, sizeof(want), "=<hb/>,%s=<lb/>,alice=<b/>,bob=<bb/>,carol=<cb/>", longuser);
	assert_string_equal(v, want);
	buf_free(&rep);
	req(&b, STO_OP_MAP_DELETE_ALL, "localhost", "private", NULL);
	assert_int_equal(tlv_put_str(&b, STO_T_KEY, "storage:bookmarks"), 0);
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_COUNT, &t), 1);
	assert_int_equal(tlv_u32(&t, &n), 0);
	assert_int_equal(n, 5);
	buf_free(&rep);
	assert_int_equal(map_get(fx, "localhost", "bob", "storage:bookmarks", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(map_get(fx, "localhost", "carol", "k2", v, sizeof(v)), STO_OK);
}

/* Archive: a fixed history of 60 items, alice talking with three peers. */
static const char *const peers[] = {"bob@localhost", "carol@example.org", "dave@localhost"};
#define HIST 60u
#define T0 1700000000000ull

static void append_history(struct fixture *fx, const char *user)
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
static void items_of(const struct buf *rep, char *out, size_t cap, uint32_t *complete,
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

static uint32_t run_query(struct fixture *fx, const char *user, const struct aq *q,
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

static void check_queries(struct fixture *fx, const char *user)
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

static void test_archive(void **state)
{
	struct fixture *fx = *state;
	struct buf b, rep;
	struct tlv t, e;
	char got[512];
	uint32_t n, c, tot;

	append_history(fx, "alice");
	check_queries(fx, "alice");
	/* the same id twice is refused */
	req(&b, STO_OP_ARCH_APPEND, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_VALUE, "x"), 0);
	assert_int_equal(tlv_put_u64(&b, STO_T_WHEN, T0), 0);
	assert_int_equal(tlv_put_str(&b, STO_T_WITH, "x@y"), 0);
	assert_int_equal(tlv_put_str(&b, STO_T_ID, "id-04"), 0);
	assert_int_equal(send_drop(fx, &b), STO_EEXISTS);
	/* get */
	req(&b, STO_OP_ARCH_GET, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_ID, "id-42"), 0);
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	items_of(&rep, got, sizeof(got), &c, &tot);
	assert_string_equal(got, "42");
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_ITEM, &t), 1);
	assert_int_equal(tlv_find(t.val, t.len, STO_T_WITH, &e), 1);
	assert_memory_equal(e.val, "bob@localhost", e.len);
	buf_free(&rep);
	/* other users and hosts see nothing */
	req(&b, STO_OP_ARCH_FIND, "example.org", "archive", "alice");
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	items_of(&rep, got, sizeof(got), &c, &tot);
	assert_string_equal(got, "");
	buf_free(&rep);
	/* summary */
	req(&b, STO_OP_ARCH_SUMMARY, "localhost", "archive", "alice");
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	join_tag(&rep, STO_T_ENTRY, got, sizeof(got));
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_ENTRY, &t), 1);
	assert_int_equal(tlv_find(t.val, t.len, STO_T_WITH, &e), 1);
	assert_memory_equal(e.val, "bob@localhost", e.len);
	assert_int_equal(tlv_find(t.val, t.len, STO_T_COUNT, &e), 1);
	assert_int_equal(tlv_u32(&e, &n), 0);
	assert_int_equal(n, 20);
	buf_free(&rep);
	/* delete with a query, then everything */
	req(&b, STO_OP_ARCH_DELETE, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_WITH, "bob@localhost"), 0);
	assert_int_equal(tlv_put_u64(&b, STO_T_END, T0 + 1000ull * 29), 0);
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_COUNT, &t), 1);
	assert_int_equal(tlv_u32(&t, &n), 0);
	assert_int_equal(n, 10);
	buf_free(&rep);
	struct aq left = {"bob after delete", 0, 0, "bob@localhost", NULL, NULL, NULL, 2, 0, 1,
			  STO_OK, "30,33", 0, 10};
	assert_int_equal(run_query(fx, "alice", &left, &rep), STO_OK);
	items_of(&rep, got, sizeof(got), &c, &tot);
	assert_string_equal(got, "30,33");
	assert_int_equal(tot, 10);
	buf_free(&rep);
	req(&b, STO_OP_ARCH_DELETE, "localhost", "archive", "alice");
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_COUNT, &t), 1);
	assert_int_equal(tlv_u32(&t, &n), 0);
	assert_int_equal(n, 50);
	buf_free(&rep);
	req(&b, STO_OP_ARCH_FIND, "localhost", "archive", "alice");
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	items_of(&rep, got, sizeof(got), &c, &tot);
	assert_string_equal(got, "");
	assert_int_equal(c, 1);
	buf_free(&rep);
}

/* Requests that must be refused with STO_EINVAL, changing nothing. */
static void test_bad_requests(void **state)
{
	struct fixture *fx = *state;
	struct buf b;
	char v[16];

	req(&b, STO_OP_KV_SET, "localhost", "Bad/Store", "alice");
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_KV_SET, "localhost", "", "alice");
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_KV_GET, "nowhere.example", "vcard", "alice");
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_KV_GET, "localhost", "vcard", NULL);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_KV_SET, "localhost", "vcard", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_VALUE, "a"), 0);
	assert_int_equal(tlv_put_str(&b, STO_T_VALUE, "b"), 0);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_KV_GET, "localhost", "vcard", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_KEY, "k"), 0);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_ARCH_APPEND, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_VALUE, "x"), 0);
	assert_int_equal(tlv_put_str(&b, STO_T_WHEN, "yesterday"), 0);
	assert_int_equal(tlv_put_str(&b, STO_T_WITH, "a@b"), 0);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_ARCH_FIND, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_u32(&b, STO_T_REVERSE, 2), 0);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_ARCH_GET, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_ID, "a"), 0);
	assert_int_equal(tlv_put_str(&b, STO_T_ID, "b"), 0);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_MAP_GET, "localhost", "private", "alice");
	assert_int_equal(tlv_put(&b, STO_T_KEY, "a\0b", 3), 0);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_ENOTFOUND);
	/* every truncation of a valid request is refused or answered, never a crash */
	req(&b, STO_OP_ARCH_FIND, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_u32(&b, STO_T_LIMIT, 5), 0);
	for (size_t cut = 0; cut < b.len; cut++) {
		struct buf rep;
		buf_init(&rep);
		sto_dispatch(&fx->env, b.data, cut, &rep);
		assert_true(rep.len > 0);
		buf_free(&rep);
	}
	buf_free(&b);
}

/* Every backend answers every query of a randomized mix the same, byte for byte, except for
 * the generated ids (all ids are given here). */
static void test_cross_check(void **state)
{
	struct fixture *fx = *state, other;
	unsigned seed = 12345;

	memset(&other, 0, sizeof(other));
	snprintf(other.dir, sizeof(other.dir), "/tmp/test_sto_cross.XXXXXX");
	assert_non_null(mkdtemp(other.dir));
	other.spec.name = strcmp(fx->spec.name, "memory") == 0 ? "file" : "memory";
	open_env(&other);
	struct fixture *both[2] = {fx, &other};
	for (unsigned i = 0; i < 200; i++) {
		char id[16], with[32];
		seed = seed * 1103515245u + 12345u;
		snprintf(id, sizeof(id), i == 100 ? "x\"1\\,{}" : "x%u", i);
		snprintf(with, sizeof(with), "p%u@localhost", (seed >> 16) % 5);
		for (int k = 0; k < 2; k++) {
			struct buf b;
			req(&b, STO_OP_ARCH_APPEND, "localhost", "mam", "u");
			assert_int_equal(tlv_put_str(&b, STO_T_VALUE, id), 0);
			assert_int_equal(tlv_put_u64(&b, STO_T_WHEN, T0 + (seed >> 8) % 100000), 0);
			assert_int_equal(tlv_put_str(&b, STO_T_WITH, with), 0);
			assert_int_equal(tlv_put_str(&b, STO_T_ID, id), 0);
			assert_int_equal(send_drop(both[k], &b), STO_OK);
		}
	}
	for (unsigned i = 0; i < 300; i++) {
		struct buf rep[2];
		char a[16], bb[16], with[32];
		seed = seed * 1103515245u + 12345u;
		snprintf(a, sizeof(a), "x%u", (seed >> 4) % 220);
		snprintf(bb, sizeof(bb), "x%u", (seed >> 12) % 220);
		snprintf(with, sizeof(with), "p%u@localhost", (seed >> 20) % 6);
		uint32_t st[2];
		for (int k = 0; k < 2; k++) {
			struct buf b;
			req(&b, i % 7 == 6 ? STO_OP_ARCH_SUMMARY : STO_OP_ARCH_FIND, "localhost", "mam", "u");
			if (seed & 1)
				assert_int_equal(tlv_put_u64(&b, STO_T_START, T0 + (seed >> 3) % 50000), 0);
			if (seed & 2)
				assert_int_equal(tlv_put_u64(&b, STO_T_END, T0 + 50000 + (seed >> 5) % 50000), 0);
			if (seed & 4)
				assert_int_equal(tlv_put_str(&b, STO_T_WITH, with), 0);
			if (i % 7 != 6) {
				if (seed & 8)
					assert_int_equal(tlv_put_str(&b, STO_T_AFTER, a), 0);
				if (seed & 16)
					assert_int_equal(tlv_put_str(&b, STO_T_BEFORE, bb), 0);
				if (seed & 32)
					assert_int_equal(tlv_put_u32(&b, STO_T_LIMIT, (seed >> 7) % 15), 0);
				if (seed & 64)
					assert_int_equal(tlv_put_u32(&b, STO_T_REVERSE, 1), 0);
				if (seed & 128)
					assert_int_equal(tlv_put_u32(&b, STO_T_TOTAL, 1), 0);
				if (seed & 256) {
					assert_int_equal(tlv_put_str(&b, STO_T_ID, a), 0);
					assert_int_equal(tlv_put_str(&b, STO_T_ID, "x\"1\\,{}"), 0);
				}
			}
			st[k] = send_req(both[k], &b, &rep[k]);
		}
		assert_int_equal(st[0], st[1]);
		if (st[0] == STO_OK) {
			assert_int_equal(rep[0].len, rep[1].len);
			assert_memory_equal(rep[0].data, rep[1].data, rep[0].len);
		}
		buf_free(&rep[0]);
		buf_free(&rep[1]);
	}
	char cmd[128];
	sto_env_close(&other.env);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", other.dir);
	assert_int_equal(system(cmd), 0);
}

/* Durable backends: everything survives closing and reopening. */
static void test_persists(void **state)
{
	struct fixture *fx = *state;
	char v[64];
	append_history(fx, "alice");
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", "<v/>"), STO_OK);
	assert_int_equal(map_set(fx, "alice", "k", "mv"), STO_OK);
	sto_env_close(&fx->env);
	open_env(fx);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "<v/>");
	assert_int_equal(map_get(fx, "localhost", "alice", "k", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "mv");
	check_queries(fx, "alice");
}

static void append_garbage(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "ab");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* A crash in the middle of an append leaves a torn index record or payload: readers skip
 * it, the next append repairs the index first, and nothing acknowledged is lost. */
static void test_file_torn_append(void **state)
{
	struct fixture *fx = *state;
	char path[256];
	static const uint8_t torn[] = {0x58, 0x41, 0x49, 0x31, 0, 0, 0, 40, 1, 2, 3};
	append_history(fx, "alice");
	snprintf(path, sizeof(path), "%s/localhost/archive/archive/alice/index", fx->dir);
	append_garbage(path, torn, sizeof(torn));
	snprintf(path, sizeof(path), "%s/localhost/archive/archive/alice/seg.00000000", fx->dir);
	append_garbage(path, "half a payload", 14);
	check_queries(fx, "alice");
	struct buf b, rep;
	req(&b, STO_OP_ARCH_APPEND, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_VALUE, "<message><body>m60</body></message>"), 0);
	assert_int_equal(tlv_put_u64(&b, STO_T_WHEN, T0 + 60000), 0);
	assert_int_equal(tlv_put_str(&b, STO_T_WITH, "bob@localhost"), 0);
	assert_int_equal(send_drop(fx, &b), STO_OK);
	struct aq last = {"last two", 0, 0, NULL, NULL, NULL, NULL, 2, 1, 1, STO_OK, "60,59", 0, 61};
	char got[64];
	uint32_t c, tot;
	assert_int_equal(run_query(fx, "alice", &last, &rep), STO_OK);
	items_of(&rep, got, sizeof(got), &c, &tot);
	assert_string_equal(got, "60,59");
	assert_int_equal(tot, 61);
	buf_free(&rep);
}

/* The cache serves reads (a write behind its back is not seen), is invalidated by writes
 * through it, and expires after its TTL. */
static void test_cache(void **state)
{
	struct fixture *fx = *state, raw;
	char v[64], url[700];

	memset(&raw, 0, sizeof(raw));
	snprintf(raw.dir, sizeof(raw.dir), "%s", fx->dir);
	raw.spec.name = "file";
	open_env(&raw);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", "v1"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_int_equal(kv_set(&raw, "localhost", "vcard", "alice", "behind"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "v1");
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", "v2"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "v2");
	/* absences are cached and invalidated too */
	assert_int_equal(kv_get(fx, "localhost", "vcard", "bob", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "bob", "b"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "bob", v, sizeof(v)), STO_OK);
	/* map keys removed by delete_all leave no cached copy */
	assert_int_equal(map_set(fx, "alice", "k", "mv"), STO_OK);
	assert_int_equal(map_get(fx, "localhost", "alice", "k", v, sizeof(v)), STO_OK);
	struct buf b;
	req(&b, STO_OP_MAP_DELETE_ALL, "localhost", "private", NULL);
	assert_int_equal(tlv_put_str(&b, STO_T_KEY, "k"), 0);
	assert_int_equal(send_drop(fx, &b), STO_OK);
	assert_int_equal(map_get(fx, "localhost", "alice", "k", v, sizeof(v)), STO_ENOTFOUND);
	/* a 1 s TTL */
	sto_env_close(&fx->env);
	snprintf(url, sizeof(url), "%s&ttl=1", fx->spec.cache_url);
	fx->spec.cache_url = url;
	open_env(fx);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_int_equal(kv_set(&raw, "localhost", "vcard", "alice", "later"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "v2");
	usleep(2100 * 1000);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "later");
	sto_env_close(&raw.env);

	/* The connection to Redis breaks while a write's invalidation is due: the write still
	 * succeeds, and the cached old value is never served afterwards (the delete is
	 * replayed before the cache is used again). */
	char cmd[800];
	const char *base = service("XMPPD_TEST_REDIS");
	sto_env_close(&fx->env);
	fx->spec.cache_url = redis_url();	/* the default TTL: nothing expires during this */
	open_env(fx);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "dave", "old"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "dave", v, sizeof(v)), STO_OK);	/* cached */
	snprintf(cmd, sizeof(cmd), "redis-cli -u '%s' CLIENT KILL TYPE normal >/dev/null", base);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "dave", "new"), STO_OK);	/* DEL fails */
	assert_int_equal(kv_get(fx, "localhost", "vcard", "dave", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "new");
	usleep(1300 * 1000);	/* Redis answers again, the cache reconnects */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(kv_get(fx, "localhost", "vcard", "dave", v, sizeof(v)), STO_OK);
		assert_string_equal(v, "new");
	}
}

static uint32_t acct_call(struct fixture *fx, uint32_t op, const char *user, const char *pw,
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

/* Accounts live in every backend; their store is not reachable as keyval. */
static void test_accounts(void **state)
{
	struct fixture *fx = *state;
	struct buf rep;
	struct tlv t;
	uint8_t salt[64];
	size_t salt_len;
	char v[256];
	uint32_t e;

	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_CREATE, "Alice", "pw1", &rep), STO_OK);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_CREATE, "alice", "pw2", &rep), STO_EEXISTS);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_CREATE, "bob", "pw", &rep), STO_OK);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_EXISTS, "ALICE", NULL, &rep), STO_OK);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_EXISTS, &t), 1);
	assert_int_equal(tlv_u32(&t, &e), 0);
	assert_int_equal(e, 1);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_SCRAM_PARAMS, "alice", NULL, &rep), STO_OK);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_SALT, &t), 1);
	memcpy(salt, t.val, t.len);
	salt_len = t.len;
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_PASSWD, "alice", "pw3", &rep), STO_OK);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_SCRAM_PARAMS, "alice", NULL, &rep), STO_OK);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_SALT, &t), 1);
	assert_false(t.len == salt_len && memcmp(t.val, salt, salt_len) == 0);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_PASSWD, "nobody", "x", &rep), STO_ENOTFOUND);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_LIST, NULL, NULL, &rep), STO_OK);
	join_tag(&rep, STO_T_USER, v, sizeof(v));
	assert_string_equal(v, "alice,bob");
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_DELETE, "bob", NULL, &rep), STO_OK);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_DELETE, "bob", NULL, &rep), STO_ENOTFOUND);
	buf_free(&rep);
	assert_int_equal(kv_get(fx, "localhost", "accounts", "alice", v, sizeof(v)), STO_EINVAL);
	assert_int_equal(kv_set(fx, "localhost", "accounts", "alice", "x"), STO_EINVAL);
	if (strcmp(fx->spec.name, "memory") == 0)
		return;	/* per process: nothing to race on */
	/* two workers create the same account at once: exactly one wins */
	for (int round = 0; round < 5; round++) {
		char name[16];
		int status;
		snprintf(name, sizeof(name), "racer%d", round);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct fixture child = *fx;
			open_env(&child);
			uint32_t st = acct_call(&child, STO_OP_ACCOUNT_CREATE, name, "c", &rep);
			_exit((int)st);
		}
		uint32_t mine = acct_call(fx, STO_OP_ACCOUNT_CREATE, name, "p", &rep);
		buf_free(&rep);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		uint32_t theirs = (uint32_t)WEXITSTATUS(status);
		if (!((mine == STO_OK && theirs == STO_EEXISTS) ||
		      (mine == STO_EEXISTS && theirs == STO_OK)))
			fail_msg("%s: creates answered %u and %u", name, mine, theirs);
	}
}

/* file → PostgreSQL keeps every login and every item. fx is a PostgreSQL fixture. */
static void test_migrate_file_to_pg(void **state)
{
	struct fixture *fx = *state, f;
	struct buf rep;
	struct tlv t;
	char v[256], salt_before[64], from[100], to[700];
	size_t salt_len;

	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/test_sto_mig.XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	f.spec.name = "file";
	open_env(&f);
	assert_int_equal(acct_call(&f, STO_OP_ACCOUNT_CREATE, "alice", "pw", &rep), STO_OK);
	buf_free(&rep);
	assert_int_equal(acct_call(&f, STO_OP_SCRAM_PARAMS, "alice", NULL, &rep), STO_OK);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_SALT, &t), 1);
	memcpy(salt_before, t.val, t.len);
	salt_len = t.len;
	buf_free(&rep);
	assert_int_equal(kv_set(&f, "localhost", "roster", "alice", "<query/>"), STO_OK);
	assert_int_equal(kv_set(&f, "localhost", "roster", "", "host"), STO_OK);
	assert_int_equal(kv_set(&f, "example.org", "vcard", "zed", "<vCard/>"), STO_OK);
	assert_int_equal(map_set(&f, "alice", "storage:bookmarks", "<b/>"), STO_OK);
	append_history(&f, "alice");
	sto_env_close(&f.env);

	snprintf(from, sizeof(from), "file:%s", f.dir);
	snprintf(to, sizeof(to), "postgresql:%s", fx->spec.arg);
	char *argv[] = {"xmppd-storage", "--migrate", from, to, "--host", "localhost", "--host",
			"example.org", NULL};
	assert_int_equal(sto_migrate_main(8, argv), 0);
	/* twice: a rerun copies nothing twice */
	assert_int_equal(sto_migrate_main(8, argv), 0);

	assert_int_equal(acct_call(fx, STO_OP_SCRAM_PARAMS, "alice", NULL, &rep), STO_OK);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_SALT, &t), 1);
	assert_int_equal(t.len, salt_len);
	assert_memory_equal(t.val, salt_before, salt_len);
	buf_free(&rep);
	assert_int_equal(kv_get(fx, "localhost", "roster", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "<query/>");
	assert_int_equal(kv_get(fx, "localhost", "roster", "", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "host");
	assert_int_equal(kv_get(fx, "example.org", "vcard", "zed", v, sizeof(v)), STO_OK);
	assert_int_equal(map_get(fx, "localhost", "alice", "storage:bookmarks", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "<b/>");
	check_queries(fx, "alice");
	struct aq all = {"all", 0, 0, NULL, NULL, NULL, NULL, -1, 0, 1, STO_OK, "", 1, HIST};
	uint32_t c, tot;
	assert_int_equal(run_query(fx, "alice", &all, &rep), STO_OK);
	items_of(&rep, v, sizeof(v), &c, &tot);
	assert_int_equal(tot, HIST);
	buf_free(&rep);
	snprintf(v, sizeof(v), "rm -rf '%s'", f.dir);
	assert_int_equal(system(v), 0);
}

/* On start the file backend cuts torn index tails off, so the index is clean again. */
static void test_file_recovery_at_start(void **state)
{
	struct fixture *fx = *state;
	char path[256];
	struct stat st;
	off_t clean;
	static const uint8_t torn[] = {0x58, 0x41, 0x49, 0x31, 0, 0, 1, 0, 9, 9};

	append_history(fx, "alice");
	snprintf(path, sizeof(path), "%s/localhost/archive/archive/alice/index", fx->dir);
	assert_int_equal(stat(path, &st), 0);
	clean = st.st_size;
	append_garbage(path, torn, sizeof(torn));
	sto_env_close(&fx->env);
	open_env(fx);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, clean);
	check_queries(fx, "alice");
}

/* Backends per host and per store: example.org entirely in files, every host's "archive" in
 * files, the rest (and localhost's accounts) in memory. */
static void test_per_host_and_store(void **state)
{
	struct fixture *fx = *state;
	const struct sto_be_spec specs[] = {
		{.name = "memory"},
		{.store = "*", .host = "example.org", .name = "file"},
		{.store = "archive", .name = "file"},
		{.store = "roster", .host = "nowhere.example", .name = "file"},
	};
	struct sto_settings s = {.datadir = fx->dir, .vhosts = hosts, .nvhosts = 2,
				 .scram_iter = 4096, .specs = specs, .nspecs = 4};
	char err[256], path[256], v[64];
	struct stat st;
	struct buf rep;

	sto_env_close(&fx->env);
	if (sto_env_open(&fx->env, &s, err, sizeof(err)) < 0)
		fail_msg("sto_env_open: %s", err);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", "mem"), STO_OK);
	assert_int_equal(kv_set(fx, "example.org", "vcard", "alice", "disk"), STO_OK);
	append_history(fx, "alice");
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_CREATE, "bob", "pw", &rep), STO_OK);
	buf_free(&rep);
	snprintf(path, sizeof(path), "%s/localhost/kv/vcard", fx->dir);
	assert_int_equal(stat(path, &st), -1);
	snprintf(path, sizeof(path), "%s/example.org/kv/vcard/alice", fx->dir);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/localhost/archive/archive/alice/index", fx->dir);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/localhost/accounts/bob", fx->dir);
	assert_int_equal(stat(path, &st), -1);	/* localhost's accounts are in memory */
	/* a restart keeps exactly what is on disk */
	sto_env_close(&fx->env);
	assert_int_equal(sto_env_open(&fx->env, &s, err, sizeof(err)), 0);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(kv_get(fx, "example.org", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "disk");
	check_queries(fx, "alice");
}

static void append_n(struct fixture *fx, const char *prefix, unsigned n)
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

/* Two storage workers appending to one archive at once (file backend, flock): every item
 * lands once, the index stays clean. */
static void test_file_two_writers(void **state)
{
	struct fixture *fx = *state;
	struct buf rep;
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct fixture child;
		memset(&child, 0, sizeof(child));
		memcpy(child.dir, fx->dir, sizeof(child.dir));
		child.spec.name = "file";
		open_env(&child);
		append_n(&child, "c", 150);
		sto_env_close(&child.env);
		_exit(0);
	}
	append_n(fx, "p", 150);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	struct aq all = {"all", 0, 0, NULL, NULL, NULL, NULL, 0, 0, 1, STO_OK, "", 0, 300};
	char got[16];
	uint32_t c, tot;
	for (int k = 0; k < 2; k++) {
		struct aq one = all;
		one.with = k ? "c" : "p";
		assert_int_equal(run_query(fx, "shared", &one, &rep), STO_OK);
		items_of(&rep, got, sizeof(got), &c, &tot);
		assert_int_equal(tot, 150);
		buf_free(&rep);
	}
	/* another worker deletes; this one's cached index sees it */
	struct fixture other;
	struct buf b;
	memset(&other, 0, sizeof(other));
	memcpy(other.dir, fx->dir, sizeof(other.dir));
	other.spec.name = "file";
	open_env(&other);
	req(&b, STO_OP_ARCH_DELETE, "localhost", "archive", "shared");
	assert_int_equal(tlv_put_str(&b, STO_T_WITH, "c"), 0);
	assert_int_equal(send_drop(&other, &b), STO_OK);
	append_n(&other, "o", 5);
	sto_env_close(&other.env);
	assert_int_equal(run_query(fx, "shared", &all, &rep), STO_OK);
	items_of(&rep, got, sizeof(got), &c, &tot);
	assert_int_equal(tot, 155);
	buf_free(&rep);
	sto_env_close(&fx->env);
	open_env(fx);
	assert_int_equal(run_query(fx, "shared", &all, &rep), STO_OK);
	items_of(&rep, got, sizeof(got), &c, &tot);
	assert_int_equal(tot, 155);
	buf_free(&rep);
}

/* Cache URLs are checked when the backend opens; Redis itself may be down. */
static void test_cache_urls(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *url;
		int ok;
	} urls[] = {
		{"redis://127.0.0.1:1", 1},
		{"redis://127.0.0.1:1/3?ttl=5&prefix=site-a", 1},
		{"redis://localhost/?prefix=x", 1},
		{"http://127.0.0.1:6379", 0},
		{"redis://127.0.0.1:99999", 0},
		{"redis://127.0.0.1:1/16", 0},
		{"redis://127.0.0.1:1/0?ttl=0", 0},
		{"redis://127.0.0.1:1/0?prefix=a:b", 0},
		{"redis://127.0.0.1:1/0?color=red", 0},
		{"redis://", 0},
	};
	sto_env_close(&fx->env);
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct sto_be_spec spec = {.name = "memory", .cache_url = urls[i].url};
		struct sto_settings s = {.datadir = fx->dir, .vhosts = hosts, .nvhosts = 2,
					 .scram_iter = 4096, .specs = &spec, .nspecs = 1};
		char err[256];
		int rc = sto_env_open(&fx->env, &s, err, sizeof(err));
		if ((rc == 0) != urls[i].ok)
			fail_msg("%s: open %d", urls[i].url, rc);
		if (rc == 0)
			sto_env_close(&fx->env);
	}
	open_env(fx);
}

/* A worker killed (SIGKILL) in the middle of a stream of appends and keyval writes: everything
 * it acknowledged is there afterwards, and the archive still reads and appends. */
static void test_kill9_during_writes(void **state)
{
	struct fixture *fx = *state;
	unsigned acked = 0, inflight[3];

	for (int round = 0; round < 3; round++) {
		int fds[2], status;
		assert_int_equal(pipe(fds), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct fixture child = *fx;
			close(fds[0]);
			open_env(&child);
			for (unsigned i = acked; i < acked + 5000; i++) {
				char id[16], v[16];
				struct buf b;
				snprintf(id, sizeof(id), "k%u", i);
				req(&b, STO_OP_ARCH_APPEND, "localhost", "archive", "crash");
				assert_int_equal(tlv_put_str(&b, STO_T_VALUE, "<message><body>m1</body></message>"), 0);
				assert_int_equal(tlv_put_u64(&b, STO_T_WHEN, T0 + i), 0);
				assert_int_equal(tlv_put_str(&b, STO_T_WITH, "w"), 0);
				assert_int_equal(tlv_put_str(&b, STO_T_ID, id), 0);
				snprintf(v, sizeof(v), "v%u", i);
				if (send_drop(&child, &b) != STO_OK ||
				    kv_set(&child, "localhost", "crashkv", id, v) != STO_OK)
					_exit(1);
				if (write(fds[1], &i, sizeof(i)) != sizeof(i))	/* acknowledged */
					_exit(1);
			}
			_exit(0);
		}
		close(fds[1]);
		unsigned last = 0, n = 0;
		while (n < 40u + 20u * (unsigned)round && read(fds[0], &last, sizeof(last)) == sizeof(last))
			n++;
		kill(pid, SIGKILL);
		while (read(fds[0], &last, sizeof(last)) == sizeof(last))
			n++;	/* acknowledged before the kill landed */
		close(fds[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(n > 0);
		acked = last + 1;
		/* a fresh worker (start-up recovery included) has every acknowledged write */
		sto_env_close(&fx->env);
		open_env(fx);
		for (unsigned i = 0; i < acked; i++) {
			char id[16], v[16], want[16];
			struct buf b, rep;
			int skip = 0;
			for (int r = 0; r < round; r++)
				skip |= inflight[r] == i;
			if (skip)
				continue;
			snprintf(id, sizeof(id), "k%u", i);
			req(&b, STO_OP_ARCH_GET, "localhost", "archive", "crash");
			assert_int_equal(tlv_put_str(&b, STO_T_ID, id), 0);
			if (send_req(fx, &b, &rep) != STO_OK)
				fail_msg("round %d: acknowledged item %s lost", round, id);
			buf_free(&rep);
			snprintf(want, sizeof(want), "v%u", i);
			if (kv_get(fx, "localhost", "crashkv", id, v, sizeof(v)) != STO_OK || strcmp(v, want))
				fail_msg("round %d: acknowledged value %s lost", round, id);
		}
		/* the write in flight when the kill landed may or may not be there */
		inflight[round] = acked++;
	}
}

/* PostgreSQL down at start: the backend opens and answers STO_EUNAVAIL (no server needed);
 * a malformed connection string is refused at once. */
static void test_pg_unreachable(void **state)
{
	struct fixture *fx = *state;
	struct sto_be_spec spec = {.name = "postgresql", .arg = "host=127.0.0.1 port=1 connect_timeout=2"};
	struct sto_settings s = {.datadir = fx->dir, .vhosts = hosts, .nvhosts = 2,
				 .scram_iter = 4096, .specs = &spec, .nspecs = 1};
	char err[256], v[16];
	struct buf rep;

	sto_env_close(&fx->env);
	assert_int_equal(sto_env_open(&fx->env, &s, err, sizeof(err)), 0);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_EUNAVAIL);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", "x"), STO_EUNAVAIL);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_CREATE, "alice", "pw", &rep), STO_EUNAVAIL);
	buf_free(&rep);
	sto_env_close(&fx->env);
	spec.arg = "host=127.0.0.1 port";
	assert_int_equal(sto_env_open(&fx->env, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "connection string"));
	open_env(fx);
}

#define SUITE(setup)                                                                            \
	cmocka_unit_test_setup_teardown(test_keyval, setup, teardown),                          \
	cmocka_unit_test_setup_teardown(test_map, setup, teardown),                             \
	cmocka_unit_test_setup_teardown(test_archive, setup, teardown),                         \
	cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),                    \
	cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),                        \
	cmocka_unit_test_setup_teardown(test_cross_check, setup, teardown)

int main(void)
{
	const struct CMUnitTest memory[] = {
		SUITE(setup_memory),
		cmocka_unit_test_setup_teardown(test_cache_urls, setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_pg_unreachable, setup_memory, teardown),
	};
	const struct CMUnitTest file[] = {
		SUITE(setup_file),
		cmocka_unit_test_setup_teardown(test_persists, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_file_torn_append, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_file_recovery_at_start, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_per_host_and_store, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_file_two_writers, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_during_writes, setup_file, teardown),
	};
	const struct CMUnitTest pg[] = {
		SUITE(setup_pg),
		cmocka_unit_test_setup_teardown(test_persists, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_file_to_pg, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_during_writes, setup_pg, teardown),
	};
	const struct CMUnitTest redis[] = {
		SUITE(setup_memory_redis),
		SUITE(setup_file_redis),
		cmocka_unit_test_setup_teardown(test_cache, setup_file_redis, teardown),
	};
	const struct CMUnitTest dead[] = {SUITE(setup_file_dead_redis)};
	const struct CMUnitTest pg_redis[] = {SUITE(setup_pg_redis)};
	const struct CMUnitTest mongo[] = {
		SUITE(setup_mongo),
		cmocka_unit_test_setup_teardown(test_persists, setup_mongo, teardown),
	};
	int failed = cmocka_run_group_tests_name("memory", memory, NULL, NULL);
	failed += cmocka_run_group_tests_name("file", file, NULL, NULL);
	if (service("XMPPD_TEST_POSTGRESQL"))
		failed += cmocka_run_group_tests_name("postgresql", pg, NULL, NULL);
	else
		printf("postgresql: skipped (no XMPPD_TEST_POSTGRESQL; tools/services.sh start)\n");
	failed += cmocka_run_group_tests_name("file, redis down", dead, NULL, NULL);
	if (service("XMPPD_TEST_REDIS"))
		failed += cmocka_run_group_tests_name("redis cache", redis, NULL, NULL);
	else
		printf("redis cache: skipped (no XMPPD_TEST_REDIS; tools/services.sh start)\n");
	if (service("XMPPD_TEST_REDIS") && service("XMPPD_TEST_POSTGRESQL"))
		failed += cmocka_run_group_tests_name("postgresql, redis cache", pg_redis, NULL, NULL);
	pg_drop_db();
	if (getenv("XMPPD_TEST_MONGODB_URI") && *getenv("XMPPD_TEST_MONGODB_URI"))
		failed += cmocka_run_group_tests_name("mongodb", mongo, NULL, NULL);
	else
		printf("mongodb: skipped (set XMPPD_TEST_MONGODB_URI=mongodb://HOST:PORT to run)\n");
	return failed ? 1 : 0;
}
