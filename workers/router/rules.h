/* RFC 6121 §8.5 delivery rules as pure functions (rules.c), so that they are unit tables. */
#ifndef XMPPD_RTR_RULES_H
#define XMPPD_RTR_RULES_H

enum rtr_msg_type { RTR_MT_NORMAL, RTR_MT_CHAT, RTR_MT_GROUPCHAT, RTR_MT_HEADLINE, RTR_MT_ERROR };
enum rtr_pres_type {
	RTR_PT_AVAILABLE, RTR_PT_UNAVAILABLE, RTR_PT_SUBSCRIBE, RTR_PT_SUBSCRIBED, RTR_PT_UNSUBSCRIBE,
	RTR_PT_UNSUBSCRIBED, RTR_PT_PROBE, RTR_PT_ERROR, RTR_PT_INVALID
};
enum rtr_iq_type { RTR_IQ_GET, RTR_IQ_SET, RTR_IQ_RESULT, RTR_IQ_ERROR, RTR_IQ_INVALID };

enum rtr_action {
	RTR_DROP,		/* silently ignored */
	RTR_BOUNCE,		/* service-unavailable to the sender */
	RTR_TO_RESOURCE,	/* the addressed full JID */
	RTR_TO_TOP,		/* available resources of the highest non-negative priority, all of a tie */
	RTR_TO_NONNEG,		/* every available resource with a non-negative priority */
	RTR_TO_AVAILABLE,	/* every available resource */
	RTR_OFFLINE,		/* offline storage (message/offline), else service-unavailable */
	RTR_SERVER,		/* the server answers on behalf of the account (events, then defaults) */
};

/* What the router knows of the addressee: a full or bare 'to'; whether that full JID is bound;
 * how many resources are available with a non-negative priority, and how many at all. */
struct rtr_target {
	int full;
	int resource_bound;
	unsigned nonneg;
	unsigned available;
};

int rtr_msg_type_parse(const char *t);	/* NULL or unknown → normal (RFC 6121 §5.2.2) */
int rtr_pres_type_parse(const char *t);	/* NULL → available */
int rtr_iq_type_parse(const char *t);
const char *rtr_action_name(int a);
enum rtr_action rtr_rule_message(int mtype, const struct rtr_target *t);
enum rtr_action rtr_rule_presence(int ptype, const struct rtr_target *t);
enum rtr_action rtr_rule_iq(int iqtype, const struct rtr_target *t);

#endif
