"""Documented drifts of the miss-you-app deployment (001_5226b3db32c23239.txt)."""
from __future__ import annotations

from ..builder import Deployment
from . import Clients, Drift, alarm_change, call, scaling_range, task_change, tcp

_SERVICE_RESOURCE = "service/miss-you-app-cluster/miss-you-app-service"


def _route_app_subnet_to_internet(clients: Clients, deployment: Deployment) -> None:
    """Re-associate the first app subnet with the public route table (0.0.0.0/0 -> IGW)."""
    ec2 = clients("ec2")
    subnet = deployment["subnet:miss-you-app-private-app-a"]
    public_rt = deployment[f"rtb:{deployment.spec.network.name}-public-rt"]
    [table] = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["RouteTables"]
    [assoc] = [a for a in table["Associations"] if a.get("SubnetId") == subnet]
    ec2.replace_route_table_association(AssociationId=assoc["RouteTableAssociationId"], RouteTableId=public_rt)


def _database_url_in_plain_text(clients: Clients, deployment: Deployment) -> None:
    """New task revision: DATABASE_URL moved from the container's secrets to its environment."""
    ecs = clients("ecs")
    td = ecs.describe_task_definition(taskDefinition=deployment["taskdef:app"])["taskDefinition"]
    containers = []
    for c in td["containerDefinitions"]:
        c = dict(c)
        c["secrets"] = [s for s in c.get("secrets", []) if s["name"] != "DATABASE_URL"]
        c["environment"] = [*c.get("environment", []),
                            {"name": "DATABASE_URL", "value": "postgresql://app:password@db:5432/missyouapp"}]
        containers.append(c)
    keep = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory")
    arn = ecs.register_task_definition(**{k: td[k] for k in keep if k in td}, containerDefinitions=containers)[
        "taskDefinition"]["taskDefinitionArn"]
    service = next(s for s in deployment.spec.services if s.key == "app")
    ecs.update_service(cluster=deployment.spec.cluster.name, service=service.name, taskDefinition=arn)


