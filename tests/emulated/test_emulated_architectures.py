"""The builder and the architecture specs: deploy into moto, read back with boto3."""
from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from auditor.emulated.architectures import ARCHITECTURES, ENVIRONMENTS, spec
from auditor.emulated.builder import Deployment, build

REGION = "us-east-1"


def c(service: str):
    return boto3.client(service, region_name=REGION)


@pytest.fixture
def deploy():
    """deploy(name, env) -> Deployment, inside a fresh mock_aws account."""
    with mock_aws():
        yield lambda name, env: build(spec(name, env))


# ------------------------------------------------------------------------------ reading back
def sg_rules(group_id: str, direction: str = "IpPermissions") -> set[tuple]:
    """{(port or None, peer)} where peer is a group id or a CIDR."""
    group = c("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    out = set()
    for perm in group[direction]:
        port = perm.get("FromPort") if perm["IpProtocol"] != "-1" else None
        out |= {(port, p["GroupId"]) for p in perm["UserIdGroupPairs"]}
        out |= {(port, r["CidrIp"]) for r in perm["IpRanges"]}
    return out


def tags(items, key="Key", value="Value") -> dict[str, str]:
    return {t[key]: t[value] for t in items or []}


def service(d: Deployment, key: str) -> dict:
    arn = d[f"service:{key}"]
    return c("ecs").describe_services(cluster=d["cluster"], services=[arn], include=["TAGS"])["services"][0]


def alarms_by_name() -> dict[str, dict]:
    return {a["AlarmName"]: a for a in c("cloudwatch").describe_alarms()["MetricAlarms"]}


def listeners(d: Deployment) -> dict[int, dict]:
    return {x["Port"]: x for x in c("elbv2").describe_listeners(LoadBalancerArn=d["alb"])["Listeners"]}


def scaling(d: Deployment, key: str) -> tuple[dict, dict[str, dict]]:
    aas, resource = c("application-autoscaling"), f"service/{d.spec.cluster.name}/{service(d, key)['serviceName']}"
    target = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])["ScalableTargets"][0]
    policies = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource)["ScalingPolicies"]
    by_metric = {p["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"]:
                 p["TargetTrackingScalingPolicyConfiguration"] for p in policies}
    return target, by_metric


