/* Supervisor start-up as root: the per-role system users and the ipc group, and the run,
 * jail, ipc and data directories with their owners and modes. Never runs a shell. */
#include "users.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SUP_PW_BUF 4096
#define SUP_GROUPADD "/usr/sbin/groupadd"
#define SUP_USERADD "/usr/sbin/useradd"
#define SUP_NOLOGIN "/usr/sbin/nologin"

static const char *const sup_role_users[] = {
	SUP_USER_C2S, SUP_USER_HTTP, SUP_USER_ROUTER, SUP_USER_STORE,
};

static int sup_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int sup_fail(char *err, size_t errlen, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		int n = vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		if (n < 0)
			err[0] = '\0';
	}
	errno = saved;
	return -1;
}

int sup_user_ids(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd pw, *res = NULL;
	char buf[SUP_PW_BUF];

	int rc = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (rc != 0 || res == NULL) {
		errno = rc ? rc : ENOENT;
		return -1;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	return 0;
}

int sup_group_id(const char *group, gid_t *gid)
{
	struct group gr, *res = NULL;
	char buf[SUP_PW_BUF];

	int rc = getgrnam_r(group, &gr, buf, sizeof(buf), &res);
	if (rc != 0 || res == NULL) {
		errno = rc ? rc : ENOENT;
		return -1;
	}
	*gid = gr.gr_gid;
	return 0;
}

/* fork + execve of an absolute path with a fixed, clean environment; 0 when it exited 0. */
static int sup_run(char *const argv[], char *err, size_t errlen)
{
	static char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
	int status;

	pid_t pid = fork();
	if (pid < 0)
		return sup_fail(err, errlen, "fork: %s", strerror(errno));
	if (pid == 0) {
		sigset_t none;	/* the supervisor's blocked signals are not the tool's */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, STDIN_FILENO);
			dup2(STDERR_FILENO, STDOUT_FILENO);
		}
		closefrom(STDERR_FILENO + 1);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return sup_fail(err, errlen, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return sup_fail(err, errlen, "%s failed (status %d)", argv[0], status);
	return 0;
}

/* groupadd/useradd fail while another process holds the lock on /etc/passwd (a second
 * supervisor, a package manager): try a few times, and accept an entry that appeared meanwhile. */
#define SUP_ADD_TRIES 5
#define SUP_ADD_RETRY_US 200000

static int sup_run_add(char *const argv[], const char *name, int is_group, char *err,
		       size_t errlen)
{
	uid_t u;
	gid_t g;

	for (int i = 0; i < SUP_ADD_TRIES; i++) {
		if (sup_run(argv, err, errlen) == 0)
			return 0;
		if (is_group ? sup_group_id(name, &g) == 0 : sup_user_ids(name, &u, &g) == 0)
			return 0;
		usleep(SUP_ADD_RETRY_US);
	}
	return -1;
}

static int sup_group_ensure(const char *group, char *err, size_t errlen)
{
	gid_t gid;

	if (sup_group_id(group, &gid) < 0) {
		char *argv[] = {SUP_GROUPADD, "--system", (char *)group, NULL};
		if (sup_run_add(argv, group, 1, err, errlen) < 0)
			return -1;
		if (sup_group_id(group, &gid) < 0)
			return sup_fail(err, errlen, "group %s missing after groupadd", group);
	}
	if (gid == 0)
		return sup_fail(err, errlen, "group %s has gid 0", group);
	return 0;
}

static int sup_user_ensure(const char *user, char *err, size_t errlen)
{
	uid_t uid;
	gid_t gid;

	if (sup_user_ids(user, &uid, &gid) < 0) {
		/* its own primary group: made by useradd, or reused when it already exists */
		char *argv[16];
		size_t n = 0;
		argv[n++] = SUP_USERADD;
		argv[n++] = "--system";
		argv[n++] = "--no-create-home";
		argv[n++] = "--home-dir";
		argv[n++] = "/nonexistent";
		argv[n++] = "--shell";
		argv[n++] = SUP_NOLOGIN;
		argv[n++] = "--comment";
		argv[n++] = "xmppd";
		if (sup_group_id(user, &gid) == 0) {
			argv[n++] = "--gid";
			argv[n++] = (char *)user;
		} else {
			argv[n++] = "--user-group";
		}
		argv[n++] = (char *)user;
		argv[n] = NULL;
		if (sup_run_add(argv, user, 0, err, errlen) < 0)
			return -1;
		if (sup_user_ids(user, &uid, &gid) < 0)
			return sup_fail(err, errlen, "user %s missing after useradd", user);
	}
	if (uid == 0 || gid == 0)
		return sup_fail(err, errlen, "user %s maps to root (uid %u gid %u)", user,
				(unsigned)uid, (unsigned)gid);
	return 0;
}

int sup_users_ensure(char *err, size_t errlen)
{
	if (geteuid() != 0)
		return sup_fail(err, errlen, "creating system users needs root");
	if (sup_group_ensure(SUP_IPC_GROUP, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(sup_role_users) / sizeof(sup_role_users[0]); i++)
		if (sup_user_ensure(sup_role_users[i], err, errlen) < 0)
			return -1;
	return 0;
}

/* mkdir -p: parents are created 0755; an existing path component is left as it is. */
static int sup_mkdir_p(const char *path, mode_t mode, char *err, size_t errlen)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(p))
		return sup_fail(err, errlen, "bad directory path '%s'", path);
	memcpy(p, path, n + 1);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char c = p[i];
		p[i] = '\0';
		if (mkdir(p, i == n ? mode : 0755) < 0 && errno != EEXIST)
			return sup_fail(err, errlen, "mkdir %s: %s", p, strerror(errno));
		p[i] = c;
	}
	return 0;
}

