/* Stanza element trees built with expat from bytes a c2s worker sent: bounded in depth and
 * size, and never trusted to be well-formed. */
#include "xnode.h"

#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "xlimits.h"

struct xnode_parse_state {
	struct xnode *root, *cur;
	unsigned depth;
	int failed;
	XML_Parser parser;
};

struct xnode *xnode_new(const char *name)
{
	struct xnode *n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name)) || !(n->attrs = calloc(1, sizeof(char *)))) {
		xnode_free(n);
		return NULL;
	}
	return n;
}

void xnode_free(struct xnode *n)
{
	while (n) {
		struct xnode *next = n->next;
		xnode_free(n->children);
		for (size_t i = 0; n->attrs && i < 2 * n->nattrs; i++)
			free(n->attrs[i]);
		free(n->attrs);
		free(n->name);
		free(n->text);
		free(n);
		n = next;
	}
}

struct xnode *xnode_append_take(struct xnode *parent, struct xnode *child)
{
	struct xnode **tail = &parent->children;
	while (*tail)
		tail = &(*tail)->next;
	*tail = child;
	child->parent = parent;
	return child;
}

const char *xnode_attr(const struct xnode *n, const char *name)
{
	for (size_t i = 0; i < n->nattrs; i++)
		if (strcmp(n->attrs[2 * i], name) == 0)
			return n->attrs[2 * i + 1];
	return NULL;
}

int xnode_set_attr(struct xnode *n, const char *name, const char *value)
{
	for (size_t i = 0; i < n->nattrs; i++) {
		if (strcmp(n->attrs[2 * i], name) != 0)
			continue;
		if (!value) {
			free(n->attrs[2 * i]);
			free(n->attrs[2 * i + 1]);
			memmove(&n->attrs[2 * i], &n->attrs[2 * i + 2], (2 * (n->nattrs - i - 1) + 1) * sizeof(char *));
			n->nattrs--;
			return 0;
		}
		char *v = strdup(value);
		if (!v)
			return -1;
		free(n->attrs[2 * i + 1]);
		n->attrs[2 * i + 1] = v;
		return 0;
	}
	if (!value)
		return 0;
	char **a = realloc(n->attrs, (2 * n->nattrs + 3) * sizeof(char *));
	if (!a)
		return -1;
	n->attrs = a;
	a[2 * n->nattrs] = strdup(name);
	a[2 * n->nattrs + 1] = strdup(value);
	a[2 * n->nattrs + 2] = NULL;
	n->nattrs++;
	return a[2 * n->nattrs - 2] && a[2 * n->nattrs - 1] ? 0 : -1;
}

struct xnode *xnode_child(const struct xnode *n, const char *name)
{
	for (struct xnode *c = n->children; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

int xnode_set_text(struct xnode *n, const char *text, size_t len)
{
	char *t = malloc(len + 1);
	if (!t)
		return -1;
	memcpy(t, text, len);
	t[len] = 0;
	free(n->text);
	n->text = t;
	n->text_len = len;
	return 0;
}

static void parse_fail(struct xnode_parse_state *s)
{
	s->failed = 1;
	XML_StopParser(s->parser, XML_FALSE);
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct xnode_parse_state *s = ud;
	if (s->failed)
		return;
	if (++s->depth > XML_MAX_DEPTH_DEFAULT || (!s->cur && s->root)) {
		parse_fail(s);
		return;
	}
	struct xnode *n = xnode_new(name);
	if (!n) {
		parse_fail(s);
		return;
	}
	for (size_t i = 0; atts[i] && atts[i + 1]; i += 2) {
		if (i / 2 >= XML_MAX_ATTRS || xnode_set_attr(n, atts[i], atts[i + 1]) < 0) {
			xnode_free(n);
			parse_fail(s);
			return;
		}
	}
	if (s->cur)
		xnode_append_take(s->cur, n);
	else
		s->root = n;
	s->cur = n;
}

static void on_end(void *ud, const XML_Char *name)
{
	struct xnode_parse_state *s = ud;
	(void)name;
	if (s->failed)
		return;
	s->depth--;
	s->cur = s->cur->parent;
}

static void on_text(void *ud, const XML_Char *text, int len)
{
	struct xnode_parse_state *s = ud;
	if (s->failed || !s->cur)
		return;
	struct xnode *n = s->cur;
	char *t = realloc(n->text, n->text_len + (size_t)len + 1);
	if (!t) {
		parse_fail(s);
		return;
	}
	memcpy(t + n->text_len, text, (size_t)len);
	n->text_len += (size_t)len;
	t[n->text_len] = 0;
	n->text = t;
}

static void on_forbidden(void *ud)
{
	parse_fail(ud);
}

static void on_doctype(void *ud, const XML_Char *a, const XML_Char *b, const XML_Char *c, int d)
{
	(void)a, (void)b, (void)c, (void)d;
	on_forbidden(ud);
}

static void on_entity(void *ud, const XML_Char *a, int b, const XML_Char *c, int d, const XML_Char *e,
		      const XML_Char *f, const XML_Char *g, const XML_Char *h)
{
	(void)a, (void)b, (void)c, (void)d, (void)e, (void)f, (void)g, (void)h;
	on_forbidden(ud);
}

static void on_pi(void *ud, const XML_Char *a, const XML_Char *b)
{
	(void)a, (void)b;
	on_forbidden(ud);
}

struct xnode *xnode_parse(const char *xml, size_t len)
{
	struct xnode_parse_state s = {0};
	if (len > XE_MAX_BODY)
		return NULL;
	s.parser = XML_ParserCreate("UTF-8");
	if (!s.parser)
		return NULL;
	XML_SetUserData(s.parser, &s);
	XML_SetElementHandler(s.parser, on_start, on_end);
	XML_SetCharacterDataHandler(s.parser, on_text);
	XML_SetStartDoctypeDeclHandler(s.parser, on_doctype);
	XML_SetEntityDeclHandler(s.parser, on_entity);
	XML_SetProcessingInstructionHandler(s.parser, on_pi);
	XML_SetParamEntityParsing(s.parser, XML_PARAM_ENTITY_PARSING_NEVER);
	int ok = XML_Parse(s.parser, xml, (int)len, 1) == XML_STATUS_OK;
	XML_ParserFree(s.parser);
	if (!ok || s.failed || !s.root || s.cur) {
		xnode_free(s.root);
		return NULL;
	}
	return s.root;
}

int xnode_serialize(const struct xnode *n, struct buf *out)
{
	int rc = buf_put_u8(out, '<') | buf_put_str(out, n->name);
	for (size_t i = 0; i < n->nattrs; i++) {
		rc |= buf_put_u8(out, ' ') | buf_put_str(out, n->attrs[2 * i]) | buf_put_str(out, "='");
		rc |= buf_put_xml_escaped(out, n->attrs[2 * i + 1], strlen(n->attrs[2 * i + 1]));
		rc |= buf_put_u8(out, '\'');
	}
	if (!n->children && !n->text_len)
		return rc | buf_put_str(out, "/>");
	rc |= buf_put_u8(out, '>');
	if (n->text_len)
		rc |= buf_put_xml_escaped(out, n->text, n->text_len);
	for (const struct xnode *c = n->children; c; c = c->next)
		rc |= xnode_serialize(c, out);
	return rc | buf_put_str(out, "</") | buf_put_str(out, n->name) | buf_put_u8(out, '>');
}
