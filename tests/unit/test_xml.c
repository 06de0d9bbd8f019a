/* Unit tests of the c2s XML stream parser: the same events whatever the split of the input,
 * every limit and restricted construct gives its error, namespaces and escaping survive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "workers/stream/xml.h"
#include "xlimits.h"

#define HDR "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " \
	    "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"

struct ev_log {
	struct buf b;
	int stop_after;		/* stop when this many elements were seen (0 = never) */
	int nelem;
};

static void log_s(struct buf *b, const char *k, const char *v)
{
	buf_printf(b, "%s=%s;", k, v ? v : "(null)");
}

static int on_start(void *arg, const struct c2s_xml_hdr *h)
{
	struct ev_log *l = arg;
	buf_put_str(&l->b, "START{");
	log_s(&l->b, "name", h->name);
	log_s(&l->b, "ns", h->ns);
	log_s(&l->b, "dns", h->default_ns);
	log_s(&l->b, "to", h->to);
	log_s(&l->b, "version", h->version);
	log_s(&l->b, "lang", h->lang);
	buf_put_str(&l->b, "}\n");
	return C2S_XML_CONTINUE;
}

static int on_elem(void *arg, const struct c2s_xml_elem *e)
{
	struct ev_log *l = arg;
	buf_put_str(&l->b, "ELEM{");
	log_s(&l->b, "name", e->name);
	log_s(&l->b, "ns", e->ns);
	log_s(&l->b, "to", e->to);
	log_s(&l->b, "from", e->from);
	log_s(&l->b, "type", e->type);
	log_s(&l->b, "id", e->id);
	log_s(&l->b, "text", e->text);
	log_s(&l->b, "child", e->child_name);
	log_s(&l->b, "cns", e->child_ns);
	log_s(&l->b, "ctext", e->child_text);
	log_s(&l->b, "gchild", e->gchild_name);
	log_s(&l->b, "gtext", e->gchild_text);
	log_s(&l->b, "prio", e->priority);
	log_s(&l->b, "xml", e->xml);
	assert_int_equal(strlen(e->xml), e->xml_len);
	buf_put_str(&l->b, "}\n");
	l->nelem++;
	return l->stop_after && l->nelem >= l->stop_after ? C2S_XML_STOP : C2S_XML_CONTINUE;
}

static int on_end(void *arg)
{
	struct ev_log *l = arg;
	buf_put_str(&l->b, "END\n");
	return C2S_XML_CONTINUE;
}

static const struct c2s_xml_ops ops = {on_start, on_elem, on_end};

/* Feeds in pieces cut at the given points (sorted, may be empty); returns the final result. */
static int trim_each;	/* park the parser between feeds, as an idle connection does */

static int run(const char *in, const size_t *cuts, size_t ncuts, size_t step,
	       const struct c2s_xml_limits *lim, struct ev_log *l)
{
	struct c2s_xml *x = c2s_xml_new(lim, &ops, l);
	assert_non_null(x);
	size_t len = strlen(in), off = 0;
	int r = C2S_XML_OK;
	for (size_t i = 0; off < len && r == C2S_XML_OK; i++) {
		size_t end = step ? off + step : (i < ncuts ? cuts[i] : len);
		if (end > len)
			end = len;
		r = c2s_xml_feed(x, in + off, end - off);
		if (trim_each && r == C2S_XML_OK)
			c2s_xml_trim(x);
		off = end;
	}
	buf_put_u8(&l->b, 0);
	c2s_xml_free(x);
	return r;
}

struct xml_case {
	const char *name;
	const char *in;
	int want;		/* final result */
	const char *want_xml;	/* xml of the first element, NULL = no element expected */
	size_t stanza_size;
};

