"""When audits run: APScheduler 3 (BackgroundScheduler) with an interval or crontab trigger.

The audit job runs at most once at a time (``max_instances=1``); runs missed while one is in
flight collapse into one (``coalesce=True``); each run is delayed by up to ``jitter_seconds`` so
that many daemons on the same schedule do not call AWS at the same instant. The first audit runs
as soon as the scheduler starts.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

if TYPE_CHECKING:
    from .config import ScheduleConfig

JOB_ID = "audit"

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_TOKEN = re.compile(r"^(\*|[a-z]{3}|\d+)(?:-([a-z]{3}|\d+))?(?:/(\d+))?$")


def _weekday(token: str) -> int:
    if token.isdigit():
        day = int(token)
        if not 0 <= day <= 7:
            raise ValueError(f"day of week {token} is not within 0-7")
        return day
    if token in _WEEKDAYS:
        return _WEEKDAYS.index(token)
    raise ValueError(f"unknown day of week {token!r}")


def _day_of_week(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday) in APScheduler 3's names (where 0 = Monday)."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        m = _DOW_TOKEN.match(part)
        if not m:
            raise ValueError(f"invalid day-of-week field {field!r}")
        start, end, step = m.group(1), m.group(2), int(m.group(3) or 1)
        if step < 1:
            raise ValueError(f"invalid step in day-of-week field {field!r}")
        if start == "*":
            lo, hi = 0, 6
        else:
            lo = _weekday(start)
            hi = _weekday(end) if end else (6 if m.group(3) else lo)
            if hi < lo:
                raise ValueError(f"day-of-week range {part!r} runs backwards")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_WEEKDAYS[d] for d in sorted(days, key=lambda d: (d - 1) % 7))   # Monday first


def parse_crontab(expr: str, tz: str = "UTC", jitter: float | None = None) -> CronTrigger:
    """A standard 5-field crontab expression as a CronTrigger; raises ValueError if invalid.

    APScheduler 3's ``from_crontab`` numbers weekdays from Monday; this keeps cron's meaning
    (``1-5`` is Monday to Friday).
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"a crontab expression has 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, dow = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_day_of_week(dow),
                       timezone=tz, jitter=jitter or None)


def build_trigger(schedule: ScheduleConfig, jitter: bool = True) -> BaseTrigger:
    j = schedule.jitter_seconds if jitter else None
    if schedule.cron:
        return parse_crontab(schedule.cron, schedule.timezone, j)
    return IntervalTrigger(seconds=schedule.interval_seconds, timezone=schedule.timezone, jitter=j or None)


def expected_gap(schedule: ScheduleConfig, now: datetime | None = None) -> float:
    """Seconds between audits: the interval, or for cron the gap between its next two fire times."""
    if not schedule.cron:
        return float(schedule.interval_seconds or 0)
    trigger = parse_crontab(schedule.cron, schedule.timezone)
    now = now or datetime.now(UTC)
    first = trigger.get_next_fire_time(None, now)
    if first is None:   # pragma: no cover - a 5-field crontab always fires again
        return 0.0
    second = trigger.get_next_fire_time(first, first + timedelta(microseconds=1))
    return (second - first).total_seconds() if second else 0.0


def readiness_window(schedule: ScheduleConfig, now: datetime | None = None) -> float:
    """How old the last audit may be for /readyz: two gaps between audits, plus the jitter."""
    return 2 * expected_gap(schedule, now) + schedule.jitter_seconds


class AuditScheduler:
    """The background scheduler that calls ``job`` on the configured schedule."""

    def __init__(self, job: Callable[[], None]):
        self._job = job
        self._scheduler = BackgroundScheduler(timezone=UTC)

    def start(self, schedule: ScheduleConfig) -> None:
        """Start, with the first audit due now."""
        self._scheduler.add_job(self._job, build_trigger(schedule), id=JOB_ID, name="audit",
                                max_instances=1, coalesce=True, misfire_grace_time=None,
                                next_run_time=datetime.now(UTC))
        self._scheduler.start()

    def reschedule(self, schedule: ScheduleConfig) -> None:
        self._scheduler.reschedule_job(JOB_ID, trigger=build_trigger(schedule))

    def run_soon(self) -> None:
        """Make the next audit due now (skipped if one is in flight: max_instances=1)."""
        self._scheduler.modify_job(JOB_ID, next_run_time=datetime.now(UTC))

    def next_run_time(self) -> datetime | None:
        job = self._scheduler.get_job(JOB_ID)
        return job.next_run_time if job else None

    def shutdown(self) -> None:
        """Stop scheduling; an audit in flight is not waited for (the runner is told to cancel)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
