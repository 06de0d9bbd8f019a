/* TLS for c2s streams: one SSL_CTX per virtual host built from PEM bytes in memory (the worker
 * has no file access), SNI picks the host, non-blocking SSL driven by the connection's watchers.
 * A finished TLS 1.3 handshake hands the stream to our record layer (tls13conn) and frees the SSL. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "c2s.h"
#include "log.h"
#include "tls13conn.h"
#include "tlsctx.h"

#define C2S_CB_MAX 64	/* the longest channel binding: a SHA-512 certificate hash */

/* A stream on our TLS 1.3 record layer, with the channel bindings SASL may still ask for,
 * taken from the SSL before it was freed. */
struct c2s_tls13 {
	struct tls13_conn *rec;
	uint8_t exporter[32];
	uint8_t endpoint[C2S_CB_MAX];
	uint8_t exporter_len, endpoint_len;
};

static int cb_copy(const uint8_t *v, size_t len, uint8_t *out, size_t cap)
{
	if (len == 0 || len > cap)
		return -1;
	memcpy(out, v, len);
	return (int)len;
}

int c2s_tls_cbinding(struct c2s_conn *c, int type, uint8_t *out, size_t cap)
{
	if ((!c->ssl && !c->t13) || c->tls != C2S_TLS_UP || (type != C2S_CB_EXPORTER && type != C2S_CB_ENDPOINT))
		return -1;
	if (c->t13)
		return type == C2S_CB_EXPORTER ? cb_copy(c->t13->exporter, c->t13->exporter_len, out, cap)
					       : cb_copy(c->t13->endpoint, c->t13->endpoint_len, out, cap);
	return tls_channel_binding(c->ssl, type == C2S_CB_EXPORTER, out, cap);
}

static void t13_free(struct c2s_tls13 *x)
{
	tls13_conn_free(x->rec);
	explicit_bzero(x, sizeof(*x));
	free(x);
}

/* A TLS 1.3 stream leaves OpenSSL for our record layer; anything else (TLS 1.2, or a
 * connection OpenSSL holds bytes of) stays with OpenSSL, which is always correct. */
static void tls_take_over(struct c2s_conn *c)
{
	if (SSL_version(c->ssl) != TLS1_3_VERSION)
		return;
	struct c2s_tls13 *x = calloc(1, sizeof(*x));
	if (!x)
		return;
	/* taken now: SASL may ask for them after the SSL is gone */
	int e = tls_channel_binding(c->ssl, 1, x->exporter, sizeof(x->exporter));
	int p = tls_channel_binding(c->ssl, 0, x->endpoint, sizeof(x->endpoint));
	x->exporter_len = (uint8_t)(e > 0 ? e : 0);
	x->endpoint_len = (uint8_t)(p > 0 ? p : 0);
	ERR_clear_error();
	if (!(x->rec = tls13_conn_from_ssl(c->ssl))) {
		log_warn("tls 1.3 stream stays with openssl", "sid=%llu errno=%d", (unsigned long long)c->sid, errno);
		t13_free(x);
		return;
	}
	SSL_free(c->ssl);	/* wipes the captured secrets too */
	c->ssl = NULL;
	c->t13 = x;
	log_debug("tls 1.3 stream on our record layer", "sid=%llu suite=0x%04x", (unsigned long long)c->sid,
		  x->rec->k.suite);
}

static SSL_CTX *c2s_sni_lookup(const char *name)
{
	const struct c2s_vhost *vh = c2s_vhost_find(name);
	return vh ? vh->tls : NULL;
}

/* ALPN (XEP-0368): "xmpp-client"; a client offering only other protocols is refused. */
static const struct tls_server_opts c2s_tls_opts = {.alpn = "xmpp-client", .sni_lookup = c2s_sni_lookup};

SSL_CTX *c2s_tls_ctx_new(const uint8_t *cert, size_t cert_len, const uint8_t *key, size_t key_len)
{
	SSL_CTX *ctx = tls_server_ctx_new(cert, cert_len, key, key_len, &c2s_tls_opts);
	if (ctx && tls13_ssl_prepare_ctx(ctx) < 0)
		log_warn("tls 1.3 streams stay with openssl", "");	/* correct, only larger */
	return ctx;
}

void c2s_tls_ctx_free(SSL_CTX *ctx) { SSL_CTX_free(ctx); }

int c2s_tls_begin(struct c2s_conn *c)
{
	SSL_CTX *ctx = c->vh && c->vh->tls ? c->vh->tls : NULL;
	for (size_t i = 0; !ctx && i < env->nvhosts; i++)
		ctx = env->vhosts[i].tls;
	if (!ctx)
		return -1;
	c->ssl = SSL_new(ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		return -1;
	}
	SSL_set_accept_state(c->ssl);
	c->tls = C2S_TLS_HANDSHAKE;
	return 0;
}

int c2s_tls_handshake(struct c2s_conn *c)
{
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->tls = C2S_TLS_UP;
		c->read_wants_write = c->write_wants_read = 0;
		tls_take_over(c);
		return 1;
	}
	int e = SSL_get_error(c->ssl, r);
	c->read_wants_write = e == SSL_ERROR_WANT_WRITE;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	log_info("tls handshake failed", "sid=%llu error=\"%s\"", (unsigned long long)c->sid,
		 tls_error_reason());
	ERR_clear_error();
	return -1;
}

ssize_t c2s_tls_read(struct c2s_conn *c, void *p, size_t n)
{
	c->read_wants_write = 0;
	if (c->t13) {
		ssize_t r = tls13_conn_read(c->t13->rec, c->fd, p, n);
		c->read_wants_write = c->t13->rec->out.len > 0;	/* our KeyUpdate waits for the socket */
		if (r < 0 && errno == EPROTO)
			log_info("tls record layer closes the stream", "sid=%llu alert=%u",
				 (unsigned long long)c->sid, c->t13->rec->alert);
		return r;
	}
	int r = SSL_read(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
	if (r > 0)
		return r;
	return tls_io_result(c->ssl, r, &c->read_wants_write, 1) == 0 ? 0 : -1;
}

ssize_t c2s_tls_write(struct c2s_conn *c, const void *p, size_t n)
{
	c->write_wants_read = 0;
	if (c->t13)
		return tls13_conn_write(c->t13->rec, c->fd, p, n);
	int r = SSL_write(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
	if (r > 0)
		return r;
	if (tls_io_result(c->ssl, r, &c->write_wants_read, 0) == 0)
		errno = EPIPE;
	return -1;
}

int c2s_tls_pending(struct c2s_conn *c) { return c->t13 && tls13_conn_pending(c->t13->rec); }

int c2s_tls_flush(struct c2s_conn *c)
{
	if (!c->t13)
		return 0;
	int r = tls13_conn_flush(c->t13->rec, c->fd);
	c->read_wants_write = r == 0 && c->out.len == 0;
	return r < 0 ? -1 : 0;
}

void c2s_tls_end(struct c2s_conn *c)
{
	if (c->t13) {
		tls13_conn_close_notify(c->t13->rec, c->fd);	/* best effort, as with OpenSSL */
		t13_free(c->t13);
		c->t13 = NULL;
		c->tls = C2S_TLS_NONE;
		return;
	}
	if (!c->ssl)
		return;
	if (c->tls == C2S_TLS_UP)
		(void)SSL_shutdown(c->ssl);	/* best effort close_notify; we do not wait */
	ERR_clear_error();
	SSL_free(c->ssl);
	c->ssl = NULL;
	c->tls = C2S_TLS_NONE;
}