static const struct xml_case cases[] = {
	{"message with escapes", HDR "<message to='a@b' type='chat' id='1'><body>a &amp; b &lt; c &quot;&gt;</body></message>",
	 C2S_XML_OK, "<message xmlns='jabber:client' to='a@b' type='chat' id='1'><body>a &amp; b &lt; c \"&gt;</body></message>", 0},
	{"child namespaces and prefixes", HDR "<iq type='get' id='x'><query xmlns='jabber:iq:roster'/><p:foo xmlns:p='urn:p' p:attr='v'><p:bar/></p:foo></iq>",
	 C2S_XML_OK, "<iq xmlns='jabber:client' type='get' id='x'><query xmlns='jabber:iq:roster'/><p:foo xmlns:p='urn:p' p:attr='v'><p:bar/></p:foo></iq>", 0},
	{"prefix declared on the stream header", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:x='urn:x' to='h'><message><x:y x:a='1'/></message>",
	 C2S_XML_OK, "<message xmlns='jabber:client'><x:y xmlns:x='urn:x' x:a='1'/></message>", 0},
	{"xml:lang and attribute whitespace", HDR "<message xml:lang='en' id='a&#10;b&#9;c&apos;'/>",
	 C2S_XML_OK, "<message xmlns='jabber:client' xml:lang='en' id='a&#10;b&#9;c&apos;'/>", 0},
	{"cdata is re-escaped", HDR "<message><body><![CDATA[<hi>&]]></body></message>",
	 C2S_XML_OK, "<message xmlns='jabber:client'><body>&lt;hi&gt;&amp;</body></message>", 0},
	{"keepalives and two stanzas and end", HDR " \n <presence><priority>5</priority><show>away</show></presence> <iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq></stream:stream>",
	 C2S_XML_OK, "<presence xmlns='jabber:client'><priority>5</priority><show>away</show></presence>", 0},
	{"cdata between stanzas is not a stanza", HDR "<![CDATA[<iq/>]]><message/>",
	 C2S_XML_OK, "<message xmlns='jabber:client'/>", 0},
	{"default namespace undeclared inside", HDR "<message><x xmlns=''><y/></x></message>",
	 C2S_XML_OK, "<message xmlns='jabber:client'><x xmlns=''><y/></x></message>", 0},
	{"sasl auth text", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='h'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>biwsbj11c2VyLHI9Znlrbw==</auth>",
	 C2S_XML_OK, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>biwsbj11c2VyLHI9Znlrbw==</auth>", 0},
	{"wrong stream namespace still reported", "<stream:stream xmlns='jabber:server' xmlns:stream='urn:other' to='h'>",
	 C2S_XML_OK, NULL, 0},
	{"doctype", "<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY x 'boom'>]><stream:stream/>", C2S_XML_ERESTRICTED, NULL, 0},
	{"internal entity declaration", "<!DOCTYPE s [<!ENTITY a 'aaaaaaaaaa'>]><s>&a;</s>", C2S_XML_ERESTRICTED, NULL, 0},
	{"comment in a stanza", HDR "<message><!-- hi --></message>", C2S_XML_ERESTRICTED, NULL, 0},
	{"comment between stanzas", HDR "<!-- hi -->", C2S_XML_ERESTRICTED, NULL, 0},
	{"processing instruction", HDR "<message><?php echo 1 ?></message>", C2S_XML_ERESTRICTED, NULL, 0},
	{"undefined entity", HDR "<message>&foo;</message>", C2S_XML_ENOTWF, NULL, 0},
	{"mismatched tags", HDR "<message></presence>", C2S_XML_ENOTWF, NULL, 0},
	{"unbound prefix", HDR "<x:message/>", C2S_XML_ENOTWF, NULL, 0},
	{"bad utf-8", HDR "<message>\xff\xfe</message>", C2S_XML_ENOTWF, NULL, 0},
	{"too deep", HDR "<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a>",
	 C2S_XML_EDEPTH, NULL, 0},
	{"stanza too big", HDR "<message><body>xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx</body></message>",
	 C2S_XML_ETOOBIG, NULL, 200},
	{"stanza at the size limit", HDR "<message><body>xxxx</body></message>", C2S_XML_OK,
	 "<message xmlns='jabber:client'><body>xxxx</body></message>", 200},
};

/* Generated cases for limits whose inputs are long. */
static char *attrs_case(unsigned n)
{
	struct buf b;
	buf_init(&b);
	buf_put_str(&b, HDR "<message");
	for (unsigned i = 0; i < n; i++)
		buf_printf(&b, " a%u='v'", i);
	buf_put_str(&b, "/>");
	buf_put_u8(&b, 0);
	return (char *)b.data;
}

static char *name_case(size_t n)
{
	struct buf b;
	buf_init(&b);
	buf_put_str(&b, HDR "<message><");
	for (size_t i = 0; i < n; i++)
		buf_put_u8(&b, 'n');
	buf_put_str(&b, "/></message>");
	buf_put_u8(&b, 0);
	return (char *)b.data;
}

static void check_case(const struct xml_case *c)
{
	struct c2s_xml_limits lim = {c->stanza_size, 0, 0};
	struct ev_log whole = {0}, split = {0};
	int r = run(c->in, NULL, 0, 0, &lim, &whole);
	if (r != c->want)
		fail_msg("case \"%s\": got %d (%s), want %d", c->name, r, c2s_xml_strerror(r), c->want);
	if (c->want_xml) {
		const char *x = strstr((char *)whole.b.data, "xml=");
		const char *end = x ? strstr(x, ";}") : NULL;
		if (!x || !end || (size_t)(end - x - 4) != strlen(c->want_xml) ||
		    memcmp(x + 4, c->want_xml, strlen(c->want_xml)) != 0)
			fail_msg("case \"%s\": got events\n%s\nwant xml %s", c->name, (char *)whole.b.data,
				 c->want_xml);
	}
	size_t len = strlen(c->in);
	for (size_t cut = 1; cut < len; cut++) {
		buf_init(&split.b);
		int r2 = run(c->in, &cut, 1, 0, &lim, &split);
		if (r2 != r || strcmp((char *)split.b.data, (char *)whole.b.data) != 0)
			fail_msg("case \"%s\" split at %zu: got %d\n%s\nwant %d\n%s", c->name, cut, r2,
				 (char *)split.b.data, r, (char *)whole.b.data);
		buf_free(&split.b);
	}
	buf_init(&split.b);
	int r3 = run(c->in, NULL, 0, 1, &lim, &split);
	if (r3 != r || strcmp((char *)split.b.data, (char *)whole.b.data) != 0)
		fail_msg("case \"%s\" byte by byte: got %d\n%s\nwant %d\n%s", c->name, r3,
			 (char *)split.b.data, r, (char *)whole.b.data);
	buf_free(&split.b);
	buf_init(&split.b);
	trim_each = 1;
	int r4 = run(c->in, NULL, 0, 1, &lim, &split);
	trim_each = 0;
	if (r4 != r || strcmp((char *)split.b.data, (char *)whole.b.data) != 0)
		fail_msg("case \"%s\" byte by byte, parked between bytes: got %d\n%s\nwant %d\n%s",
			 c->name, r4, (char *)split.b.data, r, (char *)whole.b.data);
	buf_free(&split.b);
	buf_free(&whole.b);
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i]);
}

