"""RFC 6121 §4 presence through the real daemon: broadcast to subscribers, probes answered at
login, directed presence ended with the session, unavailable on disconnect and when the c2s
worker holding a session dies; nothing for those not subscribed."""
import asyncio
import os
import signal

import pytest

from harness import DOMAIN, run, server_fixture
from test_mod_roster import NS, get_items, login

MODS = 'vhost "localhost" { modules roster presence disco ping }'


ps = server_fixture(MODS, ("alice", "bob", "carol"), c2s_workers=2)


async def pres_from(c, jid, ptype=None, timeout=5):
    """The next presence from jid (one's own broadcast comes back too, RFC 6121 §4.2.2)."""
    while True:
        p = await c.next_presence(ptype, timeout)
        if str(p["from"]) == jid:
            return p


async def drain(c, t=0.3):
    await asyncio.sleep(t)
    got = []
    while not c.presences.empty():
        p = c.presences.get_nowait()
        got.append((p["type"], str(p["from"])))
    return got


async def befriend(a, b, a_jid, b_jid):
    """Mutual subscription, step by step as clients do it."""
    for x, y, xj, yj in ((a, b, a_jid, b_jid), (b, a, b_jid, a_jid)):
        x.send_presence(pto=yj, ptype="subscribe")
        await y.next_presence("subscribe")
        y.send_presence(pto=xj, ptype="subscribed")
        await x.next_presence("subscribed")
    await asyncio.sleep(0.3)


def test_broadcast_probe_and_unavailable(ps):
    async def scenario():
        a = await login(ps, "alice")
        b = await login(ps, "bob")
        await befriend(a, b, f"alice@{DOMAIN}", f"bob@{DOMAIN}")
        await b.close()
        await drain(a)
        # bob logs in: alice gets his initial presence, bob's probe brings him alice's
        b = await login(ps, "bob", "laptop")
        p = await a.next_presence("available")
        assert str(p["from"]) == f"bob@{DOMAIN}/laptop"
        await pres_from(b, f"alice@{DOMAIN}/r", "available")
        # a change of status is broadcast
        b.send_presence(pshow="away", pstatus="lunch")
        p = await a.next_presence("away")
        assert p["status"] == "lunch"
        # explicit unavailable, then disconnect without it
        b.send_presence(ptype="unavailable")
        p = await a.next_presence("unavailable")
        assert str(p["from"]) == f"bob@{DOMAIN}/laptop"
        b.send_presence()
        await a.next_presence("available")
        await b.close()
        p = await a.next_presence("unavailable")
        assert str(p["from"]) == f"bob@{DOMAIN}/laptop"
        await a.close()

    run(scenario())


def test_no_presence_without_subscription(ps):
    async def scenario():
        a = await login(ps, "alice")
        c = await login(ps, "carol")
        await drain(a)
        c.send_presence(pshow="dnd")
        c.send_presence(pto=f"alice@{DOMAIN}", ptype="probe")
        assert await drain(a) == []
        assert [t for t in await drain(c) if t[1].startswith("alice")] == []
        await a.close()
        await c.close()

    run(scenario())


def test_directed_presence_ends_with_session(ps):
    async def scenario():
        a = await login(ps, "alice")
        c = await login(ps, "carol")
        await drain(c)
        a.send_presence(pto=f"carol@{DOMAIN}/r", pstatus="hello")
        await pres_from(c, f"alice@{DOMAIN}/r", "available")
        await a.close()
        p = await c.next_presence("unavailable")
        assert str(p["from"]) == f"alice@{DOMAIN}/r"
        await c.close()

    run(scenario())


def socket_owner(server, client):
    """The pid of the c2s worker that holds the client's TCP connection."""
    port = client.transport.get_extra_info("sockname")[1]
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            rport = int(cols[2].split(":")[1], 16)
            if rport == port and cols[3] == "01" and cols[9] != "0":  # established, not a closed one
                inode = cols[9]
    assert inode, "connection not found"
    for w in server.workers():
        if w["role"] != "c2s":
            continue
        for fd in os.listdir(f"/proc/{w['pid']}/fd"):
            try:
                if os.readlink(f"/proc/{w['pid']}/fd/{fd}") == f"socket:[{inode}]":
                    return w["pid"]
            except OSError:
                pass
    raise AssertionError("no c2s worker holds the connection")


def test_unavailable_when_c2s_worker_dies(ps):
    async def scenario():
        a = await login(ps, "alice")
        b = await login(ps, "bob")
        await befriend(a, b, f"alice@{DOMAIN}", f"bob@{DOMAIN}")
        await b.close()
        await drain(a)
        apid = socket_owner(ps, a)
        for attempt in range(8):  # bob must land on the other worker
            b = await login(ps, "bob", f"w{attempt}")
            if socket_owner(ps, b) != apid:
                break
            await b.close()
        else:
            pytest.skip("every connection landed on one c2s worker")
        await pres_from(a, f"bob@{DOMAIN}/w{attempt}", "available")
        os.kill(socket_owner(ps, b), signal.SIGKILL)
        await pres_from(a, f"bob@{DOMAIN}/w{attempt}", "unavailable", timeout=10)
        await a.close()

    run(scenario())
