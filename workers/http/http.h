/* Shared state of the http worker: limits, the request parser, connections, the WebSocket frame
 * codec and the functions the role files offer each other. Parsers here never touch globals. */
#ifndef XMPPD_HTTP_H
#define XMPPD_HTTP_H
#include <ev.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "worker.h"

/* ---- limits (named, one place) ---- */
#define HTTP_MAX_REQLINE 4096u		/* request line incl. CRLF; longer → 414 */
#define HTTP_MAX_HEAD 16384u		/* request line + header fields + blank line; longer → 431 */
#define HTTP_MAX_HEADERS 64u		/* header fields per request; more → 431 */
#define HTTP_MAX_LEADING_CRLF 8u	/* empty lines tolerated before a request (RFC 9112 §2.2) */
#define HTTP_HEAD_TIMEOUT 10.0		/* seconds for a whole request once its first byte came */
#define HTTP_BODY_TIMEOUT 30.0		/* seconds for the body after the head */
#define HTTP_IDLE_TIMEOUT 30.0		/* seconds a keep-alive connection may sit idle */
#define HTTP_CLOSE_LINGER 5.0		/* seconds to flush the last response before closing */
#define HTTP_OUT_MAX (8u << 20)		/* bytes queued for one client; past it reads pause */
#define HTTP_OUT_PAUSE (256u << 10)	/* a pipelining client is not read while this much is queued */
#define HTTP_READ_CHUNK 16384u
#define HTTP_MAX_CONNS 4096u
#define HTTP_MAX_TRUSTED_PROXIES 64u
#define HTTP_MAX_FORWARDED_HOPS 16u	/* X-Forwarded-For entries looked at */
#define WS_CONTROL_MAX 125u		/* RFC 6455 §5.5 */
#define WS_PING_INTERVAL 60.0		/* seconds of silence before the server pings */
#define WS_CLOSE_WAIT 5.0		/* seconds we wait for the peer's close frame */
#define WS_MSG_SLACK 4096u		/* a message this far over the stanza limit still gets the
					   stream's policy-violation; further, the 1009 close */
#define WEB_MAX_FILES 4096u		/* static web files loaded before the sandbox */
#define WEB_MAX_TOTAL (96u << 20)	/* bytes of static web files */
#define WEB_MAX_DEPTH 8u
#define WEB_MAX_PATH 512u

/* ---- request parser (http_parse.c) ---- */
enum http_method {
	HTTP_M_GET = 1, HTTP_M_HEAD, HTTP_M_POST, HTTP_M_OPTIONS, HTTP_M_PUT, HTTP_M_DELETE,
	HTTP_M_PATCH, HTTP_M_CONNECT, HTTP_M_TRACE,
};
#define HTTP_M_BIT(m) (1u << (m))

struct http_field {
	const char *name, *value;	/* borrowed from the head bytes, not NUL-terminated */
	uint16_t name_len, value_len;
};

struct http_req {
	int method;			/* enum http_method */
	int minor;			/* HTTP/1.minor: 0 or 1 */
	const char *target;		/* request-target as sent */
	size_t target_len;
	const char *path;		/* origin-form path, without query */
	size_t path_len;
	size_t head_len;		/* bytes of the head incl. the blank line (and leading CRLFs) */
	uint64_t content_length;
	unsigned nfields;
	struct http_field fields[HTTP_MAX_HEADERS];
	unsigned keep_alive : 1, has_host : 1;
};

/* Parses one request head from p[0..n). Returns the head length (> 0) when complete, 0 when more
 * bytes are needed, or -STATUS (400, 414, 431, 413, 501, 505) for a request to refuse. max_body
 * bounds Content-Length (413 above it). Fields borrow p: keep the bytes while req is used. */
int http_parse_head(const char *p, size_t n, uint64_t max_body, struct http_req *req);
/* The value of the first field named name (case-insensitive), NULL when absent. */
const struct http_field *http_field_get(const struct http_req *req, const char *name);
/* 1 when a comma-separated field value holds token (case-insensitive), else 0. */
int http_token_in(const char *v, size_t n, const char *token);
const char *http_method_name(int method);
const char *http_reason(int status);

/* ---- WebSocket codec (ws.c) ---- */
enum ws_opcode { WS_OP_CONT = 0, WS_OP_TEXT = 1, WS_OP_BINARY = 2, WS_OP_CLOSE = 8,
		 WS_OP_PING = 9, WS_OP_PONG = 10 };