static void test_generated_limits(void **state)
{
	(void)state;
	char *ok_attrs = attrs_case(XML_MAX_ATTRS), *bad_attrs = attrs_case(XML_MAX_ATTRS + 1);
	char *ok_name = name_case(XML_MAX_NAME), *bad_name = name_case(XML_MAX_NAME + 1);
	const struct xml_case gen[] = {
		{"attributes at the limit", ok_attrs, C2S_XML_OK, NULL, 0},
		{"one attribute too many", bad_attrs, C2S_XML_EATTRS, NULL, 0},
		{"name at the limit", ok_name, C2S_XML_OK, NULL, 0},
		{"name too long", bad_name, C2S_XML_ENAME, NULL, 0},
	};
	for (size_t i = 0; i < sizeof(gen) / sizeof(gen[0]); i++)
		check_case(&gen[i]);
	free(ok_attrs);
	free(bad_attrs);
	free(ok_name);
	free(bad_name);
}

static void test_fields(void **state)
{
	(void)state;
	struct ev_log l = {0};
	const char *in = HDR " <presence><priority>5</priority><show>away</show></presence>"
			 "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
			 "<resource>phone</resource></bind></iq></stream:stream>";
	assert_int_equal(run(in, NULL, 0, 0, NULL, &l), C2S_XML_OK);
	const char *want =
	    "START{name=stream;ns=http://etherx.jabber.org/streams;dns=jabber:client;to=example.com;"
	    "version=1.0;lang=(null);}\n"
	    "ELEM{name=presence;ns=jabber:client;to=(null);from=(null);type=(null);id=(null);text=;"
	    "child=priority;cns=jabber:client;ctext=5;gchild=(null);gtext=(null);prio=5;"
	    "xml=<presence xmlns='jabber:client'><priority>5</priority><show>away</show></presence>;}\n"
	    "ELEM{name=iq;ns=jabber:client;to=(null);from=(null);type=set;id=b;text=;child=bind;"
	    "cns=urn:ietf:params:xml:ns:xmpp-bind;ctext=;gchild=resource;gtext=phone;prio=(null);"
	    "xml=<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
	    "<resource>phone</resource></bind></iq>;}\n"
	    "END\n";
	if (strcmp((char *)l.b.data, want) != 0)
		fail_msg("got\n%s\nwant\n%s", (char *)l.b.data, want);
	buf_free(&l.b);
}

