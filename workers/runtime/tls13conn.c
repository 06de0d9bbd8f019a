/* Established TLS 1.3 connections on our record layer: received records opened and their
 * content dispatched (data, alerts, KeyUpdate), writes sealed, non-blocking socket I/O.
 * Anything RFC 8446 does not allow after the handshake ends the connection with an alert. */
#include "tls13conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define TLS13_HS_KEY_UPDATE 24
#define TLS13_ALERT_WARNING 1
#define TLS13_ALERT_FATAL 2
#define TLS13_CLOSE_NOTIFY 0
#define TLS13_USER_CANCELED 90

/* Global on purpose: one record is sealed here at a time, so a write that goes out whole never
 * needs a buffer of its connection (the stream workers are single-threaded). */
static uint8_t tls13_seal_buf[TLS13_REC_MAX];

struct tls13_conn *tls13_conn_new(uint16_t suite, const uint8_t *read_secret, const uint8_t *write_secret)
{
	struct tls13_conn *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (tls13_keys_init(&t->k, suite, read_secret, write_secret) < 0) {
		free(t);
		return NULL;
	}
	buf_init(&t->out);
	return t;
}

void tls13_conn_free(struct tls13_conn *t)
{
	if (!t)
		return;
	if (t->in) {
		explicit_bzero(t->in, t->in_len);
		free(t->in);
	}
	buf_wipe_free(&t->out);
	explicit_bzero(t, sizeof(*t));
	free(t);
}

/* Seals one record of type ct onto the queue of what goes out next. */
static int queue_record(struct tls13_conn *t, uint8_t ct, const uint8_t *p, size_t n)
{
	if (buf_reserve(&t->out, n + TLS13_OVERHEAD) < 0)
		return TLS13_E_INTERNAL;
	ssize_t rl = tls13_seal(&t->k, ct, p, n, t->out.data + t->out.len, t->out.cap - t->out.len);
	if (rl < 0)
		return (int)rl;
	t->out.len += (size_t)rl;
	return 0;
}

/* Our KeyUpdate (§4.6.3), protected with the current write key, then the write key changes. */
static int send_key_update(struct tls13_conn *t, int request)
{
	const uint8_t msg[5] = {TLS13_HS_KEY_UPDATE, 0, 0, 1, request ? 1 : 0};
	int r = queue_record(t, TLS13_CT_HANDSHAKE, msg, sizeof(msg));
	if (r < 0)
		return r;
	return tls13_dir_update(&t->k, &t->k.wr) < 0 ? TLS13_E_INTERNAL : 0;
}

/* The connection is over: we queue a fatal alert (err < 0) or record the peer's alert. */
static void fail(struct tls13_conn *t, int err, int received)
{
	t->state = TLS13_FAILED;
	t->alert = (uint8_t)(received ? err : -err);
	if (!received) {
		const uint8_t alert[2] = {TLS13_ALERT_FATAL, t->alert};
		(void)queue_record(t, TLS13_CT_ALERT, alert, sizeof(alert));
	}
}

static void in_consume(struct tls13_conn *t, size_t n)
{
	if (n < t->in_len)
		memmove(t->in, t->in + n, t->in_len - n);
	t->in_len = (uint16_t)(t->in_len - n);
}

static void in_release_if_empty(struct tls13_conn *t)
{
	if (t->in && t->in_len == 0) {
		free(t->in);
		t->in = NULL;
	}
}

int tls13_conn_push(struct tls13_conn *t, const uint8_t *data, size_t n)
{
	if (!t->in && !(t->in = malloc(TLS13_REC_MAX)))
		return -1;
	size_t room = TLS13_REC_MAX - t->in_len;
	if (n > room)
		n = room;
	memcpy(t->in + t->in_len, data, n);
	t->in_len = (uint16_t)(t->in_len + n);
	return (int)n;
}

/* Handshake content after the handshake: only the client's KeyUpdate, whole or split over
 * records, and ending its record (§5.1: messages never span a key change). */
