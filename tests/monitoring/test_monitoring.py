"""Alerting rules, their unit tests, the Alertmanager example and the Grafana dashboard.

Needs promtool and amtool (Debian's prometheus and prometheus-alertmanager packages): these
tests fail, not skip, without them. Install with ``scripts/install-prometheus.sh`` (as root).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import queries as q  # tests/monitoring/queries.py (this folder is on sys.path)
import yaml

HERE = Path(__file__).resolve().parent


REPO = q.REPO
RULES = q.MONITORING / "auditor.rules.yml"
ALERTMANAGER = q.MONITORING / "alertmanager.example.yml"
PROMETHEUS = q.MONITORING / "prometheus.example.yml"
RUNBOOK = REPO / "docs" / "runbooks" / "auditor.md"
DASHBOARD = q.MONITORING / "auditor.json"
RULE_TESTS = sorted(HERE.glob("*.yml"))
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
ALERT_SEVERITIES = {"critical", "warning", "info"}
ANNOTATIONS = {"summary", "description", "runbook_url"}
SCRAPE_LABELS = {"job", "instance"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/install-prometheus.sh (as root) to "
                    f"install Debian's prometheus and prometheus-alertmanager packages")
    return path


def _run(*args: str | Path, cwd: Path = REPO) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed ({result.returncode}):\n{output}"
    return output


def _alerts() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panels() -> list[dict]:
    return list(q.iter_panels(_dashboard()["panels"]))


# --- promtool / amtool ---------------------------------------------------------------------
def test_rules_pass_promtool_check():
    promtool = _tool("promtool")
    _run(promtool, "check", "rules", RULES)


def test_rule_unit_tests_pass():
    promtool = _tool("promtool")
    assert RULE_TESTS, "no promtool rule tests in tests/monitoring"
    _run(promtool, "test", "rules", *RULE_TESTS)


def test_prometheus_example_config_loads_the_rules():
    promtool = _tool("promtool")
    output = _run(promtool, "check", "config", PROMETHEUS)
    assert "1 rule files found" in output


def test_alertmanager_example_passes_amtool():
    amtool = _tool("amtool")
    _run(amtool, "check-config", ALERTMANAGER)


@pytest.mark.parametrize("severity, receiver", [("critical", "slack-auditor-critical"),
                                                ("warning", "slack-auditor-warnings")])
def test_alertmanager_routes_by_severity(severity, receiver):
    amtool = _tool("amtool")
    output = _run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}",
                  "alertname=AuditorCriticalDrift", f"severity={severity}", "architecture=mattilda")
    assert output.split()[0] == receiver


def test_alertmanager_example_holds_no_secret():
    config = yaml.safe_load(ALERTMANAGER.read_text())
    assert config["global"].get("slack_api_url_file"), "the webhook URL must come from a file"
    assert "hooks.slack.com" not in ALERTMANAGER.read_text()
    assert set(config["route"]["group_by"]) == {"alertname", "architecture", "environment"}
    channels = {c["channel"] for r in config["receivers"] for c in r.get("slack_configs", [])}
    assert len(channels) == 2


def test_dashboard_queries_parse(tmp_path):
    """Every dashboard query, variables substituted, is valid PromQL (as a recording rule)."""
    promtool = _tool("promtool")
    rules = [{"record": f"dashboard:query_{i}", "expr": query.expr}
             for i, query in enumerate(q.query_details()) if query.kind != "alert"]
    assert rules
    path = tmp_path / "dashboard-queries.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    _run(promtool, "check", "rules", path)


# --- the alerts ------------------------------------------------------------------------------
def test_alerts_have_severity_annotations_and_a_runbook_section():
    anchors = {_anchor(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*$", RUNBOOK.read_text(), re.MULTILINE)}
    alerts = _alerts()
    assert len({a["alert"] for a in alerts}) == len(alerts), "duplicate alert names"
    for alert in alerts:
        name = alert["alert"]
        assert alert["labels"]["severity"] in ALERT_SEVERITIES, name
        assert ANNOTATIONS <= set(alert["annotations"]), name
        path, _, anchor = alert["annotations"]["runbook_url"].partition("#")
        assert (REPO / path) == RUNBOOK, name
        assert anchor == name.lower() and anchor in anchors, f"{name}: no section #{anchor} in {path}"


def _anchor(heading: str) -> str:
    """GitHub's heading anchor."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_expected_alerts_exist():
    names = {a["alert"] for a in _alerts()}
    assert {"AuditorCriticalDrift", "AuditorHighDrift", "AuditorAuditStale", "AuditorAuditFailing",
            "AuditorAwsApiErrors", "AuditorTargetDown", "AuditorTargetMissing", "AuditorCostOverBudget",
            "AuditorCostEstimateIncomplete", "AuditorRuleMatchesNothing"} <= names


