/* Unit tests for storage accounts on the file backend, through sto_dispatch: the account
 * life cycle, name escaping, host isolation, persistence, malformed requests, corrupted
 * records and envelopes. Each table row names itself when it fails. */
#include <setjmp.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "log.h"
#include "sto.h"
#include "tlv.h"
#include "workers/storage/storage.h"
#include "xe.h"

static const char *const hosts[] = {"localhost", "example.org"};

struct fixture {
	char dir[64];
	struct sto_env env;
};

static void open_env(struct fixture *fx)
{
	struct sto_settings s = {.datadir = fx->dir, .vhosts = hosts, .nvhosts = 2, .scram_iter = 4096};
	char err[256];
	if (sto_env_open(&fx->env, &s, err, sizeof(err)) < 0)
		fail_msg("sto_env_open: %s", err);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_sto_accounts.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	open_env(fx);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];
	sto_env_close(&fx->env);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

/* A request: op, then host/user/password/mech when not NULL, in that order. */
static void req_build(struct buf *b, uint32_t op, const char *host, const char *user,
		      const char *pw, const char *mech)
{
	buf_init(b);
	assert_int_equal(tlv_put_u32(b, STO_T_OP, op), 0);
	if (host)
		assert_int_equal(tlv_put_str(b, STO_T_HOST, host), 0);
	if (user)
		assert_int_equal(tlv_put_str(b, STO_T_USER, user), 0);
	if (pw)
		assert_int_equal(tlv_put_str(b, STO_T_PASSWORD, pw), 0);
	if (mech)
		assert_int_equal(tlv_put_str(b, STO_T_MECH, mech), 0);
}

/* Dispatches raw bytes; checks the reply starts with a status and returns it. */
static uint32_t call_raw(struct fixture *fx, const uint8_t *p, size_t n, struct buf *reply)
{
	struct rbuf r;
	struct tlv t;
	uint32_t st = 999;

	buf_init(reply);
	sto_dispatch(&fx->env, p, n, reply);
	rbuf_init(&r, reply->data, reply->len);
	if (tlv_next(&r, &t) != 1 || t.tag != STO_T_STATUS || tlv_u32(&t, &st) < 0)
		fail_msg("reply does not start with a status");
	return st;
}

static uint32_t call(struct fixture *fx, uint32_t op, const char *host, const char *user,
		     const char *pw, const char *mech, struct buf *reply)
{
	struct buf req;
	req_build(&req, op, host, user, pw, mech);
	uint32_t st = call_raw(fx, req.data, req.len, reply);
	buf_free(&req);
	return st;
}

/* The client side of SCRAM, written independently of the server code. */
static uint32_t scram_login(struct fixture *fx, const char *host, const char *user,
			    const char *pw, const char *mech)
{
	const EVP_MD *md = strcmp(mech, "SCRAM-SHA-1") == 0 ? EVP_sha1() : EVP_sha256();
	size_t hl = (size_t)EVP_MD_get_size(md);
	uint8_t salted[32], ck[32], sk[32], csig[32], proof[32];
	unsigned int ol;
	static const char am[] = "n=x,r=abc,r=abcdef,s=QQ==,i=4096,c=biws,r=abcdef";
	struct buf rep, req;
	struct tlv t;
	uint32_t iter, st;

	st = call(fx, STO_OP_SCRAM_PARAMS, host, user, NULL, mech, &rep);
	if (st != STO_OK) {
		buf_free(&rep);
		return st;
	}
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_ITER, &t), 1);
	assert_int_equal(tlv_u32(&t, &iter), 0);
	assert_int_equal(tlv_find(rep.data, rep.len, STO_T_SALT, &t), 1);
	assert_int_equal(PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), t.val, (int)t.len, (int)iter, md,
					   (int)hl, salted), 1);
	buf_free(&rep);
	HMAC(md, salted, (int)hl, (const uint8_t *)"Client Key", 10, ck, &ol);
	EVP_Digest(ck, hl, sk, &ol, md, NULL);
	HMAC(md, sk, (int)hl, (const uint8_t *)am, sizeof(am) - 1, csig, &ol);
	for (size_t i = 0; i < hl; i++)
		proof[i] = ck[i] ^ csig[i];
	req_build(&req, STO_OP_SCRAM_VERIFY, host, user, NULL, mech);
	assert_int_equal(tlv_put_str(&req, STO_T_AUTHMSG, am), 0);
	assert_int_equal(tlv_put(&req, STO_T_PROOF, proof, hl), 0);
	st = call_raw(fx, req.data, req.len, &rep);
	buf_free(&req);
	buf_free(&rep);
	return st;
}

