"""Fill a few moto 5.2.5 gaps in-process, so emulated accounts hold what real AWS would return.

Test-support only: collectors stay written for real AWS; this module makes moto store and
return the settings that the architecture rules check. The gaps are the ones measured against
moto 5.2 and noted at each patch below.

:func:`apply` is idempotent; :func:`revert` (or ``with patched():``) undoes it, so tests that
expect plain moto do not depend on test order. It patches moto's classes (response handlers,
models), so it works under ``mock_aws`` and for a ``ThreadedMotoServer`` running in the same
process (the server instantiates the same response classes). It cannot reach a moto server
in another process.

What is patched
* ECS: ``create_service``/``update_service`` keep ``deploymentConfiguration`` (AWS defaults
  100/200 and a disabled circuit breaker when omitted; update merges like AWS),
  ``healthCheckGracePeriodSeconds`` (0 when the service has load balancers and none was
  given) and ``enableExecuteCommand`` (false by default).
* RDS: ``create_db_instance``/``modify_db_instance`` keep ``PerformanceInsightsEnabled``
  (always present), ``PerformanceInsightsRetentionPeriod`` (7 by default) and
  ``PerformanceInsightsKMSKeyId`` when enabled; gp3 gets AWS's baseline ``Iops``/
  ``StorageThroughput`` (3000/125 below 400 GiB, 12000/500 from 400 GiB) when none are given;
  a modify that sets ``StorageType`` and ``StorageThroughput`` together keeps the throughput;
  ``KmsKeyId`` of an encrypted instance is a key ARN instead of ``default_kms_key_id``;
  a backup window that merely touches the maintenance window is accepted, as in AWS.
* ElastiCache: ``create_replication_group`` honours ``NumCacheClusters``; the member clusters
  are real cache clusters (``describe_cache_clusters`` shows engine version,
  ``CacheParameterGroup``, ``SecurityGroups``, ``CacheSubnetGroupName``,
  ``AtRestEncryptionEnabled``, snapshot settings, the group's tags) and are removed with the
  group; cache parameter groups: create, modify, reset, delete, describe groups (with
  ``default.<family>`` groups) and describe parameters (``Source`` = user/system/
  engine-default; paged with ``MaxRecords``/``Marker``).

Also here, not patches: :data:`SETTINGS` (moto's own settings for emulated accounts, with
:func:`settings` to apply them to a block) and :func:`mark_certificate_issued` (the builder's ACM certificates are
validated at once instead of after moto's 60-second wait).

Not patched (infeasible in a small module, or not needed by the specs)
* Cache parameters know only a handful of engine defaults (``_REDIS_DEFAULTS``), not the full
  per-family catalogue; modifying another name is accepted as a string parameter.
* ``CacheNodes`` (only returned with ``ShowCacheNodeInfo``) is still not returned.
* Parameter-group existence is not validated when a cluster or group references one.
"""
from __future__ import annotations

import contextlib
import inspect
import os
import threading
import uuid
from typing import Any
from unittest import mock

_LOCK = threading.RLock()
_MISSING = object()
_SAVED: list[tuple[Any, str, Any]] = []  # (owner, attribute, original class-dict value), in order


# moto's settings for emulated accounts (environment variables, read when moto makes a backend): no public
# AMIs, which moto otherwise makes in every EC2 region (about 1,300, each with a snapshot and a volume) and
# no collector reads; they cost 0.25 s per region and, kept alive, time in every garbage collection.
SETTINGS = {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}


def settings() -> contextlib.AbstractContextManager:
    """:data:`SETTINGS` in the environment for a block, what was there before put back after."""
    return mock.patch.dict(os.environ, SETTINGS)


def apply() -> None:
    """Install every patch once (idempotent, thread-safe)."""
    with _LOCK:
        if _SAVED:
            return
        _patch_ecs()
        _patch_rds()
        _patch_elasticache()


def revert() -> None:
    """Undo :func:`apply` (no-op when not applied), so that other tests see moto unpatched.

    Objects created while patched keep what they stored.
    """
    with _LOCK:
        while _SAVED:
            owner, name, original = _SAVED.pop()
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def is_applied() -> bool:
    return bool(_SAVED)


