/* xmppctl commands: a table of commands and subcommands with their argument checks, the
 * request TLVs and the reply printer. Never puts a password anywhere but the SECRET record. */
#include "cmd.h"
#include "ctl.h"
#include "tlv.h"

#include <stdlib.h>
#include <string.h>

typedef int (*xctl_check)(const char *arg, char *err, size_t errlen);

struct xctl_sub {
	const char *name;
	xctl_check check;	/* the one argument after the subcommand */
	const char *usage;
	int secret;
};

struct xctl_command {
	const char *name;
	const struct xctl_sub *subs;	/* NULL: the command takes no argument */
};

static int xctl_check_role(const char *arg, char *err, size_t errlen)
{
	static const char *const roles[] = {"c2s", "http", "router", "storage"};
	size_t n = strcspn(arg, ".");
	int known = 0;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		known |= strlen(roles[i]) == n && !strncmp(arg, roles[i], n);
	if (!known) {
		snprintf(err, errlen, "ROLE must be one of c2s, http, router, storage, got '%.*s'",
			 (int)(n > 32 ? 32 : n), arg);
		return -1;
	}
	if (arg[n] == 0)
		return 0;
	const char *num = arg + n + 1;
	size_t digits = strspn(num, "0123456789");
	if (digits == 0 || digits > 6 || num[digits]) {
		snprintf(err, errlen, "N in ROLE.N must be a number, got '%s'", arg);
		return -1;
	}
	return 0;
}

static int xctl_check_jid(const char *arg, char *err, size_t errlen)
{
	const char *at = strchr(arg, '@');
	if (!at || at == arg || !at[1] || strchr(at + 1, '@') || strchr(arg, '/')) {
		snprintf(err, errlen, "'%s' is not a JID like user@host", arg);
		return -1;
	}
	return 0;
}

static int xctl_check_host(const char *arg, char *err, size_t errlen)
{
	if (!arg[0] || strpbrk(arg, "@/ ")) {
		snprintf(err, errlen, "HOST must be a domain name like localhost, got '%s'", arg);
		return -1;
	}
	return 0;
}

static const struct xctl_sub xctl_worker_subs[] = {
	{"restart", xctl_check_role, "worker restart ROLE[.N]", 0},
	{NULL, NULL, NULL, 0},
};

static const struct xctl_sub xctl_user_subs[] = {
	{"add", xctl_check_jid, "user add JID", 1},
	{"passwd", xctl_check_jid, "user passwd JID", 1},
	{"del", xctl_check_jid, "user del JID", 0},
	{"list", xctl_check_host, "user list HOST", 0},
	{NULL, NULL, NULL, 0},
};

static int xctl_check_module(const char *arg, char *err, size_t errlen)
{
	size_t n = strspn(arg, "abcdefghijklmnopqrstuvwxyz0123456789_-");
	if (!n || n > 48 || arg[n]) {
		snprintf(err, errlen, "NAME must be a module name of a-z, 0-9, '_' and '-', got '%.48s'", arg);
		return -1;
	}
	return 0;
}

static const struct xctl_sub xctl_module_subs[] = {
	{"list", xctl_check_host, "module list HOST", 0},
	{"load", xctl_check_module, "module load NAME", 0},
	{"unload", xctl_check_module, "module unload NAME", 0},
	{NULL, NULL, NULL, 0},
};

static const struct xctl_command xctl_commands[] = {
	{"status", NULL},
	{"worker", xctl_worker_subs},
	{"user", xctl_user_subs},
	{"module", xctl_module_subs},
	{"reload", NULL},
	{"stop", NULL},
};

static int xctl_usage(const struct xctl_command *c, char *err, size_t errlen)
{
	size_t o = (size_t)snprintf(err, errlen, "usage:");
	for (const struct xctl_sub *s = c->subs; s->name && o < errlen; s++) {
		int n = snprintf(err + o, errlen - o, "%s xmppctl %s", s == c->subs ? "" : " |", s->usage);
		if (n < 0)
			break;
		o += (size_t)n;
	}
	return -1;
}

