"""Deployments: an architecture pack's resources in one environment, by relation, not only by tag.

A deployment starts from the resources its pack's selector matches (today: the ``Project``
tag) and takes in everything they own or use, transitively: the edges are declared once, per
owner type, in its description (``owns`` and ``contains`` of :class:`~auditor.collect.types.ResourceType`;
:data:`OWNS` and :data:`CONTAINS` here); a type with alarm dimensions also owns the alarms and
dashboards that watch it. Real teams tag the load balancer, cluster and database but leave
listeners, security groups and secrets untagged; those still belong to the deployment that
uses them. A member without its own environment takes its owner's.

Two kinds of edge: a *use* (a service names its security groups, a task definition its
secrets) is always followed; a *containment* (a VPC holds subnets and security groups) is
followed only into resources that carry no selector tag of their own, so a neighbour
application's resources in a shared VPC stay its own.
"""
from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .attributes import many, shape
from .collect import resource_types
from .collect.types import Edge as Declared
from .model import Resource, Snapshot
from .relations import ALARMED, parse_image, requires

log = logging.getLogger("auditor.deployments")

if TYPE_CHECKING:
    from .rules.engine import PackSelector

Key = tuple[str, str]
DERIVED = "deployment"
"""The type of resources the audit derives about a deployment (attributes ``pack``; its
``environment``): members of that deployment, whatever their tags."""
DERIVED_ATTRIBUTES = shape(
    "pack:str document:str monthly_usd:number complete:bool unpriced:[str] missing_types:[str] by_service:map "
    "biggest:[str] itemized_usd:number budget_verdict:over|within|unknown over_budget:[str] rows_over:[str] unitemized:[str]",
    budget=shape("monthly_usd:number tolerance:number limit_usd:number quote:str"),
    rows=many("item:str services:[str] documented_usd:number estimated_usd:number tolerance:number limit_usd:number "
              "within:bool quote:str note:str"))
"""The attributes of a ``deployment`` resource (set by :mod:`auditor.cost.deployment`, which says what they mean)."""


class _Lookup:
    """Resources of a snapshot by type, id and by the value of one attribute, built on demand."""

    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self._by_attr: dict[tuple[str, str], dict[Any, list[Resource]]] = {}

    def of(self, rtype: str) -> tuple[Resource, ...]:
        return self.snapshot.of_type(rtype)

    def get(self, rtype: str, rid: Any) -> list[Resource]:
        r = self.snapshot.get(rtype, str(rid)) if rid else None
        return [r] if r is not None else []

    def where(self, rtype: str, attribute: str, value: Any) -> list[Resource]:
        """Resources of ``rtype`` whose ``attribute`` equals ``value`` or, for a list, holds it."""
        index = self._by_attr.get((rtype, attribute))
        if index is None:
            index = defaultdict(list)
            for r in self.of(rtype):
                v = r.attributes.get(attribute)
                for item in (v if isinstance(v, list) else [v]):
                    if isinstance(item, (str, int)):
                        index[item].append(r)
            self._by_attr[(rtype, attribute)] = index
        return index.get(value, []) if value is not None else []


Edge = Callable[[Resource, _Lookup], Iterable[Resource]]


def _ids(rtype: str, attribute: str) -> Edge:
    """The ``rtype`` resources whose ids the owner lists in ``attribute``."""
    def edge(owner: Resource, look: _Lookup) -> Iterator[Resource]:
        value = owner.attributes.get(attribute)
        for rid in value if isinstance(value, list) else [value]:
            yield from look.get(rtype, rid)
    return edge


def _back(rtype: str, attribute: str) -> Edge:
    """The ``rtype`` resources whose ``attribute`` names the owner by id."""
    return lambda owner, look: look.where(rtype, attribute, owner.id)


def _alarms(owner: Resource, look: _Lookup) -> Iterator[Resource]:
    for alarm in owner.relations.get("alarms") or []:
        yield from look.get("cloudwatch_alarm", alarm.get("name"))


def _dashboards(owner: Resource, look: _Lookup) -> Iterator[Resource]:
    names = {str(v) for v in (owner.id, owner.name, owner.attributes.get("arn_suffix"),
                              owner.attributes.get("cluster_name")) if v}
    return (d for name in sorted(names) for d in look.where("cloudwatch_dashboard", "dimension_values", name))


def _security_groups(owner: Resource, look: _Lookup) -> Iterator[Resource]:
    a = owner.attributes
    for gid in a.get("security_group_ids") or a.get("vpc_security_group_ids") or \
            (a.get("network") or {}).get("security_group_ids") or []:
        yield from look.get("security_group", gid)


def _subnets(owner: Resource, look: _Lookup) -> Iterator[Resource]:
    for ref in owner.relations.get("subnets") or []:
        yield from look.get("subnet", ref.get("id"))


