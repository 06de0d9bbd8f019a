/* Tag-length-value records: u16 tag, u32 length, value. Used for config slices,
 * control frames and non-stanza envelope bodies. Readers check every length. */
#ifndef XMPPD_TLV_H
#define XMPPD_TLV_H
#include "buf.h"
#include "xlimits.h"

int tlv_put(struct buf *b, uint16_t tag, const void *v, size_t len);
int tlv_put_str(struct buf *b, uint16_t tag, const char *s);
int tlv_put_u32(struct buf *b, uint16_t tag, uint32_t v);
int tlv_put_u64(struct buf *b, uint16_t tag, uint64_t v);

struct tlv {
	uint16_t tag;
	uint32_t len;
	const uint8_t *val;	/* borrowed from the reader's bytes */
};

/* 1 = a record was read, 0 = clean end, -1 = malformed (errno EBADMSG). */
int tlv_next(struct rbuf *r, struct tlv *t);
/* Copies the value as a NUL-terminated string; -1 if it holds a NUL or is too long. */
int tlv_str(const struct tlv *t, char *out, size_t cap);
char *tlv_strdup(const struct tlv *t);	/* malloc'd; NULL on embedded NUL */
int tlv_u32(const struct tlv *t, uint32_t *v);
int tlv_u64(const struct tlv *t, uint64_t *v);
/* Finds the first record with tag in bytes; 1 found, 0 not, -1 malformed. */
int tlv_find(const void *p, size_t len, uint16_t tag, struct tlv *t);

#endif
