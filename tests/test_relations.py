"""Relations derived once per snapshot: subnet tiers, security-group roles, alarms, listener routes."""
from __future__ import annotations

from auditor.model import Resource
from auditor.relations import derive, requires


def res(rtype, rid, name=None, **attributes):
    return Resource(type=rtype, id=rid, account="1", region="r", name=name or rid, attributes=attributes)


def by_key(resources):
    return {(r.type, r.id): r for r in resources}


NETWORK = [
    res("vpc", "vpc-1", cidr_block="10.0.0.0/16"),
    res("subnet", "pub", vpc_id="vpc-1", availability_zone="a", cidr_block="10.0.1.0/24"),
    res("subnet", "app", vpc_id="vpc-1", availability_zone="b", cidr_block="10.0.10.0/24"),
    res("subnet", "lonely", vpc_id="vpc-1", availability_zone="b", cidr_block="10.0.20.0/24"),
    res("route_table", "rt-main", vpc_id="vpc-1", main=True, subnet_ids=[],
        routes=[{"destination": "::/0", "target_type": "internet_gateway", "target_id": "igw", "state": "active"}]),
    res("route_table", "rt-app", vpc_id="vpc-1", main=False, subnet_ids=["app"],
        routes=[{"destination": "0.0.0.0/0", "target_type": "nat_gateway", "target_id": "nat", "state": "active"}]),
    res("route_table", "rt-pub", vpc_id="vpc-1", main=False, subnet_ids=["pub"],
        routes=[{"destination": "0.0.0.0/0", "target_type": "internet_gateway", "target_id": "igw",
                 "state": "blackhole"}]),
    res("internet_gateway", "igw", vpc_ids=["vpc-1"]),
    res("nat_gateway", "nat", vpc_id="vpc-1", subnet_id="pub", state="available"),
]


def test_subnet_public_from_explicit_or_main_route_table():
    r = by_key(derive(NETWORK))
    assert r[("subnet", "app")].relations["public"] is False
    assert r[("subnet", "app")].relations["nat_routed"] is True
    assert r[("subnet", "lonely")].relations["public"] is True  # main table, IPv6 default route
    assert r[("subnet", "lonely")].relations["route_table_id"] == "rt-main"
    assert r[("subnet", "pub")].relations["public"] is False  # blackhole route does not count
    vpc = r[("vpc", "vpc-1")].relations
    assert vpc["availability_zones"] == ["a", "b"] and vpc["nat_gateway_azs"] == ["a"]
    assert (vpc["public_subnet_count"], vpc["private_subnet_count"]) == (1, 2)
    assert vpc["internet_gateway_attached"] is True and vpc["nat_gateway_count"] == 1


def test_security_group_roles_and_resolved_peers():
    resources = NETWORK + [
        res("security_group", "sg-alb", ingress=[{"cidr": "0.0.0.0/0", "source_kind": "cidr", "from_port": 443}]),
        res("security_group", "sg-db", name="db-sg",
            ingress=[{"group_id": "sg-app", "source_kind": "group", "from_port": 5432}]),
        res("security_group", "sg-app", ingress=[{"group_id": "sg-alb", "source_kind": "group"}]),
        res("load_balancer", "lb", security_group_ids=["sg-alb"], subnet_ids=["pub"], arn_suffix="app/lb/1"),
        res("ecs_service", "svc", cluster_name="c", service_name="s",
            network={"security_group_ids": ["sg-app"], "subnet_ids": ["app"]}),
        res("rds_instance", "db", vpc_security_group_ids=["sg-db"], db_subnet_group={"subnet_ids": ["app", "lonely"]}),
    ]
    r = by_key(derive(resources))
    assert r[("security_group", "sg-alb")].relations["roles"] == ["load_balancer"]
    db_sg = r[("security_group", "sg-db")].relations
    assert db_sg["roles"] == ["database"]
    assert db_sg["inbound"][0]["peer_roles"] == ["ecs_service"]
    assert r[("security_group", "sg-alb")].relations["inbound"][0]["open_to_internet"] is True
    assert r[("rds_instance", "db")].relations["in_public_subnet"] is True  # "lonely" is public
    assert r[("ecs_service", "svc")].relations["in_public_subnet"] is False


def _eni(rid, attached_to, groups, **attributes):
    return res("network_interface", rid, attached_to=attached_to, security_group_ids=groups, **attributes)


