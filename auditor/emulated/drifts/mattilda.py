"""Documented drifts of the mattilda deployment (000_3a7a9f284227b1c1.txt)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..builder import Deployment
from . import (
    Change,
    Clients,
    Drift,
    call,
    delete_scaling_policy,
    scaling_range,
    task_change,
    tcp,
)

SERVICE = "mattilda-api-service"


def container_change(service_key: str, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> Change:
    """A new task definition revision whose container definitions are ``edit``ed, deployed to
    the service (``task_change`` with the current containers as the starting point)."""
    def change(clients: Clients, deployment: Deployment) -> None:
        service = next(s for s in deployment.spec.services if s.key == service_key)
        td = clients("ecs").describe_task_definition(
            taskDefinition=deployment[f"taskdef:{service.task}"])["taskDefinition"]
        containers = [edit(dict(c)) for c in td["containerDefinitions"]]
        task_change(service_key, containerDefinitions=containers)(clients, deployment)
    return change


def _without_logging(container: dict[str, Any]) -> dict[str, Any]:
    container.pop("logConfiguration", None)
    return container


def _docker_hub_image(container: dict[str, Any]) -> dict[str, Any]:
    return {**container, "image": "mattilda-backend:latest"}


def _redis_url_as_plain_variable(container: dict[str, Any]) -> dict[str, Any]:
    return {**container,
            "secrets": [s for s in container.get("secrets", []) if s["name"] != "REDIS_URL"],
            "environment": [*container.get("environment", []),
                            {"name": "REDIS_URL", "value": "redis://mattilda-redis:6379/0"}]}


def _database_url_as_plain_variable(container: dict[str, Any]) -> dict[str, Any]:
    return {**container,
            "secrets": [s for s in container.get("secrets", []) if s["name"] != "DATABASE_URL"],
            "environment": [*container.get("environment", []), {
                "name": "DATABASE_URL", "value": "postgresql://mattilda:hunter2@mattilda-db:5432/mattilda"}]}


def revoke_ingress_from(group_key: str, peer_key: str) -> Change:
    """Revoke every ingress permission of one security group whose source is another group
    (the permissions exactly as EC2 describes them, so the revoke matches)."""
    def change(clients: Clients, deployment: Deployment) -> None:
        ec2, peer = clients("ec2"), deployment[peer_key]
        [group] = ec2.describe_security_groups(GroupIds=[deployment[group_key]])["SecurityGroups"]
        permissions = [p for p in group["IpPermissions"]
                       if any(pair.get("GroupId") == peer for pair in p.get("UserIdGroupPairs", []))]
        ec2.revoke_security_group_ingress(GroupId=deployment[group_key], IpPermissions=permissions)
    return change


def _private_route_to_internet_gateway(clients: Clients, deployment: Deployment) -> None:
    """The private (app) route table's default route sent to the internet gateway instead of NAT."""
    [table] = [deployment[k] for k in deployment.keys("rtb:") if k.endswith("-private-app-rt")]
    clients("ec2").replace_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=deployment["igw"])


def _alb_in_private_subnets(clients: Clients, deployment: Deployment) -> None:
    private = [deployment[f"subnet:{s.name}"] for s in deployment.spec.network.subnets if s.tier == "app"]
    clients("elbv2").set_subnets(LoadBalancerArn=deployment["alb"], Subnets=private)


def _undocumented_production_cluster(clients: Clients, deployment: Deployment) -> None:
    """A second production cluster, mattilda-prod, tagged like the deployment (its key:
    ``cluster:mattilda-prod``)."""
    name = "mattilda-prod"
    tags = [{"key": k, "value": v} for k, v in deployment.spec.tags(name).items()]
    deployment.ids[f"cluster:{name}"] = clients("ecs").create_cluster(clusterName=name, tags=tags)["cluster"]["clusterArn"]


