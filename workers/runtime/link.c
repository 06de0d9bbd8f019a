/* Stanza links (link.h): NNG pair1 with sequence numbers, cumulative acks and replay.
 * Frames from the peer are untrusted: malformed ones are counted and dropped, never acted on. */
#include "link.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "buf.h"
#include "log.h"
#include "nngev.h"
#include "xe.h"
#include "xlimits.h"

#define LINK_MAGIC	0x584C4B32u	/* "XLK2": batched frames (XLK1 was one frame per message) */
#define LINK_MAGIC_LEN	4u
#define LINK_REC_LEN	4u		/* u32 length in front of each frame */
#define LINK_FHDR_LEN	20u		/* frame header: type, seq, ack */
#define LINK_BUFS	256		/* NNG RECVBUF/SENDBUF, in messages */
#define LINK_ENV_MAX	(XE_HDR_LEN + 2u * XE_MAX_JID + XE_MAX_BODY)
#define LINK_RECONN_MIN_MS 50
#define LINK_RECONN_MAX_MS 1000
/* A batch closes at LINK_BATCH_FRAMES frames or before LINK_BATCH_BYTES bytes; a frame that
 * is larger on its own travels alone. Receivers accept the larger of the two. */
#define LINK_BATCH_FRAMES 64u
#define LINK_BATCH_BYTES (64u << 10)
#define LINK_FRAME_MAX	(LINK_REC_LEN + LINK_FHDR_LEN + LINK_ENV_MAX)
#define LINK_MSG_MAX	(LINK_MAGIC_LEN + (LINK_FRAME_MAX > LINK_BATCH_BYTES ? \
					   LINK_FRAME_MAX : LINK_BATCH_BYTES))

enum link_frame_type { LINK_F_DATA = 1, LINK_F_ACK, LINK_F_HELLO };

/* One sent envelope kept until the peer acknowledges it. */
struct link_frame {
	struct link_frame *next;
	uint64_t seq;
	size_t len;
	uint8_t env[];
};

struct link {
	struct nev_sock nev;
	struct ev_loop *loop;
	struct link_opts o;
	const struct link_ops *ops;
	void *arg;
	uint64_t epoch;			/* ours, sent in HELLO */
	uint64_t peer_epoch;		/* 0 until the first HELLO */
	uint32_t hello_pipe;		/* pipe our HELLO went out on */
	uint32_t ready_pipe;		/* pipe the peer's HELLO came on; 0 = peer not ready */
	uint32_t removed_pipe;		/* last pipe NNG removed: its late HELLO is ignored */
	int hello_pending;		/* our HELLO hit NNG_EAGAIN */
	/* sending */
	uint64_t next_seq;
	uint64_t sent_max;		/* highest seq handed to NNG (acks above it are bogus) */
	struct link_frame *head, *tail, *next_send;
	size_t nframes, nbytes;
	size_t pend_frames, pend_bytes;	/* queued by link_send since the last flush */
	/* receiving, reset for each new peer epoch */
	uint64_t delivered, done, ack_sent;
	ev_prepare ackw;		/* sends pending DATA and ACK, batched, once the loop has
					 * drained its events (before it blocks) */
	ev_timer reaper;		/* frees a link closed from inside its own callback */
	int depth, closing;
	struct link_stats st;
};

/* One epoch per process, so every peer sees a restart of this process on every link;
 * global because it belongs to the process, not to a link. */
static uint64_t link_process_epoch;

void link_new_epoch(void)
{
	uint64_t old = link_process_epoch;
	link_process_epoch = 0;
	while (link_epoch() == old)
		link_process_epoch = 0;
}

uint64_t link_epoch(void)
{
	while (link_process_epoch == 0) {
		uint64_t e;
		if (getrandom(&e, sizeof(e), 0) != (ssize_t)sizeof(e))
			fatal("getrandom failed for the link epoch", "errno=%d", errno);
		link_process_epoch = e;
	}
	return link_process_epoch;
}

