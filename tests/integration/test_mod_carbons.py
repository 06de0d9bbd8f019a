"""XEP-0280 carbons through the real daemon: received and sent copies to the other enabled
resources only, <private/> opts out, disable stops them, a forged carbon from another user is
refused."""
import asyncio

from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from harness import DOMAIN, login_as, run, server_fixture

NS = "urn:xmpp:carbons:2"
FWD = "urn:xmpp:forward:0"
MODS = 'vhost "localhost" { modules roster presence carbons disco ping }'


cs = server_fixture(MODS)


async def login(server, who, res):
    c = await login_as(server, who, res)
    c.carbons = asyncio.Queue()  # slixmpp raises no 'message' event for carbons without its plugin
    for w in ("received", "sent"):
        c.register_handler(Callback(f"carbon-{w}", MatchXPath(f"{{jabber:client}}message/{{{NS}}}{w}"),
                                    c.carbons.put_nowait))
    return c


async def carbons(c, on=True):
    iq = c.make_iq_set()
    iq.xml.append(ET.Element(f"{{{NS}}}{'enable' if on else 'disable'}"))
    await iq.send(timeout=5)


def inner(m, wrapper):
    w = m.xml.find(f"{{{NS}}}{wrapper}")
    assert w is not None, m
    return w.find(f"{{{FWD}}}forwarded/{{jabber:client}}message")


async def quiet(*cs, t=0.3):
    await asyncio.sleep(t)
    for c in cs:
        assert c.messages.empty(), c.messages.get_nowait()
        assert c.carbons.empty(), c.carbons.get_nowait()


async def next_carbon(c):
    return await asyncio.wait_for(c.carbons.get(), 5)


def test_carbons(cs):
    async def scenario():
        a1 = await login(cs, "alice", "one")
        a2 = await login(cs, "alice", "two")
        a3 = await login(cs, "alice", "three")  # never enables carbons
        b = await login(cs, "bob", "r")
        await carbons(a1)
        await carbons(a2)
        b.send_message(mto=f"alice@{DOMAIN}/one", mbody="to one", mtype="chat")
        assert (await a1.next_message())["body"] == "to one"
        m = await next_carbon(a2)
        assert str(m["from"]) == f"alice@{DOMAIN}"
        im = inner(m, "received")
        assert im.get("from") == f"bob@{DOMAIN}/r" and im.find("{jabber:client}body").text == "to one"
        await quiet(a3)
        a1.send_message(mto=f"bob@{DOMAIN}/r", mbody="from one", mtype="chat")
        assert (await b.next_message())["body"] == "from one"
        im = inner(await next_carbon(a2), "sent")
        assert im.get("to") == f"bob@{DOMAIN}/r" and im.find("{jabber:client}body").text == "from one"
        await quiet(a1, a3)
        # <private/> opts out
        msg = b.make_message(mto=f"alice@{DOMAIN}/one", mbody="secret", mtype="chat")
        msg.xml.append(ET.Element(f"{{{NS}}}private"))
        msg.send()
        assert (await a1.next_message())["body"] == "secret"
        await quiet(a2, a3)
        # a forged carbon from bob is refused
        forged = b.make_message(mto=f"alice@{DOMAIN}/one", mtype="chat")
        rcv = ET.SubElement(forged.xml, f"{{{NS}}}received")
        fwd = ET.SubElement(rcv, f"{{{FWD}}}forwarded")
        ET.SubElement(fwd, "{jabber:client}message", {"from": f"alice@{DOMAIN}/two", "to": f"alice@{DOMAIN}/one"})
        forged.send()
        m = await next_carbon(b)  # the bounce carries the original payload, wrapper included
        assert m["type"] == "error" and m["error"]["condition"] == "not-allowed"
        await quiet(a1, a2, a3)
        # disabled: no more copies
        await carbons(a2, False)
        b.send_message(mto=f"alice@{DOMAIN}/one", mbody="later", mtype="chat")
        assert (await a1.next_message())["body"] == "later"
        await quiet(a2, a3)
        for c in (a1, a2, a3, b):
            await c.close()

    run(scenario())
