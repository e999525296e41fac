"""EC2 networking: VPCs, subnets, route tables, internet and NAT gateways, security groups,
network interfaces, VPC endpoints.

Every resource carries its tags (``name`` is the Name tag; security groups fall back to the
group name). Each type is described (attributes, volatile ones...) by its ``ResourceType`` below.
The meaning of attributes where the name does not say it:

- ``vpc``: cidr_blocks are the associated IPv4 CIDRs.
- ``route_table``: main (has the Main association), subnet_ids (explicit subnet associations),
  gateway_ids (edge associations); each route's destination is an IPv4/IPv6 CIDR or a prefix-list
  id, its target_type internet_gateway, nat_gateway, local, egress_only_internet_gateway,
  transit_gateway, vpc_peering_connection, network_interface, instance, vpc_endpoint or other, its
  state active or blackhole.
- ``internet_gateway``: vpc_ids are the attached VPCs.
- ``nat_gateway``: deleted ones are skipped.
- ``security_group``: ingress and egress are flat lists with one entry per permission and source:
  protocol is "-1" for all, else tcp/udp/icmp/icmpv6 or the protocol number as a string; from_port
  and to_port are ints, None when protocol is "-1" or the port is absent; source_kind is cidr,
  cidr_ipv6, group or prefix_list.
- ``network_interface`` (every elastic network interface, those that AWS services create in the
  VPC included): requester_id is the account or service alias that created it; public_ip is the
  primary address's association, public_ips every associated public IPv4 address;
  attachment_status is None when detached; ``attached_to`` is the kind of resource behind it
  (:func:`interface_kind`): load_balancer (Application, Network or Classic Load Balancer),
  gateway_load_balancer, ecs_task, database (RDS), cache (ElastiCache), lambda, nat_gateway,
  vpc_endpoint, ec2_instance or other.
- ``vpc_endpoint`` (interface, gateway and Gateway Load Balancer endpoints; deleted ones are
  skipped): policy_document is the endpoint policy as a JSON object (None without one).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ..attributes import many, shape
from ..model import Resource
from . import CollectContext, Item, collector, isoformat, tag_dict
from .types import Dimensions, Edge, ResourceType

PERMISSION = many("protocol:str from_port:int to_port:int source_kind:cidr|cidr_ipv6|group|prefix_list cidr:str group_id:str "
                  "group_owner_id:str prefix_list_id:str description:str")
"""An ingress or egress entry of a security group."""
_ARN = "arn:{partition}:ec2:{region}:{account}:"


def _in_vpc(rtype: str, attribute: str = "vpc_id") -> Edge:
    """The ``rtype`` resources whose ``attribute`` names the VPC."""
    return Edge(rtype, attribute, back=True)


VPC = ResourceType(
    "vpc", "ec2", _ARN + "vpc/{id}",
    calls=("DescribeVpcs", "DescribeVpcAttribute"),
    attributes=shape("owner_id:str cidr_block:str cidr_blocks:[str] ipv6_cidr_blocks:[str] is_default:bool "
                     "state:pending|available|deleting instance_tenancy:default|dedicated|host dhcp_options_id:str "
                     "enable_dns_support:bool enable_dns_hostnames:bool"),
    contains=(_in_vpc("subnet"), _in_vpc("route_table"), _in_vpc("nat_gateway"), _in_vpc("internet_gateway", "vpc_ids"),
              _in_vpc("security_group"), _in_vpc("vpc_endpoint")))
SUBNET = ResourceType(
    "subnet", "ec2", _ARN + "subnet/{id}",
    calls=("DescribeSubnets",),
    attributes=shape("owner_id:str vpc_id:str cidr_block:str ipv6_cidr_blocks:[str] availability_zone:str "
                     "availability_zone_id:str map_public_ip_on_launch:bool assign_ipv6_address_on_creation:bool "
                     "default_for_az:bool state:pending|available|unavailable|failed|failed-insufficient-capacity "
                     "available_ip_address_count:int"),
    volatile=("available_ip_address_count",))
ROUTE_TABLE = ResourceType(
    "route_table", "ec2", _ARN + "route-table/{id}",
    calls=("DescribeRouteTables",),
    attributes=shape("owner_id:str vpc_id:str main:bool subnet_ids:[str] gateway_ids:[str]", routes=many(
        "destination:str target_type:internet_gateway|nat_gateway|local|egress_only_internet_gateway|transit_gateway|"
        "vpc_peering_connection|network_interface|instance|vpc_endpoint|other target_id:str state:active|blackhole|filtered "
        "origin:CreateRouteTable|CreateRoute|EnableVgwRoutePropagation|Advertisement")))
INTERNET_GATEWAY = ResourceType(
    "internet_gateway", "ec2", _ARN + "internet-gateway/{id}",
    calls=("DescribeInternetGateways",),
    attributes=shape("owner_id:str vpc_ids:[str]", attachments=many("vpc_id:str state:str")))
NAT_GATEWAY = ResourceType(
    "nat_gateway", "ec2", _ARN + "natgateway/{id}",
    calls=("DescribeNatGateways",),
    attributes=shape("vpc_id:str subnet_id:str state:pending|failed|available|deleting|deleted connectivity_type:private|public "
                     "public_ips:[str] private_ips:[str] allocation_ids:[str]"),
    owns=(Edge("subnet", "subnet_id"),),
    cost="nat_gateway")
SECURITY_GROUP = ResourceType(
    "security_group", "ec2", _ARN + "security-group/{id}",
    calls=("DescribeSecurityGroups",),
    attributes=shape("owner_id:str group_name:str description:str vpc_id:str", ingress=PERMISSION, egress=PERMISSION))
NETWORK_INTERFACE = ResourceType(
    "network_interface", "ec2", _ARN + "network-interface/{id}",
    calls=("DescribeNetworkInterfaces",),
    attributes=shape(
        "owner_id:str interface_type:str description:str status:available|associated|attaching|in-use|detaching "
        "requester_id:str requester_managed:bool vpc_id:str subnet_id:str availability_zone:str private_ip_address:str "
        "public_ip:str public_ips:[str] ipv6_addresses:[str] source_dest_check:bool security_group_ids:[str] instance_id:str "
        "instance_owner_id:str attachment_status:attaching|attached|detaching|detached attached_to:load_balancer|"
        "gateway_load_balancer|ecs_task|database|cache|lambda|nat_gateway|vpc_endpoint|ec2_instance|other"),
    transient=True)   # one per running task, load balancer node, ...: churns with them
VPC_ENDPOINT = ResourceType(
    "vpc_endpoint", "ec2", _ARN + "vpc-endpoint/{id}",
    calls=("DescribeVpcEndpoints",),
    attributes=shape("owner_id:str vpc_id:str service_name:str vpc_endpoint_type:Interface|Gateway|GatewayLoadBalancer|"
                     "Resource|ServiceNetwork|Tunnel state:str subnet_ids:[str] route_table_ids:[str] security_group_ids:[str] "
                     "network_interface_ids:[str] private_dns_enabled:bool requester_managed:bool "
                     "ip_address_type:ipv4|dualstack|ipv6 policy_document:map created_at:time"),
    volatile=("state",),
    alarms=(Dimensions("AWS/PrivateLinkEndpoints", {"VPC Endpoint Id": "id"}),),
    owns=(Edge("security_group", via="security_groups"), Edge("subnet", "subnet_ids")))

_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}

# Route target fields in priority order: an instance route also names its network interface.
_ROUTE_TARGETS = (
    ("NatGatewayId", "nat_gateway"),
    ("EgressOnlyInternetGatewayId", "egress_only_internet_gateway"),
    ("TransitGatewayId", "transit_gateway"),
    ("VpcPeeringConnectionId", "vpc_peering_connection"),
    ("InstanceId", "instance"),
    ("NetworkInterfaceId", "network_interface"),
    ("CarrierGatewayId", "other"),
    ("LocalGatewayId", "other"),
    ("CoreNetworkArn", "other"),
)


def _associated(items: list[Mapping[str, Any]] | None, key: str, state_key: str) -> list[str]:
    """Values of ``key`` in CIDR association sets, skipping disassociated/failed ones."""
    out = []
    for item in items or []:
        state = (item.get(state_key) or {}).get("State")
        if item.get(key) and state in (None, "associated", "associating"):
            out.append(item[key])
    return out


def _arn(ctx: CollectContext, rtype: ResourceType, rid: str, owner: str | None) -> str:
    partition = ctx.aws.session.get_partition_for_region(ctx.region) or "aws"
    return rtype.format_arn(partition=partition, region=ctx.region, account=owner or ctx.account, id=rid)


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


@collector(VPC)
def vpcs(ctx: CollectContext) -> Iterator[Resource]:
    ec2 = ctx.client("ec2")
    for v in ctx.paginate("ec2", "describe_vpcs", "Vpcs"):
        vpc_id = v["VpcId"]
        with ctx.item("ec2", "vpc", vpc_id, gone=("InvalidVpcID.NotFound",)) as item:
            dns = {name: _vpc_attribute(item, ec2, attribute, key, name) for attribute, key, name in _DNS_ATTRIBUTES}
            yield _vpc(item, v, dns)


# describe_vpc_attribute: its Attribute, the key of its answer, the attribute it gives
_DNS_ATTRIBUTES = (("enableDnsSupport", "EnableDnsSupport", "enable_dns_support"),
                   ("enableDnsHostnames", "EnableDnsHostnames", "enable_dns_hostnames"))


def _vpc_attribute(item: Item, ec2: Any, attribute: str, key: str, name: str) -> bool | None:
    """One ``describe_vpc_attribute`` answer as a bool (None when the call failed: ``name`` unknown)."""
    reply = item.call((name,), ec2.describe_vpc_attribute, VpcId=item.id, Attribute=attribute) or {}
    return _bool((reply.get(key) or {}).get("Value"))


def _vpc(item: Item, v: Mapping[str, Any], dns: dict[str, bool | None]) -> Resource:
    vpc_id = v["VpcId"]
    tags = tag_dict(v.get("Tags"))
    return item.resource(
        arn=_arn(item.ctx, VPC, vpc_id, v.get("OwnerId")), name=tags.get("Name"),
        tags=tags,
        owner_id=v.get("OwnerId"),
        cidr_block=v.get("CidrBlock"),
        cidr_blocks=_associated(v.get("CidrBlockAssociationSet"), "CidrBlock", "CidrBlockState")
        or ([v["CidrBlock"]] if v.get("CidrBlock") else []),
        ipv6_cidr_blocks=_associated(v.get("Ipv6CidrBlockAssociationSet"), "Ipv6CidrBlock",
                                     "Ipv6CidrBlockState"),
        is_default=bool(v.get("IsDefault", False)),
        state=v.get("State"),
        instance_tenancy=v.get("InstanceTenancy"),
        dhcp_options_id=v.get("DhcpOptionsId"),
        **dns,
    )


@collector(SUBNET)
def subnets(ctx: CollectContext) -> Iterator[Resource]:
    for s in ctx.paginate("ec2", "describe_subnets", "Subnets"):
        tags = tag_dict(s.get("Tags"))
        yield ctx.resource(
            "subnet", s["SubnetId"],
            arn=s.get("SubnetArn") or _arn(ctx, SUBNET, s["SubnetId"], s.get("OwnerId")),
            name=tags.get("Name"), tags=tags,
            owner_id=s.get("OwnerId"),
            vpc_id=s.get("VpcId"),
            cidr_block=s.get("CidrBlock"),
            ipv6_cidr_blocks=_associated(s.get("Ipv6CidrBlockAssociationSet"), "Ipv6CidrBlock",
                                         "Ipv6CidrBlockState"),
            availability_zone=s.get("AvailabilityZone"),
            availability_zone_id=s.get("AvailabilityZoneId"),
            map_public_ip_on_launch=bool(s.get("MapPublicIpOnLaunch", False)),
            assign_ipv6_address_on_creation=bool(s.get("AssignIpv6AddressOnCreation", False)),
            default_for_az=bool(s.get("DefaultForAz", False)),
            state=s.get("State"),
            available_ip_address_count=s.get("AvailableIpAddressCount"),
        )


def _route(r: Mapping[str, Any]) -> dict[str, Any]:
    destination = (r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock")
                   or r.get("DestinationPrefixListId"))
    target_type, target_id = "other", None
    gateway = r.get("GatewayId")
    if gateway:
        target_id = gateway
        if gateway == "local":
            target_type = "local"
        elif gateway.startswith("igw-"):
            target_type = "internet_gateway"
        elif gateway.startswith("vpce-"):
            target_type = "vpc_endpoint"
    else:
        for key, kind in _ROUTE_TARGETS:
            if r.get(key):
                target_type, target_id = kind, r[key]
                break
    return {"destination": destination, "target_type": target_type, "target_id": target_id,
            "state": r.get("State"), "origin": r.get("Origin")}


@collector(ROUTE_TABLE)
def route_tables(ctx: CollectContext) -> Iterator[Resource]:
    for t in ctx.paginate("ec2", "describe_route_tables", "RouteTables"):
        assocs = [a for a in t.get("Associations") or []
                  if (a.get("AssociationState") or {}).get("State") in (None, "associated", "associating")]
        tags = tag_dict(t.get("Tags"))
        yield ctx.resource(
            "route_table", t["RouteTableId"],
            arn=_arn(ctx, ROUTE_TABLE, t["RouteTableId"], t.get("OwnerId")),
            name=tags.get("Name"), tags=tags,
            owner_id=t.get("OwnerId"),
            vpc_id=t.get("VpcId"),
            main=any(a.get("Main") for a in assocs),
            subnet_ids=[a["SubnetId"] for a in assocs if a.get("SubnetId")],
            gateway_ids=[a["GatewayId"] for a in assocs if a.get("GatewayId")],
            routes=[_route(r) for r in t.get("Routes") or []],
        )


@collector(INTERNET_GATEWAY)
def internet_gateways(ctx: CollectContext) -> Iterator[Resource]:
    for g in ctx.paginate("ec2", "describe_internet_gateways", "InternetGateways"):
        attachments = [{"vpc_id": a.get("VpcId"), "state": a.get("State")}
                       for a in g.get("Attachments") or []]
        tags = tag_dict(g.get("Tags"))
        gid = g["InternetGatewayId"]
        yield ctx.resource(
            "internet_gateway", gid, arn=_arn(ctx, INTERNET_GATEWAY, gid, g.get("OwnerId")),
            name=tags.get("Name"), tags=tags,
            owner_id=g.get("OwnerId"),
            # An attached gateway reports "available" (sometimes "attached").
            vpc_ids=[a["vpc_id"] for a in attachments
                     if a["vpc_id"] and a["state"] not in ("detaching", "detached")],
            attachments=attachments,
        )


@collector(NAT_GATEWAY)
def nat_gateways(ctx: CollectContext) -> Iterator[Resource]:
    for n in ctx.paginate("ec2", "describe_nat_gateways", "NatGateways"):
        if n.get("State") == "deleted":
            continue
        addresses = n.get("NatGatewayAddresses") or []
        tags = tag_dict(n.get("Tags"))
        nid = n["NatGatewayId"]
        yield ctx.resource(
            "nat_gateway", nid, arn=_arn(ctx, NAT_GATEWAY, nid, None),
            name=tags.get("Name"), tags=tags,
            vpc_id=n.get("VpcId"),
            subnet_id=n.get("SubnetId"),
            state=n.get("State"),
            connectivity_type=n.get("ConnectivityType"),
            public_ips=[a["PublicIp"] for a in addresses if a.get("PublicIp")],
            private_ips=[a["PrivateIp"] for a in addresses if a.get("PrivateIp")],
            allocation_ids=[a["AllocationId"] for a in addresses if a.get("AllocationId")],
        )


def _port(value: Any) -> int | None:
    return None if value is None else int(value)


def _source(kind: str, description: Any, cidr: str | None = None, group_id: str | None = None,
            group_owner_id: str | None = None, prefix_list_id: str | None = None) -> dict[str, Any]:
    return {"source_kind": kind, "cidr": cidr, "group_id": group_id,
            "group_owner_id": group_owner_id, "prefix_list_id": prefix_list_id,
            "description": description or None}


def _permissions(perms: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """One flat entry per (permission x source)."""
    out = []
    for p in perms or []:
        proto = str(p.get("IpProtocol", "-1")).lower()
        proto = _PROTOCOLS.get(proto, proto)
        all_traffic = proto == "-1"
        base = {"protocol": proto,
                "from_port": None if all_traffic else _port(p.get("FromPort")),
                "to_port": None if all_traffic else _port(p.get("ToPort"))}
        sources = (
            [_source("cidr", r.get("Description"), cidr=r.get("CidrIp"))
             for r in p.get("IpRanges") or []]
            + [_source("cidr_ipv6", r.get("Description"), cidr=r.get("CidrIpv6"))
               for r in p.get("Ipv6Ranges") or []]
            + [_source("group", g.get("Description"), group_id=g.get("GroupId"),
                       group_owner_id=g.get("UserId"))
               for g in p.get("UserIdGroupPairs") or []]
            + [_source("prefix_list", pl.get("Description"), prefix_list_id=pl.get("PrefixListId"))
               for pl in p.get("PrefixListIds") or []]
        )
        out.extend({**base, **src} for src in sources)
    return out


@collector(SECURITY_GROUP)
def security_groups(ctx: CollectContext) -> Iterator[Resource]:
    for g in ctx.paginate("ec2", "describe_security_groups", "SecurityGroups"):
        tags = tag_dict(g.get("Tags"))
        gid = g["GroupId"]
        yield ctx.resource(
            "security_group", gid,
            arn=g.get("SecurityGroupArn") or _arn(ctx, SECURITY_GROUP, gid, g.get("OwnerId")),
            name=tags.get("Name") or g.get("GroupName"), tags=tags,
            owner_id=g.get("OwnerId"),
            group_name=g.get("GroupName"),
            description=g.get("Description"),
            vpc_id=g.get("VpcId"),
            ingress=_permissions(g.get("IpPermissions")),
            egress=_permissions(g.get("IpPermissionsEgress")),
        )


# InterfaceType values that AWS sets on the interfaces its services create (a caller can only
# create interface, efa, efa-only and trunk ones). The API model spells the NAT gateway's
# ``natGateway``; DescribeNetworkInterfaces answers (and filters on) ``nat_gateway``.
_KIND_OF_INTERFACE_TYPE = {
    "load_balancer": "load_balancer",
    "network_load_balancer": "load_balancer",
    "gateway_load_balancer": "gateway_load_balancer",
    "gateway_load_balancer_endpoint": "vpc_endpoint",
    "vpc_endpoint": "vpc_endpoint",
    "lambda": "lambda",
    "nat_gateway": "nat_gateway",
    "natGateway": "nat_gateway",
}
# Types that say nothing of the resource behind: the description, requester and attachment do.
# Any other type (transit_gateway, api_gateway_managed, quicksight, efs, ...) is another AWS
# service's interface: ``other``.
_PLAIN_INTERFACE_TYPES = frozenset({"interface", "efa", "efa-only", "trunk", "branch"})
# Service aliases in RequesterId (AWS sets it; a caller cannot choose it).
_KIND_OF_REQUESTER = {
    "amazon-elb": "load_balancer",
    "amazon-rds": "database",
    "amazon-ecs": "ecs_task",
}
# Descriptions the services give their interfaces, matched from the start.
_KIND_OF_DESCRIPTION = (
    (re.compile(r"ELB (app|net)/"), "load_balancer"),        # ELB app/<name>/<id>, ELB net/<name>/<id>
    (re.compile(r"ELB gwy/"), "gateway_load_balancer"),
    (re.compile(r"ELB [A-Za-z0-9-]+$"), "load_balancer"),    # a Classic Load Balancer: ELB <name>
    (re.compile(r"arn:aws[a-z-]*:ecs:"), "ecs_task"),         # the task's attachment ARN
    (re.compile(r"RDSNetworkInterface$"), "database"),
    (re.compile(r"ElastiCache "), "cache"),                   # ElastiCache <cluster-id>
    (re.compile(r"AWS Lambda VPC ENI"), "lambda"),
    (re.compile(r"Interface for NAT Gateway "), "nat_gateway"),
    (re.compile(r"VPC Endpoint Interface "), "vpc_endpoint"),
)


def interface_kind(ni: Mapping[str, Any]) -> str:
    """What a network interface (a DescribeNetworkInterfaces ``NetworkInterface``) belongs to.

    In order: an interface type that names a service; the service's description; a service
    alias as requester; an attachment to an EC2 instance (``ec2_instance``); else ``other``.
    A description counts only on a requester-managed interface (one that a service created and
    whose description nobody can change), except an ECS task's attachment ARN, which also names
    awsvpc task interfaces on EC2 container instances: an interface that the account created
    and described "ELB proxy" is no load balancer's.
    """
    itype = ni.get("InterfaceType")
    if itype in _KIND_OF_INTERFACE_TYPE:
        return _KIND_OF_INTERFACE_TYPE[itype]
    if itype and itype not in _PLAIN_INTERFACE_TYPES:
        return "other"
    description = ni.get("Description") or ""
    for pattern, kind in _KIND_OF_DESCRIPTION:
        if pattern.match(description) and (ni.get("RequesterManaged") or kind == "ecs_task"):
            return kind
    requester = ni.get("RequesterId")
    if requester in _KIND_OF_REQUESTER:
        return _KIND_OF_REQUESTER[requester]
    instance_id = (ni.get("Attachment") or {}).get("InstanceId") or ""
    return "ec2_instance" if instance_id.startswith("i-") else "other"


def _public_ips(ni: Mapping[str, Any]) -> list[str]:
    """Every public IPv4 address associated with the interface, the primary address's first."""
    ips = [(ni.get("Association") or {}).get("PublicIp")]
    ips += [(a.get("Association") or {}).get("PublicIp") for a in ni.get("PrivateIpAddresses") or []]
    return list(dict.fromkeys(ip for ip in ips if ip))


