"""Router events and the storage-free core modules (ping, version, time, last, disco) through
the real daemon: each module answers its IQ, unknown IQs get service-unavailable with the
original id, errors are never answered, modules missing from the configuration are absent."""
import asyncio

import pytest
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET

from harness import DOMAIN, Client, run, server_fixture

MODS = 'vhost "localhost" { modules disco ping version time last roster presence message }'


modserver = server_fixture(MODS)


async def login(server, who="alice", res="phone"):
    c = Client(f"{who}@{DOMAIN}/{res}", f"{who}-pw")
    c.register_plugin("xep_0030")
    assert await c.login(server.c2s_port)
    return c


def iq_with(c, itype, to, payload_xml, iid=None):
    iq = c.make_iq(itype=itype, ito=to) if iid is None else c.make_iq(id=iid, itype=itype, ito=to)
    iq.xml.append(ET.fromstring(payload_xml))
    return iq


async def expect_error(iq, cond):
    with pytest.raises(IqError) as e:
        await iq.send(timeout=5)
    assert e.value.iq["error"]["condition"] == cond
    assert e.value.iq["id"] == iq["id"]
    return e.value.iq


def test_ping_version_time_last(modserver):
    async def scenario():
        a = await login(modserver)
        r = await iq_with(a, "get", DOMAIN, "<ping xmlns='urn:xmpp:ping'/>").send(timeout=5)
        assert r["type"] == "result" and str(r["from"]) == DOMAIN
        r = await iq_with(a, "get", DOMAIN, "<query xmlns='jabber:iq:version'/>").send(timeout=5)
        q = r.xml.find("{jabber:iq:version}query")
        assert q.find("{jabber:iq:version}name").text == "xmppd"
        assert q.find("{jabber:iq:version}version").text
        assert q.find("{jabber:iq:version}os") is None
        r = await iq_with(a, "get", DOMAIN, "<time xmlns='urn:xmpp:time'/>").send(timeout=5)
        t = r.xml.find("{urn:xmpp:time}time")
        assert t.find("{urn:xmpp:time}tzo").text == "+00:00"
        assert t.find("{urn:xmpp:time}utc").text.endswith("Z")
        r = await iq_with(a, "get", DOMAIN, "<query xmlns='jabber:iq:last'/>").send(timeout=5)
        assert int(r.xml.find("{jabber:iq:last}query").get("seconds")) >= 0
        await a.close()

    run(scenario())


def test_disco_lists_module_features(modserver):
    async def scenario():
        a = await login(modserver)
        info = await a["xep_0030"].get_info(jid=DOMAIN, timeout=5)
        feats = set(info["disco_info"]["features"])
        for f in ("urn:xmpp:ping", "jabber:iq:version", "urn:xmpp:time", "jabber:iq:last",
                  "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items"):
            assert f in feats, f
        assert ("server", "im", None, "xmppd") in set(info["disco_info"]["identities"])
        items = await a["xep_0030"].get_items(jid=DOMAIN, timeout=5)
        assert items["type"] == "result"
        await expect_error(iq_with(a, "get", DOMAIN,
                                   "<query xmlns='http://jabber.org/protocol/disco#info' node='nope'/>"),
                           "item-not-found")
        # accounts: the owner sees an account identity and its own resources
        a2 = await login(modserver, "alice", "tablet")
        info = await a["xep_0030"].get_info(jid=f"alice@{DOMAIN}", timeout=5)
        assert ("account", "registered", None, None) in set(info["disco_info"]["identities"])
        items = await a["xep_0030"].get_items(jid=f"alice@{DOMAIN}", timeout=5)
        assert sorted(i[0] for i in items["disco_items"]["items"]) == [f"alice@{DOMAIN}/phone",
                                                                       f"alice@{DOMAIN}/tablet"]
        b = await login(modserver, "bob", "laptop")
        items = await b["xep_0030"].get_items(jid=f"alice@{DOMAIN}", timeout=5)
        assert not items["disco_items"]["items"]
        await expect_error(iq_with(b, "get", f"ghost@{DOMAIN}",
                                   "<query xmlns='http://jabber.org/protocol/disco#info'/>"), "service-unavailable")
        await a2.close()
        await b.close()
        await a.close()

    run(scenario())


def test_unconfigured_module_is_absent(server):
    """The default harness vhost has no version module: its IQ is service-unavailable."""
    server.add_user("alice", "alice-pw")

    async def scenario():
        a = await login(server)
        await expect_error(iq_with(a, "get", DOMAIN, "<query xmlns='jabber:iq:version'/>"),
                           "service-unavailable")
        info = await a["xep_0030"].get_info(jid=DOMAIN, timeout=5)
        assert "jabber:iq:version" not in set(info["disco_info"]["features"])
        await a.close()

    run(scenario())


