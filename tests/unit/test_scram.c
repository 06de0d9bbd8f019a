/* Unit tests for SCRAM in the storage worker: the RFC 5802 and RFC 7677 exchanges verified
 * end to end through sto_dispatch, wrong proofs, and unknown users that cannot be probed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "log.h"
#include "sto.h"
#include "workers/storage/storage.h"
#include "tlv.h"

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

static void b64(const char *s, uint8_t *out, size_t cap, size_t *n)
{
	if (sto_b64_decode(s, strlen(s), out, cap, n) < 0)
		fail_msg("bad base64 in test vector: %s", s);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	uint8_t s1[64], s256[64];
	size_t n1, n256;
	char why[256] = "";

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_scram.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	open_env(fx);
	b64("QSXCR+Q6sek8bf92", s1, sizeof(s1), &n1);
	b64("W22ZaJ0SNY7soEsUEjb6gQ==", s256, sizeof(s256), &n256);
	const uint8_t *salts[STO_MECH_COUNT] = {s1, s256};
	const size_t lens[STO_MECH_COUNT] = {n1, n256};
	int rc = sto_account_create_salted(&fx->env, 0, "user", "pencil", salts, lens, why,
					   sizeof(why));
	if (rc != STO_OK)
		fail_msg("create user: status %d (%s)", rc, why);
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

/* Builds a request: op, host, user, mech, then optional authmsg and proof. */
static void req_scram(struct buf *b, uint32_t op, const char *host, const char *user,
		      const char *mech, const char *authmsg, const uint8_t *proof, size_t plen)
{
	buf_init(b);
	assert_int_equal(tlv_put_u32(b, STO_T_OP, op), 0);
	assert_int_equal(tlv_put_str(b, STO_T_HOST, host), 0);
	assert_int_equal(tlv_put_str(b, STO_T_USER, user), 0);
	assert_int_equal(tlv_put_str(b, STO_T_MECH, mech), 0);
	if (authmsg) {
		assert_int_equal(tlv_put_str(b, STO_T_AUTHMSG, authmsg), 0);
		assert_int_equal(tlv_put(b, STO_T_PROOF, proof, plen), 0);
	}
}

/* Dispatches req and returns the status; reply is left for inspection. */
static uint32_t call(struct fixture *fx, const struct buf *req, struct buf *reply)
{
	struct rbuf r;
	struct tlv t;
	uint32_t st;

	buf_init(reply);
	sto_dispatch(&fx->env, req->data, req->len, reply);
	rbuf_init(&r, reply->data, reply->len);
	assert_int_equal(tlv_next(&r, &t), 1);
	assert_int_equal(t.tag, STO_T_STATUS);
	assert_int_equal(tlv_u32(&t, &st), 0);
	return st;
}

/* The tags of a reply in order, as a string of small numbers: the reply's shape. */
static void reply_shape(const struct buf *reply, char *out, size_t cap)
{
	struct rbuf r;
	struct tlv t;
	size_t o = 0;
	rbuf_init(&r, reply->data, reply->len);
	while (tlv_next(&r, &t) == 1 && o + 8 < cap)
		o += (size_t)snprintf(out + o, cap - o, "%u:%u,", t.tag, t.len);
	out[o] = 0;
}

#define AM1 "n=user,r=fyko+d2lbbFgONRv9qkxdawL,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j," \
	    "s=QSXCR+Q6sek8bf92,i=4096,c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
#define AM256 "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
	      "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"

