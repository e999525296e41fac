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
