/* Unit tests for the configuration parser (supervisor/config*.c): tables of config text with the
 * field values it must produce or the "file:line: reason" it must be rejected with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "supervisor/config.h"

/* Tests run inside <tmp>/etc so that "@" in expectations stands for <tmp> and the defaults
 * (<dir of file>/../var/run) land in <tmp>/var/run. */
static char tmpdir[256];
static char repodir[1024];

#define VH "vhost \"localhost\" { }\n"
#define MAXEXP 6

struct ok_case {
	const char *name;
	const char *text;
	const char *want[MAXEXP];	/* "key=value"; key as in field_str() */
};

struct err_case {
	const char *name;
	const char *text;
	const char *want;		/* "t.conf:LINE: fragment" */
};

static void join_list(char *out, size_t cap, char **v, size_t n)
{
	size_t o = 0;
	out[0] = 0;
	for (size_t i = 0; i < n && o < cap; i++) {
		int w = snprintf(out + o, cap - o, "%s%s", i ? "," : "", v[i]);
		o += w > 0 ? (size_t)w : 0;
	}
}

static const char *nz(const char *s) { return s ? s : "(null)"; }

/* Renders one field of c named by key into out. Keys: scalar names as in struct cfg, listen.KIND,
 * vhost.NAME.FIELD, component.NAME.FIELD. */
static int field_str(const struct cfg *c, const char *key, char *out, size_t cap)
{
	char name[128];
	if (sscanf(key, "listen.%127s", name) == 1) {
		for (size_t i = 0; i < c->nlistens; i++)
			if (!strcmp(c->listens[i].kind, name))
				return snprintf(out, cap, "%s %u", c->listens[i].host, c->listens[i].port), 0;
		return snprintf(out, cap, "none"), 0;
	}
	const char *dot = strrchr(key, '.');
	if (!strncmp(key, "vhost.", 6) && dot > key + 6) {
		snprintf(name, sizeof(name), "%.*s", (int)(dot - key - 6), key + 6);
		const struct cfg_vhost *v = cfg_vhost_find(c, name);
		if (!v)
			return snprintf(out, cap, "none"), 0;
		if (!strcmp(dot, ".cert"))
			return snprintf(out, cap, "%s", nz(v->cert)), 0;
		if (!strcmp(dot, ".key"))
			return snprintf(out, cap, "%s", nz(v->key)), 0;
		if (!strcmp(dot, ".modules"))
			return join_list(out, cap, v->modules, v->nmodules), 0;
		if (!strcmp(dot, ".registration"))
			return snprintf(out, cap, "%d", v->registration_open), 0;
		if (!strcmp(dot, ".require_tls"))
			return snprintf(out, cap, "%d", v->require_tls), 0;
		return -1;
	}
	if (!strncmp(key, "component.", 10) && dot > key + 10) {
		snprintf(name, sizeof(name), "%.*s", (int)(dot - key - 10), key + 10);
		const struct cfg_component *k = cfg_component_find(c, name);
		if (!k)
			return snprintf(out, cap, "none"), 0;
		if (!strcmp(dot, ".secret"))
			return snprintf(out, cap, "%s", nz(k->secret)), 0;
		if (!strcmp(dot, ".modules"))
			return join_list(out, cap, k->modules, k->nmodules), 0;
		if (!strcmp(dot, ".options"))
			return join_list(out, cap, k->options, k->noptions), 0;
		return -1;
	}
	struct { const char *k; int type; const void *p; } scal[] = {
		{"rundir", 's', &c->rundir}, {"datadir", 's', &c->datadir}, {"log", 's', &c->log},
		{"storage_default", 's', &c->storage_default}, {"storage_arg", 's', &c->storage_arg},
		{"storage_cache", 's', &c->storage_cache}, {"loglevel", 'i', &c->loglevel},
		{"workers_c2s", 'u', &c->workers_c2s}, {"workers_http", 'u', &c->workers_http},
		{"workers_storage", 'u', &c->workers_storage}, {"stanza_size", 'U', &c->stanza_size},
		{"c2s_rate", 'U', &c->c2s_rate}, {"unauth_timeout", 'u', &c->unauth_timeout},
		{"conn_per_ip", 'u', &c->conn_per_ip}, {"scram_iterations", 'u', &c->scram_iterations},
		{"regs_per_ip", 'u', &c->regs_per_ip}, {"bosh_inactivity", 'u', &c->bosh_inactivity},
		{"nvhosts", 'z', &c->nvhosts}, {"ncomponents", 'z', &c->ncomponents},
		{"nlistens", 'z', &c->nlistens},
	};
	if (!strcmp(key, "admins"))
		return join_list(out, cap, c->admins, c->nadmins), 0;
	for (size_t i = 0; i < sizeof(scal) / sizeof(scal[0]); i++) {
		if (strcmp(scal[i].k, key))
			continue;
		switch (scal[i].type) {
		case 's': return snprintf(out, cap, "%s", nz(*(char *const *)scal[i].p)), 0;
		case 'i': return snprintf(out, cap, "%d", *(const int *)scal[i].p), 0;
		case 'u': return snprintf(out, cap, "%u", *(const unsigned *)scal[i].p), 0;
		case 'U': return snprintf(out, cap, "%llu", (unsigned long long)*(const uint64_t *)scal[i].p), 0;
		default: return snprintf(out, cap, "%zu", *(const size_t *)scal[i].p), 0;
		}
	}
	return -1;
}

