"""Builder specs for the five documented architectures (their architecture documents).

``spec(name, environment, region)`` returns the :class:`~auditor.emulated.builder.Spec` of one
architecture in one environment and region; ``build(spec(...), clients)`` deploys it into an
emulated account. Each spec states the values its document gives. Where a document is silent the
spec picks a sensible AWS default consistent with the document and says so in a ``# silent:``
comment. Nothing in a spec is bound to a region: subnets name their zone by letter (the
documents' us-east-1a and us-east-1b are zones ``a`` and ``b``) and policy ARNs write
``PARTITION`` and ``REGION`` for the builder to fill in.

Names: a document's resource names are examples of what a deployment uses (some show only the
production name, e.g. ``mattilda-cluster-prod``); a spec may derive the other environments'
names from them (``mattilda-cluster-staging``). Names that documents give without an
environment (secrets such as ``mattilda/database-url``, ``/ecs/miss-you-app``) are kept as
they are: a second environment in the same account reuses such secrets, log groups and ECR
repositories (``Deployment.reused``). Where a document names an account-unique resource (load
balancer, target group, database, role, alarm) once for every environment (miss-you-app,
fckdoomscroll), each environment needs its own account (``demo.companions``).

Out of scope (not account configuration, or not emulated): GitHub Actions, Terraform files,
Route 53 records, CloudFront, SES, Cognito, WAF, Cloud Map, X-Ray.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..model import normalize_environment
from .builder import (
    DEFAULT_REGION,
    Alarm,
    Cache,
    Cluster,
    Dashboard,
    Database,
    HealthCheck,
    ListenerRule,
    LoadBalancer,
    LogGroup,
    Network,
    Repository,
    Role,
    Rule,
    Scaling,
    Secret,
    SecurityGroup,
    Service,
    Spec,
    Subnet,
    TargetGroup,
    TaskDefinition,
)

ARCHITECTURES = {
    "mattilda": "000_3a7a9f284227b1c1.txt",
    "miss-you-app": "001_5226b3db32c23239.txt",
    "fckdoomscroll": "002_1efd20cb6050f5cd.txt",
    "indii-music": "003_c7c78568df7e3933.txt",
    "portfolio": "004_56f167e1ed2fd369.txt",
}

ENVIRONMENTS = {
    "mattilda": ("staging", "production"),
    "miss-you-app": ("production", "development"),
    "fckdoomscroll": ("production", "development"),
    "indii-music": ("production", "staging"),
    "portfolio": ("development", "production"),
}

SHORT = {"production": "prod", "staging": "staging", "development": "dev"}
ZONES = ("a", "b")  # the documents' two availability zones (us-east-1a and us-east-1b in us-east-1)
ANYWHERE = "0.0.0.0/0"


def spec(name: str, environment: str = "production", region: str = DEFAULT_REGION) -> Spec:
    """The spec of architecture ``name`` (a key of ARCHITECTURES) in ``environment`` and ``region``."""
    if name not in ARCHITECTURES:
        raise KeyError(f"unknown architecture {name!r}; known: {sorted(ARCHITECTURES)}")
    env = normalize_environment(environment)
    if env not in ENVIRONMENTS[name]:
        raise ValueError(f"{name} documents environments {ENVIRONMENTS[name]}, not {environment!r}")
    return replace(_SPECS[name](env), region=region)


# ------------------------------------------------------------------------------ shared pieces
def _subnets(prefix: str, public: tuple[str, ...], app: tuple[str, ...], db: tuple[str, ...] = (),
             names: Callable[[str, str], str] | None = None) -> list[Subnet]:
    """Subnets over ZONES, in order: public, app (private), db (private); ``names(tier, zone)``."""
    label = {"public": "public", "app": "private", "db": "private-db"}
    names = names or (lambda tier, zone: f"{prefix}-{label[tier]}-{zone}")
    out = []
    for tier, cidrs in (("public", public), ("app", app), ("db", db)):
        out += [Subnet(names(tier, zone), cidr, zone, tier) for zone, cidr in zip(ZONES, cidrs, strict=False)]
    return out


def _alb_sg(key: str, name: str) -> SecurityGroup:
    return SecurityGroup(key, name, "ALB: HTTP and HTTPS from the internet", ingress=[
        Rule(443, ANYWHERE, "HTTPS from the internet"), Rule(80, ANYWHERE, "HTTP from the internet")])


def _ecs_alarms(prefix: str, service_key: str, cpu: float = 80, memory: float | None = 80,
                periods: int = 2) -> list[Alarm]:
    dims = {"ClusterName": "@cluster", "ServiceName": f"@service:{service_key}"}
    out = [Alarm(f"{prefix}-cpu-high", "AWS/ECS", "CPUUtilization", dims, cpu, evaluation_periods=periods)]
    if memory is not None:
        out.append(Alarm(f"{prefix}-memory-high", "AWS/ECS", "MemoryUtilization", dims, memory,
                         evaluation_periods=periods))
    return out


def _execution_role(key: str, name: str) -> Role:
    return Role(key, name, policy={"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Resource": "*", "Action": [
            "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
            "ecr:BatchGetImage", "logs:CreateLogStream", "logs:PutLogEvents", "secretsmanager:GetSecretValue"]}]})


def _secrets_role(key: str, name: str, prefix: str) -> Role:
    return Role(key, name, policy={"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
        "Resource": f"arn:PARTITION:secretsmanager:REGION:ACCOUNT_ID:secret:{prefix}/*"}]})


_KEEP_LAST_10 = {"rulePriority": 1, "description": "Keep last 10 images",
                 "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10},
                 "action": {"type": "expire"}}
_UNTAGGED_7_DAYS = {"rulePriority": 1, "description": "Expire untagged images after 7 days",
                    "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                  "countUnit": "days", "countNumber": 7}, "action": {"type": "expire"}}


# ------------------------------------------------------------------------------ 000 mattilda
def mattilda(environment: str) -> Spec:
    """Mattilda Backend: ECS Fargate 2-10 tasks behind an HTTPS ALB, RDS PostgreSQL 15
    (Multi-AZ in production only), ElastiCache Redis, ECR scanning, three secrets."""
    env, short = environment, SHORT[environment]
    prod = env == "production"
    p = f"mattilda-{short}"
    return Spec(
        project="mattilda", environment=env, document=ARCHITECTURES["mattilda"],
        # silent: CIDRs and NAT count; "VPC: isolated network with public/private subnets"
        network=Network(f"mattilda-vpc-{short}", "10.0.0.0/16", nat_gateways=1, subnets=_subnets(
            f"mattilda-{short}", public=("10.0.1.0/24", "10.0.2.0/24"), app=("10.0.10.0/24", "10.0.11.0/24"))),
        security_groups=[  # "Security Groups: Firewall rules for each component"
            _alb_sg("alb", f"{p}-alb-sg"),
            SecurityGroup("ecs", f"{p}-ecs-sg", "ECS tasks: API port from the ALB only",
                          ingress=[Rule(8000, "sg:alb", "API from the ALB")]),  # silent: port 8000
            SecurityGroup("rds", f"{p}-rds-sg", "RDS: PostgreSQL from ECS tasks only",
                          ingress=[Rule(5432, "sg:ecs", "PostgreSQL from ECS")]),
            SecurityGroup("redis", f"{p}-redis-sg", "ElastiCache: Redis from ECS tasks only",
                          ingress=[Rule(6379, "sg:ecs", "Redis from ECS")]),
        ],
        # document shows mattilda-cluster-prod; silent: Container Insights (production only)
        cluster=Cluster(f"mattilda-cluster-{short}", container_insights=prod),
        roles=[_execution_role("execution", f"{p}-ecs-execution-role"),
               _secrets_role("task", f"{p}-ecs-task-role", "mattilda")],  # "least privilege roles"
        task_definitions=[TaskDefinition(
            "api", "mattilda-api", cpu=1024 if prod else 512, memory=2048 if prod else 1024,  # silent: sizes
            container_name="mattilda-api", container_port=8000, log_group="/ecs/mattilda-api",
            repository="mattilda-backend", environment={"ENVIRONMENT": env},
            secrets={"DATABASE_URL": "mattilda/database-url", "REDIS_URL": "mattilda/redis-url",
                     "SECRET_KEY": "mattilda/secret-key"},
            execution_role="execution", task_role="task")],
        services=[Service(
            "api", "mattilda-api-service", task="api", desired_count=2, security_groups=["ecs"],
            target_group="api", circuit_breaker=True, rollback=True, health_check_grace_period=60,
            # "Auto Scaling: 2-10 tasks based on CPU/Memory"; silent: targets and cooldowns
            scaling=Scaling(2, 10, cpu_target=70, memory_target=80, scale_out_cooldown=60, scale_in_cooldown=300))],
        target_groups=[TargetGroup("api", f"{p}-api-tg", 8000, HealthCheck(  # silent: health check
            "/health", interval=30, timeout=5, healthy_threshold=2, unhealthy_threshold=3))],
        load_balancer=LoadBalancer(  # "ALB: HTTPS termination" (HTTPS:443); HTTP 80 redirects
            f"{p}-alb", security_groups=["alb"], default_target_group="api", http="redirect",
            certificate_domain="api.mattilda.example.com"),
        database=Database(  # "RDS PostgreSQL 15", "RDS t3.micro", "Multi-AZ: production only", encrypted
            f"mattilda-db-{short}", engine_version="15.7", instance_class="db.t3.micro",
            allocated_storage=20, max_allocated_storage=100, storage_type="gp3",  # silent: storage
            multi_az=prod, encrypted=True, backup_retention=7 if prod else 1,  # silent: backups
            deletion_protection=prod, log_exports=["postgresql"], db_name="mattilda", username="mattilda",
            security_groups=["rds"], subnet_tier="app"),  # private subnets hold the databases
        cache=Cache(  # "ElastiCache t3.micro" ~$12 in both environments: one node
            f"mattilda-redis-{short}", engine_version="7.1", node_type="cache.t3.micro", num_cache_clusters=1,
            at_rest_encryption=True, snapshot_retention=1, security_groups=["redis"], subnet_tier="app"),
        alarms=[  # "Monitor: CloudWatch"; silent: which alarms
            *_ecs_alarms(f"{p}-ecs", "api"),
            Alarm(f"{p}-rds-cpu-high", "AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": "@db"}, 80,
                  evaluation_periods=2),
            Alarm(f"{p}-alb-5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", {"LoadBalancer": "@alb"},
                  10, period=60, statistic="Sum", treat_missing_data="notBreaching"),
        ],
        dashboards=[Dashboard(f"{p}-dashboard", [
            ("AWS/ECS", "CPUUtilization", {"ClusterName": "@cluster", "ServiceName": "@service:api"}),
            ("AWS/ECS", "MemoryUtilization", {"ClusterName": "@cluster", "ServiceName": "@service:api"}),
            ("AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": "@db"}),
            ("AWS/ElastiCache", "CPUUtilization", {"CacheClusterId": "@cache"})])],
        log_groups=[LogGroup("/ecs/mattilda-api", 30)],  # silent: retention
        repositories=[Repository("mattilda-backend", scan_on_push=True, immutable=False)],  # pushes :latest
        secrets=[Secret("mattilda/database-url", "PostgreSQL connection string"),
                 Secret("mattilda/redis-url", "Redis connection string"),
                 Secret("mattilda/secret-key", "JWT signing key")],
    )


# ------------------------------------------------------------------------------ 004 portfolio
def portfolio(environment: str) -> Spec:
    """Portfolio: Next.js frontend and FastAPI backend on ECS (1-4 tasks each), ALB with
    /api/* routing, RDS PostgreSQL 16.3 and Redis 7.1 sized per environment (dev/prod)."""
    env, short = environment, SHORT[environment]
    prod = env == "production"
    p = f"portfolio-{short}"
    services = []
    tasks = []
    for key, port in (("frontend", 3000), ("backend", 8000)):
        tasks.append(TaskDefinition(key, f"{p}-{key}", cpu=256, memory=512, container_name=key,
                                    container_port=port, log_group=f"/ecs/{p}/{key}", repository=f"{p}-{key}",
                                    environment={"ENVIRONMENT": short}, execution_role="execution",
                                    task_role="task", user="1000:1000"))  # "Non-root container users"
        services.append(Service(
            key, f"{p}-{key}", task=key, desired_count=2 if prod else 1,  # "minimal task count" in dev
            security_groups=["ecs"], target_group=key, minimum_healthy_percent=100, maximum_percent=200,
            circuit_breaker=True, rollback=True, health_check_grace_period=60,
            scaling=Scaling(1, 4, cpu_target=70)))
    return Spec(
        project="portfolio", environment=env, document=ARCHITECTURES["portfolio"],
        network=Network(f"{p}-vpc", "10.0.0.0/16", nat_gateways=2, subnets=_subnets(
            p, public=("10.0.1.0/24", "10.0.2.0/24"), app=("10.0.10.0/24", "10.0.11.0/24"))),
        security_groups=[
            SecurityGroup("alb", f"{p}-alb-sg", "ALB: 80 and 443 from anywhere", ingress=[
                Rule(80, ANYWHERE, "HTTP"), Rule(443, ANYWHERE, "HTTPS")]),
            SecurityGroup("ecs", f"{p}-ecs-sg", "ECS tasks: 3000 and 8000 from the ALB", ingress=[
                Rule(3000, "sg:alb", "frontend from the ALB"), Rule(8000, "sg:alb", "backend from the ALB")]),
            SecurityGroup("rds", f"{p}-rds-sg", "RDS: 5432 from ECS", ingress=[Rule(5432, "sg:ecs", "PostgreSQL")]),
            SecurityGroup("redis", f"{p}-redis-sg", "Redis: 6379 from ECS", ingress=[Rule(6379, "sg:ecs", "Redis")]),
        ],
        cluster=Cluster(f"{p}-cluster", container_insights=True),
        roles=[_execution_role("execution", f"{p}-ecs-task-execution-role"),
               Role("task", f"{p}-ecs-task-role")],  # "application-specific permissions (if needed)"
        task_definitions=tasks, services=services,
        target_groups=[
            TargetGroup("frontend", f"{p}-frontend-tg", 3000, HealthCheck("/", healthy_threshold=2, unhealthy_threshold=3)),
            TargetGroup("backend", f"{p}-backend-tg", 8000, HealthCheck(
                "/api/v1/health", healthy_threshold=2, unhealthy_threshold=3))],
        load_balancer=LoadBalancer(
            f"{p}-alb", security_groups=["alb"], default_target_group="frontend", http="redirect",
            certificate_domain="*.therpiproject.com", certificate_sans=["therpiproject.com"],
            ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06",  # "TLS 1.3 with modern cipher suites"
            rules=[ListenerRule(10, ["/api/*"], "backend")]),
        database=Database(
            f"{p}-db", engine_version="16.3", instance_class="db.t4g.small" if prod else "db.t4g.micro",
            allocated_storage=50 if prod else 20, storage_type="gp3", multi_az=prod, encrypted=True,
            deletion_protection=True, backup_retention=7, backup_window="03:00-04:00",
            maintenance_window="mon:04:00-mon:05:00", monitoring_interval=60,
            log_exports=["postgresql", "upgrade"], db_name="portfolio", security_groups=["rds"], subnet_tier="app"),
        cache=Cache(
            f"{p}-redis", engine_version="7.1", node_type="cache.t4g.small" if prod else "cache.t4g.micro",
            num_cache_clusters=2 if prod else 1, automatic_failover=prod, multi_az=prod, at_rest_encryption=True,
            snapshot_retention=5, snapshot_window="03:00-05:00", parameters={"maxmemory-policy": "allkeys-lru"},
            security_groups=["redis"], subnet_tier="app"),
        alarms=[a for key in ("frontend", "backend") for a in _ecs_alarms(f"{p}-{key}", key, 80, 80, periods=2)],
        dashboards=[Dashboard(f"{p}-dashboard", [
            ("AWS/ECS", "CPUUtilization", {"ClusterName": "@cluster", "ServiceName": "@service:frontend"}),
            ("AWS/ECS", "CPUUtilization", {"ClusterName": "@cluster", "ServiceName": "@service:backend"}),
            ("AWS/ECS", "MemoryUtilization", {"ClusterName": "@cluster", "ServiceName": "@service:backend"}),
            ("AWS/ApplicationELB", "RequestCount", {"LoadBalancer": "@alb"}),
            ("AWS/ApplicationELB", "TargetResponseTime", {"LoadBalancer": "@alb"}),
            ("AWS/RDS", "DatabaseConnections", {"DBInstanceIdentifier": "@db"}),
            ("AWS/ElastiCache", "CPUUtilization", {"CacheClusterId": "@cache"})])],
        log_groups=[LogGroup(f"/ecs/{p}/{x}", 30) for x in ("backend", "frontend", "cluster")],
        repositories=[Repository(f"{p}-{x}", scan_on_push=True, encryption="AES256", lifecycle_rules=[
            {"rulePriority": 1, "description": "Keep last 10 tagged images",
             "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"], "countType": "imageCountMoreThan",
                           "countNumber": 10}, "action": {"type": "expire"}},
            {**_UNTAGGED_7_DAYS, "rulePriority": 2}]) for x in ("backend", "frontend")],
    )


# ------------------------------------------------------------------------------ 001 miss-you-app
_MISS_YOU_TIERS = {"public": "public", "app": "private-app", "db": "private-db"}


def miss_you_app(environment: str) -> Spec:
    """Miss You App: 6 subnets in 2 AZs, 2 NAT gateways (1 in development), ECS 512/1024 on
    port 8000 with CPU 70 % / memory 80 % scaling, RDS PostgreSQL 15.4, ALB /health."""
    env = environment
    prod = env == "production"
    p = "miss-you-app"
    return Spec(
        project=p, environment=env, document=ARCHITECTURES["miss-you-app"],
        network=Network(f"{p}-vpc", "10.0.0.0/16", nat_gateways=2 if prod else 1, subnets=_subnets(
            p, public=("10.0.0.0/24", "10.0.1.0/24"), app=("10.0.10.0/24", "10.0.11.0/24"),
            db=("10.0.20.0/24", "10.0.21.0/24"),
            names=lambda tier, zone: f"{p}-{_MISS_YOU_TIERS[tier]}-{zone}")),
        security_groups=[
            _alb_sg("alb", f"{p}-alb-sg"),
            SecurityGroup("ecs", f"{p}-ecs-sg", "ECS: 8000 from ALB only", ingress=[Rule(8000, "sg:alb", "from ALB")]),
            SecurityGroup("rds", f"{p}-rds-sg", "RDS: 5432 from ECS only", ingress=[Rule(5432, "sg:ecs", "from ECS")]),
        ],
        cluster=Cluster(f"{p}-cluster"),
        roles=[_execution_role("execution", f"{p}-ecs-execution-role"),
               _secrets_role("task", f"{p}-ecs-task-role", p)],
        task_definitions=[TaskDefinition(
            "app", p, cpu=512 if prod else 256, memory=1024 if prod else 512,  # dev: 0.25 vCPU x 0.5 GB
            container_name=p, container_port=8000, log_group=f"/ecs/{p}", repository=p,
            environment={"PORT": "8000", "DEBUG": "false"},
            secrets={"DATABASE_URL": f"{p}/db_credentials", "GOOGLE_API_KEY": f"{p}/google_api_key",
                     "FIREBASE_SERVICE_ACCOUNT_KEY": f"{p}/firebase_key"},
            execution_role="execution", task_role="task")],
        services=[Service("app", f"{p}-service", task="app", desired_count=2 if prod else 1,
                          security_groups=["ecs"], target_group="app", health_check_grace_period=60,
                          scaling=Scaling(2 if prod else 1, 10, cpu_target=70, memory_target=80,
                                          scale_out_cooldown=60, scale_in_cooldown=300))],
        target_groups=[TargetGroup("app", f"{p}-tg", 8000, HealthCheck("/health", interval=30))],
        # "HTTPS listener on port 443 (when domain configured)": production has the domain;
        # development serves HTTP only (silent)
        load_balancer=LoadBalancer(f"{p}-alb", security_groups=["alb"], default_target_group="app",
                                   http="redirect" if prod else "forward", https=prod,
                                   certificate_domain="missyouapp.example.com"),
        database=Database(
            f"{p}-db", engine_version="15.4", instance_class="db.t3.micro", allocated_storage=20,
            max_allocated_storage=100, storage_type="gp3", multi_az=prod, encrypted=True, backup_retention=7,
            performance_insights=True, deletion_protection=prod, log_exports=["postgresql"],
            db_name="missyouapp", security_groups=["rds"], subnet_tier="db"),
        alarms=[
            *_ecs_alarms(f"{p}-ecs", "app", cpu=80, memory=None),
            Alarm(f"{p}-rds-cpu-high", "AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": "@db"}, 80,
                  evaluation_periods=2),
            Alarm(f"{p}-rds-storage-low", "AWS/RDS", "FreeStorageSpace", {"DBInstanceIdentifier": "@db"},
                  2 * 1024 ** 3, comparison="LessThanThreshold"),
        ],
        log_groups=[LogGroup(f"/ecs/{p}", 7), LogGroup(f"/aws/rds/instance/{p}-db/postgresql", 7)],
        repositories=[Repository(p, scan_on_push=True, encryption="AES256", lifecycle_rules=[_KEEP_LAST_10])],
        secrets=[Secret(f"{p}/db_credentials", "Database credentials", keys=["username", "password", "DATABASE_URL"]),
                 Secret(f"{p}/google_api_key", "Google Gemini API key"),
                 Secret(f"{p}/firebase_key", "Firebase service account JSON")],
    )


# ------------------------------------------------------------------------------ 002 fckdoomscroll
def fckdoomscroll(environment: str) -> Spec:
    """fckdoomscroll: named VPC/subnets/SGs with egress rules (RDS: no outbound), ECS 512/1024
    on port 3000 with 100/200 deployments, ALB 301 redirect, RDS 16 gp3 Multi-AZ with a
    parameter group, immutable ECR, alarms, three secrets, a task role."""
    env, short = environment, SHORT[environment]
    prod = env == "production"
    p = "fckdoomscroll"
    names = {"public": "public-subnet", "app": "private-subnet"}
    return Spec(
        project=p, environment=env, document=ARCHITECTURES["fckdoomscroll"],
        network=Network(f"{p}-vpc", "10.0.0.0/16", nat_gateways=1, subnets=_subnets(
            p, public=("10.0.1.0/24", "10.0.2.0/24"), app=("10.0.10.0/24", "10.0.11.0/24"),
            names=lambda tier, zone: f"{names[tier]}-1{zone}")),
        security_groups=[
            SecurityGroup("alb", "alb-sg", "ALB: 443 and 80 from anywhere", ingress=[
                Rule(443, ANYWHERE, "HTTPS"), Rule(80, ANYWHERE, "HTTP, redirected to 443")],
                egress=[Rule(None, ANYWHERE, "All traffic")]),
            SecurityGroup("ecs", "ecs-sg", "ECS tasks: 3000 from the ALB only", ingress=[
                Rule(3000, "sg:alb", "only the ALB")], egress=[
                Rule(443, ANYWHERE, "HTTPS for AWS APIs and Cognito"), Rule(5432, "sg:rds", "PostgreSQL")]),
            SecurityGroup("rds", "rds-sg", "RDS: 5432 from ECS tasks only", ingress=[
                Rule(5432, "sg:ecs", "only ECS tasks")], egress=[]),  # "Outbound: Deny all"
        ],
        cluster=Cluster(f"{p}-{short}", container_insights=True),  # RunningCount alarm needs Insights
        roles=[_execution_role("execution", f"{p}-execution-role"),
               Role("task", f"{p}-task-role", policy={"Version": "2012-10-17", "Statement": [
                   {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                    "Resource": f"arn:PARTITION:secretsmanager:REGION:ACCOUNT_ID:secret:{p}/*"},
                   {"Effect": "Allow", "Action": ["ses:SendEmail", "ses:SendRawEmail"], "Resource": "*"},
                   {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": f"arn:PARTITION:logs:REGION:ACCOUNT_ID:log-group:/ecs/{p}:*"}]})],
        task_definitions=[TaskDefinition(
            "app", p, cpu=512, memory=1024, container_name="app", container_port=3000, log_group=f"/ecs/{p}",
            repository=f"{p}/app", secrets={"DATABASE_SECRET": f"{p}/database", "COGNITO_SECRET": f"{p}/cognito",
                                            "JWT_SECRET": f"{p}/jwt"},
            execution_role="execution", task_role="task")],
        services=[Service("app", f"{p}-service", task="app", desired_count=2, security_groups=["ecs"],
                          target_group="app", minimum_healthy_percent=100, maximum_percent=200,
                          health_check_grace_period=60,
                          scaling=Scaling(2, 10, cpu_target=70, scale_out_cooldown=60, scale_in_cooldown=300))],
        target_groups=[TargetGroup("app", "ecs-targets", 3000, HealthCheck(
            "/api/health", interval=30, timeout=5, healthy_threshold=2, unhealthy_threshold=3, matcher="200",
            port="3000"), stickiness_seconds=86400)],
        load_balancer=LoadBalancer(f"{p}-alb", security_groups=["alb"], default_target_group="app",
                                   http="redirect", certificate_domain="yourdomain.com",
                                   ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06"),  # "TLS 1.2+"
        database=Database(
            f"{p}-db", engine_version="16.3", instance_class="db.t4g.small" if prod else "db.t4g.micro",
            allocated_storage=20, max_allocated_storage=100, storage_type="gp3", iops=3000, throughput=125,
            multi_az=True, encrypted=True, backup_retention=7, backup_window="03:00-04:00",
            maintenance_window="sun:04:00-sun:05:00", deletion_protection=True, db_name=p, username="fckadmin",
            port=5432, security_groups=["rds"], subnet_tier="app",
            parameters={"max_connections": "100", "log_statement": "ddl", "log_min_duration_statement": "1000",
                        "rds.force_ssl": "1"}),  # "In Transit: SSL/TLS enforced"
        alarm_topic=f"{p}-alerts",
        alarms=[
            Alarm(f"{p}-ecs-cpu-high", "AWS/ECS", "CPUUtilization",
                  {"ClusterName": "@cluster", "ServiceName": "@service:app"}, 80, period=60, evaluation_periods=5),
            Alarm(f"{p}-ecs-memory-high", "AWS/ECS", "MemoryUtilization",
                  {"ClusterName": "@cluster", "ServiceName": "@service:app"}, 85, period=60, evaluation_periods=5),
            Alarm(f"{p}-alb-5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", {"LoadBalancer": "@alb"},
                  10, period=60, statistic="Sum", treat_missing_data="notBreaching"),
            Alarm(f"{p}-rds-cpu-high", "AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": "@db"}, 75,
                  period=300, evaluation_periods=2),
            Alarm(f"{p}-rds-free-space-critical", "AWS/RDS", "FreeStorageSpace", {"DBInstanceIdentifier": "@db"},
                  5 * 1024 ** 3, comparison="LessThanThreshold"),
            Alarm(f"{p}-ecs-running-below-desired", "ECS/ContainerInsights", "RunningTaskCount",
                  {"ClusterName": "@cluster", "ServiceName": "@service:app"}, 2, comparison="LessThanThreshold",
                  period=60, evaluation_periods=5),
            Alarm(f"{p}-alb-response-time", "AWS/ApplicationELB", "TargetResponseTime", {"LoadBalancer": "@alb"},
                  1.0, period=60, evaluation_periods=1),
            Alarm(f"{p}-rds-free-space-warning", "AWS/RDS", "FreeStorageSpace", {"DBInstanceIdentifier": "@db"},
                  10 * 1024 ** 3, comparison="LessThanThreshold"),
            Alarm(f"{p}-rds-connections-high", "AWS/RDS", "DatabaseConnections", {"DBInstanceIdentifier": "@db"},
                  80, period=300),  # 80 % of max_connections=100
        ],
        dashboards=[Dashboard(f"{p}-dashboard", [  # every "Key Metrics" entry of the document
            ("AWS/ECS", "CPUUtilization", {"ClusterName": "@cluster", "ServiceName": "@service:app"}),
            ("AWS/ECS", "MemoryUtilization", {"ClusterName": "@cluster", "ServiceName": "@service:app"}),
            # RunningCount / DesiredCount: the Container Insights task counts
            ("ECS/ContainerInsights", "RunningTaskCount", {"ClusterName": "@cluster", "ServiceName": "@service:app"}),
            ("ECS/ContainerInsights", "DesiredTaskCount", {"ClusterName": "@cluster", "ServiceName": "@service:app"}),
            ("AWS/ApplicationELB", "TargetResponseTime", {"LoadBalancer": "@alb"}),
            ("AWS/ApplicationELB", "RequestCount", {"LoadBalancer": "@alb"}),
            ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", {"LoadBalancer": "@alb"}),
            ("AWS/ApplicationELB", "HTTPCode_Target_4XX_Count", {"LoadBalancer": "@alb"}),
            ("AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": "@db"}),
            ("AWS/RDS", "DatabaseConnections", {"DBInstanceIdentifier": "@db"}),
            ("AWS/RDS", "FreeableMemory", {"DBInstanceIdentifier": "@db"}),
            ("AWS/RDS", "ReadLatency", {"DBInstanceIdentifier": "@db"}),
            ("AWS/RDS", "WriteLatency", {"DBInstanceIdentifier": "@db"})])],
        log_groups=[LogGroup(f"/ecs/{p}", 30)],
        repositories=[Repository(f"{p}/app", scan_on_push=True, immutable=True, lifecycle_rules=[
            {**_UNTAGGED_7_DAYS, "rulePriority": 1},
            {**_KEEP_LAST_10, "rulePriority": 2, "description": "Keep most recent 10 images"}])],
        secrets=[Secret(f"{p}/database", "Database credentials",
                        keys=["username", "password", "host", "port", "dbname"]),
                 Secret(f"{p}/cognito", "Cognito app client", keys=["user_pool_id", "client_id", "client_secret"]),
                 Secret(f"{p}/jwt", "Session secret", keys=["session_secret"])],
    )


# ------------------------------------------------------------------------------ 003 indii-music
def indii_music(environment: str) -> Spec:
    """Indii Music BabyRobots (the loosest document): VPC 10.0.0.0/16 in 2 AZs, ECS Fargate API
    with CPU and memory autoscaling, HTTPS ALB, secrets in Secrets Manager. No RDS or cache
    yet ("planned")."""
    env, short = environment, SHORT[environment]
    p = f"indii-music-{short}"
    return Spec(
        project="indii-music", environment=env, document=ARCHITECTURES["indii-music"],
        # silent: subnet CIDRs and NAT count ("NAT Gateway for private subnet internet access")
        network=Network(f"{p}-vpc", "10.0.0.0/16", nat_gateways=1, subnets=_subnets(
            p, public=("10.0.1.0/24", "10.0.2.0/24"), app=("10.0.10.0/24", "10.0.11.0/24"))),
        security_groups=[
            _alb_sg("alb", f"{p}-alb-sg"),
            SecurityGroup("ecs", f"{p}-api-sg", "API tasks: from the ALB only",
                          ingress=[Rule(8000, "sg:alb", "API from the ALB")]),  # silent: port
        ],
        cluster=Cluster(f"{p}-cluster", container_insights=True),
        roles=[_execution_role("execution", f"{p}-ecs-execution-role"),
               _secrets_role("task", f"{p}-ecs-task-role", "indii-music")],
        task_definitions=[TaskDefinition(
            "api", f"{p}-api", cpu=512, memory=1024, container_name="api", container_port=8000,
            log_group=f"/ecs/{p}-api", repository="indii-music-api", environment={"ENVIRONMENT": env},
            secrets={"DB_USERNAME": f"indii-music/{env}/db-username", "DB_PASSWORD": f"indii-music/{env}/db-password"},
            execution_role="execution", task_role="task")],
        services=[Service("api", f"{p}-api", task="api", desired_count=2, security_groups=["ecs"],
                          target_group="api", circuit_breaker=True, rollback=True, health_check_grace_period=60,
                          scaling=Scaling(2, 10, cpu_target=70, memory_target=80),  # silent: targets
                          discovery_namespace=f"{p}.local")],  # "Service discovery using AWS Cloud Map"
        target_groups=[TargetGroup("api", f"{p}-api-tg", 8000, HealthCheck("/health", healthy_threshold=2,
                                                                            unhealthy_threshold=3))],
        load_balancer=LoadBalancer(f"{p}-alb", security_groups=["alb"], default_target_group="api",
                                   http="redirect", certificate_domain="indiimusic.example.com"),  # "HTTPS enforced"
        alarms=_ecs_alarms(f"{p}-api", "api"),  # "CloudWatch Alarms for critical thresholds"
        log_groups=[LogGroup(f"/ecs/{p}-api", 30)],
        repositories=[Repository("indii-music-api", scan_on_push=True)],
        secrets=[Secret(f"indii-music/{env}/db-username", "Database user"),
                 Secret(f"indii-music/{env}/db-password", "Database password")],
    )


_SPECS: dict[str, Callable[[str], Spec]] = {
    "mattilda": mattilda, "miss-you-app": miss_you_app, "fckdoomscroll": fckdoomscroll,
    "indii-music": indii_music, "portfolio": portfolio,
}
