"""Change drift: what changed in the account between the previous audit's snapshot and this one.

:func:`snapshot_state` turns a :class:`~auditor.model.Snapshot` into a plain, JSON-serializable
dict that the state store keeps between audits, one per account and region
(``StateStore.save_snapshot``), so each target is compared with its own last state. Each resource is
kept by ``"type/id"`` with its name, ARN, tags and attributes; relations (derived from other
resources), volatile attributes (each resource type description's ``volatile``: timestamps, counts
of running tasks, alarm states...) and transient types (``transient``: network interfaces, which
come and go with tasks) are left out, so two audits of an unchanged account give equal states.
The state also records the account, the region and the resource types that were collected
without error.

:func:`diff` compares two states:

- a resource only in the current state is ``added``, only in the previous one ``removed``;
- a resource in both whose name, ARN, tags or attributes differ is ``changed``, with one
  :class:`AttributeChange` per difference: nested dicts by dotted path (``tags.Owner``,
  ``deployment_configuration.circuit_breaker.enable``); lists where order means nothing
  (security-group rules, subnet ids, routes...) as sets, so a new security-group rule is one
  ``ingress[+]`` item and a revoked one one ``ingress[-]`` item; lists of records that carry an
  identity (containers by ``name``, routes by ``destination``, scaling policies by
  ``policy_name``...) item by item (``containers[web].image``); the few lists whose order is
  meaningful (a health check ``command``, listener ``certificate_arns``) as one value;
- only the resource types collected without error in both audits are compared, so a failed or
  newly added collector never shows its resources as removed or added;
- a change that replaces a resource (a new task definition revision) shows the old one removed
  and the new one added, and the added one carries its differences from the one it replaces
  (``containers[api].image``, ``revision``), when exactly one of that family was removed.

:func:`compare` gives an audit's ``changes`` and ``compared_to`` (:class:`~auditor.results.AuditResult`)
from the previous state, before the result is built (``None``: first audit, nothing to compare).
:func:`carry_forward` gives the state to save after an audit in which some collector failed:
the failed types keep their last known resources, so the next audit still compares them.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from .collect import REGISTRY, load_all, transient_types, volatile_keys
from .model import Snapshot, thaw
from .results import AttributeChange, ResourceChange
from .results import counts as counts

PreviousState = tuple[Mapping[str, Any], str | None] | Mapping[str, Any] | None
PreviousLookup = Callable[[str, str], PreviousState]
"""What ``StateStore.previous_snapshot(account, region)`` answers: ``(state, iso time)`` or None."""

log = logging.getLogger("auditor.changes")

STATE_VERSION = 1

# Records in a list are matched by the first of these keys that every item carries with a
# distinct scalar value (in both lists); other lists are compared as multisets.
IDENTITY_KEYS = ("name", "policy_name", "capacity_provider", "destination", "rule_arn", "log_type",
                 "priority", "id")
# Lists whose order is meaningful: compared as one value.
ORDERED_KEYS = frozenset({"command", "entry_point", "certificate_arns"})
# Types whose changes create a new resource that replaces the old one (a task definition
# revision): an added resource that replaces exactly one removed resource with the same value of
# this attribute carries its differences from that resource.
SUCCESSION = {"ecs_task_definition": "family"}


def _plain(value: Any) -> Any:
    """JSON round trip: exactly what the state store gives back (tuples become lists...)."""
    return json.loads(json.dumps(thaw(value), sort_keys=True, default=str))


def _volatile(rtype: str, cache: dict[str, frozenset[str]]) -> frozenset[str]:
    if rtype not in cache:
        cache[rtype] = volatile_keys(rtype)
    return cache[rtype]


def collected_types(snapshot: Snapshot) -> list[str] | None:
    """Resource types whose collectors ran in this snapshot and did not fail (None when the
    snapshot does not say which collectors ran, e.g. one built by hand: every type is compared)."""
    if not snapshot.collector_seconds:
        return None
    load_all()
    failed = set(snapshot.failed_types())
    ran = {t for name in snapshot.collector_seconds if name in REGISTRY for t in REGISTRY[name].produces}
    ran.update(snapshot.counts())
    return sorted(ran - failed)


def snapshot_state(snapshot: Snapshot) -> dict[str, Any]:
    """The normalized, JSON-serializable form of a snapshot that :func:`diff` compares.

    ``{"version": 1, "account", "region", "collected_at", "collected_types": [...], "failed_types": [...],
    "resources": {"type/id": {"type", "id", "name", "arn", "tags", "attributes"}}}``.
    """
    cache: dict[str, frozenset[str]] = {}
    resources: dict[str, Any] = {}
    transient = transient_types()
    for r in snapshot:
        if r.type in transient:
            continue
        volatile = _volatile(r.type, cache)
        resources[f"{r.type}/{r.id}"] = {
            "type": r.type, "id": r.id, "name": r.name, "arn": r.arn, "tags": _plain(r.tags),
            "attributes": _plain({k: v for k, v in r.attributes.items() if k not in volatile})}
        if r.unknown:   # attributes a per-resource call could not read: never a change
            resources[f"{r.type}/{r.id}"]["unknown"] = sorted(r.unknown)
    types = collected_types(snapshot)
    return {"version": STATE_VERSION, "account": snapshot.account, "region": snapshot.region,
            "collected_at": snapshot.collected_at,
            "collected_types": None if types is None else [t for t in types if t not in transient],
            "failed_types": sorted(snapshot.failed_types()),
            "resources": dict(sorted(resources.items()))}


def carry_forward(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> dict[str, Any]:
    """The state to save after an audit: ``current``, plus the resources of ``previous`` for the
    types whose collection failed this time (``failed_types``) but not then, so that the next
    audit compares those types with their last known state instead of skipping them; likewise the
    attributes one resource's failed call left unknown keep their last known value."""
    out = dict(current)
    if previous is None or "resources" not in previous:
        return out
    for field in ("account", "region"):
        if previous.get(field) != current.get(field):
            return out
    old, old_types = _resources(previous)
    out["resources"] = {k: _last_known(old.get(k), v) for k, v in current.get("resources", {}).items()}
    if current.get("collected_types") is None:
        return out
    if old_types is None:
        return out
    missing = old_types & set(current.get("failed_types") or ())
    if not missing:
        return out
    resources = dict(out["resources"])
    resources.update({k: v for k, v in old.items() if str(v.get("type")) in missing})
    out["resources"] = dict(sorted(resources.items()))
    out["collected_types"] = sorted(set(current["collected_types"]) | missing)
    return out


