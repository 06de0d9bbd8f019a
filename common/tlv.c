/* TLV records over struct buf / struct rbuf. Values are bounded by TLV_MAX_VALUE. */
#include "tlv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int tlv_put(struct buf *b, uint16_t tag, const void *v, size_t len)
{
	if (len > TLV_MAX_VALUE) {
		errno = EMSGSIZE;
		return -1;
	}
	if (buf_put_u16(b, tag) < 0 || buf_put_u32(b, (uint32_t)len) < 0)
		return -1;
	return buf_put(b, v, len);
}

int tlv_put_str(struct buf *b, uint16_t tag, const char *s) { return tlv_put(b, tag, s, strlen(s)); }

int tlv_put_u32(struct buf *b, uint16_t tag, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	return tlv_put(b, tag, x, 4);
}

int tlv_put_u64(struct buf *b, uint16_t tag, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (56 - 8 * i));
	return tlv_put(b, tag, x, 8);
}

int tlv_next(struct rbuf *r, struct tlv *t)
{
	if (rbuf_left(r) == 0)
		return 0;
	if (rbuf_get_u16(r, &t->tag) < 0 || rbuf_get_u32(r, &t->len) < 0)
		return -1;
	if (t->len > TLV_MAX_VALUE) {
		errno = EBADMSG;
		return -1;
	}
	if (rbuf_get_bytes(r, t->len, &t->val) < 0)
		return -1;
	return 1;
}

int tlv_str(const struct tlv *t, char *out, size_t cap)
{
	if (t->len >= cap || memchr(t->val, 0, t->len)) {
		errno = EBADMSG;
		return -1;
	}
	memcpy(out, t->val, t->len);
	out[t->len] = 0;
	return 0;
}

char *tlv_strdup(const struct tlv *t)
{
	if (memchr(t->val, 0, t->len)) {
		errno = EBADMSG;
		return NULL;
	}
	char *s = malloc((size_t)t->len + 1);
	if (!s)
		return NULL;
	memcpy(s, t->val, t->len);
	s[t->len] = 0;
	return s;
}

int tlv_u32(const struct tlv *t, uint32_t *v)
{
	struct rbuf r;
	rbuf_init(&r, t->val, t->len);
	if (rbuf_get_u32(&r, v) < 0)
		return -1;
	return rbuf_done(&r);
}

int tlv_u64(const struct tlv *t, uint64_t *v)
{
	struct rbuf r;
	rbuf_init(&r, t->val, t->len);
	if (rbuf_get_u64(&r, v) < 0)
		return -1;
	return rbuf_done(&r);
}

int tlv_find(const void *p, size_t len, uint16_t tag, struct tlv *t)
{
	struct rbuf r;
	int rc;
	rbuf_init(&r, p, len);
	while ((rc = tlv_next(&r, t)) == 1)
		if (t->tag == tag)
			return 1;
	return rc;
}
