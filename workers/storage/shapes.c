/* The keyval, map and archive operations of the storage protocol: decode their fields,
 * pick the store's backend and write the reply fields of ipc/sto.h. Never trusts the body. */
#include "req.h"

#include <stdio.h>
#include <string.h>

#include "xe.h"

static int sto_store_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > STO_STORE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return 0;
	return 1;
}

/* A string field into out (cap bytes), non-empty unless allow_empty. */
static int sto_req_str(struct sto_req *q, uint16_t tag, char *out, size_t cap, int allow_empty)
{
	if (!(q->have & STO_F(tag)))
		return 0;
	if (tlv_str(&q->f[tag], out, cap) < 0 || (!allow_empty && !out[0]))
		return -1;
	return 0;
}

static int sto_req_u32(struct sto_req *q, uint16_t tag, uint32_t *v)
{
	return (q->have & STO_F(tag)) ? tlv_u32(&q->f[tag], v) : 0;
}

static int sto_req_ids(struct sto_req *q)
{
	struct rbuf r;
	struct tlv t;
	size_t n = 0;

	rbuf_init(&r, q->body, q->body_len);
	while (tlv_next(&r, &t) == 1) {
		if (t.tag != STO_T_ID)
			continue;
		if (n == STO_IDS_MAX || tlv_str(&t, q->idbuf[n], sizeof(q->idbuf[n])) < 0 ||
		    !q->idbuf[n][0])
			return -1;
		q->ids[n] = q->idbuf[n];
		n++;
	}
	q->q.ids = q->ids;
	q->q.nids = n;
	return 0;
}

int sto_req_decode_shape(struct sto_req *q, char *why, size_t whylen)
{
	const char *bad = NULL;
	uint32_t rev = 0, tot = 0;

	if (sto_req_str(q, STO_T_STORE, q->store, sizeof(q->store), 0) < 0 ||
	    ((q->have & STO_F(STO_T_STORE)) && !sto_store_valid(q->store)))
		bad = "store name must be 1..64 bytes of [a-z0-9_-]";
	else if ((q->have & STO_F(STO_T_STORE)) && strcmp(q->store, STO_ACCOUNTS_STORE) == 0)
		bad = "the accounts store is reserved for account operations";
	else if (sto_req_str(q, STO_T_KEY, q->key, sizeof(q->key), 0) < 0)
		bad = "key must be 1..3071 bytes without NUL";
	else if (sto_req_str(q, STO_T_WITH, q->with, sizeof(q->with), 1) < 0)
		bad = "with holds a NUL byte";
	else if (sto_req_str(q, STO_T_BEFORE, q->before, sizeof(q->before), 0) < 0 ||
		 sto_req_str(q, STO_T_AFTER, q->after, sizeof(q->after), 0) < 0)
		bad = "before/after must be an id";
	else if ((q->have & STO_F(STO_T_WHEN)) && tlv_u64(&q->f[STO_T_WHEN], &q->when) < 0)
		bad = "when must be a u64";
	else if (((q->have & STO_F(STO_T_START)) && tlv_u64(&q->f[STO_T_START], &q->q.start) < 0) ||
		 ((q->have & STO_F(STO_T_END)) && tlv_u64(&q->f[STO_T_END], &q->q.end) < 0))
		bad = "start/end must be u64";
	else if (sto_req_u32(q, STO_T_LIMIT, &q->q.limit) < 0 ||
		 sto_req_u32(q, STO_T_REVERSE, &rev) < 0 || sto_req_u32(q, STO_T_TOTAL, &tot) < 0 ||
		 rev > 1 || tot > 1)
		bad = "limit/reverse/total must be u32 (reverse and total 0 or 1)";
	else if ((q->have & STO_F(STO_T_ID)) && sto_req_ids(q) < 0)
		bad = "ids must be 1..128 bytes without NUL, at most 256";
	if (bad) {
		snprintf(why, whylen, "%s", bad);
		return -1;
	}
	q->q.reverse = (int)rev;
	q->q.total = (int)tot;
	q->q.have = ((q->have & STO_F(STO_T_START)) ? STO_Q_START : 0) |
		    ((q->have & STO_F(STO_T_END)) ? STO_Q_END : 0) |
		    ((q->have & STO_F(STO_T_WITH)) ? STO_Q_WITH : 0) |
		    ((q->have & STO_F(STO_T_BEFORE)) ? STO_Q_BEFORE : 0) |
		    ((q->have & STO_F(STO_T_AFTER)) ? STO_Q_AFTER : 0) |
		    ((q->have & STO_F(STO_T_ID)) ? STO_Q_IDS : 0) |
		    ((q->have & STO_F(STO_T_LIMIT)) ? STO_Q_LIMIT : 0);
	q->q.with = q->with;
	q->q.before = q->before;
	q->q.after = q->after;
	return 0;
}

