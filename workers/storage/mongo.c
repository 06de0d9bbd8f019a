/* The MongoDB backend (libmongoc): one collection per shape (see mongo_doc.h), indexes for the
 * archive query fields, journaled writes (acknowledged = durable), server selection and socket
 * timeouts below the router's storage timeout; the driver reconnects by itself. */
#include "mongo_doc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "log.h"
#include "sto.h"
#include "xlimits.h"

#define MONGO_DB_DEFAULT "xmppd"
#define MONGO_SELECT_MS 3000
#define MONGO_SOCKET_MS (STORE_TIMEOUT_MS - 1000)
#define MONGO_DUPLICATE_KEY 11000

enum { MC_KV, MC_MAP, MC_ARCH, MC_COUNTERS, MC_N };
static const char *const mongo_coll_names[MC_N] = {"xmppd_kv", "xmppd_map", "xmppd_archive",
						   "xmppd_counters"};

struct mongo_backend {
	struct sto_backend base;
	mongoc_client_t *client;
	mongoc_database_t *db;
	mongoc_collection_t *c[MC_N];
	char **hosts;
	size_t nhosts;
};

/* Error status of a failed driver call, with its message in why. */
static int mongo_fail(const bson_error_t *e, char *why)
{
	sto_whyf(why, "mongodb: %s", e->message);
	if (e->domain == MONGOC_ERROR_SERVER_SELECTION || e->domain == MONGOC_ERROR_STREAM)
		return STO_EUNAVAIL;
	return e->code == MONGO_DUPLICATE_KEY ? STO_EEXISTS : STO_EIO;
}

static int mongo_oom(char *why)
{
	sto_whyf(why, "out of memory");
	return STO_EIO;
}

static void mongo_where_filter(bson_t *f, const struct sto_where *w, int in_id, int with_user,
			       int with_key)
{
	BSON_APPEND_UTF8(f, in_id ? "_id.h" : "h", w->hostname);
	BSON_APPEND_UTF8(f, in_id ? "_id.s" : "s", w->store);
	if (with_user)
		BSON_APPEND_UTF8(f, in_id ? "_id.u" : "u", w->user);
	if (with_key)
		BSON_APPEND_UTF8(f, "_id.k", w->key);
}

static int mongo_get(struct sto_backend *b, int coll, const struct sto_where *w,
		     struct buf *out, char *why)
{
	struct mongo_backend *m = (struct mongo_backend *)b;
	struct buf idb;
	bson_t id, *opts = BCON_NEW("limit", BCON_INT64(1));
	const bson_t *doc;
	bson_error_t e;
	int rc = STO_ENOTFOUND;

	buf_init(&idb);
	if (sto_mdoc_id(&idb, w, coll == MC_MAP) < 0 || !bson_init_static(&id, idb.data, idb.len)) {
		buf_free(&idb);
		bson_destroy(opts);
		return mongo_oom(why);
	}
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(m->c[coll], &id, opts, NULL);
	if (mongoc_cursor_next(cur, &doc))
		rc = sto_mdoc_value(bson_get_data(doc), doc->len, out) < 0 ? STO_EIO : STO_OK;
	if (rc == STO_EIO)
		sto_whyf(why, "malformed document in %s", mongo_coll_names[coll]);
	else if (mongoc_cursor_error(cur, &e))
		rc = mongo_fail(&e, why);
	else if (rc == STO_ENOTFOUND)
		sto_whyf(why, "not found");
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	buf_free(&idb);
	return rc;
}

