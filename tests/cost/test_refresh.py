"""``auditor prices refresh``: recorded Price List answers served by botocore's Stubber on a real
pricing client, which also checks every GetProducts request (service code, filters, page token)."""
from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from botocore.stub import Stubber

from auditor import cli
from auditor.aws import AwsContext
from auditor.cost.prices import BUNDLED, PriceTable, read_table, write_table
from auditor.cost.refresh import (
    FAMILIES,
    PriceRefreshError,
    RefreshSummary,
    _on_demand,
    listed_regions,
    pricing_region,
    refresh,
    refresh_region,
)

FIXTURES = Path(__file__).parent / "fixtures" / "pricing"
TODAY = date(2026, 11, 30)
REGIONAL = (("regionCode", "us-east-1"), ("locationType", "AWS Region"))
RDS = (("databaseEngine", "PostgreSQL"),)

# The requests a refresh of us-east-1 sends, in order, and the recorded answer (pages) to each.
CALLS = [
    ("AmazonECS", REGIONAL + (("productFamily", "Compute"),), ["ecs-compute.json"]),
    ("AmazonRDS", REGIONAL + (("productFamily", "Database Instance"),) + RDS + (("deploymentOption", "Single-AZ"),),
     ["rds-instance-page1.json", "rds-instance-page2.json"]),
    ("AmazonRDS", REGIONAL + (("productFamily", "Database Storage"),) + RDS + (("deploymentOption", "Single-AZ"),),
     ["rds-storage.json"]),
    ("AmazonRDS", REGIONAL + (("productFamily", "Provisioned IOPS"),) + RDS, ["rds-iops.json"]),
    ("AmazonElastiCache", REGIONAL + (("productFamily", "Cache Instance"), ("cacheEngine", "Redis")),
     ["elasticache-node.json"]),
    ("AmazonEC2", REGIONAL + (("productFamily", "NAT Gateway"),), ["ec2-nat-gateway.json"]),
    ("AWSELB", REGIONAL + (("productFamily", "Load Balancer-Application"),), ["elb-application.json"]),
    ("AWSELB", REGIONAL + (("productFamily", "Load Balancer-Network"),), ["elb-network.json"]),
    ("AWSSecretsManager", REGIONAL + (("productFamily", "Secret"),), ["secretsmanager-secret.json"]),
    ("AmazonCloudWatch", REGIONAL + (("productFamily", "Alarm"),), ["cloudwatch-alarm.json"]),
    ("AmazonCloudWatch", (("productFamily", "Dashboard"), ("usagetype", "DashboardsUsageHour")),
     ["cloudwatch-dashboard.json"]),
    ("AmazonCloudWatch", REGIONAL + (("productFamily", "Storage Snapshot"),), ["cloudwatch-logs-storage.json"]),
    ("AmazonCloudWatch", REGIONAL + (("productFamily", "Data Payload"),), ["cloudwatch-logs-ingestion.json"]),
    ("AmazonECR", REGIONAL + (("productFamily", "EC2 Container Registry"),), ["ecr-storage.json"]),
]

