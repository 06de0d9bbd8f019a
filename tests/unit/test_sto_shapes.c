/* The backend test suite for keyval, map, archive and accounts, through sto_dispatch: the
 * same cases on every backend (memory, file; PostgreSQL, Redis and MongoDB when their
 * services are there), archive queries cross-checked between backends on identical data,
 * and bad requests. Durability, crashes, caching and migration: test_sto_durable.c. */
#include "sto_suite.h"

/* Sends b (freed), which must succeed, and returns the STO_T_COUNT its reply carries. */
static uint32_t send_count(struct fixture *fx, struct buf *b)
{
	struct buf rep;
	struct tlv t;
	uint32_t n;
	assert_int_equal(send_req(fx, b, &rep), STO_OK);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_COUNT, &t), 1);
	assert_int_equal(tlv_u32(&t, &n), 0);
	buf_free(&rep);
	return n;
}

static void test_keyval(void **state)
{
	struct fixture *fx = *state;
	char v[256];
	struct buf b, rep;

	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", "<vCard/>"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "<vCard/>");
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", "<vCard><FN>A</FN></vCard>"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "<vCard><FN>A</FN></vCard>");
	/* empty values are values */
	assert_int_equal(kv_set(fx, "localhost", "vcard", "carol", ""), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "carol", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "");
	/* isolation: another host, another store */
	assert_int_equal(kv_get(fx, "example.org", "vcard", "alice", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(kv_get(fx, "localhost", "roster", "alice", v, sizeof(v)), STO_ENOTFOUND);
	/* names that could escape a directory stay data */
	assert_int_equal(kv_set(fx, "localhost", "vcard", "../x", "dots"), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "../x", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "dots");
	assert_int_equal(kv_set(fx, "localhost", "vcard", "", "host-wide"), STO_OK);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "bob", "b"), STO_OK);
	assert_int_equal(kv_set(fx, "example.org", "vcard", "zed", "z"), STO_OK);
	req(&b, STO_OP_KV_USERS, "localhost", "vcard", NULL);
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	join_tag(&rep, STO_T_USER, v, sizeof(v));
	assert_string_equal(v, "../x,alice,bob,carol");
	buf_free(&rep);
	/* delete, and delete again */
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", NULL), STO_OK);
	assert_int_equal(kv_set(fx, "localhost", "vcard", "alice", NULL), STO_OK);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "host-wide");
	req(&b, STO_OP_KV_USERS, "localhost", "nothing", NULL);
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	join_tag(&rep, STO_T_USER, v, sizeof(v));
	assert_string_equal(v, "");
	buf_free(&rep);
}

