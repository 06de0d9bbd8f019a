/* Builds each worker's configuration slice: only what its role needs (certificates and keys
 * go to c2s/http only, storage settings to storage only). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slice.h"
#include "sup.h"
#include "tlv.h"

#define PEM_MAX (1u << 20)

static int put_file(struct buf *out, uint16_t tag, const char *path, char *err, size_t errlen)
{
	struct buf data;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > PEM_MAX) {
		snprintf(err, errlen, "cannot read %s: %s", path, fd < 0 ? strerror(errno) : "not a small regular file");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	buf_init(&data);
	if (buf_reserve(&data, (size_t)st.st_size) < 0) {
		close(fd);
		return -1;
	}
	ssize_t n;
	while ((n = read(fd, data.data + data.len, (size_t)st.st_size - data.len)) > 0)
		data.len += (size_t)n;
	close(fd);
	int rc = n < 0 ? -1 : tlv_put(out, tag, data.data, data.len);
	if (rc < 0)
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
	buf_wipe_free(&data);	/* may be a private key */
	return rc;
}

/* One storage { store ... } override as a nested group. */
static int put_storage_store(struct buf *out, const struct cfg_store *st)
{
	struct buf g;
	int rc;

	buf_init(&g);
	rc = tlv_put_str(&g, SL_STORAGE_STORE_NAME, st->name) |
	     tlv_put_str(&g, SL_STORAGE_DEFAULT, st->backend) |
	     (st->arg ? tlv_put_str(&g, SL_STORAGE_ARG, st->arg) : 0) |
	     (st->host ? tlv_put_str(&g, SL_VHOST, st->host) : 0);
	if (rc == 0)
		rc = tlv_put(out, SL_STORAGE_STORE, g.data, g.len);
	buf_free(&g);
	return rc;
}

static int put_vhosts(const struct sup_proc *p, struct buf *out, char *err, size_t errlen)
{
	const struct cfg *c = &env->cfg;
	int tls = p->role == ROLE_C2S || p->role == ROLE_HTTP;
	for (size_t i = 0; i < c->nvhosts; i++) {
		const struct cfg_vhost *v = &c->vhosts[i];
		if (tlv_put_str(out, SL_VHOST, v->name) < 0 ||
		    tlv_put_u32(out, SL_VHOST_REQUIRE_TLS, (uint32_t)v->require_tls) < 0 ||
		    tlv_put_u32(out, SL_VHOST_REGISTRATION, (uint32_t)v->registration_open) < 0 ||
		    tlv_put_u32(out, SL_VHOST_ANONYMOUS, (uint32_t)v->anonymous) < 0 ||
		    tlv_put_u32(out, SL_VHOST_CONFLICT, (uint32_t)v->resource_conflict) < 0)
			return -1;
		if (tls && v->cert && put_file(out, SL_VHOST_CERT, v->cert, err, errlen) < 0)
			return -1;
		if (tls && v->key && put_file(out, SL_VHOST_KEY, v->key, err, errlen) < 0)
			return -1;
		for (size_t m = 0; p->role == ROLE_ROUTER && m < v->nmodules; m++)
			if (tlv_put_str(out, SL_MODULE, v->modules[m]) < 0)
				return -1;
		for (size_t o = 0; p->role == ROLE_ROUTER && o < v->noptions; o++)
			if (tlv_put_str(out, SL_VHOST_OPTION, v->options[o]) < 0)
				return -1;
	}
	for (size_t i = 0; i < c->ncomponents; i++) {
		const struct cfg_component *k = &c->components[i];
		if (tlv_put_str(out, SL_COMPONENT, k->name) < 0)
			return -1;
		if (p->role == ROLE_C2S && k->secret && tlv_put_str(out, SL_COMPONENT_SECRET, k->secret) < 0)
			return -1;
		for (size_t m = 0; p->role == ROLE_ROUTER && m < k->nmodules; m++)
			if (tlv_put_str(out, SL_MODULE, k->modules[m]) < 0)
				return -1;
		for (size_t o = 0; p->role == ROLE_ROUTER && k->nmodules && o < k->noptions; o++)
			if (tlv_put_str(out, SL_VHOST_OPTION, k->options[o]) < 0)
				return -1;
	}
	return 0;
}

