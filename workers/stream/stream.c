/* XMPP stream negotiation for c2s (RFC 6120 §4-5): stream headers, features, STARTTLS, stream
 * errors, and dispatch of top-level elements to SASL and stanza handling by a table. */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "c2s.h"
#include "log.h"

const struct c2s_vhost *c2s_vhost_find(const char *name)
{
	for (size_t i = 0; i < env->nvhosts; i++)
		if (strcasecmp(env->vhosts[i].name, name) == 0)
			return &env->vhosts[i];
	return NULL;
}

/* A stream id: 128 random bits in hex, unpredictable and unique in practice. */
static int stream_id(char id[33])
{
	uint8_t rnd[16];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	for (int i = 0; i < 16; i++) {
		id[2 * i] = "0123456789abcdef"[rnd[i] >> 4];
		id[2 * i + 1] = "0123456789abcdef"[rnd[i] & 15];
	}
	id[32] = 0;
	return 0;
}

int c2s_stream_send_header(struct c2s_conn *c, const char *ns, const char *from, const char *id)
{
	if (c->ops->header) {	/* the transport frames the stream itself (RFC 7395 <open/>) */
		c->hdr_sent = 1;
		return c->ops->header(c, from, id);
	}
	struct buf b;
	buf_init(&b);
	int bad = buf_put_str(&b, "<?xml version='1.0'?><stream:stream xmlns='") < 0 ||
		  buf_put_str(&b, ns) < 0 ||
		  buf_put_str(&b, "' xmlns:stream='" C2S_NS_STREAMS "' id='") < 0 ||
		  buf_put_str(&b, id) < 0 || buf_put_str(&b, "'") < 0;
	if (!bad && from)
		bad = buf_put_str(&b, " from='") < 0 || buf_put_xml_escaped(&b, from, strlen(from)) < 0 ||
		      buf_put_str(&b, "'") < 0;
	bad = bad || buf_put_str(&b, c->component ? ">" : " version='1.0' xml:lang='en'>") < 0;
	if (!bad)
		bad = c2s_conn_send(c, b.data, b.len) < 0;
	buf_free(&b);
	c->hdr_sent = 1;
	return bad ? -1 : 0;
}

static int send_header(struct c2s_conn *c)
{
	char id[33];
	if (stream_id(id) < 0)
		return -1;
	if (c->component) {
		free(c->stream_id);
		if (!(c->stream_id = strdup(id)))
			return -1;
	}
	const char *from = c->component ? (c->comp >= 0 && (size_t)c->comp < env->ncomponents
						   ? env->components[c->comp].name : NULL)
					: c->vh ? c->vh->name : NULL;
	return c2s_stream_send_header(c, c->component ? C2S_NS_COMPONENT : C2S_NS_CLIENT, from, id);
}

int c2s_stream_send_end(struct c2s_conn *c)
{
	return c->ops->end ? c->ops->end(c) : c2s_conn_send_str(c, "</stream:stream>");
}

void c2s_stream_error(struct c2s_conn *c, const char *cond)
{
	if (c->closing)
		return;
	if (!c->hdr_sent)
		(void)send_header(c);
	struct buf b;
	buf_init(&b);
	if (buf_printf(&b, "<stream:error><%s xmlns='" C2S_NS_STREAM_ERRORS "'/></stream:error>", cond) == 0 &&
	    c2s_conn_send(c, b.data, b.len) == 0)
		(void)c2s_stream_send_end(c);
	buf_free(&b);
	if (!c->closing)
		c2s_conn_close(c, 1);
}

static int tls_offerable(const struct c2s_conn *c)
{
	return c->tls == C2S_TLS_NONE && c->vh && c->vh->tls && c->ops->start_tls;
}

static int send_features(struct c2s_conn *c)
{
	struct buf b;
	buf_init(&b);
	int bad = buf_put_str(&b, "<stream:features>") < 0;
	if (!c->authed) {
		if (tls_offerable(c))
			bad = bad || buf_put_str(&b, "<starttls xmlns='" C2S_NS_TLS "'>") < 0 ||
			      (c->vh->require_tls && buf_put_str(&b, "<required/>") < 0) ||
			      buf_put_str(&b, "</starttls>") < 0;
		int tls = c->tls == C2S_TLS_UP, cb = tls && c->ops->cbinding;
		if (tls || !c->vh->require_tls)
			bad = bad || buf_put_str(&b, "<mechanisms xmlns='" C2S_NS_SASL "'>") < 0 ||
			      (cb && buf_put_str(&b, "<mechanism>SCRAM-SHA-256-PLUS</mechanism>"
						      "<mechanism>SCRAM-SHA-1-PLUS</mechanism>") < 0) ||
			      buf_put_str(&b, "<mechanism>SCRAM-SHA-256</mechanism>"
					      "<mechanism>SCRAM-SHA-1</mechanism>") < 0 ||
			      (tls && buf_put_str(&b, "<mechanism>PLAIN</mechanism>") < 0) ||
			      (c->vh->anonymous && buf_put_str(&b, "<mechanism>ANONYMOUS</mechanism>") < 0) ||
			      buf_put_str(&b, "</mechanisms>") < 0 ||
			      (c2s_reg_offered(c) &&
			       buf_put_str(&b, "<register xmlns='http://jabber.org/features/iq-register'/>") < 0) ||
			      (cb && buf_put_str(&b, "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>"
						      "<channel-binding type='tls-server-end-point'/>"
						      "<channel-binding type='tls-exporter'/>"
						      "</sasl-channel-binding>") < 0);
	} else {
		bad = bad || buf_put_str(&b, "<bind xmlns='" C2S_NS_BIND "'/><session xmlns='" C2S_NS_SESSION
					     "'><optional/></session>") < 0 || c2s_caps_put(&b, c->vh) < 0;
	}
	bad = bad || buf_put_str(&b, "</stream:features>") < 0;
	if (!bad)
		bad = c2s_conn_send(c, b.data, b.len) < 0;
	buf_free(&b);
	return bad ? -1 : 0;
}

