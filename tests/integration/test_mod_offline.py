"""XEP-0160 offline messages through the real daemon: stored with a delay stamp while the user
has no available resource, delivered in order at initial presence and then gone; a nonexistent
user or a full store is service-unavailable; headlines are not stored."""
import asyncio

from harness import DOMAIN, Server, login_as, run, server_fixture

MODS = 'vhost "localhost" { modules roster presence offline disco ping }'


os_ = server_fixture(MODS)


async def no_message(c, t=0.4):
    await asyncio.sleep(t)
    assert c.messages.empty(), c.messages.get_nowait()


def test_stored_and_delivered_in_order(os_):
    async def scenario():
        a = await login_as(os_, "alice")
        for i in range(3):
            a.send_message(mto=f"bob@{DOMAIN}", mbody=f"m{i}", mtype="chat")
        a.send_message(mto=f"bob@{DOMAIN}/gone", mbody="m3", mtype="chat")  # chat to a gone resource too
        a.send_message(mto=f"bob@{DOMAIN}", mbody="news", mtype="headline")  # never stored
        await no_message(a)  # nothing bounced
        b = await login_as(os_, "bob")
        for i in range(4):
            m = await b.next_message()
            assert m["body"] == f"m{i}"
            assert str(m["from"]) == f"alice@{DOMAIN}/r"
            assert m.xml.find("{urn:xmpp:delay}delay") is not None
        await no_message(b)
        await b.close()
        b = await login_as(os_, "bob", "again")
        await no_message(b)  # delivered once, then removed
        await a.close()
        await b.close()

    run(scenario())


def test_nonexistent_user_is_service_unavailable(os_):
    async def scenario():
        a = await login_as(os_, "alice")
        a.send_message(mto=f"ghost@{DOMAIN}", mbody="anyone?", mtype="chat")
        m = await a.next_message()
        assert m["type"] == "error" and m["error"]["condition"] == "service-unavailable"
        await a.close()

    run(scenario())


def test_limit_per_user(os_):
    async def scenario():
        a = await login_as(os_, "alice")
        for i in range(100):
            a.send_message(mto=f"bob@{DOMAIN}", mbody=f"n{i}", mtype="normal")
        a.send_message(mto=f"bob@{DOMAIN}", mbody="one too many", mtype="normal")
        m = await a.next_message(timeout=60)
        assert m["type"] == "error" and m["error"]["condition"] == "service-unavailable"
        assert m["body"] == "one too many"
        await no_message(a)
        b = await login_as(os_, "bob")
        got = [(await b.next_message(timeout=20))["body"] for _ in range(100)]
        assert got == [f"n{i}" for i in range(100)]
        await a.close()
        await b.close()

    run(scenario(), timeout=120)


def test_limit_from_option():
    s = Server(extra='vhost "localhost" { modules roster presence offline disco ping\n option offline-limit 3 }')
    try:
        s.start()
        s.add_user("alice", "alice-pw")
        s.add_user("bob", "bob-pw")

        async def scenario():
            a = await login_as(s, "alice")
            for i in range(4):
                a.send_message(mto=f"bob@{DOMAIN}", mbody=f"o{i}", mtype="chat")
            m = await a.next_message()
            assert m["type"] == "error" and m["body"] == "o3"
            b = await login_as(s, "bob")
            assert [(await b.next_message())["body"] for _ in range(3)] == ["o0", "o1", "o2"]
            await no_message(b)
            await a.close()
            await b.close()

        run(scenario())
    finally:
        s.cleanup()