# ------------------------------------------------------------------------------ mattilda
@pytest.mark.parametrize("env", ["production", "staging"])
def test_mattilda(deploy, env):
    d = deploy("mattilda", env)
    prod, short = env == "production", {"production": "prod", "staging": "staging"}[env]
    ec2 = c("ec2")

    # network: VPC with DNS, 2 public + 2 private subnets, IGW, NAT, tags everywhere
    vpc = ec2.describe_vpcs(VpcIds=[d["vpc"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert tags(vpc["Tags"]) == {"Project": "mattilda", "Environment": env, "Name": f"mattilda-vpc-{short}"}
    for attr in ("enableDnsSupport", "enableDnsHostnames"):
        key = attr[0].upper() + attr[1:]
        assert ec2.describe_vpc_attribute(VpcId=d["vpc"], Attribute=attr)[key]["Value"] is True
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [d["vpc"]]}])["Subnets"]
    tiers = sorted((tags(s["Tags"])["Tier"], s["AvailabilityZone"], s["MapPublicIpOnLaunch"]) for s in subnets)
    assert tiers == [("app", "us-east-1a", False), ("app", "us-east-1b", False),
                     ("public", "us-east-1a", True), ("public", "us-east-1b", True)]
    assert len(ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [d["vpc"]]}])["NatGateways"]) == 1

    # security group chain: internet -> ALB (80/443) -> ECS (8000) -> RDS (5432) / Redis (6379)
    assert sg_rules(d["sg:alb"]) == {(443, "0.0.0.0/0"), (80, "0.0.0.0/0")}
    assert sg_rules(d["sg:ecs"]) == {(8000, d["sg:alb"])}
    assert sg_rules(d["sg:rds"]) == {(5432, d["sg:ecs"])}
    assert sg_rules(d["sg:redis"]) == {(6379, d["sg:ecs"])}

    # ECS: cluster, service with deployment configuration, private network, target group
    cluster = c("ecs").describe_clusters(clusters=[d["cluster"]], include=["SETTINGS"])["clusters"][0]
    assert cluster["clusterName"] == f"mattilda-cluster-{short}"
    svc = service(d, "api")
    assert svc["serviceName"] == "mattilda-api-service" and svc["launchType"] == "FARGATE"
    assert svc["desiredCount"] == 2
    assert svc["deploymentConfiguration"] == {"minimumHealthyPercent": 100, "maximumPercent": 200,
                                              "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    assert svc["healthCheckGracePeriodSeconds"] == 60
    vpc_conf = svc["networkConfiguration"]["awsvpcConfiguration"]
    assert vpc_conf["assignPublicIp"] == "DISABLED" and vpc_conf["securityGroups"] == [d["sg:ecs"]]
    assert sorted(vpc_conf["subnets"]) == sorted(d[k] for k in d.keys("subnet:") if "private" in k)
    assert svc["loadBalancers"][0]["targetGroupArn"] == d["tg:api"]
    assert tags(svc["tags"], "key", "value")["Project"] == "mattilda"
    task = c("ecs").describe_task_definition(taskDefinition=d["taskdef:api"])["taskDefinition"]
    container = task["containerDefinitions"][0]
    assert container["portMappings"][0]["containerPort"] == 8000
    assert container["logConfiguration"]["options"]["awslogs-group"] == "/ecs/mattilda-api"
    assert {s["valueFrom"] for s in container["secrets"]} == {d[k] for k in d.keys("secret:")}
    assert container["image"].endswith("/mattilda-backend:latest")

    # autoscaling 2-10 on CPU and memory
    target, policies = scaling(d, "api")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 10)
    assert set(policies) == {"ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization"}

    # ALB: internet-facing in public subnets, HTTPS 443 with an issued certificate, 80 -> 301
    alb = c("elbv2").describe_load_balancers(LoadBalancerArns=[d["alb"]])["LoadBalancers"][0]
    assert alb["Scheme"] == "internet-facing" and alb["SecurityGroups"] == [d["sg:alb"]]
    assert {z["SubnetId"] for z in alb["AvailabilityZones"]} == {d[k] for k in d.keys("subnet:") if "public" in k}
    by_port = listeners(d)
    assert by_port[80]["DefaultActions"][0]["RedirectConfig"]["StatusCode"] == "HTTP_301"
    assert by_port[443]["Protocol"] == "HTTPS" and by_port[443]["Certificates"][0]["CertificateArn"] == d["certificate"]
    assert c("acm").describe_certificate(CertificateArn=d["certificate"])["Certificate"]["Status"] == "ISSUED"

    # RDS PostgreSQL 15, t3.micro, encrypted, Multi-AZ in production only
    db = c("rds").describe_db_instances(DBInstanceIdentifier=f"mattilda-db-{short}")["DBInstances"][0]
    assert db["Engine"] == "postgres" and db["EngineVersion"].startswith("15.")
    assert db["DBInstanceClass"] == "db.t3.micro" and db["StorageEncrypted"] is True
    assert db["MultiAZ"] is prod
    assert db["DeletionProtection"] is prod and db["PubliclyAccessible"] is False
    assert db["VpcSecurityGroups"][0]["VpcSecurityGroupId"] == d["sg:rds"]
    assert db["DBSubnetGroup"]["DBSubnetGroupName"] == d["db_subnet_group"]

    # ElastiCache Redis on cache.t3.micro
    rg = c("elasticache").describe_replication_groups(ReplicationGroupId=d["cache"])["ReplicationGroups"][0]
    assert rg["CacheNodeType"] == "cache.t3.micro" and rg["AtRestEncryptionEnabled"] is True
    member = c("elasticache").describe_cache_clusters(CacheClusterId=rg["MemberClusters"][0])["CacheClusters"][0]
    assert member["Engine"] == "redis" and member["EngineVersion"].startswith("7.")
    assert member["SecurityGroups"] == [{"SecurityGroupId": d["sg:redis"], "Status": "active"}]

    # alarms bound to the created resources; dashboard; logs; ECR; secrets
    alarms = alarms_by_name()
    cpu = alarms[f"mattilda-{short}-ecs-cpu-high"]
    assert tags(cpu["Dimensions"], "Name", "Value") == {"ClusterName": f"mattilda-cluster-{short}",
                                                       "ServiceName": "mattilda-api-service"}
    assert (cpu["Threshold"], cpu["ComparisonOperator"]) == (80.0, "GreaterThanThreshold")
    assert alarms[f"mattilda-{short}-rds-cpu-high"]["Dimensions"] == [
        {"Name": "DBInstanceIdentifier", "Value": f"mattilda-db-{short}"}]
    assert alarms[f"mattilda-{short}-alb-5xx"]["Dimensions"][0]["Value"].startswith(f"app/mattilda-{short}-alb/")
    body = json.loads(c("cloudwatch").get_dashboard(DashboardName=f"mattilda-{short}-dashboard")["DashboardBody"])
    assert len(body["widgets"]) == 4
    group = c("logs").describe_log_groups(logGroupNamePrefix="/ecs/mattilda-api")["logGroups"][0]
    assert group["retentionInDays"] == 30
    repo = c("ecr").describe_repositories(repositoryNames=["mattilda-backend"])["repositories"][0]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    secrets = {s["Name"] for s in c("secretsmanager").list_secrets()["SecretList"]}
    assert secrets == {"mattilda/database-url", "mattilda/redis-url", "mattilda/secret-key"}