static int mongo_set(struct sto_backend *b, int coll, const struct sto_where *w,
		     const uint8_t *v, size_t n, int del, char *why)
{
	struct mongo_backend *m = (struct mongo_backend *)b;
	struct buf idb, docb;
	bson_t id, doc, *opts = BCON_NEW("upsert", BCON_BOOL(true));
	bson_error_t e;
	int ok, rc = STO_OK;

	buf_init(&idb);
	buf_init(&docb);
	if (sto_mdoc_id(&idb, w, coll == MC_MAP) < 0 || !bson_init_static(&id, idb.data, idb.len) ||
	    (!del && (sto_mdoc_value_doc(&docb, w, coll == MC_MAP, v, n) < 0 ||
		      !bson_init_static(&doc, docb.data, docb.len)))) {
		rc = mongo_oom(why);
	} else {
		ok = del ? mongoc_collection_delete_one(m->c[coll], &id, NULL, NULL, &e)
			 : mongoc_collection_replace_one(m->c[coll], &id, &doc, opts, NULL, &e);
		if (!ok)
			rc = mongo_fail(&e, why);
	}
	bson_destroy(opts);
	buf_free(&idb);
	buf_free(&docb);
	return rc;
}

static int mongo_kv_get(struct sto_backend *b, const struct sto_where *w, struct buf *out,
			char *why)
{
	return mongo_get(b, MC_KV, w, out, why);
}

static int mongo_kv_set(struct sto_backend *b, const struct sto_where *w, const uint8_t *v,
			size_t n, int del, char *why)
{
	return mongo_set(b, MC_KV, w, v, n, del, why);
}

static int mongo_kv_add(struct sto_backend *b, const struct sto_where *w, const uint8_t *v,
			size_t n, char *why)
{
	struct mongo_backend *m = (struct mongo_backend *)b;
	struct buf docb;
	bson_t doc;
	bson_error_t e;
	int rc = STO_OK;

	buf_init(&docb);
	if (sto_mdoc_value_doc(&docb, w, 0, v, n) < 0 || !bson_init_static(&doc, docb.data, docb.len))
		rc = mongo_oom(why);
	else if (!mongoc_collection_insert_one(m->c[MC_KV], &doc, NULL, NULL, &e))
		rc = mongo_fail(&e, why);	/* a duplicate _id is STO_EEXISTS */
	buf_free(&docb);
	return rc;
}

static int mongo_map_get(struct sto_backend *b, const struct sto_where *w, struct buf *out,
			 char *why)
{
	return mongo_get(b, MC_MAP, w, out, why);
}

static int mongo_map_set(struct sto_backend *b, const struct sto_where *w, const uint8_t *v,
			 size_t n, int del, char *why)
{
	return mongo_set(b, MC_MAP, w, v, n, del, why);
}

/* {distinct: coll, key: key, query: q} into names (sorted). */
static int mongo_distinct(struct mongo_backend *m, int coll, const char *key, const bson_t *q,
			  struct sto_names *out, char *why)
{
	bson_t *cmd = BCON_NEW("distinct", BCON_UTF8(mongo_coll_names[coll]), "key", BCON_UTF8(key),
			       "query", BCON_DOCUMENT(q));
	bson_t reply;
	bson_iter_t it, arr;
	bson_error_t e;
	int rc = STO_OK;

	if (!mongoc_collection_read_command_with_opts(m->c[coll], cmd, NULL, NULL, &reply, &e)) {
		rc = mongo_fail(&e, why);
	} else if (bson_iter_init_find(&it, &reply, "values") && BSON_ITER_HOLDS_ARRAY(&it) &&
		   bson_iter_recurse(&it, &arr)) {
		while (rc == STO_OK && bson_iter_next(&arr))
			if (BSON_ITER_HOLDS_UTF8(&arr) && sto_names_push(out, bson_iter_utf8(&arr, NULL)) < 0)
				rc = mongo_oom(why);
	}
	bson_destroy(&reply);
	bson_destroy(cmd);
	sto_names_sort(out);
	return rc;
}

static int mongo_users_of(struct sto_backend *b, const struct sto_where *w, int shape,
			  struct sto_names *out, char *why)
{
	static const int colls[] = {MC_KV, MC_MAP, MC_ARCH};
	struct mongo_backend *m = (struct mongo_backend *)b;
	bson_t q = BSON_INITIALIZER;
	int in_id = shape != STO_SHAPE_ARCH, rc;