# What the recorded answers say, in the bundled table's units.
EXPECTED = {
    "fargate:vcpu:linux-x86_64": (0.04048, "vCPU-hour"), "fargate:memory:linux-x86_64": (0.004445, "GB-hour"),
    "fargate:vcpu:linux-arm64": (0.03238, "vCPU-hour"), "fargate:memory:linux-arm64": (0.00356, "GB-hour"),
    "fargate:ephemeral-storage": (0.000111, "GB-hour"),
    "rds:instance:postgres:db.t3.micro": (0.018, "hour"), "rds:instance:postgres:db.t3.small": (0.036, "hour"),
    "rds:instance:postgres:db.t3.medium": (0.072, "hour"), "rds:instance:postgres:db.t3.large": (0.145, "hour"),
    "rds:instance:postgres:db.t4g.micro": (0.016, "hour"), "rds:instance:postgres:db.t4g.small": (0.032, "hour"),
    "rds:instance:postgres:db.t4g.medium": (0.065, "hour"), "rds:instance:postgres:db.t4g.large": (0.129, "hour"),
    "rds:instance:postgres:db.m5.large": (0.178, "hour"), "rds:instance:postgres:db.m6g.large": (0.159, "hour"),
    "rds:instance:postgres:db.m7g.large": (0.168, "hour"), "rds:instance:postgres:db.r5.large": (0.25, "hour"),
    "rds:instance:postgres:db.r6g.large": (0.225, "hour"), "rds:instance:postgres:db.r7g.large": (0.239, "hour"),
    "rds:storage:gp2": (0.115, "GB-month"), "rds:storage:gp3": (0.115, "GB-month"), "rds:storage:io1": (0.125, "GB-month"),
    "rds:storage:io2": (0.125, "GB-month"), "rds:storage:standard": (0.1, "GB-month"),
    "rds:iops:gp3": (0.02, "IOPS-month"), "rds:iops:io1": (0.1, "IOPS-month"), "rds:iops:io2": (0.1, "IOPS-month"),
    "elasticache:node:redis:cache.t3.micro": (0.017, "hour"), "elasticache:node:redis:cache.t3.small": (0.034, "hour"),
    "elasticache:node:redis:cache.t3.medium": (0.068, "hour"), "elasticache:node:redis:cache.t4g.micro": (0.016, "hour"),
    "elasticache:node:redis:cache.t4g.small": (0.032, "hour"), "elasticache:node:redis:cache.t4g.medium": (0.065, "hour"),
    "elasticache:node:redis:cache.m5.large": (0.156, "hour"), "elasticache:node:redis:cache.m6g.large": (0.149, "hour"),
    "elasticache:node:redis:cache.m7g.large": (0.158, "hour"), "elasticache:node:redis:cache.r5.large": (0.216, "hour"),
    "elasticache:node:redis:cache.r6g.large": (0.206, "hour"),
    "ec2:nat-gateway": (0.045, "hour"), "ec2:nat-gateway-data": (0.045, "GB"),
    "elb:application": (0.0225, "hour"), "elb:application-lcu": (0.008, "LCU-hour"),
    "elb:network": (0.0225, "hour"), "elb:network-lcu": (0.006, "NLCU-hour"),
    "secretsmanager:secret": (0.4, "secret-month"),
    "cloudwatch:alarm-standard": (0.1, "alarm-metric-month"), "cloudwatch:alarm-high-resolution": (0.3, "alarm-metric-month"),
    "cloudwatch:dashboard": (3.0, "dashboard-month"),
    "cloudwatch:logs-storage": (0.03, "GB-month"), "cloudwatch:logs-ingestion": (0.5, "GB"),
    "ecr:storage": (0.1, "GB-month"),
}


