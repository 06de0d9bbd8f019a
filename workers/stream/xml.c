/* Incremental XML stream parsing for c2s: expat with namespaces, limits, restricted XML refused,
 * each top-level element re-serialised with explicit namespaces. Never expands an entity. */
#include "xml.h"

#include <errno.h>
#include <expat.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "xlimits.h"

#define NS_SEP '\x01'		/* not an XML 1.0 character, so never inside a name or URI */
#define FEED_CHUNK 1024u	/* raw-size checks run between chunks: the overshoot is bounded */
#define NOFF SIZE_MAX

enum field { F_TO, F_FROM, F_TYPE, F_ID, F_MECH, F_CNAME, F_CNS, F_GNAME, F_NFIELDS };

struct binding {
	unsigned depth;
	size_t pfx_off, uri_off, str_mark;
};

struct c2s_xml {
	XML_Parser p;
	const struct c2s_xml_ops *ops;
	void *arg;
	size_t stanza_size;
	unsigned max_depth, max_attrs;
	unsigned nchildren;	/* child elements of the current top-level element */
	unsigned depth;		/* open elements, the stream header included */
	int err;
	int stopped;
	int tag_open;		/* the last start tag still lacks its '>' */
	int in_child, in_gchild, in_prio, seen_child, seen_gchild, seen_prio;
	uint64_t fed, boundary;	/* raw bytes since reset; end of the last complete event */
	uint64_t stanza_start;	/* raw offset of the current top-level element */
	struct buf out;		/* serialisation of the current top-level element */
	struct buf meta;	/* NUL-terminated field values */
	size_t field[F_NFIELDS];
	size_t from_at, from_span;
	struct buf text, ctext, gtext, prio;
	int text_truncated;
	struct buf scope, scope_str;	/* namespace bindings made inside the current stanza */
	struct buf pend;	/* declarations expat reported for the next start tag */
	char stream_ns[256];
	/* An idle stream parks: expat is freed and later re-created and primed with a copy of
	 * the stream header, so a quiet session holds ~0.5 KiB instead of ~10 KiB, and names
	 * expat interns cannot pile up over a long stream. */
	struct buf hdr;		/* the header as re-fed on unpark: "<pfx:stream xmlns…>" */
	struct buf hdr_decls;	/* the header's namespace declarations, serialised */
	int parkable, priming;
	int in_cdata;		/* expat holds CDATA-section state: no parking inside one */
};

#define HDR_KEEP_MAX 4096u	/* a larger header is not kept: that stream never parks */

struct qname {
	const char *uri, *local, *pfx;
	size_t ulen, llen, plen;
};

/* expat salts its name hashes; parking creates parsers often, so the salt comes from one
 * per-process secret and a counter instead of a getrandom call per parser. Process-wide by
 * nature, like the secret behind it. */
static unsigned long salt_secret, salt_counter;

static unsigned long next_salt(void)
{
	if (!salt_secret && getrandom(&salt_secret, sizeof(salt_secret), 0) != sizeof(salt_secret))
		salt_secret = (unsigned long)&salt_secret ^ 0x5bd1e995UL;	/* never in practice */
	uint64_t v = (uint64_t)salt_secret + ++salt_counter * 0x9e3779b97f4a7c15ULL;
	v ^= v >> 31;
	v *= 0xbf58476d1ce4e5b9ULL;
	v ^= v >> 29;
	return (unsigned long)v;
}

static void split_name(const char *name, struct qname *q)
{
	const char *a = strchr(name, NS_SEP);
	if (!a) {
		*q = (struct qname){"", name, NULL, 0, strlen(name), 0};
		return;
	}
	q->uri = name;
	q->ulen = (size_t)(a - name);
	q->local = a + 1;
	const char *b = strchr(q->local, NS_SEP);
	q->llen = b ? (size_t)(b - q->local) : strlen(q->local);
	q->pfx = b ? b + 1 : NULL;
	q->plen = b ? strlen(b + 1) : 0;
}

static void fail(struct c2s_xml *x, int err)
{
	if (!x->err)
		x->err = err;
	XML_StopParser(x->p, XML_FALSE);
}

static int dead(const struct c2s_xml *x) { return x->err || x->stopped; }

