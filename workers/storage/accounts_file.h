/* The file backend for accounts: <datadir>/<host>/accounts/<escaped-localpart>, one small
 * text record per user, written atomically (temp file, fsync, rename, fsync directory). */
#ifndef XMPPD_STO_ACCOUNTS_FILE_H
#define XMPPD_STO_ACCOUNTS_FILE_H
#include <stddef.h>

#include "scram.h"

#define STO_LOCALPART_MAX	1023u	/* RFC 7622 §3.3.1, bytes after nodeprep */
#define STO_USER_IN_MAX		3071u	/* bytes accepted before nodeprep */
#define STO_HOST_MAX		1023u
#define STO_RECORD_MAX		4096u	/* one account record on disk */
#define STO_FNAME_MAX		200u	/* escaped names longer than this are stored hashed */

struct sto_account {
	struct sto_verifier v[STO_MECH_COUNT];
};

/* Localparts (names.c). */
/* nodeprep of in into out (cap >= STO_LOCALPART_MAX + 1). -1 (EINVAL) when empty, too long
 * or rejected by nodeprep. */
int sto_localpart_prep(const char *in, size_t inlen, char *out, size_t cap);
/* The file name for a prepared localpart: bytes outside [a-z0-9._-] and a leading '.' as
 * %XX; when that is longer than STO_FNAME_MAX, "~" and the hex SHA-256 of the localpart. */
int sto_localpart_fname(const char *user, char *out, size_t cap);
/* The escaping alone (no hashing); -1 when it does not fit in cap. */
int sto_localpart_escape(const char *user, char *out, size_t cap);
/* Inverse of the escaping (not of the hash): -1 when name is not a canonical escape. */
int sto_localpart_unescape(const char *name, char *out, size_t cap);

/* Valid as a directory name: a configured vhost never starts with '.', holds no '/'. */
int sto_host_valid(const char *host);

/* Writes data to a temp file in dirfd, fsyncs it, renames it to name (noreplace: fails
 * with EEXIST if name exists) and fsyncs the directory. 0 or -1 with errno. */
int sto_write_atomic(int dirfd, const char *name, const void *data, size_t len, int noreplace);

/* A directory under parent, created 0700 when missing (parent fsynced after); an fd or -1. */
int sto_open_subdir(int parent, const char *name);
/* Removes temp files of sto_write_atomic older than a minute (their writer died). */
int sto_remove_stale(int dirfd);

struct buf;
/* The text record of an account (the file format, also the value kept by other backends). */
int sto_record_encode(struct buf *b, const char *user, const struct sto_account *a);
/* Parses a NUL-terminated record in place; user_esc points at the escaped owner in text. */
int sto_record_decode(char *text, char **user_esc, struct sto_account *a, char *why,
		      size_t whylen);

struct sto_file;
struct sto_names {
	char **v;
	size_t n, cap;
};
void sto_names_free(struct sto_names *n);

/* Opens (creating) <datadir>/<host>/accounts for each host and removes stale temp files.
 * NULL with a reason in err on failure. hosts are borrowed only during the call. */
struct sto_file *sto_file_open(const char *datadir, const char *const *hosts, size_t nhosts,
			       char *err, size_t errlen);
void sto_file_close(struct sto_file *f);

/* Each returns an enum sto_status; why gets a reason for STO_EIO (never a secret). */
int sto_file_get(struct sto_file *f, size_t host, const char *user, struct sto_account *out,
		 char *why, size_t whylen);
/* create_only: STO_EEXISTS when the user exists; otherwise replaces (must exist). */
int sto_file_put(struct sto_file *f, size_t host, const char *user, const struct sto_account *a,
		 int create_only, char *why, size_t whylen);
int sto_file_delete(struct sto_file *f, size_t host, const char *user, char *why, size_t whylen);
/* The localparts on host, sorted (strcmp). */
int sto_file_list(struct sto_file *f, size_t host, struct sto_names *out, char *why,
		  size_t whylen);

#endif
