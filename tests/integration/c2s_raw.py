"""Raw XMPP streams for the c2s tests: a socket (plain, STARTTLS or direct TLS) with a read buffer
and regex waits, and hand-written SASL (SCRAM with channel binding, PLAIN, ANONYMOUS), so each
test can say exactly what goes on the wire and check exactly what comes back."""
import base64
import hashlib
import hmac
import os
import re
import select
import socket
import ssl
import subprocess
import time

import pytest

from harness import DOMAIN

NS_STREAMS = "http://etherx.jabber.org/streams"


def header(to=DOMAIN, ns="jabber:client", version="1.0", stream_ns=NS_STREAMS):
    v = f" version='{version}'" if version else ""
    t = f" to='{to}'" if to else ""
    return (f"<?xml version='1.0'?><stream:stream xmlns='{ns}' xmlns:stream='{stream_ns}'{t}{v}>")


def tls_context(alpn=None):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


class Raw:
    def __init__(self, port, direct_tls=False, alpn=None, sni=DOMAIN, timeout=10, src=None,
                 rcvbuf=None):
        # src: another loopback source address (127.0.0.N), so per-address limits start afresh
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if src:
            self.sock.bind((src, 0))
        self.sock.connect(("127.0.0.1", port))
        self.buf = ""
        self.raw = b""
        if direct_tls:
            self.sock = tls_context(alpn).wrap_socket(self.sock, server_hostname=sni)

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            d = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        except (ConnectionResetError, ssl.SSLError, OSError):
            d = b""
        if not d:
            return False
        self.raw += d
        try:
            self.buf += self.raw.decode()
            self.raw = b""
        except UnicodeDecodeError:
            pass
        return True

    def expect(self, pattern, timeout=5.0):
        """Waits for pattern (a regex) in what the server sent; consumes up to its end."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.S)
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {pattern!r} within {timeout}s; got {self.buf[-600:]!r}")
            if not self._fill(deadline):
                m = rx.search(self.buf)
                if m:
                    self.buf = self.buf[m.end():]
                    return m
                raise AssertionError(f"closed before {pattern!r}; got {self.buf[-600:]!r}")

    def closed(self, timeout=5.0):
        """True once the server closed the connection (everything it sent stays in buf)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._fill(deadline):
                return True
        return False

    def stream_error(self, cond, timeout=5.0):
        self.expect(rf"<stream:error><{cond} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                    r"</stream:error></stream:stream>", timeout)
        assert self.closed(timeout), "stream error without the connection closed"

    def open(self, **kw):
        self.send(header(**kw))
        return self.expect(r"<stream:stream [^>]*>.*?</stream:features>")

    def starttls(self, sni=DOMAIN, alpn=None):
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.expect(r"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.sock = tls_context(alpn).wrap_socket(self.sock, server_hostname=sni)
        return self.open(to=sni)

    def sasl_result(self, timeout=10.0):
        m = self.expect(r"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'(/>|>([^<]*)</success>)"
                        r"|<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><([a-z-]+)/></failure>",
                        timeout)
        if m.group(0).startswith("<success"):
            return ("success", m.group(2) or "")
        return ("failure", m.group(3))

    def auth_plain(self, user, password, authzid=""):
        msg = base64.b64encode(f"{authzid}\0{user}\0{password}".encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{msg}</auth>")
        return self.sasl_result()

    def auth_scram(self, user, password, mech="SCRAM-SHA-1", cbtype=None, cbdata=b"", gs2=None):
        hname = "sha256" if "SHA-256" in mech else "sha1"
        if gs2 is None:
            gs2 = f"p={cbtype},," if cbtype else "n,,"
        cnonce = base64.b64encode(os.urandom(18)).decode()
        cfb = f"n={user},r={cnonce}"
        first = base64.b64encode((gs2 + cfb).encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mech}'>{first}</auth>")
        m = self.expect(r"<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>([^<]*)</challenge>"
                        r"|<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><([a-z-]+)/></failure>", 10)
        if m.group(2):
            return ("failure", m.group(2))
        sfirst = base64.b64decode(m.group(1)).decode()
        attrs = dict(kv.split("=", 1) for kv in sfirst.split(","))
        salted = hashlib.pbkdf2_hmac(hname, password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
        ck = hmac.new(salted, b"Client Key", hname).digest()
        sk = hashlib.new(hname, ck).digest()
        cfwp = "c=" + base64.b64encode(gs2.encode() + cbdata).decode() + ",r=" + attrs["r"]
        am = f"{cfb},{sfirst},{cfwp}".encode()
        sig = hmac.new(sk, am, hname).digest()
        proof = bytes(a ^ b for a, b in zip(ck, sig))
        final = cfwp + ",p=" + base64.b64encode(proof).decode()
        self.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                  + base64.b64encode(final.encode()).decode() + "</response>")
        res = self.sasl_result()
        if res[0] == "success":
            server_key = hmac.new(salted, b"Server Key", hname).digest()
            want = "v=" + base64.b64encode(hmac.new(server_key, am, hname).digest()).decode()
            assert base64.b64decode(res[1]).decode() == want, "server signature does not verify"
        return res

    def bind(self, resource=None):
        r = f"<resource>{resource}</resource>" if resource is not None else ""
        self.send(f"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>{r}</bind></iq>")
        m = self.expect(r"<iq type='(result|error)' id='bind1'.*?</iq>|<iq type='(result|error)' id='bind1'/>")
        j = re.search(r"<jid>([^<]*)</jid>", m.group(0))
        return j.group(1) if j else m.group(0)

    def login(self, user, password, resource="raw", mech="SCRAM-SHA-1", tls=True):
        self.open()
        if tls and not isinstance(self.sock, ssl.SSLSocket):
            self.starttls()
        res = self.auth_plain(user, password) if mech == "PLAIN" else self.auth_scram(user, password, mech)
        assert res[0] == "success", res
        self.open()
        return self.bind(resource)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def component_stream(port, name, secret):
    """An external component's stream (XEP-0114) to port with its handshake sent, the answer not
    yet read; the server's stream header is kept in .stream_header."""
    c = Raw(port)
    c.send(header(to=name, ns="jabber:component:accept", version=None))
    c.stream_header = c.expect(r"<stream:stream [^>]*>").group(0)
    sid = re.search(r" id='([^']+)'", c.stream_header).group(1)
    c.send("<handshake>" + hashlib.sha1((sid + secret).encode()).hexdigest() + "</handshake>")
    return c


def bystander_fixture(who):
    """A pytest fixture, on the module's srv: a logged-in session of who that must survive
    whatever the test does to its own stream; it still answers a ping afterwards."""
    @pytest.fixture
    def bystander(srv):
        r = Raw(srv.c2s_port)
        r.login(who, f"{who}-pw", "bystander")
        yield r
        r.send("<iq type='get' id='alive'><ping xmlns='urn:xmpp:ping'/></iq>")
        r.expect(r"<iq[^>]*id='alive'")
        r.close()
    return bystander


def endpoint_binding(sock):
    """tls-server-end-point (RFC 5929): SHA-256 of the server certificate (ours is signed with it)."""
    return hashlib.sha256(sock.getpeercert(binary_form=True)).digest()


class OpenSSLRaw(Raw):
    """A direct-TLS stream through `openssl s_client`, which can print the TLS 1.3 exporter value
    (RFC 9266 tls-exporter) that Python's ssl module does not offer. A subclass changes OPTIONS,
    READY (what s_client prints once it is connected), where its stderr goes and how its output
    is decoded."""

    OPTIONS = ["-keymatexport", "EXPORTER-Channel-Binding", "-keymatexportlen", "32", "-ign_eof"]
    READY = r"Keying material: ([0-9A-Fa-f]{64})"
    STDERR = subprocess.DEVNULL
    ERRORS = "strict"  # undecodable output waits for the rest of its character

    def __init__(self, port, timeout=10):
        self.buf = ""
        self.raw = b""
        self.proc = subprocess.Popen(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", DOMAIN,
             "-alpn", "xmpp-client", "-tls1_3", *self.OPTIONS],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.STDERR)
        self.connected(self.expect(self.READY, timeout))

    def connected(self, m):
        self.exporter = bytes.fromhex(m.group(1))

    def send(self, data):
        self.proc.stdin.write(data.encode() if isinstance(data, str) else data)
        self.proc.stdin.flush()

    def _fill(self, deadline):
        r, _, _ = select.select([self.proc.stdout], [], [], max(0.01, deadline - time.monotonic()))
        if not r:
            return True
        d = os.read(self.proc.stdout.fileno(), 65536)
        if not d:
            return False
        self.raw += d
        try:
            self.buf += self.raw.decode(errors=self.ERRORS)
            self.raw = b""
        except UnicodeDecodeError:
            pass
        return True

    def close(self):
        self.proc.kill()
        self.proc.wait()