	mongo_where_filter(&q, w, in_id, 0, 0);
	if (shape == STO_SHAPE_KV) {
		bson_t ne;
		BSON_APPEND_DOCUMENT_BEGIN(&q, "_id.u", &ne);
		BSON_APPEND_UTF8(&ne, "$ne", "");
		bson_append_document_end(&q, &ne);
	}
	rc = mongo_distinct(m, colls[shape], in_id ? "_id.u" : "u", &q, out, why);
	bson_destroy(&q);
	return rc;
}

static int mongo_kv_users(struct sto_backend *b, const struct sto_where *w,
			  struct sto_names *out, char *why)
{
	return mongo_users_of(b, w, STO_SHAPE_KV, out, why);
}

static int mongo_map_get_all(struct sto_backend *b, const struct sto_where *w, sto_pair_fn fn,
			     void *arg, char *why)
{
	struct mongo_backend *m = (struct mongo_backend *)b;
	bson_t q = BSON_INITIALIZER, *opts = BCON_NEW("sort", "{", "_id.u", BCON_INT32(1), "}");
	const bson_t *doc;
	bson_error_t e;
	struct buf val;
	int rc = STO_OK;

	BSON_APPEND_UTF8(&q, "_id.h", w->hostname);
	BSON_APPEND_UTF8(&q, "_id.s", w->store);
	BSON_APPEND_UTF8(&q, "_id.k", w->key);
	buf_init(&val);
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(m->c[MC_MAP], &q, opts, NULL);
	while (rc == STO_OK && mongoc_cursor_next(cur, &doc)) {
		char *user = sto_mdoc_str(bson_get_data(doc), doc->len, 1, "u");
		buf_reset(&val);
		if (!user || sto_mdoc_value(bson_get_data(doc), doc->len, &val) < 0) {
			sto_whyf(why, "malformed document in xmppd_map");
			rc = STO_EIO;
		} else if (fn(arg, user, val.data, val.len) < 0) {
			sto_whyf(why, "the values do not fit in one reply");
			rc = STO_EIO;
		}
		free(user);
	}
	if (rc == STO_OK && mongoc_cursor_error(cur, &e))
		rc = mongo_fail(&e, why);
	mongoc_cursor_destroy(cur);
	buf_free(&val);
	bson_destroy(opts);
	bson_destroy(&q);
	return rc;
}

static uint32_t mongo_count_of(const bson_t *reply, const char *field)
{
	bson_iter_t it;
	if (bson_iter_init_find(&it, reply, field) && BSON_ITER_HOLDS_NUMBER(&it))
		return (uint32_t)bson_iter_as_int64(&it);
	return 0;
}

static int mongo_map_delete_all(struct sto_backend *b, const struct sto_where *w,
				uint32_t *count, char *why)
{
	struct mongo_backend *m = (struct mongo_backend *)b;
	bson_t q = BSON_INITIALIZER, reply;
	bson_error_t e;
	int rc = STO_OK;

	BSON_APPEND_UTF8(&q, "_id.h", w->hostname);
	BSON_APPEND_UTF8(&q, "_id.s", w->store);
	BSON_APPEND_UTF8(&q, "_id.k", w->key);
	if (!mongoc_collection_delete_many(m->c[MC_MAP], &q, NULL, &reply, &e))
		rc = mongo_fail(&e, why);
	else
		*count = mongo_count_of(&reply, "deletedCount");
	bson_destroy(&reply);
	bson_destroy(&q);
	return rc;
}

/* The next append position, from a counter document shared by every worker. */
static int mongo_next_seq(struct mongo_backend *m, int64_t *seq, char *why)
{
	bson_t *q = BCON_NEW("_id", BCON_UTF8("archive-seq"));
	bson_t *upd = BCON_NEW("$inc", "{", "n", BCON_INT64(1), "}");
	bson_t reply;
	bson_iter_t it, n;
	bson_error_t e;
	int rc = STO_OK;

	if (!mongoc_collection_find_and_modify(m->c[MC_COUNTERS], q, NULL, upd, NULL, false, true,
					       true, &reply, &e)) {
		rc = mongo_fail(&e, why);
	} else if (bson_iter_init(&it, &reply) && bson_iter_find_descendant(&it, "value.n", &n) &&
		   BSON_ITER_HOLDS_INT64(&n)) {
		*seq = bson_iter_int64(&n);
	} else {
		sto_whyf(why, "mongodb: no sequence number");
		rc = STO_EIO;
	}
	bson_destroy(&reply);
	bson_destroy(q);
	bson_destroy(upd);
	return rc;
}

