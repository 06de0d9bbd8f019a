/* The control socket (<rundir>/control.sock): versioned requests from xmppctl, answered from
 * the worker table or forwarded to storage.0 (user del: to the router, which cleans up after the
 * account). Peers are checked with SO_PEERCRED. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"
#include "sto.h"
#include "sup.h"
#include "tlv.h"

#define CTL_MAX_ARGS 8
#define CTL_READ_TIMEOUT 5.0

struct ctl_client {
	int fd;
	ev_io io;
	ev_timer timer;
	struct buf in;
};

struct ctl_req {
	const char *cmd;
	const char *args[CTL_MAX_ARGS];
	unsigned nargs;
	char *secret;		/* borrowed from the frame, wiped with it */
};

void sup_control_reply(int fd, unsigned status, const char *text, const char *error)
{
	struct buf out;
	buf_init(&out);
	tlv_put_u32(&out, CTL_T_STATUS, status);
	if (text)
		tlv_put_str(&out, CTL_T_TEXT, text);
	if (error)
		tlv_put_str(&out, CTL_T_ERROR, error);
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	struct timeval tv = {2, 0};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (ctl_write_frame(fd, &out) < 0)
		log_warn("control reply not delivered", "err=\"%s\"", strerror(errno));
	buf_free(&out);
	close(fd);
}

static void cmd_status(int fd, const struct ctl_req *r)
{
	struct buf t;
	int64_t now = sup_now_ms();
	(void)r;
	buf_init(&t);
	buf_printf(&t, "%-8s %-4s %-8s %-12s %-9s %-8s %s\n", "ROLE", "N", "PID", "STATE", "UPTIME", "RESTARTS",
		   "THROTTLED");
	for (unsigned i = 0; i < env->nprocs; i++) {
		const struct sup_proc *p = &env->procs[i];
		long up = p->pid ? (long)((now - p->started_ms) / 1000) : 0;
		buf_printf(&t, "%-8s %-4u %-8d %-12s %-9ld %-8u %s\n", sup_role_name(p->role), p->instance,
			   (int)p->pid, sup_state_name(p->state), up, p->restarts,
			   sup_restart_throttled(&p->policy, now) ? "yes" : "no");
	}
	buf_put_u8(&t, 0);
	sup_control_reply(fd, 0, (char *)t.data, NULL);
	buf_free(&t);
}

static int role_parse(const char *s, enum sup_role *role, int *instance)
{
	const char *dot = strchr(s, '.');
	size_t n = dot ? (size_t)(dot - s) : strlen(s);
	*instance = -1;
	for (int r = 0; r < ROLE_MAX; r++) {
		if (strlen(sup_role_name((enum sup_role)r)) == n && strncmp(s, sup_role_name((enum sup_role)r), n) == 0) {
			*role = (enum sup_role)r;
			if (!dot)
				return 0;
			char *end;
			errno = 0;
			long v = strtol(dot + 1, &end, 10);
			if (errno || *end || end == dot + 1 || v < 0 || v >= MAX_WORKERS_PER_ROLE)
				return -1;
			*instance = (int)v;
			return 0;
		}
	}
	return -1;
}

static void cmd_worker(int fd, const struct ctl_req *r)
{
	enum sup_role role;
	int instance, n = 0;
	if (r->nargs != 2 || strcmp(r->args[0], "restart") != 0) {
		sup_control_reply(fd, 2, NULL, "usage: worker restart ROLE[.N]");
		return;
	}
	if (role_parse(r->args[1], &role, &instance) < 0) {
		sup_control_reply(fd, 2, NULL, "unknown worker; use c2s, http, router or storage, optionally .N");
		return;
	}
	for (unsigned i = 0; i < env->nprocs; i++) {
		struct sup_proc *p = &env->procs[i];
		if (p->role == role && (instance < 0 || p->instance == (unsigned)instance)) {
			sup_proc_restart(p);
			n++;
		}
	}
	if (!n) {
		sup_control_reply(fd, 1, NULL, "no such worker is configured");
		return;
	}
	char text[64];
	snprintf(text, sizeof(text), "restarting %d worker%s\n", n, n == 1 ? "" : "s");
	log_notice("worker restart requested", "worker=%s count=%d", r->args[1], n);
	sup_control_reply(fd, 0, text, NULL);
}

