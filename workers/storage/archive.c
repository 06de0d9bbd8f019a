/* Archive queries (find, get, delete, summary) evaluated over a backend's item index, so
 * every simple backend answers the same query the same way; payloads are read only for the
 * items returned. */
#include "backend.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "sto.h"
#include "tlv.h"

int sto_arch_new_id(char *out, size_t cap)
{
	uint8_t rnd[12];
	if (cap < 2 * sizeof(rnd) + 1 || RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	for (size_t i = 0; i < sizeof(rnd); i++) {
		out[2 * i] = "0123456789abcdef"[rnd[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[rnd[i] & 15];
	}
	out[2 * sizeof(rnd)] = 0;
	return 0;
}

static long sto_meta_find(const struct sto_meta_list *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].id, id) == 0)
			return (long)i;
	return -1;
}

static int sto_meta_match(const struct sto_meta *m, const struct sto_query *q)
{
	if ((q->have & STO_Q_START) && m->when < q->start)
		return 0;
	if ((q->have & STO_Q_END) && m->when > q->end)
		return 0;
	if ((q->have & STO_Q_WITH) && strcmp(m->with, q->with) != 0)
		return 0;
	if (q->have & STO_Q_IDS) {
		size_t i;
		for (i = 0; i < q->nids && strcmp(q->ids[i], m->id) != 0; i++)
			;
		if (i == q->nids)
			return 0;
	}
	return 1;
}

/* The index range [lo, hi) that BEFORE/AFTER leave; STO_ENOTFOUND for an unknown id. */
static int sto_query_range(const struct sto_meta_list *l, const struct sto_query *q, size_t *lo,
			   size_t *hi, char *why)
{
	long p;
	*lo = 0;
	*hi = l->n;
	if (q->have & STO_Q_AFTER) {
		if ((p = sto_meta_find(l, q->after)) < 0)
			goto missing;
		*lo = (size_t)p + 1;
	}
	if (q->have & STO_Q_BEFORE) {
		if ((p = sto_meta_find(l, q->before)) < 0)
			goto missing;
		*hi = (size_t)p;
	}
	if (*hi < *lo)
		*hi = *lo;
	return STO_OK;
missing:
	sto_whyf(why, "no archive item with the id given in before/after");
	return STO_ENOTFOUND;
}

int sto_put_item_raw(struct buf *out, const char *id, uint64_t when, const char *with,
		     const uint8_t *v, size_t n)
{
	struct buf item;
	int rc;

	buf_init(&item);
	rc = tlv_put_str(&item, STO_T_ID, id) < 0 || tlv_put_u64(&item, STO_T_WHEN, when) < 0 ||
	     tlv_put_str(&item, STO_T_WITH, with) < 0 || tlv_put(&item, STO_T_VALUE, v, n) < 0 ||
	     tlv_put(out, STO_T_ITEM, item.data, item.len) < 0 ? -1 : 0;
	buf_free(&item);
	return rc;
}

static int sto_put_item(struct sto_backend *b, const struct sto_where *w, const struct sto_meta *m,
			struct buf *out, char *why)
{
	struct buf val;
	int rc;

	buf_init(&val);
	rc = b->ops->arch_value(b, w, m->ref, &val, why);
	if (rc == STO_OK && sto_put_item_raw(out, m->id, m->when, m->with, val.data, val.len) < 0) {
		sto_whyf(why, "out of memory");
		rc = STO_EIO;
	}
	buf_free(&val);
	return rc;
}

int sto_backend_find(struct sto_backend *b, const struct sto_where *w, const struct sto_query *q,
		     size_t reply_max, struct buf *out, char *why)
{
	if (b->ops->arch_find)
		return b->ops->arch_find(b, w, q, reply_max, out, why);
	return sto_arch_find(b, w, q, reply_max, out, why);
}

int sto_arch_find(struct sto_backend *b, const struct sto_where *w, const struct sto_query *q,
		  size_t reply_max, struct buf *out, char *why)
{
	struct sto_meta_list l = {0};
	size_t lo = 0, hi = 0, total = 0, sent = 0, matched_after = 0;
	int rc = b->ops->arch_meta(b, w, &l, why), full = 0;

	if (rc == STO_OK)
		rc = sto_query_range(&l, q, &lo, &hi, why);
	for (size_t k = 0; rc == STO_OK && k < hi - lo; k++) {
		const struct sto_meta *m = &l.v[q->reverse ? hi - 1 - k : lo + k];
		if (!sto_meta_match(m, q))
			continue;
		total++;
		if (full || ((q->have & STO_Q_LIMIT) && sent >= q->limit)) {
			matched_after++;
			continue;
		}
		size_t before = out->len;
		rc = sto_put_item(b, w, m, out, why);
		if (rc == STO_OK && out->len > reply_max) {
			out->len = before;	/* this one does not fit: the page ends before it */
			full = 1;
			matched_after++;
		} else if (rc == STO_OK) {
			sent++;
		}
	}
	if (rc == STO_OK && (tlv_put_u32(out, STO_T_COMPLETE, matched_after == 0) < 0 ||
			     (q->total && tlv_put_u32(out, STO_T_TOTAL, (uint32_t)total) < 0))) {
		sto_whyf(why, "out of memory");
		rc = STO_EIO;
	}
	sto_meta_free(&l);
	return rc;
}

