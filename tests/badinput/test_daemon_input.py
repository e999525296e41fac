"""``auditor serve`` under bad input: reloads that raise anything, audits that fail in any way,
and a burst of concurrent scrapes. The daemon survives all of them."""
from __future__ import annotations

import io
import sqlite3
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from auditor.aws import ApiStats, AuditSetupError, AwsContext
from auditor.daemon import runner as runner_module
from auditor.daemon import service
from auditor.daemon.config import DaemonConfig
from auditor.daemon.health import check_readiness
from auditor.daemon.http import HttpServer, make_app
from auditor.daemon.metrics import MetricsStore, make_registry
from auditor.daemon.runner import AuditRunner
from auditor.daemon.service import Daemon
from auditor.model import Snapshot
from auditor.results import AuditResult
from auditor.state import StateStore

ACCOUNT, REGION = "123456789012", "us-east-1"
TARGET = {"account": ACCOUNT, "region": REGION, "architecture": "mattilda", "environment": "production"}
NOW = 1_700_000_000.0


# --- reload -------------------------------------------------------------------------------------

@pytest.fixture
def daemon(tmp_path) -> Daemon:
    config_file = tmp_path / "auditor.yaml"
    config_file.write_text("architecture: mattilda\nhttp: {address: 127.0.0.1, port: 0}\n"
                           "schedule: {interval_seconds: 3600}\n")
    config, ruleset = service.load(config_file)
    return Daemon(config, ruleset, config_file)


def _failures(daemon: Daemon) -> float:
    return daemon.registry.get_sample_value("auditor_config_reloads_total", {"outcome": "failure"})


def _unicode_error(*_a: Any) -> Any:
    raise UnicodeDecodeError("utf-8", b"\xff\xfe", 0, 1, "invalid start byte")


def _recursion_error(*_a: Any) -> Any:
    raise RecursionError("maximum recursion depth exceeded while calling a Python object")


def _jmespath_error(*_a: Any) -> Any:
    import jmespath
    jmespath.compile("tags.[")   # raises jmespath.exceptions.ParseError


def _bug(*_a: Any) -> Any:
    return {}["missing"]


@pytest.mark.parametrize("raiser", [_unicode_error, _recursion_error, _jmespath_error, _bug],
                         ids=["UnicodeDecodeError", "RecursionError", "jmespath", "KeyError"])
def test_a_reload_that_raises_anything_keeps_the_running_config(daemon, raiser, monkeypatch, json_logs):
    before = daemon.current()
    monkeypatch.setattr(service, "load_ruleset", raiser)
    assert daemon.reload() is False
    assert daemon.current() is before
    assert _failures(daemon) == 1
    line = next(r for r in json_logs() if r.get("event") == "reload")
    assert line["outcome"] == "failure" and line["level"] == "ERROR"
    assert "keeping the running config" in line["message"]
    assert line["error"] and line["problems"] and line["error"] in line["problems"][0]


def test_a_reload_of_real_bad_files_keeps_the_running_config(daemon, tmp_path, json_logs):
    """Whatever the loaders make of them (a clean error or an exception), the daemon goes on."""
    before = daemon.current()
    config_file = daemon.config_file
    rules = tmp_path / "latin1.yaml"
    rules.write_bytes("pack: caf\xe9\nrules: []\n".encode("latin-1"))   # not UTF-8
    deep = tmp_path / "deep.yaml"
    deep.write_text("pack: deep\nrules:\n  - id: deep.x\n    title: x\n    severity: low\n    resource: vpc\n"
                    "    assert: " + "[" * 5000 + "]" * 5000 + "\n")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("pack: x\nrules: [\n  - id: {\n")
    original = config_file.read_text()
    for i, path in enumerate((rules, deep, bad_yaml), start=1):
        config_file.write_text(original + f"rules: [{path.name}]\n")
        assert daemon.reload() is False
        assert daemon.current() is before
        assert _failures(daemon) == i
    config_file.write_bytes(b"architecture: \xff\xfe\n")   # the config file itself not UTF-8
    assert daemon.reload() is False and daemon.current() is before and _failures(daemon) == 4
    lines = [r for r in json_logs() if r.get("event") == "reload"]
    assert len(lines) == 4 and all(r["outcome"] == "failure" and r["problems"] for r in lines)


