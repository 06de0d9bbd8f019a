"""SASL on c2s streams (RFC 6120 §6): every mechanism (SCRAM-SHA-1/256 and -PLUS with both
binding types, PLAIN over TLS only, ANONYMOUS where allowed), every failure condition, a retry
after a failure, and delays that grow per address and per account."""
import base64
import time

import pytest

from c2s_raw import OpenSSLRaw, Raw, endpoint_binding
from harness import Client, Server, free_port, run

OPEN = "open.localhost"


@pytest.fixture(scope="module")
def srv():
    tls_port = free_port()
    s = Server(extra=f"""
listen c2s-tls "127.0.0.1:{tls_port}"
vhost "{OPEN}" {{ require-tls off  anonymous on }}
""")
    s.tls_port = tls_port
    s.start()
    for u in ("alice", "bob", "erin", "frank", "gina"):
        s.add_user(u, u + "-pw")
    s.ctl("user", "add", f"carol@{OPEN}", input="carol-pw\n")
    yield s
    s.cleanup()


_src = [10]


def fresh_src():
    """A new loopback source address: failures of one test do not slow the next one down."""
    _src[0] += 1
    return f"127.0.0.{_src[0]}"


def tls_stream(srv, src=None):
    r = Raw(srv.c2s_port, src=src or fresh_src())
    r.open()
    r.starttls()
    return r


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_scram_slixmpp(srv, mech):
    async def go():
        c = Client("alice@localhost/sx", "alice-pw", mech)
        assert await c.login(srv.c2s_port)
        await c.close()
    run(go())


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_scram_raw_in_clear_on_open_vhost(srv, mech):
    r = Raw(srv.c2s_port, src=fresh_src())
    r.open(to=OPEN)
    assert r.auth_scram("carol", "carol-pw", mech)[0] == "success"
    r.open(to=OPEN)
    assert r.bind("clear") == f"carol@{OPEN}/clear"


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"])
def test_scram_plus_server_end_point(srv, mech):
    r = tls_stream(srv)
    cb = endpoint_binding(r.sock)
    assert r.auth_scram("alice", "alice-pw", mech, "tls-server-end-point", cb)[0] == "success"
    r.open()
    assert r.bind("plus").startswith("alice@localhost/plus")
    # the wrong binding data (another connection's view) fails
    r2 = tls_stream(srv)
    res = r2.auth_scram("erin", "erin-pw", mech, "tls-server-end-point", b"\0" * 32)
    assert res == ("failure", "not-authorized")


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"])
def test_scram_plus_tls_exporter(srv, mech):
    r = OpenSSLRaw(srv.tls_port)
    try:
        r.open()
        assert r.auth_scram("alice", "alice-pw", mech, "tls-exporter", r.exporter)[0] == "success"
        r.open()
        assert r.bind("exporter").startswith("alice@localhost/exporter")
    finally:
        r.close()
    r = OpenSSLRaw(srv.tls_port)
    try:
        r.open()
        res = r.auth_scram("frank", "frank-pw", mech, "tls-exporter", bytes(32))
        assert res == ("failure", "not-authorized")
    finally:
        r.close()


def test_channel_binding_misuse(srv):
    r = tls_stream(srv)
    # p= with a non-PLUS mechanism, an unknown binding type, -PLUS without p=
    assert r.auth_scram("alice", "alice-pw", "SCRAM-SHA-1", gs2="p=tls-server-end-point,,")[1] == "not-authorized"
    assert r.auth_scram("alice", "alice-pw", "SCRAM-SHA-1-PLUS", "tls-unique", b"x")[1] == "not-authorized"
    assert r.auth_scram("alice", "alice-pw", "SCRAM-SHA-1-PLUS")[1] == "not-authorized"
    # -PLUS is not available without TLS
    r = Raw(srv.c2s_port, src=fresh_src())
    r.open(to=OPEN)
    assert r.auth_scram("carol", "carol-pw", "SCRAM-SHA-1-PLUS", "tls-server-end-point", b"x") == \
        ("failure", "invalid-mechanism")


def test_plain(srv):
    r = tls_stream(srv)
    assert r.auth_plain("alice", "alice-pw") == ("success", "")
    r.open()
    assert r.bind("plain").startswith("alice@localhost/plain")
    r = tls_stream(srv)
    assert r.auth_plain("bob", "bob-pw", authzid="bob@localhost") == ("success", "")
    r = tls_stream(srv)
    assert r.auth_plain("bob", "bob-pw", authzid="alice@localhost") == ("failure", "invalid-authzid")
    # PLAIN in the clear is refused even where TLS is optional
    r = Raw(srv.c2s_port, src=fresh_src())
    r.open(to=OPEN)
    assert r.auth_plain("carol", "carol-pw") == ("failure", "encryption-required")


