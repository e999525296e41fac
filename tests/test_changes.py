"""Change drift (auditor.changes): normalized snapshot states, their diff, and where it is reported."""
from __future__ import annotations

import json
import logging

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from auditor.audit import AuditOptions, load_ruleset, run_audit
from auditor.aws import ApiStats, AwsContext
from auditor.changes import (
    AttributeChange,
    ResourceChange,
    carry_forward,
    collected_types,
    compare,
    counts,
    diff,
    snapshot_state,
)
from auditor.collect import collect, resource_types, volatile_keys
from auditor.daemon.metrics import AuditMetrics, AuditRecord, MetricsStore, make_registry
from auditor.emulated import drifts as drift_registry
from auditor.emulated.demo import REGION, deploy, fake_session
from auditor.model import CollectorError, Resource, Snapshot
from auditor.package_data import package_path
from auditor.report import render
from auditor.results import AuditResult

SCHEMA = json.loads(package_path("schemas", "report.schema.json").read_text())
ACCOUNT = "123456789012"
SSH_RULE = {"protocol": "tcp", "from_port": 22, "to_port": 22, "source_kind": "cidr", "cidr": "0.0.0.0/0",
            "group_id": None, "group_owner_id": None, "prefix_list_id": None, "description": None}
HTTPS_RULE = {**SSH_RULE, "from_port": 443, "to_port": 443, "description": "HTTPS"}
ALL_OUT = {**SSH_RULE, "protocol": "-1", "from_port": None, "to_port": None}


def res(rtype: str, rid: str, name: str | None = None, tags: dict | None = None, **attributes) -> Resource:
    return Resource(type=rtype, id=rid, account=ACCOUNT, region=REGION, arn=f"arn:aws:x:::{rtype}/{rid}",
                    name=name or rid, tags=tags or {}, attributes=attributes)


def sg(**overrides) -> Resource:
    attrs = {"group_name": "web", "vpc_id": "vpc-1", "description": "web tier",
             "ingress": [HTTPS_RULE], "egress": [ALL_OUT]}
    attrs.update(overrides)
    return res("security_group", "sg-1", "web-sg", {"Environment": "prod"}, **attrs)


def db(**overrides) -> Resource:
    attrs = {"engine": "postgres", "instance_class": "db.t3.micro", "multi_az": True, "status": "available",
             "vpc_security_group_ids": ["sg-2", "sg-3"], "parameters": {"max_connections": "100"},
             "db_subnet_group": {"name": "g", "vpc_id": "vpc-1", "subnet_ids": ["subnet-a", "subnet-b"]}}
    attrs.update(overrides)
    return res("rds_instance", "db-1", **attrs)


def service(**overrides) -> Resource:
    attrs = {"desired_count": 2, "running_count": 2, "pending_count": 0, "status": "ACTIVE",
             "deployment_configuration": {"minimum_healthy_percent": 100, "maximum_percent": 200,
                                          "circuit_breaker": {"enable": True, "rollback": True}}}
    attrs.update(overrides)
    return res("ecs_service", "arn:svc/api", "api", **attrs)


COLLECTORS = {"ec2.security_groups": 0.1, "rds.rds_instances": 0.1, "ecs.services": 0.1,
              "ecs.task_definitions": 0.1, "ec2.route_tables": 0.1}


def state(*resources: Resource, errors=(), collectors=COLLECTORS, at="2024-05-01T10:00:00+00:00") -> dict:
    return snapshot_state(Snapshot(ACCOUNT, REGION, resources, errors, collected_at=at,
                                   collector_seconds=collectors))


def paths(change: ResourceChange) -> list[str]:
    return [a.path for a in change.changes]


# --- the normalized state -------------------------------------------------------------------------
def test_state_is_plain_json_without_volatile_keys_or_relations():
    r = db()
    object.__setattr__(r, "relations", {"security_groups": ["sg-2"]})
    s = state(r, service())
    assert json.loads(json.dumps(s)) == s   # the state store keeps it as JSON: nothing is lost
    assert s["version"] == 1 and s["account"] == ACCOUNT and s["region"] == REGION
    assert s["collected_at"] == "2024-05-01T10:00:00+00:00"
    assert list(s["resources"]) == ["ecs_service/arn:svc/api", "rds_instance/db-1"]
    rds = s["resources"]["rds_instance/db-1"]
    assert set(rds) == {"type", "id", "name", "arn", "tags", "attributes"}
    assert "status" not in rds["attributes"] and "security_groups" not in rds["attributes"]
    assert rds["attributes"]["db_subnet_group"]["subnet_ids"] == ["subnet-a", "subnet-b"]
    ecs = s["resources"]["ecs_service/arn:svc/api"]["attributes"]
    assert "running_count" not in ecs and "pending_count" not in ecs
    assert ecs["status"] == "ACTIVE"   # only the VOLATILE of the module producing the type
    assert s["collected_types"] == sorted({"security_group", "rds_instance", "ecs_service",
                                           "ecs_task_definition", "route_table"})


