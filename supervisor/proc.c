/* The worker table: fork+exec of each worker, its boot, READY, watchdog, stderr tagging,
 * and the restart policy. The only place that says what runs. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "sup.h"

#define CTL_FORWARD_TIMEOUT 5.0

struct sup_ctl_wait {
	int client_fd;			/* -1 once answered by the timeout */
	sup_forward_fn done;
	ev_timer timer;
	struct sup_ctl_wait *next;
};

static const struct {
	const char *name, *binary;
	const char *listeners[3];	/* kinds handed to each instance */
} role_table[ROLE_MAX] = {
	[ROLE_C2S] = {"c2s", "xmppd-c2s", {"c2s", "c2s-tls", "component"}},
	[ROLE_HTTP] = {"http", "xmppd-http", {"http", "https", NULL}},
	[ROLE_ROUTER] = {"router", "xmppd-router", {NULL}},
	[ROLE_STORAGE] = {"storage", "xmppd-storage", {NULL}},
};

static const char *const state_names[] = {
	[PS_STOPPED] = "stopped", [PS_STARTING] = "starting", [PS_RUNNING] = "running",
	[PS_BACKOFF] = "backoff", [PS_THROTTLED] = "throttled", [PS_CONFIG] = "config-error",
	[PS_STOPPING] = "stopping",
};

const char *sup_role_name(enum sup_role r) { return role_table[r].name; }
const char *sup_state_name(enum sup_state s) { return state_names[s]; }

int64_t sup_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int has_listener(const char *const kinds[3])
{
	for (int k = 0; k < 3 && kinds[k]; k++)
		for (size_t i = 0; i < env->cfg.nlistens; i++)
			if (strcmp(env->cfg.listens[i].kind, kinds[k]) == 0)
				return 1;
	return 0;
}

unsigned sup_role_count(enum sup_role r)
{
	switch (r) {
	case ROLE_C2S:
		return has_listener(role_table[r].listeners) ? env->cfg.workers_c2s : 0;
	case ROLE_HTTP:
		return has_listener(role_table[r].listeners) ? env->cfg.workers_http : 0;
	case ROLE_ROUTER:
		return 1;
	case ROLE_STORAGE:
		return env->cfg.workers_storage;
	default:
		return 0;
	}
}

struct sup_proc *sup_proc_find(enum sup_role role, unsigned instance)
{
	for (unsigned i = 0; i < env->nprocs; i++)
		if (env->procs[i].role == role && env->procs[i].instance == instance)
			return &env->procs[i];
	return NULL;
}

static void proc_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void proc_chan_cb(struct ev_loop *loop, ev_io *w, int revents);
static void proc_err_cb(struct ev_loop *loop, ev_io *w, int revents);
static void proc_child_cb(struct ev_loop *loop, ev_child *w, int revents);

int sup_procs_build(void)
{
	unsigned n = 0;
	for (int r = 0; r < ROLE_MAX; r++)
		n += sup_role_count((enum sup_role)r);
	env->procs = calloc(n, sizeof(*env->procs));
	if (!env->procs)
		return -1;
	for (int r = 0; r < ROLE_MAX; r++) {
		for (unsigned i = 0; i < sup_role_count((enum sup_role)r); i++) {
			struct sup_proc *p = &env->procs[env->nprocs++];
			p->role = (enum sup_role)r;
			p->instance = i;
			p->chan = p->errfd = -1;
			buf_init(&p->errbuf);
			ev_init(&p->timer, proc_timer_cb);
			p->timer.data = p;
		}
	}
	return 0;
}

/* Child side of the spawn: fd 3 = boot channel, stderr/stdout = log pipe, nothing else open. */
static _Noreturn void proc_exec(struct sup_proc *p, int chan, int errw)
{
	char path[4200];
	sigset_t all;

	chan = fcntl(chan, F_DUPFD, 10);
	errw = fcntl(errw, F_DUPFD, 10);
	int null = open("/dev/null", O_RDONLY);
	if (chan < 0 || errw < 0 || null < 0 || dup2(null, 0) < 0 || dup2(errw, 1) < 0 ||
	    dup2(errw, 2) < 0 || dup2(chan, CHAN_FD) < 0)
		_exit(127);
	close_range(CHAN_FD + 1, ~0U, 0);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	snprintf(path, sizeof(path), "%s/%s", env->bindir, role_table[p->role].binary);
	char *const argv[] = {(char *)role_table[p->role].binary, NULL};
	char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	execve(path, argv, envp);
	dprintf(2, "level=crit msg=\"cannot execute worker\" path=\"%s\" err=\"%s\"\n", path, strerror(errno));
	_exit(127);
}

