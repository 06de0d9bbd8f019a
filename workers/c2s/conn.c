/* The TCP transport of the stream engine (c2s): accept, non-blocking reads into the XML parser,
 * buffered writes, TLS handshakes on the loop, timeouts, pausing and closing. A bad client closes
 * only itself. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "c2s.h"
#include "log.h"

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static const struct c2s_conn_ops tcp_ops;

static void set_active(ev_io *w, int on)
{
	if (on && !ev_is_active(w))
		ev_io_start(env->loop, w);
	else if (!on && ev_is_active(w))
		ev_io_stop(env->loop, w);
}

static void conn_watchers(struct c2s_conn *c)
{
	int r, w;
	if (c->tls == C2S_TLS_HANDSHAKE) {
		r = !c->read_wants_write;
		w = c->read_wants_write;
	} else {
		r = (!c->closing && !env->paused && !c->held && !c->throttled &&
		     c->tls != C2S_TLS_PENDING) ||
		    c->write_wants_read;
		w = (c->out.len > 0 && !c->write_wants_read) || c->read_wants_write;
	}
	set_active(&c->rio, r);
	set_active(&c->wio, w);
}

static void conn_destroy(struct c2s_conn *c)
{
	if (c->in_read) {
		c->freed_later = 1;
		return;
	}
	ev_io_stop(env->loop, &c->rio);
	ev_io_stop(env->loop, &c->wio);
	c2s_conn_teardown(c);
	c2s_tls_end(c);
	if (c->fd >= 0)
		close(c->fd);
	buf_free(&c->out);
	free(c);
}

static void conn_close(struct c2s_conn *c, int graceful)
{
	if (!c->closing) {
		c2s_conn_end_session(c);
		if (graceful) {
			ev_timer_set(&c->timer, C2S_CLOSE_LINGER, 0.);
			ev_timer_start(env->loop, &c->timer);
		}
	}
	if (!graceful || c->out.len == 0 || c->tls == C2S_TLS_HANDSHAKE) {
		conn_destroy(c);
		return;
	}
	conn_watchers(c);
}

/* Writes what is queued; -1 when the connection broke. */
static int conn_flush(struct c2s_conn *c)
{
	if (c->tls == C2S_TLS_UP && c2s_tls_flush(c) < 0)
		return -1;
	while (c->out.len > 0 && c->tls != C2S_TLS_HANDSHAKE) {
		ssize_t n = c->tls == C2S_TLS_UP
				    ? c2s_tls_write(c, c->out.data, c->out.len)
				    : send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		return -1;
	}
	if (c->out.len == 0)
		buf_free(&c->out);	/* idle sessions keep no write buffer */
	return 0;
}