int sto_arch_get(struct sto_backend *b, const struct sto_where *w, const char *id,
		 struct buf *out, char *why)
{
	struct sto_meta_list l = {0};
	int rc = b->ops->arch_meta(b, w, &l, why);
	long p = rc == STO_OK ? sto_meta_find(&l, id) : -1;

	if (rc == STO_OK && p < 0) {
		sto_whyf(why, "no archive item with this id");
		rc = STO_ENOTFOUND;
	}
	if (rc == STO_OK)
		rc = sto_put_item(b, w, &l.v[p], out, why);
	sto_meta_free(&l);
	return rc;
}

int sto_arch_delete(struct sto_backend *b, const struct sto_where *w, const struct sto_query *q,
		    uint32_t *count, char *why)
{
	struct sto_meta_list l = {0};
	uint64_t *refs = NULL;
	size_t lo = 0, hi = 0, n = 0;
	int rc = b->ops->arch_meta(b, w, &l, why);

	*count = 0;
	if (rc == STO_OK)
		rc = sto_query_range(&l, q, &lo, &hi, why);
	if (rc == STO_OK && l.n && !(refs = calloc(l.n, sizeof(*refs)))) {
		sto_whyf(why, "out of memory");
		rc = STO_EIO;
	}
	for (size_t i = lo; rc == STO_OK && i < hi; i++)
		if (sto_meta_match(&l.v[i], q))
			refs[n++] = l.v[i].ref;
	if (rc == STO_OK && n)
		rc = b->ops->arch_remove(b, w, refs, n, why);
	if (rc == STO_OK)
		*count = (uint32_t)n;
	free(refs);
	sto_meta_free(&l);
	return rc;
}

static int sto_meta_cmp_with(const void *a, const void *b)
{
	const struct sto_meta *x = *(const struct sto_meta *const *)a;
	const struct sto_meta *y = *(const struct sto_meta *const *)b;
	int c = strcmp(x->with, y->with);
	return c ? c : (x->ref > y->ref) - (x->ref < y->ref);
}

static int sto_put_summary(struct buf *out, const char *with, uint32_t count, uint64_t first,
			   uint64_t last)
{
	struct buf e;
	int rc;
	buf_init(&e);
	rc = tlv_put_str(&e, STO_T_WITH, with) < 0 || tlv_put_u32(&e, STO_T_COUNT, count) < 0 ||
	     tlv_put_u64(&e, STO_T_START, first) < 0 || tlv_put_u64(&e, STO_T_END, last) < 0 ||
	     tlv_put(out, STO_T_ENTRY, e.data, e.len) < 0 ? -1 : 0;
	buf_free(&e);
	return rc;
}

int sto_arch_summary(struct sto_backend *b, const struct sto_where *w,
		     const struct sto_query *q, struct buf *out, char *why)
{
	struct sto_meta_list l = {0};
	const struct sto_meta **v = NULL;
	size_t n = 0;
	int rc = b->ops->arch_meta(b, w, &l, why);

	if (rc == STO_OK && l.n && !(v = calloc(l.n, sizeof(*v)))) {
		sto_whyf(why, "out of memory");
		rc = STO_EIO;
	}
	for (size_t i = 0; rc == STO_OK && i < l.n; i++)
		if (sto_meta_match(&l.v[i], q))
			v[n++] = &l.v[i];
	if (n > 1)
		qsort(v, n, sizeof(*v), sto_meta_cmp_with);
	for (size_t i = 0; rc == STO_OK && i < n;) {
		size_t j = i;
		uint64_t first = v[i]->when, last = v[i]->when;
		for (; j < n && strcmp(v[j]->with, v[i]->with) == 0; j++) {
			first = v[j]->when < first ? v[j]->when : first;
			last = v[j]->when > last ? v[j]->when : last;
		}
		if (sto_put_summary(out, v[i]->with, (uint32_t)(j - i), first, last) < 0) {
			sto_whyf(why, "out of memory");
			rc = STO_EIO;
		}
		i = j;
	}
	free(v);
	sto_meta_free(&l);
	return rc;
}
