"""XEP-0077 account creation on an unauthenticated c2s stream, through the real daemon: the stream
feature (after TLS only where TLS is required), the form, creation then a SCRAM login (raw and
with slixmpp's xep_0077), conflict, not-allowed where registration is closed, bad names, the
per-address throttle (limits { registrations-per-ip }), and no cancellation before auth."""
import asyncio
import re

import slixmpp
from slixmpp.exceptions import IqError
import pytest

from c2s_raw import Raw
from harness import DOMAIN, Client, Server, run

CLOSED = "closed.localhost"
CLEAR = "clear.localhost"
FEATURE = "<register xmlns='http://jabber.org/features/iq-register'/>"
NS = "jabber:iq:register"
PER_IP = 3


@pytest.fixture(scope="module")
def srv():
    s = Server(extra=f"""
vhost "{DOMAIN}" {{ registration open }}
vhost "{CLOSED}" {{ require-tls off  registration closed }}
vhost "{CLEAR}" {{ require-tls off  registration open }}
limits {{ registrations-per-ip {PER_IP} }}
""")
    s.start()
    s.add_user("alice", "alice-pw")
    yield s
    s.cleanup()


_src = [40]


def fresh_src():
    """A new loopback source address: each test has its own throttle budget."""
    _src[0] += 1
    return f"127.0.0.{_src[0]}"


def tls_stream(srv, src=None):
    r = Raw(srv.c2s_port, src=src or fresh_src())
    r.open()
    return r, r.starttls()


def reg_set(r, user, password, iq_id="r1", extra=""):
    r.send(f"<iq type='set' id='{iq_id}'><query xmlns='{NS}'><username>{user}</username>"
           f"<password>{password}</password>{extra}</query></iq>")
    return reg_answer(r, iq_id)


def reg_answer(r, iq_id):
    m = r.expect(rf"<iq type='(result|error)' id='{iq_id}'(/>|>.*?</iq>)", timeout=10)
    if m.group(1) == "result":
        return "result"
    return re.search(r"<([a-z-]+) xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>", m.group(0)).group(1)


def test_feature_only_after_tls_when_tls_required(srv):
    r = Raw(srv.c2s_port, src=fresh_src())
    before = r.open().group(0)
    assert FEATURE not in before
    after = r.starttls().group(0)
    assert FEATURE in after
    # where registration is closed it is not announced at all
    r2 = Raw(srv.c2s_port, src=fresh_src())
    assert FEATURE not in r2.open(to=CLOSED).group(0)
    r3 = Raw(srv.c2s_port, src=fresh_src())
    assert FEATURE in r3.open(to=CLEAR).group(0)


def test_registration_before_tls_refused_when_tls_required(srv):
    r = Raw(srv.c2s_port, src=fresh_src())
    r.open()
    r.send(f"<iq type='get' id='g'><query xmlns='{NS}'/></iq>")
    r.stream_error("not-authorized")


def test_form_then_register_then_scram_login(srv):
    r, _ = tls_stream(srv)
    r.send(f"<iq type='get' id='g1'><query xmlns='{NS}'/></iq>")
    m = r.expect(r"<iq type='result' id='g1'>(.*?)</iq>")
    form = m.group(1)
    assert "<instructions>" in form and "<username/>" in form and "<password/>" in form
    assert reg_set(r, "newbie", "newbie-pw") == "result"
    # the same stream may now authenticate as the new account
    assert r.auth_scram("newbie", "newbie-pw", mech="SCRAM-SHA-256")[0] == "success"


def test_conflict_for_existing_user(srv):
    r, _ = tls_stream(srv)
    assert reg_set(r, "alice", "whatever") == "conflict"
    # alice's password was not touched
    r2, _ = tls_stream(srv)
    assert r2.auth_scram("alice", "alice-pw")[0] == "success"


def test_closed_vhost_not_allowed(srv):
    r = Raw(srv.c2s_port, src=fresh_src())
    r.open(to=CLOSED)
    r.send(f"<iq type='get' id='g2'><query xmlns='{NS}'/></iq>")
    assert reg_answer(r, "g2") == "not-allowed"
    assert reg_set(r, "carl", "carl-pw", iq_id="s2") == "not-allowed"
    assert r.auth_scram("carl", "carl-pw")[1] == "not-authorized"