/* Character data: &, <, > and a CR (else read back as a LF) are escaped. */
static const char *text_rep(char c)
{
	switch (c) {
	case '&': return "&amp;";
	case '<': return "&lt;";
	case '>': return "&gt;";
	case '\r': return "&#13;";
	default: return NULL;
	}
}

/* Attribute values: quotes too, and whitespace kept exact (else normalised to spaces). */
static const char *attr_rep(char c)
{
	switch (c) {
	case '"': return "&quot;";
	case '\'': return "&apos;";
	case '\t': return "&#9;";
	case '\n': return "&#10;";
	default: return text_rep(c);
	}
}

/* Escapes for character data (attr 0) or attribute values (attr 1). */
static int put_escaped(struct buf *b, const char *s, size_t n, int attr)
{
	return buf_put_replaced(b, s, n, attr ? attr_rep : text_rep);
}

static int put_cstr(struct buf *b, const char *s, size_t n)
{
	if (buf_put(b, s, n) < 0 || buf_put_u8(b, 0) < 0)
		return -1;
	b->len--;	/* the NUL stays in storage, outside len */
	return 0;
}

/* ---- namespace scope of the current stanza ---- */

static const char *scope_lookup(const struct c2s_xml *x, const char *pfx, size_t plen)
{
	const struct binding *bs = (const struct binding *)(const void *)x->scope.data;
	size_t n = x->scope.len / sizeof(struct binding);
	const char *str = (const char *)x->scope_str.data;
	for (size_t i = n; i-- > 0;) {
		const char *bp = str + bs[i].pfx_off;
		if (strlen(bp) == plen && memcmp(bp, pfx, plen) == 0)
			return str + bs[i].uri_off;
	}
	return NULL;
}

static int scope_push(struct c2s_xml *x, const char *pfx, size_t plen, const char *uri, size_t ulen)
{
	struct binding b = {x->depth, 0, 0, x->scope_str.len};
	b.pfx_off = x->scope_str.len;
	if (buf_put(&x->scope_str, pfx, plen) < 0 || buf_put_u8(&x->scope_str, 0) < 0)
		return -1;
	b.uri_off = x->scope_str.len;
	if (buf_put(&x->scope_str, uri, ulen) < 0 || buf_put_u8(&x->scope_str, 0) < 0)
		return -1;
	return buf_put(&x->scope, &b, sizeof(b));
}

static void scope_pop(struct c2s_xml *x)
{
	struct binding *bs = (struct binding *)(void *)x->scope.data;
	size_t n = x->scope.len / sizeof(struct binding);
	while (n > 0 && bs[n - 1].depth >= x->depth) {
		x->scope_str.len = bs[n - 1].str_mark;
		n--;
	}
	x->scope.len = n * sizeof(struct binding);
}

/* Declares pfx → uri on the element being written unless the stanza already binds it so. */
static int ensure_ns(struct c2s_xml *x, const char *pfx, size_t plen, const char *uri, size_t ulen)
{
	if (plen == 3 && memcmp(pfx, "xml", 3) == 0)
		return 0;
	const char *cur = scope_lookup(x, pfx, plen);
	if (cur ? (strlen(cur) == ulen && memcmp(cur, uri, ulen) == 0) : ulen == 0)
		return 0;
	/* a component's stanzas travel as jabber:client, the namespace every other stream reads */
	const char *w = uri;
	size_t wl = ulen;
	if (x->depth == 2 && ulen == strlen(C2S_NS_COMPONENT) && !memcmp(uri, C2S_NS_COMPONENT, ulen)) {
		w = C2S_NS_CLIENT;
		wl = strlen(C2S_NS_CLIENT);
	}
	if (buf_put_str(&x->out, plen ? " xmlns:" : " xmlns") < 0 || buf_put(&x->out, pfx, plen) < 0 ||
	    buf_put_str(&x->out, "='") < 0 || put_escaped(&x->out, w, wl, 1) < 0 ||
	    buf_put_u8(&x->out, '\'') < 0)
		return -1;
	return scope_push(x, pfx, plen, uri, ulen);
}

