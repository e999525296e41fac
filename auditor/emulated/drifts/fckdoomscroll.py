"""Documented drifts of the fckdoomscroll deployment (002_1efd20cb6050f5cd.txt)."""
from typing import Any

from ..builder import Deployment
from . import Change, Clients, Drift, alarm_change, call, scaling_range, task_change, tcp

_ALL_TO_ANYWHERE = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]


def cpu_policy(target: float = 70.0, scale_out: int = 60, scale_in: int = 300) -> Change:
    """Re-put the service's CPU target-tracking policy with other settings."""
    def change(clients: Clients, deployment: Deployment) -> None:
        spec = deployment.spec
        service = next(s for s in spec.services if s.key == "app")
        config: dict[str, Any] = {
            "TargetValue": float(target), "ScaleOutCooldown": scale_out, "ScaleInCooldown": scale_in,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}
        clients("application-autoscaling").put_scaling_policy(
            PolicyName=f"{service.name}-cpu-target-tracking", PolicyType="TargetTrackingScaling",
            ServiceNamespace="ecs", ScalableDimension="ecs:service:DesiredCount",
            ResourceId=f"service/{spec.cluster.name}/{service.name}",
            TargetTrackingScalingPolicyConfiguration=config)
    return change


DRIFTS = [
    # network
    Drift("private-route-removed", "network", "the private subnets lose their 0.0.0.0/0 route to the NAT gateway",
          call("ec2", "delete_route", RouteTableId="{rtb:fckdoomscroll-vpc-private-app-rt}",
               DestinationCidrBlock="0.0.0.0/0"),
          {"fckdoomscroll.network.private_subnet_1a": "subnet:private-subnet-1a",
           "fckdoomscroll.network.private_subnet_1b": "subnet:private-subnet-1b"}),
    # security groups
    Drift("ecs-egress-open", "security_groups", "ecs-sg gets an allow-all egress rule besides 443 and 5432",
          call("ec2", "authorize_security_group_egress", GroupId="{sg:ecs}", IpPermissions=_ALL_TO_ANYWHERE),
          {"fckdoomscroll.sg.ecs_egress": "sg:ecs"}),
    Drift("rds-egress-open", "security_groups", "rds-sg, documented as deny-all outbound, allows all egress",
          call("ec2", "authorize_security_group_egress", GroupId="{sg:rds}", IpPermissions=_ALL_TO_ANYWHERE),
          {"fckdoomscroll.sg.rds_no_egress": "sg:rds"}),
    Drift("ecs-3000-from-vpc", "security_groups", "ecs-sg admits port 3000 from the whole VPC, not only the ALB",
          call("ec2", "authorize_security_group_ingress", GroupId="{sg:ecs}", IpPermissions=tcp(3000, "10.0.0.0/16")),
          {"fckdoomscroll.sg.ecs_ingress": "sg:ecs"}),
    Drift("db-open-to-internet", "security_groups", "PostgreSQL 5432 opened to 0.0.0.0/0 on rds-sg",
          call("ec2", "authorize_security_group_ingress", GroupId="{sg:rds}", IpPermissions=tcp(5432, "0.0.0.0/0")),
          {"baseline.sg.only_load_balancers_open_to_internet": "sg:rds",
           "fckdoomscroll.sg.rds_ingress": "sg:rds"}),
    Drift("db-open-to-vpc", "security_groups", "rds-sg admits PostgreSQL 5432 from the whole VPC CIDR, not only ecs-sg",
          call("ec2", "authorize_security_group_ingress", GroupId="{sg:rds}", IpPermissions=tcp(5432, "10.0.0.0/16")),
          {"fckdoomscroll.sg.rds_ingress": "sg:rds"}),
    # ECS
    Drift("deployment-min-healthy-50", "ecs", "rolling deployments may drop to 50% healthy tasks",
          call("ecs", "update_service", cluster="{spec.cluster.name}", service="{service:app}",
               deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 200}),
          {"fckdoomscroll.ecs.rolling_deployment": "service:app"}),
    Drift("task-256-512", "ecs", "a task definition revision shrinks the task to 256 CPU / 512 MB",
          task_change("app", cpu="256", memory="512"),
          {"fckdoomscroll.ecs.task_size": "service:app"}),
    # autoscaling
    Drift("cpu-target-50", "autoscaling", "the CPU target-tracking policy targets 50% instead of 70%",
          cpu_policy(target=50), {"fckdoomscroll.autoscaling.cpu_target": "service:app"}),
    Drift("scaling-max-4", "autoscaling", "autoscaling maximum lowered to 4 tasks",
          scaling_range("app", 2, 4), {"fckdoomscroll.autoscaling.range": "service:app"}),
    # load balancer
    Drift("health-check-root", "load_balancer", "the target group health-checks / instead of /api/health",
          call("elbv2", "modify_target_group", TargetGroupArn="{tg:app}", HealthCheckPath="/"),
          {"fckdoomscroll.alb.target_group_health_check": "tg:app",
           "fckdoomscroll.ecs.health_check": "service:app"}),
    Drift("http-forwards", "load_balancer", "the HTTP listener forwards plaintext instead of redirecting (301)",
          call("elbv2", "modify_listener", ListenerArn="{listener:http}",
               DefaultActions=[{"Type": "forward", "TargetGroupArn": "{tg:app}"}]),
          {"fckdoomscroll.alb.http_redirect": "listener:http"}),
    Drift("tls-1-0-policy", "load_balancer", "the HTTPS listener falls back to ELBSecurityPolicy-2016-08 (TLS 1.0)",
          call("elbv2", "modify_listener", ListenerArn="{listener:https}", SslPolicy="ELBSecurityPolicy-2016-08"),
          {"fckdoomscroll.alb.tls_policy": "listener:https"}),
    # RDS
    Drift("db-single-az", "rds", "the database loses Multi-AZ",
          call("rds", "modify_db_instance", DBInstanceIdentifier="{spec.database.identifier}", MultiAZ=False,
               ApplyImmediately=True),
          {"fckdoomscroll.rds.multi_az": "db"}),
    Drift("backup-retention-1", "rds", "automated backups kept 1 day instead of 7",
          call("rds", "modify_db_instance", DBInstanceIdentifier="{spec.database.identifier}",
               BackupRetentionPeriod=1, ApplyImmediately=True),
          {"fckdoomscroll.rds.backups": "db"}),
    Drift("log-statement-all", "rds", "the parameter group logs every statement instead of DDL only",
          call("rds", "modify_db_parameter_group", DBParameterGroupName="{db_parameter_group}", Parameters=[
              {"ParameterName": "log_statement", "ParameterValue": "all", "ApplyMethod": "immediate"}]),
          {"fckdoomscroll.rds.parameters": "db"}),
    Drift("dev-db-class-small", "rds", "the development database is resized to db.t4g.small (production's class)",
          call("rds", "modify_db_instance", DBInstanceIdentifier="{spec.database.identifier}",
               DBInstanceClass="db.t4g.small", ApplyImmediately=True),
          {"fckdoomscroll.cost.budget": "deployment", "fckdoomscroll.rds.instance_class": "db"}, environment="development"),
    # CloudWatch
    Drift("rds-cpu-threshold-90", "cloudwatch", "the RDS CPU alarm fires at 90% instead of 75%",
          alarm_change("fckdoomscroll-rds-cpu-high", Threshold=90.0),
          {"fckdoomscroll.alarms.rds_cpu": "db"}),
    Drift("ecs-memory-alarm-deleted", "cloudwatch", "the critical ECS memory alarm is deleted",
          call("cloudwatch", "delete_alarms", AlarmNames=["fckdoomscroll-ecs-memory-high"]),
          {"fckdoomscroll.alarms.ecs_memory": "service:app"}),
    Drift("dashboard-deleted", "cloudwatch", "the dashboard fckdoomscroll-dashboard is deleted",
          call("cloudwatch", "delete_dashboards", DashboardNames=["fckdoomscroll-dashboard"]),
          {"fckdoomscroll.cloudwatch.dashboard": None}),
    # logs
    Drift("log-retention-7", "logs", "the ECS log group keeps 7 days instead of 30",
          call("logs", "put_retention_policy", logGroupName="/ecs/fckdoomscroll", retentionInDays=7),
          {"fckdoomscroll.logs.ecs_log_group": "log_group:/ecs/fckdoomscroll"}),
    # ECR
    Drift("tags-mutable", "ecr", "image tags of fckdoomscroll/app become mutable",
          call("ecr", "put_image_tag_mutability", repositoryName="fckdoomscroll/app", imageTagMutability="MUTABLE"),
          {"fckdoomscroll.ecr.tag_immutability": "repo:fckdoomscroll/app"}),
    Drift("lifecycle-removed", "ecr", "the image retention (lifecycle) policy is deleted",
          call("ecr", "delete_lifecycle_policy", repositoryName="fckdoomscroll/app"),
          {"fckdoomscroll.ecr.lifecycle": "repo:fckdoomscroll/app"}),
    # secrets
    Drift("jwt-secret-deleted", "secrets", "secret fckdoomscroll/jwt deleted",
          call("secretsmanager", "delete_secret", SecretId="fckdoomscroll/jwt", ForceDeleteWithoutRecovery=True),
          {"fckdoomscroll.secrets.jwt": None}),
]
