/* The router's event buses and module manager: handlers in priority order, HANDLED / PASS /
 * DENY, unhooking while an event fires; modules dlopened from build/mods with their hooks and
 * disco features added on load and removed on unload, lifecycle events, and refusals (missing,
 * untrusted file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "mods_test.h"
#include "workers/router/host.h"
#include "workers/router/rtr.h"

static char calls[64];
static size_t ncalls;

static int h_record(struct mod_event *ev, void *ctx)
{
	const char *tag = ctx;
	(void)ev;
	calls[ncalls++] = tag[0];
	return tag[1] == 'H' ? MOD_HANDLED : tag[1] == 'D' ? MOD_DENY : MOD_PASS;
}

static struct rtr_bus *self_bus;

static int h_unhook_self(struct mod_event *ev, void *ctx)
{
	calls[ncalls++] = 'u';
	rtr_bus_unhook(self_bus, ev->name, h_unhook_self, ctx);
	rtr_bus_unhook(self_bus, ev->name, h_record, "cP");	/* one that has not run yet */
	return MOD_PASS;
}

static int fire(struct rtr_bus *b, const char *name)
{
	struct mod_event ev = {.name = name};
	ncalls = 0;
	memset(calls, 0, sizeof(calls));
	return rtr_bus_fire(b, &ev);
}

static void test_priorities_and_results(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *hooks[4];	/* tag letter, result letter (P/H/D), priority digit */
		const char *want_calls;
		int want_rc;
	} cases[] = {
		{"higher priority first, ties in hook order", {"aP1", "bP5", "cP1", NULL}, "bac", MOD_PASS},
		{"HANDLED stops the chain", {"aP9", "bH5", "cP1", NULL}, "ab", MOD_HANDLED},
		{"DENY stops the chain", {"aD9", "bP5", NULL}, "a", MOD_DENY},
		{"no handler", {NULL}, "", MOD_PASS},
		{"negative priorities last", {"a" "P" "0", "bH0", NULL}, "ab", MOD_HANDLED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rtr_bus *b = rtr_bus_new();
		assert_non_null(b);
		for (size_t k = 0; cases[i].hooks[k]; k++)
			assert_int_equal(rtr_bus_hook(b, "message/bare", h_record, cases[i].hooks[k][2] - '0',
						      (void *)cases[i].hooks[k]), 0);
		int rc = fire(b, "message/bare");
		if (rc != cases[i].want_rc || strcmp(calls, cases[i].want_calls) != 0) {
			fprintf(stderr, "case %s: calls '%s' rc %d, want '%s' rc %d\n", cases[i].name, calls, rc,
				cases[i].want_calls, cases[i].want_rc);
			fail();
		}
		assert_int_equal(fire(b, "message/full"), MOD_PASS);	/* other names are separate */
		assert_int_equal(ncalls, 0);
		rtr_bus_free(b);
	}
}

static void test_unhook(void **state)
{
	(void)state;
	struct rtr_bus *b = self_bus = rtr_bus_new();
	assert_non_null(b);
	assert_int_equal(rtr_bus_hook(b, "e", h_record, 9, "aP"), 0);
	assert_int_equal(rtr_bus_hook(b, "e", h_unhook_self, 5, NULL), 0);
	assert_int_equal(rtr_bus_hook(b, "e", h_record, 1, "cP"), 0);
	assert_int_equal(fire(b, "e"), MOD_PASS);
	assert_string_equal(calls, "au");	/* c was unhooked before its turn */
	assert_int_equal(fire(b, "e"), MOD_PASS);
	assert_string_equal(calls, "a");
	assert_int_equal(rtr_bus_unhook(b, "e", h_record, "aP"), 0);
	assert_int_equal(rtr_bus_unhook(b, "e", h_record, "aP"), -1);
	assert_false(rtr_bus_has(b, "e"));
	rtr_bus_free(b);
}

/* ---- the module manager ---- */

static struct rtr_env the_env;
static int has_feature(const struct mod_host *h, const char *var)
{
	for (size_t i = 0; i < h->nfeatures; i++)
		if (strcmp(h->features[i], var) == 0)
			return 1;
	return 0;
}

static void test_module_load_unload(void **state)
{
	char dir[4200];
	(void)state;
	env = &the_env;
	memset(env, 0, sizeof(*env));
	mods_dir(dir, sizeof(dir));
	assert_int_equal(rtr_mods_set_dir(dir), 0);
	struct mod_host *h = rtr_host_add("localhost");
	assert_non_null(h);
	assert_ptr_equal(rtr_host_find("LOCALHOST", 9), h);
	assert_true(rtr_is_local_domain("localhost", 9));
	lifecycle[0] = 0;
	assert_int_equal(rtr_bus_hook(h->bus, "module-loaded", h_lifecycle, 0, NULL), 0);
	assert_int_equal(rtr_bus_hook(h->bus, "module-unloaded", h_lifecycle, 0, NULL), 0);
	assert_int_equal(rtr_bus_hook(h->bus, "module-error", h_lifecycle, 0, NULL), 0);

	assert_int_equal(rtr_mod_load(h, "ping"), 0);
	assert_int_equal(rtr_mod_load(h, "ping"), 0);	/* once per host */
	assert_true(rtr_bus_has(h->bus, "iq-get/host/urn:xmpp:ping:ping"));
	assert_true(has_feature(h, "urn:xmpp:ping"));
	assert_int_equal(rtr_mod_load(h, "nosuchmodule"), -1);
	assert_int_equal(rtr_mod_load(h, "../mods/ping"), -1);	/* not a module name */
	assert_int_equal(rtr_mod_unload(h, "ping"), 0);
	assert_false(rtr_bus_has(h->bus, "iq-get/host/urn:xmpp:ping:ping"));
	assert_false(has_feature(h, "urn:xmpp:ping"));
	assert_int_equal(rtr_mod_unload(h, "ping"), -1);
	assert_string_equal(lifecycle, "module-loaded:ping module-error:nosuchmodule module-error:../mods/ping "
				       "module-unloaded:ping ");
	rtr_hosts_free();
}

static void test_untrusted_module_file_refused(void **state)
{
	char dir[4200], src[4300], tmp[] = "/tmp/test_router_events.XXXXXX", dst[128];
	(void)state;
	env = &the_env;
	memset(env, 0, sizeof(*env));
	mods_dir(dir, sizeof(dir));
	snprintf(src, sizeof(src), "%s/mod_ping.so", dir);
	assert_non_null(mkdtemp(tmp));
	snprintf(dst, sizeof(dst), "%s/mod_ping.so", tmp);
	FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
	assert_non_null(in);
	assert_non_null(out);
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
	assert_int_equal(chmod(dst, 0666), 0);	/* writable by anyone: never executed */
	assert_int_equal(rtr_mods_set_dir(tmp), 0);
	struct mod_host *h = rtr_host_add("localhost");
	assert_non_null(h);
	assert_int_equal(rtr_mod_load(h, "ping"), -1);
	assert_int_equal(chmod(dst, 0644), 0);
	assert_int_equal(rtr_mod_load(h, "ping"), 0);
	rtr_hosts_free();
	unlink(dst);
	rmdir(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_priorities_and_results),
		cmocka_unit_test(test_unhook),
		cmocka_unit_test(test_module_load_unload),
		cmocka_unit_test(test_untrusted_module_file_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
