/* The configuration directive table (name, context, arity, setter, field offset) and its
 * setters: every value is checked here before it reaches struct cfg. */
#include "config_int.h"
#include "log.h"
#include "xlimits.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cfg_ctx_name(unsigned ctx)
{
	static const char *const names[] = {"at top level", "in server", "in workers", "in limits",
					    "in storage", "in vhost", "in component"};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (ctx == 1u << i)
			return names[i];
	return "here";
}
static void *cfg_field(struct cfg_parser *p, unsigned ctx, size_t off)
{
	if (ctx == CTX_VHOST)
		return (char *)&p->cfg->vhosts[p->cur] + off;
	if (ctx == CTX_COMPONENT)
		return (char *)&p->cfg->components[p->cur] + off;
	return (char *)p->cfg + off;
}

static int cfg_replace_str(struct cfg_parser *p, char **slot, const char *val, int line)
{
	char *s = strdup(val);
	if (!s)
		return cfg_oom(p, line);
	free(*slot);
	*slot = s;
	return 0;
}

static int cfg_word_index(const struct cfg_directive *d, const char *w)
{
	for (int i = 0; d->words[i]; i++)
		if (strcmp(d->words[i], w) == 0)
			return i;
	return -1;
}

static int cfg_bad_word(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	char list[128] = "";
	size_t o = 0;
	for (int i = 0; d->words[i] && o < sizeof(list); i++) {
		int n = snprintf(list + o, sizeof(list) - o, "%s%s", i ? "|" : "", d->words[i]);
		if (n < 0)
			break;
		o += (size_t)n;
	}
	return cfg_fail(p, a->line, "%s: expected %s, got '%s'", d->name, list, a->v[0].s);
}

/* ---- generic setters (nginx style: the table gives the field offset) ---- */

static int cfg_set_path(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	if (a->v[0].s[0] == 0)
		return cfg_fail(p, a->line, "%s: empty path", d->name);
	char *abs = cfg_path_resolve(p->dir, a->v[0].s);
	if (!abs)
		return cfg_oom(p, a->line);
	char **slot = cfg_field(p, a->ctx, d->off);
	free(*slot);
	*slot = abs;
	return 0;
}

static int cfg_set_str(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	if (a->v[0].s[0] == 0)
		return cfg_fail(p, a->line, "%s: empty value", d->name);
	return cfg_replace_str(p, cfg_field(p, a->ctx, d->off), a->v[0].s, a->line);
}

static int cfg_set_word(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	if (cfg_word_index(d, a->v[0].s) < 0)
		return cfg_bad_word(p, d, a);
	return cfg_replace_str(p, cfg_field(p, a->ctx, d->off), a->v[0].s, a->line);
}

/* words[i] stores i: {"closed", "open"} stores 1 for open. */
static int cfg_set_choice(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	int i = cfg_word_index(d, a->v[0].s);
	if (i < 0)
		return cfg_bad_word(p, d, a);
	*(int *)cfg_field(p, a->ctx, d->off) = i;
	return 0;
}

static int cfg_range(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a,
		     uint64_t v)
{
	if (v >= d->lo && v <= d->hi)
		return 0;
	return cfg_fail(p, a->line, "%s: %s is out of range (%llu..%llu)", d->name, a->v[0].s,
			(unsigned long long)d->lo, (unsigned long long)d->hi);
}

static int cfg_set_u32(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	uint64_t v;
	if (cfg_parse_uint(a->v[0].s, &v) < 0)
		return cfg_fail(p, a->line, "%s: expected a number, got '%s'", d->name, a->v[0].s);
	if (cfg_range(p, d, a, v) < 0)
		return -1;
	*(uint32_t *)cfg_field(p, a->ctx, d->off) = (uint32_t)v;
	return 0;
}

static int cfg_set_size(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	uint64_t v;
	if (cfg_parse_size(a->v[0].s, &v) < 0)
		return cfg_fail(p, a->line, "%s: expected a size like 256K, got '%s'", d->name,
				a->v[0].s);
	if (cfg_range(p, d, a, v) < 0)
		return -1;
	*(uint64_t *)cfg_field(p, a->ctx, d->off) = v;
	return 0;
}

static int cfg_set_rate(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	uint64_t v;
	if (cfg_parse_rate(a->v[0].s, &v) < 0)
		return cfg_fail(p, a->line, "%s: expected a rate like 10K/s, got '%s'", d->name,
				a->v[0].s);
	if (cfg_range(p, d, a, v) < 0)
		return -1;
	*(uint64_t *)cfg_field(p, a->ctx, d->off) = v;
	return 0;
}

