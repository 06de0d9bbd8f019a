/* Internals of the configuration parser shared by config.c and config_lex.c: the lexer, the
 * unit parsers and path handling. Nothing outside supervisor/config*.c includes this. */
#ifndef XMPPD_CONFIG_LEX_H
#define XMPPD_CONFIG_LEX_H
#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum cfg_tok_type { CT_EOF, CT_WORD, CT_STRING, CT_LBRACE, CT_RBRACE };

struct cfg_tok {
	enum cfg_tok_type type;
	int line;
	char *s;		/* malloc'd text of a word or (unescaped) string, else NULL */
};

struct cfg_lexer {
	const char *text;
	size_t len, pos;
	int line;
	struct cfg_tok peeked;
	int has_peek;
	char msg[160];		/* the reason of the last error, without FILE:LINE */
	int errline;
};

void cfg_lex_init(struct cfg_lexer *lx, const char *text, size_t len);
void cfg_lex_free(struct cfg_lexer *lx);
/* 0 and a token in t (the caller owns t->s), or -1 with lx->msg and lx->errline set. */
int cfg_lex_next(struct cfg_lexer *lx, struct cfg_tok *t);
/* Like cfg_lex_next but leaves the token for the next call; t->s stays owned by the lexer. */
int cfg_lex_peek(struct cfg_lexer *lx, const struct cfg_tok **t);
void cfg_tok_clear(struct cfg_tok *t);

/* Units. 0 ok, -1 malformed or overflowing. */
int cfg_parse_uint(const char *s, uint64_t *v);		/* 0..2^64-1, digits only */
int cfg_parse_size(const char *s, uint64_t *v);		/* 256, 256K, 1M, 1G (binary) */
int cfg_parse_rate(const char *s, uint64_t *v);		/* SIZE/s */
int cfg_parse_duration_ms(const char *s, uint64_t *v);	/* 500ms, 30s, 5m, 1h */

/* Absolute, lexically normalised (no ".", "..", "//") copy of path, taken relative to the
 * absolute directory dir when path is relative. malloc'd; NULL on allocation failure. */
char *cfg_path_resolve(const char *dir, const char *path);
/* The directory part of an absolute path, malloc'd ("/" for "/x"). */
char *cfg_path_dir(const char *abs);
/* 1 when s looks like a DNS name: dot-separated labels of letters, digits, '-' or UTF-8. */
int cfg_domain_ok(const char *s);
/* Parses "[v6]:port" or "v4:port" (IP literals only) into l->host (canonical) and l->port.
 * 0 ok, -1 with a reason in why. */
int cfg_addr_parse(const char *s, struct cfg_listen *l, char *why, size_t whylen);

#endif
