/* Stanzas from a client: resource binding and the legacy session IQ are answered here; every
 * other stanza is stamped with the session's full JID (never the client's) and sent to the router. */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stringprep.h>

#include "c2s.h"
#include "log.h"
#include "route.h"
#include "tlv.h"
#include "xe.h"
#include "xlimits.h"

static int to_server(const struct c2s_conn *c, const struct c2s_xml_elem *e)
{
	return !e->to || strcasecmp(e->to, c->vh->name) == 0;
}

void c2s_iq_reply(struct c2s_conn *c, const char *id, const char *type, const char *inner)
{
	struct buf b;
	buf_init(&b);
	int bad = buf_put_str(&b, "<iq type='") < 0 || buf_put_str(&b, type) < 0 ||
		  buf_put_str(&b, "'") < 0;
	if (!bad && id)
		bad = buf_put_str(&b, " id='") < 0 || buf_put_xml_escaped(&b, id, strlen(id)) < 0 ||
		      buf_put_str(&b, "'") < 0;
	if (!bad && inner)
		bad = buf_put_str(&b, ">") < 0 || buf_put_str(&b, inner) < 0 || buf_put_str(&b, "</iq>") < 0;
	else if (!bad)
		bad = buf_put_str(&b, "/>") < 0;
	if (!bad)
		(void)c2s_conn_send(c, b.data, b.len);
	buf_free(&b);
}

void c2s_iq_error(struct c2s_conn *c, const char *id, const char *etype, const char *cond)
{
	char inner[256];
	int n = snprintf(inner, sizeof(inner),
			 "<error type='%s'><%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>",
			 etype, cond);
	if (n > 0 && (size_t)n < sizeof(inner))
		c2s_iq_reply(c, id, "error", inner);
}

static int make_resource(const struct c2s_xml_elem *e, char *res, size_t cap)
{
	if (e->gchild_name && strcmp(e->gchild_name, "resource") == 0 && e->gchild_text[0]) {
		if (strlen(e->gchild_text) >= cap)
			return -1;
		memcpy(res, e->gchild_text, strlen(e->gchild_text) + 1);
		return stringprep_xmpp_resourceprep(res, cap) == STRINGPREP_OK && res[0] ? 0 : -1;
	}
	uint8_t rnd[8];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1 || cap < 2 * sizeof(rnd) + 5)
		return -1;
	memcpy(res, "xmppd", 5);
	for (size_t i = 0; i < sizeof(rnd); i++) {
		res[5 + 2 * i] = "0123456789abcdef"[rnd[i] >> 4];
		res[5 + 2 * i + 1] = "0123456789abcdef"[rnd[i] & 15];
	}
	res[5 + 2 * sizeof(rnd)] = 0;
	return 0;
}

static int iq_bind(struct c2s_conn *c, const struct c2s_xml_elem *e)
{
	if (c->bound) {
		c2s_iq_error(c, e->id, "cancel", "not-allowed");
		return C2S_XML_CONTINUE;
	}
	if (!e->type || strcmp(e->type, "set") != 0) {
		c2s_iq_error(c, e->id, "modify", "bad-request");
		return C2S_XML_CONTINUE;
	}
	char res[1024], jid[XE_MAX_JID + 1];
	if (make_resource(e, res, sizeof(res)) < 0) {
		c2s_iq_error(c, e->id, "modify", "bad-request");
		return C2S_XML_CONTINUE;
	}
	int n = snprintf(jid, sizeof(jid), "%s@%s/%s", c->user, c->vh->name, res);
	if (n < 0 || (size_t)n >= sizeof(jid)) {
		c2s_iq_error(c, e->id, "modify", "bad-request");
		return C2S_XML_CONTINUE;
	}
	struct c2s_conn *old = c2s_sess_by_jid(jid);
	if (old && c->vh->refuse_conflict) {
		c2s_iq_error(c, e->id, "cancel", "conflict");
		return C2S_XML_CONTINUE;
	}
	if (old) {
		log_info("resource conflict, replacing the old session", "jid=%s old=%llu new=%llu", jid,
			 (unsigned long long)old->sid, (unsigned long long)c->sid);
		c2s_stream_error(old, "conflict");	/* unbinds it before we bind */
	}
	/* answered when the router holds the route (c2s_stanza_bound): a stanza from any instance
	 * sent once the client has its result finds the session */
	free(c->bind_id);
	c->bind_id = strdup(e->id);	/* stanza_check: an IQ has an id */
	c->priority = 0;
	if (!c->bind_id || c2s_sess_bind_jid(c, jid) < 0 || c2s_rl_bind(c) < 0) {
		c2s_sess_unbind_jid(c);
		c2s_iq_error(c, e->id, "wait", "internal-server-error");
		free(c->bind_id);
		c->bind_id = NULL;
	}
	return C2S_XML_CONTINUE;
}