static const char LONG300[] =
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

#define NOX -1
static const struct step {
	const char *name;
	uint32_t op;
	const char *host, *user, *pw;
	uint32_t want;
	int exists;		/* for EXISTS: 0/1; NOX otherwise */
} steps[] = {
	{"create alice", STO_OP_ACCOUNT_CREATE, "localhost", "alice", "wonderland", STO_OK, NOX},
	{"create alice twice", STO_OP_ACCOUNT_CREATE, "localhost", "alice", "x", STO_EEXISTS, NOX},
	{"create ALICE folds to alice", STO_OP_ACCOUNT_CREATE, "localhost", "ALICE", "x", STO_EEXISTS, NOX},
	{"alice exists", STO_OP_ACCOUNT_EXISTS, "localhost", "alice", NULL, STO_OK, 1},
	{"Alice exists (case)", STO_OP_ACCOUNT_EXISTS, "localhost", "Alice", NULL, STO_OK, 1},
	{"bob does not exist", STO_OP_ACCOUNT_EXISTS, "localhost", "bob", NULL, STO_OK, 0},
	{"alice unknown on example.org", STO_OP_ACCOUNT_EXISTS, "example.org", "alice", NULL, STO_OK, 0},
	{"create alice on example.org", STO_OP_ACCOUNT_CREATE, "example.org", "alice", "other", STO_OK, NOX},
	{"create Bob", STO_OP_ACCOUNT_CREATE, "localhost", "Bob", "builder", STO_OK, NOX},
	{"create dot-dot", STO_OP_ACCOUNT_CREATE, "localhost", "..", "p", STO_OK, NOX},
	{"create dot", STO_OP_ACCOUNT_CREATE, "localhost", ".", "p", STO_OK, NOX},
	{"create percent", STO_OP_ACCOUNT_CREATE, "localhost", "100%", "p", STO_OK, NOX},
	{"create escape-lookalike", STO_OP_ACCOUNT_CREATE, "localhost", "%2e", "p", STO_OK, NOX},
	{"create unicode", STO_OP_ACCOUNT_CREATE, "localhost", "J\xc3\x9cRGEN", "p", STO_OK, NOX},
	{"unicode folded exists", STO_OP_ACCOUNT_EXISTS, "localhost", "j\xc3\xbcrgen", NULL, STO_OK, 1},
	{"create tilde", STO_OP_ACCOUNT_CREATE, "localhost", "~x", "p", STO_OK, NOX},
	{"create long name (hashed file)", STO_OP_ACCOUNT_CREATE, "localhost", LONG300, "p", STO_OK, NOX},
	{"long name exists", STO_OP_ACCOUNT_EXISTS, "localhost", LONG300, NULL, STO_OK, 1},
	{"slash rejected", STO_OP_ACCOUNT_CREATE, "localhost", "../../etc/passwd", "p", STO_EINVAL, NOX},
	{"at rejected", STO_OP_ACCOUNT_CREATE, "localhost", "a@b", "p", STO_EINVAL, NOX},
	{"empty user rejected", STO_OP_ACCOUNT_CREATE, "localhost", "", "p", STO_EINVAL, NOX},
	{"space rejected", STO_OP_ACCOUNT_CREATE, "localhost", "a b", "p", STO_EINVAL, NOX},
	{"invalid utf-8 rejected", STO_OP_ACCOUNT_CREATE, "localhost", "a\xff", "p", STO_EINVAL, NOX},
	{"empty password rejected", STO_OP_ACCOUNT_CREATE, "localhost", "carl", "", STO_EINVAL, NOX},
	{"control char password rejected", STO_OP_ACCOUNT_CREATE, "localhost", "carl", "a\x07" "b", STO_EINVAL, NOX},
	{"carl not created", STO_OP_ACCOUNT_EXISTS, "localhost", "carl", NULL, STO_OK, 0},
	{"unconfigured host", STO_OP_ACCOUNT_CREATE, "evil.example", "carl", "p", STO_EINVAL, NOX},
	{"host path traversal", STO_OP_ACCOUNT_CREATE, "../localhost", "carl", "p", STO_EINVAL, NOX},
	{"passwd alice", STO_OP_ACCOUNT_PASSWD, "localhost", "alice", "looking-glass", STO_OK, NOX},
	{"passwd nobody", STO_OP_ACCOUNT_PASSWD, "localhost", "nobody", "x", STO_ENOTFOUND, NOX},
	{"nobody not created by passwd", STO_OP_ACCOUNT_EXISTS, "localhost", "nobody", NULL, STO_OK, 0},
	{"delete Bob", STO_OP_ACCOUNT_DELETE, "localhost", "BOB", NULL, STO_OK, NOX},
	{"delete Bob again", STO_OP_ACCOUNT_DELETE, "localhost", "bob", NULL, STO_ENOTFOUND, NOX},
	{"bob gone", STO_OP_ACCOUNT_EXISTS, "localhost", "bob", NULL, STO_OK, 0},
	{"delete rejects bad name", STO_OP_ACCOUNT_DELETE, "localhost", "a/b", NULL, STO_EINVAL, NOX},
};

