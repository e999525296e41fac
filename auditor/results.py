"""What an audit produces, built once and never changed afterwards: findings, the changes since the
previous snapshot, costs and waivers of one target (:class:`AuditResult`), or of many (:class:`FleetResult`);
and the records they hold (:class:`ResourceChange`, :class:`Waiver` and :class:`WaiverOutcome`).

Reporters, metrics and notifications read these; only :mod:`auditor.audit` builds them."""
from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .model import SEVERITIES, CollectorError, Finding, Snapshot, truncate

if TYPE_CHECKING:
    from .aws import ApiStats
    from .cost.deployment import DeploymentCost
    from .targets import Target

KINDS = ("added", "removed", "changed")
_STATUS_ORDER = {"fail": 0, "error": 1, "waived": 2, "pass": 3, "skip": 4}


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Failing first, then by severity, rule and resource."""
    return sorted(findings, key=lambda f: (_STATUS_ORDER[f.status], SEVERITIES.index(f.severity),
                                           f.rule_id, str(f.resource.get("id")),
                                           str(f.resource.get("account")), str(f.resource.get("region"))))


def short(value: Any, limit: int = 200) -> str:
    """A value for people: strings bare, else compact JSON without the null fields of a record
    (``{"cidr": "0.0.0.0/0", "from_port": 22, ...}``), cut to ``limit`` characters."""
    if isinstance(value, Mapping):
        value = {k: v for k, v in value.items() if v is not None}
    return truncate(value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(", ", ": ")),
                    limit)


@dataclass(frozen=True)
class AttributeChange:
    """One difference inside a resource. ``path`` is dotted (``tags.Owner``, ``parameters.x``);
    ``name[+]`` / ``name[-]`` mark an item added to / removed from a list (``after`` / ``before``
    is the item, the other side None); ``name[key]`` is the list record whose identity is key."""

    path: str
    before: Any
    after: Any

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "before": self.before, "after": self.after}

    def describe(self, limit: int = 200) -> str:
        """One line for people: ``instance_class: db.t3.micro -> db.t3.large``,
        ``ingress[+]: {...}``, ``ingress[-]: {...}``."""
        if self.path.endswith("[+]"):
            return f"{self.path}: {short(self.after, limit)}"
        if self.path.endswith("[-]"):
            return f"{self.path}: {short(self.before, limit)}"
        return f"{self.path}: {short(self.before, limit)} -> {short(self.after, limit)}"


@dataclass(frozen=True)
class ResourceChange:
    """A resource added, removed or changed since the previous snapshot."""

    kind: str
    type: str
    id: str
    name: str | None
    changes: tuple[AttributeChange, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "type": self.type, "id": self.id, "name": self.name,
                "changes": [c.as_dict() for c in self.changes]}

    @property
    def label(self) -> str:
        """``type name`` (or the id when the resource has no name)."""
        return f"{self.type} {self.name or self.id}"


def counts(changes: Iterable[ResourceChange]) -> dict[str, int]:
    """Resources by kind of change: {"added": n, "removed": n, "changed": n}."""
    by_kind = Counter(c.kind for c in changes)
    return {k: by_kind.get(k, 0) for k in KINDS}


@lru_cache(maxsize=1024)
def _pattern(text: str) -> re.Pattern[str]:
    """``*`` = any run of characters (``/`` and ``:`` included), ``?`` = one character; the rest literal."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text),
                      re.DOTALL)


def _matches(pattern: str, value: Any) -> bool:
    if value is None:
        return False
    if "*" in pattern or "?" in pattern:
        return _pattern(pattern).fullmatch(str(value)) is not None
    return pattern == str(value)