static const struct verify_case {
	const char *name;
	const char *host, *user, *mech, *authmsg, *proof, *sig;
	int flip;		/* flip a bit of the proof */
	uint32_t want;
} verify_cases[] = {
	{"rfc5802 sha1", "localhost", "user", "SCRAM-SHA-1", AM1, "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	 "rmF9pqV8S7suAoZWja4dJRkFsKQ=", 0, STO_OK},
	{"rfc7677 sha256", "localhost", "user", "SCRAM-SHA-256", AM256,
	 "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	 "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", 0, STO_OK},
	{"nodeprep folds the name", "localhost", "USER", "SCRAM-SHA-1", AM1,
	 "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "rmF9pqV8S7suAoZWja4dJRkFsKQ=", 0, STO_OK},
	{"sha1 wrong proof", "localhost", "user", "SCRAM-SHA-1", AM1,
	 "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", NULL, 1, STO_EAUTH},
	{"sha256 wrong proof", "localhost", "user", "SCRAM-SHA-256", AM256,
	 "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", NULL, 1, STO_EAUTH},
	{"sha1 proof, other authmsg", "localhost", "user", "SCRAM-SHA-1", AM256,
	 "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", NULL, 0, STO_EAUTH},
	{"sha256 proof under sha1", "localhost", "user", "SCRAM-SHA-1", AM256,
	 "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", NULL, 0, STO_EAUTH},
	{"unknown user", "localhost", "nobody", "SCRAM-SHA-1", AM1, "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	 NULL, 0, STO_EAUTH},
	{"user on another host", "example.org", "user", "SCRAM-SHA-256", AM256,
	 "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", NULL, 0, STO_EAUTH},
	{"unknown mechanism", "localhost", "user", "SCRAM-SHA-512", AM1,
	 "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", NULL, 0, STO_EINVAL},
	{"unconfigured host", "evil.example", "user", "SCRAM-SHA-1", AM1,
	 "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", NULL, 0, STO_EINVAL},
};

static void test_verify_table(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < sizeof(verify_cases) / sizeof(verify_cases[0]); i++) {
		const struct verify_case *c = &verify_cases[i];
		uint8_t proof[64], sig[64];
		size_t plen, slen = 0;
		struct buf req, rep;
		struct tlv t;

		b64(c->proof, proof, sizeof(proof), &plen);
		if (c->flip)
			proof[plen / 2] ^= 0x01;
		req_scram(&req, STO_OP_SCRAM_VERIFY, c->host, c->user, c->mech, c->authmsg, proof,
			  plen);
		uint32_t st = call(fx, &req, &rep);
		if (st != c->want)
			fail_msg("case %s: got status %u, want %u", c->name, st, c->want);
		int found = tlv_find(rep.data, rep.len, STO_T_SIGNATURE, &t);
		if (c->sig) {
			b64(c->sig, sig, sizeof(sig), &slen);
			if (found != 1 || t.len != slen || memcmp(t.val, sig, slen) != 0)
				fail_msg("case %s: wrong or missing ServerSignature", c->name);
		} else if (found != 0) {
			fail_msg("case %s: a signature came back on failure", c->name);
		}
		if (st != STO_OK && tlv_find(rep.data, rep.len, STO_T_ERROR, &t) != 1)
			fail_msg("case %s: no reason on failure", c->name);
		buf_free(&req);
		buf_free(&rep);
	}
}

static void params(struct fixture *fx, const char *user, const char *mech, struct buf *rep,
		   uint8_t *salt, size_t *salt_len, uint32_t *iter)
{
	struct buf req;
	struct tlv t;

	req_scram(&req, STO_OP_SCRAM_PARAMS, "localhost", user, mech, NULL, NULL, 0);
	uint32_t st = call(fx, &req, rep);
	if (st != STO_OK)
		fail_msg("params %s/%s: status %u", user, mech, st);
	assert_int_equal(tlv_find(rep->data, rep->len, STO_T_SALT, &t), 1);
	memcpy(salt, t.val, t.len);
	*salt_len = t.len;
	assert_int_equal(tlv_find(rep->data, rep->len, STO_T_ITER, &t), 1);
	assert_int_equal(tlv_u32(&t, iter), 0);
	buf_free(&req);
}

static void test_params_known(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *mech, *salt;
	} cases[] = {{"SCRAM-SHA-1", "QSXCR+Q6sek8bf92"}, {"SCRAM-SHA-256", "W22ZaJ0SNY7soEsUEjb6gQ=="}};

	for (size_t i = 0; i < 2; i++) {
		uint8_t salt[64], want[64];
		size_t n, wn;
		uint32_t iter;
		struct buf rep;
		params(fx, "user", cases[i].mech, &rep, salt, &n, &iter);
		b64(cases[i].salt, want, sizeof(want), &wn);
		if (n != wn || memcmp(salt, want, n) != 0 || iter != 4096)
			fail_msg("case %s: wrong salt or iterations", cases[i].mech);
		buf_free(&rep);
	}
}

static void test_params_unknown_user(void **state)
{
	struct fixture *fx = *state;
	uint8_t a[64], b[64], c[64], d[64], real[64];
	size_t na, nb, nc, nd, nreal;
	uint32_t ia, ib, ic, id, ireal;
	struct buf ra, rb, rc, rd, rreal;
	char sa[128], sreal[128], why[128];

	/* A real user with a generated salt: the fake must look like it. */
	assert_int_equal(sto_account_create(&fx->env, 0, "real", "secret", why, sizeof(why)), STO_OK);
	params(fx, "real", "SCRAM-SHA-256", &rreal, real, &nreal, &ireal);
	params(fx, "ghost", "SCRAM-SHA-256", &ra, a, &na, &ia);
	params(fx, "ghost", "SCRAM-SHA-256", &rb, b, &nb, &ib);
	params(fx, "ghost", "SCRAM-SHA-1", &rc, c, &nc, &ic);
	params(fx, "phantom", "SCRAM-SHA-256", &rd, d, &nd, &id);
	if (na != nb || memcmp(a, b, na) != 0 || ia != ib)
		fail_msg("case stable: fake parameters changed between calls");
	if (na != nc || memcmp(a, c, na) == 0)
		fail_msg("case per-mechanism: both mechanisms got the same fake salt");
	if (na != nd || memcmp(a, d, na) == 0)
		fail_msg("case per-user: two unknown users got the same fake salt");
	reply_shape(&ra, sa, sizeof(sa));
	reply_shape(&rreal, sreal, sizeof(sreal));
	if (strcmp(sa, sreal) != 0 || ia != ireal)
		fail_msg("case shape: fake reply %s differs from real reply %s", sa, sreal);

	/* The secret persists: the same fake after reopening, and the file is private. */
	struct stat st;
	char path[128];
	snprintf(path, sizeof(path), "%s/.scram-secret", fx->dir);
	assert_int_equal(stat(path, &st), 0);
	if ((st.st_mode & 0777) != 0600 || st.st_size != STO_SECRET_LEN)
		fail_msg("case secret file: mode %o size %lld", st.st_mode & 0777,
			 (long long)st.st_size);
	sto_env_close(&fx->env);
	open_env(fx);
	buf_free(&rb);
	params(fx, "ghost", "SCRAM-SHA-256", &rb, b, &nb, &ib);
	if (na != nb || memcmp(a, b, na) != 0)
		fail_msg("case reopen: fake parameters changed after a restart");
	buf_free(&ra);
	buf_free(&rb);
	buf_free(&rc);
	buf_free(&rd);
	buf_free(&rreal);
}

static void test_derive_rfc_keys(void **state)
{
	(void)state;
	/* RFC 5802 §5 and RFC 7677 §3 give salt and password; the signature above checks the
	 * whole chain, this checks that the same inputs always give the same verifier. */
	struct sto_verifier v1, v2;
	uint8_t salt[16];
	size_t n;
	b64("QSXCR+Q6sek8bf92", salt, sizeof(salt), &n);
	assert_int_equal(sto_scram_derive(STO_MECH_SHA1, "pencil", 6, salt, n, 4096, &v1), 0);
	assert_int_equal(sto_scram_derive(STO_MECH_SHA1, "pencil", 6, salt, n, 4096, &v2), 0);
	assert_memory_equal(v1.stored_key, v2.stored_key, 20);
	assert_int_equal(sto_scram_derive(STO_MECH_SHA1, "pencil", 6, salt, n, 0, &v2), -1);
	assert_int_equal(sto_scram_derive(STO_MECH_SHA1, "pencil", 6, salt, 0, 4096, &v2), -1);
}

static void test_base64(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int ok;
		const char *want;
	} cases[] = {
		{"", 1, ""}, {"Zg==", 1, "f"}, {"Zm8=", 1, "fo"}, {"Zm9v", 1, "foo"},
		{"Zm9vYg==", 1, "foob"}, {"Zg=", 0, NULL}, {"Zh==", 0, NULL}, {"Z===", 0, NULL},
		{"Zg==Zg==", 0, NULL}, {"Zm9v\n", 0, NULL}, {"Zm-v", 0, NULL}, {"=Zm9", 0, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t out[16];
		char enc[32];
		size_t n = 0;
		int rc = sto_b64_decode(cases[i].in, strlen(cases[i].in), out, sizeof(out), &n);
		if ((rc == 0) != cases[i].ok)
			fail_msg("case \"%s\": got rc %d", cases[i].in, rc);
		if (!cases[i].ok)
			continue;
		if (n != strlen(cases[i].want) || memcmp(out, cases[i].want, n) != 0)
			fail_msg("case \"%s\": wrong bytes", cases[i].in);
		assert_int_equal(sto_b64_encode(out, n, enc, sizeof(enc)), 0);
		if (strcmp(enc, cases[i].in) != 0)
			fail_msg("case \"%s\": re-encoded as \"%s\"", cases[i].in, enc);
	}
}

int main(void)
{
	log_init(LOG_CRIT);	/* the corrupt-record cases log at err by design */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_verify_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_params_known, setup, teardown),
		cmocka_unit_test_setup_teardown(test_params_unknown_user, setup, teardown),
		cmocka_unit_test(test_derive_rfc_keys),
		cmocka_unit_test(test_base64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
