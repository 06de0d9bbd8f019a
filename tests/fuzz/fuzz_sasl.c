/* Fuzz target for the c2s SCRAM message parsers and exchange: input = client-first "\n"
 * client-final; storage replies are synthesised. Checks invariants, aborts on a violation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sto.h"
#include "tlv.h"
#include "workers/stream/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_b64(const char *s, size_t n)
{
	struct buf d, e;
	buf_init(&d);
	buf_init(&e);
	if (c2s_b64_decode(&d, s, n, 4096) == 0) {	/* strict: accepted input re-encodes to itself */
		if (c2s_b64_encode(&e, d.data, d.len) < 0 || e.len != n || (n && memcmp(e.data, s, n)))
			abort();
	}
	buf_free(&d);
	buf_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	const char *nl = memchr(msg, '\n', size);
	size_t l1 = nl ? (size_t)(nl - msg) : size;
	const char *m2 = nl ? nl + 1 : "";
	size_t l2 = nl ? size - l1 - 1 : 0;
	fz_b64(msg, size);
	struct c2s_scram_final f;
	if (c2s_scram_parse_final(m2, l2, 20, &f) == C2S_SASL_OK &&
	    (f.proof_len != 20 || f.without_proof_len >= l2 || f.nonce_len == 0))
		abort();
	struct c2s_scram s = {0};
	struct buf req, rep, out;
	buf_init(&req);
	buf_init(&rep);
	buf_init(&out);
	int mech = (size & 1) ? C2S_SCRAM_SHA1 : C2S_SCRAM_SHA256;
	if (c2s_scram_client_first(&s, mech, msg, l1, "example.com", &req) == C2S_SASL_OK) {
		static const uint8_t salt[16] = {1, 2, 3};
		tlv_put_u32(&rep, STO_T_STATUS, STO_OK);
		tlv_put(&rep, STO_T_SALT, salt, sizeof(salt));
		tlv_put_u32(&rep, STO_T_ITER, 4096);
		if (c2s_scram_server_first(&s, rep.data, rep.len, NULL, &out) != C2S_SASL_OK)
			abort();
		buf_reset(&req);
		if (c2s_scram_client_final(&s, m2, l2, "example.com", &req) == C2S_SASL_OK &&
		    s.state != C2S_SCRAM_WAIT_VERIFY)
			abort();
	}
	c2s_scram_clear(&s);
	buf_free(&req);
	buf_free(&rep);
	buf_free(&out);
	return 0;
}
