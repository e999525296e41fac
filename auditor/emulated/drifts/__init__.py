"""Documented drifts: one change to an emulated deployment, and the failing finding it must cause.

Each architecture has a module here (``mattilda.py`` for ``mattilda``, ``miss_you_app.py`` for
``miss-you-app``) with ``DRIFTS``, a list of :class:`Drift`. A drift's ``change`` is usually one
AWS call (:func:`call`) whose ``"{key}"`` arguments are resolved from the
:class:`~auditor.emulated.builder.Deployment`; ``expect`` maps each rule that must fail to the
deployment key of the resource the finding must name (``None``: a missing resource;
``"deployment"``: the auditor's derived ``deployment`` resource, e.g. for a cost rule).

``environment`` is the environment the drift is applied to (default: any documented one);
``environments`` the environments that must be deployed together for the drift to mean
something (e.g. ``("development", "production")`` for "production's database is gone while
development's stays"); :func:`auditor.emulated.demo.deploy` deploys them all and applies the
drift to ``environment``.
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..builder import Deployment

Clients = Callable[[str], Any]
Change = Callable[[Clients, Deployment], None]
AREAS = ("network", "security_groups", "ecs", "autoscaling", "rds", "redis", "cloudwatch", "logs",
         "ecr", "load_balancer", "secrets")
_REF = re.compile(r"^\{([^{}]+)\}$")


@dataclass(frozen=True)
class Drift:
    name: str
    area: str
    description: str
    change: Change
    expect: dict[str, str | None] = field(default_factory=dict)
    environment: str | None = None  # the environment the drift needs (default: any)
    environments: tuple[str, ...] = ()  # environments deployed together (default: only the drifted one)

    def __post_init__(self) -> None:
        if self.area not in AREAS:
            raise ValueError(f"drift {self.name}: unknown area {self.area!r}")
        if self.environments and self.environment not in self.environments:
            raise ValueError(f"drift {self.name}: environments {self.environments} must include "
                             f"its environment {self.environment!r}")


def _lookup(ref: str, deployment: Deployment) -> Any:
    if ref.startswith("spec."):
        value: Any = deployment.spec
        for part in ref.split(".")[1:]:
            value = getattr(value, part)
        return value
    return deployment[ref]


def resolve(value: Any, deployment: Deployment) -> Any:
    """Replace ``"{key}"`` strings (also inside lists and dicts) by the deployment's ids, or
    ``"{spec.a.b}"`` by an attribute of the spec (e.g. ``{spec.database.identifier}``)."""
    if isinstance(value, str):
        m = _REF.match(value)
        return _lookup(m.group(1), deployment) if m else value
    if isinstance(value, list):
        return [resolve(v, deployment) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, deployment) for k, v in value.items()}
    return value


def call(service: str, method: str, /, **kwargs: Any) -> Change:
    """A change that is one AWS API call."""
    def change(clients: Clients, deployment: Deployment) -> None:
        getattr(clients(service), method)(**resolve(kwargs, deployment))
    change.__doc__ = f"{service}.{method}({kwargs})"
    return change


def tcp(port: int, source: str) -> list[dict[str, Any]]:
    """``IpPermissions`` for one TCP port from a CIDR or a ``"{sg:key}"`` group reference."""
    peer = {"UserIdGroupPairs": [{"GroupId": source}]} if source.startswith("{") else \
        {"IpRanges": [{"CidrIp": source}]}
    return [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **peer}]


def steps(*changes: Change) -> Change:
    """Several changes applied in order."""
    def change(clients: Clients, deployment: Deployment) -> None:
        for c in changes:
            c(clients, deployment)
    return change


def _service_resource_id(deployment: Deployment, service_key: str) -> str:
    spec = deployment.spec
    service = next(s for s in spec.services if s.key == service_key)
    return f"service/{spec.cluster.name}/{service.name}"


def scaling_range(service_key: str, minimum: int, maximum: int) -> Change:
    """Re-register a service's scalable target with another min/max capacity."""
    def change(clients: Clients, deployment: Deployment) -> None:
        clients("application-autoscaling").register_scalable_target(
            ServiceNamespace="ecs", ScalableDimension="ecs:service:DesiredCount",
            ResourceId=_service_resource_id(deployment, service_key), MinCapacity=minimum, MaxCapacity=maximum)
    return change


def delete_scaling_policy(service_key: str, policy_name: str) -> Change:
    def change(clients: Clients, deployment: Deployment) -> None:
        clients("application-autoscaling").delete_scaling_policy(
            PolicyName=policy_name, ServiceNamespace="ecs", ScalableDimension="ecs:service:DesiredCount",
            ResourceId=_service_resource_id(deployment, service_key))
    return change


def alarm_change(alarm_name: str, **changes: Any) -> Change:
    """Re-put a metric alarm with some of its settings changed (e.g. Threshold)."""
    copied = ("AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions", "MetricName",
              "Namespace", "Statistic", "Dimensions", "Period", "EvaluationPeriods", "DatapointsToAlarm",
              "Threshold", "ComparisonOperator", "TreatMissingData")

    def change(clients: Clients, deployment: Deployment) -> None:
        cw = clients("cloudwatch")
        [alarm] = cw.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"]
        cw.put_metric_alarm(**{**{k: alarm[k] for k in copied if k in alarm}, **changes})
    return change


def task_change(service_key: str, **changes: Any) -> Change:
    """Register a new revision of a service's task definition with changes (e.g. cpu) and deploy it."""
    keep = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions",
            "requiresCompatibilities", "cpu", "memory")

    def change(clients: Clients, deployment: Deployment) -> None:
        ecs = clients("ecs")
        service = next(s for s in deployment.spec.services if s.key == service_key)
        current = ecs.describe_task_definition(taskDefinition=deployment[f"taskdef:{service.task}"],
                                               include=["TAGS"])
        td = current["taskDefinition"]
        tags = {"tags": current["tags"]} if current.get("tags") else {}
        arn = ecs.register_task_definition(**{**{k: td[k] for k in keep if k in td}, **tags, **changes})[
            "taskDefinition"]["taskDefinitionArn"]
        ecs.update_service(cluster=deployment.spec.cluster.name, service=service.name, taskDefinition=arn)
    return change


def module_name(architecture: str) -> str:
    return architecture.replace("-", "_")


def drifts_for(architecture: str) -> list[Drift]:
    try:
        module = importlib.import_module(f"{__name__}.{module_name(architecture)}")
    except ModuleNotFoundError:
        return []
    return list(module.DRIFTS)


def get(architecture: str, name: str) -> Drift:
    for d in drifts_for(architecture):
        if d.name == name:
            return d
    known = ", ".join(d.name for d in drifts_for(architecture)) or "none"
    raise KeyError(f"unknown drift {name!r} for {architecture} (known: {known})")
