/* Unit tests for the envelope codec (ipc/xe.c): round trips and a table of malformed inputs,
 * each named, so a failure says which rule the decoder stopped enforcing. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "xlimits.h"
#include "xe.h"

static void encode_ok(struct buf *b, const struct xe_msg *m)
{
	buf_init(b);
	assert_int_equal(xe_encode(b, m), 0);
}

static struct xe_msg sample(void)
{
	static const char body[] = "<message type='chat'><body>hi</body></message>";
	struct xe_msg m = {
		.kind = XE_STANZA, .stype = XE_ST_MESSAGE, .flags = XE_F_FROM_SERVER,
		.sid = 0x0102030405060708ull, .reqid = 0xA1B2C3D4u, .hops = 3,
		.from = "alice@localhost/res", .from_len = 19, .to = "bob@localhost", .to_len = 13,
		.body = (const uint8_t *)body, .body_len = sizeof(body) - 1,
	};
	return m;
}

static void assert_same(const struct xe_msg *a, const struct xe_msg *b)
{
	assert_int_equal(b->version, XE_VERSION);
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->stype, b->stype);
	assert_int_equal(a->flags, b->flags);
	assert_true(a->sid == b->sid);
	assert_int_equal(a->reqid, b->reqid);
	assert_int_equal(a->hops, b->hops);
	assert_int_equal(a->from_len, b->from_len);
	assert_int_equal(a->to_len, b->to_len);
	assert_int_equal(a->body_len, b->body_len);
	assert_memory_equal(a->from, b->from, a->from_len);
	assert_memory_equal(a->to, b->to, a->to_len);
	if (a->body_len)
		assert_memory_equal(a->body, b->body, a->body_len);
}

static void test_roundtrip(void **state)
{
	(void)state;
	static uint8_t big[XE_MAX_BODY];
	static char jid[XE_MAX_JID];
	memset(big, 'x', sizeof(big));
	memset(jid, 'j', sizeof(jid));
	struct xe_msg base = sample();
	struct {
		const char *name;
		struct xe_msg m;
	} cases[] = {
		{"full message", base},
		{"empty jids and body", {.kind = XE_ROUTE_UNBIND, .sid = 7}},
		{"max kind and stype", {.kind = XE_KIND_MAX, .stype = XE_ST_MAX, .hops = XE_MAX_HOPS}},
		{"max jid lengths", {.kind = XE_STANZA, .from = jid, .from_len = XE_MAX_JID,
				     .to = jid, .to_len = XE_MAX_JID}},
		{"max body", {.kind = XE_STORE_REQ, .reqid = 0xFFFFFFFFu, .body = big,
			      .body_len = XE_MAX_BODY}},
		{"all ones ids", {.kind = XE_AUTH_REP, .flags = 0xFFFF, .sid = UINT64_MAX,
				  .reqid = UINT32_MAX}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		struct xe_msg out;
		encode_ok(&b, &cases[i].m);
		int rc = xe_decode(b.data, b.len, &out);
		if (rc != XE_OK)
			fail_msg("case '%s': decode returned %d (%s)", cases[i].name, rc,
				 xe_strerror(rc));
		assert_int_equal(b.len, XE_HDR_LEN + cases[i].m.from_len + cases[i].m.to_len +
						cases[i].m.body_len);
		assert_same(&cases[i].m, &out);
		/* re-encoding what was decoded gives the same bytes */
		struct buf again;
		encode_ok(&again, &out);
		assert_int_equal(again.len, b.len);
		assert_memory_equal(again.data, b.data, b.len);
		buf_free(&again);
		buf_free(&b);
	}
}

