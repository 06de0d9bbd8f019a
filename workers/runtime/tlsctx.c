/* Server SSL_CTX construction for c2s and http from in-memory PEM: certificate chain, key,
 * protocol floor, SNI and ALPN. Never reads a file. Also the OpenSSL I/O result mapping both use. */
#include "tlsctx.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>

#include "log.h"

static int tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_server_opts *o = arg;
	(void)alert;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	SSL_CTX *ctx = name && o->sni_lookup ? o->sni_lookup(name) : NULL;
	if (!ctx)
		return SSL_TLSEXT_ERR_NOACK;	/* the default host's certificate */
	if (SSL_get_SSL_CTX(ssl) != ctx)
		SSL_set_SSL_CTX(ssl, ctx);
	return SSL_TLSEXT_ERR_OK;
}

static int tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	const struct tls_server_opts *o = arg;
	size_t want = strlen(o->alpn);
	(void)ssl;
	for (unsigned int i = 0; i < inlen;) {
		unsigned int n = in[i];
		if (i + 1 + n > inlen)
			break;
		if (n == want && memcmp(in + i + 1, o->alpn, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int tls_load_chain(SSL_CTX *ctx, const uint8_t *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
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
	return ok ? 0 : -1;
}

static int tls_load_key(SSL_CTX *ctx, const uint8_t *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	int ok = k && SSL_CTX_use_PrivateKey(ctx, k) == 1 && SSL_CTX_check_private_key(ctx) == 1;
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

SSL_CTX *tls_server_ctx_new(const uint8_t *cert, size_t cert_len, const uint8_t *key, size_t key_len,
			    const struct tls_server_opts *opts)
{
	if (!cert || cert_len == 0 || cert_len > INT32_MAX || key_len > INT32_MAX)
		return NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);	/* no per-session memory here */
	SSL_CTX_set_tlsext_servername_callback(ctx, tls_sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, (void *)opts);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, (void *)opts);
	int bad = tls_load_chain(ctx, cert, cert_len) < 0 ||
		  (key && key_len ? tls_load_key(ctx, key, key_len) : tls_load_key(ctx, cert, cert_len)) < 0;
	if (bad) {
		unsigned long e = ERR_get_error();
		log_err("tls context", "error=\"%s\"", ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "?");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int tls_channel_binding(SSL *ssl, int exporter, uint8_t *out, size_t cap)
{
	if (!ssl || !SSL_is_init_finished(ssl))
		return -1;
	if (exporter) {
		if (SSL_version(ssl) < TLS1_3_VERSION || cap < 32 ||
		    SSL_export_keying_material(ssl, out, 32, "EXPORTER-Channel-Binding", 24, NULL, 0, 0) != 1)
			return -1;
		return 32;
	}
	/* RFC 5929 §4.1: the certificate's hash, SHA-256 where it was signed with MD5 or SHA-1 */
	X509 *x = SSL_get_certificate(ssl);
	int mdnid = NID_undef, pknid = NID_undef;
	if (!x || OBJ_find_sigid_algs(X509_get_signature_nid(x), &mdnid, &pknid) != 1)
		return -1;
	const EVP_MD *md = mdnid == NID_md5 || mdnid == NID_sha1 || mdnid == NID_undef ? EVP_sha256()
											: EVP_get_digestbynid(mdnid);
	unsigned int n = 0;
	if (!md || (size_t)EVP_MD_get_size(md) > cap || X509_digest(x, md, out, &n) != 1)
		return -1;
	return (int)n;
}

int tls_io_result(SSL *ssl, int r, int *wants_other, int reading)
{
	int e = SSL_get_error(ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*wants_other = (e == SSL_ERROR_WANT_READ) != reading;
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

const char *tls_error_reason(void)
{
	unsigned long e = ERR_peek_error();
	const char *s = e ? ERR_reason_error_string(e) : NULL;
	return s ? s : "eof";
}
