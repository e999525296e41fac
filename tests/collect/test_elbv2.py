"""ELBv2 collector: load balancers, listeners with rules, target groups."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from auditor.collect import elbv2
from auditor.model import thaw

ACCOUNT = "123456789012"


@pytest.fixture
def alb(ctx):
    """An internet-facing ALB: HTTP 80 redirects to HTTPS (301); HTTPS 443 sends /api/* to a target group."""
    ec2, lb_client, acm = (ctx.client(s) for s in ("ec2", "elbv2", "acm"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{az}")
               ["Subnet"]["SubnetId"] for i, az in enumerate("ab")]
    sg = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc)["GroupId"]
    lb = lb_client.create_load_balancer(Name="app-alb", Subnets=subnets, SecurityGroups=[sg],
                                        Scheme="internet-facing", Type="application",
                                        Tags=[{"Key": "Environment", "Value": "prod"}])["LoadBalancers"][0]
    lb_arn = lb["LoadBalancerArn"]
    lb_client.modify_load_balancer_attributes(LoadBalancerArn=lb_arn, Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "true"}])
    tg = lb_client.create_target_group(
        Name="app-tg", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip", HealthCheckPath="/health",
        HealthCheckIntervalSeconds=30, HealthCheckTimeoutSeconds=5, HealthyThresholdCount=2,
        UnhealthyThresholdCount=3, Matcher={"HttpCode": "200"},
        Tags=[{"Key": "Environment", "Value": "prod"}])["TargetGroups"][0]["TargetGroupArn"]
    lb_client.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
        {"Key": "stickiness.enabled", "Value": "true"}, {"Key": "deregistration_delay.timeout_seconds", "Value": "30"}])
    cert = acm.request_certificate(DomainName="app.example.com")["CertificateArn"]
    http = lb_client.create_listener(
        LoadBalancerArn=lb_arn, Port=80, Protocol="HTTP",
        DefaultActions=[{"Type": "redirect", "RedirectConfig": {
            "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])["Listeners"][0]["ListenerArn"]
    https = lb_client.create_listener(
        LoadBalancerArn=lb_arn, Port=443, Protocol="HTTPS", SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        Certificates=[{"CertificateArn": cert}],
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
            "StatusCode": "404", "ContentType": "text/plain", "MessageBody": "not found"}}],
        Tags=[{"Key": "Environment", "Value": "prod"}])["Listeners"][0]["ListenerArn"]
    rule = lb_client.create_rule(
        ListenerArn=https, Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": tg}])["Rules"][0]["RuleArn"]
    return {"vpc": vpc, "subnets": subnets, "sg": sg, "lb": lb, "tg": tg, "cert": cert,
            "http": http, "https": https, "rule": rule}


def _no_action(**kw):
    return {"type": None, "order": None, "target_group_arns": [], "redirect": None, "fixed_response": None, **kw}


def test_load_balancer_attributes(ctx, alb):
    [lb] = list(elbv2.load_balancers(ctx))
    arn = alb["lb"]["LoadBalancerArn"]
    assert (lb.id, lb.arn, lb.name, lb.environment) == (arn, arn, "app-alb", "production")
    attrs = thaw(lb.attributes)
    assert attrs.pop("created_time").startswith("20")
    assert attrs.pop("state") in ("provisioning", "active")  # moto activates it on a later describe
    assert attrs == {
        "load_balancer_name": "app-alb", "load_balancer_type": "application", "scheme": "internet-facing",
        "vpc_id": alb["vpc"], "dns_name": alb["lb"]["DNSName"],
        "ip_address_type": "ipv4", "subnet_ids": alb["subnets"], "availability_zones": ["us-east-1a", "us-east-1b"],
        "security_group_ids": [alb["sg"]], "arn_suffix": "app/app-alb/" + arn.rsplit("/", 1)[-1],
        "attributes": {"access_logs.s3.bucket": "", "access_logs.s3.prefix": "",
                       "deletion_protection.enabled": "true", "load_balancing.cross_zone.enabled": "false"},
    }


def test_listeners_redirect_and_https_rules(ctx, alb):
    found = {r.attributes["port"]: r for r in elbv2.listeners(ctx)}
    lb_arn = alb["lb"]["LoadBalancerArn"]
    http, https = found[80], found[443]
    assert (http.id, http.name, http.tags) == (alb["http"], "app-alb:80", {})
    assert thaw(http.attributes) == {
        "load_balancer_arn": lb_arn, "port": 80, "protocol": "HTTP", "ssl_policy": None,
        "certificate_arns": [], "alpn_policy": [],
        "default_actions": [_no_action(type="redirect", redirect={
            "protocol": "HTTPS", "port": "443", "host": None, "path": None, "query": None,
            "status_code": "HTTP_301"})],
        "rules": [],
    }
    assert (https.id, https.name, https.environment) == (alb["https"], "app-alb:443", "production")
    assert thaw(https.attributes) == {
        "load_balancer_arn": lb_arn, "port": 443, "protocol": "HTTPS",
        "ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06", "certificate_arns": [alb["cert"]], "alpn_policy": [],
        "default_actions": [_no_action(type="fixed-response", fixed_response={
            "status_code": "404", "content_type": "text/plain", "message_body": "not found"})],
        "rules": [{
            "rule_arn": alb["rule"], "priority": 10, "path_patterns": ["/api/*"], "host_headers": [],
            "conditions": [{"field": "path-pattern", "path_pattern_config": {"values": ["/api/*"]}}],
            "actions": [_no_action(type="forward", target_group_arns=[alb["tg"]])],
        }],
    }


def test_target_group_attributes(ctx, alb):
    [tg] = list(elbv2.target_groups(ctx))
    assert (tg.id, tg.arn, tg.name, tg.environment) == (alb["tg"], alb["tg"], "app-tg", "production")
    attrs = thaw(tg.attributes)
    assert attrs.pop("attributes") == {
        "deregistration_delay.timeout_seconds": "30", "stickiness.enabled": "true",
        "load_balancing.algorithm.type": "round_robin",
        "load_balancing.cross_zone.enabled": "use_load_balancer_configuration",
        "slow_start.duration_seconds": "0", "waf.fail_open.enabled": "false", "stickiness.type": "lb_cookie",
    }
    assert attrs == {
        "target_group_name": "app-tg", "protocol": "HTTP", "protocol_version": "HTTP1", "port": 8000,
        "target_type": "ip", "vpc_id": alb["vpc"], "ip_address_type": "ipv4",
        "arn_suffix": "targetgroup/app-tg/" + alb["tg"].rsplit("/", 1)[-1],
        "load_balancer_arns": [alb["lb"]["LoadBalancerArn"]],
        "health_check": {"enabled": True, "protocol": "HTTP", "path": "/health", "port": "traffic-port",
                         "interval_seconds": 30, "timeout_seconds": 5, "healthy_threshold": 2,
                         "unhealthy_threshold": 3, "matcher": "200"},
    }


def test_describe_tags_batches_of_twenty(ctx, alb):
    client = ctx.client("elbv2")
    for i in range(24):
        client.create_target_group(Name=f"tg-{i:02d}", Protocol="HTTP", Port=80, VpcId=alb["vpc"],
                                   Tags=[{"Key": "Index", "Value": str(i)}])
    found = {r.name: r for r in elbv2.target_groups(ctx)}
    assert len(found) == 25
    assert found["tg-23"].tags == {"Index": "23"} and found["app-tg"].tags == {"Environment": "prod"}
    assert ctx.aws.stats.calls[("elbv2", "DescribeTags")] == 2


LB_ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/web/50dc6c495c0c9188"
LISTENER_ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
TG_A = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/blue/73e2d6bc24d8a067"
TG_B = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/green/2453ed029918f21f"


def _rule(priority: str, **kw) -> dict:
    return {"RuleArn": f"{LISTENER_ARN.replace(':listener/', ':listener-rule/')}/{priority}",
            "Priority": priority, "IsDefault": priority == "default", "Conditions": [], "Actions": [], **kw}


def test_listener_pages_weighted_forward_and_sni_certificates(ctx):
    """describe_listeners/describe_rules/describe_listener_certificates follow NextMarker."""
    client = ctx.client("elbv2")
    forward = {"Type": "forward", "Order": 1, "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": TG_A, "Weight": 90}, {"TargetGroupArn": TG_B, "Weight": 10}]}}
    listener = {"ListenerArn": LISTENER_ARN, "LoadBalancerArn": LB_ARN, "Port": 443, "Protocol": "HTTPS",
                "SslPolicy": "ELBSecurityPolicy-2016-08",
                "Certificates": [{"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/default"}],
                "DefaultActions": [{**forward, "TargetGroupArn": TG_A}]}
    host_rule = _rule("20", Conditions=[
        {"Field": "host-header", "HostHeaderConfig": {"Values": ["api.example.com"]}},
        {"Field": "path-pattern", "Values": ["/v1/*"]}], Actions=[forward])
    with Stubber(client) as stub:
        stub.add_response("describe_load_balancers", {"LoadBalancers": [
            {"LoadBalancerArn": LB_ARN, "LoadBalancerName": "web", "Type": "application"}]}, {})
        stub.add_response("describe_listeners", {"Listeners": [], "NextMarker": "m2"}, {"LoadBalancerArn": LB_ARN})
        stub.add_response("describe_listeners", {"Listeners": [listener]}, {"LoadBalancerArn": LB_ARN, "Marker": "m2"})
        stub.add_response("describe_tags", {"TagDescriptions": [{"ResourceArn": LISTENER_ARN}]},
                          {"ResourceArns": [LISTENER_ARN]})
        stub.add_response("describe_listener_certificates", {"Certificates": [
            {"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/default", "IsDefault": True}],
            "NextMarker": "c2"}, {"ListenerArn": LISTENER_ARN})
        stub.add_response("describe_listener_certificates", {"Certificates": [
            {"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/sni", "IsDefault": False}]},
            {"ListenerArn": LISTENER_ARN, "Marker": "c2"})
        stub.add_response("describe_rules", {"Rules": [host_rule], "NextMarker": "r2"}, {"ListenerArn": LISTENER_ARN})
        stub.add_response("describe_rules", {"Rules": [_rule("5"), _rule("default")]},
                          {"ListenerArn": LISTENER_ARN, "Marker": "r2"})
        [li] = list(elbv2.listeners(ctx))
        stub.assert_no_pending_responses()
    a = li.attributes
    assert a["certificate_arns"] == ["arn:aws:acm:us-east-1:123456789012:certificate/default",
                                     "arn:aws:acm:us-east-1:123456789012:certificate/sni"]
    assert a["default_actions"] == [_no_action(type="forward", order=1, target_group_arns=[TG_A, TG_B])]
    assert [r["priority"] for r in a["rules"]] == [5, 20]
    assert a["rules"][1]["host_headers"] == ["api.example.com"]
    assert a["rules"][1]["path_patterns"] == ["/v1/*"]
    assert a["rules"][1]["actions"][0]["target_group_arns"] == [TG_A, TG_B]


def test_load_balancer_pages(ctx):
    client = ctx.client("elbv2")
    lbs = [{"LoadBalancerArn": LB_ARN + str(i), "LoadBalancerName": f"web{i}", "Type": "network",
            "State": {"Code": "active"}} for i in range(2)]
    with Stubber(client) as stub:
        stub.add_response("describe_load_balancers", {"LoadBalancers": lbs[:1], "NextMarker": "n2"}, {})
        stub.add_response("describe_load_balancers", {"LoadBalancers": lbs[1:]}, {"Marker": "n2"})
        stub.add_response("describe_tags", {"TagDescriptions": []}, {"ResourceArns": [lb["LoadBalancerArn"] for lb in lbs]})
        for lb in lbs:
            stub.add_response("describe_load_balancer_attributes", {"Attributes": [
                {"Key": "load_balancing.cross_zone.enabled", "Value": "true"}]},
                {"LoadBalancerArn": lb["LoadBalancerArn"]})
        found = list(elbv2.load_balancers(ctx))
        stub.assert_no_pending_responses()
    assert [(r.name, r.attributes["load_balancer_type"], r.attributes["state"]) for r in found] == [
        ("web0", "network", "active"), ("web1", "network", "active")]
    assert found[0].attributes["attributes"] == {"load_balancing.cross_zone.enabled": "true"}
    assert found[0].attributes["subnet_ids"] == [] and found[0].attributes["vpc_id"] is None


def test_denied_call_propagates(ctx):
    client = ctx.client("elbv2")
    with Stubber(client) as stub:
        stub.add_client_error("describe_target_groups", "AccessDenied", "not authorized", http_status_code=403)
        with pytest.raises(ClientError) as err:
            list(elbv2.target_groups(ctx))
    assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_a_load_balancer_deleted_during_the_walk_is_dropped(ctx):
    client = ctx.client("elbv2")
    lbs = [{"LoadBalancerArn": arn, "LoadBalancerName": arn, "Type": "application"} for arn in ("a", "b")]
    with Stubber(client) as stub:
        stub.add_response("describe_load_balancers", {"LoadBalancers": lbs}, {})
        stub.add_client_error("describe_tags", "LoadBalancerNotFound", "gone", 400, expected_params={"ResourceArns": ["a", "b"]})
        stub.add_response("describe_tags", {"TagDescriptions": [{"ResourceArn": "a", "Tags": [{"Key": "k", "Value": "v"}]}]},
                          {"ResourceArns": ["a"]})
        stub.add_client_error("describe_tags", "LoadBalancerNotFound", "gone", 400, expected_params={"ResourceArns": ["b"]})
        stub.add_client_error("describe_load_balancer_attributes", "AccessDenied", "no", 403,
                              expected_params={"LoadBalancerArn": "a"})
        (a,) = elbv2.load_balancers(ctx)   # b answers not found at its first own call (its tags)
        stub.assert_no_pending_responses()
    assert a.tags == {"k": "v"} and a.attributes["attributes"] is None and set(a.unknown) == {"attributes"}
    assert ctx.vanished == {"load_balancer": 1}
    assert [(e.operation, e.resource_id, e.category) for e in ctx.faults] == [("DescribeLoadBalancerAttributes", "a", "denied")]
