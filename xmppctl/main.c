/* xmppctl: the admin tool. Checks its arguments, sends one request on the supervisor's control
 * socket and prints the reply. Passwords come from the terminal or stdin, never from argv.
 *
 * Protocol (common/ctl.h): one frame each way, a frame being a u32 big-endian length and TLVs.
 * Request: CTL_T_VERSION u32 = CTL_VERSION first, then CTL_T_CMD (the first word), then one
 * CTL_T_ARG per following word in order, then CTL_T_SECRET for commands that carry a password:
 *   status                      CMD "status"
 *   worker restart ROLE[.N]     CMD "worker"  ARG "restart"  ARG "c2s" | "c2s.1"
 *                               (ROLE is c2s, http, router or storage; N is decimal)
 *   user add JID                CMD "user"    ARG "add"      ARG "alice@localhost"  SECRET pw
 *   user passwd JID             CMD "user"    ARG "passwd"   ARG "alice@localhost"  SECRET pw
 *   user del JID                CMD "user"    ARG "del"      ARG "alice@localhost"
 *   user list HOST              CMD "user"    ARG "list"     ARG "localhost"
 *   reload                      CMD "reload"
 *   stop                        CMD "stop"
 *   storage migrate ...         not sent: runs xmppd-storage --migrate (xmppctl/migrate.c)
 * Reply: CTL_T_STATUS u32 (0 ok, 1 failed, 2 usage), optional CTL_T_TEXT (printed to stdout as
 * is, so it carries its own newlines) and optional CTL_T_ERROR (one line, printed to stderr as
 * "xmppctl: REASON"). Exit status: 0 ok, 1 failed or server unreachable, 2 usage. */
#include "cmd.h"
#include "ctl.h"
#include "migrate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void xctl_usage(FILE *f)
{
	fprintf(f, "usage: xmppctl [-s SOCKET] COMMAND ...\n"
		   "  status\n"
		   "  worker restart ROLE[.N]      ROLE: c2s, http, router, storage\n"
		   "  user add|passwd|del JID\n"
		   "  user list HOST\n"
		   "  reload\n"
		   "  stop\n"
		   "  storage migrate --from SPEC --to SPEC --host HOST...   (server stopped)\n"
		   "The default SOCKET is <dir of xmppctl>/../var/run/control.sock.\n");
}

/* <directory of this binary>/../var/run/control.sock, with ".." resolved lexically. */
static int xctl_default_socket(char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;
	slash = strrchr(exe, '/');	/* drop the binary's directory: ".." */
	if (slash)
		*slash = 0;
	int w = snprintf(out, cap, "%s/var/run/control.sock", exe);
	return w < 0 || (size_t)w >= cap ? -1 : 0;
}

static int xctl_connect(const char *path)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Sends the request (wiping it afterwards) and prints the reply; returns the exit code. */
static int xctl_exchange(const char *path, const struct xctl_cmd *c, const char *secret)
{
	int fd = xctl_connect(path);
	if (fd < 0) {
		fprintf(stderr, "xmppctl: cannot connect to %s: %s\n", path, strerror(errno));
		return 1;
	}
	struct buf req, rep;
	buf_init(&req);
	buf_init(&rep);
	int rc = 1;
	if (xctl_request_build(&req, c, secret) < 0 || ctl_write_frame(fd, &req) < 0)
		fprintf(stderr, "xmppctl: cannot send to %s: %s\n", path, strerror(errno));
	else if (ctl_read_frame(fd, &rep) < 0)
		fprintf(stderr, "xmppctl: no reply from %s: %s\n", path,
			errno == EPIPE ? "connection closed" : strerror(errno));
	else
		rc = xctl_reply_print(rep.data, rep.len, stdout, stderr);
	buf_wipe_free(&req);
	buf_free(&rep);
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	const char *sock = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "+s:h")) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'h':
			xctl_usage(stdout);
			return 0;
		default:
			xctl_usage(stderr);
			return 2;
		}
	}
	if (optind < argc && strcmp(argv[optind], "storage") == 0)
		return xctl_storage_main(argc - optind, argv + optind);
	struct xctl_cmd cmd;
	char err[256];
	if (xctl_cmd_parse(argc - optind, argv + optind, &cmd, err, sizeof(err)) < 0) {
		fprintf(stderr, "xmppctl: %s\n", err);
		return 2;
	}
	char defsock[PATH_MAX];
	if (!sock) {
		if (xctl_default_socket(defsock, sizeof(defsock)) < 0) {
			fprintf(stderr, "xmppctl: cannot find the default socket; use -s SOCKET\n");
			return 1;
		}
		sock = defsock;
	}
	char secret[XCTL_MAX_PASSWORD + 1];
	if (cmd.needs_secret &&
	    xctl_read_password(STDIN_FILENO, secret, sizeof(secret), err, sizeof(err)) < 0) {
		fprintf(stderr, "xmppctl: %s\n", err);
		return 1;
	}
	int rc = xctl_exchange(sock, &cmd, cmd.needs_secret ? secret : NULL);
	explicit_bzero(secret, sizeof(secret));
	fflush(stdout);
	return rc;
}
