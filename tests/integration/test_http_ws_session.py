"""XMPP sessions over WebSocket (RFC 7395) on the http worker, driven by raw frames from Python
against the real daemon: SCRAM login on https, the restart, bind, roster, messages and presence
with a slixmpp client on c2s both ways, <close/> and its unavailable, the stream errors (not one
element, over the size limit, restricted XML), require-tls over plain http and through a trusted
proxy, and a WebSocket session replaced by a c2s login of the same resource."""
import asyncio
import re

import pytest

import harness
from http_raw import NS_FRAMING, WSX, frame

CLOSE = f"<close xmlns='{NS_FRAMING}'/>"


@pytest.fixture(scope="module")
def srv():
    s = harness.Server(http=True, https=True)
    s.extra = "server { trusted-proxies 127.0.0.2 }\n"
    s.write_config()
    s.start()
    s.add_user("alice", "pw")
    s.add_user("bob", "pw")
    yield s
    s.cleanup()


def sasl_diag(srv, res):
    """What a failed login leaves for the next reader: the condition and the server's log."""
    return f"SASL {res!r}; server log (tail):\n{srv.log_text()[-6000:]}"


def ws_login(srv, user="alice", resource="web", tls=True, **kw):
    ws = WSX(srv.https_port if tls else srv.http_port, tls=tls, **kw)
    ws.open()
    res = ws.auth_scram(user, "pw")
    assert res[0] == "success", sasl_diag(srv, res)
    ws.open()
    jid = ws.bind(resource)
    assert jid == f"{user}@localhost/{resource}", jid
    return ws


def in_thread(fn, *args):
    return asyncio.get_event_loop().run_in_executor(None, fn, *args)


def test_login_restart_bind_roster(srv):
    ws = WSX(srv.https_port, tls=True)
    try:
        f = ws.open().group(0)
        opened = ws.messages[0]
        assert re.match(rf"<open xmlns='{NS_FRAMING}' from='localhost' id='[0-9a-f]+' version='1.0'", opened), opened
        assert "<mechanism>SCRAM-SHA-1</mechanism>" in f and "<mechanism>SCRAM-SHA-256</mechanism>" in f
        assert "xmlns:stream='http://etherx.jabber.org/streams'" in f  # each message stands alone
        assert "<starttls" not in f  # TLS is the WebSocket's business
        res = ws.auth_scram("alice", "pw", "SCRAM-SHA-256")
        assert res[0] == "success", sasl_diag(srv, res)
        f = ws.open().group(0)  # the restart is a new <open/> from the client
        assert "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>" in f and "<mechanisms" not in f
        assert ws.bind("web") == "alice@localhost/web"
        ws.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
        r = ws.expect(r"<iq [^>]*id='r1'[^>]*>.*?</iq>|<iq [^>]*id='r1'[^>]*/>").group(0)
        assert "type='result'" in r and "xmlns='jabber:client'" in r and "jabber:iq:roster" in r
        ws.send(CLOSE)
        ws.expect(re.escape(CLOSE))
        assert ws.wait_closed() == 1000
    finally:
        ws.close()
    assert "websocket stream" in srv.log_text()


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"])
def test_scram_plus_on_the_https_listener(srv, mech):
    """The WebSocket's own TLS session is bound to (RFC 5929 tls-server-end-point), as on c2s."""
    from c2s_raw import endpoint_binding
    ws = WSX(srv.https_port, tls=True)
    try:
        f = ws.open().group(0)
        assert f"<mechanism>{mech}</mechanism>" in f
        assert "<channel-binding type='tls-server-end-point'/>" in f and "<channel-binding type='tls-exporter'/>" in f
        cb = endpoint_binding(ws.sock)
        res = ws.auth_scram("alice", "pw", mech, cbtype="tls-server-end-point", cbdata=cb)
        assert res[0] == "success", sasl_diag(srv, res)
        assert ws.open() and ws.bind("plus") == "alice@localhost/plus"
    finally:
        ws.close()
    ws = WSX(srv.https_port, tls=True)  # another connection's view of the binding fails
    try:
        ws.open()
        res = ws.auth_scram("alice", "pw", mech, cbtype="tls-server-end-point", cbdata=b"\0" * 32)
        assert res == ("failure", "not-authorized"), sasl_diag(srv, res)
    finally:
        ws.close()


