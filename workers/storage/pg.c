/* The PostgreSQL backend (libpq): schema created and migrated here (xmppd_schema holds the
 * version), prepared statements, one connection per storage worker with a statement timeout,
 * reconnected with backoff. An operation during an outage fails (STO_EUNAVAIL); nothing is
 * acknowledged before PostgreSQL has committed it. */
#include "backend.h"

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "log.h"
#include "sto.h"
#include "tlv.h"
#include "xlimits.h"

#define PG_STATEMENT_TIMEOUT_MS (STORE_TIMEOUT_MS - 1000)	/* the router gives up at 5 s */
#define PG_BACKOFF_MIN_MS 100u
#define PG_BACKOFF_MAX_MS 5000u
#define PG_SCHEMA_LOCK 0x786d7070	/* advisory lock key: workers migrate one at a time */
/* Defaults unless the conninfo says otherwise: a silent network must not block the worker
 * past the router's timeout (statement_timeout only helps while the server answers). */
#define PG_CONNECT_TIMEOUT_S "3"
#define PG_TCP_USER_TIMEOUT_MS "4000"

struct pg_backend {
	struct sto_backend base;
	char *conninfo;
	char **hosts;
	size_t nhosts;
	PGconn *conn;
	uint64_t next_try_ms;	/* no reconnect before this */
	uint32_t backoff_ms;
	int set_connect_timeout, set_tcp_timeout;	/* the conninfo leaves them to us */
};

/* Migrations, applied in order from the stored version; never edit a shipped one. */
static const char *const pg_migrations[] = {
	/* 1 */
	"CREATE TABLE xmppd_kv (host text NOT NULL, store text NOT NULL, username text NOT NULL,"
	" value bytea NOT NULL, PRIMARY KEY (host, store, username));"
	"CREATE TABLE xmppd_map (host text NOT NULL, store text NOT NULL, username text NOT NULL,"
	" key text NOT NULL, value bytea NOT NULL, PRIMARY KEY (host, store, username, key));"
	"CREATE INDEX xmppd_map_by_key ON xmppd_map (host, store, key);"
	"CREATE TABLE xmppd_archive (sort_id bigserial PRIMARY KEY, host text NOT NULL,"
	" store text NOT NULL, username text NOT NULL, id text NOT NULL, at bigint NOT NULL,"
	" with_jid text NOT NULL, value bytea NOT NULL, UNIQUE (host, store, username, id));"
	"CREATE INDEX xmppd_archive_by_user ON xmppd_archive (host, store, username, sort_id);"
	"CREATE INDEX xmppd_archive_by_at ON xmppd_archive (host, store, username, at);"
	"CREATE INDEX xmppd_archive_by_with ON xmppd_archive (host, store, username, with_jid, sort_id);",
};
#define PG_SCHEMA_VERSION (sizeof(pg_migrations) / sizeof(pg_migrations[0]))

