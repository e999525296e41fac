"""``auditor serve`` (its audit job) and ``auditor audit --notify`` against the fake Slack Web API."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from fake_slack import TOKEN

from auditor import cli
from auditor.aws import AuditSetupError
from auditor.daemon.config import ConfigError, DaemonConfig, load_config
from auditor.daemon.metrics import MetricsStore, make_registry
from auditor.daemon.runner import AuditRunner, default_aws
from auditor.state import StateStore

COMMON = {"account": "123456789012", "region": "us-east-1", "architecture": "mattilda", "environment": "production"}


def daemon_config(fake, tmp_path, **slack):
    return DaemonConfig(architecture="mattilda", max_attempts=2, http={"address": "127.0.0.1", "port": 0},
                        schedule={"interval_seconds": 3600}, state={"path": str(tmp_path / "state.sqlite3")},
                        slack={"enabled": True, "base_url": fake.base_url, "timeout_seconds": 2,
                               "channels": {"default": "#auditor", "critical": "#auditor-critical"}, **slack})


def test_daemon_audit_job_posts_once_then_stays_silent_with_metrics(audits, fake_slack, token_env, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", audits.endpoint)
    config = daemon_config(fake_slack, tmp_path)
    store = MetricsStore()
    registry = make_registry(store)
    runner = AuditRunner(store, lambda: (config, audits.ruleset), clock=time.time)
    get = registry.get_sample_value
    try:
        runner()
        assert len(fake_slack.top_level()) == 2
        assert get("auditor_notifications_total", {"channel": "slack", "outcome": "sent"}) == 2
        assert get("auditor_notifications_total", {"channel": "slack", "outcome": "failed"}) == 0
        assert get("auditor_notification_outbox_pending", {"channel": "slack"}) == 0
        assert get("auditor_notification_outbox_pending", {"channel": "webhook"}) is None   # not enabled
        assert get("auditor_resource_changes", {**COMMON, "change": "changed"}) is None   # nothing to compare yet

        fake_slack.fail("500", times=3)    # Slack is down, but nothing is news: nothing is tried
        runner()
        assert len(fake_slack.messages) == 2 and len(fake_slack.calls()) == 2
        assert get("auditor_resource_changes", {**COMMON, "change": "changed"}) == 0
        assert runner.runtime.store.previous_snapshot(COMMON["account"], COMMON["region"]) is not None
        assert runner.runtime.store.previous_snapshot(COMMON["account"], "eu-west-1") is None
    finally:
        runner.close()

    # a restart of the daemon on the same state file: still silent
    again = AuditRunner(MetricsStore(), lambda: (config, audits.ruleset), clock=time.time)
    try:
        again()
        assert len(fake_slack.messages) == 2
    finally:
        again.close()
    exposition = "\n".join(f"{m.name} {s.labels} {s.value}" for m in registry.collect() for s in m.samples)
    assert TOKEN not in exposition


def test_a_failed_audit_sends_one_notice_and_one_when_it_recovers(audits, fake_slack, token_env, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", audits.endpoint)
    config = daemon_config(fake_slack, tmp_path, min_severity="critical")
    broken = [True]

    def aws_factory(cfg, cancel):
        if broken[0]:
            raise AuditSetupError("no AWS credentials found (checked the environment, profile and task role)")
        return default_aws(cfg, cancel)
    runner = AuditRunner(MetricsStore(), lambda: (config, audits.ruleset), clock=time.time, aws_factory=aws_factory)
    try:
        runner()
        runner()
        [notice] = fake_slack.messages
        assert notice.channel == "C0AUDITOR" and "could not run" in json.dumps(notice.blocks)
        assert "no AWS credentials found" in json.dumps(notice.blocks)
        broken[0] = False
        runner()
        recovered = [m for m in fake_slack.messages if m.channel == "C0AUDITOR"][1]
        assert "complete again" in json.dumps(recovered.blocks)
        assert [m.channel for m in fake_slack.messages].count("C0CRITICAL") == 1   # the critical finding
        runner()
        assert len(fake_slack.messages) == 3
    finally:
        runner.close()


def test_settings_keys_environment_and_problems(tmp_path, monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    path = tmp_path / "auditor.yaml"
    path.write_text("slack:\n  enabled: true\n  channels: {default: C123}\n  reminder_interval: 36h\n"
                    "  templates_dir: my-templates\nstate:\n  path: data/state.sqlite3\n")
    (tmp_path / "my-templates").mkdir()
    with pytest.raises(ConfigError, match="no Slack credentials: set the environment variable SLACK_BOT_TOKEN"):
        load_config(path)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("AUDITOR_SLACK__CHANNELS__CRITICAL", "C999")
    monkeypatch.setenv("AUDITOR_SLACK__MIN_SEVERITY", "high")
    config = load_config(path)
    assert config.slack.reminder_interval == 36 * 3600 and config.slack.min_severity == "high"
    assert config.slack.channels == {"default": "C123", "critical": "C999"}
    assert config.state.path == tmp_path / "data" / "state.sqlite3"
    assert config.slack.templates_dir == tmp_path / "my-templates"
    assert TOKEN not in json.dumps(config.summary())

    path.write_text("architecture: mattilda\n")                       # the default: next to the config file
    assert load_config(path).state.path == tmp_path / "auditor-state.sqlite3"
    monkeypatch.delenv("AUDITOR_SLACK__CHANNELS__CRITICAL")
    monkeypatch.delenv("AUDITOR_SLACK__MIN_SEVERITY")
    path.write_text(f"slack:\n  enabled: true\n  token_env: {TOKEN}\n")   # the token itself, by mistake
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "slack.token_env" in str(exc.value) and TOKEN not in str(exc.value)
    path.write_text("slack:\n  enabled: true\n")
    with pytest.raises(ConfigError, match="slack.channels.default: required with a bot token"):
        load_config(path)


def test_audit_slack_one_shot(audits, fake_slack, token_env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL", audits.endpoint)
    monkeypatch.setenv("AUDITOR_SLACK__BASE_URL", fake_slack.base_url)
    monkeypatch.setenv("AUDITOR_SLACK__CHANNELS", '{"default": "#auditor"}')
    state = tmp_path / "state.sqlite3"
    args = ["audit", "--quiet", "--max-attempts", "2", "--architecture", "mattilda", "--format", "json",
            "--slack", "--state", str(state)]

    assert cli.main(args) == 1
    out, err = capsys.readouterr()
    assert "slack: 1 message(s) sent" in err
    [message] = fake_slack.messages
    assert message.channel == "C0AUDITOR" and "3 new failing findings" in message.blocks[0]["text"]["text"]
    assert json.loads(out)["findings"] and TOKEN not in out + err

    assert cli.main(args) == 1                                        # the same account: silence
    out, err = capsys.readouterr()
    assert len(fake_slack.messages) == 1 and "slack:" not in err
    changes = json.loads(out).get("changes")
    assert changes is not None and changes["changed"] == 0            # compared with the first run's snapshot

    monkeypatch.delenv("AUDITOR_SLACK__CHANNELS")
    assert cli.main(args) == 2
    assert "error: slack.channels.default: required with a bot token" in capsys.readouterr().err


def test_audit_state_without_slack_reports_changes_only(audits, fake_slack, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL", audits.endpoint)
    args = ["audit", "--quiet", "--max-attempts", "2", "--architecture", "mattilda", "--format", "json",
            "--state", str(tmp_path / "s.sqlite3")]
    cli.main(args)
    assert json.loads(capsys.readouterr().out).get("changes") is None  # first run: nothing to compare
    cli.main(args)
    assert json.loads(capsys.readouterr().out)["changes"]["changed"] == 0
    assert fake_slack.requests == []


def test_a_process_killed_while_sending_then_rerun_delivers_each_message_once(audits, fake_slack, tmp_path, capsys):
    """SIGKILL while Slack holds the answer to the first message (it has it, the state file does not
    know), then run again: the first is found in the channel's history, the second sent, none twice."""
    state = tmp_path / "state.sqlite3"
    env = {**os.environ, "AWS_ENDPOINT_URL": audits.endpoint, "SLACK_BOT_TOKEN": TOKEN,
           "AUDITOR_SLACK__BASE_URL": fake_slack.base_url, "AUDITOR_SLACK__TIMEOUT_SECONDS": "30",
           "AUDITOR_SLACK__CHANNELS": '{"default": "#auditor", "critical": "#auditor-critical"}'}
    args = ["audit", "--quiet", "--max-attempts", "2", "--architecture", "mattilda", "--slack", "--state", str(state)]
    fake_slack.fail("timeout", seconds=4)
    proc = subprocess.Popen([sys.executable, "-m", "auditor", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not fake_slack.messages and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(fake_slack.messages) == 1
    finally:
        proc.kill()
        proc.wait(10)
    fake_slack.wait_idle()

    with StateStore(state) as store:
        first, second = store.unsent("slack")
        assert first.in_flight_since is not None and second.attempts == 0

    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert cli.main(args) == 1
    assert "slack: 2 message(s) sent" in capsys.readouterr().err   # confirmed: one found, one posted
    assert len(fake_slack.calls()) == 2                              # chat.postMessage: once per message
    assert len(fake_slack.messages) == 2 and len(fake_slack.calls("conversations.history")) == 1
    assert sorted(m.channel for m in fake_slack.messages) == ["C0AUDITOR", "C0CRITICAL"]


def test_audit_of_several_regions_keeps_each_regions_state(tmp_path, capsys):
    from moto import mock_aws

    path = tmp_path / "state.sqlite3"
    with mock_aws():
        for _ in range(2):
            code = cli.main(["audit", "--region", "us-east-1,eu-west-1", "--state", str(path), "-f", "json",
                             "-o", str(tmp_path / "report.json"), "--quiet"])
            assert code in (0, 1), capsys.readouterr().err
    with StateStore(path) as store:
        for region in ("us-east-1", "eu-west-1"):
            state, _ = store.previous_snapshot("123456789012", region)
            assert (state["account"], state["region"]) == ("123456789012", region)
        assert store.previous_snapshot("", "") is None