def test_security_group_roles_from_network_interfaces():
    """Every interface a group is attached to gives it the role of what the interface belongs to,
    merged with the roles of the collected resources that name the group."""
    resources = [
        res("security_group", "sg-clb", ingress=[{"cidr": "0.0.0.0/0", "source_kind": "cidr", "from_port": 443}]),
        res("security_group", "sg-web", ingress=[{"cidr": "0.0.0.0/0", "source_kind": "cidr", "from_port": 22}]),
        res("security_group", "sg-app", ingress=[{"group_id": "sg-clb", "source_kind": "group"}]),
        res("security_group", "sg-db", ingress=[{"group_id": "sg-app", "source_kind": "group"}]),
        res("security_group", "sg-misc"),
        res("security_group", "sg-unused"),
        # a Classic Load Balancer: no load_balancer resource (ELBv2 only), only its interfaces
        _eni("eni-clb-a", "load_balancer", ["sg-clb"], description="ELB web-classic"),
        _eni("eni-clb-b", "load_balancer", ["sg-clb"], description="ELB web-classic"),
        _eni("eni-web", "ec2_instance", ["sg-web"], instance_id="i-0web"),
        res("ecs_service", "svc", cluster_name="c", service_name="s", network={"security_group_ids": ["sg-app"]}),
        _eni("eni-task", "ecs_task", ["sg-app"]),
        _eni("eni-fn", "lambda", ["sg-app"]),
        res("rds_instance", "db", vpc_security_group_ids=["sg-db"]),
        _eni("eni-db", "database", ["sg-db"]),
        _eni("eni-vpce", "vpc_endpoint", ["sg-misc"]),
        _eni("eni-gwlb", "gateway_load_balancer", ["sg-misc"]),
        _eni("eni-nat", "nat_gateway", ["sg-misc"]),
        _eni("eni-efs", "other", ["sg-misc"]),
        _eni("eni-new", "some_future_kind", ["sg-misc"]),
        _eni("eni-bare", "other", []),
    ]
    r = {sg: rel.relations for (t, sg), rel in by_key(derive(resources)).items() if t == "security_group"}
    assert r["sg-clb"]["roles"] == ["load_balancer"]
    assert r["sg-clb"]["used_by"] == [
        {"type": "network_interface", "id": "eni-clb-a", "name": "eni-clb-a", "role": "load_balancer"},
        {"type": "network_interface", "id": "eni-clb-b", "name": "eni-clb-b", "role": "load_balancer"}]
    assert r["sg-web"]["roles"] == ["ec2_instance"]
    # the service and its tasks: ecs_service still, merged with the Lambda that shares the group
    assert r["sg-app"]["roles"] == ["ecs_service", "lambda"]
    assert [(u["type"], u["id"], u["role"]) for u in r["sg-app"]["used_by"]] == [
        ("ecs_service", "svc", "ecs_service"), ("network_interface", "eni-task", "ecs_service"),
        ("network_interface", "eni-fn", "lambda")]
    assert r["sg-app"]["inbound"][0]["peer_roles"] == ["load_balancer"]
    assert r["sg-db"]["roles"] == ["database"]
    assert r["sg-db"]["inbound"][0]["peer_roles"] == ["ecs_service", "lambda"]
    assert r["sg-misc"]["roles"] == ["gateway_load_balancer", "nat_gateway", "other", "vpc_endpoint"]
    assert (r["sg-unused"]["roles"], r["sg-unused"]["used_by"]) == ([], [])


def test_security_group_relations_require_network_interfaces():
    assert "network_interface" in requires("security_group")


def test_alarms_attach_by_dimensions():
    resources = [
        res("rds_instance", "db"),
        res("ecs_cluster", "c", cluster_name="c"),
        res("ecs_service", "svc", cluster_name="c", service_name="s", network={}),
        res("cloudwatch_alarm", "storage", namespace="AWS/RDS", metric_name="FreeStorageSpace",
            dimensions={"DBInstanceIdentifier": "db"}, threshold=2e9, comparison_operator="LessThanThreshold"),
        res("cloudwatch_alarm", "svc-cpu", namespace="AWS/ECS", metric_name="CPUUtilization",
            dimensions={"ClusterName": "c", "ServiceName": "s"}, threshold=80),
        res("cloudwatch_alarm", "cluster-cpu", namespace="AWS/ECS", metric_name="CPUUtilization",
            dimensions={"ClusterName": "c"}, threshold=90),
    ]
    r = by_key(derive(resources))
    [storage] = r[("rds_instance", "db")].relations["alarms"]
    assert (storage["metric_name"], storage["threshold"]) == ("FreeStorageSpace", 2e9)
    assert [a["name"] for a in r[("ecs_service", "svc")].relations["alarms"]] == ["svc-cpu"]
    assert [a["name"] for a in r[("ecs_cluster", "c")].relations["alarms"]] == ["cluster-cpu"]


