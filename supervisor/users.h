/* The supervisor's system users and directories: the per-role users and the ipc group
 * (created when missing, as root), and the run, jail, ipc and data directories. */
#ifndef XMPPD_USERS_H
#define XMPPD_USERS_H
#include <stddef.h>
#include <sys/types.h>

#define SUP_IPC_GROUP	"_xmppd"
#define SUP_USER_C2S	"_xmppd-c2s"
#define SUP_USER_HTTP	"_xmppd-http"
#define SUP_USER_ROUTER	"_xmppd-router"
#define SUP_USER_STORE	"_xmppd-store"

#define SUP_RUNDIR_MODE	0711
#define SUP_JAIL_MODE	0755
#define SUP_IPCDIR_MODE	02770	/* setgid: sockets inherit the ipc group */
#define SUP_DATADIR_MODE 0700

/* As root: creates the group _xmppd and the users _xmppd-{c2s,http,router,store} (system
 * users, each with its own primary group, no home, shell /usr/sbin/nologin) when missing,
 * with groupadd/useradd run by fork + execve in a clean environment. Refuses existing
 * users or groups that map to root. 0, or -1 with a reason in err. */
int sup_users_ensure(char *err, size_t errlen);

/* Creates (mkdir -p) and fixes owner and mode of:
 *   rundir          root, 0711
 *   rundir/jail     root, 0755, must hold nothing but ipc/ (chroot of c2s/http/router)
 *   rundir/jail/ipc _xmppd-router:_xmppd, 02770
 *   datadir         _xmppd-store:its group, 0700
 * unpriv: the same directories and modes, owned by the current user (no chown).
 * 0, or -1 with a reason in err (e.g. "jail not empty"). */
int sup_dirs_prepare(const char *rundir, const char *datadir, int unpriv, char *err,
		     size_t errlen);

/* uid and primary gid of user; -1 (errno ENOENT) when there is no such user. */
int sup_user_ids(const char *user, uid_t *uid, gid_t *gid);
/* gid of group; -1 (errno ENOENT) when there is no such group. */
int sup_group_id(const char *group, gid_t *gid);

#endif
