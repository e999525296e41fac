"""ECS collector: clusters, services and task definitions on moto, real AWS shapes via Stubber."""
from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from auditor.collect import ecs
from auditor.model import thaw

ACCOUNT = "123456789012"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:app/db-AbCdEf"


def _container(**extra):
    return {
        "name": "web", "image": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app:1", "essential": True,
        "portMappings": [{"containerPort": 8000, "protocol": "tcp"}],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": "/ecs/app", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}},
        "secrets": [{"name": "DATABASE_URL", "valueFrom": SECRET_ARN}],
        "environment": [{"name": "PORT", "value": "8000"}, {"name": "API_TOKEN", "value": "plain-text-token"}],
        **extra,
    }


def _register(client, family="app"):
    return client.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="512", memory="1024",
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/app-task", executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/app-exec",
        containerDefinitions=[_container()], tags=[{"key": "Team", "value": "api"}],
    )["taskDefinition"]["taskDefinitionArn"]


@pytest.fixture
def app(ctx):
    """VPC, subnets, SG, target group, a Container Insights cluster, a Fargate task definition and service."""
    ec2, elbv2, client = (ctx.client(s) for s in ("ec2", "elbv2", "ecs"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.1{i}.0/24", AvailabilityZone=f"us-east-1{az}")
               ["Subnet"]["SubnetId"] for i, az in enumerate("ab")]
    sg = ec2.create_security_group(GroupName="ecs", Description="ecs tasks", VpcId=vpc)["GroupId"]
    tg = elbv2.create_target_group(Name="app-tg", Protocol="HTTP", Port=8000, VpcId=vpc,
                                   TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    client.create_cluster(clusterName="app-prod", settings=[{"name": "containerInsights", "value": "enabled"}],
                          capacityProviders=["FARGATE", "FARGATE_SPOT"],
                          tags=[{"key": "Environment", "value": "prod"}])
    td = _register(client)
    svc = client.create_service(
        cluster="app-prod", serviceName="api", taskDefinition="app:1", desiredCount=2, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg],
                                                      "assignPublicIp": "DISABLED"}},
        loadBalancers=[{"targetGroupArn": tg, "containerName": "web", "containerPort": 8000}],
        tags=[{"key": "Environment", "value": "production"}],
    )["service"]["serviceArn"]
    return {"subnets": subnets, "sg": sg, "tg": tg, "td": td, "svc": svc}


def test_cluster_attributes(ctx, app):
    ctx.client("ecs").create_cluster(clusterName="plain")
    found = {r.id: r for r in ecs.clusters(ctx)}
    prod = found["app-prod"]
    assert prod.arn == f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/app-prod"
    assert prod.name == "app-prod"
    assert prod.environment == "production"
    stable = {k: v for k, v in thaw(prod.attributes).items() if k not in ecs.CLUSTER.volatile}
    assert stable == {
        "cluster_name": "app-prod", "status": "ACTIVE", "container_insights": "enabled",
        "capacity_providers": ["FARGATE", "FARGATE_SPOT"], "default_capacity_provider_strategy": [],
    }
    assert set(prod.attributes) - set(stable) == {
        "active_services_count", "running_tasks_count", "pending_tasks_count",
        "registered_container_instances_count"}
    assert prod.attributes["running_tasks_count"] == 0
    assert found["plain"].attributes["container_insights"] == "disabled"
    assert found["plain"].attributes["capacity_providers"] == []