/* RFC 6120 §8.3.2: the error type that goes with each condition a router may give. */
static const char *bind_error_type(const char *cond)
{
	if (strcmp(cond, "bad-request") == 0)
		return "modify";
	return strcmp(cond, "internal-server-error") == 0 ? "wait" : "cancel";
}

void c2s_stanza_bound(struct c2s_conn *c, const char *cond)
{
	struct c2s_xml_elem e = {.id = c->bind_id};	/* the bind IQ, as far as the answer needs it */
	if (cond) {
		log_info("bind refused by the router", "sid=%llu jid=%s condition=%s", (unsigned long long)c->sid,
			 c->jid, cond);
		c2s_sess_unbind_jid(c);
		c2s_iq_error(c, e.id, bind_error_type(cond), cond);
	} else {
		c2s_conn_bound(c);
		struct buf inner;
		buf_init(&inner);
		if (buf_put_str(&inner, "<bind xmlns='" C2S_NS_BIND "'><jid>") == 0 &&
		    buf_put_xml_escaped(&inner, c->jid, strlen(c->jid)) == 0 &&
		    buf_put_str(&inner, "</jid></bind>") == 0 && buf_put_u8(&inner, 0) == 0)
			c2s_iq_reply(c, e.id, "result", (const char *)inner.data);
		buf_free(&inner);
	}
	free(c->bind_id);
	c->bind_id = NULL;
}

static int iq_session(struct c2s_conn *c, const struct c2s_xml_elem *e)
{
	c2s_iq_reply(c, e->id, "result", NULL);
	return C2S_XML_CONTINUE;
}

static const struct {
	const char *name, *ns;
	int need_bound;
	int (*fn)(struct c2s_conn *c, const struct c2s_xml_elem *e);
} server_iqs[] = {
	{"bind", C2S_NS_BIND, 0, iq_bind},
	{"session", C2S_NS_SESSION, 1, iq_session},
};

static const struct {
	const char *name;
	uint8_t stype;
} stypes[] = {
	{"message", XE_ST_MESSAGE},
	{"presence", XE_ST_PRESENCE},
	{"iq", XE_ST_IQ},
};

/* Remembers a broadcast presence and its priority for ROUTE_SYNC after a router restart. */
static void keep_presence(struct c2s_conn *c, const struct c2s_xml_elem *e, const struct buf *body)
{
	if (e->to || (e->type && strcmp(e->type, "unavailable") != 0))
		return;
	char *p = malloc(body->len + 1);
	if (!p)
		return;
	memcpy(p, body->data, body->len);
	p[body->len] = 0;
	free(c->presence);
	c->presence = p;
	long prio = e->priority ? strtol(e->priority, NULL, 10) : 0;
	c->priority = (int32_t)(prio < -128 ? -128 : prio > 127 ? 127 : prio);
}

/* Answers a stanza with a modify error of condition cond; an error is never answered. No from:
 * the error comes from the account's server (for jid-malformed the address is not a JID at all). */
static void bounce_modify(struct c2s_conn *c, const struct c2s_xml_elem *e, const char *cond)
{
	if (e->type && strcmp(e->type, "error") == 0)
		return;
	struct buf b;
	buf_init(&b);
	int bad = buf_printf(&b, "<%s type='error'", e->name) < 0;
	if (!bad && e->id)
		bad = buf_put_str(&b, " id='") < 0 || buf_put_xml_escaped(&b, e->id, strlen(e->id)) < 0 ||
		      buf_put_str(&b, "'") < 0;
	bad = bad || buf_printf(&b, "><error type='modify'><%s "
			     "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></%s>", cond, e->name) < 0;
	if (!bad)
		(void)c2s_conn_send(c, b.data, b.len);
	buf_free(&b);
}

