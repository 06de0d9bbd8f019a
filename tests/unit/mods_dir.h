/* Where the unit tests find the module .so files: BUILD/mods beside BUILD/tests/<this test>, so
 * the normal and the sanitizer build each load their own build's modules. */
#ifndef XMPPD_TEST_MODS_DIR_H
#define XMPPD_TEST_MODS_DIR_H
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

#endif
