"""Create a documented deployment in an (emulated) AWS account from a declarative spec.

A spec is a tree of the dataclasses below (:class:`Spec` at the root); ``architectures.py``
holds one per architecture document. :func:`build` turns a spec into resources with plain
boto3 calls, so it works under ``mock_aws``, against a moto server (``AWS_ENDPOINT_URL``)
and, in principle, against a real sandbox account.

Conventions
* Tagging style (``Spec.tagging``, or ``build(..., tagging=...)`` which overrides it):

  - ``"all"`` (default): every resource that takes tags gets ``Project=<project>``,
    ``Environment=<environment>`` and a ``Name`` tag (plus ``Tier`` on subnets and route tables).
  - ``"owners"``: only the owners of a deployment carry ``Project``/``Environment`` (and
    ``Name``): the VPC, the ECS cluster and services, the load balancer, the RDS instance, the
    ElastiCache replication group and the ECR repositories (:data:`OWNER_KINDS`). EC2 resources
    that are not owners (subnets, route tables, internet and NAT gateways, Elastic IPs, security
    groups) keep only their ``Name`` (and ``Tier``) tag, the natural name in the console; every
    other resource (listeners and their rules, target groups, certificates, task definitions,
    IAM roles, secrets, log groups, alarms, the SNS topic, DB/cache subnet and parameter
    groups) gets no tags at all. An audit has to reach those through their owners.
* Several deployments in one account: resources an account holds once by name and that
  environments of one document may share (secrets, log groups, ECR repositories:
  :data:`SHARED_KINDS`) are not created again when they already exist; the deployment records
  the existing one and lists its key in ``Deployment.reused``. Every other account-unique name
  (cluster, load balancer, target groups, database, cache, roles, alarms, dashboards, ...) must
  differ: :func:`name_collisions` lists the clashes between specs (nothing is renamed: a
  document that gives such a name without an environment describes one environment per account).
* References between spec objects use logical keys: a security-group rule source
  ``"sg:ecs"`` names the group whose ``key`` is ``ecs``; any other source is a CIDR. Services
  name their task definition, target group and security groups by key; alarm dimensions use
  ``"@..."`` references resolved after creation (see :data:`DIMENSION_REFS`).
* ``SecurityGroup.egress=None`` keeps AWS's default allow-all egress rule; a list (possibly
  empty, "deny all outbound") replaces it.
* Route tables: one for the public tier (0.0.0.0/0 -> internet gateway); the app tier routes
  0.0.0.0/0 to a NAT gateway (one table per AZ when there is a NAT gateway per AZ, else one
  table); the db tier has its own table with local routes only.
* Regions: everything region-specific derives from ``Spec.region``: a subnet names its zone by
  letter (``a`` is ``eu-west-1a`` in eu-west-1), policy documents write ``REGION``,
  ``PARTITION`` and ``ACCOUNT_ID`` for the region, its partition and the account, ECR image
  URIs come from the repository the region's ECR answers with.

:func:`build` returns a :class:`Deployment`: ids/ARNs by logical key, e.g. ``vpc``,
``subnet:<name>``, ``sg:<key>``, ``cluster``, ``service:<key>``, ``alb``, ``tg:<key>``,
``listener:http``/``listener:https``, ``certificate``, ``db``, ``cache``, ``alarm:<name>``,
``repo:<name>``, ``secret:<name>``, ``log_group:<name>``, ``role:<key>``.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from botocore.exceptions import ClientError

TIERS = ("public", "app", "db")
TAGGING = ("all", "owners")
# Resources that carry Project/Environment under the "owners" tagging style.
OWNER_KINDS = frozenset({"vpc", "cluster", "service", "load_balancer", "db", "cache", "repository"})
# Non-owners that keep a Name tag (the name the EC2 console shows) under "owners".
NAME_TAGGED_KINDS = frozenset({"subnet", "route_table", "internet_gateway", "nat_gateway", "elastic_ip",
                               "security_group"})
# Named once per account and shareable between environments: reused when they already exist.
SHARED_KINDS = ("secret", "log_group", "repository")
DEFAULT_REGION = "us-east-1"


# ------------------------------------------------------------------------------ spec classes
@dataclass
class Subnet:
    name: str
    cidr: str
    zone: str  # zone letter: the subnet is in availability zone <region><zone>
    tier: str  # one of TIERS: public (ALB, NAT), app (ECS tasks), db (RDS, ElastiCache)


@dataclass
class Network:
    name: str
    cidr: str
    subnets: list[Subnet]
    nat_gateways: int = 1  # placed in the first N public subnets
    dns_support: bool = True
    dns_hostnames: bool = True


@dataclass
class Rule:
    """One security-group rule: ``port`` (int, (from, to) or None for all traffic), a source or
    destination (``sg:<key>`` or a CIDR) and a description."""
    port: int | tuple[int, int] | None
    peer: str
    description: str = ""
    protocol: str = "tcp"


@dataclass
class SecurityGroup:
    key: str
    name: str
    description: str
    ingress: list[Rule] = field(default_factory=list)
    egress: list[Rule] | None = None  # None: AWS default (all traffic to 0.0.0.0/0)


@dataclass
class Role:
    key: str
    name: str
    service: str = "ecs-tasks.amazonaws.com"  # trusted principal
    policy: dict | None = None  # inline policy document; ACCOUNT_ID, REGION and PARTITION are filled in


@dataclass
class TaskDefinition:
    key: str
    family: str
    cpu: int
    memory: int
    container_name: str
    container_port: int
    log_group: str
    image: str = ""  # default: <ECR repository URI>:latest of the first repository
    repository: str | None = None  # ECR repository name whose image the task runs
    environment: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # env var -> Secrets Manager secret name
    execution_role: str | None = None  # role keys
    task_role: str | None = None
    user: str | None = None  # the container's user (UID[:GID] or name); None: the image's USER


@dataclass
class Scaling:
    min_capacity: int
    max_capacity: int
    cpu_target: float | None = None
    memory_target: float | None = None
    scale_out_cooldown: int = 60
    scale_in_cooldown: int = 300


@dataclass
class Service:
    key: str
    name: str
    task: str  # TaskDefinition.key
    desired_count: int
    security_groups: list[str]  # SecurityGroup keys
    target_group: str | None = None  # TargetGroup.key
    subnet_tier: str = "app"
    minimum_healthy_percent: int = 100
    maximum_percent: int = 200
    circuit_breaker: bool = False
    rollback: bool = False
    health_check_grace_period: int | None = None
    scaling: Scaling | None = None
    discovery_namespace: str | None = None  # Cloud Map private DNS namespace the service registers in


@dataclass
class Cluster:
    name: str
    container_insights: bool = False


@dataclass
class HealthCheck:
    path: str = "/"
    interval: int = 30
    timeout: int = 5
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"
    port: str = "traffic-port"


@dataclass
class TargetGroup:
    key: str
    name: str
    port: int
    health_check: HealthCheck = field(default_factory=HealthCheck)
    stickiness_seconds: int | None = None  # lb_cookie stickiness when set


@dataclass
class ListenerRule:
    priority: int
    path_patterns: list[str]
    target_group: str


@dataclass
class LoadBalancer:
    name: str
    security_groups: list[str]
    default_target_group: str
    http: str = "redirect"  # "redirect" (301 to HTTPS) or "forward"
    https: bool = True
    certificate_domain: str = "example.com"
    certificate_sans: list[str] = field(default_factory=list)
    ssl_policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    rules: list[ListenerRule] = field(default_factory=list)
    internet_facing: bool = True
    idle_timeout: int = 60
    deletion_protection: bool = False


@dataclass
class Database:
    identifier: str
    engine_version: str
    instance_class: str
    allocated_storage: int
    max_allocated_storage: int | None = None
    storage_type: str = "gp3"
    iops: int | None = None  # sent only where AWS accepts it (io1/io2, or gp3 >= 400 GiB);
    throughput: int | None = None  # below that, gp3 has a 3000 IOPS / 125 MiB/s baseline
    multi_az: bool = False
    encrypted: bool = True
    backup_retention: int = 7
    backup_window: str = "03:00-04:00"
    maintenance_window: str = "sun:04:30-sun:05:30"
    deletion_protection: bool = False
    performance_insights: bool = False
    monitoring_interval: int = 0
    log_exports: list[str] = field(default_factory=list)
    db_name: str = "app"
    username: str = "dbadmin"
    port: int = 5432
    security_groups: list[str] = field(default_factory=list)
    subnet_tier: str = "db"
    subnet_group: str = ""  # default: <identifier>-subnets
    parameter_group: str = ""  # default: <identifier>-params
    parameter_family: str = ""  # default: postgres<major>
    parameters: dict[str, str] = field(default_factory=dict)
    auto_minor_version_upgrade: bool = True


@dataclass
class Cache:
    replication_group_id: str
    engine_version: str
    node_type: str
    num_cache_clusters: int = 1
    automatic_failover: bool = False
    multi_az: bool = False
    at_rest_encryption: bool = True
    transit_encryption: bool = False
    snapshot_retention: int = 0
    snapshot_window: str = "03:00-05:00"
    maintenance_window: str = "sun:05:00-sun:06:00"
    security_groups: list[str] = field(default_factory=list)
    subnet_tier: str = "db"
    subnet_group: str = ""  # default: <id>-subnets
    parameter_group: str = ""  # default: <id>-params (only created when parameters are given)
    parameter_family: str = ""  # default: redis<major>
    parameters: dict[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass
class Alarm:
    name: str
    namespace: str
    metric: str
    dimensions: dict[str, str]  # values may be "@..." references (DIMENSION_REFS)
    threshold: float
    comparison: str = "GreaterThanThreshold"
    period: int = 300
    evaluation_periods: int = 1
    datapoints_to_alarm: int | None = None
    statistic: str = "Average"
    description: str = ""
    treat_missing_data: str = "missing"


@dataclass
class Dashboard:
    name: str
    metrics: list[tuple[str, str, dict[str, str]]]  # (namespace, metric, dimensions with refs)


@dataclass
class LogGroup:
    name: str
    retention_days: int | None = None


@dataclass
class Repository:
    name: str
    scan_on_push: bool = True
    immutable: bool = False
    encryption: str = "AES256"
    lifecycle_rules: list[dict] = field(default_factory=list)  # ECR lifecycle "rules" entries


@dataclass
class Secret:
    name: str
    description: str = ""
    keys: list[str] = field(default_factory=list)  # JSON keys of the dummy value; [] = plain string


@dataclass
class Spec:
    project: str
    environment: str
    network: Network
    security_groups: list[SecurityGroup] = field(default_factory=list)
    cluster: Cluster | None = None
    roles: list[Role] = field(default_factory=list)
    task_definitions: list[TaskDefinition] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    target_groups: list[TargetGroup] = field(default_factory=list)
    load_balancer: LoadBalancer | None = None
    database: Database | None = None
    cache: Cache | None = None
    alarms: list[Alarm] = field(default_factory=list)
    alarm_topic: str | None = None  # SNS topic for alarm actions, when documented
    dashboards: list[Dashboard] = field(default_factory=list)
    log_groups: list[LogGroup] = field(default_factory=list)
    repositories: list[Repository] = field(default_factory=list)
    secrets: list[Secret] = field(default_factory=list)
    region: str = DEFAULT_REGION
    extra_tags: dict[str, str] = field(default_factory=dict)
    document: str = ""  # the architecture document this spec encodes
    tagging: str = "all"  # one of TAGGING: "all" or "owners" (see the module docstring)

    def zone(self, subnet: Subnet) -> str:
        """The availability zone name of ``subnet`` in this spec's region."""
        return f"{self.region}{subnet.zone}"

    def tags(self, name: str | None = None, **more: str) -> dict[str, str]:
        """The tags of an owner: Project, Environment, extra tags, ``more`` and Name."""
        out = {"Project": self.project, "Environment": self.environment, **self.extra_tags, **more}
        if name:
            out["Name"] = name
        return out

    def tags_for(self, kind: str, name: str | None = None, **more: str) -> dict[str, str]:
        """The tags a resource of ``kind`` gets under this spec's tagging style (maybe none)."""
        if self.tagging == "all" or kind in OWNER_KINDS:
            return self.tags(name, **more)
        if kind in NAME_TAGGED_KINDS:
            return {**more, **({"Name": name} if name else {})}
        return {}


