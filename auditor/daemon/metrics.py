"""Prometheus metrics of ``auditor serve`` (the contract is docs/metrics.md).

Scrapes never call AWS. The audit job turns each finished audit into an immutable
:class:`MetricsState` and swaps it in with one assignment; :class:`AuditCollector` reads that one
reference per scrape, so a scrape sees one audit whole, never a half-updated mix. Counters live
in the same state (copied on write) and accumulate over the life of the process.

Audit-derived series carry the common labels ``account``, ``region``, ``architecture`` and
``environment`` of the audit they describe (``""`` when unknown, e.g. an audit that could not
identify the account). The state keeps the last audits of each target (account and region,
:class:`TargetMetrics`), so a scrape shows every target's series; :meth:`MetricsStore.retain`
drops the targets no longer audited. ``auditor_build_info``, ``auditor_audit_running``,
``auditor_config_reloads_total`` and the notification metrics (``auditor_notifications_total``,
``auditor_notification_outbox_pending``, by ``channel``) describe the process, not an audit, and
carry none.
"""
from __future__ import annotations

import platform
import threading
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from .. import __version__
from ..coverage import rule_coverage
from ..model import SEVERITIES, SKIP_NOTHING, SKIP_OUT_OF_SCOPE, STATUSES, truncate
from ..results import KINDS as CHANGE_KINDS

if TYPE_CHECKING:
    from ..aws import ApiStats
    from ..results import AuditResult
    from ..rules.engine import RuleSet

COMMON_LABELS = ("account", "region", "architecture", "environment")
OUTCOMES = ("success", "incomplete", "failed")
RELOAD_OUTCOMES = ("success", "failure")
STATE_RECOVERY_REASONS = ("damaged", "empty")
LABEL_VALUE_LIMIT = 120

Labels = tuple[str, ...]
Series = tuple[tuple[Labels, float], ...]


def common_labels(account: str | None, region: str | None, architecture: str | None,
                  environment: str | None) -> Labels:
    return (account or "", region or "", architecture or "", environment or "")


def label_value(value: object) -> str:
    """A label value: :func:`auditor.model.truncate` to LABEL_VALUE_LIMIT characters (bounded series size)."""
    return truncate(value, LABEL_VALUE_LIMIT)


SKIP_FIELDS = ((SKIP_NOTHING, "nothing_in"), (SKIP_OUT_OF_SCOPE, "out_of_scope_in"))
"""Each skip reason and the RuleCoverage field that lists its deployments."""