def test_plain_wrong_password_then_retry(srv):
    r = tls_stream(srv)
    t0 = time.monotonic()
    assert r.auth_plain("gina", "nope") == ("failure", "not-authorized")
    assert time.monotonic() - t0 >= 0.9  # a failed login is answered late
    assert r.auth_plain("gina", "gina-pw") == ("success", "")


def test_anonymous(srv):
    r = Raw(srv.c2s_port, src=fresh_src())
    r.open(to=OPEN)
    r.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>")
    assert r.sasl_result() == ("success", "")
    r.open(to=OPEN)
    jid = r.bind()
    assert jid.startswith("anon-") and f"@{OPEN}/" in jid
    # not on a vhost that does not allow it
    r = tls_stream(srv)
    r.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>")
    assert r.sasl_result() == ("failure", "invalid-mechanism")


def test_failure_conditions(srv):
    r = Raw(srv.c2s_port, src=fresh_src())
    r.open()
    # before STARTTLS on a vhost that requires it
    r.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>biwsbj1hLHI9Yg==</auth>")
    assert r.sasl_result() == ("failure", "encryption-required")
    r.starttls()
    r.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='DIGEST-MD5'/>")
    assert r.sasl_result() == ("failure", "invalid-mechanism")
    r.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>not base64!</auth>")
    assert r.sasl_result() == ("failure", "malformed-request")
    r.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"
           + base64.b64encode(b"x,,n=a,r=b").decode() + "</auth>")
    assert r.sasl_result() == ("failure", "malformed-request")
    # an exchange aborted halfway
    r.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"
           + base64.b64encode(b"n,,n=alice,r=abcdef").decode() + "</auth>")
    r.expect(r"<challenge")
    r.send("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    assert r.sasl_result() == ("failure", "aborted")
    # a response out of turn
    r.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>biws</response>")
    assert r.sasl_result() == ("failure", "malformed-request")
    # unknown user and wrong password both read not-authorized; then a retry succeeds
    assert r.auth_scram("nobody", "x") == ("failure", "not-authorized")
    assert r.auth_scram("alice", "wrong") == ("failure", "not-authorized")
    assert r.auth_scram("alice", "alice-pw")[0] == "success"
    # SASL again after success is a policy violation
    r.open()
    r.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'/>")
    r.stream_error("policy-violation")


def test_nothing_behind_a_refused_attempt_in_the_same_write(srv):
    """A write that carries a refused attempt and more SASL behind it (read in one go, while the
    failure is held back) ends the stream: no login can succeed under a failure still to come, and
    a second refusal must not restart the pending delay's timer (that aborted the c2s worker)."""
    pid = srv.worker("c2s")["pid"]
    refused = ("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
               + base64.b64encode(b"\0x@y\0pw").decode() + "</auth>")  # no valid localpart
    good = ("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
            + base64.b64encode(b"\0frank\0frank-pw").decode() + "</auth>")
    for behind in (good, refused):
        r = tls_stream(srv)
        r.send(refused + behind)
        assert r.closed(10), r.buf
        assert ("<stream:error><policy-violation " in r.buf and "<success" not in r.buf
                and "<failure" not in r.buf), (r.buf, srv.log_text()[-3000:])
        r.close()
    time.sleep(2.5)  # past the delays: the worker that held them is still the same one
    assert srv.worker("c2s")["pid"] == pid, srv.log_text()[-3000:]
    assert tls_stream(srv).auth_plain("frank", "frank-pw") == ("success", "")


def test_delays_grow_per_address_and_account():
    s = Server()
    try:
        s.start()
        s.add_user("dave", "dave-pw")
        took = []
        for _ in range(3):  # each on a new stream: the address and the account remember
            r = Raw(s.c2s_port)
            r.open()
            r.starttls()
            t0 = time.monotonic()
            assert r.auth_scram("dave", "bad") == ("failure", "not-authorized")
            took.append(time.monotonic() - t0)
            r.close()
        assert took[0] >= 0.9 and took[1] >= 1.9 and took[2] >= 3.9, took
        # reads are held during the delay: a stanza sent meanwhile waits for the failure
        r = Raw(s.c2s_port)
        r.open()
        r.starttls()
        t0 = time.monotonic()
        assert r.auth_plain("dave", "bad") == ("failure", "not-authorized")
        assert time.monotonic() - t0 >= 7.5
        assert r.auth_plain("dave", "dave-pw") == ("success", "")
    finally:
        s.cleanup()
