"""End to end: ``auditor serve`` audits a drifted emulated account, a real Prometheus scrapes it
and evaluates auditor/monitoring/auditor.rules.yml, and every dashboard and alert query returns what it should.

The stack (module scope, about 14 s to build, 6 of them waiting for Prometheus to pick up its
static target: its discovery manager passes targets on at most every 5 s):

- moto's server (the session fixture ``moto_endpoint``, in this process) holding mattilda's
  production deployment with the drifts ``ecs-ssh-open`` (a critical and a high failing finding),
  ``db-single-az`` (a high one) and ``cache-node-type`` (Redis on cache.m5.large: a medium
  configuration finding, and the document's "ElastiCache t3.micro" cost row over its figure +
  25%: a medium budget finding; the compliant deployment keeps within every row), plus the info
  finding of the services the cost table leaves out (NAT gateway, secrets, CloudWatch), with a
  month-to-date answer queued in moto's Cost Explorer;
- ``python -m auditor serve`` as a subprocess auditing it every 2 s with Cost Explorer enabled
  (``cost.actual_spend``) and the bundled price table only, HTTP on 127.0.0.1 (port 0: the OS
  picks a free one, read back from the ``start`` log line), notifications through the webhook
  channel to a local receiver that confirms every document;
- ``/usr/bin/prometheus`` (Debian's 2.42) in a temp dir, configured from
  auditor/monitoring/prometheus.example.yml (job ``auditor``, the rule file) with 1 s scrape and evaluation
  intervals and no Alertmanager.

Instant queries all run at one time, a rule evaluation that saw only successful scrapes (see
_snapshot): on a loaded machine a scrape can exceed its 1 s timeout, and a failed scrape marks
every series stale, which would make the checks flaky. What is checked through Prometheus' HTTP
API: every query of tests/monitoring/queries.py (panel
targets, template variables, alert expressions) returns data, except those listed in
EXPECTED_EMPTY with the reason, which must be empty; range panels as range queries too; key
values match the audit (cost panels: the estimate, budget and Cost Explorer answer);
AuditorCriticalDrift is pending/firing with the right labels and a rendered description,
AuditorCostOverBudget pending for the deployment with the row that is over in its description,
AuditorRuleMatchesNothing pending for (and the "Rules that applied to nothing" panel listing)
exactly the pack rules of EXPECTED_MATCHING_NOTHING (none here: both are expected empty), never for
a rule that is only out of scope (EXPECTED_OUT_OF_SCOPE); every rule evaluates without error. Against the daemon's ``/metrics``:
every metric name the dashboards and alerts use is exposed, the exposition matches
docs/metrics.md (names and label sets), and ``promtool check metrics`` reports nothing.

Needs /usr/bin/prometheus and promtool: the tests fail (never skip) without them; install with
``scripts/install-prometheus.sh`` (as root). Every process is bound to 127.0.0.1 and stopped by
the fixture's finalizer; every wait is bounded.
"""
from __future__ import annotations

import calendar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import queries as q  # tests/monitoring/queries.py (this folder is on sys.path)
import requests
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from auditor import __version__
from auditor.cost.prices import BUNDLED, read_table
from auditor.emulated.demo import deploy, free_port

pytestmark = pytest.mark.slow

REPO = q.REPO
RULES = q.MONITORING / "auditor.rules.yml"
EXAMPLE_CONFIG = q.MONITORING / "prometheus.example.yml"

WAIT_SECONDS = 30.0          # bound of every wait loop
AUDIT_INTERVAL_SECONDS = 2   # the daemon audits again every 2 s: counters move between scrapes
JOB = "auditor"              # the scrape job of prometheus.example.yml
ARCHITECTURE, ENVIRONMENT = "mattilda", "production"
DRIFTS = ["ecs-ssh-open", "db-single-az", "cache-node-type"]
ACCOUNT, REGION = "123456789012", "us-east-1"   # moto's account, the region the daemon is given
CRITICAL_RULE = "baseline.sg.only_load_balancers_open_to_internet"
# The failing findings those drifts give (auditor/emulated/drifts/mattilda.py), by rule: severity.
EXPECTED_FAILING = {
    CRITICAL_RULE: "critical",                          # ecs-ssh-open, on the ECS tasks' SG
    "mattilda.sg.ecs_from_alb_only": "high",            # ecs-ssh-open, on the ECS tasks' SG
    "mattilda.rds.multi_az_production": "high",         # db-single-az
    "mattilda.cache.node_type": "medium",               # cache-node-type
    "mattilda.cost.budget": "medium",                   # cache-node-type: the ElastiCache row over its figure + 25%
    "mattilda.cost.unitemized": "info",                 # the cost table leaves out NAT gateway, secrets, CloudWatch
}
DEPLOYMENT = f"{ARCHITECTURE}/{ENVIRONMENT}"
BUDGET_USD, BUDGET_LIMIT_USD = 122.0, 152.5   # rules/architectures/mattilda.yaml: production, tolerance 0.25
# The cost row cache-node-type puts over (the production column: ~$12, + 25%), and the services
# the table leaves out (mattilda.cost.unitemized).
ROW_OVER, ROW_SERVICE, ROW_USD, ROW_LIMIT_USD = "ElastiCache t3.micro", "elasticache", 12.0, 15.0
UNITEMIZED = ("nat_gateway", "secrets_manager", "cloudwatch")
# The month-to-date answer queued in moto's Cost Explorer (by Cost Explorer service), and the same
# folded onto the service labels of auditor_cost_actual_month_to_date_usd (every label present).
ACTUAL_SPEND = {"Amazon Elastic Container Service": 41.25, "Amazon Relational Database Service": 9.5,
                "EC2 - Other": 18.75, "Amazon Elastic Load Balancing": 12.5, "AmazonCloudWatch": 2.25,
                "Amazon Virtual Private Cloud": 1.75}
