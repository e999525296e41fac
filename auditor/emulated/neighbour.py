"""A neighbour: an application that is none of the documented architectures, sharing the account.

``billing(environment, region)`` is a small "billing" service (project ``billing``): its own VPC, an
HTTPS ALB, an ECS Fargate service, RDS PostgreSQL, a Redis cache, secrets, log groups, alarms
and a dashboard. It is baseline-compliant (encrypted, private data stores, only the ALB open to
the internet, log retention set, ECR scan on push), so a baseline finding on it is a real one.

It is built to catch an audit that attributes resources by name or by look-alike instead of by
ownership: against any pack's documented statements it is wrong on purpose, so wrongly adopted
billing resources show up as extra (failing) findings or mask a missing resource:

* secrets ``billing/db_credentials``, ``billing/firebase_key`` and ``billing/google_api_key``
  end like miss-you-app's (``miss-you-app.secrets.*`` scope secrets by the regex
  ``(^|[/_-])db_credentials$`` etc.): deleting miss-you-app's secret leaves billing's to
  "pass" the rule;
* log group ``/aws/rds/instance/billing-db/postgresql`` (billing's own database), 30-day
  retention: ``miss-you-app.logs.rds_log_group`` scopes ``^/aws/rds/instance/[^/]+/postgresql$``
  and asks for 7 days;
* dashboard ``billing-dashboard`` shows ECS, ALB, RDS and ElastiCache metrics, a superset of what
  ``portfolio.cloudwatch.dashboard`` scopes by (it names no dashboard);
* the VPC reuses 10.0.0.0/16 (as every pack's VPC), the database security group admits 5432
  from that CIDR (not from the ECS group), the HTTP listener forwards instead of redirecting,
  the container listens on 8000 and gets a plaintext ``DATABASE_URL`` beside its secrets, the
  repository ``billing`` has mutable tags and no lifecycle policy, alarms use other thresholds.
"""
from __future__ import annotations

from .architectures import _execution_role, _subnets
from .builder import (
    DEFAULT_REGION,
    Alarm,
    Cache,
    Cluster,
    Dashboard,
    Database,
    HealthCheck,
    LoadBalancer,
    LogGroup,
    Network,
    Repository,
    Rule,
    Scaling,
    Secret,
    SecurityGroup,
    Service,
    Spec,
    TargetGroup,
    TaskDefinition,
)

NEIGHBOUR = "billing"
ENVIRONMENT = "production"


def billing(environment: str = ENVIRONMENT, region: str = DEFAULT_REGION) -> Spec:
    """The billing neighbour in ``environment`` and ``region`` (its names carry no environment: one per account)."""
    p = NEIGHBOUR
    subnets = _subnets(p, public=("10.0.1.0/24", "10.0.2.0/24"), app=("10.0.10.0/24", "10.0.11.0/24"),
                       db=("10.0.20.0/24", "10.0.21.0/24"))
    ecs_dims = {"ClusterName": "@cluster", "ServiceName": "@service:api"}
    return Spec(
        project=p, environment=environment, region=region, document="(none: not a documented architecture)",
        network=Network(f"{p}-vpc", "10.0.0.0/16", nat_gateways=1, subnets=subnets),
        security_groups=[
            SecurityGroup("alb", f"{p}-alb", "billing ALB", ingress=[
                Rule(443, "0.0.0.0/0", "HTTPS"), Rule(80, "0.0.0.0/0", "HTTP")]),
            SecurityGroup("ecs", f"{p}-tasks", "billing tasks", ingress=[Rule(8000, "sg:alb", "from the ALB")]),
            SecurityGroup("db", f"{p}-db", "billing database: PostgreSQL from the VPC", ingress=[
                Rule(5432, "10.0.0.0/16", "PostgreSQL from the VPC")]),
            SecurityGroup("redis", f"{p}-redis", "billing cache", ingress=[Rule(6379, "sg:ecs", "Redis from tasks")]),
        ],
        cluster=Cluster(f"{p}-cluster"),
        roles=[_execution_role("execution", f"{p}-execution-role")],
        task_definitions=[TaskDefinition(
            "api", f"{p}-api", cpu=256, memory=512, container_name="api", container_port=8000,
            log_group=f"/ecs/{p}", repository=p,
            environment={"DATABASE_URL": f"postgresql://billing:billing@{p}-db:5432/billing", "PORT": "8000"},
            secrets={"DB_CREDENTIALS": f"{p}/db_credentials", "FIREBASE_KEY": f"{p}/firebase_key",
                     "GOOGLE_API_KEY": f"{p}/google_api_key"},
            execution_role="execution")],
        services=[Service("api", f"{p}-service", task="api", desired_count=1, security_groups=["ecs"],
                          target_group="api", scaling=Scaling(1, 3, cpu_target=60))],
        target_groups=[TargetGroup("api", f"{p}-tg", 8000, HealthCheck("/healthz"))],
        load_balancer=LoadBalancer(f"{p}-alb", security_groups=["alb"], default_target_group="api",
                                   http="forward", certificate_domain="billing.example.com",
                                   ssl_policy="ELBSecurityPolicy-2016-08"),
        database=Database(f"{p}-db", engine_version="15.4", instance_class="db.t3.micro", allocated_storage=20,
                          multi_az=False, encrypted=True, backup_retention=3, log_exports=["postgresql"],
                          db_name="billing", username="billing", security_groups=["db"], subnet_tier="db"),
        cache=Cache(f"{p}-redis", engine_version="7.1", node_type="cache.t4g.micro", security_groups=["redis"],
                    subnet_tier="db"),
        alarms=[Alarm(f"{p}-cpu", "AWS/ECS", "CPUUtilization", ecs_dims, 90),
                Alarm(f"{p}-db-cpu", "AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": "@db"}, 95)],
        dashboards=[Dashboard(f"{p}-dashboard", [
            ("AWS/ECS", "CPUUtilization", ecs_dims), ("AWS/ECS", "MemoryUtilization", ecs_dims),
            ("AWS/ApplicationELB", "RequestCount", {"LoadBalancer": "@alb"}),
            ("AWS/ApplicationELB", "TargetResponseTime", {"LoadBalancer": "@alb"}),
            ("AWS/RDS", "DatabaseConnections", {"DBInstanceIdentifier": "@db"}),
            ("AWS/ElastiCache", "CPUUtilization", {"CacheClusterId": "@cache"})])],
        log_groups=[LogGroup(f"/ecs/{p}", 14), LogGroup(f"/aws/rds/instance/{p}-db/postgresql", 30)],
        repositories=[Repository(p, scan_on_push=True)],
        secrets=[Secret(f"{p}/db_credentials", "billing database credentials", keys=["username", "password"]),
                 Secret(f"{p}/firebase_key", "push notifications for invoices"),
                 Secret(f"{p}/google_api_key", "address autocompletion")],
    )
