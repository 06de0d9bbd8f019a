/* NNG ↔ libev glue (see nngev.h). Only nev_pipe_cb runs on NNG threads, and it only queues
 * under the mutex and wakes the loop; it must never call back into the owner. */
#include "nngev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* NNG thread: record the event and wake the loop, unless the socket is being closed
 * (then the nev_sock may already be gone and only the notify block is left). */
static void nev_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct nev_notify *nt = arg;
	pthread_mutex_lock(&nt->mu);
	if (!nt->dead) {
		struct nev_sock *n = nt->n;
		if (n->qlen == NEV_PIPE_QUEUE) {
			n->pipe_events_lost++;
		} else {
			unsigned at = (n->qhead + n->qlen) % NEV_PIPE_QUEUE;
			n->q[at].pipe_id = (uint32_t)nng_pipe_id(p);
			n->q[at].ev = (int)ev;
			n->qlen++;
		}
		ev_async_send(n->loop, &n->wake);
	}
	pthread_mutex_unlock(&nt->mu);
}

/* Loop thread: a dialling socket without a pipe runs the redial timer. */
static void nev_track_pipe(struct nev_sock *n, int ev)
{
	n->pipe_up = ev == NNG_PIPE_EV_ADD_POST;
	if (!n->url)
		return;
	if (n->pipe_up) {
		ev_timer_stop(n->loop, &n->redial);
		n->redialled = 0;
	} else if (!ev_is_active(&n->redial))
		ev_timer_again(n->loop, &n->redial);
}

static void nev_redial_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct nev_sock *n = w->data;
	if (n->stopped || n->pipe_up) {
		ev_timer_stop(n->loop, w);
		return;
	}
	pthread_mutex_lock(&n->notify->mu);
	unsigned queued = n->qlen;
	pthread_mutex_unlock(&n->notify->mu);
	if (queued)
		return;		/* a pipe event not handled yet may be the new pipe */
	/* the peer may just be away; a new dialer costs one connect() if so */
	nng_dialer_close(n->dialer);
	int rv = nng_dial(n->sock, n->url, &n->dialer, NNG_FLAG_NONBLOCK);
	if (rv != 0)
		log_warn("cannot dial again", "url=%s err=\"%s\"", n->url, nng_strerror(rv));
	else if (!n->redialled++)	/* once per loss: the peer may be away for long */
		log_info("no pipe for a while: dialer replaced", "url=%s after_s=%.1f", n->url,
			 NEV_REDIAL_S);
}

/* Loop thread: hand the queued pipe events to the owner, one at a time, so the
 * owner may close the socket from its callback. */
static void nev_wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)revents;
	struct nev_sock *n = w->data;
	n->in_dispatch++;
	while (!n->stopped) {
		struct nev_pipe_event e;
		pthread_mutex_lock(&n->notify->mu);
		if (n->qlen == 0) {
			pthread_mutex_unlock(&n->notify->mu);
			break;
		}
		e = n->q[n->qhead];
		n->qhead = (n->qhead + 1) % NEV_PIPE_QUEUE;
		n->qlen--;
		pthread_mutex_unlock(&n->notify->mu);
		nev_track_pipe(n, e.ev);
		if (n->ops->pipe)
			n->ops->pipe(n->arg, e.pipe_id, e.ev);
	}
	/* a pipe event may come with messages the recv fd has not signalled yet */
	if (!n->stopped)
		nev_poll(n);
	n->in_dispatch--;
}

void nev_poll(struct nev_sock *n)
{
	int got = 0;
	while (!n->stopped) {
		nng_msg *m;
		int rv = nng_recvmsg(n->sock, &m, NNG_FLAG_NONBLOCK);
		if (rv == NNG_EAGAIN)
			break;
		if (rv != 0) {
			if (rv != NNG_ECLOSED)
				log_warn("nng receive failed", "err=\"%s\"", nng_strerror(rv));
			break;
		}
		got = 1;
		n->ops->recv(n->arg, m);
	}
	if (got && !n->stopped && n->ops->drained)
		n->ops->drained(n->arg);
}

static void nev_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct nev_sock *n = w->data;
	n->in_dispatch++;
	nev_poll(n);
	n->in_dispatch--;
}

static void nev_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct nev_sock *n = w->data;
	ev_io_stop(loop, w);
	n->in_dispatch++;
	if (!n->stopped && n->ops->writable)
		n->ops->writable(n->arg);
	n->in_dispatch--;
}

int nev_sock_limits(nng_socket s, int recvbuf, int sendbuf, size_t recvmaxsz)
{
	int rv;
	if ((rv = nng_socket_set_int(s, NNG_OPT_RECVBUF, recvbuf)) != 0 ||
	    (rv = nng_socket_set_int(s, NNG_OPT_SENDBUF, sendbuf)) != 0 ||
	    (rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, recvmaxsz)) != 0)
		return rv;
	return 0;
}

