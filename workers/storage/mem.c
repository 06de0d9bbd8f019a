/* The memory backend: everything in one hash table of this process, gone on exit. For
 * tests and ephemeral stores; each storage worker has its own, so use one worker with it. */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sto.h"

#define MEM_BUCKETS 4096u

struct mem_item {
	uint64_t when;
	char *id, *with;
	uint8_t *v;
	size_t n;
	int live;
};

/* One keyval value, one map key, or one user's archive. */
struct mem_ent {
	struct mem_ent *next;
	int shape;
	size_t host;
	char *store, *user, *key;	/* key is "" except for maps */
	uint8_t *v;
	size_t n;
	struct mem_item *items;
	size_t nitems, cap;
};

struct mem_backend {
	struct sto_backend base;
	struct mem_ent *bucket[MEM_BUCKETS];
};

static size_t mem_hash(int shape, const struct sto_where *w, const char *key)
{
	uint64_t h = sto_fnv64(&shape, sizeof(shape), STO_FNV_SEED);
	h = sto_fnv64(&w->host, sizeof(w->host), h);
	h = sto_fnv64(w->store, strlen(w->store) + 1, h);
	h = sto_fnv64(w->user, strlen(w->user) + 1, h);
	return (size_t)(sto_fnv64(key, strlen(key), h) % MEM_BUCKETS);
}

static struct mem_ent **mem_slot(struct mem_backend *m, int shape, const struct sto_where *w,
				 const char *key)
{
	struct mem_ent **p = &m->bucket[mem_hash(shape, w, key)];
	for (; *p; p = &(*p)->next)
		if ((*p)->shape == shape && (*p)->host == w->host &&
		    strcmp((*p)->store, w->store) == 0 && strcmp((*p)->user, w->user) == 0 &&
		    strcmp((*p)->key, key) == 0)
			break;
	return p;
}

static void mem_ent_free(struct mem_ent *e)
{
	for (size_t i = 0; i < e->nitems; i++) {
		free(e->items[i].id);
		free(e->items[i].with);
		free(e->items[i].v);
	}
	free(e->items);
	free(e->store);
	free(e->user);
	free(e->key);
	free(e->v);
	free(e);
}

static struct mem_ent *mem_ent_new(int shape, const struct sto_where *w, const char *key)
{
	struct mem_ent *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->shape = shape;
	e->host = w->host;
	e->store = strdup(w->store);
	e->user = strdup(w->user);
	e->key = strdup(key);
	if (!e->store || !e->user || !e->key) {
		mem_ent_free(e);
		return NULL;
	}
	return e;
}

static int mem_get(struct sto_backend *b, int shape, const struct sto_where *w, const char *key,
		   struct buf *out, char *why)
{
	struct mem_ent *e = *mem_slot((struct mem_backend *)b, shape, w, key);
	if (!e) {
		sto_whyf(why, "not found");
		return STO_ENOTFOUND;
	}
	if (buf_put(out, e->v, e->n) < 0) {
		sto_whyf(why, "out of memory");
		return STO_EIO;
	}
	return STO_OK;
}

static int mem_set(struct sto_backend *b, int shape, const struct sto_where *w, const char *key,
		   const uint8_t *v, size_t n, int del, char *why)
{
	struct mem_ent **p = mem_slot((struct mem_backend *)b, shape, w, key), *e = *p;
	uint8_t *copy = NULL;

	if (del) {
		if (e) {
			*p = e->next;
			mem_ent_free(e);
		}
		return STO_OK;
	}
	if ((n && !(copy = malloc(n))) || (!e && !(e = mem_ent_new(shape, w, key)))) {
		free(copy);
		sto_whyf(why, "out of memory");
		return STO_EIO;
	}
	if (n)
		memcpy(copy, v, n);
	free(e->v);
	e->v = copy;
	e->n = n;
	if (!*p)
		*p = e;
	return STO_OK;
}

static int mem_kv_get(struct sto_backend *b, const struct sto_where *w, struct buf *out,
		      char *why)
{
	return mem_get(b, STO_SHAPE_KV, w, "", out, why);
}

static int mem_kv_set(struct sto_backend *b, const struct sto_where *w, const uint8_t *v,
		      size_t n, int del, char *why)
{
	return mem_set(b, STO_SHAPE_KV, w, "", v, n, del, why);
}

static int mem_kv_add(struct sto_backend *b, const struct sto_where *w, const uint8_t *v,
		      size_t n, char *why)
{
	if (*mem_slot((struct mem_backend *)b, STO_SHAPE_KV, w, "")) {
		sto_whyf(why, "exists");
		return STO_EEXISTS;
	}
	return mem_set(b, STO_SHAPE_KV, w, "", v, n, 0, why);
}

static int mem_map_get(struct sto_backend *b, const struct sto_where *w, struct buf *out,
		       char *why)
{
	return mem_get(b, STO_SHAPE_MAP, w, w->key, out, why);
}

