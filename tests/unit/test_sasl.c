/* Unit tests of the c2s SCRAM server steps: message parsing, malformed messages, and a full
 * SCRAM-SHA-1 exchange on the RFC 5802 example with the storage side computed here; also the
 * stringprep-based JID preparation c2s applies to usernames and stanza addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "sto.h"
#include "tlv.h"
#include "workers/stream/sasl.h"

int c2s_jid_prep(const char *in, char *out, size_t cap);	/* workers/stream/c2s.h */

#define RFC_CFIRST "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
#define RFC_SNONCE "3rfcNHYJY1ZVvWVs7j"
#define RFC_SFIRST "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
#define RFC_CFINAL_NP "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
#define RFC_CFINAL RFC_CFINAL_NP ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
#define RFC_SFINAL "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="

struct first_case {
	const char *name, *msg;
	int want;
	const char *user, *authzid, *cnonce, *bare;
};

static const struct first_case firsts[] = {
	{"rfc example", RFC_CFIRST, C2S_SASL_OK, "user", "", "fyko+d2lbbFgONRv9qkxdawL", "n=user,r=fyko+d2lbbFgONRv9qkxdawL"},
	{"client supports binding", "y,,n=user,r=abc", C2S_SASL_OK, "user", "", "abc", "n=user,r=abc"},
	{"escaped saslname", "n,,n=a=2Cb=3Dc,r=abc", C2S_SASL_OK, "a,b=c", "", "abc", "n=a=2Cb=3Dc,r=abc"},
	{"authzid", "n,a=user@h,n=user,r=abc", C2S_SASL_OK, "user", "user@h", "abc", "n=user,r=abc"},
	{"optional extension after nonce", "n,,n=user,r=abc,x=1", C2S_SASL_OK, "user", "", "abc", "n=user,r=abc,x=1"},
	{"empty", "", C2S_SASL_EMALFORMED, NULL, NULL, NULL, NULL},
	{"channel binding asked", "p=tls-unique,,n=user,r=abc", C2S_SASL_ECBIND, NULL, NULL, NULL, NULL},
	{"bad cbind flag", "x,,n=user,r=abc", C2S_SASL_EMALFORMED, NULL, NULL, NULL, NULL},
	{"missing authzid field", "n,n=user,r=abc", C2S_SASL_EMALFORMED, NULL, NULL, NULL, NULL},
	{"gs2 header only", "n,,", C2S_SASL_EMALFORMED, NULL, NULL, NULL, NULL},
	{"mandatory extension", "n,,m=ext,n=user,r=abc", C2S_SASL_EMALFORMED, NULL, NULL, NULL, NULL},
	{"no nonce", "n,,n=user", C2S_SASL_EMALFORMED, NULL, NULL, NULL, NULL},
	{"empty nonce", "n,,n=user,r=", C2S_SASL_EMALFORMED, NULL, NULL, NULL, NULL},
	{"nonce with a space", "n,,n=user,r=a b", C2S_SASL_EMALFORMED, NULL, NULL, NULL, NULL},
	{"empty username", "n,,n=,r=abc", C2S_SASL_EMALFORMED, NULL, NULL, NULL, NULL},
	{"bad escape", "n,,n=a=2Xb,r=abc", C2S_SASL_EMALFORMED, NULL, NULL, NULL, NULL},
	{"truncated escape", "n,,n=ab=2,r=abc", C2S_SASL_EMALFORMED, NULL, NULL, NULL, NULL},
	{"attributes swapped", "n,,r=abc,n=user", C2S_SASL_EMALFORMED, NULL, NULL, NULL, NULL},
	{"authzid without a=", "n,user,n=user,r=abc", C2S_SASL_EMALFORMED, NULL, NULL, NULL, NULL},
};

