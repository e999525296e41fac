"""What each rule covered in an audit: resources judged, deployments where it applied to nothing.

Derived from the findings alone, so reports, metrics and the exit code agree: a finding with a
real resource counts that resource; a ``skip`` finding of kind SKIP_NOTHING is a rule that
applied to nothing in one deployment; SKIP_OUT_OF_SCOPE is an environment the rule does not ask.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .model import SKIP_NOTHING, SKIP_OUT_OF_SCOPE, Finding


def judged(f: Finding) -> bool:
    """The finding judged an existing resource (not a skip, nor an absence)."""
    return f.status != "skip" and not str(f.resource.get("id", "")).startswith("(none")


@dataclass(frozen=True)
class RuleCoverage:
    rule_id: str
    pack: str | None
    severity: str
    resources: int                     # distinct resources judged
    nothing_in: tuple[str, ...]        # deployments (or "the account") where it applied to nothing
    out_of_scope_in: tuple[str, ...]   # deployments whose environment the rule does not ask

    def as_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "pack": self.pack, "resources": self.resources,
                "applied_to_nothing_in": list(self.nothing_in), "out_of_scope_in": list(self.out_of_scope_in)}


def rule_coverage(findings: Iterable[Finding]) -> list[RuleCoverage]:
    """One entry per rule that has a finding, in rule id order."""
    resources: dict[str, set] = defaultdict(set)
    nothing: dict[str, list[str]] = defaultdict(list)
    scoped: dict[str, list[str]] = defaultdict(list)
    meta: dict[str, Finding] = {}
    for f in findings:
        meta.setdefault(f.rule_id, f)
        if judged(f):
            resources[f.rule_id].add((f.resource.get("type"), f.resource.get("id")))
        elif f.skip == SKIP_NOTHING:
            nothing[f.rule_id].append(f.deployment or "the account")
        elif f.skip == SKIP_OUT_OF_SCOPE:
            scoped[f.rule_id].append(f.deployment or "the account")
    return [RuleCoverage(rid, f.pack, f.severity, len(resources[rid]), tuple(sorted(nothing[rid])),
                         tuple(sorted(scoped[rid]))) for rid, f in sorted(meta.items())]


def applied_to_nothing(findings: Iterable[Finding], packs: Iterable[str] | None = None) -> list[Finding]:
    """The ``skip`` findings of rules that found nothing to judge, of the given packs only (e.g. the
    architecture packs: a baseline rule about Memcached clusters rightly finds none)."""
    wanted = None if packs is None else set(packs)
    return [f for f in findings if f.status == "skip" and f.skip == SKIP_NOTHING
            and (wanted is None or f.pack in wanted)]


def summary(findings: list[Finding]) -> dict[str, Any]:
    """The report's coverage block."""
    cov = rule_coverage(findings)
    return {
        "rules_evaluated": len(cov),
        "rules_applied": sum(1 for c in cov if c.resources),
        "rules_applied_to_nothing": sum(1 for c in cov if not c.resources and c.nothing_in),
        "rules_out_of_scope": sum(1 for c in cov if not c.resources and not c.nothing_in and c.out_of_scope_in),
        "resources_per_rule": {c.rule_id: c.resources for c in cov},
        "applied_to_nothing": [{"rule_id": f.rule_id, "deployment": f.deployment, "reason": f.message}
                               for f in applied_to_nothing(findings)],
    }