int nev_start(struct nev_sock *n, struct ev_loop *loop, nng_socket s, const struct nev_ops *ops,
	      void *arg)
{
	int rv, rfd, wfd = -1;
	memset(n, 0, sizeof(*n));
	n->loop = loop;
	n->sock = s;
	n->ops = ops;
	n->arg = arg;
	n->open = 1;
	if ((rv = nng_socket_get_int(s, NNG_OPT_RECVFD, &rfd)) != 0) {
		nng_close(s);
		n->open = 0;
		return rv;
	}
	/* not every protocol can poll for sending; those never report NNG_EAGAIN as a
	 * reason to wait, so a missing SENDFD is not an error */
	if (nng_socket_get_int(s, NNG_OPT_SENDFD, &wfd) != 0)
		wfd = -1;
	if (!(n->notify = calloc(1, sizeof(*n->notify)))) {
		nng_close(s);
		n->open = 0;
		return NNG_ENOMEM;
	}
	pthread_mutex_init(&n->notify->mu, NULL);
	n->notify->n = n;
	ev_io_init(&n->rio, nev_read_cb, rfd, EV_READ);
	n->rio.data = n;
	ev_io_init(&n->wio, nev_write_cb, wfd, EV_READ);
	n->wio.data = n;
	ev_async_init(&n->wake, nev_wake_cb);
	n->wake.data = n;
	ev_async_start(loop, &n->wake);
	ev_io_start(loop, &n->rio);
	n->started = 1;
	if ((rv = nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, nev_pipe_cb, n->notify)) != 0 ||
	    (rv = nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, nev_pipe_cb, n->notify)) != 0) {
		nev_close(n);
		return rv;
	}
	return 0;
}

int nev_dial(struct nev_sock *n, const char *url)
{
	if (n->url)
		return NNG_EBUSY;
	if (!(n->url = strdup(url)))
		return NNG_ENOMEM;
	ev_timer_init(&n->redial, nev_redial_cb, 0., NEV_REDIAL_S);
	n->redial.data = n;
	int rv = nng_dial(n->sock, url, &n->dialer, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		free(n->url);
		n->url = NULL;
		return rv;
	}
	if (!n->pipe_up)
		ev_timer_again(n->loop, &n->redial);
	return 0;
}

int nev_send(struct nev_sock *n, nng_msg *m)
{
	if (n->stopped)
		return NNG_ECLOSED;
	int rv = nng_sendmsg(n->sock, m, NNG_FLAG_NONBLOCK);
	if (rv == NNG_EAGAIN && n->wio.fd >= 0 && !ev_is_active(&n->wio))
		ev_io_start(n->loop, &n->wio);
	return rv;
}

void nev_stop(struct nev_sock *n)
{
	if (n->stopped)
		return;
	n->stopped = 1;
	if (n->started) {
		ev_io_stop(n->loop, &n->rio);
		ev_io_stop(n->loop, &n->wio);
	}
	if (n->url)
		ev_timer_stop(n->loop, &n->redial);
}

/* A helper thread runs nng_close so the loop can stop waiting for it. */
struct nev_closer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	nng_socket sock;
	int done, abandoned;
};

static void nev_closer_free(struct nev_closer *c)
{
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void *nev_closer_main(void *arg)
{
	struct nev_closer *c = arg;
	nng_close(c->sock);
	pthread_mutex_lock(&c->mu);
	c->done = 1;
	int abandoned = c->abandoned;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (abandoned)
		nev_closer_free(c);	/* nobody waits any more */
	return NULL;
}

int nev_close_socket(nng_socket s)
{
	struct nev_closer *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;
	pthread_t t;
	if (!c) {
		nng_close(s);
		return 0;
	}
	c->sock = s;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&t, NULL, nev_closer_main, c) != 0) {
		nev_closer_free(c);
		nng_close(s);	/* no thread to spare: close in line */
		return 0;
	}
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += NEV_CLOSE_WAIT_MS / 1000;
	dl.tv_nsec += (NEV_CLOSE_WAIT_MS % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->mu);
	while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &dl) != ETIMEDOUT)
		;
	if (c->done) {
		pthread_mutex_unlock(&c->mu);
		pthread_join(t, NULL);
		nev_closer_free(c);
		return 0;
	}
	c->abandoned = 1;
	pthread_mutex_unlock(&c->mu);
	pthread_detach(t);
	log_warn("nng_close did not finish, left to a helper thread", "wait_ms=%d",
		 NEV_CLOSE_WAIT_MS);
	return -1;
}

void nev_close(struct nev_sock *n)
{
	nev_stop(n);
	if (n->started) {
		pthread_mutex_lock(&n->notify->mu);
		n->notify->dead = 1;
		pthread_mutex_unlock(&n->notify->mu);
		ev_async_stop(n->loop, &n->wake);
	}
	free(n->url);
	n->url = NULL;
	if (n->open) {
		n->open = 0;
		if (nev_close_socket(n->sock) < 0 && n->started) {
			n->notify = NULL;	/* NNG may still call back into it: left behind */
		}
	}
}

void nev_destroy(struct nev_sock *n)
{
	nev_close(n);
	if (n->started) {
		if (n->notify) {
			pthread_mutex_destroy(&n->notify->mu);
			free(n->notify);
			n->notify = NULL;
		}
		n->started = 0;
	}
}