static void test_wire_layout(void **state)
{
	(void)state;
	struct xe_msg m = sample();
	struct buf b;
	encode_ok(&b, &m);
	static const uint8_t want[32] = {
		0xE5, 1, XE_STANZA, XE_ST_MESSAGE, 0x00, 0x01, 0x00, 32 + 19 + 13,
		1, 2, 3, 4, 5, 6, 7, 8, 0xA1, 0xB2, 0xC3, 0xD4, 3, 0, 0x00, 19,
		0x00, 13, 0, 0, 0, 0, 0, 46};
	assert_memory_equal(b.data, want, sizeof(want));
	assert_memory_equal(b.data + 32, "alice@localhost/res", 19);
	assert_memory_equal(b.data + 51, "bob@localhost", 13);
	buf_free(&b);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Each mutation is applied to a fresh copy of a valid encoding. */
struct bad_case {
	const char *name;
	void (*mutate)(uint8_t *p, size_t *len);
	int want;
};

static void m_magic(uint8_t *p, size_t *len) { (void)len; p[0] = 0xE4; }
static void m_version0(uint8_t *p, size_t *len) { (void)len; p[1] = 0; }
static void m_version2(uint8_t *p, size_t *len) { (void)len; p[1] = 2; }
static void m_kind0(uint8_t *p, size_t *len) { (void)len; p[2] = 0; }
static void m_kind_big(uint8_t *p, size_t *len) { (void)len; p[2] = XE_KIND_MAX + 1; }
static void m_kind_ff(uint8_t *p, size_t *len) { (void)len; p[2] = 0xFF; }
static void m_stype(uint8_t *p, size_t *len) { (void)len; p[3] = XE_ST_MAX + 1; }
static void m_hdr_small(uint8_t *p, size_t *len) { (void)len; put16(p + 6, 32 + 19 + 13 - 1); }
static void m_hdr_big(uint8_t *p, size_t *len) { (void)len; put16(p + 6, 32 + 19 + 13 + 1); }
static void m_hdr_zero(uint8_t *p, size_t *len) { (void)len; put16(p + 6, 0); }
static void m_hops(uint8_t *p, size_t *len) { (void)len; p[20] = XE_MAX_HOPS + 1; }
static void m_res21(uint8_t *p, size_t *len) { (void)len; p[21] = 1; }
static void m_res26(uint8_t *p, size_t *len) { (void)len; p[26] = 0x80; }
static void m_res27(uint8_t *p, size_t *len) { (void)len; p[27] = 1; }
static void m_from_big(uint8_t *p, size_t *len) { (void)len; put16(p + 22, XE_MAX_JID + 1); }
static void m_to_big(uint8_t *p, size_t *len) { (void)len; put16(p + 24, 0xFFFF); }
/* from_len one more, hdr_len kept consistent: the body is then one byte short */
static void m_from_plus(uint8_t *p, size_t *len)
{
	(void)len;
	put16(p + 22, 20);
	put16(p + 6, 32 + 20 + 13);
}
static void m_from_minus(uint8_t *p, size_t *len)
{
	(void)len;
	put16(p + 22, 18);
	put16(p + 6, 32 + 18 + 13);
}
static void m_to_plus(uint8_t *p, size_t *len)
{
	(void)len;
	put16(p + 24, 14);
	put16(p + 6, 32 + 19 + 14);
}
static void m_from_only(uint8_t *p, size_t *len) { (void)len; put16(p + 22, 20); }
static void m_body_plus(uint8_t *p, size_t *len) { (void)len; put32(p + 28, 47); }
static void m_body_minus(uint8_t *p, size_t *len) { (void)len; put32(p + 28, 45); }
static void m_body_huge(uint8_t *p, size_t *len) { (void)len; put32(p + 28, XE_MAX_BODY + 1); }
static void m_body_ffff(uint8_t *p, size_t *len) { (void)len; put32(p + 28, 0xFFFFFFFFu); }
static void m_trailing(uint8_t *p, size_t *len) { p[(*len)++] = 0; }
static void m_empty(uint8_t *p, size_t *len) { (void)p; *len = 0; }
static void m_header_only(uint8_t *p, size_t *len) { (void)p; *len = XE_HDR_LEN; }

static const struct bad_case bad_cases[] = {
	{"bad magic", m_magic, XE_EMAGIC},
	{"version 0", m_version0, XE_EVERSION},
	{"version 2", m_version2, XE_EVERSION},
	{"kind 0", m_kind0, XE_EKIND},
	{"kind max+1", m_kind_big, XE_EKIND},
	{"kind 255", m_kind_ff, XE_EKIND},
	{"stanza type max+1", m_stype, XE_ESTYPE},
	{"hdr_len one too small", m_hdr_small, XE_EHDRLEN},
	{"hdr_len one too big", m_hdr_big, XE_EHDRLEN},
	{"hdr_len zero", m_hdr_zero, XE_EHDRLEN},
	{"hops max+1", m_hops, XE_EHOPS},
	{"reserved byte 21", m_res21, XE_ERESERVED},
	{"reserved byte 26", m_res26, XE_ERESERVED},
	{"reserved byte 27", m_res27, XE_ERESERVED},
	{"from_len over limit", m_from_big, XE_EJIDLEN},
	{"to_len 65535", m_to_big, XE_EJIDLEN},
	{"from_len too big (hdr consistent)", m_from_plus, XE_ETRUNC},
	{"from_len too small (hdr consistent)", m_from_minus, XE_ETRAILING},
	{"to_len too big (hdr consistent)", m_to_plus, XE_ETRUNC},
	{"from_len changed without hdr_len", m_from_only, XE_EHDRLEN},
	{"body_len too big", m_body_plus, XE_ETRUNC},
	{"body_len too small", m_body_minus, XE_ETRAILING},
	{"body_len over limit", m_body_huge, XE_EBODYLEN},
	{"body_len 2^32-1", m_body_ffff, XE_EBODYLEN},
	{"trailing byte", m_trailing, XE_ETRAILING},
	{"empty input", m_empty, XE_ETRUNC},
	{"header only", m_header_only, XE_ETRUNC},
};

static void test_malformed(void **state)
{
	(void)state;
	struct xe_msg m = sample(), out;
	struct buf b;
	encode_ok(&b, &m);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		uint8_t copy[256];
		size_t len = b.len;
		assert_true(len + 1 <= sizeof(copy));
		memcpy(copy, b.data, b.len);
		bad_cases[i].mutate(copy, &len);
		int rc = xe_decode(copy, len, &out);
		if (rc != bad_cases[i].want)
			fail_msg("case '%s': got %d (%s), want %d (%s)", bad_cases[i].name, rc,
				 xe_strerror(rc), bad_cases[i].want, xe_strerror(bad_cases[i].want));
	}
	buf_free(&b);
}

