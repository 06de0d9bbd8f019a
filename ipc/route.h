/* Bodies of the routing kinds on a stanza link (TLV).
 * ROUTE_BIND / ROUTE_SYNC: from = the session's full JID, sid = the c2s session id;
 *   body: RT_PRIORITY (u32, as int32) and, in SYNC, RT_PRESENCE (the last presence stanza).
 * ROUTE_UNBIND: from = full JID, sid; empty body.
 * STANZA: from/to as stamped by c2s; body = serialized stanza, UTF-8 XML.
 *   c2s → router: sid names the sending session. router → c2s: sid names the target session.
 * AUTH_REQ / AUTH_REP: c2s ↔ router: reqid is the c2s's; body = storage protocol TLVs (sto.h);
 *   the router forwards them to storage with its own id and maps the reply back.
 * HOST_CAPS: router → c2s, on a new link and when a vhost's modules change: from = the vhost;
 *   body: RT_CAPS_HASH ("sha-1") and RT_CAPS_VER (XEP-0115 ver; empty = no caps). A new router
 *   process sends only vhosts that have caps: the c2s forgets all caps when a new router appears. */
#ifndef XMPPD_ROUTE_H
#define XMPPD_ROUTE_H

enum route_tag {
	RT_PRIORITY = 1,
	RT_PRESENCE,
	RT_CAPS_HASH = 16,	/* str, HOST_CAPS */
	RT_CAPS_VER = 17,	/* str, HOST_CAPS */
};

#endif
