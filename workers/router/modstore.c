/* The modules' asynchronous storage: a struct mod_sto_req becomes a STORE_REQ envelope (ipc/sto.h
 * TLVs, the host added by the router) sent through storeq; the reply comes back to the module's
 * callback with the inbound stanza that caused it still unacknowledged. Never blocks. */
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "log.h"
#include "rtr.h"
#include "sto.h"
#include "tlv.h"
#include "xlimits.h"

struct rtr_sto_call {
	mod_sto_fn cb;
	void *arg;
	struct rtr_hold *hold;
};

static int put_opt_str(struct buf *b, uint16_t tag, const char *s)
{
	return s ? tlv_put_str(b, tag, s) : 0;
}

static int build(struct buf *body, const struct mod_host *h, const struct mod_sto_req *q)
{
	int rc = tlv_put_u32(body, STO_T_OP, q->op) | tlv_put_str(body, STO_T_HOST, h->name);
	rc |= put_opt_str(body, STO_T_STORE, q->store) | put_opt_str(body, STO_T_USER, q->user);
	rc |= put_opt_str(body, STO_T_KEY, q->key) | put_opt_str(body, STO_T_WITH, q->with);
	rc |= put_opt_str(body, STO_T_ID, q->id) | put_opt_str(body, STO_T_BEFORE, q->before);
	rc |= put_opt_str(body, STO_T_AFTER, q->after);
	if (q->has_value)
		rc |= tlv_put(body, STO_T_VALUE, q->value ? q->value : "", q->value_len);
	if (q->op == STO_OP_ARCH_APPEND)
		rc |= tlv_put_u64(body, STO_T_WHEN, q->when);
	if (q->has_limit)
		rc |= tlv_put_u32(body, STO_T_LIMIT, q->limit);
	if (q->reverse)
		rc |= tlv_put_u32(body, STO_T_REVERSE, 1);
	if (q->total)
		rc |= tlv_put_u32(body, STO_T_TOTAL, 1);
	if (q->password)
		rc |= tlv_put_str(body, STO_T_PASSWORD, q->password);
	return rc;
}

static void done(void *arg, int status, const uint8_t *reply, size_t len)
{
	struct rtr_sto_call *c = arg;
	struct mod_sto_reply r = {.status = -1};
	struct xe_msg m;
	struct rbuf rb;
	struct tlv t;
	uint32_t st;

	if (status == 0 && xe_decode(reply, len, &m) == XE_OK && m.kind == XE_STORE_REP) {
		rbuf_init(&rb, m.body, m.body_len);
		if (tlv_next(&rb, &t) == 1 && t.tag == STO_T_STATUS && tlv_u32(&t, &st) == 0) {
			r.status = (int)st;
			r.fields = m.body + rb.off;
			r.len = m.body_len - rb.off;
		}
	}
	if (r.status < 0)
		log_warn("storage request without an answer", "status=%d", status);
	rtr_hold_enter(c->hold);
	c->cb(c->arg, &r);
	env->current = NULL;
	env->current_link = NULL;
	rtr_hold_release(c->hold);
	free(c);
}

int rtr_mod_store(struct mod_host *h, const struct mod_sto_req *q, mod_sto_fn cb, void *arg)
{
	struct buf body, env_bytes;
	int rc = -1;
	if (!env->storage || !cb)
		return -1;
	struct rtr_sto_call *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	buf_init(&body);
	buf_init(&env_bytes);
	if (build(&body, h, q) == 0) {
		struct xe_msg m = {.version = XE_VERSION, .kind = XE_STORE_REQ, .body = body.data,
				   .body_len = (uint32_t)body.len};
		c->cb = cb;
		c->arg = arg;
		c->hold = rtr_hold_take();
		if (c->hold && xe_encode(&env_bytes, &m) == 0 &&
		    storeq_call(env->storage, env_bytes.data, env_bytes.len, STORE_TIMEOUT_MS, done, c) == 0)
			rc = 0;
	}
	if (rc < 0) {
		if (c->hold)
			rtr_hold_release(c->hold);
		free(c);
	}
	buf_wipe_free(&body);	/* may hold a password */
	buf_wipe_free(&env_bytes);
	return rc;
}

int rtr_mod_sto_next(const uint8_t *p, size_t len, size_t *off, unsigned *tag, const uint8_t **val, size_t *vlen)
{
	struct rbuf r;
	struct tlv t;
	if (*off > len)
		return -1;
	rbuf_init(&r, p + *off, len - *off);
	int rc = tlv_next(&r, &t);
	if (rc != 1)
		return rc;
	*off += r.off;
	*tag = t.tag;
	*val = t.val;
	*vlen = t.len;
	return 1;
}
