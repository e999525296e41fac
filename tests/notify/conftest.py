"""Fixtures for the notification tests: a fake Slack Web API, a fake webhook receiver, a frozen
clock, and real audits of an emulated mattilda deployment (drifted, then fixed) computed once for
the package."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from fake_slack import TOKEN, FakeSlack
from fake_webhook import FakeWebhook
from slack_helpers import DRIFTS, Clock, slack_config

from auditor.notify.notifier import Notifier
from auditor.notify.slack.channel import SlackChannel
from auditor.state import StateStore


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake_slack(httpserver) -> FakeSlack:
    return FakeSlack(httpserver)


@pytest.fixture
def fake_webhook() -> Iterator[FakeWebhook]:
    with FakeWebhook() as fake:
        yield fake


@pytest.fixture
def token_env(monkeypatch) -> str:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    return TOKEN


@pytest.fixture
def make_notifier(tmp_path, fake_slack, token_env, clock) -> Iterator[Callable[..., Notifier]]:
    """Notifier(s) over a state file in tmp_path; a new call is a restart (new store, new client)."""
    stores: list[StateStore] = []

    def make(path: Path | None = None, **overrides: Any) -> Notifier:
        store = StateStore(path or tmp_path / "state.sqlite3")
        stores.append(store)
        return Notifier(store, [SlackChannel(slack_config(fake_slack, **overrides), clock=clock)], clock=clock)
    yield make
    for s in stores:
        s.close()


@pytest.fixture(scope="module")
def audits(moto_endpoint):
    """Real audits of mattilda production: ``drifted`` and ``drifted_again`` (the same account
    twice), then ``fixed`` (SSH closed, Multi-AZ back on); the drifts are applied again after. Once
    per module: tests audit the account again, and moto's state is the process's, so a test of another
    module on the same worker (a mock_aws one, a reset) may wipe it."""
    from auditor.audit import AuditOptions, load_ruleset, run_audit
    from auditor.aws import AwsContext
    from auditor.emulated import drifts
    from auditor.emulated.demo import deploy, fake_session

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    deployment = deploy("mattilda", "production", moto_endpoint, DRIFTS)
    ruleset = load_ruleset("mattilda")
    options = AuditOptions(architecture="mattilda", max_attempts=2)

    def audit():
        aws = AwsContext(region="us-east-1", session=fake_session(), endpoint_url=moto_endpoint, max_attempts=2)
        return run_audit(options, ruleset, aws=aws)

    def clients(service: str):
        return fake_session().client(service, endpoint_url=moto_endpoint)

    drifted = audit()
    drifted_again = audit()
    clients("ec2").revoke_security_group_ingress(GroupId=deployment["sg:ecs"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    clients("rds").modify_db_instance(DBInstanceIdentifier=deployment.spec.database.identifier, MultiAZ=True,
                                      ApplyImmediately=True)
    fixed = audit()
    for name in DRIFTS:
        drifts.get("mattilda", name).change(clients, deployment)
    return SimpleNamespace(drifted=drifted, drifted_again=drifted_again, fixed=fixed, endpoint=moto_endpoint,
                           deployment=deployment, ruleset=ruleset)