static int put_qname(struct buf *b, const struct qname *q)
{
	if (q->pfx && (buf_put(b, q->pfx, q->plen) < 0 || buf_put_u8(b, ':') < 0))
		return -1;
	return buf_put(b, q->local, q->llen);
}

/* ---- top-level element bookkeeping ---- */

static void stanza_clear(struct c2s_xml *x)
{
	buf_reset(&x->out);
	buf_reset(&x->meta);
	buf_reset(&x->text);
	buf_reset(&x->ctext);
	buf_reset(&x->gtext);
	buf_reset(&x->prio);
	buf_reset(&x->scope);
	buf_reset(&x->scope_str);
	for (int i = 0; i < F_NFIELDS; i++)
		x->field[i] = NOFF;
	x->from_at = x->from_span = 0;
	x->text_truncated = 0;
	x->in_child = x->in_gchild = x->in_prio = 0;
	x->seen_child = x->seen_gchild = x->seen_prio = 0;
	x->nchildren = 0;
}

static int set_field(struct c2s_xml *x, enum field f, const char *s, size_t n)
{
	x->field[f] = x->meta.len;
	if (buf_put(&x->meta, s, n) < 0 || buf_put_u8(&x->meta, 0) < 0)
		return -1;
	return 0;
}

static const char *field(const struct c2s_xml *x, enum field f)
{
	return x->field[f] == NOFF ? NULL : (const char *)x->meta.data + x->field[f];
}

static const char *text_of(struct buf *b)
{
	if (put_cstr(b, "", 0) < 0)
		return "";
	return (const char *)b->data;
}

static const struct {
	const char *name;
	enum field f;
} top_attrs[] = {
	{"to", F_TO}, {"from", F_FROM}, {"type", F_TYPE}, {"id", F_ID}, {"mechanism", F_MECH},
};

static int top_attr(struct c2s_xml *x, const struct qname *q, const char *val)
{
	if (q->ulen != 0)
		return 0;
	for (size_t i = 0; i < sizeof(top_attrs) / sizeof(top_attrs[0]); i++) {
		if (strlen(top_attrs[i].name) != q->llen || memcmp(top_attrs[i].name, q->local, q->llen))
			continue;
		return set_field(x, top_attrs[i].f, val, strlen(val));
	}
	return 0;
}

static void note_children(struct c2s_xml *x, const struct qname *q)
{
	if (x->depth == 3)
		x->nchildren++;
	if (x->depth == 3 && !x->seen_child) {
		x->seen_child = x->in_child = 1;
		if (set_field(x, F_CNAME, q->local, q->llen) < 0 || set_field(x, F_CNS, q->uri, q->ulen) < 0)
			fail(x, C2S_XML_ENOMEM);
	} else if (x->depth == 4 && x->in_child && !x->seen_gchild) {
		x->seen_gchild = x->in_gchild = 1;
		if (set_field(x, F_GNAME, q->local, q->llen) < 0)
			fail(x, C2S_XML_ENOMEM);
	}
	if (x->depth == 3 && !x->seen_prio && q->llen == 8 && memcmp(q->local, "priority", 8) == 0)
		x->seen_prio = x->in_prio = 1;
}

/* ---- expat handlers ---- */

/* Raw bytes of the current top-level element up to the end of the current event. */
static int stanza_too_big(const struct c2s_xml *x)
{
	uint64_t end = (uint64_t)XML_GetCurrentByteIndex(x->p) + (uint64_t)XML_GetCurrentByteCount(x->p);
	return end - x->stanza_start > x->stanza_size;
}

/* Keeps what unpark needs to re-create the stream context: the element and its declarations. */
static void keep_header(struct c2s_xml *x, const struct qname *q)
{
	buf_reset(&x->hdr);
	x->parkable = 0;
	if (x->hdr_decls.len > HDR_KEEP_MAX || q->llen + q->plen > 256)
		return;
	if (buf_put_u8(&x->hdr, '<') < 0 || put_qname(&x->hdr, q) < 0 ||
	    buf_put(&x->hdr, x->hdr_decls.data, x->hdr_decls.len) < 0 || buf_put_u8(&x->hdr, '>') < 0)
		return;
	buf_free(&x->hdr_decls);
	x->parkable = 1;
}

