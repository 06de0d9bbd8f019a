/* Internals shared by the configuration parser files (config.c: parser, files, entry points;
 * config_set.c: the directive table and its setters). Nothing else includes this. */
#ifndef XMPPD_CONFIG_INT_H
#define XMPPD_CONFIG_INT_H
#include <sys/types.h>

#include "config.h"
#include "config_lex.h"

enum cfg_ctx {
	CTX_TOP = 1 << 0,
	CTX_SERVER = 1 << 1,
	CTX_WORKERS = 1 << 2,
	CTX_LIMITS = 1 << 3,
	CTX_STORAGE = 1 << 4,
	CTX_VHOST = 1 << 5,
	CTX_COMPONENT = 1 << 6,
	CTX_ANY = 0x7f,
};

/* Where a listen line came from, for errors found after parsing. */
struct cfg_origin {
	const char *file;	/* borrowed from cfg_parser.files */
	int line;
};

struct cfg_file_id {
	dev_t dev;
	ino_t ino;
};

struct cfg_parser {
	struct cfg *cfg;
	char *err;
	size_t errlen;
	int failed;
	const char *file;	/* display name of the file being read */
	const char *dir;	/* its absolute directory */
	int depth;
	struct cfg_file_id stack[CFG_MAX_INCLUDE_DEPTH + 1];
	char **files;		/* every display name used, kept for origins */
	size_t nfiles;
	struct cfg_origin *listen_origin;	/* parallel to cfg->listens */
	size_t cur;		/* index of the vhost or component being filled */
	int last_line;		/* line of the last directive, for "too many arguments" */
	const char *last_name;
};

struct cfg_args {
	unsigned ctx;
	int line;
	struct cfg_tok v[CFG_MAX_LIST];
	size_t n;
};

struct cfg_directive;
typedef int (*cfg_setter)(struct cfg_parser *, const struct cfg_directive *, struct cfg_args *);

#define ARGS_LINE 255		/* max arity: every value up to the end of the line */
#define D_BLOCK 1		/* followed by { ... } in context `enter` */
#define D_OPT_STR 2		/* optional arguments are taken only when quoted */

struct cfg_directive {
	const char *name;
	unsigned ctx;
	uint8_t min, max, flags;
	unsigned enter;
	cfg_setter set;
	size_t off, off2;
	uint64_t lo, hi;
	const char *const *words;
};

__attribute__((format(printf, 3, 4))) int cfg_fail(struct cfg_parser *p, int line,
						    const char *fmt, ...);
int cfg_oom(struct cfg_parser *p, int line);
const char *cfg_ctx_name(unsigned ctx);
/* The directive named name allowed in ctx, or NULL; *elsewhere gets the contexts where a
 * directive of that name is allowed instead (0 when none). */
const struct cfg_directive *cfg_lookup(const char *name, unsigned ctx, unsigned *elsewhere);
void cfg_strv_free(char **v, size_t n);
/* Defined in config.c: reads an included file in the current context. */
int cfg_set_include(struct cfg_parser *p, const struct cfg_directive *d, struct cfg_args *a);

#endif
