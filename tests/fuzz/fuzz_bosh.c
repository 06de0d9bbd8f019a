/* Fuzz target for the BOSH <body/> reader: whatever the bytes, the payload it points at stays
 * inside them and a rid it accepts is one XEP-0124 allows. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workers/http/bosh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bosh_body b;
	if (bosh_parse(data, size, &b) < 0)
		return 0;
	if (b.payload_at > size || b.payload_len > size - b.payload_at)
		abort();
	if (b.rid_ok && (b.rid == 0 || b.rid >= (1ull << 53)))
		abort();
	if (strlen(b.to) >= sizeof(b.to) || strlen(b.sid) >= sizeof(b.sid) || b.wait > 3600 || b.hold > 3600)
		abort();
	return 0;
}