def test_network_interfaces_come_and_go_with_tasks_without_being_changes():
    eni = res("network_interface", "eni-1", requester_id="amazon-elb", groups=["sg-2"])
    replaced = res("network_interface", "eni-2", requester_id="amazon-elb", groups=["sg-2"])
    before, after = state(db(), eni), state(db(), replaced)
    assert list(before["resources"]) == ["rds_instance/db-1"]
    assert "network_interface" not in (before["collected_types"] or [])
    assert diff(before, after) == []


def test_volatile_keys_come_from_the_resource_type_descriptions():
    everything = volatile_keys()
    described = resource_types()
    assert {k for t in described.values() for k in t.volatile} == everything
    for name, rtype in described.items():
        assert volatile_keys(name) == frozenset(rtype.volatile), name
    assert {"running_count", "running_tasks_count", "available_ip_address_count", "stored_bytes",
            "last_accessed", "state_value"} <= everything
    assert volatile_keys("rds_instance") == {"status"}
    assert "status" not in volatile_keys("ecs_service")
    assert volatile_keys("no_such_type") == everything   # unknown type: ignore every volatile name


# --- diff -----------------------------------------------------------------------------------------
def test_first_audit_and_unchanged_state_give_nothing():
    s = state(sg(), db(), service())
    assert diff(None, s) == []
    assert diff(s, state(sg(), db(), service())) == []
    # only volatile attributes differ: nothing either
    assert diff(s, state(sg(), db(status="modifying"), service(running_count=0, pending_count=2))) == []


def test_added_removed_and_changed_sorted():
    before = state(sg(), db(), res("route_table", "rtb-1", routes=[]))
    after = state(sg(), db(instance_class="db.m5.large"), service())
    changes = diff(before, after)
    assert [(c.kind, c.type, c.id) for c in changes] == [
        ("added", "ecs_service", "arn:svc/api"),
        ("changed", "rds_instance", "db-1"),
        ("removed", "route_table", "rtb-1")]
    added, changed, removed = changes
    assert added.name == "api" and added.changes == () and removed.changes == ()
    assert changed.changes == (AttributeChange("instance_class", "db.t3.micro", "db.m5.large"),)
    assert counts(changes) == {"added": 1, "removed": 1, "changed": 1}
    assert changed.as_dict() == {"kind": "changed", "type": "rds_instance", "id": "db-1", "name": "db-1",
                                 "changes": [{"path": "instance_class", "before": "db.t3.micro",
                                              "after": "db.m5.large"}]}
    assert diff(before, after) == changes   # deterministic


def test_security_group_rule_added_is_one_item_and_order_is_ignored():
    before = state(sg(ingress=[HTTPS_RULE]))
    [change] = diff(before, state(sg(ingress=[SSH_RULE, HTTPS_RULE])))
    assert change.kind == "changed" and change.name == "web-sg"
    assert change.changes == (AttributeChange("ingress[+]", None, SSH_RULE),)
    assert change.changes[0].describe() == ('ingress[+]: {"cidr": "0.0.0.0/0", "from_port": 22, "protocol": "tcp", '
                                            '"source_kind": "cidr", "to_port": 22}')   # null fields left out

    [change] = diff(state(sg(ingress=[SSH_RULE, HTTPS_RULE])), before)
    assert change.changes == (AttributeChange("ingress[-]", SSH_RULE, None),)

    # the same rules in another order, the same subnets in another order: no change
    assert diff(state(sg(ingress=[SSH_RULE, HTTPS_RULE])), state(sg(ingress=[HTTPS_RULE, SSH_RULE]))) == []
    assert diff(state(db()), state(db(db_subnet_group={"name": "g", "vpc_id": "vpc-1",
                                                       "subnet_ids": ["subnet-b", "subnet-a"]}))) == []
    # a rule whose description changed: the old item out, the new one in
    edited = {**HTTPS_RULE, "description": "HTTPS from anywhere"}
    [change] = diff(before, state(sg(ingress=[edited])))
    assert change.changes == (AttributeChange("ingress[-]", HTTPS_RULE, None),
                              AttributeChange("ingress[+]", None, edited))
    # duplicates count: lists are multisets
    [change] = diff(state(db(vpc_security_group_ids=["sg-2"])), state(db(vpc_security_group_ids=["sg-2", "sg-2"])))
    assert change.changes == (AttributeChange("vpc_security_group_ids[+]", None, "sg-2"),)


