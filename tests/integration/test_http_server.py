"""The http worker's HTTP/1.1 layer against the real daemon, over raw sockets: every error status
with its headers and body, keep-alive and pipelining, timeouts, static files from the web root,
XEP-0156 host-meta, BOSH session creation and refusals with CORS, X-Forwarded-For from trusted proxies, and
TLS with SNI on the https listener."""
import json
import os
import re
import shutil
import ssl
import tempfile
import time
import xml.etree.ElementTree as ET

import pytest

import harness
from http_raw import Conn, get, request

NS_BOSH = "http://jabber.org/protocol/httpbind"
NS_XRD = "http://docs.oasis-open.org/ns/xri/xrd-1.0"
INDEX = b"<!DOCTYPE html><html><body>xmppd test page</body></html>\n"


@pytest.fixture(scope="module")
def web_root():
    d = tempfile.mkdtemp(prefix="xmppd-web-")
    os.makedirs(os.path.join(d, "sub"))
    files = {"index.html": INDEX, "app.js": b"console.log('x');\n", "sub/style.css": b"body{}\n",
             "sub/index.html": b"<p>sub</p>\n", "logo.png": b"\x89PNG\r\n\x1a\n0000", ".hidden": b"secret\n",
             "big.bin": bytes(range(256)) * 400}
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    with open(os.path.join(d, "..", os.path.basename(d) + "-outside.txt"), "wb") as f:
        f.write(b"outside\n")
    os.symlink(os.path.join(d, "..", os.path.basename(d) + "-outside.txt"), os.path.join(d, "link.txt"))
    yield d
    os.unlink(os.path.join(d, "..", os.path.basename(d) + "-outside.txt"))
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def srv(web_root):
    s = harness.Server(http=True, https=True)
    harness.make_cert(s.certs, "example.test")
    s.extra = (f'server {{ webroot "{web_root}"  trusted-proxies 127.0.0.1 10.0.0.0/8 }}\n'
               'vhost "example.test" { cert "../var/certs/example.test.pem"  key "../var/certs/example.test.key" }\n')
    s.write_config()
    s.start()
    yield s
    s.cleanup()


def assert_error(r, status):
    assert r.status == status, r
    assert r.header("content-type") == "text/plain; charset=utf-8"
    assert r.body.decode().startswith(f"{status} "), r.body
    assert int(r.header("content-length")) == len(r.body)
    assert r.header("date") and r.header("server") == "xmppd"


# ---- errors: each request is answered with its status, then the connection is closed ----

LONG = "a" * 5000
ERRORS = [
    ("bare LF", b"GET / HTTP/1.1\nHost: localhost\n\n", 400, None),
    ("no Host", b"GET / HTTP/1.1\r\n\r\n", 400, None),
    ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, None),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: localhost\r\nX: a\r\n b\r\n\r\n", 400, None),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : localhost\r\n\r\n", 400, None),
    ("bad Content-Length", b"POST /http-bind HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1x\r\n\r\n", 400, None),
    ("static is GET/HEAD only", b"POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
     405, "GET, HEAD, OPTIONS"),
    ("BOSH is POST only", b"GET /http-bind HTTP/1.1\r\nHost: localhost\r\n\r\n", 405, "POST, OPTIONS"),
    ("WebSocket is GET only", b"PUT /xmpp-websocket HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
     405, "GET, OPTIONS"),
    ("DELETE host-meta", b"DELETE /.well-known/host-meta HTTP/1.1\r\nHost: localhost\r\n\r\n", 405,
     "GET, HEAD, OPTIONS"),
    ("body over the stanza limit", b"POST /http-bind HTTP/1.1\r\nHost: localhost\r\nContent-Length: 262145\r\n\r\n",
     413, None),
    ("request line too long", f"GET /{LONG} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(), 414, None),
    ("header too large", f"GET / HTTP/1.1\r\nHost: localhost\r\nX: {LONG * 4}\r\n\r\n".encode(), 431, None),
    ("too many headers", b"GET / HTTP/1.1\r\nHost: localhost\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(64))
     + b"\r\n", 431, None),
    ("unknown method", b"BREW / HTTP/1.1\r\nHost: localhost\r\n\r\n", 501, None),
    ("chunked body", b"POST /http-bind HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     501, None),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", 505, None),
]


