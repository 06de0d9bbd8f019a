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

struct vhost_pem {
	const uint8_t *cert, *key;
	size_t cert_len, key_len;
};

static struct c2s_vhost *vhost_add(const struct tlv *t)
{
	if (env->nvhosts >= MAX_VHOSTS)
		fatal_config("too many virtual hosts", "");
	struct c2s_vhost *v = realloc(env->vhosts, (env->nvhosts + 1) * sizeof(*v));
	if (!v)
		fatal("out of memory", "");
	env->vhosts = v;
	v = &env->vhosts[env->nvhosts++];
	memset(v, 0, sizeof(*v));
	v->require_tls = 1;
	if (!(v->name = tlv_strdup(t)) || !v->name[0])
		fatal_config("bad virtual host name in slice", "");
	return v;
}

static void component_add(const struct tlv *t)
{
	if (env->ncomponents >= MAX_VHOSTS)
		fatal_config("too many components", "");
	struct c2s_component *k = realloc(env->components, (env->ncomponents + 1) * sizeof(*k));
	if (!k)
		fatal("out of memory", "");
	env->components = k;
	k = &env->components[env->ncomponents++];
	memset(k, 0, sizeof(*k));
	if (!(k->name = tlv_strdup(t)) || !k->name[0])
		fatal_config("bad component name in slice", "");
}

static void vhost_tls(struct c2s_vhost *v, const struct vhost_pem *p)
{
	if (!p->cert)
		return;
	v->tls = c2s_tls_ctx_new(p->cert, p->cert_len, p->key, p->key_len);
	if (!v->tls)
		fatal_config("cannot load the certificate of a virtual host", "vhost=%s", v->name);
}

static void slice_read(void)
{
	struct rbuf r;
	struct tlv t;
	struct c2s_vhost *cur = NULL;
	struct vhost_pem pem = {0};
	uint32_t v32;
	uint64_t v64;
	int rc;
	rbuf_init(&r, env->boot.slice.data, env->boot.slice.len);
	while ((rc = tlv_next(&r, &t)) == 1) {
		switch (t.tag) {
		case SL_STANZA_SIZE:
			if (tlv_u64(&t, &v64) < 0 || v64 < 1024 || v64 > XE_MAX_BODY)
				fatal_config("bad stanza size in slice", "");
			env->stanza_size = (size_t)v64;
			break;
		case SL_UNAUTH_TIMEOUT:
			if (tlv_u32(&t, &v32) < 0 || v32 == 0)
				fatal_config("bad unauthenticated timeout in slice", "");
			env->unauth_timeout = v32;
			break;
		case SL_VHOST:
			if (cur)
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
		case SL_VHOST_REQUIRE_TLS:
			if (!cur || tlv_u32(&t, &v32) < 0)
				fatal_config("bad require-tls in slice", "");
			cur->require_tls = v32 != 0;
			break;
		case SL_COMPONENT:
			if (cur)
				vhost_tls(cur, &pem);
			cur = NULL;
			memset(&pem, 0, sizeof(pem));
			component_add(&t);
			break;
		case SL_COMPONENT_SECRET:
			if (env->ncomponents == 0 || env->components[env->ncomponents - 1].secret ||
			    !(env->components[env->ncomponents - 1].secret = tlv_strdup(&t)))
				fatal_config("bad component secret in slice", "");
			break;
		case SL_VHOST_ANONYMOUS:
		case SL_VHOST_CONFLICT:
		case SL_VHOST_REGISTRATION:
			if (!cur || tlv_u32(&t, &v32) < 0)
				fatal_config("bad virtual host setting in slice", "tag=%u", t.tag);
			if (t.tag == SL_VHOST_ANONYMOUS)
				cur->anonymous = v32 != 0;
			else if (t.tag == SL_VHOST_REGISTRATION)
				cur->registration = v32 != 0;
			else
				cur->refuse_conflict = v32 == 1;
			break;
		case SL_C2S_DEPTH:
		case SL_C2S_ATTRS:
		case SL_C2S_PING:
		case SL_C2S_REGS_PER_IP:
		case SL_CONN_PER_IP:
			if (tlv_u32(&t, &v32) < 0)
				fatal_config("bad limit in slice", "tag=%u", t.tag);
			if (v32 == 0 && t.tag != SL_CONN_PER_IP)
				break;	/* the default */
			if (t.tag == SL_C2S_DEPTH)
				env->max_depth = v32;
			else if (t.tag == SL_C2S_ATTRS)
				env->max_attrs = v32;
			else if (t.tag == SL_C2S_PING)
				env->ping_interval = v32;
			else if (t.tag == SL_C2S_REGS_PER_IP)
				env->regs_per_ip = v32;
			else
				env->conn_per_ip = v32;
			break;
		case SL_C2S_OUTBUF:
		case SL_C2S_RATE:
			if (tlv_u64(&t, &v64) < 0)
				fatal_config("bad limit in slice", "tag=%u", t.tag);
			if (t.tag == SL_C2S_RATE)
				env->rate = v64;
			else if (v64 > 0)
				env->out_max = (size_t)v64;
			break;
		default:
			break;
		}
	}
	if (rc < 0)
		fatal_config("malformed configuration slice", "");
	if (cur)
		vhost_tls(cur, &pem);
	if (env->nvhosts == 0)
		fatal_config("no virtual host in the c2s slice", "");
	for (size_t i = 0; i < env->nvhosts; i++)
		if (env->vhosts[i].require_tls && !env->vhosts[i].tls)
			log_warn("TLS required but no certificate: no client can log in", "vhost=%s",
				 env->vhosts[i].name);
}

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
	env->stanza_size = STANZA_SIZE_DEFAULT;
	env->unauth_timeout = UNAUTH_TIMEOUT_DEFAULT;
	env->out_max = C2S_OUT_MAX;
	env->ping_interval = C2S_PING_DEFAULT;
	env->conn_per_ip = CONN_PER_IP_DEFAULT;
	env->regs_per_ip = REGS_PER_IP_DEFAULT;
	wrk_boot_read(&env->boot);
	env->loop = ev_default_loop(EVFLAG_AUTO);
	if (!env->loop)
		fatal("no event loop", "");
	slice_read();
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
