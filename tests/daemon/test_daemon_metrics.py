"""Metrics of ``auditor serve`` from a real audit of a drifted deployment (docs/metrics.md)."""
from __future__ import annotations

import platform
from collections import Counter
from dataclasses import replace

import botocore.client
from botocore.exceptions import ClientError
from daemon_helpers import NOW, expected_failures, make_config, record
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from auditor import __version__
from auditor.audit import load_ruleset
from auditor.aws import ApiStats
from auditor.collect import REGISTRY, Collector
from auditor.daemon.metrics import MetricsStore, make_registry
from auditor.daemon.runner import AuditRunner
from auditor.model import Snapshot


def _no_aws_call(_client, operation, _params):
    raise AssertionError(f"a scrape called AWS ({operation})")

MULTI_AZ = "mattilda.rds.multi_az_production"
COMMON = {"account": "123456789012", "region": "us-east-1", "architecture": "mattilda", "environment": "production"}
MULTI_AZ_RESULTS = dict(COMMON, rule_id=MULTI_AZ, pack="mattilda", severity="high")


def run_through_daemon(config, store=None):
    """One audit through the daemon's job (runner): its store and a private registry over it."""
    store = store or MetricsStore()
    ruleset = load_ruleset(config.architecture, config.rules, config.params)
    AuditRunner(store, lambda: (config, ruleset), clock=lambda: NOW)()
    return store, make_registry(store)


def test_known_audit_exact_values(drifted, json_logs):
    store, registry = run_through_daemon(make_config())
    state = store.state
    assert state.last_audit.outcome == "success"
    assert state.last_audit.labels == tuple(COMMON.values())
    get = registry.get_sample_value

    assert get("auditor_rule_results", {**MULTI_AZ_RESULTS, "status": "fail"}) == 1
    assert get("auditor_rule_results", {**MULTI_AZ_RESULTS, "status": "pass"}) == 0
    assert get("auditor_rule_results", {**MULTI_AZ_RESULTS, "status": "error"}) == 0
    assert get("auditor_failing_finding", dict(
        COMMON, rule_id=MULTI_AZ, severity="high", resource_type="rds_instance",
        resource_id="mattilda-db-prod", resource_name="mattilda-db-prod",
        expected="multi_az == true", actual="multi_az = false")) == 1
    assert get("auditor_resources", dict(COMMON, resource_type="rds_instance")) == 1
    assert get("auditor_resources_vanished", dict(COMMON, resource_type="rds_instance")) == 0

    counts = dict(state.results.counts)
    fails = expected_failures()   # db-single-az: 1 finding, ecs-ssh-open: 2, the budget: 1
    assert counts["fail"] == fails >= 2 and counts["error"] == 0
    assert get("auditor_compliance_ratio", COMMON) == counts["pass"] / (counts["pass"] + counts["fail"])
    by_status = {s: sum(get("auditor_findings", dict(COMMON, severity=sev, status=s))
                        for sev in ("critical", "high", "medium", "low", "info"))
                 for s in ("pass", "fail", "error", "waived", "skip")}
    assert by_status == counts

    assert get("auditor_audit_runs_total", dict(COMMON, outcome="success")) == 1
    assert get("auditor_audit_runs_total", dict(COMMON, outcome="failed")) == 0
    assert get("auditor_failing_findings_dropped_total", COMMON) == 0
    assert get("auditor_last_audit_timestamp_seconds", COMMON) == NOW
    assert get("auditor_last_success_timestamp_seconds", COMMON) == NOW
    assert 0 < get("auditor_audit_duration_seconds", COMMON) < 30
    assert get("auditor_aws_api_calls_total", dict(COMMON, service="rds", operation="DescribeDBInstances")) >= 1
    assert get("auditor_collector_duration_seconds", dict(COMMON, collector="rds.rds_instances")) > 0
    assert get("auditor_audit_running") == 0
    assert get("auditor_config_reloads_total", {"outcome": "failure"}) == 0
    assert get("auditor_build_info", {"version": __version__, "python_version": platform.python_version()}) == 1

    # cost: every priced line of tests/cost's hand computation, the RDS instance now Single-AZ
    h = 730
    expected_cost = {"fargate": 2 * (1 * 0.04048 + 2 * 0.004445) * h, "rds": 0.018 * h + 20 * 0.115,
                     "elasticache": 0.017 * h, "nat_gateway": 0.045 * h, "load_balancer": (0.0225 + 0.008) * h,
                     "secrets_manager": 3 * 0.40, "cloudwatch": 8 * 0.10 + 3.00, "ecr": 0.0}
    for service, usd in expected_cost.items():
        assert abs(get("auditor_cost_estimated_monthly_usd", dict(COMMON, service=service)) - usd) < 0.006, service
    assert get("auditor_cost_budget_monthly_usd", COMMON) == 122
    assert get("auditor_cost_budget_limit_monthly_usd", COMMON) == 152.5   # ~$122 + 25%
    assert get("auditor_cost_unpriced_lines", COMMON) == 0
    assert get("auditor_cost_actual_month_to_date_usd", dict(COMMON, service="rds")) is None   # Cost Explorer off
    assert get("auditor_cost_prices_as_of_timestamp_seconds", {"region": "us-east-1"}) == 1795392000   # 2026-11-23
    assert get("auditor_rule_results", dict(COMMON, rule_id="mattilda.cost.budget", pack="mattilda",
                                            severity="medium", status="pass")) == 1   # every row holds
    assert get("auditor_rule_results", dict(COMMON, rule_id="mattilda.cost.unitemized", pack="mattilda",
                                            severity="info", status="fail")) == 1     # NAT, secrets, alarms
    # rule coverage: resources judged, and the deployments a rule judged nothing in, by reason
    assert get("auditor_rule_resources", dict(COMMON, rule_id=MULTI_AZ, pack="mattilda", severity="high")) == 1
    single_az = dict(COMMON, rule_id="mattilda.rds.single_az_outside_production", pack="mattilda", severity="low")
    assert get("auditor_rule_resources", single_az) == 0
    assert get("auditor_rule_skipped_deployments", dict(single_az, reason="out_of_scope")) == 1
    assert get("auditor_rule_skipped_deployments", dict(single_az, reason="nothing")) == 0

    # one JSON line for the audit, with its outcome, duration and counts
    line = next(r for r in json_logs() if r.get("event") == "audit")
    assert line["outcome"] == "success" and line["level"] == "INFO" and line["logger"] == "auditor.daemon.audit"
    assert (line["pass"], line["fail"], line["error"]) == (counts["pass"], fails, 0)
    assert line["failing_rules"][MULTI_AZ] == 1 and line["errors"] == [] and line["duration_seconds"] > 0
    assert line["timestamp"].endswith("Z")
    assert line["monthly_cost_usd"] == {"mattilda/production": round(sum(expected_cost.values()), 2)}


