"""Relations derived once per snapshot, so that rules stay simple key/op/value checks.

Each derived field is stored in ``Resource.relations`` and appears flat in the rule document; their
names and structure are data, ``RELATIONS``. What they mean:

- subnet: ``route_table_id``, ``public`` (default route 0.0.0.0/0 or ::/0 to an internet gateway,
  through the explicit association, else the VPC's main table), ``tier`` (public/private),
  ``nat_routed`` (default route to a NAT gateway).
- nat_gateway: ``subnet_public`` (its subnet routes to an internet gateway), ``availability_zone``.
- vpc: ``subnet_ids``, ``availability_zones``, ``zone_letters`` (a, b... the same in any region),
  ``public_subnet_count``, ``private_subnet_count``, ``public_route_table_ids``,
  ``private_route_table_ids``, ``shared_route_table_ids`` (tables serving both tiers),
  ``internet_gateway_attached``, ``nat_gateway_count`` and ``nat_gateway_azs`` (available ones).
- security_group: ``used_by`` [{type, id, name, role}]: the resources that name it and the
  network interfaces it is attached to; ``roles``: theirs, merged (load_balancer, ecs_service,
  database, cache from the resources; from each interface the role of what it is attached to:
  those four (an ECS task's is ecs_service), gateway_load_balancer, lambda, ec2_instance,
  nat_gateway, vpc_endpoint or other); ``inbound``/``outbound``: the ingress/egress entries
  with ``peer_roles``, ``peer_name``, ``peer_users``, ``peers`` and ``open_to_internet``
  resolved. ``peer_users`` is the peer group's ``used_by`` without the interfaces that a resource
  of the same role stands for (an ECS task's interface is its service's), so services, databases,
  caches and load balancers appear by name (service name, DB identifier, replication group id,
  load balancer name); ``peers`` names everything the entry admits, sorted and unique: those
  users (an interface without a name: its id), or the CIDR, the prefix list id, or the group id of
  a peer group not in the snapshot (another account or VPC), so that "3306 only from the api and
  worker services" is one condition that any other peer fails:
  ``{key: "inbound[?from_port == `3306`].peers[]", op: subset, value: [api, worker]}``.
- ecs_service: ``task_definition`` (its attributes), ``images`` (per container: container, image,
  registry ecr/other, account, region, repository, tag, digest, same_account, same_region),
  ``target_groups``, ``scaling`` (min/max capacity and policies, or null), ``subnets``,
  ``in_public_subnet``, ``alarms``.
- rds_instance, elasticache_replication_group, elasticache_cluster: ``subnets``,
  ``in_public_subnet``, ``alarms``.
- load_balancer: ``listeners``, ``subnets``, ``alarms``; listener: ``load_balancer_name``,
  ``load_balancer_scheme``, ``routes`` (each rule then the default: ``default``, ``priority``,
  ``path_patterns``, ``host_headers``, ``target_groups`` [{arn, name, port}] it forwards to);
  target_group: ``services``, ``alarms``; ecs_cluster: ``alarms``, ``services``.

``subnets`` entries are {id, public, tier, cidr_block, availability_zone, zone_letter}.

``alarms`` (of every type whose description declares CloudWatch ``alarms`` dimensions, see
:class:`~auditor.collect.types.Dimensions`: those above and vpc_endpoint) lists the CloudWatch
metric alarms whose dimensions name the resource (for a metric-math alarm, the dimensions of any
of its inner metrics), each as {name, namespace,
metric_name, metrics (the metric-math queries, else []), statistic, comparison_operator,
comparison (the operator in words, :data:`COMPARISONS`: "greater than or equal to"), threshold,
period, evaluation_periods, datapoints_to_alarm, duration_seconds, dimensions, actions_enabled,
alarm_actions}. ``duration_seconds`` is period x evaluation_periods (a metric-math alarm's period:
its returned query's), the window an alarm "for 10 minutes" is judged over (600), else null; with
``datapoints_to_alarm`` M of N evaluation periods, M breaching datapoints anywhere in that window
suffice.

``REQUIRES`` says which collected types each type's document depends on: if any of them failed
to collect, rules on that type report ``error`` rather than a guess.
"""
from __future__ import annotations

