"""WebSocket at /xmpp-websocket (RFC 6455 + RFC 7395) against the real daemon over raw sockets:
the upgrade and its refusals, control frames, fragmentation, every framing error with its close
code, and the stream refusals before a session exists (our <open/>, a stream error, <close/>);
the sessions themselves are in test_http_ws_session.py."""
import struct
import xml.etree.ElementTree as ET

import pytest

import harness
from http_raw import WS, Conn, frame, ws_accept, ws_key, ws_request

NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
OPEN = f"<open xmlns='{NS_FRAMING}' to='localhost' version='1.0'/>"
TEXT, BINARY, CLOSE, PING, PONG, CONT = 1, 2, 8, 9, 10, 0


@pytest.fixture(scope="module")
def srv():
    s = harness.Server(http=True, https=True)
    s.start()
    yield s
    s.cleanup()


# ---- the handshake ----

def test_handshake(srv):
    for port, tls in [(srv.http_port, False), (srv.https_port, True)]:
        ws = WS(port, tls=tls)
        try:
            h = ws.handshake
            assert h.header("upgrade").lower() == "websocket"
            assert h.header("connection").lower() == "upgrade"
            assert h.header("sec-websocket-protocol") == "xmpp"
            assert h.header("sec-websocket-extensions") is None  # nothing negotiated
        finally:
            ws.close()


REFUSALS = [
    # (name, request bytes from a key, status, header that must be present)
    ("no sub-protocol", lambda k: ws_request(k, protocol=None), 400, None),
    ("other sub-protocols only", lambda k: ws_request(k, protocol="chat, mqtt"), 400, None),
    ("version 8", lambda k: ws_request(k, version="8"), 426, ("sec-websocket-version", "13")),
    ("no Upgrade", lambda k: b"GET /xmpp-websocket HTTP/1.1\r\nHost: localhost\r\n\r\n", 426,
     ("upgrade", "websocket")),
    ("key not 16 bytes", lambda k: ws_request("c2hvcnQ="), 400, None),
    ("no key", lambda k: ws_request(k).replace(f"Sec-WebSocket-Key: {k}\r\n".encode(), b""), 400, None),
    ("HTTP/1.0", lambda k: ws_request(k).replace(b"HTTP/1.1", b"HTTP/1.0", 1), 400, None),
    ("POST", lambda k: ws_request(k).replace(b"GET", b"POST", 1), 405, ("allow", "GET, OPTIONS")),
]


