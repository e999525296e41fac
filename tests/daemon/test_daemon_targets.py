"""Many targets in one daemon: accounts x regions, each audited in isolation (moto in this process:
what an assumed role creates lands in the role's account, and every account and region is its own)."""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from daemon_helpers import NOW, make_config
from moto import mock_aws

from auditor.audit import load_ruleset
from auditor.daemon.metrics import MetricsStore, make_registry
from auditor.daemon.runner import AuditRunner, TargetFactories, base_session, target_aws

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("eu-west-1", "us-east-1")
EXTERNAL_ID = "external-id-of-the-trust-policy"
LOG_GROUPS = {("111111111111", "eu-west-1"): 1, ("111111111111", "us-east-1"): 2,
              ("222222222222", "eu-west-1"): 3, ("222222222222", "us-east-1"): 4}
DENIED = "222222222222/eu-west-1"


def role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/auditor"


@pytest.fixture
def fleet(monkeypatch):
    """Two accounts x two regions, each with its own number of log groups (none with a retention)."""
    with mock_aws():
        sts = boto3.client("sts", region_name="us-east-1")
        for account in ACCOUNTS:
            creds = sts.assume_role(RoleArn=role(account), RoleSessionName="setup")["Credentials"]
            for region in REGIONS:
                logs = boto3.client("logs", region_name=region, aws_access_key_id=creds["AccessKeyId"],
                                    aws_secret_access_key=creds["SecretAccessKey"],
                                    aws_session_token=creds["SessionToken"])
                for i in range(LOG_GROUPS[(account, region)]):
                    logs.create_log_group(logGroupName=f"/app/{account}/{region}/{i}")
        yield


def config(regions=REGIONS, accounts=ACCOUNTS, **targets):
    return make_config(architecture=None, targets={
        "regions": list(regions), "accounts": [{"role_arn": role(a), "external_id": EXTERNAL_ID} for a in accounts],
        **targets})


def refusing(operation: str):
    """A botocore ``before-call`` hook: AWS answers AccessDenied to ``operation``."""
    def refuse(**_kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": f"not authorized to perform {operation}"}},
                          operation)
    return refuse


def denying(*keys: str) -> TargetFactories:
    """AWS refuses AssumeRole for these targets (a hook on their session)."""
    def aws(cfg, target, base, cancel):
        context = target_aws(cfg, target, base, cancel)
        if target.key in keys:
            context.session.events.register("before-call.sts.AssumeRole", refusing("AssumeRole"))
        return context
    return TargetFactories(aws=aws)


class Daemon:
    """The daemon's audit job over a config that a test may swap (a reload), with its registry."""

    def __init__(self, cfg, targets: TargetFactories | None = None):
        self.config = cfg
        self.store = MetricsStore()
        self.registry = make_registry(self.store)
        self.runner = AuditRunner(self.store, lambda: (self.config, load_ruleset(None)), clock=lambda: NOW,
                                  targets=targets)

    def run(self):
        self.runner()
        return self

    def series(self, name: str) -> dict[tuple, float]:
        """Every sample of ``name``: its labels (sorted items) -> value."""
        return {tuple(sorted(s.labels.items())): s.value for m in self.registry.collect() for s in m.samples
                if s.name == name}

    def of(self, name: str, key: str) -> dict[tuple, float]:
        """The samples of ``name`` of one target (account/region)."""
        account, region = key.split("/")
        return {k: v for k, v in self.series(name).items() if ("account", account) in k and ("region", region) in k}

    def targets(self, name: str = "auditor_last_audit_timestamp_seconds") -> set[str]:
        return {f"{dict(k)['account']}/{dict(k)['region']}" for k in self.series(name)}

    def runs(self, key: str) -> dict[str, float]:
        return {dict(k)["outcome"]: v for k, v in self.of("auditor_audit_runs_total", key).items() if v}

    def close(self):
        self.runner.close()


@pytest.fixture
def daemons():
    made: list[Daemon] = []

    def make(*args, **kwargs) -> Daemon:
        made.append(Daemon(*args, **kwargs))
        return made[-1]
    yield make
    for d in made:
        d.close()


ALL = {f"{a}/{r}" for a, r in LOG_GROUPS}
FINDING_SERIES = ("auditor_findings", "auditor_rule_results", "auditor_failing_finding", "auditor_resources")


