/* WebSocket framing (RFC 6455) over untrusted bytes: the client frame header decoder, message
 * reassembly with the fragmentation rules, UTF-8 and close-payload checks, the handshake key.
 * No I/O and no globals here: http_conn.c and ws_conn.c drive it. */
#include <openssl/evp.h>
#include <string.h>

#include "http.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static int ws_opcode_known(uint8_t op)
{
	return op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
}

int ws_frame_parse(const uint8_t *p, size_t n, uint64_t max_payload, struct ws_frame *f)
{
	memset(f, 0, sizeof(*f));
	if (n < 2)
		return 0;
	f->fin = (p[0] >> 7) & 1;
	f->rsv = (p[0] >> 4) & 7;
	f->opcode = p[0] & 0x0f;
	f->masked = (p[1] >> 7) & 1;
	uint64_t len = p[1] & 0x7f;
	if (f->rsv || !ws_opcode_known(f->opcode) || !f->masked)
		return -WS_CLOSE_PROTOCOL;	/* no extension negotiated; clients must mask (§5.1) */
	if (f->opcode >= WS_OP_CLOSE && (!f->fin || len > WS_CONTROL_MAX))
		return -WS_CLOSE_PROTOCOL;	/* §5.5 */
	size_t h = 2;
	if (len == 126) {
		if (n < 4)
			return 0;
		len = (uint64_t)p[2] << 8 | p[3];
		if (len < 126)
			return -WS_CLOSE_PROTOCOL;	/* §5.2: the minimal encoding must be used */
		h = 4;
	} else if (len == 127) {
		if (n < 10)
			return 0;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | p[2 + i];
		if (len >> 63 || len <= 0xffff)
			return -WS_CLOSE_PROTOCOL;
		h = 10;
	}
	if (n < h + 4)
		return 0;
	memcpy(f->mask, p + h, 4);
	f->len = len;
	f->hdr_len = h + 4;
	if (len > max_payload)
		return -WS_CLOSE_TOO_BIG;
	return (int)f->hdr_len;
}

void ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		p[i] ^= mask[(off + i) & 3];
}

int ws_frame_put(struct buf *out, uint8_t opcode, const void *p, size_t n)
{
	uint8_t h[10];
	size_t hl = 2;
	h[0] = (uint8_t)(0x80 | (opcode & 0x0f));
	if (n < 126) {
		h[1] = (uint8_t)n;
	} else if (n <= 0xffff) {
		h[1] = 126;
		h[2] = (uint8_t)(n >> 8);
		h[3] = (uint8_t)n;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	if (buf_put(out, h, hl) < 0)
		return -1;
	return n ? buf_put(out, p, n) : 0;
}

/* Length of the UTF-8 sequence starting at p[0..n), or 0 when it is malformed (Unicode Table 3-7). */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	if (c < 0x80)
		return 1;
	size_t len;
	uint8_t lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

int ws_utf8_valid(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);
		if (!k)
			return -1;
		i += k;
	}
	return 0;
}

/* §7.4: codes an endpoint may send; 1004-1006 and 1015 are never on the wire, 1016-2999 are
 * reserved for the protocol, 3000-4999 belong to applications. */
static int close_code_valid(uint16_t code)
{
	if (code >= 3000 && code <= 4999)
		return 1;
	return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

int ws_close_payload(const uint8_t *p, size_t n, uint16_t *code)
{
	*code = 1005;
	if (n == 0)
		return 0;
	if (n == 1)
		return -WS_CLOSE_PROTOCOL;
	*code = (uint16_t)(p[0] << 8 | p[1]);
	if (!close_code_valid(*code))
		return -WS_CLOSE_PROTOCOL;
	return ws_utf8_valid(p + 2, n - 2) < 0 ? -WS_CLOSE_INVALID_DATA : 0;
}

int ws_msg_feed(struct ws_msg *m, const struct ws_frame *f, const uint8_t *payload, uint8_t *op)
{
	if (f->opcode == WS_OP_CONT) {
		if (!m->opcode)
			return -WS_CLOSE_PROTOCOL;	/* a continuation of nothing */
	} else {
		if (m->opcode)
			return -WS_CLOSE_PROTOCOL;	/* a new message inside a fragmented one */
		m->opcode = f->opcode;
		m->data.len = 0;
	}
	if (f->len > m->max || m->data.len > m->max - f->len)
		return -WS_CLOSE_TOO_BIG;
	if (buf_put(&m->data, payload, (size_t)f->len) < 0)
		return -WS_CLOSE_INTERNAL;
	if (!f->fin)
		return 0;
	*op = m->opcode;
	m->opcode = 0;
	if (*op == WS_OP_TEXT && ws_utf8_valid(m->data.data, m->data.len) < 0)
		return -WS_CLOSE_INVALID_DATA;
	return 1;
}

void ws_msg_reset(struct ws_msg *m)
{
	buf_free(&m->data);
	m->opcode = 0;
}

int ws_accept_key(const char *key, size_t n, char out[29])
{
	uint8_t raw[18], digest[EVP_MAX_MD_SIZE];
	char cat[24 + sizeof(WS_GUID)];
	unsigned int dlen = 0;
	/* §4.1: base64 of 16 bytes, i.e. 24 characters ending in "==" */
	if (n != 24 || key[22] != '=' || key[23] != '=' ||
	    EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
		return -1;
	for (size_t i = 0; i < 22; i++)
		if (key[i] == '=')
			return -1;
	memcpy(cat, key, 24);
	memcpy(cat + 24, WS_GUID, sizeof(WS_GUID) - 1);
	if (EVP_Digest(cat, 24 + sizeof(WS_GUID) - 1, digest, &dlen, EVP_sha1(), NULL) != 1 || dlen != 20)
		return -1;
	return EVP_EncodeBlock((unsigned char *)out, digest, 20) == 28 ? 0 : -1;
}
