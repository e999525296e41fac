"""Each deployment's cost estimate, and the ``deployment`` resource that carries it to the rules.

The estimate of a deployment (an architecture pack's members in one environment) is held
against the document's cost table by ordinary YAML rules over a derived resource of type
``deployment`` (id = the deployment's key, e.g. "mattilda/production"), whose attributes are:

- pack, document, monthly_usd (sum of the priced lines), complete (every line priced and every
  cost type collected), unpriced (price keys without a price), missing_types, by_service {service:
  USD}, biggest (the three biggest lines, as text);
- budget: {monthly_usd, tolerance, limit_usd, quote} or None when the document states none for
  the environment; rows: each row of the document's table {item, services, documented_usd,
  estimated_usd, tolerance, limit_usd, within, quote, note}; rows_over: one sentence per row
  above its limit; itemized_usd: the estimate of the services the rows cover (of all services
  when the table has no rows);
- budget_verdict: "over" (a row above its limit or, without rows, the whole estimate above the
  total's: the estimate is a lower bound, so this holds even when lines are unpriced),
  "within", "unknown" (within so far, but unpriced lines or failed collections leave it open)
  or None without a budget; over_budget: what is over, one sentence each ([] when within);
- unitemized: one sentence per service the estimate prices and no row covers
  ("nat_gateway $32.85/month"), so the cost a table leaves out is reported, not judged.

Pure: snapshot in, values out."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..deployments import DERIVED
from ..model import Finding, Resource, Snapshot
from ..relations import requires
from ..rules.engine import RuleSet
from ..rules.schema import Budget, BudgetRow
from .estimate import COST_TYPES, Assumptions, Estimate, estimate, usd
from .prices import PriceTable

ALARM_ANCHORS = frozenset({"ecs_cluster", "target_group"})
"""Resource types whose alarms belong to a deployment though they are not priced themselves."""
BIGGEST = 3


def needed_types() -> set[str]:
    """What a collection must hold for estimates (with the types their relations need)."""
    return {t for rtype in COST_TYPES | ALARM_ANCHORS for t in requires(rtype)}


@dataclass(frozen=True)
class BudgetLimit:
    monthly_usd: float
    tolerance: float
    quote: str
    rows: tuple[BudgetRow, ...] = ()

    @property
    def limit_usd(self) -> float:
        return round(self.monthly_usd * (1 + self.tolerance), 2)

    @property
    def services(self) -> set[str]:
        return {s for row in self.rows for s in row.services}

    def as_dict(self) -> dict[str, Any]:
        return {"monthly_usd": self.monthly_usd, "tolerance": self.tolerance, "limit_usd": self.limit_usd,
                "quote": self.quote, "rows": [row.model_dump(exclude_none=True) for row in self.rows]}


@dataclass(frozen=True)
class DeploymentCost:
    architecture: str
    environment: str | None
    document: str | None
    estimate: Estimate
    budget: BudgetLimit | None
    resource_ids: tuple[tuple[str, str], ...]
    missing_types: tuple[str, ...] = ()      # cost types whose collection failed
    actual: Any = None                       # cost.actual.ActualSpend when asked for
    actual_error: str | None = None
    key: str = ""                            # the deployment's key, e.g. "mattilda/production"

    def as_dict(self) -> dict[str, Any]:
        e = self.estimate
        return {
            "architecture": self.architecture, "environment": self.environment, "document": self.document,
            "monthly_usd": e.total_usd, "complete": e.complete and not self.missing_types,
            "unpriced_lines": len(e.unpriced), "missing_types": list(self.missing_types),
            "by_service": e.by_service(), "budget": self.budget.as_dict() if self.budget else None,
            "assumptions": {"hours_per_month": e.assumptions.hours_per_month, "alb_lcu": e.assumptions.alb_lcu},
            "lines": [line.as_dict() for line in e.lines],
            "actual": self.actual.as_dict() if self.actual is not None else None,
            "actual_error": self.actual_error,
            **{k: v for k, v in _attributes(self).items() if k in ("rows", "unitemized", "budget_verdict")},
        }


def deployment_costs(snapshot: Snapshot, ruleset: RuleSet, prices: PriceTable,
                     assumptions: Assumptions | None = None) -> list[DeploymentCost]:
    """One estimate per architecture deployment in the snapshot (pack x environment, by membership)."""
    failed = snapshot.failed_types()
    missing = tuple(sorted(t for t in COST_TYPES if t in failed))
    packs = {s.pack.pack: s.pack for s in ruleset.selectors}
    out = []
    for d in ruleset.deployments(snapshot):
        pack = packs[d.pack]
        resources = [r for rtype in sorted(COST_TYPES) for r in d.of_type(rtype)]
        out.append(DeploymentCost(d.pack, d.environment, pack.document,
                                  estimate(resources, snapshot, prices, assumptions),
                                  _budget(pack.budget, d.environment),
                                  tuple((r.type, r.id) for r in resources), missing, key=d.key))
    return out


def _budget(budget: Budget | None, environment: str | None) -> BudgetLimit | None:
    entry = budget.environments.get(environment or "") if budget else None
    if budget is None or entry is None:
        return None
    return BudgetLimit(entry.monthly_usd, budget.tolerance, entry.quote, tuple(entry.rows))


def with_actual(costs: Iterable[DeploymentCost], fetch: Callable[[DeploymentCost], Any]) -> list[DeploymentCost]:
    """The costs with month-to-date spend from ``fetch`` (which may raise; the error is kept)."""
    out = []
    for cost in costs:
        try:
            out.append(replace(cost, actual=fetch(cost)))
        except Exception as exc:  # noqa: BLE001 - any failure is reported beside the estimate
            out.append(replace(cost, actual_error=str(exc)))
    return out


# --------------------------------------------------------------------------- the derived resource
def budget_rule_id(pack: str) -> str:
    """The id of a pack's rule on its documented total (its finding gives the budget verdict)."""
    return f"{pack}.cost.budget"


