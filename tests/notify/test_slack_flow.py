"""The issue's proof, against a fake Slack Web API that records every request: real audits of an
emulated mattilda deployment, a durable state file, and slack-sdk's WebClient on a local port."""
from __future__ import annotations

import pytest
from fake_slack import TOKEN
from slack_helpers import fresh, run, texts

from auditor.snapshots import save_snapshot
from auditor.state import StateStore

SSH = "baseline.sg.only_load_balancers_open_to_internet"
MULTI_AZ = "mattilda.rds.multi_az_production"


def test_first_audit_posts_new_findings_then_silence(audits, fake_slack, make_notifier):
    notifier = make_notifier()
    stats = run(notifier, audits.drifted)
    assert (stats.sent, stats.failed, stats.pending) == (2, 0, 0)

    # one message per channel: the critical finding to #auditor-critical, the two high ones to #auditor
    posts = fake_slack.top_level()
    assert sorted(m.channel for m in posts) == ["C0AUDITOR", "C0CRITICAL"]
    critical = next(m for m in posts if m.channel == "C0CRITICAL")
    high = next(m for m in posts if m.channel == "C0AUDITOR")
    assert "1 new failing finding" in critical.blocks[0]["text"]["text"]
    assert "2 new failing findings" in high.blocks[0]["text"]["text"]
    body = texts(high)
    assert "Production database is Multi-AZ" in body and MULTI_AZ in body
    assert "multi_az == true" in body and "multi_az = false" in body           # expected vs actual
    assert "Multi-AZ: Production only for high availability" in body           # the document statement
    assert "aws rds modify-db-instance" in body                                 # the remediation
    assert "https://grafana.example.com/d/aws-architecture-auditor?var-architecture=mattilda" in body
    assert "mattilda-db-prod" in body
    assert critical.metadata["event_type"] == "auditor_notification"
    # every request carried the bot token, and only in the Authorization header
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in fake_slack.requests)

    # the same account audited again: nothing at all is sent
    before = len(fake_slack.requests)
    stats = run(notifier, audits.drifted_again)
    assert (stats.sent, stats.failed, stats.pending) == (0, 0, 0)
    assert len(fake_slack.requests) == before


def test_fixing_a_drift_posts_the_resolution_in_the_thread(audits, fake_slack, make_notifier):
    notifier = make_notifier()
    run(notifier, audits.drifted)
    [critical] = [m for m in fake_slack.top_level() if m.channel == "C0CRITICAL"]
    [high] = [m for m in fake_slack.top_level() if m.channel == "C0AUDITOR"]

    stats = run(notifier, audits.fixed)
    assert stats.sent == 2 and stats.pending == 0
    assert len(fake_slack.top_level()) == 2                  # no new top-level message
    [reply_high] = fake_slack.replies(high.ts)
    [reply_critical] = fake_slack.replies(critical.ts)
    assert reply_high.channel == "C0AUDITOR" and reply_critical.channel == "C0CRITICAL"
    assert "2 findings no longer failing" in reply_high.text
    assert "Production database is Multi-AZ" in texts(reply_high) and "fixed" in texts(reply_high)
    assert "1 finding no longer failing" in reply_critical.text

    store = notifier.store
    target = f"{audits.fixed.account}|{audits.fixed.region}"
    assert all(r.status == "resolved" for r in [store.finding(f"{target}|{MULTI_AZ}|mattilda-db-prod")])
    assert {k: r.status for k, r in store.open_findings(audits.fixed.account, audits.fixed.region).items()} == {
        f"{target}|mattilda.cost.unitemized|mattilda/production": "fail"}   # info: below the channels' minimum

    # fixed again and again: silence
    before = len(fake_slack.requests)
    run(notifier, audits.fixed)
    assert len(fake_slack.requests) == before


def test_critical_reminder_after_its_interval_with_a_frozen_clock(audits, fake_slack, make_notifier, clock):
    notifier = make_notifier(reminder_interval="6h")
    run(notifier, audits.drifted)
    assert len(fake_slack.messages) == 2

    clock.advance(hours=5, minutes=59)
    run(notifier, audits.drifted_again)
    assert len(fake_slack.messages) == 2                     # not yet

    clock.advance(minutes=1)
    run(notifier, audits.drifted_again)
    assert len(fake_slack.messages) == 3
    reminder = fake_slack.messages[-1]
    assert reminder.channel == "C0CRITICAL" and reminder.thread_ts is None
    body = texts(reminder)
    assert "Still failing" in body and "1 still failing" in reminder.blocks[0]["text"]["text"]
    assert "failing since" in body and "6 h ago" in body
    assert "Production database is Multi-AZ" not in body     # high findings are not re-announced

    clock.advance(hours=1)
    run(notifier, audits.drifted_again)
    assert len(fake_slack.messages) == 3                     # the next one is 6 h after this one
    clock.advance(hours=5)
    run(notifier, audits.drifted_again)
    assert len(fake_slack.messages) == 4