def test_service_attributes(ctx, app):
    [svc] = list(ecs.services(ctx))
    assert (svc.id, svc.arn, svc.name) == (app["svc"], app["svc"], "api")
    assert svc.tags == {"Environment": "production"}
    assert svc.environment == "production"
    assert thaw(svc.attributes) == {
        "cluster_name": "app-prod",
        "cluster_arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/app-prod",
        "service_name": "api", "status": "ACTIVE", "launch_type": "FARGATE",
        "capacity_provider_strategy": [], "platform_version": None,
        "desired_count": 2, "running_count": 0, "pending_count": 2,
        "task_definition_arn": app["td"], "scheduling_strategy": "REPLICA",
        "deployment_controller": "ECS",
        # AWS's defaults, which moto returns with auditor.emulated.moto_patches
        "deployment_configuration": {"minimum_healthy_percent": 100, "maximum_percent": 200,
                                     "circuit_breaker": {"enable": False, "rollback": False}, "alarms": None},
        "health_check_grace_period_seconds": 0, "enable_execute_command": False,
        "propagate_tags": "NONE", "enable_ecs_managed_tags": None,
        "network": {"subnet_ids": app["subnets"], "security_group_ids": [app["sg"]], "assign_public_ip": False},
        "load_balancers": [{"target_group_arn": app["tg"], "load_balancer_name": None,
                            "container_name": "web", "container_port": 8000}],
        "service_registry_arns": [], "created_at": None,
    }
    assert {"running_count", "pending_count"} <= set(ecs.SERVICE.volatile)


def test_describe_services_batches_of_ten(ctx):
    client = ctx.client("ecs")
    client.create_cluster(clusterName="big")
    _register(client)
    for i in range(23):
        client.create_service(cluster="big", serviceName=f"svc-{i:02d}", taskDefinition="app", desiredCount=1)
    found = list(ecs.services(ctx))
    assert sorted(r.name for r in found) == [f"svc-{i:02d}" for i in range(23)]
    assert ctx.aws.stats.calls[("ecs", "DescribeServices")] == 3


CLUSTER_ARN = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod"
SERVICE_ARN = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/prod/web"


def _aws_service():
    """A describe_services entry as real AWS returns it (capacity provider strategy, no launchType)."""
    return {
        "serviceArn": SERVICE_ARN, "serviceName": "web", "clusterArn": CLUSTER_ARN, "status": "ACTIVE",
        "desiredCount": 3, "runningCount": 3, "pendingCount": 0, "platformVersion": "LATEST",
        "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0},
                                     {"capacityProvider": "FARGATE", "weight": 1, "base": 1}],
        "taskDefinition": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/web:7",
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "maximumPercent": 200, "minimumHealthyPercent": 100,
        },
        "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": ["subnet-1"], "securityGroups": ["sg-1"], "assignPublicIp": "ENABLED"}},
        "loadBalancers": [], "serviceRegistries": [],
        "healthCheckGracePeriodSeconds": 60, "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"}, "enableECSManagedTags": True, "propagateTags": "SERVICE",
        "enableExecuteCommand": False, "createdAt": dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC),
        "tags": [{"key": "Environment", "value": "staging"}],
    }


def test_service_maps_real_aws_response(ctx):
    client = ctx.client("ecs")
    with Stubber(client) as stub:
        stub.add_response("list_clusters", {"clusterArns": [CLUSTER_ARN]}, {})
        stub.add_response("list_services", {"serviceArns": [SERVICE_ARN]}, {"cluster": CLUSTER_ARN})
        stub.add_response("describe_services", {"services": [_aws_service()], "failures": []},
                          {"cluster": CLUSTER_ARN, "services": [SERVICE_ARN], "include": ["TAGS"]})
        [svc] = list(ecs.services(ctx))
        stub.assert_no_pending_responses()
    a = svc.attributes
    assert svc.environment == "staging"
    assert a["launch_type"] == "FARGATE"
    assert a["capacity_provider_strategy"] == [{"capacity_provider": "FARGATE_SPOT", "weight": 1, "base": 0},
                                               {"capacity_provider": "FARGATE", "weight": 1, "base": 1}]
    assert a["deployment_configuration"] == {
        "minimum_healthy_percent": 100, "maximum_percent": 200,
        "circuit_breaker": {"enable": True, "rollback": True}, "alarms": None,
    }
    assert a["network"] == {"subnet_ids": ["subnet-1"], "security_group_ids": ["sg-1"], "assign_public_ip": True}
    assert (a["health_check_grace_period_seconds"], a["enable_execute_command"]) == (60, False)
    assert (a["platform_version"], a["enable_ecs_managed_tags"], a["propagate_tags"]) == ("LATEST", True, "SERVICE")
    assert a["created_at"] == "2024-05-01T12:00:00+00:00"