static void test_map(void **state)
{
	struct fixture *fx = *state;
	char v[512];
	struct buf b, rep;

	assert_int_equal(map_get(fx, "localhost", "alice", "jabber:iq:roster", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(map_set(fx, "alice", "storage:bookmarks", "<b/>"), STO_OK);
	assert_int_equal(map_set(fx, "alice", "jabber:iq:roster", "<r/>"), STO_OK);
	assert_int_equal(map_set(fx, "bob", "storage:bookmarks", "<bb/>"), STO_OK);
	assert_int_equal(map_get(fx, "localhost", "alice", "storage:bookmarks", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "<b/>");
	assert_int_equal(map_get(fx, "example.org", "alice", "storage:bookmarks", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(map_set(fx, "alice", "jabber:iq:roster", NULL), STO_OK);
	assert_int_equal(map_get(fx, "localhost", "alice", "jabber:iq:roster", v, sizeof(v)), STO_ENOTFOUND);
	/* set_keys: set two, delete one */
	req(&b, STO_OP_MAP_SET_KEYS, "localhost", "private", "carol");
	put_entry(&b, "k1", "v1");
	put_entry(&b, "k2", "v2");
	put_entry(&b, "k1", NULL);
	assert_int_equal(send_drop(fx, &b), STO_OK);
	assert_int_equal(map_get(fx, "localhost", "carol", "k1", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(map_get(fx, "localhost", "carol", "k2", v, sizeof(v)), STO_OK);
	assert_string_equal(v, "v2");
	/* a bad entry anywhere changes nothing */
	req(&b, STO_OP_MAP_SET_KEYS, "localhost", "private", "carol");
	put_entry(&b, "k3", "v3");
	assert_int_equal(tlv_put(&b, STO_T_ENTRY, "\0\0\0", 3), 0);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	assert_int_equal(map_get(fx, "localhost", "carol", "k3", v, sizeof(v)), STO_ENOTFOUND);
	/* get_all and delete_all across users, the host-wide one and one with a hashed name */
	char longuser[301], want[512];
	memset(longuser, 'a', 300);
	longuser[300] = 0;
	assert_int_equal(map_set(fx, "carol", "storage:bookmarks", "<cb/>"), STO_OK);
	assert_int_equal(map_set(fx, "", "storage:bookmarks", "<hb/>"), STO_OK);
	assert_int_equal(map_set(fx, longuser, "storage:bookmarks", "<lb/>"), STO_OK);
	req(&b, STO_OP_MAP_GET_ALL, "localhost", "private", NULL);
	assert_int_equal(tlv_put_str(&b, STO_T_KEY, "storage:bookmarks"), 0);
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	join_entries(&rep, v, sizeof(v));
	snprintf(want, sizeof(want), "=<hb/>,%s=<lb/>,alice=<b/>,bob=<bb/>,carol=<cb/>", longuser);
	assert_string_equal(v, want);
	buf_free(&rep);
	req(&b, STO_OP_MAP_DELETE_ALL, "localhost", "private", NULL);
	assert_int_equal(tlv_put_str(&b, STO_T_KEY, "storage:bookmarks"), 0);
	assert_int_equal(send_count(fx, &b), 5);
	assert_int_equal(map_get(fx, "localhost", "bob", "storage:bookmarks", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(map_get(fx, "localhost", "carol", "k2", v, sizeof(v)), STO_OK);
	/* delete_user: every key of one user (an account deleted), nobody else's */
	assert_int_equal(map_set(fx, "carol", "k4", "v4"), STO_OK);
	assert_int_equal(map_set(fx, "dave", "k2", "d2"), STO_OK);
	req(&b, STO_OP_MAP_DELETE_USER, "localhost", "private", "carol");
	assert_int_equal(send_count(fx, &b), 2);
	assert_int_equal(map_get(fx, "localhost", "carol", "k2", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(map_get(fx, "localhost", "carol", "k4", v, sizeof(v)), STO_ENOTFOUND);
	assert_int_equal(map_get(fx, "localhost", "dave", "k2", v, sizeof(v)), STO_OK);
	req(&b, STO_OP_MAP_DELETE_USER, "localhost", "private", "carol");	/* nothing left: 0 */
	assert_int_equal(send_count(fx, &b), 0);
}

static void test_archive(void **state)
{
	struct fixture *fx = *state;
	struct buf b, rep;
	struct tlv t, e;
	char got[512];
	uint32_t n, c, tot;

	append_history(fx, "alice");
	check_queries(fx, "alice");
	/* the same id twice is refused */
	req(&b, STO_OP_ARCH_APPEND, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_VALUE, "x"), 0);
	assert_int_equal(tlv_put_u64(&b, STO_T_WHEN, T0), 0);
	assert_int_equal(tlv_put_str(&b, STO_T_WITH, "x@y"), 0);
	assert_int_equal(tlv_put_str(&b, STO_T_ID, "id-04"), 0);
	assert_int_equal(send_drop(fx, &b), STO_EEXISTS);
	/* get */
	req(&b, STO_OP_ARCH_GET, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_ID, "id-42"), 0);
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	items_of(&rep, got, sizeof(got), &c, &tot);
	assert_string_equal(got, "42");
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_ITEM, &t), 1);
	assert_int_equal(tlv_find(t.val, t.len, STO_T_WITH, &e), 1);
	assert_memory_equal(e.val, "bob@localhost", e.len);
	buf_free(&rep);
	/* other users and hosts see nothing */
	req(&b, STO_OP_ARCH_FIND, "example.org", "archive", "alice");
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	items_of(&rep, got, sizeof(got), &c, &tot);
	assert_string_equal(got, "");
	buf_free(&rep);
	/* summary */
	req(&b, STO_OP_ARCH_SUMMARY, "localhost", "archive", "alice");
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	join_tag(&rep, STO_T_ENTRY, got, sizeof(got));
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_ENTRY, &t), 1);
	assert_int_equal(tlv_find(t.val, t.len, STO_T_WITH, &e), 1);
	assert_memory_equal(e.val, "bob@localhost", e.len);
	assert_int_equal(tlv_find(t.val, t.len, STO_T_COUNT, &e), 1);
	assert_int_equal(tlv_u32(&e, &n), 0);
	assert_int_equal(n, 20);
	buf_free(&rep);
	/* delete with a query, then everything */
	req(&b, STO_OP_ARCH_DELETE, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_WITH, "bob@localhost"), 0);
	assert_int_equal(tlv_put_u64(&b, STO_T_END, T0 + 1000ull * 29), 0);
	assert_int_equal(send_count(fx, &b), 10);
	struct aq left = {"bob after delete", 0, 0, "bob@localhost", NULL, NULL, NULL, 2, 0, 1,
			  STO_OK, "30,33", 0, 10};
	assert_int_equal(run_query(fx, "alice", &left, &rep), STO_OK);
	items_of(&rep, got, sizeof(got), &c, &tot);
	assert_string_equal(got, "30,33");
	assert_int_equal(tot, 10);
	buf_free(&rep);
	req(&b, STO_OP_ARCH_DELETE, "localhost", "archive", "alice");
	assert_int_equal(send_count(fx, &b), 50);
	req(&b, STO_OP_ARCH_FIND, "localhost", "archive", "alice");
	assert_int_equal(send_req(fx, &b, &rep), STO_OK);
	items_of(&rep, got, sizeof(got), &c, &tot);
	assert_string_equal(got, "");
	assert_int_equal(c, 1);
	buf_free(&rep);
}

/* Requests that must be refused with STO_EINVAL, changing nothing. */
static void test_bad_requests(void **state)
{
	struct fixture *fx = *state;
	struct buf b;
	char v[16];

	req(&b, STO_OP_KV_SET, "localhost", "Bad/Store", "alice");
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_KV_SET, "localhost", "", "alice");
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_KV_GET, "nowhere.example", "vcard", "alice");
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_KV_GET, "localhost", "vcard", NULL);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_KV_SET, "localhost", "vcard", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_VALUE, "a"), 0);
	assert_int_equal(tlv_put_str(&b, STO_T_VALUE, "b"), 0);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_KV_GET, "localhost", "vcard", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_KEY, "k"), 0);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_ARCH_APPEND, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_VALUE, "x"), 0);
	assert_int_equal(tlv_put_str(&b, STO_T_WHEN, "yesterday"), 0);
	assert_int_equal(tlv_put_str(&b, STO_T_WITH, "a@b"), 0);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_ARCH_FIND, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_u32(&b, STO_T_REVERSE, 2), 0);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_ARCH_GET, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_str(&b, STO_T_ID, "a"), 0);
	assert_int_equal(tlv_put_str(&b, STO_T_ID, "b"), 0);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	req(&b, STO_OP_MAP_GET, "localhost", "private", "alice");
	assert_int_equal(tlv_put(&b, STO_T_KEY, "a\0b", 3), 0);
	assert_int_equal(send_drop(fx, &b), STO_EINVAL);
	assert_int_equal(kv_get(fx, "localhost", "vcard", "alice", v, sizeof(v)), STO_ENOTFOUND);
	/* every truncation of a valid request is refused or answered, never a crash */
	req(&b, STO_OP_ARCH_FIND, "localhost", "archive", "alice");
	assert_int_equal(tlv_put_u32(&b, STO_T_LIMIT, 5), 0);
	for (size_t cut = 0; cut < b.len; cut++) {
		struct buf rep;
		buf_init(&rep);
		sto_dispatch(&fx->env, b.data, cut, &rep);
		assert_true(rep.len > 0);
		buf_free(&rep);
	}
	buf_free(&b);
}