enum pg_stmt {
	PG_KV_GET, PG_KV_SET, PG_KV_DEL, PG_KV_USERS, PG_MAP_GET, PG_MAP_SET, PG_MAP_DEL,
	PG_MAP_ALL, PG_MAP_DEL_ALL, PG_ARCH_ADD, PG_ARCH_META, PG_ARCH_VALUE, PG_ARCH_DEL,
	PG_STORES_KV, PG_STORES_MAP, PG_STORES_ARCH, PG_USERS_MAP, PG_USERS_ARCH, PG_MAP_KEYS,
	PG_ARCH_SID, PG_KV_ADD, PG_NSTMT
};
static const struct {
	const char *sql;
	int nparams;
} pg_stmts[PG_NSTMT] = {
	[PG_KV_GET] = {"SELECT value FROM xmppd_kv WHERE host=$1 AND store=$2 AND username=$3", 3},
	[PG_KV_SET] = {"INSERT INTO xmppd_kv VALUES ($1,$2,$3,$4) ON CONFLICT (host, store, username)"
		       " DO UPDATE SET value=EXCLUDED.value", 4},
	[PG_KV_DEL] = {"DELETE FROM xmppd_kv WHERE host=$1 AND store=$2 AND username=$3", 3},
	[PG_KV_USERS] = {"SELECT username FROM xmppd_kv WHERE host=$1 AND store=$2 AND username<>''"
			 " ORDER BY username COLLATE \"C\"", 2},
	[PG_MAP_GET] = {"SELECT value FROM xmppd_map WHERE host=$1 AND store=$2 AND username=$3"
			" AND key=$4", 4},
	[PG_MAP_SET] = {"INSERT INTO xmppd_map VALUES ($1,$2,$3,$4,$5) ON CONFLICT (host, store,"
			" username, key) DO UPDATE SET value=EXCLUDED.value", 5},
	[PG_MAP_DEL] = {"DELETE FROM xmppd_map WHERE host=$1 AND store=$2 AND username=$3 AND key=$4", 4},
	[PG_MAP_ALL] = {"SELECT username, value FROM xmppd_map WHERE host=$1 AND store=$2 AND key=$3"
			" ORDER BY username COLLATE \"C\"", 3},
	[PG_MAP_DEL_ALL] = {"DELETE FROM xmppd_map WHERE host=$1 AND store=$2 AND key=$3", 3},
	[PG_ARCH_ADD] = {"INSERT INTO xmppd_archive (host, store, username, id, at, with_jid, value)"
			 " VALUES ($1,$2,$3,$4,$5::bigint,$6,$7) ON CONFLICT DO NOTHING", 7},
	[PG_ARCH_META] = {"SELECT sort_id, at, id, with_jid FROM xmppd_archive WHERE host=$1 AND"
			  " store=$2 AND username=$3 ORDER BY sort_id", 3},
	[PG_ARCH_VALUE] = {"SELECT value FROM xmppd_archive WHERE sort_id=$1::bigint AND host=$2"
			   " AND store=$3 AND username=$4", 4},
	[PG_ARCH_DEL] = {"DELETE FROM xmppd_archive WHERE sort_id=$1::bigint AND host=$2 AND"
			 " store=$3 AND username=$4", 4},
	[PG_STORES_KV] = {"SELECT DISTINCT store FROM xmppd_kv WHERE host=$1", 1},
	[PG_STORES_MAP] = {"SELECT DISTINCT store FROM xmppd_map WHERE host=$1", 1},
	[PG_STORES_ARCH] = {"SELECT DISTINCT store FROM xmppd_archive WHERE host=$1", 1},
	[PG_USERS_MAP] = {"SELECT DISTINCT username FROM xmppd_map WHERE host=$1 AND store=$2", 2},
	[PG_USERS_ARCH] = {"SELECT DISTINCT username FROM xmppd_archive WHERE host=$1 AND store=$2", 2},
	[PG_MAP_KEYS] = {"SELECT key FROM xmppd_map WHERE host=$1 AND store=$2 AND username=$3", 3},
	[PG_KV_ADD] = {"INSERT INTO xmppd_kv VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING", 4},
	[PG_ARCH_SID] = {"SELECT sort_id FROM xmppd_archive WHERE host=$1 AND store=$2 AND"
			 " username=$3 AND id=$4", 4},
};

static uint64_t pg_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int pg_exec_ok(PGconn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		snprintf(err, errlen, "%s", PQerrorMessage(c));
	PQclear(r);
	return ok ? 0 : -1;
}

/* Brings the schema to PG_SCHEMA_VERSION in one transaction under an advisory lock. */
static int pg_migrate(PGconn *c, char *err, size_t errlen)
{
	char sql[128];
	PGresult *r;
	long have = 0;

	if (pg_exec_ok(c, "BEGIN", err, errlen) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%d)", PG_SCHEMA_LOCK);
	if (pg_exec_ok(c, sql, err, errlen) < 0 ||
	    pg_exec_ok(c, "CREATE TABLE IF NOT EXISTS xmppd_schema (version integer NOT NULL)", err,
		       errlen) < 0)
		goto fail;
	r = PQexec(c, "SELECT max(version) FROM xmppd_schema");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", PQerrorMessage(c));
		PQclear(r);
		goto fail;
	}
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		have = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (have > (long)PG_SCHEMA_VERSION) {
		snprintf(err, errlen, "database schema version %ld is newer than this xmppd (%zu)",
			 have, PG_SCHEMA_VERSION);
		goto fail;
	}
	for (long v = have; v < (long)PG_SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "INSERT INTO xmppd_schema VALUES (%ld)", v + 1);
		if (pg_exec_ok(c, pg_migrations[v], err, errlen) < 0 ||
		    pg_exec_ok(c, sql, err, errlen) < 0)
			goto fail;
		log_info("postgresql schema migrated", "version=%ld", v + 1);
	}
	return pg_exec_ok(c, "COMMIT", err, errlen);
