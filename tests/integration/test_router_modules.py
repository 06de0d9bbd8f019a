"""xmppctl module list|load|unload through the real daemon: the router restarts with the new
module set and no session notices; unknown and missing modules are reported, never fatal."""
import asyncio

import pytest
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from harness import DOMAIN, Client, run, server_fixture, wait_for

MODS = 'vhost "localhost" { modules roster presence disco ping nosuchmodule }'


ms = server_fixture(MODS)


def version_iq(c):
    iq = c.make_iq_get(ito=DOMAIN)
    iq.xml.append(ET.Element("{jabber:iq:version}query"))
    return iq


def router_pid(server):
    return server.worker("router")["pid"]


def test_module_list_load_unload(ms):
    out = ms.ctl("module", "list", DOMAIN).stdout.split("\n")
    assert "ping" in out and "disco" in out and "nosuchmodule (missing)" in out
    r = ms.ctl("module", "load", "nosuchthing", check=False)
    assert r.returncode == 1 and "no such module" in r.stderr
    r = ms.ctl("module", "load", "../../etc", check=False)
    assert r.returncode == 2
    assert ms.ctl("module", "list", "nohost.example", check=False).returncode == 1

    async def scenario():
        a = Client(f"alice@{DOMAIN}/r", "alice-pw")
        b = Client(f"bob@{DOMAIN}/r", "bob-pw")
        assert await a.login(ms.c2s_port)
        assert await b.login(ms.c2s_port)
        with pytest.raises(IqError) as e:
            await version_iq(a).send(timeout=5)
        assert e.value.iq["error"]["condition"] == "service-unavailable"
        pid = router_pid(ms)
        ms.ctl("module", "load", "version")
        await asyncio.get_event_loop().run_in_executor(
            None, lambda: wait_for(lambda: router_pid(ms) != pid and ms.worker("router")["state"] == "running",
                                   what="router restarted"))
        r = None
        for _ in range(50):  # the router comes back; bounded retries while links replay
            try:
                r = await version_iq(a).send(timeout=2)
                break
            except IqError:
                await asyncio.sleep(0.1)
        assert r is not None and r.xml.find("{jabber:iq:version}query/{jabber:iq:version}name").text == "xmppd"
        # the sessions never noticed: still bound, still routed
        a.send_message(mto=f"bob@{DOMAIN}/r", mbody="still here", mtype="chat")
        assert (await b.next_message())["body"] == "still here"
        assert a.disconnects == 0 and b.disconnects == 0
        assert "version" in ms.ctl("module", "list", DOMAIN).stdout.split("\n")
        pid = router_pid(ms)
        ms.ctl("module", "unload", "version")
        await asyncio.get_event_loop().run_in_executor(
            None, lambda: wait_for(lambda: router_pid(ms) != pid and ms.worker("router")["state"] == "running",
                                   what="router restarted"))
        cond = None
        for _ in range(50):
            try:
                await version_iq(a).send(timeout=2)
                await asyncio.sleep(0.1)
            except IqError as e:
                cond = e.iq["error"]["condition"]
                if cond == "service-unavailable":
                    break
        assert cond == "service-unavailable"
        assert a.disconnects == 0 and b.disconnects == 0
        r = ms.ctl("module", "unload", "version", check=False)
        assert r.returncode == 1 and "not loaded" in r.stderr
        await a.close()
        await b.close()

    run(scenario())
    assert "module file missing or not trusted" in ms.log_text()
