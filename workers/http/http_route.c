/* Request routing: a table of paths and the methods each allows, responses with correct status,
 * headers and bodies, XEP-0156 host-meta (XRD and JSON) and the static web client from memory. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"
#include "log.h"

#define NS_XRD "http://docs.oasis-open.org/ns/xri/xrd-1.0"
#define REL_BOSH "urn:xmpp:alt-connections:xbosh"
#define REL_WS "urn:xmpp:alt-connections:websocket"
#define CORS_HEADERS "Access-Control-Allow-Origin: *\r\n"
/* For our HTML pages: scripts only from here (no inline script), WebAssembly for Converse's
 * OMEMO, connections back to this origin (BOSH) and its ws:/wss: endpoint, images and media
 * from https: (shared in chats), never framed. */
#define CSP_HTML                                                                                   \
	"Content-Security-Policy: default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "     \
	"style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https:; connect-src 'self' ws: wss:; " \
	"media-src 'self' data: blob: https:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'\r\n" \
	"Referrer-Policy: same-origin\r\n"

typedef void (*route_fn)(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len);

static void route_ws(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len);
static void route_xrd(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len);
static void route_json(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len);
static void route_static(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len);

static const struct route {
	const char *path;
	int prefix;		/* path is a prefix (the static tree) */
	unsigned methods;	/* HTTP_M_BIT() set; OPTIONS is always answered */
	const char *allow;	/* the Allow header value */
	route_fn fn;
} routes[] = {
	{"/http-bind", 0, HTTP_M_BIT(HTTP_M_POST), "POST, OPTIONS", http_bosh},
	{"/http-bind/", 0, HTTP_M_BIT(HTTP_M_POST), "POST, OPTIONS", http_bosh},
	{"/xmpp-websocket", 0, HTTP_M_BIT(HTTP_M_GET), "GET, OPTIONS", route_ws},
	{"/xmpp-websocket/", 0, HTTP_M_BIT(HTTP_M_GET), "GET, OPTIONS", route_ws},
	{"/.well-known/host-meta", 0, HTTP_M_BIT(HTTP_M_GET) | HTTP_M_BIT(HTTP_M_HEAD),
	 "GET, HEAD, OPTIONS", route_xrd},
	{"/.well-known/host-meta.json", 0, HTTP_M_BIT(HTTP_M_GET) | HTTP_M_BIT(HTTP_M_HEAD),
	 "GET, HEAD, OPTIONS", route_json},
	{"/", 1, HTTP_M_BIT(HTTP_M_GET) | HTTP_M_BIT(HTTP_M_HEAD), "GET, HEAD, OPTIONS", route_static},
};

/* "Date: Fri, 27 Nov 2026 07:00:00 GMT\r\n" (RFC 9110 §6.6.1, IMF-fixdate). */
static void put_date(struct buf *b)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;
	if (!gmtime_r(&now, &tm))
		return;
	buf_printf(b, "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", days[tm.tm_wday], tm.tm_mday,
		   months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void http_respond(struct http_conn *c, const struct http_req *r, int status, const char *type,
		  const char *extra, const void *body, size_t len)
{
	struct buf h;
	int keep = r && r->keep_alive && !c->closing;
	buf_init(&h);
	buf_printf(&h, "HTTP/1.1 %d %s\r\nServer: xmppd\r\n", status, http_reason(status));
	put_date(&h);
	if (type)
		buf_printf(&h, "Content-Type: %s\r\nX-Content-Type-Options: nosniff\r\n", type);
	if (status != 204 && status != 304 && status != 101)
		buf_printf(&h, "Content-Length: %zu\r\n", len);
	if (extra)
		buf_put_str(&h, extra);
	if (!keep && status != 101)
		buf_put_str(&h, "Connection: close\r\n");
	else if (r && r->minor == 0)
		buf_put_str(&h, "Connection: keep-alive\r\n");
	buf_put_str(&h, "\r\n");
	int head_only = r && r->method == HTTP_M_HEAD;
	if (h.data && http_conn_send(c, h.data, h.len) == 0 && len && !head_only && status != 304)
		http_conn_send(c, body, len);
	buf_free(&h);
	if (!keep && status != 101)
		http_conn_close_after_flush(c);
	log_debug("http request", "ip=%s method=%s path=\"%.*s\" status=%d", c->ip,
		  r ? http_method_name(r->method) : "-", r ? (int)(r->path_len > 200 ? 200 : r->path_len) : 1,
		  r && r->path ? r->path : "-", status);
}

void http_error(struct http_conn *c, const struct http_req *r, int status, const char *extra)
{
	char body[96];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, http_reason(status));
	http_respond(c, r, status, "text/plain; charset=utf-8", extra, body,
		     n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0);
}

