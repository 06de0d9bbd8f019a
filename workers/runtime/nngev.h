/* NNG ↔ libev glue: the one place where an NNG socket is watched by a libev loop.
 * Receiving and sending are nonblocking and run on the loop thread; NNG pipe notifications
 * arrive on NNG threads and are only queued under a mutex, then replayed on the loop. */
#ifndef XMPPD_NNGEV_H
#define XMPPD_NNGEV_H
#include <ev.h>
#include <nng/nng.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define NEV_PIPE_QUEUE 64	/* pipe events kept between two loop iterations */
/* NNG 1.5.2 can hang in nng_close while a peer is still sending (nanomsg/nng #1543, fixed
 * upstream in 1.8): nev_close waits this long for it on a helper thread, then gives up. */
#define NEV_CLOSE_WAIT_MS 1000
/* NNG 1.5.2's dialer stops redialling for good when a connection it made is closed as its
 * connect completes (what a listener's killed process does to a connection still in its
 * backlog): after this long without a pipe, nev_dial's dialer is replaced by a new one. */
#define NEV_REDIAL_S 2.0

struct nev_ops {
	/* One received message; the callee takes it (nng_msg_free or pass it on). */
	void (*recv)(void *arg, nng_msg *m);
	/* The receive queue is empty again (after one or more recv calls). May be NULL. */
	void (*drained)(void *arg);
	/* A send that returned NNG_EAGAIN may be retried now. May be NULL. */
	void (*writable)(void *arg);
	/* A pipe was added (NNG_PIPE_EV_ADD_POST) or removed (NNG_PIPE_EV_REM_POST), on the
	 * loop thread, in the order NNG reported them. May be NULL. */
	void (*pipe)(void *arg, uint32_t pipe_id, int ev);
};

struct nev_pipe_event {
	uint32_t pipe_id;
	int ev;
};

/* What NNG's pipe callbacks may touch; allocated apart from nev_sock so that it can be
 * left behind (leaked, a few bytes) if nng_close never returns. */
struct nev_notify {
	pthread_mutex_t mu;
	int dead;		/* set under mu by nev_close: callbacks then do nothing */
	struct nev_sock *n;
};

/* Embedded by its owner; all fields are private to nngev.c. */
struct nev_sock {
	struct ev_loop *loop;
	nng_socket sock;
	ev_io rio, wio;
	ev_async wake;
	struct nev_notify *notify;	/* its mutex guards q, qhead, qlen, pipe_events_lost */
	struct nev_pipe_event q[NEV_PIPE_QUEUE];
	unsigned qhead, qlen;
	unsigned long pipe_events_lost;	/* queue overflow; owners must tolerate lost events */
	const struct nev_ops *ops;
	void *arg;
	int open;		/* the NNG socket is owned and not yet closed */
	int stopped;		/* nev_close was called: no more callbacks */
	int started;		/* watchers and notify set up */
	int in_dispatch;	/* a callback of this nev_sock is on the stack */
	/* nev_dial only */
	char *url;
	nng_dialer dialer;
	int pipe_up;		/* the last pipe event was an addition */
	ev_timer redial;	/* runs while no pipe is up */
	int redialled;		/* replaced since the last pipe went away */
};

/* Sets RECVBUF/SENDBUF (messages, 1..8192) and RECVMAXSZ (bytes) on s. 0 or an NNG error. */
int nev_sock_limits(nng_socket s, int recvbuf, int sendbuf, size_t recvmaxsz);
/* Takes ownership of the open socket s (closed by nev_close, also on failure here),
 * registers the pipe notifications and starts watching NNG_OPT_RECVFD on loop.
 * Call it before listening or dialing, so no pipe event is missed. 0 or an NNG error. */
int nev_start(struct nev_sock *n, struct ev_loop *loop, nng_socket s, const struct nev_ops *ops,
	      void *arg);
/* Dials url without blocking and keeps it dialled: besides NNG's own redialling, the dialer is
 * replaced every NEV_REDIAL_S while no pipe is up (see NEV_REDIAL_S). For sockets with this
 * one dialer only. After nev_start; 0 or an NNG error. */
int nev_dial(struct nev_sock *n, const char *url);
/* Nonblocking send. 0: sent, m now belongs to NNG. NNG_EAGAIN: m stays with the caller and
 * ops->writable is called once the socket can take more. Other NNG errors: m stays too. */
int nev_send(struct nev_sock *n, nng_msg *m);
/* Receives until the queue is empty (what the watcher does); exposed for owners that
 * want to drain right after a state change. */
void nev_poll(struct nev_sock *n);
/* Stops the watchers: no callback runs afterwards and the receive loop of a callback on
 * the stack stops at once; the NNG socket stays open until nev_close. Idempotent. */
void nev_stop(struct nev_sock *n);
/* nev_stop, then closes the NNG socket, waiting at most NEV_CLOSE_WAIT_MS (then logged and
 * abandoned to a helper thread). Not from inside a callback of this nev_sock: owners defer
 * it with a zero timer. Idempotent. */
void nev_close(struct nev_sock *n);
/* nev_close, then frees what nev_start set up; once no callback is on the stack. */
void nev_destroy(struct nev_sock *n);
/* Closes any NNG socket the same bounded way: 0 closed, -1 abandoned (still closing). */
int nev_close_socket(nng_socket s);

#endif