import dataclasses
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from .attributes import Shape, many, shape
from .aws import short_message
from .collect import autoscaling, cloudwatch, ec2, ecs, elbv2, resource_types
from .collect.types import Dimensions
from .model import CollectorError, Resource

DEFAULT_ROUTES = ("0.0.0.0/0", "::/0")

ROLE_OF_TYPE = {
    "load_balancer": "load_balancer",
    "ecs_service": "ecs_service",
    "rds_instance": "database",
    "elasticache_replication_group": "cache",
    "elasticache_cluster": "cache",
}
# A network interface's role is that of the resource it is attached to (its ``attached_to``);
# any kind not listed is "other".
ROLE_OF_ATTACHMENT = {
    "load_balancer": "load_balancer",
    "gateway_load_balancer": "gateway_load_balancer",
    "ecs_task": "ecs_service",
    "database": "database",
    "cache": "cache",
    "lambda": "lambda",
    "ec2_instance": "ec2_instance",
    "nat_gateway": "nat_gateway",
    "vpc_endpoint": "vpc_endpoint",
}

COMPARISONS = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
    "LessThanLowerOrGreaterThanUpperThreshold": "less than the lower or greater than the upper band",
    "LessThanLowerThreshold": "less than the lower band",
    "GreaterThanUpperThreshold": "greater than the upper band",
}
"""CloudWatch's comparison operators in words (the anomaly-detection ones compare with a band)."""

ALARMED: dict[str, tuple[Dimensions, ...]] = {name: t.alarms for name, t in resource_types().items() if t.alarms}
"""How alarms name each type that has an ``alarms`` relation (its description's CloudWatch dimensions)."""

_NETWORK = {"subnet", "route_table"}
_REQUIRES: dict[str, set[str]] = {
    "subnet": _NETWORK,
    "nat_gateway": _NETWORK | {"nat_gateway"},
    "vpc": _NETWORK | {"vpc", "internet_gateway", "nat_gateway"},
    "security_group": {"security_group", "network_interface", *ROLE_OF_TYPE},
    "ecs_service": {"ecs_service", "ecs_task_definition", "target_group", "scalable_target"} | _NETWORK,
    "ecs_cluster": {"ecs_cluster", "ecs_service"},
    "rds_instance": {"rds_instance"} | _NETWORK,
    "elasticache_replication_group": {"elasticache_replication_group"} | _NETWORK,
    "elasticache_cluster": {"elasticache_cluster"} | _NETWORK,
    "load_balancer": {"load_balancer", "listener"} | _NETWORK,
    "listener": {"listener", "load_balancer", "target_group"},
    "target_group": {"target_group", "ecs_service"},
}
REQUIRES: dict[str, set[str]] = {
    rtype: _REQUIRES.get(rtype, {rtype}) | ({"cloudwatch_alarm"} if rtype in ALARMED else set())
    for rtype in {**_REQUIRES, **ALARMED}}

_ROLE = "|".join(sorted({*ROLE_OF_TYPE.values(), *ROLE_OF_ATTACHMENT.values(), "other"}))
_SUBNET = many("id:str public:bool tier:public|private cidr_block:str availability_zone:str zone_letter:str")
_ALARM = many("name:str namespace:str metric_name:str statistic:str comparison:str threshold:number period:int "
              "evaluation_periods:int datapoints_to_alarm:int duration_seconds:int dimensions:map actions_enabled:bool "
              "alarm_actions:[str]", comparison_operator=cloudwatch.CLOUDWATCH_ALARM.attributes["comparison_operator"],
              metrics=cloudwatch.CLOUDWATCH_ALARM.attributes["metrics"])
