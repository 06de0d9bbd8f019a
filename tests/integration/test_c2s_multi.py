"""Several c2s instances (one SO_REUSEPORT socket each) route to each other through the router:
users on different instances exchange messages, a resource conflict across instances replaces
the old session, and a component on one instance serves users on the other."""
import re

from c2s_raw import Raw, component_stream
from harness import Server, free_port, wait_for

COMP = "comp.localhost"


def instance_of(server, resource):
    """Which c2s instance authenticated this user, from the worker's log line."""
    def find():
        for line in server.log_text().splitlines():
            if "proc=c2s." in line and "authenticated" in line and f"user={resource} " in line:
                m = re.search(r"proc=c2s\.(\d+)", line)
                return m.group(1)  # a string: instance 0 must read as found
        return None
    return int(wait_for(find, timeout=5, what=f"log line for {resource}"))


def test_instances_route_to_each_other():
    port = free_port()
    s = Server(c2s_workers=2, extra=f"""
listen component "127.0.0.1:{port}"
component "{COMP}" {{ secret "pw" }}
""")
    try:
        s.start()
        streams = {}
        by_instance = {0: [], 1: []}
        for i in range(40):  # the kernel spreads connections over both sockets
            name = f"user{i}"
            s.add_user(name, "pw")
            r = Raw(s.c2s_port)
            r.login(name, "pw", "r")
            r.send("<presence/>")
            streams[name] = r
            by_instance[instance_of(s, name)].append(name)
            if len(by_instance[0]) >= 2 and len(by_instance[1]) >= 2:
                break
        assert by_instance[0] and by_instance[1], by_instance
        a, b = by_instance[0][0], by_instance[1][0]
        streams[a].send(f"<message to='{b}@localhost/r' id='x1'><body>0 to 1</body></message>")
        m = streams[b].expect(r"<message[^>]*id='x1'[^>]*>")
        assert f"from='{a}@localhost/r'" in m.group(0)
        streams[b].send(f"<message to='{a}@localhost' id='x2'><body>1 to 0</body></message>")
        streams[a].expect(r"<message[^>]*id='x2'")
        # a component, on whichever instance takes it, serves users of both
        c = component_stream(port, COMP, "pw")
        c.expect("<handshake/>")  # sent once the router holds the route: both instances reach it
        for u in (a, b):
            streams[u].send(f"<message to='bot@{COMP}' id='to-comp-{u}'><body>hi</body></message>")
            c.expect(rf"<message[^>]*id='to-comp-{u}'")
            c.send(f"<message from='bot@{COMP}' to='{u}@localhost/r' id='from-comp-{u}'><body>yo</body></message>")
            streams[u].expect(rf"<message[^>]*id='from-comp-{u}'")
    finally:
        s.cleanup()


def _component(port, secret="pw"):
    c = component_stream(port, COMP, secret)
    c.expect("<handshake/>")
    return c


def test_component_replaced_across_instances():
    port = free_port()
    s = Server(c2s_workers=2, extra=f"""
listen component "127.0.0.1:{port}"
component "{COMP}" {{ secret "pw" }}
""")
    try:
        s.start()
        s.add_user("alice", "pw")
        a = Raw(s.c2s_port)
        a.login("alice", "pw", "r")
        old = _component(port)
        crossed = 0
        for i in range(12):  # each reconnection replaces the previous stream, wherever it is
            new = _component(port)  # its <handshake/> comes once the router routes to it
            a.send(f"<message to='{COMP}' id='m{i}'><body>x</body></message>")
            new.expect(rf"<message[^>]*id='m{i}'")
            old.stream_error("conflict")
            old = new
            crossed = s.log_text().count("component replaced by a connection elsewhere")
            if crossed >= 2:
                break
        assert crossed >= 1, "no reconnection landed on the other instance"
    finally:
        s.cleanup()
