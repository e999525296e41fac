"""Documented drifts of the indii-music deployment (003_c7c78568df7e3933.txt).

The document is loose, so each drift breaks one of the few statements live configuration can
show. Names are read from the deployment's spec, so every drift works in production and staging.
"""
from __future__ import annotations

from ..builder import Deployment
from . import Clients, Drift, call, tcp


def _private_subnet_loses_nat(clients: Clients, deployment: Deployment) -> None:
    """Detach the first private (app) subnet from its route table: it falls back to the VPC's
    main route table, which has only the local route (no NAT)."""
    subnet = next(s for s in deployment.spec.network.subnets if s.tier == "app")
    ec2 = clients("ec2")
    [table] = ec2.describe_route_tables(Filters=[
        {"Name": "association.subnet-id", "Values": [deployment[f"subnet:{subnet.name}"]]}])["RouteTables"]
    [assoc] = [a for a in table["Associations"] if a.get("SubnetId") == deployment[f"subnet:{subnet.name}"]]
    ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])


def _deploy_container_change(change_container):
    """Register a new revision of the API task definition with its container changed, and deploy it."""
    def change(clients: Clients, deployment: Deployment) -> None:
        ecs = clients("ecs")
        service = next(s for s in deployment.spec.services if s.key == "api")
        td = ecs.describe_task_definition(taskDefinition=deployment[f"taskdef:{service.task}"])["taskDefinition"]
        keep = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory")
        containers = [change_container(dict(c)) for c in td["containerDefinitions"]]
        arn = ecs.register_task_definition(**{k: td[k] for k in keep if k in td},
                                           containerDefinitions=containers)["taskDefinition"]["taskDefinitionArn"]
        ecs.update_service(cluster=deployment.spec.cluster.name, service=service.name, taskDefinition=arn)
    return change


def _image_from_docker_hub(container: dict) -> dict:
    return {**container, "image": "docker.io/library/nginx:latest"}


def _password_in_plain_environment(container: dict) -> dict:
    secrets = [s for s in container.get("secrets", []) if s["name"] != "DB_PASSWORD"]
    environment = [*container.get("environment", []), {"name": "DB_PASSWORD", "value": "hunter2"}]
    return {**container, "secrets": secrets, "environment": environment}


def _delete_memory_policy(clients: Clients, deployment: Deployment) -> None:
    spec = deployment.spec
    service = next(s for s in spec.services if s.key == "api")
    clients("application-autoscaling").delete_scaling_policy(
        PolicyName=f"{service.name}-memory-target-tracking", ServiceNamespace="ecs",
        ScalableDimension="ecs:service:DesiredCount", ResourceId=f"service/{spec.cluster.name}/{service.name}")


def _delete_api_alarms(clients: Clients, deployment: Deployment) -> None:
    clients("cloudwatch").delete_alarms(AlarmNames=[a.name for a in deployment.spec.alarms])


def _delete_log_group(clients: Clients, deployment: Deployment) -> None:
    for group in deployment.spec.log_groups:
        clients("logs").delete_log_group(logGroupName=group.name)


def _delete_repository(clients: Clients, deployment: Deployment) -> None:
    for repo in deployment.spec.repositories:
        clients("ecr").delete_repository(repositoryName=repo.name, force=True)


def _add_database_without_recovery(clients: Clients, deployment: Deployment) -> None:
    """The planned RDS database arrives single-AZ and without automated backups (encrypted and
    private, so the baseline holds). Its ARN is recorded as deployment key ``db``."""
    spec = deployment.spec
    identifier = f"indii-music-db-{'prod' if spec.environment == 'production' else spec.environment}"
    rds = clients("rds")
    app_subnets = [deployment[f"subnet:{s.name}"] for s in spec.network.subnets if s.tier == "app"]
    rds.create_db_subnet_group(DBSubnetGroupName=f"{identifier}-subnets", DBSubnetGroupDescription="private subnets",
                               SubnetIds=app_subnets)
    deployment.ids["db"] = rds.create_db_instance(
        DBInstanceIdentifier=identifier, Engine="postgres", EngineVersion="15.7", DBInstanceClass="db.t3.micro",
        AllocatedStorage=20, StorageEncrypted=True, MultiAZ=False, BackupRetentionPeriod=0,
        MasterUsername="indii", MasterUserPassword="dummy-password-0123456789", PubliclyAccessible=False,
        DBSubnetGroupName=f"{identifier}-subnets",
        Tags=[{"Key": "Project", "Value": spec.project}, {"Key": "Environment", "Value": spec.environment}],
    )["DBInstance"]["DBInstanceArn"]


DRIFTS = [
    Drift("private-subnet-without-nat", "network",
          "one private subnet is detached from the NAT route table (falls back to the main table)",
          _private_subnet_loses_nat,
          {"indii-music.subnet.private_via_nat": "subnet:indii-music-prod-private-a"}, environment="production"),
    Drift("api-open-to-vpc", "security_groups", "API port 8000 opened to the whole VPC CIDR",
          call("ec2", "authorize_security_group_ingress", GroupId="{sg:ecs}", IpPermissions=tcp(8000, "10.0.0.0/16")),
          {"indii-music.sg.api_from_alb_only": "sg:ecs"}),
    Drift("image-from-docker-hub", "ecs", "the API service is deployed with an image from Docker Hub",
          _deploy_container_change(_image_from_docker_hub),
          {"indii-music.ecs.image_from_ecr": "service:api"}),
    Drift("memory-scaling-removed", "autoscaling", "the memory target-tracking policy is deleted",
          _delete_memory_policy, {"indii-music.autoscaling.cpu_and_memory": "service:api"}),
    Drift("http-forwards", "load_balancer", "the HTTP listener forwards plaintext instead of redirecting",
          call("elbv2", "modify_listener", ListenerArn="{listener:http}",
               DefaultActions=[{"Type": "forward", "TargetGroupArn": "{tg:api}"}]),
          {"indii-music.alb.http_redirects": "listener:http"}),
    Drift("password-in-plain-environment", "secrets",
          "DB_PASSWORD moved from Secrets Manager into the container's plain environment",
          _deploy_container_change(_password_in_plain_environment),
          {"indii-music.secrets.no_plaintext_secrets": "service:api"}),
    Drift("api-alarms-deleted", "cloudwatch", "the API service's CPU and memory alarms are deleted",
          _delete_api_alarms, {"indii-music.cloudwatch.api_alarms": "service:api"}),
    Drift("log-group-deleted", "logs", "the API log group is deleted",
          _delete_log_group, {"indii-music.logs.log_group": None}),
    Drift("ecr-repository-deleted", "ecr", "the ECR repository is deleted",
          _delete_repository, {"indii-music.ecr.repository": None}),
    Drift("database-without-recovery", "rds",
          "the planned RDS database is added single-AZ and with automated backups off",
          _add_database_without_recovery,
          {"indii-music.rds.automated_backups": "db", "indii-music.rds.automated_failover": "db"}),
]