static const char *sto_reason(uint32_t st)
{
	static const char *const reasons[] = {
		[STO_OK] = "ok", [STO_ENOTFOUND] = "no such user", [STO_EEXISTS] = "user already exists",
		[STO_EAUTH] = "authentication failed", [STO_EINVAL] = "invalid request",
		[STO_EIO] = "storage I/O error", [STO_EUNAVAIL] = "storage unavailable",
	};
	return st < sizeof(reasons) / sizeof(reasons[0]) && reasons[st] ? reasons[st] : "storage error";
}

/* Storage's answer to a forwarded user command. */
static void user_done(int fd, const uint8_t *rep, size_t len)
{
	struct tlv t;
	struct rbuf rb;
	struct buf text;
	uint32_t status = STO_EIO;
	char reason[256] = "";
	int rc;

	if (!rep) {
		sup_control_reply(fd, 1, NULL, "the storage worker did not answer");
		return;
	}
	buf_init(&text);
	rbuf_init(&rb, rep, len);
	while ((rc = tlv_next(&rb, &t)) == 1) {
		if (t.tag == STO_T_STATUS)
			tlv_u32(&t, &status);
		else if (t.tag == STO_T_ERROR)
			tlv_str(&t, reason, sizeof(reason));
		else if (t.tag == STO_T_USER) {
			buf_put(&text, t.val, t.len);
			buf_put_u8(&text, '\n');
		}
	}
	buf_put_u8(&text, 0);
	if (rc < 0)
		sup_control_reply(fd, 1, NULL, "malformed answer from the storage worker");
	else if (status != STO_OK)
		sup_control_reply(fd, 1, NULL, reason[0] ? reason : sto_reason(status));
	else
		sup_control_reply(fd, 0, (char *)text.data, NULL);
	buf_free(&text);
}

/* The router's answer to user del: it deleted the account, closed its sessions and had every
 * module drop the user's data (the same path as an in-band XEP-0077 cancellation). */
static void userdel_done(int fd, const uint8_t *rep, size_t len)
{
	struct tlv t;
	struct rbuf rb;
	uint32_t status = STO_EIO, sessions = 0;
	char reason[256] = "", text[128];
	int rc;

	if (!rep) {
		sup_control_reply(fd, 1, NULL, "the router did not answer in time; the account may or may not be deleted");
		return;
	}
	rbuf_init(&rb, rep, len);
	while ((rc = tlv_next(&rb, &t)) == 1) {
		if (t.tag == STO_T_STATUS)
			tlv_u32(&t, &status);
		else if (t.tag == STO_T_ERROR)
			tlv_str(&t, reason, sizeof(reason));
		else if (t.tag == STO_T_COUNT)
			tlv_u32(&t, &sessions);
	}
	if (rc < 0 || len == 0) {
		sup_control_reply(fd, 1, NULL, "malformed answer from the router");
		return;
	}
	if (status != STO_OK) {
		sup_control_reply(fd, 1, NULL, reason[0] ? reason : sto_reason(status));
		return;
	}
	snprintf(text, sizeof(text), "user deleted; %u session%s closed, its data removed\n", sessions,
		 sessions == 1 ? "" : "s");
	sup_control_reply(fd, 0, text, NULL);
}

static int host_known(const char *host)
{
	return cfg_vhost_find(&env->cfg, host) != NULL;
}