static int count_elem(void *arg, const struct c2s_xml_elem *e)
{
	struct buf *b = arg;
	buf_printf(b, "%s:%u:%s|", e->name, e->nchildren, e->xml);
	return C2S_XML_CONTINUE;
}

/* Children are counted (IQ checks), the attribute limit is configurable, and a component's
 * stanzas are serialised in jabber:client with their children inheriting it. */
static void test_children_attrs_component(void **state)
{
	(void)state;
	static const struct c2s_xml_ops cops = {NULL, count_elem, NULL};
	struct buf b;
	buf_init(&b);
	struct c2s_xml *x = c2s_xml_new(NULL, &cops, &b);
	const char *in = HDR "<iq type='get' id='1'/><iq type='get' id='2'><a xmlns='x'><b/></a><c xmlns='y'/></iq>";
	assert_int_equal(c2s_xml_feed(x, in, strlen(in)), C2S_XML_OK);
	buf_put_u8(&b, 0);
	assert_non_null(strstr((char *)b.data, "iq:0:"));
	assert_non_null(strstr((char *)b.data, "iq:2:"));
	c2s_xml_free(x);

	struct c2s_xml_limits lim = {0, 0, 2};
	buf_reset(&b);
	x = c2s_xml_new(&lim, &cops, &b);
	const char *two = HDR "<message a='1' b='2'/>", *three = "<message a='1' b='2' c='3'/>";
	assert_int_equal(c2s_xml_feed(x, two, strlen(two)), C2S_XML_OK);
	assert_int_equal(c2s_xml_feed(x, three, strlen(three)), C2S_XML_EATTRS);
	c2s_xml_free(x);

	buf_reset(&b);
	x = c2s_xml_new(NULL, &cops, &b);
	const char *comp = "<stream:stream xmlns='jabber:component:accept' "
			   "xmlns:stream='http://etherx.jabber.org/streams' to='c.example'>"
			   "<message from='a@c.example' to='u@example'><body>hi</body></message>";
	assert_int_equal(c2s_xml_feed(x, comp, strlen(comp)), C2S_XML_OK);
	buf_put_u8(&b, 0);
	const char *want = "message:1:<message xmlns='jabber:client' from='a@c.example' to='u@example'>"
			   "<body>hi</body></message>|";
	if (strcmp((char *)b.data, want) != 0)
		fail_msg("got %s\nwant %s", (char *)b.data, want);
	c2s_xml_free(x);
	buf_free(&b);
}

/* A stop drops the rest of the input; a reset then accepts a new stream header. */
static void test_stop_and_reset(void **state)
{
	(void)state;
	struct ev_log l = {0};
	l.stop_after = 1;
	struct c2s_xml *x = c2s_xml_new(NULL, &ops, &l);
	const char *in = HDR "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message>injected</message>";
	assert_int_equal(c2s_xml_feed(x, in, strlen(in)), C2S_XML_STOPPED);
	assert_int_equal(l.nelem, 1);
	assert_int_equal(c2s_xml_feed(x, "<a/>", 4), C2S_XML_STOPPED);
	assert_int_equal(c2s_xml_reset(x), 0);
	l.stop_after = 0;
	buf_reset(&l.b);
	assert_int_equal(c2s_xml_feed(x, HDR, strlen(HDR)), C2S_XML_OK);
	assert_int_equal(c2s_xml_feed(x, "<message/>", 10), C2S_XML_OK);
	assert_int_equal(l.nelem, 2);
	/* between stanzas an idle parser parks, and comes back in the same stream */
	c2s_xml_trim(x);
	assert_int_equal(c2s_xml_parked(x), 1);
	assert_int_equal(c2s_xml_feed(x, "<mess", 5), C2S_XML_OK);
	c2s_xml_trim(x);
	assert_int_equal(c2s_xml_parked(x), 0);	/* not at a boundary: keeps its state */
	assert_int_equal(c2s_xml_feed(x, "age/></stream:stream>", 21), C2S_XML_OK);
	assert_int_equal(l.nelem, 3);
	buf_put_u8(&l.b, 0);
	assert_non_null(strstr((char *)l.b.data, "START{"));
	assert_null(strstr((char *)l.b.data, "injected"));
	c2s_xml_free(x);
	buf_free(&l.b);
}