@dataclass(frozen=True)
class AuditMetrics:
    """What one evaluated audit (outcome success or incomplete) exports."""

    labels: Labels
    finished_at: float
    rule_results: Series          # (rule_id, pack, severity, status) -> findings
    rule_resources: Series        # (rule_id, pack, severity) -> resources judged (0: applied to nothing)
    rule_skips: Series            # (rule_id, pack, severity, reason) -> deployments the rule judged nothing in
    findings: Series              # (severity, status) -> findings
    failing: tuple[Labels, ...]   # (rule_id, severity, resource_type, resource_id, resource_name, expected, actual)
    dropped: int                  # failing findings left out by the cap
    resources: Series             # (resource_type,) -> resources
    collector_seconds: Series     # (collector,) -> seconds
    compliance_ratio: float
    counts: Mapping[str, int] = field(default_factory=dict)   # findings by status
    waivers_stale: int = 0        # waivers that matched no failing finding (0 without a waiver file)
    changes: Series = ()          # (change,) -> resources added/removed/changed; () when nothing was compared
    costs: CostSeries | None = None
    vanished: Series = ()         # (resource_type,) -> resources deleted while the audit read them

    @classmethod
    def from_result(cls, result: AuditResult, ruleset: RuleSet, max_finding_series: int,
                    finished_at: float) -> AuditMetrics:
        by_rule = Counter((f.rule_id, f.status) for f in result.findings)
        rule_results = []
        seen = set()
        for cr in ruleset.rules:
            if cr.rule.id in seen:
                continue
            seen.add(cr.rule.id)
            for status in STATUSES:
                rule_results.append(((cr.rule.id, cr.pack or "", cr.rule.severity, status),
                                     float(by_rule[(cr.rule.id, status)])))
        coverage = {c.rule_id: c for c in rule_coverage(result.findings)}
        rules = [(rule_id, pack, severity) for (rule_id, pack, severity, status), _ in rule_results
                 if status == STATUSES[0]]
        rule_resources = tuple((r, float(coverage[r[0]].resources if r[0] in coverage else 0)) for r in rules)
        rule_skips = tuple(((*r, reason), float(len(getattr(coverage[r[0]], field)) if r[0] in coverage else 0))
                           for r in rules for reason, field in SKIP_FIELDS)
        by_severity = Counter((f.severity, f.status) for f in result.findings)
        findings = tuple(((sev, st), float(by_severity[(sev, st)])) for sev in SEVERITIES for st in STATUSES)

        failing: dict[Labels, None] = {}   # ordered: findings come sorted by severity
        for f in result.findings:
            if f.status != "fail":
                continue
            r = f.resource
            failing.setdefault((f.rule_id, f.severity, label_value(r.get("type")), label_value(r.get("id")),
                                label_value(r.get("name")), label_value(f.expected), label_value(f.actual)), None)
        series = tuple(failing)
        kept = series[:max_finding_series]

        snapshot = result.snapshot
        failed_types = set(snapshot.failed_types())
        counts = {t: 0 for t in ruleset.resource_types if t not in failed_types}
        counts.update(snapshot.counts())
        durations = snapshot.collector_seconds
        status_counts = Counter(f.status for f in result.findings)
        judged = status_counts["pass"] + status_counts["fail"]
        return cls(
            labels=common_labels(result.account, result.region, result.architecture, result.environment),
            finished_at=finished_at,
            rule_results=tuple(rule_results), rule_resources=rule_resources, rule_skips=rule_skips,
            findings=findings, failing=kept,
            dropped=len(series) - len(kept),
            resources=tuple(((t,), float(n)) for t, n in sorted(counts.items())),
            collector_seconds=tuple(((name,), float(s)) for name, s in sorted(durations.items())),
            compliance_ratio=status_counts["pass"] / judged if judged else 1.0,
            counts=MappingProxyType({s: status_counts[s] for s in STATUSES}),
            waivers_stale=len(result.waivers.stale) if result.waivers is not None else 0,
            changes=_change_series(result),
            costs=CostSeries.from_result(result),
            vanished=tuple(((t,), float(snapshot.vanished.get(t, 0))) for t in sorted({*counts, *snapshot.vanished})))


@dataclass(frozen=True)
class CostSeries:
    """The cost estimates of one audit. Labels are the common ones, with architecture and
    environment of each deployment (not of the audit)."""

    estimated: Series = ()        # common + (service,) -> USD per month
    unpriced: Series = ()         # common -> lines without a price
    budget: Series = ()           # common -> documented USD per month
    budget_limit: Series = ()     # common -> budget x (1 + tolerance)
    actual: Series = ()           # common + (service,) -> USD month to date (Cost Explorer enabled)
    prices_as_of: Series = ()     # (region,) -> Unix time of the price table's date

    @classmethod
    def from_result(cls, result: AuditResult) -> CostSeries:
        from datetime import UTC, datetime

        estimated, unpriced, budget, limit, actual = [], [], [], [], []
        for cost in result.costs:
            labels = common_labels(result.account, result.region, cost.architecture, cost.environment)
            estimated += [(labels + (service,), usd) for service, usd in cost.estimate.by_service().items()]
            unpriced.append((labels, float(len(cost.estimate.unpriced))))
            if cost.budget is not None:
                budget.append((labels, cost.budget.monthly_usd))
                limit.append((labels, cost.budget.limit_usd))
            if cost.actual is not None:
                actual += [(labels + (service,), usd) for service, usd in cost.actual.by_label().items()]
        as_of = result.prices.get("as_of")
        stamp = datetime.fromisoformat(as_of).replace(tzinfo=UTC).timestamp() if as_of else None
        return cls(tuple(estimated), tuple(unpriced), tuple(budget), tuple(limit), tuple(actual),
                   (((result.region,), stamp),) if stamp is not None and result.costs else ())


def _change_series(result: AuditResult) -> Series:
    changes = getattr(result, "changes", None)
    if changes is None:
        return ()
    by_kind = Counter(c.kind for c in changes)
    return tuple(((kind,), float(by_kind[kind])) for kind in CHANGE_KINDS)


@dataclass(frozen=True)
class AuditRecord:
    """When an audit finished, how long it took and how it ended."""

    labels: Labels
    finished_at: float
    duration_seconds: float
    outcome: str


def _frozen(counters: Mapping[str, Mapping[Labels, float]]) -> Mapping[str, Mapping[Labels, float]]:
    return MappingProxyType({name: MappingProxyType(dict(series)) for name, series in counters.items()})