@collector(NETWORK_INTERFACE)
def network_interfaces(ctx: CollectContext) -> Iterator[Resource]:
    # Explicit pages: without MaxResults, AWS answers in one piece, or not at all when the account
    # has many interfaces. Interfaces of AWS-managed resources are hidden when the account's
    # managed-resource visibility says so, unless asked for (a parameter newer botocore knows).
    inputs = ctx.client("ec2").meta.service_model.operation_model("DescribeNetworkInterfaces").input_shape
    kwargs: dict[str, Any] = {"PaginationConfig": {"PageSize": 1000}}
    if "IncludeManagedResources" in inputs.members:
        kwargs["IncludeManagedResources"] = True
    for ni in ctx.paginate("ec2", "describe_network_interfaces", "NetworkInterfaces", **kwargs):
        tags = tag_dict(ni.get("TagSet"))
        nid = ni["NetworkInterfaceId"]
        attachment = ni.get("Attachment") or {}
        yield ctx.resource(
            "network_interface", nid, arn=_arn(ctx, NETWORK_INTERFACE, nid, ni.get("OwnerId")),
            name=tags.get("Name"), tags=tags,
            owner_id=ni.get("OwnerId"),
            interface_type=ni.get("InterfaceType"),
            description=ni.get("Description") or None,
            status=ni.get("Status"),
            requester_id=ni.get("RequesterId"),
            requester_managed=bool(ni.get("RequesterManaged", False)),
            vpc_id=ni.get("VpcId"),
            subnet_id=ni.get("SubnetId"),
            availability_zone=ni.get("AvailabilityZone"),
            private_ip_address=ni.get("PrivateIpAddress"),
            public_ip=(ni.get("Association") or {}).get("PublicIp"),
            public_ips=_public_ips(ni),
            ipv6_addresses=[a["Ipv6Address"] for a in ni.get("Ipv6Addresses") or [] if a.get("Ipv6Address")],
            source_dest_check=_bool(ni.get("SourceDestCheck")),
            security_group_ids=[g["GroupId"] for g in ni.get("Groups") or [] if g.get("GroupId")],
            instance_id=attachment.get("InstanceId"),
            instance_owner_id=attachment.get("InstanceOwnerId"),
            attachment_status=attachment.get("Status"),
            attached_to=interface_kind(ni),
        )


