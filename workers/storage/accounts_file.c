/* File backend for accounts. Every write is temp file + fsync + rename + directory fsync, so
 * a crash leaves the old record or the new one, never half of one. Records are untrusted. */
#include "accounts_file.h"
#include "backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "buf.h"
#include "sto.h"

#define STO_RECORD_MAGIC "xmppd-account 1"
#define STO_TMP_PREFIX ".tmp."
#define STO_TMP_STALE_S 60	/* a temp file lives for milliseconds unless its writer died */

struct sto_file {
	int datafd;
	size_t nhosts;
	int *dirfd;	/* <datadir>/<host>/accounts, by host index */
};

static void sto_why(char *why, size_t whylen, const char *reason)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", reason);
}

static int sto_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int sto_write_atomic(int dirfd, const char *name, const void *data, size_t len, int noreplace)
{
	uint8_t rnd[8];
	char tmp[sizeof(STO_TMP_PREFIX) + 16];
	int fd, saved;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		errno = EIO;
		return -1;
	}
	memcpy(tmp, STO_TMP_PREFIX, sizeof(STO_TMP_PREFIX) - 1);
	for (size_t i = 0; i < sizeof(rnd); i++) {
		tmp[sizeof(STO_TMP_PREFIX) - 1 + 2 * i] = "0123456789abcdef"[rnd[i] >> 4];
		tmp[sizeof(STO_TMP_PREFIX) + 2 * i] = "0123456789abcdef"[rnd[i] & 15];
	}
	tmp[sizeof(tmp) - 1] = 0;
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (sto_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) < 0) {
		saved = errno;
		goto fail;
	}
	if (renameat2(dirfd, tmp, dirfd, name, noreplace ? RENAME_NOREPLACE : 0) < 0) {
		saved = errno;
		goto fail;
	}
	return fsync(dirfd);
fail:
	unlinkat(dirfd, tmp, 0);
	errno = saved;
	return -1;
}

/* A directory under parent, created 0700 when missing; the parent is fsynced after. */
int sto_open_subdir(int parent, const char *name)
{
	if (mkdirat(parent, name, 0700) == 0) {
		if (fsync(parent) < 0)
			return -1;
	} else if (errno != EEXIST) {
		return -1;
	}
	return openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Temp files are only ever left by a crash between create and rename. Another storage
 * worker may be writing one right now, so only old ones are stale. */
int sto_remove_stale(int dirfd)
{
	time_t now = time(NULL);
	struct stat st;
	int fd = dup(dirfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, STO_TMP_PREFIX, sizeof(STO_TMP_PREFIX) - 1) == 0 &&
		    fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime + STO_TMP_STALE_S < now)
			unlinkat(dirfd, e->d_name, 0);
	closedir(d);
	return 0;
}

struct sto_file *sto_file_open(const char *datadir, const char *const *hosts, size_t nhosts,
			       char *err, size_t errlen)
{
	struct sto_file *f = calloc(1, sizeof(*f));
	if (!f || !(f->dirfd = calloc(nhosts ? nhosts : 1, sizeof(int)))) {
		free(f);
		sto_why(err, errlen, "out of memory");
		return NULL;
	}
	f->datafd = -1;
	for (size_t i = 0; i < nhosts; i++)
		f->dirfd[i] = -1;
	f->nhosts = nhosts;
	if (mkdir(datadir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create data directory %s: %s", datadir, strerror(errno));
		goto fail;
	}
	f->datafd = open(datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->datafd < 0) {
		snprintf(err, errlen, "cannot open data directory %s: %s", datadir, strerror(errno));
		goto fail;
	}
	for (size_t i = 0; i < nhosts; i++) {
		if (!sto_host_valid(hosts[i])) {
			snprintf(err, errlen, "invalid virtual host name for storage");
			goto fail;
		}
		int hfd = sto_open_subdir(f->datafd, hosts[i]);
		f->dirfd[i] = hfd < 0 ? -1 : sto_open_subdir(hfd, "accounts");
		int saved = errno;
		if (hfd >= 0)
			close(hfd);
		if (f->dirfd[i] < 0 || sto_remove_stale(f->dirfd[i]) < 0) {
			snprintf(err, errlen, "cannot open %s/%s/accounts: %s", datadir, hosts[i],
				 strerror(f->dirfd[i] < 0 ? saved : errno));
			goto fail;
		}
	}
	return f;
fail:
	sto_file_close(f);
	return NULL;
}

void sto_file_close(struct sto_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nhosts; i++)
		if (f->dirfd[i] >= 0)
			close(f->dirfd[i]);
	if (f->datafd >= 0)
		close(f->datafd);
	free(f->dirfd);
	free(f);
}

