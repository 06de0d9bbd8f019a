/* Unit tests for the BOSH <body/> reader (workers/http/bosh_body.c): the attributes sessions use,
 * where the payload is, and what is refused, as a table of named cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "workers/http/bosh.h"

#define B "xmlns='" NS_HTTPBIND "'"
#define X "xmlns:xmpp='" NS_XBOSH "'"

static const struct body_case {
	const char *name, *in;
	int ok;
	uint64_t rid;		/* 0: no valid rid */
	const char *payload;	/* the children's bytes, NULL: don't care */
	const char *sid, *to;
	unsigned wait, hold;
	int terminate, restart;
} cases[] = {
	{"creation", "<body rid='1573741820' to='localhost' xml:lang='en' wait='60' hold='1' ver='1.6' " B " " X
		     " xmpp:version='1.0'/>", 1, 1573741820, "", "", "localhost", 60, 1, 0, 0},
	{"payload", "<body rid='2' sid='ab' " B "><message to='a@b'><body>x</body></message><presence/></body>", 1, 2,
	 "<message to='a@b'><body>x</body></message><presence/>", "ab", "", 0, 0, 0, 0},
	{"empty element", "<body rid='3' sid='ab' " B "/>", 1, 3, "", "ab", "", 0, 0, 0, 0},
	{"empty with end tag", "<body rid='3' sid='ab' " B "></body>", 1, 3, "", "ab", "", 0, 0, 0, 0},
	{"whitespace payload", "<body rid='3' " B ">  </body>", 1, 3, "  ", "", "", 0, 0, 0, 0},
	{"restart", "<body rid='4' sid='ab' to='h' " B " " X " xmpp:restart='true'/>", 1, 4, "", "ab", "h", 0, 0, 0, 1},
	{"terminate with payload", "<body rid='5' sid='ab' type='terminate' " B "><presence type='unavailable'/></body>",
	 1, 5, "<presence type='unavailable'/>", "ab", "", 0, 0, 1, 0},
	{"restart without the namespace is no restart", "<body rid='4' restart='true' " B "/>", 1, 4, "", "", "", 0, 0, 0,
	 0},
	{"rid 0", "<body rid='0' " B "/>", 1, 0, NULL, "", "", 0, 0, 0, 0},
	{"rid 2^53", "<body rid='9007199254740992' " B "/>", 1, 0, NULL, "", "", 0, 0, 0, 0},
	{"rid not digits", "<body rid='1e3' " B "/>", 1, 0, NULL, "", "", 0, 0, 0, 0},
	{"huge wait capped at read", "<body rid='1' wait='99999999' " B "/>", 1, 1, NULL, "", "", 3600, 0, 0, 0},
	{"wrong root", "<bodyx rid='1' " B "/>", 0, 0, NULL, NULL, NULL, 0, 0, 0, 0},
	{"wrong namespace", "<body rid='1' xmlns='jabber:client'/>", 0, 0, NULL, NULL, NULL, 0, 0, 0, 0},
	{"unclosed", "<body rid='1' " B "><presence/>", 0, 0, NULL, NULL, NULL, 0, 0, 0, 0},
	{"comment", "<body rid='1' " B "><!-- x --></body>", 0, 0, NULL, NULL, NULL, 0, 0, 0, 0},
	{"processing instruction", "<body rid='1' " B "><?pi x?></body>", 0, 0, NULL, NULL, NULL, 0, 0, 0, 0},
	{"DOCTYPE", "<!DOCTYPE body><body rid='1' " B "/>", 0, 0, NULL, NULL, NULL, 0, 0, 0, 0},
	{"two roots", "<body rid='1' " B "/><body rid='2' " B "/>", 0, 0, NULL, NULL, NULL, 0, 0, 0, 0},
	{"empty input", "", 0, 0, NULL, NULL, NULL, 0, 0, 0, 0},
};

static void test_bodies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct body_case *k = &cases[i];
		struct bosh_body b;
		int rc = bosh_parse((const uint8_t *)k->in, strlen(k->in), &b);
		if ((rc == 0) != k->ok)
			fail_msg("case \"%s\": got rc %d, want ok=%d", k->name, rc, k->ok);
		if (!k->ok)
			continue;
		if ((k->rid != 0) != (b.rid_ok != 0) || (k->rid && b.rid != k->rid))
			fail_msg("case \"%s\": got rid %llu ok=%d, want %llu", k->name, (unsigned long long)b.rid, b.rid_ok,
				 (unsigned long long)k->rid);
		if (k->payload && (b.payload_len != strlen(k->payload) ||
				   memcmp(k->in + b.payload_at, k->payload, b.payload_len) != 0))
			fail_msg("case \"%s\": got payload \"%.*s\", want \"%s\"", k->name, (int)b.payload_len,
				 k->in + b.payload_at, k->payload);
		if (strcmp(b.sid, k->sid) != 0 || strcmp(b.to, k->to) != 0)
			fail_msg("case \"%s\": got sid \"%s\" to \"%s\"", k->name, b.sid, b.to);
		if (b.wait != k->wait || b.hold != k->hold || b.terminate != k->terminate || b.restart != k->restart)
			fail_msg("case \"%s\": got wait %u hold %u terminate %d restart %d", k->name, b.wait, b.hold,
				 b.terminate, b.restart);
	}
}

/* ack (§9.1) and pause (§10): what sessions read of them */
static const struct ackpause_case {
	const char *name, *in;
	int has_ack, ack_ok;
	uint64_t ack;
	int has_pause;
	unsigned pause;
} ackpause[] = {
	{"ack at creation", "<body rid='7' to='h' ack='1' " B "/>", 1, 1, 1, 0, 0},
	{"ack of an rid", "<body rid='9' sid='ab' ack='8' " B "/>", 1, 1, 8, 0, 0},
	{"ack not digits", "<body rid='9' sid='ab' ack='x8' " B "/>", 1, 0, 0, 0, 0},
	{"ack 2^53", "<body rid='9' sid='ab' ack='9007199254740992' " B "/>", 1, 0, 0, 0, 0},
	{"no ack", "<body rid='9' sid='ab' " B "/>", 0, 0, 0, 0, 0},
	{"pause", "<body rid='9' sid='ab' pause='60' " B "/>", 0, 0, 0, 1, 60},
	{"pause capped at read", "<body rid='9' sid='ab' pause='100000' " B "/>", 0, 0, 0, 1, 3600},
};

static void test_ack_pause(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ackpause) / sizeof(ackpause[0]); i++) {
		const struct ackpause_case *k = &ackpause[i];
		struct bosh_body b;
		if (bosh_parse((const uint8_t *)k->in, strlen(k->in), &b) < 0)
			fail_msg("case \"%s\": refused", k->name);
		if (b.has_ack != k->has_ack || b.ack_ok != k->ack_ok || (k->ack_ok && b.ack != k->ack))
			fail_msg("case \"%s\": got ack %d/%d %llu", k->name, b.has_ack, b.ack_ok,
				 (unsigned long long)b.ack);
		if (b.has_pause != k->has_pause || b.pause != k->pause)
			fail_msg("case \"%s\": got pause %d %u", k->name, b.has_pause, b.pause);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_ack_pause),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
