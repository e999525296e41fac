"""Helpers of the notification tests (imported by the test modules and conftest.py)."""
from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fake_slack import FakeSlack

from auditor.changes import compare
from auditor.model import Finding
from auditor.notify.notifier import routing
from auditor.notify.slack.channel import SlackChannel
from auditor.notify.slack.config import SlackConfig
from auditor.snapshots import save_snapshot

DRIFTS = ["ecs-ssh-open", "db-single-az"]   # critical + high (SG), high (RDS)


CHANNELS = {"default": "#auditor", "critical": "#auditor-critical"}
CONFIG = SlackConfig(enabled=True, channels={"default": "C1"}, min_severity="medium", reminder_interval="24h")
ROUTING = routing([SlackChannel(CONFIG, environ={"SLACK_BOT_TOKEN": "xoxb-test"})])


class Clock:
    """A frozen clock that tests move by hand (starts at the real time: Slack ts are real)."""

    def __init__(self, start: datetime | None = None):
        self.now = (start or datetime.now(UTC)).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def slack_config(fake: FakeSlack, **overrides: Any) -> SlackConfig:
    settings: dict[str, Any] = {"enabled": True, "base_url": fake.base_url, "channels": CHANNELS,
                                "timeout_seconds": 0.5, "max_retries": 2, "retry_backoff_seconds": 0.01,
                                "outbox_backoff_seconds": 0,
                                "dashboard_url": "https://grafana.example.com/d/aws-architecture-auditor"}
    settings.update(overrides)
    return SlackConfig(**settings)


def fresh(result):
    """An audit result without changes (as compared with no previous snapshot)."""
    return dataclasses.replace(result, changes=None, compared_to=None)


def run(notifier, result, force=False, channel="slack"):
    """What the daemon does after an audit: compare with the previous snapshot, queue, save, send;
    the delivery counts of ``channel``."""
    changes, compared_to = compare(result.snapshot, notifier.store.previous_snapshot(result.account, result.region))
    result = dataclasses.replace(result, changes=changes, compared_to=compared_to)
    notifier.after_audit(result)
    save_snapshot(notifier.store, result, notifier.clock())
    return notifier.deliver(force=force)[channel]


def texts(message) -> str:
    """A posted message's text and blocks, as one string."""
    return "\n".join([message.text] + [json.dumps(b) for b in message.blocks])


def finding(rule="r.one", rid="db-1", status="fail", severity="high") -> Finding:
    return Finding(rule_id=rule, title=f"title of {rule}", severity=severity, status=status,
                   resource={"type": "rds_instance", "id": rid, "name": rid, "arn": None, "region": "r", "account": "a"},
                   expected="x == 1", actual="x = 2", message="m", doc={"file": "f", "quote": "q"}, remediation="fix")
