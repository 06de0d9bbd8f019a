"""Storage backends end to end with the real daemon: data survives a restart on file and on
PostgreSQL (with and without the Redis cache), kill -9 of the storage worker in the middle of
a stream of acknowledged writes loses none of them, PostgreSQL restarted under load loses
nothing acknowledged, and a file → PostgreSQL migration keeps every login.
PostgreSQL and Redis come from tools/services.sh (make check starts them); without them the
PostgreSQL cases are skipped."""
import asyncio
import os
import secrets
import signal
import subprocess
import threading
import time

import pytest

from harness import DOMAIN, ROOT, XMPPCTL, Client, run, wait_for

ENV_FILE = os.path.join(ROOT, "build", "services.env")


def services():
    env = {}
    try:
        with open(ENV_FILE) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                env[k] = v
    except FileNotFoundError:
        pass
    for k in ("XMPPD_TEST_POSTGRESQL", "XMPPD_TEST_REDIS"):
        if os.environ.get(k):
            env[k] = os.environ[k]
    return env


SERVICES = services()
need_pg = pytest.mark.skipif("XMPPD_TEST_POSTGRESQL" not in SERVICES,
                             reason="no PostgreSQL (tools/services.sh start)")


def psql(conninfo, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", conninfo, "-c", sql], check=True,
                   capture_output=True, timeout=60)


