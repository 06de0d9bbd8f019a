/* Router ↔ storage pool: NNG req0 in raw mode on the router (it owns request ids and
 * timeouts; there is no automatic resend) and rep0 on each storage worker, which dials in.
 * Bodies are envelopes of kind STORE_REQ / STORE_REP (or AUTH_REQ / AUTH_REP). */
#ifndef XMPPD_STOREQ_H
#define XMPPD_STOREQ_H
#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct storeq_client;
struct storeq_server;

/* status 0: reply (borrowed until return); -ETIMEDOUT / -ECONNRESET: no reply. */
typedef void (*storeq_done_fn)(void *arg, int status, const uint8_t *reply, size_t len);

struct storeq_client *storeq_listen(struct ev_loop *loop, const char *url);
/* Copies req. Returns 0 or -1; cb is called exactly once (later, never from inside call). */
int storeq_call(struct storeq_client *c, const uint8_t *req, size_t len, unsigned timeout_ms,
		storeq_done_fn cb, void *arg);
void storeq_client_close(struct storeq_client *c);	/* pending calls get -ECONNRESET */

struct storeq_stats {
	unsigned peers;			/* storage workers connected now */
	unsigned long pending;		/* calls waiting for a reply or a timeout */
	unsigned long timeouts;
	unsigned long late;		/* replies to calls that had already timed out: dropped */
	unsigned long bad;		/* replies without a well-formed request id: dropped */
};
struct storeq_stats storeq_client_stats(const struct storeq_client *c);

/* The handler fills reply (empty on entry; wiped after sending); it may block, bounded by
 * its own timeouts. One request at a time per server; the reply send blocks at most
 * STORE_TIMEOUT_MS. */
typedef void (*storeq_handler_fn)(void *arg, const uint8_t *req, size_t len, struct buf *reply);
struct storeq_server *storeq_dial(struct ev_loop *loop, const char *url, storeq_handler_fn h,
				  void *arg);
void storeq_server_close(struct storeq_server *s);

#endif
