"""The credential: from the environment or Secrets Manager, never in a log line; webhook mode."""
from __future__ import annotations

import json
import logging

import boto3
import pytest
from fake_slack import TOKEN, WEBHOOK_PATH
from slack_helpers import run, slack_config, texts

from auditor.daemon.logs import json_formatter
from auditor.notify.notifier import Notifier
from auditor.notify.secrets import REDACTED, Credential, CredentialError
from auditor.notify.slack.channel import SlackChannel
from auditor.notify.slack.config import SlackConfig
from auditor.notify.slack.credentials import resolve
from auditor.state import StateStore

SECRET_PART = WEBHOOK_PATH.rsplit("/", 1)[1]


def our_records(caplog) -> list[logging.LogRecord]:
    """Every record but the fake Slack server's own access log (werkzeug: that is Slack's side)."""
    return [r for r in caplog.records if not r.name.startswith("werkzeug")]


def rendered(records) -> str:
    """Each record as the daemon writes it (JSON line) and as plain text, tracebacks included."""
    fmt, plain = json_formatter(), logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(fmt.format(r) + "\n" + plain.format(r) for r in records)


def test_the_token_never_appears_in_any_log_line(audits, fake_slack, make_notifier, caplog):
    caplog.set_level(logging.DEBUG)                                   # everything, slack-sdk's debug included
    caplog.set_level(logging.DEBUG, logger="auditor.notify.slack_sdk")
    notifier = make_notifier(max_retries=1)
    fake_slack.fail("429", retry_after=0)
    fake_slack.fail("500", times=2)
    run(notifier, audits.drifted)                                     # retried, failed, queued
    fake_slack.fail("timeout", seconds=0.8)
    notifier.deliver()                                                # in doubt
    fake_slack.wait_idle()
    notifier.deliver()                                                # found in the history, then sent
    run(notifier, audits.fixed)                                       # thread replies
    assert len(fake_slack.messages) == 4

    records = our_records(caplog)
    assert any(r.name == "auditor.notify.slack_sdk" for r in records)   # slack-sdk did log (redacted)
    assert any("not delivered" in r.getMessage() for r in records)
    text = rendered(records)
    assert TOKEN not in text and TOKEN[5:25] not in text
    # and nowhere in the state file's messages either
    for row in notifier.store.messages():
        assert TOKEN not in json.dumps(row.payload)


def test_the_webhook_url_never_appears_in_a_log_line_and_resolutions_stand_alone(
        audits, fake_slack, make_notifier, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="auditor.notify.slack_sdk")
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", fake_slack.webhook_url)
    notifier = make_notifier(max_retries=1)
    assert notifier.channels[0].mode == "webhook"
    fake_slack.fail("429", method="webhook", retry_after=0)
    fake_slack.fail("500", method="webhook", times=2)
    stats = run(notifier, audits.drifted)
    assert (stats.sent, stats.pending) == (0, 1)                      # one channel: the webhook's
    stats = notifier.deliver()["slack"]
    assert (stats.sent, stats.pending) == (1, 0)
    [alert] = fake_slack.messages
    assert alert.via == "webhook" and "3 new failing findings" in alert.blocks[0]["text"]["text"]

    run(notifier, audits.fixed)
    [_, resolved] = fake_slack.messages
    assert resolved.thread_ts is None and "3 findings no longer failing" in texts(resolved)
    assert "announced" in texts(resolved)
    text = rendered(our_records(caplog))
    assert SECRET_PART not in text and fake_slack.webhook_url not in text
    assert f"url: {REDACTED}" in text                                 # slack-sdk logged it: redacted


def test_credential_from_secrets_manager(aws):
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.create_secret(Name="auditor/slack", SecretString=json.dumps({"token": TOKEN}))
    sm.create_secret(Name="auditor/hook", SecretString="https://hooks.slack.example/services/T/B/xyz123456")
    credential = resolve(SlackConfig(enabled=True, token_secret="auditor/slack"), environ={})
    assert credential.mode == "token" and credential.reveal() == TOKEN
    assert TOKEN not in repr(credential) and TOKEN not in str(credential) and REDACTED in repr(credential)
    hook = resolve(SlackConfig(enabled=True, webhook_url_secret="auditor/hook"), environ={})
    assert hook.mode == "webhook" and hook.reveal().endswith("xyz123456")
    with pytest.raises(CredentialError, match="cannot read Secrets Manager secret 'auditor/none': ResourceNotFoundException"):
        resolve(SlackConfig(enabled=True, token_secret="auditor/none"), environ={})


def test_no_credentials_is_a_clear_error(tmp_path):
    with pytest.raises(CredentialError, match="set the environment variable SLACK_BOT_TOKEN"):
        resolve(SlackConfig(enabled=True), environ={})
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(Credential("token", TOKEN, "test"))


def test_a_secrets_manager_outage_leaves_messages_queued(audits, fake_slack, tmp_path, clock, caplog):
    def unavailable(_secret_id: str) -> str:
        raise CredentialError("cannot read Secrets Manager secret 'auditor/slack': ThrottlingException")
    config = slack_config(fake_slack, token_secret="auditor/slack")
    with StateStore(tmp_path / "s.sqlite3") as store:
        notifier = Notifier(store, [SlackChannel(config, environ={}, read_secret=unavailable, clock=clock)], clock=clock)
        stats = run(notifier, audits.drifted)
        assert (stats.sent, stats.pending) == (0, 2) and fake_slack.requests == []
        assert any("ThrottlingException" in r.getMessage() for r in caplog.records)
        notifier = Notifier(store, [SlackChannel(config, environ={}, read_secret=lambda _id: TOKEN, clock=clock)],
                            clock=clock)
        assert notifier.deliver()["slack"].sent == 2
