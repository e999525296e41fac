"""Deployments (an architecture pack's resources in one environment), their estimates, and the
budget rule that holds each estimate against the documented figure. Pure: snapshot in, values out."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..model import Finding, Resource, Snapshot
from ..relations import requires
from ..rules.engine import PackSelector, RuleSet
from ..rules.schema import Budget
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

    @property
    def limit_usd(self) -> float:
        return round(self.monthly_usd * (1 + self.tolerance), 2)

    def as_dict(self) -> dict[str, Any]:
        return {"monthly_usd": self.monthly_usd, "tolerance": self.tolerance, "limit_usd": self.limit_usd,
                "quote": self.quote}


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

    @property
    def key(self) -> str:
        return f"{self.architecture}/{self.environment or '-'}"

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
        }


def deployment_costs(snapshot: Snapshot, ruleset: RuleSet, prices: PriceTable,
                     assumptions: Assumptions | None = None) -> list[DeploymentCost]:
    """One estimate per architecture pack and environment found in the snapshot."""
    failed = snapshot.failed_types()
    out = []
    for selector in ruleset.selectors:
        missing = tuple(sorted(t for t in COST_TYPES if t in failed))
        for environment, resources in _deployments(snapshot, selector).items():
            budget = _budget(selector.pack.budget, environment)
            out.append(DeploymentCost(
                selector.pack.pack, environment, selector.pack.document,
                estimate(resources, snapshot, prices, assumptions), budget,
                tuple((r.type, r.id) for r in resources), missing))
    return out


def _deployments(snapshot: Snapshot, selector: PackSelector) -> dict[str | None, list[Resource]]:
    """The pack's resources by environment: what its selector matches, the alarms that watch
    them and the dashboards that show them."""
    groups: dict[str | None, list[Resource]] = {}
    for rtype in sorted((COST_TYPES | ALARM_ANCHORS) - {"cloudwatch_alarm", "cloudwatch_dashboard"}):
        for r in snapshot.of_type(rtype):
            if selector.matches(snapshot.document(r)):
                groups.setdefault(r.environment, []).append(r)
    for members in groups.values():
        alarm_names = {a["name"] for r in members for a in r.relations.get("alarms") or []}
        names = {str(v) for r in members for v in (r.id, r.name, r.attributes.get("arn_suffix"),
                                                   r.attributes.get("cluster_name")) if v}
        members.extend(snapshot.get("cloudwatch_alarm", n) for n in sorted(alarm_names)
                       if snapshot.get("cloudwatch_alarm", n))
        members.extend(d for d in snapshot.of_type("cloudwatch_dashboard")
                       if names.intersection(d.attributes.get("dimension_values") or ()))
    return groups


def _budget(budget: Budget | None, environment: str | None) -> BudgetLimit | None:
    entry = budget.environments.get(environment or "") if budget else None
    if budget is None or entry is None:
        return None
    return BudgetLimit(entry.monthly_usd, budget.tolerance, entry.quote)


def with_actual(costs: Iterable[DeploymentCost], fetch: Callable[[DeploymentCost], Any]) -> list[DeploymentCost]:
    """The costs with month-to-date spend from ``fetch`` (which may raise; the error is kept)."""
    out = []
    for cost in costs:
        try:
            out.append(replace(cost, actual=fetch(cost)))
        except Exception as exc:  # noqa: BLE001 - any failure is reported beside the estimate
            out.append(replace(cost, actual_error=str(exc)))
    return out


# --------------------------------------------------------------------------- the budget rule
def budget_rule_id(pack: str) -> str:
    return f"{pack}.cost.budget"


BUDGET_TITLE = "Estimated monthly cost within the documented budget"


def budget_status(findings: Iterable[Finding], cost: DeploymentCost) -> str | None:
    """The status of the budget finding on ``cost`` (None: no budget documented for it)."""
    rule_id = budget_rule_id(cost.architecture)
    return next((f.status for f in findings if f.rule_id == rule_id and f.resource.get("id") == cost.key), None)


def budget_findings(costs: Iterable[DeploymentCost], ruleset: RuleSet, snapshot: Snapshot) -> list[Finding]:
    """pass/fail/error of each pack's budget rule on each of its deployments with a budget."""
    packs = {s.pack.pack: s.pack for s in ruleset.selectors}
    findings = []
    for cost in costs:
        pack = packs[cost.architecture]
        if pack.budget is None or cost.budget is None:
            continue
        status, expected, actual, message = _judge(cost)
        findings.append(Finding(
            rule_id=budget_rule_id(pack.pack), title=BUDGET_TITLE, severity=pack.budget.severity,
            status=status, resource=deployment_ref(cost, snapshot), expected=expected, actual=actual,
            message=message, doc=_doc(pack.document, pack.budget, cost.budget),
            remediation=pack.budget.remediation, pack=pack.pack))
    return findings


def deployment_ref(cost: DeploymentCost, snapshot: Snapshot) -> Mapping[str, Any]:
    return {"type": "deployment", "id": cost.key, "arn": None,
            "name": f"{cost.architecture} {cost.environment or '(no environment)'}",
            "region": snapshot.region, "account": snapshot.account}


def _doc(document: str | None, budget: Budget, limit: BudgetLimit) -> dict[str, Any]:
    doc = {"file": document or "", "quote": limit.quote}
    if budget.section:
        doc["section"] = budget.section
    return doc


def _judge(cost: DeploymentCost) -> tuple[str, str | None, str | None, str]:
    e, b = cost.estimate, cost.budget
    assert b is not None
    expected = f"estimated monthly cost <= {usd(b.limit_usd)} (budget {usd(b.monthly_usd)} + {b.tolerance:.0%})"
    biggest = "; ".join(f"{line.service} {line.resource.get('name') or line.resource['id']} {line.item} "
                        f"{usd(line.monthly_usd)}" for line in e.biggest(BIGGEST))
    actual = f"{usd(e.total_usd)}/month; biggest lines: {biggest}"
    if e.total_usd > b.limit_usd:
        over = e.total_usd - b.limit_usd
        lower = " at least" if not e.complete or cost.missing_types else ""
        return ("fail", expected, actual,
                f"{BUDGET_TITLE}: estimate{lower} {usd(e.total_usd)}/month is {usd(over)} over the limit "
                f"{usd(b.limit_usd)}; biggest lines: {biggest}")
    if cost.missing_types:
        return ("error", None, None, f"cannot estimate: collection failed for {', '.join(cost.missing_types)}")
    if not e.complete:
        keys = ", ".join(sorted({line.price_key or line.formula for line in e.unpriced}))
        return ("error", None, None, f"cannot tell: {len(e.unpriced)} lines have no price ({keys}); "
                                     f"the priced lines sum to {usd(e.total_usd)}/month")
    return "pass", None, None, f"{BUDGET_TITLE}: {usd(e.total_usd)}/month within {usd(b.limit_usd)}"