# ------------------------------------------------------------------------------ the result
@dataclass
class Deployment:
    """What :func:`build` created: ids/ARNs by logical key, plus the spec and the account.
    ``reused``: keys of shared resources (:data:`SHARED_KINDS`) that already existed and were
    recorded instead of created (e.g. ``secret:mattilda/database-url`` when a second environment
    of mattilda joins the account)."""
    spec: Spec
    ids: dict[str, str] = field(default_factory=dict)
    account: str = ""
    reused: list[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> str:
        if key == "deployment":   # the id of the auditor's derived resource for this deployment
            return f"{self.spec.project}/{self.spec.environment}"
        return self.ids[key]

    def keys(self, prefix: str = "") -> list[str]:
        return [k for k in self.ids if k.startswith(prefix)]


DIMENSION_REFS = {
    "@cluster": "the ECS cluster name",
    "@service:<key>": "an ECS service name",
    "@alb": "the ALB's LoadBalancer dimension (app/<name>/<id>)",
    "@tg:<key>": "a target group's TargetGroup dimension (targetgroup/<name>/<id>)",
    "@db": "the RDS instance identifier",
    "@cache": "the first member cluster of the replication group (CacheClusterId)",
    "@cache:<n>": "member cluster n (1-based)",
}


# ------------------------------------------------------------------------------ several specs, one account
def account_names(spec: Spec) -> set[tuple[str, str]]:
    """(kind, name) of everything ``spec`` creates whose name must be unique in an account and
    region and that is not shared (:data:`SHARED_KINDS`): ECS services count per cluster."""
    out: set[tuple[str, str]] = set()
    if spec.cluster:
        out.add(("ecs cluster", spec.cluster.name))
        out |= {("ecs service", f"{spec.cluster.name}/{svc.name}") for svc in spec.services}
    if spec.load_balancer:
        out.add(("load balancer", spec.load_balancer.name))
        out |= {("target group", tg.name) for tg in spec.target_groups}
    if db := spec.database:
        out |= {("rds instance", db.identifier), ("db subnet group", db.subnet_group or f"{db.identifier}-subnets"),
                ("db parameter group", db.parameter_group or f"{db.identifier}-params")}
        if db.monitoring_interval:
            out.add(("iam role", f"{db.identifier}-rds-monitoring"))
    if cache := spec.cache:
        out |= {("replication group", cache.replication_group_id),
                ("cache subnet group", cache.subnet_group or f"{cache.replication_group_id}-subnets")}
        if cache.parameters:
            out.add(("cache parameter group", cache.parameter_group or f"{cache.replication_group_id}-params"))
    out |= {("iam role", role.name) for role in spec.roles}
    out |= {("alarm", alarm.name) for alarm in spec.alarms}
    out |= {("dashboard", d.name) for d in spec.dashboards}
    if spec.alarm_topic:
        out.add(("sns topic", spec.alarm_topic))
    return out


def name_collisions(spec: Spec, others: Iterable[Spec]) -> list[str]:
    """The account-unique names ``spec`` shares with ``others`` ("kind name"), sorted: empty
    when ``spec`` can be built into an account that already holds them."""
    taken = set().union(*(account_names(o) for o in others))
    return sorted(f"{kind} {name}" for kind, name in account_names(spec) & taken)


# ------------------------------------------------------------------------------ building
def _kv(tags: Mapping[str, str], k: str = "Key", v: str = "Value") -> list[dict[str, str]]:
    return [{k: key, v: value} for key, value in tags.items()]


def _ec2_tags(kind: str, tags: Mapping[str, str]) -> list[dict]:
    return [{"ResourceType": kind, "Tags": _kv(tags)}] if tags else []


@functools.cache
def partition(region: str) -> str:
    """The ARN partition of ``region`` (aws, aws-cn, aws-us-gov, ...), from botocore's endpoint data."""
    return boto3.Session().get_partition_for_region(region)


def _error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _client_factory(session_or_clients: Any, region: str) -> Callable[[str], Any]:
    if session_or_clients is None:
        return lambda service: boto3.client(service, region_name=region)
    if isinstance(session_or_clients, boto3.Session):
        return lambda service: session_or_clients.client(service, region_name=region)
    if isinstance(session_or_clients, Mapping):
        return lambda service: session_or_clients[service]
    if hasattr(session_or_clients, "client"):  # e.g. auditor.aws.AwsContext
        return session_or_clients.client
    if callable(session_or_clients):
        return session_or_clients
    raise TypeError("session_or_clients: a boto3.Session, a mapping service->client, "
                    "an object with .client(service), a callable, or None")


def build(spec: Spec, session_or_clients: Any = None, *, tagging: str | None = None) -> Deployment:
    """Create everything ``spec`` describes; return the ids by logical key.

    ``session_or_clients``: a ``boto3.Session``, an object with ``.client(service)`` (such as
    ``AwsContext``), a mapping of service name to client, a callable, or ``None`` (plain
    ``boto3.client`` calls, which honour ``AWS_ENDPOINT_URL``). ``tagging`` (``"all"`` or
    ``"owners"``) overrides ``spec.tagging``; the returned deployment's spec carries the style used.

    Calls :func:`moto_patches.apply` first; the patches stay applied (``moto_patches.revert()``
    restores plain moto for tests that expect it).
    """
    try:
        from . import moto_patches
        moto_patches.apply()  # patches moto in this process (mock_aws, in-process server)
    except ImportError:  # pragma: no cover - moto not installed: real AWS
        moto_patches = None
    if tagging is not None:
        spec = replace(spec, tagging=tagging)
    if spec.tagging not in TAGGING:
        raise ValueError(f"tagging must be one of {TAGGING}, not {spec.tagging!r}")
    clients: dict[str, Any] = {}
    factory = _client_factory(session_or_clients, spec.region)

    def client(service: str):
        if service not in clients:
            clients[service] = factory(service)
        return clients[service]

    out = Deployment(spec)
    out.account = client("sts").get_caller_identity()["Account"]
    _Builder(spec, client, out, moto_patches).run()
    return out


class _Builder:
    def __init__(self, spec: Spec, client: Callable[[str], Any], out: Deployment, patches: Any):
        self.spec, self.client, self.out, self.ids, self.patches = spec, client, out, out.ids, patches

    def run(self) -> None:
        s = self.spec
        self.network()
        self.security_groups()
        self.roles()
        for group in s.log_groups:
            self.log_group(group)
        for repo in s.repositories:
            self.repository(repo)
        for secret in s.secrets:
            self.secret(secret)
        if s.load_balancer:
            self.load_balancer(s.load_balancer)
        if s.cluster:
            self.ecs(s.cluster)
        if s.database:
            self.database(s.database)
        if s.cache:
            self.cache(s.cache)
        if s.alarm_topic:
            self.ids["topic"] = self.client("sns").create_topic(
                Name=s.alarm_topic, **self.tagged("topic", s.alarm_topic))["TopicArn"]
        for alarm in s.alarms:
            self.alarm(alarm)
        for dashboard in s.dashboards:
            self.dashboard(dashboard)

    # -- lookups and tags
    def subnets(self, tier: str) -> list[str]:
        found = [self.ids[f"subnet:{n.name}"] for n in self.spec.network.subnets if n.tier == tier]
        if not found:
            raise ValueError(f"spec has no {tier!r} subnets")
        return found

    def sgs(self, keys: list[str]) -> list[str]:
        return [self.ids[f"sg:{k}"] for k in keys]

    def tagged(self, kind: str, name: str | None = None, *, arg: str = "Tags", shape: str = "kv",
               **more: str) -> dict[str, Any]:
        """``{arg: tags}`` for a create call (``shape``: ``kv`` Key/Value list, ``ecs`` key/value
        list, ``map`` a dict), or ``{}`` when the tagging style gives ``kind`` no tags."""
        tags = self.spec.tags_for(kind, name, **more)
        if not tags:
            return {}
        value: Any = {"kv": lambda: _kv(tags), "ecs": lambda: _kv(tags, "key", "value"), "map": lambda: dict(tags)}[shape]()
        return {arg: value}

    def ec2_tagged(self, kind: str, resource_type: str, name: str, **more: str) -> dict[str, Any]:
        tags = self.spec.tags_for(kind, name, **more)
        return {"TagSpecifications": _ec2_tags(resource_type, tags)} if tags else {}

    # -- network
    def network(self) -> None:
        ec2, net = self.client("ec2"), self.spec.network
        zones = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"])
        if missing := sorted({self.spec.zone(n) for n in net.subnets} - set(zones)):
            raise ValueError(f"{self.spec.region} has no availability zone {', '.join(missing)} (its zones: "
                             f"{', '.join(zones)}), where the spec places subnets")
        vpc = ec2.create_vpc(CidrBlock=net.cidr, **self.ec2_tagged("vpc", "vpc", net.name))["Vpc"]["VpcId"]
        self.ids["vpc"] = vpc
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": net.dns_support})
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": net.dns_hostnames})
        for sub in net.subnets:
            if sub.tier not in TIERS:
                raise ValueError(f"subnet {sub.name}: tier must be one of {TIERS}")
            sid = ec2.create_subnet(VpcId=vpc, CidrBlock=sub.cidr, AvailabilityZone=self.spec.zone(sub),
                                    **self.ec2_tagged("subnet", "subnet", sub.name, Tier=sub.tier))["Subnet"]["SubnetId"]
            self.ids[f"subnet:{sub.name}"] = sid
            if sub.tier == "public":
                ec2.modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": True})
        igw = ec2.create_internet_gateway(**self.ec2_tagged(
            "internet_gateway", "internet-gateway", f"{net.name}-igw"))["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        self.ids["igw"] = igw

        public = [n for n in net.subnets if n.tier == "public"]
        nats: dict[str, str] = {}  # zone letter -> NAT gateway id
        for i, sub in enumerate(public[:net.nat_gateways]):
            eip = ec2.allocate_address(Domain="vpc", **self.ec2_tagged(
                "elastic_ip", "elastic-ip", f"{net.name}-nat-eip-{sub.zone}"))["AllocationId"]
            nat = ec2.create_nat_gateway(SubnetId=self.ids[f"subnet:{sub.name}"], AllocationId=eip,
                                         **self.ec2_tagged("nat_gateway", "natgateway", f"{net.name}-nat-{sub.zone}")
                                         )["NatGateway"]["NatGatewayId"]
            self.ids[f"nat:{i}"], self.ids[f"eip:{i}"] = nat, eip
            nats[sub.zone] = nat

        def table(name: str, tier: str, subnets: list[Subnet], **route: str) -> None:
            rtb = ec2.create_route_table(VpcId=vpc, **self.ec2_tagged(
                "route_table", "route-table", name, Tier=tier))["RouteTable"]["RouteTableId"]
            self.ids[f"rtb:{name}"] = rtb
            if route:
                ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", **route)
            for sub in subnets:
                ec2.associate_route_table(RouteTableId=rtb, SubnetId=self.ids[f"subnet:{sub.name}"])

        if public:
            table(f"{net.name}-public-rt", "public", public, GatewayId=igw)
        app = [n for n in net.subnets if n.tier == "app"]
        if app and len(nats) > 1:
            for zone in sorted({n.zone for n in app}):
                nat = nats.get(zone) or next(iter(nats.values()))
                table(f"{net.name}-private-app-rt-{zone}", "app", [n for n in app if n.zone == zone], NatGatewayId=nat)
        elif app:
            table(f"{net.name}-private-app-rt", "app", app, **({"NatGatewayId": next(iter(nats.values()))} if nats else {}))
        db = [n for n in net.subnets if n.tier == "db"]
        if db:
            table(f"{net.name}-private-db-rt", "db", db)

    def security_groups(self) -> None:
        ec2 = self.client("ec2")
        for sg in self.spec.security_groups:
            self.ids[f"sg:{sg.key}"] = ec2.create_security_group(
                GroupName=sg.name, Description=sg.description, VpcId=self.ids["vpc"],
                **self.ec2_tagged("security_group", "security-group", sg.name))["GroupId"]
        for sg in self.spec.security_groups:
            gid = self.ids[f"sg:{sg.key}"]
            if sg.ingress:
                ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[self.permission(r) for r in sg.ingress])
            if sg.egress is not None:
                ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[
                    {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
                if sg.egress:
                    ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[self.permission(r) for r in sg.egress])

    def permission(self, rule: Rule) -> dict:
        perm: dict[str, Any] = {"IpProtocol": "-1" if rule.port is None else rule.protocol}
        if rule.port is not None:
            low, high = rule.port if isinstance(rule.port, tuple) else (rule.port, rule.port)
            perm.update(FromPort=low, ToPort=high)
        desc = {"Description": rule.description} if rule.description else {}
        if rule.peer.startswith("sg:"):
            perm["UserIdGroupPairs"] = [{"GroupId": self.ids[rule.peer], **desc}]
        else:
            perm["IpRanges"] = [{"CidrIp": rule.peer, **desc}]
        return perm

    def roles(self) -> None:
        iam = self.client("iam")
        for role in self.spec.roles:
            trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                             "Principal": {"Service": role.service}}]}
            self.ids[f"role:{role.key}"] = iam.create_role(
                RoleName=role.name, AssumeRolePolicyDocument=json.dumps(trust),
                **self.tagged("role", role.name))["Role"]["Arn"]
            if role.policy:
                document = json.dumps(role.policy)
                for token, value in (("ACCOUNT_ID", self.out.account), ("PARTITION", partition(self.spec.region)),
                                     ("REGION", self.spec.region)):
                    document = document.replace(token, value)
                iam.put_role_policy(RoleName=role.name, PolicyName=f"{role.name}-policy", PolicyDocument=document)

    # -- logs, ECR, secrets (SHARED_KINDS: an existing one is recorded, not created again)
    def log_group(self, group: LogGroup) -> None:
        logs, key = self.client("logs"), f"log_group:{group.name}"
        try:
            logs.create_log_group(logGroupName=group.name, **self.tagged("log_group", group.name, arg="tags", shape="map"))
        except ClientError as exc:
            if _error_code(exc) != "ResourceAlreadyExistsException":
                raise
            self.out.reused.append(key)
        else:
            if group.retention_days:
                logs.put_retention_policy(logGroupName=group.name, retentionInDays=group.retention_days)
        self.ids[key] = group.name

    def repository(self, repo: Repository) -> None:
        ecr, key = self.client("ecr"), f"repo:{repo.name}"
        try:
            created = ecr.create_repository(
                repositoryName=repo.name, imageScanningConfiguration={"scanOnPush": repo.scan_on_push},
                imageTagMutability="IMMUTABLE" if repo.immutable else "MUTABLE",
                encryptionConfiguration={"encryptionType": repo.encryption},
                **self.tagged("repository", repo.name, arg="tags"))["repository"]
        except ClientError as exc:
            if _error_code(exc) != "RepositoryAlreadyExistsException":
                raise
            [created] = ecr.describe_repositories(repositoryNames=[repo.name])["repositories"]
            self.out.reused.append(key)
        else:
            if repo.lifecycle_rules:
                ecr.put_lifecycle_policy(repositoryName=repo.name,
                                         lifecyclePolicyText=json.dumps({"rules": repo.lifecycle_rules}))
        self.ids[key] = created["repositoryArn"]
        self.ids[f"repo_uri:{repo.name}"] = created["repositoryUri"]

    def secret(self, secret: Secret) -> None:
        sm, key = self.client("secretsmanager"), f"secret:{secret.name}"
        value = json.dumps({k: "dummy" for k in secret.keys}) if secret.keys else "dummy-value"
        try:
            self.ids[key] = sm.create_secret(
                Name=secret.name, Description=secret.description or secret.name, SecretString=value,
                **self.tagged("secret", secret.name))["ARN"]
        except ClientError as exc:
            if _error_code(exc) != "ResourceExistsException":
                raise
            self.ids[key] = sm.describe_secret(SecretId=secret.name)["ARN"]
            self.out.reused.append(key)

    # -- load balancing
    def load_balancer(self, lb: LoadBalancer) -> None:
        elb, s = self.client("elbv2"), self.spec
        arn = elb.create_load_balancer(
            Name=lb.name, Subnets=self.subnets("public"), SecurityGroups=self.sgs(lb.security_groups),
            Scheme="internet-facing" if lb.internet_facing else "internal", Type="application",
            IpAddressType="ipv4", **self.tagged("load_balancer", lb.name))["LoadBalancers"][0]["LoadBalancerArn"]
        self.ids["alb"] = arn
        elb.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
            {"Key": "idle_timeout.timeout_seconds", "Value": str(lb.idle_timeout)},
            {"Key": "deletion_protection.enabled", "Value": str(lb.deletion_protection).lower()}])
        for tg in s.target_groups:
            hc = tg.health_check
            tg_arn = elb.create_target_group(
                Name=tg.name, Protocol="HTTP", Port=tg.port, VpcId=self.ids["vpc"], TargetType="ip",
                HealthCheckEnabled=True, HealthCheckProtocol="HTTP", HealthCheckPath=hc.path,
                HealthCheckPort=hc.port, HealthCheckIntervalSeconds=hc.interval,
                HealthCheckTimeoutSeconds=hc.timeout, HealthyThresholdCount=hc.healthy_threshold,
                UnhealthyThresholdCount=hc.unhealthy_threshold, Matcher={"HttpCode": hc.matcher},
                **self.tagged("target_group", tg.name))["TargetGroups"][0]["TargetGroupArn"]
            self.ids[f"tg:{tg.key}"] = tg_arn
            if tg.stickiness_seconds:
                elb.modify_target_group_attributes(TargetGroupArn=tg_arn, Attributes=[
                    {"Key": "stickiness.enabled", "Value": "true"},
                    {"Key": "stickiness.type", "Value": "lb_cookie"},
                    {"Key": "stickiness.lb_cookie.duration_seconds", "Value": str(tg.stickiness_seconds)}])
        forward = [{"Type": "forward", "TargetGroupArn": self.ids[f"tg:{lb.default_target_group}"]}]
        redirect = [{"Type": "redirect", "RedirectConfig": {
            "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}",
            "Query": "#{query}", "StatusCode": "HTTP_301"}}]
        if lb.http == "redirect" and not lb.https:
            raise ValueError("an HTTP->HTTPS redirect needs the HTTPS listener")
        self.ids["listener:http"] = elb.create_listener(
            LoadBalancerArn=arn, Protocol="HTTP", Port=80, DefaultActions=redirect if lb.http == "redirect" else forward,
            **self.tagged("listener", f"{lb.name}-http"))["Listeners"][0]["ListenerArn"]
        rules_on = "listener:http"
        if lb.https:
            self.ids["certificate"] = cert = self.certificate(lb)
            self.ids["listener:https"] = elb.create_listener(
                LoadBalancerArn=arn, Protocol="HTTPS", Port=443, SslPolicy=lb.ssl_policy,
                Certificates=[{"CertificateArn": cert}], DefaultActions=forward,
                **self.tagged("listener", f"{lb.name}-https"))["Listeners"][0]["ListenerArn"]
            rules_on = "listener:https"
        for rule in lb.rules:
            self.ids[f"rule:{rule.priority}"] = elb.create_rule(
                ListenerArn=self.ids[rules_on], Priority=rule.priority,
                Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": rule.path_patterns}}],
                Actions=[{"Type": "forward", "TargetGroupArn": self.ids[f"tg:{rule.target_group}"]}],
                **self.tagged("listener_rule", f"{lb.name}-rule-{rule.priority}"))["Rules"][0]["RuleArn"]

    def certificate(self, lb: LoadBalancer) -> str:
        acm = self.client("acm")
        kwargs = {"SubjectAlternativeNames": [lb.certificate_domain, *lb.certificate_sans]} if lb.certificate_sans else {}
        arn = acm.request_certificate(DomainName=lb.certificate_domain, ValidationMethod="DNS",
                                      **self.tagged("certificate", lb.certificate_domain), **kwargs)["CertificateArn"]
        if self.patches:  # DNS validation "completes" when moto runs in this process
            self.patches.mark_certificate_issued(arn)
        return arn

    # -- ECS and Application Auto Scaling
    def ecs(self, cluster: Cluster) -> None:
        ecs, s = self.client("ecs"), self.spec
        self.ids["cluster"] = ecs.create_cluster(
            clusterName=cluster.name, capacityProviders=["FARGATE", "FARGATE_SPOT"],
            settings=[{"name": "containerInsights", "value": "enabled" if cluster.container_insights else "disabled"}],
            **self.tagged("cluster", cluster.name, arg="tags", shape="ecs"))["cluster"]["clusterArn"]
        for task in s.task_definitions:
            self.ids[f"taskdef:{task.key}"] = self.task_definition(task)
        for svc in s.services:
            self.service(cluster, svc)

    def task_definition(self, task: TaskDefinition) -> str:
        repo = task.repository or (self.spec.repositories[0].name if self.spec.repositories else None)
        image = task.image or (f"{self.ids[f'repo_uri:{repo}']}:latest" if repo else "public.ecr.aws/nginx/nginx:latest")
        container: dict[str, Any] = {
            "name": task.container_name, "image": image, "essential": True,
            "portMappings": [{"containerPort": task.container_port, "protocol": "tcp"}],
            "environment": [{"name": k, "value": v} for k, v in task.environment.items()],
            "secrets": [{"name": k, "valueFrom": self.ids[f"secret:{v}"]} for k, v in task.secrets.items()],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": task.log_group, "awslogs-region": self.spec.region,
                "awslogs-stream-prefix": "ecs"}}}
        if task.user:
            container["user"] = task.user
        roles = {}
        if task.execution_role:
            roles["executionRoleArn"] = self.ids[f"role:{task.execution_role}"]
        if task.task_role:
            roles["taskRoleArn"] = self.ids[f"role:{task.task_role}"]
        return self.client("ecs").register_task_definition(
            family=task.family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            cpu=str(task.cpu), memory=str(task.memory), containerDefinitions=[container],
            **self.tagged("task_definition", task.family, arg="tags", shape="ecs"),
            **roles)["taskDefinition"]["taskDefinitionArn"]

    def service(self, cluster: Cluster, svc: Service) -> None:
        task = next(t for t in self.spec.task_definitions if t.key == svc.task)
        extra: dict[str, Any] = {}
        if svc.target_group:
            extra["loadBalancers"] = [{"targetGroupArn": self.ids[f"tg:{svc.target_group}"],
                                       "containerName": task.container_name, "containerPort": task.container_port}]
        if svc.health_check_grace_period is not None:
            extra["healthCheckGracePeriodSeconds"] = svc.health_check_grace_period
        if svc.discovery_namespace:
            extra["serviceRegistries"] = [{"registryArn": self.discovery_service(svc)}]
        arn = self.client("ecs").create_service(
            cluster=cluster.name, serviceName=svc.name, taskDefinition=self.ids[f"taskdef:{svc.task}"],
            desiredCount=svc.desired_count, launchType="FARGATE", platformVersion="LATEST",
            schedulingStrategy="REPLICA", deploymentController={"type": "ECS"},
            deploymentConfiguration={
                "minimumHealthyPercent": svc.minimum_healthy_percent, "maximumPercent": svc.maximum_percent,
                "deploymentCircuitBreaker": {"enable": svc.circuit_breaker, "rollback": svc.rollback}},
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": self.subnets(svc.subnet_tier), "securityGroups": self.sgs(svc.security_groups),
                "assignPublicIp": "ENABLED" if svc.subnet_tier == "public" else "DISABLED"}},
            propagateTags="SERVICE", enableECSManagedTags=True,
            **self.tagged("service", svc.name, arg="tags", shape="ecs"), **extra)["service"]["serviceArn"]
        self.ids[f"service:{svc.key}"] = arn
        if svc.scaling:
            self.scaling(cluster, svc)

    def discovery_service(self, svc: Service) -> str:
        """The Cloud Map service ``svc.name`` in its private DNS namespace (created once)."""
        sd, key = self.client("servicediscovery"), f"namespace:{svc.discovery_namespace}"
        if key not in self.ids:
            sd.create_private_dns_namespace(Name=svc.discovery_namespace, Vpc=self.ids["vpc"])
            self.ids[key] = next(n["Id"] for n in sd.list_namespaces()["Namespaces"]
                                 if n["Name"] == svc.discovery_namespace)
        return sd.create_service(Name=svc.name, NamespaceId=self.ids[key], DnsConfig={
            "RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 60}]})["Service"]["Arn"]

    def scaling(self, cluster: Cluster, svc: Service) -> None:
        aas, sc = self.client("application-autoscaling"), svc.scaling
        resource = f"service/{cluster.name}/{svc.name}"
        target = {"ServiceNamespace": "ecs", "ResourceId": resource, "ScalableDimension": "ecs:service:DesiredCount"}
        self.ids[f"scaling_target:{svc.key}"] = aas.register_scalable_target(
            MinCapacity=sc.min_capacity, MaxCapacity=sc.max_capacity, **target).get("ScalableTargetARN", resource)
        for kind, value, metric in (("cpu", sc.cpu_target, "ECSServiceAverageCPUUtilization"),
                                    ("memory", sc.memory_target, "ECSServiceAverageMemoryUtilization")):
            if value is None:
                continue
            self.ids[f"scaling_policy:{svc.key}:{kind}"] = aas.put_scaling_policy(
                PolicyName=f"{svc.name}-{kind}-target-tracking", PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration={
                    "TargetValue": float(value), "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
                    "ScaleOutCooldown": sc.scale_out_cooldown, "ScaleInCooldown": sc.scale_in_cooldown},
                **target)["PolicyARN"]

    # -- data stores
    def database(self, db: Database) -> None:
        rds = self.client("rds")
        subnet_group = db.subnet_group or f"{db.identifier}-subnets"
        rds.create_db_subnet_group(DBSubnetGroupName=subnet_group, DBSubnetGroupDescription=f"{db.identifier} subnets",
                                   SubnetIds=self.subnets(db.subnet_tier), **self.tagged("db_subnet_group", subnet_group))
        self.ids["db_subnet_group"] = subnet_group
        params_name = db.parameter_group or f"{db.identifier}-params"
        rds.create_db_parameter_group(
            DBParameterGroupName=params_name, Description=f"{db.identifier} parameters",
            DBParameterGroupFamily=db.parameter_family or f"postgres{db.engine_version.split('.')[0]}",
            **self.tagged("db_parameter_group", params_name))
        if db.parameters:
            rds.modify_db_parameter_group(DBParameterGroupName=params_name, Parameters=[
                {"ParameterName": k, "ParameterValue": str(v), "ApplyMethod": "pending-reboot"}
                for k, v in db.parameters.items()])
        self.ids["db_parameter_group"] = params_name
        extra: dict[str, Any] = {}
        if db.max_allocated_storage:
            extra["MaxAllocatedStorage"] = db.max_allocated_storage
        if db.storage_type in ("io1", "io2") or (db.storage_type == "gp3" and db.allocated_storage >= 400):
            extra.update({k: v for k, v in (("Iops", db.iops), ("StorageThroughput", db.throughput)) if v})
        if db.monitoring_interval:
            role = f"{db.identifier}-rds-monitoring"
            trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                             "Principal": {"Service": "monitoring.rds.amazonaws.com"}}]}
            self.ids["role:rds-monitoring"] = self.client("iam").create_role(
                RoleName=role, AssumeRolePolicyDocument=json.dumps(trust), **self.tagged("role", role))["Role"]["Arn"]
            extra.update(MonitoringInterval=db.monitoring_interval, MonitoringRoleArn=self.ids["role:rds-monitoring"])
        if db.performance_insights:
            extra.update(EnablePerformanceInsights=True, PerformanceInsightsRetentionPeriod=7)
        if db.log_exports:
            extra["EnableCloudwatchLogsExports"] = db.log_exports
        self.ids["db"] = rds.create_db_instance(
            DBInstanceIdentifier=db.identifier, Engine="postgres", EngineVersion=db.engine_version,
            DBInstanceClass=db.instance_class, AllocatedStorage=db.allocated_storage, StorageType=db.storage_type,
            MultiAZ=db.multi_az, StorageEncrypted=db.encrypted, BackupRetentionPeriod=db.backup_retention,
            PreferredBackupWindow=db.backup_window, PreferredMaintenanceWindow=db.maintenance_window,
            DeletionProtection=db.deletion_protection, DBName=db.db_name, MasterUsername=db.username,
            MasterUserPassword="dummy-password-0123456789", Port=db.port, PubliclyAccessible=False,
            DBSubnetGroupName=subnet_group, DBParameterGroupName=params_name,
            VpcSecurityGroupIds=self.sgs(db.security_groups), CopyTagsToSnapshot=True,
            AutoMinorVersionUpgrade=db.auto_minor_version_upgrade, **self.tagged("db", db.identifier), **extra,
        )["DBInstance"]["DBInstanceArn"]

    def cache(self, cache: Cache) -> None:
        ec, s = self.client("elasticache"), self.spec
        subnet_group = cache.subnet_group or f"{cache.replication_group_id}-subnets"
        ec.create_cache_subnet_group(CacheSubnetGroupName=subnet_group, SubnetIds=self.subnets(cache.subnet_tier),
                                     CacheSubnetGroupDescription=f"{cache.replication_group_id} subnets",
                                     **self.tagged("cache_subnet_group", subnet_group))
        self.ids["cache_subnet_group"] = subnet_group
        extra: dict[str, Any] = {}
        if cache.parameters:
            name = cache.parameter_group or f"{cache.replication_group_id}-params"
            ec.create_cache_parameter_group(
                CacheParameterGroupName=name, Description=f"{cache.replication_group_id} parameters",
                CacheParameterGroupFamily=cache.parameter_family or f"redis{cache.engine_version.split('.')[0]}",
                **self.tagged("cache_parameter_group", name))
            ec.modify_cache_parameter_group(CacheParameterGroupName=name, ParameterNameValues=[
                {"ParameterName": k, "ParameterValue": str(v)} for k, v in cache.parameters.items()])
            self.ids["cache_parameter_group"] = extra["CacheParameterGroupName"] = name
        azs = [s.zone(n) for n in s.network.subnets if n.tier == cache.subnet_tier]
        self.ids["cache"] = ec.create_replication_group(
            ReplicationGroupId=cache.replication_group_id,
            ReplicationGroupDescription=cache.description or f"{s.project} {s.environment} Redis",
            Engine="redis", EngineVersion=cache.engine_version, CacheNodeType=cache.node_type,
            NumCacheClusters=cache.num_cache_clusters, PreferredCacheClusterAZs=[
                azs[i % len(azs)] for i in range(cache.num_cache_clusters)],
            AutomaticFailoverEnabled=cache.automatic_failover, MultiAZEnabled=cache.multi_az,
            AtRestEncryptionEnabled=cache.at_rest_encryption, TransitEncryptionEnabled=cache.transit_encryption,
            SnapshotRetentionLimit=cache.snapshot_retention, SnapshotWindow=cache.snapshot_window,
            PreferredMaintenanceWindow=cache.maintenance_window, Port=6379,
            CacheSubnetGroupName=subnet_group, SecurityGroupIds=self.sgs(cache.security_groups),
            **self.tagged("cache", cache.replication_group_id), **extra)["ReplicationGroup"]["ReplicationGroupId"]

    # -- monitoring
    def resolve(self, value: str) -> str:
        if not value.startswith("@"):
            return value
        kind, _, key = value[1:].partition(":")
        s = self.spec
        if kind == "cluster":
            return s.cluster.name
        if kind == "service":
            return next(x.name for x in s.services if x.key == key)
        if kind == "alb":
            return self.ids["alb"].split(":loadbalancer/", 1)[1]
        if kind == "tg":
            return self.ids[f"tg:{key}"].split(":", 5)[5]
        if kind == "db":
            return s.database.identifier
        if kind == "cache":
            return f"{s.cache.replication_group_id}-{int(key or 1):03d}"
        raise ValueError(f"unknown dimension reference {value!r}; known: {sorted(DIMENSION_REFS)}")

    def alarm(self, alarm: Alarm) -> None:
        cw = self.client("cloudwatch")
        extra: dict[str, Any] = {"AlarmActions": [self.ids["topic"]]} if "topic" in self.ids else {}
        if alarm.datapoints_to_alarm:
            extra["DatapointsToAlarm"] = alarm.datapoints_to_alarm
        cw.put_metric_alarm(
            AlarmName=alarm.name, AlarmDescription=alarm.description or alarm.name, Namespace=alarm.namespace,
            MetricName=alarm.metric, Statistic=alarm.statistic, Period=alarm.period,
            EvaluationPeriods=alarm.evaluation_periods, Threshold=float(alarm.threshold),
            ComparisonOperator=alarm.comparison, TreatMissingData=alarm.treat_missing_data,
            Dimensions=[{"Name": k, "Value": self.resolve(v)} for k, v in alarm.dimensions.items()],
            **self.tagged("alarm", alarm.name), **extra)
        self.ids[f"alarm:{alarm.name}"] = cw.describe_alarms(AlarmNames=[alarm.name])["MetricAlarms"][0]["AlarmArn"]

    def dashboard(self, dashboard: Dashboard) -> None:
        widgets = []
        for i, (namespace, metric, dims) in enumerate(dashboard.metrics):
            flat = [x for k, v in dims.items() for x in (k, self.resolve(v))]
            widgets.append({"type": "metric", "x": (i % 2) * 12, "y": (i // 2) * 6, "width": 12, "height": 6,
                            "properties": {"title": metric, "region": self.spec.region, "stat": "Average",
                                           "period": 300, "metrics": [[namespace, metric, *flat]]}})
        self.client("cloudwatch").put_dashboard(DashboardName=dashboard.name,
                                                DashboardBody=json.dumps({"widgets": widgets}))
        self.ids[f"dashboard:{dashboard.name}"] = dashboard.name
