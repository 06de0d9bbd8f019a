/* HTTP connections: accept, plain or TLS reads and writes, keep-alive and pipelining (one request
 * answered at a time, in order), timeouts, and the hand-over of an upgraded socket to WebSocket. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bosh.h"
#include "http.h"
#include "log.h"

static void conn_free(struct http_conn *c)
{
	http_wsx_free(c);
	bosh_sess_conn_gone(c);
	ev_io_stop(henv->loop, &c->rio);
	ev_io_stop(henv->loop, &c->wio);
	ev_timer_stop(henv->loop, &c->timer);
	http_tls_end(c);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		henv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	henv->nconns--;
	buf_free(&c->in);
	buf_free(&c->out);
	ws_msg_reset(&c->msg);
	free(c);
}

static void timer_set(struct http_conn *c, double secs)
{
	ev_timer_stop(henv->loop, &c->timer);
	ev_timer_set(&c->timer, secs, 0);
	ev_timer_start(henv->loop, &c->timer);
}

int http_conn_send(struct http_conn *c, const void *p, size_t n)
{
	if (c->out.len + n > HTTP_OUT_MAX) {
		log_info("http client not reading, dropped", "ip=%s", c->ip);
		c->dead = 1;
		return -1;
	}
	return buf_put(&c->out, p, n);
}

void http_conn_close_after_flush(struct http_conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	timer_set(c, HTTP_CLOSE_LINGER);
}

static ssize_t conn_read(struct http_conn *c, void *p, size_t n)
{
	if (c->ssl)
		return http_tls_read(c, p, n);
	return recv(c->fd, p, n, 0);
}

static ssize_t conn_write(struct http_conn *c, const void *p, size_t n)
{
	if (c->ssl)
		return http_tls_write(c, p, n);
	return send(c->fd, p, n, MSG_NOSIGNAL);
}

/* Writes what is queued; 0 when all or some went out, -1 when the connection is broken. */
static int conn_flush(struct http_conn *c)
{
	while (c->out.len > 0) {
		ssize_t n = conn_write(c, c->out.data, c->out.len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return -1;
		buf_consume(&c->out, (size_t)n);
	}
	return 0;
}

/* RFC 9110 §10.1.1: a client that asks "Expect: 100-continue" waits for our interim answer
 * before it sends the body (curl does past 1 KiB); the body's size was already accepted. */
static void conn_expect(struct http_conn *c, const struct http_req *r)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	const struct http_field *f = http_field_get(r, "expect");
	if (f && r->minor == 1 && http_token_in(f->value, f->value_len, "100-continue"))
		http_conn_send(c, cont, sizeof(cont) - 1);
}

/* Answers every complete request in the input, in order; stops while much output waits. */
static void conn_requests(struct http_conn *c)
{
	c->stalled = 0;
	while (c->mode == HTTP_MODE_HTTP && !c->closing && !c->dead && c->in.len > 0 && !c->bosh &&
	       c->out.len < HTTP_OUT_PAUSE) {
		struct http_req r;
		if (!c->req_started)
			c->req_started = ev_now(henv->loop);
		int rc = http_parse_head((const char *)c->in.data, c->in.len, henv->conf.body_max, &r);
		if (rc == 0)
			return;
		if (rc < 0) {
			r.keep_alive = 0;
			http_error(c, NULL, -rc, NULL);
			http_conn_close_after_flush(c);
			return;
		}
		if (c->in.len - r.head_len < r.content_length) {
			if (!c->body_from) {
				c->body_from = ev_now(henv->loop);
				conn_expect(c, &r);
			}
			return;	/* the body is still coming */
		}
		http_client_ip(c, &r);
		http_route(c, &r, c->in.data + r.head_len, (size_t)r.content_length);
		c->requests++;
		if (c->mode == HTTP_MODE_HTTP && !r.keep_alive && !c->bosh)
			http_conn_close_after_flush(c);	/* a held BOSH request closes with its answer */
		buf_consume(&c->in, r.head_len + (size_t)r.content_length);
		c->req_started = c->body_from = 0;
		if (c->mode == HTTP_MODE_WS && c->in.len > 0)
			http_ws_input(c);	/* frames that came right behind the upgrade */
	}
	/* pipelined requests wait while answers pile up; conn_arm resumes them once drained */
	c->stalled = c->mode == HTTP_MODE_HTTP && !c->closing && !c->dead && c->in.len > 0 &&
		     c->out.len >= HTTP_OUT_PAUSE;
}

