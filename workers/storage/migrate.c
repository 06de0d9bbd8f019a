/* xmppd-storage --migrate: a one-shot copy of everything (accounts with their verifiers,
 * keyval, map and archive stores) from one backend to another while the server is stopped.
 * Runs unsandboxed as the invoking user, never as a worker; prints counts per host. */
#include "storage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "xlimits.h"
#include "sto.h"

struct mig_counts {
	unsigned long accounts, keyval, map, archive, archive_present;
};

/* "file:/datadir" | "postgresql:conninfo" | "mongodb:uri" into spec; datadir gets the file
 * directory (or a scratch directory for the SCRAM secret of other backends). */
static int mig_spec(char *text, struct sto_be_spec *spec, const char **datadir, char *scratch)
{
	char *colon = strchr(text, ':');
	memset(spec, 0, sizeof(*spec));
	if (!colon)
		return -1;
	*colon = 0;
	spec->name = text;
	if (strcmp(text, "file") == 0) {
		if (colon[1] != '/')
			return -1;
		*datadir = colon + 1;
		return 0;
	}
	spec->arg = colon + 1;
	if (!mkdtemp(scratch))
		return -1;
	*datadir = scratch;
	return 0;
}

static int mig_accounts(struct sto_env *src, struct sto_env *dst, size_t h, struct mig_counts *c,
			char *why)
{
	struct sto_names names = {0};
	struct sto_account a;
	int rc = sto_acct_list(src, h, &names, why, STO_WHY_LEN);

	for (size_t i = 0; rc == STO_OK && i < names.n; i++) {
		rc = sto_acct_get(src, h, names.v[i], &a, why, STO_WHY_LEN);
		if (rc == STO_OK) {
			rc = sto_acct_put(dst, h, names.v[i], &a, 1, why, STO_WHY_LEN);
			if (rc == STO_EEXISTS)
				rc = sto_acct_put(dst, h, names.v[i], &a, 0, why, STO_WHY_LEN);
		}
		explicit_bzero(&a, sizeof(a));
		c->accounts += rc == STO_OK;
	}
	sto_names_free(&names);
	return rc;
}

static int mig_kv(struct sto_backend *s, struct sto_backend *d, struct sto_where *w,
		  struct mig_counts *c, char *why)
{
	struct sto_names users = {0};
	struct buf v;
	int rc = s->ops->kv_users(s, w, &users, why);

	buf_init(&v);
	if (rc == STO_OK && sto_names_push(&users, "") < 0)	/* the host-wide entry */
		rc = STO_EIO;
	for (size_t i = 0; rc == STO_OK && i < users.n; i++) {
		w->user = users.v[i];
		buf_reset(&v);
		rc = s->ops->kv_get(s, w, &v, why);
		if (rc == STO_OK && (rc = d->ops->kv_set(d, w, v.data, v.len, 0, why)) == STO_OK)
			c->keyval++;
		else if (rc == STO_ENOTFOUND)
			rc = STO_OK;
	}
	buf_free(&v);
	sto_names_free(&users);
	return rc;
}

static int mig_map(struct sto_backend *s, struct sto_backend *d, struct sto_where *w,
		   struct mig_counts *c, char *why)
{
	struct sto_names users = {0};
	struct buf v;
	int rc = s->ops->shape_users(s, w, STO_SHAPE_MAP, &users, why);

	buf_init(&v);
	for (size_t i = 0; rc == STO_OK && i < users.n; i++) {
		struct sto_names keys = {0};
		w->user = users.v[i];
		rc = s->ops->map_keys(s, w, &keys, why);
		for (size_t k = 0; rc == STO_OK && k < keys.n; k++) {
			w->key = keys.v[k];
			buf_reset(&v);
			rc = s->ops->map_get(s, w, &v, why);
			if (rc == STO_OK && (rc = d->ops->map_set(d, w, v.data, v.len, 0, why)) == STO_OK)
				c->map++;
		}
		sto_names_free(&keys);
	}
	buf_free(&v);
	sto_names_free(&users);
	return rc;
}

static int mig_archive(struct sto_backend *s, struct sto_backend *d, struct sto_where *w,
		       struct mig_counts *c, char *why)
{
	struct sto_names users = {0};
	struct buf v;
	int rc = s->ops->shape_users(s, w, STO_SHAPE_ARCH, &users, why);

	buf_init(&v);
	for (size_t i = 0; rc == STO_OK && i < users.n; i++) {
		struct sto_meta_list l = {0};
		w->user = users.v[i];
		rc = s->ops->arch_meta(s, w, &l, why);
		for (size_t k = 0; rc == STO_OK && k < l.n; k++) {
			buf_reset(&v);
			rc = s->ops->arch_value(s, w, l.v[k].ref, &v, why);
			if (rc == STO_OK)
				rc = d->ops->arch_append(d, w, l.v[k].id, l.v[k].when, l.v[k].with,
							 v.data, v.len, why);
			if (rc == STO_EEXISTS) {	/* a rerun after an interrupted migration */
				c->archive_present++;
				rc = STO_OK;
			} else if (rc == STO_OK) {
				c->archive++;
			}
		}
		sto_meta_free(&l);
	}
	buf_free(&v);
	sto_names_free(&users);
	return rc;
}