def test_messages_and_presence_with_a_tcp_client(srv):
    async def scenario():
        bob = harness.Client("bob@localhost/tcp", "pw")
        alice_tcp = harness.Client("alice@localhost/tcp", "pw")
        presences = asyncio.Queue()
        alice_tcp.add_event_handler("presence", lambda p: presences.put_nowait(p))
        assert await bob.login(srv.c2s_port) and await alice_tcp.login(srv.c2s_port)
        ws = await in_thread(ws_login, srv, "alice", "web")
        try:
            ws.send("<presence/>")

            async def presence_from(full, kind):
                for _ in range(20):
                    p = await asyncio.wait_for(presences.get(), 10)
                    if str(p["from"]) == full and p["type"] == kind:
                        return p
                raise AssertionError(f"no {kind} presence from {full}")

            await presence_from("alice@localhost/web", "available")
            ws.send("<message to='bob@localhost/tcp' type='chat' id='w1'><body>from the web</body></message>")
            m = await bob.next_message()
            assert m["body"] == "from the web" and str(m["from"]) == "alice@localhost/web"
            bob.send_message(mto="alice@localhost/web", mbody="to the web", mtype="chat")
            got = await in_thread(ws.expect, r"<message [^>]*>.*?</message>")
            assert "<body>to the web</body>" in got.group(0) and "from='bob@localhost/tcp'" in got.group(0)
            ws.send(CLOSE)
            await in_thread(ws.expect, re.escape(CLOSE))
            await presence_from("alice@localhost/web", "unavailable")
        finally:
            ws.close()
            await bob.close()
            await alice_tcp.close()

    harness.run(scenario())


def test_socket_drop_is_unavailable(srv):
    async def scenario():
        alice_tcp = harness.Client("alice@localhost/tcp2", "pw")
        presences = asyncio.Queue()
        alice_tcp.add_event_handler("presence", lambda p: presences.put_nowait(p))
        assert await alice_tcp.login(srv.c2s_port)
        ws = await in_thread(ws_login, srv, "alice", "drop")
        ws.send("<presence/>")
        ws.close()  # no <close/>: the TCP connection just goes
        for _ in range(20):
            p = await asyncio.wait_for(presences.get(), 10)
            if str(p["from"]) == "alice@localhost/drop" and p["type"] == "unavailable":
                break
        else:
            raise AssertionError("no unavailable after the WebSocket dropped")
        await alice_tcp.close()

    harness.run(scenario())


STREAM_ERRORS = [
    # (name, message after login, condition)
    ("two elements in one message", "<presence/><presence/>", "not-well-formed"),
    ("half an element", "<message to='bob@localhost'><body>x</body>", "not-well-formed"),
    ("processing instruction", "<?evil x?><presence/>", "restricted-xml"),
    ("comment inside a stanza", "<message to='bob@localhost'><!-- hi --><body>x</body></message>", "restricted-xml"),
    ("DOCTYPE", "<!DOCTYPE message><message/>", "restricted-xml"),
    ("a second open without a restart", f"<open xmlns='{NS_FRAMING}' to='localhost' version='1.0'/>",
     "invalid-xml"),
    ("unknown top-level element", "<foo xmlns='jabber:client'/>", "unsupported-stanza-type"),
]


@pytest.mark.parametrize("name,text,cond", STREAM_ERRORS, ids=[e[0] for e in STREAM_ERRORS])
def test_stream_errors_after_login(srv, name, text, cond):
    ws = ws_login(srv, "alice", "err")
    try:
        ws.send(text)
        ws.stream_error(cond)
    finally:
        ws.close()


def test_stanza_over_the_size_limit(srv):
    ws = ws_login(srv, "alice", "big")
    try:
        body = "x" * (256 * 1024 + 100)  # stanza-size 256K in the harness
        ws.send(f"<message to='bob@localhost'><body>{body}</body></message>")
        ws.stream_error("policy-violation")
    finally:
        ws.close()


def test_plain_http_follows_require_tls(srv):
    ws = WSX(srv.http_port)
    try:
        f = ws.open().group(0)
        assert "<mechanism>" not in f and "<starttls" not in f, f  # no mechanism in the clear
        res = ws.auth_scram("alice", "pw")
        assert res == ("failure", "encryption-required"), res
    finally:
        ws.close()


