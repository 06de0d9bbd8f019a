/* Fuzz target for the WebSocket frame decoder and message reassembly: the input is a stream of
 * client frames decoded as ws_conn.c does; lengths must stay inside the input and the limits. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workers/http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_MSG 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	struct ws_msg m = {.max = FUZZ_MAX_MSG};
	buf_init(&m.data);
	size_t off = 0;
	while (off < size) {
		struct ws_frame f;
		int rc = ws_frame_parse(copy + off, size - off, FUZZ_MAX_MSG, &f);
		if (rc <= 0) {
			if (rc < 0 && rc != -WS_CLOSE_PROTOCOL && rc != -WS_CLOSE_TOO_BIG)
				abort();
			break;
		}
		if ((size_t)rc != f.hdr_len || f.hdr_len > 14 || f.len > FUZZ_MAX_MSG || !f.masked || f.rsv)
			abort();
		if (size - off - f.hdr_len < f.len)
			break;
		uint8_t *payload = copy + off + f.hdr_len;
		ws_unmask(payload, (size_t)f.len, f.mask, 0);
		uint8_t op = 0;
		uint16_t code;
		if (f.opcode == WS_OP_CLOSE) {
			if (f.len > WS_CONTROL_MAX)
				abort();
			rc = ws_close_payload(payload, (size_t)f.len, &code);
			if (rc == 0 && f.len >= 2 && code < 1000)
				abort();
		} else if (f.opcode < WS_OP_CLOSE) {
			rc = ws_msg_feed(&m, &f, payload, &op);
			if (m.data.len > FUZZ_MAX_MSG)
				abort();
			if (rc == 1 && op == WS_OP_TEXT && ws_utf8_valid(m.data.data, m.data.len) < 0)
				abort();
			if (rc < 0)
				break;
		}
		off += f.hdr_len + (size_t)f.len;
	}
	if (size >= 24) {
		char out[29];
		if (ws_accept_key((const char *)data, 24, out) == 0 && strlen(out) != 28)
			abort();
	}
	ws_msg_reset(&m);
	free(copy);
	return 0;
}