def test_nested_dicts_tags_and_identity_fields_by_dotted_path():
    before = state(service(), db())
    after_service = service(deployment_configuration={"minimum_healthy_percent": 100, "maximum_percent": 200,
                                                      "circuit_breaker": {"enable": False, "rollback": True}})
    after_db = Resource(**{**db().__dict__, "name": "db-renamed", "tags": {"Owner": "team-a"},
                           "attributes": {**db().attributes, "parameters": {"max_connections": "200",
                                                                            "work_mem": "64MB"}}})
    changes = {c.type: c for c in diff(before, state(after_service, after_db))}
    assert changes["ecs_service"].changes == (
        AttributeChange("deployment_configuration.circuit_breaker.enable", True, False),)
    assert changes["rds_instance"].name == "db-renamed"
    assert changes["rds_instance"].changes == (
        AttributeChange("name", "db-1", "db-renamed"),
        AttributeChange("tags.Owner", None, "team-a"),
        AttributeChange("parameters.max_connections", "100", "200"),
        AttributeChange("parameters.work_mem", None, "64MB"))
    # a dict that appears or disappears is one value
    [change] = diff(before, state(service(deployment_configuration=None), db()))
    assert paths(change) == ["deployment_configuration"] and change.changes[0].after is None


def test_records_with_an_identity_are_matched_item_by_item():
    route = {"destination": "0.0.0.0/0", "target_type": "nat_gateway", "target_id": "nat-1", "state": "active"}
    local = {"destination": "10.0.0.0/16", "target_type": "local", "target_id": "local", "state": "active"}
    before = state(res("route_table", "rtb-1", routes=[local, route]))
    igw = {**route, "target_type": "internet_gateway", "target_id": "igw-1"}
    [change] = diff(before, state(res("route_table", "rtb-1", routes=[igw, local])))
    assert change.changes == (AttributeChange("routes[0.0.0.0/0].target_id", "nat-1", "igw-1"),
                              AttributeChange("routes[0.0.0.0/0].target_type", "nat_gateway", "internet_gateway"))
    [change] = diff(before, state(res("route_table", "rtb-1", routes=[local])))
    assert change.changes == (AttributeChange("routes[-]", route, None),)


def test_ordered_lists_are_one_value():
    def td(command):
        return res("ecs_task_definition", "arn:td/api:1", "api:1", family="api", revision=1,
                   containers=[{"name": "api", "image": "x", "health_check": {"command": command}}])
    [change] = diff(state(td(["CMD-SHELL", "curl -f /health"])), state(td(["curl -f /health", "CMD-SHELL"])))
    assert change.changes == (AttributeChange("containers[api].health_check.command",
                                              ["CMD-SHELL", "curl -f /health"], ["curl -f /health", "CMD-SHELL"]),)


def test_a_new_task_definition_revision_carries_its_differences():
    def td(revision, image, env):
        return res("ecs_task_definition", f"arn:td/api:{revision}", f"api:{revision}", family="api",
                   revision=revision, cpu=256,
                   containers=[{"name": "api", "image": image, "environment_names": env}])
    changes = diff(state(td(1, "ecr/api:1", ["A"])), state(td(2, "docker.io/api:latest", ["A", "B"])))
    assert [(c.kind, c.name) for c in changes] == [("removed", "api:1"), ("added", "api:2")]
    assert changes[1].changes == (
        AttributeChange("containers[api].environment_names[+]", None, "B"),
        AttributeChange("containers[api].image", "ecr/api:1", "docker.io/api:latest"),
        AttributeChange("revision", 1, 2))
    assert changes[0].changes == ()


