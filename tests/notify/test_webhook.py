"""The generic JSON webhook channel, alone and beside Slack, against a local receiver: real audits
of an emulated mattilda deployment, a durable state file."""
from __future__ import annotations

import json
import logging
import time

import pytest
from slack_helpers import run, slack_config, texts

from auditor import cli
from auditor.daemon.config import ConfigError, DaemonConfig, load_config
from auditor.daemon.logs import json_formatter
from auditor.daemon.metrics import MetricsStore, make_registry
from auditor.daemon.runner import AuditRunner
from auditor.notify.notifier import Notifier
from auditor.notify.slack.channel import SlackChannel
from auditor.notify.webhook.channel import SCHEMA, WebhookChannel
from auditor.notify.webhook.config import WebhookConfig
from auditor.state import StateStore

HOOK_TOKEN = "hook-token-0123456789-not-for-logs"
SSH = "baseline.sg.only_load_balancers_open_to_internet"
MULTI_AZ = "mattilda.rds.multi_az_production"


def webhook_config(fake, **overrides) -> WebhookConfig:
    settings = {"enabled": True, "url": fake.url, "token_env": "HOOK_TOKEN", "headers": {"X-Team": "platform"},
                "timeout_seconds": 0.5, "max_retries": 2, "retry_backoff_seconds": 0.01, "outbox_backoff_seconds": 0,
                **overrides}
    return WebhookConfig(**settings)


@pytest.fixture
def hook(tmp_path, fake_webhook, clock):
    """A notifier with the webhook channel only."""
    def make(**overrides) -> Notifier:
        channel = WebhookChannel(webhook_config(fake_webhook, **overrides), environ={"HOOK_TOKEN": HOOK_TOKEN})
        return Notifier(StateStore(tmp_path / "state.sqlite3"), [channel], clock=clock)
    return make


def test_each_audit_with_news_posts_one_documented_json_document(audits, fake_webhook, hook, caplog):
    caplog.set_level(logging.DEBUG)
    notifier = hook()
    stats = run(notifier, audits.drifted, channel="webhook")
    assert (stats.sent, stats.failed, stats.pending) == (1, 0, 0)
    [alert] = fake_webhook.received
    body = alert.body
    assert body["schema"] == SCHEMA and body["kind"] == "alert"
    assert body["audit"] | {"started_at": None} == {"architecture": "mattilda", "environment": "production",
                                                     "account": "123456789012", "region": "us-east-1", "started_at": None}
    assert {SSH, MULTI_AZ} <= {f["rule_id"] for f in body["new"]} and body["counts"]["new"] == len(body["new"]) == 3
    assert body["health"] is None and body["resolved"] == [] and body["changes"] == []
    assert alert.headers["Authorization"] == f"Bearer {HOOK_TOKEN}" and alert.headers["X-Team"] == "platform"
    assert alert.headers["Idempotency-Key"] == body["delivery_id"] and alert.headers["Content-Type"] == "application/json"

    assert run(notifier, audits.drifted_again, channel="webhook").sent == 0   # nothing new: nothing sent
    run(notifier, audits.fixed, channel="webhook")
    [_, resolved] = fake_webhook.received
    assert resolved.body["new"] == [] and resolved.body["counts"]["resolved"] == 3
    assert {(SSH, "fixed"), (MULTI_AZ, "fixed")} <= {(r["rule_id"], r["reason"]) for r in resolved.body["resolved"]}
    assert resolved.body["delivery_id"] != body["delivery_id"]

    logged = "\n".join(json_formatter().format(r) for r in caplog.records if not r.name.startswith("werkzeug"))
    assert "webhook message" in logged and HOOK_TOKEN not in logged and fake_webhook.url not in logged
    assert all(HOOK_TOKEN not in json.dumps(m.payload) for m in notifier.store.messages())


def test_retries_within_a_pass_then_the_outbox_then_an_in_doubt_attempt_is_sent_again(audits, fake_webhook, hook):
    notifier = hook()
    fake_webhook.fail("429", retry_after=0)
    fake_webhook.fail("503")
    assert run(notifier, audits.drifted, channel="webhook").sent == 1   # the third attempt of the pass
    keys = {r.headers["Idempotency-Key"] for r in fake_webhook.requests}
    assert [r.answer for r in fake_webhook.requests] == [429, 503, 202] and len(keys) == 1

    fake_webhook.fail("500", times=3)
    stats = run(notifier, audits.fixed, channel="webhook")
    assert (stats.sent, stats.failed, stats.pending) == (0, 1, 1)
    [queued] = notifier.store.unsent("webhook")
    assert "HTTP 500" in queued.last_error and queued.in_flight_since is None

    fake_webhook.fail("timeout", seconds=1)   # taken, but the answer comes too late: in doubt
    stats = notifier.deliver()["webhook"]
    assert (stats.sent, stats.failed, stats.pending) == (0, 1, 1)
    fake_webhook.wait_idle()
    assert notifier.store.unsent("webhook")[0].in_flight_since is not None
    assert notifier.deliver()["webhook"].sent == 1   # sent again, with the same key for the receiver to drop
    first, again = fake_webhook.received[1:]
    assert first.headers["Idempotency-Key"] == again.headers["Idempotency-Key"] == again.body["delivery_id"]

    fake_webhook.fail("400")
    notifier.audit_failed({"exception": "AuditSetupError", "message": "no credentials"})
    stats = notifier.deliver()["webhook"]
    assert (stats.sent, stats.failed, stats.pending) == (0, 1, 1) and len(fake_webhook.requests) == 9   # refused: no retry
    assert notifier.deliver()["webhook"].sent == 1
    notice = fake_webhook.received[-1].body
    assert notice["kind"] == "notice" and notice["health"]["state"] == "degraded" and notice["health"]["failed"]


