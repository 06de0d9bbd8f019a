/* What every worker does around its role: read the boot messages on fd 3, apply the
 * sandbox, answer PINGs, forward control requests, report READY, exit on channel EOF. */
#ifndef XMPPD_WORKER_H
#define XMPPD_WORKER_H
#include <ev.h>
#include <limits.h>
#include <stdint.h>

#include "buf.h"

#define WRK_MAX_LISTENERS 16

struct wrk_listener {
	char kind[16];
	int fd;
};

struct wrk_boot {
	char role[16];
	uint32_t instance;
	char rundir[PATH_MAX];		/* as seen before chroot */
	char datadir[PATH_MAX];
	int unpriv;
	int loglevel;
	struct buf slice;		/* the whole slice, for role-specific reading */
	struct wrk_listener listeners[WRK_MAX_LISTENERS];
	unsigned nlisteners;
};

/* Reads SLICE/LISTENER messages until GO; fatal on a malformed boot. */
void wrk_boot_read(struct wrk_boot *b);
/* Applies the sandbox for the boot's role; ipc paths are then relative to wrk_ipc_dir(). */
void wrk_sandbox(const struct wrk_boot *b);
/* "ipc:///.../ipc/NAME" valid after the sandbox (chroot-aware). */
void wrk_ipc_url(const struct wrk_boot *b, const char *name, char *out, size_t cap);

/* Control requests from the supervisor: fill reply (TLV). */
typedef void (*wrk_ctl_fn)(void *arg, const uint8_t *req, size_t len, struct buf *reply);
/* Starts watching the boot channel on loop: PING → PONG, CTL_REQ → fn, RELOAD → reload fn,
 * EOF → exit(0) (the supervisor is gone). */
void wrk_chan_start(struct ev_loop *loop, wrk_ctl_fn ctl, wrk_ctl_fn reload, void *arg);
/* Inside a ctl fn: its answer comes later, through wrk_ctl_answer with the ticket returned
 * (the reply buffer is then ignored). 0 when out of memory: answer now instead. Answers reach
 * the supervisor in the order of the requests, whenever each one is ready. */
uint64_t wrk_ctl_defer(void);
void wrk_ctl_answer(uint64_t ticket, const void *p, size_t len);
void wrk_ready(void);
/* SIGTERM/SIGINT → stop fn (graceful), installed on loop. */
void wrk_signals(struct ev_loop *loop, void (*stop)(void *arg), void *arg);

#endif