ACTUAL_BY_LABEL = {"fargate": 41.25, "rds": 9.5, "elasticache": 0.0, "nat_gateway": 18.75, "load_balancer": 12.5,
                   "secrets_manager": 0.0, "cloudwatch": 2.25, "ecr": 0.0, "other": 1.75}

_ALERT = "auditor/monitoring/auditor.rules.yml alert "
_PANEL = "auditor/monitoring/auditor.json panel "
_NO_SILENT_RULE = (
    "no architecture-pack rule finds nothing to judge in this deployment (no drift here removes or "
    "re-tags a resource): auditor_rule_skipped_deployments{reason=\"nothing\"} is 0 for every pack rule. "
    "The only pack rule that judges nothing, mattilda.rds.single_az_outside_production, is out of scope "
    "(reason out_of_scope: only production is deployed), and the one baseline rule with nothing is left out")
# Queries that are legitimately empty in this state (one daemon, up, auditing successfully every
# 2 s, 6 failing findings, no reload): source -> why. They are asserted empty, so the list
# stays honest; every other query must return data. Panels that end in ``or vector(0)`` always
# return a sample and so never appear here.
EXPECTED_EMPTY = {
    _ALERT + "AuditorFailingFindingsTruncated":
        "6 failing findings, far below metrics.max_finding_series (500): the dropped counter stays 0",
    _ALERT + "AuditorAuditStale":
        "the last audit finished seconds ago, not more than 2700 s ago",
    _ALERT + "AuditorNeverAudited":
        "the first audit finished before the first scrape: auditor_last_audit_timestamp_seconds > 0",
    _ALERT + "AuditorAuditFailing":
        "every audit succeeds: the failed/incomplete outcome counters stay 0",
    _ALERT + "AuditorConfigReloadFailed":
        "no SIGHUP is sent: auditor_config_reloads_total{outcome=\"failure\"} stays 0",
    _ALERT + "AuditorStateFileReplaced":
        "the state file is new and healthy: auditor_state_recoveries_total stays 0",
    _ALERT + "AuditorNotificationsStuck":
        "the webhook receiver confirms every document: nothing stays queued, no attempt fails",
    _ALERT + "AuditorTargetDown":
        "the target is up (waited for before querying)",
    _ALERT + "AuditorTargetMissing":
        "the auditor job has a target, so absent(up{job=~\"auditor.*\"}) is empty",
    _ALERT + "AuditorAwsApiErrors":
        "no AWS call fails (ECR's LifecyclePolicyNotFoundException is a normal answer, not an error)",
    _ALERT + "AuditorCostEstimateIncomplete":
        "the bundled price table prices every line of the emulated deployment: 0 unpriced lines",
    _PANEL + "16 'AWS API errors' A":
        "no AWS call fails in this healthy audit, so auditor_aws_api_errors_total has no series yet",
    # EXPECTED_MATCHING_NOTHING is empty: every architecture-pack rule finds something to judge here
    _ALERT + "AuditorRuleMatchesNothing": _NO_SILENT_RULE,
    _PANEL + "30 'Rules that applied to nothing' A": _NO_SILENT_RULE,
    _PANEL + "30 'Rules that applied to nothing' B": _NO_SILENT_RULE,
}

# Architecture-pack rules that find nothing to judge in this state
# (auditor_rule_skipped_deployments{reason="nothing"} > 0): the "Rules that applied to nothing"
# panel lists them and AuditorRuleMatchesNothing is pending for them (for: 1h). rule -> why.
# Asserted exactly, so the list stays honest; while it is empty, the panel's queries and the
# alert are in EXPECTED_EMPTY.
EXPECTED_MATCHING_NOTHING: dict[str, str] = {}
# Pack rules whose scope leaves the deployment's environment out (reason="out_of_scope"): they
# judge no resource either, by design, and are in neither the panel nor the alert.
EXPECTED_OUT_OF_SCOPE = {
    "mattilda.rds.single_az_outside_production":
        "scoped to environments other than production (scope: environment ne production) and only "
        "production is deployed",
}
# Baseline rules that judge no resource here: in neither the panel nor the alert.
BASELINE_MATCHING_NOTHING = {
    "baseline.cache_cluster.private_subnets":
        "the deployment has no standalone ElastiCache cluster (its Redis is a replication group): "
        "reason nothing",
}

# Metrics the dashboards and alerts read that have no sample in this state (a labelled counter
# has no series before its first increment); each must indeed have none.
NO_SAMPLES_EXPECTED = {
    "auditor_aws_api_errors_total": "no AWS call fails in this healthy audit",
}

# Lints of `promtool check metrics` accepted on the exposition: none. A lint added here needs a
# reason (e.g. a name fixed by docs/metrics.md that promlint dislikes).
ACCEPTED_LINTS: dict[str, str] = {}


# --- processes -----------------------------------------------------------------------------
def _tool(name: str, default: str | None = None) -> str:
    path = shutil.which(name) or (default if default and os.access(default, os.X_OK) else None)
    if path is None:
        pytest.fail(f"{default or name} is not installed: run scripts/install-prometheus.sh (as root) "
                    f"to install Debian's prometheus package (prometheus and promtool)", pytrace=False)
    return path


def _http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False    # never through a proxy from the environment: everything is local
    return session


