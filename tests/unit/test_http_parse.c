/* Unit tests for the HTTP/1.1 request head parser (workers/http/http_parse.c): a table of
 * requests with the status or fields each must give, every input also fed byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "workers/http/http.h"

#define BODY_MAX 262144u

static const struct parse_case {
	const char *name;
	const char *in;
	int want;		/* > 0: head length = strlen(in) unless tail set; 0 need more; < 0 status */
	const char *tail;	/* bytes after the head that belong to the next request or the body */
	int method, minor, keep_alive;
	const char *path;
	uint64_t content_length;
} cases[] = {
	{"simple GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1, "", HTTP_M_GET, 1, 1, "/", 0},
	{"query is not path", "GET /x/y?z=1 HTTP/1.1\r\nHost: a\r\n\r\n", 1, "", HTTP_M_GET, 1, 1, "/x/y", 0},
	{"absolute form", "GET http://a:5280/http-bind?q HTTP/1.1\r\nHost: a\r\n\r\n", 1, "", HTTP_M_GET, 1, 1,
	 "/http-bind", 0},
	{"absolute form without path", "GET http://a HTTP/1.1\r\nHost: a\r\n\r\n", 1, "", HTTP_M_GET, 1, 1, "/", 0},
	{"POST with body", "POST /http-bind HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 1, "<a/>x",
	 HTTP_M_POST, 1, 1, "/http-bind", 5},
	{"pipelined second request stays", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1, "GET /b HTTP/1.1\r\n",
	 HTTP_M_GET, 1, 1, "/", 0},
	{"connection close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n", 1, "", HTTP_M_GET, 1,
	 0, "/", 0},
	{"1.0 closes by default", "GET / HTTP/1.0\r\n\r\n", 1, "", HTTP_M_GET, 0, 0, "/", 0},
	{"1.0 keep-alive", "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1, "", HTTP_M_HEAD, 0, 1, "/", 0},
	{"1.2 served as 1.1", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 1, "", HTTP_M_GET, 1, 1, "/", 0},
	{"leading CRLFs skipped", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 1, "", HTTP_M_GET, 1, 1, "/", 0},
	{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 1, "", HTTP_M_OPTIONS, 1, 1, NULL, 0},
	{"OWS around value", "GET / HTTP/1.1\r\nHost: \t a \t\r\n\r\n", 1, "", HTTP_M_GET, 1, 1, "/", 0},
	{"unfinished head", "GET / HTTP/1.1\r\nHost: a\r\n", 0, NULL, 0, 0, 0, NULL, 0},
	{"unfinished line", "GET / HTT", 0, NULL, 0, 0, 0, NULL, 0},
	{"lone CR at end", "GET / HTTP/1.1\r", 0, NULL, 0, 0, 0, NULL, 0},
	{"no Host in 1.1", "GET / HTTP/1.1\r\n\r\n", -400, NULL, 0, 0, 0, NULL, 0},
	{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -400, NULL, 0, 0, 0, NULL, 0},
	{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", -400, NULL, 0, 0, 0, NULL, 0},
	{"bare CR", "GET / HTTP/1.1\rHost: a\r\n\r\n", -400, NULL, 0, 0, 0, NULL, 0},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", -400, NULL, 0, 0, 0, NULL, 0},
	{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", -400, NULL, 0, 0, 0, NULL, 0},
	{"no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", -400, NULL, 0, 0, 0, NULL, 0},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", -400, NULL, 0, 0, 0, NULL, 0},
	{"two spaces in request line", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", -400, NULL, 0, 0, 0, NULL, 0},
	{"relative target", "GET x HTTP/1.1\r\nHost: a\r\n\r\n", -400, NULL, 0, 0, 0, NULL, 0},
	{"* for GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", -400, NULL, 0, 0, 0, NULL, 0},
	{"control char in target", "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", -400, NULL, 0, 0, 0, NULL, 0},
	{"bad version", "GET / HTTX/1.1\r\nHost: a\r\n\r\n", -400, NULL, 0, 0, 0, NULL, 0},
	{"version 2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", -505, NULL, 0, 0, 0, NULL, 0},
	{"version 0.9", "GET / HTTP/0.9\r\n\r\n", -505, NULL, 0, 0, 0, NULL, 0},
	{"unknown method", "BREW / HTTP/1.1\r\nHost: a\r\n\r\n", -501, NULL, 0, 0, 0, NULL, 0},
	{"method not a token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", -400, NULL, 0, 0, 0, NULL, 0},
	{"lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", -501, NULL, 0, 0, 0, NULL, 0},
	{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", -501, NULL, 0, 0, 0,
	 NULL, 0},
	{"two lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", -400,
	 NULL, 0, 0, 0, NULL, 0},
	{"signed length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", -400, NULL, 0, 0, 0, NULL,
	 0},
	{"huge length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", -400, NULL,
	 0, 0, 0, NULL, 0},
	{"length over the stanza limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 262145\r\n\r\n", -413,
	 NULL, 0, 0, 0, NULL, 0},
	{"length at the stanza limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 262144\r\n\r\n", 1, "",
	 HTTP_M_POST, 1, 1, "/", 262144},
	{"too many leading CRLFs", "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", -400,
	 NULL, 0, 0, 0, NULL, 0},
};

static void check_case(const struct parse_case *c, const char *buf, size_t n, size_t head)
{
	struct http_req r;
	int got = http_parse_head(buf, n, BODY_MAX, &r);
	int want = c->want > 0 ? (int)head : c->want;
	if (got != want) {
		fprintf(stderr, "case \"%s\": got %d, want %d\n", c->name, got, want);
		fail();
	}
	if (got <= 0)
		return;
	if (r.method != c->method || r.minor != c->minor || (int)r.keep_alive != c->keep_alive ||
	    r.content_length != c->content_length) {
		fprintf(stderr, "case \"%s\": method %d minor %d keep %d length %llu\n", c->name, r.method,
			r.minor, r.keep_alive, (unsigned long long)r.content_length);
		fail();
	}
	if (c->path ? !r.path || r.path_len != strlen(c->path) || memcmp(r.path, c->path, r.path_len) != 0
		    : r.path != NULL) {
		fprintf(stderr, "case \"%s\": path \"%.*s\"\n", c->name, (int)r.path_len, r.path ? r.path : "");
		fail();
	}
}

static void test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];
		size_t hl = strlen(c->in);
		if (strcmp(c->name, "NUL in value") == 0)
			hl = sizeof("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n") - 1;
		size_t tl = c->tail ? strlen(c->tail) : 0;
		char *buf = malloc(hl + tl + 1);
		assert_non_null(buf);
		memcpy(buf, c->in, hl);
		memcpy(buf + hl, c->tail ? c->tail : "", tl);
		check_case(c, buf, hl + tl, hl);
		/* every prefix of a complete head needs more bytes (or already fails the same way) */
		for (size_t k = 0; c->want > 0 && k < hl; k++) {
			struct http_req r;
			int got = http_parse_head(buf, k, BODY_MAX, &r);
			if (got != 0) {
				fprintf(stderr, "case \"%s\": prefix %zu gave %d, want 0\n", c->name, k, got);
				fail();
			}
		}
		free(buf);
	}
}

static void test_fields(void **state)
{
	(void)state;
	static const char in[] = "GET /xmpp-websocket HTTP/1.1\r\nHost: localhost:5280\r\n"
				 "Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
				 "Sec-WebSocket-Protocol: chat ,xmpp\r\nX-Empty:\r\n\r\n";
	struct http_req r;
	assert_int_equal(http_parse_head(in, sizeof(in) - 1, BODY_MAX, &r), (int)sizeof(in) - 1);
	const struct http_field *f = http_field_get(&r, "sec-websocket-protocol");
	assert_non_null(f);
	assert_true(http_token_in(f->value, f->value_len, "xmpp"));
	assert_true(http_token_in(f->value, f->value_len, "chat"));
	assert_false(http_token_in(f->value, f->value_len, "xmp"));
	f = http_field_get(&r, "CONNECTION");
	assert_non_null(f);
	assert_true(http_token_in(f->value, f->value_len, "upgrade"));
	f = http_field_get(&r, "x-empty");
	assert_non_null(f);
	assert_int_equal(f->value_len, 0);
	assert_null(http_field_get(&r, "content-length"));
	assert_string_equal(http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_method_name(HTTP_M_OPTIONS), "OPTIONS");
}

/* The named limits: request line (414), head size and field count (431). */
static void test_limits(void **state)
{
	(void)state;
	struct http_req r;
	size_t big = HTTP_MAX_HEAD * 2;
	char *b = malloc(big + 64);
	assert_non_null(b);

	/* a request line one byte over the limit, complete or still coming */
	int n = snprintf(b, big, "GET /");
	memset(b + n, 'a', HTTP_MAX_REQLINE);
	memcpy(b + HTTP_MAX_REQLINE - 10, " HTTP/1.1\r\n", 11);	/* line = HTTP_MAX_REQLINE + 1 bytes */
	assert_int_equal(http_parse_head(b, HTTP_MAX_REQLINE + 1, BODY_MAX, &r), -414);
	assert_int_equal(http_parse_head(b, HTTP_MAX_REQLINE - 10, BODY_MAX, &r), 0);
	memset(b + 5, 'a', HTTP_MAX_REQLINE);
	assert_int_equal(http_parse_head(b, HTTP_MAX_REQLINE, BODY_MAX, &r), -414);

	/* exactly at the line limit is fine */
	n = snprintf(b, big, "GET /");
	memset(b + n, 'a', HTTP_MAX_REQLINE - 16);
	memcpy(b + HTTP_MAX_REQLINE - 11, " HTTP/1.1\r\nHost: a\r\n\r\n", 22);
	assert_int_equal(http_parse_head(b, HTTP_MAX_REQLINE + 11, BODY_MAX, &r), (int)HTTP_MAX_REQLINE + 11);

	/* head over HTTP_MAX_HEAD: one long field, never terminated → 431 once the limit is passed */
	n = snprintf(b, big, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	memset(b + n, 'v', big - (size_t)n);
	assert_int_equal(http_parse_head(b, HTTP_MAX_HEAD - 1, BODY_MAX, &r), 0);
	assert_int_equal(http_parse_head(b, HTTP_MAX_HEAD, BODY_MAX, &r), -431);
	memcpy(b + HTTP_MAX_HEAD + 4, "\r\n\r\n", 4);
	assert_int_equal(http_parse_head(b, HTTP_MAX_HEAD + 8, BODY_MAX, &r), -431);

	/* HTTP_MAX_HEADERS fields pass, one more is 431 */
	size_t off = (size_t)snprintf(b, big, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (unsigned i = 1; i < HTTP_MAX_HEADERS; i++)
		off += (size_t)snprintf(b + off, big - off, "X-%u: v\r\n", i);
	memcpy(b + off, "\r\n", 2);
	assert_int_equal(http_parse_head(b, off + 2, BODY_MAX, &r), (int)off + 2);
	off += (size_t)snprintf(b + off, big - off, "X-last: v\r\n\r\n");
	assert_int_equal(http_parse_head(b, off, BODY_MAX, &r), -431);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
