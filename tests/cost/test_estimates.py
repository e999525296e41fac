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
from auditor.package_data import package_path

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
        "cloudwatch": 8 * ALARM + DASHBOARD, "ecr": 0.0}, "pass"),
    ("mattilda", "production"): ({
        "fargate": fargate(2, 1, 2), "rds": rds(T3_MICRO, 20, True), "elasticache": CACHE_T3_MICRO * H,
        "nat_gateway": NAT * H, "load_balancer": ALB_MONTH, "secrets_manager": 3 * SECRET,
        "cloudwatch": 8 * ALARM + DASHBOARD, "ecr": 0.0}, "pass"),
    ("miss-you-app", "production"): ({
        "fargate": fargate(2, 0.5, 1), "rds": rds(T3_MICRO, 20, True), "nat_gateway": 2 * NAT * H,
        "load_balancer": ALB_MONTH, "secrets_manager": 3 * SECRET, "cloudwatch": 7 * ALARM, "ecr": 0.0}, "pass"),
    ("miss-you-app", "development"): ({
        "fargate": fargate(1, 0.25, 0.5), "rds": rds(T3_MICRO, 20, False), "nat_gateway": NAT * H,
        "load_balancer": ALB_MONTH, "secrets_manager": 3 * SECRET, "cloudwatch": 7 * ALARM, "ecr": 0.0}, "pass"),
    ("fckdoomscroll", "production"): ({
        "fargate": fargate(2, 0.5, 1), "rds": rds(T4G_SMALL, 20, True), "nat_gateway": NAT * H,
        "load_balancer": ALB_MONTH, "secrets_manager": 3 * SECRET, "cloudwatch": 11 * ALARM + DASHBOARD,
        "ecr": 0.0}, "pass"),
    ("fckdoomscroll", "development"): ({
        "fargate": fargate(2, 0.5, 1), "rds": rds(T4G_MICRO, 20, True), "nat_gateway": NAT * H,
        "load_balancer": ALB_MONTH, "secrets_manager": 3 * SECRET, "cloudwatch": 11 * ALARM + DASHBOARD,
        "ecr": 0.0}, "pass"),
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
SCHEMA = json.loads(package_path("schemas", "report.schema.json").read_text())


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
        assert d["budget"] is None and d["rows"] == [] and d["budget_verdict"] is None
    else:   # built as documented: every row of the document's table within its tolerance
        budget = BUDGETS[(architecture, environment)]
        assert d["budget"]["monthly_usd"] == budget and d["budget_verdict"] == "within" and code == 0
        assert d["rows"] and all(row["within"] for row in d["rows"]), d["rows"]
        for row in d["rows"]:
            assert row["estimated_usd"] == pytest.approx(sum(by_service.get(s, 0) for s in row["services"]), abs=0.01)
            assert row["limit_usd"] == round(row["documented_usd"] * (1 + row["tolerance"]), 2)
        covered = {s for row in d["rows"] for s in row["services"]}
        assert d["unitemized"] == [f"{s} ${v:,.2f}/month" for s, v in d["by_service"].items()
                                   if s not in covered and v > 0]


def test_a_doubled_task_fails_its_row_and_the_rest_is_reported_not_judged(account, capsys):
    """portfolio development holds every row; a frontend task twice the documented size pushes the
    Fargate row over ~$20 + 25%; what the table leaves out is an info finding, not a failure."""
    deploy("portfolio", "development", account, ["frontend-task-doubled"])
    code = cli.main(["audit", "--quiet", "-a", "portfolio", "--format", "json", "--max-attempts", "2"])
    report = json.loads(capsys.readouterr().out)
    jsonschema.validate(report, SCHEMA)
    [finding] = [f for f in report["findings"] if f["rule_id"] == "portfolio.cost.budget"]
    fargate_usd = fargate(1, 0.25, 0.5) + fargate(1, 0.5, 1)
    assert code == 1 and finding["status"] == "fail"
    assert finding["resource"]["type"] == "deployment" and finding["resource"]["id"] == "portfolio/development"
    assert finding["deployment"] == "portfolio/development"
    assert f"ECS Fargate: ${fargate_usd:.2f}/month estimated, $20.00 documented (limit $25.00)" in finding["actual"]
    assert finding["doc"]["quote"] == "**Total**: ~$115-130/month"
    [d] = report["cost"]["deployments"]
    assert d["budget_status"] == "fail" and d["budget_verdict"] == "over"
    [unitemized] = [f for f in report["findings"] if f["rule_id"] == "portfolio.cost.unitemized"]
    assert unitemized["status"] == "fail" and unitemized["severity"] == "info"
    assert f"cloudwatch ${8 * ALARM + DASHBOARD:.2f}/month" in unitemized["actual"]


