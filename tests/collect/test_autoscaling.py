"""Application Auto Scaling collector: ECS scalable targets with their scaling policies."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from auditor.collect import autoscaling
from auditor.model import thaw

DIMENSION = "ecs:service:DesiredCount"
RID = "service/app-prod/api"


def _target_tracking(metric: str, target: float) -> dict:
    return {"TargetValue": target, "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
            "ScaleInCooldown": 300, "ScaleOutCooldown": 60}


@pytest.fixture
def scaled_service(ctx):
    """An ECS service scaled 2-10 by CPU (70 %) and memory (80 %) target tracking."""
    ecs = ctx.client("ecs")
    ecs.create_cluster(clusterName="app-prod")
    ecs.register_task_definition(family="app", containerDefinitions=[{"name": "web", "image": "nginx", "memory": 512}])
    ecs.create_service(cluster="app-prod", serviceName="api", taskDefinition="app", desiredCount=2)
    aas = ctx.client("application-autoscaling")
    aas.register_scalable_target(ServiceNamespace="ecs", ResourceId=RID, ScalableDimension=DIMENSION,
                                 MinCapacity=2, MaxCapacity=10)
    for name, metric, target in (("cpu", "ECSServiceAverageCPUUtilization", 70.0),
                                 ("memory", "ECSServiceAverageMemoryUtilization", 80.0)):
        aas.put_scaling_policy(PolicyName=name, ServiceNamespace="ecs", ResourceId=RID,
                               ScalableDimension=DIMENSION, PolicyType="TargetTrackingScaling",
                               TargetTrackingScalingPolicyConfiguration=_target_tracking(metric, target))


def _expected_policy(name: str, metric: str, target: float) -> dict:
    return {"policy_name": name, "policy_type": "TargetTrackingScaling", "target_value": target,
            "predefined_metric_type": metric, "resource_label": None, "customized_metric": None,
            "scale_in_cooldown": 300, "scale_out_cooldown": 60, "disable_scale_in": None,
            "adjustment_type": None, "cooldown": None, "metric_aggregation_type": None,
            "min_adjustment_magnitude": None, "step_adjustments": None}


def test_scalable_target_with_policies(ctx, scaled_service):
    [t] = list(autoscaling.scalable_targets(ctx))
    assert (t.id, t.name) == (RID, RID)
    assert t.arn.startswith("arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/")
    attrs = thaw(t.attributes)
    policies = attrs.pop("policies")
    assert attrs == {
        "service_namespace": "ecs", "resource_id": RID, "scalable_dimension": DIMENSION,
        "min_capacity": 2, "max_capacity": 10, "cluster_name": "app-prod", "service_name": "api",
        "role_arn": None, "suspended": None,
    }
    # moto creates the two target-tracking alarms with random suffixes
    for p in policies:
        assert [n.rsplit("-", 5)[0] for n in p.pop("alarm_names")] == [
            f"TargetTracking-{RID}-AlarmHigh", f"TargetTracking-{RID}-AlarmLow"]
    assert sorted(policies, key=lambda p: p["policy_name"]) == [
        _expected_policy("cpu", "ECSServiceAverageCPUUtilization", 70.0),
        _expected_policy("memory", "ECSServiceAverageMemoryUtilization", 80.0),
    ]


def _aws_target(rid: str) -> dict:
    return {"ServiceNamespace": "ecs", "ResourceId": rid, "ScalableDimension": DIMENSION,
            "MinCapacity": 1, "MaxCapacity": 4, "RoleARN": "arn:aws:iam::123456789012:role/aws-service-role/x",
            "CreationTime": "2024-01-01T00:00:00Z"}


def test_targets_follow_next_token_and_map_real_aws_fields(ctx):
    """Several pages of targets (moto's NextToken breaks from page 3), step scaling, suspension."""
    aas = ctx.client("application-autoscaling")
    rids = [f"service/c/s{i}" for i in range(5)]
    step = {
        "PolicyName": "steps", "PolicyARN": "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:x",
        "ServiceNamespace": "ecs", "ResourceId": rids[4], "ScalableDimension": DIMENSION,
        "PolicyType": "StepScaling", "CreationTime": "2024-01-01T00:00:00Z",
        "StepScalingPolicyConfiguration": {
            "AdjustmentType": "ChangeInCapacity", "Cooldown": 120, "MetricAggregationType": "Average",
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 10.0,
                                 "ScalingAdjustment": 1},
                                {"MetricIntervalLowerBound": 10.0, "ScalingAdjustment": 2}]},
        "Alarms": [{"AlarmName": "high-cpu", "AlarmARN": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:high-cpu"}],
    }
    custom = {
        "PolicyName": "queue", "PolicyARN": "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:y",
        "ServiceNamespace": "ecs", "ResourceId": rids[0], "ScalableDimension": DIMENSION,
        "PolicyType": "TargetTrackingScaling", "CreationTime": "2024-01-01T00:00:00Z",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 100.0, "DisableScaleIn": True,
            "CustomizedMetricSpecification": {
                "MetricName": "ApproximateNumberOfMessagesVisible", "Namespace": "AWS/SQS",
                "Dimensions": [{"Name": "QueueName", "Value": "jobs"}], "Statistic": "Average"}},
    }
    suspended = {"DynamicScalingInSuspended": True, "DynamicScalingOutSuspended": False,
                 "ScheduledScalingSuspended": False}
    with Stubber(aas) as stub:
        stub.add_response("describe_scaling_policies", {"ScalingPolicies": [step], "NextToken": "p2"},
                          {"ServiceNamespace": "ecs"})
        stub.add_response("describe_scaling_policies", {"ScalingPolicies": [custom]},
                          {"ServiceNamespace": "ecs", "NextToken": "p2"})
        stub.add_response("describe_scalable_targets",
                          {"ScalableTargets": [_aws_target(r) for r in rids[:2]], "NextToken": "t2"},
                          {"ServiceNamespace": "ecs"})
        stub.add_response("describe_scalable_targets",
                          {"ScalableTargets": [_aws_target(r) for r in rids[2:4]], "NextToken": "t3"},
                          {"ServiceNamespace": "ecs", "NextToken": "t2"})
        stub.add_response("describe_scalable_targets",
                          {"ScalableTargets": [{**_aws_target(rids[4]), "SuspendedState": suspended}]},
                          {"ServiceNamespace": "ecs", "NextToken": "t3"})
        found = {t.id: t for t in autoscaling.scalable_targets(ctx)}
        stub.assert_no_pending_responses()
    assert list(found) == rids
    assert found[rids[1]].attributes["policies"] == []
    assert found[rids[1]].attributes["role_arn"] == "arn:aws:iam::123456789012:role/aws-service-role/x"
    last = found[rids[4]].attributes
    assert last["suspended"] == {"dynamic_scaling_in_suspended": True, "dynamic_scaling_out_suspended": False,
                                 "scheduled_scaling_suspended": False}
    [p] = last["policies"]
    assert (p["policy_type"], p["adjustment_type"], p["cooldown"], p["alarm_names"]) == (
        "StepScaling", "ChangeInCapacity", 120, ["high-cpu"])
    assert p["step_adjustments"] == [
        {"metric_interval_lower_bound": 0.0, "metric_interval_upper_bound": 10.0, "scaling_adjustment": 1},
        {"metric_interval_lower_bound": 10.0, "metric_interval_upper_bound": None, "scaling_adjustment": 2}]
    [q] = found[rids[0]].attributes["policies"]
    assert (q["target_value"], q["disable_scale_in"], q["predefined_metric_type"]) == (100.0, True, None)
    assert q["customized_metric"] == {
        "metric_name": "ApproximateNumberOfMessagesVisible", "namespace": "AWS/SQS",
        "dimensions": [{"name": "QueueName", "value": "jobs"}], "statistic": "Average"}


def test_resource_id_outside_ecs_service_pattern(ctx):
    aas = ctx.client("application-autoscaling")
    with Stubber(aas) as stub:
        stub.add_response("describe_scaling_policies", {"ScalingPolicies": []}, {"ServiceNamespace": "ecs"})
        stub.add_response("describe_scalable_targets", {"ScalableTargets": [_aws_target("odd-id")]},
                          {"ServiceNamespace": "ecs"})
        [t] = list(autoscaling.scalable_targets(ctx))
    assert (t.attributes["cluster_name"], t.attributes["service_name"]) == (None, None)


def test_denied_call_propagates(ctx):
    aas = ctx.client("application-autoscaling")
    with Stubber(aas) as stub:
        stub.add_client_error("describe_scaling_policies", "AccessDeniedException", "not authorized",
                              expected_params={"ServiceNamespace": "ecs"})
        with pytest.raises(ClientError) as err:
            list(autoscaling.scalable_targets(ctx))
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"


def test_snake_dict():
    assert autoscaling.snake_dict({"PathPatternConfig": {"Values": ["/a"]}, "HTTPCode": 1, "SourceIpConfig": []}) == {
        "path_pattern_config": {"values": ["/a"]}, "http_code": 1, "source_ip_config": []}