static int conn_send(struct c2s_conn *c, const void *p, size_t n)
{
	if (c->closing)
		return -1;
	if (c->out.len + n > env->out_max) {
		log_notice("client does not read, closing", "sid=%llu queued=%zu", (unsigned long long)c->sid,
			   c->out.len);
		/* the error goes out only if the socket takes it now; nobody waits for this client */
		static const char err[] = "<stream:error><policy-violation xmlns='" C2S_NS_STREAM_ERRORS
					  "'/></stream:error></stream:stream>";
		if (c->tls != C2S_TLS_UP)
			(void)send(c->fd, err, sizeof(err) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		c2s_conn_close(c, 0);
		return -1;
	}
	if (buf_put(&c->out, p, n) < 0)
		return -1;
	if (c->in_read)
		return 0;	/* flushed when the read step ends */
	if (conn_flush(c) < 0) {
		c2s_conn_close(c, 0);
		return -1;
	}
	conn_watchers(c);
	return 0;
}

static void conn_hold(struct c2s_conn *c, int on)
{
	c->held = on ? 1 : 0;
	if (c->in_read || c->closing)
		return;
	conn_watchers(c);
	if (!on)
		ev_feed_event(env->loop, &c->rio, EV_READ);	/* input may wait in TLS or the socket */
}

static void conn_start_tls(struct c2s_conn *c)
{
	c->tls = C2S_TLS_PENDING;	/* the handshake starts once <proceed/> is on the wire */
}

/* One read; returns 1 to read again, 0 to stop. */
static int conn_read_once(struct c2s_conn *c)
{
	ssize_t n = c->tls == C2S_TLS_UP ? c2s_tls_read(c, env->rbuf, sizeof(env->rbuf))
					 : recv(c->fd, env->rbuf, sizeof(env->rbuf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		c2s_xml_trim(c->xml);	/* drained: an idle stream keeps as little as it can */
		return 0;
	}
	if (n <= 0) {
		c2s_conn_close(c, 0);
		return 0;
	}
	c->active = 1;
	int throttled = c2s_lim_rate_take(c, (size_t)n);
	int r = c2s_xml_feed(c->xml, env->rbuf, (size_t)n);
	if (r < 0) {
		log_info("stream error", "sid=%llu reason=\"%s\"", (unsigned long long)c->sid,
			 c2s_xml_strerror(r));
		c2s_stream_error(c, c2s_xml_condition(r));
		return 0;
	}
	if (r == C2S_XML_STOPPED) {
		if (c->closing)
			return 0;
		if (c->restart && c2s_stream_restart(c) < 0) {
			c2s_conn_close(c, 0);
			return 0;
		}
		return c->tls != C2S_TLS_PENDING && !throttled;	/* after <starttls/> the rest is dropped */
	}
	return !throttled;
}

static void conn_tls_step(struct c2s_conn *c)
{
	if (c->tls == C2S_TLS_PENDING && c->out.len == 0) {
		if (c2s_tls_begin(c) < 0) {
			c2s_conn_close(c, 0);
			return;
		}
	}
	if (c->tls != C2S_TLS_HANDSHAKE)
		return;
	int r = c2s_tls_handshake(c);
	if (r < 0)
		c2s_conn_close(c, 0);
}

static void conn_step(struct c2s_conn *c)
{
	c->in_read = 1;
	conn_tls_step(c);
	for (int i = 0; i < C2S_READS_PER_EVENT && !c->closing && !env->paused && !c->held && !c->throttled &&
			(c->tls == C2S_TLS_NONE || c->tls == C2S_TLS_UP);
	     i++)
		if (!conn_read_once(c))
			break;
	if (!c->freed_later && conn_flush(c) < 0)
		c2s_conn_close(c, 0);
	if (!c->freed_later && !c->closing && c->tls == C2S_TLS_PENDING && c->out.len == 0)
		conn_tls_step(c);
	c->in_read = 0;
	if (c->freed_later || (c->closing && c->out.len == 0)) {
		c->freed_later = 0;
		conn_destroy(c);
		return;
	}
	conn_watchers(c);
	/* records already read from the socket wait in the record layer, not in the socket */
	if (!c->closing && !env->paused && !c->held && !c->throttled && c->tls == C2S_TLS_UP && c2s_tls_pending(c))
		ev_feed_event(env->loop, &c->rio, EV_READ);
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop, (void)revents;
	conn_step(w->data);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct c2s_conn *c = w->data;
	if (c->closing) {
		conn_destroy(c);	/* the client did not take its last bytes in time */
		return;
	}
	c2s_conn_idle(c);
}

static void conn_addr(struct c2s_conn *c, const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6) {
		memcpy(c->addr, &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr, 16);
	} else if (ss->ss_family == AF_INET) {
		c->addr[10] = c->addr[11] = 0xff;
		memcpy(c->addr + 12, &((const struct sockaddr_in *)(const void *)ss)->sin_addr, 4);
	}
}

static void conn_new(int fd, int direct_tls, int component, const struct sockaddr_storage *ss)
{
	struct c2s_conn *c = calloc(1, sizeof(*c));
	if (!c || c2s_conn_setup(c, &tcp_ops, NULL, conn_timer_cb) < 0) {
		free(c);
		close(fd);
		return;
	}
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	ev_io_init(&c->rio, conn_io_cb, fd, EV_READ);
	ev_io_init(&c->wio, conn_io_cb, fd, EV_WRITE);
	conn_addr(c, ss);
	c->component = component ? 1 : 0;
	c->rio.data = c->wio.data = c;
	if (c2s_lim_addr_acquire(c) < 0) {
		log_notice("too many unauthenticated streams from one address", "sid=%llu",
			   (unsigned long long)c->sid);
		if (direct_tls)
			c2s_conn_close(c, 0);
		else
			c2s_stream_error(c, "policy-violation");
		return;
	}
	if (direct_tls) {
		c->direct_tls = 1;
		if (c2s_tls_begin(c) < 0) {
			log_err("no certificate for direct TLS", "sid=%llu", (unsigned long long)c->sid);
			c2s_conn_close(c, 0);
			return;
		}
	}
	conn_watchers(c);
}

static void accept_resume(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	for (unsigned i = 0; i < env->nlisteners; i++)
		ev_io_start(env->loop, &env->lio[i]);
}

static void accept_rest(void)
{
	log_warn("out of descriptors, listeners rest", "streams=%zu", env->nconns);
	for (unsigned i = 0; i < env->nlisteners; i++)
		ev_io_stop(env->loop, &env->lio[i]);
	ev_timer_stop(env->loop, &env->accept_pause);
	ev_timer_init(&env->accept_pause, accept_resume, C2S_ACCEPT_PAUSE, 0.);
	ev_timer_start(env->loop, &env->accept_pause);
}

void c2s_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop, (void)revents;
	int direct_tls = env->ltls[w - env->lio], component = env->lcomp[w - env->lio];
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			conn_new(fd, direct_tls, component, &ss);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			accept_rest();	/* level-triggered: without a rest the loop would spin */
		else if (errno != EAGAIN && errno != EWOULDBLOCK)
			log_warn("accept failed", "errno=%d", errno);
		return;
	}
}

/* env->paused changed: reads stop, or resume (TLS may hold decrypted bytes). */
static void conn_wake(struct c2s_conn *c)
{
	if (!c->in_read)
		conn_watchers(c);
	if (!env->paused && !c->closing)
		ev_feed_event(env->loop, &c->rio, EV_READ);
}

static int conn_cbinding(struct c2s_conn *c, int type, uint8_t *out, size_t cap)
{
	return c2s_tls_cbinding(c, type, out, cap);
}

static const struct c2s_conn_ops tcp_ops = {
	.send = conn_send,
	.close = conn_close,
	.hold = conn_hold,
	.wake = conn_wake,
	.start_tls = conn_start_tls,
	.cbinding = conn_cbinding,
	.name = "tcp",
};
