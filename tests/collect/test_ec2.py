"""EC2 networking collectors against moto, plus Stubber tests for paging and denied calls."""
from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from auditor.collect import ec2 as ec2_collect


def _by_id(resources):
    return {r.id: r for r in resources}


@pytest.fixture
def net(ctx):
    """VPC 10.0.0.0/16 with public/private subnets in two AZs, IGW, NAT, route tables, SGs."""
    ec2 = ctx.client("ec2")

    def tag(kind, name):
        return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name},
                                                {"Key": "Environment", "Value": "prod"}]}]

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=tag("vpc", "main"))["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    ids = {"vpc": vpc}
    for name, cidr, az in (("public-a", "10.0.0.0/24", "us-east-1a"),
                           ("public-b", "10.0.1.0/24", "us-east-1b"),
                           ("private-a", "10.0.10.0/24", "us-east-1a"),
                           ("private-b", "10.0.11.0/24", "us-east-1b")):
        ids[name] = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az,
                                      TagSpecifications=tag("subnet", name))["Subnet"]["SubnetId"]
    for name in ("public-a", "public-b"):
        ec2.modify_subnet_attribute(SubnetId=ids[name], MapPublicIpOnLaunch={"Value": True})
    igw = ec2.create_internet_gateway(TagSpecifications=tag("internet-gateway", "igw"))
    ids["igw"] = igw["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=ids["igw"], VpcId=vpc)
    eip = ec2.allocate_address(Domain="vpc")
    ids["eip"] = eip["PublicIp"]
    ids["nat"] = ec2.create_nat_gateway(SubnetId=ids["public-a"], AllocationId=eip["AllocationId"],
                                        TagSpecifications=tag("natgateway", "nat-a"))["NatGateway"]["NatGatewayId"]
    ids["rt-public"] = ec2.create_route_table(
        VpcId=vpc, TagSpecifications=tag("route-table", "public"))["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=ids["rt-public"], DestinationCidrBlock="0.0.0.0/0", GatewayId=ids["igw"])
    ids["rt-private"] = ec2.create_route_table(
        VpcId=vpc, TagSpecifications=tag("route-table", "private"))["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=ids["rt-private"], DestinationCidrBlock="0.0.0.0/0", NatGatewayId=ids["nat"])
    for rt, subnets in (("rt-public", ("public-a", "public-b")), ("rt-private", ("private-a", "private-b"))):
        for s in subnets:
            ec2.associate_route_table(RouteTableId=ids[rt], SubnetId=ids[s])
    ids["sg-alb"] = ec2.create_security_group(GroupName="alb", Description="load balancer", VpcId=vpc)["GroupId"]
    ids["sg-app"] = ec2.create_security_group(
        GroupName="app", Description="app tier", VpcId=vpc,
        TagSpecifications=tag("security-group", "app-sg"))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=ids["sg-alb"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}]}])
    ec2.authorize_security_group_ingress(GroupId=ids["sg-app"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
         "UserIdGroupPairs": [{"GroupId": ids["sg-alb"], "Description": "from alb"}]},
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    return ids


def test_vpc(ctx, net):
    vpcs = _by_id(ec2_collect.vpcs(ctx))
    assert len(vpcs) == 2  # moto's default VPC too
    v = vpcs[net["vpc"]]
    assert v.name == "main" and v.environment == "production"
    assert v.arn == f"arn:aws:ec2:us-east-1:{ctx.account}:vpc/{net['vpc']}"
    assert {k: v.attributes[k] for k in ("cidr_block", "cidr_blocks", "ipv6_cidr_blocks", "is_default",
                                         "state", "enable_dns_support", "enable_dns_hostnames")} == {
        "cidr_block": "10.0.0.0/16", "cidr_blocks": ["10.0.0.0/16"], "ipv6_cidr_blocks": [],
        "is_default": False, "state": "available",
        "enable_dns_support": True, "enable_dns_hostnames": True}
    default = next(r for r in vpcs.values() if r.id != net["vpc"])
    assert default.attributes["is_default"] is True
    assert default.attributes["enable_dns_hostnames"] is True


def test_vpc_secondary_cidr(ctx, net):
    ctx.client("ec2").associate_vpc_cidr_block(VpcId=net["vpc"], CidrBlock="10.1.0.0/16")
    v = _by_id(ec2_collect.vpcs(ctx))[net["vpc"]]
    assert v.attributes["cidr_blocks"] == ["10.0.0.0/16", "10.1.0.0/16"]


def test_subnets(ctx, net):
    subnets = {r.id: r for r in ec2_collect.subnets(ctx) if r.attributes["vpc_id"] == net["vpc"]}
    assert len(subnets) == 4
    pub = subnets[net["public-a"]]
    assert pub.name == "public-a"
    assert pub.arn.endswith(f":subnet/{net['public-a']}")
    want = {"vpc_id": net["vpc"], "cidr_block": "10.0.0.0/24", "ipv6_cidr_blocks": [],
            "availability_zone": "us-east-1a", "map_public_ip_on_launch": True,
            "default_for_az": False, "state": "available"}
    assert {k: pub.attributes[k] for k in want} == want
    assert pub.attributes["availability_zone_id"].startswith("use1-az")
    assert isinstance(pub.attributes["available_ip_address_count"], int)
    priv = subnets[net["private-b"]].attributes
    assert (priv["cidr_block"], priv["availability_zone"], priv["map_public_ip_on_launch"]) == (
        "10.0.11.0/24", "us-east-1b", False)
    assert "available_ip_address_count" in ec2_collect.SUBNET.volatile


def test_route_tables(ctx, net):
    tables = {r.id: r for r in ec2_collect.route_tables(ctx) if r.attributes["vpc_id"] == net["vpc"]}
    assert len(tables) == 3
    main = [r for r in tables.values() if r.attributes["main"]]
    assert len(main) == 1 and main[0].attributes["subnet_ids"] == []
    assert main[0].attributes["routes"] == [
        {"destination": "10.0.0.0/16", "target_type": "local", "target_id": "local",
         "state": "active", "origin": "CreateRouteTable"}]
    pub = tables[net["rt-public"]]
    assert pub.name == "public" and pub.attributes["main"] is False
    assert sorted(pub.attributes["subnet_ids"]) == sorted([net["public-a"], net["public-b"]])
    assert pub.attributes["routes"][1] == {
        "destination": "0.0.0.0/0", "target_type": "internet_gateway", "target_id": net["igw"],
        "state": "active", "origin": "CreateRoute"}
    priv = tables[net["rt-private"]].attributes
    assert sorted(priv["subnet_ids"]) == sorted([net["private-a"], net["private-b"]])
    assert [(r["destination"], r["target_type"], r["target_id"]) for r in priv["routes"]] == [
        ("10.0.0.0/16", "local", "local"), ("0.0.0.0/0", "nat_gateway", net["nat"])]


def test_internet_gateway(ctx, net):
    (igw,) = ec2_collect.internet_gateways(ctx)
    assert igw.id == net["igw"] and igw.name == "igw"
    assert igw.attributes["vpc_ids"] == [net["vpc"]]
    assert igw.attributes["attachments"] == [{"vpc_id": net["vpc"], "state": "available"}]


def test_detached_internet_gateway(ctx):
    gid = ctx.client("ec2").create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    (igw,) = ec2_collect.internet_gateways(ctx)
    assert igw.id == gid and igw.attributes["vpc_ids"] == [] and igw.attributes["attachments"] == []


def test_nat_gateways(ctx, net):
    (nat,) = ec2_collect.nat_gateways(ctx)
    assert nat.id == net["nat"] and nat.name == "nat-a"
    a = nat.attributes
    assert (a["vpc_id"], a["subnet_id"], a["state"], a["public_ips"]) == (
        net["vpc"], net["public-a"], "available", [net["eip"]])
    assert a["connectivity_type"] is None  # moto omits it; real AWS says "public"
    ctx.client("ec2").delete_nat_gateway(NatGatewayId=net["nat"])
    assert list(ec2_collect.nat_gateways(ctx)) == []  # moto goes straight to "deleted": skipped


def test_vpc_endpoints(ctx, net):
    ec2 = ctx.client("ec2")
    policy = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*"}]}
    interface = ec2.create_vpc_endpoint(
        VpcId=net["vpc"], ServiceName="com.amazonaws.us-east-1.ecr.api", VpcEndpointType="Interface",
        SubnetIds=[net["private-a"], net["private-b"]], SecurityGroupIds=[net["sg-app"]], PrivateDnsEnabled=True,
        PolicyDocument=json.dumps(policy),
        TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": [{"Key": "Name", "Value": "ecr-api"},
                                                                     {"Key": "Environment", "Value": "prod"}]}],
    )["VpcEndpoint"]["VpcEndpointId"]
    gateway = ec2.create_vpc_endpoint(VpcId=net["vpc"], ServiceName="com.amazonaws.us-east-1.s3", VpcEndpointType="Gateway",
                                      RouteTableIds=[net["rt-private"]])["VpcEndpoint"]["VpcEndpointId"]
    found = _by_id(ec2_collect.vpc_endpoints(ctx))
    e = found[interface]
    assert (e.name, e.environment, e.arn) == (
        "ecr-api", "production", f"arn:aws:ec2:us-east-1:{ctx.account}:vpc-endpoint/{interface}")
    a = e.attributes
    assert {k: a[k] for k in ("vpc_id", "service_name", "vpc_endpoint_type", "state", "subnet_ids", "route_table_ids",
                              "security_group_ids", "private_dns_enabled", "policy_document")} == {
        "vpc_id": net["vpc"], "service_name": "com.amazonaws.us-east-1.ecr.api", "vpc_endpoint_type": "Interface",
        "state": "available", "subnet_ids": [net["private-a"], net["private-b"]], "route_table_ids": [],
        "security_group_ids": [net["sg-app"]], "private_dns_enabled": True, "policy_document": policy}
    assert len(a["network_interface_ids"]) == 2 and a["created_at"].startswith("20")   # one interface per subnet
    g = found[gateway].attributes
    assert (g["vpc_endpoint_type"], g["route_table_ids"], g["subnet_ids"], g["security_group_ids"]) == (
        "Gateway", [net["rt-private"]], [], [])
    assert g["policy_document"]["Statement"][0]["Action"] == "*"   # the default policy: full access
    ec2.delete_vpc_endpoints(VpcEndpointIds=[interface])
    assert list(_by_id(ec2_collect.vpc_endpoints(ctx))) == [gateway]   # moto keeps it, "deleted": skipped


