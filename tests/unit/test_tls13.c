/* Unit tests for the TLS 1.3 record layer (workers/runtime/tls13rec.c, tls13conn.c): the RFC 8448
 * simple 1-RTT trace (keys and protected records, byte for byte), a table of malformed and
 * forbidden records, each named, and KeyUpdate, partial reads and padding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "tls13conn.h"
#include "tls13rec.h"

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = strlen(h) / 2;
	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;
		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

/* RFC 8448 §3, "Simple 1-RTT Handshake" */
#define C_AP "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5"
#define S_AP "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643"
#define C_KEY "17422dda596ed5d9acd890e3c63f5051"
#define C_IV "5b78923dee08579033e523d9"
#define S_KEY "9f02283b6c9c07efc26bb9f2ac92e356"
#define S_IV "cf782b88dd83549aadf1e984"
#define C_DATA_REC                                                                                  \
	"1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b" \
	"62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4"
#define C_ALERT_REC "1703030013c9872760655666b74d7ff1153efd6db6d0b0e3"
#define S_TICKET                                                                                    \
	"040000c90000001efad6aac502000000b22c035d829359ee5ff7af4ec900000000262a6494dc486d2c8a34cb33fa90bf" \
	"1b0070ad3c498883c9367c09a2be785abc55cd226097a3a982117283f82a03a143efd3ff5dd36d64e861be7fd61d2827" \
	"db279cce145077d454a3664d4e6da4d29ee03725a6a4dafcd0fc67d2aea70529513e3da2677fa5906c5b3f7d8f92f228" \
	"bda40dda721470f9fbf297b5aea617646fac5c03272e970727c621a79141ef5f7de6505e5bfbc388e93343694093934a" \
	"e4d3570008002a000400000400"
#define S_TICKET_REC                                                                                \
	"17030300de3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d41d6af8f6b580dcf3d11d63c758db289a" \
	"015940252f55713e061dc13e078891a38efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1b6c0d4a3d03f75e0" \
	"9c30ba1e62972ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406f16e3fc181a77ca475840025db2f0a77" \
	"f81b5ab05b94c01346755f69232c86519d86cbeeac87aac347d143f9605d64f650db4d023e70e952ca49fe5137121c74" \
	"bc2697687e248746d6df353005f3bce18696129c8153556b3b6c6779b37bf15985684f"
#define S_DATA_REC                                                                                  \
	"17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8" \
	"fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d"
#define S_ALERT_REC "1703030013b58fd67166ebf599d24720cfbe7efa7a8864a9"

static uint8_t c_ap[32], s_ap[32], payload[50];

static void rfc_setup(void)
{
	unhex(C_AP, c_ap, sizeof(c_ap));
	unhex(S_AP, s_ap, sizeof(s_ap));
	for (int i = 0; i < 50; i++)
		payload[i] = (uint8_t)i;
}

/* The server's keys read what the client writes. */
static void server_keys(struct tls13_keys *k)
{
	rfc_setup();
	assert_int_equal(tls13_keys_init(k, TLS13_AES_128_GCM_SHA256, c_ap, s_ap), 0);
}

static void test_rfc8448_traffic_keys(void **state)
{
	(void)state;
	struct tls13_keys k;
	uint8_t want[16];
	server_keys(&k);
	unhex(C_KEY, want, 16);
	assert_memory_equal(k.rd.key, want, 16);
	unhex(C_IV, want, 12);
	assert_memory_equal(k.rd.iv, want, 12);
	unhex(S_KEY, want, 16);
	assert_memory_equal(k.wr.key, want, 16);
	unhex(S_IV, want, 12);
	assert_memory_equal(k.wr.iv, want, 12);
	assert_true(k.rd.seq == 0 && k.wr.seq == 0);
	tls13_keys_wipe(&k);
}

