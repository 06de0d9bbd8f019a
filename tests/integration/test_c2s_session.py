"""c2s sessions: resource binding and the conflict policy, JID normalisation, stanza checks before
routing, and the per-session limits (byte rate, output buffer, pings, unauthenticated streams)."""
import re
import socket
import ssl
import threading
import time

import pytest

from c2s_raw import Raw
from harness import Server, wait_for

REFUSE = "refuse.localhost"


def sasl_diag(srv, res):
    """What a failed login leaves for the next reader: the condition and the server's log."""
    return f"SASL {res!r}; server log (tail):\n{srv.log_text()[-6000:]}"


@pytest.fixture(scope="module")
def srv():
    s = Server(extra=f"""
vhost "{REFUSE}" {{ require-tls off  resource-conflict refuse }}
""")
    s.start()
    for u in ("alice", "bob"):
        s.add_user(u, u + "-pw")
    s.ctl("user", "add", f"rita@{REFUSE}", input="rita-pw\n")
    yield s
    s.cleanup()


def test_bind_resources(srv):
    r = Raw(srv.c2s_port)
    assert r.login("alice", "alice-pw", resource="Phone") == "alice@localhost/Phone"
    r2 = Raw(srv.c2s_port)
    jid = r2.login("alice", "alice-pw", resource=None)  # server-generated
    assert re.fullmatch(r"alice@localhost/xmppd[0-9a-f]{16}", jid), jid
    r3 = Raw(srv.c2s_port)
    # resourceprep: fullwidth letters are mapped by NFKC
    assert r3.login("alice", "alice-pw", resource="\uff21b") == "alice@localhost/Ab"
    # a second bind on the same stream is refused
    r3.send("<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>x</resource></bind></iq>")
    r3.expect(r"<iq type='error' id='b2'><error type='cancel'><not-allowed")
    # a resource that resourceprep refuses
    r4 = Raw(srv.c2s_port)
    r4.open()
    r4.starttls()
    assert r4.auth_scram("alice", "alice-pw")[0] == "success"
    r4.open()
    assert "bad-request" in r4.bind("a\ue000b")  # private use: prohibited
    for x in (r, r2, r3, r4):
        x.close()


