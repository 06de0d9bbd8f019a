/* XEP-0077 in-band registration for authenticated sessions: the form (already registered),
 * password change, cancellation (account deletion), and account creation for another name,
 * allowed to admins always and to anyone while the vhost says "registration open" (a throttle
 * per requesting account); an existing name is a conflict. Passwords are wiped after use.
 * Cancellation goes through the router's account deletion: result first, then every session of
 * the account is closed with <not-authorized/> and user-deleted lets each module drop its data.
 * (Registration on an unauthenticated stream belongs to the stream worker, before binding.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mods/modutil.h"

#define NS_REGISTER "jabber:iq:register"
#define MU_OP_ACCOUNT_CREATE 1u
#define MU_STO_EEXISTS 2
#define MU_STO_EINVAL 4
#define REG_THROTTLE_SECONDS 10
#define REG_THROTTLE_SLOTS 64

static const struct mod_api *api;

struct reg_ctx {
	struct mod_host *host;
	struct {
		char *who;
		time_t at;
	} recent[REG_THROTTLE_SLOTS];	/* last creation per requesting account */
	unsigned next;
};

struct reg_call {
	struct mu_iq *iq;
	char *user;
	int kind;		/* 0 create, 1 passwd, 2 delete */
};

static void reg_wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static int reg_throttled(struct reg_ctx *c, const char *who)
{
	time_t now = time(NULL);
	for (unsigned i = 0; i < REG_THROTTLE_SLOTS; i++)
		if (c->recent[i].who && strcmp(c->recent[i].who, who) == 0 && now - c->recent[i].at < REG_THROTTLE_SECONDS)
			return 1;
	unsigned i = c->next++ % REG_THROTTLE_SLOTS;
	free(c->recent[i].who);
	c->recent[i].who = strdup(who);
	c->recent[i].at = now;
	return 0;
}

static int reg_form(struct mod_event *ev, void *arg)
{
	(void)arg;
	char *user = mu_localpart(ev->from);
	const char *qa[] = {"xmlns", NS_REGISTER, NULL};
	struct xnode *q = mu_el(api, "query", qa), *r = api->x_new("registered"), *u = api->x_new("username"),
		     *p = api->x_new("password");
	if (!user || !q || !r || !u || !p || api->x_set_text(u, user) < 0) {
		api->x_free(q), api->x_free(r), api->x_free(u), api->x_free(p);
		free(user);
		api->error(ev, "wait", "internal-server-error");
		return MOD_HANDLED;
	}
	api->x_append_take(q, r);
	api->x_append_take(q, u);
	api->x_append_take(q, p);
	api->reply(ev, q);
	free(user);
	return MOD_HANDLED;
}

static void reg_done(void *arg, const struct mod_sto_reply *r)
{
	struct reg_call *c = arg;
	struct mu_iq *q = c->iq;
	struct mod_host *h = q->host;
	char jid[3200];
	snprintf(jid, sizeof(jid), "%s@%s", c->user, api->host_name(h));
	if (r->status == MU_STO_OK) {
		mu_iq_result(api, q, NULL);
		if (c->kind == 0)	/* a deletion: the router closes the sessions and fires user-deleted */
			api->fire(h, "user-registered", jid);
	} else if (r->status == MU_STO_EEXISTS) {
		mu_iq_error(api, q, "cancel", "conflict");
	} else if (r->status == MU_STO_EINVAL) {
		mu_iq_error(api, q, "modify", "not-acceptable");
	} else {
		mu_iq_error(api, q, "wait", "internal-server-error");
	}
	free(c->user);
	free(c);
}

static void reg_call(struct mod_event *ev, int kind, const char *user, const char *password)
{
	struct reg_call *c = calloc(1, sizeof(*c));
	static const unsigned ops[] = {MU_OP_ACCOUNT_CREATE, MU_OP_ACCOUNT_PASSWD, MU_OP_ACCOUNT_DELETE};
	struct mod_sto_req q = {.op = ops[kind], .user = user, .password = password};
	if (!c || !(c->iq = mu_iq_keep(api, ev)) || !(c->user = strdup(user))) {
		if (c)
			mu_iq_free(api, c->iq);
		free(c);
		api->error(ev, "wait", "internal-server-error");
		return;
	}
	/* the copy kept for errors must not keep the password */
	struct xnode *qn = api->x_child(c->iq->req, "query");
	struct xnode *pw = qn ? api->x_child(qn, "password") : NULL;
	if (pw && pw->text) {
		explicit_bzero(pw->text, pw->text_len);
		api->x_set_text(pw, "");
	}
	c->kind = kind;
	int rc = kind == 2 ? api->user_delete(ev->host, user, reg_done, c) : api->store(ev->host, &q, reg_done, c);
	if (rc < 0) {
		mu_iq_error(api, c->iq, "wait", "internal-server-error");
		free(c->user);
		free(c);
	}
}

static int reg_set(struct mod_event *ev, void *arg)
{
	struct reg_ctx *ctx = arg;
	const struct xnode *q = api->x_child(ev->stanza, "query");
	const struct xnode *u = q ? api->x_child(q, "username") : NULL, *p = q ? api->x_child(q, "password") : NULL;
	char *me = mu_localpart(ev->from), *bare = mu_bare(ev->from);
	if (!me || !bare || !q) {
		api->error(ev, "modify", "bad-request");
	} else if (api->x_child(q, "remove")) {
		reg_call(ev, 2, me, NULL);	/* §3.2: cancellation removes the account */
	} else if (!u || !u->text || !p || !p->text || !*p->text) {
		api->error(ev, "modify", "bad-request");
	} else {
		char *name = strdup(u->text), *pass = strdup(p->text);
		for (char *c = name; c && *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		const char *reg = api->option(ev->host, "registration");
		int open = reg && strcmp(reg, "open") == 0, admin = api->is_admin(bare);
		if (!name || !pass)
			api->error(ev, "wait", "internal-server-error");
		else if (strcmp(name, me) == 0)
			reg_call(ev, 1, me, pass);	/* §3.3: password change */
		else if (!admin && !open)
			api->error(ev, "cancel", "not-allowed");
		else if (!admin && reg_throttled(ctx, bare))
			api->error(ev, "wait", "resource-constraint");
		else
			reg_call(ev, 0, name, pass);
		free(name);
		reg_wipe_free(pass);
	}
	free(me);
	free(bare);
	return MOD_HANDLED;
}

static const struct mod_hook reg_hooks[] = {
	{"iq-get/host/" NS_REGISTER ":query", reg_form, 0},
	{"iq-set/host/" NS_REGISTER ":query", reg_set, 0},
	{NULL, NULL, 0},
};

static int reg_load(struct mod_host *h, const struct mod_api *a, void **ctx)
{
	struct reg_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	api = a;
	c->host = h;
	*ctx = c;
	return 0;
}

static void reg_unload(struct mod_host *h, void *ctx)
{
	struct reg_ctx *c = ctx;
	(void)h;
	for (unsigned i = 0; i < REG_THROTTLE_SLOTS; i++)
		free(c->recent[i].who);
	free(c);
}

static const char *const reg_features[] = {NS_REGISTER, NULL};

const struct mod_def xmppd_module = {
	.abi = MOD_ABI,
	.name = "register",
	.flags = MOD_F_USER_HOST,	/* accounts and sessions: never on a component */
	.version = "1",
	.hooks = reg_hooks,
	.features = reg_features,
	.load = reg_load,
	.unload = reg_unload,
};