@contextlib.contextmanager
def patched():
    """``with patched(): ...`` applies the patches and reverts them afterwards if this call applied them."""
    with _LOCK:
        owner = not _SAVED
        apply()
    try:
        yield
    finally:
        if owner:
            revert()


def _set(owner: Any, name: str, value: Any) -> None:
    _SAVED.append((owner, name, vars(owner).get(name, _MISSING)))
    setattr(owner, name, value)


def mark_certificate_issued(arn: str) -> bool:
    """Let an ACM certificate requested with DNS validation be ``ISSUED`` now.

    Not a patch: moto keeps a requested certificate ``PENDING_VALIDATION`` for
    ``MOTO_ACM_VALIDATION_WAIT`` seconds (60), whereas a deployed architecture's certificate
    has been validated. Only reaches moto in this process (mock_aws or an in-process server);
    returns False when the certificate is not there (real AWS, a server in another process).
    """
    try:
        from moto.acm.models import acm_backends
        _, _, _, region, account, _ = arn.split(":", 5)
        bundle = acm_backends[account][region]._certificates.get(arn)
    except Exception:  # noqa: BLE001 - anything unexpected means "not in this process"
        return False
    if bundle is None or bundle.status != "PENDING_VALIDATION":
        return False
    bundle.status = "ISSUED"
    return True


def _fake_key_arn(region: str, account: str, alias: str) -> str:
    """A stable key ARN standing for an AWS managed key (alias/aws/<service>)."""
    return f"arn:aws:kms:{region}:{account}:key/{uuid.uuid5(uuid.NAMESPACE_URL, f'{account}/{region}/{alias}')}"


# --------------------------------------------------------------------------------------- ECS
def _patch_ecs() -> None:
    # Gap: "ECS create_service does not store deploymentConfiguration (minimum/maximum percent,
    # circuit breaker), healthCheckGracePeriodSeconds, enableExecuteCommand". moto's serializer
    # reads snake_case attributes off the Service object, so setting them is enough.
    from moto.ecs.responses import EC2ContainerServiceResponse as R

    orig_create, orig_update = R.create_service, R.update_service

    def _merged(current: dict | None, given: dict | None) -> dict:
        out = dict(current or {"deploymentCircuitBreaker": {"enable": False, "rollback": False},
                               "maximumPercent": 200, "minimumHealthyPercent": 100})
        for key, value in (given or {}).items():
            if key == "deploymentCircuitBreaker":
                value = {**out.get(key, {}), **value}
            out[key] = value
        return out

    def create_service(self):
        result = orig_create(self)
        service = self.ecs_backend._get_service(self._get_param("cluster", "default"),
                                                self._get_param("serviceName"))
        service.deployment_configuration = _merged(None, self._get_param("deploymentConfiguration"))
        grace = self._get_param("healthCheckGracePeriodSeconds")
        if grace is not None or service.load_balancers:
            service.health_check_grace_period_seconds = int(grace or 0)
        service.enable_execute_command = bool(self._get_param("enableExecuteCommand", False))
        return result

    def update_service(self):
        service = self.ecs_backend._get_service(self._get_param("cluster", "default"),
                                                self._get_param("service"))
        before = getattr(service, "deployment_configuration", None)
        result = orig_update(self)  # sets every given camelCase param as a snake_case attribute
        if self._get_param("deploymentConfiguration") is not None:
            service.deployment_configuration = _merged(before, self._get_param("deploymentConfiguration"))
        return result

    _set(R, "create_service", create_service)
    _set(R, "update_service", update_service)


