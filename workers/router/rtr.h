/* The router's state: links to the stream workers, the routing table, the storage pool, and
 * the acknowledgement bookkeeping that lets a router crash lose nothing acknowledged. */
#ifndef XMPPD_RTR_H
#define XMPPD_RTR_H
#include <ev.h>
#include <stdint.h>

#include "buf.h"
#include "link.h"
#include "storeq.h"
#include "xe.h"

struct rtr_inflight;	/* an inbound frame whose consequences are not all acknowledged yet */
struct rtr_outrec;	/* an outbound frame and the inbound frame it came from */
struct rtr_modlib;	/* a dlopened module file */
struct rtr_iq_pending;	/* an IQ a module sent, waiting for its reply */
struct mod_host;

struct rtr_link {
	char name[32];		/* "c2s.0" */
	unsigned index;
	struct link *link;
	struct rtr_inflight *in_head, *in_tail;
	struct rtr_outrec *out_head, *out_tail;
	uint64_t bad_envelopes, denied;
	uint64_t gen;		/* bumped when the peer process changes */
};

struct rtr_session {
	struct rtr_link *link;
	uint64_t sid;
	char *full;		/* "node@domain/resource", as bound */
	const char *resource;	/* points into full */
	int priority;
	int available;		/* has sent available presence */
	char *presence;		/* its last broadcast presence (serialized), NULL when unavailable */
	struct buf state;	/* module state c2s keeps for us across restarts (ipc/sstate.h) */
	struct rtr_session *next_in_user, *next_by_sid;
	struct rtr_user *user;
};

struct rtr_user {
	char *bare;		/* lower-cased node@domain */
	struct rtr_session *sessions;
	struct rtr_user *next;
};

struct rtr_env {
	struct ev_loop *loop;
	struct rtr_link *links;
	unsigned nlinks;
	struct storeq_client *storage;
	char **vhosts;
	unsigned nvhosts;
	struct rtr_user **users;	/* hash by bare JID */
	size_t nusers_buckets;
	struct rtr_session **by_sid;	/* hash by (link, sid) */
	size_t nsid_buckets;
	size_t nsessions;
	struct mod_host **hosts;	/* virtual hosts with their buses and modules */
	unsigned nhosts;
	char **admins;		/* bare JIDs from the configuration */
	char **components;	/* configured component domains, for disco#items */
	unsigned ncomponents;
	unsigned nadmins;
	char *moddir;		/* where mod_<name>.so live */
	struct rtr_modlib *modlibs;	/* dlopened module files, shared by the hosts */
	double started;		/* ev_time() at start, for uptime */
	struct rtr_iq_pending *iq_pending;	/* IQ requests modules sent (modtime.c) */
	unsigned niq_pending;
	uint64_t iq_next_id;
	struct rtr_inflight *current;	/* the inbound frame being processed */
	struct rtr_link *current_link;
	uint64_t dropped_sends;
};

extern struct rtr_env *env;	/* the one mutable global of the router */

/* routes.c */
int rtr_routes_init(void);
struct rtr_session *rtr_session_bind(struct rtr_link *l, uint64_t sid, const char *full, size_t len);
void rtr_session_unbind(struct rtr_session *s);
struct rtr_session *rtr_session_by_sid(const struct rtr_link *l, uint64_t sid);
struct rtr_user *rtr_user_find(const char *bare, size_t len);
struct rtr_session *rtr_session_by_full(const char *full, size_t len);
void rtr_link_drop_sessions(struct rtr_link *l);
void rtr_routes_free(void);
int rtr_is_local_domain(const char *d, size_t len);

/* deliver.c */
void rtr_stanza_from_client(struct rtr_link *l, const struct xe_msg *m);
/* From a sender that is not a local session (an external component): receiver events, rules. */
void rtr_stanza_from_remote(struct rtr_link *l, const struct xe_msg *m);
void rtr_route_event(struct rtr_link *l, const struct xe_msg *m);
void rtr_session_gone(struct rtr_session *s);	/* fires resource-unbind; routes.c calls it */
struct xnode;
/* Routes a stanza made by the server (from/to are its attributes); x is borrowed. */
int rtr_server_send(const struct xnode *x);
/* Sends orig back to 'to' as an error (type, RFC 6120 condition); nothing for an error. */
int rtr_error_reply(const struct xnode *orig, const char *from, const char *to, const char *type,
		    const char *cond);
/* The same with an application-specific condition element <app xmlns='app_ns'/>. */
int rtr_error_reply_app(const struct xnode *orig, const char *from, const char *to, const char *type,
			const char *cond, const char *app, const char *app_ns);

/* userdel.c */
/* Sets (val non-NULL) or deletes a key of the session's state and leaves the change with its
 * stream worker, which replays it after a router restart. 0 or -1. */
int rtr_session_state_set(struct rtr_session *s, const char *key, const void *val, size_t vlen);
/* Ends a session from the router's side: c2s closes its stream with the stream error cond,
 * the router unbinds it now (resource-unbind, unavailable presence). s is freed. */
void rtr_session_close(struct rtr_session *s, const char *cond);
struct mod_host;
struct mod_sto_reply;
/* Deletes the account user of host h: storage first; when that succeeded, cb runs (its
 * replies go out first), then the user's sessions are closed with <not-authorized/> and
 * user-deleted fires with the bare JID, so each module removes its own data. cb always runs
 * once (later), with status -1 when storage did not answer. 0, or -1 when nothing was sent. */
int rtr_user_delete(struct mod_host *h, const char *user, void (*cb)(void *arg, const struct mod_sto_reply *r),
		    void *arg);
/* xmppctl user del, forwarded by the supervisor: answered once the deletion is done. */
void rtr_ctl(void *arg, const uint8_t *req, size_t len, struct buf *reply);

/* bind.c */
/* ROUTE_BIND, ROUTE_SYNC, ROUTE_UNBIND from a stream worker: components, the conflict policy,
 * then the routing table; a BIND is answered once the route is held or refused. */
void rtr_route_request(struct rtr_link *l, const struct xe_msg *m);
/* Answers m when it is a BIND that asked for an answer: cond NULL = bound, else refused. */
void rtr_route_answer(struct rtr_link *l, const struct xe_msg *m, const char *cond);

/* links.c */
/* Sends an envelope to a link on behalf of env->current (its ack waits for this one). */
int rtr_send(struct rtr_link *l, const struct xe_msg *m);
int rtr_send_to_session(const struct rtr_session *s, const struct xe_msg *m);
/* An asynchronous call (storage) made while processing an inbound frame keeps that frame
 * unacknowledged until it is released; enter makes what its callback sends count for it. */
struct rtr_hold;
struct rtr_hold *rtr_hold_take(void);	/* NULL when out of memory */
void rtr_hold_enter(const struct rtr_hold *h);
void rtr_hold_release(struct rtr_hold *h);	/* frees h; leaves env->current alone */
/* Forgets the link's sessions and its acknowledgement bookkeeping (shutdown, tests). */
void rtr_link_clear(struct rtr_link *l);



extern const struct link_ops rtr_link_ops;
#endif
