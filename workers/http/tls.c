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
#include "tlsctx.h"

static SSL_CTX *http_sni_lookup(const char *name)
{
	for (size_t i = 0; i < henv->conf.nvhosts; i++)
		if (strcasecmp(henv->conf.vhosts[i].name, name) == 0)
			return henv->conf.vhosts[i].tls;
	return NULL;	/* the first host's certificate; the Host header decides later */
}

/* ALPN: http/1.1 is all we speak; clients offering only h2 get a fatal alert. */
static const struct tls_server_opts http_tls_opts = {.alpn = "http/1.1", .sni_lookup = http_sni_lookup};

SSL_CTX *http_tls_ctx_new(const uint8_t *cert, size_t cert_len, const uint8_t *key, size_t key_len)
{
	return tls_server_ctx_new(cert, cert_len, key, key_len, &http_tls_opts);
}

int http_tls_begin(struct http_conn *c)
{
	SSL_CTX *ctx = NULL;
	for (size_t i = 0; !ctx && i < henv->conf.nvhosts; i++)
		ctx = henv->conf.vhosts[i].tls;
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
	log_info("tls handshake failed", "ip=%s error=\"%s\"", c->ip, tls_error_reason());
	ERR_clear_error();
	return -1;
}

ssize_t http_tls_read(struct http_conn *c, void *p, size_t n)
{
	c->read_wants_write = 0;
	int r = SSL_read(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
	if (r > 0)
		return r;
	return tls_io_result(c->ssl, r, &c->read_wants_write, 1) == 0 ? 0 : -1;
}

ssize_t http_tls_write(struct http_conn *c, const void *p, size_t n)
{
	c->write_wants_read = 0;
	int r = SSL_write(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
	if (r > 0)
		return r;
	if (tls_io_result(c->ssl, r, &c->write_wants_read, 0) == 0)
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
