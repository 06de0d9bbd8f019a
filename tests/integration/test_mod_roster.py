"""RFC 6121 rosters and subscriptions through the real daemon (mod_roster on file storage):
get/set/remove with pushes to every interested resource, versioning, the error cases, and the
subscription state machine (approve, pre-approve, pending re-sent at login, cancel, remove)."""
import asyncio

import pytest
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET

from harness import DOMAIN, Client, login_as, run, server_fixture

NS = "jabber:iq:roster"
MODS = 'vhost "localhost" { modules roster disco ping }'


rs = server_fixture(MODS, ("alice", "bob", "carol"))


class RC(Client):
    """A client that decides subscriptions itself and records presences and roster pushes."""

    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.auto_authorize = None
        self.auto_subscribe = False
        self.presences = asyncio.Queue()
        self.pushes = asyncio.Queue()
        self.add_event_handler("presence", lambda p: self.presences.put_nowait(p))
        self.add_event_handler("roster_update", lambda iq: self.pushes.put_nowait(iq))

    async def next_presence(self, ptype=None, timeout=5):
        while True:
            p = await asyncio.wait_for(self.presences.get(), timeout)
            if ptype is None or p["type"] == ptype:
                return p

    async def next_push(self, timeout=5):
        iq = await asyncio.wait_for(self.pushes.get(), timeout)
        return iq.xml.find(f"{{{NS}}}query")


async def login(server, who, res="r"):
    return await login_as(server, who, res, RC)


def roster_iq(c, itype, items_xml="", ver=None, to=None):
    iq = c.make_iq(itype=itype, ito=to)
    q = ET.Element(f"{{{NS}}}query")
    if ver is not None:
        q.set("ver", ver)
    for x in items_xml:
        q.append(ET.fromstring(x))
    iq.xml.append(q)
    return iq


async def get_items(c, ver=None):
    r = await roster_iq(c, "get", ver=ver).send(timeout=5)
    q = r.xml.find(f"{{{NS}}}query")
    if q is None:
        return None, None
    return {i.get("jid"): i for i in q.findall(f"{{{NS}}}item")}, q.get("ver")


async def expect_error(iq, cond):
    with pytest.raises(IqError) as e:
        await iq.send(timeout=5)
    assert e.value.iq["error"]["condition"] == cond, e.value.iq
    assert e.value.iq["id"] == iq["id"]


def test_roster_set_push_version(rs):
    async def scenario():
        a1 = await login(rs, "alice", "one")
        a2 = await login(rs, "alice", "two")
        items, ver0 = await get_items(a1, ver="")
        assert items == {} and ver0 is not None
        await get_items(a2)
        await roster_iq(a1, "set", [f"<item xmlns='{NS}' jid='bob@{DOMAIN}' name='Bob'>"
                                    f"<group>Friends</group><group>Work</group></item>"]).send(timeout=5)
        for c in (a1, a2):  # every resource that asked for the roster gets the push
            q = await c.next_push()
            it = q.find(f"{{{NS}}}item")
            assert it.get("jid") == f"bob@{DOMAIN}" and it.get("name") == "Bob"
            assert it.get("subscription") == "none"
            assert sorted(g.text for g in it.findall(f"{{{NS}}}group")) == ["Friends", "Work"]
            ver1 = q.get("ver")
            assert ver1 and ver1 != ver0
        items, ver = await get_items(a1)
        assert set(items) == {f"bob@{DOMAIN}"} and ver == ver1
        assert await get_items(a1, ver=ver1) == (None, None)  # XEP-0237: up to date, empty result
        items, _ = await get_items(a1, ver=ver0)
        assert set(items) == {f"bob@{DOMAIN}"}
        # the roster survives a new session
        await a1.close()
        a3 = await login(rs, "alice", "three")
        items, _ = await get_items(a3)
        assert items[f"bob@{DOMAIN}"].get("name") == "Bob"
        await roster_iq(a3, "set", [f"<item xmlns='{NS}' jid='bob@{DOMAIN}' subscription='remove'/>"]).send(
            timeout=5)
        q = await a2.next_push()
        assert q.find(f"{{{NS}}}item").get("subscription") == "remove"
        items, _ = await get_items(a3)
        assert items == {}
        await a2.close()
        await a3.close()

    run(scenario())


def test_roster_errors(rs):
    async def scenario():
        a = await login(rs, "alice")
        await expect_error(roster_iq(a, "get", to=f"bob@{DOMAIN}"), "forbidden")
        await expect_error(roster_iq(a, "set", [f"<item xmlns='{NS}' jid='x@{DOMAIN}'/>"], to=f"bob@{DOMAIN}"),
                           "forbidden")
        await expect_error(roster_iq(a, "set", [f"<item xmlns='{NS}' jid='x@{DOMAIN}'/>",
                                                f"<item xmlns='{NS}' jid='y@{DOMAIN}'/>"]), "bad-request")
        await expect_error(roster_iq(a, "set", []), "bad-request")
        await expect_error(roster_iq(a, "set", [f"<item xmlns='{NS}' jid='nobody@{DOMAIN}' subscription='remove'/>"]),
                           "item-not-found")
        await expect_error(roster_iq(a, "set", [f"<item xmlns='{NS}' jid='x@{DOMAIN}'><group>g</group>"
                                                "<group>g</group></item>"]), "bad-request")
        await expect_error(roster_iq(a, "set", [f"<item xmlns='{NS}' jid='x@{DOMAIN}'><group/></item>"]),
                           "not-acceptable")
        items, _ = await get_items(a)
        assert items == {}
        await a.close()

    run(scenario())


