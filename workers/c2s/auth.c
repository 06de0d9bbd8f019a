/* SASL negotiation on a c2s stream (RFC 6120 §6): <auth/>, <response/>, <abort/> from the client,
 * SCRAM steps relayed to storage as AUTH_REQ through the router, and their replies. */
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "log.h"
#include "xe.h"
#include "xlimits.h"

static void sasl_failure(struct c2s_conn *c, const char *cond)
{
	struct buf b;
	buf_init(&b);
	if (buf_printf(&b, "<failure xmlns='" C2S_NS_SASL "'><%s/></failure>", cond) == 0)
		(void)c2s_conn_send(c, b.data, b.len);
	buf_free(&b);
}

void c2s_auth_abandon(struct c2s_conn *c)
{
	c2s_sess_req_remove(c);
	if (c->scram) {
		c2s_scram_clear(c->scram);
		free(c->scram);
		c->scram = NULL;
	}
	c->sasl_wait_first = 0;
}

static void delay_done(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct c2s_conn *c = w->data;
	sasl_failure(c, c->delayed_cond);
	c->delayed_cond = NULL;
	c2s_conn_hold(c, 0);
}

/* A refused login is answered only after a delay that grows with each failure, and the
 * client is not read meanwhile: guessing passwords on one stream stays slow. */
static void auth_fail(struct c2s_conn *c, int result)
{
	log_info("sasl failed", "sid=%llu condition=%s", (unsigned long long)c->sid,
		 c2s_sasl_condition(result));
	c2s_auth_abandon(c);
	if (result != C2S_SASL_EAUTH) {
		sasl_failure(c, c2s_sasl_condition(result));
		return;
	}
	c->auth_failures++;
	double d = C2S_AUTH_DELAY * c->auth_failures;
	c->delayed_cond = c2s_sasl_condition(result);
	ev_timer_init(&c->delay, delay_done, d > C2S_AUTH_DELAY_MAX ? C2S_AUTH_DELAY_MAX : d, 0.);
	ev_timer_start(env->loop, &c->delay);
	c2s_conn_hold(c, 1);
}

/* Sends a storage step as AUTH_REQ with a fresh request id owned by this connection. */
static int auth_request(struct c2s_conn *c, const struct buf *req)
{
	c2s_sess_req_remove(c);
	if (++env->next_reqid == 0)
		env->next_reqid = 1;
	c->reqid = env->next_reqid;
	c2s_sess_req_add(c);
	if (c2s_rl_send(XE_AUTH_REQ, XE_ST_NONE, c->sid, c->reqid, "", "", req->data, req->len) < 0) {
		c2s_sess_req_remove(c);
		return -1;
	}
	return 0;
}

/* Decodes an element's base64 payload ("=" is an empty one). */
static int payload(const struct c2s_xml_elem *e, struct buf *out)
{
	if (e->text_truncated)
		return -1;
	const char *t = e->text;
	size_t n = strlen(t);
	if (n == 1 && t[0] == '=')
		return 0;
	return c2s_b64_decode(out, t, n, SCRAM_MAX_MSG);
}

static void client_first(struct c2s_conn *c, const struct buf *msg)
{
	struct buf req;
	buf_init(&req);
	c->sasl_wait_first = 0;
	int r = c2s_scram_client_first(c->scram, c->scram->mech, (const char *)msg->data, msg->len,
				       c->vh->name, &req);
	if (r == C2S_SASL_OK && auth_request(c, &req) < 0)
		r = C2S_SASL_ETEMP;
	buf_free(&req);
	if (r != C2S_SASL_OK)
		auth_fail(c, r);
}

static void el_auth(struct c2s_conn *c, const struct c2s_xml_elem *e, const struct buf *msg)
{
	if (c->vh->require_tls && c->tls != C2S_TLS_UP) {
		sasl_failure(c, "encryption-required");
		return;
	}
	c2s_auth_abandon(c);	/* a new <auth/> replaces an exchange in progress */
	int mech = e->mechanism ? c2s_scram_mech_parse(e->mechanism) : -1;
	if (mech < 0) {
		sasl_failure(c, "invalid-mechanism");
		return;
	}
	c->scram = calloc(1, sizeof(*c->scram));
	if (!c->scram) {
		sasl_failure(c, "temporary-auth-failure");
		return;
	}
	c->scram->mech = mech;
	if (msg->len == 0 && strcmp(e->text, "=") != 0) {
		c->sasl_wait_first = 1;	/* no initial response: an empty challenge asks for it */
		(void)c2s_conn_send_str(c, "<challenge xmlns='" C2S_NS_SASL "'/>");
		return;
	}
	client_first(c, msg);
}

