/* The XMPP stream engine shared by c2s (TCP) and http (WebSocket, BOSH): the process environment,
 * one connection (= one client stream and, once bound, one session), the transport ops a connection
 * is driven through, and the functions the engine and transport files offer each other. */
#ifndef XMPPD_C2S_H
#define XMPPD_C2S_H
#include <ev.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "link.h"
#include "sasl.h"
#include "worker.h"
#include "xml.h"

#define C2S_READ_CHUNK 16384u		/* one read from a socket */
#define C2S_READS_PER_EVENT 4		/* then other connections get their turn */
#define C2S_OUT_MAX (4u << 20)		/* default bytes queued for a client before we give up on it */
#define C2S_CLOSE_LINGER 5.0		/* seconds to flush a closing stream */
#define C2S_ACCEPT_PAUSE 0.5		/* seconds listeners rest after EMFILE/ENFILE */
#define C2S_AUTH_DELAY 1.0		/* seconds per failed SASL attempt before <failure/> */
#define C2S_AUTH_DELAY_MAX 16.0
#define C2S_FAIL_FORGET 600.0		/* seconds after which failed logins are forgotten */
#define C2S_PING_DEFAULT 240u		/* seconds of silence before a server ping (XEP-0199) */
#define C2S_SWEEP_INTERVAL 60.0
#define C2S_NS_PING "urn:xmpp:ping"
#define C2S_NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"

struct c2s_vhost {
	char *name;
	SSL_CTX *tls;		/* NULL when the slice carried no certificate */
	int require_tls;
	int anonymous;		/* SASL ANONYMOUS offered */
	int refuse_conflict;	/* a resource in use: refuse the new bind instead of replacing */
	int registration;	/* XEP-0077 account creation before authentication */
};

/* An external component (XEP-0114) this worker accepts on its component listener. */
struct c2s_component {
	char *name, *secret;
};

enum c2s_tls_state { C2S_TLS_NONE, C2S_TLS_PENDING, C2S_TLS_HANDSHAKE, C2S_TLS_UP };

struct c2s_conn;

/* What the engine needs from the transport a stream runs on (TCP in c2s/conn.c, WebSocket and
 * BOSH in http/). Optional ops are NULL where the transport has no such thing. */
struct c2s_conn_ops {
	/* queues complete top-level elements for the client; -1 when the stream is gone */
	int (*send)(struct c2s_conn *c, const void *p, size_t n);
	void (*close)(struct c2s_conn *c, int graceful);	/* 1: after queued output */
	void (*hold)(struct c2s_conn *c, int on);		/* stop / resume reading input */
	void (*wake)(struct c2s_conn *c);		/* re-check reading after env->paused changed */
	/* optional: the stream header and end (NULL: <stream:stream ...> and </stream:stream>) */
	int (*header)(struct c2s_conn *c, const char *from, const char *id);
	int (*end)(struct c2s_conn *c);
	void (*start_tls)(struct c2s_conn *c);		/* optional: NULL = no STARTTLS offered */
	/* optional: the TLS channel binding (enum c2s_cb_type); length or -1. NULL = no -PLUS */
	int (*cbinding)(struct c2s_conn *c, int type, uint8_t *out, size_t cap);
	const char *name;				/* "tcp", "ws", "bosh": logs and status */
};