def test_service_list_pages_across_clusters(ctx):
    """list_clusters and list_services follow nextToken (moto returns one page)."""
    client = ctx.client("ecs")
    other_cluster = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/dev"
    svc_b = {**_aws_service(), "serviceArn": SERVICE_ARN + "-b", "serviceName": "web-b"}
    svc_dev = {**_aws_service(), "serviceArn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/dev/web",
               "clusterArn": other_cluster, "capacityProviderStrategy": [], "launchType": "EC2"}
    del svc_dev["networkConfiguration"]  # bridge-mode service on EC2
    with Stubber(client) as stub:
        stub.add_response("list_clusters", {"clusterArns": [CLUSTER_ARN], "nextToken": "c2"}, {})
        stub.add_response("list_clusters", {"clusterArns": [other_cluster]}, {"nextToken": "c2"})
        stub.add_response("list_services", {"serviceArns": [SERVICE_ARN], "nextToken": "s2"}, {"cluster": CLUSTER_ARN})
        stub.add_response("list_services", {"serviceArns": [SERVICE_ARN + "-b"]},
                          {"cluster": CLUSTER_ARN, "nextToken": "s2"})
        stub.add_response("describe_services", {"services": [_aws_service(), svc_b]},
                          {"cluster": CLUSTER_ARN, "services": [SERVICE_ARN, SERVICE_ARN + "-b"], "include": ["TAGS"]})
        stub.add_response("list_services", {"serviceArns": [svc_dev["serviceArn"]]}, {"cluster": other_cluster})
        stub.add_response("describe_services", {"services": [svc_dev]},
                          {"cluster": other_cluster, "services": [svc_dev["serviceArn"]], "include": ["TAGS"]})
        found = list(ecs.services(ctx))
        stub.assert_no_pending_responses()
    assert [(r.name, r.attributes["cluster_name"]) for r in found] == [("web", "prod"), ("web-b", "prod"), ("web", "dev")]
    assert found[2].attributes["launch_type"] == "EC2"
    assert found[2].attributes["network"] == {"subnet_ids": [], "security_group_ids": [], "assign_public_ip": None}


def test_task_definition_attributes(ctx, app):
    [td] = list(ecs.task_definitions(ctx))
    assert (td.id, td.arn, td.name) == (app["td"], app["td"], "app:1")
    assert td.tags == {"Team": "api"}
    assert thaw(td.attributes) == {
        "family": "app", "revision": 1, "status": "ACTIVE", "cpu": 512, "memory": 1024,
        "network_mode": "awsvpc", "requires_compatibilities": ["FARGATE"],
        "task_role_arn": f"arn:aws:iam::{ACCOUNT}:role/app-task",
        "execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/app-exec",
        "runtime_platform": None, "ephemeral_storage_gib": None,
        "containers": [{
            "name": "web", "image": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app:1",
            "cpu": 0, "memory": None, "memory_reservation": None, "essential": True, "user": None,
            "readonly_root_filesystem": None, "privileged": None,
            "port_mappings": [{"container_port": 8000, "host_port": None, "protocol": "tcp"}],
            "log_configuration": {"driver": "awslogs", "options": {
                "awslogs-group": "/ecs/app", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}},
            "secrets": [{"name": "DATABASE_URL", "value_from": SECRET_ARN}],
            "environment_names": ["PORT", "API_TOKEN"],
            "health_check": None,
        }],
    }
    assert "plain-text-token" not in repr(td.attributes)
    assert ctx.aws.stats.calls[("ecs", "DescribeTaskDefinition")] == 1  # family latest == referenced


