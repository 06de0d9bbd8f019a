/* Unit tests for growable buffers, bounded readers (common/buf.c) and TLV records
 * (common/tlv.c): table-driven, each case named so a failure says which rule broke. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "tlv.h"
#include "xlimits.h"

static void test_put_integers(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	assert_int_equal(buf_put_u8(&b, 0xAB), 0);
	assert_int_equal(buf_put_u16(&b, 0x1234), 0);
	assert_int_equal(buf_put_u32(&b, 0xDEADBEEFu), 0);
	assert_int_equal(buf_put_u64(&b, 0x0102030405060708ull), 0);
	static const uint8_t want[] = {0xAB, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF,
				       1,    2,    3,    4,    5,    6,    7, 8};
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));

	struct rbuf r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	rbuf_init(&r, b.data, b.len);
	assert_int_equal(rbuf_get_u8(&r, &u8), 0);
	assert_int_equal(rbuf_get_u16(&r, &u16), 0);
	assert_int_equal(rbuf_get_u32(&r, &u32), 0);
	assert_int_equal(rbuf_get_u64(&r, &u64), 0);
	assert_int_equal(u8, 0xAB);
	assert_int_equal(u16, 0x1234);
	assert_int_equal(u32, 0xDEADBEEFu);
	assert_true(u64 == 0x0102030405060708ull);
	assert_int_equal(rbuf_left(&r), 0);
	assert_int_equal(rbuf_done(&r), 0);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

/* Every getter refuses to read past the end and leaves the reader where it was. */
static void test_reader_bounds(void **state)
{
	(void)state;
	static const uint8_t bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	static const struct {
		const char *name;
		size_t avail;	/* bytes the reader may see */
		int getter;	/* 1 u8, 2 u16, 4 u32, 8 u64 */
		int want;
	} cases[] = {
		{"u8 from empty", 0, 1, -1},   {"u8 from one", 1, 1, 0},
		{"u16 from one", 1, 2, -1},    {"u16 from two", 2, 2, 0},
		{"u32 from three", 3, 4, -1},  {"u32 from four", 4, 4, 0},
		{"u64 from seven", 7, 8, -1},  {"u64 from eight", 8, 8, 0},
		{"u64 from empty", 0, 8, -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rbuf r;
		uint8_t u8;
		uint16_t u16;
		uint32_t u32;
		uint64_t u64;
		int rc = -2;
		rbuf_init(&r, bytes, cases[i].avail);
		errno = 0;
		switch (cases[i].getter) {
		case 1: rc = rbuf_get_u8(&r, &u8); break;
		case 2: rc = rbuf_get_u16(&r, &u16); break;
		case 4: rc = rbuf_get_u32(&r, &u32); break;
		default: rc = rbuf_get_u64(&r, &u64); break;
		}
		if (rc != cases[i].want)
			fail_msg("case '%s': got %d, want %d", cases[i].name, rc, cases[i].want);
		if (rc < 0 && (errno != EBADMSG || r.off != 0))
			fail_msg("case '%s': errno %d off %zu after a refused read", cases[i].name,
				 errno, r.off);
		if (rc == 0 && r.off != (size_t)cases[i].getter)
			fail_msg("case '%s': offset %zu after the read", cases[i].name, r.off);
	}
	struct rbuf r;
	const uint8_t *p;
	rbuf_init(&r, bytes, 8);
	assert_int_equal(rbuf_get_bytes(&r, 0, &p), 0);
	assert_int_equal(rbuf_get_bytes(&r, 3, &p), 0);
	assert_ptr_equal(p, bytes);
	assert_int_equal(rbuf_done(&r), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(rbuf_get_bytes(&r, 6, &p), -1);	/* only five left */
	assert_int_equal(rbuf_get_bytes(&r, SIZE_MAX, &p), -1);
	assert_int_equal(rbuf_left(&r), 5);
	assert_int_equal(rbuf_get_bytes(&r, 5, &p), 0);
	assert_ptr_equal(p, bytes + 3);
	assert_int_equal(rbuf_done(&r), 0);
}

static void test_grow_consume_reset(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	/* grows across many reallocations and keeps every byte */
	for (unsigned i = 0; i < 100000; i++)
		assert_int_equal(buf_put_u8(&b, (uint8_t)(i * 7)), 0);
	assert_int_equal(b.len, 100000);
	assert_true(b.cap >= b.len);
	for (unsigned i = 0; i < 100000; i++)
		if (b.data[i] != (uint8_t)(i * 7))
			fail_msg("byte %u lost while growing", i);
	buf_consume(&b, 99990);
	assert_int_equal(b.len, 10);
	assert_int_equal(b.data[0], (uint8_t)(99990u * 7));
	buf_consume(&b, 11);		/* more than there is */
	assert_int_equal(b.len, 0);
	size_t cap = b.cap;
	assert_int_equal(buf_put_str(&b, "abc"), 0);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, cap);	/* storage kept */
	assert_int_equal(buf_put(&b, NULL, 0), 0);
	assert_int_equal(b.len, 0);
	/* an absurd reservation fails cleanly */
	errno = 0;
	assert_int_equal(buf_reserve(&b, SIZE_MAX - 1), -1);
	assert_int_equal(errno, EOVERFLOW);
	assert_int_equal(b.len, 0);
	buf_wipe_free(&b);
	assert_null(b.data);
	buf_wipe_free(&b);	/* twice is harmless */
}

static void test_printf(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	assert_int_equal(buf_put_str(&b, "x="), 0);
	assert_int_equal(buf_printf(&b, "%d %s", 42, "y"), 0);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "x=42 y", 6);
	char big[5000];
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(buf_printf(&b, "[%s]", big), 0);
	assert_int_equal(b.len, 6 + 2 + 4999);
	assert_int_equal(b.data[6], '[');
	assert_int_equal(b.data[b.len - 1], ']');
	buf_free(&b);
}

