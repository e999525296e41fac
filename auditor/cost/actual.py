"""Month-to-date actual spend by service, from Cost Explorer (one billed ce:GetCostAndUsage request)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..aws import error_code, error_message
from .estimate import SERVICES

OPERATION = "ce:GetCostAndUsage"
METRIC = "UnblendedCost"
OTHER = "other"

# Cost Explorer SERVICE dimension value -> the service label of reports and metrics.
# "EC2 - Other" holds NAT gateway hours and data, but also EBS volumes and snapshots, Elastic IPs
# and EC2 data transfer, so its label overstates NAT gateways when those are in the filter.
SERVICE_LABELS: Mapping[str, str] = {
    "Amazon Elastic Container Service": "fargate",
    "Amazon Relational Database Service": "rds",
    "Amazon ElastiCache": "elasticache",
    "EC2 - Other": "nat_gateway",
    "Amazon Elastic Load Balancing": "load_balancer",
    "AWS Secrets Manager": "secrets_manager",
    "AmazonCloudWatch": "cloudwatch",
    "Amazon EC2 Container Registry (ECR)": "ecr",
}
LABELS: tuple[str, ...] = (*SERVICES, OTHER)   # the estimate's service labels, plus everything else

# What to do about an error code, for the message of ActualSpendError.
_ADVICE: Mapping[str, str] = {
    "AccessDeniedException": "grant ce:GetCostAndUsage to the auditor's identity (docs/iam-policy.json); "
                             "in an organization member account the management account must also allow it",
    "DataUnavailableException": "enable Cost Explorer in the Billing console (data appears within 24 hours) "
                                "or retry later",
    "BillingViewHealthStatusException": "the billing view is not HEALTHY yet; retry later",
    "LimitExceededException": "Cost Explorer throttled the request after retries; query it less often",
    "BillExpirationException": "the billing data of this month expired; retry",
    "InvalidNextTokenException": "the result changed between pages; retry",
    "RequestChangedException": "the result changed between pages; retry",
}
_DEFAULT_ADVICE = "check credentials and network access to Cost Explorer (ce.us-east-1.amazonaws.com), then retry"


class ActualSpendError(Exception):
    """Cost Explorer did not answer usably; the message names the call, the error code and what to do."""


@dataclass(frozen=True)
class ActualSpend:
    """Unblended cost from ``start`` (inclusive) to ``end`` (exclusive), by Cost Explorer service."""

    start: str
    end: str
    by_service: Mapping[str, float]
    estimated: bool                 # Cost Explorer marked some figures as estimated (not final)
    tags: Mapping[str, str]         # the cost-allocation tag filter ({} = the whole account)

    @property
    def total_usd(self) -> float:
        return sum(self.by_service.values())

    def by_label(self) -> dict[str, float]:
        """Spend folded onto the report's service labels plus ``other``; every label present (0.0 = none)."""
        folded = dict.fromkeys(LABELS, 0.0)
        for service, usd in self.by_service.items():
            folded[SERVICE_LABELS.get(service, OTHER)] += usd
        return folded

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "estimated": self.estimated, "tags": dict(self.tags),
                "total_usd": self.total_usd, "by_service": dict(self.by_service), "by_label": self.by_label()}


def tag_filter(tags: Mapping[str, str]) -> dict[str, Any] | None:
    """The Cost Explorer Filter expression matching every tag (None for no tags)."""
    terms = [{"Tags": {"Key": key, "Values": [value], "MatchOptions": ["EQUALS"]}} for key, value in sorted(tags.items())]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else {"And": terms}


def month_to_date(client, today: date, tags: Mapping[str, str] | None = None) -> ActualSpend:
    """This month's spend up to and including ``today`` (a UTC date, as Cost Explorer counts days)."""
    tags = dict(tags or {})
    start, end = today.replace(day=1).isoformat(), (today + timedelta(days=1)).isoformat()
    request: dict[str, Any] = {"TimePeriod": {"Start": start, "End": end}, "Granularity": "MONTHLY",
                               "Metrics": [METRIC], "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}]}
    expression = tag_filter(tags)
    if expression:
        request["Filter"] = expression
    by_service: dict[str, float] = {}
    estimated = False
    token = None
    while True:
        try:
            page = client.get_cost_and_usage(**request, **({"NextPageToken": token} if token else {}))
        except (ClientError, BotoCoreError) as exc:
            code = error_code(exc)
            raise ActualSpendError(f"{OPERATION} failed: {code}: {error_message(exc)}; "
                                   f"{_ADVICE.get(code, _DEFAULT_ADVICE)}") from exc
        for i, result in enumerate(page.get("ResultsByTime", [])):
            estimated = estimated or bool(result.get("Estimated"))
            for j, group in enumerate(result.get("Groups", [])):
                where = f"ResultsByTime[{i}].Groups[{j}]"
                service = _service(group, where)
                by_service[service] = by_service.get(service, 0.0) + _amount(group, where)
        token = page.get("NextPageToken")
        if not token:
            return ActualSpend(start, end, by_service, estimated, tags)


def _service(group: Mapping[str, Any], where: str) -> str:
    keys = group.get("Keys")
    if not keys or not isinstance(keys[0], str):
        raise ActualSpendError(f"{OPERATION}: {where}.Keys: expected the service name, found {keys!r}")
    return keys[0]


def _amount(group: Mapping[str, Any], where: str) -> float:
    field = f"{where}.Metrics.{METRIC}"
    cost = group.get("Metrics", {}).get(METRIC) or {}
    if cost.get("Unit", "USD") != "USD":
        raise ActualSpendError(f"{OPERATION}: {field}.Unit: expected USD, found {cost['Unit']!r}")
    try:
        usd = float(cost["Amount"])
    except (KeyError, TypeError, ValueError):
        raise ActualSpendError(f"{OPERATION}: {field}.Amount: expected a number, "
                               f"found {cost.get('Amount')!r}") from None
    if not math.isfinite(usd):
        raise ActualSpendError(f"{OPERATION}: {field}.Amount: expected a finite number, found {cost['Amount']!r}")
    return usd