static int mongo_arch_append(struct sto_backend *b, const struct sto_where *w, const char *id,
			     uint64_t when, const char *with, const uint8_t *v, size_t n,
			     char *why)
{
	struct mongo_backend *m = (struct mongo_backend *)b;
	struct buf docb;
	bson_t doc;
	bson_error_t e;
	int64_t seq = 0;
	int rc = mongo_next_seq(m, &seq, why);

	buf_init(&docb);
	if (rc == STO_OK && (sto_mdoc_item(&docb, w, seq, id, when, with, v, n) < 0 ||
			     !bson_init_static(&doc, docb.data, docb.len)))
		rc = mongo_oom(why);
	if (rc == STO_OK && !mongoc_collection_insert_one(m->c[MC_ARCH], &doc, NULL, NULL, &e))
		rc = mongo_fail(&e, why);
	if (rc == STO_EEXISTS)
		sto_whyf(why, "an archive item with this id exists");
	buf_free(&docb);
	return rc;
}

static int mongo_arch_meta(struct sto_backend *b, const struct sto_where *w,
			   struct sto_meta_list *out, char *why)
{
	struct mongo_backend *m = (struct mongo_backend *)b;
	bson_t q = BSON_INITIALIZER;
	bson_t *opts = BCON_NEW("sort", "{", "seq", BCON_INT32(1), "}", "projection", "{", "v",
				BCON_INT32(0), "}");
	const bson_t *doc;
	bson_error_t e;
	int rc = STO_OK;

	mongo_where_filter(&q, w, 0, 1, 0);
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(m->c[MC_ARCH], &q, opts, NULL);
	while (rc == STO_OK && mongoc_cursor_next(cur, &doc)) {
		uint64_t seq, when;
		char *id, *with;
		if (sto_mdoc_item_meta(bson_get_data(doc), doc->len, &seq, &when, &id, &with) < 0) {
			log_warn("malformed archive document skipped", "store=%s", w->store);
			continue;
		}
		if (sto_meta_add(out, seq, when, id, with) < 0)
			rc = mongo_oom(why);
		free(id);
		free(with);
	}
	if (rc == STO_OK && mongoc_cursor_error(cur, &e))
		rc = mongo_fail(&e, why);
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(&q);
	return rc;
}

static int mongo_arch_value(struct sto_backend *b, const struct sto_where *w, uint64_t ref,
			    struct buf *out, char *why)
{
	struct mongo_backend *m = (struct mongo_backend *)b;
	bson_t q = BSON_INITIALIZER, *opts = BCON_NEW("limit", BCON_INT64(1));
	const bson_t *doc;
	bson_error_t e;
	int rc = STO_ENOTFOUND;

	mongo_where_filter(&q, w, 0, 1, 0);
	BSON_APPEND_INT64(&q, "seq", (int64_t)ref);
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(m->c[MC_ARCH], &q, opts, NULL);
	if (mongoc_cursor_next(cur, &doc))
		rc = sto_mdoc_value(bson_get_data(doc), doc->len, out) < 0 ? STO_EIO : STO_OK;
	if (rc != STO_OK && mongoc_cursor_error(cur, &e))
		rc = mongo_fail(&e, why);
	else if (rc != STO_OK)
		sto_whyf(why, "archive item vanished or malformed");
	mongoc_cursor_destroy(cur);
	bson_destroy(opts);
	bson_destroy(&q);
	return rc;
}