static int hs_content(struct tls13_conn *t, const uint8_t *c, size_t n)
{
	for (size_t i = 0; i < n;) {
		if (t->hs_len < sizeof(t->hs)) {
			t->hs[t->hs_len++] = c[i++];
			if (t->hs_len == 1 && t->hs[0] != TLS13_HS_KEY_UPDATE)
				return TLS13_E_UNEXPECTED;	/* NewSessionTicket, ClientHello, … */
			if (t->hs_len == sizeof(t->hs) && (t->hs[1] || t->hs[2] || t->hs[3] != 1))
				return TLS13_E_DECODE;
			continue;
		}
		uint8_t request = c[i++];
		if (request > 1)
			return TLS13_E_ILLEGAL;
		if (i != n)
			return TLS13_E_UNEXPECTED;
		t->hs_len = 0;
		if (tls13_dir_update(&t->k, &t->k.rd) < 0)
			return TLS13_E_INTERNAL;
		if (request)
			return send_key_update(t, 0);
	}
	return 0;
}

/* One opened record's content; returns how much of it went to p, or an error. */
static int record_content(struct tls13_conn *t, uint8_t ct, size_t plen, size_t rl, uint8_t *p, size_t room)
{
	const uint8_t *c = t->in + TLS13_HDR;
	if (ct != TLS13_CT_HANDSHAKE && t->hs_len > 0)
		return TLS13_E_UNEXPECTED;	/* §5.1: nothing between the pieces of a message */
	if (ct == TLS13_CT_APPDATA && plen > 0) {
		size_t take = plen < room ? plen : room, rest = plen - take;
		memcpy(p, c, take);
		if (rest) {	/* the rest of the content waits at the front of in */
			memmove(t->in + rl - rest, c + take, rest);
			t->pt_len = (uint16_t)rest;
		}
		in_consume(t, rl - rest);
		t->empty = 0;
		return (int)take;
	}
	int r = 0;
	if (ct == TLS13_CT_ALERT) {
		if (plen != 2)
			return TLS13_E_DECODE;	/* §5.1: alerts are never fragmented nor coalesced */
		if (c[1] == TLS13_CLOSE_NOTIFY)
			t->state = TLS13_EOF;
		else if (c[1] != TLS13_USER_CANCELED) {
			fail(t, c[1], 1);
			return 0;
		}
	} else if (ct == TLS13_CT_HANDSHAKE) {
		r = plen == 0 ? TLS13_E_UNEXPECTED : hs_content(t, c, plen);
	} else if (ct != TLS13_CT_APPDATA) {
		r = TLS13_E_UNEXPECTED;
	}
	if (r == 0 && t->state == TLS13_OPEN && ++t->empty > TLS13_EMPTY_MAX)
		r = TLS13_E_UNEXPECTED;	/* a flood of records that carry nothing */
	if (r == 0)
		in_consume(t, rl);
	return r;
}

size_t tls13_conn_process(struct tls13_conn *t, uint8_t *p, size_t n)
{
	size_t got = 0;
	/* one record's content per call, as SSL_read: the caller's byte accounting (rate
	 * limits) sees the stream at the granularity the peer chose */
	while (t->state == TLS13_OPEN && got == 0 && n > 0) {
		if (t->pt_len > 0) {
			size_t take = t->pt_len < n ? t->pt_len : n;
			memcpy(p, t->in, take);
			in_consume(t, take);
			t->pt_len = (uint16_t)(t->pt_len - take);
			got += take;
			continue;
		}
		ssize_t rl = t->in ? tls13_record_len(t->in, t->in_len) : 0;
		if (rl == 0)
			break;
		uint8_t ct = 0;
		size_t plen = 0;
		int r = rl < 0 ? (int)rl : tls13_open(&t->k, t->in, (size_t)rl, &ct, &plen);
		if (r == 0)
			r = record_content(t, ct, plen, (size_t)rl, p, n);
		if (r < 0) {
			fail(t, r, 0);
			break;
		}
		got += (size_t)r;
	}
	in_release_if_empty(t);
	return got;
}

int tls13_conn_pending(const struct tls13_conn *t)
{
	return t->state == TLS13_OPEN && t->in && (t->pt_len > 0 || tls13_record_len(t->in, t->in_len) != 0);
}

