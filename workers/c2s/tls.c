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
#include "tlsctx.h"

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

static SSL_CTX *c2s_sni_lookup(const char *name)
{
	const struct c2s_vhost *vh = c2s_vhost_find(name);
	return vh ? vh->tls : NULL;
}

/* ALPN (XEP-0368): "xmpp-client"; a client offering only other protocols is refused. */
static const struct tls_server_opts c2s_tls_opts = {.alpn = "xmpp-client", .sni_lookup = c2s_sni_lookup};

SSL_CTX *c2s_tls_ctx_new(const uint8_t *cert, size_t cert_len, const uint8_t *key, size_t key_len)
{
	return tls_server_ctx_new(cert, cert_len, key, key_len, &c2s_tls_opts);
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
