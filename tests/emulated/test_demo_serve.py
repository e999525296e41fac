"""``auditor demo --serve``: the terminal stand-in for Slack, the drift cycle, and the whole demo in a subprocess."""
from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk import WebClient

from auditor.audit import load_ruleset
from auditor.emulated.demo import free_port
from auditor.emulated.live import TerminalSlack, cycle_drifts
from auditor.notify.secrets import Credential
from auditor.notify.slack.config import SlackConfig
from auditor.notify.slack.delivery import TokenTransport

ROOT = Path(__file__).resolve().parents[2]
RESOLVED = r"^┌─ slack #auditor-demo, reply in thread \S+\n│ .*no longer failing"


def test_terminal_slack_prints_messages_and_answers_lookups():
    out = io.StringIO()
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "2 new failing findings"}},
              {"type": "divider"},
              {"type": "section", "text": {"type": "mrkdwn", "text": "*Resource:* <http://x/sg|sg &amp; co>"}}]
    with TerminalSlack(out) as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        first = client.chat_postMessage(channel="#c", text="fallback", blocks=blocks,
                                        metadata={"event_type": "e", "event_payload": {"outbox_id": 1}})
        reply = client.chat_postMessage(channel="#c", text="resolved", thread_ts=first["ts"])
        history = client.conversations_history(channel="#c", oldest="0", include_all_metadata=True)
        replies = client.conversations_replies(channel="#c", ts=first["ts"])
        other = client.conversations_history(channel="#other")
    assert [m["ts"] for m in history["messages"]] == [first["ts"]]
    assert history["messages"][0]["metadata"]["event_payload"] == {"outbox_id": 1}
    assert [m["ts"] for m in replies["messages"]] == [first["ts"], reply["ts"]]
    assert other["messages"] == []
    text = out.getvalue()
    assert "│ 2 new failing findings\n│ *Resource:* sg & co (http://x/sg)\n└─" in text
    assert "fallback" not in text   # the blocks are shown, not the notification text
    assert f"┌─ slack #c, reply in thread {first['ts']}\n│ resolved\n└─" in text


def test_the_notifiers_transport_posts_and_finds_its_messages():
    with TerminalSlack(io.StringIO()) as slack:
        transport = TokenTransport(Credential("token", "xoxb-auditor-test", "test"), SlackConfig(base_url=slack.base_url))
        posted = transport.post("#c", {"text": "hello"}, None, {"store": "s", "outbox_id": 7})
        assert transport.find("#c", None, 0.0, {"store": "s", "outbox_id": 7}) == posted
        assert transport.find("#c", None, 0.0, {"store": "s", "outbox_id": 8}) is None


def test_the_cycle_starts_with_the_most_severe_drift_of_the_environment():
    drifts = cycle_drifts("mattilda", "production", load_ruleset("mattilda", (), {}), kept=["db-single-az"])
    names = [d.name for d in drifts]
    assert names[0] == "ecs-ssh-open"   # the one critical rule
    assert "staging-db-multi-az" not in names and "db-single-az" not in names
    assert "undocumented-cluster" in names   # a production drift


class Demo:
    """``python -m auditor demo --serve`` in a subprocess, its terminal output collected."""

    def __init__(self, *args: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AUDITOR_", "SLACK_"))}
        self.proc = subprocess.Popen([sys.executable, "-m", "auditor", "demo", "--serve", *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**env, "PYTHONUNBUFFERED": "1"})
        self.output = ""
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.output += line

    def wait(self, condition: Callable[[], object], timeout: float = 30.0) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if value := condition():
                return value
            assert self.proc.poll() is None, f"the demo exited ({self.proc.returncode}):\n{self.output}"
            time.sleep(0.1)
        raise AssertionError(f"condition not met within {timeout} s:\n{self.output}")

    def find(self, pattern: str) -> re.Match | None:
        with self._lock:
            return re.search(pattern, self.output, re.MULTILINE)


def failing(url: str, rule: str) -> float | None:
    """``auditor_rule_results{rule_id=rule, status="fail"}`` on /metrics (None before the first audit)."""
    families = text_string_to_metric_families(requests.get(url, timeout=5).text)
    return next((s.value for f in families for s in f.samples if s.name == "auditor_rule_results"
                 and s.labels["rule_id"] == rule and s.labels["status"] == "fail"), None)


@pytest.mark.slow
def test_demo_serve_shows_a_drift_fire_and_resolve():
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    t0 = time.monotonic()
    demo = Demo("--port", str(port), "--interval", "1", "--drift-every", "2")
    try:
        demo.wait(lambda: demo.find(r"Ctrl-C stops it"))
        assert demo.find(rf"^  metrics   {re.escape(url)}") and demo.find(r"job_name: auditor-demo")
        applied = demo.wait(lambda: demo.find(r"applied drift (\S+): expect rule (\S+) to fail"))
        drift, rule = applied.group(1), applied.group(2)
        assert drift == "ecs-ssh-open"
        demo.wait(lambda: (failing(url, rule) or 0) > 0)
        demo.wait(lambda: demo.find(rf"reverted drift {drift}: "))
        demo.wait(lambda: failing(url, rule) == 0)
        demo.wait(lambda: demo.find(RESOLVED))
        demo.proc.send_signal(signal.SIGINT)
        code = demo.proc.wait(30)
    finally:
        if demo.proc.poll() is None:
            demo.proc.kill()
            demo.proc.wait()
    output = demo.output
    new = re.search(r"^┌─ slack #auditor-demo\n│ .*new failing finding", output, re.MULTILINE)
    resolved = re.search(RESOLVED, output, re.MULTILINE)
    assert new and resolved and new.start() < resolved.start(), output
    assert rule in output[new.start():resolved.start()]
    assert code == 0, output
    assert "Traceback" not in output and "auditor serve stopped" in output
    assert time.monotonic() - t0 < 60
