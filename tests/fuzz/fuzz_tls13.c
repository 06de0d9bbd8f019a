/* Fuzz target for the TLS 1.3 record decoder (workers/runtime/tls13conn.c): the input is a script
 * that seals records as a client would (any inner type, content, padding), adds raw bytes, flips
 * bytes and delivers the stream in pieces; the server side must never crash, never return more
 * than asked, and whatever it sends back must open with the client's keys. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls13conn.h"

#define FZ_STREAM_MAX (96u * 1024)

struct fz {
	const uint8_t *p;
	size_t n;
	struct tls13_conn *t;
	struct tls13_keys c;	/* the client: writes with c.wr, reads what the server sent with c.rd */
	uint8_t *stream;
	size_t len, off;	/* bytes built, bytes delivered */
};

static int next(struct fz *f)
{
	if (f->n == 0)
		return -1;
	f->n--;
	return *f->p++;
}

/* Opens what the server queued, as the client; KeyUpdates from the server move the read key. */
static void fz_check_output(struct fz *f)
{
	size_t off = 0;
	while (off < f->t->out.len) {
		uint8_t *rec = f->t->out.data + off, ct = 0;
		ssize_t rl = tls13_record_len(rec, f->t->out.len - off);
		size_t plen = 0;
		if (rl <= 0 || tls13_open(&f->c, rec, (size_t)rl, &ct, &plen) != 0)
			abort();	/* the server wrote something its peer cannot read */
		if (ct == TLS13_CT_HANDSHAKE && plen == 5 && rec[5] == 24 && tls13_dir_update(&f->c, &f->c.rd) < 0)
			abort();
		off += (size_t)rl;
	}
	buf_reset(&f->t->out);
}

/* Delivers the stream built so far in chunks, reading with a buffer of the given size. */
static void fz_deliver(struct fz *f, size_t chunk, size_t room)
{
	static uint8_t plain[TLS13_PLAIN_MAX];
	for (int i = 0; i < 4096 && f->t->state == TLS13_OPEN; i++) {
		size_t want = f->len - f->off < chunk ? f->len - f->off : chunk;
		int k = tls13_conn_push(f->t, f->stream + f->off, want);
		if (k < 0)
			abort();
		f->off += (size_t)k;
		size_t got = tls13_conn_process(f->t, plain, room);
		if (got > room)
			abort();
		fz_check_output(f);
		if (got == 0 && (k == 0 || f->off == f->len) && !tls13_conn_pending(f->t))
			break;
	}
}

/* Seals content || type || zeros as the client; a whole KeyUpdate also moves the client's key. */
static void fz_seal(struct fz *f, unsigned pad)
{
	int ct = next(f), l = next(f);
	if (ct < 0 || l < 0)
		return;
	size_t n = pad == 63 ? (size_t)l * 65 : (size_t)l;	/* 63: content up to 2^14 + 191 bytes */
	static uint8_t content[TLS13_PLAIN_MAX + 300];
	for (size_t i = 0; i < n; i++)
		content[i] = f->n ? f->p[i % f->n] : (uint8_t)i;
	size_t used = (size_t)l < f->n ? (size_t)l : f->n;
	f->p += used, f->n -= used;
	uint8_t type = (uint8_t)ct;
	int key_update = type == TLS13_CT_HANDSHAKE && n == 5 && content[0] == 24;
	if (pad && pad != 63 && n + pad <= TLS13_PLAIN_MAX) {	/* padding: the type moves inside */
		content[n] = type;
		memset(content + n + 1, 0, pad - 1);
		n += pad;
		type = 0;
	}
	if (n > TLS13_PLAIN_MAX || f->len + n + TLS13_OVERHEAD > FZ_STREAM_MAX)
		return;
	if (tls13_seal(&f->c, type, content, n, f->stream + f->len, FZ_STREAM_MAX - f->len) < 0)
		abort();
	f->len += n + TLS13_OVERHEAD;
	if (key_update && tls13_dir_update(&f->c, &f->c.wr) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t stream[FZ_STREAM_MAX];
	uint8_t a[TLS13_SECRET_MAX], b[TLS13_SECRET_MAX];
	if (size < 1)
		return 0;
	memset(a, 0x11, sizeof(a));
	memset(b, 0x22, sizeof(b));
	uint16_t suite = (uint16_t)(TLS13_AES_128_GCM_SHA256 + data[0] % 3);
	struct fz f = {.p = data + 1, .n = size - 1, .stream = stream};
	f.t = tls13_conn_new(suite, a, b);
	if (!f.t || tls13_keys_init(&f.c, suite, b, a) < 0)
		abort();
	for (int op; (op = next(&f)) >= 0;) {
		if ((op & 3) == 0) {
			fz_seal(&f, (unsigned)op >> 2);
		} else if ((op & 3) == 1) {	/* raw bytes, unprotected */
			int l = next(&f);
			size_t n = l < 0 ? 0 : (size_t)l < f.n ? (size_t)l : f.n;
			if (f.len + n <= FZ_STREAM_MAX) {
				memcpy(stream + f.len, f.p, n);
				f.len += n;
			}
			f.p += n, f.n -= n;
		} else if ((op & 3) == 2) {	/* one byte of what is not delivered yet changes */
			int x = next(&f), y = next(&f);
			if (x >= 0 && y >= 0 && f.len > f.off)
				stream[f.off + ((size_t)(x << 8 | y) % (f.len - f.off))] ^= (uint8_t)(op | 1);
		} else {
			int chunk = next(&f), room = next(&f);
			if (chunk >= 0 && room >= 0)
				fz_deliver(&f, (size_t)chunk * 67 + 1, (size_t)room * 67 + 1);
		}
	}
	fz_deliver(&f, FZ_STREAM_MAX, TLS13_PLAIN_MAX);
	tls13_keys_wipe(&f.c);
	tls13_conn_free(f.t);
	return 0;
}
