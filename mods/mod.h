/* The module ABI (ARCHITECTURE §4): what a mods/mod_<name>.so exports and what the router
 * offers it. A module links nothing from the router; it reaches the router only through the
 * struct mod_api it is given, so the ABI is this header alone. Bump MOD_ABI on any change.
 * ABI 2 added mod_def.flags and, at the end of mod_api, session_state_set/get, user_delete and
 * host_is_component; the router still loads ABI 1 modules (it reads no flags from them: they
 * declare no needs, and they never reach the newer entries). */
#ifndef XMPPD_MOD_H
#define XMPPD_MOD_H
#include <stddef.h>
#include <stdint.h>

#define MOD_ABI 2
#define MOD_ABI_MIN 1	/* the oldest ABI the router still loads */
#define MOD_SYMBOL "xmppd_module"	/* every module exports: const struct mod_def xmppd_module */

/* Handler results: HANDLED stops the chain, PASS goes on to the next (lower priority) handler,
 * DENY stops it and refuses the stanza (the router answers not-allowed to an IQ or message). */
enum mod_rc { MOD_PASS = 0, MOD_HANDLED = 1, MOD_DENY = 2 };

struct xnode;		/* workers/router/xnode.h: name, attrs, text, children */
struct mod_host;	/* one virtual host: its event bus and module instances */
struct mod_session;	/* one bound resource */

enum mod_stanza_kind { MOD_K_NONE = 0, MOD_K_MESSAGE, MOD_K_PRESENCE, MOD_K_IQ };

struct mod_api;

struct mod_event {
	const char *name;		/* "iq-get/host/urn:xmpp:ping:ping" */
	struct mod_host *host;
	struct mod_session *origin;	/* the local sending session, NULL for server-made stanzas */
	int kind;			/* enum mod_stanza_kind */
	const char *from, *to;		/* NUL-terminated; to is the host for host events */
	struct xnode *stanza;		/* parsed stanza, owned by the router; NULL for lifecycle */
	const char *arg;		/* lifecycle: the module name or the full JID */
	const struct mod_api *api;	/* the router's API, the same for every event */
};

typedef int (*mod_handler_fn)(struct mod_event *ev, void *ctx);

struct mod_hook {
	const char *event;
	mod_handler_fn fn;
	int priority;			/* higher runs first; equal priorities run in hook order */
};

/* Storage (ARCHITECTURE §5; ops and fields are those of ipc/sto.h): a request names its op
 * and the fields it uses; the router adds the host. The callback runs exactly once, later. */
struct mod_sto_req {
	unsigned op;			/* enum sto_op: KV_*, MAP_*, ARCH_*, ACCOUNT_EXISTS */
	const char *store, *user, *key, *with, *id, *before, *after;	/* NULL = absent */
	const void *value;		/* with has_value; no value = delete for the *_SET ops */
	size_t value_len;
	int has_value;
	uint64_t when;			/* ms since the epoch, for ARCH_APPEND */
	uint32_t limit;
	int has_limit;
	int reverse;
	int total;			/* ARCH_FIND: also count the matches */
	const char *password;		/* ACCOUNT_CREATE / ACCOUNT_PASSWD; wiped from the request */
};

struct mod_sto_reply {
	int status;			/* enum sto_status, or -1 when storage did not answer */
	const uint8_t *fields;		/* the reply's TLVs after STATUS; borrowed during the callback */
	size_t len;
};

typedef void (*mod_sto_fn)(void *arg, const struct mod_sto_reply *r);

struct mod_timer;
/* The reply (type result or error, borrowed during the call), or NULL after the timeout. */
typedef void (*mod_iq_fn)(void *arg, const struct xnode *reply);

