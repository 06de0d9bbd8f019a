/* XEP-0115 entity capabilities of each virtual host: the router asks the host's own
 * disco#info handler (a probe whose reply is kept, never sent), hashes the answer with the
 * §5 algorithm and tells the c2s workers (XE_HOST_CAPS), which put <c/> in stream features. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "log.h"
#include "route.h"
#include "rtr.h"
#include "tlv.h"
#include "xnode.h"

#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_XDATA "jabber:x:data"
#define CAPS_ITEMS_MAX 1024u	/* identities, features, forms or fields hashed at most */

/* The probe being fired and what its handler replied (the router is single-threaded and the
 * probe synchronous, so one slot is enough; it is set only while rtr_caps_refresh runs). */
static struct {
	const struct mod_event *ev;
	struct xnode *reply;
} probe;

int rtr_caps_capture(const struct mod_event *ev, struct xnode *payload)
{
	if (!probe.ev || ev != probe.ev)
		return 0;
	xnode_free(probe.reply);
	probe.reply = payload;
	return 1;
}

static const char *attr_or_empty(const struct xnode *n, const char *name)
{
	const char *v = xnode_attr(n, name);
	return v ? v : "";
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Identities by category, type, xml:lang, then name (§5.1 step 2). */
static int cmp_identity(const void *a, const void *b)
{
	static const char *const keys[] = {"category", "type", "xml:lang", "name"};
	const struct xnode *x = *(const struct xnode *const *)a, *y = *(const struct xnode *const *)b;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int c = strcmp(attr_or_empty(x, keys[i]), attr_or_empty(y, keys[i]));
		if (c)
			return c;
	}
	return 0;
}

static const char *node_text(const struct xnode *n)
{
	return n && n->text ? n->text : "";
}

/* The FORM_TYPE value of a data form, or NULL when it has none. */
static const char *form_type(const struct xnode *x)
{
	for (const struct xnode *f = x->children; f; f = f->next)
		if (strcmp(f->name, "field") == 0 && strcmp(attr_or_empty(f, "var"), "FORM_TYPE") == 0)
			return node_text(xnode_child(f, "value"));
	return NULL;
}

static int cmp_form(const void *a, const void *b)
{
	return strcmp(form_type(*(const struct xnode *const *)a), form_type(*(const struct xnode *const *)b));
}

static int cmp_field(const void *a, const void *b)
{
	return strcmp(attr_or_empty(*(const struct xnode *const *)a, "var"),
		      attr_or_empty(*(const struct xnode *const *)b, "var"));
}

/* The children of parent named name (with namespace ns when given), in *out; their count or -1. */
static int collect(const struct xnode *parent, const char *name, const char *ns, const struct xnode **out)
{
	int n = 0;
	for (const struct xnode *c = parent->children; c; c = c->next) {
		if (strcmp(c->name, name) != 0 || (ns && strcmp(attr_or_empty(c, "xmlns"), ns) != 0))
			continue;
		if (ns && !form_type(c))
			continue;	/* §5.4: a form without FORM_TYPE is not hashed */
		if ((unsigned)n >= CAPS_ITEMS_MAX)
			return -1;
		out[n++] = c;
	}
	return n;
}

static int put_item(struct buf *s, const char *text)
{
	return buf_put_str(s, text) < 0 || buf_put_u8(s, '<') < 0 ? -1 : 0;
}

/* One form (§5.1 step 6): FORM_TYPE, then each other field's var and sorted values. */
static int put_form(struct buf *s, const struct xnode *x, const struct xnode **fields, const char **values)
{
	int nf = collect(x, "field", NULL, fields);
	if (nf < 0 || put_item(s, form_type(x)) < 0)
		return -1;
	qsort(fields, (size_t)nf, sizeof(*fields), cmp_field);
	for (int i = 0; i < nf; i++) {
		const struct xnode *f = fields[i];
		if (strcmp(attr_or_empty(f, "var"), "FORM_TYPE") == 0)
			continue;
		size_t nv = 0;
		for (const struct xnode *v = f->children; v; v = v->next)
			if (strcmp(v->name, "value") == 0) {
				if (nv >= CAPS_ITEMS_MAX)
					return -1;
				values[nv++] = node_text(v);
			}
		qsort(values, nv, sizeof(*values), cmp_str);
		if (put_item(s, attr_or_empty(f, "var")) < 0)
			return -1;
		for (size_t k = 0; k < nv; k++)
			if (put_item(s, values[k]) < 0)
				return -1;
	}
	return 0;
}

