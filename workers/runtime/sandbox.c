/* The worker sandbox: namespaces, rlimits, chroot, capabilities, ids, prctl flags and the
 * seccomp filter, in the order of ARCHITECTURE §1, each step verified. Never returns half-done. */
#include "sandbox.h"

#include "log.h"

#include <errno.h>
#include <grp.h>
#include <linux/securebits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	const char *name;
	const char *user;
	int jailed;	/* own net/ipc/uts namespaces and the chroot; storage keeps host network */
	int may_write;	/* files may grow (RLIMIT_FSIZE not 0) */
} sbx_roles[SBX_ROLE_MAX] = {
	[SBX_C2S] = {"c2s", "_xmppd-c2s", 1, 0},
	[SBX_HTTP] = {"http", "_xmppd-http", 1, 0},
	[SBX_ROUTER] = {"router", "_xmppd-router", 1, 0},
	[SBX_STORAGE] = {"storage", "_xmppd-store", 0, 1},
};

#if defined(__SANITIZE_ADDRESS__)
#define SBX_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define SBX_LSAN 1
#endif
#endif

#ifdef SBX_LSAN
/* Sanitizer builds only. LeakSanitizer's exit-time check needs prctl, fork and ptrace, which
 * the filter forbids: without this hook every sandboxed worker would die of SIGSYS on a
 * clean exit. Processes that never applied the sandbox keep their leak check. This flag is
 * a global because LeakSanitizer asks for it, through a hook, at exit. */
static volatile int sbx_sandboxed;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return sbx_sandboxed;
}
#endif

struct sbx_ids {
	uid_t uid;
	gid_t gid;
	gid_t ipc_gid;
};

int sbx_role_parse(const char *name)
{
	for (int i = 0; i < SBX_ROLE_MAX; i++)
		if (strcmp(name, sbx_roles[i].name) == 0)
			return i;
	return -1;
}

const char *sbx_role_user(enum sbx_role r)
{
	return (unsigned)r < SBX_ROLE_MAX ? sbx_roles[r].user : NULL;
}

const char *sbx_role_name(enum sbx_role r)
{
	return (unsigned)r < SBX_ROLE_MAX ? sbx_roles[r].name : "?";
}

/* Before the chroot: /etc/passwd and /etc/group are out of reach afterwards. */
static void sbx_resolve(const struct sbx_opts *o, struct sbx_ids *ids)
{
	const char *user = o->user ? o->user : sbx_roles[o->role].user;
	const char *group = o->ipc_group ? o->ipc_group : SBX_IPC_GROUP;

	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL)
		fatal("sandbox user not found", "user=%s", user);
	if (pw->pw_uid == 0 || pw->pw_gid == 0)
		fatal("sandbox user is root", "user=%s", user);
	ids->uid = pw->pw_uid;
	ids->gid = pw->pw_gid;
	struct group *gr = getgrnam(group);
	if (gr == NULL)
		fatal("sandbox ipc group not found", "group=%s", group);
	if (gr->gr_gid == 0)
		fatal("sandbox ipc group is root", "group=%s", group);
	ids->ipc_gid = gr->gr_gid;
}

static void sbx_rlimit(int resource, const char *name, rlim_t v)
{
	struct rlimit rl = {v, v};
	if (setrlimit(resource, &rl) < 0)
		fatal("setrlimit failed", "limit=%s value=%llu errno=%d", name,
		      (unsigned long long)v, errno);
}

static void sbx_rlimits(const struct sbx_opts *o)
{
	rlim_t nofile = o->nofile ? o->nofile : SBX_NOFILE_DEFAULT;
	struct rlimit cur;

	/* raising the hard limit needs CAP_SYS_RESOURCE: without it, stay at the hard limit */
	if (getrlimit(RLIMIT_NOFILE, &cur) == 0 && cur.rlim_max != RLIM_INFINITY &&
	    nofile > cur.rlim_max) {
		struct rlimit rl = {nofile, nofile};
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			log_warn("nofile limit capped by the hard limit", "want=%llu have=%llu",
				 (unsigned long long)nofile, (unsigned long long)cur.rlim_max);
			nofile = cur.rlim_max;
		}
	}
	sbx_rlimit(RLIMIT_NOFILE, "nofile", nofile);
	sbx_rlimit(RLIMIT_CORE, "core", 0);	/* every role holds secrets or user data */
	sbx_rlimit(RLIMIT_MSGQUEUE, "msgqueue", 0);
	if (!sbx_roles[o->role].may_write)
		sbx_rlimit(RLIMIT_FSIZE, "fsize", 0);
	/* per real uid: only meaningful when the role has its own user */
	if (!o->unpriv)
		sbx_rlimit(RLIMIT_NPROC, "nproc", SBX_NPROC_MAX);
}

static void sbx_chroot(const char *dir)
{
	struct stat want, got;

	if (dir == NULL || dir[0] != '/')
		fatal("sandbox jail must be an absolute path", "jail=%s", dir ? dir : "(null)");
	if (stat(dir, &want) < 0 || !S_ISDIR(want.st_mode))
		fatal("sandbox jail missing", "jail=%s errno=%d", dir, errno);
	if ((want.st_mode & (S_IWGRP | S_IWOTH)) || want.st_uid != 0)
		fatal("sandbox jail must be owned by root and not writable by others", "jail=%s", dir);
	if (chroot(dir) < 0 || chdir("/") < 0)
		fatal("chroot failed", "jail=%s errno=%d", dir, errno);
	if (stat("/", &got) < 0 || got.st_dev != want.st_dev || got.st_ino != want.st_ino)
		fatal("chroot not in effect", "jail=%s", dir);
}