/* Every backend answers every query of a randomized mix the same, byte for byte, except for
 * the generated ids (all ids are given here). */
static void test_cross_check(void **state)
{
	struct fixture *fx = *state, other;
	unsigned seed = 12345;

	memset(&other, 0, sizeof(other));
	snprintf(other.dir, sizeof(other.dir), "/tmp/test_sto_cross.XXXXXX");
	assert_non_null(mkdtemp(other.dir));
	other.spec.name = strcmp(fx->spec.name, "memory") == 0 ? "file" : "memory";
	open_env(&other);
	struct fixture *both[2] = {fx, &other};
	for (unsigned i = 0; i < 200; i++) {
		char id[16], with[32];
		seed = seed * 1103515245u + 12345u;
		snprintf(id, sizeof(id), i == 100 ? "x\"1\\,{}" : "x%u", i);
		snprintf(with, sizeof(with), "p%u@localhost", (seed >> 16) % 5);
		for (int k = 0; k < 2; k++) {
			struct buf b;
			req(&b, STO_OP_ARCH_APPEND, "localhost", "mam", "u");
			assert_int_equal(tlv_put_str(&b, STO_T_VALUE, id), 0);
			assert_int_equal(tlv_put_u64(&b, STO_T_WHEN, T0 + (seed >> 8) % 100000), 0);
			assert_int_equal(tlv_put_str(&b, STO_T_WITH, with), 0);
			assert_int_equal(tlv_put_str(&b, STO_T_ID, id), 0);
			assert_int_equal(send_drop(both[k], &b), STO_OK);
		}
	}
	for (unsigned i = 0; i < 300; i++) {
		struct buf rep[2];
		char a[16], bb[16], with[32];
		seed = seed * 1103515245u + 12345u;
		snprintf(a, sizeof(a), "x%u", (seed >> 4) % 220);
		snprintf(bb, sizeof(bb), "x%u", (seed >> 12) % 220);
		snprintf(with, sizeof(with), "p%u@localhost", (seed >> 20) % 6);
		uint32_t st[2];
		for (int k = 0; k < 2; k++) {
			struct buf b;
			req(&b, i % 7 == 6 ? STO_OP_ARCH_SUMMARY : STO_OP_ARCH_FIND, "localhost", "mam", "u");
			if (seed & 1)
				assert_int_equal(tlv_put_u64(&b, STO_T_START, T0 + (seed >> 3) % 50000), 0);
			if (seed & 2)
				assert_int_equal(tlv_put_u64(&b, STO_T_END, T0 + 50000 + (seed >> 5) % 50000), 0);
			if (seed & 4)
				assert_int_equal(tlv_put_str(&b, STO_T_WITH, with), 0);
			if (i % 7 != 6) {
				if (seed & 8)
					assert_int_equal(tlv_put_str(&b, STO_T_AFTER, a), 0);
				if (seed & 16)
					assert_int_equal(tlv_put_str(&b, STO_T_BEFORE, bb), 0);
				if (seed & 32)
					assert_int_equal(tlv_put_u32(&b, STO_T_LIMIT, (seed >> 7) % 15), 0);
				if (seed & 64)
					assert_int_equal(tlv_put_u32(&b, STO_T_REVERSE, 1), 0);
				if (seed & 128)
					assert_int_equal(tlv_put_u32(&b, STO_T_TOTAL, 1), 0);
				if (seed & 256) {
					assert_int_equal(tlv_put_str(&b, STO_T_ID, a), 0);
					assert_int_equal(tlv_put_str(&b, STO_T_ID, "x\"1\\,{}"), 0);
				}
			}
			st[k] = send_req(both[k], &b, &rep[k]);
		}
		assert_int_equal(st[0], st[1]);
		if (st[0] == STO_OK) {
			assert_int_equal(rep[0].len, rep[1].len);
			assert_memory_equal(rep[0].data, rep[1].data, rep[0].len);
		}
		buf_free(&rep[0]);
		buf_free(&rep[1]);
	}
	char cmd[128];
	sto_env_close(&other.env);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", other.dir);
	assert_int_equal(system(cmd), 0);
}