SINGLE_TARGET = ""   # the key of the one target of a daemon without ``targets``
PROCESS_COUNTERS = frozenset({"config_reloads", "notifications", "state_recoveries"})
"""Counters of the process; the others start with the common labels of a target's audits."""


def target_key(labels: Labels) -> str:
    """``account/region`` of a target, from the common labels of its audits."""
    return f"{labels[0]}/{labels[1]}"


@dataclass(frozen=True)
class TargetMetrics:
    """The last audits of one target (account and region)."""

    results: AuditMetrics | None = None       # last audit that evaluated rules (success or incomplete)
    last_audit: AuditRecord | None = None     # last finished audit, any outcome
    last_success: AuditRecord | None = None   # last complete audit


def _latest(items: Iterator[AuditMetrics | AuditRecord | None]) -> Any:
    return max((i for i in items if i is not None), key=lambda i: i.finished_at, default=None)


@dataclass(frozen=True)
class MetricsState:
    """Everything a scrape shows. Never mutated: updates build a new one and swap it in."""

    targets: Mapping[str, TargetMetrics] = field(default_factory=lambda: MappingProxyType({}))   # by target_key
    running: bool = False
    counters: Mapping[str, Mapping[Labels, float]] = field(default_factory=lambda: _frozen({}))
    outbox_pending: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))   # by channel

    def counter(self, name: str) -> Mapping[Labels, float]:
        return self.counters.get(name, MappingProxyType({}))

    @property
    def results(self) -> AuditMetrics | None:
        """The latest audit of any target that evaluated rules."""
        return _latest(t.results for t in self.targets.values())

    @property
    def last_audit(self) -> AuditRecord | None:
        """The latest finished audit of any target."""
        return _latest(t.last_audit for t in self.targets.values())

    @property
    def last_success(self) -> AuditRecord | None:
        """The latest complete audit of any target."""
        return _latest(t.last_success for t in self.targets.values())


class MetricsStore:
    """Holds the current :class:`MetricsState`; writers serialize on a lock, readers never wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = MetricsState(counters=_frozen({
            "config_reloads": {(o,): 0.0 for o in RELOAD_OUTCOMES},
            "state_recoveries": {(r,): 0.0 for r in STATE_RECOVERY_REASONS}}))

    @property
    def state(self) -> MetricsState:
        return self._state

    def set_running(self, running: bool) -> None:
        with self._lock:
            self._state = replace(self._state, running=running)

    def record_reload(self, ok: bool) -> None:
        with self._lock:
            self._state = replace(self._state, counters=self._add(
                self._state.counters, {"config_reloads": {("success" if ok else "failure",): 1.0}}))

    def record_state_recovery(self, reason: str) -> None:
        """The state file was found damaged (moved aside) or empty, and a new one started."""
        with self._lock:
            self._state = replace(self._state, counters=self._add(
                self._state.counters, {"state_recoveries": {(reason,): 1.0}}))

    def record_notifications(self, channel: str, sent: int, failed: int, pending: int) -> None:
        """One channel's delivery pass: messages confirmed, attempts that failed, messages still queued."""
        with self._lock:
            pendings = MappingProxyType({**self._state.outbox_pending, channel: pending})
            self._state = replace(self._state, outbox_pending=pendings, counters=self._add(
                self._state.counters, {"notifications": {(channel, "sent"): float(sent),
                                                         (channel, "failed"): float(failed)}}))

    def record_audit(self, record: AuditRecord, metrics: AuditMetrics | None,
                     api_stats: ApiStats | None, target: str = SINGLE_TARGET) -> MetricsState:
        """Swap in the state after one finished audit of ``target`` (its key, account/region) in one
        assignment; return it."""
        labels = record.labels
        increments: dict[str, dict[Labels, float]] = {
            "audit_runs": {labels + (o,): float(o == record.outcome) for o in OUTCOMES},
            "failing_dropped": {labels: float(metrics.dropped if metrics else 0)},
        }
        if api_stats is not None:
            increments["api_calls"] = {labels + tuple(k): float(n) for k, n in dict(api_stats.calls).items()}
            increments["api_errors"] = {labels + tuple(k): float(n) for k, n in dict(api_stats.errors).items()}
        with self._lock:
            old = self._state
            mine = old.targets.get(target, TargetMetrics())
            targets = dict(old.targets)
            targets[target] = TargetMetrics(
                results=metrics if metrics is not None else mine.results,
                last_audit=record,
                last_success=record if record.outcome == "success" else mine.last_success)
            self._state = replace(old, targets=MappingProxyType(targets), counters=self._add(old.counters, increments))
            return self._state

    def record_run_failed(self, labels: Labels) -> None:
        """A run that failed before it knew its targets: counted (``labels``: no account nor region),
        no target's last audit changes."""
        with self._lock:
            self._state = replace(self._state, counters=self._add(
                self._state.counters, {"audit_runs": {labels + (o,): float(o == "failed") for o in OUTCOMES}}))

    def retain(self, keys: Collection[str]) -> None:
        """Stop exporting the targets not in ``keys``: their last audits and their counters."""
        with self._lock:
            old = self._state
            gone = set(old.targets) - set(keys)
            if not gone:
                return
            targets = {k: t for k, t in old.targets.items() if k not in gone}
            # counters go by their labels: those of a gone target's last audit too (the single target's key is "")
            labels_gone = (gone | {target_key(old.targets[k].last_audit.labels) for k in gone
                                   if old.targets[k].last_audit is not None}) - set(targets)
            counters = {name: {labels: v for labels, v in series.items()
                               if name in PROCESS_COUNTERS or target_key(labels) not in labels_gone}
                        for name, series in old.counters.items()}
            self._state = replace(old, targets=MappingProxyType(targets), counters=_frozen(counters))

    @staticmethod
    def _add(counters: Mapping[str, Mapping[Labels, float]],
             increments: Mapping[str, Mapping[Labels, float]]) -> Mapping[str, Mapping[Labels, float]]:
        out = {name: dict(series) for name, series in counters.items()}
        for name, series in increments.items():
            target = out.setdefault(name, {})
            for labels, n in series.items():
                target[labels] = target.get(labels, 0.0) + n
        return _frozen(out)


