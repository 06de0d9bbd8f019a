/* xmppd-http: the web worker on the http (plain) and https (TLS) listeners. Boots from the
 * supervisor, builds its TLS contexts and reads the static web client into memory, sandboxes
 * itself, then serves HTTP/1.1, WebSocket and BOSH. It never sees secrets beyond its certificates. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "http.h"
#include "log.h"
#include "slice.h"
#include "tlv.h"
#include "xlimits.h"

#define HTTP_STOP_GRACE 1.0	/* seconds connections get to take their last bytes on SIGTERM */

struct http_env *env;

struct vhost_pem {
	const uint8_t *cert, *key;
	size_t cert_len, key_len;
};

static struct http_vhost *vhost_add(const struct tlv *t)
{
	if (env->nvhosts >= MAX_VHOSTS)
		fatal_config("too many virtual hosts", "");
	struct http_vhost *v = realloc(env->vhosts, (env->nvhosts + 1) * sizeof(*v));
	if (!v)
		fatal("out of memory", "");
	env->vhosts = v;
	v = &env->vhosts[env->nvhosts++];
	memset(v, 0, sizeof(*v));
	if (!(v->name = tlv_strdup(t)) || !v->name[0])
		fatal_config("bad virtual host name in slice", "");
	return v;
}

static void vhost_tls(struct http_vhost *v, const struct vhost_pem *p)
{
	if (!v || !p->cert)
		return;
	v->tls = http_tls_ctx_new(p->cert, p->cert_len, p->key, p->key_len);
	if (!v->tls)
		fatal_config("cannot load the certificate of a virtual host", "vhost=%s", v->name);
}

static void proxy_add(const struct tlv *t)
{
	char s[64];
	if (env->nproxies >= HTTP_MAX_TRUSTED_PROXIES || tlv_str(t, s, sizeof(s)) < 0 ||
	    http_cidr_parse(s, &env->proxies[env->nproxies]) < 0)
		fatal_config("bad trusted proxy in slice", "");
	env->nproxies++;
}

/* Reads the slice; returns the web root (malloc'd) or NULL. */
static char *slice_read(void)
{
	struct rbuf r;
	struct tlv t;
	struct http_vhost *cur = NULL;
	struct vhost_pem pem = {0};
	uint64_t v64;
	uint32_t v32;
	char *webroot = NULL;
	int rc;
	rbuf_init(&r, env->boot.slice.data, env->boot.slice.len);
	while ((rc = tlv_next(&r, &t)) == 1) {
		switch (t.tag) {
		case SL_STANZA_SIZE:
			if (tlv_u64(&t, &v64) < 0 || v64 < 1024 || v64 > XE_MAX_BODY)
				fatal_config("bad stanza size in slice", "");
			env->body_max = (size_t)v64;
			break;
		case SL_VHOST:
			vhost_tls(cur, &pem);
			cur = vhost_add(&t);
			memset(&pem, 0, sizeof(pem));
			break;
		case SL_VHOST_CERT:
			pem.cert = t.val;
			pem.cert_len = t.len;
			break;
		case SL_VHOST_KEY:
			pem.key = t.val;
			pem.key_len = t.len;
			break;
		case SL_COMPONENT:
			vhost_tls(cur, &pem);
			cur = NULL;
			memset(&pem, 0, sizeof(pem));
			break;
		case SL_CONN_PER_IP:
			if (tlv_u32(&t, &v32) < 0 || v32 == 0)
				fatal_config("bad conn-per-ip in slice", "");
			env->conn_per_ip = v32;
			break;
		case SL_HTTP_TRUSTED_PROXY:
			proxy_add(&t);
			break;
		case SL_HTTP_WEBROOT:
			free(webroot);
			if (!(webroot = tlv_strdup(&t)))
				fatal_config("bad web root in slice", "");
			break;
		default:
			break;
		}
	}
	if (rc < 0)
		fatal_config("malformed configuration slice", "");
	vhost_tls(cur, &pem);
	if (env->nvhosts == 0)
		fatal_config("no virtual host in the http slice", "");
	return webroot;
}

