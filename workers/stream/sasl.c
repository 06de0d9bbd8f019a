/* SCRAM server steps for c2s: parse the client's messages, build server-first, and relay the
 * proof to storage. Never holds StoredKey, ServerKey or a password; wipes what it keeps. */
#include "sasl.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "sto.h"
#include "tlv.h"
#include "xlimits.h"

static const struct {
	int mech;
	const char *name;
	size_t hash_len;
	int base;
} mechs[] = {
	{C2S_SCRAM_SHA1, "SCRAM-SHA-1", 20, C2S_SCRAM_SHA1},
	{C2S_SCRAM_SHA256, "SCRAM-SHA-256", 32, C2S_SCRAM_SHA256},
	{C2S_SCRAM_SHA1_PLUS, "SCRAM-SHA-1-PLUS", 20, C2S_SCRAM_SHA1},
	{C2S_SCRAM_SHA256_PLUS, "SCRAM-SHA-256-PLUS", 32, C2S_SCRAM_SHA256},
};

static const struct {
	int type;
	const char *name;
} cbtypes[] = {
	{C2S_CB_EXPORTER, "tls-exporter"},
	{C2S_CB_ENDPOINT, "tls-server-end-point"},
};

int c2s_scram_mech_base(int mech)
{
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (mechs[i].mech == mech)
			return mechs[i].base;
	return 0;
}

int c2s_scram_mech_plus(int mech) { return mech != 0 && c2s_scram_mech_base(mech) != mech; }

int c2s_scram_mech_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (strcmp(name, mechs[i].name) == 0)
			return mechs[i].mech;
	return -1;
}

const char *c2s_scram_mech_name(int mech)
{
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (mechs[i].mech == mech)
			return mechs[i].name;
	return "?";
}

size_t c2s_scram_hash_len(int mech)
{
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (mechs[i].mech == mech)
			return mechs[i].hash_len;
	return 0;
}

static const struct {
	int result;
	const char *cond;
} conds[] = {
	{C2S_SASL_EMALFORMED, "malformed-request"}, {C2S_SASL_EMECH, "invalid-mechanism"},
	{C2S_SASL_EAUTH, "not-authorized"},	    {C2S_SASL_ETEMP, "temporary-auth-failure"},
	{C2S_SASL_ECBIND, "not-authorized"},	    {C2S_SASL_EAUTHZID, "invalid-authzid"},
	{C2S_SASL_ESTATE, "malformed-request"},
};

const char *c2s_sasl_condition(int result)
{
	for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++)
		if (conds[i].result == result)
			return conds[i].cond;
	return "temporary-auth-failure";
}

/* ---- base64 ---- */

static const char b64_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int c2s_b64_encode(struct buf *out, const void *p, size_t n)
{
	const uint8_t *s = p;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		char q[4] = {b64_alpha[(v >> 18) & 63], b64_alpha[(v >> 12) & 63],
			     i + 1 < n ? b64_alpha[(v >> 6) & 63] : '=', i + 2 < n ? b64_alpha[v & 63] : '='};
		if (buf_put(out, q, 4) < 0)
			return -1;
	}
	return 0;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64_alpha, c) : NULL;
	return p ? (int)(p - b64_alpha) : -1;
}