def test_vpc_endpoint_policy_that_is_not_json_is_kept_as_text(ctx):
    with Stubber(ctx.client("ec2")) as stub:
        stub.add_response("describe_vpc_endpoints", {"VpcEndpoints": [
            {"VpcEndpointId": "vpce-1", "VpcId": "vpc-1", "State": "Available", "PolicyDocument": "not json"},
            {"VpcEndpointId": "vpce-2", "VpcId": "vpc-1", "State": "Deleted"}]})
        (e,) = ec2_collect.vpc_endpoints(ctx)
    assert (e.id, e.attributes["policy_document"], e.attributes["subnet_ids"]) == ("vpce-1", "not json", [])


def _rule(protocol, from_port, to_port, kind, cidr=None, group_id=None, owner=None,
          prefix_list_id=None, description=None):
    return {"protocol": protocol, "from_port": from_port, "to_port": to_port, "source_kind": kind,
            "cidr": cidr, "group_id": group_id, "group_owner_id": owner,
            "prefix_list_id": prefix_list_id, "description": description}


def test_security_groups(ctx, net):
    groups = {r.id: r for r in ec2_collect.security_groups(ctx) if r.attributes["vpc_id"] == net["vpc"]}
    assert len(groups) == 3  # alb, app and the VPC's default group
    app = groups[net["sg-app"]]
    assert app.name == "app-sg" and app.attributes["group_name"] == "app"
    assert app.attributes["description"] == "app tier"
    assert app.arn == f"arn:aws:ec2:us-east-1:{ctx.account}:security-group/{net['sg-app']}"
    assert app.attributes["ingress"] == [
        _rule("tcp", 8080, 8080, "group", group_id=net["sg-alb"], owner=ctx.account,
              description="from alb"),
        _rule("tcp", 22, 22, "cidr", cidr="10.0.0.0/16")]
    assert app.attributes["egress"] == [_rule("-1", None, None, "cidr", cidr="0.0.0.0/0")]
    alb = groups[net["sg-alb"]]
    assert alb.name == "alb"  # no Name tag: group name
    assert alb.attributes["ingress"] == [_rule("tcp", 443, 443, "cidr", cidr="0.0.0.0/0",
                                               description="https")]
    default = next(g for g in groups.values() if g.attributes["group_name"] == "default")
    assert default.attributes["ingress"] == []  # moto omits AWS's self-referencing rule
    assert default.attributes["egress"] == [_rule("-1", None, None, "cidr", cidr="0.0.0.0/0")]


