/* SASL PLAIN for c2s, only over TLS: the password is turned into a SCRAM proof here (PBKDF2 with
 * the salt and iterations storage sends), so storage verifies PLAIN with its SCRAM verifiers. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "sasl.h"
#include "xlimits.h"

int c2s_plain_parse(const uint8_t *msg, size_t len, char *authzid, char *user, char *pass,
		    size_t cap)
{
	const uint8_t *z1 = memchr(msg, 0, len);
	if (!z1)
		return C2S_SASL_EMALFORMED;
	const uint8_t *u = z1 + 1;
	const uint8_t *z2 = memchr(u, 0, len - (size_t)(u - msg));
	if (!z2)
		return C2S_SASL_EMALFORMED;
	const uint8_t *p = z2 + 1;
	size_t al = (size_t)(z1 - msg), ul = (size_t)(z2 - u), pl = len - (size_t)(p - msg);
	if (ul == 0 || pl == 0 || al >= cap || ul >= cap || pl >= cap || memchr(p, 0, pl))
		return C2S_SASL_EMALFORMED;
	memcpy(authzid, msg, al);
	authzid[al] = 0;
	memcpy(user, u, ul);
	user[ul] = 0;
	memcpy(pass, p, pl);
	pass[pl] = 0;
	return C2S_SASL_OK;
}

/* The saslname escaping of RFC 5802: ',' → "=2C", '=' → "=3D". */
static int put_saslname(struct buf *out, const char *s)
{
	for (; *s; s++) {
		int r = *s == ',' ? buf_put_str(out, "=2C")
			: *s == '=' ? buf_put_str(out, "=3D")
				    : buf_put_u8(out, (uint8_t)*s);
		if (r < 0)
			return -1;
	}
	return 0;
}

int c2s_plain_client_first(const char *user, struct buf *out)
{
	uint8_t rnd[C2S_SCRAM_NONCE_BYTES];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	return buf_put_str(out, "n,,n=") < 0 || put_saslname(out, user) < 0 ||
			       buf_put_str(out, ",r=") < 0 || c2s_b64_encode(out, rnd, sizeof(rnd)) < 0
		       ? -1
		       : 0;
}

/* Finds "k=" in the server-first message: its value and length. */
static const char *sfirst_attr(const char *sf, char k, size_t *n)
{
	for (const char *p = sf; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (p[0] == k && p[1] == '=') {
			const char *e = strchr(p, ',');
			*n = e ? (size_t)(e - p - 2) : strlen(p + 2);
			return p + 2;
		}
	}
	return NULL;
}

int c2s_plain_client_final(const struct c2s_scram *s, const char *pass, struct buf *out)
{
	const EVP_MD *md = c2s_scram_mech_base(s->mech) == C2S_SCRAM_SHA256 ? EVP_sha256() : EVP_sha1();
	size_t hl = c2s_scram_hash_len(s->mech), sl, il;
	const char *salt64 = sfirst_attr(s->sfirst, 's', &sl), *it = sfirst_attr(s->sfirst, 'i', &il);
	if (s->state != C2S_SCRAM_WAIT_FINAL || !salt64 || !it || hl == 0)
		return C2S_SASL_ESTATE;
	unsigned long iter = strtoul(it, NULL, 10);
	char *prepped = NULL;
	if (iter == 0 || iter > (1u << 24) ||
	    stringprep_profile(pass, &prepped, "SASLprep", STRINGPREP_NO_UNASSIGNED) != STRINGPREP_OK)
		return C2S_SASL_EAUTH;
	struct buf salt, msg;
	buf_init(&salt);
	buf_init(&msg);
	uint8_t sp[32], ck[32], sk[32], sig[32], proof[32];
	unsigned int n = 0;
	int bad = c2s_b64_decode(&salt, salt64, sl, SCRAM_MAX_MSG) < 0 ||
		  !PKCS5_PBKDF2_HMAC(prepped, (int)strlen(prepped), salt.data, (int)salt.len, (int)iter, md,
				     (int)hl, sp) ||
		  !HMAC(md, sp, (int)hl, (const uint8_t *)"Client Key", 10, ck, &n) ||
		  EVP_Digest(ck, hl, sk, NULL, md, NULL) != 1;
	explicit_bzero(prepped, strlen(prepped));
	free(prepped);
	/* client-final-without-proof, then the AuthMessage it signs */
	bad = bad || buf_put_str(&msg, "c=biws,r=") < 0 || buf_put_str(&msg, s->nonce) < 0;
	struct buf am;
	buf_init(&am);
	bad = bad || buf_put_str(&am, s->cfb) < 0 || buf_put_u8(&am, ',') < 0 ||
	      buf_put_str(&am, s->sfirst) < 0 || buf_put_u8(&am, ',') < 0 ||
	      buf_put(&am, msg.data, msg.len) < 0;
	bad = bad || !HMAC(md, sk, (int)hl, am.data, am.len, sig, &n);
	for (size_t i = 0; !bad && i < hl; i++)
		proof[i] = ck[i] ^ sig[i];
	bad = bad || buf_put_str(&msg, ",p=") < 0 || c2s_b64_encode(&msg, proof, hl) < 0 ||
	      buf_put(out, msg.data, msg.len) < 0;
	explicit_bzero(sp, sizeof(sp));
	explicit_bzero(ck, sizeof(ck));
	explicit_bzero(sk, sizeof(sk));
	explicit_bzero(proof, sizeof(proof));
	buf_wipe_free(&am);
	buf_wipe_free(&msg);
	buf_free(&salt);
	return bad ? C2S_SASL_ETEMP : C2S_SASL_OK;
}
