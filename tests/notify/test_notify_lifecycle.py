"""The lifecycle rules (pure): stored rows + an audit result + now -> news."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

from slack_helpers import ROUTING, finding

from auditor.model import CollectorError
from auditor.notify.lifecycle import finding_key, plan, plan_failed
from auditor.waivers import Waiver, WaiverOutcome

NOW = datetime(2026, 1, 5, 6, 0, 0, tzinfo=UTC)


def result(*findings, errors=(), waivers=None, changes=None, region="r"):
    return SimpleNamespace(findings=list(findings), errors=tuple(errors), waivers=waivers, changes=changes,
                           compared_to=None, architecture="a", environment="production", account="1", region=region,
                           started_at="2026-01-05T06:00:00Z",
                           complete=not errors and all(f.status != "error" for f in findings))


def key(f, region="r"):
    return finding_key(f, "1", region)


def apply(rows, p, announce_new=True, at=NOW):
    """What the notifier stores: the plan's rows, the new ones marked announced."""
    out = dict(rows)
    new = {(f.rule_id, f.resource["id"]) for f in [*p.new, *(e.finding for e in p.expired)]}
    for k, row in p.rows.items():
        if announce_new and (row.rule_id, row.resource_id) in new:
            row = replace(row, announced_outbox_id=1, announced_at=at.isoformat().replace("+00:00", "Z"))
        out[k] = row
    return {k: r for k, r in out.items() if r.status != "resolved"}


def test_new_then_unchanged_then_fixed():
    p = plan({}, result(finding()), NOW, ROUTING)
    assert [f.rule_id for f in p.new] == ["r.one"] and p.has_news
    rows = apply({}, p)
    p2 = plan(rows, result(finding()), NOW + timedelta(hours=1), ROUTING)
    assert not p2.has_news and p2.new == [] and p2.resolved == []
    rows = apply(rows, p2)
    p3 = plan(rows, result(finding(status="pass")), NOW + timedelta(hours=2), ROUTING)
    assert [(r.row.rule_id, r.reason) for r in p3.resolved] == [("r.one", "fixed")]
    assert p3.rows[key(finding())].status == "resolved"


def test_gone_unless_the_rule_could_not_be_evaluated():
    rows = apply({}, plan({}, result(finding()), NOW, ROUTING))
    # the rule errored (its AWS call failed): nothing is known, nothing is resolved
    p = plan(rows, result(finding(rid="(none)", status="error")), NOW, ROUTING)
    assert p.resolved == [] and key(finding()) not in p.rows
    p = plan(rows, result(finding(status="error")), NOW, ROUTING)
    assert p.resolved == []
    # the rule ran and the resource is gone: resolved
    p = plan(rows, result(finding(rule="r.other", status="pass")), NOW, ROUTING)
    assert [r.reason for r in p.resolved] == ["gone"]


def test_min_severity_and_silent_resolution_of_what_was_never_announced():
    p = plan({}, result(finding(severity="low")), NOW, ROUTING)
    assert p.new == [] and not p.has_news and p.rows   # tracked, not announced
    rows = apply({}, p)
    p = plan(rows, result(finding(severity="low", status="pass")), NOW, ROUTING)
    assert p.resolved == [] and not p.has_news


def test_reminders_only_for_critical_after_the_interval():
    crit, high = finding("r.crit", severity="critical"), finding("r.high")
    rows = apply({}, plan({}, result(crit, high), NOW, ROUTING))
    assert plan(rows, result(crit, high), NOW + timedelta(hours=23, minutes=59), ROUTING).reminders == []
    p = plan(rows, result(crit, high), NOW + timedelta(hours=24), ROUTING)
    assert [f.rule_id for _, f in p.reminders] == ["r.crit"]
    rows = apply(rows, p)
    assert plan(rows, result(crit, high), NOW + timedelta(hours=47), ROUTING).reminders == []
    assert len(plan(rows, result(crit, high), NOW + timedelta(hours=48), ROUTING).reminders) == 1


def test_waived_findings_are_never_new_and_close_an_announced_thread():
    waived = replace(finding(), status="waived", waiver={"owner": "o", "expires": "2026-02-01", "reason": "r"})
    p = plan({}, result(waived), NOW, ROUTING)
    assert p.new == [] and not p.has_news
    rows = apply({}, plan({}, result(finding()), NOW, ROUTING))
    p = plan(rows, result(waived), NOW, ROUTING)
    assert [r.reason for r in p.resolved] == ["waived"]
    rows = apply(rows, p)
    assert rows[key(finding())].status == "waived"
    # the waiver removed: failing again, announced afresh
    p = plan(rows, result(finding()), NOW, ROUTING)
    assert [f.rule_id for f in p.new] == ["r.one"]


def test_an_expired_waiver_is_announced_once():
    w = Waiver("r.one", "db-1", "accepted until the migration", "dba@example.com", date(2026, 1, 4), "w.yaml:2")
    outcome = WaiverOutcome(findings=[finding()], expired=[(w, finding())], waivers=[w], today=date(2026, 1, 5))
    p = plan({}, result(finding(), waivers=outcome), NOW, ROUTING)
    assert p.new == [] and [e.waiver["owner"] for e in p.expired] == ["dba@example.com"]
    rows = apply({}, p)
    p2 = plan(rows, result(finding(), waivers=outcome), NOW, ROUTING, announced_notices=[p.expired[0].notice_key])
    assert p2.expired == [] and p2.new == [] and not p2.has_news


def test_degraded_once_then_recovered_once():
    error = CollectorError("ec2", "DescribeSecurityGroups", "AccessDenied", "denied", ("security_group",))
    p = plan({}, result(finding(status="error"), errors=[error]), NOW, ROUTING, health=("ok", "t"))
    assert p.health.state == "degraded" and p.health.errors[0]["code"] == "AccessDenied" and p.health_state == "degraded"
    p = plan({}, result(errors=[error]), NOW, ROUTING, health=("degraded", "t0"))
    assert p.health is None
    assert plan_failed({"exception": "X", "message": "m"}, ("degraded", "t0")).health is None
    p = plan({}, result(), NOW, ROUTING, health=("failed", "t0"))
    assert p.health.state == "recovered" and p.health.since == "t0"
    assert plan({}, result(), NOW, ROUTING, health=("ok", "t")).health is None
    assert plan_failed({"exception": "X", "message": "m"}, None).health.failed


def test_changes_are_a_section_and_news_alone_only_when_asked():
    changes = [SimpleNamespace(kind="added", type="vpc", id="v", name=None, changes=())]
    assert not plan({}, result(changes=changes), NOW, ROUTING).has_news
    loud = replace(ROUTING, changes_alone=True)
    assert plan({}, result(changes=changes), NOW, loud).has_news


def test_a_targets_audit_never_opens_nor_resolves_another_targets_findings():
    rows = apply({}, plan({}, result(finding()), NOW, ROUTING))   # region r: one announced finding
    [row] = rows.values()
    assert (row.account, row.region, row.key) == ("1", "r", "1|r|r.one|db-1")
    # region r2 of the same account, the same rule and resource id, passing; then with nothing at all
    for other in (result(finding(status="pass"), region="r2"), result(finding(rule="r.other", status="pass"), region="r2")):
        p = plan(rows, other, NOW, ROUTING)
        assert p.resolved == [] and key(finding()) not in p.rows
    p = plan(rows, result(finding(), region="r2"), NOW, ROUTING)   # failing there too: news of its own
    assert [key(f, "r2") for f in p.new] == ["1|r2|r.one|db-1"] and set(p.rows) == {"1|r2|r.one|db-1"}
