"""XEP-0191 blocking through the real daemon: list, block with pushes and unavailable presence
to the blocked contact, stanzas both ways refused (service-unavailable inbound, not-acceptable
with <blocked/> outbound, also to full JIDs), unblock, persistence, bad-request."""
import asyncio

import pytest
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from harness import DOMAIN, login_as, run, server_fixture
from test_mod_roster import RC

NS = "urn:xmpp:blocking"
MODS = 'vhost "localhost" { modules roster presence blocking offline disco ping }'


bs = server_fixture(MODS)


async def login(server, who, res="r"):
    c = await login_as(server, who, res, RC)
    c.blk_pushes = asyncio.Queue()
    c.register_handler(Callback("blk-push", MatchXPath(f"{{jabber:client}}iq/{{{NS}}}block"),
                                lambda iq: (c.blk_pushes.put_nowait(iq), iq.reply().send())))
    c.register_handler(Callback("unblk-push", MatchXPath(f"{{jabber:client}}iq/{{{NS}}}unblock"),
                                lambda iq: (c.blk_pushes.put_nowait(iq), iq.reply().send())))
    return c


def blk_iq(c, itype, op, jids=(), to=None):
    iq = c.make_iq(itype=itype, ito=to)
    el = ET.Element(f"{{{NS}}}{op}")
    for j in jids:
        ET.SubElement(el, f"{{{NS}}}item", jid=j)
    iq.xml.append(el)
    return iq


async def blocklist(c):
    r = await blk_iq(c, "get", "blocklist").send(timeout=5)
    return sorted(i.get("jid") for i in r.xml.find(f"{{{NS}}}blocklist"))


async def next_error(c, timeout=5):
    m = await c.next_message(timeout)
    assert m["type"] == "error", m
    return m


def test_block_unblock(bs):
    async def scenario():
        alice = f"alice@{DOMAIN}"
        a = await login(bs, "alice")
        b1 = await login(bs, "bob", "one")
        b2 = await login(bs, "bob", "two")
        assert await blocklist(b1) == []
        assert await blocklist(b2) == []
        with pytest.raises(IqError) as e:
            await blk_iq(b1, "set", "block").send(timeout=5)
        assert e.value.iq["error"]["condition"] == "bad-request"
        await blk_iq(b1, "set", "block", [alice]).send(timeout=5)
        push = await asyncio.wait_for(b2.blk_pushes.get(), 5)
        assert [i.get("jid") for i in push.xml.find(f"{{{NS}}}block")] == [alice]
        # alice is told bob went away, from each of his available resources
        froms = set()
        while len(froms) < 2:
            p = await a.next_presence("unavailable")
            froms.add(str(p["from"]))
        assert froms == {f"bob@{DOMAIN}/one", f"bob@{DOMAIN}/two"}
        assert await blocklist(b1) == [alice]
        # inbound: refused with service-unavailable, to the bare and to a full JID
        a.send_message(mto=f"bob@{DOMAIN}", mbody="hi", mtype="chat")
        assert (await next_error(a))["error"]["condition"] == "service-unavailable"
        a.send_message(mto=f"bob@{DOMAIN}/one", mbody="hi", mtype="chat")
        assert (await next_error(a))["error"]["condition"] == "service-unavailable"
        with pytest.raises(IqError) as e:
            await a.make_iq_get("urn:xmpp:ping", ito=f"bob@{DOMAIN}/one").send(timeout=5)
        assert e.value.iq["error"]["condition"] == "service-unavailable"
        # outbound: not-acceptable with <blocked/>
        b1.send_message(mto=alice, mbody="hello?", mtype="chat")
        m = await next_error(b1)
        assert m["error"]["condition"] == "not-acceptable"
        assert m.xml.find("{jabber:client}error/{urn:xmpp:blocking:errors}blocked") is not None
        b1.send_message(mto=f"{alice}/r", mbody="hello?", mtype="chat")
        assert (await next_error(b1))["error"]["condition"] == "not-acceptable"
        await asyncio.sleep(0.2)
        assert b1.messages.empty() and b2.messages.empty() and a.messages.empty()
        # persisted across sessions
        await b1.close()
        await b2.close()
        b = await login(bs, "bob", "three")
        assert await blocklist(b) == [alice]
        await blk_iq(b, "set", "unblock", [alice]).send(timeout=5)
        push = await asyncio.wait_for(b.blk_pushes.get(), 5)
        assert [i.get("jid") for i in push.xml.find(f"{{{NS}}}unblock")] == [alice]
        assert await blocklist(b) == []
        a.send_message(mto=f"bob@{DOMAIN}/three", mbody="again", mtype="chat")
        assert (await b.next_message())["body"] == "again"
        # block a domain, then unblock everything
        await blk_iq(b, "set", "block", [DOMAIN]).send(timeout=5)
        a.send_message(mto=f"bob@{DOMAIN}", mbody="x", mtype="chat")
        assert (await next_error(a))["error"]["condition"] == "service-unavailable"
        await blk_iq(b, "set", "unblock").send(timeout=5)
        assert await blocklist(b) == []
        await a.close()
        await b.close()

    run(scenario())


def test_blocked_sender_is_not_stored_offline(bs):
    async def scenario():
        b = await login(bs, "bob")
        await blk_iq(b, "set", "block", [f"alice@{DOMAIN}"]).send(timeout=5)
        await b.close()
        a = await login(bs, "alice")
        a.send_message(mto=f"bob@{DOMAIN}", mbody="let me in", mtype="chat")
        assert (await next_error(a))["error"]["condition"] == "service-unavailable"
        b = await login(bs, "bob", "later")
        await asyncio.sleep(0.4)
        assert b.messages.empty()
        await a.close()
        await b.close()

    run(scenario())
