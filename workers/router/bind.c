/* Route requests from the stream workers: a ROUTE_BIND is answered (bound, or refused with a
 * condition) only once the routing table holds the route, so a stream tells its client it is
 * bound only when every instance can reach it; the conflict policy applies across instances. */
#include <string.h>

#include "components.h"
#include "log.h"
#include "route.h"
#include "rtr.h"
#include "tlv.h"

void rtr_route_answer(struct rtr_link *l, const struct xe_msg *m, const char *cond)
{
	if (m->kind != XE_ROUTE_BIND || m->reqid == 0)
		return;	/* SYNC and UNBIND are never answered */
	struct buf body;
	buf_init(&body);
	if (cond && tlv_put_str(&body, RT_CONDITION, cond) < 0)
		buf_reset(&body);	/* the stream worker reads no condition as internal-server-error */
	struct xe_msg out = {.version = XE_VERSION, .kind = cond ? XE_ERROR : XE_ROUTE_BIND, .sid = m->sid,
			     .reqid = m->reqid, .from = m->from, .from_len = m->from_len, .to = "",
			     .body = body.len ? body.data : (const uint8_t *)"", .body_len = (uint32_t)body.len};
	(void)rtr_send(l, &out);
	buf_free(&body);
}

/* RT_CONFLICT in a BIND: the virtual host refuses a resource that is bound elsewhere. */
static int bind_refuses_conflict(const struct xe_msg *m)
{
	struct tlv t;
	uint32_t v;
	return tlv_find(m->body, m->body_len, RT_CONFLICT, &t) == 1 && tlv_u32(&t, &v) == 0 && v == 1;
}

/* The session that held a full JID now taken by another (link, sid): its stream worker is told,
 * so the stream ends with a conflict instead of living on without a route. */
static void route_taken(const struct rtr_session *old, const struct rtr_link *by)
{
	log_info("resource bound elsewhere, old session replaced", "jid=\"%s\" old=%s new=%s", old->full,
		 old->link->name, by->name);
	struct xe_msg gone = {.version = XE_VERSION, .kind = XE_ROUTE_UNBIND, .sid = old->sid, .from = old->full,
			      .from_len = (uint16_t)strlen(old->full), .to = "", .body = (const uint8_t *)"",
			      .body_len = 0};
	(void)rtr_send(old->link, &gone);
}

static void client_route(struct rtr_link *l, const struct xe_msg *m)
{
	if (m->kind != XE_ROUTE_UNBIND) {
		const struct rtr_session *s = rtr_session_by_sid(l, m->sid);
		if (m->kind == XE_ROUTE_BIND && s && strlen(s->full) == m->from_len &&
		    memcmp(s->full, m->from, m->from_len) == 0) {
			/* replayed to a new router after ROUTE_SYNC already restored it */
			rtr_route_answer(l, m, NULL);
			return;
		}
		const struct rtr_session *old = rtr_session_by_full(m->from, m->from_len);
		if (old && (old->link != l || old->sid != m->sid)) {
			if (m->kind == XE_ROUTE_BIND && bind_refuses_conflict(m)) {
				log_info("resource bound elsewhere, bind refused", "jid=\"%s\" held=%s asked=%s",
					 old->full, old->link->name, l->name);
				rtr_route_answer(l, m, "conflict");
				return;
			}
			route_taken(old, l);
		}
	}
	rtr_route_event(l, m);	/* binds and answers, or unbinds */
}

void rtr_route_request(struct rtr_link *l, const struct xe_msg *m)
{
	if (!rtr_comp_route(l, m)) {
		client_route(l, m);
		return;
	}
	if (m->kind != XE_ROUTE_BIND)
		return;
	const char *cond = NULL;
	if (!rtr_comp_holds(l, m->sid, m->from, m->from_len))
		cond = rtr_is_local_domain(m->from, m->from_len) ? "not-allowed" : "internal-server-error";
	rtr_route_answer(l, m, cond);
}