# --------------------------------------------------------------------------------------- RDS
def _patch_rds() -> None:
    from moto.rds import models, utils

    # Gap: "RDS rejects a backup window that ends where the maintenance window starts
    # (03:00-04:00 with Mon 04:00-05:00); AWS accepts adjacent windows". moto counts a zero
    # overlap as an overlap; this function is used only by that check.
    orig_overlap = utils.get_overlap_between_two_date_ranges

    def overlap(start1, end1, start2, end2) -> int:
        seconds = orig_overlap(start1, end1, start2, end2)
        return -1 if seconds == 0 else seconds

    _set(utils, "get_overlap_between_two_date_ranges", overlap)

    # Gap: "RDS create_db_instance drops EnablePerformanceInsights (no
    # PerformanceInsightsEnabled), Iops, StorageThroughput; KmsKeyId is the literal
    # default_kms_key_id". moto passes the snake_cased request params as keyword arguments.
    DB = models.DBInstance
    orig_init, orig_update = DB.__init__, DB.update

    def _gp3_baseline(db) -> None:
        if getattr(db, "storage_type", None) == "gp3" and db.engine and not db.engine.startswith("aurora"):
            large = int(db.allocated_storage or 0) >= 400
            if db.iops is None:
                db.iops = 12000 if large else 3000
            if db.storage_throughput is None:
                db.storage_throughput = 500 if large else 125

    def __init__(self, backend, *args, **kwargs):
        orig_init(self, backend, *args, **kwargs)
        self.enable_performance_insights = bool(kwargs.get("enable_performance_insights"))
        self.performance_insights_retention_period = kwargs.get("performance_insights_retention_period")
        self.performance_insights_kms_key_id = kwargs.get("performance_insights_kms_key_id")
        if getattr(self, "kms_key_id", None) == "default_kms_key_id":
            self.kms_key_id = _fake_key_arn(self.region, self.account_id, "aws/rds")
        if self.db_cluster_identifier is None:
            _gp3_baseline(self)

    def update(self, *args, **db_kwargs):
        if db_kwargs.get("storage_type"):
            self.storage_type = db_kwargs["storage_type"]  # before storage_throughput's setter runs
        orig_update(self, *args, **db_kwargs)
        if db_kwargs.get("storage_throughput") is not None:
            self.storage_throughput = db_kwargs["storage_throughput"]
        if db_kwargs.get("storage_type") and self.db_cluster_identifier is None:
            _gp3_baseline(self)

    def _pi_enabled(self) -> bool:
        return bool(getattr(self, "enable_performance_insights", False))

    def _pi_retention(self):
        return (self._pi_retention_value or 7) if _pi_enabled(self) else None

    def _set_pi_retention(self, value) -> None:
        self._pi_retention_value = int(value) if value is not None else None

    def _pi_key(self):
        if not _pi_enabled(self):
            return None
        return self._pi_key_value or _fake_key_arn(self.region, self.account_id, "aws/rds")

    def _set_pi_key(self, value) -> None:
        self._pi_key_value = value

    _set(DB, "__init__", __init__)
    _set(DB, "update", update)
    _set(DB, "_pi_retention_value", None)
    _set(DB, "_pi_key_value", None)
    _set(DB, "performance_insights_enabled", property(_pi_enabled))
    _set(DB, "performance_insights_retention_period", property(_pi_retention, _set_pi_retention))
    _set(DB, "performance_insights_kms_key_id", property(_pi_key, _set_pi_key))


# ------------------------------------------------------------------------------- ElastiCache
# A few engine defaults (name -> (value, data type)); enough for describe_cache_parameters.
_REDIS_DEFAULTS = {
    "maxmemory-policy": ("volatile-lru", "string"),
    "maxmemory-samples": ("3", "integer"),
    "timeout": ("0", "integer"),
    "tcp-keepalive": ("300", "integer"),
    "notify-keyspace-events": ("", "string"),
    "databases": ("16", "integer"),
    "appendonly": ("no", "string"),
    "reserved-memory-percent": ("25", "integer"),
    "cluster-enabled": ("no", "string"),
}
_DEFAULT_FAMILIES = ("redis5.0", "redis6.x", "redis7", "valkey7", "valkey8")


def _family(engine: str | None, version: str | None) -> str:
    engine, major = (engine or "redis").lower(), (version or "7.1").split(".")[0]
    if engine == "valkey":
        return f"valkey{major}"
    return {"5": "redis5.0", "6": "redis6.x"}.get(major, f"redis{major}")