struct c2s_conn {
	struct c2s_conn *prev, *next;		/* every connection */
	const struct c2s_conn_ops *ops;		/* the transport */
	void *tp;				/* the transport's own state (http), NULL for TCP */
	struct c2s_conn *sid_next, *req_next, *jid_next;	/* hash chains */
	int fd;
	ev_io rio, wio;
	ev_timer timer;			/* unauthenticated timeout, then close linger */
	ev_timer delay;			/* a failed SASL attempt is answered late */
	const char *delayed_cond;	/* the <failure/> condition being held back */
	unsigned auth_failures;
	SSL *ssl;
	struct c2s_tls13 *t13;		/* TLS 1.3 on our record layer (tls.c); ssl is NULL then */
	int tls;			/* enum c2s_tls_state */
	int read_wants_write, write_wants_read;
	struct c2s_xml *xml;
	struct buf out;
	ev_timer rtimer;		/* the byte-rate bucket refills */
	double rate_at;			/* last refill of the bucket, 0 = never */
	float tokens;
	uint8_t addr[16];		/* peer address (IPv4 mapped into IPv6) */
	int comp;			/* index in env->components when component = 1 */
	char *stream_id;		/* components only: the handshake hashes it */
	const struct c2s_vhost *vh;
	uint64_t sid;
	uint32_t reqid;			/* pending AUTH_REQ, 0 when none */
	struct c2s_scram *scram;	/* during SASL only */
	int sasl_wait_first;		/* <auth/> came without an initial response */
	unsigned hdr_sent : 1, authed : 1, bound : 1, closing : 1, restart : 1, in_read : 1,
	    freed_later : 1, direct_tls : 1, held : 1, unauth_counted : 1, throttled : 1, ping_out : 1,
	    active : 1, component : 1, anonymous : 1, reg_wait : 1;	/* reg_wait: reqid is a registration */
	unsigned bind_wait : 1;		/* reqid is a ROUTE_BIND the router has not answered yet */
	char *bind_id;			/* id of the bind IQ waiting for the router's answer */
	char *user;			/* localpart after SASL */
	char *reg_id;			/* id of the registration IQ in flight */
	char *jid;			/* full JID after bind */
	char *presence;			/* last broadcast presence, as forwarded */
	int32_t priority;
	struct buf state;		/* session state the router left with us (ipc/sstate.h) */
};

struct c2s_counters {
	uint64_t unknown_sid, bad_envelope, stale_auth, dropped_kind, send_errors;
};

struct c2s_env {
	struct ev_loop *loop;
	struct wrk_boot boot;
	struct c2s_vhost *vhosts;
	size_t nvhosts;
	size_t stanza_size;
	unsigned unauth_timeout;
	unsigned max_depth, max_attrs;	/* 0 = the parser's defaults */
	size_t out_max;
	unsigned ping_interval;
	uint64_t rate;			/* bytes/s per stream, 0 = unlimited */
	uint32_t conn_per_ip;		/* unauthenticated streams per address */
	uint32_t regs_per_ip;		/* in-band registrations per address per 10 minutes */
	struct c2s_component *components;
	size_t ncomponents;
	ev_timer sweep;
	struct link *link;
	ev_io lio[WRK_MAX_LISTENERS];
	int ltls[WRK_MAX_LISTENERS];
	int lcomp[WRK_MAX_LISTENERS];	/* component listener (XEP-0114) */
	unsigned nlisteners;
	ev_timer accept_pause;		/* out of descriptors: listeners rest, then retry */
	struct c2s_conn *conns;
	size_t nconns;
	uint64_t next_sid;
	uint32_t next_reqid;
	struct buf backlog;		/* envelopes link_send refused (ENOBUFS): u32 len, bytes */
	int paused;			/* client reads stopped until the backlog drains */
	struct buf scratch;
	struct c2s_counters cnt;
	uint8_t rbuf[C2S_READ_CHUNK];
};

/* The one mutable global of the process (STYLE: one env per process). */
extern struct c2s_env *env;

/* The engine's calls into the transport. */
static inline int c2s_conn_send(struct c2s_conn *c, const void *p, size_t n) { return c->ops->send(c, p, n); }
int c2s_conn_send_str(struct c2s_conn *c, const char *s);
static inline void c2s_conn_close(struct c2s_conn *c, int graceful) { c->ops->close(c, graceful); }
static inline void c2s_conn_start_tls(struct c2s_conn *c) { c->ops->start_tls(c); }
/* Stops (on = 1) or resumes reading from c; resuming also processes buffered input. */
static inline void c2s_conn_hold(struct c2s_conn *c, int on) { c->ops->hold(c, on); }
static inline int c2s_conn_cbinding(struct c2s_conn *c, int type, uint8_t *out, size_t cap)
{
	return c->ops->cbinding ? c->ops->cbinding(c, type, out, cap) : -1;
}