static void test_truncated_everywhere(void **state)
{
	(void)state;
	struct xe_msg m = sample(), out;
	struct buf b;
	encode_ok(&b, &m);
	for (size_t cut = 0; cut < b.len; cut++) {
		int rc = xe_decode(b.data, cut, &out);
		if (rc != XE_ETRUNC)
			fail_msg("truncated at byte %zu of %zu: got %d (%s), want truncated", cut,
				 b.len, rc, xe_strerror(rc));
	}
	assert_int_equal(xe_decode(b.data, b.len, &out), XE_OK);
	buf_free(&b);
}

static void e_kind0(struct xe_msg *m) { m->kind = 0; }
static void e_kind_big(struct xe_msg *m) { m->kind = XE_KIND_MAX + 1; }
static void e_stype(struct xe_msg *m) { m->stype = XE_ST_MAX + 1; }
static void e_hops(struct xe_msg *m) { m->hops = XE_MAX_HOPS + 1; }
static void e_from_null(struct xe_msg *m) { m->from = NULL; }
static void e_body_null(struct xe_msg *m) { m->body = NULL; }
static void e_from_big(struct xe_msg *m) { m->from_len = XE_MAX_JID + 1; }
static void e_to_big(struct xe_msg *m) { m->to_len = XE_MAX_JID + 1; }
static void e_body_big(struct xe_msg *m) { m->body_len = XE_MAX_BODY + 1; }

static void test_encode_rejects(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		void (*mut)(struct xe_msg *m);
		int want_errno;
	} cases[] = {
		{"kind 0", e_kind0, EINVAL},
		{"kind max+1", e_kind_big, EINVAL},
		{"stanza type max+1", e_stype, EINVAL},
		{"hops max+1", e_hops, EINVAL},
		{"from NULL with length", e_from_null, EINVAL},
		{"body NULL with length", e_body_null, EINVAL},
		{"from over limit", e_from_big, EMSGSIZE},
		{"to over limit", e_to_big, EMSGSIZE},
		{"body over limit", e_body_big, EMSGSIZE},
	};
	struct xe_msg base = sample(), m;
	struct buf b;
	buf_init(&b);
	assert_int_equal(buf_put_str(&b, "keep"), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m = base;
		cases[i].mut(&m);
		errno = 0;
		int rc = xe_encode(&b, &m);
		if (rc != -1 || errno != cases[i].want_errno)
			fail_msg("case '%s': got rc %d errno %d, want -1 errno %d", cases[i].name,
				 rc, errno, cases[i].want_errno);
		/* a failed encode leaves what was in the buffer untouched */
		if (b.len != 4 || memcmp(b.data, "keep", 4) != 0)
			fail_msg("case '%s': buffer changed by a failed encode", cases[i].name);
	}
	/* appending after existing content works */
	assert_int_equal(xe_encode(&b, &base), 0);
	assert_int_equal(xe_decode(b.data + 4, b.len - 4, &m), XE_OK);
	assert_same(&base, &m);
	buf_free(&b);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(xe_kind_name(XE_STANZA), "stanza");
	assert_string_equal(xe_kind_name(XE_ERROR), "error");
	assert_string_equal(xe_kind_name(0), "unknown");
	assert_string_equal(xe_kind_name(XE_KIND_MAX + 1), "unknown");
	for (int k = 1; k <= XE_KIND_MAX; k++)
		assert_non_null(xe_kind_name(k));
	for (int e = XE_OK; e >= XE_ERESERVED; e--)
		assert_string_not_equal(xe_strerror(e), "unknown envelope error");
	assert_string_equal(xe_strerror(XE_ERESERVED - 1), "unknown envelope error");
	assert_string_equal(xe_strerror(5), "unknown envelope error");
	assert_string_equal(xe_strerror(XE_EMAGIC), "bad magic");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_wire_layout),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