static void on_stream_header(struct c2s_xml *x, const char *name, const char **atts)
{
	struct qname q;
	split_name(name, &q);
	if (x->priming)
		return;
	keep_header(x, &q);
	char local[XML_MAX_NAME + 1], ns[XML_MAX_NAME + 1];
	size_t ll = q.llen > XML_MAX_NAME ? XML_MAX_NAME : q.llen;
	size_t ul = q.ulen > XML_MAX_NAME ? XML_MAX_NAME : q.ulen;
	memcpy(local, q.local, ll);
	local[ll] = 0;
	memcpy(ns, q.uri, ul);
	ns[ul] = 0;
	struct c2s_xml_hdr h = {.name = local, .ns = ns, .default_ns = x->stream_ns};
	for (size_t i = 0; atts[i]; i += 2) {
		struct qname a;
		split_name(atts[i], &a);
		const char *v = atts[i + 1];
		if (a.ulen == 0 && a.llen == 2 && !memcmp(a.local, "to", 2))
			h.to = v;
		else if (a.ulen == 0 && a.llen == 4 && !memcmp(a.local, "from", 4))
			h.from = v;
		else if (a.ulen == 0 && a.llen == 7 && !memcmp(a.local, "version", 7))
			h.version = v;
		else if (a.ulen == 0 && a.llen == 2 && !memcmp(a.local, "id", 2))
			h.id = v;
		else if (a.ulen == strlen(C2S_NS_XML) && !memcmp(a.uri, C2S_NS_XML, a.ulen) &&
			 a.llen == 4 && !memcmp(a.local, "lang", 4))
			h.lang = v;
	}
	buf_reset(&x->pend);
	x->boundary = (uint64_t)XML_GetCurrentByteIndex(x->p) + (uint64_t)XML_GetCurrentByteCount(x->p);
	if (x->ops->stream_start && x->ops->stream_start(x->arg, &h) == C2S_XML_STOP) {
		x->stopped = 1;
		XML_StopParser(x->p, XML_FALSE);
	}
}

static int check_names(const char *name, const char **atts, unsigned *nattrs)
{
	struct qname q;
	split_name(name, &q);
	if (q.llen + q.plen > XML_MAX_NAME)
		return -1;
	unsigned n = 0;
	for (size_t i = 0; atts[i]; i += 2, n++) {
		split_name(atts[i], &q);
		if (q.llen + q.plen > XML_MAX_NAME)
			return -1;
	}
	*nattrs = n;
	return 0;
}

/* Writes pending declarations, the element's own binding and its attributes' bindings. */
static int write_start(struct c2s_xml *x, const struct qname *q, const char **atts)
{
	const char *pe = (const char *)x->pend.data;
	const char *end = x->pend.len ? pe + x->pend.len : pe;
	while (pe && pe < end) {
		const char *uri = pe + strlen(pe) + 1;
		if (ensure_ns(x, pe, strlen(pe), uri, strlen(uri)) < 0)
			return -1;
		pe = uri + strlen(uri) + 1;
	}
	buf_reset(&x->pend);
	if (ensure_ns(x, q->pfx ? q->pfx : "", q->plen, q->uri, q->ulen) < 0)
		return -1;
	for (size_t i = 0; atts[i]; i += 2) {
		struct qname a;
		split_name(atts[i], &a);
		if (a.pfx && ensure_ns(x, a.pfx, a.plen, a.uri, a.ulen) < 0)
			return -1;
		size_t at = x->out.len;
		if (buf_put_u8(&x->out, ' ') < 0 || put_qname(&x->out, &a) < 0 ||
		    buf_put_str(&x->out, "='") < 0 ||
		    put_escaped(&x->out, atts[i + 1], strlen(atts[i + 1]), 1) < 0 ||
		    buf_put_u8(&x->out, '\'') < 0)
			return -1;
		if (x->depth == 2 && !a.pfx && a.ulen == 0 && a.llen == 4 && !memcmp(a.local, "from", 4)) {
			x->from_at = at;
			x->from_span = x->out.len - at;
		}
		if (x->depth == 2 && top_attr(x, &a, atts[i + 1]) < 0)
			return -1;
	}
	return 0;
}

