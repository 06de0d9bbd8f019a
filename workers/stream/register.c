/* XEP-0077 in-band registration before authentication: the stream feature, the form, and account
 * creation relayed to storage as AUTH_REQ (the router permits it only where registration is open). */
#include <expat.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stringprep.h>

#include "c2s.h"
#include "log.h"
#include "sto.h"
#include "tlv.h"

#define NS_REGISTER "jabber:iq:register"
#define REG_FIELD_MAX 1023u		/* bytes of a username or password */
#define REG_WINDOW 600.0		/* seconds the throttle remembers a registration */
#define REG_SLOTS 4096u			/* registrations remembered, across addresses */

/* Registrations (and those in flight) by address; the oldest slot is reused when all are taken. */
static struct {
	uint8_t addr[16];
	double at;	/* 0 = free */
} recent[REG_SLOTS];
static unsigned recent_next;

static const char REG_FORM[] =
	"<query xmlns='" NS_REGISTER "'><instructions>Choose a username and password to register "
	"with this server.</instructions><username/><password/></query>";

int c2s_reg_offered(const struct c2s_conn *c)
{
	return !c->authed && c->vh && c->vh->registration && (c->tls == C2S_TLS_UP || !c->vh->require_tls);
}

int c2s_reg_wanted(const struct c2s_conn *c, const struct c2s_xml_elem *e)
{
	return !c->authed && c->vh && strcmp(e->name, "iq") == 0 && e->child_name && e->child_ns &&
	       strcmp(e->child_name, "query") == 0 && strcmp(e->child_ns, NS_REGISTER) == 0;
}

/* -1 when this address made regs_per_ip registrations in the window; else a slot is taken. */
static int reg_throttle_take(const struct c2s_conn *c, unsigned *slot)
{
	double now = ev_now(env->loop);
	uint32_t n = 0;
	for (unsigned i = 0; i < REG_SLOTS; i++)
		if (recent[i].at > 0 && now - recent[i].at < REG_WINDOW && memcmp(recent[i].addr, c->addr, 16) == 0)
			n++;
	if (n >= env->regs_per_ip)
		return -1;
	*slot = recent_next++ % REG_SLOTS;
	memcpy(recent[*slot].addr, c->addr, 16);
	recent[*slot].at = now;
	return 0;
}

/* A failed registration does not count: the slot taken for it is given back. */
static void reg_throttle_give_back(const struct c2s_conn *c)
{
	for (unsigned i = 0; i < REG_SLOTS; i++) {
		unsigned k = (recent_next + REG_SLOTS - 1 - i) % REG_SLOTS;
		if (recent[k].at > 0 && memcmp(recent[k].addr, c->addr, 16) == 0) {
			recent[k].at = 0;
			return;
		}
	}
}

/* The fields of <query/> in the set, read from the re-serialised stanza with expat. */
struct reg_fields {
	unsigned depth;
	int in;			/* 1 username, 2 password, 0 elsewhere */
	int remove, too_long, have_user, have_pass;
	char user[REG_FIELD_MAX + 1], pass[REG_FIELD_MAX + 1];
	size_t user_len, pass_len;
};

static void XMLCALL rf_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct reg_fields *f = arg;
	(void)attrs;
	f->depth++;
	f->in = 0;
	if (f->depth != 3 || strncmp(name, NS_REGISTER "\x01", sizeof(NS_REGISTER)) != 0)
		return;
	const char *local = name + sizeof(NS_REGISTER);
	if (strcmp(local, "username") == 0)
		f->in = 1, f->have_user = 1;
	else if (strcmp(local, "password") == 0)
		f->in = 2, f->have_pass = 1;
	else if (strcmp(local, "remove") == 0)
		f->remove = 1;
}

static void XMLCALL rf_end(void *arg, const XML_Char *name)
{
	struct reg_fields *f = arg;
	(void)name;
	f->depth--;
	f->in = 0;
}

static void XMLCALL rf_text(void *arg, const XML_Char *s, int len)
{
	struct reg_fields *f = arg;
	char *dst = f->in == 1 ? f->user : f->pass;
	size_t *dlen = f->in == 1 ? &f->user_len : &f->pass_len;
	if (!f->in || len <= 0)
		return;
	if (*dlen + (size_t)len > REG_FIELD_MAX) {
		f->too_long = 1;
		return;
	}
	memcpy(dst + *dlen, s, (size_t)len);
	*dlen += (size_t)len;
	dst[*dlen] = 0;
}

static int reg_parse(const struct c2s_xml_elem *e, struct reg_fields *f)
{
	XML_Parser p = XML_ParserCreateNS(NULL, '\x01');
	if (!p)
		return -1;
	XML_SetUserData(p, f);
	XML_SetElementHandler(p, rf_start, rf_end);
	XML_SetCharacterDataHandler(p, rf_text);
	int ok = e->xml && e->xml_len <= (size_t)INT32_MAX &&
		 XML_Parse(p, e->xml, (int)e->xml_len, 1) == XML_STATUS_OK;
	XML_ParserFree(p);
	return ok ? 0 : -1;
}

