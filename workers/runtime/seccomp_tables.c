/* The per-role seccomp allowlists, as readable tables, and their loading (libseccomp).
 * Anything not listed kills the worker with SIGSYS; never add a syscall "just in case". */
#include "sandbox.h"

#include <errno.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* How to find what is missing when a worker dies with SIGSYS:
 *  - the supervisor logs the worker's death by signal 31 (SIGSYS);
 *  - the kernel logs every seccomp kill to the audit log, or to dmesg when auditd is not
 *    running: "audit: type=1326 ... comm="xmppd-c2s" sig=31 arch=c000003e syscall=NNN";
 *  - with sbx_opts.trap = 1, or built with -DSBX_TRAP, the worker itself writes
 *    'msg="seccomp violation" syscall=NNN' on stderr (which the supervisor logs) before it
 *    dies of SIGSYS: no audit or dmesg access needed.
 * NNN is the x86_64 number: `grep -w NNN /usr/include/x86_64-linux-gnu/asm/unistd_64.h`.
 * To allow it, add a line to sbx_allow (or sbx_argrules) for the roles that need it. */

#define C2S (1u << SBX_C2S)
#define HTTP (1u << SBX_HTTP)
#define RTR (1u << SBX_ROUTER)
#define STO (1u << SBX_STORAGE)
#define JAILED (C2S | HTTP | RTR)	/* chrooted, no outbound network */
#define ALL (C2S | HTTP | RTR | STO)

struct sbx_allow {
	int nr;		/* SCMP_SYS(name); negative when the syscall does not exist here */
	unsigned roles;
};