static void XMLCALL on_start(void *ud, const char *name, const char **atts)
{
	struct c2s_xml *x = ud;
	if (dead(x))
		return;
	unsigned nattrs;
	if (check_names(name, atts, &nattrs) < 0)
		return fail(x, C2S_XML_ENAME);
	if (nattrs > x->max_attrs)
		return fail(x, C2S_XML_EATTRS);
	if (x->depth == 0) {
		x->depth = 1;
		return on_stream_header(x, name, atts);
	}
	if (x->depth >= x->max_depth)
		return fail(x, C2S_XML_EDEPTH);
	if (x->depth == 1) {
		stanza_clear(x);
		x->stanza_start = (uint64_t)XML_GetCurrentByteIndex(x->p);
	}
	if (x->tag_open && buf_put_u8(&x->out, '>') < 0)
		return fail(x, C2S_XML_ENOMEM);
	x->depth++;
	struct qname q;
	split_name(name, &q);
	note_children(x, &q);
	if (buf_put_u8(&x->out, '<') < 0 || put_qname(&x->out, &q) < 0)
		return fail(x, C2S_XML_ENOMEM);
	if (write_start(x, &q, atts) < 0)
		return fail(x, C2S_XML_ENOMEM);
	if (x->depth == 2 && x->from_span == 0)
		x->from_at = x->out.len;	/* a stamped from goes after the attributes */
	x->tag_open = 1;
	if (x->out.len > x->stanza_size * 2 || stanza_too_big(x))
		fail(x, C2S_XML_ETOOBIG);
}

static void emit_element(struct c2s_xml *x)
{
	struct c2s_xml_elem e = {0};
	e.to = field(x, F_TO);
	e.from = field(x, F_FROM);
	e.type = field(x, F_TYPE);
	e.id = field(x, F_ID);
	e.mechanism = field(x, F_MECH);
	e.child_name = field(x, F_CNAME);
	e.child_ns = field(x, F_CNS);
	e.gchild_name = field(x, F_GNAME);
	e.text = text_of(&x->text);
	e.text_truncated = x->text_truncated;
	e.nchildren = x->nchildren;
	e.child_text = e.child_name ? text_of(&x->ctext) : NULL;
	e.gchild_text = e.gchild_name ? text_of(&x->gtext) : NULL;
	e.priority = x->seen_prio ? text_of(&x->prio) : NULL;
	if (put_cstr(&x->out, "", 0) < 0)
		return fail(x, C2S_XML_ENOMEM);
	e.xml = (const char *)x->out.data;
	e.xml_len = x->out.len;
	e.from_at = x->from_at;
	e.from_span = x->from_span;
	/* the top element's name and namespace were stored by on_end in the scope buffers */
	e.name = (const char *)x->scope_str.data;
	e.ns = e.name + strlen(e.name) + 1;
	if (x->ops->element && x->ops->element(x->arg, &e) == C2S_XML_STOP) {
		x->stopped = 1;
		XML_StopParser(x->p, XML_FALSE);
	}
}

static void XMLCALL on_end(void *ud, const char *name)
{
	struct c2s_xml *x = ud;
	if (dead(x))
		return;
	if (x->depth == 1) {
		x->depth = 0;
		if (x->ops->stream_end && x->ops->stream_end(x->arg) == C2S_XML_STOP) {
			x->stopped = 1;
			XML_StopParser(x->p, XML_FALSE);
		}
		return;
	}
	struct qname q;
	split_name(name, &q);
	int r = x->tag_open ? buf_put_str(&x->out, "/>")
			    : (buf_put_str(&x->out, "</") < 0 || put_qname(&x->out, &q) < 0 ||
			       buf_put_u8(&x->out, '>') < 0) ? -1 : 0;
	if (r < 0)
		return fail(x, C2S_XML_ENOMEM);
	if (stanza_too_big(x))
		return fail(x, C2S_XML_ETOOBIG);
	x->tag_open = 0;
	if (x->depth == 3)
		x->in_child = x->in_prio = 0;
	if (x->depth == 4)
		x->in_gchild = 0;
	scope_pop(x);
	x->depth--;
	if (x->depth != 1)
		return;
	/* reuse the (now empty) scope strings to hold the top element's name and namespace */
	buf_reset(&x->scope_str);
	if (buf_put(&x->scope_str, q.local, q.llen) < 0 || buf_put_u8(&x->scope_str, 0) < 0 ||
	    buf_put(&x->scope_str, q.uri, q.ulen) < 0 || buf_put_u8(&x->scope_str, 0) < 0)
		return fail(x, C2S_XML_ENOMEM);
	emit_element(x);
	x->boundary = (uint64_t)XML_GetCurrentByteIndex(x->p) + (uint64_t)XML_GetCurrentByteCount(x->p);
	stanza_clear(x);
}

