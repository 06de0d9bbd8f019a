/* SCRAM (RFC 5802, RFC 7677) on the storage side: verifiers from passwords, proof checks,
 * SASLprep, and the base64 used by the account records. Never logs or keeps a password. */
#ifndef XMPPD_STO_SCRAM_H
#define XMPPD_STO_SCRAM_H
#include <stddef.h>
#include <stdint.h>

enum sto_mech { STO_MECH_SHA1, STO_MECH_SHA256, STO_MECH_COUNT };

#define STO_HASH_MAX		32u	/* SHA-256 output, the largest we derive */
#define STO_SALT_LEN		16u	/* salts we generate */
#define STO_SALT_MAX		64u	/* salts we accept in records and from tests */
#define STO_SCRAM_ITER_MIN	4096u	/* RFC 5802 §5.1: at least 4096 */
#define STO_SCRAM_ITER_MAX	(1u << 24)	/* the configuration parser's bound too */
#define STO_PASSWORD_MAX	1023u	/* bytes, before and after SASLprep */
#define STO_AUTHMSG_MAX		(3u * 4096u)	/* three SASL messages of SCRAM_MAX_MSG */

/* One mechanism's verifier: everything a server keeps, nothing it could log in with. */
struct sto_verifier {
	uint8_t salt[STO_SALT_MAX];
	size_t salt_len;
	uint32_t iter;
	uint8_t stored_key[STO_HASH_MAX];
	uint8_t server_key[STO_HASH_MAX];
};

int sto_mech_parse(const char *name, size_t len);	/* enum sto_mech, or -1 */
const char *sto_mech_name(enum sto_mech m);
size_t sto_mech_hash_len(enum sto_mech m);

/* SaltedPassword = PBKDF2(pw, salt, iter); StoredKey = H(HMAC(SP, "Client Key"));
 * ServerKey = HMAC(SP, "Server Key"). pw is already SASLprep'ed. 0 or -1. */
int sto_scram_derive(enum sto_mech m, const char *pw, size_t pwlen, const uint8_t *salt,
		     size_t salt_len, uint32_t iter, struct sto_verifier *out);
/* Checks a ClientProof against v for authmsg; on success writes the ServerSignature
 * (sto_mech_hash_len bytes) to sig and returns 0, otherwise -1. Constant-time compare. */
int sto_scram_verify(enum sto_mech m, const struct sto_verifier *v, const uint8_t *authmsg,
		     size_t alen, const uint8_t *proof, size_t plen, uint8_t *sig);
/* HMAC-SHA-256(key, msg) truncated to outlen (<= 32). 0 or -1. */
int sto_hmac256(const uint8_t *key, size_t klen, const uint8_t *msg, size_t mlen, uint8_t *out,
		size_t outlen);

/* SASLprep (RFC 4013, stored-string rules) of a NUL-terminated password into a malloc'd
 * string the caller wipes and frees with sto_secret_free. -1 if rejected or empty. */
int sto_saslprep(const char *in, char **out);
void sto_secret_free(char *s);

/* Base64 (RFC 4648, padded). encode: -1 if cap is too small. decode: strict, -1 on any
 * character outside the alphabet, bad padding, or output larger than cap. */
int sto_b64_encode(const uint8_t *p, size_t n, char *out, size_t cap);
int sto_b64_decode(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen);

#endif