/* S of §5.1 from the <query/> of a disco#info result. */
static int caps_string(const struct xnode *q, struct buf *s, const struct xnode **items, const char **values)
{
	int n = collect(q, "identity", NULL, items);
	if (n < 0)
		return -1;
	qsort(items, (size_t)n, sizeof(*items), cmp_identity);
	for (int i = 0; i < n; i++) {
		const struct xnode *id = items[i];
		if (buf_printf(s, "%s/%s/%s/%s<", attr_or_empty(id, "category"), attr_or_empty(id, "type"),
			       attr_or_empty(id, "xml:lang"), attr_or_empty(id, "name")) < 0)
			return -1;
	}
	if ((n = collect(q, "feature", NULL, items)) < 0)
		return -1;
	for (int i = 0; i < n; i++)
		values[i] = attr_or_empty(items[i], "var");
	qsort(values, (size_t)n, sizeof(*values), cmp_str);
	for (int i = 0; i < n; i++)
		if (put_item(s, values[i]) < 0)
			return -1;
	if ((n = collect(q, "x", NS_XDATA, items)) < 0)
		return -1;
	qsort(items, (size_t)n, sizeof(*items), cmp_form);
	const struct xnode **fields = calloc(CAPS_ITEMS_MAX, sizeof(*fields));
	int rc = fields ? 0 : -1;
	for (int i = 0; i < n && rc == 0; i++)
		rc = put_form(s, items[i], fields, values);
	free(fields);
	return rc;
}

int rtr_caps_ver(const struct xnode *query, char *out, size_t cap)
{
	const struct xnode **items = calloc(CAPS_ITEMS_MAX, sizeof(*items));
	const char **values = calloc(CAPS_ITEMS_MAX, sizeof(*values));
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct buf s;
	int rc = -1;
	buf_init(&s);
	if (items && values && cap >= 29 && caps_string(query, &s, items, values) == 0 &&
	    EVP_Digest(s.data ? s.data : (const uint8_t *)"", s.len, md, &mdlen, EVP_sha1(), NULL) == 1 &&
	    mdlen == 20 && EVP_EncodeBlock((unsigned char *)out, md, 20) == 28)
		rc = 0;
	buf_free(&s);
	free(items);
	free(values);
	return rc;
}

/* Asks h's disco#info handler, as a client of h would, and hashes its answer into h->caps. */
static void caps_compute(struct mod_host *h)
{
	static const char ev_name[] = "iq-get/host/" NS_INFO ":query";
	struct xnode *iq = xnode_new("iq"), *q = xnode_new("query");
	h->caps[0] = 0;
	if (!iq || !q || xnode_set_attr(iq, "type", "get") < 0 || xnode_set_attr(iq, "id", "caps") < 0 ||
	    xnode_set_attr(iq, "from", h->name) < 0 || xnode_set_attr(iq, "to", h->name) < 0 ||
	    xnode_set_attr(q, "xmlns", NS_INFO) < 0) {
		xnode_free(iq);
		xnode_free(q);
		return;
	}
	xnode_append_take(iq, q);
	struct mod_event ev = {.name = ev_name, .host = h, .kind = MOD_K_IQ, .from = h->name, .to = h->name,
			       .stanza = iq, .api = &rtr_mod_api};
	probe.ev = &ev;
	probe.reply = NULL;
	if (rtr_bus_has(h->bus, ev_name))
		rtr_bus_fire(h->bus, &ev);
	probe.ev = NULL;
	if (probe.reply && strcmp(probe.reply->name, "query") == 0 &&
	    rtr_caps_ver(probe.reply, h->caps, sizeof(h->caps)) < 0)
		h->caps[0] = 0;
	xnode_free(probe.reply);
	probe.reply = NULL;
	xnode_free(iq);
	log_debug("entity capabilities computed", "host=%s ver=%s", h->name, h->caps[0] ? h->caps : "-");
}

static int caps_send_host(struct rtr_link *l, const struct mod_host *h)
{
	struct buf body;
	buf_init(&body);
	int rc = tlv_put_str(&body, RT_CAPS_HASH, "sha-1") | tlv_put_str(&body, RT_CAPS_VER, h->caps);
	struct xe_msg m = {.version = XE_VERSION, .kind = XE_HOST_CAPS, .from = h->name,
			   .from_len = (uint16_t)strlen(h->name), .to = "", .body = body.data,
			   .body_len = (uint32_t)body.len};
	if (rc == 0)
		rc = rtr_send(l, &m);
	buf_free(&body);
	return rc;
}

void rtr_caps_send(struct rtr_link *l)
{
	for (unsigned i = 0; i < env->nhosts; i++)
		if (!env->hosts[i]->component && env->hosts[i]->caps[0])
			(void)caps_send_host(l, env->hosts[i]);
}

void rtr_caps_refresh(void)
{
	for (unsigned i = 0; i < env->nhosts; i++) {
		struct mod_host *h = env->hosts[i];
		if (h->component)
			continue;
		char old[sizeof(h->caps)];
		memcpy(old, h->caps, sizeof(old));
		caps_compute(h);
		for (unsigned k = 0; strcmp(old, h->caps) != 0 && k < env->nlinks; k++)
			(void)caps_send_host(&env->links[k], h);	/* every link is a stream worker */
	}
}