@collector(VPC_ENDPOINT)
def vpc_endpoints(ctx: CollectContext) -> Iterator[Resource]:
    for e in ctx.paginate("ec2", "describe_vpc_endpoints", "VpcEndpoints"):
        if str(e.get("State")).lower() == "deleted":
            continue
        tags = tag_dict(e.get("Tags"))
        eid = e["VpcEndpointId"]
        yield ctx.resource(
            "vpc_endpoint", eid, arn=_arn(ctx, VPC_ENDPOINT, eid, e.get("OwnerId")),
            name=tags.get("Name"), tags=tags,
            owner_id=e.get("OwnerId"),
            vpc_id=e.get("VpcId"),
            service_name=e.get("ServiceName"),
            vpc_endpoint_type=e.get("VpcEndpointType"),
            state=e.get("State"),
            subnet_ids=list(e.get("SubnetIds") or []),
            route_table_ids=list(e.get("RouteTableIds") or []),
            security_group_ids=[g["GroupId"] for g in e.get("Groups") or [] if g.get("GroupId")],
            network_interface_ids=list(e.get("NetworkInterfaceIds") or []),
            private_dns_enabled=_bool(e.get("PrivateDnsEnabled")),
            requester_managed=_bool(e.get("RequesterManaged")),
            ip_address_type=e.get("IpAddressType"),
            policy_document=_policy(e.get("PolicyDocument")),
            created_at=isoformat(e.get("CreationTimestamp")),
        )


def _policy(document: str | None) -> Any:
    """An endpoint policy as a JSON object (None without one; the text itself if it is not JSON)."""
    if not document:
        return None
    try:
        return json.loads(document)
    except ValueError:
        return document
