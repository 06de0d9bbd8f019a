/* Account operations over the backend: names are nodeprep'ed, passwords SASLprep'ed, turned
 * into SCRAM verifiers and wiped. Unknown users get stable fake SCRAM parameters. */
#include "storage.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "sto.h"

static void sto_reason(char *why, size_t whylen, const char *reason)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", reason);
}

static int sto_prep_user(const char *user, char *out, char *why, size_t whylen)
{
	if (sto_localpart_prep(user, strlen(user), out, STO_LOCALPART_MAX + 1) < 0) {
		sto_reason(why, whylen, "invalid localpart");
		return -1;
	}
	return 0;
}

/* Derives both verifiers from the raw password; the prepared copy is wiped here. */
static int sto_make_account(struct sto_env *env, const char *password,
			    const uint8_t *const salts[STO_MECH_COUNT],
			    const size_t salt_lens[STO_MECH_COUNT], struct sto_account *a, char *why,
			    size_t whylen)
{
	char *prepped = NULL;
	int rc = STO_OK;

	if (sto_saslprep(password, &prepped) < 0) {
		sto_reason(why, whylen, "password rejected by SASLprep");
		return STO_EINVAL;
	}
	for (int m = 0; m < STO_MECH_COUNT && rc == STO_OK; m++)
		if (sto_scram_derive((enum sto_mech)m, prepped, strlen(prepped), salts[m],
				     salt_lens[m], env->scram_iter, &a->v[m]) < 0) {
			sto_reason(why, whylen, "cannot derive SCRAM verifier");
			rc = errno == EINVAL ? STO_EINVAL : STO_EIO;
		}
	sto_secret_free(prepped);
	return rc;
}

static int sto_store_new(struct sto_env *env, size_t host, const char *user, const char *password,
			 const uint8_t *const salts[STO_MECH_COUNT],
			 const size_t salt_lens[STO_MECH_COUNT], int create_only, char *why,
			 size_t whylen)
{
	char name[STO_LOCALPART_MAX + 1];
	struct sto_account a;
	int rc;

	if (host >= env->nvhosts) {
		sto_reason(why, whylen, "unknown host");
		return STO_EINVAL;
	}
	if (sto_prep_user(user, name, why, whylen) < 0)
		return STO_EINVAL;
	rc = sto_make_account(env, password, salts, salt_lens, &a, why, whylen);
	if (rc == STO_OK)
		rc = sto_acct_put(env, host, name, &a, create_only, why, whylen);
	if (rc == STO_EEXISTS)
		sto_reason(why, whylen, "account exists");
	else if (rc == STO_ENOTFOUND)
		sto_reason(why, whylen, "no such account");
	explicit_bzero(&a, sizeof(a));
	return rc;
}

static int sto_store_random(struct sto_env *env, size_t host, const char *user,
			    const char *password, int create_only, char *why, size_t whylen)
{
	uint8_t salt[STO_MECH_COUNT][STO_SALT_LEN];
	const uint8_t *salts[STO_MECH_COUNT];
	size_t lens[STO_MECH_COUNT];

	for (int m = 0; m < STO_MECH_COUNT; m++) {
		if (RAND_bytes(salt[m], STO_SALT_LEN) != 1) {
			sto_reason(why, whylen, "no randomness for a salt");
			return STO_EIO;
		}
		salts[m] = salt[m];
		lens[m] = STO_SALT_LEN;
	}
	return sto_store_new(env, host, user, password, salts, lens, create_only, why, whylen);
}

int sto_account_create(struct sto_env *env, size_t host, const char *user, const char *password,
		       char *why, size_t whylen)
{
	return sto_store_random(env, host, user, password, 1, why, whylen);
}

int sto_account_create_salted(struct sto_env *env, size_t host, const char *user,
			      const char *password, const uint8_t *const salts[STO_MECH_COUNT],
			      const size_t salt_lens[STO_MECH_COUNT], char *why, size_t whylen)
{
	return sto_store_new(env, host, user, password, salts, salt_lens, 1, why, whylen);
}

int sto_account_passwd(struct sto_env *env, size_t host, const char *user, const char *password,
		       char *why, size_t whylen)
{
	return sto_store_random(env, host, user, password, 0, why, whylen);
}

int sto_account_delete(struct sto_env *env, size_t host, const char *user, char *why,
		       size_t whylen)
{
	char name[STO_LOCALPART_MAX + 1];
	int rc;

	if (host >= env->nvhosts || sto_prep_user(user, name, why, whylen) < 0)
		return STO_EINVAL;
	rc = sto_acct_delete(env, host, name, why, whylen);
	if (rc == STO_ENOTFOUND)
		sto_reason(why, whylen, "no such account");
	return rc;
}

