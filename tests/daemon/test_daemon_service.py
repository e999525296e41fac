"""The daemon in this process: HTTP endpoints on a real socket, the first audit at start, reload."""
from __future__ import annotations

import gzip
import time

import pytest
import requests
from daemon_helpers import make_config, record, wait_for
from prometheus_client.parser import text_string_to_metric_families

from auditor.daemon.health import Readiness
from auditor.daemon.http import HttpServer, make_app
from auditor.daemon.metrics import MetricsStore, make_registry
from auditor.daemon.service import Daemon, load

MULTI_AZ_FAIL = {"account": "123456789012", "region": "us-east-1", "architecture": "mattilda",
                 "environment": "production", "rule_id": "mattilda.rds.multi_az_production",
                 "pack": "mattilda", "severity": "high", "status": "fail"}
EXTRA_RULES = """\
pack: extra
title: Extra checks
rules:
  - id: extra.vpc.dns
    title: VPCs resolve DNS
    severity: low
    resource: vpc
    assert: [{key: cidr_block, op: exists, value: true}]
    doc: {file: extra.md, quote: "every VPC has a CIDR"}
    remediation: none
    tests:
      - {name: ok, expect: pass, resource: {cidr_block: 10.0.0.0/16}}
      - {name: missing, expect: fail, resource: {}}
"""


def test_http_endpoints_on_a_real_socket(drifted_audit):
    store = MetricsStore()
    readiness = [Readiness(False, "no audit has completed yet")]
    server = HttpServer(make_app(make_registry(store), lambda: readiness[0]), "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
        r = requests.get(f"{base}/readyz", timeout=5)
        assert (r.status_code, r.text) == (503, "not ready: no audit has completed yet\n")
        r = requests.get(f"{base}/metrics", timeout=5)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert "auditor_rule_results" not in {s.name for f in text_string_to_metric_families(r.text)
                                              for s in f.samples}

        record(store, *drifted_audit)
        readiness[0] = Readiness(True, "the last audit finished 0 s ago (limit 1800 s)")
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
        t0 = time.perf_counter()
        r = requests.get(f"{base}/metrics", timeout=5)
        scrape = time.perf_counter() - t0
        values = {(s.name, tuple(sorted(s.labels.items()))): s.value
                  for f in text_string_to_metric_families(r.text) for s in f.samples}
        assert values[("auditor_rule_results", tuple(sorted(MULTI_AZ_FAIL.items())))] == 1
        assert scrape < 1.0
        r = requests.get(f"{base}/metrics", headers={"Accept": "application/openmetrics-text"}, timeout=5)
        assert r.headers["Content-Type"].startswith("application/openmetrics-text") and r.text.endswith("# EOF\n")
        r = requests.get(f"{base}/metrics", headers={"Accept-Encoding": "gzip"}, timeout=5, stream=True)
        assert r.headers.get("Content-Encoding") == "gzip"
        assert b"auditor_rule_results" in gzip.decompress(r.raw.read())
        assert requests.get(f"{base}/nope", timeout=5).status_code == 404
    finally:
        server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=2)


def test_first_audit_at_start_then_reload_keeps_old_rules_when_broken(drifted, tmp_path, json_logs):
    rules = tmp_path / "extra.yaml"
    rules.write_text(EXTRA_RULES)
    config_file = tmp_path / "auditor.yaml"
    config_file.write_text(f"architecture: mattilda\nrules: [{rules.name}]\nmax_attempts: 2\n"
                           "http: {address: 127.0.0.1, port: 0}\nschedule: {interval_seconds: 3600}\n"
                           "shutdown_grace_seconds: 2\n")
    config, ruleset = load(config_file)
    daemon = Daemon(config, ruleset, config_file)
    daemon.start()
    try:
        base = f"http://127.0.0.1:{daemon.http.port}"
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
        # the first audit runs at start, not an interval later
        wait_for(lambda: daemon.store.state.last_audit, timeout=30)
        next_run = daemon.scheduler.next_run_time().timestamp()
        assert 3500 < next_run - time.time() <= 3600
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
        get = daemon.registry.get_sample_value
        assert get("auditor_rule_results", MULTI_AZ_FAIL) == 1
        extra = dict(MULTI_AZ_FAIL, rule_id="extra.vpc.dns", pack="extra", severity="low", status="pass")
        assert get("auditor_rule_results", extra) == 1   # the deployment's VPC: the default one is no deployment's
        before = daemon.store.state

        rules.write_text(EXTRA_RULES.replace("severity: low", "severity: urgent"))   # broken
        assert daemon.reload() is False
        assert daemon.current()[1] is ruleset and daemon.store.state.results is before.results
        assert get("auditor_config_reloads_total", {"outcome": "failure"}) == 1
        assert get("auditor_config_reloads_total", {"outcome": "success"}) == 0
        failure = next(r for r in json_logs() if r.get("event") == "reload")
        assert failure["level"] == "ERROR" and "keeping the running config" in failure["message"]
        assert any(f"{rules}:" in p and "severity" in p for p in failure["problems"])

        config_file.write_text(config_file.read_text().replace("interval_seconds: 3600", "interval: 1"))
        assert daemon.reload() is False   # an invalid config file is kept out the same way
        assert get("auditor_config_reloads_total", {"outcome": "failure"}) == 2

        rules.write_text(EXTRA_RULES.replace("extra.vpc.dns", "extra.vpc.cidr"))
        config_file.write_text(config_file.read_text().replace("interval: 1", "interval_seconds: 1800"))
        assert daemon.reload() is True
        assert get("auditor_config_reloads_total", {"outcome": "success"}) == 1
        assert daemon.config.schedule.interval_seconds == 1800
        # a successful reload audits again right away, with the new rules
        wait_for(lambda: get("auditor_rule_results", dict(extra, rule_id="extra.vpc.cidr")) == 1, timeout=30)
        assert get("auditor_rule_results", extra) is None
        assert 1700 < daemon.scheduler.next_run_time().timestamp() - time.time() <= 1800
    finally:
        t0 = time.monotonic()
        assert daemon.stop() is True
        assert time.monotonic() - t0 < 5
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=2)


def test_port_in_use_is_a_start_error(drifted_audit):
    from auditor.daemon.service import StartError
    _, ruleset = drifted_audit
    first = Daemon(make_config(), ruleset)
    first.start()
    try:
        second = Daemon(make_config(http={"address": "127.0.0.1", "port": first.http.port}), ruleset)
        with pytest.raises(StartError, match=f"cannot listen on 127.0.0.1:{first.http.port}"):
            second.start()
    finally:
        first.stop()

