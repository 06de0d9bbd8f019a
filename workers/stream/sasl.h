/* Server side of SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677) in the c2s worker: message
 * parsing and the exchange state. The proof is checked by storage; c2s never sees the keys. */
#ifndef XMPPD_C2S_SASL_H
#define XMPPD_C2S_SASL_H
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define C2S_SCRAM_NONCE_BYTES 18u	/* random bytes in the server's part of the nonce */
#define C2S_SCRAM_USER_MAX 1023u
#define C2S_SCRAM_PROOF_MAX 32u

enum c2s_scram_mech { C2S_SCRAM_SHA1 = 1, C2S_SCRAM_SHA256, C2S_SCRAM_SHA1_PLUS, C2S_SCRAM_SHA256_PLUS };

/* Channel-binding types (RFC 5929, RFC 9266) a -PLUS exchange may name. */
enum c2s_cb_type { C2S_CB_NONE = 0, C2S_CB_EXPORTER, C2S_CB_ENDPOINT };
#define C2S_CB_DATA_MAX 64u

/* Results; each failure maps to the <failure/> condition c2s_sasl_condition names. */
enum c2s_sasl_result {
	C2S_SASL_OK = 0,
	C2S_SASL_EMALFORMED = -1,	/* malformed-request */
	C2S_SASL_EMECH = -2,		/* invalid-mechanism */
	C2S_SASL_EAUTH = -3,		/* not-authorized */
	C2S_SASL_ETEMP = -4,		/* temporary-auth-failure */
	C2S_SASL_ECBIND = -5,		/* channel binding asked for (p=): not offered yet */
	C2S_SASL_EAUTHZID = -6,		/* invalid-authzid */
	C2S_SASL_ESTATE = -7,		/* a step out of order: malformed-request */
};

/* A parsed client-first-message; pointers borrow from the message. */
struct c2s_scram_first {
	char cbind;			/* 'n', 'y' or 'p' */
	int cbtype;			/* enum c2s_cb_type when cbind is 'p' */
	size_t gs2_len;			/* "n,," / "y,a=…," prefix, commas included */
	char authzid[C2S_SCRAM_USER_MAX + 1];	/* decoded, "" when absent */
	char user[C2S_SCRAM_USER_MAX + 1];	/* decoded saslname */
	const char *bare;		/* client-first-message-bare */
	size_t bare_len;
	const char *cnonce;
	size_t cnonce_len;
};

/* A parsed client-final-message; cbind and proof are decoded. */
struct c2s_scram_final {
	uint8_t cbind[128];		/* gs2 header + channel binding data */
	size_t cbind_len;
	const char *nonce;
	size_t nonce_len;
	uint8_t proof[C2S_SCRAM_PROOF_MAX];
	size_t proof_len;
	size_t without_proof_len;	/* bytes before ",p=" */
};

enum c2s_scram_state { C2S_SCRAM_IDLE, C2S_SCRAM_WAIT_PARAMS, C2S_SCRAM_WAIT_FINAL,
		       C2S_SCRAM_WAIT_VERIFY, C2S_SCRAM_DONE };

/* One exchange; strings are malloc'd and wiped by c2s_scram_clear. */
struct c2s_scram {
	int mech;
	int state;
	char user[C2S_SCRAM_USER_MAX + 1];	/* nodeprep'ed: the JID localpart and storage USER */
	char *gs2;		/* gs2 header */
	char *cfb;		/* client-first-message-bare */
	char *sfirst;		/* server-first-message */
	char *nonce;		/* client nonce + server nonce */
	char cbind;		/* the client's gs2 flag: 'n', 'y' or 'p' */
	int cbtype;		/* enum c2s_cb_type named after p= */
	uint8_t cbdata[C2S_CB_DATA_MAX];	/* the binding the TLS layer computed, set before step 3 */
	size_t cbdata_len;
	char *plain;		/* PLAIN only: the password until the proof is derived */
};

int c2s_scram_mech_parse(const char *name);	/* enum c2s_scram_mech or -1 */
const char *c2s_scram_mech_name(int mech);
int c2s_scram_mech_plus(int mech);		/* 1 for the -PLUS variants */
int c2s_scram_mech_base(int mech);		/* the plain variant: what storage knows */
size_t c2s_scram_hash_len(int mech);
const char *c2s_sasl_condition(int result);

int c2s_scram_parse_first(const char *msg, size_t len, struct c2s_scram_first *out);
int c2s_scram_parse_final(const char *msg, size_t len, size_t hash_len, struct c2s_scram_final *out);

/* Step 1: client-first → s; req = the STO_OP_SCRAM_PARAMS body for storage. */
int c2s_scram_client_first(struct c2s_scram *s, int mech, const char *msg, size_t len,
			   const char *host, struct buf *req);
/* Step 2: storage's PARAMS reply → out = server-first-message (raw, not base64).
 * snonce: the server nonce to use, NULL = C2S_SCRAM_NONCE_BYTES random bytes in base64. */
int c2s_scram_server_first(struct c2s_scram *s, const uint8_t *rep, size_t len, const char *snonce,
			   struct buf *out);
/* Step 3: client-final → req = the STO_OP_SCRAM_VERIFY body. */
int c2s_scram_client_final(struct c2s_scram *s, const char *msg, size_t len, const char *host,
			   struct buf *req);
/* Step 4: storage's VERIFY reply → out = server-final-message "v=…" (raw). */
int c2s_scram_verify_reply(struct c2s_scram *s, const uint8_t *rep, size_t len, struct buf *out);
void c2s_scram_clear(struct c2s_scram *s);

/* SASL PLAIN (RFC 4616) run as a SCRAM exchange done on the client's behalf, so storage keeps
 * only SCRAM verifiers: parse "authzid NUL authcid NUL passwd", then, once storage sent the
 * salt and the iteration count (s is in C2S_SCRAM_WAIT_FINAL), derive the client-final message. */
int c2s_plain_parse(const uint8_t *msg, size_t len, char *authzid, char *user, char *pass,
		    size_t cap);
int c2s_plain_client_first(const char *user, struct buf *out);	/* "n,,n=user,r=nonce" */
int c2s_plain_client_final(const struct c2s_scram *s, const char *pass, struct buf *out);

/* Base64 (RFC 4648, padded). decode is strict: -1 on anything outside the alphabet or bad
 * padding, or when the result is longer than max. Both append to out. */
int c2s_b64_encode(struct buf *out, const void *p, size_t n);
int c2s_b64_decode(struct buf *out, const char *s, size_t n, size_t max);

#endif