def _answer(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _request(service: str, filters, token: str | None = None) -> dict:
    request = {"ServiceCode": service, "FormatVersion": "aws_v1",
               "Filters": [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in filters]}
    return {**request, "NextToken": token} if token else request


def _stub(stubber: Stubber, answers: dict[str, dict] | None = None, until: str | None = None,
          region: str = "us-east-1") -> None:
    """Queue the recorded answers of a refresh of ``region`` (recorded in us-east-1); ``answers``
    replaces some by file name and ``until`` ends the queue after the query answered by that file
    (the refresh stops there)."""
    for service, filters, pages in CALLS:
        filters = [(f, region if f == "regionCode" else v) for f, v in filters]
        token = None
        for name in pages:
            answer = (answers or {}).get(name) or _answer(name)
            stubber.add_response("get_products", answer, _request(service, filters, token))
            token = answer.get("NextToken")
        if until in pages:
            return


@pytest.fixture
def pricing():
    """A real pricing client, made as ``auditor prices refresh`` makes it, answering from the fixtures."""
    client = AwsContext(region="us-east-1", max_attempts=1).client("pricing")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_refresh_region_builds_the_block_from_the_recorded_answers(pricing):
    client, stubber = pricing
    _stub(stubber)
    block = refresh_region(client, "us-east-1", TODAY)
    assert {k: (v["usd"], v["unit"]) for k, v in block["prices"].items()} == EXPECTED
    assert block["as_of"] == "2026-11-30"
    assert block["source"].startswith("AWS Price List Query API (pricing:GetProducts), price lists published "
                                      "2026-09-11 to 2026-10-07")


def test_units_match_the_bundled_table(pricing):
    client, stubber = pricing
    _stub(stubber)
    prices = refresh_region(client, "us-east-1", TODAY)["prices"]
    bundled = read_table(BUNDLED)["regions"]["us-east-1"]["prices"]
    assert {k: prices[k]["unit"] for k in bundled} == {k: v["unit"] for k, v in bundled.items()}


def test_refresh_keeps_other_regions_and_overrides_the_bundled_one(pricing, tmp_path):
    client, stubber = pricing
    cache = tmp_path / "prices.json"
    stale = {"source": "an older refresh", "as_of": "2026-01-01", "prices": {"ec2:nat-gateway": {"usd": 9.0, "unit": "hour"}}}
    kept = {"source": "a refresh of eu-west-1", "as_of": "2026-11-01",
            "prices": {"ec2:nat-gateway": {"usd": 0.048, "unit": "hour"}}}
    write_table(cache, {"format": 1, "currency": "USD", "regions": {"us-east-1": stale, "eu-west-1": kept}})
    _stub(stubber)
    summaries = refresh(client, ["us-east-1"], cache, TODAY)
    assert summaries == [RefreshSummary("us-east-1", len(EXPECTED), [])]
    doc = read_table(cache)
    assert doc["regions"]["eu-west-1"] == kept
    assert doc["regions"]["us-east-1"]["prices"]["ec2:nat-gateway"] == {"usd": 0.045, "unit": "hour"}
    table = PriceTable.load(cache)
    assert table.get("us-east-1", "rds:instance:postgres:db.r7g.large").usd == 0.239   # not in the bundled table
    assert table.get("us-east-1", "ecr:storage").as_of == "2026-11-30"
    assert table.describe("us-east-1")["file"] == str(cache)
    assert table.get("us-east-2", "ecr:storage").source == read_table(BUNDLED)["regions"]["us-east-2"]["source"]


def test_refresh_creates_the_cache_when_absent(pricing, tmp_path):
    client, stubber = pricing
    cache = tmp_path / "sub" / "prices.json"
    _stub(stubber)
    refresh(client, ["us-east-1"], cache, TODAY)
    assert set(read_table(cache)["regions"]) == {"us-east-1"}


def test_a_family_the_api_does_not_answer_stays_absent_and_is_listed_missing(pricing, tmp_path):
    client, stubber = pricing
    _stub(stubber, {"rds-iops.json": {"FormatVersion": "aws_v1", "PriceList": []},
                    "cloudwatch-dashboard.json": {"FormatVersion": "aws_v1", "PriceList": []}})
    [summary] = refresh(client, ["us-east-1"], tmp_path / "prices.json", TODAY)
    absent = ["cloudwatch:dashboard", "rds:iops:gp3", "rds:iops:io1", "rds:iops:io2"]
    assert summary.missing == absent
    assert summary.prices == len(EXPECTED) - len(absent)
    table = PriceTable.load(tmp_path / "prices.json")
    assert table.get("us-east-1", "rds:iops:gp3") is None       # unknown, never 0
    assert table.get("us-east-1", "rds:storage:gp3").usd == 0.115


@pytest.mark.parametrize("code, message", [
    ("AccessDeniedException", "User is not authorized to perform: pricing:GetProducts"),
    ("ThrottlingException", "Rate exceeded"),
])
def test_an_api_error_names_the_query_and_leaves_the_cache_untouched(pricing, tmp_path, code, message):
    client, stubber = pricing
    cache = tmp_path / "prices.json"
    write_table(cache, read_table(BUNDLED))
    before = cache.read_bytes()
    _stub(stubber, until="rds-iops.json")           # then ElastiCache, the query after RDS, fails
    service, filters, _pages = next(call for call in CALLS if call[0] == "AmazonElastiCache")
    stubber.add_client_error("get_products", code, message, 400, expected_params=_request(service, filters))
    with pytest.raises(PriceRefreshError) as err:
        refresh(client, ["us-east-1"], cache, TODAY)
    assert str(err.value) == (f"AmazonElastiCache GetProducts [regionCode=us-east-1, locationType=AWS Region, "
                              f"productFamily=Cache Instance, cacheEngine=Redis]: {code}: {message}")
    assert cache.read_bytes() == before


@pytest.mark.parametrize("answer, reason", [
    ({"FormatVersion": "aws_v1", "PriceList": ["not json"]}, "PriceList is not a list of JSON strings"),
    ({"FormatVersion": "aws_v1", "PriceList": ['{"serviceCode": "AmazonECS"}']}, "has no product.attributes"),
    ({"FormatVersion": "aws_v1", "PriceList": ['{"product": {"sku": "S", "attributes": {"usagetype": "USE1-Fargate-GB-Hours"}}, '
                                               '"terms": {"OnDemand": {"S.T": {"priceDimensions": []}}}}']},
     "for SKU S: 'list' object has no attribute 'values'"),
])
def test_an_unexpected_answer_is_an_error(pricing, tmp_path, answer, reason):
    client, stubber = pricing
    cache = tmp_path / "prices.json"
    stubber.add_response("get_products", answer, _request(*CALLS[0][:2]))
    with pytest.raises(PriceRefreshError, match=f"AmazonECS GetProducts .*: unexpected response.*{re.escape(reason)}"):
        refresh(client, ["us-east-1"], cache, TODAY)
    assert not cache.exists()


def test_a_price_in_another_unit_is_an_error(pricing):
    client, stubber = pricing
    answer = _answer("cloudwatch-dashboard.json")
    answer["PriceList"] = [answer["PriceList"][0].replace('"unit":"Dashboards"', '"unit":"Hrs"')]
    _stub(stubber, {"cloudwatch-dashboard.json": answer}, until="cloudwatch-dashboard.json")
    with pytest.raises(PriceRefreshError, match="cloudwatch:dashboard priced per 'Hrs', expected Dashboards"):
        refresh_region(client, "us-east-1", TODAY)


def test_a_region_without_any_price_is_an_error(pricing):
    client, stubber = pricing
    empty = {"FormatVersion": "aws_v1", "PriceList": []}
    for service, filters, _pages in CALLS:
        stubber.add_response("get_products", empty, _request(service, [
            ("regionCode", "us-east-9") if f == "regionCode" else (f, v) for f, v in filters]))
    with pytest.raises(PriceRefreshError, match="no prices for region 'us-east-9'"):
        refresh_region(client, "us-east-9", TODAY)


def test_tiered_prices_take_the_tier_beginning_at_zero():
    vended = json.loads(_answer("cloudwatch-logs-ingestion.json")["PriceList"][1])
    assert [d["beginRange"] for t in vended["terms"]["OnDemand"].values() for d in t["priceDimensions"].values()] \
        == ["0", "10240"]
    assert _on_demand(vended, "test") == (0.5, "GB")


def test_every_bundled_key_family_has_a_row_and_every_row_a_bundled_key():
    keys = {k for block in read_table(BUNDLED)["regions"].values() for k in block["prices"]}
    patterns = {f.key: re.compile(re.sub(r"\\\{\w+\\\}", ".+", re.escape(f.key))) for f in FAMILIES}
    assert [k for k in sorted(keys) if not any(p.fullmatch(k) for p in patterns.values())] == []
    assert [f for f, p in patterns.items() if not any(p.fullmatch(k) for k in keys)] == []


def test_prices_commands_refresh_into_the_default_cache_then_show_it(pricing, tmp_path, monkeypatch, capsys):
    """``auditor prices refresh`` writes $AUDITOR_COST__PRICES; ``prices show`` and estimates read it."""
    client, stubber = pricing
    _stub(stubber)
    cache = tmp_path / "cache.json"
    monkeypatch.setenv("AUDITOR_COST__PRICES", str(cache))
    monkeypatch.setattr(AwsContext, "client", lambda self, service: client if service == "pricing" else None)
    assert cli.main(["prices", "refresh", "--region", "us-east-1"]) == 0
    assert capsys.readouterr().out == f"us-east-1: {len(EXPECTED)} prices written to {cache}\n"
    assert cli.main(["prices", "show", "--region", "us-east-1", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    today = datetime.now(UTC).date().isoformat()   # the CLI refreshes as of today
    assert shown["file"] == str(cache) and shown["as_of"] == today and len(shown["prices"]) == len(EXPECTED)
    assert cli.main(["prices", "show", "--region", "us-east-1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"us-east-1: {len(EXPECTED)} prices from {cache} (as of {today}; AWS Price List Query API")
    assert "rds:instance:postgres:db.r7g.large" in out and "$0.239      per hour" in out


def test_prices_show_a_region_without_prices_and_a_broken_cache(tmp_path, monkeypatch, capsys):
    assert cli.main(["prices", "show", "--region", "ap-southeast-7"]) == 2
    assert "no table for this region" in capsys.readouterr().out
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": 1, "regions": {"us-east-1": {"source": "x", "as_of": "y", "prices": {"k": {"usd": -1}}}}}')
    monkeypatch.setenv("AUDITOR_COST__PRICES", str(broken))
    assert cli.main(["prices", "show", "--region", "us-east-1"]) == 2
    assert f"error: {broken}:1: regions.us-east-1.prices.k.usd: expected a number >= 0" in capsys.readouterr().err


# ------------------------------------------------------------------------------ partitions and --all-regions
SERVICES = sorted({f.service for f in FAMILIES if f.regional})


def _stub_region_codes(stubber: Stubber, codes: list[str]) -> None:
    """GetAttributeValues(regionCode) of every priced service: ``codes``, the first service's in two pages."""
    for service in SERVICES:
        request = {"ServiceCode": service, "AttributeName": "regionCode"}
        if service == SERVICES[0]:
            stubber.add_response("get_attribute_values", {"AttributeValues": [{"Value": c} for c in codes[:2]],
                                                          "NextToken": "page2"}, request)
            stubber.add_response("get_attribute_values", {"AttributeValues": [{"Value": c} for c in codes[2:]]},
                                 {**request, "NextToken": "page2"})
        else:
            stubber.add_response("get_attribute_values", {"AttributeValues": [{"Value": c} for c in codes]}, request)


@pytest.mark.parametrize("regions, endpoint", [
    (["us-east-1"], "us-east-1"), (["eu-west-1", "ap-southeast-2"], "us-east-1"),
    (["cn-north-1"], "cn-northwest-1"), (["cn-northwest-1"], "cn-northwest-1"),
])
def test_the_pricing_endpoint_is_the_partitions(regions, endpoint):
    assert pricing_region(regions) == endpoint


@pytest.mark.parametrize("regions, message", [
    (["us-gov-west-1"], "us-gov-west-1: the aws-us-gov partition has no AWS Price List API, so its prices cannot be "
                        "refreshed; give them in a price file (--prices FILE)"),
    (["us-east-1", "cn-north-1"], "regions of different partitions, refresh them one partition at a time: "
                                  "us-east-1 (aws), cn-north-1 (aws-cn)"),
])
def test_a_partition_without_the_price_list_api_or_mixed_partitions_are_refused(regions, message):
    with pytest.raises(PriceRefreshError) as err:
        pricing_region(regions)
    assert str(err.value) == message


def test_listed_regions_are_the_commercial_regions_of_every_priced_service(pricing):
    client, stubber = pricing
    _stub_region_codes(stubber, ["eu-west-1", "us-east-1-bos-1", "us-gov-west-1", "ap-southeast-2", "us-east-1",
                                 "cn-north-1", "us-west-2-wl1-las-wlz-1"])
    assert listed_regions(client) == ["ap-southeast-2", "eu-west-1", "us-east-1"]


def test_listing_regions_names_the_failed_query(pricing):
    client, stubber = pricing
    stubber.add_client_error("get_attribute_values", "AccessDeniedException", "not authorized", 400,
                             expected_params={"ServiceCode": SERVICES[0], "AttributeName": "regionCode"})
    with pytest.raises(PriceRefreshError, match=f"^{SERVICES[0]} GetAttributeValues \\[regionCode\\]: "
                                                "AccessDeniedException: not authorized$"):
        listed_regions(client)


def test_a_price_in_another_currency_is_an_error():
    product = json.loads(_answer("ec2-nat-gateway.json")["PriceList"][0])
    for term in product["terms"]["OnDemand"].values():
        for dimension in term["priceDimensions"].values():
            dimension["pricePerUnit"] = {"CNY": "0.3"}
    with pytest.raises(PriceRefreshError, match="priced in CNY, not USD"):
        _on_demand(product, "AmazonEC2 GetProducts")


def _client_in(monkeypatch, client) -> list[str]:
    """Every ``AwsContext.client`` call answers ``client``; the list collects the contexts' regions."""
    regions: list[str] = []

    def make(self, service):
        regions.append(self.region)
        return client
    monkeypatch.setattr(AwsContext, "client", make)
    return regions


def test_prices_refresh_all_regions_writes_every_listed_region(pricing, tmp_path, monkeypatch, capsys):
    client, stubber = pricing
    _stub_region_codes(stubber, ["eu-west-1", "us-east-1-bos-1", "us-gov-west-1", "ap-southeast-2"])
    for region in ("ap-southeast-2", "eu-west-1"):
        _stub(stubber, region=region)
    endpoints = _client_in(monkeypatch, client)
    table = tmp_path / "prices.json"
    write_table(table, read_table(BUNDLED))
    assert cli.main(["prices", "refresh", "--all-regions", "--cache", str(table)]) == 0
    assert capsys.readouterr().out == "".join(f"{r}: {len(EXPECTED)} prices written to {table}\n"
                                              for r in ("ap-southeast-2", "eu-west-1"))
    assert endpoints == ["us-east-1"]
    regions = read_table(table)["regions"]
    today = datetime.now(UTC).date().isoformat()
    assert {r: b["as_of"] for r, b in regions.items() if b["as_of"] == today} == {"ap-southeast-2": today,
                                                                                    "eu-west-1": today}
    assert regions["us-east-2"] == read_table(BUNDLED)["regions"]["us-east-2"]   # regions not listed are kept


def test_prices_refresh_reaches_the_partitions_endpoint(pricing, tmp_path, monkeypatch, capsys):
    client, stubber = pricing
    endpoints = _client_in(monkeypatch, client)
    answer = _answer("ecs-compute.json")
    answer["PriceList"] = [item.replace('"USD"', '"CNY"') for item in answer["PriceList"]]
    stubber.add_response("get_products", answer, _request(CALLS[0][0], [
        (f, "cn-north-1" if f == "regionCode" else v) for f, v in CALLS[0][1]]))
    assert cli.main(["prices", "refresh", "--region", "cn-north-1", "--cache", str(tmp_path / "p.json")]) == 2
    assert endpoints == ["cn-northwest-1"]
    assert "priced in CNY, not USD (the price table holds USD)" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


def test_prices_refresh_in_govcloud_says_there_is_no_price_list_api(tmp_path, monkeypatch, capsys):
    endpoints = _client_in(monkeypatch, None)
    assert cli.main(["prices", "refresh", "--region", "us-gov-west-1", "--cache", str(tmp_path / "p.json")]) == 2
    out, err = capsys.readouterr()
    assert err == ("error: us-gov-west-1: the aws-us-gov partition has no AWS Price List API, so its prices cannot "
                   "be refreshed; give them in a price file (--prices FILE)\n")
    assert endpoints == [] and out == ""
