/* Bodies of the routing kinds on a stanza link (TLV).
 * ROUTE_BIND / ROUTE_SYNC: from = the session's full JID (a component: its domain), sid = the
 *   c2s session id; body: RT_PRIORITY (u32, as int32), in BIND RT_CONFLICT (u32, 1 = refuse a
 *   resource bound elsewhere, 0 = replace it) and, in SYNC, RT_PRESENCE (the last presence).
 *   A BIND carries a reqid (non-zero) and the router answers it once the route is held or refused:
 *   router → c2s ROUTE_BIND, same reqid and sid = bound; XE_ERROR, same reqid and sid, body
 *   RT_CONDITION (a stanza error condition, e.g. "conflict") = refused, nothing bound.
 * ROUTE_UNBIND: c2s → router: from = full JID, sid; empty body. router → c2s: the route of
 *   that sid (from = its JID) went to a newer binding, possibly on another instance.
 * STANZA: from/to as stamped by c2s; body = serialized stanza, UTF-8 XML.
 *   c2s → router: sid names the sending session. router → c2s: sid names the target session.
 * AUTH_REQ / AUTH_REP: c2s ↔ router: reqid is the c2s's; body = storage protocol TLVs (sto.h);
 *   the router forwards them to storage with its own id and maps the reply back. */
#ifndef XMPPD_ROUTE_H
#define XMPPD_ROUTE_H

enum route_tag {
	RT_PRIORITY = 1,
	RT_PRESENCE,
	RT_CONFLICT,
	RT_CONDITION,
};

#endif