_PLACED = shape("in_public_subnet:bool", subnets=_SUBNET)
_USER = many(f"type:str id:str name:str role:{_ROLE}")
_ENTRY = many(f"peer_roles:[{_ROLE}] peer_name:str peers:[str] open_to_internet:bool", peer_users=_USER,
              **ec2.PERMISSION)
_RELATIONS: dict[str, Shape] = {
    "subnet": shape("route_table_id:str public:bool tier:public|private nat_routed:bool"),
    "nat_gateway": shape("subnet_public:bool availability_zone:str"),
    "vpc": shape("subnet_ids:[str] availability_zones:[str] zone_letters:[str] public_subnet_count:int "
                 "private_subnet_count:int public_route_table_ids:[str] private_route_table_ids:[str] "
                 "shared_route_table_ids:[str] internet_gateway_attached:bool nat_gateway_count:int nat_gateway_azs:[str]"),
    "security_group": shape(f"roles:[{_ROLE}]", used_by=_USER, inbound=_ENTRY, outbound=_ENTRY),
    "ecs_service": shape(
        **_PLACED, task_definition=ecs.TASK_DEFINITION.attributes,
        images=many("container:str image:str registry:ecr|other account:str region:str repository:str tag:str digest:str "
                    "same_account:bool same_region:bool"),
        target_groups=many("arn:str name:str port:int load_balancer_arns:[str]",
                           protocol=elbv2.TARGET_GROUP.attributes["protocol"],
                           health_check=elbv2.TARGET_GROUP.attributes["health_check"]),
        scaling=shape("min_capacity:int max_capacity:int", policies=autoscaling.SCALABLE_TARGET.attributes["policies"])),
    "rds_instance": _PLACED,
    "elasticache_replication_group": _PLACED,
    "elasticache_cluster": _PLACED,
    "load_balancer": shape(**_PLACED, listeners=many("arn:str port:int ssl_policy:str",
                                                     protocol=elbv2.LISTENER.attributes["protocol"],
                                                     default_actions=elbv2.ACTION)),
    "listener": shape("load_balancer_name:str", load_balancer_scheme=elbv2.LOAD_BALANCER.attributes["scheme"], routes=many(
        "default:bool priority:int path_patterns:[str] host_headers:[str]",
        target_groups=many("arn:str name:str port:int"))),
    "target_group": shape(services=many("cluster_name:str service_name:str")),
    "ecs_cluster": shape("services:[str]"),
}
RELATIONS: dict[str, Shape] = {rtype: {**_RELATIONS.get(rtype, {}), **({"alarms": _ALARM} if rtype in ALARMED else {})}
                               for rtype in {**_RELATIONS, **ALARMED}}
"""What :func:`derive` adds to each type's documents (see :mod:`auditor.attributes`)."""


def requires(rtype: str) -> set[str]:
    """The collected types a rule on ``rtype`` depends on (itself included)."""
    return REQUIRES.get(rtype, set()) | {rtype}


def _alarm_period(a: Mapping[str, Any]) -> int | None:
    """The alarm's period; for a metric-math alarm, that of the query it alarms on (the one returning
    data), else the one period all its queries share."""
    queries = a.get("metrics") or []
    returned = next((m.get("period") for m in queries if m.get("return_data")), None)
    periods = {m.get("period") for m in queries} - {None}
    return a.get("period") or returned or (periods.pop() if len(periods) == 1 else None)


