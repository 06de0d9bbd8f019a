"""c2s stream negotiation (RFC 6120 §4-5), direct TLS (XEP-0368) and every stream error: each bad
stream gets its error and is closed, and a session alongside it keeps working."""
import re
import ssl
import time

import pytest

from c2s_raw import Raw, bystander_fixture, header
from harness import DOMAIN, Server, free_port, server_fixture

OPEN = "open.localhost"  # a vhost without a certificate: TLS not required, ANONYMOUS on


srv = server_fixture(lambda s: f"""
listen c2s-tls "127.0.0.1:{s.tls_port}"
limits {{ stanza-size 8K  stanza-depth 10  stanza-attrs 8 }}
vhost "{OPEN}" {{ require-tls off  anonymous on }}
""", ("alice", "bob"), scope="module", ports=("tls_port",))


bystander = bystander_fixture("bob")


def test_header_and_features(srv):
    ids = set()
    for _ in range(3):
        r = Raw(srv.c2s_port)
        m = r.open()
        hdr = m.group(0)
        sid = re.search(r" id='([0-9a-f]+)'", hdr).group(1)
        assert len(sid) == 32
        ids.add(sid)
        assert "from='localhost'" in hdr and "version='1.0'" in hdr
        # STARTTLS required: offered with <required/>, and no SASL before it
        assert "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>" in hdr
        assert "<mechanisms" not in hdr
        r.close()
    assert len(ids) == 3
    r = Raw(srv.c2s_port)
    r.open()
    feats = r.starttls().group(0)
    mechs = re.findall(r"<mechanism>([^<]+)</mechanism>", feats)
    assert mechs == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
    assert "starttls" not in feats
    r.close()


def test_vhost_without_tls(srv):
    r = Raw(srv.c2s_port)
    feats = r.open(to=OPEN).group(0)
    mechs = re.findall(r"<mechanism>([^<]+)</mechanism>", feats)
    assert mechs == ["SCRAM-SHA-256", "SCRAM-SHA-1", "ANONYMOUS"]  # no PLAIN in the clear
    r.close()


@pytest.mark.parametrize("hdr,cond", [
    (header(to="nowhere.example"), "host-unknown"),
    (header(to=None), "host-unknown"),
    (header(ns="jabber:server"), "invalid-namespace"),
    (header(stream_ns="urn:wrong"), "invalid-namespace"),
    (header(version=None), "unsupported-version"),
    (header(version="2.0"), "unsupported-version"),
    ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' <<<", "not-well-formed"),
    ("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x/>", "restricted-xml"),
])
def test_header_errors(srv, bystander, hdr, cond):
    r = Raw(srv.c2s_port)
    r.send(hdr)
    r.stream_error(cond)


@pytest.mark.parametrize("payload,cond", [
    ("<message><body>a</b></message>", "not-well-formed"),
    ("<!-- a comment -->", "restricted-xml"),
    ("<?pi data?>", "restricted-xml"),
    ("<message><body>&unknown;</body></message>", "not-well-formed"),
    ("<message to='alice@localhost'><body>hi</body></message>", "not-authorized"),
    ("<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>", "not-authorized"),
    ("<foo xmlns='jabber:client'/>", "unsupported-stanza-type"),
    ("<message><body>" + "x" * 9000 + "</body></message>", "policy-violation"),
    ("<message>" + "<a>" * 12 + "</a>" * 12 + "</message>", "policy-violation"),
    ("<message " + " ".join(f"a{i}='1'" for i in range(9)) + "/>", "policy-violation"),
])
def test_stream_errors_before_auth(srv, bystander, payload, cond):
    r = Raw(srv.c2s_port)
    r.open()
    r.send(payload)
    r.stream_error(cond)


def test_stream_errors_after_auth(srv, bystander):
    r = Raw(srv.c2s_port)
    r.login("alice", "alice-pw", "err")
    r.send("<message to='bob@localhost'><body>" + "y" * 9000 + "</body></message>")
    r.stream_error("policy-violation")
    r = Raw(srv.c2s_port)
    r.login("alice", "alice-pw", "err2")
    r.send("<!-- no comments -->")
    r.stream_error("restricted-xml")


def test_closing_handshake_and_keepalive(srv):
    r = Raw(srv.c2s_port)
    r.login("alice", "alice-pw", "close")
    for _ in range(3):
        r.send(" \n ")  # whitespace keepalives are fine between stanzas
    r.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    r.expect(r"<iq[^>]*id='p1'")
    r.send("</stream:stream>")
    r.expect(r"</stream:stream>")
    assert r.closed()