static uint8_t *link_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(v >> (24 - 8 * i));
	return p;
}

static uint8_t *link_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(v >> (56 - 8 * i));
	return p;
}

/* Writes one length-prefixed frame at p (LINK_REC_LEN + LINK_FHDR_LEN + len bytes). */
static uint8_t *link_put_frame(uint8_t *p, uint32_t type, uint64_t seq, uint64_t ack,
			       const void *payload, size_t len)
{
	p = link_put_u32(p, (uint32_t)(LINK_FHDR_LEN + len));
	p = link_put_u32(p, type);
	p = link_put_u64(p, seq);
	p = link_put_u64(p, ack);
	if (len)
		memcpy(p, payload, len);
	return p + len;
}

/* An NNG message of exactly len bytes that starts with the magic; *at points past it. */
static nng_msg *link_msg_alloc(size_t len, uint8_t **at)
{
	nng_msg *m;
	if (nng_msg_alloc(&m, len) != 0)
		return NULL;
	*at = link_put_u32(nng_msg_body(m), LINK_MAGIC);
	return m;
}

/* A batch of one control frame. */
static nng_msg *link_frame_msg(uint32_t type, uint64_t seq, uint64_t ack, const void *payload,
			       size_t len)
{
	uint8_t *p;
	nng_msg *m = link_msg_alloc(LINK_MAGIC_LEN + LINK_REC_LEN + LINK_FHDR_LEN + len, &p);
	if (m)
		link_put_frame(p, type, seq, ack, payload, len);
	return m;
}

/* One NNG message carrying the unsent DATA frames from l->next_send on, up to the batch
 * limits; *last is the last frame it holds, *count how many. Every frame carries l->done. */
static nng_msg *link_batch_msg(struct link *l, struct link_frame **last, size_t *count)
{
	size_t total = LINK_MAGIC_LEN, n = 0;
	struct link_frame *f = l->next_send, *end = NULL;
	for (; f && n < LINK_BATCH_FRAMES; f = f->next) {
		size_t fl = LINK_REC_LEN + LINK_FHDR_LEN + f->len;
		if (n > 0 && total + fl > LINK_BATCH_BYTES)
			break;
		total += fl;
		n++;
		end = f;
	}
	uint8_t *p;
	nng_msg *m = link_msg_alloc(total, &p);
	if (!m)
		return NULL;
	for (f = l->next_send;; f = f->next) {
		p = link_put_frame(p, LINK_F_DATA, f->seq, l->done, f->env, f->len);
		if (f == end)
			break;
	}
	*last = end;
	*count = n;
	return m;
}

/* 0 sent, 1 the socket is full (retry on writable), -1 failed (logged). */
static int link_xmit(struct link *l, nng_msg *m)
{
	if (!m) {
		log_err("link frame allocation failed", "%s", "");
		return -1;
	}
	int rv = nev_send(&l->nev, m);
	if (rv == 0)
		return 0;
	nng_msg_free(m);
	if (rv == NNG_EAGAIN)
		return 1;
	if (rv != NNG_ECLOSED)
		log_warn("link send failed", "err=\"%s\"", nng_strerror(rv));
	return -1;
}

static int link_send_hello(struct link *l)
{
	uint8_t e[8];
	uint64_t epoch = l->epoch;
	for (int i = 0; i < 8; i++)
		e[i] = (uint8_t)(epoch >> (56 - 8 * i));
	int rc = link_xmit(l, link_frame_msg(LINK_F_HELLO, 0, l->done, e, sizeof(e)));
	l->hello_pending = rc == 1;
	if (rc == 0 && l->done > l->ack_sent)
		l->ack_sent = l->done;
	return rc;
}

/* Sends what is due, in order: our HELLO, then unsent DATA in batches (once the peer said
 * HELLO), then a bare ACK if nothing carried the latest ack. Stops at the first full socket. */
