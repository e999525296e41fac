"""ECR collector: repositories, scanning, encryption and lifecycle policies."""
from __future__ import annotations

import json

import boto3
from botocore.stub import Stubber

from auditor.collect.ecr import repositories

REGION = "us-east-1"
KEEP_LAST_10 = {"rules": [{"rulePriority": 1, "description": "keep last 10 images",
                           "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                                         "countNumber": 10},
                           "action": {"type": "expire"}}]}


def _manifest(config_size: int, digest: str) -> str:
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config_size,
                                  "digest": "sha256:" + digest * 64},
                       "layers": []})


def test_repositories(ctx):
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(repositoryName="shop/web", imageTagMutability="IMMUTABLE",
                          imageScanningConfiguration={"scanOnPush": True},
                          tags=[{"Key": "Project", "Value": "shop"}])
    ecr.put_lifecycle_policy(repositoryName="shop/web", lifecyclePolicyText=json.dumps(KEEP_LAST_10))
    ecr.create_repository(repositoryName="scratch")
    for tag, size, digest in (("v1", 7023, "a"), ("v2", 9000, "b")):
        ecr.put_image(repositoryName="shop/web", imageManifest=_manifest(size, digest), imageTag=tag)
    sizes = [i["imageSizeInBytes"] for i in ecr.describe_images(repositoryName="shop/web")["imageDetails"]]

    found = {r.id: r for r in repositories(ctx)}

    web = found["shop/web"]
    a = web.attributes
    assert web.arn == "arn:aws:ecr:us-east-1:123456789012:repository/shop/web"
    assert web.tags == {"Project": "shop"}
    assert a["repository_uri"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/web"
    assert a["image_tag_mutability"] == "IMMUTABLE"
    assert a["scan_on_push"] is True
    assert a["encryption_type"] == "AES256" and a["kms_key"] is None
    assert a["lifecycle_policy"] == KEEP_LAST_10
    assert a["lifecycle_rules"] == [{
        "priority": 1, "description": "keep last 10 images", "tag_status": "any", "tag_prefixes": [],
        "tag_patterns": [], "count_type": "imageCountMoreThan", "count_number": 10, "count_unit": None,
        "action": "expire"}]
    assert (a["image_count"], a["image_bytes"]) == (2, sum(sizes)) and sum(sizes) > 0
    scratch = found["scratch"].attributes
    assert (scratch["image_count"], scratch["image_bytes"]) == (0, 0)
    assert scratch["scan_on_push"] is False
    assert scratch["lifecycle_policy"] is None and scratch["lifecycle_rules"] == []


def _repo(name):
    return {"repositoryName": name, "registryId": "123456789012",
            "repositoryArn": f"arn:aws:ecr:us-east-1:123456789012:repository/{name}",
            "encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "arn:aws:kms:us-east-1:123456789012:key/k"}}


def test_pagination_rule_order_and_denied_policy(ctx):
    """moto ignores maxResults for describe_repositories: the nextToken path is stubbed."""
    policy = {"rules": [
        {"rulePriority": 20, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                           "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}},
        {"rulePriority": 10, "selection": {"tagStatus": "tagged", "tagPrefixList": ["release-"],
                                           "countType": "imageCountMoreThan", "countNumber": 30},
         "action": {"type": "expire"}},
    ]}
    client = ctx.client("ecr")
    with Stubber(client) as stub:
        stub.add_response("describe_repositories", {"repositories": [_repo("app")], "nextToken": "n"}, {})
        stub.add_response("get_lifecycle_policy", {"lifecyclePolicyText": json.dumps(policy)},
                          {"repositoryName": "app", "registryId": "123456789012"})
        stub.add_response("list_tags_for_resource", {"tags": []}, {"resourceArn": _repo("app")["repositoryArn"]})
        stub.add_response("describe_images", {"imageDetails": [{"imageSizeInBytes": 5}], "nextToken": "i"},
                          {"repositoryName": "app", "registryId": "123456789012"})
        stub.add_response("describe_images", {"imageDetails": [{"imageSizeInBytes": 7}, {}]},
                          {"repositoryName": "app", "registryId": "123456789012", "nextToken": "i"})
        stub.add_response("describe_repositories", {"repositories": [_repo("batch")]}, {"nextToken": "n"})
        stub.add_client_error("get_lifecycle_policy", "AccessDeniedException", "not authorized", 400)
        stub.add_response("list_tags_for_resource", {"tags": []}, {"resourceArn": _repo("batch")["repositoryArn"]})
        stub.add_response("describe_images", {"imageDetails": []}, {"repositoryName": "batch", "registryId": "123456789012"})
        _, batch = repositories(ctx)  # both pages; the policy of the second repository is unknown
        stub.add_response("describe_repositories", {"repositories": [_repo("app")]}, {})
        stub.add_response("get_lifecycle_policy", {"lifecyclePolicyText": json.dumps(policy)},
                          {"repositoryName": "app", "registryId": "123456789012"})
        stub.add_response("list_tags_for_resource", {"tags": []}, {"resourceArn": _repo("app")["repositoryArn"]})
        stub.add_response("describe_images", {"imageDetails": []}, {"repositoryName": "app", "registryId": "123456789012"})
        (repo,) = repositories(ctx)
        stub.assert_no_pending_responses()

    assert set(batch.unknown) == {"lifecycle_policy", "lifecycle_rules"}
    assert batch.attributes["lifecycle_rules"] is None and batch.attributes["image_count"] == 0
    assert [(f.operation, f.resource_id) for f in ctx.faults] == [("GetLifecyclePolicy", "batch")]
    assert repo.attributes["image_count"] == 0
    assert repo.attributes["encryption_type"] == "KMS"
    assert repo.attributes["kms_key"].endswith(":key/k")
    assert [r["priority"] for r in repo.attributes["lifecycle_rules"]] == [10, 20]
    first, second = repo.attributes["lifecycle_rules"]
    assert first["tag_prefixes"] == ["release-"] and first["count_number"] == 30
    assert (second["count_type"], second["count_unit"], second["count_number"]) == ("sinceImagePushed", "days", 14)