static int proc_boot(struct sup_proc *p)
{
	char err[512];
	struct buf slice;
	int fd, rc = -1;

	buf_init(&slice);
	if (sup_slice_build(p, &slice, err, sizeof(err)) < 0) {
		log_err("cannot build worker configuration", "proc=%s.%u reason=\"%s\"",
			sup_role_name(p->role), p->instance, err);
		goto out;
	}
	if (chan_send(p->chan, CHAN_SLICE, slice.data, slice.len, -1) < 0)
		goto out;
	for (int k = 0; k < 3 && role_table[p->role].listeners[k]; k++) {
		const char *kind = role_table[p->role].listeners[k];
		if (sup_listener_fds(kind, p->instance, &fd) &&
		    chan_send(p->chan, CHAN_LISTENER, kind, strlen(kind), fd) < 0)
			goto out;
	}
	rc = chan_send(p->chan, CHAN_GO, NULL, 0, -1);
out:
	buf_wipe_free(&slice);
	return rc;
}

void sup_proc_spawn(struct sup_proc *p)
{
	int sv[2], ep[2];
	int big = (int)CHAN_MAX_MSG;

	ev_timer_stop(env->loop, &p->timer);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		fatal("socketpair failed", "err=\"%s\"", strerror(errno));
	if (pipe2(ep, O_CLOEXEC) < 0)
		fatal("pipe failed", "err=\"%s\"", strerror(errno));
	for (int i = 0; i < 2; i++) {	/* FORCE needs root; unprivileged gets what the sysctl allows */
		if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
			setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		if (setsockopt(sv[i], SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
			setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	}
	pid_t pid = fork();
	if (pid < 0)
		fatal("fork failed", "err=\"%s\"", strerror(errno));
	if (pid == 0)
		proc_exec(p, sv[1], ep[1]);
	close(sv[1]);
	close(ep[1]);
	p->pid = pid;
	ev_child_init(&p->child_w, proc_child_cb, pid, 0);
	p->child_w.data = p;
	ev_child_start(env->loop, &p->child_w);
	p->chan = sv[0];
	p->errfd = ep[0];
	fcntl(p->errfd, F_SETFL, O_NONBLOCK);
	p->state = PS_STARTING;
	p->started_ms = sup_now_ms();
	p->missed_pings = 0;
	p->restart_now = 0;
	ev_io_init(&p->chan_w, proc_chan_cb, p->chan, EV_READ);
	p->chan_w.data = p;
	ev_io_start(env->loop, &p->chan_w);
	ev_io_init(&p->err_w, proc_err_cb, p->errfd, EV_READ);
	p->err_w.data = p;
	ev_io_start(env->loop, &p->err_w);
	ev_timer_set(&p->timer, READY_TIMEOUT_MS / 1000.0, 0);
	ev_timer_start(env->loop, &p->timer);
	log_info("worker spawned", "proc=%s.%u pid=%d", sup_role_name(p->role), p->instance, (int)pid);
	if (proc_boot(p) < 0) {
		log_err("worker boot failed", "proc=%s.%u pid=%d", sup_role_name(p->role), p->instance,
			(int)pid);
		kill(pid, SIGKILL);
	}
}

void sup_procs_start(void)
{
	for (unsigned i = 0; i < env->nprocs; i++)
		sup_proc_spawn(&env->procs[i]);
}

static void waiters_fail(struct sup_proc *p)
{
	while (p->waiters) {
		struct sup_ctl_wait *w = p->waiters;
		p->waiters = w->next;
		ev_timer_stop(env->loop, &w->timer);
		if (w->client_fd >= 0)
			w->done(w->client_fd, NULL, 0);
		free(w);
	}
}

static void ctl_reply_arrived(struct sup_proc *p, const struct buf *msg)
{
	struct sup_ctl_wait *w = p->waiters;
	if (!w) {
		log_warn("unexpected control reply dropped", "proc=%s.%u", sup_role_name(p->role), p->instance);
		return;
	}
	p->waiters = w->next;
	ev_timer_stop(env->loop, &w->timer);
	if (w->client_fd >= 0)
		w->done(w->client_fd, msg->data, msg->len);
	free(w);
}

static void proc_chan_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sup_proc *p = w->data;
	struct buf msg;
	uint8_t type;
	int fd;
	(void)revents;

	buf_init(&msg);
	int rc = chan_recv(p->chan, &type, &msg, &fd);
	if (rc < 0 && (errno == EAGAIN || errno == EINTR))
		goto out;
	if (rc <= 0) {
		ev_io_stop(loop, w);	/* the exit is handled by SIGCHLD */
		goto out;
	}
	if (fd >= 0)
		close(fd);	/* workers never pass fds up */
	switch (type) {
	case CHAN_READY:
		if (p->state == PS_STARTING) {
			p->state = PS_RUNNING;
			ev_timer_stop(loop, &p->timer);
			log_info("worker ready", "proc=%s.%u pid=%d", sup_role_name(p->role), p->instance,
				 (int)p->pid);
		}
		break;
	case CHAN_PONG:
		p->missed_pings = 0;
		break;
	case CHAN_CTL_REP:
		ctl_reply_arrived(p, &msg);
		break;
	default:
		log_warn("unexpected message from worker", "proc=%s.%u type=%u", sup_role_name(p->role),
			 p->instance, type);
		break;
	}
out:
	buf_wipe_free(&msg);
}

static void emit_worker_line(struct sup_proc *p, const char *line, size_t len)
{
	int64_t now = sup_now_ms();
	if (now - p->log_window_ms >= 1000) {
		if (p->log_dropped)
			log_warn("worker log lines dropped", "proc=%s.%u dropped=%u", sup_role_name(p->role),
				 p->instance, p->log_dropped);
		p->log_window_ms = now;
		p->log_lines = p->log_dropped = 0;
	}
	if (++p->log_lines > LOG_LINES_PER_SEC) {
		p->log_dropped++;
		return;
	}
	if (len > LOG_LINE_MAX)
		len = LOG_LINE_MAX;
	dprintf(STDERR_FILENO, "proc=%s.%u pid=%d %.*s\n", sup_role_name(p->role), p->instance,
		(int)p->pid, (int)len, line);
}

static void drain_stderr(struct sup_proc *p, int final)
{
	char chunk[4096];
	ssize_t n;
	while ((n = read(p->errfd, chunk, sizeof(chunk))) > 0) {
		buf_put(&p->errbuf, chunk, (size_t)n);
		size_t start = 0;
		for (size_t i = 0; i < p->errbuf.len; i++) {
			if (p->errbuf.data[i] != '\n')
				continue;
			emit_worker_line(p, (char *)p->errbuf.data + start, i - start);
			start = i + 1;
		}
		buf_consume(&p->errbuf, start);
		if (p->errbuf.len > LOG_LINE_MAX) {	/* an endless line: cut it */
			emit_worker_line(p, (char *)p->errbuf.data, p->errbuf.len);
			buf_reset(&p->errbuf);
		}
	}
	if (final && p->errbuf.len) {
		emit_worker_line(p, (char *)p->errbuf.data, p->errbuf.len);
		buf_reset(&p->errbuf);
	}
	if (n == 0)
		ev_io_stop(env->loop, &p->err_w);
}

static void proc_err_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	drain_stderr(w->data, 0);
}