def _listener_target_groups(listener: Resource, look: _Lookup) -> Iterator[Resource]:
    for route in listener.relations.get("routes") or []:
        for tg in route.get("target_groups") or []:
            yield from look.get("target_group", tg.get("arn"))


def _containers(service: Resource) -> list[Mapping[str, Any]]:
    return (service.relations.get("task_definition") or {}).get("containers") or []


def _service_target_groups(service: Resource, look: _Lookup) -> Iterator[Resource]:
    for lb in service.attributes.get("load_balancers") or []:
        yield from look.get("target_group", lb.get("target_group_arn"))


def _scalable_targets(service: Resource, look: _Lookup) -> Iterator[Resource]:
    a = service.attributes
    yield from look.get("scalable_target", f"service/{a.get('cluster_name')}/{a.get('service_name')}")


def _log_groups(service: Resource, look: _Lookup) -> Iterator[Resource]:
    for c in _containers(service):
        options = (c.get("log_configuration") or {}).get("options") or {}
        yield from look.get("log_group", options.get("awslogs-group"))


_SECRET_SUFFIX = r"(-[A-Za-z0-9]{6})?(:|$)"


def secret_matches(value_from: str, secret: Resource) -> bool:
    """Whether a container's ``valueFrom`` (full or partial ARN, or a name, optionally with a
    JSON key, version stage or version id after it) names ``secret``."""
    if secret.arn and (value_from == secret.arn or value_from.startswith(secret.arn + ":")):
        return True
    ref = value_from.split(":secret:", 1)[1] if ":secret:" in value_from else value_from
    if value_from.startswith("arn:") and ":secretsmanager:" not in value_from:
        return False
    return re.match(re.escape(secret.id) + _SECRET_SUFFIX, ref) is not None


def _secrets(service: Resource, look: _Lookup) -> Iterator[Resource]:
    for ref in (s.get("value_from") for c in _containers(service) for s in c.get("secrets") or []):
        if not ref:
            continue
        name = (ref.split(":secret:", 1)[1] if ":secret:" in ref else ref).split(":", 1)[0]
        names = {name, name[:-7]} if re.search(r"-[A-Za-z0-9]{6}$", name) else {name}   # ARN's random suffix
        yield from (s for n in sorted(names) for s in look.get("secret", n) if secret_matches(ref, s))


def _repositories(service: Resource, look: _Lookup) -> Iterator[Resource]:
    for c in _containers(service):
        image = parse_image(c.get("image"), service.account, service.region)
        if image["same_account"] and image["same_region"]:
            yield from look.get("ecr_repository", image["repository"])


def _rds_log_groups(db: Resource, look: _Lookup) -> Iterator[Resource]:
    prefix = f"/aws/rds/instance/{db.id}/"
    return (g for g in look.of("log_group") if g.id.startswith(prefix))


def _cluster_services(cluster: Resource, look: _Lookup) -> list[Resource]:
    return look.where("ecs_service", "cluster_name", cluster.attributes.get("cluster_name") or cluster.id)


VIA: dict[str, Edge] = {
    "alarms": _alarms, "dashboards": _dashboards, "security_groups": _security_groups, "subnets": _subnets,
    "listener_target_groups": _listener_target_groups, "service_target_groups": _service_target_groups,
    "scalable_targets": _scalable_targets, "log_groups": _log_groups, "secrets": _secrets,
    "repositories": _repositories, "rds_log_groups": _rds_log_groups, "cluster_services": _cluster_services}
"""The edges a description names with ``via``: those that read relations or naming conventions."""
_WATCHED = (Declared("cloudwatch_alarm", via="alarms"), Declared("cloudwatch_dashboard", via="dashboards"))


def _edge(declared: Declared) -> Edge:
    """How to follow a declared edge."""
    if declared.via:
        return VIA[declared.via]
    return (_back if declared.back else _ids)(declared.type, str(declared.attribute))


def _declared() -> tuple[dict[str, tuple[Declared, ...]], dict[str, tuple[Declared, ...]]]:
    """Each type's declared ``owns`` (with the alarms and dashboards of an alarmed type) and ``contains``."""
    types = resource_types().values()
    owns = {t.name: (*t.owns, *(_WATCHED if t.name in ALARMED else ())) for t in types}
    return {k: v for k, v in owns.items() if v}, {t.name: t.contains for t in types if t.contains}


_OWNS, _CONTAINS = _declared()
OWNS: dict[str, tuple[Edge, ...]] = {rtype: tuple(map(_edge, edges)) for rtype, edges in _OWNS.items()}
"""What each type owns or uses: followed from every member, whatever its tags."""
CONTAINS: dict[str, tuple[Edge, ...]] = {rtype: tuple(map(_edge, edges)) for rtype, edges in _CONTAINS.items()}
"""What each type holds: followed into resources that carry none of the selector's tags."""

