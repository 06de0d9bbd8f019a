"""Crashed workers come back with backoff; a crash loop is throttled; a router crash disconnects
nobody and loses no message."""
import asyncio
import os
import signal
import time

import pytest

from harness import DOMAIN, Client, run, wait_for


def respawned(server, role, old_pid):
    def check():
        w = server.worker(role)
        return w if w["state"] == "running" and w["pid"] not in (0, old_pid) else None
    return check


@pytest.mark.parametrize("role", ["c2s", "router", "storage"])
def test_killed_worker_is_back_within_2s(server, role):
    old = server.worker(role)
    t0 = time.monotonic()
    os.kill(old["pid"], signal.SIGKILL)
    new = wait_for(respawned(server, role, old["pid"]), timeout=2.0, what=f"{role} back")
    assert time.monotonic() - t0 <= 2.0
    assert new["restarts"] == old["restarts"] + 1
    assert f"proc={role}.0" in server.log_text()


def test_router_crash_is_invisible(server):
    server.add_user("alice", "alice-pw")
    server.add_user("bob", "bob-pw")

    async def scenario():
        a = Client(f"alice@{DOMAIN}/phone", "alice-pw")
        b = Client(f"bob@{DOMAIN}/laptop", "bob-pw")
        assert await a.login(server.c2s_port)
        assert await b.login(server.c2s_port)
        a.send_message(mto=f"bob@{DOMAIN}/laptop", mbody="before", mtype="chat")
        assert (await b.next_message())["body"] == "before"

        for round_ in range(3):
            old = server.worker("router")
            os.kill(old["pid"], signal.SIGKILL)
            # sent while the router is dead or restarting: kept by c2s and replayed
            bodies = [f"r{round_}-m{i}" for i in range(20)]
            for body in bodies[:10]:
                a.send_message(mto=f"bob@{DOMAIN}/laptop", mbody=body, mtype="chat")
            await asyncio.get_event_loop().run_in_executor(
                None, lambda: wait_for(respawned(server, "router", old["pid"]), timeout=5.0, what="router"))
            for body in bodies[10:]:
                a.send_message(mto=f"bob@{DOMAIN}", mbody=body, mtype="chat")
            got = [(await b.next_message(timeout=10))["body"] for _ in bodies]
            assert sorted(got) == sorted(bodies), got
        b.send_message(mto=f"alice@{DOMAIN}/phone", mbody="after", mtype="chat")
        assert (await a.next_message())["body"] == "after"
        assert a.disconnects == 0 and b.disconnects == 0
        await a.close()
        await b.close()

    run(scenario(), timeout=90)


def test_crash_loop_is_throttled_and_cleared(server):
    """Five crashes in 60 s hold the worker; `xmppctl worker restart` clears it."""
    for i in range(5):
        w = wait_for(lambda: (lambda x: x if x["state"] == "running" and x["pid"] else None)(
            server.worker("storage")), timeout=10.0, what="storage running")
        os.kill(w["pid"], signal.SIGKILL)
        if i < 4:
            wait_for(respawned(server, "storage", w["pid"]), timeout=10.0, what="storage respawned")
    w = wait_for(lambda: (lambda x: x if x["state"] == "throttled" else None)(server.worker("storage")),
                 timeout=5.0, what="storage throttled")
    assert w["throttled"] == "yes" and w["pid"] == 0
    assert "throttled" in server.log_text()
    time.sleep(1.0)
    assert server.worker("storage")["state"] == "throttled"  # held, not respawned

    r = server.ctl("worker", "restart", "storage")
    assert "restarting 1 worker" in r.stdout
    w = wait_for(lambda: (lambda x: x if x["state"] == "running" else None)(server.worker("storage")),
                 timeout=5.0, what="storage running again")
    assert w["throttled"] == "no"
    server.add_user("after-throttle", "pw")  # storage answers again


def test_worker_restart_command(server):
    old = server.worker("c2s")
    server.ctl("worker", "restart", "c2s.0")
    wait_for(respawned(server, "c2s", old["pid"]), timeout=5.0, what="c2s restarted")
    assert server.ctl("worker", "restart", "c2s.7", check=False).returncode == 1
    assert server.ctl("worker", "restart", "nosuch", check=False).returncode == 2


def test_sigterm_stops_everything(server):
    pids = [w["pid"] for w in server.workers()]
    assert server.stop(signal.SIGTERM) == 0
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
