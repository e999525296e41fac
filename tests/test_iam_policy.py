"""docs/iam-policy.json grants every call the collectors make (and nothing that reads secret values),
plus the optional cost calls: Cost Explorer (actual spend) and the Price List API (prices refresh)."""
from __future__ import annotations

import json
from pathlib import Path

from auditor.audit import AuditOptions, run_audit
from auditor.collect import collect
from auditor.cost.spend import SpendReader
from auditor.emulated.architectures import ENVIRONMENTS
from auditor.emulated.demo import emulated_account

POLICY = json.loads((Path(__file__).resolve().parents[1] / "docs" / "iam-policy.json").read_text())
IAM_PREFIX = {"elbv2": "elasticloadbalancing"}
NO_PERMISSION_NEEDED = {("sts", "GetCallerIdentity")}


def test_policy_covers_every_call_of_a_full_collection():
    allowed = {a for s in POLICY["Statement"] for a in s["Action"]}
    assert not any(a.startswith("secretsmanager:Get") for a in allowed)
    called = set()
    for architecture, environments in ENVIRONMENTS.items():
        with emulated_account(architecture, environments[0]) as aws:
            collect(aws)
            called |= set(aws.stats.calls)
    with emulated_account("mattilda") as aws:   # an audit with actual spend: Cost Explorer too
        run_audit(AuditOptions(architecture="mattilda"), aws=aws, spend=SpendReader())
        called |= set(aws.stats.calls)
    assert ("ce", "GetCostAndUsage") in called
    missing = {f"{IAM_PREFIX.get(s, s)}:{op}" for s, op in called - NO_PERMISSION_NEEDED} - allowed
    assert not missing


def test_optional_cost_statements_stand_apart():
    optional = {s["Sid"]: s["Action"] for s in POLICY["Statement"] if s["Sid"].endswith("Optional")}
    assert optional == {"AuditorCostExplorerOptional": ["ce:GetCostAndUsage"],
                        "AuditorPriceListOptional": ["pricing:GetProducts"]}
    # tests/cost/test_refresh.py stubs the pricing client: a call other than GetProducts would fail there