static void conn_read_some(struct http_conn *c)
{
	for (int i = 0; i < 4 && !c->dead; i++) {
		if (c->mode == HTTP_MODE_HTTP && c->in.len >= HTTP_MAX_HEAD + henv->conf.body_max)
			return;	/* a whole request fits: the parser has answered or will */
		if (c->out.len >= HTTP_OUT_PAUSE || (c->mode == HTTP_MODE_WS && http_wsx_blocked(c)))
			return;
		if (buf_reserve(&c->in, HTTP_READ_CHUNK) < 0) {
			c->dead = 1;
			return;
		}
		ssize_t n = conn_read(c, c->in.data + c->in.len, HTTP_READ_CHUNK);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			c->dead = 1;
			return;
		}
		if (c->closing)
			continue;	/* draining after the last answer */
		c->in.len += (size_t)n;
		if (c->mode == HTTP_MODE_HTTP)
			conn_requests(c);
		else
			http_ws_input(c);
	}
}

/* The watchers and the timer say what the connection waits for now. */
static void conn_arm(struct http_conn *c)
{
	/* an idle connection keeps no buffers (there will be many idle WebSocket sessions) */
	if (c->in.len == 0 && c->in.cap)
		buf_free(&c->in);
	if (c->out.len == 0 && c->out.cap)
		buf_free(&c->out);
	int want_write = c->out.len > 0 || c->read_wants_write;
	int want_read = !(c->out.len >= HTTP_OUT_PAUSE || (c->mode == HTTP_MODE_WS && http_wsx_blocked(c))) ||
			c->write_wants_read;
	want_write ? ev_io_start(henv->loop, &c->wio) : ev_io_stop(henv->loop, &c->wio);
	want_read ? ev_io_start(henv->loop, &c->rio) : ev_io_stop(henv->loop, &c->rio);
	/* work the socket will not announce: buffered requests held back by output that has since
	 * drained, or TLS records OpenSSL already decrypted beyond what one round read */
	if (!c->closing && c->out.len < HTTP_OUT_PAUSE && !(c->mode == HTTP_MODE_WS && http_wsx_blocked(c)) &&
	    (c->stalled || (c->ssl && c->tls_up && SSL_pending(c->ssl) > 0)))
		ev_feed_event(henv->loop, &c->rio, EV_READ);
	if (c->bosh && !c->closing) {
		ev_timer_stop(henv->loop, &c->timer);	/* a held BOSH request: the session's clocks decide */
		return;
	}
	if (c->closing || c->mode != HTTP_MODE_HTTP)
		return;
	if (c->in.len > 0 && c->req_started) {
		/* the head within HTTP_HEAD_TIMEOUT of its first byte, the body within HTTP_BODY_TIMEOUT
		 * of the head: a slow sender cannot hold a connection by trickling bytes */
		double left = (c->body_from ? c->body_from + HTTP_BODY_TIMEOUT : c->req_started + HTTP_HEAD_TIMEOUT) -
			      ev_now(henv->loop);
		timer_set(c, left > 0 ? left : 0.001);
	} else {
		timer_set(c, HTTP_IDLE_TIMEOUT);
	}
}