/* Plain allowlist: the syscall with any arguments. */
static const struct sbx_allow sbx_allow[] = {
	/* memory: malloc, thread stacks, NNG and OpenSSL arenas (mmap/mprotect: sbx_argrules) */
	{SCMP_SYS(brk), ALL},
	{SCMP_SYS(munmap), ALL},
	{SCMP_SYS(madvise), ALL},
	{SCMP_SYS(mremap), ALL},
	/* threads (NNG starts its own): clone is in sbx_argrules */
	{SCMP_SYS(futex), ALL},
	{SCMP_SYS(set_robust_list), ALL},
	{SCMP_SYS(rseq), ALL},
	{SCMP_SYS(set_tid_address), ALL},
	{SCMP_SYS(gettid), ALL},
	{SCMP_SYS(getpid), ALL},
	{SCMP_SYS(getppid), ALL},
	{SCMP_SYS(sched_yield), ALL},
	{SCMP_SYS(sched_getaffinity), ALL},
	{SCMP_SYS(sysinfo), ALL},	/* glibc qsort, sysconf */
	{SCMP_SYS(exit), ALL},
	{SCMP_SYS(exit_group), ALL},
	{SCMP_SYS(restart_syscall), ALL},
	/* signals: libev signal watchers, glibc abort/raise (tgkill: sbx_argrules) */
	{SCMP_SYS(rt_sigaction), ALL},
	{SCMP_SYS(rt_sigprocmask), ALL},
	{SCMP_SYS(rt_sigreturn), ALL},
	{SCMP_SYS(sigaltstack), ALL},
	{SCMP_SYS(signalfd4), ALL},
	/* identity reads (glibc, OpenSSL); changing it is never allowed */
	{SCMP_SYS(getuid), ALL},
	{SCMP_SYS(geteuid), ALL},
	{SCMP_SYS(getgid), ALL},
	{SCMP_SYS(getegid), ALL},
	{SCMP_SYS(getresuid), ALL},
	{SCMP_SYS(getresgid), ALL},
	{SCMP_SYS(getgroups), ALL},
	{SCMP_SYS(getrlimit), ALL},
	{SCMP_SYS(uname), ALL},
	/* time and sleeping (libev, NNG timers) */
	{SCMP_SYS(clock_gettime), ALL},
	{SCMP_SYS(clock_getres), ALL},
	{SCMP_SYS(gettimeofday), ALL},
	{SCMP_SYS(time), ALL},
	{SCMP_SYS(nanosleep), ALL},
	{SCMP_SYS(clock_nanosleep), ALL},
	{SCMP_SYS(timerfd_create), ALL},
	{SCMP_SYS(timerfd_settime), ALL},
	{SCMP_SYS(timerfd_gettime), ALL},
	/* event loops: libev (epoll, eventfd, pipe fallback), NNG's epoll poller */
	{SCMP_SYS(epoll_create), ALL},
	{SCMP_SYS(epoll_create1), ALL},
	{SCMP_SYS(epoll_ctl), ALL},
	{SCMP_SYS(epoll_wait), ALL},
	{SCMP_SYS(epoll_pwait), ALL},
	{SCMP_SYS(epoll_pwait2), ALL},
	{SCMP_SYS(poll), ALL},
	{SCMP_SYS(ppoll), ALL},
	{SCMP_SYS(select), ALL},
	{SCMP_SYS(pselect6), ALL},
	{SCMP_SYS(eventfd2), ALL},
	{SCMP_SYS(pipe2), ALL},
	/* descriptor I/O: sockets, pipes, the boot channel, stderr */
	{SCMP_SYS(read), ALL},
	{SCMP_SYS(write), ALL},
	{SCMP_SYS(readv), ALL},
	{SCMP_SYS(writev), ALL},
	{SCMP_SYS(close), ALL},
	{SCMP_SYS(fcntl), ALL},
	{SCMP_SYS(fstat), ALL},
	{SCMP_SYS(newfstatat), ALL},
	{SCMP_SYS(statx), ALL},
	{SCMP_SYS(stat), ALL},
	{SCMP_SYS(lseek), ALL},
	{SCMP_SYS(getrandom), ALL},	/* OpenSSL, glibc */
	/* sockets (socket() itself: sbx_argrules, by domain) */
	{SCMP_SYS(connect), ALL},
	{SCMP_SYS(accept), ALL},
	{SCMP_SYS(accept4), ALL},
	{SCMP_SYS(getsockopt), ALL},
	{SCMP_SYS(setsockopt), ALL},
	{SCMP_SYS(getsockname), ALL},
	{SCMP_SYS(getpeername), ALL},
	{SCMP_SYS(sendmsg), ALL},
	{SCMP_SYS(recvmsg), ALL},
	{SCMP_SYS(sendto), ALL},
	{SCMP_SYS(recvfrom), ALL},
	{SCMP_SYS(shutdown), ALL},
	/* NNG ipc listeners: the router listens on ipc:// (stale socket removal, permissions) */
	{SCMP_SYS(bind), RTR},
	{SCMP_SYS(listen), RTR},
	{SCMP_SYS(unlink), RTR | STO},
	{SCMP_SYS(chmod), RTR},
	{SCMP_SYS(fchmodat), RTR},
	/* storage: the file backend (temp file, fsync, rename, directory fsync) */
	{SCMP_SYS(pread64), STO},
	{SCMP_SYS(pwrite64), STO},
	{SCMP_SYS(fsync), STO},
	{SCMP_SYS(fdatasync), STO},
	{SCMP_SYS(rename), STO},
	{SCMP_SYS(renameat), STO},
	{SCMP_SYS(renameat2), STO},
	{SCMP_SYS(mkdir), STO},
	{SCMP_SYS(mkdirat), STO},
	{SCMP_SYS(rmdir), STO},
	{SCMP_SYS(unlinkat), STO},
	{SCMP_SYS(getdents64), STO},
	{SCMP_SYS(ftruncate), STO},
	{SCMP_SYS(flock), STO},
	{SCMP_SYS(fchmod), STO},
	{SCMP_SYS(fstatfs), STO},
	{SCMP_SYS(access), STO},
	{SCMP_SYS(faccessat), STO},
	{SCMP_SYS(faccessat2), STO},
	{SCMP_SYS(readlink), STO},
	{SCMP_SYS(getcwd), STO},
	/* storage: database clients (libpq, hiredis, libmongoc: dup of sockets, DNS) */
	{SCMP_SYS(dup), STO},
	{SCMP_SYS(socketpair), STO},
	{SCMP_SYS(sendmmsg), STO},
	{SCMP_SYS(recvmmsg), STO},
	{SCMP_SYS(bind), STO},	/* getaddrinfo binds its netlink socket; listen stays forbidden */
};

/* One comparison on one argument. */
struct sbx_cmp {
	unsigned arg;
	enum scmp_compare op;
	uint64_t a, b;	/* SCMP_CMP_MASKED_EQ: (arg & a) == b; otherwise arg OP a */
};

#define SBX_SELF_PID UINT64_MAX	/* replaced by getpid() when the filter is built */

/* Allowed (or failed with an errno) only with these arguments; anything else kills. */
struct sbx_argrule {
	int nr;
	unsigned roles;
	int err;	/* 0: allow; else fail with this errno instead of killing */
	unsigned ncmp;
	struct sbx_cmp cmp[2];
};

