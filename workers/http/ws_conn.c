/* WebSocket connections at /xmpp-websocket: the RFC 6455 upgrade requiring the RFC 7395 "xmpp"
 * sub-protocol, frames in, control frames answered, close codes out. Each text message goes to
 * the XMPP stream of the connection (ws_xmpp.c). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "log.h"


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
	c->msg.max = henv->conf.body_max + WS_MSG_SLACK;
	c->secure = http_request_secure(c, r);
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

void http_ws_text(struct http_conn *c, const void *p, size_t n)
{
	ws_send(c, WS_OP_TEXT, p, n);
}

void http_ws_close(struct http_conn *c, uint16_t code, const char *reason)
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
			http_ws_close(c, (uint16_t)-rc, "invalid close frame");
		else	/* echo the code (§5.5.1); an empty close gets an empty one */
			http_ws_close(c, code, "");
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
		http_ws_close(c, (uint16_t)-rc, rc == -WS_CLOSE_TOO_BIG ? "message too big"
					   : rc == -WS_CLOSE_INVALID_DATA ? "invalid UTF-8" : "protocol error");
		return -1;
	}
	if (rc == 0)
		return 0;
	if (op == WS_OP_BINARY) {
		http_ws_close(c, WS_CLOSE_UNSUPPORTED, "XMPP uses text frames (RFC 7395)");
		return -1;
	}
	http_wsx_message(c, c->msg.data.data, c->msg.data.len);
	buf_free(&c->msg.data);
	return c->closing ? -1 : 0;
}

void http_ws_input(struct http_conn *c)
{
	while (!c->closing && !c->dead && c->in.len > 0 && !http_wsx_blocked(c)) {
		struct ws_frame f;
		int rc = ws_frame_parse(c->in.data, c->in.len, henv->conf.body_max + WS_MSG_SLACK, &f);
		if (rc == 0)
			return;
		if (rc < 0) {
			http_ws_close(c, (uint16_t)-rc, rc == -WS_CLOSE_TOO_BIG ? "frame too big" : "protocol error");
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
	if (c->xs) {
		http_wsx_shutdown(c);
		return;
	}
	http_ws_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
}

void http_ws_timer(struct http_conn *c)
{
	if (c->ws_ping_out) {
		http_ws_close(c, WS_CLOSE_GOING_AWAY, "idle timeout");
		return;
	}
	c->ws_ping_out = 1;
	ws_send(c, WS_OP_PING, "", 0);
	http_conn_timer(c, WS_PING_INTERVAL);
}
