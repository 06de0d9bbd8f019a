/* BOSH (XEP-0124, XEP-0206) in the http worker: the limits, a parsed <body/>, and the sessions
 * (bosh_sess.c) with their held requests, rid window, replay cache and output queue. */
#ifndef XMPPD_BOSH_H
#define XMPPD_BOSH_H
#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http.h"

#define NS_HTTPBIND "http://jabber.org/protocol/httpbind"
#define NS_XBOSH "urn:xmpp:xbosh"
#define CORS_BOSH "Access-Control-Allow-Origin: *\r\n"
#define BOSH_CTYPE "text/xml; charset=utf-8"
#define BOSH_MAX_ATTR 1024u		/* one attribute value we look at */
#define BOSH_WAIT_MAX 20u		/* seconds a request is held at most (below HTTP_IDLE_TIMEOUT) */
#define BOSH_HOLD_MAX 2u		/* requests held at once at most; 1 when the client names none */
#define BOSH_REQUESTS_MAX (BOSH_HOLD_MAX + 1)	/* concurrent requests = hold + 1 */
/* seconds without a request before the session ends: limits { bosh-inactivity } (conf.c) */
#define BOSH_MAXPAUSE 120u		/* the longest pause (§10) a client may ask for, in seconds */
#define BOSH_ACK_GRACE 2.0		/* seconds a response may be in flight before a client's older
					   ack makes it reported as unacknowledged (§9.2) */
#define BOSH_POLLING 2u			/* the shortest polling interval we advertise */
#define BOSH_SID_HEX 32u		/* 128 random bits */
#define BOSH_SESSIONS_MAX 65536u

/* What bosh.c read of one request's <body/>. Strings are NUL-terminated copies. */
struct bosh_body {
	int has_sid, has_rid, rid_ok, has_ver, ver_major, ver_minor;
	uint64_t rid;
	char sid[BOSH_SID_HEX + 1];
	char to[BOSH_MAX_ATTR], lang[64], xmpp_version[16];
	unsigned wait, hold, pause;
	uint64_t ack;			/* the highest rid whose answer the client has (§9.1) */
	int has_wait, has_hold, has_ack, ack_ok, has_pause, terminate, restart;
	size_t payload_at, payload_len;	/* the children, as bytes of the request body */
};

struct bosh_sess;

/* One request the session has: held for output, or waiting for an earlier rid (unprocessed). */
struct bosh_req {
	struct http_conn *hc;		/* NULL: the slot is free */
	struct bosh_sess *s;
	uint64_t rid;
	struct http_req req;		/* what the answer needs of the request (no header fields) */
	struct buf body;		/* an unprocessed request's bytes; empty once processed */
	struct bosh_body b;		/* its parsed form (payload offsets into body) */
	ev_timer wait;
	unsigned processed : 1, create : 1;
};

/* bosh.c */
/* Reads a request body; 0, or -1 when it is not one well-formed <body/> of the BOSH namespace. */
int bosh_parse(const uint8_t *p, size_t n, struct bosh_body *b);
/* Answers a request with a terminal condition outside any session. */
void bosh_refuse(struct http_conn *c, const struct http_req *r, int legacy, const char *cond);

/* bosh_sess.c */
/* A session creation request (no sid): checked, created, answered with its attributes and the
 * stream features. */
void bosh_sess_create(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len,
		      const struct bosh_body *b);
/* A request for an existing session: the rid window, ordering, replays, holding. */
void bosh_sess_request(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len,
		       const struct bosh_body *b);
/* The HTTP connection of a held request is gone. */
void bosh_sess_conn_gone(struct http_conn *c);
size_t bosh_sess_count(void);
/* The worker stops: every session ends with system-shutdown. */
void bosh_sess_shutdown(void);

#endif
