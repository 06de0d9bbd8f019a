/* The file backend for archives: per user, append-only segment files with the payloads and
 * an append-only index of checksummed records (items and deletions), so find reads the
 * index, never the history. Payload then index, each fdatasync'ed before the append is
 * acknowledged; a torn record from a crash is skipped and reported, never half-read. */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sto.h"

#define ARC_MAGIC 0x58414931u	/* "XAI1" */
#define ARC_HDR 16u		/* magic u32, body length u32, checksum u64 */
#define ARC_BODY_MAX (32u + 2u * 65535u)
#define ARC_ITEM 1u
#define ARC_DELETE 2u
#define ARC_SEG_SHIFT 20	/* a new segment for every MiB of index (~10k items) */
#define ARC_REF(seg, off) ((uint64_t)(seg) << 40 | (off))

static int arc_write_all(int fd, const void *p, size_t n)
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

static int arc_open(struct sto_backend *b, const struct sto_where *w, int create, int *dfd)
{
	*dfd = fs_dir((struct fs_backend *)b, w, STO_SHAPE_ARCH, 1, create);
	if (*dfd < 0)
		return -1;
	int fd = openat(*dfd, "index", O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0),
			0600);
	if (fd < 0) {
		int saved = errno;
		close(*dfd);
		errno = saved;
	}
	return fd;
}

/* Reads the index from start on into out (which holds what came before start: items are
 * added, tombstones remove) and sets the end of its valid prefix; bad or torn records are
 * skipped by resynchronizing on the magic. */
static int arc_load_from(int fd, struct sto_meta_list *out, const char *store, off_t start,
			 off_t *valid_end)
{
	struct stat st;
	uint8_t *p;
	size_t off = 0, skipped = 0;

	*valid_end = start;
	if (fstat(fd, &st) < 0)
		return -1;
	if (st.st_size < start) {
		errno = ESTALE;
		return -1;
	}
	st.st_size -= start;	/* from here on: the part after start */
	if (!(p = malloc(st.st_size ? (size_t)st.st_size : 1)))
		return -1;
	if (st.st_size && pread(fd, p, (size_t)st.st_size, start) != st.st_size) {
		free(p);
		errno = EIO;
		return -1;
	}
	while (off + ARC_HDR <= (size_t)st.st_size) {
		struct rbuf r;
		uint32_t magic, blen;
		uint64_t sum;
		rbuf_init(&r, p + off, (size_t)st.st_size - off);
		rbuf_get_u32(&r, &magic);
		rbuf_get_u32(&r, &blen);
		rbuf_get_u64(&r, &sum);
		if (magic != ARC_MAGIC || blen > ARC_BODY_MAX || blen > rbuf_left(&r) ||
		    sto_fnv64(p + off + ARC_HDR, blen, STO_FNV_SEED) != sum) {
			off++;
			skipped++;
			continue;
		}
		const uint8_t *body = p + off + ARC_HDR, *id, *with;
		uint8_t type = body[0];
		uint64_t ref, when = 0;
		uint16_t idlen = 0, wlen = 0;
		rbuf_init(&r, body + 1, blen ? blen - 1 : 0);
		if (!blen || rbuf_get_u64(&r, &ref) < 0)
			type = 0;
		if (type == ARC_ITEM && (rbuf_get_u64(&r, &when) < 0 || rbuf_get_u16(&r, &idlen) < 0 ||
					 rbuf_get_bytes(&r, idlen, &id) < 0 ||
					 rbuf_get_u16(&r, &wlen) < 0 || rbuf_get_bytes(&r, wlen, &with) < 0))
			type = 0;
		if (type == ARC_ITEM) {
			char ids[STO_ID_MAX + 1], ws[65536];
			if (idlen > STO_ID_MAX) {
				type = 0;
			} else {
				memcpy(ids, id, idlen);
				ids[idlen] = 0;
				memcpy(ws, with, wlen);
				ws[wlen] = 0;
				if (sto_meta_add(out, ref, when, ids, ws) < 0) {
					free(p);
					return -1;
				}
			}
		} else if (type == ARC_DELETE) {
			for (size_t i = 0; i < out->n; i++)
				if (out->v[i].ref == ref) {
					free(out->v[i].id);
					free(out->v[i].with);
					memmove(&out->v[i], &out->v[i + 1], (out->n - i - 1) * sizeof(*out->v));
					out->n--;
					break;
				}
		}
		off += ARC_HDR + blen;
		*valid_end = start + (off_t)off;
	}
	if (skipped || off != (size_t)st.st_size)
		log_warn("archive index: unreadable bytes skipped", "store=%s bytes=%zu", store,
			 skipped + ((size_t)st.st_size - off));
	free(p);
	return 0;
}