static int forward(struct c2s_conn *c, const struct c2s_xml_elem *e, uint8_t stype)
{
	char to[XE_MAX_JID + 1] = "";
	if (e->to && c2s_jid_prep(e->to, to, sizeof(to)) < 0) {
		bounce_modify(c, e, "jid-malformed");	/* RFC 6120 §8.3.3.8 */
		return C2S_XML_CONTINUE;
	}
	struct buf body;
	buf_init(&body);
	if (c2s_xml_put_with_from(&body, e, c->jid) < 0) {
		buf_free(&body);
		c2s_stream_error(c, "internal-server-error");
		return C2S_XML_STOP;
	}
	if (stype == XE_ST_PRESENCE)
		keep_presence(c, e, &body);
	if (c2s_rl_send(XE_STANZA, stype, c->sid, 0, c->jid, to, body.data, body.len) < 0)
		env->cnt.send_errors++;
	buf_free(&body);
	return C2S_XML_CONTINUE;
}

/* RFC 6120 §8: the type values each stanza kind may carry (NULL ends; absent is checked apart). */
static const char *const msg_types[] = {"chat", "error", "groupchat", "headline", "normal", NULL};
static const char *const pres_types[] = {"error", "probe", "subscribe", "subscribed", "unavailable",
					 "unsubscribe", "unsubscribed", NULL};
static const char *const iq_types[] = {"get", "set", "result", "error", NULL};

static int type_valid(uint8_t stype, const char *type)
{
	const char *const *t = stype == XE_ST_MESSAGE ? msg_types : stype == XE_ST_PRESENCE ? pres_types : iq_types;
	if (!type)
		return stype != XE_ST_IQ;
	for (; *t; t++)
		if (strcmp(*t, type) == 0)
			return 1;
	return 0;
}

/* Checks RFC 6120 asks of a stanza before it is routed; -1 after answering bad-request. */
static int stanza_check(struct c2s_conn *c, const struct c2s_xml_elem *e, uint8_t stype)
{
	int ok = type_valid(stype, e->type);
	if (ok && stype == XE_ST_IQ) {
		int req = strcmp(e->type, "get") == 0 || strcmp(e->type, "set") == 0;
		ok = e->id && e->id[0] &&
		     (req ? e->nchildren == 1 : strcmp(e->type, "result") == 0 ? e->nchildren <= 1 : 1);
	}
	if (ok)
		return 0;
	bounce_modify(c, e, "bad-request");
	return -1;
}

int c2s_stanza_element(struct c2s_conn *c, const struct c2s_xml_elem *e)
{
	uint8_t stype = XE_ST_NONE;
	for (size_t i = 0; i < sizeof(stypes) / sizeof(stypes[0]); i++)
		if (strcmp(e->name, stypes[i].name) == 0)
			stype = stypes[i].stype;
	if (c2s_reg_wanted(c, e))
		return c2s_reg_iq(c, e);
	if (!c->authed) {
		c2s_stream_error(c, "not-authorized");
		return C2S_XML_STOP;
	}
	if (stanza_check(c, e, stype) < 0)
		return C2S_XML_CONTINUE;
	if (stype == XE_ST_IQ && e->child_name && to_server(c, e)) {
		for (size_t i = 0; i < sizeof(server_iqs) / sizeof(server_iqs[0]); i++) {
			if (strcmp(e->child_name, server_iqs[i].name) != 0 ||
			    strcmp(e->child_ns, server_iqs[i].ns) != 0)
				continue;
			if (server_iqs[i].need_bound && !c->bound)
				break;
			return server_iqs[i].fn(c, e);
		}
	}
	if (!c->bound) {
		c2s_stream_error(c, "not-authorized");
		return C2S_XML_STOP;
	}
	return forward(c, e, stype);
}
