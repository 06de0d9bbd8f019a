/* Storage durability and operations beyond the shapes: persistence across restarts, torn
 * writes and start-up recovery, concurrent and SIGKILLed workers, the Redis cache
 * (invalidation, TTL, broken connections), per-host/per-store backends, PostgreSQL
 * outages and the file → PostgreSQL migration. */
#include "sto_suite.h"

/* Durable backends: everything survives closing and reopening. */
static void test_persists(void **state)
{
	struct fixture *fx = *state;
	char v[64];
	append_history(fx, "alice");
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", "<v/>"), STO_OK);
	assert_int_equal(map_set(fx, "alice", "k", "mv"), STO_OK);
	sto_env_close(&fx->env);
	open_env(fx);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "<v/>");
	assert_int_equal(map_get(fx, "localhost", "alice", "k", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "mv");
	check_queries(fx, "alice");
}

/* A crash in the middle of an append leaves a torn index record or payload: readers skip
 * it, the next append repairs the index first, and nothing acknowledged is lost. */
static void test_file_torn_append(void **state)
{
	struct fixture *fx = *state;
	char path[256];
	static const uint8_t torn[] = {0x58, 0x41, 0x49, 0x31, 0, 0, 0, 40, 1, 2, 3};
	append_history(fx, "alice");
	snprintf(path, sizeof(path), "%s/localhost/archive/archive/alice/index", fx->dir);
	append_garbage(path, torn, sizeof(torn));
	snprintf(path, sizeof(path), "%s/localhost/archive/archive/alice/seg.00000000", fx->dir);
	append_garbage(path, "half a payload", 14);
	check_queries(fx, "alice");
	struct buf b, rep;
	req(&b, STO_OP_ARCH_APPEND, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_VALUE, "<message><body>m60</body></message>"), 0);
	assert_int_equal(tlv_put_u64(&b, STO_T_WHEN, T0 + 60000), 0);
	assert_int_equal(tlv_put_str(&b, STO_T_WITH, "bob@localhost"), 0);
	assert_int_equal(send_drop(fx, &b), STO_OK);
	struct aq last = {"last two", 0, 0, NULL, NULL, NULL, NULL, 2, 1, 1, STO_OK, "60,59", 0, 61};
	char got[64];
	uint32_t c, tot;
	assert_int_equal(run_query(fx, "alice", &last, &rep), STO_OK);
	items_of(&rep, got, sizeof(got), &c, &tot);
	assert_string_equal(got, "60,59");
	assert_int_equal(tot, 61);
	buf_free(&rep);
}

/* The cache serves reads (a write behind its back is not seen), is invalidated by writes
 * through it, and expires after its TTL. */
static void test_cache(void **state)
{
	struct fixture *fx = *state, raw;
	char v[64], url[700];

	memset(&raw, 0, sizeof(raw));
	snprintf(raw.dir, sizeof(raw.dir), "%s", fx->dir);
	raw.spec.name = "file";
	open_env(&raw);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", "v1"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_int_equal(kv_set(&raw, "localhost", "vcard", "alice", "behind"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "v1");
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", "v2"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "v2");
	/* absences are cached and invalidated too */
	assert_int_equal(kv_get(fx, "localhost", "vcard", "bob", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "bob", "b"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "bob", v, sizeof(v)), STO_OK);
	/* map keys removed by delete_all leave no cached copy */
	assert_int_equal(map_set(fx, "alice", "k", "mv"), STO_OK);
	assert_int_equal(map_get(fx, "localhost", "alice", "k", v, sizeof(v)), STO_OK);
	struct buf b;
	req(&b, STO_OP_MAP_DELETE_ALL, "localhost", "private", NULL);
	assert_int_equal(tlv_put_str(&b, STO_T_KEY, "k"), 0);
	assert_int_equal(send_drop(fx, &b), STO_OK);
	assert_int_equal(map_get(fx, "localhost", "alice", "k", v, sizeof(v)), STO_ENOTFOUND);
	/* a 1 s TTL */
	sto_env_close(&fx->env);
	snprintf(url, sizeof(url), "%s&ttl=1", fx->spec.cache_url);
	fx->spec.cache_url = url;
	open_env(fx);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_int_equal(kv_set(&raw, "localhost", "vcard", "alice", "later"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "v2");
	usleep(2100 * 1000);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "later");
	sto_env_close(&raw.env);

	/* The connection to Redis breaks while a write's invalidation is due: the write still
	 * succeeds, and the cached old value is never served afterwards (the delete is
	 * replayed before the cache is used again). */
	char cmd[800];
	const char *base = service("XMPPD_TEST_REDIS");
	sto_env_close(&fx->env);
	fx->spec.cache_url = redis_url();	/* the default TTL: nothing expires during this */
	open_env(fx);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "dave", "old"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "dave", v, sizeof(v)), STO_OK);	/* cached */
	snprintf(cmd, sizeof(cmd), "redis-cli -u '%s' CLIENT KILL TYPE normal >/dev/null", base);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "dave", "new"), STO_OK);	/* DEL fails */
	assert_int_equal(kv_get(fx, "localhost", "vcard", "dave", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "new");
	usleep(1300 * 1000);	/* Redis answers again, the cache reconnects */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(kv_get(fx, "localhost", "vcard", "dave", v, sizeof(v)), STO_OK);
		assert_string_equal(v, "new");
	}
}

