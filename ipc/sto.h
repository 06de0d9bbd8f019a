/* The storage protocol: TLV bodies of STORE_REQ / STORE_REP envelopes, and of control
 * requests the supervisor forwards to storage.0 (xmppctl user ...). */
#ifndef XMPPD_STO_H
#define XMPPD_STO_H

/*
 * A request is a flat TLV list, STO_T_OP first, then the op's fields in any order. Every field
 * appears at most once except those marked "repeated". A request with a missing, unknown,
 * duplicate or oversized field is answered STO_EINVAL and changes nothing.
 * A reply is STO_T_STATUS first; on STO_OK the op's reply fields follow, otherwise STO_T_ERROR.
 *
 * Common fields of the three storage shapes (keyval, map, archive):
 *   HOST   a configured vhost; a store of one host never sees another host's data.
 *   STORE  the store name, 1..STO_STORE_MAX bytes of [a-z0-9_-] ("roster", "vcard", "private",
 *          "offline", "archive", ...); any module may use any name, no registration.
 *   USER   the localpart, 1..STO_KEY_MAX bytes, no NUL, used as given (the router prepares
 *          it). The empty string "" is the host-wide entry (e.g. a host's own data); it is
 *          never listed by KV_USERS.
 *   KEY    a map key, 1..STO_KEY_MAX bytes, no NUL (a JID, a namespace, ...).
 *   VALUE  opaque bytes, 0..STO_VALUE_MAX (serialized XML in practice).
 *
 * keyval — one value per (host, store, user):
 *   KV_GET    HOST STORE USER              → VALUE, or STO_ENOTFOUND
 *   KV_SET    HOST STORE USER [VALUE]      → (nothing); no VALUE deletes (deleting a missing
 *                                            entry is STO_OK). Acknowledged = durable.
 *   KV_USERS  HOST STORE                   → USER* (repeated, sorted by strcmp)
 * map — one value per (host, store, user, key):
 *   MAP_GET       HOST STORE USER KEY          → VALUE, or STO_ENOTFOUND
 *   MAP_SET       HOST STORE USER KEY [VALUE]  → (nothing); no VALUE deletes that key
 *   MAP_SET_KEYS  HOST STORE USER ENTRY*       → (nothing); each ENTRY (repeated, at least
 *                 one) is nested TLVs {KEY [VALUE]}: set, or delete without VALUE. Applied
 *                 in order; each key is durable before the reply (not atomic as a group).
 *   MAP_GET_ALL   HOST STORE KEY               → ENTRY* each {USER VALUE}: that key for every
 *                                                user that has it, sorted by user
 *   MAP_DELETE_ALL HOST STORE KEY              → COUNT: removes that key from every user
 *   MAP_DELETE_USER HOST STORE USER            → COUNT: removes every key of that user (an
 *                 account deleted); each key is durable before the reply (not atomic)
 * archive — an append-only list per (host, store, user), in append order:
 *   ARCH_APPEND  HOST STORE USER VALUE WHEN WITH [ID] → ID (the given one, or a new unique
 *                one when absent); STO_EEXISTS when ID is already in this user's archive.
 *   ARCH_FIND    HOST STORE USER [query]       → ITEM* then COMPLETE, [TOTAL]
 *   ARCH_GET     HOST STORE USER ID            → ITEM, or STO_ENOTFOUND
 *   ARCH_DELETE  HOST STORE USER [START END WITH BEFORE AFTER ID*] → COUNT deleted; with no
 *                filter the user's whole archive of that store goes.
 *   ARCH_SUMMARY HOST STORE USER [START END WITH] → ENTRY* each {WITH COUNT START END}:
 *                per correspondent, the number of items and the first/last WHEN; sorted by WITH
 *   query fields (all optional, combined with AND):
 *     START u64  WHEN >= START          END u64   WHEN <= END
 *     WITH str   exact match (bare or full JID, as stored)
 *     AFTER str  only items after the item with this id   (STO_ENOTFOUND if no such id)
 *     BEFORE str only items before the item with this id  (STO_ENOTFOUND if no such id)
 *     ID str     repeated: only these ids (XEP-0313 "ids")
 *     LIMIT u32  at most this many items (0 = count only); absent = no limit but a reply
 *                never exceeds STO_REPLY_MAX bytes: it stops early with COMPLETE 0.
 *     REVERSE u32 1 = newest first: the LIMIT items closest to the end (for "before" paging)
 *     TOTAL u32  1 = also reply TOTAL, the number of matching items ignoring LIMIT
 *   ITEM (reply, repeated) is nested TLVs {ID WHEN WITH VALUE}; items come in append order,
 *   or newest first with REVERSE. COMPLETE u32 is 1 when no further matching item exists
 *   beyond the last one returned (in the direction of the query).
 *   WHEN is u64 milliseconds since the Unix epoch (UTC), given by the caller.
 *
 * Accounts (below) stay as they were; their bodies also travel as XE_AUTH_REQ (SCRAM only).
 */