def _alarm_summary(alarm: Resource) -> dict[str, Any]:
    a = alarm.attributes
    period, evaluation_periods = _alarm_period(a), a.get("evaluation_periods")
    return {"name": alarm.id, "namespace": a.get("namespace"), "metric_name": a.get("metric_name"),
            "metrics": a.get("metrics") or [],
            "statistic": a.get("statistic") or a.get("extended_statistic"),
            "comparison_operator": a.get("comparison_operator"),
            "comparison": COMPARISONS.get(a.get("comparison_operator")), "threshold": a.get("threshold"),
            "period": a.get("period"), "evaluation_periods": evaluation_periods,
            "datapoints_to_alarm": a.get("datapoints_to_alarm"),
            "duration_seconds": period * evaluation_periods if period and evaluation_periods else None,
            "dimensions": a.get("dimensions") or {},
            "actions_enabled": a.get("actions_enabled"), "alarm_actions": a.get("alarm_actions") or []}


class _Index:
    """Lookups over the raw resources, built once."""

    def __init__(self, resources: list[Resource]):
        self.by_type: dict[str, list[Resource]] = defaultdict(list)
        self.by_id: dict[tuple[str, str], Resource] = {}
        for r in resources:
            self.by_type[r.type].append(r)
            self.by_id[(r.type, r.id)] = r
        self.alarms_by_dim: dict[tuple[str, str], list[Resource]] = defaultdict(list)
        self.alarm_dims: dict[str, list[dict[str, str]]] = {}
        for alarm in self.by_type["cloudwatch_alarm"]:
            dim_sets = _alarm_dimension_sets(alarm)
            self.alarm_dims[alarm.id] = dim_sets
            for k, v in {(k, str(v)) for dims in dim_sets for k, v in dims.items()}:
                self.alarms_by_dim[(k, v)].append(alarm)

    def of(self, rtype: str) -> list[Resource]:
        return self.by_type.get(rtype, [])

    def alarms(self, r: Resource, declared: Iterable[Dimensions]) -> list[dict]:
        """The alarms watching ``r``: whose dimensions hold, for one of the ``declared`` sets, each
        dimension with ``r``'s value and none of its ``forbidden`` ones; sorted by name."""
        found: dict[str, Resource] = {}
        for d in declared:
            for required in _dimension_values(r, d.dimensions):
                first_key, first_val = next(iter(required.items()))
                for alarm in self.alarms_by_dim.get((first_key, first_val), []):
                    if any(all(str(dims.get(k)) == v for k, v in required.items())
                           and not any(k in dims for k in d.forbidden) for dims in self.alarm_dims[alarm.id]):
                        found[alarm.id] = alarm
        return [_alarm_summary(found[name]) for name in sorted(found)]


def _dimension_values(r: Resource, dimensions: Mapping[str, str]) -> list[dict[str, str]]:
    """The dimension sets that name ``r``: one per item of a list attribute, none for a missing value."""
    choices = []
    for attribute in dimensions.values():
        value = r.id if attribute == "id" else r.attributes.get(attribute)
        values = [v for v in (value if isinstance(value, list) else [value]) if v is not None]
        choices.append([str(v) for v in values])
    return [dict(zip(dimensions, combination, strict=True)) for combination in itertools.product(*choices)]


def _alarm_dimension_sets(alarm: Resource) -> list[dict[str, str]]:
    """The dimension sets an alarm watches: its own metric's, or each inner metric's of a
    metric-math alarm (``Metrics[]``)."""
    a = alarm.attributes
    sets = [dict(a.get("dimensions") or {})]
    sets += [dict(m.get("dimensions") or {}) for m in a.get("metrics") or [] if m.get("dimensions")]
    return [d for d in sets if d]


def _subnet_relations(ix: _Index) -> dict[str, dict[str, Any]]:
    tables = ix.of("route_table")
    main_by_vpc = {t.attributes.get("vpc_id"): t for t in tables if t.attributes.get("main")}
    explicit = {sid: t for t in tables for sid in t.attributes.get("subnet_ids") or []}
    out = {}
    for s in ix.of("subnet"):
        table = explicit.get(s.id) or main_by_vpc.get(s.attributes.get("vpc_id"))
        routes = (table.attributes.get("routes") or []) if table else []
        default = [r for r in routes if r.get("destination") in DEFAULT_ROUTES
                   and r.get("state") in (None, "active")]
        public = any(r.get("target_type") == "internet_gateway" for r in default)
        out[s.id] = {"route_table_id": table.id if table else None, "public": public,
                     "tier": "public" if public else "private",
                     "nat_routed": any(r.get("target_type") == "nat_gateway" for r in default)}
    return out