def test_two_accounts_by_two_regions_each_exported_with_its_labels(fleet, daemons, json_logs):
    d = daemons(config()).run()
    assert d.targets() == d.targets("auditor_compliance_ratio") == ALL
    for (account, region), groups in LOG_GROUPS.items():
        labels = {"account": account, "region": region, "architecture": "", "environment": ""}
        assert d.registry.get_sample_value("auditor_resources", {**labels, "resource_type": "log_group"}) == groups
        assert d.runs(f"{account}/{region}") == {"success": 1}
        failing = [dict(k) for k in d.of("auditor_failing_finding", f"{account}/{region}")]
        assert len({f["resource_id"] for f in failing}) == groups   # each log group of its own target only
    lines = [r for r in json_logs() if r.get("event") == "audit"]
    assert sorted(f"{r['account']}/{r['region']}" for r in lines) == sorted(ALL)
    assert all(r["outcome"] == "success" for r in lines)
    assert EXTERNAL_ID not in json.dumps(json_logs())

    alone = daemons(config(regions=["us-east-1"], accounts=["111111111111"])).run()   # the same target by itself
    for name in FINDING_SERIES:
        assert alone.series(name) == d.of(name, "111111111111/us-east-1")


def test_a_denied_target_fails_alone_and_the_others_series_stay(fleet, daemons, json_logs):
    d = daemons(config()).run()
    before = {name: {k: d.of(name, k) for k in ALL} for name in FINDING_SERIES}
    d.runner._targets = denying(DENIED)
    d.run()
    assert d.runs(DENIED) == {"success": 1, "failed": 1}
    for key in ALL - {DENIED}:
        assert d.runs(key) == {"success": 2}
        assert all(before[name][key] == d.of(name, key) for name in FINDING_SERIES)
        assert set(d.of("auditor_resource_changes", key).values()) == {0.0}   # one state file: no false changes
        account, region = key.split("/")
        state, _ = d.runner.runtime.store.previous_snapshot(account, region)
        assert sum(r["type"] == "log_group" for r in state["resources"].values()) == LOG_GROUPS[(account, region)]
    # the denied target keeps its last evaluated results; its last audit is the failed one
    assert all(before[name][DENIED] == d.of(name, DENIED) for name in FINDING_SERIES)
    assert d.targets() == ALL and d.targets("auditor_last_success_timestamp_seconds") == ALL
    [failed] = [r for r in json_logs() if r.get("event") == "audit" and r["outcome"] == "failed"]
    assert (failed["account"], failed["region"]) == tuple(DENIED.split("/"))
    assert "sts:AssumeRole" in failed["message"] and "AccessDenied" in failed["message"]
    assert failed["level"] == "ERROR" and "exc_info" not in failed and EXTERNAL_ID not in json.dumps(failed)
    assert not [r for r in json_logs() if "exc_info" in r]   # botocore's refresh warning too: one line


def test_a_target_list_that_cannot_be_resolved_is_a_failed_run(fleet, daemons, json_logs):
    def organizations_denied(cfg):
        session = base_session(cfg)
        session.events.register("before-call.organizations.ListAccounts", refusing("ListAccounts"))
        return session
    d = daemons(config(), TargetFactories(base=organizations_denied)).run()
    before = d.series("auditor_findings")
    d.config = config(accounts=(), organization={"role_name": "auditor"})
    d.run()
    failed = {"account": "", "region": "", "architecture": "", "environment": "", "outcome": "failed"}
    assert d.registry.get_sample_value("auditor_audit_runs_total", failed) == 1
    assert d.series("auditor_findings") == before and d.targets() == ALL   # the last known targets stay
    line = [r for r in json_logs() if r.get("event") == "audit"][-1]
    assert line["outcome"] == "failed" and "organizations:ListAccounts" in line["message"]


def test_a_target_removed_from_the_config_stops_being_exported(fleet, daemons):
    d = daemons(config()).run()
    d.config = config(regions=["us-east-1"])
    d.run()
    kept = {k for k in ALL if k.endswith("us-east-1")}
    assert d.targets() == d.targets("auditor_audit_runs_total") == d.targets("auditor_findings") == kept


def test_shards_split_the_targets_without_overlap(fleet, daemons):
    audited = [daemons(config(shard=f"{i}/3")).run().targets() for i in (1, 2, 3)]
    assert set().union(*audited) == ALL and sum(len(a) for a in audited) == len(ALL)


def test_shutdown_cancels_every_target_in_flight(fleet, daemons, json_logs):
    d = daemons(config(max_concurrent=2))

    def stopping(cfg, target, base, cancel):   # the daemon is told to stop as the first call goes out
        context = target_aws(cfg, target, base, cancel)
        context.session.events.register("before-call.*.*", lambda **_kw: d.runner.cancel.set(), unique_id="stop")
        return context
    d.runner._targets = TargetFactories(aws=stopping)
    d.run()
    assert d.targets() == set() and d.series("auditor_audit_runs_total") == {}   # nothing counted
    lines = [r for r in json_logs() if r.get("event") == "audit"]
    assert lines and all(r["outcome"] == "abandoned" for r in lines)