static void link_flush(struct link *l)
{
	l->pend_frames = l->pend_bytes = 0;
	if (l->closing)
		return;
	if (l->hello_pending && link_send_hello(l) != 0)
		return;
	if (!l->ready_pipe)
		return;
	while (l->next_send) {
		struct link_frame *last = NULL;
		size_t n = 0;
		if (link_xmit(l, link_batch_msg(l, &last, &n)) != 0)
			return;
		l->ack_sent = l->done;
		if (last->seq > l->sent_max)
			l->sent_max = last->seq;
		l->st.frames_sent += n;
		l->next_send = last->next;
	}
	if (l->done > l->ack_sent &&
	    link_xmit(l, link_frame_msg(LINK_F_ACK, 0, l->done, NULL, 0)) == 0) {
		l->ack_sent = l->done;
		l->st.acks_sent++;
	}
}

static void link_ack_due(struct link *l)
{
	if (l->done > l->ack_sent && !ev_is_active(&l->ackw))
		ev_prepare_start(l->loop, &l->ackw);
}

/* A frame of len bytes is about to be queued: when it would not fit in the batch that is
 * waiting, that batch goes out now (while the socket is full, the writable callback sends).
 * The rest goes out when the loop is about to block. */
static void link_data_due(struct link *l, size_t len)
{
	size_t fl = LINK_REC_LEN + LINK_FHDR_LEN + len;
	if (ev_is_active(&l->nev.wio))
		return;
	if (l->pend_frames > 0 && (l->pend_frames >= LINK_BATCH_FRAMES ||
				   LINK_MAGIC_LEN + l->pend_bytes + fl > LINK_BATCH_BYTES))
		link_flush(l);
	l->pend_frames++;
	l->pend_bytes += fl;
	if (!ev_is_active(&l->ackw))
		ev_prepare_start(l->loop, &l->ackw);
}

static void link_ack_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)revents;
	struct link *l = w->data;
	ev_prepare_stop(loop, w);
	link_flush(l);
}

static void link_free(struct link *l)
{
	struct link_frame *f = l->head;
	while (f) {
		struct link_frame *next = f->next;
		free(f);
		f = next;
	}
	nev_destroy(&l->nev);
	free(l);
}

static void link_reaper_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	link_free(w->data);
}

/* Callbacks into the application go through these, so link_close inside one is safe:
 * after each call the caller checks l->closing and stops touching the link. */
static void link_cb_recv(struct link *l, uint64_t seq, const uint8_t *p, size_t n)
{
	l->depth++;
	l->ops->recv(l->arg, l, seq, p, n);
	l->depth--;
}

static void link_cb_event(struct link *l, int event)
{
	if (!l->ops->event)
		return;
	l->depth++;
	l->ops->event(l->arg, l, event);
	l->depth--;
}

static void link_cb_acked(struct link *l, uint64_t upto)
{
	if (!l->ops->acked)
		return;
	l->depth++;
	l->ops->acked(l->arg, l, upto);
	l->depth--;
}

/* The peer acknowledged everything up to ack: trim the window. */
static void link_take_ack(struct link *l, uint64_t ack)
{
	if (ack == 0 || ack <= (l->head ? l->head->seq - 1 : l->sent_max))
		return;		/* nothing new */
	if (ack > l->sent_max) {
		l->st.frames_bad++;	/* acknowledges what was never sent */
		return;
	}
	while (l->head && l->head->seq <= ack) {
		struct link_frame *f = l->head;
		l->head = f->next;
		if (l->next_send == f)
			l->next_send = f->next;
		l->nframes--;
		l->nbytes -= f->len;
		free(f);
	}
	if (!l->head)
		l->tail = NULL;
	link_cb_acked(l, ack);
}

static void link_append(struct link *l, struct link_frame *f)
{
	f->next = NULL;
	f->seq = l->next_seq++;
	if (l->tail)
		l->tail->next = f;
	else
		l->head = f;
	l->tail = f;
	l->nframes++;
	l->nbytes += f->len;
	if (!l->next_send)
		l->next_send = f;
}

