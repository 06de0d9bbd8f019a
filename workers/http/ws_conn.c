/* WebSocket connections at /xmpp-websocket: the RFC 6455 upgrade requiring the RFC 7395 "xmpp"
 * sub-protocol, frames in, control frames answered, close codes out. Until XMPP sessions exist in
 * this worker an <open/> is answered honestly: our <open/>, a stream error and <close/>. */
#include <expat.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "log.h"

#define NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"
#define NS_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_ETHERX "http://etherx.jabber.org/streams"
#define WS_MAX_ATTR 1024u

/* ---- the handshake ---- */

static const char *field_value(const struct http_req *r, const char *name, size_t *n)
{
	const struct http_field *f = http_field_get(r, name);
	*n = f ? f->value_len : 0;
	return f ? f->value : NULL;
}

void http_ws_upgrade(struct http_conn *c, const struct http_req *r)
{
	size_t ul, cl, vl, kl, pl;
	const char *up = field_value(r, "upgrade", &ul), *conn = field_value(r, "connection", &cl);
	const char *ver = field_value(r, "sec-websocket-version", &vl);
	const char *key = field_value(r, "sec-websocket-key", &kl);
	const char *proto = field_value(r, "sec-websocket-protocol", &pl);
	char accept[29], extra[256];
	if (r->minor != 1) {
		http_error(c, r, 400, NULL);
		return;
	}
	if (!up || !http_token_in(up, ul, "websocket") || !conn || !http_token_in(conn, cl, "upgrade")) {
		http_error(c, r, 426, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
		return;
	}
	if (!ver || vl != 2 || memcmp(ver, "13", 2) != 0) {	/* RFC 6455 §4.4 */
		http_error(c, r, 426, "Sec-WebSocket-Version: 13\r\n");
		return;
	}
	if (!key || ws_accept_key(key, kl, accept) < 0) {
		http_error(c, r, 400, NULL);
		return;
	}
	if (!proto || !http_token_in(proto, pl, "xmpp")) {
		/* RFC 7395 §3.1: XMPP needs the sub-protocol; refusing says so at once instead of
		 * upgrading to a connection the client must then close */
		static const char msg[] = "400 Bad Request: the WebSocket sub-protocol \"xmpp\" is required (RFC 7395)\n";
		http_respond(c, r, 400, "text/plain; charset=utf-8", NULL, msg, sizeof(msg) - 1);
		return;
	}
	snprintf(extra, sizeof(extra),
		 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
		 "Sec-WebSocket-Protocol: xmpp\r\n", accept);
	http_respond(c, r, 101, NULL, extra, NULL, 0);
	c->mode = HTTP_MODE_WS;
	c->msg.max = env->conf.body_max;
	http_conn_timer(c, WS_PING_INTERVAL);
	log_info("websocket open", "ip=%s tls=%d", c->ip, c->ssl != NULL);
}

/* ---- frames out ---- */

static void ws_send(struct http_conn *c, uint8_t op, const void *p, size_t n)
{
	struct buf b;
	buf_init(&b);
	if (ws_frame_put(&b, op, p, n) == 0)
		http_conn_send(c, b.data, b.len);
	buf_free(&b);
}

static void ws_send_text(struct http_conn *c, const char *s)
{
	ws_send(c, WS_OP_TEXT, s, strlen(s));
}

/* Sends a close frame with code and reason, then closes once it is out. */
static void ws_close(struct http_conn *c, uint16_t code, const char *reason)
{
	if (!c->ws_close_sent) {
		uint8_t p[WS_CONTROL_MAX];
		size_t rl = strlen(reason) > WS_CONTROL_MAX - 2 ? WS_CONTROL_MAX - 2 : strlen(reason);
		p[0] = (uint8_t)(code >> 8);
		p[1] = (uint8_t)code;
		memcpy(p + 2, reason, rl);
		ws_send(c, WS_OP_CLOSE, p, code == 1005 ? 0 : rl + 2);
		c->ws_close_sent = 1;
		log_info("websocket close", "ip=%s code=%u reason=\"%s\"", c->ip, code, reason);
	}
	http_conn_close_after_flush(c);
}

/* ---- XMPP framing (RFC 7395) before sessions exist ---- */

struct ws_xml {
	XML_Parser x;
	int depth, bad;
	char root[64];			/* "ns local" of the first element, truncated */
	char to[WS_MAX_ATTR], version[16];
};

static void XMLCALL ws_xml_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct ws_xml *w = ud;
	if (w->depth++ != 0)
		return;
	snprintf(w->root, sizeof(w->root), "%s", name);
	for (size_t i = 0; attrs[i]; i += 2) {
		if (strcmp(attrs[i], "to") == 0)
			snprintf(w->to, sizeof(w->to), "%s", attrs[i + 1]);
		else if (strcmp(attrs[i], "version") == 0)
			snprintf(w->version, sizeof(w->version), "%s", attrs[i + 1]);
	}
}

