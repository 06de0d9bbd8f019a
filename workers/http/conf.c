/* The http worker's configuration slice: read into a separate struct http_conf first, so a reload
 * (new certificates, trusted proxies, limits) replaces the running one only when all of it is
 * good; a bad slice keeps the old one. Connections in progress keep their TLS context. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "slice.h"
#include "tlv.h"
#include "xlimits.h"

struct conf_reader {
	struct http_conf *c;
	const uint8_t *cert, *key;	/* PEM of the current vhost, borrowed from the slice */
	size_t cert_len, key_len;
	char *why;
	size_t cap;
};

static int conf_fail(struct conf_reader *rd, const char *msg)
{
	snprintf(rd->why, rd->cap, "%s", msg);
	return -1;
}

/* Builds the TLS context of the vhost the PEM bytes so far belong to. */
static int conf_vhost_end(struct conf_reader *rd)
{
	struct http_conf *c = rd->c;
	if (c->nvhosts && rd->cert) {
		struct http_vhost *v = &c->vhosts[c->nvhosts - 1];
		v->tls = http_tls_ctx_new(rd->cert, rd->cert_len, rd->key, rd->key_len);
		if (!v->tls) {
			snprintf(rd->why, rd->cap, "cannot load the certificate of %s", v->name);
			return -1;
		}
	}
	rd->cert = rd->key = NULL;
	rd->cert_len = rd->key_len = 0;
	return 0;
}

static int conf_vhost(struct conf_reader *rd, const struct tlv *t)
{
	struct http_conf *c = rd->c;
	if (conf_vhost_end(rd) < 0)
		return -1;
	if (c->nvhosts >= MAX_VHOSTS)
		return conf_fail(rd, "too many virtual hosts");
	struct http_vhost *v = realloc(c->vhosts, (c->nvhosts + 1) * sizeof(*v));
	if (!v)
		return conf_fail(rd, "out of memory");
	c->vhosts = v;
	v = &c->vhosts[c->nvhosts++];
	memset(v, 0, sizeof(*v));
	if (!(v->name = tlv_strdup(t)) || !v->name[0])
		return conf_fail(rd, "bad virtual host name");
	return 0;
}

static int conf_record(struct conf_reader *rd, const struct tlv *t)
{
	struct http_conf *c = rd->c;
	uint64_t v64;
	uint32_t v32;
	char s[64];
	switch (t->tag) {
	case SL_STANZA_SIZE:
		if (tlv_u64(t, &v64) < 0 || v64 < 1024 || v64 > XE_MAX_BODY)
			return conf_fail(rd, "bad stanza size");
		c->body_max = (size_t)v64;
		return 0;
	case SL_CONN_PER_IP:
		if (tlv_u32(t, &v32) < 0 || v32 == 0)
			return conf_fail(rd, "bad conn-per-ip");
		c->conn_per_ip = v32;
		return 0;
	case SL_HTTP_BOSH_INACTIVITY:
		if (tlv_u32(t, &v32) < 0 || v32 == 0)
			return conf_fail(rd, "bad bosh-inactivity");
		c->bosh_inactivity = v32;
		return 0;
	case SL_VHOST:
		return conf_vhost(rd, t);
	case SL_VHOST_CERT:
	case SL_VHOST_KEY:
		if (!c->nvhosts)
			return conf_fail(rd, "certificate outside a virtual host");
		*(t->tag == SL_VHOST_CERT ? &rd->cert : &rd->key) = t->val;
		*(t->tag == SL_VHOST_CERT ? &rd->cert_len : &rd->key_len) = t->len;
		return 0;
	case SL_COMPONENT:
		return conf_vhost_end(rd);
	case SL_HTTP_TRUSTED_PROXY:
		if (c->nproxies >= HTTP_MAX_TRUSTED_PROXIES || tlv_str(t, s, sizeof(s)) < 0 ||
		    http_cidr_parse(s, &c->proxies[c->nproxies]) < 0)
			return conf_fail(rd, "bad trusted proxy");
		c->nproxies++;
		return 0;
	case SL_HTTP_WEBROOT:
		free(c->webroot);
		if (!(c->webroot = tlv_strdup(t)))
			return conf_fail(rd, "bad web root");
		return 0;
	default:
		return 0;
	}
}

int http_conf_read(const uint8_t *p, size_t n, struct http_conf *c, char *why, size_t cap)
{
	struct conf_reader rd = {.c = c, .why = why, .cap = cap};
	struct rbuf r;
	struct tlv t;
	int rc;
	memset(c, 0, sizeof(*c));
	c->body_max = STANZA_SIZE_DEFAULT;
	c->conn_per_ip = CONN_PER_IP_DEFAULT;
	c->bosh_inactivity = BOSH_INACTIVITY_DEFAULT;
	rbuf_init(&r, p, n);
	while ((rc = tlv_next(&r, &t)) == 1)
		if (conf_record(&rd, &t) < 0)
			goto fail;
	if (rc < 0) {
		conf_fail(&rd, "malformed configuration slice");
		goto fail;
	}
	if (conf_vhost_end(&rd) < 0)
		goto fail;
	if (c->nvhosts == 0) {
		conf_fail(&rd, "no virtual host in the http slice");
		goto fail;
	}
	return 0;
fail:
	http_conf_free(c);
	return -1;
}

void http_conf_free(struct http_conf *c)
{
	for (size_t i = 0; i < c->nvhosts; i++) {
		free(c->vhosts[i].name);
		SSL_CTX_free(c->vhosts[i].tls);	/* sessions still using it hold their own reference */
	}
	free(c->vhosts);
	free(c->webroot);
	memset(c, 0, sizeof(*c));
}

void http_conf_apply(struct http_conf *c)
{
	struct http_conf old = henv->conf;
	henv->conf = *c;
	memset(c, 0, sizeof(*c));
	if (old.webroot && (!henv->conf.webroot || strcmp(old.webroot, henv->conf.webroot) != 0))
		log_warn("a new web root is read when the http worker restarts", "");
	http_conf_free(&old);
}