def test_exposition_round_trips_and_scrapes_are_fast(drifted_audit, monkeypatch):
    store = MetricsStore()
    registry = make_registry(store)
    record(store, *drifted_audit)
    text = generate_latest(registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"auditor_rule_results", "auditor_failing_finding", "auditor_audit_runs",
            "auditor_aws_api_calls", "auditor_config_reloads", "auditor_build_info"} <= set(families)
    assert families["auditor_audit_runs"].type == "counter"
    assert families["auditor_compliance_ratio"].type == "gauge"
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    exported = [s for metric in registry.collect() for s in metric.samples]
    assert len(samples) == len(exported)
    for s in exported:   # every sample survives the text format unchanged
        assert samples[(s.name, tuple(sorted(s.labels.items())))] == s.value

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")   # a scrape that called AWS would fail
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", _no_aws_call)
    assert generate_latest(registry) == generate_latest(registry)   # the same state, the same scrape


def test_failing_finding_cap_counts_what_it_drops(drifted_audit):
    result, ruleset = drifted_audit
    store = MetricsStore()
    registry = make_registry(store)
    fails = expected_failures()
    record(store, result, ruleset, max_series=1)

    def failing_series():
        return [s for m in registry.collect() if m.name == "auditor_failing_finding" for s in m.samples]
    kept = failing_series()
    first_failing = result.failing()[0]   # findings are sorted by severity: the cap keeps the worst
    assert [s.labels["rule_id"] for s in kept] == [first_failing.rule_id]
    assert registry.get_sample_value("auditor_failing_findings_dropped_total", COMMON) == fails - 1
    assert registry.get_sample_value("auditor_rule_results", {**MULTI_AZ_RESULTS, "status": "fail"}) == 1

    record(store, result, ruleset, max_series=1)   # counters sum over audits; gauges show the last
    assert registry.get_sample_value("auditor_failing_findings_dropped_total", COMMON) == 2 * (fails - 1)
    assert registry.get_sample_value("auditor_audit_runs_total", dict(COMMON, outcome="success")) == 2
    calls = result.api_stats.calls[("rds", "DescribeDBInstances")]
    assert registry.get_sample_value("auditor_aws_api_calls_total", dict(
        COMMON, service="rds", operation="DescribeDBInstances")) == 2 * calls
    assert len(failing_series()) == 1

    record(store, result, ruleset, max_series=0)
    assert failing_series() == []
    assert registry.get_sample_value("auditor_failing_findings_dropped_total", COMMON) == 2 * (fails - 1) + fails

    record(store, result, ruleset, max_series=500)
    assert len(failing_series()) == fails


def test_api_errors_and_vanished_resources_carry_their_labels(drifted_audit):
    result, ruleset = drifted_audit
    stats = ApiStats(errors=Counter({("logs", "ListTagsForResource", "AccessDeniedException", "denied"): 2}))
    snapshot = Snapshot(result.account, result.region, list(result.snapshot), vanished={"log_group": 1})
    store = MetricsStore()
    registry = make_registry(store)
    record(store, replace(result, api_stats=stats, snapshot=snapshot), ruleset)
    assert registry.get_sample_value("auditor_aws_api_errors_total", dict(
        COMMON, service="logs", operation="ListTagsForResource", error_code="AccessDeniedException", category="denied")) == 2
    assert registry.get_sample_value("auditor_resources_vanished", dict(COMMON, resource_type="log_group")) == 1


