/* Module timers and IQ requests the server sends: one-shot libev timers, and requests whose
 * result or error (addressed to the host, from the JID asked, with the id given) comes back to
 * the module's callback, or NULL after the timeout. Nothing here blocks. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "host.h"
#include "log.h"
#include "rtr.h"
#include "xnode.h"

#define IQ_PENDING_MAX 4096u	/* requests in flight at once, all hosts */

struct mod_timer {
	ev_timer w;
	void (*fn)(void *arg);
	void *arg;
};

struct rtr_iq_pending {
	char id[40];
	char *to;		/* whom the request went to: the reply must come from there */
	struct mod_host *host;
	mod_iq_fn fn;
	void *arg;
	ev_timer timeout;
	struct rtr_iq_pending *next;
};

/* The requests in flight are env->iq_pending: few, short-lived, looked up by id; a list is enough. */

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mod_timer *t = (struct mod_timer *)w;
	(void)loop, (void)revents;
	t->fn(t->arg);
	free(t);
}

struct mod_timer *rtr_mod_timer_add(struct mod_host *h, double seconds, void (*fn)(void *arg), void *arg)
{
	(void)h;
	struct mod_timer *t = fn ? calloc(1, sizeof(*t)) : NULL;
	if (!t)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	ev_timer_init(&t->w, timer_cb, seconds > 0 ? seconds : 0, 0);
	ev_timer_start(env->loop, &t->w);
	return t;
}

void rtr_mod_timer_cancel(struct mod_timer *t)
{
	if (!t)
		return;
	ev_timer_stop(env->loop, &t->w);
	free(t);
}

static void pending_unlink(struct rtr_iq_pending *p)
{
	for (struct rtr_iq_pending **pp = &env->iq_pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			env->niq_pending--;
			break;
		}
	ev_timer_stop(env->loop, &p->timeout);
	free(p->to);
}

static void iq_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rtr_iq_pending *p = (struct rtr_iq_pending *)((char *)w - offsetof(struct rtr_iq_pending, timeout));
	(void)loop, (void)revents;
	pending_unlink(p);
	p->fn(p->arg, NULL);
	free(p);
}

int rtr_mod_iq_request(struct mod_host *h, struct xnode *iq, double timeout, mod_iq_fn fn, void *arg)
{
	const char *to = xnode_attr(iq, "to"), *type = xnode_attr(iq, "type");
	if (!fn || !to || !type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0) ||
	    env->niq_pending >= IQ_PENDING_MAX)
		return -1;
	struct rtr_iq_pending *p = calloc(1, sizeof(*p));
	if (!p || !(p->to = strdup(to))) {
		free(p);
		return -1;
	}
	snprintf(p->id, sizeof(p->id), "xmppd-%llu", (unsigned long long)++env->iq_next_id);
	if (xnode_set_attr(iq, "id", p->id) < 0 || xnode_set_attr(iq, "from", h->name) < 0 ||
	    rtr_server_send(iq) < 0) {
		free(p->to);
		free(p);
		return -1;
	}
	p->host = h;
	p->fn = fn;
	p->arg = arg;
	ev_timer_init(&p->timeout, iq_timeout_cb, timeout > 0 ? timeout : 30.0, 0);
	ev_timer_start(env->loop, &p->timeout);
	p->next = env->iq_pending;
	env->iq_pending = p;
	env->niq_pending++;
	return 0;
}

int rtr_iq_reply_match(struct mod_host *h, const struct xnode *x, const char *from)
{
	const char *id = xnode_attr(x, "id"), *type = xnode_attr(x, "type");
	if (!id || !from || !type || (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
		return 0;
	for (struct rtr_iq_pending *p = env->iq_pending; p; p = p->next) {
		if (p->host != h || strcmp(p->id, id) != 0 || strcasecmp(p->to, from) != 0)
			continue;
		pending_unlink(p);
		p->fn(p->arg, x);
		free(p);
		return 1;
	}
	return 0;
}

void rtr_iq_pending_free(void)
{
	while (env->iq_pending) {
		struct rtr_iq_pending *p = env->iq_pending;
		pending_unlink(p);
		free(p);
	}
}