def test_alarms_attach_to_any_type_by_its_declared_dimensions():
    resources = [
        res("vpc_endpoint", "vpce-1", vpc_id="vpc-1"),
        res("elasticache_replication_group", "rg", member_clusters=["rg-001", "rg-002"]),
        res("load_balancer", "arn:lb", arn_suffix="app/web/1"),
        res("cloudwatch_alarm", "vpce-bytes", namespace="AWS/PrivateLinkEndpoints", metric_name="BytesProcessed",
            dimensions={"VPC Endpoint Id": "vpce-1", "VPC Id": "vpc-1", "Endpoint Type": "Interface"}),
        res("cloudwatch_alarm", "node-2-cpu", dimensions={"CacheClusterId": "rg-002"}),
        res("cloudwatch_alarm", "group-cpu", dimensions={"ReplicationGroupId": "rg"}),
        res("cloudwatch_alarm", "lb-5xx", dimensions={"LoadBalancer": "app/web/1"}),
        res("cloudwatch_alarm", "tg-5xx", dimensions={"LoadBalancer": "app/web/1", "TargetGroup": "targetgroup/t/2"}),
    ]
    r = by_key(derive(resources))
    assert [a["name"] for a in r[("vpc_endpoint", "vpce-1")].relations["alarms"]] == ["vpce-bytes"]
    assert [a["name"] for a in r[("elasticache_replication_group", "rg")].relations["alarms"]] == \
        ["group-cpu", "node-2-cpu"]   # its own and its members'
    assert [a["name"] for a in r[("load_balancer", "arn:lb")].relations["alarms"]] == ["lb-5xx"]   # not a target group's
    assert requires("vpc_endpoint") == {"vpc_endpoint", "cloudwatch_alarm"}


def test_listener_routes_resolve_target_groups():
    resources = [
        res("load_balancer", "lb", scheme="internet-facing"),
        res("target_group", "tg-api", name="api", port=8000),
        res("target_group", "tg-web", name="web", port=3000),
        res("listener", "l", load_balancer_arn="lb", port=443, protocol="HTTPS",
            default_actions=[{"type": "forward", "target_group_arns": ["tg-web"]}],
            rules=[{"priority": 10, "path_patterns": ["/api/*"],
                    "actions": [{"type": "forward", "target_group_arns": ["tg-api"]}]}]),
    ]
    routes = by_key(derive(resources))[("listener", "l")].relations["routes"]
    assert routes == [
        {"default": False, "priority": 10, "path_patterns": ["/api/*"], "host_headers": [],
         "target_groups": [{"arn": "tg-api", "name": "api", "port": 8000}]},
        {"default": True, "priority": None, "path_patterns": [], "host_headers": [],
         "target_groups": [{"arn": "tg-web", "name": "web", "port": 3000}]}]


def test_requires_lists_the_collected_types_behind_a_document():
    assert requires("security_group") >= {"security_group", "ecs_service", "rds_instance", "load_balancer"}
    assert requires("secret") == {"secret"}


def test_a_step_that_trips_on_an_unexpected_shape_costs_only_its_types():
    import pytest

    from auditor.audit import load_ruleset
    from auditor.model import Snapshot
    odd = res("security_group", "sg-1", vpc_id="vpc-1", ingress="not a list of entries", egress=[])
    with pytest.raises(AttributeError):
        derive([*NETWORK, odd])   # without an error list: the bug is not hidden
    errors = []
    r = by_key(derive([*NETWORK, odd], errors))
    [error] = errors
    assert (error.service, error.operation, error.code, error.resource_types) == \
        ("auditor", "derive security_groups", "AttributeError", ("security_group",))
    assert error.message == "relations of security_group not derived: 'str' object has no attribute 'get'"
    assert r[("subnet", "app")].relations["public"] is False   # the other steps went on
    assert r[("security_group", "sg-1")].relations == {}
    snapshot = Snapshot("1", "r", list(r.values()), errors)
    assert "security_group" in snapshot.failed_types() and "subnet" not in snapshot.failed_types()
    findings = load_ruleset(None).evaluate(snapshot)   # the baseline: rules on security groups report error
    on_groups = [f for f in findings if f.rule_id.startswith("baseline.sg.")]
    assert on_groups and {f.status for f in on_groups} == {"error"}


