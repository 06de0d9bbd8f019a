/* SASL negotiation on a c2s stream (RFC 6120 §6): <auth/>, <response/>, <abort/> from the client,
 * SCRAM (and PLAIN run as SCRAM) steps relayed to storage through the router; ANONYMOUS. */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

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
	c->reg_wait = 0;
}

static void delay_done(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct c2s_conn *c = w->data;
	log_debug("held-back sasl failure sent", "sid=%llu transport=%s condition=%s", (unsigned long long)c->sid,
		  c->ops->name, c->delayed_cond);
	sasl_failure(c, c->delayed_cond);
	c->delayed_cond = NULL;
	c2s_conn_hold(c, 0);
}

/* A refused login is answered only after a delay that grows with each failure, and the
 * client is not read meanwhile: guessing passwords on one stream stays slow. */
static void auth_fail(struct c2s_conn *c, int result)
{
	char user[C2S_SCRAM_USER_MAX + 1] = "";
	if (c->scram)
		memcpy(user, c->scram->user, sizeof(user));
	/* sids count per worker process: the transport tells a c2s stream from a web one */
	log_info("sasl failed", "sid=%llu transport=%s condition=%s step=%d", (unsigned long long)c->sid,
		 c->ops->name, c2s_sasl_condition(result), c->scram ? c->scram->state : -1);
	c2s_auth_abandon(c);
	if (result != C2S_SASL_EAUTH) {	/* protocol errors are answered at once: no guess was made */
		sasl_failure(c, c2s_sasl_condition(result));
		return;
	}
	c->auth_failures++;
	/* grows with the failures of this stream, of this address and of this account */
	double d = c2s_lim_fail(c, user);
	explicit_bzero(user, sizeof(user));
	c->delayed_cond = c2s_sasl_condition(result);
	ev_timer_stop(env->loop, &c->delay);	/* never re-initialise a started watcher */
	ev_timer_init(&c->delay, delay_done, d, 0.);
	ev_timer_start(env->loop, &c->delay);
	c2s_conn_hold(c, 1);
}

/* Sends a storage step as AUTH_REQ with a fresh request id owned by this connection. */
int c2s_auth_request(struct c2s_conn *c, const struct buf *req)
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

/* After client-first: a -PLUS exchange gets the TLS channel binding. A client that says "y"
 * (it supports binding but thinks we do not) while -PLUS was offered is let through: clients
 * that know only tls-unique (slixmpp among them) say so, and tls-unique is not offered. */
static int cbind_setup(struct c2s_conn *c)
{
	struct c2s_scram *s = c->scram;
	if (s->cbind == 'y' && c->tls == C2S_TLS_UP && c->ops->cbinding)
		log_info("client supports a channel binding we do not offer", "sid=%llu",
			 (unsigned long long)c->sid);
	if (s->cbind != 'p')
		return C2S_SASL_OK;
	int n = c2s_conn_cbinding(c, s->cbtype, s->cbdata, sizeof(s->cbdata));
	if (n <= 0)
		return C2S_SASL_ECBIND;
	s->cbdata_len = (size_t)n;
	return C2S_SASL_OK;
}

static void client_first(struct c2s_conn *c, const struct buf *msg)
{
	struct buf req;
	buf_init(&req);
	c->sasl_wait_first = 0;
	int r = c2s_scram_client_first(c->scram, c->scram->mech, (const char *)msg->data, msg->len,
				       c->vh->name, &req);
	if (r == C2S_SASL_OK)
		r = cbind_setup(c);
	if (r == C2S_SASL_OK && c2s_auth_request(c, &req) < 0)
		r = C2S_SASL_ETEMP;
	buf_free(&req);
	if (r != C2S_SASL_OK)
		auth_fail(c, r);
}

static void auth_success(struct c2s_conn *c, const struct buf *final);

/* PLAIN: the password becomes a SCRAM-SHA-256 exchange with storage (see plain.c). */
static void plain_start(struct c2s_conn *c, const struct buf *msg)
{
	char authzid[C2S_SCRAM_USER_MAX + 1], user[C2S_SCRAM_USER_MAX + 1], pass[C2S_SCRAM_USER_MAX + 1];
	struct buf first, req;
	buf_init(&first);
	buf_init(&req);
	int r = c2s_plain_parse(msg->data, msg->len, authzid, user, pass, sizeof(user));
	if (r == C2S_SASL_OK && (stringprep_xmpp_nodeprep(user, sizeof(user)) != STRINGPREP_OK || !user[0]))
		r = C2S_SASL_EAUTH;
	if (r == C2S_SASL_OK && authzid[0]) {
		char me[2 * C2S_SCRAM_USER_MAX + 2];
		int n = snprintf(me, sizeof(me), "%s@%s", user, c->vh->name);
		if (n < 0 || (size_t)n >= sizeof(me) || strcmp(authzid, me) != 0)
			r = C2S_SASL_EAUTHZID;
	}
	if (r == C2S_SASL_OK && c2s_plain_client_first(user, &first) < 0)
		r = C2S_SASL_ETEMP;
	if (r == C2S_SASL_OK)
		r = c2s_scram_client_first(c->scram, C2S_SCRAM_SHA256, (const char *)first.data, first.len,
					   c->vh->name, &req);
	if (r == C2S_SASL_OK && !(c->scram->plain = strdup(pass)))
		r = C2S_SASL_ETEMP;
	if (r == C2S_SASL_OK && c2s_auth_request(c, &req) < 0)
		r = C2S_SASL_ETEMP;
	explicit_bzero(pass, sizeof(pass));
	buf_free(&first);
	buf_free(&req);
	if (r != C2S_SASL_OK) {
		if (r == C2S_SASL_EAUTH && c->scram && !c->scram->user[0])
			memcpy(c->scram->user, user, sizeof(user));	/* counted against the account */
		auth_fail(c, r);
	}
}

