/* Unit tests of the worker sandbox: sbx_apply in forked children, checked from outside
 * (ids, capabilities, chroot, rlimits, seccomp kills, NNG/libev/TLS under the filter). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <linux/sched.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sandbox.h"
#include "supervisor/users.h"

#define CHILD_TIMEOUT_S 20	/* SIGALRM (set before the sandbox) ends a hung child */
#define CHILD_OUT_MAX 16384

/* The test fixture, shared by every case of this file. */
static struct {
	int root;
	char base[PATH_MAX], rundir[PATH_MAX], datadir[PATH_MAX], jail[PATH_MAX];
	struct stat jail_st;
	uid_t uid[SBX_ROLE_MAX];
	EVP_PKEY *key;
	X509 *cert;
} fx;

struct child_result {
	int status;
	char out[CHILD_OUT_MAX];
};

/* snprintf for paths and URLs: truncation aborts the test program. */
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

/* ---- helpers run in the child: report on stdout/stderr (a pipe), exit 2 on failure ---- */

static _Noreturn void child_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void child_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdprintf(STDERR_FILENO, fmt, ap);
	va_end(ap);
	dprintf(STDERR_FILENO, "\n");
	_exit(2);
}

static void child_sandbox_mode(enum sbx_role role, int unpriv, int trap)
{
	struct sbx_opts o = {
		.role = role, .unpriv = unpriv || !fx.root, .chroot_dir = fx.jail, .nofile = 256,
		.trap = trap,
	};
	alarm(CHILD_TIMEOUT_S);
	sbx_apply(&o);
}

static void child_sandbox(enum sbx_role role, int trap)
{
	child_sandbox_mode(role, 0, trap);
}

static int role_jailed(enum sbx_role r)
{
	return fx.root && r != SBX_STORAGE;
}

/* ---- helpers run in the parent ---- */

static void run_child(void (*fn)(const void *), const void *arg, struct child_result *r)
{
	int p[2];
	size_t len = 0;
	ssize_t n;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		fn(arg);
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], r->out + len, sizeof(r->out) - 1 - len)) > 0)
		len += (size_t)n;
	r->out[len] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &r->status, 0), pid);
}

static void expect_exit0(const char *name, const struct child_result *r)
{
	if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0)
		return;
	fail_msg("case %s: child status %#x (signal %d), output:\n%s", name, r->status,
		 WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0, r->out);
}

/* Value after "Key:\t" in a /proc/self/status dump, or NULL. */
static const char *status_field(const char *text, const char *key, char *val, size_t cap)
{
	char k[32];
	snprintf(k, sizeof(k), "\n%s:", key);
	const char *p = strstr(text, k);
	if (p == NULL)
		return NULL;
	p += strlen(k);
	while (*p == '\t' || *p == ' ')
		p++;
	size_t n = strcspn(p, "\n");
	if (n >= cap)
		n = cap - 1;
	memcpy(val, p, n);
	val[n] = '\0';
	return val;
}

static void expect_field(const char *role, const char *out, const char *key, const char *want)
{
	char got[128];
	if (status_field(out, key, got, sizeof(got)) == NULL)
		fail_msg("role %s: no %s in child output:\n%s", role, key, out);
	if (strcmp(got, want) != 0)
		fail_msg("role %s: %s got '%s', want '%s'", role, key, got, want);
}

/* ---- fixture ---- */

