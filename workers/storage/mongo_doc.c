/* MongoDB documents of the three shapes (see mongo_doc.h): built with libbson, read back with
 * checked iterators; nothing from a document is trusted. */
#include "mongo_doc.h"

#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

static int mdoc_take(struct buf *out, bson_t *b)
{
	int rc = buf_put(out, bson_get_data(b), b->len);
	bson_destroy(b);
	return rc;
}

static void mdoc_where(bson_t *b, const struct sto_where *w, int with_key)
{
	BSON_APPEND_UTF8(b, "h", w->hostname);
	BSON_APPEND_UTF8(b, "s", w->store);
	BSON_APPEND_UTF8(b, "u", w->user);
	if (with_key)
		BSON_APPEND_UTF8(b, "k", w->key);
}

int sto_mdoc_id(struct buf *out, const struct sto_where *w, int with_key)
{
	bson_t b = BSON_INITIALIZER, id;
	BSON_APPEND_DOCUMENT_BEGIN(&b, "_id", &id);
	mdoc_where(&id, w, with_key);
	bson_append_document_end(&b, &id);
	return mdoc_take(out, &b);
}

int sto_mdoc_value_doc(struct buf *out, const struct sto_where *w, int with_key,
		       const uint8_t *v, size_t n)
{
	bson_t b = BSON_INITIALIZER, id;
	if (n > UINT32_MAX)
		return -1;
	BSON_APPEND_DOCUMENT_BEGIN(&b, "_id", &id);
	mdoc_where(&id, w, with_key);
	bson_append_document_end(&b, &id);
	BSON_APPEND_BINARY(&b, "v", BSON_SUBTYPE_BINARY, n ? v : (const uint8_t *)"", (uint32_t)n);
	return mdoc_take(out, &b);
}

static int mdoc_open(bson_t *b, const uint8_t *doc, size_t len)
{
	return bson_init_static(b, doc, len) && bson_validate(b, BSON_VALIDATE_NONE, NULL) ? 0 : -1;
}

int sto_mdoc_value(const uint8_t *doc, size_t len, struct buf *out)
{
	bson_t b;
	bson_iter_t it;
	bson_subtype_t st;
	const uint8_t *v;
	uint32_t n;

	if (mdoc_open(&b, doc, len) < 0 || !bson_iter_init_find(&it, &b, "v") ||
	    !BSON_ITER_HOLDS_BINARY(&it))
		return -1;
	bson_iter_binary(&it, &st, &n, &v);
	return buf_put(out, v, n);
}

char *sto_mdoc_str(const uint8_t *doc, size_t len, int in_id, const char *field)
{
	bson_t b;
	bson_iter_t it, sub;
	uint32_t n;
	const char *s;

	if (mdoc_open(&b, doc, len) < 0 || !bson_iter_init(&it, &b))
		return NULL;
	if (in_id) {
		if (!bson_iter_find(&it, "_id") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
		    !bson_iter_recurse(&it, &sub))
			return NULL;
		it = sub;
	}
	if (!bson_iter_find(&it, field) || !BSON_ITER_HOLDS_UTF8(&it))
		return NULL;
	s = bson_iter_utf8(&it, &n);
	if (memchr(s, 0, n))
		return NULL;
	return strndup(s, n);
}

int sto_mdoc_item(struct buf *out, const struct sto_where *w, int64_t seq, const char *id,
		  uint64_t when, const char *with, const uint8_t *v, size_t n)
{
	bson_t b = BSON_INITIALIZER;
	if (n > UINT32_MAX || when > INT64_MAX)
		return -1;
	mdoc_where(&b, w, 0);
	BSON_APPEND_INT64(&b, "seq", seq);
	BSON_APPEND_UTF8(&b, "id", id);
	BSON_APPEND_INT64(&b, "at", (int64_t)when);
	BSON_APPEND_UTF8(&b, "with", with);
	BSON_APPEND_BINARY(&b, "v", BSON_SUBTYPE_BINARY, n ? v : (const uint8_t *)"", (uint32_t)n);
	return mdoc_take(out, &b);
}

static int mdoc_int64(const bson_t *b, const char *field, uint64_t *out)
{
	bson_iter_t it;
	if (!bson_iter_init_find(&it, b, field) || !BSON_ITER_HOLDS_INT64(&it) ||
	    bson_iter_int64(&it) < 0)
		return -1;
	*out = (uint64_t)bson_iter_int64(&it);
	return 0;
}

int sto_mdoc_item_meta(const uint8_t *doc, size_t len, uint64_t *seq, uint64_t *when, char **id,
		       char **with)
{
	bson_t b;
	*id = *with = NULL;
	if (mdoc_open(&b, doc, len) < 0 || mdoc_int64(&b, "seq", seq) < 0 ||
	    mdoc_int64(&b, "at", when) < 0 || !(*id = sto_mdoc_str(doc, len, 0, "id")) ||
	    !(*with = sto_mdoc_str(doc, len, 0, "with"))) {
		free(*id);
		*id = NULL;
		return -1;
	}
	return 0;
}

int sto_mdoc_json(const uint8_t *doc, size_t len, struct buf *out)
{
	bson_t b;
	size_t n;
	char *j;
	int rc;

	if (mdoc_open(&b, doc, len) < 0 || !(j = bson_as_canonical_extended_json(&b, &n)))
		return -1;
	rc = buf_put(out, j, n + 1);
	bson_free(j);
	return rc;
}
