/* Unit tests for the WebSocket codec (workers/http/ws.c): frame headers, masking, message
 * reassembly, UTF-8, close payloads and the handshake key, as tables of named cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "workers/http/http.h"

#define MAXP 1000u

static const struct frame_case {
	const char *name;
	uint8_t in[16];
	size_t n;
	int want;		/* header length, 0 need more, -code */
	uint8_t opcode;
	int fin;
	uint64_t len;
} frames[] = {
	{"masked text", {0x81, 0x85, 1, 2, 3, 4}, 6, 6, WS_OP_TEXT, 1, 5},
	{"masked continuation, not final", {0x00, 0x80, 1, 2, 3, 4}, 6, 6, WS_OP_CONT, 0, 0},
	{"16-bit length", {0x81, 0xfe, 0x01, 0x00, 1, 2, 3, 4}, 8, 8, WS_OP_TEXT, 1, 256},
	{"64-bit length", {0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4}, 14, -WS_CLOSE_TOO_BIG, 2, 1, 65536},
	{"ping with payload", {0x89, 0x81, 1, 2, 3, 4}, 6, 6, WS_OP_PING, 1, 1},
	{"one byte", {0x81}, 1, 0, 0, 0, 0},
	{"mask incomplete", {0x81, 0x85, 1, 2, 3}, 5, 0, 0, 0, 0},
	{"16-bit length incomplete", {0x81, 0xfe, 0x01}, 3, 0, 0, 0, 0},
	{"unmasked", {0x81, 0x05}, 2, -WS_CLOSE_PROTOCOL, 0, 0, 0},
	{"RSV1 without extension", {0xc1, 0x80, 1, 2, 3, 4}, 6, -WS_CLOSE_PROTOCOL, 0, 0, 0},
	{"RSV3", {0x91, 0x80, 1, 2, 3, 4}, 6, -WS_CLOSE_PROTOCOL, 0, 0, 0},
	{"reserved data opcode 3", {0x83, 0x80, 1, 2, 3, 4}, 6, -WS_CLOSE_PROTOCOL, 0, 0, 0},
	{"reserved control opcode 0xB", {0x8b, 0x80, 1, 2, 3, 4}, 6, -WS_CLOSE_PROTOCOL, 0, 0, 0},
	{"fragmented ping", {0x09, 0x80, 1, 2, 3, 4}, 6, -WS_CLOSE_PROTOCOL, 0, 0, 0},
	{"ping over 125", {0x89, 0xfe, 0x00, 0x7e, 1, 2, 3, 4}, 8, -WS_CLOSE_PROTOCOL, 0, 0, 0},
	{"non-minimal 16-bit length", {0x81, 0xfe, 0x00, 0x05, 1, 2, 3, 4}, 8, -WS_CLOSE_PROTOCOL, 0, 0, 0},
	{"non-minimal 64-bit length", {0x81, 0xff, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 1, 2, 3, 4}, 14,
	 -WS_CLOSE_PROTOCOL, 0, 0, 0},
	{"64-bit length with the top bit", {0x81, 0xff, 0x80, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4}, 14,
	 -WS_CLOSE_PROTOCOL, 0, 0, 0},
	{"over the limit", {0x81, 0xfe, 0x03, 0xe9, 1, 2, 3, 4}, 8, -WS_CLOSE_TOO_BIG, 0, 0, 0},
	{"at the limit", {0x81, 0xfe, 0x03, 0xe8, 1, 2, 3, 4}, 8, 8, WS_OP_TEXT, 1, 1000},
};

static void test_frame_headers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		const struct frame_case *c = &frames[i];
		struct ws_frame f;
		int got = ws_frame_parse(c->in, c->n, MAXP, &f);
		if (got != c->want) {
			fprintf(stderr, "case \"%s\": got %d, want %d\n", c->name, got, c->want);
			fail();
		}
		if (got > 0 && (f.opcode != c->opcode || f.fin != c->fin || f.len != c->len ||
				memcmp(f.mask, "\x01\x02\x03\x04", 4) != 0)) {
			fprintf(stderr, "case \"%s\": opcode %u fin %u len %llu\n", c->name, f.opcode, f.fin,
				(unsigned long long)f.len);
			fail();
		}
	}
}

