/* An established TLS 1.3 connection run without OpenSSL's SSL object: our record layer over a
 * non-blocking socket, with the post-handshake messages a server must handle (KeyUpdate,
 * alerts). Idle, it holds its keys and nothing else; buffers exist only while bytes wait. */
#ifndef XMPPD_TLS13CONN_H
#define XMPPD_TLS13CONN_H
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "tls13rec.h"

#define TLS13_EMPTY_MAX 32	/* records in a row that carry no data (as OpenSSL's limit) */
#define TLS13_REKEY_AFTER (1ull << 24)	/* records per write key before we update it (§5.5) */

enum tls13_state { TLS13_OPEN, TLS13_EOF, TLS13_FAILED };

struct tls13_conn {
	struct tls13_keys k;
	uint8_t *in;		/* received bytes not yet returned, TLS13_REC_MAX; NULL when none */
	uint16_t in_len;
	uint16_t pt_len;	/* the first pt_len bytes of in are opened content not yet returned */
	uint8_t hs[4];		/* a post-handshake message header split over records */
	uint8_t hs_len;
	uint8_t empty;		/* records in a row without application data */
	uint8_t state;		/* enum tls13_state */
	uint8_t alert;		/* the alert we sent or received when FAILED */
	struct buf out;		/* sealed records not yet on the wire */
	size_t owed;		/* content of the caller's last write, sealed in out, not yet reported */
};

/* The connection after ssl's completed TLS 1.3 handshake, from the secrets the keylog callback
 * of tls13_ssl_prepare_ctx captured. NULL (errno) when ssl is not one that can be taken over:
 * another version, bytes buffered in OpenSSL, an unsupported suite, missing secrets. The caller
 * still owns ssl and frees it afterwards; the captured secrets are wiped with it. */
struct tls13_conn *tls13_conn_from_ssl(SSL *ssl);

/* A connection from known keys (tests, fuzzing). */
struct tls13_conn *tls13_conn_new(uint16_t suite, const uint8_t *read_secret, const uint8_t *write_secret);

/* Wipes and frees; sends nothing. */
void tls13_conn_free(struct tls13_conn *t);

/* Server contexts whose connections may be taken over: the keylog callback captures the
 * application traffic secrets, and no session tickets are sent, so that nothing was protected
 * with the application keys when the handshake ends. Also readies tls13_rec. 0 or -1. */
int tls13_ssl_prepare_ctx(SSL_CTX *ctx);

/* Reads from fd: up to n bytes of application data, from one record; 0 after the peer's close_notify; -1 with
 * errno EAGAIN (nothing yet), EPROTO (a TLS error; the alert was sent) or the socket's error. */
ssize_t tls13_conn_read(struct tls13_conn *t, int fd, void *p, size_t n);

/* Writes up to TLS13_PLAIN_MAX of p as one record; returns how many bytes of p are done, or -1
 * with errno EAGAIN. After EAGAIN the caller calls again with the same bytes at the front of p
 * (they may have moved): they are already sealed and go out first. */
ssize_t tls13_conn_write(struct tls13_conn *t, int fd, const void *p, size_t n);

/* 1 when a read would return something without the socket: a whole record (or content left
 * over) waits in t. Callers that stop reading after a few reads must come back for it. */
int tls13_conn_pending(const struct tls13_conn *t);

/* Sends what is sealed and waiting; 1 when everything is out, 0 when the socket is full, -1 on
 * a socket error. */
int tls13_conn_flush(struct tls13_conn *t, int fd);

/* Best effort close_notify (after anything still waiting) with one non-blocking send. */
void tls13_conn_close_notify(struct tls13_conn *t, int fd);

/* Without I/O (tests, fuzzing): appends received bytes, then processes them into p as
 * tls13_conn_read would (one record's content at most); returns the bytes of p filled, state in
 * t->state. */
int tls13_conn_push(struct tls13_conn *t, const uint8_t *data, size_t n);
size_t tls13_conn_process(struct tls13_conn *t, uint8_t *p, size_t n);

#endif