static void test_rfc8448_open_client_records(void **state)
{
	(void)state;
	struct tls13_keys k;
	uint8_t rec[128], ct = 0;
	size_t plen = 0;
	server_keys(&k);
	size_t n = unhex(C_DATA_REC, rec, sizeof(rec));
	assert_int_equal(tls13_record_len(rec, n), (ssize_t)n);
	assert_int_equal(tls13_record_len(rec, n - 1), 0);
	assert_int_equal(tls13_open(&k, rec, n, &ct, &plen), 0);
	assert_int_equal(ct, TLS13_CT_APPDATA);
	assert_int_equal(plen, 50);
	assert_memory_equal(rec + TLS13_HDR, payload, 50);
	n = unhex(C_ALERT_REC, rec, sizeof(rec));
	assert_int_equal(tls13_open(&k, rec, n, &ct, &plen), 0);	/* sequence 1 */
	assert_int_equal(ct, TLS13_CT_ALERT);
	assert_int_equal(plen, 2);
	assert_int_equal(rec[5], 1);
	assert_int_equal(rec[6], 0);
}

static void test_rfc8448_seal_server_records(void **state)
{
	(void)state;
	struct tls13_keys k;
	uint8_t ticket[256], want[256], out[300];
	server_keys(&k);
	size_t tn = unhex(S_TICKET, ticket, sizeof(ticket));
	size_t wn = unhex(S_TICKET_REC, want, sizeof(want));	/* sequence 0: the NewSessionTicket */
	assert_int_equal(tls13_seal(&k, TLS13_CT_HANDSHAKE, ticket, tn, out, sizeof(out)), (ssize_t)wn);
	assert_memory_equal(out, want, wn);
	wn = unhex(S_DATA_REC, want, sizeof(want));
	assert_int_equal(tls13_seal(&k, TLS13_CT_APPDATA, payload, 50, out, sizeof(out)), (ssize_t)wn);
	assert_memory_equal(out, want, wn);
	const uint8_t close_notify[2] = {1, 0};
	wn = unhex(S_ALERT_REC, want, sizeof(want));
	assert_int_equal(tls13_seal(&k, TLS13_CT_ALERT, close_notify, 2, out, sizeof(out)), (ssize_t)wn);
	assert_memory_equal(out, want, wn);
	/* in place, as the connection seals into its own buffer */
	memcpy(out + TLS13_HDR, payload, 50);
	k.wr.seq = 1;
	wn = unhex(S_DATA_REC, want, sizeof(want));
	assert_int_equal(tls13_seal(&k, TLS13_CT_APPDATA, out + TLS13_HDR, 50, out, sizeof(out)), (ssize_t)wn);
	assert_memory_equal(out, want, wn);
}

/* An independent sealer for records our own never writes (padding, no type, oversize): AES-128-GCM
 * over an arbitrary inner plaintext with the client's key of k at its sequence number. */
static size_t raw_seal(struct tls13_dir *d, const uint8_t *inner, size_t n, uint8_t *out)
{
	uint8_t nonce[12];
	memcpy(nonce, d->iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
	d->seq++;
	size_t len = n + 16;
	out[0] = 23, out[1] = 3, out[2] = 3, out[3] = (uint8_t)(len >> 8), out[4] = (uint8_t)len;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int l = 0;
	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, d->key, nonce), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, NULL, &l, out, 5), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, out + 5, &l, inner, (int)n), 1);
	assert_int_equal(EVP_EncryptFinal_ex(ctx, out + 5 + l, &l), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + 5 + n), 1);
	EVP_CIPHER_CTX_free(ctx);
	return 5 + len;
}

enum piece_kind { P_END, P_REC, P_NOTYPE, P_BADTAG, P_RAW, P_OVERSIZE };

struct piece {
	int kind;
	uint8_t ct;
	const char *content;	/* bytes as a string; hex when it starts with "0x" */
	size_t pad;		/* zero padding (P_REC), or zero bytes (P_NOTYPE) */
	unsigned repeat;
};