def test_429_500_and_timeouts_end_with_every_message_delivered_once(audits, fake_slack, make_notifier):
    notifier = make_notifier(max_retries=2)
    # 1st message: 429 (Retry-After 1), then 500 twice: the SDK retries twice (after 1 s for the 429)
    # and gives up; the message stays queued, and the pass stops there
    fake_slack.fail("429", retry_after=1)
    fake_slack.fail("500", times=2)
    stats = run(notifier, audits.drifted)
    assert (stats.sent, stats.failed, stats.pending) == (0, 1, 2)
    posts = fake_slack.calls("chat.postMessage")
    assert [r.answer for r in posts] == [429, 500, 500]
    assert posts[1].at - posts[0].at >= 1.0                  # Retry-After honoured

    # next pass: the first message is accepted but the answer times out (in doubt), so the pass stops
    fake_slack.fail("timeout", seconds=1.2)
    stats = notifier.deliver()["slack"]
    assert (stats.sent, stats.failed, stats.pending) == (0, 1, 2)
    assert len(fake_slack.messages) == 1                     # Slack has it, we do not know yet
    fake_slack.wait_idle()

    # next pass: the in-doubt message is found in the channel's history, not posted again
    stats = notifier.deliver()["slack"]
    assert (stats.sent, stats.failed, stats.pending) == (2, 0, 0)
    assert len(fake_slack.calls("conversations.history")) == 1
    assert len(fake_slack.messages) == 2
    ids = [m.metadata["event_payload"]["outbox_id"] for m in fake_slack.messages]
    assert sorted(ids) == sorted(set(ids))                   # each message once
    for row in notifier.store.messages():
        assert row.sent_at and row.delivery_ref and row.in_flight_since is None


def test_restart_between_queueing_and_sending_delivers_once(audits, fake_slack, make_notifier, tmp_path):
    first = make_notifier()
    result = fresh(audits.drifted)
    first.after_audit(result)                                # queued, then the process dies
    save_snapshot(first.store, result, first.clock())
    first.store.close()
    assert fake_slack.requests == []

    second = make_notifier()                                 # a new process on the same state file
    assert second.store.pending_count("slack") == 2
    stats = second.deliver(force=True)["slack"]              # the daemon's delivery pass at start
    assert (stats.sent, stats.pending) == (2, 0)
    third = make_notifier()
    assert third.deliver(force=True)["slack"].sent == 0
    run(third, audits.drifted_again)
    assert len(fake_slack.messages) == 2


def test_crash_after_slack_accepted_but_before_recording_delivers_once(audits, fake_slack, make_notifier, monkeypatch):
    first = make_notifier()
    first.after_audit(fresh(audits.drifted))

    def crash(*_a, **_k):
        raise SystemExit("killed")                           # the process dies right after Slack answered
    with monkeypatch.context() as patch:
        patch.setattr(StateStore, "mark_sent", crash)
        with pytest.raises(SystemExit):
            first.deliver()["slack"]
    assert len(fake_slack.messages) == 1
    first.store.close()

    second = make_notifier()
    assert second.deliver(force=True)["slack"].sent == 2
    assert len(fake_slack.calls("conversations.history")) == 1
    assert len(fake_slack.messages) == 2                     # the first one was found, not re-posted


def test_slack_unreachable_keeps_messages_queued_until_it_is_back(audits, fake_slack, make_notifier, clock):
    from auditor.emulated.demo import free_port

    down = make_notifier(base_url=f"http://127.0.0.1:{free_port()}/api/")   # nothing listens there
    stats = run(down, audits.drifted)
    assert (stats.sent, stats.failed, stats.pending) == (0, 1, 2)
    [first, second] = down.store.unsent("slack")
    assert first.attempts == 1 and "cannot reach Slack" in first.last_error and first.in_flight_since is None
    assert second.attempts == 0                              # the pass stopped at the first failure
    down.store.close()

    up = make_notifier()                                     # restarted, Slack reachable again
    clock.advance(minutes=15)
    run(up, audits.drifted_again)                            # nothing new, but the queue goes out
    assert len(fake_slack.messages) == 2 and up.store.pending_count("slack") == 0
    assert fake_slack.calls("conversations.history") == []   # refused connections are never in doubt


def test_two_regions_sharing_a_state_file_never_resolve_each_other(audits, fake_slack, make_notifier):
    from dataclasses import replace

    notifier = make_notifier()
    west = replace(audits.fixed, region="eu-west-1")   # another target of the same state file: nothing failing
    run(notifier, audits.drifted)
    assert len(fake_slack.top_level()) == 2
    before = len(fake_slack.requests)
    for _ in range(2):   # the targets in turn: the other's findings are neither resolved nor announced again
        run(notifier, west)
        run(notifier, audits.drifted_again)
    assert len(fake_slack.requests) == before and fake_slack.replies(fake_slack.top_level()[0].ts) == []
    west_open = {r.rule_id for r in notifier.store.open_findings("123456789012", "eu-west-1").values()}
    east_open = {r.rule_id for r in notifier.store.open_findings("123456789012", "us-east-1").values()}
    assert west_open == {"mattilda.cost.unitemized"} and {SSH, MULTI_AZ, *west_open} <= east_open
    run(notifier, audits.fixed)   # fixed where it failed: resolved there, in its threads
    assert sum(len(fake_slack.replies(m.ts)) for m in fake_slack.top_level()) == 2
    assert all("us-east-1" in texts(m) for m in fake_slack.messages)