def test_security_groups_paginated_and_normalized(ctx):
    """Two pages via Stubber (moto ignores MaxResults); numeric protocols, IPv6, prefix lists."""
    client = ctx.client("ec2")
    page1 = {"SecurityGroups": [{
        "GroupId": "sg-1", "GroupName": "web", "Description": "d", "VpcId": "vpc-1", "OwnerId": "111122223333",
        "IpPermissions": [
            {"IpProtocol": "6", "FromPort": 80, "ToPort": 80, "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
             "PrefixListIds": [{"PrefixListId": "pl-123", "Description": ""}]},
            {"IpProtocol": "17", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
            {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        ],
        "IpPermissionsEgress": [{"IpProtocol": "-1", "FromPort": -1, "ToPort": -1,
                                 "UserIdGroupPairs": [{"GroupId": "sg-9", "UserId": "444455556666"}]}],
    }], "NextToken": "t1"}
    page2 = {"SecurityGroups": [{"GroupId": "sg-2", "GroupName": "bare",
                                 "Tags": [{"Key": "Name", "Value": "tagged"}]}]}
    with Stubber(client) as stub:
        stub.add_response("describe_security_groups", page1, {})
        stub.add_response("describe_security_groups", page2, {"NextToken": "t1"})
        groups = list(ec2_collect.security_groups(ctx))
        stub.assert_no_pending_responses()
    assert [g.id for g in groups] == ["sg-1", "sg-2"]
    web = groups[0]
    assert web.arn == "arn:aws:ec2:us-east-1:111122223333:security-group/sg-1"
    assert web.attributes["ingress"] == [
        _rule("tcp", 80, 80, "cidr_ipv6", cidr="::/0"),
        _rule("tcp", 80, 80, "prefix_list", prefix_list_id="pl-123"),
        _rule("udp", 53, 53, "cidr", cidr="10.0.0.0/8"),
        _rule("icmp", -1, -1, "cidr", cidr="10.0.0.0/8")]
    assert web.attributes["egress"] == [_rule("-1", None, None, "group", group_id="sg-9",
                                              owner="444455556666")]
    bare = groups[1]
    assert bare.name == "tagged"
    assert (bare.attributes["vpc_id"], bare.attributes["ingress"], bare.attributes["egress"]) == (None, [], [])


def test_route_targets_paginated(ctx):
    """Every target kind, IPv6/prefix-list destinations and blackholes, over two pages."""
    client = ctx.client("ec2")
    routes = [
        {"DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": "eigw-1", "State": "active"},
        {"DestinationPrefixListId": "pl-s3", "GatewayId": "vpce-1", "State": "active"},
        {"DestinationCidrBlock": "10.8.0.0/16", "TransitGatewayId": "tgw-1", "State": "active"},
        {"DestinationCidrBlock": "10.9.0.0/16", "VpcPeeringConnectionId": "pcx-1", "State": "blackhole"},
        {"DestinationCidrBlock": "10.7.0.0/16", "InstanceId": "i-1", "NetworkInterfaceId": "eni-1",
         "State": "active"},
        {"DestinationCidrBlock": "10.6.0.0/16", "NetworkInterfaceId": "eni-2", "State": "active"},
        {"DestinationCidrBlock": "10.5.0.0/16", "GatewayId": "vgw-1", "State": "active"},
        {"DestinationCidrBlock": "10.4.0.0/16", "State": "blackhole"},
    ]
    page1 = {"RouteTables": [{"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Routes": routes, "Associations": [
        {"Main": False, "SubnetId": "subnet-1", "AssociationState": {"State": "associated"}},
        {"Main": False, "SubnetId": "subnet-2", "AssociationState": {"State": "disassociated"}},
        {"Main": False, "GatewayId": "igw-1", "AssociationState": {"State": "associated"}}]}],
        "NextToken": "t1"}
    page2 = {"RouteTables": [{"RouteTableId": "rtb-2", "VpcId": "vpc-1",
                              "Associations": [{"Main": True}]}]}
    with Stubber(client) as stub:
        stub.add_response("describe_route_tables", page1, {})
        stub.add_response("describe_route_tables", page2, {"NextToken": "t1"})
        tables = list(ec2_collect.route_tables(ctx))
        stub.assert_no_pending_responses()
    first, second = tables
    assert first.attributes["main"] is False
    assert first.attributes["subnet_ids"] == ["subnet-1"]
    assert first.attributes["gateway_ids"] == ["igw-1"]
    assert [(r["destination"], r["target_type"], r["target_id"], r["state"])
            for r in first.attributes["routes"]] == [
        ("::/0", "egress_only_internet_gateway", "eigw-1", "active"),
        ("pl-s3", "vpc_endpoint", "vpce-1", "active"),
        ("10.8.0.0/16", "transit_gateway", "tgw-1", "active"),
        ("10.9.0.0/16", "vpc_peering_connection", "pcx-1", "blackhole"),
        ("10.7.0.0/16", "instance", "i-1", "active"),
        ("10.6.0.0/16", "network_interface", "eni-2", "active"),
        ("10.5.0.0/16", "other", "vgw-1", "active"),
        ("10.4.0.0/16", "other", None, "blackhole")]
    assert (second.id, second.attributes["main"], second.attributes["routes"]) == ("rtb-2", True, [])


def test_denied_vpc_attribute_leaves_it_unknown(ctx):
    client = ctx.client("ec2")
    with Stubber(client) as stub:
        stub.add_response("describe_vpcs", {"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16"}]}, {})
        stub.add_client_error("describe_vpc_attribute", "UnauthorizedOperation",
                              "You are not authorized to perform this operation.", 403)
        stub.add_response("describe_vpc_attribute", {"EnableDnsHostnames": {"Value": True}},
                          {"VpcId": "vpc-1", "Attribute": "enableDnsHostnames"})
        (vpc,) = ec2_collect.vpcs(ctx)
    assert set(vpc.unknown) == {"enable_dns_support"}
    assert vpc.attributes["enable_dns_support"] is None and vpc.attributes["enable_dns_hostnames"] is True
    (fault,) = ctx.faults
    assert (fault.operation, fault.code, fault.category) == ("DescribeVpcAttribute", "UnauthorizedOperation", "denied")