/* RFC 6455 §5.7 examples: the masked "Hello" and the server's unmasked frames. */
static void test_rfc_examples(void **state)
{
	(void)state;
	uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	struct ws_frame f;
	assert_int_equal(ws_frame_parse(hello, sizeof(hello), MAXP, &f), 6);
	ws_unmask(hello + 6, 3, f.mask, 0);
	ws_unmask(hello + 9, 2, f.mask, 3);	/* in two pieces: the offset keeps the mask phase */
	assert_memory_equal(hello + 6, "Hello", 5);

	struct buf b;
	buf_init(&b);
	assert_int_equal(ws_frame_put(&b, WS_OP_TEXT, "Hello", 5), 0);
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, "\x81\x05Hello", 7);
	buf_reset(&b);
	static uint8_t big[70000];
	assert_int_equal(ws_frame_put(&b, WS_OP_BINARY, big, 256), 0);
	assert_memory_equal(b.data, "\x82\x7e\x01\x00", 4);
	buf_reset(&b);
	assert_int_equal(ws_frame_put(&b, WS_OP_BINARY, big, 65536), 0);
	assert_memory_equal(b.data, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	assert_int_equal(b.len, 10 + 65536);
	buf_reset(&b);
	assert_int_equal(ws_frame_put(&b, WS_OP_PONG, NULL, 0), 0);
	assert_memory_equal(b.data, "\x8a\x00", 2);
	buf_free(&b);
}

static const struct utf8_case {
	const char *name;
	const char *s;
	size_t n;
	int want;
} utf8[] = {
	{"ascii", "hello", 5, 0},
	{"two-byte é", "\xc3\xa9", 2, 0},
	{"three-byte €", "\xe2\x82\xac", 3, 0},
	{"four-byte U+10FFFF", "\xf4\x8f\xbf\xbf", 4, 0},
	{"embedded NUL is valid UTF-8", "a\0b", 3, 0},
	{"overlong /", "\xc0\xaf", 2, -1},
	{"overlong three-byte", "\xe0\x80\xaf", 3, -1},
	{"surrogate", "\xed\xa0\x80", 3, -1},
	{"above U+10FFFF", "\xf4\x90\x80\x80", 4, -1},
	{"lone continuation", "\x80", 1, -1},
	{"truncated", "\xe2\x82", 2, -1},
	{"0xff", "\xff", 1, -1},
};

static void test_utf8(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++) {
		int got = ws_utf8_valid((const uint8_t *)utf8[i].s, utf8[i].n);
		if (got != utf8[i].want) {
			fprintf(stderr, "case \"%s\": got %d, want %d\n", utf8[i].name, got, utf8[i].want);
			fail();
		}
	}
}

static const struct close_case {
	const char *name;
	const char *p;
	size_t n;
	int want;
	uint16_t code;
} closes[] = {
	{"empty", "", 0, 0, 1005},
	{"normal", "\x03\xe8", 2, 0, 1000},
	{"normal with reason", "\x03\xe8" "bye", 5, 0, 1000},
	{"application code", "\x0f\xa0", 2, 0, 4000},
	{"one byte", "\x03", 1, -WS_CLOSE_PROTOCOL, 0},
	{"999", "\x03\xe7", 2, -WS_CLOSE_PROTOCOL, 0},
	{"1005 on the wire", "\x03\xed", 2, -WS_CLOSE_PROTOCOL, 0},
	{"1006 on the wire", "\x03\xee", 2, -WS_CLOSE_PROTOCOL, 0},
	{"reserved 1016", "\x03\xf8", 2, -WS_CLOSE_PROTOCOL, 0},
	{"5000", "\x13\x88", 2, -WS_CLOSE_PROTOCOL, 0},
	{"reason not UTF-8", "\x03\xe8\xff", 3, -WS_CLOSE_INVALID_DATA, 0},
};

