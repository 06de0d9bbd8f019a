/* Strict HTTP/1.1 request head parser (RFC 9112) over untrusted bytes: every length is bounded by
 * a named limit and anything ambiguous (bare LF, obs-fold, duplicate lengths) is refused. */
#include <string.h>
#include <strings.h>

#include "http.h"

static const struct {
	const char *name;
	int method;
} http_methods[] = {
	{"GET", HTTP_M_GET},	   {"HEAD", HTTP_M_HEAD},       {"POST", HTTP_M_POST},
	{"OPTIONS", HTTP_M_OPTIONS}, {"PUT", HTTP_M_PUT},	{"DELETE", HTTP_M_DELETE},
	{"PATCH", HTTP_M_PATCH},   {"CONNECT", HTTP_M_CONNECT}, {"TRACE", HTTP_M_TRACE},
};

static const struct {
	int status;
	const char *reason;
} http_reasons[] = {
	{101, "Switching Protocols"},
	{200, "OK"},
	{204, "No Content"},
	{304, "Not Modified"},
	{400, "Bad Request"},
	{404, "Not Found"},
	{405, "Method Not Allowed"},
	{408, "Request Timeout"},
	{413, "Content Too Large"},
	{414, "URI Too Long"},
	{426, "Upgrade Required"},
	{431, "Request Header Fields Too Large"},
	{500, "Internal Server Error"},
	{501, "Not Implemented"},
	{503, "Service Unavailable"},
	{505, "HTTP Version Not Supported"},
};

const char *http_method_name(int method)
{
	for (size_t i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++)
		if (http_methods[i].method == method)
			return http_methods[i].name;
	return "?";
}

const char *http_reason(int status)
{
	for (size_t i = 0; i < sizeof(http_reasons) / sizeof(http_reasons[0]); i++)
		if (http_reasons[i].status == status)
			return http_reasons[i].reason;
	return "Unknown";
}

/* RFC 9110 §5.6.2 tchar */
static int is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return 1;
	return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* field-vchar / SP / HTAB; obs-text (0x80-0xff) is accepted as opaque bytes */
static int is_field_char(unsigned char ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

/* Finds CRLF at or after from, within limit bytes of p; a bare LF or CR not followed by LF is an
 * error. Returns the offset of CR, -1 when not yet there, -2 on a bare CR/LF. */
static long find_crlf(const char *p, size_t n, size_t from)
{
	for (size_t i = from; i < n; i++) {
		if (p[i] == '\n')
			return -2;
		if (p[i] == '\r') {
			if (i + 1 >= n)
				return -1;
			return p[i + 1] == '\n' ? (long)i : -2;
		}
	}
	return -1;
}

static int parse_method(const char *p, size_t n, struct http_req *req)
{
	for (size_t i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++) {
		if (strlen(http_methods[i].name) == n && memcmp(http_methods[i].name, p, n) == 0) {
			req->method = http_methods[i].method;
			return 0;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)p[i]))
			return -400;
	return -501;	/* a well-formed method we do not know */
}

/* request-target: origin-form, absolute-form (http[s]://authority/path) or "*" (OPTIONS only). */
static int parse_target(const char *p, size_t n, struct http_req *req)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return -400;
	req->target = p;
	req->target_len = n;
	if (n == 1 && p[0] == '*')
		return req->method == HTTP_M_OPTIONS ? 0 : -400;
	const char *path = p;
	size_t plen = n;
	size_t scheme = n > 7 && strncasecmp(p, "http://", 7) == 0	  ? 7
			: n > 8 && strncasecmp(p, "https://", 8) == 0 ? 8
								     : 0;
	if (scheme) {
		const char *a = p + scheme;
		const char *slash = memchr(a, '/', n - scheme);
		if (slash == a)
			return -400;	/* empty authority */
		path = slash ? slash : "/";
		plen = slash ? n - (size_t)(slash - p) : 1;
	} else if (p[0] != '/') {
		return -400;
	}
	const char *q = memchr(path, '?', plen);
	req->path = path;
	req->path_len = q ? (size_t)(q - path) : plen;
	return 0;
}

static int parse_version(const char *p, size_t n, struct http_req *req)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' ||
	    p[7] < '0' || p[7] > '9')
		return -400;
	if (p[5] != '1')
		return -505;
	req->minor = p[7] == '0' ? 0 : 1;	/* 1.x, x > 1, is served as 1.1 (RFC 9110 §2.5) */
	return 0;
}

static int parse_request_line(const char *p, size_t n, struct http_req *req)
{
	const char *sp1 = memchr(p, ' ', n);
	if (!sp1 || sp1 == p)
		return -400;
	const char *rest = sp1 + 1;
	const char *sp2 = memchr(rest, ' ', n - (size_t)(rest - p));
	if (!sp2 || sp2 == rest)
		return -400;
	const char *ver = sp2 + 1;
	size_t vlen = n - (size_t)(ver - p);
	int rc = parse_version(ver, vlen, req);	/* first, so HTTP/2.0 gets 505 whatever the rest */
	if (rc == 0)
		rc = parse_method(p, (size_t)(sp1 - p), req);
	if (rc == 0)
		rc = parse_target(rest, (size_t)(sp2 - rest), req);
	return rc;
}

