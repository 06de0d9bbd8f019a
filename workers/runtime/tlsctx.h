/* Server TLS contexts shared by the stream workers (c2s, http): one SSL_CTX per virtual host,
 * built from PEM bytes in memory before the sandbox, since workers open no files afterwards. */
#ifndef XMPPD_TLSCTX_H
#define XMPPD_TLSCTX_H
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

struct tls_server_opts {
	const char *alpn;	/* the one protocol spoken ("xmpp-client", "http/1.1"); a client
				 * offering only others is refused, one offering none is served */
	/* SNI: the context of the named virtual host, or NULL to keep the default one */
	SSL_CTX *(*sni_lookup)(const char *name);
};

/* TLS 1.2+, no compression or renegotiation, idle buffers released, no server-side session
 * cache (stateless tickets only). The key may ride in the certificate PEM when key is NULL.
 * NULL (logged) when the PEM does not load or the key does not match. opts must outlive ctx. */
SSL_CTX *tls_server_ctx_new(const uint8_t *cert, size_t cert_len, const uint8_t *key, size_t key_len,
			    const struct tls_server_opts *opts);
/* The channel binding of an established server-side TLS session: tls-exporter (RFC 9266, TLS 1.3
 * only) when exporter is set, else tls-server-end-point (RFC 5929). Length or -1. */
int tls_channel_binding(SSL *ssl, int exporter, uint8_t *out, size_t cap);
/* After SSL_read/SSL_write/SSL_do_handshake returned r <= 0 on ssl: 1 when it would block (errno
 * EAGAIN; *wants_other set when it waits for the other direction than the call's, reading
 * telling which that was), 0 on the peer's close_notify, -1 on failure (errno ECONNRESET or
 * EPROTO, or the socket's). Clears OpenSSL's error queue. */
int tls_io_result(SSL *ssl, int r, int *wants_other, int reading);
/* The reason of the first error on OpenSSL's queue, or "eof" when it is empty (a closed socket). */
const char *tls_error_reason(void);

#endif
