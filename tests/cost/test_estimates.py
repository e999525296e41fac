"""Each documented architecture's emulated deployment, estimated through ``auditor cost``, equals
the bill computed here by hand from the bundled us-east-1 prices; the budget verdicts follow."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from auditor import cli
from auditor.cost.prices import PriceTable
from auditor.emulated.demo import deploy

H = 730   # hours per month
# Bundled us-east-1 on-demand prices, as the hand computations below use them.
VCPU, GB = 0.04048, 0.004445                      # Fargate Linux x86: per vCPU-hour, per GB-hour
T3_MICRO, T4G_MICRO, T4G_SMALL = 0.018, 0.016, 0.032   # RDS PostgreSQL Single-AZ, per hour
GP3 = 0.115                                       # RDS gp3, per GB-month (Single-AZ)
CACHE_T3_MICRO, CACHE_T4G_MICRO, CACHE_T4G_SMALL = 0.017, 0.016, 0.032   # ElastiCache Redis, per node-hour
NAT = 0.045                                       # per NAT gateway-hour
ALB, LCU = 0.0225, 0.008                          # per ALB-hour, per LCU-hour (1 LCU assumed)
SECRET, ALARM, DASHBOARD = 0.40, 0.10, 3.00       # per secret, alarm metric, dashboard per month

HAND_PRICES = {
    "fargate:vcpu:linux-x86_64": VCPU, "fargate:memory:linux-x86_64": GB,
    "rds:instance:postgres:db.t3.micro": T3_MICRO, "rds:instance:postgres:db.t4g.micro": T4G_MICRO,
    "rds:instance:postgres:db.t4g.small": T4G_SMALL, "rds:storage:gp3": GP3,
    "elasticache:node:redis:cache.t3.micro": CACHE_T3_MICRO, "elasticache:node:redis:cache.t4g.micro": CACHE_T4G_MICRO,
    "elasticache:node:redis:cache.t4g.small": CACHE_T4G_SMALL, "ec2:nat-gateway": NAT, "elb:application": ALB,
    "elb:application-lcu": LCU, "secretsmanager:secret": SECRET, "cloudwatch:alarm-standard": ALARM,
    "cloudwatch:dashboard": DASHBOARD,
}


def fargate(tasks: float, vcpu: float, gb: float) -> float:
    return tasks * (vcpu * VCPU + gb * GB) * H


def rds(hourly: float, gb: float, multi_az: bool) -> float:
    az = 2 if multi_az else 1
    return az * hourly * H + az * gb * GP3


ALB_MONTH = ALB * H + 1 * LCU * H

# (architecture, environment) -> expected dollars per service, and the budget verdict.
EXPECTED = {
    ("mattilda", "staging"): ({
        "fargate": fargate(2, 0.5, 1), "rds": rds(T3_MICRO, 20, False), "elasticache": CACHE_T3_MICRO * H,
        "nat_gateway": NAT * H, "load_balancer": ALB_MONTH, "secrets_manager": 3 * SECRET,
        "cloudwatch": 8 * ALARM + DASHBOARD, "ecr": 0.0}, "fail"),
    ("mattilda", "production"): ({
        "fargate": fargate(2, 1, 2), "rds": rds(T3_MICRO, 20, True), "elasticache": CACHE_T3_MICRO * H,
        "nat_gateway": NAT * H, "load_balancer": ALB_MONTH, "secrets_manager": 3 * SECRET,
        "cloudwatch": 8 * ALARM + DASHBOARD, "ecr": 0.0}, "fail"),
    ("miss-you-app", "production"): ({
        "fargate": fargate(2, 0.5, 1), "rds": rds(T3_MICRO, 20, True), "nat_gateway": 2 * NAT * H,
        "load_balancer": ALB_MONTH, "secrets_manager": 3 * SECRET, "cloudwatch": 7 * ALARM, "ecr": 0.0}, "fail"),
    ("miss-you-app", "development"): ({
        "fargate": fargate(1, 0.25, 0.5), "rds": rds(T3_MICRO, 20, False), "nat_gateway": NAT * H,
        "load_balancer": ALB_MONTH, "secrets_manager": 3 * SECRET, "cloudwatch": 7 * ALARM, "ecr": 0.0}, "fail"),
    ("fckdoomscroll", "production"): ({
        "fargate": fargate(2, 0.5, 1), "rds": rds(T4G_SMALL, 20, True), "nat_gateway": NAT * H,
        "load_balancer": ALB_MONTH, "secrets_manager": 3 * SECRET, "cloudwatch": 11 * ALARM + DASHBOARD,
        "ecr": 0.0}, "fail"),
    ("fckdoomscroll", "development"): ({
        "fargate": fargate(2, 0.5, 1), "rds": rds(T4G_MICRO, 20, True), "nat_gateway": NAT * H,
        "load_balancer": ALB_MONTH, "secrets_manager": 3 * SECRET, "cloudwatch": 11 * ALARM + DASHBOARD,
        "ecr": 0.0}, "fail"),
    ("indii-music", "production"): ({
        "fargate": fargate(2, 0.5, 1), "nat_gateway": NAT * H, "load_balancer": ALB_MONTH,
        "secrets_manager": 2 * SECRET, "cloudwatch": 6 * ALARM, "ecr": 0.0}, None),
    ("indii-music", "staging"): ({
        "fargate": fargate(2, 0.5, 1), "nat_gateway": NAT * H, "load_balancer": ALB_MONTH,
        "secrets_manager": 2 * SECRET, "cloudwatch": 6 * ALARM, "ecr": 0.0}, None),
    ("portfolio", "development"): ({
        "fargate": 2 * fargate(1, 0.25, 0.5), "rds": rds(T4G_MICRO, 20, False), "elasticache": CACHE_T4G_MICRO * H,
        "nat_gateway": 2 * NAT * H, "load_balancer": ALB_MONTH, "cloudwatch": 8 * ALARM + DASHBOARD, "ecr": 0.0},
        "pass"),
    ("portfolio", "production"): ({
        "fargate": 2 * fargate(2, 0.25, 0.5), "rds": rds(T4G_SMALL, 50, True), "elasticache": 2 * CACHE_T4G_SMALL * H,
        "nat_gateway": 2 * NAT * H, "load_balancer": ALB_MONTH, "cloudwatch": 8 * ALARM + DASHBOARD, "ecr": 0.0},
        None),
}
BUDGETS = {("mattilda", "staging"): 77, ("mattilda", "production"): 122, ("miss-you-app", "production"): 136,
           ("miss-you-app", "development"): 50, ("fckdoomscroll", "production"): 110,
           ("fckdoomscroll", "development"): 60, ("portfolio", "development"): 130}
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "report.schema.json").read_text())


def cost_json(capsys, architecture: str, *args: str) -> tuple[int, dict]:
    code = cli.main(["cost", "--architecture", architecture, "--format", "json", "--max-attempts", "2", *args])
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, {"$defs": SCHEMA["$defs"], "$ref": "#/$defs/cost"})
    return code, doc


def test_hand_prices_are_the_bundled_ones():
    table = PriceTable.load()
    assert {k: table.get("us-east-1", k).usd for k in HAND_PRICES} == HAND_PRICES


@pytest.mark.parametrize("architecture,environment", sorted(EXPECTED))
def test_estimate_equals_the_hand_computation(account, capsys, architecture, environment):
    deploy(architecture, environment, account)
    code, doc = cost_json(capsys, architecture)
    [d] = doc["deployments"]
    by_service, verdict = EXPECTED[(architecture, environment)]
    assert d["environment"] == environment and d["complete"] and d["unpriced_lines"] == 0
    assert d["by_service"] == {s: pytest.approx(v, abs=0.005) for s, v in by_service.items()}
    assert d["monthly_usd"] == pytest.approx(sum(by_service.values()), abs=0.01)
    for line in d["lines"]:   # each line explains its dollars
        assert line["status"] in ("estimated", "not_estimated"), line
        if line["status"] == "estimated":
            assert line["monthly_usd"] == pytest.approx(line["quantity"] * line["unit_price_usd"], abs=0.005)
            assert f"{line['unit_price_usd']:g}" in line["formula"] and line["unit"] in line["formula"]
        else:
            assert line["monthly_usd"] is None and "usage-based" in line["formula"]
    nat_data = [line for line in d["lines"] if line["item"] == "data processed"]
    assert len(nat_data) == round(by_service["nat_gateway"] / (NAT * H))   # one per gateway, never $0
    assert d["budget_status"] == verdict
    if verdict is None:
        assert d["budget"] is None
    else:
        budget = BUDGETS[(architecture, environment)]
        assert d["budget"]["monthly_usd"] == budget and d["budget"]["limit_usd"] == round(budget * 1.1, 2)
        assert (d["monthly_usd"] > budget * 1.1) == (verdict == "fail")
        assert code == (1 if verdict == "fail" else 0)


def test_budget_finding_lists_the_biggest_lines(account, capsys):
    deploy("mattilda", "production", account)
    code = cli.main(["audit", "--quiet", "-a", "mattilda", "--format", "json", "--max-attempts", "2"])
    report = json.loads(capsys.readouterr().out)
    jsonschema.validate(report, SCHEMA)
    [finding] = [f for f in report["findings"] if f["rule_id"] == "mattilda.cost.budget"]
    total = sum(EXPECTED[("mattilda", "production")][0].values())
    assert code == 1 and finding["status"] == "fail"
    assert finding["resource"]["type"] == "deployment" and finding["resource"]["id"] == "mattilda/production"
    assert finding["expected"] == "estimated monthly cost <= $134.20 (budget $122.00 + 10%)"
    assert finding["actual"].startswith(f"${total:.2f}/month; biggest lines: ")
    biggest = finding["actual"].split("biggest lines: ")[1].split("; ")
    assert biggest == [f"fargate mattilda-api-service vCPU ${2 * 1 * VCPU * H:.2f}",
                       f"nat_gateway mattilda-vpc-prod-nat-a gateway hours ${NAT * H:.2f}",
                       f"rds mattilda-db-prod instance (Multi-AZ) ${2 * T3_MICRO * H:.2f}"]
    assert finding["doc"]["quote"].startswith("| **Total** | **~$77** | **~$122** |")
    assert report["cost"]["deployments"][0]["budget_status"] == "fail"


def test_drift_pushes_a_compliant_deployment_over_budget(account, capsys):
    """portfolio development is within $130 + 10%; doubling the frontend task adds a task's worth."""
    deploy("portfolio", "development", account, ["frontend-task-doubled"])
    code, doc = cost_json(capsys, "portfolio")
    [d] = doc["deployments"]
    before = sum(EXPECTED[("portfolio", "development")][0].values())
    assert d["monthly_usd"] == pytest.approx(before - fargate(1, 0.25, 0.5) + fargate(1, 0.5, 1), abs=0.01)
    assert d["monthly_usd"] > 143.0 and d["budget_status"] == "fail" and code == 1


