"""RDS collector: instances, subnet group, security groups and non-default parameters."""
from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from auditor.collect.rds import rds_instances

REGION = "us-east-1"


def _by_id(ctx):
    return {r.id: r for r in rds_instances(ctx)}


@pytest.fixture
def network(aws):
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                 AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
               for i, az in ((1, "a"), (2, "b"))]
    sg = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    rds = boto3.client("rds", region_name=REGION)
    rds.create_db_subnet_group(DBSubnetGroupName="app-db", DBSubnetGroupDescription="db",
                               SubnetIds=subnets)
    rds.create_db_parameter_group(DBParameterGroupName="app-pg15", DBParameterGroupFamily="postgres15",
                                  Description="app")
    rds.modify_db_parameter_group(DBParameterGroupName="app-pg15", Parameters=[
        {"ParameterName": "max_connections", "ParameterValue": "100", "ApplyMethod": "pending-reboot"},
        {"ParameterName": "log_statement", "ParameterValue": "ddl", "ApplyMethod": "immediate"},
    ])
    return {"vpc": vpc, "subnets": subnets, "sg": sg, "rds": rds}


def _create_postgres(rds, ident, sg):
    rds.create_db_instance(
        DBInstanceIdentifier=ident, DBInstanceClass="db.t3.micro", Engine="postgres",
        EngineVersion="15.4", AllocatedStorage=20, MaxAllocatedStorage=100, StorageType="gp3",
        MasterUsername="app", MasterUserPassword="not-a-real-password", DBName="app",
        DBSubnetGroupName="app-db", DBParameterGroupName="app-pg15", VpcSecurityGroupIds=[sg],
        MultiAZ=True, StorageEncrypted=True, BackupRetentionPeriod=7, DeletionProtection=True,
        PubliclyAccessible=False, EnableCloudwatchLogsExports=["postgresql"],
        Tags=[{"Key": "Environment", "Value": "prod"}, {"Key": "Project", "Value": "shop"}])


def test_instance_attributes_and_user_parameters(ctx, aws, network):
    rds = network["rds"]
    _create_postgres(rds, "app-db-1", network["sg"])
    _create_postgres(rds, "app-db-2", network["sg"])
    rds.create_db_instance(DBInstanceIdentifier="scratch", DBInstanceClass="db.t3.micro",
                           Engine="postgres", AllocatedStorage=20)

    found = _by_id(ctx)

    assert set(found) == {"app-db-1", "app-db-2", "scratch"}
    db = found["app-db-1"]
    a = db.attributes
    assert db.arn == "arn:aws:rds:us-east-1:123456789012:db:app-db-1"
    assert db.name == "app-db-1"
    assert db.tags == {"Environment": "prod", "Project": "shop"}
    assert db.environment == "production"
    assert (a["engine"], a["engine_version"], a["instance_class"]) == ("postgres", "15.4", "db.t3.micro")
    assert a["status"] == "available"
    assert a["multi_az"] is True
    assert a["storage_type"] == "gp3"
    assert a["allocated_storage"] == 20 and a["max_allocated_storage"] == 100
    assert a["storage_encrypted"] is True
    assert a["publicly_accessible"] is False
    assert a["backup_retention_period"] == 7
    assert a["deletion_protection"] is True
    assert a["enabled_cloudwatch_logs_exports"] == ["postgresql"]
    assert a["port"] == 5432
    assert a["db_name"] == "app"
    assert a["vpc_security_group_ids"] == [network["sg"]]
    assert a["db_subnet_group"] == {"name": "app-db", "vpc_id": network["vpc"],
                                    "subnet_ids": network["subnets"]}
    assert a["parameter_groups"] == [{"name": "app-pg15", "status": "in-sync"}]
    assert a["parameters"] == {"max_connections": "100", "log_statement": "ddl"}
    assert found["app-db-2"].attributes["parameters"] == a["parameters"]
    # One parameter group shared by two instances is read once.
    assert aws.stats.calls[("rds", "DescribeDBParameters")] == 1

    scratch = found["scratch"].attributes
    assert scratch["parameters"] == {}  # default.* group: not read
    assert scratch["parameter_groups"][0]["name"].startswith("default.")
    assert scratch["publicly_accessible"] is None  # moto omits it on a minimal create
    assert scratch["max_allocated_storage"] is None
    assert scratch["db_subnet_group"] is None
    assert scratch["multi_az"] is False


