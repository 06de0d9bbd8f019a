"""XEP-0077 in-band registration before auth over the web transports (the engine's register.c on
the http worker): the feature and the form over WebSocket and BOSH, an account created over one
and used over the other (and over c2s), conflict, the feature only where TLS is as required, and
the per-address throttle counting the web client's address."""
import re

import pytest

import harness
from c2s_raw import Raw
from http_raw import BOSH, WSX

FEATURE = "<register xmlns='http://jabber.org/features/iq-register'/>"
NS = "jabber:iq:register"
CLEAR = "clear.localhost"
PER_IP = 3


@pytest.fixture(scope="module")
def srv():
    s = harness.Server(http=True, https=True, extra=f"""
server {{ trusted-proxies 127.0.0.2 }}
vhost "{harness.DOMAIN}" {{ registration open }}
vhost "{CLEAR}" {{ require-tls off  registration open }}
limits {{ registrations-per-ip {PER_IP} }}
""")
    s.start()
    yield s
    s.cleanup()


def reg_form(x, iq_id="f1"):
    x.send(f"<iq type='get' id='{iq_id}'><query xmlns='{NS}'/></iq>")
    m = x.expect(rf"<iq [^>]*id='{iq_id}'[^>]*>.*?</iq>", timeout=10)
    return m.group(0)


def reg_set(x, user, password, iq_id="r1"):
    x.send(f"<iq type='set' id='{iq_id}'><query xmlns='{NS}'><username>{user}</username>"
           f"<password>{password}</password></query></iq>")
    m = x.expect(rf"<iq [^>]*id='{iq_id}'[^>]*(/>|>.*?</iq>)", timeout=10)
    el = m.group(0)
    if "type='result'" in el:
        return "result"
    c = re.search(r"<([a-z-]+) xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'", el)
    return c.group(1) if c else el


def test_register_over_websocket_then_login_over_bosh(srv):
    ws = WSX(srv.https_port, tls=True)
    try:
        feats = ws.open().group(0)
        assert FEATURE in feats, feats
        form = reg_form(ws)
        assert "type='result'" in form and "<username/>" in form and "<password/>" in form, form
        assert reg_set(ws, "wsuser", "ws-pw") == "result"
        # the stream stays unauthenticated: it may log in with the new account right away
        assert ws.auth_scram("wsuser", "ws-pw")[0] == "success"
        ws.open()
        assert ws.bind("ws") == "wsuser@localhost/ws"
    finally:
        ws.close()
    b = BOSH(srv.https_port, wait=2)
    try:
        assert b.login("wsuser", "ws-pw", "bosh") == "wsuser@localhost/bosh"
    finally:
        b.close()


def test_register_over_bosh_then_login_over_websocket_and_c2s(srv):
    b = BOSH(srv.https_port, wait=2)
    try:
        feats = b.expect(r"<stream:features[^>]*>.*?</stream:features>").group(0)
        assert FEATURE in feats, feats
        assert "<username/>" in reg_form(b)
        assert reg_set(b, "boshuser", "bosh-pw") == "result"
        assert reg_set(b, "boshuser", "other", "r2") == "conflict"
        assert b.auth_scram("boshuser", "bosh-pw")[0] == "success"
        b.restart()
        assert b.bind("b") == "boshuser@localhost/b"
    finally:
        b.close()
    ws = WSX(srv.https_port, tls=True)
    try:
        assert ws.login("boshuser", "bosh-pw", "w") == "boshuser@localhost/w"
    finally:
        ws.close()
    r = Raw(srv.c2s_port)
    try:
        assert r.login("boshuser", "bosh-pw", "tcp").startswith("boshuser@localhost/tcp")
    finally:
        r.close()


def test_feature_follows_require_tls_over_plain_http(srv):
    # localhost requires TLS: no feature over plain http, and a set is refused
    ws = WSX(srv.http_port, tls=False)
    try:
        feats = ws.open().group(0)
        assert FEATURE not in feats, feats
    finally:
        ws.close()
    b = BOSH(srv.http_port, tls=False, wait=2)
    try:
        feats = b.expect(r"<stream:features[^>]*>.*?</stream:features>").group(0)
        assert FEATURE not in feats, feats
    finally:
        b.close()
    # a host without require-tls offers it over plain http too
    ws = WSX(srv.http_port, tls=False)
    try:
        feats = ws.open(to=CLEAR).group(0)
        assert FEATURE in feats, feats
        assert reg_set(ws, "plainuser", "plain-pw") == "result"
    finally:
        ws.close()


def test_throttle_counts_the_web_clients_address(srv):
    """Through a trusted proxy each client is its own address (X-Forwarded-For); past the limit
    one address gets resource-constraint (as on c2s: XEP-0077 §8 policy)."""
    fwd = "X-Forwarded-Proto: https\r\nX-Forwarded-For: 192.0.2.44\r\n"
    got = []
    for i in range(PER_IP + 1):
        ws = WSX(srv.http_port, source="127.0.0.2", extra=fwd)
        try:
            ws.open()
            got.append(reg_set(ws, f"thr{i}", "pw"))
        finally:
            ws.close()
    assert got[:PER_IP] == ["result"] * PER_IP and got[PER_IP] != "result", got
    # another client behind the same proxy is not throttled
    ws = WSX(srv.http_port, source="127.0.0.2", extra="X-Forwarded-Proto: https\r\nX-Forwarded-For: 192.0.2.45\r\n")
    try:
        ws.open()
        assert reg_set(ws, "thr-other", "pw") == "result"
    finally:
        ws.close()
