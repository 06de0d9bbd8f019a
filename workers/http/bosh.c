/* BOSH (XEP-0124/0206) at /http-bind: each request's <body/> is parsed (bosh_body.c) and goes to
 * session creation or to its session (bosh_sess.c), or is refused with its terminal condition.
 * It never pretends a session exists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bosh.h"
#include "log.h"

/* XEP-0124 §17: clients older than 1.6 understand HTTP status codes only for these */
void bosh_refuse(struct http_conn *c, const struct http_req *r, int legacy, const char *cond)
{
	char body[256];
	int status = 200;
	if (legacy && strcmp(cond, "bad-request") == 0)
		status = 400;
	else if (legacy && strcmp(cond, "item-not-found") == 0)
		status = 404;
	int n = snprintf(body, sizeof(body), "<body type='terminate' condition='%s' xmlns='" NS_HTTPBIND "'/>",
			 cond);
	log_info("bosh request refused", "ip=%s condition=%s", c->ip, cond);
	http_respond(c, r, status, BOSH_CTYPE, CORS_BOSH, body, (size_t)n);
}

void http_bosh(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len)
{
	struct bosh_body *b = malloc(sizeof(*b));
	if (!b) {
		http_error(c, r, 503, NULL);
		return;
	}
	if (bosh_parse(body, len, b) < 0) {
		bosh_refuse(c, r, 1, "bad-request");	/* nothing we could read: HTTP says it too */
		free(b);
		return;
	}
	c->secure = http_request_secure(c, r);
	int legacy = !b->has_ver || b->ver_major < 1 || (b->ver_major == 1 && b->ver_minor < 6);
	if (!b->has_rid || !b->rid_ok)
		bosh_refuse(c, r, legacy, "bad-request");
	else if (b->has_sid)
		bosh_sess_request(c, r, body, len, b);
	else if (!b->to[0])
		bosh_refuse(c, r, legacy, "improper-addressing");
	else
		bosh_sess_create(c, r, body, len, b);
	free(b);
}
