/* xmppd, the supervisor: reads the configuration, prepares users and directories, opens the
 * listeners, spawns and watches the sandboxed workers, serves the control socket.
 * It is the only privileged process and never touches network input or user data. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "sup.h"
#include "users.h"

struct sup_env *env;

static void usage(void)
{
	fprintf(stderr, "usage: xmppd [-n] [-f FILE]\n"
			"  -f FILE  configuration file (default: etc/xmppd.conf beside the build directory)\n"
			"  -n       check the configuration and exit\n");
	exit(2);
}

static void find_bindir(void)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		fatal("cannot find own executable", "err=\"%s\"", strerror(errno));
	self[n] = 0;
	snprintf(env->bindir, sizeof(env->bindir), "%s", dirname(self));
}

static int same_slices(enum sup_role role, struct buf *before)
{
	char err[256];
	struct buf after;
	struct sup_proc *p = sup_proc_find(role, 0);
	if (!p)
		return 1;
	buf_init(&after);
	int same = sup_slice_build(p, &after, err, sizeof(err)) == 0 && after.len == before->len &&
		   memcmp(after.data, before->data, after.len) == 0;
	buf_wipe_free(&after);
	return same;
}

int sup_reload(char *err, size_t errlen)
{
	struct cfg next;
	struct buf before[ROLE_MAX];
	char e[256];

	if (cfg_load(env->config_path, &next, err, errlen) < 0) {
		log_err("reload failed; the old configuration stays in force", "reason=\"%s\"", err);
		return -1;
	}
	for (int r = 0; r < ROLE_MAX; r++) {
		buf_init(&before[r]);
		struct sup_proc *p = sup_proc_find((enum sup_role)r, 0);
		if (p)
			sup_slice_build(p, &before[r], e, sizeof(e));
	}
	if (next.nlistens != env->cfg.nlistens || next.workers_c2s != env->cfg.workers_c2s ||
	    next.workers_http != env->cfg.workers_http || next.workers_storage != env->cfg.workers_storage ||
	    strcmp(next.rundir, env->cfg.rundir) != 0)
		log_warn("listeners, worker counts and rundir change only on restart", "");
	struct cfg old = env->cfg;
	env->cfg = next;
	/* what must stay as started */
	env->cfg.workers_c2s = old.workers_c2s;
	env->cfg.workers_http = old.workers_http;
	env->cfg.workers_storage = old.workers_storage;
	free(env->cfg.rundir);
	env->cfg.rundir = strdup(old.rundir);
	log_set_level(env->cfg.loglevel);
	for (unsigned i = 0; i < env->nprocs; i++) {
		struct sup_proc *p = &env->procs[i];
		if (p->state == PS_CONFIG) {
			sup_proc_spawn(p);
		} else if (p->state == PS_RUNNING && (p->role == ROLE_ROUTER || p->role == ROLE_STORAGE) &&
			   !same_slices(p->role, &before[p->role])) {
			sup_proc_restart(p);	/* router and storage restarts are invisible */
		} else if (p->state == PS_RUNNING) {
			struct buf s;
			buf_init(&s);
			if (sup_slice_build(p, &s, e, sizeof(e)) == 0)
				chan_send(p->chan, CHAN_RELOAD, s.data, s.len, -1);
			buf_wipe_free(&s);
		}
	}
	for (int r = 0; r < ROLE_MAX; r++)
		buf_wipe_free(&before[r]);
	cfg_free(&old);
	log_notice("configuration reloaded", "file=\"%s\"", env->config_path);
	return 0;
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	char err[1024];
	(void)loop;
	(void)revents;
	switch (w->signum) {
	case SIGTERM:
		log_notice("stopping (SIGTERM)", "");
		sup_procs_stop(0);
		break;
	case SIGINT:
		log_notice("stopping fast (SIGINT)", "");
		sup_procs_stop(1);
		break;
	case SIGHUP:
		sup_reload(err, sizeof(err));
		break;
	default:
		break;
	}
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	sup_watchdog_tick();
}

static void start_signals(void)
{
	ev_signal *sigs[] = {&env->sig_term, &env->sig_int, &env->sig_hup};
	int nums[] = {SIGTERM, SIGINT, SIGHUP};
	for (int i = 0; i < 3; i++) {
		ev_signal_init(sigs[i], signal_cb, nums[i]);
		ev_signal_start(env->loop, sigs[i]);
	}
	signal(SIGPIPE, SIG_IGN);
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t want = 65536;
		if (geteuid() == 0 && rl.rlim_max < want)
			rl.rlim_max = want;
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	static struct sup_env the_env;
	char err[1024], defpath[4200];
	int check = 0, c;

	env = &the_env;
	env->control_fd = -1;
	find_bindir();
	snprintf(defpath, sizeof(defpath), "%s/../etc/xmppd.conf", env->bindir);
	env->config_path = defpath;
	while ((c = getopt(argc, argv, "nf:h")) != -1) {
		switch (c) {
		case 'n': check = 1; break;
		case 'f': env->config_path = optarg; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (cfg_load(env->config_path, &env->cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "xmppd: %s\n", err);
		return 1;
	}
	if (check) {
		printf("xmppd: configuration %s is valid\n", env->config_path);
		cfg_free(&env->cfg);
		return 0;
	}
	log_init(env->cfg.loglevel);
	env->unpriv = geteuid() != 0;
	if (!env->unpriv && sup_users_ensure(err, sizeof(err)) < 0)
		fatal("cannot create the worker users", "reason=\"%s\"", err);
	if (sup_dirs_prepare(env->cfg.rundir, env->cfg.datadir, env->unpriv, err, sizeof(err)) < 0)
		fatal("cannot prepare directories", "reason=\"%s\"", err);
	raise_nofile();
	env->loop = ev_default_loop(EVFLAG_AUTO);
	if (sup_listeners_open(err, sizeof(err)) < 0)
		fatal("cannot open listeners", "reason=\"%s\"", err);
	if (sup_control_open(err, sizeof(err)) < 0)
		fatal("cannot open the control socket", "reason=\"%s\"", err);
	if (sup_procs_build() < 0)
		fatal("out of memory", "");
	start_signals();
	log_notice("xmppd starting", "config=\"%s\" unprivileged=%d control=\"%s\"", env->config_path,
		   env->unpriv, env->control_path);
	sup_procs_start();
	ev_timer_init(&env->watchdog, watchdog_cb, WATCHDOG_INTERVAL_MS / 1000.0, WATCHDOG_INTERVAL_MS / 1000.0);
	ev_timer_start(env->loop, &env->watchdog);
	ev_run(env->loop, 0);
	sup_control_close();
	log_notice("xmppd stopped", "");
	cfg_free(&env->cfg);
	return 0;
}
