"""One scheduled audit: run it, turn it into metrics state, write its log line.

Outcomes: ``success`` (every collector answered), ``incomplete`` (some AWS call failed after
retries: the snapshot has errors and the rules on those types report ``error``), ``failed``
(the audit raised anything, e.g. AuditSetupError for missing credentials, a damaged state file,
a bug). None of them stops the daemon: :meth:`AuditRunner.__call__` never raises into APScheduler.

A failed audit is counted with the labels of its target as last seen: the account, region and
environment of the last evaluated audit of the same architecture, region, configured environment
and profile (this runner's memory, else what the state file kept from an earlier process), else
what is known (the account if STS answered, the configured region and environment; with
``targets``, the target's own account and region), so
``auditor_audit_runs_total{outcome="failed"}`` lands on the same series as the target's
successful runs, across restarts too.

A state file found damaged (moved aside, a new one started) or empty counts in
``auditor_state_recoveries_total{reason}``.

Shutdown sets :attr:`AuditRunner.cancel`: collectors not yet started are skipped, and an AWS
call about to be sent raises :class:`AuditCancelled` (a botocore ``before-send`` hook on this
audit's own session), so the audit in flight ends within moments; it is not counted as a run.

State and notifications (:class:`auditor.notify.runtime.Runtime`): the audit computes its changes against the
stored snapshot (:meth:`Runtime.previous_snapshot`) before its result is built; after the log line, the
news is queued for each enabled channel, the snapshot saved and each channel's outbox delivered (the
first run of the process first sends what is still queued).

Many targets (``targets`` in the config): each run resolves the accounts x regions once
(:func:`auditor.targets.resolve`; a failure there, e.g. Organizations denied, is a failed run
counted without account and region) and audits them at most ``targets.max_concurrent`` at once,
each in isolation: its own session (the role assumed) and AwsContext with the cancel hook, its own
outcome, log line, metrics (keyed by account/region), state rows and notifications. A target's
failure is its own. The targets of an earlier config that this run does not audit stop being
exported. Without ``targets`` a run audits one target as it always did.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from ..audit import TargetSetupError, run_audit
from ..aws import AWS_ERRORS, AuditSetupError, AwsContext, is_aws_error, short_message
from ..collect import AuditCancelled
from ..cost.spend import SpendReader
from ..model import normalize_environment
from ..notify.channel import AuditInfo
from ..notify.runtime import Runtime
from ..results import AuditResult
from ..rules.engine import RuleSet
from ..state import StateError
from ..targets import Target, TargetsConfig, own_session, resolve, session_for
from .config import DaemonConfig
from .metrics import SINGLE_TARGET, AuditMetrics, AuditRecord, Labels, MetricsStore, common_labels

log = logging.getLogger("auditor.daemon.audit")

Current = Callable[[], tuple[DaemonConfig, RuleSet]]
AwsFactory = Callable[[DaemonConfig, threading.Event], AwsContext]
LabelKey = tuple[str | None, ...]   # architecture, region, environment, profile (, account with targets)


def _label_key(config: DaemonConfig, target: Target | None = None) -> LabelKey:
    environment = normalize_environment(config.environment)
    if target is None:
        return (config.architecture, config.region, environment, config.profile)
    return (config.architecture, target.region, environment, None, target.account)


def _remembered_key(key: LabelKey) -> str:
    return "labels:" + json.dumps(list(key))


def _cancel_hook(session: boto3.Session, cancel: threading.Event) -> None:
    """Make every AWS call of ``session`` about to be sent raise AuditCancelled once ``cancel`` is set."""
    def abort_if_cancelled(**_kwargs: Any) -> None:
        if cancel.is_set():
            raise AuditCancelled("shutting down")
    session.events.register("before-send", abort_if_cancelled)


def default_aws(config: DaemonConfig, cancel: threading.Event) -> AwsContext:
    """A fresh AwsContext per audit (fresh API counters; credentials from boto3's chain)."""
    aws = AwsContext(region=config.region, profile=config.profile, max_attempts=config.max_attempts)
    _cancel_hook(aws.session, cancel)
    return aws


def base_session(config: DaemonConfig) -> boto3.Session:
    """The session targets are resolved with and roles assumed from (boto3's chain, ``profile``)."""
    return boto3.Session(profile_name=config.profile, region_name=config.region)


def target_aws(config: DaemonConfig, target: Target, base: boto3.Session, cancel: threading.Event) -> AwsContext:
    """A fresh AwsContext for one target: a session of its own (the role assumed, refreshed before it
    expires; or the base credentials) in the target's region, with the cancel hook."""
    session = session_for(target, base) if target.role is not None else own_session(base, target.region)
    _cancel_hook(session, cancel)
    return AwsContext(region=target.region, max_attempts=config.max_attempts, session=session)


@dataclass(frozen=True)
class TargetFactories:
    """How a run with ``targets`` reaches AWS: the base session, then each target's AwsContext."""

    base: Callable[[DaemonConfig], boto3.Session] = base_session
    aws: Callable[[DaemonConfig, Target, boto3.Session, threading.Event], AwsContext] = target_aws


class AuditRunner:
    """The scheduler's job. Reads the current config and rules when each audit starts."""

    def __init__(self, store: MetricsStore, current: Current, clock: Callable[[], float] = time.time,
                 aws_factory: AwsFactory = default_aws, runtime: Runtime | None = None,
                 targets: TargetFactories | None = None):
        self.store = store
        self.cancel = threading.Event()
        self._current = current
        self._clock = clock
        self._aws_factory = aws_factory
        self._targets = targets or TargetFactories()
        self.runtime = runtime or Runtime(clock=lambda: datetime.fromtimestamp(self._clock(), UTC))
        self._delivered = False
        self._idle = threading.Event()
        self._idle.set()
        self._spend = SpendReader(clock=clock)   # Cost Explorer answers outlive one audit
        self._last_labels: dict[LabelKey, Labels] = {}   # labels of the last evaluated audit per target
        self._labels_lock = threading.Lock()
        self._counted = False
        self._many = False   # the run in flight audits ``targets``
        self._opened: object = None   # the state store whose recovery, if any, is counted

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no audit is in flight; False if one still is after ``timeout``."""
        return self._idle.wait(timeout)

    def __call__(self) -> None:
        if self.cancel.is_set():
            return
        self._idle.clear()
        self._counted = False   # set once this audit is in auditor_audit_runs_total
        self.store.set_running(True)
        try:
            self._audit()
        except Exception as exc:  # noqa: BLE001 - last resort: nothing reaches APScheduler
            self._last_resort(exc)
        finally:
            self.store.set_running(False)
            self._idle.set()

    def _last_resort(self, exc: Exception) -> None:
        """Something outside the audits proper raised (reading the config, counting a failure):
        count the run as failed if it is not counted yet (with the last audit's labels; with targets,
        with none), log it."""
        if not self._counted:
            try:
                last = self.store.state.last_audit
                if self._many:
                    self.store.record_run_failed(common_labels(None, None, None, None))
                else:
                    labels = last.labels if last is not None else common_labels(None, None, None, None)
                    self.store.record_audit(AuditRecord(labels, self._clock(), 0.0, "failed"), None, None)
                self._counted = True
            except Exception:  # noqa: BLE001, S110 - the log line below still says it
                pass
        try:
            log.error(f"audit failed: {type(exc).__name__}: {short_message(str(exc))}", exc_info=exc,
                      extra={"event": "audit", "outcome": "failed",
                             "errors": [{"exception": type(exc).__name__, "message": short_message(str(exc))}]})
        except Exception:  # noqa: BLE001, S110 - logging itself failed; the daemon carries on
            pass

    def close(self) -> None:
        """Close the state file (at shutdown)."""
        self.runtime.close()

    def _state(self, config: DaemonConfig) -> None:
        """Open the state file and the notifier the settings name; send what is still queued."""
        try:
            self.runtime.configure(config.state, *config.channels)
        except Exception as exc:  # noqa: BLE001 - StateError, sqlite3.Error, OSError, ...: audit anyway
            expected = isinstance(exc, StateError)
            log.error(f"state: {'' if expected else type(exc).__name__ + ': '}{exc}; "
                      "auditing without state (no changes, no notifications)",
                      exc_info=None if expected else exc, extra={"event": "state"})
            try:
                self.runtime.close()   # no half-open state file
            except Exception:  # noqa: BLE001, S110
                pass
            return
        self._count_recovery()
        if not self._delivered:   # the process's first pass: whatever an earlier run left queued
            self._delivered = True
            self._delivery_stats(self.runtime.deliver(cancel=self.cancel))

    def _count_recovery(self) -> None:
        """Once per opened state store: was it found damaged (moved aside) or empty?"""
        store = self.runtime.store
        if store is None or store is self._opened:
            return
        self._opened = store
        if store.recovered_from is not None:
            self.store.record_state_recovery("damaged")
        elif store.was_empty:
            self.store.record_state_recovery("empty")

    def _delivery_stats(self, stats: Any) -> None:
        for channel, s in (stats or {}).items():
            self.store.record_notifications(channel, s.sent, s.failed, s.pending)

    def _audit(self) -> None:
        config, ruleset = self._current()
        self._many = config.targets is not None
        if config.targets is not None:
            self._audit_targets(config, config.targets, ruleset)
            return
        self.store.retain([SINGLE_TARGET])   # the targets of an earlier config are no longer audited
        t0 = time.perf_counter()
        aws: AwsContext | None = None
        try:
            self._state(config)
            aws = self._aws_factory(config, self.cancel)
            self._spend.max_age = config.cost.actual_refresh_seconds
            result = run_audit(config.audit_options(), ruleset, aws=aws, cancel=self.cancel,
                               spend=self._spend if config.cost.actual_spend else None,
                               previous=self.runtime.previous_snapshot)
        except AuditCancelled:
            self._abandoned(t0)
            return
        except Exception as exc:  # noqa: BLE001 - any failure is an outcome, never the daemon's end
            self._failed(config, aws, exc, time.perf_counter() - t0)
            return
        self._judged(config, ruleset, result, aws, time.perf_counter() - t0)

    def _judged(self, config: DaemonConfig, ruleset: RuleSet, result: AuditResult, aws: AwsContext | None,
                seconds: float, target: Target | None = None) -> None:
        try:
            metrics, record = self._evaluated(config, ruleset, result, seconds, target)
        except Exception as exc:  # noqa: BLE001 - e.g. the results could not become metrics
            self._failed(config, aws, exc, seconds, target)
            return
        self._finished(result, metrics, record)

    def _abandoned(self, t0: float, target: Target | None = None) -> None:
        where = {"account": target.account, "region": target.region} if target is not None else {}
        log.warning("audit abandoned: the daemon is stopping", extra={
            "event": "audit", "outcome": "abandoned", "duration_seconds": round(time.perf_counter() - t0, 3), **where})

    def _audit_targets(self, config: DaemonConfig, settings: TargetsConfig, ruleset: RuleSet) -> None:
        """Resolve the targets (once per run), then audit each, ``settings.max_concurrent`` at once."""
        t0 = time.perf_counter()
        try:
            self._state(config)
            base = self._targets.base(config)
            _cancel_hook(base, self.cancel)
            targets = resolve(settings, base, default_region=config.region)
        except AuditCancelled:
            self._abandoned(t0)
            return
        except Exception as exc:  # noqa: BLE001 - e.g. Organizations denied: this run fails, the daemon goes on
            self._run_failed(config, exc, time.perf_counter() - t0)
            return
        self.store.retain([t.key for t in targets])   # a target no longer configured stops being exported
        self._spend.max_age = config.cost.actual_refresh_seconds
        log.info(f"auditing {len(targets)} target(s)", extra={
            "event": "targets", "targets": [t.key for t in targets], "shard": settings.shard,
            "max_concurrent": settings.max_concurrent})
        with ThreadPoolExecutor(max_workers=settings.max_concurrent, thread_name_prefix="target") as pool:
            list(pool.map(lambda t: self._audit_target(config, ruleset, t, base), targets))
        self._counted = True   # each target counted its own (a shard with nothing in it: nothing to count)

    def _audit_target(self, config: DaemonConfig, ruleset: RuleSet, target: Target, base: boto3.Session) -> None:
        """One target's audit, in isolation: whatever happens is its own outcome."""
        if self.cancel.is_set():
            return
        t0 = time.perf_counter()
        aws: AwsContext | None = None
        try:
            aws = self._targets.aws(config, target, base, self.cancel)
            if target.role is not None:   # the role first: its refusal named as such
                try:
                    aws.session.get_credentials().get_frozen_credentials()
                except AWS_ERRORS as exc:
                    raise TargetSetupError(f"cannot assume {target.role.role_arn}", "sts:AssumeRole", exc,
                                           target.region) from exc
            result = run_audit(config.audit_options(), ruleset, aws=aws, cancel=self.cancel,
                               spend=self._spend if config.cost.actual_spend else None,
                               previous=self.runtime.previous_snapshot)
        except AuditCancelled:
            self._abandoned(t0, target)
            return
        except Exception as exc:  # noqa: BLE001 - this target's failure, never another's
            try:
                self._failed(config, aws, exc, time.perf_counter() - t0, target)
            except Exception as again:  # noqa: BLE001 - counting it failed: say so, the other targets go on
                log.error(f"audit of {target.key}: cannot record its failure: {type(again).__name__}: {again}",
                          exc_info=again, extra={"event": "audit", "account": target.account, "region": target.region})
            return
        self._judged(config, ruleset, result, aws, time.perf_counter() - t0, target)

    def _run_failed(self, config: DaemonConfig, exc: Exception, seconds: float) -> None:
        """A run with targets that failed before auditing any (their list could not be resolved)."""
        labels = common_labels(None, None, config.architecture, normalize_environment(config.environment))
        self.store.record_run_failed(labels)
        self._counted = True
        expected = isinstance(exc, AuditSetupError) or is_aws_error(exc)
        message = short_message(str(exc), 1000)
        log.error(f"audit failed: cannot resolve the targets: {type(exc).__name__}: {message}",
                  exc_info=None if expected else exc,
                  extra={"event": "audit", "outcome": "failed", "duration_seconds": round(seconds, 3),
                         "account": "", "region": "", "architecture": labels[2], "environment": labels[3],
                         "errors": [{"exception": type(exc).__name__, "message": message}]})

    def _evaluated(self, config: DaemonConfig, ruleset: RuleSet, result: AuditResult,
                   seconds: float, target: Target | None = None) -> tuple[AuditMetrics, AuditRecord]:
        """Turn an audit that evaluated the rules into metrics and count it (once)."""
        now = self._clock()
        outcome = "success" if result.complete else "incomplete"
        metrics = AuditMetrics.from_result(result, ruleset, config.metrics.max_finding_series, now)
        record = AuditRecord(metrics.labels, now, round(seconds, 3), outcome)
        self.store.record_audit(record, metrics, result.api_stats, target.key if target else SINGLE_TARGET)
        self._counted = True
        self._remember_labels(_label_key(config, target), metrics.labels)
        return metrics, record

    def _remember_labels(self, key: LabelKey, labels: Labels) -> None:
        with self._labels_lock:
            self._last_labels[key] = labels
        store = self.runtime.store
        if store is None:
            return
        try:
            store.remember(_remembered_key(key), json.dumps(list(labels)))
        except Exception as exc:  # noqa: BLE001 - a label hint is not worth an audit
            log.error(f"state: cannot keep the audit's labels: {type(exc).__name__}: {exc}", extra={"event": "state"})

    def _known_labels(self, key: LabelKey) -> Labels:
        """The labels of the target's last evaluated audit: this process's, else the state file's."""
        known = self._last_labels.get(key)
        if known is not None:
            return known
        store = self.runtime.store
        try:
            kept = store.remembered(_remembered_key(key)) if store is not None else None
            labels = tuple(json.loads(kept)) if kept else ()
        except Exception:  # noqa: BLE001 - unreadable: nothing known
            labels = ()
        if len(labels) == 4 and all(isinstance(v, str) for v in labels):
            with self._labels_lock:
                self._last_labels[key] = labels
            return labels
        return ("", "", "", "")

    def _finished(self, result: AuditResult, metrics: AuditMetrics, record: AuditRecord) -> None:
        """The log line, then the state file and notifications (whose trouble is logged, never raised)."""
        outcome = record.outcome
        counts = dict(metrics.counts)
        failing: dict[str, int] = {}
        for f in result.findings:
            if f.status == "fail":
                failing[f.rule_id] = failing.get(f.rule_id, 0) + 1
        log.log(logging.INFO if outcome == "success" else logging.WARNING,
                f"audit {outcome}: {counts['pass']} pass, {counts['fail']} fail, {counts['error']} error "
                f"in {record.duration_seconds:.2f} s",
                extra={"event": "audit", "outcome": outcome, "duration_seconds": record.duration_seconds,
                       "account": result.account, "region": result.region,
                       "architecture": result.architecture, "environment": result.environment,
                       "pass": counts["pass"], "fail": counts["fail"], "error": counts["error"],
                       "waived": counts["waived"],
                       "resources": len(result.snapshot), "failing_rules": failing,
                       "failing_series_dropped": metrics.dropped,
                       "api_calls": sum(result.api_stats.calls.values()),
                       "errors": [e.as_dict() for e in result.errors],
                       "monthly_cost_usd": {c.key: c.estimate.total_usd for c in result.costs}})
        for cost in result.costs:
            if cost.actual_error:
                log.warning(f"actual spend of {cost.key} unavailable: {cost.actual_error}",
                            extra={"event": "cost", "deployment": cost.key})
        try:
            self._delivery_stats(self.runtime.finish(result, cancel=self.cancel))
        except Exception as exc:  # noqa: BLE001 - the audit is counted; the state file must not undo it
            log.error(f"state: cannot record the audit: {type(exc).__name__}: {exc}", exc_info=exc,
                      extra={"event": "state"})

    def failed_labels(self, config: DaemonConfig, aws: AwsContext | None, target: Target | None = None) -> Labels:
        """The labels of a failed audit: those of the target's last evaluated audit where known
        (with ``target``: its account and region, whatever is known)."""
        known = self._known_labels(_label_key(config, target))
        environment = normalize_environment(config.environment) or known[3]
        if target is not None:
            return common_labels(target.account, target.region, config.architecture, environment)
        seen = getattr(aws, "_account", None) if aws is not None else None
        if seen and known[0] and seen != known[0]:   # another account now: nothing known of it
            known = ("", "", "", "")
            environment = normalize_environment(config.environment)
        account = seen or known[0]
        region = (aws.region if aws is not None else None) or config.region or known[1]
        return common_labels(account, region, config.architecture, environment)

    def _failed(self, config: DaemonConfig, aws: AwsContext | None, exc: Exception, seconds: float,
                target: Target | None = None) -> None:
        now = self._clock()
        labels = self.failed_labels(config, aws, target)
        record = AuditRecord(labels, now, round(seconds, 3), "failed")
        self.store.record_audit(record, None, aws.stats if aws is not None else None,
                                target.key if target else SINGLE_TARGET)
        self._counted = True
        expected = isinstance(exc, AuditSetupError) or is_aws_error(exc)   # no traceback
        message = short_message(str(exc), 1000)
        where = f" of {target.key}" if target is not None else ""
        log.error(f"audit failed{where}: {type(exc).__name__}: {message}",
                  exc_info=None if expected else exc,
                  extra={"event": "audit", "outcome": "failed", "duration_seconds": record.duration_seconds,
                         "account": labels[0], "region": labels[1], "architecture": labels[2],
                         "environment": labels[3], "pass": 0, "fail": 0, "error": 0,
                         "errors": [{"exception": type(exc).__name__, "message": message}]})
        audit = AuditInfo(config.architecture, labels[3] or None, labels[0] or None, labels[1] or None,
                          datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))
        try:
            self._delivery_stats(self.runtime.failed(exc, audit, cancel=self.cancel))
        except Exception as notice:  # noqa: BLE001 - the failure is counted and logged already
            log.error(f"notify: cannot queue the failure notice: {type(notice).__name__}: {notice}",
                      extra={"event": "notify"})
