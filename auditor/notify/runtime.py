"""The state store and the Slack notifier as ``auditor serve`` and ``auditor audit --slack`` use them.

After each finished audit (:meth:`Runtime.compare` before the metrics and the report, then
:meth:`Runtime.finish`):

1. ``result.changes`` is computed against the snapshot stored for the audit's account and region
   (:func:`auditor.changes.attach_changes`);
2. rows of no known target are adopted (:meth:`auditor.state.StateStore.adopt`), the Slack news is
   queued and the new snapshot saved, in one transaction;
3. the outbox is delivered.

Audits of several targets may call these at once: one target's calls at a time hold the store.

An audit that could not run queues a notice (:meth:`Runtime.failed`). The first delivery pass
of a process sends everything still queued, whatever its backoff (:meth:`Runtime.deliver` with
``force``). Trouble with the state file or Slack is logged, never raised: it must not stop audits.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..state import StateError, StateStore, utcnow
from .config import SlackConfig, StateConfig
from .delivery import DeliveryStats
from .messages import AuditInfo
from .notifier import Notifier, compare_with_previous, save_snapshot

if TYPE_CHECKING:
    from ..audit import AuditResult

log = logging.getLogger("auditor.notify")


class Runtime:
    """Holds the open state file and notifier; rebuilt when ``state.path`` or ``slack.*`` change
    (a reload). Thread-safe: one audit or delivery at a time."""

    def __init__(self, clock: Callable[[], datetime] = utcnow, environ: Mapping[str, str] | None = None,
                 notifier_factory: Callable[..., Notifier] | None = None):
        self.clock = clock
        self._environ = environ
        self._factory = notifier_factory or Notifier
        self._lock = threading.RLock()
        self._store: StateStore | None = None
        self._path: Path | None = None
        self._notifier: Notifier | None = None
        self._slack: SlackConfig | None = None
        self._delivered_once = False

    def configure(self, state: StateConfig, slack: SlackConfig) -> None:
        with self._lock:
            path = Path(state.path)
            if self._store is None or path != self._path:
                self.close()
                self._store = StateStore(path)
                self._path = path
                self._delivered_once = False
                log.info(f"state file {path} (schema {self._store.schema_version}, {self._store.journal_mode})",
                         extra={"event": "state", "path": str(path)})
            if slack != self._slack or (self._notifier is None and slack.enabled):
                self._slack = slack
                self._notifier = None
                if slack.enabled:
                    try:
                        self._notifier = self._factory(self._store, slack, environ=self._environ, clock=self.clock)
                    except ValueError as exc:   # no credentials (checked with the settings, so rare)
                        log.error(f"slack: {exc}", extra={"event": "slack"})

    @property
    def store(self) -> StateStore | None:
        return self._store

    @property
    def notifier(self) -> Notifier | None:
        return self._notifier

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
            self._store, self._notifier, self._slack, self._path = None, None, None, None

    def compare(self, result: AuditResult) -> None:
        """Set ``result.changes`` from the previous snapshot (before metrics and reports)."""
        with self._lock:
            if self._store is None:
                return
            try:
                compare_with_previous(self._store, result)
            except (StateError, OSError, ValueError) as exc:
                log.error(f"state: cannot read the previous snapshot: {exc}", extra={"event": "state"})

    def finish(self, result: AuditResult, cancel: threading.Event | None = None) -> DeliveryStats | None:
        """Queue the news, save the snapshot, deliver. Returns the delivery counts (None without Slack)."""
        with self._lock:
            if self._store is None:
                return None
            now = self.clock()
            try:
                with self._store.transaction():
                    self._store.adopt(result.account, result.region)
                    if self._notifier is not None:
                        self._notifier.after_audit(result, now)
                    save_snapshot(self._store, result, now)
            except Exception as exc:  # noqa: BLE001 - the state file must never stop audits
                log.error(f"state: cannot record the audit: {type(exc).__name__}: {exc}", exc_info=exc,
                          extra={"event": "state"})
                return None
            return self.deliver(cancel=cancel)

    def failed(self, error: Exception | Mapping[str, Any], audit: AuditInfo | None = None,
               cancel: threading.Event | None = None) -> DeliveryStats | None:
        """An audit that could not run: one notice (until an audit completes), then deliver."""
        with self._lock:
            if self._notifier is None:
                return None
            detail = dict(error) if isinstance(error, Mapping) else {"exception": type(error).__name__,
                                                                     "message": str(error)}
            try:
                self._notifier.audit_failed(detail, audit)
            except Exception as exc:  # noqa: BLE001
                log.error(f"state: cannot record the failed audit: {type(exc).__name__}: {exc}", extra={"event": "state"})
                return None
            return self.deliver(cancel=cancel)

    def deliver(self, cancel: threading.Event | None = None, force: bool | None = None) -> DeliveryStats | None:
        """Send what is queued; the first pass of a process sends everything (``force``)."""
        with self._lock:
            if self._notifier is None:
                return None
            force = (not self._delivered_once) if force is None else force
            try:
                stats = self._notifier.deliver(force=force, cancel=cancel)
            except Exception as exc:  # noqa: BLE001 - e.g. the state file went away
                log.error(f"slack: delivery pass failed: {type(exc).__name__}: {exc}", exc_info=exc,
                          extra={"event": "slack"})
                return None
            self._delivered_once = True
            return stats
