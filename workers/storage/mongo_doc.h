/* The MongoDB document mapping of the three shapes, as raw BSON bytes so it can be tested
 * (and used) without a server and without BSON headers:
 *   xmppd_kv       {_id: {h, s, u}, v: BinData}
 *   xmppd_map      {_id: {h, s, u, k}, v: BinData}
 *   xmppd_archive  {h, s, u, seq: int64 (append order), id, at: int64 ms, with, v: BinData}
 * (h host, s store, u user, k key). Parsers treat documents as untrusted. */
#ifndef XMPPD_STO_MONGO_DOC_H
#define XMPPD_STO_MONGO_DOC_H
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* The _id of a keyval (with_key 0) or map (with_key 1) value; 0 or -1. */
int sto_mdoc_id(struct buf *out, const struct sto_where *w, int with_key);
/* The whole keyval/map document. */
int sto_mdoc_value_doc(struct buf *out, const struct sto_where *w, int with_key,
		       const uint8_t *v, size_t n);
/* The value of such a document into out (appended); -1 when it has none or is malformed. */
int sto_mdoc_value(const uint8_t *doc, size_t len, struct buf *out);
/* A string field of a document (or of its _id when in_id), malloc'd; NULL when absent. */
char *sto_mdoc_str(const uint8_t *doc, size_t len, int in_id, const char *field);
/* An archive item document. */
int sto_mdoc_item(struct buf *out, const struct sto_where *w, int64_t seq, const char *id,
		  uint64_t when, const char *with, const uint8_t *v, size_t n);
/* The metadata of an item document (id and with malloc'd); -1 when malformed. */
int sto_mdoc_item_meta(const uint8_t *doc, size_t len, uint64_t *seq, uint64_t *when, char **id,
		       char **with);
/* Canonical extended JSON of a document (NUL-terminated in out), for tests and logs. */
int sto_mdoc_json(const uint8_t *doc, size_t len, struct buf *out);

#endif
