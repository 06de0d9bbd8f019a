/* The storage request dispatch: reads a sto TLV body field by field against named limits,
 * runs the op from a table and writes STO_T_STATUS first. A bad request never crashes. */
#include "req.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xe.h"
#include "xlimits.h"

#define STO_MECH_NAME_MAX 32u
#define STO_OPS_ALL 0xffffffffu
#define STO_OPS_AUTH (1u << STO_OP_SCRAM_PARAMS | 1u << STO_OP_SCRAM_VERIFY)
#define STO_F_REPEATS (STO_F(STO_T_ENTRY) | STO_F(STO_T_ID))

/* The longest value each request field may have; 0 = not a request field. */
static const uint32_t sto_field_max[STO_T_REQ_MAX + 1] = {
	[STO_T_OP] = 4,
	[STO_T_HOST] = STO_HOST_MAX,
	[STO_T_USER] = STO_USER_IN_MAX,
	[STO_T_PASSWORD] = STO_PASSWORD_MAX,
	[STO_T_MECH] = STO_MECH_NAME_MAX,
	[STO_T_AUTHMSG] = STO_AUTHMSG_MAX,
	[STO_T_PROOF] = STO_HASH_MAX,
	[STO_T_STORE] = STO_STORE_MAX,
	[STO_T_KEY] = STO_KEY_MAX,
	[STO_T_VALUE] = STO_VALUE_MAX,
	[STO_T_ENTRY] = STO_VALUE_MAX + STO_KEY_MAX + 12u,
	[STO_T_ID] = STO_ID_MAX,
	[STO_T_WHEN] = 8,
	[STO_T_WITH] = STO_KEY_MAX,
	[STO_T_START] = 8,
	[STO_T_END] = 8,
	[STO_T_BEFORE] = STO_ID_MAX,
	[STO_T_AFTER] = STO_ID_MAX,
	[STO_T_LIMIT] = 4,
	[STO_T_REVERSE] = 4,
	[STO_T_TOTAL] = 4,
};

static int op_create(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		     size_t whylen)
{
	(void)out;
	return sto_account_create(env, q->host, q->user, q->password, why, whylen);
}

static int op_delete(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		     size_t whylen)
{
	(void)out;
	return sto_account_delete(env, q->host, q->user, why, whylen);
}

static int op_passwd(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		     size_t whylen)
{
	(void)out;
	return sto_account_passwd(env, q->host, q->user, q->password, why, whylen);
}

static int op_exists(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		     size_t whylen)
{
	int exists = 0, rc = sto_account_exists(env, q->host, q->user, &exists, why, whylen);
	if (rc == STO_OK && tlv_put_u32(out, STO_T_EXISTS, exists ? 1 : 0) < 0)
		return STO_EIO;
	return rc;
}

static int op_list(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		   size_t whylen)
{
	struct sto_names names;
	int rc = sto_account_list(env, q->host, &names, why, whylen);

	for (size_t i = 0; rc == STO_OK && i < names.n; i++) {
		if (tlv_put_str(out, STO_T_USER, names.v[i]) < 0 || out->len > STO_REPLY_MAX) {
			snprintf(why, whylen, "%zu accounts do not fit in one reply", names.n);
			rc = STO_EIO;
		}
	}
	sto_names_free(&names);
	return rc;
}

static int op_scram_params(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
			   size_t whylen)
{
	uint8_t salt[STO_SALT_MAX];
	size_t salt_len = 0;
	uint32_t iter = 0;
	int rc = sto_scram_params(env, q->host, q->user, q->mech, salt, &salt_len, &iter, why,
				  whylen);

	if (rc == STO_OK && (tlv_put(out, STO_T_SALT, salt, salt_len) < 0 ||
			     tlv_put_u32(out, STO_T_ITER, iter) < 0))
		return STO_EIO;
	return rc;
}

