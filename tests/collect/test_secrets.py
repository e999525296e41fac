"""Secrets Manager collector: metadata only, never secret values."""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from auditor.collect.secrets import secrets

REGION = "us-east-1"
VALUE = "hunter2-do-not-leak"


def test_secret_metadata_without_values(ctx, aws):
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name="shop/db", SecretString=json.dumps({"password": VALUE}),
                     Description="database credentials", KmsKeyId="alias/shop",
                     Tags=[{"Key": "Environment", "Value": "prod"}])
    # moto accepts rotation rules without a Lambda (AWS requires one).
    sm.rotate_secret(SecretId="shop/db", RotationRules={"AutomaticallyAfterDays": 30})
    sm.create_secret(Name="shop/api-key", SecretString=VALUE)
    for i in range(100):  # list_secrets returns 100 per page
        sm.create_secret(Name=f"bulk/{i:03d}", SecretString=VALUE)

    found = {r.id: r for r in secrets(ctx)}

    assert len(found) == 102
    assert aws.stats.calls[("secretsmanager", "ListSecrets")] == 2
    assert not any(op == "GetSecretValue" for _svc, op in aws.stats.calls)
    db = found["shop/db"]
    a = db.attributes
    assert db.arn.startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/db-")
    assert db.name == "shop/db" and "name" not in a
    assert db.tags == {"Environment": "prod"} and db.environment == "production"
    assert a["description"] == "database credentials"
    assert a["kms_key_id"] == "alias/shop"
    assert a["rotation_enabled"] is True and a["rotation_days"] == 30
    assert isinstance(a["last_changed"], str) and a["last_changed"][:4].isdigit()
    plain = found["shop/api-key"].attributes
    assert plain["rotation_enabled"] is False and plain["rotation_days"] is None
    assert plain["kms_key_id"] is None
    for r in found.values():
        dumped = json.dumps({"ref": r.ref, "tags": r.tags, "attributes": r.attributes})
        assert VALUE not in dumped and "hunter2" not in dumped


def test_schedule_expression_rotation_and_denied_list(ctx):
    client = ctx.client("secretsmanager")
    with Stubber(client) as stub:
        stub.add_response("list_secrets", {"SecretList": [{
            "Name": "rds!db-1", "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-abc",
            "RotationEnabled": True, "RotationRules": {"ScheduleExpression": "rate(7 days)"},
            "OwningService": "rds", "PrimaryRegion": "eu-west-1"}]}, {})
        (s,) = secrets(ctx)
        stub.add_client_error("list_secrets", "AccessDeniedException", "not authorized", 400)
        with pytest.raises(ClientError) as err:
            list(secrets(ctx))
        stub.assert_no_pending_responses()

    a = s.attributes
    assert a["rotation_days"] == 7 and a["rotation_schedule"] == "rate(7 days)"
    assert a["owning_service"] == "rds" and a["primary_region"] == "eu-west-1"
    assert a["last_changed"] is None
    assert err.value.operation_name == "ListSecrets"