@dataclass(frozen=True)
class Waiver:
    """One entry of a waiver file; ``source`` is ``file:line`` of the entry."""

    rule_id: str
    resource: str
    reason: str
    owner: str
    expires: date
    source: str = ""

    def matches(self, finding: Finding) -> bool:
        """Same rule, and the resource pattern names the finding's resource id, ARN or name."""
        if not _matches(self.rule_id, finding.rule_id):
            return False
        r = finding.resource
        return any(_matches(self.resource, r.get(k)) for k in ("id", "arn", "name"))

    def days_left(self, today: date) -> int:
        """Days until expiry: 0 on the last valid day, negative once expired."""
        return (self.expires - today).days

    def expired(self, today: date) -> bool:
        return today > self.expires

    def as_dict(self, today: date | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"rule_id": self.rule_id, "resource": self.resource, "reason": self.reason,
                               "owner": self.owner, "expires": self.expires.isoformat(), "source": self.source}
        if today is not None:
            out["days_left"] = self.days_left(today)
        return out


@dataclass(frozen=True)
class WaiverOutcome:
    """What :func:`auditor.waivers.apply_waivers` did to one audit's findings."""

    findings: list[Finding]
    stale: list[Waiver] = field(default_factory=list)
    expired: list[tuple[Waiver, Finding]] = field(default_factory=list)
    waivers: list[Waiver] = field(default_factory=list)   # every waiver that was applied
    today: date | None = None

    @property
    def waived(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "waived"]

    def as_dict(self) -> dict[str, Any]:
        """The JSON report's top-level ``waivers`` section."""
        return {
            "total": len(self.waivers),
            "waived": len(self.waived),
            "stale": [w.as_dict(self.today) for w in self.stale],
            "expired": [{"waiver": w.as_dict(self.today), "rule_id": f.rule_id, "resource": dict(f.resource)}
                        for w, f in self.expired],
        }


@dataclass(frozen=True)
class AuditResult:
    """One target's audit. ``changes``: resources added, removed or changed since the previous snapshot
    taken at ``compared_to`` (None: nothing to compare with)."""

    architecture: str | None
    environment: str | None
    account: str
    region: str
    started_at: str
    duration_seconds: float
    findings: list[Finding]
    errors: tuple[CollectorError, ...]
    snapshot: Snapshot
    api_stats: ApiStats
    waivers: WaiverOutcome | None = None   # None: no waiver file
    changes: list[ResourceChange] | None = None
    compared_to: str | None = None
    costs: list[DeploymentCost] = field(default_factory=list)   # one per architecture deployment found
    prices: dict[str, Any] = field(default_factory=dict)        # where the region's prices came from
    architecture_packs: frozenset[str] = frozenset()            # packs judged per deployment (with a selector)
    warnings: tuple[str, ...] = ()                              # e.g. a damaged state file started anew

    def failing(self, at_or_above: str = "info") -> list[Finding]:
        limit = SEVERITIES.index(at_or_above)
        return [f for f in self.findings if f.status == "fail" and SEVERITIES.index(f.severity) <= limit]

    @property
    def complete(self) -> bool:
        """Every rule judged what it had to: no type left unknown, no finding in ``error``. A call
        that failed for one resource without touching what any rule reads (an image size that only
        the cost estimate uses) stays in ``errors`` and leaves the audit complete."""
        return not any(e.whole_type for e in self.errors) and not any(f.status == "error" for f in self.findings)


@dataclass(frozen=True)
class TargetFailure:
    """A target that could not be audited, and why (never its credentials or external id)."""

    target: Target
    service: str
    operation: str
    code: str
    category: str
    message: str
    duration_seconds: float


@dataclass(frozen=True)
class FleetResult:
    """The audits of several targets: each target's result or its failure, and ``combined``, the whole
    fleet as one result (account, region and environment list the distinct values, comma-separated)."""

    architecture: str | None
    targets: list[Target]
    results: dict[str, AuditResult]       # by Target.key, in target order
    failures: dict[str, TargetFailure]    # by Target.key, in target order
    started_at: str
    duration_seconds: float
    combined: AuditResult

    @property
    def findings(self) -> list[Finding]:
        return self.combined.findings

    def failing(self, at_or_above: str = "info") -> list[Finding]:
        return [f for r in self.results.values() for f in r.failing(at_or_above)]

    @property
    def architecture_packs(self) -> frozenset[str]:
        return self.combined.architecture_packs

    @property
    def complete(self) -> bool:
        return not self.failures and all(r.complete for r in self.results.values())