static struct sto_backend *sto_where_of(struct sto_env *env, struct sto_req *q,
					struct sto_where *w)
{
	w->host = q->host;
	w->hostname = env->vhosts[q->host];
	w->store = q->store;
	w->user = q->user;
	w->key = q->key;
	return sto_env_backend(env, q->host, q->store);
}

/* Backends write reasons into STO_WHY_LEN buffers; the dispatch gives at least that. */
static char *sto_why_buf(char *why, size_t whylen)
{
	return whylen >= STO_WHY_LEN ? why : NULL;
}

#define STO_BE(env, q, w, why, wl)                                                               \
	struct sto_where w;                                                                      \
	struct sto_backend *be = sto_where_of(env, q, &w);                                       \
	if (!sto_why_buf(why, wl))                                                               \
		return STO_EIO

static int sto_put_value(struct buf *out, struct buf *val)
{
	int rc = tlv_put(out, STO_T_VALUE, val->data, val->len) < 0 ? STO_EIO : STO_OK;
	buf_free(val);
	return rc;
}

int sto_op_kv_get(struct sto_env *env, struct sto_req *q, struct buf *out, char *why, size_t wl)
{
	struct buf val;
	STO_BE(env, q, w, why, wl);
	buf_init(&val);
	int rc = be->ops->kv_get(be, &w, &val, why);
	if (rc != STO_OK) {
		buf_free(&val);
		return rc;
	}
	return sto_put_value(out, &val);
}

int sto_op_kv_set(struct sto_env *env, struct sto_req *q, struct buf *out, char *why, size_t wl)
{
	const struct tlv *v = &q->f[STO_T_VALUE];
	(void)out;
	STO_BE(env, q, w, why, wl);
	return be->ops->kv_set(be, &w, v->val, v->len, !(q->have & STO_F(STO_T_VALUE)), why);
}

static int sto_put_names(struct buf *out, struct sto_names *names, char *why)
{
	int rc = STO_OK;
	for (size_t i = 0; rc == STO_OK && i < names->n; i++)
		if (tlv_put_str(out, STO_T_USER, names->v[i]) < 0 || out->len > STO_REPLY_MAX) {
			sto_whyf(why, "%zu names do not fit in one reply", names->n);
			rc = STO_EIO;
		}
	sto_names_free(names);
	return rc;
}

int sto_op_kv_users(struct sto_env *env, struct sto_req *q, struct buf *out, char *why, size_t wl)
{
	struct sto_names names = {0};
	STO_BE(env, q, w, why, wl);
	int rc = be->ops->kv_users(be, &w, &names, why);
	if (rc != STO_OK) {
		sto_names_free(&names);
		return rc;
	}
	return sto_put_names(out, &names, why);
}

int sto_op_map_get(struct sto_env *env, struct sto_req *q, struct buf *out, char *why, size_t wl)
{
	struct buf val;
	STO_BE(env, q, w, why, wl);
	buf_init(&val);
	int rc = be->ops->map_get(be, &w, &val, why);
	if (rc != STO_OK) {
		buf_free(&val);
		return rc;
	}
	return sto_put_value(out, &val);
}

int sto_op_map_set(struct sto_env *env, struct sto_req *q, struct buf *out, char *why, size_t wl)
{
	const struct tlv *v = &q->f[STO_T_VALUE];
	(void)out;
	STO_BE(env, q, w, why, wl);
	return be->ops->map_set(be, &w, v->val, v->len, !(q->have & STO_F(STO_T_VALUE)), why);
}

/* One ENTRY of set_keys: {KEY [VALUE]}, nothing else, each once. */
static int sto_entry_split(const struct tlv *e, char *key, size_t cap, struct tlv *val)
{
	struct rbuf r;
	struct tlv t;
	int rc, have_key = 0;

	memset(val, 0, sizeof(*val));
	rbuf_init(&r, e->val, e->len);
	while ((rc = tlv_next(&r, &t)) == 1) {
		if (t.tag == STO_T_KEY && !have_key && tlv_str(&t, key, cap) == 0 && key[0])
			have_key = 1;
		else if (t.tag == STO_T_VALUE && !val->tag && t.len <= STO_VALUE_MAX)
			*val = t;
		else
			return -1;
	}
	return rc == 0 && have_key ? 0 : -1;
}