/* A new peer process: reset the receive side, let the application speak first, then
 * replay (renumbered) or drop what was meant for the previous peer. Frames queued before the
 * first peer ever said HELLO were meant for nobody in particular: they are kept either way.
 * Renumbered frames always get higher numbers, so acked(upto) covers their old numbers too. */
static void link_new_peer(struct link *l, uint64_t epoch)
{
	struct link_frame *old = l->head;
	uint64_t was_sent = l->sent_max;
	int had_peer = l->peer_epoch != 0;
	l->peer_epoch = epoch;
	l->delivered = l->done = l->ack_sent = 0;
	l->head = l->tail = l->next_send = NULL;
	l->nframes = 0;
	l->nbytes = 0;
	l->sent_max = l->next_seq - 1;	/* acks from the new peer can only cover new numbers */
	l->st.peers++;
	if (!l->o.replay && had_peer && old) {
		uint64_t dropped_upto = 0;
		while (old) {
			struct link_frame *next = old->next;
			dropped_upto = old->seq;
			free(old);
			old = next;
		}
		link_cb_acked(l, dropped_upto);
	}
	if (!l->closing)
		link_cb_event(l, LINK_PEER_NEW);
	while (old) {
		struct link_frame *next = old->next;
		if (l->closing) {
			free(old);
		} else {
			if (old->seq <= was_sent)
				l->st.replayed++;
			link_append(l, old);
		}
		old = next;
	}
}

static void link_on_hello(struct link *l, uint32_t pipe, uint64_t ack, struct rbuf *r)
{
	uint64_t epoch;
	if (rbuf_get_u64(r, &epoch) < 0 || rbuf_done(r) < 0 || epoch == 0) {
		l->st.frames_bad++;
		return;
	}
	if (pipe != 0 && pipe == l->removed_pipe)
		return;		/* from a pipe that is already gone */
	if (l->hello_pipe != pipe) {
		/* the HELLO overtook NNG's pipe notification: ours must go first */
		l->hello_pipe = pipe;
		link_send_hello(l);
	}
	l->ready_pipe = pipe;
	if (epoch != l->peer_epoch) {
		link_new_peer(l, epoch);
		if (l->closing)
			return;
	} else {
		/* the same peer on a new pipe: what it did not acknowledge may be lost */
		link_take_ack(l, ack);
		if (l->closing)
			return;
		l->next_send = l->head;
	}
	link_flush(l);
}

static void link_on_data(struct link *l, uint64_t seq, uint64_t ack, struct rbuf *r)
{
	size_t n = rbuf_left(r);
	const uint8_t *p;
	if (seq == 0 || n == 0 || rbuf_get_bytes(r, n, &p) < 0) {
		l->st.frames_bad++;
		return;
	}
	link_take_ack(l, ack);
	if (l->closing)
		return;
	if (seq <= l->delivered) {
		l->st.frames_dup++;
		return;
	}
	l->delivered = seq;
	l->st.frames_recv++;
	link_cb_recv(l, seq, p, n);
	if (l->closing)
		return;
	if (l->o.auto_ack && seq > l->done) {
		l->done = seq;
		link_ack_due(l);
	}
}

/* One frame (type, seq, ack, payload) of a batch, exactly len bytes at p. */
static void link_on_frame(struct link *l, uint32_t pipe, const uint8_t *p, size_t len)
{
	struct rbuf r;
	uint32_t type;
	uint64_t seq, ack;
	rbuf_init(&r, p, len);
	if (rbuf_get_u32(&r, &type) < 0 || rbuf_get_u64(&r, &seq) < 0 ||
	    rbuf_get_u64(&r, &ack) < 0) {
		l->st.frames_bad++;
	} else if (type == LINK_F_HELLO) {
		link_on_hello(l, pipe, ack, &r);
	} else if (type != LINK_F_DATA && type != LINK_F_ACK) {
		l->st.frames_bad++;
	} else if (l->peer_epoch == 0) {
		l->st.frames_stale++;	/* sent to a process before us, or before its HELLO */
	} else if (type == LINK_F_DATA) {
		link_on_data(l, seq, ack, &r);
	} else if (seq != 0 || rbuf_done(&r) < 0) {
		l->st.frames_bad++;
	} else {
		link_take_ack(l, ack);
	}
}

