/* The XML stream parser of one c2s connection: expat, incremental, with limits; it turns bytes
 * into stream-header, top-level-element and stream-end events. It never expands entities. */
#ifndef XMPPD_C2S_XML_H
#define XMPPD_C2S_XML_H
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define C2S_NS_STREAMS "http://etherx.jabber.org/streams"
#define C2S_NS_CLIENT "jabber:client"
#define C2S_NS_COMPONENT "jabber:component:accept"
#define C2S_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define C2S_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define C2S_NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define C2S_NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define C2S_NS_XML "http://www.w3.org/XML/1998/namespace"

#define C2S_XML_TEXT_MAX 8192u	/* direct text kept of a top-level element (SASL payloads) */
#define C2S_XML_CHILD_TEXT_MAX 1024u	/* text kept of a child or grandchild (resource, priority) */

/* Errors of c2s_xml_feed; each maps to the stream error of the same name. */
enum c2s_xml_err {
	C2S_XML_OK = 0,
	C2S_XML_STOPPED = 1,		/* a handler asked to stop; the rest of the input was dropped */
	C2S_XML_ENOTWF = -1,		/* not-well-formed */
	C2S_XML_ERESTRICTED = -2,	/* restricted-xml: DOCTYPE, entity, PI, comment */
	C2S_XML_ETOOBIG = -3,		/* policy-violation: stanza size */
	C2S_XML_EDEPTH = -4,		/* policy-violation: nesting */
	C2S_XML_EATTRS = -5,		/* policy-violation: attribute count */
	C2S_XML_ENAME = -6,		/* policy-violation: name length */
	C2S_XML_ENOMEM = -7,		/* internal-server-error */
};

/* Strings are NUL-terminated and borrowed for the duration of the callback; absent = NULL. */
struct c2s_xml_hdr {
	const char *name;	/* local name, "stream" */
	const char *ns;		/* its namespace, C2S_NS_STREAMS */
	const char *default_ns;	/* xmlns declared on the header, "jabber:client" */
	const char *to, *from, *version, *id, *lang;
};

struct c2s_xml_elem {
	const char *name, *ns;			/* local name and namespace ("" when none) */
	const char *to, *from, *type, *id;	/* unprefixed attributes of the element */
	const char *mechanism;			/* the SASL <auth mechanism=''> attribute */
	const char *text;			/* direct character data, "" when none */
	int text_truncated;			/* more than C2S_XML_TEXT_MAX bytes of it */
	unsigned nchildren;			/* child elements */
	const char *child_name, *child_ns;	/* first child element, NULL when none */
	const char *child_text;			/* direct text of the first child */
	const char *gchild_name;		/* first element inside the first child */
	const char *gchild_text;
	const char *priority;			/* text of the first <priority/> child, or NULL */
	const char *xml;			/* the element re-serialised, namespaces explicit */
	size_t xml_len;
	size_t from_at, from_span;		/* where ` from='…'` is (span 0: where it would go) */
};

enum c2s_xml_verdict { C2S_XML_CONTINUE = 0, C2S_XML_STOP = 1 };

struct c2s_xml_ops {
	int (*stream_start)(void *arg, const struct c2s_xml_hdr *h);
	int (*element)(void *arg, const struct c2s_xml_elem *e);
	int (*stream_end)(void *arg);
};

struct c2s_xml_limits {
	size_t stanza_size;	/* 0 = STANZA_SIZE_DEFAULT */
	unsigned max_depth;	/* 0 = XML_MAX_DEPTH_DEFAULT */
	unsigned max_attrs;	/* 0 = XML_MAX_ATTRS */
};

struct c2s_xml;

struct c2s_xml *c2s_xml_new(const struct c2s_xml_limits *lim, const struct c2s_xml_ops *ops,
			    void *arg);
void c2s_xml_free(struct c2s_xml *x);
/* Feeds bytes; calls the ops for every complete event. Returns C2S_XML_OK, C2S_XML_STOPPED
 * or a negative enum c2s_xml_err; after an error the parser must be reset before reuse. */
int c2s_xml_feed(struct c2s_xml *x, const void *p, size_t len);
/* Starts a new stream on the same parser (after STARTTLS and after SASL success). */
int c2s_xml_reset(struct c2s_xml *x);
/* Drops the element buffers a quiet stream does not need (they grow again on demand) and,
 * between stanzas, parks the parser: expat is freed and re-created on the next feed. */
void c2s_xml_trim(struct c2s_xml *x);
int c2s_xml_parked(const struct c2s_xml *x);	/* 1 while expat is freed */
const char *c2s_xml_strerror(int err);
/* The stream error condition for an error of c2s_xml_feed ("not-well-formed", ...). */
const char *c2s_xml_condition(int err);
/* Writes e's serialisation to out with its `from` replaced by from (NULL = removed). */
int c2s_xml_put_with_from(struct buf *out, const struct c2s_xml_elem *e, const char *from);

#endif
