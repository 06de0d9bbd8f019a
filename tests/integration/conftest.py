import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
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
