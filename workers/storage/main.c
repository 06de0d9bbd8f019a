/* xmppd-storage: boots from the supervisor, sandboxes itself, opens the backend and answers
 * the router's storage requests and the supervisor's account commands. Holds no sockets
 * to clients and never logs a password. */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "slice.h"
#include "storage.h"
#include "storeq.h"
#include "tlv.h"
#include "worker.h"
#include "xlimits.h"

#define STO_STORES_MAX 32u	/* storage { store ... } overrides */

/* The storage slice, as far as this worker reads it. */
struct sto_slice {
	const char *vhosts[MAX_VHOSTS];
	char *vhost_names[MAX_VHOSTS];
	size_t nvhosts;
	uint32_t scram_iter;
	uint32_t nstorage;
	char backend[32];
	char *backend_arg;
	char *cache_url;
	struct sto_be_spec specs[1 + STO_STORES_MAX];	/* the default, then overrides */
	size_t nspecs;
};

static void sto_slice_vhost(struct sto_slice *s, const struct tlv *t)
{
	char *name;
	if (s->nvhosts == MAX_VHOSTS)
		fatal_config("too many virtual hosts for storage", "max=%u", MAX_VHOSTS);
	if (!(name = tlv_strdup(t)) || !sto_host_valid(name))
		fatal_config("invalid virtual host name in storage slice", "");
	s->vhost_names[s->nvhosts] = name;
	s->vhosts[s->nvhosts++] = name;
}

static void sto_slice_arg(struct sto_slice *s, const struct tlv *t)
{
	free(s->backend_arg);
	if (!(s->backend_arg = tlv_strdup(t)))
		fatal_config("bad storage backend argument in slice", "");
}

/* SL_STORAGE_STORE: {NAME BACKEND [ARG]} into the next spec (strings owned by the spec). */
static void sto_slice_store(struct sto_slice *s, const struct tlv *g)
{
	struct sto_be_spec *sp = &s->specs[s->nspecs];
	struct rbuf r;
	struct tlv t;
	char **slot;
	int rc;

	if (s->nspecs == 1 + STO_STORES_MAX)
		fatal_config("too many storage store overrides", "max=%u", STO_STORES_MAX);
	memset(sp, 0, sizeof(*sp));
	rbuf_init(&r, g->val, g->len);
	while ((rc = tlv_next(&r, &t)) == 1) {
		slot = t.tag == SL_STORAGE_STORE_NAME ? (char **)&sp->store
		       : t.tag == SL_STORAGE_DEFAULT  ? (char **)&sp->name
		       : t.tag == SL_STORAGE_ARG      ? (char **)&sp->arg
		       : t.tag == SL_VHOST	      ? (char **)&sp->host
						      : NULL;
		if (!slot || *slot || !(*slot = tlv_strdup(&t)))
			fatal_config("malformed storage store override in slice", "");
	}
	if (rc < 0 || !sp->store || !sp->name)
		fatal_config("malformed storage store override in slice", "");
	s->nspecs++;
}