static void test_xml_escape(void **state)
{
	(void)state;
	static const struct {
		const char *name, *in, *want;
	} cases[] = {
		{"empty", "", ""},
		{"plain", "hello", "hello"},
		{"all five", "<a href=\"x\" b='y'>&</a>",
		 "&lt;a href=&quot;x&quot; b=&apos;y&apos;&gt;&amp;&lt;/a&gt;"},
		{"at both ends", "&x<", "&amp;x&lt;"},
		{"only specials", "&&", "&amp;&amp;"},
		{"utf-8 untouched", "h\xc3\xa9llo", "h\xc3\xa9llo"},
		{"entity stays escaped", "&amp;", "&amp;amp;"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		buf_init(&b);
		assert_int_equal(buf_put_xml_escaped(&b, cases[i].in, strlen(cases[i].in)), 0);
		if (b.len != strlen(cases[i].want) ||
		    (b.len && memcmp(b.data, cases[i].want, b.len) != 0))
			fail_msg("case '%s': got '%.*s', want '%s'", cases[i].name, (int)b.len,
				 b.len ? (const char *)b.data : "", cases[i].want);
		buf_free(&b);
	}
	/* the length is honoured: bytes after n are not read */
	struct buf b;
	buf_init(&b);
	assert_int_equal(buf_put_xml_escaped(&b, "a<b", 1), 0);
	assert_int_equal(b.len, 1);
	buf_free(&b);
}

static void test_tlv_roundtrip(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	assert_int_equal(tlv_put_str(&b, 1, "localhost"), 0);
	assert_int_equal(tlv_put_u32(&b, 2, 0xCAFEBABEu), 0);
	assert_int_equal(tlv_put_u64(&b, 3, 0x1122334455667788ull), 0);
	assert_int_equal(tlv_put(&b, 4, NULL, 0), 0);
	assert_int_equal(tlv_put(&b, 0xFFFF, "\0\1\2", 3), 0);
	static const uint8_t head[] = {0, 1, 0, 0, 0, 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't'};
	assert_memory_equal(b.data, head, sizeof(head));

	struct rbuf r;
	struct tlv t;
	char s[16];
	uint32_t u32;
	uint64_t u64;
	rbuf_init(&r, b.data, b.len);
	assert_int_equal(tlv_next(&r, &t), 1);
	assert_int_equal(t.tag, 1);
	assert_int_equal(tlv_str(&t, s, sizeof(s)), 0);
	assert_string_equal(s, "localhost");
	char *dup = tlv_strdup(&t);
	assert_string_equal(dup, "localhost");
	free(dup);
	assert_int_equal(tlv_next(&r, &t), 1);
	assert_int_equal(tlv_u32(&t, &u32), 0);
	assert_int_equal(u32, 0xCAFEBABEu);
	assert_int_equal(tlv_u64(&t, &u64), -1);	/* a u32 is not a u64 */
	assert_int_equal(tlv_next(&r, &t), 1);
	assert_int_equal(tlv_u64(&t, &u64), 0);
	assert_true(u64 == 0x1122334455667788ull);
	assert_int_equal(tlv_u32(&t, &u32), -1);	/* nor the other way round */
	assert_int_equal(tlv_next(&r, &t), 1);
	assert_int_equal(t.tag, 4);
	assert_int_equal(t.len, 0);
	assert_int_equal(tlv_str(&t, s, sizeof(s)), 0);
	assert_string_equal(s, "");
	assert_int_equal(tlv_next(&r, &t), 1);
	assert_int_equal(t.tag, 0xFFFF);
	assert_int_equal(t.len, 3);
	/* embedded NUL: not a string */
	assert_int_equal(tlv_str(&t, s, sizeof(s)), -1);
	assert_null(tlv_strdup(&t));
	assert_int_equal(tlv_next(&r, &t), 0);	/* clean end */

	assert_int_equal(tlv_find(b.data, b.len, 3, &t), 1);
	assert_int_equal(t.len, 8);
	assert_int_equal(tlv_find(b.data, b.len, 9, &t), 0);
	buf_free(&b);
}

static void test_tlv_limits(void **state)
{
	(void)state;
	struct buf b;
	struct tlv t;
	char s[4];
	buf_init(&b);
	/* a string exactly filling the buffer (no room for the NUL) is refused */
	assert_int_equal(tlv_put_str(&b, 1, "abcd"), 0);
	assert_int_equal(tlv_put_str(&b, 1, "abc"), 0);
	struct rbuf r;
	rbuf_init(&r, b.data, b.len);
	assert_int_equal(tlv_next(&r, &t), 1);
	assert_int_equal(tlv_str(&t, s, sizeof(s)), -1);
	assert_int_equal(tlv_next(&r, &t), 1);
	assert_int_equal(tlv_str(&t, s, sizeof(s)), 0);
	assert_string_equal(s, "abc");
	buf_reset(&b);
	/* values over TLV_MAX_VALUE are refused by the writer and leave the buffer alone */
	uint8_t *huge = calloc(1, TLV_MAX_VALUE + 1);
	assert_non_null(huge);
	errno = 0;
	assert_int_equal(tlv_put(&b, 1, huge, TLV_MAX_VALUE + 1), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(b.len, 0);
	assert_int_equal(tlv_put(&b, 1, huge, TLV_MAX_VALUE), 0);
	rbuf_init(&r, b.data, b.len);
	assert_int_equal(tlv_next(&r, &t), 1);
	assert_int_equal(t.len, TLV_MAX_VALUE);
	free(huge);
	buf_free(&b);
}

/* Malformed TLV streams: each must be reported as malformed, never read past the end. */
static void test_tlv_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		uint8_t bytes[16];
		size_t len;
		int records;	/* well-formed records before the error */
	} cases[] = {
		{"one byte", {0}, 1, 0},
		{"tag only", {0, 1}, 2, 0},
		{"length cut", {0, 1, 0, 0, 0}, 5, 0},
		{"value short by one", {0, 1, 0, 0, 0, 3, 'a', 'b'}, 8, 0},
		{"length 2^32-1", {0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 'a'}, 7, 0},
		{"length over TLV_MAX_VALUE", {0, 1, 0, 0x40, 0, 1}, 6, 0},
		{"good then cut", {0, 1, 0, 0, 0, 1, 'a', 0, 2, 0}, 10, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rbuf r;
		struct tlv t;
		int rc, n = 0;
		/* an exact-size heap copy so a read past the end is caught by ASan */
		uint8_t *p = malloc(cases[i].len);
		assert_non_null(p);
		memcpy(p, cases[i].bytes, cases[i].len);
		rbuf_init(&r, p, cases[i].len);
		errno = 0;
		while ((rc = tlv_next(&r, &t)) == 1)
			n++;
		if (rc != -1 || errno != EBADMSG || n != cases[i].records)
			fail_msg("case '%s': rc %d errno %d after %d records, want -1 EBADMSG "
				 "after %d",
				 cases[i].name, rc, errno, n, cases[i].records);
		assert_int_equal(tlv_find(p, cases[i].len, 0x7777, &t), -1);
		free(p);
	}
	/* tlv_u32 / tlv_u64 need exactly their size */
	static const struct {
		const char *name;
		uint32_t len;
		int u32_ok, u64_ok;
	} sizes[] = {
		{"0 bytes", 0, 0, 0}, {"3 bytes", 3, 0, 0}, {"4 bytes", 4, 1, 0},
		{"5 bytes", 5, 0, 0}, {"8 bytes", 8, 0, 1}, {"9 bytes", 9, 0, 0},
	};
	static const uint8_t val[9] = {0};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct tlv t = {.tag = 1, .len = sizes[i].len, .val = val};
		uint32_t u32;
		uint64_t u64;
		if ((tlv_u32(&t, &u32) == 0) != sizes[i].u32_ok ||
		    (tlv_u64(&t, &u64) == 0) != sizes[i].u64_ok)
			fail_msg("case '%s': wrong integer acceptance", sizes[i].name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_integers),
		cmocka_unit_test(test_reader_bounds),
		cmocka_unit_test(test_grow_consume_reset),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_xml_escape),
		cmocka_unit_test(test_tlv_roundtrip),
		cmocka_unit_test(test_tlv_limits),
		cmocka_unit_test(test_tlv_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