static int make_cert(void)
{
	fx.key = EVP_EC_gen("P-256");
	fx.cert = X509_new();
	if (fx.key == NULL || fx.cert == NULL)
		return -1;
	X509_NAME *name = X509_get_subject_name(fx.cert);
	ASN1_INTEGER_set(X509_get_serialNumber(fx.cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(fx.cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(fx.cert), 3600);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
				   -1, -1, 0);
	X509_set_issuer_name(fx.cert, name);
	X509_set_pubkey(fx.cert, fx.key);
	return X509_sign(fx.cert, fx.key, EVP_sha256()) > 0 ? 0 : -1;
}

static int fixture_setup(void **state)
{
	char err[256] = "";
	(void)state;

	fx.root = geteuid() == 0;
	if (!fx.root)
		fprintf(stderr, "test_sandbox: not root: root-only checks (users, uid change, "
				"chroot, bounding set) are skipped; unprivileged mode is tested\n");
	snprintf(fx.base, sizeof(fx.base), "/tmp/xmppd-sbx-XXXXXX");
	if (mkdtemp(fx.base) == NULL || chmod(fx.base, 0755) < 0)
		return -1;
	xfmt(fx.rundir, sizeof(fx.rundir), "%s/run", fx.base);
	xfmt(fx.datadir, sizeof(fx.datadir), "%s/data", fx.base);
	xfmt(fx.jail, sizeof(fx.jail), "%s/jail", fx.rundir);
	if (fx.root && sup_users_ensure(err, sizeof(err)) < 0) {
		fprintf(stderr, "sup_users_ensure: %s\n", err);
		return -1;
	}
	if (sup_dirs_prepare(fx.rundir, fx.datadir, !fx.root, err, sizeof(err)) < 0) {
		fprintf(stderr, "sup_dirs_prepare: %s\n", err);
		return -1;
	}
	if (stat(fx.jail, &fx.jail_st) < 0)
		return -1;
	for (int r = 0; r < SBX_ROLE_MAX; r++) {
		gid_t g;
		fx.uid[r] = getuid();
		if (fx.root && sup_user_ids(sbx_role_user((enum sbx_role)r), &fx.uid[r], &g) < 0)
			return -1;
	}
	return make_cert();
}

static void rm_tree(const char *path)
{
	char *argv[] = {"/bin/rm", "-rf", (char *)path, NULL};
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static int fixture_teardown(void **state)
{
	(void)state;
	if (fx.base[0])
		rm_tree(fx.base);
	X509_free(fx.cert);
	EVP_PKEY_free(fx.key);
	return 0;
}

/* ---- sbx_apply: what /proc/self/status and the file system look like afterwards ---- */

struct status_case {
	enum sbx_role role;
	int unpriv;
	const char *name;
};

static void print_limit(const char *name, int resource)
{
	struct rlimit rl;
	if (getrlimit(resource, &rl) < 0)
		child_fail("getrlimit %s: %d", name, errno);
	dprintf(STDOUT_FILENO, "%s:\t%llu %llu\n", name, (unsigned long long)rl.rlim_cur,
		(unsigned long long)rl.rlim_max);
}

static void child_status(const void *arg)
{
	const struct status_case *c = arg;
	char buf[8192];
	struct stat st;

	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);	/* unreachable later */
	if (fd < 0)
		child_fail("open /proc/self/status: %d", errno);
	child_sandbox_mode(c->role, c->unpriv, 0);
	ssize_t n = lseek(fd, 0, SEEK_SET) == 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n <= 0)
		child_fail("read status: %d", errno);
	buf[n] = '\0';
	dprintf(STDOUT_FILENO, "\n%s", buf);
	dprintf(STDOUT_FILENO, "RootIno:\t%llu\n",
		stat("/", &st) == 0 ? (unsigned long long)st.st_ino : 0ull);
	dprintf(STDOUT_FILENO, "Passwd:\t%d\n", stat("/etc/passwd", &st) == 0);
	/* a file outside the jail cannot be opened in a jailed role: ENOENT, not death */
	int f = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	dprintf(STDOUT_FILENO, "OpenErr:\t%d\n", f < 0 ? errno : 0);
	dprintf(STDOUT_FILENO, "Ppid:\t%d\n", (int)getppid());
	print_limit("LimNofile", RLIMIT_NOFILE);
	print_limit("LimFsize", RLIMIT_FSIZE);
	print_limit("LimCore", RLIMIT_CORE);
}