/* Replaces a leading "@" by tmpdir and "%" by the repository root. */
static void expand(const char *in, char *out, size_t cap)
{
	if (in[0] == '@')
		snprintf(out, cap, "%s%s", tmpdir, in + 1);
	else if (in[0] == '%')
		snprintf(out, cap, "%s%s", repodir, in + 1);
	else
		snprintf(out, cap, "%s", in);
}

static int check_fields(const char *name, const struct cfg *c, const char *const *want)
{
	int bad = 0;
	for (int i = 0; i < MAXEXP && want[i]; i++) {
		const char *eq = strchr(want[i], '=');
		char key[128], got[2048], exp[2048];
		snprintf(key, sizeof(key), "%.*s", (int)(eq - want[i]), want[i]);
		expand(eq + 1, exp, sizeof(exp));
		if (field_str(c, key, got, sizeof(got)) < 0) {
			fprintf(stderr, "case %s: test bug, unknown key %s\n", name, key);
			bad = 1;
		} else if (strcmp(got, exp)) {
			fprintf(stderr, "case %s: %s = '%s', want '%s'\n", name, key, got, exp);
			bad = 1;
		}
	}
	return bad;
}

static const struct ok_case ok_cases[] = {
	{"defaults", VH,
	 {"rundir=@/var/run", "datadir=@/var/lib", "log=stderr", "loglevel=1", "storage_default=file",
	  "nlistens=0"}},
	{"default limits", VH,
	 {"workers_c2s=1", "workers_http=1", "stanza_size=262144", "c2s_rate=1048576",
	  "unauth_timeout=60", "conn_per_ip=50"}},
	{"default registrations-per-ip", VH, {"regs_per_ip=5"}},
	{"default bosh-inactivity", VH, {"bosh_inactivity=30"}},
	{"bosh-inactivity", "limits { bosh-inactivity 2m }\n" VH, {"bosh_inactivity=120"}},
	{"default scram and vhost", VH,
	 {"scram_iterations=4096", "workers_storage=1", "vhost.localhost.require_tls=1",
	  "vhost.localhost.registration=0", "vhost.localhost.cert=(null)", "admins="}},
	{"server paths relative", "server { rundir \"../run\" datadir data/../lib }\n" VH,
	 {"rundir=@/run", "datadir=@/etc/lib"}},
	{"server paths absolute", "server {\n rundir \"/srv//x/./run/\"\n datadir /a/../b\n}\n" VH,
	 {"rundir=/srv/x/run", "datadir=/b"}},
	{"log and level", "server { log syslog loglevel debug }\n" VH, {"log=syslog", "loglevel=0"}},
	{"loglevel crit", "server { loglevel crit }\n" VH, {"loglevel=5"}},
	{"admins list", "server {\n admins \"a@localhost\" b@example.org\n}\n" VH,
	 {"admins=a@localhost,b@example.org"}},
	{"admins replaced", "server {\n admins a@x\n admins b@y\n}\n" VH, {"admins=b@y"}},
	{"scram-iterations", "server { scram-iterations 10000 }\n" VH, {"scram_iterations=10000"}},
	{"later setting wins", "server { loglevel warn }\nserver { loglevel err }\n" VH, {"loglevel=4"}},
	{"workers", "workers { c2s 4  http 2  storage 64 }\n" VH,
	 {"workers_c2s=4", "workers_http=2", "workers_storage=64"}},
	{"size units", "limits { stanza-size 1M }\n" VH, {"stanza_size=1048576"}},
	{"size bare", "limits { stanza-size 4096 }\n" VH, {"stanza_size=4096"}},
	{"size K", "limits { stanza-size 64K }\n" VH, {"stanza_size=65536"}},
	{"rate K", "limits { c2s-rate 10K/s }\n" VH, {"c2s_rate=10240"}},
	{"rate G", "limits { c2s-rate 1G/s }\n" VH, {"c2s_rate=1073741824"}},
	{"rate bare", "limits { c2s-rate 500/s }\n" VH, {"c2s_rate=500"}},
	{"duration s", "limits { unauth-timeout 30s }\n" VH, {"unauth_timeout=30"}},
	{"duration m", "limits { unauth-timeout 5m }\n" VH, {"unauth_timeout=300"}},
	{"duration h", "limits { unauth-timeout 1h }\n" VH, {"unauth_timeout=3600"}},
	{"duration ms", "limits { unauth-timeout 2000ms }\n" VH, {"unauth_timeout=2"}},
	{"conn-per-ip", "limits { conn-per-ip 7 }\n" VH, {"conn_per_ip=7"}},
	{"registrations-per-ip", "limits { registrations-per-ip 2 }\n" VH, {"regs_per_ip=2"}},
	{"listen kinds",
	 "listen c2s \"[::]:5222\"\nlisten c2s-tls \"[::1]:5223\"\nlisten http 127.0.0.1:5280\n"
	 "listen https \"0.0.0.0:5281\"\nlisten component \"127.0.0.1:5347\"\n" VH,
	 {"listen.c2s=:: 5222", "listen.c2s-tls=::1 5223", "listen.http=127.0.0.1 5280",
	  "listen.https=0.0.0.0 5281", "listen.component=127.0.0.1 5347", "nlistens=5"}},
	{"listen canonical v6", "listen c2s \"[0:0::1]:65535\"\n" VH, {"listen.c2s=::1 65535"}},
	{"listen same kind replaces", "listen c2s \"[::]:5222\"\nlisten c2s \"127.0.0.1:15222\"\n" VH,
	 {"listen.c2s=127.0.0.1 15222", "nlistens=1"}},
	{"listen distinct addresses same port", "listen c2s \"127.0.0.1:5222\"\nlisten http \"127.0.0.2:5222\"\n" VH,
	 {"nlistens=2"}},
	{"storage memory", "storage { default memory }\n" VH, {"storage_default=memory", "storage_arg=(null)"}},
	{"storage postgresql", "storage {\n default postgresql \"host=/tmp dbname=x\"\n cache redis \"redis://127.0.0.1:6379\"\n}\n" VH,
	 {"storage_default=postgresql", "storage_arg=host=/tmp dbname=x",
	  "storage_cache=redis://127.0.0.1:6379"}},
	{"storage one line", "storage { default file cache redis \"redis://h\" }\n" VH,
	 {"storage_default=file", "storage_arg=(null)", "storage_cache=redis://h"}},
	{"storage mongodb then file", "storage { default mongodb \"mongodb://h/db\" }\nstorage { default file }\n" VH,
	 {"storage_default=file", "storage_arg=(null)"}},
	{"vhost fields",
	 "vhost \"Example.ORG\" {\n cert certs/e.pem\n key \"../keys/e.key\"\n modules roster ping disco\n"
	 " registration open\n require-tls off\n}\n",
	 {"vhost.example.org.cert=@/etc/certs/e.pem", "vhost.example.org.key=@/keys/e.key",
	  "vhost.example.org.modules=roster,ping,disco", "vhost.example.org.registration=1",
	  "vhost.example.org.require_tls=0", "nvhosts=1"}},
	{"vhost extended", "vhost a.example { modules ping\n registration open }\nvhost \"b.example\" {}\n"
	 "vhost \"a.example\" { require-tls off }\n",
	 {"nvhosts=2", "vhost.a.example.modules=ping", "vhost.a.example.registration=1",
	  "vhost.a.example.require_tls=0", "vhost.b.example.require_tls=1"}},
	{"vhost modules replaced", "vhost x { modules a b\n modules c }\n", {"vhost.x.modules=c"}},
	{"components", VH "component \"conference.localhost\" { module muc }\n"
	 "component \"bridge.localhost\" { secret \"change \\\"me\\\\\" }\n",
	 {"ncomponents=2", "component.conference.localhost.modules=muc",
	  "component.bridge.localhost.secret=change \"me\\", "component.conference.localhost.secret=(null)"}},
	{"component extended", VH "component c.localhost { modules muc pubsub }\ncomponent c.localhost { option name x }\n",
	 {"ncomponents=1", "component.c.localhost.modules=muc,pubsub", "component.c.localhost.secret=(null)",
	  "component.c.localhost.options=name=x"}},
	{"internal component options", VH "component s.localhost {\n modules disco ping\n option contact-abuse "
	 "\"mailto:a@b\"\n option contact-abuse \"mailto:c@d\"\n}\n",
	 {"component.s.localhost.modules=disco,ping", "component.s.localhost.options=contact-abuse=mailto:c@d"}},
	{"comments and blank lines", "# top\n\nserver { # c\n  loglevel notice # x\n}\n# end\n" VH,
	 {"loglevel=2"}},
	{"one-line shape",
	 "server  { rundir \"../var/run\"  datadir \"../var/lib\"  log stderr  loglevel info  admins \"admin@localhost\" }\n"
	 "workers { c2s 2  http 1  storage 2 }\nlimits  { stanza-size 256K  c2s-rate 10K/s  unauth-timeout 60s  conn-per-ip 50 }\n" VH,
	 {"workers_c2s=2", "workers_storage=2", "c2s_rate=10240", "admins=admin@localhost",
	  "rundir=@/var/run"}},
	{"no trailing newline", "vhost \"localhost\" { registration open }", {"vhost.localhost.registration=1"}},
	{"crlf", "server {\r\n loglevel warn\r\n}\r\n" VH, {"loglevel=3"}},
};

