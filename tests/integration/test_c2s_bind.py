"""A bind result (and a component's <handshake/>) comes only once the router holds the route: a
user on another c2s instance who writes the instant the result arrives reaches the new session;
the conflict policy holds across instances; a bind waits for a paused or restarted router and
gives up with a stream error after unauth-timeout; a stream closed while waiting leaves no route."""
import os
import re
import signal
import time

from c2s_raw import Raw, component_stream
from harness import DOMAIN, Server, free_port, wait_for

COMP = "comp.localhost"
REFUSE = "refuse.localhost"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"


def authed(port, user, pw, domain=DOMAIN):
    """A stream past SASL and the stream restart, not bound yet."""
    r = Raw(port)
    r.open(to=domain)
    if domain == DOMAIN:
        r.starttls()
    assert r.auth_scram(user, pw)[0] == "success"
    r.open(to=domain)
    return r


def send_bind(r, resource, iq_id="b"):
    r.send(f"<iq type='set' id='{iq_id}'><bind xmlns='{BIND_NS}'><resource>{resource}</resource></bind></iq>")


def bind_answer(r, iq_id="b", timeout=5.0):
    return r.expect(rf"<iq type='(result|error)' id='{iq_id}'.*?</iq>", timeout).group(0)


def nothing_within(r, secs):
    """True when the server sent nothing more for secs."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if not r._fill(deadline):
            return False
        if r.buf:
            return False
    return True


def expect_ids(r, ids):
    """Waits for a message with each of ids, in any order (two instances: no order between them)."""
    want = set(ids)
    while want:
        m = r.expect(r"<message[^>]*id='([^']*)'")
        want.discard(m.group(1))


def instance_of(server, user):
    """Which c2s instance authenticated user (its last login), from the worker's log line."""
    def find():
        hits = [m.group(1) for m in re.finditer(
            rf"proc=c2s\.(\d+)[^\n]*authenticated[^\n]*user={user} ", server.log_text())]
        return hits[-1] if hits else None
    return int(wait_for(find, timeout=5, what=f"log line for {user}"))


def one_per_instance(server, prefix, resource="r"):
    """Logs in users prefix0, prefix1... until instances 0 and 1 each have one; {instance: (name, Raw)}."""
    got = {}
    for i in range(40):  # the kernel spreads connections over both sockets
        name = f"{prefix}{i}"
        server.add_user(name, "pw")
        r = Raw(server.c2s_port)
        r.login(name, "pw", resource)
        n = instance_of(server, name)
        if n in got:
            r.close()
        else:
            got[n] = (name, r)
        if len(got) == 2:
            return got
    raise AssertionError(f"connections did not spread over both instances: {got}")


def component(port, secret="pw"):
    c = component_stream(port, COMP, secret)
    c.expect("<handshake/>")
    return c


def multi_server(extra=""):
    port = free_port()
    s = Server(c2s_workers=2, extra=f"""
listen component "127.0.0.1:{port}"
component "{COMP}" {{ secret "pw" }}
vhost "{REFUSE}" {{ require-tls off  resource-conflict refuse }}
{extra}""")
    s.comp_port = port
    s.start()
    return s


def bob_and_alice(s):
    """Accounts for bob and alice (password pw) on s; bob logged in as bob/b, his stream returned."""
    s.add_user("bob", "pw")
    bob = Raw(s.c2s_port)
    bob.login("bob", "pw", "b")
    s.add_user("alice", "pw")
    return bob


def test_fresh_binds_reached_at_once_from_both_instances():
    s = multi_server()
    try:
        senders = one_per_instance(s, "sender")
        s.add_user("target", "pw")
        for i in range(50):
            r = authed(s.c2s_port, "target", "pw")
            send_bind(r, f"t{i}")
            assert f"<jid>target@{DOMAIN}/t{i}</jid>" in bind_answer(r)
            # the instant the result is here, a user on each instance writes to the new resource
            for n, (name, w) in senders.items():
                w.send(f"<message to='target@{DOMAIN}/t{i}' id='m{i}-{n}' type='chat'><body>x</body></message>")
            expect_ids(r, [f"m{i}-{n}" for n in senders])
            r.close()
    finally:
        s.cleanup()


def test_component_handshake_reached_at_once_from_both_instances():
    s = multi_server()
    try:
        users = one_per_instance(s, "user")
        old = None
        for i in range(30):  # each connection replaces the previous one, on whichever instance
            c = component(s.comp_port)
            for n, (name, w) in users.items():
                w.send(f"<message to='bot@{COMP}' id='c{i}-{n}'><body>x</body></message>")
            expect_ids(c, [f"c{i}-{n}" for n in users])
            if old:
                old.stream_error("conflict")
            old = c
        assert "component replaced by a connection elsewhere" in s.log_text()
    finally:
        s.cleanup()