int sto_op_map_set_keys(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
			size_t wl)
{
	struct rbuf r;
	struct tlv t, val;
	int rc = STO_OK;
	(void)out;
	STO_BE(env, q, w, why, wl);

	/* All entries are checked before the first is applied: a bad one changes nothing. */
	for (int pass = 0; pass < 2 && rc == STO_OK; pass++) {
		rbuf_init(&r, q->body, q->body_len);
		while (rc == STO_OK && tlv_next(&r, &t) == 1) {
			if (t.tag != STO_T_ENTRY)
				continue;
			if (sto_entry_split(&t, q->key, sizeof(q->key), &val) < 0) {
				snprintf(why, wl, "an entry must be {KEY [VALUE]}");
				rc = STO_EINVAL;
			} else if (pass == 1) {
				rc = be->ops->map_set(be, &w, val.val, val.len, !val.tag, why);
			}
		}
	}
	q->key[0] = 0;
	return rc;
}

static int sto_pair_put(void *arg, const char *user, const uint8_t *v, size_t n)
{
	struct buf *out = arg, e;
	int rc;
	buf_init(&e);
	rc = tlv_put_str(&e, STO_T_USER, user) < 0 || tlv_put(&e, STO_T_VALUE, v, n) < 0 ||
	     tlv_put(out, STO_T_ENTRY, e.data, e.len) < 0 || out->len > STO_REPLY_MAX ? -1 : 0;
	buf_free(&e);
	return rc;
}

int sto_op_map_get_all(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		       size_t wl)
{
	STO_BE(env, q, w, why, wl);
	return be->ops->map_get_all(be, &w, sto_pair_put, out, why);
}

int sto_op_map_delete_all(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
			  size_t wl)
{
	uint32_t count = 0;
	STO_BE(env, q, w, why, wl);
	int rc = be->ops->map_delete_all(be, &w, &count, why);
	if (rc == STO_OK && tlv_put_u32(out, STO_T_COUNT, count) < 0)
		rc = STO_EIO;
	return rc;
}

/* Every key of one user's map, one by one through the backend (an account deleted). */
int sto_op_map_delete_user(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
			   size_t wl)
{
	struct sto_names keys = {0};
	uint32_t count = 0;
	STO_BE(env, q, w, why, wl);
	int rc = be->ops->map_keys(be, &w, &keys, why);
	for (size_t i = 0; rc == STO_OK && i < keys.n; i++) {
		w.key = keys.v[i];
		rc = be->ops->map_set(be, &w, NULL, 0, 1, why);
		count += rc == STO_OK;
	}
	sto_names_free(&keys);
	if (rc == STO_OK && tlv_put_u32(out, STO_T_COUNT, count) < 0)
		rc = STO_EIO;
	return rc;
}

int sto_op_arch_append(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		       size_t wl)
{
	const struct tlv *v = &q->f[STO_T_VALUE];
	char id[STO_ID_MAX + 1];
	STO_BE(env, q, w, why, wl);
	if (q->q.nids > 1) {
		snprintf(why, wl, "append takes at most one id");
		return STO_EINVAL;
	}
	if (q->q.nids == 1)
		snprintf(id, sizeof(id), "%s", q->ids[0]);
	else if (sto_arch_new_id(id, sizeof(id)) < 0)
		return STO_EIO;
	int rc = be->ops->arch_append(be, &w, id, q->when, q->with, v->val, v->len, why);
	if (rc == STO_OK && tlv_put_str(out, STO_T_ID, id) < 0)
		rc = STO_EIO;
	return rc;
}

int sto_op_arch_find(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		     size_t wl)
{
	STO_BE(env, q, w, why, wl);
	return sto_backend_find(be, &w, &q->q, STO_REPLY_MAX, out, why);
}

int sto_op_arch_get(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		    size_t wl)
{
	STO_BE(env, q, w, why, wl);
	if (q->q.nids != 1) {
		snprintf(why, wl, "get takes exactly one id");
		return STO_EINVAL;
	}
	return sto_arch_get(be, &w, q->ids[0], out, why);
}

int sto_op_arch_delete(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		       size_t wl)
{
	uint32_t count = 0;
	STO_BE(env, q, w, why, wl);
	int rc = sto_arch_delete(be, &w, &q->q, &count, why);
	if (rc == STO_OK && tlv_put_u32(out, STO_T_COUNT, count) < 0)
		rc = STO_EIO;
	return rc;
}

int sto_op_arch_summary(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
			size_t wl)
{
	STO_BE(env, q, w, why, wl);
	return sto_arch_summary(be, &w, &q->q, out, why);
}
