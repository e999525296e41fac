"""The collector framework: failures stay contained, environments are normalized, calls counted, and
every collected type has a complete description."""
from __future__ import annotations

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from auditor.attributes import IDENTITY
from auditor.collect import REGISTRY, CollectContext, Collector, collect, collector, load_all, resource_types, tag_dict
from auditor.collect.types import Dimensions, Edge, ResourceType
from auditor.cost.estimate import ESTIMATORS, SERVICES
from auditor.deployments import VIA
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


def test_every_collected_type_has_a_complete_description():
    types = resource_types()
    assert sorted(t for c in load_all().values() for t in c.produces) == sorted(types)   # each described once
    models = botocore.session.get_session()
    for name, t in types.items():
        assert t.name == name and t.attributes and t.calls, name
        assert set(t.calls) <= set(models.get_service_model(t.service).operation_names), name
        assert t.arn.startswith(("arn:{partition}:" + t.service.replace("elbv2", "elasticloadbalancing") + ":",
                                 f"arn:{{partition}}:{t.service}:")) and "{account}" in t.arn, name
        assert not IDENTITY.keys() & t.attributes.keys() and set(t.volatile) <= t.attributes.keys(), name
        for d in t.alarms:
            assert d.namespace.startswith("AWS/") and d.dimensions, name
            assert all(a == "id" or a in t.attributes for a in d.dimensions.values()), name
        for e in (*t.owns, *t.contains):
            assert e.type in types, (name, e)
            assert e.via in VIA if e.via else e.attribute in types[e.type if e.back else name].attributes, (name, e)
        assert t.cost in (None, *SERVICES), name
    assert set(ESTIMATORS) <= {name for name, t in types.items() if t.cost}


def test_a_description_is_checked_where_it_is_declared():
    with pytest.raises(ValueError, match="an attribute or a via"):
        Edge("subnet", "subnet_id", via="subnets")
    with pytest.raises(ValueError, match="one dimension at least"):
        Dimensions("AWS/RDS", {})
    ec2 = ResourceType("a", "ec2", "arn:{partition}:ec2:{region}:{account}:a/{id}", ("DescribeVpcs",), {})
    rds = ResourceType("b", "rds", "arn:{partition}:rds:{region}:{account}:b:{id}", ("DescribeDBInstances",), {})
    with pytest.raises(ValueError, match="one service"):
        collector(ec2, rds)


def test_an_arn_pattern_formats_and_matches_arns():
    vpc = resource_types()["vpc"]
    arn = vpc.format_arn(partition="aws-cn", region="cn-north-1", account="123456789012", id="vpc-1")
    assert arn == "arn:aws-cn:ec2:cn-north-1:123456789012:vpc/vpc-1" and vpc.arn_regex.match(arn)
    assert not vpc.arn_regex.match("arn:aws:ec2:us-east-1:123456789012:subnet/subnet-1")
    assert resource_types()["ecs_service"].arn_regex.match("arn:aws:ecs:us-east-1:123456789012:service/c/s")


def _failing(exc):
    def fn(ctx):
        raise exc
    return fn


@pytest.mark.parametrize("exc,code,category", [
    (ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeDBInstances"),
     "AccessDeniedException", "denied"),
    (ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "DescribeDBInstances"),
     "Throttling", "throttled"),
    (EndpointConnectionError(endpoint_url="https://rds.invalid"), "EndpointConnectionError", "region_unavailable"),
])
def test_a_failing_collector_is_recorded_and_the_rest_goes_on(aws, monkeypatch, exc, code, category):
    load_all()
    name = next(n for n, c in REGISTRY.items() if "rds_instance" in c.produces)
    c = REGISTRY[name]
    monkeypatch.setitem(REGISTRY, name, Collector(c.name, c.service, c.produces, _failing(exc)))
    boto3.client("ec2", region_name="us-east-1").create_vpc(CidrBlock="10.9.0.0/16")
    snap = collect(aws, only_types={"rds_instance", "vpc"})
    [err] = snap.errors
    assert (err.service, err.code, err.category) == ("rds", code, category)
    assert "rds_instance" in err.resource_types and err.whole_type and "rds_instance" in snap.failed_types()
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


def _denied(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, operation)


def _items(ctx):
    """One resource whose tags are denied, one that vanished, one read whole."""
    for rid, exc in (("denied", _denied("ListTags")), ("gone", ClientError({"Error": {"Code": "Gone"}}, "ListTags")),
                     ("whole", None)):
        with ctx.item("ec2", "thing_f", rid, gone=("Gone",)) as item:
            tags = item.call(("tags",), _raise, exc) if exc else {"Owner": "me"}
            yield item.resource(tags=tags, size=1)


def _raise(exc):
    raise exc


def test_a_fault_of_one_resource_stays_with_it(aws, monkeypatch):
    monkeypatch.setitem(REGISTRY, "ec2.items", Collector("ec2.items", "ec2", ("thing_f",), _items))
    snap = collect(aws, only_types={"thing_f"})
    assert [(r.id, dict(r.unknown)) for r in snap.of_type("thing_f")] == [
        ("denied", {"tags": "ec2:ListTags AccessDenied: no", "environment": "ec2:ListTags AccessDenied: no"}),
        ("whole", {})]
    [err] = snap.errors
    assert (err.resource_id, err.attributes, err.whole_type) == ("denied", ("tags",), False)
    assert snap.failed_types() == {} and snap.vanished == {"thing_f": 1}


def test_a_whole_type_error_replaces_the_faults_before_it(aws, monkeypatch):
    def items_then_list_fails(ctx):
        yield from _items(ctx)
        raise _denied("ListThings")
    monkeypatch.setitem(REGISTRY, "ec2.items", Collector("ec2.items", "ec2", ("thing_f",), items_then_list_fails))
    snap = collect(aws, only_types={"thing_f"})
    assert [(e.operation, e.whole_type) for e in snap.errors] == [("ListThings", True)]
    assert not snap.of_type("thing_f") and snap.vanished == {}


def test_an_audit_wide_environment_stays_known_when_tags_are_not(aws):
    forced = CollectContext(aws, "123456789012", environment="prod")
    assert forced.resource("vpc", "v", unknown={"tags": "why"}).unknown == {"tags": "why"}


def test_a_shared_read_is_made_once_and_its_error_reaches_every_collector(ctx):
    calls = []

    def denied():
        calls.append(1)
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListServices")

    first, second = ctx.fork(), ctx.fork()
    for child in (first, second):
        with pytest.raises(ClientError, match="AccessDeniedException"):
            child.shared("ecs.services", denied)
    assert calls == [1]
    assert first.shared("ecs.cluster_arns", lambda: ["a"]) == second.shared("ecs.cluster_arns", lambda: ["b"]) == ["a"]
