"""TLS 1.3 streams after the handshake run on our record layer (workers/runtime/tls13conn.c):
real clients log in and talk over STARTTLS and direct TLS, big stanzas span many records,
KeyUpdate both ways, close_notify, a corrupted or unprotected record closes only its stream,
and TLS 1.2 clients stay with OpenSSL."""
import asyncio
import re
import socket
import ssl
import subprocess
import time

import pytest

from c2s_raw import OpenSSLRaw, Raw, bystander_fixture, header, tls_context
from harness import DOMAIN, Client, Server, run, server_fixture, wait_for

TAKEOVER = "tls 1.3 stream on our record layer"


srv = server_fixture(lambda s: f'listen c2s-tls "127.0.0.1:{s.tls_port}"\n', ("alice", "bob", "carol"),
                     scope="module", ports=("tls_port",))


bystander = bystander_fixture("carol")  # a TLS 1.3 session


def takeovers(srv):
    return srv.log_text().count(TAKEOVER)


class DirectClient(Client):
    async def login(self, port, timeout=15):
        self.connect(address=("127.0.0.1", port), use_ssl=True, force_starttls=False)
        await asyncio.wait_for(self.started.wait(), timeout)
        return True


def chat(to, body):
    return f"<message to='{to}' type='chat'><body>{body}</body></message>"


@pytest.mark.parametrize("direct", [False, True], ids=["starttls", "direct-tls"])
def test_slixmpp_login_and_messages_both_ways(srv, direct):
    before = takeovers(srv)
    cls = DirectClient if direct else Client
    port = srv.tls_port if direct else srv.c2s_port

    async def go():
        a = cls("alice@localhost/t13", "alice-pw")
        b = cls("bob@localhost/t13", "bob-pw")
        assert await a.login(port) and await b.login(port)
        for i in range(20):
            a.send_message(mto="bob@localhost/t13", mbody=f"a{i}", mtype="chat")
            b.send_message(mto="alice@localhost/t13", mbody=f"b{i}", mtype="chat")
        got_b = [str((await b.next_message())["body"]) for _ in range(20)]
        got_a = [str((await a.next_message())["body"]) for _ in range(20)]
        assert got_b == [f"a{i}" for i in range(20)]
        assert got_a == [f"b{i}" for i in range(20)]
        # a stanza of 200 KB spans 13 records each way
        big = "".join(chr(ord("a") + i % 26) for i in range(200_000))
        a.send_message(mto="bob@localhost/t13", mbody=big, mtype="chat")
        assert str((await b.next_message(20))["body"]) == big
        b.send_message(mto="alice@localhost/t13", mbody=big[::-1], mtype="chat")
        assert str((await a.next_message(20))["body"]) == big[::-1]
        await a.close()
        await b.close()
    run(go())
    wait_for(lambda: takeovers(srv) >= before + 2, what="both streams on the record layer")


class SClient(OpenSSLRaw):
    """A direct-TLS stream through `openssl s_client` in its interactive mode, whose `k`/`K`
    commands send a KeyUpdate (K requests one back); -msg prints the handshake messages."""

    OPTIONS = ["-msg"]
    READY = r"Verify return code"
    STDERR = subprocess.STDOUT
    ERRORS = "replace"

    def connected(self, m):
        pass

    def send(self, data):
        # one line per write: s_client reads its commands a line at a time
        self.proc.stdin.write((data if isinstance(data, bytes) else data.encode()) + b"\n")
        self.proc.stdin.flush()
        time.sleep(0.05)

    def login(self, user, password, resource="raw", mech="SCRAM-SHA-1", tls=True):
        self.open()
        assert self.auth_scram(user, password, mech)[0] == "success"
        self.open()
        return self.bind(resource)


