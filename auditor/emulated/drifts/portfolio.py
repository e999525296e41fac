"""Documented drifts of the portfolio deployment (004_56f167e1ed2fd369.txt).

Drifts that name resources by their documented per-environment names (alarms, log groups, ECR
repositories) pin ``environment`` so the names are known; the others run in any environment.
"""
from . import Drift, alarm_change, call, scaling_range, task_change, tcp

DRIFTS = [
    Drift("nat-gateway-deleted", "network", "the us-east-1b NAT gateway is deleted (one NAT gateway left)",
          call("ec2", "delete_nat_gateway", NatGatewayId="{nat:1}"),
          {"portfolio.vpc.nat_gateways": "vpc"}),
    Drift("ecs-backend-open-to-internet", "security_groups", "port 8000 on the ECS tasks opened to 0.0.0.0/0",
          call("ec2", "authorize_security_group_ingress", GroupId="{sg:ecs}", IpPermissions=tcp(8000, "0.0.0.0/0")),
          {"baseline.sg.only_load_balancers_open_to_internet": "sg:ecs", "portfolio.sg.ecs_from_alb": "sg:ecs"}),
    Drift("redis-open-to-vpc", "security_groups", "Redis 6379 opened to the whole VPC CIDR",
          call("ec2", "authorize_security_group_ingress", GroupId="{sg:redis}", IpPermissions=tcp(6379, "10.0.0.0/16")),
          {"portfolio.sg.redis_from_ecs": "sg:redis"}),
    Drift("alb-http-closed", "security_groups", "port 80 removed from the ALB security group",
          call("ec2", "revoke_security_group_ingress", GroupId="{sg:alb}", IpPermissions=tcp(80, "0.0.0.0/0")),
          {"portfolio.sg.alb_ingress": "sg:alb"}),
    Drift("circuit-breaker-off", "ecs", "backend deployment circuit breaker disabled",
          call("ecs", "update_service", cluster="{spec.cluster.name}", service="{service:backend}",
               deploymentConfiguration={
              "minimumHealthyPercent": 100, "maximumPercent": 200,
              "deploymentCircuitBreaker": {"enable": False, "rollback": False}}),
          {"portfolio.ecs.circuit_breaker": "service:backend"}),
    Drift("frontend-task-doubled", "ecs", "frontend task definition resized to 512 CPU / 1024 MB",
          task_change("frontend", cpu="512", memory="1024"),
          {"portfolio.ecs.task_size": "service:frontend"}),
    Drift("backend-scaling-max-8", "autoscaling", "backend autoscaling maximum raised to 8 tasks",
          scaling_range("backend", 1, 8), {"portfolio.autoscaling.range": "service:backend"}),
    Drift("db-single-az", "rds", "production database loses Multi-AZ",
          call("rds", "modify_db_instance", DBInstanceIdentifier="{spec.database.identifier}", MultiAZ=False,
               ApplyImmediately=True),
          {"portfolio.rds.multi_az": "db"}, environment="production"),
    Drift("db-backup-retention-1", "rds", "database backup retention cut to 1 day",
          call("rds", "modify_db_instance", DBInstanceIdentifier="{spec.database.identifier}", BackupRetentionPeriod=1,
               ApplyImmediately=True),
          {"portfolio.rds.backups": "db"}),
    Drift("redis-eviction-volatile-lru", "redis", "Redis maxmemory-policy changed to volatile-lru",
          call("elasticache", "modify_cache_parameter_group", CacheParameterGroupName="{cache_parameter_group}",
               ParameterNameValues=[{"ParameterName": "maxmemory-policy", "ParameterValue": "volatile-lru"}]),
          {"portfolio.cache.eviction_policy": "cache"}),
    Drift("redis-node-type-medium", "redis", "production Redis resized to cache.t4g.medium",
          call("elasticache", "modify_replication_group", ReplicationGroupId="{spec.cache.replication_group_id}",
               CacheNodeType="cache.t4g.medium", ApplyImmediately=True),
          {"portfolio.cache.node_type": "cache"}, environment="production"),
    Drift("backend-cpu-alarm-90", "cloudwatch", "backend high-CPU alarm threshold raised to 90%",
          alarm_change("portfolio-dev-backend-cpu-high", Threshold=90.0),
          {"portfolio.cloudwatch.cpu_alarm": "service:backend"}, environment="development"),
    Drift("dashboard-deleted", "cloudwatch", "the CloudWatch dashboard is deleted",
          call("cloudwatch", "delete_dashboards", DashboardNames=["portfolio-dev-dashboard"]),
          {"portfolio.cloudwatch.dashboard": None}, environment="development"),
    Drift("backend-log-retention-7", "logs", "backend log group retention cut to 7 days",
          call("logs", "put_retention_policy", logGroupName="/ecs/portfolio-dev/backend", retentionInDays=7),
          {"portfolio.logs.backend": "log_group:/ecs/portfolio-dev/backend"}, environment="development"),
    Drift("frontend-untagged-expiry-removed", "ecr", "frontend lifecycle policy keeps only the tagged-image rule",
          call("ecr", "put_lifecycle_policy", repositoryName="portfolio-dev-frontend", lifecyclePolicyText=(
              '{"rules": [{"rulePriority": 1, "description": "Keep last 10 tagged images", "selection": '
              '{"tagStatus": "tagged", "tagPrefixList": ["v"], "countType": "imageCountMoreThan", '
              '"countNumber": 10}, "action": {"type": "expire"}}]}')),
          {"portfolio.ecr.expire_untagged": "repo:portfolio-dev-frontend"}, environment="development"),
    Drift("api-routing-removed", "load_balancer", "the /api/* listener rule is deleted",
          call("elbv2", "delete_rule", RuleArn="{rule:10}"),
          {"portfolio.alb.path_routing": "listener:https"}),
    Drift("tls-policy-downgraded", "load_balancer", "HTTPS listener moved to the legacy ELBSecurityPolicy-2016-08",
          call("elbv2", "modify_listener", ListenerArn="{listener:https}", SslPolicy="ELBSecurityPolicy-2016-08"),
          {"portfolio.alb.https_tls": "listener:https"}),
]