enum ws_close_code { WS_CLOSE_NORMAL = 1000, WS_CLOSE_GOING_AWAY = 1001, WS_CLOSE_PROTOCOL = 1002,
		     WS_CLOSE_UNSUPPORTED = 1003, WS_CLOSE_INVALID_DATA = 1007,
		     WS_CLOSE_POLICY = 1008, WS_CLOSE_TOO_BIG = 1009, WS_CLOSE_INTERNAL = 1011 };

struct ws_frame {
	unsigned fin : 1, masked : 1;
	uint8_t rsv;			/* RSV1..3 bits */
	uint8_t opcode;
	uint8_t mask[4];
	uint64_t len;			/* payload length */
	size_t hdr_len;
};

/* Decodes a client frame header from p[0..n): hdr_len > 0 when complete, 0 when more bytes are
 * needed, or -CLOSE_CODE (1002 protocol error, 1009 payload above max_payload). Client frames must
 * be masked, carry no RSV bits, a known opcode, minimal lengths; control frames FIN, ≤ 125 bytes. */
int ws_frame_parse(const uint8_t *p, size_t n, uint64_t max_payload, struct ws_frame *f);
/* XORs n payload bytes in place with the mask, starting at payload offset off. */
void ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off);
/* Appends an unmasked server frame (FIN set). */
int ws_frame_put(struct buf *out, uint8_t opcode, const void *p, size_t n);
/* 0 when p[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF), else -1. */
int ws_utf8_valid(const uint8_t *p, size_t n);
/* A close frame's payload: 0 and *code (1005 when empty) when valid, else -CLOSE_CODE. */
int ws_close_payload(const uint8_t *p, size_t n, uint16_t *code);

/* Reassembles messages from frames: the fragmentation rules of RFC 6455 §5.4. */
struct ws_msg {
	struct buf data;		/* the message being assembled */
	uint8_t opcode;			/* of the message in progress, 0 = none */
	size_t max;			/* message size limit */
};
/* Feeds one whole (unmasked) data or continuation frame. Returns 1 when a message is complete in
 * m->data (opcode in *op), 0 when more fragments are expected, -CLOSE_CODE on a violation. */
int ws_msg_feed(struct ws_msg *m, const struct ws_frame *f, const uint8_t *payload, uint8_t *op);
void ws_msg_reset(struct ws_msg *m);
/* Sec-WebSocket-Accept for a key: 28 base64 characters and a NUL into out[29]; -1 on a bad key
 * (not base64 of 16 bytes). */
int ws_accept_key(const char *key, size_t n, char out[29]);

/* ---- the worker ---- */
struct c2s_conn;
struct bosh_req;
struct http_vhost {
	char *name;
	SSL_CTX *tls;
};

struct http_cidr {
	uint8_t addr[16];		/* IPv4 mapped into IPv6 */
	unsigned bits;
};

struct web_file {
	char *path;			/* "/index.html" */
	uint8_t *data;
	size_t len;
	const char *type;		/* Content-Type */
	char etag[20];			/* "\"<16 hex>\"" */
};

enum http_conn_mode { HTTP_MODE_HTTP, HTTP_MODE_WS };

struct http_conn {
	struct http_conn *prev, *next;
	int fd;
	ev_io rio, wio;
	ev_timer timer;
	SSL *ssl;
	int tls_up, read_wants_write, write_wants_read;
	int mode;			/* enum http_conn_mode */
	struct buf in, out;
	uint8_t addr[16];		/* peer (IPv4 mapped) */
	char ip[48];			/* client address after trusted X-Forwarded-For */
	uint8_t client[16];		/* the same, IPv4 mapped */
	int listener;			/* index into henv->listeners */
	double req_started;		/* when the first byte of the current request came, 0 = idle */
	double body_from;		/* when its head was complete and the body began, 0 = not yet */
	unsigned requests;
	unsigned closing : 1, wr_shut : 1, stalled : 1, ws_close_sent : 1, ws_ping_out : 1, dead : 1;
	unsigned secure : 1;		/* TLS here, or a trusted proxy said X-Forwarded-Proto: https */
	/* WebSocket state */
	struct ws_msg msg;
	struct c2s_conn *xs;		/* the XMPP stream over this WebSocket, NULL before <open/> */
	struct bosh_req *bosh;		/* the BOSH request this connection waits to answer, or NULL */
};

struct http_listener {
	ev_io io;
	int tls;
};

/* What the configuration slice says; replaced whole on reload (conf.c). */
struct http_conf {
	size_t body_max;		/* = stanza size limit */
	uint32_t conn_per_ip;		/* connections from one address (trusted proxies exempt) */
	uint32_t bosh_inactivity;	/* seconds a BOSH session lives with no request held */
	struct http_vhost *vhosts;
	size_t nvhosts;
	struct http_cidr proxies[HTTP_MAX_TRUSTED_PROXIES];
	size_t nproxies;
	char *webroot;			/* read once, before the sandbox */
};

