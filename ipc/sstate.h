/* Session state: small key → value records the router leaves with a stream worker so that they
 * survive a router restart (ipc/route.h). Encoded as RT_STATE records; both sides use these. */
#ifndef XMPPD_SSTATE_H
#define XMPPD_SSTATE_H
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Sets key to val (vlen bytes) in the encoded state st, or deletes it when val is NULL.
 * 0, or -1 (errno EINVAL for a bad key, EMSGSIZE past RT_STATE_MAX, ENOMEM); st is unchanged then. */
int sst_set(struct buf *st, const char *key, const void *val, size_t vlen);
/* 1 with the value (borrowed from st) when key is set, 0 when not. */
int sst_get(const uint8_t *st, size_t len, const char *key, const uint8_t **val, size_t *vlen);
/* Applies the RT_STATE records of an update (body of a router → c2s ROUTE_SYNC) to st, in order.
 * 0, or -1 when the update is malformed or would pass RT_STATE_MAX (then st is unchanged). */
int sst_apply(struct buf *st, const uint8_t *upd, size_t len);
/* Appends one update record (key, and val unless NULL = delete) to out; 0 or -1. */
int sst_put_update(struct buf *out, const char *key, const void *val, size_t vlen);

#endif
