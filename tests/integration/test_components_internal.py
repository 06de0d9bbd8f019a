"""Internal components: `component "services.localhost" { modules ... option ... }` is a host of
the router with its own modules and options and no accounts. Its modules answer (ping, version,
time, disco, contact_info with the component's own options), unhandled IQs and messages to JIDs
at it are service-unavailable, the vhost's disco#items lists every component, modules that need
a user domain are refused there, and external components reach it too."""
import re


from c2s_raw import Raw, component_stream, header
from harness import DOMAIN, server_fixture

SVC = "services.localhost"
NS_INFO = "http://jabber.org/protocol/disco#info"
NS_ITEMS = "http://jabber.org/protocol/disco#items"
STANZA_ERR = "urn:ietf:params:xml:ns:xmpp-stanzas"


srv = server_fixture(lambda s: f"""
listen component "127.0.0.1:{s.comp_port}"
vhost "{DOMAIN}" {{
    modules roster presence disco ping contact_info
    option contact-abuse "mailto:abuse@{DOMAIN}"
}}
component "{SVC}" {{
    modules disco ping version time contact_info
    option contact-abuse "mailto:abuse@{SVC} xmpp:abuse@{DOMAIN}"
}}
component "acct.localhost" {{ modules ping roster offline }}
component "bridge.localhost" {{ secret "s3cret" }}
""", ("alice",), scope="module", ports=("comp_port",))


def user(srv, res="u"):
    a = Raw(srv.c2s_port)
    a.login("alice", "alice-pw", res)
    return a


def iq(a, to, payload, iid, itype="get"):
    a.send(f"<iq type='{itype}' to='{to}' id='{iid}'>{payload}</iq>")
    return a.expect(rf"<iq [^>]*id='{iid}'[^>]*/>|<iq [^>]*id='{iid}'[^>]*>.*?</iq>").group(0)


def assert_error(reply, cond, frm):
    assert "type='error'" in reply, reply
    assert f"<{cond} xmlns='{STANZA_ERR}'/>" in reply, reply
    assert f"from='{frm}'" in reply, reply


def test_modules_answer_on_the_component(srv):
    a = user(srv)
    r = iq(a, SVC, "<ping xmlns='urn:xmpp:ping'/>", "p1")
    assert "type='result'" in r and f"from='{SVC}'" in r and "to='alice@localhost/u'" in r
    r = iq(a, SVC, "<query xmlns='jabber:iq:version'/>", "v1")
    assert "type='result'" in r and "<name>xmppd</name>" in r
    r = iq(a, SVC, "<time xmlns='urn:xmpp:time'/>", "t1")
    assert "type='result'" in r and "<tzo>+00:00</tzo>" in r
    a.close()


def test_disco_of_component_and_vhost(srv):
    a = user(srv, "d")
    info = iq(a, SVC, f"<query xmlns='{NS_INFO}'/>", "i1")
    assert "type='result'" in info
    feats = set(re.findall(r"<feature var='([^']+)'/>", info))
    assert {"urn:xmpp:ping", "jabber:iq:version", "urn:xmpp:time", NS_INFO, NS_ITEMS} <= feats
    assert "jabber:iq:roster" not in feats  # the vhost's modules are not the component's
    assert "category='component'" in info and "type='generic'" in info
    assert "category='server'" not in info
    # the component's own module options: its contact addresses, not the vhost's
    assert f"<value>mailto:abuse@{SVC}</value>" in info and f"<value>xmpp:abuse@{DOMAIN}</value>" in info
    vinfo = iq(a, DOMAIN, f"<query xmlns='{NS_INFO}'/>", "i2")
    assert f"<value>mailto:abuse@{DOMAIN}</value>" in vinfo and SVC not in vinfo
    assert "category='server'" in vinfo and "jabber:iq:version" not in vinfo
    items = iq(a, DOMAIN, f"<query xmlns='{NS_ITEMS}'/>", "it1")
    jids = set(re.findall(r"<item jid='([^']+)'/>", items))
    assert jids == {SVC, "acct.localhost", "bridge.localhost"}, items
    a.close()


