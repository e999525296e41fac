"""Audits of several targets (auditor.audit.run_fleet) under moto: isolation, bounds and reports."""
from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET

import boto3
import jsonschema
import pytest
from botocore.credentials import AssumeRoleCredentialFetcher
from botocore.exceptions import ClientError
from cli_runner import REPORT_SCHEMA
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from auditor import audit as audit_module
from auditor.audit import AuditOptions, load_ruleset, run_fleet, run_target
from auditor.aws import AuditSetupError
from auditor.report import render
from auditor.targets import RoleSpec, Target, TargetsConfig, resolve, session_for

OTHER, DENIED = "111111111111", "222222222222"
REGIONS = ["eu-west-1", "us-east-1"]


def _role(account: str) -> RoleSpec:
    return RoleSpec(role_arn=f"arn:aws:iam::{account}:role/auditor", external_id="team-secret-id")


@pytest.fixture
def fleet_account(monkeypatch):
    """moto with a log group per target (a second one in the other account's us-east-1), and AssumeRole of
    DENIED's role refused as AWS refuses a role whose trust policy leaves the caller out."""
    fetch = AssumeRoleCredentialFetcher._get_credentials

    def assume(self):
        if DENIED in self._role_arn:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized to perform: sts:AssumeRole"}},
                              "AssumeRole")
        return fetch(self)
    monkeypatch.setattr(AssumeRoleCredentialFetcher, "_get_credentials", assume)
    with mock_aws():
        base = boto3.Session(region_name="us-east-1")
        for region in REGIONS:
            base.client("logs", region_name=region).create_log_group(logGroupName=f"/base/{region}")
            session_for(Target(OTHER, region, _role(OTHER)), base).client("logs").create_log_group(logGroupName="/app")
        session_for(Target(OTHER, "us-east-1", _role(OTHER)), base).client("logs").create_log_group(logGroupName="/web")
        yield base


def _fleet(base, roles):
    config = TargetsConfig(regions=REGIONS, accounts=[_role(a) for a in roles])
    return run_fleet(AuditOptions(max_attempts=2), resolve(config, base), load_ruleset(None), base, max_concurrent=3)


def test_denied_target_is_its_own_failure(fleet_account):
    fleet = _fleet(fleet_account, [DEFAULT_ACCOUNT_ID, OTHER, DENIED])
    assert sorted(fleet.failures) == [f"{DENIED}/eu-west-1", f"{DENIED}/us-east-1"]
    failure = fleet.failures[f"{DENIED}/us-east-1"]
    assert (failure.service, failure.operation, failure.code, failure.category) == ("sts", "AssumeRole", "AccessDenied",
                                                                                   "denied")
    assert "team-secret-id" not in failure.message and DENIED in failure.message
    assert not fleet.complete
    assert {k: [g.id for g in r.snapshot.of_type("log_group")] for k, r in fleet.results.items()} == {
        f"{DEFAULT_ACCOUNT_ID}/eu-west-1": ["/base/eu-west-1"], f"{DEFAULT_ACCOUNT_ID}/us-east-1": ["/base/us-east-1"],
        f"{OTHER}/eu-west-1": ["/app"], f"{OTHER}/us-east-1": ["/app", "/web"]}
    for key, result in fleet.results.items():
        assert all(f"{f.resource['account']}/{f.resource['region']}" == key for f in result.findings)
        assert result.errors == ()
        role = _role(OTHER) if result.account == OTHER else None
        alone = run_target(AuditOptions(max_attempts=2), Target(result.account, result.region, role), load_ruleset(None),
                           fleet_account)
        assert [f.as_dict() for f in alone.findings] == [f.as_dict() for f in result.findings]
    combined = fleet.combined
    assert combined.account == f"{OTHER},{DEFAULT_ACCOUNT_ID},{DENIED}" and combined.region == "eu-west-1,us-east-1"
    assert len(combined.findings) == sum(len(r.findings) for r in fleet.results.values())
    assert combined.snapshot.counts()["log_group"] == 5


def test_reports_combine_and_group_targets(fleet_account):
    fleet = _fleet(fleet_account, [OTHER, DENIED])
    report = json.loads(render(fleet, "json"))
    jsonschema.validate(report, REPORT_SCHEMA)
    assert [(t["account"], t["region"], t["status"]) for t in report["targets"]] == [
        (OTHER, "eu-west-1", "audited"), (OTHER, "us-east-1", "audited"),
        (DENIED, "eu-west-1", "failed"), (DENIED, "us-east-1", "failed")]
    audited = report["targets"][1]
    assert audited["summary"]["resources"] == len(fleet.results[f"{OTHER}/us-east-1"].snapshot)
    assert audited["role_arn"] == f"arn:aws:iam::{OTHER}:role/auditor" and audited["cost"]["region"] == "us-east-1"
    assert [(e["account"], e["region"], e["code"], e["category"]) for e in report["errors"]] == [
        (DENIED, "eu-west-1", "AccessDenied", "denied"), (DENIED, "us-east-1", "AccessDenied", "denied")]
    assert report["account"] == f"{OTHER},{DENIED}" and report["region"] == "eu-west-1,us-east-1"
    assert report["summary"]["total"] == len(report["findings"]) == sum(t["summary"]["total"]
                                                                        for t in report["targets"] if t["summary"])
    assert "team-secret-id" not in json.dumps(report)

    table = render(fleet, "table")
    assert "Not audited (2)" in table and f"account {OTHER}  region eu-west-1" in table
    assert table.index(f"account {OTHER}  region eu-west-1") < table.index(f"account {OTHER}  region us-east-1")
    markdown = render(fleet, "markdown")
    assert f"## {OTHER} / us-east-1" in markdown and f"| {DENIED} | eu-west-1 | **not audited**: sts:AssumeRole" in markdown
    junit = ET.fromstring(render(fleet, "junit").split("\n", 1)[1])
    [targets] = [s for s in junit.findall("testsuite") if s.get("name") == "targets"]
    assert [c.get("name") for c in targets.findall("testcase")] == [f"{DENIED}/eu-west-1", f"{DENIED}/us-east-1"]
    assert all(c.get("name").endswith(("/eu-west-1", "/us-east-1")) for c in junit.iter("testcase"))


def test_concurrency_is_bounded_and_a_setup_error_stays_with_its_target(monkeypatch):
    running, peak, lock = 0, 0, threading.Lock()

    def fake_target(options, target, *_args, **_kwargs):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        raise AuditSetupError(f"no way into {target.key}")
    monkeypatch.setattr(audit_module, "run_target", fake_target)
    targets = [Target(f"{n:012d}", "eu-west-1") for n in range(7)]
    fleet = run_fleet(AuditOptions(), targets, load_ruleset(None), boto3.Session(region_name="us-east-1"),
                      max_concurrent=3)
    assert peak == 3
    assert [f.message for f in fleet.failures.values()] == [f"no way into {t.key}" for t in targets]
    assert {f.code for f in fleet.failures.values()} == {"AuditSetupError"}