static void sto_slice_read(const struct wrk_boot *b, struct sto_slice *s)
{
	struct rbuf r;
	struct tlv t;
	int rc;

	memset(s, 0, sizeof(*s));
	s->nspecs = 1;	/* specs[0] is the default, filled after the walk */
	s->scram_iter = SCRAM_ITERATIONS_DEFAULT;
	snprintf(s->backend, sizeof(s->backend), "file");
	rbuf_init(&r, b->slice.data, b->slice.len);
	while ((rc = tlv_next(&r, &t)) == 1) {
		if (t.tag == SL_VHOST)
			sto_slice_vhost(s, &t);
		else if (t.tag == SL_SCRAM_ITER && tlv_u32(&t, &s->scram_iter) < 0)
			fatal_config("bad SCRAM iteration count in storage slice", "");
		else if (t.tag == SL_STORAGE_DEFAULT &&
			 tlv_str(&t, s->backend, sizeof(s->backend)) < 0)
			fatal_config("bad storage backend name in slice", "");
		else if (t.tag == SL_STORAGE_ARG)
			sto_slice_arg(s, &t);
		else if (t.tag == SL_NSTORAGE && tlv_u32(&t, &s->nstorage) < 0)
			fatal_config("bad storage worker count in slice", "");
		else if (t.tag == SL_STORAGE_CACHE && (s->cache_url || !(s->cache_url = tlv_strdup(&t))))
			fatal_config("bad storage cache URL in slice", "");
		else if (t.tag == SL_STORAGE_STORE)
			sto_slice_store(s, &t);
	}
	if (rc < 0)
		fatal_config("malformed storage slice", "");
	s->specs[0].name = s->backend;
	s->specs[0].arg = s->backend_arg;
	for (size_t i = 0; i < s->nspecs; i++)
		s->specs[i].cache_url = s->cache_url;
	if (b->datadir[0] != '/')
		fatal_config("storage needs an absolute datadir", "");
}

static void sto_on_request(void *arg, const uint8_t *req, size_t len, struct buf *reply)
{
	sto_handle_envelope(arg, req, len, reply);
}

/* xmppctl user add|del|passwd|list, forwarded by the supervisor: a bare sto body. */
static void sto_on_ctl(void *arg, const uint8_t *req, size_t len, struct buf *reply)
{
	sto_dispatch(arg, req, len, reply);
}

static void sto_on_stop(void *arg)
{
	ev_break(arg, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
	static struct sto_env env;	/* the one mutable state of this process */
	struct ev_loop *loop;
	struct storeq_server *srv;
	struct sto_settings set = {0};
	struct sto_slice sl;
	struct wrk_boot b;
	char url[PATH_MAX + 16], err[512];

	/* The one-shot migration tool: run by an administrator, not by the supervisor. */
	if (argc > 1 && strcmp(argv[1], "--migrate") == 0)
		return sto_migrate_main(argc, argv);
	wrk_boot_read(&b);
	sto_slice_read(&b, &sl);
	wrk_sandbox(&b);
	set.datadir = b.datadir;
	set.vhosts = sl.vhosts;
	set.nvhosts = sl.nvhosts;
	set.scram_iter = sl.scram_iter;
	set.specs = sl.specs;
	set.nspecs = sl.nspecs;
	if (sto_env_open(&env, &set, err, sizeof(err)) < 0)
		fatal("cannot open the storage backend", "backend=%s reason=\"%s\"", sl.backend,
		      err);
	if (!(loop = ev_default_loop(0)))
		fatal("cannot create the event loop", "");
	wrk_ipc_url(&b, "storage.sock", url, sizeof(url));
	if (!(srv = storeq_dial(loop, url, sto_on_request, &env)))
		fatal("cannot dial the router's storage socket", "url=\"%s\"", url);
	wrk_chan_start(loop, sto_on_ctl, NULL, &env);
	wrk_signals(loop, sto_on_stop, loop);
	wrk_ready();
	log_info("storage ready", "backend=%s vhosts=%zu", sl.backend, sl.nvhosts);
	for (size_t i = 0; i < sl.nspecs; i++)
		if (sl.nstorage > 1 && strcmp(sl.specs[i].name, "memory") == 0)
			log_warn("memory storage is per worker: with several storage workers each "
				 "holds a different part of the data", "workers=%u", sl.nstorage);
	ev_run(loop, 0);
	storeq_server_close(srv);
	sto_env_close(&env);
	for (size_t i = 0; i < sl.nvhosts; i++)
		free(sl.vhost_names[i]);
	free(sl.backend_arg);
	free(sl.cache_url);
	for (size_t i = 1; i < sl.nspecs; i++) {
		free((char *)sl.specs[i].store);
		free((char *)sl.specs[i].name);
		free((char *)sl.specs[i].arg);
		free((char *)sl.specs[i].host);
	}
	buf_free(&b.slice);
	log_info("storage stopped", "");
	return 0;
}
