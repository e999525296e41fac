"""The collector framework: failures stay contained, environments are normalized, calls counted."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from auditor.collect import REGISTRY, CollectContext, Collector, collect, load_all, tag_dict
from auditor.model import normalize_environment


@pytest.mark.parametrize("raw,norm", [("prod", "production"), ("Production", "production"),
                                      ("stage", "staging"), ("STAGING", "staging"), ("dev", "development"),
                                      ("development", "development"), ("qa", "qa"), ("", None), (None, None)])
def test_environment_names_are_normalized(raw, norm):
    assert normalize_environment(raw) == norm


def test_environment_from_configurable_tag_or_override(aws):
    ctx = CollectContext(aws, "123456789012", environment_tag="Stage")
    assert ctx.resource("vpc", "v", tags={"stage": "prod"}).environment == "production"
    assert ctx.resource("vpc", "v", tags={"Environment": "prod"}).environment is None
    forced = CollectContext(aws, "123456789012", environment="dev")
    assert forced.resource("vpc", "v", tags={"Environment": "prod"}).environment == "development"


def test_identity_fields_cannot_be_attributes(ctx):
    with pytest.raises(ValueError, match="clash"):
        ctx.resource("vpc", "v", type="x")


def test_tag_dict_accepts_both_aws_spellings():
    assert tag_dict([{"Key": "a", "Value": "1"}, {"key": "b", "value": "2"}]) == {"a": "1", "b": "2"}
    assert tag_dict(None) == {}


def test_every_collector_module_registers_its_types():
    produced = {t for c in load_all().values() for t in c.produces}
    assert produced >= {
        "vpc", "subnet", "route_table", "internet_gateway", "nat_gateway", "security_group",
        "ecs_cluster", "ecs_service", "ecs_task_definition", "scalable_target", "rds_instance",
        "elasticache_replication_group", "elasticache_cluster", "cloudwatch_alarm",
        "cloudwatch_dashboard", "log_group", "load_balancer", "listener", "target_group",
        "ecr_repository", "secret"}


def _failing(exc):
    def fn(ctx):
        raise exc
    return fn


@pytest.mark.parametrize("exc,code", [
    (ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeDBInstances"),
     "AccessDeniedException"),
    (ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "DescribeDBInstances"),
     "Throttling"),
    (EndpointConnectionError(endpoint_url="https://rds.invalid"), "EndpointConnectionError"),
])
def test_a_failing_collector_is_recorded_and_the_rest_goes_on(aws, monkeypatch, exc, code):
    load_all()
    name = next(n for n, c in REGISTRY.items() if "rds_instance" in c.produces)
    c = REGISTRY[name]
    monkeypatch.setitem(REGISTRY, name, Collector(c.name, c.service, c.produces, _failing(exc)))
    boto3.client("ec2", region_name="us-east-1").create_vpc(CidrBlock="10.9.0.0/16")
    snap = collect(aws, only_types={"rds_instance", "vpc"})
    [err] = snap.errors
    assert (err.service, err.code) == ("rds", code)
    assert "rds_instance" in err.resource_types
    assert any(v.attributes["cidr_block"] == "10.9.0.0/16" for v in snap.of_type("vpc"))


def test_api_calls_are_counted_by_service_and_operation(aws):
    collect(aws, only_types={"vpc"})
    assert aws.stats.calls[("ec2", "DescribeVpcs")] >= 1


def test_a_missing_ecr_lifecycle_policy_is_an_answer_not_an_api_error(aws):
    boto3.client("ecr", region_name="us-east-1").create_repository(repositoryName="no-policy")
    snap = collect(aws, only_types={"ecr_repository"})
    assert snap.of_type("ecr_repository")[0].attributes["lifecycle_policy"] is None
    assert aws.stats.calls[("ecr", "GetLifecyclePolicy")] == 1
    assert not aws.stats.errors