static void keep_text(struct buf *b, const char *s, size_t n, size_t cap, int *truncated)
{
	if (b->len + n > cap) {
		if (truncated)
			*truncated = 1;
		n = cap - b->len;
	}
	(void)buf_put(b, s, n);
}

static void XMLCALL on_text(void *ud, const char *s, int len)
{
	struct c2s_xml *x = ud;
	if (dead(x) || len <= 0)
		return;
	size_t n = (size_t)len;
	if (x->depth <= 1) {	/* whitespace keepalives between stanzas */
		x->boundary = (uint64_t)XML_GetCurrentByteIndex(x->p) + n;
		return;
	}
	if (x->tag_open && buf_put_u8(&x->out, '>') < 0)
		return fail(x, C2S_XML_ENOMEM);
	x->tag_open = 0;
	if (put_escaped(&x->out, s, n, 0) < 0)
		return fail(x, C2S_XML_ENOMEM);
	if (x->out.len > x->stanza_size * 2 || stanza_too_big(x))
		return fail(x, C2S_XML_ETOOBIG);
	if (x->depth == 2)
		keep_text(&x->text, s, n, C2S_XML_TEXT_MAX, &x->text_truncated);
	else if (x->depth == 3 && x->in_child)
		keep_text(&x->ctext, s, n, C2S_XML_CHILD_TEXT_MAX, NULL);
	else if (x->depth == 4 && x->in_gchild)
		keep_text(&x->gtext, s, n, C2S_XML_CHILD_TEXT_MAX, NULL);
	if (x->depth == 3 && x->in_prio)
		keep_text(&x->prio, s, n, 16, NULL);
}

static void XMLCALL on_ns_start(void *ud, const char *pfx, const char *uri)
{
	struct c2s_xml *x = ud;
	if (dead(x))
		return;
	if (!uri)
		uri = "";
	if (x->depth == 0) {
		if (!pfx && strlen(uri) < sizeof(x->stream_ns))
			memcpy(x->stream_ns, uri, strlen(uri) + 1);
		if (!x->priming &&
		    (buf_put_str(&x->hdr_decls, pfx ? " xmlns:" : " xmlns") < 0 ||
		     buf_put_str(&x->hdr_decls, pfx ? pfx : "") < 0 ||
		     buf_put_str(&x->hdr_decls, "='") < 0 ||
		     put_escaped(&x->hdr_decls, uri, strlen(uri), 1) < 0 ||
		     buf_put_u8(&x->hdr_decls, '\'') < 0))
			fail(x, C2S_XML_ENOMEM);
		return;
	}
	if (buf_put_str(&x->pend, pfx ? pfx : "") < 0 || buf_put_u8(&x->pend, 0) < 0 ||
	    buf_put_str(&x->pend, uri) < 0 || buf_put_u8(&x->pend, 0) < 0)
		fail(x, C2S_XML_ENOMEM);
}

static void XMLCALL on_cdata_start(void *ud) { ((struct c2s_xml *)ud)->in_cdata = 1; }
static void XMLCALL on_cdata_end(void *ud) { ((struct c2s_xml *)ud)->in_cdata = 0; }

static void XMLCALL on_doctype(void *ud, const char *n, const char *s, const char *p, int i)
{
	(void)n, (void)s, (void)p, (void)i;
	fail(ud, C2S_XML_ERESTRICTED);
}

static void XMLCALL on_entity(void *ud, const char *n, int pe, const char *v, int vl,
			      const char *b, const char *s, const char *p, const char *nn)
{
	(void)n, (void)pe, (void)v, (void)vl, (void)b, (void)s, (void)p, (void)nn;
	fail(ud, C2S_XML_ERESTRICTED);
}