/* The Host header's name (port and IPv6 brackets stripped) matched against the vhosts. */
const struct http_vhost *http_vhost_by_host(const struct http_req *r)
{
	const struct http_field *f = http_field_get(r, "host");
	if (!f || f->value_len == 0)
		return NULL;
	size_t n = f->value_len;
	const char *colon = memchr(f->value, ':', n);
	if (f->value[0] != '[' && colon)
		n = (size_t)(colon - f->value);
	for (size_t i = 0; i < henv->conf.nvhosts; i++)
		if (strlen(henv->conf.vhosts[i].name) == n && strncasecmp(henv->conf.vhosts[i].name, f->value, n) == 0)
			return &henv->conf.vhosts[i];
	return NULL;
}

/* The Host header when it is a plain authority (letters, digits, . - : [ ]), for use in URLs. */
static int host_authority(const struct http_req *r, char *out, size_t cap)
{
	const struct http_field *f = http_field_get(r, "host");
	if (!f || f->value_len == 0 || f->value_len >= cap)
		return -1;
	for (unsigned i = 0; i < f->value_len; i++) {
		char ch = f->value[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      strchr(".-:[]", ch)))
			return -1;
	}
	memcpy(out, f->value, f->value_len);
	out[f->value_len] = 0;
	return 0;
}

static int hostmeta_urls(struct http_conn *c, const struct http_req *r, char *bosh, char *ws, size_t cap)
{
	char auth[256];
	if (!http_vhost_by_host(r) || host_authority(r, auth, sizeof(auth)) < 0) {
		http_error(c, r, 404, NULL);
		return -1;
	}
	int tls = henv->listeners[c->listener].tls;
	snprintf(bosh, cap, "%s://%s/http-bind", tls ? "https" : "http", auth);
	snprintf(ws, cap, "%s://%s/xmpp-websocket", tls ? "wss" : "ws", auth);
	return 0;
}

static void route_xrd(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len)
{
	(void)body, (void)len;
	char bosh[320], ws[320];
	if (hostmeta_urls(c, r, bosh, ws, sizeof(bosh)) < 0)
		return;
	struct buf b;
	buf_init(&b);
	buf_printf(&b, "<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='" NS_XRD "'>\n"
		       "  <Link rel='" REL_BOSH "' href='%s'/>\n  <Link rel='" REL_WS "' href='%s'/>\n"
		       "</XRD>\n", bosh, ws);
	http_respond(c, r, 200, "application/xrd+xml; charset=utf-8", CORS_HEADERS, b.data, b.len);
	buf_free(&b);
}

static void route_json(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len)
{
	(void)body, (void)len;
	char bosh[320], ws[320];
	if (hostmeta_urls(c, r, bosh, ws, sizeof(bosh)) < 0)
		return;
	struct buf b;
	buf_init(&b);
	buf_printf(&b, "{\"links\":[{\"rel\":\"" REL_BOSH "\",\"href\":\"%s\"},"
		       "{\"rel\":\"" REL_WS "\",\"href\":\"%s\"}]}\n", bosh, ws);
	http_respond(c, r, 200, "application/json", CORS_HEADERS, b.data, b.len);
	buf_free(&b);
}

