/* Router ↔ storage request pool (storeq.h): req0 raw on the router with its own request ids
 * and libev timeouts, rep0 on each storage worker. Never resends: a request is answered once,
 * times out, or is reset; a reply nobody waits for is dropped and counted. */
#include "storeq.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nngev.h"
#include "xe.h"
#include "xlimits.h"

#define STOREQ_BUCKETS	1024u		/* pending-call hash (power of two) */
#define STOREQ_MSG_MAX	(XE_HDR_LEN + 2u * XE_MAX_JID + XE_MAX_BODY + 64u)
#define STOREQ_BUFS	64		/* NNG RECVBUF, in messages */
#define STOREQ_ID_BIT	0x80000000u	/* the SP request-id marker: last word of the backtrace */
#define STOREQ_RECONN_MIN_MS 50
#define STOREQ_RECONN_MAX_MS 1000

struct storeq_pending {
	struct storeq_pending *hnext;		/* hash chain */
	struct storeq_pending *qnext;		/* send queue (NNG was full) */
	struct storeq_client *c;
	uint32_t id;
	int status;				/* reported when the timer fires */
	ev_timer timer;
	storeq_done_fn cb;
	void *arg;
	nng_msg *unsent;			/* owned while queued */
};

struct storeq_client {
	struct nev_sock nev;
	struct ev_loop *loop;
	struct storeq_pending *buckets[STOREQ_BUCKETS];
	struct storeq_pending *sq_head, *sq_tail;
	uint32_t next_id;
	struct storeq_stats st;
	ev_timer reaper;
	int depth, closing;
};

struct storeq_server {
	struct nev_sock nev;
	struct ev_loop *loop;
	storeq_handler_fn handler;
	void *arg;
	struct buf reply;
	ev_timer reaper;
	int depth, closing;
};

/* ---- client (router side) ---- */

static struct storeq_pending **storeq_slot(struct storeq_client *c, uint32_t id)
{
	struct storeq_pending **pp = &c->buckets[id & (STOREQ_BUCKETS - 1)];
	while (*pp && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

static void storeq_unqueue(struct storeq_client *c, struct storeq_pending *p)
{
	struct storeq_pending **pp = &c->sq_head, *prev = NULL;
	while (*pp && *pp != p) {
		prev = *pp;
		pp = &(*pp)->qnext;
	}
	if (!*pp)
		return;
	*pp = p->qnext;
	if (c->sq_tail == p)
		c->sq_tail = prev;
	p->qnext = NULL;
}

/* Removes p from every table, then reports status once. */
static void storeq_finish(struct storeq_client *c, struct storeq_pending *p, int status,
			  const uint8_t *reply, size_t len)
{
	struct storeq_pending **slot = storeq_slot(c, p->id);
	if (*slot == p)
		*slot = p->hnext;
	if (p->unsent) {
		storeq_unqueue(c, p);
		nng_msg_free(p->unsent);
		p->unsent = NULL;
	}
	ev_timer_stop(c->loop, &p->timer);
	c->st.pending--;
	c->depth++;
	p->cb(p->arg, status, reply, len);
	c->depth--;
	free(p);
}

static void storeq_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct storeq_pending *p = w->data;
	if (p->status == -ETIMEDOUT)
		p->c->st.timeouts++;
	storeq_finish(p->c, p, p->status, NULL, 0);
}

/* Hands queued requests to NNG in call order until it is full again. */
static void storeq_flush(struct storeq_client *c)
{
	while (c->sq_head && !c->closing) {
		struct storeq_pending *p = c->sq_head;
		int rv = nev_send(&c->nev, p->unsent);
		if (rv == NNG_EAGAIN)
			return;
		c->sq_head = p->qnext;
		if (!c->sq_head)
			c->sq_tail = NULL;
		p->qnext = NULL;
		if (rv != 0) {
			/* the socket is broken: fail the call on the loop, not here */
			nng_msg_free(p->unsent);
			p->status = -ECONNRESET;
			ev_timer_stop(c->loop, &p->timer);
			ev_timer_set(&p->timer, 0., 0.);
			ev_timer_start(c->loop, &p->timer);
		}
		p->unsent = NULL;
	}
}

static void storeq_client_recv(void *arg, nng_msg *m)
{
	struct storeq_client *c = arg;
	uint32_t id;
	if (c->closing || nng_msg_header_len(m) != 4 || nng_msg_header_trim_u32(m, &id) != 0 ||
	    !(id & STOREQ_ID_BIT)) {
		c->st.bad++;
		nng_msg_free(m);
		return;
	}
	struct storeq_pending *p = *storeq_slot(c, id);
	if (!p || p->unsent) {
		c->st.late++;	/* timed out already (or never sent: cannot be ours) */
		nng_msg_free(m);
		return;
	}
	storeq_finish(c, p, 0, nng_msg_body(m), nng_msg_len(m));
	nng_msg_free(m);
}

static void storeq_client_writable(void *arg) { storeq_flush(arg); }

static void storeq_client_pipe(void *arg, uint32_t pipe, int ev)
{
	struct storeq_client *c = arg;
	(void)pipe;
	if (ev == NNG_PIPE_EV_ADD_POST) {
		c->st.peers++;
		storeq_flush(c);
	} else if (c->st.peers > 0) {
		c->st.peers--;
	}
}

static const struct nev_ops storeq_client_ops = {
	.recv = storeq_client_recv,
	.writable = storeq_client_writable,
	.pipe = storeq_client_pipe,
};

static void storeq_client_free(struct storeq_client *c)
{
	nev_destroy(&c->nev);
	free(c);
}

static void storeq_client_reap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	storeq_client_free(w->data);
}