static void test_apply_status(void **state)
{
	static const struct status_case cases[] = {
		{SBX_C2S, 0, "c2s"}, {SBX_HTTP, 0, "http"}, {SBX_ROUTER, 0, "router"},
		{SBX_STORAGE, 0, "storage"}, {SBX_C2S, 1, "c2s unpriv"},
		{SBX_STORAGE, 1, "storage unpriv"},
	};
	static struct child_result r;
	char want[64];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct status_case *c = &cases[i];
		const char *name = c->name;
		run_child(child_status, c, &r);
		expect_exit0(name, &r);
		expect_field(name, r.out, "NoNewPrivs", "1");
		expect_field(name, r.out, "Seccomp", "2");
		expect_field(name, r.out, "CapEff", "0000000000000000");
		expect_field(name, r.out, "CapPrm", "0000000000000000");
		expect_field(name, r.out, "CapInh", "0000000000000000");
		expect_field(name, r.out, "CapAmb", "0000000000000000");
		snprintf(want, sizeof(want), "%d", (int)getpid());
		expect_field(name, r.out, "Ppid", want);
		expect_field(name, r.out, "LimNofile", "256 256");
		expect_field(name, r.out, "LimCore", "0 0");
		if (c->role != SBX_STORAGE)
			expect_field(name, r.out, "LimFsize", "0 0");
		if (!fx.root || c->unpriv) {
			/* unprivileged mode: same ids as the parent, no jail */
			char uid[64];
			snprintf(want, sizeof(want), "%u\t", (unsigned)getuid());
			if (status_field(r.out, "Uid", uid, sizeof(uid)) == NULL ||
			    strncmp(uid, want, strlen(want)) != 0)
				fail_msg("case %s: uid changed in unprivileged mode", name);
			expect_field(name, r.out, "Passwd", "1");
			continue;
		}
		unsigned u = (unsigned)fx.uid[c->role];
		snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", u, u, u, u);
		expect_field(name, r.out, "Uid", want);
		expect_field(name, r.out, "CapBnd", "0000000000000000");
		if (role_jailed(c->role)) {
			snprintf(want, sizeof(want), "%llu", (unsigned long long)fx.jail_st.st_ino);
			expect_field(name, r.out, "RootIno", want);
			expect_field(name, r.out, "Passwd", "0");
			snprintf(want, sizeof(want), "%d", ENOENT);
			expect_field(name, r.out, "OpenErr", want);
		} else {
			expect_field(name, r.out, "Passwd", "1");
			expect_field(name, r.out, "OpenErr", "0");
		}
	}
}

/* ---- a sandboxed worker exits cleanly: atexit handlers (OpenSSL), sanitizer hooks ---- */

static void child_exit(const void *arg)
{
	child_sandbox(*(const enum sbx_role *)arg, 0);
	exit(0);
}

static void test_clean_exit(void **state)
{
	static const enum sbx_role roles[] = {SBX_C2S, SBX_HTTP, SBX_ROUTER, SBX_STORAGE};
	static struct child_result r;
	(void)state;

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		run_child(child_exit, &roles[i], &r);
		expect_exit0(sbx_role_name(roles[i]), &r);
	}
}

/* ---- forbidden syscalls kill the worker with SIGSYS ---- */

enum forbid_op {
	OP_PTRACE, OP_EXECVE, OP_SETUID, OP_FORK, OP_SOCKET_INET, OP_UNSHARE, OP_MOUNT, OP_KILL,
	OP_MMAP_EXEC, OP_PRCTL, OP_CLONE3, OP_PRLIMIT_SET,
};

struct forbid_case {
	const char *name;
	enum sbx_role role;
	enum forbid_op op;
	int trap;
	int want_errno;	/* 0: death by SIGSYS; else the call fails with this errno */
};