static void route_ws(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len)
{
	(void)body;
	if (len) {
		http_error(c, r, 400, NULL);
		return;
	}
	http_ws_upgrade(c, r);
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)(ch | 0x20);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decodes a path; refuses NUL, backslashes and dot segments. */
static int path_decode(const char *p, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		if (ch == '%') {
			int hi = i + 2 < n ? hexval(p[i + 1]) : -1, lo = i + 2 < n ? hexval(p[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return -1;
			ch = (char)(hi << 4 | lo);
			i += 2;
		}
		if (ch == 0 || ch == '\\' || o + 1 >= cap)
			return -1;
		out[o++] = ch;
	}
	out[o] = 0;
	return strstr(out, "/../") || strstr(out, "/./") || (o >= 3 && strcmp(out + o - 3, "/..") == 0)
		       ? -1
		       : (int)o;
}

static void route_static(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len)
{
	(void)body;
	char path[WEB_MAX_PATH + 16];
	int n = path_decode(r->path, r->path_len, path, WEB_MAX_PATH);
	if (len || n < 0) {
		http_error(c, r, n < 0 ? 404 : 400, NULL);
		return;
	}
	if (path[n - 1] == '/')
		n += snprintf(path + n, sizeof(path) - (size_t)n, "index.html");
	const struct web_file *f = http_web_find(path, (size_t)n);
	if (!f) {
		http_error(c, r, 404, NULL);
		return;
	}
	char extra[640];
	int html = strcmp(f->type, "text/html; charset=utf-8") == 0;
	snprintf(extra, sizeof(extra), "ETag: %s\r\nCache-Control: %s\r\n%s", f->etag,
		 html ? "no-cache" : "public, max-age=3600", html ? CSP_HTML : "");
	const struct http_field *inm = http_field_get(r, "if-none-match");
	if (inm && http_token_in(inm->value, inm->value_len, f->etag)) {
		http_respond(c, r, 304, NULL, extra, NULL, 0);
		return;
	}
	http_respond(c, r, 200, f->type, extra, f->data, f->len);
}

static void route_options(struct http_conn *c, const struct http_req *r, const struct route *rt)
{
	char extra[256];
	if (rt->fn == http_bosh) {	/* CORS preflight (Fetch standard) for BOSH from any origin */
		snprintf(extra, sizeof(extra),
			 "Allow: %s\r\n" CORS_HEADERS "Access-Control-Allow-Methods: POST, OPTIONS\r\n"
			 "Access-Control-Allow-Headers: Content-Type\r\nAccess-Control-Max-Age: 86400\r\n",
			 rt->allow);
	} else {
		snprintf(extra, sizeof(extra), "Allow: %s\r\n", rt->allow);
	}
	http_respond(c, r, 204, NULL, extra, NULL, 0);
}

static int route_matches(const struct route *rt, const struct http_req *r)
{
	size_t n = strlen(rt->path);
	if (rt->prefix)
		return r->path_len >= n && memcmp(r->path, rt->path, n) == 0;
	return r->path_len == n && memcmp(r->path, rt->path, n) == 0;
}

void http_route(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len)
{
	if (!r->path) {	/* OPTIONS * */
		http_respond(c, r, 204, NULL, "Allow: GET, HEAD, POST, OPTIONS\r\n", NULL, 0);
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *rt = &routes[i];
		if (!route_matches(rt, r))
			continue;
		if (r->method == HTTP_M_OPTIONS) {
			route_options(c, r, rt);
		} else if (!(rt->methods & HTTP_M_BIT(r->method))) {
			char extra[96];
			snprintf(extra, sizeof(extra), "Allow: %s\r\n", rt->allow);
			http_error(c, r, 405, extra);
		} else {
			rt->fn(c, r, body, len);
		}
		return;
	}
	http_error(c, r, 404, NULL);
}
