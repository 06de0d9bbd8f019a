"""XEP-0054 vcard-temp and XEP-0049 private XML storage through the real daemon, with their
error cases (another user's data, jabber:* namespaces, nonexistent accounts)."""
import pytest
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from harness import DOMAIN, login_as, run, server_fixture

MODS = 'vhost "localhost" { modules roster presence vcard private disco ping }'
V = "vcard-temp"
P = "jabber:iq:private"


vs = server_fixture(MODS)


def iq(c, itype, payload, to=None):
    i = c.make_iq(itype=itype, ito=to)
    i.xml.append(ET.fromstring(payload))
    return i


async def expect_error(i, cond):
    with pytest.raises(IqError) as e:
        await i.send(timeout=5)
    assert e.value.iq["error"]["condition"] == cond
    assert e.value.iq["id"] == i["id"]


def test_vcard(vs):
    async def scenario():
        a = await login_as(vs, "alice")
        b = await login_as(vs, "bob")
        r = await iq(a, "get", f"<vCard xmlns='{V}'/>").send(timeout=5)
        v = r.xml.find(f"{{{V}}}vCard")
        assert v is not None and len(v) == 0  # nothing stored yet: empty
        await iq(a, "set", f"<vCard xmlns='{V}'><FN>Alice Liddell</FN><NICKNAME>al</NICKNAME></vCard>").send(
            timeout=5)
        r = await iq(a, "get", f"<vCard xmlns='{V}'/>").send(timeout=5)
        assert r.xml.find(f"{{{V}}}vCard/{{{V}}}FN").text == "Alice Liddell"
        r = await iq(b, "get", f"<vCard xmlns='{V}'/>", to=f"alice@{DOMAIN}").send(timeout=5)
        assert r.xml.find(f"{{{V}}}vCard/{{{V}}}NICKNAME").text == "al"
        assert str(r["from"]) == f"alice@{DOMAIN}"
        await expect_error(iq(b, "set", f"<vCard xmlns='{V}'><FN>x</FN></vCard>", to=f"alice@{DOMAIN}"), "forbidden")
        await expect_error(iq(b, "get", f"<vCard xmlns='{V}'/>", to=f"ghost@{DOMAIN}"), "service-unavailable")
        r = await iq(a, "get", f"<vCard xmlns='{V}'/>", to=f"bob@{DOMAIN}").send(timeout=5)
        assert len(r.xml.find(f"{{{V}}}vCard")) == 0
        await a.close()
        await b.close()

    run(scenario())


def test_private(vs):
    async def scenario():
        a = await login_as(vs, "alice")
        b = await login_as(vs, "bob")
        r = await iq(a, "get", f"<query xmlns='{P}'><prefs xmlns='urn:example:prefs'/></query>").send(timeout=5)
        el = r.xml.find(f"{{{P}}}query/{{urn:example:prefs}}prefs")
        assert el is not None and len(el) == 0
        await iq(a, "set", f"<query xmlns='{P}'><prefs xmlns='urn:example:prefs'><color>blue</color></prefs>"
                           "</query>").send(timeout=5)
        r = await iq(a, "get", f"<query xmlns='{P}'><prefs xmlns='urn:example:prefs'/></query>").send(timeout=5)
        assert r.xml.find(f"{{{P}}}query/{{urn:example:prefs}}prefs/{{urn:example:prefs}}color").text == "blue"
        # bob's storage is his own
        r = await iq(b, "get", f"<query xmlns='{P}'><prefs xmlns='urn:example:prefs'/></query>").send(timeout=5)
        assert len(r.xml.find(f"{{{P}}}query/{{urn:example:prefs}}prefs")) == 0
        await expect_error(iq(b, "get", f"<query xmlns='{P}'><prefs xmlns='urn:example:prefs'/></query>",
                              to=f"alice@{DOMAIN}"), "forbidden")
        await expect_error(iq(a, "set", f"<query xmlns='{P}'><x xmlns='jabber:client'/></query>"), "not-acceptable")
        await expect_error(iq(a, "get", f"<query xmlns='{P}'/>"), "bad-request")
        await a.close()
        await b.close()

    run(scenario())
