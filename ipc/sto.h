/* The storage protocol: TLV bodies of STORE_REQ / STORE_REP envelopes, and of control
 * requests the supervisor forwards to storage.0 (xmppctl user ...). */
#ifndef XMPPD_STO_H
#define XMPPD_STO_H

enum sto_op {
	STO_OP_ACCOUNT_CREATE = 1,	/* HOST USER PASSWORD */
	STO_OP_ACCOUNT_DELETE,		/* HOST USER */
	STO_OP_ACCOUNT_PASSWD,		/* HOST USER PASSWORD */
	STO_OP_ACCOUNT_EXISTS,		/* HOST USER → EXISTS */
	STO_OP_ACCOUNT_LIST,		/* HOST → USER* */
	STO_OP_SCRAM_PARAMS,		/* HOST USER MECH → SALT ITER (a stable fake for unknown users) */
	STO_OP_SCRAM_VERIFY,		/* HOST USER MECH AUTHMSG PROOF → SIGNATURE, or STO_EAUTH */
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
};

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