static const struct err_case err_cases[] = {
	{"no vhost", "server { }\n", "t.conf:2: no vhost"},
	{"unknown top", "frobnicate 1\n" VH, "t.conf:1: unknown directive 'frobnicate' at top level"},
	{"unknown in vhost", VH "vhost localhost {\n foo bar\n}\n", "t.conf:3: unknown directive 'foo' in vhost"},
	{"wrong context", "vhost x {\n rundir /x\n}\n", "t.conf:2: unknown directive 'rundir' in vhost (it belongs in server)"},
	{"unterminated string", "server {\n rundir \"abc\n}\n" VH, "t.conf:2: unterminated string"},
	{"bad escape", "server { rundir \"a\\nb\" }\n" VH, "t.conf:1: unknown escape"},
	{"missing brace", VH "vhost \"x\" {\n modules a\n\n", "t.conf:5: missing '}' for block opened at line 2"},
	{"unexpected brace", VH "}\n", "t.conf:2: unexpected '}'"},
	{"stray open brace", "server { { }\n" VH, "t.conf:1: unexpected '{'"},
	{"block without brace", "server\nrundir x\n" VH, "t.conf:2: expected '{' after 'server'"},
	{"missing argument", "server {\n rundir\n}\n" VH, "t.conf:2: rundir: expected 1 argument"},
	{"argument on next line", "server {\n rundir\n \"/x\"\n}\n" VH, "t.conf:2: rundir: expected 1 argument"},
	{"too many arguments", "server {\n rundir \"/a\" \"/b\"\n}\n" VH, "t.conf:2: rundir: too many arguments"},
	{"string as directive", "\"server\" { }\n" VH, "t.conf:1: expected a directive name"},
	{"bad size", "limits {\n stanza-size 12Q\n}\n" VH, "t.conf:2: stanza-size: expected a size like 256K"},
	{"size overflow", "limits { stanza-size 99999999999999999999 }\n" VH, "t.conf:1: stanza-size: expected a size like 256K"},
	{"size out of range", "limits { stanza-size 1G }\n" VH, "t.conf:1: stanza-size: 1G is out of range"},
	{"bad rate", "limits { c2s-rate 10K }\n" VH, "t.conf:1: c2s-rate: expected a rate like 10K/s"},
	{"zero rate", "limits { c2s-rate 0/s }\n" VH, "t.conf:1: c2s-rate: 0/s is out of range"},
	{"duration without unit", "limits { unauth-timeout 60 }\n" VH, "t.conf:1: unauth-timeout: expected a duration like 30s"},
	{"duration fraction", "limits { unauth-timeout 1500ms }\n" VH, "t.conf:1: unauth-timeout: 1500ms is not a whole number of seconds"},
	{"duration zero", "limits { unauth-timeout 0s }\n" VH, "t.conf:1: unauth-timeout: 0s is out of range"},
	{"bosh-inactivity without unit", "limits {\n bosh-inactivity 60\n}\n" VH,
	 "t.conf:2: bosh-inactivity: expected a duration like 30s"},
	{"bosh-inactivity too short", "limits { bosh-inactivity 1s }\n" VH, "t.conf:1: bosh-inactivity: 1s is out of range"},
	{"workers zero", "workers { c2s 0 }\n" VH, "t.conf:1: c2s: 0 is out of range"},
	{"workers too many", "workers { http 65 }\n" VH, "t.conf:1: http: 65 is out of range"},
	{"workers not number", "workers { storage two }\n" VH, "t.conf:1: storage: expected a number, got 'two'"},
	{"conn-per-ip negative", "limits { conn-per-ip -1 }\n" VH, "t.conf:1: conn-per-ip: expected a number"},
	{"scram too low", "server { scram-iterations 1000 }\n" VH, "t.conf:1: scram-iterations: 1000 is out of range"},
	{"bad log", "server { log file }\n" VH, "t.conf:1: log: expected stderr|syslog, got 'file'"},
	{"bad loglevel", "server { loglevel verbose }\n" VH, "t.conf:1: loglevel: expected debug|info|notice|warn|err|crit"},
	{"admin not a jid", "server { admins admin }\n" VH, "t.conf:1: admins: 'admin' is not a bare JID"},
	{"admin full jid", "server { admins a@b/c }\n" VH, "t.conf:1: admins: 'a@b/c' is not a bare JID"},
	{"listen kind", "listen s2s \"[::]:5269\"\n" VH, "t.conf:1: listen: expected c2s|c2s-tls|http|https|component, got 's2s'"},
	{"listen hostname", "listen c2s \"localhost:5222\"\n" VH, "t.conf:1: listen c2s: 'localhost' is not an IP address"},
	{"listen v6 unbracketed", "listen c2s \"::1:5222\"\n" VH, "t.conf:1: listen c2s: IPv6 addresses go in brackets"},
	{"listen no port", "listen c2s \"127.0.0.1\"\n" VH, "t.conf:1: listen c2s: expected an address like"},
	{"listen port zero", "listen c2s \"127.0.0.1:0\"\n" VH, "t.conf:1: listen c2s: port in \"127.0.0.1:0\" must be a number from 1 to 65535"},
	{"listen port big", "listen c2s \"[::]:65536\"\n" VH, "t.conf:1: listen c2s: port in"},
	{"listen one arg", "listen c2s\n" VH, "t.conf:1: listen: expected 2 arguments"},
	{"listen duplicate", "listen c2s \"127.0.0.1:5222\"\nlisten http \"127.0.0.1:5222\"\n" VH,
	 "t.conf:2: listen http: port 5222 is already used by listen c2s"},
	{"listen wildcard clash", "listen c2s \"[::]:5222\"\n" VH "listen component \"127.0.0.1:5222\"\n",
	 "t.conf:3: listen component: port 5222 is already used by listen c2s"},
	{"storage unknown", "storage { default sqlite }\n" VH, "t.conf:1: default: expected memory|file|postgresql|mongodb, got 'sqlite'"},
	{"storage pg without arg", "storage { default postgresql }\n" VH, "t.conf:1: default postgresql needs a quoted connection string"},
	{"storage memory with arg", "storage { default memory \"x\" }\n" VH, "t.conf:1: default memory takes no argument"},
	{"cache not redis", "storage { cache memcached \"x\" }\n" VH, "t.conf:1: cache: expected redis, got 'memcached'"},
	{"vhost bad name", "vhost \"-bad-.example\" { }\n", "t.conf:1: vhost name '-bad-.example' is not a domain name"},
	{"vhost empty label", "vhost \"a..b\" { }\n", "t.conf:1: vhost name 'a..b' is not a domain name"},
	{"vhost with at", "vhost \"a@b\" { }\n", "t.conf:1: vhost name 'a@b' is not a domain name"},
	{"component bad name", VH "component \"x y\" { }\n", "t.conf:2: component name 'x y' is not a domain name"},
	{"component same as vhost", VH "component localhost { module muc }\n", "t.conf:3: component 'localhost' has the name of a vhost"},
	{"bad registration", "vhost x { registration maybe }\n", "t.conf:1: registration: expected closed|open, got 'maybe'"},
	{"bad require-tls", "vhost x { require-tls yes }\n", "t.conf:1: require-tls: expected off|on, got 'yes'"},
	{"module with slash", "vhost x {\n modules ping ../../evil\n}\n", "t.conf:2: modules: module name '../../evil' may hold only"},
	{"empty secret", VH "component c.x { secret \"\" }\n", "t.conf:2: secret: empty value"},
	{"component secret then modules", VH "component c.x {\n secret s\n modules ping\n}\n",
	 "t.conf:4: component 'c.x': modules with a secret: a component is either external (secret) or internal "
	 "(modules), never both"},
	{"component modules then secret", VH "component c.x { module ping }\ncomponent c.x { secret s }\n",
	 "t.conf:3: component 'c.x': secret with modules: a component is either external"},
	{"component option with secret", VH "component c.x {\n secret s\n option k v\n}\n",
	 "t.conf:4: component 'c.x': option with a secret"},
	{"component option key", VH "component c.x {\n modules ping\n option K v\n}\n",
	 "t.conf:4: option: key 'K' may hold only"},
	{"empty path", "vhost x { cert \"\" }\n", "t.conf:1: cert: empty path"},
	{"nul byte", "server { }\n\0\n" VH, "t.conf:2: unexpected character 0x00"},
	{"control char in string", "server { rundir \"a\x01\" }\n" VH, "t.conf:1: control character 0x01 in string"},
	{"include missing", "include \"nonexistent.conf\"\n" VH, "t.conf:1: include 'nonexistent.conf': No such file or directory"},
	{"include directory", "include \".\"\n" VH, "t.conf:1: include '.': not a regular file"},
};