static void XMLCALL ws_xml_end(void *ud, const XML_Char *name)
{
	(void)name;
	((struct ws_xml *)ud)->depth--;
}

static void XMLCALL ws_xml_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
				   const XML_Char *pubid, int has_internal)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal;
	struct ws_xml *w = ud;
	w->bad = 1;
	XML_StopParser(w->x, XML_FALSE);
}

static void XMLCALL ws_xml_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
	(void)target, (void)data;
	struct ws_xml *w = ud;
	w->bad = 1;
	XML_StopParser(w->x, XML_FALSE);
}

/* One message = one complete element (RFC 7395 §3.3.3); 0 when it parsed, else -1. */
static int ws_xml_parse(const uint8_t *p, size_t n, struct ws_xml *w)
{
	memset(w, 0, sizeof(*w));
	if (n == 0 || n > INT32_MAX)
		return -1;
	XML_Parser x = XML_ParserCreateNS("UTF-8", ' ');
	if (!x)
		return -1;
	w->x = x;
	XML_SetUserData(x, w);
	XML_SetElementHandler(x, ws_xml_start, ws_xml_end);
	XML_SetStartDoctypeDeclHandler(x, ws_xml_doctype);
	XML_SetProcessingInstructionHandler(x, ws_xml_pi);
	int ok = XML_Parse(x, (const char *)p, (int)n, 1) == XML_STATUS_OK;
	XML_ParserFree(x);
	return ok && !w->bad ? 0 : -1;
}

static const struct http_vhost *ws_vhost(const char *name)
{
	for (size_t i = 0; i < env->conf.nvhosts; i++)
		if (strcasecmp(env->conf.vhosts[i].name, name) == 0)
			return &env->conf.vhosts[i];
	return NULL;
}

/* Our <open/>, then the stream error, then <close/> and the WebSocket close (RFC 7395 §3.6). */
static void ws_stream_error(struct http_conn *c, const char *from, const char *cond, const char *text)
{
	uint8_t rnd[8];
	char id[17] = "0";
	struct buf b;
	if (RAND_bytes(rnd, sizeof(rnd)) == 1)
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	buf_init(&b);
	buf_put_str(&b, "<open xmlns='" NS_FRAMING "' from='");
	buf_put_xml_escaped(&b, from, strlen(from));
	buf_printf(&b, "' id='%s' version='1.0' xml:lang='en'/>", id);
	if (b.data)
		ws_send(c, WS_OP_TEXT, b.data, b.len);
	buf_reset(&b);
	buf_printf(&b, "<stream:error xmlns:stream='" NS_ETHERX "'><%s xmlns='" NS_STREAMS "'/>"
		       "<text xmlns='" NS_STREAMS "' xml:lang='en'>%s</text></stream:error>", cond, text);
	if (b.data)
		ws_send(c, WS_OP_TEXT, b.data, b.len);
	buf_free(&b);
	ws_send_text(c, "<close xmlns='" NS_FRAMING "'/>");
	log_info("websocket stream refused", "ip=%s condition=%s", c->ip, cond);
	ws_close(c, WS_CLOSE_NORMAL, cond);
}

