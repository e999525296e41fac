"""The JSON report: the stable contract described by auditor/schemas/report.schema.json."""
from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..coverage import summary as coverage_summary
from ..model import SEVERITIES, STATUSES
from ..results import AuditResult, FleetResult, TargetFailure, counts
from .cost import cost_document

if TYPE_CHECKING:
    from ..targets import Target

SCHEMA_VERSION = 1


def summary(result: AuditResult) -> dict[str, Any]:
    by_status = Counter(f.status for f in result.findings)
    by_severity = {s: {st: 0 for st in STATUSES} for s in SEVERITIES}
    for f in result.findings:
        by_severity[f.severity][f.status] += 1
    return {
        "total": len(result.findings),
        "by_status": {s: by_status.get(s, 0) for s in STATUSES},
        "by_severity": by_severity,
        "rules": len({f.rule_id for f in result.findings}),
        "resources": result.snapshot.counts(),
        "coverage": coverage_summary(result.findings),
    }


def changes_section(result: AuditResult) -> dict[str, Any] | None:
    """The ``changes`` section: counts and resources, or None when nothing was compared."""
    if result.changes is None:
        return None
    return {"compared_to": result.compared_to, **counts(result.changes),
            "resources": [c.as_dict() for c in result.changes]}


def to_dict(result: AuditResult) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "auditor", "version": __version__},
        "architecture": result.architecture,
        "environment": result.environment,
        "account": result.account,
        "region": result.region,
        "started_at": result.started_at,
        "duration_seconds": result.duration_seconds,
        "summary": summary(result),
        "errors": [e.as_dict() for e in result.errors],
        "vanished": dict(result.snapshot.vanished),
        "warnings": list(result.warnings),
        "waivers": result.waivers.as_dict() if result.waivers is not None else None,
        "changes": changes_section(result),
        "findings": [f.as_dict() for f in result.findings],
        "cost": cost_document(result),
    }


def fleet_to_dict(fleet: FleetResult) -> dict[str, Any]:
    """The report of several targets: the top-level fields over the whole fleet (``errors`` also
    naming each error's account and region, a failed target one error), plus one ``targets`` entry each."""
    out = to_dict(fleet.combined)
    out["errors"] = [*({**e.as_dict(), "account": r.account, "region": r.region}
                       for r in fleet.results.values() for e in r.errors),
                     *(_failure_error(f) for f in fleet.failures.values())]
    out["targets"] = [_target(fleet, t) for t in fleet.targets]
    return out


def _failure_error(failure: TargetFailure) -> dict[str, Any]:
    return {"service": failure.service, "operation": failure.operation, "code": failure.code,
            "message": failure.message, "category": failure.category, "resource_types": [],
            "account": failure.target.account, "region": failure.target.region}


def _target(fleet: FleetResult, target: Target) -> dict[str, Any]:
    """One target: its summary, errors and cost, or why it was not audited."""
    entry = {"account": target.account, "region": target.region,
             "role_arn": target.role.role_arn if target.role else None}
    failure = fleet.failures.get(target.key)
    if failure is not None:
        return {**entry, "status": "failed", "started_at": None, "duration_seconds": failure.duration_seconds,
                "summary": None, "errors": [_failure_error(failure)], "cost": None}
    result = fleet.results[target.key]
    by_status = Counter(f.status for f in result.findings)
    return {**entry, "status": "audited", "started_at": result.started_at, "duration_seconds": result.duration_seconds,
            "summary": {"total": len(result.findings), "by_status": {s: by_status.get(s, 0) for s in STATUSES},
                        "resources": len(result.snapshot)},
            "errors": [{**e.as_dict(), "account": result.account, "region": result.region} for e in result.errors],
            "cost": cost_document(result)}


def to_json(result: AuditResult | FleetResult) -> str:
    data = fleet_to_dict(result) if isinstance(result, FleetResult) else to_dict(result)
    return json.dumps(data, indent=2, sort_keys=False) + "\n"