def test_bad_input_not_acceptable(srv):
    r = Raw(srv.c2s_port, src=fresh_src())
    r.open(to=CLEAR)
    assert reg_set(r, "bad@name", "pw", iq_id="b1") == "not-acceptable"
    assert reg_set(r, "bad name", "pw", iq_id="b2") == "not-acceptable"
    assert reg_set(r, "", "pw", iq_id="b3") == "not-acceptable"
    assert reg_set(r, "nopass", "", iq_id="b4") == "not-acceptable"
    assert reg_set(r, "x" * 1100, "pw", iq_id="b5") == "not-acceptable"
    # a password SASLprep refuses (private use) is refused by storage
    assert reg_set(r, "ctrlpass", "a&#xE000;b", iq_id="b6") == "not-acceptable"
    # and none of them counted against the throttle
    assert reg_set(r, "fine", "fine-pw", iq_id="b7") == "result"


def test_remove_before_auth_not_authorized(srv):
    r = Raw(srv.c2s_port, src=fresh_src())
    r.open(to=CLEAR)
    r.send(f"<iq type='set' id='x1'><query xmlns='{NS}'><remove/></query></iq>")
    assert reg_answer(r, "x1") == "not-authorized"


def test_throttle_per_address(srv):
    src = fresh_src()
    r = Raw(srv.c2s_port, src=src)
    r.open(to=CLEAR)
    for i in range(PER_IP):
        assert reg_set(r, f"bulk{i}", "bulk-pw", iq_id=f"t{i}") == "result"
    assert reg_set(r, "bulkmore", "bulk-pw", iq_id="tx") == "resource-constraint"
    # a new stream from the same address is throttled too; another address is not
    r2 = Raw(srv.c2s_port, src=src)
    r2.open(to=CLEAR)
    assert reg_set(r2, "bulkmore", "bulk-pw", iq_id="ty") == "resource-constraint"
    r3 = Raw(srv.c2s_port, src=fresh_src())
    r3.open(to=CLEAR)
    assert reg_set(r3, "bulkmore", "bulk-pw", iq_id="tz") == "result"


def test_password_not_logged(srv):
    r, _ = tls_stream(srv)
    assert reg_set(r, "secretive", "Sup3r-Secret-Pw") == "result"
    assert "Sup3r-Secret-Pw" not in srv.log_text()


class Registrar(slixmpp.ClientXMPP):
    """slixmpp's in-band registration (xep_0077), then its SCRAM login on the same stream."""

    def __init__(self, jid, password):
        super().__init__(jid, password, sasl_mech="SCRAM-SHA-1")
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = 0
        self.register_plugin("xep_0077")
        self["xep_0077"].force_registration = True
        # this slixmpp queues every IQ but bind/session until the session starts, which would hold
        # back xep_0077's own pre-auth IQs: let them through as the plugin intends
        self._always_send_everything = True
        self.result = None
        self.started = asyncio.Event()
        self.add_event_handler("register", self._register)
        self.add_event_handler("session_start", lambda e: self.started.set())

    async def _register(self, form):
        iq = self.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = self.boundjid.user
        iq["register"]["password"] = self.password
        try:
            await iq.send(timeout=10)
            self.result = "result"
        except IqError as e:
            self.result = e.iq["error"]["condition"]


def test_slixmpp_registers_and_logs_in(srv):
    async def go():
        c = Registrar(f"slix@{DOMAIN}/r", "slix-pw")
        c.connect(address=("127.0.0.1", srv.c2s_port), force_starttls=True)
        await asyncio.wait_for(c.started.wait(), 20)
        assert c.result == "result"
        c.disconnect()
        # a fresh client logs in with the new account
        d = Client(f"slix@{DOMAIN}/s", "slix-pw", mech="SCRAM-SHA-256")
        assert await d.login(srv.c2s_port)
        await d.close()
    run(go())
