"""Packs hold in any region: the emulated builders take a region, and the same documented
deployment is judged the same way wherever it runs.

The bundled price table covers us-east-1, us-east-2 and us-west-2; in another region every
estimate line is unpriced, so the budget rule applies to nothing (its verdict stays open) and
``<pack>.cost.estimate_complete`` (info) fails, listing the unpriced keys. The comparison
between regions gives the second region us-east-1's prices through --prices, so that cost
rules are compared too."""
from __future__ import annotations

import json
from dataclasses import asdict

import boto3
import pytest
import requests
from cli_runner import audit_json, failing, run
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.elbv2.models import elbv2_backends

from auditor.cost.deployment import budget_rule_id
from auditor.cost.prices import BUNDLED, PriceTable, read_table, write_table
from auditor.emulated.architectures import ARCHITECTURES, ENVIRONMENTS, spec
from auditor.emulated.builder import build
from auditor.emulated.demo import deploy, deploy_many
from auditor.emulated.live import DriftCycle
from auditor.emulated.neighbour import billing
from auditor.rules.loader import load_pack_file, rules_root

UNPRICED = ("eu-west-1", "ap-southeast-2")


def reset(endpoint: str) -> None:
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()


def statuses(report: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in report["findings"]:
        out.setdefault(f["rule_id"], []).append(f["status"])
    return {rule: sorted(s) for rule, s in out.items()}


@pytest.mark.parametrize("name", [*ARCHITECTURES, "billing"])
def test_a_spec_in_another_region_holds_nothing_of_us_east_1(name):
    made = billing(region="eu-west-1") if name == "billing" else spec(name, ENVIRONMENTS[name][0], "eu-west-1")
    assert made.region == "eu-west-1"
    assert "us-east-1" not in json.dumps(asdict(made))


def test_the_builder_derives_zones_arns_and_the_ecr_host_from_the_region():
    with mock_aws():
        d = build(spec("mattilda", "production", "ap-southeast-2"))
        ec2, ecs = (boto3.client(s, region_name="ap-southeast-2") for s in ("ec2", "ecs"))
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [d["vpc"]]}])["Subnets"]
        assert sorted({s["AvailabilityZone"] for s in subnets}) == ["ap-southeast-2a", "ap-southeast-2b"]
        [container] = ecs.describe_task_definition(taskDefinition=d["taskdef:api"])["taskDefinition"]["containerDefinitions"]
        assert container["image"] == f"{d.account}.dkr.ecr.ap-southeast-2.amazonaws.com/mattilda-backend:latest"
        assert container["logConfiguration"]["options"]["awslogs-region"] == "ap-southeast-2"
        assert all(s["valueFrom"].startswith(f"arn:aws:secretsmanager:ap-southeast-2:{d.account}:secret:mattilda/")
                   for s in container["secrets"])
        policy = boto3.client("iam").get_role_policy(RoleName="mattilda-prod-ecs-task-role",
                                                     PolicyName="mattilda-prod-ecs-task-role-policy")["PolicyDocument"]
        assert policy["Statement"][0]["Resource"] == f"arn:aws:secretsmanager:ap-southeast-2:{d.account}:secret:mattilda/*"
        assert boto3.client("ec2", region_name="us-east-1").describe_subnets(
            Filters=[{"Name": "cidr-block", "Values": ["10.0.1.0/24"]}])["Subnets"] == []


def test_policy_arns_take_the_partition_of_the_region():
    with mock_aws():
        d = build(spec("indii-music", "production", "cn-north-1"))
        policy = boto3.client("iam", region_name="cn-north-1").get_role_policy(
            RoleName="indii-music-prod-ecs-task-role", PolicyName="indii-music-prod-ecs-task-role-policy")["PolicyDocument"]
        assert policy["Statement"][0]["Resource"] == f"arn:aws-cn:secretsmanager:cn-north-1:{d.account}:secret:indii-music/*"


