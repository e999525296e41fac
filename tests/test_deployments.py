"""Deployments by relation: what a pack's tagged owners own or use belongs to it, per environment;
rules judge each deployment and say so when they find nothing."""
from __future__ import annotations

from dataclasses import replace

import pytest

from auditor.coverage import applied_to_nothing, rule_coverage
from auditor.deployments import secret_matches
from auditor.model import SKIP_NOTHING, SKIP_OUT_OF_SCOPE, CollectorError, Resource, Snapshot
from auditor.relations import derive
from auditor.rules.engine import RuleSet
from auditor.rules.loader import LoadedPack
from auditor.rules.schema import Pack

ACCOUNT, REGION = "123456789012", "eu-west-1"
TAGS = {"mattilda": "Project", "billing": "Project"}


def res(rtype, rid, project=None, env=None, name=None, arn=None, **attributes):
    tags = {"Project": project} if project else {}
    return Resource(type=rtype, id=rid, account=ACCOUNT, region=REGION, name=name or rid, arn=arn, tags=tags,
                    environment=env, attributes=attributes)


def app(project, env, *, tagged_children=False, secret_name=None, vpc=None):
    """One application as a real team tags it: owners carry Project/Environment, children do not."""
    p = f"{project}-{env}"
    t = {"project": project, "env": env} if tagged_children else {}
    secret = secret_name or f"{project}/database-url"
    vpc = vpc or f"vpc-{p}"
    return [
        res("vpc", vpc, project, env),
        res("subnet", f"subnet-{p}", vpc_id=vpc, availability_zone="eu-west-1a", **t),
        res("security_group", f"sg-alb-{p}", vpc_id=vpc, ingress=[], egress=[], **t),
        res("security_group", f"sg-ecs-{p}", vpc_id=vpc, ingress=[], egress=[], **t),
        res("security_group", f"sg-db-{p}", vpc_id=vpc, ingress=[], egress=[], **t),
        res("load_balancer", f"arn:lb/{p}", project, env, name=f"{p}-alb", subnet_ids=[f"subnet-{p}"],
            security_group_ids=[f"sg-alb-{p}"], arn_suffix=f"app/{p}/1", scheme="internet-facing"),
        res("listener", f"arn:listener/{p}/80", load_balancer_arn=f"arn:lb/{p}", port=80, protocol="HTTP",
            default_actions=[{"type": "forward", "target_group_arns": [f"arn:tg/{p}"]}], rules=[], **t),
        res("target_group", f"arn:tg/{p}", name=f"{p}-tg", load_balancer_arns=[f"arn:lb/{p}"], port=8000, **t),
        res("ecs_cluster", f"{p}-cluster", project, env, cluster_name=f"{p}-cluster"),
        res("ecs_service", f"arn:svc/{p}", project, env, name=f"{p}-api", cluster_name=f"{p}-cluster",
            service_name=f"{p}-api", task_definition_arn=f"arn:td/{p}:1",
            load_balancers=[{"target_group_arn": f"arn:tg/{p}"}],
            network={"subnet_ids": [f"subnet-{p}"], "security_group_ids": [f"sg-ecs-{p}"]}),
        res("ecs_task_definition", f"arn:td/{p}:1", containers=[{
            "name": "api", "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{project}-backend:1",
            "log_configuration": {"driver": "awslogs", "options": {"awslogs-group": f"/ecs/{p}"}},
            "secrets": [{"name": "DATABASE_URL",
                         "value_from": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}-AbCdEf"}]}], **t),
        res("secret", secret, arn=f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}-AbCdEf", **t),
        res("log_group", f"/ecs/{p}", **t),
        res("ecr_repository", f"{project}-backend", project),
        res("rds_instance", f"{p}-db", project, env, vpc_security_group_ids=[f"sg-db-{p}"], engine="postgres"),
        res("log_group", f"/aws/rds/instance/{p}-db/postgresql", **t),
        res("cloudwatch_alarm", f"{p}-cpu", dimensions={"ClusterName": f"{p}-cluster", "ServiceName": f"{p}-api"}),
    ]


def selector_pack(name="mattilda", rules=(), budget=None):
    pack = Pack.model_validate({
        "pack": name, "title": name, "document": "doc.txt",
        "selector": [{"key": "tags.Project", "op": "eq", "value": {"param": "project"}}],
        "params": {"project": {"default": name}}, "rules": list(rules), **({"budget": budget} if budget else {})})
    return LoadedPack(pack, path=f"{name}.yaml")  # type: ignore[arg-type]


def baseline_pack(rules):
    return LoadedPack(Pack.model_validate({"pack": "baseline-x", "title": "b", "rules": rules}),
                      path="baseline.yaml")  # type: ignore[arg-type]


def rule(rid, resource, assert_=None, scope=(), **extra):
    return {"id": rid, "title": rid, "severity": "high", "resource": resource, "scope": list(scope),
            "assert": assert_ or [], "doc": {"file": "doc.txt", "quote": "q"}, "remediation": "fix",
            "tests": [{"name": "p", "expect": "pass", "resource": {}}, {"name": "f", "expect": "fail", "resources": []}],
            **extra}


def snapshot(*groups, errors=()):
    return Snapshot(ACCOUNT, REGION, derive([r for g in groups for r in g]), errors)


def deployments(snap, *packs):
    rs = RuleSet(list(packs) or [selector_pack()])
    return {d.key: d for d in rs.deployments(snap)}


def ids(deployment, rtype):
    return sorted(r.id for r in deployment.of_type(rtype))


def test_untagged_children_belong_to_the_deployment_that_owns_them():
    snap = snapshot(app("mattilda", "production"))
    [d] = deployments(snap).values()
    assert d.key == "mattilda/production"
    assert ids(d, "listener") == ["arn:listener/mattilda-production/80"]
    assert ids(d, "target_group") == ["arn:tg/mattilda-production"]
    assert ids(d, "security_group") == ["sg-alb-mattilda-production", "sg-db-mattilda-production",
                                        "sg-ecs-mattilda-production"]
    assert ids(d, "secret") == ["mattilda/database-url"]
    assert ids(d, "log_group") == ["/aws/rds/instance/mattilda-production-db/postgresql", "/ecs/mattilda-production"]
    assert ids(d, "ecs_task_definition") == ["arn:td/mattilda-production:1"]
    assert ids(d, "cloudwatch_alarm") == ["mattilda-production-cpu"]
    assert ids(d, "ecr_repository") == ["mattilda-backend"]
    assert d.seeds >= {("load_balancer", "arn:lb/mattilda-production"), ("vpc", "vpc-mattilda-production")}


def test_environments_and_neighbours_stay_apart():
    snap = snapshot(app("mattilda", "production"), app("mattilda", "staging"), app("billing", "production"))
    found = deployments(snap)
    assert set(found) == {"mattilda/production", "mattilda/staging"}
    prod = found["mattilda/production"]
    assert not any("billing" in r.id or "staging" in r.id for r in prod.resources())
    assert ("secret", "billing/database-url") in prod.foreign
    assert ("listener", "arn:listener/billing-production/80") in prod.foreign


def test_a_shared_vpc_does_not_pull_in_the_neighbours_tagged_groups():
    mine = app("mattilda", "production", vpc="vpc-shared")
    theirs = [r for r in app("billing", "production", vpc="vpc-shared", tagged_children=True) if r.type != "vpc"]
    theirs = [Resource(**{**r.__dict__, "tags": {"Project": "billing"}}) if r.type == "security_group" else r
              for r in theirs]
    prod = deployments(snapshot(mine, theirs))["mattilda/production"]
    assert not [r.id for r in prod.of_type("security_group") if "billing" in r.id]


def test_a_vpc_holds_its_untagged_endpoints_which_bring_their_groups_and_alarms():
    p = "mattilda-production"
    endpoint = [res("vpc_endpoint", "vpce-ecr", vpc_id=f"vpc-{p}", security_group_ids=["sg-vpce"], subnet_ids=[]),
                res("security_group", "sg-vpce", ingress=[], egress=[]),
                res("cloudwatch_alarm", "vpce-bytes", dimensions={"VPC Endpoint Id": "vpce-ecr"})]
    theirs = [res("vpc_endpoint", "vpce-billing", "billing", vpc_id=f"vpc-{p}")]
    d = deployments(snapshot(app("mattilda", "production"), endpoint, theirs))["mattilda/production"]
    assert ids(d, "vpc_endpoint") == ["vpce-ecr"]
    assert "sg-vpce" in ids(d, "security_group") and "vpce-bytes" in ids(d, "cloudwatch_alarm")


def test_selected_resources_without_environment_join_the_deployment_that_uses_them():
    group = app("mattilda", "production")
    group = [Resource(**{**r.__dict__, "tags": {"Project": "mattilda"}}) if r.type == "secret" else r for r in group]
    found = deployments(snapshot(group))
    assert set(found) == {"mattilda/production"}   # no "(no environment)" deployment for the secret
    assert ids(found["mattilda/production"], "secret") == ["mattilda/database-url"]


@pytest.mark.parametrize("value_from,matches", [
    ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-AbCdEf", True),
    ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-AbCdEf:password::", True),
    ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db", True),          # partial ARN
    ("app/db", True), ("app/db:password::", True),
    ("app/db-old", False), ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-old-AbCdEf", False),
    ("arn:aws:ssm:eu-west-1:123456789012:parameter/app/db", False),
])
def test_secret_references_in_every_form_aws_accepts(value_from, matches):
    secret = res("secret", "app/db", arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-AbCdEf")
    assert secret_matches(value_from, secret) is matches


# ---------------------------------------------------------------------------------- rules

HTTP_REDIRECTS = rule("mattilda.alb.http_redirects", "listener", scope=[{"key": "protocol", "op": "eq", "value": "HTTP"}],
                      assert_=[{"key": "default_actions", "all": [{"key": "type", "op": "eq", "value": "redirect"}]}])


def test_an_untagged_listener_is_judged():
    snap = snapshot(app("mattilda", "production"))
    [f] = RuleSet([selector_pack(rules=[HTTP_REDIRECTS])]).evaluate(snap)
    assert (f.status, f.resource["id"], f.deployment) == ("fail", "arn:listener/mattilda-production/80",
                                                          "mattilda/production")


def test_a_rule_that_finds_nothing_says_so_per_deployment():
    group = [r for r in app("mattilda", "production") if r.type != "listener"]
    [f] = RuleSet([selector_pack(rules=[HTTP_REDIRECTS])]).evaluate(snapshot(group))
    assert (f.status, f.skip, f.deployment) == ("skip", SKIP_NOTHING, "mattilda/production")
    assert f.resource["id"] == "(none in mattilda/production)"
    assert "no such listener" in f.actual and 'protocol == "HTTP"' in f.expected
    assert applied_to_nothing([f], {"mattilda"}) == [f]
    [cov] = rule_coverage([f])
    assert (cov.resources, cov.nothing_in) == (0, ("mattilda/production",))


def test_absence_is_judged_in_each_environment():
    exists = rule("mattilda.rds.exists", "rds_instance", when_absent="fail")
    staging = [r for r in app("mattilda", "staging")]
    production = [r for r in app("mattilda", "production") if r.type != "rds_instance"]
    findings = RuleSet([selector_pack(rules=[exists])]).evaluate(snapshot(staging, production))
    by_deployment = {f.deployment: f for f in findings}
    assert by_deployment["mattilda/staging"].status == "pass"
    missing = by_deployment["mattilda/production"]
    assert (missing.status, missing.resource["id"]) == ("fail", "(none in mattilda/production)")


def test_environments_a_rule_scopes_out_are_not_asked():
    multi_az = rule("mattilda.rds.multi_az", "rds_instance", when_absent="fail",
                    scope=[{"key": "environment", "op": "eq", "value": "production"}],
                    assert_=[{"key": "engine", "op": "eq", "value": "postgres"}])
    [f] = RuleSet([selector_pack(rules=[multi_az])]).evaluate(snapshot(app("mattilda", "staging")))
    assert (f.status, f.skip, f.deployment) == ("skip", SKIP_OUT_OF_SCOPE, "mattilda/staging")
    assert applied_to_nothing([f]) == []


NAMED_SECRET = rule("mattilda.secrets.database_url", "secret", when_absent="fail", pack_selector=False,
                    scope=[{"key": "name", "op": "regex", "value": "(^|/)database-url$"}])


def test_a_name_matched_rule_prefers_members_and_never_accepts_another_apps_resource():
    mine = [r for r in app("mattilda", "production") if r.type != "secret"]
    snap = snapshot(mine, app("billing", "production"))
    [f] = RuleSet([selector_pack(rules=[NAMED_SECRET])]).evaluate(snap)
    assert f.status == "fail"
    assert "only another application's secret matches: billing/database-url" in f.actual


def test_a_name_matched_resource_that_belongs_to_nobody_still_counts():
    orphan = res("secret", "mattilda/database-url")
    mine = [r for r in app("mattilda", "production", secret_name="other/name") if r.type != "secret"]
    [f] = RuleSet([selector_pack(rules=[NAMED_SECRET])]).evaluate(snapshot(mine, [orphan]))
    assert (f.status, f.resource["id"]) == ("pass", "mattilda/database-url")


def test_a_name_matched_resource_another_deployment_holds_is_named_with_its_holder():
    """The documents name a secret once for every environment: staging's service uses it,
    production's has stopped (a plain environment variable), so production has none of its own."""
    staging = app("mattilda", "staging")
    production = [r for r in app("mattilda", "production") if r.type != "secret"]
    production = [r if r.type != "ecs_task_definition" else
                  replace(r, attributes={**r.attributes, "containers": [{**r.attributes["containers"][0], "secrets": []}]})
                  for r in production]
    findings = RuleSet([selector_pack(rules=[NAMED_SECRET])]).evaluate(snapshot(staging, production))
    by_deployment = {f.deployment: f for f in findings}
    assert by_deployment["mattilda/staging"].status == "pass"
    assert by_deployment["mattilda/production"].status == "fail"
    assert by_deployment["mattilda/production"].actual == \
        "only another deployment's secret matches: mattilda/database-url (mattilda/staging)"


def test_the_baseline_names_a_shared_resource_with_its_own_environment():
    """An ECR repository both environments' images come from, tagged staging, is judged once, as staging's."""
    scan = rule("baseline.ecr.scan", "ecr_repository", assert_=[{"key": "name", "op": "exists", "value": True}])
    repo = res("ecr_repository", "mattilda-backend", "mattilda", "staging")
    envs = [r for e in ("production", "staging") for r in app("mattilda", e) if r.type != "ecr_repository"]
    [f] = RuleSet([selector_pack(), baseline_pack([scan])]).evaluate(snapshot(envs, [repo]))
    assert (f.resource["id"], f.deployment) == ("mattilda-backend", "mattilda/staging")


def test_without_a_deployment_every_pack_rule_reports():
    findings = RuleSet([selector_pack(rules=[HTTP_REDIRECTS, NAMED_SECRET])]).evaluate(snapshot(app("billing", "x")))
    assert {(f.rule_id, f.status) for f in findings} == {("mattilda.alb.http_redirects", "skip"),
                                                          ("mattilda.secrets.database_url", "fail")}
    assert all("no mattilda deployment" in f.expected for f in findings)


def test_an_unknown_membership_is_an_error_not_an_absence():
    err = CollectorError("ecs", "DescribeTaskDefinition", "AccessDenied", "no", ("ecs_task_definition",))
    group = [r for r in app("mattilda", "production") if r.type not in ("ecs_task_definition", "secret")]
    findings = RuleSet([selector_pack(rules=[NAMED_SECRET])]).evaluate(snapshot(group, errors=[err]))
    # the repository, tagged Project only and no longer reached through an image, stands alone
    assert {f.deployment for f in findings} == {"mattilda/production", "mattilda"}
    assert all(f.status == "error" and "ecs_task_definition" in f.message for f in findings)




def test_the_baseline_judges_the_audited_deployments_unless_asked_for_the_account():
    no_ingress = rule("baseline.sg.closed", "security_group",
                      assert_=[{"key": "ingress", "op": "length_eq", "value": 0}])
    snap = snapshot(app("mattilda", "production"), app("billing", "production"))
    packs = [selector_pack(), baseline_pack([no_ingress])]
    scoped = RuleSet(packs).evaluate(snap)
    assert {f.resource["id"] for f in scoped} == {f"sg-{k}-mattilda-production" for k in ("alb", "ecs", "db")}
    assert {f.deployment for f in scoped} == {"mattilda/production"}
    everything = RuleSet(packs).evaluate(snap, baseline="account")
    assert len(everything) == 6
    alone = RuleSet([baseline_pack([no_ingress])]).evaluate(snap)   # no pack: the whole account
    assert len(alone) == 6


def test_budget_rows_on_the_derived_deployment_resource():
    from auditor.cost.deployment import DeploymentCost, deployment_resources
    from auditor.cost.estimate import Estimate, Line
    from auditor.rules.schema import Budget

    budget = Budget.model_validate({"tolerance": 0.25, "environments": {"production": {
        "monthly_usd": 50, "quote": "Total ~$50", "rows": [
            {"item": "ECS Fargate", "services": ["fargate"], "monthly_usd": 30, "quote": "Fargate ~$30"},
            {"item": "RDS", "services": ["rds"], "monthly_usd": 20, "quote": "RDS ~$20"}]}}})
    from auditor.cost.deployment import _budget
    lines = tuple(Line(service=s, resource={"type": "x", "id": s, "name": s}, item="i", quantity=1, unit="u",
                       price_key="k", unit_price=v, monthly_usd=v, status="estimated", formula="f")
                  for s, v in (("fargate", 45.0), ("rds", 20.0), ("nat_gateway", 32.85)))
    cost = DeploymentCost("mattilda", "production", "doc.txt", Estimate(lines), _budget(budget, "production"),
                          (), key="mattilda/production")
    [r] = deployment_resources([cost], Snapshot(ACCOUNT, REGION, []))
    a = r.attributes
    assert (r.type, r.id, r.environment) == ("deployment", "mattilda/production", "production")
    assert a["itemized_usd"] == 65.0 and a["budget_verdict"] == "over"   # a row above its limit
    assert a["over_budget"] == a["rows_over"] == [
        "ECS Fargate: $45.00/month estimated, $30.00 documented (limit $37.50)"]
    assert [(row["item"], row["within"]) for row in a["rows"]] == [("ECS Fargate", False), ("RDS", True)]
    assert a["unitemized"] == ["nat_gateway $32.85/month"]
