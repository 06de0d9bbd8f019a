/* The storage worker's state and entry points: the request dispatch (sto TLV bodies, see
 * ipc/sto.h), the envelope wrapper around it, and the account operations behind it. */
#ifndef XMPPD_STORAGE_H
#define XMPPD_STORAGE_H
#include <stddef.h>
#include <stdint.h>

#include "accounts_file.h"
#include "buf.h"
#include "scram.h"

#define STO_SECRET_LEN	32u
#define STO_SECRET_FILE	".scram-secret"

struct sto_backend;
/* A store ("*": every store) whose data lives in another backend than the default, for one
 * host (host >= 0) or for all (-1). */
struct sto_store_be {
	char store[65];
	int host;
	struct sto_backend *backend;
};

/* A backend as configured: "memory", "file", "postgresql" with a conninfo, "mongodb" with
 * a URI; cache "redis" with a URL in front of it when cache_url is set. */
struct sto_be_spec {
	const char *store;	/* NULL for the default; "*" every store of host */
	const char *host;	/* NULL: every host */
	const char *name;
	const char *arg;
	const char *cache_url;
};

/* The one mutable state of the storage process. */
struct sto_env {
	char **vhosts;		/* owned copies of the configured vhost names */
	size_t nvhosts;
	uint32_t scram_iter;	/* for new verifiers and for fake parameters */
	uint8_t secret[STO_SECRET_LEN];	/* keys the fake salts of unknown users */
	struct sto_file *file;
	struct sto_backend *backend;	/* keyval/map/archive by default */
	struct sto_backend **acct_be;	/* by host: accounts outside the file backend, or NULL */
	struct sto_store_be *stores;	/* per-store overrides */
	size_t nstores;
	uint64_t bad_requests;	/* malformed sto bodies (answered STO_EINVAL) */
	uint64_t bad_envelopes;	/* malformed envelopes (answered XE_ERROR) */
};

struct sto_settings {
	const char *datadir;	/* absolute; created when missing */
	const char *const *vhosts;
	size_t nvhosts;
	uint32_t scram_iter;	/* STO_SCRAM_ITER_MIN .. STO_SCRAM_ITER_MAX */
	const struct sto_be_spec *specs;	/* default first (store NULL), then overrides; */
	size_t nspecs;				/* none: everything on "file" */
};

/* Opens the file backend and loads (or creates, 0600) <datadir>/.scram-secret.
 * 0, or -1 with a reason in err. */
int sto_env_open(struct sto_env *env, const struct sto_settings *s, char *err, size_t errlen);
void sto_env_close(struct sto_env *env);
/* The backend holding store (an override, or the default); never NULL once open. */
struct sto_backend *sto_env_backend(struct sto_env *env, size_t host, const char *store);
/* Opens one backend from its spec; NULL with a reason in err. */
struct sto_backend *sto_backend_open(const struct sto_be_spec *spec, const char *datadir,
				     const char *const *hosts, size_t nhosts, char *err,
				     size_t errlen);
/* Index of a configured vhost, -1 if host is not one. */
int sto_env_host(const struct sto_env *env, const char *host);

/* Answers one sto request body (TLVs, STO_T_OP first) into reply (appended): STO_T_STATUS
 * first, then the op's fields on STO_OK or STO_T_ERROR otherwise. Never trusts req. */
void sto_dispatch(struct sto_env *env, const uint8_t *req, size_t len, struct buf *reply);
/* Answers one envelope (XE_STORE_REQ / XE_AUTH_REQ) with XE_STORE_REP / XE_AUTH_REP and the
 * same reqid and sid; anything malformed is counted and answered with an XE_ERROR envelope. */
void sto_handle_envelope(struct sto_env *env, const uint8_t *req, size_t len, struct buf *reply);

/* Where accounts live (acct_store.c): the file backend's account records, or the record
 * text as a keyval value in store STO_ACCOUNTS_STORE of another backend (never cached). */
#define STO_ACCOUNTS_STORE "accounts"
int sto_acct_get(struct sto_env *env, size_t host, const char *name, struct sto_account *out,
		 char *why, size_t whylen);
int sto_acct_put(struct sto_env *env, size_t host, const char *name, const struct sto_account *a,
		 int create_only, char *why, size_t whylen);
int sto_acct_delete(struct sto_env *env, size_t host, const char *name, char *why, size_t whylen);
int sto_acct_list(struct sto_env *env, size_t host, struct sto_names *out, char *why,
		  size_t whylen);

/* xmppd-storage --migrate FROM TO --host H...: copies every account and item (migrate.c);
 * the process exit status. */
#define MAX_MIGRATE_HOSTS 256
int sto_migrate_main(int argc, char **argv);

/* Account operations (accounts.c). user is the raw localpart (nodeprep'ed here), password
 * the raw password (SASLprep'ed here, never stored). Each returns an enum sto_status and
 * leaves a reason in why (never a secret). */
int sto_account_create(struct sto_env *env, size_t host, const char *user, const char *password,
		       char *why, size_t whylen);
/* Like create, with given salts per mechanism (known-answer tests, imports). */
int sto_account_create_salted(struct sto_env *env, size_t host, const char *user,
			      const char *password, const uint8_t *const salts[STO_MECH_COUNT],
			      const size_t salt_lens[STO_MECH_COUNT], char *why, size_t whylen);
int sto_account_passwd(struct sto_env *env, size_t host, const char *user, const char *password,
		       char *why, size_t whylen);
int sto_account_delete(struct sto_env *env, size_t host, const char *user, char *why,
		       size_t whylen);
int sto_account_exists(struct sto_env *env, size_t host, const char *user, int *exists,
		       char *why, size_t whylen);
int sto_account_list(struct sto_env *env, size_t host, struct sto_names *out, char *why,
		     size_t whylen);
/* Salt and iterations for user; for an unknown user a fake that is stable per
 * (secret, host, user, mech), with the configured iterations, and STO_OK. */
int sto_scram_params(struct sto_env *env, size_t host, const char *user, enum sto_mech m,
		     uint8_t *salt, size_t *salt_len, uint32_t *iter, char *why, size_t whylen);
/* STO_OK with the ServerSignature in sig (sto_mech_hash_len bytes), or STO_EAUTH. */
int sto_scram_check(struct sto_env *env, size_t host, const char *user, enum sto_mech m,
		    const uint8_t *authmsg, size_t alen, const uint8_t *proof, size_t plen,
		    uint8_t *sig, char *why, size_t whylen);

#endif
