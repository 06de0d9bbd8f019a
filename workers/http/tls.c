/* TLS for the https listener: one SSL_CTX per virtual host built from the slice's PEM bytes before
 * the sandbox (the worker opens no file), SNI picks the host, non-blocking SSL on the conn's fd. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "log.h"

static int tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
	(void)alert, (void)arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (!name)
		return SSL_TLSEXT_ERR_NOACK;
	for (size_t i = 0; i < env->conf.nvhosts; i++) {
		if (strcasecmp(env->conf.vhosts[i].name, name) != 0 || !env->conf.vhosts[i].tls)
			continue;
		if (SSL_get_SSL_CTX(ssl) != env->conf.vhosts[i].tls)
			SSL_set_SSL_CTX(ssl, env->conf.vhosts[i].tls);
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_NOACK;	/* the first host's certificate; the Host header decides later */
}

/* ALPN: http/1.1 is all we speak; clients offering only h2 get a fatal alert. */
static int tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl, (void)arg;
	static const unsigned char want[] = "http/1.1";
	for (unsigned int i = 0; i < inlen;) {
		unsigned int n = in[i];
		if (i + 1 + n > inlen)
			break;
		if (n == sizeof(want) - 1 && memcmp(in + i + 1, want, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int tls_load(SSL_CTX *ctx, const uint8_t *cert, size_t cert_len, const uint8_t *key,
		    size_t key_len)
{
	BIO *bio = BIO_new_mem_buf(cert, (int)cert_len);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	int ok = x && SSL_CTX_use_certificate(ctx, x) == 1;
	X509_free(x);
	while (ok && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			ok = 0;
		}
	}
	BIO_free(bio);
	ERR_clear_error();	/* the end of the chain reads as "no start line" */
	if (!ok)
		return -1;
	/* the key may ride in the certificate file when no separate key was configured */
	const uint8_t *kp = key && key_len ? key : cert;
	size_t kl = key && key_len ? key_len : cert_len;
	bio = BIO_new_mem_buf(kp, (int)kl);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	ok = k && SSL_CTX_use_PrivateKey(ctx, k) == 1 && SSL_CTX_check_private_key(ctx) == 1;
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

SSL_CTX *http_tls_ctx_new(const uint8_t *cert, size_t cert_len, const uint8_t *key, size_t key_len)
{
	if (!cert || cert_len == 0 || cert_len > INT32_MAX || key_len > INT32_MAX)
		return NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);	/* stateless tickets only */
	SSL_CTX_set_tlsext_servername_callback(ctx, tls_sni_cb);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
	if (tls_load(ctx, cert, cert_len, key, key_len) < 0) {
		unsigned long e = ERR_get_error();
		log_err("tls context", "error=\"%s\"", ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "?");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int http_tls_begin(struct http_conn *c)
{
	SSL_CTX *ctx = NULL;
	for (size_t i = 0; !ctx && i < env->conf.nvhosts; i++)
		ctx = env->conf.vhosts[i].tls;
	if (!ctx)
		return -1;
	c->ssl = SSL_new(ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		return -1;
	}
	SSL_set_accept_state(c->ssl);
	return 0;
}

/* Maps an SSL result to errno EAGAIN (noting which direction it waits for), 0 on a clean close or
 * -1 on failure. */
static int tls_result(struct http_conn *c, int r, int *wants_other, int reading)
{
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*wants_other = (e == SSL_ERROR_WANT_READ) != reading;
		errno = EAGAIN;
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	if (e == SSL_ERROR_SYSCALL && errno == 0)
		errno = ECONNRESET;
	else if (e != SSL_ERROR_SYSCALL)
		errno = EPROTO;
	ERR_clear_error();
	return -1;
}

int http_tls_handshake(struct http_conn *c)
{
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->tls_up = 1;
		c->read_wants_write = c->write_wants_read = 0;
		return 1;
	}
	int e = SSL_get_error(c->ssl, r);
	c->read_wants_write = e == SSL_ERROR_WANT_WRITE;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	unsigned long le = ERR_peek_error();
	log_info("tls handshake failed", "ip=%s error=\"%s\"", c->ip,
		 le && ERR_reason_error_string(le) ? ERR_reason_error_string(le) : "eof");
	ERR_clear_error();
	return -1;
}

ssize_t http_tls_read(struct http_conn *c, void *p, size_t n)
{
	c->read_wants_write = 0;
	int r = SSL_read(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
	return r > 0 ? r : tls_result(c, r, &c->read_wants_write, 1);
}

ssize_t http_tls_write(struct http_conn *c, const void *p, size_t n)
{
	c->write_wants_read = 0;
	int r = SSL_write(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
	if (r > 0)
		return r;
	if (tls_result(c, r, &c->write_wants_read, 0) == 0)
		errno = EPIPE;
	return -1;
}

void http_tls_end(struct http_conn *c)
{
	if (!c->ssl)
		return;
	if (c->tls_up)
		(void)SSL_shutdown(c->ssl);	/* best-effort close_notify; we do not wait for theirs */
	ERR_clear_error();
	SSL_free(c->ssl);
	c->ssl = NULL;
	c->tls_up = 0;
}
