"""Router state kept with the sessions survives a router crash (kill -9): carbons enablement
(XEP-0280), the directed-presence list (RFC 6121 §4.6) and blocklist requesters (XEP-0191) are
session state that c2s keeps and replays with ROUTE_SYNC, so none of them is lost."""
import asyncio
import os
import signal

from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from harness import DOMAIN, login_as, run, server_fixture, wait_for
from test_mod_carbons import carbons
from test_mod_roster import RC

CARBONS = "urn:xmpp:carbons:2"
BLOCKING = "urn:xmpp:blocking"
MODS = 'vhost "localhost" { modules roster presence carbons blocking disco ping }'


ss = server_fixture(MODS, ("alice", "bob", "carol"))


async def login(server, who, res="r"):
    c = await login_as(server, who, res, RC)
    c.carbons = asyncio.Queue()
    c.blk_pushes = asyncio.Queue()
    c.register_handler(Callback("carbon", MatchXPath(f"{{jabber:client}}message/{{{CARBONS}}}received"),
                                c.carbons.put_nowait))
    c.register_handler(Callback("blk-push", MatchXPath(f"{{jabber:client}}iq/{{{BLOCKING}}}block"),
                                lambda iq: (c.blk_pushes.put_nowait(iq), iq.reply().send())))
    return c


async def crash_router(server, client):
    """kill -9 the router, wait for the new one, and for a round trip through it."""
    old = server.worker("router")["pid"]
    os.kill(old, signal.SIGKILL)
    await asyncio.get_event_loop().run_in_executor(
        None, lambda: wait_for(lambda: server.worker("router")["pid"] not in (0, old) and
                               server.worker("router")["state"] == "running", timeout=10, what="router back"))
    for _ in range(50):  # bounded: the sessions are replayed once the link is back
        try:
            iq = client.make_iq_get(ito=DOMAIN)
            iq.xml.append(ET.Element("{urn:xmpp:ping}ping"))
            await iq.send(timeout=2)
            return
        except (IqError, IqTimeout, asyncio.TimeoutError):
            await asyncio.sleep(0.1)
    raise AssertionError("no round trip through the new router")


async def quiet(q, t=0.5):
    await asyncio.sleep(t)
    assert q.empty(), q.get_nowait()


def test_carbons_survive_a_router_crash(ss):
    async def scenario():
        a1 = await login(ss, "alice", "one")
        a2 = await login(ss, "alice", "two")
        a3 = await login(ss, "alice", "three")  # never enables carbons
        b = await login(ss, "bob")
        await carbons(a2)
        await crash_router(ss, a2)
        b.send_message(mto=f"alice@{DOMAIN}/one", mbody="after the crash", mtype="chat")
        assert (await a1.next_message())["body"] == "after the crash"
        m = await asyncio.wait_for(a2.carbons.get(), 5)
        fwd = m.xml.find(f"{{{CARBONS}}}received/{{urn:xmpp:forward:0}}forwarded/{{jabber:client}}message")
        assert fwd.find("{jabber:client}body").text == "after the crash"
        await quiet(a3.carbons)
        # disabled after the crash: no more copies, and that too is kept
        await carbons(a2, on=False)
        await crash_router(ss, a2)
        b.send_message(mto=f"alice@{DOMAIN}/one", mbody="not copied", mtype="chat")
        assert (await a1.next_message())["body"] == "not copied"
        await quiet(a2.carbons)
        assert a1.disconnects == a2.disconnects == b.disconnects == 0
        for c in (a1, a2, a3, b):
            await c.close()

    run(scenario(), timeout=90)


def test_directed_presence_recipient_gets_unavailable_after_a_crash(ss):
    async def scenario():
        a = await login(ss, "alice")
        c = await login(ss, "carol")
        a.send_presence(pto=f"carol@{DOMAIN}/r", pstatus="just for you")
        while str((await c.next_presence()).get("from")) != f"alice@{DOMAIN}/r":
            pass
        await crash_router(ss, a)
        await a.close()
        while True:  # carol has no subscription: only the directed list explains this
            p = await c.next_presence("unavailable")
            if str(p["from"]) == f"alice@{DOMAIN}/r":
                break
        await c.close()

    run(scenario(), timeout=60)


def test_blocklist_requester_gets_pushes_after_a_crash(ss):
    async def scenario():
        a1 = await login(ss, "alice", "one")
        a2 = await login(ss, "alice", "two")
        iq = a1.make_iq_get()
        iq.xml.append(ET.Element(f"{{{BLOCKING}}}blocklist"))
        await iq.send(timeout=5)
        await crash_router(ss, a2)
        iq = a2.make_iq_set()
        ET.SubElement(ET.SubElement(iq.xml, f"{{{BLOCKING}}}block"), f"{{{BLOCKING}}}item", jid=f"carol@{DOMAIN}")
        # answered once the new router loaded the list and stored the change: the storage worker
        # redials within 1 s (STOREQ_RECONN_MAX_MS) and each of the two storage calls is answered
        # or times out within 5 s (STORE_TIMEOUT_MS), so 5 s here was shorter than the design allows
        await iq.send(timeout=12)
        push = await asyncio.wait_for(a1.blk_pushes.get(), 5)
        assert [i.get("jid") for i in push.xml.find(f"{{{BLOCKING}}}block")] == [f"carol@{DOMAIN}"]
        await quiet(a2.blk_pushes)  # it never asked for the list
        await a1.close()
        await a2.close()

    run(scenario(), timeout=60)