def test_task_definitions_referenced_and_latest_active(ctx, app):
    client = ctx.client("ecs")
    latest = _register(client)                     # app:2, newer than the app:1 the service runs
    worker = _register(client, family="worker")
    gone = _register(client, family="retired")
    client.deregister_task_definition(taskDefinition=gone)
    found = {r.name: r for r in ecs.task_definitions(ctx)}
    assert set(found) == {"app:1", "app:2", "worker:1"}
    assert found["app:2"].id == latest and found["worker:1"].id == worker


def test_task_definition_health_check_and_platform(ctx):
    client = ctx.client("ecs")
    client.register_task_definition(
        family="hc", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        containerDefinitions=[_container(
            user="1000", readonlyRootFilesystem=True, memoryReservation=256,
            healthCheck={"command": ["CMD-SHELL", "curl -f http://localhost:8000/health || exit 1"],
                         "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 10})],
    )
    [td] = list(ecs.task_definitions(ctx))
    c = td.attributes["containers"][0]
    assert (td.attributes["cpu"], td.attributes["memory"]) == (256, 512)
    assert (c["user"], c["readonly_root_filesystem"], c["memory_reservation"]) == ("1000", True, 256)
    assert c["health_check"] == {"command": ["CMD-SHELL", "curl -f http://localhost:8000/health || exit 1"],
                                 "interval": 30, "timeout": 5, "retries": 3, "start_period": 10}


def test_denied_call_propagates(ctx):
    client = ctx.client("ecs")
    with Stubber(client) as stub:
        stub.add_response("list_clusters", {"clusterArns": [CLUSTER_ARN]}, {})
        stub.add_client_error("describe_clusters", "AccessDeniedException", "not authorized",
                              expected_params={"clusters": [CLUSTER_ARN], "include": ANY})
        with pytest.raises(ClientError) as err:
            list(ecs.clusters(ctx))
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"


def test_clusters_and_services_missing_from_describe_are_counted_as_vanished(ctx):
    client = ctx.client("ecs")
    gone = {"arn": "arn:aws:ecs:us-east-1:123456789012:cluster/old", "reason": "MISSING"}
    with Stubber(client) as stub:
        stub.add_response("list_clusters", {"clusterArns": [gone["arn"]]}, {})
        stub.add_response("describe_clusters", {"clusters": [], "failures": [gone]})
        assert list(ecs.clusters(ctx)) == []
        stub.add_client_error("list_services", "ClusterNotFoundException", "Cluster not found.", 400)
        assert list(ecs.services(ctx)) == []
    assert ctx.vanished == {"ecs_cluster": 1} and ctx.faults == []


def test_a_referenced_revision_that_cannot_be_described_is_kept_unknown(ctx):
    client = ctx.client("ecs")
    cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/main"
    service = "arn:aws:ecs:us-east-1:123456789012:service/main/web"
    revision = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7"
    with Stubber(client) as stub:
        stub.add_response("list_task_definition_families", {"families": []}, {"status": "ACTIVE"})
        stub.add_response("list_clusters", {"clusterArns": [cluster]}, {})
        stub.add_response("list_services", {"serviceArns": [service]}, {"cluster": cluster})
        stub.add_response("describe_services", {"services": [{"serviceArn": service, "taskDefinition": revision}]},
                          {"cluster": cluster, "services": [service], "include": ["TAGS"]})
        stub.add_client_error("describe_task_definition", "AccessDeniedException", "no", 400)
        (td,) = ecs.task_definitions(ctx)
    assert (td.id, td.name, td.attributes["containers"]) == (revision, "web:7", None)
    assert {"tags", "environment", "containers", "family"} <= set(td.unknown)
    assert [(e.operation, e.resource_id) for e in ctx.faults] == [("DescribeTaskDefinition", revision)]
