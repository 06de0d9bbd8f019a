/* Per-host event buses: named events, handlers in priority order (higher first, ties in hook
 * order), HANDLED / PASS / DENY. A handler may unhook itself or others while an event fires:
 * removal is deferred until no event of that host is running. */
#include <stdlib.h>
#include <string.h>

#include "events.h"

#define BUS_BUCKETS 64

struct rtr_handler {
	mod_handler_fn fn;
	void *ctx;
	int prio;
	int dead;
	struct rtr_handler *next;
};

struct rtr_event_slot {
	char *name;
	struct rtr_handler *handlers;
	struct rtr_event_slot *next;
};

struct rtr_bus {
	struct rtr_event_slot *buckets[BUS_BUCKETS];
	unsigned firing;	/* nesting depth of rtr_bus_fire */
	unsigned dead;		/* handlers marked dead while firing */
};

static unsigned bucket_of(const char *name)
{
	uint32_t h = 2166136261u;
	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h % BUS_BUCKETS;
}

struct rtr_bus *rtr_bus_new(void)
{
	return calloc(1, sizeof(struct rtr_bus));
}

static struct rtr_event_slot *slot_find(const struct rtr_bus *b, const char *name)
{
	for (struct rtr_event_slot *s = b->buckets[bucket_of(name)]; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

int rtr_bus_hook(struct rtr_bus *b, const char *name, mod_handler_fn fn, int prio, void *ctx)
{
	struct rtr_event_slot *s = slot_find(b, name);
	if (!fn)
		return -1;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s || !(s->name = strdup(name))) {
			free(s);
			return -1;
		}
		unsigned i = bucket_of(name);
		s->next = b->buckets[i];
		b->buckets[i] = s;
	}
	struct rtr_handler *h = calloc(1, sizeof(*h));
	if (!h)
		return -1;
	*h = (struct rtr_handler){.fn = fn, .ctx = ctx, .prio = prio};
	struct rtr_handler **pp = &s->handlers;
	while (*pp && (*pp)->prio >= prio)
		pp = &(*pp)->next;
	h->next = *pp;
	*pp = h;
	return 0;
}

static void slot_sweep(struct rtr_event_slot *s)
{
	struct rtr_handler **pp = &s->handlers;
	while (*pp) {
		struct rtr_handler *h = *pp;
		if (h->dead) {
			*pp = h->next;
			free(h);
		} else {
			pp = &h->next;
		}
	}
}

static void bus_sweep(struct rtr_bus *b)
{
	for (unsigned i = 0; i < BUS_BUCKETS; i++)
		for (struct rtr_event_slot *s = b->buckets[i]; s; s = s->next)
			slot_sweep(s);
	b->dead = 0;
}

int rtr_bus_unhook(struct rtr_bus *b, const char *name, mod_handler_fn fn, void *ctx)
{
	struct rtr_event_slot *s = slot_find(b, name);
	int n = 0;
	for (struct rtr_handler *h = s ? s->handlers : NULL; h; h = h->next) {
		if (!h->dead && h->fn == fn && h->ctx == ctx) {
			h->dead = 1;
			n++;
		}
	}
	if (!n)
		return -1;
	if (b->firing)
		b->dead += (unsigned)n;
	else
		slot_sweep(s);
	return 0;
}

int rtr_bus_has(const struct rtr_bus *b, const char *name)
{
	const struct rtr_event_slot *s = slot_find(b, name);
	for (const struct rtr_handler *h = s ? s->handlers : NULL; h; h = h->next)
		if (!h->dead)
			return 1;
	return 0;
}

int rtr_bus_fire(struct rtr_bus *b, struct mod_event *ev)
{
	struct rtr_event_slot *s = slot_find(b, ev->name);
	int rc = MOD_PASS;
	if (!s)
		return MOD_PASS;
	b->firing++;
	for (struct rtr_handler *h = s->handlers; h && rc == MOD_PASS; h = h->next)
		if (!h->dead)
			rc = h->fn(ev, h->ctx);
	if (--b->firing == 0 && b->dead)
		bus_sweep(b);
	return rc == MOD_HANDLED || rc == MOD_DENY ? rc : MOD_PASS;
}

void rtr_bus_free(struct rtr_bus *b)
{
	if (!b)
		return;
	for (unsigned i = 0; i < BUS_BUCKETS; i++) {
		while (b->buckets[i]) {
			struct rtr_event_slot *s = b->buckets[i];
			b->buckets[i] = s->next;
			while (s->handlers) {
				struct rtr_handler *h = s->handlers;
				s->handlers = h->next;
				free(h);
			}
			free(s->name);
			free(s);
		}
	}
	free(b);
}