/* Builds ACCOUNT_CREATE for storage and sends it; the body holding the password is wiped. */
static int reg_send(struct c2s_conn *c, const char *user, const char *pass)
{
	struct buf req;
	buf_init(&req);
	int rc = tlv_put_u32(&req, STO_T_OP, STO_OP_ACCOUNT_CREATE) | tlv_put_str(&req, STO_T_HOST, c->vh->name) |
		 tlv_put_str(&req, STO_T_USER, user) | tlv_put_str(&req, STO_T_PASSWORD, pass);
	if (rc == 0)
		rc = c2s_auth_request(c, &req);
	buf_wipe_free(&req);
	return rc < 0 ? -1 : 0;
}

static void reg_set(struct c2s_conn *c, const struct c2s_xml_elem *e)
{
	struct reg_fields *f = calloc(1, sizeof(*f));
	unsigned slot;
	if (!f) {
		c2s_iq_error(c, e->id, "wait", "internal-server-error");
		return;
	}
	if (reg_parse(e, f) < 0)
		c2s_iq_error(c, e->id, "modify", "bad-request");
	else if (f->remove)
		c2s_iq_error(c, e->id, "auth", "not-authorized");	/* §3.2: cancel needs an account */
	else if (!c->vh->registration)
		c2s_iq_error(c, e->id, "cancel", "not-allowed");
	else if (c->reqid || c->scram)
		c2s_iq_error(c, e->id, "wait", "unexpected-request");	/* not during SASL, one at a time */
	else if (!f->have_user || !f->have_pass || !f->user[0] || !f->pass[0] || f->too_long ||
		 stringprep_xmpp_nodeprep(f->user, sizeof(f->user)) != STRINGPREP_OK || !f->user[0])
		c2s_iq_error(c, e->id, "modify", "not-acceptable");
	else if (reg_throttle_take(c, &slot) < 0)
		c2s_iq_error(c, e->id, "wait", "resource-constraint");
	else if (!(c->reg_id = e->id ? strdup(e->id) : NULL) && e->id) {
		reg_throttle_give_back(c);
		c2s_iq_error(c, e->id, "wait", "internal-server-error");
	} else if (reg_send(c, f->user, f->pass) < 0) {
		reg_throttle_give_back(c);
		c2s_iq_error(c, e->id, "wait", "service-unavailable");
		free(c->reg_id);
		c->reg_id = NULL;
	} else {
		c->reg_wait = 1;
		log_info("registration requested", "sid=%llu user=%s host=%s", (unsigned long long)c->sid,
			 f->user, c->vh->name);
	}
	explicit_bzero(f, sizeof(*f));
	free(f);
}

int c2s_reg_iq(struct c2s_conn *c, const struct c2s_xml_elem *e)
{
	if (c->vh->require_tls && c->tls != C2S_TLS_UP) {
		c2s_stream_error(c, "not-authorized");	/* nothing before TLS where it is required */
		return C2S_XML_STOP;
	}
	if (!e->type || !e->id || !e->id[0] || e->nchildren != 1 ||
	    (strcmp(e->type, "get") != 0 && strcmp(e->type, "set") != 0)) {
		if (!e->type || strcmp(e->type, "error") != 0)
			c2s_iq_error(c, e->id, "modify", "bad-request");
		return C2S_XML_CONTINUE;
	}
	if (e->to && strcasecmp(e->to, c->vh->name) != 0) {
		c2s_iq_error(c, e->id, "cancel", "service-unavailable");
		return C2S_XML_CONTINUE;
	}
	if (strcmp(e->type, "get") == 0) {
		if (c->vh->registration)
			c2s_iq_reply(c, e->id, "result", REG_FORM);
		else
			c2s_iq_error(c, e->id, "cancel", "not-allowed");
		return C2S_XML_CONTINUE;
	}
	reg_set(c, e);
	return C2S_XML_CONTINUE;
}

void c2s_reg_reply(struct c2s_conn *c, int is_error, const uint8_t *body, size_t len)
{
	struct rbuf r;
	struct tlv t;
	uint32_t st = STO_EUNAVAIL;
	c2s_sess_req_remove(c);
	c->reg_wait = 0;
	rbuf_init(&r, body, len);
	if (!is_error && !(tlv_next(&r, &t) == 1 && t.tag == STO_T_STATUS && tlv_u32(&t, &st) == 0))
		st = STO_EIO;
	if (st != STO_OK)
		reg_throttle_give_back(c);
	if (st == STO_OK)
		c2s_iq_reply(c, c->reg_id, "result", NULL);
	else if (st == STO_EEXISTS)
		c2s_iq_error(c, c->reg_id, "cancel", "conflict");
	else if (st == STO_EINVAL)
		c2s_iq_error(c, c->reg_id, "modify", "not-acceptable");
	else if (st == STO_EUNAVAIL)
		c2s_iq_error(c, c->reg_id, "cancel", "service-unavailable");
	else
		c2s_iq_error(c, c->reg_id, "wait", "internal-server-error");
	log_info("registration answered", "sid=%llu status=%u", (unsigned long long)c->sid, st);
	free(c->reg_id);
	c->reg_id = NULL;
}
