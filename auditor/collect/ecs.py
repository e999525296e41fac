"""ECS clusters, services and task definitions.

Clusters come from ``describe_clusters`` (include SETTINGS and TAGS, 100 per call); services
from ``list_services`` per cluster and ``describe_services`` (include TAGS, 10 per call); task
definitions are every revision a service references plus the latest ACTIVE revision of each
family (``describe_task_definition`` one at a time, include TAGS). Environment variable values
are never kept, only their names; secrets keep their name and ``valueFrom`` ARN. Clusters and
services deleted between the list and describe calls (reason MISSING, ClusterNotFoundException) are
dropped and counted; a referenced revision that cannot be described is kept with every attribute
unknown.

Resource types (each described, attributes and volatile ones included, by its ``ResourceType`` below):

- ``ecs_cluster`` (id = cluster name): container_insights is "enabled", "enhanced" or "disabled".
- ``ecs_service`` (id = service ARN, name = service name): launch_type is "FARGATE" also when only
  a FARGATE/FARGATE_SPOT capacity provider strategy is set; deployment_controller is the type
  string; deployment_configuration, its circuit_breaker and alarms are None when not set;
  network.assign_public_ip is None without awsvpc configuration.
- ``ecs_task_definition`` (id = task definition ARN, name = "family:revision"): cpu and memory
  are ints; runtime_platform and each container's log_configuration and health_check are None
  when not set.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..attributes import many, shape
from ..model import Resource
from . import CollectContext, chunks, collector, isoformat, tag_dict
from .types import Dimensions, Edge, ResourceType

_STRATEGY = many("capacity_provider:str weight:int base:int")
_ARN = "arn:{partition}:ecs:{region}:{account}:"
_SERVICES_CALLS = ("ListClusters", "ListServices", "DescribeServices")   # those of _services
CLUSTER = ResourceType(
    "ecs_cluster", "ecs", _ARN + "cluster/{name}",
    calls=("ListClusters", "DescribeClusters"),
    attributes=shape(
        "cluster_name:str status:str container_insights:enabled|enhanced|disabled capacity_providers:[str] "
        "active_services_count:int running_tasks_count:int pending_tasks_count:int registered_container_instances_count:int",
        default_capacity_provider_strategy=_STRATEGY),
    volatile=("active_services_count", "running_tasks_count", "pending_tasks_count",
              "registered_container_instances_count"),
    alarms=(Dimensions("AWS/ECS", {"ClusterName": "id"}, forbidden=("ServiceName",)),),
    owns=(Edge("ecs_service", via="cluster_services"),))
SERVICE = ResourceType(
    "ecs_service", "ecs", _ARN + "service/{path}",
    calls=_SERVICES_CALLS,
    attributes=shape(
        "cluster_name:str cluster_arn:str service_name:str status:str launch_type:EC2|FARGATE|EXTERNAL|MANAGED_INSTANCES "
        "platform_version:str desired_count:int running_count:int pending_count:int task_definition_arn:str "
        "scheduling_strategy:REPLICA|DAEMON deployment_controller:ECS|CODE_DEPLOY|EXTERNAL "
        "health_check_grace_period_seconds:int enable_execute_command:bool propagate_tags:TASK_DEFINITION|SERVICE|NONE "
        "enable_ecs_managed_tags:bool service_registry_arns:[str] created_at:time",
        capacity_provider_strategy=_STRATEGY,
        deployment_configuration=shape("minimum_healthy_percent:int maximum_percent:int",
                                       circuit_breaker=shape("enable:bool rollback:bool"),
                                       alarms=shape("alarm_names:[str] enable:bool rollback:bool")),
        network=shape("subnet_ids:[str] security_group_ids:[str] assign_public_ip:bool"),
        load_balancers=many("target_group_arn:str load_balancer_name:str container_name:str container_port:int")),
    volatile=("running_count", "pending_count"),
    alarms=(Dimensions("AWS/ECS", {"ClusterName": "cluster_name", "ServiceName": "service_name"}),),
    owns=(Edge("ecs_task_definition", "task_definition_arn"), Edge("target_group", via="service_target_groups"),
          Edge("security_group", via="security_groups"), Edge("subnet", via="subnets"),
          Edge("scalable_target", via="scalable_targets"), Edge("log_group", via="log_groups"),
          Edge("secret", via="secrets"), Edge("ecr_repository", via="repositories")),
    cost="fargate")
TASK_DEFINITION = ResourceType(
    "ecs_task_definition", "ecs", _ARN + "task-definition/{family}:{revision}",
    calls=("ListTaskDefinitionFamilies", "DescribeTaskDefinition", *_SERVICES_CALLS),
    attributes=shape(
        "family:str revision:int status:ACTIVE|INACTIVE|DELETE_IN_PROGRESS cpu:int memory:int "
        "network_mode:bridge|host|awsvpc|none requires_compatibilities:[EC2|FARGATE|EXTERNAL|MANAGED_INSTANCES] "
        "task_role_arn:str execution_role_arn:str ephemeral_storage_gib:int",
        runtime_platform=shape("cpu_architecture:X86_64|ARM64 operating_system_family:str"),
        containers=many(
            "name:str image:str cpu:int memory:int memory_reservation:int essential:bool user:str "
            "readonly_root_filesystem:bool privileged:bool environment_names:[str]",
            port_mappings=many("container_port:int host_port:int protocol:tcp|udp"),
            log_configuration=shape("driver:json-file|syslog|journald|gelf|fluentd|awslogs|splunk|awsfirelens options:map"),
            secrets=many("name:str value_from:str"),
            health_check=shape("command:[str] interval:int timeout:int retries:int start_period:int"))),
    cost="fargate")   # priced through the services that run it

_FARGATE_PROVIDERS = {"FARGATE", "FARGATE_SPOT"}


def _int(value: Any) -> int | None:
    """An int from an int or numeric string (task definition cpu/memory are strings)."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None



