"""ECR repositories with their lifecycle policy.

One ``describe_repositories`` walk, then per repository ``get_lifecycle_policy`` (a missing
policy, LifecyclePolicyNotFoundException, gives None), ``list_tags_for_resource`` and a
``describe_images`` walk for the stored size (used by the cost estimate only). A failing
per-repository call leaves what it reads unknown (None); a repository deleted meanwhile
(RepositoryNotFoundException) is dropped.

Resource types (each described, attributes and volatile ones included, by its ``ResourceType`` below):

- ``ecr_repository`` (id = repositoryName, arn = repositoryArn): lifecycle_policy is the policy
  document or None; lifecycle_rules its rules sorted by priority ([] without a policy);
  image_bytes is the sum of each image's compressed size: an upper bound of the billed storage,
  since images that share layers are billed for them once.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..attributes import many, shape
from ..aws import normal_answer
from ..model import Resource
from . import CollectContext, collector, tag_dict
from .types import ResourceType

ECR_REPOSITORY = ResourceType(
    "ecr_repository", "ecr", "arn:{partition}:ecr:{region}:{account}:repository/{name}",
    calls=("DescribeRepositories", "GetLifecyclePolicy", "ListTagsForResource", "DescribeImages"),
    attributes=shape(
        "repository_name:str repository_uri:str registry_id:str "
        "image_tag_mutability:MUTABLE|IMMUTABLE|IMMUTABLE_WITH_EXCLUSION|MUTABLE_WITH_EXCLUSION scan_on_push:bool "
        "encryption_type:AES256|KMS|KMS_DSSE kms_key:str lifecycle_policy:map image_count:int image_bytes:int",
        lifecycle_rules=many("priority:int description:str tag_status:tagged|untagged|any tag_prefixes:[str] "
                             "tag_patterns:[str] count_type:imageCountMoreThan|sinceImagePushed count_number:int "
                             "count_unit:str action:str")),
    volatile=("image_count", "image_bytes"),
    cost="ecr")


@collector(ECR_REPOSITORY)
def repositories(ctx: CollectContext) -> Iterator[Resource]:
    client = ctx.client("ecr")
    for r in ctx.paginate("ecr", "describe_repositories", "repositories"):
        name = r["repositoryName"]
        with ctx.item("ecr", "ecr_repository", name, gone=("RepositoryNotFoundException",)) as item:
            policy = item.call(("lifecycle_policy", "lifecycle_rules"), _lifecycle_policy, client, name, r.get("registryId"))
            tags = item.call(("tags",), client.list_tags_for_resource, resourceArn=r["repositoryArn"]) or {}
            images = item.call(("image_count", "image_bytes"), _images, ctx, name, r.get("registryId")) or {}
            encryption = r.get("encryptionConfiguration") or {}
            yield item.resource(
                arn=r.get("repositoryArn"), name=name, tags=tag_dict(tags.get("tags")),
                repository_name=name,
                repository_uri=r.get("repositoryUri"),
                registry_id=r.get("registryId"),
                image_tag_mutability=r.get("imageTagMutability"),
                scan_on_push=bool((r.get("imageScanningConfiguration") or {}).get("scanOnPush")),
                encryption_type=encryption.get("encryptionType"),
                kms_key=encryption.get("kmsKey"),
                lifecycle_policy=policy,
                lifecycle_rules=None if "lifecycle_rules" in item.unknown else _rules(policy),
                image_count=images.get("image_count"),
                image_bytes=images.get("image_bytes"),
            )


normal_answer("ecr", "GetLifecyclePolicy", "LifecyclePolicyNotFoundException")  # no policy set


def _images(ctx: CollectContext, name: str, registry_id: str | None) -> dict[str, int]:
    kwargs = {"registryId": registry_id} if registry_id else {}
    sizes = [i.get("imageSizeInBytes") or 0
             for i in ctx.paginate("ecr", "describe_images", "imageDetails", repositoryName=name, **kwargs)]
    return {"image_count": len(sizes), "image_bytes": sum(sizes)}


def _lifecycle_policy(client: Any, name: str, registry_id: str | None) -> dict | None:
    kwargs = {"registryId": registry_id} if registry_id else {}
    try:
        text = client.get_lifecycle_policy(repositoryName=name, **kwargs).get("lifecyclePolicyText")
    except client.exceptions.LifecyclePolicyNotFoundException:
        return None
    return json.loads(text) if text else None


def _rules(policy: dict | None) -> list[dict[str, Any]]:
    rules = []
    for rule in (policy or {}).get("rules") or []:
        selection = rule.get("selection") or {}
        rules.append({
            "priority": rule.get("rulePriority"),
            "description": rule.get("description"),
            "tag_status": selection.get("tagStatus"),
            "tag_prefixes": list(selection.get("tagPrefixList") or []),
            "tag_patterns": list(selection.get("tagPatternList") or []),
            "count_type": selection.get("countType"),
            "count_number": selection.get("countNumber"),
            "count_unit": selection.get("countUnit"),
            "action": (rule.get("action") or {}).get("type"),
        })
    return sorted(rules, key=lambda r: (r["priority"] is None, r["priority"] or 0))
