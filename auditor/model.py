"""Normalized resources, the immutable snapshot that holds them, and findings."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[str, ...] = get_args(Severity)   # most severe first
STATUSES = ("pass", "fail", "error", "waived", "skip")
SKIP_NOTHING = "nothing"             # the rule found no resource to judge in the deployment
SKIP_OUT_OF_SCOPE = "out_of_scope"   # the rule's scope leaves out the deployment's environment

_ENVIRONMENT_ALIASES = {
    "prod": "production", "production": "production", "prd": "production",
    "stage": "staging", "staging": "staging", "stg": "staging",
    "dev": "development", "development": "development",
}


def truncate(value: object, limit: int) -> str:
    """``value`` as text of at most ``limit`` characters (an ellipsis marks a cut; None is empty)."""
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[:max(0, limit - 1)] + "…"


def normalize_environment(value: str | None) -> str | None:
    """Map common spellings (prod, stage, dev...) to production, staging, development."""
    if value is None or not str(value).strip():
        return None
    key = str(value).strip().lower()
    return _ENVIRONMENT_ALIASES.get(key, key)


class FrozenDict(dict):
    """A dict that refuses mutation, so JMESPath still sees a dict."""

    def _readonly(self, *_a: Any, **_k: Any) -> None:
        raise TypeError("snapshot data is immutable")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # pragma: no cover - identity hash is enough
        return id(self)


class FrozenList(list):
    """A list that refuses mutation, so JMESPath projections still work."""

    def _readonly(self, *_a: Any, **_k: Any) -> None:
        raise TypeError("snapshot data is immutable")

    __setitem__ = __delitem__ = append = extend = insert = pop = remove = clear = sort = reverse = _readonly  # type: ignore[assignment]
    __iadd__ = __imul__ = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # pragma: no cover
        return id(self)


def freeze(value: Any) -> Any:
    """Deep-copy JSON-like data into read-only containers."""
    if isinstance(value, Mapping):
        return FrozenDict({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return FrozenList(freeze(v) for v in items)
    return value


def thaw(value: Any) -> Any:
    """Plain dict/list copy of frozen data (for JSON output and tests)."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Resource:
    """One AWS resource as the auditor sees it.

    ``attributes`` come from the AWS API, normalized to snake_case. ``relations`` are
    derived from other resources in the snapshot (see :mod:`auditor.relations`).
    """

    type: str
    id: str
    account: str
    region: str
    arn: str | None = None
    name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    environment: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    relations: Mapping[str, Any] = field(default_factory=dict)
    unknown: Mapping[str, str] = field(default_factory=dict)
    """Attributes a per-resource call could not read (their value is None or empty), each with why:
    "logs:ListTagsForResource AccessDeniedException: ..."; rules reading them report ``error``."""

    @property
    def ref(self) -> dict[str, Any]:
        """The identity block that reports show for this resource."""
        return {"type": self.type, "id": self.id, "arn": self.arn, "name": self.name,
                "region": self.region, "account": self.account}

    def document(self) -> dict[str, Any]:
        """What rules query: identity, tags and environment, attributes and relations flat."""
        doc: dict[str, Any] = dict(self.ref)
        doc["tags"] = self.tags
        doc["environment"] = self.environment
        doc["deployment"] = None   # set when a rule judges the resource within a deployment
        doc.update(self.attributes)
        doc.update(self.relations)
        return doc


@dataclass(frozen=True)
class CollectorError:
    """An AWS call that failed (after botocore's retries). Without ``resource_id`` it left its
    resource types unknown (every rule on them reports ``error``); with it, only ``attributes`` of
    that one resource (of ``resource_types[0]``) are unknown."""

    service: str
    operation: str
    code: str
    message: str
    resource_types: tuple[str, ...]
    category: str = "other"   # see auditor.aws.classify
    resource_id: str | None = None
    attributes: tuple[str, ...] = ()

    @property
    def whole_type(self) -> bool:
        return self.resource_id is None

    @property
    def reason(self) -> str:
        """How a finding names the failure: "logs:ListTagsForResource AccessDeniedException: ..."."""
        return f"{self.service}:{self.operation} {self.code}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        resource = None if self.whole_type else {"type": self.resource_types[0], "id": self.resource_id}
        return {"service": self.service, "operation": self.operation, "code": self.code,
                "message": self.message, "category": self.category, "resource_types": list(self.resource_types),
                "resource": resource, "attributes": list(self.attributes)}