def test_only_types_collected_in_both_audits_are_compared():
    before = state(sg(), db())
    # the RDS call failed this time: its instance is unknown, not removed
    failed = CollectorError("rds", "DescribeDBInstances", "AccessDenied", "no", ("rds_instance",))
    assert diff(before, state(sg(), errors=[failed])) == []
    # a collector that did not run before (new rules need ECS): its resources are not "added"
    narrow = state(sg(), db(), collectors={"ec2.security_groups": 0.1, "rds.rds_instances": 0.1})
    assert diff(narrow, state(sg(), db(), service())) == []
    # collected both times and gone: removed
    assert [(c.kind, c.type) for c in diff(before, state(sg()))] == [("removed", "rds_instance")]
    # a state that does not say what was collected (built by hand) compares every type
    assert collected_types(Snapshot(ACCOUNT, REGION, [sg()])) is None
    bare = snapshot_state(Snapshot(ACCOUNT, REGION, [sg()]))
    assert [(c.kind, c.type) for c in diff(before, bare)] == [("removed", "rds_instance")]
    # a bare mapping "type/id" -> resource is accepted as well
    assert [c.kind for c in diff(before["resources"], state(sg()))] == ["removed"]


def test_carry_forward_keeps_the_last_known_state_of_a_failed_type():
    before = state(sg(), db())
    failed = CollectorError("rds", "DescribeDBInstances", "Throttling", "slow down", ("rds_instance",))
    outage = state(sg(ingress=[SSH_RULE, HTTPS_RULE]), errors=[failed])
    assert outage["failed_types"] == ["rds_instance"] and "rds_instance" not in outage["collected_types"]
    saved = carry_forward(before, outage)
    assert saved["resources"]["rds_instance/db-1"] == before["resources"]["rds_instance/db-1"]
    assert saved["resources"]["security_group/sg-1"] == outage["resources"]["security_group/sg-1"]
    assert "rds_instance" in saved["collected_types"]
    assert json.loads(json.dumps(saved)) == saved
    # the database changed during the outage: the next complete audit still reports it
    [change] = diff(saved, state(sg(ingress=[SSH_RULE, HTTPS_RULE]), db(multi_az=False)))
    assert (change.type, change.changes) == ("rds_instance", (AttributeChange("multi_az", True, False),))
    # a second outage in a row keeps carrying it
    assert carry_forward(saved, outage)["resources"]["rds_instance/db-1"] == before["resources"]["rds_instance/db-1"]
    # nothing failed, no previous state, or another account: the current state as it is
    assert carry_forward(before, state(sg())) == state(sg())
    assert carry_forward(None, outage) == outage
    assert carry_forward(dict(before, account="999999999999"), outage) == outage


def test_attributes_one_audit_could_not_read_are_no_change_then_or_after():
    """A per-resource call failed: its attributes (tags here) are unknown, not emptied; the saved state
    keeps their last known value, so the audit that reads them again compares with that."""
    denied = "rds:ListTagsForResource AccessDenied: not authorized"
    unread = db(parameters=None)
    object.__setattr__(unread, "unknown", {"parameters": denied, "tags": denied})
    before = state(db())
    blind = state(unread)
    assert blind["resources"]["rds_instance/db-1"]["unknown"] == ["parameters", "tags"]
    assert diff(before, blind) == []
    saved = carry_forward(before, blind)
    assert saved["resources"]["rds_instance/db-1"] == before["resources"]["rds_instance/db-1"]
    assert carry_forward(None, blind) == blind   # nothing known before: still unknown, still no change
    assert diff(saved, state(db())) == []
    [change] = diff(saved, state(db(parameters={"max_connections": "200"})))
    assert change.changes == (AttributeChange("parameters.max_connections", "100", "200"),)


def test_volatile_keys_in_an_older_state_are_ignored_too():
    before = state(db())
    before["resources"]["rds_instance/db-1"]["attributes"]["status"] = "backing-up"
    assert diff(before, state(db())) == []


# --- AuditResult, reports, metric -----------------------------------------------------------------
def snapshot_of(*resources: Resource, region: str = REGION) -> Snapshot:
    return Snapshot(ACCOUNT, region, resources, collected_at="2024-05-02T10:00:00+00:00", collector_seconds=COLLECTORS)


def result_of(*resources: Resource, previous=None, region: str = REGION) -> AuditResult:
    """An audit of ``resources``, compared with ``previous`` as the daemon and the CLI do before building it."""
    snapshot = snapshot_of(*resources, region=region)
    changes, compared_to = compare(snapshot, previous)
    return AuditResult(architecture="mattilda", environment="production", account=ACCOUNT, region=region,
                       started_at="2024-05-02T10:00:00Z", duration_seconds=1.0, findings=[], errors=(),
                       snapshot=snapshot, api_stats=ApiStats(), changes=changes, compared_to=compared_to)