def test_silent_rule_alert_reads_the_nothing_reason_and_leaves_out_baseline_packs():
    """AuditorRuleMatchesNothing: one alert per architecture-pack rule that found nothing to judge
    in a deployment (reason "nothing"; "out_of_scope" is by design), whether or not it judged
    resources elsewhere, sustained over several audits (the unit tests pin the behaviour)."""
    (alert,) = [a for a in _alerts() if a["alert"] == "AuditorRuleMatchesNothing"]
    expr = " ".join(alert["expr"].split())
    assert expr == 'auditor_rule_skipped_deployments{reason="nothing", pack!~"baseline.*"} > 0'
    assert alert["for"] == "1h" and alert["labels"]["severity"] == "info"
    # the resources it judged in its other deployments are read back, not required to be 0
    assert 'printf "auditor_rule_resources{rule_id=%q' in alert["annotations"]["description"]
    header = RULES.read_text().split("groups:", 1)[0]
    assert "AuditorRuleMatchesNothing" in header, "the threshold comment block must list it"
    assert 'auditor_rule_skipped_deployments{reason="nothing"}' in header


def test_cost_alert_fires_on_the_budget_rule_not_on_the_total():
    """AuditorCostOverBudget follows the budget rule's finding (rows of the document's cost table),
    per deployment, not the estimated total against the limit metric."""
    (alert,) = [a for a in _alerts() if a["alert"] == "AuditorCostOverBudget"]
    expr = " ".join(alert["expr"].split())
    assert 'auditor_failing_finding{resource_type="deployment", rule_id=~".+[.]cost[.]budget"}' in expr
    assert q.metric_names(expr) == {"auditor_failing_finding"}
    # expected/actual out of the labels (a changed estimate does not restart the alert), the
    # finding's identity kept; the deployment's architecture/environment from its resource id
    assert expr.startswith("max without (expected, actual, severity, resource_type, resource_name) (")
    assert '"architecture", "$1", "resource_id"' in expr and '"environment", "$1", "resource_id"' in expr
    assert alert["for"] == "15m" and alert["labels"]["severity"] == "warning"
    description = alert["annotations"]["description"]
    assert 'label "actual"' in description and "rule_id=%q,resource_id=%q" in description
    header = RULES.read_text().split("groups:", 1)[0]
    assert "<pack>.cost.budget" in header


def test_every_alert_is_unit_tested_firing_and_silent():
    """Each alert: a case firing with exact labels and every annotation, and a silent case."""
    firing: dict[str, list[dict]] = {}
    silent: set[str] = set()
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                if case.get("exp_alerts"):
                    firing.setdefault(case["alertname"], []).extend(case["exp_alerts"])
                else:
                    silent.add(case["alertname"])
    for alert in _alerts():
        name = alert["alert"]
        assert name in firing, f"{name}: no firing case"
        assert name in silent, f"{name}: no silent case"
        for expected in firing[name]:
            assert expected["exp_labels"]["severity"] == alert["labels"]["severity"], name
            assert set(expected["exp_annotations"]) == set(alert["annotations"]), name


def test_every_firing_case_follows_a_silent_one():
    """In each test, an alert is first checked silent (before its `for:` elapses or its
    threshold is crossed), then firing."""
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            cases = test.get("alert_rule_test", [])
            for i, case in enumerate(cases):
                if case.get("exp_alerts"):
                    earlier = [c for c in cases[:i] if c["alertname"] == case["alertname"]
                               and not c.get("exp_alerts")]
                    assert earlier, f"{test['name']}: {case['alertname']} fires with no silent case before"


# --- the dashboard ---------------------------------------------------------------------------
def test_dashboard_identity_and_variables():
    dashboard = _dashboard()
    assert dashboard["uid"] == "aws-architecture-auditor"
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert {"datasource", "architecture", "environment", "account"} <= set(variables)
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("architecture", "environment", "account"):
        variable = variables[name]
        assert variable["type"] == "query"
        assert variable["datasource"] == DATASOURCE
        text = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        assert re.fullmatch(rf"label_values\(auditor_compliance_ratio(\{{.*\}})?, {name}\)", text), text
        assert variable["includeAll"] and variable["allValue"] == ".*"


