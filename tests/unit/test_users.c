/* Unit tests of the supervisor's system users (sup_users_ensure, as root) and of the run,
 * jail, ipc and data directories (sup_dirs_prepare): owners, modes, repair, refusals. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "supervisor/users.h"

/* The test fixture: a temporary base directory. */
static struct {
	int root;
	char base[PATH_MAX];
} ux;

/* snprintf for paths: truncation aborts the test program. */
static void xfmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void xfmt(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap)
		abort();
}

static void rm_tree(const char *path)
{
	char *argv[] = {"/bin/rm", "-rf", (char *)path, NULL};
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static int fixture_setup(void **state)
{
	(void)state;
	ux.root = geteuid() == 0;
	if (!ux.root)
		fprintf(stderr, "test_users: not root: user creation and chown checks are "
				"skipped; unprivileged mode is tested\n");
	snprintf(ux.base, sizeof(ux.base), "/tmp/xmppd-users-XXXXXX");
	return mkdtemp(ux.base) == NULL ? -1 : 0;
}

static int fixture_teardown(void **state)
{
	(void)state;
	if (ux.base[0])
		rm_tree(ux.base);
	return 0;
}

static void expect_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		fail_msg("%s: lstat errno %d", path, errno);
	if (!S_ISDIR(st.st_mode))
		fail_msg("%s: not a directory", path);
	if ((st.st_mode & 07777) != mode)
		fail_msg("%s: mode got %04o, want %04o", path, st.st_mode & 07777, mode);
	if (st.st_uid != uid || st.st_gid != gid)
		fail_msg("%s: owner got %u:%u, want %u:%u", path, (unsigned)st.st_uid,
			 (unsigned)st.st_gid, (unsigned)uid, (unsigned)gid);
}

static void test_users_ensure(void **state)
{
	static const char *const users[] = {SUP_USER_C2S, SUP_USER_HTTP, SUP_USER_ROUTER,
					    SUP_USER_STORE};
	char err[256];
	(void)state;

	if (!ux.root) {
		fprintf(stderr, "test_users_ensure: skipped, needs root\n");
		skip();
	}
	assert_int_equal(sup_users_ensure(err, sizeof(err)), 0);	/* idempotent */
	gid_t ipc;
	assert_int_equal(sup_group_id(SUP_IPC_GROUP, &ipc), 0);
	assert_true(ipc != 0);
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		struct passwd *pw = getpwnam(users[i]);
		if (pw == NULL)
			fail_msg("user %s missing", users[i]);
		if (pw->pw_uid == 0 || pw->pw_gid == 0 || strcmp(pw->pw_shell, "/usr/sbin/nologin"))
			fail_msg("user %s: uid %u gid %u shell %s", users[i], (unsigned)pw->pw_uid,
				 (unsigned)pw->pw_gid, pw->pw_shell);
		struct group *gr = getgrgid(pw->pw_gid);
		if (gr == NULL || strcmp(gr->gr_name, users[i]) != 0)
			fail_msg("user %s: primary group is not its own", users[i]);
		uid_t uid = pw->pw_uid;	/* getpwnam reuses its buffer */
		for (size_t j = 0; j < i; j++)
			if (getpwnam(users[j])->pw_uid == uid)
				fail_msg("users %s and %s share a uid", users[i], users[j]);
	}
	uid_t u;
	gid_t g;
	errno = 0;
	assert_int_equal(sup_user_ids("_xmppd-no-such-user", &u, &g), -1);
	assert_int_equal(errno, ENOENT);
}

/* Rewrites an /etc account file without the xmppd entries. */
static int strip_xmppd(const char *path)
{
	static char data[1 << 20];
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	size_t len = fread(data, 1, sizeof(data) - 1, f);
	fclose(f);
	data[len] = '\0';
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	for (char *line = data, *nl; *line; line = nl) {
		nl = strchr(line, '\n');
		nl = nl ? nl + 1 : line + strlen(line);
		if (strncmp(line, "_xmppd:", 7) != 0 && strncmp(line, "_xmppd-", 7) != 0)
			fwrite(line, 1, (size_t)(nl - line), f);
	}
	return fclose(f);
}

/* In a private mount namespace with a copy of /etc that has no xmppd users: creates them. */
static void child_fresh_users(void)
{
	static const char *const files[] = {"passwd", "group", "shadow", "gshadow"};
	char etc[PATH_MAX], p[PATH_MAX], err[256];

	xfmt(etc, sizeof(etc), "%s/etc", ux.base);
	char *argv[] = {"/bin/cp", "-a", "/etc", etc, NULL};
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		_exit(10);
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || st != 0)
		_exit(11);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		xfmt(p, sizeof(p), "%s/%s", etc, files[i]);
		if (strip_xmppd(p) < 0)
			_exit(12);
	}
	if (mount(etc, "/etc", NULL, MS_BIND, NULL) < 0)
		_exit(13);
	if (getpwnam(SUP_USER_C2S) != NULL || getgrnam(SUP_IPC_GROUP) != NULL)
		_exit(14);
	if (sup_users_ensure(err, sizeof(err)) < 0) {
		fprintf(stderr, "sup_users_ensure: %s\n", err);
		_exit(15);
	}
	struct passwd *pw = getpwnam(SUP_USER_STORE);
	struct group *gr = pw ? getgrgid(pw->pw_gid) : NULL;
	if (pw == NULL || pw->pw_uid == 0 || strcmp(pw->pw_shell, "/usr/sbin/nologin") != 0 ||
	    gr == NULL || strcmp(gr->gr_name, SUP_USER_STORE) != 0 || getgrnam(SUP_IPC_GROUP) == NULL)
		_exit(16);
	uid_t before = pw->pw_uid;
	if (sup_users_ensure(err, sizeof(err)) < 0 || getpwnam(SUP_USER_STORE)->pw_uid != before)
		_exit(17);
	_exit(0);
}

