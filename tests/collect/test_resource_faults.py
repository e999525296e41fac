"""A fault stays with its resource: one per-resource call that fails changes only that resource's findings.

moto answers every call; ``answer`` makes one call about one resource answer an AWS error instead
(a botocore ``before-call`` hook, as real AWS would answer it: counted, classified, no retries).
Each test audits the same account with and without the fault and compares findings by status.
"""
from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from auditor.collect import collect
from auditor.model import Finding, Snapshot
from auditor.rules.engine import RuleSet
from auditor.rules.loader import LoadedPack
from auditor.rules.schema import Pack

REGION = "us-east-1"
DOC = {"file": "doc.txt", "quote": "q"}


def answer(aws, service: str, operation: str, target: str, code: str, message: str = "refused") -> None:
    """Make ``operation`` answer ``code`` when its request names ``target`` (an ARN or a name)."""
    def hook(params, **_kwargs):
        if target in str(params.get("body")):
            return (AWSResponse("https://aws.invalid", 400, {}, None),
                    {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}})
        return None
    aws.client(service).meta.events.register(f"before-call.*.{operation}", hook)


def _rule(rid: str, resource: str, assert_: list[dict], good: dict, bad: dict, scope: list[dict] | None = None) -> dict:
    tests = [{"name": "holds", "expect": "pass", "resource": good}, {"name": "broken", "expect": "fail", "resource": bad}]
    return {"id": rid, "title": rid, "severity": "medium", "resource": resource, "scope": scope or [],
            "assert": assert_, "doc": DOC, "remediation": "fix it", "tests": tests}


def _exists(key: str) -> dict:
    return {"key": key, "op": "exists", "value": True}


OWNED, UNOWNED = {"tags": {"Owner": "team"}}, {"tags": {}}
PRODUCTION = [{"key": "environment", "op": "eq", "value": "production"}]
FORWARD = {"key": "rules", "all": [{"key": "actions[0].type", "op": "eq", "value": "forward"}]}
RULES = [
    _rule("logs.retention", "log_group", [_exists("retention_in_days")], {"retention_in_days": 7}, {}),
    _rule("logs.owner", "log_group", [_exists("tags.Owner")], OWNED, UNOWNED),
    _rule("logs.production_kms", "log_group", [_exists("kms_key_id")], {"environment": "production", "kms_key_id": "k"},
          {"environment": "production"}, PRODUCTION),
    _rule("ecr.scan", "ecr_repository", [{"key": "scan_on_push", "op": "eq", "value": True}],
          {"scan_on_push": True}, {"scan_on_push": False}),
    _rule("ecr.lifecycle", "ecr_repository", [_exists("lifecycle_policy")], {"lifecycle_policy": {}}, {}),
    _rule("ecr.owner", "ecr_repository", [_exists("tags.Owner")], OWNED, UNOWNED),
    _rule("cache.encrypted", "elasticache_replication_group",
          [{"key": "at_rest_encryption_enabled", "op": "eq", "value": True}],
          {"at_rest_encryption_enabled": True}, {"at_rest_encryption_enabled": False}),
    _rule("cache.owner", "elasticache_replication_group", [_exists("tags.Owner")], OWNED, UNOWNED),
    _rule("lb.deletion_protection", "load_balancer",
          [{"key": 'attributes."deletion_protection.enabled"', "op": "eq", "value": "true"}],
          {"attributes": {"deletion_protection.enabled": "true"}}, {"attributes": {}}),
    _rule("listener.https", "listener", [{"key": "protocol", "op": "in", "value": ["HTTPS", "GENEVE"]}],
          {"protocol": "HTTPS"}, {"protocol": "HTTP"}),
    _rule("listener.forwards", "listener", [FORWARD], {"rules": [{"actions": [{"type": "forward"}]}]},
          {"rules": [{"actions": [{"type": "redirect"}]}]}),
]


def audit(aws, *types: str) -> tuple[Snapshot, dict[tuple[str, str], Finding]]:
    """Collect ``types`` and judge them account-wide: the snapshot and findings by (rule, resource id)."""
    pack = LoadedPack(Pack.model_validate({"pack": "faults", "title": "faults", "rules": RULES}), path="faults.yaml")
    snapshot = collect(aws, only_types=set(types))
    findings = RuleSet([pack]).evaluate(snapshot, baseline="account")
    return snapshot, {(f.rule_id, f.resource["id"]): f for f in findings if f.resource["type"] in types}


def statuses(findings: dict[tuple[str, str], Finding], leave_out: str | None = None) -> dict[tuple[str, str], str]:
    return {k: f.status for k, f in findings.items() if k[1] != leave_out}


def by_status(findings: dict[tuple[str, str], Finding]) -> Counter:
    return Counter(f.status for f in findings.values())


