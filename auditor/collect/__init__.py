"""Collectors: one module per AWS service, each function registered for the resource types it yields.

A collector is ``fn(ctx: CollectContext) -> Iterable[Resource]``. It is registered with
:func:`collector` and the descriptions of the resource types it yields
(:class:`~auditor.collect.types.ResourceType`, declared beside it): their service, ARN pattern, the
operations the collector calls (:mod:`auditor.iam` builds the least-privilege policy from them),
attributes (rule keys are checked against them, see :mod:`auditor.attributes`), volatile attributes,
CloudWatch dimensions, membership edges and cost label. A collector's failure turns into ``error``
findings for exactly the rules that need its types. docs/adding-a-resource-type.md walks through
adding a type.

A fault stays with its resource: the calls that list a type fail the whole collector (nothing of
its types is known), but a call about one resource runs through :meth:`CollectContext.item`: its
failure leaves that resource's attributes the call reads unknown (``Resource.unknown``, and a
:class:`~auditor.model.CollectorError` naming the resource), and an answer that the resource is gone
(deleted between the list call and this one) drops it, counted in ``Snapshot.vanished``.
"""
from __future__ import annotations

import copy
import importlib
import logging
import pkgutil
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..attributes import IDENTITY, Shape
from ..aws import AwsContext, classify, error_code, error_message, is_aws_error
from ..model import CollectorError, Resource, Snapshot, normalize_environment
from .types import ResourceType


@dataclass(frozen=True)
class Collector:
    name: str
    service: str
    produces: tuple[str, ...]
    fn: Callable[[CollectContext], Iterable[Resource]]


REGISTRY: dict[str, Collector] = {}
TYPES: dict[str, ResourceType] = {}
RESERVED_KEYS = frozenset(IDENTITY)
T = TypeVar("T")
log = logging.getLogger(__name__)


def collector(*types: ResourceType):
    """Register a collector function with the descriptions of the resource types it yields (one service's)."""
    services = {t.service for t in types}
    if len(services) != 1:
        raise ValueError(f"a collector yields types of one service, not {sorted(services)}")

    def decorate(fn):
        name = f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"
        REGISTRY[name] = Collector(name, services.pop(), tuple(t.name for t in types), fn)
        TYPES.update((t.name, t) for t in types)
        return fn
    return decorate


def load_all() -> dict[str, Collector]:
    """Import every collector module so that their decorators register them."""
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    return REGISTRY


def selected(only_types: set[str] | None = None) -> list[Collector]:
    """The collectors an audit runs: all of them, or those producing one of ``only_types``."""
    return [c for c in load_all().values() if only_types is None or only_types.intersection(c.produces)]


def resource_types() -> dict[str, ResourceType]:
    """The description of every collected type, by name."""
    load_all()
    return dict(sorted(TYPES.items()))


def volatile_keys(rtype: str | None = None) -> frozenset[str]:
    """Attributes that change without anyone changing the configuration (timestamps, counts of
    running tasks, alarm states): those of ``rtype``'s description, or of every type (for None or
    a type no collector yields)."""
    types = resource_types()
    chosen = [types[rtype]] if rtype in types else types.values()
    return frozenset(k for t in chosen for k in t.volatile)


def attribute_shapes() -> dict[str, Shape]:
    """Each collected type's attributes."""
    return {name: t.attributes for name, t in resource_types().items()}


def transient_types() -> frozenset[str]:
    """Resource types that AWS creates and deletes on its own (a Fargate task's network interface
    lives as long as the task). They serve relations, never change detection."""
    return frozenset(name for name, t in resource_types().items() if t.transient)


class Vanished(Exception):
    """A call about one resource answered that the resource no longer exists."""