def test_a_region_without_the_documented_zones_is_refused_before_anything_is_built():
    with mock_aws():
        with pytest.raises(ValueError, match=r"^ap-northeast-1 has no availability zone ap-northeast-1b \(its zones: "
                                             r"ap-northeast-1a, ap-northeast-1c, ap-northeast-1d\)"):
            build(spec("fckdoomscroll", "production", "ap-northeast-1"))
        assert boto3.client("ec2", region_name="ap-northeast-1").describe_vpcs(
            Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"] == []


def test_portfolio_in_eu_west_1_and_mattilda_in_ap_southeast_2_pass_their_packs(account, capsys):
    """Both documented environments of each, in one account; only the missing prices show."""
    assert all(PriceTable.load().describe(region)["prices"] == 0 for region in UNPRICED)
    deploy_many(account, [("portfolio", e) for e in ENVIRONMENTS["portfolio"]], region="eu-west-1")
    deploy_many(account, [("mattilda", e) for e in ENVIRONMENTS["mattilda"]], region="ap-southeast-2")
    for architecture, region in (("portfolio", "eu-west-1"), ("mattilda", "ap-southeast-2")):
        code, report = audit_json(capsys, architecture, "--region", region)
        assert (code, report["region"], report["errors"]) == (0, region, [])
        assert report["cost"]["prices"]["prices"] == 0
        budgeted = {f"{architecture}/{e}" for e in load_pack_file(
            rules_root() / "architectures" / f"{architecture}.yaml").pack.budget.environments}
        budget = {f["deployment"]: f for f in report["findings"] if f["rule_id"] == budget_rule_id(architecture)}
        assert {f["status"] for f in budget.values()} == {"skip"}
        assert all("budget_verdict in" in budget[d]["expected"] for d in budgeted)   # no verdict without prices
        found = failing(report)
        assert set(found) == {f"{architecture}.cost.estimate_complete"}, sorted(found)
        assert {f["deployment"] for f in found[f"{architecture}.cost.estimate_complete"]} == budgeted
        for f in found[f"{architecture}.cost.estimate_complete"]:
            assert f["severity"] == "info" and "fargate:vcpu:linux-x86_64" in f["actual"]
            assert "auditor prices refresh --region REGION" in f["remediation"]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_same_deployment_gets_the_same_findings_in_us_east_1_and_eu_west_1(account, capsys, tmp_path, architecture):
    bundled = read_table(BUNDLED)
    prices = tmp_path / "prices.json"
    write_table(prices, {**bundled, "regions": {"eu-west-1": {
        **bundled["regions"]["us-east-1"], "source": "us-east-1's bundled prices, for the comparison"}}})
    reports = {}
    for region in ("us-east-1", "eu-west-1"):
        reset(account)
        deploy(architecture, ENVIRONMENTS[architecture][0], account, region=region)
        code, reports[region] = audit_json(capsys, architecture, "--region", region, "--prices", str(prices))
        assert (code, reports[region]["region"], reports[region]["errors"]) == (0, region, [])
    assert statuses(reports["eu-west-1"]) == statuses(reports["us-east-1"])


def test_demo_builds_and_audits_the_region_it_is_given(capsys):
    code, out, _ = run(capsys, "demo", "--quiet", "--region", "ap-southeast-2", "--format", "json")
    report = json.loads(out)
    assert (code, report["region"], report["architecture"]) == (0, "ap-southeast-2", "mattilda")
    assert {f["resource"]["region"] for f in report["findings"]} == {"ap-southeast-2"}


def test_demo_refuses_an_unknown_region(capsys):
    code, out, err = run(capsys, "demo", "--quiet", "--region", "nowhere-9")
    assert (code, out) == (2, "") and "argument --region: not a known AWS region: 'nowhere-9'" in err


def test_the_drift_cycle_rebuilds_in_its_region(account):
    cycle = DriftCycle(account, "mattilda", "production", [], 0, region="eu-west-1")
    deployment = cycle.deploy()
    assert deployment["alb"].startswith("arn:aws:elasticloadbalancing:eu-west-1:")
    assert list(elbv2_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].load_balancers) == [deployment["alb"]]