static int arc_load(int fd, struct sto_meta_list *out, const char *store, off_t *valid_end)
{
	return arc_load_from(fd, out, store, 0, valid_end);
}

/* The index cache: the parsed metadata of recently used archives, keyed by the index file's
 * identity and brought up to date from its tail (other workers only ever append to it). */
#define ARC_CACHE_N 16
struct arc_cached {
	dev_t dev;
	ino_t ino;
	off_t parsed;		/* valid prefix already in l */
	uint64_t used;
	struct sto_meta_list l;
};

int fs_arch_cache_new(struct fs_backend *f)
{
	f->arc_cache = calloc(ARC_CACHE_N, sizeof(*f->arc_cache));
	return f->arc_cache ? 0 : -1;
}

static void arc_cached_reset(struct arc_cached *c)
{
	sto_meta_free(&c->l);
	memset(c, 0, sizeof(*c));
}

void fs_arch_cache_free(struct fs_backend *f)
{
	for (size_t i = 0; f->arc_cache && i < ARC_CACHE_N; i++)
		arc_cached_reset(&f->arc_cache[i]);
	free(f->arc_cache);
	f->arc_cache = NULL;
}

/* The live items of the index open on fd (the caller holds its lock), from the cache; NULL
 * with errno on failure. The list stays valid until the next call. */
static struct sto_meta_list *arc_index(struct fs_backend *f, int fd, const char *store,
				       off_t *valid_end)
{
	struct arc_cached *c = NULL, *lru = &f->arc_cache[0];
	struct stat st;

	if (fstat(fd, &st) < 0)
		return NULL;
	for (size_t i = 0; i < ARC_CACHE_N && !c; i++) {
		struct arc_cached *e = &f->arc_cache[i];
		if (e->used && e->dev == st.st_dev && e->ino == st.st_ino)
			c = e;
		else if (e->used < lru->used)
			lru = e;
	}
	if (!c) {
		c = lru;
		arc_cached_reset(c);
		c->dev = st.st_dev;
		c->ino = st.st_ino;
	}
	if (st.st_size < c->parsed) {	/* cut back by a repair: read it again */
		sto_meta_free(&c->l);
		c->parsed = 0;
	}
	if (arc_load_from(fd, &c->l, store, c->parsed, &c->parsed) < 0) {
		int saved = errno;
		arc_cached_reset(c);
		errno = saved;
		return NULL;
	}
	c->used = ++f->arc_tick;
	*valid_end = c->parsed;
	return &c->l;
}

/* Appends one index record and makes it durable. */
static int arc_index_put(int fd, const struct buf *body)
{
	struct buf rec;
	int rc;
	buf_init(&rec);
	rc = buf_put_u32(&rec, ARC_MAGIC) < 0 || buf_put_u32(&rec, (uint32_t)body->len) < 0 ||
	     buf_put_u64(&rec, sto_fnv64(body->data, body->len, STO_FNV_SEED)) < 0 ||
	     buf_put(&rec, body->data, body->len) < 0 ? -1 : 0;
	if (rc == 0)
		rc = arc_write_all(fd, rec.data, rec.len) < 0 || fdatasync(fd) < 0 ? -1 : 0;
	buf_free(&rec);
	return rc;
}

