"""``python -m auditor serve`` as ECS runs it: SIGHUP with broken rules keeps the old ones,
SIGTERM exits 0 within 10 s (also with an audit stuck in an AWS call), stdout is JSON lines."""
from __future__ import annotations

import json
import signal
import socket

import boto3
import pytest
import requests
from daemon_helpers import ServeProcess, expected_failures
from prometheus_client.parser import text_string_to_metric_families
from test_daemon_service import EXTRA_RULES

from auditor.emulated.architectures import spec
from auditor.emulated.builder import build
from auditor.emulated.demo import deploy, moto_process
from auditor.targets import RoleSpec, Target, session_for

pytestmark = pytest.mark.slow


def metrics(base: str) -> dict[tuple, float]:
    text = requests.get(f"{base}/metrics", timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def sample(values: dict[tuple, float], name: str, **labels: str) -> float | None:
    return values.get((name, tuple(sorted(labels.items()))))


def write_config(tmp_path, **extra: str):
    rules = tmp_path / "extra.yaml"
    rules.write_text(EXTRA_RULES)
    config = tmp_path / "auditor.yaml"
    lines = ["architecture: mattilda", "rules: [extra.yaml]", "max_attempts: 1",
             "http: {address: 127.0.0.1, port: 0}", "schedule: {interval_seconds: 3600}",
             *(f"{k}: {v}" for k, v in extra.items())]
    config.write_text("\n".join(lines) + "\n")
    return config, rules


def test_sighup_with_broken_rules_then_sigterm(drifted, tmp_path):
    config, rules = write_config(tmp_path)
    daemon = ServeProcess(config)
    try:
        started = daemon.wait_line(lambda r: r.get("event") == "start")
        base = f"http://127.0.0.1:{started['port']}"
        audit = daemon.wait_line(lambda r: r.get("event") == "audit", timeout=30)
        assert audit["outcome"] == "success" and audit["fail"] == expected_failures()
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200

        rules.write_text("pack: extra\nrules: [oops\n")   # invalid YAML
        daemon.signal(signal.SIGHUP)
        failure = daemon.wait_line(lambda r: r.get("event") == "reload")
        assert failure["outcome"] == "failure" and failure["level"] == "ERROR"
        assert any("invalid YAML" in p for p in failure["problems"])
        values = metrics(base)
        assert sample(values, "auditor_config_reloads_total", outcome="failure") == 1
        assert sample(values, "auditor_rule_results", account="123456789012", region="us-east-1",
                      architecture="mattilda", environment="production", rule_id="extra.vpc.dns",
                      pack="extra", severity="low", status="pass") == 1   # the old rules' results stay
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200

        code, seconds = daemon.stop()
        assert code == 0 and seconds < 10
        lines = daemon.rest()   # every stdout line is one JSON object with the common fields
        assert all({"timestamp", "level", "logger", "message"} <= set(r) for r in lines)
        assert lines[-1]["event"] == "stop" and lines[-1]["clean"] is True
        assert not any("testing" in str(r) for r in lines)   # no credential in any log line
    finally:
        daemon.kill()


def test_sigterm_abandons_an_audit_stuck_in_an_aws_call(tmp_path, monkeypatch):
    with socket.socket() as silent:   # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        config, _ = write_config(tmp_path, shutdown_grace_seconds="1")
        daemon = ServeProcess(config, env={"AWS_ENDPOINT_URL": endpoint})
        try:
            started = daemon.wait_line(lambda r: r.get("event") == "start")
            base = f"http://127.0.0.1:{started['port']}"
            silent.settimeout(10)
            conn, _ = silent.accept()   # the audit's first AWS call is in flight, and gets no answer
            assert sample(metrics(base), "auditor_audit_running") == 1
            code, seconds = daemon.stop()
            conn.close()
            assert code == 0 and seconds < 10
            stop = daemon.rest()[-1]
            assert stop["event"] == "stop" and stop["clean"] is False
        finally:
            daemon.kill()


def test_invalid_config_exits_2_naming_the_key(tmp_path):
    config, _ = write_config(tmp_path, max_attempts="0")
    config.write_text(config.read_text().replace("max_attempts: 1\n", ""))
    daemon = ServeProcess(config)
    try:
        line = daemon.wait_line(lambda r: r.get("level") == "ERROR")
        assert line["problems"] == [f"{config}:5: max_attempts: Input should be greater than or equal to 1 (got 0)"]
        assert daemon.proc.wait(10) == 2
    finally:
        daemon.kill()


BASE, OTHER, DENIED = "123456789012", "111111111111", "222222222222"
REGIONS = ("eu-west-1", "us-east-1")


def _role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/auditor-read-only"


def _audit_role(iam, trusted: str) -> None:
    """The role of deploy/audit-role.yaml in one account, trusting the daemon's user."""
    iam.create_role(RoleName="auditor-read-only", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": trusted}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="auditor-read-only", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))


def test_two_accounts_by_two_regions_one_denied_in_one_daemon(tmp_path, monkeypatch):
    """``auditor serve`` with targets: BASE and OTHER through their roles, in two regions, with
    different deployments; DENIED's role refused by moto's IAM checks. The daemon audits the four
    targets, exports each one's series with its account and region, and counts DENIED's as failed."""
    with moto_process() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        deploy("mattilda", "production", endpoint, ["db-single-az"], region="us-east-1")
        deploy("mattilda", "staging", endpoint, region="eu-west-1")
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="auditor")
        iam.put_user_policy(UserName="auditor", PolicyName="audit", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                                                   {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": _role(DENIED)}]}))
        key = iam.create_access_key(UserName="auditor")["AccessKey"]
        user = f"arn:aws:iam::{BASE}:user/auditor"
        _audit_role(iam, user)
        other = session_for(Target(OTHER, "us-east-1", RoleSpec(role_arn=_role(OTHER))), boto3.Session(region_name="us-east-1"))
        _audit_role(other.client("iam"), user)
        build(spec("mattilda", "production", "us-east-1"), other)
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()

        targets = json.dumps({"regions": list(REGIONS), "accounts": [{"role_arn": _role(a)} for a in (BASE, OTHER, DENIED)]})
        config, _ = write_config(tmp_path, targets=targets)
        daemon = ServeProcess(config, env={"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                                           "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"], "AWS_SESSION_TOKEN": ""})
        try:
            started = daemon.wait_line(lambda r: r.get("event") == "start")
            audits = [daemon.wait_line(lambda r: r.get("event") == "audit", timeout=90) for _ in range(6)]
            outcomes = {(r["account"], r["region"]): r["outcome"] for r in audits}
            assert outcomes == {(a, r): "failed" if a == DENIED else "success" for a in (BASE, OTHER, DENIED) for r in REGIONS}
            values = metrics(f"http://127.0.0.1:{started['port']}")
            resources = {(dict(k)["account"], dict(k)["region"]): v for (name, k), v in values.items()
                         if name == "auditor_resources" and dict(k)["resource_type"] == "rds_instance"}
            assert resources == {(BASE, "us-east-1"): 1, (BASE, "eu-west-1"): 1, (OTHER, "us-east-1"): 1,
                                 (OTHER, "eu-west-1"): 0}
            failed = {(dict(k)["account"], dict(k)["region"]) for (name, k), v in values.items()
                      if name == "auditor_audit_runs_total" and dict(k)["outcome"] == "failed" and v == 1}
            assert failed == {(DENIED, r) for r in REGIONS}
            multi_az = {(dict(k)["account"], dict(k)["region"]) for (name, k), _ in values.items()
                        if name == "auditor_failing_finding" and dict(k)["rule_id"] == "mattilda.rds.multi_az_production"}
            assert multi_az == {(BASE, "us-east-1")}   # the drift of one target, on that target's series only
            assert daemon.stop()[0] == 0
            assert not [r for r in daemon.rest() if "exc_info" in r or key["SecretAccessKey"] in json.dumps(r)]
        finally:
            daemon.kill()
