"""Stanzas from an external component (XEP-0114) to local users go through the router's
receiver-side events and the RFC 6121 rules like those of any other domain: a message to an
offline user is stored offline, a blocked component domain is blocked, carbons copy its
messages, an IQ to a bare JID is answered by the server, and errors find their way back.
The other way, what a user sends to a component goes through the sender's events: a blocked
JID is refused, sent messages are carbon-copied, and subscriptions change the roster."""


from c2s_raw import Raw, component_stream
from harness import DOMAIN, server_fixture

COMP = "comp.localhost"
SECRET = "s3cret"
STANZA_ERR = "urn:ietf:params:xml:ns:xmpp-stanzas"


srv = server_fixture(lambda s: f"""
listen component "127.0.0.1:{s.comp_port}"
component "{COMP}" {{ secret "{SECRET}" }}
vhost "{DOMAIN}" {{ modules roster presence offline blocking carbons disco ping }}
""", ("alice", "bob", "carol", "dave", "erin", "frank"), scope="module", ports=("comp_port",))


def component(srv):
    c = component_stream(srv.comp_port, COMP, SECRET)
    c.expect(r"<handshake/>")
    return c


def user(srv, who, res="u", presence=True):
    a = Raw(srv.c2s_port)
    a.login(who, f"{who}-pw", res)
    if presence:
        a.send("<presence/>")
    return a


def blocklist(a, op, jid):
    """XEP-0191 block or unblock one JID, and wait for the answer."""
    a.send(f"<iq type='set' id='{op}'><{op} xmlns='urn:xmpp:blocking'><item jid='{jid}'/></{op}></iq>")
    a.expect(rf"<iq [^>]*id='{op}'")


