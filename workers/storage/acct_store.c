/* Where account records live: the file backend's own layout (accounts_file.c), or, with any
 * other backend, the same record text as the keyval value (host, "accounts", localpart).
 * Account records never pass through the Redis cache. */
#include "storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "sto.h"

static void sto_acct_where(struct sto_env *env, size_t host, const char *name,
			   struct sto_where *w)
{
	memset(w, 0, sizeof(*w));
	w->host = host;
	w->hostname = env->vhosts[host];
	w->store = STO_ACCOUNTS_STORE;
	w->user = name;
}

/* Backends fill STO_WHY_LEN-byte reasons; callers may give less. */
static void sto_acct_why(char *why, size_t whylen, const char *reason)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", reason);
}

int sto_acct_get(struct sto_env *env, size_t host, const char *name, struct sto_account *out,
		 char *why, size_t whylen)
{
	char reason[STO_WHY_LEN], *esc;
	struct sto_where w;
	struct buf val;
	int rc;

	if (!env->acct_be[host])
		return sto_file_get(env->file, host, name, out, why, whylen);
	sto_acct_where(env, host, name, &w);
	buf_init(&val);
	rc = env->acct_be[host]->ops->kv_get(env->acct_be[host], &w, &val, reason);
	if (rc == STO_OK && (val.len > STO_RECORD_MAX || buf_put_u8(&val, 0) < 0 ||
			     sto_record_decode((char *)val.data, &esc, out, reason,
					       sizeof(reason)) < 0))
		rc = STO_EIO;
	if (rc != STO_OK)
		sto_acct_why(why, whylen, reason);
	buf_wipe_free(&val);
	return rc;
}

int sto_acct_put(struct sto_env *env, size_t host, const char *name, const struct sto_account *a,
		 int create_only, char *why, size_t whylen)
{
	char reason[STO_WHY_LEN] = "";
	struct sto_account old;
	struct sto_where w;
	struct buf rec;
	int rc;

	if (!env->acct_be[host])
		return sto_file_put(env->file, host, name, a, create_only, why, whylen);
	/* create is an atomic add; passwd needs the account (a delete racing with it may lose) */
	if (!create_only) {
		rc = sto_acct_get(env, host, name, &old, why, whylen);
		explicit_bzero(&old, sizeof(old));
		if (rc != STO_OK)
			return rc;
	}
	sto_acct_where(env, host, name, &w);
	buf_init(&rec);
	if (sto_record_encode(&rec, name, a) < 0) {
		snprintf(reason, sizeof(reason), "cannot encode the account record");
		rc = STO_EIO;
	} else {
		struct sto_backend *b = env->acct_be[host];
		rc = create_only ? b->ops->kv_add(b, &w, rec.data, rec.len, reason)
				 : b->ops->kv_set(b, &w, rec.data, rec.len, 0, reason);
	}
	if (rc != STO_OK)
		sto_acct_why(why, whylen, reason);
	buf_wipe_free(&rec);
	return rc;
}

int sto_acct_delete(struct sto_env *env, size_t host, const char *name, char *why, size_t whylen)
{
	char reason[STO_WHY_LEN];
	struct sto_account old;
	struct sto_where w;
	int rc;

	if (!env->acct_be[host])
		return sto_file_delete(env->file, host, name, why, whylen);
	rc = sto_acct_get(env, host, name, &old, why, whylen);
	explicit_bzero(&old, sizeof(old));
	if (rc != STO_OK)
		return rc;
	sto_acct_where(env, host, name, &w);
	rc = env->acct_be[host]->ops->kv_set(env->acct_be[host], &w, NULL, 0, 1, reason);
	if (rc != STO_OK)
		sto_acct_why(why, whylen, reason);
	return rc;
}

int sto_acct_list(struct sto_env *env, size_t host, struct sto_names *out, char *why,
		  size_t whylen)
{
	char reason[STO_WHY_LEN];
	struct sto_where w;
	int rc;

	if (!env->acct_be[host])
		return sto_file_list(env->file, host, out, why, whylen);
	sto_acct_where(env, host, "", &w);
	rc = env->acct_be[host]->ops->kv_users(env->acct_be[host], &w, out, reason);
	if (rc != STO_OK)
		sto_acct_why(why, whylen, reason);
	return rc;
}