static void el_response(struct c2s_conn *c, const struct buf *msg)
{
	if (!c->scram || c->reqid) {
		auth_fail(c, C2S_SASL_ESTATE);
		return;
	}
	if (c->sasl_wait_first) {
		client_first(c, msg);
		return;
	}
	struct buf req;
	buf_init(&req);
	int r = c2s_scram_client_final(c->scram, (const char *)msg->data, msg->len, c->vh->name, &req);
	if (r == C2S_SASL_OK && auth_request(c, &req) < 0)
		r = C2S_SASL_ETEMP;
	buf_wipe_free(&req);
	if (r != C2S_SASL_OK)
		auth_fail(c, r);
}

int c2s_auth_element(struct c2s_conn *c, const struct c2s_xml_elem *e)
{
	if (c->authed) {
		c2s_stream_error(c, "policy-violation");
		return C2S_XML_STOP;
	}
	if (strcmp(e->name, "abort") == 0) {
		c2s_auth_abandon(c);
		sasl_failure(c, "aborted");
		return C2S_XML_CONTINUE;
	}
	struct buf msg;
	buf_init(&msg);
	if (payload(e, &msg) < 0) {
		buf_wipe_free(&msg);
		auth_fail(c, C2S_SASL_EMALFORMED);
		return C2S_XML_CONTINUE;
	}
	if (strcmp(e->name, "auth") == 0)
		el_auth(c, e, &msg);
	else
		el_response(c, &msg);
	buf_wipe_free(&msg);
	return C2S_XML_CONTINUE;
}

static void send_b64_element(struct c2s_conn *c, const char *name, const struct buf *raw)
{
	struct buf b;
	buf_init(&b);
	if (buf_printf(&b, "<%s xmlns='" C2S_NS_SASL "'>", name) == 0 &&
	    c2s_b64_encode(&b, raw->data, raw->len) == 0 && buf_printf(&b, "</%s>", name) == 0)
		(void)c2s_conn_send(c, b.data, b.len);
	buf_free(&b);
}

static void auth_success(struct c2s_conn *c, const struct buf *final)
{
	char *user = strdup(c->scram->user);
	if (!user) {
		auth_fail(c, C2S_SASL_ETEMP);
		return;
	}
	free(c->user);
	c->user = user;
	c2s_auth_abandon(c);
	c->authed = 1;
	log_info("authenticated", "sid=%llu user=%s host=%s", (unsigned long long)c->sid, c->user,
		 c->vh->name);
	send_b64_element(c, "success", final);
	/* the client's next bytes are a new stream header: the parser starts over now */
	if (c2s_stream_restart(c) < 0)
		c2s_conn_close(c, 0);
}

void c2s_auth_reply(uint32_t reqid, int is_error, const uint8_t *body, size_t len)
{
	struct c2s_conn *c = c2s_sess_by_reqid(reqid);
	if (!c || !c->scram || c->closing) {
		env->cnt.stale_auth++;
		return;
	}
	c2s_sess_req_remove(c);
	if (is_error) {
		auth_fail(c, C2S_SASL_ETEMP);
		return;
	}
	struct buf out;
	buf_init(&out);
	int r;
	if (c->scram->state == C2S_SCRAM_WAIT_PARAMS) {
		r = c2s_scram_server_first(c->scram, body, len, NULL, &out);
		if (r == C2S_SASL_OK)
			send_b64_element(c, "challenge", &out);
	} else {
		r = c2s_scram_verify_reply(c->scram, body, len, &out);
		if (r == C2S_SASL_OK)
			auth_success(c, &out);
	}
	buf_wipe_free(&out);
	if (r != C2S_SASL_OK)
		auth_fail(c, r);
}