/* conn_core.c: the transport-independent life of a connection */
/* Sets up c (zeroed by the caller) on ops: parser, session id, timers, lists. 0 or -1. */
int c2s_conn_setup(struct c2s_conn *c, const struct c2s_conn_ops *ops, void *tp,
		   void (*timer_cb)(struct ev_loop *loop, ev_timer *w, int revents));
/* Frees what the engine owns in c and unlinks it; the transport frees c itself afterwards. */
void c2s_conn_teardown(struct c2s_conn *c);
/* The stream is closing: its route goes (the router says unavailable), nothing more is read. */
void c2s_conn_end_session(struct c2s_conn *c);
/* Reads stop everywhere while the router link's window is full (env->paused), and resume. */
void c2s_conn_pause_all(void);
void c2s_conn_resume_all(void);
/* c is authenticated and bound: the unauthenticated timer becomes the ping timer. */
void c2s_conn_bound(struct c2s_conn *c);
/* c->timer fired on a live stream: the unauthenticated timeout, or a server ping when idle. */
void c2s_conn_idle(struct c2s_conn *c);

/* slice_in.c: fills env from a configuration slice; tls_new (NULL: none) builds the STARTTLS
 * context of a virtual host from its PEM bytes. Fatal on a malformed slice (start-up only). */
typedef SSL_CTX *(*c2s_tls_ctx_fn)(const uint8_t *cert, size_t cert_len, const uint8_t *key, size_t key_len);
void c2s_slice_read(const uint8_t *p, size_t n, c2s_tls_ctx_fn tls_new);
void c2s_env_defaults(struct c2s_env *e);	/* the limits before a slice says otherwise */

/* conn.c (c2s only): the TCP transport */
void c2s_accept_cb(struct ev_loop *loop, ev_io *w, int revents);

/* tls.c */
SSL_CTX *c2s_tls_ctx_new(const uint8_t *cert, size_t cert_len, const uint8_t *key, size_t key_len);
void c2s_tls_ctx_free(SSL_CTX *ctx);
int c2s_tls_begin(struct c2s_conn *c);		/* 0 or -1 */
/* The channel binding of c's TLS session (enum c2s_cb_type); length or -1 when unavailable. */
int c2s_tls_cbinding(struct c2s_conn *c, int type, uint8_t *out, size_t cap);
int c2s_tls_handshake(struct c2s_conn *c);	/* 1 done, 0 in progress, -1 failed */
ssize_t c2s_tls_read(struct c2s_conn *c, void *p, size_t n);	/* -1 + EAGAIN when blocked */
ssize_t c2s_tls_write(struct c2s_conn *c, const void *p, size_t n);
int c2s_tls_flush(struct c2s_conn *c);	/* record-layer bytes of our own (KeyUpdate); 0 or -1 */
int c2s_tls_pending(struct c2s_conn *c);	/* 1: a read would return data without the socket */
void c2s_tls_end(struct c2s_conn *c);

/* stream.c */
extern const struct c2s_xml_ops c2s_stream_ops;
void c2s_stream_error(struct c2s_conn *c, const char *cond);
const struct c2s_vhost *c2s_vhost_find(const char *name);
int c2s_stream_restart(struct c2s_conn *c);
int c2s_stream_send_header(struct c2s_conn *c, const char *ns, const char *from, const char *id);
int c2s_stream_send_end(struct c2s_conn *c);	/* </stream:stream> or the transport's own */

/* auth.c */
int c2s_auth_element(struct c2s_conn *c, const struct c2s_xml_elem *e);
void c2s_auth_reply(uint32_t reqid, int is_error, const uint8_t *body, size_t len);
void c2s_auth_abandon(struct c2s_conn *c);
/* Sends req as AUTH_REQ under a fresh request id owned by c; 0 or -1. */
int c2s_auth_request(struct c2s_conn *c, const struct buf *req);

