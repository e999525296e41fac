"""``auditor prices refresh``: rebuild a region's price block from the AWS Price List Query API
(``pricing`` GetProducts) into the local cache, in the format of the bundled table.

One declarative table, ``FAMILIES``, says for each price key which products answer it: the service
code, the TERM_MATCH filters sent to the API, the usage type picked among the answers and the unit.
Usage types carry a region prefix (``USE2-NatGateway-Hours``) that us-east-1 omits for some services
(``NatGateway-Hours``) but not others (``USE1-Fargate-GB-Hours``), so they are matched after an
optional prefix rather than sent as filters. A key the API does not answer stays absent, never 0.

The Price List API has endpoints in a few regions of some partitions (botocore's endpoint data:
us-east-1, eu-central-1 and ap-south-1 in ``aws``, cn-northwest-1 in ``aws-cn``, none in
``aws-us-gov``); :func:`pricing_region` picks the one that answers for a region's partition.
:func:`listed_regions` lists the regions the API prices the services of ``FAMILIES`` in, for
``auditor prices refresh --all-regions``.
"""
from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ..aws import error_code, error_message
from .prices import BUNDLED, FORMAT, PriceTableError, read_table, write_table

SOURCE = "AWS Price List Query API (pricing:GetProducts)"
# The region prefix of a usage type: "USE1-", "APN2-", "EU-" (eu-west-1); infracost's pattern.
REGION_PREFIX = r"(?:[A-Z]{3}\d-|EU-)?"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# A region code (eu-west-1, us-gov-east-1), not a Local Zone or Wavelength Zone (us-east-1-bos-1).
REGION_CODE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
PREFERRED_ENDPOINT = "us-east-1"   # the Price List API's first endpoint, where the aws partition has several
COMMERCIAL = "aws"


class PriceRefreshError(Exception):
    """The Price List API could not answer or answered in an unexpected shape; nothing was written."""