def _service(name, group, **attributes):
    return res("ecs_service", f"arn:aws:ecs:r:1:service/c/{name}", name=name, cluster_name="c", service_name=name,
               network={"security_group_ids": [group]}, **attributes)


def _ingress(port, *peers):
    return [{"protocol": "tcp", "from_port": port, "to_port": port, "source_kind": "group", "group_id": g}
            for g in peers]


WHO_REACHES_WHOM = [
    _service("api", "sg-api"), _service("worker", "sg-worker"), _service("reports", "sg-reports"),
    _eni("eni-api-task", "ecs_task", ["sg-api"]),             # the api service's task: named by the service
    _eni("eni-fn", "lambda", ["sg-reports"]),                  # no resource stands for it: named by its id
    res("load_balancer", "arn:lb", name="web", security_group_ids=["sg-lb"]),
    res("security_group", "sg-api", ingress=_ingress(8000, "sg-lb")),
    res("security_group", "sg-worker"), res("security_group", "sg-reports"), res("security_group", "sg-lb"),
    res("rds_instance", "orders-db", vpc_security_group_ids=["sg-orders"]),
    res("security_group", "sg-orders", ingress=_ingress(3306, "sg-api", "sg-worker")),
    res("rds_instance", "ledger-db", vpc_security_group_ids=["sg-ledger"]),
    res("security_group", "sg-ledger", ingress=[
        *_ingress(3306, "sg-api", "sg-reports", "sg-elsewhere"),
        {"protocol": "tcp", "from_port": 3306, "to_port": 3306, "source_kind": "cidr", "cidr": "10.0.0.0/16"}]),
    res("elasticache_replication_group", "sessions", security_group_ids=["sg-sessions"]),
    res("security_group", "sg-sessions", ingress=_ingress(6379, "sg-api"), egress=_ingress(6379, "sg-api")),
    res("elasticache_replication_group", "queue", security_group_ids=["sg-queue"]),
    res("security_group", "sg-queue", ingress=_ingress(6379, "sg-api", "sg-worker")),
]


def test_entries_name_the_peer_groups_users():
    r = {sg: rel.relations for (t, sg), rel in by_key(derive(WHO_REACHES_WHOM)).items() if t == "security_group"}
    api_users = [{"type": "ecs_service", "id": "arn:aws:ecs:r:1:service/c/api", "name": "api", "role": "ecs_service"}]
    assert r["sg-orders"]["inbound"][0]["peer_users"] == api_users   # not the task's interface
    assert [e["peers"] for e in r["sg-ledger"]["inbound"]] == [["api"], ["eni-fn", "reports"], ["sg-elsewhere"],
                                                               ["10.0.0.0/16"]]
    elsewhere = r["sg-ledger"]["inbound"][2]   # a group of another account or VPC: kept by id, no users
    assert (elsewhere["group_id"], elsewhere["peer_users"], elsewhere["peer_name"]) == ("sg-elsewhere", [], None)
    assert r["sg-ledger"]["inbound"][3]["peer_users"] == []   # a CIDR
    assert r["sg-api"]["inbound"][0]["peer_users"] == [
        {"type": "load_balancer", "id": "arn:lb", "name": "web", "role": "load_balancer"}]
    assert r["sg-sessions"]["outbound"][0]["peers"] == ["api"]
    assert r["sg-api"]["used_by"][1]["id"] == "eni-api-task"   # used_by still lists every attachment