/* register.c: XEP-0077 account creation before authentication */
int c2s_reg_offered(const struct c2s_conn *c);	/* the stream feature may be listed */
int c2s_reg_wanted(const struct c2s_conn *c, const struct c2s_xml_elem *e);
int c2s_reg_iq(struct c2s_conn *c, const struct c2s_xml_elem *e);
void c2s_reg_reply(struct c2s_conn *c, int is_error, const uint8_t *body, size_t len);

/* session.c */
void c2s_sess_add(struct c2s_conn *c);			/* by sid */
void c2s_sess_remove(struct c2s_conn *c);		/* every table */
struct c2s_conn *c2s_sess_by_sid(uint64_t sid);
struct c2s_conn *c2s_sess_by_jid(const char *jid);
int c2s_sess_bind_jid(struct c2s_conn *c, const char *jid);	/* takes a copy */
void c2s_sess_unbind_jid(struct c2s_conn *c);	/* the router refused the route */
void c2s_sess_req_add(struct c2s_conn *c);
void c2s_sess_req_remove(struct c2s_conn *c);
struct c2s_conn *c2s_sess_by_reqid(uint32_t reqid);

/* jid.c: canonical form of a JID (nodeprep, nameprep, resourceprep); 0 or -1 if invalid */
int c2s_jid_prep(const char *in, char *out, size_t cap);

/* limits.c */
int c2s_lim_addr_acquire(struct c2s_conn *c);	/* -1: too many unauthenticated streams */
void c2s_lim_addr_release(struct c2s_conn *c);
double c2s_lim_fail(struct c2s_conn *c, const char *user);	/* the delay before <failure/> */
void c2s_lim_success(struct c2s_conn *c, const char *user);
int c2s_lim_rate_take(struct c2s_conn *c, size_t n);	/* 1: over the rate, reading paused */
void c2s_lim_sweep(void);

/* component.c */
int c2s_comp_stream_start(struct c2s_conn *c, const struct c2s_xml_hdr *h);	/* 0 or -1 */
int c2s_comp_element(struct c2s_conn *c, const struct c2s_xml_elem *e);
/* Writes a stanza from the router to a component, in the component namespace. */
int c2s_comp_deliver(struct c2s_conn *c, const uint8_t *body, size_t len);
/* The router answered the component's bind: cond NULL = it holds the route, else refused. */
void c2s_comp_bound(struct c2s_conn *c, const char *cond);

/* stanza.c */
int c2s_stanza_element(struct c2s_conn *c, const struct c2s_xml_elem *e);
/* An IQ answer from the server to the id (NULL: none) the client gave: type, inner XML or none. */
void c2s_iq_reply(struct c2s_conn *c, const char *id, const char *type, const char *inner);
void c2s_iq_error(struct c2s_conn *c, const char *id, const char *etype, const char *cond);
/* The router answered the client's bind: cond NULL = it holds the route, else refused. */
void c2s_stanza_bound(struct c2s_conn *c, const char *cond);

/* caps.c: each vhost's XEP-0115 caps from the router (XE_HOST_CAPS), put into stream features */
int c2s_caps_set(const char *host, size_t host_len, const uint8_t *body, size_t len);
void c2s_caps_clear(void);	/* a new router process: it sends its own */
int c2s_caps_put(struct buf *b, const struct c2s_vhost *vh);

/* router_link.c */
int c2s_rl_start(void);
int c2s_rl_send(uint8_t kind, uint8_t stype, uint64_t sid, uint32_t reqid, const char *from,
		const char *to, const void *body, size_t len);
/* Asks the router for c's route (c->jid); the answer completes the bind. 0 or -1. */
int c2s_rl_bind(struct c2s_conn *c);
void c2s_rl_unbind(struct c2s_conn *c);

#endif