@pytest.fixture
def log_groups(aws):
    logs = boto3.client("logs", region_name=REGION)
    for i in range(1, 6):
        name = f"/app/{i}"
        logs.create_log_group(logGroupName=name, tags={"Owner": "team", "Environment": "production"})
        if i <= 3:
            logs.put_retention_policy(logGroupName=name, retentionInDays=30)
    return [f"arn:aws:logs:{REGION}:123456789012:log-group:/app/{i}" for i in range(1, 6)]


def test_a_log_group_that_vanishes_is_dropped_and_counted(aws, log_groups):
    _, before = audit(aws, "log_group")
    answer(aws, "logs", "ListTagsForResource", log_groups[1], "ResourceNotFoundException", "gone")
    snapshot, after = audit(aws, "log_group")

    assert by_status(before) == {"pass": 8, "fail": 7}
    assert by_status(after) == {"pass": 6, "fail": 6}   # four groups judged, /app/2 not at all
    assert statuses(after) == statuses(before, leave_out="/app/2")
    assert snapshot.vanished == {"log_group": 1} and snapshot.errors == ()
    assert [r.id for r in snapshot.of_type("log_group")] == ["/app/1", "/app/3", "/app/4", "/app/5"]


def test_denied_tags_of_one_log_group_error_only_the_rules_reading_them(aws, log_groups):
    _, before = audit(aws, "log_group")
    answer(aws, "logs", "ListTagsForResource", log_groups[1], "AccessDeniedException", "not authorized")
    snapshot, after = audit(aws, "log_group")

    assert by_status(after) == {"pass": 7, "fail": 6, "error": 2}
    assert statuses(after, leave_out="/app/2") == statuses(before, leave_out="/app/2")
    assert after[("logs.retention", "/app/2")].status == "pass"   # reads no tag
    for rule in ("logs.owner", "logs.production_kms"):   # tags, and the environment they give
        assert after[(rule, "/app/2")].status == "error"
        assert after[(rule, "/app/2")].message == \
            "cannot evaluate: logs:ListTagsForResource AccessDeniedException: not authorized"
    (error,) = snapshot.errors
    assert error.as_dict() == {
        "service": "logs", "operation": "ListTagsForResource", "code": "AccessDeniedException",
        "message": "not authorized", "category": "denied", "resource_types": ["log_group"],
        "resource": {"type": "log_group", "id": "/app/2"}, "attributes": ["tags"]}
    assert snapshot.failed_types() == {}
    assert aws.stats.errors[("logs", "ListTagsForResource", "AccessDeniedException", "denied")] == 1


def test_a_replication_group_being_modified_leaves_only_its_tags_unknown(aws):
    cache = boto3.client("elasticache", region_name=REGION)
    arns = [cache.create_replication_group(
        ReplicationGroupId=name, ReplicationGroupDescription=name, Engine="redis", CacheNodeType="cache.t4g.micro",
        AtRestEncryptionEnabled=True, Tags=[{"Key": "Owner", "Value": "team"}])["ReplicationGroup"]["ARN"]
        for name in ("rg-a", "rg-b")]
    _, before = audit(aws, "elasticache_replication_group")
    answer(aws, "elasticache", "ListTagsForResource", arns[1], "InvalidReplicationGroupState",
           "Cluster not in available state to perform tagging operations.")
    snapshot, after = audit(aws, "elasticache_replication_group")

    assert by_status(before) == {"pass": 4}
    assert by_status(after) == {"pass": 3, "error": 1}
    assert statuses(after, leave_out="rg-b") == statuses(before, leave_out="rg-b")
    assert after[("cache.encrypted", "rg-b")].status == "pass"
    assert after[("cache.owner", "rg-b")].message.startswith(
        "cannot evaluate: elasticache:ListTagsForResource InvalidReplicationGroupState: Cluster not in available")
    assert [(e.resource_id, e.category) for e in snapshot.errors] == [("rg-b", "other")]


@pytest.fixture
def load_balancers(aws):
    """An internet-facing ALB with an HTTP listener and one forwarding rule."""
    ec2 = boto3.client("ec2", region_name=REGION)
    elbv2 = boto3.client("elbv2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    alb = elbv2.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
    forward = [{"Type": "forward", "TargetGroupArn": tg}]
    listener = elbv2.create_listener(LoadBalancerArn=alb, Protocol="HTTP", Port=80, DefaultActions=forward)
    elbv2.create_rule(ListenerArn=listener["Listeners"][0]["ListenerArn"], Priority=10, Actions=forward,
                      Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}])
    return elbv2, vpc, subnets