static size_t text_len(const char *name, const char *text)
{
	/* The one case with an embedded NUL names it; the others are C strings. */
	if (!strcmp(name, "nul byte"))
		return strlen(text) + 1 + strlen(text + strlen(text) + 1);
	return strlen(text);
}

static void test_ok_cases(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *t = &ok_cases[i];
		struct cfg c;
		char err[512];
		if (cfg_parse_text("t.conf", t->text, strlen(t->text), &c, err, sizeof(err)) < 0) {
			fprintf(stderr, "case %s: rejected: %s\n", t->name, err);
			bad = 1;
			continue;
		}
		bad |= check_fields(t->name, &c, t->want);
		cfg_free(&c);
	}
	assert_int_equal(bad, 0);
}

static void test_err_cases(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *t = &err_cases[i];
		struct cfg c;
		char err[512];
		const char *colon = strchr(t->want + 7, ':');	/* after "t.conf:LINE" */
		size_t prefix = (size_t)(colon - t->want) + 1;
		if (cfg_parse_text("t.conf", t->text, text_len(t->name, t->text), &c, err, sizeof(err)) == 0) {
			fprintf(stderr, "case %s: accepted, want error '%s'\n", t->name, t->want);
			cfg_free(&c);
			bad = 1;
			continue;
		}
		if (strncmp(err, t->want, prefix) || !strstr(err, t->want + prefix + 1)) {
			fprintf(stderr, "case %s: error '%s', want '%s'\n", t->name, err, t->want);
			bad = 1;
		}
		if (c.vhosts || c.rundir || c.path) {
			fprintf(stderr, "case %s: cfg not left freed\n", t->name);
			bad = 1;
		}
	}
	assert_int_equal(bad, 0);
}

