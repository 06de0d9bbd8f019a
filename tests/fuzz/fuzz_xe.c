/* Fuzz target for the envelope decoder: anything it accepts must re-encode to the same
 * bytes, so the decoder can never accept a message the encoder would not produce. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xe_msg m;
	if (xe_decode(data, size, &m) != XE_OK)
		return 0;
	struct buf b;
	buf_init(&b);
	if (xe_encode(&b, &m) != 0 || b.len != size || memcmp(b.data, data, size) != 0)
		abort();
	buf_free(&b);
	return 0;
}