struct dcase {
	const char *name;
	struct piece p[4];
	int state, alert;	/* after processing */
	const char *data;	/* the application data returned */
	int peer_alert;		/* the peer ended it: no alert goes back */
};

#define REC(ct, s) {P_REC, ct, s, 0, 1}
static const struct dcase dcases[] = {
	{"application data", {REC(23, "hello")}, TLS13_OPEN, 0, "hello", 0},
	{"padding is removed", {{P_REC, 23, "hello", 200, 1}}, TLS13_OPEN, 0, "hello", 0},
	{"zero-length application data", {REC(23, ""), REC(23, "x")}, TLS13_OPEN, 0, "x", 0},
	{"bad tag", {{P_BADTAG, 23, "hello", 0, 1}}, TLS13_FAILED, 20, "", 0},
	{"missing content type", {{P_NOTYPE, 0, "", 12, 1}}, TLS13_FAILED, 10, "", 0},
	{"content over 2^14", {{P_OVERSIZE, 23, "", 0, 1}}, TLS13_FAILED, 22, "", 0},
	{"length over 2^14+256", {{P_RAW, 0, "0x1703034101", 0, 1}}, TLS13_FAILED, 22, "", 0},
	{"outer type handshake", {{P_RAW, 0, "0x160303000100", 0, 1}}, TLS13_FAILED, 10, "", 0},
	{"outer type change_cipher_spec", {{P_RAW, 0, "0x140303000101", 0, 1}}, TLS13_FAILED, 10, "", 0},
	{"outer type alert", {{P_RAW, 0, "0x15030300020100", 0, 1}}, TLS13_FAILED, 10, "", 0},
	{"record version 0x0301", {{P_RAW, 0, "0x17030100020000", 0, 1}}, TLS13_FAILED, 50, "", 0},
	{"shorter than a tag", {{P_RAW, 0, "0x17030300056868686868", 0, 1}}, TLS13_FAILED, 20, "", 0},
	{"close_notify", {REC(21, "0x0100")}, TLS13_EOF, 0, "", 0},
	{"data then close_notify", {REC(23, "ab"), REC(21, "0x0100")}, TLS13_EOF, 0, "ab", 0},
	{"user_canceled is ignored", {REC(21, "0x015a"), REC(23, "x")}, TLS13_OPEN, 0, "x", 0},
	{"fatal alert from the peer", {REC(21, "0x0228")}, TLS13_FAILED, 40, "", 1},
	{"alert of 3 bytes", {REC(21, "0x010000")}, TLS13_FAILED, 50, "", 0},
	{"empty alert", {REC(21, "")}, TLS13_FAILED, 50, "", 0},
	{"zero-length handshake", {REC(22, "")}, TLS13_FAILED, 10, "", 0},
	{"NewSessionTicket from a client", {REC(22, "0x0400000100")}, TLS13_FAILED, 10, "", 0},
	{"ClientHello after the handshake", {REC(22, "0x010000020303")}, TLS13_FAILED, 10, "", 0},
	{"KeyUpdate of length 2", {REC(22, "0x180000020000")}, TLS13_FAILED, 50, "", 0},
	{"KeyUpdate value 2", {REC(22, "0x1800000102")}, TLS13_FAILED, 47, "", 0},
	{"KeyUpdate not ending its record", {REC(22, "0x180000010018")}, TLS13_FAILED, 10, "", 0},
	{"data between the pieces of a message", {REC(22, "0x1800"), REC(23, "x")}, TLS13_FAILED, 10, "", 0},
	{"inner type change_cipher_spec", {REC(20, "0x01")}, TLS13_FAILED, 10, "", 0},
	{"inner type heartbeat", {REC(24, "x")}, TLS13_FAILED, 10, "", 0},
	{"a flood of empty records", {{P_REC, 23, "", 0, TLS13_EMPTY_MAX + 1}}, TLS13_FAILED, 10, "", 0},
	{"close_notify after empty records", {{P_REC, 23, "", 0, TLS13_EMPTY_MAX}, REC(21, "0x0100")}, TLS13_EOF, 0, "", 0},
	{"empty records under the limit", {{P_REC, 23, "", 0, TLS13_EMPTY_MAX}, REC(23, "y")}, TLS13_OPEN, 0, "y", 0},
};

