/* xmppctl storage migrate --from SPEC --to SPEC --host HOST...: runs xmppd-storage from the
 * directory of this binary in its one-shot migration mode (no server, no control socket).
 * The server must be stopped: nothing here takes a lock against a running one. */
#include "migrate.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define XCTL_MIGRATE_HOSTS 64

static int xctl_migrate_usage(void)
{
	fprintf(stderr, "usage: xmppctl storage migrate --from SPEC --to SPEC --host HOST "
			"[--host HOST ...]\n"
			"  SPEC: file:/DATADIR | postgresql:CONNINFO\n");
	return 2;
}

int xctl_storage_main(int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *hosts[XCTL_MIGRATE_HOSTS];
	char *av[4 + 2 * XCTL_MIGRATE_HOSTS + 1], exe[PATH_MAX];
	int nhosts = 0, n = 0;

	if (argc < 2 || strcmp(argv[0], "storage") != 0 || strcmp(argv[1], "migrate") != 0)
		return xctl_migrate_usage();
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			return xctl_migrate_usage();
		if (strcmp(argv[i], "--from") == 0 && !from)
			from = argv[i + 1];
		else if (strcmp(argv[i], "--to") == 0 && !to)
			to = argv[i + 1];
		else if (strcmp(argv[i], "--host") == 0 && nhosts < XCTL_MIGRATE_HOSTS)
			hosts[nhosts++] = argv[i + 1];
		else
			return xctl_migrate_usage();
	}
	if (!from || !to || !nhosts)
		return xctl_migrate_usage();
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash = len > 0 ? (exe[len] = 0, strrchr(exe, '/')) : NULL;
	if (!slash || (size_t)(slash - exe) + sizeof("/xmppd-storage") > sizeof(exe)) {
		fprintf(stderr, "xmppctl: cannot find xmppd-storage beside xmppctl\n");
		return 1;
	}
	memcpy(slash, "/xmppd-storage", sizeof("/xmppd-storage"));
	av[n++] = exe;
	av[n++] = "--migrate";
	av[n++] = (char *)from;
	av[n++] = (char *)to;
	for (int i = 0; i < nhosts; i++) {
		av[n++] = "--host";
		av[n++] = (char *)hosts[i];
	}
	av[n] = NULL;
	execv(exe, av);
	fprintf(stderr, "xmppctl: cannot run %s: ", exe);
	perror(NULL);
	return 1;
}
