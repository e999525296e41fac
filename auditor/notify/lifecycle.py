"""What an audit means for notifications: the news, from the stored lifecycle, this audit and the time.

Pure: :func:`plan` reads the open finding rows of the state store, the audit result, ``now`` and
a :class:`Routing` (which channels take a finding of each severity) and returns a :class:`Plan`
(the news and the rows to write); it touches no database and no network. An audit is of one
target (its account and region): it reads and writes that target's rows and notices only, so
audits of other targets sharing the store never resolve its findings.
The rules:

- **new**: a failing finding (not waived) that some channel takes (its ``min_severity``) and that
  no message has announced yet (also one that was waived and is failing again);
- **resolved**: an announced finding that now passes (``fixed``), whose resource or rule is gone
  (``gone``: no finding for it, and its rule did not report ``error``), or that a waiver now
  accepts (``waived``). A finding whose rule could not be evaluated (``error``, a failed AWS call)
  is neither resolved nor refreshed: its state is unknown;
- **reminders**: a still-failing, announced critical finding whose last announcement or reminder
  is at least the routing's ``reminder_interval`` old;
- **expired waivers**: a waiver that expired with its finding still failing, announced once
  (notice ``waiver_expired:<account>|<region>|<rule>|<resource>|<expiry>``);
- **health**: an audit that failed or was degraded (a collection error) after a healthy one gives
  one ``degraded`` notice; the next complete audit after that gives one ``recovered`` (notice
  ``audit_health:<account>|<region>``, one per target);
- **changes**: what changed since the previous snapshot (``result.changes``): a section of the
  audit's message when it has one; news on their own only when a channel sets ``notify_on_changes``.

An audit with none of these has no news: nothing is sent.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..model import Finding
from ..state import HEALTH_NOTICE, WAIVER_NOTICE, FindingRow, iso, key_of, parse_iso

if TYPE_CHECKING:
    from ..results import AuditResult

REMINDED_SEVERITIES = ("critical",)


def target_of(audit: Any) -> tuple[str, str]:
    """(account, region) of an audit result or AuditInfo; "" where unknown."""
    return (getattr(audit, "account", None) or "", getattr(audit, "region", None) or "")


def health_notice(account: str, region: str) -> str:
    """The key of the audit-health notice of one target."""
    return f"{HEALTH_NOTICE}{account}|{region}"


def waiver_notices(account: str, region: str) -> str:
    """The key prefix of the expired-waiver notices of one target."""
    return f"{WAIVER_NOTICE}{account}|{region}|"


@dataclass(frozen=True)
class Routing:
    """Where news goes: ``route(severity)`` names the channels that take a finding of that severity
    (none: it is not news); how often a still-failing critical finding is re-announced; whether
    changes are news on their own."""

    route: Callable[[str], Collection[str]]
    reminder_interval: float = 86400.0
    changes_alone: bool = False


@dataclass(frozen=True)
class Resolution:
    row: FindingRow
    reason: str                     # fixed, gone, waived
    finding: Finding | None = None  # the current finding (pass or waived), None when gone


@dataclass(frozen=True)
class Expired:
    waiver: Mapping[str, Any]   # rule_id, resource, reason, owner, expires, source
    finding: Finding
    account: str = ""
    region: str = ""

    @property
    def notice_key(self) -> str:
        return (f"{waiver_notices(self.account, self.region)}{self.finding.rule_id}|"
                f"{self.finding.resource.get('id')}|{self.waiver.get('expires')}")


@dataclass(frozen=True)
class Health:
    state: str                  # degraded or recovered
    errors: tuple[Mapping[str, Any], ...] = ()
    since: str | None = None    # recovered: when the trouble started
    failed: bool = False        # degraded because the audit could not run at all


@dataclass
class Plan:
    new: list[Finding] = field(default_factory=list)
    resolved: list[Resolution] = field(default_factory=list)
    reminders: list[tuple[FindingRow, Finding]] = field(default_factory=list)
    expired: list[Expired] = field(default_factory=list)
    health: Health | None = None
    changes: list[Any] | None = None          # auditor.changes.ResourceChange since the previous audit
    compared_to: str | None = None
    changes_alone: bool = False                # changes are news even without anything else
    rows: dict[str, FindingRow] = field(default_factory=dict)   # lifecycle rows to write, by key
    health_state: str | None = None            # the audit_health notice to store (ok/degraded/failed)

    @property
    def has_news(self) -> bool:
        return bool(self.new or self.resolved or self.reminders or self.expired or self.health
                    or (self.changes and self.changes_alone))



def finding_key(f: Finding, account: str, region: str) -> str:
    return key_of(account, region, f.rule_id, str(f.resource.get("id")))


def _new_row(f: Finding, status: str, at: str, account: str, region: str) -> FindingRow:
    r = f.resource
    return FindingRow(key=finding_key(f, account, region), rule_id=f.rule_id, resource_type=str(r.get("type")),
                      resource_id=str(r.get("id")), resource_name=r.get("name"), title=f.title,
                      severity=f.severity, status=status, first_seen=at, last_seen=at, detail=f.as_dict(),
                      account=account, region=region)


def _due(row: FindingRow, now: datetime, interval: float) -> bool:
    last = row.last_reminded_at or row.announced_at
    return last is not None and parse_iso(last) + timedelta(seconds=interval) <= now


def health_of(result: AuditResult | None) -> str:
    if result is None:
        return "failed"
    return "ok" if result.complete else "degraded"


def _health(previous: str | None, since: str | None, current: str, errors: Iterable[Mapping[str, Any]]) -> Health | None:
    was_healthy = previous in (None, "ok")
    if current == "ok":
        return None if was_healthy else Health("recovered", since=since)
    if was_healthy:
        return Health("degraded", tuple(errors), failed=current == "failed")
    return None


def plan(rows: Mapping[str, FindingRow], result: AuditResult, now: datetime, routing: Routing,
         announced_notices: Iterable[str] = (), health: tuple[str, str] | None = None) -> Plan:
    """The news of one finished audit (outcome success or incomplete) and the rows to write.

    ``rows``: the open findings of the audit's target; ``announced_notices``: notice keys already
    announced; ``health``: the stored (state, since) of the target's audit health notice."""
    at = iso(now)
    account, region = target_of(result)
    rows = {k: r for k, r in rows.items() if (r.account, r.region) == (account, region)}
    out = Plan()
    routed = {f.severity: bool(routing.route(f.severity)) for f in result.findings}
    errored_rules = {f.rule_id for f in result.findings if f.status == "error"}
    current: dict[str, Finding] = {}
    for f in result.findings:
        current.setdefault(finding_key(f, account, region), f)   # one finding per rule and resource

    expired_by_key: dict[str, Expired] = {}
    outcome = getattr(result, "waivers", None)
    seen_notices = set(announced_notices)
    for waiver, f in (outcome.expired if outcome is not None else ()):
        item = Expired(waiver.as_dict(getattr(outcome, "today", None)) if hasattr(waiver, "as_dict") else dict(waiver), f,
                       account, region)
        if f.status == "fail" and routed.get(f.severity) and item.notice_key not in seen_notices:
            expired_by_key.setdefault(finding_key(f, account, region), item)
    out.expired = list(expired_by_key.values())

    for key, f in current.items():
        row = rows.get(key)
        if f.status == "fail":
            if row is None:
                row = _new_row(f, "fail", at, account, region)
            was_waived = row.status == "waived"
            row = replace(row, status="fail", last_seen=at, severity=f.severity, title=f.title,
                          resource_name=f.resource.get("name"), detail=f.as_dict())
            if was_waived:   # failing again: announce afresh (the old thread ended with "waived")
                row = replace(row, announced_outbox_id=None, announced_at=None, delivered_to=None,
                              delivery_ref=None, last_reminded_at=None)
            out.rows[key] = row
            if not routed.get(f.severity):
                continue
            if key in expired_by_key:
                continue                           # announced in the expired-waivers section
            if not row.announced:
                out.new.append(f)
            elif f.severity in REMINDED_SEVERITIES and _due(row, now, routing.reminder_interval):
                out.reminders.append((row, f))
                out.rows[key] = replace(row, last_reminded_at=at)
        elif f.status == "waived":
            if row is None:
                out.rows[key] = _new_row(f, "waived", at, account, region)
                continue
            if row.status == "fail" and row.announced:
                out.resolved.append(Resolution(row, "waived", f))
            out.rows[key] = replace(row, status="waived", last_seen=at, detail=f.as_dict())
        elif f.status == "pass" and row is not None:
            if row.status == "fail" and row.announced:
                out.resolved.append(Resolution(row, "fixed", f))
            out.rows[key] = replace(row, status="resolved", resolved_at=at, last_seen=at)
        # error: unknown, leave the row as it is

    for key, row in rows.items():
        if key in current or row.rule_id in errored_rules:
            continue
        if row.status == "fail" and row.announced:
            out.resolved.append(Resolution(row, "gone"))
        out.rows[key] = replace(row, status="resolved", resolved_at=at)

    previous_health, since = health if health else (None, None)
    state = health_of(result)
    out.health = _health(previous_health, since, state, [e.as_dict() for e in result.errors])
    out.health_state = state
    changes = getattr(result, "changes", None)
    if changes:
        out.changes = list(changes)
        out.compared_to = getattr(result, "compared_to", None)
        out.changes_alone = routing.changes_alone
    return out


def plan_failed(error: Mapping[str, Any], health: tuple[str, str] | None) -> Plan:
    """The news of an audit that could not run: a degraded notice if the last one was healthy."""
    previous_health = health[0] if health else None
    return Plan(health=_health(previous_health, None, "failed", [error]), health_state="failed")
