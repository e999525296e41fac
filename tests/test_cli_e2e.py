"""The CLI end to end against moto's threaded server (in-process), as a user would run it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import boto3
import jsonschema
import pytest
import requests
from cli_runner import REPORT_SCHEMA, audit, failing
from cli_runner import audit_json as _audit_json

from auditor import cli
from auditor.cost.prices import BUNDLED, read_table
from auditor.emulated.architectures import spec
from auditor.emulated.builder import build
from auditor.emulated.demo import deploy
from auditor.targets import RoleSpec, Target, session_for


def audit_json(capsys, *args: str) -> tuple[int, dict]:
    return _audit_json(capsys, "mattilda", *args)


def test_fail_on_threshold(account, capsys):
    deploy("mattilda", "production", account, ["db-instance-class"])  # a medium finding
    assert audit(capsys, "--architecture", "mattilda", "--fail-on", "high")[0] == 0
    assert audit(capsys, "--architecture", "mattilda", "--fail-on", "medium")[0] == 1


def test_table_markdown_and_junit(account, capsys, tmp_path):
    deploy("mattilda", "production", account, ["db-single-az", "secret-missing"])
    code, out, _ = audit(capsys, "--architecture", "mattilda")
    assert code == 1
    # plus the info finding on what mattilda's cost table leaves out (tests/cost)
    assert "HIGH (2)" in out and "INFO (1)" in out and "multi_az == true" in out and "Summary: 3 failing" in out
    assert "Estimated cost mattilda production: $159.65/month" in out   # Single-AZ, one secret fewer

    code, out, _ = audit(capsys, "--architecture", "mattilda", "--format", "markdown")
    assert "## High (2)" in out and "| **Production database is Multi-AZ**" in out
    assert "## Estimated monthly cost" in out and "| mattilda production | $159.65 | $122.00 ($152.50) | pass |" in out
    assert '000_3a7a9f284227b1c1.txt: "Multi-AZ: Production only for high availability"' in out

    target = tmp_path / "reports" / "audit.xml"
    target.parent.mkdir()   # --output never creates folders
    code, out, _ = audit(capsys, "--architecture", "mattilda", "--format", "junit", "--output", str(target))
    assert code == 1 and out == ""
    root = ET.parse(target).getroot()
    cases = root.findall(".//testcase")
    assert int(root.get("tests")) == len(cases) > 30
    failures = root.findall(".//failure")
    assert len(failures) == int(root.get("failures")) == 3
    assert sorted(f.get("type") for f in failures) == ["high", "high", "info"]
    skipped = root.findall(".//skipped")   # the rules that judged nothing say why
    assert int(root.get("skipped")) == len(skipped) >= 1
    assert any("not asked in mattilda/production" in s.get("message") for s in skipped)


def test_broken_rule_file_exits_2_naming_file_and_line(account, capsys, tmp_path):
    bad = tmp_path / "extra.yaml"
    bad.write_text("pack: extra\ntitle: x\nrules:\n  - id: extra.one\n    title: t\n    severity: low\n"
                   "    resource: vpc\n    assert: [{key: cidr_block, op: eq}]\n    doc: {file: f, quote: q}\n"
                   "    remediation: r\n    tests: nope\n")
    code, out, err = audit(capsys, "--architecture", "mattilda", "--rules", str(bad))
    assert code == 2 and out == ""
    assert f"error: {bad}:11: rule extra.one: field rules[0].tests:" in err


def test_unknown_architecture_exits_2(account, capsys):
    code, _, err = audit(capsys, "--architecture", "nope")
    assert code == 2 and "unknown architecture 'nope'" in err


def _restricted_credentials(endpoint: str, denied: str) -> dict[str, str]:
    """An IAM user allowed everything but ``denied`` actions, with moto's IAM checks on."""
    import boto3
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=endpoint)
    iam.create_user(UserName="auditor")
    iam.put_user_policy(UserName="auditor", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                                               {"Effect": "Deny", "Action": denied, "Resource": "*"}]}))
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


@pytest.fixture
def iam_enforced(account):
    yield account
    requests.post(f"{account}/moto-api/reset-auth", data=b"inf", timeout=10)


