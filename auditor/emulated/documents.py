"""Every document rules can see in one emulated account: each documented architecture, the neighbour
application, and what none of them has (a standalone cache cluster, a VPC endpoint), with each
deployment's ``deployment`` resource. moto's ids are seeded, so the documents are the same each time:
scripts/attribute_reference.py takes the reference's examples from them, and tests/test_attributes.py
checks the declared attributes against them."""
from __future__ import annotations

from typing import Any

import boto3
from moto import mock_aws
from moto.moto_api._internal import mock_random

from ..audit import known_resource_types
from ..aws import AwsContext
from ..collect import collect
from ..cost.deployment import deployment_costs, deployment_resources
from ..cost.estimate import Assumptions
from ..cost.prices import PriceTable
from ..rules.engine import RuleSet
from ..rules.loader import load_packs, rules_root
from . import moto_patches
from .architectures import ENVIRONMENTS, spec
from .builder import DEFAULT_REGION, build
from .neighbour import billing

SEED = 42


def emulated_documents(region: str = DEFAULT_REGION) -> list[dict[str, Any]]:
    """The documents, built in a fresh moto account (mock_aws) in ``region``."""
    with moto_patches.settings(), mock_aws():
        mock_random.seed(SEED)
        for architecture, environments in ENVIRONMENTS.items():
            build(spec(architecture, environments[0], region))
        build(billing(region=region))
        boto3.client("elasticache", region_name=region).create_cache_cluster(
            CacheClusterId="standalone", Engine="memcached", CacheNodeType="cache.t3.micro", NumCacheNodes=1)
        ec2 = boto3.client("ec2", region_name=region)
        vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
        ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{region}.logs", VpcEndpointType="Interface",
                                SubnetIds=[subnet], PrivateDnsEnabled=True)
        snapshot = collect(AwsContext(region=region, max_attempts=2))
        ruleset = RuleSet(load_packs([rules_root()], known_resource_types()))
        costs = deployment_costs(snapshot, ruleset, PriceTable.load(), Assumptions())
        judged = snapshot.with_resources(deployment_resources(costs, snapshot))
        return [dict(judged.document(r)) for r in judged]