static void test_parse_first(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++) {
		const struct first_case *c = &firsts[i];
		struct c2s_scram_first f;
		int r = c2s_scram_parse_first(c->msg, strlen(c->msg), &f);
		if (r != c->want)
			fail_msg("case \"%s\": got %d, want %d", c->name, r, c->want);
		if (r != C2S_SASL_OK)
			continue;
		if (strcmp(f.user, c->user) || strcmp(f.authzid, c->authzid) ||
		    f.cnonce_len != strlen(c->cnonce) || memcmp(f.cnonce, c->cnonce, f.cnonce_len) ||
		    f.bare_len != strlen(c->bare) || memcmp(f.bare, c->bare, f.bare_len))
			fail_msg("case \"%s\": got user=%s authzid=%s nonce=%.*s bare=%.*s", c->name, f.user,
				 f.authzid, (int)f.cnonce_len, f.cnonce, (int)f.bare_len, f.bare);
	}
}

struct final_case {
	const char *name, *msg;
	int want;
	size_t without_proof_len;
};

static const struct final_case finals[] = {
	{"rfc example", RFC_CFINAL, C2S_SASL_OK, sizeof(RFC_CFINAL_NP) - 1},
	{"extension before proof", "c=biws,r=abc,x=y,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", C2S_SASL_OK, 16},
	{"empty", "", C2S_SASL_EMALFORMED, 0},
	{"no channel binding", "r=abc,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", C2S_SASL_EMALFORMED, 0},
	{"bad base64 binding", "c=b!ws,r=abc,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", C2S_SASL_EMALFORMED, 0},
	{"no nonce", "c=biws,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", C2S_SASL_EMALFORMED, 0},
	{"no proof", "c=biws,r=abc", C2S_SASL_EMALFORMED, 0},
	{"proof not last", "c=biws,r=abc,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=,x=y", C2S_SASL_EMALFORMED, 0},
	{"trailing comma", "c=biws,r=abc,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=,", C2S_SASL_EMALFORMED, 0},
	{"short proof", "c=biws,r=abc,p=dGVzdA==", C2S_SASL_EMALFORMED, 0},
	{"proof not base64", "c=biws,r=abc,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts", C2S_SASL_EMALFORMED, 0},
	{"garbage attribute", "c=biws,r=abc,junk,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", C2S_SASL_EMALFORMED, 0},
};

static void test_parse_final(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(finals) / sizeof(finals[0]); i++) {
		const struct final_case *c = &finals[i];
		struct c2s_scram_final f;
		int r = c2s_scram_parse_final(c->msg, strlen(c->msg), 20, &f);
		if (r != c->want)
			fail_msg("case \"%s\": got %d, want %d", c->name, r, c->want);
		if (r == C2S_SASL_OK &&
		    (f.without_proof_len != c->without_proof_len || f.proof_len != 20 ||
		     f.cbind_len != 3 || memcmp(f.cbind, "n,,", 3) != 0))
			fail_msg("case \"%s\": got without_proof_len=%zu proof_len=%zu cbind_len=%zu",
				 c->name, f.without_proof_len, f.proof_len, f.cbind_len);
	}
}

struct b64_case {
	const char *in;
	int ok;
	const char *out;
};

static void test_base64(void **state)
{
	(void)state;
	static const struct b64_case bc[] = {
		{"", 1, ""}, {"Zg==", 1, "f"}, {"Zm8=", 1, "fo"}, {"Zm9v", 1, "foo"},
		{"Zm9vYg==", 1, "foob"}, {"Zg=", 0, NULL}, {"Zh==", 0, NULL}, {"Z===", 0, NULL},
		{"Zg==Zg==", 0, NULL}, {"Zm9v\n", 0, NULL}, {"Zm 9", 0, NULL},
	};
	for (size_t i = 0; i < sizeof(bc) / sizeof(bc[0]); i++) {
		struct buf b, e;
		buf_init(&b);
		buf_init(&e);
		int r = c2s_b64_decode(&b, bc[i].in, strlen(bc[i].in), 64);
		if ((r == 0) != bc[i].ok)
			fail_msg("case \"%s\": got %d, want ok=%d", bc[i].in, r, bc[i].ok);
		if (r == 0) {
			if (b.len != strlen(bc[i].out) || (b.len && memcmp(b.data, bc[i].out, b.len) != 0))
				fail_msg("case \"%s\": decoded wrong", bc[i].in);
			assert_int_equal(c2s_b64_encode(&e, bc[i].out, strlen(bc[i].out)), 0);
			if (e.len != strlen(bc[i].in) || (e.len && memcmp(e.data, bc[i].in, e.len) != 0))
				fail_msg("case \"%s\": encoding does not round-trip", bc[i].in);
		}
		buf_free(&b);
		buf_free(&e);
	}
}