DRIFTS = [
    # -- network
    Drift("private-route-to-igw", "network", "private subnets' default route sent to the internet gateway",
          _private_route_to_internet_gateway,
          {"mattilda.vpc.public_private_subnets": "vpc", "baseline.rds.private_subnets": "db",
           "baseline.cache.private_subnets": "cache", "baseline.ecs.private_subnets": "service:api"}),
    Drift("alb-in-private-subnets", "network", "ALB moved into the private subnets",
          _alb_in_private_subnets, {"mattilda.alb.public_subnets": "alb"}),
    # -- security groups
    Drift("ecs-ssh-open", "security_groups", "SSH opened to the internet on the ECS tasks' security group",
          call("ec2", "authorize_security_group_ingress", GroupId="{sg:ecs}", IpPermissions=tcp(22, "0.0.0.0/0")),
          {"baseline.sg.only_load_balancers_open_to_internet": "sg:ecs", "mattilda.sg.ecs_from_alb_only": "sg:ecs"}),
    Drift("db-open-to-vpc", "security_groups", "PostgreSQL opened to the whole VPC CIDR",
          call("ec2", "authorize_security_group_ingress", GroupId="{sg:rds}", IpPermissions=tcp(5432, "10.0.0.0/16")),
          {"mattilda.sg.data_from_ecs_only": "sg:rds"}),
    Drift("redis-ingress-revoked", "security_groups", "Redis no longer admits the ECS tasks",
          revoke_ingress_from("sg:redis", "sg:ecs"),
          {"mattilda.sg.data_from_ecs_only": "sg:redis"}),
    Drift("alb-https-closed", "security_groups", "HTTPS (443) from the internet removed from the ALB's security group",
          call("ec2", "revoke_security_group_ingress", GroupId="{sg:alb}", IpPermissions=tcp(443, "0.0.0.0/0")),
          {"mattilda.sg.alb_https_from_internet": "sg:alb"}),
    # -- ECS
    Drift("desired-count-1", "ecs", "API service scaled down to one task",
          call("ecs", "update_service", cluster="{spec.cluster.name}", service="{service:api}", desiredCount=1),
          {"mattilda.ecs.desired_tasks": "service:api"}),
    Drift("undocumented-cluster", "ecs", "production cluster created as mattilda-prod instead of mattilda-cluster-prod",
          _undocumented_production_cluster, {"mattilda.ecs.cluster_name": "cluster:mattilda-prod"},
          environment="production"),
    # -- autoscaling
    Drift("scaling-max-4", "autoscaling", "autoscaling maximum lowered to 4 tasks",
          scaling_range("api", 2, 4), {"mattilda.ecs.autoscaling_range": "service:api"}),
    Drift("memory-scaling-removed", "autoscaling", "memory target-tracking policy deleted (scales on CPU only)",
          delete_scaling_policy("api", f"{SERVICE}-memory-target-tracking"),
          {"mattilda.ecs.autoscaling_cpu_memory": "service:api"}),
    # -- RDS
    Drift("db-single-az", "rds", "production database loses Multi-AZ",
          call("rds", "modify_db_instance", DBInstanceIdentifier="{spec.database.identifier}", MultiAZ=False,
               ApplyImmediately=True),
          {"mattilda.rds.multi_az_production": "db"}, environment="production"),
    Drift("staging-db-multi-az", "rds", "staging database switched to Multi-AZ",
          call("rds", "modify_db_instance", DBInstanceIdentifier="{spec.database.identifier}", MultiAZ=True,
               ApplyImmediately=True),
          {"mattilda.cost.budget": "deployment", "mattilda.rds.single_az_outside_production": "db"}, environment="staging"),
    Drift("db-instance-class", "rds", "database resized to db.m5.large",
          call("rds", "modify_db_instance", DBInstanceIdentifier="{spec.database.identifier}",
               DBInstanceClass="db.m5.large", ApplyImmediately=True),
          {"mattilda.cost.budget": "deployment", "mattilda.rds.instance_class": "db"}),
    # -- Redis
    Drift("cache-node-type", "redis", "Redis resized to cache.m5.large",
          call("elasticache", "modify_replication_group", ReplicationGroupId="{spec.cache.replication_group_id}",
               CacheNodeType="cache.m5.large", ApplyImmediately=True),
          {"mattilda.cost.budget": "deployment", "mattilda.cache.node_type": "cache"}),
    # -- load balancer
    Drift("http-forwards", "load_balancer", "HTTP listener forwards plaintext instead of redirecting",
          call("elbv2", "modify_listener", ListenerArn="{listener:http}",
               DefaultActions=[{"Type": "forward", "TargetGroupArn": "{tg:api}"}]),
          {"mattilda.alb.http_redirects": "listener:http"}),
    Drift("https-downgraded", "load_balancer", "the 443 listener changed from HTTPS to plain HTTP",
          call("elbv2", "modify_listener", ListenerArn="{listener:https}", Protocol="HTTP", Port=443),
          {"mattilda.alb.https": "alb", "mattilda.alb.http_redirects": "listener:https"}),
    # -- logs
    Drift("log-group-deleted", "logs", "log group /ecs/mattilda-api deleted",
          call("logs", "delete_log_group", logGroupName="/ecs/mattilda-api"),
          {"mattilda.logs.api_log_group": None}),
    Drift("task-logging-removed", "logs", "API task revision without a log configuration",
          container_change("api", _without_logging),
          # the log group, named once for every environment, is now only the other environment's
          {"mattilda.ecs.log_group": "service:api", "mattilda.logs.api_log_group": None}),
    # -- ECR
    Drift("ecr-scan-off", "ecr", "scan on push turned off",
          call("ecr", "put_image_scanning_configuration", repositoryName="mattilda-backend",
               imageScanningConfiguration={"scanOnPush": False}),
          {"baseline.ecr.scan_on_push": "repo:mattilda-backend"}),
    Drift("image-not-from-ecr", "ecr", "API task runs mattilda-backend:latest from Docker Hub instead of ECR",
          container_change("api", _docker_hub_image), {"mattilda.ecs.image_from_ecr": "service:api"}),
    # -- secrets
    Drift("secret-missing", "secrets", "secret mattilda/redis-url deleted",
          call("secretsmanager", "delete_secret", SecretId="mattilda/redis-url", ForceDeleteWithoutRecovery=True),
          {"mattilda.secrets.redis_url": None}),
    Drift("secret-as-plain-env", "secrets", "REDIS_URL passed as a plain environment variable",
          container_change("api", _redis_url_as_plain_variable),   # the secret is now only the other environment's
          {"mattilda.ecs.secrets_from_secrets_manager": "service:api", "mattilda.secrets.redis_url": None}),
    Drift("database-url-plaintext", "secrets",
          "DATABASE_URL (with its password) passed as a plain environment variable instead of mattilda/database-url",
          container_change("api", _database_url_as_plain_variable),
          {"mattilda.ecs.secrets_from_secrets_manager": "service:api", "mattilda.secrets.database_url": None}),
]