def test_denied_describe_propagates(ctx):
    client = ctx.client("ec2")
    with Stubber(client) as stub:
        stub.add_client_error("describe_security_groups", "UnauthorizedOperation", "denied", 403)
        with pytest.raises(ClientError, match="UnauthorizedOperation"):
            list(ec2_collect.security_groups(ctx))


def test_attributes_are_json(ctx, net):
    fns = (ec2_collect.vpcs, ec2_collect.subnets, ec2_collect.route_tables,
           ec2_collect.internet_gateways, ec2_collect.nat_gateways, ec2_collect.security_groups,
           ec2_collect.network_interfaces, ec2_collect.vpc_endpoints)
    ctx.client("ec2").create_vpc_endpoint(VpcId=net["vpc"], ServiceName="com.amazonaws.us-east-1.s3",
                                          RouteTableIds=[net["rt-private"]])
    resources = [r for fn in fns for r in fn(ctx)]
    assert {r.type for r in resources} == {"vpc", "subnet", "route_table", "internet_gateway",
                                           "nat_gateway", "security_group", "network_interface", "vpc_endpoint"}
    for r in resources:
        assert json.loads(json.dumps(dict(r.attributes))) == dict(r.attributes)


def test_registered_types():
    from auditor.collect import REGISTRY
    produced = {t for c in REGISTRY.values() if c.service == "ec2" for t in c.produces}
    assert produced >= {"vpc", "subnet", "route_table", "internet_gateway", "nat_gateway",
                        "security_group", "network_interface", "vpc_endpoint"}