def test_key_update_from_openssl_client(srv, bystander):
    r = SClient(srv.tls_port)
    try:
        r.login("alice", "alice-pw", "ku")
        bob = Raw(srv.c2s_port)
        bob.login("bob", "bob-pw", "ku")
        for i in range(3):
            # K: update_requested, so the server must answer with a KeyUpdate of its own
            n = r.buf.count("<<< TLS 1.3, Handshake [length 0005], KeyUpdate")
            r.send("K")
            wait_for(lambda: r._fill(time.monotonic() + 0.1) and
                     r.buf.count("<<< TLS 1.3, Handshake [length 0005], KeyUpdate") > n,
                     what="the server's KeyUpdate")
            r.send("k")  # update_not_requested: nothing comes back, the read key changes
            r.send(chat("bob@localhost/ku", f"after-update-{i}"))
            bob.expect(f"after-update-{i}")
            bob.send(chat("alice@localhost/ku", f"back-{i}"))
            r.expect(f"back-{i}")
        r.send("<iq type='get' id='kp'><ping xmlns='urn:xmpp:ping'/></iq>")
        r.expect(r"<iq[^>]*id='kp'")
        bob.close()
    finally:
        r.close()


def test_close_notify_both_ways(srv, bystander):
    before = takeovers(srv)
    r = Raw(srv.c2s_port)
    r.login("alice", "alice-pw", "cn")
    wait_for(lambda: takeovers(srv) > before, what="the record layer")
    # unwrap sends our close_notify and returns once the server's close_notify arrived
    plain = r.sock.unwrap()
    assert plain.recv(100) == b""
    plain.close()