fail:
	PQclear(PQexec(c, "ROLLBACK"));
	return -1;
}

static void pg_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;	/* NOTICEs ("already exists, skipping") are not worth a log line */
}

static int pg_setup(PGconn *c, char *err, size_t errlen)
{
	char sql[96];
	PQsetNoticeProcessor(c, pg_quiet, NULL);
	snprintf(sql, sizeof(sql), "SET statement_timeout = %d", PG_STATEMENT_TIMEOUT_MS);
	if (pg_exec_ok(c, sql, err, errlen) < 0 || pg_migrate(c, err, errlen) < 0)
		return -1;
	for (int i = 0; i < PG_NSTMT; i++) {
		char name[16];
		snprintf(name, sizeof(name), "s%d", i);
		PGresult *r = PQprepare(c, name, pg_stmts[i].sql, pg_stmts[i].nparams, NULL);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			snprintf(err, errlen, "prepare %s: %s", name, PQerrorMessage(c));
		PQclear(r);
		if (!ok)
			return -1;
	}
	return 0;
}

/* A usable connection, or -1 (STO_EUNAVAIL) without blocking more than one connect
 * attempt, and none at all while backing off. */
static int pg_ready(struct pg_backend *p, char *why)
{
	char err[STO_WHY_LEN];
	uint64_t now;

	if (p->conn && PQstatus(p->conn) == CONNECTION_OK)
		return 0;
	now = pg_now_ms();
	if (now < p->next_try_ms) {
		sto_whyf(why, "postgresql unavailable (retrying in %llu ms)",
			 (unsigned long long)(p->next_try_ms - now));
		return -1;
	}
	if (p->conn)
		PQfinish(p->conn);
	static const char *const keys[] = {"dbname", "connect_timeout", "tcp_user_timeout", NULL};
	const char *vals[] = {p->conninfo, p->set_connect_timeout ? PG_CONNECT_TIMEOUT_S : NULL,
			      p->set_tcp_timeout ? PG_TCP_USER_TIMEOUT_MS : NULL, NULL};
	p->conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(p->conn) == CONNECTION_OK && pg_setup(p->conn, err, sizeof(err)) == 0) {
		if (p->backoff_ms)
			log_info("postgresql connection restored", "");
		p->backoff_ms = 0;
		return 0;
	}
	if (PQstatus(p->conn) != CONNECTION_OK)
		snprintf(err, sizeof(err), "%s", PQerrorMessage(p->conn));
	err[strcspn(err, "\n")] = 0;
	p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : PG_BACKOFF_MIN_MS;
	if (p->backoff_ms > PG_BACKOFF_MAX_MS)
		p->backoff_ms = PG_BACKOFF_MAX_MS;
	p->next_try_ms = pg_now_ms() + p->backoff_ms;
	log_warn("postgresql connection failed", "reason=\"%s\" retry_ms=%u", err, p->backoff_ms);
	sto_whyf(why, "postgresql unavailable: %s", err);
	PQfinish(p->conn);
	p->conn = NULL;
	return -1;
}

/* Runs a prepared statement with text/binary params (lens[i] < 0: text). On a lost
 * connection the statement is retried once on a fresh one only when idempotent. */
static PGresult *pg_run(struct pg_backend *p, enum pg_stmt s, const char *const *vals,
			const int *lens, int idempotent, int *rc, char *why)
{
	int fmts[8], l[8];
	char name[16];

	for (int i = 0; i < pg_stmts[s].nparams; i++) {
		fmts[i] = lens && lens[i] >= 0 ? 1 : 0;
		l[i] = lens && lens[i] >= 0 ? lens[i] : 0;
	}
	snprintf(name, sizeof(name), "s%d", (int)s);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (pg_ready(p, why) < 0) {
			*rc = STO_EUNAVAIL;
			return NULL;
		}
		PGresult *r = PQexecPrepared(p->conn, name, pg_stmts[s].nparams, vals, l, fmts, 1);
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			*rc = STO_OK;
			return r;
		}
		sto_whyf(why, "postgresql: %s", PQerrorMessage(p->conn));
		why[strcspn(why, "\n")] = 0;
		PQclear(r);
		if (PQstatus(p->conn) == CONNECTION_OK) {
			*rc = STO_EIO;
			return NULL;
		}
		if (!idempotent)
			break;
	}
	*rc = STO_EUNAVAIL;
	return NULL;
}