/* ---- the storage side, computed here with OpenSSL ---- */

struct tlvs {
	uint32_t op;
	char host[64], user[64], mech[32];
	uint8_t authmsg[512], proof[64];
	size_t authmsg_len, proof_len;
};

static void read_req(const struct buf *req, struct tlvs *o)
{
	memset(o, 0, sizeof(*o));
	struct rbuf r;
	struct tlv t;
	rbuf_init(&r, req->data, req->len);
	while (tlv_next(&r, &t) == 1) {
		if (t.tag == STO_T_OP)
			assert_int_equal(tlv_u32(&t, &o->op), 0);
		else if (t.tag == STO_T_HOST)
			assert_int_equal(tlv_str(&t, o->host, sizeof(o->host)), 0);
		else if (t.tag == STO_T_USER)
			assert_int_equal(tlv_str(&t, o->user, sizeof(o->user)), 0);
		else if (t.tag == STO_T_MECH)
			assert_int_equal(tlv_str(&t, o->mech, sizeof(o->mech)), 0);
		else if (t.tag == STO_T_AUTHMSG) {
			assert_true(t.len <= sizeof(o->authmsg));
			memcpy(o->authmsg, t.val, t.len);
			o->authmsg_len = t.len;
		} else if (t.tag == STO_T_PROOF) {
			assert_true(t.len <= sizeof(o->proof));
			memcpy(o->proof, t.val, t.len);
			o->proof_len = t.len;
		}
	}
}

static const uint8_t rfc_salt[] = {0x41, 0x25, 0xc2, 0x47, 0xe4, 0x3a, 0xb1, 0xe9,
				   0x3c, 0x6d, 0xff, 0x76};	/* base64 QSXCR+Q6sek8bf92 */

static void hmac1(const uint8_t *k, size_t kl, const void *m, size_t ml, uint8_t out[20])
{
	unsigned len = 20;
	assert_non_null(HMAC(EVP_sha1(), k, (int)kl, m, ml, out, &len));
}

/* Verifies the proof as storage would and fills the reply: SIGNATURE, or STO_EAUTH. */
static void storage_verify(const struct tlvs *q, const char *password, struct buf *rep)
{
	uint8_t sp[20], ck[20], sk[20], stored[20], csig[20], key[20], ssig[20];
	assert_int_equal(PKCS5_PBKDF2_HMAC_SHA1(password, (int)strlen(password), rfc_salt,
						sizeof(rfc_salt), 4096, 20, sp), 1);
	hmac1(sp, 20, "Client Key", 10, ck);
	SHA1(ck, 20, stored);
	hmac1(stored, 20, q->authmsg, q->authmsg_len, csig);
	assert_int_equal(q->proof_len, 20);
	for (int i = 0; i < 20; i++)
		key[i] = q->proof[i] ^ csig[i];
	uint8_t check[20];
	SHA1(key, 20, check);
	if (memcmp(check, stored, 20) != 0) {
		tlv_put_u32(rep, STO_T_STATUS, STO_EAUTH);
		return;
	}
	hmac1(sp, 20, "Server Key", 10, sk);
	hmac1(sk, 20, q->authmsg, q->authmsg_len, ssig);
	tlv_put_u32(rep, STO_T_STATUS, STO_OK);
	tlv_put(rep, STO_T_SIGNATURE, ssig, 20);
}