/* A duration stored in whole seconds; lo/hi are in seconds too. */
static int cfg_set_seconds(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	uint64_t ms;
	if (cfg_parse_duration_ms(a->v[0].s, &ms) < 0)
		return cfg_fail(p, a->line, "%s: expected a duration like 30s, got '%s'", d->name,
				a->v[0].s);
	if (ms % 1000)
		return cfg_fail(p, a->line, "%s: %s is not a whole number of seconds", d->name,
				a->v[0].s);
	if (cfg_range(p, d, a, ms / 1000) < 0)
		return -1;
	*(uint32_t *)cfg_field(p, a->ctx, d->off) = (uint32_t)(ms / 1000);
	return 0;
}

static int cfg_set_loglevel(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	int lvl = log_level_parse(a->v[0].s);
	if (lvl < 0)
		return cfg_bad_word(p, d, a);
	p->cfg->loglevel = lvl;
	return 0;
}

void cfg_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int cfg_module_name_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-");
	return n > 0 && n <= 64 && s[n] == 0;
}

static int cfg_bare_jid_ok(const char *s)
{
	const char *at = strchr(s, '@');
	return at && at != s && at - s <= 1023 && !strchr(at + 1, '@') && !strchr(s, '/') &&
	       cfg_domain_ok(at + 1);
}

/* "192.0.2.1", "10.0.0.0/8", "::1", "fd00::/8" (trusted-proxies) */
static int cfg_cidr_ok(const char *s)
{
	char host[INET6_ADDRSTRLEN];
	unsigned char addr[16];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, s, n);
	host[n] = 0;
	int v4 = inet_pton(AF_INET, host, addr) == 1;
	if (!v4 && inet_pton(AF_INET6, host, addr) != 1)
		return 0;
	if (!slash)
		return 1;
	char *end;
	unsigned long bits = strtoul(slash + 1, &end, 10);
	return slash[1] >= '0' && slash[1] <= '9' && *end == 0 && bits <= (v4 ? 32u : 128u);
}

/* option KEY VALUE (vhost): a module option; a later one of the same KEY replaces it. */
static int cfg_set_option(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	const char *k = a->v[0].s, *val = a->v[1].s;
	size_t kl = strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_-");
	if (!kl || kl > 64 || k[kl])
		return cfg_fail(p, a->line, "%s: key '%s' may hold only a-z, 0-9, '_' and '-'", d->name, k);
	if (strlen(val) > 1024)
		return cfg_fail(p, a->line, "%s: the value of '%s' is longer than 1024 bytes", d->name, k);
	char ***v = cfg_field(p, a->ctx, d->off);
	size_t *n = cfg_field(p, a->ctx, d->off2);
	char *kv = malloc(kl + strlen(val) + 2);
	if (!kv)
		return cfg_oom(p, a->line);
	snprintf(kv, kl + strlen(val) + 2, "%s=%s", k, val);
	for (size_t i = 0; i < *n; i++)
		if (strncmp((*v)[i], kv, kl + 1) == 0) {
			free((*v)[i]);
			(*v)[i] = kv;
			return 0;
		}
	char **nv = reallocarray(*v, *n + 1, sizeof(char *));
	if (!nv) {
		free(kv);
		return cfg_oom(p, a->line);
	}
	*v = nv;
	nv[(*n)++] = kv;
	return 0;
}

/* A list replaces the earlier one. The entry names a checker through lo: 0 modules, 1 JIDs,
 * 2 addresses/CIDRs. */
static int cfg_set_list(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	for (size_t i = 0; i < a->n; i++) {
		const char *s = a->v[i].s;
		if (d->lo == 0 && !cfg_module_name_ok(s))
			return cfg_fail(p, a->line,
					"%s: module name '%s' may hold only a-z, 0-9, '_' and '-'",
					d->name, s);
		if (d->lo == 1 && !cfg_bare_jid_ok(s))
			return cfg_fail(p, a->line, "%s: '%s' is not a bare JID like admin@localhost",
					d->name, s);
		if (d->lo == 2 && !cfg_cidr_ok(s))
			return cfg_fail(p, a->line, "%s: '%s' is not an address or CIDR like 10.0.0.0/8",
					d->name, s);
	}
	char **v = calloc(a->n, sizeof(*v));
	if (!v)
		return cfg_oom(p, a->line);
	for (size_t i = 0; i < a->n; i++) {
		v[i] = a->v[i].s;	/* taken from the token */
		a->v[i].s = NULL;
	}
	char ***slot = cfg_field(p, a->ctx, d->off);
	size_t *count = cfg_field(p, a->ctx, d->off2);
	cfg_strv_free(*slot, *count);
	*slot = v;
	*count = a->n;
	return 0;
}

