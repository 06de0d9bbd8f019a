/* Fuzz target for the c2s XML stream parser: the first byte chooses split points, and the
 * events and result of the split feed (parked between chunks), and of a feed split at every
 * byte, must equal the whole feed's. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workers/stream/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_log {
	uint64_t h;
	unsigned n;
};

static void fz_mix(struct fz_log *l, const char *s)
{
	if (!s)
		s = "\x01(null)";
	for (; *s; s++)
		l->h = (l->h ^ (uint8_t)*s) * 0x100000001b3ULL;
	l->h = (l->h ^ 0xff) * 0x100000001b3ULL;
}

static int fz_start(void *arg, const struct c2s_xml_hdr *h)
{
	struct fz_log *l = arg;
	const char *f[] = {"S", h->name, h->ns, h->default_ns, h->to, h->from, h->version, h->id, h->lang};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		fz_mix(l, f[i]);
	l->n++;
	return C2S_XML_CONTINUE;
}

static int fz_elem(void *arg, const struct c2s_xml_elem *e)
{
	struct fz_log *l = arg;
	const char *f[] = {"E", e->name, e->ns, e->to, e->from, e->type, e->id, e->mechanism, e->text,
			   e->child_name, e->child_ns, e->child_text, e->gchild_name, e->gchild_text,
			   e->priority, e->xml};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		fz_mix(l, f[i]);
	if (strlen(e->xml) != e->xml_len || e->from_at + e->from_span > e->xml_len)
		abort();
	struct buf b;
	buf_init(&b);
	if (c2s_xml_put_with_from(&b, e, "u@h/r") < 0)
		abort();
	buf_free(&b);
	l->n++;
	return C2S_XML_CONTINUE;
}

static int fz_end(void *arg)
{
	struct fz_log *l = arg;
	fz_mix(l, "END");
	return C2S_XML_CONTINUE;
}

static const struct c2s_xml_ops fz_ops = {fz_start, fz_elem, fz_end};

#define FZ_BYTEWISE 0xffffffffu	/* seed: one byte per feed */

/* Same verdict and events, allowing for a token expat has not decided yet (see below). */
static void fz_compare(int a, const struct fz_log *whole, int b, const struct fz_log *split)
{
	if (a == b && (whole->h != split->h || whole->n != split->n))
		abort();
	/* expat may leave a bad token undecided until more input comes: then one feed is still
	 * OK and the other not-well-formed, and the undecided one saw at least as many events */
	if (a != b && !(a == C2S_XML_OK && b == C2S_XML_ENOTWF && split->n <= whole->n) &&
	    !(b == C2S_XML_OK && a == C2S_XML_ENOTWF && whole->n <= split->n))
		abort();
}

static int fz_run(const uint8_t *p, size_t n, unsigned seed, struct fz_log *l)
{
	struct c2s_xml_limits lim = {4096, 0, 0};
	struct c2s_xml *x = c2s_xml_new(&lim, &fz_ops, l);
	if (!x)
		abort();
	int r = C2S_XML_OK;
	size_t off = 0;
	for (unsigned i = 0; off < n && r == C2S_XML_OK; i++) {
		size_t k = seed == FZ_BYTEWISE ? 1 : seed ? 1 + (seed * 31u + i * 17u) % (seed % 61u + 1u) : n;
		if (k > n - off)
			k = n - off;
		r = c2s_xml_feed(x, p + off, k);
		if (seed && r == C2S_XML_OK)
			c2s_xml_trim(x);	/* the split run also parks between chunks */
		off += k;
	}
	c2s_xml_free(x);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 3000)	/* below the stanza limit, so splits cannot change it */
		return 0;
	struct fz_log whole = {0xcbf29ce484222325ULL, 0}, split = whole, bytes = whole;
	int a = fz_run(data + 1, size - 1, 0, &whole);
	int b = fz_run(data + 1, size - 1, data[0] | 1u, &split);
	fz_compare(a, &whole, b, &split);
	int c = fz_run(data + 1, size - 1, FZ_BYTEWISE, &bytes);
	fz_compare(a, &whole, c, &bytes);
	return 0;
}