static void proc_closed(struct sup_proc *p)
{
	ev_io_stop(env->loop, &p->chan_w);
	ev_io_stop(env->loop, &p->err_w);
	ev_timer_stop(env->loop, &p->timer);
	if (p->errfd >= 0) {
		drain_stderr(p, 1);
		close(p->errfd);
	}
	if (p->chan >= 0)
		close(p->chan);
	p->chan = p->errfd = -1;
	p->pid = 0;
	waiters_fail(p);
}

static int all_stopped(void)
{
	for (unsigned i = 0; i < env->nprocs; i++)
		if (env->procs[i].pid)
			return 0;
	return 1;
}

static void schedule(struct sup_proc *p, enum sup_state st, int64_t delay_ms)
{
	p->state = st;
	ev_timer_set(&p->timer, (double)delay_ms / 1000.0, 0);
	ev_timer_start(env->loop, &p->timer);
}

static void proc_exited(struct sup_proc *p, int status)
{
	const char *name = sup_role_name(p->role);
	int64_t now = sup_now_ms();
	int crashed = !(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == EX_CONFIG_EXIT));

	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		log_crit("worker killed by seccomp (forbidden syscall)", "proc=%s.%u pid=%d signal=SIGSYS", name,
			 p->instance, (int)p->pid);
	else if (WIFSIGNALED(status))
		log_warn("worker died", "proc=%s.%u pid=%d signal=%d", name, p->instance, (int)p->pid,
			 WTERMSIG(status));
	else
		log_msg(crashed ? LOG_WARN : LOG_INFO, "worker exited", "proc=%s.%u pid=%d status=%d", name,
			p->instance, (int)p->pid, WEXITSTATUS(status));
	int restart_now = p->restart_now;
	proc_closed(p);

	if (env->stopping) {
		p->state = PS_STOPPED;
		if (all_stopped())
			ev_break(env->loop, EVBREAK_ALL);
		return;
	}
	if (restart_now) {
		p->restarts++;
		sup_proc_spawn(p);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == EX_CONFIG_EXIT) {
		p->state = PS_CONFIG;
		log_err("worker rejected its configuration; held until reload", "proc=%s.%u", name, p->instance);
		return;
	}
	if (!crashed) {
		p->state = PS_STOPPED;
		return;
	}
	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)now;
	int64_t delay = sup_restart_crashed(&p->policy, p->started_ms, now, (int)(rnd % 201) - 100);
	p->restarts++;
	if (sup_restart_throttled(&p->policy, now)) {
		log_crit("worker crashes in a loop; throttled", "proc=%s.%u crashes=%d window_s=%d hold_s=%d", name,
			 p->instance, THROTTLE_CRASHES, THROTTLE_WINDOW_MS / 1000, THROTTLE_HOLD_MS / 1000);
		schedule(p, PS_THROTTLED, delay);
		return;
	}
	log_info("worker respawn scheduled", "proc=%s.%u delay_ms=%lld", name, p->instance, (long long)delay);
	schedule(p, PS_BACKOFF, delay);
}