int tls13_conn_flush(struct tls13_conn *t, int fd)
{
	while (t->out.len > 0) {
		ssize_t s = send(fd, t->out.data, t->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (s > 0) {
			buf_consume(&t->out, (size_t)s);
			continue;
		}
		if (s < 0 && errno == EINTR)
			continue;
		return s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
	}
	buf_free(&t->out);
	return 1;
}

ssize_t tls13_conn_read(struct tls13_conn *t, int fd, void *p, size_t n)
{
	if (n == 0 || tls13_conn_flush(t, fd) < 0) {
		if (n == 0)
			errno = EINVAL;
		return -1;
	}
	for (;;) {
		size_t got = tls13_conn_process(t, p, n);
		if (t->out.len > 0 && tls13_conn_flush(t, fd) < 0 && got == 0)
			return -1;	/* our KeyUpdate or alert could not be sent */
		if (got > 0)
			return (ssize_t)got;
		if (t->state != TLS13_OPEN) {
			errno = EPROTO;
			return t->state == TLS13_EOF ? 0 : -1;
		}
		if (!t->in && !(t->in = malloc(TLS13_REC_MAX)))
			return -1;
		if (t->in_len >= TLS13_REC_MAX) {	/* never: a full buffer holds a whole record */
			fail(t, TLS13_E_INTERNAL, 0);
			continue;
		}
		ssize_t r = recv(fd, t->in + t->in_len, TLS13_REC_MAX - t->in_len, MSG_DONTWAIT);
		if (r > 0) {
			t->in_len = (uint16_t)(t->in_len + r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		in_release_if_empty(t);
		if (r == 0) {
			t->state = TLS13_FAILED;	/* the socket ended without close_notify */
			errno = ECONNRESET;
		}
		return -1;
	}
}

ssize_t tls13_conn_write(struct tls13_conn *t, int fd, const void *p, size_t n)
{
	if (t->state == TLS13_FAILED) {
		errno = EPROTO;
		return -1;
	}
	int f = tls13_conn_flush(t, fd);
	if (f <= 0) {
		if (f == 0)
			errno = EAGAIN;
		return -1;
	}
	if (t->owed) {	/* the record of the last call is out now */
		size_t m = t->owed;
		t->owed = 0;
		return (ssize_t)m;
	}
	if (n == 0)
		return 0;
	size_t m = n < TLS13_PLAIN_MAX ? n : TLS13_PLAIN_MAX;
	if (t->k.wr.seq >= TLS13_REKEY_AFTER && send_key_update(t, 0) < 0) {
		errno = EPROTO;
		return -1;
	}
	const uint8_t *rec = tls13_seal_buf;
	ssize_t rl = 0, s = 0;
	if (t->out.len == 0) {
		rl = tls13_seal(&t->k, TLS13_CT_APPDATA, p, m, tls13_seal_buf, sizeof(tls13_seal_buf));
		if (rl < 0) {
			errno = EPROTO;
			return -1;
		}
		do
			s = send(fd, rec, (size_t)rl, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (s < 0 && errno == EINTR);
		if (s == rl)
			return (ssize_t)m;
		if (s < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (s < 0)
			s = 0;
		if (buf_put(&t->out, rec + s, (size_t)(rl - s)) < 0)
			return -1;
	} else if (queue_record(t, TLS13_CT_APPDATA, p, m) < 0) {	/* after our KeyUpdate */
		errno = EPROTO;
		return -1;
	}
	t->owed = m;
	f = tls13_conn_flush(t, fd);
	if (f == 1) {
		t->owed = 0;
		return (ssize_t)m;
	}
	if (f == 0)
		errno = EAGAIN;
	return -1;
}

void tls13_conn_close_notify(struct tls13_conn *t, int fd)
{
	static const uint8_t alert[2] = {TLS13_ALERT_WARNING, TLS13_CLOSE_NOTIFY};
	if (t->state != TLS13_FAILED)
		(void)queue_record(t, TLS13_CT_ALERT, alert, sizeof(alert));
	if (t->out.len > 0)
		(void)send(fd, t->out.data, t->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
}