/* Serialization ---------------------------------------------------------------------- */

static int sto_put_b64(struct buf *b, const uint8_t *p, size_t n)
{
	char enc[(STO_SALT_MAX + 2) / 3 * 4 + 1];
	if (sto_b64_encode(p, n, enc, sizeof(enc)) < 0)
		return -1;
	return buf_put_str(b, enc);
}

int sto_record_encode(struct buf *b, const char *user, const struct sto_account *a)
{
	char esc[3 * STO_LOCALPART_MAX + 1];

	if (sto_localpart_escape(user, esc, sizeof(esc)) < 0 ||
	    buf_printf(b, "%s\nuser %s\n", STO_RECORD_MAGIC, esc) < 0)
		return -1;
	for (int m = 0; m < STO_MECH_COUNT; m++) {
		const struct sto_verifier *v = &a->v[m];
		size_t hl = sto_mech_hash_len((enum sto_mech)m);
		if (buf_printf(b, "%s ", sto_mech_name((enum sto_mech)m)) < 0 ||
		    sto_put_b64(b, v->salt, v->salt_len) < 0 ||
		    buf_printf(b, " %u ", (unsigned)v->iter) < 0 ||
		    sto_put_b64(b, v->stored_key, hl) < 0 || buf_put_u8(b, ' ') < 0 ||
		    sto_put_b64(b, v->server_key, hl) < 0 || buf_put_u8(b, '\n') < 0)
			return -1;
	}
	return 0;
}

/* Cuts the next '\n'-terminated line out of *p; NULL when there is none. */
static char *sto_next_line(char **p)
{
	char *nl = strchr(*p, '\n'), *line = *p;
	if (!nl)
		return NULL;
	*nl = 0;
	*p = nl + 1;
	return line;
}

/* Cuts the next ' '-separated field; the last one runs to the end of the line. */
static char *sto_next_field(char **p)
{
	char *line = *p, *sp;
	if (!line)
		return NULL;
	sp = strchr(line, ' ');
	if (sp) {
		*sp = 0;
		*p = sp + 1;
	} else {
		*p = NULL;
	}
	return line;
}

static int sto_parse_b64(const char *s, uint8_t *out, size_t cap, size_t want, size_t *got)
{
	size_t n = 0;
	if (!s || sto_b64_decode(s, strlen(s), out, cap, &n) < 0 || n == 0 ||
	    (want && n != want))
		return -1;
	if (got)
		*got = n;
	return 0;
}

static int sto_parse_mech_line(char *line, enum sto_mech m, struct sto_verifier *v)
{
	char *p = line, *name = sto_next_field(&p), *salt = sto_next_field(&p),
	     *iter = sto_next_field(&p), *stored = sto_next_field(&p), *server = sto_next_field(&p);
	size_t hl = sto_mech_hash_len(m);
	char *end;

	if (!server || p || strcmp(name, sto_mech_name(m)) != 0)
		return -1;
	if (iter[0] < '1' || iter[0] > '9')
		return -1;
	errno = 0;
	unsigned long it = strtoul(iter, &end, 10);
	if (errno || *end || it > STO_SCRAM_ITER_MAX)
		return -1;
	v->iter = (uint32_t)it;
	if (sto_parse_b64(salt, v->salt, sizeof(v->salt), 0, &v->salt_len) < 0 ||
	    sto_parse_b64(stored, v->stored_key, sizeof(v->stored_key), hl, NULL) < 0 ||
	    sto_parse_b64(server, v->server_key, sizeof(v->server_key), hl, NULL) < 0)
		return -1;
	return 0;
}