def test_mattilda_deployment_record_supports_mutation(deploy):
    """Tests find resources by logical key and change them, e.g. open the DB to the world."""
    d = deploy("mattilda", "production")
    c("ec2").authorize_security_group_ingress(GroupId=d["sg:rds"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert (5432, "0.0.0.0/0") in sg_rules(d["sg:rds"])
    c("rds").modify_db_instance(DBInstanceIdentifier=d.spec.database.identifier, MultiAZ=False, ApplyImmediately=True)
    assert c("rds").describe_db_instances(DBInstanceIdentifier=d.spec.database.identifier)["DBInstances"][0]["MultiAZ"] is False


# ------------------------------------------------------------------------------ the others
def check_portfolio(d: Deployment, env: str) -> None:
    prod, short = env == "production", {"production": "prod", "development": "dev"}[env]
    cluster = c("ecs").describe_clusters(clusters=[d["cluster"]], include=["SETTINGS"])["clusters"][0]
    assert {"name": "containerInsights", "value": "enabled"} in cluster["settings"]
    for key in ("frontend", "backend"):
        svc = service(d, key)
        assert svc["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
        target, policies = scaling(d, key)
        assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
        assert policies["ECSServiceAverageCPUUtilization"]["TargetValue"] == 70.0
        task = c("ecs").describe_task_definition(taskDefinition=d[f"taskdef:{key}"])["taskDefinition"]
        assert (task["cpu"], task["memory"]) == ("256", "512")
    rules = c("elbv2").describe_rules(ListenerArn=d["listener:https"])["Rules"]
    api = next(r for r in rules if not r["IsDefault"])
    assert api["Conditions"][0]["PathPatternConfig"]["Values"] == ["/api/*"]
    assert api["Actions"][0]["TargetGroupArn"] == d["tg:backend"]
    db = c("rds").describe_db_instances()["DBInstances"][0]
    assert (db["EngineVersion"], db["MultiAZ"], db["StorageType"]) == ("16.3", prod, "gp3")
    assert db["DBInstanceClass"] == ("db.t4g.small" if prod else "db.t4g.micro")
    assert (db["PreferredBackupWindow"], db["PreferredMaintenanceWindow"]) == ("03:00-04:00", "mon:04:00-mon:05:00")
    assert db["MonitoringInterval"] == 60 and db["EnabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    ec = c("elasticache")
    rg = ec.describe_replication_groups()["ReplicationGroups"][0]
    assert len(rg["MemberClusters"]) == (2 if prod else 1)
    assert rg["AutomaticFailover"] == ("enabled" if prod else "disabled") and rg["SnapshotRetentionLimit"] == 5
    user = ec.describe_cache_parameters(CacheParameterGroupName=d["cache_parameter_group"], Source="user")
    assert [(p["ParameterName"], p["ParameterValue"]) for p in user["Parameters"]] == [("maxmemory-policy", "allkeys-lru")]
    assert {g["logGroupName"]: g["retentionInDays"] for g in c("logs").describe_log_groups()["logGroups"]} == {
        f"/ecs/portfolio-{short}/{x}": 30 for x in ("backend", "cluster", "frontend")}
    policy = json.loads(c("ecr").get_lifecycle_policy(repositoryName=f"portfolio-{short}-backend")["lifecyclePolicyText"])
    assert policy["rules"][0]["selection"]["tagPrefixList"] == ["v"]
    assert len([a for a in alarms_by_name() if a.startswith("portfolio-")]) == 4


def check_miss_you_app(d: Deployment, env: str) -> None:
    prod = env == "production"
    subnets = c("ec2").describe_subnets(Filters=[{"Name": "vpc-id", "Values": [d["vpc"]]}])["Subnets"]
    assert sorted(s["CidrBlock"] for s in subnets) == [
        "10.0.0.0/24", "10.0.1.0/24", "10.0.10.0/24", "10.0.11.0/24", "10.0.20.0/24", "10.0.21.0/24"]
    nats = c("ec2").describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [d["vpc"]]}])["NatGateways"]
    assert len(nats) == (2 if prod else 1)
    assert len(d.keys("rtb:")) == (4 if prod else 3)  # public, app per AZ (or one), db
    task = c("ecs").describe_task_definition(taskDefinition=d["taskdef:app"])["taskDefinition"]
    assert (task["cpu"], task["memory"]) == (("512", "1024") if prod else ("256", "512"))
    _, policies = scaling(d, "app")
    cpu, mem = policies["ECSServiceAverageCPUUtilization"], policies["ECSServiceAverageMemoryUtilization"]
    assert (cpu["TargetValue"], mem["TargetValue"], cpu["ScaleOutCooldown"], cpu["ScaleInCooldown"]) == (70, 80, 60, 300)
    db = c("rds").describe_db_instances()["DBInstances"][0]
    assert (db["EngineVersion"], db["MultiAZ"], db["PerformanceInsightsEnabled"]) == ("15.4", prod, True)
    assert (db["AllocatedStorage"], db["MaxAllocatedStorage"], db["BackupRetentionPeriod"]) == (20, 100, 7)
    assert {s["SubnetIdentifier"] for s in db["DBSubnetGroup"]["Subnets"]} == {
        d[k] for k in d.keys("subnet:") if "private-db" in k}
    tg = c("elbv2").describe_target_groups(TargetGroupArns=[d["tg:app"]])["TargetGroups"][0]
    assert (tg["HealthCheckPath"], tg["HealthCheckIntervalSeconds"]) == ("/health", 30)
    assert ("listener:https" in d.ids) is prod
    http = listeners(d)[80]["DefaultActions"][0]
    assert http["Type"] == ("redirect" if prod else "forward")
    alarms = alarms_by_name()
    assert alarms["miss-you-app-rds-storage-low"]["ComparisonOperator"] == "LessThanThreshold"
    assert alarms["miss-you-app-rds-storage-low"]["Threshold"] == 2 * 1024 ** 3
    assert {g["logGroupName"]: g["retentionInDays"] for g in c("logs").describe_log_groups()["logGroups"]}[
        "/ecs/miss-you-app"] == 7
    rules = json.loads(c("ecr").get_lifecycle_policy(repositoryName="miss-you-app")["lifecyclePolicyText"])["rules"]
    assert rules[0]["selection"]["countNumber"] == 10


def check_fckdoomscroll(d: Deployment, env: str) -> None:
    names = {g["GroupName"]: g for g in c("ec2").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [d["vpc"]]}])["SecurityGroups"]}
    assert {"alb-sg", "ecs-sg", "rds-sg"} <= set(names)
    assert names["rds-sg"]["IpPermissionsEgress"] == []  # "Outbound: Deny all"
    assert sg_rules(d["sg:ecs"], "IpPermissionsEgress") == {(443, "0.0.0.0/0"), (5432, d["sg:rds"])}
    assert sg_rules(d["sg:rds"]) == {(5432, d["sg:ecs"])}
    assert {tags(s["Tags"])["Name"] for s in c("ec2").describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [d["vpc"]]}])["Subnets"]} == {
        "public-subnet-1a", "public-subnet-1b", "private-subnet-1a", "private-subnet-1b"}
    svc = service(d, "app")
    assert svc["serviceName"] == "fckdoomscroll-service"
    deployment = svc["deploymentConfiguration"]
    assert (deployment["minimumHealthyPercent"], deployment["maximumPercent"]) == (100, 200)
    tg = c("elbv2").describe_target_groups(TargetGroupArns=[d["tg:app"]])["TargetGroups"][0]
    assert (tg["TargetGroupName"], tg["HealthCheckPath"], tg["HealthCheckTimeoutSeconds"],
            tg["HealthyThresholdCount"], tg["UnhealthyThresholdCount"]) == ("ecs-targets", "/api/health", 5, 2, 3)
    db = c("rds").describe_db_instances(DBInstanceIdentifier="fckdoomscroll-db")["DBInstances"][0]
    assert (db["StorageType"], db["Iops"], db["StorageThroughput"], db["MultiAZ"]) == ("gp3", 3000, 125, True)
    assert (db["PreferredBackupWindow"], db["PreferredMaintenanceWindow"]) == ("03:00-04:00", "sun:04:00-sun:05:00")
    params = {p["ParameterName"]: p["ParameterValue"] for p in c("rds").describe_db_parameters(
        DBParameterGroupName=d["db_parameter_group"])["Parameters"]}
    assert params["max_connections"] == "100" and params["log_statement"] == "ddl"
    repo = c("ecr").describe_repositories(repositoryNames=["fckdoomscroll/app"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    alarms = alarms_by_name()
    assert alarms["fckdoomscroll-rds-cpu-high"]["Threshold"] == 75.0
    assert alarms["fckdoomscroll-ecs-memory-high"]["Threshold"] == 85.0
    assert alarms["fckdoomscroll-alb-5xx"]["AlarmActions"] == [d["topic"]]
    assert {s["Name"] for s in c("secretsmanager").list_secrets()["SecretList"]} == {
        "fckdoomscroll/database", "fckdoomscroll/cognito", "fckdoomscroll/jwt"}
    policy = c("iam").get_role_policy(RoleName="fckdoomscroll-task-role", PolicyName="fckdoomscroll-task-role-policy")
    assert d.account in json.dumps(policy["PolicyDocument"])


def check_indii_music(d: Deployment, env: str) -> None:
    vpc = c("ec2").describe_vpcs(VpcIds=[d["vpc"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    azs = {s["AvailabilityZone"] for s in c("ec2").describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [d["vpc"]]}])["Subnets"]}
    assert azs == {"us-east-1a", "us-east-1b"}
    _, policies = scaling(d, "api")
    assert set(policies) == {"ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization"}
    assert listeners(d)[443]["Protocol"] == "HTTPS"
    assert len(c("secretsmanager").list_secrets()["SecretList"]) == 2
    assert "db" not in d.ids and "cache" not in d.ids  # RDS and ElastiCache are "planned"


CHECKS = {"portfolio": check_portfolio, "miss-you-app": check_miss_you_app,
          "fckdoomscroll": check_fckdoomscroll, "indii-music": check_indii_music}


@pytest.mark.parametrize("name,env", [(n, e) for n, envs in ENVIRONMENTS.items() if n != "mattilda" for e in envs])
def test_other_architectures(deploy, name, env):
    d = deploy(name, env)
    # every architecture tags what it creates with its project and environment
    vpc = c("ec2").describe_vpcs(VpcIds=[d["vpc"]])["Vpcs"][0]
    assert {"Project": name, "Environment": env}.items() <= tags(vpc["Tags"]).items()
    CHECKS[name](d, env)


def test_spec_lookup():
    assert set(ARCHITECTURES) == set(ENVIRONMENTS) == set(CHECKS) | {"mattilda"}
    assert spec("mattilda", "prod").environment == "production"  # aliases are normalised
    with pytest.raises(ValueError):
        spec("mattilda", "development")
    with pytest.raises(KeyError):
        spec("nope")


# ------------------------------------------------------------------------------ moto server
def test_mattilda_on_threaded_moto_server(account):
    """The same build through AWS_ENDPOINT_URL against an in-process ThreadedMotoServer."""
    d = build(spec("mattilda", "production"))
    assert c("ecs").meta.endpoint_url == account
    svc = service(d, "api")
    assert svc["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert c("rds").describe_db_instances()["DBInstances"][0]["MultiAZ"] is True
    assert sg_rules(d["sg:rds"]) == {(5432, d["sg:ecs"])}
    assert c("elasticache").describe_cache_clusters()["CacheClusters"][0]["ReplicationGroupId"] == d["cache"]
    assert c("acm").describe_certificate(CertificateArn=d["certificate"])["Certificate"]["Status"] == "ISSUED"
    assert "mattilda-prod-ecs-cpu-high" in alarms_by_name()


def test_build_accepts_an_aws_context(aws):
    """build() takes the auditor's AwsContext (or a boto3 Session, a mapping or a callable)."""
    d = build(spec("indii-music", "production"), aws)
    assert d.account == aws.account
    assert aws.client("ecs").describe_services(cluster=d["cluster"], services=[d["service:api"]])["services"]