int sup_slice_build(const struct sup_proc *p, struct buf *out, char *err, size_t errlen)
{
	const struct cfg *c = &env->cfg;
	int rc = 0;

	buf_reset(out);
	rc |= tlv_put_str(out, SL_ROLE, sup_role_name(p->role));
	rc |= tlv_put_u32(out, SL_INSTANCE, p->instance);
	rc |= tlv_put_str(out, SL_RUNDIR, c->rundir);
	rc |= tlv_put_u32(out, SL_LOGLEVEL, (uint32_t)c->loglevel);
	rc |= tlv_put_u32(out, SL_UNPRIV, (uint32_t)env->unpriv);
	rc |= tlv_put_u32(out, SL_NC2S, c->workers_c2s);
	rc |= tlv_put_u32(out, SL_NHTTP, sup_role_count(ROLE_HTTP));
	rc |= tlv_put_u32(out, SL_NSTORAGE, c->workers_storage);
	rc |= tlv_put_u64(out, SL_STANZA_SIZE, c->stanza_size);
	switch (p->role) {
	case ROLE_C2S:
	case ROLE_HTTP:
		rc |= tlv_put_u32(out, SL_UNAUTH_TIMEOUT, c->unauth_timeout);
		rc |= tlv_put_u32(out, SL_CONN_PER_IP, c->conn_per_ip);
		rc |= tlv_put_u32(out, SL_C2S_REGS_PER_IP, c->regs_per_ip);
		rc |= tlv_put_u64(out, SL_C2S_RATE, c->c2s_rate);
		rc |= tlv_put_u32(out, SL_C2S_DEPTH, c->stanza_depth) | tlv_put_u32(out, SL_C2S_ATTRS, c->stanza_attrs);
		rc |= tlv_put_u64(out, SL_C2S_OUTBUF, c->out_buffer) | tlv_put_u32(out, SL_C2S_PING, c->ping_interval);
		for (size_t i = 0; p->role == ROLE_HTTP && i < c->ntrusted_proxies; i++)
			rc |= tlv_put_str(out, SL_HTTP_TRUSTED_PROXY, c->trusted_proxies[i]);
		if (p->role == ROLE_HTTP)
			rc |= tlv_put_u32(out, SL_HTTP_BOSH_INACTIVITY, c->bosh_inactivity);
		if (p->role == ROLE_HTTP && c->webroot)
			rc |= tlv_put_str(out, SL_HTTP_WEBROOT, c->webroot);
		break;
	case ROLE_ROUTER:
		for (size_t i = 0; i < c->nadmins; i++)
			rc |= tlv_put_str(out, SL_ADMIN, c->admins[i]);
		break;
	case ROLE_STORAGE:
		rc |= tlv_put_str(out, SL_DATADIR, c->datadir);
		rc |= tlv_put_u32(out, SL_SCRAM_ITER, c->scram_iterations);
		rc |= tlv_put_str(out, SL_STORAGE_DEFAULT, c->storage_default);
		if (c->storage_arg)
			rc |= tlv_put_str(out, SL_STORAGE_ARG, c->storage_arg);
		if (c->storage_cache)
			rc |= tlv_put_str(out, SL_STORAGE_CACHE, c->storage_cache);
		for (size_t i = 0; i < c->nstorage_stores; i++)
			rc |= put_storage_store(out, &c->storage_stores[i]);
		break;
	default:
		break;
	}
	if (rc < 0) {
		snprintf(err, errlen, "cannot build configuration slice: %s", strerror(errno));
		return -1;
	}
	return put_vhosts(p, out, err, errlen);
}