static void params_reply(struct buf *rep)
{
	tlv_put_u32(rep, STO_T_STATUS, STO_OK);
	tlv_put(rep, STO_T_SALT, rfc_salt, sizeof(rfc_salt));
	tlv_put_u32(rep, STO_T_ITER, 4096);
}

/* Runs the exchange up to client-final; returns the VERIFY request in q. */
static int exchange(struct c2s_scram *s, const char *cfinal, struct tlvs *q)
{
	struct buf req, rep, out;
	buf_init(&req);
	buf_init(&rep);
	buf_init(&out);
	assert_int_equal(c2s_scram_client_first(s, C2S_SCRAM_SHA1, RFC_CFIRST, strlen(RFC_CFIRST),
						"example.com", &req), C2S_SASL_OK);
	read_req(&req, q);
	assert_int_equal(q->op, STO_OP_SCRAM_PARAMS);
	assert_string_equal(q->host, "example.com");
	assert_string_equal(q->user, "user");
	assert_string_equal(q->mech, "SCRAM-SHA-1");
	params_reply(&rep);
	assert_int_equal(c2s_scram_server_first(s, rep.data, rep.len, RFC_SNONCE, &out), C2S_SASL_OK);
	assert_int_equal(out.len, strlen(RFC_SFIRST));
	assert_memory_equal(out.data, RFC_SFIRST, out.len);
	buf_reset(&req);
	int r = c2s_scram_client_final(s, cfinal, strlen(cfinal), "example.com", &req);
	if (r == C2S_SASL_OK)
		read_req(&req, q);
	buf_free(&req);
	buf_free(&rep);
	buf_free(&out);
	return r;
}

static void test_rfc5802_exchange(void **state)
{
	(void)state;
	struct c2s_scram s = {0};
	struct tlvs q;
	assert_int_equal(exchange(&s, RFC_CFINAL, &q), C2S_SASL_OK);
	assert_int_equal(q.op, STO_OP_SCRAM_VERIFY);
	const char *am = "n=user,r=fyko+d2lbbFgONRv9qkxdawL," RFC_SFIRST "," RFC_CFINAL_NP;
	assert_int_equal(q.authmsg_len, strlen(am));
	assert_memory_equal(q.authmsg, am, q.authmsg_len);
	struct buf rep, out;
	buf_init(&rep);
	buf_init(&out);
	storage_verify(&q, "pencil", &rep);
	assert_int_equal(c2s_scram_verify_reply(&s, rep.data, rep.len, &out), C2S_SASL_OK);
	assert_int_equal(out.len, strlen(RFC_SFINAL));
	assert_memory_equal(out.data, RFC_SFINAL, out.len);
	c2s_scram_clear(&s);
	buf_free(&rep);
	buf_free(&out);
}

static void test_wrong_password(void **state)
{
	(void)state;
	struct c2s_scram s = {0};
	struct tlvs q;
	assert_int_equal(exchange(&s, RFC_CFINAL, &q), C2S_SASL_OK);
	struct buf rep, out;
	buf_init(&rep);
	buf_init(&out);
	storage_verify(&q, "not-pencil", &rep);
	assert_int_equal(c2s_scram_verify_reply(&s, rep.data, rep.len, &out), C2S_SASL_EAUTH);
	assert_int_equal(out.len, 0);
	c2s_scram_clear(&s);
	buf_free(&rep);
}

/* PLAIN run as SCRAM: with the RFC 5802 salt, iterations and nonces, the password "pencil"
 * must give exactly the RFC's client-final message. */
