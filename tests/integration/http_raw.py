"""Raw HTTP/1.1 and WebSocket clients over plain sockets for the http worker's tests: they send
exactly the bytes a test names and parse exactly what comes back, so every error is visible."""
import base64
import hashlib
import os
import re
import socket
import ssl
import struct
import time

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def connect(port, tls=False, sni="localhost", source=None, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        s = ctx.wrap_socket(s, server_hostname=sni)
    return s


def take_match(stream, rx):
    """The first match of rx in stream.text, which then keeps only what follows it; or None."""
    m = rx.search(stream.text)
    if m:
        stream.text = stream.text[m.end():]
    return m


class Response:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status, self.reason, self.headers, self.body, self.raw_head = status, reason, headers, body, raw_head

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<{self.status} {self.reason} {self.headers} {self.body[:200]!r}>"


class Conn:
    """One connection; read_response() parses one response off the stream (Content-Length framed)."""

    def __init__(self, port, **kw):
        self.sock = connect(port, **kw)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        self.sock.settimeout(max(0.05, deadline - time.monotonic()))
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def read_response(self, timeout=5.0, head_only=False):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        version, status, reason = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            assert k.lower() not in headers, f"duplicate header {k}"
            headers[k.lower()] = v.strip()
        n = 0 if head_only or int(status) in (100, 101, 204, 304) else int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill(deadline)
        body, self.buf = self.buf[:n], self.buf[n:]
        return Response(int(status), reason, headers, body, head)

    def closed(self, timeout=3.0):
        """True when the server closes (EOF or reset) within timeout, after any leftover bytes."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self._fill(deadline)
        except (EOFError, ConnectionResetError):
            return True
        except (socket.timeout, TimeoutError):
            return False
        return False

    def close(self):
        self.sock.close()


def request(port, raw, head_only=False, **kw):
    c = Conn(port, **kw)
    try:
        c.send(raw)
        return c.read_response(head_only=head_only)
    finally:
        c.close()


def get(port, path, host="localhost", extra="", **kw):
    return request(port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode(), **kw)


# ---- WebSocket ----

def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_request(key, path="/xmpp-websocket", host="localhost", protocol="xmpp", version="13", extra=""):
    proto = f"Sec-WebSocket-Protocol: {protocol}\r\n" if protocol is not None else ""
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n{proto}{extra}\r\n").encode()


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """A client frame; length overrides the encoded payload length (for lying headers)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class WS(Conn):
    """A WebSocket client connection after a successful xmpp handshake."""

    def __init__(self, port, extra="", **kw):
        super().__init__(port, **kw)
        key = ws_key()
        self.send(ws_request(key, extra=extra))
        self.handshake = self.read_response()
        assert self.handshake.status == 101, self.handshake
        assert self.handshake.header("sec-websocket-accept") == ws_accept(key)

    def read_frame(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while len(self.buf) < 2:
            self._fill(deadline)
        b0, b1 = self.buf[0], self.buf[1]
        assert not (b1 & 0x80), "server frames are never masked"
        n, off = b1 & 0x7F, 2
        if n == 126:
            while len(self.buf) < 4:
                self._fill(deadline)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            while len(self.buf) < 10:
                self._fill(deadline)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        while len(self.buf) < off + n:
            self._fill(deadline)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0F, bool(b0 & 0x80), payload

    def read_close(self, timeout=5.0):
        """Reads frames until a close; returns (code or None, reason, texts seen before it)."""
        texts = []
        while True:
            op, fin, p = self.read_frame(timeout)
            if op == 8:
                code = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else None
                return code, p[2:].decode("utf-8", "replace"), texts
            if op == 1:
                texts.append(p.decode())


# ---- XMPP over WebSocket (RFC 7395) ----

NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"


class WSX(WS):
    """An XMPP stream over a WebSocket: one text message per element out; what comes in is kept
    as a text of all messages so far, searched like c2s_raw.Raw (and its SASL helpers work)."""

    def __init__(self, port, **kw):
        super().__init__(port, **kw)
        self.text = ""
        self.messages = []
        self.close_code = None

    def send(self, data):
        if isinstance(data, str):
            data = frame(1, data)
        super().send(data)

    def pump(self, deadline):
        """Reads one frame into text; False once the server closed."""
        if self.close_code is not None:
            return False
        try:
            op, fin, p = self.read_frame(max(0.05, deadline - time.monotonic()))
        except (socket.timeout, TimeoutError):
            return True
        except (EOFError, ConnectionResetError, OSError):
            self.close_code = -1
            return False
        if op == 1:
            t = p.decode()
            self.messages.append(t)
            self.text += t
        elif op == 8:
            self.close_code = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else 1005
            return False
        elif op == 9:
            super().send(frame(10, p))
        return True

    def expect(self, pattern, timeout=5.0):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.S)
        while True:
            m = take_match(self, rx)
            if m:
                return m
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {pattern!r} within {timeout}s; got {self.text[-600:]!r}")
            if not self.pump(deadline):
                m = take_match(self, rx)
                if m:
                    return m
                raise AssertionError(f"closed ({self.close_code}) before {pattern!r}; got {self.text[-600:]!r}")

    def open(self, to="localhost", version="1.0"):
        self.send(f"<open xmlns='{NS_FRAMING}' to='{to}' version='{version}'/>")
        self.expect(r"<open [^>]*/>")
        return self.expect(r"<stream:features[^>]*>.*?</stream:features>")

    def wait_closed(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.pump(deadline):
                return self.close_code
        return None

    def stream_error(self, cond, timeout=5.0):
        """The stream error, then <close/>, then the WebSocket close 1000 (RFC 7395 §3.6)."""
        self.expect(rf"<stream:error [^>]*><{cond} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
                    timeout)
        self.expect(rf"<close xmlns='{NS_FRAMING}'/>", timeout)
        assert self.wait_closed(timeout) == 1000, self.close_code

    # the SASL and bind helpers of c2s_raw.Raw need only send() and expect()
    def sasl_result(self, timeout=10.0):
        from c2s_raw import Raw
        return Raw.sasl_result(self, timeout)

    def auth_scram(self, user, password, mech="SCRAM-SHA-1", **kw):
        from c2s_raw import Raw
        return Raw.auth_scram(self, user, password, mech, **kw)

    def auth_plain(self, user, password):
        from c2s_raw import Raw
        return Raw.auth_plain(self, user, password)

    def bind(self, resource=None):
        from c2s_raw import Raw
        return Raw.bind(self, resource)

    def login(self, user, password, resource="web", mech="SCRAM-SHA-1"):
        self.open()
        res = self.auth_scram(user, password, mech)
        assert res[0] == "success", res
        self.open()
        return self.bind(resource)


# ---- XMPP over BOSH (XEP-0124, XEP-0206) ----

NS_HTTPBIND = "http://jabber.org/protocol/httpbind"
NS_XBOSH = "urn:xmpp:xbosh"


def bosh_post(conn, body, host="localhost", extra=""):
    """One POST /http-bind on conn; returns the Response (held answers take up to `wait`)."""
    b = body.encode() if isinstance(body, str) else body
    conn.send(b"POST /http-bind HTTP/1.1\r\nHost: %s\r\nContent-Type: text/xml; charset=utf-8\r\n%s"
              b"Content-Length: %d\r\n\r\n" % (host.encode(), extra.encode(), len(b)) + b)
    return conn.read_response(timeout=40)


class BOSH:
    """A BOSH session driven one request at a time (hold=1): each request waits for output or
    for `wait`; what the bodies carried is kept as one text, searched like c2s_raw.Raw, so its
    SASL helpers work. Requests go over a keep-alive connection (a new one when it closed)."""

    def __init__(self, port, tls=True, wait=2, hold=1, to="localhost", rid=None, ack=False, **kw):
        self.port, self.tls, self.kw = port, tls, kw
        self.conn = None
        self.rid = rid if rid is not None else int.from_bytes(os.urandom(4), "big") + 1000
        self.text = ""
        self.bodies = []
        self.terminated = None
        ackattr = " ack='1'" if ack else ""
        r = self.post(f"<body xmlns='{NS_HTTPBIND}' xmlns:xmpp='{NS_XBOSH}' to='{to}' rid='{self.rid}' "
                      f"wait='{wait}' hold='{hold}' ver='1.11' xmpp:version='1.0' xml:lang='en' "
                      f"content='text/xml; charset=utf-8'{ackattr}/>")
        self.created = r
        m = re.search(r"sid='([0-9a-f]+)'", r.body.decode())
        self.sid = m.group(1) if m else None

    def connection(self):
        if self.conn is None:
            self.conn = Conn(self.port, tls=self.tls, **self.kw)
        return self.conn

    def post(self, body):
        for attempt in range(2):
            try:
                r = bosh_post(self.connection(), body)
                break
            except (EOFError, ConnectionResetError, BrokenPipeError):
                self.conn = None
                if attempt:
                    raise
        if r.header("connection") == "close":
            self.conn = None
        text = r.body.decode()
        self.bodies.append(text)
        m = re.match(r"<body[^>]*?(/>|>(.*)</body>)$", text, re.S)
        if m and m.group(2):
            self.text += m.group(2)
        t = re.search(r"type='terminate'[^>]*condition='([a-z-]+)'|condition='([a-z-]+)'[^>]*type='terminate'", text)
        if t:
            self.terminated = t.group(1) or t.group(2)
        return r

    def body(self, payload="", attrs=""):
        self.rid += 1
        return f"<body xmlns='{NS_HTTPBIND}' xmlns:xmpp='{NS_XBOSH}' sid='{self.sid}' rid='{self.rid}'{attrs}>{payload}</body>"

    def send(self, payload, attrs=""):
        return self.post(self.body(payload, attrs))

    def expect(self, pattern, timeout=10.0):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.S)
        while True:
            m = take_match(self, rx)
            if m:
                return m
            if self.terminated or time.monotonic() >= deadline:
                raise AssertionError(f"no {pattern!r} (terminated={self.terminated}); got {self.text[-600:]!r}")
            self.send("")  # a long poll

    def restart(self):
        self.send("", " xmpp:restart='true' to='localhost' xml:lang='en'")
        return self.expect(r"<stream:features[^>]*>.*?</stream:features>")

    def sasl_result(self, timeout=10.0):
        from c2s_raw import Raw
        return Raw.sasl_result(self, timeout)

    def auth_scram(self, user, password, mech="SCRAM-SHA-1", **kw):
        from c2s_raw import Raw
        return Raw.auth_scram(self, user, password, mech, **kw)

    def bind(self, resource=None):
        from c2s_raw import Raw
        return Raw.bind(self, resource)

    def login(self, user, password, resource="bosh", mech="SCRAM-SHA-1"):
        self.expect(r"<stream:features[^>]*>.*?</stream:features>")
        res = self.auth_scram(user, password, mech)
        assert res[0] == "success", res
        self.restart()
        return self.bind(resource)

    def terminate(self, payload=""):
        return self.send(payload, " type='terminate'")

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None