static const char *pg_host(struct pg_backend *p, const struct sto_where *w)
{
	return p->hosts[w->host];
}

static int pg_get_value(struct sto_backend *b, enum pg_stmt s, const char *const *vals,
			struct buf *out, char *why)
{
	int rc;
	PGresult *r = pg_run((struct pg_backend *)b, s, vals, NULL, 1, &rc, why);
	if (!r)
		return rc;
	if (PQntuples(r) == 0) {
		sto_whyf(why, "not found");
		rc = STO_ENOTFOUND;
	} else if (buf_put(out, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0)) < 0) {
		sto_whyf(why, "out of memory");
		rc = STO_EIO;
	}
	PQclear(r);
	return rc;
}

static int pg_command(struct sto_backend *b, enum pg_stmt s, const char *const *vals,
		      const int *lens, uint32_t *affected, char *why)
{
	int rc;
	PGresult *r = pg_run((struct pg_backend *)b, s, vals, lens, 1, &rc, why);
	if (r && affected)
		*affected = (uint32_t)strtoul(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return rc;
}

static int pg_kv_get(struct sto_backend *b, const struct sto_where *w, struct buf *out, char *why)
{
	const char *v[] = {pg_host((struct pg_backend *)b, w), w->store, w->user};
	return pg_get_value(b, PG_KV_GET, v, out, why);
}

static int pg_kv_set(struct sto_backend *b, const struct sto_where *w, const uint8_t *val,
		     size_t n, int del, char *why)
{
	const char *v[] = {pg_host((struct pg_backend *)b, w), w->store, w->user,
			   val ? (const char *)val : ""};
	const int lens[] = {-1, -1, -1, (int)n};
	return pg_command(b, del ? PG_KV_DEL : PG_KV_SET, v, lens, NULL, why);
}

static int pg_kv_add(struct sto_backend *b, const struct sto_where *w, const uint8_t *val,
		     size_t n, char *why)
{
	const char *v[] = {pg_host((struct pg_backend *)b, w), w->store, w->user,
			   n ? (const char *)val : ""};
	const int lens[] = {-1, -1, -1, (int)n};
	int rc;
	/* Not retried: a lost reply might hide a committed insert. */
	PGresult *r = pg_run((struct pg_backend *)b, PG_KV_ADD, v, lens, 0, &rc, why);
	if (r && strcmp(PQcmdTuples(r), "0") == 0) {
		sto_whyf(why, "exists");
		rc = STO_EEXISTS;
	}
	PQclear(r);
	return rc;
}

/* The first column of every row as names. */
static int pg_names(struct sto_backend *b, enum pg_stmt s, const char *const *vals,
		    struct sto_names *out, char *why)
{
	int rc;
	PGresult *r = pg_run((struct pg_backend *)b, s, vals, NULL, 1, &rc, why);
	if (!r)
		return rc;
	for (int i = 0; rc == STO_OK && i < PQntuples(r); i++) {
		char *s0 = strndup(PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
		if (!s0 || sto_names_push(out, s0) < 0) {
			sto_whyf(why, "out of memory");
			rc = STO_EIO;
		}
		free(s0);
	}
	PQclear(r);
	sto_names_sort(out);
	return rc;
}

static int pg_kv_users(struct sto_backend *b, const struct sto_where *w, struct sto_names *out,
		       char *why)
{
	const char *v[] = {pg_host((struct pg_backend *)b, w), w->store};
	return pg_names(b, PG_KV_USERS, v, out, why);
}

static int pg_map_get(struct sto_backend *b, const struct sto_where *w, struct buf *out,
		      char *why)
{
	const char *v[] = {pg_host((struct pg_backend *)b, w), w->store, w->user, w->key};
	return pg_get_value(b, PG_MAP_GET, v, out, why);
}

static int pg_map_set(struct sto_backend *b, const struct sto_where *w, const uint8_t *val,
		      size_t n, int del, char *why)
{
	const char *v[] = {pg_host((struct pg_backend *)b, w), w->store, w->user, w->key,
			   val ? (const char *)val : ""};
	const int lens[] = {-1, -1, -1, -1, (int)n};
	return pg_command(b, del ? PG_MAP_DEL : PG_MAP_SET, v, lens, NULL, why);
}

static int pg_map_get_all(struct sto_backend *b, const struct sto_where *w, sto_pair_fn fn,
			  void *arg, char *why)
{
	const char *v[] = {pg_host((struct pg_backend *)b, w), w->store, w->key};
	int rc;
	PGresult *r = pg_run((struct pg_backend *)b, PG_MAP_ALL, v, NULL, 1, &rc, why);
	if (!r)
		return rc;
	for (int i = 0; rc == STO_OK && i < PQntuples(r); i++) {
		char *user = strndup(PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
		if (!user || fn(arg, user, (const uint8_t *)PQgetvalue(r, i, 1),
				(size_t)PQgetlength(r, i, 1)) < 0) {
			sto_whyf(why, "the values do not fit in one reply");
			rc = STO_EIO;
		}
		free(user);
	}
	PQclear(r);
	return rc;
}

static int pg_map_delete_all(struct sto_backend *b, const struct sto_where *w, uint32_t *count,
			     char *why)
{
	const char *v[] = {pg_host((struct pg_backend *)b, w), w->store, w->key};
	return pg_command(b, PG_MAP_DEL_ALL, v, NULL, count, why);
}

static int pg_arch_append(struct sto_backend *b, const struct sto_where *w, const char *id,
			  uint64_t when, const char *with, const uint8_t *val, size_t n, char *why)
{
	char at[24];
	snprintf(at, sizeof(at), "%lld", (long long)when);
	const char *v[] = {pg_host((struct pg_backend *)b, w), w->store, w->user, id, at, with,
			   n ? (const char *)val : ""};
	const int lens[] = {-1, -1, -1, -1, -1, -1, (int)n};
	int rc;
	/* Not retried: a lost reply might hide a committed insert. */
	PGresult *r = pg_run((struct pg_backend *)b, PG_ARCH_ADD, v, lens, 0, &rc, why);
	if (r && strcmp(PQcmdTuples(r), "0") == 0) {
		sto_whyf(why, "an archive item with this id exists");
		rc = STO_EEXISTS;
	}
	PQclear(r);
	return rc;
}

static uint64_t pg_u64(const PGresult *r, int row, int col)
{
	uint64_t v = 0;
	if (PQgetlength(r, row, col) == 8)
		memcpy(&v, PQgetvalue(r, row, col), 8);
	return be64toh(v);
}

static int pg_arch_meta(struct sto_backend *b, const struct sto_where *w,
			struct sto_meta_list *out, char *why)
{
	const char *v[] = {pg_host((struct pg_backend *)b, w), w->store, w->user};
	int rc;
	PGresult *r = pg_run((struct pg_backend *)b, PG_ARCH_META, v, NULL, 1, &rc, why);
	if (!r)
		return rc;
	for (int i = 0; rc == STO_OK && i < PQntuples(r); i++) {
		char *id = strndup(PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2));
		char *with = strndup(PQgetvalue(r, i, 3), (size_t)PQgetlength(r, i, 3));
		if (!id || !with || sto_meta_add(out, pg_u64(r, i, 0), pg_u64(r, i, 1), id, with) < 0) {
			sto_whyf(why, "out of memory");
			rc = STO_EIO;
		}
		free(id);
		free(with);
	}
	PQclear(r);
	return rc;
}

static int pg_arch_value(struct sto_backend *b, const struct sto_where *w, uint64_t ref,
			 struct buf *out, char *why)
{
	char sid[24];
	snprintf(sid, sizeof(sid), "%llu", (unsigned long long)ref);
	const char *v[] = {sid, pg_host((struct pg_backend *)b, w), w->store, w->user};
	return pg_get_value(b, PG_ARCH_VALUE, v, out, why);
}

static int pg_arch_remove(struct sto_backend *b, const struct sto_where *w, const uint64_t *refs,
			  size_t n, char *why)
{
	struct pg_backend *p = (struct pg_backend *)b;
	int rc = STO_OK;
	char err[STO_WHY_LEN];

	if (pg_ready(p, why) < 0)
		return STO_EUNAVAIL;
	if (pg_exec_ok(p->conn, "BEGIN", err, sizeof(err)) < 0) {
		sto_whyf(why, "postgresql: %s", err);
		return STO_EUNAVAIL;
	}
	for (size_t i = 0; rc == STO_OK && i < n; i++) {
		char sid[24];
		snprintf(sid, sizeof(sid), "%llu", (unsigned long long)refs[i]);
		const char *v[] = {sid, pg_host(p, w), w->store, w->user};
		PGresult *r = pg_run(p, PG_ARCH_DEL, v, NULL, 0, &rc, why);
		PQclear(r);
	}
	if (rc == STO_OK && pg_exec_ok(p->conn, "COMMIT", err, sizeof(err)) < 0) {
		sto_whyf(why, "postgresql: %s", err);
		rc = STO_EUNAVAIL;
	}
	if (rc != STO_OK && p->conn && PQstatus(p->conn) == CONNECTION_OK)
		PQclear(PQexec(p->conn, "ROLLBACK"));
	return rc;
}

/* find in SQL ------------------------------------------------------------------------ */

#define PG_FIND_PARAMS 12	/* host, store, user and at most 6 conditions */
/* An ITEM takes at least 38 bytes: no reply can hold more rows than this. */
#define PG_FIND_ROWS_MAX (XE_MAX_BODY / 38u + 2u)

struct pg_find {
	char where[640];	/* the conditions after host/store/user */
	char sql[1024];
	const char *vals[PG_FIND_PARAMS];
	char nums[PG_FIND_PARAMS][24];
	struct buf ids;		/* the text[] literal of IDS */
	int n;
};

/* Appends " AND <lhs>$<n><cast>" with val as parameter n. */
static void pg_find_cond(struct pg_find *f, const char *lhs, const char *cast, const char *val)
{
	size_t len = strlen(f->where);
	f->vals[f->n] = val;
	f->n++;
	snprintf(f->where + len, sizeof(f->where) - len, " AND %s$%d%s", lhs, f->n, cast);
}

static const char *pg_find_num(struct pg_find *f, uint64_t v)
{
	snprintf(f->nums[f->n], sizeof(f->nums[f->n]), "%lld", (long long)v);
	return f->nums[f->n];
}

/* {"a","b\"c"}: every element quoted, '"' and '\' escaped. */
static int pg_text_array(struct buf *b, const char *const *v, size_t n)
{
	if (buf_put_u8(b, '{') < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if ((i && buf_put_u8(b, ',') < 0) || buf_put_u8(b, '"') < 0)
			return -1;
		for (const char *c = v[i]; *c; c++)
			if (((*c == '"' || *c == '\\') && buf_put_u8(b, '\\') < 0) ||
			    buf_put_u8(b, (uint8_t)*c) < 0)
				return -1;
		if (buf_put_u8(b, '"') < 0)
			return -1;
	}
	return buf_put(b, "}", 2);	/* with the NUL */
}

/* The sort_id of an id, as text in out; STO_ENOTFOUND when there is none. */
static int pg_find_sid(struct pg_backend *p, const struct sto_where *w, const char *id,
		       char *out, size_t cap, char *why)
{
	const char *v[] = {pg_host(p, w), w->store, w->user, id};
	int rc;
	PGresult *r = pg_run(p, PG_ARCH_SID, v, NULL, 1, &rc, why);
	if (!r)
		return rc;
	if (PQntuples(r) == 1)
		snprintf(out, cap, "%lld", (long long)pg_u64(r, 0, 0));
	else
		rc = STO_ENOTFOUND;
	PQclear(r);
	if (rc == STO_ENOTFOUND)
		sto_whyf(why, "no archive item with the id given in before/after");
	return rc;
}

/* The WHERE clause of q into f (after host/store/user as $1..$3). */
static int pg_find_where(struct pg_backend *p, const struct sto_where *w,
			 const struct sto_query *q, struct pg_find *f, char *after, char *before,
			 char *why)
{
	int rc = STO_OK;
	f->vals[0] = pg_host(p, w);
	f->vals[1] = w->store;
	f->vals[2] = w->user;
	f->n = 3;
	if (q->have & STO_Q_START)
		pg_find_cond(f, "at >= ", "::bigint", pg_find_num(f, q->start));
	if (q->have & STO_Q_END)
		pg_find_cond(f, "at <= ", "::bigint", pg_find_num(f, q->end));
	if (q->have & STO_Q_WITH)
		pg_find_cond(f, "with_jid = ", "", q->with);
	if ((q->have & STO_Q_AFTER) &&
	    (rc = pg_find_sid(p, w, q->after, after, 24, why)) == STO_OK)
		pg_find_cond(f, "sort_id > ", "::bigint", after);
	if (rc == STO_OK && (q->have & STO_Q_BEFORE) &&
	    (rc = pg_find_sid(p, w, q->before, before, 24, why)) == STO_OK)
		pg_find_cond(f, "sort_id < ", "::bigint", before);
	if (rc == STO_OK && (q->have & STO_Q_IDS)) {
		if (pg_text_array(&f->ids, q->ids, q->nids) < 0) {
			sto_whyf(why, "out of memory");
			return STO_EIO;
		}
		pg_find_cond(f, "id = ANY(", "::text[])", (const char *)f->ids.data);
	}
	return rc;
}

static PGresult *pg_find_exec(struct pg_backend *p, struct pg_find *f, int *rc, char *why)
{
	PGresult *r = PQexecParams(p->conn, f->sql, f->n, NULL, f->vals, NULL, NULL, 1);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		*rc = STO_OK;
		return r;
	}
	sto_whyf(why, "postgresql: %s", PQerrorMessage(p->conn));
	why[strcspn(why, "\n")] = 0;
	*rc = PQstatus(p->conn) == CONNECTION_OK ? STO_EIO : STO_EUNAVAIL;
	PQclear(r);
	return NULL;
}

static int pg_arch_find(struct sto_backend *b, const struct sto_where *w,
			const struct sto_query *q, size_t reply_max, struct buf *out, char *why)
{
	struct pg_backend *p = (struct pg_backend *)b;
	struct pg_find f;
	char after[24], before[24];
	PGresult *r = NULL;
	uint64_t total = 0;
	int rc, rows;

	memset(&f, 0, sizeof(f));
	buf_init(&f.ids);
	if (pg_ready(p, why) < 0)
		return STO_EUNAVAIL;
	rc = pg_find_where(p, w, q, &f, after, before, why);
	snprintf(f.sql, sizeof(f.sql), "SELECT count(*) FROM xmppd_archive WHERE host=$1 AND"
		 " store=$2 AND username=$3%s", f.where);
	if (rc == STO_OK && q->total && (r = pg_find_exec(p, &f, &rc, why))) {
		total = pg_u64(r, 0, 0);
		PQclear(r);
	}
	if (rc == STO_OK) {
		snprintf(f.sql, sizeof(f.sql), "SELECT at, id, with_jid, value FROM xmppd_archive"
			 " WHERE host=$1 AND store=$2 AND username=$3%s ORDER BY sort_id%s LIMIT %u",
			 f.where, q->reverse ? " DESC" : "",
			 (q->have & STO_Q_LIMIT) && q->limit < PG_FIND_ROWS_MAX ? q->limit + 1
										: PG_FIND_ROWS_MAX);
		r = pg_find_exec(p, &f, &rc, why);
	}
	rows = r ? PQntuples(r) : 0;
	int sent = 0, full = 0;
	for (int i = 0; rc == STO_OK && i < rows && !full; i++) {
		if ((q->have & STO_Q_LIMIT) && (uint32_t)sent >= q->limit)
			break;
		char *id = strndup(PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
		char *with = strndup(PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2));
		size_t before_len = out->len;
		if (!id || !with || sto_put_item_raw(out, id, pg_u64(r, i, 0), with,
						     (const uint8_t *)PQgetvalue(r, i, 3),
						     (size_t)PQgetlength(r, i, 3)) < 0) {
			sto_whyf(why, "out of memory");
			rc = STO_EIO;
		} else if (out->len > reply_max) {
			out->len = before_len;
			full = 1;
		} else {
			sent++;
		}
		free(id);
		free(with);
	}
	PQclear(r);
	buf_free(&f.ids);
	if (rc == STO_OK && (tlv_put_u32(out, STO_T_COMPLETE, !full && sent == rows) < 0 ||
			     (q->total && tlv_put_u32(out, STO_T_TOTAL, (uint32_t)total) < 0))) {
		sto_whyf(why, "out of memory");
		rc = STO_EIO;
	}
	return rc;
}

static int pg_stores(struct sto_backend *b, size_t host, int shape, struct sto_names *out,
		     char *why)
{
	static const enum pg_stmt s[] = {PG_STORES_KV, PG_STORES_MAP, PG_STORES_ARCH};
	const char *v[] = {((struct pg_backend *)b)->hosts[host]};
	return pg_names(b, s[shape], v, out, why);
}

static int pg_shape_users(struct sto_backend *b, const struct sto_where *w, int shape,
			  struct sto_names *out, char *why)
{
	const char *v[] = {pg_host((struct pg_backend *)b, w), w->store};
	if (shape == STO_SHAPE_KV)
		return pg_kv_users(b, w, out, why);
	return pg_names(b, shape == STO_SHAPE_MAP ? PG_USERS_MAP : PG_USERS_ARCH, v, out, why);
}

static int pg_map_keys(struct sto_backend *b, const struct sto_where *w, struct sto_names *out,
		       char *why)
{
	const char *v[] = {pg_host((struct pg_backend *)b, w), w->store, w->user};
	return pg_names(b, PG_MAP_KEYS, v, out, why);
}

static void pg_close(struct sto_backend *b)
{
	struct pg_backend *p = (struct pg_backend *)b;
	if (p->conn)
		PQfinish(p->conn);
	for (size_t i = 0; i < p->nhosts; i++)
		free(p->hosts[i]);
	free(p->hosts);
	if (p->conninfo) {
		explicit_bzero(p->conninfo, strlen(p->conninfo));
		free(p->conninfo);
	}
	free(p);
}

static const struct sto_backend_ops pg_ops = {
	.name = "postgresql",
	.close = pg_close,
	.kv_get = pg_kv_get,
	.kv_set = pg_kv_set,
	.kv_add = pg_kv_add,
	.kv_users = pg_kv_users,
	.map_get = pg_map_get,
	.map_set = pg_map_set,
	.map_get_all = pg_map_get_all,
	.map_delete_all = pg_map_delete_all,
	.arch_append = pg_arch_append,
	.arch_meta = pg_arch_meta,
	.arch_value = pg_arch_value,
	.arch_remove = pg_arch_remove,
	.stores = pg_stores,
	.shape_users = pg_shape_users,
	.map_keys = pg_map_keys,
	.arch_find = pg_arch_find,
};

struct sto_backend *sto_pg_open(const char *conninfo, const char *const *hosts, size_t nhosts,
				char *err, size_t errlen)
{
	struct pg_backend *p = calloc(1, sizeof(*p));
	char why[STO_WHY_LEN];

	if (!p || !(p->hosts = calloc(nhosts ? nhosts : 1, sizeof(char *))) ||
	    !(p->conninfo = strdup(conninfo ? conninfo : ""))) {
		if (p)
			free(p->hosts);
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->base.ops = &pg_ops;
	for (size_t i = 0; i < nhosts; i++) {
		if (!(p->hosts[i] = strdup(hosts[i]))) {
			pg_close(&p->base);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		p->nhosts = i + 1;
	}
	/* A malformed conninfo is a configuration error; a server that does not answer yet is an
	 * outage like any other: requests fail until a reconnect (with backoff) succeeds. */
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(p->conninfo, &perr);
	if (!opts) {
		snprintf(err, errlen, "bad postgresql connection string: %s", perr ? perr : "?");
		if (perr)
			PQfreemem(perr);
		pg_close(&p->base);
		return NULL;
	}
	p->set_connect_timeout = p->set_tcp_timeout = 1;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (o->val && strcmp(o->keyword, "connect_timeout") == 0)
			p->set_connect_timeout = 0;
		if (o->val && strcmp(o->keyword, "tcp_user_timeout") == 0)
			p->set_tcp_timeout = 0;
	}
	PQconninfoFree(opts);
	if (pg_ready(p, why) < 0)
		log_warn("postgresql not reachable at start; requests fail until it is", "reason=\"%s\"",
			 why);
	return &p->base;
}
