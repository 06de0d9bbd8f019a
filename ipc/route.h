/* Bodies of the routing kinds on a stanza link (TLV).
 * ROUTE_BIND / ROUTE_SYNC: from = the session's full JID, sid = the c2s session id;
 *   body: RT_PRIORITY (u32, as int32) and, in SYNC, RT_PRESENCE (the last presence stanza).
 * ROUTE_UNBIND: from = full JID, sid; empty body.
 * STANZA: from/to as stamped by c2s; body = serialized stanza, UTF-8 XML.
 *   c2s → router: sid names the sending session. router → c2s: sid names the target session.
 * AUTH_REQ / AUTH_REP: c2s ↔ router: reqid is the c2s's; body = storage protocol TLVs (sto.h);
 *   the router forwards them to storage with its own id and maps the reply back. */
#ifndef XMPPD_ROUTE_H
#define XMPPD_ROUTE_H

enum route_tag {
	RT_PRIORITY = 1,
	RT_PRESENCE,
};

#endif