def test_dashboard_panels_are_well_formed():
    panels = _panels()
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    cells = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert {"x", "y", "w", "h"} <= set(grid), panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & area, f"panel {panel['title']!r} overlaps another"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), panel["title"]
            assert target["datasource"] == DATASOURCE, panel["title"]
    refs = [(p["id"], t["refId"]) for p in panels for t in p.get("targets", [])]
    assert len(refs) == len(set(refs))


def test_dashboard_names_no_datasource_but_the_variable():
    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "datasource":
                    yield value
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    dashboard = _dashboard()
    for value in walk(dashboard["panels"]):
        assert value == DATASOURCE
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "datasource":
            assert variable["datasource"] == DATASOURCE


def test_dashboard_has_the_documented_panels():
    panels = _panels()
    exprs = {p["title"]: " ".join(t["expr"] for t in p.get("targets", [])) for p in panels}
    assert "auditor_compliance_ratio" in exprs["Compliance over time"]
    assert 'auditor_findings{status="fail"' in exprs["Failing findings by severity"]
    assert "topk(" in exprs["Top failing rules"] and "auditor_rule_results" in exprs["Top failing rules"]
    table = next(p for p in panels if p["title"] == "Failing resources")
    assert table["type"] == "table"
    assert table["targets"][0]["instant"] and table["targets"][0]["format"] == "table"
    assert "auditor_failing_finding" in table["targets"][0]["expr"]
    organize = next(t for t in table["transformations"] if t["id"] == "organize")["options"]
    assert {"expected", "actual", "rule_id", "resource_id"} <= set(organize["indexByName"])
    health = " ".join(exprs.values())
    for needed in ("auditor_audit_duration_seconds", "auditor_aws_api_errors_total",
                   "time() - (auditor_last_audit_timestamp_seconds", "auditor_audit_runs_total"):
        assert needed in health, needed


def test_dashboard_lists_rules_that_applied_to_nothing_next_to_top_failing_rules():
    panels = _panels()
    (table,) = [p for p in panels if p["title"] == "Rules that applied to nothing"]
    top = next(p for p in panels if p["title"] == "Top failing rules")
    assert table["type"] == "table"
    deployments, resources = table["targets"]
    assert (deployments["refId"], resources["refId"]) == ("A", "B")
    for target in (deployments, resources):
        assert target["instant"] and target["format"] == "table"
    # A: the deployments with nothing to judge, per architecture-pack rule (out_of_scope left out)
    assert 'auditor_rule_skipped_deployments{reason="nothing",pack!~"baseline.*",' in deployments["expr"]
    assert "auditor_rule_results" not in deployments["expr"] and "out_of_scope" not in deployments["expr"]
    # B: beside it, the resources the rule judged (elsewhere), for the same rules
    assert 'auditor_rule_resources{pack!~"baseline.*",' in resources["expr"] and "== 0" not in resources["expr"]
    assert 'auditor_rule_skipped_deployments{reason="nothing",' in resources["expr"]
    assert deployments["expr"].count("auditor_") == 1 and resources["expr"].count("auditor_") == 2
    for variable in ("architecture", "environment", "account"):
        assert deployments["expr"].count(f'{variable}=~"${variable}"') == 1, variable
        assert resources["expr"].count(f'{variable}=~"${variable}"') == 2, variable   # both operands filtered
    # right below the row of "Top failing rules", above "Failing resources"
    assert table["gridPos"]["y"] == top["gridPos"]["y"] + top["gridPos"]["h"]
    failing = next(p for p in panels if p["title"] == "Failing resources")
    assert failing["gridPos"]["y"] == table["gridPos"]["y"] + table["gridPos"]["h"]
    # one row per rule: the two queries merged on their (identical) labels, then organized
    assert [t["id"] for t in table["transformations"]][:2] == ["merge", "organize"]
    organize = next(t for t in table["transformations"] if t["id"] == "organize")["options"]
    assert {"rule_id", "pack", "severity", "architecture", "environment", "Value #A", "Value #B"} \
        <= set(organize["indexByName"])
    assert organize["renameByName"]["Value #A"] == "Deployments with nothing"
    assert organize["renameByName"]["Value #B"] == "Resources judged"