/* file → PostgreSQL keeps every login and every item. fx is a PostgreSQL fixture. */
static void test_migrate_file_to_pg(void **state)
{
	struct fixture *fx = *state, f;
	struct buf rep;
	struct tlv t;
	char v[256], salt_before[64], from[100], to[700];
	size_t salt_len;

	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/test_sto_mig.XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	f.spec.name = "file";
	open_env(&f);
	assert_int_equal(acct_call(&f, STO_OP_ACCOUNT_CREATE, "alice", "pw", &rep), STO_OK);
	buf_free(&rep);
	assert_int_equal(acct_call(&f, STO_OP_SCRAM_PARAMS, "alice", NULL, &rep), STO_OK);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_SALT, &t), 1);
	memcpy(salt_before, t.val, t.len);
	salt_len = t.len;
	buf_free(&rep);
	assert_int_equal(kv_set(&f, "localhost", "roster", "alice", "<query/>"), STO_OK);
	assert_int_equal(kv_set(&f, "localhost", "roster", "", "host"), STO_OK);
	assert_int_equal(kv_set(&f, "example.org", "vcard", "zed", "<vCard/>"), STO_OK);
	assert_int_equal(map_set(&f, "alice", "storage:bookmarks", "<b/>"), STO_OK);
	append_history(&f, "alice");
	sto_env_close(&f.env);

	snprintf(from, sizeof(from), "file:%s", f.dir);
	snprintf(to, sizeof(to), "postgresql:%s", fx->spec.arg);
	char *argv[] = {"xmppd-storage", "--migrate", from, to, "--host", "localhost", "--host",
			"example.org", NULL};
	assert_int_equal(sto_migrate_main(8, argv), 0);
	/* twice: a rerun copies nothing twice */
	assert_int_equal(sto_migrate_main(8, argv), 0);

	assert_int_equal(acct_call(fx, STO_OP_SCRAM_PARAMS, "alice", NULL, &rep), STO_OK);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_SALT, &t), 1);
	assert_int_equal(t.len, salt_len);
	assert_memory_equal(t.val, salt_before, salt_len);
	buf_free(&rep);
	assert_int_equal(kv_get(fx, "localhost", "roster", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "<query/>");
	assert_int_equal(kv_get(fx, "localhost", "roster", "", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "host");
	assert_int_equal(kv_get(fx, "example.org", "vcard", "zed", v, sizeof(v)), STO_OK);
	assert_int_equal(map_get(fx, "localhost", "alice", "storage:bookmarks", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "<b/>");
	check_queries(fx, "alice");
	struct aq all = {"all", 0, 0, NULL, NULL, NULL, NULL, -1, 0, 1, STO_OK, "", 1, HIST};
	uint32_t c, tot;
	assert_int_equal(run_query(fx, "alice", &all, &rep), STO_OK);
	items_of(&rep, v, sizeof(v), &c, &tot);
	assert_int_equal(tot, HIST);
	buf_free(&rep);
	snprintf(v, sizeof(v), "rm -rf '%s'", f.dir);
	assert_int_equal(system(v), 0);
}

/* On start the file backend cuts torn index tails off, so the index is clean again. */
static void test_file_recovery_at_start(void **state)
{
	struct fixture *fx = *state;
	char path[256];
	struct stat st;
	off_t clean;
	static const uint8_t torn[] = {0x58, 0x41, 0x49, 0x31, 0, 0, 1, 0, 9, 9};

	append_history(fx, "alice");
	snprintf(path, sizeof(path), "%s/localhost/archive/archive/alice/index", fx->dir);
	assert_int_equal(stat(path, &st), 0);
	clean = st.st_size;
	append_garbage(path, torn, sizeof(torn));
	sto_env_close(&fx->env);
	open_env(fx);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, clean);
	check_queries(fx, "alice");
}

/* Backends per host and per store: example.org entirely in files, every host's "archive" in
 * files, the rest (and localhost's accounts) in memory. */
static void test_per_host_and_store(void **state)
{
	struct fixture *fx = *state;
	const struct sto_be_spec specs[] = {
		{.name = "memory"},
		{.store = "*", .host = "example.org", .name = "file"},
		{.store = "archive", .name = "file"},
		{.store = "roster", .host = "nowhere.example", .name = "file"},
	};
	struct sto_settings s = {.datadir = fx->dir, .vhosts = hosts, .nvhosts = 2,
				 .scram_iter = 4096, .specs = specs, .nspecs = 4};
	char err[256], path[256], v[64];
	struct stat st;
	struct buf rep;

	sto_env_close(&fx->env);
	if (sto_env_open(&fx->env, &s, err, sizeof(err)) < 0)
		fail_msg("sto_env_open: %s", err);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", "mem"), STO_OK);
	assert_int_equal(kv_set(fx, "example.org", "vcard", "alice", "disk"), STO_OK);
	append_history(fx, "alice");
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_CREATE, "bob", "pw", &rep), STO_OK);
	buf_free(&rep);
	snprintf(path, sizeof(path), "%s/localhost/kv/vcard", fx->dir);
	assert_int_equal(stat(path, &st), -1);
	snprintf(path, sizeof(path), "%s/example.org/kv/vcard/alice", fx->dir);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/localhost/archive/archive/alice/index", fx->dir);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/localhost/accounts/bob", fx->dir);
	assert_int_equal(stat(path, &st), -1);	/* localhost's accounts are in memory */
	/* a restart keeps exactly what is on disk */
	sto_env_close(&fx->env);
	assert_int_equal(sto_env_open(&fx->env, &s, err, sizeof(err)), 0);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(kv_get(fx, "example.org", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "disk");
	check_queries(fx, "alice");
}

