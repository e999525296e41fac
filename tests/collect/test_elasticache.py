"""ElastiCache collectors: replication groups and standalone cache clusters."""
from __future__ import annotations

import boto3
import pytest
from botocore.stub import ANY, Stubber

from auditor.collect.elasticache import cache_clusters, replication_groups

REGION = "us-east-1"
ARN = "arn:aws:elasticache:us-east-1:123456789012"


@pytest.fixture
def moto_cache(aws):
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    ec = boto3.client("elasticache", region_name=REGION)
    ec.create_cache_subnet_group(CacheSubnetGroupName="cache", CacheSubnetGroupDescription="cache",
                                 SubnetIds=[subnet])
    ec.create_replication_group(
        ReplicationGroupId="sessions", ReplicationGroupDescription="session store", Engine="redis",
        EngineVersion="7.1", CacheNodeType="cache.t3.micro", NumCacheClusters=2,
        AutomaticFailoverEnabled=True, MultiAZEnabled=True, CacheSubnetGroupName="cache",
        AtRestEncryptionEnabled=True, TransitEncryptionEnabled=True, SnapshotRetentionLimit=5,
        Tags=[{"Key": "Environment", "Value": "staging"}])
    ec.create_cache_cluster(CacheClusterId="solo", Engine="redis", EngineVersion="7.0",
                            CacheNodeType="cache.t3.micro", NumCacheNodes=1,
                            CacheSubnetGroupName="cache", Tags=[{"Key": "Project", "Value": "shop"}])
    return {"subnet": subnet}


def test_replication_group_on_moto(ctx, moto_cache):
    (rg,) = replication_groups(ctx)

    a = rg.attributes
    assert rg.id == "sessions" and rg.arn == f"{ARN}:replicationgroup:sessions"
    assert rg.tags == {"Environment": "staging"} and rg.environment == "staging"
    assert a["description"] == "session store"
    assert a["status"] == "available"
    assert a["engine"] == "redis"
    assert a["cache_node_type"] == "cache.t3.micro"
    assert a["member_clusters"] == ["sessions-001", "sessions-002"] and a["num_cache_clusters"] == 2
    assert a["num_node_groups"] == 1
    assert (a["automatic_failover"], a["multi_az"]) == ("enabled", "enabled")
    assert a["at_rest_encryption_enabled"] is True and a["transit_encryption_enabled"] is True
    assert a["auth_token_enabled"] is False
    assert a["snapshot_retention_limit"] == 5
    assert a["cluster_enabled"] is False
    # read from the member clusters (moto_patches makes them readable, as in AWS)
    assert a["engine_version"] == "7.1"
    assert a["cache_subnet_group_name"] == "cache" and a["subnet_ids"] == [moto_cache["subnet"]]


def test_standalone_cluster_on_moto(ctx, moto_cache):
    (c,) = cache_clusters(ctx)

    a = c.attributes
    assert c.id == "solo" and c.arn == f"{ARN}:cluster:solo"
    assert c.tags == {"Project": "shop"}
    assert (a["engine"], a["engine_version"]) == ("redis", "7.0")
    assert a["num_cache_nodes"] == 1 and a["status"] == "available"
    assert a["cache_subnet_group_name"] == "cache"
    assert a["subnet_ids"] == [moto_cache["subnet"]]
    assert a["snapshot_retention_limit"] == 0
    assert a["security_group_ids"] == []
    assert a["parameter_group_name"] == "default.redis7" and a["parameters"] == {}


def _member(cid, rg=None, **extra):
    cluster = {"CacheClusterId": cid, "ARN": f"{ARN}:cluster:{cid}", "Engine": "redis",
               "EngineVersion": "7.1.0", "CacheClusterStatus": "available",
               "CacheNodeType": "cache.r7g.large", "NumCacheNodes": 1,
               "CacheParameterGroup": {"CacheParameterGroupName": "redis7-custom",
                                       "ParameterApplyStatus": "in-sync"},
               "SecurityGroups": [{"SecurityGroupId": "sg-cache", "Status": "active"}],
               "CacheSubnetGroupName": "cache"}
    if rg:
        cluster["ReplicationGroupId"] = rg
    cluster.update(extra)
    return cluster


def _group(rid, members):
    return {"ReplicationGroupId": rid, "ARN": f"{ARN}:replicationgroup:{rid}", "Status": "available",
            "MemberClusters": members, "AutomaticFailover": "enabled", "MultiAZ": "enabled",
            "NodeGroups": [{"NodeGroupId": "0001"}], "CacheNodeType": "cache.r7g.large",
            "LogDeliveryConfigurations": [{"LogType": "slow-log", "DestinationType": "cloudwatch-logs",
                                           "LogFormat": "json", "Status": "active"}]}