static int op_scram_verify(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
			   size_t whylen)
{
	uint8_t sig[STO_HASH_MAX];
	const struct tlv *am = &q->f[STO_T_AUTHMSG], *pr = &q->f[STO_T_PROOF];
	int rc = sto_scram_check(env, q->host, q->user, q->mech, am->val, am->len, pr->val,
				 pr->len, sig, why, whylen);

	if (rc == STO_OK && tlv_put(out, STO_T_SIGNATURE, sig, sto_mech_hash_len(q->mech)) < 0)
		rc = STO_EIO;
	explicit_bzero(sig, sizeof(sig));
	return rc;
}

#define F_HU (STO_F(STO_T_OP) | STO_F(STO_T_HOST) | STO_F(STO_T_USER))
#define F_HS (STO_F(STO_T_OP) | STO_F(STO_T_HOST) | STO_F(STO_T_STORE))
#define F_HSU (F_HS | STO_F(STO_T_USER))
#define F_Q (STO_F(STO_T_START) | STO_F(STO_T_END) | STO_F(STO_T_WITH) | STO_F(STO_T_BEFORE) | \
	     STO_F(STO_T_AFTER) | STO_F(STO_T_ID))
static const struct {
	uint32_t fields;	/* all of these */
	uint32_t optional;	/* and any of these, nothing else */
	sto_op_fn run;
} sto_ops[STO_OP_MAX] = {
	[STO_OP_ACCOUNT_CREATE] = {F_HU | STO_F(STO_T_PASSWORD), 0, op_create},
	[STO_OP_ACCOUNT_DELETE] = {F_HU, 0, op_delete},
	[STO_OP_ACCOUNT_PASSWD] = {F_HU | STO_F(STO_T_PASSWORD), 0, op_passwd},
	[STO_OP_ACCOUNT_EXISTS] = {F_HU, 0, op_exists},
	[STO_OP_ACCOUNT_LIST] = {STO_F(STO_T_OP) | STO_F(STO_T_HOST), 0, op_list},
	[STO_OP_SCRAM_PARAMS] = {F_HU | STO_F(STO_T_MECH), 0, op_scram_params},
	[STO_OP_SCRAM_VERIFY] = {F_HU | STO_F(STO_T_MECH) | STO_F(STO_T_AUTHMSG) |
				 STO_F(STO_T_PROOF), 0, op_scram_verify},
	[STO_OP_KV_GET] = {F_HSU, 0, sto_op_kv_get},
	[STO_OP_KV_SET] = {F_HSU, STO_F(STO_T_VALUE), sto_op_kv_set},
	[STO_OP_KV_USERS] = {F_HS, 0, sto_op_kv_users},
	[STO_OP_MAP_GET] = {F_HSU | STO_F(STO_T_KEY), 0, sto_op_map_get},
	[STO_OP_MAP_SET] = {F_HSU | STO_F(STO_T_KEY), STO_F(STO_T_VALUE), sto_op_map_set},
	[STO_OP_MAP_SET_KEYS] = {F_HSU | STO_F(STO_T_ENTRY), 0, sto_op_map_set_keys},
	[STO_OP_MAP_GET_ALL] = {F_HS | STO_F(STO_T_KEY), 0, sto_op_map_get_all},
	[STO_OP_MAP_DELETE_ALL] = {F_HS | STO_F(STO_T_KEY), 0, sto_op_map_delete_all},
	[STO_OP_MAP_DELETE_USER] = {F_HSU, 0, sto_op_map_delete_user},
	[STO_OP_ARCH_APPEND] = {F_HSU | STO_F(STO_T_VALUE) | STO_F(STO_T_WHEN) | STO_F(STO_T_WITH),
				STO_F(STO_T_ID), sto_op_arch_append},
	[STO_OP_ARCH_FIND] = {F_HSU, F_Q | STO_F(STO_T_LIMIT) | STO_F(STO_T_REVERSE) |
					     STO_F(STO_T_TOTAL), sto_op_arch_find},
	[STO_OP_ARCH_GET] = {F_HSU | STO_F(STO_T_ID), 0, sto_op_arch_get},
	[STO_OP_ARCH_DELETE] = {F_HSU, F_Q, sto_op_arch_delete},
	[STO_OP_ARCH_SUMMARY] = {F_HSU, STO_F(STO_T_START) | STO_F(STO_T_END) | STO_F(STO_T_WITH),
				 sto_op_arch_summary},
};

