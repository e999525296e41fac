"""/readyz logic with a fake clock: ready while the last evaluated audit is within two intervals."""
from __future__ import annotations

from datetime import UTC, datetime

from daemon_helpers import NOW, make_config, record

from auditor.daemon.config import ScheduleConfig
from auditor.daemon.health import check_readiness
from auditor.daemon.metrics import AuditRecord, MetricsState, MetricsStore, TargetMetrics
from auditor.daemon.scheduler import expected_gap, readiness_window
from auditor.daemon.service import Daemon

LABELS = ("1", "us-east-1", "mattilda", "production")


class FakeResults:
    def __init__(self, finished_at: float):
        self.finished_at = finished_at


def one_target(**audits) -> MetricsState:
    return MetricsState(targets={"1/us-east-1": TargetMetrics(**audits)})


def evaluated(at: float) -> MetricsState:
    return one_target(results=FakeResults(at), last_audit=AuditRecord(LABELS, at, 1.0, "success"))


def test_not_ready_before_the_first_audit():
    r = check_readiness(MetricsState(), now=1000.0, window=120.0)
    assert not r.ready and r.reason == "no audit has completed yet"
    r = check_readiness(MetricsState(running=True), now=1000.0, window=120.0)
    assert r.reason == "no audit has completed yet (one is running)"


def test_ready_within_the_window_then_stale():
    state = evaluated(1000.0)
    assert check_readiness(state, now=1000.0, window=120.0).ready
    assert check_readiness(state, now=1120.0, window=120.0).ready
    r = check_readiness(state, now=1121.0, window=120.0)
    assert not r.ready and r.reason == "the last audit finished 121 s ago, more than 120 s"


def test_failed_audits_do_not_make_it_ready():
    failed = AuditRecord(("", "us-east-1", "mattilda", ""), 1050.0, 0.1, "failed")
    r = check_readiness(one_target(last_audit=failed), now=1060.0, window=120.0)
    assert not r.ready and r.reason == "no audit has completed yet; the last audit failed 10 s ago"
    state = one_target(results=FakeResults(1000.0), last_audit=failed)
    r = check_readiness(state, now=1060.0, window=120.0)
    assert r.ready and "the last audit failed 10 s ago" in r.reason


def test_window_is_two_intervals_plus_jitter():
    assert readiness_window(ScheduleConfig(interval_seconds=300)) == 600
    assert readiness_window(ScheduleConfig(interval_seconds=300, jitter_seconds=30)) == 630


def test_cron_window_is_twice_the_gap_between_the_next_two_fire_times():
    now = datetime(2026, 1, 2, 10, 3, tzinfo=UTC)   # a Friday
    assert expected_gap(ScheduleConfig(cron="*/5 * * * *"), now) == 300
    assert readiness_window(ScheduleConfig(cron="*/5 * * * *", jitter_seconds=10), now) == 610
    assert expected_gap(ScheduleConfig(cron="0 6 * * *"), now) == 86400
    # weekdays at 06:00: next fires are Monday and Tuesday
    assert expected_gap(ScheduleConfig(cron="0 6 * * 1-5"), now) == 86400


def test_daemon_readiness_follows_its_clock(drifted_audit):
    clock = [10_000.0]
    result, ruleset = drifted_audit
    daemon = Daemon(make_config(schedule={"interval_seconds": 60}), ruleset, clock=lambda: clock[0])
    assert not daemon.readiness().ready
    record(daemon.store, result, ruleset)   # finished at NOW
    clock[0] = NOW + 119
    assert daemon.readiness().ready
    clock[0] = NOW + 121
    assert not daemon.readiness().ready


def test_store_swaps_whole_states():
    store = MetricsStore()
    before = store.state
    store.set_running(True)
    assert store.state is not before and before.running is False and store.state.running is True
    store.record_reload(False)
    assert store.state.counter("config_reloads") == {("success",): 0.0, ("failure",): 1.0}
    assert before.counter("config_reloads") == {("success",): 0.0, ("failure",): 0.0}
