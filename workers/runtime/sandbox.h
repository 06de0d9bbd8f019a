/* The privilege drop of ARCHITECTURE §1, applied in order and then verified.
 * A worker calls sbx_apply once, after its boot and before its first NNG call. */
#ifndef XMPPD_SANDBOX_H
#define XMPPD_SANDBOX_H
#include <stddef.h>

enum sbx_role { SBX_C2S, SBX_HTTP, SBX_ROUTER, SBX_STORAGE, SBX_ROLE_MAX };

struct sbx_opts {
	enum sbx_role role;
	int unpriv;		/* supervisor not root: skip netns, chroot, uid change */
	const char *chroot_dir;	/* c2s/http/router: the empty jail (<rundir>/jail) */
	const char *user;	/* system user: "_xmppd-c2s", ...; NULL = sbx_role_user(role) */
	const char *ipc_group;	/* supplementary group for the ipc sockets: "_xmppd"; NULL = that */
	unsigned nofile;	/* RLIMIT_NOFILE; 0 = SBX_NOFILE_DEFAULT */
	int trap;		/* debugging: a refused syscall writes "seccomp violation
				 * syscall=NNN" to stderr before the worker dies of SIGSYS */
};

#define SBX_IPC_GROUP		"_xmppd"
#define SBX_NOFILE_DEFAULT	1024u
#define SBX_NPROC_MAX		4096u	/* tasks (threads) per role user, root mode only */

/* Applies everything or exits the process (fatal): a half-sandboxed worker must not run.
 * Must be called while the process is single-threaded (before any nng_* call).
 * A syscall outside the role's allowlist then kills the process with SIGSYS: the
 * supervisor sees WTERMSIG == SIGSYS, and the kernel logs the syscall number to the
 * audit log / dmesg (type=1326 ... syscall=NNN); see workers/runtime/seccomp_tables.c. */
void sbx_apply(const struct sbx_opts *o);
int sbx_role_parse(const char *name);	/* -1 unknown */
const char *sbx_role_user(enum sbx_role r);
const char *sbx_role_name(enum sbx_role r);

/* The seccomp step alone (sbx_apply calls it last; no_new_privs must already be set).
 * trap 1: SCMP_ACT_TRAP with a SIGSYS handler that names the syscall, then dies. */
int sbx_filter_load(enum sbx_role role, int trap);
/* Syscalls no role may make (x86_64 numbers; negative: not on this architecture). */
extern const int sbx_forbidden[];
extern const size_t sbx_nforbidden;

#endif
