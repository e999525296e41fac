"""Secrets Manager secrets: metadata only, from ``list_secrets`` (never ``get_secret_value``).

Resource types (each described, attributes and volatile ones included, by its ``ResourceType`` below):

- ``secret`` (id = name = Name, arn = ARN): kms_key_id None is the AWS managed key; rotation_days
  is RotationRules.AutomaticallyAfterDays, or N of a ``rate(N days)`` schedule; last_changed,
  last_rotated, last_accessed and next_rotation are ISO 8601 strings.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..attributes import shape
from ..model import Resource
from . import CollectContext, collector, isoformat, tag_dict
from .types import ResourceType

SECRET = ResourceType(
    "secret", "secretsmanager", "arn:{partition}:secretsmanager:{region}:{account}:secret:{name}",
    calls=("ListSecrets",),
    attributes=shape("description:str kms_key_id:str rotation_enabled:bool rotation_days:int rotation_schedule:str "
                     "rotation_lambda_arn:str owning_service:str primary_region:str last_changed:time last_rotated:time "
                     "last_accessed:time next_rotation:time"),
    volatile=("last_changed", "last_rotated", "last_accessed", "next_rotation"),
    cost="secrets_manager")

_RATE_DAYS = re.compile(r"^rate\(\s*(\d+)\s+days?\s*\)$")


@collector(SECRET)
def secrets(ctx: CollectContext) -> Iterator[Resource]:
    for s in ctx.paginate("secretsmanager", "list_secrets", "SecretList"):
        rules = s.get("RotationRules") or {}
        yield ctx.resource(
            "secret", s["Name"], arn=s.get("ARN"), name=s["Name"], tags=tag_dict(s.get("Tags")),
            description=s.get("Description"),
            kms_key_id=s.get("KmsKeyId"),
            rotation_enabled=bool(s.get("RotationEnabled")),
            rotation_days=_rotation_days(rules),
            rotation_schedule=rules.get("ScheduleExpression"),
            rotation_lambda_arn=s.get("RotationLambdaARN"),
            owning_service=s.get("OwningService"),
            primary_region=s.get("PrimaryRegion"),
            last_changed=isoformat(s.get("LastChangedDate")),
            last_rotated=isoformat(s.get("LastRotatedDate")),
            last_accessed=isoformat(s.get("LastAccessedDate")),
            next_rotation=isoformat(s.get("NextRotationDate")),
        )


def _rotation_days(rules: dict[str, Any]) -> int | None:
    if rules.get("AutomaticallyAfterDays") is not None:
        return int(rules["AutomaticallyAfterDays"])
    match = _RATE_DAYS.match(str(rules.get("ScheduleExpression") or "").strip())
    return int(match.group(1)) if match else None