/* Payload record in a segment: vlen u32, checksum u64, bytes. */
static int arc_seg_put(int dfd, uint32_t seg, const uint8_t *v, size_t n, uint64_t *off)
{
	char name[32];
	struct buf rec;
	struct stat st;
	int fd, rc;

	snprintf(name, sizeof(name), "seg.%08u", (unsigned)seg);
	fd = openat(dfd, name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	buf_init(&rec);
	rc = fstat(fd, &st) < 0 || buf_put_u32(&rec, (uint32_t)n) < 0 ||
	     buf_put_u64(&rec, sto_fnv64(v, n, STO_FNV_SEED)) < 0 || buf_put(&rec, v, n) < 0 ||
	     arc_write_all(fd, rec.data, rec.len) < 0 || fdatasync(fd) < 0 ? -1 : 0;
	*off = (uint64_t)st.st_size;
	if (rc == 0 && st.st_size == 0)
		rc = fsync(dfd);	/* the new segment's name must be durable too */
	buf_free(&rec);
	close(fd);
	return rc;
}

int fs_arch_append(struct sto_backend *b, const struct sto_where *w, const char *id,
		   uint64_t when, const char *with, const uint8_t *v, size_t n, char *why)
{
	struct sto_meta_list *l = NULL;
	struct stat st;
	struct buf body;
	uint64_t off = 0;
	off_t valid;
	int dfd, fd = arc_open(b, w, 1, &dfd), rc = STO_OK;

	if (fd < 0) {
		sto_whyf(why, "cannot open the archive: %s", strerror(errno));
		return STO_EIO;
	}
	buf_init(&body);
	if (flock(fd, LOCK_EX) < 0 || !(l = arc_index((struct fs_backend *)b, fd, w->store, &valid)) ||
	    fstat(fd, &st) < 0) {
		sto_whyf(why, "cannot read the archive index: %s", strerror(errno));
		rc = STO_EIO;
		goto out;
	}
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].id, id) == 0) {
			sto_whyf(why, "an archive item with this id exists");
			rc = STO_EEXISTS;
			goto out;
		}
	/* A torn tail from a crash goes before anything is appended after it. */
	if (valid < st.st_size && (ftruncate(fd, valid) < 0 || fdatasync(fd) < 0)) {
		sto_whyf(why, "cannot repair the archive index: %s", strerror(errno));
		rc = STO_EIO;
		goto out;
	}
	uint32_t seg = (uint32_t)((uint64_t)valid >> ARC_SEG_SHIFT);
	if (arc_seg_put(dfd, seg, v, n, &off) < 0 || off >= (1ull << 40)) {
		sto_whyf(why, "cannot write the archive segment: %s", strerror(errno));
		rc = STO_EIO;
		goto out;
	}
	size_t idlen = strlen(id), wlen = strlen(with);
	if (buf_put_u8(&body, ARC_ITEM) < 0 || buf_put_u64(&body, ARC_REF(seg, off)) < 0 ||
	    buf_put_u64(&body, when) < 0 || buf_put_u16(&body, (uint16_t)idlen) < 0 ||
	    buf_put(&body, id, idlen) < 0 || buf_put_u16(&body, (uint16_t)wlen) < 0 ||
	    buf_put(&body, with, wlen) < 0 || arc_index_put(fd, &body) < 0) {
		sto_whyf(why, "cannot write the archive index: %s", strerror(errno));
		rc = STO_EIO;
	}
out:
	buf_free(&body);
	close(fd);	/* releases the lock */
	close(dfd);
	return rc;
}

int fs_arch_meta(struct sto_backend *b, const struct sto_where *w, struct sto_meta_list *out,
		 char *why)
{
	off_t valid;
	int dfd, fd = arc_open(b, w, 0, &dfd), rc = STO_OK;

	if (fd < 0 && errno == ENOENT)
		return STO_OK;
	if (fd < 0) {
		sto_whyf(why, "cannot open the archive: %s", strerror(errno));
		return STO_EIO;
	}
	struct sto_meta_list *l = NULL;
	if (flock(fd, LOCK_SH) < 0 || !(l = arc_index((struct fs_backend *)b, fd, w->store, &valid))) {
		sto_whyf(why, "cannot read the archive index: %s", strerror(errno));
		rc = STO_EIO;
	} else {
		sto_meta_free(out);
		out->v = l->v;
		out->n = l->n;
		out->borrowed = 1;
	}
	close(fd);
	close(dfd);
	return rc;
}

int fs_arch_value(struct sto_backend *b, const struct sto_where *w, uint64_t ref,
		  struct buf *out, char *why)
{
	char name[32];
	uint8_t hdr[12];
	struct rbuf r;
	uint32_t n;
	uint64_t sum, off = ref & ((1ull << 40) - 1);
	int dfd = fs_dir((struct fs_backend *)b, w, STO_SHAPE_ARCH, 1, 0), fd = -1, rc = STO_EIO;