def _last_known(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> Mapping[str, Any]:
    """``after`` with the attributes (and tags) it could not read taken from ``before``: the audit that
    reads them again compares with the last value known. What ``before`` did not know stays unknown."""
    unknown = after.get("unknown")
    if not unknown or not isinstance(before, Mapping):
        return after
    attributes = dict(after.get("attributes") or {})
    attributes.update({k: v for k, v in (before.get("attributes") or {}).items() if k in unknown})
    tags = before.get("tags") if "tags" in unknown else after.get("tags")
    still = sorted(set(unknown) & set(before.get("unknown") or ()))
    return {k: v for k, v in {**after, "tags": tags, "attributes": attributes, "unknown": still}.items()
            if k != "unknown" or v}


def _resources(state: Mapping[str, Any]) -> tuple[Mapping[str, Any], set[str] | None]:
    """(resources by "type/id", collected types or None when unknown). A bare mapping of
    "type/id" -> resource is accepted too."""
    if "resources" in state and isinstance(state["resources"], Mapping):
        types = state.get("collected_types")
        return state["resources"], set(types) if types is not None else None
    return state, None


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _last_key(path: str) -> str:
    return path.rsplit(".", 1)[-1].split("[", 1)[0]


def _identity_key(before: list, after: list) -> str | None:
    items = before + after
    if not items or not all(isinstance(i, Mapping) for i in items):
        return None
    for key in IDENTITY_KEYS:
        ok = True
        for side in (before, after):
            values = [i.get(key) for i in side]
            if any(v is None or isinstance(v, (dict, list)) for v in values) or len(set(map(_canon, values))) != len(values):
                ok = False
                break
        if ok:
            return key
    return None


def _diff_list(path: str, before: list, after: list, out: list[AttributeChange]) -> None:
    key = _identity_key(before, after)
    if key is not None:
        old = {_canon(i[key]): i for i in before}
        new = {_canon(i[key]): i for i in after}
        for k in sorted(old.keys() - new.keys()):
            out.append(AttributeChange(f"{path}[-]", old[k], None))
        for k in sorted(old.keys() & new.keys()):
            ident = old[k][key]
            _diff_value(f"{path}[{ident}]", old[k], new[k], out)
        for k in sorted(new.keys() - old.keys()):
            out.append(AttributeChange(f"{path}[+]", None, new[k]))
        return
    old_c, new_c = Counter(map(_canon, before)), Counter(map(_canon, after))
    for c in sorted((old_c - new_c).elements()):
        out.append(AttributeChange(f"{path}[-]", json.loads(c), None))
    for c in sorted((new_c - old_c).elements()):
        out.append(AttributeChange(f"{path}[+]", None, json.loads(c)))


def _diff_value(path: str, before: Any, after: Any, out: list[AttributeChange]) -> None:
    if _canon(before) == _canon(after):
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for k in sorted(set(before) | set(after)):
            _diff_value(_join(path, str(k)), before.get(k), after.get(k), out)
    elif isinstance(before, list) and isinstance(after, list) and _last_key(path) not in ORDERED_KEYS:
        _diff_list(path, before, after, out)
    else:
        out.append(AttributeChange(path, before, after))


def _resource_changes(before: Mapping[str, Any], after: Mapping[str, Any],
                      volatile: frozenset[str], identity: bool = True) -> tuple[AttributeChange, ...]:
    out: list[AttributeChange] = []
    for field in ("name", "arn") if identity else ():
        _diff_value(field, before.get(field), after.get(field), out)
    unknown = {*(before.get("unknown") or ()), *(after.get("unknown") or ())}   # unread on either side
    if "tags" not in unknown:
        _diff_value("tags", before.get("tags") or {}, after.get("tags") or {}, out)
    skip = volatile | unknown
    old = {k: v for k, v in (before.get("attributes") or {}).items() if k not in skip}
    new = {k: v for k, v in (after.get("attributes") or {}).items() if k not in skip}
    _diff_value("", old, new, out)
    return tuple(out)


def diff(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[ResourceChange]:
    """Resources added, removed and changed from ``previous`` to ``current`` (two
    :func:`snapshot_state` results), sorted by type, id. ``previous=None`` gives []."""
    if previous is None:
        return []
    old, old_types = _resources(previous)
    new, new_types = _resources(current)
    known = [t for t in (old_types, new_types) if t is not None]
    comparable = set.intersection(*known) if known else None

    def compared(key: str, res: Mapping[str, Any]) -> bool:
        return comparable is None or str(res.get("type") or key.split("/", 1)[0]) in comparable

    cache: dict[str, frozenset[str]] = {}
    out: list[ResourceChange] = []
    # (type, family) -> (removed resources, (index in out, key) of added ones)
    lineage: dict[tuple[str, str], tuple[list[Mapping], list[tuple[int, str]]]] = {}
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        res = after if after is not None else before
        if not compared(key, res):
            continue
        rtype = str(res.get("type") or key.split("/", 1)[0])
        rid = str(res.get("id") or key.split("/", 1)[1])
        family = (res.get("attributes") or {}).get(SUCCESSION.get(rtype, ""))
        if before is None:
            if family is not None:
                lineage.setdefault((rtype, str(family)), ([], []))[1].append((len(out), key))
            out.append(ResourceChange("added", rtype, rid, after.get("name")))
        elif after is None:
            if family is not None:
                lineage.setdefault((rtype, str(family)), ([], []))[0].append(before)
            out.append(ResourceChange("removed", rtype, rid, before.get("name")))
        else:
            changes = _resource_changes(before, after, _volatile(rtype, cache))
            if changes:
                out.append(ResourceChange("changed", rtype, rid, after.get("name"), changes))
    for (rtype, _family), (removed, added) in lineage.items():
        if len(removed) == 1 and len(added) == 1:
            i, key = added[0]
            out[i] = replace(out[i], changes=_resource_changes(removed[0], new[key], _volatile(rtype, cache),
                                                               identity=False))
    out.sort(key=lambda c: (c.type, c.id))
    return out


def compare(snapshot: Snapshot, previous: PreviousState) -> tuple[list[ResourceChange] | None, str | None]:
    """``(changes, compared_to)`` of ``snapshot`` since ``previous`` (what ``StateStore.previous_snapshot``
    returns: ``(state, iso time)`` or None; a bare state is accepted too, its ``collected_at`` the time).
    With no previous state, or one of another account or region, nothing is compared: ``(None, None)``."""
    if previous is None:
        return None, None
    state, at = previous if isinstance(previous, tuple) else (previous, previous.get("collected_at"))
    if state is None:
        return None, None
    for field in ("account", "region"):
        theirs, ours = state.get(field), getattr(snapshot, field)
        if theirs is not None and theirs != ours:
            log.warning("previous snapshot is of %s %s, this audit of %s: changes not compared",
                        field, theirs, ours)
            return None, None
    return diff(state, snapshot_state(snapshot)), at
