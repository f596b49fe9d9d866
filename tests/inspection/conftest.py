import io
import sys

import pytest


class _Terminal(io.StringIO):
    """A captured stderr that says it is a terminal, so progress bars draw."""

    def isatty(self):
        return True


@pytest.fixture
def terminal(monkeypatch):
    """A function that replaces sys.stderr by a terminal-like buffer and returns the buffer.

    Call it in the test body: pytest re-installs its own capture of stderr after fixture setup.
    """
    def install():
        stream = _Terminal()
        monkeypatch.setattr(sys, "stderr", stream)
        return stream

    return install
