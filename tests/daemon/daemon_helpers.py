"""Helpers for the daemon tests: settings without a file, polling, a daemon subprocess."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from auditor.daemon.config import DaemonConfig


def make_config(**overrides: Any) -> DaemonConfig:
    settings: dict[str, Any] = {"architecture": "mattilda", "max_attempts": 2,
                                "http": {"address": "127.0.0.1", "port": 0},
                                "schedule": {"interval_seconds": 3600}, "shutdown_grace_seconds": 2}
    settings.update(overrides)
    return DaemonConfig(**settings)



def wait_for(condition: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")
