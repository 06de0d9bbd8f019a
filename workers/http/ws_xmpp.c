/* The XMPP stream of a WebSocket (RFC 7395) on the shared stream engine: each text message is one
 * complete element, <open/> and <close/> frame the stream, everything else goes through the same
 * parser, SASL, bind, limits and router link as a c2s stream. It never parses a stanza itself. */
#include <errno.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "http.h"
#include "log.h"
#include "tlsctx.h"

#define NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"
#define WS_MAX_ATTR 1024u
#define WS_CLOSE_TAG "<close xmlns='" NS_FRAMING "'/>"

/* ---- one message = one element: the framing check ---- */

struct ws_xml {
	XML_Parser x;
	int depth, bad, restricted;
	long root_at;			/* byte offset of the element's start tag */
	char root[64];			/* "ns local" of the element, truncated */
	char to[WS_MAX_ATTR], version[16], lang[64];
};

static void XMLCALL ws_xml_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct ws_xml *w = ud;
	if (w->depth++ != 0)
		return;
	w->root_at = (long)XML_GetCurrentByteIndex(w->x);
	snprintf(w->root, sizeof(w->root), "%s", name);
	for (size_t i = 0; attrs[i]; i += 2) {
		if (strcmp(attrs[i], "to") == 0)
			snprintf(w->to, sizeof(w->to), "%s", attrs[i + 1]);
		else if (strcmp(attrs[i], "version") == 0)
			snprintf(w->version, sizeof(w->version), "%s", attrs[i + 1]);
		else if (strcmp(attrs[i], C2S_NS_XML " lang") == 0)
			snprintf(w->lang, sizeof(w->lang), "%s", attrs[i + 1]);
	}
}

static void XMLCALL ws_xml_end(void *ud, const XML_Char *name)
{
	(void)name;
	((struct ws_xml *)ud)->depth--;
}

static void ws_xml_restricted(struct ws_xml *w)
{
	w->bad = w->restricted = 1;
	XML_StopParser(w->x, XML_FALSE);
}

static void XMLCALL ws_xml_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
				   const XML_Char *pubid, int has_internal)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal;
	ws_xml_restricted(ud);
}

static void XMLCALL ws_xml_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
	(void)target, (void)data;
	ws_xml_restricted(ud);
}

static void XMLCALL ws_xml_comment(void *ud, const XML_Char *data)
{
	(void)data;
	ws_xml_restricted(ud);
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
	XML_SetCommentHandler(x, ws_xml_comment);
	int ok = XML_Parse(x, (const char *)p, (int)n, 1) == XML_STATUS_OK;
	XML_ParserFree(x);
	return ok && !w->bad ? 0 : -1;
}

/* ---- the transport ops the engine drives ---- */

static struct http_conn *hc_of(struct c2s_conn *x)
{
	return x->tp;
}

/* Adds decl at the end of the first tag when the tag lacks attr: each message must stand alone
 * (RFC 7395 §3.3.3), while the engine writes as inside one stream. */
static int put_standalone(struct buf *b, const char *p, size_t n, const char *decl, const char *attr)
{
	const char *gt = memchr(p, '>', n);
	if (!gt)
		return buf_put(b, p, n);
	size_t tag = (size_t)(gt - p), alen = strlen(attr);
	for (size_t i = 0; i + alen <= tag; i++)
		if (memcmp(p + i, attr, alen) == 0)
			return buf_put(b, p, n);
	size_t at = tag > 0 && p[tag - 1] == '/' ? tag - 1 : tag;
	return buf_put(b, p, at) < 0 || buf_put_str(b, decl) < 0 || buf_put(b, p + at, n - at) < 0 ? -1 : 0;
}

int http_xmpp_put_standalone(struct buf *b, const void *data, size_t n)
{
	const char *p = data;
	if (n > 8 && memcmp(p, "<stream:", 8) == 0)
		return put_standalone(b, p, n, " xmlns:stream='" C2S_NS_STREAMS "'", "xmlns:stream=");
	if (n > 1 && p[0] == '<' && p[1] != '/' && p[1] != '?')
		return put_standalone(b, p, n, " xmlns='" C2S_NS_CLIENT "'", "xmlns=");
	return buf_put(b, p, n);
}