def test_unhandled_iq_errors_keep_id_and_errors_are_not_answered(modserver):
    async def scenario():
        a = await login(modserver)
        b = await login(modserver, "bob", "laptop")
        await expect_error(iq_with(a, "get", DOMAIN, "<query xmlns='urn:example:nothing'/>", "get-1"),
                           "service-unavailable")
        await expect_error(iq_with(a, "set", DOMAIN, "<query xmlns='urn:example:nothing'/>", "set-2"),
                           "service-unavailable")
        # to one's own account and to another account: the server answers for the account
        await expect_error(iq_with(a, "get", None, "<query xmlns='urn:example:nothing'/>"), "service-unavailable")
        await expect_error(iq_with(a, "get", f"bob@{DOMAIN}", "<query xmlns='urn:example:nothing'/>"),
                           "service-unavailable")
        # a nonexistent account, and a resource that is not bound
        await expect_error(iq_with(a, "get", f"ghost@{DOMAIN}", "<query xmlns='urn:example:nothing'/>"),
                           "service-unavailable")
        await expect_error(iq_with(a, "get", f"bob@{DOMAIN}/gone", "<query xmlns='urn:example:nothing'/>"),
                           "service-unavailable")
        # an IQ to a bound full JID reaches that client (slixmpp answers it itself)
        with pytest.raises(IqError) as e:
            await iq_with(a, "get", f"bob@{DOMAIN}/laptop", "<query xmlns='urn:example:nothing'/>").send(timeout=5)
        assert str(e.value.iq["from"]) == f"bob@{DOMAIN}/laptop"
        # errors and results sent to the server are never answered
        got = []
        a.add_event_handler("iq_error", lambda iq: got.append(iq["id"]))
        a.send_raw(f"<iq type='error' id='err-1' to='{DOMAIN}'><query xmlns='urn:example:nothing'/>"
                   "<error type='cancel'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
        a.send_raw(f"<iq type='result' id='res-1' to='{DOMAIN}'/>")
        a.send_raw(f"<message type='error' id='err-2' to='ghost@{DOMAIN}'><error type='cancel'>"
                   "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
        await iq_with(a, "get", DOMAIN, "<ping xmlns='urn:xmpp:ping'/>").send(timeout=5)  # in order after
        await asyncio.sleep(0.2)
        assert "err-1" not in got and "res-1" not in got
        assert a.messages.empty()
        await a.close()
        await b.close()

    run(scenario())


def test_message_delivery_rules(modserver):
    """RFC 6121 §8.5: highest priority wins, ties all get it, negative priority gets nothing to
    the bare JID, headline goes to all non-negative, groupchat to a bare JID bounces."""
    async def scenario():
        a = await login(modserver)
        hi = await login(modserver, "bob", "hi")
        lo = await login(modserver, "bob", "lo")
        neg = await login(modserver, "bob", "neg")
        hi.send_presence(ppriority=5)
        lo.send_presence(ppriority=1)
        neg.send_presence(ppriority=-1)
        await asyncio.sleep(0.3)
        a.send_message(mto=f"bob@{DOMAIN}", mbody="top", mtype="chat")
        assert (await hi.next_message())["body"] == "top"
        a.send_message(mto=f"bob@{DOMAIN}", mbody="news", mtype="headline")
        assert (await hi.next_message())["body"] == "news"
        assert (await lo.next_message())["body"] == "news"
        lo.send_presence(ppriority=5)
        await asyncio.sleep(0.3)
        a.send_message(mto=f"bob@{DOMAIN}", mbody="tie", mtype="normal")
        assert (await hi.next_message())["body"] == "tie"
        assert (await lo.next_message())["body"] == "tie"
        # a full JID reaches even the negative-priority resource
        a.send_message(mto=f"bob@{DOMAIN}/neg", mbody="direct", mtype="chat")
        assert (await neg.next_message())["body"] == "direct"
        a.send_message(mto=f"bob@{DOMAIN}", mbody="gc", mtype="groupchat")
        m = await a.next_message()
        assert m["type"] == "error" and m["error"]["condition"] == "service-unavailable"
        # normal to a resource that is not bound: service-unavailable (§8.5.3.2.1)
        a.send_message(mto=f"bob@{DOMAIN}/nowhere", mbody="x", mtype="normal")
        m = await a.next_message()
        assert m["type"] == "error" and m["error"]["condition"] == "service-unavailable"
        await asyncio.sleep(0.2)
        assert neg.messages.empty()
        for c in (a, hi, lo, neg):
            await c.close()

    run(scenario())
