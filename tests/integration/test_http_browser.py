"""The web client in a real browser: Debian's chromium, driven headless by playwright-core from
npm, loads the Converse.js page the http worker serves from memory and must render its login form
(the screenshot is kept for a human to look at); then, from the https listener, it logs in through
that form and chats with a slixmpp client on c2s both ways."""
import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import harness

DRIVER = os.path.join(harness.ROOT, "tests", "integration", "webclient_browser.js")
NODE_PATH = os.path.join(harness.BUILD, "node", "node_modules")
WEB = os.path.join(harness.BUILD, "web")
SHOTS = os.path.join(harness.BUILD, "screenshots")


@pytest.fixture(scope="module")
def web_server():
    # make web is idempotent and offline once the tarball is cached
    subprocess.run(["sh", os.path.join(harness.ROOT, "tools", "webclient.sh")], check=True, timeout=300,
                   env=dict(os.environ, BUILD=harness.BUILD))
    assert shutil.which("chromium") or os.path.exists("/usr/bin/chromium"), "chromium missing: make deps"
    s = harness.Server(http=True, https=True, extra=f'server {{ webroot "{WEB}" }}\n')
    s.start()
    s.add_user("bob", "pw")  # the slixmpp side of the chat tests
    yield s
    s.cleanup()


def own_failures(seen, port):
    """Responses of the page's own origin with an error status: a missing asset (such as the
    OMEMO library's wasm) fails the test, whatever part of Converse asked for it."""
    return [(st, u) for st, u in seen["requests"] if f"localhost:{port}/" in u and st >= 400]


def run_browser(url, shot):
    profile = tempfile.mkdtemp(prefix="xmppd-chromium-")
    try:
        r = subprocess.run(["node", DRIVER, url, shot, profile], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, NODE_PATH=NODE_PATH))
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    assert lines, f"driver printed nothing (rc={r.returncode}): {r.stderr[-2000:]}"
    return json.loads(lines[-1])


@pytest.mark.parametrize("query", ["", "?transport=bosh"], ids=["websocket", "bosh"])
def test_web_client_renders_login_form(web_server, query):
    os.makedirs(SHOTS, exist_ok=True)
    shot = os.path.join(SHOTS, f"webclient-login{query.replace('?transport=', '-') or '-websocket'}.png")
    if os.path.exists(shot):
        os.unlink(shot)
    seen = run_browser(f"http://localhost:{web_server.http_port}/{query}", shot)
    assert seen["ok"], seen
    assert seen["converse"] == "object"
    assert seen["submit"] >= 1
    assert os.path.getsize(shot) > 10000
    statuses = {url.split(str(web_server.http_port), 1)[-1]: st for st, url in seen["requests"]}
    assert statuses.get("/" + query) == 200
    assert statuses.get("/dist/converse.min.js") in (200, 304)
    assert statuses.get("/dist/converse.min.css") in (200, 304)
    assert not own_failures(seen, web_server.http_port), statuses
    assert not seen["errors"], seen["errors"]
    # the page runs under the worker's Content-Security-Policy without a single violation
    assert not [m for m in seen["console"] if "Content Security Policy" in m or "Refused to" in m], seen["console"]


def roster_add(srv, user, jid, name):
    from c2s_raw import Raw
    r = Raw(srv.c2s_port)
    try:
        r.login(user, "pw", "setup")
        r.send(f"<iq type='set' id='ros1'><query xmlns='jabber:iq:roster'><item jid='{jid}' name='{name}'/>"
               "</query></iq>")
        r.expect(r"<iq [^>]*id='ros1'")
    finally:
        r.close()