int c2s_b64_decode(struct buf *out, const char *s, size_t n, size_t max)
{
	if (n % 4 != 0 || n / 4 * 3 > max + 2)
		return -1;
	size_t start = out->len;
	for (size_t i = 0; i < n; i += 4) {
		int last = i + 4 == n;
		int pad = (s[i + 3] == '=') + (s[i + 2] == '=' && s[i + 3] == '=');
		if (pad && !last)
			return -1;
		int v[4];
		for (int k = 0; k < 4 - pad; k++)
			if ((v[k] = b64_val(s[i + (size_t)k])) < 0)
				return -1;
		for (int k = 4 - pad; k < 4; k++)
			v[k] = 0;
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return -1;	/* non-canonical bits under the padding */
		uint8_t b[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
		if (buf_put(out, b, (size_t)(3 - pad)) < 0)
			return -1;
	}
	if (out->len - start > max) {
		out->len = start;
		return -1;
	}
	return 0;
}

/* ---- message parsing ---- */

/* saslname: "=2C" → ',', "=3D" → '=', any other '=' or a ',' is malformed. */
static int saslname_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == ',' || c == 0)
			return -1;
		if (c == '=') {
			if (i + 2 >= n)
				return -1;
			if (s[i + 1] == '2' && s[i + 2] == 'C')
				c = ',';
			else if (s[i + 1] == '3' && s[i + 2] == 'D')
				c = '=';
			else
				return -1;
			i += 2;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	out[o] = 0;
	return 0;
}

/* Next comma-separated attribute of msg starting at *off: sets its span, moves *off past it. */
static void next_attr(const char *msg, size_t len, size_t *off, const char **a, size_t *alen)
{
	const char *p = msg + *off;
	const char *c = memchr(p, ',', len - *off);
	*a = p;
	*alen = c ? (size_t)(c - p) : len - *off;
	*off += *alen + (c ? 1 : 0);
}

static int printable_nonce(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e || s[i] == ',')
			return 0;
	return 1;
}

static int parse_gs2(const char *msg, size_t len, size_t *off, struct c2s_scram_first *f)
{
	const char *a;
	size_t alen;
	next_attr(msg, len, off, &a, &alen);
	if (alen >= 2 && a[0] == 'p' && a[1] == '=') {
		for (size_t i = 0; i < sizeof(cbtypes) / sizeof(cbtypes[0]); i++)
			if (alen - 2 == strlen(cbtypes[i].name) && !memcmp(a + 2, cbtypes[i].name, alen - 2))
				f->cbtype = cbtypes[i].type;
		if (!f->cbtype)
			return C2S_SASL_ECBIND;	/* a binding type we do not offer */
	} else if (alen != 1 || (a[0] != 'n' && a[0] != 'y'))
		return C2S_SASL_EMALFORMED;
	f->cbind = a[0];
	if (*off >= len)
		return C2S_SASL_EMALFORMED;
	next_attr(msg, len, off, &a, &alen);
	f->authzid[0] = 0;
	if (alen > 0 && (alen < 2 || a[0] != 'a' || a[1] != '=' ||
			 saslname_decode(a + 2, alen - 2, f->authzid, sizeof(f->authzid)) < 0))
		return C2S_SASL_EMALFORMED;
	if (*off > len || msg[*off - 1] != ',')
		return C2S_SASL_EMALFORMED;
	f->gs2_len = *off;
	return C2S_SASL_OK;
}

int c2s_scram_parse_first(const char *msg, size_t len, struct c2s_scram_first *f)
{
	memset(f, 0, sizeof(*f));
	if (len == 0 || len > SCRAM_MAX_MSG || memchr(msg, 0, len))
		return C2S_SASL_EMALFORMED;
	size_t off = 0;
	int r = parse_gs2(msg, len, &off, f);
	if (r != C2S_SASL_OK)
		return r;
	f->bare = msg + off;
	f->bare_len = len - off;
	const char *a;
	size_t alen;
	next_attr(msg, len, &off, &a, &alen);
	if (alen >= 2 && a[0] == 'm' && a[1] == '=')
		return C2S_SASL_EMALFORMED;	/* a mandatory extension we do not know */
	if (alen < 3 || a[0] != 'n' || a[1] != '=' ||
	    saslname_decode(a + 2, alen - 2, f->user, sizeof(f->user)) < 0)
		return C2S_SASL_EMALFORMED;
	next_attr(msg, len, &off, &a, &alen);
	if (alen < 3 || a[0] != 'r' || a[1] != '=' || !printable_nonce(a + 2, alen - 2))
		return C2S_SASL_EMALFORMED;
	f->cnonce = a + 2;
	f->cnonce_len = alen - 2;
	return C2S_SASL_OK;	/* optional extensions after the nonce are ignored */
}