/* Splits the body into fields: STO_T_OP first, known request tags only, each once. */
static int sto_req_split(struct sto_req *q, const uint8_t *req, size_t len, char *why,
			 size_t whylen)
{
	struct rbuf r;
	struct tlv t;
	int rc;

	rbuf_init(&r, req, len);
	while ((rc = tlv_next(&r, &t)) == 1) {
		const char *bad = NULL;
		if (t.tag == 0 || t.tag > STO_T_REQ_MAX || !sto_field_max[t.tag])
			bad = "unknown field";
		else if ((q->have & STO_F(t.tag)) && !(STO_F(t.tag) & STO_F_REPEATS))
			bad = "duplicate field";
		else if (t.len > sto_field_max[t.tag])
			bad = "oversized field";
		else if ((q->have == 0) != (t.tag == STO_T_OP))
			bad = "the op must come first";
		if (bad) {
			snprintf(why, whylen, "%s (tag %u)", bad, (unsigned)t.tag);
			return -1;
		}
		if (!(q->have & STO_F(t.tag)))
			q->f[t.tag] = t;
		q->have |= STO_F(t.tag);
		q->count[t.tag]++;
	}
	if (rc < 0) {
		snprintf(why, whylen, "malformed TLV list");
		return -1;
	}
	if (!(q->have & STO_F(STO_T_OP)) || tlv_u32(&q->f[STO_T_OP], &q->op) < 0 ||
	    q->op == 0 || q->op >= STO_OP_MAX) {
		snprintf(why, whylen, "missing or unknown op");
		return -1;
	}
	q->body = req;
	q->body_len = len;
	if ((q->have & sto_ops[q->op].fields) != sto_ops[q->op].fields ||
	    (q->have & ~(sto_ops[q->op].fields | sto_ops[q->op].optional))) {
		snprintf(why, whylen, "wrong fields for op %u", (unsigned)q->op);
		return -1;
	}
	return 0;
}

/* Turns the present fields into typed values. */
static int sto_req_decode(struct sto_env *env, struct sto_req *q, char *why, size_t whylen)
{
	char host[STO_HOST_MAX + 1];
	int h, m;

	if (tlv_str(&q->f[STO_T_HOST], host, sizeof(host)) < 0 ||
	    (h = sto_env_host(env, host)) < 0) {
		snprintf(why, whylen, "host is not a configured virtual host");
		return -1;
	}
	q->host = (size_t)h;
	if ((q->have & STO_F(STO_T_USER)) && tlv_str(&q->f[STO_T_USER], q->user, sizeof(q->user)) < 0) {
		snprintf(why, whylen, "user holds a NUL byte");
		return -1;
	}
	if ((q->have & STO_F(STO_T_PASSWORD)) &&
	    tlv_str(&q->f[STO_T_PASSWORD], q->password, sizeof(q->password)) < 0) {
		snprintf(why, whylen, "password holds a NUL byte");
		return -1;
	}
	if (q->have & STO_F(STO_T_MECH)) {
		const struct tlv *t = &q->f[STO_T_MECH];
		if ((m = sto_mech_parse((const char *)t->val, t->len)) < 0) {
			snprintf(why, whylen, "unknown SCRAM mechanism");
			return -1;
		}
		q->mech = (enum sto_mech)m;
	}
	return sto_req_decode_shape(q, why, whylen);
}

static void sto_dispatch_ops(struct sto_env *env, const uint8_t *req, size_t len,
			     struct buf *reply, uint32_t permitted)
{
	struct sto_req *q = calloc(1, sizeof(*q));
	char why[256] = "";
	struct buf out;
	int rc;