def test_a_reload_carries_file_and_line_when_the_exception_has_them(daemon, monkeypatch, json_logs):
    import yaml

    def yaml_error(*_a: Any) -> Any:
        yaml.safe_load(io.StringIO("a: [\n  b: {\n"))
    monkeypatch.setattr(service, "load_ruleset", yaml_error)
    assert daemon.reload() is False
    line = next(r for r in json_logs() if r.get("event") == "reload")
    assert isinstance(line.get("line"), int)

    def os_error(*_a: Any) -> Any:
        raise PermissionError(13, "Permission denied", "/etc/auditor/rules/x.yaml")
    monkeypatch.setattr(service, "load_ruleset", os_error)
    assert daemon.reload() is False
    line = [r for r in json_logs() if r.get("event") == "reload"][-1]
    assert line["file"] == "/etc/auditor/rules/x.yaml"
    assert line["problems"][0].startswith("/etc/auditor/rules/x.yaml: PermissionError")
    assert _failures(daemon) == 2


def test_a_reload_that_fails_while_swapping_restores_the_running_config(daemon, monkeypatch):
    before = daemon.current()
    daemon.config_file.write_text(daemon.config_file.read_text().replace("3600", "1800"))
    monkeypatch.setattr(daemon.scheduler, "reschedule", lambda _s: _bug())
    assert daemon.reload() is False
    assert daemon.current() is before and _failures(daemon) == 1


def test_an_unloadable_config_at_start_exits_2(tmp_path, monkeypatch, json_logs):
    config_file = tmp_path / "auditor.yaml"
    config_file.write_text("architecture: mattilda\n")
    monkeypatch.setattr(service, "load_ruleset", _recursion_error)
    monkeypatch.setattr(service, "setup_logging", lambda *_a, **_k: None)
    assert service.main(config_file) == service.EXIT_INVALID
    line = next(r for r in json_logs() if r.get("event") == "start")
    assert line["error"] == "RecursionError"


# --- audits -------------------------------------------------------------------------------------

def _result(environment: str | None = "production") -> AuditResult:
    return AuditResult("mattilda", environment, ACCOUNT, REGION, "2023-11-14T22:13:20Z", 0.1, [], (),
                       Snapshot(ACCOUNT, REGION, []), ApiStats())


class Audits:
    """run_audit replaced: each call pops the next outcome (an AuditResult or an exception)."""

    def __init__(self, *outcomes: AuditResult | BaseException):
        self.outcomes = list(outcomes)

    def __call__(self, *_a: Any, previous: Any = None, **_k: Any) -> AuditResult:
        if previous is not None:
            previous(ACCOUNT, REGION)   # as run_audit reads the last snapshot once it knows the account
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def _aws(config: DaemonConfig, _cancel: threading.Event) -> AwsContext:
    return AwsContext(region=config.region or REGION, max_attempts=1)


def _runner(tmp_path, store: MetricsStore, **settings: Any) -> AuditRunner:
    config = DaemonConfig(**{"architecture": "mattilda", "http": {"address": "127.0.0.1", "port": 0},
                             "schedule": {"interval_seconds": 3600},
                             "state": {"path": str(tmp_path / "state.sqlite3")}, **settings})
    return AuditRunner(store, lambda: (config, _ruleset()), clock=lambda: NOW, aws_factory=_aws)


_RULESET = []


def _ruleset():
    if not _RULESET:
        from auditor.audit import load_ruleset
        _RULESET.append(load_ruleset("mattilda"))
    return _RULESET[0]


def _runs(registry, labels: dict[str, str], outcome: str) -> float | None:
    return registry.get_sample_value("auditor_audit_runs_total", dict(labels, outcome=outcome))


@pytest.mark.parametrize("exc", [sqlite3.DatabaseError("database disk image is malformed"),
                                 RuntimeError("something unexpected"),
                                 RecursionError("maximum recursion depth exceeded"),
                                 AuditSetupError("cannot identify the AWS account")],
                         ids=["sqlite3.DatabaseError", "RuntimeError", "RecursionError", "AuditSetupError"])