struct storeq_client *storeq_listen(struct ev_loop *loop, const char *url)
{
	nng_socket s;
	nng_listener lst;
	int rv;
	struct storeq_client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->loop = loop;
	c->next_id = 1;
	ev_timer_init(&c->reaper, storeq_client_reap_cb, 0., 0.);
	c->reaper.data = c;
	if ((rv = nng_req0_open_raw(&s)) != 0) {
		free(c);
		goto fail;
	}
	/* SENDBUF 0: a request leaves our queue only when a storage worker takes it, so a
	 * call that timed out is never delivered afterwards */
	if ((rv = nev_sock_limits(s, STOREQ_BUFS, 0, STOREQ_MSG_MAX)) != 0) {
		nng_close(s);
		free(c);
		goto fail;
	}
	if ((rv = nev_start(&c->nev, loop, s, &storeq_client_ops, c)) != 0) {
		nev_destroy(&c->nev);
		free(c);
		goto fail;
	}
	if ((rv = nng_listener_create(&lst, s, url)) != 0 ||
	    (strncmp(url, "ipc://", 6) == 0 &&
	     (rv = nng_listener_set_int(lst, NNG_OPT_IPC_PERMISSIONS, 0660)) != 0) ||
	    (rv = nng_listener_start(lst, 0)) != 0) {
		storeq_client_free(c);
		goto fail;
	}
	return c;
fail:
	log_err("cannot listen for storage workers", "url=%s err=\"%s\"", url, nng_strerror(rv));
	errno = rv == NNG_EADDRINUSE ? EADDRINUSE : EIO;
	return NULL;
}

static uint32_t storeq_new_id(struct storeq_client *c)
{
	for (;;) {
		uint32_t id = (c->next_id++ & ~STOREQ_ID_BIT) | STOREQ_ID_BIT;
		if (!*storeq_slot(c, id))
			return id;
	}
}

