"""External components (XEP-0114) on the component listener: handshake, wrong secret, routing of
the component's domain and subdomains both ways, from outside the domain refused, a reconnecting
component replacing the old connection, and a slixmpp component for interoperability."""
import asyncio

import pytest
import slixmpp

from c2s_raw import Raw, component_stream, header
from harness import run, server_fixture

COMP = "comp.localhost"
SECRET = "s3cret"


srv = server_fixture(lambda s: f"""
listen component "127.0.0.1:{s.comp_port}"
component "{COMP}" {{ secret "{SECRET}" }}
component "nosecret.localhost" {{ }}
""", ("alice",), scope="module", ports=("comp_port",))


def component(srv, name=COMP, secret=SECRET):
    c = component_stream(srv.comp_port, name, secret)
    assert "xmlns='jabber:component:accept'" in c.stream_header and f"from='{name}'" in c.stream_header
    return c


def user(srv, res="u"):
    a = Raw(srv.c2s_port)
    a.login("alice", "alice-pw", res)
    a.send("<presence/>")
    return a


def test_handshake_and_routing(srv):
    c = component(srv)
    c.expect(r"<handshake/>")
    a = user(srv)
    # user → component domain, a subdomain, and a JID at the component
    for to in (COMP, f"bot@{COMP}", f"x@muc.{COMP}/nick"):
        a.send(f"<message to='{to}' id='m-{to}'><body>hi</body></message>")
        m = c.expect(r"<message[^>]*>.*?</message>")
        assert f"to='{to}'" in m.group(0) and "from='alice@localhost/u'" in m.group(0)
        assert "xmlns='jabber:component:accept'" in m.group(0)
    # component → user: full and bare JID, from anywhere inside its domain
    c.send(f"<message from='bot@{COMP}' to='alice@localhost/u' id='c1'><body>back</body></message>")
    m = a.expect(r"<message[^>]*id='c1'[^>]*>")
    assert f"from='bot@{COMP}'" in m.group(0) and "xmlns='jabber:client'" in m.group(0)
    c.send(f"<message from='room@muc.{COMP}/n' to='alice@localhost' id='c2'><body>bare</body></message>")
    a.expect(r"<message[^>]*id='c2'")
    c.close()
    a.close()


def test_wrong_secret(srv):
    c = component(srv, secret="wrong")
    c.stream_error("not-authorized")


@pytest.mark.parametrize("name", ["unknown.localhost", "nosecret.localhost", "localhost"])
def test_unknown_component(srv, name):
    c = Raw(srv.comp_port)
    c.send(header(to=name, ns="jabber:component:accept", version=None))
    c.stream_error("host-unknown")


def test_wrong_namespace_and_early_stanza(srv):
    c = Raw(srv.comp_port)
    c.send(header(to=COMP, ns="jabber:client", version=None))
    c.stream_error("invalid-namespace")
    c = Raw(srv.comp_port)
    c.send(header(to=COMP, ns="jabber:component:accept", version=None))
    c.expect(r"<stream:stream [^>]*>")
    c.send(f"<message from='{COMP}' to='alice@localhost'/>")
    c.stream_error("not-authorized")


def test_from_outside_domain(srv):
    c = component(srv)
    c.expect(r"<handshake/>")
    c.send("<message from='admin@localhost' to='alice@localhost'><body>spoof</body></message>")
    c.stream_error("invalid-from")
    c = component(srv)
    c.expect(r"<handshake/>")
    c.send(f"<message from='x.{COMP}.evil' to='alice@localhost'><body>spoof</body></message>")
    c.stream_error("invalid-from")


def test_reconnect_replaces(srv):
    old = component(srv)
    old.expect(r"<handshake/>")
    new = component(srv)
    new.expect(r"<handshake/>")
    old.stream_error("conflict")
    a = user(srv, "r")
    a.send(f"<message to='{COMP}' id='after'><body>x</body></message>")
    new.expect(r"<message[^>]*id='after'")
    new.close()


def test_slixmpp_component(srv):
    async def go():
        comp = slixmpp.ComponentXMPP(COMP, SECRET, "127.0.0.1", srv.comp_port)
        got = asyncio.Queue()
        ready = asyncio.Event()
        comp.add_event_handler("session_start", lambda e: ready.set())
        comp.add_event_handler("message", lambda m: got.put_nowait(m))
        comp.connect()
        await asyncio.wait_for(ready.wait(), 10)
        a = await asyncio.get_running_loop().run_in_executor(None, user, srv, "sx")
        a.send(f"<message to='echo@{COMP}' id='sx1'><body>ping</body></message>")
        m = await asyncio.wait_for(got.get(), 10)
        assert m["body"] == "ping" and str(m["from"]) == "alice@localhost/sx"
        comp.send_message(mto="alice@localhost/sx", mfrom=f"echo@{COMP}", mbody="pong")
        r = await asyncio.get_running_loop().run_in_executor(None, a.expect, r"<body>pong</body>")
        assert r
        comp.disconnect()
        a.close()
    run(go())