/* Two storage workers appending to one archive at once (file backend, flock): every item
 * lands once, the index stays clean. */
static void test_file_two_writers(void **state)
{
	struct fixture *fx = *state;
	struct buf rep;
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct fixture child;
		memset(&child, 0, sizeof(child));
		memcpy(child.dir, fx->dir, sizeof(child.dir));
		child.spec.name = "file";
		open_env(&child);
		append_n(&child, "c", 150);
		sto_env_close(&child.env);
		_exit(0);
	}
	append_n(fx, "p", 150);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	struct aq all = {"all", 0, 0, NULL, NULL, NULL, NULL, 0, 0, 1, STO_OK, "", 0, 300};
	char got[16];
	uint32_t c, tot;
	for (int k = 0; k < 2; k++) {
		struct aq one = all;
		one.with = k ? "c" : "p";
		assert_int_equal(run_query(fx, "shared", &one, &rep), STO_OK);
		items_of(&rep, got, sizeof(got), &c, &tot);
		assert_int_equal(tot, 150);
		buf_free(&rep);
	}
	/* another worker deletes; this one's cached index sees it */
	struct fixture other;
	struct buf b;
	memset(&other, 0, sizeof(other));
	memcpy(other.dir, fx->dir, sizeof(other.dir));
	other.spec.name = "file";
	open_env(&other);
	req(&b, STO_OP_ARCH_DELETE, "localhost", "archive", "shared");
	assert_int_equal(tlv_put_str(&b, STO_T_WITH, "c"), 0);
	assert_int_equal(send_drop(&other, &b), STO_OK);
	append_n(&other, "o", 5);
	sto_env_close(&other.env);
	assert_int_equal(run_query(fx, "shared", &all, &rep), STO_OK);
	items_of(&rep, got, sizeof(got), &c, &tot);
	assert_int_equal(tot, 155);
	buf_free(&rep);
	sto_env_close(&fx->env);
	open_env(fx);
	assert_int_equal(run_query(fx, "shared", &all, &rep), STO_OK);
	items_of(&rep, got, sizeof(got), &c, &tot);
	assert_int_equal(tot, 155);
	buf_free(&rep);
}

