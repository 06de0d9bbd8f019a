/* Fuzz target for the storage request dispatch: input = one sto request body, run against a
 * memory backend (keyval, map, archive, accounts). Every reply must start with a status and
 * the dispatch must never crash; the state persists across inputs as in a worker. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "sto.h"
#include "tlv.h"
#include "workers/storage/storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sto_env *fz_env(void)
{
	static struct sto_env env;	/* one worker's state for the whole run */
	static int open;
	static const char *const hosts[] = {"localhost", "example.org"};
	static const struct sto_be_spec spec = {.name = "memory"};
	static char dir[] = "/tmp/fuzz_sto.XXXXXX";
	char err[256];

	if (!open) {
		struct sto_settings s = {.datadir = dir, .vhosts = hosts, .nvhosts = 2,
					 .scram_iter = 4096, .specs = &spec, .nspecs = 1};
		if (!mkdtemp(dir) || sto_env_open(&env, &s, err, sizeof(err)) < 0) {
			fprintf(stderr, "fuzz_sto: %s\n", err);
			abort();
		}
		open = 1;
	}
	return &env;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf rep;
	struct rbuf r;
	struct tlv t;
	uint32_t st;

	buf_init(&rep);
	sto_dispatch(fz_env(), data, size, &rep);
	rbuf_init(&r, rep.data, rep.len);
	if (tlv_next(&r, &t) != 1 || t.tag != STO_T_STATUS || tlv_u32(&t, &st) < 0 ||
	    st > STO_EUNAVAIL)
		abort();
	buf_free(&rep);
	return 0;
}
