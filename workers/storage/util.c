/* Small helpers shared by the storage backends: name lists, archive metadata lists, reasons,
 * a non-cryptographic checksum for torn-write detection (never for security). */
#include "backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sto_names_push(struct sto_names *n, const char *s)
{
	if (n->n == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 16;
		char **v = realloc(n->v, cap * sizeof(*v));
		if (!v)
			return -1;
		n->v = v;
		n->cap = cap;
	}
	if (!(n->v[n->n] = strdup(s)))
		return -1;
	n->n++;
	return 0;
}

static int sto_names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void sto_names_sort(struct sto_names *n)
{
	if (n->n > 1)
		qsort(n->v, n->n, sizeof(*n->v), sto_names_cmp);
}

int sto_meta_add(struct sto_meta_list *l, uint64_t ref, uint64_t when, const char *id,
		 const char *with)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct sto_meta *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	struct sto_meta *m = &l->v[l->n];
	m->ref = ref;
	m->when = when;
	m->id = strdup(id);
	m->with = strdup(with);
	if (!m->id || !m->with) {
		free(m->id);
		free(m->with);
		return -1;
	}
	l->n++;
	return 0;
}

void sto_meta_free(struct sto_meta_list *l)
{
	for (size_t i = 0; !l->borrowed && i < l->n; i++) {
		free(l->v[i].id);
		free(l->v[i].with);
	}
	if (!l->borrowed)
		free(l->v);
	memset(l, 0, sizeof(*l));
}

void sto_whyf(char *why, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, STO_WHY_LEN, fmt, ap);
	va_end(ap);
}

uint64_t sto_fnv64(const void *p, size_t n, uint64_t h)
{
	const uint8_t *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ull;
	}
	return h;
}