static long forbid_do(enum forbid_op op)
{
	static char *const argv[] = {"/bin/true", NULL};
	struct rlimit rl = {16, 16};

	switch (op) {
	case OP_PTRACE: return ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	case OP_EXECVE: return execve(argv[0], argv, NULL);
	case OP_SETUID: return setuid(0);
	case OP_FORK: return fork();
	case OP_SOCKET_INET: return socket(AF_INET, SOCK_STREAM, 0);
	case OP_UNSHARE: return unshare(CLONE_NEWUSER);
	case OP_MOUNT: return mount("none", "/", "tmpfs", 0, NULL);
	case OP_KILL: return kill(getppid(), 0);
	case OP_MMAP_EXEC: {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return p == MAP_FAILED ? -1 : 0;
	}
	case OP_PRCTL: return prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	case OP_CLONE3: {
		struct clone_args ca;
		memset(&ca, 0, sizeof(ca));
		ca.exit_signal = SIGCHLD;
		return syscall(SYS_clone3, &ca, sizeof(ca));
	}
	case OP_PRLIMIT_SET: return prlimit(0, RLIMIT_NOFILE, &rl, NULL);
	}
	return 0;
}

static void child_forbid(const void *arg)
{
	const struct forbid_case *c = arg;

	child_sandbox(c->role, c->trap);
	long rc = forbid_do(c->op);
	if (rc == 0 && c->op == OP_FORK)
		_exit(0);	/* a forked grandchild: should never exist */
	dprintf(STDERR_FILENO, "rc=%ld errno=%d\n", rc, errno);
	_exit(rc == -1 && errno == c->want_errno ? 0 : 3);
}

static void test_forbidden_syscalls(void **state)
{
	static const struct forbid_case cases[] = {
		{"c2s ptrace", SBX_C2S, OP_PTRACE, 0, 0},
		{"c2s execve", SBX_C2S, OP_EXECVE, 0, 0},
		{"http execve", SBX_HTTP, OP_EXECVE, 0, 0},
		{"router setuid", SBX_ROUTER, OP_SETUID, 0, 0},
		{"storage setuid", SBX_STORAGE, OP_SETUID, 0, 0},
		{"storage execve", SBX_STORAGE, OP_EXECVE, 0, 0},
		{"storage ptrace", SBX_STORAGE, OP_PTRACE, 0, 0},
		{"c2s fork", SBX_C2S, OP_FORK, 0, 0},
		{"storage fork", SBX_STORAGE, OP_FORK, 0, 0},
		{"c2s socket AF_INET", SBX_C2S, OP_SOCKET_INET, 0, 0},
		{"router socket AF_INET", SBX_ROUTER, OP_SOCKET_INET, 0, 0},
		{"http unshare", SBX_HTTP, OP_UNSHARE, 0, 0},
		{"storage mount", SBX_STORAGE, OP_MOUNT, 0, 0},
		{"router kill", SBX_ROUTER, OP_KILL, 0, 0},
		{"c2s mmap exec", SBX_C2S, OP_MMAP_EXEC, 0, 0},
		{"storage prctl", SBX_STORAGE, OP_PRCTL, 0, 0},
		{"c2s prlimit set", SBX_C2S, OP_PRLIMIT_SET, 0, 0},
		{"c2s clone3 ENOSYS", SBX_C2S, OP_CLONE3, 0, ENOSYS},
		{"storage clone3 ENOSYS", SBX_STORAGE, OP_CLONE3, 0, ENOSYS},
		{"storage socket AF_INET allowed", SBX_STORAGE, OP_SOCKET_INET, 0, -1},
		{"c2s ptrace trap", SBX_C2S, OP_PTRACE, 1, 0},
	};
	static struct child_result r;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct forbid_case *c = &cases[i];
		run_child(child_forbid, c, &r);
		if (c->want_errno == -1) {	/* allowed: socket() returns an fd */
			if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 3 ||
			    strstr(r.out, "rc=-1") != NULL)
				fail_msg("case %s: want a successful call, status %#x:\n%s", c->name,
					 r.status, r.out);
			continue;
		}
		if (c->want_errno) {
			expect_exit0(c->name, &r);
			continue;
		}
		if (!WIFSIGNALED(r.status) || WTERMSIG(r.status) != SIGSYS)
			fail_msg("case %s: want death by SIGSYS, got status %#x, output:\n%s",
				 c->name, r.status, r.out);
		if (c->trap && strstr(r.out, "seccomp violation\" syscall=101") == NULL)
			fail_msg("case %s: trap mode did not name syscall 101:\n%s", c->name, r.out);
	}
}

