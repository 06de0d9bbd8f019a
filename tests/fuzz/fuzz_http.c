/* Fuzz target for the HTTP/1.1 request head parser: whatever it accepts must lie inside the
 * input, and no shorter prefix of an accepted head may already be accepted. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workers/http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_BODY_MAX 262144u

static void check_inside(const char *p, size_t n, const char *q, size_t len)
{
	if (q < p || q + len > p + n)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct http_req r;
	int rc = http_parse_head(p, size, FUZZ_BODY_MAX, &r);
	if (rc < 0) {
		if (rc != -400 && rc != -413 && rc != -414 && rc != -431 && rc != -501 && rc != -505)
			abort();
		return 0;
	}
	if (rc == 0)
		return 0;
	if ((size_t)rc > size || r.head_len != (size_t)rc || r.nfields > HTTP_MAX_HEADERS ||
	    r.content_length > FUZZ_BODY_MAX || (r.minor != 0 && r.minor != 1))
		abort();
	check_inside(p, (size_t)rc, r.target, r.target_len);
	if (r.path && !(r.path_len == 1 && r.path[0] == '/'))	/* absolute form without a path: "/" */
		check_inside(r.target, r.target_len, r.path, r.path_len);
	if (r.path && (r.path_len == 0 || r.path[0] != '/'))
		abort();
	for (unsigned i = 0; i < r.nfields; i++) {
		check_inside(p, (size_t)rc, r.fields[i].name, r.fields[i].name_len);
		check_inside(p, (size_t)rc, r.fields[i].value, r.fields[i].value_len);
		if (memchr(r.fields[i].value, '\r', r.fields[i].value_len) ||
		    memchr(r.fields[i].value, '\n', r.fields[i].value_len))
			abort();
	}
	/* one byte short of the head is never a complete request */
	struct http_req r2;
	if (http_parse_head(p, (size_t)rc - 1, FUZZ_BODY_MAX, &r2) > 0)
		abort();
	return 0;
}
