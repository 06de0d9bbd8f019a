/* The strict reader of a BOSH request's <body/> (XEP-0124): the attributes sessions use and where
 * the children are, as bytes for the stream engine. Untrusted bytes only: no globals, no state. */
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bosh.h"

struct bosh_parse_state {
	XML_Parser x;
	struct bosh_body *b;
	int depth, root_ok, bad;
};

static int bosh_rid_parse(const char *v, uint64_t *out)
{
	size_t n = strlen(v);
	uint64_t r = 0;
	if (n == 0 || n > 16)	/* XEP-0124 §7.1: up to 2^53 - 1 */
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		r = r * 10 + (uint64_t)(v[i] - '0');
	}
	*out = r;
	return r > 0 && r < (1ull << 53);
}

static unsigned small_uint(const char *v)
{
	unsigned long n = strtoul(v, NULL, 10);
	return n > 3600 ? 3600u : (unsigned)n;
}

static void copy_attr(char *dst, size_t cap, const char *v)
{
	if (strlen(v) < cap)
		memcpy(dst, v, strlen(v) + 1);
}

/* The root's attributes, by (namespaced) name. */
static void bosh_root_attrs(struct bosh_body *b, const XML_Char **attrs)
{
	for (size_t i = 0; attrs[i]; i += 2) {
		const char *k = attrs[i], *v = attrs[i + 1];
		if (strcmp(k, "sid") == 0) {
			b->has_sid = 1;
			copy_attr(b->sid, sizeof(b->sid), v);
		} else if (strcmp(k, "rid") == 0) {
			b->has_rid = 1;
			b->rid_ok = bosh_rid_parse(v, &b->rid);
		} else if (strcmp(k, "to") == 0) {
			copy_attr(b->to, sizeof(b->to), v);
		} else if (strcmp(k, "ver") == 0) {
			b->has_ver = sscanf(v, "%d.%d", &b->ver_major, &b->ver_minor) == 2;
		} else if (strcmp(k, "wait") == 0) {
			b->has_wait = 1;
			b->wait = small_uint(v);
		} else if (strcmp(k, "hold") == 0) {
			b->has_hold = 1;
			b->hold = small_uint(v);
		} else if (strcmp(k, "ack") == 0) {
			b->has_ack = 1;
			b->ack_ok = bosh_rid_parse(v, &b->ack);
		} else if (strcmp(k, "pause") == 0) {
			b->has_pause = 1;
			b->pause = small_uint(v);
		} else if (strcmp(k, "type") == 0) {
			b->terminate = strcmp(v, "terminate") == 0;
		} else if (strcmp(k, NS_XBOSH " restart") == 0) {
			b->restart = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
		} else if (strcmp(k, NS_XBOSH " version") == 0) {
			copy_attr(b->xmpp_version, sizeof(b->xmpp_version), v);
		} else if (strcmp(k, "http://www.w3.org/XML/1998/namespace lang") == 0) {
			copy_attr(b->lang, sizeof(b->lang), v);
		}
	}
}

static void XMLCALL bosh_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct bosh_parse_state *st = ud;
	if (st->depth++ != 0)
		return;
	st->root_ok = strcmp(name, NS_HTTPBIND " body") == 0;
	if (st->root_ok)
		bosh_root_attrs(st->b, attrs);
	st->b->payload_at = (size_t)(XML_GetCurrentByteIndex(st->x) + XML_GetCurrentByteCount(st->x));
}

static void XMLCALL bosh_end(void *ud, const XML_Char *name)
{
	(void)name;
	struct bosh_parse_state *st = ud;
	if (--st->depth != 0)
		return;
	size_t end = (size_t)XML_GetCurrentByteIndex(st->x);
	/* <body/>: the end tag is the start tag, nothing inside */
	st->b->payload_len = XML_GetCurrentByteCount(st->x) == 0 || end < st->b->payload_at
				     ? 0 : end - st->b->payload_at;
}

/* DOCTYPE, entity declarations, processing instructions and comments are refused as in c2s. */
static void XMLCALL bosh_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
				 const XML_Char *pubid, int has_internal)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal;
	struct bosh_parse_state *st = ud;
	st->bad = 1;
	XML_StopParser(st->x, XML_FALSE);
}

static void XMLCALL bosh_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
	(void)target, (void)data;
	struct bosh_parse_state *st = ud;
	st->bad = 1;
	XML_StopParser(st->x, XML_FALSE);
}

static void XMLCALL bosh_comment(void *ud, const XML_Char *data)
{
	(void)data;
	struct bosh_parse_state *st = ud;
	st->bad = 1;
	XML_StopParser(st->x, XML_FALSE);
}

int bosh_parse(const uint8_t *p, size_t n, struct bosh_body *b)
{
	struct bosh_parse_state st = {.b = b};
	memset(b, 0, sizeof(*b));
	if (n == 0 || n > INT32_MAX)
		return -1;
	XML_Parser x = XML_ParserCreateNS("UTF-8", ' ');
	if (!x)
		return -1;
	st.x = x;
	XML_SetUserData(x, &st);
	XML_SetElementHandler(x, bosh_start, bosh_end);
	XML_SetStartDoctypeDeclHandler(x, bosh_doctype);
	XML_SetProcessingInstructionHandler(x, bosh_pi);
	XML_SetCommentHandler(x, bosh_comment);
	int ok = XML_Parse(x, (const char *)p, (int)n, 1) == XML_STATUS_OK;
	XML_ParserFree(x);
	if (b->payload_at + b->payload_len > n)
		return -1;
	return ok && !st.bad && st.root_ok ? 0 : -1;
}

