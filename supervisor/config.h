/* The configuration model (ARCHITECTURE §6). Parsed only by the supervisor, by a hand-written
 * lexer and a table-driven parser; workers get typed slices of it. */
#ifndef XMPPD_CONFIG_H
#define XMPPD_CONFIG_H
#include <stddef.h>
#include <stdint.h>

#define CFG_MAX_FILE		(1u << 20)	/* bytes of one configuration file */
#define CFG_MAX_INCLUDE_DEPTH	8		/* nested includes below the top file */
#define CFG_MAX_TOKEN		4096		/* bytes of one word or string */
#define CFG_MAX_LIST		128		/* names after `modules` or `admins` */

struct cfg_listen {
	char kind[16];		/* c2s | c2s-tls | http | https | component */
	char host[64];		/* "::", "127.0.0.1" (brackets removed) */
	uint16_t port;
};

struct cfg_vhost {
	char *name;
	char *cert, *key;	/* absolute paths, NULL when unset */
	char **modules;
	size_t nmodules;
	int registration_open;
	int require_tls;	/* default 1 */
	int anonymous;		/* SASL ANONYMOUS offered, default 0 */
	int resource_conflict;	/* 0 replace (default), 1 refuse */
	char **options;		/* "key=value" for the vhost's modules (option KEY VALUE) */
	size_t noptions;
};

struct cfg_component {
	char *name;
	char *secret;		/* external component (XEP-0114) when set */
	char **modules;		/* internal component (router modules) when set; never with secret */
	size_t nmodules;
	char **options;		/* "key=value" for an internal component's modules */
	size_t noptions;
};

/* storage { store NAME BACKEND ["arg"] }: one store kept in another backend; inside a vhost
 * (store NAME ... / storage BACKEND ...) for that host only, name "*" meaning every store. */
struct cfg_store {
	char *name, *backend, *arg;	/* arg NULL when none */
	char *host;			/* NULL: every host */
};

struct cfg {
	char *path;		/* absolute path of the top file */
	char *rundir, *datadir;	/* absolute */
	char *log;		/* "stderr" | "syslog" */
	int loglevel;		/* enum log_level */
	char **admins;
	size_t nadmins;
	struct cfg_listen *listens;
	size_t nlistens;
	unsigned workers_c2s, workers_http, workers_storage;
	uint64_t stanza_size;		/* bytes */
	uint64_t c2s_rate;		/* bytes/s */
	uint32_t unauth_timeout;	/* seconds */
	uint32_t conn_per_ip;
	uint32_t regs_per_ip;		/* c2s in-band registrations per address per 10 min */
	uint32_t stanza_depth, stanza_attrs, ping_interval;	/* c2s; 0 = the worker's default */
	uint64_t out_buffer;		/* c2s bytes per client; 0 = default */
	uint32_t bosh_inactivity;	/* http: seconds a BOSH session lives with no request held */
	uint32_t scram_iterations;
	char *storage_default;		/* "file" | "memory" | "postgresql" | "mongodb" */
	char *storage_arg;		/* conninfo / uri, NULL when none */
	char *storage_cache;		/* redis url, NULL when none */
	struct cfg_store *storage_stores;	/* per-store overrides */
	size_t nstorage_stores;
	char **trusted_proxies;		/* http: addresses/CIDRs whose X-Forwarded-For is believed */
	size_t ntrusted_proxies;
	char *webroot;			/* http: static web client directory, absolute; NULL = none */
	struct cfg_vhost *vhosts;
	size_t nvhosts;
	struct cfg_component *components;
	size_t ncomponents;
};

/* Parses path (and its includes) into out, filling defaults first.
 * On error returns -1 and writes "FILE:LINE: reason" to err; out is left freed. */
int cfg_load(const char *path, struct cfg *out, char *err, size_t errlen);
/* Same over text already in memory, named name in errors; the directory of relative paths,
 * includes and defaults is the current working directory. For tests and the fuzz target. */
int cfg_parse_text(const char *name, const char *text, size_t len, struct cfg *out, char *err,
		   size_t errlen);
void cfg_free(struct cfg *c);
/* Case-insensitive lookup (names are stored lower-case); NULL when absent. */
const struct cfg_vhost *cfg_vhost_find(const struct cfg *c, const char *name);
const struct cfg_component *cfg_component_find(const struct cfg *c, const char *name);

#endif
