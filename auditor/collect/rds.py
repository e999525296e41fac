"""RDS DB instances with their network placement and the non-default values of their parameter groups.

One ``describe_db_instances`` walk (tags come with it). Each custom DB parameter group is read once
per run with ``describe_db_parameters(Source="user")``; groups named ``default.*`` hold no changes
and are not read; when that call fails, ``parameters`` of the instances using the group are unknown.
A missing AWS field is ``None``.

Resource types (each described, attributes and volatile ones included, by its ``ResourceType`` below):

- ``rds_instance`` (id = DBInstanceIdentifier, arn = DBInstanceArn): allocated_storage is in GB,
  max_allocated_storage the storage autoscaling limit (None = off); vpc_security_group_ids holds
  the active groups only; db_subnet_group is None without one; parameters {name: value} are the
  user-modified values of the instance's parameter groups.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..attributes import many, shape
from ..model import Resource
from . import CollectContext, Item, collector, remember, tag_dict
from .types import Dimensions, Edge, ResourceType

RDS_INSTANCE = ResourceType(
    "rds_instance", "rds", "arn:{partition}:rds:{region}:{account}:db:{id}",
    calls=("DescribeDBInstances", "DescribeDBParameters"),
    attributes=shape(
        "engine:str engine_version:str instance_class:str status:str multi_az:bool availability_zone:str "
        "secondary_availability_zone:str storage_type:str allocated_storage:int max_allocated_storage:int iops:int "
        "storage_throughput:int storage_encrypted:bool kms_key_id:str publicly_accessible:bool backup_retention_period:int "
        "preferred_backup_window:str preferred_maintenance_window:str deletion_protection:bool "
        "performance_insights_enabled:bool performance_insights_retention_period:int monitoring_interval:int "
        "monitoring_role_arn:str enabled_cloudwatch_logs_exports:[str] auto_minor_version_upgrade:bool port:int db_name:str "
        "master_username:str iam_database_authentication_enabled:bool ca_certificate_identifier:str "
        "copy_tags_to_snapshot:bool db_cluster_identifier:str vpc_security_group_ids:[str] parameters:map",
        db_subnet_group=shape("name:str vpc_id:str subnet_ids:[str]"),
        parameter_groups=many("name:str status:str")),
    volatile=("status",),
    alarms=(Dimensions("AWS/RDS", {"DBInstanceIdentifier": "id"}),),
    owns=(Edge("security_group", via="security_groups"), Edge("subnet", via="subnets"),
          Edge("log_group", via="rds_log_groups")),
    cost="rds")


@collector(RDS_INSTANCE)
def rds_instances(ctx: CollectContext) -> Iterator[Resource]:
    group_cache: dict[str, Any] = {}
    for db in ctx.paginate("rds", "describe_db_instances", "DBInstances"):
        groups = [{"name": g.get("DBParameterGroupName"), "status": g.get("ParameterApplyStatus")}
                  for g in db.get("DBParameterGroups") or []]
        with ctx.item("rds", "rds_instance", db["DBInstanceIdentifier"]) as item:
            parameters = item.call(("parameters",), _parameters, ctx, [g["name"] for g in groups], group_cache)
            yield _instance(item, db, groups, parameters)


def _instance(item: Item, db: dict, groups: list[dict], parameters: dict[str, Any] | None) -> Resource:
    subnet_group = db.get("DBSubnetGroup")
    return item.resource(
        arn=db.get("DBInstanceArn"), name=db["DBInstanceIdentifier"], tags=tag_dict(db.get("TagList")),
        engine=db.get("Engine"),
        engine_version=db.get("EngineVersion"),
        instance_class=db.get("DBInstanceClass"),
        status=db.get("DBInstanceStatus"),
        multi_az=bool(db.get("MultiAZ")),
        availability_zone=db.get("AvailabilityZone"),
        secondary_availability_zone=db.get("SecondaryAvailabilityZone"),
        storage_type=db.get("StorageType"),
        allocated_storage=db.get("AllocatedStorage"),
        max_allocated_storage=db.get("MaxAllocatedStorage"),
        iops=db.get("Iops"),
        storage_throughput=db.get("StorageThroughput"),
        storage_encrypted=bool(db.get("StorageEncrypted")),
        kms_key_id=db.get("KmsKeyId"),
        publicly_accessible=db.get("PubliclyAccessible"),
        backup_retention_period=db.get("BackupRetentionPeriod"),
        preferred_backup_window=db.get("PreferredBackupWindow"),
        preferred_maintenance_window=db.get("PreferredMaintenanceWindow"),
        deletion_protection=db.get("DeletionProtection"),
        performance_insights_enabled=db.get("PerformanceInsightsEnabled"),
        performance_insights_retention_period=db.get("PerformanceInsightsRetentionPeriod"),
        monitoring_interval=db.get("MonitoringInterval"),
        monitoring_role_arn=db.get("MonitoringRoleArn"),
        enabled_cloudwatch_logs_exports=list(db.get("EnabledCloudwatchLogsExports") or []),
        auto_minor_version_upgrade=db.get("AutoMinorVersionUpgrade"),
        port=(db.get("Endpoint") or {}).get("Port") or db.get("DbInstancePort") or None,
        db_name=db.get("DBName"),
        master_username=db.get("MasterUsername"),
        iam_database_authentication_enabled=db.get("IAMDatabaseAuthenticationEnabled"),
        ca_certificate_identifier=db.get("CACertificateIdentifier"),
        copy_tags_to_snapshot=db.get("CopyTagsToSnapshot"),
        db_cluster_identifier=db.get("DBClusterIdentifier"),
        vpc_security_group_ids=[g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups") or []
                                if g.get("Status") == "active"],
        db_subnet_group=None if not subnet_group else {
            "name": subnet_group.get("DBSubnetGroupName"),
            "vpc_id": subnet_group.get("VpcId"),
            "subnet_ids": [s["SubnetIdentifier"] for s in subnet_group.get("Subnets") or []],
        },
        parameter_groups=groups,
        parameters=parameters,
    )


def _parameters(ctx: CollectContext, groups: list[str | None], cache: dict[str, Any]) -> dict[str, Any]:
    """The user-modified parameters of an instance's DB parameter groups, each group read once."""
    parameters: dict[str, Any] = {}
    for group in groups:
        if group and not group.startswith("default."):
            parameters.update(remember(cache, group, lambda g=group: {
                p["ParameterName"]: p.get("ParameterValue")
                for p in ctx.paginate("rds", "describe_db_parameters", "Parameters", DBParameterGroupName=g, Source="user")}))
    return parameters