static int xctl_sub_parse(const struct xctl_command *c, int argc, char **argv,
			  struct xctl_cmd *out, char *err, size_t errlen)
{
	if (argc < 2)
		return xctl_usage(c, err, errlen);
	const struct xctl_sub *s = c->subs;
	while (s->name && strcmp(s->name, argv[1]))
		s++;
	if (!s->name) {
		snprintf(err, errlen, "unknown %s command '%s'", c->name, argv[1]);
		return -1;
	}
	if (argc != 3) {
		snprintf(err, errlen, "usage: xmppctl %s", s->usage);
		return -1;
	}
	if (s->check(argv[2], err, errlen) < 0)
		return -1;
	out->args[0] = argv[1];
	out->args[1] = argv[2];
	out->nargs = 2;
	out->needs_secret = s->secret;
	return 0;
}

int xctl_cmd_parse(int argc, char **argv, struct xctl_cmd *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (argc < 1) {
		snprintf(err, errlen, "missing command: status, worker, user, reload or stop");
		return -1;
	}
	for (size_t i = 0; i < sizeof(xctl_commands) / sizeof(xctl_commands[0]); i++) {
		const struct xctl_command *c = &xctl_commands[i];
		if (strcmp(c->name, argv[0]))
			continue;
		out->cmd = c->name;
		if (c->subs)
			return xctl_sub_parse(c, argc, argv, out, err, errlen);
		if (argc != 1) {
			snprintf(err, errlen, "%s takes no argument", c->name);
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "unknown command '%s': status, worker, user, reload or stop", argv[0]);
	return -1;
}

int xctl_request_build(struct buf *b, const struct xctl_cmd *c, const char *secret)
{
	if (tlv_put_u32(b, CTL_T_VERSION, CTL_VERSION) < 0 || tlv_put_str(b, CTL_T_CMD, c->cmd) < 0)
		return -1;
	for (int i = 0; i < c->nargs; i++)
		if (tlv_put_str(b, CTL_T_ARG, c->args[i]) < 0)
			return -1;
	if (secret && tlv_put_str(b, CTL_T_SECRET, secret) < 0)
		return -1;
	return 0;
}

struct xctl_reply {
	int has_status;
	uint32_t status;
	struct tlv text, error;
	int has_text, has_error;
};

static int xctl_reply_parse(const uint8_t *p, size_t len, struct xctl_reply *r)
{
	struct rbuf rb;
	struct tlv t;
	int rc;
	memset(r, 0, sizeof(*r));
	rbuf_init(&rb, p, len);
	while ((rc = tlv_next(&rb, &t)) == 1) {
		if (t.tag == CTL_T_STATUS) {
			if (tlv_u32(&t, &r->status) < 0)
				return -1;
			r->has_status = 1;
		} else if (t.tag == CTL_T_TEXT) {
			r->text = t;
			r->has_text = 1;
		} else if (t.tag == CTL_T_ERROR) {
			r->error = t;
			r->has_error = 1;
		}
		/* Other tags are from a newer supervisor and ignored. */
	}
	return rc < 0 || !r->has_status ? -1 : 0;
}

int xctl_reply_print(const uint8_t *p, size_t len, FILE *out, FILE *err)
{
	struct xctl_reply r;
	if (xctl_reply_parse(p, len, &r) < 0) {
		fprintf(err, "xmppctl: malformed reply from the server\n");
		return 1;
	}
	if (r.has_text)
		fwrite(r.text.val, 1, r.text.len, out);
	if (r.has_error)
		fprintf(err, "xmppctl: %.*s\n", (int)r.error.len, (const char *)r.error.val);
	switch (r.status) {
	case 0:
		return 0;
	case 2:
		return 2;
	case 1:
		return 1;
	default:
		fprintf(err, "xmppctl: unknown status %u in reply\n", r.status);
		return 1;
	}
}