struct mod_api {
	unsigned abi;			/* MOD_ABI */
	/* events */
	int (*hook)(struct mod_host *h, const char *event, mod_handler_fn fn, int prio, void *ctx);
	int (*unhook)(struct mod_host *h, const char *event, mod_handler_fn fn, void *ctx);
	/* stanzas: borrowed xnode; from and to are read from its attributes */
	int (*send)(struct mod_host *h, const struct xnode *stanza);
	int (*reply)(struct mod_event *ev, struct xnode *payload_take);	/* IQ result, payload may be NULL */
	int (*error)(struct mod_event *ev, const char *type, const char *cond);
	/* an error for a stanza kept past its event: from and to are its own, swapped */
	int (*bounce)(const struct xnode *orig, const char *type, const char *cond);
	/* api->error with an application-specific condition <app xmlns='app_ns'/> as well */
	int (*error_app)(struct mod_event *ev, const char *type, const char *cond, const char *app,
			 const char *app_ns);
	/* disco (XEP-0030) */
	int (*add_feature)(struct mod_host *h, const char *var);
	int (*add_identity)(struct mod_host *h, const char *category, const char *type, const char *name);
	/* calls fn for every feature (then every identity as "category/type/name") of the host */
	void (*each_feature)(struct mod_host *h, void (*fn)(void *arg, const char *var), void *arg);
	void (*each_identity)(struct mod_host *h,
			      void (*fn)(void *arg, const char *cat, const char *type, const char *name), void *arg);
	/* the configured components under host h (XEP-0030 items of the server) */
	void (*each_component)(struct mod_host *h, void (*fn)(void *arg, const char *domain), void *arg);
	/* every bound resource of every user of h */
	void (*each_host_session)(struct mod_host *h,
				  void (*fn)(void *arg, struct mod_session *s, const char *full, const char *presence),
				  void *arg);
	/* hosts, sessions, configuration */
	const char *(*host_name)(const struct mod_host *h);
	const char *(*option)(const struct mod_host *h, const char *key);	/* NULL when unset */
	int (*is_admin)(const char *bare);
	const char *(*session_jid)(const struct mod_session *s);
	int (*user_online)(struct mod_host *h, const char *bare);	/* available resources */
	uint64_t (*uptime)(void);	/* seconds since the router started */
	const char *(*server_version)(void);
	void (*log)(int level, const char *module, const char *msg);
	/* element trees (the router's allocator) */
	struct xnode *(*x_new)(const char *name);
	struct xnode *(*x_append_take)(struct xnode *parent, struct xnode *child);
	int (*x_set_attr)(struct xnode *n, const char *name, const char *value);
	int (*x_set_text)(struct xnode *n, const char *text);
	const char *(*x_attr)(const struct xnode *n, const char *name);
	struct xnode *(*x_child)(const struct xnode *n, const char *name);
	void (*x_free)(struct xnode *n);
	/* storage: 0 when sent (cb will run), -1 when not (cb will not run) */
	int (*store)(struct mod_host *h, const struct mod_sto_req *req, mod_sto_fn cb, void *arg);
	/* walks reply TLVs: 1 with the next field, 0 at the end, -1 when malformed */
	int (*sto_next)(const uint8_t *p, size_t len, size_t *off, unsigned *tag, const uint8_t **val, size_t *vlen);
	/* one-shot timers; a timer that fired is gone (do not cancel it then) */
	struct mod_timer *(*timer_add)(struct mod_host *h, double seconds, void (*fn)(void *arg), void *arg);
	void (*timer_cancel)(struct mod_timer *t);
	/* sends an IQ get/set from the host (its id and from are set here) and calls fn once */
	int (*iq_request)(struct mod_host *h, struct xnode *iq, double timeout, mod_iq_fn fn, void *arg);
	/* fires a lifecycle event (user-registered, user-deleted, ...) with arg on h */
	int (*fire)(struct mod_host *h, const char *event, const char *arg);
	/* fires event on h with a borrowed element the handlers may add to (disco-info/host) */
	int (*fire_with)(struct mod_host *h, const char *event, struct xnode *x);
	/* element trees from and to XML text */
	struct xnode *(*x_parse)(const char *xml, size_t len);
	char *(*x_to_string)(const struct xnode *n);	/* malloc'd, NUL-terminated; caller frees */
	/* every bound resource of a user: fn gets the session, its full JID, priority, and its last
	 * broadcast presence (serialized) or NULL when it is not available */
	void (*each_session)(struct mod_host *h, const char *bare,
			     void (*fn)(void *arg, struct mod_session *s, const char *full, int prio,
					const char *presence),
			     void *arg);
	const char *(*session_presence)(const struct mod_session *s);	/* NULL when unavailable */
	/* sends a stanza to one session as it is (pushes, replies to that resource) */
	int (*send_to_session)(struct mod_session *s, const struct xnode *stanza);
	/* session state that survives a router restart: the stream worker keeps it with the session
	 * and replays it; read it back in a resource-sync handler. Keys are the module's own
	 * ("carbons", "presence.directed"), 1..64 bytes; val NULL deletes; at most 64 KiB per session.
	 * Set it before the reply that confirms the change: the link keeps their order. */
	int (*session_state_set)(struct mod_session *s, const char *key, const void *val, size_t len);
	/* the value (borrowed until the next set) or NULL when the key is not set */
	const void *(*session_state_get)(const struct mod_session *s, const char *key, size_t *len);
	/* deletes the account user@h: cb gets the storage answer (its replies go out first); on
	 * success the user's sessions are then closed (<not-authorized/>, unavailable presence sent)
	 * and user-deleted fires with the bare JID. 0 when started (cb will run), -1 when not */
	int (*user_delete)(struct mod_host *h, const char *user, mod_sto_fn cb, void *arg);
	/* ABI 2: 1 when h is an internal component (no accounts, sessions or rosters), 0 a vhost */
	int (*host_is_component)(const struct mod_host *h);
};

/* mod_def.flags */
#define MOD_F_USER_HOST 0x1u	/* needs a user domain (accounts, rosters, sessions): never
				 * loaded on an internal component */

struct mod_def {
	unsigned abi;			/* MOD_ABI, checked before anything else is read */
	const char *name;		/* equals the file name: mod_<name>.so */
	const char *version;
	const struct mod_hook *hooks;	/* hooked on load with the instance's ctx, unhooked on unload */
	const char *const *features;	/* disco features, NULL-terminated, may be NULL */
	const char *const *config_keys;	/* options the module reads, NULL-terminated, may be NULL */
	/* Optional. ctx starts NULL; load may set it. A -1 from load unloads the module again. */
	int (*load)(struct mod_host *h, const struct mod_api *api, void **ctx);
	void (*unload)(struct mod_host *h, void *ctx);
	unsigned flags;			/* ABI 2: MOD_F_*; not read from ABI 1 modules */
};

#endif
