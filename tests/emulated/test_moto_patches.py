"""auditor.emulated.moto_patches, checked with boto3 under mock_aws and against a moto server."""
from __future__ import annotations

import os

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from auditor.emulated import moto_patches


def _vpc(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"us-east-1{az}")
               ["Subnet"]["SubnetId"] for i, az in enumerate("ab")]
    sg = ec2.create_security_group(GroupName="t", Description="t", VpcId=vpc)["GroupId"]
    return vpc, subnets, sg


def test_apply_is_idempotent_and_revert_restores_moto():
    from moto.ecs.responses import EC2ContainerServiceResponse as R
    from moto.elasticache.models import CacheCluster
    from moto.elasticache.responses import ElastiCacheResponse
    from moto.rds.models import DBInstance
    moto_patches.revert()
    try:
        _check_apply_and_revert(R, CacheCluster, ElastiCacheResponse, DBInstance)
    finally:
        moto_patches.apply()  # the rest of the suite runs on patched moto


def _check_apply_and_revert(R, CacheCluster, ElastiCacheResponse, DBInstance):
    plain_create, plain_init = R.create_service, DBInstance.__init__
    assert not hasattr(ElastiCacheResponse, "describe_cache_parameters")
    assert "security_groups" not in vars(CacheCluster)
    moto_patches.apply()
    first = R.create_service
    moto_patches.apply()
    assert R.create_service is first is not plain_create and moto_patches.is_applied()
    moto_patches.revert()
    assert R.create_service is plain_create and DBInstance.__init__ is plain_init
    assert "security_groups" not in vars(CacheCluster) and "performance_insights_enabled" not in vars(DBInstance)
    assert not hasattr(ElastiCacheResponse, "describe_cache_parameters")
    with moto_patches.patched():
        assert R.create_service is not plain_create
    assert R.create_service is plain_create and not moto_patches.is_applied()


def test_ecs_service_keeps_deployment_configuration(clients):
    ecs, ec2 = clients("ecs"), clients("ec2")
    _, subnets, sg = _vpc(ec2)
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="f", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                 cpu="256", memory="512", containerDefinitions=[{"name": "app", "image": "x"}])
    network = {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg], "assignPublicIp": "DISABLED"}}
    created = ecs.create_service(
        cluster="c", serviceName="s", taskDefinition="f", desiredCount=2, launchType="FARGATE",
        networkConfiguration=network, healthCheckGracePeriodSeconds=60,
        deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100,
                                 "deploymentCircuitBreaker": {"enable": True, "rollback": True}})["service"]
    expected = {"maximumPercent": 200, "minimumHealthyPercent": 100,
                "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    assert created["deploymentConfiguration"] == expected
    svc = ecs.describe_services(cluster="c", services=["s"])["services"][0]
    assert svc["deploymentConfiguration"] == expected
    assert svc["healthCheckGracePeriodSeconds"] == 60
    assert svc["enableExecuteCommand"] is False

    # update merges the given fields into the current configuration, as AWS does
    ecs.update_service(cluster="c", service="s", deploymentConfiguration={"minimumHealthyPercent": 50},
                       healthCheckGracePeriodSeconds=30)
    svc = ecs.describe_services(cluster="c", services=["s"])["services"][0]
    assert svc["deploymentConfiguration"] == {**expected, "minimumHealthyPercent": 50}
    assert svc["healthCheckGracePeriodSeconds"] == 30

    # without a configuration AWS returns its defaults; no grace period without load balancers
    ecs.create_service(cluster="c", serviceName="plain", taskDefinition="f", desiredCount=1,
                       launchType="FARGATE", networkConfiguration=network)
    plain = ecs.describe_services(cluster="c", services=["plain"])["services"][0]
    assert plain["deploymentConfiguration"] == {
        "maximumPercent": 200, "minimumHealthyPercent": 100,
        "deploymentCircuitBreaker": {"enable": False, "rollback": False}}
    assert "healthCheckGracePeriodSeconds" not in plain


def _create_db(rds, ident, **extra):
    rds.create_db_instance(DBInstanceIdentifier=ident, DBInstanceClass="db.t4g.micro", Engine="postgres",
                           EngineVersion="16.3", AllocatedStorage=20, MasterUsername="admin",
                           MasterUserPassword="x" * 16, **extra)
    return rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]


