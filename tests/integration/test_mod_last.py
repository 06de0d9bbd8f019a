"""XEP-0012 last activity through the real daemon: server uptime; an account's last logout and
status for a subscribed contact, 0 while online; forbidden when not subscribed;
service-unavailable for a nonexistent account."""
import asyncio

import pytest
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from harness import DOMAIN, run, server_fixture
from test_mod_presence import befriend
from test_mod_roster import login

MODS = 'vhost "localhost" { modules roster presence last disco ping }'
NS = "jabber:iq:last"


ls = server_fixture(MODS, ("alice", "bob", "carol"))


async def last(c, to):
    iq = c.make_iq_get(ito=to)
    iq.xml.append(ET.Element(f"{{{NS}}}query"))
    r = await iq.send(timeout=5)
    q = r.xml.find(f"{{{NS}}}query")
    return int(q.get("seconds")), q.text


async def last_error(c, to):
    with pytest.raises(IqError) as e:
        await last(c, to)
    return e.value.iq["error"]["condition"]


def test_last_activity(ls):
    async def scenario():
        a = await login(ls, "alice")
        b = await login(ls, "bob")
        c = await login(ls, "carol")
        assert (await last(a, DOMAIN))[0] >= 0
        await befriend(a, b, f"alice@{DOMAIN}", f"bob@{DOMAIN}")
        assert (await last(a, f"bob@{DOMAIN}"))[0] == 0  # online
        b.send_presence(pstatus="gone fishing")
        await asyncio.sleep(0.2)
        await b.close()
        await asyncio.sleep(1.2)
        secs, text = await last(a, f"bob@{DOMAIN}")
        assert 1 <= secs < 30 and text == "gone fishing"
        assert await last_error(c, f"bob@{DOMAIN}") == "forbidden"
        assert await last_error(c, f"ghost@{DOMAIN}") == "service-unavailable"
        await a.close()
        await c.close()

    run(scenario())
