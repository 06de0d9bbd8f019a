/* The file backend's internals shared by its keyval/map part (fs.c) and its archive part
 * (fs_arch.c): <datadir>/<host>/{kv,map,archive}/<store>/<escaped user>[/...]. */
#ifndef XMPPD_STO_FS_H
#define XMPPD_STO_FS_H
#include "backend.h"

struct arc_cached;
struct fs_backend {
	struct sto_backend base;
	size_t nhosts;
	int *hostfd;	/* <datadir>/<host>, by host index */
	struct arc_cached *arc_cache;	/* parsed archive indexes (fs_arch.c) */
	uint64_t arc_tick;
};

/* The archive index cache: created with the backend, freed with it. */
int fs_arch_cache_new(struct fs_backend *f);
void fs_arch_cache_free(struct fs_backend *f);

/* The directory of shape/store[/user] for w, created when create != 0; -1 with errno
 * (ENOENT when missing and not created). */
int fs_dir(struct fs_backend *f, const struct sto_where *w, int shape, int with_user, int create);
/* The file name of a user or key ("" → "@"); cap >= STO_FNAME_MAX + 1. */
int fs_name(const char *s, char *out, size_t cap);
/* Lists the entries of dirfd that are not hidden (no leading '.'). */
int fs_list(int dirfd, struct sto_names *out);

/* Start-up check of every archive index of a host: torn tails are cut off (counted in
 * repaired) and unreadable archives reported. -1 when the archive directory is unreadable. */
int fs_arch_recover(int hostfd, const char *host, size_t *repaired);

int fs_arch_append(struct sto_backend *b, const struct sto_where *w, const char *id,
		   uint64_t when, const char *with, const uint8_t *v, size_t n, char *why);
int fs_arch_meta(struct sto_backend *b, const struct sto_where *w, struct sto_meta_list *out,
		 char *why);
int fs_arch_value(struct sto_backend *b, const struct sto_where *w, uint64_t ref,
		  struct buf *out, char *why);
int fs_arch_remove(struct sto_backend *b, const struct sto_where *w, const uint64_t *refs,
		   size_t n, char *why);

#endif
