/* TLS 1.3 record protection after the handshake: HKDF-Expand-Label key schedule, per-record
 * nonces, AEAD seal and open. Never keeps plaintext it failed to authenticate. */
#include "tls13rec.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <string.h>

#define TLS13_NSUITES 3
#define TLS13_LABEL_PREFIX "tls13 "
#define TLS13_LABEL_MAX 255

struct tls13_suite_info {
	const char *cipher, *digest;
	size_t key_len, secret_len;
};

static const struct tls13_suite_info tls13_suites[TLS13_NSUITES] = {
	[TLS13_AES_128_GCM_SHA256 - 0x1301] = {"AES-128-GCM", "SHA256", 16, 32},
	[TLS13_AES_256_GCM_SHA384 - 0x1301] = {"AES-256-GCM", "SHA384", 32, 48},
	[TLS13_CHACHA20_POLY1305_SHA256 - 0x1301] = {"ChaCha20-Poly1305", "SHA256", 32, 32},
};

/* Global on purpose: one AEAD context per suite and one KDF for the whole process, set up once
 * and re-keyed per record, so that connections carry keys only (never touched by two threads:
 * the stream workers run their connections on one loop). */
static struct {
	EVP_CIPHER *cipher[TLS13_NSUITES];
	EVP_CIPHER_CTX *ctx[TLS13_NSUITES];
	EVP_KDF *hkdf;
} tls13_crypto;

static const struct tls13_suite_info *suite_info(uint16_t suite)
{
	if (suite < 0x1301 || suite >= 0x1301 + TLS13_NSUITES)
		return NULL;
	return &tls13_suites[suite - 0x1301];
}

int tls13_rec_init(void)
{
	if (tls13_crypto.hkdf)
		return 0;
	for (int i = 0; i < TLS13_NSUITES; i++) {
		tls13_crypto.cipher[i] = EVP_CIPHER_fetch(NULL, tls13_suites[i].cipher, NULL);
		tls13_crypto.ctx[i] = EVP_CIPHER_CTX_new();
		if (!tls13_crypto.cipher[i] || !tls13_crypto.ctx[i] ||
		    EVP_CipherInit_ex(tls13_crypto.ctx[i], tls13_crypto.cipher[i], NULL, NULL, NULL, 1) != 1)
			return -1;
	}
	tls13_crypto.hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	return tls13_crypto.hkdf ? 0 : -1;
}

size_t tls13_secret_len(uint16_t suite)
{
	const struct tls13_suite_info *s = suite_info(suite);
	return s ? s->secret_len : 0;
}

int tls13_expand_label(uint16_t suite, const uint8_t *secret, const char *label, const uint8_t *context,
		       size_t clen, uint8_t *out, size_t olen)
{
	const struct tls13_suite_info *s = suite_info(suite);
	size_t llen = strlen(label), plen = sizeof(TLS13_LABEL_PREFIX) - 1;
	if (!s || (tls13_crypto.hkdf == NULL && tls13_rec_init() < 0) || plen + llen > TLS13_LABEL_MAX ||
	    clen > 255 || olen > 0xffff)
		return -1;
	/* struct HkdfLabel { uint16 length; opaque label<7..255>; opaque context<0..255>; } */
	uint8_t info[2 + 1 + TLS13_LABEL_MAX + 1 + 255];
	size_t n = 0;
	info[n++] = (uint8_t)(olen >> 8);
	info[n++] = (uint8_t)olen;
	info[n++] = (uint8_t)(plen + llen);
	memcpy(info + n, TLS13_LABEL_PREFIX, plen);
	memcpy(info + n + plen, label, llen);
	n += plen + llen;
	info[n++] = (uint8_t)clen;
	if (clen)
		memcpy(info + n, context, clen);
	n += clen;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)s->digest, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, s->secret_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
		OSSL_PARAM_construct_end(),
	};
	EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(tls13_crypto.hkdf);
	int ok = kctx && EVP_KDF_derive(kctx, out, olen, params) == 1;
	EVP_KDF_CTX_free(kctx);
	return ok ? 0 : -1;
}

/* key and iv of d from its secret (§7.3) */
static int dir_derive(uint16_t suite, struct tls13_dir *d)
{
	const struct tls13_suite_info *s = suite_info(suite);
	d->seq = 0;
	return s && tls13_expand_label(suite, d->secret, "key", NULL, 0, d->key, s->key_len) == 0 &&
			       tls13_expand_label(suite, d->secret, "iv", NULL, 0, d->iv, TLS13_IV) == 0
		   ? 0
		   : -1;
}

int tls13_keys_init(struct tls13_keys *k, uint16_t suite, const uint8_t *read_secret,
		    const uint8_t *write_secret)
{
	size_t sl = tls13_secret_len(suite);
	memset(k, 0, sizeof(*k));
	if (sl == 0) {
		errno = EINVAL;
		return -1;
	}
	k->suite = suite;
	memcpy(k->rd.secret, read_secret, sl);
	memcpy(k->wr.secret, write_secret, sl);
	if (dir_derive(suite, &k->rd) < 0 || dir_derive(suite, &k->wr) < 0) {
		tls13_keys_wipe(k);
		return -1;
	}
	return 0;
}

