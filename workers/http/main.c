/* xmppd-http: the web worker. In this first stage it boots and sandboxes like every worker and
 * answers each plain HTTP request with 503 until BOSH and WebSocket land (issue 6); TLS
 * connections on the https listener are closed. It never sees secrets beyond its certificates. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

#define HTTP_MAX_HEAD 8192
#define HTTP_TIMEOUT 10.0

struct http_conn {
	ev_io io;
	ev_timer timer;
	size_t got;
	char head[HTTP_MAX_HEAD];
};

static struct ev_loop *loop;

static void conn_free(struct http_conn *c)
{
	ev_io_stop(loop, &c->io);
	ev_timer_stop(loop, &c->timer);
	close(c->io.fd);
	free(c);
}

static void conn_answer(struct http_conn *c, const char *status)
{
	static const char body[] = "BOSH and WebSocket are not available on this server yet.\n";
	char out[512];
	int n = snprintf(out, sizeof(out),
			 "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 status, sizeof(body) - 1, body);
	if (n > 0 && (size_t)n < sizeof(out) && send(c->io.fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("http answer not sent", "err=\"%s\"", strerror(errno));
	conn_free(c);
}

static void conn_read_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct http_conn *c = w->data;
	(void)l;
	(void)revents;
	ssize_t n = recv(w->fd, c->head + c->got, sizeof(c->head) - c->got - 1, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(c);
		return;
	}
	c->got += (size_t)n;
	c->head[c->got] = 0;
	if (strstr(c->head, "\r\n\r\n"))
		conn_answer(c, "503 Service Unavailable");
	else if (c->got == sizeof(c->head) - 1)
		conn_answer(c, "431 Request Header Fields Too Large");
}

static void conn_timeout_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)revents;
	conn_free(w->data);
}

static void accept_cb(struct ev_loop *l, ev_io *w, int revents)
{
	(void)revents;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (w->data) {	/* https: no TLS yet */
			close(fd);
			continue;
		}
		struct http_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		ev_io_init(&c->io, conn_read_cb, fd, EV_READ);
		c->io.data = c;
		ev_io_start(l, &c->io);
		ev_timer_init(&c->timer, conn_timeout_cb, HTTP_TIMEOUT, 0);
		c->timer.data = c;
		ev_timer_start(l, &c->timer);
	}
}

static void stop(void *arg)
{
	(void)arg;
	ev_break(loop, EVBREAK_ALL);
}

int main(void)
{
	static ev_io listeners[WRK_MAX_LISTENERS];
	struct wrk_boot boot;

	wrk_boot_read(&boot);
	loop = ev_default_loop(EVFLAG_AUTO);
	wrk_sandbox(&boot);
	for (unsigned i = 0; i < boot.nlisteners; i++) {
		ev_io_init(&listeners[i], accept_cb, boot.listeners[i].fd, EV_READ);
		listeners[i].data = strcmp(boot.listeners[i].kind, "https") == 0 ? &listeners[i] : NULL;
		ev_io_start(loop, &listeners[i]);
	}
	wrk_chan_start(loop, NULL, NULL, NULL);
	wrk_signals(loop, stop, NULL);
	wrk_ready();
	ev_run(loop, 0);
	return 0;
}