def _strategy(items: list[dict] | None) -> list[dict]:
    return [{"capacity_provider": s.get("capacityProvider"), "weight": s.get("weight"),
             "base": s.get("base")} for s in items or []]


def _cluster_name(cluster_arn: str) -> str:
    return cluster_arn.rsplit("/", 1)[-1]


def _cluster_arns(ctx: CollectContext) -> list[str]:
    return ctx.shared("ecs.cluster_arns", lambda: list(ctx.paginate("ecs", "list_clusters", "clusterArns")))


def _missing(resp: dict) -> int:
    """How many of the named resources a describe call did not find (deleted since they were listed)."""
    return sum(f.get("reason") == "MISSING" for f in resp.get("failures") or [])


def _services(ctx: CollectContext) -> tuple[list[dict], int]:
    """Raw ``describe_services`` entries of every service in every cluster, read once per audit, and
    how many listed services had vanished (a cluster deleted meanwhile holds none)."""
    def fetch() -> tuple[list[dict], int]:
        ecs = ctx.client("ecs")
        out: list[dict] = []
        missing = 0
        for cluster_arn in _cluster_arns(ctx):
            try:
                arns = list(ctx.paginate("ecs", "list_services", "serviceArns", cluster=cluster_arn))
            except ecs.exceptions.ClusterNotFoundException:
                continue
            for batch in chunks(arns, 10):
                resp = ecs.describe_services(cluster=cluster_arn, services=batch, include=["TAGS"])
                out.extend(resp.get("services", []))
                missing += _missing(resp)
        return out, missing
    return ctx.shared("ecs.services", fetch)