static void run_steps(struct fixture *fx)
{
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct step *s = &steps[i];
		struct buf rep;
		struct tlv t;
		uint32_t ex;
		uint32_t st = call(fx, s->op, s->host, s->user, s->pw, NULL, &rep);
		if (st != s->want)
			fail_msg("step %s: got status %u, want %u", s->name, st, s->want);
		if (s->exists != NOX &&
		    (tlv_find(rep.data, rep.len, STO_T_EXISTS, &t) != 1 || tlv_u32(&t, &ex) < 0 ||
		     ex != (uint32_t)s->exists))
			fail_msg("step %s: wrong or missing EXISTS", s->name);
		if (st != STO_OK && tlv_find(rep.data, rep.len, STO_T_ERROR, &t) != 1)
			fail_msg("step %s: failure without a reason", s->name);
		buf_free(&rep);
	}
}

/* The LIST reply of host as one comma-separated string. */
static void list_of(struct fixture *fx, const char *host, char *out, size_t cap)
{
	struct buf rep;
	struct rbuf r;
	struct tlv t;
	size_t o = 0;

	if (call(fx, STO_OP_ACCOUNT_LIST, host, NULL, NULL, NULL, &rep) != STO_OK)
		fail_msg("list %s failed", host);
	rbuf_init(&r, rep.data, rep.len);
	assert_int_equal(tlv_next(&r, &t), 1);
	out[0] = 0;
	while (tlv_next(&r, &t) == 1) {
		assert_int_equal(t.tag, STO_T_USER);
		int n = snprintf(out + o, cap - o, "%s%.*s", o ? "," : "", (int)t.len, t.val);
		assert_true(n > 0 && (size_t)n < cap - o);
		o += (size_t)n;
	}
	buf_free(&rep);
}

/* Every entry under datadir must be one we expect: nothing escaped, no temp files. */
static void check_tree(struct fixture *fx, const char *sub, const char *const *want, size_t n)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", fx->dir, sub);
	DIR *d = opendir(path);
	struct dirent *e;
	size_t seen = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		size_t i;
		for (i = 0; i < n; i++)
			if (want[i] && (strcmp(want[i], e->d_name) == 0 ||
					(want[i][0] == '~' && e->d_name[0] == '~')))
				break;
		if (i == n)
			fail_msg("unexpected entry %s/%s", sub, e->d_name);
		seen++;
	}
	closedir(d);
	if (seen != n)
		fail_msg("%s: %zu entries, want %zu", sub, seen, n);
}