static size_t content_of(const char *s, uint8_t *out, size_t cap)
{
	if (strncmp(s, "0x", 2) == 0)
		return unhex(s + 2, out, cap);
	memcpy(out, s, strlen(s));
	return strlen(s);
}

/* Builds the client's byte stream for one piece at out; returns its length. */
static size_t build_piece(struct tls13_dir *cw, const struct piece *p, uint8_t *out)
{
	static uint8_t inner[TLS13_PLAIN_MAX + 300];
	size_t n = 0;
	if (p->kind == P_RAW)
		return content_of(p->content, out, 64);
	if (p->kind == P_OVERSIZE) {
		memset(inner, 'o', TLS13_PLAIN_MAX + 1);
		n = TLS13_PLAIN_MAX + 1;
	} else if (p->kind != P_NOTYPE) {
		n = content_of(p->content, inner, 64);
	}
	if (p->kind != P_NOTYPE)
		inner[n++] = p->ct;
	memset(inner + n, 0, p->pad);
	n += p->pad;
	size_t len = raw_seal(cw, inner, n, out);
	if (p->kind == P_BADTAG)
		out[len - 1] ^= 1;
	return len;
}

static void run_dcase(const struct dcase *dc)
{
	rfc_setup();
	struct tls13_conn *t = tls13_conn_new(TLS13_AES_128_GCM_SHA256, c_ap, s_ap);
	struct tls13_keys client;
	assert_non_null(t);
	assert_int_equal(tls13_keys_init(&client, TLS13_AES_128_GCM_SHA256, s_ap, c_ap), 0);
	static uint8_t stream[40 * 1024], got[TLS13_PLAIN_MAX];
	size_t sn = 0, gn = 0;
	for (const struct piece *p = dc->p; p->kind != P_END; p++)
		for (unsigned r = 0; r < p->repeat; r++)
			sn += build_piece(&client.wr, p, stream + sn);
	for (size_t off = 0, rounds = 0; off < sn || rounds == 0; rounds++) {
		assert_true(rounds < 100);
		int k = tls13_conn_push(t, stream + off, sn - off);
		assert_true(k >= 0);
		off += (size_t)k;
		for (size_t k2 = 1, i = 0; k2 > 0 && t->state == TLS13_OPEN; i++) {
			assert_true(i < 100);	/* one record per call */
			k2 = tls13_conn_process(t, got + gn, sizeof(got) - gn);
			gn += k2;
		}
		if (t->state != TLS13_OPEN)
			break;
	}
	if (t->state != dc->state || t->alert != dc->alert || gn != strlen(dc->data) ||
	    memcmp(got, dc->data, gn) != 0)
		fail_msg("case \"%s\": state %d alert %d data \"%.*s\", want state %d alert %d data \"%s\"",
			 dc->name, t->state, t->alert, (int)gn, got, dc->state, dc->alert, dc->data);
	/* an alert goes back for our errors, never for the peer's own alert */
	int ours = dc->state == TLS13_FAILED && !dc->peer_alert;
	if (ours != (t->out.len > 0))
		fail_msg("case \"%s\": %zu alert bytes queued", dc->name, t->out.len);
	if (ours) {
		uint8_t ct = 0;
		size_t plen = 0;
		assert_int_equal(tls13_open(&client, t->out.data, t->out.len, &ct, &plen), 0);
		assert_int_equal(ct, TLS13_CT_ALERT);
		assert_int_equal(plen, 2);
		assert_int_equal(t->out.data[5], 2);
		assert_int_equal(t->out.data[6], dc->alert);
	}
	tls13_keys_wipe(&client);
	tls13_conn_free(t);
}