def test_trusted_proxy_with_https_counts_as_secure(srv):
    # a trusted proxy that terminated TLS says so in the upgrade request itself
    ws = WSX(srv.http_port, source="127.0.0.2",
             extra="X-Forwarded-Proto: https\r\nX-Forwarded-For: 192.0.2.7\r\n")
    try:
        f = ws.open().group(0)
        assert "<mechanism>SCRAM-SHA-1</mechanism>" in f
        assert "-PLUS" not in f  # no channel binding through a proxy
        res = ws.auth_scram("alice", "pw")
        assert res[0] == "success", sasl_diag(srv, res)
    finally:
        ws.close()
    assert re.search(r"websocket stream\" sid=\d+ ip=192\.0\.2\.7 secure=1", srv.log_text())
    # an untrusted peer saying https is still plain
    ws = WSX(srv.http_port, extra="X-Forwarded-Proto: https\r\n")
    try:
        assert "<mechanism>" not in ws.open().group(0)
    finally:
        ws.close()


def test_c2s_login_with_the_same_resource_replaces_the_websocket(srv):
    from c2s_raw import Raw
    ws = ws_login(srv, "bob", "same")
    tcp = Raw(srv.c2s_port)
    try:
        assert tcp.login("bob", "pw", "same") == "bob@localhost/same"
        ws.stream_error("conflict", timeout=10)
    finally:
        ws.close()
        tcp.close()


def test_unauthenticated_limit_per_address(srv):
    """conn-per-ip counts unauthenticated web streams per client address like c2s streams
    (harness: 50); through a trusted proxy that address is the X-Forwarded-For one."""
    xff = "X-Forwarded-For: 198.51.100.9\r\n"
    socks = []
    try:
        for _ in range(50):
            w = WSX(srv.http_port, source="127.0.0.2", extra=xff)
            w.open()
            socks.append(w)
        w = WSX(srv.http_port, source="127.0.0.2", extra=xff)
        socks.append(w)
        w.send(f"<open xmlns='{NS_FRAMING}' to='localhost' version='1.0'/>")
        w.stream_error("policy-violation")
    finally:
        for w in socks:
            w.close()


def test_binary_frames_still_refused(srv):
    ws = ws_login(srv, "alice", "bin")
    try:
        ws.send(frame(2, b"<presence/>"))
        assert ws.wait_closed() == 1003
    finally:
        ws.close()


def test_engine_clocks_over_websocket_and_bosh():
    """The engine's timers run for web streams as for c2s: the unauthenticated timeout, and a
    server ping (XEP-0199) on a quiet bound session, whose silence ends it."""
    from http_raw import BOSH
    s = harness.Server(http=True, https=True, extra="limits { ping-interval 1s  unauth-timeout 2s }")
    try:
        s.start()
        s.add_user("alice", "pw")
        idle = WSX(s.https_port, tls=True)
        idle.open()  # and no SASL: the unauthenticated timeout ends it
        good, dead = ws_login(s, "alice", "good"), ws_login(s, "alice", "dead")
        m = good.expect(r"<iq type='get' id='([^']+)' to='alice@localhost/good' from='localhost'[^>]*>"
                        r"<ping xmlns='urn:xmpp:ping'/></iq>", timeout=5)
        good.send(f"<iq type='result' id='{m.group(1)}' to='localhost'/>")
        dead.expect(r"<ping xmlns='urn:xmpp:ping'/>", timeout=5)  # and never answers
        dead.stream_error("connection-timeout", timeout=5)
        idle.stream_error("connection-timeout", timeout=5)
        good.send("<iq type='get' id='still'><ping xmlns='urn:xmpp:ping'/></iq>")
        good.expect(r"<iq[^>]*id='still'")
        b = BOSH(s.https_port, wait=2)
        try:
            b.login("alice", "pw", "bosh")
            m = b.expect(r"<iq type='get' id='([^']+)' to='alice@localhost/bosh'[^>]*><ping xmlns='urn:xmpp:ping'/>",
                         timeout=6)
            b.send(f"<iq type='result' id='{m.group(1)}' to='localhost'/>")
            assert not b.terminated
        finally:
            b.close()
        for w in (good, dead, idle):
            w.close()
    finally:
        s.cleanup()
