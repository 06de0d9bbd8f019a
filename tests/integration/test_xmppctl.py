"""xmppctl: user management through the supervisor and the storage worker, exit codes, errors."""
import os
import subprocess

from harness import DOMAIN, XMPPCTL, Client, run


def login(server, jid, pw):
    async def scenario():
        c = Client(jid, pw)
        ok = await c.login(server.c2s_port)
        c.disconnect()
        return ok
    return run(scenario())


def test_user_lifecycle(server):
    server.ctl("user", "add", f"dave@{DOMAIN}", input="first\n")
    server.ctl("user", "add", f"erin@{DOMAIN}", input="pw\n")
    r = server.ctl("user", "add", f"dave@{DOMAIN}", input="again\n", check=False)
    assert r.returncode == 1 and "exists" in r.stderr
    assert server.ctl("user", "list", DOMAIN).stdout.split() == ["dave", "erin"]
    assert login(server, f"dave@{DOMAIN}/a", "first")
    server.ctl("user", "passwd", f"dave@{DOMAIN}", input="second\n")
    assert not login(server, f"dave@{DOMAIN}/a", "first")
    assert login(server, f"dave@{DOMAIN}/a", "second")
    server.ctl("user", "del", f"dave@{DOMAIN}")
    assert not login(server, f"dave@{DOMAIN}/a", "second")
    assert server.ctl("user", "list", DOMAIN).stdout.split() == ["erin"]
    r = server.ctl("user", "del", f"dave@{DOMAIN}", check=False)
    assert r.returncode == 1


def test_errors_and_exit_codes(server):
    assert server.ctl("user", "add", f"x@unknown.example", input="pw\n", check=False).returncode == 1
    assert server.ctl("user", "add", "no-at-sign", input="pw\n", check=False).returncode == 2
    assert server.ctl("frobnicate", check=False).returncode == 2
    assert server.ctl("user", check=False).returncode == 2
    r = server.ctl("user", "add", f"x@{DOMAIN}", input="", check=False)
    assert r.returncode != 0
    r = subprocess.run([XMPPCTL, "-s", "/nonexistent/control.sock", "status"], capture_output=True, text=True)
    assert r.returncode == 1 and "/nonexistent/control.sock" in r.stderr
    st = server.ctl("status").stdout
    for role in ("c2s", "router", "storage"):
        assert role in st


def test_password_never_in_logs(server):
    server.ctl("user", "add", f"frank@{DOMAIN}", input="s3cret-Pa55\n")
    assert login(server, f"frank@{DOMAIN}/r", "s3cret-Pa55")
    assert "s3cret-Pa55" not in server.log_text()


def test_accounts_survive_restart(server_factory):
    s = server_factory().start()
    s.add_user("gina", "pw")
    s.stop()
    s.start()
    assert login(s, f"gina@{DOMAIN}/r", "pw")