/* Reads the account of a raw localpart: STO_OK, STO_ENOTFOUND, STO_EINVAL or STO_EIO. */
static int sto_lookup(struct sto_env *env, size_t host, const char *user, char *name,
		      struct sto_account *a, char *why, size_t whylen)
{
	int rc;

	if (host >= env->nvhosts) {
		sto_reason(why, whylen, "unknown host");
		return STO_EINVAL;
	}
	if (sto_prep_user(user, name, why, whylen) < 0)
		return STO_EINVAL;
	rc = sto_acct_get(env, host, name, a, why, whylen);
	if (rc == STO_ENOTFOUND)
		sto_reason(why, whylen, "no such account");
	return rc;
}

int sto_account_exists(struct sto_env *env, size_t host, const char *user, int *exists,
		       char *why, size_t whylen)
{
	char name[STO_LOCALPART_MAX + 1];
	struct sto_account a;
	int rc = sto_lookup(env, host, user, name, &a, why, whylen);

	explicit_bzero(&a, sizeof(a));
	*exists = rc == STO_OK;
	return rc == STO_ENOTFOUND ? STO_OK : rc;
}

int sto_account_list(struct sto_env *env, size_t host, struct sto_names *out, char *why,
		     size_t whylen)
{
	memset(out, 0, sizeof(*out));
	if (host >= env->nvhosts) {
		sto_reason(why, whylen, "unknown host");
		return STO_EINVAL;
	}
	return sto_acct_list(env, host, out, why, whylen);
}

/* HMAC(secret, host "\0" user "\0" mech): a salt per mechanism, as real accounts have. */
static int sto_fake_salt(const struct sto_env *env, size_t host, const char *name,
			 enum sto_mech m, uint8_t *salt)
{
	struct buf msg;
	int rc;

	buf_init(&msg);
	rc = buf_put_str(&msg, env->vhosts[host]) | buf_put_u8(&msg, 0) | buf_put_str(&msg, name) |
	     buf_put_u8(&msg, 0) | buf_put_str(&msg, sto_mech_name(m));
	if (rc == 0)
		rc = sto_hmac256(env->secret, sizeof(env->secret), msg.data, msg.len, salt,
				 STO_SALT_LEN);
	buf_free(&msg);
	return rc;
}

int sto_scram_params(struct sto_env *env, size_t host, const char *user, enum sto_mech m,
		     uint8_t *salt, size_t *salt_len, uint32_t *iter, char *why, size_t whylen)
{
	char name[STO_LOCALPART_MAX + 1];
	struct sto_account a;
	int rc = sto_lookup(env, host, user, name, &a, why, whylen);

	if (rc == STO_OK) {
		memcpy(salt, a.v[m].salt, a.v[m].salt_len);
		*salt_len = a.v[m].salt_len;
		*iter = a.v[m].iter;
	} else if (rc == STO_ENOTFOUND) {
		if (sto_fake_salt(env, host, name, m, salt) < 0) {
			sto_reason(why, whylen, "cannot compute SCRAM parameters");
			rc = STO_EIO;
		} else {
			*salt_len = STO_SALT_LEN;
			*iter = env->scram_iter;
			rc = STO_OK;
		}
	}
	explicit_bzero(&a, sizeof(a));
	return rc;
}

int sto_scram_check(struct sto_env *env, size_t host, const char *user, enum sto_mech m,
		    const uint8_t *authmsg, size_t alen, const uint8_t *proof, size_t plen,
		    uint8_t *sig, char *why, size_t whylen)
{
	char name[STO_LOCALPART_MAX + 1];
	struct sto_account a;
	int rc = sto_lookup(env, host, user, name, &a, why, whylen);

	if (rc == STO_ENOTFOUND) {
		/* Same work as for a real user, against a verifier nobody can match. */
		memset(&a, 0, sizeof(a));
		sto_scram_verify(m, &a.v[m], authmsg, alen, proof, plen, sig);
		rc = STO_EAUTH;
	} else if (rc == STO_OK && sto_scram_verify(m, &a.v[m], authmsg, alen, proof, plen, sig) < 0) {
		rc = STO_EAUTH;
	}
	if (rc == STO_EAUTH)
		sto_reason(why, whylen, "authentication failed");
	explicit_bzero(&a, sizeof(a));
	return rc;
}