/* ANONYMOUS (RFC 4505), where the virtual host allows it: a random local part, no storage. */
static void anonymous_start(struct c2s_conn *c)
{
	uint8_t rnd[12];
	char user[32] = "anon-";
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		auth_fail(c, C2S_SASL_ETEMP);
		return;
	}
	for (size_t i = 0; i < sizeof(rnd); i++) {
		user[5 + 2 * i] = "0123456789abcdef"[rnd[i] >> 4];
		user[5 + 2 * i + 1] = "0123456789abcdef"[rnd[i] & 15];
	}
	user[5 + 2 * sizeof(rnd)] = 0;
	memcpy(c->scram->user, user, strlen(user) + 1);
	c->anonymous = 1;
	auth_success(c, NULL);
}

static void el_auth(struct c2s_conn *c, const struct c2s_xml_elem *e, const struct buf *msg)
{
	if (c->vh->require_tls && c->tls != C2S_TLS_UP) {
		sasl_failure(c, "encryption-required");
		return;
	}
	c2s_auth_abandon(c);	/* a new <auth/> replaces an exchange in progress */
	const char *name = e->mechanism ? e->mechanism : "";
	int plain = strcmp(name, "PLAIN") == 0, anon = strcmp(name, "ANONYMOUS") == 0;
	int mech = plain || anon ? 0 : c2s_scram_mech_parse(name);
	if (plain && c->tls != C2S_TLS_UP) {
		sasl_failure(c, "encryption-required");	/* PLAIN is never offered in the clear */
		return;
	}
	if (mech < 0 || (anon && !c->vh->anonymous) || (mech > 0 && c2s_scram_mech_plus(mech) &&
							c->tls != C2S_TLS_UP)) {
		sasl_failure(c, "invalid-mechanism");
		return;
	}
	c->scram = calloc(1, sizeof(*c->scram));
	if (!c->scram) {
		sasl_failure(c, "temporary-auth-failure");
		return;
	}
	if (anon) {
		anonymous_start(c);
		return;
	}
	if (plain) {
		if (msg->len == 0) {
			sasl_failure(c, "malformed-request");	/* we ask for no second round */
			c2s_auth_abandon(c);
			return;
		}
		plain_start(c, msg);
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
	if (r == C2S_SASL_OK && c2s_auth_request(c, &req) < 0)
		r = C2S_SASL_ETEMP;
	buf_wipe_free(&req);
	if (r != C2S_SASL_OK)
		auth_fail(c, r);
}

int c2s_auth_element(struct c2s_conn *c, const struct c2s_xml_elem *e)
{
	/* Holding the stream stops reads, not the parse of what one read already brought: an
	 * element behind a refused attempt comes before its <failure/> went out. Acting on it
	 * would answer a guess early, or let a login succeed under a failure still to come. */
	if (c->authed || c->delayed_cond) {
		if (c->delayed_cond)
			log_info("sasl element before the failure of the last attempt", "sid=%llu",
				 (unsigned long long)c->sid);
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
	return c->restart ? C2S_XML_STOP : C2S_XML_CONTINUE;
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
	c2s_lim_success(c, user);
	c2s_lim_addr_release(c);
	log_info("authenticated", "sid=%llu transport=%s user=%s host=%s", (unsigned long long)c->sid,
		 c->ops->name, c->user, c->vh->name);
	if (final && final->len)
		send_b64_element(c, "success", final);
	else
		(void)c2s_conn_send_str(c, "<success xmlns='" C2S_NS_SASL "'/>");
	/* the client's next bytes are a new stream header: the parser starts over now, or, when
	 * this runs inside the parser (ANONYMOUS), as soon as the parser has stopped */
	if (c->anonymous) {
		c->restart = 1;
		return;
	}
	if (c2s_stream_restart(c) < 0)
		c2s_conn_close(c, 0);
}

/* PLAIN, second half: the proof derived from the password goes to storage as SCRAM_VERIFY. */
static int plain_final(struct c2s_conn *c)
{
	struct buf msg, req;
	buf_init(&msg);
	buf_init(&req);
	int r = c2s_plain_client_final(c->scram, c->scram->plain, &msg);
	if (r == C2S_SASL_OK)
		r = c2s_scram_client_final(c->scram, (const char *)msg.data, msg.len, c->vh->name, &req);
	if (r == C2S_SASL_OK && c2s_auth_request(c, &req) < 0)
		r = C2S_SASL_ETEMP;
	buf_wipe_free(&msg);
	buf_wipe_free(&req);
	return r;
}

void c2s_auth_reply(uint32_t reqid, int is_error, const uint8_t *body, size_t len)
{
	struct c2s_conn *c = c2s_sess_by_reqid(reqid);
	if (c && c->reg_wait && !c->closing) {
		c2s_reg_reply(c, is_error, body, len);
		return;
	}
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
		if (r == C2S_SASL_OK && c->scram->plain)
			r = plain_final(c);
		else if (r == C2S_SASL_OK)
			send_b64_element(c, "challenge", &out);
	} else {
		r = c2s_scram_verify_reply(c->scram, body, len, &out);
		if (r == C2S_SASL_OK && c->scram->plain)
			buf_reset(&out);	/* PLAIN's success carries no data */
		if (r == C2S_SASL_OK)
			auth_success(c, &out);
	}
	buf_wipe_free(&out);
	if (r != C2S_SASL_OK)
		auth_fail(c, r);
}
