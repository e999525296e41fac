"""AwsContext: --max-attempts counts every attempt of a call, the first one included; AWS errors by category."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from auditor.aws import CATEGORIES, AwsContext, classify


@pytest.mark.parametrize("attempts", [1, 3])
def test_max_attempts_is_the_total_number_of_attempts(httpserver, attempts):
    httpserver.expect_request("/", method="POST").respond_with_json(
        {"__type": "ThrottlingException", "message": "Rate exceeded"}, status=400)
    aws = AwsContext(region="us-east-1", max_attempts=attempts, endpoint_url=httpserver.url_for("/"))
    with pytest.raises(ClientError, match="ThrottlingException"):
        aws.client("ce").get_cost_and_usage(TimePeriod={"Start": "2026-11-01", "End": "2026-11-02"},
                                            Granularity="MONTHLY", Metrics=["UnblendedCost"])
    assert len(httpserver.log) == attempts
    assert aws.stats.errors[("ce", "GetCostAndUsage", "ThrottlingException", "throttled")] >= 1


@pytest.mark.parametrize(("error", "region", "category"), [
    ("AccessDenied", None, "denied"), ("AccessDeniedException", None, "denied"),
    ("UnauthorizedOperation", None, "denied"), ("AuthorizationError", None, "denied"),
    ("Throttling", None, "throttled"), ("ThrottlingException", None, "throttled"),
    ("RequestLimitExceeded", None, "throttled"), ("TooManyRequestsException", None, "throttled"),
    ("ResourceNotFoundException", None, "not_found"), ("RepositoryNotFoundException", None, "not_found"),
    ("InvalidGroup.NotFound", None, "not_found"), ("DBInstanceNotFound", None, "not_found"),
    ("ReplicationGroupNotFoundFault", None, "not_found"), ("ListenerNotFound", None, "not_found"),
    ("NoSuchEntity", None, "not_found"),
    ("OptInRequired", None, "opt_in_required"),
    ("InvalidClientTokenId", "af-south-1", "opt_in_required"), ("AuthFailure", "me-south-1", "opt_in_required"),
    ("UnrecognizedClientException", "ap-east-1", "opt_in_required"),
    ("InvalidClientTokenId", "us-east-1", "denied"), ("AuthFailure", None, "denied"),
    ("InvalidReplicationGroupState", None, "other"), ("ValidationError", None, "other"),
])
def test_error_codes_are_classified(error, region, category):
    assert classify(error, region) == category


def test_exceptions_are_classified_by_code_and_message():
    unsupported = ClientError({"Error": {"Code": "InvalidAction", "Message": "The action is not available in this region"}},
                              "DescribeThings")
    assert classify(unsupported) == "region_unavailable"
    assert classify(ClientError({"Error": {"Code": "InvalidAction", "Message": "bad action"}}, "X")) == "other"
    assert classify(EndpointConnectionError(endpoint_url="https://ecs.xx-east-9.amazonaws.com")) == "region_unavailable"
    assert classify(ReadTimeoutError(endpoint_url="https://ecs.us-east-1.amazonaws.com")) == "other"
    assert set(CATEGORIES) == {"denied", "throttled", "not_found", "region_unavailable", "opt_in_required", "other"}


def test_sessions_share_the_models_not_the_clients(monkeypatch, tmp_path):
    """Every audit makes sessions: botocore's JSON models are read once per process, while each
    session keeps its own clients, events and statistics; a session with another data path (AWS_DATA_PATH,
    a user's model overrides) gets a loader of its own."""
    first, second = AwsContext(region="us-east-1"), AwsContext(region="eu-west-1")
    a, b = first.client("ec2"), second.client("ec2")
    assert a is not b and first.stats is not second.stats
    assert a.meta.service_model._service_description is b.meta.service_model._service_description
    assert first.session._session.get_component("data_loader") is second.session._session.get_component("data_loader")
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    other = AwsContext(region="us-east-1")
    loader = other.session._session.get_component("data_loader")
    assert loader is not first.session._session.get_component("data_loader")
    assert str(tmp_path) in loader.search_paths
