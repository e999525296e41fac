"""The state store and the notification channels as ``auditor serve`` and ``auditor audit --notify`` use them.

Each audit is given :meth:`Runtime.previous_snapshot`, the snapshot stored for its account and region,
to compute its changes before its result is built; after each finished audit, :meth:`Runtime.finish`:

1. rows of no known target are adopted (:meth:`auditor.state.StateStore.adopt`), the news is
   queued for every enabled channel and the new snapshot saved
   (:func:`auditor.snapshots.save_snapshot`), in one transaction;
2. each channel's outbox is delivered.

Audits of several targets may call these at once: one target's calls at a time hold the store.

An audit that could not run queues a notice (:meth:`Runtime.failed`). The first delivery pass
of a process sends everything still queued, whatever its backoff (:meth:`Runtime.deliver` with
``force``). Trouble with the state file or a channel is logged, never raised: it must not stop audits.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..changes import PreviousState
from ..snapshots import save_snapshot
from ..state import StateStore, utcnow
from .channel import AuditInfo, DeliveryStats
from .config import ChannelConfig, StateConfig
from .notifier import Notifier

if TYPE_CHECKING:
    from ..results import AuditResult

log = logging.getLogger("auditor.notify")


class Runtime:
    """Holds the open state file and the notifier of the enabled channels; rebuilt when
    ``state.path`` or a channel's settings change (a reload). Thread-safe: one audit or delivery at
    a time. Deliveries return each channel's counts, by channel name."""

    def __init__(self, clock: Callable[[], datetime] = utcnow, environ: Mapping[str, str] | None = None):
        self.clock = clock
        self._environ = environ
        self._lock = threading.RLock()
        self._store: StateStore | None = None
        self._path: Path | None = None
        self._notifier: Notifier | None = None
        self._channels: Sequence[ChannelConfig] | None = None
        self._delivered_once = False

    def configure(self, state: StateConfig, *channels: ChannelConfig) -> None:
        """Open ``state.path`` and the enabled ``channels`` (each config of a channel kind)."""
        with self._lock:
            path = Path(state.path)
            if self._store is None or path != self._path:
                self.close()
                self._store = StateStore(path)
                self._path = path
                self._delivered_once = False
                log.info(f"state file {path} (schema {self._store.schema_version}, {self._store.journal_mode})",
                         extra={"event": "state", "path": str(path)})
            if channels != self._channels or self._notifier is None:
                self._channels = channels
                self._notifier = None
                opened = []
                for config in channels:
                    if not config.enabled:
                        continue
                    try:
                        opened.append(config.open(self._environ, self.clock))
                    except ValueError as exc:   # no credentials (checked with the settings, so rare)
                        log.error(f"{config.name}: {exc}", extra={"event": "notify", "channel": config.name})
                if opened:
                    self._notifier = Notifier(self._store, opened, clock=self.clock)

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
            self._store, self._notifier, self._channels, self._path = None, None, None, None

    def previous_snapshot(self, account: str, region: str) -> PreviousState:
        """The snapshot state stored for the target and its time (None: none, no state file, or unreadable)."""
        with self._lock:
            if self._store is None:
                return None
            try:
                return self._store.previous_snapshot(account, region)
            except Exception as exc:  # noqa: BLE001 - e.g. sqlite3.DatabaseError: no changes this time
                log.error(f"state: cannot read the previous snapshot: {type(exc).__name__}: {exc}",
                          extra={"event": "state"})
                return None

    def finish(self, result: AuditResult, cancel: threading.Event | None = None) -> dict[str, DeliveryStats] | None:
        """Queue the news, save the snapshot, deliver. Returns the delivery counts (None without a channel)."""
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
               cancel: threading.Event | None = None) -> dict[str, DeliveryStats] | None:
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

    def deliver(self, cancel: threading.Event | None = None, force: bool | None = None) -> dict[str, DeliveryStats] | None:
        """Send what is queued; the first pass of a process sends everything (``force``)."""
        with self._lock:
            if self._notifier is None:
                return None
            force = (not self._delivered_once) if force is None else force
            try:
                stats = self._notifier.deliver(force=force, cancel=cancel)
            except Exception as exc:  # noqa: BLE001 - e.g. the state file went away
                log.error(f"notify: delivery pass failed: {type(exc).__name__}: {exc}", exc_info=exc,
                          extra={"event": "notify"})
                return None
            self._delivered_once = True
            return stats
