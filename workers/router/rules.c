/* RFC 6121 §8.5: what a server does with a stanza for a local account, by stanza kind, type and
 * the state of the addressee. Pure functions: no state, no I/O; deliver.c carries them out. */
#include <string.h>

#include "rules.h"

static int type_index(const char *t, const char *const *names, int n, int dflt)
{
	if (!t)
		return dflt;
	for (int i = 0; i < n; i++)
		if (strcmp(t, names[i]) == 0)
			return i;
	return -1;
}

int rtr_msg_type_parse(const char *t)
{
	static const char *const names[] = {"normal", "chat", "groupchat", "headline", "error"};
	int i = type_index(t, names, 5, RTR_MT_NORMAL);
	return i < 0 ? RTR_MT_NORMAL : i;
}

int rtr_pres_type_parse(const char *t)
{
	static const char *const names[] = {"", "unavailable", "subscribe", "subscribed", "unsubscribe",
					    "unsubscribed", "probe", "error"};
	int i = type_index(t, names, 8, RTR_PT_AVAILABLE);
	return i <= 0 ? (t ? RTR_PT_INVALID : RTR_PT_AVAILABLE) : i;
}

int rtr_iq_type_parse(const char *t)
{
	static const char *const names[] = {"get", "set", "result", "error"};
	int i = type_index(t, names, 4, RTR_IQ_INVALID);
	return i < 0 ? RTR_IQ_INVALID : i;
}

const char *rtr_action_name(int a)
{
	static const char *const names[] = {"drop", "bounce", "to-resource", "to-top", "to-nonneg",
					    "to-available", "offline", "server"};
	return a >= 0 && a <= RTR_SERVER ? names[a] : "?";
}

/* §8.5.2.1.1 (available resources), §8.5.2.2.1 (none), §8.5.3.1 and §8.5.3.2.1 (full JID). */
enum rtr_action rtr_rule_message(int mtype, const struct rtr_target *t)
{
	static const enum rtr_action bare_some[] = {RTR_TO_TOP, RTR_TO_TOP, RTR_BOUNCE, RTR_TO_NONNEG, RTR_DROP};
	static const enum rtr_action bare_none[] = {RTR_OFFLINE, RTR_OFFLINE, RTR_BOUNCE, RTR_DROP, RTR_DROP};
	static const enum rtr_action full_gone[] = {RTR_BOUNCE, RTR_DROP, RTR_BOUNCE, RTR_DROP, RTR_DROP};
	if (mtype < RTR_MT_NORMAL || mtype > RTR_MT_ERROR)
		mtype = RTR_MT_NORMAL;
	if (t->full && t->resource_bound)
		return RTR_TO_RESOURCE;
	if (t->full && mtype != RTR_MT_CHAT)
		return full_gone[mtype];
	/* a bare JID, or a chat message to a resource that is gone: treated as to the bare JID */
	return t->nonneg ? bare_some[mtype] : bare_none[mtype];
}

/* §8.5.2.1.2, §8.5.2.2.2, §8.5.3.1, §8.5.3.2.2: subscription states and probes belong to the
 * server; available/unavailable go to the resources; errors to gone resources are dropped. */
enum rtr_action rtr_rule_presence(int ptype, const struct rtr_target *t)
{
	switch (ptype) {
	case RTR_PT_AVAILABLE:
	case RTR_PT_UNAVAILABLE:
	case RTR_PT_ERROR:
		if (t->full)
			return t->resource_bound ? RTR_TO_RESOURCE : RTR_DROP;
		return ptype != RTR_PT_ERROR && t->available ? RTR_TO_AVAILABLE : RTR_DROP;
	case RTR_PT_SUBSCRIBE:
	case RTR_PT_SUBSCRIBED:
	case RTR_PT_UNSUBSCRIBE:
	case RTR_PT_UNSUBSCRIBED:
	case RTR_PT_PROBE:
		return RTR_SERVER;
	default:
		return RTR_DROP;
	}
}

/* §8.5.2.1.3 / §8.5.2.2.3: the server answers IQs to a bare JID; §8.5.3.2.3: an IQ to a gone
 * resource gets service-unavailable; results and errors are never answered. */
enum rtr_action rtr_rule_iq(int iqtype, const struct rtr_target *t)
{
	int request = iqtype == RTR_IQ_GET || iqtype == RTR_IQ_SET;
	if (iqtype == RTR_IQ_INVALID)
		return RTR_DROP;
	if (t->full && t->resource_bound)
		return RTR_TO_RESOURCE;
	if (!request)
		return RTR_DROP;
	return t->full ? RTR_BOUNCE : RTR_SERVER;
}