static void ws_xmpp_message(struct http_conn *c, const uint8_t *p, size_t n)
{
	struct ws_xml w;
	const char *deflt = env->conf.nvhosts ? env->conf.vhosts[0].name : "localhost";
	if (ws_xml_parse(p, n, &w) < 0) {
		ws_stream_error(c, deflt, "not-well-formed", "A message must be one well-formed element");
		return;
	}
	if (strcmp(w.root, NS_FRAMING " close") == 0) {	/* the client ends the stream */
		ws_send_text(c, "<close xmlns='" NS_FRAMING "'/>");
		ws_close(c, WS_CLOSE_NORMAL, "");
		return;
	}
	if (strcmp(w.root, NS_FRAMING " open") != 0) {
		const char *local = strrchr(w.root, ' ');
		ws_stream_error(c, deflt, local && strcmp(local, " open") == 0 ? "invalid-namespace" : "not-authorized",
				"The stream must be opened with <open/> (RFC 7395)");
		return;
	}
	const struct http_vhost *vh = ws_vhost(w.to);
	if (!vh) {
		ws_stream_error(c, deflt, "host-unknown", "This server does not serve that host");
		return;
	}
	if (strcmp(w.version, "1.0") != 0) {
		ws_stream_error(c, vh->name, "unsupported-version", "Only version 1.0 is supported");
		return;
	}
	ws_stream_error(c, vh->name, "service-unavailable",
			"XMPP sessions over WebSocket are not available on this server yet");
}

/* ---- frames in ---- */

static void ws_control(struct http_conn *c, const struct ws_frame *f, const uint8_t *p)
{
	uint16_t code;
	int rc;
	switch (f->opcode) {
	case WS_OP_PING:
		ws_send(c, WS_OP_PONG, p, (size_t)f->len);
		break;
	case WS_OP_PONG:
		break;
	case WS_OP_CLOSE:
		rc = ws_close_payload(p, (size_t)f->len, &code);
		if (rc < 0)
			ws_close(c, (uint16_t)-rc, "invalid close frame");
		else	/* echo the code (§5.5.1); an empty close gets an empty one */
			ws_close(c, code, "");
		break;
	default:
		break;
	}
}

/* One complete frame whose payload is unmasked; -1 when the connection is closing. */
static int ws_frame(struct http_conn *c, const struct ws_frame *f, const uint8_t *p)
{
	uint8_t op = 0;
	if (f->opcode >= WS_OP_CLOSE) {
		ws_control(c, f, p);
		return c->closing ? -1 : 0;
	}
	int rc = ws_msg_feed(&c->msg, f, p, &op);
	if (rc < 0) {
		ws_close(c, (uint16_t)-rc, rc == -WS_CLOSE_TOO_BIG ? "message too big"
					   : rc == -WS_CLOSE_INVALID_DATA ? "invalid UTF-8" : "protocol error");
		return -1;
	}
	if (rc == 0)
		return 0;
	if (op == WS_OP_BINARY) {
		ws_close(c, WS_CLOSE_UNSUPPORTED, "XMPP uses text frames (RFC 7395)");
		return -1;
	}
	ws_xmpp_message(c, c->msg.data.data, c->msg.data.len);
	buf_free(&c->msg.data);
	return c->closing ? -1 : 0;
}

void http_ws_input(struct http_conn *c)
{
	while (!c->closing && !c->dead && c->in.len > 0) {
		struct ws_frame f;
		int rc = ws_frame_parse(c->in.data, c->in.len, env->conf.body_max, &f);
		if (rc == 0)
			return;
		if (rc < 0) {
			ws_close(c, (uint16_t)-rc, rc == -WS_CLOSE_TOO_BIG ? "frame too big" : "protocol error");
			return;
		}
		if (c->in.len - f.hdr_len < f.len)
			return;	/* the payload is still coming */
		uint8_t *payload = c->in.data + f.hdr_len;
		ws_unmask(payload, (size_t)f.len, f.mask, 0);
		c->ws_ping_out = 0;
		http_conn_timer(c, WS_PING_INTERVAL);
		int closing = ws_frame(c, &f, payload) < 0;
		buf_consume(&c->in, f.hdr_len + (size_t)f.len);
		if (closing)
			return;
	}
}

void http_ws_shutdown(struct http_conn *c)
{
	ws_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
}

void http_ws_timer(struct http_conn *c)
{
	if (c->ws_ping_out) {
		ws_close(c, WS_CLOSE_GOING_AWAY, "idle timeout");
		return;
	}
	c->ws_ping_out = 1;
	ws_send(c, WS_OP_PING, "", 0);
	http_conn_timer(c, WS_PING_INTERVAL);
}