static void test_users_create_fresh(void **state)
{
	int st;
	(void)state;

	if (!ux.root) {
		fprintf(stderr, "test_users_create_fresh: skipped, needs root\n");
		skip();
	}
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_fresh_users();
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("fresh user creation: child status %#x (exit step %d)", st,
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void expect_prepared(const char *rundir, const char *datadir, int unpriv)
{
	char jail[PATH_MAX], ipcdir[PATH_MAX];
	uid_t root = 0, router = geteuid(), store = geteuid();
	gid_t rootg = 0, ipc = getegid(), storeg = getegid(), g;

	if (unpriv) {
		root = geteuid();
		rootg = getegid();
	} else {
		assert_int_equal(sup_user_ids(SUP_USER_ROUTER, &router, &g), 0);
		assert_int_equal(sup_user_ids(SUP_USER_STORE, &store, &storeg), 0);
		assert_int_equal(sup_group_id(SUP_IPC_GROUP, &ipc), 0);
	}
	xfmt(jail, sizeof(jail), "%s/jail", rundir);
	xfmt(ipcdir, sizeof(ipcdir), "%s/jail/ipc", rundir);
	expect_dir(rundir, SUP_RUNDIR_MODE, root, rootg);
	expect_dir(jail, SUP_JAIL_MODE, root, rootg);
	expect_dir(ipcdir, SUP_IPCDIR_MODE, router, ipc);
	expect_dir(datadir, SUP_DATADIR_MODE, store, storeg);
}

static void test_dirs_prepare(void **state)
{
	char base[PATH_MAX], rundir[PATH_MAX], datadir[PATH_MAX], p[PATH_MAX], err[256];
	(void)state;

	xfmt(base, sizeof(base), "%s/dirs", ux.base);
	xfmt(rundir, sizeof(rundir), "%s/a/b/run", base);	/* parents are made too */
	xfmt(datadir, sizeof(datadir), "%s/c/data", base);
	for (int unpriv = ux.root ? 0 : 1; unpriv <= 1; unpriv++) {
		rm_tree(base);
		assert_int_equal(sup_dirs_prepare(rundir, datadir, unpriv, err, sizeof(err)), 0);
		expect_prepared(rundir, datadir, unpriv);
		/* damaged modes and owners are repaired; preparing again changes nothing else */
		xfmt(p, sizeof(p), "%s/jail/ipc", rundir);
		assert_int_equal(chmod(rundir, 0777), 0);
		assert_int_equal(chmod(p, 0777), 0);
		if (!unpriv)
			assert_int_equal(chown(p, 0, 0), 0);
		assert_int_equal(chmod(datadir, 0755), 0);
		assert_int_equal(sup_dirs_prepare(rundir, datadir, unpriv, err, sizeof(err)), 0);
		expect_prepared(rundir, datadir, unpriv);
		assert_int_equal(sup_dirs_prepare(rundir, datadir, unpriv, err, sizeof(err)), 0);
		expect_prepared(rundir, datadir, unpriv);
		/* a stray file in the jail is refused, and so is a symlink named ipc */
		xfmt(p, sizeof(p), "%s/jail/stray", rundir);
		int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		close(fd);
		err[0] = '\0';
		assert_int_equal(sup_dirs_prepare(rundir, datadir, unpriv, err, sizeof(err)), -1);
		if (strstr(err, "jail not empty") == NULL || strstr(err, "stray") == NULL)
			fail_msg("stray file: got error '%s'", err);
		assert_int_equal(unlink(p), 0);
		xfmt(p, sizeof(p), "%s/jail/ipc", rundir);
		rm_tree(p);
		assert_int_equal(symlink("/etc", p), 0);
		assert_int_equal(sup_dirs_prepare(rundir, datadir, unpriv, err, sizeof(err)), -1);
		assert_int_equal(unlink(p), 0);
		assert_int_equal(sup_dirs_prepare(rundir, datadir, unpriv, err, sizeof(err)), 0);
		expect_prepared(rundir, datadir, unpriv);
	}
	rm_tree(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_users_ensure),
		cmocka_unit_test(test_users_create_fresh),
		cmocka_unit_test(test_dirs_prepare),
	};
	return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