def test_rds_performance_insights_iops_throughput_and_adjacent_windows(clients):
    rds = clients("rds")
    db = _create_db(rds, "db1", StorageType="gp3", StorageEncrypted=True, EnablePerformanceInsights=True,
                    PerformanceInsightsRetentionPeriod=31, PreferredBackupWindow="03:00-04:00",
                    PreferredMaintenanceWindow="Mon:04:00-Mon:05:00")
    assert db["PerformanceInsightsEnabled"] is True
    assert db["PerformanceInsightsRetentionPeriod"] == 31
    assert db["PerformanceInsightsKMSKeyId"].startswith("arn:aws:kms:us-east-1:")
    assert db["KmsKeyId"].startswith("arn:aws:kms:us-east-1:")
    assert (db["Iops"], db["StorageThroughput"]) == (3000, 125)  # gp3 baseline below 400 GiB
    assert (db["PreferredBackupWindow"], db["PreferredMaintenanceWindow"]) == ("03:00-04:00", "mon:04:00-mon:05:00")

    db2 = _create_db(rds, "db2", PreferredBackupWindow="03:00-04:00", PreferredMaintenanceWindow="Sun:04:00-Sun:05:00")
    assert db2["PerformanceInsightsEnabled"] is False
    assert "PerformanceInsightsRetentionPeriod" not in db2
    assert db2["StorageType"] == "gp2" and "Iops" not in db2

    modified = rds.modify_db_instance(DBInstanceIdentifier="db2", EnablePerformanceInsights=True,
                                      StorageType="gp3", AllocatedStorage=400, Iops=12000,
                                      StorageThroughput=600, ApplyImmediately=True)["DBInstance"]
    assert modified["PerformanceInsightsEnabled"] is True
    db2 = rds.describe_db_instances(DBInstanceIdentifier="db2")["DBInstances"][0]
    assert (db2["StorageType"], db2["Iops"], db2["StorageThroughput"]) == ("gp3", 12000, 600)
    assert db2["PerformanceInsightsRetentionPeriod"] == 7

    # a real overlap is still refused
    with pytest.raises(ClientError, match="overlap"):
        _create_db(rds, "db3", PreferredBackupWindow="04:00-04:30", PreferredMaintenanceWindow="Sun:04:00-Sun:05:00")


