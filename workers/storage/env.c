/* The storage worker's state: configured vhosts, the backend, and the secret behind fake
 * SCRAM salts (created once, 0600, and never sent anywhere). */
#include "storage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "backend.h"

/* 0 read, 1 missing, -1 unreadable or of the wrong size. */
static int sto_secret_read(int dirfd, uint8_t *secret)
{
	struct stat st;
	ssize_t r;
	int fd = openat(dirfd, STO_SECRET_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != STO_SECRET_LEN) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	do
		r = read(fd, secret, STO_SECRET_LEN);
	while (r < 0 && errno == EINTR);
	close(fd);
	if (r != STO_SECRET_LEN) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* Several storage workers may start at once: the first rename wins, the others read it. */
static int sto_secret_load(const char *datadir, uint8_t *secret, char *err, size_t errlen)
{
	int dfd = open(datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;
	uint8_t fresh[STO_SECRET_LEN];

	if (dfd < 0) {
		snprintf(err, errlen, "cannot open data directory %s: %s", datadir, strerror(errno));
		return -1;
	}
	rc = sto_secret_read(dfd, secret);
	if (rc == 1) {
		if (RAND_bytes(fresh, sizeof(fresh)) != 1 ||
		    (sto_write_atomic(dfd, STO_SECRET_FILE, fresh, sizeof(fresh), 1) < 0 &&
		     errno != EEXIST))
			rc = -1;
		else
			rc = sto_secret_read(dfd, secret);
		explicit_bzero(fresh, sizeof(fresh));
	}
	if (rc != 0)
		snprintf(err, errlen, "cannot load %s/%s: %s", datadir, STO_SECRET_FILE,
			 rc > 0 ? "vanished" : strerror(errno));
	close(dfd);
	return rc == 0 ? 0 : -1;
}

struct sto_backend *sto_backend_open(const struct sto_be_spec *spec, const char *datadir,
				     const char *const *hosts, size_t nhosts, char *err,
				     size_t errlen)
{
	struct sto_backend *b = NULL;

	if (strcmp(spec->name, "memory") == 0)
		b = sto_mem_open(nhosts, err, errlen);
	else if (strcmp(spec->name, "file") == 0)
		b = sto_fs_open(datadir, hosts, nhosts, err, errlen);
	else if (strcmp(spec->name, "postgresql") == 0)
		b = sto_pg_open(spec->arg, hosts, nhosts, err, errlen);
	else if (strcmp(spec->name, "mongodb") == 0)
		b = sto_mongo_open(spec->arg, hosts, nhosts, err, errlen);
	else
		snprintf(err, errlen, "unknown storage backend \"%s\"", spec->name);
	if (b && spec->cache_url)
		b = sto_cache_wrap_take(b, spec->cache_url, err, errlen);
	return b;
}

static int sto_env_backends(struct sto_env *env, const struct sto_settings *s, char *err,
			    size_t errlen)
{
	static const struct sto_be_spec dflt = {NULL, NULL, "file", NULL, NULL};
	const struct sto_be_spec *def = s->nspecs && !s->specs[0].store ? &s->specs[0] : &dflt;

	if (!(env->backend = sto_backend_open(def, s->datadir, s->vhosts, s->nvhosts, err, errlen)))
		return -1;
	if (s->nspecs && !(env->stores = calloc(s->nspecs, sizeof(*env->stores)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < s->nspecs; i++) {
		const struct sto_be_spec *sp = &s->specs[i];
		struct sto_store_be *o = &env->stores[env->nstores];
		if (!sp->store)
			continue;
		if (strlen(sp->store) >= sizeof(o->store)) {
			snprintf(err, errlen, "store name too long: %s", sp->store);
			return -1;
		}
		snprintf(o->store, sizeof(o->store), "%s", sp->store);
		o->host = sp->host ? sto_env_host(env, sp->host) : -1;
		if (sp->host && o->host < 0)
			continue;	/* a host this worker does not serve */
		if (!(o->backend = sto_backend_open(sp, s->datadir, s->vhosts, s->nvhosts, err,
						    errlen)))
			return -1;
		env->nstores++;
	}
	/* Accounts follow their store's spec; in files they keep their own layout. */
	if (!(env->acct_be = calloc(env->nvhosts ? env->nvhosts : 1, sizeof(*env->acct_be)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t h = 0; h < env->nvhosts; h++) {
		struct sto_backend *b = sto_backend_uncached(sto_env_backend(env, h, STO_ACCOUNTS_STORE));
		if (strcmp(b->ops->name, "file") != 0)
			env->acct_be[h] = b;
	}
	return 0;
}

/* The most specific match wins: this host and store, this host's "*", any host's store. */
struct sto_backend *sto_env_backend(struct sto_env *env, size_t host, const char *store)
{
	struct sto_backend *best = env->backend;
	int rank = 0;

	for (size_t i = 0; i < env->nstores; i++) {
		const struct sto_store_be *o = &env->stores[i];
		int r = 0;
		if (o->host == (int)host && strcmp(o->store, store) == 0)
			r = 3;
		else if (o->host == (int)host && strcmp(o->store, "*") == 0)
			r = 2;
		else if (o->host < 0 && strcmp(o->store, store) == 0)
			r = 1;
		if (r > rank) {
			rank = r;
			best = o->backend;
		}
	}
	return best;
}

int sto_env_open(struct sto_env *env, const struct sto_settings *s, char *err, size_t errlen)
{
	memset(env, 0, sizeof(*env));
	if (s->scram_iter < STO_SCRAM_ITER_MIN || s->scram_iter > STO_SCRAM_ITER_MAX) {
		snprintf(err, errlen, "SCRAM iteration count %u outside %u..%u",
			 (unsigned)s->scram_iter, STO_SCRAM_ITER_MIN, STO_SCRAM_ITER_MAX);
		return -1;
	}
	env->scram_iter = s->scram_iter;
	env->vhosts = calloc(s->nvhosts ? s->nvhosts : 1, sizeof(char *));
	if (!env->vhosts) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < s->nvhosts; i++) {
		if (!(env->vhosts[i] = strdup(s->vhosts[i]))) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		env->nvhosts = i + 1;
	}
	env->file = sto_file_open(s->datadir, s->vhosts, s->nvhosts, err, errlen);
	if (!env->file || sto_secret_load(s->datadir, env->secret, err, errlen) < 0 ||
	    sto_env_backends(env, s, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	sto_env_close(env);
	return -1;
}

void sto_env_close(struct sto_env *env)
{
	sto_file_close(env->file);
	for (size_t i = 0; i < env->nstores; i++)
		env->stores[i].backend->ops->close(env->stores[i].backend);
	free(env->stores);
	free(env->acct_be);
	if (env->backend)
		env->backend->ops->close(env->backend);
	for (size_t i = 0; i < env->nvhosts; i++)
		free(env->vhosts[i]);
	free(env->vhosts);
	explicit_bzero(env->secret, sizeof(env->secret));
	memset(env, 0, sizeof(*env));
}

int sto_env_host(const struct sto_env *env, const char *host)
{
	for (size_t i = 0; i < env->nvhosts; i++)
		if (strcmp(env->vhosts[i], host) == 0)
			return (int)i;
	return -1;
}
