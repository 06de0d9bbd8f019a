/* The router's ends of a session and of an account: session state left with the stream worker
 * (it outlives a router restart), a session closed from here, account deletion (storage, then
 * the sessions, then user-deleted for the modules' data) and xmppctl user del. Never blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "log.h"
#include "route.h"
#include "rtr.h"
#include "sstate.h"
#include "sto.h"
#include "tlv.h"
#include "worker.h"

#define USERDEL_CONDITION "not-authorized"	/* what Prosody closes a deleted account's streams with */
#define USERDEL_JID_MAX 3071u

static int session_send(const struct rtr_session *s, uint8_t kind, const struct buf *body)
{
	struct xe_msg m = {.version = XE_VERSION, .kind = kind, .from = s->full,
			   .from_len = (uint16_t)strlen(s->full), .to = "", .body = body->data,
			   .body_len = (uint32_t)body->len};
	return rtr_send_to_session(s, &m);
}

int rtr_session_state_set(struct rtr_session *s, const char *key, const void *val, size_t vlen)
{
	struct buf upd;
	buf_init(&upd);
	int rc = sst_put_update(&upd, key, val, vlen) < 0 || sst_set(&s->state, key, val, vlen) < 0 ? -1 : 0;
	if (rc == 0)
		rc = session_send(s, XE_ROUTE_SYNC, &upd);
	if (rc < 0)
		log_warn("session state not kept", "jid=\"%s\" key=%s", s->full, key);
	buf_free(&upd);
	return rc;
}

void rtr_session_close(struct rtr_session *s, const char *cond)
{
	struct buf body;
	buf_init(&body);
	if (tlv_put_str(&body, RT_CONDITION, cond) == 0)
		(void)session_send(s, XE_ROUTE_UNBIND, &body);
	buf_free(&body);
	rtr_session_unbind(s);
}

struct userdel {
	struct mod_host *h;
	char *bare;
	void (*cb)(void *arg, const struct mod_sto_reply *r);
	void *arg;
};

/* Every session of bare, closed; returns how many there were. */
static unsigned close_sessions(const char *bare)
{
	unsigned n = 0;
	for (;;) {	/* each round unbinds one session: bounded by their number */
		struct rtr_user *u = rtr_user_find(bare, strlen(bare));
		if (!u || !u->sessions)
			return n;
		rtr_session_close(u->sessions, USERDEL_CONDITION);
		n++;
	}
}

static void userdel_done(void *arg, const struct mod_sto_reply *r)
{
	struct userdel *d = arg;
	d->cb(d->arg, r);
	if (r->status == STO_OK) {
		unsigned n = close_sessions(d->bare);
		rtr_fire_lifecycle(d->h, "user-deleted", d->bare);
		log_notice("account deleted", "jid=\"%s\" sessions_closed=%u", d->bare, n);
	}
	free(d->bare);
	free(d);
}

int rtr_user_delete(struct mod_host *h, const char *user, void (*cb)(void *arg, const struct mod_sto_reply *r),
		    void *arg)
{
	struct userdel *d = calloc(1, sizeof(*d));
	struct buf bare;
	buf_init(&bare);
	if (!d || !user || !*user || strchr(user, '@') || strchr(user, '/') ||
	    buf_printf(&bare, "%s@%s", user, h->name) < 0 || bare.len > USERDEL_JID_MAX || buf_put_u8(&bare, 0) < 0) {
		buf_free(&bare);
		free(d);
		return -1;
	}
	*d = (struct userdel){.h = h, .bare = (char *)bare.data, .cb = cb, .arg = arg};
	struct mod_sto_req q = {.op = STO_OP_ACCOUNT_DELETE, .user = user};
	if (rtr_mod_store(h, &q, userdel_done, d) < 0) {
		free(d->bare);
		free(d);
		return -1;
	}
	return 0;
}

/* ---- xmppctl user del (the supervisor forwards it here so that the same cleanup runs) ---- */

struct ctl_del {
	uint64_t ticket;
	char *bare;
};

static void ctl_answer(uint64_t ticket, uint32_t status, const char *why, unsigned sessions)
{
	struct buf out;
	buf_init(&out);
	tlv_put_u32(&out, STO_T_STATUS, status);
	if (why)
		tlv_put_str(&out, STO_T_ERROR, why);
	else
		tlv_put_u32(&out, STO_T_COUNT, sessions);
	wrk_ctl_answer(ticket, out.data, out.len);
	buf_free(&out);
}

static void ctl_deleted(void *arg, const struct mod_sto_reply *r)
{
	struct ctl_del *c = arg;
	unsigned n = 0;
	char why[256] = "";
	const uint8_t *val;
	size_t off = 0, vlen;
	unsigned tag;
	struct rtr_user *u = rtr_user_find(c->bare, strlen(c->bare));
	for (struct rtr_session *s = u ? u->sessions : NULL; s; s = s->next_in_user)
		n++;	/* closed right after this answer */
	while (r->status > 0 && rtr_mod_sto_next(r->fields, r->len, &off, &tag, &val, &vlen) == 1)
		if (tag == STO_T_ERROR && vlen < sizeof(why))
			snprintf(why, sizeof(why), "%.*s", (int)vlen, (const char *)val);
	if (r->status < 0)
		ctl_answer(c->ticket, STO_EUNAVAIL, "storage did not answer; the account may or may not be deleted", 0);
	else
		ctl_answer(c->ticket, (uint32_t)r->status, r->status == STO_OK ? NULL : why[0] ? why : NULL, n);
	free(c->bare);
	free(c);
}

static int ctl_refuse(struct buf *reply, uint32_t status, const char *why)
{
	tlv_put_u32(reply, STO_T_STATUS, status);
	tlv_put_str(reply, STO_T_ERROR, why);
	return -1;
}

void rtr_ctl(void *arg, const uint8_t *req, size_t len, struct buf *reply)
{
	char host[1024], user[1024];
	struct tlv t;
	uint32_t op = 0;
	(void)arg;
	if (tlv_find(req, len, STO_T_OP, &t) != 1 || tlv_u32(&t, &op) < 0 || op != STO_OP_ACCOUNT_DELETE) {
		ctl_refuse(reply, STO_EINVAL, "the router answers only user del");
		return;
	}
	if (tlv_find(req, len, STO_T_HOST, &t) != 1 || tlv_str(&t, host, sizeof(host)) < 0 ||
	    tlv_find(req, len, STO_T_USER, &t) != 1 || tlv_str(&t, user, sizeof(user)) < 0 || !user[0]) {
		ctl_refuse(reply, STO_EINVAL, "user del needs a host and a user");
		return;
	}
	struct mod_host *h = rtr_host_find(host, strlen(host));
	struct ctl_del *c = h ? calloc(1, sizeof(*c)) : NULL;
	if (!h || !c) {
		free(c);
		ctl_refuse(reply, h ? STO_EIO : STO_EINVAL, h ? "out of memory" : "unknown host");
		return;
	}
	struct buf bare;
	buf_init(&bare);
	if (buf_printf(&bare, "%s@%s", user, h->name) < 0 || buf_put_u8(&bare, 0) < 0 ||
	    !(c->ticket = wrk_ctl_defer())) {
		buf_free(&bare);
		free(c);
		ctl_refuse(reply, STO_EIO, "out of memory");
		return;
	}
	c->bare = (char *)bare.data;
	if (rtr_user_delete(h, user, ctl_deleted, c) < 0) {
		ctl_answer(c->ticket, STO_EINVAL, "not a valid user, or storage unreachable", 0);
		free(c->bare);
		free(c);
	}
}