/* ---- specific setters ---- */

static const char *const cfg_listen_kinds[] = {"c2s", "c2s-tls", "http", "https", "component", NULL};

static int cfg_set_listen(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	struct cfg *c = p->cfg;
	int k = cfg_word_index(d, a->v[0].s);
	if (k < 0)
		return cfg_bad_word(p, d, a);
	struct cfg_listen l;
	char why[160];
	memset(&l, 0, sizeof(l));
	snprintf(l.kind, sizeof(l.kind), "%s", cfg_listen_kinds[k]);
	if (cfg_addr_parse(a->v[1].s, &l, why, sizeof(why)) < 0)
		return cfg_fail(p, a->line, "listen %s: %s", l.kind, why);
	struct cfg_origin o = {p->file, a->line};
	for (size_t i = 0; i < c->nlistens; i++) {
		if (strcmp(c->listens[i].kind, l.kind) == 0) {
			c->listens[i] = l;
			p->listen_origin[i] = o;
			return 0;
		}
	}
	struct cfg_listen *nl = reallocarray(c->listens, c->nlistens + 1, sizeof(*nl));
	if (!nl)
		return cfg_oom(p, a->line);
	c->listens = nl;
	struct cfg_origin *no = reallocarray(p->listen_origin, c->nlistens + 1, sizeof(*no));
	if (!no)
		return cfg_oom(p, a->line);
	p->listen_origin = no;
	c->listens[c->nlistens] = l;
	p->listen_origin[c->nlistens++] = o;
	return 0;
}

static const char *const cfg_backends[] = {"memory", "file", "postgresql", "mongodb", NULL};

static int cfg_set_storage_default(struct cfg_parser *p, const struct cfg_directive *d,
				   struct cfg_args *a)
{
	struct cfg *c = p->cfg;
	int k = cfg_word_index(d, a->v[0].s);
	if (k < 0)
		return cfg_bad_word(p, d, a);
	int needs_arg = k >= 2;
	if (needs_arg && a->n < 2)
		return cfg_fail(p, a->line, "default %s needs a quoted %s", a->v[0].s,
				k == 2 ? "connection string" : "URI");
	if (!needs_arg && a->n > 1)
		return cfg_fail(p, a->line, "default %s takes no argument", a->v[0].s);
	if (cfg_replace_str(p, &c->storage_default, a->v[0].s, a->line) < 0)
		return -1;
	free(c->storage_arg);
	c->storage_arg = NULL;
	return needs_arg ? cfg_replace_str(p, &c->storage_arg, a->v[1].s, a->line) : 0;
}