/* Accounts live in every backend; their store is not reachable as keyval. */
static void test_accounts(void **state)
{
	struct fixture *fx = *state;
	struct buf rep;
	struct tlv t;
	uint8_t salt[64];
	size_t salt_len;
	char v[256];
	uint32_t e;

	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_CREATE, "Alice", "pw1", &rep), STO_OK);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_CREATE, "alice", "pw2", &rep), STO_EEXISTS);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_CREATE, "bob", "pw", &rep), STO_OK);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_EXISTS, "ALICE", NULL, &rep), STO_OK);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_EXISTS, &t), 1);
	assert_int_equal(tlv_u32(&t, &e), 0);
	assert_int_equal(e, 1);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_SCRAM_PARAMS, "alice", NULL, &rep), STO_OK);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_SALT, &t), 1);
	memcpy(salt, t.val, t.len);
	salt_len = t.len;
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_PASSWD, "alice", "pw3", &rep), STO_OK);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_SCRAM_PARAMS, "alice", NULL, &rep), STO_OK);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_SALT, &t), 1);
	assert_false(t.len == salt_len && memcmp(t.val, salt, salt_len) == 0);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_PASSWD, "nobody", "x", &rep), STO_ENOTFOUND);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_LIST, NULL, NULL, &rep), STO_OK);
	join_tag(&rep, STO_T_USER, v, sizeof(v));
	assert_string_equal(v, "alice,bob");
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_DELETE, "bob", NULL, &rep), STO_OK);
	buf_free(&rep);
	assert_int_equal(acct_call(fx, STO_OP_ACCOUNT_DELETE, "bob", NULL, &rep), STO_ENOTFOUND);
	buf_free(&rep);
	assert_int_equal(kv_get(fx, "localhost", "accounts", "alice", v, sizeof(v)), STO_EINVAL);
	assert_int_equal(kv_set(fx, "localhost", "accounts", "alice", "x"), STO_EINVAL);
	if (strcmp(fx->spec.name, "memory") == 0)
		return;	/* per process: nothing to race on */
	/* two workers create the same account at once: exactly one wins */
	for (int round = 0; round < 5; round++) {
		char name[16];
		int status;
		snprintf(name, sizeof(name), "racer%d", round);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct fixture child = *fx;
			open_env(&child);
			uint32_t st = acct_call(&child, STO_OP_ACCOUNT_CREATE, name, "c", &rep);
			_exit((int)st);
		}
		uint32_t mine = acct_call(fx, STO_OP_ACCOUNT_CREATE, name, "p", &rep);
		buf_free(&rep);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		uint32_t theirs = (uint32_t)WEXITSTATUS(status);
		if (!((mine == STO_OK && theirs == STO_EEXISTS) ||
		      (mine == STO_EEXISTS && theirs == STO_OK)))
			fail_msg("%s: creates answered %u and %u", name, mine, theirs);
	}
}


