"""Elastic Load Balancing v2: load balancers, listeners (with their rules) and target groups.

Load balancers, listeners, rules, listener certificates and target groups come from the paginated
``describe_*`` calls; attributes from ``describe_load_balancer_attributes`` and
``describe_target_group_attributes`` (values kept as AWS strings, e.g. "true"); tags from
``describe_tags`` in batches of 20 ARNs (a batch naming a resource deleted meanwhile is asked again
one ARN at a time). A failing per-resource call leaves what it reads unknown; a resource deleted
meanwhile is dropped. Listeners of gateway and network load balancers have no rules:
``describe_rules`` is not called for them (on a gateway listener AWS answers ListenerNotFound).
Actions (listener defaults and rule actions) share one shape, ``ACTION``: redirect (its status_code
"HTTP_301" or "HTTP_302") and fixed_response are None in actions of other types.

Resource types (each described, attributes and volatile ones included, by its ``ResourceType`` below):

- ``load_balancer`` (id = ARN, name = LoadBalancerName): load_balancer_type is "application",
  "network" or "gateway" (``type`` is the reserved resource type); arn_suffix ("app/name/id") is
  the CloudWatch LoadBalancer dimension; attributes {key: value}, e.g.
  "load_balancing.cross_zone.enabled", "deletion_protection.enabled", "access_logs.s3.enabled".
- ``listener`` (id = ARN, name = "<load balancer name>:<port>"): ssl_policy is None unless
  HTTPS/TLS; certificate_arns lists the default first, then extra SNI certificates; rules are the
  non-default ones by priority (an int), their conditions snake_case.
- ``target_group`` (id = ARN, name = TargetGroupName): arn_suffix is "targetgroup/name/id";
  attributes {key: value}, e.g. "stickiness.enabled", "deregistration_delay.timeout_seconds".
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..attributes import many, shape
from ..aws import NOT_FOUND, classify, is_aws_error
from ..model import Resource
from . import CollectContext, Item, chunks, collector, isoformat, snake_dict, tag_dict
from .types import Dimensions, Edge, ResourceType

_PROTOCOL = "HTTP|HTTPS|TCP|TLS|UDP|TCP_UDP|GENEVE|QUIC|TCP_QUIC"
ACTION = many("type:forward|authenticate-oidc|authenticate-cognito|redirect|fixed-response|jwt-validation order:int "
              "target_group_arns:[str]",
              redirect=shape("protocol:str port:str host:str path:str query:str status_code:HTTP_301|HTTP_302"),
              fixed_response=shape("status_code:str content_type:str message_body:str"))
_ARN = "arn:{partition}:elasticloadbalancing:{region}:{account}:"
LOAD_BALANCER = ResourceType(
    "load_balancer", "elbv2", _ARN + "loadbalancer/{arn_suffix}",
    calls=("DescribeLoadBalancers", "DescribeTags", "DescribeLoadBalancerAttributes"),
    attributes=shape(
        "load_balancer_name:str load_balancer_type:application|network|gateway scheme:internet-facing|internal "
        "state:active|provisioning|active_impaired|failed vpc_id:str dns_name:str "
        "ip_address_type:ipv4|dualstack|dualstack-without-public-ipv4 subnet_ids:[str] availability_zones:[str] "
        "security_group_ids:[str] arn_suffix:str created_time:time attributes:map"),
    volatile=("state",),
    alarms=(Dimensions("AWS/ApplicationELB", {"LoadBalancer": "arn_suffix"}, forbidden=("TargetGroup",)),),
    owns=(Edge("listener", "load_balancer_arn", back=True), Edge("target_group", "load_balancer_arns", back=True),
          Edge("security_group", via="security_groups"), Edge("subnet", via="subnets")),
    cost="load_balancer")
LISTENER = ResourceType(
    "listener", "elbv2", _ARN + "listener/{load_balancer_suffix}/{listener_id}",
    calls=("DescribeLoadBalancers", "DescribeListeners", "DescribeTags", "DescribeListenerCertificates", "DescribeRules"),
    attributes=shape(
        f"load_balancer_arn:str port:int protocol:{_PROTOCOL} ssl_policy:str certificate_arns:[str] alpn_policy:[str]",
        default_actions=ACTION,
        rules=many("rule_arn:str priority:int path_patterns:[str] host_headers:[str] conditions:[map]", actions=ACTION)),
    owns=(Edge("target_group", via="listener_target_groups"),))
TARGET_GROUP = ResourceType(
    "target_group", "elbv2", _ARN + "{arn_suffix}",
    calls=("DescribeTargetGroups", "DescribeTags", "DescribeTargetGroupAttributes"),
    attributes=shape(
        f"target_group_name:str protocol:{_PROTOCOL} protocol_version:str port:int target_type:instance|ip|lambda|alb "
        "vpc_id:str ip_address_type:ipv4|ipv6 arn_suffix:str load_balancer_arns:[str] attributes:map",
        health_check=shape(f"enabled:bool protocol:{_PROTOCOL} path:str port:str interval_seconds:int timeout_seconds:int "
                           "healthy_threshold:int unhealthy_threshold:int matcher:str")),
    alarms=(Dimensions("AWS/ApplicationELB", {"TargetGroup": "arn_suffix"}),))

_SECURE_PROTOCOLS = {"HTTPS", "TLS"}
_WITHOUT_RULES = {"gateway", "network"}   # load balancer types whose listeners have no rules
_LB_GONE, _LISTENER_GONE, _TG_GONE = ("LoadBalancerNotFound",), ("ListenerNotFound",), ("TargetGroupNotFound",)

Tags = dict[str, "dict[str, str] | Exception"]


def _tags(ctx: CollectContext, arns: list[str], size: int = 20) -> Tags:
    """Tags by ARN, ``size`` ARNs per ``describe_tags`` call (the API limit is 20), or the AWS error
    of the call. A batch that names a resource deleted meanwhile is asked again ARN by ARN."""
    out: Tags = {}
    for batch in chunks(arns, size):
        try:
            answer = ctx.client("elbv2").describe_tags(ResourceArns=batch).get("TagDescriptions", [])
        except Exception as exc:
            if not is_aws_error(exc):
                raise
            out.update(_tags(ctx, batch, 1) if size > 1 and classify(exc) == NOT_FOUND else dict.fromkeys(batch, exc))
            continue
        out.update({d["ResourceArn"]: tag_dict(d.get("Tags")) for d in answer})
    return out


def _tags_of(tags: Tags, arn: str) -> dict[str, str]:
    """The tags read for ``arn`` ({} when AWS gave none); raises the error of their call."""
    found = tags.get(arn, {})
    if isinstance(found, Exception):
        raise found
    return found


def _attributes(items: Iterable[dict] | None) -> dict[str, Any]:
    return {a["Key"]: a.get("Value") for a in items or [] if "Key" in a}


def _arn_suffix(arn: str) -> str:
    """The ARN part CloudWatch uses as a dimension: "app/name/id" or "targetgroup/name/id"."""
    return arn.split(":", 5)[-1].removeprefix("loadbalancer/")


def _lb_name(lb_arn: str | None) -> str | None:
    """The load balancer name, e.g. "web" from ".../loadbalancer/app/web/50dc6c495c0c9188"."""
    return lb_arn.split("/")[-2] if lb_arn and lb_arn.count("/") >= 3 else None



def _load_balancers(ctx: CollectContext) -> list[dict]:
    return ctx.shared("elbv2.load_balancers",
                      lambda: list(ctx.paginate("elbv2", "describe_load_balancers", "LoadBalancers")))


@collector(LOAD_BALANCER)
def load_balancers(ctx: CollectContext) -> Iterator[Resource]:
    elbv2 = ctx.client("elbv2")
    lbs = _load_balancers(ctx)
    tags = _tags(ctx, [lb["LoadBalancerArn"] for lb in lbs])
    for lb in lbs:
        arn = lb["LoadBalancerArn"]
        with ctx.item("elbv2", "load_balancer", arn, gone=_LB_GONE) as item:
            own_tags = item.call(("tags",), _tags_of, tags, arn)   # first: it tells a deleted one without a call
            attrs = item.call(("attributes",), elbv2.describe_load_balancer_attributes, LoadBalancerArn=arn)
            azs = lb.get("AvailabilityZones") or []
            yield item.resource(
                arn=arn, name=lb.get("LoadBalancerName"), tags=own_tags,
                load_balancer_name=lb.get("LoadBalancerName"),
                load_balancer_type=lb.get("Type"),
                scheme=lb.get("Scheme"),
                state=(lb.get("State") or {}).get("Code"),
                vpc_id=lb.get("VpcId"),
                dns_name=lb.get("DNSName"),
                ip_address_type=lb.get("IpAddressType"),
                subnet_ids=[z["SubnetId"] for z in azs if z.get("SubnetId")],
                availability_zones=[z["ZoneName"] for z in azs if z.get("ZoneName")],
                security_group_ids=list(lb.get("SecurityGroups") or []),
                arn_suffix=_arn_suffix(arn),
                created_time=isoformat(lb.get("CreatedTime")),
                attributes=None if attrs is None else _attributes(attrs.get("Attributes")),
            )


def _action(a: dict) -> dict:
    tgs = [a["TargetGroupArn"]] if a.get("TargetGroupArn") else []
    for tg in (a.get("ForwardConfig") or {}).get("TargetGroups") or []:
        if tg.get("TargetGroupArn") and tg["TargetGroupArn"] not in tgs:
            tgs.append(tg["TargetGroupArn"])
    r = a.get("RedirectConfig")
    f = a.get("FixedResponseConfig")
    return {
        "type": a.get("Type"),
        "order": a.get("Order"),
        "target_group_arns": tgs,
        "redirect": {"protocol": r.get("Protocol"), "port": r.get("Port"), "host": r.get("Host"),
                     "path": r.get("Path"), "query": r.get("Query"), "status_code": r.get("StatusCode")}
        if r else None,
        "fixed_response": {"status_code": f.get("StatusCode"), "content_type": f.get("ContentType"),
                           "message_body": f.get("MessageBody")} if f else None,
    }


def _condition_values(conditions: list[dict], field: str, config_key: str) -> list[str]:
    values: list[str] = []
    for c in conditions:
        if c.get("Field") == field:
            values.extend((c.get(config_key) or {}).get("Values") or c.get("Values") or [])
    return values


def _rule(r: dict) -> dict:
    conditions = r.get("Conditions") or []
    priority = r.get("Priority")
    return {
        "rule_arn": r.get("RuleArn"),
        "priority": int(priority) if str(priority).isdigit() else None,
        "path_patterns": _condition_values(conditions, "path-pattern", "PathPatternConfig"),
        "host_headers": _condition_values(conditions, "host-header", "HostHeaderConfig"),
        "conditions": snake_dict(conditions),
        "actions": [_action(a) for a in r.get("Actions") or []],
    }


@collector(LISTENER)
def listeners(ctx: CollectContext) -> Iterator[Resource]:
    lbs = _load_balancers(ctx)
    without_rules = {lb["LoadBalancerArn"] for lb in lbs if lb.get("Type") in _WITHOUT_RULES}
    items = [li for lb in lbs for li in _listeners_of(ctx, lb["LoadBalancerArn"])]
    tags = _tags(ctx, [li["ListenerArn"] for li in items])
    for li in items:
        arn = li["ListenerArn"]
        with ctx.item("elbv2", "listener", arn, gone=_LISTENER_GONE) as item:
            own_tags = item.call(("tags",), _tags_of, tags, arn)
            secure = li.get("Protocol") in _SECURE_PROTOCOLS
            certs = [c["CertificateArn"] for c in li.get("Certificates") or [] if c.get("CertificateArn")]
            extra = item.call(("certificate_arns",), _certificates, ctx, arn) if secure else []
            rules = [] if li.get("LoadBalancerArn") in without_rules else item.call(("rules",), _rules, ctx, arn)
            yield item.resource(
                arn=arn, name=f"{_lb_name(li.get('LoadBalancerArn'))}:{li.get('Port')}",
                tags=own_tags,
                load_balancer_arn=li.get("LoadBalancerArn"),
                port=li.get("Port"),
                protocol=li.get("Protocol"),
                ssl_policy=li.get("SslPolicy") if secure else None,
                certificate_arns=None if extra is None else certs + [c for c in extra if c not in certs],
                alpn_policy=list(li.get("AlpnPolicy") or []),
                default_actions=[_action(a) for a in li.get("DefaultActions") or []],
                rules=rules,
            )


def _listeners_of(ctx: CollectContext, lb_arn: str) -> list[dict]:
    """The listeners of one load balancer; none when it was deleted meanwhile (LoadBalancerNotFound)."""
    try:
        return list(ctx.paginate("elbv2", "describe_listeners", "Listeners", LoadBalancerArn=lb_arn))
    except ctx.client("elbv2").exceptions.LoadBalancerNotFoundException:
        return []


def _certificates(ctx: CollectContext, listener_arn: str) -> list[str]:
    return [c["CertificateArn"] for c in ctx.paginate("elbv2", "describe_listener_certificates", "Certificates",
                                                      ListenerArn=listener_arn) if c.get("CertificateArn")]


def _rules(ctx: CollectContext, listener_arn: str) -> list[dict]:
    """The listener's non-default rules by priority."""
    rules = [_rule(r) for r in ctx.paginate("elbv2", "describe_rules", "Rules", ListenerArn=listener_arn)
             if not r.get("IsDefault")]
    return sorted(rules, key=lambda r: (r["priority"] is None, r["priority"] or 0))