def zone_letter(zone: str | None) -> str | None:
    """The letter that ends an availability zone name (us-east-1a -> a), the same in any region."""
    return zone[-1] if zone and zone[-1].isalpha() else None


def _subnet_refs(subnet_ids: Iterable[str], subnets: dict[str, dict], ix: _Index) -> list[dict]:
    refs = []
    for sid in subnet_ids or []:
        s = ix.by_id.get(("subnet", sid))
        rel = subnets.get(sid, {})
        refs.append({"id": sid, "public": rel.get("public"), "tier": rel.get("tier"),
                     "cidr_block": s.attributes.get("cidr_block") if s else None,
                     "availability_zone": s.attributes.get("availability_zone") if s else None,
                     "zone_letter": zone_letter(s.attributes.get("availability_zone") if s else None)})
    return refs


def _placement(subnet_ids: Iterable[str], subnets: dict, ix: _Index) -> dict[str, Any]:
    refs = _subnet_refs(subnet_ids, subnets, ix)
    return {"subnets": refs, "in_public_subnet": any(r["public"] for r in refs)}


def _vpc_relations(ix: _Index, subnets: dict) -> dict[str, dict[str, Any]]:
    out = {}
    for vpc in ix.of("vpc"):
        own = [s for s in ix.of("subnet") if s.attributes.get("vpc_id") == vpc.id]
        nats = [n for n in ix.of("nat_gateway") if n.attributes.get("vpc_id") == vpc.id
                and n.attributes.get("state") in ("available", "pending")]
        nat_azs = sorted({ix.by_id[("subnet", n.attributes["subnet_id"])].attributes.get("availability_zone")
                          for n in nats if ("subnet", n.attributes.get("subnet_id")) in ix.by_id})
        out[vpc.id] = {
            "subnet_ids": sorted(s.id for s in own),
            "availability_zones": sorted({s.attributes.get("availability_zone") for s in own} - {None}),
            "zone_letters": sorted({zone_letter(s.attributes.get("availability_zone")) for s in own} - {None}),
            **_tier_route_tables(own, subnets),
            "public_subnet_count": sum(1 for s in own if subnets.get(s.id, {}).get("public")),
            "private_subnet_count": sum(1 for s in own if not subnets.get(s.id, {}).get("public")),
            "internet_gateway_attached": any(vpc.id in (g.attributes.get("vpc_ids") or [])
                                             for g in ix.of("internet_gateway")),
            "nat_gateway_count": len(nats),
            "nat_gateway_azs": nat_azs,
        }
    return out


def _tier_route_tables(own: list[Resource], subnets: dict) -> dict[str, Any]:
    """Which route tables serve the public and the private subnets, and those serving both."""
    tiers: dict[str, set[str]] = {"public": set(), "private": set()}
    for s in own:
        rel = subnets.get(s.id, {})
        if rel.get("route_table_id"):
            tiers[rel["tier"]].add(rel["route_table_id"])
    return {"public_route_table_ids": sorted(tiers["public"]), "private_route_table_ids": sorted(tiers["private"]),
            "shared_route_table_ids": sorted(tiers["public"] & tiers["private"])}


def _nat_relations(nat: Resource, subnets: dict, ix: _Index) -> dict[str, Any]:
    sid = nat.attributes.get("subnet_id")
    subnet = ix.by_id.get(("subnet", sid))
    return {"subnet_public": subnets.get(sid, {}).get("public"),
            "availability_zone": subnet.attributes.get("availability_zone") if subnet else None}


def _security_group_role(user: Resource) -> str:
    if user.type == "network_interface":
        return ROLE_OF_ATTACHMENT.get(user.attributes.get("attached_to"), "other")
    return ROLE_OF_TYPE[user.type]