# ------------------------------------------------------------------ network interfaces


def test_network_interfaces(ctx, net):
    """What moto can create: instance interfaces, interfaces the account creates (whatever their
    description), an Elastic IP association, and the interface moto gives a NAT gateway."""
    ec2 = ctx.client("ec2")
    [instance] = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=net["public-a"],
                                   SecurityGroupIds=[net["sg-app"]])["Instances"]

    def eni(description, groups, **more):
        return ec2.create_network_interface(SubnetId=net["public-a"], Groups=groups, Description=description,
                                            **more)["NetworkInterface"]["NetworkInterfaceId"]

    second = eni("ELB app/looks-like-an-alb/0123", [net["sg-app"]])
    ec2.attach_network_interface(NetworkInterfaceId=second, InstanceId=instance["InstanceId"], DeviceIndex=1)
    spare = eni("ELB web-classic", [net["sg-alb"]], TagSpecifications=[
        {"ResourceType": "network-interface", "Tags": [{"Key": "Name", "Value": "spare"},
                                                       {"Key": "Environment", "Value": "prod"}]}])
    eip = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=eip["AllocationId"], NetworkInterfaceId=spare)
    task = eni("arn:aws:ecs:us-east-1:123456789012:attachment/f6d9fc22-dbaf-4bff-b501-a41b41f27826",
               [net["sg-app"]])

    found = {r.id: r for r in ec2_collect.network_interfaces(ctx)}
    primary = next(r for r in found.values() if r.attributes["instance_id"] == instance["InstanceId"]
                   and r.id != second)
    assert primary.attributes["attached_to"] == "ec2_instance"
    assert primary.attributes["security_group_ids"] == [net["sg-app"]]
    assert primary.attributes["instance_owner_id"] == ctx.account
    assert primary.attributes["attachment_status"] == "attached" and primary.attributes["status"] == "in-use"
    # the account's own description on its own interface: an instance's interface, not an ALB's
    assert found[second].attributes["attached_to"] == "ec2_instance"
    s = found[spare]
    assert (s.name, s.environment) == ("spare", "production")
    assert s.arn == f"arn:aws:ec2:us-east-1:{ctx.account}:network-interface/{spare}"
    want = {"owner_id": ctx.account, "interface_type": "interface", "description": "ELB web-classic",
            "status": "available", "requester_managed": False, "vpc_id": net["vpc"],
            "subnet_id": net["public-a"], "availability_zone": "us-east-1a",
            "public_ip": eip["PublicIp"], "public_ips": [eip["PublicIp"]], "ipv6_addresses": [],
            "source_dest_check": True, "security_group_ids": [net["sg-alb"]], "instance_id": None,
            "instance_owner_id": None, "attachment_status": None,
            # not requester-managed: its description is the account's, not a Classic Load Balancer's
            "attached_to": "other"}
    assert {k: s.attributes[k] for k in want} == want
    assert s.attributes["private_ip_address"].startswith("10.0.0.")
    assert found[task].attributes["attached_to"] == "ecs_task"
    # moto gives a NAT gateway a plain interface in the VPC's default group, without description;
    # AWS's has interface type nat_gateway and no group
    nat = next(r for r in found.values() if r.attributes["public_ip"] == net["eip"])
    assert (nat.attributes["interface_type"], nat.attributes["attached_to"]) == ("interface", "other")


