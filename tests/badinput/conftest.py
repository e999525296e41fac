"""Each bad-input test starts and ends with the root logger as it found it: the daemon's tests
install JSON log handlers on streams that pytest closes afterwards."""
from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _root_logger_restored():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
