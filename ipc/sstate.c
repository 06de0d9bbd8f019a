/* Session state records (ipc/sstate.h): one RT_STATE record per key, the key first. Every read
 * is bounded by the record lengths; a malformed record rejects the whole update. */
#include "sstate.h"

#include <errno.h>
#include <string.h>

#include "route.h"
#include "tlv.h"

/* One record's key and value; 0, or -1 when it is not {KEY [VALUE]} with a valid key. */
static int sst_split(const struct tlv *rec, const uint8_t **key, size_t *klen, const uint8_t **val,
		     size_t *vlen, int *has_val)
{
	struct rbuf r;
	struct tlv t;
	int rc;

	*key = NULL;
	*has_val = 0;
	rbuf_init(&r, rec->val, rec->len);
	while ((rc = tlv_next(&r, &t)) == 1) {
		if (t.tag == RT_STATE_KEY && !*key && t.len >= 1 && t.len <= RT_STATE_KEY_MAX &&
		    !memchr(t.val, 0, t.len)) {
			*key = t.val;
			*klen = t.len;
		} else if (t.tag == RT_STATE_VALUE && *key && !*has_val) {
			*val = t.val;
			*vlen = t.len;
			*has_val = 1;
		} else {
			return -1;
		}
	}
	return rc == 0 && *key ? 0 : -1;
}

static int sst_put_record(struct buf *out, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct buf rec;
	buf_init(&rec);
	int rc = tlv_put(&rec, RT_STATE_KEY, key, klen);
	if (rc == 0 && val)
		rc = tlv_put(&rec, RT_STATE_VALUE, val, vlen);
	if (rc == 0)
		rc = tlv_put(out, RT_STATE, rec.data ? rec.data : (const uint8_t *)"", rec.len);
	buf_free(&rec);
	return rc;
}

int sst_put_update(struct buf *out, const char *key, const void *val, size_t vlen)
{
	size_t klen = key ? strlen(key) : 0;
	if (klen < 1 || klen > RT_STATE_KEY_MAX) {
		errno = EINVAL;
		return -1;
	}
	return sst_put_record(out, key, klen, val, val ? vlen : 0);
}

/* Rebuilds st into out without key, then with key = val when given. */
static int sst_rebuild(struct buf *out, const uint8_t *st, size_t len, const uint8_t *key, size_t klen,
		       const void *val, size_t vlen, int has_val)
{
	struct rbuf r;
	struct tlv t;
	const uint8_t *k, *v = NULL;
	size_t kl, vl = 0;
	int hv, rc;

	rbuf_init(&r, st, len);
	while ((rc = tlv_next(&r, &t)) == 1) {
		if (t.tag != RT_STATE || sst_split(&t, &k, &kl, &v, &vl, &hv) < 0)
			return -1;
		if (kl == klen && memcmp(k, key, klen) == 0)
			continue;
		if (tlv_put(out, RT_STATE, t.val, t.len) < 0)
			return -1;
	}
	if (rc < 0)
		return -1;
	if (has_val && sst_put_record(out, key, klen, val, vlen) < 0)
		return -1;
	if (out->len > RT_STATE_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

static int sst_set_n(struct buf *st, const uint8_t *key, size_t klen, const void *val, size_t vlen, int has_val)
{
	struct buf out;
	buf_init(&out);
	if (sst_rebuild(&out, st->data, st->len, key, klen, val, vlen, has_val) < 0) {
		buf_free(&out);
		return -1;
	}
	buf_free(st);
	*st = out;
	return 0;
}

int sst_set(struct buf *st, const char *key, const void *val, size_t vlen)
{
	size_t klen = key ? strlen(key) : 0;
	if (klen < 1 || klen > RT_STATE_KEY_MAX) {
		errno = EINVAL;
		return -1;
	}
	return sst_set_n(st, (const uint8_t *)key, klen, val ? val : "", val ? vlen : 0, val != NULL);
}

int sst_get(const uint8_t *st, size_t len, const char *key, const uint8_t **val, size_t *vlen)
{
	struct rbuf r;
	struct tlv t;
	const uint8_t *k;
	size_t kl, klen = strlen(key);
	int hv;

	rbuf_init(&r, st, len);
	while (tlv_next(&r, &t) == 1) {
		if (t.tag != RT_STATE || sst_split(&t, &k, &kl, val, vlen, &hv) < 0)
			return 0;
		if (kl == klen && memcmp(k, key, klen) == 0)
			return hv;
	}
	return 0;
}

int sst_apply(struct buf *st, const uint8_t *upd, size_t len)
{
	struct buf work;
	struct rbuf r;
	struct tlv t;
	const uint8_t *k, *v = NULL;
	size_t kl, vl = 0;
	int hv, rc;

	buf_init(&work);
	if (st->len && buf_put(&work, st->data, st->len) < 0)
		return -1;
	rbuf_init(&r, upd, len);
	while ((rc = tlv_next(&r, &t)) == 1) {
		if (t.tag != RT_STATE || sst_split(&t, &k, &kl, &v, &vl, &hv) < 0 ||
		    sst_set_n(&work, k, kl, v, vl, hv) < 0) {
			rc = -1;
			break;
		}
	}
	if (rc < 0) {
		buf_free(&work);
		errno = EBADMSG;
		return -1;
	}
	buf_free(st);
	*st = work;
	return 0;
}
