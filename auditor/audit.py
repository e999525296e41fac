"""One audit: load rules, collect what they need, evaluate, and hold the result."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .aws import ApiStats, AuditSetupError, AwsContext
from .collect import ProgressFn, collect, load_all
from .cost.deployment import DeploymentCost, deployment_costs, deployment_resources, needed_types, with_actual
from .cost.estimate import Assumptions
from .cost.prices import PriceTable, PriceTableError
from .deployments import DERIVED, membership_types
from .model import SEVERITIES, CollectorError, Finding, Snapshot, normalize_environment
from .rules.engine import RuleSet
from .rules.loader import load_packs, pack_paths
from .waivers import WaiverOutcome, apply_waivers, load_waivers

if TYPE_CHECKING:
    from .changes import ResourceChange
    from .cost.spend import SpendReader


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
    waivers: Path | None = None   # waiver file (auditor.waivers), read at each audit
    prices: Path | None = None    # price file over the bundled table (default: the refresh cache)
    alb_lcu: float = 1.0          # LCUs each load balancer is assumed to use (cost estimate)
    baseline: str = "deployments"  # what baseline rules judge: the audited deployments, or the whole "account"


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
    waivers: WaiverOutcome | None = None   # None: no waiver file
    # Set by auditor.changes.attach_changes: resources added/removed/changed since the previous
    # snapshot (None: no previous snapshot to compare with) and that snapshot's time.
    changes: list[ResourceChange] | None = None
    compared_to: str | None = None
    costs: list[DeploymentCost] = field(default_factory=list)   # one per architecture deployment found
    prices: dict[str, Any] = field(default_factory=dict)        # where the region's prices came from
    architecture_packs: frozenset[str] = frozenset()            # packs judged per deployment (with a selector)
    warnings: list[str] = field(default_factory=list)            # e.g. a damaged state file started anew

    def failing(self, at_or_above: str = "info") -> list[Finding]:
        limit = SEVERITIES.index(at_or_above)
        return [f for f in self.findings if f.status == "fail" and SEVERITIES.index(f.severity) <= limit]

    @property
    def complete(self) -> bool:
        return not self.errors


def known_resource_types() -> set[str]:
    """What rules may name: the collected types and the audit's derived ``deployment``."""
    return {t for c in load_all().values() for t in c.produces} | {DERIVED}


def load_ruleset(architecture: str | None, extra: Iterable[Path] = (),
                 params: Mapping[str, Any] | None = None) -> RuleSet:
    """Baseline + architecture pack + extra rule paths, validated and compiled."""
    packs = load_packs(pack_paths(architecture, extra), known_resource_types())
    return RuleSet(packs, params)


def audited_types(ruleset: RuleSet) -> set[str]:
    """What an audit collects: the rules' types and, with architecture selectors, what deriving
    deployments and estimating their costs needs."""
    return ruleset.resource_types | (needed_types() | membership_types() if ruleset.selectors else set())


def load_prices(path: Path | None) -> PriceTable:
    try:
        return PriceTable.load(path)
    except PriceTableError as exc:
        raise AuditSetupError(str(exc)) from exc


def run_audit(options: AuditOptions, ruleset: RuleSet | None = None,
              aws: AwsContext | None = None, progress: ProgressFn | None = None,
              cancel: threading.Event | None = None, today: date | None = None,
              spend: SpendReader | None = None) -> AuditResult:
    """Collect the types the rules and cost estimates need, evaluate the rules and budgets, then
    apply ``options.waivers`` as of ``today`` (default: the audit's UTC start date). ``spend`` adds
    month-to-date Cost Explorer figures to each estimate. Raises AuditSetupError/RuleFileError/
    WaiverFileError, and collect.AuditCancelled when ``cancel`` is set before the collectors finish."""
    ruleset = ruleset or load_ruleset(options.architecture, options.rule_paths, options.params)
    waivers = load_waivers(options.waivers) if options.waivers is not None else None
    prices = load_prices(options.prices)
    aws = aws or AwsContext(region=options.region, profile=options.profile,
                            max_attempts=options.max_attempts)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    snapshot = collect(aws, environment_tag=options.environment_tag, environment=options.environment,
                       only_types=audited_types(ruleset), workers=options.workers, progress=progress, cancel=cancel)
    costs = deployment_costs(snapshot, ruleset, prices, Assumptions(alb_lcu=options.alb_lcu))
    if spend is not None:
        costs = with_actual(costs, lambda cost: spend.read(aws, cost, snapshot, ruleset, options.environment_tag,
                                                           today or started.date()))
    judged = snapshot.with_resources(deployment_resources(costs, snapshot))
    findings = sort_findings(ruleset.evaluate(judged, options.baseline))
    outcome = None
    if waivers is not None:
        outcome = apply_waivers(findings, waivers, today or started.date())
        findings = outcome.findings = sort_findings(outcome.findings)
    return AuditResult(
        architecture=options.architecture,
        environment=normalize_environment(options.environment) or _environment_of(findings, snapshot),
        account=snapshot.account, region=snapshot.region,
        started_at=started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        duration_seconds=round(time.perf_counter() - t0, 3),
        findings=findings, errors=snapshot.errors, snapshot=snapshot, api_stats=aws.stats,
        waivers=outcome, costs=costs, prices=prices.describe(snapshot.region),
        architecture_packs=frozenset(s.pack.pack for s in ruleset.selectors))


_STATUS_ORDER = {"fail": 0, "error": 1, "waived": 2, "pass": 3, "skip": 4}


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