def test_a_failed_audit_is_labelled_like_the_targets_successful_ones(tmp_path, monkeypatch, json_logs, exc):
    store = MetricsStore()
    registry = make_registry(store)
    monkeypatch.setattr(runner_module, "run_audit", Audits(_result(), exc))
    runner = _runner(tmp_path, store)
    runner()
    runner()   # never raises (into APScheduler)
    assert _runs(registry, TARGET, "success") == 1
    assert _runs(registry, TARGET, "failed") == 1   # the same series, not account="", environment=""
    assert _runs(registry, dict(TARGET, account="", environment=""), "failed") is None
    line = [r for r in json_logs() if r.get("event") == "audit"][-1]
    assert line["outcome"] == "failed" and line["level"] == "ERROR"
    assert line["account"] == ACCOUNT and line["environment"] == "production"
    assert line["errors"][0]["exception"] == type(exc).__name__
    assert str(exc) in line["errors"][0]["message"]
    # /readyz: still ready on the last evaluated audit, and says that the last one failed
    readiness = check_readiness(store.state, NOW + 10, 7200)
    assert readiness.ready and "the last audit failed" in readiness.reason
    assert not store.state.running and runner.wait_idle(0)


def test_a_failed_first_audit_uses_the_configured_labels_and_is_not_ready(tmp_path, monkeypatch, json_logs):
    store = MetricsStore()
    registry = make_registry(store)
    monkeypatch.setattr(runner_module, "run_audit", Audits(sqlite3.DatabaseError("file is not a database")))
    _runner(tmp_path, store, environment="production", region=REGION)()
    assert _runs(registry, dict(TARGET, account=""), "failed") == 1
    readiness = check_readiness(store.state, NOW + 10, 7200)
    assert not readiness.ready and "the last audit failed" in readiness.reason


@pytest.mark.parametrize("content, reason", [(b"this is not a database" * 200, "damaged"), (b"", "empty")])
def test_a_damaged_or_empty_state_file_costs_no_audit_and_is_counted_once(tmp_path, monkeypatch, json_logs,
                                                                          content, reason):
    (tmp_path / "state.sqlite3").write_bytes(content)
    store = MetricsStore()
    registry = make_registry(store)
    monkeypatch.setattr(runner_module, "run_audit", Audits(_result(), _result()))
    runner = _runner(tmp_path, store)
    runner()
    runner()
    assert _runs(registry, TARGET, "success") == 2
    assert [r["outcome"] for r in json_logs() if r.get("event") == "audit"] == ["success", "success"]
    assert registry.get_sample_value("auditor_state_recoveries_total", {"reason": reason}) == 1
    other = {"damaged": "empty", "empty": "damaged"}[reason]
    assert registry.get_sample_value("auditor_state_recoveries_total", {"reason": other}) == 0


@pytest.mark.parametrize("where", ["configure", "previous_snapshot", "finish", "failed"])
def test_the_state_store_raising_anywhere_never_reaches_the_scheduler(tmp_path, monkeypatch, json_logs, where):
    store = MetricsStore()
    registry = make_registry(store)
    outcomes = (_result(), RuntimeError("boom")) if where == "failed" else (_result(),)
    monkeypatch.setattr(runner_module, "run_audit", Audits(*outcomes))
    runner = _runner(tmp_path, store)

    def raising(*_a: Any, **_k: Any) -> Any:
        raise sqlite3.DatabaseError("database disk image is malformed")
    monkeypatch.setattr(StateStore if where == "previous_snapshot" else runner.runtime, where, raising)
    for _ in outcomes:
        runner()
    assert _runs(registry, TARGET, "success") == 1
    assert _runs(registry, TARGET, "failed") == (1 if where == "failed" else 0)
    audits = [r for r in json_logs() if r.get("event") == "audit"]
    assert [r["outcome"] for r in audits] == (["success", "failed"] if where == "failed" else ["success"])


def test_anything_raised_outside_the_audit_is_still_caught(tmp_path, json_logs):
    store = MetricsStore()

    def current():
        raise RuntimeError("no config")
    runner = AuditRunner(store, current, clock=lambda: NOW, aws_factory=_aws)
    runner()   # does not raise
    assert not store.state.running and runner.wait_idle(0)
    assert [r["outcome"] for r in json_logs() if r.get("event") == "audit"] == ["failed"]
    assert store.state.last_audit.outcome == "failed"
    assert make_registry(store).get_sample_value(
        "auditor_audit_runs_total", {"account": "", "region": "", "architecture": "", "environment": "",
                                     "outcome": "failed"}) == 1