static int on_stream_start(void *arg, const struct c2s_xml_hdr *h)
{
	struct c2s_conn *c = arg;
	if (strcmp(h->name, "stream") != 0 || strcmp(h->ns, C2S_NS_STREAMS) != 0 ||
	    strcmp(h->default_ns, c->component ? C2S_NS_COMPONENT : C2S_NS_CLIENT) != 0) {
		c2s_stream_error(c, "invalid-namespace");
		return C2S_XML_STOP;
	}
	if (c->component)	/* no features: the header carries the id the handshake hashes */
		return c2s_comp_stream_start(c, h) < 0 || send_header(c) < 0 ? C2S_XML_STOP
									: C2S_XML_CONTINUE;
	/* RFC 6120 §4.7.5: we speak 1.0; an absent version means pre-1.0, a higher major is unknown */
	if (!h->version || strtoul(h->version, NULL, 10) != 1 || h->version[0] != '1' ||
	    h->version[1] != '.') {
		c2s_stream_error(c, "unsupported-version");
		return C2S_XML_STOP;
	}
	const struct c2s_vhost *vh = h->to ? c2s_vhost_find(h->to) : NULL;
	if (!vh || (c->vh && vh != c->vh)) {
		c2s_stream_error(c, "host-unknown");
		return C2S_XML_STOP;
	}
	c->vh = vh;
	if (send_header(c) < 0 || send_features(c) < 0)
		return C2S_XML_STOP;
	return C2S_XML_CONTINUE;
}

static int on_stream_end(void *arg)
{
	struct c2s_conn *c = arg;
	(void)c2s_stream_send_end(c);
	c2s_conn_close(c, 1);
	return C2S_XML_STOP;
}

static int el_starttls(struct c2s_conn *c, const struct c2s_xml_elem *e)
{
	(void)e;
	if (!tls_offerable(c) || c->authed) {
		if (c2s_conn_send_str(c, "<failure xmlns='" C2S_NS_TLS "'/>") == 0)
			(void)c2s_stream_send_end(c);
		c2s_conn_close(c, 1);
		return C2S_XML_STOP;
	}
	if (c2s_conn_send_str(c, "<proceed xmlns='" C2S_NS_TLS "'/>") < 0)
		return C2S_XML_STOP;
	c2s_conn_start_tls(c);
	c->restart = 1;
	return C2S_XML_STOP;	/* whatever followed <starttls/> in plaintext is dropped */
}

static int el_unsupported(struct c2s_conn *c, const struct c2s_xml_elem *e)
{
	(void)e;
	c2s_stream_error(c, "unsupported-stanza-type");
	return C2S_XML_STOP;
}

static const struct {
	const char *ns, *name;
	int (*fn)(struct c2s_conn *c, const struct c2s_xml_elem *e);
} elements[] = {
	{C2S_NS_TLS, "starttls", el_starttls},
	{C2S_NS_SASL, "auth", c2s_auth_element},
	{C2S_NS_SASL, "response", c2s_auth_element},
	{C2S_NS_SASL, "abort", c2s_auth_element},
	{C2S_NS_CLIENT, "message", c2s_stanza_element},
	{C2S_NS_CLIENT, "presence", c2s_stanza_element},
	{C2S_NS_CLIENT, "iq", c2s_stanza_element},
};

static int on_element(void *arg, const struct c2s_xml_elem *e)
{
	struct c2s_conn *c = arg;
	if (c->closing)
		return C2S_XML_STOP;
	if (c->component)
		return c2s_comp_element(c, e);
	for (size_t i = 0; i < sizeof(elements) / sizeof(elements[0]); i++)
		if (strcmp(e->ns, elements[i].ns) == 0 && strcmp(e->name, elements[i].name) == 0)
			return elements[i].fn(c, e);
	return el_unsupported(c, e);
}

const struct c2s_xml_ops c2s_stream_ops = {
	.stream_start = on_stream_start,
	.element = on_element,
	.stream_end = on_stream_end,
};

int c2s_stream_restart(struct c2s_conn *c)
{
	c->restart = 0;
	c->hdr_sent = 0;
	return c2s_xml_reset(c->xml);
}