def _security_group_users(ix: _Index) -> dict[str, list[Resource]]:
    """The resources that name each group, then the network interfaces it is attached to."""
    users: dict[str, list[Resource]] = defaultdict(list)
    for rtype in (*ROLE_OF_TYPE, "network_interface"):
        for r in ix.of(rtype):
            a = r.attributes
            ids = a.get("security_group_ids") or a.get("vpc_security_group_ids") or \
                (a.get("network") or {}).get("security_group_ids") or []
            for gid in ids:
                users[gid].append(r)
    return users


def _user_ref(user: Resource) -> dict[str, Any]:
    return {"type": user.type, "id": user.id, "name": user.name, "role": _security_group_role(user)}


def _peer_users(used_by: list[dict]) -> list[dict]:
    """A group's users as its peers see them: the resources, and the interfaces whose role none of
    those resources has (an ECS task's interface is its service's, an RDS one its instance's)."""
    resource_roles = {u["role"] for u in used_by if u["type"] != "network_interface"}
    return [u for u in used_by if u["type"] != "network_interface" or u["role"] not in resource_roles]


def _peers(entry: dict, peer_users: list[dict], known_group: bool) -> list[str]:
    """What an entry admits, by name: the peer group's users, else the CIDR, prefix list or unknown group."""
    if known_group:
        return sorted({u["name"] or u["id"] for u in peer_users})
    return [p for p in (entry.get("cidr") or entry.get("prefix_list_id") or entry.get("group_id"),) if p]


def _security_group_relations(ix: _Index) -> dict[str, dict[str, Any]]:
    users = _security_group_users(ix)
    roles = {gid: sorted({_security_group_role(u) for u in us}) for gid, us in users.items()}
    used_by = {gid: [_user_ref(u) for u in us] for gid, us in users.items()}

    def resolve(entries: list[dict]) -> list[dict]:
        out = []
        for e in entries or []:
            peer = e.get("group_id")
            peer_res = ix.by_id.get(("security_group", peer)) if peer else None
            peer_users = _peer_users(used_by.get(peer, [])) if peer else []
            out.append({**e, "peer_roles": roles.get(peer, []) if peer else [],
                        "peer_name": peer_res.name if peer_res else None,
                        "peer_users": peer_users,
                        "peers": _peers(e, peer_users, peer_res is not None),
                        "open_to_internet": e.get("cidr") in DEFAULT_ROUTES})
        return out

    return {sg.id: {"used_by": used_by.get(sg.id, []),
                    "roles": roles.get(sg.id, []),
                    "inbound": resolve(sg.attributes.get("ingress")),
                    "outbound": resolve(sg.attributes.get("egress"))}
            for sg in ix.of("security_group")}


def _scaling(ix: _Index) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for t in ix.of("scalable_target"):
        a = t.attributes
        if a.get("scalable_dimension") != "ecs:service:DesiredCount":
            continue
        out[(a.get("cluster_name"), a.get("service_name"))] = {
            "min_capacity": a.get("min_capacity"), "max_capacity": a.get("max_capacity"),
            "policies": a.get("policies") or []}
    return out


def _target_group_summary(tg: Resource) -> dict[str, Any]:
    a = tg.attributes
    return {"arn": tg.id, "name": tg.name, "protocol": a.get("protocol"), "port": a.get("port"),
            "health_check": a.get("health_check"), "load_balancer_arns": a.get("load_balancer_arns") or []}


_ECR_IMAGE = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/"
                        r"(?P<repository>[^:@]+)(:(?P<tag>[^@]+))?(@(?P<digest>.+))?$")


