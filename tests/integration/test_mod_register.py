"""XEP-0077 for authenticated sessions through the real daemon: the form, password change,
creation by an admin (or by anyone with registration open, throttled), conflict, not-allowed
when closed, cancellation deleting the account."""
import pytest
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from harness import DOMAIN, Client, Server, run

NS = "jabber:iq:register"


def server_with(registration):
    s = Server(extra=f'vhost "localhost" {{ modules roster presence register disco ping\n registration {registration} }}')
    s.start()
    s.add_user("alice", "alice-pw")
    s.add_user("admin", "admin-pw")
    return s


@pytest.fixture
def closed():
    s = server_with("closed")
    yield s
    s.cleanup()


@pytest.fixture
def opened():
    s = server_with("open")
    yield s
    s.cleanup()


async def login(server, who, pw, res="r"):
    c = Client(f"{who}@{DOMAIN}/{res}", pw)
    ok = await c.login(server.c2s_port)
    return c if ok else None


def reg_iq(c, itype, children=""):
    iq = c.make_iq(itype=itype, ito=DOMAIN)
    iq.xml.append(ET.fromstring(f"<query xmlns='{NS}'>{children}</query>"))
    return iq


async def reg_error(iq):
    with pytest.raises(IqError) as e:
        await iq.send(timeout=5)
    return e.value.iq["error"]["condition"]


def test_register_closed(closed):
    async def scenario():
        a = await login(closed, "alice", "alice-pw")
        r = await reg_iq(a, "get").send(timeout=5)
        q = r.xml.find(f"{{{NS}}}query")
        assert q.find(f"{{{NS}}}registered") is not None and q.find(f"{{{NS}}}username").text == "alice"
        assert await reg_error(reg_iq(a, "set", "<username>newbie</username><password>pw</password>")) == "not-allowed"
        assert await reg_error(reg_iq(a, "set", "<username>alice</username>")) == "bad-request"
        # password change
        await reg_iq(a, "set", "<username>alice</username><password>new-pw</password>").send(timeout=5)
        await a.close()
        assert await login(closed, "alice", "alice-pw", "old") is None
        a = await login(closed, "alice", "new-pw", "new")
        assert a is not None
        # an admin creates accounts whatever the setting; a taken name is a conflict
        adm = await login(closed, "admin", "admin-pw")
        await reg_iq(adm, "set", "<username>newbie</username><password>nb-pw</password>").send(timeout=5)
        assert await reg_error(reg_iq(adm, "set", "<username>newbie</username><password>x</password>")) == "conflict"
        n = await login(closed, "newbie", "nb-pw")
        assert n is not None
        # cancellation deletes the account
        await reg_iq(n, "set", "<remove/>").send(timeout=5)
        await n.close()
        assert await login(closed, "newbie", "nb-pw", "again") is None
        await a.close()
        await adm.close()

    run(scenario())


def test_register_open_is_throttled(opened):
    async def scenario():
        a = await login(opened, "alice", "alice-pw")
        await reg_iq(a, "set", "<username>x1</username><password>p1</password>").send(timeout=5)
        assert await reg_error(reg_iq(a, "set", "<username>x2</username><password>p2</password>")) == \
            "resource-constraint"
        assert await login(opened, "x1", "p1") is not None
        await a.close()

    run(scenario())


def test_cancel_forgets_the_account_data():
    from test_mod_roster import NS as RNS, get_items, roster_iq
    s = Server(extra='vhost "localhost" { modules roster presence register vcard offline disco ping\n'
                     ' registration closed }')
    try:
        s.start()
        s.add_user("alice", "alice-pw")
        s.add_user("admin", "admin-pw")

        async def scenario():
            a = await login(s, "alice", "alice-pw")
            await roster_iq(a, "set", [f"<item xmlns='{RNS}' jid='bob@{DOMAIN}'/>"]).send(timeout=5)
            v = a.make_iq_set()
            v.xml.append(ET.fromstring("<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>"))
            await v.send(timeout=5)
            await reg_iq(a, "set", "<remove/>").send(timeout=5)
            await a.close()
            adm = await login(s, "admin", "admin-pw")
            adm.send_message(mto=f"alice@{DOMAIN}", mbody="are you there?", mtype="chat")
            m = await adm.next_message()  # the account is gone: nothing is stored for it
            assert m["type"] == "error" and m["error"]["condition"] == "service-unavailable"
            await reg_iq(adm, "set", "<username>alice</username><password>again</password>").send(timeout=5)
            a = await login(s, "alice", "again", "new")
            items, _ = await get_items(a)
            assert items == {}
            g = a.make_iq_get()
            g.xml.append(ET.fromstring("<vCard xmlns='vcard-temp'/>"))
            r = await g.send(timeout=5)
            assert len(r.xml.find("{vcard-temp}vCard")) == 0
            await a.close()
            await adm.close()

        run(scenario())
    finally:
        s.cleanup()
