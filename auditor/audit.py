"""One audit: load rules, collect what they need, evaluate, and hold the result."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .aws import ApiStats, AwsContext
from .collect import ProgressFn, collect, load_all
from .model import SEVERITIES, CollectorError, Finding, Snapshot, normalize_environment
from .rules.engine import RuleSet
from .rules.loader import load_packs, pack_paths


@dataclass(frozen=True)
class AuditOptions:
    architecture: str | None = None
    environment: str | None = None
    region: str | None = None
    profile: str | None = None
    rule_paths: tuple[Path, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    environment_tag: str = "Environment"
    max_attempts: int = 5
    workers: int = 8


@dataclass
class AuditResult:
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

    def failing(self, at_or_above: str = "info") -> list[Finding]:
        limit = SEVERITIES.index(at_or_above)
        return [f for f in self.findings if f.status == "fail" and SEVERITIES.index(f.severity) <= limit]

    @property
    def complete(self) -> bool:
        return not self.errors


def known_resource_types() -> set[str]:
    return {t for c in load_all().values() for t in c.produces}


def load_ruleset(architecture: str | None, extra: Iterable[Path] = (),
                 params: Mapping[str, Any] | None = None) -> RuleSet:
    """Baseline + architecture pack + extra rule paths, validated and compiled."""
    packs = load_packs(pack_paths(architecture, extra), known_resource_types())
    return RuleSet(packs, params)


def run_audit(options: AuditOptions, ruleset: RuleSet | None = None,
              aws: AwsContext | None = None, progress: ProgressFn | None = None,
              cancel: threading.Event | None = None) -> AuditResult:
    """Collect the types the rules need and evaluate them. Raises AuditSetupError/RuleFileError,
    and collect.AuditCancelled when ``cancel`` is set before the collectors finish."""
    ruleset = ruleset or load_ruleset(options.architecture, options.rule_paths, options.params)
    aws = aws or AwsContext(region=options.region, profile=options.profile,
                            max_attempts=options.max_attempts)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    snapshot = collect(aws, environment_tag=options.environment_tag, environment=options.environment,
                       only_types=ruleset.resource_types, workers=options.workers, progress=progress,
                       cancel=cancel)
    findings = sort_findings(ruleset.evaluate(snapshot))
    return AuditResult(
        architecture=options.architecture,
        environment=normalize_environment(options.environment) or _environment_of(findings, snapshot),
        account=snapshot.account, region=snapshot.region,
        started_at=started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        duration_seconds=round(time.perf_counter() - t0, 3),
        findings=findings, errors=snapshot.errors, snapshot=snapshot, api_stats=aws.stats)


_STATUS_ORDER = {"fail": 0, "error": 1, "pass": 2}


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (_STATUS_ORDER[f.status], SEVERITIES.index(f.severity),
                                           f.rule_id, str(f.resource.get("id"))))


def _environment_of(findings: list[Finding], snapshot: Snapshot) -> str | None:
    """The environment of the audited resources: one name, or several joined by commas."""
    envs = set()
    for f in findings:
        r = snapshot.get(f.resource["type"], f.resource["id"])
        if r is not None and r.environment:
            envs.add(r.environment)
    return ",".join(sorted(envs)) or None