def _gauge(name: str, doc: str, labels: tuple[str, ...], series: Iterator | tuple) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    for values, value in series:
        family.add_metric(list(values), value)
    return family


def _counter(name: str, doc: str, labels: tuple[str, ...], series: Mapping[Labels, float]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=list(labels))
    for values, value in sorted(series.items()):
        family.add_metric(list(values), value)
    return family


class AuditCollector(Collector):
    """Builds the metric families from the current :class:`MetricsState` on each scrape."""

    def __init__(self, store: MetricsStore):
        self._store = store

    def describe(self) -> list[Metric]:
        return []   # names are fixed; no need to run collect() at registration

    def collect(self) -> Iterator[Metric]:
        s = self._store.state   # one read: the whole scrape describes this state
        c = COMMON_LABELS
        yield _gauge("auditor_build_info", "Build information of the auditor.", ("version", "python_version"),
                     [((__version__, platform.python_version()), 1.0)])
        yield _gauge("auditor_audit_running", "1 while an audit is in flight.", (), [((), float(s.running))])

        results = [t.results for _, t in sorted(s.targets.items()) if t.results is not None]

        def each(name: str) -> list[tuple[Labels, float]]:
            return [(r.labels + k, v) for r in results for k, v in getattr(r, name)]
        yield _gauge("auditor_rule_results", "Findings of each rule in the last audit, by status.",
                     c + ("rule_id", "pack", "severity", "status"),
                     each("rule_results"))
        yield _gauge("auditor_rule_resources",
                     "Resources each rule judged in the last audit (0: the rule applied to nothing).",
                     c + ("rule_id", "pack", "severity"),
                     each("rule_resources"))
        yield _gauge("auditor_rule_skipped_deployments",
                     "Deployments each rule judged nothing in, in the last audit, by reason: nothing (no resource "
                     "to judge) or out_of_scope (the rule does not ask that environment).",
                     c + ("rule_id", "pack", "severity", "reason"),
                     each("rule_skips"))
        yield _gauge("auditor_findings", "Findings of the last audit by severity and status.",
                     c + ("severity", "status"), each("findings"))
        yield _gauge("auditor_failing_finding",
                     "One series per failing finding of the last audit (capped by metrics.max_finding_series).",
                     c + ("rule_id", "severity", "resource_type", "resource_id", "resource_name", "expected", "actual"),
                     [(r.labels + k, 1.0) for r in results for k in r.failing])
        yield _gauge("auditor_resources", "Collected resources by type in the last audit.",
                     c + ("resource_type",), each("resources"))
        yield _gauge("auditor_resources_vanished",
                     "Resources deleted while the last audit read them (a call about them answered not found), dropped.",
                     c + ("resource_type",), each("vanished"))
        yield _gauge("auditor_compliance_ratio", "pass / (pass + fail) of the last audit (1 when nothing was evaluated).",
                     c, [(r.labels, r.compliance_ratio) for r in results])
        yield _gauge("auditor_waivers_stale", "Waivers that matched no failing finding in the last audit (remove them).",
                     c, [(r.labels, float(r.waivers_stale)) for r in results])
        yield _gauge("auditor_collector_duration_seconds", "Duration of each collector in the last audit.",
                     c + ("collector",), each("collector_seconds"))
        yield _gauge("auditor_resource_changes",
                     "Resources added, removed or changed since the previous snapshot, as of the last audit.",
                     c + ("change",), each("changes"))

        costs = [r.costs for r in results if r.costs]

        def joined(name: str) -> Series:
            return tuple(x for c in costs for x in getattr(c, name))
        cost = CostSeries(joined("estimated"), joined("unpriced"), joined("budget"), joined("budget_limit"),
                          joined("actual"), tuple(dict(joined("prices_as_of")).items()))   # one per region
        yield _gauge("auditor_cost_estimated_monthly_usd",
                     "Estimated monthly cost of each deployment by service, from its configuration and the price table.",
                     c + ("service",), cost.estimated)
        yield _gauge("auditor_cost_unpriced_lines",
                     "Estimate lines whose price is unknown (the estimate is then a lower bound).", c, cost.unpriced)
        yield _gauge("auditor_cost_budget_monthly_usd", "Documented monthly budget of each deployment.", c, cost.budget)
        yield _gauge("auditor_cost_budget_limit_monthly_usd",
                     "Documented total plus tolerance (for reference: the budget rule judges the cost table's rows).",
                     c, cost.budget_limit)
        yield _gauge("auditor_cost_actual_month_to_date_usd",
                     "Month-to-date spend from Cost Explorer by service (only when cost.actual_spend is enabled).",
                     c + ("service",), cost.actual)
        yield _gauge("auditor_cost_prices_as_of_timestamp_seconds", "Date of the price table used for the region.",
                     ("region",), cost.prices_as_of)

        last = [t.last_audit for _, t in sorted(s.targets.items()) if t.last_audit is not None]
        ok = [t.last_success for _, t in sorted(s.targets.items()) if t.last_success is not None]
        yield _gauge("auditor_audit_duration_seconds", "Duration of the last finished audit.",
                     c, [(a.labels, a.duration_seconds) for a in last])
        yield _gauge("auditor_last_audit_timestamp_seconds", "End time of the last finished audit (any outcome).",
                     c, [(a.labels, a.finished_at) for a in last])
        yield _gauge("auditor_last_success_timestamp_seconds",
                     "End time of the last complete audit (no collection error).",
                     c, [(a.labels, a.finished_at) for a in ok])

        yield _counter("auditor_audit_runs", "Audits run, by outcome (success, incomplete, failed).",
                       c + ("outcome",), s.counter("audit_runs"))
        yield _counter("auditor_failing_findings_dropped",
                       "Failing-finding series left out by metrics.max_finding_series, summed over audits.",
                       c, s.counter("failing_dropped"))
        yield _counter("auditor_aws_api_calls", "AWS API calls made.",
                       c + ("service", "operation"), s.counter("api_calls"))
        yield _counter("auditor_aws_api_errors", "AWS API calls that returned an error (retried ones included), "
                       "by code and category (denied, throttled, not_found, region_unavailable, opt_in_required, other).",
                       c + ("service", "operation", "error_code", "category"), s.counter("api_errors"))
        yield _counter("auditor_config_reloads", "SIGHUP reloads of config and rules, by outcome.",
                       ("outcome",), s.counter("config_reloads"))
        yield _counter("auditor_notifications", "Notifications confirmed by their channel (sent) and delivery "
                       "attempts that failed, by channel.", ("channel", "outcome"), s.counter("notifications"))
        yield _counter("auditor_state_recoveries",
                       "State files found damaged (moved aside) or empty, each replaced by a new one, by reason.",
                       ("reason",), s.counter("state_recoveries"))
        yield _gauge("auditor_notification_outbox_pending", "Notifications queued in the outbox, not confirmed yet, "
                     "by channel.", ("channel",), [((c,), float(n)) for c, n in sorted(s.outbox_pending.items())])


def make_registry(store: MetricsStore) -> CollectorRegistry:
    """A private registry (not the process-global one) holding only the auditor's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AuditCollector(store))
    return registry
