/* BOSH (XEP-0124/0206) at /http-bind, first stage: requests are parsed and checked strictly, and
 * since this worker has no XMPP sessions yet every session request is answered with a terminal
 * binding condition. It never pretends a session exists. */
#include <expat.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "log.h"

#define NS_HTTPBIND "http://jabber.org/protocol/httpbind"
#define BOSH_MAX_ATTR 1024u	/* one attribute value we look at */
#define CORS_BOSH "Access-Control-Allow-Origin: *\r\n"

struct bosh_body {
	XML_Parser x;
	int depth, root_ok, bad;
	int has_sid, has_rid, rid_ok, ver_major, ver_minor, has_ver;
	char to[BOSH_MAX_ATTR];
};

static int bosh_rid_valid(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > 16)	/* XEP-0124 §7.1: up to 2^53 - 1 */
		return 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return 0;
	return 1;
}

static void bosh_root_attrs(struct bosh_body *b, const XML_Char **attrs)
{
	for (size_t i = 0; attrs[i]; i += 2) {
		const char *k = attrs[i], *v = attrs[i + 1];
		if (strcmp(k, "sid") == 0) {
			b->has_sid = 1;
		} else if (strcmp(k, "rid") == 0) {
			b->has_rid = 1;
			b->rid_ok = bosh_rid_valid(v);
		} else if (strcmp(k, "to") == 0 && strlen(v) < sizeof(b->to)) {
			memcpy(b->to, v, strlen(v) + 1);
		} else if (strcmp(k, "ver") == 0) {
			b->has_ver = sscanf(v, "%d.%d", &b->ver_major, &b->ver_minor) == 2;
		}
	}
}

static void XMLCALL bosh_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct bosh_body *b = ud;
	if (b->depth++ == 0) {
		b->root_ok = strcmp(name, NS_HTTPBIND " body") == 0;
		if (b->root_ok)
			bosh_root_attrs(b, attrs);
	}
}

static void XMLCALL bosh_end(void *ud, const XML_Char *name)
{
	(void)name;
	((struct bosh_body *)ud)->depth--;
}

/* DOCTYPE, entity declarations and processing instructions are refused as in c2s. */
static void XMLCALL bosh_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
				 const XML_Char *pubid, int has_internal)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal;
	struct bosh_body *b = ud;
	b->bad = 1;
	XML_StopParser(b->x, XML_FALSE);
}

static void XMLCALL bosh_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
	(void)target, (void)data;
	struct bosh_body *b = ud;
	b->bad = 1;
	XML_StopParser(b->x, XML_FALSE);
}

/* 0 when body is one well-formed <body xmlns='...httpbind'/> element, else -1. */
static int bosh_parse(const uint8_t *p, size_t n, struct bosh_body *b)
{
	memset(b, 0, sizeof(*b));
	if (n == 0 || n > INT32_MAX)
		return -1;
	XML_Parser x = XML_ParserCreateNS("UTF-8", ' ');
	if (!x)
		return -1;
	b->x = x;
	XML_SetUserData(x, b);
	XML_SetElementHandler(x, bosh_start, bosh_end);
	XML_SetStartDoctypeDeclHandler(x, bosh_doctype);
	XML_SetProcessingInstructionHandler(x, bosh_pi);
	int ok = XML_Parse(x, (const char *)p, (int)n, 1) == XML_STATUS_OK;
	XML_ParserFree(x);
	return ok && !b->bad && b->root_ok ? 0 : -1;
}

static void bosh_terminate(struct http_conn *c, const struct http_req *r, int status, const char *cond)
{
	char body[256];
	int n = snprintf(body, sizeof(body),
			 "<body type='terminate' condition='%s' xmlns='" NS_HTTPBIND "'/>", cond);
	http_respond(c, r, status, "text/xml; charset=utf-8", CORS_BOSH, body, (size_t)n);
}

static int bosh_host_known(const char *to)
{
	for (size_t i = 0; i < henv->conf.nvhosts; i++)
		if (strcasecmp(henv->conf.vhosts[i].name, to) == 0)
			return 1;
	return 0;
}

void http_bosh(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len)
{
	struct bosh_body b;
	if (bosh_parse(body, len, &b) < 0) {
		bosh_terminate(c, r, 400, "bad-request");	/* nothing we could read: HTTP says it too */
		return;
	}
	/* XEP-0124 §17: clients older than 1.6 understand HTTP status codes only for these */
	int legacy = !b.has_ver || b.ver_major < 1 || (b.ver_major == 1 && b.ver_minor < 6);
	const char *cond;
	int status = 200;
	if (!b.has_rid || !b.rid_ok) {
		cond = "bad-request";
		status = legacy ? 400 : 200;
	} else if (b.has_sid) {
		cond = "item-not-found";	/* no session exists in this worker yet */
		status = legacy ? 404 : 200;
	} else if (!b.to[0]) {
		cond = "improper-addressing";
	} else if (!bosh_host_known(b.to)) {
		cond = "host-unknown";
	} else {
		cond = "remote-connection-failed";	/* the XMPP service behind us is not available */
	}
	log_info("bosh request refused", "ip=%s condition=%s", c->ip, cond);
	bosh_terminate(c, r, status, cond);
}
