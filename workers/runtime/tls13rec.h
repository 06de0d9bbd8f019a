/* TLS 1.3 record protection (RFC 8446 §5.2, §7.2, §7.3) for established connections: traffic
 * keys from the application traffic secrets, sealing and opening of records. No I/O, no state
 * beyond the keys; the AEAD contexts are per process, so a connection holds about 200 bytes. */
#ifndef XMPPD_TLS13REC_H
#define XMPPD_TLS13REC_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TLS13_HDR 5			/* type, legacy_record_version, length */
#define TLS13_PLAIN_MAX 16384u		/* 2^14: content of one record */
#define TLS13_CIPHER_MAX (16384u + 256u)	/* 2^14 + 256: the protected body of one record */
#define TLS13_REC_MAX (TLS13_HDR + TLS13_CIPHER_MAX)
#define TLS13_TAG 16
#define TLS13_OVERHEAD (TLS13_HDR + 1 + TLS13_TAG)	/* what sealing adds to the content */
#define TLS13_SECRET_MAX 48
#define TLS13_KEY_MAX 32
#define TLS13_IV 12

/* The cipher suites of RFC 8446 §B.4 with an AEAD in OpenSSL's default provider. */
enum tls13_suite {
	TLS13_AES_128_GCM_SHA256 = 0x1301,
	TLS13_AES_256_GCM_SHA384 = 0x1302,
	TLS13_CHACHA20_POLY1305_SHA256 = 0x1303,
};

enum tls13_ct { TLS13_CT_ALERT = 21, TLS13_CT_HANDSHAKE = 22, TLS13_CT_APPDATA = 23 };

/* Errors are the negated alert to send (RFC 8446 §6.2), so a caller can answer any failure. */
enum tls13_err {
	TLS13_E_UNEXPECTED = -10,	/* unexpected_message */
	TLS13_E_BAD_MAC = -20,		/* bad_record_mac */
	TLS13_E_OVERFLOW = -22,		/* record_overflow */
	TLS13_E_ILLEGAL = -47,		/* illegal_parameter */
	TLS13_E_DECODE = -50,		/* decode_error */
	TLS13_E_INTERNAL = -80,		/* internal_error */
};

/* One direction: its current traffic secret (kept for KeyUpdate), key, iv and sequence number. */
struct tls13_dir {
	uint8_t secret[TLS13_SECRET_MAX];
	uint8_t key[TLS13_KEY_MAX];
	uint8_t iv[TLS13_IV];
	uint64_t seq;
};

struct tls13_keys {
	uint16_t suite;		/* enum tls13_suite */
	struct tls13_dir rd, wr;
};

/* Fetches the AEADs and the KDF once per process; call before the sandbox. 0 or -1. */
int tls13_rec_init(void);

/* The traffic secret length of suite (its hash length), 0 when the suite is not supported. */
size_t tls13_secret_len(uint16_t suite);

/* HKDF-Expand-Label(secret, label, context, olen) of RFC 8446 §7.1 with suite's hash. */
int tls13_expand_label(uint16_t suite, const uint8_t *secret, const char *label, const uint8_t *context,
		       size_t clen, uint8_t *out, size_t olen);

/* Keys from the application traffic secrets (each tls13_secret_len(suite) bytes), sequence
 * numbers 0. 0, or -1 with k wiped. */
int tls13_keys_init(struct tls13_keys *k, uint16_t suite, const uint8_t *read_secret,
		    const uint8_t *write_secret);

/* KeyUpdate for one direction (§7.2): the next secret, key and iv; the sequence number restarts. */
int tls13_dir_update(const struct tls13_keys *k, struct tls13_dir *d);

void tls13_keys_wipe(struct tls13_keys *k);

/* Looks at the start of a byte stream: the length of the first record when it is all there,
 * 0 when more bytes are needed, or an error (wrong outer type or version, oversize body). */
ssize_t tls13_record_len(const uint8_t *p, size_t avail);

/* Seals n ≤ TLS13_PLAIN_MAX bytes of content type ct as one record at out (n + TLS13_OVERHEAD
 * bytes, cap at least that) with the write key; returns the record length or an error. */
ssize_t tls13_seal(struct tls13_keys *k, uint8_t ct, const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* Opens the whole record rec (len = tls13_record_len) in place with the read key: the content
 * is then at rec + TLS13_HDR, *plen bytes of type *ct. 0 or an error (bad tag: TLS13_E_BAD_MAC,
 * no content type: TLS13_E_UNEXPECTED, content over 2^14: TLS13_E_OVERFLOW). */
int tls13_open(struct tls13_keys *k, uint8_t *rec, size_t len, uint8_t *ct, size_t *plen);

#endif