static int mongo_arch_remove(struct sto_backend *b, const struct sto_where *w,
			     const uint64_t *refs, size_t n, char *why)
{
	struct mongo_backend *m = (struct mongo_backend *)b;
	bson_t q = BSON_INITIALIZER, in, arr;
	bson_error_t e;
	int rc = STO_OK;

	mongo_where_filter(&q, w, 0, 1, 0);
	BSON_APPEND_DOCUMENT_BEGIN(&q, "seq", &in);
	BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
	for (size_t i = 0; i < n; i++) {
		char k[16];
		const char *key;
		bson_uint32_to_string((uint32_t)i, &key, k, sizeof(k));
		BSON_APPEND_INT64(&arr, key, (int64_t)refs[i]);
	}
	bson_append_array_end(&in, &arr);
	bson_append_document_end(&q, &in);
	if (!mongoc_collection_delete_many(m->c[MC_ARCH], &q, NULL, NULL, &e))
		rc = mongo_fail(&e, why);
	bson_destroy(&q);
	return rc;
}

static int mongo_stores(struct sto_backend *b, size_t host, int shape, struct sto_names *out,
			char *why)
{
	static const int colls[] = {MC_KV, MC_MAP, MC_ARCH};
	struct mongo_backend *m = (struct mongo_backend *)b;
	bson_t q = BSON_INITIALIZER;
	int rc;

	BSON_APPEND_UTF8(&q, shape == STO_SHAPE_ARCH ? "h" : "_id.h", m->hosts[host]);
	rc = mongo_distinct(m, colls[shape], shape == STO_SHAPE_ARCH ? "s" : "_id.s", &q, out, why);
	bson_destroy(&q);
	return rc;
}

static int mongo_map_keys(struct sto_backend *b, const struct sto_where *w,
			  struct sto_names *out, char *why)
{
	bson_t q = BSON_INITIALIZER;
	int rc;
	mongo_where_filter(&q, w, 1, 1, 0);
	rc = mongo_distinct((struct mongo_backend *)b, MC_MAP, "_id.k", &q, out, why);
	bson_destroy(&q);
	return rc;
}

static void mongo_close(struct sto_backend *b)
{
	struct mongo_backend *m = (struct mongo_backend *)b;
	for (int i = 0; i < MC_N; i++)
		if (m->c[i])
			mongoc_collection_destroy(m->c[i]);
	if (m->db)
		mongoc_database_destroy(m->db);
	if (m->client)
		mongoc_client_destroy(m->client);
	for (size_t i = 0; i < m->nhosts; i++)
		free(m->hosts[i]);
	free(m->hosts);
	free(m);
}

static const struct sto_backend_ops mongo_ops = {
	.name = "mongodb",
	.close = mongo_close,
	.kv_get = mongo_kv_get,
	.kv_set = mongo_kv_set,
	.kv_add = mongo_kv_add,
	.kv_users = mongo_kv_users,
	.map_get = mongo_map_get,
	.map_set = mongo_map_set,
	.map_get_all = mongo_map_get_all,
	.map_delete_all = mongo_map_delete_all,
	.arch_append = mongo_arch_append,
	.arch_meta = mongo_arch_meta,
	.arch_value = mongo_arch_value,
	.arch_remove = mongo_arch_remove,
	.stores = mongo_stores,
	.shape_users = mongo_users_of,
	.map_keys = mongo_map_keys,
};