def test_a_failure_while_counting_a_failure_is_counted_once(tmp_path, monkeypatch, json_logs):
    store = MetricsStore()
    registry = make_registry(store)
    monkeypatch.setattr(runner_module, "run_audit", Audits(_result(), RuntimeError("boom")))
    runner = _runner(tmp_path, store)
    runner()
    monkeypatch.setattr(runner_module, "AuditInfo", lambda *_a: _bug())   # after the failure is counted
    runner()
    assert _runs(registry, TARGET, "failed") == 1
    assert sum(v for k, v in store.state.counter("audit_runs").items() if k[-1] == "failed") == 1


def test_metrics_that_cannot_be_built_make_a_failed_audit(tmp_path, monkeypatch, json_logs):
    store = MetricsStore()
    registry = make_registry(store)
    monkeypatch.setattr(runner_module, "run_audit", Audits(_result(), _result()))
    runner = _runner(tmp_path, store)
    runner()
    monkeypatch.setattr(runner_module.AuditMetrics, "from_result", classmethod(lambda *_a: _bug()))
    runner()
    assert _runs(registry, TARGET, "success") == 1 and _runs(registry, TARGET, "failed") == 1



def test_a_failed_audit_after_a_restart_is_labelled_like_the_last_process_successes(tmp_path, monkeypatch, json_logs):
    monkeypatch.setattr(runner_module, "run_audit", Audits(_result(), RuntimeError("boom")))
    first = _runner(tmp_path, MetricsStore())
    first()   # evaluated: its labels are kept in the state file
    first.close()
    store = MetricsStore()   # a new process: nothing in memory
    registry = make_registry(store)
    second = _runner(tmp_path, store)
    second()
    assert _runs(registry, TARGET, "failed") == 1
    line = [r for r in json_logs() if r.get("event") == "audit"][-1]
    assert (line["account"], line["environment"]) == (ACCOUNT, "production")


def test_a_failed_audit_of_another_target_does_not_borrow_labels(tmp_path, monkeypatch, json_logs):
    monkeypatch.setattr(runner_module, "run_audit", Audits(_result(), RuntimeError("boom")))
    _runner(tmp_path, MetricsStore())()
    store = MetricsStore()
    registry = make_registry(store)
    _runner(tmp_path, store, environment="staging")()   # another configured environment: another target
    assert _runs(registry, dict(TARGET, account="", environment="staging"), "failed") == 1

# --- HTTP -----------------------------------------------------------------------------------------

@pytest.mark.e2e   # the daemon's HTTP server on a socket
def test_200_concurrent_scrapes_all_succeed(tmp_path, monkeypatch):
    store = MetricsStore()
    monkeypatch.setattr(runner_module, "run_audit", Audits(_result()))
    _runner(tmp_path, store)()   # something to export
    daemon_config = DaemonConfig(architecture="mattilda", http={"address": "127.0.0.1", "port": 0})
    app = make_app(make_registry(store), lambda: check_readiness(store.state, NOW, 7200), lambda: store.state)
    server = HttpServer(app, daemon_config.http.address, daemon_config.http.port).start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    n = 200
    barrier = threading.Barrier(n, timeout=30)

    def scrape(_i: int) -> tuple[int, float, str]:
        barrier.wait()   # all 200 at once
        t0 = time.perf_counter()
        r = requests.get(url, timeout=30)
        return r.status_code, time.perf_counter() - t0, r.text

    try:
        with ThreadPoolExecutor(max_workers=n) as pool:
            answers = list(pool.map(scrape, range(n)))   # a connection error would raise here
    finally:
        server.stop()
    assert [status for status, _, _ in answers] == [200] * n
    assert all("auditor_audit_runs_total" in text for _, _, text in answers)
    latencies = sorted(seconds for _, seconds, _ in answers)
    p50 = statistics.median(latencies)
    p99 = latencies[int(0.99 * n) - 1]
    print(f"200 concurrent /metrics: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms")
