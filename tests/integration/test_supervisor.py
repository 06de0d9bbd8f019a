"""Supervisor behaviour beyond restarts: seccomp deaths are named, the watchdog aborts a hung
worker, SIGHUP reloads (keeping the old file when the new one is broken), SIGINT stops fast,
and the whole server runs unprivileged when started by an ordinary user."""
import asyncio
import os
import pty
import pwd
import select
import signal
import subprocess
import time

import pytest

from harness import DOMAIN, XMPPCTL, Client, Server, run, wait_for


def test_sigsys_death_is_reported_and_contained(server):
    router = server.worker("router")
    others = {w["role"]: w["pid"] for w in server.workers() if w["role"] != "router"}
    os.kill(router["pid"], signal.SIGSYS)
    wait_for(lambda: "killed by seccomp" in server.log_text(), timeout=5, what="seccomp log line")
    line = [l for l in server.log_text().splitlines() if "killed by seccomp" in l][0]
    assert "proc=router.0" in line and "SIGSYS" in line
    server.wait_running()
    assert {w["role"]: w["pid"] for w in server.workers() if w["role"] != "router"} == others


def test_watchdog_aborts_a_hung_worker(server):
    old = server.worker("storage")
    os.kill(old["pid"], signal.SIGSTOP)
    try:
        wait_for(lambda: "stopped answering the watchdog" in server.log_text(), timeout=30,
                 what="watchdog")
        w = wait_for(lambda: (lambda x: x if x["state"] == "running" and x["pid"] != old["pid"] else None)(
            server.worker("storage")), timeout=10, what="storage replaced")
        assert w["restarts"] == 1
    finally:
        try:
            os.kill(old["pid"], signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_sighup_reload(server):
    good = open(server.config).read()
    server.write_config(good.replace("limits {", "limits { bogus 1\n"))
    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in server.log_text(), timeout=5, what="reload failure logged")
    assert f"{server.config}:" in [l for l in server.log_text().splitlines() if "reload failed" in l][0]
    assert all(w["state"] == "running" for w in server.workers())
    server.write_config(good.replace("loglevel debug", "loglevel info"))
    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in server.log_text(), timeout=5, what="reload")


def test_sigint_stops_fast(server):
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(10) == 0
    assert time.monotonic() - t0 < 3


def test_xmppctl_prompts_twice_on_a_terminal(server):
    def add(first, second):
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(XMPPCTL, [XMPPCTL, "-s", server.control, "user", "add", f"tty@{DOMAIN}"])
        out = b""
        for answer in (first, second):
            deadline = time.monotonic() + 5
            while b"assword" not in out.split(b"\n")[-1] and time.monotonic() < deadline:
                r, _, _ = select.select([fd], [], [], 0.2)
                if r:
                    out += os.read(fd, 1024)
            os.write(fd, answer.encode() + b"\n")
            out += b"\n"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(fd, 1024)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        return os.waitstatus_to_exitcode(status), out.decode(errors="replace")

    code, out = add("one", "two")
    assert code != 0 and "tty-secret" not in out
    code, out = add("tty-secret", "tty-secret")
    assert code == 0, out
    assert "tty-secret" not in out  # echo was off
    assert server.ctl("user", "list", DOMAIN).stdout.split() == ["tty"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become an ordinary user")
def test_unprivileged_mode():
    nobody = pwd.getpwnam("nobody")
    s = Server()
    try:
        for root, dirs, files in os.walk(s.base):
            for p in [root] + [os.path.join(root, x) for x in dirs + files]:
                os.chown(p, nobody.pw_uid, nobody.pw_gid)
        s.log = open(s.log_path, "ab")
        s.proc = subprocess.Popen(
            ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
             "--inh-caps=-all", "--bounding-set=-all", os.path.join(os.path.dirname(XMPPCTL), "xmppd"),
             "-f", s.config], stdout=s.log, stderr=s.log, stdin=subprocess.DEVNULL)
        workers = s.wait_running()
        assert "unprivileged=1" in s.log_text()
        for w in workers:
            st = dict(l.split(":", 1) for l in open(f"/proc/{w['pid']}/status").read().splitlines())
            assert st["Uid"].split()[0] == str(nobody.pw_uid)
            assert st["NoNewPrivs"].strip() == "1" and st["Seccomp"].strip() == "2"
        s.add_user("uma", "pw")

        async def scenario():
            c = Client(f"uma@{DOMAIN}/r", "pw")
            assert await c.login(s.c2s_port)
            await c.close()

        run(scenario())
    finally:
        s.cleanup()


def test_second_instance_is_refused(server):
    r = subprocess.run([os.path.join(os.path.dirname(XMPPCTL), "xmppd"), "-f", server.config],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "cannot listen" in r.stderr or "another xmppd" in r.stderr, r.stderr
    assert all(w["state"] == "running" for w in server.workers())