/* Opens an existing directory (never through a symlink) and sets owner and mode on the
 * descriptor. chown first: it clears the setgid bit. Returns the fd or -1. */
static int sup_dir_fix(int dirfd, const char *path, uid_t uid, gid_t gid, mode_t mode,
		       int do_chown, char *err, size_t errlen)
{
	struct stat st;

	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return sup_fail(err, errlen, "open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		close(fd);
		return sup_fail(err, errlen, "%s is not a directory", path);
	}
	if (do_chown && (st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0) {
		sup_fail(err, errlen, "chown %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (fchmod(fd, mode) < 0) {
		sup_fail(err, errlen, "chmod %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The jail must hold nothing but the ipc directory. */
static int sup_jail_check(int jailfd, char *err, size_t errlen)
{
	int fd = dup(jailfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int rc = 0;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return sup_fail(err, errlen, "read jail: %s", strerror(errno));
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strcmp(de->d_name, "ipc") == 0 &&
		    fstatat(jailfd, "ipc", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			continue;
		rc = sup_fail(err, errlen, "jail not empty: '%s' (only ipc/ belongs there)",
			      de->d_name);
	}
	closedir(d);
	return rc;
}

static int sup_jail_prepare(const char *jail, uid_t owner, gid_t group, int unpriv, char *err,
			    size_t errlen)
{
	gid_t ipc_gid = group;
	uid_t router = owner;

	if (!unpriv) {
		gid_t ignored;
		if (sup_user_ids(SUP_USER_ROUTER, &router, &ignored) < 0 ||
		    sup_group_id(SUP_IPC_GROUP, &ipc_gid) < 0)
			return sup_fail(err, errlen, "user %s or group %s missing", SUP_USER_ROUTER,
					SUP_IPC_GROUP);
	}
	if (sup_mkdir_p(jail, SUP_JAIL_MODE, err, errlen) < 0)
		return -1;
	int jfd = sup_dir_fix(AT_FDCWD, jail, owner, group, SUP_JAIL_MODE, !unpriv, err, errlen);
	if (jfd < 0)
		return -1;
	int rc = sup_jail_check(jfd, err, errlen);
	if (rc == 0 && mkdirat(jfd, "ipc", 0700) < 0 && errno != EEXIST)
		rc = sup_fail(err, errlen, "mkdir %s/ipc: %s", jail, strerror(errno));
	if (rc == 0) {
		int ifd = sup_dir_fix(jfd, "ipc", router, ipc_gid, SUP_IPCDIR_MODE, !unpriv, err,
				      errlen);
		rc = ifd < 0 ? -1 : close(ifd);
	}
	close(jfd);
	return rc;
}

int sup_dirs_prepare(const char *rundir, const char *datadir, int unpriv, char *err,
		     size_t errlen)
{
	char jail[PATH_MAX];
	uid_t root = 0, store = 0;
	gid_t rootg = 0, storeg = 0;

	if (unpriv) {
		root = store = geteuid();
		rootg = storeg = getegid();
	} else if (sup_user_ids(SUP_USER_STORE, &store, &storeg) < 0) {
		return sup_fail(err, errlen, "user %s missing", SUP_USER_STORE);
	}
	int n = snprintf(jail, sizeof(jail), "%s/jail", rundir);
	if (n < 0 || (size_t)n >= sizeof(jail))
		return sup_fail(err, errlen, "run directory path too long");
	if (sup_mkdir_p(rundir, SUP_RUNDIR_MODE, err, errlen) < 0)
		return -1;
	int fd = sup_dir_fix(AT_FDCWD, rundir, root, rootg, SUP_RUNDIR_MODE, !unpriv, err, errlen);
	if (fd < 0)
		return -1;
	close(fd);
	if (sup_jail_prepare(jail, root, rootg, unpriv, err, errlen) < 0)
		return -1;
	if (sup_mkdir_p(datadir, SUP_DATADIR_MODE, err, errlen) < 0)
		return -1;
	fd = sup_dir_fix(AT_FDCWD, datadir, store, storeg, SUP_DATADIR_MODE, !unpriv, err, errlen);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}