static void test_plain_as_scram(void **state)
{
	(void)state;
	char az[64], user[64], pass[64];
	static const uint8_t ok[] = "\0user\0pencil", withz[] = "user@h\0user\0pencil";
	assert_int_equal(c2s_plain_parse(ok, sizeof(ok) - 1, az, user, pass, sizeof(user)), C2S_SASL_OK);
	assert_string_equal(az, "");
	assert_string_equal(user, "user");
	assert_string_equal(pass, "pencil");
	assert_int_equal(c2s_plain_parse(withz, sizeof(withz) - 1, az, user, pass, sizeof(user)), C2S_SASL_OK);
	assert_string_equal(az, "user@h");
	static const uint8_t nouser[] = "\0\0pencil", nopass[] = "\0user\0", onenul[] = "user\0pencil";
	assert_int_equal(c2s_plain_parse(nouser, sizeof(nouser) - 1, az, user, pass, sizeof(user)), C2S_SASL_EMALFORMED);
	assert_int_equal(c2s_plain_parse(nopass, sizeof(nopass) - 1, az, user, pass, sizeof(user)), C2S_SASL_EMALFORMED);
	assert_int_equal(c2s_plain_parse(onenul, sizeof(onenul) - 1, az, user, pass, sizeof(user)), C2S_SASL_EMALFORMED);

	struct c2s_scram sc = {0};
	struct buf req, rep, out, msg;
	buf_init(&req);
	buf_init(&rep);
	buf_init(&out);
	buf_init(&msg);
	assert_int_equal(c2s_plain_client_first("user", &msg), 0);
	buf_put_u8(&msg, 0);
	assert_memory_equal(msg.data, "n,,n=user,r=", 12);
	assert_int_equal(c2s_scram_client_first(&sc, C2S_SCRAM_SHA1, RFC_CFIRST, strlen(RFC_CFIRST),
						"example.com", &req), C2S_SASL_OK);
	params_reply(&rep);
	assert_int_equal(c2s_scram_server_first(&sc, rep.data, rep.len, RFC_SNONCE, &out), C2S_SASL_OK);
	buf_reset(&msg);
	assert_int_equal(c2s_plain_client_final(&sc, "pencil", &msg), C2S_SASL_OK);
	assert_int_equal(msg.len, strlen(RFC_CFINAL));
	assert_memory_equal(msg.data, RFC_CFINAL, msg.len);
	c2s_scram_clear(&sc);
	buf_free(&req);
	buf_free(&rep);
	buf_free(&out);
	buf_free(&msg);
}

/* -PLUS: p= only with a -PLUS mechanism and a known type; the final message must carry the gs2
 * header followed by the binding the TLS layer computed. */