/* Parses a NUL-terminated record in place; user_esc receives the escaped owner. */
int sto_record_decode(char *text, char **user_esc, struct sto_account *a, char *why,
			     size_t whylen)
{
	char *p = text, *line = sto_next_line(&p);

	memset(a, 0, sizeof(*a));
	if (!line || strcmp(line, STO_RECORD_MAGIC) != 0) {
		sto_why(why, whylen, "account record has an unknown version line");
		return -1;
	}
	line = sto_next_line(&p);
	if (!line || strncmp(line, "user ", 5) != 0 || line[5] == 0) {
		sto_why(why, whylen, "account record lacks its user line");
		return -1;
	}
	*user_esc = line + 5;
	for (int m = 0; m < STO_MECH_COUNT; m++) {
		line = sto_next_line(&p);
		if (!line || sto_parse_mech_line(line, (enum sto_mech)m, &a->v[m]) < 0) {
			sto_why(why, whylen, "account record has a malformed SCRAM line");
			return -1;
		}
	}
	if (*p) {
		sto_why(why, whylen, "account record has trailing bytes");
		return -1;
	}
	return 0;
}

/* Reads a whole record file (bounded) into text (cap STO_RECORD_MAX + 1), NUL-terminated. */
static int sto_record_read(int dirfd, const char *fname, char *text, char *why, size_t whylen)
{
	struct stat st;
	size_t got = 0;
	int fd = openat(dirfd, fname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0 && errno == ENOENT)
		return STO_ENOTFOUND;
	if (fd < 0) {
		sto_why(why, whylen, "account record cannot be opened");
		return STO_EIO;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)STO_RECORD_MAX) {
		close(fd);
		sto_why(why, whylen, "account record is not a regular file of sane size");
		return STO_EIO;
	}
	for (;;) {
		ssize_t r = read(fd, text + got, STO_RECORD_MAX + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			sto_why(why, whylen, "account record read failed");
			return STO_EIO;
		}
		if (r == 0 || got + (size_t)r > STO_RECORD_MAX)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got == 0 || got > STO_RECORD_MAX || memchr(text, 0, got)) {
		sto_why(why, whylen, "account record is empty, too long or binary");
		return STO_EIO;
	}
	text[got] = 0;
	return STO_OK;
}

/* Operations -------------------------------------------------------------------------- */

static int sto_dir(struct sto_file *f, size_t host, const char *user, char *fname, size_t cap)
{
	if (host >= f->nhosts || sto_localpart_fname(user, fname, cap) < 0)
		return -1;
	return f->dirfd[host];
}

int sto_file_get(struct sto_file *f, size_t host, const char *user, struct sto_account *out,
		 char *why, size_t whylen)
{
	char fname[STO_FNAME_MAX + 1], text[STO_RECORD_MAX + 1], esc[3 * STO_LOCALPART_MAX + 1];
	char *owner;
	int dfd = sto_dir(f, host, user, fname, sizeof(fname)), rc;

	if (dfd < 0)
		return STO_EINVAL;
	rc = sto_record_read(dfd, fname, text, why, whylen);
	if (rc != STO_OK)
		return rc;
	if (sto_record_decode(text, &owner, out, why, whylen) < 0)
		return STO_EIO;
	if (sto_localpart_escape(user, esc, sizeof(esc)) < 0 || strcmp(esc, owner) != 0) {
		sto_why(why, whylen, "account record belongs to another user");
		return STO_EIO;
	}
	return STO_OK;
}

/* Writers of one host (this and sibling storage workers) take the directory lock, so a
 * password change can never resurrect an account deleted between its check and its rename. */
static int sto_lock(int dfd, char *why, size_t whylen)
{
	int rc;
	do
		rc = flock(dfd, LOCK_EX);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		snprintf(why, whylen, "cannot lock accounts directory: %s", strerror(errno));
	return rc;
}