def _wait(what: str, condition: Callable[[], Any], alive: Callable[[], str | None],
          timeout: float = WAIT_SECONDS, every: float = 0.2) -> Any:
    """Poll ``condition`` until truthy; fail after ``timeout`` s or as soon as a process died
    (``alive`` returns why)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        problem = alive()
        if problem:
            pytest.fail(f"while waiting for {what}: {problem}", pytrace=False)
        try:
            value = condition()
            if value:
                return value
        except (requests.RequestException, ValueError, KeyError) as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s"
                        + (f" (last error: {last_error})" if last_error else ""), pytrace=False)
        time.sleep(every)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` s; only this process (by its pid)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Daemon:
    proc: subprocess.Popen
    log: Path          # stdout: JSON lines
    stderr: Path
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[dict]:
        """The JSON log lines written so far (complete lines only)."""
        text = self.log.read_text(errors="replace")
        return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]

    def problem(self) -> str | None:
        if self.proc.poll() is not None:
            return (f"auditor serve exited with {self.proc.returncode}:\n{_tail(self.log)}\n"
                    f"{_tail(self.stderr)}")
        return None


def _daemon_env(endpoint: str) -> dict[str, str]:
    """The test's environment without AWS_*/AUDITOR_* settings, plus moto's fake credentials."""
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("AWS_", "AUDITOR_")) and k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY")}
    env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": REGION, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    return env


def _queue_actual_spend(endpoint: str) -> None:
    """moto answers the daemon's (first) ce:GetCostAndUsage request with ACTUAL_SPEND."""
    groups = [{"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": str(usd), "Unit": "USD"}}}
              for service, usd in ACTUAL_SPEND.items()]
    result = {"ResultsByTime": [{"TimePeriod": {}, "Total": {}, "Groups": groups, "Estimated": True}],
              "DimensionValueAttributes": []}
    requests.post(f"{endpoint}/moto-api/static/ce/cost-and-usage-results", json={"results": [result]},
                  timeout=10).raise_for_status()


def _python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


@contextmanager
def webhook_receiver() -> Iterator[str]:
    """The URL of a local endpoint that answers 202 to every POST (the daemon's webhook channel)."""
    class Accept(BaseHTTPRequestHandler):
        def do_POST(self) -> None:   # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return None
    server = ThreadingHTTPServer(("127.0.0.1", 0), Accept)
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def auditor_serve(endpoint: str, workdir: Path, webhook_url: str) -> Iterator[Daemon]:
    config = workdir / "auditor.yaml"
    config.write_text(yaml.safe_dump({
        "architecture": ARCHITECTURE, "region": REGION, "max_attempts": 2,
        "http": {"address": "127.0.0.1", "port": 0},
        "schedule": {"interval_seconds": AUDIT_INTERVAL_SECONDS},
        "cost": {"actual_spend": True},
        "webhook": {"enabled": True, "url": webhook_url},
        "shutdown_grace_seconds": 2}))
    log, errors = workdir / "auditor.log", workdir / "auditor.stderr"
    env = _daemon_env(endpoint) | {"XDG_CACHE_HOME": str(workdir / "cache")}   # no price cache: the bundled table
    with log.open("w") as out, errors.open("w") as err:
        proc = subprocess.Popen([_python(), "-m", "auditor", "serve", "--config", str(config)],
                                cwd=REPO, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
    daemon = Daemon(proc, log, errors)
    try:
        start = _wait("the daemon's start line",
                      lambda: next((r for r in daemon.lines() if r.get("event") == "start"), None), daemon.problem)
        daemon.port = int(start["port"])
        yield daemon
    finally:
        _stop(proc)


@dataclass
class Prometheus:
    proc: subprocess.Popen
    log: Path
    url: str
    started: float                 # wall-clock time it was started (start of range queries)
    http: requests.Session = field(default_factory=_http)

    def problem(self) -> str | None:
        if self.proc.poll() is not None:
            return f"prometheus exited with {self.proc.returncode}:\n{_tail(self.log)}"
        return None

    def api(self, path: str, **params: Any) -> Any:
        response = self.http.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        assert body.get("status") == "success", f"/api/v1/{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        data = self.api("query", query=expr, **({"time": at} if at is not None else {}))
        assert data["resultType"] == "vector", f"{expr}: {data['resultType']}"
        return data["result"]


def prometheus_config(target: str) -> dict:
    """prometheus.example.yml with 1 s intervals, the local target, no Alertmanager."""
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str((EXAMPLE_CONFIG.parent / f).resolve()) for f in config["rule_files"]]
    config.pop("alerting", None)   # nothing listens at alertmanager:9093 here
    jobs = [job for job in config["scrape_configs"] if job["job_name"] == JOB]
    assert len(jobs) == 1, f"{EXAMPLE_CONFIG} has no single job {JOB!r}"
    jobs[0].update(scrape_interval="1s", scrape_timeout="1s", static_configs=[{"targets": [target]}])
    assert config["rule_files"] == [str(RULES)]
    return config


