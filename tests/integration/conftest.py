import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Server  # noqa: E402


@pytest.fixture
def server():
    s = Server()
    s.start()
    yield s
    s.cleanup()


@pytest.fixture
def server_factory():
    made = []

    def make(**kw):
        s = Server(**kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.cleanup()


LOG_LINES = 150


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report ends with the last lines of each running server's log, so a failure
    seen only in CI (where the test directories are gone) can still be read."""
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    for s in list(harness.RUNNING):
        lines = s.log_text().splitlines()[-LOG_LINES:]
        rep.sections.append((f"xmppd log ({s.base}, last {len(lines)} lines)", "\n".join(lines)))