@collector(TARGET_GROUP)
def target_groups(ctx: CollectContext) -> Iterator[Resource]:
    elbv2 = ctx.client("elbv2")
    tgs = list(ctx.paginate("elbv2", "describe_target_groups", "TargetGroups"))
    tags = _tags(ctx, [tg["TargetGroupArn"] for tg in tgs])
    for tg in tgs:
        arn = tg["TargetGroupArn"]
        with ctx.item("elbv2", "target_group", arn, gone=_TG_GONE) as item:
            own_tags = item.call(("tags",), _tags_of, tags, arn)
            attrs = item.call(("attributes",), elbv2.describe_target_group_attributes, TargetGroupArn=arn)
            yield _target_group(item, tg, own_tags, attrs)


def _target_group(item: Item, tg: dict, tags: dict[str, str] | None, attrs: dict | None) -> Resource:
    arn = tg["TargetGroupArn"]
    matcher = tg.get("Matcher") or {}
    return item.resource(
        arn=arn, name=tg.get("TargetGroupName"), tags=tags,
        target_group_name=tg.get("TargetGroupName"),
        protocol=tg.get("Protocol"),
        protocol_version=tg.get("ProtocolVersion"),
        port=tg.get("Port"),
        target_type=tg.get("TargetType"),
        vpc_id=tg.get("VpcId"),
        ip_address_type=tg.get("IpAddressType"),
        arn_suffix=_arn_suffix(arn),
        load_balancer_arns=list(tg.get("LoadBalancerArns") or []),
        health_check={
            "enabled": tg.get("HealthCheckEnabled"),
            "protocol": tg.get("HealthCheckProtocol"),
            "path": tg.get("HealthCheckPath"),
            "port": tg.get("HealthCheckPort"),
            "interval_seconds": tg.get("HealthCheckIntervalSeconds"),
            "timeout_seconds": tg.get("HealthCheckTimeoutSeconds"),
            "healthy_threshold": tg.get("HealthyThresholdCount"),
            "unhealthy_threshold": tg.get("UnhealthyThresholdCount"),
            "matcher": matcher.get("HttpCode") or matcher.get("GrpcCode"),
        },
        attributes=None if attrs is None else _attributes(attrs.get("Attributes")),
    )