def test_compare(caplog):
    previous = state(sg(), db())
    snapshot = snapshot_of(sg(ingress=[SSH_RULE, HTTPS_RULE]), service())
    assert compare(snapshot, None) == (None, None)

    changes, at = compare(snapshot, (previous, "2024-05-01T10:00:00Z"))
    assert at == "2024-05-01T10:00:00Z"
    assert [(c.kind, c.type) for c in changes] == [("added", "ecs_service"), ("removed", "rds_instance"),
                                                   ("changed", "security_group")]
    # a bare state: its own collected_at is the time compared to
    changes, at = compare(snapshot, previous)
    assert at == "2024-05-01T10:00:00+00:00" and len(changes) == 3

    other = dict(previous, account="999999999999")
    with caplog.at_level(logging.WARNING, logger="auditor.changes"):
        assert compare(snapshot, (other, "2024-05-01T10:00:00Z")) == (None, None)
    assert "999999999999" in caplog.text


def test_a_result_is_never_changed_after_it_is_built():
    result = result_of(sg())
    with pytest.raises(AttributeError):
        result.changes = []


def test_reports_show_the_changes():
    now = (sg(ingress=[SSH_RULE, HTTPS_RULE]), service(), db(instance_class="db.m5.large"))
    report = json.loads(render(result_of(*now), "json"))
    jsonschema.validate(report, SCHEMA)
    assert report["changes"] is None   # nothing compared

    result = result_of(*now, previous=(state(sg(), db(), res("route_table", "rtb-1", routes=[])), "2024-05-01T10:00:00Z"))
    report = json.loads(render(result, "json"))
    jsonschema.validate(report, SCHEMA)
    assert report["changes"] == {
        "compared_to": "2024-05-01T10:00:00Z", "added": 1, "removed": 1, "changed": 2,
        "resources": [c.as_dict() for c in result.changes]}
    assert report["changes"]["resources"][1] == {
        "kind": "changed", "type": "rds_instance", "id": "db-1", "name": "db-1",
        "changes": [{"path": "instance_class", "before": "db.t3.micro", "after": "db.m5.large"}]}

    table = render(result, "table")
    assert "CHANGES since 2024-05-01T10:00:00Z (1 added, 1 removed, 2 changed)" in table
    assert "instance_class: db.t3.micro -> db.m5.large" in table and "ingress[+]:" in table

    md = render(result, "markdown")
    assert "## Changes since 2024-05-01T10:00:00Z" in md and "1 added, 1 removed, 2 changed." in md
    assert "| changed | rds_instance `db-1` | instance_class: db.t3.micro -> db.m5.large |" in md
    assert "| added | ecs_service `api` |  |" in md

    result = result_of(*now, previous=(state(*now), "2024-05-01T10:00:00Z"))
    assert result.changes == []
    jsonschema.validate(json.loads(render(result, "json")), SCHEMA)
    assert "No resource changes since 2024-05-01T10:00:00Z." in render(result, "table")
    assert "No resource changes since 2024-05-01T10:00:00Z." in render(result, "markdown")


def test_metric_counts_the_changes_of_the_last_audit():
    ruleset = load_ruleset(None)
    store = MetricsStore()
    registry = make_registry(store)
    now = (sg(ingress=[SSH_RULE, HTTPS_RULE]), service())

    def publish(result: AuditResult) -> dict:
        metrics = AuditMetrics.from_result(result, ruleset, 100, 1.0)
        store.record_audit(AuditRecord(metrics.labels, 1.0, 1.0, "success"), metrics, None)
        return {s.labels["change"]: s.value for f in text_string_to_metric_families(
            _exposition(registry)) if f.name == "auditor_resource_changes" for s in f.samples}

    assert publish(result_of(*now)) == {}   # no previous snapshot: no series
    assert publish(result_of(*now, previous=state(sg(), db()))) == {"added": 1.0, "removed": 1.0, "changed": 1.0}
    get = registry.get_sample_value
    assert get("auditor_resource_changes", {"account": ACCOUNT, "region": REGION, "architecture": "mattilda",
                                            "environment": "production", "change": "changed"}) == 1.0
    assert publish(result_of(*now, previous=state(*now))) == {"added": 0.0, "removed": 0.0, "changed": 0.0}


def _exposition(registry) -> str:
    from prometheus_client import generate_latest
    return generate_latest(registry).decode()


