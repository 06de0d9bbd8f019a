"""Two clients log in with SCRAM over STARTTLS and exchange messages through c2s → router → c2s."""
import asyncio

import pytest

from harness import DOMAIN, Client, run


async def pair(server, mech="SCRAM-SHA-1"):
    a = Client(f"alice@{DOMAIN}/phone", "alice-pw", mech)
    b = Client(f"bob@{DOMAIN}/laptop", "bob-pw", mech)
    assert await a.login(server.c2s_port)
    assert await b.login(server.c2s_port)
    return a, b


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_full_and_bare_jid_messages(server, mech):
    server.add_user("alice", "alice-pw")
    server.add_user("bob", "bob-pw")

    async def scenario():
        a, b = await pair(server, mech)
        a.send_message(mto=f"bob@{DOMAIN}/laptop", mbody="to your full JID", mtype="chat")
        m = await b.next_message()
        assert m["body"] == "to your full JID"
        assert str(m["from"]) == f"alice@{DOMAIN}/phone"
        b.send_message(mto=f"alice@{DOMAIN}", mbody="to your bare JID", mtype="chat")
        m = await a.next_message()
        assert m["body"] == "to your bare JID"
        assert str(m["from"]) == f"bob@{DOMAIN}/laptop"
        await a.close()
        await b.close()

    run(scenario())


def test_wrong_password_is_refused(server):
    server.add_user("carol", "right")

    async def scenario():
        c = Client(f"carol@{DOMAIN}/x", "wrong")
        assert await c.login(server.c2s_port) is False
        c.disconnect()
        c2 = Client(f"nobody@{DOMAIN}/x", "whatever")
        assert await c2.login(server.c2s_port) is False
        c2.disconnect()

    run(scenario())


def test_spoofed_from_is_restamped(server):
    server.add_user("alice", "alice-pw")
    server.add_user("bob", "bob-pw")

    async def scenario():
        a, b = await pair(server)
        msg = a.make_message(mto=f"bob@{DOMAIN}/laptop", mbody="who am I", mtype="chat")
        msg["from"] = f"admin@{DOMAIN}/console"
        msg.send()
        m = await b.next_message()
        assert str(m["from"]) == f"alice@{DOMAIN}/phone"
        await a.close()
        await b.close()

    run(scenario())


def test_message_to_offline_user_bounces(server):
    server.add_user("alice", "alice-pw")

    async def scenario():
        a = Client(f"alice@{DOMAIN}/phone", "alice-pw")
        assert await a.login(server.c2s_port)
        a.send_message(mto=f"ghost@{DOMAIN}", mbody="anyone?", mtype="chat")
        m = await a.next_message()
        assert m["type"] == "error"
        assert m["error"]["condition"] == "service-unavailable"
        await a.close()

    run(scenario())
