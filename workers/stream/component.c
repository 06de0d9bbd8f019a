/* External components (XEP-0114): the jabber:component:accept stream, the SHA-1 handshake, stanzas
 * whose from must lie in the component's domain, and replacement of an older connection. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "c2s.h"
#include "log.h"
#include "xe.h"
#include "xlimits.h"

int c2s_comp_stream_start(struct c2s_conn *c, const struct c2s_xml_hdr *h)
{
	c->comp = -1;
	for (size_t i = 0; h->to && i < env->ncomponents; i++)
		if (env->components[i].secret && strcasecmp(env->components[i].name, h->to) == 0)
			c->comp = (int)i;
	if (c->comp < 0) {
		c2s_stream_error(c, "host-unknown");
		return -1;
	}
	return 0;
}

/* hex(SHA-1(stream id || secret)), compared in constant time */
static int handshake_ok(const struct c2s_conn *c, const char *digest)
{
	const char *secret = env->components[c->comp].secret;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t h[20];
	unsigned int n = 0;
	int ok = md && EVP_DigestInit_ex(md, EVP_sha1(), NULL) == 1 &&
		 EVP_DigestUpdate(md, c->stream_id, strlen(c->stream_id)) == 1 &&
		 EVP_DigestUpdate(md, secret, strlen(secret)) == 1 && EVP_DigestFinal_ex(md, h, &n) == 1;
	EVP_MD_CTX_free(md);
	if (!ok || strlen(digest) != 40)
		return 0;
	char hex[41];
	for (int i = 0; i < 20; i++) {
		hex[2 * i] = "0123456789abcdef"[h[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[h[i] & 15];
	}
	hex[40] = 0;
	char low[41];
	for (int i = 0; i < 41; i++)
		low[i] = (char)(digest[i] >= 'A' && digest[i] <= 'F' ? digest[i] + 32 : digest[i]);
	ok = CRYPTO_memcmp(hex, low, 40) == 0;
	explicit_bzero(h, sizeof(h));
	return ok;
}

static int comp_handshake(struct c2s_conn *c, const struct c2s_xml_elem *e)
{
	if (c->authed) {
		c2s_stream_error(c, "not-authorized");
		return C2S_XML_STOP;
	}
	if (!c->stream_id || e->text_truncated || !handshake_ok(c, e->text)) {
		log_notice("component handshake failed", "component=%s", env->components[c->comp].name);
		c2s_stream_error(c, "not-authorized");
		return C2S_XML_STOP;
	}
	const char *name = env->components[c->comp].name;
	/* a reconnecting component replaces its older connection on this worker; the router
	 * replaces the route whichever worker held it */
	struct c2s_conn *o, *next;
	for (o = env->conns; o; o = next) {
		next = o->next;	/* a stream error may free o */
		if (o != c && o->component && o->bound && !o->closing && o->comp == c->comp) {
			log_info("component reconnected, replacing the old stream", "component=%s", name);
			c2s_stream_error(o, "conflict");
		}
	}
	c->authed = 1;
	/* <handshake/> goes out once the router holds the route (c2s_comp_bound) */
	if (c2s_sess_bind_jid(c, name) < 0 || c2s_rl_bind(c) < 0) {
		c2s_stream_error(c, "internal-server-error");
		return C2S_XML_STOP;
	}
	return C2S_XML_CONTINUE;
}

void c2s_comp_bound(struct c2s_conn *c, const char *cond)
{
	const char *name = env->components[c->comp].name;
	if (cond) {
		log_notice("component route refused by the router", "component=%s condition=%s", name, cond);
		c2s_stream_error(c, strcmp(cond, "internal-server-error") == 0 ? cond : "not-authorized");
		return;
	}
	c2s_conn_bound(c);
	(void)c2s_conn_send_str(c, "<handshake/>");
	log_info("component connected", "component=%s sid=%llu", name, (unsigned long long)c->sid);
}

/* 1 when jid's domain is name or a subdomain of it. */
static int in_domain(const char *jid, const char *name)
{
	const char *at = strchr(jid, '@'), *sl = strchr(jid, '/');
	const char *d = at && (!sl || at < sl) ? at + 1 : jid;
	size_t dl = sl ? (size_t)(sl - d) : strlen(d), nl = strlen(name);
	if (dl == nl)
		return strncasecmp(d, name, nl) == 0;
	return dl > nl && d[dl - nl - 1] == '.' && strncasecmp(d + dl - nl, name, nl) == 0;
}

static const struct {
	const char *name;
	uint8_t stype;
} comp_stypes[] = {
	{"message", XE_ST_MESSAGE},
	{"presence", XE_ST_PRESENCE},
	{"iq", XE_ST_IQ},
};

static int comp_stanza(struct c2s_conn *c, const struct c2s_xml_elem *e, uint8_t stype)
{
	if (!c->authed) {
		c2s_stream_error(c, "not-authorized");
		return C2S_XML_STOP;
	}
	char from[XE_MAX_JID + 1], to[XE_MAX_JID + 1];
	/* XEP-0114: from and to are required; from must be the component's domain or below it */
	if (!e->from || c2s_jid_prep(e->from, from, sizeof(from)) < 0 ||
	    !in_domain(from, env->components[c->comp].name)) {
		c2s_stream_error(c, "invalid-from");
		return C2S_XML_STOP;
	}
	if (!e->to || c2s_jid_prep(e->to, to, sizeof(to)) < 0) {
		c2s_stream_error(c, "improper-addressing");
		return C2S_XML_STOP;
	}
	struct buf body;
	buf_init(&body);
	if (c2s_xml_put_with_from(&body, e, from) < 0 ||
	    c2s_rl_send(XE_STANZA, stype, c->sid, 0, from, to, body.data, body.len) < 0)
		env->cnt.send_errors++;
	buf_free(&body);
	return C2S_XML_CONTINUE;
}

int c2s_comp_element(struct c2s_conn *c, const struct c2s_xml_elem *e)
{
	if (strcmp(e->ns, C2S_NS_COMPONENT) != 0) {
		c2s_stream_error(c, "unsupported-stanza-type");
		return C2S_XML_STOP;
	}
	if (strcmp(e->name, "handshake") == 0)
		return comp_handshake(c, e);
	for (size_t i = 0; i < sizeof(comp_stypes) / sizeof(comp_stypes[0]); i++)
		if (strcmp(e->name, comp_stypes[i].name) == 0)
			return comp_stanza(c, e, comp_stypes[i].stype);
	c2s_stream_error(c, "unsupported-stanza-type");
	return C2S_XML_STOP;
}

int c2s_comp_deliver(struct c2s_conn *c, const uint8_t *body, size_t len)
{
	/* the router's stanzas are in jabber:client: the component reads its own namespace */
	static const char cl[] = " xmlns='" C2S_NS_CLIENT "'", co[] = " xmlns='" C2S_NS_COMPONENT "'";
	const uint8_t *gt = memchr(body, '>', len);
	size_t head = gt ? (size_t)(gt - body) : len;
	const uint8_t *at = NULL;
	for (size_t i = 0; i + sizeof(cl) - 1 <= head; i++)
		if (memcmp(body + i, cl, sizeof(cl) - 1) == 0) {
			at = body + i;
			break;
		}
	if (!at)
		return c2s_conn_send(c, body, len);
	size_t off = (size_t)(at - body);
	struct buf b;
	buf_init(&b);
	int rc = buf_put(&b, body, off) < 0 || buf_put(&b, co, sizeof(co) - 1) < 0 ||
			 buf_put(&b, at + sizeof(cl) - 1, len - off - (sizeof(cl) - 1)) < 0
		 ? -1
		 : c2s_conn_send(c, b.data, b.len);
	buf_free(&b);
	return rc;
}