	buf_init(&out);
	if (!q) {
		rc = STO_EUNAVAIL;
		snprintf(why, sizeof(why), "out of memory");
	} else if (sto_req_split(q, req, len, why, sizeof(why)) < 0 ||
		   sto_req_decode(env, q, why, sizeof(why)) < 0) {
		rc = STO_EINVAL;
	} else if (!(permitted & (1u << q->op))) {
		rc = STO_EINVAL;
		snprintf(why, sizeof(why), "op %u not permitted in this kind of request",
			 (unsigned)q->op);
	} else {
		rc = sto_ops[q->op].run(env, q, &out, why, sizeof(why));
	}
	if (rc == STO_EINVAL)
		env->bad_requests++;
	if (rc == STO_EIO)
		log_err("storage request failed", "op=%u reason=\"%s\"", q ? (unsigned)q->op : 0u,
			why);
	if (tlv_put_u32(reply, STO_T_STATUS, (uint32_t)rc) < 0 ||
	    (rc == STO_OK ? buf_put(reply, out.data, out.len)
			  : tlv_put_str(reply, STO_T_ERROR, why[0] ? why : "failed")) < 0)
		log_err("cannot build storage reply", "");
	buf_free(&out);
	if (q) {
		explicit_bzero(q, sizeof(*q));
		free(q);
	}
}

void sto_dispatch(struct sto_env *env, const uint8_t *req, size_t len, struct buf *reply)
{
	sto_dispatch_ops(env, req, len, reply, STO_OPS_ALL);
}

/* An XE_ERROR envelope with a sto error body; reqid lets the router fail the request now. */
static void sto_envelope_error(struct buf *reply, uint64_t sid, uint32_t reqid, const char *why)
{
	struct buf body;
	struct xe_msg m = {.kind = XE_ERROR, .sid = sid, .reqid = reqid};

	buf_init(&body);
	if (tlv_put_u32(&body, STO_T_STATUS, STO_EINVAL) == 0 &&
	    tlv_put_str(&body, STO_T_ERROR, why) == 0) {
		m.body = body.data;
		m.body_len = (uint32_t)body.len;
		if (xe_encode(reply, &m) < 0)
			log_err("cannot encode error envelope", "");
	}
	buf_free(&body);
}

void sto_handle_envelope(struct sto_env *env, const uint8_t *req, size_t len, struct buf *reply)
{
	struct xe_msg m, rep = {0};
	struct buf body;
	int rc = xe_decode(req, len, &m);

	if (rc != XE_OK || (m.kind != XE_STORE_REQ && m.kind != XE_AUTH_REQ)) {
		/* The request id sits at offset 16 of any header long enough to hold one. */
		struct rbuf r;
		const uint8_t *skip;
		uint64_t sid = 0;
		uint32_t reqid = 0;
		rbuf_init(&r, req, len);
		if (rbuf_get_bytes(&r, 8, &skip) < 0 || rbuf_get_u64(&r, &sid) < 0 ||
		    rbuf_get_u32(&r, &reqid) < 0)
			sid = reqid = 0;
		env->bad_envelopes++;
		log_warn("malformed storage envelope", "err=\"%s\" count=%llu",
			 rc != XE_OK ? xe_strerror(rc) : "unexpected kind",
			 (unsigned long long)env->bad_envelopes);
		sto_envelope_error(reply, sid, reqid,
				   rc != XE_OK ? xe_strerror(rc) : "unexpected envelope kind");
		return;
	}
	buf_init(&body);
	sto_dispatch_ops(env, m.body, m.body_len, &body,
			 m.kind == XE_AUTH_REQ ? STO_OPS_AUTH : STO_OPS_ALL);
	rep.kind = m.kind == XE_AUTH_REQ ? XE_AUTH_REP : XE_STORE_REP;
	rep.sid = m.sid;
	rep.reqid = m.reqid;
	rep.body = body.data;
	rep.body_len = (uint32_t)body.len;
	if (xe_encode(reply, &rep) < 0) {
		buf_reset(reply);
		sto_envelope_error(reply, m.sid, m.reqid, "reply too large for an envelope");
	}
	buf_free(&body);
}