def _stub_instance(ident, **extra):
    return {"DBInstanceIdentifier": ident, "DBInstanceArn": f"arn:aws:rds:us-east-1:123456789012:db:{ident}",
            "Engine": "mysql", "EngineVersion": "8.0.36", "DBInstanceClass": "db.r6g.large",
            "DBParameterGroups": [{"DBParameterGroupName": "mysql-custom", "ParameterApplyStatus": "pending-reboot"}],
            "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-1", "Status": "active"},
                                  {"VpcSecurityGroupId": "sg-old", "Status": "removing"}],
            **extra}


def test_pagination_and_real_aws_fields(ctx):
    client = ctx.client("rds")
    with Stubber(client) as stub:
        stub.add_response("describe_db_instances", {
            "DBInstances": [_stub_instance(
                "db-a", Iops=3000, StorageThroughput=125, PerformanceInsightsEnabled=True,
                PerformanceInsightsRetentionPeriod=7, Endpoint={"Address": "x", "Port": 3306},
                DbInstancePort=0, InstanceCreateTime=datetime(2024, 1, 1, tzinfo=UTC))],
            "Marker": "m1"}, {})
        stub.add_response("describe_db_parameters", {
            "Parameters": [{"ParameterName": "require_secure_transport", "ParameterValue": "1"}],
            "Marker": "p1"}, {"DBParameterGroupName": "mysql-custom", "Source": "user"})
        stub.add_response("describe_db_parameters", {
            "Parameters": [{"ParameterName": "slow_query_log", "ParameterValue": "1"}]},
            {"DBParameterGroupName": "mysql-custom", "Source": "user", "Marker": "p1"})
        stub.add_response("describe_db_instances", {"DBInstances": [_stub_instance("db-b")]},
                          {"Marker": "m1"})
        found = _by_id(ctx)
        stub.assert_no_pending_responses()

    assert set(found) == {"db-a", "db-b"}
    a = found["db-a"].attributes
    assert a["parameters"] == {"require_secure_transport": "1", "slow_query_log": "1"}
    assert found["db-b"].attributes["parameters"] == a["parameters"]
    assert (a["iops"], a["storage_throughput"]) == (3000, 125)
    assert a["performance_insights_enabled"] is True
    assert a["performance_insights_retention_period"] == 7
    assert a["port"] == 3306
    assert a["vpc_security_group_ids"] == ["sg-1"]
    assert a["parameter_groups"] == [{"name": "mysql-custom", "status": "pending-reboot"}]
    assert "instance_create_time" not in a
    assert found["db-b"].attributes["port"] is None


def test_denied_list_propagates(ctx):
    client = ctx.client("rds")
    with Stubber(client) as stub:
        stub.add_client_error("describe_db_instances", "AccessDenied", "not authorized", 403)
        with pytest.raises(ClientError) as err:
            list(rds_instances(ctx))
    assert err.value.operation_name == "DescribeDBInstances"
    assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_denied_parameters_are_unknown_for_each_instance_of_the_group(ctx):
    client = ctx.client("rds")
    with Stubber(client) as stub:
        stub.add_response("describe_db_instances", {"DBInstances": [_stub_instance("db-a"), _stub_instance("db-b")]}, {})
        stub.add_client_error("describe_db_parameters", "AccessDenied", "not authorized", 403)   # read once
        found = list(rds_instances(ctx))
        stub.assert_no_pending_responses()
    assert [(r.id, set(r.unknown), r.attributes["parameters"]) for r in found] == [
        ("db-a", {"parameters"}, None), ("db-b", {"parameters"}, None)]
    assert [(f.operation, f.resource_id) for f in ctx.faults] == [
        ("DescribeDBParameters", "db-a"), ("DescribeDBParameters", "db-b")]
