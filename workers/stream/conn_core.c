/* The transport-independent life of a stream: set-up and tear-down of what the engine owns in a
 * connection, pausing every transport while the router link is full, and the idle timer (the
 * unauthenticated timeout, then XEP-0199 pings). It never touches a socket. */
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "log.h"

int c2s_conn_send_str(struct c2s_conn *c, const char *s) { return c2s_conn_send(c, s, strlen(s)); }

int c2s_conn_setup(struct c2s_conn *c, const struct c2s_conn_ops *ops, void *tp,
		   void (*timer_cb)(struct ev_loop *loop, ev_timer *w, int revents))
{
	struct c2s_xml_limits lim = {env->stanza_size, env->max_depth, env->max_attrs};
	if (!(c->xml = c2s_xml_new(&lim, &c2s_stream_ops, c)))
		return -1;
	c->ops = ops;
	c->tp = tp;
	c->fd = -1;
	c->sid = ++env->next_sid;
	ev_timer_init(&c->timer, timer_cb, (double)env->unauth_timeout, 0.);
	ev_init(&c->delay, NULL);
	ev_init(&c->rtimer, NULL);
	c->comp = -1;
	c->timer.data = c->delay.data = c;
	c->next = env->conns;
	if (env->conns)
		env->conns->prev = c;
	env->conns = c;
	env->nconns++;
	c2s_sess_add(c);
	ev_timer_start(env->loop, &c->timer);
	return 0;
}

void c2s_conn_teardown(struct c2s_conn *c)
{
	ev_timer_stop(env->loop, &c->timer);
	ev_timer_stop(env->loop, &c->delay);
	ev_timer_stop(env->loop, &c->rtimer);
	c2s_lim_addr_release(c);
	c2s_xml_free(c->xml);
	c->xml = NULL;
	if (c->scram) {
		c2s_scram_clear(c->scram);
		free(c->scram);
		c->scram = NULL;
	}
	free(c->user);
	free(c->reg_id);
	free(c->bind_id);
	free(c->jid);
	free(c->presence);
	buf_free(&c->state);
	free(c->stream_id);
	c->user = c->reg_id = c->bind_id = c->jid = c->presence = c->stream_id = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		env->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	env->nconns--;
}

void c2s_conn_end_session(struct c2s_conn *c)
{
	c->closing = 1;
	if (c->bound)
		c2s_rl_unbind(c);
	c2s_auth_abandon(c);
	c2s_sess_remove(c);
	ev_timer_stop(env->loop, &c->timer);
	ev_timer_stop(env->loop, &c->delay);	/* a failure held back has nobody left to tell */
	c->delayed_cond = NULL;
}

void c2s_conn_pause_all(void)
{
	if (env->paused)
		return;
	env->paused = 1;
	log_notice("router link window full, pausing client reads", "unacked=%zu",
		   env->link ? link_unacked(env->link) : (size_t)0);
	for (struct c2s_conn *c = env->conns; c; c = c->next)
		c->ops->wake(c);
}

void c2s_conn_resume_all(void)
{
	if (!env->paused)
		return;
	env->paused = 0;
	log_info("router link window drained, client reads resume", "unacked=%zu",
		 env->link ? link_unacked(env->link) : (size_t)0);
	for (struct c2s_conn *c = env->conns; c; c = c->next)
		if (!c->closing)
			c->ops->wake(c);
}

void c2s_conn_bound(struct c2s_conn *c)
{
	c2s_lim_addr_release(c);
	ev_timer_stop(env->loop, &c->timer);
	if (c->component)
		return;	/* components answer pings of their own; dead ones show as write errors */
	c->active = 0;
	ev_timer_set(&c->timer, (double)env->ping_interval, 0.);
	ev_timer_start(env->loop, &c->timer);
}

void c2s_conn_idle(struct c2s_conn *c)
{
	if (c->bind_wait) {
		/* the router neither bound nor refused the route in time (down for that long) */
		log_warn("no answer from the router to a bind, closing", "sid=%llu jid=%s",
			 (unsigned long long)c->sid, c->jid);
		c2s_stream_error(c, "internal-server-error");
		return;
	}
	if (!c->bound) {
		c2s_stream_error(c, "connection-timeout");
		return;
	}
	/* a bound session: silence for a ping interval earns a ping, a second one the close */
	if (c->active) {
		c->active = 0;
		c->ping_out = 0;
	} else if (c->ping_out) {
		log_info("no answer to a server ping", "sid=%llu", (unsigned long long)c->sid);
		c2s_stream_error(c, "connection-timeout");
		return;
	} else {
		struct buf b;
		buf_init(&b);
		if (buf_printf(&b, "<iq type='get' id='xmppd-ping-%llu' to='", (unsigned long long)c->sid) == 0 &&
		    buf_put_xml_escaped(&b, c->jid, strlen(c->jid)) == 0 &&
		    buf_printf(&b, "' from='%s'><ping xmlns='" C2S_NS_PING "'/></iq>", c->vh->name) == 0)
			(void)c2s_conn_send(c, b.data, b.len);
		buf_free(&b);
		c->ping_out = 1;
	}
	ev_timer_set(&c->timer, (double)env->ping_interval, 0.);
	ev_timer_start(env->loop, &c->timer);
}
