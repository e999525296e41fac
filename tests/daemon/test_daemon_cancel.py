"""Cancelling an audit in flight (shutdown): collect() stops between collectors and abandons the
running ones; the daemon's botocore hook stops the next AWS call. Without ``cancel`` nothing changes."""
from __future__ import annotations

import threading
import time

import pytest
from daemon_helpers import make_config

from auditor.collect import REGISTRY, AuditCancelled, Collector, collect
from auditor.daemon.runner import default_aws


@pytest.fixture
def slow_collectors(monkeypatch):
    """Two fake collectors: one that blocks until released, one that records that it ran."""
    release, started, ran = threading.Event(), threading.Event(), []

    def blocking(ctx):
        started.set()
        release.wait(10)
        return []

    def quick(ctx):
        ran.append("quick")
        return []
    monkeypatch.setitem(REGISTRY, "fake.blocking", Collector("fake.blocking", "fake", ("fake_a",), blocking))
    monkeypatch.setitem(REGISTRY, "fake.quick", Collector("fake.quick", "fake", ("fake_b",), quick))
    yield started, release, ran
    release.set()


def test_cancel_before_start_runs_no_collector(aws, slow_collectors):
    _, _, ran = slow_collectors
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(AuditCancelled):
        collect(aws, only_types={"fake_b"}, cancel=cancel)
    assert ran == []


def test_cancel_abandons_a_collector_in_flight(aws, slow_collectors):
    started, release, _ = slow_collectors
    cancel = threading.Event()
    raised: list[BaseException] = []

    def audit():
        try:
            collect(aws, only_types={"fake_a"}, workers=1, cancel=cancel)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            raised.append(exc)
    thread = threading.Thread(target=audit)
    thread.start()
    assert started.wait(5)
    t0 = time.monotonic()
    cancel.set()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - t0 < 1.0   # did not wait for the collector
    assert isinstance(raised[0], AuditCancelled)
    release.set()


def test_without_cancel_the_results_are_the_same(aws, slow_collectors):
    _, release, ran = slow_collectors
    release.set()
    plain = collect(aws, only_types={"fake_a", "fake_b", "vpc"})
    with_event = collect(aws, only_types={"fake_a", "fake_b", "vpc"}, cancel=threading.Event())
    assert [r.id for r in plain] == [r.id for r in with_event] and len(plain) >= 1
    assert plain.errors == with_event.errors == ()
    assert set(plain.collector_seconds) == set(with_event.collector_seconds) == {"fake.blocking", "fake.quick", "ec2.vpcs"}
    assert ran == ["quick", "quick"]


def test_daemon_hook_stops_the_next_aws_call(aws):
    cancel = threading.Event()
    ctx = default_aws(make_config(region="us-east-1"), cancel)
    ctx.client("ec2").describe_vpcs()   # not cancelled: calls go through
    cancel.set()
    with pytest.raises(AuditCancelled):
        ctx.client("ec2").describe_vpcs()