def test_resource_conflict_across_instances():
    s = multi_server()
    try:
        bob = bob_and_alice(s)
        # replace (the default): each new bind of alice/desk ends the previous stream, wherever it is
        old = Raw(s.c2s_port)
        old.login("alice", "pw", "desk")
        for i in range(12):
            new = Raw(s.c2s_port)
            assert new.login("alice", "pw", "desk") == f"alice@{DOMAIN}/desk"
            bob.send(f"<message to='alice@{DOMAIN}/desk' id='d{i}' type='chat'><body>x</body></message>")
            new.expect(rf"<message[^>]*id='d{i}'")
            old.stream_error("conflict")
            old = new
            if "session replaced by a bind elsewhere" in s.log_text():
                break
        assert "session replaced by a bind elsewhere" in s.log_text(), "no replacement across instances"
        # refuse: the router keeps the first binding and refuses the one on the other instance
        s.ctl("user", "add", f"rita@{REFUSE}", input="pw\n")
        first = authed(s.c2s_port, "rita", "pw", REFUSE)
        send_bind(first, "desk")
        assert f"<jid>rita@{REFUSE}/desk</jid>" in bind_answer(first)
        refused_elsewhere = False
        for i in range(12):
            r = authed(s.c2s_port, "rita", "pw", REFUSE)
            send_bind(r, "desk")
            assert "<error type='cancel'><conflict" in bind_answer(r)
            r.close()
            if "resource bound elsewhere, bind refused" in s.log_text():
                refused_elsewhere = True
                break
        assert refused_elsewhere, "no refusal across instances"
        first.send("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        first.expect(r"<iq[^>]*id='p'")
    finally:
        s.cleanup()


def router_pid(s):
    return s.worker("router")["pid"]


def resume(pid):
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass  # killed while stopped


def test_bind_waits_for_a_paused_or_restarted_router():
    s = multi_server()
    try:
        bob = bob_and_alice(s)
        s.ctl("user", "add", f"rita@{REFUSE}", input="pw\n")
        for case in ("paused", "killed"):
            r = authed(s.c2s_port, "alice", "pw")
            gone = authed(s.c2s_port, "rita", "pw", REFUSE)
            pid = router_pid(s)
            os.kill(pid, signal.SIGSTOP)
            try:
                send_bind(r, case)
                assert nothing_within(r, 0.7), f"{case}: answered without the router: {r.buf!r}"
                # a stream closed while its bind waits leaves no route behind (checked below)
                send_bind(gone, case)
                time.sleep(0.1)
                gone.close()
                time.sleep(0.1)
                if case == "killed":  # the new router gets the bind again from the link
                    os.kill(pid, signal.SIGKILL)
            finally:
                resume(pid)
            assert f"<jid>alice@{DOMAIN}/{case}</jid>" in bind_answer(r, timeout=10)
            bob.send(f"<message to='alice@{DOMAIN}/{case}' id='{case}' type='chat'><body>x</body></message>")
            r.expect(rf"<message[^>]*id='{case}'")
            again = authed(s.c2s_port, "rita", "pw", REFUSE)
            send_bind(again, case)
            assert f"<jid>rita@{REFUSE}/{case}</jid>" in bind_answer(again)
            for x in (r, again):
                x.close()
        assert s.worker("router")["restarts"] == 1
    finally:
        s.cleanup()


def test_bind_gives_up_after_unauth_timeout():
    s = Server(extra=f"""
limits {{ unauth-timeout 2s }}
vhost "{REFUSE}" {{ require-tls off  resource-conflict refuse }}
""")
    s.start()
    try:
        s.ctl("user", "add", f"rita@{REFUSE}", input="pw\n")
        r = authed(s.c2s_port, "rita", "pw", REFUSE)
        pid = router_pid(s)
        os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            send_bind(r, "late")
            r.stream_error("internal-server-error", timeout=6)
            assert time.monotonic() - t0 >= 1.5
        finally:
            resume(pid)
        # logged before the stream error is written, but it reaches the log through the
        # supervisor's relay of the worker's stderr: the client may see the error first
        wait_for(lambda: "no answer from the router to a bind" in s.log_text(), timeout=5,
                 what="the bind timeout logged")
        # the router takes the bind, then the unbind: the resource is free again (refuse policy)
        again = authed(s.c2s_port, "rita", "pw", REFUSE)
        send_bind(again, "late")
        assert f"<jid>rita@{REFUSE}/late</jid>" in bind_answer(again)
        again.close()
    finally:
        s.cleanup()
