"""XMPP sessions over BOSH (XEP-0124, XEP-0206) on the http worker, driven by raw HTTP from Python
against the real daemon: session creation with the features in the body, SCRAM on https, the
restart, bind, roster, messages and presence with a slixmpp client on c2s both ways, terminate and
its unavailable, long-polling, out-of-order rids, and each terminal condition: a wrong sid, a
replayed rid, a rid outside the window, too many requests at once, inactivity; require-tls over
plain http; no -PLUS over BOSH."""
import asyncio
import re
import threading
import time
import xml.etree.ElementTree as ET

import pytest

import harness
from http_raw import BOSH, NS_HTTPBIND, Conn, bosh_post


@pytest.fixture(scope="module")
def srv():
    s = harness.Server(http=True, https=True)
    s.start()
    s.add_user("alice", "pw")
    s.add_user("bob", "pw")
    yield s
    s.cleanup()


def in_thread(fn, *args):
    return asyncio.get_event_loop().run_in_executor(None, fn, *args)


def root(r):
    assert r.status == 200, r
    assert r.header("content-type") == "text/xml; charset=utf-8"
    assert r.header("access-control-allow-origin") == "*"
    return ET.fromstring(r.body)


def test_creation_login_restart_bind_roster(srv):
    b = BOSH(srv.https_port, wait=5, hold=1)
    try:
        el = root(b.created)
        assert el.get("sid") == b.sid and len(b.sid) == 32
        assert el.get("wait") == "5" and el.get("hold") == "1" and el.get("requests") == "2"
        assert el.get("inactivity") and el.get("polling") and el.get("from") == "localhost"
        assert el.get("{urn:xmpp:xbosh}version") == "1.0" and el.get("secure") == "true"
        feats = el.find("{http://etherx.jabber.org/streams}features")  # XEP-0206 §4: in the body
        mechs = [m.text for m in feats.iter("{urn:ietf:params:xml:ns:xmpp-sasl}mechanism")]
        assert "SCRAM-SHA-1" in mechs and "SCRAM-SHA-256" in mechs
        assert not [m for m in mechs if m.endswith("-PLUS")], mechs  # no channel binding over BOSH
        assert b.login("alice", "pw", "bosh") == "alice@localhost/bosh"
        b.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
        r = b.expect(r"<iq [^>]*id='r1'[^>]*>.*?</iq>|<iq [^>]*id='r1'[^>]*/>").group(0)
        assert "type='result'" in r and "xmlns='jabber:client'" in r
        t = b.terminate()
        assert root(t).get("type") == "terminate" and root(t).get("condition") is None
    finally:
        b.close()
    assert "bosh session\" sid=" in srv.log_text()


def test_long_poll_answers_empty_after_wait(srv):
    b = BOSH(srv.https_port, wait=2)
    try:
        t0 = time.monotonic()
        r = b.send("")
        took = time.monotonic() - t0
        assert 1.5 <= took < 6, took
        el = root(r)
        assert el.get("type") is None and len(el) == 0
    finally:
        b.close()


def test_messages_and_presence_with_a_tcp_client(srv):
    async def scenario():
        bob = harness.Client("bob@localhost/tcp", "pw")
        alice_tcp = harness.Client("alice@localhost/tcp", "pw")
        presences = asyncio.Queue()
        alice_tcp.add_event_handler("presence", lambda p: presences.put_nowait(p))
        assert await bob.login(srv.c2s_port) and await alice_tcp.login(srv.c2s_port)
        b = BOSH(srv.https_port, wait=3)
        try:
            assert await in_thread(b.login, "alice", "pw", "web") == "alice@localhost/web"

            async def presence_from(full, kind):
                for _ in range(20):
                    p = await asyncio.wait_for(presences.get(), 15)
                    if str(p["from"]) == full and p["type"] == kind:
                        return p
                raise AssertionError(f"no {kind} presence from {full}")

            await in_thread(b.send, "<presence/>")
            await presence_from("alice@localhost/web", "available")
            await in_thread(b.send, "<message to='bob@localhost/tcp' type='chat'><body>from bosh</body></message>")
            m = await bob.next_message()
            assert m["body"] == "from bosh" and str(m["from"]) == "alice@localhost/web"
            bob.send_message(mto="alice@localhost/web", mbody="to bosh", mtype="chat")
            got = await in_thread(b.expect, r"<message [^>]*>.*?</message>")
            assert "<body>to bosh</body>" in got.group(0) and "from='bob@localhost/tcp'" in got.group(0)
            await in_thread(b.terminate, "<presence type='unavailable'/>")
            await presence_from("alice@localhost/web", "unavailable")
        finally:
            b.close()
            await bob.close()
            await alice_tcp.close()

    harness.run(scenario())


def test_output_waits_for_the_next_request(srv):
    """A message for a session with no request held is queued and goes out in the next one."""
    async def scenario():
        bob = harness.Client("bob@localhost/q", "pw")
        assert await bob.login(srv.c2s_port)
        b = BOSH(srv.https_port, wait=2)
        try:
            await in_thread(b.login, "alice", "pw", "queued")
            bob.send_message(mto="alice@localhost/queued", mbody="while away", mtype="chat")
            await asyncio.sleep(0.5)  # nothing held: it waits in the session
            r = await in_thread(b.send, "")
            assert "<body>while away</body>" in r.body.decode()
        finally:
            b.close()
            await bob.close()

    harness.run(scenario())