@pytest.fixture
def pg_db():
    """A fresh database on the test PostgreSQL; dropped afterwards."""
    base = SERVICES["XMPPD_TEST_POSTGRESQL"]
    name = "xmppd_t_" + secrets.token_hex(4)
    psql(base, f"CREATE DATABASE {name}")
    yield base.replace("dbname=xmppd_test", f"dbname={name}")
    psql(base, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def storage_block(kind, conninfo=None):
    if kind == "file":
        return "storage { default file }"
    # a key prefix of this run: concurrent runs may share the Redis
    url = f'{SERVICES.get("XMPPD_TEST_REDIS")}?prefix=it{os.getpid()}'
    cache = f' cache redis "{url}"' if kind == "postgresql+redis" else ""
    return f'storage {{ default postgresql "{conninfo}"{cache} }}'


def make_server(server_factory, kind, conninfo, **kw):
    s = server_factory(extra=storage_block(kind, conninfo), **kw)
    s.start()
    return s


def login(server, user, password, mech="SCRAM-SHA-256"):
    async def go():
        c = Client(f"{user}@{DOMAIN}/t", password, mech=mech)
        ok = await c.login(server.c2s_port)
        await c.close()
        return ok
    return run(go())


def listed(server):
    return set(server.ctl("user", "list", DOMAIN).stdout.split())


def add_user_rc(server, local, password):
    r = server.ctl("user", "add", f"{local}@{DOMAIN}", input=password + "\n", check=False)
    return r.returncode


KINDS = ["file", pytest.param("postgresql", marks=need_pg),
         pytest.param("postgresql+redis", marks=need_pg)]


@pytest.fixture
def backend(request):
    return request.param


@pytest.mark.parametrize("kind", KINDS)
def test_data_survives_restart(server_factory, request, kind):
    conninfo = request.getfixturevalue("pg_db") if kind != "file" else None
    s = make_server(server_factory, kind, conninfo)
    s.add_user("alice", "alice-pw")
    s.add_user("bob", "bob-pw")
    assert login(s, "alice", "alice-pw")
    assert s.stop() == 0
    s.start()
    assert {"alice", "bob"} <= listed(s)
    assert login(s, "bob", "bob-pw", mech="SCRAM-SHA-1")
    assert not login(s, "bob", "wrong")
    assert f"backend={kind.split('+')[0]}" in s.log_text()


class Writer(threading.Thread):
    """Adds users one after another until `count` were acknowledged (exit 0) or `attempts`
    ran out; a failed add (storage or database away) is followed by a short pause."""

    def __init__(self, server, prefix, count, attempts=1500):
        super().__init__(daemon=True)
        self.server, self.prefix, self.count, self.attempts = server, prefix, count, attempts
        self.acked, self.failed = [], []

    def run(self):
        for i in range(self.attempts):
            if len(self.acked) >= self.count:
                break
            name = f"{self.prefix}{i}"
            if add_user_rc(self.server, name, "pw-" + name) == 0:
                self.acked.append(name)
            else:
                self.failed.append(name)
                time.sleep(0.05)


@pytest.mark.parametrize("kind", KINDS)
def test_kill9_storage_loses_no_acknowledged_write(server_factory, request, kind):
    conninfo = request.getfixturevalue("pg_db") if kind != "file" else None
    s = make_server(server_factory, kind, conninfo)
    w = Writer(s, "k", 80)
    w.start()
    for _ in range(3):
        n = len(w.acked)
        wait_for(lambda: len(w.acked) >= n + 10 or not w.is_alive(), timeout=30, what="writes")
        old = s.worker("storage")
        os.kill(old["pid"], signal.SIGKILL)
        wait_for(lambda: s.worker("storage")["pid"] not in (0, old["pid"])
                 and s.worker("storage")["state"] == "running", timeout=10, what="storage back")
    w.join(120)
    assert not w.is_alive()
    have = listed(s)
    lost = [u for u in w.acked if u not in have]
    assert not lost, f"acknowledged but lost: {lost}"
    assert len(w.acked) == 80, (len(w.acked), w.failed)
    # the accounts work, not only their names
    assert login(s, w.acked[-1], "pw-" + w.acked[-1])


@need_pg
def test_postgresql_restart_under_load(server_factory, pg_db):
    s = make_server(server_factory, "postgresql", pg_db)
    w = Writer(s, "p", 100)
    w.start()
    wait_for(lambda: len(w.acked) >= 20, timeout=30, what="writes before the restart")
    pgdata = os.path.join(SERVICES["XMPPD_SERVICES_DIR"], "pg", "data")
    pgbin = sorted(os.listdir("/usr/lib/postgresql"))[-1]
    subprocess.run(["runuser", "-u", "postgres", "--", f"/usr/lib/postgresql/{pgbin}/bin/pg_ctl",
                    "-w", "-t", "60", "-D", pgdata, "-l", pgdata + "/../log", "-m", "fast",
                    "restart"], check=True,
                   capture_output=True, timeout=90)
    before = len(w.acked)
    w.join(180)
    assert not w.is_alive()
    assert len(w.acked) > before, "no write succeeded after PostgreSQL came back"
    have = listed(s)
    lost = [u for u in w.acked if u not in have]
    assert not lost, f"acknowledged but lost: {lost}"
    assert s.worker("storage")["state"] == "running"


@need_pg
def test_migrate_file_to_postgresql(server_factory, pg_db):
    s = make_server(server_factory, "file", None)
    users = {f"m{i}": f"pw{i}" for i in range(5)}
    for u, p in users.items():
        s.add_user(u, p)
    assert s.stop() == 0
    r = subprocess.run([XMPPCTL, "storage", "migrate", "--from", f"file:{s.datadir}",
                        "--to", f"postgresql:{pg_db}", "--host", DOMAIN],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"{DOMAIN}: accounts 5," in r.stdout
    s.extra = storage_block("postgresql", pg_db)
    s.write_config()
    s.start()
    assert set(users) <= listed(s)
    for u, p in users.items():
        assert login(s, u, p, mech="SCRAM-SHA-1" if u == "m0" else "SCRAM-SHA-256"), u


@need_pg
def test_backend_per_host(server_factory, pg_db):
    """vhost "localhost" { storage postgresql "…" } puts that host's accounts in PostgreSQL,
    whatever the default."""
    s = server_factory(extra=f'storage {{ default file }}\nvhost "{DOMAIN}" {{ storage postgresql "{pg_db}" }}')
    s.start()
    s.add_user("carol", "carol-pw")
    assert login(s, "carol", "carol-pw")
    r = subprocess.run(["psql", "-At", pg_db, "-c",
                        "SELECT username FROM xmppd_kv WHERE store='accounts'"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["carol"]
    assert not os.path.exists(os.path.join(s.datadir, DOMAIN, "accounts", "carol"))


@pytest.mark.parametrize("kind", KINDS)
def test_module_data_survives_restart(server_factory, request, kind):
    """Through the real modules: a roster (keyval) and offline messages (archive) written
    before a restart are there after it, on each backend."""
    from test_mod_roster import NS as RNS, get_items, roster_iq
    conninfo = request.getfixturevalue("pg_db") if kind != "file" else None
    s = server_factory(extra=storage_block(kind, conninfo) +
                       f'\nvhost "{DOMAIN}" {{ modules roster presence offline disco ping }}')
    s.start()
    s.add_user("alice", "alice-pw")
    s.add_user("bob", "bob-pw")

    async def before():
        a = Client(f"alice@{DOMAIN}/r", "alice-pw")
        assert await a.login(s.c2s_port)
        await roster_iq(a, "set", [f"<item xmlns='{RNS}' jid='bob@{DOMAIN}' name='Bob'/>"]).send(timeout=5)
        for i in range(3):
            a.send_message(mto=f"bob@{DOMAIN}", mbody=f"kept{i}", mtype="chat")
        await asyncio.sleep(0.5)
        await a.close()

    async def after():
        a = Client(f"alice@{DOMAIN}/r", "alice-pw")
        assert await a.login(s.c2s_port)
        items, _ = await get_items(a)
        assert set(items) == {f"bob@{DOMAIN}"} and items[f"bob@{DOMAIN}"].get("name") == "Bob"
        b = Client(f"bob@{DOMAIN}/r", "bob-pw")
        assert await b.login(s.c2s_port)
        got = [(await b.next_message())["body"] for _ in range(3)]
        assert got == ["kept0", "kept1", "kept2"]
        await a.close()
        await b.close()

    run(before())
    assert s.stop() == 0
    s.start()
    run(after())


def pg_ctl(action):
    subprocess.run(["sh", os.path.join(ROOT, "tools", "services.sh"), f"pg-{action}"],
                   check=True, capture_output=True, timeout=90)


@need_pg
def test_postgresql_down_at_start(server_factory, pg_db):
    """xmppd starts while PostgreSQL is down: storage runs and refuses requests; once
    PostgreSQL is back, requests succeed without restarting anything."""
    pg_ctl("stop")
    try:
        s = make_server(server_factory, "postgresql", pg_db)
        assert add_user_rc(s, "early", "pw") != 0
        assert s.worker("storage")["state"] == "running"
    finally:
        pg_ctl("start")
    wait_for(lambda: add_user_rc(s, "late", "pw-late") == 0, timeout=20, step=0.5,
             what="a write after PostgreSQL came back")
    assert "late" in listed(s)
    assert login(s, "late", "pw-late")
    assert "postgresql not reachable at start" in s.log_text()