/* ---- include tests: files written under tmpdir/etc ---- */

struct file { const char *path, *text; };

struct inc_case {
	const char *name;
	struct file files[4];	/* files[0] is loaded */
	const char *want[MAXEXP];	/* fields, or NULL when err is set */
	const char *err;		/* "path:LINE: fragment" with path as shown */
};

static const struct inc_case inc_cases[] = {
	{"site overrides shipped",
	 {{"site.conf", "include \"base.conf\"\nserver { loglevel debug }\nvhost localhost { registration open }\n"},
	  {"base.conf", "server { loglevel warn\n rundir run }\nvhost localhost {\n modules ping\n}\n"}},
	 {"loglevel=0", "rundir=@/etc/run", "vhost.localhost.modules=ping", "vhost.localhost.registration=1",
	  "nvhosts=1"}, NULL},
	{"paths relative to the naming file",
	 {{"site.conf", "include \"sub/inner.conf\"\n"},
	  {"sub/inner.conf", "vhost localhost { cert \"c.pem\"  key ../k.key }\nserver { datadir \"../../data\" }\n"}},
	 {"vhost.localhost.cert=@/etc/sub/c.pem", "vhost.localhost.key=@/etc/k.key", "datadir=@/data",
	  "rundir=@/var/run"}, NULL},
	{"include inside a vhost block",
	 {{"site.conf", "vhost localhost {\n include \"vh.conf\"\n registration open\n}\n"},
	  {"vh.conf", "modules ping disco\nrequire-tls off\n"}},
	 {"vhost.localhost.modules=ping,disco", "vhost.localhost.require_tls=0",
	  "vhost.localhost.registration=1"}, NULL},
	{"listen replaced by later file",
	 {{"site.conf", "include base.conf\nlisten c2s \"127.0.0.1:15222\"\n"},
	  {"base.conf", "listen c2s \"[::]:5222\"\nlisten http \"[::]:5280\"\nvhost localhost {}\n"}},
	 {"listen.c2s=127.0.0.1 15222", "listen.http=:: 5280", "nlistens=2"}, NULL},
	{"error inside include names that file",
	 {{"site.conf", "\ninclude \"sub/bad.conf\"\n"}, {"sub/bad.conf", "server {\n\n  bogus 1\n}\n"}},
	 {NULL}, "sub/bad.conf:3: unknown directive 'bogus' in server"},
	{"unclosed block in include",
	 {{"site.conf", "include \"bad.conf\"\n" VH}, {"bad.conf", "vhost x {\n"}},
	 {NULL}, "bad.conf:2: missing '}' for block opened at line 1"},
	{"include may not close the includer's block",
	 {{"site.conf", "vhost x {\n include \"close.conf\"\n"}, {"close.conf", "}\n"}},
	 {NULL}, "close.conf:1: unexpected '}'"},
	{"cycle",
	 {{"site.conf", VH "include \"a.conf\"\n"}, {"a.conf", "include \"b.conf\"\n"},
	  {"b.conf", "\ninclude \"a.conf\"\n"}},
	 {NULL}, "b.conf:2: include 'a.conf': include cycle"},
	{"self include",
	 {{"site.conf", VH "include \"site.conf\"\n"}},
	 {NULL}, "site.conf:2: include 'site.conf': include cycle"},
	{"same file twice is not a cycle",
	 {{"site.conf", "include \"vh.conf\"\ninclude \"vh.conf\"\n"}, {"vh.conf", VH}},
	 {"nvhosts=1"}, NULL},
	{"depth limit",
	 {{"site.conf", VH "include \"d/x.conf\"\n"}, {"d/x.conf", "include \"../d/../d/x.conf\"\n"}},
	 {NULL}, "include cycle"},
};