static void test_channel_binding(void **state)
{
	(void)state;
	struct c2s_scram sc = {0};
	struct buf req, rep, out, fin;
	buf_init(&req);
	buf_init(&rep);
	buf_init(&out);
	buf_init(&fin);
	const char *pf = "p=tls-server-end-point,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
	assert_int_equal(c2s_scram_client_first(&sc, C2S_SCRAM_SHA1, pf, strlen(pf), "h", &req), C2S_SASL_ECBIND);
	assert_int_equal(c2s_scram_client_first(&sc, C2S_SCRAM_SHA1_PLUS, RFC_CFIRST, strlen(RFC_CFIRST), "h", &req),
			 C2S_SASL_ECBIND);
	const char *unk = "p=tls-unique,,n=user,r=abc";
	assert_int_equal(c2s_scram_client_first(&sc, C2S_SCRAM_SHA1_PLUS, unk, strlen(unk), "h", &req), C2S_SASL_ECBIND);
	assert_int_equal(c2s_scram_client_first(&sc, C2S_SCRAM_SHA1_PLUS, pf, strlen(pf), "h", &req), C2S_SASL_OK);
	assert_int_equal(sc.cbind, 'p');
	assert_int_equal(sc.cbtype, C2S_CB_ENDPOINT);
	params_reply(&rep);
	assert_int_equal(c2s_scram_server_first(&sc, rep.data, rep.len, RFC_SNONCE, &out), C2S_SASL_OK);
	memset(sc.cbdata, 0xab, 32);
	sc.cbdata_len = 32;
	uint8_t cb[64];
	memcpy(cb, "p=tls-server-end-point,,", 24);
	memset(cb + 24, 0xab, 32);
	for (int wrong = 1; wrong >= 0; wrong--) {
		cb[30] = wrong ? 0 : 0xab;
		buf_reset(&fin);
		buf_reset(&req);
		buf_put_str(&fin, "c=");
		c2s_b64_encode(&fin, cb, 56);
		buf_put_str(&fin, ",r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
		assert_int_equal(c2s_scram_client_final(&sc, (char *)fin.data, fin.len, "h", &req),
				 wrong ? C2S_SASL_EAUTH : C2S_SASL_OK);
	}
	struct tlvs q;
	read_req(&req, &q);
	assert_string_equal(q.mech, "SCRAM-SHA-1");	/* storage knows the base mechanism */
	c2s_scram_clear(&sc);
	buf_free(&req);
	buf_free(&rep);
	buf_free(&out);
	buf_free(&fin);
}

struct bad_final {
	const char *name, *msg;
	int want;
};

static void test_final_mismatches(void **state)
{
	(void)state;
	static const struct bad_final bf[] = {
		{"other nonce", "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7X,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", C2S_SASL_EAUTH},
		{"client nonce only", "c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", C2S_SASL_EAUTH},
		{"other gs2 header", "c=eSws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", C2S_SASL_EAUTH},
		{"malformed", "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j", C2S_SASL_EMALFORMED},
	};
	for (size_t i = 0; i < sizeof(bf) / sizeof(bf[0]); i++) {
		struct c2s_scram s = {0};
		struct tlvs q;
		int r = exchange(&s, bf[i].msg, &q);
		if (r != bf[i].want)
			fail_msg("case \"%s\": got %d, want %d", bf[i].name, r, bf[i].want);
		c2s_scram_clear(&s);
	}
}

static void test_storage_failures(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		uint32_t status;
		int want;
	} sf[] = {
		{"not authorized", STO_EAUTH, C2S_SASL_EAUTH},
		{"storage down", STO_EUNAVAIL, C2S_SASL_ETEMP},
		{"io error", STO_EIO, C2S_SASL_ETEMP},
	};
	for (size_t i = 0; i < sizeof(sf) / sizeof(sf[0]); i++) {
		struct c2s_scram s = {0};
		struct buf req, rep, out;
		buf_init(&req);
		buf_init(&rep);
		buf_init(&out);
		assert_int_equal(c2s_scram_client_first(&s, C2S_SCRAM_SHA256, RFC_CFIRST,
							strlen(RFC_CFIRST), "h", &req), C2S_SASL_OK);
		tlv_put_u32(&rep, STO_T_STATUS, sf[i].status);
		int r = c2s_scram_server_first(&s, rep.data, rep.len, NULL, &out);
		if (r != sf[i].want)
			fail_msg("case \"%s\": got %d, want %d", sf[i].name, r, sf[i].want);
		c2s_scram_clear(&s);
		buf_free(&req);
		buf_free(&rep);
		buf_free(&out);
	}
	/* a reply without a status is not trusted */
	struct c2s_scram s = {0};
	struct buf req, out;
	buf_init(&req);
	buf_init(&out);
	assert_int_equal(c2s_scram_client_first(&s, C2S_SCRAM_SHA1, RFC_CFIRST, strlen(RFC_CFIRST), "h",
						&req), C2S_SASL_OK);
	assert_int_equal(c2s_scram_server_first(&s, (const uint8_t *)"\0\1", 2, NULL, &out), C2S_SASL_ETEMP);
	c2s_scram_clear(&s);
	buf_free(&req);
}