def test_table_shows_every_line_with_its_formula(account, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    deploy("mattilda", "staging", account)
    assert cli.main(["cost", "-a", "mattilda", "--max-attempts", "2"]) == 1
    out = capsys.readouterr().out
    assert "mattilda staging" in out and "2 tasks × 0.5 vCPU × 730 h × $0.04048/vCPU-hour" in out
    assert "not estimated" in out and "OVER BUDGET" in out and "$124.01" in out
    assert "1 LCU (assumed) × 730 h × $0.008/LCU-hour" in out


def test_environment_option_and_assumed_lcus(account, capsys):
    deploy("miss-you-app", "development", account)
    code, doc = cost_json(capsys, "miss-you-app", "--environment", "production")
    assert doc["deployments"] == [] and code == 0
    _code, doc = cost_json(capsys, "miss-you-app", "--alb-lcu", "3")
    [d] = doc["deployments"]
    [lcu] = [line for line in d["lines"] if line["price_key"] == "elb:application-lcu"]
    assert lcu["quantity"] == 3 * H and lcu["monthly_usd"] == pytest.approx(3 * LCU * H, abs=0.005)


def prices_without(folder: Path, key: str) -> Path:
    """The bundled price file less one us-east-1 price."""
    prices = json.loads(PriceTable.load().files["us-east-1"].read_text())
    del prices["regions"]["us-east-1"]["prices"][key]
    path = folder / "prices.json"
    path.write_text(json.dumps(prices))
    return path


def test_missing_price_is_unknown_never_zero(account, capsys, tmp_path):
    deploy("mattilda", "staging", account)
    path = prices_without(tmp_path, "elasticache:node:redis:cache.t3.micro")
    code, doc = cost_json(capsys, "mattilda", "--prices", str(path))
    [d] = doc["deployments"]
    [line] = [line for line in d["lines"] if line["service"] == "elasticache"]
    assert line["status"] == "unpriced" and line["monthly_usd"] is None and line["unit_price_usd"] is None
    assert "no price for elasticache:node:redis:cache.t3.micro in us-east-1" in line["formula"]
    assert not d["complete"] and d["unpriced_lines"] == 1 and "elasticache" in d["by_service"]
    # still over budget on the priced lines alone: a lower bound that already exceeds the limit
    assert d["budget_status"] == "fail" and code == 1


def test_unpriced_region_makes_the_budget_unknowable(account, capsys, tmp_path):
    deploy("portfolio", "development", account)
    path = prices_without(tmp_path, "ec2:nat-gateway")
    cli.main(["audit", "--quiet", "-a", "portfolio", "--format", "json", "--prices", str(path), "--max-attempts", "2"])
    report = json.loads(capsys.readouterr().out)
    [finding] = [f for f in report["findings"] if f["rule_id"] == "portfolio.cost.budget"]
    assert finding["status"] == "error" and "2 lines have no price (ec2:nat-gateway)" in finding["message"]


def test_emulated_deployment_of_one_environment_and_an_undocumented_one(capsys):
    code, doc = cost_json(capsys, "portfolio", "--emulated", "--environment", "dev")
    [d] = doc["deployments"]
    assert d["environment"] == "development" and d["budget_status"] == "pass" and code == 0
    assert d["monthly_usd"] == pytest.approx(sum(EXPECTED[("portfolio", "development")][0].values()), abs=0.01)
    assert cli.main(["cost", "-a", "indii-music", "--emulated", "-e", "development"]) == 2
    assert "error: indii-music documents the environments production, staging, not 'development'" in \
        capsys.readouterr().err
