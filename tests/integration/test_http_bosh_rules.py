"""BOSH session rules at protocol level (XEP-0124), raw HTTP from Python against the real daemon:
a session created over https refuses requests over plain http (403, the session untouched), also
through a trusted proxy; acknowledgements (§9): the client's ack drops cached answers, the server's
report of an answer the client's ack says it lacks; the inactivity period from the configuration
(limits { bosh-inactivity }), and pauses (§10) up to maxpause."""
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

import harness
from http_raw import BOSH, NS_HTTPBIND, Conn, bosh_post

INACTIVITY = 3


@pytest.fixture(scope="module")
def srv():
    s = harness.Server(http=True, https=True)
    s.extra = f"server {{ trusted-proxies 127.0.0.2 }}\nlimits {{ bosh-inactivity {INACTIVITY}s }}\n"
    s.write_config()
    s.start()
    s.add_user("alice", "pw")
    s.add_user("bob", "pw")
    yield s
    s.cleanup()


def root(r):
    assert r.status == 200, r
    return ET.fromstring(r.body)


def raw_body(sid, rid, attrs=""):
    return f"<body xmlns='{NS_HTTPBIND}' sid='{sid}' rid='{rid}'{attrs}/>"


# ---- a secure session stays secure ----

def test_secure_session_refuses_plain_http(srv):
    b = BOSH(srv.https_port, wait=1)
    try:
        assert root(b.created).get("secure") == "true"
        plain = Conn(srv.http_port)
        try:
            r = bosh_post(plain, raw_body(b.sid, b.rid + 1))
            assert r.status == 403, r  # refused, not a terminate: the session is not ended by it
            assert r.header("access-control-allow-origin") == "*"
            # an untrusted peer saying it came over https is still plain
            r = bosh_post(plain, raw_body(b.sid, b.rid + 1), extra="X-Forwarded-Proto: https\r\n")
            assert r.status == 403, r
        finally:
            plain.close()
        # the refused requests took no rid and ended nothing: the next one over https goes on
        assert b.login("alice", "pw", "secure") == "alice@localhost/secure"
        el = root(b.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"))
        assert el.get("type") is None, ET.tostring(el)
    finally:
        b.close()
    assert "bosh request for a secure session over plain http refused" in srv.log_text()


def test_secure_session_through_a_trusted_proxy(srv):
    fwd = "X-Forwarded-Proto: https\r\nX-Forwarded-For: 192.0.2.9\r\n"
    c = Conn(srv.http_port, source="127.0.0.2")
    try:
        rid = 777000
        r = bosh_post(c, f"<body xmlns='{NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh' to='localhost' rid='{rid}' wait='1' hold='1' "
                         "ver='1.11' xmpp:version='1.0'/>",
                      extra=fwd)
        el = root(r)
        assert el.get("secure") == "true", r.body
        sid = el.get("sid")
        # the same proxy without X-Forwarded-Proto: https is a downgrade
        r = bosh_post(c, raw_body(sid, rid + 1), extra="X-Forwarded-For: 192.0.2.9\r\n")
        assert r.status == 403, r
        # with it, the session goes on at the same rid
        el = root(bosh_post(c, raw_body(sid, rid + 1), extra=fwd))
        assert el.get("type") is None, ET.tostring(el)
    finally:
        c.close()


def test_plain_session_still_served_over_https(srv):
    """Only the downgrade is refused: a plain session may move to TLS."""
    b = BOSH(srv.http_port, tls=False, wait=1)
    try:
        assert root(b.created).get("secure") == "false"
        c = Conn(srv.https_port, tls=True)
        try:
            el = root(bosh_post(c, b.body("")))
            assert el.get("type") is None
        finally:
            c.close()
    finally:
        b.close()


# ---- acknowledgements (§9) ----

def test_ack_report_and_trim(srv):
    b = BOSH(srv.https_port, wait=1, ack=True)
    try:
        created = root(b.created)
        first = b.rid
        assert created.get("ack") == str(first)  # §9.1: the creation request's rid
        r1 = b.send("")  # rid first+1, answered empty after `wait`
        assert root(r1).get("report") is None
        time.sleep(harness_grace())
        # the client says it has nothing after the creation answer: the answer to first+1 is lost
        r2 = b.send("", f" ack='{first}'")
        el = root(r2)
        assert el.get("report") == str(first + 1), r2.body
        assert int(el.get("time")) >= 2000, r2.body
        # it asks again for first+1 and gets the answer it lost (§9.2, §14.3)
        again = b.post(raw_body(b.sid, first + 1, f" ack='{first}'"))
        assert again.body == r1.body
        # now it has everything up to first+2: those answers are dropped, a replay finds none
        r3 = b.send("", f" ack='{first + 2}'")
        assert root(r3).get("report") is None, r3.body
        el = root(b.post(raw_body(b.sid, first + 2)))
        assert el.get("type") == "terminate" and el.get("condition") == "item-not-found"
    finally:
        b.close()


def test_replay_without_acks_still_cached(srv):
    """The control of the test above: without the ack, the same replay is answered."""
    b = BOSH(srv.https_port, wait=1, ack=True)
    try:
        r1 = b.send("")
        r2 = b.send("")
        assert root(r2).get("report") is None
        again = b.post(raw_body(b.sid, b.rid - 1))
        assert again.body == r1.body
    finally:
        b.close()


def test_no_report_without_acks_requested(srv):
    b = BOSH(srv.https_port, wait=1)
    try:
        first = b.rid
        assert root(b.created).get("ack") is None
        b.send("")
        time.sleep(harness_grace())
        el = root(b.send("", f" ack='{first}'"))
        assert el.get("report") is None and el.get("ack") is None
    finally:
        b.close()


def harness_grace():
    return 2.3  # BOSH_ACK_GRACE (2 s) and some


# ---- inactivity and pause (§10) ----

def test_inactivity_from_the_configuration(srv):
    b = BOSH(srv.https_port, wait=1)
    try:
        el = root(b.created)
        assert el.get("inactivity") == str(INACTIVITY)
        assert el.get("maxpause") == "120"
        root(b.send(""))
        time.sleep(INACTIVITY + 1.5)
        el = ET.fromstring(b.send("").body)  # an unknown sid now (404 too: the body has no ver)
        assert el.get("type") == "terminate" and el.get("condition") == "item-not-found"
    finally:
        b.close()
    assert "bosh session inactive, ended" in srv.log_text()


def test_inactivity_not_reset_by_incoming_messages(srv):
    """A session that gets messages but sends no request still ends after `inactivity`."""
    from c2s_raw import Raw
    b = BOSH(srv.https_port, wait=1)
    bob = Raw(srv.c2s_port)
    try:
        assert b.login("alice", "pw", "deaf") == "alice@localhost/deaf"
        bob.login("bob", "pw", "talker")
        for i in range(int((INACTIVITY + 3) / 0.5)):
            bob.send(f"<message to='alice@localhost/deaf' type='chat' id='m{i}'><body>{i}</body></message>")
            time.sleep(0.5)
        el = ET.fromstring(b.send("").body)
        assert el.get("type") == "terminate" and el.get("condition") == "item-not-found", ET.tostring(el)
    finally:
        b.close()
        bob.close()


def test_pause_answers_at_once_and_outlives_inactivity(srv):
    b = BOSH(srv.https_port, wait=10)
    try:
        b.expect(r"</stream:features>")
        t0 = time.monotonic()
        el = root(b.send("", " pause='8'"))
        assert time.monotonic() - t0 < 3, "a pause request is answered at once, not held for wait"
        assert el.get("type") is None
        time.sleep(INACTIVITY + 2)  # past inactivity, within the pause
        c = Conn(srv.https_port, tls=True)
        try:
            t0 = time.monotonic()
            r = bosh_post(c, b.body(""))
        finally:
            c.close()
        el = root(r)
        assert el.get("type") is None, r.body
    finally:
        b.close()


def test_pause_over_maxpause_is_a_policy_violation(srv):
    b = BOSH(srv.https_port, wait=5)
    try:
        b.expect(r"</stream:features>")
        el = root(b.send("", " pause='121'"))
        assert el.get("type") == "terminate" and el.get("condition") == "policy-violation", ET.tostring(el)
    finally:
        b.close()


def test_bad_inactivity_value_names_file_and_line():
    s = harness.Server()
    try:
        for value, why in (("1s", "bosh-inactivity: 1s is out of range"),
                           ("60", "bosh-inactivity: expected a duration like 30s")):
            with open(s.config, "a") as f:
                f.write(f"limits {{\n  bosh-inactivity {value}\n}}\n")
            line = open(s.config).read().count("\n") - 1
            r = subprocess.run([harness.XMPPD, "-n", "-f", s.config], capture_output=True, text=True, timeout=10)
            assert r.returncode != 0 and f"{s.config}:{line}: {why}" in r.stderr, r.stderr
            s.write_config()
    finally:
        s.cleanup()
