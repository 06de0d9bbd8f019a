/* The configuration lexer (words, "strings", braces, # comments) and the value parsers for
 * units, paths, domain names and listen addresses. Pure functions over bounded input. */
#include "config_lex.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cfg_lex_init(struct cfg_lexer *lx, const char *text, size_t len)
{
	memset(lx, 0, sizeof(*lx));
	lx->text = text;
	lx->len = len;
	lx->line = 1;
}

void cfg_tok_clear(struct cfg_tok *t)
{
	free(t->s);
	t->s = NULL;
	t->type = CT_EOF;
}

void cfg_lex_free(struct cfg_lexer *lx)
{
	if (lx->has_peek)
		cfg_tok_clear(&lx->peeked);
	lx->has_peek = 0;
}

__attribute__((format(printf, 3, 4))) static int cfg_lex_fail(struct cfg_lexer *lx, int line,
							       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(lx->msg, sizeof(lx->msg), fmt, ap);
	va_end(ap);
	lx->errline = line;
	return -1;
}

static void cfg_lex_skip_space(struct cfg_lexer *lx)
{
	while (lx->pos < lx->len) {
		char c = lx->text[lx->pos];
		if (c == '\n') {
			lx->line++;
		} else if (c == '#') {
			while (lx->pos < lx->len && lx->text[lx->pos] != '\n')
				lx->pos++;
			continue;
		} else if (c != ' ' && c != '\t' && c != '\r') {
			return;
		}
		lx->pos++;
	}
}

/* Reads a quoted string after its opening quote; only \" and \\ are escapes. */
static int cfg_lex_string(struct cfg_lexer *lx, struct cfg_tok *t)
{
	char *out = malloc(CFG_MAX_TOKEN + 1);
	size_t n = 0;
	if (!out)
		return cfg_lex_fail(lx, t->line, "out of memory");
	for (;;) {
		if (lx->pos >= lx->len || lx->text[lx->pos] == '\n') {
			free(out);
			return cfg_lex_fail(lx, t->line, "unterminated string");
		}
		char c = lx->text[lx->pos++];
		if (c == '"')
			break;
		if (c == '\\') {
			char e = lx->pos < lx->len ? lx->text[lx->pos] : 0;
			if (e != '"' && e != '\\') {
				free(out);
				return cfg_lex_fail(lx, t->line,
						    "unknown escape in string (only \\\" and \\\\)");
			}
			c = e;
			lx->pos++;
		} else if ((unsigned char)c < 0x20 && c != '\t') {
			free(out);
			return cfg_lex_fail(lx, t->line, "control character 0x%02x in string",
					    (unsigned char)c);
		}
		if (n == CFG_MAX_TOKEN) {
			free(out);
			return cfg_lex_fail(lx, t->line, "string longer than %d bytes", CFG_MAX_TOKEN);
		}
		out[n++] = c;
	}
	out[n] = 0;
	t->type = CT_STRING;
	t->s = out;
	return 0;
}

static int cfg_word_char(char c)
{
	unsigned char u = (unsigned char)c;
	return u > 0x20 && u != 0x7f && c != '{' && c != '}' && c != '"' && c != '#';
}

static int cfg_lex_word(struct cfg_lexer *lx, struct cfg_tok *t)
{
	size_t start = lx->pos;
	while (lx->pos < lx->len && cfg_word_char(lx->text[lx->pos]))
		lx->pos++;
	size_t n = lx->pos - start;
	if (n == 0)
		return cfg_lex_fail(lx, t->line, "unexpected character 0x%02x",
				    (unsigned char)lx->text[start]);
	if (n > CFG_MAX_TOKEN)
		return cfg_lex_fail(lx, t->line, "word longer than %d bytes", CFG_MAX_TOKEN);
	t->s = strndup(lx->text + start, n);
	if (!t->s)
		return cfg_lex_fail(lx, t->line, "out of memory");
	t->type = CT_WORD;
	return 0;
}

int cfg_lex_next(struct cfg_lexer *lx, struct cfg_tok *t)
{
	if (lx->has_peek) {
		*t = lx->peeked;
		lx->has_peek = 0;
		return 0;
	}
	cfg_lex_skip_space(lx);
	t->s = NULL;
	t->line = lx->line;
	if (lx->pos >= lx->len) {
		t->type = CT_EOF;
		return 0;
	}
	char c = lx->text[lx->pos];
	if (c == '{' || c == '}') {
		lx->pos++;
		t->type = c == '{' ? CT_LBRACE : CT_RBRACE;
		return 0;
	}
	if (c == '"') {
		lx->pos++;
		return cfg_lex_string(lx, t);
	}
	return cfg_lex_word(lx, t);
}

int cfg_lex_peek(struct cfg_lexer *lx, const struct cfg_tok **t)
{
	if (!lx->has_peek) {
		if (cfg_lex_next(lx, &lx->peeked) < 0)
			return -1;
		lx->has_peek = 1;
	}
	*t = &lx->peeked;
	return 0;
}

/* Digits at s; *end points past them. -1 when there are none or the value overflows. */
static int cfg_digits(const char *s, uint64_t *v, const char **end)
{
	uint64_t x = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	if (p == s)
		return -1;
	*v = x;
	*end = p;
	return 0;
}

