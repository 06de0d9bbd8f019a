/* Unit tests for taking a TLS 1.3 connection over from OpenSSL (workers/runtime/tls13ssl.c,
 * tls13conn.c) against a real OpenSSL client over a socketpair: no byte lost at the switch,
 * data both ways through full socket buffers, KeyUpdate both ways, close_notify, every suite,
 * a corrupted record, and TLS 1.2 left alone. */
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls13conn.h"

#define LOOPS 20000	/* bound on every pumping loop */

struct pair {
	SSL_CTX *sctx, *cctx;
	SSL *srv, *cli;
	int sfd, cfd;
	struct tls13_conn *t;
};

static void make_cert(SSL_CTX *ctx)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	assert_non_null(pk);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
				   -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, pk);
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
	assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, pk), 1);
	X509_free(x);
	EVP_PKEY_free(pk);
}

/* A handshake between a real client and a prepared server; with early_write the client sends
 * "first" right after its Finished, before the server has read that Finished. */
static void pair_handshake(struct pair *p, const char *suite, int max_version, int early_write)
{
	memset(p, 0, sizeof(*p));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	p->sfd = sv[0], p->cfd = sv[1];
	int small = 4096;	/* full buffers early: partial writes are the common case */
	setsockopt(p->sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(p->cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	p->sctx = SSL_CTX_new(TLS_server_method());
	p->cctx = SSL_CTX_new(TLS_client_method());
	make_cert(p->sctx);
	assert_int_equal(tls13_ssl_prepare_ctx(p->sctx), 0);
	SSL_CTX_set_mode(p->cctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (suite)
		assert_int_equal(SSL_CTX_set_ciphersuites(p->cctx, suite), 1);
	if (max_version)
		SSL_CTX_set_max_proto_version(p->cctx, max_version);
	p->srv = SSL_new(p->sctx);
	p->cli = SSL_new(p->cctx);
	SSL_set_fd(p->srv, p->sfd);
	SSL_set_fd(p->cli, p->cfd);
	SSL_set_accept_state(p->srv);
	SSL_set_connect_state(p->cli);
	int cdone = 0, sdone = 0, wrote = !early_write;
	for (int i = 0; i < 100 && !(cdone && sdone); i++) {
		if (!cdone)
			cdone = SSL_do_handshake(p->cli) == 1;
		if (cdone && !wrote)
			wrote = SSL_write(p->cli, "first", 5) == 5;
		if (!sdone && (!cdone || wrote))
			sdone = SSL_do_handshake(p->srv) == 1;
	}
	assert_true(cdone && sdone && wrote);
	ERR_clear_error();
}

static void pair_take_over(struct pair *p)
{
	p->t = tls13_conn_from_ssl(p->srv);
	assert_non_null(p->t);
	SSL_free(p->srv);
	p->srv = NULL;
}

static void pair_free(struct pair *p)
{
	tls13_conn_free(p->t);
	SSL_free(p->srv);
	SSL_free(p->cli);
	SSL_CTX_free(p->sctx);
	SSL_CTX_free(p->cctx);
	close(p->sfd);
	close(p->cfd);
}

/* Reads exactly n bytes on the server side, the client pumping as it must. */
static void srv_read_exact(struct pair *p, uint8_t *out, size_t n)
{
	size_t got = 0;
	for (int i = 0; got < n; i++) {
		assert_true(i < LOOPS);
		ssize_t r = tls13_conn_read(p->t, p->sfd, out + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else
			assert_true(r < 0 && errno == EAGAIN);
	}
}

static void cli_read_exact(struct pair *p, uint8_t *out, size_t n)
{
	size_t got = 0;
	for (int i = 0; got < n; i++) {
		assert_true(i < LOOPS);
		int r = SSL_read(p->cli, out + got, (int)(n - got));
		if (r > 0)
			got += (size_t)r;
		else if (SSL_get_error(p->cli, r) != SSL_ERROR_WANT_READ)
			fail_msg("client read: %s", ERR_reason_error_string(ERR_peek_error()));
	}
}

static void test_switch_loses_nothing(void **state)
{
	(void)state;
	struct pair p;
	pair_handshake(&p, NULL, 0, 1);
	pair_take_over(&p);
	uint8_t buf[16];
	srv_read_exact(&p, buf, 5);
	assert_memory_equal(buf, "first", 5);
	/* idle, the connection keeps no buffer */
	assert_null(p.t->in);
	assert_null(p.t->out.data);
	assert_int_equal(tls13_conn_write(p.t, p.sfd, "hello", 5), 5);
	cli_read_exact(&p, buf, 5);
	assert_memory_equal(buf, "hello", 5);
	pair_free(&p);
}

/* 300 KB each way through 4 KB socket buffers: the server's writes block, its records go out
 * in pieces, and the client's records arrive split at any byte. */
static void bulk_both_ways(struct pair *p)
{
	size_t total = 300 * 1024;
	uint8_t *src = malloc(total), *dst = malloc(total);
	for (size_t i = 0; i < total; i++)
		src[i] = (uint8_t)(i * 7 + i / 251);
	size_t sent = 0, got = 0;
	for (int i = 0; (sent < total || got < total); i++) {
		assert_true(i < LOOPS * 10);
		if (sent < total) {
			ssize_t r = tls13_conn_write(p->t, p->sfd, src + sent, total - sent);
			if (r > 0)
				sent += (size_t)r;
			else
				assert_true(r < 0 && errno == EAGAIN);
		}
		int r = SSL_read(p->cli, dst + got, (int)(total - got));
		if (r > 0)
			got += (size_t)r;
	}
	assert_memory_equal(src, dst, total);
	sent = got = 0;
	for (int i = 0; (sent < total || got < total); i++) {
		assert_true(i < LOOPS * 10);
		if (sent < total) {
			int r = SSL_write(p->cli, src + sent, (int)(total - sent));
			if (r > 0)
				sent += (size_t)r;
		}
		ssize_t r = tls13_conn_read(p->t, p->sfd, dst + got, total - got);
		if (r > 0)
			got += (size_t)r;
		else
			assert_true(r < 0 && errno == EAGAIN);
	}
	assert_memory_equal(src, dst, total);
	free(src);
	free(dst);
}

static void test_bulk_every_suite(void **state)
{
	(void)state;
	static const char *suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
				       "TLS_CHACHA20_POLY1305_SHA256"};
	static const uint16_t ids[] = {0x1301, 0x1302, 0x1303};
	for (int i = 0; i < 3; i++) {
		struct pair p;
		pair_handshake(&p, suites[i], 0, 0);
		pair_take_over(&p);
		assert_int_equal(p.t->k.suite, ids[i]);
		bulk_both_ways(&p);
		pair_free(&p);
	}
}

static void test_key_update_both_ways(void **state)
{
	(void)state;
	struct pair p;
	uint8_t buf[16];
	pair_handshake(&p, NULL, 0, 0);
	pair_take_over(&p);
	for (int round = 0; round < 3; round++) {
		/* the client updates its key and asks for ours */
		assert_int_equal(SSL_key_update(p.cli, SSL_KEY_UPDATE_REQUESTED), 1);
		assert_int_equal(SSL_write(p.cli, "ku", 2), 2);
		srv_read_exact(&p, buf, 2);
		assert_memory_equal(buf, "ku", 2);
		assert_true(p.t->k.rd.seq == 1 && p.t->k.wr.seq == 0);	/* both keys are new */
		assert_int_equal(tls13_conn_write(p.t, p.sfd, "after", 5), 5);
		cli_read_exact(&p, buf, 5);	/* reads our KeyUpdate first, then the data */
		assert_memory_equal(buf, "after", 5);
	}
	pair_free(&p);
}

static void test_close_notify_both_ways(void **state)
{
	(void)state;
	struct pair p;
	uint8_t buf[16];
	pair_handshake(&p, NULL, 0, 0);
	pair_take_over(&p);
	assert_int_equal(SSL_shutdown(p.cli), 0);	/* ours has not arrived yet */
	ssize_t r = -1;
	for (int i = 0; i < 10 && r < 0; i++)
		r = tls13_conn_read(p.t, p.sfd, buf, sizeof(buf));
	assert_int_equal(r, 0);
	assert_int_equal(p.t->state, TLS13_EOF);
	tls13_conn_close_notify(p.t, p.sfd);
	int k = SSL_read(p.cli, buf, sizeof(buf));
	assert_int_equal(k, 0);
	assert_int_equal(SSL_get_error(p.cli, k), SSL_ERROR_ZERO_RETURN);
	pair_free(&p);
}

static void test_corrupted_record_gets_bad_record_mac(void **state)
{
	(void)state;
	struct pair p;
	uint8_t buf[64];
	pair_handshake(&p, NULL, 0, 0);
	pair_take_over(&p);
	/* a record the client's OpenSSL writes, one bit changed on the wire */
	int pipefd[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pipefd), 0);
	SSL_set_fd(p.cli, pipefd[0]);
	assert_int_equal(SSL_write(p.cli, "hello world", 11), 11);
	ssize_t n = read(pipefd[1], buf, sizeof(buf));
	assert_true(n > 20);
	buf[n - 3] ^= 0x10;
	assert_int_equal(write(p.cfd, buf, (size_t)n), n);
	SSL_set_fd(p.cli, p.cfd);
	errno = 0;
	assert_int_equal(tls13_conn_read(p.t, p.sfd, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(p.t->state, TLS13_FAILED);
	assert_int_equal(p.t->alert, 20);
	int k = SSL_read(p.cli, buf, sizeof(buf));	/* the client hears why */
	assert_true(k <= 0);
	assert_int_equal(SSL_get_error(p.cli, k), SSL_ERROR_SSL);
	unsigned long e = ERR_peek_error();
	assert_int_equal(ERR_GET_REASON(e), SSL_R_SSLV3_ALERT_BAD_RECORD_MAC);
	ERR_clear_error();
	/* and the connection refuses to go on */
	assert_int_equal(tls13_conn_write(p.t, p.sfd, "x", 1), -1);
	assert_int_equal(errno, EPROTO);
	close(pipefd[0]);
	close(pipefd[1]);
	pair_free(&p);
}

static void test_tls12_is_not_taken_over(void **state)
{
	(void)state;
	struct pair p;
	pair_handshake(&p, NULL, TLS1_2_VERSION, 0);
	assert_int_equal(SSL_version(p.srv), TLS1_2_VERSION);
	errno = 0;
	assert_null(tls13_conn_from_ssl(p.srv));
	assert_int_equal(errno, ENOTSUP);
	pair_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_switch_loses_nothing),
		cmocka_unit_test(test_bulk_every_suite),
		cmocka_unit_test(test_key_update_both_ways),
		cmocka_unit_test(test_close_notify_both_ways),
		cmocka_unit_test(test_corrupted_record_gets_bad_record_mac),
		cmocka_unit_test(test_tls12_is_not_taken_over),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