DRIFTS = [
    # network
    Drift("vpc-dns-support-off", "network", "DNS support turned off on the VPC",
          call("ec2", "modify_vpc_attribute", VpcId="{vpc}", EnableDnsSupport={"Value": False}),
          {"miss-you-app.vpc.cidr_dns": "vpc"}),
    Drift("app-subnet-routed-to-internet", "network",
          "private app subnet in zone a re-associated with the public route table (internet gateway)",
          _route_app_subnet_to_internet,
          {"miss-you-app.subnet.private_app_tier": "subnet:miss-you-app-private-app-a",
           "miss-you-app.vpc.subnet_layout": "vpc",
           "baseline.ecs.private_subnets": "service:app"}),
    # security groups
    Drift("ecs-open-to-vpc", "security_groups", "port 8000 on the ECS tasks opened to the whole VPC CIDR",
          call("ec2", "authorize_security_group_ingress", GroupId="{sg:ecs}", IpPermissions=tcp(8000, "10.0.0.0/16")),
          {"miss-you-app.sg.ecs_8000_from_alb_only": "sg:ecs"}),
    Drift("db-reachable-from-alb", "security_groups", "PostgreSQL opened to the ALB's security group",
          call("ec2", "authorize_security_group_ingress", GroupId="{sg:rds}", IpPermissions=tcp(5432, "{sg:alb}")),
          {"miss-you-app.sg.rds_5432_from_ecs_only": "sg:rds"}),
    # ECS
    Drift("task-oversized", "ecs", "task definition resized to 1 vCPU / 2 GB",
          task_change("app", cpu="1024", memory="2048"),
          {"miss-you-app.cost.budget": "deployment", "miss-you-app.ecs.task_size": "service:app"}),
    Drift("database-url-plaintext", "ecs", "DATABASE_URL moved from Secrets Manager into the plain environment",
          _database_url_in_plain_text,
          {"miss-you-app.ecs.database_url_secret": "service:app",
           "miss-you-app.ecs.no_plaintext_secrets": "service:app"}),
    # autoscaling
    Drift("cpu-target-50", "autoscaling", "CPU target-tracking target lowered to 50 %",
          call("application-autoscaling", "put_scaling_policy", PolicyName="miss-you-app-service-cpu-target-tracking",
               ServiceNamespace="ecs", ResourceId=_SERVICE_RESOURCE, ScalableDimension="ecs:service:DesiredCount",
               PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration={
                   "TargetValue": 50.0, "ScaleOutCooldown": 60, "ScaleInCooldown": 300,
                   "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}),
          {"miss-you-app.autoscaling.cpu_target": "service:app"}),
    Drift("scaling-max-4", "autoscaling", "autoscaling maximum lowered to 4 tasks",
          scaling_range("app", 2, 4), {"miss-you-app.autoscaling.range": "service:app"}),
    # RDS
    Drift("db-single-az", "rds", "production database loses Multi-AZ",
          call("rds", "modify_db_instance", DBInstanceIdentifier="{spec.database.identifier}", MultiAZ=False,
               ApplyImmediately=True),
          {"miss-you-app.rds.multi_az": "db"}, environment="production"),
    Drift("db-multi-az-in-development", "rds", "development database switched to Multi-AZ (cost table: Single-AZ)",
          call("rds", "modify_db_instance", DBInstanceIdentifier="{spec.database.identifier}", MultiAZ=True,
               ApplyImmediately=True),
          {"miss-you-app.cost.budget": "deployment", "miss-you-app.rds.multi_az": "db"}, environment="development"),
    Drift("performance-insights-off", "rds", "Performance Insights turned off",
          call("rds", "modify_db_instance", DBInstanceIdentifier="{spec.database.identifier}",
               EnablePerformanceInsights=False, ApplyImmediately=True),
          {"miss-you-app.rds.performance_insights": "db"}),
    # CloudWatch
    Drift("rds-storage-alarm-deleted", "cloudwatch", "the RDS free-storage alarm was deleted",
          call("cloudwatch", "delete_alarms", AlarmNames=["miss-you-app-rds-storage-low"]),
          {"miss-you-app.cloudwatch.rds_storage_alarm": "db"}),
    Drift("ecs-cpu-alarm-90", "cloudwatch", "ECS CPU alarm threshold raised to 90 %",
          alarm_change("miss-you-app-ecs-cpu-high", Threshold=90.0),
          {"miss-you-app.cloudwatch.ecs_cpu_alarm": "service:app"}),
    # logs
    Drift("app-log-retention-30", "logs", "/ecs/miss-you-app retention raised to 30 days",
          call("logs", "put_retention_policy", logGroupName="/ecs/miss-you-app", retentionInDays=30),
          {"miss-you-app.logs.ecs_log_group": "log_group:/ecs/miss-you-app"}),
    # ECR
    Drift("ecr-lifecycle-removed", "ecr", "ECR lifecycle policy (keep last 10 images) deleted",
          call("ecr", "delete_lifecycle_policy", repositoryName="miss-you-app"),
          {"miss-you-app.ecr.keep_last_10": "repo:miss-you-app"}),
    # load balancer
    Drift("health-check-root", "load_balancer", "target-group health check moved from /health to /",
          call("elbv2", "modify_target_group", TargetGroupArn="{tg:app}", HealthCheckPath="/"),
          {"miss-you-app.alb.health_check": "tg:app"}),
    Drift("http-forwards", "load_balancer", "production HTTP listener forwards plaintext instead of redirecting",
          call("elbv2", "modify_listener", ListenerArn="{listener:http}",
               DefaultActions=[{"Type": "forward", "TargetGroupArn": "{tg:app}"}]),
          {"miss-you-app.alb.http_redirects_to_https": "alb"}, environment="production"),
    Drift("cross-zone-off", "load_balancer", "cross-zone load balancing turned off on the target group",
          call("elbv2", "modify_target_group_attributes", TargetGroupArn="{tg:app}",
               Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "false"}]),
          {"miss-you-app.alb.cross_zone": "tg:app"}),
    # secrets
    Drift("firebase-secret-deleted", "secrets", "secret miss-you-app/firebase_key deleted",
          call("secretsmanager", "delete_secret", SecretId="miss-you-app/firebase_key", ForceDeleteWithoutRecovery=True),
          {"miss-you-app.secrets.firebase_key": None}),
]
