/* Growable buffers and bounded readers. No reader may touch bytes past r->len. */
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b) { memset(b, 0, sizeof(*b)); }

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void buf_wipe_free(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

void buf_reset(struct buf *b) { b->len = 0; }

int buf_reserve(struct buf *b, size_t extra)
{
	if (extra > SIZE_MAX / 2 - b->len) {
		errno = EOVERFLOW;
		return -1;
	}
	if (b->len + extra <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf_put(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int buf_put_str(struct buf *b, const char *s) { return buf_put(b, s, strlen(s)); }
int buf_put_u8(struct buf *b, uint8_t v) { return buf_put(b, &v, 1); }

int buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	return buf_put(b, x, 2);
}

int buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	return buf_put(b, x, 4);
}

int buf_put_u64(struct buf *b, uint64_t v)
{
	if (buf_put_u32(b, (uint32_t)(v >> 32)) < 0)
		return -1;
	return buf_put_u32(b, (uint32_t)v);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n + 1) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

int buf_put_replaced(struct buf *b, const char *s, size_t n, const char *(*rep)(char c))
{
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		const char *r = rep(s[i]);
		if (!r)
			continue;
		if (buf_put(b, s + start, i - start) < 0 || buf_put_str(b, r) < 0)
			return -1;
		start = i + 1;
	}
	return buf_put(b, s + start, n - start);
}

static const char *xml_rep(char c)
{
	switch (c) {
	case '&': return "&amp;";
	case '<': return "&lt;";
	case '>': return "&gt;";
	case '"': return "&quot;";
	case '\'': return "&apos;";
	default: return NULL;
	}
}

int buf_put_xml_escaped(struct buf *b, const char *s, size_t n)
{
	return buf_put_replaced(b, s, n, xml_rep);
}

void rbuf_init(struct rbuf *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

size_t rbuf_left(const struct rbuf *r) { return r->len - r->off; }

int rbuf_get_bytes(struct rbuf *r, size_t n, const uint8_t **out)
{
	if (n > rbuf_left(r)) {
		errno = EBADMSG;
		return -1;
	}
	*out = r->p + r->off;
	r->off += n;
	return 0;
}

int rbuf_get_u8(struct rbuf *r, uint8_t *v)
{
	const uint8_t *p;
	if (rbuf_get_bytes(r, 1, &p) < 0)
		return -1;
	*v = p[0];
	return 0;
}

int rbuf_get_u16(struct rbuf *r, uint16_t *v)
{
	const uint8_t *p;
	if (rbuf_get_bytes(r, 2, &p) < 0)
		return -1;
	*v = (uint16_t)(p[0] << 8 | p[1]);
	return 0;
}

int rbuf_get_u32(struct rbuf *r, uint32_t *v)
{
	const uint8_t *p;
	if (rbuf_get_bytes(r, 4, &p) < 0)
		return -1;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return 0;
}

int rbuf_get_u64(struct rbuf *r, uint64_t *v)
{
	/* checked as a whole, so a refused read leaves the reader where it was */
	if (rbuf_left(r) < 8) {
		errno = EBADMSG;
		return -1;
	}
	uint32_t hi, lo;
	rbuf_get_u32(r, &hi);
	rbuf_get_u32(r, &lo);
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

int rbuf_done(const struct rbuf *r)
{
	if (rbuf_left(r) != 0) {
		errno = EBADMSG;
		return -1;
	}
	return 0;
}