def test_label_values_are_cut_to_120_characters():
    from auditor.daemon.metrics import label_value as cut
    assert cut("x" * 200) == "x" * 119 + "…" and len(cut("x" * 200)) == 120
    assert cut(None) == "" and cut("short") == "short"


def test_a_failed_audit_keeps_the_daemon_and_the_last_results(drifted_audit, monkeypatch, json_logs):
    store = MetricsStore()
    registry = make_registry(store)
    record(store, *drifted_audit)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")   # nothing listens: connection refused
    run_through_daemon(make_config(max_attempts=1), store)
    state = store.state
    assert state.last_audit.outcome == "failed" and state.last_success.outcome == "success"
    failed = {"account": "", "region": "us-east-1", "architecture": "mattilda", "environment": ""}
    assert registry.get_sample_value("auditor_audit_runs_total", dict(failed, outcome="failed")) == 1
    assert registry.get_sample_value("auditor_audit_runs_total", dict(COMMON, outcome="success")) == 1
    # the findings of the last evaluated audit stay exported, with that audit's labels
    assert registry.get_sample_value("auditor_rule_results", {**MULTI_AZ_RESULTS, "status": "fail"}) == 1
    assert registry.get_sample_value("auditor_last_audit_timestamp_seconds", failed) == NOW
    assert registry.get_sample_value("auditor_last_success_timestamp_seconds", COMMON) == NOW
    line = [r for r in json_logs() if r.get("event") == "audit"][-1]
    assert line["outcome"] == "failed" and line["level"] == "ERROR"
    assert line["errors"][0]["exception"] == "AuditSetupError"
    assert "cannot identify the AWS account" in line["message"]
    assert "testing" not in str(line)   # the (fake) credentials never reach the logs


def test_a_collection_error_is_incomplete(drifted, monkeypatch):
    def denied(ctx):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeDBInstances")
    monkeypatch.setitem(REGISTRY, "rds.rds_instances",
                        Collector("rds.rds_instances", "rds", ("rds_instance",), denied))
    store, registry = run_through_daemon(make_config())
    assert store.state.last_audit.outcome == "incomplete" and store.state.last_success is None
    assert registry.get_sample_value("auditor_audit_runs_total", dict(COMMON, outcome="incomplete")) == 1
    assert registry.get_sample_value("auditor_rule_results", {**MULTI_AZ_RESULTS, "status": "error"}) == 1
    assert registry.get_sample_value("auditor_last_success_timestamp_seconds", COMMON) is None
    # a type whose collection failed is unknown, not zero
    assert registry.get_sample_value("auditor_resources", dict(COMMON, resource_type="rds_instance")) is None


def test_each_target_keeps_its_series_and_a_target_no_longer_audited_is_dropped(drifted_audit):
    from auditor.daemon.metrics import AuditMetrics, AuditRecord, CostSeries, common_labels

    result, ruleset = drifted_audit
    store = MetricsStore()
    registry = make_registry(store)
    record(store, result, ruleset)   # the one target of a daemon without targets
    metrics = AuditMetrics.from_result(result, ruleset, 500, NOW)
    other = common_labels("210987654321", "us-east-1", "mattilda", "production")
    for key, labels in (("123456789012/us-east-1", metrics.labels), ("210987654321/us-east-1", other)):
        costs = metrics.costs if labels == metrics.labels else CostSeries(prices_as_of=metrics.costs.prices_as_of)
        store.record_audit(AuditRecord(labels, NOW, 1.0, "success"), replace(metrics, labels=labels, costs=costs),
                           result.api_stats, key)
    store.retain(["123456789012/us-east-1", "210987654321/us-east-1"])   # targets configured: the single one goes

    def samples(name):
        return [s for m in registry.collect() for s in m.samples if s.name == name]
    assert sorted(s.labels["account"] for s in samples("auditor_last_audit_timestamp_seconds")) == [
        "123456789012", "210987654321"]
    # the single target's audits were of 123456789012/us-east-1: its counter goes on as that target's
    assert [s.value for s in samples("auditor_audit_runs_total") if s.labels["outcome"] == "success"] == [2.0, 1.0]
    assert len(samples("auditor_cost_prices_as_of_timestamp_seconds")) == 1   # one per region, not per target
    assert {s.labels["account"] for s in samples("auditor_findings")} == {"123456789012", "210987654321"}
    text = generate_latest(registry).decode()
    assert len(text.splitlines()) == len(set(text.splitlines()))   # no series twice

    store.retain(["210987654321/us-east-1"])
    assert {s.labels["account"] for s in samples("auditor_rule_results")} == {"210987654321"}
    assert {s.labels["account"] for s in samples("auditor_aws_api_calls_total")} == {"210987654321"}
    assert registry.get_sample_value("auditor_config_reloads_total", {"outcome": "success"}) == 0   # the process's stay