@collector(CLUSTER)
def clusters(ctx: CollectContext) -> Iterator[Resource]:
    ecs = ctx.client("ecs")
    for batch in chunks(_cluster_arns(ctx), 100):
        resp = ecs.describe_clusters(clusters=batch, include=["SETTINGS", "TAGS"])
        ctx.vanish("ecs_cluster", _missing(resp))
        for c in resp.get("clusters", []):
            settings = {s.get("name"): s.get("value") for s in c.get("settings") or []}
            name = c.get("clusterName") or _cluster_name(c["clusterArn"])
            yield ctx.resource(
                "ecs_cluster", name, arn=c.get("clusterArn"), name=name, tags=tag_dict(c.get("tags")),
                cluster_name=name,
                status=c.get("status"),
                container_insights=(settings.get("containerInsights") or "disabled").lower(),
                capacity_providers=list(c.get("capacityProviders") or []),
                default_capacity_provider_strategy=_strategy(c.get("defaultCapacityProviderStrategy")),
                active_services_count=c.get("activeServicesCount"),
                running_tasks_count=c.get("runningTasksCount"),
                pending_tasks_count=c.get("pendingTasksCount"),
                registered_container_instances_count=c.get("registeredContainerInstancesCount"),
            )


def _launch_type(svc: dict) -> str | None:
    if svc.get("launchType"):
        return svc["launchType"]
    providers = {s.get("capacityProvider") for s in svc.get("capacityProviderStrategy") or []}
    return "FARGATE" if providers & _FARGATE_PROVIDERS else None


def _deployment_configuration(cfg: dict | None) -> dict | None:
    if not cfg:
        return None
    breaker = cfg.get("deploymentCircuitBreaker")
    alarms = cfg.get("alarms")
    return {
        "minimum_healthy_percent": cfg.get("minimumHealthyPercent"),
        "maximum_percent": cfg.get("maximumPercent"),
        "circuit_breaker": {"enable": breaker.get("enable"), "rollback": breaker.get("rollback")}
        if breaker else None,
        "alarms": {"alarm_names": list(alarms.get("alarmNames") or []),
                   "enable": alarms.get("enable"), "rollback": alarms.get("rollback")}
        if alarms else None,
    }


def _network(cfg: dict | None) -> dict:
    vpc = (cfg or {}).get("awsvpcConfiguration")
    if not vpc:
        return {"subnet_ids": [], "security_group_ids": [], "assign_public_ip": None}
    return {"subnet_ids": list(vpc.get("subnets") or []),
            "security_group_ids": list(vpc.get("securityGroups") or []),
            "assign_public_ip": vpc.get("assignPublicIp") == "ENABLED"}


@collector(SERVICE)
def services(ctx: CollectContext) -> Iterator[Resource]:
    found, missing = _services(ctx)
    ctx.vanish("ecs_service", missing)
    for s in found:
        cluster_arn = s.get("clusterArn")
        yield ctx.resource(
            "ecs_service", s["serviceArn"], arn=s["serviceArn"], name=s.get("serviceName"),
            tags=tag_dict(s.get("tags")),
            cluster_name=_cluster_name(cluster_arn) if cluster_arn else None,
            cluster_arn=cluster_arn,
            service_name=s.get("serviceName"),
            status=s.get("status"),
            launch_type=_launch_type(s),
            capacity_provider_strategy=_strategy(s.get("capacityProviderStrategy")),
            platform_version=s.get("platformVersion"),
            desired_count=s.get("desiredCount"),
            running_count=s.get("runningCount"),
            pending_count=s.get("pendingCount"),
            task_definition_arn=s.get("taskDefinition"),
            scheduling_strategy=s.get("schedulingStrategy"),
            deployment_controller=(s.get("deploymentController") or {}).get("type"),
            deployment_configuration=_deployment_configuration(s.get("deploymentConfiguration")),
            health_check_grace_period_seconds=s.get("healthCheckGracePeriodSeconds"),
            enable_execute_command=s.get("enableExecuteCommand"),
            propagate_tags=s.get("propagateTags"),
            enable_ecs_managed_tags=s.get("enableECSManagedTags"),
            network=_network(s.get("networkConfiguration")),
            load_balancers=[{"target_group_arn": lb.get("targetGroupArn"),
                             "load_balancer_name": lb.get("loadBalancerName"),
                             "container_name": lb.get("containerName"),
                             "container_port": lb.get("containerPort")}
                            for lb in s.get("loadBalancers") or []],
            service_registry_arns=[r.get("registryArn") for r in s.get("serviceRegistries") or []],
            created_at=isoformat(s.get("createdAt")),
        )