static void test_lifecycle(void **state)
{
	struct fixture *fx = *state;
	char list[4096], want[4096];

	run_steps(fx);
	snprintf(want, sizeof(want), "%%2e,.,..,100%%,%s,alice,j\xc3\xbcrgen,~x", LONG300);
	list_of(fx, "localhost", list, sizeof(list));
	if (strcmp(list, want) != 0)
		fail_msg("case list localhost: got %s, want %s", list, want);
	list_of(fx, "example.org", list, sizeof(list));
	if (strcmp(list, "alice") != 0)
		fail_msg("case list example.org: got %s", list);

	static const char *const top[] = {".scram-secret", "localhost", "example.org"};
	static const char *const acc[] = {"%252e", "%2E", "%2E.", "100%25", "~hash", "alice",
					  "j%C3%BCrgen", "%7Ex"};
	check_tree(fx, "", top, 3);
	check_tree(fx, "localhost", (const char *const[]){"accounts"}, 1);
	check_tree(fx, "localhost/accounts", acc, 8);
	check_tree(fx, "example.org/accounts", (const char *const[]){"alice"}, 1);

	/* The new password works, the old one does not; hosts keep their own passwords. */
	static const struct {
		const char *name, *host, *user, *pw, *mech;
		uint32_t want;
	} logins[] = {
		{"new password sha1", "localhost", "alice", "looking-glass", "SCRAM-SHA-1", STO_OK},
		{"new password sha256", "localhost", "ALICE", "looking-glass", "SCRAM-SHA-256", STO_OK},
		{"old password", "localhost", "alice", "wonderland", "SCRAM-SHA-256", STO_EAUTH},
		{"other host's password", "example.org", "alice", "other", "SCRAM-SHA-1", STO_OK},
		{"password across hosts", "example.org", "alice", "looking-glass", "SCRAM-SHA-1", STO_EAUTH},
		{"unicode user", "localhost", "J\xc3\x9cRGEN", "p", "SCRAM-SHA-256", STO_OK},
		{"deleted user", "localhost", "bob", "builder", "SCRAM-SHA-1", STO_EAUTH},
	};
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < sizeof(logins) / sizeof(logins[0]); i++) {
			uint32_t st = scram_login(fx, logins[i].host, logins[i].user, logins[i].pw,
						  logins[i].mech);
			if (st != logins[i].want)
				fail_msg("login %s (round %d): got %u, want %u", logins[i].name, round,
					 st, logins[i].want);
		}
		/* Persistence: everything holds after closing and reopening the backend. */
		sto_env_close(&fx->env);
		open_env(fx);
		list_of(fx, "localhost", list, sizeof(list));
		if (strcmp(list, want) != 0)
			fail_msg("case list after reopen: got %s", list);
	}
}

static void test_saslprep_password(void **state)
{
	struct fixture *fx = *state;
	struct buf rep;
	/* SASLprep maps U+00A0 (no-break space) to a space and drops U+00AD (soft hyphen). */
	assert_int_equal(call(fx, STO_OP_ACCOUNT_CREATE, "localhost", "dora",
			      "a\xc2\xa0" "b\xc2\xad" "c", NULL, &rep), STO_OK);
	buf_free(&rep);
	if (scram_login(fx, "localhost", "dora", "a bc", "SCRAM-SHA-256") != STO_OK)
		fail_msg("case saslprep: prepared password does not log in");
	if (scram_login(fx, "localhost", "dora", "a\xc2\xa0" "b\xc2\xad" "c", "SCRAM-SHA-256") !=
	    STO_EAUTH)
		fail_msg("case saslprep: an unprepared password logged in");
}

/* One valid request of each op. */
static void valid_requests(struct buf *reqs, size_t *n)
{
	uint8_t proof[20] = {1};
	size_t i = 0;
	req_build(&reqs[i++], STO_OP_ACCOUNT_CREATE, "localhost", "erin", "pw", NULL);
	req_build(&reqs[i++], STO_OP_ACCOUNT_PASSWD, "localhost", "erin", "pw2", NULL);
	req_build(&reqs[i++], STO_OP_ACCOUNT_EXISTS, "localhost", "erin", NULL, NULL);
	req_build(&reqs[i++], STO_OP_ACCOUNT_LIST, "localhost", NULL, NULL, NULL);
	req_build(&reqs[i++], STO_OP_SCRAM_PARAMS, "localhost", "erin", NULL, "SCRAM-SHA-1");
	req_build(&reqs[i], STO_OP_SCRAM_VERIFY, "localhost", "erin", NULL, "SCRAM-SHA-1");
	assert_int_equal(tlv_put_str(&reqs[i], STO_T_AUTHMSG, "n=erin,r=x"), 0);
	assert_int_equal(tlv_put(&reqs[i++], STO_T_PROOF, proof, sizeof(proof)), 0);
	req_build(&reqs[i++], STO_OP_ACCOUNT_DELETE, "localhost", "erin", NULL, NULL);
	*n = i;
}