static void test_decoding_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++)
		run_dcase(&dcases[i]);
}

static void test_partial_reads_and_split_input(void **state)
{
	(void)state;
	rfc_setup();
	struct tls13_conn *t = tls13_conn_new(TLS13_AES_128_GCM_SHA256, c_ap, s_ap);
	uint8_t rec[128], got[100];
	size_t n = unhex(C_DATA_REC, rec, sizeof(rec)), gn = 0;
	/* the RFC's record arrives a byte at a time and is read 7 bytes at a time */
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(tls13_conn_push(t, rec + i, 1), 1);
		gn += tls13_conn_process(t, got + gn, gn + 7 <= sizeof(got) ? 7 : 0);
	}
	for (int i = 0; i < 10 && gn < 50; i++)
		gn += tls13_conn_process(t, got + gn, 7);
	assert_int_equal(gn, 50);
	assert_memory_equal(got, payload, 50);
	assert_int_equal(t->state, TLS13_OPEN);
	assert_null(t->in);	/* nothing waits: the buffer is gone */
	n = unhex(C_ALERT_REC, rec, sizeof(rec));
	assert_int_equal(tls13_conn_push(t, rec, n), (int)n);
	assert_int_equal(tls13_conn_process(t, got, sizeof(got)), 0);
	assert_int_equal(t->state, TLS13_EOF);
	tls13_conn_free(t);
}

static void test_key_update_split_and_requested(void **state)
{
	(void)state;
	rfc_setup();
	struct tls13_conn *t = tls13_conn_new(TLS13_AES_128_GCM_SHA256, c_ap, s_ap);
	struct tls13_keys client;
	assert_int_equal(tls13_keys_init(&client, TLS13_AES_128_GCM_SHA256, s_ap, c_ap), 0);
	uint8_t buf[256], got[64];
	const uint8_t part1[2] = {24, 0}, part2[3] = {0, 1, 1};	/* KeyUpdate(update_requested) */
	size_t n = (size_t)tls13_seal(&client, TLS13_CT_HANDSHAKE, part1, 2, buf, sizeof(buf));
	n += (size_t)tls13_seal(&client, TLS13_CT_HANDSHAKE, part2, 3, buf + n, sizeof(buf) - n);
	assert_int_equal(tls13_dir_update(&client, &client.wr), 0);
	n += (size_t)tls13_seal(&client, TLS13_CT_APPDATA, (const uint8_t *)"after", 5, buf + n, sizeof(buf) - n);
	assert_int_equal(tls13_conn_push(t, buf, n), (int)n);
	assert_int_equal(tls13_conn_process(t, got, sizeof(got)), 5);
	assert_memory_equal(got, "after", 5);
	assert_true(t->k.rd.seq == 1);
	/* the server answered with KeyUpdate(update_not_requested) under its old key, then changed it */
	uint8_t ct = 0;
	size_t plen = 0;
	assert_int_equal(t->out.len, 5 + 5 + 1 + 16);
	assert_int_equal(tls13_open(&client, t->out.data, t->out.len, &ct, &plen), 0);
	assert_int_equal(ct, TLS13_CT_HANDSHAKE);
	const uint8_t want[5] = {24, 0, 0, 1, 0};
	assert_memory_equal(t->out.data + 5, want, 5);
	assert_int_equal(tls13_dir_update(&client, &client.rd), 0);
	assert_memory_equal(client.rd.key, t->k.wr.key, 16);
	assert_true(t->k.wr.seq == 0);
	tls13_keys_wipe(&client);
	tls13_conn_free(t);
}

