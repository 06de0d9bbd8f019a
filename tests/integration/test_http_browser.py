"""The web client in a real browser: Debian's chromium, driven headless by playwright-core from
npm, loads the Converse.js page the http worker serves from memory and must render its login form
(the screenshot is kept for a human to look at). Logging in waits for XMPP sessions over WebSocket."""
import json
import os
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
    s = harness.Server(http=True, extra=f'server {{ webroot "{WEB}" }}\n')
    s.start()
    yield s
    s.cleanup()


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
    assert not [u for u, st in statuses.items() if st >= 400 and "/dist/" in u], statuses
    assert not seen["errors"], seen["errors"]
    # the page runs under the worker's Content-Security-Policy without a single violation
    assert not [m for m in seen["console"] if "Content Security Policy" in m or "Refused to" in m], seen["console"]
