/* Internal components and XEP-0115 caps in the router: the §5 verification string against the
 * XEP's worked examples, a vhost's caps from its own disco#info, component hosts that are no
 * user domain and refuse modules that need one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mods_test.h"
#include "workers/router/host.h"
#include "workers/router/rtr.h"
#include "workers/router/xnode.h"

static struct rtr_env the_env;

static const char simple_example[] =	/* XEP-0115 §5.2 */
	"<query xmlns='http://jabber.org/protocol/disco#info'>"
	"<identity category='client' name='Exodus 0.9.1' type='pc'/>"
	"<feature var='http://jabber.org/protocol/caps'/>"
	"<feature var='http://jabber.org/protocol/disco#info'/>"
	"<feature var='http://jabber.org/protocol/disco#items'/>"
	"<feature var='http://jabber.org/protocol/muc'/>"
	"</query>";

static const char complex_example[] =	/* XEP-0115 §5.3 */
	"<query xmlns='http://jabber.org/protocol/disco#info' node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>\n"
	"  <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>\n"
	"  <identity xml:lang='el' category='client' name='\xce\xa8 0.11' type='pc'/>\n"
	"  <feature var='http://jabber.org/protocol/caps'/>\n"
	"  <feature var='http://jabber.org/protocol/disco#info'/>\n"
	"  <feature var='http://jabber.org/protocol/disco#items'/>\n"
	"  <feature var='http://jabber.org/protocol/muc'/>\n"
	"  <x xmlns='jabber:x:data' type='result'>\n"
	"    <field var='FORM_TYPE' type='hidden'>\n"
	"      <value>urn:xmpp:dataforms:softwareinfo</value>\n"
	"    </field>\n"
	"    <field var='ip_version'>\n"
	"      <value>ipv4</value>\n"
	"      <value>ipv6</value>\n"
	"    </field>\n"
	"    <field var='os'>\n"
	"      <value>Mac</value>\n"
	"    </field>\n"
	"    <field var='os_version'>\n"
	"      <value>10.5.1</value>\n"
	"    </field>\n"
	"    <field var='software'>\n"
	"      <value>Psi</value>\n"
	"    </field>\n"
	"    <field var='software_version'>\n"
	"      <value>0.11</value>\n"
	"    </field>\n"
	"  </x>\n"
	"</query>";

/* The same as the complex example, every list in another order, plus a form without FORM_TYPE
 * (§5.4: not hashed). */
static const char complex_shuffled[] =
	"<query xmlns='http://jabber.org/protocol/disco#info'>"
	"<x xmlns='jabber:x:data' type='result'>"
	"<field var='software_version'><value>0.11</value></field>"
	"<field var='os'><value>Mac</value></field>"
	"<field var='ip_version'><value>ipv6</value><value>ipv4</value></field>"
	"<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>"
	"<field var='software'><value>Psi</value></field>"
	"<field var='os_version'><value>10.5.1</value></field>"
	"</x>"
	"<x xmlns='jabber:x:data' type='result'><field var='stray'><value>1</value></field></x>"
	"<feature var='http://jabber.org/protocol/muc'/>"
	"<identity xml:lang='el' category='client' name='\xce\xa8 0.11' type='pc'/>"
	"<feature var='http://jabber.org/protocol/disco#items'/>"
	"<feature var='http://jabber.org/protocol/caps'/>"
	"<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>"
	"<feature var='http://jabber.org/protocol/disco#info'/>"
	"</query>";

static void test_caps_ver_examples(void **state)
{
	static const struct {
		const char *name, *xml, *want;
	} cases[] = {
		{"§5.2 simple", simple_example, "QgayPKawpkPSDYmwT/WM94uAlu0="},
		{"§5.3 complex", complex_example, "q07IKJEyjvHSyhy//CH0CxmKi8w="},
		{"complex, other order", complex_shuffled, "q07IKJEyjvHSyhy//CH0CxmKi8w="},
		{"empty", "<query xmlns='http://jabber.org/protocol/disco#info'/>", "2jmj7l5rSw0yVb/vlWAYkK/YBwk="},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char ver[32] = "";
		struct xnode *q = xnode_parse(cases[i].xml, strlen(cases[i].xml));
		if (!q)
			fail_msg("case %s: does not parse", cases[i].name);
		if (rtr_caps_ver(q, ver, sizeof(ver)) < 0 || strcmp(ver, cases[i].want) != 0)
			fail_msg("case %s: got '%s', want '%s'", cases[i].name, ver, cases[i].want);
		assert_int_equal(rtr_caps_ver(q, ver, 28), -1);	/* no room for the NUL */
		xnode_free(q);
	}
}