static void listeners_start(void)
{
	for (unsigned i = 0; i < env->boot.nlisteners; i++) {
		const struct wrk_listener *l = &env->boot.listeners[i];
		int tls = strcmp(l->kind, "https") == 0;
		if (!tls && strcmp(l->kind, "http") != 0) {
			log_warn("listener kind not served by http, ignored", "kind=%s", l->kind);
			close(l->fd);
			continue;
		}
		int has_cert = 0;
		for (size_t k = 0; k < env->nvhosts; k++)
			has_cert |= env->vhosts[k].tls != NULL;
		if (tls && !has_cert) {
			log_err("https listener without any certificate, not served", "");
			close(l->fd);
			continue;
		}
		int fl = fcntl(l->fd, F_GETFL);
		if (fl < 0 || fcntl(l->fd, F_SETFL, fl | O_NONBLOCK) < 0)
			fatal("listener not usable", "kind=%s errno=%d", l->kind, errno);
		struct http_listener *hl = &env->listeners[env->nlisteners++];
		hl->tls = tls;
		ev_io_init(&hl->io, http_accept_cb, l->fd, EV_READ);
		ev_io_start(env->loop, &hl->io);
	}
}

static void stop_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	if (env->nconns > 0 && ev_now(loop) < *(double *)w->data)
		return;
	log_info("stopped", "left=%u", env->nconns);
	http_conn_close_all();
	exit(0);
}

static void http_stop(void *arg)
{
	(void)arg;
	static ev_timer tick;	/* lives until exit */
	static double deadline;
	env->stopping = 1;
	for (unsigned i = 0; i < env->nlisteners; i++) {
		ev_io_stop(env->loop, &env->listeners[i].io);
		close(env->listeners[i].io.fd);
	}
	env->nlisteners = 0;
	for (struct http_conn *c = env->conns; c; c = c->next) {
		if (c->mode == HTTP_MODE_WS && !c->closing)
			http_ws_shutdown(c);
		else if (c->mode == HTTP_MODE_HTTP && c->in.len == 0 && c->out.len == 0)
			http_conn_close_after_flush(c);	/* idle keep-alive: nothing to lose */
		else
			continue;
		http_conn_wake(c);
	}
	deadline = ev_now(env->loop) + HTTP_STOP_GRACE;
	ev_timer_init(&tick, stop_tick, 0., 0.05);
	tick.data = &deadline;
	ev_timer_start(env->loop, &tick);
}

static void http_ctl(void *arg, const uint8_t *req, size_t len, struct buf *reply)
{
	(void)arg, (void)req, (void)len;
	char text[160];
	int n = snprintf(text, sizeof(text), "http.%u connections=%u files=%zu\n", env->boot.instance,
			 env->nconns, env->nfiles);
	if (n < 0 || (size_t)n >= sizeof(text))
		n = 0;
	(void)tlv_put_u32(reply, CTL_T_STATUS, 0);
	(void)tlv_put(reply, CTL_T_TEXT, text, (size_t)n);
}

int main(void)
{
	static struct http_env e;	/* the process env, pointed to by env */
	env = &e;
	env->body_max = STANZA_SIZE_DEFAULT;
	env->conn_per_ip = CONN_PER_IP_DEFAULT;
	wrk_boot_read(&env->boot);
	env->loop = ev_default_loop(EVFLAG_AUTO);
	if (!env->loop)
		fatal("no event loop", "");
	char *webroot = slice_read();
	buf_wipe_free(&env->boot.slice);	/* it held private keys */
	if (webroot && http_web_load(webroot) < 0)
		fatal_config("cannot load the web root", "path=\"%s\"", webroot);
	free(webroot);
	uint8_t seed[16];
	if (RAND_bytes(seed, sizeof(seed)) != 1)	/* the DRBG is ready before the sandbox */
		fatal("no randomness", "");
	wrk_sandbox(&env->boot);
	wrk_chan_start(env->loop, http_ctl, NULL, NULL);
	wrk_signals(env->loop, http_stop, NULL);
	listeners_start();
	wrk_ready();
	log_info("http ready", "instance=%u vhosts=%zu listeners=%u files=%zu proxies=%zu",
		 env->boot.instance, env->nvhosts, env->nlisteners, env->nfiles, env->nproxies);
	ev_run(env->loop, 0);
	return 0;
}