async def browser_chat(srv, url, shot, user, peer_name, text_in, text_out):
    """Runs the driver in chat mode next to a slixmpp client: once the page is online the client
    writes to the page's session, and must get the page's answer. Returns (driver JSON, answer)."""
    bob = harness.Client("bob@localhost/tcp", "pw")
    assert await bob.login(srv.c2s_port)
    profile = tempfile.mkdtemp(prefix="xmppd-chromium-")
    proc = await asyncio.create_subprocess_exec(
        "node", DRIVER, url, shot, profile, f"{user}@localhost", "pw", peer_name, text_in, text_out,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ, NODE_PATH=NODE_PATH))
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 90)
        assert b'"stage":"online"' in line, (line, (await proc.stderr.read())[-2000:])
        bound = re.findall(rf'route bound" link=(http\.\d+) jid="({user}@localhost/[^"]+)"', srv.log_text())
        assert bound, "the page's session was not bound through the http worker"
        line = await asyncio.wait_for(proc.stdout.readline(), 60)  # the chat is open: bob may write
        assert b'"stage":"chat"' in line, (line, (await proc.stderr.read())[-2000:])
        bob.send_message(mto=bound[-1][1], mbody=text_in, mtype="chat")
        answer = asyncio.ensure_future(bob.next_message(60))
        # the driver's verdict first: it ends on success and on failure alike (its own waits after
        # "online" add up to under 90 s), so a page that never answered says at which step
        out = await asyncio.wait_for(proc.stdout.read(), 120)
        lines = [l for l in out.decode().splitlines() if l.startswith("{")]
        assert lines, "driver printed nothing"
        seen = json.loads(lines[-1])
        if not seen.get("ok"):
            answer.cancel()
            return seen, None
        return seen, await answer
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
        await bob.close()


TRANSPORTS = [("", "websocket", "websocket stream"), ("?transport=bosh", "bosh", "bosh session")]


@pytest.mark.parametrize("query,name,logged", TRANSPORTS, ids=[t[1] for t in TRANSPORTS])
def test_web_client_chats_with_a_tcp_client(web_server, query, name, logged):
    srv = web_server
    user = f"web{name}"
    srv.add_user(user, "pw")
    roster_add(srv, user, "bob@localhost", "Bob Tester")
    os.makedirs(SHOTS, exist_ok=True)
    shot = os.path.join(SHOTS, f"webclient-chat-{name}.png")
    if os.path.exists(shot):
        os.unlink(shot)
    text_in, text_out = f"hello {name} from slixmpp", f"hello from the browser over {name}"
    seen, answer = harness.run(browser_chat(srv, f"https://localhost:{srv.https_port}/{query}", shot, user,
                                            "Bob Tester", text_in, text_out), timeout=240)
    # on failure: the step, and whether text_in came over the page's WebSocket at all
    assert seen["ok"], (seen.get("textInShown"), "over the WebSocket:", bool(seen.get("wsIn")), seen.get("failure"))
    assert seen["received"] and seen["sent"]
    assert answer["body"] == text_out and str(answer["from"]).startswith(f"{user}@localhost/")
    assert os.path.getsize(shot) > 10000
    assert not own_failures(seen, srv.https_port), own_failures(seen, srv.https_port)
    # OMEMO's crypto library found its wasm in dist/, next to the bundle, so OMEMO stays enabled
    wasm = [st for st, u in seen["requests"] if u.endswith("/dist/curve25519_compiled.wasm")]
    assert wasm and set(wasm) <= {200, 304}, seen["requests"]
    assert not [m for m in seen["console"] + seen["errors"] if "wasm" in m], seen["console"] + seen["errors"]
    # the transport really used: the page's own connections and the worker's log
    wss = [u for u in seen["websockets"] if u.endswith("/xmpp-websocket")]
    if name == "websocket":
        assert wss == [f"wss://localhost:{srv.https_port}/xmpp-websocket"], seen["websockets"]
    else:
        assert not wss, seen["websockets"]
        binds = [st for st, u in seen["requests"] if u.endswith("/http-bind")]
        assert len(binds) >= 3 and set(binds) == {200}, binds  # creation, SASL, long polls
    assert logged in srv.log_text()
