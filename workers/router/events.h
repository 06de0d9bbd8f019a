/* Per-host event buses of the router (see events.c). */
#ifndef XMPPD_RTR_EVENTS_H
#define XMPPD_RTR_EVENTS_H
#include "mods/mod.h"

struct rtr_bus;

struct rtr_bus *rtr_bus_new(void);
void rtr_bus_free(struct rtr_bus *b);
/* 0, or -1 when out of memory. The same (fn, ctx) may be hooked to several events. */
int rtr_bus_hook(struct rtr_bus *b, const char *name, mod_handler_fn fn, int prio, void *ctx);
/* 0, or -1 when (fn, ctx) was not hooked to name. */
int rtr_bus_unhook(struct rtr_bus *b, const char *name, mod_handler_fn fn, void *ctx);
int rtr_bus_has(const struct rtr_bus *b, const char *name);
/* Runs the handlers of ev->name: MOD_HANDLED, MOD_DENY, or MOD_PASS when none stopped it. */
int rtr_bus_fire(struct rtr_bus *b, struct mod_event *ev);

#endif