int storeq_call(struct storeq_client *c, const uint8_t *req, size_t len, unsigned timeout_ms,
		storeq_done_fn cb, void *arg)
{
	if (c->closing || !cb) {
		errno = c->closing ? EPIPE : EINVAL;
		return -1;
	}
	if (len > STOREQ_MSG_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	struct storeq_pending *p = calloc(1, sizeof(*p));
	if (!p)
		return -1;
	p->id = storeq_new_id(c);
	if (nng_msg_alloc(&p->unsent, 0) != 0 ||
	    nng_msg_header_append_u32(p->unsent, p->id) != 0 ||
	    (len && nng_msg_append(p->unsent, req, len) != 0)) {
		if (p->unsent)
			nng_msg_free(p->unsent);
		free(p);
		errno = ENOMEM;
		return -1;
	}
	p->c = c;
	p->cb = cb;
	p->arg = arg;
	p->status = -ETIMEDOUT;
	ev_timer_init(&p->timer, storeq_timeout_cb, timeout_ms / 1000., 0.);
	p->timer.data = p;
	ev_timer_start(c->loop, &p->timer);
	struct storeq_pending **slot = &c->buckets[p->id & (STOREQ_BUCKETS - 1)];
	p->hnext = *slot;
	*slot = p;
	c->st.pending++;
	if (c->sq_tail)
		c->sq_tail->qnext = p;
	else
		c->sq_head = p;
	c->sq_tail = p;
	storeq_flush(c);
	return 0;
}

struct storeq_stats storeq_client_stats(const struct storeq_client *c) { return c->st; }

void storeq_client_close(struct storeq_client *c)
{
	if (!c || c->closing)
		return;
	c->closing = 1;
	nev_stop(&c->nev);
	for (unsigned b = 0; b < STOREQ_BUCKETS; b++)
		while (c->buckets[b])
			storeq_finish(c, c->buckets[b], -ECONNRESET, NULL, 0);
	/* inside a callback the NNG socket is closed (and c freed) once it returned */
	if (c->depth > 0 || c->nev.in_dispatch)
		ev_timer_start(c->loop, &c->reaper);
	else
		storeq_client_free(c);
}

/* ---- server (storage side) ---- */

static void storeq_server_recv(void *arg, nng_msg *m)
{
	struct storeq_server *s = arg;
	nng_msg *r = NULL;
	int rv;
	buf_reset(&s->reply);
	s->depth++;
	s->handler(s->arg, nng_msg_body(m), nng_msg_len(m), &s->reply);
	s->depth--;
	/* requests may carry SASL proofs: do not leave them in freed memory */
	explicit_bzero(nng_msg_body(m), nng_msg_len(m));
	nng_msg_free(m);
	if (s->closing) {
		explicit_bzero(s->reply.data, s->reply.len);
		return;
	}
	if ((rv = nng_msg_alloc(&r, 0)) != 0 ||
	    (s->reply.len && (rv = nng_msg_append(r, s->reply.data, s->reply.len)) != 0)) {
		log_err("storage reply allocation failed", "err=\"%s\"", nng_strerror(rv));
		if (r)
			nng_msg_free(r);
	} else if ((rv = nng_sendmsg(s->nev.sock, r, 0)) != 0) {
		/* the router is gone or stuck; it times the request out itself */
		log_warn("storage reply not sent", "err=\"%s\"", nng_strerror(rv));
		nng_msg_free(r);
	}
	explicit_bzero(s->reply.data, s->reply.len);
	buf_reset(&s->reply);
}

static const struct nev_ops storeq_server_ops = {
	.recv = storeq_server_recv,
};

static void storeq_server_free(struct storeq_server *s)
{
	nev_destroy(&s->nev);
	buf_wipe_free(&s->reply);
	free(s);
}

static void storeq_server_reap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	storeq_server_free(w->data);
}

struct storeq_server *storeq_dial(struct ev_loop *loop, const char *url, storeq_handler_fn h,
				  void *arg)
{
	nng_socket sock;
	int rv;
	if (!h) {
		errno = EINVAL;
		return NULL;
	}
	struct storeq_server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->loop = loop;
	s->handler = h;
	s->arg = arg;
	buf_init(&s->reply);
	ev_timer_init(&s->reaper, storeq_server_reap_cb, 0., 0.);
	s->reaper.data = s;
	if ((rv = nng_rep0_open(&sock)) != 0) {
		free(s);
		goto fail;
	}
	if ((rv = nev_sock_limits(sock, STOREQ_BUFS, STOREQ_BUFS, STOREQ_MSG_MAX)) != 0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, STORE_TIMEOUT_MS)) != 0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_RECONNMINT, STOREQ_RECONN_MIN_MS)) != 0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_RECONNMAXT, STOREQ_RECONN_MAX_MS)) != 0) {
		nng_close(sock);
		free(s);
		goto fail;
	}
	if ((rv = nev_start(&s->nev, loop, sock, &storeq_server_ops, s)) != 0) {
		nev_destroy(&s->nev);
		free(s);
		goto fail;
	}
	/* nonblocking: redialled until the router listens, and after each router restart */
	if ((rv = nev_dial(&s->nev, url)) != 0) {
		storeq_server_free(s);
		goto fail;
	}
	return s;
fail:
	log_err("cannot dial the router for storage", "url=%s err=\"%s\"", url, nng_strerror(rv));
	errno = EIO;
	return NULL;
}

void storeq_server_close(struct storeq_server *s)
{
	if (!s || s->closing)
		return;
	s->closing = 1;
	nev_stop(&s->nev);
	if (s->depth > 0 || s->nev.in_dispatch)
		ev_timer_start(s->loop, &s->reaper);
	else
		storeq_server_free(s);
}