static void test_random_nonce_and_order(void **state)
{
	(void)state;
	struct c2s_scram s = {0};
	struct buf req, rep, out;
	buf_init(&req);
	buf_init(&rep);
	buf_init(&out);
	assert_int_equal(c2s_scram_client_final(&s, RFC_CFINAL, strlen(RFC_CFINAL), "h", &req),
			 C2S_SASL_ESTATE);
	assert_int_equal(c2s_scram_client_first(&s, C2S_SCRAM_SHA256, "n,,n=User,r=abc", 15, "h", &req),
			 C2S_SASL_OK);
	assert_string_equal(s.user, "user");	/* nodeprep'ed for the JID and storage */
	params_reply(&rep);
	assert_int_equal(c2s_scram_server_first(&s, rep.data, rep.len, NULL, &out), C2S_SASL_OK);
	/* "r=abc" + 24 base64 characters for 18 random bytes */
	assert_true(out.len > 5 + 24);
	assert_memory_equal(out.data, "r=abc", 5);
	assert_int_equal(memchr(out.data, ',', out.len) - (void *)out.data, 5 + 24);
	assert_int_equal(c2s_scram_client_first(&s, C2S_SCRAM_SHA1, RFC_CFIRST, strlen(RFC_CFIRST),
						"h", &req), C2S_SASL_ESTATE);
	c2s_scram_clear(&s);
	assert_int_equal(c2s_scram_client_first(&s, 99, RFC_CFIRST, strlen(RFC_CFIRST), "h", &req),
			 C2S_SASL_EMECH);
	assert_int_equal(c2s_scram_client_first(&s, C2S_SCRAM_SHA1, "n,a=other@h,n=user,r=abc", 24,
						"h", &req), C2S_SASL_EAUTHZID);
	assert_int_equal(c2s_scram_mech_parse("SCRAM-SHA-1"), C2S_SCRAM_SHA1);
	assert_int_equal(c2s_scram_mech_parse("SCRAM-SHA-256"), C2S_SCRAM_SHA256);
	assert_int_equal(c2s_scram_mech_parse("PLAIN"), -1);
	assert_string_equal(c2s_sasl_condition(C2S_SASL_EMALFORMED), "malformed-request");
	buf_free(&req);
	buf_free(&rep);
	buf_free(&out);
}

struct jid_case {
	const char *in, *want;	/* want NULL: refused */
};

static void test_jid_prep(void **state)
{
	(void)state;
	static const struct jid_case jc[] = {
		{"Alice@LocalHost/Res", "alice@localhost/Res"},
		{"localhost", "localhost"},
		{"LOCALHOST.", "localhost"},
		{"a@b/c/d@e", "a@b/c/d@e"},
		{"conference.localhost/Nick Name", "conference.localhost/Nick Name"},
		{"@localhost", NULL},
		{"a@", NULL},
		{"a@b@c", NULL},
		{"a@b/", NULL},
		{"a b@c", NULL},
		{"a\"b@c", NULL},
		{"", NULL},
		{"/res", NULL},
	};
	for (size_t i = 0; i < sizeof(jc) / sizeof(jc[0]); i++) {
		char out[3072];
		int r = c2s_jid_prep(jc[i].in, out, sizeof(out));
		if (jc[i].want ? (r != 0 || strcmp(out, jc[i].want) != 0) : r == 0)
			fail_msg("case \"%s\": got %d \"%s\", want %s", jc[i].in, r, r == 0 ? out : "",
				 jc[i].want ? jc[i].want : "refused");
	}
	char big[1100];
	memset(big, 'a', 1024);
	memcpy(big + 1024, "@h", 3);
	char out[3072];
	assert_int_equal(c2s_jid_prep(big, out, sizeof(out)), -1);	/* localpart over 1023 bytes */
	assert_int_equal(c2s_jid_prep("a@b/c", out, 5), -1);	/* no room: refused, not truncated */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_first),	    cmocka_unit_test(test_parse_final),
		cmocka_unit_test(test_base64),		    cmocka_unit_test(test_rfc5802_exchange),
		cmocka_unit_test(test_wrong_password),	    cmocka_unit_test(test_final_mismatches),
		cmocka_unit_test(test_storage_failures),    cmocka_unit_test(test_random_nonce_and_order),
		cmocka_unit_test(test_jid_prep),
		cmocka_unit_test(test_plain_as_scram),
		cmocka_unit_test(test_channel_binding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