@dataclass(frozen=True)
class Family:
    """Price keys answered by one kind of product."""

    key: str                             # price key; "{attr}" is read from the product's attributes
    service: str                         # Price List service code
    filters: Mapping[str, str]           # TERM_MATCH filters besides regionCode and locationType
    usagetype: str                       # regex the usage type must match after its region prefix
    unit: str                            # unit in the price table
    api_units: tuple[str, ...]           # the Price List's name of that unit (a different one is an error)
    regional: bool = True                # False: an account-wide product, without regionCode
    pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        prefix = REGION_PREFIX if self.regional else ""
        object.__setattr__(self, "pattern", re.compile(prefix + self.usagetype))

    def query(self, region: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The GetProducts request (service code and filters) this family's prices come from."""
        scope = (("regionCode", region), ("locationType", "AWS Region")) if self.regional else ()
        return self.service, scope + tuple(self.filters.items())

    def key_for(self, attributes: Mapping[str, str]) -> str | None:
        """The price key of a product, or None when it is not one of this family's."""
        if not self.pattern.fullmatch(attributes.get("usagetype", "")):
            return None
        try:
            return PLACEHOLDER.sub(lambda m: attributes[m.group(1)], self.key)
        except KeyError:
            return None


_ECS = {"productFamily": "Compute"}
_RDS_INSTANCE = {"productFamily": "Database Instance", "databaseEngine": "PostgreSQL", "deploymentOption": "Single-AZ"}
_RDS_STORAGE = {"productFamily": "Database Storage", "databaseEngine": "PostgreSQL", "deploymentOption": "Single-AZ"}
_RDS_IOPS = {"productFamily": "Provisioned IOPS", "databaseEngine": "PostgreSQL"}
_REDIS = {"productFamily": "Cache Instance", "cacheEngine": "Redis"}
_NAT = {"productFamily": "NAT Gateway"}
_ALB = {"productFamily": "Load Balancer-Application"}
_NLB = {"productFamily": "Load Balancer-Network"}

# Usage types: Linux Fargate has no OS word (Windows is "Fargate-Windows-..."); RDS Single-AZ ones have
# no "Multi-AZ" word; dashboards are account-wide ("DashboardsUsageHour", $3 per dashboard-month).
FAMILIES: tuple[Family, ...] = (
    Family("fargate:vcpu:linux-x86_64", "AmazonECS", _ECS, r"Fargate-vCPU-Hours:perCPU", "vCPU-hour", ("hours",)),
    Family("fargate:memory:linux-x86_64", "AmazonECS", _ECS, r"Fargate-GB-Hours", "GB-hour", ("hours",)),
    Family("fargate:vcpu:linux-arm64", "AmazonECS", _ECS, r"Fargate-ARM-vCPU-Hours:perCPU", "vCPU-hour", ("hours",)),
    Family("fargate:memory:linux-arm64", "AmazonECS", _ECS, r"Fargate-ARM-GB-Hours", "GB-hour", ("hours",)),
    Family("fargate:ephemeral-storage", "AmazonECS", _ECS, r"Fargate-EphemeralStorage-GB-Hours", "GB-hour", ("GB-Hours",)),
    Family("rds:instance:postgres:{instanceType}", "AmazonRDS", _RDS_INSTANCE, r"InstanceUsage:db\.[\w.]+", "hour", ("Hrs",)),
    Family("rds:storage:gp2", "AmazonRDS", _RDS_STORAGE, r"RDS:GP2-Storage", "GB-month", ("GB-Mo",)),
    Family("rds:storage:gp3", "AmazonRDS", _RDS_STORAGE, r"RDS:GP3-Storage", "GB-month", ("GB-Mo",)),
    Family("rds:storage:io1", "AmazonRDS", _RDS_STORAGE, r"RDS:PIOPS-Storage", "GB-month", ("GB-Mo",)),
    Family("rds:storage:io2", "AmazonRDS", _RDS_STORAGE, r"RDS:PIOPS-Storage-IO2", "GB-month", ("GB-Mo",)),
    Family("rds:storage:standard", "AmazonRDS", _RDS_STORAGE, r"RDS:StorageUsage", "GB-month", ("GB-Mo",)),
    Family("rds:iops:gp3", "AmazonRDS", _RDS_IOPS, r"RDS:GP3-PIOPS", "IOPS-month", ("IOPS-Mo",)),
    Family("rds:iops:io1", "AmazonRDS", _RDS_IOPS, r"RDS:PIOPS", "IOPS-month", ("IOPS-Mo",)),
    Family("rds:iops:io2", "AmazonRDS", _RDS_IOPS, r"RDS:IO2-PIOPS", "IOPS-month", ("IOPS-Mo",)),
    Family("elasticache:node:redis:{instanceType}", "AmazonElastiCache", _REDIS, r"NodeUsage:cache\.[\w.]+", "hour",
           ("Hrs",)),
    Family("ec2:nat-gateway", "AmazonEC2", _NAT, r"NatGateway-Hours", "hour", ("Hrs",)),
    Family("ec2:nat-gateway-data", "AmazonEC2", _NAT, r"NatGateway-Bytes", "GB", ("GB",)),
    Family("elb:application", "AWSELB", _ALB, r"LoadBalancerUsage", "hour", ("Hrs",)),
    Family("elb:application-lcu", "AWSELB", _ALB, r"LCUUsage", "LCU-hour", ("LCU-Hrs",)),
    Family("elb:network", "AWSELB", _NLB, r"LoadBalancerUsage", "hour", ("Hrs",)),
    Family("elb:network-lcu", "AWSELB", _NLB, r"LCUUsage", "NLCU-hour", ("LCU-Hrs", "NLCU-Hrs")),
    Family("secretsmanager:secret", "AWSSecretsManager", {"productFamily": "Secret"}, r"AWSSecretsManager-Secrets",
           "secret-month", ("Secrets",)),
    Family("cloudwatch:alarm-standard", "AmazonCloudWatch", {"productFamily": "Alarm"}, r"CW:AlarmMonitorUsage",
           "alarm-metric-month", ("Alarms",)),
    Family("cloudwatch:alarm-high-resolution", "AmazonCloudWatch", {"productFamily": "Alarm"},
           r"CW:HighResAlarmMonitorUsage", "alarm-metric-month", ("Alarms",)),
    Family("cloudwatch:dashboard", "AmazonCloudWatch", {"productFamily": "Dashboard", "usagetype": "DashboardsUsageHour"},
           r"DashboardsUsageHour", "dashboard-month", ("Dashboards",), regional=False),
    Family("cloudwatch:logs-storage", "AmazonCloudWatch", {"productFamily": "Storage Snapshot"}, r"TimedStorage-ByteHrs",
           "GB-month", ("GB-Mo",)),
    Family("cloudwatch:logs-ingestion", "AmazonCloudWatch", {"productFamily": "Data Payload"}, r"DataProcessing-Bytes",
           "GB", ("GB",)),
    Family("ecr:storage", "AmazonECR", {"productFamily": "EC2 Container Registry"}, r"TimedStorage-ByteHrs", "GB-month",
           ("GB-Mo",)),
)


@functools.cache
def partition(region: str) -> str:
    """The partition of ``region`` (aws, aws-cn, aws-us-gov, ...), from botocore's endpoint data."""
    return boto3.Session().get_partition_for_region(region)


def pricing_endpoint(partition_name: str) -> str:
    """The region of the Price List API endpoint of ``partition_name``."""
    endpoints = boto3.Session().get_available_regions("pricing", partition_name)
    if not endpoints:
        raise PriceRefreshError(f"the {partition_name} partition has no AWS Price List API, so its prices cannot be "
                                "refreshed; give them in a price file (--prices FILE)")
    return PREFERRED_ENDPOINT if PREFERRED_ENDPOINT in endpoints else sorted(endpoints)[0]


def pricing_region(regions: Sequence[str]) -> str:
    """The region of the Price List API endpoint that answers for ``regions`` (all of one partition)."""
    partitions = {region: partition(region) for region in regions}
    if len(set(partitions.values())) > 1:
        raise PriceRefreshError("regions of different partitions, refresh them one partition at a time: "
                                + ", ".join(f"{r} ({p})" for r, p in partitions.items()))
    try:
        return pricing_endpoint(next(iter(partitions.values())))
    except PriceRefreshError as exc:
        raise PriceRefreshError(f"{', '.join(regions)}: {exc}") from None


def listed_regions(client, partition_name: str = COMMERCIAL) -> list[str]:
    """The regions of ``partition_name`` the Price List API lists (GetAttributeValues regionCode) for any
    service of ``FAMILIES``, sorted: Local and Wavelength Zones and other partitions' regions left out."""
    found: set[str] = set()
    for service in sorted({f.service for f in FAMILIES if f.regional}):
        where = f"{service} GetAttributeValues [regionCode]"
        try:
            pages = list(client.get_paginator("get_attribute_values").paginate(
                ServiceCode=service, AttributeName="regionCode"))
            values = [item["Value"] for page in pages for item in page["AttributeValues"]]
        except (ClientError, BotoCoreError) as exc:
            raise PriceRefreshError(f"{where}: {error_code(exc)}: {error_message(exc)}") from exc
        except (KeyError, TypeError) as exc:
            raise PriceRefreshError(f"{where}: unexpected response: {exc!r}") from exc
        found |= {v for v in values if isinstance(v, str) and REGION_CODE.fullmatch(v)}
    regions = sorted(r for r in found if partition(r) == partition_name)
    if not regions:
        raise PriceRefreshError(f"the Price List API lists no {partition_name} region for the priced services")
    return regions


@dataclass(frozen=True)
class RefreshSummary:
    region: str
    prices: int
    missing: list[str]      # bundled keys of the region that the API did not answer


def _describe(service: str, filters: tuple[tuple[str, str], ...]) -> str:
    return f"{service} GetProducts [{', '.join(f'{k}={v}' for k, v in filters)}]"


def _products(client, service: str, filters: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """Every product of one GetProducts query, all pages, each PriceList string parsed."""
    where = _describe(service, filters)
    request = {"ServiceCode": service, "FormatVersion": "aws_v1",
               "Filters": [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in filters]}
    try:
        pages = list(client.get_paginator("get_products").paginate(**request))
    except (ClientError, BotoCoreError) as exc:
        raise PriceRefreshError(f"{where}: {error_code(exc)}: {error_message(exc)}") from exc
    try:
        products = [json.loads(item) for page in pages for item in page["PriceList"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise PriceRefreshError(f"{where}: unexpected response: PriceList is not a list of JSON strings ({exc})") from exc
    if not all(isinstance(p, dict) and isinstance(p.get("product"), dict) and isinstance(p["product"].get("attributes"), dict)
               for p in products):
        raise PriceRefreshError(f"{where}: unexpected response: a PriceList item has no product.attributes")
    return products


def _on_demand(product: Mapping[str, Any], where: str) -> tuple[float, str] | None:
    """The on-demand USD price and unit of a product; None when it has no on-demand term.

    Tiered prices (several dimensions with beginRange/endRange, e.g. the first 10 TB then cheaper)
    take the first tier, the one beginning at 0: what a small deployment pays.
    """
    sku = product["product"].get("sku", "?")
    try:
        terms = product.get("terms", {}).get("OnDemand") or {}
        if len(terms) != 1:
            if not terms:
                return None
            raise ValueError(f"{len(terms)} on-demand terms")
        dimensions = list(next(iter(terms.values()))["priceDimensions"].values())
        first = [d for d in dimensions if float(d.get("beginRange", 0)) == 0]
        if len(first) != 1:
            raise ValueError(f"{len(first)} price dimensions begin at 0")
        per_unit = first[0]["pricePerUnit"]
        if "USD" not in per_unit:
            raise ValueError(f"priced in {', '.join(per_unit) or 'no currency'}, not USD (the price table holds USD)")
        return float(per_unit["USD"]), first[0]["unit"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PriceRefreshError(f"{where}: unexpected response for SKU {sku}: {exc}") from exc


def refresh_region(client, region: str, today: date) -> dict[str, Any]:
    """One region's price block, read from the Price List API (``client``: a ``pricing`` client)."""
    answers: dict[tuple, list[dict[str, Any]]] = {}
    prices: dict[str, dict[str, Any]] = {}
    seen: dict[str, tuple[float, str]] = {}
    published: set[str] = set()
    for family in FAMILIES:
        query = family.query(region)
        if query not in answers:
            answers[query] = _products(client, *query)
        where = _describe(*query)
        for product in answers[query]:
            key = family.key_for(product["product"]["attributes"])
            price = key and _on_demand(product, where)
            if not price:
                continue
            usd, unit = price
            if unit.lower() not in {u.lower() for u in family.api_units}:
                raise PriceRefreshError(f"{where}: {key} priced per {unit!r}, expected {' or '.join(family.api_units)}")
            sku = product["product"].get("sku", "?")
            if key in seen and seen[key][0] != usd:
                raise PriceRefreshError(f"{where}: {key} has two prices: {seen[key][0]} (SKU {seen[key][1]}) "
                                        f"and {usd} (SKU {sku})")
            seen[key] = (usd, sku)
            prices[key] = {"usd": usd, "unit": family.unit}
            published.add(str(product.get("publicationDate", ""))[:10])
    if not prices:
        raise PriceRefreshError(f"the Price List API has no prices for region {region!r}: is it a region code?")
    dates = sorted(d for d in published if d)
    span = dates[0] if len(set(dates)) == 1 else f"{dates[0]} to {dates[-1]}" if dates else "unknown"
    return {"source": f"{SOURCE}, price lists published {span}: Linux, PostgreSQL Single-AZ, Redis OSS, on-demand, "
                      "first tier of tiered prices",
            "as_of": today.isoformat(), "prices": dict(sorted(prices.items()))}


def _bundled_keys(region: str) -> set[str]:
    """The bundled table's keys for a region (its key set is the same in every region it has)."""
    regions = read_table(BUNDLED)["regions"]
    blocks = [regions[region]] if region in regions else list(regions.values())
    return {key for block in blocks for key in block["prices"]}


def refresh(client, regions: Sequence[str], cache: Path, today: date) -> list[RefreshSummary]:
    """Rebuild ``regions`` in the cache file, keeping its other regions; nothing is written on error."""
    try:
        doc = read_table(cache) if cache.exists() else {"format": FORMAT, "currency": "USD", "regions": {}}
    except PriceTableError as exc:
        raise PriceRefreshError(f"cannot update the price cache: {exc}") from exc
    blocks = {region: refresh_region(client, region, today) for region in dict.fromkeys(regions)}
    write_table(cache, {**doc, "regions": {**doc["regions"], **blocks}})
    return [RefreshSummary(region, len(block["prices"]), sorted(_bundled_keys(region) - set(block["prices"])))
            for region, block in blocks.items()]
