/* Unit tests for trusted proxies (workers/http/proxy.c): CIDR parsing and matching, and which
 * X-Forwarded-For entry becomes the client address, as tables of named cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "workers/http/http.h"

struct http_env *henv;	/* the worker's http env, here a test fixture */

static const struct cidr_case {
	const char *cidr, *addr;
	int parses, matches;
} cidrs[] = {
	{"127.0.0.1", "127.0.0.1", 1, 1},
	{"127.0.0.1", "127.0.0.2", 1, 0},
	{"10.0.0.0/8", "10.255.1.2", 1, 1},
	{"10.0.0.0/8", "11.0.0.1", 1, 0},
	{"192.168.1.128/25", "192.168.1.200", 1, 1},
	{"192.168.1.128/25", "192.168.1.100", 1, 0},
	{"0.0.0.0/0", "203.0.113.5", 1, 1},
	{"0.0.0.0/0", "2001:db8::1", 1, 0},	/* an IPv4 rule never matches IPv6 */
	{"::1", "::1", 1, 1},
	{"2001:db8::/32", "2001:db8:ffff::1", 1, 1},
	{"2001:db8::/32", "2001:db9::1", 1, 0},
	{"::/0", "198.51.100.1", 1, 1},	/* mapped IPv4 is inside ::/0 */
	{"10.0.0.0/33", NULL, 0, 0},
	{"::/129", NULL, 0, 0},
	{"10.0.0.0/", NULL, 0, 0},
	{"10.0.0.0/8x", NULL, 0, 0},
	{"host.example", NULL, 0, 0},
	{"", NULL, 0, 0},
};

static void test_cidr(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cidrs) / sizeof(cidrs[0]); i++) {
		const struct cidr_case *c = &cidrs[i];
		struct http_cidr rule, a;
		int ok = http_cidr_parse(c->cidr, &rule) == 0;
		if (ok != c->parses) {
			fprintf(stderr, "cidr \"%s\": parses %d, want %d\n", c->cidr, ok, c->parses);
			fail();
		}
		if (!ok || !c->addr)
			continue;
		assert_int_equal(http_cidr_parse(c->addr, &a), 0);
		if (http_cidr_match(&rule, a.addr) != c->matches) {
			fprintf(stderr, "cidr \"%s\" vs %s: want match %d\n", c->cidr, c->addr, c->matches);
			fail();
		}
	}
}

static const struct xff_case {
	const char *name, *peer, *xff;	/* xff NULL = no header */
	const char *want;
} xffs[] = {
	{"untrusted peer, header ignored", "198.51.100.1", "203.0.113.1", "198.51.100.1"},
	{"trusted peer, no header", "127.0.0.1", NULL, "127.0.0.1"},
	{"trusted peer, one hop", "127.0.0.1", "203.0.113.1", "203.0.113.1"},
	{"trusted chain", "127.0.0.1", "203.0.113.1, 10.0.0.2, 10.0.0.1", "203.0.113.1"},
	{"spoofed left entries are not believed", "127.0.0.1", "1.1.1.1, 203.0.113.1", "203.0.113.1"},
	{"bracketed IPv6", "127.0.0.1", "[2001:db8::7]", "2001:db8::7"},
	{"bare IPv6", "127.0.0.1", " 2001:db8::8 ", "2001:db8::8"},
	{"garbage stops at the last good hop", "127.0.0.1", "203.0.113.1, junk", "127.0.0.1"},
	{"all trusted: the leftmost", "127.0.0.1", "10.0.0.9, 10.0.0.1", "10.0.0.9"},
	{"empty header", "127.0.0.1", "", "127.0.0.1"},
};

static void test_forwarded_for(void **state)
{
	(void)state;
	static struct http_env e;
	henv = &e;
	assert_int_equal(http_cidr_parse("127.0.0.1", &e.conf.proxies[0]), 0);
	assert_int_equal(http_cidr_parse("10.0.0.0/8", &e.conf.proxies[1]), 0);
	e.conf.nproxies = 2;
	for (size_t i = 0; i < sizeof(xffs) / sizeof(xffs[0]); i++) {
		const struct xff_case *x = &xffs[i];
		char head[512];
		int n = x->xff ? snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: %s\r\n\r\n", x->xff)
			       : snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
		struct http_req r;
		assert_int_equal(http_parse_head(head, (size_t)n, 1024, &r), n);
		struct http_conn c;
		struct http_cidr peer;
		memset(&c, 0, sizeof(c));
		assert_int_equal(http_cidr_parse(x->peer, &peer), 0);
		memcpy(c.addr, peer.addr, 16);
		http_client_ip(&c, &r);
		if (strcmp(c.ip, x->want) != 0) {
			fprintf(stderr, "case \"%s\": got %s, want %s\n", x->name, c.ip, x->want);
			fail();
		}
	}
	henv = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_forwarded_for),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