WHO_MAY_REACH_WHOM_PACK = """
pack: team
title: Who may reach whom
rules:
  - id: team.db.mysql_from_api_and_worker
    title: The database accepts 3306 only from the api and worker services
    severity: high
    resource: security_group
    scope: [{key: roles, op: contains, value: database}]
    assert:
      - {key: "inbound[?from_port == `3306`].peers[]", op: subset, value: [api, worker]}
    doc: {file: team.md, quote: "the database accepts 3306 only from the api and worker groups"}
    remediation: revoke the other 3306 entries
    tests:
      - {name: api, expect: pass, resource: {roles: [database], inbound: [{from_port: 3306, peers: [api]}]}}
      - {name: cron, expect: fail, resource: {roles: [database], inbound: [{from_port: 3306, peers: [cron]}]}}
  - id: team.cache.redis_from_api
    title: Redis accepts 6379 only from the api service
    severity: high
    resource: security_group
    scope: [{key: roles, op: contains, value: cache}]
    assert:
      - {key: "inbound[?from_port == `6379`].peers[]", op: subset, value: [api]}
    doc: {file: team.md, quote: "Redis accepts 6379 only from the api group"}
    remediation: revoke the other 6379 entries
    tests:
      - {name: api, expect: pass, resource: {roles: [cache], inbound: [{from_port: 6379, peers: [api]}]}}
      - {name: worker, expect: fail, resource: {roles: [cache], inbound: [{from_port: 6379, peers: [worker]}]}}
"""


def test_who_may_reach_whom_is_one_condition_per_statement(tmp_path):
    from auditor.model import Snapshot
    from auditor.rules.engine import RuleSet
    from auditor.rules.loader import load_pack_file

    path = tmp_path / "team.yaml"
    path.write_text(WHO_MAY_REACH_WHOM_PACK)
    ruleset = RuleSet([load_pack_file(path)])   # the keys are checked against RELATIONS as they load
    assert {(r.name, r.expected, r.actual) for r in ruleset.run_tests()} == {
        ("api", "pass", "pass"), ("cron", "fail", "fail"), ("worker", "fail", "fail")}
    findings = {(f.rule_id, f.resource["id"]): f
                for f in ruleset.evaluate(Snapshot("1", "r", derive(WHO_REACHES_WHOM)), baseline="account")}
    assert {k: f.status for k, f in findings.items()} == {
        ("team.db.mysql_from_api_and_worker", "sg-orders"): "pass",
        ("team.db.mysql_from_api_and_worker", "sg-ledger"): "fail",
        ("team.cache.redis_from_api", "sg-sessions"): "pass",
        ("team.cache.redis_from_api", "sg-queue"): "fail"}
    ledger = findings[("team.db.mysql_from_api_and_worker", "sg-ledger")]
    assert ledger.actual == ('inbound[?from_port == `3306`].peers[] = '
                             '["api", "eni-fn", "reports", "sg-elsewhere", "10.0.0.0/16"]')


def _alarm(rid, **attributes):
    return res("cloudwatch_alarm", rid, dimensions={"DBInstanceIdentifier": "db"}, **attributes)


def test_alarms_say_how_long_and_the_comparison_in_words():
    resources = [
        res("rds_instance", "db"),
        _alarm("cpu", comparison_operator="GreaterThanOrEqualToThreshold", period=60, evaluation_periods=10),
        _alarm("m-of-n", comparison_operator="LessThanThreshold", period=300, evaluation_periods=3,
               datapoints_to_alarm=2),
        _alarm("band", comparison_operator="LessThanLowerOrGreaterThanUpperThreshold", evaluation_periods=2,
               metrics=[{"id": "m1", "period": 120, "return_data": False, "dimensions": {"DBInstanceIdentifier": "db"}},
                        {"id": "ad1", "expression": "ANOMALY_DETECTION_BAND(m1)", "period": None, "return_data": True}]),
        _alarm("math", comparison_operator="GreaterThanThreshold", evaluation_periods=5,
               metrics=[{"id": "e1", "expression": "m1+m2", "period": 60, "return_data": True},
                        {"id": "m1", "period": 300, "return_data": False}]),
        _alarm("odd", comparison_operator="SomethingNew", evaluation_periods=1),
    ]
    alarms = {a["name"]: a for a in by_key(derive(resources))[("rds_instance", "db")].relations["alarms"]}
    assert {n: (a["comparison"], a["duration_seconds"]) for n, a in alarms.items()} == {
        "cpu": ("greater than or equal to", 600),
        "m-of-n": ("less than", 900),   # 2 breaching datapoints within these 15 minutes
        "band": ("less than the lower or greater than the upper band", 240),   # its only period
        "math": ("greater than", 300),   # the returned query's period
        "odd": (None, None)}
    assert alarms["m-of-n"]["datapoints_to_alarm"] == 2


def test_every_cloudwatch_comparison_operator_has_words():
    import botocore.session

    from auditor.relations import COMPARISONS
    model = botocore.session.get_session().get_service_model("cloudwatch")
    assert set(COMPARISONS) == set(model.shape_for("ComparisonOperator").enum)