static void setup_env(void)
{
	char dir[4200];
	env = &the_env;
	memset(env, 0, sizeof(*env));
	mods_dir(dir, sizeof(dir));
	assert_int_equal(rtr_mods_set_dir(dir), 0);
}

static void test_component_host(void **state)
{
	(void)state;
	setup_env();
	struct mod_host *v = rtr_host_add("localhost"), *c = rtr_comp_host_add("services.localhost");
	assert_non_null(v);
	assert_non_null(c);
	assert_true(c->component);
	assert_false(v->component);
	assert_ptr_equal(rtr_host_find("Services.Localhost", 18), c);
	assert_ptr_equal(rtr_comp_host_find("services.localhost", 18), c);
	assert_null(rtr_comp_host_find("localhost", 9));
	assert_false(rtr_is_local_domain("services.localhost", 18));	/* no accounts there */
	assert_int_equal(env->nvhosts, 1);
	assert_int_equal(rtr_mod_api.host_is_component(c), 1);
	assert_int_equal(rtr_mod_api.host_is_component(v), 0);

	lifecycle[0] = 0;
	assert_int_equal(rtr_bus_hook(c->bus, "module-loaded", h_lifecycle, 0, NULL), 0);
	assert_int_equal(rtr_bus_hook(c->bus, "module-error", h_lifecycle, 0, NULL), 0);
	/* modules that need accounts, rosters or sessions are refused on a component */
	static const char *const user_mods[] = {"roster", "presence", "offline", "vcard", "private", "blocking",
						"carbons", "register", "last", "announce"};
	for (size_t i = 0; i < sizeof(user_mods) / sizeof(user_mods[0]); i++) {
		if (rtr_mod_load(c, user_mods[i]) != -1)
			fail_msg("module %s loaded on a component", user_mods[i]);
		assert_int_equal(rtr_mod_load(v, user_mods[i]), 0);	/* and fine on a vhost */
	}
	static const char *const host_mods[] = {"disco", "ping", "version", "time", "contact_info"};
	for (size_t i = 0; i < sizeof(host_mods) / sizeof(host_mods[0]); i++)
		if (rtr_mod_load(c, host_mods[i]) != 0)
			fail_msg("module %s not loaded on a component", host_mods[i]);
	assert_true(rtr_bus_has(c->bus, "iq-get/host/urn:xmpp:ping:ping"));
	assert_false(rtr_bus_has(c->bus, "iq-get/self/jabber:iq:roster:query"));
	assert_non_null(strstr(lifecycle, "module-error:roster "));
	assert_non_null(strstr(lifecycle, "module-error:announce "));
	assert_non_null(strstr(lifecycle, "module-loaded:ping "));
	assert_null(strstr(lifecycle, "module-loaded:roster "));
	rtr_hosts_free();
}

/* A vhost's ver is that of what its disco#info answers; a host without disco has none; a
 * component gets none (it has no streams). */
static void test_caps_from_disco(void **state)
{
	(void)state;
	setup_env();
	struct mod_host *v = rtr_host_add("localhost"), *bare = rtr_host_add("bare.localhost"),
			*c = rtr_comp_host_add("services.localhost");
	assert_non_null(v);
	assert_non_null(bare);
	assert_non_null(c);
	assert_int_equal(rtr_mod_load(v, "disco"), 0);
	assert_int_equal(rtr_mod_load(v, "ping"), 0);
	assert_int_equal(rtr_mod_load(bare, "ping"), 0);
	assert_int_equal(rtr_mod_load(c, "disco"), 0);
	rtr_caps_refresh();
	/* S = "server/im//xmppd<" + disco#info, disco#items, urn:xmpp:ping, each followed by '<' */
	assert_string_equal(v->caps, "13CTLbyj7vfXRg5ccH52nr1Rq4g=");
	assert_string_equal(bare->caps, "");
	assert_string_equal(c->caps, "");
	/* the probe's answer is never sent: no link exists and nothing was counted as dropped */
	assert_int_equal(env->dropped_sends, 0);
	/* a module that changes the answer changes the ver */
	assert_int_equal(rtr_mod_load(v, "version"), 0);
	rtr_caps_refresh();
	assert_string_not_equal(v->caps, "13CTLbyj7vfXRg5ccH52nr1Rq4g=");
	assert_int_equal((int)strlen(v->caps), 28);
	rtr_hosts_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps_ver_examples),
		cmocka_unit_test(test_component_host),
		cmocka_unit_test(test_caps_from_disco),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