def _patch_elasticache() -> None:
    from moto.core.responses import ActionResult, EmptyResult, PaginatedResult
    from moto.elasticache import models
    from moto.elasticache.exceptions import (
        ElastiCacheException,
        InvalidParameterValueException,
    )
    from moto.elasticache.responses import ElastiCacheResponse as R

    class CacheParameterGroupNotFound(ElastiCacheException):
        code = "CacheParameterGroupNotFound"

    class CacheParameterGroupAlreadyExists(ElastiCacheException):
        code = "CacheParameterGroupAlreadyExists"

    # Gap: "ElastiCache ignores NumCacheClusters (one member; ReplicasPerNodeGroup=N gives N+1)".
    RG = models.ReplicationGroup
    orig_members = RG._set_node_members_clusters_disabled

    def members_disabled(self, *args, **kwargs):
        if not kwargs.get("replicas_per_node_group") and (kwargs.get("num_cache_clusters") or 1) > 1:
            kwargs["replicas_per_node_group"] = kwargs["num_cache_clusters"] - 1
        return orig_members(self, *args, **kwargs)

    _set(RG, "_set_node_members_clusters_disabled", members_disabled)

    # Gap: "the member clusters of a replication group cannot be read with
    # describe_cache_clusters"; "create_cache_cluster lacks CacheParameterGroup, SecurityGroups,
    # AtRestEncryptionEnabled". The serializer reads these names off the CacheCluster object.
    CC, B = models.CacheCluster, models.ElastiCacheBackend
    _set(CC, "at_rest_encryption_enabled", False)
    _set(CC, "cache_parameter_group", property(lambda self: {
        "CacheParameterGroupName": self.cache_parameter_group_name
        or f"default.{_family(self.engine, self.engine_version)}",
        "ParameterApplyStatus": "in-sync", "CacheNodeIdsToReboot": []}))
    _set(CC, "security_groups", property(lambda self: [
        {"SecurityGroupId": sg, "Status": "active"} for sg in self.security_group_ids]))
    cc_params = [p for p in inspect.signature(CC.__init__).parameters if p != "self"]
    orig_create_rg, orig_delete_rg = B.create_replication_group, B.delete_replication_group

    def create_replication_group(self, **kwargs):
        group = orig_create_rg(self, **kwargs)
        version = kwargs.get("engine_version") or "7.1"
        for node_group in group.node_groups:
            for member in node_group["node_group_members"]:
                args = dict.fromkeys(cc_params)
                args.update({k: kwargs.get(k) for k in cc_params if k in kwargs})
                args.update(account_id=self.account_id, region_name=self.region_name,
                            cache_cluster_id=member["cache_cluster_id"], replication_group_id=group.replication_group_id,
                            preferred_availability_zone=member.get("preferred_availability_zone"),
                            engine=group.engine, engine_version=version, num_cache_nodes=1,
                            cache_node_type=group.cache_node_type, log_delivery_configurations=[],
                            snapshot_window=group.snapshot_window)
                cluster = CC(**args)
                # moto sets these two only for engine "redis"; members of valkey groups need them too
                cluster.replication_group_id, cluster.num_cache_nodes = group.replication_group_id, 1
                cluster.at_rest_encryption_enabled = group.at_rest_encryption_enabled
                cluster.transit_encryption_enabled = group.transit_encryption_enabled
                self.cache_clusters[cluster.cache_cluster_id] = cluster
                if kwargs.get("tags"):
                    self.tagging_service.tag_resource(cluster.arn, kwargs["tags"])
        return group

    def delete_replication_group(self, replication_group_id, retain_primary_cluster):
        members = list(self.replication_groups.get(replication_group_id).member_clusters
                       if replication_group_id in self.replication_groups else [])
        group = orig_delete_rg(self, replication_group_id, retain_primary_cluster)
        for cluster_id in members:
            if not (retain_primary_cluster and cluster_id == group.primary_cluster_id):
                self.cache_clusters.pop(cluster_id, None)
        return group

    _set(B, "create_replication_group", create_replication_group)
    _set(B, "delete_replication_group", delete_replication_group)

    # Gap: "cache parameter groups (create/modify/describe, describe_cache_parameters) are not
    # implemented". State lives on the backend instance, so moto's reset clears it.
    def _groups(backend) -> dict[str, dict[str, Any]]:
        groups = backend.__dict__.setdefault("_auditor_cache_parameter_groups", {})
        for family in _DEFAULT_FAMILIES:
            groups.setdefault(f"default.{family}", _new_group(backend, f"default.{family}", family,
                                                              f"Default parameter group for {family}"))
        return groups

    def _new_group(backend, name, family, description) -> dict[str, Any]:
        arn = f"arn:aws:elasticache:{backend.region_name}:{backend.account_id}:parametergroup:{name}"
        return {"CacheParameterGroupName": name, "CacheParameterGroupFamily": family,
                "Description": description, "IsGlobal": False, "ARN": arn, "_user": {}}

    def _group(backend, name) -> dict[str, Any]:
        try:
            return _groups(backend)[name]
        except KeyError:
            raise CacheParameterGroupNotFound(f"CacheParameterGroup {name} not found.") from None

    def _public(group) -> dict[str, Any]:
        return {k: v for k, v in group.items() if not k.startswith("_")}

    def create_cache_parameter_group(self):
        backend, name = self.elasticache_backend, self._get_param("CacheParameterGroupName")
        if name in _groups(backend):
            raise CacheParameterGroupAlreadyExists(f"Parameter group {name} already exists.")
        group = _new_group(backend, name, self._get_param("CacheParameterGroupFamily"),
                           self._get_param("Description"))
        _groups(backend)[name] = group
        if self._get_param("Tags"):
            backend.tagging_service.tag_resource(group["ARN"], self._get_param("Tags"))
        return ActionResult({"CacheParameterGroup": _public(group)})

    def modify_cache_parameter_group(self):
        name = self._get_param("CacheParameterGroupName")
        group = _group(self.elasticache_backend, name)
        if name.startswith("default."):
            raise InvalidParameterValueException("Default parameter groups cannot be modified.")
        for item in self._get_param("ParameterNameValues", []):
            group["_user"][item["ParameterName"]] = item.get("ParameterValue", "")
        return ActionResult({"CacheParameterGroupName": name})

    def reset_cache_parameter_group(self):
        name = self._get_param("CacheParameterGroupName")
        group = _group(self.elasticache_backend, name)
        if self._get_param("ResetAllParameters"):
            group["_user"].clear()
        for item in self._get_param("ParameterNameValues", []):
            group["_user"].pop(item["ParameterName"], None)
        return ActionResult({"CacheParameterGroupName": name})

    def delete_cache_parameter_group(self):
        name = self._get_param("CacheParameterGroupName")
        _group(self.elasticache_backend, name)
        _groups(self.elasticache_backend).pop(name)
        return EmptyResult()

    def describe_cache_parameter_groups(self):
        name, backend = self._get_param("CacheParameterGroupName"), self.elasticache_backend
        groups = [_group(backend, name)] if name else list(_groups(backend).values())
        return PaginatedResult({"CacheParameterGroups": [_public(g) for g in groups]})

    def describe_cache_parameters(self):
        group = _group(self.elasticache_backend, self._get_param("CacheParameterGroupName"))
        source = self._get_param("Source")
        params = []
        for pname in sorted(set(_REDIS_DEFAULTS) | set(group["_user"])):
            default, dtype = _REDIS_DEFAULTS.get(pname, (None, "string"))
            is_user = pname in group["_user"]
            value = group["_user"][pname] if is_user else default
            if source == "user" and not is_user or source == "system" and is_user:
                continue
            if source == "engine-default":
                if default is None:
                    continue
                value = default
            params.append({"ParameterName": pname, "ParameterValue": value,
                           "Source": "user" if is_user and source != "engine-default" else "system",
                           "DataType": dtype, "IsModifiable": pname != "cluster-enabled",
                           "MinimumEngineVersion": "2.6.13", "ChangeType": "immediate"})
        return PaginatedResult({"Parameters": params})

    for fn in (create_cache_parameter_group, modify_cache_parameter_group, reset_cache_parameter_group,
               delete_cache_parameter_group, describe_cache_parameter_groups, describe_cache_parameters):
        _set(R, fn.__name__, fn)

    # Tags of parameter groups: moto's ARN check knows no "parametergroup" resources.
    orig_list_tags = B.list_tags_for_resource

    def list_tags_for_resource(self, arn):
        if ":parametergroup:" in arn:
            return self.tagging_service.list_tags_for_resource(arn)
        return orig_list_tags(self, arn)

    _set(B, "list_tags_for_resource", list_tags_for_resource)