def test_out_of_order_rids_are_processed_in_order(srv):
    async def scenario():
        bob = harness.Client("bob@localhost/order", "pw")
        assert await bob.login(srv.c2s_port)
        b = BOSH(srv.https_port, wait=2, hold=1)
        try:
            await in_thread(b.login, "alice", "pw", "order")
            first = b.body("<message to='bob@localhost/order' type='chat'><body>one</body></message>")
            second = b.body("<message to='bob@localhost/order' type='chat'><body>two</body></message>")
            c2 = Conn(srv.https_port, tls=True)
            done = []
            t = threading.Thread(target=lambda: done.append(bosh_post(c2, second)))
            t.start()  # rid N+2 first: it waits for N+1
            await asyncio.sleep(0.5)
            assert not done
            r1 = await in_thread(b.post, first)
            t.join(10)
            c2.close()
            assert r1.status == 200 and done and done[0].status == 200
            bodies = [(await bob.next_message())["body"] for _ in range(2)]
            assert bodies == ["one", "two"], bodies
        finally:
            b.close()
            await bob.close()

    harness.run(scenario())


def test_wrong_sid(srv):
    c = Conn(srv.https_port, tls=True)
    try:
        r = bosh_post(c, f"<body xmlns='{NS_HTTPBIND}' sid='0123456789abcdef0123456789abcdef' rid='5' ver='1.11'/>")
        el = root(r)
        assert el.get("type") == "terminate" and el.get("condition") == "item-not-found"
    finally:
        c.close()


def test_replayed_rid_gets_the_same_answer(srv):
    b = BOSH(srv.https_port, wait=2)
    try:
        b.expect(r"</stream:features>")
        body = b.body("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-NONE'/>")
        first = b.post(body)
        again = b.post(body)  # the client lost the answer and asks again (§14.3)
        assert again.body == first.body and b"invalid-mechanism" in first.body
        assert root(again).get("type") is None
        assert "bosh request replayed" in srv.log_text()
        assert root(b.send("")).get("type") is None  # and the session goes on
    finally:
        b.close()


def test_rid_outside_the_window(srv):
    b = BOSH(srv.https_port, wait=2, hold=1)
    try:
        b.rid += 5  # requests=2: rid + 6 is past the window
        el = root(b.send(""))
        assert el.get("type") == "terminate" and el.get("condition") == "item-not-found"
        b.rid -= 6
        r = b.send("")  # the session is gone: an unknown sid (404 too for a request without ver)
        el = ET.fromstring(r.body)
        assert el.get("type") == "terminate" and el.get("condition") == "item-not-found"
    finally:
        b.close()


def test_more_requests_than_allowed_is_a_policy_violation(srv):
    b = BOSH(srv.https_port, wait=4, hold=1)
    c1, c2 = Conn(srv.https_port, tls=True), Conn(srv.https_port, tls=True)
    try:
        b.expect(r"</stream:features>")
        body = lambda r: f"<body xmlns='{NS_HTTPBIND}' sid='{b.sid}' rid='{r}'/>".encode()
        rid = b.rid
        got = []
        t1 = threading.Thread(target=lambda: got.append(bosh_post(c1, body(rid + 1))))
        t1.start()  # held for `wait`
        time.sleep(0.3)
        t2 = threading.Thread(target=lambda: got.append(bosh_post(c2, body(rid + 3))))
        t2.start()  # within the window, waiting for rid + 2: two requests now
        time.sleep(0.3)
        r = b.post(body(rid + 2).decode())  # a third at once: requests='2' says no
        el = root(r)
        assert el.get("type") == "terminate" and el.get("condition") == "policy-violation", r.body
        t1.join(10)
        t2.join(10)
        assert all(root(x).get("type") == "terminate" for x in got), [x.body for x in got]
    finally:
        c1.close()
        c2.close()
        b.close()


def test_plain_http_follows_require_tls(srv):
    b = BOSH(srv.http_port, tls=False, wait=2)
    try:
        el = root(b.created)
        assert el.get("secure") == "false"
        feats = el.find("{http://etherx.jabber.org/streams}features")
        assert feats is not None and feats.find("{urn:ietf:params:xml:ns:xmpp-sasl}mechanisms") is None
        res = b.auth_scram("alice", "pw")
        assert res == ("failure", "encryption-required"), res
    finally:
        b.close()


def test_inactivity_ends_the_session(srv):
    async def scenario():
        alice_tcp = harness.Client("alice@localhost/watch", "pw")
        presences = asyncio.Queue()
        alice_tcp.add_event_handler("presence", lambda p: presences.put_nowait(p))
        assert await alice_tcp.login(srv.c2s_port)
        b = BOSH(srv.https_port, wait=2)
        await in_thread(b.login, "alice", "pw", "idle")
        await in_thread(b.send, "<presence/>")
        b.close()  # and no more requests: after `inactivity` seconds the session ends
        inactivity = int(root(b.created).get("inactivity"))
        deadline = time.monotonic() + inactivity + 15
        while time.monotonic() < deadline:
            p = await asyncio.wait_for(presences.get(), deadline - time.monotonic())
            if str(p["from"]) == "alice@localhost/idle" and p["type"] == "unavailable":
                break
        else:
            raise AssertionError("no unavailable after inactivity")
        el = ET.fromstring((await in_thread(b.send, "")).body)
        assert el.get("type") == "terminate" and el.get("condition") == "item-not-found"
        await alice_tcp.close()

    harness.run(scenario(), timeout=120)
    assert "bosh session inactive, ended" in srv.log_text()
