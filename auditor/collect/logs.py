"""CloudWatch Logs log groups.

One ``describe_log_groups`` walk plus one ``list_tags_for_resource`` call per log group (tags
carry Project/Environment; if it fails, that group's tags are unknown; a group deleted meanwhile,
ResourceNotFoundException, is dropped). The ARN is the log group ARN without the trailing ``:*``.

Resource types (each described, attributes and volatile ones included, by its ``ResourceType`` below):

- ``log_group`` (id = logGroupName): retention_in_days None means never expire.
"""
from __future__ import annotations

from collections.abc import Iterator

from ..attributes import shape
from ..model import Resource
from . import CollectContext, collector, tag_dict
from .types import ResourceType

LOG_GROUP = ResourceType(
    "log_group", "logs", "arn:{partition}:logs:{region}:{account}:log-group:{name}",
    calls=("DescribeLogGroups", "ListTagsForResource"),
    attributes=shape("log_group_name:str retention_in_days:int kms_key_id:str "
                     "data_protection_status:ACTIVATED|DELETED|ARCHIVED|DISABLED "
                     "log_group_class:STANDARD|INFREQUENT_ACCESS|DELIVERY|ESSENTIALS deletion_protection:bool "
                     "metric_filter_count:int stored_bytes:int"),
    volatile=("stored_bytes",),
    cost="cloudwatch")


@collector(LOG_GROUP)
def log_groups(ctx: CollectContext) -> Iterator[Resource]:
    client = ctx.client("logs")
    for g in ctx.paginate("logs", "describe_log_groups", "logGroups"):
        name = g["logGroupName"]
        arn = g.get("logGroupArn") or (g.get("arn") or "").removesuffix(":*") or None
        with ctx.item("logs", "log_group", name, gone=("ResourceNotFoundException",)) as item:
            answer = item.call(("tags",), client.list_tags_for_resource, resourceArn=arn) if arn else None
            yield item.resource(
                arn=arn, name=name, tags=tag_dict((answer or {}).get("tags")),
                log_group_name=name,
                retention_in_days=g.get("retentionInDays"),
                kms_key_id=g.get("kmsKeyId"),
                data_protection_status=g.get("dataProtectionStatus"),
                log_group_class=g.get("logGroupClass"),
                deletion_protection=g.get("deletionProtectionEnabled"),
                metric_filter_count=g.get("metricFilterCount"),
                stored_bytes=g.get("storedBytes"),
            )
