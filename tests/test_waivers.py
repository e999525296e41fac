"""Waivers: the file format, matching, expiry and staleness, and what audits, reports, the CLI, the
daemon's settings and its metrics make of them."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import date
from pathlib import Path

import jsonschema
import pytest
from cli_runner import REPORT_SCHEMA, audit, audit_json, failing

from auditor import cli
from auditor.audit import AuditOptions, load_ruleset, run_audit
from auditor.aws import ApiStats
from auditor.commands.common import exit_code
from auditor.daemon.config import ConfigError, load_config
from auditor.daemon.metrics import AuditMetrics, MetricsStore, make_registry
from auditor.emulated.demo import deploy
from auditor.model import STATUSES, Finding, Snapshot
from auditor.report import render
from auditor.report.json_report import to_dict
from auditor.results import AuditResult
from auditor.waivers import Waiver, WaiverFileError, apply_waivers, load_waivers

ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2026, 6, 15)
ACCOUNT, REGION = "123456789012", "us-east-1"
MULTI_AZ = "mattilda.rds.multi_az_production"
SG_OPEN = "baseline.sg.only_load_balancers_open_to_internet"
SG_FROM_ALB = "mattilda.sg.ecs_from_alb_only"
UNITEMIZED = "mattilda.cost.unitemized"   # info: mattilda's cost table leaves out NAT gateways (tests/cost)


def finding(rule_id: str = MULTI_AZ, rid: str = "mattilda-db-prod", status: str = "fail",
            severity: str = "high", rtype: str = "rds_instance", name: str | None = None,
            arn: str | None = None) -> Finding:
    return Finding(rule_id=rule_id, title=rule_id, severity=severity, status=status,
                   resource={"type": rtype, "id": rid, "arn": arn, "name": name or rid,
                             "region": REGION, "account": ACCOUNT},
                   expected="multi_az == true", actual="multi_az = false", message="m",
                   doc={"file": "doc.txt", "quote": "q"}, remediation="fix it", pack="mattilda")


def waiver(rule_id: str = MULTI_AZ, resource: str = "mattilda-db-prod", expires: date = date(2026, 12, 31),
           **kw) -> Waiver:
    return Waiver(rule_id=rule_id, resource=resource, reason=kw.get("reason", "accepted"),
                  owner=kw.get("owner", "team@example.com"), expires=expires, source=kw.get("source", "w.yaml:2"))


def write(tmp_path: Path, text: str, name: str = "waivers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


ENTRY = """  - rule_id: {rule}
    resource: {resource}
    reason: {reason}
    owner: team@example.com
    expires: {expires}