enum sto_op {
	STO_OP_ACCOUNT_CREATE = 1,	/* HOST USER PASSWORD */
	STO_OP_ACCOUNT_DELETE,		/* HOST USER */
	STO_OP_ACCOUNT_PASSWD,		/* HOST USER PASSWORD */
	STO_OP_ACCOUNT_EXISTS,		/* HOST USER → EXISTS */
	STO_OP_ACCOUNT_LIST,		/* HOST → USER* */
	STO_OP_SCRAM_PARAMS,		/* HOST USER MECH → SALT ITER (a stable fake for unknown users) */
	STO_OP_SCRAM_VERIFY,		/* HOST USER MECH AUTHMSG PROOF → SIGNATURE, or STO_EAUTH */
	STO_OP_KV_GET,			/* 8 */
	STO_OP_KV_SET,
	STO_OP_KV_USERS,
	STO_OP_MAP_GET,
	STO_OP_MAP_SET,
	STO_OP_MAP_SET_KEYS,
	STO_OP_MAP_GET_ALL,
	STO_OP_MAP_DELETE_ALL,
	STO_OP_ARCH_APPEND,		/* 16 */
	STO_OP_ARCH_FIND,
	STO_OP_ARCH_GET,
	STO_OP_ARCH_DELETE,
	STO_OP_ARCH_SUMMARY,
	STO_OP_MAP_DELETE_USER,		/* 21 */
	STO_OP_MAX
};

enum sto_tag {
	STO_T_OP = 1,		/* u32 enum sto_op */
	STO_T_HOST,		/* str */
	STO_T_USER,		/* str, localpart (repeated in LIST replies) */
	STO_T_PASSWORD,		/* str (wiped after use) */
	STO_T_MECH,		/* str "SCRAM-SHA-1" | "SCRAM-SHA-256" */
	STO_T_SALT,		/* bytes */
	STO_T_ITER,		/* u32 */
	STO_T_AUTHMSG,		/* bytes: client-first-bare "," server-first "," client-final-without-proof */
	STO_T_PROOF,		/* bytes: ClientProof, raw */
	STO_T_SIGNATURE,	/* bytes: ServerSignature, raw */
	STO_T_STATUS,		/* u32 enum sto_status (replies) */
	STO_T_ERROR,		/* str, human-readable reason (replies) */
	STO_T_EXISTS,		/* u32 0/1 */
	STO_T_STORE,		/* 14: str, store name */
	STO_T_KEY,		/* str, map key */
	STO_T_VALUE,		/* bytes */
	STO_T_ENTRY,		/* nested TLVs, repeated (see the ops) */
	STO_T_ID,		/* str, archive item id, 1..STO_ID_MAX bytes (repeated in FIND/DELETE) */
	STO_T_WHEN,		/* u64 ms since the epoch */
	STO_T_WITH,		/* str, the correspondent's JID */
	STO_T_START,		/* u64 ms, inclusive */
	STO_T_END,		/* u64 ms, inclusive */
	STO_T_BEFORE,		/* str id */
	STO_T_AFTER,		/* str id */
	STO_T_LIMIT,		/* u32 */
	STO_T_REVERSE,		/* u32 0/1 */
	STO_T_TOTAL,		/* u32: 0/1 in requests, the count in replies */
	STO_T_ITEM,		/* nested {ID WHEN WITH VALUE}, repeated (replies) */
	STO_T_COMPLETE,		/* u32 0/1 (replies) */
	STO_T_COUNT,		/* u32 (replies) */
};

#define STO_STORE_MAX	64u
#define STO_KEY_MAX	3071u
#define STO_ID_MAX	128u
#define STO_VALUE_MAX	((1u << 20) - 16384u)	/* fits an envelope with the other fields */

enum sto_status {
	STO_OK = 0,
	STO_ENOTFOUND,
	STO_EEXISTS,
	STO_EAUTH,
	STO_EINVAL,
	STO_EIO,
	STO_EUNAVAIL,
};

#endif
