/* The boot channel: SOCK_SEQPACKET between the supervisor and one worker (fd 3 in the worker).
 * One message = u8 type, then payload; at most one fd rides along (SCM_RIGHTS). */
#ifndef XMPPD_CHAN_H
#define XMPPD_CHAN_H
#include "buf.h"

#define CHAN_FD 3

enum chan_type {
	/* supervisor → worker */
	CHAN_SLICE = 1,		/* configuration slice (TLV, tags in slice.h) */
	CHAN_LISTENER,		/* payload: listener kind ("c2s", "c2s-tls", ...); fd attached */
	CHAN_GO,		/* boot is complete: sandbox, then start */
	CHAN_PING,		/* payload u64 seq */
	CHAN_CTL_REQ,		/* forwarded control request (TLV, tags in ctl.h) */
	CHAN_RELOAD,		/* a new configuration slice while running */
	/* worker → supervisor */
	CHAN_READY = 32,
	CHAN_PONG,		/* payload u64 seq */
	CHAN_CTL_REP,
	CHAN_TYPE_MAX
};

/* Sends one message; pass_fd < 0 for none. Retries EINTR. */
int chan_send(int fd, uint8_t type, const void *data, size_t len, int pass_fd);
/* Receives one message into payload (reset first). *type set; *got_fd = passed fd or -1.
 * Returns 1 on a message, 0 on EOF, -1 on error (EAGAIN when non-blocking and empty). */
int chan_recv(int fd, uint8_t *type, struct buf *payload, int *got_fd);

#endif