static int wsx_send(struct c2s_conn *x, const void *p, size_t n)
{
	struct http_conn *hc = hc_of(x);
	if (x->closing || !hc || hc->closing || hc->dead)
		return -1;
	if (hc->out.len + n > env->out_max) {
		log_notice("web client does not read, closing", "sid=%llu queued=%zu", (unsigned long long)x->sid,
			   hc->out.len);
		c2s_conn_close(x, 0);
		return -1;
	}
	struct buf b;
	buf_init(&b);
	int rc = http_xmpp_put_standalone(&b, p, n);
	if (rc == 0)
		http_ws_text(hc, b.data, b.len);
	buf_free(&b);
	http_conn_wake(hc);
	return rc;
}

static void wsx_close(struct c2s_conn *x, int graceful)
{
	struct http_conn *hc = hc_of(x);
	if (!x->closing)
		c2s_conn_end_session(x);
	if (!hc)
		return;
	if (graceful) {
		http_ws_close(hc, WS_CLOSE_NORMAL, "");
	} else {
		hc->dead = 1;	/* freed by its own I/O step, which the wake runs */
	}
	http_conn_wake(hc);
}

static void wsx_hold(struct c2s_conn *x, int on)
{
	x->held = on ? 1 : 0;
	if (!on && hc_of(x))
		http_conn_wake(hc_of(x));
}

static void wsx_wake(struct c2s_conn *x)
{
	if (hc_of(x))
		http_conn_wake(hc_of(x));
}

static int wsx_header(struct c2s_conn *x, const char *from, const char *id)
{
	struct buf b;
	buf_init(&b);
	if (!from)
		from = env->nvhosts ? env->vhosts[0].name : "localhost";
	int bad = buf_put_str(&b, "<open xmlns='" NS_FRAMING "' from='") < 0 ||
		  buf_put_xml_escaped(&b, from, strlen(from)) < 0 ||
		  buf_printf(&b, "' id='%s' version='1.0' xml:lang='en'/>", id) < 0 ||
		  wsx_send(x, b.data, b.len) < 0;
	buf_free(&b);
	return bad ? -1 : 0;
}

static int wsx_end(struct c2s_conn *x)
{
	return wsx_send(x, WS_CLOSE_TAG, sizeof(WS_CLOSE_TAG) - 1);
}

/* Over the https listener the WebSocket has its own TLS session, so -PLUS can bind to it; behind a
 * proxy the TLS session is the proxy's and there is none to bind to. */
static int wsx_cbinding(struct c2s_conn *x, int type, uint8_t *out, size_t cap)
{
	struct http_conn *hc = hc_of(x);
	if (!hc || !hc->ssl || !hc->tls_up || (type != C2S_CB_EXPORTER && type != C2S_CB_ENDPOINT))
		return -1;
	return tls_channel_binding(hc->ssl, type == C2S_CB_EXPORTER, out, cap);
}

static const struct c2s_conn_ops ws_ops = {
	.send = wsx_send,
	.close = wsx_close,
	.hold = wsx_hold,
	.wake = wsx_wake,
	.header = wsx_header,
	.end = wsx_end,
	.name = "ws",
};

/* The same on the https listener, where -PLUS is offered. */
static const struct c2s_conn_ops wss_ops = {
	.send = wsx_send,
	.close = wsx_close,
	.hold = wsx_hold,
	.wake = wsx_wake,
	.header = wsx_header,
	.end = wsx_end,
	.cbinding = wsx_cbinding,
	.name = "wss",
};

/* ---- the stream's life ---- */

static void wsx_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct c2s_conn *x = w->data;
	if (!x->closing)
		c2s_conn_idle(x);
}

static struct c2s_conn *wsx_new(struct http_conn *hc)
{
	struct c2s_conn *x = calloc(1, sizeof(*x));
	if (!x || c2s_conn_setup(x, hc->ssl ? &wss_ops : &ws_ops, hc, wsx_timer_cb) < 0) {
		free(x);
		return NULL;
	}
	memcpy(x->addr, hc->client, sizeof(x->addr));
	x->tls = hc->secure ? C2S_TLS_UP : C2S_TLS_NONE;
	hc->xs = x;
	log_info("websocket stream", "sid=%llu ip=%s secure=%d", (unsigned long long)x->sid, hc->ip,
		 hc->secure);
	if (c2s_lim_addr_acquire(x) < 0) {
		log_notice("too many unauthenticated streams from one address", "sid=%llu ip=%s",
			   (unsigned long long)x->sid, hc->ip);
		c2s_stream_error(x, "policy-violation");
		return NULL;
	}
	return x;
}

void http_wsx_free(struct http_conn *hc)
{
	struct c2s_conn *x = hc->xs;
	if (!x)
		return;
	hc->xs = NULL;
	if (!x->closing)
		c2s_conn_end_session(x);	/* the route goes: the router says unavailable */
	c2s_conn_teardown(x);
	free(x);
}

