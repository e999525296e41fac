"""One audit: load rules, collect what they need, evaluate, compare and estimate, then build the result once."""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .aws import AWS_ERRORS, ApiStats, AuditSetupError, AwsContext, classify, error_code, error_message
from .changes import PreviousLookup, compare
from .collect import ProgressFn, collect, load_all
from .cost.deployment import deployment_costs, deployment_resources, needed_types, with_actual
from .cost.estimate import Assumptions
from .cost.prices import PriceTable, PriceTableError
from .deployments import DERIVED, membership_types
from .model import Finding, Snapshot, normalize_environment
from .results import AuditResult, FleetResult, TargetFailure, WaiverOutcome, sort_findings
from .rules.engine import RuleSet
from .rules.loader import load_packs, pack_paths
from .targets import Target, own_session, session_for
from .waivers import WaiverFileError, apply_waivers, load_waivers

if TYPE_CHECKING:
    import boto3

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


def known_resource_types() -> set[str]:
    """What rules may name: the collected types and the audit's derived ``deployment``."""
    return {t for c in load_all().values() for t in c.produces} | {DERIVED}


def load_ruleset(architecture: str | None, extra: Iterable[Path] = (),
                 params: Mapping[str, Any] | None = None) -> RuleSet:
    """Baseline + architecture pack + extra rule paths, validated and compiled."""
    return RuleSet(load_packs(pack_paths(architecture, extra), known_resource_types()), params)


def audited_types(ruleset: RuleSet, types: Iterable[str] | None = None) -> set[str]:
    """What an audit collects: ``types`` (default: the rules' types) and, with architecture selectors,
    what deriving deployments and estimating their costs needs."""
    wanted = ruleset.resource_types if types is None else set(types)
    return wanted | (needed_types() | membership_types() if ruleset.selectors else set())


def load_prices(path: Path | None) -> PriceTable:
    try:
        return PriceTable.load(path)
    except PriceTableError as exc:
        raise AuditSetupError(str(exc)) from exc


def run_audit(options: AuditOptions, ruleset: RuleSet | None = None,
              aws: AwsContext | None = None, progress: ProgressFn | None = None,
              cancel: threading.Event | None = None, today: date | None = None,
              spend: SpendReader | None = None, previous: PreviousLookup | None = None,
              warnings: Iterable[str] = ()) -> AuditResult:
    """Collect the types the rules and cost estimates need, evaluate the rules and budgets, then
    apply ``options.waivers`` as of ``today`` (default: the audit's UTC start date). ``spend`` adds
    month-to-date Cost Explorer figures to each estimate; ``previous(account, region)`` gives the
    snapshot state the changes are computed against (:func:`auditor.changes.compare`); ``warnings``
    go into the result as they are. Raises AuditSetupError/RuleFileError/WaiverFileError, and
    collect.AuditCancelled when ``cancel`` is set before the collectors finish."""
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
        findings = sort_findings(outcome.findings)
        outcome = replace(outcome, findings=findings)
    changes, compared_to = compare(snapshot, previous(snapshot.account, snapshot.region)) if previous else (None, None)
    return AuditResult(
        architecture=options.architecture,
        environment=normalize_environment(options.environment) or _environment_of(findings, snapshot),
        account=snapshot.account, region=snapshot.region,
        started_at=started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        duration_seconds=round(time.perf_counter() - t0, 3),
        findings=findings, errors=snapshot.errors, snapshot=snapshot, api_stats=aws.stats,
        waivers=outcome, changes=changes, compared_to=compared_to, costs=costs,
        prices=prices.describe(snapshot.region), architecture_packs=frozenset(s.pack.pack for s in ruleset.selectors),
        warnings=tuple(warnings))


def _environment_of(findings: list[Finding], snapshot: Snapshot) -> str | None:
    """The environment of the audited resources: one name, or several joined by commas."""
    envs = set()
    for f in findings:
        r = snapshot.get(f.resource["type"], f.resource["id"])
        if r is not None and r.environment:
            envs.add(r.environment)
    return ",".join(sorted(envs)) or None


# -- many targets (auditor.targets): one audit per account × region, each in isolation -------------

class TargetSetupError(AuditSetupError):
    """A target whose credentials or identity AWS refused: the call, its error code and category."""

    def __init__(self, what: str, call: str, exc: BaseException, region: str):
        self.service, self.operation = call.split(":")
        self.code, self.category = error_code(exc), classify(exc, region)
        super().__init__(f"{what} ({call}): {self.code}: {error_message(exc)}")


def target_failure(target: Target, exc: AuditSetupError, seconds: float) -> TargetFailure:
    """Why ``target`` could not be audited: the call AWS refused, or the setup problem."""
    if isinstance(exc, TargetSetupError):
        return TargetFailure(target, exc.service, exc.operation, exc.code, exc.category, str(exc), round(seconds, 3))
    return TargetFailure(target, "auditor", "setup", type(exc).__name__, "other", str(exc), round(seconds, 3))