/* The whole batch is well formed: the magic, then frames whose lengths are each at least a
 * frame header and end exactly at the end of the message. */
static int link_batch_ok(const uint8_t *p, size_t len)
{
	struct rbuf r;
	uint32_t magic, flen;
	const uint8_t *skip;
	rbuf_init(&r, p, len);
	if (rbuf_get_u32(&r, &magic) < 0 || magic != LINK_MAGIC || rbuf_left(&r) == 0)
		return 0;
	while (rbuf_left(&r) > 0)
		if (rbuf_get_u32(&r, &flen) < 0 || flen < LINK_FHDR_LEN ||
		    rbuf_get_bytes(&r, flen, &skip) < 0)
			return 0;
	return 1;
}

/* nev recv: one batch from the peer, checked as a whole before any frame in it counts,
 * then handled frame by frame, in order, exactly as if each had come alone. */
static void link_nev_recv(void *arg, nng_msg *m)
{
	struct link *l = arg;
	const uint8_t *body = nng_msg_body(m);
	size_t len = nng_msg_len(m);
	uint32_t pipe = (uint32_t)nng_pipe_id(nng_msg_get_pipe(m));
	if (!link_batch_ok(body, len)) {
		l->st.frames_bad++;
		nng_msg_free(m);
		return;
	}
	struct rbuf r;
	uint32_t magic, flen;
	const uint8_t *f;
	rbuf_init(&r, body, len);
	(void)rbuf_get_u32(&r, &magic);
	while (!l->closing && rbuf_get_u32(&r, &flen) == 0 && rbuf_get_bytes(&r, flen, &f) == 0)
		link_on_frame(l, pipe, f, flen);
	nng_msg_free(m);
}

static void link_nev_writable(void *arg)
{
	link_flush(arg);
}

static void link_nev_pipe(void *arg, uint32_t pipe, int ev)
{
	struct link *l = arg;
	if (ev == NNG_PIPE_EV_ADD_POST) {
		if (l->hello_pipe != pipe) {
			l->hello_pipe = pipe;
			link_send_hello(l);
		}
		return;
	}
	l->removed_pipe = pipe;
	if (l->hello_pipe == pipe)
		l->hello_pipe = 0;
	if (l->ready_pipe != pipe)
		return;
	l->ready_pipe = 0;
	l->next_send = l->head;	/* unacknowledged frames may have died with the pipe */
	link_cb_event(l, LINK_PEER_DOWN);
}

static const struct nev_ops link_nev_ops = {
	.recv = link_nev_recv,
	.writable = link_nev_writable,
	.pipe = link_nev_pipe,
};

static struct link *link_open(struct ev_loop *loop, const struct link_opts *o,
			      const struct link_ops *ops, void *arg)
{
	nng_socket s;
	int rv;
	if (!ops || !ops->recv) {
		errno = EINVAL;
		return NULL;
	}
	struct link *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->loop = loop;
	if (o)
		l->o = *o;
	if (!l->o.max_unacked_bytes)
		l->o.max_unacked_bytes = LINK_MAX_UNACKED;
	if (!l->o.recv_max)
		l->o.recv_max = LINK_MSG_MAX;
	l->ops = ops;
	l->arg = arg;
	l->next_seq = 1;
	ev_prepare_init(&l->ackw, link_ack_cb);
	l->ackw.data = l;
	ev_timer_init(&l->reaper, link_reaper_cb, 0., 0.);
	l->reaper.data = l;
	l->epoch = link_epoch();
	if ((rv = nng_pair1_open(&s)) != 0)
		goto fail;
	if ((rv = nev_sock_limits(s, LINK_BUFS, LINK_BUFS, l->o.recv_max)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECONNMINT, LINK_RECONN_MIN_MS)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, LINK_RECONN_MAX_MS)) != 0) {
		nng_close(s);
		goto fail;
	}
	if ((rv = nev_start(&l->nev, loop, s, &link_nev_ops, l)) != 0) {
		nev_destroy(&l->nev);
		goto fail;
	}
	return l;
