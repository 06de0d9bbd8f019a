/* Taking an established TLS 1.3 connection over from OpenSSL: the keylog callback captures the
 * application traffic secrets during the handshake, then they key our record layer and the SSL
 * object can be freed. Captured secrets are wiped when their SSL is freed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tls13conn.h"

struct tls13_capture {
	uint8_t client[TLS13_SECRET_MAX], server[TLS13_SECRET_MAX];
	uint8_t client_len, server_len;
};

/* Global on purpose: OpenSSL's ex_data index for the capture, one per process. */
static int tls13_exidx = -1;

static void capture_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (ptr) {
		explicit_bzero(ptr, sizeof(struct tls13_capture));
		free(ptr);
	}
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* "<label> <64 hex client random> <hex secret>": the secret into out, its length or -1. */
static int keylog_secret(const char *line, const char *label, uint8_t *out)
{
	size_t ll = strlen(label), n = strlen(line);
	if (n <= ll + 65 || strncmp(line, label, ll) != 0 || line[ll] != ' ' || line[ll + 65] != ' ')
		return -1;
	const char *h = line + ll + 66;
	size_t hl = n - ll - 66;
	if (hl % 2 || hl / 2 > TLS13_SECRET_MAX)
		return -1;
	for (size_t i = 0; i < hl / 2; i++) {
		int a = hexval(h[2 * i]), b = hexval(h[2 * i + 1]);
		if (a < 0 || b < 0)
			return -1;
		out[i] = (uint8_t)(a << 4 | b);
	}
	return (int)(hl / 2);
}

static void keylog_cb(const SSL *ssl, const char *line)
{
	int client = strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0;
	if (!client && strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) != 0)
		return;	/* handshake and exporter secrets stay with OpenSSL */
	struct tls13_capture *cap = SSL_get_ex_data(ssl, tls13_exidx);
	if (!cap) {
		if (!(cap = calloc(1, sizeof(*cap))) || SSL_set_ex_data((SSL *)ssl, tls13_exidx, cap) != 1) {
			free(cap);
			return;	/* no capture: this connection stays with OpenSSL */
		}
	}
	uint8_t secret[TLS13_SECRET_MAX];
	int n = keylog_secret(line, client ? "CLIENT_TRAFFIC_SECRET_0" : "SERVER_TRAFFIC_SECRET_0", secret);
	if (n > 0) {
		memcpy(client ? cap->client : cap->server, secret, (size_t)n);
		*(client ? &cap->client_len : &cap->server_len) = (uint8_t)n;
	}
	explicit_bzero(secret, sizeof(secret));
}

int tls13_ssl_prepare_ctx(SSL_CTX *ctx)
{
	if (tls13_rec_init() < 0)
		return -1;
	if (tls13_exidx < 0 && (tls13_exidx = SSL_get_ex_new_index(0, NULL, NULL, NULL, capture_free)) < 0)
		return -1;
	/* no tickets: the application keys have protected nothing when the handshake ends */
	if (SSL_CTX_set_num_tickets(ctx, 0) != 1)
		return -1;
	SSL_CTX_set_keylog_callback(ctx, keylog_cb);
	return 0;
}

struct tls13_conn *tls13_conn_from_ssl(SSL *ssl)
{
	struct tls13_capture *cap = tls13_exidx >= 0 ? SSL_get_ex_data(ssl, tls13_exidx) : NULL;
	const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
	uint16_t suite = cipher ? (uint16_t)SSL_CIPHER_get_protocol_id(cipher) : 0;
	size_t sl = tls13_secret_len(suite);
	/* OpenSSL must hold nothing we would miss: no buffered record (its socket BIO reads one
	 * record at a time without read-ahead), no early data, no ticket sent with our keys */
	if (!cap || SSL_version(ssl) != TLS1_3_VERSION || !SSL_is_init_finished(ssl) || SSL_has_pending(ssl) ||
	    SSL_get_read_ahead(ssl) || SSL_get_num_tickets(ssl) != 0 ||
	    SSL_get_early_data_status(ssl) == SSL_EARLY_DATA_ACCEPTED || sl == 0 || cap->client_len != sl ||
	    cap->server_len != sl) {
		errno = ENOTSUP;
		return NULL;
	}
	struct tls13_conn *t = tls13_conn_new(suite, cap->client, cap->server);	/* we read what the client writes */
	explicit_bzero(cap, sizeof(*cap));
	return t;
}