def test_a_gateway_load_balancer_beside_an_alb_is_a_normal_answer(aws, load_balancers):
    elbv2, vpc, subnets = load_balancers
    _, before = audit(aws, "load_balancer", "listener")
    gwlb = elbv2.create_load_balancer(Name="inspect", Type="gateway", Subnets=subnets[:1])["LoadBalancers"][0]
    geneve = elbv2.create_target_group(Name="appliances", Protocol="GENEVE", Port=6081, VpcId=vpc)["TargetGroups"][0]
    listener = elbv2.create_listener(LoadBalancerArn=gwlb["LoadBalancerArn"], DefaultActions=[
        {"Type": "forward", "TargetGroupArn": geneve["TargetGroupArn"]}])["Listeners"][0]["ListenerArn"]
    answer(aws, "elbv2", "DescribeRules", listener, "ListenerNotFound", "One or more listeners not found")   # real AWS
    snapshot, after = audit(aws, "load_balancer", "listener")

    assert by_status(before) == {"pass": 1, "fail": 2}   # HTTP listener, no deletion protection
    gateway = (listener, gwlb["LoadBalancerArn"])
    assert {k: s for k, s in statuses(after).items() if k[1] not in gateway} == statuses(before)
    assert {k: s for k, s in statuses(after).items() if k[1] in gateway} == {
        ("lb.deletion_protection", gwlb["LoadBalancerArn"]): "fail",
        ("listener.https", listener): "fail", ("listener.forwards", listener): "pass"}
    assert snapshot.errors == () and snapshot.get("listener", listener).attributes["rules"] == []
    assert aws.stats.calls[("elbv2", "DescribeRules")] == 2   # the ALB's listener, once per audit


def test_denied_image_sizes_leave_every_ecr_rule_judged(aws):
    ecr = boto3.client("ecr", region_name=REGION)
    for name in ("api", "worker"):
        ecr.create_repository(repositoryName=name, imageScanningConfiguration={"scanOnPush": True},
                              tags=[{"Key": "Owner", "Value": "team"}])
        ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps({"rules": [{
            "rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                             "countUnit": "days", "countNumber": 7}, "action": {"type": "expire"}}]}))
    _, before = audit(aws, "ecr_repository")
    answer(aws, "ecr", "DescribeImages", '"worker"', "AccessDeniedException", "not authorized to ecr:DescribeImages")
    snapshot, after = audit(aws, "ecr_repository")

    assert by_status(before) == by_status(after) == {"pass": 6}
    assert statuses(after) == statuses(before)
    worker = snapshot.get("ecr_repository", "worker")
    assert worker.attributes["image_bytes"] is None and set(worker.unknown) == {"image_count", "image_bytes"}
    assert snapshot.get("ecr_repository", "api").attributes["image_bytes"] == 0
    assert [(e.operation, e.resource_id, e.attributes, e.category) for e in snapshot.errors] == [
        ("DescribeImages", "worker", ("image_count", "image_bytes"), "denied")]


def test_an_ecr_repository_deleted_during_the_walk_is_dropped(aws):
    ecr = boto3.client("ecr", region_name=REGION)
    for name in ("api", "worker"):
        ecr.create_repository(repositoryName=name)
    answer(aws, "ecr", "GetLifecyclePolicy", '"worker"', "RepositoryNotFoundException", "gone")
    snapshot, after = audit(aws, "ecr_repository")
    assert {k[1] for k in after} == {"api"} and snapshot.vanished == {"ecr_repository": 1}
    assert snapshot.errors == ()


@pytest.mark.e2e   # moto's server (emulated_account)
def test_denied_image_sizes_in_a_whole_audit_change_only_the_cost_estimate():
    """mattilda production, every DescribeImages denied: the same findings but the cost rules' (the
    estimate incomplete, the budget unknown), the audit complete (exit code untouched), the error listed, and each
    repository's storage line unpriced instead of dropped."""
    from auditor.audit import AuditOptions, run_audit
    from auditor.emulated.demo import emulated_account

    results = {}
    for denied in (False, True):
        with emulated_account("mattilda", "production") as aws:
            if denied:
                answer(aws, "ecr", "DescribeImages", "repositoryName", "AccessDeniedException", "not authorized")
            results[denied] = run_audit(AuditOptions(architecture="mattilda", environment="production"), aws=aws)
    clean, faulty = results[False], results[True]

    def judged(result):   # resource ids differ between builds: names say which resource it is
        return {(f.rule_id, f.resource["type"], f.resource["name"] or f.resource["id"]): f.status for f in result.findings}
    before, after = judged(clean), judged(faulty)
    changed = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    # the estimate is a lower bound now: the info rule says so, and the budget under its limit cannot be told
    assert changed == {("mattilda.cost.estimate_complete", "deployment", "mattilda production"): ("pass", "fail"),
                       ("mattilda.cost.budget", "deployment", "mattilda production"): ("pass", None),
                       ("mattilda.cost.budget", "deployment", "(none in mattilda/production)"): (None, "skip")}
    assert clean.complete and faulty.complete and clean.errors == ()
    repositories = {r.id for r in faulty.snapshot.of_type("ecr_repository")}
    assert repositories and {(e.operation, e.resource_id, e.category) for e in faulty.errors} == \
        {("DescribeImages", r, "denied") for r in repositories}
    (cost,) = faulty.costs
    storage = [line for line in cost.estimate.lines if line.item == "image storage"]
    assert {line.resource["id"] for line in storage} == repositories
    assert all(line.status == "unpriced" and "DescribeImages AccessDeniedException" in line.note for line in storage)