fail:
	log_err("cannot open a stanza link", "err=\"%s\"", nng_strerror(rv));
	free(l);
	errno = EIO;
	return NULL;
}

struct link *link_listen(struct ev_loop *loop, const char *url, const struct link_opts *o,
			 const struct link_ops *ops, void *arg)
{
	struct link *l = link_open(loop, o, ops, arg);
	nng_listener lst;
	int rv;
	if (!l)
		return NULL;
	if ((rv = nng_listener_create(&lst, l->nev.sock, url)) != 0)
		goto fail;
	if (strncmp(url, "ipc://", 6) == 0 &&
	    (rv = nng_listener_set_int(lst, NNG_OPT_IPC_PERMISSIONS, 0660)) != 0)
		goto fail;
	if ((rv = nng_listener_start(lst, 0)) != 0)
		goto fail;
	return l;
fail:
	log_err("cannot listen for a stanza link", "url=%s err=\"%s\"", url, nng_strerror(rv));
	link_free(l);
	errno = rv == NNG_EADDRINUSE ? EADDRINUSE : EIO;
	return NULL;
}

struct link *link_dial(struct ev_loop *loop, const char *url, const struct link_opts *o,
		       const struct link_ops *ops, void *arg)
{
	struct link *l = link_open(loop, o, ops, arg);
	int rv;
	if (!l)
		return NULL;
	/* nonblocking: redialled until the router listens, and after each router restart */
	if ((rv = nev_dial(&l->nev, url)) != 0) {
		log_err("cannot dial a stanza link", "url=%s err=\"%s\"", url, nng_strerror(rv));
		link_free(l);
		errno = EIO;
		return NULL;
	}
	return l;
}

int link_send(struct link *l, const uint8_t *env, size_t len, uint64_t *seq)
{
	if (l->closing) {
		errno = EPIPE;
		return -1;
	}
	if (len == 0 || len > LINK_ENV_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (l->nframes >= LINK_MAX_UNACKED_MSGS || len > l->o.max_unacked_bytes - l->nbytes ||
	    l->nbytes > l->o.max_unacked_bytes) {
		errno = ENOBUFS;
		return -1;
	}
	struct link_frame *f = malloc(sizeof(*f) + len);
	if (!f)
		return -1;
	f->len = len;
	memcpy(f->env, env, len);
	link_data_due(l, len);
	link_append(l, f);
	if (seq)
		*seq = f->seq;
	return 0;
}

void link_done_upto(struct link *l, uint64_t seq)
{
	if (l->closing || seq <= l->done)
		return;
	if (seq > l->delivered)
		seq = l->delivered;
	l->done = seq;
	link_ack_due(l);
}

size_t link_unacked(const struct link *l) { return l->nframes; }
uint64_t link_peer_epoch(const struct link *l) { return l->peer_epoch; }
struct link_stats link_stats(const struct link *l) { return l->st; }

void link_close(struct link *l)
{
	if (!l || l->closing)
		return;
	if (ev_is_active(&l->ackw))
		link_flush(l);	/* the batch waiting for the loop goes out, as if sent at once */
	l->closing = 1;
	ev_prepare_stop(l->loop, &l->ackw);
	if (l->depth > 0 || l->nev.in_dispatch) {
		/* inside a callback: stop now, close the NNG socket and free once it returned */
		nev_stop(&l->nev);
		ev_timer_start(l->loop, &l->reaper);
	} else {
		link_free(l);
	}
}
