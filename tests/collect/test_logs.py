"""CloudWatch Logs collector: log groups, retention and tags."""
from __future__ import annotations

import boto3
from botocore.stub import Stubber

from auditor.collect.logs import log_groups

REGION = "us-east-1"


def test_log_groups_with_and_without_retention(ctx, aws):
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="/ecs/web", tags={"Project": "shop", "Environment": "prod"})
    logs.put_retention_policy(logGroupName="/ecs/web", retentionInDays=30)
    logs.create_log_group(logGroupName="/ecs/forever")
    for i in range(53):  # describe_log_groups returns 50 per page
        logs.create_log_group(logGroupName=f"/bulk/{i:02d}")

    found = {r.id: r for r in log_groups(ctx)}

    assert len(found) == 55
    assert aws.stats.calls[("logs", "DescribeLogGroups")] == 2
    web = found["/ecs/web"]
    assert web.arn == "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web"
    assert web.tags == {"Project": "shop", "Environment": "prod"}
    assert web.environment == "production"
    assert web.attributes["log_group_name"] == "/ecs/web"
    assert web.attributes["retention_in_days"] == 30
    assert web.attributes["stored_bytes"] == 0
    forever = found["/ecs/forever"].attributes
    assert forever["retention_in_days"] is None
    assert forever["kms_key_id"] is None
    assert found["/ecs/forever"].tags == {}


def test_arn_without_wildcard_and_real_aws_fields(ctx):
    client = ctx.client("logs")
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f"
    with Stubber(client) as stub:
        stub.add_response("describe_log_groups", {"logGroups": [{
            "logGroupName": "/aws/lambda/f", "arn": arn + ":*", "kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/k",
            "dataProtectionStatus": "ACTIVATED", "logGroupClass": "INFREQUENT_ACCESS", "storedBytes": 42}]}, {})
        stub.add_response("list_tags_for_resource", {"tags": {"Project": "shop"}}, {"resourceArn": arn})
        (group,) = log_groups(ctx)
        stub.add_response("describe_log_groups", {"logGroups": [{"logGroupName": "/x", "arn": arn + ":*"}]}, {})
        stub.add_client_error("list_tags_for_resource", "AccessDeniedException", "not authorized", 400)
        (denied,) = log_groups(ctx)
        stub.assert_no_pending_responses()

    assert group.arn == arn and group.tags == {"Project": "shop"}
    assert group.attributes["data_protection_status"] == "ACTIVATED"
    assert group.attributes["log_group_class"] == "INFREQUENT_ACCESS"
    assert group.attributes["kms_key_id"].endswith(":key/k")
    assert denied.tags == {} and set(denied.unknown) == {"tags", "environment"}
    assert [(f.operation, f.resource_id, f.attributes) for f in ctx.faults] == [("ListTagsForResource", "/x", ("tags",))]
