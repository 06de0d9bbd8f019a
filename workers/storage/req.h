/* One decoded storage request, shared by the dispatch (dispatch.c) and the operations on
 * the three shapes (shapes.c). Borrowed fields point into the request bytes. */
#ifndef XMPPD_STO_REQ_H
#define XMPPD_STO_REQ_H
#include "backend.h"
#include "storage.h"
#include "sto.h"
#include "tlv.h"

#define STO_T_REQ_MAX STO_T_TOTAL
#define STO_F(tag) (1u << (tag))
#define STO_REPLY_MAX (XE_MAX_BODY - 256u)	/* leaves room for the envelope around it */
#define STO_IDS_MAX 256u			/* ids in one query */

struct sto_req {
	uint32_t op;
	uint32_t have;		/* STO_F() of the fields present */
	struct tlv f[STO_T_REQ_MAX + 1];	/* the first of each */
	uint32_t count[STO_T_REQ_MAX + 1];	/* occurrences (ENTRY and ID repeat) */
	const uint8_t *body;	/* the whole request, to walk repeated fields */
	size_t body_len;
	size_t host;
	char user[STO_USER_IN_MAX + 1];
	char password[STO_PASSWORD_MAX + 1];	/* wiped before the dispatch returns */
	enum sto_mech mech;
	char store[STO_STORE_MAX + 1];
	char key[STO_KEY_MAX + 1];
	char with[STO_KEY_MAX + 1];
	char id[STO_ID_MAX + 1], before[STO_ID_MAX + 1], after[STO_ID_MAX + 1];
	uint64_t when;
	struct sto_query q;
	const char *ids[STO_IDS_MAX];
	char idbuf[STO_IDS_MAX][STO_ID_MAX + 1];
};

typedef int (*sto_op_fn)(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
			 size_t whylen);

/* The operations on the three shapes (shapes.c); q is decoded and validated. */
int sto_op_kv_get(struct sto_env *env, struct sto_req *q, struct buf *out, char *why, size_t wl);
int sto_op_kv_set(struct sto_env *env, struct sto_req *q, struct buf *out, char *why, size_t wl);
int sto_op_kv_users(struct sto_env *env, struct sto_req *q, struct buf *out, char *why, size_t wl);
int sto_op_map_get(struct sto_env *env, struct sto_req *q, struct buf *out, char *why, size_t wl);
int sto_op_map_set(struct sto_env *env, struct sto_req *q, struct buf *out, char *why, size_t wl);
int sto_op_map_set_keys(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
			size_t wl);
int sto_op_map_get_all(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		       size_t wl);
int sto_op_map_delete_all(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
			  size_t wl);
int sto_op_map_delete_user(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
			   size_t wl);
int sto_op_arch_append(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		       size_t wl);
int sto_op_arch_find(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		     size_t wl);
int sto_op_arch_get(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		    size_t wl);
int sto_op_arch_delete(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
		       size_t wl);
int sto_op_arch_summary(struct sto_env *env, struct sto_req *q, struct buf *out, char *why,
			size_t wl);
/* Decodes the shape fields of q (store, key, with, ids, query); -1 with a reason. */
int sto_req_decode_shape(struct sto_req *q, char *why, size_t whylen);

#endif