class Snapshot:
    """Every collected resource of one account and region, frozen, with relations derived."""

    def __init__(self, account: str, region: str, resources: Iterable[Resource],
                 errors: Iterable[CollectorError] = (), collected_at: str | None = None,
                 collector_seconds: Mapping[str, float] | None = None, vanished: Mapping[str, int] | None = None):
        self.account = account
        self.region = region
        self.collected_at = collected_at
        self.collector_seconds: Mapping[str, float] = dict(collector_seconds or {})
        self.errors: tuple[CollectorError, ...] = tuple(errors)
        self.vanished: Mapping[str, int] = dict(sorted((vanished or {}).items()))
        """Resources dropped by type: deleted between the list call and a call about them."""
        frozen = []
        for r in resources:
            object.__setattr__(r, "tags", freeze(r.tags))
            object.__setattr__(r, "attributes", freeze(r.attributes))
            object.__setattr__(r, "relations", freeze(r.relations))
            object.__setattr__(r, "unknown", freeze(r.unknown))
            frozen.append(r)
        self._resources: tuple[Resource, ...] = tuple(frozen)
        by_type: dict[str, list[Resource]] = {}
        for r in self._resources:
            by_type.setdefault(r.type, []).append(r)
        self._by_type = {t: tuple(rs) for t, rs in by_type.items()}
        self._by_id = {(r.type, r.id): r for r in self._resources}
        self._documents = {(r.type, r.id): freeze(r.document()) for r in self._resources}
        self._memo: dict[Any, Any] = {}
        self._memo_lock = threading.Lock()

    def with_resources(self, extra: Iterable[Resource]) -> Snapshot:
        """This snapshot plus resources derived from it (e.g. each deployment's cost estimate)."""
        return Snapshot(self.account, self.region, [*self._resources, *extra], self.errors,
                        collected_at=self.collected_at, collector_seconds=self.collector_seconds,
                        vanished=self.vanished)

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """A value derived from this snapshot (e.g. its deployments), computed once."""
        with self._memo_lock:
            if key not in self._memo:
                self._memo[key] = compute()
            return self._memo[key]

    def __iter__(self) -> Iterator[Resource]:
        return iter(self._resources)

    def __len__(self) -> int:
        return len(self._resources)

    def of_type(self, rtype: str) -> tuple[Resource, ...]:
        return self._by_type.get(rtype, ())

    def get(self, rtype: str, rid: str) -> Resource | None:
        return self._by_id.get((rtype, rid))

    def document(self, resource: Resource) -> Mapping[str, Any]:
        return self._documents[(resource.type, resource.id)]

    def failed_types(self) -> dict[str, list[CollectorError]]:
        """Resource types whose collection failed, with the errors that caused it (errors that
        left only some attributes of one resource unknown do not count)."""
        out: dict[str, list[CollectorError]] = {}
        for e in self.errors:
            for t in e.resource_types if e.whole_type else ():
                out.setdefault(t, []).append(e)
        return out

    def counts(self) -> dict[str, int]:
        return {t: len(rs) for t, rs in sorted(self._by_type.items())}


@dataclass(frozen=True)
class Finding:
    """The result of one rule on one resource."""

    rule_id: str
    title: str
    severity: str
    status: str
    resource: Mapping[str, Any]
    expected: Any
    actual: Any
    message: str
    doc: Mapping[str, Any] | None
    remediation: str | None
    pack: str | None = None
    waiver: Mapping[str, Any] | None = None
    """The waiver that accepted this failing finding (status ``waived``): rule_id, resource,
    reason, owner, expires (YYYY-MM-DD) and source (file:line). None unless waived."""
    deployment: str | None = None
    """The deployment the rule judged the resource in ("mattilda/production"), if any."""
    skip: str | None = None
    """Why a ``skip`` finding judged nothing: SKIP_NOTHING or SKIP_OUT_OF_SCOPE."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id, "title": self.title, "severity": self.severity,
            "status": self.status, "resource": dict(self.resource), "expected": self.expected,
            "actual": self.actual, "message": self.message,
            "doc": dict(self.doc) if self.doc else None, "remediation": self.remediation,
            "waiver": dict(self.waiver) if self.waiver else None,
            "deployment": self.deployment, "skip": self.skip,
        }