	snprintf(name, sizeof(name), "seg.%08u", (unsigned)(ref >> 40));
	if (dfd >= 0)
		fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || pread(fd, hdr, sizeof(hdr), (off_t)off) != (ssize_t)sizeof(hdr)) {
		sto_whyf(why, "cannot read archive segment %s", name);
		goto out;
	}
	rbuf_init(&r, hdr, sizeof(hdr));
	rbuf_get_u32(&r, &n);
	rbuf_get_u64(&r, &sum);
	if (n > STO_VALUE_MAX || buf_reserve(out, n) < 0 ||
	    pread(fd, out->data + out->len, n, (off_t)(off + sizeof(hdr))) != (ssize_t)n ||
	    sto_fnv64(out->data + out->len, n, STO_FNV_SEED) != sum) {
		sto_whyf(why, "corrupt archive record in %s at %llu", name, (unsigned long long)off);
		goto out;
	}
	out->len += n;
	rc = STO_OK;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

int fs_arch_remove(struct sto_backend *b, const struct sto_where *w, const uint64_t *refs,
		   size_t n, char *why)
{
	struct buf body, all;
	int dfd, fd = arc_open(b, w, 0, &dfd), rc = STO_OK;

	if (fd < 0) {
		sto_whyf(why, "cannot open the archive: %s", strerror(errno));
		return errno == ENOENT ? STO_OK : STO_EIO;
	}
	buf_init(&body);
	buf_init(&all);
	/* One write and one fdatasync for all the tombstones. */
	for (size_t i = 0; rc == STO_OK && i < n; i++) {
		buf_reset(&body);
		if (buf_put_u8(&body, ARC_DELETE) < 0 || buf_put_u64(&body, refs[i]) < 0 ||
		    buf_put_u32(&all, ARC_MAGIC) < 0 || buf_put_u32(&all, (uint32_t)body.len) < 0 ||
		    buf_put_u64(&all, sto_fnv64(body.data, body.len, STO_FNV_SEED)) < 0 ||
		    buf_put(&all, body.data, body.len) < 0)
			rc = STO_EIO;
	}
	if (rc == STO_OK && (flock(fd, LOCK_EX) < 0 || arc_write_all(fd, all.data, all.len) < 0 ||
			     fdatasync(fd) < 0))
		rc = STO_EIO;
	if (rc != STO_OK)
		sto_whyf(why, "cannot write the archive index: %s", strerror(errno));
	buf_free(&body);
	buf_free(&all);
	close(fd);
	close(dfd);
	return rc;
}

/* Start-up recovery of one archive: a torn tail left by a crash is cut off (and reported). */
static void arc_recover_one(int udfd, const char *where, size_t *repaired)
{
	struct sto_meta_list l = {0};
	struct stat st;
	off_t valid;
	int fd = openat(udfd, "index", O_RDWR | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX) == 0 && arc_load(fd, &l, where, &valid) == 0 && fstat(fd, &st) == 0 &&
	    valid < st.st_size) {
		if (ftruncate(fd, valid) == 0 && fdatasync(fd) == 0) {
			log_warn("archive index: torn tail cut off at start", "archive=%s bytes=%lld",
				 where, (long long)(st.st_size - valid));
			(*repaired)++;
		} else {
			log_err("archive index: cannot cut off a torn tail", "archive=%s err=\"%s\"",
				where, strerror(errno));
		}
	}
	sto_meta_free(&l);
	close(fd);
}

/* Walks <host>/archive/<store>/<user>/index; unreadable directories are reported. */
int fs_arch_recover(int hostfd, const char *host, size_t *repaired)
{
	struct sto_names stores = {0};
	int afd = openat(hostfd, "archive", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (afd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fs_list(afd, &stores) < 0) {
		close(afd);
		return -1;
	}
	for (size_t i = 0; i < stores.n; i++) {
		struct sto_names users = {0};
		int sfd = openat(afd, stores.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0 || fs_list(sfd, &users) < 0)
			log_err("archive store unreadable at start", "host=%s store=%s", host,
				stores.v[i]);
		for (size_t u = 0; sfd >= 0 && u < users.n; u++) {
			char where[512];
			int ufd = openat(sfd, users.v[u], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			snprintf(where, sizeof(where), "%s/%s/%s", host, stores.v[i], users.v[u]);
			if (ufd < 0) {
				log_err("archive unreadable at start", "archive=%s", where);
				continue;
			}
			arc_recover_one(ufd, where, repaired);
			close(ufd);
		}
		sto_names_free(&users);
		if (sfd >= 0)
			close(sfd);
	}
	sto_names_free(&stores);
	close(afd);
	return 0;
}