def test_elasticache_members_and_parameter_groups(clients):
    ec, ec2 = clients("elasticache"), clients("ec2")
    _, subnets, sg = _vpc(ec2)
    ec.create_cache_subnet_group(CacheSubnetGroupName="sng", CacheSubnetGroupDescription="d", SubnetIds=subnets)
    group = ec.create_cache_parameter_group(CacheParameterGroupName="pg", CacheParameterGroupFamily="redis7",
                                            Description="mine", Tags=[{"Key": "Project", "Value": "p"}])
    assert group["CacheParameterGroup"]["CacheParameterGroupFamily"] == "redis7"
    ec.modify_cache_parameter_group(CacheParameterGroupName="pg", ParameterNameValues=[
        {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"}])
    user = ec.describe_cache_parameters(CacheParameterGroupName="pg", Source="user")["Parameters"]
    assert [(p["ParameterName"], p["ParameterValue"], p["Source"]) for p in user] == [
        ("maxmemory-policy", "allkeys-lru", "user")]
    everything = ec.describe_cache_parameters(CacheParameterGroupName="pg")["Parameters"]
    assert len(everything) > 1 and {"ParameterName": "timeout"}.items() <= next(
        p for p in everything if p["ParameterName"] == "timeout").items()
    paged = ec.get_paginator("describe_cache_parameters").paginate(
        CacheParameterGroupName="pg", PaginationConfig={"PageSize": 20})
    assert sum(len(page["Parameters"]) for page in paged) == len(everything)
    names = [g["CacheParameterGroupName"] for g in ec.describe_cache_parameter_groups()["CacheParameterGroups"]]
    assert "pg" in names and "default.redis7" in names
    assert ec.list_tags_for_resource(ResourceName=group["CacheParameterGroup"]["ARN"])["TagList"] == [
        {"Key": "Project", "Value": "p"}]
    with pytest.raises(ClientError, match="CacheParameterGroupNotFound"):
        ec.describe_cache_parameters(CacheParameterGroupName="nope")

    rg = ec.create_replication_group(
        ReplicationGroupId="rg", ReplicationGroupDescription="d", NumCacheClusters=2, Engine="redis",
        EngineVersion="7.1", CacheNodeType="cache.t4g.small", AutomaticFailoverEnabled=True,
        AtRestEncryptionEnabled=True, CacheParameterGroupName="pg", CacheSubnetGroupName="sng",
        SecurityGroupIds=[sg], SnapshotRetentionLimit=5, SnapshotWindow="03:00-05:00",
        PreferredCacheClusterAZs=["us-east-1a", "us-east-1b"])["ReplicationGroup"]
    assert rg["MemberClusters"] == ["rg-001", "rg-002"]
    members = ec.describe_cache_clusters()["CacheClusters"]
    assert [m["CacheClusterId"] for m in members] == ["rg-001", "rg-002"]
    for m in members:
        assert m["ReplicationGroupId"] == "rg" and m["EngineVersion"] == "7.1"
        assert m["CacheNodeType"] == "cache.t4g.small" and m["CacheSubnetGroupName"] == "sng"
        assert m["CacheParameterGroup"]["CacheParameterGroupName"] == "pg"
        assert m["SecurityGroups"] == [{"SecurityGroupId": sg, "Status": "active"}]
        assert m["AtRestEncryptionEnabled"] is True
    assert [m["PreferredAvailabilityZone"] for m in members] == ["us-east-1a", "us-east-1b"]

    ec.delete_replication_group(ReplicationGroupId="rg")
    assert ec.describe_cache_clusters()["CacheClusters"] == []
    ec.delete_cache_parameter_group(CacheParameterGroupName="pg")
    assert "pg" not in [g["CacheParameterGroupName"]
                        for g in ec.describe_cache_parameter_groups()["CacheParameterGroups"]]


def test_server_clients_reach_the_moto_server(account):
    import boto3
    ecs = boto3.client("ecs", region_name="us-east-1")
    assert ecs.meta.endpoint_url == account
    ecs.create_cluster(clusterName="on-server")
    assert ecs.list_clusters()["clusterArns"][0].endswith("cluster/on-server")


def test_settings_hold_for_the_block_only(monkeypatch):
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "true")
    with mock_aws(), moto_patches.settings():
        from moto.ec2.models import ec2_backends
        assert ec2_backends["210987654321"]["eu-north-1"].amis == {}   # made inside the block: no public AMIs
    assert os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] == "true"


def test_the_server_asks_moto_once_per_host():
    from auditor.emulated.demo import _remember_backends

    class App:
        asked: list[str | None] = []

        def get_backend_for_host(self, host):
            self.asked.append(host)
            return None if host is None else host.split(".")[0]

    app = App()
    _remember_backends(app)
    assert [app.get_backend_for_host(h) for h in ("ec2.eu-west-1.amazonaws.com", None, "ec2.eu-west-1.amazonaws.com",
                                                  "rds.eu-west-1.amazonaws.com", None)] == ["ec2", None, "ec2", "rds", None]
    assert app.asked == ["ec2.eu-west-1.amazonaws.com", None, "rds.eu-west-1.amazonaws.com"]
