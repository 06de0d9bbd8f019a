/* Shared by the router's module tests: where the module .so files are (BUILD/mods beside
 * BUILD/tests/<this test>, so each build loads its own), and a recorder of module lifecycle events. */
#ifndef XMPPD_TEST_MODS_TEST_H
#define XMPPD_TEST_MODS_TEST_H
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mods/mod.h"

static inline void mods_dir(char *out, size_t cap)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = 0;
	*strrchr(exe, '/') = 0;	/* BUILD/tests */
	*strrchr(exe, '/') = 0;	/* BUILD */
	snprintf(out, cap, "%s/mods", exe);
}

/* "event:arg " for each event h_lifecycle is hooked to; the test empties it first. */
static char lifecycle[512];

static inline int h_lifecycle(struct mod_event *ev, void *ctx)
{
	(void)ctx;
	size_t n = strlen(lifecycle);
	snprintf(lifecycle + n, sizeof(lifecycle) - n, "%s:%s ", ev->name, ev->arg);
	return MOD_PASS;
}

#endif
