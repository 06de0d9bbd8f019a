/* Worker life around its role: boot messages on fd 3, sandbox, watchdog PONGs, control
 * forwards, READY. A worker never outlives its supervisor: EOF on fd 3 ends it. */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "xlimits.h"
#include "log.h"
#include "sandbox.h"
#include "slice.h"
#include "tlv.h"

static void boot_slice_common(struct wrk_boot *b)
{
	struct rbuf r;
	struct tlv t;
	int rc;
	uint32_t v;

	rbuf_init(&r, b->slice.data, b->slice.len);
	while ((rc = tlv_next(&r, &t)) == 1) {
		switch (t.tag) {
		case SL_ROLE:
			if (tlv_str(&t, b->role, sizeof(b->role)) < 0)
				fatal("bad role in slice", "");
			break;
		case SL_INSTANCE:
			if (tlv_u32(&t, &b->instance) < 0)
				fatal("bad instance in slice", "");
			break;
		case SL_RUNDIR:
			if (tlv_str(&t, b->rundir, sizeof(b->rundir)) < 0)
				fatal("bad rundir in slice", "");
			break;
		case SL_DATADIR:
			if (tlv_str(&t, b->datadir, sizeof(b->datadir)) < 0)
				fatal("bad datadir in slice", "");
			break;
		case SL_UNPRIV:
			if (tlv_u32(&t, &v) < 0)
				fatal("bad unpriv flag in slice", "");
			b->unpriv = v != 0;
			break;
		case SL_LOGLEVEL:
			if (tlv_u32(&t, &v) < 0 || v > LOG_CRIT)
				fatal("bad log level in slice", "");
			b->loglevel = (int)v;
			break;
		default:
			break;
		}
	}
	if (rc < 0)
		fatal("malformed configuration slice", "");
	if (!b->role[0] || b->rundir[0] != '/')
		fatal("configuration slice lacks role or rundir", "");
}

void wrk_boot_read(struct wrk_boot *b)
{
	struct buf msg;
	uint8_t type;
	int fd, rc;

	memset(b, 0, sizeof(*b));
	b->loglevel = LOG_INFO;
	buf_init(&msg);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		rc = chan_recv(CHAN_FD, &type, &msg, &fd);
		if (rc == 0)
			fatal("supervisor closed the boot channel", "");
		if (rc < 0)
			fatal("boot channel receive failed", "err=\"%s\"", strerror(errno));
		if (type == CHAN_GO && fd < 0)
			break;
		if (type == CHAN_SLICE && fd < 0) {
			buf_reset(&b->slice);
			if (buf_put(&b->slice, msg.data, msg.len) < 0)
				fatal("out of memory", "");
			boot_slice_common(b);
			log_init(b->loglevel);
		} else if (type == CHAN_LISTENER && fd >= 0 && b->nlisteners < WRK_MAX_LISTENERS &&
			   msg.len > 0 && msg.len < sizeof(b->listeners[0].kind)) {
			struct wrk_listener *l = &b->listeners[b->nlisteners++];
			memcpy(l->kind, msg.data, msg.len);
			l->kind[msg.len] = 0;
			l->fd = fd;
		} else {
			if (fd >= 0)
				close(fd);
			fatal("unexpected boot message", "type=%u", type);
		}
	}
	buf_free(&msg);
	if (!b->role[0])
		fatal("boot ended without a configuration slice", "");
}

static int wrk_chrooted(const struct wrk_boot *b)
{
	return !b->unpriv && strcmp(b->role, "storage") != 0;
}

void wrk_sandbox(const struct wrk_boot *b)
{
	static const struct {
		const char *role;
		unsigned nofile;
	} roles[] = {
		{"c2s", 65536}, {"http", 65536}, {"router", 4096}, {"storage", 1024},
	};
	char jail[PATH_MAX];
	struct sbx_opts o = {0};
	size_t i;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(roles[i].role, b->role) == 0)
			break;
	if (i == sizeof(roles) / sizeof(roles[0]))
		fatal("unknown worker role", "role=%s", b->role);
	int n = snprintf(jail, sizeof(jail), "%s/jail", b->rundir);
	if (n < 0 || (size_t)n >= sizeof(jail))
		fatal("run directory path too long", "");
	o.role = (enum sbx_role)sbx_role_parse(b->role);
	o.unpriv = b->unpriv;
	o.chroot_dir = jail;
	o.user = sbx_role_user(o.role);
	o.ipc_group = "_xmppd";
	o.nofile = roles[i].nofile;
	sbx_apply(&o);
}

void wrk_ipc_url(const struct wrk_boot *b, const char *name, char *out, size_t cap)
{
	int n;
	if (wrk_chrooted(b))
		n = snprintf(out, cap, "ipc:///ipc/%s", name);
	else
		n = snprintf(out, cap, "ipc://%s/jail/ipc/%s", b->rundir, name);
	if (n < 0 || (size_t)n >= cap)
		fatal("ipc path too long", "name=%s", name);
}

/* A control answer that waits: for itself (deferred) or for an earlier deferred one, since the
 * supervisor pairs answers with requests by their order. */
struct wrk_ctl_later {
	uint64_t ticket;
	int ready;
	struct buf reply;
	struct wrk_ctl_later *next;
};

/* The boot channel after start-up; one per process. */
static struct {
	ev_io watcher;
	wrk_ctl_fn ctl, reload;
	void *arg;
	struct buf msg, reply;
	struct wrk_ctl_later *later, **later_tail;
	uint64_t next_ticket, deferring;	/* deferring: the ticket the running ctl fn took */
} wrk_chan;

