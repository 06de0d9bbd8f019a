/* The engine's part of a stream worker's configuration slice: virtual hosts and their flags,
 * components, stream limits. c2s and http read it alike; only c2s builds STARTTLS contexts. */
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "log.h"
#include "slice.h"
#include "tlv.h"
#include "xlimits.h"

void c2s_env_defaults(struct c2s_env *e)
{
	e->stanza_size = STANZA_SIZE_DEFAULT;
	e->unauth_timeout = UNAUTH_TIMEOUT_DEFAULT;
	e->out_max = C2S_OUT_MAX;
	e->ping_interval = C2S_PING_DEFAULT;
	e->conn_per_ip = CONN_PER_IP_DEFAULT;
	e->regs_per_ip = REGS_PER_IP_DEFAULT;
}

struct vhost_pem {
	const uint8_t *cert, *key;
	size_t cert_len, key_len;
};

static struct c2s_vhost *vhost_add(const struct tlv *t)
{
	if (env->nvhosts >= MAX_VHOSTS)
		fatal_config("too many virtual hosts", "");
	struct c2s_vhost *v = realloc(env->vhosts, (env->nvhosts + 1) * sizeof(*v));
	if (!v)
		fatal("out of memory", "");
	env->vhosts = v;
	v = &env->vhosts[env->nvhosts++];
	memset(v, 0, sizeof(*v));
	v->require_tls = 1;
	if (!(v->name = tlv_strdup(t)) || !v->name[0])
		fatal_config("bad virtual host name in slice", "");
	return v;
}

static void component_add(const struct tlv *t)
{
	if (env->ncomponents >= MAX_VHOSTS)
		fatal_config("too many components", "");
	struct c2s_component *k = realloc(env->components, (env->ncomponents + 1) * sizeof(*k));
	if (!k)
		fatal("out of memory", "");
	env->components = k;
	k = &env->components[env->ncomponents++];
	memset(k, 0, sizeof(*k));
	if (!(k->name = tlv_strdup(t)) || !k->name[0])
		fatal_config("bad component name in slice", "");
}

static void vhost_tls(struct c2s_vhost *v, const struct vhost_pem *p, c2s_tls_ctx_fn tls_new)
{
	if (!p->cert || !tls_new)
		return;
	v->tls = tls_new(p->cert, p->cert_len, p->key, p->key_len);
	if (!v->tls)
		fatal_config("cannot load the certificate of a virtual host", "vhost=%s", v->name);
}

void c2s_slice_read(const uint8_t *p, size_t n, c2s_tls_ctx_fn tls_new)
{
	struct rbuf r;
	struct tlv t;
	struct c2s_vhost *cur = NULL;
	struct vhost_pem pem = {0};
	uint32_t v32;
	uint64_t v64;
	int rc;
	rbuf_init(&r, p, n);
	while ((rc = tlv_next(&r, &t)) == 1) {
		switch (t.tag) {
		case SL_STANZA_SIZE:
			if (tlv_u64(&t, &v64) < 0 || v64 < 1024 || v64 > XE_MAX_BODY)
				fatal_config("bad stanza size in slice", "");
			env->stanza_size = (size_t)v64;
			break;
		case SL_UNAUTH_TIMEOUT:
			if (tlv_u32(&t, &v32) < 0 || v32 == 0)
				fatal_config("bad unauthenticated timeout in slice", "");
			env->unauth_timeout = v32;
			break;
		case SL_VHOST:
			if (cur)
				vhost_tls(cur, &pem, tls_new);
			cur = vhost_add(&t);
			memset(&pem, 0, sizeof(pem));
			break;
		case SL_VHOST_CERT:
			pem.cert = t.val;
			pem.cert_len = t.len;
			break;
		case SL_VHOST_KEY:
			pem.key = t.val;
			pem.key_len = t.len;
			break;
		case SL_VHOST_REQUIRE_TLS:
			if (!cur || tlv_u32(&t, &v32) < 0)
				fatal_config("bad require-tls in slice", "");
			cur->require_tls = v32 != 0;
			break;
		case SL_COMPONENT:
			if (cur)
				vhost_tls(cur, &pem, tls_new);
			cur = NULL;
			memset(&pem, 0, sizeof(pem));
			component_add(&t);
			break;
		case SL_COMPONENT_SECRET:
			if (env->ncomponents == 0 || env->components[env->ncomponents - 1].secret ||
			    !(env->components[env->ncomponents - 1].secret = tlv_strdup(&t)))
				fatal_config("bad component secret in slice", "");
			break;
		case SL_VHOST_ANONYMOUS:
		case SL_VHOST_CONFLICT:
		case SL_VHOST_REGISTRATION:
			if (!cur || tlv_u32(&t, &v32) < 0)
				fatal_config("bad virtual host setting in slice", "tag=%u", t.tag);
			if (t.tag == SL_VHOST_ANONYMOUS)
				cur->anonymous = v32 != 0;
			else if (t.tag == SL_VHOST_REGISTRATION)
				cur->registration = v32 != 0;
			else
				cur->refuse_conflict = v32 == 1;
			break;
		case SL_C2S_DEPTH:
		case SL_C2S_ATTRS:
		case SL_C2S_PING:
		case SL_C2S_REGS_PER_IP:
		case SL_CONN_PER_IP:
			if (tlv_u32(&t, &v32) < 0)
				fatal_config("bad limit in slice", "tag=%u", t.tag);
			if (v32 == 0 && t.tag != SL_CONN_PER_IP)
				break;	/* the default */
			if (t.tag == SL_C2S_DEPTH)
				env->max_depth = v32;
			else if (t.tag == SL_C2S_ATTRS)
				env->max_attrs = v32;
			else if (t.tag == SL_C2S_PING)
				env->ping_interval = v32;
			else if (t.tag == SL_C2S_REGS_PER_IP)
				env->regs_per_ip = v32;
			else
				env->conn_per_ip = v32;
			break;
		case SL_C2S_OUTBUF:
		case SL_C2S_RATE:
			if (tlv_u64(&t, &v64) < 0)
				fatal_config("bad limit in slice", "tag=%u", t.tag);
			if (t.tag == SL_C2S_RATE)
				env->rate = v64;
			else if (v64 > 0)
				env->out_max = (size_t)v64;
			break;
		default:
			break;
		}
	}
	if (rc < 0)
		fatal_config("malformed configuration slice", "");
	if (cur)
		vhost_tls(cur, &pem, tls_new);
	if (env->nvhosts == 0)
		fatal_config("no virtual host in the c2s slice", "");
	for (size_t i = 0; tls_new && i < env->nvhosts; i++)
		if (env->vhosts[i].require_tls && !env->vhosts[i].tls)
			log_warn("TLS required but no certificate: no client can log in", "vhost=%s",
				 env->vhosts[i].name);
}

