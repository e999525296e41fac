"""The notifier: after each audit, turn its news into queued messages of every channel (one
transaction with the lifecycle rows), then deliver each channel's outbox.

Queueing and delivery are separate on purpose: :meth:`Notifier.after_audit` writes the messages
and the new lifecycle state together, before anything is sent, so a crash, an outage or a
restart loses nothing; :meth:`Notifier.deliver` sends whatever is queued and due, and is also
called at daemon start. A finding's announcement is the message of the first channel (in
configuration order) that announced it: that channel's replies go in its thread.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..state import StateStore, iso, utcnow
from .channel import AuditInfo, Channel, Deliverer, DeliveryStats
from .lifecycle import Plan, Routing, health_notice, plan, plan_failed, target_of, waiver_notices
from .secrets import CredentialError

if TYPE_CHECKING:
    from ..results import AuditResult

log = logging.getLogger("auditor.notify")


def routing(channels: Sequence[Channel]) -> Routing:
    """The channels' routing: each takes the severities of its ``min_severity``; the shortest
    reminder interval; changes alone when any channel wants them."""
    return Routing(route=lambda severity: tuple(c.name for c in channels if c.destination(severity) is not None),
                   reminder_interval=min((c.config.reminder_interval for c in channels), default=86400.0),
                   changes_alone=any(c.config.notify_on_changes for c in channels))


class Notifier:
    """Notifications through ``channels`` over one :class:`StateStore`. ``clock`` gives the
    current time (UTC), for reminders and backoff."""

    def __init__(self, store: StateStore, channels: Sequence[Channel], *, clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.channels = tuple(channels)
        self.clock = clock
        self.routing = routing(self.channels)

    # -- queueing ----------------------------------------------------------------------------

    def after_audit(self, result: AuditResult, now: datetime | None = None) -> Plan:
        """Queue the news of a finished audit (outcome success or incomplete) and record the new
        lifecycle state of its target (account and region), in one transaction. Sends nothing."""
        now = now or self.clock()
        store = self.store
        target = target_of(result)
        audit = AuditInfo.of(result)
        queued = 0
        with store.transaction():
            rows = store.open_findings(*target)
            p = plan(rows, result, now, self.routing, store.notices(waiver_notices(*target)), self._health(target))
            announced: set[str] = set()
            at = iso(now)
            for channel in self.channels:
                view = replace(p, resolved=[r for r in p.resolved if channel.destination(r.row.severity) is not None])
                for m in channel.render(view, audit, self._parents(channel, view)):
                    outbox_id = store.enqueue(channel.name, m.kind, m.destination, m.payload, now, parent_id=m.parent_id)
                    queued += 1
                    for key in m.announces:
                        if key in p.rows and key not in announced:
                            announced.add(key)
                            p.rows[key] = replace(p.rows[key], announced_outbox_id=outbox_id, announced_at=at,
                                                  delivered_to=None, delivery_ref=None, last_reminded_at=None)
            for row in p.rows.values():
                store.put_finding(row)
            for e in p.expired:
                store.set_notice(e.notice_key, "announced", now, {"waiver": dict(e.waiver)})
            self._record_health(p, target, now)
        if p.has_news:
            log.info(f"notify: {queued} message(s) queued", extra={
                "event": "notify", "queued": queued, "new": len(p.new), "resolved": len(p.resolved),
                "reminders": len(p.reminders), "expired_waivers": len(p.expired),
                "changes": len(p.changes or ()), "health": p.health.state if p.health else None})
        return p

    def _parents(self, channel: Channel, p: Plan) -> dict[int, str]:
        """Outbox id -> destination of this channel's messages that announced the resolved findings."""
        parents = {}
        for r in p.resolved:
            if r.row.announced_outbox_id is not None:
                parent = self.store.message(r.row.announced_outbox_id)
                if parent is not None and parent.channel == channel.name:
                    parents[parent.id] = parent.destination
        return parents

    def audit_failed(self, error: Mapping[str, Any], audit: AuditInfo | None = None,
                     now: datetime | None = None) -> Plan:
        """Queue the notice of an audit that could not run (once per target, until one completes)."""
        now = now or self.clock()
        info = audit or AuditInfo(None, None, None, None, iso(now))
        target = target_of(info)
        with self.store.transaction():
            p = plan_failed(error, self._health(target))
            for channel in self.channels:
                for m in channel.render_notice(p, info):
                    self.store.enqueue(channel.name, m.kind, m.destination, m.payload, now)
            self._record_health(p, target, now)
        return p

    def _health(self, target: tuple[str, str]) -> tuple[str, str] | None:
        notice = self.store.notice(health_notice(*target))
        return (notice[0], notice[2]) if notice else None

    def _record_health(self, p: Plan, target: tuple[str, str], now: datetime) -> None:
        if p.health_state is None:
            return
        previous = self._health(target)
        healthy = p.health_state == "ok"
        if previous is None or (previous[0] == "ok") != healthy:
            self.store.set_notice(health_notice(*target), p.health_state, now)

    # -- delivery ----------------------------------------------------------------------------

    def deliver(self, now: datetime | None = None, force: bool = False, cancel: Any = None) -> dict[str, DeliveryStats]:
        """Send what is queued and due (everything with ``force``), channel by channel; returns each
        channel's counts. Never raises for a channel's trouble: what is not confirmed stays queued,
        and the other channels go on."""
        now = now or self.clock()
        out = {}
        for channel in self.channels:
            try:
                transport = channel.transport()
            except CredentialError as exc:
                pending = self.store.pending_count(channel.name)
                log.error(f"{channel.name}: {exc}; {pending} message(s) stay queued",
                          extra={"event": "notify", "channel": channel.name, "outcome": "failed"})
                out[channel.name] = DeliveryStats(failed=1 if pending else 0, pending=pending)
                continue
            try:
                out[channel.name] = Deliverer(self.store, channel.name, transport, channel.config).deliver(
                    now, force=force, cancel=cancel)
            except Exception as exc:  # noqa: BLE001 - one channel's trouble never holds up the others
                log.error(f"{channel.name}: delivery pass failed: {type(exc).__name__}: {exc}", exc_info=exc,
                          extra={"event": "notify", "channel": channel.name})
        return out

    def notify(self, result: AuditResult, now: datetime | None = None, force: bool = False) -> dict[str, DeliveryStats]:
        """Queue the news of ``result``, then deliver."""
        self.after_audit(result, now)
        return self.deliver(now, force=force)