#define SUITE(setup)                                                                            \
	cmocka_unit_test_setup_teardown(test_keyval, setup, teardown),                          \
	cmocka_unit_test_setup_teardown(test_map, setup, teardown),                             \
	cmocka_unit_test_setup_teardown(test_archive, setup, teardown),                         \
	cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),                    \
	cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),                        \
	cmocka_unit_test_setup_teardown(test_cross_check, setup, teardown)

int main(void)
{
	const struct CMUnitTest memory[] = {SUITE(setup_memory)};
	const struct CMUnitTest file[] = {SUITE(setup_file)};
	const struct CMUnitTest pg[] = {SUITE(setup_pg)};
	const struct CMUnitTest redis[] = {SUITE(setup_memory_redis), SUITE(setup_file_redis)};
	const struct CMUnitTest dead[] = {SUITE(setup_file_dead_redis)};
	const struct CMUnitTest pg_redis[] = {SUITE(setup_pg_redis)};
	const struct CMUnitTest mongo[] = {SUITE(setup_mongo)};
	int failed = cmocka_run_group_tests_name("memory", memory, NULL, NULL);
	failed += cmocka_run_group_tests_name("file", file, NULL, NULL);
	if (service("XMPPD_TEST_POSTGRESQL"))
		failed += cmocka_run_group_tests_name("postgresql", pg, NULL, NULL);
	else
		printf("postgresql: skipped (no XMPPD_TEST_POSTGRESQL; tools/services.sh start)\n");
	failed += cmocka_run_group_tests_name("file, redis down", dead, NULL, NULL);
	if (service("XMPPD_TEST_REDIS"))
		failed += cmocka_run_group_tests_name("redis cache", redis, NULL, NULL);
	else
		printf("redis cache: skipped (no XMPPD_TEST_REDIS; tools/services.sh start)\n");
	if (service("XMPPD_TEST_REDIS") && service("XMPPD_TEST_POSTGRESQL"))
		failed += cmocka_run_group_tests_name("postgresql, redis cache", pg_redis, NULL, NULL);
	pg_drop_db();
	if (getenv("XMPPD_TEST_MONGODB_URI") && *getenv("XMPPD_TEST_MONGODB_URI"))
		failed += cmocka_run_group_tests_name("mongodb", mongo, NULL, NULL);
	else
		printf("mongodb: skipped (set XMPPD_TEST_MONGODB_URI=mongodb://HOST:PORT to run)\n");
	return failed ? 1 : 0;
}
