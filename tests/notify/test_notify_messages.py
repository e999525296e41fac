"""Messages: text from the templates, escaped for Slack, Block Kit within Slack's limits."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from slack_helpers import CONFIG, finding

from auditor.changes import AttributeChange, ResourceChange
from auditor.notify.channel import AuditInfo
from auditor.notify.lifecycle import Health, Plan, Resolution
from auditor.notify.slack.channel import SlackChannel
from auditor.notify.slack.messages import MAX_BLOCKS, MAX_HEADER, MAX_SECTION, MAX_TEXT, Composer, Templates
from auditor.state import FindingRow

NOW = datetime(2026, 1, 5, 6, 0, 0, tzinfo=UTC)
AUDIT = AuditInfo("mattilda", "production", "123456789012", "eu-west-1", "2026-01-05T06:00:00Z")


def composer(**kw) -> Composer:
    return Composer(Templates(kw.pop("templates_dir", None), now=lambda: NOW), kw.pop("dashboard_url", None), **kw)


def channel_for(severity):
    return SlackChannel(CONFIG, environ={"SLACK_BOT_TOKEN": "xoxb-test"}).destination(severity)


def sections(message) -> list[str]:
    """The text of every block (headers, sections, context lines)."""
    return [b["text"]["text"] if "text" in b else b["elements"][0]["text"] for b in message.payload["blocks"]]


def check_limits(message) -> None:
    blocks = message.payload["blocks"]
    assert 0 < len(blocks) <= MAX_BLOCKS
    assert len(message.payload["text"]) <= MAX_TEXT
    for b in blocks:
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= MAX_HEADER
        elif b["type"] == "section":
            assert 0 < len(b["text"]["text"]) <= MAX_SECTION
        elif b["type"] == "context":
            assert len(b["elements"]) <= 10 and all(len(e["text"]) <= MAX_SECTION for e in b["elements"])
    json.dumps(message.payload)


def test_values_are_escaped_for_slack_and_links_are_built_in_code():
    nasty = replace(finding(), title="Ports <22> & <3389> closed", expected="<!channel> & co",
                    actual={"cidr": "0.0.0.0/0", "note": "a > b"}, resource={**finding().resource, "name": "db`one"})
    [m] = composer(dashboard_url="https://grafana.example.com/d/x?orgId=1").compose(
        Plan(new=[nasty]), AUDIT, channel_for, "C1", True)
    text = "\n".join(sections(m))
    assert "Ports &lt;22&gt; &amp; &lt;3389&gt; closed" in text
    assert "<!channel>" not in json.dumps(m.payload) and "&lt;!channel&gt; &amp; co" in text
    assert '"note": "a &gt; b"' in text
    assert "`dbʼone`" in text                                             # a backtick cannot end the code span
    assert "<https://grafana.example.com/d/x?orgId=1&amp;var-architecture=mattilda&amp;var-environment=production" \
           "&amp;var-account=123456789012|Open in Grafana>" in text
    assert m.payload["blocks"][0]["type"] == "header"                    # plain text: not escaped
    check_limits(m)


def test_hundreds_of_findings_fit_slacks_limits_with_counts():
    many = [replace(finding(rule=f"r.{i:03d}", rid=f"db-{i}", severity=("critical", "high", "medium")[i % 3]),
                    actual="x" * 5000, remediation="y" * 5000) for i in range(500)]
    changes = [ResourceChange("changed", "security_group", f"sg-{i}", f"sg-{i}",
                              tuple(AttributeChange("ingress[+]", None, {"port": p}) for p in range(5))) for i in range(300)]
    rows = [FindingRow(f"k{i}", "r", "rds_instance", f"db-{i}", None, "T " * 40, "critical", "fail", "2026-01-01T00:00:00Z",
                       "2026-01-01T00:00:00Z", announced_outbox_id=1, announced_at="2026-01-01T00:00:00Z") for i in range(200)]
    p = Plan(new=many, reminders=[(r, many[0]) for r in rows], changes=changes,
             health=Health("degraded", tuple({"service": "ec2", "operation": "Op", "code": "Throttling", "message": "m" * 500,
                                              "resource_types": ["vpc"]} for _ in range(30))))
    messages = composer(dashboard_url="https://g.example.com/d/x").compose(p, AUDIT, channel_for, "C1", True)
    assert len(messages) == 1
    [m] = messages
    check_limits(m)
    text = "\n".join(sections(m))
    assert "167 new" in text and "…and" in text and "more critical findings" in text
    assert "more changed resources" in text and "more still-failing findings" in text
    assert m.announces and len(m.announces) == 500                      # all announced, most only counted
    assert "500 new failing findings" in m.payload["blocks"][0]["text"]["text"]


def test_resolutions_reply_in_each_thread_or_stand_alone_with_a_webhook():
    rows = [FindingRow(f"k{i}", "r.one", "rds_instance", f"db-{i}", f"db-{i}", "Multi-AZ", "high", "fail",
                       "2026-01-04T06:00:00Z", "2026-01-05T05:00:00Z", announced_outbox_id=1 + i % 2,
                       announced_at="2026-01-04T06:00:00Z") for i in range(3)]
    resolved = [Resolution(r, "fixed") for r in rows]
    replies = composer().compose(Plan(resolved=resolved), AUDIT, channel_for, "C1", True, {1: "#a", 2: "#b"})
    assert [(m.kind, m.destination, m.parent_id) for m in replies] == [("resolved", "#a", 1), ("resolved", "#b", 2)]
    assert "2 findings no longer failing" in replies[0].payload["text"]
    assert "fixed after 1 d" in sections(replies[0])[0]
    [alone] = composer().compose(Plan(resolved=resolved), AUDIT, channel_for, "", False)
    assert alone.parent_id is None and "3 findings no longer failing* · mattilda production" in sections(alone)[0]
    assert "(announced 2026-01-04 06:00 UTC)" in sections(alone)[0]
    for m in (*replies, alone):
        check_limits(m)


def test_templates_can_be_overridden_one_by_one(tmp_path):
    (tmp_path / "finding.j2").write_text("CUSTOM {{ f.rule_id }} on {{ f.resource.id | code }}: <!here> {{ f.title }}")
    f = replace(finding(), title="A & <B>")
    [m] = composer(templates_dir=tmp_path).compose(Plan(new=[f]), AUDIT, channel_for, "C1", True)
    text = sections(m)
    assert "CUSTOM r.one on `db-1`: <!here> A &amp; &lt;B&gt;" in text   # template text is Slack syntax, values escaped
    assert "1 new failing finding" in text[0]                            # header.j2 still the shipped one


def test_channels_per_severity_one_message_each():
    config = CONFIG.model_copy(update={"channels": {"default": "#all", "critical": "#crit"}, "min_severity": "low"})
    p = Plan(new=[finding(severity="critical"), finding("r.two", severity="high"), finding("r.three", severity="low")],
             health=Health("recovered", since="2026-01-04T00:00:00Z"))
    destination = SlackChannel(config, environ={"SLACK_BOT_TOKEN": "xoxb-test"}).destination
    messages = composer().compose(p, AUDIT, destination, "#all", True)
    by_channel = {m.destination: m for m in messages}
    assert set(by_channel) == {"#all", "#crit"}
    assert len(by_channel["#crit"].announces) == 1 and len(by_channel["#all"].announces) == 2
    assert "The audit is complete again" in "\n".join(sections(by_channel["#all"]))


def test_every_message_names_the_account_and_region_of_its_audit():
    row = FindingRow("123456789012|eu-west-1|r.one|db-1", "r.one", "rds_instance", "db-1", "db-1", "T", "high", "fail",
                     "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", announced_outbox_id=7,
                     announced_at="2026-01-01T00:00:00Z", account="123456789012", region="eu-west-1")
    c = composer()
    p = Plan(new=[finding()], resolved=[Resolution(row, "fixed", finding(status="pass"))])
    messages = [*c.compose(p, AUDIT, channel_for, "C1", threads=True, parents={7: "C1"}),   # a thread reply
                *c.compose(p, AUDIT, channel_for, "", threads=False),                        # a webhook's own message
                *c.notice(Plan(health=Health("degraded", failed=True)), AUDIT, "C1")]
    assert [m.kind for m in messages] == ["alert", "resolved", "alert", "resolved", "notice"]
    for m in messages:
        assert "123456789012" in m.payload["text"] and "eu-west-1" in m.payload["text"]   # what a phone shows
        text = "\n".join(sections(m))
        assert "123456789012" in text and "eu-west-1" in text
    assert messages[0].announces == ["123456789012|eu-west-1|r.one|db-1"]