/* Every syscall of sbx_forbidden, with zero arguments, in every role: death by SIGSYS. */
struct forbidden_case {
	enum sbx_role role;
	int nr;
};

static void child_forbidden_nr(const void *arg)
{
	const struct forbidden_case *c = arg;

	child_sandbox(c->role, 0);
	long rc = syscall(c->nr, 0, 0, 0, 0, 0, 0);
	if (rc == 0 && (c->nr == SYS_fork || c->nr == SYS_vfork))
		_exit(4);	/* in a child that should never have existed */
	dprintf(STDERR_FILENO, "syscall %d returned %ld errno=%d\n", c->nr, rc, errno);
	_exit(3);
}

static void test_forbidden_table(void **state)
{
	static struct child_result r;
	(void)state;

	assert_true(sbx_nforbidden > 30);
	for (int role = 0; role < SBX_ROLE_MAX; role++) {
		for (size_t i = 0; i < sbx_nforbidden; i++) {
			struct forbidden_case c = {(enum sbx_role)role, sbx_forbidden[i]};
			if (c.nr < 0)
				continue;	/* not on this architecture */
			run_child(child_forbidden_nr, &c, &r);
			if (!WIFSIGNALED(r.status) || WTERMSIG(r.status) != SIGSYS)
				fail_msg("role %s syscall %d: want death by SIGSYS, status %#x:\n%s",
					 sbx_role_name(c.role), c.nr, r.status, r.out);
		}
	}
}

/* ---- NNG over ipc between sandboxed router, c2s and storage; libev; OpenSSL ---- */

static void ipc_url(enum sbx_role self, const char *name, char *out, size_t cap)
{
	if (role_jailed(self))
		xfmt(out, cap, "ipc:///ipc/%s", name);
	else
		xfmt(out, cap, "ipc://%s/ipc/%s", fx.jail, name);
}

static void nng_check(int rv, const char *what)
{
	if (rv != 0)
		child_fail("%s: %s", what, nng_strerror(rv));
}

static void nng_timeouts(nng_socket s)
{
	nng_check(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000), "recvtimeo");
	nng_check(nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 10000), "sendtimeo");
	nng_check(nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 4096), "recvmaxsz");
}

static void nng_listen_ipc(nng_socket s, const char *url)
{
	nng_listener l;
	nng_check(nng_listener_create(&l, s, url), "listener create");
	nng_check(nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0660), "ipc permissions");
	nng_check(nng_listener_start(l, 0), "listener start");
}

static void expect_msg(nng_socket s, const char *want)
{
	char *buf = NULL;
	size_t len = 0;
	nng_check(nng_recv(s, &buf, &len, NNG_FLAG_ALLOC), "recv");
	if (len != strlen(want) || memcmp(buf, want, len) != 0)
		child_fail("recv: got %.*s, want %s", (int)len, buf, want);
	nng_free(buf, len);
}

static void child_router(const void *arg)
{
	char url[PATH_MAX];
	nng_socket pair, req;
	(void)arg;

	child_sandbox(SBX_ROUTER, 1);
	nng_check(nng_pair1_open(&pair), "pair1 open");
	nng_check(nng_req0_open(&req), "req0 open");
	nng_timeouts(pair);
	nng_timeouts(req);
	ipc_url(SBX_ROUTER, "t-c2s.sock", url, sizeof(url));
	nng_listen_ipc(pair, url);
	ipc_url(SBX_ROUTER, "t-sto.sock", url, sizeof(url));
	nng_listen_ipc(req, url);
	expect_msg(pair, "ping");
	nng_check(nng_send(pair, "pong", 4, 0), "send pong");
	nng_check(nng_send(req, "get", 3, 0), "send get");
	expect_msg(req, "value");
	nng_msleep(200);	/* let pong leave before the pipe closes */
	nng_close(pair);
	nng_close(req);
}