def parse_image(image: str | None, account: str, region: str) -> dict[str, Any]:
    """Where a container image comes from: ECR (its account, region, repository, tag or digest)
    or another registry; ``same_account``/``same_region`` compare with the audited ones."""
    m = _ECR_IMAGE.match(image or "")
    if not m:
        return {"image": image, "registry": "other", "account": None, "region": None, "repository": None,
                "tag": None, "digest": None, "same_account": False, "same_region": False}
    return {"image": image, "registry": "ecr", "account": m["account"], "region": m["region"],
            "repository": m["repository"], "tag": m["tag"], "digest": m["digest"],
            "same_account": m["account"] == account, "same_region": m["region"] == region}


def _ecs_relations(ix: _Index, subnets: dict, out: dict[tuple[str, str], dict]) -> None:
    scaling = _scaling(ix)
    services_by_cluster: dict[str, list[str]] = defaultdict(list)
    services_by_tg: dict[str, list[dict]] = defaultdict(list)
    for svc in ix.of("ecs_service"):
        a = svc.attributes
        cluster, name = a.get("cluster_name"), a.get("service_name")
        services_by_cluster[cluster].append(name)
        td = ix.by_id.get(("ecs_task_definition", a.get("task_definition_arn")))
        tgs = [ix.by_id[("target_group", lb["target_group_arn"])]
               for lb in a.get("load_balancers") or []
               if ("target_group", lb.get("target_group_arn")) in ix.by_id]
        for tg in tgs:
            services_by_tg[tg.id].append({"cluster_name": cluster, "service_name": name})
        out[("ecs_service", svc.id)] = {
            "task_definition": dict(td.attributes) if td else None,
            "images": [{"container": c.get("name"), **parse_image(c.get("image"), svc.account, svc.region)}
                       for c in (td.attributes.get("containers") or [] if td else [])],
            "target_groups": [_target_group_summary(tg) for tg in tgs],
            "scaling": scaling.get((cluster, name)),
            **_placement((a.get("network") or {}).get("subnet_ids"), subnets, ix),
        }
    for c in ix.of("ecs_cluster"):
        cname = c.attributes.get("cluster_name") or c.id
        out[("ecs_cluster", c.id)] = {"services": sorted(services_by_cluster.get(cname, []))}
    for tg in ix.of("target_group"):
        out[("target_group", tg.id)] = {"services": services_by_tg.get(tg.id, [])}


def _routes(listener: Resource, ix: _Index) -> list[dict[str, Any]]:
    """Where a listener sends requests: each rule, then the default, with target groups resolved."""
    def targets(actions: list[dict]) -> list[dict]:
        refs = []
        for action in actions or []:
            for arn in action.get("target_group_arns") or [] if action.get("type") == "forward" else []:
                tg = ix.by_id.get(("target_group", arn))
                refs.append({"arn": arn, "name": tg.name if tg else None,
                             "port": tg.attributes.get("port") if tg else None})
        return refs
    a = listener.attributes
    routes = [{"default": False, "priority": r.get("priority"), "path_patterns": r.get("path_patterns") or [],
               "host_headers": r.get("host_headers") or [], "target_groups": targets(r.get("actions"))}
              for r in a.get("rules") or []]
    routes.append({"default": True, "priority": None, "path_patterns": [], "host_headers": [],
                   "target_groups": targets(a.get("default_actions"))})
    return routes


def _load_balancer_relations(ix: _Index, subnets: dict, out: dict[tuple[str, str], dict]) -> None:
    listeners_by_lb: dict[str, list[dict]] = defaultdict(list)
    for li in ix.of("listener"):
        a = li.attributes
        lb = ix.by_id.get(("load_balancer", a.get("load_balancer_arn")))
        listeners_by_lb[a.get("load_balancer_arn")].append({
            "arn": li.id, "port": a.get("port"), "protocol": a.get("protocol"),
            "ssl_policy": a.get("ssl_policy"), "default_actions": a.get("default_actions") or []})
        out[("listener", li.id)] = {
            "routes": _routes(li, ix),
            "load_balancer_name": lb.name if lb else None,
            "load_balancer_scheme": lb.attributes.get("scheme") if lb else None}
    for lb in ix.of("load_balancer"):
        a = lb.attributes
        out[("load_balancer", lb.id)] = {
            "listeners": sorted(listeners_by_lb.get(lb.id, []), key=lambda x: x["port"] or 0),
            **_placement(a.get("subnet_ids"), subnets, ix)}