def test_denied_service_gives_errors_and_exit_2_with_other_findings_intact(iam_enforced, capsys, monkeypatch):
    deploy("mattilda", "production", iam_enforced)
    creds = _restricted_credentials(iam_enforced, "rds:*")
    for k, v in creds.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    requests.post(f"{iam_enforced}/moto-api/reset-auth", data=b"0", timeout=10)
    code, report = audit_json(capsys)
    assert code == 2
    [error] = report["errors"]
    assert error["service"] == "rds" and error["operation"] == "DescribeDBInstances"
    assert error["code"] == "AccessDenied" and "rds_instance" in error["resource_types"]
    by_rule = {}
    for f in report["findings"]:
        by_rule.setdefault(f["rule_id"], set()).add(f["status"])
    assert by_rule["mattilda.rds.postgres_15"] == {"error"}
    assert by_rule["baseline.rds.encrypted"] == {"error"}
    assert by_rule["mattilda.ecs.fargate"] == {"pass"}
    assert by_rule["mattilda.secrets.secret_key"] == {"pass"}
    assert not any(s == "pass" for rid, st in by_rule.items() if ".rds." in rid for s in st)


def test_unreachable_endpoint_for_one_service(account, capsys, monkeypatch):
    deploy("mattilda", "production", account)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9")
    code, report = audit_json(capsys, "--max-attempts", "1")
    assert code == 2
    [error] = report["errors"]
    assert error["service"] == "secretsmanager" and error["code"] == "EndpointConnectionError"
    statuses = {f["status"] for f in report["findings"] if f["rule_id"].startswith("mattilda.secrets.")}
    assert statuses == {"error"}


def test_no_credentials_exits_2(account, capsys, monkeypatch, tmp_path):
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, out, err = audit(capsys, "--architecture", "mattilda")
    assert code == 2 and "cannot identify the AWS account" in err and "NoCredentialsError" in err