static void child_storage(const void *arg)
{
	char url[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX];
	nng_socket rep;
	(void)arg;

	child_sandbox(SBX_STORAGE, 1);
	/* the file backend's write: temp file, fsync, rename, directory fsync */
	xfmt(tmp, sizeof(tmp), "%s/rec.tmp", fx.datadir);
	xfmt(path, sizeof(path), "%s/rec", fx.datadir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, "value", 5) != 5 || fsync(fd) < 0 || close(fd) < 0 ||
	    rename(tmp, path) < 0)
		child_fail("file write: %d", errno);
	int dfd = open(fx.datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0 || close(dfd) < 0)
		child_fail("directory fsync: %d", errno);
	/* a database client: name resolution (netlink, /etc/hosts) and a TCP connect */
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_ADDRCONFIG}, *ai = NULL;
	int gai = getaddrinfo("localhost", "1", &hints, &ai);
	if (gai != 0)
		child_fail("getaddrinfo: %s", gai_strerror(gai));
	int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || (connect(s, ai->ai_addr, ai->ai_addrlen) < 0 && errno != ECONNREFUSED))
		child_fail("tcp connect: %d", errno);
	close(s);
	freeaddrinfo(ai);
	nng_check(nng_rep0_open(&rep), "rep0 open");
	nng_timeouts(rep);
	ipc_url(SBX_STORAGE, "t-sto.sock", url, sizeof(url));
	nng_check(nng_dial(rep, url, NULL, NNG_FLAG_NONBLOCK), "dial");
	expect_msg(rep, "get");
	nng_check(nng_send(rep, "value", 5, 0), "send value");
	nng_msleep(200);
	nng_close(rep);
}

/* A TLS handshake and one record between two SSL objects over a socketpair. */
static void tls_exchange(SSL_CTX *sctx, SSL_CTX *cctx, int sp[2])
{
	SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
	char buf[16];
	int sdone = 0, cdone = 0;

	if (s == NULL || c == NULL)
		child_fail("SSL_new");
	SSL_set_fd(s, sp[0]);
	SSL_set_fd(c, sp[1]);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	for (int i = 0; i < 1000 && !(sdone && cdone); i++) {
		if (!cdone)
			cdone = SSL_do_handshake(c) == 1;
		if (!sdone)
			sdone = SSL_do_handshake(s) == 1;
	}
	if (!sdone || !cdone)
		child_fail("TLS handshake did not finish");
	if (SSL_write(c, "hello", 5) != 5)
		child_fail("SSL_write");
	int n = 0;
	for (int i = 0; i < 1000 && n <= 0; i++)
		n = SSL_read(s, buf, sizeof(buf));
	if (n != 5 || memcmp(buf, "hello", 5) != 0)
		child_fail("SSL_read got %d", n);
	SSL_free(s);
	SSL_free(c);
}

struct c2s_state {
	nng_socket pair;
	int got;
};

static void c2s_recv_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct c2s_state *st = w->data;
	char *buf = NULL;
	size_t len = 0;
	(void)revents;

	int rv = nng_recv(st->pair, &buf, &len, NNG_FLAG_ALLOC | NNG_FLAG_NONBLOCK);
	if (rv == NNG_EAGAIN)
		return;
	nng_check(rv, "recv");
	st->got = len == 4 && memcmp(buf, "pong", 4) == 0;
	nng_free(buf, len);
	ev_break(loop, EVBREAK_ALL);
}