def test_starttls_twice_and_after_auth(srv):
    r = Raw(srv.c2s_port)
    r.open()
    r.starttls()
    r.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    r.expect(r"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    assert r.closed()


def test_plaintext_after_starttls_dropped(srv):
    """Bytes sent in the clear right after <starttls/> must not be processed (no injection)."""
    r = Raw(srv.c2s_port)
    r.open()
    r.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
           "mechanism='SCRAM-SHA-1'>bixuPXgscj1hYmM=</auth>")
    r.expect(r"<proceed")
    assert "challenge" not in r.buf
    from c2s_raw import tls_context
    r.sock = tls_context().wrap_socket(r.sock, server_hostname=DOMAIN)
    feats = r.open().group(0)
    assert "<mechanisms" in feats and "challenge" not in r.buf
    assert r.auth_scram("alice", "alice-pw")[0] == "success"
    r.close()


def test_direct_tls_alpn_sni(srv, bystander):
    r = Raw(srv.tls_port, direct_tls=True, alpn=["xmpp-client"])
    assert r.sock.selected_alpn_protocol() == "xmpp-client"
    assert r.sock.version() in ("TLSv1.2", "TLSv1.3")
    feats = r.open().group(0)
    assert "starttls" not in feats and "SCRAM-SHA-1-PLUS" in feats
    res = r.auth_scram("alice", "alice-pw")
    assert res[0] == "success"
    r.open()
    assert r.bind("direct").startswith("alice@localhost/direct")
    r.close()
    # no ALPN at all is accepted; an ALPN list without xmpp-client is refused
    Raw(srv.tls_port, direct_tls=True).close()
    with pytest.raises(ssl.SSLError):
        Raw(srv.tls_port, direct_tls=True, alpn=["h2"])
    # an unknown SNI name still gets a certificate (the first vhost's) and the stream decides
    r = Raw(srv.tls_port, direct_tls=True, sni="other.example")
    r.send(header(to="other.example"))
    r.stream_error("host-unknown")


def test_tls_versions(srv):
    import socket
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=5)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        ctx.wrap_socket(s, server_hostname=DOMAIN)
    s.close()


def test_garbage_during_handshake(srv, bystander):
    import socket
    for junk in (b"GET / HTTP/1.0\r\n\r\n", b"\x16\x03\x01\x00\x05hello", b"\x00" * 64):
        s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=5)
        s.sendall(junk)
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
    # STARTTLS then garbage instead of a ClientHello
    r = Raw(srv.c2s_port)
    r.open()
    r.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    r.expect("<proceed")
    r.send(b"this is not TLS at all\r\n" * 4)
    assert r.closed()


def test_connection_timeout():
    s = Server(extra="limits { unauth-timeout 1s }")
    try:
        s.start()
        r = Raw(s.c2s_port)
        r.open()
        t0 = time.monotonic()
        r.stream_error("connection-timeout", timeout=5)
        assert 0.5 < time.monotonic() - t0 < 4
    finally:
        s.cleanup()


def test_system_shutdown():
    s = Server()
    try:
        s.start()
        s.add_user("alice", "alice-pw")
        r = Raw(s.c2s_port)
        r.login("alice", "alice-pw")
        s.stop()
        r.stream_error("system-shutdown")
    finally:
        s.cleanup()


def _cert_cn(sock):
    import tempfile
    der = sock.getpeercert(binary_form=True)
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
        f.write(ssl.DER_cert_to_PEM_cert(der))
    info = ssl._ssl._test_decode_cert(f.name)
    return dict(x[0] for x in info["subject"])["commonName"]


def test_sni_picks_the_vhost_certificate():
    from harness import make_cert
    tls_port = free_port()
    s = Server(extra=f"""
listen c2s-tls "127.0.0.1:{tls_port}"
vhost "other.localhost" {{
    cert "../var/certs/other.localhost.pem"
    key  "../var/certs/other.localhost.key"
}}
""")
    make_cert(s.certs, "other.localhost")
    try:
        s.start()
        for name in ("localhost", "other.localhost"):
            r = Raw(tls_port, direct_tls=True, sni=name)
            assert _cert_cn(r.sock) == name
            feats = r.open(to=name).group(0)
            assert f"from='{name}'" in feats
            r.close()
            r = Raw(s.c2s_port)
            r.open(to=name)
            r.starttls(sni=name)
            assert _cert_cn(r.sock) == name
            r.close()
    finally:
        s.cleanup()