static const struct sbx_argrule sbx_argrules[] = {
	/* threads only: fork/vfork/posix_spawn (no CLONE_THREAD) are never allowed */
	{SCMP_SYS(clone), ALL, 0, 1, {{0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD}}},
	/* clone3 passes its flags in memory, which seccomp cannot see: glibc falls back to clone */
	{SCMP_SYS(clone3), ALL, ENOSYS, 0, {{0}}},
	/* signals to this process only (raise, abort, pthread_kill) */
	{SCMP_SYS(tgkill), ALL, 0, 1, {{0, SCMP_CMP_EQ, SBX_SELF_PID, 0}}},
	/* thread names (NNG through pthread_setname_np); nothing else of prctl */
	{SCMP_SYS(prctl), ALL, 0, 1, {{0, SCMP_CMP_EQ, PR_SET_NAME, 0}}},
	{SCMP_SYS(prctl), ALL, 0, 1, {{0, SCMP_CMP_EQ, PR_GET_NAME, 0}}},
	/* reading limits is fine (glibc pthread), changing them is not */
	{SCMP_SYS(prlimit64), ALL, 0, 1, {{2, SCMP_CMP_EQ, 0, 0}}},
	/* no executable mappings after the sandbox in the jailed roles (modules are loaded
	 * before it); storage keeps them: glibc loads NSS modules for DNS lookups */
	{SCMP_SYS(mmap), JAILED, 0, 1, {{2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0}}},
	{SCMP_SYS(mprotect), JAILED, 0, 1, {{2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0}}},
	{SCMP_SYS(mmap), STO, 0, 0, {{0}}},
	{SCMP_SYS(mprotect), STO, 0, 0, {{0}}},
	/* files: the jail is empty, so an open there can only fail; it fails quietly with
	 * "no such file", the truth in an empty jail (glibc probes /sys and /proc for the
	 * CPU count, OpenSSL looks for its configuration file) */
	{SCMP_SYS(openat), JAILED, ENOENT, 0, {{0}}},
	{SCMP_SYS(open), JAILED, ENOENT, 0, {{0}}},
	/* c2s/http own no file; a library's exit-time cleanup (libmongoc's shared memory
	 * counters, when linked) finds nothing to remove instead of killing a clean exit */
	{SCMP_SYS(unlink), C2S | HTTP, ENOENT, 0, {{0}}},
	{SCMP_SYS(unlinkat), C2S | HTTP, ENOENT, 0, {{0}}},
	{SCMP_SYS(openat), STO, 0, 0, {{0}}},
	{SCMP_SYS(open), STO, 0, 0, {{0}}},
	/* non-blocking mode and pending bytes; terminal probes fail */
	{SCMP_SYS(ioctl), ALL, 0, 1, {{1, SCMP_CMP_EQ, FIONBIO, 0}}},
	{SCMP_SYS(ioctl), ALL, 0, 1, {{1, SCMP_CMP_EQ, FIONREAD, 0}}},
	{SCMP_SYS(ioctl), ALL, ENOTTY, 1, {{1, SCMP_CMP_EQ, TCGETS, 0}}},
	/* sockets: the jailed roles only speak NNG ipc (their listeners come from the
	 * supervisor); storage dials PostgreSQL/Redis/MongoDB and resolves names */
	{SCMP_SYS(socket), ALL, 0, 1, {{0, SCMP_CMP_EQ, AF_UNIX, 0}}},
	{SCMP_SYS(socket), STO, 0, 1, {{0, SCMP_CMP_EQ, AF_INET, 0}}},
	{SCMP_SYS(socket), STO, 0, 1, {{0, SCMP_CMP_EQ, AF_INET6, 0}}},
	{SCMP_SYS(socket), STO, 0, 1, {{0, SCMP_CMP_EQ, AF_NETLINK, 0}}},	/* getaddrinfo */
};

/* Never allowed, whatever the role: process control, privileges, kernel attack surface.
 * Building a filter fails when one of them appears in a table above (prctl is not listed:
 * it is allowed for thread names only), and test_sandbox calls each of them. */
