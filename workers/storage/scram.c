/* SCRAM verifiers and proof checks with OpenSSL; SASLprep with libidn. Plain passwords
 * only pass through here and are wiped by their owners; nothing here logs. */
#include "scram.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stringprep.h>

static const struct {
	const char *name;
	size_t hash_len;
	const EVP_MD *(*md)(void);
} sto_mechs[STO_MECH_COUNT] = {
	[STO_MECH_SHA1] = {"SCRAM-SHA-1", 20, EVP_sha1},
	[STO_MECH_SHA256] = {"SCRAM-SHA-256", 32, EVP_sha256},
};

int sto_mech_parse(const char *name, size_t len)
{
	for (int i = 0; i < STO_MECH_COUNT; i++)
		if (strlen(sto_mechs[i].name) == len && memcmp(sto_mechs[i].name, name, len) == 0)
			return i;
	return -1;
}

const char *sto_mech_name(enum sto_mech m) { return sto_mechs[m].name; }
size_t sto_mech_hash_len(enum sto_mech m) { return sto_mechs[m].hash_len; }

static int sto_hmac(enum sto_mech m, const uint8_t *key, size_t klen, const void *msg,
		    size_t mlen, uint8_t *out)
{
	unsigned int olen = 0;
	if (!HMAC(sto_mechs[m].md(), key, (int)klen, msg, mlen, out, &olen) ||
	    olen != sto_mechs[m].hash_len)
		return -1;
	return 0;
}

static int sto_hash(enum sto_mech m, const uint8_t *p, size_t n, uint8_t *out)
{
	unsigned int olen = 0;
	if (!EVP_Digest(p, n, out, &olen, sto_mechs[m].md(), NULL) || olen != sto_mechs[m].hash_len)
		return -1;
	return 0;
}

int sto_hmac256(const uint8_t *key, size_t klen, const uint8_t *msg, size_t mlen, uint8_t *out,
		size_t outlen)
{
	uint8_t full[32];
	if (outlen > sizeof(full) || sto_hmac(STO_MECH_SHA256, key, klen, msg, mlen, full) < 0)
		return -1;
	memcpy(out, full, outlen);
	explicit_bzero(full, sizeof(full));
	return 0;
}

int sto_scram_derive(enum sto_mech m, const char *pw, size_t pwlen, const uint8_t *salt,
		     size_t salt_len, uint32_t iter, struct sto_verifier *out)
{
	uint8_t salted[STO_HASH_MAX], client_key[STO_HASH_MAX];
	size_t hl = sto_mechs[m].hash_len;
	int rc = -1;

	if (salt_len == 0 || salt_len > STO_SALT_MAX || iter == 0 || iter > STO_SCRAM_ITER_MAX ||
	    pwlen > STO_PASSWORD_MAX) {
		errno = EINVAL;
		return -1;
	}
	memset(out, 0, sizeof(*out));
	if (!PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)salt_len, (int)iter, sto_mechs[m].md(),
			       (int)hl, salted))
		goto out;
	if (sto_hmac(m, salted, hl, "Client Key", 10, client_key) < 0 ||
	    sto_hash(m, client_key, hl, out->stored_key) < 0 ||
	    sto_hmac(m, salted, hl, "Server Key", 10, out->server_key) < 0)
		goto out;
	memcpy(out->salt, salt, salt_len);
	out->salt_len = salt_len;
	out->iter = iter;
	rc = 0;
out:
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(client_key, sizeof(client_key));
	return rc;
}

int sto_scram_verify(enum sto_mech m, const struct sto_verifier *v, const uint8_t *authmsg,
		     size_t alen, const uint8_t *proof, size_t plen, uint8_t *sig)
{
	uint8_t client_sig[STO_HASH_MAX], client_key[STO_HASH_MAX], stored[STO_HASH_MAX];
	size_t hl = sto_mechs[m].hash_len;
	int rc = -1;

	if (plen != hl)
		return -1;
	if (sto_hmac(m, v->stored_key, hl, authmsg, alen, client_sig) < 0)
		goto out;
	for (size_t i = 0; i < hl; i++)
		client_key[i] = proof[i] ^ client_sig[i];
	if (sto_hash(m, client_key, hl, stored) < 0)
		goto out;
	if (CRYPTO_memcmp(stored, v->stored_key, hl) != 0)
		goto out;
	if (sto_hmac(m, v->server_key, hl, authmsg, alen, sig) < 0)
		goto out;
	rc = 0;
out:
	explicit_bzero(client_sig, sizeof(client_sig));
	explicit_bzero(client_key, sizeof(client_key));
	explicit_bzero(stored, sizeof(stored));
	return rc;
}

void sto_secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

int sto_saslprep(const char *in, char **out)
{
	char *res = NULL;

	*out = NULL;
	if (strlen(in) > STO_PASSWORD_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (stringprep_profile(in, &res, "SASLprep", STRINGPREP_NO_UNASSIGNED) != STRINGPREP_OK) {
		free(res);
		errno = EINVAL;
		return -1;
	}
	if (res[0] == 0 || strlen(res) > STO_PASSWORD_MAX) {
		sto_secret_free(res);
		errno = EINVAL;
		return -1;
	}
	*out = res;
	return 0;
}

static const char sto_b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sto_b64_encode(const uint8_t *p, size_t n, char *out, size_t cap)
{
	size_t need = (n + 2) / 3 * 4 + 1, o = 0;

	if (n > (SIZE_MAX - 3) / 4 || need > cap) {
		errno = ENOSPC;
		return -1;
	}
	for (size_t i = 0; i < n; i += 3) {
		uint32_t w = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			w |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			w |= p[i + 2];
		out[o++] = sto_b64_alphabet[w >> 18 & 63];
		out[o++] = sto_b64_alphabet[w >> 12 & 63];
		out[o++] = i + 1 < n ? sto_b64_alphabet[w >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? sto_b64_alphabet[w & 63] : '=';
	}
	out[o] = 0;
	return 0;
}

static int sto_b64_value(char c)
{
	const char *p = c ? strchr(sto_b64_alphabet, c) : NULL;
	return p ? (int)(p - sto_b64_alphabet) : -1;
}

int sto_b64_decode(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t o = 0;

	if (slen % 4 != 0)
		goto bad;
	for (size_t i = 0; i < slen; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			v[k] = sto_b64_value(s[i + k]);
			if (s[i + k] == '=' && k >= 2 && i + 4 == slen) {
				v[k] = 0;
				pad++;
			} else if (v[k] < 0 || pad) {
				goto bad;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		/* The bits under the padding must be zero: one encoding per value. */
		if ((pad == 2 && (w & 0xffff)) || (pad == 1 && (w & 0xff)))
			goto bad;
		if (o + 3 - (size_t)pad > cap)
			goto bad;
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
	}
	*outlen = o;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}