class Item:
    """One resource being collected (see :meth:`CollectContext.item`)."""

    def __init__(self, ctx: CollectContext, service: str, rtype: str, rid: str, gone: Iterable[str]):
        self.ctx, self.service, self.type, self.id = ctx, service, rtype, rid
        self.gone = frozenset(gone)
        self.unknown: dict[str, str] = {}

    def call(self, attributes: Iterable[str], fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``fn(*args, **kwargs)``, a call about this resource. On an AWS error: raise
        :class:`Vanished` for a code of ``gone``, else leave ``attributes`` unknown and return None."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not is_aws_error(exc):
                raise
            self._failed(tuple(attributes), exc)
            return None

    def _failed(self, attributes: tuple[str, ...], exc: Exception) -> None:
        code = error_code(exc)
        op = getattr(exc, "operation_name", None) or getattr(self.ctx.aws, "last_operation", lambda: None)() or "unknown"
        if code in self.gone:
            log.debug("%s %s vanished during the audit: %s:%s answered %s", self.type, self.id, self.service, op, code)
            raise Vanished(code) from exc
        err = CollectorError(self.service, op, code, error_message(exc), (self.type,),
                             classify(exc, self.ctx.region), self.id, attributes)
        self.ctx.faults.append(err)
        self.unknown.update(dict.fromkeys(attributes, err.reason))

    def resource(self, **fields: Any) -> Resource:
        """The resource (see :meth:`CollectContext.resource`) with the attributes left unknown."""
        return self.ctx.resource(self.type, self.id, unknown=self.unknown, **fields)


def remember(cache: dict[Hashable, Any], key: Hashable, fetch: Callable[[], T]) -> T:
    """``fetch()`` once per key, its AWS error included (raised again to every later caller):
    a lookup several resources share (a parameter group) is read, or fails, once."""
    if key not in cache:
        try:
            cache[key] = (fetch(), None)
        except Exception as exc:
            if not is_aws_error(exc):
                raise
            cache[key] = (None, exc)
    value, exc = cache[key]
    if exc is not None:
        raise exc
    return value


class CollectContext:
    """What a collector needs: clients, paging, identity and how to read the environment tag.

    ``faults`` (per-resource errors) and ``vanished`` (dropped resources by type) are those of one
    collector: :func:`collect` gives each its own context (:meth:`fork`)."""

    def __init__(self, aws: AwsContext, account: str, environment_tag: str = "Environment",
                 environment: str | None = None):
        self.aws = aws
        self.account = account
        self.region = aws.region
        self.environment_tag = environment_tag
        self.environment_override = normalize_environment(environment)
        self.faults: list[CollectorError] = []
        self.vanished: Counter[str] = Counter()
        self._shared: dict[str, Any] = {}
        self._shared_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def fork(self) -> CollectContext:
        """A context for one collector: the same clients and shared reads, its own faults."""
        child = copy.copy(self)
        child.faults, child.vanished = [], Counter()
        return child

    @contextmanager
    def item(self, service: str, rtype: str, rid: str, gone: Iterable[str] = ()) -> Iterator[Item]:
        """Collect one resource whose per-resource calls go through ``Item.call``; when one answers
        a code of ``gone`` (the resource was deleted meanwhile) the block ends and the resource is
        dropped, counted in ``vanished``."""
        try:
            yield Item(self, service, rtype, rid, gone)
        except Vanished:
            self.vanish(rtype)

    def vanish(self, rtype: str, count: int = 1) -> None:
        """Count resources of ``rtype`` deleted between the call that listed them and one about them."""
        if count:
            self.vanished[rtype] += count

    def shared(self, key: str, fetch: Callable[[], Any]) -> Any:
        """Read once per audit what several collectors need (e.g. the ECS services list), as
        :func:`remember` does: concurrent callers wait for the first, and an AWS error is raised
        again to each later caller, so each collector records it as its own."""
        with self._lock:
            lock = self._shared_locks.setdefault(key, threading.Lock())
        with lock:
            return remember(self._shared, key, fetch)

    def client(self, service: str):
        return self.aws.client(service)

    def paginate(self, service: str, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
        """Every item under ``key`` across all pages of ``operation``."""
        paginator = self.client(service).get_paginator(operation)
        for page in paginator.paginate(**kwargs):
            yield from page.get(key, [])

    def environment_of(self, tags: Mapping[str, str]) -> str | None:
        if self.environment_override:
            return self.environment_override
        for k, v in tags.items():
            if k.lower() == self.environment_tag.lower():
                return normalize_environment(v)
        return None

    def resource(self, rtype: str, rid: str, *, arn: str | None = None, name: str | None = None,
                 tags: Mapping[str, str] | None = None, unknown: Mapping[str, str] | None = None,
                 **attributes: Any) -> Resource:
        """A resource; ``unknown`` names the attributes that could not be read (unknown tags make
        the environment unknown too, unless it is given for the whole audit)."""
        clash = RESERVED_KEYS.intersection(attributes)
        if clash:
            raise ValueError(f"{rtype} attributes {sorted(clash)} clash with the identity fields")
        tags = dict(tags or {})
        unknown = dict(unknown or {})
        if "tags" in unknown and not self.environment_override:
            unknown.setdefault("environment", unknown["tags"])
        return Resource(type=rtype, id=rid, arn=arn, name=name, account=self.account,
                        region=self.region, tags=tags, environment=self.environment_of(tags),
                        attributes=attributes, unknown=unknown)


def tag_dict(tags: Iterable[Mapping[str, str]] | Mapping[str, str] | None) -> dict[str, str]:
    """AWS tag lists come as [{Key, Value}] or [{key, value}]; return a plain dict."""
    if not tags:
        return {}
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    out = {}
    for t in tags:
        k = t.get("Key", t.get("key"))
        if k is not None:
            out[str(k)] = str(t.get("Value", t.get("value", "")))
    return out


def isoformat(value: Any) -> str | None:
    """A datetime from boto3 as an ISO 8601 string (None stays None)."""
    return value.isoformat() if hasattr(value, "isoformat") else value


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_dict(value: Any) -> Any:
    """Recursively convert AWS CamelCase keys to snake_case."""
    if isinstance(value, dict):
        return {_CAMEL_BOUNDARY.sub("_", k).lower(): snake_dict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_dict(v) for v in value]
    return value


def chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


ProgressFn = Callable[[Collector, int, int], None]


class AuditCancelled(Exception):
    """The audit was asked to stop (``cancel`` set) before its collectors finished."""


# How often a cancellable collection looks at its ``cancel`` event while collectors run.
CANCEL_POLL_SECONDS = 0.1


def collect(aws: AwsContext, *, environment_tag: str = "Environment", environment: str | None = None,
            only_types: set[str] | None = None, workers: int = 8,
            progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> Snapshot:
    """Run the collectors (all, or those producing ``only_types``) and build the snapshot.

    With ``cancel``: once it is set, collectors not yet started are skipped, the ones running are
    abandoned (their threads end on their own) and :class:`AuditCancelled` is raised.
    """
    from ..relations import derive

    started = datetime.now(UTC).isoformat(timespec="seconds")
    ctx = CollectContext(aws, aws.account, environment_tag, environment)
    wanted = selected(only_types)
    resources: list[Resource] = []
    errors: list[CollectorError] = []
    vanished: Counter[str] = Counter()
    durations: dict[str, float] = {}

    def cancelled() -> bool:
        return cancel is not None and cancel.is_set()

    def run(c: Collector) -> tuple[Collector, list[Resource], list[CollectorError], Counter[str], float]:
        if cancelled():
            raise AuditCancelled(f"collector {c.name} not started")
        t0 = time.perf_counter()
        own = ctx.fork()
        last_operation = getattr(aws, "last_operation", lambda: None)
        if hasattr(aws, "forget_last_operation"):
            aws.forget_last_operation()
        try:
            return c, list(c.fn(own)), own.faults, own.vanished, time.perf_counter() - t0
        except AuditCancelled:
            raise
        except Exception as exc:
            # Any failure of an AWS call (AWS's error answers, botocore's own failures, answers
            # botocore cannot parse such as a proxy's HTML page) outside a per-resource call is this
            # collector's error: the rules on its types report ``error``. Anything else is a bug.
            if not is_aws_error(exc):
                raise
            op = getattr(exc, "operation_name", None) or last_operation() or "unknown"
            err = CollectorError(c.service, op, error_code(exc), error_message(exc), c.produces,
                                 classify(exc, aws.region))
            return c, [], [err], Counter(), time.perf_counter() - t0

    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    abandon = False
    try:
        order = {pool.submit(run, c): i for i, c in enumerate(wanted)}
        pending = set(order)
        done_count = 0
        while pending:
            finished, pending = wait(pending, timeout=CANCEL_POLL_SECONDS if cancel else None,
                                     return_when=FIRST_COMPLETED)
            if cancelled():
                raise AuditCancelled("audit cancelled while collecting")
            for fut in sorted(finished, key=order.__getitem__):
                c, items, errs, gone, seconds = fut.result()
                done_count += 1
                durations[c.name] = seconds
                resources.extend(items)
                errors.extend(errs)
                vanished.update(gone)
                if progress:
                    progress(c, done_count, len(wanted))
    except AuditCancelled:
        abandon = True
        raise
    finally:
        pool.shutdown(wait=not abandon, cancel_futures=abandon)
    resources.sort(key=lambda r: (r.type, r.id))
    return Snapshot(ctx.account, ctx.region, derive(resources, errors), errors, collected_at=started,
                    collector_seconds=durations, vanished=vanished)