static void proc_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	(void)revents;
	ev_child_stop(loop, w);
	proc_exited(w->data, w->rstatus);
}

static void proc_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sup_proc *p = w->data;
	(void)loop;
	(void)revents;
	switch (p->state) {
	case PS_STARTING:
		log_err("worker did not report READY in time; killing it", "proc=%s.%u pid=%d",
			sup_role_name(p->role), p->instance, (int)p->pid);
		kill(p->pid, SIGKILL);
		break;
	case PS_BACKOFF:
	case PS_THROTTLED:
		sup_proc_spawn(p);
		break;
	case PS_RUNNING:	/* watchdog abort did not end it */
	case PS_STOPPING:
		if (p->pid)
			kill(p->pid, SIGKILL);
		break;
	default:
		break;
	}
}

void sup_proc_restart(struct sup_proc *p)
{
	sup_restart_clear(&p->policy);
	if (p->pid) {
		p->restart_now = 1;
		kill(p->pid, SIGTERM);
		p->state = PS_STOPPING;
		ev_timer_stop(env->loop, &p->timer);
		ev_timer_set(&p->timer, 5.0, 0);
		ev_timer_start(env->loop, &p->timer);
		return;
	}
	p->restarts++;
	sup_proc_spawn(p);
}

void sup_procs_stop(int fast)
{
	env->stopping = fast ? 2 : 1;
	for (unsigned i = 0; i < env->nprocs; i++) {
		struct sup_proc *p = &env->procs[i];
		ev_timer_stop(env->loop, &p->timer);
		if (!p->pid) {
			p->state = PS_STOPPED;
			continue;
		}
		p->state = PS_STOPPING;
		kill(p->pid, fast ? SIGKILL : SIGTERM);
		ev_timer_set(&p->timer, 5.0, 0);
		ev_timer_start(env->loop, &p->timer);
	}
	if (all_stopped())
		ev_break(env->loop, EVBREAK_ALL);
}

void sup_watchdog_tick(void)
{
	for (unsigned i = 0; i < env->nprocs; i++) {
		struct sup_proc *p = &env->procs[i];
		if (p->state != PS_RUNNING)
			continue;
		if (p->missed_pings >= WATCHDOG_MISSES) {
			log_crit("worker stopped answering the watchdog; aborting it", "proc=%s.%u pid=%d",
				 sup_role_name(p->role), p->instance, (int)p->pid);
			kill(p->pid, SIGABRT);
			p->missed_pings = 0;
			ev_timer_stop(env->loop, &p->timer);
			ev_timer_set(&p->timer, 1.0, 0);
			ev_timer_start(env->loop, &p->timer);
			continue;
		}
		uint8_t seq[8];
		p->ping_seq++;
		for (int b = 0; b < 8; b++)
			seq[b] = (uint8_t)(p->ping_seq >> (56 - 8 * b));
		if (chan_send(p->chan, CHAN_PING, seq, sizeof(seq), -1) == 0)
			p->missed_pings++;
	}
}

static void waiter_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sup_ctl_wait *w = t->data;
	(void)loop;
	(void)revents;
	if (w->client_fd >= 0)
		w->done(w->client_fd, NULL, 0);
	w->client_fd = -1;	/* stays queued until the worker's answer (or death) pops it */
}

int sup_proc_forward(struct sup_proc *p, const struct buf *req, int client_fd, sup_forward_fn done)
{
	if (p->state != PS_RUNNING || chan_send(p->chan, CHAN_CTL_REQ, req->data, req->len, -1) < 0)
		return -1;
	struct sup_ctl_wait *w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	w->client_fd = client_fd;
	w->done = done;
	ev_timer_init(&w->timer, waiter_timeout_cb, CTL_FORWARD_TIMEOUT, 0);
	w->timer.data = w;
	ev_timer_start(env->loop, &w->timer);
	struct sup_ctl_wait **tail = &p->waiters;
	while (*tail)
		tail = &(*tail)->next;
	*tail = w;
	return 0;
}
