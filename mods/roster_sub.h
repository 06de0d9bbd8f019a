/* RFC 6121 subscription state machine (§3 and Appendix A) as a pure function, shared by
 * mod_roster (which applies it to stored rosters) and the unit tables in test_mod_roster.c.
 * State of the user's roster item for a contact: subscription to/from, a pending outbound
 * request (ask), a pending inbound request, and a pre-approval (§3.4). */
#ifndef XMPPD_MOD_ROSTER_SUB_H
#define XMPPD_MOD_ROSTER_SUB_H

#define SUB_TO 1		/* the user receives the contact's presence */
#define SUB_FROM 2		/* the contact receives the user's presence */

enum sub_dir { SUB_OUTBOUND, SUB_INBOUND };	/* sent by the user / received from the contact */
enum sub_kind { SUB_SUBSCRIBE, SUB_SUBSCRIBED, SUB_UNSUBSCRIBE, SUB_UNSUBSCRIBED };

struct sub_state {
	unsigned char sub;	/* SUB_TO | SUB_FROM */
	unsigned char ask;	/* pending out */
	unsigned char pending;	/* pending in */
	unsigned char approved;	/* pre-approved (only without SUB_FROM) */
};

struct sub_result {
	struct sub_state next;
	int push;		/* the roster item changed: push it to interested resources */
	int forward;		/* outbound: route to the contact; inbound: deliver to the user */
	int auto_subscribed;	/* inbound subscribe answered 'subscribed' by the server */
};

static inline int sub_same(const struct sub_state *a, const struct sub_state *b)
{
	return a->sub == b->sub && a->ask == b->ask && a->pending == b->pending && a->approved == b->approved;
}

static inline void sub_outbound(int kind, const struct sub_state *s, struct sub_result *r)
{
	struct sub_state n = *s;
	switch (kind) {
	case SUB_SUBSCRIBE:	/* §3.1.2: always routed; ask set unless already subscribed to */
		if (!(n.sub & SUB_TO))
			n.ask = 1;
		r->forward = 1;
		break;
	case SUB_UNSUBSCRIBE:	/* §3.3.2 */
		r->forward = (n.sub & SUB_TO) || n.ask;
		n.sub &= (unsigned char)~SUB_TO;
		n.ask = 0;
		break;
	case SUB_SUBSCRIBED:	/* §3.1.5 approve, or §3.4 pre-approve */
		if (n.pending) {
			n.pending = 0;
			n.sub |= SUB_FROM;
			n.approved = 0;
			r->forward = 1;
		} else if (!(n.sub & SUB_FROM)) {
			n.approved = 1;
		}
		break;
	case SUB_UNSUBSCRIBED:	/* §3.2.2 cancel, or deny a pending request */
		r->forward = (n.sub & SUB_FROM) || n.pending;
		n.sub &= (unsigned char)~SUB_FROM;
		n.pending = 0;
		n.approved = 0;
		break;
	}
	r->next = n;
}

static inline void sub_inbound(int kind, const struct sub_state *s, struct sub_result *r)
{
	struct sub_state n = *s;
	switch (kind) {
	case SUB_SUBSCRIBE:	/* §3.1.3 */
		if (n.sub & SUB_FROM) {
			r->auto_subscribed = 1;
		} else if (n.approved) {
			n.sub |= SUB_FROM;
			n.approved = 0;
			r->auto_subscribed = 1;
		} else if (!n.pending) {
			n.pending = 1;
			r->forward = 1;
		}
		break;
	case SUB_SUBSCRIBED:	/* §3.1.6: only an answer to our own request counts */
		if (n.ask) {
			n.ask = 0;
			n.sub |= SUB_TO;
			r->forward = 1;
		}
		break;
	case SUB_UNSUBSCRIBE:	/* §3.3.3 */
		if ((n.sub & SUB_FROM) || n.pending) {
			n.sub &= (unsigned char)~SUB_FROM;
			n.pending = 0;
			r->forward = 1;
		}
		break;
	case SUB_UNSUBSCRIBED:	/* §3.2.3 */
		if ((n.sub & SUB_TO) || n.ask) {
			n.sub &= (unsigned char)~SUB_TO;
			n.ask = 0;
			r->forward = 1;
		}
		break;
	}
	r->next = n;
}

/* Applies one subscription stanza; r->push says whether the visible roster item changed
 * (the pending-in flag is not part of the roster item, RFC 6121 §3.1.3). */
static inline void sub_apply(int dir, int kind, const struct sub_state *s, struct sub_result *r)
{
	*r = (struct sub_result){0};
	if (dir == SUB_OUTBOUND)
		sub_outbound(kind, s, r);
	else
		sub_inbound(kind, s, r);
	r->push = r->next.sub != s->sub || r->next.ask != s->ask || r->next.approved != s->approved;
}

static inline const char *sub_name(unsigned char sub)
{
	static const char *const names[] = {"none", "to", "from", "both"};
	return names[sub & 3];
}

#endif
