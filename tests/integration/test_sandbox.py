"""Every worker runs as its own user with no capabilities, no_new_privs and a seccomp filter;
c2s, http and router are chrooted into the empty jail."""
import os
import pwd

import pytest

USERS = {"c2s": "_xmppd-c2s", "http": "_xmppd-http", "router": "_xmppd-router", "storage": "_xmppd-store"}


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop needs root")
def test_workers_are_sandboxed(server_factory):
    s = server_factory(http=True, c2s_workers=2).start()
    workers = s.wait_running()
    assert {w["role"] for w in workers} == {"c2s", "http", "router", "storage"}
    assert len([w for w in workers if w["role"] == "c2s"]) == 2
    jail = os.path.realpath(os.path.join(s.rundir, "jail"))
    for w in workers:
        st = proc_status(w["pid"])
        want_uid = pwd.getpwnam(USERS[w["role"]]).pw_uid
        uids = st["Uid"].split()
        assert want_uid != 0
        assert uids == [str(want_uid)] * 4, (w, st["Uid"])
        assert st["CapEff"] == "0000000000000000", w
        assert st["CapPrm"] == "0000000000000000", w
        assert st["CapBnd"] == "0000000000000000", w
        assert st["NoNewPrivs"] == "1", w
        assert st["Seccomp"] == "2", w
        root = os.readlink(f"/proc/{w['pid']}/root")
        if w["role"] == "storage":
            assert root == "/", w
        else:
            assert root == jail, (w, root)
