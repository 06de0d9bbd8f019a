/* xmppd-router: sessions, routes and delivery. Listens for every stream worker's link and for
 * the storage pool; holds no sockets to the outside, no secrets, no files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "log.h"
#include "rtr.h"
#include "slice.h"
#include "tlv.h"
#include "worker.h"

static char *slice_str(const struct tlv *t)
{
	char *v = tlv_strdup(t);
	if (!v)
		fatal("bad string in slice", "tag=%u", (unsigned)t->tag);
	return v;
}

/* Hosts and their module lists; a component group with modules is an internal component,
 * a host of its own that is not a user domain. */
static void read_slice(const struct wrk_boot *b, uint32_t *nc2s, uint32_t *nhttp)
{
	struct mod_host *cur = NULL;
	const char *comp = NULL;	/* the component group being read, until it has a host */
	struct rbuf r;
	struct tlv t;
	uint32_t u;
	rbuf_init(&r, b->slice.data, b->slice.len);
	while (tlv_next(&r, &t) == 1) {
		char *v = NULL;
		if (t.tag == SL_NC2S)
			tlv_u32(&t, nc2s);
		else if (t.tag == SL_NHTTP)
			tlv_u32(&t, nhttp);
		else if (t.tag == SL_VHOST) {
			comp = NULL;
			if (!(cur = rtr_host_add(v = slice_str(&t))))
				fatal("out of memory", "");
		} else if (t.tag == SL_COMPONENT) {
			cur = NULL;
			if (rtr_component_add(v = slice_str(&t)) < 0)
				fatal("out of memory", "");
			comp = env->components[env->ncomponents - 1];
		}
		else if (t.tag == SL_MODULE && (cur || comp)) {
			if ((!cur && !(cur = rtr_comp_host_add(comp))) || rtr_host_add_module(cur, v = slice_str(&t)) < 0)
				fatal("out of memory", "");
		} else if (t.tag == SL_VHOST_REGISTRATION && cur && tlv_u32(&t, &u) == 0) {
			if (rtr_host_set_option(cur, "registration", u ? "open" : "closed") < 0)
				fatal("out of memory", "");
		} else if (t.tag == SL_VHOST_OPTION && cur) {
			char *eq = strchr(v = slice_str(&t), '=');
			if (!eq)
				fatal_config("module option without '='", "option=\"%s\"", v);
			*eq = 0;
			if (rtr_host_set_option(cur, v, eq + 1) < 0)
				fatal("out of memory", "");
		} else if (t.tag == SL_ADMIN) {
			if (rtr_admin_add(v = slice_str(&t)) < 0)
				fatal("out of memory", "");
		}
		free(v);
	}
	if (*nc2s > MAX_WORKERS_PER_ROLE || *nhttp > MAX_WORKERS_PER_ROLE || !env->nvhosts)
		fatal_config("router slice lacks vhosts or has too many links", "");
}

static void open_links(const struct wrk_boot *b, uint32_t nc2s, uint32_t nhttp)
{
	const struct link_opts opts = {.replay = 0, .auto_ack = 0};
	char url[4200];

	env->links = calloc(nc2s + nhttp, sizeof(*env->links));
	if (!env->links)
		fatal("out of memory", "");
	for (uint32_t i = 0; i < nc2s + nhttp; i++) {
		struct rtr_link *l = &env->links[env->nlinks];
		char file[64];
		snprintf(l->name, sizeof(l->name), "%s.%u", i < nc2s ? "c2s" : "http", i < nc2s ? i : i - nc2s);
		snprintf(file, sizeof(file), "%s.sock", l->name);
		wrk_ipc_url(b, file, url, sizeof(url));
		l->index = env->nlinks;
		l->link = link_listen(env->loop, url, &opts, &rtr_link_ops, l);
		if (!l->link)
			fatal("cannot listen for a stream worker", "url=\"%s\"", url);
		env->nlinks++;
	}
	wrk_ipc_url(b, "storage.sock", url, sizeof(url));
	env->storage = storeq_listen(env->loop, url);
	if (!env->storage)
		fatal("cannot listen for the storage workers", "url=\"%s\"", url);
}

static void stop(void *arg)
{
	(void)arg;
	ev_break(env->loop, EVBREAK_ALL);
}

int main(void)
{
	static struct rtr_env the_env;
	struct wrk_boot boot;
	uint32_t nc2s = 0, nhttp = 0;

	env = &the_env;
	wrk_boot_read(&boot);
	read_slice(&boot, &nc2s, &nhttp);
	env->loop = ev_default_loop(EVFLAG_AUTO);
	if (rtr_routes_init() < 0)
		fatal("out of memory", "");
	env->started = ev_time();
	/* modules are mapped now: once sandboxed, no executable mapping may appear */
	if (rtr_mods_default_dir() < 0)
		fatal("cannot find the module directory", "");
	rtr_mods_load_all();
	rtr_caps_refresh();	/* before the sandbox: OpenSSL may read its configuration once */
	wrk_sandbox(&boot);
	open_links(&boot, nc2s, nhttp);
	wrk_chan_start(env->loop, rtr_ctl, NULL, env);
	wrk_signals(env->loop, stop, env);
	wrk_ready();
	log_info("router ready", "links=%u vhosts=%u", env->nlinks, env->nvhosts);
	ev_run(env->loop, 0);
	/* pending storage calls end first: their callbacks live in modules and may still send */
	storeq_client_close(env->storage);
	env->storage = NULL;
	for (unsigned i = 0; i < env->nlinks; i++) {
		rtr_link_clear(&env->links[i]);
		link_close(env->links[i].link);
	}
	rtr_routes_free();
	rtr_iq_pending_free();
	rtr_hosts_free();
	return 0;
}