class MemTLS:
    """TLS through memory BIOs over a socket, so a test can change protected bytes on the wire."""

    def __init__(self, port, ctx=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.inb, self.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = (ctx or tls_context(["xmpp-client"])).wrap_bio(self.inb, self.outb,
                                                                  server_hostname=DOMAIN)
        for _ in range(100):
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                self.inb.write(self.sock.recv(65536))
        self.flush()
        self.text = ""

    def flush(self, mangle=None):
        data = self.outb.read()
        if data:
            self.sock.sendall(mangle(data) if mangle else data)

    def send(self, text, mangle=None):
        self.obj.write(text.encode())
        self.flush(mangle)

    def expect(self, pattern, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text, re.S)
            if m:
                return m
            self.pump(deadline)
        raise AssertionError(f"no {pattern!r} in {self.text[-500:]!r}")

    def pump(self, deadline):
        """Reads what the server sent into text; raises ssl.SSLError for an alert, EOFError at end."""
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            return
        if not d:
            self.inb.write_eof()
        else:
            self.inb.write(d)
        while True:
            try:
                chunk = self.obj.read(65536)
            except ssl.SSLWantReadError:
                if not d:
                    raise EOFError
                return
            if not chunk:
                raise EOFError
            self.text += chunk.decode()

    def alert(self, timeout=5.0):
        """The alert that ends the stream, as OpenSSL names it."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.pump(deadline)
        except ssl.SSLError as e:
            return str(e)
        except EOFError:
            return "eof"
        raise AssertionError("the server did not close the stream")


def flip_byte(data):
    b = bytearray(data)
    b[len(b) // 2] ^= 0x40  # inside the ciphertext of the last record
    return bytes(b)


def test_corrupted_record_closes_only_that_stream(srv, bystander):
    before = takeovers(srv)
    t = MemTLS(srv.tls_port)
    t.send(header())
    t.expect(r"</stream:features>")
    wait_for(lambda: takeovers(srv) > before, what="the record layer")
    t.send("<presence/>" * 10, mangle=flip_byte)
    assert "BAD_RECORD_MAC" in t.alert().upper()
    t.sock.close()


@pytest.mark.parametrize("raw,alert", [
    (b"\x16\x03\x03\x00\x04\x18\x00\x00\x01", "UNEXPECTED_MESSAGE"),  # a KeyUpdate in the clear
    (b"\x15\x03\x03\x00\x02\x01\x00", "UNEXPECTED_MESSAGE"),          # an alert in the clear
    (b"\x17\x03\x03\x41\x01" + bytes(32), "RECORD_OVERFLOW"),          # 2^14 + 257 bytes
    (b"\x17\x03\x03\x00\x05hello", "BAD_RECORD_MAC"),                  # shorter than a tag
])
def test_unprotected_or_malformed_record_is_refused(srv, bystander, raw, alert):
    t = MemTLS(srv.tls_port)
    t.send(header())
    t.expect(r"</stream:features>")
    t.sock.sendall(raw)
    assert alert in t.alert().upper().replace(" ", "_")
    t.sock.close()


def test_tls12_scram_plus_server_end_point(srv):
    """On a stream OpenSSL keeps (TLS 1.2) the binding is computed from the live SSL: the
    certificate hash works, tls-exporter (TLS 1.3 only, RFC 9266) does not."""
    from c2s_raw import endpoint_binding
    ctx = tls_context(["xmpp-client"])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    for cbtype, ok in (("tls-server-end-point", True), ("tls-exporter", False)):
        r = Raw(srv.tls_port)
        r.sock = ctx.wrap_socket(r.sock, server_hostname=DOMAIN)
        assert r.sock.version() == "TLSv1.2"
        r.open()
        cb = endpoint_binding(r.sock) if ok else bytes(32)
        res = r.auth_scram("alice", "alice-pw", "SCRAM-SHA-256-PLUS", cbtype, cb)
        assert (res[0] == "success") == ok, (cbtype, res)
        r.close()


def test_tls12_client_stays_with_openssl(srv, bystander):
    ctx = tls_context(["xmpp-client"])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    before = takeovers(srv)
    r = Raw(srv.tls_port)
    r.sock = ctx.wrap_socket(r.sock, server_hostname=DOMAIN)
    assert r.sock.version() == "TLSv1.2"
    r.login("alice", "alice-pw", "tls12")
    bob = Raw(srv.c2s_port)
    bob.login("bob", "bob-pw", "tls12")
    big = "x" * 100_000
    r.send(chat("bob@localhost/tls12", big))
    bob.expect(big, timeout=10)
    bob.send(chat("alice@localhost/tls12", "from-bob"))
    r.expect("from-bob")
    # only bob's TLS 1.3 stream went to the record layer
    wait_for(lambda: takeovers(srv) == before + 1, what="one takeover")
    time.sleep(0.2)
    assert takeovers(srv) == before + 1
    r.close()
    bob.close()


SUITES = {"TLS_AES_128_GCM_SHA256": "0x1301", "TLS_AES_256_GCM_SHA384": "0x1302",
          "TLS_CHACHA20_POLY1305_SHA256": "0x1303"}


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_every_tls13_suite(srv, suite):
    def count():
        return srv.log_text().count(f"suite={SUITES[suite]}")
    before = count()
    p = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{srv.tls_port}", "-servername", DOMAIN,
         "-alpn", "xmpp-client", "-tls1_3", "-ciphersuites", suite, "-quiet"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        # a stanza before authentication: the server answers with a stream error and closes
        out, _ = p.communicate((header() + "\n<message/>\n").encode(), timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    assert b"</stream:features>" in out and b"<not-authorized" in out
    wait_for(lambda: count() > before, what=f"{suite} on the record layer")


def test_sni_vhost_stream_and_its_end_point_binding():
    """SNI switches the SSL to another host's context mid-handshake; the stream is still taken
    over, and tls-server-end-point is the hash of that host's certificate."""
    from c2s_raw import endpoint_binding
    from harness import make_cert
    s = Server(extra="""
vhost "other.localhost" {
    cert "../var/certs/other.localhost.pem"
    key  "../var/certs/other.localhost.key"
}
""")
    make_cert(s.certs, "other.localhost")
    try:
        s.start()
        s.ctl("user", "add", "dora@other.localhost", input="dora-pw\n")
        r = Raw(s.c2s_port)
        r.open(to="other.localhost")
        r.starttls(sni="other.localhost")
        assert r.sock.version() == "TLSv1.3"
        res = r.auth_scram("dora", "dora-pw", "SCRAM-SHA-256-PLUS", "tls-server-end-point",
                           endpoint_binding(r.sock))
        assert res[0] == "success", res
        wait_for(lambda: TAKEOVER in s.log_text(), what="the record layer")
        assert "stays with openssl" not in s.log_text()
        r.close()
    finally:
        s.cleanup()