int http_wsx_blocked(const struct http_conn *hc)
{
	const struct c2s_conn *x = hc->xs;
	return x && !x->closing && (x->held || x->throttled || env->paused);
}

void http_wsx_shutdown(struct http_conn *hc)
{
	if (hc->xs && !hc->xs->closing)
		c2s_stream_error(hc->xs, "system-shutdown");
	else
		http_ws_close(hc, WS_CLOSE_GOING_AWAY, "server shutting down");
}

/* Feeds bytes to the stream parser as c2s does with a socket read. */
static void wsx_feed(struct c2s_conn *x, const void *p, size_t n)
{
	int r = c2s_xml_feed(x->xml, p, n);
	if (r < 0) {
		log_info("stream error", "sid=%llu reason=\"%s\"", (unsigned long long)x->sid, c2s_xml_strerror(r));
		c2s_stream_error(x, c2s_xml_condition(r));
		return;
	}
	if (r == C2S_XML_STOPPED && !x->closing && x->restart && c2s_stream_restart(x) < 0)
		c2s_conn_close(x, 0);
}

/* <open/>: a stream header for the engine, which checks the host and version and answers with
 * our <open/> and the features; after SASL success the client opens again (the restart). */
static void wsx_open(struct c2s_conn *x, const struct ws_xml *w)
{
	if (x->hdr_sent) {
		c2s_stream_error(x, "invalid-xml");	/* only a restart may open again */
		return;
	}
	struct buf b;
	buf_init(&b);
	int bad = buf_put_str(&b, "<stream:stream xmlns='" C2S_NS_CLIENT "' xmlns:stream='" C2S_NS_STREAMS "'") < 0;
	if (!bad && w->to[0])
		bad = buf_put_str(&b, " to='") < 0 || buf_put_xml_escaped(&b, w->to, strlen(w->to)) < 0 ||
		      buf_put_str(&b, "'") < 0;
	if (!bad && w->version[0])
		bad = buf_put_str(&b, " version='") < 0 ||
		      buf_put_xml_escaped(&b, w->version, strlen(w->version)) < 0 || buf_put_str(&b, "'") < 0;
	if (!bad && buf_put_str(&b, ">") == 0)
		wsx_feed(x, b.data, b.len);
	else
		c2s_stream_error(x, "internal-server-error");
	buf_free(&b);
}

void http_wsx_message(struct http_conn *hc, const uint8_t *p, size_t n)
{
	struct c2s_conn *x = hc->xs ? hc->xs : wsx_new(hc);
	if (!x || x->closing)
		return;
	x->active = 1;
	int throttled = c2s_lim_rate_take(x, n);
	(void)throttled;	/* the next message waits: http_wsx_blocked */
	struct ws_xml w;
	if (ws_xml_parse(p, n, &w) < 0) {
		log_info("websocket message is not one element", "sid=%llu restricted=%d", (unsigned long long)x->sid,
			 w.restricted);
		c2s_stream_error(x, w.restricted ? "restricted-xml" : "not-well-formed");
		return;
	}
	if (strcmp(w.root, NS_FRAMING " open") == 0) {
		wsx_open(x, &w);
		return;
	}
	if (strcmp(w.root, NS_FRAMING " close") == 0) {
		if (x->hdr_sent) {
			wsx_feed(x, "</stream:stream>", 16);	/* the engine answers <close/> and ends */
		} else {
			(void)wsx_end(x);	/* a stream never opened: just the close */
			c2s_conn_close(x, 1);
		}
		return;
	}
	if (!x->hdr_sent) {
		const char *local = strrchr(w.root, ' ');
		c2s_stream_error(x, local && strcmp(local, " open") == 0 ? "invalid-namespace" : "not-authorized");
		return;
	}
	if (w.root_at < 0 || (size_t)w.root_at >= n) {
		c2s_stream_error(x, "not-well-formed");
		return;
	}
	wsx_feed(x, p + w.root_at, n - (size_t)w.root_at);	/* without a prolog */
}

/* ---- the engine in this worker ---- */

static ev_timer sweep;	/* lives as long as the process; the engine's limits table is swept */

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	c2s_lim_sweep();
}

void http_wsx_start(void)
{
	if (c2s_rl_start() < 0)
		fatal("cannot dial the router", "errno=%d", errno);
	ev_timer_init(&sweep, sweep_cb, C2S_SWEEP_INTERVAL, C2S_SWEEP_INTERVAL);
	ev_timer_start(env->loop, &sweep);
}
