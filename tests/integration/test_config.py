"""`xmppd -n` names file:line of the first error; a broken reload keeps the old configuration."""
import os
import subprocess

from harness import DOMAIN, XMPPD, Client, run


def check(path):
    return subprocess.run([XMPPD, "-n", "-f", path], capture_output=True, text=True, timeout=10)


def test_check_accepts_good_config(server_factory):
    s = server_factory()
    r = check(s.config)
    assert r.returncode == 0, r.stderr


def test_check_names_file_and_line(server_factory, tmp_path):
    s = server_factory()
    bad = os.path.join(s.etc, "broken.conf")
    with open(bad, "w") as f:
        f.write('include "xmppd.conf"\n\nlimits { stanza-size lots }\n')
    r = check(bad)
    assert r.returncode != 0
    assert f"{bad}:3:" in r.stderr, r.stderr
    with open(bad, "w") as f:
        f.write('server {\n  frobnicate yes\n}\n')
    r = check(bad)
    assert r.returncode != 0 and f"{bad}:2:" in r.stderr, r.stderr


def test_shipped_config_is_valid():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    r = check(os.path.join(root, "etc", "xmppd.conf"))
    assert r.returncode == 0, r.stderr


def test_broken_reload_keeps_old_config(server):
    server.add_user("alice", "alice-pw")
    good = open(server.config).read()
    server.write_config(good + "\nvhost \"other.example\" {\n  nonsense-directive 1\n}\n")
    r = server.ctl("reload", check=False)
    assert r.returncode == 1
    assert f"{server.config}:" in r.stderr
    assert "reload failed" in server.log_text()
    server.write_config(good)
    assert all(w["state"] == "running" for w in server.workers())

    async def scenario():
        a = Client(f"alice@{DOMAIN}/x", "alice-pw")
        assert await a.login(server.c2s_port)
        await a.close()

    run(scenario())
    assert server.ctl("reload").returncode == 0