int tls13_dir_update(const struct tls13_keys *k, struct tls13_dir *d)
{
	uint8_t next[TLS13_SECRET_MAX];
	size_t sl = tls13_secret_len(k->suite);
	if (sl == 0 || tls13_expand_label(k->suite, d->secret, "traffic upd", NULL, 0, next, sl) < 0)
		return -1;
	explicit_bzero(d, sizeof(*d));
	memcpy(d->secret, next, sl);
	explicit_bzero(next, sizeof(next));
	return dir_derive(k->suite, d);
}

void tls13_keys_wipe(struct tls13_keys *k) { explicit_bzero(k, sizeof(*k)); }

ssize_t tls13_record_len(const uint8_t *p, size_t avail)
{
	if (avail < TLS13_HDR)
		return 0;
	/* after the handshake every record is protected: outer type application_data, 0x0303 */
	if (p[0] != TLS13_CT_APPDATA)
		return TLS13_E_UNEXPECTED;
	if (p[1] != 3 || p[2] != 3)
		return TLS13_E_DECODE;
	size_t len = (size_t)p[3] << 8 | p[4];
	if (len > TLS13_CIPHER_MAX)
		return TLS13_E_OVERFLOW;
	return avail >= TLS13_HDR + len ? (ssize_t)(TLS13_HDR + len) : 0;
}

/* The AEAD context of k's suite keyed for direction d and its next record (§5.3 nonce). */
static EVP_CIPHER_CTX *aead_start(const struct tls13_keys *k, const struct tls13_dir *d, int enc)
{
	if (!suite_info(k->suite) || d->seq == UINT64_MAX || (tls13_crypto.hkdf == NULL && tls13_rec_init() < 0))
		return NULL;
	EVP_CIPHER_CTX *ctx = tls13_crypto.ctx[k->suite - 0x1301];
	uint8_t nonce[TLS13_IV];
	memcpy(nonce, d->iv, TLS13_IV);
	for (int i = 0; i < 8; i++)
		nonce[TLS13_IV - 1 - i] ^= (uint8_t)(d->seq >> (8 * i));
	int ok = EVP_CipherInit_ex(ctx, NULL, NULL, d->key, nonce, enc) == 1;
	explicit_bzero(nonce, sizeof(nonce));
	return ok ? ctx : NULL;
}

ssize_t tls13_seal(struct tls13_keys *k, uint8_t ct, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	if (n > TLS13_PLAIN_MAX || cap < n + TLS13_OVERHEAD)
		return TLS13_E_INTERNAL;
	size_t len = n + 1 + TLS13_TAG;
	uint8_t *body = out + TLS13_HDR;
	out[0] = TLS13_CT_APPDATA;
	out[1] = out[2] = 3;
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
	if (n && in != body)
		memmove(body, in, n);
	body[n] = ct;	/* TLSInnerPlaintext: content, type, no padding */
	EVP_CIPHER_CTX *ctx = aead_start(k, &k->wr, 1);
	int l1 = 0, l2 = 0, l3 = 0;
	if (!ctx || EVP_CipherUpdate(ctx, NULL, &l1, out, TLS13_HDR) != 1 ||
	    EVP_CipherUpdate(ctx, body, &l2, body, (int)n + 1) != 1 ||
	    EVP_CipherFinal_ex(ctx, body + l2, &l3) != 1 || (size_t)(l2 + l3) != n + 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TLS13_TAG, body + n + 1) != 1) {
		explicit_bzero(out, n + TLS13_OVERHEAD);
		return TLS13_E_INTERNAL;
	}
	k->wr.seq++;
	return (ssize_t)(TLS13_HDR + len);
}

int tls13_open(struct tls13_keys *k, uint8_t *rec, size_t len, uint8_t *ct, size_t *plen)
{
	if (len < TLS13_HDR + 1 + TLS13_TAG || len > TLS13_REC_MAX)
		return len > TLS13_REC_MAX ? TLS13_E_OVERFLOW : TLS13_E_BAD_MAC;
	uint8_t *body = rec + TLS13_HDR;
	size_t clen = len - TLS13_HDR - TLS13_TAG;
	EVP_CIPHER_CTX *ctx = aead_start(k, &k->rd, 0);
	if (!ctx)
		return TLS13_E_INTERNAL;
	int l1 = 0, l2 = 0, l3 = 0;
	int ok = EVP_CipherUpdate(ctx, NULL, &l1, rec, TLS13_HDR) == 1 &&
		 EVP_CipherUpdate(ctx, body, &l2, body, (int)clen) == 1 &&
		 EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TLS13_TAG, body + clen) == 1 &&
		 EVP_CipherFinal_ex(ctx, body + l2, &l3) == 1 && (size_t)(l2 + l3) == clen;
	if (!ok) {
		explicit_bzero(body, clen);	/* never leave unauthenticated plaintext behind */
		return TLS13_E_BAD_MAC;
	}
	k->rd.seq++;
	size_t i = clen;
	while (i > 0 && body[i - 1] == 0)
		i--;	/* zero padding */
	if (i == 0)
		return TLS13_E_UNEXPECTED;	/* §5.4: no non-zero octet, no content type */
	if (i - 1 > TLS13_PLAIN_MAX)
		return TLS13_E_OVERFLOW;
	*ct = body[i - 1];
	*plen = i - 1;
	return 0;
}
