/* TLS for c2s streams: one SSL_CTX per virtual host built from PEM bytes in memory (the worker
 * has no file access), SNI picks the host, non-blocking SSL driven by the connection's watchers. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <string.h>
#include <strings.h>

#include "c2s.h"
#include "log.h"

/* SNI: switch to the context of the named virtual host when we hold one for it. */
static int tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
	(void)alert, (void)arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (!name)
		return SSL_TLSEXT_ERR_NOACK;
	const struct c2s_vhost *vh = c2s_vhost_find(name);
	if (!vh || !vh->tls)
		return SSL_TLSEXT_ERR_NOACK;
	if (SSL_get_SSL_CTX(ssl) != vh->tls)
		SSL_set_SSL_CTX(ssl, vh->tls);
	return SSL_TLSEXT_ERR_OK;
}

/* ALPN (XEP-0368): "xmpp-client" when the client offers it; a client that offers only other
 * protocols is refused with no_application_protocol; no ALPN at all is fine. */
static int tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl, (void)arg;
	static const unsigned char want[] = "xmpp-client";
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

int c2s_tls_cbinding(struct c2s_conn *c, int type, uint8_t *out, size_t cap)
{
	if (!c->ssl || c->tls != C2S_TLS_UP)
		return -1;
	if (type == C2S_CB_EXPORTER) {
		/* RFC 9266: only where the exporter is bound to the handshake (TLS 1.3) */
		if (SSL_version(c->ssl) < TLS1_3_VERSION || cap < 32 ||
		    SSL_export_keying_material(c->ssl, out, 32, "EXPORTER-Channel-Binding", 24, NULL, 0,
					       0) != 1)
			return -1;
		return 32;
	}
	if (type != C2S_CB_ENDPOINT)
		return -1;
	/* RFC 5929 §4.1: the certificate's hash, SHA-256 where it was signed with MD5 or SHA-1 */
	X509 *x = SSL_get_certificate(c->ssl);
	int mdnid = NID_undef, pknid = NID_undef;
	if (!x || OBJ_find_sigid_algs(X509_get_signature_nid(x), &mdnid, &pknid) != 1)
		return -1;
	const EVP_MD *md = mdnid == NID_md5 || mdnid == NID_sha1 || mdnid == NID_undef
				   ? EVP_sha256()
				   : EVP_get_digestbynid(mdnid);
	unsigned int n = 0;
	if (!md || (size_t)EVP_MD_get_size(md) > cap || X509_digest(x, md, out, &n) != 1)
		return -1;
	return (int)n;
}

static int tls_load_chain(SSL_CTX *ctx, BIO *bio)
{
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!x || SSL_CTX_use_certificate(ctx, x) != 1) {
		X509_free(x);
		return -1;
	}
	X509_free(x);
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			return -1;
		}
	}
	ERR_clear_error();	/* the end of the chain reads as "no start line" */
	return 0;
}

static int tls_load_key(SSL_CTX *ctx, const uint8_t *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return -1;
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!k)
		return -1;
	int ok = SSL_CTX_use_PrivateKey(ctx, k) == 1;
	EVP_PKEY_free(k);
	return ok && SSL_CTX_check_private_key(ctx) == 1 ? 0 : -1;
}

SSL_CTX *c2s_tls_ctx_new(const uint8_t *cert, size_t cert_len, const uint8_t *key, size_t key_len)
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
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);	/* stateless tickets only: no per-session memory here */
	SSL_CTX_set_tlsext_servername_callback(ctx, tls_sni_cb);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
	BIO *bio = BIO_new_mem_buf(cert, (int)cert_len);
	int bad = !bio || tls_load_chain(ctx, bio) < 0;
	BIO_free(bio);
	/* the key may ride in the certificate file when no separate key was configured */
	if (!bad)
		bad = key && key_len ? tls_load_key(ctx, key, key_len) < 0
				     : tls_load_key(ctx, cert, cert_len) < 0;
	if (bad) {
		unsigned long e = ERR_get_error();
		log_err("tls context", "error=\"%s\"", ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "?");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
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

/* Maps an SSL result to errno EAGAIN with the direction it waits for, or a failure. */
static int tls_would_block(struct c2s_conn *c, int r, int *wants_other, int reading)
{
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		*wants_other = !reading;
		errno = EAGAIN;
		return 1;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		*wants_other = reading;
		errno = EAGAIN;
		return 1;
	}
	if (e == SSL_ERROR_ZERO_RETURN) {
		errno = 0;
		return 0;
	}
	if (e == SSL_ERROR_SYSCALL && errno == 0)
		errno = ECONNRESET;
	else if (e != SSL_ERROR_SYSCALL)
		errno = EPROTO;
	ERR_clear_error();
	return -1;
}

int c2s_tls_handshake(struct c2s_conn *c)
{
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->tls = C2S_TLS_UP;
		c->read_wants_write = c->write_wants_read = 0;
		return 1;
	}
	int e = SSL_get_error(c->ssl, r);
	c->read_wants_write = e == SSL_ERROR_WANT_WRITE;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	unsigned long le = ERR_peek_error();
	log_info("tls handshake failed", "sid=%llu error=\"%s\"", (unsigned long long)c->sid,
		 le && ERR_reason_error_string(le) ? ERR_reason_error_string(le) : "eof");
	ERR_clear_error();
	return -1;
}

ssize_t c2s_tls_read(struct c2s_conn *c, void *p, size_t n)
{
	c->read_wants_write = 0;
	int r = SSL_read(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
	if (r > 0)
		return r;
	int k = tls_would_block(c, r, &c->read_wants_write, 1);
	return k == 0 ? 0 : -1;
}

ssize_t c2s_tls_write(struct c2s_conn *c, const void *p, size_t n)
{
	c->write_wants_read = 0;
	int r = SSL_write(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
	if (r > 0)
		return r;
	int k = tls_would_block(c, r, &c->write_wants_read, 0);
	if (k == 0)
		errno = EPIPE;
	return -1;
}

void c2s_tls_end(struct c2s_conn *c)
{
	if (!c->ssl)
		return;
	if (c->tls == C2S_TLS_UP)
		(void)SSL_shutdown(c->ssl);	/* best effort close_notify; we do not wait */
	ERR_clear_error();
	SSL_free(c->ssl);
	c->ssl = NULL;
	c->tls = C2S_TLS_NONE;
}