def _data_store_relations(ix: _Index, subnets: dict, out: dict[tuple[str, str], dict]) -> None:
    for db in ix.of("rds_instance"):
        group = db.attributes.get("db_subnet_group") or {}
        out[("rds_instance", db.id)] = _placement(group.get("subnet_ids"), subnets, ix)
    for rtype in ("elasticache_replication_group", "elasticache_cluster"):
        for cache in ix.of(rtype):
            out[(rtype, cache.id)] = _placement(cache.attributes.get("subnet_ids"), subnets, ix)


def _alarm_relations(ix: _Index, out: dict[tuple[str, str], dict]) -> None:
    """Each alarmed resource's ``alarms``, after the relations the other steps gave it."""
    for rtype, declared in ALARMED.items():
        for r in ix.of(rtype):
            out.setdefault((rtype, r.id), {})["alarms"] = ix.alarms(r, declared)


def derive(resources: list[Resource], errors: list[CollectorError] | None = None) -> list[Resource]:
    """Return the resources with their ``relations`` filled in.

    With ``errors``, a step that raises on a shape it did not expect (an API answering something
    new) is recorded there as a :class:`CollectorError` of its types (their rules report
    ``error``, and through :data:`REQUIRES` the rules of the types that read them) and the other
    steps go on; without it, the exception propagates.
    """
    rel: dict[tuple[str, str], dict[str, Any]] = {}
    ix: _Index | None = None
    subnets: dict[str, dict[str, Any]] = {}

    def index() -> None:
        nonlocal ix
        ix = _Index(resources)

    def subnet_step() -> None:
        subnets.update(_subnet_relations(ix))
        rel.update({("subnet", k): v for k, v in subnets.items()})

    steps = [   # name, the types whose relations it sets (a step that fails costs those), the step
        ("index", tuple(RELATIONS), index),
        ("subnets", ("subnet",), subnet_step),
        ("vpcs", ("vpc",), lambda: rel.update({("vpc", k): v for k, v in _vpc_relations(ix, subnets).items()})),
        ("nat_gateways", ("nat_gateway",), lambda: rel.update(
            {("nat_gateway", n.id): _nat_relations(n, subnets, ix) for n in ix.of("nat_gateway")})),
        ("security_groups", ("security_group",), lambda: rel.update(
            {("security_group", k): v for k, v in _security_group_relations(ix).items()})),
        ("ecs", ("ecs_service", "ecs_cluster", "target_group"), lambda: _ecs_relations(ix, subnets, rel)),
        ("load_balancers", ("load_balancer", "listener"), lambda: _load_balancer_relations(ix, subnets, rel)),
        ("data_stores", ("rds_instance", "elasticache_replication_group", "elasticache_cluster"),
         lambda: _data_store_relations(ix, subnets, rel)),
        ("alarms", tuple(ALARMED), lambda: _alarm_relations(ix, rel)),
    ]
    for name, types, step in steps:
        try:
            step()
        except Exception as exc:
            if errors is None:
                raise
            errors.append(CollectorError("auditor", f"derive {name}", type(exc).__name__,
                                         f"relations of {', '.join(types)} not derived: {short_message(str(exc))}",
                                         types))
            if ix is None:
                break
    out = []
    for r in resources:
        extra = rel.get((r.type, r.id))
        if extra:
            clash = set(extra) & set(r.attributes)
            if clash:
                raise ValueError(f"relation names {sorted(clash)} clash with attributes of {r.type}")
            r = dataclasses.replace(r, relations=extra)
        out.append(r)
    return out
