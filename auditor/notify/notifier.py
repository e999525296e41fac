"""The notifier: after each audit, turn its news into queued Slack messages (one transaction with
the lifecycle rows), then deliver the outbox.

Queueing and delivery are separate on purpose: :meth:`Notifier.after_audit` writes the messages
and the new lifecycle state together, before anything is sent, so a crash, a Slack outage or a
restart loses nothing; :meth:`Notifier.deliver` sends whatever is queued and due, and is also
called at daemon start.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..state import StateStore, iso, utcnow
from .config import SlackConfig
from .delivery import Deliverer, DeliveryStats, TokenTransport, Transport, WebhookTransport
from .lifecycle import Plan, health_notice, plan, plan_failed, target_of, waiver_notices
from .messages import AuditInfo, Composer, Templates
from .secrets import CredentialError, SecretReader, resolve

if TYPE_CHECKING:
    from ..audit import AuditResult

log = logging.getLogger("auditor.notify")


class Notifier:
    """Slack notifications over one :class:`StateStore`.

    ``transport`` is normally built from the credential on first delivery (an environment
    variable now, or a Secrets Manager secret read then); tests pass one. ``clock`` gives the
    current time (UTC), for reminders and backoff."""

    def __init__(self, store: StateStore, config: SlackConfig, *, environ: Mapping[str, str] | None = None,
                 read_secret: SecretReader | None = None, transport: Transport | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.config = config
        self.clock = clock
        self._environ = environ
        self._read_secret = read_secret
        self._transport = transport
        self.mode = transport.mode if transport is not None else config.mode(environ)
        self.composer = Composer(Templates(config.templates_dir, now=clock), config.dashboard_url,
                                 config.max_findings)

    @property
    def threads(self) -> bool:
        return self.mode == "token"

    def transport(self) -> Transport:
        if self._transport is None:
            credential = resolve(self.config, self._environ, self._read_secret)
            cls = TokenTransport if credential.mode == "token" else WebhookTransport
            self._transport = cls(credential, self.config)
            log.info(f"slack: {credential.mode} from {credential.source}", extra={"event": "slack"})
        return self._transport

    def _channel_for(self, severity: str) -> str | None:
        return self.config.channel_for(severity, self.mode)

    # -- queueing ----------------------------------------------------------------------------

    def after_audit(self, result: AuditResult, now: datetime | None = None) -> Plan:
        """Queue the news of a finished audit (outcome success or incomplete) and record the new
        lifecycle state of its target (account and region), in one transaction. Sends nothing."""
        now = now or self.clock()
        store = self.store
        target = target_of(result)
        with store.transaction():
            rows = store.open_findings(*target)
            p = plan(rows, result, now, self.config, self.mode, store.notices(waiver_notices(*target)),
                     self._health(target))
            parents = {}
            for r in p.resolved:
                if r.row.announced_outbox_id is not None:
                    parent = store.message(r.row.announced_outbox_id)
                    if parent is not None:
                        parents[parent.id] = parent.channel
            messages = self.composer.compose(p, AuditInfo.of(result), self._channel_for,
                                             self.config.default_channel(self.mode), self.threads, parents)
            at = iso(now)
            for m in messages:
                outbox_id = store.enqueue(m.kind, m.channel, m.payload, now, parent_id=m.parent_id)
                for key in m.announces:
                    if key in p.rows:
                        p.rows[key] = replace(p.rows[key], announced_outbox_id=outbox_id, announced_at=at,
                                              message_channel=None, message_ts=None, last_reminded_at=None)
            for row in p.rows.values():
                store.put_finding(row)
            for e in p.expired:
                store.set_notice(e.notice_key, "announced", now, {"waiver": dict(e.waiver)})
            self._record_health(p, target, now)
        if p.has_news:
            log.info(f"slack: {len(messages)} message(s) queued", extra={
                "event": "slack", "queued": len(messages), "new": len(p.new), "resolved": len(p.resolved),
                "reminders": len(p.reminders), "expired_waivers": len(p.expired),
                "changes": len(p.changes or ()), "health": p.health.state if p.health else None})
        return p

    def audit_failed(self, error: Mapping[str, Any], audit: AuditInfo | None = None,
                     now: datetime | None = None) -> Plan:
        """Queue the notice of an audit that could not run (once per target, until one completes)."""
        now = now or self.clock()
        info = audit or AuditInfo(None, None, None, None, iso(now))
        target = target_of(info)
        with self.store.transaction():
            p = plan_failed(error, self._health(target))
            for m in self.composer.notice(p, info, self.config.default_channel(self.mode)):
                self.store.enqueue(m.kind, m.channel, m.payload, now)
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

    def deliver(self, now: datetime | None = None, force: bool = False, cancel: Any = None) -> DeliveryStats:
        """Send what is queued and due (everything with ``force``); never raises for Slack or
        credential trouble: what is not confirmed stays queued."""
        now = now or self.clock()
        try:
            transport = self.transport()
        except CredentialError as exc:
            pending = self.store.pending_count()
            log.error(f"slack: {exc}; {pending} message(s) stay queued", extra={"event": "slack", "outcome": "failed"})
            return DeliveryStats(failed=1 if pending else 0, pending=pending)
        return Deliverer(self.store, transport, self.config).deliver(now, force=force, cancel=cancel)

    def notify(self, result: AuditResult, now: datetime | None = None, force: bool = False) -> DeliveryStats:
        """Queue the news of ``result``, then deliver."""
        self.after_audit(result, now)
        return self.deliver(now, force=force)


def compare_with_previous(store: StateStore, result: AuditResult) -> None:
    """Set ``result.changes`` from the previous snapshot of the audit's account and region
    (:func:`auditor.changes.attach_changes`)."""
    from ..changes import attach_changes

    attach_changes(result, store.previous_snapshot(*target_of(result)))


def save_snapshot(store: StateStore, result: AuditResult, now: datetime) -> None:
    """Keep this audit's snapshot for the next comparison of its account and region; types that
    failed to collect keep their previous state (:func:`auditor.changes.carry_forward`)."""
    from ..changes import carry_forward, snapshot_state

    target = target_of(result)
    previous = store.previous_snapshot(*target)
    store.save_snapshot(*target, carry_forward(previous[0] if previous else None, snapshot_state(result.snapshot)),
                        now)