SUBNET_GROUPS = {"CacheSubnetGroups": [{"CacheSubnetGroupName": "cache",
                                        "Subnets": [{"SubnetIdentifier": "subnet-a"},
                                                    {"SubnetIdentifier": "subnet-b"}]}]}


def test_replication_group_real_aws_shape(ctx):
    """Members are readable in real AWS: engine version, groups and parameters come from them."""
    client = ctx.client("elasticache")
    with Stubber(client) as stub:
        stub.add_response("describe_replication_groups", {"ReplicationGroups": [
            _group("rg-a", ["rg-a-001", "rg-a-002"]), _group("rg-b", ["rg-b-001"])]}, {})
        stub.add_response("describe_cache_clusters", {"CacheClusters": [
            _member("rg-a-001", "rg-a"), _member("rg-a-002", "rg-a"), _member("rg-b-001", "rg-b")]},
            {"ShowCacheNodeInfo": True})
        stub.add_response("list_tags_for_resource", {"TagList": [{"Key": "Project", "Value": "shop"}]},
                          {"ResourceName": f"{ARN}:replicationgroup:rg-a"})
        stub.add_response("describe_cache_subnet_groups", SUBNET_GROUPS, {})
        stub.add_response("describe_cache_parameters", {
            "Parameters": [{"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"}],
            "Marker": "next"}, {"CacheParameterGroupName": "redis7-custom", "Source": "user"})
        stub.add_response("describe_cache_parameters", {
            "Parameters": [{"ParameterName": "timeout", "ParameterValue": "300"}]},
            {"CacheParameterGroupName": "redis7-custom", "Source": "user", "Marker": "next"})
        # rg-b shares the subnet and parameter groups: only its tags are read.
        stub.add_response("list_tags_for_resource", {"TagList": []}, {"ResourceName": ANY})
        found = {r.id: r for r in replication_groups(ctx)}
        stub.assert_no_pending_responses()

    a = found["rg-a"].attributes
    assert found["rg-a"].tags == {"Project": "shop"}
    assert a["engine"] == "redis" and a["engine_version"] == "7.1.0"
    assert a["num_cache_clusters"] == 2
    assert a["parameter_group_name"] == "redis7-custom"
    assert a["parameters"] == {"maxmemory-policy": "allkeys-lru", "timeout": "300"}
    assert a["security_group_ids"] == ["sg-cache"]
    assert a["cache_subnet_group_name"] == "cache" and a["subnet_ids"] == ["subnet-a", "subnet-b"]
    assert a["log_delivery"] == [{"log_type": "slow-log", "destination_type": "cloudwatch-logs",
                                  "log_format": "json", "status": "active"}]
    assert found["rg-b"].attributes["parameters"] == a["parameters"]


def test_standalone_clusters_skip_replication_members(ctx):
    client = ctx.client("elasticache")
    with Stubber(client) as stub:
        stub.add_response("describe_cache_clusters", {"CacheClusters": [
            _member("rg-a-001", "rg-a"),
            _member("memcached-1", Engine="memcached", EngineVersion="1.6.22", NumCacheNodes=3,
                    CacheParameterGroup={"CacheParameterGroupName": "default.memcached1.6"},
                    TransitEncryptionEnabled=True, PreferredAvailabilityZone="Multiple")]},
            {"ShowCacheNodeInfo": True, "ShowCacheClustersNotInReplicationGroups": True})
        stub.add_response("list_tags_for_resource", {"TagList": []},
                          {"ResourceName": f"{ARN}:cluster:memcached-1"})
        stub.add_response("describe_cache_subnet_groups", SUBNET_GROUPS, {})
        (c,) = cache_clusters(ctx)
        stub.assert_no_pending_responses()

    a = c.attributes
    assert c.id == "memcached-1"
    assert (a["engine"], a["engine_version"], a["num_cache_nodes"]) == ("memcached", "1.6.22", 3)
    assert a["parameter_group_name"] == "default.memcached1.6"
    assert a["parameters"] == {}  # default group: no call
    assert a["transit_encryption_enabled"] is True
    assert a["preferred_availability_zone"] == "Multiple"
    assert a["subnet_ids"] == ["subnet-a", "subnet-b"]


def test_denied_tags_leave_them_unknown(ctx):
    client = ctx.client("elasticache")
    with Stubber(client) as stub:
        stub.add_response("describe_replication_groups", {"ReplicationGroups": [_group("rg-a", [])]}, {})
        stub.add_response("describe_cache_clusters", {"CacheClusters": []}, {"ShowCacheNodeInfo": True})
        stub.add_client_error("list_tags_for_resource", "AccessDenied", "not authorized", 403)
        (group,) = replication_groups(ctx)
    assert set(group.unknown) == {"tags", "environment"}
    assert group.unknown["tags"] == "elasticache:ListTagsForResource AccessDenied: not authorized"
    assert [f.operation for f in ctx.faults] == ["ListTagsForResource"]