def test_dashboard_has_the_cost_row():
    """A "Cost" row whose panels read every auditor_cost_* metric of the contract."""
    dashboard = _dashboard()
    rows = [p for p in dashboard["panels"] if p["type"] == "row"]
    (cost_row,) = [r for r in rows if r["title"] == "Cost"]
    below = [p for p in dashboard["panels"] if p["type"] != "row" and p["gridPos"]["y"] > cost_row["gridPos"]["y"]
             and not any(cost_row["gridPos"]["y"] < r["gridPos"]["y"] <= p["gridPos"]["y"] for r in rows)]
    exprs = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in below}
    assert "sum by (service) (auditor_cost_estimated_monthly_usd" in exprs["Estimated monthly cost by service"]
    for metric in ("auditor_cost_estimated_monthly_usd", "auditor_cost_budget_monthly_usd",
                   "auditor_cost_budget_limit_monthly_usd"):
        assert metric in exprs["Estimate vs budget"], metric
    assert "auditor_cost_actual_month_to_date_usd" in exprs["Actual month to date vs estimate"]
    assert "cost.actual_spend: true" in next(p["description"] for p in below
                                              if p["title"] == "Actual month to date vs estimate")
    # the total is drawn for reference: the budget rule judges the cost table row by row
    versus = next(p["description"] for p in below if p["title"] == "Estimate vs budget")
    assert "row by row" in versus and "AuditorCostOverBudget" in versus
    assert "time() - auditor_cost_prices_as_of_timestamp_seconds" in exprs["Price table age"]
    metrics, _common = q.contract()
    used = set().union(*(q.metric_names(e) for e in exprs.values()))
    assert {m for m in metrics if m.startswith("auditor_cost_")} <= used


# --- the metrics contract ----------------------------------------------------------------------
def test_every_metric_and_label_is_in_the_contract():
    metrics, common = q.contract()
    assert "auditor_failing_finding" in metrics and common == {"account", "region", "architecture", "environment"}
    all_labels = set().union(*metrics.values()) | SCRAPE_LABELS
    used = set()
    for source, expr in q.queries():
        names = q.metric_names(expr)
        assert names, f"{source}: no metric in {expr!r}"
        for name in names:
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name == "up" or name in metrics or base in metrics, \
                f"{source}: {name} is not in docs/metrics.md"
            used.add(name)
        for metric, labels in q.selector_labels(expr):
            allowed = (metrics.get(metric, set()) | SCRAPE_LABELS) if metric != "up" else SCRAPE_LABELS
            assert labels <= allowed, f"{source}: {metric} has no label {labels - allowed}"
        assert q.grouping_labels(expr) <= all_labels, f"{source}: unknown labels {q.grouping_labels(expr) - all_labels}"
    # the templates of the alerts only read labels that exist
    for alert in _alerts():
        text = " ".join(alert["annotations"].values())
        for label in re.findall(r"\$labels\.(\w+)", text):
            assert label in all_labels, f"{alert['alert']}: $labels.{label}"
    assert {"auditor_compliance_ratio", "auditor_failing_finding", "auditor_aws_api_errors_total",
            "auditor_last_audit_timestamp_seconds", "auditor_audit_runs_total", "up"} <= used


def test_metric_name_parser():
    assert q.metric_names('sum by (auditor_x) (rate(auditor_a_total{b="auditor_c"}[5m])) / on (job) up') == \
        {"auditor_a_total", "up"}
    assert q.metric_names("auditor_h_bucket{le=\"1\"} == 1 unless auditor_g") == {"auditor_h_bucket", "auditor_g"}
    assert q.selector_labels('x{a=~"1", b!="2"} + y') == [("x", {"a", "b"})]


def test_queries_substitute_every_variable():
    details = list(q.query_details())
    assert {d.kind for d in details} == {"panel", "variable", "alert"}
    panel_targets = sum(len(p.get("targets", [])) for p in _panels())
    assert sum(d.kind == "panel" for d in details) == panel_targets
    assert sum(d.kind == "alert" for d in details) == len(_alerts())
    for detail in details:
        # a Grafana variable starts with a letter or _; "$1" is label_replace's capture group
        assert not re.search(r"\$\{?[A-Za-z_]|\[\[", detail.expr), detail.source
    assert q.substitute('a{b=~"$architecture",c=~"${environment}"}[$__rate_interval]') == 'a{b=~".*",c=~".*"}[5m]'
    with pytest.raises(ValueError):
        q.substitute("x{a=~\"$nope\"}")