static void wrk_ctl_flush(void)
{
	while (wrk_chan.later && wrk_chan.later->ready) {
		struct wrk_ctl_later *w = wrk_chan.later;
		if (chan_send(CHAN_FD, CHAN_CTL_REP, w->reply.data, w->reply.len, -1) < 0)
			log_warn("cannot answer control request", "err=\"%s\"", strerror(errno));
		wrk_chan.later = w->next;
		buf_free(&w->reply);
		free(w);
	}
	if (!wrk_chan.later)
		wrk_chan.later_tail = &wrk_chan.later;
}

static struct wrk_ctl_later *wrk_ctl_queue(void)
{
	struct wrk_ctl_later *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->ticket = ++wrk_chan.next_ticket;
	buf_init(&w->reply);
	*wrk_chan.later_tail = w;
	wrk_chan.later_tail = &w->next;
	return w;
}

uint64_t wrk_ctl_defer(void)
{
	struct wrk_ctl_later *w = wrk_chan.deferring ? NULL : wrk_ctl_queue();
	if (w)
		wrk_chan.deferring = w->ticket;
	return w ? w->ticket : 0;
}

void wrk_ctl_answer(uint64_t ticket, const void *p, size_t len)
{
	for (struct wrk_ctl_later *w = wrk_chan.later; w; w = w->next) {
		if (w->ticket != ticket || w->ready)
			continue;
		w->ready = 1;
		if (buf_put(&w->reply, p, len) < 0)
			buf_free(&w->reply);	/* an empty answer: the supervisor reports a failure */
		wrk_ctl_flush();
		return;
	}
}

/* The answer of the request just handled: now, after the deferred ones before it, or later. */
static void wrk_ctl_reply_now(int fd)
{
	if (wrk_chan.deferring) {
		wrk_chan.deferring = 0;
		return;
	}
	if (!wrk_chan.later) {
		if (chan_send(fd, CHAN_CTL_REP, wrk_chan.reply.data, wrk_chan.reply.len, -1) < 0)
			log_warn("cannot answer control request", "err=\"%s\"", strerror(errno));
		return;
	}
	struct wrk_ctl_later *w = wrk_ctl_queue();
	if (w)
		wrk_ctl_answer(w->ticket, wrk_chan.reply.data, wrk_chan.reply.len);
}

static void wrk_chan_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	uint8_t type;
	int fd;
	(void)revents;
	int rc = chan_recv(w->fd, &type, &wrk_chan.msg, &fd);
	if (rc < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (rc <= 0) {
		log_info("supervisor gone, exiting", "");
		ev_break(loop, EVBREAK_ALL);
		exit(0);
	}
	if (fd >= 0)
		close(fd);	/* no fds are expected after boot */
	buf_reset(&wrk_chan.reply);
	switch (type) {
	case CHAN_PING:
		if (chan_send(w->fd, CHAN_PONG, wrk_chan.msg.data, wrk_chan.msg.len, -1) < 0)
			log_warn("cannot answer watchdog ping", "err=\"%s\"", strerror(errno));
		break;
	case CHAN_CTL_REQ:
		if (wrk_chan.ctl)
			wrk_chan.ctl(wrk_chan.arg, wrk_chan.msg.data, wrk_chan.msg.len, &wrk_chan.reply);
		wrk_ctl_reply_now(w->fd);
		break;
	case CHAN_RELOAD:
		if (wrk_chan.reload)
			wrk_chan.reload(wrk_chan.arg, wrk_chan.msg.data, wrk_chan.msg.len, &wrk_chan.reply);
		break;
	default:
		log_warn("unexpected boot channel message dropped", "type=%u", type);
		break;
	}
	explicit_bzero(wrk_chan.msg.data, wrk_chan.msg.len);	/* may have held a password */
}

void wrk_chan_start(struct ev_loop *loop, wrk_ctl_fn ctl, wrk_ctl_fn reload, void *arg)
{
	wrk_chan.ctl = ctl;
	wrk_chan.reload = reload;
	wrk_chan.arg = arg;
	buf_init(&wrk_chan.msg);
	buf_init(&wrk_chan.reply);
	wrk_chan.later_tail = &wrk_chan.later;
	ev_io_init(&wrk_chan.watcher, wrk_chan_cb, CHAN_FD, EV_READ);
	ev_io_start(loop, &wrk_chan.watcher);
}

void wrk_ready(void)
{
	if (chan_send(CHAN_FD, CHAN_READY, NULL, 0, -1) < 0)
		fatal("cannot report READY", "err=\"%s\"", strerror(errno));
}

static struct {
	ev_signal term, intr;
	void (*stop)(void *arg);
	void *arg;
} wrk_sig;

static void wrk_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	log_info("stopping on signal", "signal=%d", w->signum);
	wrk_sig.stop(wrk_sig.arg);
}

void wrk_signals(struct ev_loop *loop, void (*stop)(void *arg), void *arg)
{
	wrk_sig.stop = stop;
	wrk_sig.arg = arg;
	ev_signal_init(&wrk_sig.term, wrk_signal_cb, SIGTERM);
	ev_signal_init(&wrk_sig.intr, wrk_signal_cb, SIGINT);
	ev_signal_start(loop, &wrk_sig.term);
	ev_signal_start(loop, &wrk_sig.intr);
}
