/* Envelope v1 encoder and decoder (ARCHITECTURE §2). The decoder reads field by field
 * from a bounded reader and must never accept bytes that the encoder would not produce. */
#include "xe.h"

#include <errno.h>
#include <string.h>

#include "xlimits.h"

int xe_encode(struct buf *out, const struct xe_msg *m)
{
	if (m->kind < 1 || m->kind > XE_KIND_MAX || m->stype > XE_ST_MAX || m->hops > XE_MAX_HOPS ||
	    (m->from_len && !m->from) || (m->to_len && !m->to) || (m->body_len && !m->body)) {
		errno = EINVAL;
		return -1;
	}
	if (m->from_len > XE_MAX_JID || m->to_len > XE_MAX_JID || m->body_len > XE_MAX_BODY) {
		errno = EMSGSIZE;
		return -1;
	}
	size_t start = out->len;
	uint16_t hdr_len = (uint16_t)(XE_HDR_LEN + m->from_len + m->to_len);
	if (buf_reserve(out, (size_t)hdr_len + m->body_len) < 0)
		return -1;
	int rc = 0;
	rc |= buf_put_u8(out, XE_MAGIC);
	rc |= buf_put_u8(out, XE_VERSION);
	rc |= buf_put_u8(out, m->kind);
	rc |= buf_put_u8(out, m->stype);
	rc |= buf_put_u16(out, m->flags);
	rc |= buf_put_u16(out, hdr_len);
	rc |= buf_put_u64(out, m->sid);
	rc |= buf_put_u32(out, m->reqid);
	rc |= buf_put_u8(out, m->hops);
	rc |= buf_put_u8(out, 0);
	rc |= buf_put_u16(out, m->from_len);
	rc |= buf_put_u16(out, m->to_len);
	rc |= buf_put_u16(out, 0);
	rc |= buf_put_u32(out, m->body_len);
	rc |= buf_put(out, m->from, m->from_len);
	rc |= buf_put(out, m->to, m->to_len);
	rc |= buf_put(out, m->body, m->body_len);
	if (rc != 0) {
		out->len = start;
		return -1;
	}
	return 0;
}

/* The fixed header; every field is checked before the variable part is touched. */
static int xe_decode_header(struct rbuf *r, struct xe_msg *m, uint16_t *hdr_len)
{
	uint8_t magic, res8;
	uint16_t res16;
	if (rbuf_get_u8(r, &magic) < 0)
		return XE_ETRUNC;
	if (magic != XE_MAGIC)
		return XE_EMAGIC;
	if (rbuf_get_u8(r, &m->version) < 0)
		return XE_ETRUNC;
	if (m->version != XE_VERSION)
		return XE_EVERSION;
	if (rbuf_get_u8(r, &m->kind) < 0)
		return XE_ETRUNC;
	if (m->kind < 1 || m->kind > XE_KIND_MAX)
		return XE_EKIND;
	if (rbuf_get_u8(r, &m->stype) < 0)
		return XE_ETRUNC;
	if (m->stype > XE_ST_MAX)
		return XE_ESTYPE;
	if (rbuf_get_u16(r, &m->flags) < 0 || rbuf_get_u16(r, hdr_len) < 0 ||
	    rbuf_get_u64(r, &m->sid) < 0 || rbuf_get_u32(r, &m->reqid) < 0 ||
	    rbuf_get_u8(r, &m->hops) < 0 || rbuf_get_u8(r, &res8) < 0 ||
	    rbuf_get_u16(r, &m->from_len) < 0 || rbuf_get_u16(r, &m->to_len) < 0 ||
	    rbuf_get_u16(r, &res16) < 0 || rbuf_get_u32(r, &m->body_len) < 0)
		return XE_ETRUNC;
	if (m->hops > XE_MAX_HOPS)
		return XE_EHOPS;
	if (res8 != 0 || res16 != 0)
		return XE_ERESERVED;
	if (m->from_len > XE_MAX_JID || m->to_len > XE_MAX_JID)
		return XE_EJIDLEN;
	if (*hdr_len != XE_HDR_LEN + (uint32_t)m->from_len + m->to_len)
		return XE_EHDRLEN;
	if (m->body_len > XE_MAX_BODY)
		return XE_EBODYLEN;
	return XE_OK;
}

int xe_decode(const uint8_t *p, size_t len, struct xe_msg *m)
{
	struct rbuf r;
	uint16_t hdr_len;
	const uint8_t *from, *to, *body;
	memset(m, 0, sizeof(*m));
	rbuf_init(&r, p, len);
	int rc = xe_decode_header(&r, m, &hdr_len);
	if (rc != XE_OK)
		return rc;
	if (rbuf_get_bytes(&r, m->from_len, &from) < 0 || rbuf_get_bytes(&r, m->to_len, &to) < 0 ||
	    rbuf_get_bytes(&r, m->body_len, &body) < 0)
		return XE_ETRUNC;
	if (rbuf_done(&r) < 0)
		return XE_ETRAILING;
	m->from = (const char *)from;
	m->to = (const char *)to;
	m->body = body;
	return XE_OK;
}

static const char *const xe_errors[] = {
	[0] = "ok",
	[1] = "truncated envelope",
	[2] = "bad magic",
	[3] = "unsupported version",
	[4] = "unknown kind",
	[5] = "unknown stanza type",
	[6] = "header length mismatch",
	[7] = "JID too long",
	[8] = "body too long",
	[9] = "trailing bytes",
	[10] = "too many hops",
	[11] = "reserved field not zero",
};

const char *xe_strerror(int err)
{
	if (err > 0 || (size_t)-err >= sizeof(xe_errors) / sizeof(xe_errors[0]))
		return "unknown envelope error";
	return xe_errors[-err];
}

static const char *const xe_kinds[] = {
	[XE_STANZA] = "stanza",		[XE_ROUTE_BIND] = "route-bind",
	[XE_ROUTE_UNBIND] = "route-unbind", [XE_ROUTE_SYNC] = "route-sync",
	[XE_AUTH_REQ] = "auth-req",	[XE_AUTH_REP] = "auth-rep",
	[XE_STORE_REQ] = "store-req",	[XE_STORE_REP] = "store-rep",
	[XE_CTL] = "ctl",		[XE_ERROR] = "error",
	[XE_HOST_CAPS] = "host-caps",
};

const char *xe_kind_name(int kind)
{
	if (kind < 1 || kind > XE_KIND_MAX)
		return "unknown";
	return xe_kinds[kind];
}