struct http_env {
	struct ev_loop *loop;
	struct wrk_boot boot;
	struct http_conf conf;
	struct web_file *files;
	size_t nfiles;
	struct http_listener listeners[WRK_MAX_LISTENERS];
	unsigned nlisteners;
	struct http_conn *conns;
	unsigned nconns;
	int stopping;
};
/* The http side of the process; the stream engine's own state is the engine's env (c2s.h):
 * two parts of one worker, so two globals with two names. */
extern struct http_env *henv;

/* conf.c: 0, or -1 with why filled (c is then empty). */
int http_conf_read(const uint8_t *p, size_t n, struct http_conf *c, char *why, size_t cap);
void http_conf_free(struct http_conf *c);
/* Makes c the running configuration (taken) and frees the previous one. */
void http_conf_apply(struct http_conf *c);
/* http_conn.c */
void http_accept_cb(struct ev_loop *loop, ev_io *w, int revents);
int http_conn_send(struct http_conn *c, const void *p, size_t n);
void http_conn_close_after_flush(struct http_conn *c);
void http_conn_close_all(void);
/* Runs the connection's I/O soon (output queued outside its own callbacks). */
void http_conn_wake(struct http_conn *c);
/* Restarts the connection's timer (ws_conn.c decides WebSocket periods). */
void http_conn_timer(struct http_conn *c, double secs);
/* http_route.c: answers one complete request (body = the bytes after the head). */
void http_route(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len);
/* An answer with a small body; extra = additional header lines, each ending in CRLF. */
void http_respond(struct http_conn *c, const struct http_req *r, int status, const char *type,
		  const char *extra, const void *body, size_t len);
void http_error(struct http_conn *c, const struct http_req *r, int status, const char *extra);
const struct http_vhost *http_vhost_by_host(const struct http_req *r);
/* bosh.c */
void http_bosh(struct http_conn *c, const struct http_req *r, const uint8_t *body, size_t len);
/* ws_conn.c */
void http_ws_upgrade(struct http_conn *c, const struct http_req *r);
void http_ws_input(struct http_conn *c);
void http_ws_timer(struct http_conn *c);
/* Closes with 1001 going away (the worker stops). */
void http_ws_shutdown(struct http_conn *c);
/* One text message out; a close frame with code and reason, then the close after the flush. */
void http_ws_text(struct http_conn *c, const void *p, size_t n);
void http_ws_close(struct http_conn *c, uint16_t code, const char *reason);
/* ws_xmpp.c: the XMPP stream of a WebSocket (RFC 7395) on the shared stream engine */
void http_wsx_message(struct http_conn *c, const uint8_t *p, size_t n);
int http_wsx_blocked(const struct http_conn *c);	/* input waits (SASL delay, rate, router) */
void http_wsx_free(struct http_conn *c);		/* the WebSocket is gone */
void http_wsx_shutdown(struct http_conn *c);	/* system-shutdown stream error */
/* Appends one element the engine wrote, made standalone (xmlns, xmlns:stream on its first tag). */
int http_xmpp_put_standalone(struct buf *b, const void *p, size_t n);
/* The engine's part of the worker: after the sandbox, the router link and the limit sweep. */
void http_wsx_start(void);
/* web.c */
int http_web_load(const char *root);
const struct web_file *http_web_find(const char *path, size_t n);
/* proxy.c */
int http_cidr_parse(const char *s, struct http_cidr *out);
int http_cidr_match(const struct http_cidr *c, const uint8_t addr[16]);
void http_addr_format(const uint8_t addr[16], char *out, size_t cap);
int http_proxy_trusted(const uint8_t addr[16]);
/* The client address of a request: the peer, or with a trusted peer the rightmost untrusted
 * X-Forwarded-For entry. */
void http_client_ip(struct http_conn *c, const struct http_req *r);
/* 1 when the request came over TLS, or from a trusted proxy that says X-Forwarded-Proto: https. */
int http_request_secure(const struct http_conn *c, const struct http_req *r);
/* tls.c */
SSL_CTX *http_tls_ctx_new(const uint8_t *cert, size_t cert_len, const uint8_t *key, size_t key_len);
int http_tls_begin(struct http_conn *c);
int http_tls_handshake(struct http_conn *c);
ssize_t http_tls_read(struct http_conn *c, void *p, size_t n);
ssize_t http_tls_write(struct http_conn *c, const void *p, size_t n);
void http_tls_end(struct http_conn *c);

#endif
