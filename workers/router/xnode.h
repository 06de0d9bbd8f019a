/* A small element tree for the stanzas the router must read (presence priority, message type,
 * error replies). Full-JID forwarding never builds one. */
#ifndef XMPPD_XNODE_H
#define XMPPD_XNODE_H
#include <stddef.h>

#include "buf.h"

struct xnode {
	char *name;		/* qualified name as written, e.g. "message" */
	char **attrs;		/* name, value, ..., NULL */
	size_t nattrs;
	char *text;		/* concatenated character data directly inside, or NULL */
	size_t text_len;
	struct xnode *children, *next, *parent;
};

/* Parses one serialized element; NULL when malformed or over the limits. */
struct xnode *xnode_parse(const char *xml, size_t len);
void xnode_free(struct xnode *n);
const char *xnode_attr(const struct xnode *n, const char *name);
int xnode_set_attr(struct xnode *n, const char *name, const char *value);	/* NULL value removes */
struct xnode *xnode_child(const struct xnode *n, const char *name);
int xnode_set_text(struct xnode *n, const char *text, size_t len);	/* replaces the text */
struct xnode *xnode_new(const char *name);
struct xnode *xnode_append_take(struct xnode *parent, struct xnode *child);
int xnode_serialize(const struct xnode *n, struct buf *out);

#endif