# --- real snapshots of an emulated deployment ------------------------------------------------------
@pytest.fixture
def mattilda(account):
    """mattilda production deployed in a fresh emulated account; apply(drift) drifts it."""
    deployment = deploy("mattilda", "production", account)
    session = fake_session()

    def apply(*names: str) -> None:
        for name in names:
            drift_registry.get("mattilda", name).change(
                lambda svc: session.client(svc, endpoint_url=account), deployment)
    return apply


def test_real_snapshots_drift_shows_exactly_what_changed(mattilda):
    first = snapshot_state(collect(AwsContext(region=REGION, max_attempts=2)))
    assert len(first["resources"]) > 30 and "security_group" in first["collected_types"]
    again = snapshot_state(collect(AwsContext(region=REGION, max_attempts=2)))
    assert diff(first, again) == []   # nothing volatile leaks into the diff
    assert diff(json.loads(json.dumps(first)), again) == []

    mattilda("db-instance-class", "ecs-ssh-open")
    changes = diff(again, snapshot_state(collect(AwsContext(region=REGION, max_attempts=2))))
    assert [(c.kind, c.type, c.name) for c in changes] == [
        ("changed", "rds_instance", "mattilda-db-prod"),
        ("changed", "security_group", "mattilda-prod-ecs-sg")]
    db_change, sg_change = changes
    assert db_change.changes == (AttributeChange("instance_class", "db.t3.micro", "db.m5.large"),)
    [ssh] = sg_change.changes
    assert ssh.path == "ingress[+]" and ssh.before is None
    assert {k: ssh.after[k] for k in ("protocol", "from_port", "to_port", "cidr")} == {
        "protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}


def test_real_audit_attaches_changes_to_the_report(mattilda):
    options = AuditOptions(architecture="mattilda", max_attempts=2)
    ruleset = load_ruleset("mattilda")
    first = run_audit(options, ruleset)
    previous = (snapshot_state(first.snapshot), first.started_at)

    mattilda("task-logging-removed", "alb-https-closed")
    second = run_audit(options, ruleset, previous=lambda account, region: previous)
    report = json.loads(render(second, "json"))
    jsonschema.validate(report, SCHEMA)
    changes = report["changes"]
    assert changes["compared_to"] == first.started_at
    assert (changes["added"], changes["removed"], changes["changed"]) == (1, 1, 2)
    by = {(c["kind"], c["type"]): c for c in changes["resources"]}
    assert set(by) == {("changed", "ecs_service"), ("changed", "security_group"),
                       ("removed", "ecs_task_definition"), ("added", "ecs_task_definition")}
    assert [c["path"] for c in by[("changed", "ecs_service")]["changes"]] == ["task_definition_arn"]
    [revoked] = by[("changed", "security_group")]["changes"]
    assert revoked["path"] == "ingress[-]" and revoked["before"]["from_port"] == 443
    new_revision = by[("added", "ecs_task_definition")]
    assert [c["path"] for c in new_revision["changes"]] == [
        "containers[mattilda-api].log_configuration", "revision"]
    assert new_revision["changes"][0]["after"] is None


def test_two_regions_sharing_a_state_file_each_compare_with_their_own_snapshot(tmp_path, caplog):
    from dataclasses import replace

    from auditor.notify.config import StateConfig
    from auditor.notify.runtime import Runtime
    from auditor.notify.slack.config import SlackConfig

    def audit_of(region: str, *resources: Resource) -> AuditResult:
        return result_of(*(replace(r, region=region) for r in resources), region=region,
                         previous=runtime.previous_snapshot(ACCOUNT, region))
    runtime = Runtime()
    runtime.configure(StateConfig(path=tmp_path / "state.sqlite3"), SlackConfig())
    try:
        seen = []
        for _ in range(3):   # us-east-1 and eu-west-1 in turn, each unchanged
            for region, resources in ((REGION, (sg(), db())), ("eu-west-1", (service(),))):
                result = audit_of(region, *resources)
                seen.append((result.region, result.changes))
                runtime.finish(result)
        assert seen[:2] == [(REGION, None), ("eu-west-1", None)]   # the first audit of each: nothing to compare
        assert seen[2:] == [(REGION, []), ("eu-west-1", [])] * 2    # never the other region's resources
        assert "changes not compared" not in caplog.text
        changed = audit_of("eu-west-1", service(desired_count=3))
        assert [(c.kind, c.type, paths(c)) for c in changed.changes] == [("changed", "ecs_service", ["desired_count"])]
    finally:
        runtime.close()
