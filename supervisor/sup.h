/* The supervisor's state: configuration, listeners, the worker table, the control socket.
 * The supervisor never links NNG, never holds TLS state or user data, never parses network input. */
#ifndef XMPPD_SUP_H
#define XMPPD_SUP_H
#include <ev.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "config.h"
#include "restart.h"
#include "xlimits.h"

enum sup_role { ROLE_C2S, ROLE_HTTP, ROLE_ROUTER, ROLE_STORAGE, ROLE_MAX };

enum sup_state {
	PS_STOPPED,	/* not running, not scheduled */
	PS_STARTING,	/* spawned, waiting for READY */
	PS_RUNNING,
	PS_BACKOFF,	/* crashed, respawn scheduled */
	PS_THROTTLED,	/* crashed too often, held */
	PS_CONFIG,	/* exited 78: held until reload */
	PS_STOPPING,
};

struct sup_ctl_wait;	/* a control client waiting for a worker's answer */

struct sup_proc {
	enum sup_role role;
	unsigned instance;
	pid_t pid;
	enum sup_state state;
	int chan;			/* boot channel, -1 when not running */
	int errfd;			/* worker stderr pipe */
	int64_t started_ms;
	unsigned restarts;
	unsigned missed_pings;
	uint64_t ping_seq;
	int restart_now;		/* respawn without delay after this exit */
	struct sup_restart policy;
	ev_io chan_w, err_w;
	ev_child child_w;		/* libev reaps children itself: exits arrive here */
	ev_timer timer;			/* READY deadline, backoff, kill escalation */
	struct buf errbuf;		/* partial stderr line */
	int64_t log_window_ms;
	unsigned log_lines, log_dropped;
	struct sup_ctl_wait *waiters;	/* FIFO of control requests forwarded here */
};

struct sup_listener {
	struct cfg_listen conf;
	int fds[MAX_WORKERS_PER_ROLE];	/* one SO_REUSEPORT socket per instance */
	unsigned nfds;
};

struct sup_env {
	struct ev_loop *loop;
	struct cfg cfg;
	char *config_path;
	int unpriv;
	char bindir[4096];
	struct sup_listener listeners[16];
	unsigned nlisteners;
	struct sup_proc *procs;
	unsigned nprocs;
	int stopping;			/* 1 graceful, 2 fast */
	int control_fd;
	char control_path[4200];
	ev_io control_w;
	ev_timer watchdog, stop_timer;
	ev_signal sig_term, sig_int, sig_hup;
};

extern struct sup_env *env;	/* the one mutable global of the supervisor */

const char *sup_role_name(enum sup_role r);
int64_t sup_now_ms(void);

/* proc.c */
unsigned sup_role_count(enum sup_role r);
int sup_procs_build(void);
void sup_proc_spawn(struct sup_proc *p);
void sup_procs_start(void);
void sup_proc_restart(struct sup_proc *p);		/* xmppctl worker restart: clears throttle */
void sup_procs_stop(int fast);
void sup_watchdog_tick(void);
struct sup_proc *sup_proc_find(enum sup_role role, unsigned instance);
/* Forwards a control request to a worker; done gets its answer, or NULL after a timeout
 * or the worker's death, and owns client_fd from then on. */
typedef void (*sup_forward_fn)(int client_fd, const uint8_t *rep, size_t len);
int sup_proc_forward(struct sup_proc *p, const struct buf *req, int client_fd, sup_forward_fn done);
const char *sup_state_name(enum sup_state s);

/* listen.c */
int sup_listeners_open(char *err, size_t errlen);
int sup_listener_fds(const char *kind, unsigned instance, int *fd);

/* slice.c */
int sup_slice_build(const struct sup_proc *p, struct buf *out, char *err, size_t errlen);

/* control.c */
int sup_control_open(char *err, size_t errlen);
void sup_control_reply(int fd, unsigned status, const char *text, const char *error);
void sup_control_close(void);

/* reload (main.c) */
int sup_reload(char *err, size_t errlen);

#endif