static void XMLCALL on_pi(void *ud, const char *t, const char *d)
{
	(void)t, (void)d;
	fail(ud, C2S_XML_ERESTRICTED);
}

static void XMLCALL on_comment(void *ud, const char *d)
{
	(void)d;
	fail(ud, C2S_XML_ERESTRICTED);
}

static void XMLCALL on_notation(void *ud, const char *n, const char *b, const char *s, const char *p)
{
	(void)n, (void)b, (void)s, (void)p;
	fail(ud, C2S_XML_ERESTRICTED);
}

static void XMLCALL on_skipped(void *ud, const char *n, int pe)
{
	(void)n, (void)pe;
	fail(ud, C2S_XML_ERESTRICTED);
}

static void install(struct c2s_xml *x)
{
	XML_SetUserData(x->p, x);
	XML_SetHashSalt(x->p, next_salt());
	XML_SetElementHandler(x->p, on_start, on_end);
	XML_SetCharacterDataHandler(x->p, on_text);
	XML_SetStartNamespaceDeclHandler(x->p, on_ns_start);
	XML_SetCdataSectionHandler(x->p, on_cdata_start, on_cdata_end);
	XML_SetStartDoctypeDeclHandler(x->p, on_doctype);
	XML_SetEntityDeclHandler(x->p, on_entity);
	XML_SetProcessingInstructionHandler(x->p, on_pi);
	XML_SetCommentHandler(x->p, on_comment);
	XML_SetNotationDeclHandler(x->p, on_notation);
	XML_SetSkippedEntityHandler(x->p, on_skipped);
	XML_SetParamEntityParsing(x->p, XML_PARAM_ENTITY_PARSING_NEVER);
	XML_SetReturnNSTriplet(x->p, 1);
	x->depth = 0;
	x->err = x->stopped = x->tag_open = x->in_cdata = 0;
	x->fed = x->boundary = 0;
	x->stream_ns[0] = 0;
	buf_reset(&x->pend);
	stanza_clear(x);
}

struct c2s_xml *c2s_xml_new(const struct c2s_xml_limits *lim, const struct c2s_xml_ops *ops,
			    void *arg)
{
	struct c2s_xml *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->p = XML_ParserCreateNS("UTF-8", NS_SEP);
	if (!x->p) {
		free(x);
		errno = ENOMEM;
		return NULL;
	}
	x->ops = ops;
	x->arg = arg;
	x->stanza_size = lim && lim->stanza_size ? lim->stanza_size : STANZA_SIZE_DEFAULT;
	x->max_depth = lim && lim->max_depth ? lim->max_depth : XML_MAX_DEPTH_DEFAULT;
	x->max_attrs = lim && lim->max_attrs ? lim->max_attrs : XML_MAX_ATTRS;
	install(x);
	return x;
}

static void park(struct c2s_xml *x)
{
	if (!x->p || !x->parkable || x->depth != 1 || x->fed != x->boundary || x->err || x->stopped ||
	    x->in_cdata)
		return;
	XML_ParserFree(x->p);
	x->p = NULL;
}

static int unpark(struct c2s_xml *x)
{
	x->p = XML_ParserCreateNS("UTF-8", NS_SEP);
	if (!x->p)
		return C2S_XML_ENOMEM;
	install(x);
	x->priming = 1;
	enum XML_Status st = XML_Parse(x->p, (const char *)x->hdr.data, (int)x->hdr.len, 0);
	x->priming = 0;
	if (st != XML_STATUS_OK || x->depth != 1 || x->err)
		return C2S_XML_ENOMEM;	/* our own copy failed: an internal error */
	x->fed = x->boundary = x->hdr.len;
	return C2S_XML_OK;
}

int c2s_xml_parked(const struct c2s_xml *x) { return x->p == NULL; }

void c2s_xml_trim(struct c2s_xml *x)
{
	park(x);
	struct buf *bs[] = {&x->out, &x->meta, &x->text, &x->ctext, &x->gtext,
			    &x->prio, &x->scope, &x->scope_str, &x->pend};
	for (size_t i = 0; i < sizeof(bs) / sizeof(bs[0]); i++)
		if (bs[i]->len == 0)
			buf_free(bs[i]);
}