int c2s_scram_parse_final(const char *msg, size_t len, size_t hash_len, struct c2s_scram_final *f)
{
	memset(f, 0, sizeof(*f));
	if (len == 0 || len > SCRAM_MAX_MSG || memchr(msg, 0, len))
		return C2S_SASL_EMALFORMED;
	size_t off = 0, alen;
	const char *a;
	struct buf b;
	buf_init(&b);
	next_attr(msg, len, &off, &a, &alen);
	if (alen < 2 || a[0] != 'c' || a[1] != '=' ||
	    c2s_b64_decode(&b, a + 2, alen - 2, sizeof(f->cbind)) < 0)
		goto malformed;
	memcpy(f->cbind, b.data, b.len);
	f->cbind_len = b.len;
	next_attr(msg, len, &off, &a, &alen);
	if (alen < 3 || a[0] != 'r' || a[1] != '=' || !printable_nonce(a + 2, alen - 2))
		goto malformed;
	f->nonce = a + 2;
	f->nonce_len = alen - 2;
	for (;;) {	/* extensions, then the proof, which must come last */
		if (off >= len)
			goto malformed;
		size_t at = off;
		next_attr(msg, len, &off, &a, &alen);
		if (alen < 2 || a[1] != '=')
			goto malformed;
		if (a[0] != 'p')
			continue;
		if (off != len || msg[len - 1] == ',')
			goto malformed;
		buf_reset(&b);
		if (c2s_b64_decode(&b, a + 2, alen - 2, sizeof(f->proof)) < 0 || b.len != hash_len)
			goto malformed;
		memcpy(f->proof, b.data, b.len);
		f->proof_len = b.len;
		f->without_proof_len = at - 1;
		buf_wipe_free(&b);
		return C2S_SASL_OK;
	}
malformed:
	buf_wipe_free(&b);
	return C2S_SASL_EMALFORMED;
}

/* ---- the exchange ---- */

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

