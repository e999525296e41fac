"""Actual spend beside the estimate: the deployment's tag filter, answers reused for max_age (each
Cost Explorer request is billed), and a failing Cost Explorer that leaves the estimate standing."""
from __future__ import annotations

import json
from datetime import date

import requests
from botocore.stub import Stubber

from auditor import cli
from auditor.audit import AuditOptions, load_ruleset, run_audit
from auditor.aws import AwsContext
from auditor.cost.spend import SpendReader, deployment_tags
from auditor.emulated.demo import deploy

TODAY = date(2026, 11, 23)


def _queue(endpoint: str, groups: dict[str, str]) -> None:
    result = {"ResultsByTime": [{"TimePeriod": {"Start": "2026-11-01", "End": "2026-11-24"}, "Total": {},
                                 "Groups": [{"Keys": [k], "Metrics": {"UnblendedCost": {"Amount": v, "Unit": "USD"}}}
                                            for k, v in groups.items()], "Estimated": True}],
              "DimensionValueAttributes": []}
    r = requests.post(f"{endpoint}/moto-api/static/ce/cost-and-usage-results", json={"results": [result]}, timeout=10)
    assert r.status_code == 201


def _audit(reader: SpendReader):
    aws = AwsContext(region="us-east-1", max_attempts=2)
    ruleset = load_ruleset("mattilda")
    return aws, run_audit(AuditOptions(architecture="mattilda"), ruleset, aws=aws, spend=reader, today=TODAY)


def test_actual_spend_reused_until_it_is_older_than_max_age(account):
    deploy("mattilda", "staging", account)
    _queue(account, {"Amazon Relational Database Service": "9.50", "EC2 - Other": "21.10"})
    now = [0.0]
    reader = SpendReader(max_age_seconds=3600, clock=lambda: now[0])
    aws, result = _audit(reader)
    [cost] = result.costs
    assert cost.actual.tags == {"Project": "mattilda", "Environment": "staging"}
    assert (cost.actual.start, cost.actual.end) == ("2026-11-01", "2026-11-24")
    assert cost.actual.by_label()["rds"] == 9.5 and cost.actual.by_label()["nat_gateway"] == 21.1
    assert aws.stats.calls[("ce", "GetCostAndUsage")] == 1
    now[0] = 3599.0
    aws, again = _audit(reader)
    assert again.costs[0].actual == cost.actual and aws.stats.calls[("ce", "GetCostAndUsage")] == 0
    now[0] = 3600.0
    aws, later = _audit(reader)
    assert aws.stats.calls[("ce", "GetCostAndUsage")] == 1 and later.costs[0].actual.total_usd == 30.6


def test_tag_filter_takes_the_selector_tags_and_the_raw_environment_tag(account):
    deploy("miss-you-app", "development", account)
    aws = AwsContext(region="us-east-1", max_attempts=2)
    ruleset = load_ruleset("miss-you-app")
    result = run_audit(AuditOptions(architecture="miss-you-app"), ruleset, aws=aws)
    [cost] = result.costs
    tags = deployment_tags(cost, result.snapshot, ruleset, "Environment")
    raw = {r.tags["Environment"] for r in result.snapshot if r.tags.get("Project") == "miss-you-app"}
    assert tags == {"Project": "miss-you-app", "Environment": raw.pop()}


def test_cost_explorer_failure_keeps_the_estimate(account, capsys, monkeypatch):
    deploy("mattilda", "staging", account)
    real_client = AwsContext.client

    def client(self, service):
        c = real_client(self, service)
        if service == "ce":
            stub = Stubber(c)
            stub.add_client_error("get_cost_and_usage", "AccessDeniedException", "not authorized", 400)
            stub.activate()
        return c
    monkeypatch.setattr(AwsContext, "client", client)
    code = cli.main(["cost", "-a", "mattilda", "--actual", "--format", "json", "--max-attempts", "2"])
    [d] = json.loads(capsys.readouterr().out)["deployments"]
    assert d["actual"] is None and "AccessDeniedException" in d["actual_error"]
    assert d["monthly_usd"] > 0 and d["budget_status"] == "pass" and code == 0


def test_table_shows_actual_beside_the_estimate(account, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    deploy("mattilda", "staging", account)
    _queue(account, {"Amazon ElastiCache": "8.25", "Tax": "1.00"})
    cli.main(["cost", "-a", "mattilda", "--actual", "--max-attempts", "2"])
    out = capsys.readouterr().out
    assert "Cost Explorer month to date beside the estimate" in out
    by_service = out.split("Cost Explorer month to date beside the estimate")[1]
    row = next(line for line in by_service.splitlines() if line.strip().strip("│ ").startswith("elasticache"))
    assert "$12.41" in row and "$8.25" in row
    other = next(line for line in by_service.splitlines() if line.strip().strip("│ ").startswith("other"))
    assert "$1.00" in other