static void sbx_capbset_drop(void)
{
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			fatal("cannot drop capability from the bounding set", "cap=%d errno=%d", cap,
			      errno);
}

static void sbx_securebits(void)
{
	const int bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
			 SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
			 SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;

	if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
		fatal("cannot lock securebits", "errno=%d", errno);
	if (prctl(PR_GET_SECUREBITS, 0, 0, 0, 0) != bits)
		fatal("securebits not in effect", "");
}

static void sbx_setids(const struct sbx_ids *ids)
{
	if (setgroups(1, &ids->ipc_gid) < 0)
		fatal("setgroups failed", "errno=%d", errno);
	if (setresgid(ids->gid, ids->gid, ids->gid) < 0)
		fatal("setresgid failed", "gid=%u errno=%d", (unsigned)ids->gid, errno);
	if (setresuid(ids->uid, ids->uid, ids->uid) < 0)
		fatal("setresuid failed", "uid=%u errno=%d", (unsigned)ids->uid, errno);
}

/* NO_SETUID_FIXUP keeps the kernel from clearing capabilities on the uid change, so they
 * are cleared here, explicitly, in every mode. */
static void sbx_caps_clear(void)
{
	cap_t none = cap_init();

	if (none == NULL)
		fatal("cap_init failed", "errno=%d", errno);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		fatal("cannot clear ambient capabilities", "errno=%d", errno);
	if (cap_set_proc(none) < 0)
		fatal("cannot clear capabilities", "errno=%d", errno);
	cap_free(none);
}

static void sbx_verify_caps(int bounding)
{
	cap_t cur = cap_get_proc(), none = cap_init();

	if (cur == NULL || none == NULL)
		fatal("cannot read capabilities", "errno=%d", errno);
	if (cap_compare(cur, none) != 0)
		fatal("capabilities remain after the drop", "");
	cap_free(cur);
	cap_free(none);
	for (int cap = 0; bounding && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0)
			fatal("capability left in the bounding set", "cap=%d", cap);
}

static void sbx_verify_ids(const struct sbx_ids *ids)
{
	uid_t r, e, s;
	gid_t rg, eg, sg, groups[2];

	if (getresuid(&r, &e, &s) < 0 || r != ids->uid || e != ids->uid || s != ids->uid)
		fatal("uid change not in effect", "");
	if (getresgid(&rg, &eg, &sg) < 0 || rg != ids->gid || eg != ids->gid || sg != ids->gid)
		fatal("gid change not in effect", "");
	if (getgroups(2, groups) != 1 || groups[0] != ids->ipc_gid)
		fatal("supplementary groups not in effect", "");
}

/* The way back to root must be closed (skipped only for a root process in unpriv mode). */
static void sbx_verify_no_root(void)
{
	if (getuid() != 0 && (setuid(0) == 0 || errno != EPERM))
		fatal("setuid(0) did not fail", "");
	if (getgid() != 0 && (setgid(0) == 0 || errno != EPERM))
		fatal("setgid(0) did not fail", "");
}

static void sbx_prctls(pid_t supervisor)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		fatal("cannot clear dumpable", "errno=%d", errno);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		fatal("cannot set no_new_privs", "errno=%d", errno);
	/* after the uid change, which clears it */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fatal("cannot set the parent death signal", "errno=%d", errno);
	if (getppid() != supervisor)
		fatal("supervisor gone before the sandbox closed", "");
}

void sbx_apply(const struct sbx_opts *o)
{
	pid_t supervisor = getppid();
	struct sbx_ids ids = {0, 0, 0};

	if ((unsigned)o->role >= SBX_ROLE_MAX)
		fatal("unknown sandbox role", "role=%d", (int)o->role);
	int jailed = sbx_roles[o->role].jailed && !o->unpriv;
	if (!o->unpriv)
		sbx_resolve(o, &ids);
	if (jailed && unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
		fatal("unshare failed", "errno=%d", errno);
	sbx_rlimits(o);
	if (jailed)
		sbx_chroot(o->chroot_dir);
	if (!o->unpriv) {
		sbx_capbset_drop();
		sbx_securebits();
		sbx_setids(&ids);
	}
	sbx_caps_clear();
	sbx_verify_caps(!o->unpriv);
	if (!o->unpriv)
		sbx_verify_ids(&ids);
	sbx_verify_no_root();
	sbx_prctls(supervisor);
	int trap = o->trap;
#ifdef SBX_TRAP	/* make CFLAGS="... -DSBX_TRAP": every worker names a refused syscall */
	trap = 1;
#endif
#ifdef SBX_LSAN
	sbx_sandboxed = 1;
#endif
	if (sbx_filter_load(o->role, trap) < 0)
		fatal("cannot load the seccomp filter", "role=%s errno=%d", sbx_roles[o->role].name,
		      errno);
	log_info("sandbox applied", "role=%s unpriv=%d uid=%u jail=%d trap=%d",
		 sbx_roles[o->role].name, o->unpriv, (unsigned)getuid(), jailed, trap);
}