def test_beside_slack_one_channel_down_never_holds_up_the_other(audits, fake_slack, fake_webhook, token_env, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", audits.endpoint)
    monkeypatch.setenv("HOOK_TOKEN", HOOK_TOKEN)
    config = DaemonConfig(architecture="mattilda", max_attempts=2, http={"address": "127.0.0.1", "port": 0},
                          schedule={"interval_seconds": 3600}, state={"path": str(tmp_path / "state.sqlite3")},
                          slack=slack_config(fake_slack, max_retries=0).model_dump(),
                          webhook=webhook_config(fake_webhook).model_dump())
    store = MetricsStore()
    get = make_registry(store).get_sample_value
    runner = AuditRunner(store, lambda: (config, audits.ruleset), clock=time.time)
    try:
        fake_slack.fail("500")
        runner()
        assert fake_slack.messages == [] and len(fake_webhook.received) == 1
        assert get("auditor_notifications_total", {"channel": "slack", "outcome": "failed"}) == 1
        assert get("auditor_notifications_total", {"channel": "webhook", "outcome": "sent"}) == 1
        queued = get("auditor_notification_outbox_pending", {"channel": "slack"})   # one per Slack channel with news
        assert queued >= 1 and get("auditor_notification_outbox_pending", {"channel": "webhook"}) == 0

        fake_webhook.fail("500", times=10)   # now the webhook is down and Slack back
        runner()
        assert len(fake_slack.top_level()) == queued and len(fake_webhook.received) == 1
        assert get("auditor_notifications_total", {"channel": "slack", "outcome": "sent"}) == queued
        assert get("auditor_notification_outbox_pending", {"channel": "webhook"}) == 0   # nothing new for it
    finally:
        runner.close()

    with StateStore(tmp_path / "state.sqlite3") as state:
        assert [(m.channel, m.kind) for m in state.messages()] == [("slack", "alert")] * int(queued) + [("webhook", "alert")]
        notifier = Notifier(state, [SlackChannel(slack_config(fake_slack)), WebhookChannel(webhook_config(fake_webhook))])
        run(notifier, audits.fixed)   # the webhook still answers 500: its resolution stays queued
        assert state.pending_count("webhook") == 1 and state.pending_count("slack") == 0
    assert sum(len(fake_slack.replies(m.ts)) for m in fake_slack.top_level()) >= 1   # Slack's threads
    assert "no longer failing" in texts(fake_slack.messages[-1])


def test_settings_are_checked_and_never_echo_the_url_or_a_token(tmp_path, monkeypatch):
    monkeypatch.delenv("HOOK_TOKEN", raising=False)
    path = tmp_path / "auditor.yaml"

    def problems(text: str) -> str:
        path.write_text(text)
        with pytest.raises(ConfigError) as exc:
            load_config(path)
        return str(exc.value)
    assert "webhook.url: required" in problems("webhook: {enabled: true}\n")
    assert "must be an http(s) URL" in problems("webhook: {enabled: true, url: 'ftp://x/y'}\n")
    assert "set by the auditor" in problems("webhook: {enabled: true, url: 'https://h/x', headers: {Authorization: t}}\n")
    assert "HOOK_TOKEN is not set" in problems("webhook: {enabled: true, url: 'https://h/x', token_env: HOOK_TOKEN}\n")
    assert "webhook.token_env" in problems(f"webhook: {{enabled: true, url: 'https://h/x', token_env: '{HOOK_TOKEN}'}}\n")

    monkeypatch.setenv("HOOK_TOKEN", HOOK_TOKEN)
    path.write_text("webhook: {enabled: true, url: 'https://hooks.example/T/s3cr3t-path', token_env: HOOK_TOKEN, "
                    "headers: {X-Api-Key: k-0123456789}}\n")
    summary = json.dumps(load_config(path).summary())
    assert "s3cr3t-path" not in summary and "k-0123456789" not in summary and HOOK_TOKEN not in summary


def test_audit_notify_webhook_one_shot(audits, fake_webhook, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL", audits.endpoint)
    monkeypatch.setenv("AUDITOR_WEBHOOK__URL", fake_webhook.url)
    args = ["audit", "--quiet", "--max-attempts", "2", "--architecture", "mattilda", "--format", "json",
            "--state", str(tmp_path / "state.sqlite3")]
    assert cli.main([*args, "--notify", "webhook"]) == 1
    assert "webhook: 1 message(s) sent" in capsys.readouterr().err
    [alert] = fake_webhook.received
    assert alert.body["counts"]["new"] == len(alert.body["new"]) >= 3 and "Authorization" not in alert.headers   # no token set

    assert cli.main([*args, "--notify", "teams"]) == 2
    assert "--notify: unknown channel teams (known: slack, webhook)" in capsys.readouterr().err
