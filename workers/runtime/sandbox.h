/* The privilege drop of ARCHITECTURE §1, applied in order and then verified.
 * A worker calls sbx_apply once, after its boot and before its first NNG call. */
#ifndef XMPPD_SANDBOX_H
#define XMPPD_SANDBOX_H

enum sbx_role { SBX_C2S, SBX_HTTP, SBX_ROUTER, SBX_STORAGE, SBX_ROLE_MAX };

struct sbx_opts {
	enum sbx_role role;
	int unpriv;		/* supervisor not root: skip netns, chroot, uid change */
	const char *chroot_dir;	/* c2s/http/router: the empty jail (<rundir>/jail) */
	const char *user;	/* system user: "_xmppd-c2s", ... */
	const char *ipc_group;	/* supplementary group for the ipc sockets: "_xmppd" */
	unsigned nofile;	/* RLIMIT_NOFILE */
};

/* Applies everything or exits the process (fatal): a half-sandboxed worker must not run. */
void sbx_apply(const struct sbx_opts *o);
int sbx_role_parse(const char *name);	/* -1 unknown */
const char *sbx_role_user(enum sbx_role r);

#endif
