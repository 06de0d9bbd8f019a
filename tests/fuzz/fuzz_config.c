/* Fuzz target for the configuration parser: any text either fails with "NAME:..." or yields a
 * configuration that satisfies the checks every consumer relies on (absolute normalised paths,
 * a vhost, valid ports). Includes resolve against the cwd and only read regular files. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int path_ok(const char *p)
{
	return p && p[0] == '/' && !strstr(p, "//") && !strstr(p, "/./") && !strstr(p, "/../") &&
	       (strlen(p) < 3 || strcmp(p + strlen(p) - 3, "/.."));
}

static void check(const struct cfg *c)
{
	if (!path_ok(c->path) || !path_ok(c->rundir) || !path_ok(c->datadir) || c->nvhosts == 0 ||
	    !c->log || !c->storage_default)
		abort();
	for (size_t i = 0; i < c->nlistens; i++)
		if (c->listens[i].port == 0 || !c->listens[i].host[0])
			abort();
	for (size_t i = 0; i < c->nvhosts; i++) {
		const struct cfg_vhost *v = &c->vhosts[i];
		if (!v->name[0] || (v->cert && !path_ok(v->cert)) || (v->key && !path_ok(v->key)) ||
		    cfg_vhost_find(c, v->name) != v)
			abort();
		for (size_t m = 0; m < v->nmodules; m++)
			if (strchr(v->modules[m], '/'))
				abort();
	}
	for (size_t i = 0; i < c->ncomponents; i++)
		if (cfg_component_find(c, c->components[i].name) != &c->components[i])
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg c;
	char err[512];
	if (cfg_parse_text("fuzz.conf", (const char *)data, size, &c, err, sizeof(err)) < 0) {
		if (strncmp(err, "fuzz.conf", 9) && !strchr(err, ':'))
			abort();
		return 0;
	}
	check(&c);
	cfg_free(&c);
	return 0;
}