def _api_interface(nid, **fields):
    """A NetworkInterface as DescribeNetworkInterfaces answers it (shape of the botocore model)."""
    return {"NetworkInterfaceId": nid, "OwnerId": "123456789012", "VpcId": "vpc-1", "SubnetId": "subnet-1",
            "AvailabilityZone": "eu-west-1a", "PrivateIpAddress": "10.0.1.10", "Status": "in-use",
            "SourceDestCheck": True, "Ipv6Addresses": [], "TagSet": [], **fields}


def test_network_interfaces_paginated(ctx):
    """Two pages via Stubber (moto answers one page and creates no service-managed interfaces),
    asked for in pages of 1000 and with the managed-resource interfaces."""
    client = ctx.client("ec2")
    nlb = _api_interface(
        "eni-nlb", InterfaceType="network_load_balancer", Description="ELB net/api/50dc6c495c0c9188",
        RequesterId="amazon-elb", RequesterManaged=True,
        Groups=[{"GroupId": "sg-nlb", "GroupName": "nlb"}],
        Association={"IpOwnerId": "amazon", "PublicIp": "52.31.100.50"},
        PrivateIpAddresses=[{"Primary": True, "PrivateIpAddress": "10.0.1.10",
                             "Association": {"IpOwnerId": "amazon", "PublicIp": "52.31.100.50"}},
                            {"Primary": False, "PrivateIpAddress": "10.0.1.11",
                             "Association": {"IpOwnerId": "amazon", "PublicIp": "52.31.100.51"}}],
        Attachment={"AttachmentId": "ela-attach-1", "DeviceIndex": 1, "InstanceOwnerId": "amazon-elb",
                    "Status": "attached"})
    classic = _api_interface("eni-clb", InterfaceType="interface", Description="ELB web-classic",
                             RequesterId="amazon-elb", RequesterManaged=True,
                             Groups=[{"GroupId": "sg-clb", "GroupName": "clb"}])
    db = _api_interface("eni-rds", InterfaceType="interface", Description="RDSNetworkInterface",
                        RequesterId="amazon-rds", RequesterManaged=True, Status="available",
                        Ipv6Addresses=[{"Ipv6Address": "2001:db8::10"}],
                        Groups=[{"GroupId": "sg-db", "GroupName": "db"}])
    web = _api_interface("eni-web", InterfaceType="interface", Description="", RequesterId="AIDAEXAMPLE",
                         RequesterManaged=False, Groups=[{"GroupId": "sg-web", "GroupName": "web"}],
                         TagSet=[{"Key": "Name", "Value": "web-1"}],
                         Attachment={"AttachmentId": "eni-attach-1", "DeviceIndex": 0, "InstanceId": "i-0web",
                                     "InstanceOwnerId": "123456789012", "Status": "attached"})
    with Stubber(client) as stub:
        stub.add_response("describe_network_interfaces",
                          {"NetworkInterfaces": [nlb, classic], "NextToken": "t1"},
                          {"IncludeManagedResources": True, "MaxResults": 1000})
        stub.add_response("describe_network_interfaces", {"NetworkInterfaces": [db, web]},
                          {"IncludeManagedResources": True, "MaxResults": 1000, "NextToken": "t1"})
        found = list(ec2_collect.network_interfaces(ctx))
        stub.assert_no_pending_responses()
    assert [(r.id, r.attributes["attached_to"]) for r in found] == [
        ("eni-nlb", "load_balancer"), ("eni-clb", "load_balancer"), ("eni-rds", "database"),
        ("eni-web", "ec2_instance")]
    a = found[0].attributes
    assert (a["public_ip"], a["public_ips"]) == ("52.31.100.50", ["52.31.100.50", "52.31.100.51"])
    assert (a["requester_id"], a["requester_managed"], a["instance_id"], a["instance_owner_id"],
            a["attachment_status"]) == ("amazon-elb", True, None, "amazon-elb", "attached")
    assert found[2].attributes["ipv6_addresses"] == ["2001:db8::10"]
    assert (found[3].name, found[3].attributes["instance_id"]) == ("web-1", "i-0web")