static void cmd_user(int fd, const struct ctl_req *r)
{
	static const struct {
		const char *name;
		enum sto_op op;
		int needs_secret, arg_is_host;
	} ops[] = {
		{"add", STO_OP_ACCOUNT_CREATE, 1, 0}, {"passwd", STO_OP_ACCOUNT_PASSWD, 1, 0},
		{"del", STO_OP_ACCOUNT_DELETE, 0, 0}, {"list", STO_OP_ACCOUNT_LIST, 0, 1},
	};
	char local[1024], host[1024];
	size_t i;
	struct buf req;

	for (i = 0; r->nargs == 2 && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, r->args[0]) == 0)
			break;
	if (r->nargs != 2 || i == sizeof(ops) / sizeof(ops[0])) {
		sup_control_reply(fd, 2, NULL, "usage: user add|passwd|del JID, user list HOST");
		return;
	}
	const char *arg = r->args[1];
	if (ops[i].arg_is_host) {
		snprintf(host, sizeof(host), "%s", arg);
		local[0] = 0;
	} else {
		const char *at = strchr(arg, '@');
		if (!at || at == arg || !at[1] || strchr(at + 1, '/') || (size_t)(at - arg) >= sizeof(local) ||
		    strlen(at + 1) >= sizeof(host)) {
			sup_control_reply(fd, 2, NULL, "expected a bare JID like user@host");
			return;
		}
		memcpy(local, arg, (size_t)(at - arg));
		local[at - arg] = 0;
		snprintf(host, sizeof(host), "%s", at + 1);
	}
	if (!host_known(host)) {
		sup_control_reply(fd, 1, NULL, "unknown host (not a configured vhost)");
		return;
	}
	if (ops[i].needs_secret && (!r->secret || !r->secret[0])) {
		sup_control_reply(fd, 2, NULL, "a password is required");
		return;
	}
	buf_init(&req);
	tlv_put_u32(&req, STO_T_OP, ops[i].op);
	tlv_put_str(&req, STO_T_HOST, host);
	if (local[0])
		tlv_put_str(&req, STO_T_USER, local);
	if (ops[i].needs_secret)
		tlv_put_str(&req, STO_T_PASSWORD, r->secret);
	/* a deletion goes through the router: it closes the sessions and the modules drop the
	 * user's data; while the router is down nothing is deleted (the admin tries again) */
	int del = ops[i].op == STO_OP_ACCOUNT_DELETE;
	struct sup_proc *p = sup_proc_find(del ? ROLE_ROUTER : ROLE_STORAGE, 0);
	if (!p || sup_proc_forward(p, &req, fd, del ? userdel_done : user_done) < 0)
		sup_control_reply(fd, 1, NULL, del ? "the router is not running; nothing was deleted, try again when it is back"
						   : "the storage worker is not running");
	else
		log_notice("user command forwarded", "cmd=%s host=%s", ops[i].name, host);
	buf_wipe_free(&req);
}

static void cmd_reload(int fd, const struct ctl_req *r)
{
	char err[1024];
	(void)r;
	if (sup_reload(err, sizeof(err)) < 0)
		sup_control_reply(fd, 1, NULL, err);
	else
		sup_control_reply(fd, 0, "configuration reloaded\n", NULL);
}

static void cmd_stop(int fd, const struct ctl_req *r)
{
	(void)r;
	sup_control_reply(fd, 0, "stopping\n", NULL);
	log_notice("stop requested over the control socket", "");
	sup_procs_stop(0);
}

/* Whether <dir of this executable>/mods/mod_NAME.so exists: the router dlopens it from there. */
static int module_file_exists(const char *name)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	char *slash = n > 0 ? (path[n] = 0, strrchr(path, '/')) : NULL;
	struct stat st;
	if (!slash || (size_t)(slash - path) + strlen(name) + 16 > sizeof(path))
		return 0;
	snprintf(slash, sizeof(path) - (size_t)(slash - path), "/mods/mod_%s.so", name);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int module_name_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-");
	return n > 0 && n <= 48 && !s[n];
}

/* module list HOST | load NAME | unload NAME: changes every vhost's module list in the running
 * configuration (until the next reload) and restarts the router, whose restart no session
 * notices (the stream workers replay their sessions). */