/* Indexes for the archive query fields and the map's get_all; idempotent. */
static int mongo_indexes(struct mongo_backend *m, char *err, size_t errlen)
{
	bson_t *cmd = BCON_NEW(
		"createIndexes", BCON_UTF8("xmppd_archive"), "indexes", "[",
		"{", "key", "{", "h", BCON_INT32(1), "s", BCON_INT32(1), "u", BCON_INT32(1), "id",
		BCON_INT32(1), "}", "name", BCON_UTF8("by_id"), "unique", BCON_BOOL(true), "}",
		"{", "key", "{", "h", BCON_INT32(1), "s", BCON_INT32(1), "u", BCON_INT32(1), "seq",
		BCON_INT32(1), "}", "name", BCON_UTF8("by_seq"), "}",
		"{", "key", "{", "h", BCON_INT32(1), "s", BCON_INT32(1), "u", BCON_INT32(1), "at",
		BCON_INT32(1), "}", "name", BCON_UTF8("by_at"), "}",
		"{", "key", "{", "h", BCON_INT32(1), "s", BCON_INT32(1), "u", BCON_INT32(1), "with",
		BCON_INT32(1), "seq", BCON_INT32(1), "}", "name", BCON_UTF8("by_with"), "}", "]");
	bson_t *cmd2 = BCON_NEW("createIndexes", BCON_UTF8("xmppd_map"), "indexes", "[", "{", "key",
				"{", "_id.h", BCON_INT32(1), "_id.s", BCON_INT32(1), "_id.k",
				BCON_INT32(1), "}", "name", BCON_UTF8("by_key"), "}", "]");
	bson_error_t e;
	int ok = mongoc_database_write_command_with_opts(m->db, cmd, NULL, NULL, &e) &&
		 mongoc_database_write_command_with_opts(m->db, cmd2, NULL, NULL, &e);
	if (!ok)
		snprintf(err, errlen, "mongodb: cannot create indexes: %s", e.message);
	bson_destroy(cmd);
	bson_destroy(cmd2);
	return ok ? 0 : -1;
}

static int mongo_connect(struct mongo_backend *m, const char *uristr, char *err, size_t errlen)
{
	bson_error_t e;
	mongoc_uri_t *uri = mongoc_uri_new_with_error(uristr, &e);
	mongoc_write_concern_t *wc;

	if (!uri) {
		snprintf(err, errlen, "bad mongodb URI: %s", e.message);
		return -1;
	}
	if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, MONGO_SELECT_MS);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, MONGO_SOCKET_MS);
	const char *dbname = mongoc_uri_get_database(uri);
	m->client = mongoc_client_new_from_uri_with_error(uri, &e);
	if (m->client) {
		mongoc_client_set_error_api(m->client, MONGOC_ERROR_API_VERSION_2);
		m->db = mongoc_client_get_database(m->client, dbname ? dbname : MONGO_DB_DEFAULT);
	}
	mongoc_uri_destroy(uri);
	if (!m->client) {
		snprintf(err, errlen, "mongodb client: %s", e.message);
		return -1;
	}
	wc = mongoc_write_concern_new();
	mongoc_write_concern_set_journal(wc, true);
	for (int i = 0; i < MC_N; i++) {
		m->c[i] = mongoc_database_get_collection(m->db, mongo_coll_names[i]);
		mongoc_collection_set_write_concern(m->c[i], wc);
	}
	mongoc_write_concern_destroy(wc);
	bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
	int ok = mongoc_database_command_simple(m->db, ping, NULL, NULL, &e);
	bson_destroy(ping);
	if (!ok) {
		snprintf(err, errlen, "mongodb unreachable: %s", e.message);
		return -1;
	}
	return mongo_indexes(m, err, errlen);
}

struct sto_backend *sto_mongo_open(const char *uri, const char *const *hosts, size_t nhosts,
				   char *err, size_t errlen)
{
	static int initialized;	/* mongoc_init once per process */
	struct mongo_backend *m = calloc(1, sizeof(*m));

	if (!initialized) {
		mongoc_init();
		initialized = 1;
	}
	if (!m || !(m->hosts = calloc(nhosts ? nhosts : 1, sizeof(char *)))) {
		free(m);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->base.ops = &mongo_ops;
	for (size_t i = 0; i < nhosts; i++) {
		if (!(m->hosts[i] = strdup(hosts[i]))) {
			mongo_close(&m->base);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		m->nhosts = i + 1;
	}
	if (mongo_connect(m, uri ? uri : "", err, errlen) < 0) {
		mongo_close(&m->base);
		return NULL;
	}
	return &m->base;
}
