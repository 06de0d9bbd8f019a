"""XEP-0115 entity capabilities in the stream features: after authentication the features carry
<c hash='sha-1' node='...' ver='...'/> whose ver is the §5 hash of what disco#info on the vhost
answers (computed here independently), per vhost, and follows module changes."""
import base64
import hashlib
import re
import xml.etree.ElementTree as ET

import pytest

from c2s_raw import Raw
from harness import DOMAIN, Server, wait_for
from http_raw import WSX

OTHER = "other.localhost"
NS_INFO = "http://jabber.org/protocol/disco#info"
NS_XDATA = "jabber:x:data"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
CAPS_RE = r"<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='([^']+)' ver='([^']+)'/>"


def caps_ver(query):
    """XEP-0115 §5.1 over a disco#info <query/> (an ElementTree element)."""
    ids = sorted((i.get("category", ""), i.get("type", ""), i.get(XML_LANG, ""), i.get("name", ""))
                 for i in query.findall(f"{{{NS_INFO}}}identity"))
    s = "".join("/".join(i) + "<" for i in ids)
    s += "".join(f + "<" for f in sorted(f.get("var") for f in query.findall(f"{{{NS_INFO}}}feature")))
    forms = []
    for x in query.findall(f"{{{NS_XDATA}}}x"):
        fields = {f.get("var"): sorted(v.text or "" for v in f.findall(f"{{{NS_XDATA}}}value"))
                  for f in x.findall(f"{{{NS_XDATA}}}field")}
        if "FORM_TYPE" in fields:
            forms.append(fields)
    for f in sorted(forms, key=lambda f: f["FORM_TYPE"][0]):
        s += f["FORM_TYPE"][0] + "<"
        for var in sorted(k for k in f if k != "FORM_TYPE"):
            s += var + "<" + "".join(v + "<" for v in f[var])
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


def test_caps_ver_of_the_xep_example():
    """The test's own algorithm, checked against XEP-0115 §5.2."""
    q = ET.fromstring(f"<query xmlns='{NS_INFO}'><identity category='client' name='Exodus 0.9.1' type='pc'/>"
                      f"<feature var='http://jabber.org/protocol/caps'/><feature var='{NS_INFO}'/>"
                      "<feature var='http://jabber.org/protocol/disco#items'/>"
                      "<feature var='http://jabber.org/protocol/muc'/></query>")
    assert caps_ver(q) == "QgayPKawpkPSDYmwT/WM94uAlu0="


@pytest.fixture(scope="module")
def srv():
    s = Server(https=True, extra=f"""
vhost "{DOMAIN}" {{
    modules roster presence disco ping contact_info
    option contact-abuse "mailto:abuse@{DOMAIN} xmpp:abuse@{DOMAIN}"
    option contact-support "https://{DOMAIN}/help"
}}
vhost "{OTHER}" {{ require-tls off  modules disco ping time }}
""")
    s.start()
    s.add_user("alice", "alice-pw")
    s.ctl("user", "add", f"zed@{OTHER}", input="zed-pw\n")
    yield s
    s.cleanup()


def login_features(port, user, password, host=DOMAIN, tls=True):
    """Logs in by hand; returns the stream, the features before and after authentication."""
    r = Raw(port)
    before = r.open(to=host).group(0)
    if tls:
        before = r.starttls(sni=host).group(0)
    assert r.auth_scram(user, password)[0] == "success"
    after = r.open(to=host).group(0)
    r.bind("caps")
    return r, before, after


def disco_info(r, host, iid="info"):
    r.send(f"<iq type='get' to='{host}' id='{iid}'><query xmlns='{NS_INFO}'/></iq>")
    reply = r.expect(rf"<iq [^>]*id='{iid}'[^>]*>.*?</iq>").group(0)
    return ET.fromstring(reply.replace("<iq ", "<iq xmlns='jabber:client' ", 1)).find(f"{{{NS_INFO}}}query")


def test_features_carry_the_vhost_caps(srv):
    r, before, after = login_features(srv.c2s_port, "alice", "alice-pw")
    assert "http://jabber.org/protocol/caps" not in before  # only once the client is authenticated
    m = re.search(CAPS_RE, after)
    assert m, after
    node, ver = m.groups()
    assert node == "urn:x-xmppd:caps"
    q = disco_info(r, DOMAIN)
    assert q.find(f"{{{NS_XDATA}}}x") is not None  # the contact form is part of the hash
    assert ver == caps_ver(q)
    r.close()


def test_web_sessions_carry_the_same_caps(srv):
    """The http worker runs the same stream engine: its features after authentication carry the
    router's caps too."""
    r, _, after = login_features(srv.c2s_port, "alice", "alice-pw")
    r.close()
    ws = WSX(srv.https_port, tls=True)
    try:
        assert "http://jabber.org/protocol/caps" not in ws.open().group(0)
        assert ws.auth_scram("alice", "alice-pw")[0] == "success"
        m = re.search(CAPS_RE, ws.open().group(0))
        assert m, ws.messages
        assert m.group(2) == re.search(CAPS_RE, after).group(2)
    finally:
        ws.close()


def test_each_vhost_has_its_own(srv):
    r, _, after = login_features(srv.c2s_port, "zed", "zed-pw", host=OTHER, tls=False)
    ver = re.search(CAPS_RE, after).group(2)
    assert ver == caps_ver(disco_info(r, OTHER))
    r.close()
    r, _, after = login_features(srv.c2s_port, "alice", "alice-pw")
    assert re.search(CAPS_RE, after).group(2) != ver
    r.close()


def module_change(srv, *args):
    """xmppctl module <args>, then a wait for the router it restarts."""
    pid = srv.worker("router")["pid"]
    srv.ctl("module", *args)
    wait_for(lambda: srv.worker("router")["pid"] != pid and srv.worker("router")["state"] == "running",
             what="router restarted")


def test_caps_follow_module_changes(srv):
    r, _, after = login_features(srv.c2s_port, "alice", "alice-pw")
    old = re.search(CAPS_RE, after).group(2)
    r.close()
    module_change(srv, "load", "version")

    def new_caps():
        try:
            s, _, feats = login_features(srv.c2s_port, "alice", "alice-pw")
        except AssertionError:
            return None  # the router is still coming back: try again
        m = re.search(CAPS_RE, feats)
        if not m or m.group(2) == old:
            s.close()
            return None
        return s, m.group(2)

    s, ver = wait_for(new_caps, timeout=15, step=0.2, what="new caps in the features")
    q = disco_info(s, DOMAIN)
    assert "jabber:iq:version" in {f.get("var") for f in q.findall(f"{{{NS_INFO}}}feature")}
    assert ver == caps_ver(q)
    s.close()


def test_no_disco_no_caps(srv):
    """Without disco#info there is nothing to hash: a new router's features drop <c/>."""
    module_change(srv, "unload", "disco")

    def caps_gone():
        try:
            s, _, feats = login_features(srv.c2s_port, "alice", "alice-pw")
        except AssertionError:
            return False
        s.close()
        return "<bind " in feats and "http://jabber.org/protocol/caps" not in feats

    wait_for(caps_gone, timeout=15, step=0.2, what="caps gone from the features")
