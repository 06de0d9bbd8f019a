/* Bodies of the routing kinds on a stanza link (TLV).
 * ROUTE_BIND / ROUTE_SYNC: from = the session's full JID, sid = the c2s session id;
 *   body: RT_PRIORITY (u32, as int32) and, in SYNC, RT_PRESENCE (the last presence stanza)
 *   and the session state the router left with c2s (RT_STATE records, see below).
 * ROUTE_UNBIND: from = full JID, sid; empty body.
 * Router → c2s:
 *   ROUTE_SYNC: from = full JID, sid: session state to keep (ipc/sstate.h): RT_STATE records,
 *     each {RT_STATE_KEY [RT_STATE_VALUE]}; without a value the key is deleted. c2s keeps the
 *     state with the session and sends it back in its ROUTE_SYNC after a router restart.
 *   ROUTE_UNBIND: from = full JID, sid: the router ended the session (a component's route
 *     taken over, an account deleted); optional RT_CONDITION, the stream error to close with.
 * STANZA: from/to as stamped by c2s; body = serialized stanza, UTF-8 XML.
 *   c2s → router: sid names the sending session. router → c2s: sid names the target session.
 * AUTH_REQ / AUTH_REP: c2s ↔ router: reqid is the c2s's; body = storage protocol TLVs (sto.h);
 *   the router forwards them to storage with its own id and maps the reply back. */
#ifndef XMPPD_ROUTE_H
#define XMPPD_ROUTE_H

enum route_tag {
	RT_PRIORITY = 1,
	RT_PRESENCE,
	RT_STATE,		/* nested {RT_STATE_KEY [RT_STATE_VALUE]} */
	RT_STATE_KEY,		/* str, 1..RT_STATE_KEY_MAX bytes, no NUL */
	RT_STATE_VALUE,		/* bytes */
	RT_CONDITION,		/* str, an RFC 6120 stream error condition */
};

#define RT_STATE_KEY_MAX 64u
#define RT_STATE_MAX (64u * 1024u)	/* all of one session's state, encoded */

#endif