@pytest.mark.parametrize("name,make,status,header", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_handshake_refused(srv, name, make, status, header):
    c = Conn(srv.http_port)
    try:
        c.send(make(ws_key()))
        r = c.read_response()
        assert r.status == status, r
        assert r.header("sec-websocket-accept") is None
        if header:
            assert r.header(header[0]) == header[1]
        if name.startswith("no sub") or name.startswith("other"):
            assert b'"xmpp" is required' in r.body
    finally:
        c.close()


def test_frames_right_behind_the_upgrade(srv):
    """A client that pipelines its first frame with the upgrade request is served in order."""
    c = Conn(srv.http_port)
    try:
        key = ws_key()
        c.send(ws_request(key) + frame(PING, b"early"))
        r = c.read_response()
        assert r.status == 101 and r.header("sec-websocket-accept") == ws_accept(key)
        ws = WS.__new__(WS)
        ws.sock, ws.buf = c.sock, c.buf
        assert ws.read_frame() == (PONG, True, b"early")
    finally:
        c.close()


# ---- <open/> and the refusals before a session exists ----

def parse(text):
    return ET.fromstring(text)


def check_refused_stream(ws, condition, host="localhost"):
    code, reason, texts = ws.read_close()
    assert len(texts) == 3, texts
    opened = parse(texts[0])
    assert opened.tag == f"{{{NS_FRAMING}}}open"
    assert opened.get("from") == host and opened.get("version") == "1.0" and opened.get("id")
    err = parse(texts[1])
    assert err.tag == "{http://etherx.jabber.org/streams}error"
    assert err[0].tag == f"{{{NS_STREAMS}}}{condition}", texts[1]
    assert parse(texts[2]).tag == f"{{{NS_FRAMING}}}close"
    assert code == 1000
    assert ws.closed()


def check_opened(ws):
    """Our <open/> and the stream features, each in its own message; the stream stays open."""
    texts = []
    while len(texts) < 2:
        op, fin, p = ws.read_frame()
        assert op == TEXT and fin, (op, p)
        texts.append(p.decode())
    opened = parse(texts[0])
    assert opened.tag == f"{{{NS_FRAMING}}}open"
    assert opened.get("from") == "localhost" and opened.get("version") == "1.0" and opened.get("id")
    assert parse(texts[1]).tag == "{http://etherx.jabber.org/streams}features"
    assert not ws.closed(timeout=0.3)


@pytest.mark.parametrize("text", [OPEN, f"<?xml version='1.0'?> {OPEN}"], ids=["open", "with prolog"])
def test_open_answered(srv, text):
    ws = WS(srv.http_port)
    try:
        ws.send(frame(TEXT, text))
        check_opened(ws)
    finally:
        ws.close()


OPENS = [
    ("unknown host", f"<open xmlns='{NS_FRAMING}' to='nowhere.example' version='1.0'/>", "host-unknown"),
    ("no to", f"<open xmlns='{NS_FRAMING}' version='1.0'/>", "host-unknown"),
    ("old version", f"<open xmlns='{NS_FRAMING}' to='localhost' version='0.9'/>", "unsupported-version"),
    ("TCP stream header", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>",
     "not-well-formed"),
    ("open in the wrong namespace", "<open xmlns='jabber:client' to='localhost' version='1.0'/>",
     "invalid-namespace"),
    ("a stanza first", "<message xmlns='jabber:client' to='a@localhost'><body>x</body></message>",
     "not-authorized"),
    ("two elements", OPEN + OPEN, "not-well-formed"),
    ("DOCTYPE", f"<!DOCTYPE open>{OPEN}", "restricted-xml"),
]


@pytest.mark.parametrize("name,text,condition", OPENS, ids=[o[0] for o in OPENS])
def test_open_refused_honestly(srv, name, text, condition):
    ws = WS(srv.http_port)
    try:
        ws.send(frame(TEXT, text))
        host = "localhost"
        check_refused_stream(ws, condition, host)
    finally:
        ws.close()


def test_open_over_tls(srv):
    ws = WS(srv.https_port, tls=True)
    try:
        ws.send(frame(TEXT, OPEN))
        check_opened(ws)
    finally:
        ws.close()


def test_client_close_element(srv):
    ws = WS(srv.http_port)
    try:
        ws.send(frame(TEXT, f"<close xmlns='{NS_FRAMING}'/>"))
        code, _, texts = ws.read_close()
        assert [parse(t).tag for t in texts] == [f"{{{NS_FRAMING}}}close"]
        assert code == 1000
    finally:
        ws.close()


# ---- control frames and fragmentation ----

def test_ping_pong_and_fragmented_open(srv):
    ws = WS(srv.http_port)
    try:
        ws.send(frame(PING, b"hello"))
        assert ws.read_frame() == (PONG, True, b"hello")
        ws.send(frame(PONG, b"unsolicited"))  # ignored
        third = len(OPEN) // 3
        ws.send(frame(TEXT, OPEN[:third], fin=False))
        ws.send(frame(PING, b"between"))  # control frames may come between fragments
        ws.send(frame(CONT, OPEN[third:2 * third], fin=False))
        assert ws.read_frame() == (PONG, True, b"between")
        ws.send(frame(CONT, OPEN[2 * third:]))
        check_opened(ws)
    finally:
        ws.close()


def test_client_close_is_echoed(srv):
    for payload, want in [(struct.pack("!H", 1000) + b"bye", 1000), (struct.pack("!H", 4001), 4001), (b"", None)]:
        ws = WS(srv.http_port)
        try:
            ws.send(frame(CLOSE, payload))
            code, _, texts = ws.read_close()
            assert code == want and texts == []
            assert ws.closed()
        finally:
            ws.close()


# ---- framing errors: each closes with its code ----

BIG = 262144 + 4096 + 1  # past the stanza limit and the slack that still gets a stream error
ERRORS = [
    ("unmasked frame", frame(TEXT, OPEN, mask=False), 1002),
    ("RSV1 without an extension", frame(TEXT, OPEN, rsv=4), 1002),
    ("reserved opcode", frame(3, b"x"), 1002),
    ("continuation of nothing", frame(CONT, b"x"), 1002),
    ("text inside a fragmented text", frame(TEXT, b"<a", fin=False) + frame(TEXT, b"/>"), 1002),
    ("fragmented ping", frame(PING, b"x", fin=False), 1002),
    ("ping over 125 bytes", frame(PING, b"p" * 126), 1002),
    ("close with one byte", frame(CLOSE, b"\x03"), 1002),
    ("close code 1005 on the wire", frame(CLOSE, struct.pack("!H", 1005)), 1002),
    ("close reason not UTF-8", frame(CLOSE, struct.pack("!H", 1000) + b"\xff"), 1007),
    ("text not UTF-8", frame(TEXT, b"<open \xc0\xaf/>"), 1007),
    ("UTF-8 broken across fragments", frame(TEXT, b"<a>\xe2\x82", fin=False) + frame(CONT, b"x</a>"), 1007),
    ("frame over the stanza limit", frame(TEXT, b"", length=BIG), 1009),
    ("fragments over the stanza limit", frame(TEXT, b"a" * 200000, fin=False) + frame(CONT, b"a" * 70000), 1009),
    ("binary frame", frame(BINARY, OPEN), 1003),
]


@pytest.mark.parametrize("name,data,code", ERRORS, ids=[e[0] for e in ERRORS])
def test_framing_errors(srv, name, data, code):
    ws = WS(srv.http_port)
    try:
        ws.send(data)
        got, reason, texts = ws.read_close()
        assert got == code, (got, reason)
        assert texts == []
        assert ws.closed()
    finally:
        ws.close()


def test_worker_survived(srv):
    w = srv.worker("http")
    assert w["state"] == "running" and w["restarts"] == 0
    assert 'msg="websocket close"' in srv.log_text()


def test_server_stop_closes_with_going_away(server_factory):
    s = server_factory(http=True)
    s.start()
    ws = WS(s.http_port)
    try:
        ws.send(frame(PING, b"up"))
        assert ws.read_frame() == (PONG, True, b"up")
        s.stop()
        code, reason, texts = ws.read_close()
        assert code == 1001 and texts == [], (code, reason)
        assert ws.closed()
    finally:
        ws.close()