def carbon_pair(srv, who):
    """Two resources of who, both with carbons enabled."""
    pair = user(srv, who, "one"), user(srv, who, "two")
    for r in pair:
        r.send("<iq type='set' id='cen'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
        r.expect(r"<iq [^>]*id='cen'")
    return pair


def sync(a, iid):
    """A round trip to the server: everything the server sent a before it has arrived."""
    a.send(f"<iq type='get' to='{DOMAIN}' id='{iid}'><ping xmlns='urn:xmpp:ping'/></iq>")
    a.expect(rf"<iq [^>]*id='{iid}'")


def test_offline_user_gets_it_later(srv):
    c = component(srv)
    c.send(f"<message from='bot@{COMP}' to='bob@{DOMAIN}' id='off1' type='chat'><body>while away</body></message>")
    c.send(f"<message from='bot@{COMP}' to='bob@{DOMAIN}/gone' id='off2' type='chat'><body>to a gone one</body></message>")
    c.send(f"<iq type='get' from='{COMP}' to='{DOMAIN}' id='cs1'><ping xmlns='urn:xmpp:ping'/></iq>")
    r = c.expect(r"<iq [^>]*id='cs1'[^>]*/>").group(0)  # the component reaches the server itself
    assert "type='result'" in r and f"from='{DOMAIN}'" in r and f"to='{COMP}'" in r
    assert "id='off1'" not in c.buf  # stored, not bounced
    b = user(srv, "bob", "late")
    for mid, body in (("off1", "while away"), ("off2", "to a gone one")):
        m = b.expect(rf"<message [^>]*id='{mid}'[^>]*>.*?</message>").group(0)
        assert f"from='bot@{COMP}'" in m and f"<body>{body}</body>" in m and "urn:xmpp:delay" in m
    b.close()
    c.close()


def test_blocked_component_domain(srv):
    c = component(srv)
    a = user(srv, "alice", "b")
    blocklist(a, "block", COMP)
    c.send(f"<message from='bot@{COMP}' to='alice@{DOMAIN}' id='bm1' type='chat'><body>spam</body></message>")
    c.send(f"<message from='bot@{COMP}' to='alice@{DOMAIN}/b' id='bm2' type='chat'><body>spam</body></message>")
    c.send(f"<iq type='get' from='bot@{COMP}' to='alice@{DOMAIN}/b' id='bq1'><query xmlns='jabber:iq:version'/></iq>")
    for mid in ("bm1", "bm2"):
        m = c.expect(rf"<message [^>]*id='{mid}'[^>]*>.*?</message>").group(0)
        assert "type='error'" in m and f"<service-unavailable xmlns='{STANZA_ERR}'/>" in m
    r = c.expect(r"<iq [^>]*id='bq1'[^>]*>.*?</iq>").group(0)
    assert "type='error'" in r and f"<service-unavailable xmlns='{STANZA_ERR}'/>" in r
    sync(a, "s1")
    assert "spam" not in a.buf and "bq1" not in a.buf
    blocklist(a, "unblock", COMP)
    c.send(f"<message from='bot@{COMP}' to='alice@{DOMAIN}' id='bm3' type='chat'><body>welcome</body></message>")
    a.expect(r"<message [^>]*id='bm3'[^>]*>.*?<body>welcome</body>")
    a.close()
    c.close()


def test_carbons_copy_component_messages(srv):
    c = component(srv)
    one, two = carbon_pair(srv, "carol")
    c.send(f"<message from='bot@{COMP}' to='carol@{DOMAIN}/one' id='cb1' type='chat'><body>copied</body></message>")
    m = one.expect(r"<message [^>]*id='cb1'[^>]*>.*?</message>").group(0)
    assert "<body>copied</body>" in m and "urn:xmpp:carbons:2" not in m
    cc = two.expect(r"<message [^>]*>\s*<received xmlns='urn:xmpp:carbons:2'>.*?</received>\s*</message>").group(0)
    assert f"from='carol@{DOMAIN}'" in cc and f"from='bot@{COMP}'" in cc and "<body>copied</body>" in cc
    # a forged carbon from the component is refused, not delivered
    c.send(f"<message from='bot@{COMP}' to='carol@{DOMAIN}/one' id='fake' type='chat'>"
           f"<received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
           f"<message from='x@{DOMAIN}' to='carol@{DOMAIN}' type='chat'><body>forged</body></message>"
           f"</forwarded></received></message>")
    e = c.expect(r"<message [^>]*id='fake'[^>]*>.*?</error></message>").group(0)
    assert "type='error'" in e and f"<not-allowed xmlns='{STANZA_ERR}'/>" in e
    sync(one, "s2")
    assert "forged" not in one.buf
    one.close()
    two.close()
    c.close()


def test_iq_to_bare_jid_answered_by_server(srv):
    c = component(srv)
    d = user(srv, "dave", "r")
    c.send(f"<iq type='get' from='bot@{COMP}' to='dave@{DOMAIN}' id='bare1'><query xmlns='jabber:iq:version'/></iq>")
    r = c.expect(r"<iq [^>]*id='bare1'[^>]*>.*?</iq>").group(0)
    assert "type='error'" in r and f"<service-unavailable xmlns='{STANZA_ERR}'/>" in r
    assert f"from='dave@{DOMAIN}'" in r and f"to='bot@{COMP}'" in r
    # to the full JID it reaches the resource, and the answer goes back to the component
    c.send(f"<iq type='get' from='bot@{COMP}' to='dave@{DOMAIN}/r' id='full1'><query xmlns='jabber:iq:version'/></iq>")
    q = d.expect(r"<iq [^>]*id='full1'[^>]*>.*?</iq>").group(0)
    assert f"from='bot@{COMP}'" in q
    d.send(f"<iq type='result' to='bot@{COMP}' id='full1'><query xmlns='jabber:iq:version'><name>x</name></query></iq>")
    r = c.expect(r"<iq [^>]*id='full1'[^>]*>.*?</iq>").group(0)
    assert "type='result'" in r and f"from='dave@{DOMAIN}/r'" in r
    d.close()
    c.close()


BLOCKED_ERR = "urn:xmpp:blocking:errors"


def test_user_to_component_blocked_jid_refused(srv):
    c = component(srv)
    e = user(srv, "erin", "b")
    blocklist(e, "block", f"bot@{COMP}")
    e.send(f"<message to='bot@{COMP}' id='ob1' type='chat'><body>not sent</body></message>")
    e.send(f"<message to='bot@{COMP}/res' id='ob2' type='chat'><body>not sent</body></message>")
    e.send(f"<message to='other@{COMP}' id='ob3' type='chat'><body>sent</body></message>")
    for mid in ("ob1", "ob2"):
        m = e.expect(rf"<message [^>]*id='{mid}'[^>]*>.*?</message>").group(0)
        assert "type='error'" in m and f"<not-acceptable xmlns='{STANZA_ERR}'/>" in m
        assert f"<blocked xmlns='{BLOCKED_ERR}'/>" in m
    m = c.expect(r"<message [^>]*id='ob3'[^>]*>.*?</message>").group(0)
    assert f"from='erin@{DOMAIN}/b'" in m and f"to='other@{COMP}'" in m
    # the whole domain: the component itself too; the own server still answers
    blocklist(e, "block", COMP)
    e.send(f"<message to='{COMP}' id='ob4' type='chat'><body>not sent</body></message>")
    e.send(f"<iq type='get' to='{COMP}' id='ob5'><query xmlns='jabber:iq:version'/></iq>")
    e.send(f"<presence to='{COMP}'/>")
    e.send(f"<message to='other@{COMP}' id='ob6' type='chat'><body>not sent</body></message>")
    for kind, mid in (("message", "ob4"), ("iq", "ob5"), ("message", "ob6")):  # in order
        m = e.expect(rf"<{kind} [^>]*id='{mid}'[^>]*>.*?</{kind}>").group(0)
        assert "type='error'" in m and f"<blocked xmlns='{BLOCKED_ERR}'/>" in m
    sync(e, "s4")
    c.send(f"<iq type='get' from='{COMP}' to='{DOMAIN}' id='cs2'><ping xmlns='urn:xmpp:ping'/></iq>")
    c.expect(r"<iq [^>]*id='cs2'")  # everything erin sent before has been handled
    assert "not sent" not in c.buf and "ob5" not in c.buf and "<presence" not in c.buf
    e.close()
    c.close()


def test_user_to_component_sent_carbons(srv):
    c = component(srv)
    one, two = carbon_pair(srv, "frank")
    one.send(f"<message to='bot@{COMP}' id='sc1' type='chat'><body>to the bot</body></message>")
    m = c.expect(r"<message [^>]*id='sc1'[^>]*>.*?</message>").group(0)
    assert f"from='frank@{DOMAIN}/one'" in m and "<body>to the bot</body>" in m
    cc = two.expect(r"<message [^>]*>\s*<sent xmlns='urn:xmpp:carbons:2'>.*?</sent>\s*</message>").group(0)
    assert f"to='bot@{COMP}'" in cc and "<body>to the bot</body>" in cc
    # <private/> keeps it out of the copies
    one.send(f"<message to='bot@{COMP}' id='sc2' type='chat'><body>private one</body>"
             f"<private xmlns='urn:xmpp:carbons:2'/></message>")
    c.expect(r"<message [^>]*id='sc2'")
    sync(two, "s3")
    assert "private one" not in two.buf
    one.close()
    two.close()
    c.close()


def test_user_subscribes_to_a_component_contact(srv):
    c = component(srv)
    d = user(srv, "dave", "sub")
    d.send("<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>")
    d.expect(r"<iq [^>]*id='r0'")
    d.send(f"<presence to='bot@{COMP}' type='subscribe'/>")
    p = c.expect(r"<presence [^>]*type='subscribe'[^>]*/?>").group(0)
    assert f"from='dave@{DOMAIN}'" in p and f"from='dave@{DOMAIN}/" not in p  # RFC 6121 §3.1.2: bare
    push = d.expect(rf"<iq [^>]*type='set'[^>]*>\s*<query xmlns='jabber:iq:roster'[^>]*>\s*"
                    rf"<item [^>]*jid='bot@{COMP}'[^>]*/?>").group(0)
    assert "ask='subscribe'" in push
    # the component approves: the roster says 'to', and the contact's presence comes through
    c.send(f"<presence from='bot@{COMP}' to='dave@{DOMAIN}' type='subscribed'/>")
    push = d.expect(rf"<item [^>]*jid='bot@{COMP}'[^>]*subscription='to'[^>]*/?>|"
                    rf"<item [^>]*subscription='to'[^>]*jid='bot@{COMP}'[^>]*/?>").group(0)
    assert "ask=" not in push
    c.send(f"<presence from='bot@{COMP}/x' to='dave@{DOMAIN}'><status>here</status></presence>")
    d.expect(rf"<presence [^>]*from='bot@{COMP}/x'[^>]*>.*?<status>here</status>")
    d.close()
    c.close()


def test_directed_presence_to_a_component_ends_with_the_session(srv):
    """RFC 6121 §4.6.3: a user who sent directed presence to a component's JID and goes offline
    without undoing it makes the server send unavailable presence there."""
    c = component(srv)
    b = user(srv, "bob", "dp", presence=False)
    b.send(f"<presence to='bot@{COMP}'><status>hi bot</status></presence>")
    p = c.expect(r"<presence [^>]*>.*?<status>hi bot</status>.*?</presence>").group(0)
    assert f"from='bob@{DOMAIN}/dp'" in p
    b.close()
    u = c.expect(r"<presence [^>]*type='unavailable'[^>]*/?>").group(0)
    assert f"from='bob@{DOMAIN}/dp'" in u and f"to='bot@{COMP}'" in u
    c.close()