static int mem_map_set(struct sto_backend *b, const struct sto_where *w, const uint8_t *v,
		       size_t n, int del, char *why)
{
	return mem_set(b, STO_SHAPE_MAP, w, w->key, v, n, del, why);
}

/* Calls fn for every entry of shape in (host, store); key/user filter when not NULL. */
static int mem_walk(struct mem_backend *m, int shape, const struct sto_where *w, const char *user,
		    const char *key, int (*fn)(void *arg, struct mem_ent *e), void *arg)
{
	for (size_t i = 0; i < MEM_BUCKETS; i++)
		for (struct mem_ent *e = m->bucket[i]; e; e = e->next)
			if (e->shape == shape && e->host == w->host &&
			    strcmp(e->store, w->store) == 0 && (!key || strcmp(e->key, key) == 0) &&
			    (!user || strcmp(e->user, user) == 0) && fn(arg, e) < 0)
				return -1;
	return 0;
}

static int mem_push_user(void *arg, struct mem_ent *e)
{
	struct sto_names *names = arg;
	if (e->shape == STO_SHAPE_KV && !e->user[0])
		return 0;
	if (e->shape == STO_SHAPE_ARCH && !e->nitems)
		return 0;
	for (size_t i = 0; i < names->n; i++)
		if (strcmp(names->v[i], e->user) == 0)
			return 0;
	return sto_names_push(names, e->user);
}

static int mem_kv_users(struct sto_backend *b, const struct sto_where *w, struct sto_names *out,
			char *why)
{
	if (mem_walk((struct mem_backend *)b, STO_SHAPE_KV, w, NULL, NULL, mem_push_user, out) < 0) {
		sto_whyf(why, "out of memory");
		return STO_EIO;
	}
	sto_names_sort(out);
	return STO_OK;
}

static int mem_shape_users(struct sto_backend *b, const struct sto_where *w, int shape,
			   struct sto_names *out, char *why)
{
	if (mem_walk((struct mem_backend *)b, shape, w, NULL, NULL, mem_push_user, out) < 0) {
		sto_whyf(why, "out of memory");
		return STO_EIO;
	}
	sto_names_sort(out);
	return STO_OK;
}

static int mem_push_key(void *arg, struct mem_ent *e)
{
	return sto_names_push(arg, e->key);
}

static int mem_map_keys(struct sto_backend *b, const struct sto_where *w, struct sto_names *out,
			char *why)
{
	if (mem_walk((struct mem_backend *)b, STO_SHAPE_MAP, w, w->user, NULL, mem_push_key, out) <
	    0) {
		sto_whyf(why, "out of memory");
		return STO_EIO;
	}
	sto_names_sort(out);
	return STO_OK;
}

struct mem_pairs {
	const struct mem_ent **v;
	size_t n, cap;
};

static int mem_push_pair(void *arg, struct mem_ent *e)
{
	struct mem_pairs *p = arg;
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 16;
		const struct mem_ent **v = realloc(p->v, cap * sizeof(*v));
		if (!v)
			return -1;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = e;
	return 0;
}

static int mem_pair_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct mem_ent *const *)a)->user,
		      (*(const struct mem_ent *const *)b)->user);
}

static int mem_map_get_all(struct sto_backend *b, const struct sto_where *w, sto_pair_fn fn,
			   void *arg, char *why)
{
	struct mem_pairs p = {0};
	int rc = STO_OK;

	if (mem_walk((struct mem_backend *)b, STO_SHAPE_MAP, w, NULL, w->key, mem_push_pair, &p) <
	    0) {
		sto_whyf(why, "out of memory");
		rc = STO_EIO;
	}
	if (p.n > 1)
		qsort(p.v, p.n, sizeof(*p.v), mem_pair_cmp);
	for (size_t i = 0; rc == STO_OK && i < p.n; i++)
		if (fn(arg, p.v[i]->user, p.v[i]->v, p.v[i]->n) < 0) {
			sto_whyf(why, "the values do not fit in one reply");
			rc = STO_EIO;
		}
	free(p.v);
	return rc;
}

static int mem_map_delete_all(struct sto_backend *b, const struct sto_where *w, uint32_t *count,
			      char *why)
{
	struct mem_backend *m = (struct mem_backend *)b;
	(void)why;
	*count = 0;
	for (size_t i = 0; i < MEM_BUCKETS; i++)
		for (struct mem_ent **p = &m->bucket[i]; *p;) {
			struct mem_ent *e = *p;
			if (e->shape == STO_SHAPE_MAP && e->host == w->host &&
			    strcmp(e->store, w->store) == 0 && strcmp(e->key, w->key) == 0) {
				*p = e->next;
				mem_ent_free(e);
				(*count)++;
			} else {
				p = &e->next;
			}
		}
	return STO_OK;
}