static void cmd_module(int fd, const struct ctl_req *r)
{
	struct cfg *c = &env->cfg;
	int load = r->nargs == 2 && strcmp(r->args[0], "load") == 0;
	if (r->nargs == 2 && strcmp(r->args[0], "list") == 0) {
		struct buf t;
		buf_init(&t);
		for (size_t i = 0; i < c->nvhosts; i++)
			for (size_t m = 0; strcmp(c->vhosts[i].name, r->args[1]) == 0 && m < c->vhosts[i].nmodules; m++)
				buf_printf(&t, "%s%s\n", c->vhosts[i].modules[m],
					   module_file_exists(c->vhosts[i].modules[m]) ? "" : " (missing)");
		/* an internal component's modules (its own list; load/unload change the vhosts') */
		const struct cfg_component *k = cfg_component_find(c, r->args[1]);
		for (size_t m = 0; k && m < k->nmodules; m++)
			buf_printf(&t, "%s%s\n", k->modules[m], module_file_exists(k->modules[m]) ? "" : " (missing)");
		buf_put_u8(&t, 0);
		if (!host_known(r->args[1]) && !(k && k->nmodules))
			sup_control_reply(fd, 1, NULL, "no such vhost");
		else
			sup_control_reply(fd, 0, (char *)t.data, NULL);
		buf_free(&t);
		return;
	}
	if (r->nargs != 2 || (!load && strcmp(r->args[0], "unload") != 0) || !module_name_ok(r->args[1])) {
		sup_control_reply(fd, 2, NULL, "usage: module list HOST | module load NAME | module unload NAME");
		return;
	}
	if (load && !module_file_exists(r->args[1])) {
		sup_control_reply(fd, 1, NULL, "no such module");
		return;
	}
	int changed = 0;
	for (size_t i = 0; i < c->nvhosts; i++) {
		struct cfg_vhost *v = &c->vhosts[i];
		size_t m = 0;
		while (m < v->nmodules && strcmp(v->modules[m], r->args[1]) != 0)
			m++;
		if (load && m == v->nmodules) {
			char **nv = realloc(v->modules, (v->nmodules + 1) * sizeof(char *));
			if (!nv || !(nv[v->nmodules] = strdup(r->args[1]))) {
				if (nv)
					v->modules = nv;
				sup_control_reply(fd, 1, NULL, "out of memory");
				return;
			}
			v->modules = nv;
			v->nmodules++;
			changed++;
		} else if (!load && m < v->nmodules) {
			free(v->modules[m]);
			memmove(&v->modules[m], &v->modules[m + 1], (v->nmodules - m - 1) * sizeof(char *));
			v->nmodules--;
			changed++;
		}
	}
	if (!changed) {
		sup_control_reply(fd, 1, NULL, load ? "module already loaded" : "module not loaded");
		return;
	}
	for (unsigned i = 0; i < env->nprocs; i++)
		if (env->procs[i].role == ROLE_ROUTER)
			sup_proc_restart(&env->procs[i]);
	log_notice(load ? "module loaded by request" : "module unloaded by request", "module=%s vhosts=%d",
		   r->args[1], changed);
	sup_control_reply(fd, 0, load ? "module loaded; router restarting\n" : "module unloaded; router restarting\n",
			  NULL);
}

static const struct {
	const char *name;
	void (*fn)(int fd, const struct ctl_req *r);
} commands[] = {
	{"status", cmd_status}, {"worker", cmd_worker}, {"user", cmd_user},
	{"reload", cmd_reload}, {"stop", cmd_stop}, {"module", cmd_module},
};

static void client_free(struct ctl_client *c, int close_fd)
{
	ev_io_stop(env->loop, &c->io);
	ev_timer_stop(env->loop, &c->timer);
	if (close_fd)
		close(c->fd);
	buf_wipe_free(&c->in);
	free(c);
}