/* Cache URLs are checked when the backend opens; Redis itself may be down. */
static void test_cache_urls(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *url;
		int ok;
	} urls[] = {
		{"redis://127.0.0.1:1", 1},
		{"redis://127.0.0.1:1/3?ttl=5&prefix=site-a", 1},
		{"redis://localhost/?prefix=x", 1},
		{"http://127.0.0.1:6379", 0},
		{"redis://127.0.0.1:99999", 0},
		{"redis://127.0.0.1:1/16", 0},
		{"redis://127.0.0.1:1/0?ttl=0", 0},
		{"redis://127.0.0.1:1/0?prefix=a:b", 0},
		{"redis://127.0.0.1:1/0?color=red", 0},
		{"redis://", 0},
	};
	sto_env_close(&fx->env);
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct sto_be_spec spec = {.name = "memory", .cache_url = urls[i].url};
		struct sto_settings s = {.datadir = fx->dir, .vhosts = hosts, .nvhosts = 2,
					 .scram_iter = 4096, .specs = &spec, .nspecs = 1};
		char err[256];
		int rc = sto_env_open(&fx->env, &s, err, sizeof(err));
		if ((rc == 0) != urls[i].ok)
			fail_msg("%s: open %d", urls[i].url, rc);
		if (rc == 0)
			sto_env_close(&fx->env);
	}
	open_env(fx);
}

/* A worker killed (SIGKILL) in the middle of a stream of appends and keyval writes: everything
 * it acknowledged is there afterwards, and the archive still reads and appends. */
