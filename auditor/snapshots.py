"""The snapshot of each target's last audit, kept in the state store to report what changed."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .state import StateStore

if TYPE_CHECKING:
    from .results import AuditResult


def save_snapshot(store: StateStore, result: AuditResult, now: datetime) -> None:
    """Keep this audit's snapshot for the next comparison of its account and region; types that
    failed to collect keep their previous state (:func:`auditor.changes.carry_forward`)."""
    from .changes import carry_forward, snapshot_state

    target = (result.account or "", result.region or "")
    previous = store.previous_snapshot(*target)
    store.save_snapshot(*target, carry_forward(previous[0] if previous else None, snapshot_state(result.snapshot)),
                        now)