static void test_close_payload(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(closes) / sizeof(closes[0]); i++) {
		uint16_t code = 0;
		int got = ws_close_payload((const uint8_t *)closes[i].p, closes[i].n, &code);
		if (got != closes[i].want || (got == 0 && code != closes[i].code)) {
			fprintf(stderr, "case \"%s\": got %d code %u\n", closes[i].name, got, code);
			fail();
		}
	}
}

/* Message reassembly: each step is one frame (opcode, fin, payload) and the expected result. */
struct step {
	uint8_t opcode;
	int fin;
	const char *payload;
	int want;
};

static const struct msg_case {
	const char *name;
	struct step steps[4];
	const char *message;	/* when the last step completes one */
} msgs[] = {
	{"single text", {{WS_OP_TEXT, 1, "<open/>", 1}}, "<open/>"},
	{"three fragments", {{WS_OP_TEXT, 0, "<me", 0}, {WS_OP_CONT, 0, "ss", 0}, {WS_OP_CONT, 1, "age/>", 1}},
	 "<message/>"},
	{"UTF-8 split across fragments", {{WS_OP_TEXT, 0, "\xe2\x82", 0}, {WS_OP_CONT, 1, "\xac", 1}}, "\xe2\x82\xac"},
	{"continuation first", {{WS_OP_CONT, 1, "x", -WS_CLOSE_PROTOCOL}}, NULL},
	{"new message inside a fragmented one", {{WS_OP_TEXT, 0, "a", 0}, {WS_OP_TEXT, 1, "b", -WS_CLOSE_PROTOCOL}},
	 NULL},
	{"invalid UTF-8 text", {{WS_OP_TEXT, 1, "\xc0\xaf", -WS_CLOSE_INVALID_DATA}}, NULL},
	{"binary is not checked for UTF-8", {{WS_OP_BINARY, 1, "\xc0\xaf", 1}}, "\xc0\xaf"},
	{"fragments over the limit", {{WS_OP_TEXT, 0, "0123456789", 0}, {WS_OP_CONT, 1, "0123456789x", -WS_CLOSE_TOO_BIG}},
	 NULL},
	{"fragments at the limit", {{WS_OP_TEXT, 0, "0123456789", 0}, {WS_OP_CONT, 1, "0123456789", 1}},
	 "01234567890123456789"},
};

static void test_messages(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		const struct msg_case *c = &msgs[i];
		struct ws_msg m = {.max = 20};
		buf_init(&m.data);
		int got = 0;
		for (size_t k = 0; k < 4 && c->steps[k].payload; k++) {
			struct ws_frame f = {.fin = (unsigned)c->steps[k].fin, .opcode = c->steps[k].opcode,
					     .len = strlen(c->steps[k].payload)};
			uint8_t op = 0;
			got = ws_msg_feed(&m, &f, (const uint8_t *)c->steps[k].payload, &op);
			if (got != c->steps[k].want) {
				fprintf(stderr, "case \"%s\" step %zu: got %d, want %d\n", c->name, k, got,
					c->steps[k].want);
				fail();
			}
			if (got < 0)
				break;
		}
		if (c->message && (got != 1 || m.data.len != strlen(c->message) ||
				   memcmp(m.data.data, c->message, m.data.len) != 0)) {
			fprintf(stderr, "case \"%s\": wrong message\n", c->name);
			fail();
		}
		ws_msg_reset(&m);
	}
}

/* RFC 6455 §1.3's example key, and keys that are not base64 of 16 bytes. */
static void test_accept_key(void **state)
{
	(void)state;
	char out[29];
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	static const char *const bad[] = {"dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ=x",
					  "dGhlIHNhbXBsZSBub25j====", "dGhlIHNhbXBsZSBub2!jZQ==",
					  "dGhlIHNhbXBsZSBub25jZSBvdmVy"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ws_accept_key(bad[i], strlen(bad[i]), out) != -1) {
			fprintf(stderr, "bad key \"%s\" accepted\n", bad[i]);
			fail();
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_headers), cmocka_unit_test(test_rfc_examples),
		cmocka_unit_test(test_utf8),	      cmocka_unit_test(test_close_payload),
		cmocka_unit_test(test_messages),      cmocka_unit_test(test_accept_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
