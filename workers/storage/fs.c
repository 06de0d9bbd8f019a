/* The file backend for keyval and map: one small record file per value, written with
 * temp file + fsync + rename + directory fsync, so a reader sees the old or the new value,
 * never half of one, and a write is acknowledged only once durable. Records are untrusted. */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sto.h"
#include "tlv.h"

#define FS_MAGIC "XKV1"
#define FS_USER_FILE ".user"	/* in a hashed user directory: a record naming the user */
#define FS_RECORD_MAX (STO_VALUE_MAX + 2 * STO_KEY_MAX + 64u)

static const char *const fs_shape_dir[] = {"kv", "map", "archive"};

int fs_name(const char *s, char *out, size_t cap)
{
	if (!s[0]) {
		snprintf(out, cap, "@");
		return 0;
	}
	return sto_localpart_fname(s, out, cap);
}

static int fs_record_write(int dirfd, const char *name, const struct sto_where *w, int with_key,
			   const uint8_t *v, size_t n, int noreplace);

/* A new hashed user directory gets FS_USER_FILE, so listings can name its user. */
static int fs_name_hashed_dir(int fd, const struct sto_where *w)
{
	struct stat st;
	if (fstatat(fd, FS_USER_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	return fs_record_write(fd, FS_USER_FILE, w, 0, (const uint8_t *)"", 0, 0);
}

int fs_dir(struct fs_backend *f, const struct sto_where *w, int shape, int with_user, int create)
{
	const char *part[3] = {fs_shape_dir[shape], w->store, NULL};
	char uname[STO_FNAME_MAX + 1];
	int fd = f->hostfd[w->host], next;

	if (with_user) {
		if (fs_name(w->user, uname, sizeof(uname)) < 0)
			return -1;
		part[2] = uname;
	}
	fd = dup(fd);
	for (size_t i = 0; fd >= 0 && i < 3 && part[i]; i++) {
		next = create ? sto_open_subdir(fd, part[i])
			      : openat(fd, part[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int saved = errno;
		close(fd);
		errno = saved;
		fd = next;
	}
	if (fd >= 0 && create && with_user && uname[0] == '~' && fs_name_hashed_dir(fd, w) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int fs_list(int dirfd, struct sto_names *out)
{
	int fd = dup(dirfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while (rc == 0 && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			rc = sto_names_push(out, e->d_name);
	closedir(d);
	return rc;
}

/* Reads one record file: USER [KEY] VALUE after the magic. 1 read, 0 missing, -1 bad. */
static int fs_record_read(int dirfd, const char *name, struct buf *raw, struct tlv *user,
			  struct tlv *key, struct tlv *val)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	struct rbuf r;
	struct tlv t;
	ssize_t got;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 4 ||
	    (uint64_t)st.st_size > FS_RECORD_MAX || buf_reserve(raw, (size_t)st.st_size) < 0) {
		close(fd);
		errno = EBADMSG;
		return -1;
	}
	got = pread(fd, raw->data, (size_t)st.st_size, 0);
	close(fd);
	if (got != st.st_size || memcmp(raw->data, FS_MAGIC, 4) != 0)
		goto bad;
	raw->len = (size_t)got;
	memset(key, 0, sizeof(*key));
	memset(user, 0, sizeof(*user));
	memset(val, 0, sizeof(*val));
	rbuf_init(&r, raw->data + 4, raw->len - 4);
	int rc, seen = 0;
	while ((rc = tlv_next(&r, &t)) == 1) {
		if (t.tag == STO_T_USER)
			*user = t;
		else if (t.tag == STO_T_KEY)
			*key = t;
		else if (t.tag == STO_T_VALUE)
			*val = t, seen = 1;
	}
	if (rc < 0 || !seen || !user->tag)
		goto bad;
	return 1;
bad:
	errno = EBADMSG;
	return -1;
}

static int fs_record_write(int dirfd, const char *name, const struct sto_where *w, int with_key,
			   const uint8_t *v, size_t n, int noreplace)
{
	struct buf b;
	int rc;

	buf_init(&b);
	rc = buf_put(&b, FS_MAGIC, 4) < 0 || tlv_put_str(&b, STO_T_USER, w->user) < 0 ||
	     (with_key && tlv_put_str(&b, STO_T_KEY, w->key) < 0) ||
	     tlv_put(&b, STO_T_VALUE, v, n) < 0 ? -1 : 0;
	if (rc == 0)
		rc = sto_write_atomic(dirfd, name, b.data, b.len, noreplace);
	buf_free(&b);
	return rc;
}

/* The directory and file name holding w's value for shape (kv: store dir; map: user dir). */
static int fs_locate(struct fs_backend *f, const struct sto_where *w, int shape, int create,
		     char *name, size_t cap)
{
	if (fs_name(shape == STO_SHAPE_KV ? w->user : w->key, name, cap) < 0)
		return -1;
	return fs_dir(f, w, shape, shape == STO_SHAPE_MAP, create);
}

static int fs_get(struct sto_backend *b, const struct sto_where *w, int shape, struct buf *out,
		  char *why)
{
	char name[STO_FNAME_MAX + 1];
	struct tlv u, k, v;
	struct buf raw;
	int dfd = fs_locate((struct fs_backend *)b, w, shape, 0, name, sizeof(name)), rc;

	if (dfd < 0 && errno == ENOENT) {
		sto_whyf(why, "not found");
		return STO_ENOTFOUND;
	}
	if (dfd < 0) {
		sto_whyf(why, "cannot open the store directory: %s", strerror(errno));
		return STO_EIO;
	}
	buf_init(&raw);
	rc = fs_record_read(dfd, name, &raw, &u, &k, &v);
	close(dfd);
	if (rc == 0) {
		sto_whyf(why, "not found");
		rc = STO_ENOTFOUND;
	} else if (rc < 0) {
		sto_whyf(why, "unreadable record %s/%s: %s", w->store, name, strerror(errno));
		rc = STO_EIO;
	} else if (buf_put(out, v.val, v.len) < 0) {
		sto_whyf(why, "out of memory");
		rc = STO_EIO;
	} else {
		rc = STO_OK;
	}
	buf_free(&raw);
	return rc;
}

static int fs_set(struct sto_backend *b, const struct sto_where *w, int shape, const uint8_t *v,
		  size_t n, int del, char *why)
{
	char name[STO_FNAME_MAX + 1];
	int dfd = fs_locate((struct fs_backend *)b, w, shape, !del, name, sizeof(name)), rc = 0;

	if (dfd < 0 && del && errno == ENOENT)
		return STO_OK;
	if (dfd < 0) {
		sto_whyf(why, "cannot open the store directory: %s", strerror(errno));
		return STO_EIO;
	}
	if (del) {
		if (unlinkat(dfd, name, 0) == 0)
			rc = fsync(dfd);
		else if (errno != ENOENT)
			rc = -1;
	} else {
		rc = fs_record_write(dfd, name, w, shape == STO_SHAPE_MAP, v, n, 0);
	}
	if (rc < 0)
		sto_whyf(why, "cannot write %s/%s: %s", w->store, name, strerror(errno));
	close(dfd);
	return rc < 0 ? STO_EIO : STO_OK;
}

static int fs_kv_get(struct sto_backend *b, const struct sto_where *w, struct buf *out, char *why)
{
	return fs_get(b, w, STO_SHAPE_KV, out, why);
}

static int fs_kv_set(struct sto_backend *b, const struct sto_where *w, const uint8_t *v, size_t n,
		     int del, char *why)
{
	return fs_set(b, w, STO_SHAPE_KV, v, n, del, why);
}

static int fs_kv_add(struct sto_backend *b, const struct sto_where *w, const uint8_t *v, size_t n,
		     char *why)
{
	char name[STO_FNAME_MAX + 1];
	int dfd = fs_locate((struct fs_backend *)b, w, STO_SHAPE_KV, 1, name, sizeof(name)), rc;

	if (dfd < 0) {
		sto_whyf(why, "cannot open the store directory: %s", strerror(errno));
		return STO_EIO;
	}
	rc = fs_record_write(dfd, name, w, 0, v, n, 1);
	if (rc < 0 && errno == EEXIST) {
		sto_whyf(why, "exists");
		rc = STO_EEXISTS;
	} else if (rc < 0) {
		sto_whyf(why, "cannot write %s/%s: %s", w->store, name, strerror(errno));
		rc = STO_EIO;
	}
	close(dfd);
	return rc;
}

static int fs_map_get(struct sto_backend *b, const struct sto_where *w, struct buf *out,
		      char *why)
{
	return fs_get(b, w, STO_SHAPE_MAP, out, why);
}

static int fs_map_set(struct sto_backend *b, const struct sto_where *w, const uint8_t *v,
		      size_t n, int del, char *why)
{
	return fs_set(b, w, STO_SHAPE_MAP, v, n, del, why);
}

/* The names of the entries of a shape's store directory (users), or of a user's map (keys),
 * as stored inside the records or recovered from the escaped name. */
static int fs_names_in(int dfd, int from_records, uint16_t tag, struct sto_names *out)
{
	struct sto_names raw = {0};
	struct buf rec;
	int rc = fs_list(dfd, &raw);

	buf_init(&rec);
	for (size_t i = 0; rc == 0 && i < raw.n; i++) {
		char plain[STO_KEY_MAX + 1];
		struct tlv u, k, v;
		if (strcmp(raw.v[i], "@") == 0) {
			if (!from_records)	/* the host-wide user of a map or archive */
				rc = sto_names_push(out, "");
			continue;
		}
		if (!from_records && sto_localpart_unescape(raw.v[i], plain, sizeof(plain)) == 0) {
			rc = sto_names_push(out, plain);
			continue;
		}
		/* A hashed user directory names its user in FS_USER_FILE. */
		int sub = from_records ? -1 : openat(dfd, raw.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (!from_records && sub < 0)
			continue;
		buf_reset(&rec);
		int got = fs_record_read(from_records ? dfd : sub, from_records ? raw.v[i] : FS_USER_FILE,
					 &rec, &u, &k, &v);
		if (sub >= 0)
			close(sub);
		const struct tlv *t = tag == STO_T_KEY ? &k : &u;
		if (got == 1 && t->tag && tlv_str(t, plain, sizeof(plain)) == 0)
			rc = sto_names_push(out, plain);
		else if (got < 0)
			log_warn("unreadable storage record skipped", "name=\"%s\"", raw.v[i]);
	}
	buf_free(&rec);
	sto_names_free(&raw);
	sto_names_sort(out);
	return rc;
}

static int fs_users_of(struct sto_backend *b, const struct sto_where *w, int shape,
		       struct sto_names *out, char *why)
{
	int dfd = fs_dir((struct fs_backend *)b, w, shape, 0, 0), rc;
	if (dfd < 0 && errno == ENOENT)
		return STO_OK;
	if (dfd < 0) {
		sto_whyf(why, "cannot open the store directory: %s", strerror(errno));
		return STO_EIO;
	}
	rc = fs_names_in(dfd, shape == STO_SHAPE_KV, STO_T_USER, out);
	close(dfd);
	if (rc < 0) {
		sto_whyf(why, "cannot list the store: %s", strerror(errno));
		return STO_EIO;
	}
	return STO_OK;
}

static int fs_kv_users(struct sto_backend *b, const struct sto_where *w, struct sto_names *out,
		       char *why)
{
	return fs_users_of(b, w, STO_SHAPE_KV, out, why);
}

static int fs_shape_users(struct sto_backend *b, const struct sto_where *w, int shape,
			  struct sto_names *out, char *why)
{
	return fs_users_of(b, w, shape, out, why);
}

static int fs_map_keys(struct sto_backend *b, const struct sto_where *w, struct sto_names *out,
		       char *why)
{
	int dfd = fs_dir((struct fs_backend *)b, w, STO_SHAPE_MAP, 1, 0), rc;
	if (dfd < 0 && errno == ENOENT)
		return STO_OK;
	if (dfd < 0) {
		sto_whyf(why, "cannot open the map directory: %s", strerror(errno));
		return STO_EIO;
	}
	rc = fs_names_in(dfd, 1, STO_T_KEY, out);
	close(dfd);
	return rc < 0 ? STO_EIO : STO_OK;
}

/* Calls each(user) for every user directory of a map store; hashed names are read back
 * from their records by the callers through fs_names_in. */
static int fs_map_users(struct fs_backend *f, const struct sto_where *w, struct sto_names *users,
			char *why)
{
	return fs_users_of(&f->base, w, STO_SHAPE_MAP, users, why);
}

static int fs_map_get_all(struct sto_backend *b, const struct sto_where *w, sto_pair_fn fn,
			  void *arg, char *why)
{
	struct sto_names users = {0};
	struct buf val;
	int rc = fs_map_users((struct fs_backend *)b, w, &users, why);

	buf_init(&val);
	for (size_t i = 0; rc == STO_OK && i < users.n; i++) {
		struct sto_where u = *w;
		u.user = users.v[i];
		buf_reset(&val);
		rc = fs_get(b, &u, STO_SHAPE_MAP, &val, why);
		if (rc == STO_ENOTFOUND) {
			rc = STO_OK;
		} else if (rc == STO_OK && fn(arg, u.user, val.data, val.len) < 0) {
			sto_whyf(why, "the values do not fit in one reply");
			rc = STO_EIO;
		}
	}
	buf_free(&val);
	sto_names_free(&users);
	return rc;
}

static int fs_map_delete_all(struct sto_backend *b, const struct sto_where *w, uint32_t *count,
			     char *why)
{
	struct sto_names users = {0};
	struct buf val;
	int rc = fs_map_users((struct fs_backend *)b, w, &users, why);

	*count = 0;
	buf_init(&val);
	for (size_t i = 0; rc == STO_OK && i < users.n; i++) {
		struct sto_where u = *w;
		u.user = users.v[i];
		buf_reset(&val);
		rc = fs_get(b, &u, STO_SHAPE_MAP, &val, why);
		if (rc == STO_OK && (rc = fs_set(b, &u, STO_SHAPE_MAP, NULL, 0, 1, why)) == STO_OK)
			(*count)++;
		else if (rc == STO_ENOTFOUND)
			rc = STO_OK;
	}
	buf_free(&val);
	sto_names_free(&users);
	return rc;
}

static int fs_stores(struct sto_backend *b, size_t host, int shape, struct sto_names *out,
		     char *why)
{
	struct fs_backend *f = (struct fs_backend *)b;
	int dfd = openat(f->hostfd[host], fs_shape_dir[shape],
			 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT)
		return STO_OK;
	if (dfd < 0 || fs_list(dfd, out) < 0) {
		sto_whyf(why, "cannot list stores: %s", strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return STO_EIO;
	}
	close(dfd);
	sto_names_sort(out);
	return STO_OK;
}

static void fs_close(struct sto_backend *b)
{
	struct fs_backend *f = (struct fs_backend *)b;
	for (size_t i = 0; i < f->nhosts; i++)
		if (f->hostfd[i] >= 0)
			close(f->hostfd[i]);
	free(f->hostfd);
	fs_arch_cache_free(f);
	free(f);
}

static const struct sto_backend_ops fs_ops = {
	.name = "file",
	.close = fs_close,
	.kv_get = fs_kv_get,
	.kv_set = fs_kv_set,
	.kv_add = fs_kv_add,
	.kv_users = fs_kv_users,
	.map_get = fs_map_get,
	.map_set = fs_map_set,
	.map_get_all = fs_map_get_all,
	.map_delete_all = fs_map_delete_all,
	.arch_append = fs_arch_append,
	.arch_meta = fs_arch_meta,
	.arch_value = fs_arch_value,
	.arch_remove = fs_arch_remove,
	.stores = fs_stores,
	.shape_users = fs_shape_users,
	.map_keys = fs_map_keys,
};

struct sto_backend *sto_fs_open(const char *datadir, const char *const *hosts, size_t nhosts,
				char *err, size_t errlen)
{
	struct fs_backend *f = calloc(1, sizeof(*f));
	int dfd = -1;

	if (!f || !(f->hostfd = calloc(nhosts ? nhosts : 1, sizeof(int)))) {
		free(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->base.ops = &fs_ops;
	for (size_t i = 0; i < nhosts; i++)
		f->hostfd[i] = -1;
	if (fs_arch_cache_new(f) < 0) {
		free(f->hostfd);
		free(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->nhosts = nhosts;
	if ((mkdir(datadir, 0700) < 0 && errno != EEXIST) ||
	    (dfd = open(datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot open data directory %s: %s", datadir, strerror(errno));
		goto fail;
	}
	for (size_t i = 0; i < nhosts; i++) {
		if (!sto_host_valid(hosts[i]) || (f->hostfd[i] = sto_open_subdir(dfd, hosts[i])) < 0) {
			snprintf(err, errlen, "cannot open %s/%s: %s", datadir, hosts[i],
				 strerror(errno));
			goto fail;
		}
	}
	close(dfd);
	for (size_t i = 0; i < nhosts; i++) {
		size_t repaired = 0;
		if (fs_arch_recover(f->hostfd[i], hosts[i], &repaired) < 0) {
			snprintf(err, errlen, "cannot read %s/%s/archive: %s", datadir, hosts[i],
				 strerror(errno));
			fs_close(&f->base);
			return NULL;
		}
	}
	return &f->base;
fail:
	if (dfd >= 0)
		close(dfd);
	fs_close(&f->base);
	return NULL;
}