int cfg_parse_uint(const char *s, uint64_t *v)
{
	const char *end;
	return cfg_digits(s, v, &end) < 0 || *end ? -1 : 0;
}

struct cfg_unit {
	const char *suffix;
	uint64_t mult;
};

static int cfg_parse_with_units(const char *s, const struct cfg_unit *units, int bare_ok,
				uint64_t *v)
{
	uint64_t x;
	const char *end;
	if (cfg_digits(s, &x, &end) < 0)
		return -1;
	if (*end == 0) {
		*v = x;
		return bare_ok ? 0 : -1;
	}
	for (const struct cfg_unit *u = units; u->suffix; u++) {
		if (strcmp(end, u->suffix) != 0)
			continue;
		if (x > UINT64_MAX / u->mult)
			return -1;
		*v = x * u->mult;
		return 0;
	}
	return -1;
}

static const struct cfg_unit cfg_size_units[] = {
	{"K", 1ull << 10}, {"M", 1ull << 20}, {"G", 1ull << 30},
	{"k", 1ull << 10}, {"m", 1ull << 20}, {"g", 1ull << 30}, {NULL, 0},
};

int cfg_parse_size(const char *s, uint64_t *v) { return cfg_parse_with_units(s, cfg_size_units, 1, v); }

int cfg_parse_rate(const char *s, uint64_t *v)
{
	size_t n = strlen(s);
	if (n < 3 || strcmp(s + n - 2, "/s") != 0 || n - 2 > 32)
		return -1;
	char num[33];
	memcpy(num, s, n - 2);
	num[n - 2] = 0;
	return cfg_parse_size(num, v);
}

static const struct cfg_unit cfg_duration_units[] = {
	{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {NULL, 0},
};

int cfg_parse_duration_ms(const char *s, uint64_t *v)
{
	return cfg_parse_with_units(s, cfg_duration_units, 0, v);
}

char *cfg_path_resolve(const char *dir, const char *path)
{
	size_t dl = path[0] == '/' ? 0 : strlen(dir);
	char *out = malloc(dl + strlen(path) + 3);
	if (!out)
		return NULL;
	size_t o = 0;
	for (int part = path[0] == '/' ? 1 : 0; part < 2; part++) {
		const char *s = part == 0 ? dir : path;
		while (*s) {
			while (*s == '/')
				s++;
			if (!*s)
				break;
			const char *e = strchr(s, '/');
			size_t l = e ? (size_t)(e - s) : strlen(s);
			if (l == 2 && s[0] == '.' && s[1] == '.') {
				while (o > 0 && out[o - 1] != '/')
					o--;
				if (o > 0)
					o--;
			} else if (!(l == 1 && s[0] == '.')) {
				out[o++] = '/';
				memcpy(out + o, s, l);
				o += l;
			}
			s += l;
		}
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = 0;
	return out;
}

char *cfg_path_dir(const char *abs)
{
	const char *slash = strrchr(abs, '/');
	if (!slash || slash == abs)
		return strdup("/");
	return strndup(abs, (size_t)(slash - abs));
}

static int cfg_label_char(unsigned char c) { return isalnum(c) || c == '-' || c >= 0x80; }

int cfg_domain_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return 0;
	const char *p = s;
	for (;;) {
		size_t l = 0;
		while (p[l] && p[l] != '.') {
			if (!cfg_label_char((unsigned char)p[l]))
				return 0;
			l++;
		}
		if (l == 0 || l > 63 || p[0] == '-' || p[l - 1] == '-')
			return 0;
		if (!p[l])
			return 1;
		p += l + 1;
	}
}

static int cfg_port_parse(const char *s, uint16_t *port)
{
	uint64_t v;
	if (strlen(s) > 5 || cfg_parse_uint(s, &v) < 0 || v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int cfg_addr_parse(const char *s, struct cfg_listen *l, char *why, size_t whylen)
{
	char host[64];
	const char *portstr;
	int af;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			goto bad_form;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = 0;
		portstr = rb + 2;
		af = AF_INET6;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon)
			goto bad_form;
		if (memchr(s, ':', (size_t)(colon - s))) {
			snprintf(why, whylen, "IPv6 addresses go in brackets, like \"[::1]:5222\"");
			return -1;
		}
		if ((size_t)(colon - s) >= sizeof(host))
			goto bad_form;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = 0;
		portstr = colon + 1;
		af = AF_INET;
	}
	unsigned char bin[16];
	if (inet_pton(af, host, bin) != 1)
		goto not_ip;
	if (cfg_port_parse(portstr, &l->port) < 0) {
		snprintf(why, whylen, "port in \"%s\" must be a number from 1 to 65535", s);
		return -1;
	}
	if (!inet_ntop(af, bin, l->host, sizeof(l->host)))
		goto not_ip;
	return 0;
bad_form:
	snprintf(why, whylen, "expected an address like \"127.0.0.1:5222\" or \"[::]:5222\", got \"%s\"", s);
	return -1;
not_ip:
	snprintf(why, whylen, "'%s' is not an IP address (host names are not accepted)", host);
	return -1;
}
