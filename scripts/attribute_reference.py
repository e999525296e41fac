"""Write the attribute reference's data: auditor/schemas/attribute-examples.json (one example per
attribute, from every emulated architecture built in moto with seeded ids) and docs/attributes.md.

    .venv/bin/python scripts/attribute_reference.py [--check]

``--check`` writes nothing and exits 1 when either file differs from what it would write."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "attributes.md"
REGION = "us-east-1"
SEED = 42


def emulated_documents() -> list[dict[str, Any]]:
    """Every document of one moto account holding each architecture, the neighbour application, a
    standalone cache cluster and a VPC endpoint, with each deployment's ``deployment`` resource."""
    import boto3
    from moto import mock_aws
    from moto.moto_api._internal import mock_random

    from auditor.audit import known_resource_types
    from auditor.aws import AwsContext
    from auditor.collect import collect
    from auditor.cost.deployment import deployment_costs, deployment_resources
    from auditor.cost.estimate import Assumptions
    from auditor.cost.prices import PriceTable
    from auditor.emulated.architectures import ENVIRONMENTS, spec
    from auditor.emulated.builder import build
    from auditor.emulated.neighbour import billing
    from auditor.rules.engine import RuleSet
    from auditor.rules.loader import load_packs, rules_root

    os.environ.update(AWS_DEFAULT_REGION=REGION, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        mock_random.seed(SEED)
        for architecture, environments in ENVIRONMENTS.items():
            build(spec(architecture, environments[0]))
        build(billing())
        boto3.client("elasticache").create_cache_cluster(
            CacheClusterId="standalone", Engine="memcached", CacheNodeType="cache.t3.micro", NumCacheNodes=1)
        ec2 = boto3.client("ec2")
        vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
        ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.logs", VpcEndpointType="Interface",
                                SubnetIds=[subnet], PrivateDnsEnabled=True)
        snapshot = collect(AwsContext(region=REGION, max_attempts=2))
        ruleset = RuleSet(load_packs([rules_root()], known_resource_types()))
        costs = deployment_costs(snapshot, ruleset, PriceTable.load(), Assumptions())
        judged = snapshot.with_resources(deployment_resources(costs, snapshot))
        return [dict(judged.document(r)) for r in judged]


def outputs(documents: list[dict[str, Any]]) -> dict[Path, str]:
    """The files and their text, from these documents."""
    from auditor.report.attributes import attributes_document
    from auditor.rules.reference import EXAMPLES, collect_examples, reference

    text = json.dumps(collect_examples(documents), indent=1, sort_keys=True) + "\n"
    return {EXAMPLES: text, DOCS: attributes_document(reference(json.loads(text)))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args()
    stale = []
    for path, text in outputs(emulated_documents()).items():
        if (path.read_text() if path.exists() else None) != text:
            stale.append(path)
            if not args.check:
                path.write_text(text)
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'} {path.relative_to(ROOT)}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