def test_conflict_replaces_old_session(srv):
    old = Raw(srv.c2s_port)
    old.login("bob", "bob-pw", "desk")
    new = Raw(srv.c2s_port)
    assert new.login("bob", "bob-pw", "desk") == "bob@localhost/desk"
    old.stream_error("conflict")
    new.send("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
    new.expect(r"<iq[^>]*id='p'")
    new.close()


def test_conflict_refused_by_policy(srv):
    old = Raw(srv.c2s_port)
    old.open(to=REFUSE)
    assert old.auth_scram("rita", "rita-pw")[0] == "success"
    old.open(to=REFUSE)
    assert old.bind("desk") == f"rita@{REFUSE}/desk"
    new = Raw(srv.c2s_port)
    new.open(to=REFUSE)
    assert new.auth_scram("rita", "rita-pw")[0] == "success"
    new.open(to=REFUSE)
    assert "<conflict" in new.bind("desk")
    assert new.bind("desk2") == f"rita@{REFUSE}/desk2"
    old.send("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
    old.expect(r"<iq[^>]*id='p'")


def test_from_stamped_and_to_normalised(srv):
    a = Raw(srv.c2s_port)
    a.login("alice", "alice-pw", "a")
    b = Raw(srv.c2s_port)
    b.login("bob", "bob-pw", "b")
    b.send("<presence/>")
    time.sleep(0.3)
    # a spoofed from is replaced; an upper-case, fullwidth-free to is normalised (nodeprep/nameprep)
    a.send("<message to='BOB@LocalHost/b' from='admin@localhost/x' id='m1'><body>hello</body></message>")
    m = b.expect(r"<message[^>]*id='m1'[^>]*>")
    assert "from='alice@localhost/a'" in m.group(0) and "admin" not in m.group(0)


@pytest.mark.parametrize("stanza,cond", [
    ("<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>", "bad-request"),  # no id
    ("<iq type='get' id='c0'/>", "bad-request"),  # no child
    ("<iq type='set' id='c2'><a xmlns='x'/><b xmlns='y'/></iq>", "bad-request"),  # two children
    ("<iq type='fetch' id='t'><ping xmlns='urn:xmpp:ping'/></iq>", "bad-request"),
    ("<iq id='nt'><ping xmlns='urn:xmpp:ping'/></iq>", "bad-request"),  # no type
    ("<message type='shout' id='mt'><body>x</body></message>", "bad-request"),
    ("<presence type='away' id='pt'/>", "bad-request"),
    ("<message to='a@b@c' id='j1'><body>x</body></message>", "jid-malformed"),
    ("<message to='@localhost' id='j2'><body>x</body></message>", "jid-malformed"),
    ("<message to='bob@localhost/' id='j3'><body>x</body></message>", "jid-malformed"),
    ("<iq type='get' id='j4' to='" + "x" * 1100 + "@localhost'><ping xmlns='urn:xmpp:ping'/></iq>", "jid-malformed"),
])
def test_stanza_checks(srv, stanza, cond):
    a = Raw(srv.c2s_port)
    a.login("alice", "alice-pw", "chk")
    a.send(stanza)
    m = a.expect(rf"<(iq|message|presence) type='error'[^>]*>.*?<{cond} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>")
    id_ = re.search(r"id='([^']*)'", stanza)
    if id_:
        assert f"id='{id_.group(1)}'" in m.group(0)
    # the stream stays up
    a.send("<iq type='get' id='after'><ping xmlns='urn:xmpp:ping'/></iq>")
    a.expect(r"<iq[^>]*id='after'")
    a.close()


def test_rate_limit_pauses_reading():
    s = Server(extra="limits { c2s-rate 4K/s }")
    try:
        s.start()
        s.add_user("alice", "alice-pw")
        s.add_user("bob", "bob-pw")
        a = Raw(s.c2s_port)
        a.login("alice", "alice-pw", "fast")
        b = Raw(s.c2s_port)
        b.login("bob", "bob-pw", "other")
        body = "z" * 2000
        t0 = time.monotonic()
        for i in range(20):  # ~45 KB at 4 KB/s: ~10 s of reading, beyond the 16 KiB burst
            a.send(f"<message to='nobody@localhost' id='r{i}'><body>{body}</body></message>")
        a.send("<iq type='get' id='last'><ping xmlns='urn:xmpp:ping'/></iq>")
        a.expect(r"<iq[^>]*id='last'", timeout=30)
        took = time.monotonic() - t0
        assert took >= 5, took
        # meanwhile another session is not slowed down
        t1 = time.monotonic()
        b.send("<iq type='get' id='b1'><ping xmlns='urn:xmpp:ping'/></iq>")
        b.expect(r"<iq[^>]*id='b1'")
        assert time.monotonic() - t1 < 1
    finally:
        s.cleanup()


def test_output_buffer_limit():
    s = Server(extra="limits { out-buffer 64K  c2s-rate 256M/s }")
    try:
        s.start()
        s.add_user("alice", "alice-pw")
        s.add_user("bob", "bob-pw")
        slow = Raw(s.c2s_port, rcvbuf=4096)
        slow.login("bob", "bob-pw", "slow")
        slow.send("<presence/>")
        fast = Raw(s.c2s_port)
        fast.login("alice", "alice-pw", "fast")
        got = []
        stop = threading.Event()

        def drain():  # the sender reads whatever comes back (errors once the reader is gone)
            fast.sock.settimeout(0.2)
            while not stop.is_set():
                try:
                    d = fast.sock.recv(65536)
                except (socket.timeout, ssl.SSLWantReadError):
                    continue
                except OSError:
                    return
                if not d:
                    return
                got.append(d)
        t = threading.Thread(target=drain)
        t.start()
        try:
            body = "q" * 4000
            # 12 MB at a client that reads nothing: more than socket buffers hold. Headlines, so
            # that once the reader is gone the rest is dropped rather than bounced at the sender
            # (12 MB of errors would test the sender's reading speed instead).
            for i in range(3000):
                fast.send(f"<message to='bob@localhost/slow' type='headline' id='o{i}'><body>{body}</body></message>")
            # the reader that does not read was dropped; the sender is fine
            wait_for(lambda: "client does not read, closing" in s.log_text(), timeout=20,
                     what="slow client dropped")
            assert slow.closed(timeout=20)
            fast.send("<iq type='get' id='f1'><ping xmlns='urn:xmpp:ping'/></iq>")
            wait_for(lambda: b"id='f1'" in b"".join(got[-50:]), timeout=20, what="sender still served")
        finally:
            stop.set()
            t.join()
    finally:
        s.cleanup()


def test_server_pings():
    s = Server(extra="limits { ping-interval 1s }")
    try:
        s.start()
        s.add_user("alice", "alice-pw")
        s.add_user("bob", "bob-pw")
        good = Raw(s.c2s_port)
        good.login("alice", "alice-pw", "good")
        dead = Raw(s.c2s_port)
        dead.login("bob", "bob-pw", "dead")
        m = good.expect(r"<iq type='get' id='([^']+)' to='alice@localhost/good' from='localhost'>"
                        r"<ping xmlns='urn:xmpp:ping'/></iq>", timeout=5)
        good.send(f"<iq type='result' id='{m.group(1)}' to='localhost'/>")
        dead.expect(r"<ping xmlns='urn:xmpp:ping'/>", timeout=5)  # and never answers
        dead.stream_error("connection-timeout", timeout=5)
        good.send("<iq type='get' id='still'><ping xmlns='urn:xmpp:ping'/></iq>")
        good.expect(r"<iq[^>]*id='still'")
    finally:
        s.cleanup()


def test_unauthenticated_streams_per_address():
    s = Server(extra="limits { conn-per-ip 3 }")
    try:
        s.start()
        s.add_user("alice", "alice-pw")
        held = [Raw(s.c2s_port, src="127.0.0.5") for _ in range(3)]
        for h in held:
            h.open()
        extra = Raw(s.c2s_port, src="127.0.0.5")
        extra.stream_error("policy-violation")
        # another address is not affected, and logging in frees the slot
        Raw(s.c2s_port, src="127.0.0.6").open()
        held[0].starttls()
        res = held[0].auth_scram("alice", "alice-pw")
        assert res[0] == "success", sasl_diag(s, res)
        again = Raw(s.c2s_port, src="127.0.0.5")
        again.open()
    finally:
        s.cleanup()
