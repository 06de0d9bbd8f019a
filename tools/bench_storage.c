/* Storage benchmark (not a test): keyval set/get and archive append/find operations per second
 * through sto_dispatch on each backend, with the memory backend as the baseline of the same run.
 *   make build/libstorage.a build/libruntime.a build/libcommon.a
 *   cc -O2 -Icommon -Iipc -I. tools/bench_storage.c build/libstorage.a build/libruntime.a \
 *      build/libcommon.a $(LIBS) -lpq -lhiredis $(pkg-config --libs libmongoc-1.0) -o build/bench_storage
 *   taskset -c 1 build/bench_storage [SECONDS] [POSTGRESQL-CONNINFO] [REDIS-URL]
 * Every loop is bounded by a count and by time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "sto.h"
#include "tlv.h"
#include "workers/storage/storage.h"

#define BENCH_MAX_OPS 200000u
#define BENCH_USERS 1000u
#define BENCH_HISTORY 2000u	/* archive items before find is measured */

static const char *const hosts[] = {"localhost"};
static double bench_seconds = 1.0;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t call(struct sto_env *env, struct buf *req)
{
	struct buf rep;
	struct rbuf r;
	struct tlv t;
	uint32_t st = 999;
	buf_init(&rep);
	sto_dispatch(env, req->data, req->len, &rep);
	rbuf_init(&r, rep.data, rep.len);
	if (tlv_next(&r, &t) == 1)
		tlv_u32(&t, &st);
	buf_free(&rep);
	buf_free(req);
	return st;
}

static void head(struct buf *b, uint32_t op, const char *store, const char *user)
{
	buf_init(b);
	tlv_put_u32(b, STO_T_OP, op);
	tlv_put_str(b, STO_T_HOST, "localhost");
	tlv_put_str(b, STO_T_STORE, store);
	tlv_put_str(b, STO_T_USER, user);
}

enum bench_op { B_KV_SET, B_KV_GET, B_ARCH_APPEND, B_ARCH_FIND, B_NOPS };
static const char *const bench_names[B_NOPS] = {"keyval set", "keyval get", "archive append",
						 "archive find (20 after an id, of 2000)"};

static uint32_t one(struct sto_env *env, enum bench_op op, unsigned i)
{
	char user[32], val[512], id[32];
	struct buf b;
	snprintf(user, sizeof(user), "u%u", i % BENCH_USERS);
	switch (op) {
	case B_KV_SET:
		head(&b, STO_OP_KV_SET, "vcard", user);
		snprintf(val, sizeof(val), "<vCard xmlns='vcard-temp'><FN>User %u</FN><NOTE>%0200u</NOTE></vCard>", i, i);
		tlv_put_str(&b, STO_T_VALUE, val);
		break;
	case B_KV_GET:
		head(&b, STO_OP_KV_GET, "vcard", user);
		break;
	case B_ARCH_APPEND:
		head(&b, STO_OP_ARCH_APPEND, "archive", "alice");
		snprintf(val, sizeof(val), "<message to='bob@localhost' type='chat'><body>message %u</body></message>", i);
		tlv_put_str(&b, STO_T_VALUE, val);
		tlv_put_u64(&b, STO_T_WHEN, 1700000000000ull + i);
		tlv_put_str(&b, STO_T_WITH, i % 2 ? "bob@localhost" : "carol@localhost");
		break;
	default:
		head(&b, STO_OP_ARCH_FIND, "archive", "alice");
		snprintf(id, sizeof(id), "h%u", (i * 7919u) % (BENCH_HISTORY - 40));
		tlv_put_str(&b, STO_T_AFTER, id);
		tlv_put_u32(&b, STO_T_LIMIT, 20);
		break;
	}
	return call(env, &b);
}

/* ops/s of op, or -1 when an operation failed. */
static double measure(struct sto_env *env, enum bench_op op)
{
	double t0 = now_s(), t = t0;
	unsigned n = 0;
	while (n < BENCH_MAX_OPS && (t = now_s()) - t0 < bench_seconds) {
		for (unsigned k = 0; k < 16; k++, n++)
			if (one(env, op, n) != STO_OK)
				return -1;
	}
	return n / (t - t0);
}

static int prefill(struct sto_env *env)
{
	for (unsigned i = 0; i < BENCH_HISTORY; i++) {
		struct buf b;
		char id[32];
		head(&b, STO_OP_ARCH_APPEND, "archive", "alice");
		tlv_put_str(&b, STO_T_VALUE, "<message><body>history</body></message>");
		tlv_put_u64(&b, STO_T_WHEN, 1600000000000ull + i);
		tlv_put_str(&b, STO_T_WITH, "bob@localhost");
		snprintf(id, sizeof(id), "h%u", i);
		tlv_put_str(&b, STO_T_ID, id);
		if (call(env, &b) != STO_OK)
			return -1;
	}
	for (unsigned i = 0; i < BENCH_USERS; i++)
		if (one(env, B_KV_SET, i) != STO_OK)
			return -1;
	return 0;
}

static int run(const char *label, const char *name, const char *arg, const char *cache,
	       double *out)
{
	char dir[] = "/tmp/bench_storage.XXXXXX", err[256], cmd[64];
	struct sto_be_spec spec = {.name = name, .arg = arg, .cache_url = cache};
	struct sto_settings s = {dir, hosts, 1, 4096, &spec, 1};
	struct sto_env env;

	if (!mkdtemp(dir) || sto_env_open(&env, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", label, err);
		return -1;
	}
	int rc = prefill(&env);
	/* find first (history only), then the rest */
	static const enum bench_op order[] = {B_ARCH_FIND, B_KV_SET, B_KV_GET, B_ARCH_APPEND};
	for (size_t k = 0; rc == 0 && k < B_NOPS; k++)
		out[order[k]] = measure(&env, order[k]);
	sto_env_close(&env);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return rc;
}

int main(int argc, char **argv)
{
	const char *pg = argc > 2 ? argv[2] : NULL, *redis = argc > 3 ? argv[3] : NULL;
	static const char *const labels[] = {"memory", "file", "postgresql", "postgresql+redis"};
	double r[4][B_NOPS] = {{0}};
	int ok[4] = {0};

	if (argc > 1)
		bench_seconds = atof(argv[1]) > 0 ? atof(argv[1]) : 1.0;
	ok[0] = run("memory", "memory", NULL, NULL, r[0]) == 0;
	ok[1] = run("file", "file", NULL, NULL, r[1]) == 0;
	if (pg) {
		char drop[700];
		snprintf(drop, sizeof(drop), "psql -q '%s' -c 'DROP TABLE IF EXISTS xmppd_kv, xmppd_map, "
			 "xmppd_archive, xmppd_schema' >/dev/null 2>&1", pg);
		ok[2] = system(drop) == 0 && run("postgresql", "postgresql", pg, NULL, r[2]) == 0;
		if (redis && system(drop) == 0)
			ok[3] = run("postgresql+redis", "postgresql", pg, redis, r[3]) == 0;
	}
	printf("%-40s", "ops/s (ratio to memory)");
	for (int k = 0; k < 4; k++)
		if (ok[k])
			printf(" %22s", labels[k]);
	printf("\n");
	for (int op = 0; op < B_NOPS; op++) {
		printf("%-40s", bench_names[op]);
		for (int k = 0; k < 4; k++)
			if (ok[k])
				printf(" %12.0f (%6.4f)", r[k][op], r[k][op] / r[0][op]);
		printf("\n");
	}
	return 0;
}
