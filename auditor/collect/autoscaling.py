"""Application Auto Scaling targets and policies of ECS services.

Reads ``describe_scalable_targets`` and ``describe_scaling_policies`` (both paginated, service
namespace ``ecs`` only) and attaches each target's policies to it. Scalable targets carry no
tags here; take the environment from the ECS service they scale.

Resource types (each described, attributes and volatile ones included, by its ``ResourceType`` below):

- ``scalable_target`` (id = ResourceId, e.g. "service/cluster/svc"; name = same): suspended is
  None unless suspended; each policy's customized_metric is the snake_case specification or
  None, its step_adjustments None unless StepScaling.
"""
from __future__ import annotations

from collections.abc import Iterator

from ..attributes import many, shape
from ..model import Resource
from . import CollectContext, collector, snake_dict
from .types import ResourceType

SCALABLE_TARGET = ResourceType(
    "scalable_target", "application-autoscaling",
    "arn:{partition}:application-autoscaling:{region}:{account}:scalable-target/{scalable_target_id}",
    calls=("DescribeScalingPolicies", "DescribeScalableTargets"),
    attributes=shape(
        "service_namespace:str resource_id:str scalable_dimension:str min_capacity:int max_capacity:int cluster_name:str "
        "service_name:str role_arn:str",
        suspended=shape("dynamic_scaling_in_suspended:bool dynamic_scaling_out_suspended:bool scheduled_scaling_suspended:bool"),
        policies=many(
            "policy_name:str policy_type:StepScaling|TargetTrackingScaling|PredictiveScaling target_value:number "
            "predefined_metric_type:str resource_label:str customized_metric:map scale_in_cooldown:int scale_out_cooldown:int "
            "disable_scale_in:bool adjustment_type:ChangeInCapacity|PercentChangeInCapacity|ExactCapacity cooldown:int "
            "metric_aggregation_type:Average|Minimum|Maximum min_adjustment_magnitude:int alarm_names:[str]",
            step_adjustments=many("metric_interval_lower_bound:number metric_interval_upper_bound:number "
                                  "scaling_adjustment:int"))))

NAMESPACE = "ecs"


def _ecs_names(resource_id: str) -> tuple[str | None, str | None]:
    """("cluster", "svc") from "service/cluster/svc"."""
    parts = resource_id.split("/")
    if len(parts) == 3 and parts[0] == "service":
        return parts[1], parts[2]
    return None, None


def _policy(p: dict) -> dict:
    tt = p.get("TargetTrackingScalingPolicyConfiguration") or {}
    step = p.get("StepScalingPolicyConfiguration") or {}
    predefined = tt.get("PredefinedMetricSpecification") or {}
    customized = tt.get("CustomizedMetricSpecification")
    adjustments = step.get("StepAdjustments")
    return {
        "policy_name": p.get("PolicyName"),
        "policy_type": p.get("PolicyType"),
        "target_value": tt.get("TargetValue"),
        "predefined_metric_type": predefined.get("PredefinedMetricType"),
        "resource_label": predefined.get("ResourceLabel"),
        "customized_metric": snake_dict(customized) if customized else None,
        "scale_in_cooldown": tt.get("ScaleInCooldown"),
        "scale_out_cooldown": tt.get("ScaleOutCooldown"),
        "disable_scale_in": tt.get("DisableScaleIn"),
        "adjustment_type": step.get("AdjustmentType"),
        "cooldown": step.get("Cooldown"),
        "metric_aggregation_type": step.get("MetricAggregationType"),
        "min_adjustment_magnitude": step.get("MinAdjustmentMagnitude"),
        "step_adjustments": [{"metric_interval_lower_bound": a.get("MetricIntervalLowerBound"),
                              "metric_interval_upper_bound": a.get("MetricIntervalUpperBound"),
                              "scaling_adjustment": a.get("ScalingAdjustment")} for a in adjustments]
        if adjustments is not None else None,
        "alarm_names": [a.get("AlarmName") for a in p.get("Alarms") or []],
    }


@collector(SCALABLE_TARGET)
def scalable_targets(ctx: CollectContext) -> Iterator[Resource]:
    policies: dict[tuple[str, str], list[dict]] = {}
    for p in ctx.paginate("application-autoscaling", "describe_scaling_policies", "ScalingPolicies",
                          ServiceNamespace=NAMESPACE):
        policies.setdefault((p.get("ResourceId"), p.get("ScalableDimension")), []).append(_policy(p))
    for t in ctx.paginate("application-autoscaling", "describe_scalable_targets", "ScalableTargets",
                          ServiceNamespace=NAMESPACE):
        rid = t["ResourceId"]
        cluster, service = _ecs_names(rid)
        suspended = t.get("SuspendedState")
        yield ctx.resource(
            "scalable_target", rid, arn=t.get("ScalableTargetARN"), name=rid,
            service_namespace=t.get("ServiceNamespace"),
            resource_id=rid,
            scalable_dimension=t.get("ScalableDimension"),
            min_capacity=t.get("MinCapacity"),
            max_capacity=t.get("MaxCapacity"),
            cluster_name=cluster,
            service_name=service,
            role_arn=t.get("RoleARN"),
            suspended=snake_dict(suspended) if suspended else None,
            policies=policies.get((rid, t.get("ScalableDimension")), []),
        )