static int parse_content_length(const struct http_field *f, uint64_t max_body, struct http_req *req)
{
	uint64_t v = 0;
	if (f->value_len == 0 || f->value_len > 19)
		return -400;
	for (unsigned i = 0; i < f->value_len; i++) {
		if (f->value[i] < '0' || f->value[i] > '9')
			return -400;
		v = v * 10 + (uint64_t)(f->value[i] - '0');
	}
	req->content_length = v;
	return v > max_body ? -413 : 0;
}

/* One header line p[0..n) (without CRLF) into req->fields. */
static int parse_field(const char *p, size_t n, struct http_req *req)
{
	if (n == 0 || p[0] == ' ' || p[0] == '\t')
		return -400;	/* obs-fold or whitespace before the name */
	const char *colon = memchr(p, ':', n);
	if (!colon || colon == p)
		return -400;
	for (const char *s = p; s < colon; s++)
		if (!is_tchar((unsigned char)*s))
			return -400;	/* includes whitespace before the colon (RFC 9112 §5.1) */
	const char *v = colon + 1, *end = p + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *s = v; s < end; s++)
		if (!is_field_char((unsigned char)*s))
			return -400;
	if (req->nfields >= HTTP_MAX_HEADERS)
		return -431;
	struct http_field *f = &req->fields[req->nfields++];
	f->name = p;
	f->name_len = (uint16_t)(colon - p);
	f->value = v;
	f->value_len = (uint16_t)(end - v);
	return 0;
}

static int fname_is(const struct http_field *f, const char *name)
{
	return strlen(name) == f->name_len && strncasecmp(f->name, name, f->name_len) == 0;
}

/* Cross-field rules once every field is in: Host, lengths, framing, persistence. */
static int check_fields(struct http_req *req, uint64_t max_body)
{
	const struct http_field *cl = NULL, *conn = NULL;
	for (unsigned i = 0; i < req->nfields; i++) {
		const struct http_field *f = &req->fields[i];
		if (fname_is(f, "host")) {
			if (req->has_host)
				return -400;	/* RFC 9112 §3.2 */
			req->has_host = 1;
		} else if (fname_is(f, "content-length")) {
			if (cl)
				return -400;
			cl = f;
		} else if (fname_is(f, "transfer-encoding")) {
			return -501;	/* no chunked bodies: web clients never need them */
		} else if (fname_is(f, "connection")) {
			conn = f;
		}
	}
	if (req->minor == 1 && !req->has_host)
		return -400;
	if (cl) {
		int rc = parse_content_length(cl, max_body, req);
		if (rc < 0)
			return rc;
	}
	if (req->minor == 1)
		req->keep_alive = !(conn && http_token_in(conn->value, conn->value_len, "close"));
	else
		req->keep_alive = conn && http_token_in(conn->value, conn->value_len, "keep-alive");
	return 0;
}

/* The end of the head (offset just past the blank line), 0 if not yet, or -STATUS. */
static long find_head_end(const char *p, size_t n, size_t start, size_t line_end)
{
	size_t off = line_end + 2;
	for (;;) {
		long cr = find_crlf(p, n, off);
		if (cr == -2)
			return -400;
		if (cr == -1)
			return n - start >= HTTP_MAX_HEAD ? -431 : 0;
		if ((size_t)cr + 2 - start > HTTP_MAX_HEAD)
			return -431;
		if ((size_t)cr == off)
			return cr + 2;
		off = (size_t)cr + 2;
	}
}

int http_parse_head(const char *p, size_t n, uint64_t max_body, struct http_req *req)
{
	memset(req, 0, sizeof(*req));
	size_t start = 0;
	for (unsigned crlfs = 0; start + 1 < n && p[start] == '\r' && p[start + 1] == '\n'; start += 2)
		if (++crlfs > HTTP_MAX_LEADING_CRLF)
			return -400;
	if (start >= n || (n - start == 1 && p[start] == '\r'))
		return 0;
	long le = find_crlf(p, n, start);
	if (le == -2)
		return -400;
	if (le == -1)
		return n - start >= HTTP_MAX_REQLINE ? -414 : 0;
	if ((size_t)le + 2 - start > HTTP_MAX_REQLINE)
		return -414;
	long end = find_head_end(p, n, start, (size_t)le);
	if (end <= 0)
		return (int)end;
	int rc = parse_request_line(p + start, (size_t)le - start, req);
	if (rc < 0)
		return rc;
	for (size_t off = (size_t)le + 2; off + 2 < (size_t)end;) {
		size_t e = (size_t)find_crlf(p, (size_t)end, off);
		if ((rc = parse_field(p + off, e - off, req)) < 0)
			return rc;
		off = e + 2;
	}
	if ((rc = check_fields(req, max_body)) < 0)
		return rc;
	req->head_len = (size_t)end;
	return (int)end;
}

const struct http_field *http_field_get(const struct http_req *req, const char *name)
{
	for (unsigned i = 0; i < req->nfields; i++)
		if (fname_is(&req->fields[i], name))
			return &req->fields[i];
	return NULL;
}

int http_token_in(const char *v, size_t n, const char *token)
{
	size_t tl = strlen(token);
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
			return 1;
	}
	return 0;
}