def combine(architecture: str | None, targets: list[Target], results: list[AuditResult], started_at: str,
            duration_seconds: float) -> AuditResult:
    """The whole fleet as one result: findings, errors, resources and costs of every audited target;
    account, region and environment list the distinct values, comma-separated."""
    findings = sort_findings(f for res in results for f in res.findings)
    resources = [r for res in results for r in res.snapshot]
    errors = tuple(e for res in results for e in res.errors)
    vanished: Counter[str] = Counter()
    for res in results:
        vanished.update(res.snapshot.vanished)
    account = ",".join(sorted({t.account for t in targets}))
    region = ",".join(sorted({t.region for t in targets}))
    stats = ApiStats()
    for res in results:
        stats.calls.update(res.api_stats.calls)
        stats.errors.update(res.api_stats.errors)
        stats.retries.update(res.api_stats.retries)
    prices = [res.prices for res in results]
    return AuditResult(
        architecture=architecture,
        environment=",".join(sorted({e for res in results if res.environment for e in res.environment.split(",")}))
        or None,
        account=account, region=region, started_at=started_at, duration_seconds=duration_seconds,
        findings=findings, errors=errors,
        snapshot=Snapshot(account, region, resources, errors, collected_at=started_at,
                          vanished=+vanished),   # + drops zero counts
        api_stats=stats, waivers=_combined_waivers(findings, [r.waivers for r in results]),
        costs=[c for res in results for c in res.costs],
        prices=prices[0] if prices and all(p == prices[0] for p in prices) else {},
        architecture_packs=frozenset().union(*(r.architecture_packs for r in results)),
        warnings=tuple(dict.fromkeys(w for res in results for w in res.warnings)))


def _combined_waivers(findings: list[Finding], outcomes: list[WaiverOutcome | None]) -> WaiverOutcome | None:
    """One outcome for the fleet: a waiver is stale only if it matched nothing in any target."""
    known = [o for o in outcomes if o is not None]
    if not known:
        return None
    stale = [w for w in known[0].stale if all(w in o.stale for o in known[1:])]
    return WaiverOutcome(findings=findings, stale=stale, expired=[e for o in known for e in o.expired],
                         waivers=known[0].waivers, today=known[0].today)


def run_target(options: AuditOptions, target: Target, ruleset: RuleSet, base: boto3.Session, *,
               endpoint_url: str | None = None, progress: ProgressFn | None = None,
               cancel: threading.Event | None = None, today: date | None = None,
               spend: SpendReader | None = None, previous: PreviousLookup | None = None) -> AuditResult:
    """:func:`run_audit` of one target with a session of its own (the role assumed, or ``base``'s
    credentials) in ``target.region``. Raises TargetSetupError when AWS refuses the role or the identity,
    and what run_audit raises."""
    session = session_for(target, base, endpoint_url=endpoint_url) if target.role else own_session(base, target.region)
    if target.role is not None:
        try:
            session.get_credentials().get_frozen_credentials()
        except AWS_ERRORS as exc:
            raise TargetSetupError(f"cannot assume {target.role.role_arn}", "sts:AssumeRole", exc, target.region) \
                from exc
    aws = AwsContext(region=target.region, max_attempts=options.max_attempts, session=session,
                     endpoint_url=endpoint_url)
    try:
        aws.account   # noqa: B018 -- the identity, before any collector runs
    except AuditSetupError as exc:
        raise TargetSetupError("cannot identify the AWS account", "sts:GetCallerIdentity", exc.__cause__ or exc,
                               target.region) from exc
    return run_audit(options, ruleset, aws=aws, progress=progress, cancel=cancel, today=today, spend=spend,
                     previous=previous)


def run_fleet(options: AuditOptions, targets: Iterable[Target], ruleset: RuleSet, base: boto3.Session, *,
              max_concurrent: int = 4, endpoint_url: str | None = None, progress: ProgressFn | None = None,
              cancel: threading.Event | None = None, today: date | None = None,
              spend: SpendReader | None = None, previous: PreviousLookup | None = None) -> FleetResult:
    """Audit every target, ``max_concurrent`` at once. A target whose setup fails (AuditSetupError) is
    that target's failure; the waiver and price files, shared by all, are checked first. ``previous``
    gives each target's last snapshot state (see :func:`run_audit`)."""
    targets = list(targets)
    if options.waivers is not None:
        load_waivers(options.waivers)
    load_prices(options.prices)
    started = datetime.now(UTC)
    t0 = time.perf_counter()

    def audit(target: Target) -> AuditResult | TargetFailure:
        begun = time.perf_counter()
        try:
            return run_target(options, target, ruleset, base, endpoint_url=endpoint_url, progress=progress,
                              cancel=cancel, today=today, spend=spend, previous=previous)
        except WaiverFileError:
            raise
        except AuditSetupError as exc:
            return target_failure(target, exc, time.perf_counter() - begun)

    with ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="target") as pool:
        outcomes = list(pool.map(audit, targets))
    results = {t.key: o for t, o in zip(targets, outcomes, strict=True) if isinstance(o, AuditResult)}
    started_at = started.isoformat(timespec="seconds").replace("+00:00", "Z")
    seconds = round(time.perf_counter() - t0, 3)
    return FleetResult(
        architecture=options.architecture, targets=targets, results=results,
        failures={t.key: o for t, o in zip(targets, outcomes, strict=True) if isinstance(o, TargetFailure)},
        started_at=started_at, duration_seconds=seconds,
        combined=combine(options.architecture, targets, list(results.values()), started_at, seconds))