@pytest.mark.parametrize("name,raw,status,allow", ERRORS, ids=[e[0] for e in ERRORS])
def test_error_statuses(srv, name, raw, status, allow):
    c = Conn(srv.http_port)
    try:
        c.send(raw)
        r = c.read_response()
        assert_error(r, status)
        if allow:
            assert r.header("allow") == allow
        if status == 405:  # a well-formed request: the connection stays usable
            c.send(b"GET /app.js HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            assert c.read_response().status == 200
        else:
            assert r.header("connection") == "close"
        assert c.closed(), "connection left open after the answer"
    finally:
        c.close()


def test_not_found(srv):
    for path in ["/nope", "/.hidden", "/link.txt", "/../etc/passwd", "/%2e%2e/etc/passwd", "/sub/../.hidden",
                 "/index.html%00.js", "/xmpp-websocketx"]:
        r = get(srv.http_port, path)
        assert_error(r, 404)


# ---- keep-alive, pipelining, timeouts ----

def test_keepalive_and_pipelining(srv):
    c = Conn(srv.http_port)
    try:
        # three requests in one write: answered in order on the one connection
        c.send(b"GET /app.js HTTP/1.1\r\nHost: localhost\r\n\r\n"
               b"HEAD /sub/style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"
               b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r1 = c.read_response()
        r2 = c.read_response(head_only=True)
        r3 = c.read_response()
        assert (r1.status, r1.body) == (200, b"console.log('x');\n")
        assert r2.status == 200 and r2.header("content-length") == "7" and r2.header("content-type").startswith("text/css")
        assert r3.status == 404 and r3.header("connection") is None
        # a request split in pieces across writes
        for piece in [b"GET /sub/ HT", b"TP/1.1\r\nHo", b"st: localhost\r", b"\n\r\n"]:
            c.send(piece)
            time.sleep(0.05)
        r4 = c.read_response()
        assert (r4.status, r4.body) == (200, b"<p>sub</p>\n")
        c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        r5 = c.read_response()
        assert r5.status == 200 and r5.header("connection") == "close"
        assert c.closed()
    finally:
        c.close()


def test_pipelining_under_backpressure(srv):
    """40 pipelined requests for a 100 KiB file while the client does not read: the worker stops
    answering while output piles up and resumes when it drains, in order, with nothing lost."""
    big = bytes(range(256)) * 400
    c = Conn(srv.http_port, timeout=20)
    try:
        c.send(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n" * 40)
        time.sleep(0.5)
        for i in range(40):
            r = c.read_response(timeout=15)
            assert r.status == 200 and r.body == big, i
            assert r.header("content-type") == "application/octet-stream"
        c.send(b"GET /app.js HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert c.read_response().status == 200
    finally:
        c.close()


def test_http10_keepalive(srv):
    c = Conn(srv.http_port)
    try:
        c.send(b"GET /app.js HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.header("connection") == "keep-alive"
        c.send(b"GET /app.js HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.header("connection") == "close"
        assert c.closed()
    finally:
        c.close()


def test_incomplete_request_times_out_with_408(srv):
    c = Conn(srv.http_port, timeout=20)
    try:
        t0 = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n")  # the blank line never comes
        r = c.read_response(timeout=15)
        assert_error(r, 408)
        assert 9 <= time.monotonic() - t0 <= 13
        assert c.closed()
    finally:
        c.close()


# ---- static files ----

def test_static_files(srv):
    r = get(srv.http_port, "/")
    assert r.status == 200 and r.body == INDEX
    assert r.header("content-type") == "text/html; charset=utf-8"
    assert r.header("cache-control") == "no-cache"
    assert r.header("x-content-type-options") == "nosniff"
    csp = r.header("content-security-policy")
    assert "script-src 'self' 'wasm-unsafe-eval';" in csp and "frame-ancestors 'none'" in csp
    etag = r.header("etag")
    assert re.fullmatch(r'"[0-9a-f]{16}"', etag)
    r = get(srv.http_port, "/", extra=f"If-None-Match: {etag}\r\n")
    assert r.status == 304 and r.body == b"" and r.header("etag") == etag
    for path, ctype in [("/app.js", "text/javascript; charset=utf-8"), ("/sub/style.css", "text/css; charset=utf-8"),
                        ("/logo.png", "image/png"), ("/sub/index.html", "text/html; charset=utf-8")]:
        r = get(srv.http_port, path)
        assert r.status == 200 and r.header("content-type") == ctype, (path, r)
        if not path.endswith(".html"):
            assert r.header("cache-control") == "public, max-age=3600"
    r = request(srv.http_port, b"HEAD /logo.png HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                head_only=True)
    assert r.status == 200 and r.header("content-length") == "12"


# ---- host-meta (XEP-0156) ----

def hostmeta_links(port, tls=False, host="localhost"):
    r = get(port, "/.well-known/host-meta", host=host, tls=tls)
    assert r.status == 200, r
    assert r.header("content-type") == "application/xrd+xml; charset=utf-8"
    assert r.header("access-control-allow-origin") == "*"
    root = ET.fromstring(r.body)
    assert root.tag == f"{{{NS_XRD}}}XRD"
    xrd = {l.get("rel"): l.get("href") for l in root.findall(f"{{{NS_XRD}}}Link")}
    r = get(port, "/.well-known/host-meta.json", host=host, tls=tls)
    assert r.status == 200 and r.header("content-type") == "application/json"
    assert r.header("access-control-allow-origin") == "*"
    js = {l["rel"]: l["href"] for l in json.loads(r.body)["links"]}
    assert xrd == js
    return xrd


def test_host_meta(srv):
    links = hostmeta_links(srv.http_port, host=f"localhost:{srv.http_port}")
    assert links == {"urn:xmpp:alt-connections:xbosh": f"http://localhost:{srv.http_port}/http-bind",
                     "urn:xmpp:alt-connections:websocket": f"ws://localhost:{srv.http_port}/xmpp-websocket"}
    links = hostmeta_links(srv.https_port, tls=True, host=f"EXAMPLE.test:{srv.https_port}")
    assert links == {"urn:xmpp:alt-connections:xbosh": f"https://EXAMPLE.test:{srv.https_port}/http-bind",
                     "urn:xmpp:alt-connections:websocket": f"wss://EXAMPLE.test:{srv.https_port}/xmpp-websocket"}
    assert_error(get(srv.http_port, "/.well-known/host-meta", host="other.example"), 404)
    assert_error(get(srv.http_port, "/.well-known/host-meta.json", host="127.0.0.1"), 404)


# ---- BOSH: the HTTP side and the refusals (sessions: test_http_bosh_session.py) ----

def bosh(port, body, host="localhost", ctype="text/xml; charset=utf-8"):
    data = body.encode() if isinstance(body, str) else body
    return request(port, (f"POST /http-bind HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ctype}\r\n"
                          f"Origin: http://web.example\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data)


def bosh_condition(r):
    assert r.header("content-type") == "text/xml; charset=utf-8"
    assert r.header("access-control-allow-origin") == "*"
    el = ET.fromstring(r.body)
    assert el.tag == f"{{{NS_BOSH}}}body" and el.get("type") == "terminate", r.body
    return el.get("condition")


def bosh_created(r):
    """A session creation answer: 200, our content type and CORS, a sid and no terminate."""
    assert r.status == 200, r
    assert r.header("content-type") == "text/xml; charset=utf-8"
    assert r.header("access-control-allow-origin") == "*"
    el = ET.fromstring(r.body)
    assert el.tag == f"{{{NS_BOSH}}}body" and el.get("type") is None, r.body
    assert el.get("sid") and el.get("wait") and el.get("requests"), r.body
    return el


def test_bosh_session_request(srv):
    el = bosh_created(bosh(srv.http_port, f"<body rid='1573741820' to='localhost' xml:lang='en' wait='60' hold='1' "
                                          f"ver='1.6' xmlns='{NS_BOSH}' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>"))
    assert el.get("wait") == "20" and el.get("hold") == "1" and el.get("requests") == "2"  # wait capped


BOSH = [
    ("unknown host", f"<body rid='1' to='nowhere.example' ver='1.6' xmlns='{NS_BOSH}'/>", 200, "host-unknown"),
    ("no to", f"<body rid='1' ver='1.6' xmlns='{NS_BOSH}'/>", 200, "improper-addressing"),
    ("unknown sid", f"<body rid='2' sid='abc' ver='1.6' xmlns='{NS_BOSH}'/>", 200, "item-not-found"),
    ("comment", f"<body rid='1' to='localhost' xmlns='{NS_BOSH}'><!-- x --></body>", 400, "bad-request"),
    ("unknown sid, legacy client", f"<body rid='2' sid='abc' xmlns='{NS_BOSH}'/>", 404, "item-not-found"),
    ("no rid", f"<body to='localhost' ver='1.6' xmlns='{NS_BOSH}'/>", 200, "bad-request"),
    ("rid not a number", f"<body rid='-1' to='localhost' ver='1.6' xmlns='{NS_BOSH}'/>", 200, "bad-request"),
    ("no rid, legacy client", f"<body to='localhost' xmlns='{NS_BOSH}'/>", 400, "bad-request"),
    ("not XML", "hello", 400, "bad-request"),
    ("empty", "", 400, "bad-request"),
    ("unclosed", f"<body rid='1' to='localhost' xmlns='{NS_BOSH}'>", 400, "bad-request"),
    ("wrong root", f"<bodyx rid='1' to='localhost' xmlns='{NS_BOSH}'/>", 400, "bad-request"),
    ("wrong namespace", "<body rid='1' to='localhost' xmlns='jabber:client'/>", 400, "bad-request"),
    ("DOCTYPE", f"<!DOCTYPE body [<!ENTITY a 'b'>]><body rid='1' to='localhost' xmlns='{NS_BOSH}'/>", 400,
     "bad-request"),
]


@pytest.mark.parametrize("name,body,status,cond", BOSH, ids=[b[0] for b in BOSH])
def test_bosh_refused(srv, name, body, status, cond):
    r = bosh(srv.http_port, body)
    assert r.status == status, r
    assert bosh_condition(r) == cond


def test_expect_100_continue(srv):
    body = (f"<body rid='1' to='localhost' ver='1.6' xmlns='{NS_BOSH}' xmlns:xmpp='urn:xmpp:xbosh' "
            f"xmpp:version='1.0'/>").encode()
    c = Conn(srv.http_port)
    try:
        c.send(b"POST /http-bind HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body))
        interim = c.read_response(head_only=True)
        assert interim.status == 100 and interim.headers == {}
        c.send(body)
        r = c.read_response()
        bosh_created(r)
    finally:
        c.close()


def test_bosh_cors_preflight(srv):
    r = request(srv.http_port, b"OPTIONS /http-bind HTTP/1.1\r\nHost: localhost\r\nOrigin: http://web.example\r\n"
                b"Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n"
                b"Connection: close\r\n\r\n")
    assert r.status == 204 and r.body == b""
    assert r.header("access-control-allow-origin") == "*"
    assert r.header("access-control-allow-methods") == "POST, OPTIONS"
    assert r.header("access-control-allow-headers") == "Content-Type"
    assert r.header("access-control-max-age") == "86400"
    assert r.header("allow") == "POST, OPTIONS"
    assert r.header("content-length") is None
    r = request(srv.http_port, b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert r.status == 204 and "POST" in r.header("allow")


def test_bosh_over_https(srv):
    body = (f"<body rid='1' to='localhost' ver='1.6' xmlns='{NS_BOSH}' xmlns:xmpp='urn:xmpp:xbosh' "
            f"xmpp:version='1.0'/>").encode()
    r = request(srv.https_port, b"POST /http-bind HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
                % len(body) + body, tls=True)
    bosh_created(r)


# ---- X-Forwarded-For from trusted proxies only ----

def test_forwarded_for(srv):
    cases = [
        # (source address, X-Forwarded-For, the client address the worker logs)
        ("127.0.0.1", "198.51.100.7", "198.51.100.7"),
        ("127.0.0.1", "203.0.113.9, 10.1.2.3", "203.0.113.9"),       # 10/8 is a trusted hop
        ("127.0.0.1", "192.0.2.1, 203.0.113.10, 10.0.0.1", "203.0.113.10"),  # stops at the first untrusted
        ("127.0.0.1", "[2001:db8::5]", "2001:db8::5"),
        ("127.0.0.2", "198.51.100.99", "127.0.0.2"),                  # an untrusted peer is not believed
    ]
    for i, (src, xff, want) in enumerate(cases):
        path = f"/nope-xff-{i}"
        r = get(srv.http_port, path, extra=f"X-Forwarded-For: {xff}\r\n", source=src)
        assert r.status == 404
        line = harness.wait_for(lambda: re.search(rf'msg="http request" ip=(\S+) method=GET path="{path}"',
                                                  srv.log_text()), what=f"log line for {path}")
        assert line.group(1) == want, (src, xff, line.group(0))


# ---- TLS ----

def test_tls_sni_and_version(srv):
    for sni, cn in [("localhost", "localhost"), ("example.test", "example.test"), ("unknown.example", "localhost")]:
        c = Conn(srv.https_port, tls=True, sni=sni)
        try:
            der = c.sock.getpeercert(binary_form=True)
            pem = ssl.DER_cert_to_PEM_cert(der)
            assert f"CN={cn}" in _subject(pem), (sni, _subject(pem))
            assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
            assert c.sock.selected_alpn_protocol() == "http/1.1"
            c.send(b"GET /app.js HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert c.read_response().status == 200
        finally:
            c.close()


def _subject(pem):
    import subprocess
    return subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "compat"], input=pem, text=True,
                          capture_output=True, check=True).stdout


def test_tls_refuses_old_versions(srv):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    import socket
    s = socket.create_connection(("127.0.0.1", srv.https_port), timeout=5)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        ctx.wrap_socket(s, server_hostname="localhost")
    s.close()


def test_worker_survived(srv):
    w = srv.worker("http")
    assert w["state"] == "running" and w["restarts"] == 0


def test_connections_per_address(server_factory):
    """limits.conn-per-ip applies to the http listeners too; a trusted proxy is exempt."""
    s = server_factory(http=True, extra="limits { conn-per-ip 3 }\nserver { trusted-proxies 127.0.0.2 }\n")
    s.start()
    held = [Conn(s.http_port) for _ in range(3)]
    try:
        for c in held:
            c.send(b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert c.read_response().status == 404
        extra = Conn(s.http_port)
        assert extra.closed(), "a fourth connection from one address was served"
        extra.close()
        proxied = [Conn(s.http_port, source="127.0.0.2") for _ in range(5)]
        for c in proxied:
            c.send(b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert c.read_response().status == 404
            c.close()
        held.pop().close()
        def fourth_served():
            c = Conn(s.http_port)
            try:
                c.send(b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n")
                return c.read_response().status == 404
            except (EOFError, ConnectionResetError):
                return False
            finally:
                c.close()
        harness.wait_for(fourth_served, what="a slot freed by a closed connection")
    finally:
        for c in held:
            c.close()


def _fingerprint(port):
    c = Conn(port, tls=True)
    try:
        return c.sock.getpeercert(binary_form=True)
    finally:
        c.close()


def test_reload_certificates_and_proxies(server_factory, tmp_path):
    """xmppctl reload gives the running http worker new certificates and trusted proxies: new
    connections see them, open ones go on, and a slice that does not load changes nothing."""
    s = server_factory(http=True, https=True)
    s.start()
    first = _fingerprint(s.https_port)
    held = Conn(s.https_port, tls=True)
    try:
        r = get(s.http_port, "/before-reload", extra="X-Forwarded-For: 198.51.100.1\r\n")
        assert r.status == 404
        assert re.search(r'ip=127\.0\.0\.1 method=GET path="/before-reload"', s.log_text())
        harness.make_cert(str(tmp_path), "localhost")
        for ext in ("pem", "key"):
            shutil.copy(tmp_path / f"localhost.{ext}", os.path.join(s.certs, f"localhost.{ext}"))
        s.extra = "server { trusted-proxies 127.0.0.1 }\n"
        s.write_config()
        s.ctl("reload")
        harness.wait_for(lambda: re.search(r'proc=http\.0 .*msg="configuration reloaded"', s.log_text()),
                         what="http worker reloaded")
        second = _fingerprint(s.https_port)
        assert second != first
        held.send(b"GET /still-open HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert held.read_response().status == 404
        r = get(s.http_port, "/after-reload", extra="X-Forwarded-For: 198.51.100.1\r\n")
        assert r.status == 404
        harness.wait_for(lambda: re.search(r'ip=198\.51\.100\.1 method=GET path="/after-reload"', s.log_text()),
                         what="X-Forwarded-For believed after reload")
        # a certificate that does not load: the worker keeps the one it has
        with open(os.path.join(s.certs, "localhost.pem"), "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
        s.ctl("reload")
        harness.wait_for(lambda: "reload refused, the old configuration stays" in s.log_text(),
                         what="bad reload refused")
        assert _fingerprint(s.https_port) == second
        assert s.worker("http")["restarts"] == 0
    finally:
        held.close()
