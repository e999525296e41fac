"""Tagging styles, several deployments in one account, and the neighbour application."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from auditor.emulated import drifts as drift_registry
from auditor.emulated.architectures import ENVIRONMENTS, spec
from auditor.emulated.builder import TAGGING, build, name_collisions
from auditor.emulated.demo import companions, deploy, deploy_many
from auditor.emulated.neighbour import billing

REGION = "us-east-1"
OWNER_TAGS = {"Project", "Environment"}


def c(service: str):
    return boto3.client(service, region_name=REGION)


def tags(items, key="Key", value="Value") -> dict[str, str]:
    return {t[key]: t[value] for t in items or []}


def tags_by_kind(d) -> dict[str, dict[str, str]]:
    """The tags of one resource of each kind of a deployment, read back from the account."""
    ec2, elb = c("ec2"), c("elbv2")
    arn_tags = {k: tags(v) for k, v in (
        (x["ResourceArn"], x["Tags"]) for x in elb.describe_tags(ResourceArns=[
            d["alb"], d["listener:http"], d["listener:https"], d["tg:frontend"], d["rule:10"]])["TagDescriptions"])}
    ecs = c("ecs")
    return {
        "vpc": tags(ec2.describe_vpcs(VpcIds=[d["vpc"]])["Vpcs"][0].get("Tags")),
        "subnet": tags(ec2.describe_subnets(SubnetIds=[d[d.keys("subnet:")[0]]])["Subnets"][0].get("Tags")),
        "security_group": tags(ec2.describe_security_groups(GroupIds=[d["sg:rds"]])["SecurityGroups"][0].get("Tags")),
        "nat_gateway": tags(ec2.describe_nat_gateways(NatGatewayIds=[d["nat:0"]])["NatGateways"][0].get("Tags")),
        "load_balancer": arn_tags[d["alb"]],
        "listener": arn_tags[d["listener:https"]],
        "listener_rule": arn_tags[d["rule:10"]],
        "target_group": arn_tags[d["tg:frontend"]],
        "cluster": tags(ecs.list_tags_for_resource(resourceArn=d["cluster"])["tags"], "key", "value"),
        "service": tags(ecs.list_tags_for_resource(resourceArn=d["service:backend"])["tags"], "key", "value"),
        "task_definition": tags(ecs.list_tags_for_resource(resourceArn=d["taskdef:backend"])["tags"], "key", "value"),
        "db": tags(c("rds").list_tags_for_resource(ResourceName=d["db"])["TagList"]),
        "repository": tags(c("ecr").list_tags_for_resource(resourceArn=d["repo:portfolio-dev-backend"])["tags"]),
        "log_group": c("logs").list_tags_log_group(logGroupName="/ecs/portfolio-dev/backend")["tags"],
        "role": tags(c("iam").list_role_tags(RoleName="portfolio-dev-ecs-task-role")["Tags"]),
        "alarm": tags(c("cloudwatch").list_tags_for_resource(ResourceARN=d["alarm:portfolio-dev-backend-cpu-high"])["Tags"]),
        "certificate": tags(c("acm").list_tags_for_certificate(CertificateArn=d["certificate"]).get("Tags")),
    }


@pytest.mark.parametrize("tagging", TAGGING)
def test_tagging_styles(tagging):
    with mock_aws():
        d = build(spec("portfolio", "development"), tagging=tagging)
        assert d.spec.tagging == tagging
        found = tags_by_kind(d)
    owners = {"vpc", "load_balancer", "cluster", "service", "db", "repository"}
    for kind, kind_tags in found.items():
        if tagging == "all" or kind in owners:
            assert {"Project": "portfolio", "Environment": "development"}.items() <= kind_tags.items(), kind
        else:
            assert not OWNER_TAGS & set(kind_tags), (kind, kind_tags)
    if tagging == "owners":  # EC2 non-owners keep their Name; the others carry nothing
        assert set(found["subnet"]) == {"Name", "Tier"} and set(found["security_group"]) == {"Name"}
        assert found["listener"] == found["target_group"] == found["log_group"] == found["alarm"] == {}


def test_unknown_tagging_style_is_refused():
    with mock_aws(), pytest.raises(ValueError, match="tagging"):
        build(spec("indii-music", "production"), tagging="some")


def test_companions_are_the_environments_whose_names_do_not_clash():
    assert companions("mattilda", "staging") == ["production"]
    assert companions("portfolio", "production") == ["development"]
    assert companions("indii-music", "production") == ["staging"]
    # one name for every environment: load balancer, target group, database, roles, alarms
    assert companions("miss-you-app", "production") == companions("fckdoomscroll", "development") == []
    clashes = name_collisions(spec("fckdoomscroll", "development"), [spec("fckdoomscroll", "production")])
    assert {"load balancer fckdoomscroll-alb", "target group ecs-targets", "rds instance fckdoomscroll-db"} <= set(clashes)
    for name in ENVIRONMENTS:
        for env in ENVIRONMENTS[name]:
            assert not name_collisions(billing(), [spec(name, env)])


def test_two_environments_and_the_neighbour_share_one_account(account):
    staging, production, neighbour = deploy_many(
        account, [("mattilda", "staging", ["desired-count-1"]), ("mattilda", "production")],
        tagging="owners", neighbour=True)
    assert (neighbour.spec.project, staging.spec.environment, production.spec.environment) == \
        ("billing", "staging", "production")
    # names the document gives once are created by the first environment and reused by the second
    assert staging.reused == [] and set(production.reused) == {
        "log_group:/ecs/mattilda-api", "repo:mattilda-backend", "secret:mattilda/database-url",
        "secret:mattilda/redis-url", "secret:mattilda/secret-key"}
    assert production["secret:mattilda/redis-url"] == staging["secret:mattilda/redis-url"]
    assert staging["cluster"] != production["cluster"]
    # the drift applies to its own entry only
    services = {s["serviceArn"]: s["desiredCount"] for d in (staging, production) for s in c("ecs").describe_services(
        cluster=d["cluster"], services=[d["service:api"]])["services"]}
    assert services == {staging["service:api"]: 1, production["service:api"]: 2}
    # the neighbour's look-alikes exist beside the packs' resources
    secrets = {s["Name"] for s in c("secretsmanager").list_secrets()["SecretList"]}
    assert {"billing/db_credentials", "billing/firebase_key", "mattilda/database-url"} <= secrets
    groups = {g["logGroupName"] for g in c("logs").describe_log_groups()["logGroups"]}
    assert "/aws/rds/instance/billing-db/postgresql" in groups
    assert tags(c("ec2").describe_vpcs(VpcIds=[neighbour["vpc"]])["Vpcs"][0]["Tags"])["Project"] == "billing"


def test_clashing_environments_are_refused_before_anything_is_built(account):
    with pytest.raises(ValueError, match="cannot share the account"):
        deploy_many(account, [("miss-you-app", "production"), ("miss-you-app", "development")])
    assert c("ec2").describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["miss-you-app"]}])["Vpcs"] == []


def test_a_drift_gets_the_environments_it_needs(account):
    drift = drift_registry.get("portfolio", "production-db-deleted")
    assert drift.environments == ("development", "production")
    production = deploy("portfolio", "production", account, [drift.name], tagging="owners")
    assert production.spec.environment == "production"
    dbs = [db["DBInstanceIdentifier"] for db in c("rds").describe_db_instances()["DBInstances"]]
    assert dbs == ["portfolio-dev-db"]
