"""XEP-0157 contact addresses from the vhost's options, in the server's disco#info."""
from harness import DOMAIN, Client, Server, run

MODS = '''vhost "localhost" {
    modules roster presence disco contact_info ping
    option contact-abuse "mailto:abuse@localhost xmpp:abuse@localhost"
    option contact-support "https://localhost/support"
}'''


def test_contact_addresses():
    s = Server(extra=MODS)
    try:
        s.start()
        s.add_user("alice", "alice-pw")

        async def scenario():
            a = Client(f"alice@{DOMAIN}/r", "alice-pw")
            a.register_plugin("xep_0030")
            assert await a.login(s.c2s_port)
            info = await a["xep_0030"].get_info(jid=DOMAIN, timeout=5)
            forms = info.xml.findall("{http://jabber.org/protocol/disco#info}query/{jabber:x:data}x")
            assert len(forms) == 1
            fields = {f.get("var"): [v.text for v in f.findall("{jabber:x:data}value")]
                      for f in forms[0].findall("{jabber:x:data}field")}
            assert fields == {"FORM_TYPE": ["http://jabber.org/network/serverinfo"],
                              "abuse-addresses": ["mailto:abuse@localhost", "xmpp:abuse@localhost"],
                              "support-addresses": ["https://localhost/support"]}
            await a.close()

        run(scenario())
    finally:
        s.cleanup()
