/* Growable byte buffers for writing and bounded readers for untrusted bytes.
 * Readers never read past their length; every getter checks before it copies. */
#ifndef XMPPD_BUF_H
#define XMPPD_BUF_H
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len, cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);		/* frees storage, leaves b empty */
void buf_wipe_free(struct buf *b);	/* explicit_bzero, then free: for secrets */
void buf_reset(struct buf *b);		/* len = 0, keeps storage */
int buf_reserve(struct buf *b, size_t extra);
int buf_put(struct buf *b, const void *p, size_t n);
int buf_put_str(struct buf *b, const char *s);	/* without the NUL */
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16(struct buf *b, uint16_t v);	/* big-endian */
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_u64(struct buf *b, uint64_t v);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_consume(struct buf *b, size_t n);	/* drop n bytes from the front */
/* Appends s with every byte rep maps to a string written as that string (NULL: the byte as is). */
int buf_put_replaced(struct buf *b, const char *s, size_t n, const char *(*rep)(char c));
/* Appends s with &, <, >, ", ' escaped for XML character data and attributes. */
int buf_put_xml_escaped(struct buf *b, const char *s, size_t n);

/* A reader over borrowed bytes. */
struct rbuf {
	const uint8_t *p;
	size_t len, off;
};

void rbuf_init(struct rbuf *r, const void *p, size_t len);
size_t rbuf_left(const struct rbuf *r);
int rbuf_get_u8(struct rbuf *r, uint8_t *v);
int rbuf_get_u16(struct rbuf *r, uint16_t *v);
int rbuf_get_u32(struct rbuf *r, uint32_t *v);
int rbuf_get_u64(struct rbuf *r, uint64_t *v);
int rbuf_get_bytes(struct rbuf *r, size_t n, const uint8_t **out);	/* borrowed */
/* 0 when everything was read, -1 when bytes are left over. */
int rbuf_done(const struct rbuf *r);

#endif
