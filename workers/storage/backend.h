/* The storage backends behind the three shapes (keyval, map, archive): one table of
 * operations per backend, and the archive query evaluator shared by the simple ones. */
#ifndef XMPPD_STO_BACKEND_H
#define XMPPD_STO_BACKEND_H
#include <stddef.h>
#include <stdint.h>

#include "accounts_file.h"
#include "buf.h"

#define STO_WHY_LEN 256u	/* every why buffer below has this size */

/* Where an operation applies; strings are borrowed for the call. */
struct sto_where {
	size_t host;		/* index of the configured vhost */
	const char *hostname;
	const char *store;	/* validated: [a-z0-9_-]{1,STO_STORE_MAX} */
	const char *user;	/* "" is the host-wide entry */
	const char *key;	/* map key (map ops only) */
};

/* An archive query (ipc/sto.h); the STO_Q_ bits say which fields were given. */
enum {
	STO_Q_START = 1u << 0,
	STO_Q_END = 1u << 1,
	STO_Q_WITH = 1u << 2,
	STO_Q_BEFORE = 1u << 3,
	STO_Q_AFTER = 1u << 4,
	STO_Q_IDS = 1u << 5,
	STO_Q_LIMIT = 1u << 6,
};
struct sto_query {
	uint32_t have;
	uint64_t start, end;
	const char *with, *before, *after;
	const char **ids;	/* borrowed, nids of them */
	size_t nids;
	uint32_t limit;
	int reverse, total;
};

/* One archive item without its payload, as a backend's index knows it. */
struct sto_meta {
	uint64_t ref;		/* the backend's handle for the payload */
	uint64_t when;
	char *id, *with;	/* owned by the list */
};
struct sto_meta_list {
	struct sto_meta *v;
	size_t n, cap;
	int borrowed;		/* v belongs to the backend's cache, valid until its next call
				 * that reads an index; sto_meta_free only forgets it */
};
int sto_meta_add(struct sto_meta_list *l, uint64_t ref, uint64_t when, const char *id,
		 const char *with);
void sto_meta_free(struct sto_meta_list *l);

/* Receives one (user, value) of MAP_GET_ALL; -1 stops the walk (the reply is full). */
typedef int (*sto_pair_fn)(void *arg, const char *user, const uint8_t *v, size_t n);

struct sto_backend;
/* Each returns an enum sto_status and leaves a reason in why (STO_WHY_LEN bytes). Values
 * given as (v, n) are borrowed; del != 0 deletes instead. */
struct sto_backend_ops {
	const char *name;
	void (*close)(struct sto_backend *b);
	int (*kv_get)(struct sto_backend *b, const struct sto_where *w, struct buf *out,
		      char *why);
	int (*kv_set)(struct sto_backend *b, const struct sto_where *w, const uint8_t *v,
		      size_t n, int del, char *why);
	int (*kv_users)(struct sto_backend *b, const struct sto_where *w, struct sto_names *out,
			char *why);
	/* Sets only when absent (atomically, also across workers), else STO_EEXISTS. */
	int (*kv_add)(struct sto_backend *b, const struct sto_where *w, const uint8_t *v, size_t n,
		      char *why);
	int (*map_get)(struct sto_backend *b, const struct sto_where *w, struct buf *out,
		       char *why);
	int (*map_set)(struct sto_backend *b, const struct sto_where *w, const uint8_t *v,
		       size_t n, int del, char *why);
	int (*map_get_all)(struct sto_backend *b, const struct sto_where *w, sto_pair_fn fn,
			   void *arg, char *why);
	int (*map_delete_all)(struct sto_backend *b, const struct sto_where *w, uint32_t *count,
			      char *why);
	/* id is given (and unique in this archive, else STO_EEXISTS). */
	int (*arch_append)(struct sto_backend *b, const struct sto_where *w, const char *id,
			   uint64_t when, const char *with, const uint8_t *v, size_t n, char *why);
	/* Every live item of the archive, in append order. */
	int (*arch_meta)(struct sto_backend *b, const struct sto_where *w,
			 struct sto_meta_list *out, char *why);
	int (*arch_value)(struct sto_backend *b, const struct sto_where *w, uint64_t ref,
			  struct buf *out, char *why);
	int (*arch_remove)(struct sto_backend *b, const struct sto_where *w, const uint64_t *refs,
			   size_t n, char *why);
	/* Whole-user/-store enumeration for migration: stores of a shape on a host. */
	int (*stores)(struct sto_backend *b, size_t host, int shape, struct sto_names *out,
		      char *why);
	/* Users with any map key (map) or any item (archive) in a store. */
	int (*shape_users)(struct sto_backend *b, const struct sto_where *w, int shape,
			   struct sto_names *out, char *why);
	/* The keys of one user's map. */
	int (*map_keys)(struct sto_backend *b, const struct sto_where *w, struct sto_names *out,
			char *why);
	/* Optional: a find evaluated by the database itself; NULL = sto_arch_find. */
	int (*arch_find)(struct sto_backend *b, const struct sto_where *w,
			 const struct sto_query *q, size_t reply_max, struct buf *out, char *why);
};
enum sto_shape { STO_SHAPE_KV, STO_SHAPE_MAP, STO_SHAPE_ARCH };