/* Parses one complete frame and runs it; the command owns the fd from then on. */
static void client_dispatch(struct ctl_client *c, const uint8_t *p, size_t len)
{
	struct ctl_req r = {0};
	struct rbuf rb;
	struct tlv t;
	uint32_t version = 0;
	int rc, fd = c->fd;
	char *strs[CTL_MAX_ARGS + 2] = {0};
	unsigned nstrs = 0;

	rbuf_init(&rb, p, len);
	while ((rc = tlv_next(&rb, &t)) == 1) {
		if (t.tag == CTL_T_VERSION) {
			if (tlv_u32(&t, &version) < 0)
				break;
		} else if (t.tag == CTL_T_CMD || t.tag == CTL_T_ARG || t.tag == CTL_T_SECRET) {
			if (nstrs == CTL_MAX_ARGS + 2 || (t.tag == CTL_T_ARG && r.nargs == CTL_MAX_ARGS)) {
				rc = -1;
				break;
			}
			char *s = tlv_strdup(&t);
			if (!s) {
				rc = -1;
				break;
			}
			strs[nstrs++] = s;
			if (t.tag == CTL_T_CMD)
				r.cmd = s;
			else if (t.tag == CTL_T_ARG)
				r.args[r.nargs++] = s;
			else
				r.secret = s;
		}
	}
	client_free(c, 0);
	if (rc < 0 || !r.cmd)
		sup_control_reply(fd, 2, NULL, "malformed control request");
	else if (version != CTL_VERSION)
		sup_control_reply(fd, 2, NULL, "unsupported control protocol version");
	else {
		size_t i;
		for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(commands[i].name, r.cmd) == 0)
				break;
		if (i == sizeof(commands) / sizeof(commands[0]))
			sup_control_reply(fd, 2, NULL, "unknown command");
		else
			commands[i].fn(fd, &r);
	}
	for (unsigned i = 0; i < nstrs; i++) {
		explicit_bzero(strs[i], strlen(strs[i]));
		free(strs[i]);
	}
}

static void client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_client *c = w->data;
	uint8_t chunk[4096];
	(void)loop;
	(void)revents;
	ssize_t n = read(c->fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_free(c, 1);
		return;
	}
	buf_put(&c->in, chunk, (size_t)n);
	explicit_bzero(chunk, sizeof(chunk));
	if (c->in.len < 4)
		return;
	struct rbuf rb;
	uint32_t flen;
	rbuf_init(&rb, c->in.data, c->in.len);
	rbuf_get_u32(&rb, &flen);
	if (flen > CTL_MAX_FRAME) {
		int fd = c->fd;
		client_free(c, 0);
		sup_control_reply(fd, 2, NULL, "control frame too large");
		return;
	}
	if (c->in.len < 4 + (size_t)flen)
		return;
	if (c->in.len > 4 + (size_t)flen) {
		client_free(c, 1);	/* one request per connection */
		return;
	}
	struct buf frame;
	buf_init(&frame);
	buf_put(&frame, c->in.data + 4, flen);
	client_dispatch(c, frame.data, frame.len);
	buf_wipe_free(&frame);
}

static void client_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	client_free(w->data, 1);
}

static void control_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	(void)revents;
	int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		log_warn("control connection refused", "uid=%d", (int)cred.uid);
		close(fd);
		return;
	}
	struct ctl_client *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	buf_init(&c->in);
	ev_io_init(&c->io, client_read_cb, fd, EV_READ);
	c->io.data = c;
	ev_io_start(loop, &c->io);
	ev_timer_init(&c->timer, client_timeout_cb, CTL_READ_TIMEOUT, 0);
	c->timer.data = c;
	ev_timer_start(loop, &c->timer);
}

int sup_control_open(char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int n = snprintf(env->control_path, sizeof(env->control_path), "%s/control.sock", env->cfg.rundir);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s/control.sock", env->cfg.rundir);
		return -1;
	}
	memcpy(sun.sun_path, env->control_path, (size_t)n + 1);
	/* A socket that still answers belongs to a running server: never take it over. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		snprintf(err, errlen, "another xmppd is running with control socket %s", env->control_path);
		close(fd);
		return -1;
	}
	if (fd >= 0)
		close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	unlink(env->control_path);
	mode_t old = umask(0117);
	int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || listen(fd, 16) < 0) {
		snprintf(err, errlen, "cannot open control socket %s: %s", env->control_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	env->control_fd = fd;
	ev_io_init(&env->control_w, control_accept_cb, fd, EV_READ);
	ev_io_start(env->loop, &env->control_w);
	return 0;
}

void sup_control_close(void)
{
	if (env->control_fd >= 0) {
		ev_io_stop(env->loop, &env->control_w);
		close(env->control_fd);
		unlink(env->control_path);
		env->control_fd = -1;
	}
}
