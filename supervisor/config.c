/* The configuration parser: reads files and includes, drives the lexer (config_lex.c) through
 * the directive table (config_set.c). It never opens anything but regular files of bounded size. */
#include "config_int.h"
#include "log.h"
#include "xlimits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
int cfg_fail(struct cfg_parser *p, int line, const char *fmt, ...)
{
	if (p->failed)
		return -1;
	p->failed = 1;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Truncating an over-long error message is acceptable: FILE:LINE comes first. */
	if (line > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s", p->file, line, msg);
	else
		snprintf(p->err, p->errlen, "%s: %s", p->file, msg);
	return -1;
}

int cfg_oom(struct cfg_parser *p, int line) { return cfg_fail(p, line, "out of memory"); }


/* ---- the parser proper ---- */

static int cfg_body(struct cfg_parser *p, struct cfg_lexer *lx, unsigned ctx, int open_line,
		    int file_root);

static int cfg_lex_error(struct cfg_parser *p, struct cfg_lexer *lx)
{
	return cfg_fail(p, lx->errline, "%s", lx->msg);
}

static void cfg_args_clear(struct cfg_args *a)
{
	for (size_t i = 0; i < a->n; i++)
		cfg_tok_clear(&a->v[i]);
	a->n = 0;
}

static int cfg_is_value(const struct cfg_tok *t) { return t->type == CT_WORD || t->type == CT_STRING; }

/* Arguments are on the directive's line: a missing value never swallows the next directive. */
static int cfg_collect(struct cfg_parser *p, struct cfg_lexer *lx, const struct cfg_directive *d,
		       struct cfg_args *a)
{
	size_t max = d->max == ARGS_LINE ? CFG_MAX_LIST : d->max;
	for (;;) {
		const struct cfg_tok *t;
		if (cfg_lex_peek(lx, &t) < 0)
			return cfg_lex_error(p, lx);
		if (!cfg_is_value(t) || t->line != a->line)
			break;
		if (a->n >= d->min && (d->flags & D_OPT_STR) && t->type != CT_STRING)
			break;
		if (a->n == max) {
			if (d->max == ARGS_LINE)
				return cfg_fail(p, a->line, "%s: more than %d values", d->name,
						CFG_MAX_LIST);
			break;
		}
		if (cfg_lex_next(lx, &a->v[a->n]) < 0)
			return cfg_lex_error(p, lx);
		a->n++;
	}
	if (a->n < d->min)
		return cfg_fail(p, a->line, "%s: expected %s%u argument%s on the same line", d->name,
				d->max == d->min ? "" : "at least ", d->min, d->min == 1 ? "" : "s");
	return 0;
}

static int cfg_directive(struct cfg_parser *p, struct cfg_lexer *lx, unsigned ctx,
			 struct cfg_tok *name)
{
	unsigned elsewhere;
	const struct cfg_directive *d = cfg_lookup(name->s, ctx, &elsewhere);
	if (!d) {
		if (elsewhere)
			return cfg_fail(p, name->line, "unknown directive '%s' %s (it belongs %s)",
					name->s, cfg_ctx_name(ctx), cfg_ctx_name(elsewhere & -elsewhere));
		return cfg_fail(p, name->line, "unknown directive '%s' %s", name->s, cfg_ctx_name(ctx));
	}
	struct cfg_args *a = calloc(1, sizeof(*a));
	if (!a)
		return cfg_oom(p, name->line);
	a->ctx = ctx;
	a->line = name->line;
	p->last_line = name->line;
	p->last_name = d->name;
	int rc = cfg_collect(p, lx, d, a);
	int open_line = 0;
	if (rc == 0 && (d->flags & D_BLOCK)) {
		struct cfg_tok t;
		if (cfg_lex_next(lx, &t) < 0) {
			rc = cfg_lex_error(p, lx);
		} else if (t.type != CT_LBRACE) {
			rc = cfg_fail(p, t.line, "expected '{' after '%s'", d->name);
			cfg_tok_clear(&t);
		}
		open_line = t.line;
	}
	if (rc == 0)
		rc = d->set(p, d, a);
	cfg_args_clear(a);
	free(a);
	if (rc == 0 && (d->flags & D_BLOCK))
		rc = cfg_body(p, lx, d->enter, open_line, 0);
	return rc;
}

static int cfg_body(struct cfg_parser *p, struct cfg_lexer *lx, unsigned ctx, int open_line,
		    int file_root)
{
	for (;;) {
		struct cfg_tok t;
		if (cfg_lex_next(lx, &t) < 0)
			return cfg_lex_error(p, lx);
		int rc = 0;
		switch (t.type) {
		case CT_EOF:
			if (!file_root)
				return cfg_fail(p, t.line, "missing '}' for block opened at line %d",
						open_line);
			return 0;
		case CT_RBRACE:
			if (file_root)
				return cfg_fail(p, t.line, "unexpected '}'");
			return 0;
		case CT_LBRACE:
			return cfg_fail(p, t.line, "unexpected '{'");
		case CT_STRING:
			if (t.line == p->last_line && p->last_name)
				rc = cfg_fail(p, t.line, "%s: too many arguments", p->last_name);
			else
				rc = cfg_fail(p, t.line, "expected a directive name, got \"%s\"", t.s);
			break;
		case CT_WORD:
			rc = cfg_directive(p, lx, ctx, &t);
			break;
		}
		cfg_tok_clear(&t);
		if (rc < 0)
			return -1;
	}
}

static int cfg_parse_buffer(struct cfg_parser *p, const char *text, size_t len, unsigned ctx)
{
	struct cfg_lexer lx;
	cfg_lex_init(&lx, text, len);
	p->last_line = 0;
	p->last_name = NULL;
	int rc = cfg_body(p, &lx, ctx, 0, 1);
	cfg_lex_free(&lx);
	return rc;
}

/* Reads a regular file of at most CFG_MAX_FILE bytes; never blocks on a FIFO or device. */
static char *cfg_read_file(const char *path, size_t *len, struct cfg_file_id *id, char *why,
			   size_t whylen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	char *text = NULL;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "not a regular file");
		goto out;
	}
	if (st.st_size > (off_t)CFG_MAX_FILE) {
		snprintf(why, whylen, "larger than %u bytes", CFG_MAX_FILE);
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (text && got < (size_t)st.st_size) {
		ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (!text || got != (size_t)st.st_size) {
		snprintf(why, whylen, "%s", text ? "short read" : "out of memory");
		free(text);
		text = NULL;
		goto out;
	}
	*len = got;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
out:
	if (fd >= 0)
		close(fd);
	return text;
}

static const char *cfg_remember_file(struct cfg_parser *p, char *display)
{
	char **nf = reallocarray(p->files, p->nfiles + 1, sizeof(*nf));
	if (!nf) {
		free(display);
		return NULL;
	}
	p->files = nf;
	p->files[p->nfiles++] = display;
	return display;
}

/* The name shown in errors: the include argument joined to the includer's shown directory. */
static char *cfg_display_name(const char *includer, const char *arg)
{
	const char *slash = strrchr(includer, '/');
	if (arg[0] == '/' || !slash)
		return strdup(arg);
	size_t dl = (size_t)(slash - includer) + 1;
	char *s = malloc(dl + strlen(arg) + 1);
	if (s) {
		memcpy(s, includer, dl);
		memcpy(s + dl, arg, strlen(arg) + 1);
	}
	return s;
}

int cfg_set_include(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a)
{
	(void)d;
	if (p->depth >= CFG_MAX_INCLUDE_DEPTH)
		return cfg_fail(p, a->line, "include '%s': nested deeper than %d", a->v[0].s,
				CFG_MAX_INCLUDE_DEPTH);
	char *abs = cfg_path_resolve(p->dir, a->v[0].s);
	char *dir = abs ? cfg_path_dir(abs) : NULL;
	const char *display = cfg_remember_file(p, cfg_display_name(p->file, a->v[0].s));
	char why[128];
	size_t len;
	struct cfg_file_id id;
	char *text = NULL;
	int rc = -1;
	if (!abs || !dir || !display) {
		cfg_oom(p, a->line);
		goto out;
	}
	text = cfg_read_file(abs, &len, &id, why, sizeof(why));
	if (!text) {
		cfg_fail(p, a->line, "include '%s': %s", a->v[0].s, why);
		goto out;
	}
	for (int i = 0; i <= p->depth; i++) {
		if (p->stack[i].dev == id.dev && p->stack[i].ino == id.ino) {
			cfg_fail(p, a->line, "include '%s': include cycle", a->v[0].s);
			goto out;
		}
	}
	const char *saved_file = p->file, *saved_dir = p->dir;
	int saved_last = p->last_line;
	p->stack[++p->depth] = id;
	p->file = display;
	p->dir = dir;
	rc = cfg_parse_buffer(p, text, len, a->ctx);
	p->file = saved_file;
	p->dir = saved_dir;
	p->depth--;
	p->last_line = saved_last;
	p->last_name = NULL;
out:
	free(text);
	free(dir);
	free(abs);
	return rc;
}

/* ---- defaults, checks after parsing, entry points ---- */

static int cfg_defaults(struct cfg_parser *p, const char *topdir)
{
	struct cfg *c = p->cfg;
	c->rundir = cfg_path_resolve(topdir, "../var/run");
	c->datadir = cfg_path_resolve(topdir, "../var/lib");
	c->log = strdup("stderr");
	c->storage_default = strdup("file");
	c->loglevel = LOG_INFO;
	c->workers_c2s = c->workers_http = c->workers_storage = 1;
	c->stanza_size = STANZA_SIZE_DEFAULT;
	c->c2s_rate = 1u << 20;
	c->unauth_timeout = UNAUTH_TIMEOUT_DEFAULT;
	c->conn_per_ip = CONN_PER_IP_DEFAULT;
	c->bosh_inactivity = BOSH_INACTIVITY_DEFAULT;
	c->regs_per_ip = REGS_PER_IP_DEFAULT;
	c->scram_iterations = SCRAM_ITERATIONS_DEFAULT;
	if (!c->rundir || !c->datadir || !c->log || !c->storage_default)
		return cfg_oom(p, 0);
	return 0;
}

static int cfg_is_wildcard(const char *host) { return !strcmp(host, "::") || !strcmp(host, "0.0.0.0"); }

/* Two listeners clash when they share a port and an address, or one of them is a wildcard
 * (binding [::]:5222 also takes 0.0.0.0:5222 and 127.0.0.1:5222 on Linux). */
static int cfg_check_listens(struct cfg_parser *p)
{
	const struct cfg *c = p->cfg;
	for (size_t i = 0; i < c->nlistens; i++) {
		for (size_t j = 0; j < i; j++) {
			const struct cfg_listen *a = &c->listens[i], *b = &c->listens[j];
			if (a->port != b->port)
				continue;
			if (strcmp(a->host, b->host) && !cfg_is_wildcard(a->host) &&
			    !cfg_is_wildcard(b->host))
				continue;
			const struct cfg_origin *o = &p->listen_origin[i];
			p->file = o->file;
			return cfg_fail(p, o->line, "listen %s: port %u is already used by listen %s",
					a->kind, a->port, b->kind);
		}
	}
	return 0;
}

static int cfg_check(struct cfg_parser *p, int last_line)
{
	const struct cfg *c = p->cfg;
	if (c->nvhosts == 0)
		return cfg_fail(p, last_line, "no vhost: at least one vhost \"name\" { } is required");
	for (size_t i = 0; i < c->ncomponents; i++)
		if (cfg_vhost_find(c, c->components[i].name))
			return cfg_fail(p, last_line, "component '%s' has the name of a vhost",
					c->components[i].name);
	return cfg_check_listens(p);
}

static int cfg_count_lines(const char *text, size_t len)
{
	int n = 1;
	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	return n;
}

/* Parses one top-level text whose shown name is name and whose directory is dir. */
static int cfg_run(const char *name, const char *abspath, const char *text, size_t len,
		   const struct cfg_file_id *id, struct cfg *out, char *err, size_t errlen)
{
	struct cfg_parser p;
	memset(&p, 0, sizeof(p));
	memset(out, 0, sizeof(*out));
	if (errlen)
		err[0] = 0;
	p.cfg = out;
	p.err = err;
	p.errlen = errlen;
	p.file = name;
	char *dir = cfg_path_dir(abspath);
	p.dir = dir;
	if (id)
		p.stack[0] = *id;
	out->path = strdup(abspath);
	int rc = -1;
	if (!dir || !out->path)
		cfg_oom(&p, 0);
	else if (cfg_defaults(&p, dir) == 0 && cfg_parse_buffer(&p, text, len, CTX_TOP) == 0)
		rc = cfg_check(&p, cfg_count_lines(text, len));
	if (rc < 0) {
		if (!p.failed)
			cfg_fail(&p, 0, "failed");
		cfg_free(out);
	}
	cfg_strv_free(p.files, p.nfiles);
	free(p.listen_origin);
	free(dir);
	return rc;
}

static char *cfg_absolute(const char *path)
{
	char cwd[4096];
	if (path[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		return NULL;
	return cfg_path_resolve(path[0] == '/' ? "/" : cwd, path);
}

int cfg_load(const char *path, struct cfg *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	char why[128];
	size_t len;
	struct cfg_file_id id;
	char *abs = cfg_absolute(path);
	char *text = abs ? cfg_read_file(abs, &len, &id, why, sizeof(why)) : NULL;
	if (!abs)
		snprintf(why, sizeof(why), "%s", strerror(errno));
	if (!text) {
		snprintf(err, errlen, "%s: cannot read: %s", path, why);
		free(abs);
		return -1;
	}
	int rc = cfg_run(path, abs, text, len, &id, out, err, errlen);
	free(text);
	free(abs);
	return rc;
}

int cfg_parse_text(const char *name, const char *text, size_t len, struct cfg *out, char *err,
		   size_t errlen)
{
	memset(out, 0, sizeof(*out));
	char *abs = cfg_absolute(name[0] ? name : "-");
	if (!abs) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return -1;
	}
	int rc = cfg_run(name, abs, text, len, NULL, out, err, errlen);
	free(abs);
	return rc;
}

void cfg_free(struct cfg *c)
{
	free(c->path);
	free(c->rundir);
	free(c->datadir);
	free(c->log);
	cfg_strv_free(c->admins, c->nadmins);
	free(c->listens);
	free(c->storage_default);
	free(c->storage_arg);
	free(c->storage_cache);
	for (size_t i = 0; i < c->nstorage_stores; i++) {
		free(c->storage_stores[i].name);
		free(c->storage_stores[i].backend);
		free(c->storage_stores[i].arg);
		free(c->storage_stores[i].host);
	}
	free(c->storage_stores);
	cfg_strv_free(c->trusted_proxies, c->ntrusted_proxies);
	free(c->webroot);
	for (size_t i = 0; i < c->nvhosts; i++) {
		struct cfg_vhost *v = &c->vhosts[i];
		free(v->name);
		free(v->cert);
		free(v->key);
		cfg_strv_free(v->modules, v->nmodules);
		cfg_strv_free(v->options, v->noptions);
	}
	free(c->vhosts);
	for (size_t i = 0; i < c->ncomponents; i++) {
		struct cfg_component *k = &c->components[i];
		free(k->name);
		if (k->secret) {
			explicit_bzero(k->secret, strlen(k->secret));
			free(k->secret);
		}
		cfg_strv_free(k->modules, k->nmodules);
		cfg_strv_free(k->options, k->noptions);
	}
	free(c->components);
	memset(c, 0, sizeof(*c));
}

const struct cfg_vhost *cfg_vhost_find(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->nvhosts; i++)
		if (strcasecmp(c->vhosts[i].name, name) == 0)
			return &c->vhosts[i];
	return NULL;
}

const struct cfg_component *cfg_component_find(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->ncomponents; i++)
		if (strcasecmp(c->components[i].name, name) == 0)
			return &c->components[i];
	return NULL;
}