const int sbx_forbidden[] = {
	SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(fork), SCMP_SYS(vfork),
	SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
	SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root), SCMP_SYS(chroot),
	SCMP_SYS(unshare), SCMP_SYS(setns), SCMP_SYS(setuid), SCMP_SYS(setgid),
	SCMP_SYS(setreuid), SCMP_SYS(setregid), SCMP_SYS(setresuid), SCMP_SYS(setresgid),
	SCMP_SYS(setgroups), SCMP_SYS(setfsuid), SCMP_SYS(setfsgid), SCMP_SYS(capset),
	SCMP_SYS(seccomp), SCMP_SYS(keyctl), SCMP_SYS(add_key),
	SCMP_SYS(request_key), SCMP_SYS(bpf), SCMP_SYS(perf_event_open), SCMP_SYS(kexec_load),
	SCMP_SYS(kexec_file_load), SCMP_SYS(init_module), SCMP_SYS(finit_module),
	SCMP_SYS(delete_module), SCMP_SYS(userfaultfd), SCMP_SYS(io_uring_setup),
	SCMP_SYS(kill), SCMP_SYS(reboot), SCMP_SYS(swapon), SCMP_SYS(acct),
};
const size_t sbx_nforbidden = sizeof(sbx_forbidden) / sizeof(sbx_forbidden[0]);

/* Adds nr with action; a syscall this architecture does not have (negative pseudo
 * number, e.g. open on aarch64) is skipped, anything else that fails is an error. */
static int sbx_rule_add(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned ncmp,
			const struct scmp_arg_cmp *cmp)
{
	int rc = seccomp_rule_add_array(ctx, action, nr, ncmp, cmp);
	if (rc == 0 || nr < 0)
		return 0;
	errno = -rc;
	return -1;
}

static int sbx_argrule_add(scmp_filter_ctx ctx, const struct sbx_argrule *r)
{
	struct scmp_arg_cmp cmp[2];
	uint32_t action = r->err ? SCMP_ACT_ERRNO((uint32_t)r->err) : SCMP_ACT_ALLOW;

	for (unsigned i = 0; i < r->ncmp; i++) {
		uint64_t a = r->cmp[i].a == SBX_SELF_PID ? (uint64_t)getpid() : r->cmp[i].a;
		cmp[i] = (struct scmp_arg_cmp){r->cmp[i].arg, r->cmp[i].op, a, r->cmp[i].b};
	}
	return sbx_rule_add(ctx, action, r->nr, r->ncmp, cmp);
}

/* A forbidden syscall added to an allowlist by mistake is a broken build, not a hole. */
static int sbx_tables_check(void)
{
	for (size_t f = 0; f < sbx_nforbidden; f++) {
		int nr = sbx_forbidden[f];
		for (size_t i = 0; i < sizeof(sbx_allow) / sizeof(sbx_allow[0]); i++)
			if (sbx_allow[i].nr == nr)
				goto bad;
		for (size_t i = 0; i < sizeof(sbx_argrules) / sizeof(sbx_argrules[0]); i++)
			if (sbx_argrules[i].nr == nr)
				goto bad;
	}
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

static int sbx_filter_fill(scmp_filter_ctx ctx, enum sbx_role role)
{
	unsigned bit = 1u << role;

	if (sbx_tables_check() < 0)
		return -1;

	for (size_t i = 0; i < sizeof(sbx_allow) / sizeof(sbx_allow[0]); i++)
		if ((sbx_allow[i].roles & bit) &&
		    sbx_rule_add(ctx, SCMP_ACT_ALLOW, sbx_allow[i].nr, 0, NULL) < 0)
			return -1;
	for (size_t i = 0; i < sizeof(sbx_argrules) / sizeof(sbx_argrules[0]); i++)
		if ((sbx_argrules[i].roles & bit) && sbx_argrule_add(ctx, &sbx_argrules[i]) < 0)
			return -1;
	return 0;
}

/* trap mode: say which syscall was refused, then die of SIGSYS as the kill would. */
static void sbx_sigsys(int sig, siginfo_t *si, void *uc)
{
	char line[96] = "level=crit msg=\"seccomp violation\" syscall=";
	char digits[16];
	size_t n = strlen(line), d = 0;
	unsigned v = (unsigned)si->si_syscall;

	(void)uc;
	do
		digits[d++] = (char)('0' + v % 10);
	while ((v /= 10) != 0 && d < sizeof(digits));
	while (d > 0 && n < sizeof(line) - 1)
		line[n++] = digits[--d];
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	raise(sig);	/* SA_RESETHAND: the default action, death by SIGSYS */
}

static int sbx_trap_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sbx_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL);
}

int sbx_filter_load(enum sbx_role role, int trap)
{
	if ((unsigned)role >= SBX_ROLE_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (trap && sbx_trap_install() < 0)
		return -1;
	/* the architecture is checked first: another ABI kills as well */
	scmp_filter_ctx ctx = seccomp_init(trap ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL) {
		errno = ENOMEM;
		return -1;
	}
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);	/* every thread */
	if (rc == 0)
		rc = sbx_filter_fill(ctx, role) < 0 ? -errno : 0;
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc != 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}
