"""The JSON report: the stable contract described by auditor/schemas/report.schema.json."""
from __future__ import annotations

import json
from collections import Counter
from typing import Any

from .. import __version__
from ..audit import AuditResult
from ..changes import report_section as changes_section
from ..coverage import summary as coverage_summary
from ..model import SEVERITIES, STATUSES
from .cost import cost_document

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
        "warnings": list(result.warnings),
        "waivers": result.waivers.as_dict() if result.waivers is not None else None,
        "changes": changes_section(result),
        "findings": [f.as_dict() for f in result.findings],
        "cost": cost_document(result),
    }


def to_json(result: AuditResult) -> str:
    return json.dumps(to_dict(result), indent=2, sort_keys=False) + "\n"