MEMBERSHIP_TYPES = frozenset({*_OWNS, *_CONTAINS, *(e.type for edges in (*_OWNS.values(), *_CONTAINS.values())
                                                   for e in edges)})
"""The types a collection needs to tell a deployment's members: owners and what they reach."""


@dataclass(frozen=True)
class Deployment:
    """One pack's resources in one environment, and what belongs to other applications."""

    pack: str
    environment: str | None
    members: Mapping[str, tuple[Resource, ...]]   # by resource type
    seeds: frozenset[Key]                          # what the selector matched itself
    foreign: frozenset[Key] = frozenset()
    """Resources another application owns: tagged with the selector's keys but other values (e.g.
    ``Project=billing``), and everything those own or use. Name-based rules never accept them."""

    @property
    def key(self) -> str:
        return f"{self.pack}/{self.environment}" if self.environment else self.pack

    def of_type(self, rtype: str) -> tuple[Resource, ...]:
        return self.members.get(rtype, ())

    def holds(self, r: Resource) -> bool:
        return (r.type, r.id) in self._keys

    @cached_property
    def _keys(self) -> frozenset[Key]:
        return frozenset((r.type, r.id) for r in self.resources())

    def resources(self) -> Iterator[Resource]:
        for rs in self.members.values():
            yield from rs


def derive_deployments(snapshot: Snapshot, selectors: Iterable[PackSelector]) -> list[Deployment]:
    """Each pack's deployments in the snapshot: one per environment its selected resources name,
    plus one without environment for selected resources that no environment's deployment reached."""
    look = _Lookup(snapshot)
    out: list[Deployment] = []
    for selector in selectors:
        seeds: dict[str | None, list[Resource]] = defaultdict(list)
        tagged_other: list[Resource] = []
        for r in snapshot:
            doc = snapshot.document(r)
            if selector.matches(doc):
                seeds[r.environment].append(r)
            elif selector.tagged(doc):
                tagged_other.append(r)
        others = {(r.type, r.id) for r in tagged_other}
        ours: dict[str | None, dict[Key, Resource]] = {}
        for environment in sorted(e for e in seeds if e is not None):
            ours[environment] = _closure(seeds[environment], look, others)
        reached = {k for members in ours.values() for k in members}
        loose = [r for r in seeds.get(None, []) if (r.type, r.id) not in reached]
        if loose:
            ours[None] = _closure(loose, look, others | reached)
        reached |= set(ours.get(None, {}))
        foreign = frozenset(set(_closure(tagged_other, look, set())) - reached)
        for r in snapshot.of_type(DERIVED):   # what the audit derived about a deployment is its member
            if r.attributes.get("pack") == selector.pack.pack and r.environment in ours:
                ours[r.environment][(r.type, r.id)] = r
        for environment, members in ours.items():
            out.append(_deployment(selector.pack.pack, environment, members, seeds[environment], foreign))
    return out


def _deployment(pack: str, environment: str | None, members: Mapping[Key, Resource],
                seeds: list[Resource], foreign: frozenset[Key]) -> Deployment:
    by_type: dict[str, list[Resource]] = defaultdict(list)
    for (rtype, _), r in sorted(members.items()):
        by_type[rtype].append(r)
    return Deployment(pack, environment, {t: tuple(rs) for t, rs in by_type.items()},
                      frozenset((r.type, r.id) for r in seeds), foreign)


def _closure(seeds: list[Resource], look: _Lookup, foreign: set[Key]) -> dict[Key, Resource]:
    """The seeds and everything they own (``OWNS``) or hold (``CONTAINS``, outside ``foreign``)."""
    members: dict[Key, Resource] = {}
    todo = list(seeds)
    while todo:
        r = todo.pop()
        if (r.type, r.id) in members:
            continue
        members[(r.type, r.id)] = r
        for edge in OWNS.get(r.type, ()):
            todo.extend(_follow(edge, r, look))
        for edge in CONTAINS.get(r.type, ()):
            todo.extend(m for m in _follow(edge, r, look) if (m.type, m.id) not in foreign)
    return members


def _follow(edge: Callable[[Resource, _Lookup], Iterable[Resource]], r: Resource, look: _Lookup) -> list[Resource]:
    """What ``edge`` reaches from ``r``; an attribute of a shape the edge does not expect (never a
    collector's) reaches nothing and is logged, so one odd document costs its edge, not the audit."""
    try:
        return list(edge(r, look))
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        log.warning(f"deployments: cannot follow {edge.__name__.lstrip('_')} from {r.type} {r.id}: "
                    f"{type(exc).__name__}: {exc}", extra={"event": "deployments"})
        return []


def membership_types() -> set[str]:
    """What to collect to derive deployments, with the types those types' relations need."""
    return {t for rtype in MEMBERSHIP_TYPES for t in requires(rtype)}