@contextmanager
def prometheus(binary: str, target: str, workdir: Path) -> Iterator[Prometheus]:
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(target)))
    log = workdir / "prometheus.log"
    for attempt in range(3):   # the free port may be taken between free_port() and the bind
        port = free_port()
        storage = workdir / f"tsdb-{attempt}"
        with log.open("w") as out:
            proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={storage}",
                                     f"--web.listen-address=127.0.0.1:{port}",
                                     f"--web.console.templates={workdir}", f"--web.console.libraries={workdir}"],
                                    cwd=workdir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        server = Prometheus(proc, log, f"http://127.0.0.1:{port}", time.time())
        try:
            deadline = time.monotonic() + WAIT_SECONDS
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    if server.http.get(f"{server.url}/-/ready", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            if proc.poll() is not None and "address already in use" in log.read_text() and attempt < 2:
                continue
            assert server.problem() is None, server.problem()
            assert server.http.get(f"{server.url}/-/ready", timeout=2).status_code == 200, \
                f"prometheus not ready within {WAIT_SECONDS:.0f} s:\n{_tail(log)}"
            yield server
            return
        finally:
            _stop(proc)


# --- the stack -----------------------------------------------------------------------------
@dataclass
class Stack:
    daemon: Daemon
    prom: Prometheus
    audit: dict            # the daemon's first audit log line
    promtool: str
    timings: dict[str, float]
    at: float              # the time every instant query runs at (see _snapshot)

    def query(self, expr: str) -> list[dict]:
        return self.prom.query(expr, at=self.at)

    def problem(self) -> str | None:
        return self.daemon.problem() or self.prom.problem()

    def alerts(self) -> dict[str, list[dict]]:
        """Pending and firing alerts at ``at`` (the ALERTS series), by name: their labels."""
        out: dict[str, list[dict]] = {}
        for sample in self.query("ALERTS"):
            out.setdefault(sample["metric"]["alertname"], []).append(sample["metric"])
        return out


@pytest.fixture(scope="module")
def stack(moto_endpoint, tmp_path_factory) -> Iterator[Stack]:
    binary = _tool("prometheus", "/usr/bin/prometheus")
    promtool = _tool("promtool", "/usr/bin/promtool")
    t0 = time.monotonic()
    timings: dict[str, float] = {}

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    deploy(ARCHITECTURE, ENVIRONMENT, moto_endpoint, DRIFTS)
    _queue_actual_spend(moto_endpoint)
    timings["deploy"] = time.monotonic() - t0
    workdir = tmp_path_factory.mktemp("prometheus-e2e")

    with webhook_receiver() as webhook_url, auditor_serve(moto_endpoint, workdir, webhook_url) as daemon:
        audit = _wait("the daemon's first audit",
                      lambda: next((r for r in daemon.lines() if r.get("event") == "audit"), None), daemon.problem)
        assert audit["outcome"] == "success", audit
        timings["first audit"] = time.monotonic() - t0

        with prometheus(binary, f"127.0.0.1:{daemon.port}", workdir) as prom:
            timings["prometheus ready"] = time.monotonic() - t0

            def alive() -> str | None:
                return daemon.problem() or prom.problem()

            def target_up() -> bool:
                targets = prom.api("targets", state="active")["activeTargets"]
                return any(t["labels"].get("job") == JOB and t["health"] == "up" for t in targets)
            _wait("the auditor target up", target_up, alive)
            timings["target up"] = time.monotonic() - t0
            # >= 3 scrapes with audit data (so rate()/increase() have points), a counter that moved
            # within Prometheus' data, and the drift alert evaluated on that data.
            _wait("3 scrapes of audit data",
                  lambda: prom.query(f'count_over_time(auditor_last_audit_timestamp_seconds{{job="{JOB}"}}[5m]) >= 3'),
                  alive)
            _wait("an audit counted while scraped",
                  lambda: prom.query(f'increase(auditor_audit_runs_total{{job="{JOB}",outcome="success"}}[5m]) > 0'),
                  alive)
            _wait("AuditorCriticalDrift pending or firing",
                  lambda: [a for a in prom.api("alerts")["alerts"]
                           if a["labels"]["alertname"] == "AuditorCriticalDrift"], alive)
            timings["samples and alert"] = time.monotonic() - t0
            at = _snapshot(prom, after=time.time(), alive=alive)
            timings["snapshot"] = time.monotonic() - t0
            yield Stack(daemon, prom, audit, promtool, timings, at)


def _snapshot(prom: Prometheus, after: float, alive: Callable[[], str | None]) -> float:
    """The time of a rule evaluation that started after ``after`` and saw only good scrapes.

    Every instant query of the tests runs at that time, so they all see the same data, the one
    the alerting rules were evaluated on (ALERTS holds their state then). A scrape that fails
    (a timeout on a loaded machine: 1 s is the longest timeout a 1 s interval allows) marks
    every series stale until the next one; a candidate is kept only if every scrape within 2 s
    before it succeeded, once every scrape started before it has ended (1.5 s > the timeout).
    """
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        (group,) = prom.api("rules")["groups"]
        candidate = _timestamp(group["lastEvaluation"])
        if candidate > after:
            time.sleep(max(0.0, candidate + 1.5 - time.time()))
            up = prom.query(f'min_over_time(up{{job="{JOB}"}}[2s])', at=candidate)
            if up and float(up[0]["value"][1]) == 1:
                return candidate
        if problem := alive():
            pytest.fail(f"while choosing the query time: {problem}", pytrace=False)
        time.sleep(0.2)
    pytest.fail(f"no rule evaluation within {WAIT_SECONDS:.0f} s saw only successful scrapes", pytrace=False)


def _timestamp(rfc3339: str) -> float:
    """Prometheus' RFC 3339 time (nanoseconds, Z) as a Unix time."""
    match = re.fullmatch(r"(.+T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", rfc3339)
    assert match, rfc3339
    whole, fraction, zone = match.groups()
    seconds = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp()
    return seconds + (float("0." + fraction) if fraction else 0.0)


# --- helpers for the tests -------------------------------------------------------------------
def _label_values_label(raw: str) -> str:
    """The label a ``label_values(selector, label)`` variable reads."""
    match = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", raw)
    assert match, raw
    return match.group(2)


def _instant(stack: Stack, query) -> list:
    """What the query shows: an instant query's vector, or a variable's label values."""
    if query.kind == "variable":
        label = _label_values_label(query.raw)
        window = {"match[]": query.expr, "start": stack.at - 5, "end": stack.at}
        values = stack.prom.api(f"label/{label}/values", **window)
        series = stack.prom.api("series", **window)
        assert bool(values) == bool(series), f"{query.source}: label values {values} but series {series}"
        return values
    return stack.query(query.expr)


def _exposition(stack: Stack, accept: str | None = None) -> str:
    headers = {"Accept": accept} if accept else {}
    response = stack.prom.http.get(f"{stack.daemon.url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200
    return response.text


def _by_title(title: str):
    matches = [query for query in q.query_details() if query.kind == "panel" and f" {title!r} " in query.source]
    assert matches, f"no dashboard panel titled {title!r}"
    return matches


# --- the tests -----------------------------------------------------------------------------
def test_every_query_returns_data_or_is_expected_empty(stack):
    details = list(q.query_details())
    sources = {query.source for query in details}
    assert len(sources) == len(details), "two queries share a source name"
    stale = set(EXPECTED_EMPTY) - sources
    assert not stale, f"EXPECTED_EMPTY names queries that no longer exist: {stale}"
    assert {query.kind for query in details} == {"panel", "variable", "alert"}

    empty, unexpected = [], []
    for query in details:
        result = _instant(stack, query)
        if query.source in EXPECTED_EMPTY:
            if result:
                unexpected.append(f"{query.source}: expected empty ({EXPECTED_EMPTY[query.source]}), "
                                  f"got {result[:3]}\n    {query.expr}")
        elif not result:
            empty.append(f"{query.source}\n    {query.expr}")
    assert not empty, ("queries with no data (if that is right in this state, add them to EXPECTED_EMPTY "
                       "with the reason):\n" + "\n".join(empty))
    assert not unexpected, "queries listed in EXPECTED_EMPTY returned data:\n" + "\n".join(unexpected)


def test_range_panels_return_data_over_time(stack):
    """Panels drawn as time series (not instant) as Grafana asks for them: /api/v1/query_range."""
    empty = []
    ranged = [query for query in q.query_details() if query.kind == "panel" and not query.instant]
    assert ranged
    for query in ranged:
        if query.source in EXPECTED_EMPTY:
            continue
        data = stack.prom.api("query_range", query=query.expr, start=stack.prom.started, end=stack.at, step="1s")
        assert data["resultType"] == "matrix"
        if not data["result"] or not any(series["values"] for series in data["result"]):
            empty.append(f"{query.source}\n    {query.expr}")
    assert not empty, "range panels with no data:\n" + "\n".join(empty)


def test_panel_values_match_the_audit(stack):
    audit = stack.audit
    assert audit["failing_rules"] == {rule: 1 for rule in EXPECTED_FAILING}
    assert audit["fail"] == len(EXPECTED_FAILING) and audit["error"] == 0

    def value(title: str) -> float:
        (query,) = _by_title(title)
        (sample,) = stack.query(query.expr)
        return float(sample["value"][1])

    for title in ("Compliance", "Compliance over time"):
        assert value(title) == pytest.approx(audit["pass"] / (audit["pass"] + audit["fail"]))
    severities = list(EXPECTED_FAILING.values())
    assert value("Failing critical findings") == severities.count("critical") == 1
    assert value("Failing high findings") == severities.count("high") == 2
    assert value("Rule errors") == 0
    assert value("Findings left out (1h)") == 0
    assert value("Config reload failures (24h)") == 0
    # the daemon audits every 2 s, so an audit may be in flight at the scrape the queries see: the panel
    # shows exactly the daemon's gauge in that scrape
    (running,) = stack.query(f'auditor_audit_running{{job="{JOB}"}}')
    assert value("Audit running") == float(running["value"][1])
    assert 0 < value("Audit duration") < 30

    for query in _by_title("Time since last audit"):
        (sample,) = stack.query(query.expr)
        assert 0 <= float(sample["value"][1]) < 30

    (failing,) = _by_title("Failing resources")
    found = {(s["metric"]["rule_id"], s["metric"]["severity"]) for s in stack.query(failing.expr)}
    assert found == set(EXPECTED_FAILING.items())

    (top,) = _by_title("Top failing rules")
    counts = {s["metric"]["rule_id"]: float(s["value"][1]) for s in stack.query(top.expr)}
    assert {rule for rule, n in counts.items() if n > 0} == set(EXPECTED_FAILING)

    (resources,) = _by_title("Resources by type")
    by_type = {s["metric"]["resource_type"]: float(s["value"][1]) for s in stack.query(resources.expr)}
    assert by_type["security_group"] >= 1 and by_type["rds_instance"] == 1
    assert sum(by_type.values()) == audit["resources"]

    (runs,) = _by_title("Audit runs by outcome")
    outcomes = {s["metric"]["outcome"]: float(s["value"][1]) for s in stack.query(runs.expr)}
    assert outcomes["success"] > 0 and outcomes.get("failed", 0) == 0 and outcomes.get("incomplete", 0) == 0

    (calls,) = _by_title("AWS API calls")
    assert sum(float(s["value"][1]) for s in stack.query(calls.expr)) > 0

    (version,) = _by_title("Auditor version")
    (build,) = stack.query(version.expr)
    assert build["metric"]["version"] == __version__


def test_cost_panels_match_the_audit(stack):
    """The estimate the daemon logged, the pack's budget, moto's Cost Explorer answer, the price
    table's date: each as the cost panels show it."""
    estimate = stack.audit["monthly_cost_usd"][DEPLOYMENT]

    def by(title: str, label: str, ref: str = "A") -> dict[str, float]:
        (query,) = [query for query in _by_title(title) if query.source.endswith(f" {ref}")]
        return {s["metric"].get(label, ""): float(s["value"][1]) for s in stack.query(query.expr)}

    by_service = by("Estimated monthly cost by service", "service")
    assert sum(by_service.values()) == pytest.approx(estimate, abs=0.05)
    assert by_service["nat_gateway"] > 0 and by_service["fargate"] > 0
    assert by_service[ROW_SERVICE] > ROW_LIMIT_USD   # the row cache-node-type puts over (the budget finding)
    assert all(by_service[service] > 0 for service in UNITEMIZED)
    assert by("Estimate vs budget", "environment", "A") == {ENVIRONMENT: pytest.approx(estimate, abs=0.05)}
    assert by("Estimate vs budget", "environment", "B") == {ENVIRONMENT: BUDGET_USD}
    assert by("Estimate vs budget", "environment", "C") == {ENVIRONMENT: BUDGET_LIMIT_USD}

    assert by("Actual month to date by service", "service") == pytest.approx(ACTUAL_BY_LABEL)
    assert by("Actual month to date vs estimate", "environment", "A") == {
        ENVIRONMENT: pytest.approx(sum(ACTUAL_SPEND.values()))}
    day = datetime.fromtimestamp(stack.at, UTC)
    days = calendar.monthrange(day.year, day.month)[1]
    assert by("Actual month to date vs estimate", "environment", "B") == {
        ENVIRONMENT: pytest.approx(sum(by_service.values()) * day.day / days)}

    assert by("Unpriced estimate lines", "") == {"": 0}
    as_of = datetime.fromisoformat(read_table(BUNDLED)["regions"][REGION]["as_of"]).replace(tzinfo=UTC)
    assert by("Price table age", "region") == {REGION: pytest.approx(stack.at - as_of.timestamp(), abs=0.01)}


def test_cost_over_budget_alert_is_pending_for_the_deployment(stack):
    """The budget rule fails on the deployment (the ElastiCache row over): the alert is pending
    with the deployment's labels, and its description reads the row back from the finding."""
    rule = f"{ARCHITECTURE}.cost.budget"
    (labels,) = stack.alerts().get("AuditorCostOverBudget", [])
    assert labels["alertstate"] == "pending"   # for: 15m
    assert {k: v for k, v in labels.items() if k not in ("__name__", "alertstate")} == {
        "alertname": "AuditorCostOverBudget", "severity": "warning", "job": JOB,
        "instance": f"127.0.0.1:{stack.daemon.port}", "account": ACCOUNT, "region": REGION,
        "architecture": ARCHITECTURE, "environment": ENVIRONMENT, "rule_id": rule, "resource_id": DEPLOYMENT}

    (finding,) = stack.query(f'auditor_failing_finding{{job="{JOB}",rule_id="{rule}"}}')
    (estimate,) = stack.query(f'auditor_cost_estimated_monthly_usd{{job="{JOB}",service="{ROW_SERVICE}"}}')
    row = (f"{ROW_OVER}: ${float(estimate['value'][1]):.2f}/month estimated, ${ROW_USD:.2f} documented "
           f"(limit ${ROW_LIMIT_USD:.2f})")
    assert finding["metric"]["resource_type"] == "deployment" and finding["metric"]["resource_id"] == DEPLOYMENT
    assert finding["metric"]["actual"] == f'over_budget = ["{row}"]'   # only that row is over

    def current() -> list[dict]:
        return [a for a in stack.prom.api("alerts")["alerts"] if a["labels"]["alertname"] == "AuditorCostOverBudget"]
    (alert,) = _wait("AuditorCostOverBudget in /api/v1/alerts", current, stack.problem)
    assert float(alert["value"]) == 1
    annotations = alert["annotations"]
    assert annotations["runbook_url"] == "docs/runbooks/auditor.md#auditorcostoverbudget"
    assert annotations["summary"] == f"Deployment {DEPLOYMENT} is over its documented budget ({rule} fails)"
    assert f'Actual: over_budget = ["{row}"].' in annotations["description"], annotations["description"]
    assert f"`auditor cost --architecture {ARCHITECTURE}`" in annotations["description"]


def test_template_variables_list_the_deployment(stack):
    expected = {"architecture": [ARCHITECTURE], "environment": [ENVIRONMENT], "account": [ACCOUNT]}
    variables = {query.source.rsplit(" ", 1)[1]: query for query in q.query_details() if query.kind == "variable"}
    assert set(variables) == set(expected)
    for name, query in variables.items():
        assert _instant(stack, query) == expected[name], query.source


def test_critical_drift_alert_is_active_with_the_finding_labels(stack):
    alerts = stack.alerts().get("AuditorCriticalDrift", [])
    assert len(alerts) == 1, stack.alerts()
    (labels,) = alerts
    assert labels["alertstate"] in ("pending", "firing")   # for: 1m
    assert labels["rule_id"] == CRITICAL_RULE
    assert labels["severity"] == "critical"
    assert labels["job"] == JOB and labels["instance"] == f"127.0.0.1:{stack.daemon.port}"
    assert {k: labels[k] for k in ("account", "region", "architecture", "environment")} == {
        "account": ACCOUNT, "region": REGION, "architecture": ARCHITECTURE, "environment": ENVIRONMENT}
    assert labels["resource_type"] == "security_group" and labels["resource_id"].startswith("sg-")
    assert labels["resource_name"] == f"{ARCHITECTURE}-prod-ecs-sg"
    assert "expected" not in labels and "actual" not in labels   # left out so the alert does not restart

    # Annotations exist only in the rule manager's current state (/api/v1/alerts), not in ALERTS.
    def current() -> list[dict]:
        return [a for a in stack.prom.api("alerts")["alerts"] if a["labels"]["alertname"] == "AuditorCriticalDrift"]
    (alert,) = _wait("AuditorCriticalDrift in /api/v1/alerts", current, stack.problem)
    assert alert["labels"] == {k: v for k, v in labels.items() if k not in ("__name__", "alertstate")}
    annotations = alert["annotations"]
    assert annotations["runbook_url"] == "docs/runbooks/auditor.md#auditorcriticaldrift"
    assert CRITICAL_RULE in annotations["summary"] and labels["resource_id"] in annotations["summary"]
    # The description reads expected/actual back from the current series (the `query` template).
    assert "Expected: no item of inbound: open_to_internet == true; actual: inbound has" \
        in annotations["description"], annotations["description"]


def test_other_alerts_match_the_state(stack):
    """The high-drift alert is pending for both high findings; the EXPECTED_EMPTY alerts are
    inactive; every rule evaluates without error and no annotation fails to render."""
    active = stack.alerts()
    high = {labels["rule_id"] for labels in active.get("AuditorHighDrift", [])}
    assert high == {rule for rule, severity in EXPECTED_FAILING.items() if severity == "high"}
    assert all(labels["alertstate"] == "pending" for labels in active["AuditorHighDrift"])   # for: 15m
    quiet = {source.removeprefix(_ALERT) for source in EXPECTED_EMPTY if source.startswith(_ALERT)}
    assert not quiet & set(active), {name: active[name] for name in quiet & set(active)}
    assert set(active) <= {"AuditorCriticalDrift", "AuditorHighDrift", "AuditorCostOverBudget",
                           *(["AuditorRuleMatchesNothing"] if EXPECTED_MATCHING_NOTHING else [])}, active

    rules = [rule for group in stack.prom.api("rules")["groups"] for rule in group["rules"]]
    assert {rule["name"] for rule in rules} == {
        query.source.removeprefix(_ALERT) for query in q.query_details() if query.kind == "alert"}
    for rule in rules:
        assert rule["health"] == "ok" and not rule.get("lastError"), rule
        for alert in rule.get("alerts", []):
            for text in alert["annotations"].values():
                assert "error expanding template" not in text and "<no value>" not in text, (rule["name"], text)


def test_rules_that_applied_to_nothing(stack):
    """auditor_rule_skipped_deployments{reason="nothing"} is > 0 for exactly the rules of
    EXPECTED_MATCHING_NOTHING and BASELINE_MATCHING_NOTHING, reason="out_of_scope" for exactly
    EXPECTED_OUT_OF_SCOPE; the panel lists, and AuditorRuleMatchesNothing is pending (for: 1h) for,
    the architecture-pack rules with nothing only (never one that is only out of scope), with their
    resources, labels and rendered annotations."""
    def skipped(reason: str) -> dict[str, str]:
        query = f'auditor_rule_skipped_deployments{{job="{JOB}",reason="{reason}"}} > 0'
        return {s["metric"]["rule_id"]: s["metric"]["pack"] for s in stack.query(query)}
    nothing = skipped("nothing")
    assert {rule for rule, pack in nothing.items() if not pack.startswith("baseline")} == set(EXPECTED_MATCHING_NOTHING)
    assert {rule for rule, pack in nothing.items() if pack.startswith("baseline")} == set(BASELINE_MATCHING_NOTHING)
    assert set(skipped("out_of_scope")) == set(EXPECTED_OUT_OF_SCOPE)
    # one deployment: a rule that skips it judges no resource at all
    zero = {s["metric"]["rule_id"] for s in stack.query(f'auditor_rule_resources{{job="{JOB}"}} == 0')}
    assert zero == set(EXPECTED_MATCHING_NOTHING) | set(BASELINE_MATCHING_NOTHING) | set(EXPECTED_OUT_OF_SCOPE)
    judged = stack.query(f'auditor_rule_resources{{job="{JOB}"}} > 0')
    assert len(judged) >= 30   # the other rules judged something

    # out of scope: the rule's scope leaves production out
    pack = yaml.safe_load((REPO / "auditor" / "packs" / "architectures" / f"{ARCHITECTURE}.yaml").read_text())
    scopes = {rule["id"]: rule.get("scope", []) for rule in pack["rules"]}
    for rule in EXPECTED_OUT_OF_SCOPE:
        assert {"key": "environment", "op": "ne", "value": ENVIRONMENT} in scopes[rule], rule

    audit_labels = {"account": ACCOUNT, "region": REGION, "architecture": ARCHITECTURE, "environment": ENVIRONMENT}
    deployments_query, resources_query = _by_title("Rules that applied to nothing")
    rows = stack.query(deployments_query.expr)
    severities = {s["metric"]["rule_id"]: s["metric"]["severity"] for s in rows}   # the rules' own
    assert set(severities) == set(EXPECTED_MATCHING_NOTHING)
    for row in rows:
        assert row["metric"]["pack"] == ARCHITECTURE and float(row["value"][1]) == 1   # the one deployment
        assert {k: row["metric"][k] for k in audit_labels} == audit_labels
    resources = {s["metric"]["rule_id"]: float(s["value"][1]) for s in stack.query(resources_query.expr)}
    assert resources == {rule: 0 for rule in EXPECTED_MATCHING_NOTHING}

    alerts = stack.alerts().get("AuditorRuleMatchesNothing", [])
    assert {labels["rule_id"] for labels in alerts} == set(EXPECTED_MATCHING_NOTHING)
    assert not set(EXPECTED_OUT_OF_SCOPE) & {labels["rule_id"] for labels in alerts}
    for labels in alerts:
        assert labels["alertstate"] == "pending"   # for: 1h
        assert {k: v for k, v in labels.items() if k not in ("__name__", "alertstate", "rule_id")} == {
            "alertname": "AuditorRuleMatchesNothing", "severity": "info", "job": JOB,
            "instance": f"127.0.0.1:{stack.daemon.port}", "pack": ARCHITECTURE, "reason": "nothing", **audit_labels}

    def current() -> list[dict]:
        return [a for a in stack.prom.api("alerts")["alerts"] if a["labels"]["alertname"] == "AuditorRuleMatchesNothing"]
    for alert in _wait("AuditorRuleMatchesNothing in /api/v1/alerts", current, stack.problem) if alerts else []:
        rule = alert["labels"]["rule_id"]
        annotations = alert["annotations"]
        assert annotations["runbook_url"] == "docs/runbooks/auditor.md#auditorrulematchesnothing"
        assert annotations["summary"] == (f"Rule {rule} of pack {ARCHITECTURE} has applied to nothing for 1h "
                                          f"({DEPLOYMENT})")
        assert (f"Rule {rule} (pack {ARCHITECTURE}, severity {severities[rule]}) has found no resource to judge "
                f"in 1 of its deployments") in annotations["description"]
        assert "and judged no resource at all." in annotations["description"]
        assert f"`auditor audit -a {ARCHITECTURE} -f json`" in annotations["description"]


def test_api_errors_alert_is_quiet_on_a_healthy_audit(stack):
    """Every audit succeeded and no rule reports error, so no AWS call failed (ECR's "no lifecycle
    policy" answer included): the alert about failing AWS calls must not be pending."""
    assert stack.audit["error"] == 0 and stack.audit["errors"] == []
    assert "AuditorAwsApiErrors" not in stack.alerts()


def test_metric_names_used_by_dashboards_and_alerts_are_exposed(stack):
    families = list(text_string_to_metric_families(_exposition(stack)))
    exposed: set[str] = set()
    with_samples: set[str] = set()
    for family in families:
        exposed.add(family.name + ("_total" if family.type == "counter" else ""))
        with_samples.update(sample.name for sample in family.samples)
    used: dict[str, set[str]] = {}
    for query in q.query_details():
        for name in q.metric_names(query.expr) - {"up"}:   # up is Prometheus' own, per target
            used.setdefault(name, set()).add(query.source)
    assert len(used) >= 10
    missing = {name: sorted(sources) for name, sources in used.items() if name not in exposed}
    assert not missing, f"metrics the dashboards/alerts read but /metrics does not expose: {missing}"
    no_samples = sorted(set(used) - with_samples)
    assert no_samples == sorted(NO_SAMPLES_EXPECTED), f"exposed without any sample in this state: {no_samples}"


def test_exposition_matches_the_contract(stack):
    """docs/metrics.md lists exactly the exposed metrics, with exactly the labels they carry."""
    contract, _common = q.contract()
    labels: dict[str, set[frozenset]] = {}
    declared: set[str] = set()
    for family in text_string_to_metric_families(_exposition(stack)):
        declared.add(family.name + ("_total" if family.type == "counter" else ""))
        for sample in family.samples:
            labels.setdefault(sample.name, set()).add(frozenset(sample.labels))
    assert declared == set(contract), (declared ^ set(contract))
    for name, label_sets in labels.items():
        assert label_sets == {frozenset(contract[name])}, (name, label_sets, contract[name])

    # Prometheus asks for OpenMetrics: that form parses and holds the same samples.
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    text = _exposition(stack, accept)
    assert text.rstrip().endswith("# EOF")
    om_names = {s.name for f in parse_openmetrics(text) for s in f.samples}
    assert om_names == set(labels)


def test_promtool_check_metrics_passes(stack):
    """promtool (2.42) lints the Prometheus text format (0.0.4); it cannot read OpenMetrics."""
    text = _exposition(stack, "text/plain;version=0.0.4")
    result = subprocess.run([stack.promtool, "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30, check=False)
    output = (result.stdout + result.stderr).strip()
    lints = [line for line in output.splitlines() if line.strip()]
    unaccepted = [line for line in lints if not any(line.startswith(name) for name in ACCEPTED_LINTS)]
    assert not unaccepted, f"promtool check metrics ({result.returncode}):\n{output}"
    assert result.returncode == 0 or lints, output


def test_prometheus_ingested_cleanly(stack):
    """Prometheus' own counters: no rejected samples, no failed rule evaluation."""
    text = stack.prom.http.get(f"{stack.prom.url}/metrics", timeout=10).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name] = values.get(sample.name, 0.0) + sample.value
    for name in ("prometheus_target_scrapes_sample_duplicate_timestamp_total",
                 "prometheus_target_scrapes_sample_out_of_bounds_total",
                 "prometheus_target_scrapes_sample_out_of_order_total",
                 "prometheus_target_scrapes_exceeded_sample_limit_total",
                 "prometheus_rule_evaluation_failures_total"):
        assert values.get(name, 0.0) == 0, (name, values.get(name))
    assert values["prometheus_rule_evaluations_total"] > 0


def test_report_timings(stack):
    """Not a check: the stack's build times, printed with -s / on failure."""
    print("prometheus e2e timings (s since the fixture started):",
          {k: round(v, 2) for k, v in stack.timings.items()})
    assert stack.timings["snapshot"] < WAIT_SECONDS + 10
