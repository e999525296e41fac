"""Liveness and readiness.

``/healthz`` is 200 while the process serves HTTP at all. ``/readyz`` is 200 when an audit that
evaluated the rules (outcome ``success`` or ``incomplete``) finished within the readiness window
(two gaps between scheduled audits, plus the jitter), else 503 with a one-line reason. An audit
that failed (no credentials, ...) does not make the daemon ready: its metrics would be stale.
"""
from __future__ import annotations

from dataclasses import dataclass

from .metrics import MetricsState


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str


def check_readiness(state: MetricsState, now: float, window: float) -> Readiness:
    """Is the last evaluated audit (``state.results``) at most ``window`` seconds old at ``now``?"""
    last = state.last_audit
    failed = (f"; the last audit failed {now - last.finished_at:.0f} s ago"
              if last is not None and last.outcome == "failed" else "")
    results = state.results
    if results is None:
        running = " (one is running)" if state.running else ""
        return Readiness(False, f"no audit has completed yet{running}{failed}")
    age = now - results.finished_at
    if age > window:
        return Readiness(False, f"the last audit finished {age:.0f} s ago, more than {window:.0f} s{failed}")
    return Readiness(True, f"the last audit finished {max(age, 0):.0f} s ago (limit {window:.0f} s){failed}")