def test_subscribe_approve_and_presence(rs):
    async def scenario():
        a = await login(rs, "alice")
        b = await login(rs, "bob")
        await get_items(a)
        await get_items(b)
        a.send_presence(pto=f"bob@{DOMAIN}", ptype="subscribe")
        q = await a.next_push()
        it = q.find(f"{{{NS}}}item")
        assert it.get("jid") == f"bob@{DOMAIN}" and it.get("ask") == "subscribe"
        p = await b.next_presence("subscribe")
        assert str(p["from"]) == f"alice@{DOMAIN}"
        b.send_presence(pto=f"alice@{DOMAIN}", ptype="subscribed")
        q = await b.next_push()
        assert q.find(f"{{{NS}}}item").get("subscription") == "from"
        q = await a.next_push()
        it = q.find(f"{{{NS}}}item")
        assert it.get("subscription") == "to" and it.get("ask") is None
        # the approval and bob's current presence (sent on approval, §3.1.5), in either order
        seen = {}
        while len(seen) < 2:
            p = await a.next_presence()
            seen[p["type"]] = str(p["from"])
        assert seen == {"subscribed": f"bob@{DOMAIN}", "available": f"bob@{DOMAIN}/r"}
        # unsubscribe: alice no longer wants bob's presence
        a.send_presence(pto=f"bob@{DOMAIN}", ptype="unsubscribe")
        assert (await a.next_push()).find(f"{{{NS}}}item").get("subscription") == "none"
        assert (await b.next_push()).find(f"{{{NS}}}item").get("subscription") == "none"
        await b.next_presence("unsubscribe")
        await a.close()
        await b.close()

    run(scenario())


def test_preapproval_and_cancel(rs):
    async def scenario():
        b = await login(rs, "bob")
        c = await login(rs, "carol")
        await get_items(b)
        await get_items(c)
        b.send_presence(pto=f"carol@{DOMAIN}", ptype="subscribed")  # pre-approval, not routed
        it = (await b.next_push()).find(f"{{{NS}}}item")
        assert it.get("approved") == "true" and it.get("subscription") == "none"
        c.send_presence(pto=f"bob@{DOMAIN}", ptype="subscribe")
        assert (await c.next_push()).find(f"{{{NS}}}item").get("ask") == "subscribe"
        # approved at once by the server: carol learns it, bob is not asked
        await c.next_presence("subscribed")
        assert (await c.next_push()).find(f"{{{NS}}}item").get("subscription") == "to"
        it = (await b.next_push()).find(f"{{{NS}}}item")
        assert it.get("subscription") == "from" and it.get("approved") is None
        # bob cancels carol's subscription: she gets unsubscribed and his unavailable presence
        b.send_presence(pto=f"carol@{DOMAIN}", ptype="unsubscribed")
        assert (await b.next_push()).find(f"{{{NS}}}item").get("subscription") == "none"
        await c.next_presence("unsubscribed")
        assert (await c.next_push()).find(f"{{{NS}}}item").get("subscription") == "none"
        await asyncio.sleep(0.2)
        got = []
        while not b.presences.empty():
            got.append(b.presences.get_nowait()["type"])
        assert "subscribe" not in got
        await b.close()
        await c.close()

    run(scenario())


def test_pending_request_resent_at_login_and_remove(rs):
    async def scenario():
        a = await login(rs, "alice")
        await get_items(a)
        a.send_presence(pto=f"bob@{DOMAIN}", ptype="subscribe")  # bob is offline
        await a.next_push()
        await asyncio.sleep(0.3)
        b = await login(rs, "bob")
        p = await b.next_presence("subscribe")
        assert str(p["from"]) == f"alice@{DOMAIN}"
        items, _ = await get_items(b)
        assert items == {}  # a pending request is not a roster item
        b.send_presence(pto=f"alice@{DOMAIN}", ptype="subscribed")
        assert (await a.next_push()).find(f"{{{NS}}}item").get("subscription") == "to"
        # alice removes bob: he gets unsubscribe, his roster follows
        await roster_iq(a, "set", [f"<item xmlns='{NS}' jid='bob@{DOMAIN}' subscription='remove'/>"]).send(
            timeout=5)
        await b.next_presence("unsubscribe")
        items, _ = await get_items(b)
        assert items[f"alice@{DOMAIN}"].get("subscription") == "none"
        await a.close()
        await b.close()

    run(scenario())


def test_pushes_survive_a_router_restart(rs):
    from harness import wait_for

    async def scenario():
        a = await login(rs, "alice")
        await get_items(a)
        pid = rs.worker("router")["pid"]
        rs.ctl("worker", "restart", "router")
        await asyncio.get_event_loop().run_in_executor(
            None, lambda: wait_for(lambda: rs.worker("router")["pid"] != pid and
                                   rs.worker("router")["state"] == "running", what="router back"))
        r = None
        for _ in range(50):  # bounded: the session is replayed once the link is back
            try:
                r = await roster_iq(a, "set", [f"<item xmlns='{NS}' jid='bob@{DOMAIN}' name='B'/>"]).send(timeout=2)
                break
            except (IqError, IqTimeout, asyncio.TimeoutError):
                await asyncio.sleep(0.1)
        assert r is not None
        q = await a.next_push()
        assert q.find(f"{{{NS}}}item").get("name") == "B"
        assert a.disconnects == 0
        await a.close()

    run(scenario())