struct sto_backend {
	const struct sto_backend_ops *ops;
};

/* Backends; hosts are borrowed for the call. NULL with a reason in err. */
struct sto_backend *sto_mem_open(size_t nhosts, char *err, size_t errlen);
struct sto_backend *sto_fs_open(const char *datadir, const char *const *hosts, size_t nhosts,
				char *err, size_t errlen);
/* conninfo is a libpq connection string (NULL with err when malformed); a server that does
 * not answer yet is not an error: requests get STO_EUNAVAIL until a reconnect succeeds. */
struct sto_backend *sto_pg_open(const char *conninfo, const char *const *hosts, size_t nhosts,
				char *err, size_t errlen);

/* uri is a mongodb:// URI (database from its path, default "xmppd"); the server must answer. */
struct sto_backend *sto_mongo_open(const char *uri, const char *const *hosts, size_t nhosts,
				   char *err, size_t errlen);
/* The Redis cache in front of inner (taken, closed on failure too); url is
 * redis://HOST[:PORT][/DB][?ttl=SECONDS]. Redis being down is not an error. */
struct sto_backend *sto_cache_wrap_take(struct sto_backend *inner, const char *url, char *err,
					size_t errlen);

/* The backend behind a cache wrapper, or b itself. */
struct sto_backend *sto_backend_uncached(struct sto_backend *b);

/* Archive operations over arch_meta/arch_value/arch_remove (archive.c); replies as in
 * ipc/sto.h, appended to out. */
int sto_arch_find(struct sto_backend *b, const struct sto_where *w, const struct sto_query *q,
		  size_t reply_max, struct buf *out, char *why);
/* The backend's own find when it has one, else sto_arch_find. */
int sto_backend_find(struct sto_backend *b, const struct sto_where *w, const struct sto_query *q,
		     size_t reply_max, struct buf *out, char *why);
/* Appends one ITEM {ID WHEN WITH VALUE}; -1 out of memory. */
int sto_put_item_raw(struct buf *out, const char *id, uint64_t when, const char *with,
		     const uint8_t *v, size_t n);
int sto_arch_get(struct sto_backend *b, const struct sto_where *w, const char *id,
		 struct buf *out, char *why);
int sto_arch_delete(struct sto_backend *b, const struct sto_where *w, const struct sto_query *q,
		    uint32_t *count, char *why);
int sto_arch_summary(struct sto_backend *b, const struct sto_where *w,
		     const struct sto_query *q, struct buf *out, char *why);
/* A fresh archive id: 24 lowercase hex characters from the CSPRNG. */
int sto_arch_new_id(char *out, size_t cap);

/* Helpers shared by backends (util.c). */
int sto_names_push(struct sto_names *n, const char *s);
void sto_names_sort(struct sto_names *n);
void sto_whyf(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t sto_fnv64(const void *p, size_t n, uint64_t h);
#define STO_FNV_SEED 0xcbf29ce484222325ull

#endif