/* §5.5: after TLS13_REKEY_AFTER records a write key is replaced by our own KeyUpdate. */
static void test_write_key_update_at_the_limit(void **state)
{
	(void)state;
	rfc_setup();
	struct tls13_conn *t = tls13_conn_new(TLS13_AES_128_GCM_SHA256, c_ap, s_ap);
	struct tls13_keys client;
	assert_int_equal(tls13_keys_init(&client, TLS13_AES_128_GCM_SHA256, s_ap, c_ap), 0);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	t->k.wr.seq = client.rd.seq = TLS13_REKEY_AFTER - 1;
	assert_int_equal(tls13_conn_write(t, sv[0], "one", 3), 3);	/* the last under the old key */
	assert_int_equal(tls13_conn_write(t, sv[0], "two", 3), 3);
	assert_true(t->k.wr.seq == 1);
	uint8_t buf[256], ct = 0;
	size_t plen = 0;
	ssize_t n = read(sv[1], buf, sizeof(buf));
	assert_int_equal(n, 3 * TLS13_OVERHEAD + 3 + 5 + 3);
	size_t a = 3 + TLS13_OVERHEAD, b = 5 + TLS13_OVERHEAD;
	assert_int_equal(tls13_open(&client, buf, a, &ct, &plen), 0);
	assert_memory_equal(buf + 5, "one", 3);
	assert_int_equal(tls13_open(&client, buf + a, b, &ct, &plen), 0);
	assert_int_equal(ct, TLS13_CT_HANDSHAKE);
	const uint8_t ku[5] = {24, 0, 0, 1, 0};
	assert_memory_equal(buf + a + 5, ku, 5);
	assert_int_equal(tls13_dir_update(&client, &client.rd), 0);
	assert_int_equal(tls13_open(&client, buf + a + b, (size_t)n - a - b, &ct, &plen), 0);
	assert_int_equal(ct, TLS13_CT_APPDATA);
	assert_memory_equal(buf + a + b + 5, "two", 3);
	close(sv[0]);
	close(sv[1]);
	tls13_keys_wipe(&client);
	tls13_conn_free(t);
}

static void test_other_suites_round_trip(void **state)
{
	(void)state;
	static const uint16_t suites[] = {TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256};
	uint8_t a[48], b[48], rec[128];
	memset(a, 0xa5, sizeof(a));
	memset(b, 0x5a, sizeof(b));
	for (size_t i = 0; i < 2; i++) {
		struct tls13_keys s, c;
		assert_int_equal(tls13_keys_init(&s, suites[i], a, b), 0);
		assert_int_equal(tls13_keys_init(&c, suites[i], b, a), 0);
		for (int j = 0; j < 3; j++) {
			ssize_t n = tls13_seal(&c, TLS13_CT_APPDATA, payload, 50, rec, sizeof(rec));
			assert_int_equal(n, 50 + TLS13_OVERHEAD);
			uint8_t ct = 0;
			size_t plen = 0;
			assert_int_equal(tls13_open(&s, rec, (size_t)n, &ct, &plen), 0);
			assert_int_equal(plen, 50);
			assert_memory_equal(rec + 5, payload, 50);
		}
		/* a record of one suite never opens under another key */
		ssize_t n = tls13_seal(&s, TLS13_CT_APPDATA, payload, 50, rec, sizeof(rec));
		uint8_t ct = 0;
		size_t plen = 0;
		assert_int_equal(tls13_open(&s, rec, (size_t)n, &ct, &plen), TLS13_E_BAD_MAC);
		assert_int_equal(tls13_secret_len(suites[i]), i == 0 ? 48 : 32);
	}
	assert_int_equal(tls13_secret_len(0x1304), 0);	/* CCM suites stay with OpenSSL */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8448_traffic_keys),
		cmocka_unit_test(test_rfc8448_open_client_records),
		cmocka_unit_test(test_rfc8448_seal_server_records),
		cmocka_unit_test(test_decoding_table),
		cmocka_unit_test(test_partial_reads_and_split_input),
		cmocka_unit_test(test_key_update_split_and_requested),
		cmocka_unit_test(test_write_key_update_at_the_limit),
		cmocka_unit_test(test_other_suites_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