static void write_file(const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/etc/%s", tmpdir, rel);
	char *slash = strrchr(path, '/');
	*slash = 0;
	mkdir(path, 0700);
	*slash = '/';
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	fclose(f);
}

static void remove_file(const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/etc/%s", tmpdir, rel);
	unlink(path);
}

static void test_include_cases(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(inc_cases) / sizeof(inc_cases[0]); i++) {
		const struct inc_case *t = &inc_cases[i];
		for (int f = 0; f < 4 && t->files[f].path; f++)
			write_file(t->files[f].path, t->files[f].text);
		struct cfg c;
		char err[512];
		int rc = cfg_load(t->files[0].path, &c, err, sizeof(err));
		if (t->err && rc == 0) {
			fprintf(stderr, "case %s: accepted, want '%s'\n", t->name, t->err);
			cfg_free(&c);
			bad = 1;
		} else if (t->err && !strstr(err, t->err)) {
			fprintf(stderr, "case %s: error '%s', want '%s'\n", t->name, err, t->err);
			bad = 1;
		} else if (!t->err && rc < 0) {
			fprintf(stderr, "case %s: rejected: %s\n", t->name, err);
			bad = 1;
		} else if (!t->err) {
			bad |= check_fields(t->name, &c, t->want);
			cfg_free(&c);
		}
		for (int f = 0; f < 4 && t->files[f].path; f++)
			remove_file(t->files[f].path);
	}
	assert_int_equal(bad, 0);
}

