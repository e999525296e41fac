"""``python -m auditor serve`` as ECS runs it: SIGHUP with broken rules keeps the old ones,
SIGTERM exits 0 within 10 s (also with an audit stuck in an AWS call), stdout is JSON lines."""
from __future__ import annotations

import signal
import socket

import pytest
import requests
from daemon_helpers import ServeProcess, expected_failures
from prometheus_client.parser import text_string_to_metric_families
from test_daemon_service import EXTRA_RULES

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