_ECS_ATTACHMENT = "arn:aws:ecs:eu-central-1:123456789012:attachment/f6d9fc22-dbaf-4bff-b501-a41b41f27826"
_ON_INSTANCE = {"Attachment": {"InstanceId": "i-0123456789abcdef0", "InstanceOwnerId": "123456789012",
                               "DeviceIndex": 0, "Status": "attached"}}
_MANAGED = {"RequesterManaged": True}


@pytest.mark.parametrize("fields,kind", [
    ({"InterfaceType": "interface", "Description": "ELB app/web-alb/50dc6c495c0c9188",
      "RequesterId": "amazon-elb", **_MANAGED}, "load_balancer"),
    ({"InterfaceType": "network_load_balancer", "Description": "ELB net/api-nlb/1a2b3c4d"}, "load_balancer"),
    ({"InterfaceType": "load_balancer"}, "load_balancer"),
    ({"InterfaceType": "interface", "Description": "ELB web-classic", "RequesterId": "amazon-elb", **_MANAGED},
     "load_balancer"),
    ({"InterfaceType": "interface", "Description": "ELB web-classic", **_MANAGED}, "load_balancer"),
    ({"InterfaceType": "interface", "RequesterId": "amazon-elb", **_MANAGED}, "load_balancer"),
    ({"InterfaceType": "gateway_load_balancer", "Description": "ELB gwy/inspection/0a1b2c3d"},
     "gateway_load_balancer"),
    ({"InterfaceType": "interface", "Description": "ELB gwy/inspection/0a1b2c3d", "RequesterId": "amazon-elb",
      **_MANAGED}, "gateway_load_balancer"),
    ({"InterfaceType": "interface", "Description": _ECS_ATTACHMENT, "RequesterId": "628676013162", **_MANAGED,
      "Attachment": {"InstanceOwnerId": "843547988961", "Status": "attached"}}, "ecs_task"),
    ({"InterfaceType": "branch", "Description": _ECS_ATTACHMENT, **_MANAGED}, "ecs_task"),
    ({"InterfaceType": "interface", "Description": _ECS_ATTACHMENT.replace("arn:aws:", "arn:aws-cn:"),
      **_ON_INSTANCE}, "ecs_task"),
    ({"InterfaceType": "interface", "RequesterId": "amazon-ecs", **_MANAGED}, "ecs_task"),
    ({"InterfaceType": "interface", "Description": "RDSNetworkInterface", "RequesterId": "amazon-rds",
      **_MANAGED}, "database"),
    ({"InterfaceType": "interface", "Description": "", "RequesterId": "amazon-rds", **_MANAGED}, "database"),
    ({"InterfaceType": "interface", "Description": "ElastiCache app-redis-001", **_MANAGED}, "cache"),
    ({"InterfaceType": "lambda", "Description": "AWS Lambda VPC ENI-fn-30bb1fd5-e726-4d80-9ff2-52fd62cd548c",
      **_MANAGED}, "lambda"),
    ({"InterfaceType": "interface", "Description": "AWS Lambda VPC ENI-fn-30bb1fd5-e726-4d80-9ff2-52fd62cd548c",
      "RequesterId": "AROAEXAMPLE:awslambda_123", **_MANAGED}, "lambda"),
    ({"InterfaceType": "nat_gateway", "Description": "Interface for NAT Gateway nat-02d216882c09db8e6",
      "Attachment": {"InstanceOwnerId": "amazon-aws", "Status": "attached"}}, "nat_gateway"),
    ({"InterfaceType": "natGateway"}, "nat_gateway"),
    ({"InterfaceType": "interface", "Description": "Interface for NAT Gateway nat-02d216882c09db8e6",
      **_MANAGED}, "nat_gateway"),
    ({"InterfaceType": "vpc_endpoint", "Description": "VPC Endpoint Interface vpce-078221a1e27d1ea5b"},
     "vpc_endpoint"),
    ({"InterfaceType": "interface", "Description": "VPC Endpoint Interface vpce-0d8ddce4be80e4474", **_MANAGED},
     "vpc_endpoint"),
    ({"InterfaceType": "gateway_load_balancer_endpoint"}, "vpc_endpoint"),
    ({"InterfaceType": "interface", "Description": "", **_ON_INSTANCE}, "ec2_instance"),
    ({"InterfaceType": "trunk", **_ON_INSTANCE}, "ec2_instance"),
    ({"InterfaceType": "efa", **_ON_INSTANCE}, "ec2_instance"),
    ({"Description": "Primary network interface", **_ON_INSTANCE}, "ec2_instance"),
    # the account's own descriptions do not make a load balancer
    ({"InterfaceType": "interface", "Description": "ELB bastion", **_ON_INSTANCE}, "ec2_instance"),
    ({"InterfaceType": "interface", "Description": "ELB app/fake/1", "RequesterManaged": False}, "other"),
    ({"InterfaceType": "transit_gateway",
      "Description": "Network Interface for Transit Gateway Attachment tgw-attach-0123"}, "other"),
    ({"InterfaceType": "api_gateway_managed", **_MANAGED}, "other"),
    ({"InterfaceType": "efs", "Description": "EFS mount target for fs-0123 (fsmt-0456)", **_MANAGED}, "other"),
    ({"InterfaceType": "interface", "Description": "EFS mount target for fs-0123 (fsmt-0456)", **_MANAGED},
     "other"),
    ({"InterfaceType": "interface", "Description": "spare", "Status": "available"}, "other"),
    ({}, "other"),
])
def test_interface_kind(fields, kind):
    assert ec2_collect.interface_kind(_api_interface("eni-1", **fields)) == kind