void c2s_xml_free(struct c2s_xml *x)
{
	if (!x)
		return;
	if (x->p)
		XML_ParserFree(x->p);
	struct buf *bs[] = {&x->out, &x->meta, &x->text, &x->ctext, &x->gtext, &x->prio,
			    &x->scope, &x->scope_str, &x->pend, &x->hdr, &x->hdr_decls};
	for (size_t i = 0; i < sizeof(bs) / sizeof(bs[0]); i++)
		buf_wipe_free(bs[i]);	/* SASL payloads pass through text */
	free(x);
}

int c2s_xml_reset(struct c2s_xml *x)
{
	if (x->p && !XML_ParserReset(x->p, "UTF-8"))
		return -1;
	if (!x->p && !(x->p = XML_ParserCreateNS("UTF-8", NS_SEP)))
		return -1;
	buf_free(&x->hdr);
	buf_free(&x->hdr_decls);
	x->parkable = 0;
	install(x);
	return 0;
}

static int feed_chunk(struct c2s_xml *x, const char *p, size_t n)
{
	enum XML_Status st = XML_Parse(x->p, p, (int)n, 0);
	x->fed += n;
	if (x->stopped)
		return C2S_XML_STOPPED;
	if (x->err)
		return x->err;
	if (st != XML_STATUS_OK)
		return C2S_XML_ENOTWF;
	if (x->fed - x->boundary > x->stanza_size)
		return C2S_XML_ETOOBIG;
	return C2S_XML_OK;
}

int c2s_xml_feed(struct c2s_xml *x, const void *p, size_t len)
{
	if (x->err)
		return x->err;
	if (x->stopped)
		return C2S_XML_STOPPED;
	if (!x->p && len > 0) {
		int r = unpark(x);
		if (r != C2S_XML_OK)
			return x->err = r;
	}
	const char *s = p;
	while (len > 0) {
		size_t n = len < FEED_CHUNK ? len : FEED_CHUNK;
		int r = feed_chunk(x, s, n);
		if (r != C2S_XML_OK) {
			if (r < 0)
				x->err = r;
			return r;
		}
		s += n;
		len -= n;
	}
	return C2S_XML_OK;
}

static const struct {
	int err;
	const char *text, *cond;
} xml_errs[] = {
	{C2S_XML_OK, "ok", "undefined-condition"},
	{C2S_XML_STOPPED, "stopped", "undefined-condition"},
	{C2S_XML_ENOTWF, "not well-formed", "not-well-formed"},
	{C2S_XML_ERESTRICTED, "restricted XML", "restricted-xml"},
	{C2S_XML_ETOOBIG, "stanza too big", "policy-violation"},
	{C2S_XML_EDEPTH, "nested too deep", "policy-violation"},
	{C2S_XML_EATTRS, "too many attributes", "policy-violation"},
	{C2S_XML_ENAME, "name too long", "policy-violation"},
	{C2S_XML_ENOMEM, "out of memory", "internal-server-error"},
};

const char *c2s_xml_strerror(int err)
{
	for (size_t i = 0; i < sizeof(xml_errs) / sizeof(xml_errs[0]); i++)
		if (xml_errs[i].err == err)
			return xml_errs[i].text;
	return "unknown";
}

const char *c2s_xml_condition(int err)
{
	for (size_t i = 0; i < sizeof(xml_errs) / sizeof(xml_errs[0]); i++)
		if (xml_errs[i].err == err)
			return xml_errs[i].cond;
	return "undefined-condition";
}

int c2s_xml_put_with_from(struct buf *out, const struct c2s_xml_elem *e, const char *from)
{
	if (buf_put(out, e->xml, e->from_at) < 0)
		return -1;
	if (from && (buf_put_str(out, " from='") < 0 || put_escaped(out, from, strlen(from), 1) < 0 ||
		     buf_put_u8(out, '\'') < 0))
		return -1;
	size_t rest = e->from_at + e->from_span;
	return buf_put(out, e->xml + rest, e->xml_len - rest);
}
