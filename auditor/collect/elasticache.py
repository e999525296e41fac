"""ElastiCache replication groups (Redis/Valkey) and standalone cache clusters.

A replication group has no engine version, parameter group, security groups or subnet group of
its own: they come from its member clusters (``describe_cache_clusters``, first readable member).
When no member is readable these fields are ``None``. Subnet IDs come from
``describe_cache_subnet_groups`` (listed once per run); ``parameters`` are the user-modified values
of the cache parameter group (``describe_cache_parameters(Source="user")``, once per group; groups
named ``default.*`` hold no changes and give ``{}``; an unknown group gives ``None``). Tags come
from ``list_tags_for_resource`` per ARN: AWS refuses it for a group or cluster that is not
``available`` (InvalidReplicationGroupState...), whose tags are then unknown; a failing lookup of
subnets or parameters leaves those unknown; a group or cluster deleted meanwhile is dropped.

Resource types (each described, attributes and volatile ones included, by its ``ResourceType`` below):

- ``elasticache_replication_group`` (id = ReplicationGroupId, arn = ARN).
- ``elasticache_cluster`` (id = CacheClusterId; only clusters outside a replication group, e.g.
  Memcached).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..attributes import many, shape
from ..model import Resource
from . import CollectContext, Item, collector, remember, tag_dict
from .types import Dimensions, Edge, ResourceType

_LOG_DELIVERY = many("log_type:slow-log|engine-log destination_type:cloudwatch-logs|kinesis-firehose log_format:text|json "
                     "status:active|enabling|modifying|disabling|error")
SERVICE = "elasticache"
# What cache_clusters calls: _cache_clusters, _tags and _Lookups.
_CLUSTER_CALLS = ("DescribeCacheClusters", "ListTagsForResource", "DescribeCacheSubnetGroups", "DescribeCacheParameters")
_PLACED = (Edge("security_group", via="security_groups"), Edge("subnet", via="subnets"))
REPLICATION_GROUP = ResourceType(
    "elasticache_replication_group", SERVICE, "arn:{partition}:elasticache:{region}:{account}:replicationgroup:{id}",
    calls=("DescribeReplicationGroups", *_CLUSTER_CALLS),
    attributes=shape(
        "description:str status:str engine:str engine_version:str cache_node_type:str member_clusters:[str] "
        "num_cache_clusters:int num_node_groups:int automatic_failover:enabled|disabled|enabling|disabling "
        "multi_az:enabled|disabled at_rest_encryption_enabled:bool transit_encryption_enabled:bool "
        "transit_encryption_mode:preferred|required auth_token_enabled:bool kms_key_id:str snapshot_retention_limit:int "
        "snapshot_window:str cluster_enabled:bool cluster_mode:enabled|disabled|compatible auto_minor_version_upgrade:bool "
        "data_tiering:enabled|disabled parameter_group_name:str security_group_ids:[str] cache_subnet_group_name:str "
        "subnet_ids:[str] parameters:map", log_delivery=_LOG_DELIVERY),
    volatile=("status",),
    alarms=(Dimensions("AWS/ElastiCache", {"ReplicationGroupId": "id"}),
            Dimensions("AWS/ElastiCache", {"CacheClusterId": "member_clusters"})),
    owns=(*_PLACED, Edge("elasticache_cluster", "member_clusters")),
    cost="elasticache")
CACHE_CLUSTER = ResourceType(
    "elasticache_cluster", SERVICE, "arn:{partition}:elasticache:{region}:{account}:cluster:{id}",
    calls=_CLUSTER_CALLS,
    attributes=shape(
        "engine:str engine_version:str cache_node_type:str num_cache_nodes:int status:str preferred_availability_zone:str "
        "preferred_maintenance_window:str auto_minor_version_upgrade:bool auth_token_enabled:bool parameter_group_name:str "
        "security_group_ids:[str] cache_subnet_group_name:str subnet_ids:[str] at_rest_encryption_enabled:bool "
        "transit_encryption_enabled:bool snapshot_retention_limit:int snapshot_window:str parameters:map",
        log_delivery=_LOG_DELIVERY),
    volatile=("status",),
    alarms=(Dimensions("AWS/ElastiCache", {"CacheClusterId": "id"}),),
    owns=_PLACED,
    cost="elasticache")
_GONE = ("ReplicationGroupNotFoundFault", "CacheClusterNotFound")   # ListTagsForResource on a deleted ARN


@collector(REPLICATION_GROUP)
def replication_groups(ctx: CollectContext) -> Iterator[Resource]:
    groups = list(ctx.paginate(SERVICE, "describe_replication_groups", "ReplicationGroups"))
    if not groups:
        return
    clusters = {c["CacheClusterId"]: c for c in _cache_clusters(ctx)}
    lookups = _Lookups(ctx)
    for rg in groups:
        with ctx.item(SERVICE, "elasticache_replication_group", rg["ReplicationGroupId"], gone=_GONE) as item:
            yield _replication_group(item, rg, clusters, lookups)


def _replication_group(item: Item, rg: dict, clusters: dict[str, dict], lookups: _Lookups) -> Resource:
    members = list(rg.get("MemberClusters") or [])
    member = next((clusters[m] for m in members if m in clusters), {})
    subnet_group = member.get("CacheSubnetGroupName")
    param_group = (member.get("CacheParameterGroup") or {}).get("CacheParameterGroupName")
    return item.resource(
        arn=rg.get("ARN"), name=rg["ReplicationGroupId"], tags=_tags(item, rg.get("ARN")),
        description=rg.get("Description"),
        status=rg.get("Status"),
        engine=rg.get("Engine") or member.get("Engine"),
        engine_version=member.get("EngineVersion") or rg.get("EngineVersion"),
        cache_node_type=rg.get("CacheNodeType"),
        member_clusters=members,
        num_cache_clusters=len(members),
        num_node_groups=len(rg.get("NodeGroups") or []),
        automatic_failover=rg.get("AutomaticFailover"),
        multi_az=rg.get("MultiAZ"),
        at_rest_encryption_enabled=rg.get("AtRestEncryptionEnabled"),
        transit_encryption_enabled=rg.get("TransitEncryptionEnabled"),
        transit_encryption_mode=rg.get("TransitEncryptionMode"),
        auth_token_enabled=rg.get("AuthTokenEnabled"),
        kms_key_id=rg.get("KmsKeyId"),
        snapshot_retention_limit=rg.get("SnapshotRetentionLimit"),
        snapshot_window=rg.get("SnapshotWindow"),
        cluster_enabled=rg.get("ClusterEnabled"),
        cluster_mode=rg.get("ClusterMode"),
        auto_minor_version_upgrade=rg.get("AutoMinorVersionUpgrade"),
        data_tiering=rg.get("DataTiering"),
        log_delivery=_log_delivery(rg),
        parameter_group_name=param_group,
        security_group_ids=_security_group_ids(member) if member else None,
        cache_subnet_group_name=subnet_group,
        subnet_ids=item.call(("subnet_ids",), lookups.subnet_ids, subnet_group),
        parameters=item.call(("parameters",), lookups.parameters, param_group),
    )


@collector(CACHE_CLUSTER)
def cache_clusters(ctx: CollectContext) -> Iterator[Resource]:
    lookups = _Lookups(ctx)
    for c in _cache_clusters(ctx, ShowCacheClustersNotInReplicationGroups=True):
        if c.get("ReplicationGroupId"):
            continue
        with ctx.item(SERVICE, "elasticache_cluster", c["CacheClusterId"], gone=_GONE) as item:
            yield _cluster(item, c, lookups)


def _cluster(item: Item, c: dict, lookups: _Lookups) -> Resource:
    subnet_group = c.get("CacheSubnetGroupName")
    param_group = (c.get("CacheParameterGroup") or {}).get("CacheParameterGroupName")
    return item.resource(
        arn=c.get("ARN"), name=c["CacheClusterId"], tags=_tags(item, c.get("ARN")),
        engine=c.get("Engine"),
        engine_version=c.get("EngineVersion"),
        cache_node_type=c.get("CacheNodeType"),
        num_cache_nodes=c.get("NumCacheNodes"),
        status=c.get("CacheClusterStatus"),
        preferred_availability_zone=c.get("PreferredAvailabilityZone"),
        preferred_maintenance_window=c.get("PreferredMaintenanceWindow"),
        auto_minor_version_upgrade=c.get("AutoMinorVersionUpgrade"),
        auth_token_enabled=c.get("AuthTokenEnabled"),
        parameter_group_name=param_group,
        security_group_ids=_security_group_ids(c),
        cache_subnet_group_name=subnet_group,
        subnet_ids=item.call(("subnet_ids",), lookups.subnet_ids, subnet_group),
        at_rest_encryption_enabled=c.get("AtRestEncryptionEnabled"),
        transit_encryption_enabled=c.get("TransitEncryptionEnabled"),
        snapshot_retention_limit=c.get("SnapshotRetentionLimit"),
        snapshot_window=c.get("SnapshotWindow"),
        log_delivery=_log_delivery(c),
        parameters=item.call(("parameters",), lookups.parameters, param_group),
    )


def _cache_clusters(ctx: CollectContext, **kwargs: Any) -> Iterator[dict]:
    return ctx.paginate(SERVICE, "describe_cache_clusters", "CacheClusters",
                        ShowCacheNodeInfo=True, **kwargs)


def _tags(item: Item, arn: str | None) -> dict[str, str]:
    if not arn:
        return {}
    answer = item.call(("tags",), item.ctx.client(SERVICE).list_tags_for_resource, ResourceName=arn)
    return tag_dict((answer or {}).get("TagList"))


def _security_group_ids(cluster: dict) -> list[str]:
    return [g["SecurityGroupId"] for g in cluster.get("SecurityGroups") or [] if g.get("SecurityGroupId")]


def _log_delivery(item: dict) -> list[dict[str, Any]]:
    return [{"log_type": d.get("LogType"), "destination_type": d.get("DestinationType"),
             "log_format": d.get("LogFormat"), "status": d.get("Status")}
            for d in item.get("LogDeliveryConfigurations") or []]


class _Lookups:
    """Per-run caches: subnet IDs by cache subnet group, user-modified parameters by parameter group."""

    def __init__(self, ctx: CollectContext):
        self.ctx = ctx
        self._read: dict[Any, Any] = {}   # answers and AWS errors, see remember()

    def subnet_ids(self, group: str | None) -> list[str] | None:
        if not group:
            return None
        return remember(self._read, "subnets", lambda: {
            g["CacheSubnetGroupName"]: [s["SubnetIdentifier"] for s in g.get("Subnets") or []]
            for g in self.ctx.paginate(SERVICE, "describe_cache_subnet_groups", "CacheSubnetGroups")}).get(group)

    def parameters(self, group: str | None) -> dict[str, Any] | None:
        if not group:
            return None
        if group.startswith("default."):
            return {}
        return remember(self._read, ("parameters", group), lambda: {
            p["ParameterName"]: p.get("ParameterValue")
            for p in self.ctx.paginate(SERVICE, "describe_cache_parameters", "Parameters",
                                       CacheParameterGroupName=group, Source="user")})
