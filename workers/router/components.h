/* Routes of external components (XEP-0114) in the router (components.c). */
#ifndef XMPPD_RTR_COMPONENTS_H
#define XMPPD_RTR_COMPONENTS_H
#include "rtr.h"

/* A ROUTE_BIND/SYNC/UNBIND naming a bare domain is a component's: handled, returns 1. */
int rtr_comp_route(struct rtr_link *l, const struct xe_msg *m);
/* A stanza from an external component (for a local domain or another component): handled,
 * returns 1. 0 for a client's stanza, which goes through rtr_stanza_from_client even when it
 * is for a component. */
int rtr_comp_stanza(struct rtr_link *l, const struct xe_msg *m);
/* 1 when (l, sid) holds the live route of the component named name. */
int rtr_comp_holds(const struct rtr_link *l, uint64_t sid, const char *name, size_t len);
/* 1 when a connected external component serves the domain (its own or a subdomain). */
int rtr_comp_serves(const char *d, size_t len);
/* A stanza the router made for a JID at a connected external component: 1 when sent to it. */
int rtr_comp_deliver(const struct xe_msg *m);
void rtr_comp_free(void);

#endif