static int mem_arch_append(struct sto_backend *b, const struct sto_where *w, const char *id,
			   uint64_t when, const char *with, const uint8_t *v, size_t n, char *why)
{
	struct mem_ent **p = mem_slot((struct mem_backend *)b, STO_SHAPE_ARCH, w, ""), *e = *p;
	struct mem_item it = {when, NULL, NULL, NULL, n, 1};

	for (size_t i = 0; e && i < e->nitems; i++)
		if (e->items[i].live && strcmp(e->items[i].id, id) == 0) {
			sto_whyf(why, "an archive item with this id exists");
			return STO_EEXISTS;
		}
	if (!e && !(e = *p = mem_ent_new(STO_SHAPE_ARCH, w, "")))
		goto oom;
	if (e->nitems == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 16;
		struct mem_item *items = realloc(e->items, cap * sizeof(*items));
		if (!items)
			goto oom;
		e->items = items;
		e->cap = cap;
	}
	it.id = strdup(id);
	it.with = strdup(with);
	it.v = malloc(n ? n : 1);
	if (!it.id || !it.with || !it.v) {
		free(it.id);
		free(it.with);
		free(it.v);
		goto oom;
	}
	if (n)
		memcpy(it.v, v, n);
	e->items[e->nitems++] = it;
	return STO_OK;
oom:
	sto_whyf(why, "out of memory");
	return STO_EIO;
}

static int mem_arch_meta(struct sto_backend *b, const struct sto_where *w,
			 struct sto_meta_list *out, char *why)
{
	struct mem_ent *e = *mem_slot((struct mem_backend *)b, STO_SHAPE_ARCH, w, "");
	for (size_t i = 0; e && i < e->nitems; i++)
		if (e->items[i].live &&
		    sto_meta_add(out, i, e->items[i].when, e->items[i].id, e->items[i].with) < 0) {
			sto_whyf(why, "out of memory");
			return STO_EIO;
		}
	return STO_OK;
}

static int mem_arch_value(struct sto_backend *b, const struct sto_where *w, uint64_t ref,
			  struct buf *out, char *why)
{
	struct mem_ent *e = *mem_slot((struct mem_backend *)b, STO_SHAPE_ARCH, w, "");
	if (!e || ref >= e->nitems || !e->items[ref].live) {
		sto_whyf(why, "archive item vanished");
		return STO_ENOTFOUND;
	}
	if (buf_put(out, e->items[ref].v, e->items[ref].n) < 0) {
		sto_whyf(why, "out of memory");
		return STO_EIO;
	}
	return STO_OK;
}

static int mem_arch_remove(struct sto_backend *b, const struct sto_where *w, const uint64_t *refs,
			   size_t n, char *why)
{
	struct mem_ent *e = *mem_slot((struct mem_backend *)b, STO_SHAPE_ARCH, w, "");
	(void)why;
	for (size_t i = 0; e && i < n; i++)
		if (refs[i] < e->nitems && e->items[refs[i]].live) {
			struct mem_item *it = &e->items[refs[i]];
			it->live = 0;
			free(it->v);
			it->v = NULL;
		}
	return STO_OK;
}

static int mem_push_store(void *arg, struct mem_ent *e)
{
	struct sto_names *names = arg;
	for (size_t i = 0; i < names->n; i++)
		if (strcmp(names->v[i], e->store) == 0)
			return 0;
	return sto_names_push(names, e->store);
}

static int mem_stores(struct sto_backend *b, size_t host, int shape, struct sto_names *out,
		      char *why)
{
	struct mem_backend *m = (struct mem_backend *)b;
	for (size_t i = 0; i < MEM_BUCKETS; i++)
		for (struct mem_ent *e = m->bucket[i]; e; e = e->next)
			if (e->shape == shape && e->host == host && mem_push_store(out, e) < 0) {
				sto_whyf(why, "out of memory");
				return STO_EIO;
			}
	sto_names_sort(out);
	return STO_OK;
}

static void mem_close(struct sto_backend *b)
{
	struct mem_backend *m = (struct mem_backend *)b;
	for (size_t i = 0; i < MEM_BUCKETS; i++)
		while (m->bucket[i]) {
			struct mem_ent *e = m->bucket[i];
			m->bucket[i] = e->next;
			mem_ent_free(e);
		}
	free(m);
}

static const struct sto_backend_ops mem_ops = {
	.name = "memory",
	.close = mem_close,
	.kv_get = mem_kv_get,
	.kv_set = mem_kv_set,
	.kv_add = mem_kv_add,
	.kv_users = mem_kv_users,
	.map_get = mem_map_get,
	.map_set = mem_map_set,
	.map_get_all = mem_map_get_all,
	.map_delete_all = mem_map_delete_all,
	.arch_append = mem_arch_append,
	.arch_meta = mem_arch_meta,
	.arch_value = mem_arch_value,
	.arch_remove = mem_arch_remove,
	.stores = mem_stores,
	.shape_users = mem_shape_users,
	.map_keys = mem_map_keys,
};

struct sto_backend *sto_mem_open(size_t nhosts, char *err, size_t errlen)
{
	struct mem_backend *m = calloc(1, sizeof(*m));
	(void)nhosts;
	if (!m) {
		if (errlen)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->base.ops = &mem_ops;
	return &m->base;
}
