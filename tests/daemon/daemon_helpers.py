"""Helpers for the daemon tests: settings without a file, polling, a daemon subprocess."""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditor.daemon.config import DaemonConfig
from auditor.daemon.metrics import AuditMetrics, AuditRecord

NOW = 1_700_000_000.0   # the fake end time of recorded audits
DRIFTS = ["db-single-az", "ecs-ssh-open"]   # applied to the mattilda deployment of these tests


def expected_failures() -> int:
    """Failing findings the drifts document (one per expected rule and resource), plus the info
    finding that mattilda's cost table leaves out the NAT gateway, secrets and alarms (tests/cost)."""
    from auditor.emulated import drifts
    return sum(len(drifts.get("mattilda", name).expect) for name in DRIFTS) + 1


def make_config(**overrides: Any) -> DaemonConfig:
    settings: dict[str, Any] = {"architecture": "mattilda", "max_attempts": 2,
                                "http": {"address": "127.0.0.1", "port": 0},
                                "schedule": {"interval_seconds": 3600}, "shutdown_grace_seconds": 2}
    settings.update(overrides)
    return DaemonConfig(**settings)


def record(store, result, ruleset, max_series=500, outcome="success"):
    """What the runner does with a finished audit, without running it again."""
    metrics = AuditMetrics.from_result(result, ruleset, max_series, NOW)
    store.record_audit(AuditRecord(metrics.labels, NOW, result.duration_seconds, outcome), metrics, result.api_stats)
    return metrics


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


class ServeProcess:
    """``python -m auditor serve`` in a subprocess, its stdout read line by line as JSON."""

    def __init__(self, config: Path, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen([sys.executable, "-m", "auditor", "serve", "--config", str(config)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        self.lines: list[dict] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_line(self, predicate: Callable[[dict], bool], timeout: float = 20.0) -> dict:
        """The next log line (each must be one JSON object) that matches ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no matching log line within {timeout} s: {self.lines[-5:]}") from None
            if line is None:
                raise AssertionError(f"the daemon exited ({self.proc.wait()}): {self.lines[-5:]}")
            record = json.loads(line)
            self.lines.append(record)
            if predicate(record):
                return record

    def rest(self) -> list[dict]:
        """Every line left once the daemon has exited, parsed."""
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(json.loads(line))
        return self.lines

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> tuple[int, float]:
        """SIGTERM, then the exit code and the seconds it took."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - t0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