static void wipe_str(char **s)
{
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void c2s_scram_clear(struct c2s_scram *s)
{
	wipe_str(&s->gs2);
	wipe_str(&s->cfb);
	wipe_str(&s->sfirst);
	wipe_str(&s->nonce);
	wipe_str(&s->plain);
	explicit_bzero(s->user, sizeof(s->user));
	explicit_bzero(s->cbdata, sizeof(s->cbdata));
	s->cbdata_len = 0;
	s->cbind = 0;
	s->cbtype = 0;
	s->state = C2S_SCRAM_IDLE;
	s->mech = 0;
}

static int authzid_ok(const char *authzid, const char *user, const char *host)
{
	if (!authzid[0])
		return 1;
	size_t ul = strlen(user);
	return strncmp(authzid, user, ul) == 0 && authzid[ul] == '@' && strcmp(authzid + ul + 1, host) == 0;
}

int c2s_scram_client_first(struct c2s_scram *s, int mech, const char *msg, size_t len,
			   const char *host, struct buf *req)
{
	if (s->state != C2S_SCRAM_IDLE)
		return C2S_SASL_ESTATE;
	if (c2s_scram_hash_len(mech) == 0)
		return C2S_SASL_EMECH;
	struct c2s_scram_first f;
	int r = c2s_scram_parse_first(msg, len, &f);
	if (r != C2S_SASL_OK)
		return r;
	if ((f.cbind == 'p') != c2s_scram_mech_plus(mech))
		return C2S_SASL_ECBIND;	/* -PLUS needs p=, p= needs -PLUS (RFC 5802 §6) */
	memcpy(s->user, f.user, sizeof(s->user));
	if (stringprep_xmpp_nodeprep(s->user, sizeof(s->user)) != STRINGPREP_OK || !s->user[0]) {
		c2s_scram_clear(s);
		return C2S_SASL_EAUTH;
	}
	if (!authzid_ok(f.authzid, s->user, host)) {
		c2s_scram_clear(s);
		return C2S_SASL_EAUTHZID;
	}
	s->mech = mech;
	s->cbind = f.cbind;
	s->cbtype = f.cbtype;
	s->gs2 = dup_n(msg, f.gs2_len);
	s->cfb = dup_n(f.bare, f.bare_len);
	s->nonce = dup_n(f.cnonce, f.cnonce_len);
	if (!s->gs2 || !s->cfb || !s->nonce || tlv_put_u32(req, STO_T_OP, STO_OP_SCRAM_PARAMS) < 0 ||
	    tlv_put_str(req, STO_T_HOST, host) < 0 || tlv_put_str(req, STO_T_USER, s->user) < 0 ||
	    tlv_put_str(req, STO_T_MECH, c2s_scram_mech_name(c2s_scram_mech_base(mech))) < 0) {
		c2s_scram_clear(s);
		return C2S_SASL_ETEMP;
	}
	s->state = C2S_SCRAM_WAIT_PARAMS;
	return C2S_SASL_OK;
}

struct sto_reply {
	uint32_t status;
	int has_status;
	const uint8_t *salt, *sig;
	size_t salt_len, sig_len;
	uint32_t iter;
};

static int parse_reply(const uint8_t *rep, size_t len, struct sto_reply *o)
{
	memset(o, 0, sizeof(*o));
	struct rbuf r;
	struct tlv t;
	int k;
	rbuf_init(&r, rep, len);
	while ((k = tlv_next(&r, &t)) == 1) {
		if (t.tag == STO_T_STATUS) {
			if (tlv_u32(&t, &o->status) < 0)
				return -1;
			o->has_status = 1;
		} else if (t.tag == STO_T_SALT) {
			o->salt = t.val;
			o->salt_len = t.len;
		} else if (t.tag == STO_T_ITER) {
			if (tlv_u32(&t, &o->iter) < 0)
				return -1;
		} else if (t.tag == STO_T_SIGNATURE) {
			o->sig = t.val;
			o->sig_len = t.len;
		}
	}
	return k == 0 && o->has_status ? 0 : -1;
}

/* Storage's answer to what was asked in state want: C2S_SASL_OK with *o filled in, else the
 * error that ends the exchange (a refusal is EAUTH, anything else went wrong is ETEMP). */
static int take_reply(const struct c2s_scram *s, enum c2s_scram_state want, const uint8_t *rep, size_t len,
		      struct sto_reply *o)
{
	if (s->state != (int)want)
		return C2S_SASL_ESTATE;
	if (parse_reply(rep, len, o) < 0)
		return C2S_SASL_ETEMP;
	if (o->status != STO_OK)
		return o->status == STO_EAUTH ? C2S_SASL_EAUTH : C2S_SASL_ETEMP;
	return C2S_SASL_OK;
}

static int make_nonce(struct buf *out)
{
	uint8_t rnd[C2S_SCRAM_NONCE_BYTES];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	return c2s_b64_encode(out, rnd, sizeof(rnd));
}

int c2s_scram_server_first(struct c2s_scram *s, const uint8_t *rep, size_t len, const char *snonce,
			   struct buf *out)
{
	struct sto_reply o;
	int r = take_reply(s, C2S_SCRAM_WAIT_PARAMS, rep, len, &o);
	if (r != C2S_SASL_OK)
		return r;
	if (!o.salt || o.salt_len == 0 || o.iter == 0)
		return C2S_SASL_ETEMP;
	struct buf n;
	buf_init(&n);
	int bad = buf_put_str(&n, s->nonce) < 0 ||
		  (snonce ? buf_put_str(&n, snonce) : make_nonce(&n)) < 0 || buf_put_u8(&n, 0) < 0;
	size_t start = out->len;
	bad = bad || buf_put_str(out, "r=") < 0 || buf_put_str(out, (char *)n.data) < 0 ||
	      buf_put_str(out, ",s=") < 0 || c2s_b64_encode(out, o.salt, o.salt_len) < 0 ||
	      buf_printf(out, ",i=%u", o.iter) < 0;
	if (bad) {
		buf_free(&n);
		return C2S_SASL_ETEMP;
	}
	wipe_str(&s->nonce);
	s->nonce = (char *)n.data;	/* taken from the buffer */
	s->sfirst = dup_n((const char *)out->data + start, out->len - start);
	if (!s->sfirst)
		return C2S_SASL_ETEMP;
	s->state = C2S_SCRAM_WAIT_FINAL;
	return C2S_SASL_OK;
}

int c2s_scram_client_final(struct c2s_scram *s, const char *msg, size_t len, const char *host,
			   struct buf *req)
{
	if (s->state != C2S_SCRAM_WAIT_FINAL)
		return C2S_SASL_ESTATE;
	struct c2s_scram_final f;
	int r = c2s_scram_parse_final(msg, len, c2s_scram_hash_len(s->mech), &f);
	if (r != C2S_SASL_OK)
		return r;
	size_t gl = strlen(s->gs2), cl = s->cbind == 'p' ? s->cbdata_len : 0;
	if (s->cbind == 'p' && cl == 0) {
		explicit_bzero(&f, sizeof(f));
		return C2S_SASL_ECBIND;	/* the TLS layer could not give the binding */
	}
	if (f.cbind_len != gl + cl || memcmp(f.cbind, s->gs2, gl) != 0 ||
	    memcmp(f.cbind + gl, s->cbdata, cl) != 0 || f.nonce_len != strlen(s->nonce) ||
	    memcmp(f.nonce, s->nonce, f.nonce_len) != 0) {
		explicit_bzero(&f, sizeof(f));
		return C2S_SASL_EAUTH;
	}
	struct buf am;
	buf_init(&am);
	int bad = buf_put_str(&am, s->cfb) < 0 || buf_put_u8(&am, ',') < 0 ||
		  buf_put_str(&am, s->sfirst) < 0 || buf_put_u8(&am, ',') < 0 ||
		  buf_put(&am, msg, f.without_proof_len) < 0;
	bad = bad || tlv_put_u32(req, STO_T_OP, STO_OP_SCRAM_VERIFY) < 0 ||
	      tlv_put_str(req, STO_T_HOST, host) < 0 || tlv_put_str(req, STO_T_USER, s->user) < 0 ||
	      tlv_put_str(req, STO_T_MECH, c2s_scram_mech_name(c2s_scram_mech_base(s->mech))) < 0 ||
	      tlv_put(req, STO_T_AUTHMSG, am.data, am.len) < 0 ||
	      tlv_put(req, STO_T_PROOF, f.proof, f.proof_len) < 0;
	buf_wipe_free(&am);
	explicit_bzero(&f, sizeof(f));
	if (bad)
		return C2S_SASL_ETEMP;
	s->state = C2S_SCRAM_WAIT_VERIFY;
	return C2S_SASL_OK;
}

int c2s_scram_verify_reply(struct c2s_scram *s, const uint8_t *rep, size_t len, struct buf *out)
{
	struct sto_reply o;
	int r = take_reply(s, C2S_SCRAM_WAIT_VERIFY, rep, len, &o);
	if (r != C2S_SASL_OK)
		return r;
	if (!o.sig || o.sig_len != c2s_scram_hash_len(s->mech))
		return C2S_SASL_ETEMP;
	if (buf_put_str(out, "v=") < 0 || c2s_b64_encode(out, o.sig, o.sig_len) < 0)
		return C2S_SASL_ETEMP;
	s->state = C2S_SCRAM_DONE;
	return C2S_SASL_OK;
}
