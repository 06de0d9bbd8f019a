"""Admin roles through the real daemon: an admin's announcement reaches every online resource,
anyone else is forbidden; and the server's disco#items lists its components."""
import asyncio

from harness import DOMAIN, Client, Server, run

CONF = '''vhost "localhost" { modules roster presence disco announce ping }
component "bridge.localhost" { secret "bridge-secret" }'''


def test_announce_and_items():
    s = Server(extra=CONF)
    try:
        s.start()
        for u in ("admin", "alice", "bob"):
            s.add_user(u, f"{u}-pw")

        async def scenario():
            cs = {}
            for u in ("admin", "alice", "bob"):
                c = Client(f"{u}@{DOMAIN}/r", f"{u}-pw")
                c.register_plugin("xep_0030")
                assert await c.login(s.c2s_port)
                cs[u] = c
            cs["alice"].send_message(mto=f"{DOMAIN}/announce/online", mbody="I am not an admin")
            m = await cs["alice"].next_message()
            assert m["type"] == "error" and m["error"]["condition"] == "forbidden"
            cs["admin"].send_message(mto=f"{DOMAIN}/announce/online", mbody="maintenance at noon")
            for u in ("admin", "alice", "bob"):
                m = await cs[u].next_message()
                assert m["body"] == "maintenance at noon" and str(m["from"]) == DOMAIN
                assert m["type"] == "headline"
            await asyncio.sleep(0.2)
            assert cs["bob"].messages.empty()
            items = await cs["bob"]["xep_0030"].get_items(jid=DOMAIN, timeout=5)
            assert [i[0] for i in items["disco_items"]["items"]] == ["bridge.localhost"]
            for c in cs.values():
                await c.close()

        run(scenario())
    finally:
        s.cleanup()