static void test_kill9_during_writes(void **state)
{
	struct fixture *fx = *state;
	unsigned acked = 0, inflight[3];

	for (int round = 0; round < 3; round++) {
		int fds[2], status;
		assert_int_equal(pipe(fds), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct fixture child = *fx;
			close(fds[0]);
			open_env(&child);
			for (unsigned i = acked; i < acked + 5000; i++) {
				char id[16], v[16];
				struct buf b;
				snprintf(id, sizeof(id), "k%u", i);
				req(&b, STO_OP_ARCH_APPEND, "localhost", "archive", "crash");
				assert_int_equal(tlv_put_str(&b, STO_T_VALUE, "<message><body>m1</body></message>"), 0);
				assert_int_equal(tlv_put_u64(&b, STO_T_WHEN, T0 + i), 0);
				assert_int_equal(tlv_put_str(&b, STO_T_WITH, "w"), 0);
				assert_int_equal(tlv_put_str(&b, STO_T_ID, id), 0);
				snprintf(v, sizeof(v), "v%u", i);
				if (send_drop(&child, &b) != STO_OK ||
				    kv_set(&child, "localhost", "crashkv", id, v) != STO_OK)
					_exit(1);
				if (write(fds[1], &i, sizeof(i)) != sizeof(i))	/* acknowledged */
					_exit(1);
			}
			_exit(0);
		}
		close(fds[1]);
		unsigned last = 0, n = 0;
		while (n < 40u + 20u * (unsigned)round && read(fds[0], &last, sizeof(last)) == sizeof(last))
			n++;
		kill(pid, SIGKILL);
		while (read(fds[0], &last, sizeof(last)) == sizeof(last))
			n++;	/* acknowledged before the kill landed */
		close(fds[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(n > 0);
		acked = last + 1;
		/* a fresh worker (start-up recovery included) has every acknowledged write */
		sto_env_close(&fx->env);
		open_env(fx);
		for (unsigned i = 0; i < acked; i++) {
			char id[16], v[16], want[16];
			struct buf b, rep;
			int skip = 0;
			for (int r = 0; r < round; r++)
				skip |= inflight[r] == i;
			if (skip)
				continue;
			snprintf(id, sizeof(id), "k%u", i);
			req(&b, STO_OP_ARCH_GET, "localhost", "archive", "crash");
			assert_int_equal(tlv_put_str(&b, STO_T_ID, id), 0);
			if (send_req(fx, &b, &rep) != STO_OK)
				fail_msg("round %d: acknowledged item %s lost", round, id);
			buf_free(&rep);
			snprintf(want, sizeof(want), "v%u", i);
			if (kv_get(fx, "localhost", "crashkv", id, v, sizeof(v)) != STO_OK || strcmp(v, want))
				fail_msg("round %d: acknowledged value %s lost", round, id);
		}
		/* the write in flight when the kill landed may or may not be there */
		inflight[round] = acked++;
	}
}

/* PostgreSQL down at start: the backend opens and answers STO_EUNAVAIL (no server needed);
 * a malformed connection string is refused at once. */
static void test_pg_unreachable(void **state)
{
	struct fixture *fx = *state;
	struct sto_be_spec spec = {.name = "postgresql", .arg = "host=127.0.0.1 port=1 connect_timeout=2"};
	struct sto_settings s = {.datadir = fx->dir, .vhosts = hosts, .nvhosts = 2,
				 .scram_iter = 4096, .specs = &spec, .nspecs = 1};
	char err[256], v[16];
	struct buf rep;

	sto_env_close(&fx->env);
	assert_int_equal(sto_env_open(&fx->env, &s, err, sizeof(err)), 0);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_EUNAVAIL);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", "x"), STO_EUNAVAIL);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_CREATE, "alice", "pw", &rep), STO_EUNAVAIL);
	buf_free(&rep);
	sto_env_close(&fx->env);
	spec.arg = "host=127.0.0.1 port";
	assert_int_equal(sto_env_open(&fx->env, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "connection string"));
	open_env(fx);
}


int main(void)
{
	const struct CMUnitTest memory[] = {
		cmocka_unit_test_setup_teardown(test_cache_urls, setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_pg_unreachable, setup_memory, teardown),
	};
	const struct CMUnitTest file[] = {
		cmocka_unit_test_setup_teardown(test_persists, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_file_torn_append, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_file_recovery_at_start, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_per_host_and_store, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_file_two_writers, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_during_writes, setup_file, teardown),
	};
	const struct CMUnitTest pg[] = {
		cmocka_unit_test_setup_teardown(test_persists, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_file_to_pg, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_during_writes, setup_pg, teardown),
	};
	const struct CMUnitTest redis[] = {
		cmocka_unit_test_setup_teardown(test_cache, setup_file_redis, teardown),
	};
	const struct CMUnitTest mongo[] = {
		cmocka_unit_test_setup_teardown(test_persists, setup_mongo, teardown),
	};
	int failed = cmocka_run_group_tests_name("memory", memory, NULL, NULL);
	failed += cmocka_run_group_tests_name("file", file, NULL, NULL);
	if (service("XMPPD_TEST_POSTGRESQL"))
		failed += cmocka_run_group_tests_name("postgresql", pg, NULL, NULL);
	else
		printf("postgresql: skipped (no XMPPD_TEST_POSTGRESQL; tools/services.sh start)\n");
	if (service("XMPPD_TEST_REDIS"))
		failed += cmocka_run_group_tests_name("redis cache", redis, NULL, NULL);
	else
		printf("redis cache: skipped (no XMPPD_TEST_REDIS; tools/services.sh start)\n");
	pg_drop_db();
	if (getenv("XMPPD_TEST_MONGODB_URI") && *getenv("XMPPD_TEST_MONGODB_URI"))
		failed += cmocka_run_group_tests_name("mongodb", mongo, NULL, NULL);
	else
		printf("mongodb: skipped (set XMPPD_TEST_MONGODB_URI=mongodb://HOST:PORT to run)\n");
	return failed ? 1 : 0;
}