static void c2s_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void child_c2s(const void *arg)
{
	char url[PATH_MAX];
	struct c2s_state st = {.got = 0};
	int sp[2], recvfd;
	ev_io io;
	ev_timer tm;
	(void)arg;

	/* as the real c2s: TLS contexts and keys are set up before the sandbox */
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
	if (sctx == NULL || cctx == NULL || SSL_CTX_use_certificate(sctx, fx.cert) != 1 ||
	    SSL_CTX_use_PrivateKey(sctx, fx.key) != 1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
		child_fail("TLS setup");
	child_sandbox(SBX_C2S, 1);
	tls_exchange(sctx, cctx, sp);

	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	if (loop == NULL)
		child_fail("ev_loop_new");
	nng_check(nng_pair1_open(&st.pair), "pair1 open");
	nng_timeouts(st.pair);
	ipc_url(SBX_C2S, "t-c2s.sock", url, sizeof(url));
	nng_check(nng_dial(st.pair, url, NULL, NNG_FLAG_NONBLOCK), "dial");
	nng_check(nng_send(st.pair, "ping", 4, 0), "send ping");
	nng_check(nng_socket_get_int(st.pair, NNG_OPT_RECVFD, &recvfd), "recvfd");
	ev_io_init(&io, c2s_recv_cb, recvfd, EV_READ);
	io.data = &st;
	ev_io_start(loop, &io);
	ev_timer_init(&tm, c2s_timeout_cb, 10.0, 0.0);
	ev_timer_start(loop, &tm);
	ev_run(loop, 0);
	if (!st.got)
		child_fail("no pong through the libev loop");
	nng_close(st.pair);
	ev_loop_destroy(loop);
}

static void test_nng_ipc_exchange(void **state)
{
	static const struct {
		const char *name;
		void (*fn)(const void *);
	} kids[] = {{"router", child_router}, {"storage", child_storage}, {"c2s", child_c2s}};
	static struct child_result r[3];
	(void)state;

	/* the three run concurrently: run_child blocks, so each runs in its own fork */
	pid_t pids[3];
	for (size_t i = 0; i < 3; i++) {
		fflush(NULL);
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			run_child(kids[i].fn, NULL, &r[i]);
			int ok = WIFEXITED(r[i].status) && WEXITSTATUS(r[i].status) == 0;
			if (!ok)
				fprintf(stderr, "case %s: status %#x (signal %d), output:\n%s\n",
					kids[i].name, r[i].status,
					WIFSIGNALED(r[i].status) ? WTERMSIG(r[i].status) : 0, r[i].out);
			fflush(NULL);
			_exit(ok ? 0 : 1);
		}
	}
	int failed = 0;
	for (size_t i = 0; i < 3; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "case %s failed\n", kids[i].name);
			failed = 1;
		}
	}
	assert_int_equal(failed, 0);
}

static void test_role_names(void **state)
{
	static const struct {
		const char *name;
		int role;
		const char *user;
	} cases[] = {
		{"c2s", SBX_C2S, "_xmppd-c2s"},
		{"http", SBX_HTTP, "_xmppd-http"},
		{"router", SBX_ROUTER, "_xmppd-router"},
		{"storage", SBX_STORAGE, "_xmppd-store"},
		{"supervisor", -1, NULL},
		{"", -1, NULL},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = sbx_role_parse(cases[i].name);
		if (got != cases[i].role)
			fail_msg("case '%s': role got %d, want %d", cases[i].name, got, cases[i].role);
		if (got >= 0 && strcmp(sbx_role_user((enum sbx_role)got), cases[i].user) != 0)
			fail_msg("case '%s': user got %s", cases[i].name,
				 sbx_role_user((enum sbx_role)got));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_role_names),
		cmocka_unit_test(test_apply_status),
		cmocka_unit_test(test_clean_exit),
		cmocka_unit_test(test_forbidden_syscalls),
		cmocka_unit_test(test_forbidden_table),
		cmocka_unit_test(test_nng_ipc_exchange),
	};
	return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
