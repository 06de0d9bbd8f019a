/* Virtual hosts of the router: each has its own event bus, module instances, disco features and
 * options (ARCHITECTURE §4). The module manager (modmgr.c) fills them at start. */
#ifndef XMPPD_RTR_HOST_H
#define XMPPD_RTR_HOST_H
#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "mods/mod.h"

struct rtr_modinst {
	const struct mod_def *def;
	void *ctx;
	struct rtr_modinst *next;
};

struct mod_host {
	char *name;
	struct rtr_bus *bus;
	char **modnames;	/* configured module list */
	size_t nmodnames;
	struct rtr_modinst *mods;	/* loaded instances */
	char **features;
	size_t nfeatures;
	char **identities;	/* category, type, name triples */
	size_t nidentities;
	char **options;		/* key, value pairs */
	size_t noptions;
	int component;		/* an internal component: no accounts, not a user domain */
	char caps[32];		/* XEP-0115 ver of its disco#info (caps.c), "" when none */
};

/* modmgr.c */
struct mod_host *rtr_host_add(const char *name);	/* also the vhost list of rtr_is_local_domain */
struct mod_host *rtr_host_find(const char *name, size_t len);
/* An internal component's host: its own bus and modules, never a local user domain. */
struct mod_host *rtr_comp_host_add(const char *name);
struct mod_host *rtr_comp_host_find(const char *name, size_t len);	/* internal components only */
int rtr_host_add_module(struct mod_host *h, const char *name);
int rtr_host_set_option(struct mod_host *h, const char *key, const char *value);
int rtr_admin_add(const char *bare);
int rtr_component_add(const char *domain);
int rtr_is_admin(const char *bare);
/* The directory of the mod_<name>.so files; "<dir of this executable>/mods" by default. */
int rtr_mods_set_dir(const char *dir);
int rtr_mods_default_dir(void);
/* dlopens and loads every configured module of every host (before the sandbox closes);
 * a module that fails is logged, announced as module-error and left out. */
void rtr_mods_load_all(void);
int rtr_mod_load(struct mod_host *h, const char *name);
int rtr_mod_unload(struct mod_host *h, const char *name);
void rtr_hosts_free(void);	/* unloads every module, frees hosts and libraries */
/* Fires a lifecycle event (resource-bind, module-loaded, ...) with arg on h. */
int rtr_fire_lifecycle(struct mod_host *h, const char *name, const char *arg);
extern const struct mod_api rtr_mod_api;

/* modtime.c */
struct mod_timer *rtr_mod_timer_add(struct mod_host *h, double seconds, void (*fn)(void *arg), void *arg);
void rtr_mod_timer_cancel(struct mod_timer *t);
int rtr_mod_iq_request(struct mod_host *h, struct xnode *iq, double timeout, mod_iq_fn fn, void *arg);
/* 1 when x (a result or error from 'from' to host h) answered a module's request */
int rtr_iq_reply_match(struct mod_host *h, const struct xnode *x, const char *from);
void rtr_iq_pending_free(void);

/* caps.c: XEP-0115 caps of the vhosts, for the c2s stream features */
struct rtr_link;
int rtr_caps_ver(const struct xnode *query, char *out, size_t cap);	/* §5 ver of a disco#info <query/> */
void rtr_caps_refresh(void);	/* recomputes from each vhost's disco#info; sends changes to c2s */
void rtr_caps_send(struct rtr_link *l);	/* every vhost's caps to a new c2s peer */
int rtr_caps_capture(const struct mod_event *ev, struct xnode *payload);	/* 1: the probe's reply, taken */

/* modstore.c */
int rtr_mod_store(struct mod_host *h, const struct mod_sto_req *q, mod_sto_fn cb, void *arg);
int rtr_mod_sto_next(const uint8_t *p, size_t len, size_t *off, unsigned *tag, const uint8_t **val,
		     size_t *vlen);

#endif