struct from_case {
	const char *name, *stanza, *from, *want;
};

static const char *got_xml;
static int keep_elem(void *arg, const struct c2s_xml_elem *e)
{
	struct buf *out = arg;
	const char *from = got_xml;
	buf_reset(out);
	assert_int_equal(c2s_xml_put_with_from(out, e, from), 0);
	buf_put_u8(out, 0);
	return C2S_XML_CONTINUE;
}

static void test_from_replaced(void **state)
{
	(void)state;
	static const struct from_case fc[] = {
		{"spoofed from replaced", "<message from='evil@x' to='b@h'><body/></message>", "a@h/r",
		 "<message xmlns='jabber:client' from='a@h/r' to='b@h'><body/></message>"},
		{"no from: added", "<presence/>", "a@h/r", "<presence xmlns='jabber:client' from='a@h/r'/>"},
		{"no from: added after the attributes", "<message to='b@h' id='1'/>", "a@h/r",
		 "<message xmlns='jabber:client' to='b@h' id='1' from='a@h/r'/>"},
		{"from escaped", "<iq from='x' type='get'/>", "a&b@h/'r'",
		 "<iq xmlns='jabber:client' from='a&amp;b@h/&apos;r&apos;' type='get'/>"},
		{"from removed", "<iq from='x' type='get'/>", NULL, "<iq xmlns='jabber:client' type='get'/>"},
	};
	static const struct c2s_xml_ops kops = {NULL, keep_elem, NULL};
	for (size_t i = 0; i < sizeof(fc) / sizeof(fc[0]); i++) {
		struct buf out;
		buf_init(&out);
		struct c2s_xml *x = c2s_xml_new(NULL, &kops, &out);
		got_xml = fc[i].from;
		assert_int_equal(c2s_xml_feed(x, HDR, strlen(HDR)), C2S_XML_OK);
		assert_int_equal(c2s_xml_feed(x, fc[i].stanza, strlen(fc[i].stanza)), C2S_XML_OK);
		if (!out.data || strcmp((char *)out.data, fc[i].want) != 0)
			fail_msg("case \"%s\": got %s, want %s", fc[i].name,
				 out.data ? (char *)out.data : "(nothing)", fc[i].want);
		c2s_xml_free(x);
		buf_free(&out);
	}
}

/* The re-serialised stanza parses back to the same serialisation (a round trip). */
static void test_roundtrip(void **state)
{
	(void)state;
	static const struct c2s_xml_ops kops = {NULL, keep_elem, NULL};
	const char *stanza = "<message to='a@b' xml:lang='fr'><body>1 &lt; 2 &amp; &quot;q&quot; &#13;</body>"
			     "<p:x xmlns:p='urn:p' p:a='&lt;&#10;'><y xmlns='urn:y'><z/></y></p:x></message>";
	struct buf first, second;
	buf_init(&first);
	buf_init(&second);
	got_xml = "a@b/c";
	struct c2s_xml *x = c2s_xml_new(NULL, &kops, &first);
	assert_int_equal(c2s_xml_feed(x, HDR, strlen(HDR)), C2S_XML_OK);
	assert_int_equal(c2s_xml_feed(x, stanza, strlen(stanza)), C2S_XML_OK);
	c2s_xml_free(x);
	x = c2s_xml_new(NULL, &kops, &second);
	assert_int_equal(c2s_xml_feed(x, HDR, strlen(HDR)), C2S_XML_OK);
	assert_int_equal(c2s_xml_feed(x, first.data, first.len - 1), C2S_XML_OK);
	c2s_xml_free(x);
	assert_string_equal((char *)first.data, (char *)second.data);
	assert_non_null(strstr((char *)first.data, "&#13;"));
	buf_free(&first);
	buf_free(&second);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_generated_limits),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_children_attrs_component),
		cmocka_unit_test(test_stop_and_reset),
		cmocka_unit_test(test_from_replaced),
		cmocka_unit_test(test_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
