/* xmppd-c2s: client streams on 5222 (STARTTLS) and 5223 (direct TLS), components on 5347. Boots from the supervisor,
 * loads its TLS contexts from memory, sandboxes itself, then dials the router and serves. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "c2s.h"
#include "ctl.h"
#include "log.h"
#include "slice.h"
#include "tlv.h"
#include "xlimits.h"

#define C2S_STOP_GRACE 1.0	/* seconds streams get to take their last bytes on SIGTERM */

struct c2s_env *env;

static void listeners_start(void)
{
	for (unsigned i = 0; i < env->boot.nlisteners; i++) {
		const struct wrk_listener *l = &env->boot.listeners[i];
		int tls = strcmp(l->kind, "c2s-tls") == 0, comp = strcmp(l->kind, "component") == 0;
		if (!tls && !comp && strcmp(l->kind, "c2s") != 0) {
			log_warn("listener kind not served by c2s yet, ignored", "kind=%s", l->kind);
			close(l->fd);
			continue;
		}
		int fl = fcntl(l->fd, F_GETFL);
		if (fl < 0 || fcntl(l->fd, F_SETFL, fl | O_NONBLOCK) < 0)
			fatal("listener not usable", "kind=%s errno=%d", l->kind, errno);
		env->ltls[env->nlisteners] = tls;
		env->lcomp[env->nlisteners] = comp;
		ev_io_init(&env->lio[env->nlisteners], c2s_accept_cb, l->fd, EV_READ);
		ev_io_start(env->loop, &env->lio[env->nlisteners]);
		env->nlisteners++;
	}
	if (env->nlisteners == 0)
		log_warn("no c2s listener received", "");
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	c2s_lim_sweep();
}

static void stop_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	if (env->nconns > 0 && ev_now(loop) < *(double *)w->data)
		return;
	log_info("stopped", "left=%zu", env->nconns);
	link_close(env->link);
	exit(0);
}

static void c2s_stop(void *arg)
{
	(void)arg;
	static ev_timer tick;	/* lives until exit */
	static double deadline;
	log_info("stopping, closing every stream", "streams=%zu", env->nconns);
	ev_timer_stop(env->loop, &env->accept_pause);
	for (unsigned i = 0; i < env->nlisteners; i++) {
		ev_io_stop(env->loop, &env->lio[i]);
		close(env->lio[i].fd);
	}
	env->nlisteners = 0;
	struct c2s_conn *c = env->conns, *next;
	for (; c; c = next) {
		next = c->next;
		if (!c->closing)
			c2s_stream_error(c, "system-shutdown");
	}
	deadline = ev_now(env->loop) + C2S_STOP_GRACE;
	ev_timer_init(&tick, stop_tick, 0., 0.05);
	tick.data = &deadline;
	ev_timer_start(env->loop, &tick);
}

static void c2s_ctl(void *arg, const uint8_t *req, size_t len, struct buf *reply)
{
	(void)arg, (void)req, (void)len;
	char text[256];
	int n = snprintf(text, sizeof(text),
			 "c2s.%u streams=%zu unknown_sid=%llu bad_envelope=%llu stale_auth=%llu\n",
			 env->boot.instance, env->nconns, (unsigned long long)env->cnt.unknown_sid,
			 (unsigned long long)env->cnt.bad_envelope,
			 (unsigned long long)env->cnt.stale_auth);
	if (n < 0 || (size_t)n >= sizeof(text))
		n = 0;
	(void)tlv_put_u32(reply, CTL_T_STATUS, 0);
	(void)tlv_put(reply, CTL_T_TEXT, text, (size_t)n);
}

int main(void)
{
	static struct c2s_env e;	/* the process env, pointed to by env */
	env = &e;
	c2s_env_defaults(env);
	wrk_boot_read(&env->boot);
	env->loop = ev_default_loop(EVFLAG_AUTO);
	if (!env->loop)
		fatal("no event loop", "");
	c2s_slice_read(env->boot.slice.data, env->boot.slice.len, c2s_tls_ctx_new);
	buf_wipe_free(&env->boot.slice);	/* it held private keys */
	uint8_t seed[16];
	if (RAND_bytes(seed, sizeof(seed)) != 1)	/* the DRBG is ready before the sandbox */
		fatal("no randomness", "");
	wrk_sandbox(&env->boot);
	if (c2s_rl_start() < 0)
		fatal("cannot dial the router", "errno=%d", errno);
	wrk_chan_start(env->loop, c2s_ctl, NULL, NULL);
	wrk_signals(env->loop, c2s_stop, NULL);
	listeners_start();
	ev_timer_init(&env->sweep, sweep_cb, C2S_SWEEP_INTERVAL, C2S_SWEEP_INTERVAL);
	ev_timer_start(env->loop, &env->sweep);
	wrk_ready();
	log_info("c2s ready", "instance=%u vhosts=%zu listeners=%u", env->boot.instance, env->nvhosts,
		 env->nlisteners);
	ev_run(env->loop, 0);
	return 0;
}
