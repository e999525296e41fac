"""Month-to-date actual spend from Cost Explorer: request, paging, folding onto labels, errors."""
from __future__ import annotations

import json
from datetime import date

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.stub import Stubber

from auditor.aws import AwsContext
from auditor.cost.actual import LABELS, ActualSpend, ActualSpendError, month_to_date

MOTO_API = "http://motoapi.amazonaws.com"
TODAY = date(2024, 5, 17)


def _group(service: str, amount, unit: str = "USD") -> dict:
    return {"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": unit}}}


def _result(*groups: dict, estimated: bool = False, token: str | None = None) -> dict:
    result = {"ResultsByTime": [{"TimePeriod": {"Start": "2024-05-01", "End": "2024-05-18"}, "Total": {},
                                 "Groups": list(groups), "Estimated": estimated}],
              "DimensionValueAttributes": []}
    if token:
        result["NextPageToken"] = token
    return result


def _queue(base: str, *results: dict) -> None:
    response = requests.post(f"{base}/moto-api/static/ce/cost-and-usage-results", json={"results": list(results)}, timeout=10)
    assert response.status_code == 201


def _request(start: str, end: str, **extra) -> dict:
    return {"TimePeriod": {"Start": start, "End": end}, "Granularity": "MONTHLY", "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}], **extra}


def _tags(key: str, value: str) -> dict:
    return {"Tags": {"Key": key, "Values": [value], "MatchOptions": ["EQUALS"]}}


def test_totals_and_labels(aws):
    _queue(MOTO_API, _result(
        _group("Amazon Elastic Container Service", "12.5"), _group("Amazon Relational Database Service", "30.25"),
        _group("EC2 - Other", "4.75"), _group("Amazon Virtual Private Cloud", "1.5"), _group("Tax", "0.5")))
    spend = month_to_date(aws.client("ce"), TODAY)
    assert (spend.start, spend.end, spend.estimated, dict(spend.tags)) == ("2024-05-01", "2024-05-18", False, {})
    assert spend.by_service["Amazon Relational Database Service"] == 30.25
    assert spend.total_usd == pytest.approx(49.5)
    labels = spend.by_label()
    assert list(labels) == list(LABELS)
    assert labels["fargate"] == 12.5 and labels["rds"] == 30.25 and labels["nat_gateway"] == 4.75
    assert labels["other"] == pytest.approx(2.0)
    assert labels["ecr"] == 0.0
    doc = json.loads(json.dumps(spend.as_dict()))
    assert doc["total_usd"] == pytest.approx(49.5) and doc["by_label"]["rds"] == 30.25 and doc["tags"] == {}


def test_every_documented_service_has_its_label(aws):
    names = {"Amazon Elastic Container Service": "fargate", "Amazon Relational Database Service": "rds",
             "Amazon ElastiCache": "elasticache", "EC2 - Other": "nat_gateway",
             "Amazon Elastic Load Balancing": "load_balancer", "AWS Secrets Manager": "secrets_manager",
             "AmazonCloudWatch": "cloudwatch", "Amazon EC2 Container Registry (ECR)": "ecr"}
    spend = ActualSpend("2024-05-01", "2024-05-18", dict.fromkeys(names, 1.0), False, {})
    assert spend.by_label() == {**dict.fromkeys(names.values(), 1.0), "other": 0.0}


def test_estimated_flag(aws):
    _queue(MOTO_API, _result(_group("AWS Secrets Manager", "0.8"), estimated=True))
    spend = month_to_date(aws.client("ce"), TODAY)
    assert spend.estimated is True
    assert spend.by_label()["secrets_manager"] == 0.8


def test_pages_are_summed(aws):
    _queue(MOTO_API,
           _result(_group("AmazonCloudWatch", "1.25"), _group("Amazon ElastiCache", "3"), token="page-2"),
           _result(_group("AmazonCloudWatch", "0.75"), estimated=True))
    spend = month_to_date(aws.client("ce"), TODAY)
    assert dict(spend.by_service) == {"AmazonCloudWatch": 2.0, "Amazon ElastiCache": 3.0}
    assert spend.estimated is True
    assert aws.stats.calls[("ce", "GetCostAndUsage")] == 2


@pytest.mark.parametrize("results", [[_result()], []], ids=["no-groups", "no-results"])
def test_empty_result_is_zero_not_unknown(aws, results):
    _queue(MOTO_API, *results)
    spend = month_to_date(aws.client("ce"), TODAY)
    assert dict(spend.by_service) == {}
    assert spend.total_usd == 0.0
    assert spend.by_label() == dict.fromkeys(LABELS, 0.0)


@pytest.mark.parametrize(("tags", "extra"), [
    (None, {}),
    ({"Project": "mattilda"}, {"Filter": _tags("Project", "mattilda")}),
    ({"Project": "mattilda", "Environment": "production"},
     {"Filter": {"And": [_tags("Environment", "production"), _tags("Project", "mattilda")]}}),
], ids=["account", "one-tag", "two-tags"])
def test_one_request_with_the_tag_filter(tags, extra):
    client = boto3.client("ce", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("get_cost_and_usage", {"ResultsByTime": []}, _request("2024-05-01", "2024-05-18", **extra))
        spend = month_to_date(client, TODAY, tags)
        stub.assert_no_pending_responses()
    assert dict(spend.tags) == (tags or {})


@pytest.mark.parametrize(("today", "start", "end"), [
    (date(2024, 3, 1), "2024-03-01", "2024-03-02"),      # the 1st: still a one-day period
    (date(2024, 2, 29), "2024-02-01", "2024-03-01"),     # last day of a leap February
    (date(2024, 12, 31), "2024-12-01", "2025-01-01"),    # last day of the year
])
def test_period(today, start, end):
    client = boto3.client("ce", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("get_cost_and_usage", {"ResultsByTime": []}, _request(start, end))
        spend = month_to_date(client, today)
    assert (spend.start, spend.end) == (start, end)


@pytest.mark.parametrize(("code", "advice"), [
    ("AccessDeniedException", "grant ce:GetCostAndUsage"),
    ("DataUnavailableException", "enable Cost Explorer"),
    ("BillingViewHealthStatusException", "not HEALTHY"),
    ("LimitExceededException", "less often"),
    ("InternalFailure", "retry"),
])
def test_errors_name_the_call_the_code_and_what_to_do(code, advice):
    client = boto3.client("ce", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_cost_and_usage", service_error_code=code, service_message="nope", http_status_code=400)
        with pytest.raises(ActualSpendError) as err:
            month_to_date(client, TODAY)
    message = str(err.value)
    assert message.startswith("ce:GetCostAndUsage failed: ") and code in message and "nope" in message
    assert advice in message


def test_throttling_fails_after_the_retries(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_json(
        {"__type": "LimitExceededException", "message": "Rate exceeded"}, status=400)
    client = boto3.client("ce", region_name="us-east-1", endpoint_url=httpserver.url_for("/"),
                          config=Config(retries={"mode": "standard", "max_attempts": 1}))   # botocore: retries
    with pytest.raises(ActualSpendError, match="LimitExceededException: Rate exceeded"):
        month_to_date(client, TODAY)
    assert len(httpserver.log) == 2        # the first attempt and one retry


@pytest.mark.parametrize(("group", "field"), [
    (_group("AWS Secrets Manager", "n/a"), "ResultsByTime[0].Groups[0].Metrics.UnblendedCost.Amount: expected a number"),
    (_group("AWS Secrets Manager", "NaN"), "ResultsByTime[0].Groups[0].Metrics.UnblendedCost.Amount: expected a finite"),
    ({"Keys": ["AWS Secrets Manager"], "Metrics": {}}, "ResultsByTime[0].Groups[0].Metrics.UnblendedCost.Amount"),
    (_group("AWS Secrets Manager", "1.0", unit="EUR"), "ResultsByTime[0].Groups[0].Metrics.UnblendedCost.Unit"),
    ({"Keys": [], "Metrics": {}}, "ResultsByTime[0].Groups[0].Keys"),
], ids=["text", "nan", "missing", "currency", "no-keys"])
def test_malformed_amounts_name_the_field(aws, group, field):
    _queue(MOTO_API, _result(group))
    with pytest.raises(ActualSpendError, match="^ce:GetCostAndUsage: ") as err:
        month_to_date(aws.client("ce"), TODAY)
    assert field in str(err.value)


def test_through_the_moto_server(account):
    _queue(account, _result(_group("Amazon Elastic Load Balancing", "16.43"), _group("Amazon Route 53", "0.5"),
                            estimated=True))
    context = AwsContext(region="eu-west-1", max_attempts=2)
    spend = month_to_date(context.client("ce"), TODAY, {"Project": "mattilda"})
    assert spend.by_label()["load_balancer"] == 16.43 and spend.by_label()["other"] == 0.5
    assert spend.total_usd == pytest.approx(16.93) and spend.estimated is True
    assert context.stats.calls[("ce", "GetCostAndUsage")] == 1 and not context.stats.errors
