/* The control protocol between xmppctl and the supervisor on <rundir>/control.sock.
 * A frame is u32 length (big-endian) then TLVs; every request carries CTL_T_VERSION first. */
#ifndef XMPPD_CTL_H
#define XMPPD_CTL_H
#include "buf.h"

#define CTL_VERSION 1

enum ctl_tag {
	CTL_T_VERSION = 1,	/* u32 */
	CTL_T_CMD,		/* str: "status", "worker", "user", "reload", "stop" */
	CTL_T_ARG,		/* str, repeated, in order */
	CTL_T_SECRET,		/* str: a password (never logged) */
	CTL_T_STATUS,		/* u32 reply: 0 ok, 1 failed, 2 usage */
	CTL_T_TEXT,		/* str reply: output for stdout */
	CTL_T_ERROR,		/* str reply: one-line reason for stderr */
};

/* Blocking frame I/O on a stream socket; 0 ok, -1 error, read returns 0 on clean EOF → -1 EPIPE. */
int ctl_write_frame(int fd, const struct buf *payload);
int ctl_read_frame(int fd, struct buf *payload);

#endif