static void test_truncated_requests(void **state)
{
	struct fixture *fx = *state;
	struct buf reqs[8], rep;
	size_t n;

	valid_requests(reqs, &n);
	for (size_t i = 0; i < n; i++) {
		for (size_t cut = 0; cut < reqs[i].len; cut++) {
			uint8_t *copy = malloc(cut ? cut : 1);	/* exact size: ASan sees overreads */
			memcpy(copy, reqs[i].data, cut);
			uint32_t st = call_raw(fx, copy, cut, &rep);
			if (st != STO_EINVAL)
				fail_msg("request %zu cut at %zu: got %u, want STO_EINVAL", i, cut, st);
			free(copy);
			buf_free(&rep);
		}
		uint32_t st = call_raw(fx, reqs[i].data, reqs[i].len, &rep);
		if (st == STO_EINVAL)
			fail_msg("request %zu whole: rejected as invalid", i);
		buf_free(&rep);
	}
	/* Garbled: every byte of every request replaced by a few values; must not crash. */
	static const uint8_t junk[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
	for (size_t i = 0; i < n; i++) {
		for (size_t pos = 0; pos < reqs[i].len; pos++) {
			for (size_t j = 0; j < sizeof(junk); j++) {
				uint8_t *copy = malloc(reqs[i].len);
				memcpy(copy, reqs[i].data, reqs[i].len);
				copy[pos] = junk[j];
				(void)call_raw(fx, copy, reqs[i].len, &rep);
				free(copy);
				buf_free(&rep);
			}
		}
		buf_free(&reqs[i]);
	}
}

static void test_bad_requests(void **state)
{
	struct fixture *fx = *state;
	static char big[5000];
	memset(big, 'a', sizeof(big) - 1);
	static const struct {
		const char *name;
		int kind;
	} cases[] = {
		{"empty body", 0}, {"op not first", 1}, {"duplicate user", 2}, {"unknown tag", 3},
		{"extra field for op", 4}, {"op zero", 5}, {"op past the end", 6},
		{"oversized user", 7}, {"NUL in user", 8}, {"unknown mech", 9},
		{"reply tag in request", 10}, {"op of five bytes", 11}, {"oversized proof", 12},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b, rep;
		buf_init(&b);
		switch (cases[i].kind) {
		case 0: break;
		case 1:
			tlv_put_str(&b, STO_T_HOST, "localhost");
			tlv_put_u32(&b, STO_T_OP, STO_OP_ACCOUNT_LIST);
			break;
		case 2:
			req_build(&b, STO_OP_ACCOUNT_EXISTS, "localhost", "a", NULL, NULL);
			tlv_put_str(&b, STO_T_USER, "b");
			break;
		case 3:
			req_build(&b, STO_OP_ACCOUNT_LIST, "localhost", NULL, NULL, NULL);
			tlv_put_str(&b, 200, "x");
			break;
		case 4: req_build(&b, STO_OP_ACCOUNT_EXISTS, "localhost", "a", "pw", NULL); break;
		case 5: req_build(&b, 0, "localhost", NULL, NULL, NULL); break;
		case 6: req_build(&b, STO_OP_MAX, "localhost", NULL, NULL, NULL); break;
		case 7: req_build(&b, STO_OP_ACCOUNT_EXISTS, "localhost", big, NULL, NULL); break;
		case 8:
			tlv_put_u32(&b, STO_T_OP, STO_OP_ACCOUNT_EXISTS);
			tlv_put_str(&b, STO_T_HOST, "localhost");
			tlv_put(&b, STO_T_USER, "a\0b", 3);
			break;
		case 9: req_build(&b, STO_OP_SCRAM_PARAMS, "localhost", "a", NULL, "PLAIN"); break;
		case 10:
			req_build(&b, STO_OP_ACCOUNT_EXISTS, "localhost", "a", NULL, NULL);
			tlv_put_u32(&b, STO_T_STATUS, 0);
			break;
		case 11:
			tlv_put(&b, STO_T_OP, "\0\0\0\4\0", 5);
			tlv_put_str(&b, STO_T_HOST, "localhost");
			tlv_put_str(&b, STO_T_USER, "a");
			break;
		case 12:
			req_build(&b, STO_OP_SCRAM_VERIFY, "localhost", "a", NULL, "SCRAM-SHA-1");
			tlv_put_str(&b, STO_T_AUTHMSG, "x");
			tlv_put(&b, STO_T_PROOF, big, 33);
			break;
		}
		uint32_t st = call_raw(fx, b.data, b.len, &rep);
		if (st != STO_EINVAL)
			fail_msg("case %s: got %u, want STO_EINVAL", cases[i].name, st);
		buf_free(&b);
		buf_free(&rep);
	}
	assert_true(fx->env.bad_requests >= sizeof(cases) / sizeof(cases[0]));
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void test_corrupt_records(void **state)
{
	struct fixture *fx = *state;
	char path[256], good[4096], alice[256];
	struct buf rep;

	assert_int_equal(call(fx, STO_OP_ACCOUNT_CREATE, "localhost", "carol", "pw", NULL, &rep),
			 STO_OK);
	buf_free(&rep);
	assert_int_equal(call(fx, STO_OP_ACCOUNT_CREATE, "localhost", "alice", "pw", NULL, &rep),
			 STO_OK);
	buf_free(&rep);
	snprintf(path, sizeof(path), "%s/localhost/accounts/carol", fx->dir);
	snprintf(alice, sizeof(alice), "%s/localhost/accounts/alice", fx->dir);
	FILE *f = fopen(path, "r");
	size_t glen = fread(good, 1, sizeof(good) - 1, f);
	fclose(f);
	good[glen] = 0;

	static const struct {
		const char *name;
		int kind;
	} cases[] = {
		{"empty file", 0}, {"truncated", 1}, {"bad version", 2}, {"garbled base64", 3},
		{"binary", 4}, {"trailing line", 5}, {"directory instead", 6}, {"symlink", 7},
		{"other user's record", 8}, {"huge", 9}, {"no final newline", 10},
		{"iterations zero", 11},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf2[8192], *p;
		unlink(path);
		rmdir(path);
		switch (cases[i].kind) {
		case 0: write_file(path, "", 0); break;
		case 1: write_file(path, good, glen / 2); break;
		case 2: write_file(path, "xmppd-account 9\n", 16); break;
		case 3:
			memcpy(buf2, good, glen);
			p = strstr(buf2, "SCRAM-SHA-1 ");
			p[14] = '!';
			write_file(path, buf2, glen);
			break;
		case 4:
			memcpy(buf2, good, glen);
			buf2[3] = 0;
			write_file(path, buf2, glen);
			break;
		case 5:
			snprintf(buf2, sizeof(buf2), "%sextra\n", good);
			write_file(path, buf2, strlen(buf2));
			break;
		case 6: assert_int_equal(mkdir(path, 0700), 0); break;
		case 7: assert_int_equal(symlink(alice, path), 0); break;
		case 8: {
			FILE *a = fopen(alice, "r");
			size_t n = fread(buf2, 1, sizeof(buf2), a);
			fclose(a);
			write_file(path, buf2, n);
			break;
		}
		case 9: memset(buf2, 'A', sizeof(buf2)); write_file(path, buf2, sizeof(buf2)); break;
		case 10: write_file(path, good, glen - 1); break;
		case 11:
			memcpy(buf2, good, glen);
			p = strstr(buf2, " 4096 ");
			memcpy(p, " 0000 ", 6);
			write_file(path, buf2, glen);
			break;
		}
		static const uint32_t ops[] = {STO_OP_ACCOUNT_EXISTS, STO_OP_SCRAM_PARAMS};
		for (size_t k = 0; k < 2; k++) {
			struct tlv t;
			uint32_t st = call(fx, ops[k], "localhost", "carol", NULL,
					   k ? "SCRAM-SHA-1" : NULL, &rep);
			if (st != STO_EIO || tlv_find(rep.data, rep.len, STO_T_ERROR, &t) != 1)
				fail_msg("case %s op %u: got %u, want STO_EIO with a reason",
					 cases[i].name, ops[k], st);
			buf_free(&rep);
		}
		if (scram_login(fx, "localhost", "carol", "pw", "SCRAM-SHA-1") != STO_EIO)
			fail_msg("case %s: verify did not report STO_EIO", cases[i].name);
	}
	/* A sound record again: carol is back and alice was never touched. */
	unlink(path);
	rmdir(path);
	write_file(path, good, glen);
	if (scram_login(fx, "localhost", "carol", "pw", "SCRAM-SHA-256") != STO_OK ||
	    scram_login(fx, "localhost", "alice", "pw", "SCRAM-SHA-1") != STO_OK)
		fail_msg("case restored: login failed");
}

static void test_stale_temp_removed(void **state)
{
	struct fixture *fx = *state;
	char path[256];
	struct stat st;

	char fresh[256];
	struct timespec old[2] = {{.tv_sec = time(NULL) - 3600}, {.tv_sec = time(NULL) - 3600}};

	snprintf(path, sizeof(path), "%s/localhost/accounts/.tmp.0123456789abcdef", fx->dir);
	snprintf(fresh, sizeof(fresh), "%s/localhost/accounts/.tmp.fedcba9876543210", fx->dir);
	write_file(path, "half", 4);
	write_file(fresh, "busy", 4);	/* another worker's write in progress */
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	sto_env_close(&fx->env);
	open_env(fx);
	if (stat(path, &st) == 0)
		fail_msg("case stale temp: left behind after reopen");
	if (stat(fresh, &st) != 0)
		fail_msg("case fresh temp: another writer's file was removed");
	unlink(fresh);
}

static void envelope(struct buf *out, uint8_t kind, uint32_t reqid, const struct buf *body)
{
	struct xe_msg m = {.kind = kind, .sid = 77, .reqid = reqid, .body = body->data,
			   .body_len = (uint32_t)body->len};
	buf_init(out);
	assert_int_equal(xe_encode(out, &m), 0);
}

static void test_envelopes(void **state)
{
	struct fixture *fx = *state;
	struct buf body, env, rep;
	struct xe_msg m;
	struct tlv t;
	uint32_t st;

	static const struct {
		const char *name;
		uint8_t kind, want_kind;
		uint32_t op, want_status;
	} cases[] = {
		{"store create", XE_STORE_REQ, XE_STORE_REP, STO_OP_ACCOUNT_CREATE, STO_OK},
		{"store exists", XE_STORE_REQ, XE_STORE_REP, STO_OP_ACCOUNT_EXISTS, STO_OK},
		{"auth params", XE_AUTH_REQ, XE_AUTH_REP, STO_OP_SCRAM_PARAMS, STO_OK},
		{"auth may not delete", XE_AUTH_REQ, XE_AUTH_REP, STO_OP_ACCOUNT_DELETE, STO_EINVAL},
		{"stanza kind refused", XE_STANZA, XE_ERROR, STO_OP_ACCOUNT_EXISTS, STO_EINVAL},
		{"reply kind refused", XE_STORE_REP, XE_ERROR, STO_OP_ACCOUNT_EXISTS, STO_EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t op = cases[i].op;
		int scram = op == STO_OP_SCRAM_PARAMS;
		req_build(&body, op, "localhost", "frank",
			  op == STO_OP_ACCOUNT_CREATE ? "pw" : NULL, scram ? "SCRAM-SHA-1" : NULL);
		envelope(&env, cases[i].kind, 1000 + (uint32_t)i, &body);
		buf_init(&rep);
		sto_handle_envelope(&fx->env, env.data, env.len, &rep);
		if (xe_decode(rep.data, rep.len, &m) != XE_OK || m.kind != cases[i].want_kind ||
		    m.reqid != 1000 + i || m.sid != 77)
			fail_msg("case %s: wrong reply envelope", cases[i].name);
		if (tlv_find(m.body, m.body_len, STO_T_STATUS, &t) != 1 || tlv_u32(&t, &st) < 0 ||
		    st != cases[i].want_status)
			fail_msg("case %s: wrong status", cases[i].name);
		buf_free(&body);
		buf_free(&env);
		buf_free(&rep);
	}
	/* Frank exists: the AUTH_REQ could not delete him. */
	assert_int_equal(scram_login(fx, "localhost", "frank", "pw", "SCRAM-SHA-1"), STO_OK);

	/* Malformed envelopes: counted, answered with XE_ERROR carrying the request id. */
	req_build(&body, STO_OP_ACCOUNT_LIST, "localhost", NULL, NULL, NULL);
	envelope(&env, XE_STORE_REQ, 4242, &body);
	uint64_t before = fx->env.bad_envelopes;
	for (size_t cut = 0; cut < env.len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		memcpy(copy, env.data, cut);
		buf_init(&rep);
		sto_handle_envelope(&fx->env, copy, cut, &rep);
		if (xe_decode(rep.data, rep.len, &m) != XE_OK || m.kind != XE_ERROR ||
		    (cut >= 20 && m.reqid != 4242))
			fail_msg("case envelope cut at %zu: no XE_ERROR reply", cut);
		free(copy);
		buf_free(&rep);
	}
	assert_true(fx->env.bad_envelopes == before + env.len);
	buf_free(&body);
	buf_free(&env);
}

/* Two storage workers on one datadir: they share accounts and the fake-salt secret, and
 * concurrent writers never leave a half record, a temp file or a resurrected account. */
static void test_two_workers(void **state)
{
	struct fixture *fx = *state, fx2;
	struct buf ra, rb;
	struct tlv ta, tb;

	memcpy(fx2.dir, fx->dir, sizeof(fx2.dir));
	open_env(&fx2);
	assert_int_equal(call(fx, STO_OP_ACCOUNT_CREATE, "localhost", "gina", "pw", NULL, &ra), STO_OK);
	buf_free(&ra);
	if (scram_login(&fx2, "localhost", "gina", "pw", "SCRAM-SHA-1") != STO_OK)
		fail_msg("case shared account: the second worker cannot log gina in");
	assert_int_equal(call(&fx2, STO_OP_ACCOUNT_DELETE, "localhost", "gina", NULL, NULL, &ra), STO_OK);
	buf_free(&ra);
	if (call(fx, STO_OP_ACCOUNT_PASSWD, "localhost", "gina", "pw2", NULL, &ra) != STO_ENOTFOUND)
		fail_msg("case passwd after sibling delete: account came back");
	buf_free(&ra);
	assert_int_equal(call(fx, STO_OP_SCRAM_PARAMS, "localhost", "ghost", NULL, "SCRAM-SHA-1", &ra), STO_OK);
	assert_int_equal(call(&fx2, STO_OP_SCRAM_PARAMS, "localhost", "ghost", NULL, "SCRAM-SHA-1", &rb), STO_OK);
	assert_int_equal(tlv_find(ra.data, ra.len, STO_T_SALT, &ta), 1);
	assert_int_equal(tlv_find(rb.data, rb.len, STO_T_SALT, &tb), 1);
	if (ta.len != tb.len || memcmp(ta.val, tb.val, ta.len) != 0)
		fail_msg("case shared secret: two workers give different fake salts");
	buf_free(&ra);
	buf_free(&rb);

	/* A child process hammers passwd while this one creates and deletes. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < 150; i++) {
			uint32_t st = call(&fx2, STO_OP_ACCOUNT_PASSWD, "localhost", "race", "p", NULL, &ra);
			buf_free(&ra);
			if (st != STO_OK && st != STO_ENOTFOUND)
				_exit(1);
		}
		_exit(0);
	}
	for (int i = 0; i < 150; i++) {
		uint32_t c = call(fx, STO_OP_ACCOUNT_CREATE, "localhost", "race", "p", NULL, &ra);
		buf_free(&ra);
		uint32_t d = call(fx, STO_OP_ACCOUNT_DELETE, "localhost", "race", NULL, NULL, &ra);
		buf_free(&ra);
		if (c != STO_OK || d != STO_OK)
			fail_msg("case race round %d: create %u delete %u", i, c, d);
	}
	int wst;
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
		fail_msg("case race: passwd saw something other than OK or ENOTFOUND");
	if (call(fx, STO_OP_ACCOUNT_EXISTS, "localhost", "race", NULL, NULL, &ra) != STO_OK ||
	    tlv_find(ra.data, ra.len, STO_T_EXISTS, &ta) != 1 || ta.val[3] != 0)
		fail_msg("case race: the deleted account exists again");
	buf_free(&ra);
	static const char *const none[] = {NULL};
	check_tree(fx, "localhost/accounts", none, 0);
	sto_env_close(&fx2.env);
}

int main(void)
{
	log_init(LOG_CRIT);	/* the corrupt-record cases log at err by design */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_saslprep_password, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_temp_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_envelopes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_workers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
