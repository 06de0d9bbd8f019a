/* The module manager: virtual hosts, their module lists, dlopen of mods/mod_<name>.so before
 * the sandbox closes (after it no executable mapping may appear), load/unload with hooks
 * removed on unload. A module that fails to load is left out; it never stops the router. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"
#include "log.h"
#include "rtr.h"

#define MOD_NAME_MAX 48

struct rtr_modlib {
	char name[MOD_NAME_MAX + 1];
	void *dl;
	const struct mod_def *def;
	struct rtr_modlib *next;
};

static int strv_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(char *));
	if (!nv)
		return -1;
	*v = nv;
	if (!(nv[*n] = strdup(s ? s : "")))
		return -1;
	(*n)++;
	return 0;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static struct mod_host *host_new(const char *name, int component)
{
	struct mod_host **hv = realloc(env->hosts, (env->nhosts + 1) * sizeof(*hv));
	char **vv = component ? NULL : realloc(env->vhosts, (env->nvhosts + 1) * sizeof(char *));
	if (hv)
		env->hosts = hv;
	if (vv)
		env->vhosts = vv;
	struct mod_host *h = calloc(1, sizeof(*h));
	if (!hv || (!component && !vv) || !h || !(h->name = strdup(name)) || !(h->bus = rtr_bus_new()) ||
	    (!component && !(vv[env->nvhosts] = strdup(name)))) {
		if (h) {
			free(h->name);
			rtr_bus_free(h->bus);
		}
		free(h);
		return NULL;
	}
	h->component = component;
	env->nvhosts += !component;
	hv[env->nhosts++] = h;
	return h;
}

struct mod_host *rtr_host_add(const char *name)
{
	return host_new(name, 0);
}

struct mod_host *rtr_comp_host_add(const char *name)
{
	return host_new(name, 1);
}

struct mod_host *rtr_host_find(const char *name, size_t len)
{
	for (unsigned i = 0; i < env->nhosts; i++)
		if (strlen(env->hosts[i]->name) == len && strncasecmp(env->hosts[i]->name, name, len) == 0)
			return env->hosts[i];
	return NULL;
}

struct mod_host *rtr_comp_host_find(const char *name, size_t len)
{
	struct mod_host *h = rtr_host_find(name, len);
	return h && h->component ? h : NULL;
}

int rtr_host_add_module(struct mod_host *h, const char *name)
{
	for (size_t i = 0; i < h->nmodnames; i++)
		if (strcmp(h->modnames[i], name) == 0)
			return 0;
	return strv_push(&h->modnames, &h->nmodnames, name);
}

int rtr_host_set_option(struct mod_host *h, const char *key, const char *value)
{
	for (size_t i = 0; i + 1 < h->noptions; i += 2) {
		if (strcmp(h->options[i], key) == 0) {
			char *v = strdup(value);
			if (!v)
				return -1;
			free(h->options[i + 1]);
			h->options[i + 1] = v;
			return 0;
		}
	}
	return strv_push(&h->options, &h->noptions, key) | strv_push(&h->options, &h->noptions, value);
}

int rtr_admin_add(const char *bare)
{
	size_t n = env->nadmins;
	int rc = strv_push(&env->admins, &n, bare);
	env->nadmins = (unsigned)n;
	return rc;
}

int rtr_component_add(const char *domain)
{
	size_t n = env->ncomponents;
	int rc = strv_push(&env->components, &n, domain);
	env->ncomponents = (unsigned)n;
	return rc;
}

int rtr_is_admin(const char *bare)
{
	for (unsigned i = 0; bare && i < env->nadmins; i++)
		if (strcasecmp(env->admins[i], bare) == 0)
			return 1;
	return 0;
}

int rtr_mods_set_dir(const char *dir)
{
	char *d = strdup(dir);
	if (!d)
		return -1;
	free(env->moddir);
	env->moddir = d;
	return 0;
}

int rtr_mods_default_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 8);
	if (n <= 0)
		return -1;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	memcpy(slash, "/mods", 6);
	return rtr_mods_set_dir(exe);
}

static int name_ok(const char *name)
{
	size_t n = strlen(name);
	if (!n || n > MOD_NAME_MAX)
		return 0;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
			return 0;
	return 1;
}

/* Only a file that nobody but root (or our own user) could have written is executed. */
static int file_trusted(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH)) ||
	    (st.st_uid != 0 && st.st_uid != geteuid())) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

static struct rtr_modlib *lib_open(const char *name)
{
	char path[PATH_MAX];
	for (struct rtr_modlib *l = env->modlibs; l; l = l->next)
		if (strcmp(l->name, name) == 0)
			return l;
	if (!env->moddir || !name_ok(name))
		return NULL;
	int n = snprintf(path, sizeof(path), "%s/mod_%s.so", env->moddir, name);
	if (n < 0 || (size_t)n >= sizeof(path) || file_trusted(path) < 0) {
		log_err("module file missing or not trusted", "module=%s path=\"%s\" err=\"%s\"", name, path,
			strerror(errno));
		return NULL;
	}
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		log_err("module not loadable", "module=%s err=\"%s\"", name, dlerror());
		return NULL;
	}
	const struct mod_def *def = dlsym(dl, MOD_SYMBOL);
	if (!def || def->abi < MOD_ABI_MIN || def->abi > MOD_ABI || !def->name || strcmp(def->name, name) != 0) {
		log_err("module has no matching definition", "module=%s abi=%u want=%u", name, def ? def->abi : 0,
			MOD_ABI);
		dlclose(dl);
		return NULL;
	}
	struct rtr_modlib *l = calloc(1, sizeof(*l));
	if (!l) {
		dlclose(dl);
		return NULL;
	}
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->dl = dl;
	l->def = def;
	l->next = env->modlibs;
	env->modlibs = l;
	return l;
}