typedef int (*mig_shape_fn)(struct sto_backend *s, struct sto_backend *d, struct sto_where *w,
			    struct mig_counts *c, char *why);

static int mig_host(struct sto_env *src, struct sto_env *dst, size_t h, struct mig_counts *c,
		    char *why)
{
	static const mig_shape_fn fns[] = {mig_kv, mig_map, mig_archive};
	struct sto_backend *s = sto_backend_uncached(src->backend);
	struct sto_backend *d = sto_backend_uncached(dst->backend);
	int rc = mig_accounts(src, dst, h, c, why);

	for (int shape = STO_SHAPE_KV; rc == STO_OK && shape <= STO_SHAPE_ARCH; shape++) {
		struct sto_names stores = {0};
		rc = s->ops->stores(s, h, shape, &stores, why);
		for (size_t i = 0; rc == STO_OK && i < stores.n; i++) {
			struct sto_where w = {h, src->vhosts[h], stores.v[i], "", ""};
			if (strcmp(stores.v[i], STO_ACCOUNTS_STORE) == 0)
				continue;	/* copied as accounts above */
			rc = fns[shape](s, d, &w, c, why);
		}
		sto_names_free(&stores);
	}
	return rc;
}

static void mig_usage(void)
{
	fprintf(stderr, "usage: xmppd-storage --migrate FROM TO --host HOST [--host HOST ...]\n"
			"  FROM, TO: file:/DATADIR | postgresql:CONNINFO\n");
}

int sto_migrate_main(int argc, char **argv)
{
	const char *hosts[MAX_MIGRATE_HOSTS], *sdir = NULL, *ddir = NULL;
	char stmp[] = "/tmp/xmppd-migrate.XXXXXX", dtmp[] = "/tmp/xmppd-migrate.XXXXXX";
	char err[512], why[STO_WHY_LEN] = "";
	struct sto_be_spec sspec, dspec;
	struct sto_env src, dst;
	size_t nhosts = 0;
	int rc = 1;
	char *sarg = argc > 3 ? strdup(argv[2]) : NULL, *darg = argc > 3 ? strdup(argv[3]) : NULL;

	for (int i = 4; i + 1 < argc && nhosts < MAX_MIGRATE_HOSTS; i += 2)
		if (strcmp(argv[i], "--host") == 0 && sto_host_valid(argv[i + 1]))
			hosts[nhosts++] = argv[i + 1];
	if (argc < 6 || (size_t)(argc - 4) != 2 * nhosts || !sarg || !darg ||
	    mig_spec(sarg, &sspec, &sdir, stmp) < 0 || mig_spec(darg, &dspec, &ddir, dtmp) < 0) {
		mig_usage();
		rc = 2;
		goto out;
	}
	struct sto_settings ss = {sdir, hosts, nhosts, SCRAM_ITERATIONS_DEFAULT, &sspec, 1};
	struct sto_settings ds = {ddir, hosts, nhosts, SCRAM_ITERATIONS_DEFAULT, &dspec, 1};
	if (sto_env_open(&src, &ss, err, sizeof(err)) < 0) {
		fprintf(stderr, "xmppd-storage: cannot open %s: %s\n", sspec.name, err);
		goto out;
	}
	if (sto_env_open(&dst, &ds, err, sizeof(err)) < 0) {
		fprintf(stderr, "xmppd-storage: cannot open %s: %s\n", dspec.name, err);
		sto_env_close(&src);
		goto out;
	}
	rc = 0;
	for (size_t h = 0; h < nhosts && rc == 0; h++) {
		struct mig_counts c = {0};
		int st = mig_host(&src, &dst, h, &c, why);
		printf("%s: accounts %lu, keyval %lu, map %lu, archive %lu (already there %lu)\n",
		       hosts[h], c.accounts, c.keyval, c.map, c.archive, c.archive_present);
		if (st != STO_OK) {
			fprintf(stderr, "xmppd-storage: migration of %s stopped: %s\n", hosts[h], why);
			rc = 1;
		}
	}
	sto_env_close(&dst);
	sto_env_close(&src);
out:
	/* Scratch directories hold only a throwaway SCRAM secret and empty account dirs. */
	for (const char *d = stmp; d; d = d == stmp ? dtmp : NULL)
		if (strcmp(d + strlen(d) - 6, "XXXXXX") != 0) {
			char cmd[128];
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
			if (system(cmd) != 0)
				fprintf(stderr, "xmppd-storage: cannot remove %s\n", d);
		}
	if (darg)
		explicit_bzero(darg, strlen(darg));	/* a conninfo may hold a password */
	if (sarg)
		explicit_bzero(sarg, strlen(sarg));
	free(sarg);
	free(darg);
	fflush(stdout);
	return rc;
}