def budget_status(findings: Iterable[Finding], cost: DeploymentCost) -> str | None:
    """The status of the budget finding on ``cost`` (None: no budget rule judged it)."""
    if cost.budget is None:
        return None
    rule_id = budget_rule_id(cost.architecture)
    return next((f.status for f in findings if f.rule_id == rule_id and f.deployment == cost.key), None)


def deployment_resources(costs: Iterable[DeploymentCost], snapshot: Snapshot) -> list[Resource]:
    """One ``deployment`` resource per estimate, for the rules to judge."""
    return [Resource(type=DERIVED, id=cost.key, account=snapshot.account, region=snapshot.region,
                     name=f"{cost.architecture} {cost.environment or '(no environment)'}",
                     environment=cost.environment, attributes=_attributes(cost)) for cost in costs]


def _attributes(cost: DeploymentCost) -> dict[str, Any]:
    e, b = cost.estimate, cost.budget
    by_service = e.by_service()
    complete = e.complete and not cost.missing_types
    out: dict[str, Any] = {
        "pack": cost.architecture, "document": cost.document, "monthly_usd": e.total_usd, "complete": complete,
        "unpriced": sorted({line.price_key or line.formula for line in e.unpriced}),
        "missing_types": list(cost.missing_types), "by_service": by_service,
        "biggest": [f"{line.service} {line.resource.get('name') or line.resource['id']} {line.item} "
                    f"{usd(line.monthly_usd)}" for line in e.biggest(BIGGEST)],
        "budget": None, "itemized_usd": e.total_usd, "budget_verdict": None, "over_budget": [],
        "rows": [], "rows_over": [], "unitemized": []}
    if b is None:
        return out
    covered = b.services if b.rows else set(by_service)
    itemized = round(sum(v for k, v in by_service.items() if k in covered), 2)
    rows = [_row(row, by_service, b.tolerance) for row in b.rows]
    rows_over = [f"{r['item']}: {usd(r['estimated_usd'])}/month estimated, {usd(r['documented_usd'])} documented "
                 f"(limit {usd(r['limit_usd'])})" for r in rows if not r["within"]]
    if b.rows:
        over_budget = rows_over
    elif itemized > b.limit_usd:
        over_budget = [f"{usd(itemized)}/month is {usd(itemized - b.limit_usd)} over the limit {usd(b.limit_usd)} "
                       f"({usd(b.monthly_usd)} + {b.tolerance:.0%}); biggest lines: {'; '.join(out['biggest'])}"]
    else:
        over_budget = []
    out.update({
        "budget": {"monthly_usd": b.monthly_usd, "tolerance": b.tolerance, "limit_usd": b.limit_usd, "quote": b.quote},
        "itemized_usd": itemized,
        "budget_verdict": "over" if over_budget else ("within" if complete else "unknown"),
        "over_budget": over_budget, "rows": rows, "rows_over": rows_over,
        "unitemized": [f"{service} {usd(v)}/month" for service, v in by_service.items()
                       if b.rows and service not in covered and v > 0]})
    return out


def _row(row: BudgetRow, by_service: Mapping[str, float], tolerance: float) -> dict[str, Any]:
    estimated = round(sum(by_service.get(s, 0.0) for s in row.services), 2)
    tol = row.tolerance if row.tolerance is not None else tolerance
    limit = round(row.monthly_usd * (1 + tol), 2)
    return {"item": row.item, "services": list(row.services), "documented_usd": row.monthly_usd,
            "estimated_usd": estimated, "tolerance": tol, "limit_usd": limit, "within": estimated <= limit,
            "quote": row.quote, "note": row.note}