static int cfg_same_host(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* store NAME BACKEND ["arg"] (storage block, or a vhost for that host only) and, in a vhost,
 * storage BACKEND ["arg"] (name "*"). A later line for the same store and host replaces the
 * earlier one. */
static int cfg_store_add(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a,
			 const char *name, size_t first)
{
	struct cfg *c = p->cfg;
	const char *host = a->ctx == CTX_VHOST ? c->vhosts[p->cur].name : NULL;
	size_t i, n = strlen(name);
	int k = cfg_word_index(d, a->v[first].s);

	if (strcmp(name, "*") != 0 &&
	    (n == 0 || n > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n))
		return cfg_fail(p, a->line, "store name must be 1..64 of [a-z0-9_-]: %s", name);
	const char *what = first ? "store " : "storage", *shown = first ? name : "";
	if (k < 0)
		return cfg_fail(p, a->line, "%s%s: unknown backend %s", what, shown, a->v[first].s);
	if ((k >= 2) != (a->n == first + 2))
		return cfg_fail(p, a->line, "%s%s %s %s", what, shown, a->v[first].s,
				k >= 2 ? "needs a quoted connection string or URI" : "takes no argument");
	for (i = 0; i < c->nstorage_stores && !(strcmp(c->storage_stores[i].name, name) == 0 &&
						cfg_same_host(c->storage_stores[i].host, host));
	     i++)
		;
	if (i == c->nstorage_stores) {
		struct cfg_store *v = reallocarray(c->storage_stores, i + 1, sizeof(*v));
		if (!v)
			return cfg_oom(p, a->line);
		c->storage_stores = v;
		memset(&v[i], 0, sizeof(v[i]));
		c->nstorage_stores++;
		if (cfg_replace_str(p, &v[i].name, name, a->line) < 0 ||
		    (host && cfg_replace_str(p, &v[i].host, host, a->line) < 0))
			return -1;
	}
	struct cfg_store *s = &c->storage_stores[i];
	free(s->arg);
	s->arg = NULL;
	if (cfg_replace_str(p, &s->backend, a->v[first].s, a->line) < 0)
		return -1;
	return a->n == first + 2 ? cfg_replace_str(p, &s->arg, a->v[first + 1].s, a->line) : 0;
}

static int cfg_set_store(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	return cfg_store_add(p, d, a, a->v[0].s, 1);
}

static int cfg_set_host_storage(struct cfg_parser *p, const struct cfg_directive *d,
				struct cfg_args *a)
{
	return cfg_store_add(p, d, a, "*", 0);
}

static int cfg_set_cache(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	if (cfg_word_index(d, a->v[0].s) < 0)
		return cfg_bad_word(p, d, a);
	if (a->v[1].s[0] == 0)
		return cfg_fail(p, a->line, "cache redis: empty URL");
	return cfg_replace_str(p, &p->cfg->storage_cache, a->v[1].s, a->line);
}

/* A component is external (secret, XEP-0114) or internal (modules and their options), never
 * both, whichever order the lines come in. */
static int cfg_comp_kind_ok(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	const struct cfg_component *k = &p->cfg->components[p->cur];
	int secret = strcmp(d->name, "secret") == 0;
	if (secret ? !(k->nmodules || k->noptions) : !k->secret)
		return 0;
	return cfg_fail(p, a->line,
			"component '%s': %s with %s: a component is either external (secret) or internal "
			"(modules), never both", k->name, d->name, secret ? "modules" : "a secret");
}

static int cfg_set_comp_secret(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	return cfg_comp_kind_ok(p, d, a) < 0 ? -1 : cfg_set_str(p, d, a);
}

static int cfg_set_comp_modules(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	return cfg_comp_kind_ok(p, d, a) < 0 ? -1 : cfg_set_list(p, d, a);
}

static int cfg_set_comp_option(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	return cfg_comp_kind_ok(p, d, a) < 0 ? -1 : cfg_set_option(p, d, a);
}

static int cfg_enter_plain(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	(void)p, (void)d, (void)a;
	return 0;
}

/* Lower-cases a domain name in place after checking it. */
static int cfg_domain_arg(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	char *s = a->v[0].s;
	if (!cfg_domain_ok(s))
		return cfg_fail(p, a->line, "%s name '%s' is not a domain name", d->name, s);
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	return 0;
}

static int cfg_enter_vhost(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	struct cfg *c = p->cfg;
	if (cfg_domain_arg(p, d, a) < 0)
		return -1;
	for (size_t i = 0; i < c->nvhosts; i++) {
		if (strcmp(c->vhosts[i].name, a->v[0].s) == 0) {
			p->cur = i;	/* a repeated block extends the earlier one */
			return 0;
		}
	}
	if (c->nvhosts >= MAX_VHOSTS)
		return cfg_fail(p, a->line, "more than %u vhosts", MAX_VHOSTS);
	struct cfg_vhost *nv = reallocarray(c->vhosts, c->nvhosts + 1, sizeof(*nv));
	if (!nv)
		return cfg_oom(p, a->line);
	c->vhosts = nv;
	memset(&nv[c->nvhosts], 0, sizeof(*nv));
	nv[c->nvhosts].require_tls = 1;
	nv[c->nvhosts].name = a->v[0].s;	/* taken */
	a->v[0].s = NULL;
	p->cur = c->nvhosts++;
	return 0;
}

static int cfg_enter_component(struct cfg_parser *p, const struct cfg_directive *d,
			       struct cfg_args *a)
{
	struct cfg *c = p->cfg;
	if (cfg_domain_arg(p, d, a) < 0)
		return -1;
	for (size_t i = 0; i < c->ncomponents; i++) {
		if (strcmp(c->components[i].name, a->v[0].s) == 0) {
			p->cur = i;
			return 0;
		}
	}
	if (c->ncomponents >= MAX_VHOSTS)
		return cfg_fail(p, a->line, "more than %u components", MAX_VHOSTS);
	struct cfg_component *nc = reallocarray(c->components, c->ncomponents + 1, sizeof(*nc));
	if (!nc)
		return cfg_oom(p, a->line);
	c->components = nc;
	memset(&nc[c->ncomponents], 0, sizeof(*nc));
	nc[c->ncomponents].name = a->v[0].s;
	a->v[0].s = NULL;
	p->cur = c->ncomponents++;
	return 0;
}


/* ---- the directive table ---- */

#define F(field) offsetof(struct cfg, field)
#define FV(field) offsetof(struct cfg_vhost, field)
#define FC(field) offsetof(struct cfg_component, field)
#define BLOCKS (CTX_TOP)

static const char *const cfg_log_words[] = {"stderr", "syslog", NULL};
static const char *const cfg_level_words[] = {"debug", "info", "notice", "warn", "err", "crit", NULL};
static const char *const cfg_onoff[] = {"off", "on", NULL};
static const char *const cfg_conflict_words[] = {"replace", "refuse", NULL};
static const char *const cfg_closed_open[] = {"closed", "open", NULL};
static const char *const cfg_cache_words[] = {"redis", NULL};

static const struct cfg_directive cfg_directives[] = {
	{"server", CTX_TOP, 0, 0, D_BLOCK, CTX_SERVER, cfg_enter_plain, 0, 0, 0, 0, NULL},
	{"workers", CTX_TOP, 0, 0, D_BLOCK, CTX_WORKERS, cfg_enter_plain, 0, 0, 0, 0, NULL},
	{"limits", CTX_TOP, 0, 0, D_BLOCK, CTX_LIMITS, cfg_enter_plain, 0, 0, 0, 0, NULL},
	{"storage", CTX_TOP, 0, 0, D_BLOCK, CTX_STORAGE, cfg_enter_plain, 0, 0, 0, 0, NULL},
	{"vhost", CTX_TOP, 1, 1, D_BLOCK, CTX_VHOST, cfg_enter_vhost, 0, 0, 0, 0, NULL},
	{"component", CTX_TOP, 1, 1, D_BLOCK, CTX_COMPONENT, cfg_enter_component, 0, 0, 0, 0, NULL},
	{"listen", CTX_TOP, 2, 2, 0, 0, cfg_set_listen, 0, 0, 0, 0, cfg_listen_kinds},
	{"include", CTX_ANY, 1, 1, 0, 0, cfg_set_include, 0, 0, 0, 0, NULL},

	{"rundir", CTX_SERVER, 1, 1, 0, 0, cfg_set_path, F(rundir), 0, 0, 0, NULL},
	{"datadir", CTX_SERVER, 1, 1, 0, 0, cfg_set_path, F(datadir), 0, 0, 0, NULL},
	{"webroot", CTX_SERVER, 1, 1, 0, 0, cfg_set_path, F(webroot), 0, 0, 0, NULL},
	{"trusted-proxies", CTX_SERVER, 1, ARGS_LINE, 0, 0, cfg_set_list, F(trusted_proxies),
	 F(ntrusted_proxies), 2, 0, NULL},
	{"log", CTX_SERVER, 1, 1, 0, 0, cfg_set_word, F(log), 0, 0, 0, cfg_log_words},
	{"loglevel", CTX_SERVER, 1, 1, 0, 0, cfg_set_loglevel, 0, 0, 0, 0, cfg_level_words},
	{"admins", CTX_SERVER, 1, ARGS_LINE, 0, 0, cfg_set_list, F(admins), F(nadmins), 1, 0, NULL},
	{"scram-iterations", CTX_SERVER, 1, 1, 0, 0, cfg_set_u32, F(scram_iterations), 0,
	 SCRAM_ITERATIONS_DEFAULT, 1u << 24, NULL},

	{"c2s", CTX_WORKERS, 1, 1, 0, 0, cfg_set_u32, F(workers_c2s), 0, 1, MAX_WORKERS_PER_ROLE, NULL},
	{"http", CTX_WORKERS, 1, 1, 0, 0, cfg_set_u32, F(workers_http), 0, 1, MAX_WORKERS_PER_ROLE, NULL},
	{"storage", CTX_WORKERS, 1, 1, 0, 0, cfg_set_u32, F(workers_storage), 0, 1,
	 MAX_WORKERS_PER_ROLE, NULL},

	{"stanza-size", CTX_LIMITS, 1, 1, 0, 0, cfg_set_size, F(stanza_size), 0, 1024, XE_MAX_BODY,
	 NULL},
	{"c2s-rate", CTX_LIMITS, 1, 1, 0, 0, cfg_set_rate, F(c2s_rate), 0, 1, UINT64_MAX, NULL},
	{"unauth-timeout", CTX_LIMITS, 1, 1, 0, 0, cfg_set_seconds, F(unauth_timeout), 0, 1, 86400,
	 NULL},
	{"conn-per-ip", CTX_LIMITS, 1, 1, 0, 0, cfg_set_u32, F(conn_per_ip), 0, 1, 1000000, NULL},
	{"registrations-per-ip", CTX_LIMITS, 1, 1, 0, 0, cfg_set_u32, F(regs_per_ip), 0, 1, 1000000, NULL},
	{"stanza-depth", CTX_LIMITS, 1, 1, 0, 0, cfg_set_u32, F(stanza_depth), 0, 4, 1024, NULL},
	{"stanza-attrs", CTX_LIMITS, 1, 1, 0, 0, cfg_set_u32, F(stanza_attrs), 0, 4, 1024, NULL},
	{"out-buffer", CTX_LIMITS, 1, 1, 0, 0, cfg_set_size, F(out_buffer), 0, 4096, 1u << 30, NULL},
	{"ping-interval", CTX_LIMITS, 1, 1, 0, 0, cfg_set_seconds, F(ping_interval), 0, 1, 86400, NULL},
	{"bosh-inactivity", CTX_LIMITS, 1, 1, 0, 0, cfg_set_seconds, F(bosh_inactivity), 0, 2, 86400,
	 NULL},

	{"default", CTX_STORAGE, 1, 2, D_OPT_STR, 0, cfg_set_storage_default, 0, 0, 0, 0, cfg_backends},
	{"cache", CTX_STORAGE, 2, 2, 0, 0, cfg_set_cache, 0, 0, 0, 0, cfg_cache_words},
	{"store", CTX_STORAGE | CTX_VHOST, 2, 3, D_OPT_STR, 0, cfg_set_store, 0, 0, 0, 0, cfg_backends},
	{"storage", CTX_VHOST, 1, 2, D_OPT_STR, 0, cfg_set_host_storage, 0, 0, 0, 0, cfg_backends},

	{"cert", CTX_VHOST, 1, 1, 0, 0, cfg_set_path, FV(cert), 0, 0, 0, NULL},
	{"key", CTX_VHOST, 1, 1, 0, 0, cfg_set_path, FV(key), 0, 0, 0, NULL},
	{"modules", CTX_VHOST, 1, ARGS_LINE, 0, 0, cfg_set_list, FV(modules), FV(nmodules), 0, 0, NULL},
	{"option", CTX_VHOST, 2, 2, 0, 0, cfg_set_option, FV(options), FV(noptions), 0, 0, NULL},
	{"registration", CTX_VHOST, 1, 1, 0, 0, cfg_set_choice, FV(registration_open), 0, 0, 0,
	 cfg_closed_open},
	{"require-tls", CTX_VHOST, 1, 1, 0, 0, cfg_set_choice, FV(require_tls), 0, 0, 0, cfg_onoff},
	{"anonymous", CTX_VHOST, 1, 1, 0, 0, cfg_set_choice, FV(anonymous), 0, 0, 0, cfg_onoff},
	{"resource-conflict", CTX_VHOST, 1, 1, 0, 0, cfg_set_choice, FV(resource_conflict), 0, 0, 0,
	 cfg_conflict_words},

	{"secret", CTX_COMPONENT, 1, 1, 0, 0, cfg_set_comp_secret, FC(secret), 0, 0, 0, NULL},
	{"module", CTX_COMPONENT, 1, ARGS_LINE, 0, 0, cfg_set_comp_modules, FC(modules), FC(nmodules), 0, 0,
	 NULL},
	{"modules", CTX_COMPONENT, 1, ARGS_LINE, 0, 0, cfg_set_comp_modules, FC(modules), FC(nmodules), 0, 0,
	 NULL},
	{"option", CTX_COMPONENT, 2, 2, 0, 0, cfg_set_comp_option, FC(options), FC(noptions), 0, 0, NULL},
};

const struct cfg_directive *cfg_lookup(const char *name, unsigned ctx, unsigned *elsewhere)
{
	*elsewhere = 0;
	for (size_t i = 0; i < sizeof(cfg_directives) / sizeof(cfg_directives[0]); i++) {
		if (strcmp(cfg_directives[i].name, name) != 0)
			continue;
		if (cfg_directives[i].ctx & ctx)
			return &cfg_directives[i];
		if (!*elsewhere)
			*elsewhere = cfg_directives[i].ctx;
	}
	return NULL;
}
