/* xmppd-http: the web worker on the http (plain) and https (TLS) listeners. Boots from the
 * supervisor, builds its TLS contexts and reads the static web client into memory, sandboxes
 * itself, then serves HTTP/1.1, WebSocket and BOSH. It never sees secrets beyond its certificates. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bosh.h"
#include "c2s.h"
#include "ctl.h"
#include "http.h"
#include "log.h"
#include "tlv.h"

#define HTTP_STOP_GRACE 1.0	/* seconds connections get to take their last bytes on SIGTERM */

struct http_env *henv;
struct c2s_env *env;	/* the stream engine's part of this worker (WebSocket and BOSH sessions) */

/* A new slice from `xmppctl reload` / SIGHUP: certificates, trusted proxies and limits change
 * for new connections; a slice that does not load leaves everything as it was. */
static void http_reload(void *arg, const uint8_t *req, size_t len, struct buf *reply)
{
	(void)arg, (void)reply;
	struct http_conf next;
	char why[160];
	if (http_conf_read(req, len, &next, why, sizeof(why)) < 0) {
		log_err("reload refused, the old configuration stays", "reason=\"%s\"", why);
		return;
	}
	http_conf_apply(&next);
	log_notice("configuration reloaded", "vhosts=%zu proxies=%zu", henv->conf.nvhosts, henv->conf.nproxies);
}

static void listeners_start(void)
{
	for (unsigned i = 0; i < henv->boot.nlisteners; i++) {
		const struct wrk_listener *l = &henv->boot.listeners[i];
		int tls = strcmp(l->kind, "https") == 0;
		if (!tls && strcmp(l->kind, "http") != 0) {
			log_warn("listener kind not served by http, ignored", "kind=%s", l->kind);
			close(l->fd);
			continue;
		}
		int has_cert = 0;
		for (size_t k = 0; k < henv->conf.nvhosts; k++)
			has_cert |= henv->conf.vhosts[k].tls != NULL;
		if (tls && !has_cert) {
			log_err("https listener without any certificate, not served", "");
			close(l->fd);
			continue;
		}
		int fl = fcntl(l->fd, F_GETFL);
		if (fl < 0 || fcntl(l->fd, F_SETFL, fl | O_NONBLOCK) < 0)
			fatal("listener not usable", "kind=%s errno=%d", l->kind, errno);
		struct http_listener *hl = &henv->listeners[henv->nlisteners++];
		hl->tls = tls;
		ev_io_init(&hl->io, http_accept_cb, l->fd, EV_READ);
		ev_io_start(henv->loop, &hl->io);
	}
}

static void stop_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	if (henv->nconns > 0 && ev_now(loop) < *(double *)w->data)
		return;
	log_info("stopped", "left=%u", henv->nconns);
	http_conn_close_all();
	exit(0);
}

static void http_stop(void *arg)
{
	(void)arg;
	static ev_timer tick;	/* lives until exit */
	static double deadline;
	henv->stopping = 1;
	bosh_sess_shutdown();	/* held requests get the sessions' terminate answers */
	for (unsigned i = 0; i < henv->nlisteners; i++) {
		ev_io_stop(henv->loop, &henv->listeners[i].io);
		close(henv->listeners[i].io.fd);
	}
	henv->nlisteners = 0;
	for (struct http_conn *c = henv->conns; c; c = c->next) {
		if (c->mode == HTTP_MODE_WS && !c->closing)
			http_ws_shutdown(c);
		else if (c->mode == HTTP_MODE_HTTP && c->in.len == 0 && c->out.len == 0)
			http_conn_close_after_flush(c);	/* idle keep-alive: nothing to lose */
		else
			continue;
		http_conn_wake(c);
	}
	deadline = ev_now(henv->loop) + HTTP_STOP_GRACE;
	ev_timer_init(&tick, stop_tick, 0., 0.05);
	tick.data = &deadline;
	ev_timer_start(henv->loop, &tick);
}

static void http_ctl(void *arg, const uint8_t *req, size_t len, struct buf *reply)
{
	(void)arg, (void)req, (void)len;
	char text[256];
	int n = snprintf(text, sizeof(text),
			 "http.%u connections=%u files=%zu streams=%zu bosh_sessions=%zu unknown_sid=%llu\n",
			 henv->boot.instance, henv->nconns, henv->nfiles, env->nconns, bosh_sess_count(),
			 (unsigned long long)env->cnt.unknown_sid);
	if (n < 0 || (size_t)n >= sizeof(text))
		n = 0;
	(void)tlv_put_u32(reply, CTL_T_STATUS, 0);
	(void)tlv_put(reply, CTL_T_TEXT, text, (size_t)n);
}

int main(void)
{
	static struct http_env e;	/* the http env, pointed to by henv */
	static struct c2s_env se;	/* the stream engine's env, pointed to by env */
	struct http_conf conf;
	char why[160];
	henv = &e;
	env = &se;
	c2s_env_defaults(env);
	wrk_boot_read(&henv->boot);
	henv->loop = ev_default_loop(EVFLAG_AUTO);
	if (!henv->loop)
		fatal("no event loop", "");
	env->loop = henv->loop;
	env->boot = henv->boot;		/* role and instance name the router link */
	buf_init(&env->boot.slice);
	c2s_slice_read(henv->boot.slice.data, henv->boot.slice.len, NULL);
	if (http_conf_read(henv->boot.slice.data, henv->boot.slice.len, &conf, why, sizeof(why)) < 0)
		fatal_config("bad configuration slice", "reason=\"%s\"", why);
	http_conf_apply(&conf);
	buf_wipe_free(&henv->boot.slice);	/* it held private keys */
	if (henv->conf.webroot && http_web_load(henv->conf.webroot) < 0)
		fatal_config("cannot load the web root", "path=\"%s\"", henv->conf.webroot);
	uint8_t seed[16];
	if (RAND_bytes(seed, sizeof(seed)) != 1)	/* the DRBG is ready before the sandbox */
		fatal("no randomness", "");
	wrk_sandbox(&henv->boot);
	http_wsx_start();
	wrk_chan_start(henv->loop, http_ctl, http_reload, NULL);
	wrk_signals(henv->loop, http_stop, NULL);
	listeners_start();
	wrk_ready();
	log_info("http ready", "instance=%u vhosts=%zu listeners=%u files=%zu proxies=%zu",
		 henv->boot.instance, henv->conf.nvhosts, henv->nlisteners, henv->nfiles, henv->conf.nproxies);
	ev_run(henv->loop, 0);
	return 0;
}
