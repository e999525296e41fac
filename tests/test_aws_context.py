"""AwsContext: --max-attempts counts every attempt of a call, the first one included."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from auditor.aws import AwsContext


@pytest.mark.parametrize("attempts", [1, 3])
def test_max_attempts_is_the_total_number_of_attempts(httpserver, attempts):
    httpserver.expect_request("/", method="POST").respond_with_json(
        {"__type": "ThrottlingException", "message": "Rate exceeded"}, status=400)
    aws = AwsContext(region="us-east-1", max_attempts=attempts, endpoint_url=httpserver.url_for("/"))
    with pytest.raises(ClientError, match="ThrottlingException"):
        aws.client("ce").get_cost_and_usage(TimePeriod={"Start": "2026-11-01", "End": "2026-11-02"},
                                            Granularity="MONTHLY", Metrics=["UnblendedCost"])
    assert len(httpserver.log) == attempts
    assert aws.stats.errors[("ce", "GetCostAndUsage", "ThrottlingException")] >= 1