def test_unhandled_is_service_unavailable(srv):
    a = user(srv, "x")
    # an IQ no module of the component handles keeps its id and comes from the component
    r = iq(a, SVC, "<query xmlns='jabber:iq:roster'/>", "u1")
    assert_error(r, "service-unavailable", SVC)
    assert "id='u1'" in r
    # any JID at the component: IQ and message refused, presence and errors ignored
    r = iq(a, f"bot@{SVC}", "<ping xmlns='urn:xmpp:ping'/>", "u2")
    assert_error(r, "service-unavailable", f"bot@{SVC}")
    r = iq(a, f"bot@{SVC}/res", f"<query xmlns='{NS_INFO}'/>", "u3")
    assert_error(r, "service-unavailable", f"bot@{SVC}/res")
    a.send(f"<message to='bot@{SVC}' id='m1' type='chat'><body>hi</body></message>")
    m = a.expect(r"<message [^>]*id='m1'[^>]*>.*?</message>").group(0)
    assert_error(m, "service-unavailable", f"bot@{SVC}")
    a.send(f"<message to='{SVC}' id='m2'><body>to the host</body></message>")
    a.send(f"<presence to='bot@{SVC}'/>")
    a.send(f"<message to='bot@{SVC}' id='m3' type='error'><error type='cancel'/></message>")
    r = iq(a, SVC, "<ping xmlns='urn:xmpp:ping'/>", "after")  # in order: nothing else came back
    assert "type='result'" in r
    assert "id='m2'" not in a.buf and "id='m3'" not in a.buf
    a.close()


def test_user_domain_modules_refused(srv):
    a = user(srv, "r")
    r = iq(a, "acct.localhost", "<query xmlns='jabber:iq:roster'/>", "r1")
    assert_error(r, "service-unavailable", "acct.localhost")
    r = iq(a, "acct.localhost", "<ping xmlns='urn:xmpp:ping'/>", "r2")
    assert "type='result'" in r  # the rest of its modules load
    log = srv.log_text()
    for mod in ("roster", "offline"):
        assert re.search(r'msg="module needs a user domain \(accounts, rosters, sessions\): not loaded on '
                         rf'a component" host=acct.localhost module={mod}', log), mod
    a.close()


def test_not_a_stream_host(srv):
    """No client and no external component may take an internal component's name."""
    c = Raw(srv.c2s_port)
    c.send(header(to=SVC))
    c.stream_error("host-unknown")
    c = Raw(srv.comp_port)
    c.send(header(to=SVC, ns="jabber:component:accept", version=None))
    c.stream_error("host-unknown")


def test_external_component_reaches_internal_one(srv):
    c = component_stream(srv.comp_port, "bridge.localhost", "s3cret")
    c.expect(r"<handshake/>")
    c.send(f"<iq type='get' from='bot@bridge.localhost' to='{SVC}' id='e1'><ping xmlns='urn:xmpp:ping'/></iq>")
    r = c.expect(r"<iq [^>]*id='e1'[^>]*/>|<iq [^>]*id='e1'[^>]*>.*?</iq>").group(0)
    assert "type='result'" in r and f"from='{SVC}'" in r and "to='bot@bridge.localhost'" in r
    assert "jabber:client" not in r  # a server-made stanza takes the component stream's namespace
    c.send(f"<iq type='get' from='bridge.localhost' to='{SVC}' id='e2'><query xmlns='jabber:iq:last'/></iq>")
    r = c.expect(r"<iq [^>]*id='e2'[^>]*>.*?</iq>").group(0)
    assert_error(r, "service-unavailable", SVC)
    c.close()


def test_module_list_of_a_component(srv):
    out = srv.ctl("module", "list", SVC).stdout.split("\n")
    assert [m for m in out if m] == ["disco", "ping", "version", "time", "contact_info"]
    assert srv.ctl("module", "list", "bridge.localhost", check=False).returncode == 1  # external: none
