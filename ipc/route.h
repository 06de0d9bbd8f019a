/* Bodies of the routing kinds on a stanza link (TLV).
 * ROUTE_BIND / ROUTE_SYNC: from = the session's full JID (a component: its domain), sid = the
 *   c2s session id; body: RT_PRIORITY (u32, as int32), in BIND RT_CONFLICT (u32, 1 = refuse a
 *   resource bound elsewhere, 0 = replace it) and, in SYNC, RT_PRESENCE (the last presence)
 *   and the session state the router left with c2s (RT_STATE records, see below).
 *   A BIND carries a reqid (non-zero) and the router answers it once the route is held or refused:
 *   router → c2s ROUTE_BIND, same reqid and sid = bound; XE_ERROR, same reqid and sid, body
 *   RT_CONDITION (a stanza error condition, e.g. "conflict") = refused, nothing bound.
 * ROUTE_UNBIND: c2s → router: from = full JID, sid; empty body.
 * Router → c2s:
 *   ROUTE_SYNC: from = full JID, sid: session state to keep (ipc/sstate.h): RT_STATE records,
 *     each {RT_STATE_KEY [RT_STATE_VALUE]}; without a value the key is deleted. c2s keeps the
 *     state with the session and sends it back in its ROUTE_SYNC after a router restart.
 *   ROUTE_UNBIND: from = full JID, sid: the router ended the session (its route went to a newer
 *     binding, possibly on another instance; an account deleted); optional RT_CONDITION, the
 *     stream error to close with.
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
	RT_STATE,		/* nested {RT_STATE_KEY [RT_STATE_VALUE]} */
	RT_STATE_KEY,		/* str, 1..RT_STATE_KEY_MAX bytes, no NUL */
	RT_STATE_VALUE,		/* bytes */
	RT_CONDITION,		/* str: a stream error (UNBIND) or stanza error (XE_ERROR) condition */
	RT_CONFLICT,		/* u32 */
	RT_CAPS_HASH = 16,	/* str, HOST_CAPS */
	RT_CAPS_VER = 17,	/* str, HOST_CAPS */
};

#define RT_STATE_KEY_MAX 64u
#define RT_STATE_MAX (64u * 1024u)	/* all of one session's state, encoded */

#endif