static void conn_io(struct http_conn *c)
{
	if (c->ssl && !c->tls_up) {
		int r = http_tls_handshake(c);
		if (r < 0)
			c->dead = 1;
	}
	if (!c->dead && (!c->ssl || c->tls_up)) {
		if (c->mode == HTTP_MODE_WS && c->in.len > 0)
			http_ws_input(c);	/* messages that waited while the stream was held */
		conn_read_some(c);
		if (!c->dead && c->mode == HTTP_MODE_HTTP)
			conn_requests(c);
	}
	if (!c->dead && conn_flush(c) < 0)
		c->dead = 1;
	if (!c->dead && c->closing && c->out.len == 0 && !c->wr_shut) {
		/* lingering close: our FIN first, then unread input is drained until the peer's EOF
		 * so a pipelined request it sent meanwhile cannot turn into a reset that eats our answer */
		http_tls_end(c);
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = 1;
	}
	if (c->dead) {
		conn_free(c);
		return;
	}
	conn_arm(c);
}

static void conn_rw_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop, (void)revents;
	conn_io(w->data);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct http_conn *c = w->data;
	if (c->closing) {
		conn_free(c);
		return;
	}
	if (c->mode == HTTP_MODE_WS) {
		http_ws_timer(c);
		if (c->dead) {
			conn_free(c);
			return;
		}
		conn_io(c);
		return;
	}
	if (c->in.len > 0 && c->req_started) {
		http_error(c, NULL, 408, NULL);
		http_conn_close_after_flush(c);
		conn_io(c);
		return;
	}
	conn_free(c);	/* idle keep-alive connection */
}

void http_conn_wake(struct http_conn *c)
{
	ev_feed_event(henv->loop, &c->wio, EV_WRITE);
}

void http_conn_timer(struct http_conn *c, double secs)
{
	timer_set(c, secs);
}

static void addr_of(const struct sockaddr_storage *ss, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (ss->ss_family == AF_INET6) {
		memcpy(addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	} else if (ss->ss_family == AF_INET) {
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
}

/* conn-per-ip: a linear count is enough below HTTP_MAX_CONNS; proxies carry many clients. */
static int addr_over_limit(const uint8_t addr[16])
{
	if (http_proxy_trusted(addr))
		return 0;
	uint32_t n = 0;
	for (const struct http_conn *c = henv->conns; c; c = c->next)
		if (memcmp(c->addr, addr, 16) == 0 && ++n >= henv->conf.conn_per_ip)
			return 1;
	return 0;
}

static void conn_new(int fd, int listener, const uint8_t addr[16])
{
	struct http_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->listener = listener;
	memcpy(c->addr, addr, 16);
	http_addr_format(c->addr, c->ip, sizeof(c->ip));
	ev_io_init(&c->rio, conn_rw_cb, fd, EV_READ);
	ev_io_init(&c->wio, conn_rw_cb, fd, EV_WRITE);
	ev_init(&c->timer, conn_timer_cb);
	c->rio.data = c->wio.data = c->timer.data = c;
	buf_init(&c->in);
	buf_init(&c->out);
	buf_init(&c->msg.data);
	c->msg.max = henv->conf.body_max;
	c->next = henv->conns;
	if (henv->conns)
		henv->conns->prev = c;
	henv->conns = c;
	henv->nconns++;
	if (henv->listeners[listener].tls && http_tls_begin(c) < 0) {
		conn_free(c);
		return;
	}
	ev_io_start(henv->loop, &c->rio);
	timer_set(c, HTTP_HEAD_TIMEOUT);
}

void http_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop, (void)revents;
	int listener = (int)(((struct http_listener *)w) - henv->listeners);
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("http accept failed", "errno=%d", errno);
			return;
		}
		uint8_t addr[16];
		addr_of(&ss, addr);
		if (henv->nconns >= HTTP_MAX_CONNS || henv->stopping || addr_over_limit(addr)) {
			char ip[48];
			http_addr_format(addr, ip, sizeof(ip));
			log_info("http connection refused", "ip=%s conns=%u", ip, henv->nconns);
			close(fd);
			continue;
		}
		conn_new(fd, listener, addr);
	}
}

void http_conn_close_all(void)
{
	while (henv->conns)
		conn_free(henv->conns);
}