def test_compliant_mattilda_reports_what_its_table_leaves_out(account, capsys):
    deploy("mattilda", "production", account)
    code = cli.main(["audit", "--quiet", "-a", "mattilda", "--format", "json", "--max-attempts", "2"])
    report = json.loads(capsys.readouterr().out)
    by_rule = {f["rule_id"]: f for f in report["findings"] if f["rule_id"].startswith("mattilda.cost.")}
    assert code == 0 and by_rule["mattilda.cost.budget"]["status"] == "pass"
    assert by_rule["mattilda.cost.estimate_complete"]["status"] == "pass"
    info = by_rule["mattilda.cost.unitemized"]
    assert (info["status"], info["severity"]) == ("fail", "info")
    assert f"nat_gateway ${NAT * H:.2f}/month" in info["actual"]


def test_table_shows_every_line_with_its_formula(account, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    deploy("mattilda", "staging", account)
    assert cli.main(["cost", "-a", "mattilda", "--max-attempts", "2"]) == 0
    out = capsys.readouterr().out
    assert "mattilda staging" in out and "2 tasks × 0.5 vCPU × 730 h × $0.04048/vCPU-hour" in out
    assert "not estimated" in out and "within budget" in out and "$124.01" in out
    assert "ECS Fargate (2 tasks): $36.04 estimated, $30.00 documented + 25% = $37.50 within" in out
    assert "not in the document's cost table: nat_gateway $32.85" in out
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
    # the priced rows are within, the ElastiCache row is unknown: the budget rule cannot tell
    assert d["budget_verdict"] == "unknown" and d["budget_status"] == "skip" and code == 0


def test_unpriced_region_makes_the_budget_unknowable(account, capsys, tmp_path):
    deploy("portfolio", "development", account)
    path = prices_without(tmp_path, "ec2:nat-gateway")
    cli.main(["audit", "--quiet", "-a", "portfolio", "--format", "json", "--prices", str(path), "--max-attempts", "2"])
    report = json.loads(capsys.readouterr().out)
    by_rule = {f["rule_id"]: f for f in report["findings"] if f["rule_id"].startswith("portfolio.cost.")}
    assert by_rule["portfolio.cost.budget"]["status"] == "skip"   # said, with the reason, never a pass
    incomplete = by_rule["portfolio.cost.estimate_complete"]
    assert incomplete["status"] == "fail" and "ec2:nat-gateway" in incomplete["actual"]


@pytest.mark.e2e   # moto's server, started by cost --emulated
def test_emulated_deployment_of_one_environment_and_an_undocumented_one(capsys):
    code, doc = cost_json(capsys, "portfolio", "--emulated", "--environment", "dev")
    [d] = doc["deployments"]
    assert d["environment"] == "development" and d["budget_status"] == "pass" and code == 0
    assert d["monthly_usd"] == pytest.approx(sum(EXPECTED[("portfolio", "development")][0].values()), abs=0.01)
    assert cli.main(["cost", "-a", "indii-music", "--emulated", "-e", "development"]) == 2
    assert "error: indii-music documents the environments production, staging, not 'development'" in \
        capsys.readouterr().err