def test_python_m_auditor_entry_point(account, tmp_path):
    deploy("mattilda", "production", account, ["ecr-scan-off"])
    env = {**os.environ, "AWS_ENDPOINT_URL": account}
    proc = subprocess.run([sys.executable, "-m", "auditor", "audit", "-a", "mattilda", "-f", "json", "-q"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert set(failing(json.loads(proc.stdout))) == {"baseline.ecr.scan_on_push", "mattilda.cost.unitemized"}


def test_rules_commands(capsys):
    assert cli.main(["rules", "validate"]) == 0
    assert "rules: valid" in capsys.readouterr().out
    assert cli.main(["rules", "test"]) == 0
    assert " 0 failed" in capsys.readouterr().out
    assert cli.main(["rules", "list", "--architecture", "mattilda"]) == 0
    out = capsys.readouterr().out
    assert "mattilda.rds.multi_az_production" in out and "Multi-AZ: Production only" in out
    assert "out of scope" in out and "GitHub Actions" in out
    assert cli.main(["rules", "list", "--architecture", "mattilda", "--format", "json"]) == 0
    packs = json.loads(capsys.readouterr().out)
    assert {p["pack"] for p in packs} == {"baseline-network", "baseline-data", "mattilda"}
    assert cli.main(["rules", "list", "--architecture", "mattilda", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| rule | title | severity | resource | document statement |" in out
    assert "| mattilda.rds.multi_az_production | " in out and "### mattilda: out of scope" in out


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_prices_show_in_every_listing_format(capsys, fmt):
    assert cli.main(["prices", "show", "--region", "us-east-1", "--prices", str(BUNDLED), "--format", fmt]) == 0
    out = capsys.readouterr().out
    prices = read_table(BUNDLED)["regions"]["us-east-1"]["prices"]
    if fmt == "json":
        assert set(json.loads(out)["prices"]) == set(prices)
    else:
        assert f"us-east-1: {len(prices)} prices from {BUNDLED}" in out and all(key in out for key in prices)
        assert ("| price | USD | per |" in out) == (fmt == "markdown")


def test_demo_command(capsys):
    code = cli.main(["demo", "--quiet", "--drift", "db-single-az", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    # and the info finding: the document's cost table leaves out the NAT gateway, secrets and alarms
    assert code == 1 and set(failing(report)) == {"mattilda.rds.multi_az_production", "mattilda.cost.unitemized"}


# -- many accounts and regions --------------------------------------------------------------------

BASE, OTHER, DENIED = "123456789012", "111111111111", "222222222222"


def _role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/auditor"


def _fleet_report(capsys, *args: str) -> tuple[int, dict, str]:
    code, out, err = audit(capsys, "--architecture", "mattilda", "--format", "json", *args)
    report = json.loads(out)
    jsonschema.validate(report, REPORT_SCHEMA)
    return code, report, err


def _auditor_role(iam, trusted: str) -> None:
    """The role of deploy/audit-role.yaml, simplified: trusts ``trusted``, may do everything."""
    iam.create_role(RoleName="auditor", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": trusted}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="auditor", PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))


def test_two_accounts_two_regions_one_denied(iam_enforced, capsys, monkeypatch):
    """BASE (through a role of its own) and OTHER, each in us-east-1 and eu-west-1 with different
    deployments; DENIED's role is refused by moto's IAM checks (the caller's policy denies
    sts:AssumeRole on it). Every other target's findings are those of auditing it alone."""
    endpoint = iam_enforced
    deploy("mattilda", "production", endpoint, ["db-single-az"], region="us-east-1")
    deploy("mattilda", "staging", endpoint, region="eu-west-1")   # IAM is global: not production again
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=endpoint)
    iam.create_user(UserName="auditor")
    iam.put_user_policy(UserName="auditor", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                                               {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": _role(DENIED)}]}))
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    _auditor_role(iam, f"arn:aws:iam::{BASE}:user/auditor")
    other = session_for(Target(OTHER, "us-east-1", RoleSpec(role_arn=_role(OTHER))), boto3.Session(region_name="us-east-1"))
    _auditor_role(other.client("iam"), f"arn:aws:iam::{BASE}:user/auditor")
    build(spec("mattilda", "production", "us-east-1"), other)   # and nothing in OTHER's eu-west-1
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10)

    roles = [arg for account in (BASE, OTHER, DENIED) for arg in ("--role-arn", _role(account))]
    code, report, err = _fleet_report(capsys, "--region", "us-east-1,eu-west-1", *roles, "--external-id", "ext-7f3a",
                                      "--max-concurrent", "3")
    assert code == 2
    assert [(t["account"], t["region"], t["status"]) for t in report["targets"]] == [
        (OTHER, "eu-west-1", "audited"), (OTHER, "us-east-1", "audited"), (BASE, "eu-west-1", "audited"),
        (BASE, "us-east-1", "audited"), (DENIED, "eu-west-1", "failed"), (DENIED, "us-east-1", "failed")]
    assert [(e["account"], e["region"], e["operation"], e["code"]) for e in report["errors"]] == [
        (DENIED, "eu-west-1", "AssumeRole", "AccessDenied"), (DENIED, "us-east-1", "AssumeRole", "AccessDenied")]
    assert f"error: {DENIED}/us-east-1 not audited: cannot assume {_role(DENIED)} (sts:AssumeRole): AccessDenied" in err
    assert "ext-7f3a" not in err + json.dumps(report)
    assert {(f["resource"]["account"], f["resource"]["region"]) for f in failing(report)["mattilda.rds.multi_az_production"]} \
        == {(BASE, "us-east-1")}
    for target in report["targets"][:4]:
        account, region = target["account"], target["region"]
        code_alone, alone, _ = _fleet_report(capsys, "--region", region, "--role-arn", _role(account))
        mine = [f for f in report["findings"] if (f["resource"]["account"], f["resource"]["region"]) == (account, region)]
        assert mine == alone["findings"] and mine, (account, region)
        assert target["summary"] == alone["targets"][0]["summary"]
        assert code_alone == (1 if any(f["severity"] != "info" for fs in failing(alone).values() for f in fs) else 0)
    deployments = {(t["account"], t["region"]): [d["environment"] for d in t["cost"]["deployments"]]
                   for t in report["targets"][:4]}
    assert deployments == {(OTHER, "eu-west-1"): [], (OTHER, "us-east-1"): ["production"],
                           (BASE, "eu-west-1"): ["staging"], (BASE, "us-east-1"): ["production"]}