int rtr_fire_lifecycle(struct mod_host *h, const char *name, const char *arg)
{
	struct mod_event ev = {.name = name, .host = h, .to = h->name, .from = h->name, .arg = arg,
			       .api = &rtr_mod_api};
	return rtr_bus_fire(h->bus, &ev);
}

static struct rtr_modinst *inst_find(struct mod_host *h, const char *name)
{
	for (struct rtr_modinst *m = h->mods; m; m = m->next)
		if (strcmp(m->def->name, name) == 0)
			return m;
	return NULL;
}

static void inst_unhook(struct mod_host *h, struct rtr_modinst *m)
{
	for (const struct mod_hook *k = m->def->hooks; k && k->event; k++)
		rtr_bus_unhook(h->bus, k->event, k->fn, m->ctx);
}

int rtr_mod_load(struct mod_host *h, const char *name)
{
	if (inst_find(h, name))
		return 0;
	struct rtr_modlib *l = lib_open(name);
	if (l && h->component && l->def->abi >= 2 && (l->def->flags & MOD_F_USER_HOST)) {
		log_err("module needs a user domain (accounts, rosters, sessions): not loaded on a component",
			"host=%s module=%s", h->name, name);
		l = NULL;
	}
	struct rtr_modinst *m = l ? calloc(1, sizeof(*m)) : NULL;
	if (!m) {
		rtr_fire_lifecycle(h, "module-error", name);
		return -1;
	}
	m->def = l->def;
	int rc = m->def->load ? m->def->load(h, &rtr_mod_api, &m->ctx) : 0;
	int loaded = rc == 0;
	for (const struct mod_hook *k = m->def->hooks; k && k->event && rc == 0; k++)
		rc = rtr_bus_hook(h->bus, k->event, k->fn, k->priority, m->ctx);
	for (const char *const *f = m->def->features; f && *f && rc == 0; f++)
		rc = rtr_mod_api.add_feature(h, *f);
	if (rc < 0) {
		inst_unhook(h, m);
		if (loaded && m->def->unload)
			m->def->unload(h, m->ctx);
		free(m);
		log_err("module failed to load", "host=%s module=%s", h->name, name);
		rtr_fire_lifecycle(h, "module-error", name);
		return -1;
	}
	m->next = h->mods;
	h->mods = m;
	log_info("module loaded", "host=%s module=%s version=%s", h->name, name,
		 m->def->version ? m->def->version : "-");
	rtr_fire_lifecycle(h, "module-loaded", name);
	return 0;
}

int rtr_mod_unload(struct mod_host *h, const char *name)
{
	for (struct rtr_modinst **pp = &h->mods; *pp; pp = &(*pp)->next) {
		struct rtr_modinst *m = *pp;
		if (strcmp(m->def->name, name) != 0)
			continue;
		*pp = m->next;
		inst_unhook(h, m);
		if (m->def->unload)
			m->def->unload(h, m->ctx);
		for (const char *const *f = m->def->features; f && *f; f++) {
			for (size_t i = 0; i < h->nfeatures; i++) {
				if (strcmp(h->features[i], *f) == 0) {
					free(h->features[i]);
					memmove(&h->features[i], &h->features[i + 1], (h->nfeatures - i - 1) * sizeof(char *));
					h->nfeatures--;
					break;
				}
			}
		}
		free(m);
		rtr_fire_lifecycle(h, "module-unloaded", name);
		return 0;
	}
	errno = ENOENT;
	return -1;
}

void rtr_mods_load_all(void)
{
	for (unsigned i = 0; i < env->nhosts; i++) {
		struct mod_host *h = env->hosts[i];
		for (size_t k = 0; k < h->nmodnames; k++)
			rtr_mod_load(h, h->modnames[k]);
		rtr_fire_lifecycle(h, "host-activated", h->name);
	}
}

void rtr_hosts_free(void)
{
	for (unsigned i = 0; i < env->nhosts; i++) {
		struct mod_host *h = env->hosts[i];
		while (h->mods)
			rtr_mod_unload(h, h->mods->def->name);
		rtr_bus_free(h->bus);
		strv_free(h->modnames, h->nmodnames);
		strv_free(h->features, h->nfeatures);
		strv_free(h->identities, h->nidentities);
		strv_free(h->options, h->noptions);
		free(h->name);
		free(h);
	}
	free(env->hosts);
	env->hosts = NULL;
	env->nhosts = 0;
	strv_free(env->vhosts, env->nvhosts);
	env->vhosts = NULL;
	env->nvhosts = 0;
	strv_free(env->admins, env->nadmins);
	env->admins = NULL;
	env->nadmins = 0;
	strv_free(env->components, env->ncomponents);
	env->components = NULL;
	env->ncomponents = 0;
	while (env->modlibs) {
		struct rtr_modlib *l = env->modlibs;
		env->modlibs = l->next;
		dlclose(l->dl);
		free(l);
	}
	free(env->moddir);
	env->moddir = NULL;
}
