"""Account deletion, in-band (XEP-0077 <remove/>) and with `xmppctl user del`, takes the same path
through the router: the account's sessions are closed with <not-authorized/> and say unavailable,
its contacts are unsubscribed both ways (RFC 6121 §2.5.2/§3.3, with roster pushes), and every
module drops its data (roster, private XML, vCard, offline messages, blocklist): the same name
registered again starts empty."""
import asyncio

import pytest
from slixmpp.xmlstream import ET

from harness import DOMAIN, run, server_fixture
from test_mod_presence import befriend
from test_mod_roster import NS as RNS, RC, get_items

REG = "jabber:iq:register"
MODS = ('vhost "localhost" { modules roster presence register vcard private offline blocking last disco ping\n'
        ' registration closed }')


ds = server_fixture(MODS)


async def login(server, who, res="r", pw=None):
    c = RC(f"{who}@{DOMAIN}/{res}", pw or f"{who}-pw")
    c.stream_errors = []
    c.add_event_handler("stream_error", lambda e: c.stream_errors.append(e["condition"]))
    assert await c.login(server.c2s_port)
    return c


async def store_things(a):
    """Private XML, a vCard and a blocklist entry for the account of a."""
    p = a.make_iq_set()
    ET.SubElement(p.xml, "{jabber:iq:private}query").append(
        ET.fromstring("<secret xmlns='test:private'><v>42</v></secret>"))
    await p.send(timeout=5)
    v = a.make_iq_set()
    v.xml.append(ET.fromstring("<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>"))
    await v.send(timeout=5)
    b = a.make_iq_set()
    ET.SubElement(ET.SubElement(b.xml, "{urn:xmpp:blocking}block"), "{urn:xmpp:blocking}item",
                  jid="spammer@example.org")
    await b.send(timeout=5)


async def assert_empty(a):
    items, _ = await get_items(a)
    assert items == {}
    p = a.make_iq_get()
    ET.SubElement(p.xml, "{jabber:iq:private}query").append(ET.Element("{test:private}secret"))
    r = await p.send(timeout=5)
    assert len(r.xml.find("{jabber:iq:private}query/{test:private}secret")) == 0
    v = a.make_iq_get()
    v.xml.append(ET.Element("{vcard-temp}vCard"))
    r = await v.send(timeout=5)
    assert len(r.xml.find("{vcard-temp}vCard")) == 0
    b = a.make_iq_get()
    b.xml.append(ET.Element("{urn:xmpp:blocking}blocklist"))
    r = await b.send(timeout=5)
    assert len(r.xml.find("{urn:xmpp:blocking}blocklist")) == 0
    await asyncio.sleep(0.5)
    assert a.messages.empty(), a.messages.get_nowait()  # no offline message came back


@pytest.mark.parametrize("way", ["inband", "xmppctl"])
def test_deleted_account_leaves_nothing(ds, way):
    alice, bob = f"alice@{DOMAIN}", f"bob@{DOMAIN}"

    async def scenario():
        a1 = await login(ds, "alice", "one")
        a2 = await login(ds, "alice", "two")
        b = await login(ds, "bob")
        await get_items(b)  # an interested resource: it gets roster pushes
        await befriend(a1, b, alice, bob)
        await store_things(a1)
        # both of alice's resources go negative: a message to her bare JID is stored offline
        a1.send_presence(ppriority=-1)
        a2.send_presence(ppriority=-1)
        await asyncio.sleep(0.3)
        b.send_message(mto=alice, mbody="kept for later", mtype="chat")
        await asyncio.sleep(0.3)
        assert a1.messages.empty() and a2.messages.empty()
        while not b.presences.empty():
            b.presences.get_nowait()
        while not b.pushes.empty():
            b.pushes.get_nowait()

        if way == "inband":
            iq = a1.make_iq_set(ito=DOMAIN)
            ET.SubElement(iq.xml, f"{{{REG}}}query").append(ET.Element(f"{{{REG}}}remove"))
            await iq.send(timeout=5)  # the result comes before the stream closes
        else:
            r = await asyncio.get_event_loop().run_in_executor(None, lambda: ds.ctl("user", "del", alice))
            assert "user deleted; 2 sessions closed" in r.stdout, r.stdout

        # both sessions closed by the server with <not-authorized/>
        for _ in range(100):
            if a1.disconnects and a2.disconnects:
                break
            await asyncio.sleep(0.05)
        assert a1.disconnects and a2.disconnects
        assert a1.stream_errors == ["not-authorized"] and a2.stream_errors == ["not-authorized"]
        # bob saw them go, and lost his subscriptions both ways (pushes)
        gone = set()
        while not {f"{alice}/one", f"{alice}/two"} <= gone:  # bounded by next_presence's timeout
            p = await b.next_presence("unavailable")
            gone.add(str(p["from"]))
        subs = []
        while not subs or subs[-1] != "none":
            q = await b.next_push()
            it = q.find(f"{{{RNS}}}item")
            assert it.get("jid") == alice
            subs.append(it.get("subscription"))
        items, _ = await get_items(b)
        assert items[alice].get("subscription") == "none" and items[alice].get("ask") is None

        # the name comes back empty
        assert await RC(f"{alice}/x", "alice-pw").login(ds.c2s_port) is False
        await asyncio.get_event_loop().run_in_executor(
            None, lambda: ds.ctl("user", "add", alice, input="again\n"))
        n = await login(ds, "alice", "new", pw="again")
        await assert_empty(n)
        await n.close()
        await b.close()

    run(scenario(), timeout=90)


def test_deleting_an_unknown_account_says_so(ds):
    r = ds.ctl("user", "del", f"nobody@{DOMAIN}", check=False)
    assert r.returncode == 1 and "no such account" in r.stderr
    r = ds.ctl("user", "del", f"alice@{DOMAIN}")
    assert "0 sessions closed" in r.stdout


def test_user_del_while_the_router_is_down_deletes_nothing(ds):
    """Without the router nobody could close the sessions or drop the data: refused, not half done."""
    import os
    import signal
    from harness import wait_for

    def running_router():
        w = ds.worker("router")
        return w if w["state"] == "running" and w["pid"] else None

    for i in range(5):  # five crashes in a row: the router is held (throttled)
        w = wait_for(running_router, timeout=10.0, what="router running")
        os.kill(w["pid"], signal.SIGKILL)
        if i < 4:
            wait_for(lambda: (running_router() or {}).get("pid") not in (None, w["pid"]), timeout=10.0,
                     what="router respawned")
    wait_for(lambda: ds.worker("router")["state"] == "throttled", timeout=5.0, what="router throttled")
    r = ds.ctl("user", "del", f"alice@{DOMAIN}", check=False)
    assert r.returncode == 1 and "router is not running; nothing was deleted" in r.stderr
    ds.ctl("worker", "restart", "router")
    wait_for(running_router, timeout=5.0, what="router running again")

    async def scenario():
        a = await login(ds, "alice")  # the account is still there
        await a.close()

    run(scenario())
