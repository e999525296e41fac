"""The channel interface, and the outbox delivery every channel shares.

A :class:`Channel` is a renderer (a :class:`~auditor.notify.lifecycle.Plan` -> :class:`Outgoing`
messages, each to one of its destinations) plus a :class:`Transport` (sends one message, and
where it can, tells whether an earlier attempt of unknown outcome arrived). The notifier queues
each channel's messages in the outbox under the channel's name; :class:`Deliverer` sends one
channel's queue in order, so one channel down never holds up another.

A message is marked sent only when its transport confirms it. A failure records the error and
sets the next attempt with an exponential backoff (``outbox_backoff_seconds`` doubling up to
``outbox_max_backoff_seconds``, or longer if the channel asked to wait); it stops the pass, or
only that destination for an error that concerns it alone, so messages to one destination never
overtake each other.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from threading import Event
from typing import Any, Protocol
from urllib.parse import urlencode

from ..state import OutboxRow, StateStore, parse_iso
from .config import ChannelConfig
from .lifecycle import Plan
from .secrets import RedactSecrets

log = logging.getLogger("auditor.notify")


@dataclass(frozen=True)
class AuditInfo:
    """What a message says about the audit it is about."""

    architecture: str | None
    environment: str | None
    account: str | None
    region: str | None
    started_at: str | None

    @classmethod
    def of(cls, result: Any) -> AuditInfo:
        return cls(result.architecture, result.environment, result.account, result.region, result.started_at)


def dashboard_link(url: str | None, audit: AuditInfo) -> str | None:
    """The dashboard URL with its variables set to this audit (architecture, environment, account)."""
    if not url:
        return None
    params = {f"var-{k}": v for k, v in (("architecture", audit.architecture), ("environment", audit.environment),
                                         ("account", audit.account)) if v}
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(params)


@dataclass
class Outgoing:
    """One message to queue: where, what, and which findings it announces or reminds of."""

    kind: str                                  # alert, resolved, notice
    destination: str                           # where in the channel ("" for the channel's only one)
    payload: dict[str, Any]                    # what the transport sends, as the renderer built it
    announces: list[str] = field(default_factory=list)   # finding keys this message announces
    parent_id: int | None = None               # outbox id of the message this replies to (thread)


@dataclass(frozen=True)
class Posted:
    """Where a delivered message is, as the channel said (None where it says nothing)."""

    delivered_to: str | None
    ref: str | None


class DeliveryError(Exception):
    """A message was not confirmed. ``in_doubt``: the channel may have it (read timeout, connection
    lost after sending). ``retry_after``: seconds the channel asked to wait. ``destination_only``:
    only this destination is affected (others may go on). ``refused``: the channel answered no
    (not an outage, a rate limit or a server error)."""

    def __init__(self, message: str, *, in_doubt: bool = False, retry_after: float | None = None,
                 destination_only: bool = False, refused: bool = False):
        super().__init__(RedactSecrets.scrub(message))
        self.in_doubt = in_doubt
        self.retry_after = retry_after
        self.destination_only = destination_only
        self.refused = refused


class Transport(Protocol):
    threads: bool   # replies go in the thread of the message they answer; find() can tell

    def post(self, destination: str, payload: Mapping[str, Any], thread_ref: str | None,
             metadata: Mapping[str, Any]) -> Posted: ...

    def find(self, destination: str, thread_ref: str | None, oldest: float,
             metadata: Mapping[str, Any]) -> Posted | None:
        """The message with this metadata if the channel has it; None if not; raises DeliveryError if it cannot tell."""
        ...


class Channel(Protocol):
    """A notification channel: its settings, where each finding goes, its renderer and transport."""

    config: ChannelConfig
    threads: bool

    @property
    def name(self) -> str: ...

    def destination(self, severity: str) -> str | None:
        """Where a finding of ``severity`` goes; None: this channel does not take it."""
        ...

    @property
    def default_destination(self) -> str: ...

    def render(self, plan: Plan, audit: AuditInfo, parents: Mapping[int, str]) -> list[Outgoing]:
        """The messages of one audit's news; ``parents``: outbox id -> destination of this channel's
        messages that announced the findings now resolved (for replies)."""
        ...

    def render_notice(self, plan: Plan, audit: AuditInfo) -> list[Outgoing]:
        """The message of an audit that could not run."""
        ...

    def transport(self) -> Transport:
        """The transport, built on first use (raises CredentialError when a secret cannot be read)."""
        ...


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    pending: int = 0


class Deliverer:
    """Sends one channel's outbox in order, oldest first."""

    def __init__(self, store: StateStore, channel: str, transport: Transport, config: ChannelConfig):
        self.store = store
        self.channel = channel
        self.transport = transport
        self.config = config

    def backoff(self, attempts: int) -> float:
        base = self.config.outbox_backoff_seconds
        return min(base * (2 ** max(0, attempts - 1)), self.config.outbox_max_backoff_seconds)

    def deliver(self, now: datetime, force: bool = False, cancel: Event | None = None) -> DeliveryStats:
        """One pass over the channel's unsent messages due at ``now`` (all of them with ``force``)."""
        stats = DeliveryStats()
        blocked: set[str] = set()
        extra = {"event": "notify", "channel": self.channel}
        for row in self.store.unsent(self.channel):
            if cancel is not None and cancel.is_set():
                break
            destination, thread_ref, ready = self._target(row)
            if not ready or destination in blocked:
                blocked.add(destination)
                continue
            if not force and parse_iso(row.next_attempt_at) > now:
                blocked.add(destination)
                continue
            try:
                posted = self._send(row, destination, thread_ref, now)
            except DeliveryError as exc:
                stats.failed += 1
                attempts = (self.store.message(row.id) or row).attempts
                wait = max(self.backoff(attempts), exc.retry_after or 0.0)
                self.store.mark_failed(row.id, str(exc), now + timedelta(seconds=wait), exc.in_doubt)
                log.warning(f"{self.channel} message {row.id} not delivered ({exc}); queued, next attempt in {wait:.0f} s",
                            extra={**extra, "outcome": "failed", "outbox_id": row.id, "kind": row.kind,
                                   "attempts": attempts, "in_doubt": exc.in_doubt})
                if exc.destination_only:
                    blocked.add(destination)
                    continue
                break
            self.store.mark_sent(row.id, posted.delivered_to, posted.ref, now)
            stats.sent += 1
            log.info(f"{self.channel} message {row.id} delivered",
                     extra={**extra, "outcome": "sent", "outbox_id": row.id, "kind": row.kind})
        stats.pending = self.store.pending_count(self.channel)
        return stats

    def _target(self, row: OutboxRow) -> tuple[str, str | None, bool]:
        """(destination, thread_ref, ready): a reply waits for the message it replies to."""
        if row.parent_id is None or not self.transport.threads:
            return row.destination, row.thread_ref, True
        parent = self.store.message(row.parent_id)
        if parent is None:
            return row.destination, None, True
        if parent.sent_at is None:
            return parent.destination, None, False
        if not parent.delivery_ref:   # the parent went out without a reference: no thread to reply in
            return row.destination, None, True
        return parent.delivered_to or parent.destination, parent.delivery_ref, True

    def _send(self, row: OutboxRow, destination: str, thread_ref: str | None, now: datetime) -> Posted:
        metadata = {"store": self.store.store_id, "outbox_id": row.id}
        if row.in_flight_since is not None and self.transport.threads:
            # The last attempt may have arrived: look before posting again.
            since = parse_iso(row.in_flight_since).timestamp() - 600   # clock skew margin
            try:
                found = self.transport.find(destination, thread_ref, since, metadata)
            except DeliveryError as exc:
                if not exc.refused:   # the channel is down or busy: ask again later
                    raise
                log.warning(f"{self.channel} message {row.id}: cannot check whether an earlier attempt arrived "
                            f"({exc}); sending it again", extra={"event": "notify", "channel": self.channel,
                                                                 "outbox_id": row.id})
                found = None
            if found is not None:
                log.info(f"{self.channel} message {row.id} had arrived on an earlier attempt",
                         extra={"event": "notify", "channel": self.channel, "outbox_id": row.id})
                return found
        self.store.mark_in_flight(row.id, now)
        return self.transport.post(destination, row.payload, thread_ref, metadata)