static int sto_put_locked(int dfd, const char *fname, const char *user,
			  const struct sto_account *a, int create_only, char *why, size_t whylen)
{
	struct stat st;
	struct buf rec;
	int rc = STO_OK;

	if (!create_only && fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? STO_ENOTFOUND : STO_EIO;
	buf_init(&rec);
	if (sto_record_encode(&rec, user, a) < 0) {
		sto_why(why, whylen, "cannot encode account record");
		rc = STO_EIO;
	} else if (sto_write_atomic(dfd, fname, rec.data, rec.len, create_only) < 0) {
		if (create_only && errno == EEXIST) {
			rc = STO_EEXISTS;
		} else {
			snprintf(why, whylen, "cannot write account record: %s", strerror(errno));
			rc = STO_EIO;
		}
	}
	buf_wipe_free(&rec);
	return rc;
}

int sto_file_put(struct sto_file *f, size_t host, const char *user, const struct sto_account *a,
		 int create_only, char *why, size_t whylen)
{
	char fname[STO_FNAME_MAX + 1];
	int dfd = sto_dir(f, host, user, fname, sizeof(fname)), rc;

	if (dfd < 0)
		return STO_EINVAL;
	if (sto_lock(dfd, why, whylen) < 0)
		return STO_EIO;
	rc = sto_put_locked(dfd, fname, user, a, create_only, why, whylen);
	flock(dfd, LOCK_UN);
	return rc;
}

static int sto_delete_locked(int dfd, const char *fname, char *why, size_t whylen)
{
	if (unlinkat(dfd, fname, 0) < 0) {
		if (errno == ENOENT)
			return STO_ENOTFOUND;
		snprintf(why, whylen, "cannot remove account record: %s", strerror(errno));
		return STO_EIO;
	}
	if (fsync(dfd) < 0) {
		snprintf(why, whylen, "cannot sync accounts directory: %s", strerror(errno));
		return STO_EIO;
	}
	return STO_OK;
}

int sto_file_delete(struct sto_file *f, size_t host, const char *user, char *why, size_t whylen)
{
	char fname[STO_FNAME_MAX + 1];
	int dfd = sto_dir(f, host, user, fname, sizeof(fname)), rc;

	if (dfd < 0)
		return STO_EINVAL;
	if (sto_lock(dfd, why, whylen) < 0)
		return STO_EIO;
	rc = sto_delete_locked(dfd, fname, why, whylen);
	flock(dfd, LOCK_UN);
	return rc;
}

void sto_names_free(struct sto_names *n)
{
	for (size_t i = 0; i < n->n; i++)
		free(n->v[i]);
	free(n->v);
	memset(n, 0, sizeof(*n));
}

/* The localpart stored under one directory entry; -1 for entries that are not accounts. */
static int sto_entry_user(int dirfd, const char *name, char *user, size_t cap)
{
	char text[STO_RECORD_MAX + 1], *owner;
	struct sto_account a;

	if (name[0] != '~')
		return sto_localpart_unescape(name, user, cap);
	if (sto_record_read(dirfd, name, text, NULL, 0) != STO_OK ||
	    sto_record_decode(text, &owner, &a, NULL, 0) < 0)
		return -1;
	return sto_localpart_unescape(owner, user, cap);
}

int sto_file_list(struct sto_file *f, size_t host, struct sto_names *out, char *why,
		  size_t whylen)
{
	char user[STO_LOCALPART_MAX + 1];
	struct dirent *e;
	DIR *d;
	int fd;

	memset(out, 0, sizeof(*out));
	if (host >= f->nhosts)
		return STO_EINVAL;
	fd = dup(f->dirfd[host]);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		snprintf(why, whylen, "cannot read accounts directory: %s", strerror(errno));
		return STO_EIO;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (sto_entry_user(f->dirfd[host], e->d_name, user, sizeof(user)) < 0)
			continue;	/* not an account record: not ours to list */
		if (sto_names_push(out, user) < 0) {
			closedir(d);
			sto_names_free(out);
			sto_why(why, whylen, "out of memory");
			return STO_EIO;
		}
	}
	closedir(d);
	sto_names_sort(out);
	return STO_OK;
}