/* A chain deeper than CFG_MAX_INCLUDE_DEPTH of distinct files is refused. */
static void test_include_depth(void **state)
{
	(void)state;
	char name[32], text[64];
	for (int i = 0; i <= CFG_MAX_INCLUDE_DEPTH + 1; i++) {
		snprintf(name, sizeof(name), "deep%d.conf", i);
		snprintf(text, sizeof(text), "%sinclude \"deep%d.conf\"\n", i == 0 ? VH : "", i + 1);
		write_file(name, text);
	}
	struct cfg c;
	char err[512];
	assert_int_equal(cfg_load("deep0.conf", &c, err, sizeof(err)), -1);
	if (!strstr(err, "nested deeper than")) {
		fprintf(stderr, "depth: got '%s'\n", err);
		fail();
	}
	for (int i = 0; i <= CFG_MAX_INCLUDE_DEPTH + 1; i++) {
		snprintf(name, sizeof(name), "deep%d.conf", i);
		remove_file(name);
	}
}

static void test_load_missing(void **state)
{
	(void)state;
	struct cfg c;
	char err[512];
	assert_int_equal(cfg_load("no-such.conf", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "no-such.conf: cannot read: No such file or directory");
}

/* The shipped etc/xmppd.conf parses, with paths under the repository. */
static void test_shipped(void **state)
{
	(void)state;
	static const char *const want[][MAXEXP] = {
		{"rundir=%/var/run", "datadir=%/var/lib", "log=stderr", "loglevel=1", "admins=admin@localhost"},
		{"listen.c2s=:: 5222", "nlistens=3", "workers_c2s=1", "workers_storage=1", "stanza_size=262144"},
		{"unauth_timeout=60", "conn_per_ip=50", "storage_default=file", "nvhosts=1", "ncomponents=0"},
		{"vhost.localhost.cert=%/var/certs/localhost.pem", "vhost.localhost.key=%/var/certs/localhost.key",
		 "vhost.localhost.modules=roster,presence,offline,disco,ping,version,time,last,vcard,private,blocking,carbons,register", "vhost.localhost.registration=0"},
	};
	char path[1100];
	snprintf(path, sizeof(path), "%s/etc/xmppd.conf", repodir);
	struct cfg c;
	char err[512];
	if (cfg_load(path, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "shipped config rejected: %s\n", err);
		fail();
	}
	int bad = 0;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		bad |= check_fields("shipped", &c, want[i]);
	assert_string_equal(c.path, path);
	cfg_free(&c);
	assert_int_equal(bad, 0);
}

static int setup(void **state)
{
	(void)state;
	if (!getcwd(repodir, sizeof(repodir)))
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	char etc[300];
	snprintf(etc, sizeof(etc), "%s/etc", tmpdir);
	if (mkdir(etc, 0700) < 0 || chdir(etc) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char p[300];
	snprintf(p, sizeof(p), "%s/etc/sub", tmpdir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/etc/d", tmpdir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/etc", tmpdir);
	rmdir(p);
	rmdir(tmpdir);
	return chdir(repodir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_cases),
		cmocka_unit_test(test_err_cases),
		cmocka_unit_test(test_include_cases),
		cmocka_unit_test(test_include_depth),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_shipped),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