"""


def waiver_file(tmp_path: Path, *entries: tuple[str, str, str], name: str = "waivers.yaml") -> Path:
    """A waiver file of (rule_id, resource, expires) entries."""
    body = "".join(ENTRY.format(rule=r, resource=json.dumps(res), reason=f"reason {i}", expires=e)
                   for i, (r, res, e) in enumerate(entries))
    return write(tmp_path, "waivers:\n" + body, name)


# -- the file ---------------------------------------------------------------------------------

def test_load_the_shipped_example():
    waivers = load_waivers(ROOT / "examples" / "waivers.yaml")
    assert len(waivers) == 3
    first = waivers[0]
    assert first.rule_id == MULTI_AZ and first.resource == "mattilda-db-prod"
    assert first.owner == "platform-team@example.com" and isinstance(first.expires, date)
    assert first.source.endswith("waivers.yaml:19")   # the line of the entry's first key


def test_load_reads_dates_plain_or_quoted_and_records_the_line(tmp_path):
    path = write(tmp_path, "# comment\nwaivers:\n"
                 "  - {rule_id: a.b, resource: x, reason: r, owner: o, expires: 2026-01-31}\n"
                 "  - rule_id: a.*\n    resource: 'arn:aws:rds:*:db:x'\n    reason: two words\n"
                 "    owner: o@example.com\n    expires: '2026-02-01'\n")
    one, two = load_waivers(path)
    assert one.expires == date(2026, 1, 31) and two.expires == date(2026, 2, 1)
    assert (one.source, two.source) == (f"{path}:3", f"{path}:4")
    assert two.as_dict(date(2026, 1, 31)) == {
        "rule_id": "a.*", "resource": "arn:aws:rds:*:db:x", "reason": "two words", "owner": "o@example.com",
        "expires": "2026-02-01", "source": f"{path}:4", "days_left": 1}


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "waivers: []\n", "waivers:\n"])
def test_empty_files_hold_no_waivers(tmp_path, text):
    assert load_waivers(write(tmp_path, text)) == []


def test_errors_name_file_line_and_field(tmp_path):
    path = write(tmp_path, "waivers:\n"
                 "  - rule_id: a\n    resource: x\n    reason: r\n    owner: o\n    expires: 2026-02-30\n"   # 2-6
                 "  - rule_id: b\n    resource: x\n    reason: ''\n    owner: o\n    expiry: 2026-01-01\n"   # 7-11
                 "  - rule_id: [c]\n    resource: x\n    reason: r\n    owner: o\n    expires: 31/12/2026\n"  # 12-16
                 "  - just text\n"
                 "extra: 1\n")
    with pytest.raises(WaiverFileError) as exc:
        load_waivers(path)
    assert exc.value.problems == [
        f"{path}:6: waivers[0].expires: not a date YYYY-MM-DD (got '2026-02-30')",
        f"{path}:9: waivers[1].reason: required",
        f"{path}:7: waivers[1].expires: required",
        f"{path}:11: waivers[1].expiry: unknown field (known: rule_id, resource, reason, owner, expires)",
        f"{path}:12: waivers[2].rule_id: must be a string",
        f"{path}:16: waivers[2].expires: not a date YYYY-MM-DD (got '31/12/2026')",
        f"{path}:17: waivers[3]: must be a mapping with rule_id, resource, reason, owner, expires",
        f"{path}:18: extra: unknown key (expected 'waivers')",
    ]


@pytest.mark.parametrize(("text", "problem"), [
    ("waivers: {rule_id: a}\n", ":1: waivers: must be a list of waivers"),
    ("- rule_id: a\n", ":1: a waiver file is a mapping with the key 'waivers'"),
    ("waivers:\n  - rule_id: a\n    resource: *-prod\n", ":3: invalid YAML"),   # a bare * is a YAML alias
    ("waivers: [\n", ":2: invalid YAML"),
])
def test_malformed_files(tmp_path, text, problem):
    path = write(tmp_path, text)
    with pytest.raises(WaiverFileError) as exc:
        load_waivers(path)
    [line] = exc.value.problems
    assert line.startswith(f"{path}{problem}"), line


def test_missing_file(tmp_path):
    with pytest.raises(WaiverFileError, match="cannot read"):
        load_waivers(tmp_path / "nope.yaml")


# -- matching ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("rule", "resource", "matches"), [
    (MULTI_AZ, "mattilda-db-prod", True),                               # the id
    (MULTI_AZ, "arn:aws:rds:us-east-1:123456789012:db:mattilda-db-prod", True),   # the ARN
    (MULTI_AZ, "Main database", True),                                  # the name
    (MULTI_AZ, "mattilda-db", False),                                   # exact, not a prefix
    (MULTI_AZ, "MATTILDA-DB-PROD", False),                              # case-sensitive
    ("mattilda.rds.*", "mattilda-db-*", True),
    ("*.multi_az_production", "arn:aws:rds:*:db:*", True),              # * spans ':' and '/'
    ("mattilda.rds.multi_az_productio?", "mattilda-db-pro?", True),
    ("mattilda.rds.multi_az_production?", "mattilda-db-prod", False),   # ? is exactly one character
    ("mattilda.rds.multi_az_production", "mattilda-db-[p]rod", False),  # [] is literal
    ("mattilda.ecs.*", "*", False),
])
def test_matching(rule, resource, matches):
    f = finding(name="Main database", arn="arn:aws:rds:us-east-1:123456789012:db:mattilda-db-prod")
    assert waiver(rule, resource).matches(f) is matches


def test_brackets_are_literal(tmp_path):
    assert waiver(MULTI_AZ, "db-[1]").matches(finding(rid="db-[1]"))
    assert not waiver(MULTI_AZ, "db-[1]").matches(finding(rid="db-1"))


# -- applying ---------------------------------------------------------------------------------

def test_a_failing_finding_becomes_waived_and_others_stay():
    findings = [finding(), finding(rid="other-db"), finding(rule_id="x.pass", status="pass"),
                finding(rule_id="x.error", status="error")]
    w = waiver()
    out = apply_waivers(findings, [w], TODAY)
    assert [f.status for f in out.findings] == ["waived", "fail", "pass", "error"]
    assert out.findings[0].waiver == w.as_dict()
    assert out.findings[0].as_dict()["waiver"] == {
        "rule_id": MULTI_AZ, "resource": "mattilda-db-prod", "reason": "accepted", "owner": "team@example.com",
        "expires": "2026-12-31", "source": "w.yaml:2"}
    assert out.findings[1].waiver is None and out.findings[1].as_dict()["waiver"] is None
    assert out.findings[1:] == findings[1:]
    assert out.waived == [out.findings[0]] and out.stale == [] and out.expired == []
    assert findings[0].status == "fail"   # the input is not changed


def test_expiry_day_is_the_last_valid_day():
    w = waiver(expires=TODAY)
    assert w.days_left(TODAY) == 0 and not w.expired(TODAY)
    assert apply_waivers([finding()], [w], TODAY).findings[0].status == "waived"
    tomorrow = date(2026, 6, 16)
    assert w.days_left(tomorrow) == -1 and w.expired(tomorrow)
    out = apply_waivers([finding()], [w], tomorrow)
    assert out.findings[0].status == "fail" and out.findings[0].waiver is None
    assert out.expired == [(w, finding())] and out.stale == []


def test_stale_waivers_match_no_failing_finding():
    nothing = waiver("gone.rule", "x")
    passing = waiver(MULTI_AZ, "fixed-db")            # its finding now passes: no longer needed
    erroring = waiver(MULTI_AZ, "unknown-db")         # not evaluated: cannot tell, so not stale
    expired_unused = waiver("gone.too", "x", expires=date(2020, 1, 1))
    used = waiver()
    findings = [finding(), finding(rid="fixed-db", status="pass"), finding(rid="unknown-db", status="error")]
    out = apply_waivers(findings, [nothing, passing, erroring, expired_unused, used], TODAY)
    assert out.stale == [nothing, passing, expired_unused]
    assert [f.status for f in out.findings] == ["waived", "pass", "error"]
    assert out.as_dict()["stale"][0] == {**nothing.as_dict(), "days_left": 199}


def test_the_first_unexpired_waiver_wins():
    old = waiver(expires=date(2026, 1, 1), reason="old")
    broad = waiver("mattilda.*", "*", reason="broad")
    exact = waiver(reason="exact")
    out = apply_waivers([finding()], [old, broad, exact], TODAY)
    assert out.findings[0].waiver["reason"] == "broad"
    assert out.expired == [] and out.stale == []   # all three matched a failing finding
    only_old = apply_waivers([finding()], [old], TODAY)
    assert only_old.expired == [(old, finding())]


def test_one_waiver_many_findings_and_no_waivers():
    findings = [finding(rid=f"db-{i}") for i in range(3)] + [finding(rule_id="other.rule", rid="db-0")]
    out = apply_waivers(findings, [waiver(resource="db-*")], TODAY)
    assert [f.status for f in out.findings] == ["waived", "waived", "waived", "fail"]
    expired = apply_waivers(findings, [waiver(resource="db-*", expires=date(2026, 1, 1))], TODAY)
    assert len(expired.expired) == 3 and {f.status for f in expired.findings} == {"fail"}
    none = apply_waivers(findings, [], TODAY)
    assert none.findings == findings and none.stale == [] and none.as_dict() == {
        "total": 0, "waived": 0, "stale": [], "expired": []}


# -- reports of a synthetic result ------------------------------------------------------------

def synthetic_result(waivers: list[Waiver], today: date = TODAY) -> AuditResult:
    findings = [finding(), finding(rule_id=SG_OPEN, rid="sg-1", severity="critical", rtype="security_group"),
                finding(rule_id="mattilda.ecr.scan", rid="repo", status="pass", severity="medium",
                        rtype="ecr_repository")]
    outcome = apply_waivers(findings, waivers, today)
    return AuditResult(architecture="mattilda", environment="production", account=ACCOUNT, region=REGION,
                       started_at="2026-06-15T06:00:00Z", duration_seconds=1.0, findings=outcome.findings,
                       errors=(), snapshot=Snapshot(ACCOUNT, REGION, []), api_stats=ApiStats(), waivers=outcome)


def test_reports_of_waived_expired_and_stale():
    waived = waiver()
    expired = waiver(SG_OPEN, "sg-1", expires=date(2026, 6, 1), reason="was temporary", source="w.yaml:8")
    stale = waiver("mattilda.gone", "x", source="w.yaml:14", owner="ops@example.com")
    result = synthetic_result([waived, expired, stale])

    report = to_dict(result)
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["summary"]["by_status"] == {"pass": 1, "fail": 1, "error": 0, "waived": 1, "skip": 0}
    assert report["summary"]["by_severity"]["high"] == {"pass": 0, "fail": 0, "error": 0, "waived": 1, "skip": 0}
    assert report["waivers"]["total"] == 3 and report["waivers"]["waived"] == 1
    assert [w["source"] for w in report["waivers"]["stale"]] == ["w.yaml:14"]
    [exp] = report["waivers"]["expired"]
    assert exp["rule_id"] == SG_OPEN and exp["resource"]["id"] == "sg-1" and exp["waiver"]["days_left"] == -14
    by_rule = {f["rule_id"]: f for f in report["findings"]}
    assert by_rule[MULTI_AZ]["status"] == "waived" and by_rule[MULTI_AZ]["waiver"]["source"] == "w.yaml:2"
    assert by_rule[SG_OPEN]["status"] == "fail" and by_rule[SG_OPEN]["waiver"] is None
    assert result.failing() == [f for f in result.findings if f.rule_id == SG_OPEN]

    table = render(result, "table")
    assert "WAIVED (1)" in table and "accepted" in table
    assert "Expired waivers: these findings fail again (1)" in table and "2026-06-01" in table
    assert "Stale waivers: they match no failing finding" in table and "w.yaml:14" in table
    assert "Summary: 1 failing, 0 errors, 1 waived, 1 passing" in table

    md = render(result, "markdown")
    assert "| Result | 1 failing, 0 errors, 1 waived, 1 passing" in md
    assert "## Waived (1)" in md and f"| `{MULTI_AZ}` | high | rds_instance `mattilda-db-prod` | accepted |" in md
    assert "## Expired waivers (1)" in md and "w.yaml:8: was temporary" in md
    assert "## Stale waivers (1)" in md and "| `mattilda.gone` | `x` | ops@example.com | 2026-12-31 | w.yaml:14 |" in md

    root = ET.fromstring(render(result, "junit").split("\n", 1)[1])
    assert root.get("skipped") == "1" and root.get("failures") == "1"
    [skipped] = root.findall(".//skipped")
    assert skipped.get("message") == "waived until 2026-12-31 by team@example.com: accepted (w.yaml:2)"


def test_reports_without_a_waiver_file_are_unchanged_but_count_waived():
    result = replace(synthetic_result([]), waivers=None)
    report = to_dict(result)
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["waivers"] is None
    assert report["summary"]["by_status"]["waived"] == 0
    assert "waived" not in render(result, "table") and "waived" not in render(result, "markdown")
    assert "Stale" not in render(result, "table")


def test_all_waived_markdown_says_so():
    result = synthetic_result([waiver(), waiver(SG_OPEN, "sg-1")])
    assert "No failing checks: 1 pass, 2 waived." in render(result, "markdown")
    assert exit_code(result, "info") == cli.EXIT_OK    # waived findings never fail the exit code


def test_metrics_count_waived_and_stale():
    result = synthetic_result([waiver(), waiver("mattilda.gone", "x"), waiver("mattilda.gone2", "y")])
    ruleset = load_ruleset("mattilda")
    store = MetricsStore()
    from auditor.daemon.metrics import AuditRecord
    metrics = AuditMetrics.from_result(result, ruleset, 500, 1.0)
    store.record_audit(AuditRecord(metrics.labels, 1.0, 1.0, "success"), metrics, None)
    get = make_registry(store).get_sample_value
    common = {"account": ACCOUNT, "region": REGION, "architecture": "mattilda", "environment": "production"}
    assert get("auditor_rule_results", dict(common, rule_id=MULTI_AZ, pack="mattilda", severity="high",
                                            status="waived")) == 1
    assert get("auditor_rule_results", dict(common, rule_id=MULTI_AZ, pack="mattilda", severity="high",
                                            status="fail")) == 0
    assert get("auditor_findings", dict(common, severity="high", status="waived")) == 1
    assert get("auditor_waivers_stale", common) == 2
    assert get("auditor_compliance_ratio", common) == 0.5   # pass 1 / (pass 1 + fail 1): waived in neither
    failing_ids = {s.labels["resource_id"] for fam in make_registry(store).collect()
                   if fam.name == "auditor_failing_finding" for s in fam.samples}
    assert failing_ids == {"sg-1"}   # a waived finding is never an alertable series
    assert dict(metrics.counts) == {"pass": 1, "fail": 1, "error": 0, "waived": 1, "skip": 0}
    assert set(metrics.counts) == set(STATUSES)

    no_file = replace(result, waivers=None)
    assert AuditMetrics.from_result(no_file, ruleset, 500, 1.0).waivers_stale == 0


# -- end to end: audits of an emulated account ------------------------------------------------

def test_audit_with_waivers_end_to_end(account, capsys, tmp_path):
    """db-single-az (high) and ecs-ssh-open (critical + high on the ECS group) deployed; waive the
    first by name, the critical one by a glob on its ARN, leave one expired and one stale."""
    deploy("mattilda", "production", account, ["db-single-az", "ecs-ssh-open"])
    code, report = audit_json(capsys, "mattilda")
    assert code == 1 and set(failing(report)) == {MULTI_AZ, SG_OPEN, SG_FROM_ALB, UNITEMIZED}

    path = waiver_file(tmp_path, (MULTI_AZ, "mattilda-db-prod", "2099-12-31"),
                       ("baseline.sg.*", "arn:aws:ec2:*:security-group/sg-*", "2099-12-31"),
                       (SG_FROM_ALB, "mattilda-prod-ecs-sg", "2020-01-31"),
                       ("mattilda.rds.instance_class", "mattilda-db-prod", "2099-12-31"))
    code, report = audit_json(capsys, "mattilda", "--waivers", str(path))
    assert code == 1   # the expired waiver's finding fails again
    assert set(failing(report)) == {SG_FROM_ALB, UNITEMIZED}
    waived = {f["rule_id"]: f for f in report["findings"] if f["status"] == "waived"}
    assert set(waived) == {MULTI_AZ, SG_OPEN}
    assert waived[MULTI_AZ]["waiver"]["source"] == f"{path}:2"
    assert waived[SG_OPEN]["waiver"]["resource"] == "arn:aws:ec2:*:security-group/sg-*"
    assert report["summary"]["by_status"]["waived"] == 2
    assert [w["rule_id"] for w in report["waivers"]["stale"]] == ["mattilda.rds.instance_class"]
    [expired] = report["waivers"]["expired"]
    assert expired["rule_id"] == SG_FROM_ALB and expired["waiver"]["expires"] == "2020-01-31"
    assert expired["waiver"]["days_left"] < 0

    # renewed: nothing fails any more, so exit 0 even with --fail-on info
    path = waiver_file(tmp_path, (MULTI_AZ, "mattilda-db-prod", "2099-12-31"),
                       ("baseline.sg.*", "arn:aws:ec2:*:security-group/sg-*", "2099-12-31"),
                       (SG_FROM_ALB, "mattilda-prod-ecs-sg", "2099-12-31"),
                       (UNITEMIZED, "mattilda/production", "2099-12-31"), name="renewed.yaml")   # a cost finding too
    code, out, _ = audit(capsys, "--architecture", "mattilda", "--waivers", str(path), "--fail-on", "info")
    assert code == 0
    assert "WAIVED (4)" in out and ", 4 waived, " in out and "Stale" not in out and "Expired" not in out


def drift_failing(result) -> list:
    """Failing findings but the info one on what the cost table leaves out."""
    return [f for f in result.failing() if f.rule_id != UNITEMIZED]


def test_run_audit_applies_waivers_as_of_today(account, tmp_path):
    deploy("mattilda", "production", account, ["db-single-az"])
    path = waiver_file(tmp_path, (MULTI_AZ, "mattilda-db-*", "2026-06-15"))
    options = AuditOptions(architecture="mattilda", max_attempts=2, waivers=path)
    ruleset = load_ruleset("mattilda")
    on_the_day = run_audit(options, ruleset, today=TODAY)
    assert drift_failing(on_the_day) == [] and len(on_the_day.waivers.waived) == 1
    assert [(f.rule_id, f.status) for f in on_the_day.findings[:2]] == [
        (UNITEMIZED, "fail"), (MULTI_AZ, "waived")]   # waived sorts after fail and error, before pass
    day_after = run_audit(options, ruleset, today=date(2026, 6, 16))
    assert [f.rule_id for f in drift_failing(day_after)] == [MULTI_AZ]
    assert [f.rule_id for _, f in day_after.waivers.expired] == [MULTI_AZ]
    without = run_audit(AuditOptions(architecture="mattilda", max_attempts=2), ruleset)
    assert without.waivers is None and [f.rule_id for f in drift_failing(without)] == [MULTI_AZ]


def test_an_invalid_waiver_file_stops_the_audit_before_collecting(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")   # never reached
    path = write(tmp_path, "waivers:\n  - rule_id: a\n    resource: b\n")
    code, out, err = audit(capsys, "--architecture", "mattilda", "--waivers", str(path))
    assert code == 2 and out == ""
    assert f"error: {path}:2: waivers[0].reason: required" in err
    assert f"error: {path}:2: waivers[0].expires: required" in err
    code, _, err = audit(capsys, "--architecture", "mattilda", "--waivers", str(tmp_path / "none.yaml"))
    assert code == 2 and "none.yaml: cannot read" in err


# -- auditor waivers list | validate ----------------------------------------------------------

def test_waivers_list_and_validate(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    path = waiver_file(tmp_path, (MULTI_AZ, "mattilda-db-prod", "2099-12-31"),
                       ("baseline.*", "legacy-*", "2020-01-31"))
    assert cli.main(["waivers", "list", str(path), "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(w["rule_id"], w["expired"]) for w in listed] == [(MULTI_AZ, False), ("baseline.*", True)]
    assert listed[0]["days_left"] > 0 > listed[1]["days_left"]
    assert listed[1]["source"] == f"{path}:7" and listed[1]["reason"] == "reason 1"

    assert cli.main(["waivers", "list", str(path)]) == 0
    out = capsys.readouterr().out
    assert "(2, 1 expired)" in out and MULTI_AZ in out and "legacy-*" in out
    assert f"{listed[1]['days_left']} (expired)" in out
    assert cli.main(["waivers", "list", str(path), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| rule | resource | owner | reason | expires | days left |" in out
    assert f"| {MULTI_AZ} | mattilda-db-prod | " in out and f"| {listed[1]['days_left']} |" in out

    monkeypatch.setenv("AUDITOR_WAIVERS", str(path))   # the default file, as the daemon's key
    assert cli.main(["waivers", "validate"]) == 0
    out = capsys.readouterr().out
    assert f"{path}: 2 waivers: valid (1 expired)" in out
    assert f"warning: {path}:7: waiver for baseline.* on legacy-* expired on 2020-01-31" in out

    bad = write(tmp_path, "waivers:\n  - rule_id: a\n    resource: b\n    reason: c\n    owner: d\n"
                "    expires: tomorrow\n", "bad.yaml")
    assert cli.main(["waivers", "validate", str(bad)]) == 2
    assert f"error: {bad}:6: waivers[0].expires: not a date YYYY-MM-DD (got 'tomorrow')" in capsys.readouterr().err

    monkeypatch.delenv("AUDITOR_WAIVERS")
    assert cli.main(["waivers", "list"]) == 2
    assert "no waiver file: give FILE or set AUDITOR_WAIVERS" in capsys.readouterr().err


# -- the daemon's `waivers` key ---------------------------------------------------------------

def test_daemon_config_key(tmp_path, monkeypatch):
    waiver_file(tmp_path, (MULTI_AZ, "mattilda-db-prod", "2099-12-31"), name="w.yaml")
    config_file = write(tmp_path, "architecture: mattilda\nwaivers: w.yaml\n", "auditor.yaml")
    config = load_config(config_file)
    assert config.waivers == tmp_path / "w.yaml"             # relative to the config file
    assert config.audit_options().waivers == tmp_path / "w.yaml"
    assert config.summary()["waivers"] == str(tmp_path / "w.yaml")

    monkeypatch.setenv("AUDITOR_WAIVERS", str(tmp_path / "w.yaml"))
    assert load_config(None).waivers == tmp_path / "w.yaml"
    monkeypatch.delenv("AUDITOR_WAIVERS")
    assert load_config(None).waivers is None

    write(tmp_path, "waivers:\n  - rule_id: a\n", "w.yaml")
    with pytest.raises(ConfigError) as exc:
        load_config(config_file)
    assert f"waivers: {tmp_path / 'w.yaml'}:2: waivers[0].resource: required" in exc.value.problems
    (tmp_path / "w.yaml").unlink()
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(config_file)