def _container(c: dict) -> dict:
    log = c.get("logConfiguration")
    hc = c.get("healthCheck")
    return {
        "name": c.get("name"),
        "image": c.get("image"),
        "cpu": c.get("cpu"),
        "memory": c.get("memory"),
        "memory_reservation": c.get("memoryReservation"),
        "essential": c.get("essential"),
        "user": c.get("user"),
        "readonly_root_filesystem": c.get("readonlyRootFilesystem"),
        "privileged": c.get("privileged"),
        "port_mappings": [{"container_port": p.get("containerPort"), "host_port": p.get("hostPort"),
                           "protocol": p.get("protocol")} for p in c.get("portMappings") or []],
        "log_configuration": {"driver": log.get("logDriver"), "options": dict(log.get("options") or {})}
        if log else None,
        "secrets": [{"name": s.get("name"), "value_from": s.get("valueFrom")} for s in c.get("secrets") or []],
        "environment_names": [e.get("name") for e in c.get("environment") or []],
        "health_check": {"command": list(hc.get("command") or []), "interval": hc.get("interval"),
                         "timeout": hc.get("timeout"), "retries": hc.get("retries"),
                         "start_period": hc.get("startPeriod")} if hc else None,
    }


def _task_definition(ctx: CollectContext, td: dict, tags: list | None) -> Resource:
    name = f"{td.get('family')}:{td.get('revision')}"
    platform = td.get("runtimePlatform")
    return ctx.resource(
        "ecs_task_definition", td["taskDefinitionArn"], arn=td["taskDefinitionArn"], name=name,
        tags=tag_dict(tags),
        family=td.get("family"),
        revision=td.get("revision"),
        status=td.get("status"),
        cpu=_int(td.get("cpu")),
        memory=_int(td.get("memory")),
        network_mode=td.get("networkMode"),
        requires_compatibilities=list(td.get("requiresCompatibilities") or []),
        task_role_arn=td.get("taskRoleArn"),
        execution_role_arn=td.get("executionRoleArn"),
        runtime_platform={"cpu_architecture": platform.get("cpuArchitecture"),
                          "operating_system_family": platform.get("operatingSystemFamily")}
        if platform else None,
        ephemeral_storage_gib=(td.get("ephemeralStorage") or {}).get("sizeInGiB"),
        containers=[_container(c) for c in td.get("containerDefinitions") or []],
    )


_TASK_DEFINITION_READS = ("tags", *TASK_DEFINITION.attributes)   # what describe_task_definition gives


@collector(TASK_DEFINITION)
def task_definitions(ctx: CollectContext) -> Iterator[Resource]:
    ecs = ctx.client("ecs")
    seen: set[str] = set()
    families = list(ctx.paginate("ecs", "list_task_definition_families", "families", status="ACTIVE"))
    referenced = [s["taskDefinition"] for s in _services(ctx)[0] if s.get("taskDefinition")]
    for ref in families + referenced:
        if ref in seen:
            continue
        seen.add(ref)
        with ctx.item("ecs", "ecs_task_definition", ref) as item:
            resp = item.call(_TASK_DEFINITION_READS, ecs.describe_task_definition, taskDefinition=ref, include=["TAGS"])
            if resp is None:
                if ref.startswith("arn:"):   # a family's latest revision has no known ARN: only its error is kept
                    yield item.resource(arn=ref, name=ref.rsplit("/", 1)[-1], **dict.fromkeys(TASK_DEFINITION.attributes))
                continue
        td = resp["taskDefinition"]
        if ref in families and td.get("status") != "ACTIVE":
            continue  # a family without an ACTIVE revision (AWS filters these; moto does not)
        seen.add(td["taskDefinitionArn"])
        yield _task_definition(ctx, td, resp.get("tags"))

